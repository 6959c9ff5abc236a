package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

// probeTimeout is how long a connection attempt may take before it counts as
// blocked (a security group drops silently).
const probeTimeout = time.Second

type probe struct {
	src, dst string
	// protocol is tcp, udp or icmp; for icmp, port is the ICMP type (an echo
	// request: ping).
	protocol       string
	port           int
	expected, seen bool
	answer         string // what came back, in a few words
}

// label is how the matrix and the picture write the probe: "8080",
// "53/udp", "ping".
func (p *probe) label() string {
	switch p.protocol {
	case sg.UDP:
		return fmt.Sprintf("%d/udp", p.port)
	case sg.ICMP:
		return "ping"
	}
	return fmt.Sprint(p.port)
}

// check tries every (source instance, destination group, port in the
// definitions) and compares what connects with what the YAML allows. It prints
// the matrix, draws it as SVG into graph (cfg.StateDir/reachability.svg when
// empty) and returns the result as data.
func check(ctx context.Context, cfg config, graph string, out io.Writer) (sg.CheckReport, error) {
	l, err := loadLayout(cfg)
	if err != nil {
		return sg.CheckReport{}, err
	}
	if len(l.namespaces()) == 0 {
		return sg.CheckReport{}, fmt.Errorf("no lab with prefix %q is up", cfg.Prefix)
	}
	probes := l.probes()
	// Most probes wait out probeTimeout (a blocked port answers nothing): 256
	// at a time keep a check of the whole matrix near 6 s.
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p.seen, p.answer = l.reach(ctx, p.src, p.dst, p.protocol, p.port)
		}()
	}
	wg.Wait()
	if l.dir() == labGroups(cfg) {
		fmt.Fprintf(out, "The lab runs its own groups (lab allow): %s; `scripts/lab.sh firewall` applies the repository's again.\n", l.dir())
	}
	rep := printMatrix(out, l, probes)
	// A connection that is let through but refused (nothing listens) counts
	// as reached; the SSH rules are only proven by a server that answers.
	ssh, sshd := 0, 0
	for _, p := range probes {
		if p.protocol == sg.TCP && p.port == 22 && p.seen {
			ssh++
			if p.answer == answerConnected {
				sshd++
			}
		}
	}
	fmt.Fprintf(out, "SSH: %d of %d connections the network let through to port 22 met a listening sshd\n", sshd, ssh)
	if len(rep.Differences) > 0 {
		fmt.Fprintln(out, "The network is not what the definitions say. After editing a group, apply it with `sudo scripts/lab.sh firewall`, then check again.")
	}
	// A rule can be applied as written and still be wrong: the definitions
	// themselves go through the policy the tests apply.
	rep.Policy = l.set.Check()
	for _, p := range rep.Policy {
		fmt.Fprintln(out, "POLICY:", p)
	}
	if graph == "" {
		graph = filepath.Join(cfg.StateDir, "reachability.svg")
	}
	if err := writeGraph(graphDOT(l, probes), graph); err != nil {
		return rep, err
	}
	fmt.Fprintf(out, "picture: %s\n", graph)
	return rep, ctx.Err()
}

// probes are every (source instance, destination group, port of the
// definitions, each protocol) with what the definitions expect of it: the TCP
// and UDP ports of the rules, and a ping where any rule allows one.
func (l *layout) probes() []*probe {
	type flow struct {
		protocol string
		port     int
	}
	var flows []flow
	for _, protocol := range []string{sg.TCP, sg.UDP} {
		for _, port := range l.set.PortsOf(protocol) {
			flows = append(flows, flow{protocol, port})
		}
	}
	if l.set.HasICMP(sg.EchoRequest) {
		flows = append(flows, flow{sg.ICMP, sg.EchoRequest})
	}
	var probes []*probe
	for _, src := range l.instances() {
		for _, dst := range l.groups {
			if src == dst {
				continue
			}
			for _, f := range flows {
				probes = append(probes, &probe{src: src, dst: dst, protocol: f.protocol, port: f.port,
					expected: l.routed(src, dst) && l.explain(src, dst, f.protocol, f.port).Allowed})
			}
		}
	}
	return probes
}

// routed: whether src has a way to dst at all; the internet has none to a
// private address, whatever the groups say, as on AWS.
func (l *layout) routed(src, dst string) bool {
	_, public := l.publicAddr(dst)
	return src != internet || public
}

// explain is the groups' verdict on src sending protocol to dst on port, with
// the lab's addresses.
func (l *layout) explain(src, dst, protocol string, port int) sg.Verdict {
	addrOf := func(name string) netip.Addr { return l.addr(name) }
	return l.set.Explain(src, dst, protocol, port, l.adminCIDR(), addrOf)
}

// picture draws what the definitions allow, as a lab with no difference
// would show it, into path (SVG, with its DOT source beside it): the
// committed deploy/security-groups.svg, with the addresses the lab gives.
func picture(cfg config, path string) error {
	l, err := loadLayout(cfg)
	if err != nil {
		return err
	}
	probes := l.probes()
	for _, p := range probes {
		p.seen = p.expected
	}
	return writeGraph(graphDOT(l, probes), path)
}

// reach does what telnet (tcp), a datagram (udp) or ping (icmp, port the
// ICMP type) from src to dst would, at the address src reaches dst at, and
// says whether it got through and what came back.
func (l *layout) reach(ctx context.Context, src, dst, protocol string, port int) (bool, string) {
	to := l.addrFrom(src, dst)
	addr := netip.AddrPortFrom(to, uint16(port)).String()
	switch protocol {
	case sg.UDP:
		return l.tryUDP(src, addr)
	case sg.ICMP:
		return l.tryPing(ctx, src, to)
	}
	return l.tryTCP(ctx, src, addr)
}

// printMatrix prints, for each source and destination, the ports that connect;
// a port marked "!" differs from the definitions (+ open but not allowed,
// - allowed but blocked). It returns the report.
func printMatrix(out io.Writer, l *layout, probes []*probe) sg.CheckReport {
	cells := map[[2]string][]string{}
	rep := sg.CheckReport{Probes: len(probes), Allowed: countSeen(probes), Differences: []sg.Difference{}}
	for _, p := range probes {
		key := [2]string{p.src, p.dst}
		switch {
		case p.seen && p.expected:
			cells[key] = append(cells[key], p.label())
		case p.seen && !p.expected:
			cells[key] = append(cells[key], "+"+p.label()+"!")
		case !p.seen && p.expected:
			cells[key] = append(cells[key], "-"+p.label()+"!")
		}
		if p.seen != p.expected {
			protocol := p.protocol
			if protocol == sg.TCP {
				protocol = ""
			}
			rep.Differences = append(rep.Differences, sg.Difference{From: p.src, To: p.dst, Protocol: protocol, Port: p.port, DefinitionsAllow: p.expected, NetworkAllows: p.seen})
		}
	}
	fmt.Fprintf(out, "Reachability (ports that connect, and ping; every other port of %v is blocked):\n", l.set.Ports())
	fmt.Fprintf(out, "%-18s %s\n", "from", "to: ports that connect")
	for _, src := range l.instances() {
		var row []string
		for _, dst := range l.groups {
			if c := cells[[2]string{src, dst}]; len(c) > 0 {
				row = append(row, dst+" "+strings.Join(c, ","))
			}
		}
		if len(row) == 0 {
			row = []string{"(nothing)"}
		}
		fmt.Fprintf(out, "%-18s %s\n", src, strings.Join(row, "  "))
	}
	sort.Slice(rep.Differences, func(i, j int) bool { return rep.Differences[i].String() < rep.Differences[j].String() })
	fmt.Fprintf(out, "%d probes, %d allowed, %s\n", rep.Probes, rep.Allowed, plural(len(rep.Differences), "difference"))
	for _, d := range rep.Differences {
		fmt.Fprintln(out, "DIFFERENCE:", d)
	}
	return rep
}

// plural is "1 difference", "2 differences".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func countSeen(probes []*probe) int {
	n := 0
	for _, p := range probes {
		if p.seen {
			n++
		}
	}
	return n
}
