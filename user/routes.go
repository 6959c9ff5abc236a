package main

import (
	"context"
	"log/slog"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/roboshop-go/roboshop/kit"
)

// newRouter is the whole user API.
func newRouter(logger *slog.Logger, reg *prometheus.Registry, ready func(context.Context) error,
	st store, keys *keyring, cfg config) *gin.Engine {
	r := kit.NewEngine(logger, reg)
	kit.Health(r, reg, ready)
	requireUser := kit.RequireAuth(kit.NewVerifier(keys), kit.RoleUser)

	r.GET("/.well-known/jwks.json", handleJWKS(keys))
	r.POST("/guest", handleGuest(keys, cfg.TokenTTL))
	r.POST("/register", handleRegister(st, keys, cfg.TokenTTL, cfg.BcryptCost))
	r.POST("/login", handleLogin(st, keys, cfg.TokenTTL, cfg.Login))
	r.GET("/me", requireUser, handleMe(st))
	return r
}
