package composecheck

import (
	"context"
	"testing"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

func TestReachesFollowTheGroups(t *testing.T) {
	p, err := Load(context.Background(), "../../docker-compose.yml", testSecrets...)
	if err != nil {
		t.Fatal(err)
	}
	set, err := sg.Load("../security-groups")
	if err != nil {
		t.Fatal(err)
	}
	got := map[Reach]bool{}
	sources := map[string]bool{}
	reaches, err := Reaches(p, set)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reaches {
		got[r] = true
		sources[r.From] = true
	}
	for _, tc := range []struct {
		name  string
		reach Reach
	}{
		{"the frontend calls the services", Reach{"frontend", "cart", 8080, true}},
		{"a service uses its datastore", Reach{"cart", "cart-redis", 6379, true}},
		{"payment calls the cart", Reach{"payment", "cart", 8080, true}},
		{"a shared network has no direction", Reach{"cart-redis", "cart", 8080, true}},
		{"the frontend never reaches a datastore", Reach{"frontend", "cart-redis", 6379, false}},
		{"the frontend never reaches MySQL", Reach{"frontend", "payment-mysql", 3306, false}},
		{"a service never reaches another's datastore", Reach{"cart", "payment-mysql", 3306, false}},
		{"services with no rule between them", Reach{"catalogue", "user", 8080, false}},
		{"datastores never reach each other", Reach{"user-mongodb", "catalogue-mongodb", 27017, false}},
		{"a datastore never reaches the frontend", Reach{"payment-mysql", "frontend", 8080, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !got[tc.reach] {
				t.Errorf("Reaches lacks %+v", tc.reach)
			}
			flipped := tc.reach
			flipped.Open = !flipped.Open
			if got[flipped] {
				t.Errorf("Reaches has %+v", flipped)
			}
		})
	}
	if len(sources) != len(p.Services) {
		t.Errorf("probes start from %d services, want all %d", len(sources), len(p.Services))
	}
}

// TestNotExpressedNamesICMPAndTheBastion: every icmp rule (the bastion's
// ping, 9 out and 9 in) is listed for its protocol, the bastion's SSH for
// having no service, and no TCP rule between two services at all.
func TestNotExpressedNamesICMPAndTheBastion(t *testing.T) {
	p, set := repoProject(t)
	got, err := NotExpressed(p, set)
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := set.Direct()
	icmp := 0
	for _, r := range direct.Flat() {
		why, listed := got[r.Key]
		switch {
		case r.Protocol == sg.ICMP:
			icmp++
			if why != WhyProtocol {
				t.Errorf("%s: %q, want the protocol's reason", r.Key, why)
			}
		case r.Group == "bastion":
			if why != WhyNoService {
				t.Errorf("%s: %q, want the missing service's reason", r.Key, why)
			}
		case listed:
			_, from := p.Services[r.Group]
			if from {
				t.Errorf("%s (tcp, of a compose service) listed as not expressed: %q", r.Key, why)
			}
		}
	}
	if icmp != 18 {
		t.Errorf("%d icmp rules, want the bastion's 9 out and 9 in", icmp)
	}
}
