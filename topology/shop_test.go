package topology

import (
	"maps"
	"slices"
	"testing"
)

func TestServicesAreWiredAsDescribed(t *testing.T) {
	shop := Roboshop()
	url := func(name string) string { return "http://" + name + ":8080" }
	for _, tc := range []struct {
		service string
		want    map[string]string
	}{
		{"user", map[string]string{"LISTEN_ADDR": ":8080", "MONGO_URI": "store"}},
		{"cart", map[string]string{"LISTEN_ADDR": ":8080", "REDIS_URL": "store",
			"USER_URL": "http://user:8080", "CATALOGUE_URL": "http://catalogue:8080"}},
		{"payment", map[string]string{"LISTEN_ADDR": ":8080", "MYSQL_DSN": "store",
			"USER_URL": "http://user:8080", "CATALOGUE_URL": "http://catalogue:8080", "CART_URL": "http://cart:8080"}},
	} {
		t.Run(tc.service, func(t *testing.T) {
			if got := shop.Service(tc.service).Env(shop, ":8080", "store", url); !maps.Equal(got, tc.want) {
				t.Errorf("Env = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEveryServiceStartsAfterWhatItNeeds(t *testing.T) {
	shop := Roboshop()
	var started []string
	for _, svc := range shop.Services {
		if !slices.ContainsFunc(shop.Datastores, func(d Datastore) bool { return d.Name == svc.Store }) {
			t.Errorf("%s: no datastore %s", svc.Name, svc.Store)
		}
		for _, c := range svc.Calls {
			if !slices.Contains(started, c) {
				t.Errorf("%s calls %s, which starts after it (or does not exist)", svc.Name, c)
			}
		}
		started = append(started, svc.Name)
	}
}

func TestDatastoreURLs(t *testing.T) {
	shop := Roboshop()
	for _, tc := range []struct {
		name, store string
		secrets     Secrets
		want        string
	}{
		{"mongodb", "user-mongodb", Secrets{}, "mongodb://h:1/users"},
		{"redis without a password", "cart-redis", Secrets{}, "redis://h:1/0"},
		{"redis with a password", "cart-redis", Secrets{RedisPassword: "pw"}, "redis://:pw@h:1/0"},
		{"mysql as the application's user", "payment-mysql", Secrets{MySQLUser: "app", MySQLPassword: "pw"},
			"app:pw@tcp(h:1)/payment?parseTime=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shop.Datastore(tc.store).URL("h:1", tc.secrets); got != tc.want {
				t.Errorf("URL = %q, want %q", got, tc.want)
			}
		})
	}
}
