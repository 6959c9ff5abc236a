package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

// TestRunServesAndSurvivesMongoOutage drives the real run function over HTTP: the
// journey works, /readyz goes 503 while MongoDB is stopped and 200 again after it
// is back, the process keeps running throughout, and SIGTERM (ctx) drains cleanly.
func TestRunServesAndSurvivesMongoOutage(t *testing.T) {
	t.Parallel()
	mongo, uri := testkit.StartMongo(t, "users")
	svc := testkit.RunService(t, run, map[string]string{"MONGO_URI": uri, "BCRYPT_COST": "10"})

	svc.WaitStatus(t, "/readyz", http.StatusOK)
	code, body := svc.Do(t, "POST", "/register", `{"email":"run@example.com","name":"Run","password":"password1"}`, "")
	if code != http.StatusCreated {
		t.Fatalf("register: %d %s", code, body)
	}
	var reg authBody
	if err := json.Unmarshal(body, &reg); err != nil {
		t.Fatal(err)
	}
	if code, body := svc.Do(t, "GET", "/me", "", reg.Token); code != http.StatusOK {
		t.Fatalf("me: %d %s", code, body)
	}

	mongo.Stop()
	took := svc.WaitStatus(t, "/readyz", http.StatusServiceUnavailable)
	t.Logf("readyz turned 503 %s after MongoDB stopped", took)
	svc.WaitStatus(t, "/healthz", http.StatusOK)
	if code, body := svc.Do(t, "POST", "/login", `{"email":"run@example.com","password":"password1"}`, ""); code != http.StatusServiceUnavailable {
		t.Fatalf("login with MongoDB down: %d %s, want 503", code, body)
	}

	mongo.Start(t)
	svc.WaitStatus(t, "/readyz", http.StatusOK)
	if code, body := svc.Do(t, "GET", "/me", "", reg.Token); code != http.StatusOK {
		t.Fatalf("token issued before the outage no longer works: %d %s", code, body)
	}
	logs := svc.Logs()
	if strings.Contains(logs, "password1") || strings.Contains(logs, "$2a$") {
		t.Fatal("a password or hash reached the log")
	}
	if !strings.Contains(logs, `"route":"/register"`) || !strings.Contains(logs, `"request_id"`) {
		t.Fatalf("request log lines missing:\n%s", logs)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	testkit.ExpectRunRejects(t, run, []testkit.BadConfig{
		{Name: "bad uri", Env: map[string]string{"MONGO_URI": "postgres://x"}, Want: "MONGO_URI"},
		{Name: "low bcrypt cost", Env: map[string]string{"BCRYPT_COST": "4"}, Want: "BCRYPT_COST"},
		{Name: "bad ttl", Env: map[string]string{"TOKEN_TTL": "forever"}, Want: "TOKEN_TTL"},
		{Name: "bad log level", Env: map[string]string{"LOG_LEVEL": "loud"}, Want: "LOG_LEVEL"},
		{Name: "short demo password", Env: map[string]string{"DEMO_PASSWORD": "short"}, Want: "DEMO_PASSWORD"},
		{Name: "bad trusted proxy", Env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, frontend"}, Want: "TRUSTED_PROXIES"},
	})
}
