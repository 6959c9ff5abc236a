package testkit

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/topology"
)

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
	p := ownProcess(t, serviceProcess(svc, env))
	WaitReady(t, "http://"+p.Addr()+"/readyz", p)
	return p
}

// SharedService is StartService for a service shared by the whole test binary
// (started by the first caller with its env) and returns its base URL.
func SharedService(t testing.TB, svc Service, env map[string]string) string {
	t.Helper()
	p := sharedProcess(t, "service-"+string(svc), serviceProcess(svc, env))
	WaitReady(t, "http://"+p.Addr()+"/readyz", p)
	return "http://" + p.Addr()
}

// The real services, started once per test binary on the shared datastores
// (a fresh database each) and wired to each other as topology wires them;
// each returns its base URL.

// SharedUser is the user service.
func SharedUser(t testing.TB) string { t.Helper(); return sharedShopService(t, UserService) }

// SharedCatalogue is the catalogue service.
func SharedCatalogue(t testing.TB) string { t.Helper(); return sharedShopService(t, CatalogueService) }

// SharedCart is the cart service, on the shared Redis (SharedRedisURL).
func SharedCart(t testing.TB) string { t.Helper(); return sharedShopService(t, CartService) }

// SharedPayment is the payment service, on its own database of the shared MariaDB.
func SharedPayment(t testing.TB) string { t.Helper(); return sharedShopService(t, PaymentService) }

func sharedShopService(t testing.TB, name Service) string {
	t.Helper()
	shop := topology.Roboshop()
	svc := shop.Service(string(name))
	var store string
	switch shop.Datastore(svc.Store).Engine {
	case topology.MongoDB:
		store = MongoURI(t)
	case topology.Redis:
		store = SharedRedisURL(t)
	case topology.MySQL:
		store = MariaDBDSN(t)
	}
	env := svc.Env(shop, "", store, func(c string) string { return sharedShopService(t, Service(c)) })
	delete(env, "LISTEN_ADDR") // serviceProcess gives it a free port
	if name == UserService {
		env["BCRYPT_COST"] = "10" // the lowest the service accepts: tests register many users
		env["SIGNING_KEY"] = SigningKey
	}
	return SharedService(t, name, env)
}

func serviceProcess(svc Service, env map[string]string) func(string, int) (*Process, error) {
	return func(_ string, port int) (*Process, error) {
		bin, err := binary(string(svc))
		if err != nil {
			return nil, err
		}
		p := &Process{name: bin, addr: "127.0.0.1:" + strconv.Itoa(port)}
		p.env = append(os.Environ(), "LISTEN_ADDR=127.0.0.1:"+strconv.Itoa(port), "LOG_LEVEL=warn")
		// The shop-wide secrets it is given everywhere (the tests' values),
		// unless env gives its own.
		for _, name := range topology.Roboshop().Service(string(svc)).Secrets {
			p.env = append(p.env, name+"="+testSecrets.Value(name))
		}
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

var builds struct {
	sync.Mutex
	done map[string]buildResult
}

type buildResult struct {
	path string
	err  error
}

// Binary returns the path of program name (topology.Programs), built as
// binary builds it.
func Binary(t testing.TB, name string) string {
	t.Helper()
	path, err := binary(name)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// binary returns the path of program name (topology.Programs): from
// $ROBOSHOP_BIN_DIR when the test script built it, else built once per test
// binary into a temporary directory that Main removes.
func binary(name string) (string, error) {
	builds.Lock()
	defer builds.Unlock()
	if r, ok := builds.done[name]; ok {
		return r.path, r.err
	}
	if builds.done == nil {
		builds.done = map[string]buildResult{}
	}
	r := buildResult{}
	if _, file, _, ok := runtime.Caller(0); !ok {
		r.err = fmt.Errorf("testkit: cannot locate the repository to build %s", name)
	} else if dir, err := os.MkdirTemp("", "roboshop-bin-"); err != nil {
		r.err = err
	} else {
		registry.addTemp(dir)
		var bins map[string]string
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		bins, r.err = topology.Build(ctx, filepath.Join(filepath.Dir(file), ".."), dir, os.Getenv("ROBOSHOP_BIN_DIR"), name)
		r.path = bins[name]
	}
	builds.done[name] = r
	return r.path, r.err
}
