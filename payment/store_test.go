package main

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/testkit"
)

// newStore is payment's store on a migrated database of its own.
func newStore(t *testing.T) (*mysqlStore, *sql.DB) {
	t.Helper()
	dsn := testkit.MariaDBDSN(t)
	st, err := openMySQLStore(dsn, slog.New(slog.NewJSONHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	return st, openDB(t, dsn)
}

func storeIntent(user, claimID, reference string) intent {
	o := Order{ID: "ord_" + randomHex(12), Status: "paid", Currency: Currency, SubtotalCents: 2000, TotalCents: 2000,
		Items:     []OrderLine{{SKU: "DR-001", Name: "d", Qty: 2, UnitPriceCents: 1000, LineTotalCents: 2000}},
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond), Payment: PaymentInfo{ID: "ch_" + randomHex(8), Brand: "visa", Last4: "4242"}}
	return intent{ID: randomHex(12), Reference: reference, User: user, ClaimID: claimID, Key: "k-" + user, Order: o}
}

func queryString(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	var s sql.NullString
	if err := db.QueryRow(query, args...).Scan(&s); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return s.String
}

// TestFencesWriteNothingOnceTheClaimOrIntentMoved: the charge intent is
// written in one statement only while its claim is still the checkout's, and
// the order only while the intent is pending and the claim active; otherwise
// the named error and nothing written. A claim made before references were
// kept, or a reference the caller got wrong, takes the transaction, which
// answers the reference the claim holds.
func TestFencesWriteNothingOnceTheClaimOrIntentMoved(t *testing.T) {
	t.Parallel()
	st, db := newStore(t)
	ctx := testkit.Context(t)
	cases := []struct {
		name   string
		before func(user string) // after the claim (claim "c1", reference "chk_1") is made
		run    func(user string) error
		want   error
		// after: the intent's and the claim's state, orders written
		intentState, claimID, claimState string
		orders                           int
	}{
		{"an intent after a takeover", func(u string) { mustTakeOver(t, st, u) },
			func(u string) error { _, err := st.CreateIntent(ctx, storeIntent(u, "c1", "chk_1")); return err },
			errClaimLost, "", "c2", claimActive, 0},
		{"an intent on a claim without a reference gets one", func(u string) {
			mustExec(t, db, "UPDATE cart_claims SET charge_ref = NULL WHERE user_id = ?", u)
		}, func(u string) error {
			ref, err := st.CreateIntent(ctx, storeIntent(u, "c1", ""))
			if held := queryString(t, db, "SELECT charge_ref FROM cart_claims WHERE user_id = ?", u); err == nil && (ref == "" || ref != held) {
				return fmt.Errorf("reference %q answered, the claim holds %q", ref, held)
			}
			return err
		}, nil, intentPending, "c1", claimActive, 0},
		{"an intent with a wrong reference gets the claim's", nil, func(u string) error {
			ref, err := st.CreateIntent(ctx, storeIntent(u, "c1", "chk_other"))
			if err == nil && ref != "chk_1" {
				return fmt.Errorf("reference %q answered, want the claim's chk_1", ref)
			}
			return err
		}, nil, intentPending, "c1", claimActive, 0},
		{"an order once the intent was resolved", nil, func(u string) error {
			it := mustIntent(t, st, u)
			mustExec(t, db, "UPDATE charge_intents SET state = ? WHERE id = ?", intentFailed, it.ID)
			return st.SaveOrder(ctx, it, it.Order, []byte(`{}`))
		}, errIntentResolved, intentFailed, "c1", claimActive, 0},
		{"an order once the claim was taken over", nil, func(u string) error {
			it := mustIntent(t, st, u)
			mustExec(t, db, "UPDATE cart_claims SET claim_id = 'c2' WHERE user_id = ?", u)
			return st.SaveOrder(ctx, it, it.Order, []byte(`{}`))
		}, errClaimLost, intentPending, "c2", claimActive, 0},
		{"an order", nil, func(u string) error {
			it := mustIntent(t, st, u)
			return st.SaveOrder(ctx, it, it.Order, []byte(`{}`))
		}, nil, intentOrdered, "c1", claimOrdered, 1},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprintf("fence-%d", i)
			if ok, _, err := st.ClaimCart(ctx, user, "c1", "chk_1"); err != nil || !ok {
				t.Fatalf("claim: %v %v", ok, err)
			}
			if tc.before != nil {
				tc.before(user)
			}
			if err := tc.run(user); !errors.Is(err, tc.want) || (err != nil && tc.want == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			intentState := queryString(t, db, "SELECT state FROM charge_intents WHERE user_id = ?", user)
			claimID := queryString(t, db, "SELECT claim_id FROM cart_claims WHERE user_id = ?", user)
			claimState := queryString(t, db, "SELECT state FROM cart_claims WHERE user_id = ?", user)
			var orders int
			if err := db.QueryRow("SELECT COUNT(*) FROM orders WHERE user_id = ?", user).Scan(&orders); err != nil {
				t.Fatal(err)
			}
			if intentState != tc.intentState || claimID != tc.claimID || claimState != tc.claimState || orders != tc.orders {
				t.Fatalf("intent %q, claim %q %q, %d orders; want intent %q, claim %q %q, %d orders",
					intentState, claimID, claimState, orders, tc.intentState, tc.claimID, tc.claimState, tc.orders)
			}
		})
	}
}

// TestIntentAndTakeoverNeverBothWin: a new intent of a claim and a takeover
// of that claim race, 40 times in parallel; in every round exactly one wins,
// read back from the database: never an intent pending on a claim another
// checkout now holds (two attempts to pay for one cart), never neither.
func TestIntentAndTakeoverNeverBothWin(t *testing.T) {
	t.Parallel()
	st, db := newStore(t)
	ctx := testkit.Context(t)
	const rounds = 40
	var wg sync.WaitGroup
	intentErrs, took, takeErrs := make([]error, rounds), make([]bool, rounds), make([]error, rounds)
	for r := range rounds {
		user := fmt.Sprintf("race-%d", r)
		if ok, _, err := st.ClaimCart(ctx, user, "old", "chk_race"); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		start := make(chan struct{})
		wg.Add(3)
		go func() {
			defer wg.Done()
			<-start
			_, intentErrs[r] = st.CreateIntent(ctx, storeIntent(user, "old", "chk_race"))
		}()
		go func() { defer wg.Done(); <-start; took[r], takeErrs[r] = st.TakeOverCart(ctx, user, "old", "new") }()
		go func() { defer wg.Done(); close(start) }()
	}
	wg.Wait()
	intents, takeovers := 0, 0
	for r := range rounds {
		user := fmt.Sprintf("race-%d", r)
		if takeErrs[r] != nil || (intentErrs[r] != nil && !errors.Is(intentErrs[r], errClaimLost)) {
			t.Fatalf("round %d: intent %v, takeover %v", r, intentErrs[r], takeErrs[r])
		}
		pending := queryString(t, db, "SELECT COUNT(*) FROM charge_intents WHERE user_id = ? AND claim_id = 'old' AND state = ?", user, intentPending)
		holder := queryString(t, db, "SELECT claim_id FROM cart_claims WHERE user_id = ?", user)
		wonIntent, wonTakeover := pending == "1", holder == "new"
		if wonIntent == wonTakeover || wonIntent != (intentErrs[r] == nil) || wonTakeover != took[r] {
			t.Fatalf("round %d: %s pending intents of the old claim, the claim held by %q (intent answered %v, takeover %v)",
				r, pending, holder, intentErrs[r], took[r])
		}
		if wonIntent {
			intents++
		} else {
			takeovers++
		}
	}
	t.Logf("%d rounds: the intent won %d, the takeover %d", rounds, intents, takeovers)
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

func mustTakeOver(t *testing.T, st *mysqlStore, user string) {
	t.Helper()
	if took, err := st.TakeOverCart(testkit.Context(t), user, "c1", "c2"); err != nil || !took {
		t.Fatalf("takeover: %v %v", took, err)
	}
}

func mustIntent(t *testing.T, st *mysqlStore, user string) intent {
	t.Helper()
	it := storeIntent(user, "c1", "chk_1")
	var err error
	if it.Reference, err = st.CreateIntent(testkit.Context(t), it); err != nil {
		t.Fatal(err)
	}
	return it
}
