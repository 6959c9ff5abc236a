package sg

import (
	"net/netip"
	"os"
	"path/filepath"
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
		"payment", "payment-mysql", "user", "user-mongodb"}
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
		{"duplicate rule", "user.yaml", "group: cart\n", "group: frontend\n", []string{"user.yaml", "ingress[1]", "duplicate of ingress[0]"}},
		{"port out of range", "payment.yaml", "port: 3306", "port: 70000", []string{"payment.yaml", "egress[0]", "port out of range"}},
		{"malformed cidr", "alb.yaml", "cidr: 0.0.0.0/0", "cidr: 0.0.0.300/0", []string{"alb.yaml", "ingress[0]", "malformed CIDR"}},
		{"cidr with host bits", "alb.yaml", "cidr: 0.0.0.0/0", "cidr: 10.0.0.1/8", []string{"alb.yaml", "malformed CIDR"}},
		{"two peers", "cart.yaml", "group: cart-redis", "group: cart-redis\n    cidr: 10.0.0.0/8", []string{"cart.yaml", "egress[0]", "exactly one of"}},
		{"unknown field", "cart.yaml", "tier: service", "tier: service\nports: [1]", []string{"cart.yaml", "field ports not found"}},
		{"name differs from file", "cart.yaml", "name: cart", "name: basket", []string{"cart.yaml", "must match the file name"}},
		{"bad protocol", "cart.yaml", "    port: 6379", "    port: 6379\n    protocol: icmp", []string{"cart.yaml", "egress[0]", "protocol"}},
		{"unknown owner", "cart-redis.yaml", "owner: cart", "owner: basket", []string{"cart-redis.yaml", `owner "basket"`}},
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
		{"api open to the world", "user.yaml", "group: frontend", "cidr: 0.0.0.0/0",
			[]string{"user.yaml: ingress[0]", "only the load balancer (alb)"}},
		{"frontend open to the world again", "frontend.yaml", "port: 80\n    group: alb", "port: 80\n    cidr: 0.0.0.0/0",
			[]string{"frontend.yaml: ingress[0]", "only the load balancer (alb)"}},
		{"redis open to the world over ipv6", "cart-redis.yaml", "group: cart\n", "cidr: ::/0\n",
			[]string{"cart-redis.yaml: ingress[0]", "Redis"}},
		{"world on a non-web port", "alb.yaml", "port: 443\n    cidr: ::/0", "port: 8443\n    cidr: ::/0",
			[]string{"alb.yaml: ingress[1]", "only ports 80 and 443"}},
		{"datastore used by another service", "user-mongodb.yaml", "group: user\n", "group: catalogue\n",
			[]string{"user-mongodb.yaml: ingress[0]", "only its own service (user)"}},
		{"cidr between tiers", "cart.yaml", "group: payment", "cidr: 10.0.0.0/16",
			[]string{"cart.yaml: ingress[1]", "tiers reference groups"}},
		{"egress to a private cidr", "payment.yaml", "group: payment-mysql", "cidr: 10.0.0.0/16",
			[]string{"payment.yaml: egress[0]", "egress to CIDRs is only for downloads"}},
		{"missing description", "cart.yaml", `description: "its own datastore"`, `description: ""`,
			[]string{"cart.yaml: egress[0]", "description"}},
		{"no egress", "bastion.yaml", "egress:", "egress: []\nx_egress:", nil},
		{"ssh from a service", "payment-mysql.yaml", "port: 22\n    group: bastion", "port: 22\n    group: payment",
			[]string{"payment-mysql.yaml: ingress[1]", "only from the bastion"}},
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
		{"frontend", "user", 8080, true},
		{"frontend", "user-mongodb", 27017, false},
		{"frontend", "payment", 8080, true},
		{"cart", "cart-redis", 6379, true},
		{"payment", "cart-redis", 6379, false},
		{"payment", "cart", 8080, true},
		{"cart", "payment", 8080, false},
		{"user", "catalogue", 8080, false},
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
	if ports := s.Ports(); len(ports) != 7 {
		t.Errorf("ports %v", ports)
	}
}
