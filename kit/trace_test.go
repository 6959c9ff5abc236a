package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
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
	tr, err := NewTracing(context.Background(), env(nil), "test", slog.New(slog.DiscardHandler))
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
	tr, err := NewTracing(context.Background(), env(map[string]string{"OTEL_SERVICE_NAME": "x"}), "test", slog.New(slog.DiscardHandler))
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
			tr, err := NewTracing(context.Background(), env(tc.vars), "test", slog.New(slog.DiscardHandler))
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
	off, err := NewTracing(context.Background(), env(nil), "bench", slog.New(slog.DiscardHandler))
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

// A collector that is not there is one warning in the service's JSON log per
// minute, saying how many spans were lost, not a plain-text line on stderr
// for every batch.
func TestUnsentSpansAreSaidOnceAMinute(t *testing.T) {
	const nowhere = "http://otel-collector.invalid:4318" // .invalid never resolves (RFC 2606)
	t.Run("the exporter", func(t *testing.T) {
		otlp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(nowhere+"/v1/traces"))
		if err != nil {
			t.Fatal(err)
		}
		var logged bytes.Buffer
		e := &quietExporter{SpanExporter: otlp, logger: slog.New(slog.NewJSONHandler(&logged, nil)), endpoint: nowhere}
		span := tracetest.SpanStubs{{Name: "lost"}}.Snapshots()
		lost := func() []any {
			var out []any
			for _, line := range strings.Split(strings.TrimSpace(logged.String()), "\n") {
				var l map[string]any
				if err := json.Unmarshal([]byte(line), &l); err != nil || l["msg"] != "spans not exported" {
					t.Fatalf("log line %q (%v)", line, err)
				}
				out = append(out, l["spans_lost"])
			}
			return out
		}
		for range 5 {
			if err := e.ExportSpans(context.Background(), span); err != nil {
				t.Fatalf("ExportSpans passed its error on: %v", err)
			}
		}
		if got := lost(); len(got) != 1 || got[0] != 1.0 {
			t.Fatalf("after 5 failed batches within a minute, spans_lost logged %v, want [1]", got)
		}
		e.said = e.said.Add(-time.Minute) // a minute on
		if err := e.ExportSpans(context.Background(), span); err != nil {
			t.Fatal(err)
		}
		if got := lost(); len(got) != 2 || got[1] != 5.0 {
			t.Fatalf("a minute on, spans_lost logged %v, want [1 5]", got)
		}
	})
	t.Run("nothing on stderr", func(t *testing.T) {
		var stderr bytes.Buffer
		log.SetOutput(&stderr) // where the SDK's own error handler writes
		t.Cleanup(func() { log.SetOutput(os.Stderr) })
		var logged bytes.Buffer
		tr, err := NewTracing(context.Background(), env(map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": nowhere, "OTEL_BSP_SCHEDULE_DELAY": "20",
		}), "test", slog.New(slog.NewJSONHandler(&logged, nil)))
		if err != nil {
			t.Fatal(err)
		}
		h := tr.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		for range 20 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
			time.Sleep(20 * time.Millisecond)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if !strings.Contains(logged.String(), `"msg":"spans not exported"`) {
			t.Errorf("the service's log does not say spans were lost: %q", logged.String())
		}
		if stderr.Len() > 0 {
			t.Errorf("the SDK wrote to stderr too: %q", stderr.String())
		}
	})
}
