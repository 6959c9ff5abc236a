package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/roboshop-go/roboshop/kit"
	"github.com/roboshop-go/roboshop/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// deps are the real user, catalogue and cart services shared by this test binary.
type deps struct{ userURL, catalogueURL, cartURL, redisURL string }

func sharedDeps(t testing.TB) deps {
	t.Helper()
	return deps{userURL: testkit.SharedUser(t), catalogueURL: testkit.SharedCatalogue(t),
		cartURL: testkit.SharedCart(t), redisURL: testkit.SharedRedisURL(t)}
}

type testApp struct {
	router  *gin.Engine
	store   *mysqlStore
	gateway *simulator
	co      *checkout
	dsn     string
	logs    *testkit.Buffer
	deps
}

func newTestApp(t testing.TB) *testApp {
	t.Helper()
	return newTestAppWithDSN(t, testkit.MariaDBDSN(t))
}

func newTestAppWithDSN(t testing.TB, dsn string) *testApp {
	t.Helper()
	return newTestAppWith(t, dsn, sharedDeps(t), nil)
}

// newTestAppWith builds the payment router over dsn and the services in d;
// gw wraps the simulator when not nil (to hold a checkout at the charge).
func newTestAppWith(t testing.TB, dsn string, d deps, wrap func(*simulator) Gateway) *testApp {
	t.Helper()
	logs := &testkit.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	st, err := openMySQLStore(dsn, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	client := kit.NewHTTPClient(3 * time.Second)
	verifier := kit.NewVerifier(kit.NewJWKSClient(d.userURL+"/.well-known/jwks.json", client))
	sim := newSimulator()
	var gw Gateway = sim
	if wrap != nil {
		gw = wrap(sim)
	}
	sh := &shopClient{cartURL: d.cartURL, catalogueURL: d.catalogueURL, http: client, settleToken: testkit.SettleToken}
	ready := func(ctx context.Context) error { return st.Ping(ctx) }
	reg := kit.NewRegistry()
	co := newCheckout(logger, reg, st, sh, gw, timingFor(time.Minute), "")
	return &testApp{router: newRouter(logger, reg, kit.Faults{}, ready, st, co, verifier), co: co,
		store: st, gateway: sim, dsn: dsn, logs: logs, deps: d}
}

// addToCart puts qty of sku in the token's cart through the real cart service.
func (a *testApp) addToCart(t testing.TB, token, sku string, qty int) {
	t.Helper()
	code, body := testkit.Send(t, a.cartURL, testkit.Request{Method: "POST", Path: "/cart/items", Token: token,
		Body: map[string]any{"sku": sku, "qty": qty}})
	if code != 200 {
		t.Fatalf("add %s to cart: %d %s", sku, code, body)
	}
}

// cartItems returns the number of lines in the token's cart.
func (a *testApp) cartItems(t testing.TB, token string) int {
	t.Helper()
	var cart struct {
		Items []cartLine `json:"items"`
	}
	if err := kit.Call(testkit.Context(t), testkit.HTTPClient(), kit.CallOptions{Method: "GET", URL: a.cartURL + "/cart", Token: token}, &cart); err != nil {
		t.Fatal(err)
	}
	return len(cart.Items)
}
