package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// Product is one item for sale. Prices are integer cents (USD).
type Product struct {
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	PriceCents  int64  `json:"price_cents"`
	Image       string `json:"image"`
	Stock       int    `json:"stock"`
	Featured    bool   `json:"featured"` // chosen for the home page
}

// Category groups products; Slug is what products and filters refer to.
type Category struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// productQuery is a validated GET /products request.
type productQuery struct {
	SKUs     []string // only these (payment prices a cart in one call)
	Category string
	Search   string
	Featured bool   // only products marked featured
	Sort     string // one of sortOrders; "" is by SKU
	Limit    int
	Offset   int
}

// sortOrders are the orders a listing can ask for besides the default (SKU).
var sortOrders = []string{"name", "price", "-price"}

var errNotFound = errors.New("not found")

// store is what the handlers read; cachedStore serves it from memory, with
// every product already encoded as JSON.
type store interface {
	Categories(ctx context.Context) ([]Category, error)
	// Products returns one page of matching products (by SKU, or as q.Sort
	// asks) and the total match count.
	Products(ctx context.Context, q productQuery) ([]json.RawMessage, int64, error)
	// Product returns errNotFound for an unknown SKU.
	Product(ctx context.Context, sku string) (json.RawMessage, error)
}

// seedData is the catalogue shipped with the service.
type seedData struct {
	Categories []Category `json:"categories"`
	Products   []Product  `json:"products"`
}

//go:embed catalogue.json
var seedJSON []byte

var (
	skuPattern   = regexp.MustCompile(`^[A-Z]{2}-[0-9]{3}$`)
	slugPattern  = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	imagePattern = regexp.MustCompile(`^[a-z0-9-]+\.svg$`)
)

// loadSeed parses and checks the embedded catalogue, so a broken data file fails
// the build's tests and the start-up, never a shopper's request.
func loadSeed() (seedData, error) {
	var d seedData
	if err := json.Unmarshal(seedJSON, &d); err != nil {
		return d, fmt.Errorf("catalogue.json: %w", err)
	}
	cats := map[string]bool{}
	for _, c := range d.Categories {
		if !slugPattern.MatchString(c.Slug) || c.Name == "" || cats[c.Slug] {
			return d, fmt.Errorf("catalogue.json: category %q: bad or duplicate slug, or no name", c.Slug)
		}
		cats[c.Slug] = true
	}
	skus := map[string]bool{}
	for _, p := range d.Products {
		switch {
		case !skuPattern.MatchString(p.SKU) || skus[p.SKU]:
			return d, fmt.Errorf("catalogue.json: product %q: bad or duplicate sku", p.SKU)
		case !cats[p.Category]:
			return d, fmt.Errorf("catalogue.json: product %s: unknown category %q", p.SKU, p.Category)
		case p.Name == "" || p.Description == "":
			return d, fmt.Errorf("catalogue.json: product %s: name and description are required", p.SKU)
		case p.PriceCents <= 0 || p.Stock < 0:
			return d, fmt.Errorf("catalogue.json: product %s: price must be positive and stock not negative", p.SKU)
		case !imagePattern.MatchString(p.Image):
			return d, fmt.Errorf("catalogue.json: product %s: image %q is not a plain .svg name", p.SKU, p.Image)
		}
		skus[p.SKU] = true
	}
	if !slices.ContainsFunc(d.Products, func(p Product) bool { return p.Featured }) {
		return d, fmt.Errorf("catalogue.json: no product is featured; the home page shows the featured ones")
	}
	return d, nil
}
