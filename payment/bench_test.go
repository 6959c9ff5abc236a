package main

import (
	"strconv"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

// BenchmarkCheckout measures the whole checkout path through the router: the
// quote the shopper confirms, then claim the key and the cart, read the cart
// (cart service), re-price two lines (catalogue service), charge the
// simulator, write the order in one MariaDB transaction and settle the cart.
// Refilling the cart each round is outside the timer.
func BenchmarkCheckout(b *testing.B) {
	app := newTestApp(b)
	user := testkit.RegisterUser(b, app.userURL)
	body := checkoutBody("4242424242424242")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		app.addToCart(b, user, "KP-001", 2)
		app.addToCart(b, user, "KP-002", 1)
		i++
		b.StartTimer()
		if code, resp, _ := app.checkout(b, user, "bench-"+strconv.Itoa(i), body); code != 201 {
			b.Fatalf("checkout: %d %s", code, resp)
		}
	}
}

// BenchmarkOrders measures GET /orders (ten orders with their lines).
func BenchmarkOrders(b *testing.B) {
	app := newTestApp(b)
	user := testkit.RegisterUser(b, app.userURL)
	for i := 0; i < 10; i++ {
		app.addToCart(b, user, "KP-001", 1)
		if code, resp, _ := app.checkout(b, user, "seed-"+strconv.Itoa(i), checkoutBody("4242424242424242")); code != 201 {
			b.Fatalf("checkout: %d %s", code, resp)
		}
	}
	req := testkit.Request{Method: "GET", Path: "/orders", Token: user}
	b.ReportAllocs()
	for b.Loop() {
		if w := testkit.Serve(b, app.router, req); w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
