package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/kit"

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

// BenchmarkLoginFailure measures failed logins at the default bcrypt cost (12),
// alternating a known email with a wrong password and an unknown email, and
// reports each one's mean: the two must cost the same, or the time tells which
// emails have accounts. Each attempt comes from its own client address, and
// the account ceiling is lifted, so the throttle never answers instead.
func BenchmarkLoginFailure(b *testing.B) {
	app := newTestApp(b)
	pw, err := newPasswords(12)
	if err != nil {
		b.Fatal(err)
	}
	app.cfg.BcryptCost = 12
	app.cfg.Login.AccountCeiling = 1 << 30
	app.router = newRouter(slog.New(slog.NewJSONHandler(io.Discard, nil)), kit.NewRegistry(),
		func(context.Context) error { return nil }, app.store, app.keys, pw, app.cfg)
	register(b, app, "timing@example.com", "password1")
	emails := []string{"timing@example.com", "nobody@example.com"}
	var spent [2]time.Duration
	n := 0
	for b.Loop() {
		for i, email := range emails {
			addr := fmt.Sprintf("198.18.%d.%d", n/250%250, 1+n%250)
			start := time.Now()
			if w := login(b, app, addr, email, "wrong-password"); w.Code != http.StatusUnauthorized {
				b.Fatalf("%s: status %d", email, w.Code)
			}
			spent[i] += time.Since(start)
		}
		n++
	}
	b.ReportMetric(float64(spent[0].Milliseconds())/float64(n), "known-ms/op")
	b.ReportMetric(float64(spent[1].Milliseconds())/float64(n), "unknown-ms/op")
}
