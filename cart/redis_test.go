package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/testkit"
)

func TestStoreLineLimit(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	ctx := testkit.Context(t)
	for i := 0; i < maxLines; i++ {
		if _, err := app.store.Add(ctx, write{Owner: "u1", TTL: time.Hour}, Line{SKU: fmt.Sprintf("T-%03d", i), Name: "t", Qty: 1, UnitPriceCents: 100}); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
	}
	if _, err := app.store.Add(ctx, write{Owner: "u1", TTL: time.Hour}, Line{SKU: "T-999", Name: "t", Qty: 1, UnitPriceCents: 100}); err != errLineLimit {
		t.Fatalf("line %d: %v, want errLineLimit", maxLines+1, err)
	}
	if _, err := app.store.Add(ctx, write{Owner: "u1", TTL: time.Hour}, Line{SKU: "T-000", Name: "t", Qty: 2, UnitPriceCents: 100}); err != nil {
		t.Fatalf("adding to an existing line at the line limit: %v", err)
	}
	// Merging into a full cart keeps what fits and reports the rest.
	for _, sku := range []string{"T-000", "G-1", "G-2"} {
		if _, err := app.store.Add(ctx, write{Owner: "g1", TTL: time.Hour}, Line{SKU: sku, Name: "g", Qty: 1, UnitPriceCents: 5}); err != nil {
			t.Fatal(err)
		}
	}
	skipped, _, err := app.store.Merge(ctx, write{Owner: "u1", TTL: time.Hour}, "g1")
	if err != nil || len(skipped) != 2 {
		t.Fatalf("merge into a full cart: skipped %v, %v", skipped, err)
	}
	lines, _ := app.store.Cart(ctx, "u1")
	if len(lines) != maxLines {
		t.Fatalf("%d lines after merge, want %d", len(lines), maxLines)
	}
	for _, l := range lines {
		if l.SKU == "T-000" && l.Qty != 4 {
			t.Fatalf("T-000 qty %d after merge, want 4", l.Qty)
		}
	}
}

func TestStoreRedisDown(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	tok := testkit.GuestToken(t, app.userURL)
	app.redis.Stop()
	w := testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/cart", Token: tok})
	testkit.ExpectError(t, w, 503, "service_unavailable")
	app.redis.Start(t)
	w = testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/cart", Token: tok})
	testkit.ExpectStatus(t, w, 200)
}
