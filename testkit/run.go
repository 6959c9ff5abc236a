package testkit

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/kit"
)

// RunningService is a service's real run function serving on a free loopback port.
type RunningService struct {
	Base string // http://127.0.0.1:port
	logs *Buffer
}

// RunService starts run with env (LISTEN_ADDR is added) and, when the test ends,
// cancels its context as SIGTERM would and fails the test unless run returns nil.
func RunService(t *testing.T, run kit.RunFunc, env map[string]string) *RunningService {
	t.Helper()
	port := strconv.Itoa(FreePort(t))
	vars := map[string]string{"LISTEN_ADDR": "127.0.0.1:" + port}
	for k, v := range env {
		vars[k] = v
	}
	s := &RunningService{Base: "http://127.0.0.1:" + port, logs: &Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, Env(vars), s.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after shutdown; logs:\n%s", err, s.Logs())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("run did not return within 30 s of shutdown")
		}
	})
	return s
}

// Logs returns everything the service logged so far.
func (s *RunningService) Logs() string { return s.logs.String() }

// Do sends a request and returns the status (0 if the request failed) and body.
func (s *RunningService) Do(t testing.TB, method, path, body, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := HTTPClient().Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// WaitStatus polls GET path until it answers want, failing the test after 30 s.
// It returns how long that took.
func (s *RunningService) WaitStatus(t testing.TB, path string, want int) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, _ := s.Do(t, "GET", path, "", "")
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("GET %s: status %d, want %d; logs:\n%s", path, got, want, s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BadConfig is an environment run must refuse, with what its error must name.
type BadConfig struct {
	Name string
	Env  map[string]string
	Want string
}

// ExpectRunRejects checks that run fails at start-up for each case with an error
// naming the bad variable.
func ExpectRunRejects(t *testing.T, run kit.RunFunc, cases []BadConfig) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			err := run(context.Background(), Env(tc.Env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.Want) {
				t.Fatalf("run = %v, want an error naming %s", err, tc.Want)
			}
		})
	}
}

// ExpectMetric fails unless the running service's /metrics has a line
// matching pattern (a regular expression over the whole line).
func (s *RunningService) ExpectMetric(t testing.TB, pattern string) {
	t.Helper()
	code, body := s.Do(t, "GET", "/metrics", "", "")
	if code != http.StatusOK || !regexp.MustCompile(`(?m)^`+pattern+`$`).Match(body) {
		t.Errorf("/metrics (%d) has no line matching %s", code, pattern)
	}
}
