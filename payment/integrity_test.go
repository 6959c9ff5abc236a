package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/testkit"
)

// TestOneCartManyKeysChargesOnce: 50 concurrent checkouts of one cart, each
// with its own Idempotency-Key, charge once. The others answer 409
// checkout_in_progress (or 422 cart_empty once the winner has settled the
// cart), and a new key afterwards finds the cart empty.
func TestOneCartManyKeysChargesOnce(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "DR-004", 1)
	app.addToCart(t, user, "KP-004", 1)
	total := app.quoteTotal(t, user)
	const n = 50
	codes := make([]int, n)
	bodies := make([]string, n)
	testkit.InParallel(n, func(i int) {
		body := checkoutBody("4242424242424242")
		body["expected_total_cents"] = total
		code, resp, _ := app.checkout(t, user, "many-"+strings.Repeat("k", i+1), body)
		codes[i], bodies[i] = code, string(resp)
	})
	created := 0
	for i, c := range codes {
		switch {
		case c == 201:
			created++
		case c == 409 && strings.Contains(bodies[i], "checkout_in_progress"):
		case c == 422 && strings.Contains(bodies[i], "cart_empty"):
		default:
			t.Errorf("unexpected answer %d %s", c, bodies[i])
		}
	}
	made, refunded := app.gateway.Charges()
	if created != 1 || made != 1 || refunded != 0 || countRows(t, app, "orders") != 1 || countRows(t, app, "payments") != 1 {
		t.Fatalf("%d answered 201, %d charges (%d refunded), %d orders, %d payments; want one of each",
			created, made, refunded, countRows(t, app, "orders"), countRows(t, app, "payments"))
	}
	code, body, _ := app.checkout(t, user, "after-the-order", checkoutBody("4242424242424242"))
	if code != 422 || !strings.Contains(string(body), "cart_empty") {
		t.Fatalf("a new key after the order: %d %s, want 422 cart_empty", code, body)
	}
	if countRows(t, app, "cart_claims") != 0 {
		t.Fatal("a cart claim was left behind")
	}
	t.Logf("statuses: %v", codes)
}

// TestIdempotencyKeysAreByteExact: "Order-1" and "order-1" are two keys, so
// a new cart under the second is a new order, not a replay of the first.
func TestIdempotencyKeysAreByteExact(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "CB-003", 1)
	code, first, _ := app.checkout(t, user, "Order-1", checkoutBody("4242424242424242"))
	if code != 201 {
		t.Fatalf("first: %d %s", code, first)
	}
	app.addToCart(t, user, "CB-003", 1)
	code, second, h := app.checkout(t, user, "order-1", checkoutBody("4242424242424242"))
	if code != 201 || h.Get("Idempotent-Replayed") != "" || string(second) == string(first) {
		t.Fatalf("order-1 after Order-1: %d replayed=%q %s", code, h.Get("Idempotent-Replayed"), second)
	}
	if made, _ := app.gateway.Charges(); made != 2 || countRows(t, app, "orders") != 2 {
		t.Fatalf("%d charges, %d orders; want 2 and 2", made, countRows(t, app, "orders"))
	}
}

// holdingGateway stops each charge until the test lets it go, so a test can
// act while a checkout is in flight; with charging nil it holds nothing.
type holdingGateway struct {
	*simulator
	charging chan struct{}
	proceed  chan struct{}
}

func (g *holdingGateway) Charge(ctx context.Context, req ChargeRequest) (string, error) {
	if g.charging != nil {
		g.charging <- struct{}{}
		<-g.proceed
	}
	return g.simulator.Charge(ctx, req)
}

// checkoutHeld sends a checkout of body in the background and returns once
// the gateway holds its charge at charging; the channel gives its status.
func (a *testApp) checkoutHeld(t testing.TB, charging <-chan struct{}, token, key string, body any) <-chan int {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		code, _, _ := a.checkout(t, token, key, body)
		done <- code
	}()
	<-charging
	return done
}

// TestLineAddedDuringCheckoutStaysInCart: what the shopper adds while a
// checkout runs is not in that order, so it must still be in the cart after it.
func TestLineAddedDuringCheckoutStaysInCart(t *testing.T) {
	t.Parallel()
	hold := &holdingGateway{charging: make(chan struct{}), proceed: make(chan struct{})}
	app := newTestAppWith(t, testkit.MariaDBDSN(t), sharedDeps(t), func(s *simulator) Gateway {
		hold.simulator = s
		return hold
	})
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "HH-002", 2)
	body := checkoutBody("4242424242424242")
	body["expected_total_cents"] = app.quoteTotal(t, user)
	done := app.checkoutHeld(t, hold.charging, user, "during-1", body)
	app.addToCart(t, user, "HH-002", 1) // one more of an ordered line
	app.addToCart(t, user, "RV-003", 1) // and a new line
	close(hold.proceed)
	if code := <-done; code != 201 {
		t.Fatalf("checkout: %d", code)
	}
	_, raw := testkit.Send(t, app.cartURL, testkit.Request{Method: "GET", Path: "/cart", Token: user})
	cart := testkit.Decode[struct {
		Items []cartLine `json:"items"`
	}](t, raw)
	got := map[string]int{}
	for _, l := range cart.Items {
		got[l.SKU] = l.Qty
	}
	if len(got) != 2 || got["HH-002"] != 1 || got["RV-003"] != 1 {
		t.Fatalf("cart after the order = %v; want what was added meanwhile: HH-002 x1, RV-003 x1", got)
	}
	w := testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/orders", Token: user})
	if o := testkit.Decode[ordersResponse](t, w.Body.Bytes()); o.Total != 1 || len(o.Items[0].Items) != 1 || o.Items[0].Items[0].Qty != 2 {
		t.Fatalf("order = %+v; want HH-002 x2 only", o)
	}
}

// TestPriceTheShopperNeverSawIsNotCharged: the catalogue changes a price after
// the shopper's quote; the checkout answers 409 price_changed and charges
// nothing, and the new quote then goes through.
func TestPriceTheShopperNeverSawIsNotCharged(t *testing.T) {
	t.Parallel()
	mongoURI := testkit.MongoURI(t)
	cat := testkit.StartService(t, testkit.CatalogueService, map[string]string{"MONGO_URI": mongoURI, "CACHE_TTL": "1s"})
	d := sharedDeps(t)
	d.catalogueURL = "http://" + cat.Addr()
	app := newTestAppWith(t, testkit.MariaDBDSN(t), d, nil)
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "DR-004", 1) // 5900
	w := testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/checkout/quote", Token: user})
	testkit.ExpectStatus(t, w, 200)
	seen := testkit.Decode[quoteResponse](t, w.Body.Bytes())
	if seen.SubtotalCents != 5900 || seen.ShippingCents != shippingCents || seen.TotalCents != 5900+shippingCents || len(seen.Items) != 1 {
		t.Fatalf("quote = %+v", seen)
	}
	testkit.SetPrice(t, mongoURI, "DR-004", 99999)
	waitPrice(t, d.catalogueURL, "DR-004", 99999)

	body := checkoutBody("4242424242424242")
	body["expected_total_cents"] = seen.TotalCents
	code, resp, _ := app.checkout(t, user, "price-1", body)
	if code != http.StatusConflict || !strings.Contains(string(resp), "price_changed") || !strings.Contains(string(resp), "$999.99") {
		t.Fatalf("checkout at a price never shown: %d %s", code, resp)
	}
	if made, _ := app.gateway.Charges(); made != 0 || countRows(t, app, "orders") != 0 {
		t.Fatalf("%d charges, %d orders after price_changed", made, countRows(t, app, "orders"))
	}
	again := app.quoteTotal(t, user)
	if again != 99999 {
		t.Fatalf("new quote %d, want 99999 (free shipping)", again)
	}
	body = checkoutBody("4242424242424242")
	body["expected_total_cents"] = again
	if code, resp, _ := app.checkout(t, user, "price-2", body); code != 201 || !strings.Contains(string(resp), `"total_cents":99999`) {
		t.Fatalf("checkout of the confirmed total: %d %s", code, resp)
	}
}

// TestUnsettledOrderIsSettledBeforeTheNextCheckout: with the cart service down
// after the charge, the order stands (201) but its lines stay in the cart; the
// next checkout, under a new key, settles them first and finds the cart empty.
func TestUnsettledOrderIsSettledBeforeTheNextCheckout(t *testing.T) {
	t.Parallel()
	d := sharedDeps(t)
	cart := testkit.StartService(t, testkit.CartService, map[string]string{"REDIS_URL": "redis://" + testkit.Redis(t).Addr() + "/0",
		"USER_URL": d.userURL, "CATALOGUE_URL": d.catalogueURL})
	d.cartURL = "http://" + cart.Addr()
	hold := &holdingGateway{charging: make(chan struct{}), proceed: make(chan struct{})}
	app := newTestAppWith(t, testkit.MariaDBDSN(t), d, func(s *simulator) Gateway {
		hold.simulator = s
		return hold
	})
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "KP-002", 1)
	done := app.checkoutHeld(t, hold.charging, user, "unsettled-1", checkoutBody("4242424242424242"))
	cart.Stop()
	close(hold.proceed)
	if code := <-done; code != 201 {
		t.Fatalf("checkout with the cart down after the charge: %d", code)
	}
	if countRows(t, app, "cart_claims") != 1 {
		t.Fatal("the unsettled order left no claim to settle")
	}
	cart.Start(t)
	code, body, _ := app.checkout(t, user, "unsettled-2", checkoutBody("4242424242424242"))
	if code != 422 || !strings.Contains(string(body), "cart_empty") {
		t.Fatalf("next checkout: %d %s, want 422 cart_empty", code, body)
	}
	if made, _ := app.gateway.Charges(); made != 1 || app.cartItems(t, user) != 0 || countRows(t, app, "cart_claims") != 0 {
		t.Fatalf("%d charges, %d cart lines, %d claims; want 1, 0, 0", made, app.cartItems(t, user), countRows(t, app, "cart_claims"))
	}
}

// waitPrice waits until the catalogue serves sku at cents (its cache expires).
func waitPrice(t *testing.T, catalogueURL, sku string, cents int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, raw := testkit.Send(t, catalogueURL, testkit.Request{Method: "GET", Path: "/products/" + sku})
		if strings.Contains(string(raw), `"price_cents":`+strconv.FormatInt(cents, 10)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalogue still serves %s: %s", sku, raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
