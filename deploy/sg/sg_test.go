package sg

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const defsDir = "../security-groups"

// mutated copies the real definitions to a temp dir, replacing old with new in file.
func mutated(t *testing.T, file, old, new string) string {
	t.Helper()
	dir := t.TempDir()
	paths, _ := filepath.Glob(filepath.Join(defsDir, "*.yaml"))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		if filepath.Base(p) == file {
			if !strings.Contains(text, old) {
				t.Fatalf("%s does not contain %q", file, old)
			}
			text = strings.Replace(text, old, new, 1)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDefinitionsLoadAndPassPolicy(t *testing.T) {
	s, err := Load(defsDir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alb", "bastion", "cart", "cart-redis", "catalogue", "catalogue-mongodb", "frontend",
		"internal-alb", "payment", "payment-mysql", "user", "user-mongodb"}
	if got := s.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("groups %v, want %v", got, want)
	}
	if v := s.Check(); len(v) != 0 {
		t.Fatalf("policy violations:\n%s", strings.Join(v, "\n"))
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name, file, old, new string
		want                 []string
	}{
		{"unknown group", "cart.yaml", "group: cart-redis", "group: cart-rediss", []string{"cart.yaml", "egress[0]", `unknown group "cart-rediss"`}},
		{"duplicate rule", "payment.yaml", "port: 8083\n", "port: 8082\n", []string{"payment.yaml", "egress[3]", "duplicate of egress[2]"}},
		{"port out of range", "payment.yaml", "port: 3306", "port: 70000", []string{"payment.yaml", "egress[0]", "port out of range"}},
		{"malformed cidr", "alb.yaml", "cidr: 0.0.0.0/0", "cidr: 0.0.0.300/0", []string{"alb.yaml", "ingress[0]", "malformed CIDR"}},
		{"cidr with host bits", "alb.yaml", "cidr: 0.0.0.0/0", "cidr: 10.0.0.1/8", []string{"alb.yaml", "malformed CIDR"}},
		{"two peers", "cart.yaml", "group: cart-redis", "group: cart-redis\n    cidr: 10.0.0.0/8", []string{"cart.yaml", "egress[0]", "exactly one of"}},
		{"unknown field", "cart.yaml", "tier: service", "tier: service\nports: [1]", []string{"cart.yaml", "field ports not found"}},
		{"name differs from file", "cart.yaml", "name: cart", "name: basket", []string{"cart.yaml", "must match the file name"}},
		{"bad protocol", "cart.yaml", "    port: 6379", "    port: 6379\n    protocol: gre", []string{"cart.yaml", "egress[0]", `protocol "gre" must be tcp, udp or icmp`}},
		{"icmp with a port", "cart.yaml", "    port: 6379", "    port: 6379\n    protocol: icmp\n    icmp_type: 8", []string{"cart.yaml", "egress[0]", "not ports"}},
		{"icmp without a type", "payment.yaml", "    icmp_type: 8\n", "", []string{"payment.yaml", "ingress[2]", "icmp_type 0-255 is required"}},
		{"icmp type out of range", "payment.yaml", "    icmp_type: 8\n", "    icmp_type: 256\n", []string{"payment.yaml", "ingress[2] (icmp type 256 from bastion)", "icmp_type 0-255"}},
		{"icmp code out of range", "payment.yaml", "    icmp_type: 8\n", "    icmp_type: 8\n    icmp_code: -2\n", []string{"payment.yaml", "ingress[2] (icmp type 8 code -2 from bastion)", "icmp_code 0-255"}},
		{"an icmp type on tcp", "cart.yaml", "    port: 6379", "    port: 6379\n    icmp_type: 8", []string{"cart.yaml", "egress[0]", "icmp_type and icmp_code are for protocol icmp"}},
		{"udp port out of range", "cart.yaml", "    port: 6379", "    port: 0\n    protocol: udp", []string{"cart.yaml", "egress[0] (udp port 0 to cart-redis)", "port out of range"}},
		{"unknown owner", "cart-redis.yaml", "owner: cart", "owner: basket", []string{"cart-redis.yaml", `owner "basket"`}},
		{"listener on ingress", "user.yaml", "group: internal-alb\n", "group: internal-alb\n    listener: 8081\n",
			[]string{"user.yaml: ingress[0]", "only for a balancer's egress"}},
		{"listener nobody may call", "internal-alb.yaml", "listener: 8084", "listener: 8085",
			[]string{"internal-alb.yaml: egress[3]", "listener 8085 accepts no ingress", "port 8084 is accepted but forwarded nowhere"}},
		{"listener forwarded twice", "internal-alb.yaml", "listener: 8084", "listener: 8083",
			[]string{"internal-alb.yaml: egress[3]", "listener 8083 is forwarded by egress[2] too"}},
		{"balancer egress without a listener", "internal-alb.yaml", "    listener: 8084\n", "",
			[]string{"internal-alb.yaml: egress[3]", "forwards a listener to a group"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(mutated(t, tc.file, tc.old, tc.new))
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestPolicyRejects(t *testing.T) {
	tests := []struct {
		name, file, old, new string
		want                 []string
	}{
		{"ssh from the world", "frontend.yaml", "port: 22\n    group: bastion", "port: 22\n    cidr: 0.0.0.0/0",
			[]string{"frontend.yaml: ingress[1] (port 22 from 0.0.0.0/0)", "SSH"}},
		{"api open to the world", "user.yaml", "group: internal-alb", "cidr: 0.0.0.0/0",
			[]string{"user.yaml: ingress[0]", "only the load balancer (alb)"}},
		{"frontend open to the world again", "frontend.yaml", "port: 80\n    group: alb", "port: 80\n    cidr: 0.0.0.0/0",
			[]string{"frontend.yaml: ingress[0]", "only the load balancer (alb)"}},
		{"redis open to the world over ipv6", "cart-redis.yaml", "group: cart\n", "cidr: ::/0\n",
			[]string{"cart-redis.yaml: ingress[0]", "Redis"}},
		{"world on a non-web port", "alb.yaml", "port: 443\n    cidr: ::/0", "port: 8443\n    cidr: ::/0",
			[]string{"alb.yaml: ingress[1]", "only ports 80 and 443"}},
		{"datastore used by another service", "user-mongodb.yaml", "group: user\n", "group: catalogue\n",
			[]string{"user-mongodb.yaml: ingress[0]", "only its own service (user)"}},
		{"cidr between tiers", "cart.yaml", "port: 8080\n    group: internal-alb", "port: 8080\n    cidr: 10.0.0.0/16",
			[]string{"cart.yaml: ingress[0]", "tiers reference groups"}},
		{"egress to a private cidr", "payment.yaml", "group: payment-mysql", "cidr: 10.0.0.0/16",
			[]string{"payment.yaml: egress[0]", "egress to CIDRs is only for downloads"}},
		{"missing description", "cart.yaml", `description: "its own datastore"`, `description: ""`,
			[]string{"cart.yaml: egress[0]", "description"}},
		{"no egress", "bastion.yaml", "egress:", "egress: []\nx_egress:", nil},
		{"ssh from a service", "payment-mysql.yaml", "port: 22\n    group: bastion", "port: 22\n    group: payment",
			[]string{"payment-mysql.yaml: ingress[1]", "only from the bastion"}},
		{"ping from a service", "payment-mysql.yaml", "icmp_type: 8\n    group: bastion", "icmp_type: 8\n    group: payment",
			[]string{"payment-mysql.yaml: ingress[2] (icmp type 8 from payment)", "ICMP (ping) is accepted only from the bastion"}},
		{"ping from the world", "frontend.yaml", "icmp_type: 8\n    group: bastion", "icmp_type: 8\n    cidr: 0.0.0.0/0",
			[]string{"frontend.yaml: ingress[2] (icmp type 8 from 0.0.0.0/0)", "only the load balancer (alb)"}},
		{"admin cidr ping", "bastion.yaml", "port: 22\n    cidr_variable", "protocol: icmp\n    icmp_type: 8\n    cidr_variable",
			[]string{"bastion.yaml: ingress[0] (icmp type 8 from var.admin_cidr)", "admin CIDR may reach only SSH"}},
		{"admin cidr beyond ssh", "bastion.yaml", "port: 22\n    cidr_variable", "port: 443\n    cidr_variable",
			[]string{"bastion.yaml: ingress[0]", "admin CIDR may reach only SSH"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(mutated(t, tc.file, tc.old, tc.new))
			if tc.want == nil { // a structural change the loader itself refuses
				if err == nil {
					t.Fatal("loaded without error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(s.Check(), "\n")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Fatalf("violations %q do not mention %q", got, w)
				}
			}
		})
	}
}

func TestPolicyRequiresExplicitEgress(t *testing.T) {
	s, err := Load(defsDir)
	if err != nil {
		t.Fatal(err)
	}
	s.Groups["cart-redis"].Egress = nil
	if got := strings.Join(s.Check(), "\n"); !strings.Contains(got, "cart-redis.yaml: egress must be declared") {
		t.Fatalf("violations: %q", got)
	}
}

func TestAllows(t *testing.T) {
	s, err := Load(defsDir)
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[string]netip.Addr{"internet": netip.MustParseAddr("203.0.113.7"), "admin": netip.MustParseAddr("198.51.100.9")}
	addrOf := func(g string) netip.Addr {
		if a, ok := addrs[g]; ok {
			return a
		}
		return netip.MustParseAddr("10.0.1.1")
	}
	admin := netip.MustParsePrefix("198.51.100.0/24")
	tests := []struct {
		src, dst string
		port     int
		want     bool
	}{
		{"internet", "alb", 443, true},
		{"internet", "alb", 80, true},
		{"internet", "frontend", 80, false}, // only through the load balancer
		{"alb", "frontend", 80, true},
		{"alb", "user", 8080, false},
		{"internet", "frontend", 22, false},
		{"internet", "user", 8080, false},
		{"internet", "bastion", 22, false},
		{"admin", "bastion", 22, true},
		{"frontend", "user", 8080, false}, // services are reached through the internal load balancer
		{"frontend", "internal-alb", 8081, true},
		{"internal-alb", "user", 8080, true},
		{"frontend", "user-mongodb", 27017, false},
		{"frontend", "internal-alb", 8084, true},
		{"cart", "cart-redis", 6379, true},
		{"payment", "cart-redis", 6379, false},
		{"payment", "internal-alb", 8083, true},
		{"cart", "internal-alb", 8084, false}, // cart never calls payment
		{"cart", "internal-alb", 8082, true},
		{"user", "internal-alb", 8082, false},
		{"internal-alb", "user-mongodb", 27017, false},
		{"catalogue", "catalogue-mongodb", 27017, true},
		{"user", "catalogue-mongodb", 27017, false},
		{"bastion", "payment-mysql", 22, true},
		{"bastion", "payment-mysql", 3306, false},
		{"cart-redis", "alb", 80, true}, // egress 80 to 0.0.0.0/0 for packages meets the public port
		{"cart-redis", "frontend", 80, false},
	}
	for _, tc := range tests {
		if got := s.Allows(tc.src, tc.dst, tc.port, admin, addrOf); got != tc.want {
			t.Errorf("%s -> %s:%d = %v, want %v", tc.src, tc.dst, tc.port, got, tc.want)
		}
	}
	if ports := s.Ports(); len(ports) != 11 {
		t.Errorf("ports %v", ports)
	}
}

// TestExplainNamesTheRulesWhereTheyAreWritten: a verdict names the ingress
// and egress rules that decide it, each at the line of its file where the
// rule starts (the line reads "- description: <its description>"), or none
// where no rule of that side allows the flow.
func TestExplainNamesTheRulesWhereTheyAreWritten(t *testing.T) {
	s, err := Load(defsDir)
	if err != nil {
		t.Fatal(err)
	}
	addrOf := func(g string) netip.Addr {
		if g == "admin" {
			return netip.MustParseAddr("198.51.100.9")
		}
		return netip.MustParseAddr("203.0.113.7")
	}
	admin := netip.MustParsePrefix("198.51.100.0/24")
	tests := []struct {
		name, src, dst, protocol string
		port                     int
		allowed, ingress, egress bool
	}{
		{"the seed exercise: frontend to payment", "frontend", "payment", "tcp", 8080, false, false, false},
		{"frontend to payment's listener", "frontend", "internal-alb", "tcp", 8084, true, true, true},
		{"only one side allows it", "frontend", "user", "tcp", 8080, false, false, false},
		{"the balancer to payment", "internal-alb", "payment", "tcp", 8080, true, true, true},
		{"the egress allows, the ingress does not", "frontend", "user-mongodb", "tcp", 443, false, false, true},
		{"the internet is not filtered on its way out", "internet", "alb", "tcp", 443, true, true, false},
		{"SSH from the admin network", "admin", "bastion", "tcp", 22, true, true, false},
		{"SSH from the bastion", "bastion", "payment", "tcp", 22, true, true, true},
		{"the protocol must match", "bastion", "payment", "udp", 22, false, false, false},
		{"ping from the bastion", "bastion", "payment-mysql", "icmp", EchoRequest, true, true, true},
		{"ping from the frontend", "frontend", "payment", "icmp", EchoRequest, false, false, false},
		{"another icmp type", "bastion", "payment", "icmp", 13, false, false, false},
		{"ping from the admin network", "admin", "bastion", "icmp", EchoRequest, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := s.Explain(tc.src, tc.dst, tc.protocol, tc.port, admin, addrOf)
			if v.Allowed != tc.allowed || (v.Ingress != nil) != tc.ingress || (v.Egress != nil) != tc.egress {
				t.Fatalf("%+v: want allowed %v, an ingress rule %v, an egress rule %v", v, tc.allowed, tc.ingress, tc.egress)
			}
			for _, r := range []*RuleAt{v.Ingress, v.Egress} {
				if r == nil {
					continue
				}
				raw, err := os.ReadFile(filepath.Join(defsDir, r.File))
				if err != nil {
					t.Fatal(err)
				}
				lines := strings.Split(string(raw), "\n")
				if r.Line < 1 || r.Line > len(lines) || !strings.Contains(lines[r.Line-1], "- description: \""+r.Rule.Description+"\"") {
					t.Fatalf("%s: that line does not start the rule %q", r, r.Rule.Description)
				}
			}
		})
	}
}

// TestDirectKeepsExactlyTheBalancedPaths: without the balancers, a caller
// reaches a group on a port exactly when, with them, it reaches a listener
// that forwards there; every other connection is as it was.
func TestDirectKeepsExactlyTheBalancedPaths(t *testing.T) {
	s, err := Load(defsDir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Direct()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Groups["internal-alb"]; ok || len(d.Groups) != len(s.Groups)-1 {
		t.Fatalf("groups %v", d.Names())
	}
	if v := d.Check(); len(v) != 0 {
		t.Fatalf("the direct set breaks the policy:\n%s", strings.Join(v, "\n"))
	}
	addrOf := func(string) netip.Addr { return netip.MustParseAddr("10.0.1.1") }
	admin := netip.MustParsePrefix("198.51.100.0/24")
	lb := s.Groups["internal-alb"]
	opened := 0
	for _, src := range d.Names() {
		for _, dst := range d.Names() {
			for _, port := range s.Ports() {
				want := s.Allows(src, dst, port, admin, addrOf)
				for _, fwd := range lb.Egress {
					if fwd.Group == dst && fwd.Port == port && s.Allows(src, "internal-alb", fwd.Listener, admin, addrOf) &&
						s.Allows("internal-alb", dst, port, admin, addrOf) {
						want = true
					}
				}
				if got := d.Allows(src, dst, port, admin, addrOf); got != want {
					t.Errorf("%s -> %s:%d: direct %v, through the balancer %v", src, dst, port, got, want)
				}
				if want && !s.Allows(src, dst, port, admin, addrOf) {
					opened++
				}
			}
		}
	}
	for _, tc := range []struct {
		target string
		port   int
	}{{"user", 8081}, {"catalogue", 8082}, {"cart", 8083}, {"payment", 8084}, {"cart-redis", 0}} {
		lb, port, ok := s.ListenerOf(tc.target)
		if port != tc.port || ok != (tc.port != 0) || (ok && lb != "internal-alb") {
			t.Errorf("ListenerOf(%s) = %s %d %v, want port %d", tc.target, lb, port, ok, tc.port)
		}
	}
	// frontend to the four services, cart to user and catalogue, payment to
	// user, catalogue and cart.
	if opened != 9 {
		t.Errorf("%d connections go through the balancer, want 9", opened)
	}
}

func TestCheckReportRoundTripsAndNamesEachDifference(t *testing.T) {
	want := CheckReport{Probes: 3, Allowed: 1, Differences: []Difference{
		{From: "frontend", To: "cart-redis", Port: 6379, NetworkAllows: true},
		{From: "cart", To: "internal-alb", Port: 8082, DefinitionsAllow: true}}}
	path := filepath.Join(t.TempDir(), "check.json")
	if err := want.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCheckReport(path)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read %+v (%v), wrote %+v", got, err, want)
	}
	for i, line := range []string{"frontend -> cart-redis:6379: definitions say blocked, network allowed",
		"cart -> internal-alb:8082: definitions say allowed, network blocked"} {
		if s := got.Differences[i].String(); s != line {
			t.Errorf("difference %d reads %q, want %q", i, s, line)
		}
	}
}
