package kit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// ShutdownTimeout bounds how long in-flight requests may take to drain on SIGTERM.
const ShutdownTimeout = 10 * time.Second

// Serve listens on addr and serves h until ctx is cancelled, then drains in-flight
// requests for up to ShutdownTimeout. It returns nil after a clean shutdown.
func Serve(ctx context.Context, logger *slog.Logger, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "drain_timeout", ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// NewHTTPClient returns a client for calls between services: bounded overall and
// per phase, with a keep-alive pool sized for a busy caller.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil, // calls stay inside the private network
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: timeout,
			TLSHandshakeTimeout:   2 * time.Second,
		},
	}
}

// NewEngine returns a gin engine with the shared middleware: request logging,
// metrics, recovery into the error envelope, the drill's faults (none unless
// set), and JSON answers for unknown routes.
func NewEngine(logger *slog.Logger, reg prometheus.Registerer, faults Faults) *gin.Engine {
	gin.SetMode(gin.ReleaseMode) // no debug route dump on stdout: logs are JSON only
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(RequestLog(logger), Metrics(reg), gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, rec any) {
		WriteError(c, fmt.Errorf("panic: %v", rec))
	}), faults.middleware())
	r.NoRoute(func(c *gin.Context) { WriteError(c, NotFound("route_not_found", "no such endpoint")) })
	r.NoMethod(func(c *gin.Context) {
		WriteError(c, NewError(http.StatusMethodNotAllowed, "method_not_allowed", "this endpoint does not accept that method"))
	})
	return r
}
