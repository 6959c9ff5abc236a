package testkit

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Redis starts a redis-server for this test alone. Starting one takes
// milliseconds, so every test gets its own.
func Redis(t testing.TB) *Process {
	t.Helper()
	return ownProcess(t, redisProcess)
}

// RedisWith is Redis with extra redis-server arguments (e.g. a memory limit).
func RedisWith(t testing.TB, args ...string) *Process {
	t.Helper()
	return ownProcess(t, func(dir string, port int) (*Process, error) {
		p, err := redisProcess(dir, port)
		if err == nil {
			p.args = append(p.args, args...)
		}
		return p, err
	})
}

// SharedRedisURL returns a redis:// URL of the server shared by this test binary.
func SharedRedisURL(t testing.TB) string {
	t.Helper()
	return "redis://" + sharedProcess(t, "redis", redisProcess).Addr() + "/0"
}

func redisProcess(dir string, port int) (*Process, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not on PATH (scripts/test.sh installs it): %w", err)
	}
	return &Process{name: bin, addr: "127.0.0.1:" + strconv.Itoa(port), args: []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"}}, nil
}

// MariaDBDSN returns a DSN for a fresh database on the MariaDB server shared by
// this test binary.
func MariaDBDSN(t testing.TB) string {
	t.Helper()
	p := sharedProcess(t, "mariadb", mariadbProcess)
	db := UniqueName("t")
	createDatabase(t, p, db)
	return "root@tcp(" + p.Addr() + ")/" + db + "?parseTime=true"
}

// StartMariaDB starts a MariaDB server for this test alone (for tests that stop
// it) and returns it with a DSN for database db.
func StartMariaDB(t testing.TB, db string) (*Process, string) {
	t.Helper()
	p := ownProcess(t, mariadbProcess)
	createDatabase(t, p, db)
	return p, "root@tcp(" + p.Addr() + ")/" + db + "?parseTime=true"
}

// createDatabase creates db on the MariaDB server p, bounded in time: a client
// must never wait for ever on a server that does not answer.
func createDatabase(t testing.TB, p *Process, db string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, mariadbClient(), "--no-defaults", "--connect-timeout=10", "-uroot", "-h127.0.0.1",
		"-P"+strings.Split(p.Addr(), ":")[1], "-e", "CREATE DATABASE "+db).CombinedOutput(); err != nil {
		t.Fatalf("create database: %v\n%s", err, out)
	}
}

func mariadbClient() string {
	if p, err := exec.LookPath("mariadb"); err == nil {
		return p
	}
	return "mysql"
}

func mariadbProcess(dir string, port int) (*Process, error) {
	bin, err := exec.LookPath("mariadbd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/mariadbd"); err != nil {
			return nil, fmt.Errorf("mariadbd not found (scripts/test.sh installs mariadb-server): %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	// Temporary tables go under the test's own directory, not a /tmp that every
	// parallel install and server shares (an install once lost one there).
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	install := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+data, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	install.Env = append(os.Environ(), "TMPDIR="+tmp) // mariadbd's default --tmpdir
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	return &Process{name: bin, addr: "127.0.0.1:" + strconv.Itoa(port), args: []string{
		"--no-defaults", "--datadir=" + data, "--user=root", "--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1", "--socket=" + filepath.Join(dir, "mariadb.sock"),
		"--pid-file=" + filepath.Join(dir, "mariadb.pid"), "--tmpdir=" + tmp, "--skip-name-resolve", "--skip-log-bin",
		"--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
		// Throwaway data: durability on every commit is not what these tests check.
		"--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0", "--max-connections=500",
	}}, nil
}

// Service names the Roboshop services testkit can start as real binaries.
type Service string

// The services other services' tests depend on.
const (
	UserService      Service = "user"
	CatalogueService Service = "catalogue"
	CartService      Service = "cart"
	PaymentService   Service = "payment"
)

// StartService builds (once per test binary) and starts a Roboshop service as a
// child process with env for this test alone, and waits until its /readyz
// answers 200. Its base URL is "http://" + Addr().
func StartService(t testing.TB, svc Service, env map[string]string) *Process {
	t.Helper()
	p := ownProcess(t, serviceProcess(t, svc, env))
	WaitReady(t, "http://"+p.Addr()+"/readyz", p)
	return p
}

// SharedService is StartService for a service shared by the whole test binary
// (started by the first caller with its env) and returns its base URL.
func SharedService(t testing.TB, svc Service, env map[string]string) string {
	t.Helper()
	p := sharedProcess(t, "service-"+string(svc), serviceProcess(t, svc, env))
	WaitReady(t, "http://"+p.Addr()+"/readyz", p)
	return "http://" + p.Addr()
}

func serviceProcess(t testing.TB, svc Service, env map[string]string) func(string, int) (*Process, error) {
	return func(_ string, port int) (*Process, error) {
		bin, err := serviceBinary(svc)
		if err != nil {
			return nil, err
		}
		p := &Process{name: bin, addr: "127.0.0.1:" + strconv.Itoa(port)}
		p.env = append(os.Environ(), "LISTEN_ADDR=127.0.0.1:"+strconv.Itoa(port), "LOG_LEVEL=warn")
		for k, v := range env {
			p.env = append(p.env, k+"="+v)
		}
		return p, nil
	}
}

// WaitReady polls url until it answers 200, failing the test after 60 s.
func WaitReady(t testing.TB, url string, p *Process) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 60 s; output:\n%s", url, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serviceBinary returns $ROBOSHOP_BIN_DIR/<svc> when the test script built it,
// else builds the service from the repository.
func serviceBinary(svc Service) (string, error) {
	prebuilt := ""
	if dir := os.Getenv("ROBOSHOP_BIN_DIR"); dir != "" {
		if p := filepath.Join(dir, string(svc)); fileExists(p) {
			prebuilt = p
		}
	}
	return repoBinary(string(svc), prebuilt, string(svc), ".")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

var builds struct {
	sync.Mutex
	done map[string]buildResult
}

type buildResult struct {
	path string
	err  error
}

// repoBinary returns prebuilt when it is set, else builds package pkg of the
// repository's module in directory module, once per test binary, into a
// temporary file that Main removes. Building inside the module keeps it
// working with GOWORK=off.
func repoBinary(name, prebuilt, module, pkg string) (string, error) {
	if prebuilt != "" {
		return prebuilt, nil
	}
	builds.Lock()
	defer builds.Unlock()
	if r, ok := builds.done[name]; ok {
		return r.path, r.err
	}
	if builds.done == nil {
		builds.done = map[string]buildResult{}
	}
	r := buildResult{}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		r.err = fmt.Errorf("testkit: cannot locate the repository to build %s", name)
	} else {
		out := filepath.Join(os.TempDir(), fmt.Sprintf("roboshop-%s-%d", name, os.Getpid()))
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", module)
		if b, err := cmd.CombinedOutput(); err != nil {
			r.err = fmt.Errorf("testkit: build %s: %v\n%s", name, err, b)
		} else {
			r.path = out
			registry.addTemp(out)
		}
	}
	builds.done[name] = r
	return r.path, r.err
}
