package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/kit"
	"github.com/roboshop-go/roboshop/testkit"
)

// TestNeighboursCannotChooseTheirThrottleKey: with the default TRUSTED_PROXIES
// a peer on a private address (any neighbour of the user service) that
// rotates X-Real-IP is still one address to the login throttle and is locked
// out; nginx on loopback (dev.sh, the tests' stacks) is still believed.
func TestNeighboursCannotChooseTheirThrottleKey(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	defaults, err := loadConfig(testkit.Env(map[string]string{"MONGO_URI": app.cfg.MongoURI}))
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.cfg
	cfg.TrustedProxies = defaults.TrustedProxies
	router := newRouter(slog.New(slog.NewJSONHandler(io.Discard, nil)), kit.NewRegistry(),
		func(context.Context) error { return nil }, app.store, app.keys, app.pw, cfg)
	tests := []struct {
		name, peer string
		wantLocked bool
	}{
		{"a neighbour in 10.0.0.0/8", "10.0.3.7:40000", true},
		{"a neighbour in 172.16.0.0/12", "172.18.0.9:40000", true},
		{"a neighbour in 192.168.0.0/16", "192.168.1.20:40000", true},
		{"a neighbour in fc00::/7", "[fd00::7]:40000", true},
		{"nginx on loopback", "127.0.0.1:40000", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			email := "rotating" + strconv.Itoa(i) + "@example.com"
			attempts := cfg.Login.PerAddress + 5 // 8 with the tests' 3 free attempts
			locked := 0
			for n := range attempts {
				w := testkit.Serve(t, router, testkit.Request{Method: "POST", Path: "/login", RemoteAddr: tc.peer,
					Body:    map[string]string{"email": email, "password": "wrong-guess"},
					Headers: map[string]string{"X-Real-IP": "198.51.100." + strconv.Itoa(10+n)}})
				if w.Code == http.StatusTooManyRequests {
					locked++
				}
			}
			if got := locked > 0; got != tc.wantLocked {
				t.Fatalf("%d of %d rotating-address guesses refused: locked %v, want %v", locked, attempts, got, tc.wantLocked)
			}
			stored, err := app.store.CountAttempts(testkit.Context(t), email, netip.MustParseAddrPort(tc.peer).Addr().String(), time.Now().Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: cfg.Login.PerAddress, false: 0}[tc.wantLocked]; stored != want {
				t.Fatalf("%d attempts stored under the peer's own address, want %d", stored, want)
			}
		})
	}
}

// dnsAnswers stands in for the resolver (not the project's): each lookup
// returns the current answer and is counted.
type dnsAnswers struct {
	mu      sync.Mutex
	addrs   []netip.Addr
	err     error
	lookups int
}

func (d *dnsAnswers) set(err error, addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err, d.addrs = err, nil
	for _, a := range addrs {
		d.addrs = append(d.addrs, netip.MustParseAddr(a))
	}
}

func (d *dnsAnswers) lookup(context.Context, string, string) ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	return d.addrs, d.err
}

func requestFrom(peer, claimed string) *http.Request {
	r := httptest.NewRequest("POST", "/login", nil)
	r.RemoteAddr = peer
	if claimed != "" {
		r.Header.Set("X-Real-IP", claimed)
	}
	return r
}

// TestTrustedProxyNamesFollowTheirAddresses: a name in TRUSTED_PROXIES is
// believed at the addresses it has now. A frontend that starts after the
// user service is believed on its first request; once it is replaced, its
// old address (perhaps another container's now) is not; a name that is gone
// trusts nobody; a resolver that fails keeps the last answer; and strangers
// cannot make it look up more than once per minGap.
func TestTrustedProxyNamesFollowTheirAddresses(t *testing.T) {
	t.Parallel()
	notFound := &net.DNSError{Err: "no such host", Name: "frontend", IsNotFound: true}
	type step struct {
		answer  []string
		err     error
		peer    string
		bare    bool // no X-Real-IP
		want    string
		lookups int // total so far
	}
	tests := []struct {
		name           string
		minGap, maxAge time.Duration
		steps          []step
	}{
		{"a frontend that starts later is believed at once", 0, time.Hour, []step{
			{err: notFound, peer: "10.0.0.5:1", want: "10.0.0.5", lookups: 1},
			{answer: []string{"10.0.0.5"}, peer: "10.0.0.5:1", want: "203.0.113.9", lookups: 2},
			{answer: []string{"10.0.0.5"}, peer: "10.0.0.5:1", want: "203.0.113.9", lookups: 2},
		}},
		{"a replaced frontend's old address is not believed", 0, 0, []step{
			{answer: []string{"10.0.0.5"}, peer: "10.0.0.5:1", want: "203.0.113.9", lookups: 1},
			{answer: []string{"10.0.0.6"}, peer: "10.0.0.5:1", want: "10.0.0.5", lookups: 2},
			{answer: []string{"10.0.0.6"}, peer: "10.0.0.6:1", want: "203.0.113.9", lookups: 3},
		}},
		{"a name that is gone trusts nobody", 0, 0, []step{
			{answer: []string{"10.0.0.5"}, peer: "10.0.0.5:1", want: "203.0.113.9", lookups: 1},
			{err: notFound, peer: "10.0.0.5:1", want: "10.0.0.5", lookups: 2},
		}},
		{"a failing resolver keeps the last answer", 0, 0, []step{
			{answer: []string{"10.0.0.5"}, peer: "10.0.0.5:1", want: "203.0.113.9", lookups: 1},
			{err: errors.New("i/o timeout"), peer: "10.0.0.5:1", want: "203.0.113.9", lookups: 2},
		}},
		{"strangers look up at most once per gap", time.Hour, time.Hour, []step{
			{answer: []string{"10.0.0.5"}, peer: "10.0.0.9:1", want: "10.0.0.9", lookups: 1},
			{answer: []string{"10.0.0.9"}, peer: "10.0.0.9:1", want: "10.0.0.9", lookups: 1},
			{answer: []string{"10.0.0.9"}, peer: "10.0.0.5:1", want: "203.0.113.9", lookups: 1},
		}},
		{"without the header nothing is looked up", 0, 0, []step{
			{answer: []string{"10.0.0.5"}, peer: "10.0.0.5:1", bare: true, want: "10.0.0.5", lookups: 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dns := &dnsAnswers{}
			p := newTrustedProxies([]string{"frontend"})
			p.lookup, p.minGap, p.maxAge = dns.lookup, tc.minGap, tc.maxAge
			for i, s := range tc.steps {
				dns.set(s.err, s.answer...)
				claimed := "203.0.113.9"
				if s.bare {
					claimed = ""
				}
				got := p.clientAddr(requestFrom(s.peer, claimed))
				if got != s.want || dns.lookups != s.lookups {
					t.Fatalf("step %d: client %s after %d lookups, want %s after %d", i, got, dns.lookups, s.want, s.lookups)
				}
			}
		})
	}
	t.Run("a real name through the real resolver", func(t *testing.T) {
		p := newTrustedProxies([]string{"localhost"})
		if got := p.clientAddr(requestFrom("127.0.0.1:1", "203.0.113.9")); got != "203.0.113.9" {
			t.Fatalf("nginx at localhost not believed: client %s", got)
		}
		if got := p.clientAddr(requestFrom("10.0.0.5:1", "203.0.113.9")); got != "10.0.0.5" {
			t.Fatalf("a stranger believed: client %s", got)
		}
	})
}
