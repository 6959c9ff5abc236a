// Package sg loads the security-group definitions in deploy/security-groups,
// the single source of truth for who may reach whom, and checks them. The
// Terraform, docker compose and lab renderings are derived from and checked
// against what this package reads.
package sg

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Direction of a rule.
const (
	Ingress = "ingress"
	Egress  = "egress"
)

// Tiers a group can be.
const (
	TierWeb       = "web"
	TierAdmin     = "admin"
	TierService   = "service"
	TierDatastore = "datastore"
)

// LoadBalancer is the group of the public load balancer in front of the
// frontend: the only group the internet may reach (besides the bastion's SSH
// from the admin network). Renderings without a load balancer stand something
// in for it: compose the published port, the lab a relay, a cluster the
// Ingress controller.
const LoadBalancer = "alb"

// AdminCIDRVariable is the one CIDR variable: the operators' network.
const AdminCIDRVariable = "admin_cidr"

// Rule is one allowed flow. For ingress the peer is the source, for egress the
// destination: exactly one of Group, CIDR and CIDRVariable is set.
type Rule struct {
	Group        string `yaml:"group,omitempty" json:"group,omitempty"`
	CIDR         string `yaml:"cidr,omitempty" json:"cidr,omitempty"`
	CIDRVariable string `yaml:"cidr_variable,omitempty" json:"cidr_variable,omitempty"`
	Protocol     string `yaml:"protocol,omitempty" json:"protocol"`
	// Port and ToPort are a tcp or udp rule's range.
	Port   int `yaml:"port,omitempty" json:"from_port"`
	ToPort int `yaml:"to_port,omitempty" json:"to_port"`
	// ICMPType and ICMPCode are an icmp rule's message (8 is an echo request,
	// what ping sends); a missing code is every code (-1, as AWS writes it).
	ICMPType    *int   `yaml:"icmp_type,omitempty" json:"icmp_type,omitempty"`
	ICMPCode    *int   `yaml:"icmp_code,omitempty" json:"icmp_code,omitempty"`
	Description string `yaml:"description" json:"description"`
	// Listener is set only on a balancer's egress: the port of the listener
	// whose requests this rule forwards to its group (see Direct).
	Listener int `yaml:"listener,omitempty" json:"listener"`
	// Line is where the rule starts in its group's file (0 for a rule made,
	// not read): what lab try points a learner at.
	Line int `yaml:"-" json:"-"`
}

// Group is one security group, as in its file.
type Group struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Tier        string `yaml:"tier"`
	// Owner is, for a datastore, the one service allowed to use it.
	Owner   string `yaml:"owner,omitempty"`
	Ingress []Rule `yaml:"ingress"`
	Egress  []Rule `yaml:"egress"`

	file string
}

// Set is every group, by name.
type Set struct {
	Groups map[string]*Group
}

// FlatRule is one rule with its group and direction: the shape Terraform's
// rule resources and the lab's firewall are made from. For icmp, FromPort is
// the ICMP type and ToPort the code (-1: every code), as in AWS's API.
type FlatRule struct {
	Key          string `json:"key"`
	Group        string `json:"group"`
	Direction    string `json:"direction"`
	Protocol     string `json:"protocol"`
	FromPort     int    `json:"from_port"`
	ToPort       int    `json:"to_port"`
	PeerGroup    string `json:"peer_group"`
	CIDR         string `json:"cidr"`
	CIDRVariable string `json:"cidr_variable"`
	Description  string `json:"description"`
	Listener     int    `json:"listener"`
}

// Load reads every *.yaml file in dir and validates the set. Every error names
// the file and the rule.
func Load(dir string) (*Set, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no *.yaml security-group files in %s", dir)
	}
	s := &Set{Groups: map[string]*Group{}}
	for _, p := range paths {
		g, err := loadFile(p)
		if err != nil {
			return nil, err
		}
		if other, dup := s.Groups[g.Name]; dup {
			return nil, fmt.Errorf("%s: group %q is defined in %s too", g.file, g.Name, other.file)
		}
		s.Groups[g.Name] = g
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func loadFile(path string) (*Group, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var g Group
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	g.file = filepath.Base(path)
	if want := strings.TrimSuffix(g.file, ".yaml"); g.Name != want {
		return nil, fmt.Errorf("%s: name %q must match the file name %q", g.file, g.Name, want)
	}
	if err := g.readLines(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", g.file, err)
	}
	for i := range g.Ingress {
		g.Ingress[i].normalize()
	}
	for i := range g.Egress {
		g.Egress[i].normalize()
	}
	return &g, nil
}

// readLines sets each rule's Line from the file's YAML nodes.
func (g *Group) readLines(raw []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if (top[i].Value != Ingress && top[i].Value != Egress) || top[i+1].Kind != yaml.SequenceNode {
			continue
		}
		rules := g.rules(top[i].Value)
		for j, item := range top[i+1].Content {
			if j < len(rules) {
				rules[j].Line = item.Line
			}
		}
	}
	return nil
}

// File is the file the group was read from (its base name).
func (g *Group) File() string { return g.file }

// Protocols a rule can name (AWS's tcp, udp and icmp).
const (
	TCP  = "tcp"
	UDP  = "udp"
	ICMP = "icmp"
)

// EchoRequest is the ICMP type ping sends.
const EchoRequest = 8

func (r *Rule) normalize() {
	if r.Protocol == "" {
		r.Protocol = TCP
	}
	if r.ToPort == 0 {
		r.ToPort = r.Port
	}
	if r.Protocol == ICMP && r.ICMPCode == nil {
		r.ICMPCode = new(-1)
	}
}

// Type is an icmp rule's ICMP type (-1 for another protocol).
func (r Rule) Type() int {
	if r.ICMPType == nil {
		return -1
	}
	return *r.ICMPType
}

// Code is an icmp rule's ICMP code, -1 for every code (and another protocol).
func (r Rule) Code() int {
	if r.ICMPCode == nil {
		return -1
	}
	return *r.ICMPCode
}

// What names what the rule lets through: "port 8080", "udp port 53",
// "icmp type 8".
func (r Rule) What() string {
	switch r.Protocol {
	case ICMP:
		if r.Code() != -1 {
			return fmt.Sprintf("icmp type %d code %d", r.Type(), r.Code())
		}
		return fmt.Sprintf("icmp type %d", r.Type())
	case UDP:
		return "udp port " + r.ports()
	}
	return "port " + r.ports()
}

// where names a rule for error messages: "cart.yaml: egress[2] (port 8080 to user)".
func (g *Group) where(direction string, i int, r Rule) string {
	peer, prep := r.Peer(), "from"
	if direction == Egress {
		prep = "to"
	}
	return fmt.Sprintf("%s: %s[%d] (%s %s %s)", g.file, direction, i, r.What(), prep, peer)
}

// Peer names the rule's peer: a group, a CIDR, or var.<cidr_variable>.
func (r Rule) Peer() string {
	switch {
	case r.Group != "":
		return r.Group
	case r.CIDR != "":
		return r.CIDR
	default:
		return "var." + r.CIDRVariable
	}
}

func (r Rule) ports() string {
	if r.ToPort == r.Port {
		return fmt.Sprint(r.Port)
	}
	return fmt.Sprintf("%d-%d", r.Port, r.ToPort)
}

func (s *Set) validate() error {
	var errs []error
	for _, name := range s.Names() {
		g := s.Groups[name]
		switch g.Tier {
		case TierWeb, TierAdmin, TierService:
			if g.Owner != "" {
				errs = append(errs, fmt.Errorf("%s: owner is only for datastores", g.file))
			}
		case TierDatastore:
			if _, ok := s.Groups[g.Owner]; !ok {
				errs = append(errs, fmt.Errorf("%s: owner %q is not a group", g.file, g.Owner))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: tier %q must be web, admin, service or datastore", g.file, g.Tier))
		}
		if strings.TrimSpace(g.Description) == "" {
			errs = append(errs, fmt.Errorf("%s: the group needs a description", g.file))
		}
		for _, dir := range []string{Ingress, Egress} {
			seen := map[string]int{}
			for i, r := range g.rules(dir) {
				at := g.where(dir, i, r)
				peers := 0
				for _, set := range []bool{r.Group != "", r.CIDR != "", r.CIDRVariable != ""} {
					if set {
						peers++
					}
				}
				if peers != 1 {
					errs = append(errs, fmt.Errorf("%s: exactly one of group, cidr and cidr_variable must be set", at))
				}
				if r.Group != "" {
					if _, ok := s.Groups[r.Group]; !ok {
						errs = append(errs, fmt.Errorf("%s: unknown group %q", at, r.Group))
					} else if r.Group == g.Name {
						errs = append(errs, fmt.Errorf("%s: a group does not need a rule for itself", at))
					}
				}
				if r.CIDR != "" {
					if p, err := netip.ParsePrefix(r.CIDR); err != nil || p.Masked() != p {
						errs = append(errs, fmt.Errorf("%s: malformed CIDR %q", at, r.CIDR))
					}
				}
				if r.CIDRVariable != "" && r.CIDRVariable != AdminCIDRVariable {
					errs = append(errs, fmt.Errorf("%s: unknown cidr_variable %q (only %s)", at, r.CIDRVariable, AdminCIDRVariable))
				}
				switch r.Protocol {
				case TCP, UDP:
					if r.Port < 1 || r.Port > 65535 || r.ToPort < r.Port || r.ToPort > 65535 {
						errs = append(errs, fmt.Errorf("%s: port out of range 1-65535", at))
					}
					if r.ICMPType != nil || r.ICMPCode != nil {
						errs = append(errs, fmt.Errorf("%s: icmp_type and icmp_code are for protocol icmp", at))
					}
				case ICMP:
					if r.Port != 0 || r.ToPort != 0 {
						errs = append(errs, fmt.Errorf("%s: an icmp rule has icmp_type (and icmp_code), not ports", at))
					}
					if r.ICMPType == nil || r.Type() < 0 || r.Type() > 255 || r.Code() < -1 || r.Code() > 255 {
						errs = append(errs, fmt.Errorf("%s: icmp_type 0-255 is required, icmp_code 0-255 or left out for every code", at))
					}
				default:
					errs = append(errs, fmt.Errorf("%s: protocol %q must be tcp, udp or icmp", at, r.Protocol))
				}
				key := r.Protocol + "/" + r.What() + "/" + r.Peer()
				if j, dup := seen[key]; dup {
					errs = append(errs, fmt.Errorf("%s: duplicate of %s[%d]", at, dir, j))
				}
				seen[key] = i
			}
		}
	}
	for _, name := range s.Names() {
		errs = append(errs, s.Groups[name].validateListeners()...)
	}
	return errors.Join(errs...)
}

// IsBalancer reports whether g is a load balancer that forwards by listener
// port: its egress rules name listeners.
func (g *Group) IsBalancer() bool {
	return slices.ContainsFunc(g.Egress, func(r Rule) bool { return r.Listener != 0 })
}

// ListenerOf is where callers find group target: the balancer and listener
// port that forward to it, or ok false when callers reach it directly.
func (s *Set) ListenerOf(target string) (balancer string, port int, ok bool) {
	for _, name := range s.Names() {
		for _, r := range s.Groups[name].Egress {
			if r.Listener != 0 && r.Group == target {
				return name, r.Listener, true
			}
		}
	}
	return "", 0, false
}

// validateListeners: a balancer only forwards, each listener to one group,
// and every port it accepts is a listener; no other group names listeners.
func (g *Group) validateListeners() []error {
	var errs []error
	for i, r := range g.Ingress {
		if r.Listener != 0 {
			errs = append(errs, fmt.Errorf("%s: listener is only for a balancer's egress", g.where(Ingress, i, r)))
		}
	}
	if !g.IsBalancer() {
		return errs
	}
	accepted := map[int]bool{}
	for _, r := range g.Ingress {
		if r.Port != r.ToPort {
			errs = append(errs, fmt.Errorf("%s: a balancer accepts single listener ports, not ranges", g.file))
		}
		accepted[r.Port] = true
	}
	forwarded := map[int]int{}
	for i, r := range g.Egress {
		at := g.where(Egress, i, r)
		switch {
		case r.Listener == 0 || r.Group == "":
			errs = append(errs, fmt.Errorf("%s: a balancer's every egress forwards a listener to a group", at))
		case !accepted[r.Listener]:
			errs = append(errs, fmt.Errorf("%s: listener %d accepts no ingress", at, r.Listener))
		}
		if j, dup := forwarded[r.Listener]; dup && r.Listener != 0 {
			errs = append(errs, fmt.Errorf("%s: listener %d is forwarded by egress[%d] too", at, r.Listener, j))
		}
		forwarded[r.Listener] = i
	}
	for port := range accepted {
		if _, ok := forwarded[port]; !ok {
			errs = append(errs, fmt.Errorf("%s: port %d is accepted but forwarded nowhere (no egress with listener: %d)", g.file, port, port))
		}
	}
	return errs
}

// Direct returns the set as seen where the platform's own service discovery
// takes the balancers' place (compose's DNS, Kubernetes Services): every
// balancer is removed, and each caller its listener admitted reaches the
// listener's group directly on the forwarded port. Rules are kept in order;
// the new ones take the place of the rules they replace, with the caller's
// description. The result is validated like a loaded set.
func (s *Set) Direct() (*Set, error) {
	out := &Set{Groups: map[string]*Group{}}
	type hop struct {
		target string
		port   int
	}
	through := map[string]map[int]hop{} // balancer -> listener -> forward
	for name, g := range s.Groups {
		if !g.IsBalancer() {
			continue
		}
		through[name] = map[int]hop{}
		for _, r := range g.Egress {
			through[name][r.Listener] = hop{r.Group, r.Port}
		}
	}
	for name, g := range s.Groups {
		if through[name] != nil {
			continue
		}
		c := *g
		c.Ingress, c.Egress = nil, nil
		for _, r := range g.Ingress {
			lb, ok := through[r.Group]
			if !ok {
				c.Ingress = append(c.Ingress, r)
				continue
			}
			// Callers arrive through the balancer: admit each of them, in the
			// balancer's order, with the caller's own description of the call.
			for _, in := range s.Groups[r.Group].Ingress {
				if h := lb[in.Port]; h.target == name && h.port >= r.Port && h.port <= r.ToPort {
					c.Ingress = append(c.Ingress, Rule{Group: in.Group, Protocol: r.Protocol, Port: h.port, ToPort: h.port,
						Description: in.Description})
				}
			}
		}
		for _, r := range g.Egress {
			lb, ok := through[r.Group]
			if !ok {
				c.Egress = append(c.Egress, r)
				continue
			}
			h := lb[r.Port]
			c.Egress = append(c.Egress, Rule{Group: h.target, Protocol: r.Protocol, Port: h.port, ToPort: h.port,
				Description: r.Description})
		}
		out.Groups[name] = &c
	}
	if err := out.validate(); err != nil {
		return nil, fmt.Errorf("without the balancers: %w", err)
	}
	return out, nil
}

func (g *Group) rules(direction string) []Rule {
	if direction == Ingress {
		return g.Ingress
	}
	return g.Egress
}

// Names returns the group names in order.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.Groups))
	for n := range s.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Flat returns every rule of every group, keyed and ordered the way the
// Terraform module keys them, so the two views can be compared.
func (s *Set) Flat() []FlatRule {
	var out []FlatRule
	for _, name := range s.Names() {
		g := s.Groups[name]
		for _, dir := range []string{Ingress, Egress} {
			for i, r := range g.rules(dir) {
				from, to := r.Port, r.ToPort
				if r.Protocol == ICMP { // as AWS has it: the type and the code
					from, to = r.Type(), r.Code()
				}
				out = append(out, FlatRule{
					Key:   fmt.Sprintf("%s/%s/%d", name, dir, i),
					Group: name, Direction: dir, Protocol: r.Protocol, FromPort: from, ToPort: to,
					PeerGroup: r.Group, CIDR: r.CIDR, CIDRVariable: r.CIDRVariable, Description: r.Description,
					Listener: r.Listener,
				})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
