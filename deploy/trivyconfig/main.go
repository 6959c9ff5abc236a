// Command trivyconfig is `trivy config --format json` for a directory of
// Terraform: trivy's own misconfiguration scanner (pkg/misconf) with the checks
// trivy embeds, and nothing else of trivy. The tests scan deploy/terraform
// with it (deploy/ec2/trivy_test.go); it exists because trivy's whole CLI
// (image, filesystem and cluster scanners, vulnerability databases) is twice
// the packages to compile on a fresh machine, for the one scanner they use.
//
//	trivyconfig [-tf-vars FILE]... DIR
//
// It prints what `trivy config --format json` prints of the failures, by file:
// {"Results": [{"Target", "Misconfigurations": [{"ID", "Title", "Severity",
// "CauseMetadata": {"Resource", "StartLine", "EndLine"}}]}]}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aquasecurity/trivy/pkg/iac/detection"
	"github.com/aquasecurity/trivy/pkg/iac/rego"
	"github.com/aquasecurity/trivy/pkg/misconf"
)

// tfVars is a repeatable -tf-vars flag.
type tfVars []string

func (v *tfVars) String() string     { return strings.Join(*v, ",") }
func (v *tfVars) Set(s string) error { *v = append(*v, s); return nil }

type cause struct {
	Resource  string
	StartLine int `json:",omitempty"`
	EndLine   int `json:",omitempty"`
}

type finding struct {
	ID, Title, Severity string
	CauseMetadata       cause
}

type result struct {
	Target            string
	Misconfigurations []finding
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "trivyconfig:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("trivyconfig", flag.ContinueOnError)
	var vars tfVars
	fs.Var(&vars, "tf-vars", "a .tfvars file (repeatable), as trivy config --tf-vars")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one directory of Terraform, got %q", fs.Args())
	}
	// As `trivy config` sets it up without a checks bundle to download: the
	// embedded checks and libraries, the built-in namespaces, its error limit.
	scanner, err := misconf.NewScanner(detection.FileTypeTerraform, misconf.ScannerOption{
		Namespaces:          rego.BuiltinNamespaces(),
		TerraformTFVars:     vars,
		RegoErrorLimit:      rego.DefaultAllowedRegoErrors,
		TfExcludeDownloaded: true,
	})
	if err != nil {
		return err
	}
	misconfs, err := scanner.Scan(ctx, os.DirFS(fs.Arg(0)))
	if err != nil {
		return err
	}
	report := struct{ Results []result }{Results: []result{}}
	for _, m := range misconfs {
		if len(m.Failures) == 0 {
			continue
		}
		r := result{Target: m.FilePath}
		for _, f := range m.Failures {
			r.Misconfigurations = append(r.Misconfigurations, finding{ID: f.ID, Title: f.Title, Severity: f.Severity,
				CauseMetadata: cause{Resource: f.CauseMetadata.Resource, StartLine: f.CauseMetadata.StartLine, EndLine: f.CauseMetadata.EndLine}})
		}
		report.Results = append(report.Results, r)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(report)
}
