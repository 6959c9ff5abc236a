package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

type productsResponse struct {
	Items  []Product `json:"items"`
	Total  int64     `json:"total"`
	Limit  int       `json:"limit"`
	Offset int       `json:"offset"`
}

func getProducts(t *testing.T, app http.Handler, query string) productsResponse {
	t.Helper()
	w := testkit.Serve(t, app, testkit.Request{Method: "GET", Path: "/products?" + query})
	testkit.ExpectStatus(t, w, http.StatusOK)
	return testkit.Decode[productsResponse](t, w.Body.Bytes())
}

func TestCategories(t *testing.T) {
	t.Parallel()
	app, _ := newTestApp(t)
	w := testkit.Serve(t, app, testkit.Request{Method: "GET", Path: "/categories"})
	testkit.ExpectStatus(t, w, http.StatusOK)
	cats := testkit.Decode[listResponse[Category]](t, w.Body.Bytes())
	if len(cats.Items) < 5 {
		t.Fatalf("%d categories, want at least 5", len(cats.Items))
	}
	for _, c := range cats.Items {
		page := getProducts(t, app, "category="+c.Slug)
		if page.Total == 0 {
			t.Errorf("category %s has no products", c.Slug)
		}
		for _, p := range page.Items {
			if p.Category != c.Slug {
				t.Errorf("category=%s returned %s of %s", c.Slug, p.SKU, p.Category)
			}
		}
	}
}

func TestProductListing(t *testing.T) {
	t.Parallel()
	app, _ := newTestApp(t)
	seed, _ := loadSeed()
	total := int64(len(seed.Products))
	// The seed's own extremes, whatever it holds.
	var featured int64
	cheapest, dearest, firstByName := seed.Products[0], seed.Products[0], seed.Products[0]
	for _, p := range seed.Products {
		if p.Featured {
			featured++
		}
		if p.PriceCents < cheapest.PriceCents || p.PriceCents == cheapest.PriceCents && p.SKU < cheapest.SKU {
			cheapest = p
		}
		if p.PriceCents > dearest.PriceCents || p.PriceCents == dearest.PriceCents && p.SKU < dearest.SKU {
			dearest = p
		}
		if strings.ToLower(p.Name) < strings.ToLower(firstByName.Name) {
			firstByName = p
		}
	}
	tests := []struct {
		name      string
		query     string
		wantTotal int64
		wantItems int
		firstSKU  string
	}{
		{"defaults", "", total, defaultLimit, "CB-001"},
		{"limit and offset", "limit=5&offset=10", total, 5, ""},
		{"largest limit", "limit=100", total, int(total), "CB-001"},
		{"last page is short", "limit=10&offset=30", total, int(total) - 30, ""},
		{"offset past the end", "offset=500", total, 0, ""},
		{"category", "category=drones", 6, 6, "DR-001"},
		{"unknown category", "category=teapots", 0, 0, ""},
		{"search is case-insensitive on name", "q=dUsTmAsTeR", 1, 1, "HH-001"},
		{"search matches description", "q=rocker-bogie", 1, 1, "RV-003"},
		{"search within category", "q=SWIFT&category=industrial", 1, 1, "IA-004"},
		{"search outside its category", "q=swift&category=drones", 0, 0, ""},
		{"regex .* is literal", "q=" + url.QueryEscape(".*"), 0, 0, ""},
		{"regex ( is literal", "q=" + url.QueryEscape("("), 3, 3, "DR-006"},
		{"$where is literal", "q=" + url.QueryEscape("$where"), 0, 0, ""},
		{"regex alternation is literal", "q=" + url.QueryEscape("dust|mop"), 0, 0, ""},
		{"dot matches only a dot", "q=" + url.QueryEscape("6S 5,000"), 1, 1, "KP-005"},
		{"metacharacters in real text", "q=" + url.QueryEscape("(6 x MG996R)"), 1, 1, "KP-001"},
		{"featured", "featured=true&limit=100", featured, int(featured), ""},
		{"featured false is everything", "featured=false&limit=100", total, int(total), "CB-001"},
		{"by price", "sort=price", total, defaultLimit, cheapest.SKU},
		{"by price, dearest first", "sort=-price", total, defaultLimit, dearest.SKU},
		{"by name", "sort=name", total, defaultLimit, firstByName.SKU},
		{"by price within a category", "sort=price&category=drones", 6, 6, "DR-004"},
		{"by SKUs", "skus=DR-002,KP-001,CB-001", 3, 3, "CB-001"},
		{"a SKU not sold is left out", "skus=DR-002,ZZ-999", 1, 1, "DR-002"},
		{"a SKU named twice is listed once", "skus=DR-002,DR-002", 1, 1, "DR-002"},
		{"SKUs within a category", "skus=DR-002,KP-001&category=drones", 1, 1, "DR-002"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page := getProducts(t, app, tc.query)
			if page.Total != tc.wantTotal || len(page.Items) != tc.wantItems {
				t.Fatalf("total %d, %d items; want %d, %d", page.Total, len(page.Items), tc.wantTotal, tc.wantItems)
			}
			if tc.firstSKU != "" && page.Items[0].SKU != tc.firstSKU {
				t.Fatalf("first item %s, want %s", page.Items[0].SKU, tc.firstSKU)
			}
			if page.Items == nil {
				t.Fatal("items must be a list, never null")
			}
		})
	}
	for _, order := range append([]string{""}, sortOrders...) {
		t.Run("pages do not overlap, sort="+order, func(t *testing.T) {
			seen := map[string]bool{}
			var prev *Product
			for offset := 0; offset < int(total); offset += 7 {
				for _, p := range getProducts(t, app, "sort="+url.QueryEscape(order)+"&limit=7&offset="+strconv.Itoa(offset)).Items {
					if seen[p.SKU] {
						t.Fatalf("%s on two pages", p.SKU)
					}
					seen[p.SKU] = true
					if prev != nil && !inOrder(order, *prev, p) {
						t.Fatalf("sort=%s: %s (%s, %d) before %s (%s, %d)", order, prev.SKU, prev.Name, prev.PriceCents, p.SKU, p.Name, p.PriceCents)
					}
					prev = &p
				}
			}
			if len(seen) != int(total) {
				t.Fatalf("paged through %d products, want %d", len(seen), total)
			}
		})
	}
	t.Run("featured are those the seed marks", func(t *testing.T) {
		for _, p := range getProducts(t, app, "featured=true&limit=100").Items {
			if !p.Featured {
				t.Errorf("%s listed as featured but not marked", p.SKU)
			}
		}
	})
}

// inOrder reports whether a may come before b in order (ties in SKU order).
func inOrder(order string, a, b Product) bool {
	switch order {
	case "name":
		return strings.ToLower(a.Name) <= strings.ToLower(b.Name)
	case "price":
		return a.PriceCents < b.PriceCents || a.PriceCents == b.PriceCents && a.SKU < b.SKU
	case "-price":
		return a.PriceCents > b.PriceCents || a.PriceCents == b.PriceCents && a.SKU < b.SKU
	}
	return a.SKU < b.SKU
}

func TestProductListingRejects(t *testing.T) {
	t.Parallel()
	app, _ := newTestApp(t)
	tests := []struct {
		name  string
		query string
		field string
	}{
		{"limit zero", "limit=0", "limit"},
		{"limit too big", "limit=101", "limit"},
		{"limit not a number", "limit=ten", "limit"},
		{"negative offset", "offset=-1", "offset"},
		{"offset too big", "offset=10001", "offset"},
		{"limit twice", "limit=1&limit=2", "limit"},
		{"bad category", "category=" + url.QueryEscape("drones'; DROP"), "category"},
		{"search too long", "q=" + strings.Repeat("a", 101), "q"},
		{"control character in search", "q=%00", "q"},
		{"invalid utf-8 in search", "q=%ff", "q"},
		{"unknown sort", "sort=colour", "sort"},
		{"sort twice", "sort=name&sort=price", "sort"},
		{"featured not a boolean", "featured=yes", "featured"},
		{"empty SKU list", "skus=", "skus"},
		{"not a SKU", "skus=DR-001," + url.QueryEscape("' OR 1=1"), "skus"},
		{"trailing comma", "skus=DR-001,", "skus"},
		{"more SKUs than a page", "skus=" + strings.TrimSuffix(strings.Repeat("DR-001,", 101), ","), "skus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := testkit.Serve(t, app, testkit.Request{Method: "GET", Path: "/products?" + tc.query})
			e := testkit.ExpectError(t, w, http.StatusUnprocessableEntity, "validation_failed")
			if e.Error.Fields[tc.field] == "" {
				t.Fatalf("no message for %q: %s", tc.field, w.Body.String())
			}
		})
	}
}

func TestProductBySKU(t *testing.T) {
	t.Parallel()
	app, _ := newTestApp(t)
	w := testkit.Serve(t, app, testkit.Request{Method: "GET", Path: "/products/DR-001"})
	testkit.ExpectStatus(t, w, http.StatusOK)
	p := testkit.Decode[Product](t, w.Body.Bytes())
	if p.Name != "SkyEye 4K" || p.PriceCents != 79900 || p.Image != "dr-001.svg" || p.Category != "drones" {
		t.Fatalf("DR-001 = %+v", p)
	}
	for _, sku := range []string{"DR-999", "dr-001", "..%2F..%2Fetc", "$where", strings.Repeat("A", 200)} {
		t.Run(sku, func(t *testing.T) {
			w := testkit.Serve(t, app, testkit.Request{Method: "GET", Path: "/products/" + url.PathEscape(sku)})
			testkit.ExpectError(t, w, http.StatusNotFound, "product_not_found")
		})
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	app, _ := newTestApp(t)
	testkit.ExpectError(t, testkit.Serve(t, app, testkit.Request{Method: "GET", Path: "/nope"}), 404, "route_not_found")
	testkit.ExpectError(t, testkit.Serve(t, app, testkit.Request{Method: "DELETE", Path: "/products"}), 405, "method_not_allowed")
}
