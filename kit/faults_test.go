package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// faultyEngine is a router with three routes behind f, with its request log in
// logs; rolls are the dice it throws, in order, and sleeps records each wait.
func faultyEngine(f Faults, rolls []int, sleeps *[]time.Duration, logs *bytes.Buffer) *gin.Engine {
	f.roll = func() int { r := rolls[0]; rolls = rolls[1:]; return r }
	f.sleep = func(_ context.Context, d time.Duration) error { *sleeps = append(*sleeps, d); return nil }
	r := NewEngine(slog.New(slog.NewJSONHandler(logs, nil)), NewRegistry(), f)
	Health(r, NewRegistry(), func(context.Context) error { return nil })
	ok := func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{}) }
	r.POST("/checkout", ok)
	r.GET("/orders", ok)
	return r
}

func TestFaultsActOnlyWhereAndAsSet(t *testing.T) {
	type call struct {
		method, path string
		status       int
	}
	for _, tc := range []struct {
		name   string
		faults Faults
		rolls  []int
		calls  []call
		sleeps int
	}{
		{"none", Faults{}, nil,
			[]call{{"POST", "/checkout", 200}, {"GET", "/orders", 200}}, 0},
		{"every checkout fails", Faults{ErrorPercent: 100, Paths: []string{"/checkout"}}, []int{99, 0},
			[]call{{"POST", "/checkout", 500}, {"GET", "/orders", 200}, {"GET", "/healthz", 200}, {"GET", "/readyz", 200}, {"GET", "/metrics", 200}, {"POST", "/checkout", 500}}, 0},
		{"30 percent: the rolls under 30 fail", Faults{ErrorPercent: 30}, []int{29, 30, 0, 99},
			[]call{{"POST", "/checkout", 500}, {"GET", "/orders", 200}, {"GET", "/orders", 500}, {"POST", "/checkout", 200}}, 0},
		{"latency on every path but the probes", Faults{Latency: 250 * time.Millisecond}, nil,
			[]call{{"GET", "/orders", 200}, {"GET", "/healthz", 200}, {"GET", "/metrics", 200}, {"POST", "/checkout", 200}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sleeps []time.Duration
			var logs bytes.Buffer
			r := faultyEngine(tc.faults, tc.rolls, &sleeps, &logs)
			for _, c := range tc.calls {
				w := httptest.NewRecorder()
				r.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
				if w.Code != c.status {
					t.Fatalf("%s %s: %d, want %d", c.method, c.path, w.Code, c.status)
				}
				if c.status == 500 && !strings.Contains(w.Body.String(), `"code":"fault_injected"`) {
					t.Fatalf("%s %s: %s, want the shop's error shape with fault_injected", c.method, c.path, w.Body)
				}
			}
			if len(sleeps) != tc.sleeps || (tc.sleeps > 0 && sleeps[0] != tc.faults.Latency) {
				t.Errorf("waited %v, want %d waits of %v", sleeps, tc.sleeps, tc.faults.Latency)
			}
			// An injected failure is logged as what it is, so the dashboards
			// and the logs show the drill.
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var l map[string]any
				if line != "" && json.Unmarshal([]byte(line), &l) == nil && l["status"] == float64(500) &&
					!strings.Contains(line, "fault_injected") {
					t.Errorf("log line of an injected failure does not say so: %s", line)
				}
			}
		})
	}
}

func TestLoadFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		want Faults
		err  string
	}{
		{"unset", nil, Faults{}, ""},
		{"all three", map[string]string{"FAULT_LATENCY": "300ms", "FAULT_ERROR_PERCENT": "25", "FAULT_PATHS": " /checkout, /products,,"},
			Faults{Latency: 300 * time.Millisecond, ErrorPercent: 25, Paths: []string{"/checkout", "/products"}}, ""},
		{"percent over 100", map[string]string{"FAULT_ERROR_PERCENT": "101"}, Faults{}, "FAULT_ERROR_PERCENT"},
		{"latency over 30s", map[string]string{"FAULT_LATENCY": "31s"}, Faults{}, "FAULT_LATENCY"},
		{"latency not a duration", map[string]string{"FAULT_LATENCY": "slow"}, Faults{}, "FAULT_LATENCY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEnv(env(tc.vars))
			got := LoadFaults(e)
			err := e.Err()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil || got.Latency != tc.want.Latency || got.ErrorPercent != tc.want.ErrorPercent ||
				strings.Join(got.Paths, "|") != strings.Join(tc.want.Paths, "|") {
				t.Fatalf("LoadFaults = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestOutcomesCountWhatBecameOfEachRequest(t *testing.T) {
	reg := NewRegistry()
	r := NewEngine(slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), reg, Faults{})
	Health(r, reg, func(context.Context) error { return nil })
	orders := Outcomes(reg, "roboshop_test_orders_total", "test", []string{"ordered", "declined", "rejected", "failed", "replayed"},
		StatusOutcome(map[int]string{201: "ordered", 402: "declined"}))
	r.POST("/orders/:status", orders, func(c *gin.Context) {
		var status int
		_, _ = fmt.Sscan(c.Param("status"), &status)
		c.Status(status)
	})
	for _, status := range []string{"201", "201", "402", "409", "422", "503"} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/orders/"+status, nil))
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range []string{`roboshop_test_orders_total{outcome="ordered"} 2`, `roboshop_test_orders_total{outcome="declined"} 1`,
		`roboshop_test_orders_total{outcome="rejected"} 2`, `roboshop_test_orders_total{outcome="failed"} 1`,
		`roboshop_test_orders_total{outcome="replayed"} 0`} { // listed, never seen: there, at 0
		if !strings.Contains(w.Body.String(), line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}
