package sg

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Ports that must never be open to the whole internet (CIS AWS / Security Hub
// EC2.13, EC2.14, EC2.18, EC2.19; checkov CKV_AWS_24, CKV_AWS_25, CKV_AWS_277).
var sensitivePorts = map[int]string{22: "SSH", 3389: "RDP", 3306: "MySQL", 5432: "PostgreSQL",
	6379: "Redis", 27017: "MongoDB", 9200: "Elasticsearch", 11211: "memcached"}

// publicWebPorts are the only ports the internet may reach, and only on the web tier.
var publicWebPorts = map[int]bool{80: true, 443: true}

// Check applies the project's security policy to the definitions and returns one
// message per violation, each naming the file and rule. An empty result passes.
func (s *Set) Check() []string {
	var out []string
	fail := func(where, format string, args ...any) {
		out = append(out, where+": "+fmt.Sprintf(format, args...))
	}
	for _, name := range s.Names() {
		g := s.Groups[name]
		if len(g.Egress) == 0 {
			fail(g.file, "egress must be declared explicitly (least privilege), not left open or empty")
		}
		for dir, rules := range map[string][]Rule{Ingress: g.Ingress, Egress: g.Egress} {
			for i, r := range rules {
				at := g.where(dir, i, r)
				if strings.TrimSpace(r.Description) == "" {
					fail(at, "every rule needs a description (CKV_AWS_23)")
				}
				world := isWorld(r.CIDR)
				switch {
				case dir == Ingress && world:
					for p := r.Port; p <= r.ToPort && p-r.Port < 65536; p++ {
						if svc, bad := sensitivePorts[p]; bad {
							fail(at, "%s (port %d) must never be open to the internet", svc, p)
							break
						}
					}
					if g.Name != LoadBalancer {
						fail(at, "only the load balancer (%s) may accept traffic from the internet", LoadBalancer)
					} else if r.Port != r.ToPort || !publicWebPorts[r.Port] {
						fail(at, "the internet may reach only ports 80 and 443")
					}
				case dir == Ingress && r.CIDR != "":
					fail(at, "tiers reference groups, not CIDRs")
				case dir == Ingress && r.CIDRVariable != "" && (g.Tier != TierAdmin || r.Port != 22):
					fail(at, "the admin CIDR may reach only SSH on the bastion")
				case dir == Egress && r.CIDR != "" && (!world || r.Port != r.ToPort || !publicWebPorts[r.Port]):
					fail(at, "egress to CIDRs is only for downloads: 0.0.0.0/0 or ::/0 on port 80 or 443; tiers reference groups")
				case dir == Egress && r.CIDRVariable != "":
					fail(at, "egress must not depend on the admin CIDR")
				}
				fromAdmin := r.Group != "" && s.Groups[r.Group] != nil && s.Groups[r.Group].Tier == TierAdmin
				ssh := r.Protocol == TCP && r.Port == 22
				if dir == Ingress && g.Tier == TierDatastore && !ssh && r.Protocol != ICMP && r.Group != g.Owner {
					fail(at, "a datastore accepts only its own service (%s)", g.Owner)
				}
				if dir == Ingress && ssh && r.Group != "" && !fromAdmin {
					fail(at, "SSH is accepted only from the bastion")
				}
				if dir == Ingress && r.Protocol == ICMP && r.Group != "" && !fromAdmin {
					fail(at, "ICMP (ping) is accepted only from the bastion")
				}
			}
		}
	}
	return out
}

func isWorld(cidr string) bool {
	p, err := netip.ParsePrefix(cidr)
	return err == nil && p.Bits() == 0
}

// Allows reports whether the definitions let src open a TCP connection to dst on
// port (Explain says which rules do).
func (s *Set) Allows(src, dst string, port int, adminCIDR netip.Prefix, addrOf func(string) netip.Addr) bool {
	return s.Explain(src, dst, "tcp", port, adminCIDR, addrOf).Allowed
}

// RuleAt is one rule and where it is written.
type RuleAt struct {
	Group, Direction, File string
	Line                   int
	Rule                   Rule
}

func (r RuleAt) String() string {
	return fmt.Sprintf("%s:%d (%s %s: %q)", r.File, r.Line, r.Group, r.Direction, r.Rule.Description)
}

// Verdict is whether a flow is allowed and the rules that decide it: dst's
// ingress rule that admits it and src's egress rule that lets it out (nil
// where none does; always nil for the internet, which is not filtered on the
// way out).
type Verdict struct {
	Allowed         bool
	Ingress, Egress *RuleAt
}

// Explain reports whether the definitions let src send protocol traffic to dst
// on port (for icmp, port is the ICMP type: EchoRequest for ping), and by
// which rules: dst must accept it (ingress) and src must be allowed to send
// it (egress), as with stateful security groups. src
// "internet" is a host outside every group, matched by CIDR rules; adminCIDR
// is what var.admin_cidr stands for, and addrOf gives a group's (or the
// internet's) address for CIDR matching.
func (s *Set) Explain(src, dst, protocol string, port int, adminCIDR netip.Prefix, addrOf func(string) netip.Addr) Verdict {
	matches := func(r Rule, peer string) bool {
		switch {
		case r.Protocol != protocol:
			return false
		case protocol == ICMP && r.Type() != port:
			return false
		case protocol != ICMP && (port < r.Port || port > r.ToPort):
			return false
		}
		switch {
		case r.Group != "":
			return r.Group == peer
		case r.CIDRVariable != "":
			return adminCIDR.Contains(addrOf(peer))
		default:
			p, err := netip.ParsePrefix(r.CIDR)
			a := addrOf(peer)
			return err == nil && p.Addr().Is4() == a.Is4() && p.Contains(a)
		}
	}
	first := func(g *Group, dir, peer string) *RuleAt {
		for _, r := range g.rules(dir) {
			if matches(r, peer) {
				return &RuleAt{Group: g.Name, Direction: dir, File: g.file, Line: r.Line, Rule: r}
			}
		}
		return nil
	}
	var v Verdict
	if d, ok := s.Groups[dst]; ok {
		v.Ingress = first(d, Ingress, src)
	}
	from, filtered := s.Groups[src]
	if filtered {
		v.Egress = first(from, Egress, dst)
	}
	v.Allowed = v.Ingress != nil && (v.Egress != nil || !filtered)
	return v
}

// Ports returns every TCP port that appears in any rule, sorted.
func (s *Set) Ports() []int { return s.PortsOf(TCP) }

// PortsOf returns every port of protocol (tcp or udp) that appears in any
// rule (ranges of up to 16 ports), sorted.
func (s *Set) PortsOf(protocol string) []int {
	seen := map[int]bool{}
	for _, f := range s.Flat() {
		if f.Protocol == protocol && f.Protocol != ICMP && f.ToPort-f.FromPort < 16 {
			for p := f.FromPort; p <= f.ToPort; p++ {
				seen[p] = true
			}
		}
	}
	var out []int
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// HasICMP reports whether any rule is an icmp rule with type typ.
func (s *Set) HasICMP(typ int) bool {
	for _, f := range s.Flat() {
		if f.Protocol == ICMP && f.FromPort == typ {
			return true
		}
	}
	return false
}
