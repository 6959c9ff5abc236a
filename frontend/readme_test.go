package frontend

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// readmeAPIBlock is the README's "Trying the API" walk-through: its shell
// blocks but the one that sets API.
func readmeAPIBlock(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Trying the API\n")
	if !ok {
		t.Fatal("the README has no section ## Trying the API")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var script []string
	for _, block := range strings.Split(section, "```sh\n")[1:] {
		code, _, _ := strings.Cut(block, "```")
		if !strings.HasPrefix(code, "API=") {
			script = append(script, code)
		}
	}
	if len(script) == 0 {
		t.Fatal("no shell block in the README's ## Trying the API")
	}
	return strings.Join(script, "\n")
}

// TestREADMEAPIWalkThroughRunsTwice runs the README's API examples through
// nginx, as a reader pastes them, twice in a row: each run checks out one
// more order (the second logs in where the first registered, and takes keys
// of its own rather than replaying the first run's).
func TestREADMEAPIWalkThroughRunsTwice(t *testing.T) {
	t.Parallel()
	base := startNginx(t, sharedUpstreams(t))
	email := fmt.Sprintf("ada-%d@example.com", time.Now().UnixNano())
	script := strings.ReplaceAll(readmeAPIBlock(t), "ada@example.com", email)
	for run := 1; run <= 2; run++ {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Env = append(os.Environ(), "API="+base+"/api")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out)
		}
		// Every example answers JSON (curl adds no newline); the last lists the orders.
		var orders struct {
			Total int `json:"total"`
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		var last json.RawMessage
		for dec.More() {
			if err := dec.Decode(&last); err != nil {
				t.Fatalf("run %d: answers that are not JSON (%v):\n%s", run, err, out)
			}
		}
		if err := json.Unmarshal(last, &orders); err != nil || orders.Total != run {
			t.Fatalf("run %d: the orders listed %+v (%v), want %d:\n%s", run, orders, err, run, out)
		}
	}
}
