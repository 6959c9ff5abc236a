package kit

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGetLocalAsksTheRunningService: the image's health check and `metrics`
// reach the service on its own port, whatever host LISTEN_ADDR names.
func TestGetLocalAsksTheRunningService(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			_, _ = w.Write([]byte("http_requests_total 3\n"))
		case "/healthz":
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	for _, tc := range []struct {
		name, listen, path, wantOut, wantErr string
	}{
		{"metrics", ":" + port, "/metrics", "http_requests_total 3\n", ""},
		{"health", "0.0.0.0:" + port, "/healthz", "", ""},
		{"unhealthy", ":" + port, "/readyz", "", "status 503"},
		{"bad LISTEN_ADDR", "8080", "/healthz", "", "LISTEN_ADDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := getLocal(func(string) string { return tc.listen }, tc.path, &out)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if out.String() != tc.wantOut {
				t.Errorf("out = %q, want %q", out.String(), tc.wantOut)
			}
		})
	}
}
