package loadreport

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestEventsRoundTripAndProseIsNoEvent(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if err := WriteEvent(&buf, RunStarted, at); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, line string
		want       Event
		ok         bool
	}{
		{"an event line", string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), Event{Event: RunStarted, At: at}, true},
		{"a progress line", "[   1.0s]     120 req/s  errors 0", Event{}, false},
		{"the human sentence", "the run starts now", Event{}, false},
		{"JSON that is no event", `{"name":"total"}`, Event{}, false},
		{"an empty line", "", Event{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseEvent(tt.line)
			if ok != tt.ok || !got.At.Equal(tt.want.At) || got.Event != tt.want.Event {
				t.Fatalf("ParseEvent(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestReportRoundTripsThroughItsFile(t *testing.T) {
	want := Report{Target: "http://127.0.0.1:8080", VUs: 2, MeasuredSeconds: 1.5,
		Total:  Series{Name: "total", Count: 3, Statuses: map[string]int64{"200": 3}, P99Millis: 4.5},
		Steps:  []Series{{Name: "buyer/checkout", Count: 1, Statuses: map[string]int64{"201": 1}}},
		SignUp: &SignUp{Shoppers: 2, Seconds: 0.5}}
	path := filepath.Join(t.TempDir(), "r.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := want.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read %+v, wrote %+v", got, want)
	}
	if s, ok := got.Step("buyer/checkout"); !ok || s.Statuses["201"] != 1 {
		t.Fatalf("Step(buyer/checkout) = %+v, %v", s, ok)
	}
	if _, ok := got.Step("buyer/orders"); ok {
		t.Fatal("Step found a step the run did not have")
	}
}
