package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

// forward serves the shop's public entry as the internet-facing ALB does on
// AWS (serveForward), on the host's loopback address (the URL up prints) and
// on the alb's own addresses inside the lab, private and public (where the
// internet namespace, and the host on the public segment, shop like a
// customer), and the internal balancers' listeners (startBalancers).
func forward(ctx context.Context, cfg config) error {
	l, err := loadLayout(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	lns := []net.Listener{ln}
	if l.entry() == sg.LoadBalancer {
		// The alb's private address (the tiers' downloads meet it there) and
		// its public one (the internet's, and the host's own way in).
		addrs := []string{l.hostPort(sg.LoadBalancer, 80)}
		if pub, ok := l.publicAddr(sg.LoadBalancer); ok {
			addrs = append(addrs, netip.AddrPortFrom(pub, 80).String())
		}
		for _, addr := range addrs {
			inLab, err := l.listenIn(sg.LoadBalancer, addr)
			if err != nil {
				for _, ln := range lns {
					ln.Close()
				}
				return err
			}
			lns = append(lns, inLab)
		}
	}
	balancers, err := l.startBalancers(ctx)
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return err
	}
	// Its log (logs/forward.log) says what it serves and every request it
	// could not pass on; nginx logs the rest.
	err = l.serveForward(ctx, slog.New(slog.NewJSONHandler(os.Stdout, nil)), lns...)
	return errors.Join(err, <-balancers)
}

// entry is where the public entry's requests come from inside the lab: the
// alb, or the internet itself in a lab whose groups have no alb.
func (l *layout) entry() string {
	if slices.Contains(l.groups, sg.LoadBalancer) {
		return sg.LoadBalancer
	}
	return internet
}

// realIPFrom is the address nginx believes X-Forwarded-For from: the alb's
// (none without one: the internet namespace is a shopper, not a proxy).
func (l *layout) realIPFrom() string {
	if l.entry() != sg.LoadBalancer {
		return ""
	}
	return l.addr(sg.LoadBalancer).String()
}

// serveForward serves HTTP on each listener until ctx ends, as an ALB does:
// every request goes on to the frontend's port 80 from the entry's namespace,
// with the client's address appended to X-Forwarded-For (after any the client
// sent, which nginx, believing the alb alone, then ignores). A TCP relay
// would hand nginx one address, the alb's, for every shopper, and every
// per-address limit would be shared by all of them.
func (l *layout) serveForward(ctx context.Context, logger *slog.Logger, lns ...net.Listener) error {
	target := &url.URL{Scheme: "http", Host: l.hostPort("frontend", 80)}
	from := l.entry()
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return l.dialFrom(ctx, from, addr, 3*time.Second)
		},
		MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second, ResponseHeaderTimeout: 30 * time.Second}
	defer transport.CloseIdleConnections()
	proxy := &httputil.ReverseProxy{Transport: transport, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
		pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
		pr.SetXForwarded()
	}, ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		logger.Error("no answer from the frontend", "client", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "err", err.Error())
		w.WriteHeader(http.StatusBadGateway)
	}}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	errs := make(chan error, len(lns))
	for _, ln := range lns {
		logger.Info("forwarding", "listen", ln.Addr().String(), "to", target.Host, "from", from)
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errs <- err
				return
			}
			errs <- nil
		}()
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	for range lns {
		err = errors.Join(err, <-errs)
	}
	return err
}

// listener is one listener of an internal balancer: where it listens, inside
// the balancer's namespace, and the address it forwards to from there.
type listener struct {
	balancer, listen, target string
}

// listeners lists every listener of every balancer group (sg.Group.IsBalancer).
func (l *layout) listeners() []listener {
	var out []listener
	for _, name := range l.groups {
		for _, r := range l.set.Groups[name].Egress {
			if r.Listener != 0 {
				out = append(out, listener{name, l.hostPort(name, r.Listener), l.hostPort(r.Group, r.Port)})
			}
		}
	}
	return out
}

// startBalancers binds every balancer listener inside its balancer's
// namespace, then relays each connection to the listener's target from that
// namespace, as an internal ALB does: the target's rules see the balancer,
// never the caller. It returns once all are bound; the channel yields the
// serving error after ctx ends.
func (l *layout) startBalancers(ctx context.Context) (<-chan error, error) {
	listeners := l.listeners()
	var lns []net.Listener
	for _, b := range listeners {
		ln, err := l.listenIn(b.balancer, b.listen)
		if err != nil {
			for _, open := range lns {
				open.Close()
			}
			return nil, fmt.Errorf("balancer %s listener %s: %w", b.balancer, b.listen, err)
		}
		lns = append(lns, ln)
	}
	errs := make(chan error, len(lns))
	for i, b := range listeners {
		go func() {
			errs <- relay(ctx, lns[i], func() (net.Conn, error) { return l.dialFrom(ctx, b.balancer, b.target, 3*time.Second) })
		}()
	}
	done := make(chan error, 1)
	go func() {
		var all []error
		for range lns {
			all = append(all, <-errs)
		}
		done <- errors.Join(all...)
	}()
	return done, nil
}

// relay accepts on ln until ctx ends and pipes each connection to one that
// dial opens, half-closing each way as the other side does.
func relay(ctx context.Context, ln net.Listener, dial func() (net.Conn, error)) error {
	go func() { <-ctx.Done(); ln.Close() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		client, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer client.Close()
			upstream, err := dial()
			if err != nil {
				return
			}
			defer upstream.Close()
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(upstream, client)
			go pipe(client, upstream)
			<-done
			<-done
		}()
	}
}

// startForwarder runs "lab forward" detached from a copy of this executable
// (a `go run` binary disappears when go run exits).
func startForwarder(cfg config) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	copyPath, _ := filepath.Abs(filepath.Join(cfg.StateDir, "bin", "lab"))
	if err := os.WriteFile(copyPath, raw, 0o755); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(cfg.StateDir, "logs", "forward.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	state, _ := filepath.Abs(cfg.StateDir)
	repo, _ := filepath.Abs(cfg.Repo)
	cmd := exec.Command(copyPath, "forward", "-prefix", cfg.Prefix, "-subnet", cfg.Subnet, "-public", cfg.Public,
		"-listen", cfg.Listen, "-repo", repo, "-state", state)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start forwarder: %w", err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return os.WriteFile(filepath.Join(cfg.StateDir, "pids", "forward.pid"), []byte(strconv.Itoa(pid)), 0o644)
}
