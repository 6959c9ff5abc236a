package main

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/testkit"
)

// drillShop is the whole shop as processes, each service on a datastore of its
// own, so the drill can pause, kill and restart any part.
type drillShop struct {
	userMongo, catalogueMongo, redis, mariadb *testkit.Process
	user, catalogue, cart, payment, gateway   *testkit.Process
	dsn                                       string
}

func startDrillShop(t *testing.T) *drillShop {
	t.Helper()
	s := &drillShop{}
	var userURI, catalogueURI string
	s.userMongo, userURI = testkit.StartMongo(t, "users")
	s.catalogueMongo, catalogueURI = testkit.StartMongo(t, "catalogue")
	s.redis = testkit.Redis(t)
	s.mariadb, s.dsn = testkit.StartMariaDB(t, "payment")
	s.user = testkit.StartService(t, testkit.UserService, map[string]string{"MONGO_URI": userURI, "BCRYPT_COST": "10"})
	s.catalogue = testkit.StartService(t, testkit.CatalogueService, map[string]string{"MONGO_URI": catalogueURI})
	s.cart = testkit.StartService(t, testkit.CartService, map[string]string{"REDIS_URL": "redis://" + s.redis.Addr() + "/0",
		"USER_URL": s.url(s.user), "CATALOGUE_URL": s.url(s.catalogue)})
	s.gateway = testkit.StartCardGateway(t)
	s.payment = testkit.StartService(t, testkit.PaymentService, map[string]string{"MYSQL_DSN": s.dsn,
		"USER_URL": s.url(s.user), "CATALOGUE_URL": s.url(s.catalogue), "CART_URL": s.url(s.cart),
		"GATEWAY_URL": s.url(s.gateway), "CHECKOUT_STALE_AFTER": crashStale})
	return s
}

func (s *drillShop) url(p *testkit.Process) string { return "http://" + p.Addr() }

// drillShopper is one registered shopper's round: what its cart writes added
// (counted for each add answered 200) and how its checkout ended.
type drillShopper struct {
	token    string
	added    map[string]int
	status   int    // the checkout's definitive answer, 0 if none came
	orderID  string // from the 201
	attempts int    // requests sent, retries included
}

// retry sends req until its answer is definitive (not a transport error, a
// 5xx, or a 409 for our own checkout still in progress), at most for 20 s.
func (d *drillShopper) retry(t *testing.T, base string, req testkit.Request) (int, []byte) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		d.attempts++
		code, body, err := testkit.TrySend(t, base, req)
		inProgress := code == http.StatusConflict && strings.Contains(string(body), "checkout_in_progress")
		if err == nil && code < 500 && !inProgress {
			return code, body
		}
		if time.Now().After(deadline) {
			return 0, nil
		}
		time.Sleep(time.Duration(100+rand.IntN(200)) * time.Millisecond)
	}
}

// TestFaultDrill runs shoppers (register, two cart adds, quote, checkout) for
// 30 s while Redis is paused, MariaDB and each MongoDB are killed and
// restarted, payment is stopped with SIGTERM and started again, and then
// killed twice by SIGKILL between a charge and its order's commit (CRASH_AT
// after_charge, then before_commit: the next checkout to get there dies
// there); then it reconciles the gateway's ledger, MariaDB and the carts:
// every 201 has exactly one order and one payment, no order lacks its 201,
// every captured charge is one order's payment, no intent is left open, no
// cart write was applied twice, and every service answers again without
// having been restarted.
func TestFaultDrill(t *testing.T) {
	t.Parallel()
	shop := startDrillShop(t)
	skus := []string{"DR-001", "KP-001", "HH-001", "CB-002", "RV-001", "IA-003"}
	const workers = 6
	loadFor := 30 * time.Second
	start := time.Now()
	stop := start.Add(loadFor)

	var mu sync.Mutex
	var shoppers []*drillShopper
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for round := 0; time.Now().Before(stop) && round < 200; round++ {
				d := &drillShopper{added: map[string]int{}}
				email := fmt.Sprintf("drill-%d-%d-%d@example.com", w, round, start.UnixNano())
				reg := map[string]string{"email": email, "name": "Drill", "password": "drill-password"}
				code, body := d.retry(t, shop.url(shop.user), testkit.Request{Method: "POST", Path: "/register", Body: reg})
				if code == http.StatusConflict { // registered by an attempt answered 503
					delete(reg, "name")
					code, body = d.retry(t, shop.url(shop.user), testkit.Request{Method: "POST", Path: "/login", Body: reg})
				}
				if code != http.StatusCreated && code != http.StatusOK {
					continue // no account, nothing to reconcile
				}
				d.token = testkit.Decode[struct{ Token string }](t, body).Token
				mu.Lock()
				shoppers = append(shoppers, d)
				mu.Unlock()
				// One add without an Idempotency-Key, sent once: a 503 must then
				// mean it was not applied. One with a key, retried until answered.
				qty := 1 + rng.IntN(3)
				sku := skus[3+rng.IntN(3)]
				d.attempts++
				if code, _, _ := testkit.TrySend(t, shop.url(shop.cart), testkit.Request{Method: "POST", Path: "/cart/items",
					Token: d.token, Body: map[string]any{"sku": sku, "qty": qty}}); code == http.StatusOK {
					d.added[sku] += qty
				}
				sku = skus[rng.IntN(3)]
				code, _ = d.retry(t, shop.url(shop.cart), testkit.Request{Method: "POST", Path: "/cart/items", Token: d.token,
					Body: map[string]any{"sku": sku, "qty": qty}, Headers: map[string]string{"Idempotency-Key": "add-1"}})
				if code == http.StatusOK {
					d.added[sku] += qty
				}
				code, body = d.retry(t, shop.url(shop.payment), testkit.Request{Method: "GET", Path: "/checkout/quote", Token: d.token})
				if code != http.StatusOK {
					continue
				}
				order := checkoutBody("4242424242424242")
				order["expected_total_cents"] = testkit.Decode[quoteResponse](t, body).TotalCents
				code, body = d.retry(t, shop.url(shop.payment), testkit.Request{Method: "POST", Path: "/checkout", Token: d.token,
					Body: order, Headers: map[string]string{"Idempotency-Key": "drill-checkout"}})
				d.status = code
				if code == http.StatusCreated {
					d.orderID = testkit.Decode[orderResponse](t, body).Order.ID
				}
			}
		}()
	}

	at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }
	at(3 * time.Second)
	shop.redis.Signal(t, syscall.SIGSTOP)
	at(6 * time.Second)
	shop.redis.Signal(t, syscall.SIGCONT)
	at(8 * time.Second)
	shop.mariadb.Kill()
	at(10 * time.Second)
	shop.mariadb.Start(t)
	at(13 * time.Second)
	shop.userMongo.Kill()
	at(15 * time.Second)
	shop.userMongo.Start(t)
	at(18 * time.Second)
	shop.catalogueMongo.Kill()
	at(20 * time.Second)
	shop.catalogueMongo.Start(t)
	at(23 * time.Second)
	shop.payment.Stop() // SIGTERM: in-flight checkouts finish first
	shop.payment.Start(t)
	// SIGKILL where money has moved and the order is not committed: the next
	// checkout to get there takes payment down with it.
	killed := 0
	for _, point := range []string{crashAfterCharge, crashBeforeCommit} {
		shop.payment.Stop()
		shop.payment.SetEnv("CRASH_AT=" + point)
		// Under this load it may die before Start has seen it listen.
		if err := shop.payment.TryStart(); err != nil || shop.payment.WaitExit(20*time.Second) {
			killed++
		}
		shop.payment.Stop()
		shop.payment.SetEnv("CRASH_AT=")
		shop.payment.Start(t)
	}
	wg.Wait()
	if killed != 2 {
		t.Errorf("payment died at %d of the 2 crash points; no checkout reached the other", killed)
	}

	// Every service answers again; only payment was ever restarted.
	for _, p := range []*testkit.Process{shop.user, shop.catalogue, shop.cart, shop.payment} {
		testkit.WaitReady(t, shop.url(p)+"/readyz", p)
	}

	db, err := sql.Open("mysql", shop.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	created := map[string]*drillShopper{}
	statuses := map[int]int{}
	attempts := 0
	for _, d := range shoppers {
		statuses[d.status]++
		attempts += d.attempts
		if d.status == http.StatusCreated {
			created[d.orderID] = d
		}
	}
	rows, err := db.Query(`SELECT o.id, COUNT(p.id) FROM orders o LEFT JOIN payments p ON p.order_id = o.id GROUP BY o.id`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		var payments int
		if err := rows.Scan(&id, &payments); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
		if payments != 1 {
			t.Errorf("order %s has %d payments", id, payments)
		}
		if created[id] == nil {
			t.Errorf("order %s was recorded but no checkout was answered 201 for it", id)
		}
	}
	rows.Close()
	var orphanPayments int
	if err := db.QueryRow(`SELECT COUNT(*) FROM payments p LEFT JOIN orders o ON o.id = p.order_id WHERE o.id IS NULL`).Scan(&orphanPayments); err != nil || orphanPayments != 0 {
		t.Errorf("%d payments without an order (%v)", orphanPayments, err)
	}
	for id := range created {
		if !stored[id] {
			t.Errorf("checkout answered 201 with order %s, which is not in the database", id)
		}
	}

	// The gateway's ledger against MariaDB: once the reconciler has resolved
	// the killed checkouts' intents, every captured charge is one order's
	// payment and every payment a captured charge.
	var money ledgerReconciliation
	for waited := 0; ; waited++ {
		if money = reconcileMoney(t, db, shop.gateway); money.openIntents == 0 || waited == 60 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, p := range money.problems {
		t.Error(p)
	}
	if money.orders != len(stored) || money.captured != money.orders {
		t.Errorf("%d captured charges for %d orders", money.captured, money.orders)
	}

	// Every order's cart is settled (payment retries in the background for
	// up to settleRetryFor, its waits doubling to 8 s: a settle that failed
	// late in the drill may take that long on a loaded machine).
	polls := int(settleRetryFor/(500*time.Millisecond)) + 20
	for waited := 0; ; waited++ {
		var claims int
		if err := db.QueryRow("SELECT COUNT(*) FROM cart_claims").Scan(&claims); err != nil {
			t.Fatal(err)
		}
		if claims == 0 {
			break
		}
		if waited == polls {
			t.Fatalf("%d carts still claimed %s after the drill", claims, time.Duration(polls)*500*time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// No cart write applied twice: what each shopper's adds put in (once per
	// key answered 200) is what its order holds plus what its cart still holds.
	for i, d := range shoppers {
		ordered := map[string]int{}
		if d.orderID != "" {
			lines, err := db.Query("SELECT sku, qty FROM order_lines WHERE order_id = ?", d.orderID)
			if err != nil {
				t.Fatal(err)
			}
			for lines.Next() {
				var sku string
				var qty int
				_ = lines.Scan(&sku, &qty)
				ordered[sku] += qty
			}
			lines.Close()
		}
		code, body := d.retry(t, shop.url(shop.cart), testkit.Request{Method: "GET", Path: "/cart", Token: d.token})
		if code != http.StatusOK {
			t.Fatalf("shopper %d: cart %d", i, code)
		}
		for _, l := range testkit.Decode[struct{ Items []cartLine }](t, body).Items {
			ordered[l.SKU] += l.Qty
		}
		for sku := range merge(ordered, d.added) {
			if ordered[sku] != d.added[sku] {
				t.Errorf("shopper %d, %s: adds answered 200 put in %d; order and cart hold %d", i, sku, d.added[sku], ordered[sku])
			}
		}
	}
	if len(created) == 0 {
		t.Fatal("no checkout succeeded during the drill")
	}
	t.Logf("%d shoppers in %s, %d requests with retries; checkout answers %v; %d orders recorded; payment SIGKILLed %d times mid-checkout; ledger: %d captured, %d refunded, %d declined; intents %v",
		len(shoppers), loadFor, attempts, statuses, len(stored), killed, money.captured, money.refunded, money.declined, money.intents)
}

func merge(a, b map[string]int) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}
