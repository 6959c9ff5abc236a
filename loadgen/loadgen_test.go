package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/frontend/nginxtest"
	"github.com/roboshop-go/roboshop/kit/loadreport"
	"github.com/roboshop-go/roboshop/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // "" means accepted
	}{
		{"defaults", nil, ""},
		{"loopback ip", []string{"-target", "http://127.0.0.2:9000"}, ""},
		{"ipv6 loopback", []string{"-target", "http://[::1]:8080"}, ""},
		{"remote host refused", []string{"-target", "http://shop.example.com"}, "only loopback targets"},
		{"private address refused", []string{"-target", "http://10.0.0.5:8080"}, "only loopback targets"},
		{"remote host allowed explicitly", []string{"-target", "http://shop.example.com", "-allow-host", "shop.example.com"}, ""},
		{"not http", []string{"-target", "ftp://127.0.0.1"}, "want http://host:port"},
		{"unbounded", []string{"-duration", "0s"}, "-duration"},
		{"too long", []string{"-duration", "2h"}, "-duration"},
		{"warmup longer than run", []string{"-duration", "5s", "-warmup", "5s"}, "-warmup"},
		{"unknown journey", []string{"-mix", "browse=1,shoplift=2"}, "-mix"},
		{"zero weights", []string{"-mix", "browse=0"}, "add up to 0"},
		{"too many users", []string{"-vus", "5000"}, "-vus"},
		{"endpoint mode", []string{"-endpoint", "GET /api/catalogue/products"}, ""},
		{"endpoint without method", []string{"-endpoint", "/api/catalogue/products"}, "-endpoint"},
		{"body not json", []string{"-endpoint", "POST /api/cart/cart/items", "-body", "{sku"}, "not JSON"},
		{"many shoppers", []string{"-shoppers", "16", "-mix", "checkout=1"}, ""},
		{"too many shoppers", []string{"-shoppers", "65"}, "-shoppers"},
		{"no shoppers", []string{"-shoppers", "0"}, "-shoppers"},
		{"shoppers on one address", []string{"-shoppers", "2", "-one-address"}, "own address"},
		{"shoppers repeating one request", []string{"-shoppers", "2", "-endpoint", "GET /x"}, "for journeys"},
		{"open loop", []string{"-rate", "25.5", "-mix", "checkout=1"}, ""},
		{"negative rate", []string{"-rate", "-1"}, "-rate"},
		{"rate beyond reason", []string{"-rate", "20000"}, "-rate"},
		{"open loop repeating one request", []string{"-rate", "5", "-endpoint", "GET /x"}, "closed loop"},
		{"open loop with iterations", []string{"-rate", "5", "-iterations", "3"}, "-iterations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			if tc.want == "" && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestSameSeedSameChoices(t *testing.T) {
	cfg, err := parseFlags([]string{"-mix", "browse=1,guest=1,buyer=1,checkout=1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	picks := func(seed uint64) string {
		s := &shopper{cfg: cfg, rng: rand.New(rand.NewPCG(seed, 0))}
		var b strings.Builder
		for i := 0; i < 30; i++ {
			b.WriteString(s.pick()[:2])
		}
		return b.String()
	}
	first, again := picks(7), picks(7)
	if first != again {
		t.Fatal("the same seed gave different journeys")
	}
	if picks(7) == picks(8) {
		t.Fatal("different seeds gave the same 30 journeys")
	}
	for _, name := range journeyNames {
		if !strings.Contains(picks(7), name[:2]) {
			t.Errorf("journey %s never picked", name)
		}
	}
}

// TestRunAgainstTheShop drives the real shop (nginx and the four services) for
// a few seconds and checks the report: every journey step ran and nothing
// failed beyond the expected 402 and 429.
func TestRunAgainstTheShop(t *testing.T) {
	base := nginxtest.Start(t, nginxtest.Shared(t))
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-target", base, "-vus", "4", "-duration", "4s", "-ramp-up", "0s",
		"-mix", "browse=30,guest=20,buyer=25,checkout=25", "-seed", "7", "-json", jsonPath, "-progress", "1s",
		"-events", "-max-errors", "0"}, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(stdout.String())
	if !strings.Contains(stderr.String(), "req/s") {
		t.Fatalf("no live progress: %q", stderr.String())
	}
	// The events, in order, each a line of its own among the human ones.
	var events []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if e, ok := loadreport.ParseEvent(line); ok {
			events = append(events, e.Event)
		}
	}
	if want := []string{loadreport.RunStarted, loadreport.RunEnded}; !slices.Equal(events, want) {
		t.Fatalf("events %v, want %v in:\n%s", events, want, stderr.String())
	}
	rep, err := loadreport.Read(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Count == 0 || rep.Total.Errors != 0 {
		t.Fatalf("%d requests, %d errors:\n%s", rep.Total.Count, rep.Total.Errors, stdout.String())
	}
	steps := map[string]loadreport.Series{}
	for _, s := range rep.Steps {
		steps[s.Name] = s
	}
	for _, step := range []string{"browse/categories", "browse/category", "browse/search", "browse/product",
		"guest/token", "guest/add-to-cart", "guest/view-cart", "buyer/register", "buyer/merge", "buyer/quote", "buyer/checkout", "buyer/orders",
		"checkout/catalogue", "checkout/guest", "checkout/add", "checkout/register", "checkout/merge", "checkout/quote", "checkout/checkout", "checkout/orders"} {
		if steps[step].Count == 0 {
			t.Errorf("step %s never ran", step)
		}
	}
	for _, s := range rep.Steps {
		if s.P50Millis <= 0 || s.P99Millis < s.P50Millis || s.MaxMillis < s.P99Millis {
			t.Errorf("%s: implausible percentiles %+v", s.Name, s)
		}
	}
}

// TestEndpointMode repeats single requests, as the benchmark's ceiling and
// per-endpoint phases do, including an authenticated POST.
// TestMaxErrorsFailsTheRun: a run whose requests fail exits with an error
// once the reports are written, so a script needs no sentence to read it;
// without -max-errors the same run succeeds.
func TestMaxErrorsFailsTheRun(t *testing.T) {
	// A loopback port nothing listens on: every request fails at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := "http://" + l.Addr().String()
	l.Close()
	for _, tt := range []struct {
		name    string
		flags   []string
		wantErr bool
	}{
		{"no limit", nil, false},
		{"limit 0", []string{"-max-errors", "0"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			jsonPath := filepath.Join(t.TempDir(), "report.json")
			args := append([]string{"-target", target, "-vus", "1", "-iterations", "1", "-mix", "browse=1", "-ramp-up", "0s",
				"-progress", "0", "-json", jsonPath}, tt.flags...)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, &stdout, &stderr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("run: %v, want an error: %v", err, tt.wantErr)
			}
			rep, rerr := loadreport.Read(jsonPath)
			if rerr != nil || rep.Total.Errors == 0 {
				t.Fatalf("the report is written either way and counts the failures: %+v, %v", rep.Total, rerr)
			}
		})
	}
}

func TestEndpointMode(t *testing.T) {
	base := nginxtest.Start(t, nginxtest.Shared(t))
	for _, args := range [][]string{
		{"-endpoint", "GET /api/catalogue/products/DR-001"},
		{"-endpoint", "POST /api/cart/cart/items", "-guest", "-body", `{"sku":"KP-001","qty":1}`},
	} {
		jsonPath := filepath.Join(t.TempDir(), "report.json")
		args = append(args, "-target", base, "-vus", "2", "-duration", "2s", "-ramp-up", "0s", "-progress", "0s", "-json", jsonPath)
		if err := run(context.Background(), args, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(jsonPath)
		var rep loadreport.Report
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatal(err)
		}
		var endpoint loadreport.Series
		for _, s := range rep.Steps {
			if s.Name == "endpoint" {
				endpoint = s
			}
		}
		if endpoint.Count < 10 || rep.Total.Errors != 0 {
			t.Fatalf("%v: %d requests to the endpoint, %d errors", args[:2], endpoint.Count, rep.Total.Errors)
		}
	}
}

// TestShoppersComeFromTheirOwnAddresses: on a loopback target each virtual
// user connects from its own address (so per-address limits act per shopper),
// -one-address puts them all on one, and a 429 is counted apart from the
// answers, never as throughput or an error, and makes the shopper wait.
func TestShoppersComeFromTheirOwnAddresses(t *testing.T) {
	var mu sync.Mutex
	var seen map[string]int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		seen[host]++
		n := seen[host]
		mu.Unlock()
		if n%2 == 0 { // every other request from an address is over its limit
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name      string
		extra     []string
		addresses int
	}{
		{"each its own", nil, 8},
		{"one address", []string{"-one-address"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = map[string]int{}
			jsonPath := filepath.Join(t.TempDir(), "report.json")
			args := append([]string{"-target", srv.URL, "-endpoint", "GET /x", "-vus", "8", "-iterations", "4",
				"-duration", "20s", "-ramp-up", "0s", "-progress", "0s", "-json", jsonPath}, tc.extra...)
			start := time.Now()
			if err := run(context.Background(), args, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			// Each shopper's second request is a 429, after which it waits a second.
			if took := time.Since(start); took < time.Second {
				t.Errorf("the run took %s: a 429 must make the shopper wait", took)
			}
			if len(seen) != tc.addresses {
				t.Fatalf("requests came from %d addresses, want %d: %v", len(seen), tc.addresses, seen)
			}
			raw, _ := os.ReadFile(jsonPath)
			var rep loadreport.Report
			if err := json.Unmarshal(raw, &rep); err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, n := range seen {
				total += n
			}
			if rep.Total.Count+rep.Total.Limited != int64(total) || rep.Total.Limited < int64(total)/2-int64(tc.addresses) ||
				rep.Total.Errors != 0 || rep.Total.PerSecond*rep.MeasuredSeconds > float64(rep.Total.Count)+0.5 {
				t.Fatalf("%d requests served: answered %d, rate-limited %d, errors %d, %.1f/s", total,
					rep.Total.Count, rep.Total.Limited, rep.Total.Errors, rep.Total.PerSecond)
			}
		})
	}
}

// TestShoppersTakeTurns: with -shoppers, each virtual user plays that many
// shoppers in turn, each from its own address and with its own account, all
// signed up before the run's clock starts, so a shopper's per-address limits
// see one person buying now and then. Against the real nginx, one shopper per
// virtual user buying non-stop runs into its limits (cart writes, checkouts);
// four in turn, making as many rounds, do not.
func TestShoppersTakeTurns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shoppers int
		limited  bool
	}{
		{"one shopper each buys into its limit", 1, true},
		{"four shoppers each in turn stay under it", 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := nginxtest.Start(t, nginxtest.Shared(t))
			jsonPath := filepath.Join(t.TempDir(), "report.json")
			// 8 rounds per virtual user within seconds, each 4 cart writes and a
			// checkout: nginx lets an address make 20 cart writes and 5
			// checkouts at once (its bursts), then 5 writes a second and one
			// checkout every 3 s.
			args := []string{"-target", base, "-vus", "2", "-shoppers", fmt.Sprint(tc.shoppers), "-iterations", "8",
				"-duration", "60s", "-ramp-up", "0s", "-mix", "checkout=1", "-progress", "0s", "-json", jsonPath}
			var stdout bytes.Buffer
			if err := run(context.Background(), args, &stdout, io.Discard); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(jsonPath)
			var rep loadreport.Report
			if err := json.Unmarshal(raw, &rep); err != nil {
				t.Fatal(err)
			}
			steps := map[string]loadreport.Series{}
			for _, s := range rep.Steps {
				steps[s.Name] = s
			}
			if rep.Total.Errors != 0 {
				t.Fatalf("%d errors:\n%s", rep.Total.Errors, stdout.String())
			}
			checkouts := steps["checkout/checkout"]
			if got := rep.Total.Limited > 0; got != tc.limited {
				t.Fatalf("requests rate-limited: %d (want some: %v); %d orders:\n%s", rep.Total.Limited, tc.limited, checkouts.Count, stdout.String())
			}
			if tc.shoppers == 1 {
				return
			}
			if checkouts.Count != 16 || rep.SignUp == nil || rep.SignUp.Shoppers != 8 || steps["checkout/register"].Count != 0 {
				t.Fatalf("want 8 shoppers signed up before the run and 16 orders in it; got %d orders, sign-up %+v, registrations in the run %d",
					checkouts.Count, rep.SignUp, steps["checkout/register"].Count)
			}
		})
	}
}

// TestEachShopperHasItsOwnAddress: the shoppers a virtual user plays each
// sign up once and then shop from an address of their own, in turn.
func TestEachShopperHasItsOwnAddress(t *testing.T) {
	var mu sync.Mutex
	registered, checkedOut := map[string]int{}, map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		switch r.URL.Path {
		case "/api/user/register":
			registered[host]++
		case "/api/payment/checkout":
			checkedOut[host]++
		}
		mu.Unlock()
		// Every step of the journey takes what it needs from one answer.
		_, _ = w.Write([]byte(`{"items":[{"sku":"A-1"}],"token":"t","total_cents":100}`))
	}))
	defer srv.Close()
	args := []string{"-target", srv.URL, "-vus", "2", "-shoppers", "3", "-iterations", "6", "-duration", "20s",
		"-ramp-up", "0s", "-mix", "checkout=1", "-progress", "0s"}
	if err := run(context.Background(), args, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if len(registered) != 6 || len(checkedOut) != 6 {
		t.Fatalf("registrations from %v, checkouts from %v: want 6 addresses each", registered, checkedOut)
	}
	for addr, n := range registered {
		if n != 1 || checkedOut[addr] != 2 {
			t.Errorf("%s registered %d times and checked out %d times, want once and twice", addr, n, checkedOut[addr])
		}
	}
}

// openLoopRun runs the load generator in open loop against srv (every answer
// serves every step) for d, and returns its report.
func openLoopRun(t *testing.T, srv *httptest.Server, d time.Duration, args ...string) loadreport.Report {
	t.Helper()
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	args = append([]string{"-target", srv.URL, "-duration", d.String(), "-mix", "browse=1", "-progress", "0s", "-json", jsonPath}, args...)
	if err := run(context.Background(), args, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	rep, err := loadreport.Read(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// everyStep answers each step of the browse journey from one body.
func everyStep(w http.ResponseWriter) {
	_, _ = w.Write([]byte(`{"items":[{"sku":"A-1","slug":"s"}]}`))
}

// TestOpenLoopStartsJourneysAtTheRate: -rate 40 for 3 s starts 120 journeys
// (one browse/categories each), evenly, however fast the answers come; a
// closed loop of the same users against the same server starts as many as
// answers allow.
func TestOpenLoopStartsJourneysAtTheRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { everyStep(w) }))
	defer srv.Close()
	rep := openLoopRun(t, srv, 3*time.Second, "-rate", "40", "-vus", "20")
	started, _ := rep.Step("browse/categories")
	if started.Count < 115 || started.Count > 121 || rep.Total.Errors != 0 || rep.Rate != 40 {
		t.Fatalf("open loop at 40/s for 3 s: %d journeys started, %d errors, rate %g in the report; want 120, 0, 40",
			started.Count, rep.Total.Errors, rep.Rate)
	}
	closed := openLoopRun(t, srv, 3*time.Second, "-vus", "20", "-ramp-up", "0s")
	if c, _ := closed.Step("browse/categories"); c.Count < 10*started.Count {
		t.Fatalf("the closed loop started %d journeys, the open loop %d: the open loop did not hold its rate", c.Count, started.Count)
	}
}

// TestOpenLoopCountsTheStallEveryArrivalSaw: the server stalls every request
// for a second once. Journeys keep arriving during the stall and each counts
// its wait from when it was due, so the stall shows in the percentiles; the
// closed loop's few users each see it once, and its p90 hides it
// (coordinated omission).
func TestOpenLoopCountsTheStallEveryArrivalSaw(t *testing.T) {
	var stallFrom atomic.Int64 // unix nanos; 0: not yet
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/catalogue/categories" {
			now := time.Now().UnixNano()
			stallFrom.CompareAndSwap(0, now+int64(time.Second)) // a second into the run
			if from := stallFrom.Load(); now >= from && now < from+int64(time.Second) {
				time.Sleep(time.Duration(from + int64(time.Second) - now)) // held until the stall ends
			}
		}
		everyStep(w)
	}))
	defer srv.Close()
	open := openLoopRun(t, srv, 4*time.Second, "-rate", "40", "-vus", "100")
	stallFrom.Store(0)
	closed := openLoopRun(t, srv, 4*time.Second, "-vus", "2", "-ramp-up", "0s", "-think", "25ms")
	o, _ := open.Step("browse/categories")
	c, _ := closed.Step("browse/categories")
	t.Logf("categories p90: open loop %.0f ms (%d), closed loop %.0f ms (%d)", o.P90Millis, o.Count, c.P90Millis, c.Count)
	if o.P90Millis < 300 || o.Errors != 0 {
		t.Fatalf("open loop: p90 %.1f ms, %d errors; a 1 s stall a quarter of the run must show in p90", o.P90Millis, o.Errors)
	}
	if c.P90Millis > 100 {
		t.Fatalf("closed loop: p90 %.1f ms; want it to hide the stall, as closed loops do (else this test shows nothing)", c.P90Millis)
	}
}

// TestOpenLoopCountsArrivalsNoUserCouldTake: with one virtual user and
// answers slower than the arrivals, the arrivals that find it busy fail (the
// rate was not sustained) instead of waiting, which would close the loop.
func TestOpenLoopCountsArrivalsNoUserCouldTake(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // a browse journey of 4 steps: 200 ms
		everyStep(w)
	}))
	defer srv.Close()
	rep := openLoopRun(t, srv, 2*time.Second, "-rate", "20", "-vus", "1")
	missed, _ := rep.Step("arrival")
	started, _ := rep.Step("browse/categories")
	if missed.Errors < 20 || started.Count > 12 || rep.Total.Errors != missed.Errors {
		t.Fatalf("40 arrivals at one user busy 200 ms each: %d started, %d missed, %d errors; want at most 12 started and the rest missed",
			started.Count, missed.Errors, rep.Total.Errors)
	}
}

// TestJourneyLatencyCountsFromWhenItWasDue: an open-loop journey that starts
// 300 ms after it was due (a late timer, a busy machine) counts those 300 ms
// in its first request, and only there.
func TestJourneyLatencyCountsFromWhenItWasDue(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { everyStep(w) }))
	defer srv.Close()
	cfg, err := parseFlags([]string{"-target", srv.URL, "-mix", "browse=1", "-rate", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		late      time.Duration
		wantFirst time.Duration
	}{{"on time", 0, 0}, {"300 ms late", 300 * time.Millisecond, 300 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			rec := newRecorder(start.Add(-time.Second), 0) // the run began before the journey was due
			s := &shopper{cfg: cfg, rec: rec, rng: rand.New(rand.NewPCG(1, 1)), ids: []*identity{{client: srv.Client()}}}
			s.journey(context.Background(), start.Add(-tc.late))
			rep := rec.report(cfg, time.Now())
			first, _ := rep.Step("browse/categories")
			second, _ := rep.Step("browse/category")
			if first.Count != 1 || first.MaxMillis < float64(tc.wantFirst.Milliseconds()) || first.MaxMillis > float64(tc.wantFirst.Milliseconds())+100 ||
				second.Count != 1 || second.MaxMillis > 100 {
				t.Fatalf("first request %.1f ms, second %.1f ms; want the first about %s more than its answer took, the second as it was",
					first.MaxMillis, second.MaxMillis, tc.wantFirst)
			}
		})
	}
}
