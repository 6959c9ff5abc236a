package frontend

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/frontend/nginxtest"
	"github.com/roboshop-go/roboshop/testkit"
	"github.com/roboshop-go/roboshop/topology"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// span is one span as the receiver got it.
type span struct {
	service, name     string
	kind              tracepb.Span_SpanKind
	trace, id, parent string
	db                string // the datastore a client span talks to ("" for none)
	route             string
}

// otlpReceiver takes spans over OTLP/HTTP (protobuf) as a collector does.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []span
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	var export collectortrace.ExportTraceServiceRequest
	if err != nil || req.URL.Path != "/v1/traces" || proto.Unmarshal(body, &export) != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range export.ResourceSpans {
		service := ""
		for _, a := range rs.Resource.GetAttributes() {
			if a.Key == "service.name" {
				service = a.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				got := span{service: service, name: s.Name, kind: s.Kind, trace: hex.EncodeToString(s.TraceId),
					id: hex.EncodeToString(s.SpanId), parent: hex.EncodeToString(s.ParentSpanId)}
				for _, a := range s.Attributes {
					switch a.Key {
					case "db.system", "db.system.name":
						got.db = a.Value.GetStringValue()
					case "http.route":
						got.route = a.Value.GetStringValue()
					}
				}
				r.spans = append(r.spans, got)
			}
		}
	}
	r.mu.Unlock()
	raw, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(raw)
}

// trace returns the spans of trace id received so far.
func (r *otlpReceiver) trace(id string) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []span
	for _, s := range r.spans {
		if s.trace == id {
			out = append(out, s)
		}
	}
	return out
}

// tracedShop starts the four services, exporting their spans to a receiver
// in this test, with nginx in front, and returns nginx's base URL.
func tracedShop(t *testing.T) (string, *otlpReceiver) {
	t.Helper()
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	urls := startServices(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "50", // ms: the test waits for the spans
	})
	return nginxtest.Start(t, nginxtest.Upstreams{User: urls["user"], Catalogue: urls["catalogue"], Cart: urls["cart"],
		Payment: urls["payment"]}), recv
}

// startServices starts the four services for this test alone, each on a
// datastore of its own and with extra in its environment, and returns their
// base URLs by name.
func startServices(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	shop := topology.Roboshop()
	urls := map[string]string{}
	for _, svc := range shop.Services { // in order: each after the services it calls
		var store string
		switch shop.Datastore(svc.Store).Engine {
		case topology.MongoDB:
			store = testkit.MongoURI(t)
		case topology.Redis:
			store = testkit.SharedRedisURL(t)
		case topology.MySQL:
			store = testkit.MariaDBDSN(t)
		}
		env := svc.Env(shop, "", store, func(name string) string { return urls[name] })
		delete(env, "LISTEN_ADDR")
		maps.Copy(env, extra)
		if svc.Name == "user" {
			env["BCRYPT_COST"] = "10"
		}
		p := testkit.StartService(t, testkit.Service(svc.Name), env)
		urls[svc.Name] = "http://" + p.Addr()
	}
	return urls
}

// traced sends one request through nginx as part of trace traceID, from a
// caller span of its own (the browser's), and decodes the answer into out.
func traced(t *testing.T, base, traceID, callerSpan, method, path, token string, body any, headers map[string]string, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = strings.NewReader(string(raw))
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if traceID != "" {
		req.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// guestWithCart is a guest's token with three products in its cart, put
// there through nginx outside any trace.
func guestWithCart(t *testing.T, base string) string {
	t.Helper()
	var guest struct{ Token string }
	traced(t, base, "", "", "POST", "/api/user/guest", "", nil, nil, &guest)
	var page struct{ Items []struct{ SKU string } }
	traced(t, base, "", "", "GET", "/api/catalogue/products?limit=3", "", nil, nil, &page)
	for _, p := range page.Items {
		traced(t, base, "", "", "POST", "/api/cart/cart/items", guest.Token, map[string]any{"sku": p.SKU, "qty": 1}, nil, nil)
	}
	return guest.Token
}

// checkoutBody is a checkout with the approving card, shipped to holder.
func checkoutBody(holder string, totalCents int64) map[string]any {
	return map[string]any{
		"card": map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": time.Now().Year() + 2, "cvc": "123", "holder": holder},
		"shipping_address": map[string]string{"name": holder, "line1": "1 Span Street", "line2": "", "city": "Tracetown",
			"postal_code": "12345", "country": "US"},
		"expected_total_cents": totalCents,
	}
}

// ancestor reports whether a is b or one of b's ancestors in spans.
func ancestor(spans map[string]span, a, b string) bool {
	for id := b; id != ""; id = spans[id].parent {
		if id == a {
			return true
		}
		if _, ok := spans[id]; !ok {
			return false
		}
	}
	return false
}

// One checkout through nginx, with the caller's traceparent, is one trace:
// payment's server span is the caller's child, every call it makes to cart
// and catalogue is a client span whose child is that service's server span,
// and the MySQL and Redis calls sit under the server span of the service that
// made them. A registration shows the same for the user service and MongoDB.
func TestOneCheckoutIsOneTrace(t *testing.T) {
	base, recv := tracedShop(t)

	// Untraced set-up: a buyer with three products in the cart, and the quote.
	guest := guestWithCart(t, base)

	const caller = "00f067aa0ba902b7"
	registerTrace := "4bf92f3577b34da6a3ce929d0e0e4736"
	var auth struct{ Token string }
	traced(t, base, registerTrace, caller, "POST", "/api/user/register", "",
		map[string]string{"email": fmt.Sprintf("trace-%d@roboshop.example", time.Now().UnixNano()), "name": "Tracer", "password": "trace-test-password"},
		nil, &auth)
	traced(t, base, "", "", "POST", "/api/cart/cart/merge", auth.Token, map[string]string{"guest_token": guest}, nil, nil)
	var quote struct {
		TotalCents int64 `json:"total_cents"`
	}
	traced(t, base, "", "", "GET", "/api/payment/checkout/quote", auth.Token, nil, nil, &quote)

	checkoutTrace := "0af7651916cd43dd8448eb211c80319c"
	traced(t, base, checkoutTrace, caller, "POST", "/api/payment/checkout", auth.Token, checkoutBody("Tracer", quote.TotalCents),
		map[string]string{"Idempotency-Key": "trace-test-checkout"}, nil)

	// The shape each trace must have, checked once every span has arrived.
	check := func(traceID string) []string {
		byID := map[string]span{}
		for _, s := range recv.trace(traceID) {
			byID[s.id] = s
		}
		var problems []string
		root := ""
		for id, s := range byID {
			if s.kind == tracepb.Span_SPAN_KIND_SERVER && s.parent == caller {
				root = id
			}
		}
		if root == "" {
			return []string{"no server span is the caller's child"}
		}
		want := map[string]bool{}
		switch traceID {
		case checkoutTrace:
			want = map[string]bool{"payment server POST /checkout": false, "cart server": false, "catalogue server": false,
				"payment mysql": false, "cart redis": false}
		case registerTrace:
			want = map[string]bool{"user server POST /register": false, "user mongodb": false}
		}
		for id, s := range byID {
			switch {
			case s.kind == tracepb.Span_SPAN_KIND_SERVER && id == root:
				want[s.service+" server "+s.name] = true
			case s.kind == tracepb.Span_SPAN_KIND_SERVER:
				// Another service's server span: the child of a client span of
				// the root's service, under the root.
				p, ok := byID[s.parent]
				if !ok || p.kind != tracepb.Span_SPAN_KIND_CLIENT || p.service != byID[root].service || !ancestor(byID, root, p.id) {
					problems = append(problems, fmt.Sprintf("%s server span %q: its parent is not a client span under the root", s.service, s.name))
				}
				want[s.service+" server"] = true
			case s.db != "":
				// A datastore call: under its own service's server span.
				server := ""
				for sid, o := range byID {
					if o.kind == tracepb.Span_SPAN_KIND_SERVER && o.service == s.service && ancestor(byID, sid, id) {
						server = sid
					}
				}
				if server == "" {
					problems = append(problems, fmt.Sprintf("%s %s span %q is not under %s's server span", s.service, s.db, s.name, s.service))
				}
				want[s.service+" "+s.db] = true
			}
		}
		for k, seen := range want {
			if !seen {
				problems = append(problems, "no "+k+" span")
			}
		}
		return problems
	}
	for _, tc := range []struct{ name, trace string }{{"checkout", checkoutTrace}, {"registration", registerTrace}} {
		t.Run(tc.name, func(t *testing.T) {
			var problems []string
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if problems = check(tc.trace); len(problems) == 0 {
					break
				}
			}
			if len(problems) > 0 {
				var got []string
				for _, s := range recv.trace(tc.trace) {
					got = append(got, fmt.Sprintf("%s %v %q id=%s parent=%s db=%s", s.service, s.kind, s.name, s.id, s.parent, s.db))
				}
				t.Fatalf("%s\nspans:\n%s", strings.Join(problems, "\n"), strings.Join(got, "\n"))
			}
		})
	}
}
