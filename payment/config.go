package main

import (
	"fmt"
	"log/slog"
	"strings"

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
