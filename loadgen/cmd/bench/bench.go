package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/roboshop-go/roboshop/kit/loadreport"
	"github.com/roboshop-go/roboshop/topology"
)

type phase struct {
	title   string
	target  string // topology.FrontendPart or "nginx-ceiling"
	service string // whose CPU and memory to read ("" for nginx alone)
	args    []string
	profile bool // take a CPU profile of service during the phase
}

type result struct {
	phase
	rep      loadreport.Report
	cpuPerRq time.Duration
	hwmKiB   int
	top      string
}

func bench(ctx context.Context, o options) error {
	repo, _ := filepath.Abs(o.repo)
	dir, err := os.MkdirTemp("", "roboshop-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // nginx workers read their temp dirs
		return err
	}
	s := &stack{bcryptCost: o.bcryptCost, gomaxprocs: o.gomaxprocs, serviceEnv: o.serviceEnv, dir: dir, bin: filepath.Join(dir, "bin"), ports: map[string]int{}, local: &topology.Local{LogDir: dir}}
	defer s.stop()
	if err := s.up(ctx, repo); err != nil {
		return fmt.Errorf("%w (logs in %s)", err, dir)
	}
	time.Sleep(3 * time.Second)
	idle := map[string]int{}
	for _, svc := range services {
		_, rss, _ := procStat(s.pid(svc))
		idle[svc] = rss
	}

	if o.openLoop {
		return s.openLoop(ctx, o)
	}
	var results []result
	var journeys loadreport.Report
	underLoad := map[string]int{}
	if !o.checkoutOnly {
		if results, journeys, err = s.endpointsAndJourneys(ctx, o); err != nil {
			return err
		}
		for _, svc := range services {
			_, _, hwm := procStat(s.pid(svc))
			underLoad[svc] = hwm
		}
		time.Sleep(5 * time.Second) // the journeys' last logins drain
	}
	fmt.Fprintf(os.Stderr, "phase: password hashing (2 × %s, %d workers)\n", o.phase/2, runtime.NumCPU())
	hashing, err := s.hashingPhase(ctx, o.phase/2, runtime.NumCPU())
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "phase: checkout (%s, %d virtual users, %d shoppers each, each from its own address)\n", o.checkout, o.vus, o.shoppers)
	co, err := s.checkoutPhase(ctx, o.checkout, o.vus, o.shoppers)
	if err != nil {
		return err
	}
	co.hashing = hashing
	fmt.Fprintf(os.Stderr, "phase: the database's checkout ceiling (%s, %d clients)\n", o.phase, o.vus)
	if co.dbCeiling, err = s.dbCeilingPhase(ctx, o.phase, o.vus); err != nil {
		return err
	}
	var md strings.Builder
	if o.checkoutOnly {
		fmt.Fprintf(&md, "### %s (%s)\n\nMachine: %s.\n", o.label, time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	} else {
		writeReport(&md, o, results, journeys, idle, underLoad)
	}
	writeCheckoutReport(&md, o, co, s.bcryptCost)
	fmt.Print(md.String())
	if o.out != "" {
		return os.WriteFile(o.out, []byte(md.String()), 0o644)
	}
	return nil
}

// endpointsAndJourneys runs the ceiling, each hot endpoint, then the shopper
// journeys.
func (s *stack) endpointsAndJourneys(ctx context.Context, o options) ([]result, loadreport.Report, error) {
	phases := []phase{
		{title: "nginx: static file (ceiling)", target: topology.FrontendPart, args: []string{"-endpoint", "GET /images/products/dr-001.svg"}},
		// The trivial handler runs in this process, which does nothing else meanwhile:
		// its CPU per request is the floor of any Go service here.
		{title: "nginx → trivial Go handler (ceiling)", target: "nginx-ceiling", service: trivialService, args: []string{"-endpoint", "GET /api/catalogue/products"}},
		{title: "GET /api/catalogue/products?category=", target: topology.FrontendPart, service: "catalogue", profile: true,
			args: []string{"-endpoint", "GET /api/catalogue/products?category=drones&limit=12"}},
		{title: "GET /api/catalogue/products/{sku}", target: topology.FrontendPart, service: "catalogue", args: []string{"-endpoint", "GET /api/catalogue/products/DR-001"}},
		{title: "GET /api/cart/cart", target: topology.FrontendPart, service: "cart", args: []string{"-endpoint", "GET /api/cart/cart", "-guest"}},
		{title: "POST /api/cart/cart/items", target: topology.FrontendPart, service: "cart",
			args: []string{"-endpoint", "POST /api/cart/cart/items", "-guest", "-body", `{"sku":"KP-001","qty":1}`}}, // 120 in stock: above the 90 adds a cart gets
	}
	var results []result
	for _, ph := range phases {
		fmt.Fprintf(os.Stderr, "phase: %s (%s, %d connections)\n", ph.title, o.phase, o.vus)
		r := result{phase: ph}
		pid := s.pid(ph.service)
		if ph.service == trivialService {
			pid = os.Getpid()
		}
		var cpu0 time.Duration
		if pid != 0 {
			cpu0, _, _ = procStat(pid)
		}
		profile := make(chan string, 1)
		if ph.profile {
			go func() { profile <- s.cpuProfile(ctx, ph.service, o.phase) }()
		}
		rep, err := s.load(ctx, "http://"+s.addr(ph.target), o.phase, 3*time.Second, o.vus, ph.args...)
		if err != nil {
			return nil, loadreport.Report{}, err
		}
		r.rep = rep
		if pid != 0 {
			cpu1, _, hwm := procStat(pid)
			// The warm-up is excluded from the counts but not from the CPU clock:
			// scale the CPU to the measured share of the phase.
			share := rep.MeasuredSeconds / o.phase.Seconds()
			if n := endpointCount(rep); n > 0 {
				r.cpuPerRq = time.Duration(float64(cpu1-cpu0) * share / float64(n))
			}
			r.hwmKiB = hwm
		}
		if ph.profile {
			r.top = <-profile
		}
		results = append(results, r)
	}
	fmt.Fprintf(os.Stderr, "phase: shopper journeys (%s, %d virtual users)\n", o.journeys, o.vus)
	journeys, err := s.load(ctx, "http://"+s.addr(topology.FrontendPart), o.journeys, 10*time.Second, o.vus)
	return results, journeys, err
}

// trivialService names the ceiling's handler, served by the bench process itself.
const trivialService = "trivial handler"

func endpointCount(r loadreport.Report) int64 {
	for _, st := range r.Steps {
		if st.Name == "endpoint" {
			return st.Count
		}
	}
	return 0
}

func endpointSeries(r loadreport.Report) loadreport.Series {
	for _, st := range r.Steps {
		if st.Name == "endpoint" {
			return st
		}
	}
	return loadreport.Series{}
}

// cpuProfile takes a CPU profile of svc for most of a phase and returns the top
// of `go tool pprof -top`.
func (s *stack) cpuProfile(ctx context.Context, svc string, d time.Duration) string {
	time.Sleep(4 * time.Second)
	secs := int((d - 6*time.Second).Seconds())
	if secs < 2 {
		secs = 2
	}
	client := &http.Client{Timeout: time.Duration(secs+10) * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.addr(svc+"-pprof"), secs))
	if err != nil {
		return "profile failed: " + err.Error()
	}
	defer resp.Body.Close()
	path := filepath.Join(s.dir, svc+".pprof")
	f, err := os.Create(path)
	if err != nil {
		return err.Error()
	}
	_, _ = io.Copy(f, resp.Body)
	f.Close()
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", s.bins[svc], path).CombinedOutput()
	if err != nil {
		return "pprof failed: " + err.Error()
	}
	return string(out)
}

func writeReport(w io.Writer, o options, results []result, journeys loadreport.Report, idle, underLoad map[string]int) {
	ceiling := endpointSeries(results[1].rep).PerSecond
	fmt.Fprintf(w, "### %s (%s)\n\n", o.label, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %s.\n\n", machine())
	fmt.Fprintf(w, "Each endpoint phase: %d connections for %s, the first 3 s left out. "+
		"\"of ceiling\" is the throughput as a share of nginx proxying to a trivial Go handler in the same run.\n\n", o.vus, o.phase)
	fmt.Fprintln(w, "| phase | req/s | of ceiling | p50 ms | p99 ms | errors | service CPU per request | service peak RSS |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		e := endpointSeries(r.rep)
		cpu, hwm := "–", "–"
		if r.service != "" {
			cpu = fmt.Sprintf("%.0f µs (%s)", float64(r.cpuPerRq.Microseconds()), r.service)
		}
		if r.service != "" && r.service != trivialService {
			hwm = fmt.Sprintf("%.1f MiB", float64(r.hwmKiB)/1024)
		}
		fmt.Fprintf(w, "| %s | %.0f | %.1f%% | %.2f | %.2f | %d | %s | %s |\n", r.title, e.PerSecond, 100*e.PerSecond/ceiling,
			e.P50Millis, e.P99Millis, e.Errors, cpu, hwm)
	}
	fmt.Fprintf(w, "\nShopper journeys (default mix browse=60, guest=30, buyer=10; %d virtual users, each from its own address, %s, first 10 s left out): "+
		"%.0f req/s answered, %d errors, %d expected non-2xx (402 for the decline card), %d rate-limited (429, not counted as answered).\n\n",
		o.vus, o.journeys, journeys.Total.PerSecond, journeys.Total.Errors, journeys.Total.Expected, journeys.Total.Limited)
	fmt.Fprintln(w, "| endpoint | count | req/s | p50 ms | p90 ms | p99 ms | max ms | statuses |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---|")
	for _, e := range journeys.Endpoints {
		fmt.Fprintf(w, "| %s | %d | %.1f | %.2f | %.2f | %.2f | %.2f | %v |\n", e.Name, e.Count, e.PerSecond, e.P50Millis, e.P90Millis, e.P99Millis, e.MaxMillis, e.Statuses)
	}
	fmt.Fprintln(w, "\n| service | idle RSS | peak RSS (whole run) |\n|---|---:|---:|")
	for _, svc := range services {
		fmt.Fprintf(w, "| %s | %.1f MiB | %.1f MiB |\n", svc, float64(idle[svc])/1024, float64(underLoad[svc])/1024)
	}
	for _, r := range results {
		if r.top != "" {
			fmt.Fprintf(w, "\nCPU profile of %s during \"%s\" (`go tool pprof -top`):\n\n```\n%s```\n", r.service, r.title, r.top)
		}
	}
}
