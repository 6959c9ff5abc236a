package main

import (
	"context"
	"log/slog"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/roboshop-go/roboshop/kit"
)

// newRouter is the whole cart API. Every cart route needs a guest or user token;
// the cart is always the token subject's.
func newRouter(logger *slog.Logger, reg *prometheus.Registry, ready func(context.Context) error,
	st store, cat catalogue, verifier *kit.Verifier) *gin.Engine {
	r := kit.NewEngine(logger, reg)
	kit.Health(r, reg, ready)

	anyone := r.Group("/cart", kit.RequireAuth(verifier, kit.RoleGuest, kit.RoleUser))
	anyone.GET("", handleGetCart(st))
	anyone.DELETE("", handleClear(st))
	anyone.POST("/items", handleAddItem(st, cat))
	anyone.PUT("/items/:sku", handleSetItem(st, cat))
	anyone.DELETE("/items/:sku", handleRemoveItem(st))

	r.POST("/cart/merge", kit.RequireAuth(verifier, kit.RoleUser), handleMerge(st, verifier))
	return r
}
