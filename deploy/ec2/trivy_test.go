package ec2

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

// finding is one misconfiguration trivy reports.
type finding struct{ File, ID, Resource string }

// trivyConfig scans the Terraform in dir with trivy's config scanner and its
// built-in checks (no download) and the given tfvars, and returns what it
// finds. deploy/trivyconfig is that scanner without the rest of trivy's CLI;
// its report is the one `trivy config --format json` gives.
func trivyConfig(t *testing.T, dir, tfvars string) []finding {
	t.Helper()
	scanner := testkit.Tool(t, "ROBOSHOP_TRIVYCONFIG", "trivyconfig", "scripts/deps.sh builds it from deploy/trivyconfig")
	var args []string
	if tfvars != "" {
		args = append(args, "-tf-vars", tfvars)
	}
	cmd := exec.Command(scanner, append(args, dir)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("trivyconfig: %v\n%s", err, stderr.String())
	}
	var report struct {
		Results []struct {
			Target            string
			Misconfigurations []struct {
				ID            string
				CauseMetadata struct{ Resource string }
			}
		}
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("trivy's report: %v\n%.500s", err, out)
	}
	var found []finding
	for _, r := range report.Results {
		for _, m := range r.Misconfigurations {
			found = append(found, finding{r.Target, m.ID, m.CauseMetadata.Resource})
		}
	}
	return found
}

// allResourcesVars turns on every resource a variable makes conditional: a
// domain (HTTPS, ACM, Route 53) and a release directory (the S3 bucket).
func allResourcesVars(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rel := filepath.Join(dir, "release")
	if err := os.Mkdir(rel, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"SHA256SUMS", "user-linux-amd64", "frontend-html.tar.gz"} {
		if err := os.WriteFile(filepath.Join(rel, f), []byte(f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vars := filepath.Join(dir, "all.tfvars")
	body := `admin_cidr = "203.0.113.0/24"
release_dir = "` + rel + `"
domain_name = "shop.example.com"
route53_zone = "example.com"
`
	if err := os.WriteFile(vars, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return vars
}

var acceptedRE = regexp.MustCompile(`(?m)^# Accepted \((AWS-\d+)\): (.+)\n#trivy:ignore:(AWS-\d+)\n`)

// trivy's misconfiguration scan of deploy/terraform finds nothing, with the
// defaults and with every conditional resource on; each finding accepted
// instead of fixed is ignored in place with its reason, and the README lists
// it. Removing one ignore brings exactly that finding back, and so does
// allowing IMDSv1 where the files require IMDSv2.
func TestTrivyFindsNoUnacceptedMisconfiguration(t *testing.T) {
	all := allResourcesVars(t)
	for _, tc := range []struct{ name, vars string }{{"defaults", ""}, {"every conditional resource", all}} {
		t.Run(tc.name, func(t *testing.T) {
			if found := trivyConfig(t, "../terraform", tc.vars); len(found) > 0 {
				t.Fatalf("findings not fixed or accepted: %+v", found)
			}
		})
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../terraform/*.tf")
	var accepted []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ignores := strings.Count(string(raw), "#trivy:ignore:")
		matches := acceptedRE.FindAllStringSubmatch(string(raw), -1)
		if len(matches) != ignores {
			t.Errorf("%s: %d trivy ignores, %d with an \"# Accepted (ID): reason\" line above them", filepath.Base(f), ignores, len(matches))
		}
		for _, m := range matches {
			if m[1] != m[3] {
				t.Errorf("%s: the reason names %s, the ignore %s", filepath.Base(f), m[1], m[3])
			}
			if !strings.Contains(string(readme), "| "+m[1]+" (") {
				t.Errorf("deploy/README.md does not list the accepted finding %s", m[1])
			}
			accepted = append(accepted, m[1])
		}
	}
	slices.Sort(accepted)
	if want := []string{"AWS-0017", "AWS-0053", "AWS-0054", "AWS-0089", "AWS-0132"}; !slices.Equal(accepted, want) {
		t.Errorf("accepted %v, want %v", accepted, want)
	}

	// Planted: the scan is live, and it sees what these files promise
	// (IMDSv2 on every instance and launch template).
	for _, tc := range []struct {
		name, file, old, new string
		want                 finding
		count                int
	}{
		{"an accepted finding's ignore removed", "alb.tf", "#trivy:ignore:AWS-0053\n", "",
			finding{"alb.tf", "AWS-0053", "aws_lb.shop"}, 1},
		{"IMDSv1 allowed in the launch templates", "scaling.tf", `http_tokens                 = "required"`, `http_tokens                 = "optional"`,
			finding{"scaling.tf", "AWS-0130", `aws_launch_template.tier["user"]`}, 5},
		{"IMDSv1 allowed on the single instances", "instances.tf", `http_tokens                 = "required"`, `http_tokens                 = "optional"`,
			finding{"instances.tf", "AWS-0028", `aws_instance.tier["bastion"]`}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range files {
				raw, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				text := string(raw)
				if filepath.Base(f) == tc.file {
					if !strings.Contains(text, tc.old) {
						t.Fatalf("%s does not contain %q", tc.file, tc.old)
					}
					text = strings.Replace(text, tc.old, tc.new, 1)
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// The modules the root module calls, where its sources point.
			if err := os.Symlink(filepath.Join(mustAbs(t, "../terraform"), "modules"), filepath.Join(dir, "modules")); err != nil {
				t.Fatal(err)
			}
			found := trivyConfig(t, dir, "")
			if len(found) != tc.count || !slices.Contains(found, tc.want) {
				t.Fatalf("found %+v, want %d findings with %+v", found, tc.count, tc.want)
			}
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
