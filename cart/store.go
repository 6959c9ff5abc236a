package main

import (
	"context"
	"errors"
	"time"
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
	// Most is the most the line may hold once written: the product's stock
	// when below maxQty (0: maxQty). Not stored: the catalogue says it.
	Most int `json:"-"`
}

// write is one cart write: whose cart, how long the cart then lives idle, and
// the client's Idempotency-Key with the fingerprint of the request it came with.
type write struct {
	Owner string
	TTL   time.Duration
	Key   string // "" when the client sent none
	Hash  string
	// Space keeps whose keys these are apart: the client's Idempotency-Keys
	// (spaceClient) and payment's order ids (spaceSettle) never meet.
	Space string
}

const (
	spaceClient = "op"
	spaceSettle = "settle"
)

var (
	errQtyLimit  = errors.New("quantity limit exceeded")
	errStock     = errors.New("more than is in stock")
	errLineLimit = errors.New("line limit exceeded")
	errNoLine    = errors.New("not in cart")
	errKeyReused = errors.New("idempotency key used with another request")
)

// store keeps carts. Every write is atomic in the datastore and applied at most
// once: parallel adds of one SKU add up; a limit breach changes nothing; a write
// that reaches the datastore after its deadline (the client was told 503) is
// dropped; a write repeated with the same key is not applied again (replayed is
// true). Writes refresh the cart's idle TTL, and answer the cart's lines as the
// write left them (nil when replayed: read the cart for those).
type store interface {
	Cart(ctx context.Context, owner string) ([]Line, error)
	// Add adds l.Qty of l.SKU (creating the line if needed).
	Add(ctx context.Context, w write, l Line) (lines []Line, replayed bool, err error)
	// Set sets the line's quantity (creating it if needed).
	Set(ctx context.Context, w write, l Line) (lines []Line, replayed bool, err error)
	// Remove deletes a line; errNoLine if it was not there.
	Remove(ctx context.Context, w write, sku string) (lines []Line, replayed bool, err error)
	Clear(ctx context.Context, w write) (replayed bool, err error)
	// Merge folds from's lines into w.Owner's (quantities add, capped at maxQty
	// and at most[sku], the stock, where given), deletes from's cart, and
	// returns the SKUs that did not fit (line limit) or were cut to the stock.
	Merge(ctx context.Context, w write, from string, most map[string]int) (lines []Line, notMerged []string, replayed bool, err error)
	// Settle takes the ordered quantities out of the cart: lines added or raised
	// while the checkout ran stay. w.Key names the order, so it applies once.
	Settle(ctx context.Context, w write, ordered []Line) (lines []Line, replayed bool, err error)
}
