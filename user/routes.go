package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/roboshop-go/roboshop/kit"
)

// newRouter is the whole user API.
func newRouter(logger *slog.Logger, reg *prometheus.Registry, ready func(context.Context) error,
	st store, keys *keyring, pw passwords, cfg config) *gin.Engine {
	r := kit.NewEngine(logger, reg, cfg.Faults)
	// The client's address (for the login throttle) is X-Real-IP, which the
	// frontend's nginx sets, and only when the peer is a trusted proxy; from
	// anyone else it is the peer's address (proxies.go).
	r.ForwardedByClientIP = false
	proxies := newTrustedProxies(cfg.TrustedProxies)
	kit.Health(r, reg, ready)
	requireUser := kit.RequireAuth(kit.NewVerifier(keys), kit.RoleUser)

	r.GET("/.well-known/jwks.json", handleJWKS(keys))
	r.POST("/guest", handleGuest(keys, cfg.TokenTTL))
	registrations := kit.Outcomes(reg, "roboshop_registrations_total", "Registrations",
		[]string{"registered", "email_taken", "rejected", "failed"},
		kit.StatusOutcome(map[int]string{http.StatusCreated: "registered", http.StatusConflict: "email_taken"}))
	// Throttled logins are the lockouts: an account or address slowed or
	// refused after too many failures.
	logins := kit.Outcomes(reg, "roboshop_logins_total", "Logins",
		[]string{"success", "invalid_credentials", "throttled", "rejected", "failed"},
		kit.StatusOutcome(map[int]string{http.StatusOK: "success", http.StatusUnauthorized: "invalid_credentials", http.StatusTooManyRequests: "throttled"}))
	r.POST("/register", registrations, handleRegister(st, keys, cfg.TokenTTL, pw))
	r.POST("/login", logins, handleLogin(st, keys, cfg.TokenTTL, pw, cfg.Login, proxies))
	r.GET("/me", requireUser, handleMe(st))
	r.GET("/demo", handleDemo(cfg))
	return r
}
