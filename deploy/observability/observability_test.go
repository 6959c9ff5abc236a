package observability

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/deploy/composecheck"
	"github.com/roboshop-go/roboshop/testkit"
	"go.yaml.in/yaml/v3"
)

func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	bin := testkit.Tool(t, "ROBOSHOP_PROMTOOL", "promtool", "scripts/deps.sh builds it (build_prometheus in scripts/lib.sh)")
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestPromtoolAcceptsConfigRulesAndTheirTests(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"check config", []string{"check", "config", "prometheus.yml"}, "SUCCESS: 1 rule files found"},
		{"check rules", []string{"check", "rules", "alerts.yml"}, "SUCCESS: 6 rules found"},
		{"test rules", []string{"test", "rules", "alerts_test.yml"}, "SUCCESS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := promtool(t, "prometheus", tc.args...)
			if err != nil || !strings.Contains(out, tc.want) {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
		})
	}
}

// The rules' unit tests fail when a rule is broken the way rules break.
func TestAlertTestsCatchABrokenRule(t *testing.T) {
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("prometheus/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"pages at the first failed scrape", "== 0\n        for: 1m", "== 0\n        for: 0s", "alertname: RoboshopServiceDown"},
		{"counts declines as failures", `outcome="failed"}[5m]))
            / sum`, `outcome=~"failed|declined"}[5m]))
            / sum`, "alertname: RoboshopCheckoutErrorRate"},
		{"pages on a single failure at night", "and\n          sum(rate(roboshop_checkouts_total{outcome=\"failed\"}[5m])) > 1/60", "",
			"alertname: RoboshopCheckoutErrorRate, time: 14m"},
		{"times the probes", `{route!~"/healthz|/readyz|/metrics"}`, "", "alertname: RoboshopLatencyOverBudget"},
		{"pages on the pending checkouts", `roboshop_charge_intents_open{state="refunding"}`, `roboshop_charge_intents_open`, "alertname: RoboshopRefundDue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(rules), tc.old) {
				t.Fatalf("alerts.yml does not contain %q", tc.old)
			}
			dir := t.TempDir()
			broken := strings.Replace(string(rules), tc.old, tc.new, 1)
			if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "alerts_test.yml"), tests, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := promtool(t, dir, "test", "rules", "alerts_test.yml")
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("the rule broken (%s) still passes its tests, or fails elsewhere (%v):\n%s", tc.name, err, out)
			}
		})
	}
}

type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Title      string `json:"title"`
	Datasource ref    `json:"datasource"`
	Targets    []struct {
		RefID      string `json:"refId"`
		Datasource ref    `json:"datasource"`
		Expr       string `json:"expr"`
	} `json:"targets"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
}

type ref struct{ Type, UID string }

// Dashboards reads every provisioned dashboard.
func dashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob("grafana/dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

// Queries are each dashboard expression as Prometheus would run it, with
// Grafana's variables given values of the right kind.
func Queries(t *testing.T) map[string]string {
	t.Helper()
	grafanaVars := strings.NewReplacer("$__rate_interval", "1m", "$__range", "1h", "$__interval", "15s")
	out := map[string]string{}
	for file, d := range dashboards(t) {
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				out[fmt.Sprintf("%s %q %s", file, p.Title, q.RefID)] = grafanaVars.Replace(q.Expr)
			}
		}
	}
	return out
}

func TestGrafanaProvisioning(t *testing.T) {
	var sources struct {
		Datasources []struct{ Name, UID, Type, URL string }
	}
	raw, err := os.ReadFile("grafana/provisioning/datasources/datasources.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &sources); err != nil {
		t.Fatal(err)
	}
	provisioned := map[string]string{} // uid -> type
	for _, s := range sources.Datasources {
		provisioned[s.UID] = s.Type
	}
	// The data sources name the compose services that serve them.
	project, err := composecheck.LoadWithObservability(context.Background(), "../../docker-compose.yml", "GRAFANA_ADMIN_PASSWORD=x",
		"USER_MONGO_PASSWORD=a", "CATALOGUE_MONGO_PASSWORD=b", "REDIS_PASSWORD=c", "MYSQL_PASSWORD=d", "MYSQL_ROOT_PASSWORD=e",
		"USER_SIGNING_KEY=f", "USER_MONGO_ROOT_PASSWORD=g", "CATALOGUE_MONGO_ROOT_PASSWORD=h", "SETTLE_TOKEN=i", "MYSQL_APP_PASSWORD=j")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("data sources", func(t *testing.T) {
		want := map[string]string{"prometheus": "http://prometheus:9090", "jaeger": "http://jaeger:16686"}
		for _, s := range sources.Datasources {
			if want[s.UID] != s.URL {
				t.Errorf("data source %s at %s, want %s", s.UID, s.URL, want[s.UID])
			}
			if _, ok := project.Services[s.UID]; !ok {
				t.Errorf("data source %s: no compose service of that name", s.UID)
			}
		}
		if len(sources.Datasources) != len(want) {
			t.Errorf("%d data sources, want %d", len(sources.Datasources), len(want))
		}
	})
	t.Run("mounted where the provider reads", func(t *testing.T) {
		var providers struct {
			Providers []struct {
				Options struct{ Path string }
			}
		}
		raw, err := os.ReadFile("grafana/provisioning/dashboards/dashboards.yml")
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &providers); err != nil || len(providers.Providers) != 1 {
			t.Fatalf("dashboards.yml: %v, %d providers", err, len(providers.Providers))
		}
		mounts := map[string]string{}
		for _, v := range project.Services["grafana"].Volumes {
			mounts[v.Target] = v.Source
		}
		abs, _ := filepath.Abs(".")
		home := *project.Services["grafana"].Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
		if filepath.Dir(home) != providers.Providers[0].Options.Path || !fileExists(filepath.Join("grafana/dashboards", filepath.Base(home))) {
			t.Errorf("the home dashboard %s is not one of the provisioned dashboards", home)
		}
		for target, source := range map[string]string{
			providers.Providers[0].Options.Path: filepath.Join(abs, "grafana/dashboards"),
			"/etc/grafana/provisioning":         filepath.Join(abs, "grafana/provisioning"),
		} {
			if mounts[target] != source {
				t.Errorf("grafana mounts %q at %s, want %s", mounts[target], target, source)
			}
		}
	})
	boards := dashboards(t)
	t.Run("the dashboards the issue names", func(t *testing.T) {
		for _, want := range []string{"shop-overview.json", "user.json", "catalogue.json", "cart.json", "payment.json", "datastores.json"} {
			if _, ok := boards[want]; !ok {
				t.Errorf("no %s", want)
			}
		}
	})
	uids := map[string]string{}
	for file, d := range boards {
		t.Run(file, func(t *testing.T) {
			if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
				t.Fatalf("uid %q, title %q, %d panels", d.UID, d.Title, len(d.Panels))
			}
			if other, ok := uids[d.UID]; ok {
				t.Errorf("uid %s is also %s's", d.UID, other)
			}
			uids[d.UID] = file
			ids := map[int]bool{}
			for _, p := range d.Panels {
				if ids[p.ID] {
					t.Errorf("panel id %d twice", p.ID)
				}
				ids[p.ID] = true
				if provisioned[p.Datasource.UID] != p.Datasource.Type {
					t.Errorf("panel %q: data source %+v is not provisioned", p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, q := range p.Targets {
					if q.Datasource != p.Datasource || strings.TrimSpace(q.Expr) == "" {
						t.Errorf("panel %q query %s: data source %+v, expr %q", p.Title, q.RefID, q.Datasource, q.Expr)
					}
				}
				if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
					t.Errorf("panel %q: grid position %+v off Grafana's 24 columns", p.Title, p.GridPos)
				}
			}
		})
	}
}

// Every dashboard query is PromQL that Prometheus parses: promtool checks them
// as recording rules (it has no other way to parse an expression alone).
func TestDashboardQueriesParse(t *testing.T) {
	queries := Queries(t)
	keys := make([]string, 0, len(queries))
	for k := range queries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, k := range keys {
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard_query_%d", i), Expr: queries[k]})
	}
	raw, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "queries.yml"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := promtool(t, dir, "check", "rules", "queries.yml")
	if err != nil {
		// promtool names the rule by its index; say which panel it is.
		for i, k := range keys {
			if strings.Contains(out, fmt.Sprintf("%q", fmt.Sprintf("dashboard_query_%d", i))) {
				t.Errorf("%s: %s", k, queries[k])
			}
		}
		t.Fatalf("promtool check rules on the dashboards' %d queries: %v\n%s", len(keys), err, out)
	}
	if !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(keys))) {
		t.Fatalf("promtool found another number of queries than %d:\n%s", len(keys), out)
	}
}

func fileExists(path string) bool { _, err := os.Stat(path); return err == nil }
