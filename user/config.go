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
	ListenAddr   string
	MongoURI     string
	Database     string
	LogLevel     slog.Level
	TokenTTL     time.Duration
	BcryptCost   int
	SeedDemo     bool
	DemoEmail    string
	DemoPassword string
	Login        loginPolicy
}

// loginPolicy bounds password guessing: after FreeAttempts failures within Window
// an email is locked for BaseLock, doubling with each further failure up to MaxLock.
type loginPolicy struct {
	FreeAttempts int
	BaseLock     time.Duration
	MaxLock      time.Duration
	Window       time.Duration
}

func loadConfig(getenv kit.Getenv) (config, error) {
	env := kit.NewEnv(getenv)
	cfg := config{
		ListenAddr:   env.String("LISTEN_ADDR", ":8080"),
		MongoURI:     env.String("MONGO_URI", "mongodb://localhost:27017/users"),
		LogLevel:     env.Level("LOG_LEVEL", slog.LevelInfo),
		TokenTTL:     env.Duration("TOKEN_TTL", time.Hour, time.Minute, 24*time.Hour),
		BcryptCost:   env.Int("BCRYPT_COST", 12, 10, 15),
		SeedDemo:     env.Bool("SEED_DEMO", true),
		DemoEmail:    env.String("DEMO_EMAIL", "demo@roboshop.example"),
		DemoPassword: env.String("DEMO_PASSWORD", "roboshop-demo"),
		Login: loginPolicy{
			FreeAttempts: env.Int("LOGIN_FREE_ATTEMPTS", 5, 1, 100),
			BaseLock:     env.Duration("LOGIN_LOCK", 30*time.Second, time.Second, time.Hour),
			MaxLock:      15 * time.Minute,
			Window:       time.Hour,
		},
	}
	cs, err := connstring.ParseAndValidate(cfg.MongoURI)
	if err := env.Err(); err != nil {
		return config{}, err
	}
	if err != nil {
		return config{}, fmt.Errorf("invalid configuration: MONGO_URI: %w", err)
	}
	cfg.Database = cs.Database
	if cfg.Database == "" {
		cfg.Database = "users"
	}
	if err := validatePassword(cfg.DemoPassword); err != nil && cfg.SeedDemo {
		return config{}, fmt.Errorf("invalid configuration: DEMO_PASSWORD: %s", err)
	}
	return cfg, nil
}

func run(ctx context.Context, getenv kit.Getenv, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := kit.NewLogger(stdout, "user", cfg.LogLevel)
	store, err := openMongoStore(cfg.MongoURI, cfg.Database)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = store.Close(cctx)
	}()

	keys := &keyring{}
	startup := kit.StartBackground(ctx, logger, "user store", func(ctx context.Context) error {
		if err := store.EnsureIndexes(ctx); err != nil {
			return err
		}
		if err := keys.load(ctx, store); err != nil {
			return err
		}
		if cfg.SeedDemo {
			return seedDemo(ctx, store, cfg)
		}
		return nil
	})
	ready := func(ctx context.Context) error {
		if err := startup.Err(); err != nil {
			return err
		}
		return store.Ping(ctx)
	}
	reg := kit.NewRegistry()
	router := newRouter(logger, reg, ready, store, keys, cfg)
	return kit.Serve(ctx, logger, cfg.ListenAddr, router)
}
