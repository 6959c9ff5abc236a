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

// newTestApp returns a router over a freshly seeded catalogue in its own database.
func newTestApp(t testing.TB) (*gin.Engine, *mongoStore) {
	t.Helper()
	cfg, err := loadConfig(testkit.Env(map[string]string{"MONGO_URI": testkit.MongoURI(t)}))
	if err != nil {
		t.Fatal(err)
	}
	st, err := openMongoStore(cfg.MongoURI, cfg.Database, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	seed, err := loadSeed()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Seed(testkit.Context(t), seed); err != nil {
		t.Fatal(err)
	}
	return newRouter(discardLogger(), kit.NewRegistry(), kit.Faults{}, st.Ping, newCachedStore(st, time.Minute)), st
}

func discardLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }
