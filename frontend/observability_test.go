package frontend

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/frontend/nginxtest"
	"github.com/roboshop-go/roboshop/testkit"
)

// promAPI asks Prometheus's HTTP API at base and decodes the answer's data.
func promAPI(t *testing.T, base, path string, params url.Values, data any) error {
	t.Helper()
	resp, err := client().Get(base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var answer struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, raw)
	}
	if answer.Status != "success" {
		return fmt.Errorf("%s: %s", path, answer.Error)
	}
	return json.Unmarshal(answer.Data, data)
}

// selectors are the vector and range selectors in a parsed query (Prometheus's
// /api/v1/parse_query tree), each as the series selector of its equality
// matchers: the ones that must match something for the query to mean what it
// says (a regex such as status=~"5.." may rightly match nothing yet).
func selectors(node any) []string {
	var out []string
	switch n := node.(type) {
	case map[string]any:
		if n["type"] == "vectorSelector" || n["type"] == "matrixSelector" {
			var eq []string
			ms, _ := n["matchers"].([]any)
			for _, m := range ms {
				m, _ := m.(map[string]any)
				if m["type"] == "=" {
					eq = append(eq, fmt.Sprintf("%s=%q", m["name"], m["value"]))
				}
			}
			sort.Strings(eq)
			return []string{"{" + strings.Join(eq, ",") + "}"}
		}
		for _, v := range n {
			out = append(out, selectors(v)...)
		}
	case []any:
		for _, v := range n {
			out = append(out, selectors(v)...)
		}
	}
	return out
}

// The dashboards and the alert rules ask for metrics the shop really exports:
// a real Prometheus, with compose's configuration and rules, scrapes the four
// services and nginx (through the exporter's stand-in) after a buyer's
// journey. Every selector of every dashboard query and alert expression names
// a metric, with label values, that Prometheus has; every query runs; every
// rule loads and evaluates without error.
func TestDashboardsAndAlertsAskForRealMetrics(t *testing.T) {
	urls := startServices(t, nil)
	base, status := nginxtest.StartWithStatus(t, nginxtest.Upstreams{User: urls["user"], Catalogue: urls["catalogue"],
		Cart: urls["cart"], Payment: urls["payment"]})
	exporter := "127.0.0.1:" + fmt.Sprint(testkit.FreePort(t))
	testkit.StartProcess(t, exporter, testkit.Binary(t, "nginxexporter"),
		"--nginx.scrape-uri=http://"+status+"/stub_status", "--web.listen-address="+exporter)

	// Compose's configuration, with the targets on loopback and a scrape a second.
	conf := filepath.Join("..", "deploy", "observability", "prometheus")
	raw, err := os.ReadFile(filepath.Join(conf, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	config := string(raw)
	for old, new := range map[string]string{
		"scrape_interval: 10s": "scrape_interval: 1s", "evaluation_interval: 10s": "evaluation_interval: 1s",
		`"user:8080"`: `"` + strings.TrimPrefix(urls["user"], "http://") + `"`, `"catalogue:8080"`: `"` + strings.TrimPrefix(urls["catalogue"], "http://") + `"`,
		`"cart:8080"`: `"` + strings.TrimPrefix(urls["cart"], "http://") + `"`, `"payment:8080"`: `"` + strings.TrimPrefix(urls["payment"], "http://") + `"`,
		`"frontend:9113"`: `"` + exporter + `"`,
	} {
		if !strings.Contains(config, old) {
			t.Fatalf("prometheus.yml no longer says %s", old)
		}
		config = strings.Replace(config, old, new, 1)
	}
	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join(conf, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"prometheus.yml": config, "alerts.yml": string(rules)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	promAddr := "127.0.0.1:" + fmt.Sprint(testkit.FreePort(t))
	prometheus := testkit.Tool(t, "ROBOSHOP_PROMETHEUS", "prometheus", "scripts/deps.sh builds it (build_prometheus in scripts/lib.sh)")
	p := testkit.StartProcess(t, promAddr, prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr, "--log.level=warn")
	prom := "http://" + promAddr
	testkit.WaitReady(t, prom+"/-/ready", p)

	buyOnce(t, base)

	// Wait until a scrape has seen the order and the rules have run on it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ordered struct{ Result []any }
		err := promAPI(t, prom, "/api/v1/query", url.Values{"query": {`sum(roboshop_checkouts_total{outcome="ordered"}) > 0 and sum(nginx_http_requests_total) > 0`}}, &ordered)
		if err == nil && len(ordered.Result) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never saw the order (%v, %v)", err, ordered)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // two more evaluations of every rule

	queries := map[string]string{}
	files, err := filepath.Glob(filepath.Join("..", "deploy", "observability", "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	vars := strings.NewReplacer("$__rate_interval", "1m", "$__range", "1h", "$__interval", "15s")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []struct {
				Title   string
				Targets []struct{ RefID, Expr string }
			}
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				queries[fmt.Sprintf("%s %q %s", filepath.Base(f), p.Title, q.RefID)] = vars.Replace(q.Expr)
			}
		}
	}
	var loaded struct {
		Groups []struct {
			Rules []struct {
				Name, Query, Health, LastError string
			}
		}
	}
	if err := promAPI(t, prom, "/api/v1/rules", nil, &loaded); err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range loaded.Groups {
		for _, r := range g.Rules {
			alerts++
			queries["alert "+r.Name] = r.Query
			if r.Health != "ok" {
				t.Errorf("alert %s: health %q (%s)", r.Name, r.Health, r.LastError)
			}
		}
	}
	if want := strings.Count(string(rules), "- alert: "); alerts != want {
		t.Errorf("Prometheus loaded %d alert rules, want alerts.yml's %d", alerts, want)
	}

	checked := map[string]bool{}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			var tree any
			if err := promAPI(t, prom, "/api/v1/parse_query", url.Values{"query": {q}}, &tree); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			var result any
			if err := promAPI(t, prom, "/api/v1/query", url.Values{"query": {q}}, &result); err != nil {
				t.Errorf("%s: %v", q, err)
			}
			sels := selectors(tree)
			if len(sels) == 0 {
				t.Errorf("%s selects no metric", q)
			}
			for _, sel := range sels {
				var series []map[string]string
				if err := promAPI(t, prom, "/api/v1/series", url.Values{"match[]": {sel}}, &series); err != nil {
					t.Fatalf("%s: %v", sel, err)
				}
				if len(series) == 0 {
					t.Errorf("%s: no series is %s", q, sel)
				}
				checked[sel] = true
			}
		})
	}
	t.Logf("%d queries (%d from dashboards, %d alerts), %d distinct selectors, each matched by real series", len(queries), len(queries)-alerts, alerts, len(checked))
}

// buyOnce is a buyer's journey through nginx: a guest's cart, registration,
// a login, the merge, the quote and a checkout with the approving card.
func buyOnce(t *testing.T, base string) {
	t.Helper()
	guest := guestWithCart(t, base)
	email := fmt.Sprintf("metrics-%d@roboshop.example", time.Now().UnixNano())
	credentials := map[string]string{"email": email, "name": "Meter", "password": "metrics-test-password"}
	traced(t, base, "", "", "POST", "/api/user/register", "", credentials, nil, nil)
	var auth struct{ Token string }
	traced(t, base, "", "", "POST", "/api/user/login", "", map[string]string{"email": email, "password": credentials["password"]}, nil, &auth)
	traced(t, base, "", "", "POST", "/api/cart/cart/merge", auth.Token, map[string]string{"guest_token": guest}, nil, nil)
	var quote struct {
		TotalCents int64 `json:"total_cents"`
	}
	traced(t, base, "", "", "GET", "/api/payment/checkout/quote", auth.Token, nil, nil, &quote)
	traced(t, base, "", "", "POST", "/api/payment/checkout", auth.Token, checkoutBody("Meter", quote.TotalCents),
		map[string]string{"Idempotency-Key": "metrics-test-checkout"}, nil)
}
