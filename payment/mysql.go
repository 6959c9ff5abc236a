package main

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/XSAM/otelsql"
	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/roboshop-go/roboshop/kit"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

//go:embed migrations/*.sql
var migrations embed.FS

type mysqlStore struct {
	db    *sql.DB
	crash crashPoint // CRASH_AT: tests and drills only
}

// driverLog routes the driver's own messages (e.g. dropped idle connections) into
// the service's JSON log instead of stderr.
type driverLog struct{ logger *slog.Logger }

func (d driverLog) Print(v ...any) { d.logger.Warn("mysql driver", "message", fmt.Sprint(v...)) }

func openMySQLStore(dsn string, logger *slog.Logger, tp trace.TracerProvider) (*mysqlStore, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	// Bounded waits so a dead database turns into a quick 503, and UTC times.
	cfg.ParseTime, cfg.Loc, cfg.Logger = true, time.UTC, driverLog{logger}
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 2*time.Second, 5*time.Second, 5*time.Second
	// Arguments are escaped by the driver (utf8mb4, where that is exact), so a
	// statement is one round trip instead of three (prepare, execute, close):
	// a checkout makes a dozen of them.
	cfg.InterpolateParams = true
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	var db *sql.DB
	if tp == nil {
		db = sql.OpenDB(connector)
	} else { // each statement and transaction a span (the statement's text, never its arguments)
		db = otelsql.OpenDB(connector, otelsql.WithTracerProvider(tp), otelsql.WithAttributes(semconv.DBSystemNameMySQL),
			otelsql.WithSpanOptions(otelsql.SpanOptions{DisableErrSkip: true, OmitConnResetSession: true, OmitConnPrepare: true, OmitRows: true}))
	}
	// As many kept idle as may be open: with fewer, every release above the
	// idle count closes a connection that the next checkout opens again.
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxLifetime(5 * time.Minute)
	return &mysqlStore{db: db}, nil
}

func (s *mysqlStore) Close() error { return s.db.Close() }

// poolMetrics measures the connection pool (go_sql_*{db_name="payment"}):
// connections open, in use and idle, and the waits for one.
func (s *mysqlStore) poolMetrics() prometheus.Collector {
	return collectors.NewDBStatsCollector(s.db, "payment")
}

func (s *mysqlStore) Ping(ctx context.Context) error { return unavailable(s.db.PingContext(ctx)) }

// Migrate applies the embedded migrations not applied yet, in order, with goose
// (its table: goose_db_version). A named lock per database serialises
// instances that start together.
func (s *mysqlStore) Migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	provider, err := goose.NewProvider(goose.DialectMySQL, s.db, fsys,
		goose.WithSessionLocker(namedLock{}), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", unavailable(err))
	}
	return nil
}

// migrateAs applies the migrations as the schema's owner (MYSQL_MIGRATE_DSN)
// on a pool of its own, closed once they are applied: the service's user
// holds no right to change the schema, so an injected statement cannot.
func migrateAs(ctx context.Context, dsn string, logger *slog.Logger) error {
	owner, err := openMySQLStore(dsn, logger, nil)
	if err != nil {
		return fmt.Errorf("MYSQL_MIGRATE_DSN: %w", err)
	}
	defer owner.Close()
	return owner.Migrate(ctx)
}

// namedLock is a goose session lock on MySQL's GET_LOCK: held by the migrating
// connection, and released by the server if that connection dies.
type namedLock struct{}

func (namedLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var locked sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(CONCAT('roboshop_migrate.', DATABASE()), 30)").Scan(&locked); err != nil {
		return unavailable(err)
	}
	if locked.Int64 != 1 {
		return errors.New("migrations: another instance held the lock for 30 s")
	}
	return nil
}

func (namedLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, "SELECT RELEASE_LOCK(CONCAT('roboshop_migrate.', DATABASE()))")
	return unavailable(err)
}

func (s *mysqlStore) ClaimKey(ctx context.Context, user, key, hash string, staleBefore time.Time) (bool, keyRecord, error) {
	now := time.Now().UTC()
	_, err := s.db.ExecContext(ctx, `INSERT INTO idempotency_keys (user_id, idem_key, request_hash, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, user, key, hash, keyInProgress, now, now)
	if err == nil {
		return true, keyRecord{}, nil
	}
	if !isDuplicate(err) {
		return false, keyRecord{}, unavailable(err)
	}
	rec, updated, err := s.readKey(ctx, user, key)
	if errors.Is(err, errNotFound) {
		return false, keyRecord{State: keyInProgress, RequestHash: hash}, nil // released meanwhile; the client may retry
	}
	if err != nil {
		return false, keyRecord{}, err
	}
	if rec.State == keyInProgress && rec.RequestHash == hash && updated.Before(staleBefore) {
		// Its request died mid-way: take it over, but only if nobody else did first.
		res, err := s.db.ExecContext(ctx, `UPDATE idempotency_keys SET updated_at = ?
			WHERE user_id = ? AND idem_key = ? AND state = ? AND updated_at = ?`, now, user, key, keyInProgress, updated)
		if err != nil {
			return false, keyRecord{}, unavailable(err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return true, keyRecord{}, nil
		}
	}
	return false, rec, nil
}

func (s *mysqlStore) Key(ctx context.Context, user, key string) (keyRecord, error) {
	rec, _, err := s.readKey(ctx, user, key)
	return rec, err
}

// readKey reads (user, key)'s record and when it last changed; errNotFound
// when there is none.
func (s *mysqlStore) readKey(ctx context.Context, user, key string) (keyRecord, time.Time, error) {
	var rec keyRecord
	var status sql.NullInt64
	var body sql.NullString
	var updated time.Time
	err := s.db.QueryRowContext(ctx, `SELECT request_hash, state, response_status, response_body, updated_at
		FROM idempotency_keys WHERE user_id = ? AND idem_key = ?`, user, key).Scan(&rec.RequestHash, &rec.State, &status, &body, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return keyRecord{}, time.Time{}, errNotFound
	}
	rec.Status, rec.Body = int(status.Int64), []byte(body.String)
	return rec, updated, unavailable(err)
}

func (s *mysqlStore) ReleaseKey(ctx context.Context, user, key string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE user_id = ? AND idem_key = ? AND state = ?",
		user, key, keyInProgress)
	return unavailable(err)
}

func (s *mysqlStore) ClaimCart(ctx context.Context, user, claimID, reference string) (bool, cartClaim, error) {
	now := time.Now().UTC()
	_, err := s.db.ExecContext(ctx, `INSERT INTO cart_claims (user_id, claim_id, state, charge_ref, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, user, claimID, claimActive, reference, now, now)
	if err == nil {
		return true, cartClaim{}, nil
	}
	if !isDuplicate(err) {
		return false, cartClaim{}, unavailable(err)
	}
	held, err := s.readClaim(ctx, user)
	if errors.Is(err, errNotFound) {
		return false, cartClaim{}, nil // released meanwhile: try again
	}
	return false, held, err
}

func (s *mysqlStore) TakeOverCart(ctx context.Context, user, heldID, claimID string) (bool, error) {
	// The subquery's rows are read with shared locks, and CreateIntent locks
	// the claim's row first: a takeover and a new intent of the old claim
	// cannot both succeed.
	res, err := s.db.ExecContext(ctx, `UPDATE cart_claims SET claim_id = ?, updated_at = ?
		WHERE user_id = ? AND claim_id = ? AND state = ?
		AND NOT EXISTS (SELECT 1 FROM charge_intents WHERE claim_id = ? AND state = ?)`,
		claimID, time.Now().UTC(), user, heldID, claimActive, heldID, intentPending)
	if err != nil {
		return false, unavailable(err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *mysqlStore) CartClaim(ctx context.Context, user string) (cartClaim, error) {
	return s.readClaim(ctx, user)
}

// readClaim reads the claim on user's cart; errNotFound when there is none.
func (s *mysqlStore) readClaim(ctx context.Context, user string) (cartClaim, error) {
	var c cartClaim
	var orderID, reference sql.NullString
	err := s.db.QueryRowContext(ctx, "SELECT claim_id, state, order_id, charge_ref, updated_at FROM cart_claims WHERE user_id = ?", user).
		Scan(&c.ID, &c.State, &orderID, &reference, &c.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return cartClaim{}, errNotFound
	}
	c.OrderID, c.Reference = orderID.String, reference.String
	return c, unavailable(err)
}

func (s *mysqlStore) ReleaseCart(ctx context.Context, user, claimID string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM cart_claims WHERE user_id = ? AND claim_id = ?", user, claimID)
	return unavailable(err)
}

// inTx runs f in a transaction and commits it; any error rolls it back.
// beforeCommit names the crash point between its statements and its commit.
func (s *mysqlStore) inTx(ctx context.Context, beforeCommit string, f func(tx *sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = f(tx); err != nil {
		return err
	}
	s.crash.at(beforeCommit)
	return unavailable(tx.Commit())
}

// execOne runs a conditional statement and reports whether it changed one row.
func execOne(ctx context.Context, tx *sql.Tx, query string, args ...any) (bool, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return false, unavailable(err)
	}
	n, err := res.RowsAffected()
	return n == 1, unavailable(err)
}

func (s *mysqlStore) CreateIntent(ctx context.Context, it intent) (string, error) {
	order, err := json.Marshal(it.Order)
	if err != nil {
		return "", err
	}
	if it.Reference != "" {
		now := time.Now().UTC()
		// One statement, one round trip: the intent is inserted only while
		// the claim is still its checkout's, and the claim's row is locked as it is
		// read, so a takeover waits for this intent and then sees it (as in
		// the transaction below).
		res, err := s.db.ExecContext(ctx, `INSERT INTO charge_intents (id, reference, user_id, claim_id, idem_key, order_id,
			amount_cents, currency, order_json, state, created_at, updated_at)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM cart_claims
			WHERE user_id = ? AND claim_id = ? AND state = ? AND charge_ref = ? FOR UPDATE`,
			it.ID, it.Reference, it.User, it.ClaimID, it.Key, it.Order.ID, it.Order.TotalCents, it.Order.Currency,
			string(order), intentPending, now, now, it.User, it.ClaimID, claimActive, it.Reference)
		if err != nil {
			return "", unavailable(err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return it.Reference, nil
		}
		// Nothing inserted: the claim is gone, or it holds another reference.
		// The transaction below tells which, and answers it.
	}
	return s.createIntentTx(ctx, it, order)
}

// createIntentTx commits it under the reference its claim holds, giving a
// claim made before references were kept one first.
func (s *mysqlStore) createIntentTx(ctx context.Context, it intent, order []byte) (string, error) {
	var reference sql.NullString
	err := s.inTx(ctx, "", func(tx *sql.Tx) error {
		// The claim's row locked: a takeover waits for this intent, then sees it.
		err := tx.QueryRowContext(ctx, `SELECT charge_ref FROM cart_claims WHERE user_id = ? AND claim_id = ? AND state = ? FOR UPDATE`,
			it.User, it.ClaimID, claimActive).Scan(&reference)
		if errors.Is(err, sql.ErrNoRows) {
			return errClaimLost
		}
		if err != nil {
			return unavailable(err)
		}
		if !reference.Valid { // a claim made before references were kept on it
			reference = sql.NullString{String: newChargeReference(), Valid: true}
			if _, err := tx.ExecContext(ctx, "UPDATE cart_claims SET charge_ref = ? WHERE user_id = ?", reference.String, it.User); err != nil {
				return unavailable(err)
			}
		}
		now := time.Now().UTC()
		_, err = tx.ExecContext(ctx, `INSERT INTO charge_intents (id, reference, user_id, claim_id, idem_key, order_id,
			amount_cents, currency, order_json, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			it.ID, reference.String, it.User, it.ClaimID, it.Key, it.Order.ID, it.Order.TotalCents, it.Order.Currency,
			string(order), intentPending, now, now)
		return unavailable(err)
	})
	return reference.String, err
}

const intentColumns = "id, reference, user_id, claim_id, idem_key, order_json, state, charge_id"

func scanIntent(row interface{ Scan(...any) error }) (intent, error) {
	var it intent
	var order string
	var chargeID sql.NullString
	if err := row.Scan(&it.ID, &it.Reference, &it.User, &it.ClaimID, &it.Key, &order, &it.State, &chargeID); err != nil {
		return intent{}, err
	}
	it.ChargeID = chargeID.String
	return it, json.Unmarshal([]byte(order), &it.Order)
}

func (s *mysqlStore) PendingIntent(ctx context.Context, user, claimID string) (intent, error) {
	it, err := scanIntent(s.db.QueryRowContext(ctx, "SELECT "+intentColumns+
		" FROM charge_intents WHERE claim_id = ? AND user_id = ? AND state = ? LIMIT 1", claimID, user, intentPending))
	if errors.Is(err, sql.ErrNoRows) {
		return intent{}, errNotFound
	}
	return it, unavailable(err)
}

func (s *mysqlStore) OpenIntents(ctx context.Context, staleBefore time.Time, limit int) ([]intent, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+intentColumns+` FROM charge_intents
		WHERE state = ? AND updated_at < ? OR state = ? ORDER BY updated_at LIMIT ?`, intentPending, staleBefore.UTC(), intentRefunding, limit)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var open []intent
	for rows.Next() {
		it, err := scanIntent(rows)
		if err != nil {
			return nil, unavailable(err)
		}
		open = append(open, it)
	}
	return open, unavailable(rows.Err())
}

func (s *mysqlStore) OpenIntentCounts(ctx context.Context) (pending, refunding int, err error) {
	// Two ranges of the (state, updated_at) index: the finished intents,
	// which grow with every order, are never read.
	err = s.db.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM charge_intents WHERE state = ?), (SELECT COUNT(*) FROM charge_intents WHERE state = ?)",
		intentPending, intentRefunding).Scan(&pending, &refunding)
	return pending, refunding, unavailable(err)
}

func (s *mysqlStore) IntentState(ctx context.Context, id string) (string, error) {
	var state string
	err := s.db.QueryRowContext(ctx, "SELECT state FROM charge_intents WHERE id = ?", id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNotFound
	}
	return state, unavailable(err)
}

func (s *mysqlStore) FailIntent(ctx context.Context, it intent, answer *keyAnswer, keyStaleBefore time.Time) (bool, error) {
	var moved bool
	err := s.inTx(ctx, "", func(tx *sql.Tx) error {
		var err error
		if moved, err = execOne(ctx, tx, "UPDATE charge_intents SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
			intentFailed, time.Now().UTC(), it.ID, intentPending); err != nil || !moved {
			return err
		}
		if answer != nil {
			_, err = tx.ExecContext(ctx, `UPDATE idempotency_keys SET state = ?, response_status = ?, response_body = ?, updated_at = ?
				WHERE user_id = ? AND idem_key = ? AND state = ?`, keyDone, answer.Status, string(answer.Body), time.Now().UTC(), it.User, it.Key, keyInProgress)
		} else {
			err = freeKeyTx(ctx, tx, it.User, it.Key, keyStaleBefore)
		}
		if err != nil {
			return unavailable(err)
		}
		return freeClaimTx(ctx, tx, it.User, it.ClaimID)
	})
	return moved, err
}

// freeKeyTx deletes an in-progress key last claimed before staleBefore (any,
// for the zero time): a key that a live retry has just taken over is that
// retry's to answer.
func freeKeyTx(ctx context.Context, tx *sql.Tx, user, key string, staleBefore time.Time) error {
	if staleBefore.IsZero() {
		staleBefore = time.Now().Add(time.Hour)
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE user_id = ? AND idem_key = ? AND state = ? AND updated_at < ?",
		user, key, keyInProgress, staleBefore.UTC())
	return unavailable(err)
}

func freeClaimTx(ctx context.Context, tx *sql.Tx, user, claimID string) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM cart_claims WHERE user_id = ? AND claim_id = ? AND state = ?", user, claimID, claimActive)
	return unavailable(err)
}

func (s *mysqlStore) StartRefund(ctx context.Context, it intent, chargeID string, keyStaleBefore time.Time) (bool, error) {
	var moved bool
	err := s.inTx(ctx, "", func(tx *sql.Tx) error {
		var err error
		if moved, err = execOne(ctx, tx, "UPDATE charge_intents SET state = ?, charge_id = ?, updated_at = ? WHERE id = ? AND state = ?",
			intentRefunding, chargeID, time.Now().UTC(), it.ID, intentPending); err != nil || !moved {
			return err
		}
		if err := freeKeyTx(ctx, tx, it.User, it.Key, keyStaleBefore); err != nil {
			return err
		}
		return freeClaimTx(ctx, tx, it.User, it.ClaimID)
	})
	return moved, err
}

func (s *mysqlStore) RefundDone(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, "UPDATE charge_intents SET state = ?, last_error = NULL, updated_at = ? WHERE id = ? AND state = ?",
		intentRefunded, time.Now().UTC(), id, intentRefunding)
	return unavailable(err)
}

func (s *mysqlStore) RefundFailed(ctx context.Context, id, reason string) error {
	if len(reason) > 255 {
		reason = reason[:255]
	}
	_, err := s.db.ExecContext(ctx, `UPDATE charge_intents SET refund_attempts = refund_attempts + 1, last_error = ?, updated_at = ?
		WHERE id = ? AND state = ?`, reason, time.Now().UTC(), id, intentRefunding)
	return unavailable(err)
}

func (s *mysqlStore) SaveOrder(ctx context.Context, it intent, o Order, body []byte) error {
	return s.inTx(ctx, crashBeforeCommit, func(tx *sql.Tx) error {
		// The intent and the claim first: the fences that keep a second
		// recording of this charge, or an order for a cart another checkout
		// now holds, from being written.
		// Both in one statement: it changes the two rows or neither.
		now := time.Now().UTC()
		res, err := tx.ExecContext(ctx, `UPDATE charge_intents i, cart_claims c
			SET i.state = ?, i.charge_id = ?, i.updated_at = ?, c.state = ?, c.order_id = ?, c.updated_at = ?
			WHERE i.id = ? AND i.state = ? AND c.user_id = ? AND c.claim_id = ? AND c.state = ?`,
			intentOrdered, o.Payment.ID, now, claimOrdered, o.ID, now, it.ID, intentPending, it.User, it.ClaimID, claimActive)
		if err != nil {
			return unavailable(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 2 {
			return cmp.Or(unavailable(err), fenceFailed(ctx, tx, it.ID))
		}
		a := o.ShippingAddress
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, user_id, status, subtotal_cents, shipping_cents, total_cents, currency,
			ship_name, ship_line1, ship_line2, ship_city, ship_postal_code, ship_country, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			o.ID, it.User, o.Status, o.SubtotalCents, o.ShippingCents, o.TotalCents, o.Currency,
			a.Name, a.Line1, a.Line2, a.City, a.PostalCode, a.Country, o.CreatedAt); err != nil {
			return unavailable(err)
		}
		// Every line in one statement: one round trip however long the order.
		values := make([]string, len(o.Items))
		args := make([]any, 0, 7*len(o.Items))
		for i, l := range o.Items {
			values[i] = "(?, ?, ?, ?, ?, ?, ?)"
			args = append(args, o.ID, i+1, l.SKU, l.Name, l.Qty, l.UnitPriceCents, l.LineTotalCents)
		}
		if len(values) > 0 { // never empty: an empty cart is refused before any intent
			if _, err := tx.ExecContext(ctx, `INSERT INTO order_lines (order_id, line_no, sku, name, qty, unit_price_cents, line_total_cents)
				VALUES `+strings.Join(values, ", "), args...); err != nil {
				return unavailable(err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO payments (id, order_id, amount_cents, currency, card_brand, card_last4, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, o.Payment.ID, o.ID, o.TotalCents, o.Currency, o.Payment.Brand, o.Payment.Last4,
			"captured", o.CreatedAt); err != nil {
			return unavailable(err)
		}
		// The key's answer, for its replays; a key freed meanwhile keeps none.
		_, err = tx.ExecContext(ctx, `UPDATE idempotency_keys SET state = ?, response_status = ?, response_body = ?, order_id = ?, updated_at = ?
			WHERE user_id = ? AND idem_key = ? AND state = ?`, keyDone, 201, string(body), o.ID, now, it.User, it.Key, keyInProgress)
		return unavailable(err)
	})
}

// fenceFailed says which of SaveOrder's fences stopped it: the intent no
// longer pending (resolved by another) comes first, else the claim was lost.
func fenceFailed(ctx context.Context, tx *sql.Tx, intentID string) error {
	var state string
	if err := tx.QueryRowContext(ctx, "SELECT state FROM charge_intents WHERE id = ? FOR UPDATE", intentID).Scan(&state); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return unavailable(err)
	}
	if state != intentPending {
		return errIntentResolved
	}
	return errClaimLost
}

const orderColumns = `o.id, o.status, o.subtotal_cents, o.shipping_cents, o.total_cents, o.currency,
	o.ship_name, o.ship_line1, o.ship_line2, o.ship_city, o.ship_postal_code, o.ship_country, o.created_at,
	p.id, p.card_brand, p.card_last4`

// scanOrder reads orderColumns, then into more whatever columns follow them.
func scanOrder(row interface{ Scan(...any) error }, more ...any) (Order, error) {
	var o Order
	a := &o.ShippingAddress
	err := row.Scan(append([]any{&o.ID, &o.Status, &o.SubtotalCents, &o.ShippingCents, &o.TotalCents, &o.Currency,
		&a.Name, &a.Line1, &a.Line2, &a.City, &a.PostalCode, &a.Country, &o.CreatedAt,
		&o.Payment.ID, &o.Payment.Brand, &o.Payment.Last4}, more...)...)
	o.Items = []OrderLine{}
	return o, err
}

func (s *mysqlStore) Orders(ctx context.Context, user string, limit, offset int) ([]Order, int, error) {
	// One round trip: the page of orders (a derived table, so LIMIT counts
	// orders, not lines) with its payments and lines, each row carrying the
	// user's count of orders.
	rows, err := s.db.QueryContext(ctx, `SELECT `+orderColumns+`, (SELECT COUNT(*) FROM orders WHERE user_id = ?),
		l.sku, l.name, l.qty, l.unit_price_cents, l.line_total_cents
		FROM (SELECT * FROM orders WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?) o
		JOIN payments p ON p.order_id = o.id LEFT JOIN order_lines l ON l.order_id = o.id
		ORDER BY o.created_at DESC, o.id DESC, l.line_no`, user, user, limit, offset)
	if err != nil {
		return nil, 0, unavailable(err)
	}
	defer rows.Close()
	orders := []Order{}
	total := -1
	for rows.Next() {
		var sku, name sql.NullString
		var qty, unit, line sql.NullInt64
		o, err := scanOrder(rows, &total, &sku, &name, &qty, &unit, &line)
		if err != nil {
			return nil, 0, unavailable(err)
		}
		if n := len(orders); n == 0 || orders[n-1].ID != o.ID {
			orders = append(orders, o)
		}
		if sku.Valid {
			last := &orders[len(orders)-1]
			last.Items = append(last.Items, OrderLine{SKU: sku.String, Name: name.String, Qty: int(qty.Int64),
				UnitPriceCents: unit.Int64, LineTotalCents: line.Int64})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, unavailable(err)
	}
	if total < 0 { // a page past the end (or no orders): the count alone
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders WHERE user_id = ?", user).Scan(&total); err != nil {
			return nil, 0, unavailable(err)
		}
	}
	return orders, total, nil
}

func (s *mysqlStore) Order(ctx context.Context, user, id string) (Order, error) {
	o, err := scanOrder(s.db.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders o JOIN payments p ON p.order_id = o.id
		WHERE o.id = ? AND o.user_id = ?`, id, user))
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, errNotFound
	}
	if err != nil {
		return Order{}, unavailable(err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT sku, name, qty, unit_price_cents, line_total_cents
		FROM order_lines WHERE order_id = ? ORDER BY line_no`, id)
	if err != nil {
		return Order{}, unavailable(err)
	}
	defer rows.Close()
	for rows.Next() {
		var l OrderLine
		if err := rows.Scan(&l.SKU, &l.Name, &l.Qty, &l.UnitPriceCents, &l.LineTotalCents); err != nil {
			return Order{}, unavailable(err)
		}
		o.Items = append(o.Items, l)
	}
	return o, unavailable(rows.Err())
}

func isDuplicate(err error) bool {
	var myErr *mysql.MySQLError
	return errors.As(err, &myErr) && myErr.Number == 1062 // 1062: duplicate entry
}

// unavailable marks connection-level failures as kit.ErrUnavailable (503);
// errors the server answered with stay as they are (500).
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var netErr net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("mysql: %w: %w", kit.ErrUnavailable, err)
	}
	return fmt.Errorf("mysql: %w", err)
}
