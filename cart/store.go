package main

import (
	"context"
	"errors"
)

// Cart limits: a line holds 1..maxQty of one SKU; a cart holds at most maxLines lines.
const (
	maxQty   = 99
	maxLines = 50
)

// Line is one SKU in a cart with the name and price the catalogue gave when it
// was last added or set. Payment re-prices every line at checkout.
type Line struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Qty            int    `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	Added          int64  `json:"added"` // unix ms of the first add, for display order
}

var (
	errQtyLimit  = errors.New("quantity limit exceeded")
	errLineLimit = errors.New("line limit exceeded")
	errNoLine    = errors.New("not in cart")
)

// store keeps carts. Every update is atomic in the datastore: parallel adds of
// one SKU add up; a limit breach changes nothing. Writes refresh the idle TTL.
type store interface {
	Cart(ctx context.Context, owner string) ([]Line, error)
	// Add adds l.Qty of l.SKU (creating the line if needed).
	Add(ctx context.Context, owner string, l Line) error
	// Set sets the line's quantity (creating it if needed).
	Set(ctx context.Context, owner string, l Line) error
	// Remove deletes a line; errNoLine if it was not there.
	Remove(ctx context.Context, owner, sku string) error
	Clear(ctx context.Context, owner string) error
	// Merge folds from's lines into into's (quantities add, capped at maxQty),
	// deletes from's cart, and returns the SKUs that did not fit (line limit).
	Merge(ctx context.Context, into, from string) ([]string, error)
}
