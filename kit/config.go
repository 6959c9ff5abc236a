// Package kit holds the plumbing every Roboshop service shares: configuration
// from the environment, JSON logging with request ids, health and metrics
// endpoints, the error envelope, the HTTP server lifecycle and JWT verification.
// It has no business types and no package-level state.
package kit

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Getenv is os.Getenv's signature; services receive it so tests can inject values.
type Getenv func(string) string

// Env reads typed values from the environment and collects every problem, so a
// misconfigured service reports all bad variables at once instead of one per restart.
type Env struct {
	getenv Getenv
	errs   []error
}

// NewEnv returns an Env reading through getenv.
func NewEnv(getenv Getenv) *Env { return &Env{getenv: getenv} }

// String returns the variable or def when it is unset or empty.
func (e *Env) String(key, def string) string {
	if v := strings.TrimSpace(e.getenv(key)); v != "" {
		return v
	}
	return def
}

// Required returns the variable and records an error when it is missing.
func (e *Env) Required(key string) string {
	v := strings.TrimSpace(e.getenv(key))
	if v == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is required but not set", key))
	}
	return v
}

// Secret returns a required credential and records an error when it is
// missing or shorter than minLen (the message never shows the value).
func (e *Env) Secret(key string, minLen int) string {
	v := e.Required(key)
	if v != "" && len(v) < minLen {
		e.errs = append(e.errs, fmt.Errorf("%s must be at least %d characters", key, minLen))
	}
	return v
}

// Int returns the variable as an integer within [lo, hi], or def when unset.
func (e *Env) Int(key string, def, lo, hi int) int {
	raw := strings.TrimSpace(e.getenv(key))
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want an integer from %d to %d", key, raw, lo, hi))
		return def
	}
	return n
}

// Duration returns the variable as a Go duration ("90s", "168h") within [lo, hi].
func (e *Env) Duration(key string, def, lo, hi time.Duration) time.Duration {
	raw := strings.TrimSpace(e.getenv(key))
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < lo || d > hi {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a duration from %s to %s", key, raw, lo, hi))
		return def
	}
	return d
}

// Bool returns the variable as a boolean ("true", "false", "1", "0"), or def when unset.
func (e *Env) Bool(key string, def bool) bool {
	raw := strings.TrimSpace(e.getenv(key))
	if raw == "" {
		return def
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want true or false", key, raw))
		return def
	}
	return b
}

// Level returns the variable as a log level (debug, info, warn, error).
func (e *Env) Level(key string, def slog.Level) slog.Level {
	raw := strings.TrimSpace(e.getenv(key))
	if raw == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(raw)); err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want debug, info, warn or error", key, raw))
		return def
	}
	return l
}

// Err returns every problem found so far, joined, or nil.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(e.errs...))
}
