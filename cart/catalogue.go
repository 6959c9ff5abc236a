package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/roboshop-go/roboshop/kit"
)

// product is what the cart needs from the catalogue.
type product struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Stock      int    `json:"stock"`
}

var errUnknownSKU = errors.New("unknown sku")

// catalogueClient reads products from the catalogue and keeps each for ttl: a
// shopper adds the same few products again and again, and the catalogue itself
// serves a snapshot up to CACHE_TTL old. Prices are authoritative only at
// checkout, where payment reads them afresh. Unknown SKUs are never kept, so
// the memory is bounded by the catalogue's size (and maxKeptProducts).
type catalogueClient struct {
	baseURL string
	http    *http.Client
	ttl     time.Duration
	now     func() time.Time
	kept    *kit.Memo[string, product]
}

const maxKeptProducts = 1024

func newCatalogueClient(baseURL string, client *http.Client, ttl time.Duration) *catalogueClient {
	return &catalogueClient{baseURL: baseURL, http: client, ttl: ttl, now: time.Now,
		kept: kit.NewMemo[string, product](maxKeptProducts)}
}

// Product returns a product: errUnknownSKU on 404, kit.ErrUnavailable when the
// catalogue cannot answer (after two retries: the call is an idempotent GET).
func (c *catalogueClient) Product(ctx context.Context, sku string) (product, error) {
	now := c.now()
	if p, ok := c.kept.Get(sku, now); ok {
		return p, nil
	}
	var p product
	err := kit.Call(ctx, c.http, kit.CallOptions{Method: http.MethodGet,
		URL: c.baseURL + "/products/" + url.PathEscape(sku), Retries: 2}, &p)
	if errors.Is(err, kit.ErrRemoteNotFound) {
		return product{}, errUnknownSKU
	}
	if err != nil {
		return product{}, err
	}
	if c.ttl > 0 {
		c.kept.Put(sku, p, now.Add(c.ttl), now)
	}
	return p, nil
}
