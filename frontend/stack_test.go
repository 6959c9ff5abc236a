package frontend

import (
	"net/http"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/frontend/nginxtest"
	"github.com/roboshop-go/roboshop/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

type upstreams = nginxtest.Upstreams

func sharedUpstreams(t testing.TB) upstreams { return nginxtest.Shared(t) }

func startNginx(t testing.TB, u upstreams) string { return nginxtest.Start(t, u) }

func client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}
