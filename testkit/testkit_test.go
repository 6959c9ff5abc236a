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

// TestServerNeverAnswersOnAnotherProcesssPort: given a port another process
// already listens on, a server is started again on a fresh port, and it is
// that server which answers (a MariaDB once "started" on a service's port, and
// its client waited for a greeting for ever).
func TestServerNeverAnswersOnAnotherProcesssPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the other process's port
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	var given []int
	p := ownProcess(t, func(dir string, port int) (*Process, error) {
		if len(given) == 0 {
			port = taken
		}
		given = append(given, port)
		return datastore("cart-redis")(dir, port)
	})
	if len(given) < 2 || p.Addr() == ln.Addr().String() {
		t.Fatalf("ports given %v; the server runs on %s, the taken port is %d", given, p.Addr(), taken)
	}
	conn, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 7)
	if n, err := conn.Read(reply); err != nil || string(reply[:n]) != "+PONG\r\n" {
		t.Fatalf("the server on %s answered %q, %v", p.Addr(), reply[:n], err)
	}
}
