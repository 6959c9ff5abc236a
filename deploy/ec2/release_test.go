package ec2

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// releaseInto runs scripts/release.sh into dir and returns what it printed.
func releaseInto(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("bash", "../../scripts/release.sh", "v0.0.0-test", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/release.sh: %v\n%s", err, out)
	}
	return string(out)
}

// The release holds each service for amd64 and arm64 as a static binary, the
// web UI, and SHA256SUMS over exactly those; the digest it prints is
// SHA256SUMS's; and a second build gives the same bytes.
func TestReleaseIsStaticSummedAndReproducible(t *testing.T) {
	t.Parallel()
	first, second := t.TempDir(), t.TempDir()
	printed := releaseInto(t, first)
	releaseInto(t, second)

	sums, err := os.ReadFile(filepath.Join(first, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(second, "SHA256SUMS")); string(again) != string(sums) {
		t.Errorf("two builds of one commit differ:\n%s\n%s", sums, again)
	}
	if d := sha256.Sum256(sums); !strings.Contains(printed, "release_sums_sha256="+hex.EncodeToString(d[:])) {
		t.Errorf("the printed terraform command does not carry SHA256SUMS's digest %x:\n%s", d, printed)
	}

	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	want := []string{"frontend-html.tar.gz"}
	for _, svc := range []string{"user", "catalogue", "cart", "payment"} {
		for arch := range machines {
			want = append(want, svc+"-linux-"+arch, svc+"-linux-"+arch+".cdx.json")
		}
	}
	slices.Sort(want)
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, _ := strings.Cut(line, "  ")
		listed = append(listed, name)
		body, err := os.ReadFile(filepath.Join(first, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(body); hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: SHA256SUMS says %s, the file is %x", name, sum, got)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Fatalf("SHA256SUMS lists %v, want %v", listed, want)
	}
	entries, _ := os.ReadDir(first)
	if len(entries) != len(want)+1 {
		t.Errorf("%d files in the release, want the %d listed and SHA256SUMS", len(entries), len(want))
	}

	for _, name := range want {
		svc, arch, isBinary := strings.Cut(name, "-linux-")
		if sbom, ok := strings.CutSuffix(name, ".cdx.json"); ok {
			checkSBOM(t, filepath.Join(first, name), "github.com/roboshop-go/roboshop/"+svc, strings.TrimPrefix(sbom, svc+"-linux-"))
			continue
		}
		if !isBinary {
			continue
		}
		f, err := elf.Open(filepath.Join(first, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Machine != machines[arch] {
			t.Errorf("%s is built for %v", name, f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s asks for a dynamic loader: not static", name)
			}
		}
		f.Close()
	}

	ui, err := os.Open(filepath.Join(first, "frontend-html.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer ui.Close()
	gz, err := gzip.NewReader(ui)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, strings.TrimPrefix(h.Name, "./"))
	}
	if !slices.Contains(files, "index.html") || !slices.ContainsFunc(files, func(f string) bool {
		return strings.HasPrefix(f, "assets/app.") && strings.HasSuffix(f, ".js") && f != "assets/app.js"
	}) {
		t.Errorf("the UI tarball holds %v: want index.html and the content-named assets", files)
	}
}

// checkSBOM: a CycloneDX document for module, built for linux/arch, listing
// what the binary links (gin and the standard library; not gin's msgpack
// codec, which the nomsgpack tag leaves out).
func checkSBOM(t *testing.T, path, module, arch string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Name       string `json:"name"`
				Properties []struct{ Name, Value string }
			} `json:"component"`
		} `json:"metadata"`
		Components []struct{ Name string } `json:"components"`
	}
	if err := json.Unmarshal(raw, &bom); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var names []string
	for _, c := range bom.Components {
		names = append(names, c.Name)
	}
	var props []string
	for _, p := range bom.Metadata.Component.Properties {
		props = append(props, p.Name+"="+p.Value)
	}
	switch {
	case bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Name != module:
		t.Errorf("%s: a %q document for %q, want CycloneDX for %s", path, bom.BOMFormat, bom.Metadata.Component.Name, module)
	case !slices.Contains(names, "github.com/gin-gonic/gin") || !slices.Contains(names, "std"):
		t.Errorf("%s lists %v: want gin and the standard library", path, names)
	case slices.Contains(names, "github.com/ugorji/go/codec"):
		t.Errorf("%s lists gin's msgpack codec, which the binary leaves out (nomsgpack)", path)
	case !slices.Contains(props, "cdx:gomod:build:env:GOARCH="+arch) || !slices.Contains(props, "cdx:gomod:build:tag=nomsgpack"):
		t.Errorf("%s was not made with the binary's build settings: %v", path, props)
	}
}
