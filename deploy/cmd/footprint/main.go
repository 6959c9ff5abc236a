// Command footprint reads what a running docker compose project of the shop
// weighs, from the Docker engine's own API (its socket): each container's
// memory as its cgroup counts it (usage less the inactive page cache, as
// `docker stats` shows it) and its image's size, and the totals. It writes
// JSON for programs (-json) and a Markdown table for people (stdout).
//
//	footprint -project roboshop -label "at rest" -json rest.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
}

// Report is one reading of a project.
type Report struct {
	Project          string      `json:"project"`
	Label            string      `json:"label"`
	At               time.Time   `json:"at"`
	Containers       []Container `json:"containers"`
	TotalMemoryBytes int64       `json:"total_memory_bytes"`
	// TotalImageBytes counts each image once, however many containers run it.
	TotalImageBytes int64 `json:"total_image_bytes"`
}

// Container is one container's share.
type Container struct {
	Service     string `json:"service"`
	Image       string `json:"image"`
	MemoryBytes int64  `json:"memory_bytes"`
	ImageBytes  int64  `json:"image_bytes"`
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("footprint", flag.ContinueOnError)
	project := fs.String("project", "", "compose project name (required)")
	label := fs.String("label", "", "what this reading is, e.g. \"at rest\"")
	jsonPath := fs.String("json", "", "also write the reading as JSON here")
	socket := fs.String("socket", "/var/run/docker.sock", "the Docker engine's socket")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *project == "" {
		return fmt.Errorf("-project is required")
	}
	engine := newEngine(*socket)
	rep, err := read(ctx, engine, *project)
	if err != nil {
		return err
	}
	rep.Label = *label
	writeMarkdown(stdout, rep)
	if *jsonPath == "" {
		return nil
	}
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*jsonPath, append(raw, '\n'), 0o644)
}

// engine asks the Docker engine's HTTP API over its Unix socket.
type engine struct{ client *http.Client }

func newEngine(socket string) engine {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}
	return engine{client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dial}}}
}

func (e engine) get(ctx context.Context, path string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return json.NewDecoder(resp.Body).Decode(dst)
}

type containerSummary struct {
	ID      string            `json:"Id"`
	Image   string            `json:"Image"`
	ImageID string            `json:"ImageID"`
	Labels  map[string]string `json:"Labels"`
}

// stats is the part of GET /containers/{id}/stats the reading needs.
type stats struct {
	MemoryStats struct {
		Usage int64            `json:"usage"`
		Stats map[string]int64 `json:"stats"`
	} `json:"memory_stats"`
}

// memory is what the cgroup holds for the container less the page cache it
// could drop at once, as the docker CLI computes it: inactive_file on cgroup
// v2, total_inactive_file on v1.
func (s stats) memory() int64 {
	for _, key := range []string{"inactive_file", "total_inactive_file"} {
		if v, ok := s.MemoryStats.Stats[key]; ok && v < s.MemoryStats.Usage {
			return s.MemoryStats.Usage - v
		}
	}
	return s.MemoryStats.Usage
}

func read(ctx context.Context, e engine, project string) (Report, error) {
	filters, _ := json.Marshal(map[string][]string{"label": {"com.docker.compose.project=" + project}})
	var list []containerSummary
	if err := e.get(ctx, "/containers/json?filters="+url.QueryEscape(string(filters)), &list); err != nil {
		return Report{}, err
	}
	if len(list) == 0 {
		return Report{}, fmt.Errorf("no running container of project %q", project)
	}
	rep := Report{Project: project, At: time.Now().UTC()}
	images := map[string]int64{}
	for _, c := range list {
		var st stats
		if err := e.get(ctx, "/containers/"+c.ID+"/stats?stream=false", &st); err != nil {
			return Report{}, err
		}
		size, seen := images[c.ImageID]
		if !seen {
			var img struct {
				Size int64 `json:"Size"`
			}
			if err := e.get(ctx, "/images/"+url.PathEscape(c.ImageID)+"/json", &img); err != nil {
				return Report{}, err
			}
			size, images[c.ImageID] = img.Size, img.Size
			rep.TotalImageBytes += img.Size
		}
		memory := st.memory()
		rep.Containers = append(rep.Containers, Container{Service: c.Labels["com.docker.compose.service"], Image: c.Image,
			MemoryBytes: memory, ImageBytes: size})
		rep.TotalMemoryBytes += memory
	}
	sort.Slice(rep.Containers, func(i, j int) bool { return rep.Containers[i].Service < rep.Containers[j].Service })
	return rep, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func writeMarkdown(w io.Writer, rep Report) {
	fmt.Fprintf(w, "| service (%s) | image | memory | image size |\n|---|---|---:|---:|\n", rep.Label)
	for _, c := range rep.Containers {
		fmt.Fprintf(w, "| %s | %s | %.1f MiB | %.1f MB |\n", c.Service, c.Image, mib(c.MemoryBytes), float64(c.ImageBytes)/1e6)
	}
	fmt.Fprintf(w, "| **all %d** | | **%.1f MiB** | **%.1f MB** (each image once) |\n", len(rep.Containers), mib(rep.TotalMemoryBytes), float64(rep.TotalImageBytes)/1e6)
}
