package main

import (
	"net/http"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

// BenchmarkProducts measures GET /products (a category page) through the router
// against the real datastore.
func BenchmarkProducts(b *testing.B) {
	app, _ := newTestApp(b)
	req := testkit.Request{Method: "GET", Path: "/products?category=drones&limit=20"}
	b.ReportAllocs()
	for b.Loop() {
		if w := testkit.Serve(b, app, req); w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkProduct measures GET /products/{sku}.
func BenchmarkProduct(b *testing.B) {
	app, _ := newTestApp(b)
	req := testkit.Request{Method: "GET", Path: "/products/DR-001"}
	b.ReportAllocs()
	for b.Loop() {
		if w := testkit.Serve(b, app, req); w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
