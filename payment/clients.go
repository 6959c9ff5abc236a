package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/roboshop-go/roboshop/kit"
)

// shopClient calls the cart and catalogue services on the caller's behalf.
type shopClient struct {
	cartURL      string
	catalogueURL string
	http         *http.Client
}

type cartLine struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

type catalogueProduct struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
}

var errProductGone = errors.New("product no longer in the catalogue")

// Cart returns the caller's cart lines (quantities only: prices come from the catalogue).
func (s *shopClient) Cart(ctx context.Context, token string) ([]cartLine, error) {
	var cart struct {
		Items []cartLine `json:"items"`
	}
	err := kit.Call(ctx, s.http, kit.CallOptions{Method: http.MethodGet, URL: s.cartURL + "/cart", Token: token, Retries: 2}, &cart)
	return cart.Items, err
}

// ClearCart empties the caller's cart after an order; DELETE is idempotent, so it retries.
func (s *shopClient) ClearCart(ctx context.Context, token string) error {
	return kit.Call(ctx, s.http, kit.CallOptions{Method: http.MethodDelete, URL: s.cartURL + "/cart", Token: token, Retries: 2}, nil)
}

// Product returns the catalogue's current name and price for sku.
func (s *shopClient) Product(ctx context.Context, sku string) (catalogueProduct, error) {
	var p catalogueProduct
	err := kit.Call(ctx, s.http, kit.CallOptions{Method: http.MethodGet,
		URL: s.catalogueURL + "/products/" + url.PathEscape(sku), Retries: 2}, &p)
	if errors.Is(err, kit.ErrRemoteNotFound) {
		return p, errProductGone
	}
	return p, err
}
