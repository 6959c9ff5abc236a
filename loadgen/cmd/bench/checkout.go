package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/roboshop-go/roboshop/kit/loadreport"
	"github.com/roboshop-go/roboshop/topology"
)

// checkoutRun is the buyer's path under load and what it costs.
type checkoutRun struct {
	rep       loadreport.Report
	signUp    time.Duration
	orders    int64
	perSecond float64
	cpuPerOrd map[string]time.Duration // per part (services, datastores, nginx, loadgen) and the whole machine
	peakRSS   map[string]int           // KiB, per service
	profiles  map[string]string        // payment and cart
	dbCeiling dbCeiling
	hashing   hashing
	pool      map[string]float64 // payment's MySQL pool over the measured part: poolCounters
	// trips are the datastores' requests per order over the measured part:
	// exact counts, where CPU per order is noisy.
	trips map[string]float64
}

// poolCounters are payment's MySQL pool counters the report gives, as deltas
// over the measured part: connections opened and closed again is churn, and
// waits are checkouts queued for a connection.
var poolCounters = []string{"go_sql_max_idle_closed_total", "go_sql_max_lifetime_closed_total", "go_sql_wait_count_total", "go_sql_wait_duration_seconds_total"}

// metricValues reads the named unlabelled-or-single-series counters from a
// service's /metrics.
func (s *stack) metricValues(svc string, names []string) map[string]float64 {
	out := map[string]float64{}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + s.addr(svc) + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		if ok && slices.Contains(names, name) {
			out[name], _ = strconv.ParseFloat(strings.TrimSpace(value), 64)
		}
	}
	return out
}

// checkoutParts are the processes whose CPU per order the report gives, then
// the machine as a whole.
var checkoutParts = append(append([]string{}, services...), "payment-mysql", "cart-redis", topology.FrontendPart, "loadgen", "machine")

// checkoutPhase runs the checkout journey (guest token, three adds, merge,
// quote, checkout, orders) with vus virtual users, each playing shoppers
// shoppers in turn, each from its own address and signed up before the clock
// starts (bcrypt at the service's cost), while profiling payment and cart.
func (s *stack) checkoutPhase(ctx context.Context, d time.Duration, vus, shoppers int, extra ...string) (checkoutRun, error) {
	const warmup = 10 * time.Second
	// The CPU clock and the profiles start when the measured part does: after
	// the sign-up and the warm-up.
	cpu0 := map[string]time.Duration{}
	var trips0, trips1 map[string]float64 // datastoreRequests
	var pool0, pool1 map[string]float64
	var signedUpAt time.Time
	var mu sync.Mutex
	var wg sync.WaitGroup
	profiles := map[string]string{}
	onLine := func(loadgen int, line string) {
		if e, ok := loadreport.ParseEvent(line); !ok || e.Event != loadreport.RunStarted {
			return
		}
		signedUpAt = time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(warmup):
			}
			for _, p := range checkoutParts {
				cpu0[p] = s.partCPU(p, loadgen)
			}
			trips0 = s.datastoreRequests(ctx)
			for _, svc := range rssParts {
				resetPeakRSS(s.pid(svc))
			}
			pool0 = s.metricValues("payment", poolCounters)
			for _, svc := range []string{"payment", "cart"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					top := s.cpuProfile(ctx, svc, d-warmup)
					mu.Lock()
					profiles[svc] = top
					mu.Unlock()
				}()
			}
		}()
	}
	cpu1 := map[string]time.Duration{}
	onEnd := func(loadgen int) {
		for _, p := range checkoutParts {
			cpu1[p] = s.partCPU(p, loadgen)
		}
		trips1 = s.datastoreRequests(ctx)
		pool1 = s.metricValues("payment", poolCounters)
	}
	start := time.Now()
	rep, err := s.loadWatching(ctx, "http://"+s.addr(topology.FrontendPart), d, warmup, vus, func(pid int, line string) {
		onLine(pid, line)
		if strings.HasPrefix(line, "run over") {
			onEnd(pid)
		}
	}, append([]string{"-mix", "checkout=1", "-ramp-up", "5s", "-shoppers", strconv.Itoa(shoppers)}, extra...)...)
	wg.Wait()
	if err != nil {
		return checkoutRun{}, err
	}
	r := checkoutRun{rep: rep, signUp: signedUpAt.Sub(start), cpuPerOrd: map[string]time.Duration{},
		peakRSS: map[string]int{}, profiles: profiles, pool: map[string]float64{}, trips: map[string]float64{}}
	for _, name := range poolCounters {
		r.pool[name] = pool1[name] - pool0[name]
	}
	for _, st := range rep.Steps {
		if st.Name == "checkout/checkout" {
			r.orders = st.Count - st.Errors - st.Expected
		}
	}
	r.perSecond = float64(r.orders) / rep.MeasuredSeconds
	for name, n := range trips1 {
		if r.orders > 0 && trips0 != nil {
			r.trips[name] = (n - trips0[name] - 1) / float64(r.orders) // less the counter's own reading
		}
	}
	for _, p := range checkoutParts {
		if r.orders > 0 {
			r.cpuPerOrd[p] = (cpu1[p] - cpu0[p]) / time.Duration(r.orders)
		}
	}
	for _, svc := range rssParts {
		_, _, r.peakRSS[svc] = procStat(s.pid(svc))
	}
	return r, nil
}

// datastoreRequests reads how many statements MariaDB and commands Redis
// have served so far (each reading counts itself once).
func (s *stack) datastoreRequests(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = benchSecrets.MySQLUser, benchSecrets.MySQLPassword, "tcp", s.addr("payment-mysql"), "payment"
	if db, err := sql.Open("mysql", cfg.FormatDSN()); err == nil {
		var name string
		var n float64
		if db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &n) == nil {
			out[tripsMariaDB] = n
		}
		db.Close()
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	if conn, err := d.DialContext(ctx, "tcp", s.addr("cart-redis")); err == nil {
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write([]byte("INFO stats\r\n")); err == nil {
			raw, _ := io.ReadAll(io.LimitReader(conn, 64<<10))
			for _, line := range strings.Split(string(raw), "\r\n") {
				if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
					out[tripsRedis], _ = strconv.ParseFloat(v, 64)
				}
				if strings.HasPrefix(line, "# ") && !strings.HasPrefix(line, "# Stats") {
					break
				}
			}
		}
		conn.Close()
	}
	return out
}

const (
	tripsMariaDB = "MariaDB statements"
	tripsRedis   = "Redis commands"
)

// rssParts are the processes whose peak RSS over the measured part the report gives.
var rssParts = append(append([]string{}, services...), "payment-mysql")

// partCPU is the CPU a part has used so far: a process and its children (nginx's
// workers), loadgen (its pid given), or "machine": every core's busy time.
func (s *stack) partCPU(part string, loadgen int) time.Duration {
	switch part {
	case "machine":
		return machineBusy()
	case "loadgen":
		return treeCPU(loadgen)
	}
	return treeCPU(s.pid(part))
}

// treeCPU is a process's CPU time plus that of its live children.
func treeCPU(pid int) time.Duration {
	cpu, _, _ := procStat(pid)
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, child := range strings.Fields(string(raw)) {
		if n, err := strconv.Atoi(child); err == nil {
			cpu += treeCPU(n)
		}
	}
	return cpu
}

// machineBusy is the time all cores have spent not idle (/proc/stat).
func machineBusy() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	fields := strings.Fields(strings.SplitN(string(raw), "\n", 2)[0])[1:]
	var busy int
	for i, f := range fields {
		n, _ := strconv.Atoi(f)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is inside user
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// dbCeiling is the database's own ceiling for checkouts: every write a
// checkout makes in payment's MariaDB, the same statements in the same
// transactions, replayed directly by as many clients as there are virtual
// users, with nothing in front.
type dbCeiling struct {
	perSecond           float64
	p50, p99            time.Duration // one checkout's writes
	commitP50, commit99 time.Duration // the order transaction's COMMIT
	errors              int64
	// cpuPerCheckout is the machine's busy time per replayed checkout
	// (MariaDB and the replaying client), and dbCPUPerCheckout MariaDB's alone.
	cpuPerCheckout, dbCPUPerCheckout time.Duration
}

func (s *stack) dbCeilingPhase(ctx context.Context, d time.Duration, clients int) (dbCeiling, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName, cfg.ParseTime = benchSecrets.MySQLUser, benchSecrets.MySQLPassword, "tcp",
		s.addr("payment-mysql"), "payment", true
	cfg.InterpolateParams = true // as payment connects
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return dbCeiling{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(clients)
	db.SetMaxIdleConns(clients)
	var done, failed atomic.Int64
	var mu sync.Mutex
	var whole, commits []time.Duration
	machine0, db0 := machineBusy(), treeCPU(s.pid("payment-mysql"))
	forEachWorker(ctx, d, clients, func(ctx context.Context, c, n int) {
		start := time.Now()
		commit, err := replayCheckout(ctx, db, fmt.Sprintf("bench-db-%d-%d", c, n))
		switch {
		case ctx.Err() != nil: // the phase ended mid-checkout: not a measurement
		case err != nil:
			failed.Add(1)
		default:
			done.Add(1)
			mu.Lock()
			whole, commits = append(whole, time.Since(start)), append(commits, commit)
			mu.Unlock()
		}
	})
	machine1, db1 := machineBusy(), treeCPU(s.pid("payment-mysql"))
	r := dbCeiling{perSecond: float64(done.Load()) / d.Seconds(), errors: failed.Load()}
	if n := done.Load(); n > 0 {
		r.cpuPerCheckout, r.dbCPUPerCheckout = (machine1-machine0)/time.Duration(n), (db1-db0)/time.Duration(n)
	}
	r.p50, r.p99 = quantile(whole, 0.5), quantile(whole, 0.99)
	r.commitP50, r.commit99 = quantile(commits, 0.5), quantile(commits, 0.99)
	return r, nil
}

// replayCheckout makes the writes of one approved three-line checkout, as
// payment makes them (payment/mysql.go): claim the idempotency key, claim the
// cart, insert the charge intent while the claim is still its (one statement,
// the claim's row locked), the order transaction (the intent and the claim
// moved first, in one statement), release the claim. It returns how long the
// order transaction's COMMIT took.
func replayCheckout(ctx context.Context, db *sql.DB, id string) (time.Duration, error) {
	user, key, claim, order := id, "key-"+id, fmt.Sprintf("%024d", len(id)), "ord_"+id
	sum := sha256.Sum256([]byte(id))
	intent, reference := hex.EncodeToString(sum[:12]), "chk_"+hex.EncodeToString(sum[12:28])
	now := time.Now().UTC()
	if _, err := db.ExecContext(ctx, `INSERT INTO idempotency_keys (user_id, idem_key, request_hash, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, user, key, strings.Repeat("a", 64), "in_progress", now, now); err != nil {
		return 0, err
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO cart_claims (user_id, claim_id, state, charge_ref, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, user, claim, "active", reference, now, now); err != nil {
		return 0, err
	}
	res, err := db.ExecContext(ctx, `INSERT INTO charge_intents (id, reference, user_id, claim_id, idem_key, order_id,
		amount_cents, currency, order_json, state, created_at, updated_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM cart_claims
		WHERE user_id = ? AND claim_id = ? AND state = ? AND charge_ref = ? FOR UPDATE`,
		intent, reference, user, claim, key, order, 30000, "USD", strings.Repeat("x", 900), "pending", now, now, user, claim, "active", reference)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return 0, fmt.Errorf("replay %s: no intent inserted", id)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	type statement struct {
		query string
		args  []any
	}
	steps := []statement{
		{`UPDATE charge_intents i, cart_claims c
			SET i.state = ?, i.charge_id = ?, i.updated_at = ?, c.state = ?, c.order_id = ?, c.updated_at = ?
			WHERE i.id = ? AND i.state = ? AND c.user_id = ? AND c.claim_id = ? AND c.state = ?`,
			[]any{"ordered", "pay_" + id, now, "ordered", order, now, intent, "pending", user, claim, "active"}},
		{`INSERT INTO orders (id, user_id, status, subtotal_cents, shipping_cents, total_cents, currency,
			ship_name, ship_line1, ship_line2, ship_city, ship_postal_code, ship_country, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{order, user, "paid", 30000, 0, 30000, "USD", "Load Tester", "1 Loopback Lane", "", "Localhost", "12345", "US", now}},
		{`INSERT INTO order_lines (order_id, line_no, sku, name, qty, unit_price_cents, line_total_cents)
			VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?)`,
			[]any{order, 1, "DR-001", "SkyEye 4K", 1, 10000, 10000, order, 2, "DR-002", "Parcel Hopper", 1, 10000, 10000,
				order, 3, "DR-003", "Roof Inspector", 1, 10000, 10000}},
		{`INSERT INTO payments (id, order_id, amount_cents, currency, card_brand, card_last4, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{"pay_" + id, order, 30000, "USD", "visa", "4242", "captured", now}},
		{`UPDATE idempotency_keys SET state = ?, response_status = ?, response_body = ?, order_id = ?, updated_at = ?
			WHERE user_id = ? AND idem_key = ? AND state = ?`,
			[]any{"done", 201, strings.Repeat("x", 900), order, now, user, key, "in_progress"}},
	}
	for _, st := range steps {
		if _, err := tx.ExecContext(ctx, st.query, st.args...); err != nil {
			return 0, err
		}
	}
	commitStart := time.Now()
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	commit := time.Since(commitStart)
	_, err = db.ExecContext(ctx, "DELETE FROM cart_claims WHERE user_id = ? AND claim_id = ?", user, claim)
	return commit, err
}

// forEachWorker runs f(ctx, worker, n) for n = 0, 1, … on each of workers
// goroutines until d has passed (ctx then ends).
func forEachWorker(ctx context.Context, d time.Duration, workers int, f func(ctx context.Context, worker, n int)) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				f(ctx, w, n)
			}
		}()
	}
	wg.Wait()
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// hashing is password hashing as a capacity: registrations and logins the
// user service completes per second of its own CPU, at its configured cost.
type hashing struct {
	registrationsPerCPUSecond, loginsPerCPUSecond float64
	registrations, logins                         int64
}

// hashingPhase registers fresh accounts, then logs them in, straight at the
// user service (nginx's per-address limits are a policy, not a capacity), with
// one worker per core, and divides by the CPU the service used.
func (s *stack) hashingPhase(ctx context.Context, d time.Duration, workers int) (hashing, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + s.addr("user")
	post := func(path, body, from string) bool {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Real-IP", from) // a shopper of its own, as nginx would say
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode/100 == 2
	}
	pid := s.pid("user")
	measure := func(f func(worker, n int) bool) (int64, float64) {
		cpu0, _, _ := procStat(pid)
		var count atomic.Int64
		forEachWorker(ctx, d, workers, func(ctx context.Context, w, n int) {
			if f(w, n) && ctx.Err() == nil {
				count.Add(1)
			}
		})
		cpu1, _, _ := procStat(pid)
		return count.Load(), (cpu1 - cpu0).Seconds()
	}
	registered := make([][]string, workers) // each worker's own accounts
	regs, regCPU := measure(func(w, n int) bool {
		email := fmt.Sprintf("hash-%d-%d-%d@example.com", os.Getpid(), w, n)
		ok := post("/register", fmt.Sprintf(`{"email":%q,"name":"Bench","password":"bench-password"}`, email), fmt.Sprintf("127.3.%d.%d", w, n%250+1))
		if ok {
			registered[w] = append(registered[w], email)
		}
		return ok
	})
	logins, loginCPU := measure(func(w, n int) bool {
		if len(registered[w]) == 0 {
			return false
		}
		email := registered[w][n%len(registered[w])]
		return post("/login", fmt.Sprintf(`{"email":%q,"password":"bench-password"}`, email), fmt.Sprintf("127.4.%d.%d", w, n%250+1))
	})
	h := hashing{registrations: regs, logins: logins}
	if regCPU > 0 {
		h.registrationsPerCPUSecond = float64(regs) / regCPU
	}
	if loginCPU > 0 {
		h.loginsPerCPUSecond = float64(logins) / loginCPU
	}
	return h, nil
}

func writeCheckoutReport(w io.Writer, o options, r checkoutRun, bcryptCost int) {
	db := r.dbCeiling
	fmt.Fprintf(w, "\n#### Checkout under load\n\n%d virtual users for %s (the first 10 s left out), each playing %d shoppers in turn, each shopper from its own loopback address "+
		"with its own account: %d shoppers, signed up before the phase (%.0f s of registrations at bcrypt cost %d). Each round: guest token, three products added, "+
		"merge into the shopper's cart, quote, checkout with the approving card, order history.\n\n",
		o.vus, o.checkout, o.shoppers, o.vus*o.shoppers, r.signUp.Seconds(), bcryptCost)
	share := 0.0
	if db.perSecond > 0 {
		share = 100 * r.perSecond / db.perSecond
	}
	fmt.Fprintf(w, "- **%d orders, %.1f orders/s**; the database's own ceiling for a checkout's writes in the same run: %.1f/s (%d clients, %d errors): checkout through nginx reaches **%.1f%%** of it.\n",
		r.orders, r.perSecond, db.perSecond, o.vus, db.errors, share)
	fmt.Fprintf(w, "- A checkout's writes straight at MariaDB: p50 %.1f ms, p99 %.1f ms; the order transaction's COMMIT p50 %.2f ms, p99 %.2f ms.\n",
		ms(db.p50), ms(db.p99), ms(db.commitP50), ms(db.commit99))
	fmt.Fprintf(w, "- Errors %d, rate-limited %d (429), statuses %v.\n\n", r.rep.Total.Errors, r.rep.Total.Limited, r.rep.Total.Statuses)
	fmt.Fprintln(w, "| step | count | per s | p50 ms | p90 ms | p99 ms | max ms | errors | 429 | statuses |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, st := range r.rep.Steps {
		fmt.Fprintf(w, "| %s | %d | %.1f | %.2f | %.2f | %.2f | %.2f | %d | %d | %v |\n", st.Name, st.Count, st.PerSecond,
			st.P50Millis, st.P90Millis, st.P99Millis, st.MaxMillis, st.Errors, st.Limited, st.Statuses)
	}
	fmt.Fprintln(w, "\n| part | CPU per order | peak RSS |\n|---|---:|---:|")
	var parts time.Duration
	for _, p := range checkoutParts {
		rss := "–"
		if kib, ok := r.peakRSS[p]; ok {
			rss = fmt.Sprintf("%.1f MiB", float64(kib)/1024)
		}
		if p == "machine" {
			fmt.Fprintf(w, "| the parts above together | %.2f ms | |\n", ms(parts))
			fmt.Fprintf(w, "| the whole machine (%d cores busy) | %.2f ms | |\n", runtime.NumCPU(), ms(r.cpuPerOrd[p]))
			continue
		}
		parts += r.cpuPerOrd[p]
		fmt.Fprintf(w, "| %s | %.2f ms | %s |\n", p, ms(r.cpuPerOrd[p]), rss)
	}
	fmt.Fprintf(w, "\nPayment's MySQL pool over the measured part: %.0f connections closed for want of an idle slot and %.0f at the end of their lifetime, "+
		"%.0f waits for a connection (%.1f s in all).\n", r.pool["go_sql_max_idle_closed_total"], r.pool["go_sql_max_lifetime_closed_total"],
		r.pool["go_sql_wait_count_total"], r.pool["go_sql_wait_duration_seconds_total"])
	if m := r.cpuPerOrd["machine"]; m > 0 {
		fmt.Fprintf(w, "\nAt %.2f ms of machine CPU per order, %d cores complete at most %.0f orders/s.\n", ms(m), runtime.NumCPU(),
			float64(runtime.NumCPU())*float64(time.Second)/float64(m))
	}
	h := r.hashing
	fmt.Fprintf(w, "\nPassword hashing at the configured bcrypt cost %d, straight at the user service: %.1f registrations and %.1f logins per second of CPU "+
		"(%d and %d done). A sale-day burst of 10,000 logins in one minute needs %.0f cores for hashing alone.\n",
		bcryptCost, h.registrationsPerCPUSecond, h.loginsPerCPUSecond, h.registrations, h.logins, 10000/60/max(h.loginsPerCPUSecond, 0.001))
	for _, svc := range []string{"payment", "cart"} {
		fmt.Fprintf(w, "\nCPU profile of %s during the checkout phase (`go tool pprof -top`):\n\n```\n%s```\n", svc, r.profiles[svc])
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
