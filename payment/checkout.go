package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/roboshop-go/roboshop/kit"
)

const (
	// Shipping: free from freeShippingFrom, else a flat shippingCents.
	freeShippingFrom = 10_000
	shippingCents    = 599
)

// timing is how long each part of a checkout may take, all derived from one
// period (CHECKOUT_STALE_AFTER, a minute by default) so that a key, a cart
// claim or an intent left longer than it can only belong to a checkout that
// died: one runs at most Timeout before the charge and AfterCharge after it,
// together well under Stale.
type timing struct {
	Stale       time.Duration // an in-progress key, an active claim or a pending intent older than this is dead
	Timeout     time.Duration // the calls up to the charge: Stale/4
	AfterCharge time.Duration // recording the order once charged: Stale/6
	Reconcile   time.Duration // how often open intents are resolved: Stale/2
}

func timingFor(stale time.Duration) timing {
	return timing{Stale: stale, Timeout: stale / 4, AfterCharge: stale / 6, Reconcile: stale / 2}
}

type shop interface {
	Cart(ctx context.Context, token string) ([]cartLine, error)
	SettleCart(ctx context.Context, token, orderID string, items []OrderLine) error
	Products(ctx context.Context, skus []string) (map[string]catalogueProduct, error)
}

// checkout is the order saga: claim the cart, price it afresh, confirm the
// total the shopper saw, commit the intent, charge, record, settle the cart.
// Its invariants: one cart, at most one order, whatever the Idempotency-Keys,
// on any number of payment replicas (the claim is a row in the shared
// database); no charge without a committed intent, and every intent resolved
// (reconcile.go) to an order, to nothing charged, or to a refund.
type checkout struct {
	logger *slog.Logger
	st     store
	sh     shop
	gw     Gateway
	timing
	crash    crashPoint
	resolved *prometheus.CounterVec // intents resolved, by outcome
	open     *prometheus.GaugeVec   // intents not finished, by state
}

func newCheckout(logger *slog.Logger, reg prometheus.Registerer, st store, sh shop, gw Gateway, t timing, crash crashPoint) *checkout {
	co := &checkout{logger: logger, st: st, sh: sh, gw: gw, timing: t, crash: crash,
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "roboshop_charge_intents_resolved_total",
			Help: "Charge intents resolved, by outcome: ordered, failed (nothing charged), refunded, refund_failed (one failed attempt; the refund stays due)"}, []string{"outcome"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "roboshop_charge_intents_open",
			Help: "Charge intents not finished at the last reconciliation: pending (the charge's outcome not yet known) and refunding (a refund due)"}, []string{"state"})}
	for _, o := range []string{resolvedOrdered, resolvedFailed, resolvedRefunded, resolvedRefundFailed} {
		co.resolved.WithLabelValues(o)
	}
	co.open.WithLabelValues(intentPending)
	co.open.WithLabelValues(intentRefunding)
	reg.MustRegister(co.resolved, co.open)
	return co
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
	claimed, rec, err := co.st.ClaimKey(ctx, in.User, in.Key, in.Fingerprint, co.staleBefore())
	if err != nil {
		return outcome{}, err
	}
	if !claimed {
		out, err := replay(rec, in.Fingerprint)
		if err == nil && out.Status == http.StatusCreated {
			co.settleRecorded(ctx, in.User, in.Token)
		}
		return out, err
	}
	claimID, reference, resolvedStale, err := co.claimCart(ctx, in.User, in.Token)
	if err != nil {
		co.releaseKey(in.User, in.Key)
		return outcome{}, err
	}
	if resolvedStale {
		// The dead checkout resolved first may have been this key's own, and
		// its order recorded under this key: then that is the answer.
		if rec, err := co.st.Key(ctx, in.User, in.Key); err == nil && rec.State == keyDone {
			co.releaseCart(in.User, claimID)
			return replay(rec, in.Fingerprint)
		}
	}
	co.crash.at(crashAfterClaim)
	// Until the intent, any failure releases the key and the cart: nothing happened.
	release := func() {
		co.releaseKey(in.User, in.Key)
		co.releaseCart(in.User, claimID)
	}
	pctx, cancel := context.WithTimeout(ctx, co.Timeout)
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
	order.ID = "ord_" + randomHex(12)
	order.Status = "paid"
	order.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	order.ShippingAddress = in.Address
	order.Payment = PaymentInfo{Brand: in.Card.Brand, Last4: in.Card.Last4()}

	// The intent is durable before any money moves.
	it := intent{ID: randomHex(12), Reference: reference, User: in.User, ClaimID: claimID, Key: in.Key, Order: order}
	if it.Reference, err = co.st.CreateIntent(pctx, it); err != nil {
		if errors.Is(err, errClaimLost) {
			co.releaseKey(in.User, in.Key)
			return outcome{}, errCartBusy()
		}
		// Committed or not, nothing was charged: a committed intent is
		// resolved as failed once stale, and frees nothing then.
		release()
		return outcome{}, err
	}
	co.crash.at(crashAfterIntent)
	chargeID, err := co.gw.Charge(pctx, ChargeRequest{Reference: it.Reference,
		AmountCents: order.TotalCents, Currency: Currency, Card: in.Card})
	switch {
	case errors.Is(err, errDeclined):
		body := declinedBody()
		if _, err := co.st.FailIntent(context.WithoutCancel(ctx), it, &keyAnswer{Status: http.StatusPaymentRequired, Body: body}, time.Time{}); err != nil {
			return outcome{}, err // the intent stays pending: the reconciler finds no charge and frees both
		}
		return outcome{Status: http.StatusPaymentRequired, Body: body}, nil
	case errors.Is(err, errGatewayRefused):
		if _, ferr := co.st.FailIntent(context.WithoutCancel(ctx), it, nil, time.Time{}); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return outcome{}, errors.Join(kit.ErrUnavailable, err)
	case err != nil:
		// No answer: the card may have been charged. Only a charge found now
		// lets the checkout go on; otherwise the intent, the key and the
		// claim stay as they are until the reconciler resolves the intent
		// once it is stale (when no call of this checkout can still arrive).
		lctx, cancelLookup := context.WithTimeout(context.WithoutCancel(ctx), co.AfterCharge)
		found, lerr := co.gw.Lookup(lctx, it.Reference)
		cancelLookup()
		if lerr != nil || found.Status != chargeCaptured || found.AmountCents != order.TotalCents {
			co.logger.Warn("charge outcome unknown; the reconciler resolves its intent", "intent", it.ID,
				"reference", it.Reference, "request_id", in.RequestID, "error", err.Error())
			return outcome{}, errors.Join(kit.ErrUnavailable, err)
		}
		chargeID = found.ID
	}
	co.crash.at(crashAfterCharge)

	// Charged: record the order even if the client has gone, within AfterCharge.
	saveCtx, cancelSave := context.WithTimeout(context.WithoutCancel(ctx), co.AfterCharge)
	defer cancelSave()
	order.Payment.ID = chargeID
	body, err := json.Marshal(orderResponse{Order: order})
	if err != nil {
		return outcome{}, err
	}
	_, err = co.recordOrder(saveCtx, it, order, body)
	switch {
	case err == nil:
	case errors.Is(err, errClaimLost):
		// Another checkout holds the cart now: no order for this charge.
		co.refund(saveCtx, it, chargeID, time.Time{})
		return outcome{}, errCartBusy()
	case errors.Is(err, errIntentResolved):
		// The reconciler took this intent (this checkout ran past the stale
		// period) and moved its money; the key says what became of it.
		if rec, kerr := co.st.Key(saveCtx, in.User, in.Key); kerr == nil && rec.State == keyDone {
			return replay(rec, in.Fingerprint)
		}
		return outcome{}, errCartBusy()
	default:
		// Not recorded yet: the intent stays pending, and the reconciler
		// records the order from it (the charge exists) once it is stale.
		co.logger.Error("order not recorded yet; the reconciler records it from its intent", "intent", it.ID,
			"charge_id", chargeID, "request_id", in.RequestID, "error", err.Error())
		return outcome{}, err
	}
	co.crash.at(crashAfterCommit)
	co.settle(saveCtx, in.User, in.Token, claimID, order)
	return outcome{Status: http.StatusCreated, Body: body}, nil
}

// recordOrder saves it's order, trying again until ctx ends while the
// database does not answer: a write that did commit before its answer was
// lost is found by the intent's state, and the intent's fence keeps a second
// write from doubling it. wrote says this call's write is the one that
// committed as far as it knows; false with no error: the order stands,
// recorded by another (a reconciler, or an earlier write whose answer was lost).
func (co *checkout) recordOrder(ctx context.Context, it intent, o Order, body []byte) (wrote bool, err error) {
	for {
		err := co.st.SaveOrder(ctx, it, o, body)
		if err == nil {
			return true, nil
		}
		if errors.Is(err, errIntentResolved) {
			if state, serr := co.st.IntentState(ctx, it.ID); serr == nil && state == intentOrdered {
				return false, nil
			}
			return false, err
		}
		if !errors.Is(err, kit.ErrUnavailable) { // only a database that does not answer is tried again
			return false, err
		}
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// claimCart makes this checkout the one that holds the user's cart and
// returns the claim's charge reference ("" when the claim predates them). A
// cart whose earlier order is recorded but not yet taken out of the cart is
// settled first, so that order's lines are never sold twice; a claim whose
// checkout died is taken over only after its intent is resolved (resolvedStale
// says it was), so no two attempts to pay for it are ever open at once.
func (co *checkout) claimCart(ctx context.Context, user, token string) (claimID, reference string, resolvedStale bool, err error) {
	claimID = randomHex(12)
	for range 4 { // a stale claim resolved, its order settled, then the claim
		reference = newChargeReference()
		claimed, held, err := co.st.ClaimCart(ctx, user, claimID, reference)
		if err != nil || claimed {
			return claimID, reference, resolvedStale, err
		}
		switch {
		case held.State == claimActive && held.UpdatedAt.Before(co.staleBefore()):
			resolvedStale = true
			it, err := co.st.PendingIntent(ctx, user, held.ID)
			switch {
			case errors.Is(err, errNotFound): // it died before its intent: nothing to resolve
			case err != nil:
				return "", "", resolvedStale, err
			default:
				if _, err := co.resolve(ctx, it); err != nil {
					return "", "", resolvedStale, err
				}
			}
			// A takeover keeps the claim's reference: every attempt to pay
			// for one claim charges under it.
			if took, err := co.st.TakeOverCart(ctx, user, held.ID, claimID); err != nil || took {
				return claimID, held.Reference, resolvedStale, err
			}
		case held.State == claimActive:
			return "", "", resolvedStale, errCartBusy()
		case held.State == claimOrdered:
			if err := co.settlePending(ctx, user, token, held); err != nil {
				return "", "", resolvedStale, err
			}
		}
	}
	return "", "", resolvedStale, errCartBusy()
}

// settleRecorded settles the cart of an order a replayed checkout answers
// when that is still to do: the reconciler recorded the order of a checkout
// that died (it holds no shopper's token to settle with), or the checkout's
// own settle failed. The replay's answer stands whatever this finds.
func (co *checkout) settleRecorded(ctx context.Context, user, token string) {
	held, err := co.st.CartClaim(ctx, user)
	if err == nil && held.State == claimOrdered {
		err = co.settlePending(ctx, user, token, held)
	}
	if err != nil && !errors.Is(err, errNotFound) {
		co.logger.Warn("order replayed; its cart is settled at the next quote or checkout", "error", err.Error())
	}
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
	co.crash.at(crashBeforeSettle)
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
	ctx, cancel := context.WithTimeout(ctx, co.Timeout)
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
		// No more than the catalogue has: checked again here, as the cart's
		// check is as old as its cached product and two carts may each hold
		// the last one. Nothing is reserved (docs/architecture.md says why).
		if l.Qty > p.Stock {
			return Order{}, &kit.Error{Status: http.StatusUnprocessableEntity, Code: "insufficient_stock",
				Message: fmt.Sprintf("only %d of %s left in stock; lower the quantity in the cart", p.Stock, l.SKU),
				Fields:  map[string]string{"cart": fmt.Sprintf("%s: %d in the cart, %d in stock", l.SKU, l.Qty, p.Stock)}}
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

// newChargeReference is a cart claim's gateway idempotency reference: random,
// never derived from the client's key, so that every attempt to pay for one
// claim (a takeover of a dead checkout's too) charges under it.
func newChargeReference() string { return "chk_" + randomHex(16) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
