package ec2

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/topology"
)

// userData plans the provider-free user-data module with these release
// settings and returns each tier's user data, as an instance receives it.
func userData(t *testing.T, releaseURL, sumsSHA256 string) map[string]string {
	t.Helper()
	data := t.TempDir()
	mod := "-chdir=../terraform/modules/userdata"
	tf(t, data, mod, "init", "-backend=false", "-input=false", "-no-color")
	tf(t, data, mod, "validate", "-no-color")
	plan := filepath.Join(data, "plan.out")
	args := []string{mod, "plan", "-input=false", "-no-color", "-out=" + plan,
		"-var", "release_url=" + releaseURL, "-var", "release_sums_sha256=" + sumsSHA256,
		"-var", "zone=roboshop.internal", "-var", "seed_demo=false", "-var", "region=eu-west-1", "-var", "alb_range=10.40.0.0/23", "-var", "internal_alb_range=10.40.10.0/23"}
	tf(t, data, args...)
	var shown struct {
		PlannedValues struct {
			Outputs struct {
				UserData struct {
					Value map[string]string `json:"value"`
				} `json:"user_data"`
			} `json:"outputs"`
		} `json:"planned_values"`
	}
	if err := json.Unmarshal(tf(t, data, mod, "show", "-json", plan), &shown); err != nil {
		t.Fatal(err)
	}
	return shown.PlannedValues.Outputs.UserData.Value
}

// release is a small stand-in release: files by name, and SHA256SUMS over them.
type release map[string][]byte

func (r release) sums() []byte {
	var b strings.Builder
	for _, name := range []string{"frontend-html.tar.gz", "user-linux-amd64", "user-linux-arm64"} {
		sum := sha256.Sum256(r[name])
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	return []byte(b.String())
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Every tier's user data is valid bash; the services and the frontend take
// every file through fetch, for this machine's architecture; and every secret
// a tier needs is read at boot from its own SSM path, never written into it.
func TestUserDataOfEveryTier(t *testing.T) {
	ud := userData(t, "https://releases.example.com/v1.0.0", strings.Repeat("ab", 32))
	if len(ud) != 10 {
		t.Fatalf("user data for %d tiers, want 10", len(ud))
	}
	secrets := map[string][]string{"user": {"MONGO_URI", "SIGNING_KEY"}, "catalogue": {"MONGO_URI"}, "cart": {"REDIS_URL", "SETTLE_TOKEN"},
		"payment": {"MYSQL_DSN", "MYSQL_MIGRATE_DSN", "SETTLE_TOKEN"}, "user-mongodb": {"MONGO_PASSWORD"}, "catalogue-mongodb": {"MONGO_PASSWORD"},
		"cart-redis": {"REDIS_PASSWORD"}, "payment-mysql": {"MYSQL_PASSWORD", "MYSQL_OWNER_PASSWORD"}}
	for tier, script := range ud {
		t.Run(tier, func(t *testing.T) {
			if out, err := exec.Command("bash", "-n", "-c", script).CombinedOutput(); err != nil {
				t.Fatalf("not valid bash: %v\n%s", err, out)
			}
			var downloads []string
			switch tier {
			case "user", "catalogue", "cart", "payment":
				downloads = []string{`fetch "` + tier + `-linux-$ARCH" /usr/local/bin/roboshop-` + tier}
			case "frontend":
				downloads = []string{"fetch frontend-html.tar.gz "}
			}
			for _, d := range downloads {
				if !strings.Contains(script, d) || !strings.Contains(script, strings.Repeat("ab", 32)) {
					t.Errorf("does not fetch through the checked download: want %q and the SHA256SUMS digest", d)
				}
			}
			if n := strings.Count(script, "curl "); len(downloads) > 0 && n != 1 {
				t.Errorf("%d curl calls; every download from the release must be fetch's", n)
			}
			// Services are found at their listeners on the internal load
			// balancer (deploy/security-groups/internal-alb.yaml).
			wantURLs := map[string][]string{
				"cart":     {"USER_URL=http://user.roboshop.internal:8081", "CATALOGUE_URL=http://catalogue.roboshop.internal:8082"},
				"payment":  {"USER_URL=http://user.roboshop.internal:8081", "CATALOGUE_URL=http://catalogue.roboshop.internal:8082", "CART_URL=http://cart.roboshop.internal:8083"},
				"frontend": {"server user.roboshop.internal:8081;", "server catalogue.roboshop.internal:8082;", "server cart.roboshop.internal:8083;", "server payment.roboshop.internal:8084;"},
				// Only the internal balancer's nodes (the private subnets)
				// may tell it a shopper's address.
				"user": {"\nTRUSTED_PROXIES=10.40.10.0/23\n"},
			}
			for _, u := range wantURLs[tier] {
				if !strings.Contains(script, u) {
					t.Errorf("does not find a service through its listener: no %q", u)
				}
			}
			if strings.Contains(script, ".roboshop.internal:8080") {
				t.Error("calls a service directly on 8080: its group admits only the internal load balancer")
			}
			if strings.Contains(script, "linux-amd64") {
				t.Error("names an amd64 file: the architecture is the instance's ($ARCH)")
			}
			if strings.Contains(script, "redis://") || strings.Contains(script, "@tcp(") || strings.Contains(script, "mongodb://") {
				t.Error("holds a connection string: its password would be in user data")
			}
			var reads []string
			for _, m := range regexp.MustCompile(`\$\(secret ([A-Z_]+)\)`).FindAllStringSubmatch(script, -1) {
				reads = append(reads, m[1])
			}
			if want := secrets[tier]; !slices.Equal(reads, want) {
				t.Errorf("reads the secrets %v, want %v", reads, want)
			}
			if len(reads) > 0 && !strings.Contains(script, `--name "/roboshop/`+tier+`/$1"`) {
				t.Errorf("reads its secrets from outside /roboshop/%s/", tier)
			}
			// Only as an assignment does a failed read stop the script (set -e).
			if n := len(regexp.MustCompile(`(?m)^[a-z]+=\$\(secret [A-Z_]+\)$`).FindAllString(script, -1)); n != len(reads) {
				t.Errorf("%d of %d secret reads are plain assignments: a failed read would go unnoticed", n, len(reads))
			}
		})
	}
}

// secret, as a tier's user data holds it, asks SSM for that tier's own
// parameter, decrypted, in the module's region (a stand-in aws on PATH
// records the call).
func TestSecretReadsOnlyTheTiersOwnParameter(t *testing.T) {
	ud := userData(t, "https://releases.example.com/v1.0.0", strings.Repeat("ab", 32))
	for tier, name := range map[string]string{"cart": "REDIS_URL", "payment-mysql": "MYSQL_PASSWORD", "user": "SIGNING_KEY"} {
		t.Run(tier, func(t *testing.T) {
			script := ud[tier]
			start := strings.Index(script, "command -v aws")
			end := strings.Index(script[start:], "\n}\n")
			if start < 0 || end < 0 {
				t.Fatal("no secret function in the user data")
			}
			bin := t.TempDir()
			fake := "#!/bin/sh\necho \"$*\" >> " + bin + "/calls\necho the-value\n"
			if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "-euo", "pipefail", "-c", script[start:start+end+3]+"\nsecret "+name)
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "the-value" {
				t.Fatalf("secret %s: %v %q", name, err, out)
			}
			calls, _ := os.ReadFile(filepath.Join(bin, "calls"))
			want := "ssm get-parameter --region eu-west-1 --with-decryption --name /roboshop/" + tier + "/" + name + " --query Parameter.Value --output text"
			if strings.TrimSpace(string(calls)) != want {
				t.Fatalf("aws was called as\n  %s\nwant\n  %s", calls, want)
			}
		})
	}
}

// fetch, as the user data holds it, run for real against a release served
// over HTTPS and one in S3 (a stand-in aws copying from a directory): it
// installs a file only when SHA256SUMS is the one Terraform named and the
// file matches it; otherwise it fails and installs nothing.
func TestFetchInstallsOnlyWhatTheReleaseVouchesFor(t *testing.T) {
	good := release{"user-linux-amd64": []byte("the user service, amd64"), "user-linux-arm64": []byte("the user service, arm64"),
		"frontend-html.tar.gz": []byte("the web UI")}
	sums := good.sums()
	cases := []struct {
		name    string
		serve   release // what the release holds; SHA256SUMS included
		file    string
		wantErr string // "" for an install
	}{
		{name: "the release as made", serve: with(good, "SHA256SUMS", sums), file: "user-linux-amd64"},
		{name: "a swapped binary", serve: with(with(good, "SHA256SUMS", sums), "user-linux-amd64", []byte("a backdoor")),
			file: "user-linux-amd64", wantErr: "user-linux-amd64 does not match SHA256SUMS"},
		{name: "a swapped binary with SHA256SUMS to match", file: "user-linux-amd64", wantErr: "is not the release Terraform names",
			serve: func() release {
				bad := with(good, "user-linux-amd64", []byte("a backdoor"))
				return with(bad, "SHA256SUMS", bad.sums())
			}()},
		{name: "a file SHA256SUMS does not list", serve: with(with(good, "SHA256SUMS", sums), "extra", []byte("x")),
			file: "extra", wantErr: "extra does not match SHA256SUMS"},
	}
	// Each transport: the release's URL and the environment fetch runs in.
	transports := map[string]func(t *testing.T, r release) (url string, env []string){
		"https": func(t *testing.T, r release) (string, []string) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				body, ok := r[strings.TrimPrefix(req.URL.Path, "/v1.0.0/")]
				if !ok {
					http.NotFound(w, req)
					return
				}
				_, _ = w.Write(body)
			}))
			t.Cleanup(srv.Close)
			ca := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
				t.Fatal(err)
			}
			return srv.URL + "/v1.0.0", []string{"CURL_CA_BUNDLE=" + ca}
		},
		"s3": func(t *testing.T, r release) (string, []string) {
			bucket, bin := t.TempDir(), t.TempDir()
			for name, body := range r {
				if err := os.WriteFile(filepath.Join(bucket, name), body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// aws s3 cp --region R --only-show-errors s3://roboshop-release-test/NAME DEST
			fake := "#!/bin/sh\n[ \"$1 $2 $3 $4 $5\" = \"s3 cp --region eu-west-1 --only-show-errors\" ] || exit 2\n" +
				"cp \"" + bucket + "/${6#s3://roboshop-release-test/}\" \"$7\"\n"
			if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			return "s3://roboshop-release-test", []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
		},
	}
	for transport, serve := range transports {
		for _, tc := range cases {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				url, env := serve(t, tc.serve)
				script := userData(t, url, digest(sums))["user"]
				start, end := strings.Index(script, "# fetch NAME DEST"), strings.Index(script, "esac")
				if start < 0 || end < start {
					t.Fatal("the user service's user data has no fetch function")
				}
				dest := filepath.Join(t.TempDir(), "installed")
				cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+script[start:end+len("esac")]+"\nfetch \"$1\" \"$2\"", "fetch", tc.file, dest)
				cmd.Env = append(os.Environ(), env...)
				out, err := cmd.CombinedOutput()
				_, statErr := os.Stat(dest)
				switch {
				case tc.wantErr == "" && err != nil:
					t.Fatalf("fetch failed: %v\n%s", err, out)
				case tc.wantErr == "":
					if got, _ := os.ReadFile(dest); string(got) != string(good[tc.file]) {
						t.Fatalf("installed %q, want the release's", got)
					}
				case err == nil || !strings.Contains(string(out), tc.wantErr):
					t.Fatalf("fetch = %v, %s; want a failure saying %q", err, out, tc.wantErr)
				case statErr == nil:
					t.Fatal("fetch refused the file but installed it anyway")
				}
			})
		}
	}
}

func with(r release, name string, body []byte) release {
	out := release{}
	for k, v := range r {
		out[k] = v
	}
	out[name] = body
	return out
}

// TestPaymentsMySQLUserHasRowsOnlyOnEC2: the MySQL instance makes payment's
// own user with exactly topology.MySQLAppPrivileges and the schema's owner
// with every right on payment alone; the payment instance reads both DSNs,
// its own as MYSQL_DSN and the owner's for its migrations.
func TestPaymentsMySQLUserHasRowsOnlyOnEC2(t *testing.T) {
	ud := userData(t, "https://releases.example.com/v1.0.0", strings.Repeat("ab", 32))
	grants := regexp.MustCompile(`GRANT ([A-Z, ]+) ON ([a-z.*]+) TO '([a-z]+)'@'%'`).FindAllStringSubmatch(ud["payment-mysql"], -1)
	got := map[string]string{}
	for _, g := range grants {
		got[g[3]] = g[1] + " ON " + g[2]
	}
	want := map[string]string{"payment": topology.MySQLAppPrivileges + " ON payment.*", "roboshop": "ALL PRIVILEGES ON payment.*"}
	if !maps.Equal(got, want) {
		t.Fatalf("grants %v, want %v", got, want)
	}
	for _, name := range []string{"MYSQL_DSN", topology.MigrateDSNVar} {
		if !strings.Contains(ud["payment"], "value=$(secret "+name+")") {
			t.Errorf("payment does not read %s", name)
		}
	}
}
