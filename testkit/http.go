package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Env turns a map into a getenv function for a service's run or loadConfig.
func Env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// Request is one HTTP request in a handler test.
type Request struct {
	Method string
	Path   string
	// Body is sent as JSON unless it is a string or []byte, which are sent as is.
	Body    any
	Token   string
	Headers map[string]string
	// RemoteAddr is the peer the request comes from (host:port); empty:
	// httptest's 192.0.2.1:1234.
	RemoteAddr string
}

// prepare sets r's body (JSON unless a string or []byte) and headers from req.
func (req Request) prepare(t testing.TB, r *http.Request) {
	t.Helper()
	var raw []byte
	switch b := req.Body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatalf("marshal body: %v", err)
		}
	}
	if req.Body != nil {
		r.Body = io.NopCloser(bytes.NewReader(raw))
		r.ContentLength = int64(len(raw))
		r.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		r.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Headers {
		r.Header.Set(k, v)
	}
	if req.RemoteAddr != "" {
		r.RemoteAddr = req.RemoteAddr
	}
}

// Serve sends req through h (a router) and returns the recorded response.
func Serve(t testing.TB, h http.Handler, req Request) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(req.Method, req.Path, nil)
	req.prepare(t, r)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// ErrorBody is the error envelope of docs/architecture.md, for asserting on error responses.
type ErrorBody struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// Decode parses a JSON response body into a new T, failing the test if it is not JSON.
func Decode[T any](t testing.TB, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("response is not the expected JSON: %v\n%s", err, body)
	}
	return v
}

// ExpectStatus fails the test unless the response has status want.
func ExpectStatus(t testing.TB, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("status = %d, want %d; body: %s", w.Code, want, w.Body.String())
	}
}

// ExpectError fails the test unless the response is an error envelope with the
// given status and code.
func ExpectError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) ErrorBody {
	t.Helper()
	ExpectStatus(t, w, status)
	e := Decode[ErrorBody](t, w.Body.Bytes())
	if e.Error.Code != code {
		t.Fatalf("error code = %q, want %q; body: %s", e.Error.Code, code, w.Body.String())
	}
	if e.Error.Message == "" {
		t.Fatalf("error without message: %s", w.Body.String())
	}
	return e
}

// HTTPClient is a client with a timeout for tests that talk to a real listener.
func HTTPClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

// Send makes req over real HTTP to the server at base and returns the status
// and body.
func Send(t testing.TB, base string, req Request) (int, []byte) {
	t.Helper()
	code, b, err := TrySend(t, base, req)
	if err != nil {
		t.Fatal(err)
	}
	return code, b
}

// TrySend is Send for tests that expect failures (a server down mid-request):
// a transport error is returned, not fatal.
func TrySend(t testing.TB, base string, req Request) (int, []byte, error) {
	t.Helper()
	r, err := http.NewRequest(req.Method, base+req.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.prepare(t, r)
	resp, err := HTTPClient().Do(r)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read answer: %w", req.Method, req.Path, err)
	}
	return resp.StatusCode, b, nil
}

// ExpectMetrics fails unless h's /metrics holds each of lines exactly
// (`name{label="value"} 1`).
func ExpectMetrics(t testing.TB, h http.Handler, lines ...string) {
	t.Helper()
	w := Serve(t, h, Request{Method: "GET", Path: "/metrics"})
	for _, line := range lines {
		if !strings.Contains("\n"+w.Body.String(), "\n"+line+"\n") {
			var ours []string
			for _, l := range strings.Split(w.Body.String(), "\n") {
				if strings.HasPrefix(l, "roboshop_") {
					ours = append(ours, l)
				}
			}
			t.Errorf("/metrics lacks %q; the shop's own lines:\n%s", line, strings.Join(ours, "\n"))
		}
	}
}
