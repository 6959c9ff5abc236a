package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/roboshop-go/roboshop/kit"
)

// newRouter is the whole cart API. Every cart route needs a guest or user token;
// the cart is always the token subject's. Writes take an optional
// Idempotency-Key header that makes a retry apply at most once.
func newRouter(logger *slog.Logger, reg *prometheus.Registry, faults kit.Faults, ready func(context.Context) error,
	st store, cat catalogue, verifier *kit.Verifier, ttl cartTTL, settleToken string) *gin.Engine {
	r := kit.NewEngine(logger, reg, faults)
	kit.Health(r, reg, ready)

	anyone := r.Group("/cart", kit.RequireAuth(verifier, kit.RoleGuest, kit.RoleUser))
	anyone.GET("", handleGetCart(st))
	anyone.DELETE("", handleClear(st, ttl))
	// A retried add (its Idempotency-Key seen before) is a replay, not a
	// second add, as payment counts a replayed checkout.
	addedByStatus := kit.StatusOutcome(map[int]string{http.StatusOK: "added"})
	adds := kit.Outcomes(reg, "roboshop_cart_adds_total", "Adds to a cart", []string{"added", "replayed", "rejected", "failed"},
		func(c *gin.Context) string {
			if c.Writer.Header().Get("Idempotent-Replayed") == "true" {
				return "replayed"
			}
			return addedByStatus(c)
		})
	anyone.POST("/items", adds, handleAddItem(st, cat, ttl))
	anyone.PUT("/items/:sku", handleSetItem(st, cat, ttl))
	anyone.DELETE("/items/:sku", handleRemoveItem(st, ttl))

	users := r.Group("/cart", kit.RequireAuth(verifier, kit.RoleUser))
	users.POST("/merge", handleMerge(st, cat, verifier, ttl))
	// Payment's call after an order (not proxied by nginx): the user's token
	// names the cart, payment's own token proves the caller is payment.
	users.POST("/settle", kit.RequireServiceToken(settleToken), handleSettle(st, ttl))
	return r
}
