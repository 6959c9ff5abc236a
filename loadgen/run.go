package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roboshop-go/roboshop/kit/loadreport"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	// One client per source address: a virtual user with its own address has
	// its own connections, as a shopper's browser would.
	clients := map[string]*http.Client{}
	clientFor := func(i int) *http.Client {
		local := cfg.sourceAddr(i)
		key := local.String()
		if c, ok := clients[key]; ok {
			return c
		}
		dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
		if local != nil {
			dialer.LocalAddr = local
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			Proxy: nil, DialContext: dialer.DialContext, IdleConnTimeout: 30 * time.Second,
			MaxIdleConns: cfg.VUs * 2, MaxIdleConnsPerHost: cfg.VUs * 2}}
		clients[key] = c
		return c
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	shoppers := make([]*shopper, cfg.VUs)
	for i := range shoppers {
		s := &shopper{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)))}
		for j := range cfg.Shoppers {
			n := i*cfg.Shoppers + j
			s.ids = append(s.ids, &identity{n: n, client: clientFor(n)})
		}
		shoppers[i] = s
	}
	var signedUp *loadreport.SignUp
	if cfg.Shoppers > 1 {
		r, err := signUp(ctx, shoppers)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "signed up %d shoppers in %.1f s\n", r.Shoppers, r.Seconds)
		signedUp = &r
	}
	fmt.Fprintln(stderr, "the run starts now")
	if cfg.Events {
		if err := loadreport.WriteEvent(stderr, loadreport.RunStarted, time.Now()); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	rec := newRecorder(start, cfg.Warmup)
	var active atomic.Int32
	// The progress printer is waited for before run returns: it writes to
	// stderr, which the caller may read as soon as run is done.
	progressDone := make(chan struct{})
	if cfg.Progress <= 0 {
		close(progressDone)
	} else {
		go func() {
			defer close(progressDone)
			t := time.NewTicker(cfg.Progress)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					rec.progress(stderr, cfg.Progress, func() int { return int(active.Load()) })
				}
			}
		}()
	}
	for _, s := range shoppers {
		s.rec = rec
	}
	if cfg.Rate > 0 {
		arrive(ctx, cfg.Rate, shoppers, rec, &active)
	} else {
		closedLoop(ctx, cfg, shoppers, &active)
	}
	cancel()
	<-progressDone
	fmt.Fprintf(stderr, "run over after %.1f s\n", time.Since(start).Seconds())
	if cfg.Events {
		if err := loadreport.WriteEvent(stderr, loadreport.RunEnded, time.Now()); err != nil {
			return err
		}
	}
	rep := rec.report(cfg, time.Now())
	rep.SignUp = signedUp
	writeText(stdout, rep)
	if cfg.JSONPath != "" {
		f, err := os.Create(cfg.JSONPath)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := rep.Write(f); err != nil {
			return err
		}
	}
	if cfg.MaxErrors >= 0 && rep.Total.Errors > cfg.MaxErrors {
		return fmt.Errorf("%d requests failed, more than -max-errors %d", rep.Total.Errors, cfg.MaxErrors)
	}
	return nil
}

// closedLoop starts the virtual users over the ramp-up; each starts its next
// journey when its last one ends.
func closedLoop(ctx context.Context, cfg config, shoppers []*shopper, active *atomic.Int32) {
	var wg sync.WaitGroup
	for i := 0; i < cfg.VUs; i++ {
		delay := time.Duration(0)
		if cfg.VUs > 1 {
			delay = cfg.RampUp * time.Duration(i) / time.Duration(cfg.VUs)
		}
		s := shoppers[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			s.loop(ctx, active)
		}()
	}
	wg.Wait()
}

// arrive is the open loop: journey i is due at start + i/rate, whatever the
// earlier ones are doing, and starts on a free virtual user. A late tick
// starts at once, its lateness counted in its first request's latency; an
// arrival that finds every virtual user busy is a failure (step "arrival"):
// the rate was not sustained.
func arrive(ctx context.Context, rate float64, shoppers []*shopper, rec *recorder, active *atomic.Int32) {
	free := make(chan *shopper, len(shoppers))
	for _, s := range shoppers {
		free <- s
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case s := <-free:
			wg.Add(1)
			active.Add(1)
			go func() {
				defer wg.Done()
				defer active.Add(-1)
				s.journey(ctx, due)
				free <- s
			}()
		default:
			rec.record("arrival", "arrival", 0, failed, 0, due)
		}
	}
}

// signUpLimit bounds the sign-up: bcrypt at cost 12 registers a few accounts
// a second per core, so 1,000 shoppers take minutes, not more.
const signUpLimit = 15 * time.Minute

// signUpAtOnce is how many registrations are in flight during the sign-up: the
// user service hashes one per core, and a deeper queue only waits towards the
// client's timeout.
const signUpAtOnce = 8

// signUp registers every shopper's identities, signUpAtOnce at a time, and
// fails unless every one of them is signed in.
func signUp(ctx context.Context, shoppers []*shopper) (loadreport.SignUp, error) {
	ctx, cancel := context.WithTimeout(ctx, signUpLimit)
	defer cancel()
	start := time.Now()
	rec := newRecorder(start, 0)
	var done atomic.Int64
	var wg sync.WaitGroup
	want := 0
	queue := make(chan *shopper, len(shoppers))
	for _, s := range shoppers {
		s.rec = rec
		want += len(s.ids)
		queue <- s
	}
	close(queue)
	for range min(signUpAtOnce, len(shoppers)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range queue {
				done.Add(int64(s.signUp(ctx)))
			}
		}()
	}
	wg.Wait()
	r := loadreport.SignUp{Shoppers: int(done.Load()), Seconds: time.Since(start).Seconds()}
	if steps := rec.report(shoppers[0].cfg, time.Now()).Steps; len(steps) > 0 {
		r.Register = steps[0]
	}
	if r.Shoppers != want {
		return r, fmt.Errorf("signed up %d of %d shoppers in %.0f s (register: %v)", r.Shoppers, want, r.Seconds, r.Register.Statuses)
	}
	return r, nil
}
