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
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        cfg.VUs * 2,
			MaxIdleConnsPerHost: cfg.VUs * 2,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	defer client.CloseIdleConnections()
	start := time.Now()
	rec := newRecorder(start, cfg.Warmup)
	var active atomic.Int32
	if cfg.Progress > 0 {
		go func() {
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
		s := &shopper{id: i, cfg: cfg, client: client, rec: rec,
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
