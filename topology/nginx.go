package topology

// The frontend outside Docker and Terraform: frontend/nginx.conf.template
// rendered the way envsubst and templatefile render it there, and the web UI
// published as the image build publishes it.

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Frontend fills the nginx template's placeholders.
type Frontend struct {
	Listen    string            // "80" or "127.0.0.1:8080"
	Upstreams map[string]string // host:port of each service, by name
	HTMLRoot  string            // the published UI (PublishUI)
	// RealIPFrom is the proxy whose X-Forwarded-For nginx believes (an
	// address or CIDR); empty is "unix:", no proxy.
	RealIPFrom string
	// Status, when set, is where nginx also serves its stub_status page
	// (deploy/observability/nginx-status.conf, moved from 127.0.0.1:8081).
	Status string
}

var placeholder = regexp.MustCompile(`\$\{[a-z_]+\}`)

// RenderNginx fills template with f: ${listen_port}, ${html_root},
// ${real_ip_from} and ${<service>_upstream} for every service; a placeholder it does not know, or a
// service without an upstream, is an error.
func RenderNginx(template string, f Frontend) (string, error) {
	realIPFrom := f.RealIPFrom
	if realIPFrom == "" {
		realIPFrom = "unix:"
	}
	pairs := []string{"${listen_port}", f.Listen, "${html_root}", f.HTMLRoot, "${real_ip_from}", realIPFrom}
	for _, svc := range Roboshop().Services {
		up, ok := f.Upstreams[svc.Name]
		if !ok {
			return "", fmt.Errorf("nginx template: no upstream for %s", svc.Name)
		}
		pairs = append(pairs, "${"+svc.Name+"_upstream}", up)
	}
	out := strings.NewReplacer(pairs...).Replace(template)
	if left := placeholder.FindString(out); left != "" {
		return "", fmt.Errorf("nginx template: unknown placeholder %s", left)
	}
	return out, nil
}

// WriteNginxConfig renders the repository's template into dir and writes a main
// nginx.conf around it that keeps every path (pid, temp files) in dir and logs
// to stdout and stderr, where whoever started nginx keeps the other parts'
// logs, for an nginx run as `nginx -c <dir>/nginx.conf -p <dir>`. It returns
// that path.
func WriteNginxConfig(repo, dir string, f Frontend) (string, error) {
	tmpl, err := os.ReadFile(filepath.Join(repo, "frontend", "nginx.conf.template"))
	if err != nil {
		return "", err
	}
	site, err := RenderNginx(string(tmpl), f)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "roboshop.conf"), []byte(site), 0o644); err != nil {
		return "", err
	}
	include := "include " + filepath.Join(dir, "roboshop.conf") + ";"
	if f.Status != "" {
		raw, err := os.ReadFile(filepath.Join(repo, "deploy", "observability", "nginx-status.conf"))
		if err != nil {
			return "", err
		}
		const listen = "listen 127.0.0.1:8081;"
		if !strings.Contains(string(raw), listen) {
			return "", fmt.Errorf("nginx-status.conf no longer says %q", listen)
		}
		status := strings.Replace(string(raw), listen, "listen "+f.Status+";", 1)
		if err := os.WriteFile(filepath.Join(dir, "status.conf"), []byte(status), 0o644); err != nil {
			return "", err
		}
		include += "\n  include " + filepath.Join(dir, "status.conf") + ";"
	}
	workerUser, err := workerUser(f.HTMLRoot, dir)
	if err != nil {
		return "", err
	}
	main := fmt.Sprintf(`daemon off;
%[2]s
worker_processes 1;
worker_rlimit_nofile 8192;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log /dev/stdout;
  client_body_temp_path %[1]s/tmp-body;
  proxy_temp_path %[1]s/tmp-proxy;
  fastcgi_temp_path %[1]s/tmp-fastcgi;
  uwsgi_temp_path %[1]s/tmp-uwsgi;
  scgi_temp_path %[1]s/tmp-scgi;
  %[3]s
}
`, dir, workerUser, include)
	path := filepath.Join(dir, "nginx.conf")
	return path, os.WriteFile(path, []byte(main), 0o644)
}

// workerUser picks who nginx's workers run as when nginx is started as root:
// the owner of the web root, who can certainly read it (nginx's default,
// nobody, may not get through a private home directory). dir, where nginx
// keeps its temp files, is handed to the same user.
func workerUser(htmlRoot, dir string) (string, error) {
	if os.Geteuid() != 0 {
		return "", nil
	}
	info, err := os.Stat(htmlRoot)
	if err != nil {
		return "", err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return "", nil
	}
	u, err := user.LookupId(strconv.Itoa(int(st.Uid)))
	if err != nil {
		return "", fmt.Errorf("owner of %s: %w", htmlRoot, err)
	}
	g, err := user.LookupGroupId(strconv.Itoa(int(st.Gid)))
	if err != nil {
		return "", fmt.Errorf("group of %s: %w", htmlRoot, err)
	}
	if err := os.Chown(dir, int(st.Uid), int(st.Gid)); err != nil {
		return "", err
	}
	return fmt.Sprintf("user %s %s;", u.Username, g.Name), nil
}

// PublishUI publishes the web UI of the repository at repo into dst, as the
// frontend image's build does: frontend/publish.sh, one implementation for
// every place nginx serves the UI.
func PublishUI(repo, dst string) error {
	cmd := exec.Command("sh", filepath.Join(repo, "frontend", "publish.sh"), filepath.Join(repo, "frontend", "src"), dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("publish the UI: %v\n%s", err, out)
	}
	return nil
}
