package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/testkit"
)

type item = map[string]any

func TestCartLifecycle(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	tok := testkit.GuestToken(t, app.userURL)

	code, cart := app.do(t, "GET", "/cart", tok, nil)
	if code != 200 || len(cart.Items) != 0 || cart.Items == nil || cart.SubtotalCents != 0 {
		t.Fatalf("new cart: %d %+v", code, cart)
	}
	app.do(t, "POST", "/cart/items", tok, item{"sku": "DR-001", "qty": 2})
	code, cart = app.do(t, "POST", "/cart/items", tok, item{"sku": "KP-001", "qty": 1})
	if code != 200 || len(cart.Items) != 2 {
		t.Fatalf("after two adds: %d %+v", code, cart)
	}
	// SkyEye 4K 2 x 79900 + Servo Pack 3900, names and prices from the catalogue.
	if cart.SubtotalCents != 2*79900+3900 || cart.ItemCount != 3 || cart.Items[0].Name != "SkyEye 4K" ||
		cart.Items[0].LineTotalCents != 159800 || cart.Items[1].SKU != "KP-001" {
		t.Fatalf("cart = %+v", cart)
	}
	code, cart = app.do(t, "PUT", "/cart/items/DR-001", tok, item{"qty": 5})
	if code != 200 || cart.Items[0].Qty != 5 {
		t.Fatalf("set qty: %d %+v", code, cart)
	}
	code, cart = app.do(t, "PUT", "/cart/items/DR-001", tok, item{"qty": 0})
	if code != 200 || len(cart.Items) != 1 || cart.Items[0].SKU != "KP-001" {
		t.Fatalf("set qty 0 must remove: %d %+v", code, cart)
	}
	code, cart = app.do(t, "DELETE", "/cart/items/KP-001", tok, nil)
	if code != 200 || len(cart.Items) != 0 {
		t.Fatalf("delete item: %d %+v", code, cart)
	}
	w := testkit.Serve(t, app.router, testkit.Request{Method: "DELETE", Path: "/cart/items/KP-001", Token: tok})
	testkit.ExpectError(t, w, http.StatusNotFound, "item_not_in_cart")

	app.do(t, "POST", "/cart/items", tok, item{"sku": "HH-001", "qty": 1})
	if code, _ := app.do(t, "DELETE", "/cart", tok, nil); code != http.StatusNoContent {
		t.Fatalf("clear: %d", code)
	}
	if _, cart := app.do(t, "GET", "/cart", tok, nil); len(cart.Items) != 0 {
		t.Fatalf("cart after clear: %+v", cart)
	}
}

func TestCartRejects(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	tok := testkit.GuestToken(t, app.userURL)
	// KP-001: 120 in stock, more than a line holds.
	app.do(t, "POST", "/cart/items", tok, item{"sku": "KP-001", "qty": 98})
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code, field        string
	}{
		{"unknown sku", "POST", "/cart/items", item{"sku": "ZZ-999", "qty": 1}, 404, "product_not_found", ""},
		{"malformed sku", "POST", "/cart/items", item{"sku": "../x", "qty": 1}, 422, "validation_failed", "sku"},
		{"qty zero", "POST", "/cart/items", item{"sku": "DR-002", "qty": 0}, 422, "validation_failed", "qty"},
		{"qty missing", "POST", "/cart/items", item{"sku": "DR-002"}, 422, "validation_failed", "qty"},
		{"qty 100", "POST", "/cart/items", item{"sku": "DR-002", "qty": 100}, 422, "validation_failed", "qty"},
		{"add past 99", "POST", "/cart/items", item{"sku": "KP-001", "qty": 2}, 422, "validation_failed", "qty"},
		// DR-005: 2 in stock.
		{"add past the stock", "POST", "/cart/items", item{"sku": "DR-005", "qty": 3}, 422, "insufficient_stock", "qty"},
		{"set past the stock", "PUT", "/cart/items/DR-005", item{"qty": 3}, 422, "insufficient_stock", "qty"},
		{"client price ignored: unknown field", "POST", "/cart/items", item{"sku": "DR-002", "qty": 1, "unit_price_cents": 1}, 422, "validation_failed", "unit_price_cents"},
		{"malformed json", "POST", "/cart/items", `{"sku":`, 400, "malformed_json", ""},
		{"set negative", "PUT", "/cart/items/DR-001", item{"qty": -1}, 422, "validation_failed", "qty"},
		{"set 100", "PUT", "/cart/items/DR-001", item{"qty": 100}, 422, "validation_failed", "qty"},
		{"set unknown sku", "PUT", "/cart/items/ZZ-999", item{"qty": 1}, 404, "product_not_found", ""},
		{"merge without guest token", "POST", "/cart/merge", item{}, 403, "forbidden", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := testkit.Serve(t, app.router, testkit.Request{Method: tc.method, Path: tc.path, Token: tok, Body: tc.body})
			e := testkit.ExpectError(t, w, tc.status, tc.code)
			if tc.field != "" && e.Error.Fields[tc.field] == "" {
				t.Fatalf("field %s not named: %s", tc.field, w.Body)
			}
		})
	}
	_, cart := app.do(t, "GET", "/cart", tok, nil)
	if len(cart.Items) != 1 || cart.Items[0].Qty != 98 || cart.Items[0].UnitPriceCents != 3900 {
		t.Fatalf("a rejected request changed the cart: %+v", cart)
	}
	t.Run("no token", func(t *testing.T) {
		w := testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/cart"})
		testkit.ExpectError(t, w, http.StatusUnauthorized, "unauthorized")
	})
}

func TestParallelAddsAddUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sku string
		wantQty   int // of 20 parallel adds of 1
	}{
		{"all apply (KP-001: 120 in stock)", "KP-001", 20},
		{"they stop at the stock (RV-001: 9 in stock)", "RV-001", 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newTestApp(t, "")
			tok := testkit.GuestToken(t, app.userURL)
			var mu sync.Mutex
			codes := map[int]int{}
			testkit.InParallel(20, func(int) {
				w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/cart/items", Token: tok,
					Body: item{"sku": tc.sku, "qty": 1}})
				mu.Lock()
				codes[w.Code]++
				mu.Unlock()
			})
			// Read back from Redis: each add applied once, none past the stock.
			if _, cart := app.do(t, "GET", "/cart", tok, nil); len(cart.Items) != 1 || cart.Items[0].Qty != tc.wantQty ||
				codes[200] != tc.wantQty || codes[422] != 20-tc.wantQty {
				t.Fatalf("20 parallel adds of 1: statuses %v, cart %+v; want %d applied", codes, cart, tc.wantQty)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	guest := testkit.GuestToken(t, app.userURL)
	user := testkit.RegisterUser(t, app.userURL)
	// KP-001: 120 in stock, so the line's own limit caps it; DR-005: 2 in
	// stock, so the stock does, and the merge says so.
	app.do(t, "POST", "/cart/items", guest, item{"sku": "KP-001", "qty": 60})
	app.do(t, "POST", "/cart/items", guest, item{"sku": "KP-002", "qty": 1})
	app.do(t, "POST", "/cart/items", guest, item{"sku": "DR-005", "qty": 2})
	app.do(t, "POST", "/cart/items", user, item{"sku": "KP-001", "qty": 50})
	app.do(t, "POST", "/cart/items", user, item{"sku": "DR-005", "qty": 1})
	app.do(t, "POST", "/cart/items", user, item{"sku": "HH-002", "qty": 1})

	code, cart := app.do(t, "POST", "/cart/merge", user, item{"guest_token": guest})
	if code != 200 || len(cart.Items) != 4 || strings.Join(cart.NotMerged, ",") != "DR-005" {
		t.Fatalf("merge: %d %+v", code, cart)
	}
	qty := map[string]int{}
	for _, it := range cart.Items {
		qty[it.SKU] = it.Qty
	}
	if qty["KP-001"] != maxQty || qty["KP-002"] != 1 || qty["HH-002"] != 1 || qty["DR-005"] != 2 {
		t.Fatalf("merged quantities %v; want KP-001 capped at %d, DR-005 at its stock of 2", qty, maxQty)
	}
	if _, g := app.do(t, "GET", "/cart", guest, nil); len(g.Items) != 0 {
		t.Fatalf("guest cart not deleted: %+v", g)
	}
	if code, again := app.do(t, "POST", "/cart/merge", user, item{"guest_token": guest}); code != 200 || len(again.Items) != 4 || again.ItemCount != cart.ItemCount {
		t.Fatalf("second merge changed the cart: %d %+v", code, again)
	}

	otherUser := testkit.RegisterUser(t, app.userURL)
	tests := []struct {
		name   string
		token  string
		body   any
		status int
	}{
		{"guest cannot merge", guest, item{"guest_token": guest}, http.StatusForbidden},
		{"a user token is not a guest cart", user, item{"guest_token": otherUser}, http.StatusUnprocessableEntity},
		{"forged guest token", user, item{"guest_token": "eyJhbGciOiJub25lIn0.e30."}, http.StatusUnprocessableEntity},
		{"empty guest token", user, item{"guest_token": ""}, http.StatusUnprocessableEntity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/cart/merge", Token: tc.token, Body: tc.body})
			testkit.ExpectStatus(t, w, tc.status)
		})
	}
}

func TestTTLSetOnWriteNotOnRead(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "") // CART_TTL 1h
	tok := testkit.GuestToken(t, app.userURL)
	app.do(t, "POST", "/cart/items", tok, item{"sku": "CB-001", "qty": 1})
	owner := subjectOf(t, app, tok)
	ttl, err := app.store.TTL(testkit.Context(t), owner)
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL after write = %s, %v; want about 1h", ttl, err)
	}
	// Shorten it, read, and check the read did not extend it.
	if err := app.store.rdb.PExpire(testkit.Context(t), cartKey(owner), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	app.do(t, "GET", "/cart", tok, nil)
	if ttl, _ := app.store.TTL(testkit.Context(t), owner); ttl > time.Minute {
		t.Fatalf("GET refreshed the TTL to %s", ttl)
	}
	app.do(t, "PUT", "/cart/items/CB-001", tok, item{"qty": 3})
	if ttl, _ := app.store.TTL(testkit.Context(t), owner); ttl <= 59*time.Minute {
		t.Fatalf("write did not refresh the TTL: %s", ttl)
	}
}

func TestCatalogueDownChangesNothing(t *testing.T) {
	t.Parallel()
	d := sharedDeps(t)
	own := testkit.StartService(t, testkit.CatalogueService, map[string]string{"MONGO_URI": testkit.MongoURI(t)})
	app := newTestApp(t, "http://"+own.Addr())
	tok := testkit.GuestToken(t, d.userURL)
	app.do(t, "POST", "/cart/items", tok, item{"sku": "IA-001", "qty": 1})

	own.Stop()
	for _, req := range []testkit.Request{
		{Method: "POST", Path: "/cart/items", Body: item{"sku": "IA-002", "qty": 1}},
		{Method: "POST", Path: "/cart/items", Body: item{"sku": "IA-001", "qty": 1}},
		{Method: "PUT", Path: "/cart/items/IA-001", Body: item{"qty": 7}},
	} {
		req.Token = tok
		w := testkit.Serve(t, app.router, req)
		testkit.ExpectError(t, w, http.StatusServiceUnavailable, "service_unavailable")
	}
	if _, cart := app.do(t, "GET", "/cart", tok, nil); len(cart.Items) != 1 || cart.Items[0].Qty != 1 {
		t.Fatalf("cart changed while the catalogue was down: %+v", cart)
	}
}

func subjectOf(t testing.TB, app *testApp, token string) string {
	t.Helper()
	return testkit.Subject(t, app.userURL, token)
}

func TestCartAddsAreCounted(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	tok := testkit.GuestToken(t, app.userURL)
	for _, tc := range []struct {
		body   item
		key    string
		status int
	}{{item{"sku": "DR-001", "qty": 1}, "", 200}, {item{"sku": "NO-SUCH", "qty": 1}, "", 404}, {item{"sku": "DR-001", "qty": 0}, "", 422},
		{item{"sku": "KP-001", "qty": 1}, "add-kp", 200}, {item{"sku": "KP-001", "qty": 1}, "add-kp", 200}} {
		req := testkit.Request{Method: "POST", Path: "/cart/items", Token: tok, Body: tc.body}
		if tc.key != "" {
			req.Headers = map[string]string{"Idempotency-Key": tc.key}
		}
		if w := testkit.Serve(t, app.router, req); w.Code != tc.status {
			t.Fatalf("add %v: %d, want %d", tc.body, w.Code, tc.status)
		}
	}
	// The retry with the same key is counted as what it is.
	testkit.ExpectMetrics(t, app.router, `roboshop_cart_adds_total{outcome="added"} 2`, `roboshop_cart_adds_total{outcome="replayed"} 1`,
		`roboshop_cart_adds_total{outcome="rejected"} 2`)
}
