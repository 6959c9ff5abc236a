package main

import (
	"context"
	"errors"
	"time"
)

// Currency is the one store currency; every amount is integer cents of it.
const Currency = "USD"

// Address is where an order is shipped.
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// OrderLine is one SKU of an order, priced from the catalogue at checkout.
type OrderLine struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Qty            int    `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	LineTotalCents int64  `json:"line_total_cents"`
}

// PaymentInfo is all that is kept of a card: its brand and last four digits.
type PaymentInfo struct {
	ID    string `json:"id"`
	Brand string `json:"brand"`
	Last4 string `json:"last4"`
}

// Order is a paid order.
type Order struct {
	ID              string      `json:"id"`
	Status          string      `json:"status"`
	Items           []OrderLine `json:"items"`
	SubtotalCents   int64       `json:"subtotal_cents"`
	ShippingCents   int64       `json:"shipping_cents"`
	TotalCents      int64       `json:"total_cents"`
	Currency        string      `json:"currency"`
	ShippingAddress Address     `json:"shipping_address"`
	Payment         PaymentInfo `json:"payment"`
	CreatedAt       time.Time   `json:"created_at"`
}

// keyRecord is the stored state of an Idempotency-Key.
type keyRecord struct {
	RequestHash string
	State       string // keyInProgress or keyDone
	Status      int
	Body        []byte
}

const (
	keyInProgress = "in_progress"
	keyDone       = "done"
)

// cartClaim is the checkout that holds a user's cart.
type cartClaim struct {
	ID      string
	State   string // claimActive or claimOrdered
	OrderID string // set once ordered
}

const (
	claimActive  = "active"
	claimOrdered = "ordered"
)

var (
	errNotFound = errors.New("not found")
	// errClaimLost: the cart claim was taken over (its checkout ran past the
	// stale period), so this checkout must not record an order.
	errClaimLost = errors.New("cart claim taken over by another checkout")
)

type store interface {
	// ClaimKey records (user, key) as in progress for a request with hash. When the
	// key exists already it returns false and the record; a record left in progress
	// since before staleBefore (its request died) is taken over and claimed.
	ClaimKey(ctx context.Context, user, key, hash string, staleBefore time.Time) (bool, keyRecord, error)
	// Key returns the record of (user, key); errNotFound when there is none.
	Key(ctx context.Context, user, key string) (keyRecord, error)
	// ReleaseKey forgets an in-progress key whose request failed without effect,
	// so the client may retry with it.
	ReleaseKey(ctx context.Context, user, key string) error
	// FinishKey stores the final answer for a key that made no order (a decline).
	FinishKey(ctx context.Context, user, key string, status int, body []byte) error
	// ClaimCart makes claimID the user's one checkout in flight. Otherwise it
	// answers false and the claim that holds the cart: an active one (another
	// checkout runs), an ordered one (its cart is not settled yet), or none (it
	// was released meanwhile: try again). An active claim not touched since
	// staleBefore (its request died) is taken over.
	ClaimCart(ctx context.Context, user, claimID string, staleBefore time.Time) (bool, cartClaim, error)
	// CartClaim returns the claim on the user's cart, errNotFound when none.
	CartClaim(ctx context.Context, user string) (cartClaim, error)
	// ReleaseCart deletes the user's claim if it is still claimID.
	ReleaseCart(ctx context.Context, user, claimID string) error
	// SaveOrder writes the order, its lines, its payment, the key's final answer
	// and the claim's move to ordered in one transaction; errClaimLost (and
	// nothing written) when claimID no longer holds the cart.
	SaveOrder(ctx context.Context, user, key, claimID string, o Order, body []byte) error
	// Orders returns the user's orders, newest first, and how many there are.
	Orders(ctx context.Context, user string, limit, offset int) ([]Order, int, error)
	// Order returns errNotFound unless the order exists and is the user's.
	Order(ctx context.Context, user, id string) (Order, error)
}
