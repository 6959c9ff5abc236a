package kit

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Faults are a service's drill knobs: added latency, and a share of requests
// failed with a 500, on the paths chosen, so a learner can watch a slow or
// failing service on the dashboards and in the traces. They come only from the
// environment (LoadFaults); no request can set them. The probes and /metrics
// are never faulted, so an orchestrator keeps the service and its metrics
// keep flowing. The zero value injects nothing.
type Faults struct {
	Latency      time.Duration // FAULT_LATENCY, 0–30s
	ErrorPercent int           // FAULT_ERROR_PERCENT, 0–100
	Paths        []string      // FAULT_PATHS: path prefixes as the service sees them (nginx strips /api/<service>); none: every path

	roll  func() int // 0–99
	sleep func(context.Context, time.Duration) error
}

// LoadFaults reads the FAULT_* variables; a bad value is env's error.
func LoadFaults(env *Env) Faults {
	f := Faults{Latency: env.Duration("FAULT_LATENCY", 0, 0, 30*time.Second), ErrorPercent: env.Int("FAULT_ERROR_PERCENT", 0, 0, 100)}
	for _, p := range strings.Split(env.String("FAULT_PATHS", ""), ",") {
		if p = strings.TrimSpace(p); p != "" {
			f.Paths = append(f.Paths, p)
		}
	}
	return f
}

func (f Faults) applies(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return false
	}
	if len(f.Paths) == 0 {
		return true
	}
	for _, p := range f.Paths {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// middleware injects the faults after the request log and the metrics have
// started, so what it does shows in both like a real failure.
func (f Faults) middleware() gin.HandlerFunc {
	roll, sleep := f.roll, f.sleep
	if roll == nil {
		roll = func() int { return rand.IntN(100) }
	}
	if sleep == nil {
		sleep = Sleep
	}
	return func(c *gin.Context) {
		if !f.applies(c.Request.URL.Path) {
			return
		}
		if f.Latency > 0 {
			if err := sleep(c.Request.Context(), f.Latency); err != nil {
				WriteError(c, err)
				return
			}
		}
		if f.ErrorPercent > 0 && roll() < f.ErrorPercent {
			_ = c.Error(errors.New("fault_injected: FAULT_ERROR_PERCENT")) // the request log says why
			WriteError(c, NewError(http.StatusInternalServerError, "fault_injected",
				"this failure was injected by a fault drill (FAULT_ERROR_PERCENT)"))
		}
	}
}

// Sleep waits d, or until ctx ends and returns its error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
