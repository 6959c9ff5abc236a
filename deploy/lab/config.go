package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

type config struct {
	Prefix string
	Subnet string
	// Public is the lab's "public" /24 (three octets): the segment the host
	// shares with the internet namespace, where the bastion and the public
	// load balancer have their public addresses.
	Public   string
	Listen   string
	Repo     string
	StateDir string
	// Groups is where the security groups are read from ("" is the
	// repository's deploy/security-groups): a drill's mutated copy.
	Groups string
	// BreakPolicy lets firewall apply groups that fail the security policy
	// (sg.Set.Check): the drills that show what a bad rule does.
	BreakPolicy bool
}

func defaultConfig() config {
	return config{Prefix: "rs", Subnet: "10.77.0", Public: "198.51.100", Listen: "127.0.0.1:8080", Repo: ".", StateDir: "/run/roboshop-lab"}
}

// internet is the namespace standing for everything outside the VPC but the
// operator: it sits on the public segment, with the host (the operator).
const internet = "internet"

// layout is where every instance of the lab lives.
type layout struct {
	cfg       config
	set       *sg.Set
	groups    []string // sorted group names
	groupsDir string
}

func loadLayout(cfg config) (*layout, error) {
	if len(cfg.Prefix) == 0 || len(cfg.Prefix) > 6 {
		return nil, fmt.Errorf("-prefix must be 1 to 6 characters")
	}
	if _, err := netip.ParseAddr(cfg.Subnet + ".1"); err != nil {
		return nil, fmt.Errorf("-subnet %q: want three octets like 10.77.0", cfg.Subnet)
	}
	if _, err := netip.ParseAddr(cfg.Public + ".1"); err != nil || cfg.Public == cfg.Subnet {
		return nil, fmt.Errorf("-public %q: want three octets like 198.51.100, not the private subnet's", cfg.Public)
	}
	dir := cfg.Groups
	if dir == "" {
		// The groups the lab runs: its own copy while a change made by
		// allow is applied, the repository's otherwise.
		dir = repoGroups(cfg)
		if _, err := os.Stat(labGroups(cfg)); cfg.StateDir != "" && err == nil {
			dir = labGroups(cfg)
		}
	}
	set, err := sg.Load(dir)
	if err != nil {
		return nil, err
	}
	return &layout{cfg: cfg, set: set, groups: set.Names(), groupsDir: dir}, nil
}

func repoGroups(cfg config) string { return filepath.Join(cfg.Repo, "deploy", "security-groups") }

// dir is where the layout's groups were read from.
func (l *layout) dir() string { return l.groupsDir }

// ns is the namespace of an instance ("net" is the bridge's).
func (l *layout) ns(name string) string { return l.cfg.Prefix + "-" + name }

// instances are the group namespaces plus the internet.
func (l *layout) instances() []string { return append(append([]string{}, l.groups...), internet) }

// addr is an instance's private address: groups from .10 in name order. The
// internet has none: its address is on the public segment, at .250.
func (l *layout) addr(name string) netip.Addr {
	if name == internet {
		return netip.MustParseAddr(l.cfg.Public + ".250")
	}
	for i, g := range l.groups {
		if g == name {
			return netip.MustParseAddr(fmt.Sprintf("%s.%d", l.cfg.Subnet, 10+i))
		}
	}
	panic("unknown instance " + name)
}

// hasPublic: the instances with a public address, as in deploy/terraform: the
// bastion (an admin-tier group) and the public load balancer, the shop's one
// entry (the frontend instances sit in private subnets behind it).
func (l *layout) hasPublic(name string) bool {
	g := l.set.Groups[name]
	return g != nil && (g.Tier == sg.TierAdmin || g.Name == sg.LoadBalancer)
}

// publicAddr is the address of name on the public segment: for an instance
// with one, the same last octet as its private address.
func (l *layout) publicAddr(name string) (netip.Addr, bool) {
	if !l.hasPublic(name) {
		return netip.Addr{}, false
	}
	last := l.addr(name).As4()[3]
	return netip.MustParseAddr(fmt.Sprintf("%s.%d", l.cfg.Public, last)), true
}

// hostAddr is the host's own address on the public segment: the learner's
// machine, inside the admin range.
func (l *layout) hostAddr() netip.Addr { return netip.MustParseAddr(l.cfg.Public + ".1") }

// adminCIDR is what var.admin_cidr means in the lab: this machine's own
// address, as a course sets it to the operator's address (/32); the rest of
// the internet is outside it.
func (l *layout) adminCIDR() netip.Prefix { return netip.PrefixFrom(l.hostAddr(), 32) }

// addrFrom is the address src reaches dst at: from the internet a public
// address where dst has one; otherwise the private one (which the internet
// has no route to).
func (l *layout) addrFrom(src, dst string) netip.Addr {
	if src == internet {
		if a, ok := l.publicAddr(dst); ok {
			return a
		}
	}
	return l.addr(dst)
}

func (l *layout) hostPort(name string, port int) string {
	return netip.AddrPortFrom(l.addr(name), uint16(port)).String()
}
