package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/roboshop-go/roboshop/kit"
)

const (
	// Shipping: free from freeShippingFrom, else a flat shippingCents.
	freeShippingFrom = 10_000
	shippingCents    = 599
	// An in-progress key or an active cart claim older than this belongs to a
	// request that died: a checkout takes at most checkoutTimeout+afterCharge.
	staleClaim = time.Minute
	// checkoutTimeout bounds the calls before the charge; after the charge the
	// order is recorded even if the client went away.
	checkoutTimeout = 15 * time.Second
	afterCharge     = 10 * time.Second
)

type shop interface {
	Cart(ctx context.Context, token string) ([]cartLine, error)
	SettleCart(ctx context.Context, token, orderID string, items []OrderLine) error
	Products(ctx context.Context, skus []string) (map[string]catalogueProduct, error)
}

// checkout is the order saga: claim the cart, price it afresh, confirm the
// total the shopper saw, charge, record, settle the cart. Its invariant: one
// cart, at most one order, whatever the Idempotency-Keys, on any number of
// payment replicas (the claim is a row in the shared database).
type checkout struct {
	logger *slog.Logger
	st     store
	sh     shop
	gw     Gateway
}

// checkoutInput is a validated checkout request.
type checkoutInput struct {
	User, Token, Key string
	Card             Card
	Address          Address
	ExpectedTotal    int64
	Fingerprint      string
	RequestID        string
}

// outcome is the answer to give: a stored body with its status.
type outcome struct {
	Status   int
	Body     []byte
	Replayed bool
}

// errCartBusy: another checkout holds the cart (or this key's first request runs).
func errCartBusy() *kit.Error {
	e := kit.NewError(http.StatusConflict, "checkout_in_progress",
		"a checkout of this cart is already being processed; retry shortly")
	e.Header = map[string]string{"Retry-After": "1"}
	return e
}

// Run places the order for in, at most once per key and per cart.
func (co *checkout) Run(ctx context.Context, in checkoutInput) (outcome, error) {
	claimed, rec, err := co.st.ClaimKey(ctx, in.User, in.Key, in.Fingerprint, time.Now().Add(-staleClaim))
	if err != nil {
		return outcome{}, err
	}
	if !claimed {
		return replay(rec, in.Fingerprint)
	}
	claimID, err := co.claimCart(ctx, in.User, in.Token)
	if err != nil {
		co.releaseKey(in.User, in.Key)
		return outcome{}, err
	}
	// Until the charge, any failure releases the key and the cart: nothing happened.
	release := func() {
		co.releaseKey(in.User, in.Key)
		co.releaseCart(in.User, claimID)
	}
	pctx, cancel := context.WithTimeout(ctx, checkoutTimeout)
	defer cancel()
	order, err := priceCart(pctx, co.sh, in.Token)
	if err != nil {
		release()
		return outcome{}, err
	}
	if order.TotalCents != in.ExpectedTotal {
		release()
		return outcome{}, kit.NewError(http.StatusConflict, "price_changed", fmt.Sprintf(
			"the total is now %s, not %s: prices or the cart changed; confirm the new total to pay",
			dollars(order.TotalCents), dollars(in.ExpectedTotal)))
	}
	order.ShippingAddress = in.Address
	order.Payment = PaymentInfo{Brand: in.Card.Brand, Last4: in.Card.Last4()}

	chargeID, err := co.gw.Charge(pctx, ChargeRequest{Reference: chargeReference(in.User, in.Key),
		AmountCents: order.TotalCents, Currency: Currency, Card: in.Card})
	if errors.Is(err, errDeclined) {
		body := declinedBody()
		err := co.st.FinishKey(context.WithoutCancel(ctx), in.User, in.Key, http.StatusPaymentRequired, body)
		co.releaseCart(in.User, claimID)
		if err != nil {
			co.releaseKey(in.User, in.Key)
			return outcome{}, err
		}
		return outcome{Status: http.StatusPaymentRequired, Body: body}, nil
	}
	if err != nil {
		release()
		return outcome{}, errors.Join(kit.ErrUnavailable, err)
	}

	// Charged: record the order even if the client has gone, within afterCharge.
	saveCtx, cancelSave := context.WithTimeout(context.WithoutCancel(ctx), afterCharge)
	defer cancelSave()
	order.Payment.ID = chargeID
	order.ID = "ord_" + randomHex(12)
	order.Status = "paid"
	order.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	body, err := json.Marshal(orderResponse{Order: order})
	if err != nil {
		return outcome{}, err
	}
	if err := co.st.SaveOrder(saveCtx, in.User, in.Key, claimID, order, body); err != nil {
		if !errors.Is(err, errClaimLost) {
			// The connection may have broken after the commit went through.
			switch co.recorded(saveCtx, in.User, in.Key) {
			case recordedYes:
				co.settle(saveCtx, in.User, in.Token, claimID, order)
				return outcome{Status: http.StatusCreated, Body: body}, nil
			case recordedUnknown:
				// Neither refund (the order may stand) nor release: a retry with
				// the key replays the order if it stands, or takes the key over
				// after staleClaim and charges under the same gateway reference.
				co.logger.Error("order commit outcome unknown; key and cart stay claimed", "charge_id", chargeID,
					"request_id", in.RequestID, "error", err.Error())
				return outcome{}, err
			}
		}
		// No order without its payment, no payment without its order.
		if rerr := co.gw.Refund(saveCtx, chargeID); rerr != nil {
			co.logger.Error("order not recorded and refund failed: charge needs manual refund",
				"charge_id", chargeID, "request_id", in.RequestID, "error", rerr.Error())
		}
		release()
		if errors.Is(err, errClaimLost) {
			return outcome{}, errCartBusy()
		}
		return outcome{}, err
	}
	co.settle(saveCtx, in.User, in.Token, claimID, order)
	return outcome{Status: http.StatusCreated, Body: body}, nil
}

type recordedState int

const (
	recordedNo recordedState = iota
	recordedYes
	recordedUnknown
)

// recorded tells whether an order transaction whose commit failed did commit,
// by reading the key's state again until the database answers or ctx ends.
func (co *checkout) recorded(ctx context.Context, user, key string) recordedState {
	var rec keyRecord
	err := untilDone(ctx, func(ctx context.Context) error {
		var err error
		if rec, err = co.st.Key(ctx, user, key); errors.Is(err, errNotFound) {
			return nil // no record at all: nothing was committed
		}
		return err
	})
	switch {
	case err != nil:
		return recordedUnknown
	case rec.State == keyDone && rec.Status == http.StatusCreated:
		return recordedYes
	}
	return recordedNo
}

// claimCart makes this checkout the one that holds the user's cart. A cart
// whose earlier order is recorded but not yet taken out of the cart is settled
// first, so that order's lines are never sold twice.
func (co *checkout) claimCart(ctx context.Context, user, token string) (string, error) {
	claimID := randomHex(12)
	for range 3 {
		claimed, held, err := co.st.ClaimCart(ctx, user, claimID, time.Now().Add(-staleClaim))
		if err != nil || claimed {
			return claimID, err
		}
		switch held.State {
		case claimActive:
			return "", errCartBusy()
		case claimOrdered:
			if err := co.settlePending(ctx, user, token, held); err != nil {
				return "", err
			}
		}
	}
	return "", errCartBusy()
}

// settlePending finishes an ordered claim whose cart settlement failed earlier.
func (co *checkout) settlePending(ctx context.Context, user, token string, held cartClaim) error {
	o, err := co.st.Order(ctx, user, held.OrderID)
	if err != nil {
		return err
	}
	if err := co.sh.SettleCart(ctx, token, o.ID, o.Items); err != nil {
		return err
	}
	return co.st.ReleaseCart(ctx, user, held.ID)
}

// settle takes the ordered lines out of the cart and frees it. On failure it
// keeps trying in the background for settleRetryFor (settling is idempotent,
// keyed by the order id); the claim stays ordered meanwhile, and the next quote
// or checkout settles it first in any case.
func (co *checkout) settle(ctx context.Context, user, token, claimID string, o Order) {
	if err := co.sh.SettleCart(ctx, token, o.ID, o.Items); err != nil {
		co.logger.Warn("order recorded; settling its cart in the background", "order_id", o.ID, "error", err.Error())
		go co.settleLater(user, token, claimID, o)
		return
	}
	co.releaseCart(user, claimID)
}

const settleRetryFor = time.Minute

func (co *checkout) settleLater(user, token, claimID string, o Order) {
	deadline := time.Now().Add(settleRetryFor)
	for wait := 500 * time.Millisecond; time.Now().Add(wait).Before(deadline); wait = min(2*wait, 8*time.Second) {
		time.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := co.sh.SettleCart(ctx, token, o.ID, o.Items)
		cancel()
		if err == nil {
			co.releaseCart(user, claimID)
			return
		}
	}
	co.logger.Warn("cart still unsettled; the next quote or checkout settles it", "order_id", o.ID)
}

// Quote prices the user's cart exactly as Run would.
func (co *checkout) Quote(ctx context.Context, user, token string) (Order, error) {
	held, err := co.st.CartClaim(ctx, user)
	switch {
	case errors.Is(err, errNotFound):
	case err != nil:
		return Order{}, err
	case held.State == claimOrdered:
		if err := co.settlePending(ctx, user, token, held); err != nil {
			return Order{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, checkoutTimeout)
	defer cancel()
	return priceCart(ctx, co.sh, token)
}

// priceCart reads the caller's cart and prices every line from the catalogue,
// all of them in one call: neither the client nor the cart is trusted with a
// price.
func priceCart(ctx context.Context, sh shop, token string) (Order, error) {
	lines, err := sh.Cart(ctx, token)
	if err != nil {
		return Order{}, err
	}
	if len(lines) == 0 {
		return Order{}, kit.NewError(http.StatusUnprocessableEntity, "cart_empty", "the cart is empty")
	}
	skus := make([]string, len(lines))
	for i, l := range lines {
		skus[i] = l.SKU
	}
	products, err := sh.Products(ctx, skus)
	if err != nil {
		return Order{}, err
	}
	items := make([]OrderLine, len(lines))
	for i, l := range lines {
		p, sold := products[l.SKU]
		if !sold {
			return Order{}, kit.InvalidField("cart", "product "+l.SKU+" is no longer sold; remove it from the cart")
		}
		if l.Qty < 1 || l.Qty > 99 || p.PriceCents <= 0 || p.PriceCents > 100_000_000 {
			return Order{}, errors.New("cart line or catalogue price out of range for " + l.SKU)
		}
		items[i] = OrderLine{SKU: p.SKU, Name: p.Name, Qty: l.Qty, UnitPriceCents: p.PriceCents,
			LineTotalCents: p.PriceCents * int64(l.Qty)}
	}
	o := Order{Items: items, Currency: Currency}
	for _, it := range items {
		o.SubtotalCents += it.LineTotalCents
	}
	if o.SubtotalCents < freeShippingFrom {
		o.ShippingCents = shippingCents
	}
	o.TotalCents = o.SubtotalCents + o.ShippingCents
	return o, nil
}

func dollars(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }

// replay answers a request whose key was used before.
func replay(rec keyRecord, hash string) (outcome, error) {
	switch {
	case rec.RequestHash != hash:
		return outcome{}, kit.NewError(http.StatusUnprocessableEntity, "idempotency_key_reused",
			"this Idempotency-Key was used with a different request; use a new key for a new checkout")
	case rec.State == keyInProgress:
		return outcome{}, errCartBusy()
	}
	return outcome{Status: rec.Status, Body: rec.Body, Replayed: true}, nil
}

func declinedBody() []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "payment_declined",
		"message": "the card was declined; try another card"}})
	return b
}

// releaseFor is how long a release keeps trying: a database that blinks (a
// restart) must not leave a key or a cart claimed until the stale period.
const releaseFor = 10 * time.Second

func (co *checkout) releaseKey(user, key string) {
	co.retry("could not release idempotency key; it frees itself after the stale period",
		func(ctx context.Context) error { return co.st.ReleaseKey(ctx, user, key) })
}

func (co *checkout) releaseCart(user, claimID string) {
	co.retry("could not release the cart claim; it frees itself after the stale period",
		func(ctx context.Context) error { return co.st.ReleaseCart(ctx, user, claimID) })
}

// retry runs an idempotent release until it succeeds or releaseFor passes.
func (co *checkout) retry(failure string, release func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseFor)
	defer cancel()
	if err := untilDone(ctx, release); err != nil {
		co.logger.Warn(failure, "error", err.Error())
	}
}

// untilDone calls f every 250 ms until it returns nil or ctx ends; then it
// returns f's last error.
func untilDone(ctx context.Context, f func(context.Context) error) error {
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// chargeReference is the gateway idempotency reference for (user, key): a retry
// after a crash reuses it, so the gateway never charges the same checkout twice.
func chargeReference(user, key string) string {
	sum := sha256.Sum256([]byte(user + "\x00" + key))
	return "chk_" + hex.EncodeToString(sum[:16])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
