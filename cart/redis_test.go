package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/testkit"
)

func TestStoreLineLimit(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, "")
	ctx := testkit.Context(t)
	for i := 0; i < maxLines; i++ {
		if _, _, err := app.store.Add(ctx, write{Owner: "u1", TTL: time.Hour}, Line{SKU: fmt.Sprintf("T-%03d", i), Name: "t", Qty: 1, UnitPriceCents: 100}); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
	}
	if _, _, err := app.store.Add(ctx, write{Owner: "u1", TTL: time.Hour}, Line{SKU: "T-999", Name: "t", Qty: 1, UnitPriceCents: 100}); err != errLineLimit {
		t.Fatalf("line %d: %v, want errLineLimit", maxLines+1, err)
	}
	if _, _, err := app.store.Add(ctx, write{Owner: "u1", TTL: time.Hour}, Line{SKU: "T-000", Name: "t", Qty: 2, UnitPriceCents: 100}); err != nil {
		t.Fatalf("adding to an existing line at the line limit: %v", err)
	}
	// Merging into a full cart keeps what fits and reports the rest.
	for _, sku := range []string{"T-000", "G-1", "G-2"} {
		if _, _, err := app.store.Add(ctx, write{Owner: "g1", TTL: time.Hour}, Line{SKU: sku, Name: "g", Qty: 1, UnitPriceCents: 5}); err != nil {
			t.Fatal(err)
		}
	}
	answered, skipped, _, err := app.store.Merge(ctx, write{Owner: "u1", TTL: time.Hour}, "g1", nil)
	if err != nil || len(skipped) != 2 {
		t.Fatalf("merge into a full cart: skipped %v, %v", skipped, err)
	}
	stored, _ := app.store.Cart(ctx, "u1")
	// The merge answers the cart as it left it: what a read then finds.
	for name, lines := range map[string][]Line{"stored": stored, "answered by the merge": answered} {
		if len(lines) != maxLines {
			t.Fatalf("%s: %d lines after merge, want %d", name, len(lines), maxLines)
		}
		for _, l := range lines {
			if l.SKU == "T-000" && l.Qty != 4 {
				t.Fatalf("%s: T-000 qty %d after merge, want 4", name, l.Qty)
			}
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

// TestFullRedisEvictsCartsNotOtherKeys: with maxmemory and volatile-lru, as
// compose, the lab and EC2 run it, a flood of guest carts keeps being written
// (the oldest carts go), and a key without an expiry is never evicted.
func TestFullRedisEvictsCartsNotOtherKeys(t *testing.T) {
	t.Parallel()
	rds := testkit.RedisWith(t, "--maxmemory", "4mb", "--maxmemory-policy", "volatile-lru")
	st, err := openRedisStore("redis://"+rds.Addr()+"/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := testkit.Context(t)
	if err := st.rdb.Set(ctx, "keep-me", "no expiry", 0).Err(); err != nil {
		t.Fatal(err)
	}
	const carts = 3000 // about 10 MB of carts: well past the limit
	for i := range carts {
		w := write{Owner: fmt.Sprintf("guest-%06d", i), TTL: time.Hour}
		for j := range 5 {
			line := Line{SKU: fmt.Sprintf("SKU-%d", j), Name: strings.Repeat("n", 100), Qty: 1, UnitPriceCents: 100}
			if _, _, err := st.Add(ctx, w, line); err != nil {
				t.Fatalf("cart %d: %v", i, err)
			}
		}
	}
	kept, err := st.rdb.DBSize(ctx).Result()
	if err != nil || kept >= carts {
		t.Fatalf("%d keys after %d carts (%v): nothing was evicted", kept, carts, err)
	}
	if v, err := st.rdb.Get(ctx, "keep-me").Result(); err != nil || v != "no expiry" {
		t.Fatalf("the key without an expiry: %q, %v", v, err)
	}
	t.Logf("%d carts written, %d keys kept under a 4 MB limit", carts, kept)
}

// TestRetryAppliesOnceWhenRedisIsFull: twenty shoppers each add a line with
// an Idempotency-Key, then Redis is filled past its maxmemory (volatile-lru)
// by other carts while the twenty keep reading theirs; then each retries its
// add with the same key. A cart that survived the flood must answer the
// retry as a replay (its quantity stays 1): its marker lives in the cart
// itself, so eviction takes both or neither. A cart that was evicted whole
// takes the retry as its first write, also 1.
func TestRetryAppliesOnceWhenRedisIsFull(t *testing.T) {
	t.Parallel()
	rds := testkit.RedisWith(t, "--maxmemory", "4mb", "--maxmemory-policy", "volatile-lru")
	st, err := openRedisStore("redis://"+rds.Addr()+"/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := testkit.Context(t)
	line := Line{SKU: "DR-001", Name: "SkyEye 4K", Qty: 1, UnitPriceCents: 79900}
	shoppers := make([]write, 20)
	for i := range shoppers {
		shoppers[i] = write{Owner: fmt.Sprintf("shopper-%02d", i), TTL: time.Hour, Key: "add-1", Hash: "add DR-001 x1"}
		if _, _, err := st.Add(ctx, shoppers[i], line); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3000 { // about 10 MB of other carts: well past the limit
		w := write{Owner: fmt.Sprintf("flood-%06d", i), TTL: time.Hour}
		for j := range 5 {
			if _, _, err := st.Add(ctx, w, Line{SKU: fmt.Sprintf("SKU-%d", j), Name: strings.Repeat("n", 100), Qty: 1, UnitPriceCents: 100}); err != nil {
				t.Fatalf("cart %d: %v", i, err)
			}
		}
		if i%100 == 0 { // the shoppers look at their carts now and then
			for _, w := range shoppers {
				if _, err := st.Cart(ctx, w.Owner); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	survived, replayed := 0, 0
	for _, w := range shoppers {
		before, err := st.Cart(ctx, w.Owner)
		if err != nil {
			t.Fatal(err)
		}
		if len(before) > 0 {
			survived++
		}
		_, again, err := st.Add(ctx, w, line)
		if err != nil {
			t.Fatal(err)
		}
		if again {
			replayed++
		}
		after, err := st.Cart(ctx, w.Owner)
		if err != nil || len(after) != 1 || after[0].Qty != 1 {
			t.Errorf("%s: the retried add left %+v (%v); want DR-001 x1", w.Owner, after, err)
		}
	}
	t.Logf("of 20 carts, %d survived the flood; %d retries were replays", survived, replayed)
	if survived == 0 {
		t.Fatal("no shopper's cart survived the flood: nothing was retried against a kept cart")
	}
	if replayed < survived {
		t.Errorf("%d carts survived but only %d retries were replayed", survived, replayed)
	}
}
