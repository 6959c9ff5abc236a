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
