package main

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// What resolving an intent came to.
const (
	resolvedOrdered      = "ordered"       // charged: its order recorded from the intent
	resolvedFailed       = "failed"        // no charge: its key and claim freed
	resolvedRefunded     = "refunded"      // charged, but its order could not be recorded: given back
	resolvedRefundFailed = "refund_failed" // the refund is due and is tried again at the next pass
)

// resolve finishes an intent whose checkout is gone (or ran out of time): it
// asks the gateway what happened under the intent's reference and records the
// order, marks it failed, or refunds. Each move is a conditional update of the
// intent's state, so when two resolvers race one acts and the other answers ""
// with no error. Only intents older than the stale period come here (and a
// refunding one, any age): no call of their checkout can still reach the gateway.
func (co *checkout) resolve(ctx context.Context, it intent) (string, error) {
	outcome, err := co.resolveOnce(ctx, it)
	if outcome == resolvedOrdered || outcome == resolvedFailed { // finishRefund counts its own
		co.resolved.WithLabelValues(outcome).Inc()
	}
	if outcome != "" {
		co.logger.Info("charge intent resolved", "intent", it.ID, "reference", it.Reference, "order_id", it.Order.ID, "outcome", outcome)
	}
	return outcome, err
}

func (co *checkout) resolveOnce(ctx context.Context, it intent) (string, error) {
	if it.State == intentRefunding {
		return co.finishRefund(ctx, it)
	}
	found, err := co.gw.Lookup(ctx, it.Reference)
	switch {
	case errors.Is(err, errNoCharge) || err == nil && found.Status != chargeCaptured:
		moved, err := co.st.FailIntent(ctx, it, nil, co.staleBefore())
		return movedTo(moved, resolvedFailed), err
	case err != nil:
		return "", err
	case found.AmountCents != it.Order.TotalCents || found.Currency != it.Order.Currency:
		// Not the charge this intent asked for: it was never this order's.
		return co.refund(ctx, it, found.ID, co.staleBefore()), nil
	}
	o := it.Order
	o.Payment.ID = found.ID
	body, err := json.Marshal(orderResponse{Order: o})
	if err != nil {
		return "", err
	}
	switch wrote, err := co.recordOrder(ctx, it, o, body); {
	case err == nil:
		return movedTo(wrote, resolvedOrdered), nil
	case errors.Is(err, errClaimLost):
		// The cart is no longer this checkout's (its lines may have changed):
		// its order cannot be recorded, so the money goes back.
		return co.refund(ctx, it, found.ID, co.staleBefore()), nil
	case errors.Is(err, errIntentResolved):
		return "", nil
	default:
		return "", err
	}
}

// staleBefore is when a key, claim or intent last touched earlier is dead.
func (co *checkout) staleBefore() time.Time { return time.Now().Add(-co.Stale) }

func movedTo(moved bool, outcome string) string {
	if moved {
		return outcome
	}
	return ""
}

// refund marks the pending intent as refunding with chargeID and gives the
// money back; a refund that fails stays due and is retried by every pass of
// the reconciler until it succeeds.
func (co *checkout) refund(ctx context.Context, it intent, chargeID string, keyStaleBefore time.Time) string {
	moved, err := co.st.StartRefund(ctx, it, chargeID, keyStaleBefore)
	if err != nil {
		co.logger.Error("charge needs a refund, and its intent could not be marked; the reconciler refunds it",
			"intent", it.ID, "charge_id", chargeID, "error", err.Error())
		return ""
	}
	if !moved {
		return ""
	}
	it.State, it.ChargeID = intentRefunding, chargeID
	outcome, _ := co.finishRefund(ctx, it)
	return outcome
}

func (co *checkout) finishRefund(ctx context.Context, it intent) (string, error) {
	err := co.gw.Refund(ctx, it.ChargeID)
	if err == nil {
		err = co.st.RefundDone(ctx, it.ID)
	}
	if err != nil {
		co.logger.Error("refund failed; it stays due and is tried again", "intent", it.ID, "charge_id", it.ChargeID, "error", err.Error())
		if rerr := co.st.RefundFailed(context.WithoutCancel(ctx), it.ID, err.Error()); rerr != nil {
			co.logger.Error("could not record the failed refund", "intent", it.ID, "error", rerr.Error())
		}
		co.resolved.WithLabelValues(resolvedRefundFailed).Inc()
		return resolvedRefundFailed, err
	}
	co.resolved.WithLabelValues(resolvedRefunded).Inc()
	co.logger.Info("charge refunded", "intent", it.ID, "charge_id", it.ChargeID, "order_id", it.Order.ID)
	return resolvedRefunded, nil
}

// reconcileOnce resolves every open intent: pending ones older than the stale
// period, and refunds still due. It returns how many came to each outcome.
func (co *checkout) reconcileOnce(ctx context.Context) (map[string]int, error) {
	done := map[string]int{}
	open, err := co.st.OpenIntents(ctx, co.staleBefore(), 100)
	for _, it := range open {
		outcome, rerr := co.resolve(ctx, it)
		if outcome != "" {
			done[outcome]++
		}
		if rerr != nil && outcome == "" {
			err = errors.Join(err, rerr)
		}
	}
	if pending, refunding, cerr := co.st.OpenIntentCounts(ctx); cerr == nil {
		co.open.WithLabelValues(intentPending).Set(float64(pending))
		co.open.WithLabelValues(intentRefunding).Set(float64(refunding))
	} else {
		err = errors.Join(err, cerr)
	}
	return done, err
}

// reconcile resolves open intents as soon as ready (the schema is in place)
// and then every Reconcile, until ctx ends.
func (co *checkout) reconcile(ctx context.Context, ready func() error) {
	for {
		wait := 250 * time.Millisecond
		if ready() == nil {
			wait = co.Reconcile
			pass, cancel := context.WithTimeout(ctx, co.Reconcile)
			if _, err := co.reconcileOnce(pass); err != nil && ctx.Err() == nil {
				co.logger.Warn("reconciliation pass incomplete; the next one tries again", "error", err.Error())
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
