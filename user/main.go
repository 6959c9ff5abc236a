// Command user is Roboshop's account service: guest and user tokens (EdDSA JWTs),
// registration, login and the JWKS other services verify tokens with.
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
	logger := kit.NewLogger(stdout, "user", cfg.LogLevel)
	reg := kit.NewRegistry()
	tracing, err := kit.NewTracing(ctx, getenv, "user", logger)
	if err != nil {
		return err
	}
	defer tracing.Close()
	store, err := openMongoStore(cfg.MongoURI, cfg.Database, tracing.TracerProvider(), reg)
	if err != nil {
		return err
	}
	defer store.Close()

	pw, err := newPasswords(cfg.BcryptCost)
	if err != nil {
		return err
	}
	keys := &keyring{}
	if cfg.SigningKey != nil {
		keys.use(cfg.SigningKey)
	}
	startup := kit.StartBackground(ctx, logger, "user store", func(ctx context.Context) error {
		if err := store.EnsureIndexes(ctx); err != nil {
			return err
		}
		if cfg.SigningKey == nil {
			if err := keys.load(ctx, store); err != nil {
				return err
			}
		}
		if cfg.SeedDemo {
			return seedDemo(ctx, store, pw, cfg)
		}
		return nil
	})
	ready := func(ctx context.Context) error {
		if err := startup.Err(); err != nil {
			return err
		}
		return store.Ping(ctx)
	}
	router := newRouter(logger, reg, ready, store, keys, pw, cfg)
	return kit.Serve(ctx, logger, cfg.ListenAddr, tracing.Handler(router))
}
