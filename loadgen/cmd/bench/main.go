// Command bench is the performance baseline: it starts the whole shop as local
// processes on loopback (datastores, the four services, nginx with the
// repository's config), measures the machine's own ceiling in the same run
// (nginx serving a static file; nginx proxying to a trivial Go handler), then
// drives each hot endpoint and the shopper journeys with loadgen, and writes a
// Markdown report: throughput and latency per endpoint as fractions of the
// ceiling, service CPU per request, idle and under-load RSS, and a CPU profile
// summary of the slowest endpoint.
//
//	go run ./loadgen/cmd/bench -out docs/performance.md
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/roboshop-go/roboshop/kit/loadreport"
	"github.com/roboshop-go/roboshop/topology"
)

type options struct {
	repo, out, label          string
	vus, bcryptCost, shoppers int
	phase, journeys, checkout time.Duration
	checkoutOnly              bool
	openLoop                  bool
	at                        []float64 // -at: the open loop's rates, no search
	gomaxprocs                int       // the services' GOMAXPROCS; 0: Go's own choice
	serviceEnv                map[string]string
}

func main() {
	var o options
	flag.StringVar(&o.repo, "repo", ".", "repository root")
	flag.StringVar(&o.out, "out", "", "write the Markdown report here (default: stdout only)")
	flag.StringVar(&o.label, "label", "baseline", "name of this run in the report")
	flag.IntVar(&o.vus, "vus", 64, "virtual users (connections) per phase")
	flag.DurationVar(&o.phase, "phase", 20*time.Second, "length of each single-endpoint phase")
	flag.DurationVar(&o.journeys, "journeys", 60*time.Second, "length of the journey phase")
	flag.IntVar(&o.bcryptCost, "bcrypt-cost", 12, "the user service's BCRYPT_COST (its default is 12)")
	flag.DurationVar(&o.checkout, "checkout", 90*time.Second, "length of the checkout phase (the first 10 s left out)")
	flag.IntVar(&o.shoppers, "shoppers", 16, "shoppers each checkout virtual user plays in turn, each from its own address, signed up before the phase")
	flag.BoolVar(&o.checkoutOnly, "checkout-only", false, "run only the password hashing, checkout and database ceiling phases")
	o.serviceEnv = map[string]string{}
	flag.Func("service-env", "KEY=VALUE in every service's environment (repeatable), e.g. GOMEMLIMIT=32MiB", func(v string) error {
		key, value, ok := strings.Cut(v, "=")
		if !ok || key == "" {
			return fmt.Errorf("want KEY=VALUE, not %q", v)
		}
		o.serviceEnv[key] = value
		return nil
	})
	flag.IntVar(&o.gomaxprocs, "gomaxprocs", 0, "the services' GOMAXPROCS (0: Go's own, the machine's cores or the container's CPU limit)")
	flag.BoolVar(&o.openLoop, "open-loop", false, "find the highest checkout rate sustained with 0 errors (open loop), then measure latency and CPU per order at 25% and 50% of it")
	flag.Func("at", "with -open-loop: measure at these checkout rates (comma-separated, per second) instead of searching for the highest sustained one and taking 25% and 50% of it", func(v string) error {
		for _, f := range strings.Split(v, ",") {
			rate, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || rate <= 0 {
				return fmt.Errorf("a rate must be a positive number, not %q", f)
			}
			o.at = append(o.at, rate)
		}
		return nil
	})
	flag.Parse()
	if len(o.at) > 0 && !o.openLoop {
		fmt.Fprintln(os.Stderr, "bench: -at needs -open-loop")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// benchSecrets: Redis without a password, payment as its own MySQL user.
var benchSecrets = topology.Secrets{MySQLUser: "roboshop", MySQLPassword: "bench", MySQLMigrator: "roboshop_migrate", MySQLMigratorPassword: "bench-migrate", SettleToken: "bench-settle-token-0123456789abcdef"}

// stack is the shop started from source by topology, plus what only the bench
// needs: the ceiling's trivial handler and an nginx in front of it.
type stack struct {
	bcryptCost int
	gomaxprocs int
	serviceEnv map[string]string
	dir        string
	bin        string
	bins       map[string]string
	local      *topology.Local
	ports      map[string]int
}

// port is a free loopback port for name, the same one each time.
func (s *stack) port(name string) int {
	if p, ok := s.ports[name]; ok {
		return p
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.ports[name] = p
	return p
}

func (s *stack) addr(name string) string { return "127.0.0.1:" + strconv.Itoa(s.port(name)) }

func (s *stack) pid(name string) int { return s.local.PID(name) }

func (s *stack) stop() { s.local.Stop() }

func (s *stack) up(ctx context.Context, repo string) error {
	fmt.Fprintln(os.Stderr, "building...")
	names := append([]string{"mongostandin", "loadgen"}, services...)
	bins, err := topology.Build(ctx, repo, s.bin, "", names...)
	if err != nil {
		return err
	}
	s.bins = bins
	fmt.Fprintln(os.Stderr, "starting the shop...")
	plan := topology.Plan{Repo: repo, Dir: s.dir, Bins: bins, Frontend: true,
		Addr:    func(part string) (string, int) { return "127.0.0.1", s.port(part) },
		Secrets: benchSecrets,
		ServiceEnv: func(svc string) map[string]string {
			env := map[string]string{"LOG_LEVEL": "warn", "PPROF_ADDR": s.addr(svc + "-pprof"), "BCRYPT_COST": strconv.Itoa(s.bcryptCost)}
			if s.gomaxprocs > 0 {
				env["GOMAXPROCS"] = strconv.Itoa(s.gomaxprocs)
			}
			maps.Copy(env, s.serviceEnv)
			return env
		}}
	if err := topology.Start(ctx, plan, s.local); err != nil {
		return err
	}
	for _, svc := range services {
		if err := topology.WaitHTTP(ctx, "http://"+s.addr(svc)+"/readyz", 90*time.Second); err != nil {
			return err
		}
	}
	// The ceiling's trivial handler: what a Go service costs when it does nothing.
	trivial := &http.Server{Addr: s.addr("trivial"), ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		})}
	go func() { _ = trivial.ListenAndServe() }()
	ceiling := topology.Frontend{Listen: s.addr("nginx-ceiling"), HTMLRoot: filepath.Join(s.dir, "html"), Upstreams: map[string]string{}}
	for _, svc := range services {
		ceiling.Upstreams[svc] = s.addr("trivial")
	}
	dir := filepath.Join(s.dir, "nginx-ceiling")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf, err := topology.WriteNginxConfig(repo, dir, ceiling)
	if err != nil {
		return err
	}
	if err := s.local.Start("nginx-ceiling", topology.Cmd{Path: "nginx", Args: []string{"-c", conf, "-p", dir}}); err != nil {
		return err
	}
	for _, part := range []string{topology.FrontendPart, "nginx-ceiling"} {
		if err := topology.WaitHTTP(ctx, "http://"+s.addr(part)+"/healthz", 90*time.Second); err != nil {
			return err
		}
	}
	return nil
}

var services = func() (names []string) {
	for _, svc := range topology.Roboshop().Services {
		names = append(names, svc.Name)
	}
	return names
}()

// resetPeakRSS starts a process's peak RSS (VmHWM) afresh from its RSS now
// (Linux 4.0+), so that a phase's peak is its own, not an earlier phase's.
func resetPeakRSS(pid int) {
	_ = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
}

// procStat returns a process's CPU time (user+system) and its RSS and peak RSS in KiB.
func procStat(pid int) (cpu time.Duration, rss, hwm int) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil {
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		utime, _ := strconv.Atoi(f[11])
		stime, _ := strconv.Atoi(f[12])
		cpu = time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
	}
	status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(status), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "VmRSS:" {
			rss, _ = strconv.Atoi(fields[1])
		}
		if len(fields) >= 2 && fields[0] == "VmHWM:" {
			hwm, _ = strconv.Atoi(fields[1])
		}
	}
	return cpu, rss, hwm
}

func (s *stack) load(ctx context.Context, target string, d, warmup time.Duration, vus int, args ...string) (loadreport.Report, error) {
	return s.loadWatching(ctx, target, d, warmup, vus, nil, args...)
}

// loadWatching runs loadgen as load does, calling onLine with loadgen's
// process id and each line it writes to stderr, as it writes it.
func (s *stack) loadWatching(ctx context.Context, target string, d, warmup time.Duration, vus int, onLine func(pid int, line string), args ...string) (loadreport.Report, error) {
	out := filepath.Join(s.dir, fmt.Sprintf("load-%d.json", time.Now().UnixNano()))
	all := append([]string{"-target", target, "-vus", strconv.Itoa(vus), "-duration", d.String(), "-warmup", warmup.String(),
		"-ramp-up", "2s", "-progress", "0s", "-events", "-json", out}, args...)
	cmd := exec.CommandContext(ctx, s.bins["loadgen"], all...)
	var stdout, output bytes.Buffer // loadgen's stdout, and its stderr as read
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return loadreport.Report{}, err
	}
	if err := cmd.Start(); err != nil {
		return loadreport.Report{}, err
	}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		output.WriteString(lines.Text() + "\n")
		if onLine != nil {
			onLine(cmd.Process.Pid, lines.Text())
		}
	}
	if err := cmd.Wait(); err != nil {
		return loadreport.Report{}, fmt.Errorf("loadgen %v: %v\n%s%s", all, err, stdout.String(), output.String())
	}
	return loadreport.Read(out)
}

func machine() string {
	cpu := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.Split(string(raw), "\n")[0])
		if kb, err := strconv.Atoi(f[1]); err == nil {
			mem = fmt.Sprintf("%.0f GiB", float64(kb)/1024/1024)
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d cores (%s), %s memory, Linux %s, %s; loadgen, nginx, the services and their datastores all share these cores",
		runtime.NumCPU(), cpu, mem, strings.TrimSpace(string(kernel)), runtime.Version())
}
