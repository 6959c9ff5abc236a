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
	ID        string
	State     string // claimActive or claimOrdered
	OrderID   string // set once ordered
	Reference string // its charge reference; "" on a claim made before references were kept
	UpdatedAt time.Time
}

const (
	claimActive  = "active"
	claimOrdered = "ordered"
)

// intent is the durable record of a charge about to be made, committed before
// the gateway is called: everything needed to record its order, or to know
// that there must be none, whatever instant payment dies at.
type intent struct {
	ID        string
	Reference string // the gateway's idempotency reference: its cart claim's
	User      string
	ClaimID   string
	Key       string // the Idempotency-Key of the checkout that made it
	Order     Order  // priced, with its id and time; Payment.ID empty until charged
	State     string
	ChargeID  string // once known
}

const (
	intentPending   = "pending"   // the gateway may or may not have charged
	intentOrdered   = "ordered"   // charged, and the order recorded
	intentFailed    = "failed"    // nothing charged: declined, refused, or no charge found
	intentRefunding = "refunding" // charged, no order will be recorded: refund due
	intentRefunded  = "refunded"  // charged and given back
)

// keyAnswer is the stored final answer of a key (a decline's 402).
type keyAnswer struct {
	Status int
	Body   []byte
}

var (
	errNotFound = errors.New("not found")
	// errIntentResolved: the intent is no longer pending (a reconciler
	// resolved it), so this checkout must move no money and record nothing.
	errIntentResolved = errors.New("charge intent resolved by another")
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
	// ClaimCart makes claimID, with a new charge reference, the user's one
	// checkout in flight. Otherwise it answers false and the claim that holds
	// the cart: an active one (another checkout runs, or died: see UpdatedAt),
	// an ordered one (its cart is not settled yet), or none (it was released
	// meanwhile: try again).
	ClaimCart(ctx context.Context, user, claimID, reference string) (bool, cartClaim, error)
	// TakeOverCart makes claimID the holder of the active claim heldID, keeping
	// its charge reference, unless the claim changed or one of its intents is
	// still pending.
	TakeOverCart(ctx context.Context, user, heldID, claimID string) (bool, error)
	// CartClaim returns the claim on the user's cart, errNotFound when none.
	CartClaim(ctx context.Context, user string) (cartClaim, error)
	// ReleaseCart deletes the user's claim if it is still claimID.
	ReleaseCart(ctx context.Context, user, claimID string) error
	// CreateIntent commits it as pending under its claim's charge reference and
	// returns the reference; errClaimLost (and nothing written) when the claim
	// is no longer it.ClaimID. it.Reference, when the caller knows the
	// claim's reference, lets the common case be one statement.
	CreateIntent(ctx context.Context, it intent) (string, error)
	// PendingIntent returns the pending intent of a claim, errNotFound when none.
	PendingIntent(ctx context.Context, user, claimID string) (intent, error)
	// OpenIntents returns up to limit intents to resolve: pending ones last
	// touched before staleBefore, and every refunding one.
	OpenIntents(ctx context.Context, staleBefore time.Time, limit int) ([]intent, error)
	// OpenIntentCounts returns how many intents are pending and how many refunding.
	OpenIntentCounts(ctx context.Context) (pending, refunding int, err error)
	// IntentState returns the state of intent id.
	IntentState(ctx context.Context, id string) (string, error)
	// FailIntent moves a pending intent to failed and frees its key (or stores
	// answer as the key's final one) and its cart claim, in one transaction;
	// false when it was not pending. A resolver frees only a key last claimed
	// before keyStaleBefore (its checkout's, not a live retry's); its own
	// checkout passes the zero time.
	FailIntent(ctx context.Context, it intent, answer *keyAnswer, keyStaleBefore time.Time) (bool, error)
	// SaveOrder writes it's order (o, with its charge), its lines and payment,
	// the key's final answer, the claim's move to ordered and the intent's to
	// ordered in one transaction; errClaimLost or errIntentResolved, and
	// nothing written, when the claim or the intent is no longer it's.
	SaveOrder(ctx context.Context, it intent, o Order, body []byte) error
	// StartRefund moves a pending intent to refunding with its charge, and
	// frees its key (as FailIntent does) and its claim (when still its) in one
	// transaction; false when it was not pending.
	StartRefund(ctx context.Context, it intent, chargeID string, keyStaleBefore time.Time) (bool, error)
	// RefundDone moves a refunding intent to refunded.
	RefundDone(ctx context.Context, id string) error
	// RefundFailed records a failed refund attempt of a refunding intent.
	RefundFailed(ctx context.Context, id, reason string) error
	// Orders returns the user's orders, newest first, and how many there are.
	Orders(ctx context.Context, user string, limit, offset int) ([]Order, int, error)
	// Order returns errNotFound unless the order exists and is the user's.
	Order(ctx context.Context, user, id string) (Order, error)
}
