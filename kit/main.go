package kit

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// RunFunc is the shape of every service's run function.
type RunFunc func(ctx context.Context, getenv Getenv, stdout io.Writer) error

// Main is the whole of a service's main. Distroless images have no shell or
// curl, so the binary asks its own running copy: "healthcheck" as the only
// argument probes /healthz (the image's health check), "metrics" prints
// /metrics (`docker compose exec user /app metrics`). Otherwise it runs the
// service until SIGINT or SIGTERM and exits 0 after a clean drain.
func Main(run RunFunc) {
	if len(os.Args) == 2 && (os.Args[1] == "healthcheck" || os.Args[1] == "metrics") {
		path, out := "/healthz", io.Discard
		if os.Args[1] == "metrics" {
			path, out = "/metrics", io.Writer(os.Stdout)
		}
		if err := getLocal(os.Getenv, path, out); err != nil {
			fmt.Fprintln(os.Stderr, os.Args[1]+":", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		if err := servePprof(ctx, addr); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
	}
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// servePprof serves net/http/pprof on a loopback address, for profiling a
// running service (the benchmark does); never on the service port, so nginx
// can never expose it.
func servePprof(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ((ip == nil || !ip.IsLoopback()) && host != "localhost") {
		return fmt.Errorf("PPROF_ADDR %q must be a loopback host:port", addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return nil
}

// getLocal copies the local service's answer to GET path (on the port of
// LISTEN_ADDR) to out, and fails unless it is 200.
func getLocal(getenv Getenv, path string, out io.Writer) error {
	addr := NewEnv(getenv).String("LISTEN_ADDR", ":8080")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR %q: %w", addr, err)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort("127.0.0.1", port) + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	_, err = io.Copy(out, resp.Body)
	return err
}
