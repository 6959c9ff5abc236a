package frontend

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/testkit"
)

// dialFrom opens a connection to nginx at base from a loopback source address,
// as a shopper with an address of its own.
func dialFrom(t testing.TB, base, from string) net.Conn {
	t.Helper()
	u, _ := url.Parse(base)
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	return conn
}

// roundTrip writes raw on conn and reads one response.
func roundTrip(conn net.Conn, raw string) (*http.Response, string, error) {
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

func expectJSONError(t *testing.T, status int, body, code string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("status %d body %q: want the JSON error %q", status, body, code)
	}
}

// TestNginxAnswersFiveHundredConnections: 500 shoppers (each its own address)
// with a request in flight at once all get their answer through nginx to the
// catalogue (with 1024 worker connections, 373 of 500 failed: each proxied
// request holds two).
func TestNginxAnswersFiveHundredConnections(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	const n = 500
	conns := make([]net.Conn, n)
	for i := range n {
		conns[i] = dialFrom(t, base, fmt.Sprintf("127.1.%d.%d", i/250, 1+i%250))
		defer conns[i].Close()
	}
	start := make(chan struct{})
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, _, err := roundTrip(conns[i], "GET /api/catalogue/products/DR-001 HTTP/1.1\r\nHost: shop\r\n\r\n")
			if err != nil {
				errs[i] = err
				return
			}
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	answered := map[int]int{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("connection %d: %v", i, errs[i])
			continue
		}
		answered[statuses[i]]++
	}
	if answered[200] != n {
		t.Fatalf("%d connections with a request each: statuses %v", n, answered)
	}
}

// TestAnonymousWritesAreRateLimited: guest tokens and cart writes, which need no
// account, are limited per address at the edge with the JSON error shape;
// cart reads are not.
func TestAnonymousWritesAreRateLimited(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	token := testkit.GuestToken(t, testkit.SharedUser(t))
	tests := []struct {
		name, method, path, body string
		n                        int
		wantLimited              bool
	}{
		{"guest tokens", "POST", "/api/user/guest", "", 40, true},
		{"cart adds", "POST", "/api/cart/cart/items", `{"sku":"KP-001","qty":1}`, 60, true}, // 120 in stock: only the limit answers
		{"cart reads", "GET", "/api/cart/cart", "", 60, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Four at a time, so the burst outpaces the refill even on a busy machine.
			codes := map[int]int{}
			var limitedBody string
			var mu sync.Mutex
			testkit.InParallel(4, func(w int) {
				for i := w; i < tc.n; i += 4 {
					var body io.Reader
					if tc.body != "" {
						body = strings.NewReader(tc.body)
					}
					resp, text := get(t, tc.method, base+tc.path, body, map[string]string{"Authorization": "Bearer " + token})
					mu.Lock()
					codes[resp.StatusCode]++
					if resp.StatusCode == 429 {
						limitedBody = text
					}
					mu.Unlock()
				}
			})
			if got := codes[429] > 0; got != tc.wantLimited || codes[429]+codes[200]+codes[201] != tc.n {
				t.Fatalf("%d requests from one address: %v", tc.n, codes)
			}
			if tc.wantLimited {
				expectJSONError(t, 429, limitedBody, "rate_limited")
			}
			t.Logf("%d %s: %v", tc.n, tc.name, codes)
		})
	}
}

// TestOneAddressCannotHoldEveryConnection: requests in progress are limited
// per address (64): the 65th and later get 429 while the others wait.
func TestOneAddressCannotHoldEveryConnection(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	// Each request announces a body it never sends, so it stays in progress.
	const held = 64
	for i := range held {
		c := dialFrom(t, base, "127.2.0.1")
		defer c.Close()
		if _, err := io.WriteString(c, "POST /api/catalogue/products HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n"); err != nil {
			t.Fatalf("held request %d: %v", i, err)
		}
	}
	// nginx reads the held headers in its own time: probe until it has (5 s at most).
	var resp *http.Response
	var body string
	for probe := 0; ; probe++ {
		c := dialFrom(t, base, "127.2.0.1")
		var err error
		resp, body, err = roundTrip(c, "GET /api/catalogue/products/DR-001 HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n")
		c.Close()
		if err == nil && resp.StatusCode == 429 {
			break
		}
		if probe == 25 {
			t.Fatalf("request %d from one address: %v %v", held+1, resp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	expectJSONError(t, 429, body, "rate_limited")
	other := dialFrom(t, base, "127.2.0.2")
	defer other.Close()
	if resp, _, err := roundTrip(other, "GET /api/catalogue/products/DR-001 HTTP/1.1\r\nHost: shop\r\n\r\n"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("another address meanwhile: %v %v", resp, err)
	}
}

// TestDribblingClientIsCut: a client that stops sending in the middle of its
// header or body is cut by nginx (it held such a body for 35 s and more).
func TestDribblingClientIsCut(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	tests := []struct{ name, partial string }{
		{"header", "POST /api/user/login HTTP/1.1\r\nHost: shop\r\nContent-Ty"},
		{"body", "POST /api/user/login HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialFrom(t, base, "127.3.0.1")
			defer c.Close()
			start := time.Now()
			if _, err := io.WriteString(c, tc.partial); err != nil {
				t.Fatal(err)
			}
			// Our own limit is 30 s: nginx must close first.
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err := io.ReadAll(c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("nginx still held the stalled %s after %s", tc.name, time.Since(start).Round(time.Second))
			}
			t.Logf("a stalled %s was cut after %s", tc.name, time.Since(start).Round(100*time.Millisecond))
		})
	}
}
