package ec2

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// heredoc returns the body of the heredoc in script that writes to target
// (`cat > target <<'END'` ... `END`).
func heredoc(t *testing.T, script, target string) string {
	t.Helper()
	_, rest, ok := strings.Cut(script, "cat > "+target+" <<'")
	if !ok {
		t.Fatalf("the user data writes no %s", target)
	}
	end, body, _ := strings.Cut(rest, "'\n")
	body, _, ok = strings.Cut(body, "\n"+end+"\n")
	if !ok {
		t.Fatalf("the heredoc for %s has no end", target)
	}
	return body + "\n"
}

// inMountNamespace runs script with bash in a mount namespace of its own, so
// it can lay files over system paths for this test alone.
func inMountNamespace(t *testing.T, script string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "bash", "-euo", "pipefail", "-c", script, "sh"}, args...)...).CombinedOutput()
	return string(out), err
}

// Each service's systemd unit, as its user data writes it, passes
// `systemd-analyze verify` with no complaint (its binary in place); a unit
// with a bad setting does not.
func TestServiceUnitsPassSystemdAnalyze(t *testing.T) {
	ud := userData(t, "https://releases.example.com/v1.0.0", strings.Repeat("ab", 32))
	type unitCase struct {
		name, unit string
		wantOK     bool
	}
	var cases []unitCase
	for _, svc := range []string{"user", "catalogue", "cart", "payment"} {
		cases = append(cases, unitCase{svc, heredoc(t, ud[svc], "/etc/systemd/system/roboshop-"+svc+".service"), true})
	}
	cases = append(cases, unitCase{"a unit with a bad setting (planted)",
		strings.Replace(cases[0].unit, "ProtectHome=yes", "ProtectHome=bogus", 1), false})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			unit := filepath.Join(t.TempDir(), "roboshop-under-test.service")
			if err := os.WriteFile(unit, []byte(tc.unit), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := inMountNamespace(t, `mount -t tmpfs roboshop-test /usr/local/bin
cp /bin/true "/usr/local/bin/$(sed -n 's|^ExecStart=/usr/local/bin/||p' "$1")"
systemd-analyze verify --man=no --generators=no "$1"`, unit)
			ok := err == nil && strings.TrimSpace(out) == ""
			if ok != tc.wantOK {
				t.Fatalf("systemd-analyze verify: %v\n%s(want clean: %v)", err, out, tc.wantOK)
			}
		})
	}
}

// The frontend's nginx configuration, as its user data renders it, passes
// `nginx -t` (the tiers' names resolving as the private zone would resolve
// them); a planted error does not.
func TestFrontendConfigPassesNginxTest(t *testing.T) {
	ud := userData(t, "https://releases.example.com/v1.0.0", strings.Repeat("ab", 32))
	site := heredoc(t, ud["frontend"], "/etc/nginx/conf.d/roboshop.conf")
	// Behind the ALB, nginx counts its limits per shopper: it believes the
	// X-Forwarded-For of the ALB's nodes, in the public subnets, and nobody
	// else's (not the private instances').
	if !strings.Contains(site, "set_real_ip_from 10.40.0.0/23;") {
		t.Error("the frontend's nginx does not take the shopper's address from exactly the load balancer's subnets")
	}
	for _, tc := range []struct {
		name   string
		site   string
		wantOK bool
	}{
		{"as rendered", site, true},
		{"with a directive nginx does not know (planted)", strings.Replace(site, "server_tokens off;", "server_tokens off;\nroboshop_unknown on;", 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{
				"roboshop.conf": tc.site,
				"nginx.conf": "pid " + dir + "/nginx.pid;\nevents { worker_connections 4096; }\nhttp {\n  include /etc/nginx/mime.types;\n" +
					"  access_log off;\n  include " + dir + "/roboshop.conf;\n}\n",
				"hosts": "127.0.0.1 localhost\n10.40.1.11 user.roboshop.internal\n10.40.1.12 catalogue.roboshop.internal\n" +
					"10.40.1.13 cart.roboshop.internal\n10.40.1.14 payment.roboshop.internal\n",
			}
			for name, body := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := inMountNamespace(t, `mount --bind "$1/hosts" /etc/hosts
nginx -t -q -e stderr -p "$1" -c "$1/nginx.conf"`, dir)
			if (err == nil) != tc.wantOK {
				t.Fatalf("nginx -t: %v\n%s(want success: %v)", err, out, tc.wantOK)
			}
		})
	}
}

// The frontend follows the internal load balancer's addresses: its timer and
// service pass `systemd-analyze verify`, and its script, run for real with
// the names resolving through /etc/hosts and a stand-in systemctl, reloads
// nginx only when an address changes, and never on a failed lookup.
func TestFrontendFollowsTheBalancersAddresses(t *testing.T) {
	ud := userData(t, "https://releases.example.com/v1.0.0", strings.Repeat("ab", 32))["frontend"]
	dir := t.TempDir()
	files := map[string]string{
		"roboshop-follow-dns.service": heredoc(t, ud, "/etc/systemd/system/roboshop-follow-dns.service"),
		"roboshop-follow-dns.timer":   heredoc(t, ud, "/etc/systemd/system/roboshop-follow-dns.timer"),
		"follow":                      heredoc(t, ud, "/usr/local/sbin/roboshop-follow-dns"),
		"bin/systemctl":               "#!/bin/sh\necho \"$*\" >> \"$CALLS\"\n",
		"hosts":                       "",
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		mode := os.FileMode(0o644)
		if name == "follow" || name == "bin/systemctl" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("units verify", func(t *testing.T) {
		out, err := inMountNamespace(t, `mount -t tmpfs roboshop-test /usr/local/sbin
cp "$1/follow" /usr/local/sbin/roboshop-follow-dns
systemd-analyze verify --man=no --generators=no "$1/roboshop-follow-dns.service" "$1/roboshop-follow-dns.timer"`, dir)
		if err != nil || strings.TrimSpace(out) != "" {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
	t.Run("reloads only on a change", func(t *testing.T) {
		names := func(user string) string {
			return "127.0.0.1 localhost\n" + user + " user.roboshop.internal\n10.40.10.5 catalogue.roboshop.internal\n" +
				"10.40.10.5 cart.roboshop.internal\n10.40.10.5 payment.roboshop.internal\n"
		}
		steps := []struct {
			name, hosts string
			wantFail    bool
			wantCalls   string
		}{
			{"first look records", names("10.40.10.5"), false, ""},
			{"same addresses", names("10.40.10.5"), false, ""},
			{"a balancer node replaced", names("10.40.11.9"), false, "reload nginx\n"},
			{"same again", names("10.40.11.9"), false, "reload nginx\n"},
			{"a name that does not resolve", strings.Replace(names("10.40.11.9"), "cart.roboshop.internal", "other.example", 1), true, "reload nginx\n"},
		}
		script := `mount --bind "$1/hosts" /etc/hosts
mount -t tmpfs roboshop-test /run
export CALLS="$1/calls" PATH="$1/bin:$PATH"
: > "$CALLS"
for step in "$1"/step-*; do
  cat "$step" > "$1/hosts"
  if bash "$1/follow"; then echo "ok"; else echo "failed"; fi
  echo "calls: $(tr '\n' '|' < "$CALLS")"
done`
		for i, s := range steps {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("step-%d", i)), []byte(s.hosts), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out, err := inMountNamespace(t, script, dir)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasPrefix(l, "ok") || strings.HasPrefix(l, "failed") || strings.HasPrefix(l, "calls:") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 2*len(steps) {
			t.Fatalf("output:\n%s", out)
		}
		for i, s := range steps {
			failed := lines[2*i] == "failed"
			calls := strings.TrimPrefix(lines[2*i+1], "calls: ")
			if failed != s.wantFail || calls != strings.ReplaceAll(s.wantCalls, "\n", "|") {
				t.Errorf("%s: failed %v, systemctl calls %q; want failed %v, calls %q", s.name, failed, calls, s.wantFail, s.wantCalls)
			}
		}
	})
}
