package kit

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Startup runs a service's start-up work (indexes, seeds, keys) in the background,
// retrying with jittered back-off until it succeeds, so a service whose datastore
// is not up yet keeps running, answers /healthz, and becomes ready by itself.
type Startup struct {
	what string
	done atomic.Bool
}

// StartBackground runs fn until it returns nil or ctx ends.
func StartBackground(ctx context.Context, logger *slog.Logger, what string, fn func(context.Context) error) *Startup {
	s := &Startup{what: what}
	go func() {
		delay := 250 * time.Millisecond
		for attempt := 1; ; attempt++ {
			if err := fn(ctx); err == nil {
				s.done.Store(true)
				logger.Info("start-up complete", "step", what, "attempts", attempt)
				return
			} else if ctx.Err() == nil {
				logger.Warn("start-up step failed; retrying", "step", what, "attempt", attempt, "error", err.Error())
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay/2 + rand.N(delay/2)):
			}
			delay = min(delay*2, 5*time.Second)
		}
	}()
	return s
}

// Err is nil once start-up completed, else an ErrUnavailable.
func (s *Startup) Err() error {
	if s.done.Load() {
		return nil
	}
	return fmt.Errorf("%s not complete: %w", s.what, ErrUnavailable)
}
