// Command composeverify checks a running docker compose project of the shop
// from the inside, the way the security groups say it must behave:
//
//   - each service runs, and only the web tier publishes a port on the host;
//   - from every container's own network namespace, each other container's
//     listening ports connect exactly when a group rule joins the two groups
//     (composecheck.Reaches), tried on every address the target has;
//   - with -journey, a loadgen JSON report of a buyer journey through the
//     published port has no errors and an approved checkout.
//
// The probes run in throwaway containers that share the source container's
// network namespace (docker run --network container:ID), so the shop's own
// images need no shell or tools.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/roboshop-go/roboshop/deploy/composecheck"
	"github.com/roboshop-go/roboshop/deploy/sg"
	"github.com/roboshop-go/roboshop/kit/loadreport"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "composeverify:", err)
		os.Exit(1)
	}
}

type container struct {
	ID      string
	Service string
	IPs     []string
	// Published: host bindings, "8080/tcp -> 0.0.0.0:18080".
	Published []string
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("composeverify", flag.ContinueOnError)
	project := fs.String("project", "", "compose project name (required)")
	file := fs.String("file", "docker-compose.yml", "compose file")
	groups := fs.String("groups", "deploy/security-groups", "security-group definitions")
	image := fs.String("probe-image", "", "image with bash and timeout for the probes (required)")
	journey := fs.String("journey", "", "loadgen JSON report to check (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *project == "" || *image == "" {
		return errors.New("-project and -probe-image are required")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()

	p, err := composecheck.Load(ctx, *file)
	if err != nil {
		return err
	}
	set, err := sg.Load(*groups)
	if err != nil {
		return err
	}
	containers, err := inspect(ctx, *project)
	if err != nil {
		return err
	}
	var problems []string
	for name := range p.Services {
		c, ok := containers[name]
		web := set.Groups[name] != nil && set.Groups[name].Tier == sg.TierWeb // an outside stand-in has no group
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("service %s has no running container", name))
		case len(c.Published) > 0 && !web:
			problems = append(problems, fmt.Sprintf("service %s publishes %s; only the frontend may", name, strings.Join(c.Published, ", ")))
		case len(c.Published) == 0 && web:
			problems = append(problems, fmt.Sprintf("service %s publishes no port", name))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}

	reaches, err := composecheck.Reaches(p, set)
	if err != nil {
		return err
	}
	results, err := probeAll(ctx, *image, containers, reaches)
	if err != nil {
		return err
	}
	open := map[string][]string{}
	for i, r := range reaches {
		if results[i] {
			open[r.From] = append(open[r.From], r.To+":"+strconv.Itoa(r.Port))
		}
		if results[i] != r.Open {
			problems = append(problems, fmt.Sprintf("%s -> %s:%d: the groups say %s, the network %s",
				r.From, r.To, r.Port, word(r.Open), word(results[i])))
		}
	}
	fmt.Fprintf(stdout, "%-18s %s\n", "from", "connects to")
	sources := make([]string, 0, len(containers))
	for name := range containers {
		sources = append(sources, name)
	}
	sort.Strings(sources)
	for _, name := range sources {
		fmt.Fprintf(stdout, "%-18s %s\n", name, strings.Join(open[name], "  "))
	}
	fmt.Fprintf(stdout, "%d probes from inside %d containers, %d differences; published: %s\n",
		len(reaches), len(containers), len(problems), published(containers))
	notHere, err := composecheck.NotExpressed(p, set)
	if err != nil {
		return err
	}
	why := map[string]int{}
	for _, w := range notHere {
		why[w]++
	}
	for _, w := range []string{composecheck.WhyProtocol, composecheck.WhyNoService} {
		fmt.Fprintf(stdout, "not expressed in compose: %d rules (%s)\n", why[w], w)
	}

	if *journey != "" {
		if err := checkJourney(*journey, stdout); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

func word(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}

func published(cs map[string]container) string {
	var out []string
	for name, c := range cs {
		for _, b := range c.Published {
			out = append(out, name+" "+b)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func docker(ctx context.Context, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// inspect returns the project's running containers by service.
func inspect(ctx context.Context, project string) (map[string]container, error) {
	ids, err := docker(ctx, "ps", "-q", "--filter", "label=com.docker.compose.project="+project)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(ids)) == 0 {
		return nil, fmt.Errorf("project %s has no running containers", project)
	}
	raw, err := docker(ctx, append([]string{"inspect"}, strings.Fields(string(ids))...)...)
	if err != nil {
		return nil, err
	}
	var details []struct {
		ID     string `json:"Id"`
		Config struct {
			Labels map[string]string
		}
		NetworkSettings struct {
			Networks map[string]struct{ IPAddress string }
			Ports    map[string][]struct{ HostIp, HostPort string }
		}
	}
	if err := json.Unmarshal(raw, &details); err != nil {
		return nil, fmt.Errorf("docker inspect: %w", err)
	}
	out := map[string]container{}
	for _, d := range details {
		c := container{ID: d.ID, Service: d.Config.Labels["com.docker.compose.service"]}
		for _, n := range d.NetworkSettings.Networks {
			if n.IPAddress != "" {
				c.IPs = append(c.IPs, n.IPAddress)
			}
		}
		sort.Strings(c.IPs)
		for port, bindings := range d.NetworkSettings.Ports {
			for _, b := range bindings {
				if b.HostPort != "" {
					c.Published = append(c.Published, port+" -> "+b.HostIp+":"+b.HostPort)
				}
			}
		}
		sort.Strings(c.Published)
		out[c.Service] = c
	}
	return out, nil
}

// probeScript tries each "ip:port" argument at once, 2 s each, and prints
// "ip:port open" or "ip:port closed". bash's /dev/tcp needs no other tool.
const probeScript = `for t in "$@"; do
  ( if timeout 2 bash -c 'exec 3<>"/dev/tcp/${1%:*}/${1##*:}"' _ "$t" 2>/dev/null; then echo "$t open"; else echo "$t closed"; fi ) &
done
wait`

// probeAll runs one probe container per source service (at most four at a
// time) and returns, per reach, whether any address of the target connected.
func probeAll(ctx context.Context, image string, cs map[string]container, reaches []composecheck.Reach) ([]bool, error) {
	targets := map[string][]string{} // source -> ip:port list
	for _, r := range reaches {
		for _, ip := range cs[r.To].IPs {
			targets[r.From] = append(targets[r.From], ip+":"+strconv.Itoa(r.Port))
		}
	}
	var (
		mu     sync.Mutex
		opened = map[string]map[string]bool{} // source -> ip:port -> open
		errs   []error
		wg     sync.WaitGroup
		slots  = make(chan struct{}, 4)
	)
	for from, list := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			args := append([]string{"run", "--rm", "--network", "container:" + cs[from].ID,
				"--entrypoint", "bash", image, "-c", probeScript, "probe"}, list...)
			out, err := docker(ctx, args...)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("probe from %s: %w", from, err))
				return
			}
			opened[from] = map[string]bool{}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if addr, state, ok := strings.Cut(line, " "); ok {
					opened[from][addr] = state == "open"
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	results := make([]bool, len(reaches))
	for i, r := range reaches {
		for _, ip := range cs[r.To].IPs {
			addr := ip + ":" + strconv.Itoa(r.Port)
			state, ok := opened[r.From][addr]
			if !ok {
				return nil, fmt.Errorf("probe from %s printed nothing for %s", r.From, addr)
			}
			results[i] = results[i] || state
		}
	}
	return results, nil
}

// checkJourney reads a loadgen -json report: no unexpected answers, and at
// least one checkout approved (201) followed by an order history read.
func checkJourney(path string, stdout io.Writer) error {
	rep, err := loadreport.Read(path)
	if err != nil {
		return err
	}
	var names []string
	for _, s := range rep.Steps {
		names = append(names, s.Name)
	}
	fmt.Fprintf(stdout, "journey: %d requests, %d errors, steps %s\n", rep.Total.Count, rep.Total.Errors, strings.Join(names, " "))
	checkout, _ := rep.Step("buyer/checkout")
	orders, _ := rep.Step("buyer/orders")
	switch {
	case rep.Total.Count == 0 || rep.Total.Errors > 0:
		return fmt.Errorf("journey: %d requests, %d errors (statuses %v)", rep.Total.Count, rep.Total.Errors, rep.Total.Statuses)
	case checkout.Statuses["201"] == 0:
		return fmt.Errorf("journey: no approved checkout (statuses %v)", checkout.Statuses)
	case orders.Statuses["200"] == 0:
		return fmt.Errorf("journey: the order history was not read (statuses %v)", orders.Statuses)
	}
	return nil
}
