package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/roboshop-go/roboshop/kit"
)

type config struct {
	GatewayLatency        time.Duration
	GatewayFailurePercent int
	Faults                kit.Faults // the drill's FAULT_* knobs (none unless set)
	ListenAddr            string
	MySQLDSN              string
	CartURL               string
	CatalogueURL          string
	UserURL               string
	LogLevel              slog.Level
}

func loadConfig(getenv kit.Getenv) (config, error) {
	env := kit.NewEnv(getenv)
	trim := func(s string) string { return strings.TrimRight(s, "/") }
	cfg := config{
		ListenAddr:   env.String("LISTEN_ADDR", ":8080"),
		MySQLDSN:     env.String("MYSQL_DSN", "roboshop:roboshop@tcp(localhost:3306)/payment?parseTime=true"),
		CartURL:      trim(env.String("CART_URL", "http://cart:8080")),
		CatalogueURL: trim(env.String("CATALOGUE_URL", "http://catalogue:8080")),
		UserURL:      trim(env.String("USER_URL", "http://user:8080")),
		LogLevel:     env.Level("LOG_LEVEL", slog.LevelInfo),
		// The drill's card gateway: slow, or failing a share of charges.
		GatewayLatency:        env.Duration("GATEWAY_LATENCY", 0, 0, 30*time.Second),
		GatewayFailurePercent: env.Int("GATEWAY_FAILURE_PERCENT", 0, 0, 100),
		Faults:                kit.LoadFaults(env),
	}
	if err := env.Err(); err != nil {
		return config{}, err
	}
	if _, err := mysql.ParseDSN(cfg.MySQLDSN); err != nil {
		return config{}, fmt.Errorf("invalid configuration: MYSQL_DSN: %w", err)
	}
	return cfg, nil
}
