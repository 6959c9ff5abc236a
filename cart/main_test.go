package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/roboshop-go/roboshop/kit"
	"github.com/roboshop-go/roboshop/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// deps are the real user and catalogue services, shared by this test binary.
type deps struct{ userURL, catalogueURL string }

func sharedDeps(t testing.TB) deps {
	t.Helper()
	return deps{userURL: testkit.SharedUser(t), catalogueURL: testkit.SharedCatalogue(t)}
}

type testApp struct {
	router *gin.Engine
	store  *redisStore
	redis  *testkit.Process
	deps
}

// testTTL keeps guests' carts an hour and users' two.
var testTTL = cartTTL{Guest: time.Hour, User: 2 * time.Hour}

// newTestApp is the cart router over its own Redis, talking to the real user
// (JWKS) and catalogue services; catalogueURL overrides the shared catalogue.
func newTestApp(t testing.TB, catalogueURL string) *testApp {
	t.Helper()
	d := sharedDeps(t)
	if catalogueURL != "" {
		d.catalogueURL = catalogueURL
	}
	rds := testkit.Redis(t)
	st, err := openRedisStore("redis://"+rds.Addr()+"/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	client := kit.NewHTTPClient(2 * time.Second)
	verifier := kit.NewVerifier(kit.NewJWKSClient(d.userURL+"/.well-known/jwks.json", client))
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	router := newRouter(logger, kit.NewRegistry(), kit.Faults{}, st.Ping, st, newCatalogueClient(d.catalogueURL, client, 0), verifier, testTTL, testkit.SettleToken)
	return &testApp{router: router, store: st, redis: rds, deps: d}
}

// do sends a request with token and returns the status and the decoded cart
// (zero when the answer is not a cart). It sends payment's service token too,
// as payment does on its settle (TestOnlyPaymentSettles sends none).
func (a *testApp) do(t testing.TB, method, path, token string, body any) (int, cartResponse) {
	t.Helper()
	w := testkit.Serve(t, a.router, testkit.Request{Method: method, Path: path, Token: token, Body: body,
		Headers: map[string]string{kit.HeaderServiceToken: testkit.SettleToken}})
	var cart cartResponse
	if w.Code == 200 {
		cart = testkit.Decode[cartResponse](t, w.Body.Bytes())
	}
	return w.Code, cart
}
