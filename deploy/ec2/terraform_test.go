package ec2

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/deploy/sg"
	"github.com/roboshop-go/roboshop/testkit"
)

// terraform is the Terraform binary scripts/test.sh installed (1.5.7, built
// from the Go module proxy), or the one on PATH.
func terraform(t *testing.T) string {
	t.Helper()
	return testkit.Tool(t, "ROBOSHOP_TERRAFORM", "terraform", "scripts/deps.sh builds it (go install github.com/hashicorp/terraform@v1.5.7)")
}

func tf(t *testing.T, dataDir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(terraform(t), args...)
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_DATA_DIR="+dataDir,
		"TF_CLI_CONFIG_FILE=/dev/null")
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("terraform %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func TestTerraformFormatted(t *testing.T) {
	tf(t, t.TempDir(), "fmt", "-check", "-recursive", "-diff", "../terraform")
}

// TestTerraformRefusesPlainHTTPUnlessAskedFor plans the inputs' checks
// (modules/inputs, provider-free) with each combination: without a domain
// the plan fails, naming the opt-out, unless allow_plain_http is set.
func TestTerraformRefusesPlainHTTPUnlessAskedFor(t *testing.T) {
	data := t.TempDir()
	mod := "-chdir=../terraform/modules/inputs"
	tf(t, data, mod, "init", "-backend=false", "-input=false", "-no-color")
	release := map[string]any{"release_dir": "dist/v1", "release_url": nil, "release_sums_sha256": strings.Repeat("a", 64)}
	for _, tc := range []struct {
		name    string
		vars    map[string]any
		wantErr string // "" for a plan that succeeds
	}{
		{"no domain", map[string]any{"domain_name": nil, "route53_zone": nil, "allow_plain_http": false}, "allow_plain_http = true"},
		{"no domain, plain HTTP asked for", map[string]any{"domain_name": nil, "route53_zone": nil, "allow_plain_http": true}, ""},
		{"a domain and its zone", map[string]any{"domain_name": "shop.example.com", "route53_zone": "example.com", "allow_plain_http": false}, ""},
		{"a domain without its zone", map[string]any{"domain_name": "shop.example.com", "route53_zone": nil, "allow_plain_http": false}, "go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]any{}
			for k, v := range release {
				vars[k] = v
			}
			for k, v := range tc.vars {
				vars[k] = v
			}
			raw, _ := json.Marshal(vars)
			varFile := filepath.Join(t.TempDir(), "in.tfvars.json")
			if err := os.WriteFile(varFile, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(terraform(t), mod, "plan", "-input=false", "-no-color", "-var-file="+varFile)
			cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_DATA_DIR="+data, "TF_CLI_CONFIG_FILE=/dev/null")
			out, err := cmd.CombinedOutput()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("plan refused: %v\n%s", err, out)
			case tc.wantErr != "" && (err == nil || !strings.Contains(strings.Join(strings.Fields(string(out)), " "), tc.wantErr)):
				t.Fatalf("plan: %v, want a refusal naming %q:\n%s", err, tc.wantErr, out)
			}
		})
	}
}

// TestTerraformRulesModuleMatchesLoader validates and plans the provider-free
// rules module and checks that its flat rule list is exactly the Go loader's.
func TestTerraformRulesModuleMatchesLoader(t *testing.T) {
	data := t.TempDir()
	mod := "-chdir=../terraform/modules/rules"
	tf(t, data, mod, "init", "-backend=false", "-input=false", "-no-color")
	tf(t, data, mod, "validate", "-no-color")
	plan := filepath.Join(data, "plan.out")
	tf(t, data, mod, "plan", "-input=false", "-no-color", "-out="+plan)
	raw := tf(t, data, mod, "show", "-json", plan)

	var shown struct {
		PlannedValues struct {
			Outputs struct {
				Rules struct {
					Value map[string]sg.FlatRule `json:"value"`
				} `json:"rules"`
				Groups struct {
					Value map[string]struct {
						Description string `json:"description"`
						Tier        string `json:"tier"`
					} `json:"value"`
				} `json:"groups"`
				Listeners struct {
					Value map[string]struct {
						Balancer   string `json:"balancer"`
						Port       int    `json:"port"`
						TargetPort int    `json:"target_port"`
					} `json:"value"`
				} `json:"listeners"`
			} `json:"outputs"`
		} `json:"planned_values"`
	}
	if err := json.Unmarshal(raw, &shown); err != nil {
		t.Fatalf("terraform show -json: %v", err)
	}
	set, err := sg.Load("../security-groups")
	if err != nil {
		t.Fatal(err)
	}
	fromGo := map[string]sg.FlatRule{}
	for _, r := range set.Flat() {
		fromGo[r.Key] = r
	}
	fromTF := shown.PlannedValues.Outputs.Rules.Value
	if len(fromTF) == 0 {
		t.Fatal("Terraform planned no rules")
	}
	for key, want := range fromGo {
		if got, ok := fromTF[key]; !ok {
			t.Errorf("%s: in the YAML (Go) but not in Terraform's list", key)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs:\n terraform %+v\n go        %+v", key, got, want)
		}
	}
	for key := range fromTF {
		if _, ok := fromGo[key]; !ok {
			t.Errorf("%s: in Terraform's list but not in the Go loader's", key)
		}
	}
	for name, g := range set.Groups {
		if tg := shown.PlannedValues.Outputs.Groups.Value[name]; tg.Tier != g.Tier || tg.Description != g.Description {
			t.Errorf("group %s: terraform %+v, go tier %q", name, tg, g.Tier)
		}
	}
	// The internal load balancer's listeners (scaling.tf makes one per entry).
	listeners := shown.PlannedValues.Outputs.Listeners.Value
	for _, name := range set.Names() {
		lb, port, ok := set.ListenerOf(name)
		got, inTF := listeners[name]
		if ok != inTF || got.Balancer != lb || got.Port != port || (ok && got.TargetPort != 8080) {
			t.Errorf("listener of %s: terraform %+v (%v), go %s:%d (%v)", name, got, inTF, lb, port, ok)
		}
	}
	if len(listeners) != 4 {
		t.Errorf("terraform lists %d listeners, want the four services'", len(listeners))
	}
	t.Logf("%d rules in %d groups agree", len(fromTF), len(set.Groups))
}
