package main

import (
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/roboshop-go/roboshop/testkit"
)

// TestServiceUserCannotChangeTheSchema: on a database made as the renderings
// make payment's, the migrations run as the schema's owner, and the user the
// service connects as may read and write rows but not change, drop or grant
// anything, so a statement slipped into a query cannot either. Run with only
// the service's DSN, the migrations are refused and payment never turns
// ready; with both, it migrates and serves.
func TestServiceUserCannotChangeTheSchema(t *testing.T) {
	t.Parallel()
	appDSN, ownerDSN := testkit.MariaDBLeastPrivilegeDSNs(t)
	ctx := testkit.Context(t)
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if err := migrateAs(ctx, ownerDSN, logger); err != nil {
		t.Fatalf("migrations as the owner: %v", err)
	}
	db, err := sql.Open("mysql", appDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const denied = 1142 // ER_TABLEACCESS_DENIED_ERROR: the command is not granted
	tests := []struct {
		name, statement string
		wantDenied      bool
	}{
		{"reads rows", "SELECT COUNT(*) FROM orders", false},
		{"writes rows", "DELETE FROM orders WHERE id = 'none'", false},
		{"drops a table", "DROP TABLE orders", true},
		{"alters a table", "ALTER TABLE orders ADD COLUMN planted INT", true},
		{"creates a table", "CREATE TABLE planted (id INT)", true},
		{"empties the migrations' record", "TRUNCATE TABLE goose_db_version", true},
		{"grants itself more", "GRANT ALL ON orders TO CURRENT_USER", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.ExecContext(ctx, tc.statement)
			var myErr *mysql.MySQLError
			gotDenied := errors.As(err, &myErr) && (myErr.Number == denied || myErr.Number == 1044 || myErr.Number == 1227)
			if gotDenied != tc.wantDenied || (!tc.wantDenied && err != nil) {
				t.Fatalf("%s as the service's user: %v; want denied: %v", tc.statement, err, tc.wantDenied)
			}
		})
	}

	t.Run("payment migrates as the owner and serves as itself", func(t *testing.T) {
		d := sharedDeps(t)
		base := map[string]string{"USER_URL": d.userURL, "SETTLE_TOKEN": testkit.SettleToken,
			"CATALOGUE_URL": d.catalogueURL, "CART_URL": d.cartURL}
		freshApp, freshOwner := testkit.MariaDBLeastPrivilegeDSNs(t)
		alone := map[string]string{"MYSQL_DSN": freshApp}
		both := map[string]string{"MYSQL_DSN": freshApp, "MYSQL_MIGRATE_DSN": freshOwner}
		for k, v := range base {
			alone[k], both[k] = v, v
		}
		refused := testkit.RunService(t, run, alone)
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(refused.Logs(), "denied") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(refused.Logs(), "denied") {
			t.Fatalf("migrating as the service's own user was not refused:\n%s", refused.Logs())
		}
		refused.WaitStatus(t, "/readyz", http.StatusServiceUnavailable)
		served := testkit.RunService(t, run, both)
		served.WaitStatus(t, "/readyz", http.StatusOK)
		if code, body := testkit.Send(t, served.Base, testkit.Request{Method: "GET", Path: "/orders",
			Token: testkit.RegisterUser(t, d.userURL)}); code != http.StatusOK {
			t.Fatalf("orders: %d %s", code, body)
		}
	})
}
