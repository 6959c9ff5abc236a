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
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
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

	"github.com/roboshop-go/roboshop/frontend/nginxconf"
)

type options struct {
	repo, out, label string
	vus              int
	phase, journeys  time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.repo, "repo", ".", "repository root")
	flag.StringVar(&o.out, "out", "", "write the Markdown report here (default: stdout only)")
	flag.StringVar(&o.label, "label", "baseline", "name of this run in the report")
	flag.IntVar(&o.vus, "vus", 64, "virtual users (connections) per phase")
	flag.DurationVar(&o.phase, "phase", 20*time.Second, "length of each single-endpoint phase")
	flag.DurationVar(&o.journeys, "journeys", 60*time.Second, "length of the journey phase")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type proc struct {
	name string
	cmd  *exec.Cmd
}

type stack struct {
	dir   string
	bin   string
	procs []*proc
	ports map[string]int
}

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

func (s *stack) start(name string, env []string, bin string, args ...string) error {
	logf, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.procs = append(s.procs, &proc{name: name, cmd: cmd})
	return nil
}

func (s *stack) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		_ = s.procs[i].cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.procs[i].cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.procs[i].cmd.Process.Kill()
		}
	}
}

func (s *stack) pid(name string) int {
	for _, p := range s.procs {
		if p.name == name {
			return p.cmd.Process.Pid
		}
	}
	return 0
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", name, err, out)
	}
	return nil
}

func waitOK(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready", url)
}

var services = []string{"user", "catalogue", "cart", "payment"}

func (s *stack) up(ctx context.Context, repo string) error {
	fmt.Fprintln(os.Stderr, "building...")
	build := map[string]string{"mongostandin": "./testkit/cmd/mongostandin", "loadgen": "./loadgen"}
	for _, svc := range services {
		build[svc] = "./" + svc
	}
	for name, pkg := range build {
		// Built as the Dockerfiles build them.
		cmd := exec.Command("go", "build", "-tags", "nomsgpack", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(s.bin, name), pkg)
		cmd.Dir = repo
		// Static (no libc mapped): 1.3 MiB less RSS than a cgo build.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	fmt.Fprintln(os.Stderr, "starting the shop...")
	for _, db := range []string{"user-mongodb", "catalogue-mongodb"} {
		if err := s.start(db, nil, filepath.Join(s.bin, "mongostandin"), "-listen", s.addr(db), "-dir", filepath.Join(s.dir, db)); err != nil {
			return err
		}
	}
	if err := s.start("cart-redis", nil, "redis-server", "--port", strconv.Itoa(s.port("cart-redis")), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"); err != nil {
		return err
	}
	data := filepath.Join(s.dir, "mysql")
	if err := run("mariadb-install-db", "--no-defaults", "--datadir="+data, "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"); err != nil {
		return err
	}
	if err := s.start("payment-mysql", nil, "mariadbd", "--no-defaults", "--datadir="+data, "--user=root", "--bind-address=127.0.0.1",
		"--port="+strconv.Itoa(s.port("payment-mysql")), "--socket="+filepath.Join(s.dir, "mysql.sock"), "--skip-log-bin",
		"--innodb-buffer-pool-size=128M", "--max-connections=500"); err != nil {
		return err
	}
	for i := 0; ; i++ {
		if err := run("mariadb", "--no-defaults", "--socket="+filepath.Join(s.dir, "mysql.sock"), "-uroot", "-e", "CREATE DATABASE IF NOT EXISTS payment"); err == nil {
			break
		} else if i > 300 {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	url := func(svc string) string { return "http://" + s.addr(svc) }
	envs := map[string][]string{
		"user":      {"MONGO_URI=mongodb://" + s.addr("user-mongodb") + "/users"},
		"catalogue": {"MONGO_URI=mongodb://" + s.addr("catalogue-mongodb") + "/catalogue"},
		"cart":      {"REDIS_URL=redis://" + s.addr("cart-redis") + "/0", "USER_URL=" + url("user"), "CATALOGUE_URL=" + url("catalogue")},
		"payment": {"MYSQL_DSN=root@tcp(" + s.addr("payment-mysql") + ")/payment?parseTime=true",
			"USER_URL=" + url("user"), "CATALOGUE_URL=" + url("catalogue"), "CART_URL=" + url("cart")},
	}
	for _, svc := range services {
		env := append([]string{"LISTEN_ADDR=" + s.addr(svc), "LOG_LEVEL=warn", "PPROF_ADDR=" + s.addr(svc+"-pprof")}, envs[svc]...)
		if err := s.start(svc, env, filepath.Join(s.bin, svc)); err != nil {
			return err
		}
		if err := waitOK(ctx, url(svc)+"/readyz"); err != nil {
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
	html := filepath.Join(repo, "frontend", "html")
	for name, v := range map[string]nginxconf.Vars{
		"nginx": {Listen: s.addr("nginx"), HTMLRoot: html, User: s.addr("user"), Catalogue: s.addr("catalogue"), Cart: s.addr("cart"), Payment: s.addr("payment")},
		"nginx-ceiling": {Listen: s.addr("nginx-ceiling"), HTMLRoot: html, User: s.addr("trivial"), Catalogue: s.addr("trivial"),
			Cart: s.addr("trivial"), Payment: s.addr("trivial")},
	} {
		dir := filepath.Join(s.dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		conf, err := nginxconf.WriteConfig(repo, dir, v)
		if err != nil {
			return err
		}
		if err := s.start(name, nil, "nginx", "-c", conf, "-p", dir); err != nil {
			return err
		}
		if err := waitOK(ctx, "http://"+v.Listen+"/healthz"); err != nil {
			return err
		}
	}
	return nil
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

type loadReport struct {
	MeasuredSeconds float64 `json:"measured_seconds"`
	Total           series  `json:"total"`
	Endpoints       []series
	Steps           []series
}

type series struct {
	Name      string           `json:"name"`
	Count     int64            `json:"count"`
	Errors    int64            `json:"errors"`
	Expected  int64            `json:"expected_non_2xx"`
	Statuses  map[string]int64 `json:"statuses"`
	PerSecond float64          `json:"per_second"`
	P50       float64          `json:"p50_ms"`
	P90       float64          `json:"p90_ms"`
	P99       float64          `json:"p99_ms"`
	Max       float64          `json:"max_ms"`
}

func (s *stack) load(ctx context.Context, target string, d, warmup time.Duration, vus int, args ...string) (loadReport, error) {
	out := filepath.Join(s.dir, fmt.Sprintf("load-%d.json", time.Now().UnixNano()))
	all := append([]string{"-target", target, "-vus", strconv.Itoa(vus), "-duration", d.String(), "-warmup", warmup.String(),
		"-ramp-up", "2s", "-progress", "0s", "-json", out}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "loadgen"), all...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return loadReport{}, fmt.Errorf("loadgen %v: %v\n%s", all, err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return loadReport{}, err
	}
	var r loadReport
	return r, json.Unmarshal(raw, &r)
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
