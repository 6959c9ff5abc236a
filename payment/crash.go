package main

import (
	"os"
	"syscall"
)

// crashPoint is the test-only way to make payment die at a named step of the
// checkout (CRASH_AT): the process sends itself SIGKILL there, so no deferred
// call, no rollback and no answer happens, as when a machine loses power. The
// crash tests and the payment-killed drill start payment with it; "" never
// crashes.
type crashPoint string

// The steps of the checkout where payment can be made to die, in order.
const (
	crashAfterClaim   = "after_claim"   // the cart claimed, no intent yet
	crashAfterIntent  = "after_intent"  // the intent committed, the gateway not called
	crashAfterCharge  = "after_charge"  // the card charged, no order
	crashBeforeCommit = "before_commit" // every statement of a transaction sent, not committed
	crashAfterCommit  = "after_commit"  // the order committed, not answered
	crashBeforeSettle = "before_settle" // about to take the order's lines out of the cart
)

var crashPoints = []string{crashAfterClaim, crashAfterIntent, crashAfterCharge, crashBeforeCommit, crashAfterCommit, crashBeforeSettle}

func (c crashPoint) at(point string) {
	if c == "" || string(c) != point {
		return
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	// Still here: this is PID 1 of a container, whose kernel ignores a
	// SIGKILL sent from inside its own namespace. Exiting at once is the same
	// crash: no deferred call runs, and the kernel closes every socket (the
	// database rolls back an open transaction).
	os.Exit(137)
}
