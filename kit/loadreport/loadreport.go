// Package loadreport is the load generator's output, as data: the report its
// -json flag writes, and the event lines its -events flag writes to stderr.
// The load generator, the bench and the compose check all read and write it
// through these types, so none of them keeps a copy of the shape.
package loadreport

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// Series is one endpoint's or journey step's (or all requests') figures,
// over the measured part of the run.
type Series struct {
	Name       string           `json:"name"`
	Count      int64            `json:"count"`
	Errors     int64            `json:"errors"`
	Expected   int64            `json:"expected_non_2xx"`
	Limited    int64            `json:"rate_limited"`
	Statuses   map[string]int64 `json:"statuses"`
	PerSecond  float64          `json:"per_second"`
	P50Millis  float64          `json:"p50_ms"`
	P90Millis  float64          `json:"p90_ms"`
	P99Millis  float64          `json:"p99_ms"`
	MaxMillis  float64          `json:"max_ms"`
	MeanMillis float64          `json:"mean_ms"`
}

// SignUp is the shoppers' registration before the clock starts.
type SignUp struct {
	Shoppers int     `json:"shoppers"`
	Seconds  float64 `json:"seconds"`
	Register Series  `json:"register"`
}

// Report is a whole run.
type Report struct {
	Target string `json:"target"`
	VUs    int    `json:"vus"`
	// Rate is the open loop's journeys started per second (loadgen -rate);
	// 0: a closed loop of VUs users.
	Rate            float64  `json:"rate,omitempty"`
	Seed            int64    `json:"seed"`
	MeasuredSeconds float64  `json:"measured_seconds"`
	Total           Series   `json:"total"`
	Endpoints       []Series `json:"endpoints"`
	Steps           []Series `json:"steps"`
	SignUp          *SignUp  `json:"sign_up,omitempty"`
}

// Step is the named journey step's figures, and whether the run had it.
func (r Report) Step(name string) (Series, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return Series{}, false
}

// Read reads a report that -json wrote.
func Read(path string) (Report, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Report{}, err
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return Report{}, fmt.Errorf("load report %s: %w", path, err)
	}
	return r, nil
}

// Write writes r as -json does.
func (r Report) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// The events of a run, in order: the shoppers are signed up and the clock
// starts (a caller measuring alongside starts its own clocks), then the
// last request has been answered.
const (
	RunStarted = "run-started"
	RunEnded   = "run-ended"
)

// Event is one line of -events output: a JSON object on a line of its own.
type Event struct {
	Event string    `json:"event"`
	At    time.Time `json:"at"`
}

// WriteEvent writes the event as one line.
func WriteEvent(w io.Writer, event string, at time.Time) error {
	line, err := json.Marshal(Event{Event: event, At: at})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}

// ParseEvent reads a line of a run's stderr: the event, when the line is
// one, and false for every other line (the human progress lines among them).
func ParseEvent(line string) (Event, bool) {
	var e Event
	if len(line) == 0 || line[0] != '{' || json.Unmarshal([]byte(line), &e) != nil || e.Event == "" {
		return Event{}, false
	}
	return e, true
}
