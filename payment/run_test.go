package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

// TestRunMigratesServesAndSurvivesOutage drives the real run function: it
// migrates a fresh database, checks out over HTTP, and rides out a MariaDB outage.
func TestRunMigratesServesAndSurvivesOutage(t *testing.T) {
	t.Parallel()
	d := sharedDeps(t)
	db, dsn := testkit.StartMariaDB(t, "payment")
	svc := testkit.RunService(t, run, map[string]string{"MYSQL_DSN": dsn, "USER_URL": d.userURL, "SETTLE_TOKEN": testkit.SettleToken,
		"CATALOGUE_URL": d.catalogueURL, "CART_URL": d.cartURL})
	svc.WaitStatus(t, "/readyz", http.StatusOK)

	user := testkit.RegisterUser(t, d.userURL)
	if code, body := testkit.Send(t, d.cartURL, testkit.Request{Method: "POST", Path: "/cart/items", Token: user,
		Body: map[string]any{"sku": "HH-003", "qty": 1}}); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	code, quote := testkit.Send(t, svc.Base, testkit.Request{Method: "GET", Path: "/checkout/quote", Token: user})
	if code != http.StatusOK {
		t.Fatalf("quote: %d %s", code, quote)
	}
	body := checkoutBody("4242424242424242")
	body["expected_total_cents"] = testkit.Decode[quoteResponse](t, quote).TotalCents
	code, created := testkit.Send(t, svc.Base, testkit.Request{Method: "POST", Path: "/checkout", Token: user,
		Body: body, Headers: map[string]string{"Idempotency-Key": "run-1"}})
	if code != http.StatusCreated {
		t.Fatalf("checkout: %d %s", code, created)
	}

	db.Stop()
	took := svc.WaitStatus(t, "/readyz", http.StatusServiceUnavailable)
	t.Logf("readyz turned 503 %s after MariaDB stopped", took)
	db.Start(t)
	svc.WaitStatus(t, "/readyz", http.StatusOK)
	if code, body := testkit.Send(t, svc.Base, testkit.Request{Method: "GET", Path: "/orders", Token: user}); code != 200 ||
		!strings.Contains(string(body), `"total":1`) {
		t.Fatalf("orders after the outage: %d %s", code, body)
	}
	if strings.Contains(svc.Logs(), "4242424242424242") {
		t.Fatal("card number in the log")
	}
	svc.ExpectMetric(t, `go_sql_open_connections\{db_name="payment"\} [1-9][0-9]*`)
	svc.ExpectMetric(t, `roboshop_checkouts_total\{outcome="ordered"\} 1`)
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	testkit.ExpectRunRejects(t, run, []testkit.BadConfig{
		{Name: "bad dsn", Env: map[string]string{"MYSQL_DSN": "not a dsn", "SETTLE_TOKEN": testkit.SettleToken}, Want: "MYSQL_DSN"},
		{Name: "no settle token", Env: map[string]string{}, Want: "SETTLE_TOKEN is required"},
		{Name: "bad log level", Env: map[string]string{"LOG_LEVEL": "loud"}, Want: "LOG_LEVEL"},
	})
}
