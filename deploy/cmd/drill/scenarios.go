package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

var traceScenario = scenario{
	about: "one order placed through the shop, found again as one trace in Jaeger, and Prometheus scraping every target",
	look:  "Jaeger (http://127.0.0.1:16686/trace/<id>, the id printed below); Grafana's Roboshop: shop overview",
	run: func(ctx context.Context, d *drill) error {
		o, err := d.http.buy(ctx)
		if err != nil {
			return err
		}
		step("ordered in %s; the checkout's trace is %s", o.took.Round(time.Millisecond), o.traceID)
		if err := d.traceCovers(ctx, o.traceID); err != nil {
			return err
		}
		return until(ctx, 60*time.Second, "Prometheus scrapes every target and each answers", func() error {
			var targets struct {
				ActiveTargets []struct {
					Labels    map[string]string
					Health    string
					LastError string
				}
			}
			if err := d.promAPI(ctx, "/api/v1/targets?state=active", &targets); err != nil {
				return err
			}
			var down []string
			for _, t := range targets.ActiveTargets {
				if t.Health != "up" {
					down = append(down, fmt.Sprintf("%s (%s: %s)", t.Labels["job"], t.Health, t.LastError))
				}
			}
			if len(targets.ActiveTargets) == 0 || len(down) > 0 {
				return fmt.Errorf("%d targets, not up: %s", len(targets.ActiveTargets), strings.Join(down, ", "))
			}
			return nil
		})
	},
}

// traceCovers waits for the checkout's trace in Jaeger with spans from payment,
// cart and catalogue and from its MySQL and Redis calls.
func (d *drill) traceCovers(ctx context.Context, traceID string) error {
	return until(ctx, 60*time.Second, "Jaeger has the checkout's trace: payment, cart, catalogue, MySQL and Redis", func() error {
		var answer struct{ Data []jaegerTrace }
		err := getJSON(ctx, d.jaeger+"/api/traces/"+traceID, func(raw []byte) error { return json.Unmarshal(raw, &answer) })
		if err != nil {
			return err
		}
		if len(answer.Data) != 1 {
			return fmt.Errorf("%d traces of id %s", len(answer.Data), traceID)
		}
		tr := answer.Data[0]
		seen := map[string]int{}
		for _, s := range tr.Spans {
			seen[tr.Processes[s.ProcessID].ServiceName]++
			if db := s.tag("db.system.name") + s.tag("db.system"); db != "" {
				seen[db]++
			}
		}
		for _, want := range []string{"payment", "cart", "catalogue", "mysql", "redis"} {
			if seen[want] == 0 {
				return fmt.Errorf("spans by service and datastore %v: none from %s", seen, want)
			}
		}
		step("the trace has %d spans (payment %d, cart %d, catalogue %d; %d of them MySQL calls, %d Redis):\n%s",
			len(tr.Spans), seen["payment"], seen["cart"], seen["catalogue"], seen["mysql"], seen["redis"], tr.tree())
		return nil
	})
}

// jaegerTrace is a trace as Jaeger's query API gives it.
type jaegerTrace struct {
	Spans     []jaegerSpan
	Processes map[string]struct{ ServiceName string }
}

type jaegerSpan struct {
	SpanID, OperationName, ProcessID string
	StartTime, Duration              int64 // µs
	References                       []struct{ RefType, SpanID string }
	Tags                             []struct {
		Key   string
		Value any
	}
}

func (s jaegerSpan) tag(key string) string {
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// tree draws the trace as Jaeger's timeline lists it: each span under its
// parent, in the order they started, with its service and duration.
func (t jaegerTrace) tree() string {
	ids := map[string]bool{}
	for _, s := range t.Spans {
		ids[s.SpanID] = true
	}
	children := map[string][]jaegerSpan{}
	for _, s := range t.Spans {
		parent := ""
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" && ids[r.SpanID] {
				parent = r.SpanID
			}
		}
		children[parent] = append(children[parent], s)
	}
	var b strings.Builder
	var draw func(parent string, depth int)
	draw = func(parent string, depth int) {
		spans := children[parent]
		sort.Slice(spans, func(i, j int) bool { return spans[i].StartTime < spans[j].StartTime })
		for _, s := range spans {
			fmt.Fprintf(&b, "      %s%-*s %-10s %7.1f ms\n", strings.Repeat("  ", depth), 44-2*depth, s.OperationName,
				t.Processes[s.ProcessID].ServiceName, float64(s.Duration)/1000)
			draw(s.SpanID, depth+1)
		}
	}
	draw("", 0)
	return strings.TrimRight(b.String(), "\n")
}

// composeCmd is docker compose with args, env added to its environment.
func (d *drill) composeCmd(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.compose[0], append(slices.Clone(d.compose[1:]), args...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// composeRun runs docker compose with args (and env added to its environment).
func (d *drill) composeRun(ctx context.Context, env []string, args ...string) error {
	out, err := d.composeCmd(ctx, env, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", strings.Join(d.compose, " "), strings.Join(args, " "), err, out)
	}
	step("%s %s", strings.Join(append(env, "docker compose"), " "), strings.Join(args, " "))
	return nil
}

var gatewaySlow = scenario{
	about: "payment's card gateway takes 2 s to answer (GATEWAY_LATENCY=2s): checkouts slow down, nothing fails",
	look: "Grafana's Roboshop: payment, 'Latency by route' (p99 of POST /checkout); the checkout's trace in Jaeger (payment's span 2 s long, " +
		"its cart, catalogue and MySQL children short: the time is in the gateway); the alert RoboshopLatencyOverBudget",
	needs: "compose",
	run: func(ctx context.Context, d *drill) error {
		return restoring(func() error {
			if err := d.composeRun(ctx, []string{"GATEWAY_LATENCY=2s"}, "up", "-d", "--no-deps", "--wait", "payment"); err != nil {
				return err
			}
			o, err := d.http.buy(ctx)
			if err != nil {
				return err
			}
			if o.took < 2*time.Second {
				return fmt.Errorf("the checkout took %s with a 2 s gateway", o.took)
			}
			step("the checkout took %s (trace %s)", o.took.Round(time.Millisecond), o.traceID)
			if err := d.traceCovers(ctx, o.traceID); err != nil {
				return err
			}
			return d.alertRaised(ctx, "RoboshopLatencyOverBudget", "payment")
		}, func() error {
			if err := d.composeRun(ctx, nil, "up", "-d", "--no-deps", "--wait", "payment"); err != nil {
				return err
			}
			o, err := d.http.buy(ctx)
			if err == nil {
				step("restored: a checkout took %s", o.took.Round(time.Millisecond))
			}
			return err
		})
	},
}

var redisDown = scenario{
	about: "cart's Redis stops: carts cannot be read or written, the rest of the shop answers",
	look: "Grafana's Roboshop: datastores ('Datastore answering': cart at 0) and cart ('Errors (5xx)'); " +
		"the alert RoboshopDatastoreUnreachable; a failed cart request's trace in Jaeger (the redis span's error)",
	needs: "compose",
	run: func(ctx context.Context, d *drill) error {
		guest, err := d.http.guestWithCart(ctx)
		if err != nil {
			return err
		}
		return restoring(func() error {
			if err := d.composeRun(ctx, nil, "stop", "cart-redis"); err != nil {
				return err
			}
			if err := d.answers(ctx, "/api/cart/cart", guest, 503); err != nil {
				return err
			}
			if err := d.answers(ctx, "/api/catalogue/products?limit=1", "", 200); err != nil {
				return err
			}
			if err := d.seriesIs(ctx, `roboshop_datastore_up{job="cart"}`, 0); err != nil {
				return err
			}
			return d.alertRaised(ctx, "RoboshopDatastoreUnreachable", "cart")
		}, func() error {
			if err := d.composeRun(ctx, nil, "start", "cart-redis"); err != nil {
				return err
			}
			if err := d.answers(ctx, "/api/cart/cart", guest, 200); err != nil {
				return err
			}
			return d.seriesIs(ctx, `roboshop_datastore_up{job="cart"}`, 1)
		})
	},
}

var catalogueDown = scenario{
	about: "the catalogue service stops: product pages fail, and so does adding to a cart (cart prices from the catalogue)",
	look: "Grafana's Roboshop: shop overview ('Services up': catalogue at 0; cart's 5xx share rises); the alert RoboshopServiceDown; " +
		"a failed add's trace in Jaeger (cart's call to catalogue in error)",
	needs: "compose",
	run: func(ctx context.Context, d *drill) error {
		guest, err := d.http.guestWithCart(ctx)
		if err != nil {
			return err
		}
		var page struct{ Items []struct{ SKU string } }
		if err := d.http.call(ctx, http.MethodGet, "/api/catalogue/products?limit=1", "", nil, nil, &page); err != nil || len(page.Items) == 0 {
			return fmt.Errorf("no product to add (%v)", err)
		}
		return restoring(func() error {
			if err := d.composeRun(ctx, nil, "stop", "catalogue"); err != nil {
				return err
			}
			// nginx's idle keep-alive connections to the stopped container
			// get no answer at all (a 504 after its 20 s read timeout); new
			// ones are refused (502).
			if err := d.answers(ctx, "/api/catalogue/products?limit=1", "", 5); err != nil {
				return err
			}
			// cart prices an add from its own copy of the product for up to
			// PRODUCT_CACHE_TTL (10 s): adds go on working that long.
			var refused *statusError
			err := until(ctx, 60*time.Second, "adding to a cart fails once cart's copy of the product expires", func() error {
				err := d.http.call(ctx, http.MethodPost, "/api/cart/cart/items", guest, nil, map[string]any{"sku": page.Items[0].SKU, "qty": 1}, nil)
				if se, ok := err.(*statusError); ok && se.status/100 == 5 {
					refused = se
					return nil
				}
				return fmt.Errorf("adding answered %v, want a 5xx", err)
			})
			if err != nil {
				return err
			}
			step("adding to a cart answers %d", refused.status)
			if err := d.seriesIs(ctx, `up{job="catalogue"}`, 0); err != nil {
				return err
			}
			return d.alertRaised(ctx, "RoboshopServiceDown", "catalogue")
		}, func() error {
			if err := d.composeRun(ctx, nil, "start", "catalogue"); err != nil {
				return err
			}
			// nginx resolved catalogue's name when it loaded its configuration,
			// and a container started again may get another address: a reload
			// resolves it again (on EC2 the frontend's follow-dns timer does it).
			if err := d.composeRun(ctx, nil, "exec", "-T", "frontend", "nginx", "-s", "reload"); err != nil {
				return err
			}
			if err := d.answers(ctx, "/api/catalogue/products?limit=1", "", 200); err != nil {
				return err
			}
			return d.seriesIs(ctx, `up{job="catalogue"}`, 1)
		})
	},
}

// answers waits for GET path to answer status, or a status of that class
// when it is a single digit (5: any 5xx), and says what it answered.
func (d *drill) answers(ctx context.Context, path, token string, status int) error {
	want := fmt.Sprint(status)
	if status < 10 {
		want += "xx"
	}
	var got int
	err := until(ctx, 90*time.Second, fmt.Sprintf("GET %s answers %s", path, want), func() error {
		var err error
		got, err = d.http.status(ctx, path, token)
		if err == nil && got != status && got/100 != status {
			err = fmt.Errorf("answered %d", got)
		}
		return err
	})
	if err == nil && status < 10 {
		step("it answered %d", got)
	}
	return err
}

// seriesIs waits for Prometheus to hold query at value.
func (d *drill) seriesIs(ctx context.Context, query string, value int) error {
	return until(ctx, 60*time.Second, fmt.Sprintf("Prometheus: %s is %d", query, value), func() error {
		series, err := d.promQuery(ctx, fmt.Sprintf("%s == %d", query, value))
		if err == nil && len(series) == 0 {
			err = fmt.Errorf("not yet")
		}
		return err
	})
}

// mutation is a change to one security group's YAML and the differences the
// lab's check must then show, exactly.
type mutation struct {
	file, old, new string
	differences    []string
}

var (
	removedRule = mutation{
		file: "cart.yaml",
		old: `  - description: "product names and prices for cart lines (catalogue's listener)"
    port: 8082
    group: internal-alb
`,
		differences: []string{"cart -> internal-alb:8082: definitions say allowed, network blocked"},
	}
	widenedRule = mutation{
		file:        "bastion.yaml",
		old:         "    port: 22\n    cidr_variable: admin_cidr\n",
		new:         "    port: 22\n    cidr: 0.0.0.0/0\n",
		differences: []string{"internet -> bastion:22: definitions say blocked, network allowed"},
	}
)

var ruleRemoved = scenario{
	about: "cart's egress rule to catalogue's listener (internal-alb:8082) is removed: cart can no longer price a product",
	look:  "the lab's check (DIFFERENCE lines, and the red edge in its picture); adding to a cart answers 5xx",
	needs: "lab",
	run: func(ctx context.Context, d *drill) error {
		return d.mutate(ctx, removedRule, func() error {
			guest, err := d.http.guestWithCart(ctx)
			if se, ok := err.(*statusError); !ok || se.status/100 != 5 || !strings.HasSuffix(se.path, "/items") {
				return fmt.Errorf("adding to a cart with cart cut off from catalogue: %v (%s), want a 5xx", err, guest)
			}
			step("adding to a cart answers %d", err.(*statusError).status)
			return nil
		}, func() error {
			_, err := d.http.guestWithCart(ctx)
			return err
		})
	},
}

var ruleWidened = scenario{
	about: "the bastion admits SSH from 0.0.0.0/0 instead of admin_cidr (the operator's address): anyone on the internet can knock on port 22",
	look:  "the lab's check: internet -> bastion:22 is open (a '+22!' cell, and red in its picture)",
	needs: "lab",
	run: func(ctx context.Context, d *drill) error {
		return d.mutate(ctx, widenedRule, nil, nil)
	},
}

// mutate applies a changed copy of the security groups to the lab, checks that
// the lab's check shows exactly m.differences (and the symptom, when given),
// then applies the repository's groups again and checks that none is left.
func (d *drill) mutate(ctx context.Context, m mutation, symptom, healed func() error) error {
	dir, err := os.MkdirTemp("", "roboshop-drill-groups-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files, err := filepath.Glob(filepath.Join(d.groups, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no security groups in %s (%v)", d.groups, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if filepath.Base(f) == m.file {
			if !strings.Contains(string(raw), m.old) {
				return fmt.Errorf("%s no longer holds the rule this drill changes:\n%s", f, m.old)
			}
			raw = []byte(strings.Replace(string(raw), m.old, m.new, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), raw, 0o644); err != nil {
			return err
		}
	}
	step("changed %s in a copy of the security groups (%s)", m.file, dir)
	return restoring(func() error {
		// The widened rule breaks the security policy, which the lab's
		// firewall refuses unless told: the drill shows what it lets in.
		if err := d.labRun(ctx, "firewall", "-groups", dir, "-break-policy"); err != nil {
			return err
		}
		if err := d.labDifferences(ctx, m.differences, d.picture); err != nil {
			return err
		}
		if symptom != nil {
			return symptom()
		}
		return nil
	}, func() error {
		if err := d.labRun(ctx, "firewall"); err != nil {
			return err
		}
		if err := d.labDifferences(ctx, nil, ""); err != nil {
			return err
		}
		if healed != nil {
			return healed()
		}
		return nil
	})
}

func (d *drill) labRun(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, d.lab[0], append(append([]string{args[0]}, d.lab[1:]...), args[1:]...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	step("lab %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	return nil
}

// labDifferences runs the lab's check (drawing its picture into graph, or its
// default place when "") and compares the differences it reports (its -json
// report) with want.
func (d *drill) labDifferences(ctx context.Context, want []string, graph string) error {
	dir, err := os.MkdirTemp("", "drill-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	report := filepath.Join(dir, "check.json")
	args := append([]string{"check"}, d.lab[1:]...)
	args = append(args, "-json", report)
	if graph != "" {
		args = append(args, "-graph", graph)
	}
	out, err := exec.CommandContext(ctx, d.lab[0], args...).CombinedOutput()
	rep, rerr := sg.ReadCheckReport(report)
	if rerr != nil {
		return fmt.Errorf("lab check (%v): %v\n%s", err, rerr, out)
	}
	got := differences(rep)
	want = slices.Clone(want)
	sort.Strings(want)
	if !slices.Equal(got, want) || (err == nil) != (len(want) == 0) {
		return fmt.Errorf("lab check (%v): differences %q, want %q\n%s", err, got, want, out)
	}
	step("lab check: %d probes, %d allowed, %d differing%s", rep.Probes, rep.Allowed, len(got), strings.Join(append([]string{""}, got...), "\n      DIFFERENCE: "))
	return nil
}

// differences are the report's differences as the drills name them, sorted.
func differences(rep sg.CheckReport) []string {
	out := []string{}
	for _, d := range rep.Differences {
		out = append(out, d.String())
	}
	sort.Strings(out)
	return out
}
