package main

import (
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

type config struct {
	Prefix   string
	Subnet   string
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
	return config{Prefix: "rs", Subnet: "10.77.0", Listen: "127.0.0.1:8080", Repo: ".", StateDir: "/run/roboshop-lab"}
}

// internet is the namespace standing for everything outside the VPC (and the
// operators' admin network): the host reaches the frontend through it.
const internet = "internet"

// layout is where every instance of the lab lives.
type layout struct {
	cfg    config
	set    *sg.Set
	groups []string // sorted group names
}

func loadLayout(cfg config) (*layout, error) {
	if len(cfg.Prefix) == 0 || len(cfg.Prefix) > 6 {
		return nil, fmt.Errorf("-prefix must be 1 to 6 characters")
	}
	if _, err := netip.ParseAddr(cfg.Subnet + ".1"); err != nil {
		return nil, fmt.Errorf("-subnet %q: want three octets like 10.77.0", cfg.Subnet)
	}
	dir := cfg.Groups
	if dir == "" {
		dir = filepath.Join(cfg.Repo, "deploy", "security-groups")
	}
	set, err := sg.Load(dir)
	if err != nil {
		return nil, err
	}
	return &layout{cfg: cfg, set: set, groups: set.Names()}, nil
}

// ns is the namespace of an instance ("net" is the bridge's).
func (l *layout) ns(name string) string { return l.cfg.Prefix + "-" + name }

// instances are the group namespaces plus the internet.
func (l *layout) instances() []string { return append(append([]string{}, l.groups...), internet) }

// addr is an instance's private address: groups from .10 in name order, the internet at .250.
func (l *layout) addr(name string) netip.Addr {
	if name == internet {
		return netip.MustParseAddr(l.cfg.Subnet + ".250")
	}
	for i, g := range l.groups {
		if g == name {
			return netip.MustParseAddr(fmt.Sprintf("%s.%d", l.cfg.Subnet, 10+i))
		}
	}
	panic("unknown instance " + name)
}

// adminCIDR is what var.admin_cidr means in the lab: the operator sits on the internet.
func (l *layout) adminCIDR() netip.Prefix { return netip.PrefixFrom(l.addr(internet), 32) }

func (l *layout) hostPort(name string, port int) string {
	return netip.AddrPortFrom(l.addr(name), uint16(port)).String()
}
