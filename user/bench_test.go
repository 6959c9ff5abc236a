package main

import (
	"net/http"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

// BenchmarkMe measures GET /me through the router against the real datastore.
func BenchmarkMe(b *testing.B) {
	app := newTestApp(b)
	w := testkit.Serve(b, app.router, testkit.Request{Method: "POST", Path: "/register",
		Body: map[string]string{"email": "bench@example.com", "name": "Bench", "password": "password1"}})
	token := testkit.Decode[authBody](b, w.Body.Bytes()).Token
	req := testkit.Request{Method: "GET", Path: "/me", Token: token}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if w := testkit.Serve(b, app.router, req); w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
