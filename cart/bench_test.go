package main

import (
	"net/http"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

// BenchmarkGetCart measures GET /cart (token verification plus a Redis read) for
// a five-line cart through the router.
func BenchmarkGetCart(b *testing.B) {
	app := newTestApp(b, "")
	tok := testkit.GuestToken(b, app.userURL)
	for _, sku := range []string{"DR-001", "DR-002", "KP-001", "HH-001", "CB-003"} {
		app.do(b, "POST", "/cart/items", tok, item{"sku": sku, "qty": 2})
	}
	req := testkit.Request{Method: "GET", Path: "/cart", Token: tok}
	b.ReportAllocs()
	for b.Loop() {
		if w := testkit.Serve(b, app.router, req); w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkAddItem measures POST /cart/items (catalogue lookup plus a Lua update).
func BenchmarkAddItem(b *testing.B) {
	app := newTestApp(b, "")
	tok := testkit.GuestToken(b, app.userURL)
	req := testkit.Request{Method: "POST", Path: "/cart/items", Token: tok, Body: item{"sku": "DR-001", "qty": 1}}
	del := testkit.Request{Method: "DELETE", Path: "/cart", Token: tok}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%90 == 89 {
			testkit.Serve(b, app.router, del) // stay under the per-line limit
		}
		if w := testkit.Serve(b, app.router, req); w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
