package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/roboshop-go/roboshop/kit"
)

// newRouter is the whole payment API: registered users only (guests get 403).
func newRouter(logger *slog.Logger, reg *prometheus.Registry, faults kit.Faults, ready func(context.Context) error,
	st store, co *checkout, verifier *kit.Verifier) *gin.Engine {
	r := kit.NewEngine(logger, reg, faults)
	kit.Health(r, reg, ready)
	users := r.Group("", kit.RequireAuth(verifier, kit.RoleUser))
	users.GET("/checkout/quote", handleQuote(co))
	// Each checkout by what became of it: a new order, a replay of one, a
	// declined card, a refusal (4xx) or a failure (5xx).
	byStatus := kit.StatusOutcome(map[int]string{http.StatusCreated: "ordered", http.StatusPaymentRequired: "declined"})
	checkouts := kit.Outcomes(reg, "roboshop_checkouts_total", "Checkouts",
		[]string{"ordered", "replayed", "declined", "rejected", "failed"},
		func(c *gin.Context) string {
			if c.Writer.Header().Get("Idempotent-Replayed") == "true" {
				return "replayed"
			}
			return byStatus(c)
		})
	users.POST("/checkout", checkouts, handleCheckout(co))
	users.GET("/orders", handleOrders(st))
	users.GET("/orders/:id", handleOrder(st))
	return r
}
