package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
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
	var wg sync.WaitGroup
	for i := 0; i < cfg.VUs; i++ {
		delay := time.Duration(0)
		if cfg.VUs > 1 {
			delay = cfg.RampUp * time.Duration(i) / time.Duration(cfg.VUs)
		}
		s := &shopper{id: i, cfg: cfg, client: clientFor(i), rec: rec,
			rng: rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			s.loop(ctx, &active)
		}()
	}
	wg.Wait()
	cancel()
	<-progressDone
	rep := rec.report(cfg, time.Now())
	rep.writeText(stdout)
	if cfg.JSONPath != "" {
		f, err := os.Create(cfg.JSONPath)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := rep.writeJSON(f); err != nil {
			return err
		}
	}
	return nil
}
