package testkit

import (
	"os"
	"os/exec"
	"testing"
)

// Tool is the path of a command-line tool a test needs: $envVar when set
// (scripts/test.sh points it at the pinned build in .cache/bin), else name on
// PATH. A missing tool fails the test with how to get it: nothing is skipped.
func Tool(t testing.TB, envVar, name, howToGet string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: %s, and scripts/test.sh sets %s", name, howToGet, envVar)
	}
	return p
}
