package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/roboshop-go/roboshop/kit"
	"github.com/roboshop-go/roboshop/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// testApp is a router over a real store in a database of its own.
type testApp struct {
	router *gin.Engine
	store  *mongoStore
	keys   *keyring
	pw     passwords
	cfg    config
}

func testConfig(t testing.TB, mongoURI string) config {
	t.Helper()
	cfg, err := loadConfig(testkit.Env(map[string]string{
		"MONGO_URI":             mongoURI,
		"BCRYPT_COST":           "10", // the lowest allowed; keeps tests quick
		"LOGIN_FREE_ATTEMPTS":   "3",
		"LOGIN_ACCOUNT_CEILING": "8",
		"LOGIN_SLOW_INTERVAL":   "1s",
		// httptest requests come from 192.0.2.1: trust it to set X-Real-IP, as nginx.
		"TRUSTED_PROXIES": "10.9.9.9, 192.0.2.1", // spaces as people write them
	}))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newTestApp(t testing.TB) *testApp {
	t.Helper()
	cfg := testConfig(t, testkit.MongoURI(t))
	st := newTestStore(t, cfg)
	keys := &keyring{}
	ctx := testkit.Context(t)
	if err := keys.load(ctx, st); err != nil {
		t.Fatal(err)
	}
	pw, err := newPasswords(cfg.BcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := seedDemo(ctx, st, pw, cfg); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ready := func(ctx context.Context) error { return st.Ping(ctx) }
	return &testApp{router: newRouter(logger, kit.NewRegistry(), ready, st, keys, pw, cfg), store: st, keys: keys, pw: pw, cfg: cfg}
}

func newTestStore(t testing.TB, cfg config) *mongoStore {
	t.Helper()
	st, err := openMongoStore(cfg.MongoURI, cfg.Database, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.EnsureIndexes(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	return st
}
