package frontend

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/frontend/nginxconf"
	"github.com/roboshop-go/roboshop/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// upstreams are the real services, shared by this test binary.
type upstreams struct{ user, catalogue, cart, payment string }

func sharedUpstreams(t testing.TB) upstreams {
	t.Helper()
	return upstreams{user: testkit.SharedUser(t), catalogue: testkit.SharedCatalogue(t),
		cart: testkit.SharedCart(t), payment: testkit.SharedPayment(t)}
}

// startNginx runs nginx with the repository's config in front of u, for this
// test alone (so rate limits do not leak between tests), and returns its base URL.
func startNginx(t testing.TB, u upstreams) string {
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
	repo, _ := filepath.Abs("..")
	addr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	host := func(url string) string { return strings.TrimPrefix(url, "http://") }
	conf, err := nginxconf.WriteConfig(repo, dir, nginxconf.Vars{Listen: addr, HTMLRoot: filepath.Join(repo, "frontend", "html"),
		User: host(u.user), Catalogue: host(u.catalogue), Cart: host(u.cart), Payment: host(u.payment)})
	if err != nil {
		t.Fatal(err)
	}
	p := testkit.StartProcess(t, addr, "nginx", "-c", conf, "-p", dir)
	testkit.WaitReady(t, "http://"+addr+"/healthz", p)
	return "http://" + addr
}

func client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}
