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
	src, dst       string
	port           int
	expected, seen bool
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
			p.seen = l.reachable(ctx, p.src, p.dst, p.port)
		}()
	}
	wg.Wait()
	rep := printMatrix(out, l, probes)
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
// definitions) with what the definitions expect of it.
func (l *layout) probes() []*probe {
	addrOf := func(name string) netip.Addr { return l.addr(name) }
	var probes []*probe
	for _, src := range l.instances() {
		for _, dst := range l.groups {
			if src == dst {
				continue
			}
			for _, port := range l.set.Ports() {
				probes = append(probes, &probe{src: src, dst: dst, port: port,
					expected: l.set.Allows(src, dst, port, l.adminCIDR(), addrOf)})
			}
		}
	}
	return probes
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

// reachable: whether the network lets src open a TCP connection to dst on
// port (tryTCP says how that is told).
func (l *layout) reachable(ctx context.Context, src, dst string, port int) bool {
	reached, _ := l.tryTCP(ctx, src, l.hostPort(dst, port))
	return reached
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
			cells[key] = append(cells[key], fmt.Sprint(p.port))
		case p.seen && !p.expected:
			cells[key] = append(cells[key], fmt.Sprintf("+%d!", p.port))
		case !p.seen && p.expected:
			cells[key] = append(cells[key], fmt.Sprintf("-%d!", p.port))
		}
		if p.seen != p.expected {
			rep.Differences = append(rep.Differences, sg.Difference{From: p.src, To: p.dst, Port: p.port, DefinitionsAllow: p.expected, NetworkAllows: p.seen})
		}
	}
	fmt.Fprintf(out, "Reachability (ports that connect; every other port of %v is blocked):\n", l.set.Ports())
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
