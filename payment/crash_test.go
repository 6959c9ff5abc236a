package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/testkit"
)

// crashStale is the tests' CHECKOUT_STALE_AFTER: short, so that a dead
// checkout's key, claim and intent are taken over within seconds, and long
// enough that a live checkout on a busy machine never counts as dead.
const crashStale = "8s"

// crashShop is payment as a process of its own on a database of its own, the
// card gateway stand-in beside it (it outlives payment), and the shared user,
// catalogue and cart services.
type crashShop struct {
	deps
	gateway *testkit.Process
	dsn     string
}

func newCrashShop(t *testing.T) *crashShop {
	t.Helper()
	return &crashShop{deps: sharedDeps(t), gateway: testkit.StartCardGateway(t), dsn: testkit.MariaDBDSN(t)}
}

// shopper registers a shopper whose cart holds lines (SKU, quantity pairs).
func (s *crashShop) shopper(t *testing.T, lines ...any) string {
	t.Helper()
	user := testkit.RegisterUser(t, s.userURL)
	app := &testApp{deps: s.deps}
	for i := 0; i+1 < len(lines); i += 2 {
		app.addToCart(t, user, lines[i].(string), lines[i+1].(int))
	}
	return user
}

// quotedCheckout is a checkout body for the total payment at base quotes.
func quotedCheckout(t *testing.T, base, user string) map[string]any {
	t.Helper()
	code, quote := testkit.Send(t, base, testkit.Request{Method: "GET", Path: "/checkout/quote", Token: user})
	if code != http.StatusOK {
		t.Fatalf("quote: %d %s", code, quote)
	}
	body := checkoutBody("4242424242424242")
	body["expected_total_cents"] = testkit.Decode[quoteResponse](t, quote).TotalCents
	return body
}

// checkoutDies sends a checkout that must get no answer: payment dies during it.
func checkoutDies(t *testing.T, base, user, key string, body map[string]any) {
	t.Helper()
	code, resp, err := testkit.TrySend(t, base, testkit.Request{Method: "POST", Path: "/checkout", Token: user,
		Body: body, Headers: map[string]string{"Idempotency-Key": key}})
	if err == nil {
		t.Fatalf("payment answered %d %s instead of dying", code, resp)
	}
}

// checkoutDiedAt has user's checkout (key "first") kill payment at point,
// then starts payment again: its URL, and the checkout's body for a retry.
func (s *crashShop) checkoutDiedAt(t *testing.T, point, user string) (again string, body map[string]any) {
	t.Helper()
	crashing := s.payment(t, point)
	body = quotedCheckout(t, crashing, user)
	checkoutDies(t, crashing, user, "first", body)
	return s.payment(t, ""), body
}

// payment starts a payment process, made to die at crashAt ("" for never).
func (s *crashShop) payment(t *testing.T, crashAt string) string {
	t.Helper()
	env := map[string]string{"MYSQL_DSN": s.dsn, "USER_URL": s.userURL, "CATALOGUE_URL": s.catalogueURL,
		"CART_URL": s.cartURL, "GATEWAY_URL": "http://" + s.gateway.Addr(), "CHECKOUT_STALE_AFTER": crashStale}
	if crashAt != "" {
		env["CRASH_AT"] = crashAt
	}
	return "http://" + testkit.StartService(t, testkit.PaymentService, env).Addr()
}

// checkoutUntilAnswered retries a checkout with key the way the UI and the
// load generator do, until its answer is definitive: not a transport error,
// not a 5xx, not a 409 for a checkout still in progress (at most 60 s).
func checkoutUntilAnswered(t *testing.T, base, token, key string, body map[string]any) (int, []byte) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, resp, err := testkit.TrySend(t, base, testkit.Request{Method: "POST", Path: "/checkout", Token: token,
			Body: body, Headers: map[string]string{"Idempotency-Key": key}})
		inProgress := code == http.StatusConflict && strings.Contains(string(resp), "checkout_in_progress")
		if err == nil && code < 500 && !inProgress {
			return code, resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkout with key %s: no definitive answer within 60 s (last %d %s %v)", key, code, resp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ledgerReconciliation is what the gateway, MariaDB and the cart hold after a
// checkout, read back from each.
type ledgerReconciliation struct {
	captured, refunded, declined int // the gateway's ledger
	orders, payments             int // MariaDB
	openIntents, claims          int
	intents                      map[string]int // by state
	cartLines                    int
	problems                     []string
}

// reconcileLedger is reconcileMoney, and the shopper's cart.
func reconcileLedger(t *testing.T, s *crashShop, token string) ledgerReconciliation {
	t.Helper()
	r := reconcileMoney(t, openDB(t, s.dsn), s.gateway)
	r.cartLines = len(testkit.Decode[struct{ Items []cartLine }](t, getCart(t, s.cartURL, token)).Items)
	return r
}

// reconcileMoney reads the gateway's ledger and MariaDB and checks the
// invariants of money: every captured charge is one order's payment (same id
// and amount), every payment a captured charge, every refunded charge a
// refunded intent; no intent left open.
func reconcileMoney(t *testing.T, db *sql.DB, gateway *testkit.Process) ledgerReconciliation {
	t.Helper()
	r := ledgerReconciliation{intents: map[string]int{}}
	fail := func(format string, args ...any) { r.problems = append(r.problems, fmt.Sprintf(format, args...)) }
	payments := map[string]int64{}
	rows, err := db.Query("SELECT p.id, p.amount_cents FROM payments p JOIN orders o ON o.id = p.order_id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var amount int64
		if err := rows.Scan(&id, &amount); err != nil {
			t.Fatal(err)
		}
		payments[id] = amount
	}
	rows.Close()
	refundedIntents := map[string]bool{}
	rows, err = db.Query("SELECT state, COALESCE(charge_id, '') FROM charge_intents")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var state, charge string
		if err := rows.Scan(&state, &charge); err != nil {
			t.Fatal(err)
		}
		r.intents[state]++
		if state == intentRefunded {
			refundedIntents[charge] = true
		}
		if state == intentPending || state == intentRefunding {
			r.openIntents++
		}
	}
	rows.Close()
	r.orders, r.claims = countIn(t, db, "orders"), countIn(t, db, "cart_claims")
	r.payments = len(payments)
	for _, c := range testkit.Ledger(t, gateway) {
		switch c.Status {
		case chargeCaptured:
			r.captured++
			if amount, ok := payments[c.ID]; !ok {
				fail("charge %s is captured but no order's payment", c)
			} else if amount != c.AmountCents {
				fail("charge %s: its order's payment is %d cents", c, amount)
			}
			delete(payments, c.ID)
		case chargeRefunded:
			r.refunded++
			if !refundedIntents[c.ID] {
				fail("charge %s is refunded but no intent says so", c)
			}
		case chargeDeclined:
			r.declined++
		}
	}
	for id := range payments {
		fail("payment %s has no captured charge in the gateway's ledger", id)
	}
	if r.openIntents > 0 {
		fail("%d intents still open", r.openIntents)
	}
	return r
}

func getCart(t *testing.T, cartURL, token string) []byte {
	t.Helper()
	code, body := testkit.Send(t, cartURL, testkit.Request{Method: "GET", Path: "/cart", Token: token})
	if code != http.StatusOK {
		t.Fatalf("cart: %d %s", code, body)
	}
	return body
}

// TestCrashAtEveryStepChargesOnce: payment is killed (SIGKILL, no deferred
// call) at each step of the checkout, started again, and the shopper retries
// the way the UI and the load generator do (the same key, or a new one, until
// answered). Whatever the step, the gateway's ledger, MariaDB and the cart
// then agree: exactly one captured charge, and it is the one order's
// payment; no second charge, no charge without its order or its refund, no
// intent left open, the cart settled once (empty) and no claim left.
func TestCrashAtEveryStepChargesOnce(t *testing.T) {
	t.Parallel()
	// What the retry is answered, by step: before the charge nothing was
	// bought, so the retry buys; from the charge on, the order stands: the
	// same key replays it, a new key finds the cart settled.
	charged := map[string]bool{crashAfterCharge: true, crashBeforeCommit: true, crashAfterCommit: true, crashBeforeSettle: true}
	for _, point := range crashPoints {
		for _, sameKey := range []bool{true, false} {
			name := point + "/new key"
			if sameKey {
				name = point + "/same key"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := newCrashShop(t)
				user := s.shopper(t, "DR-001", 1, "KP-002", 2)
				again, body := s.checkoutDiedAt(t, point, user)
				key := "retry"
				if sameKey {
					key = "first"
				}
				code, resp := checkoutUntilAnswered(t, again, user, key, body)
				switch {
				case !charged[point] && code == http.StatusCreated:
				case charged[point] && sameKey && code == http.StatusCreated && strings.Contains(string(resp), `"status":"paid"`):
				case charged[point] && !sameKey && code == http.StatusUnprocessableEntity && strings.Contains(string(resp), "cart_empty"):
				default:
					t.Fatalf("retry with key %q after a crash at %s: %d %s", key, point, code, resp)
				}
				// A quote settles an order whose cart was not settled yet.
				if code, quote := testkit.Send(t, again, testkit.Request{Method: "GET", Path: "/checkout/quote", Token: user}); code != http.StatusUnprocessableEntity {
					t.Fatalf("quote after the order: %d %s, want 422 cart_empty", code, quote)
				}
				r := reconcileLedger(t, s, user)
				t.Logf("%s: charges captured %d, refunded %d; orders %d, payments %d; intents %v; claims %d; cart lines %d",
					name, r.captured, r.refunded, r.orders, r.payments, r.intents, r.claims, r.cartLines)
				for _, p := range r.problems {
					t.Error(p)
				}
				if r.captured != 1 || r.orders != 1 || r.payments != 1 || r.claims != 0 || r.cartLines != 0 {
					t.Errorf("want one captured charge, one order and its payment, no claim, an empty cart")
				}
				if code == http.StatusCreated {
					id := testkit.Decode[orderResponse](t, resp).Order.ID
					if code, _ := testkit.Send(t, again, testkit.Request{Method: "GET", Path: "/orders/" + id, Token: user}); code != http.StatusOK {
						t.Errorf("the order answered 201, %s, is not the shopper's: %d", id, code)
					}
				}
			})
		}
	}
}

// TestReplayAfterTheReconcilerSettlesTheCart: payment dies after the charge
// and, before the shopper retries, the reconciler records the order from the
// intent (it holds no shopper's token, so the cart stays unsettled and the
// claim ordered). The retry with the same key is answered the order (201,
// replayed) and settles the cart then: no claim is left waiting for a next
// quote or checkout that may never come.
func TestReplayAfterTheReconcilerSettlesTheCart(t *testing.T) {
	t.Parallel()
	s := newCrashShop(t)
	user := s.shopper(t, "DR-001", 1, "KP-002", 2)
	again, body := s.checkoutDiedAt(t, crashAfterCharge, user)
	db := openDB(t, s.dsn)
	deadline := time.Now().Add(40 * time.Second)
	for {
		var state string
		if err := db.QueryRow("SELECT state FROM charge_intents").Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == intentOrdered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reconciler did not record the order within 40 s (intent %s)", state)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := reconcileLedger(t, s, user); r.claims != 1 || r.cartLines != 2 {
		t.Fatalf("before the retry: %d claims, %d cart lines; want the claim ordered and the cart as it was", r.claims, r.cartLines)
	}
	code, resp, err := testkit.TrySend(t, again, testkit.Request{Method: "POST", Path: "/checkout", Token: user,
		Body: body, Headers: map[string]string{"Idempotency-Key": "first"}})
	if err != nil || code != http.StatusCreated || !strings.Contains(string(resp), `"status":"paid"`) {
		t.Fatalf("the retry: %d %s %v, want the order replayed", code, resp, err)
	}
	r := reconcileLedger(t, s, user)
	for _, p := range r.problems {
		t.Error(p)
	}
	if r.captured != 1 || r.orders != 1 || r.claims != 0 || r.cartLines != 0 {
		t.Fatalf("after the replay: %d captured, %d orders, %d claims, %d cart lines; want 1, 1, 0, 0", r.captured, r.orders, r.claims, r.cartLines)
	}
}

// failingRefunds is a gateway whose first refunds fail, as a processor's
// outage would, and which can hold a charge until the test lets it go.
type failingRefunds struct {
	*holdingGateway
	mu       sync.Mutex
	failures int // refunds still to fail
}

func (g *failingRefunds) Refund(ctx context.Context, chargeID string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failures > 0 {
		g.failures--
		return errors.New("gateway unavailable for refunds")
	}
	return g.simulator.Refund(ctx, chargeID)
}

// TestRefundThatFailsIsRetriedUntilItSucceeds: a charge whose order can no
// longer be recorded (its cart claim is gone by the time it returns) is
// refunded; the gateway fails the first two refunds, each is recorded on the
// intent, counted and logged, and the reconciler's passes retry until the
// money is back. No order, and the key is free for a new try.
func TestRefundThatFailsIsRetriedUntilItSucceeds(t *testing.T) {
	t.Parallel()
	gw := &failingRefunds{failures: 2, holdingGateway: &holdingGateway{charging: make(chan struct{}), proceed: make(chan struct{})}}
	app := newTestAppWith(t, testkit.MariaDBDSN(t), sharedDeps(t), func(s *simulator) Gateway {
		gw.simulator = s
		return gw
	})
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "RV-002", 1)
	body := checkoutBody("4242424242424242")
	body["expected_total_cents"] = app.quoteTotal(t, user)
	done := app.checkoutHeld(t, gw.charging, user, "refund-1", body)
	db := openDB(t, app.dsn)
	if _, err := db.Exec("DELETE FROM cart_claims"); err != nil { // the cart is no longer this checkout's
		t.Fatal(err)
	}
	close(gw.proceed)
	if code := <-done; code != http.StatusConflict {
		t.Fatalf("checkout whose claim was lost: %d, want 409", code)
	}
	intentRow := func() (state string, attempts int, lastError string) {
		var le sql.NullString
		if err := db.QueryRow("SELECT state, refund_attempts, last_error FROM charge_intents").Scan(&state, &attempts, &le); err != nil {
			t.Fatal(err)
		}
		return state, attempts, le.String
	}
	if state, attempts, lastError := intentRow(); state != intentRefunding || attempts != 1 || !strings.Contains(lastError, "unavailable for refunds") {
		t.Fatalf("after the checkout: intent %s, %d refund attempts (%q); want refunding, 1", state, attempts, lastError)
	}
	for pass := 1; pass <= 2; pass++ {
		outcomes, _ := app.co.reconcileOnce(testkit.Context(t))
		t.Logf("reconciliation pass %d: %v", pass, outcomes)
	}
	state, attempts, _ := intentRow()
	made, refunded := app.gateway.Charges()
	if state != intentRefunded || attempts != 2 || made != 1 || refunded != 1 || countRows(t, app, "orders") != 0 {
		t.Fatalf("intent %s after %d failed refunds; %d charges, %d refunded, %d orders; want refunded, 2, 1, 1, 0",
			state, attempts, made, refunded, countRows(t, app, "orders"))
	}
	if n := strings.Count(app.logs.String(), "refund failed; it stays due"); n != 2 {
		t.Errorf("%d refund failures logged, want 2", n)
	}
	testkit.ExpectMetrics(t, app.router,
		`roboshop_charge_intents_resolved_total{outcome="refund_failed"} 2`,
		`roboshop_charge_intents_resolved_total{outcome="refunded"} 1`,
		`roboshop_charge_intents_open{state="refunding"} 0`)
	// Nothing was bought: the same key starts a new checkout, which goes through.
	gw.charging = nil
	if code, resp, _ := app.checkout(t, user, "refund-1", body); code != http.StatusCreated {
		t.Fatalf("the same key after the refund: %d %s", code, resp)
	}
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestTwoReplicasResolveADeadCheckoutOnce: payment dies after the charge;
// two replicas start on its database, and while both reconcilers run, the
// shopper sends ten checkouts with new keys, five to each. The dead
// checkout's intent is resolved exactly once (one order, counted once over
// both replicas), nothing else is charged, every new key finds the cart
// settled.
func TestTwoReplicasResolveADeadCheckoutOnce(t *testing.T) {
	t.Parallel()
	s := newCrashShop(t)
	user := s.shopper(t, "HH-001", 1)
	crashing := s.payment(t, crashAfterCharge)
	body := quotedCheckout(t, crashing, user)
	checkoutDies(t, crashing, user, "dies", body)
	replicas := []string{s.payment(t, ""), s.payment(t, "")}
	codes := make([]int, 10)
	testkit.InParallel(len(codes), func(i int) {
		codes[i], _ = checkoutUntilAnswered(t, replicas[i%2], user, fmt.Sprintf("new-%d", i), body)
	})
	for i, c := range codes {
		if c != http.StatusUnprocessableEntity {
			t.Errorf("checkout %d with a new key: %d, want 422 cart_empty", i, c)
		}
	}
	testkit.Send(t, replicas[0], testkit.Request{Method: "GET", Path: "/checkout/quote", Token: user})
	r := reconcileLedger(t, s, user)
	for _, p := range r.problems {
		t.Error(p)
	}
	resolved := 0
	for _, base := range replicas {
		_, metrics := testkit.Send(t, base, testkit.Request{Method: "GET", Path: "/metrics"})
		for _, line := range strings.Split(string(metrics), "\n") {
			if v, ok := strings.CutPrefix(line, `roboshop_charge_intents_resolved_total{outcome="ordered"} `); ok {
				n, _ := strconv.Atoi(v)
				resolved += n
			}
		}
	}
	t.Logf("charges captured %d, orders %d, intents %v, resolved as ordered %d time(s) over both replicas", r.captured, r.orders, r.intents, resolved)
	if r.captured != 1 || r.orders != 1 || r.intents[intentOrdered] != 1 || len(r.intents) != 1 || resolved != 1 || r.cartLines != 0 {
		t.Fatalf("want one charge, one order, one intent resolved once, an empty cart")
	}
}

// TestKilledWhileTheOrderWaitsForALockChargesOnce is the report that started
// the charge intents, replayed as it was made: MariaDB holds
// `LOCK TABLES payments WRITE`, so the order transaction waits after the card
// was charged; payment is killed from outside with SIGKILL there and started
// again. Before, the charge stayed without its order and a new key charged the
// cart again. Now the same key gets the order, paid by that one charge, a new
// key finds the cart settled, and nothing was charged twice or refunded.
func TestKilledWhileTheOrderWaitsForALockChargesOnce(t *testing.T) {
	t.Parallel()
	s := newCrashShop(t)
	user := s.shopper(t, "DR-001", 1)
	env := map[string]string{"MYSQL_DSN": s.dsn, "USER_URL": s.userURL, "CATALOGUE_URL": s.catalogueURL,
		"CART_URL": s.cartURL, "GATEWAY_URL": "http://" + s.gateway.Addr()} // the default minute: 10 s to record the order
	first := testkit.StartService(t, testkit.PaymentService, env)
	base := "http://" + first.Addr()
	body := quotedCheckout(t, base, user)

	lock, err := openDB(t, s.dsn).Conn(testkit.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(testkit.Context(t), "LOCK TABLES payments WRITE"); err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() {
		_, _, err := testkit.TrySend(t, base, testkit.Request{Method: "POST", Path: "/checkout", Token: user,
			Body: body, Headers: map[string]string{"Idempotency-Key": "K1"}})
		answered <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(testkit.Ledger(t, s.gateway)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no charge reached the gateway within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.Kill() // the order transaction is waiting for the lock
	if err := <-answered; err == nil {
		t.Fatal("the checkout was answered although payment was killed before its order could be written")
	}
	if _, err := lock.ExecContext(testkit.Context(t), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	if n := countIn(t, openDB(t, s.dsn), "orders"); n != 0 {
		t.Fatalf("%d orders after the kill; the transaction should have died with payment", n)
	}

	env["CHECKOUT_STALE_AFTER"] = crashStale
	again := "http://" + testkit.StartService(t, testkit.PaymentService, env).Addr()
	code, resp := checkoutUntilAnswered(t, again, user, "K2", body)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(resp), "cart_empty") {
		t.Fatalf("a new key after the kill: %d %s, want 422 cart_empty (the order recorded from its intent, its cart settled)", code, resp)
	}
	code, resp = checkoutUntilAnswered(t, again, user, "K1", body)
	if code != http.StatusCreated {
		t.Fatalf("the first key after the kill: %d %s, want its order", code, resp)
	}
	r := reconcileLedger(t, s, user)
	for _, p := range r.problems {
		t.Error(p)
	}
	t.Logf("charges captured %d, refunded %d; orders %d; intents %v; cart lines %d", r.captured, r.refunded, r.orders, r.intents, r.cartLines)
	if r.captured != 1 || r.refunded != 0 || r.orders != 1 || r.cartLines != 0 {
		t.Fatal("want one charge, its order, nothing refunded, the cart settled")
	}
}

// TestDatabaseGoneAfterTheChargeRecordsTheOrderLater: MariaDB stops while a
// charged checkout writes its order, so the commit's outcome cannot be known;
// the checkout answers 503 and leaves its intent pending (no refund, no
// release). Once MariaDB is back and the intent is stale, a reconciliation
// pass records the order from the intent, and the same key replays it.
func TestDatabaseGoneAfterTheChargeRecordsTheOrderLater(t *testing.T) {
	t.Parallel()
	db, dsn := testkit.StartMariaDB(t, "payment")
	hold := &holdingGateway{charging: make(chan struct{}), proceed: make(chan struct{})}
	app := newTestAppWith(t, dsn, sharedDeps(t), func(s *simulator) Gateway {
		hold.simulator = s
		return hold
	})
	app.co.timing = timingFor(4 * time.Second)
	user := testkit.RegisterUser(t, app.userURL)
	app.addToCart(t, user, "CB-001", 1)
	body := checkoutBody("4242424242424242")
	body["expected_total_cents"] = app.quoteTotal(t, user)
	done := app.checkoutHeld(t, hold.charging, user, "gone-1", body)
	db.Stop()
	close(hold.proceed)
	if code := <-done; code != http.StatusServiceUnavailable {
		t.Fatalf("checkout with MariaDB gone after the charge: %d, want 503", code)
	}
	db.Start(t)
	hold.charging = nil
	time.Sleep(app.co.Stale) // until the intent counts as dead
	outcomes, err := app.co.reconcileOnce(testkit.Context(t))
	if err != nil || outcomes[resolvedOrdered] != 1 {
		t.Fatalf("reconciliation: %v %v; want the order recorded", outcomes, err)
	}
	code, resp, h := app.checkout(t, user, "gone-1", body)
	if code != http.StatusCreated || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the same key after the reconciliation: %d %s", code, resp)
	}
	if made, refunded := app.gateway.Charges(); made != 1 || refunded != 0 || countRows(t, app, "orders") != 1 {
		t.Fatalf("%d charges, %d refunded, %d orders; want 1, 0, 1", made, refunded, countRows(t, app, "orders"))
	}
}
