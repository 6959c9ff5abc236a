package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

type config struct {
	Target     *url.URL
	VUs        int
	Duration   time.Duration
	Iterations int // per virtual user; 0: until Duration
	RampUp     time.Duration
	Think      time.Duration
	Warmup     time.Duration // excluded from the report
	Seed       int64
	Mix        map[string]int // journey -> weight
	JSONPath   string
	Progress   time.Duration
	// Events writes the run's events (loadreport.RunStarted, RunEnded) to
	// stderr as JSON lines, for a program that measures alongside.
	Events bool
	// MaxErrors makes the run fail (exit status 1, after the reports) when
	// more requests than this failed; negative: no limit.
	MaxErrors int64
	// Endpoint mode: every virtual user repeats one request instead of journeys.
	Endpoint string // "GET /api/catalogue/products"; empty: journeys
	Body     string // JSON body for the endpoint
	AsGuest  bool   // send a guest token (one per virtual user) with the endpoint
	// OneAddress keeps every virtual user on one source address (a rate-limit
	// demonstration); otherwise each connects from its own loopback address,
	// as shoppers come from their own addresses.
	OneAddress bool
	// Shoppers is how many shoppers each virtual user plays in turn, each
	// with its own address and account, signed up before the clock starts:
	// many shoppers buying now and then, rather than a few buying non-stop
	// into their own per-address limits.
	Shoppers int
	// Rate, when above 0, is open-loop load: this many journeys started per
	// second whatever the earlier ones are doing, each on a free virtual user
	// (VUs bounds how many are in flight), latency counted from when each
	// was due to start. 0: closed loop, VUs users each starting its next
	// journey when the last one ends.
	Rate float64
}

var journeyNames = []string{"browse", "guest", "buyer", "checkout"}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "frontend base URL")
	allowHost := fs.String("allow-host", "", "also allow this non-loopback target host (only hosts you run)")
	vus := fs.Int("vus", 16, "virtual users (1-1000)")
	duration := fs.Duration("duration", 30*time.Second, "how long to run (at most 1h)")
	iterations := fs.Int("iterations", 0, "journeys per virtual user (0: until -duration)")
	ramp := fs.Duration("ramp-up", 5*time.Second, "time over which virtual users start")
	think := fs.Duration("think", 0, "pause between steps of a journey")
	warmup := fs.Duration("warmup", 0, "initial period left out of the report")
	seed := fs.Int64("seed", 1, "random seed (same seed, same choices)")
	mix := fs.String("mix", "browse=60,guest=30,buyer=10", "journey weights")
	jsonPath := fs.String("json", "", "also write the report as JSON to this file")
	progress := fs.Duration("progress", time.Second, "live progress interval on stderr (0: off)")
	endpoint := fs.String("endpoint", "", `repeat one request instead of journeys, e.g. "GET /api/catalogue/products"`)
	body := fs.String("body", "", "JSON body for -endpoint")
	asGuest := fs.Bool("guest", false, "send a guest token (one per virtual user) with -endpoint")
	oneAddress := fs.Bool("one-address", false, "every virtual user from one source address (default: each its own 127.x address on a loopback target)")
	events := fs.Bool("events", false, `write the run's events to stderr as JSON lines ({"event":"run-started"}, then "run-ended"), for programs`)
	maxErrors := fs.Int64("max-errors", -1, "fail (exit status 1, after the reports) when more requests than this failed (-1: never)")
	shoppers := fs.Int("shoppers", 1, "shoppers each virtual user plays in turn, each with its own address and account, signed up before the clock starts (1-64)")
	rate := fs.Float64("rate", 0, "open loop: journeys started per second, however fast answers come (0: closed loop); -vus bounds how many are in flight")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	cfg := config{VUs: *vus, Duration: *duration, Iterations: *iterations, RampUp: *ramp, Think: *think,
		Warmup: *warmup, Seed: *seed, JSONPath: *jsonPath, Progress: *progress,
		Endpoint: *endpoint, Body: *body, AsGuest: *asGuest, OneAddress: *oneAddress, Shoppers: *shoppers,
		Events: *events, MaxErrors: *maxErrors, Rate: *rate}
	var errs []error
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("-target %q: want http://host:port", *target))
	} else if !allowedHost(u.Hostname(), *allowHost) {
		errs = append(errs, fmt.Errorf("-target %q: only loopback targets unless -allow-host names the host", *target))
	}
	cfg.Target = u
	if cfg.VUs < 1 || cfg.VUs > 1000 {
		errs = append(errs, errors.New("-vus must be 1 to 1000"))
	}
	if cfg.Duration <= 0 || cfg.Duration > time.Hour {
		errs = append(errs, errors.New("-duration must be above 0 and at most 1h: the run must end by itself"))
	}
	if cfg.Shoppers < 1 || cfg.Shoppers > 64 {
		errs = append(errs, errors.New("-shoppers must be 1 to 64"))
	} else if cfg.Shoppers > 1 && cfg.OneAddress {
		errs = append(errs, errors.New("-shoppers needs each shopper on its own address: drop -one-address"))
	} else if cfg.Shoppers > 1 && cfg.Endpoint != "" {
		errs = append(errs, errors.New("-shoppers is for journeys: -endpoint repeats one request as one shopper"))
	}
	if cfg.Rate < 0 || cfg.Rate > 10_000 {
		errs = append(errs, errors.New("-rate must be 0 to 10000 journeys a second"))
	} else if cfg.Rate > 0 && cfg.Endpoint != "" {
		errs = append(errs, errors.New("-rate starts journeys: -endpoint repeats one request in a closed loop"))
	} else if cfg.Rate > 0 && cfg.Iterations != 0 {
		errs = append(errs, errors.New("-rate runs for -duration: drop -iterations"))
	}
	if cfg.Iterations < 0 || cfg.Iterations > 1_000_000 {
		errs = append(errs, errors.New("-iterations must be 0 to 1000000"))
	}
	if cfg.Warmup < 0 || cfg.Warmup >= cfg.Duration {
		errs = append(errs, errors.New("-warmup must be shorter than -duration"))
	}
	if m, p, found := strings.Cut(cfg.Endpoint, " "); cfg.Endpoint != "" && (!found || (m != "GET" && m != "POST") || !strings.HasPrefix(p, "/")) {
		errs = append(errs, fmt.Errorf(`-endpoint %q: want "GET /path" or "POST /path"`, cfg.Endpoint))
	}
	if cfg.Body != "" && !json.Valid([]byte(cfg.Body)) {
		errs = append(errs, fmt.Errorf("-body %q is not JSON", cfg.Body))
	}
	if cfg.Mix, err = parseMix(*mix); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

func allowedHost(host, allow string) bool {
	if host == "localhost" || (allow != "" && strings.EqualFold(host, allow)) {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseMix(s string) (map[string]int, error) {
	mix := map[string]int{}
	total := 0
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 || !contains(journeyNames, name) {
			return nil, fmt.Errorf("-mix %q: want name=weight pairs with names %v", s, journeyNames)
		}
		mix[name] = n
		total += n
	}
	if total == 0 {
		return nil, fmt.Errorf("-mix %q: the weights add up to 0", s)
	}
	return mix, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sourceAddr is shopper i's own loopback source address, 127.1.0.1 onwards
// (Linux answers for all of 127.0.0.0/8), or nil where it shares one: a target
// that is not on loopback, or -one-address. Shopper i is virtual user i when
// each plays one; else virtual user v's shoppers are v*Shoppers onwards.
func (c config) sourceAddr(i int) *net.TCPAddr {
	if c.OneAddress {
		return nil
	}
	if ip := net.ParseIP(c.Target.Hostname()); (ip == nil || !ip.IsLoopback()) && c.Target.Hostname() != "localhost" {
		return nil
	}
	return &net.TCPAddr{IP: net.IPv4(127, byte(1+i/62500), byte(i/250%250), byte(i%250+1))}
}
