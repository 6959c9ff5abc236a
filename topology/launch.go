package topology

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// FrontendPart is the name of nginx in a Plan (its security group's name).
const FrontendPart = "frontend"

// Runner puts the shop's processes where a caller wants them: child processes
// here (Local), or detached inside network namespaces (the lab).
type Runner interface {
	// Run runs c for part to completion.
	Run(ctx context.Context, part string, c Cmd) error
	// Start starts c as part's long-lived process.
	Start(part string, c Cmd) error
}

// Plan is one shop to start from source.
type Plan struct {
	Repo string
	Dir  string // everything the shop writes: data/<part>, nginx/, html/
	// Addr is where part (a datastore, service or FrontendPart) listens.
	Addr func(part string) (host string, port int)
	// Reach is host:port where callers (nginx, other services) find a
	// service, when that is not where it listens: a load balancer in front of
	// it (the lab's internal-alb). Nil: at Addr.
	Reach func(service string) string
	Bins  map[string]string // from Build: the services, and mongostandin where there is no mongod; ferretdb: FerretDB's server (Host.FerretDB)
	Secrets
	Throwaway bool
	// ServiceEnv adds variables to a service's environment (LOG_LEVEL,
	// PPROF_ADDR); nil adds none.
	ServiceEnv func(service string) map[string]string
	// Frontend starts nginx with the published UI in front of the services.
	Frontend bool
	// RealIPFrom is the proxy in front of nginx whose X-Forwarded-For it
	// believes (Frontend.RealIPFrom); empty: none.
	RealIPFrom string
	// MariaDBUser is the OS user MariaDB runs as (Host.MariaDBUser).
	MariaDBUser string
	// ProxyOf is the address nginx's requests reach service from (nginx's
	// own, or a balancer's), which a TrustsProxy service believes; nil or
	// empty: the service's default (loopback, where nginx runs beside it).
	ProxyOf func(service string) string
}

// HostPort is Addr as host:port.
func (p Plan) HostPort(part string) string {
	host, port := p.Addr(part)
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// calledAt is where callers find service.
func (p Plan) calledAt(service string) string {
	if p.Reach != nil {
		return p.Reach(service)
	}
	return p.HostPort(service)
}

// Start starts the datastores (waiting until each is set up), then the
// services in order, then nginx. It does not wait for the services: where a
// caller can reach them it waits on their /readyz (WaitHTTP).
func Start(ctx context.Context, p Plan, r Runner) error {
	shop := Roboshop()
	for _, d := range shop.Datastores {
		host, port := p.Addr(d.Name)
		srv, err := d.Server(Host{Dir: filepath.Join(p.Dir, "data", d.Name), Bind: host, Port: port,
			MongoStandIn: p.Bins["mongostandin"], FerretDB: p.Bins["ferretdb"], Throwaway: p.Throwaway, MariaDBUser: p.MariaDBUser,
			Secrets: p.Secrets})
		if err != nil {
			return err
		}
		for _, c := range srv.Prepare {
			if err := r.Run(ctx, d.Name, c); err != nil {
				return err
			}
		}
		if err := r.Start(d.Name, srv.Start); err != nil {
			return err
		}
		for _, c := range srv.Setup {
			if err := Retry(ctx, time.Minute, func() error { return r.Run(ctx, d.Name, c) }); err != nil {
				return fmt.Errorf("%s did not come up: %w", d.Name, err)
			}
		}
	}
	for _, svc := range shop.Services {
		store := shop.Datastore(svc.Store)
		env := svc.Env(shop, p.HostPort(svc.Name), store.URL(p.HostPort(store.Name), p.Secrets),
			func(name string) string { return "http://" + p.calledAt(name) })
		if p.ServiceEnv != nil {
			for k, v := range p.ServiceEnv(svc.Name) {
				env[k] = v
			}
		}
		for _, name := range svc.Secrets {
			env[name] = p.Secrets.Value(name)
		}
		if migrate := store.MigrateURL(p.HostPort(store.Name), p.Secrets); migrate != "" {
			env[MigrateDSNVar] = migrate
		}
		if svc.TrustsProxy && p.ProxyOf != nil {
			if proxy := p.ProxyOf(svc.Name); proxy != "" {
				env[TrustedProxiesVar] = proxy
			}
		}
		if err := r.Start(svc.Name, Cmd{Path: p.Bins[svc.Name], Env: EnvList(env)}); err != nil {
			return err
		}
	}
	if !p.Frontend {
		return nil
	}
	html, nginxDir := filepath.Join(p.Dir, "html"), filepath.Join(p.Dir, "nginx")
	if err := PublishUI(p.Repo, html); err != nil {
		return err
	}
	if err := os.MkdirAll(nginxDir, 0o755); err != nil {
		return err
	}
	f := Frontend{Listen: p.HostPort(FrontendPart), HTMLRoot: html, Upstreams: map[string]string{}, RealIPFrom: p.RealIPFrom}
	for _, svc := range shop.Services {
		f.Upstreams[svc.Name] = p.calledAt(svc.Name)
	}
	conf, err := WriteNginxConfig(p.Repo, nginxDir, f)
	if err != nil {
		return err
	}
	return r.Start(FrontendPart, Cmd{Path: "nginx", Args: []string{"-c", conf, "-p", nginxDir}})
}

// Retry calls f every 200 ms until it succeeds or within has passed, and
// returns its last error.
func Retry(ctx context.Context, within time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WaitHTTP polls url until it answers 200, for at most within.
func WaitHTTP(ctx context.Context, url string, within time.Duration) error {
	return WaitHTTPWith(ctx, &http.Client{Timeout: 2 * time.Second}, url, within)
}

// WaitHTTPWith is WaitHTTP through client (one that trusts a server's own
// certificate, say).
func WaitHTTPWith(ctx context.Context, client *http.Client, url string, within time.Duration) error {
	var last error
	err := Retry(ctx, within, func() error {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		last = err
		return err
	})
	if err != nil {
		return fmt.Errorf("%s not ready within %s: %w", url, within, last)
	}
	return nil
}

// Terminate sends sig to p and waits until done is closed (p has exited and
// been waited for), killing p if that takes longer than grace.
func Terminate(p *os.Process, sig os.Signal, done <-chan struct{}, grace time.Duration) {
	_ = p.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.Kill()
		<-done
	}
}
