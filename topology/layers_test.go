package topology

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// layers are the repository's modules from the bottom up: a package may import
// packages of its own module and of modules in lower layers only. Tests sit on
// top of everything and are not checked.
var layers = map[string]int{
	"kit": 0, "checks": 0, // checks: the vet-style checks, importing nothing of the repository
	"user": 1, "catalogue": 1, "cart": 1, "payment": 1,
	"topology": 2,
	"testkit":  3,
	"frontend": 4, "deploy": 4, "loadgen": 4, "standins": 4,
}

const modulePrefix = "github.com/roboshop-go/roboshop/"

// pkg is a package and the repository packages it imports.
type pkg struct {
	module, path string
	imports      []string
}

// upwardImports lists every import of a package that stands above (or beside)
// the importer's module, and every module with no layer.
func upwardImports(pkgs []pkg) []string {
	var bad []string
	for _, p := range pkgs {
		from, ok := layers[strings.TrimPrefix(p.module, modulePrefix)]
		if !ok {
			bad = append(bad, p.module+" has no layer")
			continue
		}
		for _, imp := range p.imports {
			if !strings.HasPrefix(imp, modulePrefix) || strings.HasPrefix(imp+"/", p.module+"/") {
				continue
			}
			mod, _, _ := strings.Cut(strings.TrimPrefix(imp, modulePrefix), "/")
			if to, ok := layers[mod]; !ok || to >= from {
				bad = append(bad, p.path+" imports "+imp)
			}
		}
	}
	return bad
}

func TestNoPackageImportsOneAboveIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkgs []pkg
		want int
	}{
		{"a service imports kit", []pkg{{modulePrefix + "cart", modulePrefix + "cart", []string{modulePrefix + "kit", "fmt"}}}, 0},
		{"kit imports testkit", []pkg{{modulePrefix + "kit", modulePrefix + "kit", []string{modulePrefix + "testkit"}}}, 1},
		{"a service imports another", []pkg{{modulePrefix + "cart", modulePrefix + "cart", []string{modulePrefix + "user"}}}, 1},
		{"topology imports deploy", []pkg{{modulePrefix + "topology", modulePrefix + "topology", []string{modulePrefix + "deploy/sg"}}}, 1},
		{"a module without a layer", []pkg{{modulePrefix + "newthing", modulePrefix + "newthing", nil}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := upwardImports(tc.pkgs); len(got) != tc.want {
				t.Errorf("upwardImports = %v, want %d", got, tc.want)
			}
		})
	}

	t.Run("the repository", func(t *testing.T) {
		modules, err := goList("list", "-m", "-f", "{{.Path}}/...")
		if err != nil {
			t.Fatal(err)
		}
		out, err := goList(append([]string{"list", "-f", "{{.Module.Path}}|{{.ImportPath}}|{{join .Imports \" \"}}"}, modules...)...)
		if err != nil {
			t.Fatal(err)
		}
		var pkgs []pkg
		for _, line := range out {
			f := strings.Split(line, "|")
			pkgs = append(pkgs, pkg{f[0], f[1], strings.Fields(f[2])})
		}
		if len(pkgs) < len(layers) {
			t.Fatalf("go list found %d packages, fewer than the %d modules", len(pkgs), len(layers))
		}
		for _, b := range upwardImports(pkgs) {
			t.Error(b)
		}
	})
}

// goList runs the go command at the repository root, in workspace mode.
func goList(args ...string) ([]string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GOWORK=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}
