package composecheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/roboshop-go/roboshop/deploy/sg"
)

func load(t *testing.T, composeText string) []string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(path, []byte(composeText), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadWithObservability(context.Background(), path, testSecrets...)
	if err != nil {
		t.Fatal(err)
	}
	set, err := sg.Load("../security-groups")
	if err != nil {
		t.Fatal(err)
	}
	return Check(p, set)
}

func composeFile(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// testSecrets are what .env gives compose (scripts/up.sh makes it).
var testSecrets = []string{"USER_MONGO_PASSWORD=a", "CATALOGUE_MONGO_PASSWORD=b", "REDIS_PASSWORD=c",
	"MYSQL_PASSWORD=d", "MYSQL_ROOT_PASSWORD=e", "USER_SIGNING_KEY=f", "USER_MONGO_ROOT_PASSWORD=g",
	"CATALOGUE_MONGO_ROOT_PASSWORD=h", "GRAFANA_ADMIN_PASSWORD=i", "SETTLE_TOKEN=j", "MYSQL_APP_PASSWORD=k"}

// Without one of its secrets, or with it empty, compose refuses to start and
// names it: no shop runs on a password that is in the repository.
func TestComposeRefusesToStartWithoutItsSecrets(t *testing.T) {
	// A copy in a directory of its own: a developer's .env must not answer.
	dir := t.TempDir()
	path := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(path, []byte(composeFile(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), path, testSecrets...); err != nil {
		t.Fatalf("with every secret: %v", err)
	}
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range testSecrets {
		name := strings.TrimSuffix(secret, secret[strings.Index(secret, "="):])
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(string(example), "\n"+name+"=\n") {
				t.Errorf(".env.example gives %s a value: scripts/up.sh generates secrets only where it is empty", name)
			}
			for _, env := range [][]string{without(testSecrets, secret), append(without(testSecrets, secret), name+"=")} {
				_, err := Load(context.Background(), path, env...)
				if err == nil || !strings.Contains(err.Error(), name) {
					t.Errorf("compose loaded without %s (error %v)", name, err)
				}
			}
		})
	}
	if strings.Contains(composeFile(t), "change-me") {
		t.Error("docker-compose.yml still names a change-me password")
	}
	// As docker compose does (and composeverify relies on): the secrets come
	// from the .env beside the file.
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(strings.Join(testSecrets, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), path); err != nil {
		t.Errorf("with the secrets in .env beside the file: %v", err)
	}
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

func TestComposeMirrorsSecurityGroups(t *testing.T) {
	if problems := load(t, composeFile(t)); len(problems) > 0 {
		t.Fatalf("docker-compose.yml:\n%s", strings.Join(problems, "\n"))
	}
}

// repoProject is docker-compose.yml (the observability profile included) and
// the security groups, as the repository has them.
func repoProject(t *testing.T) (*types.Project, *sg.Set) {
	t.Helper()
	p, err := LoadWithObservability(context.Background(), "../../docker-compose.yml", testSecrets...)
	if err != nil {
		t.Fatal(err)
	}
	set, err := sg.Load("../security-groups")
	if err != nil {
		t.Fatal(err)
	}
	return p, set
}

// TestANetworkNeedsATCPRule: compose networks carry every protocol, so two
// services whose groups join them by ICMP alone must not share one (it would
// open every TCP port between them too).
func TestANetworkNeedsATCPRule(t *testing.T) {
	p, set := repoProject(t)
	if problems := Check(p, set); len(problems) > 0 {
		t.Fatalf("the groups as they are: %v", problems)
	}
	ping := sg.Rule{Group: "cart-redis", Protocol: sg.ICMP, ICMPType: new(sg.EchoRequest), ICMPCode: new(-1), Description: "ping"}
	set.Groups["cart"].Egress[0] = ping // was its TCP rule to its Redis
	ping.Group = "cart"
	set.Groups["cart-redis"].Ingress[0] = ping
	want := "services cart and cart-redis share network"
	if got := strings.Join(Check(p, set), "\n"); !strings.Contains(got, want) {
		t.Fatalf("with ping alone between cart and its Redis: %q, want %q", got, want)
	}
}

func TestCheckCatches(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"datastore on a shared network", "    networks:\n      - cart-db\n", "    networks:\n      - cart-db\n      - user-api\n",
			"services cart-redis and frontend share network user-api"},
		{"rule without a network", "      - user-api\n      - user-db\n", "      - user-db\n",
			"has no network shared by services user and frontend"},
		{"datastore on a non-internal network", "  cart-db:\n    internal: true\n", "  cart-db: {}\n",
			"datastore cart-redis is on network cart-db, which is not internal"},
		{"datastore publishes a port", "    command: [\"redis-server\"", "    ports: [\"6379:6379\"]\n    command: [\"redis-server\"",
			"service cart-redis publishes ports"},
		{"root user", "  payment-mysql:\n    image: mysql:8.4\n    user: \"999:999\"", "  payment-mysql:\n    image: mysql:8.4\n    user: \"0:0\"",
			"service payment-mysql must run as a non-root user"},
		{"writable root", "    image: mongo:7\n    user: \"999:999\"\n    restart: unless-stopped\n    read_only: true",
			"    image: mongo:7\n    user: \"999:999\"\n    restart: unless-stopped\n    read_only: false", "the root filesystem must be read_only"},
		{"redis without a memory limit", `"--maxmemory", "96mb", "--maxmemory-policy", "volatile-lru"`, `"--save", "60 1"`,
			"service cart-redis: redis-server needs --maxmemory"},
		{"redis's password on its command line", `"redis-server", "/run/secrets/cart-redis-auth",`,
			`"redis-server", "--requirepass", "${REDIS_PASSWORD}",`, "redis-server must read its password from a secret file"},
		{"redis's password in its environment", "    secrets: [cart-redis-auth]\n", "    secrets: [cart-redis-auth]\n    environment:\n      REDISCLI_AUTH: ${REDIS_PASSWORD}\n",
			"redis-server must read its password from a secret file"},
		{"a call not wired", "      CATALOGUE_URL: http://catalogue:8080\n      CART_TTL", "      CART_TTL",
			"service cart: no CATALOGUE_URL"},
		{"a call to the wrong host", "      CART_URL: http://cart:8080", "      CART_URL: http://catalogue:8080",
			`service payment: CART_URL is "http://catalogue:8080", want "http://cart:8080"`},
		{"client addresses believed from every neighbour", "      TRUSTED_PROXIES: frontend\n", "      TRUSTED_PROXIES: 172.16.0.0/12\n",
			"service user: TRUSTED_PROXIES must be exactly frontend"},
		{"client addresses believed from nobody", "      TRUSTED_PROXIES: frontend\n", "",
			"service user: TRUSTED_PROXIES must be exactly frontend"},
		{"payment's own user owns the schema", "      MYSQL_DSN: payment:${MYSQL_APP_PASSWORD", "      MYSQL_DSN: roboshop:${MYSQL_APP_PASSWORD",
			"service payment: MYSQL_MIGRATE_DSN must sign in as another user than MYSQL_DSN"},
		{"migrations without the owner", "      MYSQL_MIGRATE_DSN: roboshop:", "      MYSQL_UNUSED_DSN: roboshop:",
			"service payment: no MYSQL_MIGRATE_DSN"},
		{"a datastore at the wrong host", "@tcp(payment-mysql:3306)", "@tcp(cart-redis:3306)",
			"service payment: MYSQL_DSN must reach database payment at payment-mysql:3306"},
		{"a service signs in as MongoDB's root", "@catalogue-mongodb:27017/catalogue?authSource=catalogue", "@catalogue-mongodb:27017/catalogue?authSource=admin",
			"service catalogue: MONGO_URI must sign in as catalogue's own user (authSource=catalogue), not root"},
		{"the monitoring plane on a tier's API network", "    networks: [observability, frontend-telemetry, user-telemetry",
			"    networks: [observability, user-api, frontend-telemetry, user-telemetry",
			"monitoring service prometheus is on network user-api with cart, frontend, payment, user"},
		{"two tiers on one telemetry network", "      - cart-telemetry #", "      - cart-telemetry\n      - user-telemetry #",
			"monitoring service otel-collector is on network user-telemetry with cart, user"},
		{"a telemetry network with a way out", "  user-telemetry:\n    internal: true\n", "  user-telemetry: {}\n",
			"network user-telemetry joins user to the monitoring plane and must be internal"},
		{"a monitoring UI on every address", `"127.0.0.1:${GRAFANA_PORT:-3000}:3000"`, `"${GRAFANA_PORT:-3000}:3000"`,
			"monitoring service grafana publishes 3000 on every address"},
		{"the monitoring plane as root", "    image: prom/prometheus:v3.16.0\n    user: \"65534:65534\"", "    image: prom/prometheus:v3.16.0\n    user: \"0:0\"",
			"service prometheus must run as a non-root user"},
		{"dependency not awaited", "      user-mongodb:\n        condition: service_healthy", "      user-mongodb:\n        condition: service_started",
			"service user depends on user-mongodb without condition: service_healthy"},
		{"the card gateway reachable from another tier", "    networks: [payment-gateway]", "    networks: [payment-gateway, cart-api]",
			"outside service card-gateway shares network cart-api with cart; only payment calls it"},
		{"the card gateway on a network without payment", "    networks: [payment-gateway]", "    networks: [payment-gateway, observability]",
			"outside service card-gateway: network observability does not hold payment"},
		{"the card gateway published", "      LEDGER: /data/ledger.jsonl\n", "      LEDGER: /data/ledger.jsonl\n    ports: [\"8090:8080\"]\n",
			"outside service card-gateway publishes ports"},
		{"the card gateway as root", "    image: roboshop/cardgateway:${ROBOSHOP_TAG:-dev}\n    user: \"65532:65532\"", "    image: roboshop/cardgateway:${ROBOSHOP_TAG:-dev}\n    user: \"0:0\"",
			"service card-gateway must run as a non-root user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := composeFile(t)
			if !strings.Contains(text, tc.old) {
				t.Fatalf("docker-compose.yml does not contain %q", tc.old)
			}
			problems := strings.Join(load(t, strings.Replace(text, tc.old, tc.new, 1)), "\n")
			if !strings.Contains(problems, tc.want) {
				t.Fatalf("problems %q do not mention %q", problems, tc.want)
			}
		})
	}
}
