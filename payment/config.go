package main

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/roboshop-go/roboshop/kit"
)

type config struct {
	GatewayURL            string // the card gateway stand-in; "" for the in-process simulator (a toy)
	StaleAfter            time.Duration
	CrashAt               crashPoint
	GatewayLatency        time.Duration
	GatewayFailurePercent int
	Faults                kit.Faults // the drill's FAULT_* knobs (none unless set)
	ListenAddr            string
	MySQLDSN              string
	// MigrateDSN is the schema owner's (MYSQL_MIGRATE_DSN), which the
	// migrations connect as; the service's own user (MYSQL_DSN) may then only
	// read and write rows. "": migrations run as MYSQL_DSN's user.
	MigrateDSN   string
	CartURL      string
	CatalogueURL string
	UserURL      string
	LogLevel     slog.Level
	SettleToken  string // SETTLE_TOKEN: proves to the cart that a settle is payment's
}

func loadConfig(getenv kit.Getenv) (config, error) {
	env := kit.NewEnv(getenv)
	trim := func(s string) string { return strings.TrimRight(s, "/") }
	cfg := config{
		ListenAddr:   env.String("LISTEN_ADDR", ":8080"),
		MySQLDSN:     env.String("MYSQL_DSN", "roboshop:roboshop@tcp(localhost:3306)/payment?parseTime=true"),
		MigrateDSN:   env.String("MYSQL_MIGRATE_DSN", ""),
		CartURL:      trim(env.String("CART_URL", "http://cart:8080")),
		CatalogueURL: trim(env.String("CATALOGUE_URL", "http://catalogue:8080")),
		UserURL:      trim(env.String("USER_URL", "http://user:8080")),
		LogLevel:     env.Level("LOG_LEVEL", slog.LevelInfo),
		// The drill's card gateway: slow, or failing a share of charges.
		GatewayLatency:        env.Duration("GATEWAY_LATENCY", 0, 0, 30*time.Second),
		GatewayFailurePercent: env.Int("GATEWAY_FAILURE_PERCENT", 0, 0, 100),
		Faults:                kit.LoadFaults(env),
		GatewayURL:            trim(env.String("GATEWAY_URL", "")),
		// When a checkout's key, claim or intent counts as dead; every other
		// checkout deadline is a fraction of it (timingFor).
		StaleAfter:  env.Duration("CHECKOUT_STALE_AFTER", time.Minute, 4*time.Second, time.Hour),
		CrashAt:     crashPoint(env.String("CRASH_AT", "")),
		SettleToken: env.Secret("SETTLE_TOKEN", 32),
	}
	if err := env.Err(); err != nil {
		return config{}, err
	}
	if cfg.CrashAt != "" && !slices.Contains(crashPoints, string(cfg.CrashAt)) {
		return config{}, fmt.Errorf("invalid configuration: CRASH_AT must be one of %s", strings.Join(crashPoints, ", "))
	}
	if _, err := mysql.ParseDSN(cfg.MySQLDSN); err != nil {
		return config{}, fmt.Errorf("invalid configuration: MYSQL_DSN: %w", err)
	}
	if _, err := mysql.ParseDSN(cfg.MigrateDSN); cfg.MigrateDSN != "" && err != nil {
		return config{}, fmt.Errorf("invalid configuration: MYSQL_MIGRATE_DSN: %w", err)
	}
	return cfg, nil
}
