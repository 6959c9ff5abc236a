package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	mathrand "math/rand/v2"
	"sync"
	"time"

	"github.com/roboshop-go/roboshop/kit"
)

// ChargeRequest asks a gateway to take Amount from Card. Reference makes the
// charge idempotent: the same reference never charges twice.
type ChargeRequest struct {
	Reference   string
	AmountCents int64
	Currency    string
	Card        Card
}

var errDeclined = errors.New("card declined")

// Gateway is the card processor. The built-in simulator stands in for a real one.
type Gateway interface {
	// Charge returns the charge id, or errDeclined.
	Charge(ctx context.Context, req ChargeRequest) (string, error)
	// Refund gives a charge back (used when the order could not be recorded).
	Refund(ctx context.Context, chargeID string) error
}

// Simulator test cards, as documented by common gateways.
const (
	cardApproved = "4242424242424242"
	cardDeclined = "4000000000000002"
)

// simulator approves every valid card but cardDeclined, remembering charges by
// reference the way a real gateway's idempotency keys do.
type simulator struct {
	mu       sync.Mutex
	byRef    map[string]string // reference -> charge id
	charges  int               // charges actually made, for tests
	refunded map[string]bool
}

func newSimulator() *simulator {
	return &simulator{byRef: map[string]string{}, refunded: map[string]bool{}}
}

func (s *simulator) Charge(ctx context.Context, req ChargeRequest) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if req.Card.Number == cardDeclined {
		return "", errDeclined
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byRef[req.Reference]; ok {
		return id, nil
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	id := "ch_" + hex.EncodeToString(b)
	s.byRef[req.Reference] = id
	s.charges++
	return id, nil
}

func (s *simulator) Refund(_ context.Context, chargeID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ref, id := range s.byRef {
		if id == chargeID {
			delete(s.byRef, ref) // a retry under the same reference charges anew
		}
	}
	s.refunded[chargeID] = true
	return nil
}

// Charges reports how many charges were made and how many refunded.
func (s *simulator) Charges() (made, refunded int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.charges, len(s.refunded)
}

// errGatewayUnavailable is a charge the failing gateway of a drill refused.
var errGatewayUnavailable = errors.New("card gateway unavailable")

// faultyGateway is a drill's slow or failing card gateway (GATEWAY_LATENCY,
// GATEWAY_FAILURE_PERCENT): every call waits latency first, and failPercent of
// the charges fail before they reach the gateway, so nothing is charged and
// the checkout answers 503 with the cart and the key released.
type faultyGateway struct {
	Gateway
	latency     time.Duration
	failPercent int
	roll        func() int // 0–99
}

// withFaults is gw with the drill's faults, or gw itself when there are none.
func withFaults(gw Gateway, latency time.Duration, failPercent int) Gateway {
	if latency == 0 && failPercent == 0 {
		return gw
	}
	return faultyGateway{Gateway: gw, latency: latency, failPercent: failPercent, roll: func() int { return mathrand.IntN(100) }}
}

func (g faultyGateway) Charge(ctx context.Context, req ChargeRequest) (string, error) {
	if err := kit.Sleep(ctx, g.latency); err != nil {
		return "", err
	}
	if g.roll() < g.failPercent {
		return "", errGatewayUnavailable
	}
	return g.Gateway.Charge(ctx, req)
}

func (g faultyGateway) Refund(ctx context.Context, chargeID string) error {
	if err := kit.Sleep(ctx, g.latency); err != nil {
		return err
	}
	return g.Gateway.Refund(ctx, chargeID)
}
