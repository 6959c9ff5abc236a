package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
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

type mysqlStore struct{ db *sql.DB }

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

func (s *mysqlStore) FinishKey(ctx context.Context, user, key string, status int, body []byte) error {
	_, err := s.db.ExecContext(ctx, `UPDATE idempotency_keys SET state = ?, response_status = ?, response_body = ?, updated_at = ?
		WHERE user_id = ? AND idem_key = ?`, keyDone, status, string(body), time.Now().UTC(), user, key)
	return unavailable(err)
}

func (s *mysqlStore) ClaimCart(ctx context.Context, user, claimID string, staleBefore time.Time) (bool, cartClaim, error) {
	now := time.Now().UTC()
	_, err := s.db.ExecContext(ctx, `INSERT INTO cart_claims (user_id, claim_id, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?)`, user, claimID, claimActive, now, now)
	if err == nil {
		return true, cartClaim{}, nil
	}
	if !isDuplicate(err) {
		return false, cartClaim{}, unavailable(err)
	}
	held, updated, err := s.readClaim(ctx, user)
	if errors.Is(err, errNotFound) {
		return false, cartClaim{}, nil // released meanwhile: try again
	}
	if err != nil {
		return false, cartClaim{}, err
	}
	if held.State == claimActive && updated.Before(staleBefore) {
		// Its request died mid-way: take it over, unless another request did first.
		res, err := s.db.ExecContext(ctx, `UPDATE cart_claims SET claim_id = ?, updated_at = ?
			WHERE user_id = ? AND claim_id = ? AND state = ?`, claimID, now, user, held.ID, claimActive)
		if err != nil {
			return false, cartClaim{}, unavailable(err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return true, cartClaim{}, nil
		}
	}
	return false, held, nil
}

func (s *mysqlStore) CartClaim(ctx context.Context, user string) (cartClaim, error) {
	c, _, err := s.readClaim(ctx, user)
	return c, err
}

// readClaim reads the claim on user's cart and when it last changed;
// errNotFound when there is none.
func (s *mysqlStore) readClaim(ctx context.Context, user string) (cartClaim, time.Time, error) {
	var c cartClaim
	var orderID sql.NullString
	var updated time.Time
	err := s.db.QueryRowContext(ctx, "SELECT claim_id, state, order_id, updated_at FROM cart_claims WHERE user_id = ?", user).
		Scan(&c.ID, &c.State, &orderID, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return cartClaim{}, time.Time{}, errNotFound
	}
	c.OrderID = orderID.String
	return c, updated, unavailable(err)
}

func (s *mysqlStore) ReleaseCart(ctx context.Context, user, claimID string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM cart_claims WHERE user_id = ? AND claim_id = ?", user, claimID)
	return unavailable(err)
}

func (s *mysqlStore) SaveOrder(ctx context.Context, user, key, claimID string, o Order, body []byte) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	// The claim first: it is the fence that keeps a checkout whose claim was
	// taken over from recording a second order for the same cart.
	claimed, err := tx.ExecContext(ctx, `UPDATE cart_claims SET state = ?, order_id = ?, updated_at = ?
		WHERE user_id = ? AND claim_id = ? AND state = ?`, claimOrdered, o.ID, time.Now().UTC(), user, claimID, claimActive)
	if err != nil {
		return unavailable(err)
	}
	if n, _ := claimed.RowsAffected(); n != 1 {
		return errClaimLost
	}
	a := o.ShippingAddress
	if _, err = tx.ExecContext(ctx, `INSERT INTO orders (id, user_id, status, subtotal_cents, shipping_cents, total_cents, currency,
		ship_name, ship_line1, ship_line2, ship_city, ship_postal_code, ship_country, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, user, o.Status, o.SubtotalCents, o.ShippingCents, o.TotalCents, o.Currency,
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
	if len(values) > 0 { // never empty: an empty cart is refused before any charge
		if _, err = tx.ExecContext(ctx, `INSERT INTO order_lines (order_id, line_no, sku, name, qty, unit_price_cents, line_total_cents)
			VALUES `+strings.Join(values, ", "), args...); err != nil {
			return unavailable(err)
		}
	}
	if _, err = tx.ExecContext(ctx, `INSERT INTO payments (id, order_id, amount_cents, currency, card_brand, card_last4, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, o.Payment.ID, o.ID, o.TotalCents, o.Currency, o.Payment.Brand, o.Payment.Last4,
		"captured", o.CreatedAt); err != nil {
		return unavailable(err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET state = ?, response_status = ?, response_body = ?, order_id = ?, updated_at = ?
		WHERE user_id = ? AND idem_key = ? AND state = ?`, keyDone, 201, string(body), o.ID, time.Now().UTC(), user, key, keyInProgress)
	if err != nil {
		return unavailable(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errors.New("idempotency key no longer in progress")
	}
	return unavailable(tx.Commit())
}

const orderColumns = `o.id, o.status, o.subtotal_cents, o.shipping_cents, o.total_cents, o.currency,
	o.ship_name, o.ship_line1, o.ship_line2, o.ship_city, o.ship_postal_code, o.ship_country, o.created_at,
	p.id, p.card_brand, p.card_last4`

func scanOrder(row interface{ Scan(...any) error }) (Order, error) {
	var o Order
	a := &o.ShippingAddress
	err := row.Scan(&o.ID, &o.Status, &o.SubtotalCents, &o.ShippingCents, &o.TotalCents, &o.Currency,
		&a.Name, &a.Line1, &a.Line2, &a.City, &a.PostalCode, &a.Country, &o.CreatedAt,
		&o.Payment.ID, &o.Payment.Brand, &o.Payment.Last4)
	o.Items = []OrderLine{}
	return o, err
}

func (s *mysqlStore) Orders(ctx context.Context, user string, limit, offset int) ([]Order, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders WHERE user_id = ?", user).Scan(&total); err != nil {
		return nil, 0, unavailable(err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+orderColumns+` FROM orders o JOIN payments p ON p.order_id = o.id
		WHERE o.user_id = ? ORDER BY o.created_at DESC, o.id DESC LIMIT ? OFFSET ?`, user, limit, offset)
	if err != nil {
		return nil, 0, unavailable(err)
	}
	defer rows.Close()
	orders := []Order{}
	index := map[string]int{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, 0, unavailable(err)
		}
		index[o.ID] = len(orders)
		orders = append(orders, o)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, unavailable(err)
	}
	if len(orders) == 0 {
		return orders, total, nil
	}
	ids := make([]any, 0, len(orders))
	for _, o := range orders {
		ids = append(ids, o.ID)
	}
	lines, err := s.db.QueryContext(ctx, `SELECT order_id, sku, name, qty, unit_price_cents, line_total_cents
		FROM order_lines WHERE order_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY order_id, line_no`, ids...)
	if err != nil {
		return nil, 0, unavailable(err)
	}
	defer lines.Close()
	for lines.Next() {
		var id string
		var l OrderLine
		if err := lines.Scan(&id, &l.SKU, &l.Name, &l.Qty, &l.UnitPriceCents, &l.LineTotalCents); err != nil {
			return nil, 0, unavailable(err)
		}
		o := &orders[index[id]]
		o.Items = append(o.Items, l)
	}
	return orders, total, unavailable(lines.Err())
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
