package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

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

// BenchmarkLoginFailure measures a failed login at the default bcrypt cost (12)
// for a known email with a wrong password and for an unknown email: the two
// must cost the same, or the time tells which emails have accounts. Each
// attempt comes from its own client address, so the throttle never answers.
func BenchmarkLoginFailure(b *testing.B) {
	app := newTestApp(b)
	pw, err := newPasswords(12)
	if err != nil {
		b.Fatal(err)
	}
	app.cfg.BcryptCost = 12
	app.router = newRouter(slog.New(slog.NewJSONHandler(io.Discard, nil)), kit.NewRegistry(),
		func(context.Context) error { return nil }, app.store, app.keys, pw, app.cfg)
	register(b, app, "timing@example.com", "password1")
	for _, email := range []string{"timing@example.com", "nobody@example.com"} {
		b.Run(email, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				addr := fmt.Sprintf("198.18.%d.%d", i/250%250, 1+i%250)
				if w := login(b, app, addr, email, "wrong-password"); w.Code != http.StatusUnauthorized {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
