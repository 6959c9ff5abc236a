package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/roboshop-go/roboshop/testkit"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestRunServesAndSurvivesMongoOutage drives the real run function over HTTP: the
// journey works, /readyz goes 503 while MongoDB is stopped and 200 again after it
// is back, the process keeps running throughout, and SIGTERM (ctx) drains cleanly.
func TestRunServesAndSurvivesMongoOutage(t *testing.T) {
	t.Parallel()
	mongo, uri := testkit.StartMongo(t, "users")
	svc := testkit.RunService(t, run, map[string]string{"MONGO_URI": uri, "BCRYPT_COST": "10"})

	svc.WaitStatus(t, "/readyz", http.StatusOK)
	reg := registerThrough(t, svc, "run@example.com")
	if code, body := svc.Do(t, "GET", "/me", "", reg.Token); code != http.StatusOK {
		t.Fatalf("me: %d %s", code, body)
	}

	mongo.Stop()
	took := svc.WaitStatus(t, "/readyz", http.StatusServiceUnavailable)
	t.Logf("readyz turned 503 %s after MongoDB stopped", took)
	svc.WaitStatus(t, "/healthz", http.StatusOK)
	if code, body := svc.Do(t, "POST", "/login", `{"email":"run@example.com","password":"password1"}`, ""); code != http.StatusServiceUnavailable {
		t.Fatalf("login with MongoDB down: %d %s, want 503", code, body)
	}

	mongo.Start(t)
	svc.WaitStatus(t, "/readyz", http.StatusOK)
	if code, body := svc.Do(t, "GET", "/me", "", reg.Token); code != http.StatusOK {
		t.Fatalf("token issued before the outage no longer works: %d %s", code, body)
	}
	logs := svc.Logs()
	if strings.Contains(logs, "password1") || strings.Contains(logs, "$2a$") {
		t.Fatal("a password or hash reached the log")
	}
	if !strings.Contains(logs, `"route":"/register"`) || !strings.Contains(logs, `"request_id"`) {
		t.Fatalf("request log lines missing:\n%s", logs)
	}
	svc.ExpectMetric(t, `mongodb_pool_connections_open [1-9][0-9]*`)
}

// registerThrough registers email (password "password1") with a running
// service and returns its answer.
func registerThrough(t *testing.T, svc *testkit.RunningService, email string) authBody {
	t.Helper()
	code, body := svc.Do(t, "POST", "/register", `{"email":"`+email+`","name":"Run","password":"password1"}`, "")
	if code != http.StatusCreated {
		t.Fatalf("register: %d %s", code, body)
	}
	var reg authBody
	if err := json.Unmarshal(body, &reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	testkit.ExpectRunRejects(t, run, []testkit.BadConfig{
		{Name: "bad uri", Env: map[string]string{"MONGO_URI": "postgres://x"}, Want: "MONGO_URI"},
		{Name: "low bcrypt cost", Env: map[string]string{"BCRYPT_COST": "4"}, Want: "BCRYPT_COST"},
		{Name: "bad ttl", Env: map[string]string{"TOKEN_TTL": "forever"}, Want: "TOKEN_TTL"},
		{Name: "bad log level", Env: map[string]string{"LOG_LEVEL": "loud"}, Want: "LOG_LEVEL"},
		{Name: "short demo password", Env: map[string]string{"DEMO_PASSWORD": "short"}, Want: "DEMO_PASSWORD"},
		{Name: "bad trusted proxy", Env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, front_end"}, Want: "TRUSTED_PROXIES"},
	})
}

// writeKey writes key as PEM PKCS#8, as `openssl genpkey -algorithm ed25519` does.
func writeKey(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A signing key that cannot be used stops the start with an error naming the
// variable and never quoting the key.
func TestRunRejectsABadSigningKey(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	cases := []testkit.BadConfig{
		{Name: "not base64", Env: map[string]string{"SIGNING_KEY": "not base64!"}, Want: "SIGNING_KEY: neither PEM nor base64"},
		{Name: "a seed too short", Env: map[string]string{"SIGNING_KEY": short}, Want: "holds 16 bytes"},
		{Name: "a missing file", Env: map[string]string{"SIGNING_KEY_FILE": "/nonexistent/key.pem"}, Want: "SIGNING_KEY_FILE"},
		{Name: "an RSA key", Env: map[string]string{"SIGNING_KEY_FILE": writeKey(t, rsaKey)}, Want: "want an Ed25519 key"},
		{Name: "both set", Env: map[string]string{"SIGNING_KEY": short, "SIGNING_KEY_FILE": "/x"}, Want: "both set"},
	}
	testkit.ExpectRunRejects(t, run, cases)
	for _, tc := range cases {
		_, err := loadConfig(testkit.Env(tc.Env))
		if v := tc.Env["SIGNING_KEY"]; err != nil && v != "" && strings.Contains(err.Error(), v) {
			t.Errorf("%s: the error quotes the key: %v", tc.Name, err)
		}
	}
}

// With a configured key the service signs with it and keeps none in MongoDB;
// a second instance, given the same key as base64, accepts the first one's
// tokens (instances behind a load balancer).
func TestRunSignsWithTheConfiguredKey(t *testing.T) {
	t.Parallel()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	uri := testkit.MongoURI(t)
	first := testkit.RunService(t, run, map[string]string{"MONGO_URI": uri, "BCRYPT_COST": "10", "SEED_DEMO": "false",
		"SIGNING_KEY_FILE": writeKey(t, key)})
	second := testkit.RunService(t, run, map[string]string{"MONGO_URI": uri, "BCRYPT_COST": "10", "SEED_DEMO": "false",
		"SIGNING_KEY": base64.StdEncoding.EncodeToString(key.Seed())})
	first.WaitStatus(t, "/readyz", http.StatusOK)
	second.WaitStatus(t, "/readyz", http.StatusOK)

	reg := registerThrough(t, first, "keyed@example.com")
	if _, err := jwt.Parse(reg.Token, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"EdDSA"})); err != nil {
		t.Fatalf("the token does not verify with the configured key's public half: %v", err)
	}
	if code, body := second.Do(t, "GET", "/me", "", reg.Token); code != http.StatusOK {
		t.Fatalf("the second instance refused the first's token: %d %s", code, body)
	}
	st, err := openMongoStore(uri, uri[strings.LastIndex(uri, "/")+1:], nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.keys.CountDocuments(testkit.Context(t), bson.D{}); err != nil || n != 0 {
		t.Fatalf("%d signing keys stored in MongoDB (%v), want none", n, err)
	}
}
