package main

import (
	"testing"

	"github.com/roboshop-go/roboshop/testkit"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestSeedFile(t *testing.T) {
	seed, err := loadSeed()
	if err != nil {
		t.Fatal(err)
	}
	if len(seed.Products) < 30 || len(seed.Categories) < 5 {
		t.Fatalf("%d products in %d categories; want at least 30 in 5", len(seed.Products), len(seed.Categories))
	}
}

func TestSeedIsIdempotentAndKeepsChanges(t *testing.T) {
	t.Parallel()
	_, st := newTestApp(t) // seeded once
	ctx := testkit.Context(t)
	if _, err := st.products.UpdateOne(ctx, bson.D{{Key: "_id", Value: "HH-001"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "stock", Value: 0}}}}); err != nil {
		t.Fatal(err)
	}
	// A missing product makes the seeders write rather than take the
	// everything-is-there shortcut.
	if _, err := st.products.DeleteOne(ctx, bson.D{{Key: "_id", Value: "HH-002"}}); err != nil {
		t.Fatal(err)
	}
	seed, _ := loadSeed()
	testkit.InParallel(3, func(int) { // concurrent seeders, as when instances start together
		if err := st.Seed(ctx, seed); err != nil {
			t.Error(err)
		}
	})
	n, err := st.products.CountDocuments(ctx, bson.D{})
	if err != nil || n != int64(len(seed.Products)) {
		t.Fatalf("%d products after re-seeding (%v), want %d", n, err, len(seed.Products))
	}
	all, err := st.AllProducts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.SKU == "HH-001" && p.Stock != 0 {
			t.Fatalf("re-seeding overwrote the stock: %+v", p)
		}
	}
	cats, err := st.Categories(ctx)
	if err != nil || len(cats) != len(seed.Categories) {
		t.Fatalf("%d categories (%v), want %d", len(cats), err, len(seed.Categories))
	}
}
