// Command drill breaks one thing in a running shop on purpose, checks that the
// symptom shows where docs/observability.md says to look, and restores the
// shop. scripts/drill.sh runs it with the right addresses and commands.
//
//	drill [flags] trace           place an order; find its trace in Jaeger, every target up in Prometheus
//	drill [flags] gateway-slow    the card gateway answers after 2 s (compose)
//	drill [flags] redis-down      cart's Redis stops (compose)
//	drill [flags] catalogue-down  the catalogue service stops (compose)
//	drill [flags] payment-killed  payment SIGKILLed between the charge and the order (compose)
//	drill [flags] sg-rule-removed cart loses its rule to catalogue's listener (the lab)
//	drill [flags] sg-rule-widened the bastion's SSH opened to 0.0.0.0/0 (the lab)
//
// Each step is printed as it happens; every wait is bounded, and the shop is
// restored also when a check fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type drill struct {
	shop, prometheus, jaeger string   // base URLs
	compose                  []string // the docker compose command, with -p and -f
	lab                      []string // the lab command, with -repo and -prefix
	groups                   string   // the security groups' directory (the lab's drills copy it)
	picture                  string   // where the lab's drills keep the check's picture of the broken lab ("" for its default)
	http                     *shopClient
}

// scenario is one drill: what it breaks, where to look, and its steps.
type scenario struct {
	about, look string
	needs       string // "compose", "lab" or "" (any shop with the observability profile)
	run         func(ctx context.Context, d *drill) error
}

var scenarios = map[string]scenario{
	"trace":           traceScenario,
	"gateway-slow":    gatewaySlow,
	"redis-down":      redisDown,
	"catalogue-down":  catalogueDown,
	"payment-killed":  paymentKilled,
	"sg-rule-removed": ruleRemoved,
	"sg-rule-widened": ruleWidened,
}

func main() {
	d := &drill{}
	var compose, lab string
	flag.StringVar(&d.shop, "shop", "http://127.0.0.1:8080", "the shop's URL")
	flag.StringVar(&d.prometheus, "prometheus", "http://127.0.0.1:9090", "Prometheus's URL")
	flag.StringVar(&d.jaeger, "jaeger", "http://127.0.0.1:16686", "Jaeger's URL")
	flag.StringVar(&compose, "compose", "docker compose", "the docker compose command (with -p and -f as needed)")
	flag.StringVar(&lab, "lab", "", "the lab command (with -repo, -prefix as needed)")
	flag.StringVar(&d.groups, "groups", "deploy/security-groups", "the security groups, copied and changed by the lab's drills")
	flag.StringVar(&d.picture, "picture", "", "the lab's drills: where to keep the check's picture (SVG) of the broken lab")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: drill [flags] %s\n", strings.Join(names(), "|"))
		flag.PrintDefaults()
	}
	flag.Parse()
	s, ok := scenarios[flag.Arg(0)]
	if flag.NArg() != 1 || !ok {
		flag.Usage()
		os.Exit(2)
	}
	d.compose, d.lab = strings.Fields(compose), strings.Fields(lab)
	if s.needs == "lab" && len(d.lab) == 0 {
		fmt.Fprintln(os.Stderr, "drill: this drill runs against the lab: give -lab")
		os.Exit(2)
	}
	d.http = newShopClient(d.shop)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	fmt.Printf("drill %s: %s\nwhere to look: %s\n", flag.Arg(0), s.about, s.look)
	start := time.Now()
	if err := s.run(ctx, d); err != nil {
		fmt.Fprintf(os.Stderr, "drill %s FAILED after %s: %v\n", flag.Arg(0), time.Since(start).Round(time.Second), err)
		os.Exit(1)
	}
	fmt.Printf("drill %s passed in %s: the symptom showed, and the shop is restored\n", flag.Arg(0), time.Since(start).Round(time.Second))
}

func names() []string {
	return []string{"trace", "gateway-slow", "redis-down", "catalogue-down", "payment-killed", "sg-rule-removed", "sg-rule-widened"}
}

func step(format string, args ...any) { fmt.Printf("  - "+format+"\n", args...) }

// until calls check every second until it returns nil, and returns its last
// error when within passes first.
func until(ctx context.Context, within time.Duration, what string, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	start := time.Now()
	for {
		err := check()
		if err == nil {
			step("%s (after %s)", what, time.Since(start).Round(100*time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not within %s: %w", what, within, err)
		case <-time.After(time.Second):
		}
	}
}

// restoring runs restore after broken, whatever broken returned, and returns
// the first error: a drill never leaves the shop broken because a check failed.
func restoring(broken func() error, restore func() error) error {
	err := broken()
	if rerr := restore(); rerr != nil {
		return errors.Join(err, fmt.Errorf("restoring: %w", rerr))
	}
	return err
}
