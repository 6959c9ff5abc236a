package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The drill's payment: a dead checkout is taken over after 10 s (not the
// default minute), and CRASH_AT makes payment SIGKILL itself at that step of
// the checkout (payment/crash.go).
const killedStale = "CHECKOUT_STALE_AFTER=10s"

var paymentKilled = scenario{
	about: "payment is SIGKILLed after the card was charged and before the order was recorded (CRASH_AT=after_charge); " +
		"started again, it finds the charge in the gateway's ledger and records the order from its intent: one charge, one order",
	look: "payment's log (charge intent resolved, outcome ordered) and metrics (roboshop_charge_intents_resolved_total, " +
		"roboshop_charge_intents_open); the gateway's ledger (docker compose exec card-gateway /app ledger) against MariaDB's charge_intents, orders and payments",
	needs: "compose",
	run: func(ctx context.Context, d *drill) error {
		shopper, err := d.http.shopperWithCart(ctx)
		if err != nil {
			return err
		}
		before, err := d.ledger(ctx)
		if err != nil {
			return err
		}
		return restoring(func() error {
			if err := d.recreatePayment(ctx, killedStale, "CRASH_AT=after_charge"); err != nil {
				return err
			}
			body, status, answer, err := d.http.quotedCheckout(ctx, shopper)
			if err != nil || status != http.StatusOK {
				return fmt.Errorf("the quote: %d %s %v", status, answer, err)
			}
			status, _, err = d.http.postCheckout(ctx, shopper, "drill-killed-1", body)
			if err == nil && status != http.StatusBadGateway {
				return fmt.Errorf("the checkout answered %d; payment should have died mid-way (nginx answers 502)", status)
			}
			step("payment died mid-checkout: %s", describe(status, err))
			after, err := d.ledger(ctx)
			if err != nil {
				return err
			}
			charged := newCharges(before, after)
			if len(charged) != 1 || charged[0].Status != "captured" {
				return fmt.Errorf("the gateway's ledger gained %v; want the one captured charge", charged)
			}
			charge := charged[0]
			intent, err := d.paymentSQL(ctx, "SELECT state, order_id FROM charge_intents WHERE reference = '"+charge.Reference+"'")
			if err != nil {
				return err
			}
			step("charged %s (%d cents, reference %s); payment's intent: %s; no order yet", charge.ID, charge.AmountCents, charge.Reference, intent)
			// Docker restarts the dead container with the crash still set:
			// payment is made again without it before anyone checks out.
			if err := d.recreatePayment(ctx, killedStale); err != nil {
				return err
			}
			// The retry resends the same request, as the UI and the load generator do.
			status, answer, err = d.http.checkoutUntilAnswered(ctx, shopper, "drill-killed-1", body)
			if err != nil {
				return err
			}
			if status != http.StatusCreated || !strings.Contains(answer, charge.ID) {
				return fmt.Errorf("the retry with the same key: %d %s; want 201 with charge %s", status, answer, charge.ID)
			}
			step("the retry with the same key: 201, the order paid by %s", charge.ID)
			// A new checkout quotes first: the cart was settled, so the quote
			// (or the checkout) says the cart is empty.
			if body, status, answer, err = d.http.quotedCheckout(ctx, shopper); err == nil && status == http.StatusOK {
				status, answer, err = d.http.checkoutUntilAnswered(ctx, shopper, "drill-killed-2", body)
			}
			if err != nil {
				return err
			}
			if status != http.StatusUnprocessableEntity || !strings.Contains(answer, "cart_empty") {
				return fmt.Errorf("a new checkout: %d %s; want 422 cart_empty", status, answer)
			}
			step("a new checkout: 422 cart_empty (the order's lines were taken out of the cart)")
			return d.reconcileCharge(ctx, before, charge)
		}, func() error {
			return d.recreatePayment(ctx)
		})
	},
}

// recreatePayment makes payment's container again with env, and has nginx
// resolve its name again (a new container may get another address).
func (d *drill) recreatePayment(ctx context.Context, env ...string) error {
	if err := d.composeRun(ctx, env, "up", "-d", "--no-deps", "--wait", "--force-recreate", "payment"); err != nil {
		return err
	}
	return d.composeRun(ctx, nil, "exec", "-T", "frontend", "nginx", "-s", "reload")
}

// reconcileCharge prints and checks the reconciliation of the drill's charge
// against every store: the gateway's ledger (one charge since the drill
// began, captured, not refunded), MariaDB (its intent ordered, one order
// whose payment is that charge, for its amount).
func (d *drill) reconcileCharge(ctx context.Context, before []ledgerCharge, charge ledgerCharge) error {
	after, err := d.ledger(ctx)
	if err != nil {
		return err
	}
	charged := newCharges(before, after)
	row, err := d.paymentSQL(ctx, `SELECT i.state, COUNT(o.id), COALESCE(SUM(p.amount_cents), 0), COALESCE(MAX(p.id), '')
		FROM charge_intents i LEFT JOIN orders o ON o.id = i.order_id LEFT JOIN payments p ON p.order_id = o.id
		WHERE i.reference = '`+charge.Reference+`' GROUP BY i.id, i.state`)
	if err != nil {
		return err
	}
	want := fmt.Sprintf("ordered\t1\t%d\t%s", charge.AmountCents, charge.ID)
	fmt.Printf("  reconciliation of reference %s:\n", charge.Reference)
	fmt.Printf("    | store | holds |\n    |---|---|\n")
	for _, c := range charged {
		fmt.Printf("    | gateway ledger | %s %s %d cents |\n", c.ID, c.Status, c.AmountCents)
	}
	fmt.Printf("    | MariaDB (intent state, orders, paid cents, payment) | %s |\n", strings.ReplaceAll(row, "\t", ", "))
	switch {
	case len(charged) != 1 || charged[0].ID != charge.ID || charged[0].Status != "captured":
		return fmt.Errorf("the ledger gained %v since the drill began; want %s alone, captured", charged, charge.ID)
	case row != want:
		return fmt.Errorf("MariaDB holds %q for the reference; want %q", row, want)
	}
	step("one charge, one order, its payment that charge: reconciled")
	return nil
}

func describe(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d from nginx", status)
}

// ledgerCharge is one charge of the card gateway's ledger.
type ledgerCharge struct {
	ID          string `json:"id"`
	Reference   string `json:"reference"`
	AmountCents int64  `json:"amount_cents"`
	Status      string `json:"status"`
}

// ledger is the card gateway's whole ledger, read inside its container.
func (d *drill) ledger(ctx context.Context) ([]ledgerCharge, error) {
	out, err := d.composeOutput(ctx, "exec", "-T", "card-gateway", "/app", "ledger")
	if err != nil {
		return nil, err
	}
	var page struct {
		Charges []ledgerCharge `json:"charges"`
	}
	if err := json.Unmarshal(out, &page); err != nil {
		return nil, fmt.Errorf("the gateway's ledger: %w", err)
	}
	return page.Charges, nil
}

func newCharges(before, after []ledgerCharge) []ledgerCharge {
	var added []ledgerCharge
	for _, c := range after {
		if !slices.ContainsFunc(before, func(b ledgerCharge) bool { return b.ID == c.ID }) {
			added = append(added, c)
		}
	}
	return added
}

// paymentSQL runs one query on payment's database as its application user,
// inside the MySQL container, and returns its rows (tab-separated, no header).
func (d *drill) paymentSQL(ctx context.Context, query string) (string, error) {
	out, err := d.composeOutput(ctx, "exec", "-T", "payment-mysql", "sh", "-c",
		`MYSQL_PWD="$MYSQL_PASSWORD" exec mysql -h127.0.0.1 -u"$MYSQL_USER" "$MYSQL_DATABASE" -N -B -e "$0"`, query)
	return strings.TrimSpace(string(out)), err
}

func (d *drill) composeOutput(ctx context.Context, args ...string) ([]byte, error) {
	cmd := d.composeCmd(ctx, nil, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v\n%s", strings.Join(d.compose, " "), strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// shopperWithCart is a registered shopper's token with two products in the cart.
func (c *shopClient) shopperWithCart(ctx context.Context) (string, error) {
	token, err := c.register(ctx)
	if err != nil {
		return "", err
	}
	return token, c.fillCart(ctx, token)
}

// quotedCheckout quotes token's cart and returns the checkout body for the
// quoted total; a quote that is not 200 comes back as its status and body.
func (c *shopClient) quotedCheckout(ctx context.Context, token string) (map[string]any, int, string, error) {
	var quote struct {
		TotalCents int64 `json:"total_cents"`
	}
	if err := c.call(ctx, http.MethodGet, "/api/payment/checkout/quote", token, nil, nil, &quote); err != nil {
		var se *statusError
		if errors.As(err, &se) {
			return nil, se.status, se.body, nil
		}
		return nil, 0, "", err
	}
	return checkoutBody(quote.TotalCents), http.StatusOK, "", nil
}

// postCheckout sends one checkout of body with key: the status and body (0
// and the error when no answer came).
func (c *shopClient) postCheckout(ctx context.Context, token, key string, body map[string]any) (int, string, error) {
	var answer json.RawMessage
	err := c.call(ctx, http.MethodPost, "/api/payment/checkout", token, map[string]string{"Idempotency-Key": key}, body, &answer)
	var se *statusError
	switch {
	case errors.As(err, &se):
		return se.status, se.body, nil
	case err != nil:
		return 0, "", err
	}
	return http.StatusCreated, string(answer), nil
}

// checkoutUntilAnswered resends the same checkout with key as the UI does,
// until the answer is definitive (not a 5xx, not a 409 for a checkout still
// in progress), for at most a minute.
func (c *shopClient) checkoutUntilAnswered(ctx context.Context, token, key string, request map[string]any) (int, string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		status, body, err := c.postCheckout(ctx, token, key, request)
		inProgress := status == http.StatusConflict && strings.Contains(body, "checkout_in_progress")
		if err == nil && status < 500 && !inProgress {
			return status, body, nil
		}
		if time.Now().After(deadline) {
			return 0, "", fmt.Errorf("checkout with key %s: no definitive answer within a minute (last %d %s %v)", key, status, body, err)
		}
		select {
		case <-ctx.Done():
			return 0, "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
