package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

// graphDOT draws who reaches whom, as Graphviz DOT: one node per instance,
// in columns by tier, and one edge per (source, destination) with the ports
// that connect. What the network does differently from the definitions is
// red: "+port" open but not allowed, "-port" allowed but blocked (dashed).
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
		e, port := edges[key], fmt.Sprint(p.port)
		switch {
		case p.seen && p.expected:
			e.ok = append(e.ok, port)
		case p.seen:
			e.extra = append(e.extra, "+"+port)
		default:
			e.missing = append(e.missing, "-"+port)
		}
	}
	var b strings.Builder
	b.WriteString("digraph reachability {\n  rankdir=LR; nodesep=0.3; ranksep=1.2;\n")
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"sans-serif\", fontsize=10, color=\"#475569\"];\n")
	fill := map[string]string{"": "#e2e8f0", sg.TierWeb: "#dbeafe", sg.TierAdmin: "#fef3c7", sg.TierService: "#dcfce7", sg.TierDatastore: "#f3e8ff"}
	ranks := map[string][]string{}
	for _, inst := range l.instances() {
		tier := ""
		if g := l.set.Groups[inst]; g != nil {
			tier = g.Tier
		}
		ranks[tier] = append(ranks[tier], inst)
		fmt.Fprintf(&b, "  %q [fillcolor=%q, label=\"%s\\n%s\"];\n", inst, fill[tier], inst, l.addr(inst))
	}
	for _, tier := range []string{"", sg.TierAdmin, sg.TierWeb, sg.TierService, sg.TierDatastore} {
		if names := ranks[tier]; len(names) > 0 {
			quoted := make([]string, len(names))
			for i, n := range names {
				quoted[i] = fmt.Sprintf("%q", n)
			}
			fmt.Fprintf(&b, "  { rank=same; %s; }\n", strings.Join(quoted, "; "))
		}
	}
	keys := make([][2]string, 0, len(edges))
	for k := range edges {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+" "+keys[i][1] < keys[j][0]+" "+keys[j][1] })
	// Columns left to right: internet, bastion, frontend, services, datastores.
	column := func(inst string) int {
		if g := l.set.Groups[inst]; g != nil {
			return map[string]int{sg.TierAdmin: 1, sg.TierWeb: 2, sg.TierService: 3, sg.TierDatastore: 4}[g.Tier]
		}
		return 0
	}
	for _, k := range keys {
		e := edges[k]
		attrs := fmt.Sprintf("label=%q", strings.Join(append(append(e.ok, e.extra...), e.missing...), ","))
		if column(k[0]) > column(k[1]) { // back to the public frontend: drawn, but not placing anything
			attrs += `, constraint=false, color="#cbd5e1", fontcolor="#94a3b8"`
		} else if l.set.Groups[k[0]] != nil && l.set.Groups[k[0]].Tier == sg.TierAdmin {
			attrs += `, color="#cbd5e1", fontcolor="#94a3b8"` // SSH from the bastion
		}
		switch {
		case len(e.extra) > 0 || len(e.missing) > 0 && len(e.ok) > 0:
			attrs += `, color="#dc2626", fontcolor="#dc2626", penwidth=2`
		case len(e.missing) > 0:
			attrs += `, color="#dc2626", fontcolor="#dc2626", penwidth=2, style=dashed`
		}
		fmt.Fprintf(&b, "  %q -> %q [%s];\n", k[0], k[1], attrs)
	}
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
