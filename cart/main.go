// Command cart is Roboshop's shopping cart: one cart per token subject (guest or
// user) in Redis, priced from the catalogue service.
package main

import (
	"context"
	"io"
	"time"

	"github.com/roboshop-go/roboshop/kit"
)

func main() { kit.Main(run) }

func run(ctx context.Context, getenv kit.Getenv, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := kit.NewLogger(stdout, "cart", cfg.LogLevel)
	tracing, err := kit.NewTracing(ctx, getenv, "cart", logger)
	if err != nil {
		return err
	}
	defer tracing.Close()
	st, err := openRedisStore(cfg.RedisURL, tracing.TracerProvider())
	if err != nil {
		return err
	}
	defer st.Close()
	client := tracing.Client(kit.NewHTTPClient(2 * time.Second))
	verifier := kit.NewVerifier(kit.NewJWKSClient(cfg.UserURL+"/.well-known/jwks.json", client))
	catalogue := newCatalogueClient(cfg.CatalogueURL, client, cfg.ProductTTL)
	reg := kit.NewRegistry()
	reg.MustRegister(st.poolMetrics()...)
	router := newRouter(logger, reg, cfg.Faults, st.Ping, st, catalogue, verifier, cfg.CartTTL, cfg.SettleToken)
	return kit.Serve(ctx, logger, cfg.ListenAddr, tracing.Handler(router))
}
