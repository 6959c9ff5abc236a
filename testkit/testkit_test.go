package testkit

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func TestProcessStopsAndStartsOnTheSamePort(t *testing.T) {
	p := Redis(t)
	if !dialable(p.Addr()) {
		t.Fatal("redis not listening after Start")
	}
	p.Stop()
	if dialable(p.Addr()) {
		t.Fatal("still listening after Stop")
	}
	p.Stop() // idempotent
	p.Start(t)
	if !dialable(p.Addr()) {
		t.Fatal("not listening after restart")
	}
}

func TestSharedServersAreShared(t *testing.T) {
	a, b := SharedRedisURL(t), SharedRedisURL(t)
	if a != b || !strings.HasPrefix(a, "redis://127.0.0.1:") {
		t.Fatalf("shared Redis URLs %q and %q", a, b)
	}
	m1, m2 := MongoURI(t), MongoURI(t)
	if m1 == m2 || m1[:strings.LastIndex(m1, "/")] != m2[:strings.LastIndex(m2, "/")] {
		t.Fatalf("want one server with two databases: %q, %q", m1, m2)
	}
}

func TestUniqueNames(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		n := UniqueName("t")
		if seen[n] || len(n) > 60 {
			t.Fatalf("name %q repeated or too long", n)
		}
		seen[n] = true
	}
}
