package kube

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/deploy/sg"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// loadGroups is the groups as the policies see them: Services take the
// internal balancer's place (sg.Set.Direct).
func loadGroups(t *testing.T) *sg.Set {
	t.Helper()
	set, err := sg.Load("../security-groups")
	if err != nil {
		t.Fatal(err)
	}
	if set, err = set.Direct(); err != nil {
		t.Fatal(err)
	}
	return set
}

// The committed template is what the groups render to today.
// ROBOSHOP_WRITE_POLICIES=1 rewrites it.
func TestCommittedPoliciesMatchTheSecurityGroups(t *testing.T) {
	set, err := sg.Load("../security-groups")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Render(set)
	if err != nil {
		t.Fatal(err)
	}
	path := "../" + PoliciesFile
	if os.Getenv("ROBOSHOP_WRITE_POLICIES") == "1" {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what deploy/security-groups renders to: run\n  cd deploy && ROBOSHOP_WRITE_POLICIES=1 go test ./kube", PoliciesFile)
	}
}

// A rule is left out only when a pod has no use for it: the bastion's, SSH,
// and first-boot downloads; every other rule is in a policy.
func TestOnlyRulesWithNoPodEquivalentAreLeftOut(t *testing.T) {
	set := loadGroups(t)
	policies, dropped := NetworkPolicies(set)
	for _, d := range dropped {
		g := set.Groups[d.Group]
		var fits bool
		switch d.Why {
		case WhyLB:
			fits = d.Group == sg.LoadBalancer
		case WhyAdmin:
			fits = g.Tier == sg.TierAdmin || (d.Rule.Group != "" && set.Groups[d.Rule.Group].Tier == sg.TierAdmin)
		case WhySSH:
			fits = d.Rule.Port == 22 && d.Rule.ToPort == 22
		case WhyDownload:
			fits = d.Direction == sg.Egress && d.Rule.CIDR != "" && (d.Rule.Port == 80 || d.Rule.Port == 443)
		case WhyICMP:
			fits = d.Rule.Protocol == sg.ICMP
		}
		if !fits {
			t.Errorf("%s %s rule %+v left out as %q, which it is not", d.Group, d.Direction, d.Rule, d.Why)
		}
	}
	kept := 0
	for _, p := range policies {
		for _, r := range p.Spec.Ingress {
			kept += max(len(r.From), 1)
		}
		kept += len(p.Spec.Egress)
	}
	kept-- // the default policy's DNS rule
	all, world := 0, 0
	for _, f := range set.Flat() {
		all++
		if f.Direction == sg.Ingress && f.CIDR != "" && f.Group != "bastion" && f.Group != sg.LoadBalancer {
			world++
		}
	}
	// 0.0.0.0/0 and ::/0 become one "any source" rule per port.
	if kept+len(dropped)+world/2 != all {
		t.Errorf("%d rules kept + %d left out + %d merged = %d, but the groups have %d", kept, len(dropped), world/2, kept+len(dropped)+world/2, all)
	}
}

// TestICMPIsLeftOutByNameAndUDPKept: a NetworkPolicy has no ICMP, so an
// icmp rule between two groups with pods is left out with WhyICMP (never
// rendered as a port), while a udp rule becomes a UDP port.
func TestICMPIsLeftOutByNameAndUDPKept(t *testing.T) {
	set := loadGroups(t)
	set.Groups["cart"].Egress = append(set.Groups["cart"].Egress,
		sg.Rule{Group: "catalogue", Protocol: sg.ICMP, ICMPType: new(sg.EchoRequest), ICMPCode: new(-1), Description: "ping"},
		sg.Rule{Group: "catalogue", Protocol: sg.UDP, Port: 5353, ToPort: 5353, Description: "a datagram"})
	set.Groups["catalogue"].Ingress = append(set.Groups["catalogue"].Ingress,
		sg.Rule{Group: "cart", Protocol: sg.ICMP, ICMPType: new(sg.EchoRequest), ICMPCode: new(-1), Description: "ping"},
		sg.Rule{Group: "cart", Protocol: sg.UDP, Port: 5353, ToPort: 5353, Description: "a datagram"})
	policies, dropped := NetworkPolicies(set)
	icmp := map[string]string{}
	for _, d := range dropped {
		if d.Rule.Protocol == sg.ICMP && d.Rule.Group != "bastion" && d.Group != "bastion" {
			icmp[d.Group+" "+d.Direction] = d.Why
		}
	}
	want := map[string]string{"cart egress": WhyICMP, "catalogue ingress": WhyICMP}
	if !reflect.DeepEqual(icmp, want) {
		t.Fatalf("icmp rules left out: %v, want %v", icmp, want)
	}
	udp := 0
	for _, p := range policies {
		for _, r := range p.Spec.Egress {
			for _, port := range r.Ports {
				if *port.Protocol == corev1.ProtocolUDP && port.Port.IntValue() == 5353 && p.Name == "cart" {
					udp++
				}
			}
		}
		for _, r := range p.Spec.Ingress {
			for _, port := range r.Ports {
				if *port.Protocol == corev1.ProtocolUDP && port.Port.IntValue() == 5353 && p.Name == "catalogue" {
					udp++
				}
			}
		}
	}
	if udp != 2 {
		t.Fatalf("the udp rule is in %d policy directions, want 2 (cart's egress, catalogue's ingress)", udp)
	}
}

// endpoint is one party in the reachability model: a pod (namespace set) or
// an address outside the cluster.
type endpoint struct {
	name      string
	namespace string
	nsLabels  map[string]string
	labels    map[string]string
	ip        netip.Addr
	group     string // its security group, for the release's pods
	ports     map[string]int32
}

func (e endpoint) isPod() bool { return e.namespace != "" }

// allows evaluates policies (all in namespace ns) the way the NetworkPolicy
// API defines them: a connection needs the source's egress and the
// destination's ingress, and a pod no policy selects for a direction is open
// in that direction.
func allows(policies []networkingv1.NetworkPolicy, ns string, src, dst endpoint, port int32, proto corev1.Protocol) bool {
	return permits(policies, ns, networkingv1.PolicyTypeEgress, src, dst, dst, port, proto) &&
		permits(policies, ns, networkingv1.PolicyTypeIngress, dst, src, dst, port, proto)
}

// permits reports whether self may exchange with peer in direction dir; dst
// is the side that listens (named ports are its).
func permits(policies []networkingv1.NetworkPolicy, ns string, dir networkingv1.PolicyType, self, peer, dst endpoint, port int32, proto corev1.Protocol) bool {
	if !self.isPod() || self.namespace != ns {
		return true
	}
	isolated := false
	for _, p := range policies {
		if !slices.Contains(p.Spec.PolicyTypes, dir) || !matches(&p.Spec.PodSelector, self.labels) {
			continue
		}
		isolated = true
		if dir == networkingv1.PolicyTypeIngress {
			for _, r := range p.Spec.Ingress {
				if portsMatch(r.Ports, dst, port, proto) && peersMatch(r.From, ns, peer) {
					return true
				}
			}
		} else {
			for _, r := range p.Spec.Egress {
				if portsMatch(r.Ports, dst, port, proto) && peersMatch(r.To, ns, peer) {
					return true
				}
			}
		}
	}
	return !isolated
}

func peersMatch(peers []networkingv1.NetworkPolicyPeer, ns string, e endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			block := netip.MustParsePrefix(p.IPBlock.CIDR)
			in := block.Contains(e.ip)
			for _, except := range p.IPBlock.Except {
				in = in && !netip.MustParsePrefix(except).Contains(e.ip)
			}
			if in {
				return true
			}
		case p.NamespaceSelector != nil:
			if e.isPod() && matches(p.NamespaceSelector, e.nsLabels) && (p.PodSelector == nil || matches(p.PodSelector, e.labels)) {
				return true
			}
		case p.PodSelector != nil:
			if e.isPod() && e.namespace == ns && matches(p.PodSelector, e.labels) {
				return true
			}
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, dst endpoint, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		want := corev1.ProtocolTCP
		if p.Protocol != nil {
			want = *p.Protocol
		}
		if want != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		first := p.Port.IntVal
		if p.Port.StrVal != "" {
			named, ok := dst.ports[p.Port.StrVal]
			if !ok {
				continue
			}
			first = named
		}
		if port == first || (p.EndPort != nil && port >= first && port <= *p.EndPort) {
			return true
		}
	}
	return false
}

func matches(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		panic(err)
	}
	return s.Matches(labels.Set(l))
}

const internet = "internet"

// world is every party of the model: the release's pods as the chart renders
// them, and what surrounds them: the cluster's DNS and another kube-system
// pod, an Ingress controller, a stray pod in the release's namespace, and an
// address on the internet.
func world(t *testing.T, objs []object) (ours, others []endpoint) {
	t.Helper()
	ns := map[string]string{"kubernetes.io/metadata.name": release}
	for i, o := range objs {
		tmpl, ok := podTemplate(o.obj)
		if !ok || o.kind == "Job" {
			continue
		}
		ports := map[string]int32{}
		for _, c := range tmpl.Spec.Containers {
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
		}
		group := tmpl.Labels[ComponentLabel]
		ours = append(ours, endpoint{name: group, namespace: release, nsLabels: ns, labels: tmpl.Labels,
			ip: netip.AddrFrom4([4]byte{10, 244, 0, byte(i + 1)}), group: group, ports: ports})
	}
	kubeSystem := map[string]string{"kubernetes.io/metadata.name": "kube-system"}
	others = []endpoint{
		{name: "kube-system/kube-dns", namespace: "kube-system", nsLabels: kubeSystem, labels: map[string]string{"k8s-app": "kube-dns"},
			ip: netip.MustParseAddr("10.244.1.2"), ports: map[string]int32{"dns": 53}},
		{name: "kube-system/metrics-server", namespace: "kube-system", nsLabels: kubeSystem, labels: map[string]string{"k8s-app": "metrics-server"},
			ip: netip.MustParseAddr("10.244.1.3")},
		{name: "ingress-nginx/controller", namespace: "ingress-nginx", nsLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"},
			labels: map[string]string{NameLabel: "ingress-nginx"}, ip: netip.MustParseAddr("10.244.2.2")},
		{name: release + "/debug", namespace: release, nsLabels: ns, labels: map[string]string{"run": "debug"}, ip: netip.MustParseAddr("10.244.3.2")},
		{name: internet, ip: netip.MustParseAddr("203.0.113.10")},
	}
	return ours, others
}

// mismatches lists every connection where the policies and the groups
// disagree: between the release's pods on every port of the groups (as the
// pod listens on it), from outside the release to its pods (the groups'
// "internet"), and from its pods out (DNS only).
func mismatches(t *testing.T, set *sg.Set, policies []networkingv1.NetworkPolicy, ours, others []endpoint) []string {
	t.Helper()
	_, dropped := NetworkPolicies(set)
	groups := withoutDropped(set, dropped)
	addrOf := func(name string) netip.Addr {
		for _, e := range ours {
			if e.group == name {
				return e.ip
			}
		}
		return netip.MustParseAddr("203.0.113.10")
	}
	var out []string
	check := func(src, dst endpoint, port int32, proto corev1.Protocol, want bool) {
		if got := allows(policies, release, src, dst, port, proto); got != want {
			verdict := map[bool]string{true: "allow", false: "deny"}
			out = append(out, fmt.Sprintf("%s → %s:%d/%s: policies %s, groups %s", src.name, dst.name, port, proto, verdict[got], verdict[want]))
		}
	}
	for _, dst := range ours {
		for _, sgPort := range set.Ports() {
			port, ok := PodPort(dst.group, sgPort)
			if !ok {
				continue
			}
			for _, src := range ours {
				if src.group != dst.group {
					check(src, dst, int32(port), corev1.ProtocolTCP, groupsAllow(set, groups, src.group, dst.group, sgPort, addrOf))
				}
			}
			for _, src := range others {
				check(src, dst, int32(port), corev1.ProtocolTCP, groupsAllow(set, groups, internet, dst.group, sgPort, addrOf))
			}
		}
	}
	for _, src := range ours {
		for _, dst := range others {
			for _, port := range append(set.Ports(), 53) {
				dns := dst.name == "kube-system/kube-dns" && port == 53
				check(src, dst, int32(port), corev1.ProtocolTCP, dns)
				if port == 53 {
					check(src, dst, int32(port), corev1.ProtocolUDP, dns)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// groupsAllow is the groups' verdict on src reaching dst's pods on sgPort, as
// the policies must render it: groups is set without the rules that have no
// pod equivalent (withoutDropped). Outside the release (src internet) stands
// for the internet and for the load balancer, whose place the Ingress
// controller takes (its own rules, left out of the policies, still say what
// it may reach).
func groupsAllow(set, groups *sg.Set, src, dst string, sgPort int, addrOf func(string) netip.Addr) bool {
	admin := netip.MustParsePrefix("198.51.100.0/24")
	if src == internet {
		return groups.Allows(internet, dst, sgPort, admin, addrOf) || set.Allows(sg.LoadBalancer, dst, sgPort, admin, addrOf)
	}
	return groups.Allows(src, dst, sgPort, admin, addrOf)
}

// withoutDropped is set without the rules that have no pod equivalent: what
// the policies must equal.
func withoutDropped(set *sg.Set, dropped []Dropped) *sg.Set {
	out := &sg.Set{Groups: map[string]*sg.Group{}}
	for name, g := range set.Groups {
		c := *g
		keep := func(dir string) func(sg.Rule) bool {
			return func(r sg.Rule) bool {
				return slices.ContainsFunc(dropped, func(d Dropped) bool { return d.Group == name && d.Direction == dir && d.Rule == r })
			}
		}
		c.Ingress = slices.DeleteFunc(slices.Clone(g.Ingress), keep(sg.Ingress))
		c.Egress = slices.DeleteFunc(slices.Clone(g.Egress), keep(sg.Egress))
		out.Groups[name] = &c
	}
	return out
}

// instantiate fills in the release name, as Helm does, in policies rendered
// straight from Go.
func instantiate(policies []networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy {
	fill := func(s *metav1.LabelSelector) {
		if s != nil && s.MatchLabels[InstanceLabel] == releaseName {
			s.MatchLabels[InstanceLabel] = release
		}
	}
	for i := range policies {
		p := &policies[i]
		fill(&p.Spec.PodSelector)
		for _, r := range p.Spec.Ingress {
			for _, peer := range r.From {
				fill(peer.PodSelector)
			}
		}
		for _, r := range p.Spec.Egress {
			for _, peer := range r.To {
				fill(peer.PodSelector)
			}
		}
	}
	return policies
}

// The policies the chart renders allow exactly what the security groups
// allow, pair by pair and port by port; and each planted error shows up as
// exactly the connections it breaks.
func TestPoliciesAllowExactlyWhatTheGroupsAllow(t *testing.T) {
	set := loadGroups(t)
	objs := decodeAll(t, render(t))
	var rendered []networkingv1.NetworkPolicy
	for _, o := range objs {
		if p, ok := o.obj.(*networkingv1.NetworkPolicy); ok {
			rendered = append(rendered, *p)
		}
	}
	pods, others := world(t, objs)
	if len(pods) != 9 {
		t.Fatalf("%d pods rendered, want the 5 Deployments and 4 StatefulSets", len(pods))
	}
	without := func(name string, drop func(p *networkingv1.NetworkPolicy)) []networkingv1.NetworkPolicy {
		out := []networkingv1.NetworkPolicy{}
		for _, p := range rendered {
			p = *p.DeepCopy()
			if p.Name == name {
				if drop == nil {
					continue
				}
				drop(&p)
			}
			out = append(out, p)
		}
		return out
	}
	cases := []struct {
		name     string
		policies func(t *testing.T) []networkingv1.NetworkPolicy
		want     []string
	}{
		{name: "as rendered", policies: func(*testing.T) []networkingv1.NetworkPolicy { return rendered }},
		{name: "a wrong rule in the YAML: cart may reach payment's MySQL",
			policies: func(t *testing.T) []networkingv1.NetworkPolicy {
				wrong := withoutDropped(set, nil)
				wrong.Groups["cart"].Egress = append(wrong.Groups["cart"].Egress, sg.Rule{Group: "payment-mysql", Protocol: "tcp", Port: 3306, ToPort: 3306})
				wrong.Groups["payment-mysql"].Ingress = append(wrong.Groups["payment-mysql"].Ingress, sg.Rule{Group: "cart", Protocol: "tcp", Port: 3306, ToPort: 3306})
				policies, _ := NetworkPolicies(wrong)
				return instantiate(policies)
			},
			want: []string{"cart → payment-mysql:3306/TCP: policies allow, groups deny"}},
		{name: "an egress rule lost: cart to its Redis",
			policies: func(*testing.T) []networkingv1.NetworkPolicy {
				return without("cart", func(p *networkingv1.NetworkPolicy) {
					p.Spec.Egress = slices.DeleteFunc(p.Spec.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool {
						return r.To[0].PodSelector.MatchLabels[ComponentLabel] == "cart-redis"
					})
				})
			},
			want: []string{"cart → cart-redis:6379/TCP: policies deny, groups allow"}},
		{name: "a datastore widened to any source",
			policies: func(*testing.T) []networkingv1.NetworkPolicy {
				return without("user-mongodb", func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress[0].From = nil })
			},
			want: []string{
				"ingress-nginx/controller → user-mongodb:27017/TCP: policies allow, groups deny",
				"internet → user-mongodb:27017/TCP: policies allow, groups deny",
				"kube-system/kube-dns → user-mongodb:27017/TCP: policies allow, groups deny",
				"kube-system/metrics-server → user-mongodb:27017/TCP: policies allow, groups deny",
				"shop/debug → user-mongodb:27017/TCP: policies allow, groups deny",
			}},
		{name: "the default policy lost: no DNS",
			policies: func(*testing.T) []networkingv1.NetworkPolicy { return without("default-deny", nil) },
			want: func() []string {
				var want []string
				for _, p := range pods {
					for _, proto := range []string{"TCP", "UDP"} {
						want = append(want, p.name+" → kube-system/kube-dns:53/"+proto+": policies deny, groups allow")
					}
				}
				slices.Sort(want)
				return want
			}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mismatches(t, set, tc.policies(t), pods, others)
			if !slices.Equal(got, tc.want) {
				t.Errorf("the policies and the groups disagree on:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
