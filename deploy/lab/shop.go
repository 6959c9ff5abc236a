package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/roboshop-go/roboshop/frontend/nginxconf"
)

// Lab credentials: the datastores require them as in compose and on EC2; in a
// throwaway lab on one machine they need not be secret.
const (
	labRedisPassword = "lab-redis-password"
	labMySQLPassword = "lab-mysql-password"
)

var services = []string{"user", "catalogue", "cart", "payment"}

// up builds the binaries, creates the network and firewalls, starts every tier
// and the host forwarder, and waits until the shop answers through it.
func up(ctx context.Context, cfg config, out io.Writer) error {
	return upWith(ctx, cfg, out, true)
}

func upWith(ctx context.Context, cfg config, out io.Writer, detachForwarder bool) error {
	l, err := loadLayout(cfg)
	if err != nil {
		return err
	}
	if len(l.namespaces()) > 0 {
		return fmt.Errorf("a lab with prefix %q exists already; run `lab down` first", cfg.Prefix)
	}
	for _, d := range []string{"bin", "logs", "pids", "data", "nft", "nginx"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, d), 0o755); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "building binaries...")
	bins, err := buildBinaries(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "creating one network namespace per security group...")
	if err := l.createNetwork(); err != nil {
		return err
	}
	if err := l.applyFirewall(cfg.StateDir); err != nil {
		return err
	}
	fmt.Fprintln(out, "starting datastores, services and nginx inside them...")
	if err := l.startShop(ctx, bins); err != nil {
		return err
	}
	if detachForwarder {
		if err := startForwarder(cfg); err != nil {
			return err
		}
	}
	if err := waitHTTP(ctx, "http://"+cfg.Listen+"/api/catalogue/products?limit=1", 90*time.Second); err != nil {
		return fmt.Errorf("the shop did not answer through the frontend: %w (logs in %s/logs)", err, cfg.StateDir)
	}
	fmt.Fprintf(out, "\nRoboshop lab is up: http://%s/\n", cfg.Listen)
	for _, inst := range l.instances() {
		fmt.Fprintf(out, "  %-18s %-14s netns %s\n", inst, l.addr(inst), l.ns(inst))
	}
	fmt.Fprintf(out, "Check the firewalls: lab check; tear down: lab down. Logs: %s/logs\n", cfg.StateDir)
	return nil
}

// buildBinaries builds the services and the MongoDB stand-in, or takes them from
// $ROBOSHOP_BIN_DIR when the test script built them already.
func buildBinaries(cfg config) (map[string]string, error) {
	bins := map[string]string{}
	targets := map[string]string{"mongostandin": "./testkit/cmd/mongostandin"}
	for _, s := range services {
		targets[s] = "./" + s
	}
	for name, pkg := range targets {
		if dir := os.Getenv("ROBOSHOP_BIN_DIR"); dir != "" {
			if p := filepath.Join(dir, name); fileExists(p) {
				bins[name] = p
				continue
			}
		}
		dst, _ := filepath.Abs(filepath.Join(cfg.StateDir, "bin", name))
		cmd := exec.Command("go", "build", "-tags", "nomsgpack", "-trimpath", "-ldflags=-s -w", "-o", dst, pkg)
		cmd.Dir = cfg.Repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as the Dockerfiles build them
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
		bins[name] = dst
	}
	return bins, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// spawn starts a process inside instance's namespace, detached, logging to
// logs/<name>.log, and records its pid for down.
func (l *layout) spawn(name, instance string, env []string, bin string, args ...string) error {
	logf, err := os.OpenFile(filepath.Join(l.cfg.StateDir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns(instance), bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return os.WriteFile(filepath.Join(l.cfg.StateDir, "pids", name+".pid"), []byte(strconv.Itoa(pid)), 0o644)
}

func (l *layout) startShop(ctx context.Context, bins map[string]string) error {
	data := func(name string) string {
		p, _ := filepath.Abs(filepath.Join(l.cfg.StateDir, "data", name))
		_ = os.MkdirAll(p, 0o700)
		return p
	}
	for _, db := range []string{"user-mongodb", "catalogue-mongodb"} {
		if err := l.spawn(db, db, nil, bins["mongostandin"], "-listen", l.hostPort(db, 27017), "-dir", data(db)); err != nil {
			return err
		}
	}
	if err := l.spawn("cart-redis", "cart-redis", nil, "redis-server", "--port", "6379", "--bind", l.addr("cart-redis").String(),
		"--dir", data("cart-redis"), "--save", "", "--appendonly", "no", "--requirepass", labRedisPassword,
		"--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"); err != nil {
		return err
	}
	if err := l.startMariaDB(ctx, data("payment-mysql")); err != nil {
		return err
	}
	url := func(svc string) string { return "http://" + l.hostPort(svc, 8080) }
	envs := map[string][]string{
		"user":      {"MONGO_URI=mongodb://" + l.hostPort("user-mongodb", 27017) + "/users"},
		"catalogue": {"MONGO_URI=mongodb://" + l.hostPort("catalogue-mongodb", 27017) + "/catalogue"},
		"cart": {"REDIS_URL=redis://:" + labRedisPassword + "@" + l.hostPort("cart-redis", 6379) + "/0",
			"USER_URL=" + url("user"), "CATALOGUE_URL=" + url("catalogue")},
		"payment": {"MYSQL_DSN=roboshop:" + labMySQLPassword + "@tcp(" + l.hostPort("payment-mysql", 3306) + ")/payment?parseTime=true",
			"USER_URL=" + url("user"), "CATALOGUE_URL=" + url("catalogue"), "CART_URL=" + url("cart")},
	}
	for _, svc := range services {
		env := append([]string{"LISTEN_ADDR=" + l.hostPort(svc, 8080)}, envs[svc]...)
		if err := l.spawn(svc, svc, env, bins[svc]); err != nil {
			return err
		}
	}
	return l.startNginx()
}

func (l *layout) startMariaDB(ctx context.Context, dir string) error {
	datadir := filepath.Join(dir, "data")
	if err := run("mariadb-install-db", "--no-defaults", "--datadir="+datadir, "--user=root",
		"--auth-root-authentication-method=socket", "--skip-test-db"); err != nil {
		return err
	}
	sock := filepath.Join(dir, "mysql.sock")
	if err := l.spawn("payment-mysql", "payment-mysql", nil, "mariadbd", "--no-defaults", "--datadir="+datadir, "--user=root",
		"--bind-address="+l.addr("payment-mysql").String(), "--port=3306", "--socket="+sock,
		"--pid-file="+filepath.Join(dir, "mysql.pid"), "--skip-name-resolve", "--skip-log-bin"); err != nil {
		return err
	}
	// The application user is not root, as on EC2 and in compose.
	setup := "CREATE DATABASE IF NOT EXISTS payment CHARACTER SET utf8mb4; " +
		"CREATE USER IF NOT EXISTS 'roboshop'@'%' IDENTIFIED BY '" + labMySQLPassword + "'; " +
		"GRANT ALL PRIVILEGES ON payment.* TO 'roboshop'@'%';"
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := run("mariadb", "--no-defaults", "--socket="+sock, "-uroot", "-e", setup)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("MariaDB did not come up: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (l *layout) startNginx() error {
	dir, _ := filepath.Abs(filepath.Join(l.cfg.StateDir, "nginx"))
	html, _ := filepath.Abs(filepath.Join(l.cfg.Repo, "frontend", "html"))
	conf, err := nginxconf.WriteConfig(l.cfg.Repo, dir, nginxconf.Vars{Listen: "80", HTMLRoot: html,
		User: l.hostPort("user", 8080), Catalogue: l.hostPort("catalogue", 8080),
		Cart: l.hostPort("cart", 8080), Payment: l.hostPort("payment", 8080)})
	if err != nil {
		return err
	}
	return l.spawn("frontend", "frontend", nil, "nginx", "-c", conf, "-p", dir)
}

func waitHTTP(ctx context.Context, url string, within time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return errors.Join(errors.New("timed out"), last)
}

// down stops every process of the lab and removes its namespaces and files. It
// works from the pid files and, after a crash, from the namespaces themselves.
func down(cfg config, out io.Writer) error {
	l := &layout{cfg: cfg}
	// Only processes inside the lab's namespaces, plus the forwarder if its
	// command line proves it is ours: a stale pid file never kills a stranger.
	pids := map[int]bool{}
	if raw, err := os.ReadFile(filepath.Join(cfg.StateDir, "pids", "forward.pid")); err == nil {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if pid > 1 && strings.Contains(string(cmdline), "forward") && strings.Contains(string(cmdline), cfg.StateDir) {
			pids[pid] = true
		}
	}
	nss := l.namespaces()
	for _, ns := range nss {
		raw, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				pids[pid] = true
			}
		}
	}
	// A Go program that dialled from a namespace can have its main thread left
	// there (see dialFrom), so the namespace lists it: never signal ourselves.
	delete(pids, os.Getpid())
	for pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pid := range pids {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	var errs []error
	for _, ns := range nss {
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(cfg.StateDir); err != nil {
		errs = append(errs, err)
	}
	fmt.Fprintf(out, "lab down: stopped %d processes, removed %d namespaces and %s\n", len(pids), len(nss), cfg.StateDir)
	return errors.Join(errs...)
}
