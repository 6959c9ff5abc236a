package main

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/kit"
	"github.com/roboshop-go/roboshop/testkit"
)

// TestCartWriteAnswered503IsNeverApplied: with Redis paused, writes answer 503;
// once Redis resumes and runs what was queued, none of them may take effect
// (the client resent nothing, and the guard drops writes past their deadline).
func TestCartWriteAnswered503IsNeverApplied(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	tok := testkit.GuestToken(t, app.userURL)
	if code, _ := app.do(t, "POST", "/cart/items", tok, item{"sku": "DR-001", "qty": 1}); code != 200 {
		t.Fatalf("add before the pause: %d", code)
	}
	app.redis.Signal(t, syscall.SIGSTOP)
	paused := []testkit.Request{
		{Method: "POST", Path: "/cart/items", Body: item{"sku": "DR-002", "qty": 1}},
		{Method: "PUT", Path: "/cart/items/DR-001", Body: item{"qty": 7}},
		{Method: "DELETE", Path: "/cart"},
	}
	for _, req := range paused {
		req.Token = tok
		w := testkit.Serve(t, app.router, req)
		if w.Code != http.StatusServiceUnavailable {
			app.redis.Signal(t, syscall.SIGCONT)
			t.Fatalf("%s %s with Redis paused: %d %s", req.Method, req.Path, w.Code, w.Body)
		}
	}
	app.redis.Signal(t, syscall.SIGCONT)
	waitCart(t, app, tok)
	// A newer add after the outage must survive the clear that answered 503.
	if code, _ := app.do(t, "POST", "/cart/items", tok, item{"sku": "KP-001", "qty": 1}); code != 200 {
		t.Fatalf("add after the pause: %d", code)
	}
	time.Sleep(200 * time.Millisecond)
	_, cart := app.do(t, "GET", "/cart", tok, nil)
	got := quantities(cart)
	if len(got) != 2 || got["DR-001"] != 1 || got["KP-001"] != 1 {
		t.Fatalf("cart after writes answered 503 = %v; want only DR-001 x1 and KP-001 x1", got)
	}
}

// TestCartWriteRetriedWithSameKeyAppliesOnce: 20 parallel sends of one add
// with one Idempotency-Key add once; the key with another body is refused.
func TestCartWriteRetriedWithSameKeyAppliesOnce(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	tok := testkit.GuestToken(t, app.userURL)
	const n = 20
	replayed := make([]bool, n)
	testkit.InParallel(n, func(i int) {
		w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/cart/items", Token: tok,
			Body: item{"sku": "RV-002", "qty": 3}, Headers: map[string]string{"Idempotency-Key": "add-rv-002"}})
		if w.Code != 200 {
			t.Errorf("add: %d %s", w.Code, w.Body)
		}
		replayed[i] = w.Header().Get("Idempotent-Replayed") == "true"
	})
	replays := 0
	for _, r := range replayed {
		if r {
			replays++
		}
	}
	lines, err := app.store.Cart(testkit.Context(t), subjectOf(t, app, tok))
	if err != nil || len(lines) != 1 || lines[0].Qty != 3 || replays != n-1 {
		t.Fatalf("Redis holds %+v (%v) after %d sends of one key, %d answered as replays; want qty 3 and %d replays",
			lines, err, n, replays, n-1)
	}
	tests := []struct {
		name   string
		req    testkit.Request
		status int
		code   string
	}{
		{"same key, other body", testkit.Request{Method: "POST", Path: "/cart/items", Body: item{"sku": "RV-002", "qty": 4},
			Headers: map[string]string{"Idempotency-Key": "add-rv-002"}}, 422, "idempotency_key_reused"},
		{"same key, other route", testkit.Request{Method: "DELETE", Path: "/cart",
			Headers: map[string]string{"Idempotency-Key": "add-rv-002"}}, 422, "idempotency_key_reused"},
		{"key case matters", testkit.Request{Method: "DELETE", Path: "/cart/items/RV-002",
			Headers: map[string]string{"Idempotency-Key": "ADD-RV-002"}}, 200, ""},
		{"key with a space", testkit.Request{Method: "DELETE", Path: "/cart",
			Headers: map[string]string{"Idempotency-Key": "a b"}}, 400, "idempotency_key_invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Token = tok
			w := testkit.Serve(t, app.router, tc.req)
			if tc.code == "" {
				testkit.ExpectStatus(t, w, tc.status)
				return
			}
			testkit.ExpectError(t, w, tc.status, tc.code)
		})
	}
}

// TestSettleTakesOutOnlyWhatWasOrdered: payment's settlement removes the
// ordered quantities once, however often it is sent, and keeps what the
// shopper added while the checkout ran.
func TestSettleTakesOutOnlyWhatWasOrdered(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	user := testkit.RegisterUser(t, app.userURL)
	app.do(t, "POST", "/cart/items", user, item{"sku": "DR-001", "qty": 2})
	app.do(t, "POST", "/cart/items", user, item{"sku": "KP-001", "qty": 1})
	// The order holds DR-001 x2 and KP-001 x1; meanwhile one more DR-001 and a HH-001 arrive.
	app.do(t, "POST", "/cart/items", user, item{"sku": "DR-001", "qty": 1})
	app.do(t, "POST", "/cart/items", user, item{"sku": "HH-001", "qty": 1})
	settle := item{"order_id": "ord_0123456789abcdef01234567", "items": []item{{"sku": "DR-001", "qty": 2}, {"sku": "KP-001", "qty": 1}}}
	testkit.InParallel(10, func(int) {
		if code, _ := app.do(t, "POST", "/cart/settle", user, settle); code != 200 {
			t.Errorf("settle: %d", code)
		}
	})
	_, cart := app.do(t, "GET", "/cart", user, nil)
	if got := quantities(cart); len(got) != 2 || got["DR-001"] != 1 || got["HH-001"] != 1 {
		t.Fatalf("cart after 10 settlements of one order = %v; want DR-001 x1 and HH-001 x1", got)
	}
	guest := testkit.GuestToken(t, app.userURL)
	tests := []struct {
		name   string
		token  string
		body   any
		status int
	}{
		{"guests have no orders", guest, settle, http.StatusForbidden},
		{"bad order id", user, item{"order_id": "x", "items": settle["items"]}, http.StatusUnprocessableEntity},
		{"no items", user, item{"order_id": "ord_0123456789abcdef01234568", "items": []item{}}, http.StatusUnprocessableEntity},
		{"qty 0", user, item{"order_id": "ord_0123456789abcdef01234568", "items": []item{{"sku": "DR-001", "qty": 0}}}, http.StatusUnprocessableEntity},
		{"same order, other lines", user, item{"order_id": "ord_0123456789abcdef01234567", "items": []item{{"sku": "HH-001", "qty": 1}}}, http.StatusUnprocessableEntity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, _ := app.do(t, "POST", "/cart/settle", tc.token, tc.body); code != tc.status {
				t.Fatalf("%d, want %d", code, tc.status)
			}
		})
	}
}

// TestOnlyPaymentSettles: a settle takes an order's lines out of a cart, so
// the shopper's token alone (which any shopper holds) is refused, as is a
// wrong service token; payment's token is accepted. The cart is read back.
func TestOnlyPaymentSettles(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	user := testkit.RegisterUser(t, app.userURL)
	app.do(t, "POST", "/cart/items", user, item{"sku": "DR-001", "qty": 2})
	settle := item{"order_id": "ord_0123456789abcdef0123456a", "items": []item{{"sku": "DR-001", "qty": 2}}}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		status  int
		left    int // DR-001 in the cart afterwards
	}{
		{"the shopper's token alone", nil, http.StatusForbidden, 2},
		{"a wrong service token", map[string]string{kit.HeaderServiceToken: "not-payments-token-0123456789abcdef"}, http.StatusForbidden, 2},
		{"payment's token", map[string]string{kit.HeaderServiceToken: testkit.SettleToken}, http.StatusOK, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/cart/settle", Token: user, Body: settle, Headers: tc.headers})
			if w.Code != tc.status {
				t.Fatalf("settle: %d %s, want %d", w.Code, w.Body, tc.status)
			}
			_, cart := app.do(t, "GET", "/cart", user, nil)
			left := 0
			for _, it := range cart.Items {
				if it.SKU == "DR-001" {
					left = it.Qty
				}
			}
			if left != tc.left {
				t.Fatalf("DR-001 x%d in the cart after the settle, want %d", left, tc.left)
			}
		})
	}
}

// TestGuestCartsExpireSoonerThanUserCarts: anyone can make a guest cart, so it
// lives GUEST_CART_TTL (an hour here), a user's cart CART_TTL (two).
func TestGuestCartsExpireSoonerThanUserCarts(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	guest, user := testkit.GuestToken(t, app.userURL), testkit.RegisterUser(t, app.userURL)
	for _, tc := range []struct {
		name  string
		token string
		want  time.Duration
	}{{"guest", guest, testTTL.Guest}, {"user", user, testTTL.User}} {
		t.Run(tc.name, func(t *testing.T) {
			app.do(t, "POST", "/cart/items", tc.token, item{"sku": "CB-002", "qty": 1})
			ttl, err := app.store.TTL(testkit.Context(t), subjectOf(t, app, tc.token))
			if err != nil || ttl > tc.want || ttl < tc.want-time.Minute {
				t.Fatalf("TTL %s (%v), want about %s", ttl, err, tc.want)
			}
		})
	}
}

func quantities(cart cartResponse) map[string]int {
	q := map[string]int{}
	for _, it := range cart.Items {
		q[it.SKU] = it.Qty
	}
	return q
}

// waitCart waits until the cart answers again after an outage.
func waitCart(t *testing.T, app *testApp, tok string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := app.do(t, "GET", "/cart", tok, nil); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("cart did not answer within 10 s of Redis resuming")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClientKeysCannotBlockASettlement: a shopper's cart write under the
// Idempotency-Key "order:<id>" (what the settlement's marker was called)
// leaves that order's settlement to apply: payment's markers and the client's
// keys live apart. A clear keeps the markers: a retry from before it still
// replays.
func TestClientKeysCannotBlockASettlement(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	user := testkit.RegisterUser(t, app.userURL)
	const order = "ord_00000000000000000000beef"
	add := testkit.Request{Method: "POST", Path: "/cart/items", Token: user, Body: item{"sku": "DR-001", "qty": 2},
		Headers: map[string]string{"Idempotency-Key": "order:" + order}}
	testkit.ExpectStatus(t, testkit.Serve(t, app.router, add), 200)
	settle := item{"order_id": order, "items": []item{{"sku": "DR-001", "qty": 2}}}
	if code, _ := app.do(t, "POST", "/cart/settle", user, settle); code != http.StatusOK {
		t.Fatalf("settling order %s after a client write keyed order:%s: %d, want 200", order, order, code)
	}
	if _, cart := app.do(t, "GET", "/cart", user, nil); len(cart.Items) != 0 {
		t.Fatalf("cart after the settlement: %+v", cart.Items)
	}
	// Clear, then the add's retry: remembered, so not applied again.
	testkit.ExpectStatus(t, testkit.Serve(t, app.router, testkit.Request{Method: "DELETE", Path: "/cart", Token: user}), http.StatusNoContent)
	w := testkit.Serve(t, app.router, add)
	if w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the add retried after a clear: %d %s, want a replay", w.Code, w.Body)
	}
	if _, cart := app.do(t, "GET", "/cart", user, nil); len(cart.Items) != 0 {
		t.Fatalf("the retried add was applied again after the clear: %+v", cart.Items)
	}
}
