package frontend

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/roboshop-go/roboshop/frontend/nginxtest"
	"github.com/roboshop-go/roboshop/testkit"
)

func get(t *testing.T, method, url string, body io.Reader, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func expectSecurityHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("status %d: CSP %q lacks %q", resp.StatusCode, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline or eval: %q", csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
		t.Errorf("status %d: headers %v", resp.StatusCode, h)
	}
	if s := h.Get("Server"); s != "nginx" {
		t.Errorf("Server header %q reveals a version", s)
	}
}

func TestSecurityHeadersOnEveryStatus(t *testing.T) {
	t.Parallel()
	u := sharedUpstreams(t)
	base := startNginx(t, u)
	dead := startNginx(t, upstreams{User: "http://127.0.0.1:1", Catalogue: "http://127.0.0.1:1", Cart: "http://127.0.0.1:1", Payment: "http://127.0.0.1:1"})
	tests := []struct {
		name, method, url string
		body              string
		status            int
		code              string // the JSON error code, for API errors
	}{
		{"page", "GET", base + "/", "", 200, ""},
		{"api", "GET", base + "/api/catalogue/products/DR-001", "", 200, ""},
		{"api 404", "GET", base + "/api/catalogue/products/XX-999", "", 404, "product_not_found"},
		{"missing image", "GET", base + "/images/products/nope.svg", "", 404, ""},
		{"bad gateway", "GET", dead + "/api/catalogue/products", "", 502, "bad_gateway"},
		{"too large", "POST", base + "/api/user/register", strings.Repeat("x", 20<<10), 413, "body_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			resp, text := get(t, tc.method, tc.url, body, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, text)
			}
			expectSecurityHeaders(t, resp)
			if tc.code != "" {
				expectJSONError(t, resp.StatusCode, text, tc.code)
			}
		})
	}
}

// Strict-Transport-Security goes out exactly when the request reached the
// load balancer over HTTPS, on pages and on assets alike.
func TestHSTSOnlyOverHTTPS(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	for _, tc := range []struct {
		name, path, proto, want string
	}{
		{"page over https", "/", "https", "max-age=31536000"},
		{"asset over https", "/assets/nope.js", "https", "max-age=31536000"},
		{"page over http", "/", "http", ""},
		{"page, no proxy", "/", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			headers := map[string]string{}
			if tc.proto != "" {
				headers["X-Forwarded-Proto"] = tc.proto
			}
			resp, _ := get(t, "GET", base+tc.path, nil, headers)
			if got := resp.Header.Get("Strict-Transport-Security"); got != tc.want {
				t.Fatalf("Strict-Transport-Security %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInternalPathsAreNotExposed(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	for _, svc := range []string{"user", "catalogue", "cart", "payment"} {
		for _, path := range []string{"healthz", "readyz", "metrics"} {
			resp, body := get(t, "GET", base+"/api/"+svc+"/"+path, nil, nil)
			if resp.StatusCode != 404 || strings.Contains(body, "go_goroutines") {
				t.Errorf("/api/%s/%s: %d %s", svc, path, resp.StatusCode, body)
			}
		}
	}
	if resp, _ := get(t, "GET", base+"/healthz", nil, nil); resp.StatusCode != 200 {
		t.Errorf("nginx's own /healthz: %d", resp.StatusCode)
	}
}

// TestSettleIsNotReachableFromOutside: the cart's settle is payment's call
// (it marks an order's lines paid for); through nginx, in every spelling,
// it is the API's 404 and never reaches the cart, which answers a settle
// without a token 401 (and one with a token anything but this 404).
func TestSettleIsNotReachableFromOutside(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	for _, path := range []string{"/api/cart/cart/settle", "/api/cart//cart/settle", "/api/cart/cart/%73ettle",
		"/api/cart/./cart/settle", "/api/cart/cart/settle?order_id=1"} {
		t.Run(path, func(t *testing.T) {
			resp, body := get(t, "POST", base+path, strings.NewReader(`{"order_id":"1","lines":[]}`),
				map[string]string{"Idempotency-Key": "settle-from-outside"})
			if resp.StatusCode != 404 || !strings.Contains(body, `"route_not_found"`) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestUnknownAPIPathsAreJSON404s: an /api/ path that names no service (or
// no route of one) answers the API's JSON 404, not the shop's page; other
// unknown paths keep the page, which routes in the browser.
func TestUnknownAPIPathsAreJSON404s(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	for _, tc := range []struct {
		path       string
		wantStatus int
		wantJSON   bool
	}{
		{"/api/catalog/products", 404, true},
		{"/api/carts/cart", 404, true},
		{"/api/", 404, true},
		{"/api/catalogue/no-such-route", 404, true},
		{"/products/DR-001", 200, false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, "GET", base+tc.path, nil, nil)
			isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && strings.Contains(body, `"route_not_found"`)
			if resp.StatusCode != tc.wantStatus || isJSON != tc.wantJSON {
				t.Fatalf("%d %s: %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		})
	}
}

func TestProxyStripsPrefixAndPassesRequestID(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	resp, body := get(t, "GET", base+"/api/catalogue/products/DR-001", nil, map[string]string{"X-Request-Id": "trace-me-123"})
	var p struct{ SKU string }
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &p) != nil || p.SKU != "DR-001" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Request-Id"); got != "trace-me-123" {
		t.Fatalf("request id not passed through: %q", got)
	}
	resp, _ = get(t, "GET", base+"/api/catalogue/products/DR-001", nil, map[string]string{"X-Request-Id": "bad id\" injected"})
	if got := resp.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
		t.Fatalf("malformed request id not replaced: %q", got)
	}
}

func TestLoginBurstIsRateLimited(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	// A fresh email for each attempt: the user service's own throttle (5
	// per account and address, counted before it decides, so a simultaneous
	// burst on one account may all be refused) would answer its 429s instead
	// of nginx's, and then no attempt would reach a password check.
	var mu sync.Mutex
	codes := map[int]int{}
	testkit.InParallel(15, func(int) {
		body := `{"email":"` + testkit.UniqueName("burst") + `@example.com","password":"wrong-password"}`
		resp, _ := get(t, "POST", base+"/api/user/login", strings.NewReader(body), nil)
		mu.Lock()
		codes[resp.StatusCode]++
		mu.Unlock()
	})
	if codes[429] == 0 || codes[401] == 0 || codes[401]+codes[429] != 15 {
		t.Fatalf("statuses %v: want some 401 then 429 for the burst", codes)
	}
	t.Logf("15 parallel logins: %v", codes)
}

// Behind a proxy, the login limit counts each shopper the proxy names in
// X-Forwarded-For; without one, the header is the client's to forge and counts
// for nothing. Only the last address counts (the one the proxy saw), even when
// that client is itself inside the trusted range (a pod, a SNATed client):
// what it wrote in front of its own address is not believed.
func TestForwardedForCountsOnlyFromTheProxy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		proxy     string
		forwarded string // %d: the attempt
		want429   bool
	}{
		{name: "no proxy: a forged header changes nothing", proxy: "", forwarded: "203.0.113.%d", want429: true},
		{name: "behind a proxy on loopback: one limit per shopper", proxy: "127.0.0.0/8", forwarded: "203.0.113.%d", want429: false},
		{name: "a client in the trusted range cannot choose its address", proxy: "127.0.0.0/8",
			forwarded: "203.0.113.%d, 127.0.0.9", want429: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := nginxtest.StartBehind(t, sharedUpstreams(t), tc.proxy)
			var mu sync.Mutex
			codes := map[int]int{}
			testkit.InParallel(15, func(i int) {
				body := `{"email":"` + testkit.UniqueName("xff") + `@example.com","password":"wrong-password"}`
				resp, _ := get(t, "POST", base+"/api/user/login", strings.NewReader(body),
					map[string]string{"X-Forwarded-For": fmt.Sprintf(tc.forwarded, i+1)})
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			})
			if got := codes[429] > 0; got != tc.want429 || codes[401]+codes[429] != 15 {
				t.Fatalf("15 logins from 15 forwarded addresses: %v; want 429s: %v", codes, tc.want429)
			}
		})
	}
}

func TestStaticFiles(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	resp, index := get(t, "GET", base+"/", nil, nil)
	if resp.StatusCode != 200 || strings.Contains(index, "<script>") {
		t.Fatalf("index: %d, inline script present: %v", resp.StatusCode, strings.Contains(index, "<script>"))
	}
	assets := regexp.MustCompile(`/assets/app\.[0-9a-f]{10}\.(js|css)`).FindAllString(index, -1)
	if len(assets) != 2 {
		t.Fatalf("index references %v, want the hashed js and css", assets)
	}
	for _, a := range assets {
		resp, _ := get(t, "GET", base+a, nil, map[string]string{"Accept-Encoding": "gzip"})
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") ||
			resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: %d cache %q encoding %q", a, resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Encoding"))
		}
		expectSecurityHeaders(t, resp)
	}
	if resp, _ := get(t, "GET", base+"/", nil, nil); strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Error("index.html must not be cached for a year")
	}
	if resp, _ := get(t, "GET", base+"/images/products/dr-001.svg", nil, nil); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("product image: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestPublishNamesAssetsByTheirContent: the published UI (frontend/publish.sh,
// run by the image build and topology.PublishUI) serves each asset under a name
// made from its content, so an edited file gets a new name and a browser
// holding the old one for a year still sees the new UI.
func TestPublishNamesAssetsByTheirContent(t *testing.T) {
	src := t.TempDir()
	if err := os.CopyFS(src, os.DirFS("src")); err != nil {
		t.Fatal(err)
	}
	publish := func() (index string, assets map[string]string) {
		dst := filepath.Join(t.TempDir(), "html")
		if out, err := exec.Command("sh", "publish.sh", src, dst).CombinedOutput(); err != nil {
			t.Fatalf("publish.sh: %v\n%s", err, out)
		}
		raw, err := os.ReadFile(filepath.Join(dst, "index.html"))
		if err != nil {
			t.Fatal(err)
		}
		assets = map[string]string{}
		for _, name := range []string{"app.js", "app.css"} {
			content, err := os.ReadFile(filepath.Join(src, name))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(content)
			ext := filepath.Ext(name)
			hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:10] + ext
			published, err := os.ReadFile(filepath.Join(dst, "assets", hashed))
			if err != nil || string(published) != string(content) {
				t.Errorf("%s is not published as assets/%s with its content: %v", name, hashed, err)
			}
			if !strings.Contains(string(raw), `"/assets/`+hashed+`"`) || strings.Contains(string(raw), `"/assets/`+name+`"`) {
				t.Errorf("index.html does not load %s by its hashed name %s", name, hashed)
			}
			assets[name] = hashed
		}
		if _, err := os.Stat(filepath.Join(dst, "images", "products", "dr-001.svg")); err != nil {
			t.Errorf("images not published: %v", err)
		}
		return string(raw), assets
	}
	_, before := publish()
	if err := os.WriteFile(filepath.Join(src, "app.js"), []byte("// edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, after := publish()
	if before["app.js"] == after["app.js"] || before["app.css"] != after["app.css"] {
		t.Errorf("an edit of app.js must rename it and only it: %v, then %v", before, after)
	}
}

func TestEveryProductHasAnImage(t *testing.T) {
	raw, err := os.ReadFile("../catalogue/catalogue.json")
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Products []struct{ SKU, Name, Image string } `json:"products"`
	}
	if err := json.Unmarshal(raw, &data); err != nil || len(data.Products) == 0 {
		t.Fatalf("catalogue.json: %v", err)
	}
	// A picture is drawn for its product: it carries the product's name, and no
	// two products share a drawing (colours, names and labels aside).
	colour := regexp.MustCompile(`#[0-9a-fA-F]{3,6}|<title>.*</title>|aria-label="[^"]*"|<text[^>]*>[^<]*</text>`)
	drawnFor := map[string]string{}
	for _, p := range data.Products {
		svg, err := os.ReadFile(filepath.Join("src", "images", "products", p.Image))
		if err != nil || !strings.HasPrefix(string(svg), "<svg") {
			t.Errorf("%s: image %s missing or not an SVG", p.SKU, p.Image)
			continue
		}
		if !strings.Contains(string(svg), "<title>"+html.EscapeString(p.Name)+"</title>") {
			t.Errorf("%s: image %s is not titled %q", p.SKU, p.Image, p.Name)
		}
		// The page prints the SKU beside the picture; the picture carries no text.
		if strings.Contains(string(svg), p.SKU) || strings.Contains(string(svg), "<text") {
			t.Errorf("%s: image %s has text baked in", p.SKU, p.Image)
		}
		drawing := colour.ReplaceAllString(string(svg), "")
		if other, ok := drawnFor[drawing]; ok {
			t.Errorf("%s shows the same picture as %s", p.SKU, other)
		}
		drawnFor[drawing] = p.SKU
	}
}

// TestQuoteIsRateLimited: a quote prices the cart (a cart read, a catalogue
// call, a database read), so one address cannot ask for them without limit:
// of 40 quotes in a burst, nginx answers 429 to those past its burst of 10.
// Not parallel: its sign-up and burst would share the user service's two
// bcrypt slots and its MongoDB with TestLoginBurstIsRateLimited's burst.
func TestQuoteIsRateLimited(t *testing.T) {
	base := startNginx(t, sharedUpstreams(t))
	user := testkit.RegisterUser(t, testkit.SharedUser(t))
	var mu sync.Mutex
	codes := map[int]int{}
	testkit.InParallel(40, func(int) {
		resp, _ := get(t, "GET", base+"/api/payment/checkout/quote", nil, map[string]string{"Authorization": "Bearer " + user})
		mu.Lock()
		codes[resp.StatusCode]++
		mu.Unlock()
	})
	// The cart is empty: a quote that reaches payment answers 422 cart_empty.
	if codes[429] < 25 || codes[422] == 0 || codes[422]+codes[429] != 40 {
		t.Fatalf("statuses %v: want at most 11 quotes through (the burst and one), 429 for the rest", codes)
	}
	t.Logf("40 parallel quotes from one address: %v", codes)
}
