package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/roboshop-go/roboshop/kit/loadreport"
)

// outcome of one request: ok (2xx), expected (402 for the decline card),
// limited (429: a limit acted; counted apart, never as throughput or latency)
// or failed (anything else, transport failures included).
type outcome int

const (
	ok outcome = iota
	expected
	limited
	failed
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3) // µs, 3 significant digits
}

type series struct {
	hist     *hdrhistogram.Histogram
	count    int64 // answered, 429s aside
	errors   int64
	expected int64
	limited  int64
	statuses map[int]int64
}

func (s *series) add(status int, o outcome, d time.Duration) {
	s.statuses[status]++
	if o == limited {
		s.limited++
		return
	}
	_ = s.hist.RecordValue(max(1, d.Microseconds()))
	s.count++
	switch o {
	case failed:
		s.errors++
	case expected:
		s.expected++
	}
}

// recorder collects every request; requests before warmupEnd only show in the
// live progress.
type recorder struct {
	mu        sync.Mutex
	start     time.Time
	warmupEnd time.Time
	endpoints map[string]*series
	steps     map[string]*series
	interval  *series
	total     *series
}

func newRecorder(start time.Time, warmup time.Duration) *recorder {
	return &recorder{start: start, warmupEnd: start.Add(warmup), endpoints: map[string]*series{},
		steps: map[string]*series{}, interval: newSeries(), total: newSeries()}
}

func newSeries() *series { return &series{hist: newHist(), statuses: map[int]int64{}} }

func (r *recorder) record(endpoint, step string, status int, o outcome, d time.Duration, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.interval.add(status, o, d)
	if at.Before(r.warmupEnd) {
		return
	}
	for _, t := range []struct {
		m    map[string]*series
		name string
	}{{r.endpoints, endpoint}, {r.steps, step}} {
		s, found := t.m[t.name]
		if !found {
			s = newSeries()
			t.m[t.name] = s
		}
		s.add(status, o, d)
	}
	r.total.add(status, o, d)
}

// progress prints one line per interval: throughput, errors and latency of the
// requests in that interval.
func (r *recorder) progress(w io.Writer, every time.Duration, vus func() int) {
	r.mu.Lock()
	s := r.interval
	r.interval = newSeries()
	elapsed := time.Since(r.start)
	r.mu.Unlock()
	fmt.Fprintf(w, "[%6.1fs] %7.0f req/s  errors %-4d expected %-4d 429 %-4d p50 %6.2fms  p99 %7.2fms  vus %d\n",
		elapsed.Seconds(), float64(s.count)/every.Seconds(), s.errors, s.expected, s.limited,
		ms(s.hist.ValueAtQuantile(50)), ms(s.hist.ValueAtQuantile(99)), vus())
}

func ms(us int64) float64 { return float64(us) / 1000 }

func (r *recorder) report(cfg config, end time.Time) loadreport.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	secs := end.Sub(r.warmupEnd).Seconds()
	one := func(name string, s *series) loadreport.Series {
		st := map[string]int64{}
		for code, n := range s.statuses {
			st[strconv.Itoa(code)] = n
		}
		return loadreport.Series{Name: name, Count: s.count, Errors: s.errors, Expected: s.expected, Limited: s.limited, Statuses: st,
			PerSecond: float64(s.count) / secs, P50Millis: ms(s.hist.ValueAtQuantile(50)), P90Millis: ms(s.hist.ValueAtQuantile(90)),
			P99Millis: ms(s.hist.ValueAtQuantile(99)), MaxMillis: ms(s.hist.Max()), MeanMillis: s.hist.Mean() / 1000}
	}
	all := func(m map[string]*series) []loadreport.Series {
		out := make([]loadreport.Series, 0, len(m))
		for name, s := range m {
			out = append(out, one(name, s))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	return loadreport.Report{Target: cfg.Target.String(), VUs: cfg.VUs, Rate: cfg.Rate, Seed: cfg.Seed, MeasuredSeconds: secs,
		Total: one("total", r.total), Endpoints: all(r.endpoints), Steps: all(r.steps)}
}

func writeText(w io.Writer, rep loadreport.Report) {
	if su := rep.SignUp; su != nil {
		fmt.Fprintf(w, "\nsigned up %d shoppers in %.1f s before the run (register p50 %.0f ms, p99 %.0f ms, statuses %v)\n",
			su.Shoppers, su.Seconds, su.Register.P50Millis, su.Register.P99Millis, su.Register.Statuses)
	}
	load := fmt.Sprintf("%d virtual users", rep.VUs)
	if rep.Rate > 0 {
		load = fmt.Sprintf("open loop at %g journeys/s (at most %d in flight)", rep.Rate, rep.VUs)
	}
	fmt.Fprintf(w, "\n%s, %s, %.1f s measured: %d requests (%.0f/s), %d errors, %d expected non-2xx, %d rate-limited (429, not counted)\n",
		rep.Target, load, rep.MeasuredSeconds, rep.Total.Count, rep.Total.PerSecond, rep.Total.Errors, rep.Total.Expected, rep.Total.Limited)
	for _, block := range []struct {
		title string
		rows  []loadreport.Series
	}{{"endpoint", rep.Endpoints}, {"journey step", rep.Steps}} {
		fmt.Fprintf(w, "\n%-44s %8s %8s %7s %6s %8s %8s %8s %8s  %s\n", block.title, "count", "req/s", "errors", "429", "p50 ms", "p90 ms", "p99 ms", "max ms", "statuses")
		for _, s := range block.rows {
			fmt.Fprintf(w, "%-44s %8d %8.1f %7d %6d %8.2f %8.2f %8.2f %8.2f  %v\n", s.Name, s.Count, s.PerSecond, s.Errors, s.Limited,
				s.P50Millis, s.P90Millis, s.P99Millis, s.MaxMillis, s.Statuses)
		}
	}
}
