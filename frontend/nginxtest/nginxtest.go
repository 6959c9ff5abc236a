// Package nginxtest starts nginx with the repository's config in front of the
// real services, for tests (the frontend's own and the load generator's).
package nginxtest

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
	"github.com/roboshop-go/roboshop/topology"
)

// Upstreams are the base URLs (http://host:port) of the four services.
type Upstreams struct{ User, Catalogue, Cart, Payment string }

// Shared returns the test binary's shared services (see testkit.SharedUser, ...).
func Shared(t testing.TB) Upstreams {
	t.Helper()
	return Upstreams{User: testkit.SharedUser(t), Catalogue: testkit.SharedCatalogue(t),
		Cart: testkit.SharedCart(t), Payment: testkit.SharedPayment(t)}
}

// Start runs nginx with the repository's config in front of u, for this test
// alone (so rate limits do not leak between tests), and returns its base URL.
func Start(t testing.TB, u Upstreams) string {
	t.Helper()
	return StartBehind(t, u, "")
}

// StartBehind is Start for an nginx behind a proxy at proxy (an address or
// CIDR), whose X-Forwarded-For it believes; "" is none.
func StartBehind(t testing.TB, u Upstreams, proxy string) string {
	t.Helper()
	return start(t, u, topology.Frontend{RealIPFrom: proxy})
}

// StartWithStatus is Start with nginx's stub_status page served as compose's
// observability profile serves it, at the returned address.
func StartWithStatus(t testing.TB, u Upstreams) (base, status string) {
	t.Helper()
	status = "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	return start(t, u, topology.Frontend{Status: status}), status
}

func start(t testing.TB, u Upstreams, f topology.Frontend) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "roboshop-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// nginx workers run as an unprivileged user: they must reach their temp dirs.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	addr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	host := func(url string) string { return strings.TrimPrefix(url, "http://") }
	html := filepath.Join(dir, "html")
	if err := topology.PublishUI(repo, html); err != nil {
		t.Fatal(err)
	}
	f.Listen, f.HTMLRoot = addr, html
	f.Upstreams = map[string]string{"user": host(u.User), "catalogue": host(u.Catalogue), "cart": host(u.Cart), "payment": host(u.Payment)}
	conf, err := topology.WriteNginxConfig(repo, dir, f)
	if err != nil {
		t.Fatal(err)
	}
	p := testkit.StartProcess(t, addr, "nginx", "-c", conf, "-p", dir)
	testkit.WaitReady(t, "http://"+addr+"/healthz", p)
	return "http://" + addr
}
