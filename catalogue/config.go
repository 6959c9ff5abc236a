package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/roboshop-go/roboshop/kit"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

type config struct {
	Faults     kit.Faults // the drill's FAULT_* knobs (none unless set)
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
		Faults:     kit.LoadFaults(env),
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
