package frontend

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/roboshop-go/roboshop/testkit"
)

// chromium returns Debian's Chromium, which scripts/deps.sh installs.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: scripts/deps.sh installs Debian's chromium")
	return ""
}

// screenshotDir is where the browser test writes its screenshots:
// $ROBOSHOP_SCREENSHOTS, or .cache/screenshots in the repository.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("ROBOSHOP_SCREENSHOTS")
	if dir == "" {
		dir, _ = filepath.Abs("../.cache/screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
	shot int
}

func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		var page string
		_ = chromedp.Run(b.ctx, chromedp.Text("main", &page, chromedp.ByQuery))
		b.t.Fatalf("%s: %v\npage text: %s", what, err, page)
	}
}

// screenshot saves the page, after checking what every page must get right.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	b.checkPage(name)
	var png []byte
	b.run("screenshot "+name, chromedp.FullScreenshot(&png, 100))
	b.shot++
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shot, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// checkPage fails the test when the page shows a value the code failed to
// fill in ("null", "undefined", "NaN" as words), or when main, which takes
// focus on every page change, draws a focus frame.
func (b *browser) checkPage(name string) {
	b.t.Helper()
	var problems []string
	b.run("check "+name, chromedp.Evaluate(`(() => {
		const out = [];
		const bad = document.body.innerText.match(/\b(null|undefined|NaN)\b/g);
		if (bad) out.push("the page shows " + bad.join(", "));
		const main = document.querySelector("main");
		if (document.activeElement === main && getComputedStyle(main).outlineStyle !== "none")
			out.push("main draws a focus frame (" + getComputedStyle(main).outlineStyle + ")");
		return out;
	})()`, &problems))
	for _, p := range problems {
		b.t.Errorf("page %s: %s", name, p)
	}
}

// Forms are sent with their buttons: form.submit() would skip the page's handlers.

// waitText waits until the element matching sel contains text.
func waitText(sel, text string) chromedp.Action {
	return chromedp.WaitVisible(fmt.Sprintf(`//%s[contains(normalize-space(.), %q)]`, sel, text), chromedp.BySearch)
}

// newBrowser starts Chromium (closed when the test ends) on a page of nginx in
// front of the test binary's shared services.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	return newBrowserAt(t, startNginx(t, sharedUpstreams(t)))
}

// newBrowserAt starts Chromium on a page of the nginx at base.
func newBrowserAt(t *testing.T, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // tests run as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc(); cancel() })
	b := &browser{t: t, ctx: bctx, base: base, dir: screenshotDir(t)}
	t.Logf("screenshots: %s", b.dir)
	return b
}

// TestShopperJourneyInBrowser drives the real UI through nginx and the real
// services in Chromium: browse, search, add two products as a guest, register
// (the guest cart is merged), pay with 4242..., see the order; then a decline.
func TestShopperJourneyInBrowser(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	base := b.base

	b.run("home", chromedp.Navigate(base+"/"), chromedp.WaitVisible(".grid .card", chromedp.ByQuery))
	b.screenshot("home")

	b.run("category", chromedp.Click(`a[href="#/category/drones"]`, chromedp.ByQuery), waitText("h1", "Drones"),
		chromedp.WaitVisible(".grid .card", chromedp.ByQuery))
	b.run("sort by price", chromedp.Evaluate(`(() => { const s = document.querySelector("#sort"); s.value = "price";
		s.dispatchEvent(new Event("change")); })()`, nil),
		chromedp.WaitVisible(`(//ul[@class="grid"]/li)[1]//h3[contains(., "Micro Buzz")]`, chromedp.BySearch))
	b.screenshot("category")

	b.run("search", chromedp.SetValue("#q", "lidar", chromedp.ByQuery), chromedp.Click("#search-form button", chromedp.ByQuery),
		waitText("h1", "lidar"), waitText("h3", "Lidar Puck 360"))
	b.screenshot("search")

	b.run("product", chromedp.Click(`a[href="#/product/KP-002"]`, chromedp.ByQuery), waitText("h1", "Lidar Puck 360"),
		waitText(`nav[@aria-label="Breadcrumb"]//a`, "Parts"),
		chromedp.Click(".product button", chromedp.ByQuery), waitText(`span[@id="cart-count"]`, "1"))
	b.screenshot("product")

	// Opened by its URL, two at once with the quantity picker.
	b.run("second product", chromedp.Navigate(base+"/#/product/DR-004"), waitText("h1", "Micro Buzz"),
		chromedp.SetValue("#qty", "2", chromedp.ByQuery),
		chromedp.Click(".product button", chromedp.ByQuery), waitText(`span[@id="cart-count"]`, "3"))
	b.checkPage("product opened by URL")

	email := strings.ToLower(testkit.UniqueName("browser")) + "@example.com"
	// The test's user service seeds the demo account (SEED_DEMO's default):
	// the page names it as that service answers GET /demo.
	b.run("register", chromedp.Navigate(base+"/#/login"), chromedp.WaitVisible("#register-form", chromedp.ByQuery),
		waitText(`p[@id="demo-hint"]`, "The demo account is demo@roboshop.example / roboshop-demo."),
		chromedp.SendKeys("#register-name", "Grace Hopper", chromedp.ByQuery),
		chromedp.SendKeys("#register-email", email, chromedp.ByQuery),
		chromedp.SendKeys("#register-password", "correct horse", chromedp.ByQuery))
	b.screenshot("login")
	b.run("merged cart", chromedp.Click("#register-form button", chromedp.ByQuery),
		waitText("h1", "Your cart"), waitText("td", "Lidar Puck 360"), waitText("td", "Micro Buzz"),
		waitText(`span[@id="cart-count"]`, "3"))
	b.screenshot("cart")

	b.run("checkout", chromedp.Click(`a[href="#/checkout"]`, chromedp.ByQuery), chromedp.WaitVisible("#checkout-form", chromedp.ByQuery))
	fill := func(card string) chromedp.Tasks {
		return chromedp.Tasks{
			chromedp.SetValue("#line1", "1 Compiler Way", chromedp.ByQuery),
			chromedp.SetValue("#city", "Arlington", chromedp.ByQuery),
			chromedp.SetValue("#postal_code", "22201", chromedp.ByQuery),
			chromedp.SetValue("#holder", "Grace Hopper", chromedp.ByQuery),
			chromedp.SetValue("#number", card, chromedp.ByQuery),
			chromedp.SetValue("#cvc", "123", chromedp.ByQuery),
			chromedp.SetValue("#exp_month", "12", chromedp.ByQuery),
			chromedp.SetValue("#exp_year", fmt.Sprint(time.Now().Year()+2), chromedp.ByQuery),
		}
	}
	b.run("fill checkout", fill("4242 4242 4242 4242"))
	b.screenshot("checkout")
	// The cart changes behind the checkout page (another tab): the total shown
	// is no longer the total, so paying it is refused and the page asks again.
	var added bool
	b.run("cart changes in another tab", chromedp.Evaluate(`fetch("/api/cart/cart/items", {method: "POST",
		headers: {"Authorization": "Bearer " + localStorage.getItem("userToken"), "Content-Type": "application/json"},
		body: JSON.stringify({sku: "CB-001", qty: 1})}).then((r) => r.ok)`, &added, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	if !added {
		t.Fatal("could not add to the cart from the page")
	}
	b.run("price changed", chromedp.Click("#checkout-form button", chromedp.ByQuery),
		waitText(`div[contains(@class, "notice")]`, "The total changed"), waitText("button", "Pay $"))
	b.screenshot("price-changed")
	b.run("pay", chromedp.Click("#checkout-form button", chromedp.ByQuery), waitText("h1", "Thank you"),
		waitText("p", "Paid with Visa ending 4242"), waitText("p", "Status: Paid"), waitText(`span[@id="cart-count"]`, "0"))
	b.screenshot("confirmation")

	b.run("orders", chromedp.Navigate(base+"/#/orders"), chromedp.WaitVisible("#orders tbody tr", chromedp.ByQuery))
	var rows int
	b.run("count orders", chromedp.Evaluate(`document.querySelectorAll("#orders tbody tr").length`, &rows))
	if rows != 1 {
		t.Fatalf("%d orders in history, want 1", rows)
	}
	b.run("order status in the list", waitText(`td[@class="status"]`, "Paid"))
	b.screenshot("orders")
	b.run("an order from the list", chromedp.Click("#orders tbody a", chromedp.ByQuery), waitText("h1", "Order "),
		waitText("p", "Status: Paid"))
	b.checkPage("order from the list")

	b.run("declined", chromedp.Navigate(base+"/#/product/HH-002"), waitText("h1", "MopBot Glide"),
		chromedp.Click(".product button", chromedp.ByQuery), waitText(`span[@id="cart-count"]`, "1"),
		chromedp.Navigate(base+"/#/checkout"), chromedp.WaitVisible("#checkout-form", chromedp.ByQuery),
		fill("4000 0000 0000 0002"), chromedp.Click("#checkout-form button", chromedp.ByQuery),
		waitText(`div[contains(@class, "notice")]`, "declined"))
	b.screenshot("declined")

	b.run("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/#/category/rovers"),
		waitText("h1", "Rovers"), chromedp.WaitVisible(".grid .card", chromedp.ByQuery))
	b.screenshot("phone")
}

// TestNewBrowserPassesTheLoginChallenge: guesses from many addresses keep an
// account in its slow lane (one check a minute here), where a login without a
// device token is refused with a challenge. Its owner, in a browser that never
// signed in, logs in through the page: the page solves the challenge (the
// same SHA-256 the service checks) and the owner lands in the cart, keeping a
// device token for the next time.
func TestNewBrowserPassesTheLoginChallenge(t *testing.T) {
	t.Parallel()
	// A user service of its own for its slow lane, signing as the shared one,
	// so the shared cart takes its tokens.
	user := "http://" + testkit.StartService(t, testkit.UserService, map[string]string{
		"MONGO_URI": testkit.MongoURI(t), "BCRYPT_COST": "10", "SIGNING_KEY": testkit.SigningKey,
		"LOGIN_ACCOUNT_CEILING": "8", "LOGIN_SLOW_INTERVAL": "1m",
	}).Addr()
	u := sharedUpstreams(t)
	u.User = user
	b := newBrowserAt(t, startNginx(t, u))

	email := strings.ToLower(testkit.UniqueName("hammered")) + "@example.com"
	login := func(addr, password string) *http.Response {
		resp, _ := get(t, "POST", user+"/login", strings.NewReader(fmt.Sprintf(`{"email": %q, "password": %q}`, email, password)),
			map[string]string{"X-Real-IP": addr}) // the test is on loopback, which the service trusts as its proxy
		return resp
	}
	if resp, body := get(t, "POST", user+"/register", strings.NewReader(fmt.Sprintf(`{"email": %q, "name": "Ada", "password": "correct horse"}`, email)), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	for i := range 12 { // past the ceiling of 8, from fresh addresses
		login(fmt.Sprintf("198.51.100.%d", 10+i), "wrong-guess")
	}
	if resp := login("203.0.113.5", "correct horse"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Login-Challenge-Salt") == "" {
		t.Fatalf("the right password without a proof: %d %v; want 429 with a challenge", resp.StatusCode, resp.Header)
	}

	started := time.Now()
	b.run("log in", chromedp.Navigate(b.base+"/#/login"), chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#login-email", email, chromedp.ByQuery),
		chromedp.SendKeys("#login-password", "correct horse", chromedp.ByQuery),
		chromedp.Click("#login-form button", chromedp.ByQuery), waitText("h1", "Your cart"))
	t.Logf("logged in past the slow lane in %s (a challenge of 18 bits or more)", time.Since(started).Round(time.Millisecond))
	var device string
	b.run("device token kept", chromedp.Evaluate(fmt.Sprintf(`JSON.parse(localStorage.getItem("devices") || "{}")[%q] || ""`, email), &device))
	if device == "" {
		t.Fatal("no device token kept after the login")
	}
	b.screenshot("login-past-the-slow-lane")
}

// TestKeyboardOnlyShopper finds a product, adds it and opens the cart with the
// keyboard alone, and sees where the focus is at every stop.
func TestKeyboardOnlyShopper(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	b.run("home", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(".grid .card", chromedp.ByQuery))
	b.tabTo(`.grid .card a[href="#/product/CB-002"]`)
	b.run("open the product", chromedp.KeyEvent(kb.Enter), waitText("h1", "PetPal Robo-Dog"))
	b.checkPage("product by keyboard")
	b.tabTo(".product button")
	b.run("add it", chromedp.KeyEvent(kb.Enter), waitText(`span[@id="cart-count"]`, "1"))
	b.tabTo(`a[href="#/cart"]`)
	b.run("open the cart", chromedp.KeyEvent(kb.Enter), waitText("h1", "Your cart"), waitText("td", "PetPal Robo-Dog"))
	b.checkPage("cart by keyboard")
}

// tabTo presses Tab until the element matching sel has the focus (at most 60
// times), and checks that the focus is visible there.
func (b *browser) tabTo(sel string) {
	b.t.Helper()
	for range 60 {
		var there bool
		b.run("tab", chromedp.KeyEvent(kb.Tab), chromedp.Evaluate(fmt.Sprintf(`document.activeElement.matches(%q)`, sel), &there))
		if !there {
			continue
		}
		var outline string
		b.run("focus style", chromedp.Evaluate(`getComputedStyle(document.activeElement).outlineStyle`, &outline))
		if outline == "none" || outline == "" {
			b.t.Errorf("%s has the keyboard focus but shows no outline", sel)
		}
		return
	}
	b.t.Fatalf("Tab never reached %s", sel)
}
