package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/roboshop-go/roboshop/kit"
)

type config struct {
	Faults       kit.Faults // the drill's FAULT_* knobs (none unless set)
	ListenAddr   string
	RedisURL     string
	CatalogueURL string
	UserURL      string
	CartTTL      cartTTL
	// ProductTTL: how long a product read from the catalogue prices later adds.
	ProductTTL time.Duration
	LogLevel   slog.Level
	// SettleToken is the credential only payment holds: the one a settle
	// must carry (SETTLE_TOKEN).
	SettleToken string
}

func loadConfig(getenv kit.Getenv) (config, error) {
	env := kit.NewEnv(getenv)
	cfg := config{
		ListenAddr:   env.String("LISTEN_ADDR", ":8080"),
		RedisURL:     env.String("REDIS_URL", "redis://localhost:6379/0"),
		CatalogueURL: strings.TrimRight(env.String("CATALOGUE_URL", "http://catalogue:8080"), "/"),
		UserURL:      strings.TrimRight(env.String("USER_URL", "http://user:8080"), "/"),
		CartTTL: cartTTL{
			User:  env.Duration("CART_TTL", 7*24*time.Hour, time.Second, 90*24*time.Hour),
			Guest: env.Duration("GUEST_CART_TTL", 24*time.Hour, time.Second, 90*24*time.Hour),
		},
		ProductTTL:  env.Duration("PRODUCT_CACHE_TTL", 10*time.Second, 0, 5*time.Minute),
		LogLevel:    env.Level("LOG_LEVEL", slog.LevelInfo),
		Faults:      kit.LoadFaults(env),
		SettleToken: env.Secret("SETTLE_TOKEN", 32),
	}
	if err := env.Err(); err != nil {
		return config{}, err
	}
	if _, err := redis.ParseURL(cfg.RedisURL); err != nil {
		return config{}, fmt.Errorf("invalid configuration: REDIS_URL: %w", err)
	}
	return cfg, nil
}
