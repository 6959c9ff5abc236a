package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/roboshop-go/roboshop/kit"
)

type config struct {
	ListenAddr   string
	MySQLDSN     string
	CartURL      string
	CatalogueURL string
	UserURL      string
	LogLevel     slog.Level
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
	}
	if err := env.Err(); err != nil {
		return config{}, err
	}
	if _, err := mysql.ParseDSN(cfg.MySQLDSN); err != nil {
		return config{}, fmt.Errorf("invalid configuration: MYSQL_DSN: %w", err)
	}
	return cfg, nil
}

func run(ctx context.Context, getenv kit.Getenv, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := kit.NewLogger(stdout, "payment", cfg.LogLevel)
	st, err := openMySQLStore(cfg.MySQLDSN, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	startup := kit.StartBackground(ctx, logger, "schema migrations", st.Migrate)
	ready := func(ctx context.Context) error {
		if err := startup.Err(); err != nil {
			return err
		}
		return st.Ping(ctx)
	}
	client := kit.NewHTTPClient(3 * time.Second)
	verifier := kit.NewVerifier(kit.NewJWKSClient(cfg.UserURL+"/.well-known/jwks.json", client))
	shop := &shopClient{cartURL: cfg.CartURL, catalogueURL: cfg.CatalogueURL, http: client}
	reg := kit.NewRegistry()
	router := newRouter(logger, reg, ready, st, shop, newSimulator(), verifier)
	return kit.Serve(ctx, logger, cfg.ListenAddr, router)
}
