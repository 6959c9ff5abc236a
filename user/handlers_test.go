package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/roboshop-go/roboshop/kit"
	"github.com/roboshop-go/roboshop/testkit"
	"golang.org/x/crypto/bcrypt"
)

type authBody struct {
	User        User   `json:"user"`
	Token       string `json:"token"`
	DeviceToken string `json:"device_token"`
}

func register(t testing.TB, app *testApp, email, password string) authBody {
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
	if err := seedDemo(testkit.Context(t), app.store, app.pw, app.cfg); err != nil {
		t.Fatalf("second seed: %v", err)
	}
	w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/login",
		Body: map[string]string{"email": "demo@roboshop.example", "password": "roboshop-demo"}})
	testkit.ExpectStatus(t, w, http.StatusOK)
}

// TestDemoAnswersOnlyWhereSeeded: the login page's hint comes from GET
// /demo, which names the configured account where one is seeded and is a
// 404 where none is (compose, the chart and EC2 by default).
func TestDemoAnswersOnlyWhereSeeded(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	for _, tc := range []struct {
		name     string
		seed     bool
		email    string
		wantCode int
		wantBody string
	}{
		{"seeded, the default account", true, "demo@roboshop.example", http.StatusOK, `"email":"demo@roboshop.example"`},
		{"seeded, another email", true, " Shop.Demo@Example.ORG", http.StatusOK, `"email":"shop.demo@example.org"`},
		{"not seeded", false, "demo@roboshop.example", http.StatusNotFound, `"no_demo_account"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := app.cfg
			cfg.SeedDemo, cfg.DemoEmail = tc.seed, tc.email
			router := newRouter(slog.New(slog.NewJSONHandler(io.Discard, nil)), kit.NewRegistry(),
				func(context.Context) error { return nil }, app.store, app.keys, app.pw, cfg)
			w := testkit.Serve(t, router, testkit.Request{Method: "GET", Path: "/demo"})
			testkit.ExpectStatus(t, w, tc.wantCode)
			if !strings.Contains(w.Body.String(), tc.wantBody) {
				t.Fatalf("GET /demo: %s, want %s in it", w.Body.String(), tc.wantBody)
			}
		})
	}
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

// login tries email and password from client address addr (X-Real-IP, as
// nginx sets it) and returns the status.
func login(t testing.TB, app *testApp, addr, email, password string) *httptest.ResponseRecorder {
	t.Helper()
	w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/login",
		Body: map[string]string{"email": email, "password": password}, Headers: map[string]string{"X-Real-IP": addr}})
	if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	return w
}

// parallelLogins sends n logins at once, the i-th from address addr(i), and
// returns their statuses.
func parallelLogins(t *testing.T, app *testApp, n int, addr func(int) string, email, password string) []int {
	t.Helper()
	codes := make([]int, n)
	testkit.InParallel(n, func(i int) { codes[i] = login(t, app, addr(i), email, password).Code })
	return codes
}

func TestLoginLockout(t *testing.T) {
	t.Parallel()
	app := newTestApp(t) // 3 attempts per address and account
	register(t, app, "victim@example.com", "password1")
	for i := 1; i <= 3; i++ {
		if w := login(t, app, "198.51.100.1", "victim@example.com", "guess"+strings.Repeat("x", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i, w.Code)
		}
	}
	tests := []struct {
		name, addr, email, password string
		status                      int
	}{
		{"the guessing address is locked, even with the password", "198.51.100.1", "victim@example.com", "password1", 429},
		{"the owner from another address gets in", "203.0.113.5", "victim@example.com", "password1", 200},
		{"without X-Real-IP the peer's own address counts", "", "victim@example.com", "password1", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := login(t, app, tc.addr, tc.email, tc.password); w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
		})
	}
	// An unknown email is locked the same way, so the lock reveals nothing.
	for i := 0; i < 3; i++ {
		login(t, app, "198.51.100.1", "ghost@example.com", "whatever1")
	}
	w := login(t, app, "198.51.100.1", "ghost@example.com", "whatever1")
	testkit.ExpectError(t, w, http.StatusTooManyRequests, "too_many_attempts")
	// The lockouts are the throttled logins.
	testkit.ExpectMetrics(t, app.router, `roboshop_registrations_total{outcome="registered"} 1`,
		`roboshop_logins_total{outcome="success"} 2`, `roboshop_logins_total{outcome="invalid_credentials"} 6`,
		`roboshop_logins_total{outcome="throttled"} 2`)

	t.Run("X-Real-IP from an untrusted peer is ignored", func(t *testing.T) {
		cfg := app.cfg
		cfg.TrustedProxies = []string{"10.0.0.1"} // not the test peer, 192.0.2.1
		pw, _ := newPasswords(cfg.BcryptCost)
		ready := func(ctx context.Context) error { return nil }
		spoofed := &testApp{router: newRouter(slog.New(slog.NewJSONHandler(io.Discard, nil)), kit.NewRegistry(), ready,
			app.store, app.keys, pw, cfg), store: app.store, cfg: cfg}
		for i := range 3 {
			login(t, spoofed, "198.51.100."+strconv.Itoa(200+i), "spoof@example.com", "whatever1")
		}
		w := login(t, spoofed, "198.51.100.250", "spoof@example.com", "whatever1")
		testkit.ExpectError(t, w, http.StatusTooManyRequests, "too_many_attempts")
	})
}

// TestParallelGuessesCannotRaceTheThrottle: 60 parallel wrong guesses from one
// address check at most 3 passwords; the count read back from the datastore
// agrees; the address stays locked and the owner elsewhere gets in.
func TestParallelGuessesCannotRaceTheThrottle(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	register(t, app, "target@example.com", "password1")
	const n = 60
	codes := parallelLogins(t, app, n, func(int) string { return "198.51.100.2" }, "target@example.com", "wrong-guess")
	checked, refused := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Errorf("unexpected status %d", c)
		}
	}
	stored, err := app.store.CountAttempts(testkit.Context(t), "target@example.com", "198.51.100.2", time.Now().Add(-time.Hour))
	if err != nil || checked > app.cfg.Login.PerAddress || checked+refused != n || stored != checked {
		t.Fatalf("%d passwords checked, %d refused, %d attempts stored (%v); want at most %d checked and stored",
			checked, refused, stored, err, app.cfg.Login.PerAddress)
	}
	// A refused attempt counts until it is deleted, so the burst may have
	// checked fewer than the limit: use up the rest, then the address is locked.
	for i := checked; i < app.cfg.Login.PerAddress; i++ {
		login(t, app, "198.51.100.2", "target@example.com", "wrong-guess")
	}
	if w := login(t, app, "198.51.100.2", "target@example.com", "password1"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("the right password from the guessing address: %d, want 429", w.Code)
	}
	if w := login(t, app, "203.0.113.6", "target@example.com", "password1"); w.Code != http.StatusOK {
		t.Fatalf("the owner from another address: %d, want 200", w.Code)
	}
	t.Logf("60 parallel guesses: %d checked, %d refused", checked, refused)
}

// TestHammeredAccountIsSlowedNotLocked: guesses from many addresses push the
// account past its ceiling; then one attempt per interval is checked (a burst
// from 20 new addresses checks one per second it lasts), and the owner still
// gets in.
func TestHammeredAccountIsSlowedNotLocked(t *testing.T) {
	t.Parallel()
	app := newTestApp(t) // ceiling 8, then one attempt per second
	register(t, app, "popular@example.com", "password1")
	for i := range 4 {
		for range 3 {
			login(t, app, "198.51.100."+strconv.Itoa(10+i), "popular@example.com", "wrong-guess")
		}
	}
	const n = 20
	started := time.Now()
	codes := parallelLogins(t, app, n, func(i int) string { return "198.51.100." + strconv.Itoa(100+i) }, "popular@example.com", "wrong-guess")
	// One check per interval: a burst spanning k intervals checks at most k+1.
	allowed := 1 + int(time.Since(started)/app.cfg.Login.SlowInterval) + 1
	checked := 0
	for _, c := range codes {
		if c == http.StatusUnauthorized {
			checked++
		}
	}
	if checked > allowed || checked == n {
		t.Fatalf("a burst from %d addresses at a slowed account checked %d passwords; want at most %d", n, checked, allowed)
	}
	for try := 0; ; try++ {
		w := login(t, app, "203.0.113.7", "popular@example.com", "password1")
		if w.Code == http.StatusOK {
			break
		}
		if w.Code != http.StatusTooManyRequests || try == 5 {
			t.Fatalf("owner, try %d: %d %s", try, w.Code, w.Body)
		}
		secs, _ := strconv.Atoi(w.Header().Get("Retry-After"))
		time.Sleep(time.Duration(secs) * time.Second)
	}
}

// TestKnownDeviceIsNotSlowedByOthersGuesses: guesses from fresh addresses
// keep a hammered account in its slow lane, where the owner's correct
// password from a new address is refused (before: 11 of 14 got 429). A
// browser that signed in before shows its device token and gets in every
// time, while the guesses stay slowed, and a device token that is forged,
// another account's or absent buys nothing.
func TestKnownDeviceIsNotSlowedByOthersGuesses(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	// Ceiling 8, then one attempt a minute: the slow lane stays busy however
	// slowly this machine hashes.
	app.cfg.Login.SlowInterval = time.Minute
	app.router = newRouter(slog.New(slog.NewJSONHandler(io.Discard, nil)), kit.NewRegistry(),
		func(context.Context) error { return nil }, app.store, app.keys, app.pw, app.cfg)
	device := register(t, app, "hammered@example.com", "password1").DeviceToken
	other := register(t, app, "someone-else@example.com", "password1").DeviceToken
	if device == "" || other == "" || device == other {
		t.Fatalf("register gave device tokens %q and %q", device, other)
	}
	for i := range 4 {
		for range 3 {
			login(t, app, "198.51.100."+strconv.Itoa(20+i), "hammered@example.com", "wrong-guess")
		}
	}
	withDevice := func(addr, token string) int {
		body := map[string]string{"email": "hammered@example.com", "password": "password1"}
		if token != "" {
			body["device_token"] = token
		}
		return testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/login", Body: body,
			Headers: map[string]string{"X-Real-IP": addr}}).Code
	}
	tests := []struct {
		name, token string
		want        int
	}{
		{"the owner's device", device, http.StatusOK},
		{"no device token", "", http.StatusTooManyRequests},
		{"a forged device token", device[:len(device)-4] + "AAAA", http.StatusTooManyRequests},
		{"another account's device token", other, http.StatusTooManyRequests},
		{"the user's access token", register(t, app, "third@example.com", "password1").Token, http.StatusTooManyRequests},
	}
	for round := range 3 {
		for i, tc := range tests {
			t.Run(fmt.Sprintf("%s, round %d", tc.name, round), func(t *testing.T) {
				// A guess from a fresh address first: the slow lane is busy.
				login(t, app, fmt.Sprintf("192.0.2.%d", 10*round+i), "hammered@example.com", "wrong-guess")
				if got := withDevice(fmt.Sprintf("203.0.113.%d", 10*round+i), tc.token); got != tc.want {
					t.Fatalf("login from a new address: %d, want %d", got, tc.want)
				}
			})
		}
	}
}

// TestUnknownEmailCostsTheConfiguredBcryptCost: the hash checked for an
// unknown email has the accounts' cost (it had bcrypt's default, 10, against
// accounts' 12: unknown emails answered in a quarter of the time).
func TestUnknownEmailCostsTheConfiguredBcryptCost(t *testing.T) {
	for _, cost := range []int{10, 11, 12} {
		t.Run(strconv.Itoa(cost), func(t *testing.T) {
			pw, err := newPasswords(cost)
			if err != nil {
				t.Fatal(err)
			}
			account, _ := pw.hash(context.Background(), "password1")
			for name, hash := range map[string][]byte{"dummy": pw.dummy, "account": account} {
				if got, err := bcrypt.Cost(hash); err != nil || got != cost {
					t.Fatalf("%s hash cost %d (%v), want %d", name, got, err, cost)
				}
			}
			if ok, err := pw.matches(context.Background(), nil, "roboshop-timing-equaliser"); ok || err != nil {
				t.Fatalf("an unknown email matched (%v)", err)
			}
		})
	}
}

// TestLookAlikeEmailsAndNames: emails are one account whatever their Unicode
// form or case; an address that reads like another one (an invisible
// character, a Cyrillic letter among Latin ones, a whole word of Cyrillic
// letters that look Latin) is refused, while accents and scripts of their own
// are welcome; names with text-direction controls are refused.
func TestLookAlikeEmailsAndNames(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	register(t, app, "Ａda.Ｌovelace@Example.com", "password1")
	tests := []struct {
		name, email, userName string
		status                int
		field                 string
	}{
		{"lower-case ASCII of a full-width email", "ada.lovelace@example.com", "Ada", 409, ""},
		{"upper case", "ADA.LOVELACE@EXAMPLE.COM", "Ada", 409, ""},
		{"a zero-width space in the email", "ada.love\u200Blace@example.com", "Ada", 422, "email"},
		{"a soft hyphen in the email", "ada.love\u00ADlace@example.com", "Ada", 422, "email"},
		{"a Cyrillic a in the local part", "\u0430da.lovelace@example.com", "Ada", 422, "email"},
		{"a Cyrillic a in the domain", "ada.lovelace@ex\u0430mple.com", "Ada", 422, "email"},
		{"a Greek o in the domain", "ada.lovelace@exampl\u03bf.com", "Ada", 422, "email"},
		{"a whole Cyrillic word that reads Latin", "\u0440\u0430\u0443\u0440\u0430\u04cf@example.com", "Ada", 422, "email"},
		{"accents are letters of their own", "jos\u00e9.m\u00fcller@example.com", "Jos\u00e9", 201, ""},
		{"a script of its own", "\u0430\u043d\u043d\u0430@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "\u0410\u043d\u043d\u0430", 201, ""},
		{"Japanese with Latin", "\u5c71\u7530taro@example.jp", "Taro", 201, ""},
		{"right-to-left override in the name", "rlo@example.com", "Ada\u202Egnp.exe", 422, "name"},
		{"first-strong isolate in the name", "fsi@example.com", "Ada\u2068x", 422, "name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/register",
				Body: map[string]string{"email": tc.email, "name": tc.userName, "password": "password1"}})
			testkit.ExpectStatus(t, w, tc.status)
			if tc.field != "" && !strings.Contains(w.Body.String(), `"`+tc.field+`"`) {
				t.Fatalf("field %s not named: %s", tc.field, w.Body)
			}
		})
	}
	if w := login(t, app, "198.51.100.3", "ADA.lovelace@example.COM", "password1"); w.Code != http.StatusOK {
		t.Fatalf("login in another case: %d", w.Code)
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

// TestPasswordChecksWaitForAFreeCore: bcrypt runs at most once per core at a
// time; a check that cannot get a turn before its request ends gives up as
// unavailable instead of piling onto the cores.
func TestPasswordChecksWaitForAFreeCore(t *testing.T) {
	pw, err := newPasswords(10)
	if err != nil {
		t.Fatal(err)
	}
	for range cap(pw.slots) { // every core busy
		pw.slots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := pw.hash(ctx, "password1"); !errors.Is(err, kit.ErrUnavailable) {
		t.Fatalf("hash with every core busy: %v, want unavailable", err)
	}
	if _, err := pw.matches(ctx, nil, "password1"); !errors.Is(err, kit.ErrUnavailable) {
		t.Fatalf("matches with every core busy: %v, want unavailable", err)
	}
	<-pw.slots // a core frees up
	var wg sync.WaitGroup
	var running, most atomic.Int32
	for range 4 * cap(pw.slots) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = pw.run(context.Background(), func() {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(5 * time.Millisecond)
				running.Add(-1)
			})
		}()
	}
	wg.Wait()
	if got := most.Load(); got != 1 {
		t.Fatalf("%d ran at once with one core free, want 1", got)
	}
}
