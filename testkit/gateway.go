package testkit

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// StartCardGateway starts the card gateway stand-in (payment/cmd/cardgateway)
// for one test, its ledger in a directory of the test's own, so that it
// outlives any payment process the test kills; Kill and Start keep the ledger.
// Its base URL is "http://" + Addr().
func StartCardGateway(t testing.TB) *Process {
	t.Helper()
	return ownProcess(t, func(dir string, port int) (*Process, error) {
		bin, err := binary("cardgateway")
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		p := &Process{name: bin, addr: addr, dir: dir}
		p.env = append(os.Environ(), "LISTEN_ADDR="+addr, "LEDGER="+filepath.Join(dir, "ledger.jsonl"))
		return p, nil
	})
}

// LedgerCharge is one charge of the gateway's ledger.
type LedgerCharge struct {
	ID          string `json:"id"`
	Reference   string `json:"reference"`
	AmountCents int64  `json:"amount_cents"`
	Status      string `json:"status"` // captured, declined, refunded
}

// Ledger reads the gateway's whole ledger.
func Ledger(t testing.TB, gateway *Process) []LedgerCharge {
	t.Helper()
	code, body := Send(t, "http://"+gateway.Addr(), Request{Method: http.MethodGet, Path: "/v1/charges"})
	if code != http.StatusOK {
		t.Fatalf("gateway ledger: %d %s", code, body)
	}
	return Decode[struct{ Charges []LedgerCharge }](t, body).Charges
}

// String is a charge as a failure message shows it.
func (c LedgerCharge) String() string {
	return fmt.Sprintf("%s %s %d %s", c.ID, c.Reference, c.AmountCents, c.Status)
}
