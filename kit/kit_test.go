package kit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

func env(vars map[string]string) Getenv { return func(k string) string { return vars[k] } }

func TestEnv(t *testing.T) {
	e := NewEnv(env(map[string]string{"N": "7", "BAD_N": "x", "D": "90s", "BAD_D": "-1s", "B": "true", "L": "warn", "S": " v "}))
	if got := e.Int("N", 1, 0, 10); got != 7 {
		t.Errorf("Int = %d", got)
	}
	if got := e.Int("MISSING", 3, 0, 10); got != 3 {
		t.Errorf("Int default = %d", got)
	}
	if got := e.Duration("D", 0, 0, time.Hour); got != 90*time.Second {
		t.Errorf("Duration = %s", got)
	}
	if !e.Bool("B", false) || e.Level("L", slog.LevelInfo) != slog.LevelWarn || e.String("S", "") != "v" {
		t.Error("Bool, Level or String wrong")
	}
	if e.Err() != nil {
		t.Fatalf("unexpected error: %v", e.Err())
	}
	e.Int("BAD_N", 1, 0, 10)
	e.Duration("BAD_D", 0, 0, time.Hour)
	e.Required("NEEDED")
	err := e.Err()
	for _, name := range []string{"BAD_N", "BAD_D", "NEEDED"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

type bindTarget struct {
	Name string `json:"name"`
	Qty  int    `json:"qty"`
}

func TestBindJSON(t *testing.T) {
	r := NewEngine(slog.New(slog.NewJSONHandler(io.Discard, nil)), NewRegistry(), Faults{})
	r.POST("/", Handle(func(c *gin.Context) error {
		var v bindTarget
		if err := BindJSON(c, &v, 64); err != nil {
			return err
		}
		c.JSON(200, v)
		return nil
	}))
	tests := []struct {
		name, body, contentType string
		status                  int
		code, field             string
	}{
		{"ok", `{"name":"a","qty":2}`, "application/json", 200, "", ""},
		{"ok with charset", `{"name":"a"}`, "application/json; charset=utf-8", 200, "", ""},
		{"empty", ``, "application/json", 400, "malformed_json", ""},
		{"syntax", `{"name":`, "application/json", 400, "malformed_json", ""},
		{"array", `[]`, "application/json", 400, "malformed_json", ""},
		{"two values", `{} {}`, "application/json", 400, "malformed_json", ""},
		{"unknown field", `{"name":"a","admin":true}`, "application/json", 422, "validation_failed", "admin"},
		{"wrong type", `{"qty":"two"}`, "application/json", 422, "validation_failed", "qty"},
		{"too large", `{"name":"` + strings.Repeat("x", 100) + `"}`, "application/json", 413, "body_too_large", ""},
		{"too large after a valid object", `{"name":"a"}` + strings.Repeat(" ", 100), "application/json", 413, "body_too_large", ""},
		{"form", `name=a`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.code == "" {
				return
			}
			var e errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code != tc.code {
				t.Fatalf("body %s, want code %s", w.Body, tc.code)
			}
			if tc.field != "" && e.Error.Fields[tc.field] == "" {
				t.Fatalf("field %s not named: %s", tc.field, w.Body)
			}
		})
	}
}

func TestWriteErrorAndRequestLog(t *testing.T) {
	var logs bytes.Buffer
	r := NewEngine(slog.New(slog.NewJSONHandler(&logs, nil)), NewRegistry(), Faults{})
	r.GET("/internal", Handle(func(*gin.Context) error { return errors.New("db password=hunter2 leaked") }))
	r.GET("/down", Handle(func(*gin.Context) error { return fmt.Errorf("redis: %w", ErrUnavailable) }))
	r.GET("/panic", func(*gin.Context) { panic("boom") })
	r.GET("/teapot", Handle(func(*gin.Context) error { return NewError(418, "teapot", "short and stout") }))
	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/internal", 500, "internal_error"},
		{"/down", 503, "service_unavailable"},
		{"/panic", 500, "internal_error"},
		{"/teapot", 418, "teapot"},
		{"/missing", 404, "route_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			logs.Reset()
			req := httptest.NewRequest("GET", tc.path, nil)
			req.Header.Set(HeaderRequestID, "req-"+strings.TrimPrefix(tc.path, "/"))
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			var e errorBody
			if w.Code != tc.status || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error.Code != tc.code {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, tc.status, tc.code)
			}
			if strings.Contains(w.Body.String(), "hunter2") || strings.Contains(w.Body.String(), "boom") {
				t.Fatalf("internal detail leaked to the client: %s", w.Body)
			}
			if w.Header().Get(HeaderRequestID) != "req-"+strings.TrimPrefix(tc.path, "/") {
				t.Fatalf("request id not echoed: %q", w.Header().Get(HeaderRequestID))
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("want exactly one JSON log line, got %q", logs.String())
			}
			if line["request_id"] != "req-"+strings.TrimPrefix(tc.path, "/") || line["status"] != float64(tc.status) {
				t.Fatalf("log line %v", line)
			}
		})
	}
	t.Run("forged request id is replaced", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/teapot", nil)
		req.Header.Set(HeaderRequestID, "x\n{\"level\":\"ERROR\"}")
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if id := w.Header().Get(HeaderRequestID); len(id) != 32 || !validRequestID(id) {
			t.Fatalf("request id %q", id)
		}
	})
}

func TestHealthAndReady(t *testing.T) {
	var down atomic.Bool
	reg := NewRegistry()
	r := NewEngine(slog.New(slog.NewJSONHandler(io.Discard, nil)), reg, Faults{})
	Health(r, reg, func(ctx context.Context) error {
		if down.Load() {
			<-ctx.Done() // a datastore that hangs, not one that refuses
			return ctx.Err()
		}
		return nil
	})
	get := func(path string) int {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Code
	}
	datastoreUp := func() string {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		return regexp.MustCompile(`(?m)^roboshop_datastore_up .*$`).FindString(w.Body.String())
	}
	if get("/healthz") != 200 || get("/readyz") != 200 || get("/metrics") != 200 {
		t.Fatal("healthy service not answering 200")
	}
	if got := datastoreUp(); got != "roboshop_datastore_up 1" {
		t.Fatalf("with the datastore answering, /metrics says %q", got)
	}
	down.Store(true)
	if got := datastoreUp(); got != "roboshop_datastore_up 0" {
		t.Fatalf("with the datastore hung, /metrics says %q", got)
	}
	start := time.Now()
	if got := get("/readyz"); got != 503 {
		t.Fatalf("readyz with a hung dependency = %d", got)
	}
	if took := time.Since(start); took > 5*ReadyTimeout {
		t.Fatalf("readyz took %s; it must give up after about %s", took, ReadyTimeout)
	}
	if get("/healthz") != 200 {
		t.Fatal("healthz must not depend on the datastore")
	}
}

func TestServeDrainsInFlightRequests(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = w.Write([]byte("finished"))
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, slog.New(slog.NewJSONHandler(io.Discard, nil)), addr, h) }()

	var resp *http.Response
	var reqErr error
	got := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			resp, reqErr = (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr)
			if reqErr == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(got)
	}()
	<-started
	cancel() // SIGTERM while a request is in flight
	time.Sleep(100 * time.Millisecond)
	close(release)
	<-got
	if reqErr != nil {
		t.Fatalf("in-flight request failed: %v", reqErr)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "finished" {
		t.Fatalf("body %q", body)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v after a clean drain", err)
	}
}

func TestJWKSClient(t *testing.T) {
	pub1, priv1, _ := ed25519.GenerateKey(rand.Reader)
	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	var served atomic.Value
	served.Store(JWKSet{Keys: []JWK{PublicJWK(pub1)}})
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		_ = json.NewEncoder(w).Encode(served.Load())
	}))
	defer srv.Close()
	jwks := NewJWKSClient(srv.URL, NewHTTPClient(2*time.Second))
	jwks.minRefresh = 0
	v := NewVerifier(jwks)
	// Each token different, so the verifier's own memory of tokens never
	// answers and every Verify goes to the key source.
	var issued atomic.Int32
	issue := func(priv ed25519.PrivateKey) string {
		return signedToken(t, priv, fmt.Sprint("u", issued.Add(1)), time.Now().Add(time.Minute))
	}
	ctx := context.Background()
	if p, err := v.Verify(ctx, issue(priv1)); err != nil || p.Subject != "u1" {
		t.Fatalf("verify: %+v %v", p, err)
	}
	if _, err := v.Verify(ctx, issue(priv1)); err != nil || fetches.Load() != 1 {
		t.Fatalf("known key refetched: %d fetches, %v", fetches.Load(), err)
	}
	// Key rotation: an unknown kid triggers one refresh.
	served.Store(JWKSet{Keys: []JWK{PublicJWK(pub1), PublicJWK(pub2)}})
	if _, err := v.Verify(ctx, issue(priv2)); err != nil || fetches.Load() != 2 {
		t.Fatalf("rotated key: %d fetches, %v", fetches.Load(), err)
	}
	// Unknown kids are refetched at most once per minRefresh.
	jwks.minRefresh = time.Hour
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	for i := 0; i < 5; i++ {
		if _, err := v.Verify(ctx, issue(stranger)); !errors.Is(err, Unauthorized()) {
			t.Fatalf("unknown key: %v", err)
		}
	}
	if fetches.Load() != 2 {
		t.Fatalf("%d fetches; forged kids must not cause refetches within minRefresh", fetches.Load())
	}
	// The user service being down is a 503 matter, not a 401.
	down := NewVerifier(NewJWKSClient("http://127.0.0.1:1/jwks", NewHTTPClient(time.Second)))
	if _, err := down.Verify(ctx, issue(priv1)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("JWKS down: %v, want ErrUnavailable", err)
	}
}

// TestForgedKeyIDsCannotStallSignIn: with the user service hanging, six
// tokens with invented kids make one fetch between them (the others wait for
// it and are answered 503 when it fails, with no fetch of their own), a token
// whose key is cached is verified while that fetch still hangs, and a kid the
// fresh key set lacks is remembered: asking again fetches nothing.
func TestForgedKeyIDsCannotStallSignIn(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	var hang atomic.Bool
	entered, release := make(chan struct{}, 16), make(chan struct{})
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if hang.Load() {
			entered <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(JWKSet{Keys: []JWK{PublicJWK(pub)}})
	}))
	defer srv.Close()
	jwks := NewJWKSClient(srv.URL, NewHTTPClient(30*time.Second))
	jwks.minRefresh = 0 // every unknown kid may fetch: what is left to stop them is one fetch at a time
	v := NewVerifier(jwks)
	var issued atomic.Int32
	issue := func(priv ed25519.PrivateKey) string {
		return signedToken(t, priv, fmt.Sprint("u", issued.Add(1)), time.Now().Add(time.Minute))
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, issue(priv)); err != nil {
		t.Fatal(err)
	}

	hang.Store(true)
	forged := make(chan error, 6)
	for range 6 {
		_, stranger, _ := ed25519.GenerateKey(rand.Reader)
		token := issue(stranger)
		go func() { _, err := v.Verify(ctx, token); forged <- err }()
	}
	<-entered // one fetch hangs
	valid := make(chan error, 1)
	go func() { _, err := v.Verify(ctx, issue(priv)); valid <- err }()
	select {
	case err := <-valid:
		if err != nil {
			t.Fatalf("a token with a cached key, while a fetch hangs: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a token with a cached key waited for the hanging fetch")
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches while six forged kids wait; want the first and one in flight", n)
	}
	close(release)
	for range 6 {
		if err := <-forged; !errors.Is(err, ErrUnavailable) {
			t.Fatalf("a forged kid while the key set cannot be fetched: %v, want ErrUnavailable (503)", err)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the failed one; the others must not fetch again within the floor", n)
	}

	// A kid missing from a fresh key set is remembered as unknown.
	hang.Store(false)
	jwks.minRefresh, jwks.tried = time.Hour, time.Time{}
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	token := issue(stranger)
	if _, err := v.Verify(ctx, token); !errors.Is(err, Unauthorized()) || fetches.Load() != 3 {
		t.Fatalf("an unknown kid: %v after %d fetches; want 401 after one more", err, fetches.Load())
	}
	jwks.tried = time.Time{} // no floor: only the memory of the kid answers
	if _, err := v.Verify(ctx, issue(stranger)); !errors.Is(err, Unauthorized()) || fetches.Load() != 3 {
		t.Fatalf("the same unknown kid again: %v after %d fetches; want 401 and no fetch", err, fetches.Load())
	}
}

func TestQuery(t *testing.T) {
	tests := []struct {
		query     string
		limit     int
		badFields []string
	}{
		{"", 10, nil},
		{"limit=5", 5, nil},
		{"limit=0", 10, []string{"limit"}},
		{"limit=x&offset=-1", 10, []string{"limit", "offset"}},
		{"limit=1&limit=2", 10, []string{"limit"}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest("GET", "/?"+tc.query, nil)
			q := NewQuery(c)
			limit, _ := q.Int("limit", 10, 1, 50), q.Int("offset", 0, 0, 100)
			var e *Error
			err := q.Err()
			if limit != tc.limit || (err == nil) != (tc.badFields == nil) {
				t.Fatalf("limit %d, err %v", limit, err)
			}
			if err != nil && (!errors.As(err, &e) || len(e.Fields) != len(tc.badFields)) {
				t.Fatalf("fields %v, want %v", e.Fields, tc.badFields)
			}
		})
	}
}

func signedToken(t testing.TB, priv ed25519.PrivateKey, subject string, expires time.Time) string {
	t.Helper()
	return signedTokenWithKid(t, priv, PublicJWK(priv.Public().(ed25519.PublicKey)).Kid, subject, expires)
}

// signedTokenWithKid signs with priv whatever key id the header names, as a
// forger who copies a real key id would.
func signedTokenWithKid(t testing.TB, priv ed25519.PrivateKey, kid, subject string, expires time.Time) string {
	t.Helper()
	claims := Claims{Role: RoleGuest, RegisteredClaims: jwt.RegisteredClaims{Issuer: TokenIssuer, Subject: subject,
		Audience: jwt.ClaimStrings{TokenAudience}, IssuedAt: jwt.NewNumericDate(expires.Add(-time.Hour)), ExpiresAt: jwt.NewNumericDate(expires)}}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The steps share one verifier and one clock, in order.
func TestVerifierRemembersValidTokensUntilTheyExpire(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	start := time.Now().Truncate(time.Second)
	clock := start
	v := NewVerifier(StaticKeys{PublicJWK(pub).Kid: pub})
	v.now = func() time.Time { return clock }
	ctx := context.Background()
	valid := signedToken(t, priv, "g1", start.Add(time.Hour))

	for _, step := range []struct {
		name        string
		token       string
		at          time.Time
		wantSubject string // "" means rejected
		wantKept    int
	}{
		{"a valid token is verified and kept", valid, start, "g1", 1},
		{"then answered from memory", valid, start.Add(time.Minute), "g1", 1},
		// The stranger names the real key id, so the key is found and the
		// signature check is what must refuse it.
		{"a forged signature is rejected and not kept", signedTokenWithKid(t, stranger, PublicJWK(pub).Kid, "g2", start.Add(time.Hour)), start, "", 1},
		{"an expired token is rejected", signedToken(t, priv, "g3", start.Add(-time.Hour)), start, "", 1},
		{"a kept token stops working when it expires", valid, start.Add(2 * time.Hour), "", 1},
	} {
		t.Run(step.name, func(t *testing.T) {
			clock = step.at
			p, err := v.Verify(ctx, step.token)
			switch {
			case step.wantSubject == "" && !errors.Is(err, Unauthorized()):
				t.Errorf("Verify = %+v, %v; want Unauthorized()", p, err)
			case step.wantSubject != "" && (err != nil || p.Subject != step.wantSubject):
				t.Errorf("Verify = %+v, %v; want subject %s", p, err, step.wantSubject)
			}
			if n := v.verified.Len(); n != step.wantKept {
				t.Errorf("%d tokens kept, want %d", n, step.wantKept)
			}
		})
	}

	t.Run("memory stays bounded", func(t *testing.T) {
		clock = start
		for i := 0; i < verifiedCap+100; i++ {
			if _, err := v.Verify(ctx, signedToken(t, priv, fmt.Sprint("b", i), start.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
		}
		if n := v.verified.Len(); n > verifiedCap {
			t.Errorf("%d tokens kept, cap %d", n, verifiedCap)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	keys := StaticKeys{PublicJWK(pub).Kid: pub}
	token := signedToken(b, priv, "g1", time.Now().Add(time.Hour))
	ctx := context.Background()
	b.Run("first sight", func(b *testing.B) {
		for b.Loop() {
			if _, err := NewVerifier(keys).Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		v := NewVerifier(keys)
		for b.Loop() {
			if _, err := v.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestMemoDropsExpiredEntriesFirst(t *testing.T) {
	start := time.Now()
	m := NewMemo[string, int](4)
	m.Put("a", 1, start.Add(time.Second), start)
	m.Put("b", 2, start.Add(time.Second), start)
	m.Put("c", 3, start.Add(time.Minute), start)
	m.Put("d", 4, start.Add(time.Minute), start)
	later := start.Add(10 * time.Second)
	m.Put("e", 5, later.Add(time.Minute), later) // full: a and b have expired
	for _, tc := range []struct {
		key    string
		want   int
		wantOK bool
	}{{"a", 0, false}, {"b", 0, false}, {"c", 3, true}, {"d", 4, true}, {"e", 5, true}} {
		t.Run(tc.key, func(t *testing.T) {
			if got, ok := m.Get(tc.key, later); got != tc.want || ok != tc.wantOK {
				t.Errorf("Get(%s) = %d, %v; want %d, %v", tc.key, got, ok, tc.want, tc.wantOK)
			}
		})
	}
	if n := m.Len(); n != 3 {
		t.Errorf("%d entries held, want 3", n)
	}
}
