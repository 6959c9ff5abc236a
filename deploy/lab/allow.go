package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

// labGroups is the lab's own copy of the security groups while a change made
// by allow is applied (the groups as the console shows them); it is gone
// whenever the lab runs other groups (firewall).
func labGroups(cfg config) string { return filepath.Join(cfg.StateDir, "groups") }

// allow lets from reach to with protocol on port (for icmp, port is the ICMP
// type) as a change in the AWS console does: the two rules it takes, from's
// egress and to's ingress, go first in their lists in the lab's copy of the
// groups, which is applied at once. The repository's files stay as they are;
// `lab firewall` applies them again, as terraform apply undoes a console
// change.
func allow(cfg config, from, to, protocol string, port int, out io.Writer) error {
	l, err := loadLayout(cfg)
	if err != nil {
		return err
	}
	for _, g := range []string{from, to} {
		if l.set.Groups[g] == nil {
			return fmt.Errorf("no group %q: one of %v (the internet has no group: a CIDR rule is written in the group's file)", g, l.groups)
		}
	}
	if from == to {
		return fmt.Errorf("a group needs no rule for itself")
	}
	what := fmt.Sprintf("    port: %d\n", port)
	switch protocol {
	case sg.TCP:
	case sg.UDP:
		what = "    protocol: udp\n" + what
	case sg.ICMP:
		what = fmt.Sprintf("    protocol: icmp\n    icmp_type: %d\n", port)
	default:
		return fmt.Errorf("protocol %q: tcp, udp or icmp", protocol)
	}
	current := l.dir()
	next := labGroups(cfg) + ".new"
	if err := os.RemoveAll(next); err != nil {
		return err
	}
	if err := os.MkdirAll(next, 0o755); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(current, "*.yaml"))
	if err != nil {
		return err
	}
	description := fmt.Sprintf("%s to %s (lab allow)", from, to)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		text := string(raw)
		switch strings.TrimSuffix(filepath.Base(f), ".yaml") {
		case from:
			text = firstRule(text, sg.Egress, description, what, to)
		case to:
			text = firstRule(text, sg.Ingress, description, what, from)
		}
		if err := os.WriteFile(filepath.Join(next, filepath.Base(f)), []byte(text), 0o644); err != nil {
			return err
		}
	}
	edited := cfg
	edited.Groups = next
	if _, err := loadLayout(edited); err != nil {
		os.RemoveAll(next)
		return fmt.Errorf("the groups with the new rules do not load: %w", err)
	}
	var applied bytes.Buffer
	if err := firewall(edited, &applied); err != nil {
		os.RemoveAll(next)
		out.Write(applied.Bytes()) // the policy's findings
		return err
	}
	if err := os.Rename(next, labGroups(cfg)); err != nil {
		return err
	}
	edited.Groups = labGroups(cfg)
	l, err = loadLayout(edited)
	if err != nil {
		return err
	}
	v := l.explain(from, to, protocol, port)
	for _, r := range []*sg.RuleAt{v.Egress, v.Ingress} {
		if r != nil {
			fmt.Fprintf(out, "added to %s's %s: %s:%d %q\n", r.Group, r.Direction, r.File, r.Line, r.Rule.Description)
		}
	}
	fmt.Fprintf(out, "applied: the lab's groups are now %s (the repository's are unchanged; `scripts/lab.sh firewall` applies them again)\n", labGroups(cfg))
	return nil
}

// firstRule puts a rule with peer group peer first in the direction's list of
// a group file's text.
func firstRule(text, direction, description, what, peer string) string {
	return prependRule(text, direction, fmt.Sprintf("  - description: %q\n%s    group: %s\n", description, what, peer))
}

// prependRule puts rule (its YAML lines) first in the direction's list of a
// group file's text.
func prependRule(text, direction, rule string) string {
	return strings.Replace(text, direction+":\n", direction+":\n"+rule, 1)
}
