package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/roboshop-go/roboshop/kit"
)

// shopClient calls the cart and catalogue services on the caller's behalf.
type shopClient struct {
	cartURL      string
	catalogueURL string
	http         *http.Client
	settleToken  string // payment's own credential on the cart's settle
}

type cartLine struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

type catalogueProduct struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Stock      int    `json:"stock"`
}

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
		Token: token, Header: http.Header{kit.HeaderServiceToken: {s.settleToken}}, Body: body, Retries: 2}, nil)
}

// skusPerCall is the catalogue's largest page: a longer list is asked for in parts.
const skusPerCall = 100

// Products returns the catalogue's current name and price of each of skus
// that it still sells, in one call per hundred SKUs.
func (s *shopClient) Products(ctx context.Context, skus []string) (map[string]catalogueProduct, error) {
	found := make(map[string]catalogueProduct, len(skus))
	for part := range slices.Chunk(skus, skusPerCall) {
		var page struct {
			Items []catalogueProduct `json:"items"`
		}
		query := url.Values{"skus": {strings.Join(part, ",")}, "limit": {strconv.Itoa(skusPerCall)}}
		if err := kit.Call(ctx, s.http, kit.CallOptions{Method: http.MethodGet,
			URL: s.catalogueURL + "/products?" + query.Encode(), Retries: 2}, &page); err != nil {
			return nil, err
		}
		for _, p := range page.Items {
			found[p.SKU] = p
		}
	}
	return found, nil
}
