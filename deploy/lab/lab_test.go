package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/deploy/sg"
	"github.com/roboshop-go/roboshop/topology"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestLab brings the whole shop up in namespaces, checks the reachability
// matrix against the definitions, drives the shop through the frontend, shows
// the check catches a wrong rule, and tears everything down.
func TestLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the lab needs root (network namespaces, nftables): scripts/test.sh runs as root")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := filepath.Abs("../..")
	cfg := config{Prefix: "rstest", Subnet: "10.78.0", Public: "203.0.113", Listen: ln.Addr().String(), Repo: repo,
		StateDir: filepath.Join(t.TempDir(), "state")}
	// MariaDB runs as mysql, which must pass through to its directory, as it
	// does under /run/roboshop-lab: the test's directories are root's alone.
	for dir := filepath.Dir(cfg.StateDir); dir != os.TempDir(); dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_ = down(cfg, io.Discard) // a previous crashed run of this test

	// The forwarder runs in-process here (up would start it as a detached copy of this binary).
	l, err := loadLayout(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fwdCtx, stopFwd := context.WithCancel(ctx)
	fwdDone := make(chan error, 1)
	fwdLog := filepath.Join(t.TempDir(), "forward.log")
	fwdLogFile, err := os.Create(fwdLog)
	if err != nil {
		t.Fatal(err)
	}
	defer fwdLogFile.Close()
	go func() { fwdDone <- l.serveForward(fwdCtx, slog.New(slog.NewJSONHandler(fwdLogFile, nil)), ln) }()
	var upOut bytes.Buffer
	t.Cleanup(func() {
		stopFwd()
		<-fwdDone
		var out bytes.Buffer
		if err := down(cfg, &out); err != nil {
			t.Errorf("down: %v", err)
		}
		if left := l.namespaces(); len(left) > 0 {
			t.Errorf("namespaces left after down: %v", left)
		}
		if out, err := exec.Command("ip", "link", "show", l.ns("pub")).CombinedOutput(); err == nil {
			t.Errorf("the host's veth to the public segment is left after down: %s", out)
		}
		if _, err := os.Stat(cfg.StateDir); !os.IsNotExist(err) {
			t.Errorf("state directory left after down: %v", err)
		}
		if err := down(cfg, io.Discard); err != nil {
			t.Errorf("second down is not idempotent: %v", err)
		}
	})
	if err := upWith(ctx, cfg, &upOut, false); err != nil {
		t.Fatalf("up: %v\n%s\n%s", err, upOut.String(), logs(cfg))
	}
	t.Log(upOut.String())

	t.Run("reachability matches the definitions", func(t *testing.T) {
		var out bytes.Buffer
		graph := filepath.Join(t.TempDir(), "reachability.svg")
		rep, err := check(ctx, cfg, graph, &out)
		t.Log("\n" + out.String())
		if err != nil || len(rep.Differences) != 0 || rep.Probes == 0 || rep.Allowed == 0 {
			t.Fatalf("%+v, %v", rep, err)
		}
		svg, err := os.ReadFile(graph)
		dot, derr := os.ReadFile(strings.TrimSuffix(graph, ".svg") + ".dot")
		redArrow := regexp.MustCompile(`(?m)^.* -> .*#dc2626.*$`) // the legend's red is no arrow
		if err != nil || derr != nil || !strings.Contains(string(svg), "<svg") || redArrow.Match(dot) ||
			!strings.Contains(string(svg), "<title>cart&#45;&gt;cart&#45;redis</title>") {
			t.Fatalf("the picture must draw cart -> cart-redis and no red arrow (%v, %v):\n%s", err, derr, dot)
		}
		if !strings.Contains(out.String(), "internet           alb 80,443\n") ||
			!strings.Contains(out.String(), "alb                frontend 80\n") {
			t.Fatal("the internet must reach exactly alb:80,443 (SSH to the bastion is this machine's alone, admin_cidr), and the alb exactly frontend:80")
		}
		// Ping from the bastion alone, to every instance but the balancers;
		// every SSH the network lets through meets a real sshd.
		for _, want := range []string{
			"bastion            cart 22,ping  cart-redis 22,ping  catalogue 22,ping  catalogue-mongodb 22,ping  frontend 22,ping  payment 22,ping  payment-mysql 22,ping  user 22,ping  user-mongodb 22,ping\n",
			"SSH: 9 of 9 connections the network let through to port 22 met a listening sshd\n",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("the check lacks %q", want)
			}
		}
		if strings.Count(out.String(), "ping") != 9+1 { // the bastion's row, and the header
			t.Errorf("ping reaches more than the bastion's nine:\n%s", out.String())
		}
		// The services are reached only through the internal balancer's
		// listeners, each caller only the listeners of what it calls.
		for _, row := range []string{
			"internal-alb       cart 8080  catalogue 8080  payment 8080  user 8080\n",
			"cart               alb 443  cart-redis 6379  internal-alb 8081,8082\n",
		} {
			if !strings.Contains(out.String(), row) {
				t.Errorf("the matrix lacks the row %q", row)
			}
		}
	})

	t.Run("smoke through the frontend", func(t *testing.T) {
		base := "http://" + cfg.Listen
		resp, err := http.Get(base + "/api/catalogue/products?category=drones")
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct{ SKU string } `json:"items"`
			Total int                    `json:"total"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || page.Total != 6 {
			t.Fatalf("catalogue listing: %d %+v %v", resp.StatusCode, page, err)
		}
		resp, err = http.Post(base+"/api/user/login", "application/json",
			strings.NewReader(`{"email":"demo@roboshop.example","password":"roboshop-demo"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"token"`) {
			t.Fatalf("login: %d %s", resp.StatusCode, body)
		}
		resp, err = http.Get(base + "/api/user/healthz")
		if err == nil {
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != 404 {
			t.Fatalf("internal path from outside: %v %v", resp.StatusCode, err)
		}
	})

	t.Run("status shows the lab again", func(t *testing.T) {
		var out bytes.Buffer
		if err := status(cfg, &out); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"http://" + cfg.Listen + "/", l.addr("payment-mysql").String(), "3306, 22", "(nothing: a client only)"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("status lacks %q:\n%s", want, out.String())
			}
		}
	})

	t.Run("each shopper is their own address behind the relay", func(t *testing.T) {
		// Two shoppers on the host, from two addresses: the relay passes each
		// one's address on as the ALB does, so the guesser's logins run into
		// nginx's per-address limit and the owner's do not.
		from := func(ip string) *http.Client {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
			return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
		}
		login := func(c *http.Client, email, password string, header http.Header) int {
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+cfg.Listen+"/api/user/login",
				strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range header {
				req.Header[k] = v
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		guesser, owner := from("127.0.0.2"), from("127.0.0.3")
		statuses := map[int]int{}
		for i := range 10 { // nginx's auth zone: a burst of 5, then 10 a minute
			statuses[login(guesser, fmt.Sprintf("guess-%d@example.test", i), "not-the-password", nil)]++
		}
		if statuses[429] == 0 {
			t.Fatalf("the guesser's 10 logins in a row: %v, want 429s past nginx's burst", statuses)
		}
		// A forged X-Forwarded-For buys the guesser no fresh address: nginx
		// believes the alb's last entry, which is the guesser's own.
		if got := login(guesser, "guess-x@example.test", "not-the-password", http.Header{"X-Forwarded-For": {"198.51.100.7"}}); got != 429 {
			t.Fatalf("the guesser with a forged X-Forwarded-For: %d, want 429", got)
		}
		if got := login(owner, "demo@roboshop.example", "roboshop-demo", nil); got != 200 {
			t.Fatalf("the owner from another address: %d, want 200", got)
		}
		// Past nginx, the user service keys its login throttle on the
		// shopper's address too: it believes X-Real-IP from the internal
		// balancer, its only peer (TRUSTED_PROXIES), so a guesser who locks
		// an account for their own address does not lock out its owner.
		// Believing nobody, it would see every shopper as the balancer.
		guesser, owner = from("127.0.0.4"), from("127.0.0.5")
		email := "locked-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@example.test"
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+cfg.Listen+"/api/user/register",
			strings.NewReader(fmt.Sprintf(`{"email":%q,"name":"Owner","password":"owners-password"}`, email)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := owner.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("register: %d", resp.StatusCode)
		}
		guesses := map[int]int{}
		for range 6 { // the user service's 5 free attempts, then its lock; within nginx's burst
			guesses[login(guesser, email, "not-the-password", nil)]++
		}
		if guesses[401] != 5 || guesses[429] != 1 {
			t.Fatalf("the guesser's 6 wrong logins at one account: %v, want 5 × 401 then the lock", guesses)
		}
		if got := login(owner, email, "owners-password", nil); got != 200 {
			t.Fatalf("the owner from another address after the guesser's lock: %d, want 200", got)
		}
	})

	t.Run("the internet and this machine shop through the alb's public address", func(t *testing.T) {
		// As lab forward does: the entry also listens on the alb's own addresses.
		pub, _ := l.publicAddr(sg.LoadBalancer)
		var lns []net.Listener
		for _, addr := range []string{l.hostPort(sg.LoadBalancer, 80), netip.AddrPortFrom(pub, 80).String()} {
			inLab, err := l.listenIn(sg.LoadBalancer, addr)
			if err != nil {
				t.Fatal(err)
			}
			lns = append(lns, inLab)
		}
		albCtx, stopAlb := context.WithCancel(ctx)
		albDone := make(chan error, 1)
		go func() { albDone <- l.serveForward(albCtx, slog.New(slog.NewJSONHandler(io.Discard, nil)), lns...) }()
		defer func() { stopAlb(); <-albDone }()
		for _, tc := range []struct {
			instance string // "" is this machine
			addr     string
			wantOK   bool
		}{
			{"internet", pub.String(), true},
			{"", pub.String(), true},
			{"internet", l.addr(sg.LoadBalancer).String(), false}, // a private address: no route from the internet
			{"cart", l.addr(sg.LoadBalancer).String(), false},     // cart's egress to the world is 443 alone
		} {
			t.Run(tc.instance+" to "+tc.addr, func(t *testing.T) {
				c := &http.Client{Timeout: 10 * time.Second}
				if tc.instance != "" {
					c.Transport = &http.Transport{DialContext: namespaceDialer{l, tc.instance}.DialContext}
				}
				resp, err := c.Get("http://" + tc.addr + "/api/catalogue/products?limit=1")
				if err == nil {
					resp.Body.Close()
				}
				if ok := err == nil && resp.StatusCode == 200; ok != tc.wantOK {
					t.Fatalf("from %s to the alb's address: %v (want it to work: %v)", tc.instance, err, tc.wantOK)
				}
			})
		}
	})

	t.Run("MongoDB signs its service in", func(t *testing.T) {
		store := topology.Roboshop().Datastore("user-mongodb")
		good := store.URL(l.hostPort(store.Name, store.Port), labSecrets)
		for _, tc := range []struct {
			name, uri string
			wantOK    bool
		}{
			{"as the service", good, true},
			{"without credentials", "mongodb://" + l.hostPort(store.Name, store.Port) + "/" + store.Database, false},
			{"with a wrong password", strings.Replace(good, labSecrets.MongoPassword, "not-the-password", 1), false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// From the user service's namespace: the only one its rules admit.
				dial := namespaceDialer{l, "user"}
				client, err := mongo.Connect(options.Client().ApplyURI(tc.uri).SetDialer(dial).
					SetServerSelectionTimeout(5 * time.Second).SetRetryReads(false))
				if err != nil {
					t.Fatal(err)
				}
				defer client.Disconnect(ctx)
				err = client.Database(store.Database).Collection("users").FindOne(ctx, bson.D{}).Err()
				if ok := err == nil || errors.Is(err, mongo.ErrNoDocuments); ok != tc.wantOK {
					t.Fatalf("reading users: %v (want it to work: %v)", err, tc.wantOK)
				}
			})
		}
	})

	t.Run("metrics from inside a service's namespace", func(t *testing.T) {
		var out bytes.Buffer
		if err := metrics(ctx, cfg, "user", &out); err != nil || !strings.Contains(out.String(), "http_requests_total") {
			t.Fatalf("lab metrics user: %v\n%.500s", err, out.String())
		}
		if err := metrics(ctx, cfg, "user-mongodb", io.Discard); err == nil {
			t.Fatal("metrics of a datastore must be refused")
		}
	})

	t.Run("logs and processes tell the truth", func(t *testing.T) {
		// Every tier's log has something in it: the MongoDBs' included.
		for _, part := range []string{"user-mongodb", "catalogue-mongodb", "cart-redis", "payment-mysql", "user", "frontend"} {
			if fi, err := os.Stat(filepath.Join(cfg.StateDir, "logs", part+".log")); err != nil || fi.Size() == 0 {
				t.Errorf("logs/%s.log is empty or missing (%v)", part, err)
			}
		}
		if raw, err := os.ReadFile(fwdLog); err != nil || !strings.Contains(string(raw), `"msg":"forwarding"`) {
			t.Errorf("the forwarder's log says nothing of what it serves (%v): %s", err, raw)
		}
		// MariaDB runs as Debian's mysql user, not root.
		raw, err := os.ReadFile(filepath.Join(cfg.StateDir, "pids", "payment-mysql.pid"))
		if err != nil {
			t.Fatal(err)
		}
		status, err := os.ReadFile("/proc/" + strings.TrimSpace(string(raw)) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		mysql, err := user.Lookup("mysql")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if uids, ok := strings.CutPrefix(line, "Uid:"); ok && strings.Fields(uids)[0] != mysql.Uid {
				t.Errorf("payment-mysql runs as uid %s, want mysql's %s", strings.Fields(uids)[0], mysql.Uid)
			}
		}
	})

	t.Run("the frontend's log is in the lab's logs", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(cfg.StateDir, "logs", "frontend.log"))
		if err != nil || !strings.Contains(string(raw), "/api/catalogue/products") {
			t.Fatalf("logs/frontend.log holds no request (%v):\n%.500s", err, raw)
		}
	})

	t.Run("try says what telnet finds and which rules decide it", func(t *testing.T) {
		tests := []struct {
			from, to, protocol string
			port               int
			reached            bool
			want               []string
		}{
			{"frontend", "payment", "tcp", 8080, false, []string{"-> payment (10.78.0.", "tcp/8080: blocked (",
				"frontend's egress: no rule allows tcp 8080 to payment (frontend.yaml)", "payment's ingress: no rule allows tcp 8080 from frontend (payment.yaml)"}},
			{"frontend", "internal-alb", "tcp", 8084, true, []string{"tcp/8084: reached (connected)",
				"frontend's egress: allowed by frontend.yaml:", "internal-alb's ingress: allowed by internal-alb.yaml:"}},
			{"payment", "cart-redis", "tcp", 6379, false, []string{"payment's egress: no rule allows tcp 6379 to cart-redis", "cart-redis's ingress: no rule"}},
			{"internet", "alb", "tcp", 80, true, []string{"internet's egress: not filtered (outside every security group)", "alb's ingress: allowed by alb.yaml:"}},
			{"bastion", "payment", "udp", 22, false, []string{"udp/22: blocked", "bastion's egress: no rule allows udp 22 to payment"}},
			{"bastion", "payment", "icmp", sg.EchoRequest, true, []string{"icmp echo request (ping): reached (echo reply)",
				"bastion's egress: allowed by bastion.yaml:", "payment's ingress: allowed by payment.yaml:"}},
			{"frontend", "payment", "icmp", sg.EchoRequest, false, []string{"icmp echo request (ping): blocked (",
				"frontend's egress: no rule allows icmp type 8 to payment"}},
			{"internet", "payment", "tcp", 8080, false, []string{"-> payment (10.78.0.", "blocked (no route: a private address"}},
			{"internet", "bastion", "tcp", 22, false, []string{"-> bastion (203.0.113.11)", "tcp/22: blocked", "bastion's ingress: no rule allows tcp 22 from internet"}},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s to %s %s %d", tc.from, tc.to, tc.protocol, tc.port), func(t *testing.T) {
				var out bytes.Buffer
				r, err := try(ctx, cfg, tc.from, tc.to, tc.protocol, tc.port, &out)
				if err != nil || r.Reached != tc.reached || r.Differs() {
					t.Fatalf("reached %v (want %v), differs %v, %v:\n%s", r.Reached, tc.reached, r.Differs(), err, out.String())
				}
				for _, w := range tc.want {
					if !strings.Contains(out.String(), w) {
						t.Fatalf("the answer lacks %q:\n%s", w, out.String())
					}
				}
			})
		}
	})

	t.Run("the seed exercise: a rule added live opens frontend to payment, removed closes it", func(t *testing.T) {
		dir := editedGroups(t, repo,
			groupEdit{"frontend.yaml", "egress", "  - description: \"telnet to payment (lesson)\"\n    port: 8080\n    group: payment\n"},
			groupEdit{"payment.yaml", "ingress", "  - description: \"telnet from the frontend (lesson)\"\n    port: 8080\n    group: frontend\n"})
		edited := cfg
		edited.Groups = dir
		start := time.Now()
		if err := firewall(edited, io.Discard); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		r, err := try(ctx, edited, "frontend", "payment", "tcp", 8080, &out)
		took := time.Since(start)
		if err != nil || !r.Reached || r.Differs() || !strings.Contains(out.String(), `payment's ingress: allowed by payment.yaml:5 "telnet from the frontend (lesson)"`) {
			t.Fatalf("after the edit: reached %v, %v:\n%s", r.Reached, err, out.String())
		}
		t.Logf("applied and reached in %s:\n%s", took.Round(time.Millisecond), out.String())
		if err := firewall(cfg, io.Discard); err != nil {
			t.Fatal(err)
		}
		if r, err := try(ctx, cfg, "frontend", "payment", "tcp", 8080, io.Discard); err != nil || r.Reached {
			t.Fatalf("the repository's groups again: reached %v, %v", r.Reached, err)
		}
	})

	t.Run("a shell on a tier stands on its private address", func(t *testing.T) {
		cmd, err := shellCommand(cfg, "payment", []string{"--", "sh", "-c", "ip -4 -o addr show eth0; echo \"$ROBOSHOP_LAB_INSTANCE\""})
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "inet "+l.addr("payment").String()+"/24") || !strings.HasSuffix(string(out), "payment\n") {
			t.Fatalf("ip addr inside payment: %v\n%s", err, out)
		}
		if _, err := shellCommand(cfg, "nowhere", nil); err == nil {
			t.Fatal("a shell on an instance that does not exist")
		}
	})

	t.Run("SSH through the bastion, and only through it", func(t *testing.T) {
		bastion, _ := l.publicAddr("bastion")
		for _, tc := range []struct {
			name, from string
			args       []string
			want       string // the remote hostname; "" for refused
		}{
			{"this machine to the bastion's public address", "", []string{bastion.String(), "hostname"}, "bastion"},
			{"through the bastion to payment", "", []string{"-J", bastion.String(), l.addr("payment").String(), "hostname"}, "payment"},
			{"through the bastion to a datastore", "", []string{"-J", bastion.String(), l.addr("payment-mysql").String(), "hostname"}, "payment-mysql"},
			{"this machine to a private address", "", []string{l.addr("payment").String(), "true"}, ""},
			{"the frontend to payment", "frontend", []string{l.addr("payment").String(), "true"}, ""},
			{"with a key the lab did not make", "", []string{"-o", "IdentityFile=" + otherKey(t), bastion.String(), "true"}, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				args := tc.args
				if tc.name == "with a key the lab did not make" {
					// Only the stranger's key: the lab's config names the operator's.
					args = append([]string{"-o", "IdentitiesOnly=yes", "-F", "/dev/null", "-o", "UserKnownHostsFile=" + filepath.Join(l.sshDir(), "known_hosts"), "-o", "BatchMode=yes", "-l", "root"}, args...)
					out, err := exec.Command("ssh", args...).CombinedOutput()
					if err == nil || !strings.Contains(string(out), "Permission denied (publickey)") {
						t.Fatalf("a stranger's key: %v %s", err, out)
					}
					return
				}
				out, err := l.sshFrom(tc.from, args...).CombinedOutput()
				switch {
				case tc.want == "" && err == nil:
					t.Fatalf("signed in: %s", out)
				case tc.want != "" && (err != nil || strings.TrimSpace(string(out)) != tc.want):
					t.Fatalf("ssh %v: %v %q, want hostname %q", args, err, out, tc.want)
				}
			})
		}
		// Every instance that accepts SSH, through the bastion: each answers
		// with its own name.
		for _, inst := range l.sshInstances() {
			args := []string{"-J", bastion.String(), l.addr(inst).String(), "hostname"}
			if inst == "bastion" {
				args = []string{bastion.String(), "hostname"}
			}
			if out, err := l.sshFrom("", args...).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != inst {
				t.Errorf("ssh %v: %v %q, want hostname %q", args, err, out, inst)
			}
		}
		if n := len(l.sshInstances()); n != 10 {
			t.Errorf("%d instances run sshd, want 10 (all but the two balancers)", n)
		}
		// Refused by the rules, not by a missing server: the frontend's try
		// says no rule allows it, while the bastion meets payment's sshd.
		if r, err := try(ctx, cfg, "frontend", "payment", "tcp", 22, io.Discard); err != nil || r.Reached || r.Verdict.Allowed {
			t.Fatalf("frontend to payment:22: %+v %v", r, err)
		}
		if r, err := try(ctx, cfg, "bastion", "payment", "tcp", 22, io.Discard); err != nil || r.Answer != answerConnected {
			t.Fatalf("bastion to payment:22: %+v %v", r, err)
		}
	})

	t.Run("allow changes the lab's groups live, firewall puts the repository's back", func(t *testing.T) {
		var out bytes.Buffer
		start := time.Now()
		if err := allow(cfg, "frontend", "payment", "tcp", 8080, &out); err != nil {
			t.Fatalf("allow: %v\n%s", err, out.String())
		}
		r, err := try(ctx, cfg, "frontend", "payment", "tcp", 8080, &out)
		took := time.Since(start)
		if err != nil || !r.Reached || r.Differs() || !strings.Contains(out.String(), `payment's ingress: allowed by payment.yaml:5 "frontend to payment (lab allow)"`) {
			t.Fatalf("after allow: reached %v, %v:\n%s", r.Reached, err, out.String())
		}
		t.Logf("allowed and reached in %s:\n%s", took.Round(time.Millisecond), out.String())
		out.Reset()
		rep, err := check(ctx, cfg, filepath.Join(t.TempDir(), "r.svg"), &out)
		if err != nil || len(rep.Differences) != 0 || !strings.Contains(out.String(), "The lab runs its own groups (lab allow)") ||
			!strings.Contains(out.String(), "payment 8080") {
			t.Fatalf("check after allow: %+v %v\n%s", rep.Differences, err, out.String())
		}
		if raw, err := os.ReadFile(filepath.Join(repo, "deploy", "security-groups", "payment.yaml")); err != nil || strings.Contains(string(raw), "lab allow") {
			t.Fatalf("allow changed the repository's payment.yaml (%v)", err)
		}
		// A rule the policy refuses is not applied, and the lab keeps its groups.
		if err := allow(cfg, "frontend", "payment-mysql", "tcp", 3306, io.Discard); err == nil || reachedTCP(ctx, l, "frontend", "payment-mysql", 3306) {
			t.Fatalf("allow of a rule the policy refuses: %v", err)
		}
		if err := firewall(cfg, io.Discard); err != nil {
			t.Fatal(err)
		}
		if r, err := try(ctx, cfg, "frontend", "payment", "tcp", 8080, io.Discard); err != nil || r.Reached || r.Differs() {
			t.Fatalf("the repository's groups again: reached %v, %v", r.Reached, err)
		}
		if _, err := os.Stat(labGroups(cfg)); !os.IsNotExist(err) {
			t.Fatalf("the lab's copy of the groups is left after firewall: %v", err)
		}
	})

	t.Run("firewall refuses groups that break the policy", func(t *testing.T) {
		// The edit a learner might make: payment's MySQL also accepting the
		// frontend. It loads and renders, but a datastore accepts only its
		// own service.
		dir := editedGroups(t, repo, groupEdit{"payment-mysql.yaml", "ingress", "  - description: \"the frontend, by mistake\"\n    port: 3306\n    group: frontend\n"})
		edited := cfg
		edited.Groups = dir
		var out bytes.Buffer
		err := firewall(edited, &out)
		if err == nil || !strings.Contains(err.Error(), "security policy") || !strings.Contains(out.String(), "POLICY: ") {
			t.Fatalf("firewall with the edit: %v\n%s", err, out.String())
		}
		if reachedTCP(ctx, l, "frontend", "payment-mysql", 3306) {
			t.Fatal("the refused edit was applied: the frontend reaches payment's MySQL")
		}
		// check against the edited groups says so too, though the network
		// matches them everywhere but there.
		rep, err := check(ctx, edited, filepath.Join(t.TempDir(), "r.svg"), io.Discard)
		if err != nil || len(rep.Policy) == 0 {
			t.Fatalf("check against the edited groups: %+v, %v", rep.Policy, err)
		}
	})

	t.Run("check catches an extra open port", func(t *testing.T) {
		// Open Redis to the frontend behind the definitions' back: both the
		// frontend's egress and the datastore's ingress.
		extra := [][]string{
			{"ip", "netns", "exec", l.ns("frontend"), "nft", "insert", "rule", "inet", "roboshop", "egress",
				"ip", "daddr", l.addr("cart-redis").String(), "tcp", "dport", "6379", "accept"},
			{"ip", "netns", "exec", l.ns("cart-redis"), "nft", "insert", "rule", "inet", "roboshop", "ingress",
				"ip", "saddr", l.addr("frontend").String(), "tcp", "dport", "6379", "accept"},
		}
		for _, c := range extra {
			if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v %s", c, err, out)
			}
		}
		var out bytes.Buffer
		graph := filepath.Join(t.TempDir(), "reachability.svg")
		rep, err := check(ctx, cfg, graph, &out)
		want := []sg.Difference{{From: "frontend", To: "cart-redis", Port: 6379, DefinitionsAllow: false, NetworkAllows: true}}
		if err != nil || !slices.Equal(rep.Differences, want) || !strings.Contains(out.String(), "DIFFERENCE: frontend -> cart-redis:6379: definitions say blocked, network allowed") {
			t.Fatalf("want exactly the extra port reported, got %+v (%v):\n%s", rep.Differences, err, out.String())
		}
		dot, err := os.ReadFile(strings.TrimSuffix(graph, ".svg") + ".dot")
		if err != nil || !strings.Contains(string(dot), `"frontend" -> "cart-redis" [label="+6379", color="#dc2626"`) {
			t.Fatalf("the picture must draw the extra port in red (%v):\n%s", err, dot)
		}
	})
}

// reachedTCP: whether the network lets src open a TCP connection to dst on port.
func reachedTCP(ctx context.Context, l *layout, src, dst string, port int) bool {
	reached, _ := l.reach(ctx, src, dst, sg.TCP, port)
	return reached
}

// otherKey is an SSH key the lab never saw.
func otherKey(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "stranger")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	return path
}

// groupEdit puts rule first in a group file's ingress or egress list.
type groupEdit struct{ file, direction, rule string }

// editedGroups is a copy of the repository's security groups with the edits
// a learner would make, in a directory for lab firewall -groups.
func editedGroups(t *testing.T, repo string, edits ...groupEdit) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(repo, "deploy", "security-groups", "*.yaml"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range edits {
			if filepath.Base(f) == e.file {
				raw = []byte(prependRule(string(raw), e.direction, e.rule))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// namespaceDialer opens a client's connections from inside a namespace.
type namespaceDialer struct {
	l        *layout
	instance string
}

func (d namespaceDialer) DialContext(ctx context.Context, _, addr string) (net.Conn, error) {
	return d.l.dialFrom(ctx, d.instance, addr, 3*time.Second)
}

func logs(cfg config) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(cfg.StateDir, "logs", "*.log"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if len(raw) > 2000 {
			raw = raw[len(raw)-2000:]
		}
		b.WriteString("== " + filepath.Base(f) + "\n" + string(raw) + "\n")
	}
	return b.String()
}
