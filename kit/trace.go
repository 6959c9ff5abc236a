package kit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing is a service's OpenTelemetry tracing, passed to what it instruments
// rather than installed globally. It exports over OTLP/HTTP when the standard
// variables name an endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
// OTEL_EXPORTER_OTLP_ENDPOINT) and is a no-op otherwise, or with
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. The W3C traceparent is
// honoured on the way in and passed on every call either way, so a trace
// crosses a service that does not export. A nil *Tracing instruments nothing.
type Tracing struct {
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
	exporting  bool
}

// NewTracing configures tracing for service from getenv; logger is where it
// says that spans could not be sent.
func NewTracing(ctx context.Context, getenv Getenv, service string, logger *slog.Logger) (*Tracing, error) {
	t := &Tracing{
		Provider:   noop.NewTracerProvider(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		shutdown:   func(context.Context) error { return nil },
	}
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	signalPath := endpoint != "" // a per-signal URL is used as it is
	if endpoint == "" {
		endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint == "" || strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || getenv("OTEL_TRACES_EXPORTER") == "none" {
		return t, nil
	}
	if exporter := getenv("OTEL_TRACES_EXPORTER"); exporter != "" && exporter != "otlp" {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER %q: only otlp (or none) is built in", exporter)
	}
	if protocol := getenv("OTEL_EXPORTER_OTLP_PROTOCOL"); protocol != "" && protocol != "http/protobuf" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: only http/protobuf is built in", protocol)
	}
	if !signalPath {
		endpoint = strings.TrimSuffix(endpoint, "/") + "/v1/traces"
	}
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter for %s: %w", endpoint, err)
	}
	name := getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = service
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(name)))
	if err != nil {
		return nil, err
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(&quietExporter{SpanExporter: exporter, logger: logger, endpoint: endpoint}),
		sdktrace.WithResource(res))
	t.Provider, t.shutdown, t.exporting = provider, provider.Shutdown, true
	return t, nil
}

// Close sends the spans not sent yet, waiting at most 5 s: a shutdown never
// hangs on a collector that stopped answering.
func (t *Tracing) Close() error {
	if t == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.shutdown(ctx)
}

// TracerProvider is what a datastore client makes its spans with, or nil when
// nothing is exported: a datastore call then costs nothing extra (the trace
// still crosses the service through Handler and Client).
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil || !t.exporting {
		return nil
	}
	return t.Provider
}

// Handler wraps a service's router: one server span per request, a child of
// the caller's traceparent when there is one (RequestLog names it after the
// route).
func (t *Tracing) Handler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	if !t.exporting {
		// Only the caller's trace, for the log and the calls onward: a
		// no-op span through otelhttp cost 40% more per request (the
		// benchmark), for nothing.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("traceparent") != "" {
				r = r.WithContext(t.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
			}
			h.ServeHTTP(w, r)
		})
	}
	return otelhttp.NewHandler(h, "request", otelhttp.WithTracerProvider(t.Provider), otelhttp.WithPropagators(t.Propagator),
		// Probes and scrapes are not the shop's traffic.
		otelhttp.WithFilter(func(r *http.Request) bool {
			return r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && r.URL.Path != "/metrics"
		}))
}

// Client makes c's calls client spans that pass the trace on.
func (t *Tracing) Client(c *http.Client) *http.Client {
	if t == nil {
		return c
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	wrapped := *c
	if t.exporting {
		wrapped.Transport = otelhttp.NewTransport(base, otelhttp.WithTracerProvider(t.Provider), otelhttp.WithPropagators(t.Propagator))
	} else {
		wrapped.Transport = propagating{base, t.Propagator}
	}
	return &wrapped
}

// propagating passes the request's trace on, when it has one, and records
// nothing.
type propagating struct {
	base       http.RoundTripper
	propagator propagation.TextMapPropagator
}

func (p propagating) RoundTrip(r *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return p.base.RoundTrip(r)
	}
	r = r.Clone(r.Context()) // a RoundTripper must not change its request
	p.propagator.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	return p.base.RoundTrip(r)
}

// quietExporter says in the service's own log, at most once a minute and with
// how many spans were lost since, that spans could not be sent. Left to the
// SDK, a collector that is not there (compose without its observability
// profile) is a plain-text line on stderr every 5 s from every service.
type quietExporter struct {
	sdktrace.SpanExporter
	logger   *slog.Logger
	endpoint string

	mu     sync.Mutex
	said   time.Time // when it last logged
	failed int       // spans lost since
}

func (e *quietExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failed += len(spans)
	if time.Since(e.said) >= time.Minute {
		e.logger.Warn("spans not exported", "endpoint", e.endpoint, "spans_lost", e.failed, "err", err.Error())
		e.said, e.failed = time.Now(), 0
	}
	return nil // said: the SDK would say it again, on stderr
}
