package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/roboshop-go/roboshop/deploy/netns"
	"github.com/roboshop-go/roboshop/deploy/sg"
)

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// createNetwork makes the bridge namespace with two bridges, the private one
// (br0) and the public segment (pub0), and one namespace per instance: each
// group's with one veth on the private bridge and its private address, the
// bastion and the public load balancer a second on the public segment with
// their public addresses, and the internet's on the public segment alone. The
// host joins the public segment through one veth (<prefix>-pub, at .1), which
// goes with the bridge namespace; nothing else is added to the host.
func (l *layout) createNetwork() error {
	if err := l.publicIsFree(); err != nil {
		return err
	}
	bridge := l.ns("net")
	steps := [][]string{
		{"ip", "netns", "add", bridge},
		{"ip", "-n", bridge, "link", "set", "lo", "up"},
		{"ip", "-n", bridge, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", bridge, "link", "set", "br0", "up"},
		{"ip", "-n", bridge, "link", "add", "pub0", "type", "bridge"},
		{"ip", "-n", bridge, "link", "set", "pub0", "up"},
	}
	nic := func(ns, dev, peer, bridgeDev string, addr netip.Addr) [][]string {
		return [][]string{
			{"ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", peer, "netns", bridge},
			{"ip", "-n", bridge, "link", "set", peer, "master", bridgeDev, "up"},
			{"ip", "-n", ns, "addr", "add", addr.String() + "/24", "dev", dev},
			{"ip", "-n", ns, "link", "set", dev, "up"},
		}
	}
	for i, inst := range l.instances() {
		steps = append(steps, []string{"ip", "netns", "add", l.ns(inst)}, []string{"ip", "-n", l.ns(inst), "link", "set", "lo", "up"})
		if inst == internet {
			steps = append(steps, nic(l.ns(inst), "eth0", fmt.Sprintf("v%d", i), "pub0", l.addr(inst))...)
			continue
		}
		steps = append(steps, nic(l.ns(inst), "eth0", fmt.Sprintf("v%d", i), "br0", l.addr(inst))...)
		if pub, ok := l.publicAddr(inst); ok {
			steps = append(steps, nic(l.ns(inst), "eth1", fmt.Sprintf("p%d", i), "pub0", pub)...)
		}
	}
	host := l.ns("pub")
	steps = append(steps,
		[]string{"ip", "link", "add", host, "type", "veth", "peer", "name", "host", "netns", bridge},
		[]string{"ip", "-n", bridge, "link", "set", "host", "master", "pub0", "up"},
		[]string{"ip", "addr", "add", l.hostAddr().String() + "/24", "dev", host},
		[]string{"ip", "link", "set", host, "up"},
	)
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// publicIsFree: the host must not have the public segment's range already
// (an interface's network, a route): the host would then send the lab's
// traffic there, or the lab would take the machine's own network.
func (l *layout) publicIsFree() error {
	public := netip.MustParsePrefix(l.cfg.Public + ".0/24")
	out, err := exec.Command("ip", "-4", "-o", "route", "show", "table", "all").Output()
	if err != nil {
		return fmt.Errorf("ip route: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] == "default" || f[0] == "broadcast" || f[0] == "local" {
			continue
		}
		to := f[0]
		if !strings.Contains(to, "/") {
			to += "/32"
		}
		if p, err := netip.ParsePrefix(to); err == nil && p.Overlaps(public) {
			return fmt.Errorf("-public %s: this machine already routes %s (%s): pick another public /24 with -public, e.g. 203.0.113", l.cfg.Public, p, strings.TrimSpace(line))
		}
	}
	return nil
}

// ruleset renders a group's rules as an nftables ruleset: stateful, default
// drop both ways, like an AWS security group.
func (l *layout) ruleset(group string) string {
	g := l.set.Groups[group]
	var b strings.Builder
	// Made, dropped and made again in one transaction: applying it again
	// (lab firewall) replaces the rules rather than adding to them.
	fmt.Fprintf(&b, "table inet roboshop\ndelete table inet roboshop\ntable inet roboshop {\n")
	for _, dir := range []string{sg.Ingress, sg.Egress} {
		chain, hook, match, iface := "ingress", "input", "saddr", "iif"
		rules := g.Ingress
		if dir == sg.Egress {
			chain, hook, match, iface, rules = "egress", "output", "daddr", "oif", g.Egress
		}
		fmt.Fprintf(&b, "  chain %s {\n    type filter hook %s priority 0; policy drop;\n", chain, hook)
		fmt.Fprintf(&b, "    ct state established,related accept\n    ct state invalid drop\n    %s lo accept\n", iface)
		for _, r := range rules {
			peer := ""
			switch {
			case r.Group != "":
				peer = "ip " + match + " " + l.addr(r.Group).String()
			case r.CIDRVariable != "":
				peer = "ip " + match + " " + l.adminCIDR().String()
			case strings.Contains(r.CIDR, ":"):
				peer = "ip6 " + match + " " + r.CIDR
			default:
				peer = "ip " + match + " " + r.CIDR
			}
			match := ""
			switch r.Protocol {
			case sg.ICMP:
				match = fmt.Sprintf("icmp type %d", r.Type())
				if r.Code() != -1 {
					match += fmt.Sprintf(" icmp code %d", r.Code())
				}
			default:
				match = fmt.Sprintf("%s dport %d", r.Protocol, r.Port)
				if r.ToPort != r.Port {
					match = fmt.Sprintf("%s dport %d-%d", r.Protocol, r.Port, r.ToPort)
				}
			}
			fmt.Fprintf(&b, "    %s %s accept comment %q\n", peer, match, truncate(r.Description, 120))
		}
		fmt.Fprintf(&b, "  }\n")
	}
	fmt.Fprintf(&b, "}\n")
	return b.String()
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, `"`, "'")
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (l *layout) applyFirewall(stateDir string) error {
	for _, g := range l.groups {
		path := stateDir + "/nft/" + g + ".nft"
		if err := os.WriteFile(path, []byte(l.ruleset(g)), 0o644); err != nil {
			return err
		}
		if err := run("ip", "netns", "exec", l.ns(g), "nft", "-f", path); err != nil {
			return err
		}
	}
	return nil
}

// namespaces lists the lab's namespaces that exist now.
func (l *layout) namespaces() []string {
	out, _ := exec.Command("ip", "netns", "list").Output()
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		name := strings.Fields(line + " ")
		if len(name) > 0 && strings.HasPrefix(name[0], l.cfg.Prefix+"-") {
			found = append(found, name[0])
		}
	}
	sort.Strings(found)
	return found
}

// dialFrom opens a TCP connection from inside instance's namespace.
func (l *layout) dialFrom(ctx context.Context, instance, addr string, timeout time.Duration) (net.Conn, error) {
	return inNamespace(l.ns(instance), func() (net.Conn, error) {
		d := net.Dialer{Timeout: timeout}
		return d.DialContext(ctx, "tcp", addr)
	})
}

// httpClientIn is an HTTP client whose connections are opened from inside
// instance's namespace, one per request.
func (l *layout) httpClientIn(instance string, timeout, dialTimeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return l.dialFrom(ctx, instance, addr, dialTimeout)
		}}}
}

// listenIn listens on addr inside instance's namespace; the socket stays
// there whichever thread accepts on it.
func (l *layout) listenIn(instance, addr string) (net.Listener, error) {
	return inNamespace(l.ns(instance), func() (net.Listener, error) { return net.Listen("tcp", addr) })
}

// inNamespace runs open inside network namespace ns (netns.Do).
func inNamespace[T any](ns string, open func() (T, error)) (T, error) {
	return netns.Do("/var/run/netns/"+ns, open)
}

// firewall applies the groups in cfg.Groups (the repository's when empty) to a
// running lab's namespaces again: how a drill breaks a rule and restores it.
// The groups must be the lab's, by name: each keeps its address.
func firewall(cfg config, out io.Writer) error {
	if cfg.Groups == "" {
		cfg.Groups = repoGroups(cfg)
	}
	l, err := loadLayout(cfg)
	if err != nil {
		return err
	}
	asInRepo := cfg
	asInRepo.Groups = repoGroups(cfg)
	repo, err := loadLayout(asInRepo)
	if err != nil {
		return err
	}
	if !slices.Equal(l.groups, repo.groups) {
		return fmt.Errorf("the groups in %s are %v; the lab's are %v", cfg.Groups, l.groups, repo.groups)
	}
	if len(l.namespaces()) == 0 {
		return fmt.Errorf("no lab with prefix %q is up", cfg.Prefix)
	}
	// The same policy the tests apply to the repository's groups: a rule
	// that breaks it would otherwise be applied, and then checked against
	// itself, without a word.
	if problems := l.set.Check(); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(out, "POLICY:", p)
		}
		if !cfg.BreakPolicy {
			return fmt.Errorf("not applied: the groups break the security policy (%s, deploy/sg/policy.go); fix them, or apply them anyway with -break-policy", plural(len(problems), "violation"))
		}
		fmt.Fprintf(out, "applying them anyway (-break-policy): %s of the security policy\n", plural(len(problems), "violation"))
	}
	if err := l.applyFirewall(cfg.StateDir); err != nil {
		return err
	}
	// AWS lets a connection that a removed rule no longer allows go on until
	// it ends; a service's idle keep-alive connection could then hide the
	// change for minutes. The lab forgets what it tracks, so every connection
	// from now on meets the new rules.
	for _, g := range l.groups {
		if err := run("ip", "netns", "exec", l.ns(g), "conntrack", "--flush"); err != nil {
			return err
		}
	}
	// The lab now runs these groups: a copy made by allow is no longer what it runs.
	if err := os.RemoveAll(labGroups(cfg)); err != nil {
		return err
	}
	from := cfg.Groups
	if from == repoGroups(cfg) {
		from = "the repository's deploy/security-groups"
	}
	fmt.Fprintf(out, "applied %d security groups from %s\n", len(l.groups), from)
	return nil
}
