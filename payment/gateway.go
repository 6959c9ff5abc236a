package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
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

var (
	errDeclined = errors.New("card declined")
	// errNoCharge: the gateway holds no charge under the reference asked for.
	errNoCharge = errors.New("no charge under this reference")
)

// ChargeState is what a gateway holds under a reference.
type ChargeState struct {
	ID          string
	AmountCents int64
	Currency    string
	Status      string // chargeCaptured, chargeDeclined or chargeRefunded
}

const (
	chargeCaptured = "captured"
	chargeDeclined = "declined"
	chargeRefunded = "refunded"
)

// Gateway is the card processor: the stand-in process (cmd/cardgateway, spoken
// to over HTTP) or, where GATEWAY_URL is unset, the in-process simulator.
type Gateway interface {
	// Charge returns the charge id, or errDeclined. Any other error leaves the
	// outcome unknown (Lookup tells), except errGatewayRefused.
	Charge(ctx context.Context, req ChargeRequest) (string, error)
	// Lookup returns what the gateway holds under reference, or errNoCharge.
	Lookup(ctx context.Context, reference string) (ChargeState, error)
	// Refund gives a charge back; refunding a refunded charge succeeds.
	Refund(ctx context.Context, chargeID string) error
}

// Simulator test cards, as documented by common gateways.
const (
	cardApproved = "4242424242424242"
	cardDeclined = "4000000000000002"
)

// simulator approves every valid card but cardDeclined, remembering charges by
// reference the way a real gateway's idempotency keys do. It lives and dies
// with payment, so it is a toy: a charge it made is forgotten on a restart.
type simulator struct {
	mu       sync.Mutex
	byRef    map[string]*ChargeState
	charges  int // charges actually made, for tests
	refunded int
}

func newSimulator() *simulator {
	return &simulator{byRef: map[string]*ChargeState{}}
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
	if c, ok := s.byRef[req.Reference]; ok {
		if c.Status != chargeCaptured || c.AmountCents != req.AmountCents {
			return "", fmt.Errorf("reference %s: %s for %d cents: %w", req.Reference, c.Status, c.AmountCents, errGatewayRefused)
		}
		return c.ID, nil
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	id := "ch_" + hex.EncodeToString(b)
	s.byRef[req.Reference] = &ChargeState{ID: id, AmountCents: req.AmountCents, Currency: req.Currency, Status: chargeCaptured}
	s.charges++
	return id, nil
}

func (s *simulator) Lookup(ctx context.Context, reference string) (ChargeState, error) {
	if err := ctx.Err(); err != nil {
		return ChargeState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.byRef[reference]; ok {
		return *c, nil
	}
	return ChargeState{}, errNoCharge
}

func (s *simulator) Refund(_ context.Context, chargeID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.byRef {
		if c.ID == chargeID && c.Status == chargeCaptured {
			c.Status = chargeRefunded
			s.refunded++
		}
	}
	return nil
}

// Charges reports how many charges were made and how many refunded.
func (s *simulator) Charges() (made, refunded int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.charges, s.refunded
}

// errGatewayRefused: the charge certainly was not made (the drill's failing
// gateway refused it before sending it, or the gateway refused the reference).
var errGatewayRefused = errors.New("card gateway refused the charge")

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
		return "", errGatewayRefused
	}
	return g.Gateway.Charge(ctx, req)
}

func (g faultyGateway) Lookup(ctx context.Context, reference string) (ChargeState, error) {
	if err := kit.Sleep(ctx, g.latency); err != nil {
		return ChargeState{}, err
	}
	return g.Gateway.Lookup(ctx, reference)
}

func (g faultyGateway) Refund(ctx context.Context, chargeID string) error {
	if err := kit.Sleep(ctx, g.latency); err != nil {
		return err
	}
	return g.Gateway.Refund(ctx, chargeID)
}

// httpGateway speaks to the card gateway stand-in (cmd/cardgateway) as to a
// real processor: a charge carries its reference, so sending it again can
// never charge twice; nothing here retries a charge on its own.
type httpGateway struct {
	base string
	http *http.Client
}

type gatewayCharge struct {
	ID          string `json:"id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	Status      string `json:"status"`
}

func (g *httpGateway) Charge(ctx context.Context, req ChargeRequest) (string, error) {
	body := map[string]any{"reference": req.Reference, "amount_cents": req.AmountCents, "currency": req.Currency,
		"card": map[string]any{"number": req.Card.Number, "exp_month": req.Card.ExpMonth, "exp_year": req.Card.ExpYear, "cvc": req.Card.CVC}}
	var c gatewayCharge
	err := kit.Call(ctx, g.http, kit.CallOptions{Method: http.MethodPost, URL: g.base + "/v1/charges", Body: body}, &c)
	var status *kit.RemoteStatusError
	switch {
	case errors.As(err, &status) && status.Status == http.StatusPaymentRequired:
		return "", errDeclined
	case errors.As(err, &status):
		return "", fmt.Errorf("%w: %w", errGatewayRefused, err) // it answered, and made nothing
	case err != nil:
		return "", err
	case c.Status != chargeCaptured:
		return "", fmt.Errorf("reference %s is %s: %w", req.Reference, c.Status, errGatewayRefused)
	}
	return c.ID, nil
}

func (g *httpGateway) Lookup(ctx context.Context, reference string) (ChargeState, error) {
	var c gatewayCharge
	err := kit.Call(ctx, g.http, kit.CallOptions{Method: http.MethodGet, URL: g.base + "/v1/charges/" + url.PathEscape(reference), Retries: 2}, &c)
	if errors.Is(err, kit.ErrRemoteNotFound) {
		return ChargeState{}, errNoCharge
	}
	return ChargeState(c), err
}

func (g *httpGateway) Refund(ctx context.Context, chargeID string) error {
	return kit.Call(ctx, g.http, kit.CallOptions{Method: http.MethodPost, URL: g.base + "/v1/charges/" + url.PathEscape(chargeID) + "/refund", Retries: 2}, nil)
}
