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

type settleLine struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

// SettleCart takes an order's lines out of the caller's cart. The cart applies
// it once per order id, so it is idempotent and retried.
func (s *shopClient) SettleCart(ctx context.Context, token, orderID string, items []OrderLine) error {
	lines := make([]settleLine, len(items))
	for i, it := range items {
		lines[i] = settleLine{SKU: it.SKU, Qty: it.Qty}
	}
	body := struct {
		OrderID string       `json:"order_id"`
		Items   []settleLine `json:"items"`
	}{orderID, lines}
	return kit.Call(ctx, s.http, kit.CallOptions{Method: http.MethodPost, URL: s.cartURL + "/cart/settle",
		Token: token, Body: body, Retries: 2}, nil)
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
