package main

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/roboshop-go/roboshop/testkit"
)

func checkoutBody(number string) map[string]any {
	return map[string]any{
		"card": map[string]any{"number": number, "exp_month": 12, "exp_year": time.Now().Year() + 2, "cvc": "123", "holder": "Ada Lovelace"},
		"shipping_address": map[string]any{"name": "Ada Lovelace", "line1": "1 Analytical Way", "line2": "",
			"city": "London", "postal_code": "NW1 2DB", "country": "gb"},
	}
}

// checkout posts body as a checkout. A map body without expected_total_cents
// gets the total of a fresh quote, as the UI sends what it showed.
func (a *testApp) checkout(t testing.TB, token, key string, body any) (int, []byte, http.Header) {
	t.Helper()
	if m, ok := body.(map[string]any); ok {
		if _, set := m["expected_total_cents"]; !set {
			m["expected_total_cents"] = a.quoteTotal(t, token)
		}
	}
	headers := map[string]string{}
	if key != "" {
		headers["Idempotency-Key"] = key
	}
	w := testkit.Serve(t, a.router, testkit.Request{Method: "POST", Path: "/checkout", Token: token, Body: body, Headers: headers})
	return w.Code, w.Body.Bytes(), w.Header()
}

// quoteTotal is the total GET /checkout/quote answers, 1 when it answers none
// (an empty cart), so that the checkout itself says why.
func (a *testApp) quoteTotal(t testing.TB, token string) int64 {
	t.Helper()
	w := testkit.Serve(t, a.router, testkit.Request{Method: "GET", Path: "/checkout/quote", Token: token})
	if w.Code != 200 {
		return 1
	}
	return testkit.Decode[quoteResponse](t, w.Body.Bytes()).TotalCents
}

func TestJourney(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	guest := testkit.GuestToken(t, app.userURL)
	app.addToCart(t, guest, "DR-004", 2) // Micro Buzz, 5900 each
	app.addToCart(t, guest, "KP-004", 1) // Starter Bot Kit, 4900
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "DR-004", 1)
	merge := testkit.Request{Method: "POST", Path: "/cart/merge", Token: user, Body: map[string]string{"guest_token": guest}}
	if code, _ := postJSON(t, app.cartURL, merge); code != 200 {
		t.Fatalf("merge: %d", code)
	}

	code, body, _ := app.checkout(t, user, "journey-1", checkoutBody("4242 4242 4242 4242"))
	if code != http.StatusCreated {
		t.Fatalf("checkout: %d %s", code, body)
	}
	o := testkit.Decode[orderResponse](t, body).Order
	// 3 x 5900 + 4900 = 22600: over the free-shipping threshold.
	if o.SubtotalCents != 22600 || o.ShippingCents != 0 || o.TotalCents != 22600 || o.Currency != "USD" ||
		len(o.Items) != 2 || o.Payment.Brand != "visa" || o.Payment.Last4 != "4242" || o.ShippingAddress.Country != "GB" {
		t.Fatalf("order = %+v", o)
	}
	if app.cartItems(t, user) != 0 {
		t.Fatal("cart not emptied after the order")
	}
	w := testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/orders", Token: user})
	testkit.ExpectStatus(t, w, 200)
	list := testkit.Decode[ordersResponse](t, w.Body.Bytes())
	if list.Total != 1 || list.Items[0].ID != o.ID || len(list.Items[0].Items) != 2 {
		t.Fatalf("orders = %+v", list)
	}
	w = testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/orders/" + o.ID, Token: user})
	testkit.ExpectStatus(t, w, 200)
	if got := testkit.Decode[orderResponse](t, w.Body.Bytes()).Order; got.TotalCents != o.TotalCents || got.Payment.ID != o.Payment.ID {
		t.Fatalf("order by id = %+v", got)
	}
}

func TestShippingBelowThreshold(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "CB-004", 1) // Chatterbox Parrot, 4900
	code, body, _ := app.checkout(t, user, "ship-1", checkoutBody("4242424242424242"))
	o := testkit.Decode[orderResponse](t, body).Order
	if code != 201 || o.SubtotalCents != 4900 || o.ShippingCents != shippingCents || o.TotalCents != 4900+shippingCents {
		t.Fatalf("%d %+v", code, o)
	}
}

func TestCheckoutRejects(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "KP-003", 1)
	with := func(mod func(card, addr map[string]any)) map[string]any {
		b := checkoutBody("4242424242424242")
		mod(b["card"].(map[string]any), b["shipping_address"].(map[string]any))
		return b
	}
	tests := []struct {
		name   string
		key    string
		body   any
		status int
		code   string
		field  string
	}{
		{"missing key", "", checkoutBody("4242424242424242"), 400, "idempotency_key_required", ""},
		{"key too long", strings.Repeat("k", 256), checkoutBody("4242424242424242"), 400, "idempotency_key_invalid", ""},
		{"declined card", "k-declined", checkoutBody("4000 0000 0000 0002"), 402, "payment_declined", ""},
		{"bad luhn", "k-luhn", checkoutBody("4242424242424241"), 422, "validation_failed", "card.number"},
		{"letters in number", "k-letters", checkoutBody("4242abcd42424242"), 422, "validation_failed", "card.number"},
		{"unknown brand", "k-brand", checkoutBody("9999999999999995"), 422, "validation_failed", "card.number"},
		{"expired", "k-expired", with(func(c, _ map[string]any) { c["exp_year"] = time.Now().Year() - 1 }), 422, "validation_failed", "card.exp_year"},
		{"bad month", "k-month", with(func(c, _ map[string]any) { c["exp_month"] = 13 }), 422, "validation_failed", "card.exp_month"},
		{"short cvc", "k-cvc", with(func(c, _ map[string]any) { c["cvc"] = "12" }), 422, "validation_failed", "card.cvc"},
		{"no holder", "k-holder", with(func(c, _ map[string]any) { c["holder"] = " " }), 422, "validation_failed", "card.holder"},
		{"bad country", "k-country", with(func(_, a map[string]any) { a["country"] = "Narnia" }), 422, "validation_failed", "shipping_address.country"},
		{"no city", "k-city", with(func(_, a map[string]any) { a["city"] = "" }), 422, "validation_failed", "shipping_address.city"},
		{"client price is not accepted", "k-price", with(func(c, _ map[string]any) {}), 422, "validation_failed", "total_cents"},
		{"malformed json", "k-json", `{"card":`, 400, "malformed_json", ""},
		{"no expected total", "k-nototal", with(func(c, _ map[string]any) {}), 422, "validation_failed", "expected_total_cents"},
	}
	tests[12].body.(map[string]any)["total_cents"] = 1
	total := app.quoteTotal(t, user)
	for i, tc := range tests {
		if m, ok := tc.body.(map[string]any); ok && i != len(tests)-1 {
			m["expected_total_cents"] = total
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/checkout", Token: user, Body: tc.body,
				Headers: map[string]string{"Idempotency-Key": tc.key}})
			e := testkit.ExpectError(t, w, tc.status, tc.code)
			if tc.field != "" && e.Error.Fields[tc.field] == "" {
				t.Fatalf("field %s not named: %s", tc.field, w.Body)
			}
		})
	}
	if made, _ := app.gateway.Charges(); made != 0 {
		t.Fatalf("%d charges made by rejected checkouts", made)
	}
	if n := countRows(t, app, "orders"); n != 0 {
		t.Fatalf("%d orders written by rejected checkouts", n)
	}
	t.Run("guest cannot check out", func(t *testing.T) {
		guest := testkit.GuestToken(t, app.userURL)
		code, body, _ := app.checkout(t, guest, "k-guest", checkoutBody("4242424242424242"))
		if code != http.StatusForbidden {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("empty cart", func(t *testing.T) {
		other := testkit.RegisterUser(t, app.userURL)
		code, body, _ := app.checkout(t, other, "k-empty", checkoutBody("4242424242424242"))
		if code != 422 || !strings.Contains(string(body), "cart_empty") {
			t.Fatalf("%d %s", code, body)
		}
	})
}

func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "HH-004", 1)
	sent := checkoutBody("4242424242424242")
	code, first, _ := app.checkout(t, user, "replay-1", sent)
	if code != 201 {
		t.Fatalf("first: %d %s", code, first)
	}
	code, again, h := app.checkout(t, user, "replay-1", sent)
	if code != 201 || string(again) != string(first) || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s (replayed header %q)", code, again, h.Get("Idempotent-Replayed"))
	}
	other := checkoutBody("4242424242424242")
	other["expected_total_cents"] = sent["expected_total_cents"]
	other["shipping_address"].(map[string]any)["city"] = "Paris"
	code, body, _ := app.checkout(t, user, "replay-1", other)
	if code != 422 || !strings.Contains(string(body), "idempotency_key_reused") {
		t.Fatalf("same key, other body: %d %s", code, body)
	}
	// A decline is an answer too: replayed for the same body.
	app.addToCart(t, user, "HH-004", 1)
	declined := checkoutBody("4000000000000002")
	code, _, _ = app.checkout(t, user, "replay-2", declined)
	code2, _, _ := app.checkout(t, user, "replay-2", declined)
	if code != 402 || code2 != 402 {
		t.Fatalf("decline replay: %d then %d", code, code2)
	}
	if made, _ := app.gateway.Charges(); made != 1 || countRows(t, app, "orders") != 1 {
		t.Fatalf("charges %d, orders %d; want 1 and 1", made, countRows(t, app, "orders"))
	}
	// The business counter tells the order from its replays.
	testkit.ExpectMetrics(t, app.router, `roboshop_checkouts_total{outcome="ordered"} 1`,
		`roboshop_checkouts_total{outcome="replayed"} 2`, `roboshop_checkouts_total{outcome="declined"} 1`,
		`roboshop_checkouts_total{outcome="rejected"} 1`)
}

func TestConcurrentDuplicatesChargeOnce(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "IA-006", 2)
	// One body, as a client resending one request sends it: quoted once
	// (a quote after the order would find the cart empty and change the body).
	body := checkoutBody("4242424242424242")
	body["expected_total_cents"] = app.quoteTotal(t, user)
	const n = 20
	codes := make([]int, n)
	testkit.InParallel(n, func(i int) {
		codes[i], _, _ = app.checkout(t, user, "same-key", body)
	})
	created := 0
	for _, c := range codes {
		switch c {
		case 201:
			created++
		case 409:
		default:
			t.Errorf("unexpected status %d", c)
		}
	}
	if created < 1 || countRows(t, app, "orders") != 1 || countRows(t, app, "payments") != 1 {
		t.Fatalf("%d answered 201; %d order rows, %d payment rows; want exactly one order", created,
			countRows(t, app, "orders"), countRows(t, app, "payments"))
	}
	if made, _ := app.gateway.Charges(); made != 1 {
		t.Fatalf("%d charges, want 1", made)
	}
	t.Logf("statuses: %v", codes)
}

func TestCartPriceIsNotTrusted(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "IA-002", 1) // Welder Pro WX, 729900
	// Tamper with the cart's stored price behind the cart service's back.
	sub := subject(t, app, user)
	line := `{"qty":1,"name":"Welder Pro WX","unit_price_cents":1,"added":1}`
	if out, err := exec.Command("redis-cli", "-u", app.redisURL, "HSET", "cart:"+sub, "IA-002", line).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli: %v %s", err, out)
	}
	code, body, _ := app.checkout(t, user, "tamper-1", checkoutBody("4242424242424242"))
	o := testkit.Decode[orderResponse](t, body).Order
	if code != 201 || o.Items[0].UnitPriceCents != 729900 || o.TotalCents != 729900 {
		t.Fatalf("tampered price used: %d %+v", code, o)
	}
}

// TestCartsThePriceCannotCoverAreNotCharged: a cart line written behind the
// cart service's back, one whose product the catalogue no longer sells (one
// it never sold) or 50 of a product with 2 in stock (as a cart whose check
// used an older stock figure could hold), is named in a 422 by the quote and
// by the checkout, which charges nothing; the lines still sold are priced in
// the same one call to the catalogue.
func TestCartsThePriceCannotCoverAreNotCharged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, added, sku, line string
		total                  int64
		code, named            string
	}{
		{"a product no longer sold", "KP-003", "ZZ-999", `{"qty":1,"name":"Discontinued","unit_price_cents":100,"added":1}`,
			1, "validation_failed", "ZZ-999"},
		{"more than the stock", "DR-005", "DR-005", `{"qty":50,"name":"Crop Whisperer","unit_price_cents":499900,"added":1}`,
			50 * 499900, "insufficient_stock", "DR-005: 50 in the cart, 2 in stock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			app := newTestApp(t)
			user := testkit.RegisterUser(t, app.userURL)
			app.addToCart(t, user, tc.added, 1)
			if out, err := exec.Command("redis-cli", "-u", app.redisURL, "HSET", "cart:"+subject(t, app, user), tc.sku, tc.line).CombinedOutput(); err != nil {
				t.Fatalf("redis-cli: %v %s", err, out)
			}
			body := checkoutBody("4242424242424242")
			body["expected_total_cents"] = tc.total
			quote := testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/checkout/quote", Token: user})
			checkout := testkit.Serve(t, app.router, testkit.Request{Method: "POST", Path: "/checkout", Token: user,
				Body: body, Headers: map[string]string{"Idempotency-Key": "refused-1"}})
			for name, w := range map[string]*httptest.ResponseRecorder{"quote": quote, "checkout": checkout} {
				e := testkit.ExpectError(t, w, http.StatusUnprocessableEntity, tc.code)
				if !strings.Contains(e.Error.Fields["cart"], tc.named) {
					t.Errorf("%s: %q is not named: %s", name, tc.named, w.Body)
				}
			}
			if made, _ := app.gateway.Charges(); made != 0 {
				t.Fatalf("%d charges", made)
			}
		})
	}
}

func TestOtherUsersOrdersAreNotFound(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	alice, bob := testkit.RegisterUser(t, app.userURL), testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, alice, "RV-006", 1)
	_, body, _ := app.checkout(t, alice, "a-1", checkoutBody("4242424242424242"))
	id := testkit.Decode[orderResponse](t, body).Order.ID
	for _, path := range []string{"/orders/" + id, "/orders/ord_000000000000000000000000", "/orders/1%20OR%201=1"} {
		w := testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: path, Token: bob})
		testkit.ExpectError(t, w, 404, "order_not_found")
	}
	w := testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/orders", Token: bob})
	if list := testkit.Decode[ordersResponse](t, w.Body.Bytes()); list.Total != 0 || len(list.Items) != 0 {
		t.Fatalf("bob sees %+v", list)
	}
}

func TestOrdersNewestFirstAndPaged(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	user := testkit.RegisterUser(t, app.userURL)
	var ids []string
	for i := 0; i < 3; i++ { // two lines each: a page counts orders, not lines
		app.addToCart(t, user, "KP-001", i+1)
		app.addToCart(t, user, "DR-001", 1)
		code, body, _ := app.checkout(t, user, "page-"+strconv.Itoa(i), checkoutBody("4242424242424242"))
		if code != 201 {
			t.Fatalf("checkout %d: %d %s", i, code, body)
		}
		ids = append(ids, testkit.Decode[orderResponse](t, body).Order.ID)
	}
	// linesOf checks each order's two lines and their quantities (in the
	// cart's order, which for two adds in one millisecond is the SKUs').
	linesOf := func(page ordersResponse, want ...int) {
		t.Helper()
		for n, o := range page.Items {
			qty := map[string]int{}
			for _, l := range o.Items {
				qty[l.SKU] = l.Qty
			}
			if len(o.Items) != 2 || qty["KP-001"] != want[n] || qty["DR-001"] != 1 || o.Payment.Last4 != "4242" {
				t.Fatalf("order %s: lines %+v, payment %+v; want KP-001 × %d and DR-001 × 1", o.ID, o.Items, o.Payment, want[n])
			}
		}
	}
	w := testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/orders?limit=2", Token: user})
	page := testkit.Decode[ordersResponse](t, w.Body.Bytes())
	if page.Total != 3 || len(page.Items) != 2 || page.Items[0].ID != ids[2] || page.Items[1].ID != ids[1] {
		t.Fatalf("first page %+v, want %s then %s", page, ids[2], ids[1])
	}
	linesOf(page, 3, 2)
	w = testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/orders?limit=2&offset=2", Token: user})
	if page = testkit.Decode[ordersResponse](t, w.Body.Bytes()); page.Total != 3 || len(page.Items) != 1 || page.Items[0].ID != ids[0] {
		t.Fatalf("second page %+v", page)
	}
	linesOf(page, 1)
	for _, tc := range []struct {
		token, query string
		total        int
	}{{user, "offset=5", 3}, {testkit.RegisterUser(t, app.userURL), "", 0}} {
		w = testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/orders?" + tc.query, Token: tc.token})
		if page = testkit.Decode[ordersResponse](t, w.Body.Bytes()); page.Total != tc.total || len(page.Items) != 0 {
			t.Fatalf("a page with no orders (%q): %+v, want total %d", tc.query, page, tc.total)
		}
	}
	for _, q := range []string{"limit=0", "limit=51", "offset=-1", "limit=x"} {
		w := testkit.Serve(t, app.router, testkit.Request{Method: "GET", Path: "/orders?" + q, Token: user})
		testkit.ExpectError(t, w, 422, "validation_failed")
	}
}

func TestNoCardNumberStoredOrLogged(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "CB-001", 1)
	if code, body, _ := app.checkout(t, user, "pan-1", checkoutBody("4242424242424242")); code != 201 {
		t.Fatalf("%d %s", code, body)
	}
	app.addToCart(t, user, "CB-001", 1)
	app.checkout(t, user, "pan-2", checkoutBody("4000000000000002"))
	cfg, _ := mysql.ParseDSN(app.dsn)
	host, port, _ := strings.Cut(cfg.Addr, ":")
	dump, err := exec.Command("mariadb-dump", "--no-defaults", "-u"+cfg.User, "-p"+cfg.Passwd, "-h"+host, "-P"+port,
		"--skip-extended-insert", "--no-tablespaces", cfg.DBName).CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb-dump: %v\n%s", err, dump)
	}
	if !strings.Contains(string(dump), "'4242'") {
		t.Fatalf("dump lacks the last4 it should have; is it the right database?\n%s", dump)
	}
	for name, text := range map[string]string{"database dump": string(dump), "logs": app.logs.String()} {
		for _, secret := range []string{"4242424242424242", "4000000000000002", "424242424242", `"cvc"`} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains %q", name, secret)
			}
		}
	}
}

func TestMySQLDownChargesNothing(t *testing.T) {
	t.Parallel()
	db, dsn := testkit.StartMariaDB(t, "payment")
	app := newTestAppWithDSN(t, dsn)
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "DR-002", 1)
	db.Stop()
	code, body, _ := app.checkout(t, user, "down-1", checkoutBody("4242424242424242"))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("checkout with MySQL down: %d %s", code, body)
	}
	if made, _ := app.gateway.Charges(); made != 0 {
		t.Fatalf("%d charges while MySQL was down", made)
	}
	if app.cartItems(t, user) != 1 {
		t.Fatal("cart changed although nothing was ordered")
	}
	db.Start(t)
	if code, body, _ := app.checkout(t, user, "down-1", checkoutBody("4242424242424242")); code != 201 {
		t.Fatalf("retry with the same key after MySQL came back: %d %s", code, body)
	}
}

func TestMigrationsAreIdempotentAndSafeConcurrently(t *testing.T) {
	t.Parallel()
	app := newTestApp(t) // migrated once
	testkit.InParallel(3, func(int) {
		st, err := openMySQLStore(app.dsn, slog.New(slog.NewJSONHandler(io.Discard, nil)), nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer st.Close()
		if err := st.Migrate(context.Background()); err != nil {
			t.Error(err)
		}
	})
	entries, _ := migrations.ReadDir("migrations")
	var applied int
	if err := app.store.db.QueryRow("SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0").Scan(&applied); err != nil || applied != len(entries) {
		t.Fatalf("%d migrations recorded (%v), want %d, each once", applied, err, len(entries))
	}
}

func countRows(t testing.TB, app *testApp, table string) int {
	t.Helper()
	return countIn(t, app.store.db, table)
}

func countIn(t testing.TB, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func postJSON(t testing.TB, base string, req testkit.Request) (int, []byte) {
	t.Helper()
	return testkit.Send(t, base, req)
}

func subject(t testing.TB, app *testApp, token string) string {
	t.Helper()
	return testkit.Subject(t, app.userURL, token)
}

// The drill's failing card gateway (GATEWAY_FAILURE_PERCENT): a checkout
// whose charge fails is a 503 that charges nothing, records no order and
// keeps the cart; the same key succeeds once the gateway answers again. A
// slow gateway (GATEWAY_LATENCY) waits before every call.
func TestFailingGatewayChargesNothingAndReleasesTheCheckout(t *testing.T) {
	t.Parallel()
	dsn := testkit.MariaDBDSN(t)
	var rolls []int
	failing := newTestAppWith(t, dsn, sharedDeps(t), func(sim *simulator) Gateway {
		return faultyGateway{Gateway: sim, failPercent: 50, roll: func() int { r := rolls[0]; rolls = rolls[1:]; return r }}
	})
	user := testkit.RegisterUser(t, failing.userURL)
	failing.addToCart(t, user, "DR-002", 1)

	rolls = []int{49} // under 50: this charge fails
	code, body, hdr := failing.checkout(t, user, "drill-1", checkoutBody("4242424242424242"))
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("checkout through a failing gateway: %d %s", code, body)
	}
	if made, _ := failing.gateway.Charges(); made != 0 || countRows(t, failing, "orders") != 0 || failing.cartItems(t, user) != 1 {
		t.Fatalf("after the failed charge: %d charges, %d orders, %d cart items", made, countRows(t, failing, "orders"), failing.cartItems(t, user))
	}
	rolls = []int{50} // 50 and over: the charge goes through
	if code, body, _ := failing.checkout(t, user, "drill-1", checkoutBody("4242424242424242")); code != http.StatusCreated {
		t.Fatalf("the same key once the gateway answers: %d %s", code, body)
	}
	if made, _ := failing.gateway.Charges(); made != 1 {
		t.Fatalf("%d charges, want 1", made)
	}
}

func TestWithFaults(t *testing.T) {
	sim := newSimulator()
	if gw := withFaults(sim, 0, 0); gw != Gateway(sim) {
		t.Fatal("no faults must leave the gateway as it is")
	}
	slow := withFaults(sim, 30*time.Millisecond, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := slow.Charge(ctx, ChargeRequest{Reference: "r", AmountCents: 100, Card: Card{Number: cardApproved}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a charge that outlives its deadline behind a slow gateway: %v", err)
	}
	if made, _ := sim.Charges(); made != 0 {
		t.Fatalf("%d charges made after the deadline", made)
	}
}
