package kit

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyTimeout bounds a readiness probe: a datastore that does not answer within
// it counts as down.
const ReadyTimeout = time.Second

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors; each service run owns one, so tests never share metric state.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Metrics counts requests and observes their latency per route and status.
func Metrics(reg prometheus.Registerer) gin.HandlerFunc {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total", Help: "HTTP requests by route, method and status.",
	}, []string{"route", "method", "status"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "HTTP request latency by route and method.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "method"})
	reg.MustRegister(requests, duration)
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
		duration.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
	}
}

// Health registers /healthz (the process answers), /readyz (ready returns nil
// within ReadyTimeout) and /metrics on r.
func Health(r gin.IRoutes, reg *prometheus.Registry, ready func(context.Context) error) {
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), ReadyTimeout)
		defer cancel()
		if err := ready(ctx); err != nil {
			_ = c.Error(err)
			c.JSON(http.StatusServiceUnavailable, errorBody{Error: errorDetail{
				Code: "not_ready", Message: "a dependency is not answering"}})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	// The same check at every scrape, so an alert sees a datastore go away
	// even when no request arrives (a readiness probe's answer is not kept).
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "roboshop_datastore_up",
		Help: "1 when the service's readiness check (a ping of its datastore) passed at this scrape, else 0.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
		defer cancel()
		if ready(ctx) != nil {
			return 0
		}
		return 1
	}))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
}

// Outcomes counts each request of the routes it guards by the outcome
// outcome names once the handler has run: a business counter (orders,
// declines, logins, lockouts) whose label takes only the values listed, so
// its cardinality stays bounded. Each starts at 0, so a dashboard's rate or
// an alert's ratio has its series before the first event.
func Outcomes(reg prometheus.Registerer, name, help string, outcomes []string, outcome func(c *gin.Context) string) gin.HandlerFunc {
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name,
		Help: help + " by outcome (" + strings.Join(outcomes, ", ") + ")."}, []string{"outcome"})
	reg.MustRegister(counter)
	for _, o := range outcomes {
		counter.WithLabelValues(o)
	}
	return func(c *gin.Context) {
		c.Next()
		counter.WithLabelValues(outcome(c)).Inc()
	}
}

// StatusOutcome names an answer's status class the way the business counters
// do: the given names for the statuses that mean something to the business,
// else "rejected" (4xx) or "failed".
func StatusOutcome(named map[int]string) func(c *gin.Context) string {
	return func(c *gin.Context) string {
		status := c.Writer.Status()
		if name, ok := named[status]; ok {
			return name
		}
		if status < 500 {
			return "rejected"
		}
		return "failed"
	}
}
