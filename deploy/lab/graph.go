package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

// The picture's columns, left to right, in the architecture's order.
const (
	colInternet = iota
	colEntry    // the public load balancer and the bastion
	colWeb      // the frontend
	colInternal // the internal load balancer
	colServices
	colDatastores
)

// column is where inst stands in the picture.
func (l *layout) column(inst string) int {
	g := l.set.Groups[inst]
	switch {
	case g == nil:
		return colInternet
	case g.Name == sg.LoadBalancer || g.Tier == sg.TierAdmin:
		return colEntry
	case g.IsBalancer():
		return colInternal
	case g.Tier == sg.TierWeb:
		return colWeb
	case g.Tier == sg.TierService:
		return colServices
	}
	return colDatastores
}

// graphDOT draws who reaches whom, as Graphviz DOT: one box per instance, in
// columns from the internet to the datastores, and one arrow per pair with
// the ports that connect. A pair that connects both ways is one two-headed
// arrow ("→8080 ←8081,8082": from the left box to the right one, and back).
// Arrows that go back towards the internet (the tiers' downloads through the
// public balancer, the services' calls to the internal one) and SSH from the
// bastion are pale, and one arrow stands for a whole column where every box
// of it has the same one. What the network does differently from the
// definitions is red: "+port" open but not allowed, "-port" allowed but
// blocked (dashed); a legend says so.
func graphDOT(l *layout, probes []*probe) string {
	type edge struct{ ok, extra, missing []string }
	edges := map[[2]string]*edge{}
	for _, p := range probes {
		if !p.seen && !p.expected {
			continue
		}
		key := [2]string{p.src, p.dst}
		if edges[key] == nil {
			edges[key] = &edge{}
		}
		e, port := edges[key], p.label()
		switch {
		case p.seen && p.expected:
			e.ok = append(e.ok, port)
		case p.seen:
			e.extra = append(e.extra, "+"+port)
		default:
			e.missing = append(e.missing, "-"+port)
		}
	}
	label := func(e *edge) string {
		return strings.Join(append(append(append([]string{}, e.ok...), e.extra...), e.missing...), ",")
	}
	red := func(e *edge) bool { return len(e.extra) > 0 || len(e.missing) > 0 }

	var b strings.Builder
	b.WriteString("digraph reachability {\n  rankdir=LR; nodesep=0.35; ranksep=1.1; compound=true; newrank=true;\n")
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"sans-serif\", fontsize=10, color=\"#475569\"];\n")
	fill := map[int]string{colInternet: "#e2e8f0", colEntry: "#dbeafe", colWeb: "#dbeafe", colInternal: "#dcfce7", colServices: "#dcfce7", colDatastores: "#f3e8ff"}
	columns := map[int][]string{}
	for _, inst := range l.instances() {
		c := l.column(inst)
		if l.set.Groups[inst] != nil && l.set.Groups[inst].Tier == sg.TierAdmin {
			fill[-1] = "#fef3c7"
			c = -1 // the bastion: its own colour, in the entry column
		}
		columns[c] = append(columns[c], inst)
	}
	// The services and the datastores are clusters, so that one arrow can
	// stand for all of a column.
	cluster := map[int]string{colServices: "cluster_services", colDatastores: "cluster_datastores"}
	node := func(inst string, c int) {
		addrs := l.addr(inst).String()
		if pub, ok := l.publicAddr(inst); ok {
			addrs += "\\n" + pub.String() + " (public)"
		}
		fmt.Fprintf(&b, "    %q [fillcolor=%q, label=\"%s\\n%s\"];\n", inst, fill[c], inst, addrs)
	}
	for _, c := range []int{colInternet, colEntry, -1, colWeb, colInternal, colServices, colDatastores} {
		names := columns[c]
		if len(names) == 0 {
			continue
		}
		if name, ok := cluster[c]; ok {
			fmt.Fprintf(&b, "  subgraph %s { label=\"\"; style=\"rounded,dashed\"; color=\"#cbd5e1\";\n", name)
		} else {
			b.WriteString("  {\n")
		}
		for _, n := range names {
			node(n, c)
		}
		b.WriteString("  }\n")
	}
	// Ranks: one per column (the bastion with the alb).
	rank := func(names ...[]string) {
		var quoted []string
		for _, ns := range names {
			for _, n := range ns {
				quoted = append(quoted, fmt.Sprintf("%q", n))
			}
		}
		if len(quoted) > 0 {
			fmt.Fprintf(&b, "  { rank=same; %s; }\n", strings.Join(quoted, "; "))
		}
	}
	rank(columns[colInternet])
	rank(columns[colEntry], columns[-1])
	rank(columns[colWeb])
	rank(columns[colInternal])
	rank(columns[colServices])
	rank(columns[colDatastores])

	// Two-way pairs become one arrow from left to right.
	type arrow struct {
		from, to     string
		label        string
		pale, isRed  bool
		dashed       bool
		both         bool
		ltail, lhead string
	}
	var arrows []arrow
	done := map[[2]string]bool{}
	keys := make([][2]string, 0, len(edges))
	for k := range edges {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+" "+keys[i][1] < keys[j][0]+" "+keys[j][1] })
	isBastion := func(inst string) bool { g := l.set.Groups[inst]; return g != nil && g.Tier == sg.TierAdmin }
	for _, k := range keys {
		if done[k] {
			continue
		}
		e := edges[k]
		back, hasBack := edges[[2]string{k[1], k[0]}]
		forward := l.column(k[0]) < l.column(k[1])
		if hasBack && !done[[2]string{k[1], k[0]}] && l.column(k[0]) != l.column(k[1]) {
			from, to, there, again := k[0], k[1], e, back
			if !forward {
				from, to, there, again = k[1], k[0], back, e
			}
			done[k], done[[2]string{k[1], k[0]}] = true, true
			arrows = append(arrows, arrow{from: from, to: to, both: true, label: "→" + label(there) + "  ←" + label(again),
				isRed: red(there) || red(again), dashed: len(there.ok)+len(there.extra)+len(again.ok)+len(again.extra) == 0})
			continue
		}
		done[k] = true
		arrows = append(arrows, arrow{from: k[0], to: k[1], label: label(e), pale: !forward || isBastion(k[0]),
			isRed: red(e), dashed: len(e.ok)+len(e.extra) == 0})
	}
	// One arrow for a whole cluster: every member with the same arrow to (or
	// from) the same instance, none of them red.
	for c, name := range cluster {
		members := columns[c]
		group := func(match func(a arrow, m string) bool, set func(a *arrow)) {
			for _, other := range l.instances() {
				if slices.Contains(members, other) {
					continue
				}
				var idx []int
				var first arrow
				for i, a := range arrows {
					for _, m := range members {
						if match(a, m) && (a.from == other || a.to == other) && !a.isRed && !a.both {
							if len(idx) == 0 {
								first = a
							}
							if a.label == first.label {
								idx = append(idx, i)
							}
						}
					}
				}
				if len(members) < 2 || len(idx) != len(members) {
					continue
				}
				one := first
				set(&one)
				var kept []arrow
				for i, a := range arrows {
					if !slices.Contains(idx, i) {
						kept = append(kept, a)
					}
				}
				arrows = append(kept, one)
			}
		}
		group(func(a arrow, m string) bool { return a.from == m }, func(a *arrow) { a.ltail = name })
		group(func(a arrow, m string) bool { return a.to == m }, func(a *arrow) { a.lhead = name })
	}
	sort.SliceStable(arrows, func(i, j int) bool { return arrows[i].from+" "+arrows[i].to < arrows[j].from+" "+arrows[j].to })
	for _, a := range arrows {
		from, to := a.from, a.to
		attrs := fmt.Sprintf("label=%q", a.label)
		if l.column(from) > l.column(to) {
			// Drawn from right to left without pulling boxes out of their columns.
			attrs += ", constraint=false"
		}
		if a.ltail != "" {
			attrs += ", ltail=" + a.ltail
		}
		if a.lhead != "" {
			attrs += ", lhead=" + a.lhead
		}
		if a.both {
			attrs += ", dir=both"
		}
		switch {
		case a.isRed && a.dashed:
			attrs += `, color="#dc2626", fontcolor="#dc2626", penwidth=2, style=dashed`
		case a.isRed:
			attrs += `, color="#dc2626", fontcolor="#dc2626", penwidth=2`
		case a.pale:
			attrs += `, color="#cbd5e1", fontcolor="#94a3b8"`
		}
		fmt.Fprintf(&b, "  %q -> %q [%s];\n", from, to, attrs)
	}
	// The legend, in the internet's column.
	b.WriteString(`  legend [shape=plaintext, style="", fontsize=10, label=<<table border="1" color="#cbd5e1" cellborder="0" cellspacing="1" cellpadding="2">
    <tr><td align="left"><font color="#475569">━━━▶</font></td><td align="left">ports that connect, as the definitions say</td></tr>
    <tr><td align="left"><font color="#cbd5e1">━━━▶</font></td><td align="left"><font color="#94a3b8">the same, back towards the internet, or SSH and ping from the bastion</font></td></tr>
    <tr><td align="left"><font color="#dc2626">━━━▶</font></td><td align="left"><font color="#dc2626">+port: open, but the definitions do not allow it</font></td></tr>
    <tr><td align="left"><font color="#dc2626">╍╍╍▶</font></td><td align="left"><font color="#dc2626">-port: allowed, but the network blocks it</font></td></tr>
    <tr><td align="left">→a ←b</td><td align="left">a from the left box to the right one, b back</td></tr>
    <tr><td align="left">┆ ┆</td><td align="left">a column: one arrow to or from its border stands for each of its boxes</td></tr>
  </table>>];
  { rank=same; "internet"; legend; }
`)
	b.WriteString("}\n")
	return b.String()
}

// writeGraph renders dot as SVG into path with Graphviz's dot (scripts/deps.sh
// installs it), keeping the DOT source beside it.
func writeGraph(dot, path string) error {
	if err := os.WriteFile(strings.TrimSuffix(path, ".svg")+".dot", []byte(dot), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("dot", "-Tsvg", "-o", path)
	cmd.Stdin = strings.NewReader(dot)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dot -Tsvg (Graphviz): %v\n%s", err, out)
	}
	return nil
}
