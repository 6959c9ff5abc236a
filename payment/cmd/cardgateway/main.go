// Command cardgateway stands in for the card processor that payment charges
// (Roboshop does not own one): its own process with a durable ledger, spoken to
// over HTTP the way real gateways are, so that payment can die at any instant
// and find out afterwards what happened to a charge.
//
//	POST /v1/charges               {reference, amount_cents, currency, card}: 201 a new charge,
//	                               200 the one made before under that reference (same amount),
//	                               402 declined, 409 the reference was used for another amount
//	GET  /v1/charges/{reference}   the charge made under reference, 404 none
//	POST /v1/charges/{id}/refund   the charge, refunded (again: the same answer)
//	GET  /v1/charges               the whole ledger, oldest first
//
// Test cards as common gateways document them: 4000 0000 0000 0002 is
// declined, every other valid number approved. The ledger is a file of JSON
// lines (LEDGER), each the whole state of one charge after a change, written
// and fsynced before the answer; the last line of a charge wins on start.
//
//	cardgateway              serve on LISTEN_ADDR (:8080)
//	cardgateway healthcheck  probe the local /healthz (the image's health check)
//	cardgateway ledger       print the local GET /v1/charges (a drill reads it)
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"sync"
	"syscall"
	"time"
)

const declinedCard = "4000000000000002"

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "healthcheck" || os.Args[1] == "ledger") {
		path, out := "/healthz", io.Discard
		if os.Args[1] == "ledger" {
			path, out = "/v1/charges", io.Writer(os.Stdout)
		}
		if err := getLocal(os.Getenv("LISTEN_ADDR"), path, out); err != nil {
			fmt.Fprintln(os.Stderr, os.Args[1]+":", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	logger := slog.New(slog.NewJSONHandler(stdout, nil)).With("service", "cardgateway")
	path := getenv("LEDGER")
	if path == "" {
		return errors.New("LEDGER: set it to the ledger file's path")
	}
	addr := getenv("LISTEN_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	l, err := openLedger(path)
	if err != nil {
		return err
	}
	defer l.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: l.routes(logger), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10}
	logger.Info("listening", "addr", ln.Addr().String(), "charges", len(l.byID))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// charge is one line of the ledger and one answer of the API.
type charge struct {
	ID          string     `json:"id"`
	Reference   string     `json:"reference"`
	AmountCents int64      `json:"amount_cents"`
	Currency    string     `json:"currency"`
	Status      string     `json:"status"` // captured, declined, refunded
	Last4       string     `json:"last4"`
	CreatedAt   time.Time  `json:"created_at"`
	RefundedAt  *time.Time `json:"refunded_at,omitempty"`
}

type ledger struct {
	mu    sync.Mutex
	file  *os.File
	byID  map[string]*charge
	byRef map[string]*charge
}

func openLedger(path string) (*ledger, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	l := &ledger{file: f, byID: map[string]*charge{}, byRef: map[string]*charge{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var c charge
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			// A line cut short by a crash mid-write was never answered: skip it.
			continue
		}
		l.byID[c.ID], l.byRef[c.Reference] = &c, &c
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	return l, nil
}

func (l *ledger) Close() error { return l.file.Close() }

// write appends c's state and syncs it to disk before anyone is told.
func (l *ledger) write(c *charge) error {
	line, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := l.file.Write(append(line, '\n')); err != nil {
		return err
	}
	return l.file.Sync()
}

var (
	referencePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	digits           = regexp.MustCompile(`^[0-9]{12,19}$`)
)

type chargeRequest struct {
	Reference   string `json:"reference"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	Card        struct {
		Number string `json:"number"`
	} `json:"card"`
}

func (l *ledger) routes(logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		answer(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /v1/charges", func(w http.ResponseWriter, _ *http.Request) {
		l.mu.Lock()
		all := make([]charge, 0, len(l.byID))
		for _, c := range l.byID {
			all = append(all, *c)
		}
		l.mu.Unlock()
		sort.Slice(all, func(i, j int) bool { return all[i].CreatedAt.Before(all[j].CreatedAt) })
		answer(w, http.StatusOK, map[string]any{"charges": all})
	})
	mux.HandleFunc("GET /v1/charges/{reference}", func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		c, ok := l.byRef[r.PathValue("reference")]
		var found charge
		if ok {
			found = *c
		}
		l.mu.Unlock()
		if !ok {
			refuse(w, http.StatusNotFound, "no_such_charge", "no charge under this reference")
			return
		}
		answer(w, http.StatusOK, found)
	})
	mux.HandleFunc("POST /v1/charges", func(w http.ResponseWriter, r *http.Request) {
		var req chargeRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10)).Decode(&req); err != nil {
			refuse(w, http.StatusBadRequest, "malformed_json", "the body must be a JSON charge request")
			return
		}
		if !referencePattern.MatchString(req.Reference) || req.AmountCents <= 0 || req.AmountCents > 1_000_000_000 ||
			len(req.Currency) != 3 || !digits.MatchString(req.Card.Number) {
			refuse(w, http.StatusBadRequest, "invalid_request", "reference, amount_cents (1 to 10^9), currency and card.number are required")
			return
		}
		status, c, err := l.charge(req)
		if err != nil {
			logger.Error("ledger write failed", "error", err.Error())
			refuse(w, http.StatusServiceUnavailable, "ledger_unavailable", "the charge was not made")
			return
		}
		switch {
		case status == http.StatusConflict:
			refuse(w, status, "idempotency_conflict", "this reference was used for another amount")
		case c.Status == "declined":
			refuse(w, http.StatusPaymentRequired, "card_declined", "the card was declined")
		default:
			answer(w, status, c)
		}
	})
	mux.HandleFunc("POST /v1/charges/{id}/refund", func(w http.ResponseWriter, r *http.Request) {
		c, err := l.refund(r.PathValue("id"))
		switch {
		case errors.Is(err, errNoCharge):
			refuse(w, http.StatusNotFound, "no_such_charge", "no captured charge with this id")
		case err != nil:
			logger.Error("ledger write failed", "error", err.Error())
			refuse(w, http.StatusServiceUnavailable, "ledger_unavailable", "the refund was not made")
		default:
			answer(w, http.StatusOK, c)
		}
	})
	return mux
}

var errNoCharge = errors.New("no such charge")

// charge makes the charge req asks for, or returns the one its reference made.
func (l *ledger) charge(req chargeRequest) (int, charge, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.byRef[req.Reference]; ok {
		if c.AmountCents != req.AmountCents || c.Currency != req.Currency {
			return http.StatusConflict, charge{}, nil
		}
		return http.StatusOK, *c, nil
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	c := &charge{ID: "ch_" + hex.EncodeToString(b), Reference: req.Reference, AmountCents: req.AmountCents,
		Currency: req.Currency, Status: "captured", Last4: req.Card.Number[len(req.Card.Number)-4:],
		CreatedAt: time.Now().UTC()}
	if req.Card.Number == declinedCard {
		c.Status = "declined"
	}
	if err := l.write(c); err != nil {
		return 0, charge{}, err
	}
	l.byID[c.ID], l.byRef[c.Reference] = c, c
	return http.StatusCreated, *c, nil
}

// refund gives a captured charge back; a refunded one is answered as it is.
func (l *ledger) refund(id string) (charge, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.byID[id]
	if !ok || c.Status == "declined" {
		return charge{}, errNoCharge
	}
	if c.Status == "refunded" {
		return *c, nil
	}
	next := *c
	now := time.Now().UTC()
	next.Status, next.RefundedAt = "refunded", &now
	if err := l.write(&next); err != nil {
		return charge{}, err
	}
	*c = next
	return next, nil
}

func answer(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func refuse(w http.ResponseWriter, status int, code, message string) {
	answer(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// getLocal copies the local gateway's answer to GET path to out; it fails unless 200.
func getLocal(listen, path string, out io.Writer) error {
	if listen == "" {
		listen = ":8080"
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR %q: %w", listen, err)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + port + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	_, err = io.Copy(out, resp.Body)
	return err
}
