package main

import (
	"database/sql"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestReplayRunsAgainstPaymentsSchema: the database ceiling replays
// payment's checkout writes from its own copy of the statements; run against
// a database that payment itself migrated, each of them must work, twice
// (two checkouts), and leave what payment's would: one intent ordered, one
// order with its lines and payment, no claim. A column payment renames or
// adds without a default fails this.
func TestReplayRunsAgainstPaymentsSchema(t *testing.T) {
	t.Parallel()
	dsn := testkit.MariaDBDSN(t)
	testkit.StartService(t, testkit.PaymentService, map[string]string{"MYSQL_DSN": dsn,
		"USER_URL": "http://127.0.0.1:1", "CATALOGUE_URL": "http://127.0.0.1:1", "CART_URL": "http://127.0.0.1:1"}) // ready once migrated
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, id := range []string{"bench-db-0-0", "bench-db-0-1"} {
		if _, err := replayCheckout(testkit.Context(t), db, id); err != nil {
			t.Fatalf("replay %s: %v", id, err)
		}
	}
	counts := map[string]int{}
	for _, q := range []string{"orders", "order_lines", "payments", "charge_intents", "cart_claims"} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[q] = n
	}
	var ordered int
	_ = db.QueryRow("SELECT COUNT(*) FROM charge_intents WHERE state = 'ordered'").Scan(&ordered)
	if counts["orders"] != 2 || counts["order_lines"] != 6 || counts["payments"] != 2 || counts["charge_intents"] != 2 || ordered != 2 || counts["cart_claims"] != 0 {
		t.Fatalf("after two replayed checkouts: %v, %d intents ordered", counts, ordered)
	}
}
