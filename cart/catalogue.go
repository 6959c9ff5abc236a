package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/roboshop-go/roboshop/kit"
)

// product is what the cart needs from the catalogue.
type product struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
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

	mu   sync.Mutex
	kept map[string]keptProduct
}

type keptProduct struct {
	product product
	until   time.Time
}

const maxKeptProducts = 1024

func newCatalogueClient(baseURL string, client *http.Client, ttl time.Duration) *catalogueClient {
	return &catalogueClient{baseURL: baseURL, http: client, ttl: ttl, now: time.Now, kept: map[string]keptProduct{}}
}

// Product returns a product: errUnknownSKU on 404, kit.ErrUnavailable when the
// catalogue cannot answer (after two retries: the call is an idempotent GET).
func (c *catalogueClient) Product(ctx context.Context, sku string) (product, error) {
	c.mu.Lock()
	k, ok := c.kept[sku]
	c.mu.Unlock()
	if ok && c.now().Before(k.until) {
		return k.product, nil
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
		c.mu.Lock()
		if len(c.kept) >= maxKeptProducts {
			clear(c.kept)
		}
		c.kept[sku] = keptProduct{product: p, until: c.now().Add(c.ttl)}
		c.mu.Unlock()
	}
	return p, nil
}
