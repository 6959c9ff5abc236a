package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckJourney(t *testing.T) {
	const clean = `{"total":{"name":"total","count":11,"errors":0,"statuses":{"200":8,"201":3}},
		"steps":[{"name":"buyer/checkout","count":1,"statuses":{"201":1}},{"name":"buyer/orders","count":1,"statuses":{"200":1}}]}`
	for _, tc := range []struct {
		name, report, wantErr string
	}{
		{"an approved checkout and its history", clean, ""},
		{"any unexpected answer", strings.Replace(clean, `"errors":0`, `"errors":1`, 1), "1 errors"},
		{"no requests at all", `{"total":{"count":0}}`, "0 requests"},
		{"a declined checkout only", strings.Replace(clean, `"statuses":{"201":1}`, `"statuses":{"402":1}`, 1), "no approved checkout"},
		{"no order history", strings.Replace(clean, `"statuses":{"200":1}}]`, `"statuses":{}}]`, 1), "order history"},
		{"not a report", `[`, "load report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journey.json")
			if err := os.WriteFile(path, []byte(tc.report), 0o644); err != nil {
				t.Fatal(err)
			}
			err := checkJourney(path, io.Discard)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("checkJourney: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("checkJourney = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
