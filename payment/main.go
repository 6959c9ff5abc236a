// Command payment is Roboshop's checkout: it prices the caller's cart from the
// catalogue, charges the card through a gateway, and records the order in MySQL,
// at most once per Idempotency-Key.
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
	logger := kit.NewLogger(stdout, "payment", cfg.LogLevel)
	tracing, err := kit.NewTracing(ctx, getenv, "payment", logger)
	if err != nil {
		return err
	}
	defer tracing.Close()
	st, err := openMySQLStore(cfg.MySQLDSN, logger, tracing.TracerProvider())
	if err != nil {
		return err
	}
	defer st.Close()
	migrate := st.Migrate
	if cfg.MigrateDSN != "" {
		migrate = func(ctx context.Context) error { return migrateAs(ctx, cfg.MigrateDSN, logger) }
	}
	startup := kit.StartBackground(ctx, logger, "schema migrations", migrate)
	ready := func(ctx context.Context) error {
		if err := startup.Err(); err != nil {
			return err
		}
		return st.Ping(ctx)
	}
	client := tracing.Client(kit.NewHTTPClient(3 * time.Second))
	verifier := kit.NewVerifier(kit.NewJWKSClient(cfg.UserURL+"/.well-known/jwks.json", client))
	shop := &shopClient{cartURL: cfg.CartURL, catalogueURL: cfg.CatalogueURL, http: client, settleToken: cfg.SettleToken}
	st.crash = cfg.CrashAt
	reg := kit.NewRegistry()
	reg.MustRegister(st.poolMetrics())
	var gateway Gateway = newSimulator()
	if cfg.GatewayURL != "" {
		gateway = &httpGateway{base: cfg.GatewayURL, http: client}
	}
	gateway = withFaults(gateway, cfg.GatewayLatency, cfg.GatewayFailurePercent)
	co := newCheckout(logger, reg, st, shop, gateway, timingFor(cfg.StaleAfter), cfg.CrashAt)
	go co.reconcile(ctx, startup.Err)
	router := newRouter(logger, reg, cfg.Faults, ready, st, co, verifier)
	return kit.Serve(ctx, logger, cfg.ListenAddr, tracing.Handler(router))
}
