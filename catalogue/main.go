// Command catalogue is Roboshop's product catalogue: categories, products and
// search, seeded from catalogue.json on first start.
package main

import (
	"context"
	"io"

	"github.com/roboshop-go/roboshop/kit"
)

func main() { kit.Main(run) }

func run(ctx context.Context, getenv kit.Getenv, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	seed, err := loadSeed()
	if err != nil {
		return err
	}
	logger := kit.NewLogger(stdout, "catalogue", cfg.LogLevel)
	reg := kit.NewRegistry()
	tracing, err := kit.NewTracing(ctx, getenv, "catalogue", logger)
	if err != nil {
		return err
	}
	defer tracing.Close()
	store, err := openMongoStore(cfg.MongoURI, cfg.Database, tracing.TracerProvider(), reg)
	if err != nil {
		return err
	}
	defer store.Close()
	startup := kit.StartBackground(ctx, logger, "catalogue seed", func(ctx context.Context) error {
		return store.Seed(ctx, seed)
	})
	ready := func(ctx context.Context) error {
		if err := startup.Err(); err != nil {
			return err
		}
		return store.Ping(ctx)
	}
	cache := newCachedStore(store, cfg.CacheTTL)
	cache.seeded = startup.Err
	return kit.Serve(ctx, logger, cfg.ListenAddr, tracing.Handler(newRouter(logger, reg, cfg.Faults, ready, cache)))
}
