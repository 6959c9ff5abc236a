package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const (
	testTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	testCaller = "00f067aa0ba902b7"
)

// tracedEngine is a service in miniature: its router behind t.Handler, one
// route that calls downstream through t.Client, and its request log in logs.
func tracedEngine(t *Tracing, downstream string, logs io.Writer) http.Handler {
	r := NewEngine(NewLogger(logs, "test", slog.LevelInfo), prometheus.NewRegistry(), Faults{})
	client := t.Client(NewHTTPClient(2e9))
	r.GET("/items/:id", func(c *gin.Context) {
		req, _ := http.NewRequestWithContext(c.Request.Context(), http.MethodGet, downstream, nil)
		resp, err := client.Do(req)
		if err != nil {
			WriteError(c, err)
			return
		}
		resp.Body.Close()
		c.JSON(http.StatusOK, gin.H{})
	})
	return t.Handler(r)
}

// callTraced sends GET /items/7 with the caller's traceparent and returns the
// traceparent the downstream call carried and the request's log line.
func callTraced(t *testing.T, tr *Tracing) (passedOn string, line map[string]any) {
	t.Helper()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { passedOn = r.Header.Get("traceparent") }))
	defer down.Close()
	var logs bytes.Buffer
	req := httptest.NewRequest(http.MethodGet, "/items/7", nil)
	req.Header.Set("traceparent", "00-"+testTrace+"-"+testCaller+"-01")
	w := httptest.NewRecorder()
	tracedEngine(tr, down.URL, &logs).ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", logs.String(), err)
	}
	return passedOn, line
}

// Exporting, a request is a server span named after its route, the child of
// the caller's; its outbound call is a client span passing the trace on; the
// log line names the server span.
func TestTracingSpansARequestAndItsCalls(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	tr, err := NewTracing(context.Background(), env(nil), "test")
	if err != nil {
		t.Fatal(err)
	}
	tr.Provider, tr.shutdown, tr.exporting = provider, provider.Shutdown, true

	passedOn, line := callTraced(t, tr)
	got := spans.GetSpans()
	if len(got) != 2 {
		t.Fatalf("%d spans, want the server's and its call's", len(got))
	}
	client, server := got[0], got[1]
	if server.Name != "GET /items/:id" || server.Parent.SpanID().String() != testCaller || server.SpanContext.TraceID().String() != testTrace {
		t.Errorf("server span %q, parent %s, trace %s", server.Name, server.Parent.SpanID(), server.SpanContext.TraceID())
	}
	if client.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("the call's span is not the server span's child")
	}
	if want := "00-" + testTrace + "-" + client.SpanContext.SpanID().String() + "-01"; passedOn != want {
		t.Errorf("downstream got traceparent %q, want %q", passedOn, want)
	}
	if line["trace_id"] != testTrace || line["span_id"] != server.SpanContext.SpanID().String() {
		t.Errorf("log line %v does not name the server span", line)
	}
}

// Not exporting (no endpoint), nothing is recorded, but the caller's trace
// still crosses the service: the call carries it on, and the log names it.
func TestTracingOffStillPassesTheTraceOn(t *testing.T) {
	tr, err := NewTracing(context.Background(), env(map[string]string{"OTEL_SERVICE_NAME": "x"}), "test")
	if err != nil {
		t.Fatal(err)
	}
	if tr.TracerProvider() != nil {
		t.Error("with no endpoint, datastore clients get a tracer provider")
	}
	passedOn, line := callTraced(t, tr)
	if !strings.HasPrefix(passedOn, "00-"+testTrace+"-") {
		t.Errorf("downstream got traceparent %q, want trace %s passed on", passedOn, testTrace)
	}
	if line["trace_id"] != testTrace {
		t.Errorf("log line %v does not name the caller's trace", line)
	}
}

func TestNewTracing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		vars      map[string]string
		exporting bool
		err       string
	}{
		{"no endpoint", nil, false, ""},
		{"an endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true, ""},
		{"a traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true, ""},
		{"disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, false, ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{"another exporter", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "zipkin"}, false, `OTEL_TRACES_EXPORTER "zipkin"`},
		{"gRPC", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, `OTEL_EXPORTER_OTLP_PROTOCOL "grpc"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewTracing(context.Background(), env(tc.vars), "test")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if (tr.TracerProvider() != nil) != tc.exporting {
				t.Errorf("exporting %v, want %v", tr.TracerProvider() != nil, tc.exporting)
			}
		})
	}
}

// The cost of tracing when nothing is exported, against no tracing at all,
// for a request without a traceparent (the shop's own traffic when nobody
// traces) and with one (docs/performance.md quotes them).
func BenchmarkRequestTracing(b *testing.B) {
	down := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer down.Close()
	off, err := NewTracing(context.Background(), env(nil), "bench")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		tr          *Tracing
		traceparent string
	}{{"none", nil, ""}, {"off", off, ""}, {"off-traced-caller", off, "00-" + testTrace + "-" + testCaller + "-01"}} {
		b.Run(tc.name, func(b *testing.B) {
			h := tracedEngine(tc.tr, down.URL, io.Discard)
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/items/7", nil)
				if tc.traceparent != "" {
					req.Header.Set("traceparent", tc.traceparent)
				}
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
