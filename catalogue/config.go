package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/roboshop-go/roboshop/kit"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

type config struct {
	ListenAddr string
	MongoURI   string
	Database   string
	LogLevel   slog.Level
	CacheTTL   time.Duration
}

func loadConfig(getenv kit.Getenv) (config, error) {
	env := kit.NewEnv(getenv)
	cfg := config{
		ListenAddr: env.String("LISTEN_ADDR", ":8080"),
		MongoURI:   env.String("MONGO_URI", "mongodb://localhost:27017/catalogue"),
		LogLevel:   env.Level("LOG_LEVEL", slog.LevelInfo),
		CacheTTL:   env.Duration("CACHE_TTL", 30*time.Second, time.Second, time.Hour),
	}
	if err := env.Err(); err != nil {
		return config{}, err
	}
	cs, err := connstring.ParseAndValidate(cfg.MongoURI)
	if err != nil {
		return config{}, fmt.Errorf("invalid configuration: MONGO_URI: %w", err)
	}
	cfg.Database = cs.Database
	if cfg.Database == "" {
		cfg.Database = "catalogue"
	}
	return cfg, nil
}

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
	store, err := openMongoStore(cfg.MongoURI, cfg.Database)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = store.Close(cctx)
	}()
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
	reg := kit.NewRegistry()
	return kit.Serve(ctx, logger, cfg.ListenAddr, newRouter(logger, reg, ready, cache))
}
