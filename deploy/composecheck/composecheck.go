// Package composecheck checks docker-compose.yml against the security-group
// definitions and the shop's topology: the compose networks must mirror the
// groups, every service must be wired as topology wires it, and every
// container must be hardened the same way.
package composecheck

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/roboshop-go/roboshop/deploy/sg"
	"github.com/roboshop-go/roboshop/topology"
)

// Load reads a compose file the way `docker compose` does (variables from the
// environment and .env beside it, defaults otherwise), with env (KEY=value)
// over both.
func Load(ctx context.Context, path string, env ...string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithOsEnv, cli.WithEnvFiles(), cli.WithDotEnv, cli.WithEnv(env), cli.WithName("roboshop"))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(ctx)
}

// Observability is the compose profile of the monitoring plane (Prometheus,
// the collector, Jaeger, Grafana): outside the security groups, and checked by
// its own rules (checkMonitoring).
const Observability = "observability"

// LoadWithObservability is Load with the observability profile enabled.
func LoadWithObservability(ctx context.Context, path string, env ...string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithOsEnv, cli.WithEnvFiles(), cli.WithDotEnv, cli.WithEnv(env),
		cli.WithName("roboshop"), cli.WithProfiles([]string{Observability}))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(ctx)
}

func isMonitoring(s types.ServiceConfig) bool { return slices.Contains(s.Profiles, Observability) }

// Outside are the stand-ins for services the shop calls on the internet, each
// with the one tier that calls it: not tiers, so no security group of their
// own; the caller's group lets it out to 0.0.0.0/0, and in compose the
// stand-in shares a network with that tier alone (checkOutside).
var Outside = map[string]string{"card-gateway": "payment"}

// OutsidePort is where an outside stand-in listens.
const OutsidePort = 8080

// Check returns one message per problem, naming the service or network.
// Compose has no load balancer between the services: its DNS takes the
// internal balancer's place, so the networks mirror set.Direct().
func Check(p *types.Project, set *sg.Set) []string {
	var out []string
	fail := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	set, err := set.Direct()
	if err != nil {
		return []string{err.Error()}
	}

	names := make([]string, 0, len(p.Services))
	for name, s := range p.Services {
		if _, outside := Outside[name]; !isMonitoring(s) && !outside {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out = append(out, checkMonitoring(p, names)...)
	out = append(out, checkOutside(p, set, names)...)

	for _, name := range names {
		if _, ok := set.Groups[name]; !ok {
			fail("service %s: no security group of that name in deploy/security-groups", name)
		}
	}
	// ruleBetween: does any rule let a connect to b or b to a? A compose
	// network carries every protocol and port (it cannot say ICMP or UDP
	// alone), so only a TCP rule, what the services' calls are, justifies one.
	ruleBetween := func(a, b string) bool {
		for _, r := range set.Flat() {
			if r.Protocol == sg.TCP && r.PeerGroup != "" && (r.Group == a && r.PeerGroup == b || r.Group == b && r.PeerGroup == a) {
				return true
			}
		}
		return false
	}
	shared := func(a, b string) []string {
		var nets []string
		for n := range p.Services[a].Networks {
			if _, ok := p.Services[b].Networks[n]; ok {
				nets = append(nets, n)
			}
		}
		sort.Strings(nets)
		return nets
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			if nets := shared(a, b); len(nets) > 0 && !ruleBetween(a, b) {
				fail("services %s and %s share network %s, but no security-group rule lets either reach the other", a, b, strings.Join(nets, ", "))
			}
		}
	}
	for _, r := range set.Flat() {
		_, srcOK := p.Services[r.PeerGroup]
		_, dstOK := p.Services[r.Group]
		if r.PeerGroup != "" && srcOK && dstOK && len(shared(r.Group, r.PeerGroup)) == 0 {
			fail("rule %s (%s %s, port %d) has no network shared by services %s and %s",
				r.Key, r.Direction, r.PeerGroup, r.FromPort, r.Group, r.PeerGroup)
		}
	}

	for _, name := range names {
		s := p.Services[name]
		g := set.Groups[name]
		if g != nil && g.Tier == sg.TierDatastore {
			for n := range s.Networks {
				if !p.Networks[n].Internal {
					fail("datastore %s is on network %s, which is not internal", name, n)
				}
			}
		}
		if len(s.Ports) > 0 && (g == nil || g.Tier != sg.TierWeb) {
			fail("service %s publishes ports; only the frontend may", name)
		}
		if !hasHealthCheck(s) {
			fail("service %s has no health check", name)
		}
		for dep, d := range s.DependsOn {
			if d.Condition != types.ServiceConditionHealthy {
				fail("service %s depends on %s without condition: service_healthy", name, dep)
			}
		}
		out = append(out, checkHardening(name, s)...)
		// A Redis without a memory limit grows until the container is killed,
		// then refills from its AOF; evicting only expiring keys keeps the rest.
		if len(s.Command) > 0 && s.Command[0] == "redis-server" &&
			(!slices.Contains(s.Command, "--maxmemory") || !slices.ContainsFunc(s.Command, func(a string) bool { return strings.HasPrefix(a, "volatile-") })) {
			fail("service %s: redis-server needs --maxmemory and a volatile-* --maxmemory-policy", name)
		}
		// Its password reaches it in a file: on the command line or in the
		// environment, ps and docker inspect would show it.
		if len(s.Command) > 0 && s.Command[0] == "redis-server" {
			fromSecret := len(s.Command) > 1 && slices.ContainsFunc(s.Secrets, func(c types.ServiceSecretConfig) bool {
				at := "/run/secrets/" + c.Source
				return s.Command[1] == at && (c.Target == "" || c.Target == c.Source || c.Target == at)
			})
			_, inEnv := s.Environment["REDISCLI_AUTH"]
			if slices.Contains(s.Command, "--requirepass") || inEnv || !fromSecret {
				fail("service %s: redis-server must read its password from a secret file (its first argument), not from its command line or environment", name)
			}
		}
	}
	out = append(out, checkWiring(p)...)
	return out
}

func hasHealthCheck(s types.ServiceConfig) bool {
	return s.HealthCheck != nil && len(s.HealthCheck.Test) > 0 && !s.HealthCheck.Disable
}

// checkHardening: what every container of the shop, the monitoring plane's
// too, runs with.
func checkHardening(name string, s types.ServiceConfig) []string {
	var out []string
	fail := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if s.Restart != types.RestartPolicyUnlessStopped {
		fail("service %s: restart must be unless-stopped, not %q", name, s.Restart)
	}
	if u := strings.Split(s.User, ":")[0]; u == "" || u == "0" || u == "root" {
		fail("service %s must run as a non-root user (user: %q)", name, s.User)
	}
	if !s.ReadOnly {
		fail("service %s: the root filesystem must be read_only", name)
	}
	if !slices.ContainsFunc(s.CapDrop, func(c string) bool { return strings.EqualFold(c, "ALL") }) {
		fail("service %s must cap_drop ALL", name)
	}
	if !slices.ContainsFunc(s.SecurityOpt, func(o string) bool {
		return strings.HasPrefix(o, "no-new-privileges") && !strings.HasSuffix(o, "false")
	}) {
		fail("service %s needs security_opt no-new-privileges", name)
	}
	if s.MemLimit <= 0 || s.PidsLimit <= 0 {
		fail("service %s needs mem_limit and pids_limit", name)
	}
	return out
}

// checkOutside: an outside stand-in is on networks that hold its caller and
// no other tier, its caller may reach the internet, it publishes nothing, it
// has a health check and is hardened like the shop.
func checkOutside(p *types.Project, set *sg.Set, shop []string) []string {
	var out []string
	fail := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for _, name := range slices.Sorted(maps.Keys(Outside)) {
		s, ok := p.Services[name]
		if !ok {
			continue
		}
		caller := Outside[name]
		for n := range s.Networks {
			for _, tier := range shop {
				if _, on := p.Services[tier].Networks[n]; on && tier != caller {
					fail("outside service %s shares network %s with %s; only %s calls it", name, n, tier, caller)
				}
			}
			if _, on := p.Services[caller].Networks[n]; !on {
				fail("outside service %s: network %s does not hold %s, which calls it", name, n, caller)
			}
		}
		if !slices.ContainsFunc(set.Flat(), func(r sg.FlatRule) bool {
			return r.Group == caller && r.Direction == sg.Egress && r.CIDR == "0.0.0.0/0"
		}) {
			fail("outside service %s: security group %s has no egress to 0.0.0.0/0 to reach it by", name, caller)
		}
		if len(s.Ports) > 0 {
			fail("outside service %s publishes ports", name)
		}
		if !hasHealthCheck(s) {
			fail("service %s has no health check", name)
		}
		out = append(out, checkHardening(name, s)...)
	}
	return out
}

// checkMonitoring: the monitoring plane reaches a tier only through a network
// that holds that one tier (its <tier>-telemetry network), so it adds no path
// between two tiers; its UIs are published on 127.0.0.1 only; its containers
// are hardened like the shop's. Upstream's images carry no probe tool, so no
// health check is required of them.
func checkMonitoring(p *types.Project, shop []string) []string {
	var out []string
	fail := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	tiersOn := func(network string) []string {
		var tiers []string
		for _, name := range shop {
			if _, ok := p.Services[name].Networks[network]; ok {
				tiers = append(tiers, name)
			}
		}
		return tiers
	}
	var monitoring []string
	for name, s := range p.Services {
		if isMonitoring(s) {
			monitoring = append(monitoring, name)
		}
	}
	sort.Strings(monitoring)
	for _, name := range monitoring {
		s := p.Services[name]
		nets := make([]string, 0, len(s.Networks))
		for n := range s.Networks {
			nets = append(nets, n)
		}
		sort.Strings(nets)
		for _, n := range nets {
			tiers := tiersOn(n)
			if len(tiers) > 1 {
				fail("monitoring service %s is on network %s with %s: a network the monitoring plane shares holds one tier", name, n, strings.Join(tiers, ", "))
			}
			if len(tiers) == 1 && !p.Networks[n].Internal {
				fail("network %s joins %s to the monitoring plane and must be internal", n, tiers[0])
			}
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				fail("monitoring service %s publishes %d on every address; publish it on 127.0.0.1 only", name, port.Target)
			}
		}
		out = append(out, checkHardening(name, s)...)
	}
	return out
}

// checkWiring: each service's environment names its datastore and the services
// it calls by the variables topology.Service.Env gives them, at their compose
// host names and ports.
func checkWiring(p *types.Project) []string {
	var out []string
	shop := topology.Roboshop()
	for _, svc := range shop.Services {
		s, ok := p.Services[svc.Name]
		if !ok {
			out = append(out, fmt.Sprintf("service %s is missing", svc.Name))
			continue
		}
		store := shop.Datastore(svc.Store)
		at := fmt.Sprintf("%s:%d", store.Name, store.Port)
		for key, want := range svc.Env(shop, fmt.Sprintf(":%d", topology.ServicePort), at,
			func(name string) string { return fmt.Sprintf("http://%s:%d", name, topology.ServicePort) }) {
			got := s.Environment[key]
			switch {
			case got == nil:
				out = append(out, fmt.Sprintf("service %s: no %s (topology wires it)", svc.Name, key))
			case key == store.Engine.EnvVar():
				if !strings.Contains(*got, at) || !strings.Contains(*got, "/"+store.Database) {
					out = append(out, fmt.Sprintf("service %s: %s must reach database %s at %s", svc.Name, key, store.Database, at))
				}
				// A service is its database's user (readWrite there only), never
				// the server's root, whose users live in admin.
				if store.Engine == topology.MongoDB && !strings.Contains(*got, "authSource="+store.Database) {
					out = append(out, fmt.Sprintf("service %s: %s must sign in as %s's own user (authSource=%s), not root", svc.Name, key, store.Database, store.Database))
				}
			case *got != want:
				out = append(out, fmt.Sprintf("service %s: %s is %q, want %q", svc.Name, key, *got, want))
			}
		}
		// MySQL's schema owner is not the service's user: the migrations
		// connect as the owner, the service as a user of rows only.
		if store.Engine == topology.MySQL {
			migrate, dsn := s.Environment[topology.MigrateDSNVar], s.Environment[store.Engine.EnvVar()]
			userOf := func(dsn string) string { return strings.SplitN(dsn, ":", 2)[0] }
			switch {
			case migrate == nil:
				out = append(out, fmt.Sprintf("service %s: no %s (the schema owner its migrations connect as)", svc.Name, topology.MigrateDSNVar))
			case !strings.Contains(*migrate, at) || !strings.Contains(*migrate, "/"+store.Database):
				out = append(out, fmt.Sprintf("service %s: %s must reach database %s at %s", svc.Name, topology.MigrateDSNVar, store.Database, at))
			case dsn != nil && userOf(*migrate) == userOf(*dsn):
				out = append(out, fmt.Sprintf("service %s: %s must sign in as another user than %s", svc.Name, topology.MigrateDSNVar, store.Engine.EnvVar()))
			}
		}
		// Only nginx may tell the service a client's address: the frontend
		// by its compose name (its address changes when it is recreated),
		// never a range its neighbours on the network are in.
		got := s.Environment[topology.TrustedProxiesVar]
		switch {
		case svc.TrustsProxy && (got == nil || *got != topology.FrontendPart):
			out = append(out, fmt.Sprintf("service %s: %s must be exactly %s, the proxy in front of it", svc.Name, topology.TrustedProxiesVar, topology.FrontendPart))
		case !svc.TrustsProxy && got != nil:
			out = append(out, fmt.Sprintf("service %s: %s set, but it takes no client address", svc.Name, topology.TrustedProxiesVar))
		}
		// A shop-wide secret comes from .env's variable of the same name.
		for _, name := range svc.Secrets {
			// (TestComposeRefusesToStartWithoutItsSecrets: it is .env's.)
			if got := s.Environment[name]; got == nil || *got == "" {
				out = append(out, fmt.Sprintf("service %s: no %s (a shop-wide secret topology gives it)", svc.Name, name))
			}
		}
	}
	return out
}
