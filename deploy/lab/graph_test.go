package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// box is a rectangle of the rendered picture, in points.
type box struct {
	what                   string
	left, right, low, high float64
}

func (a box) overlaps(b box) bool {
	return a.left < b.right && b.left < a.right && a.low < b.high && b.low < a.high
}

// renderedBoxes lays dot out with Graphviz (-Tjson) and returns every edge
// label's text and every node's box.
func renderedBoxes(t *testing.T, dot string) (labels, nodes []box) {
	t.Helper()
	cmd := exec.Command("dot", "-Tjson")
	cmd.Stdin = strings.NewReader(dot)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dot -Tjson: %v", err)
	}
	type op struct {
		Op    string    `json:"op"`
		Pt    []float64 `json:"pt"`
		Align string    `json:"align"`
		Width float64   `json:"width"`
		Text  string    `json:"text"`
		Size  float64   `json:"size"`
	}
	var g struct {
		Objects []struct {
			Name   string `json:"name"`
			Pos    string `json:"pos"`
			Width  string `json:"width"`
			Height string `json:"height"`
		} `json:"objects"`
		Edges []struct {
			Label string `json:"label"`
			LDraw []op   `json:"_ldraw_"`
		} `json:"edges"`
	}
	if err := json.Unmarshal(out, &g); err != nil {
		t.Fatal(err)
	}
	for _, e := range g.Edges {
		size := 10.0
		for _, o := range e.LDraw {
			switch o.Op {
			case "F":
				size = o.Size
			case "T":
				left := o.Pt[0] - o.Width/2
				switch o.Align {
				case "l":
					left = o.Pt[0]
				case "r":
					left = o.Pt[0] - o.Width
				}
				labels = append(labels, box{what: "label " + o.Text, left: left, right: left + o.Width, low: o.Pt[1] - 0.25*size, high: o.Pt[1] + 0.8*size})
			}
		}
	}
	for _, n := range g.Objects {
		if n.Pos == "" { // a cluster
			continue
		}
		x, y, _ := strings.Cut(n.Pos, ",")
		cx, _ := strconv.ParseFloat(x, 64)
		cy, _ := strconv.ParseFloat(y, 64)
		w, _ := strconv.ParseFloat(n.Width, 64)
		h, _ := strconv.ParseFloat(n.Height, 64)
		nodes = append(nodes, box{what: "box " + n.Name, left: cx - w*36, right: cx + w*36, low: cy - h*36, high: cy + h*36})
	}
	return labels, nodes
}

// TestPictureIsReadable lays out the reachability picture of a lab with the
// two differences the drills make (cart's 8082 to the internal balancer
// blocked, Redis open to the frontend) and checks that no port label lies
// over another or over a box. Set ROBOSHOP_PICTURE_PNG to keep the
// rendering and look at it.
func TestPictureIsReadable(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	l, err := loadLayout(config{Prefix: "rs", Subnet: "10.77.0", Public: "198.51.100", Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		plant  func(p *probe)
		labels []string
	}{
		{"as the definitions say", func(*probe) {}, []string{"→8080  ←8081,8082", "8081,8082,8083,8084"}},
		{"with the drills' differences", func(p *probe) {
			switch {
			case p.src == "cart" && p.dst == "internal-alb" && p.port == 8082:
				p.seen = false
			case p.src == "frontend" && p.dst == "cart-redis" && p.port == 6379:
				p.seen = true
			}
		}, []string{"→8080  ←8081,-8082", "+6379"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probes := l.probes()
			for _, p := range probes {
				p.seen = p.expected
				tt.plant(p)
			}
			dot := graphDOT(l, probes)
			labels, nodes := renderedBoxes(t, dot)
			texts := map[string]bool{}
			for _, lb := range labels {
				texts[strings.TrimPrefix(lb.what, "label ")] = true
			}
			for _, want := range tt.labels {
				if !texts[want] {
					t.Errorf("no label %q among %v", want, texts)
				}
			}
			for i, a := range labels {
				for _, b := range labels[i+1:] {
					if a.overlaps(b) {
						t.Errorf("%s lies over %s", a.what, b.what)
					}
				}
				for _, n := range nodes {
					if a.overlaps(n) {
						t.Errorf("%s lies over %s", a.what, n.what)
					}
				}
			}
			if dir := os.Getenv("ROBOSHOP_PICTURE_PNG"); dir != "" {
				cmd := exec.Command("dot", "-Tpng", "-o", filepath.Join(dir, fmt.Sprintf("picture-%s.png", strings.ReplaceAll(tt.name, " ", "-"))))
				cmd.Stdin = strings.NewReader(dot)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("dot -Tpng: %v %s", err, out)
				}
			}
		})
	}
}

// TestCommittedPictureIsTheDefinitions: deploy/security-groups.svg is what
// `lab picture` draws from the groups as they are, with the addresses the
// lab prints (its default subnet).
func TestCommittedPictureIsTheDefinitions(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	cfg := defaultConfig()
	cfg.Repo = repo
	path := filepath.Join(t.TempDir(), "security-groups.svg")
	if err := picture(cfg, path); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(strings.TrimSuffix(path, ".svg") + ".dot")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repo, "deploy", "security-groups.dot"))
	if err != nil || string(got) != string(want) {
		t.Fatalf("deploy/security-groups.dot is not what the groups draw (%v): run `go run ./deploy/lab picture -repo . -graph deploy/security-groups.svg`", err)
	}
	svg, err := os.ReadFile(filepath.Join(repo, "deploy", "security-groups.svg"))
	if err != nil || !strings.Contains(string(svg), cfg.Subnet+".10") || !strings.Contains(string(svg), "<svg") {
		t.Fatalf("deploy/security-groups.svg is not drawn with the lab's addresses (%s.x): %v", cfg.Subnet, err)
	}
}
