package main

import (
	"errors"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/kit"
	"github.com/roboshop-go/roboshop/testkit"
)

// The steps share one client, one clock and one catalogue, in order.
func TestCatalogueClientKeepsProductsForTheTTL(t *testing.T) {
	t.Parallel()
	own := testkit.StartService(t, testkit.CatalogueService, map[string]string{"MONGO_URI": testkit.MongoURI(t)})
	start := time.Now()
	clock := start
	c := newCatalogueClient("http://"+own.Addr(), kit.NewHTTPClient(2*time.Second), 10*time.Second)
	c.now = func() time.Time { return clock }
	ctx := testkit.Context(t)

	for _, step := range []struct {
		name     string
		sku      string
		at       time.Time
		stop     bool // stop the catalogue before this step
		wantErr  error
		wantKept int
	}{
		{"a product is read and kept", "IA-001", start, false, nil, 1},
		{"an unknown SKU is not kept", "XX-999", start, false, errUnknownSKU, 1},
		{"a kept product is answered with the catalogue down", "IA-001", start.Add(9 * time.Second), true, nil, 1},
		{"a product not kept needs the catalogue", "IA-002", start.Add(9 * time.Second), false, kit.ErrUnavailable, 1},
		{"after the TTL the catalogue is asked again", "IA-001", start.Add(11 * time.Second), false, kit.ErrUnavailable, 1},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.stop {
				own.Stop()
			}
			clock = step.at
			p, err := c.Product(ctx, step.sku)
			if !errors.Is(err, step.wantErr) {
				t.Fatalf("Product(%s) = %+v, %v; want error %v", step.sku, p, err, step.wantErr)
			}
			if err == nil && (p.SKU != step.sku || p.PriceCents <= 0) {
				t.Errorf("Product(%s) = %+v", step.sku, p)
			}
			if n := c.kept.Len(); n != step.wantKept {
				t.Errorf("%d products kept, want %d", n, step.wantKept)
			}
		})
	}
}
