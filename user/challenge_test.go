package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/kit"
	"github.com/roboshop-go/roboshop/testkit"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// solve finds a proof for salt at bits, as the browser does: the decimal
// counters 0, 1, 2, ... until one has enough zero bits.
func solve(salt string, bits int) string {
	for i := 0; ; i++ {
		if p := strconv.Itoa(i); proofBits(salt, p) >= bits {
			return p
		}
	}
}

// challenge is what a 429 from the slow lane carries.
type challenge struct {
	token, salt string
	bits        int
}

func (c challenge) solved() string { return solve(c.salt, c.bits) }

// challengeOf returns the challenge a 429 carries.
func challengeOf(t testing.TB, w *httptest.ResponseRecorder) challenge {
	t.Helper()
	bits, err := strconv.Atoi(w.Header().Get(HeaderChallengeBits))
	c := challenge{token: w.Header().Get(HeaderChallenge), salt: w.Header().Get(HeaderChallengeSalt), bits: bits}
	if w.Code != http.StatusTooManyRequests || c.token == "" || c.salt == "" || err != nil {
		t.Fatalf("want a 429 with a challenge, got %d %v: %s", w.Code, w.Header(), w.Body)
	}
	return c
}

func loginWith(t testing.TB, app *testApp, addr, email, password, challenge, proof string) *httptest.ResponseRecorder {
	t.Helper()
	body := map[string]string{"email": email, "password": password}
	if challenge != "" || proof != "" {
		body["challenge"], body["proof"] = challenge, proof
	}
	return testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/login", Body: body,
		Headers: map[string]string{"X-Real-IP": addr}})
}

// laneApp is a test app whose slow lane admits one attempt per interval and
// whose challenges start at bits.
func laneApp(t *testing.T, interval time.Duration, bits int) *testApp {
	t.Helper()
	app := newTestApp(t)
	app.cfg.Login.SlowInterval = interval
	app.cfg.Login.ChallengeBits = bits
	app.router = newRouter(slog.New(slog.NewJSONHandler(io.Discard, nil)), kit.NewRegistry(),
		func(context.Context) error { return nil }, app.store, app.keys, app.pw, app.cfg)
	return app
}

// fillCeiling makes 12 wrong guesses at email from four addresses: past the
// tests' ceiling of 8, into the slow lane.
func fillCeiling(t *testing.T, app *testApp, email string) {
	t.Helper()
	for i := range 4 {
		for range 3 {
			login(t, app, "198.51.100."+strconv.Itoa(30+i), email, "wrong-guess")
		}
	}
}

// TestNewBrowserGetsInWhileGuessesStaySlowed is the issue's case: about two
// guesses a second from fresh addresses keep an account in its slow lane,
// and its owner, from a browser that never signed in and an address with no
// failures, tried 14 times (before: 11 × 429, 3 × 200). Now each refusal
// carries a challenge the owner's client solves, and every one of its logins
// gets in; the guesses that solve nothing still get one check per interval.
func TestNewBrowserGetsInWhileGuessesStaySlowed(t *testing.T) {
	t.Parallel()
	app := laneApp(t, time.Second, 14) // ceiling 8, then one check a second
	register(t, app, "hammered@example.com", "password1")
	fillCeiling(t, app, "hammered@example.com")

	var guessed, checked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 400; i++ { // bounded: 200 s at most
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			w := login(t, app, fmt.Sprintf("192.0.2.%d", 10+i%200), "hammered@example.com", "wrong-guess")
			guessed.Add(1)
			if w.Code == http.StatusUnauthorized {
				checked.Add(1)
			}
		}
	}()
	started := time.Now()
	const owners = 14
	passed, challenged := 0, 0
	for i := range owners {
		addr := fmt.Sprintf("203.0.113.%d", 10+i)
		w := login(t, app, addr, "hammered@example.com", "password1")
		if w.Code == http.StatusTooManyRequests {
			challenged++
			c := challengeOf(t, w)
			w = loginWith(t, app, addr, "hammered@example.com", "password1", c.token, c.solved())
		}
		if w.Code == http.StatusOK {
			passed++
		}
		time.Sleep(300 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(started)
	t.Logf("owner: %d of %d in (%d challenged); guesses: %d, %d checked in %s", passed, owners, challenged, guessed.Load(), checked.Load(), elapsed.Round(time.Millisecond))
	if passed != owners {
		t.Fatalf("the owner got in %d of %d times", passed, owners)
	}
	// The owner's own checks share the lane: guesses get what is left of one a second.
	if allowed := int64(elapsed/app.cfg.Login.SlowInterval) + 2; checked.Load() > allowed || checked.Load() == guessed.Load() {
		t.Fatalf("%d of %d guesses were checked in %s; want at most %d", checked.Load(), guessed.Load(), elapsed, allowed)
	}
}

// TestChallengeIsBoundAndSpentOnce: only a proof with the challenge's bits,
// for this account, from this service, unexpired and unspent, passes the
// slow lane; anything else is refused as the lane refuses (429 with a fresh
// challenge) or, malformed, as invalid.
func TestChallengeIsBoundAndSpentOnce(t *testing.T) {
	t.Parallel()
	// One check a minute: the lane stays busy however slowly this machine hashes.
	app := laneApp(t, time.Minute, 12)
	register(t, app, "hammered@example.com", "password1")
	register(t, app, "other@example.com", "password1")
	fillCeiling(t, app, "hammered@example.com")
	fillCeiling(t, app, "other@example.com")
	s, err := app.keys.signer()
	if err != nil {
		t.Fatal(err)
	}
	_, foreignKey, _ := ed25519.GenerateKey(rand.Reader)
	foreign := newSigner(foreignKey)
	issued := func(t *testing.T, sg *signer, email string, bits int, at time.Time) challenge {
		token, salt, err := sg.issueChallenge(email, bits, at)
		if err != nil {
			t.Fatal(err)
		}
		return challenge{token: token, salt: salt, bits: bits}
	}
	var guesser atomic.Int64
	fresh := func(t *testing.T, email string) challenge {
		// A new guess first, from a fresh address, so the lane is busy and answers with a challenge.
		addr := fmt.Sprintf("192.0.2.%d", 100+guesser.Add(1))
		c := challengeOf(t, login(t, app, addr, email, "wrong-guess"))
		if c.bits != 12 {
			t.Fatalf("challenge of %d bits, want the configured 12", c.bits)
		}
		return c
	}
	// A proof short of the bits: the first counter with fewer than 12 zero bits.
	short := func(c challenge) string {
		for i := 0; ; i++ {
			if p := strconv.Itoa(i); proofBits(c.salt, p) < 12 {
				return p
			}
		}
	}
	tests := []struct {
		name   string
		answer func(t *testing.T) (challenge, proof string)
		want   int
	}{
		{"solved", func(t *testing.T) (string, string) { c := fresh(t, "hammered@example.com"); return c.token, c.solved() }, 200},
		{"a proof short of the bits", func(t *testing.T) (string, string) { c := fresh(t, "hammered@example.com"); return c.token, short(c) }, 429},
		{"solved for another account", func(t *testing.T) (string, string) { c := fresh(t, "other@example.com"); return c.token, c.solved() }, 429},
		{"solved with another salt", func(t *testing.T) (string, string) {
			c := fresh(t, "hammered@example.com")
			c.salt = "0123456789abcdef01234567"
			return c.token, c.solved()
		}, 429},
		{"signed by another key", func(t *testing.T) (string, string) {
			c := issued(t, foreign, "hammered@example.com", 12, time.Now())
			return c.token, c.solved()
		}, 429},
		{"asking for fewer bits, signed by another key", func(t *testing.T) (string, string) {
			c := issued(t, foreign, "hammered@example.com", 1, time.Now())
			return c.token, c.solved()
		}, 429},
		{"expired", func(t *testing.T) (string, string) {
			c := issued(t, s, "hammered@example.com", 12, time.Now().Add(-challengeTTL-time.Second))
			return c.token, c.solved()
		}, 429},
		{"a device token in its place", func(t *testing.T) (string, string) {
			d, _ := s.issueDevice("hammered@example.com", time.Now())
			return d, solve("", 12)
		}, 429},
		{"a challenge without its proof", func(t *testing.T) (string, string) { return fresh(t, "hammered@example.com").token, "" }, 422},
		{"a proof too long", func(t *testing.T) (string, string) {
			return fresh(t, "hammered@example.com").token, fmt.Sprint(make([]int, 40))
		}, 422},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			challenge, proof := tc.answer(t)
			w := loginWith(t, app, fmt.Sprintf("203.0.113.%d", 20+i), "hammered@example.com", "password1", challenge, proof)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == http.StatusTooManyRequests {
				challengeOf(t, w) // refused as the lane refuses: with a fresh challenge
			}
		})
	}

	t.Run("spent once, under parallel replays", func(t *testing.T) {
		c := fresh(t, "hammered@example.com")
		token, proof := c.token, c.solved()
		const n = 20
		codes := make([]int, n)
		// Wrong passwords, so an admitted replay shows as 401 and spends nothing else.
		testkit.InParallel(n, func(i int) {
			codes[i] = loginWith(t, app, fmt.Sprintf("198.18.0.%d", i), "hammered@example.com", "wrong-guess", token, proof).Code
		})
		admitted, refused := 0, 0
		for _, c := range codes {
			switch c {
			case http.StatusUnauthorized:
				admitted++
			case http.StatusTooManyRequests:
				refused++
			}
		}
		id := s.solvedChallenge(token, proof, "hammered@example.com")
		stored, err := app.store.spent.CountDocuments(testkit.Context(t), bson.D{{Key: "_id", Value: id}})
		if err != nil || admitted != 1 || refused != n-1 || stored != 1 {
			t.Fatalf("%d parallel replays of one solved challenge: %d admitted, %d refused, %d records of its spending (%v); want 1, %d, 1",
				n, admitted, refused, stored, err, n-1)
		}
		// And afterwards, with the right password, it still buys nothing.
		if w := loginWith(t, app, "203.0.113.99", "hammered@example.com", "password1", token, proof); w.Code != http.StatusTooManyRequests {
			t.Fatalf("a spent challenge, replayed later: %d %s", w.Code, w.Body)
		}
	})

	t.Run("the address's own limit still holds", func(t *testing.T) {
		// Three guesses the lane lets through, each with its own solved challenge.
		for i := range 3 {
			c := fresh(t, "hammered@example.com")
			if w := loginWith(t, app, "198.51.100.200", "hammered@example.com", "wrong-guess", c.token, c.solved()); w.Code != http.StatusUnauthorized {
				t.Fatalf("solved guess %d: %d %s", i, w.Code, w.Body)
			}
		}
		c := fresh(t, "hammered@example.com")
		w := loginWith(t, app, "198.51.100.200", "hammered@example.com", "password1", c.token, c.solved())
		testkit.ExpectError(t, w, http.StatusTooManyRequests, "too_many_attempts")
		if w.Header().Get(HeaderChallenge) != "" {
			t.Fatal("a locked address was offered a challenge: no work gets it in")
		}
	})
}

// TestChallengesCostMoreAsGuessesDouble: the work starts at the configured
// bits at the ceiling and adds a bit per doubling, up to the extra allowed.
func TestChallengesCostMoreAsGuessesDouble(t *testing.T) {
	t.Parallel()
	policy := loginPolicy{AccountCeiling: 8, ChallengeBits: 18, ChallengeExtraBits: 4}
	tests := []struct{ attempts, want int }{
		{9, 18}, {15, 18}, {16, 19}, {31, 19}, {32, 20}, {64, 21}, {128, 22}, {1 << 20, 22},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.attempts), func(t *testing.T) {
			if got := challengeBits(policy, tc.attempts); got != tc.want {
				t.Fatalf("challengeBits(%d attempts) = %d, want %d", tc.attempts, got, tc.want)
			}
		})
	}
	t.Run("a solved proof has the bits it claims", func(t *testing.T) {
		for _, bits := range []int{1, 8, 16} {
			if p := solve("salt", bits); proofBits("salt", p) < bits {
				t.Fatalf("proof %q has %d bits, want %d", p, proofBits("salt", p), bits)
			}
		}
	})
}
