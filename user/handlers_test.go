package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/roboshop-go/roboshop/kit"
	"github.com/roboshop-go/roboshop/testkit"
)

type authBody struct {
	User  User   `json:"user"`
	Token string `json:"token"`
}

func register(t *testing.T, app *testApp, email, password string) authBody {
	t.Helper()
	w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/register",
		Body: map[string]string{"email": email, "name": "Ada Lovelace", "password": password}})
	testkit.ExpectStatus(t, w, http.StatusCreated)
	return testkit.Decode[authBody](t, w.Body.Bytes())
}

func TestRegisterLoginMe(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	reg := register(t, app, "  Ada@Example.COM ", "correct horse")
	if reg.User.Email != "ada@example.com" || reg.User.ID == "" || reg.Token == "" {
		t.Fatalf("register answered %+v", reg)
	}

	w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/login",
		Body: map[string]string{"email": "ada@example.com", "password": "correct horse"}})
	testkit.ExpectStatus(t, w, http.StatusOK)
	if strings.Contains(w.Body.String(), "password") || strings.Contains(w.Body.String(), "$2a$") {
		t.Fatalf("login response leaks the password hash: %s", w.Body.String())
	}
	login := testkit.Decode[authBody](t, w.Body.Bytes())
	if login.User.ID != reg.User.ID {
		t.Fatalf("login user %q, registered %q", login.User.ID, reg.User.ID)
	}

	w = testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/me", Token: login.Token})
	testkit.ExpectStatus(t, w, http.StatusOK)
	me := testkit.Decode[authBody](t, w.Body.Bytes())
	if me.User.Email != "ada@example.com" || me.User.Name != "Ada Lovelace" {
		t.Fatalf("/me = %+v", me.User)
	}
}

func TestDemoAccountSeededOnce(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	if err := seedDemo(testkit.Context(t), app.store, app.cfg); err != nil {
		t.Fatalf("second seed: %v", err)
	}
	w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/login",
		Body: map[string]string{"email": "demo@roboshop.example", "password": "roboshop-demo"}})
	testkit.ExpectStatus(t, w, http.StatusOK)
}

func TestRegisterRejects(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	register(t, app, "taken@example.com", "password1")
	tests := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"duplicate email", map[string]string{"email": "TAKEN@example.com", "name": "B", "password": "password1"}, 409, "email_taken", ""},
		{"malformed json", `{"email": "a@b.c", `, 400, "malformed_json", ""},
		{"not an object", `[1,2]`, 400, "malformed_json", ""},
		{"trailing data", `{"email":"x@example.com","name":"X","password":"password1"} {}`, 400, "malformed_json", ""},
		{"unknown field", map[string]any{"email": "u@example.com", "name": "U", "password": "password1", "role": "admin"}, 422, "validation_failed", "role"},
		{"wrong type", map[string]any{"email": "u@example.com", "name": 7, "password": "password1"}, 422, "validation_failed", "name"},
		{"bad email", map[string]string{"email": "not-an-email", "name": "U", "password": "password1"}, 422, "validation_failed", "email"},
		{"display-name email", map[string]string{"email": "Bob <bob@example.com>", "name": "U", "password": "password1"}, 422, "validation_failed", "email"},
		{"short password", map[string]string{"email": "s@example.com", "name": "U", "password": "short"}, 422, "validation_failed", "password"},
		{"long password", map[string]string{"email": "l@example.com", "name": "U", "password": strings.Repeat("x", 73)}, 422, "validation_failed", "password"},
		{"empty name", map[string]string{"email": "n@example.com", "name": "  ", "password": "password1"}, 422, "validation_failed", "name"},
		{"control char in name", map[string]string{"email": "n@example.com", "name": "a\nb", "password": "password1"}, 422, "validation_failed", "name"},
		{"oversize body", map[string]string{"email": "o@example.com", "name": strings.Repeat("n", 5000), "password": "password1"}, 413, "body_too_large", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/register", Body: tc.body})
			e := testkit.ExpectError(t, w, tc.status, tc.code)
			if tc.field != "" && e.Error.Fields[tc.field] == "" {
				t.Fatalf("no message for field %q: %s", tc.field, w.Body.String())
			}
		})
	}
	t.Run("wrong content type", func(t *testing.T) {
		w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/register", Body: `email=a`,
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
		testkit.ExpectError(t, w, http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
}

func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	register(t, app, "known@example.com", "password1")
	login := func(email, pw string) string {
		w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/login",
			Body: map[string]string{"email": email, "password": pw}})
		testkit.ExpectError(t, w, http.StatusUnauthorized, "invalid_credentials")
		return w.Body.String()
	}
	wrongPassword := login("known@example.com", "password2")
	unknownEmail := login("nobody@example.com", "password2")
	if wrongPassword != unknownEmail {
		t.Fatalf("bodies differ:\nwrong password: %s\nunknown email:  %s", wrongPassword, unknownEmail)
	}
}

func TestLoginLockout(t *testing.T) {
	t.Parallel()
	app := newTestApp(t) // 3 free attempts, then a 1 minute lock
	register(t, app, "victim@example.com", "password1")
	attempt := func(pw string) int {
		w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/login",
			Body: map[string]string{"email": "victim@example.com", "password": pw}})
		if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		return w.Code
	}
	for i := 1; i <= 3; i++ {
		if got := attempt("guess" + strings.Repeat("x", i)); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i, got)
		}
	}
	if got := attempt("password1"); got != http.StatusTooManyRequests {
		t.Fatalf("correct password while locked: status %d, want 429", got)
	}
	// An unknown email is locked the same way, so the lock reveals nothing.
	for i := 0; i < 3; i++ {
		testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/login",
			Body: map[string]string{"email": "ghost@example.com", "password": "whatever1"}})
	}
	w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/login",
		Body: map[string]string{"email": "ghost@example.com", "password": "whatever1"}})
	testkit.ExpectError(t, w, http.StatusTooManyRequests, "too_many_attempts")
}

func TestLockDuration(t *testing.T) {
	p := loginPolicy{FreeAttempts: 5, BaseLock: 30 * time.Second, MaxLock: 15 * time.Minute, Window: time.Hour}
	tests := []struct {
		failures int
		want     time.Duration
	}{{1, 0}, {4, 0}, {5, 30 * time.Second}, {6, time.Minute}, {9, 8 * time.Minute}, {10, 15 * time.Minute}, {1000, 15 * time.Minute}}
	for _, tc := range tests {
		if got := lockDuration(tc.failures, p); got != tc.want {
			t.Errorf("lockDuration(%d) = %s, want %s", tc.failures, got, tc.want)
		}
	}
}

func TestParallelGuessesAreAllCounted(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := time.Now()
			if err := app.store.RecordLoginFailure(testkit.Context(t), "race@example.com", now, now.Add(-time.Hour)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n, _, err := app.store.LoginFailures(testkit.Context(t), "race@example.com", time.Now().Add(-time.Hour))
	if err != nil || n != 10 {
		t.Fatalf("failures = %d, %v; want 10", n, err)
	}
	if err := app.store.ResetLoginFailures(testkit.Context(t), "race@example.com"); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := app.store.LoginFailures(testkit.Context(t), "race@example.com", time.Now().Add(-time.Hour)); n != 0 {
		t.Fatalf("failures after reset = %d, want 0", n)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	user := register(t, app, "tok@example.com", "password1")
	real, err := app.keys.signer()
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	impostor := newSigner(otherKey)
	sameKid := newSigner(otherKey)
	sameKid.jwk.Kid = real.jwk.Kid

	sign := func(method jwt.SigningMethod, key any, claims kit.Claims, kid string) string {
		tok := jwt.NewWithClaims(method, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(mod func(*kit.Claims)) kit.Claims {
		now := time.Now()
		c := kit.Claims{Role: kit.RoleUser, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: kit.TokenIssuer, Audience: jwt.ClaimStrings{kit.TokenAudience}, Subject: user.User.ID,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}}
		mod(&c)
		return c
	}
	expired, _, _ := real.issue(user.User.ID, kit.RoleUser, time.Now().Add(-2*time.Hour), time.Hour)
	foreign, _, _ := impostor.issue(user.User.ID, kit.RoleUser, time.Now(), time.Hour)
	forgedKid, _, _ := sameKid.issue(user.User.ID, kit.RoleUser, time.Now(), time.Hour)
	guest, _, _ := real.issue("guest-abc", kit.RoleGuest, time.Now(), time.Hour)

	tests := []struct {
		name   string
		token  string
		status int
	}{
		{"valid", user.Token, 200},
		{"missing", "", 401},
		{"garbage", "not.a.jwt", 401},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(func(*kit.Claims) {}), real.jwk.Kid), 401},
		{"HS256 with the public key as secret", sign(jwt.SigningMethodHS256, []byte(real.key.Public().(ed25519.PublicKey)), claims(func(*kit.Claims) {}), real.jwk.Kid), 401},
		{"expired", expired, 401},
		{"other key, other kid", foreign, 401},
		{"other key, our kid", forgedKid, 401},
		{"wrong audience", sign(jwt.SigningMethodEdDSA, real.key, claims(func(c *kit.Claims) { c.Audience = jwt.ClaimStrings{"someone-else"} }), real.jwk.Kid), 401},
		{"wrong issuer", sign(jwt.SigningMethodEdDSA, real.key, claims(func(c *kit.Claims) { c.Issuer = "evil" }), real.jwk.Kid), 401},
		{"no expiry", sign(jwt.SigningMethodEdDSA, real.key, claims(func(c *kit.Claims) { c.ExpiresAt = nil }), real.jwk.Kid), 401},
		{"unknown role", sign(jwt.SigningMethodEdDSA, real.key, claims(func(c *kit.Claims) { c.Role = "admin" }), real.jwk.Kid), 401},
		{"guest token", guest, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/me", Token: tc.token})
			testkit.ExpectStatus(t, w, tc.status)
		})
	}
}

func TestGuestTokenAndJWKS(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/guest"})
	testkit.ExpectStatus(t, w, http.StatusCreated)
	guest := testkit.Decode[tokenResponse](t, w.Body.Bytes())

	w = testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/.well-known/jwks.json"})
	testkit.ExpectStatus(t, w, http.StatusOK)
	set := testkit.Decode[kit.JWKSet](t, w.Body.Bytes())
	if len(set.Keys) != 1 || set.Keys[0].Alg != "EdDSA" || set.Keys[0].Crv != "Ed25519" {
		t.Fatalf("JWKS = %+v", set)
	}
	// Verify with nothing but the JWKS endpoint, as cart and payment do.
	srv := httptest.NewServer(app.router)
	defer srv.Close()
	jwks := kit.NewJWKSClient(srv.URL+"/.well-known/jwks.json", testkit.HTTPClient())
	p, err := kit.NewVerifier(jwks).Verify(testkit.Context(t), guest.Token)
	if err != nil {
		t.Fatalf("JWKS does not verify a fresh token: %v", err)
	}
	if p.Role != kit.RoleGuest || !strings.HasPrefix(p.Subject, "guest-") {
		t.Fatalf("guest principal = %+v", p)
	}
}
