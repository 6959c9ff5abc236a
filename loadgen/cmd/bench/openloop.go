package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/roboshop-go/roboshop/kit/loadreport"
	"github.com/roboshop-go/roboshop/topology"
)

// The open-loop search: checkouts started at a fixed rate whatever the
// answers do (loadgen -rate), so a shop that falls behind shows it as
// latency and failures instead of quietly slowing its users down.
const (
	searchStep     = 20 * time.Second // each rate tried, its first 5 s left out
	searchWarmup   = 5 * time.Second
	searchFrom     = 20.0 // checkouts a second, doubled until one fails
	searchBisect   = 3    // halvings of the gap between the last good and first bad rate
	openLoopVUs    = 128  // the most checkouts in flight
	secondsPerBuy  = 4    // each shopper buys at most once per this: under nginx's 20 checkouts a minute per address
	maxSearchSteps = 12
)

// rateStep is one rate tried.
type rateStep struct {
	rate      float64
	orders    float64 // per second
	errors    int64
	limited   int64
	checkout  loadreport.Series
	sustained bool
	peakRSS   map[string]int // KiB, per service, over this step
}

// shoppersFor is how many shoppers each virtual user plays at rate, so that
// each shopper buys at most once per secondsPerBuy.
func shoppersFor(rate float64) int {
	return min(64, max(1, int(rate*secondsPerBuy/openLoopVUs)+1))
}

func (s *stack) tryRate(ctx context.Context, rate float64) (rateStep, error) {
	fmt.Fprintf(os.Stderr, "open loop: %.1f checkouts/s\n", rate)
	for _, svc := range services {
		resetPeakRSS(s.pid(svc))
	}
	rep, err := s.load(ctx, "http://"+s.addr(topology.FrontendPart), searchStep, searchWarmup, openLoopVUs,
		"-mix", "checkout=1", "-shoppers", strconv.Itoa(shoppersFor(rate)), "-rate", strconv.FormatFloat(rate, 'f', 1, 64))
	if err != nil {
		return rateStep{}, err
	}
	st := rateStep{rate: rate, errors: rep.Total.Errors, limited: rep.Total.Limited, peakRSS: map[string]int{}}
	for _, svc := range services {
		_, _, st.peakRSS[svc] = procStat(s.pid(svc))
	}
	st.checkout, _ = rep.Step("checkout/checkout")
	st.orders = float64(st.checkout.Count-st.checkout.Errors) / rep.MeasuredSeconds
	// Sustained: nothing failed, nothing was limited, and the orders kept up
	// with the arrivals (a run that ends with checkouts queued is behind).
	st.sustained = st.errors == 0 && st.limited == 0 && st.orders >= 0.95*rate
	return st, nil
}

// searchRate doubles the rate from searchFrom until a step is not
// sustained, then halves the gap searchBisect times.
func (s *stack) searchRate(ctx context.Context) (best float64, steps []rateStep, err error) {
	good, bad := 0.0, 0.0
	for rate := searchFrom; len(steps) < maxSearchSteps; {
		st, err := s.tryRate(ctx, rate)
		if err != nil {
			return 0, steps, err
		}
		steps = append(steps, st)
		if st.sustained {
			good = rate
		} else {
			bad = rate
		}
		switch {
		case bad == 0:
			rate *= 2
		case good == 0:
			rate /= 2
		case len(steps) < maxSearchSteps && bad-good > good/float64(int(1)<<searchBisect):
			rate = (good + bad) / 2
		default:
			return good, steps, nil
		}
		time.Sleep(5 * time.Second) // the last step's checkouts and settles drain
	}
	return good, steps, nil
}

// openLoop is the -open-loop bench: the database's own cost per checkout,
// the highest sustained checkout rate, then latency and CPU per order at
// 25% and 50% of it, each part's cost as a ratio to the database's.
func (s *stack) openLoop(ctx context.Context, o options) error {
	fmt.Fprintf(os.Stderr, "phase: the database's checkout ceiling (%s, %d clients)\n", o.phase, o.vus)
	db, err := s.dbCeilingPhase(ctx, o.phase, o.vus)
	if err != nil {
		return err
	}
	var best float64
	var steps []rateStep
	rates := o.at
	if len(rates) == 0 {
		if best, steps, err = s.searchRate(ctx); err != nil {
			return err
		}
		if best == 0 {
			return fmt.Errorf("no rate from %.0f/s down was sustained", searchFrom)
		}
		rates = []float64{best * 0.25, best * 0.5}
	}
	var at []checkoutRun
	for _, rate := range rates {
		fmt.Fprintf(os.Stderr, "phase: checkout at %.1f/s (%s)\n", rate, o.checkout)
		r, err := s.checkoutPhase(ctx, o.checkout, openLoopVUs, shoppersFor(rate), "-rate", strconv.FormatFloat(rate, 'f', 1, 64))
		if err != nil {
			return err
		}
		at = append(at, r)
		time.Sleep(5 * time.Second)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "### %s, open loop (%s)\n\nMachine: %s.\n", o.label, time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	writeOpenLoopReport(&md, o, db, best, steps, at)
	fmt.Print(md.String())
	if o.out != "" {
		return os.WriteFile(o.out, []byte(md.String()), 0o644)
	}
	return nil
}

func writeOpenLoopReport(w io.Writer, o options, db dbCeiling, best float64, steps []rateStep, at []checkoutRun) {
	fmt.Fprintf(w, "\nThe database's own ceiling for a checkout's writes: %.1f/s (%d clients, %d errors); the machine spent **%.2f ms** per replayed checkout "+
		"(MariaDB %.2f ms of it).\n\n", db.perSecond, o.vus, db.errors, ms(db.cpuPerCheckout), ms(db.dbCPUPerCheckout))
	if len(steps) > 0 {
		fmt.Fprintf(w, "Checkout journeys started at a fixed rate (at most %d in flight, each shopper buying at most once per %d s), %s per rate, the first %s left out; "+
			"each service's peak RSS over the step:\n\n", openLoopVUs, secondsPerBuy, searchStep, searchWarmup)
		fmt.Fprint(w, "| checkouts started/s | orders/s | errors | 429 | checkout p50 ms | p99 ms | sustained |")
		for _, svc := range services {
			fmt.Fprintf(w, " %s MiB |", svc)
		}
		fmt.Fprint(w, "\n|---:|---:|---:|---:|---:|---:|---|"+strings.Repeat("---:|", len(services))+"\n")
		for _, st := range steps {
			fmt.Fprintf(w, "| %.1f | %.1f | %d | %d | %.1f | %.1f | %v |", st.rate, st.orders, st.errors, st.limited, st.checkout.P50Millis, st.checkout.P99Millis, st.sustained)
			for _, svc := range services {
				fmt.Fprintf(w, " %.1f |", float64(st.peakRSS[svc])/1024)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "\n**Highest sustained rate: %.1f checkouts/s.**\n\n", best)
	}
	fmt.Fprint(w, "|")
	for _, r := range at {
		fmt.Fprintf(w, " | %.1f/s", r.rep.Rate)
	}
	fmt.Fprint(w, " |\n|---|"+strings.Repeat("---:|", len(at))+"\n")
	row := func(name string, f func(r checkoutRun) string) {
		fmt.Fprintf(w, "| %s |", name)
		for _, r := range at {
			fmt.Fprintf(w, " %s |", f(r))
		}
		fmt.Fprintln(w)
	}
	row("checkouts started/s", func(r checkoutRun) string { return fmt.Sprintf("%.1f", r.rep.Rate) })
	row("orders/s, errors, 429", func(r checkoutRun) string {
		return fmt.Sprintf("%.1f, %d, %d", r.perSecond, r.rep.Total.Errors, r.rep.Total.Limited)
	})
	for _, step := range []string{"checkout/checkout", "checkout/quote", "checkout/add", "checkout/merge"} {
		row(step+" p50 / p90 / p99 ms", func(r checkoutRun) string {
			st, _ := r.rep.Step(step)
			return fmt.Sprintf("%.1f / %.1f / %.1f", st.P50Millis, st.P90Millis, st.P99Millis)
		})
	}
	var shop []string
	for _, p := range checkoutParts {
		if p != "loadgen" && p != "machine" {
			shop = append(shop, p)
		}
	}
	for _, p := range shop {
		row("CPU per order: "+p+" (× the replay)", func(r checkoutRun) string {
			return fmt.Sprintf("%.2f ms (%.2f×)", ms(r.cpuPerOrd[p]), ratio(r.cpuPerOrd[p], db.cpuPerCheckout))
		})
	}
	row("**CPU per order: the shop** (× the replay)", func(r checkoutRun) string {
		var sum time.Duration
		for _, p := range shop {
			sum += r.cpuPerOrd[p]
		}
		return fmt.Sprintf("**%.2f ms (%.2f×)**", ms(sum), ratio(sum, db.cpuPerCheckout))
	})
	for _, name := range []string{tripsMariaDB, tripsRedis} {
		row(name+" per order", func(r checkoutRun) string { return fmt.Sprintf("%.1f", r.trips[name]) })
	}
	row("CPU per order: loadgen, the whole machine", func(r checkoutRun) string {
		return fmt.Sprintf("%.2f, %.2f ms", ms(r.cpuPerOrd["loadgen"]), ms(r.cpuPerOrd["machine"]))
	})
	for _, svc := range services {
		row("peak RSS over the run: "+svc, func(r checkoutRun) string { return fmt.Sprintf("%.1f MiB", float64(r.peakRSS[svc])/1024) })
	}
	fmt.Fprintf(w, "\n(%d cores.) CPU profile of payment at 50%%:\n\n```\n%s```\n", runtime.NumCPU(), at[len(at)-1].profiles["payment"])
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
