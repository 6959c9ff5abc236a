package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/testkit"
)

// syncBuffer collects the service's log output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunServesAndSurvivesMongoOutage drives the real run function over HTTP: the
// journey works, /readyz goes 503 while MongoDB is stopped and 200 again after it
// is back, the process keeps running throughout, and SIGTERM (ctx) drains cleanly.
func TestRunServesAndSurvivesMongoOutage(t *testing.T) {
	t.Parallel()
	mongo, uri := testkit.StartMongo(t, "users")
	port := testkit.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, testkit.Env(map[string]string{
			"LISTEN_ADDR": "127.0.0.1:" + strconv.Itoa(port), "MONGO_URI": uri, "BCRYPT_COST": "10",
		}), logs)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	}()

	client := testkit.HTTPClient()
	status := func(method, path, body, token string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	waitFor := func(path string, want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, _ := status("GET", path, "", "")
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: status %d, want %d; logs:\n%s", path, got, want, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	waitFor("/readyz", http.StatusOK)
	code, body := status("POST", "/register", `{"email":"run@example.com","name":"Run","password":"password1"}`, "")
	if code != http.StatusCreated {
		t.Fatalf("register: %d %s", code, body)
	}
	var reg authBody
	_ = json.Unmarshal(body, &reg)
	if code, body := status("GET", "/me", "", reg.Token); code != http.StatusOK {
		t.Fatalf("me: %d %s", code, body)
	}

	mongo.Stop()
	start := time.Now()
	waitFor("/readyz", http.StatusServiceUnavailable)
	t.Logf("readyz turned 503 %s after MongoDB stopped", time.Since(start).Round(time.Millisecond))
	waitFor("/healthz", http.StatusOK)
	if code, body := status("POST", "/login", `{"email":"run@example.com","password":"password1"}`, ""); code != http.StatusServiceUnavailable {
		t.Fatalf("login with MongoDB down: %d %s, want 503", code, body)
	}

	mongo.Start(t)
	waitFor("/readyz", http.StatusOK)
	if code, body := status("GET", "/me", "", reg.Token); code != http.StatusOK {
		t.Fatalf("token issued before the outage no longer works: %d %s", code, body)
	}
	if strings.Contains(logs.String(), "password1") {
		t.Fatal("a password reached the log")
	}
	if !strings.Contains(logs.String(), `"route":"/register"`) || !strings.Contains(logs.String(), `"request_id"`) {
		t.Fatalf("request log lines missing:\n%s", logs.String())
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad uri", map[string]string{"MONGO_URI": "postgres://x"}, "MONGO_URI"},
		{"low bcrypt cost", map[string]string{"BCRYPT_COST": "4"}, "BCRYPT_COST"},
		{"bad ttl", map[string]string{"TOKEN_TTL": "forever"}, "TOKEN_TTL"},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), testkit.Env(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
