package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/kit"
	"github.com/roboshop-go/roboshop/testkit"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestCacheRefreshesAfterTTL(t *testing.T) {
	t.Parallel()
	_, st := newTestApp(t)
	ctx := testkit.Context(t)
	cache := newCachedStore(st, 200*time.Millisecond)
	product := func() (Product, error) {
		raw, err := cache.Product(ctx, "RV-001")
		var p Product
		if err == nil {
			err = json.Unmarshal(raw, &p)
		}
		return p, err
	}
	before, err := product()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.products.UpdateOne(ctx, bson.D{{Key: "_id", Value: "RV-001"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "stock", Value: before.Stock + 5}}}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := product(); p.Stock != before.Stock {
		t.Fatalf("within the TTL the cache must answer from memory: stock %d, want %d", p.Stock, before.Stock)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := product()
		if err == nil && p.Stock == before.Stock+5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache never picked up the change: %+v %v", p, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCacheAgreesWithDatastore(t *testing.T) {
	t.Parallel()
	_, st := newTestApp(t)
	ctx := testkit.Context(t)
	cache := newCachedStore(st, time.Minute)
	all, err := st.AllProducts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// An empty datastore would make the loop below check nothing.
	seed, err := loadSeed()
	if err != nil || len(all) == 0 || len(all) != len(seed.Products) {
		t.Fatalf("datastore holds %d products, the seed %d (%v)", len(all), len(seed.Products), err)
	}
	for _, p := range all {
		raw, err := cache.Product(ctx, p.SKU)
		var got Product
		if err == nil {
			err = json.Unmarshal(raw, &got)
		}
		if err != nil || got != p {
			t.Fatalf("%s: cache %+v %v, datastore %+v", p.SKU, got, err, p)
		}
	}
	if _, err := cache.Product(ctx, "ZZ-999"); !errors.Is(err, errNotFound) {
		t.Fatalf("unknown SKU: %v", err)
	}
}

func TestCacheNeedsItsFirstLoad(t *testing.T) {
	t.Parallel()
	mongo, uri := testkit.StartMongo(t, "catalogue")
	st, err := openMongoStore(uri, "catalogue", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mongo.Stop()
	app := newRouter(discardLogger(), kit.NewRegistry(), kit.Faults{}, st.Ping, newCachedStore(st, time.Minute))
	w := testkit.Serve(t, app, testkit.Request{Method: "GET", Path: "/products"})
	testkit.ExpectError(t, w, http.StatusServiceUnavailable, "service_unavailable")
}

func TestCacheWaitsForTheSeed(t *testing.T) {
	t.Parallel()
	_, st := newTestApp(t) // seeded in the datastore; the gate below stands for the start-up step
	var seeded atomic.Bool
	cache := newCachedStore(st, time.Minute)
	cache.seeded = func() error {
		if seeded.Load() {
			return nil
		}
		return fmt.Errorf("catalogue seed not complete: %w", kit.ErrUnavailable)
	}
	router := newRouter(discardLogger(), kit.NewRegistry(), kit.Faults{}, st.Ping, cache)

	for _, step := range []struct {
		name       string
		seedDone   bool
		wantStatus int
	}{
		{"before the seed completes, reads are unavailable", false, http.StatusServiceUnavailable},
		{"and nothing partial was kept", false, http.StatusServiceUnavailable},
		{"after it, the whole catalogue", true, http.StatusOK},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.seedDone {
				seeded.Store(true)
			}
			w := testkit.Serve(t, router, testkit.Request{Method: "GET", Path: "/products?limit=100"})
			if w.Code != step.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, step.wantStatus, w.Body)
			}
			if step.wantStatus != http.StatusOK {
				testkit.ExpectError(t, w, step.wantStatus, "service_unavailable")
				if cache.current.Load() != nil {
					t.Fatal("a snapshot was kept before the seed completed")
				}
				return
			}
			page := testkit.Decode[struct{ Total int }](t, w.Body.Bytes())
			if page.Total == 0 {
				t.Fatalf("empty catalogue after the seed: %s", w.Body)
			}
		})
	}
}
