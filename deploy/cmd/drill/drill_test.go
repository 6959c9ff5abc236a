package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

// Each lab drill's change applies to the repository's security groups as they
// are now, yields groups the loader accepts, and changes what the policy
// allows in exactly the pairs the drill expects the lab's check to show.
func TestLabDrillsChangeExactlyTheirPairs(t *testing.T) {
	repo, err := sg.Load("../../security-groups")
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]mutation{"sg-rule-removed": removedRule, "sg-rule-widened": widenedRule} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			files, _ := filepath.Glob("../../security-groups/*.yaml")
			for _, f := range files {
				raw, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if filepath.Base(f) == m.file {
					if !strings.Contains(string(raw), m.old) {
						t.Fatalf("%s no longer holds %q", m.file, m.old)
					}
					raw = []byte(strings.Replace(string(raw), m.old, m.new, 1))
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			changed, err := sg.Load(dir)
			if err != nil {
				t.Fatalf("the changed groups do not load: %v", err)
			}
			// The lab's probes: every instance (the groups and the
			// internet) to every group, on every port of the definitions,
			// with addresses laid out as the lab lays them out.
			// The internet is on the public segment, the operator's own
			// address (admin_cidr) beside it.
			addrs := map[string]netip.Addr{"internet": netip.MustParseAddr("198.51.100.250")}
			for i, name := range repo.Names() {
				addrs[name] = netip.AddrFrom4([4]byte{10, 77, 0, byte(10 + i)})
			}
			addrOf := func(name string) netip.Addr { return addrs[name] }
			admin := netip.MustParsePrefix("198.51.100.1/32")
			var got []string
			for _, src := range append(repo.Names(), "internet") {
				for _, dst := range repo.Names() {
					for _, port := range repo.Ports() {
						before, after := repo.Allows(src, dst, port, admin, addrOf), changed.Allows(src, dst, port, admin, addrOf)
						if src != dst && before != after {
							got = append(got, sg.Difference{From: src, To: dst, Port: port, DefinitionsAllow: before, NetworkAllows: after}.String())
						}
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, m.differences) {
				t.Fatalf("the policy changes %q; the drill expects the lab to show %q", got, m.differences)
			}
		})
	}
}

func TestTraceTree(t *testing.T) {
	var tr jaegerTrace
	raw := `{"spans": [
		{"spanID": "c", "operationName": "GET /cart", "processID": "p2", "startTime": 20, "duration": 1500,
		 "references": [{"refType": "CHILD_OF", "spanID": "b"}]},
		{"spanID": "a", "operationName": "POST /checkout", "processID": "p1", "startTime": 10, "duration": 12000,
		 "references": [{"refType": "CHILD_OF", "spanID": "the-browser"}]},
		{"spanID": "b", "operationName": "GET", "processID": "p1", "startTime": 15, "duration": 2000,
		 "references": [{"refType": "CHILD_OF", "spanID": "a"}]},
		{"spanID": "d", "operationName": "BEGIN", "processID": "p1", "startTime": 30, "duration": 300,
		 "references": [{"refType": "CHILD_OF", "spanID": "a"}]}],
	 "processes": {"p1": {"serviceName": "payment"}, "p2": {"serviceName": "cart"}}}`
	if err := json.Unmarshal([]byte(raw), &tr); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(tr.tree(), "\n") {
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	want := []string{"POST /checkout payment 12.0 ms", "GET payment 2.0 ms", "GET /cart cart 1.5 ms", "BEGIN payment 0.3 ms"}
	if !slices.Equal(got, want) {
		t.Fatalf("tree:\n%s\nwant (spaces aside) %q", tr.tree(), want)
	}
	if !strings.Contains(tr.tree(), "\n          GET /cart") {
		t.Fatalf("GET /cart is not drawn under its parent:\n%s", tr.tree())
	}
}
