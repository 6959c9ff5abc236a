package main

import (
	"context"
	"log/slog"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/roboshop-go/roboshop/kit"
)

// newRouter is the whole catalogue API. It is public (no token): anyone may browse.
func newRouter(logger *slog.Logger, reg *prometheus.Registry, faults kit.Faults, ready func(context.Context) error, st store) *gin.Engine {
	r := kit.NewEngine(logger, reg, faults)
	kit.Health(r, reg, ready)
	r.GET("/categories", handleCategories(st))
	r.GET("/products", handleProducts(st))
	r.GET("/products/:sku", handleProduct(st))
	return r
}
