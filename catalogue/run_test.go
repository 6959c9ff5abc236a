package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

// TestRunServesAndSurvivesMongoOutage drives the real run function over HTTP:
// it seeds itself, serves, keeps answering from its in-memory catalogue while
// MongoDB is away (readyz says 503) without exiting,
// recovers by itself, and drains cleanly on shutdown.
func TestRunServesAndSurvivesMongoOutage(t *testing.T) {
	t.Parallel()
	mongo, uri := testkit.StartMongo(t, "catalogue")
	svc := testkit.RunService(t, run, map[string]string{"MONGO_URI": uri})

	svc.WaitStatus(t, "/readyz", http.StatusOK)
	code, body := svc.Do(t, "GET", "/products?q=drone&limit=3", "", "")
	var page productsResponse
	if err := json.Unmarshal(body, &page); code != http.StatusOK || err != nil || len(page.Items) == 0 {
		t.Fatalf("search: %d %s", code, body)
	}

	mongo.Stop()
	took := svc.WaitStatus(t, "/readyz", http.StatusServiceUnavailable)
	t.Logf("readyz turned 503 %s after MongoDB stopped", took)
	// Reads keep coming from the in-memory catalogue while MongoDB is away.
	if code, body := svc.Do(t, "GET", "/products/DR-001", "", ""); code != http.StatusOK {
		t.Fatalf("product with MongoDB down: %d %s, want 200 from the cache", code, body)
	}
	svc.WaitStatus(t, "/healthz", http.StatusOK)

	mongo.Start(t)
	svc.WaitStatus(t, "/readyz", http.StatusOK)
	if code, _ := svc.Do(t, "GET", "/products/DR-001", "", ""); code != http.StatusOK {
		t.Fatalf("product after MongoDB came back: %d", code)
	}
	if code, body := svc.Do(t, "GET", "/metrics", "", ""); code != http.StatusOK || !strings.Contains(string(body), `http_requests_total{method="GET",route="/readyz",status="503"}`) {
		t.Fatalf("metrics do not count the 503s: %d\n%s", code, body)
	}
	svc.ExpectMetric(t, `mongodb_pool_connections_open [1-9][0-9]*`)
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	testkit.ExpectRunRejects(t, run, []testkit.BadConfig{
		{Name: "bad uri", Env: map[string]string{"MONGO_URI": "http://x"}, Want: "MONGO_URI"},
		{Name: "bad log level", Env: map[string]string{"LOG_LEVEL": "chatty"}, Want: "LOG_LEVEL"},
		{Name: "bad listen address", Env: map[string]string{"LISTEN_ADDR": "nonsense"}, Want: "nonsense"},
	})
}
