package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/roboshop-go/roboshop/kit"
)

// product is what the cart needs from the catalogue.
type product struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
}

var errUnknownSKU = errors.New("unknown sku")

type catalogueClient struct {
	baseURL string
	http    *http.Client
}

// Product fetches a product: errUnknownSKU on 404, kit.ErrUnavailable when the
// catalogue cannot answer (after two retries: the call is an idempotent GET).
func (c *catalogueClient) Product(ctx context.Context, sku string) (product, error) {
	var p product
	err := kit.Call(ctx, c.http, kit.CallOptions{Method: http.MethodGet,
		URL: c.baseURL + "/products/" + url.PathEscape(sku), Retries: 2}, &p)
	if errors.Is(err, kit.ErrRemoteNotFound) {
		return product{}, errUnknownSKU
	}
	return p, err
}
