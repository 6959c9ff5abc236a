package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

// TestRunServesAndSurvivesRedisOutage drives the real run function over HTTP
// with real Redis, user and catalogue services.
func TestRunServesAndSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	d := sharedDeps(t)
	rds := testkit.Redis(t)
	svc := testkit.RunService(t, run, map[string]string{"REDIS_URL": "redis://" + rds.Addr() + "/0", "SETTLE_TOKEN": testkit.SettleToken,
		"USER_URL": d.userURL, "CATALOGUE_URL": d.catalogueURL, "CART_TTL": "2h"})
	svc.WaitStatus(t, "/readyz", http.StatusOK)
	tok := testkit.GuestToken(t, d.userURL)
	if code, body := svc.Do(t, "POST", "/cart/items", `{"sku":"DR-003","qty":2}`, tok); code != 200 || !strings.Contains(string(body), `"subtotal_cents":299800`) {
		t.Fatalf("add: %d %s", code, body)
	}
	rds.Stop()
	took := svc.WaitStatus(t, "/readyz", http.StatusServiceUnavailable)
	t.Logf("readyz turned 503 %s after Redis stopped", took)
	if code, _ := svc.Do(t, "GET", "/cart", "", tok); code != http.StatusServiceUnavailable {
		t.Fatalf("GET /cart with Redis down: %d, want 503", code)
	}
	rds.Start(t)
	svc.WaitStatus(t, "/readyz", http.StatusOK)
	if code, _ := svc.Do(t, "GET", "/cart", "", tok); code != http.StatusOK {
		t.Fatalf("GET /cart after Redis came back: %d", code)
	}
	// The connection pool, measured.
	svc.ExpectMetric(t, `redis_pool_connections_open [1-9][0-9]*`)
	svc.ExpectMetric(t, `redis_pool_hits_total [1-9][0-9]*`)
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	testkit.ExpectRunRejects(t, run, []testkit.BadConfig{
		{Name: "bad redis url", Env: map[string]string{"REDIS_URL": "mongodb://x", "SETTLE_TOKEN": testkit.SettleToken}, Want: "REDIS_URL"},
		{Name: "no settle token", Env: map[string]string{}, Want: "SETTLE_TOKEN is required"},
		{Name: "a short settle token", Env: map[string]string{"SETTLE_TOKEN": "short"}, Want: "SETTLE_TOKEN must be at least 32 characters"},
		{Name: "bad ttl", Env: map[string]string{"CART_TTL": "7 days"}, Want: "CART_TTL"},
		{Name: "ttl too short", Env: map[string]string{"CART_TTL": "1ms"}, Want: "CART_TTL"},
	})
}
