package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestMemoryIsWhatTheCgroupHoldsLessDroppableCache: the engine's stats on
// cgroup v1 and v2 (their shapes as the engine sends them) give the memory
// docker stats shows.
func TestMemoryIsWhatTheCgroupHoldsLessDroppableCache(t *testing.T) {
	tests := []struct {
		name, body string
		want       int64
	}{
		{"cgroup v1", `{"memory_stats": {"usage": 10485760, "stats": {"total_inactive_file": 2097152, "cache": 3145728, "rss": 7340032}}}`, 8388608},
		{"cgroup v2", `{"memory_stats": {"usage": 10485760, "stats": {"inactive_file": 1048576, "anon": 9437184}}}`, 9437184},
		{"no page cache figures", `{"memory_stats": {"usage": 4096}}`, 4096},
		{"a cache figure above the usage is not believed", `{"memory_stats": {"usage": 4096, "stats": {"total_inactive_file": 8192}}}`, 4096},
		{"a stopped container", `{"memory_stats": {}}`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st stats
			if err := json.Unmarshal([]byte(tc.body), &st); err != nil {
				t.Fatal(err)
			}
			if got := st.memory(); got != tc.want {
				t.Fatalf("memory() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMarkdownNamesEveryContainerAndTheTotals(t *testing.T) {
	rep := Report{Label: "at rest", Containers: []Container{
		{Service: "cart", Image: "roboshop/cart:dev", MemoryBytes: 6 << 20, ImageBytes: 12_000_000},
		{Service: "cart-redis", Image: "redis:7", MemoryBytes: 3 << 20, ImageBytes: 40_000_000},
	}, TotalMemoryBytes: 9 << 20, TotalImageBytes: 52_000_000}
	var out bytes.Buffer
	writeMarkdown(&out, rep)
	for _, want := range []string{"| cart | roboshop/cart:dev | 6.0 MiB | 12.0 MB |", "| cart-redis | redis:7 | 3.0 MiB | 40.0 MB |",
		"| **all 2** | | **9.0 MiB** | **52.0 MB** (each image once) |", "service (at rest)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
}
