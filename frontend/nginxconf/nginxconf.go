// Package nginxconf renders frontend/nginx.conf.template for the places nginx
// runs outside Docker and Terraform (the lab and the tests), the same way
// envsubst and templatefile do there.
package nginxconf

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Vars fill the template's placeholders.
type Vars struct {
	Listen                         string // "80" or "127.0.0.1:8080"
	User, Catalogue, Cart, Payment string // host:port of each service
	HTMLRoot                       string
}

var placeholder = regexp.MustCompile(`\$\{[a-z_]+\}`)

// Render fills template with v; a placeholder it does not know is an error.
func Render(template string, v Vars) (string, error) {
	out := strings.NewReplacer(
		"${listen_port}", v.Listen,
		"${user_upstream}", v.User, "${catalogue_upstream}", v.Catalogue,
		"${cart_upstream}", v.Cart, "${payment_upstream}", v.Payment,
		"${html_root}", v.HTMLRoot,
	).Replace(template)
	if left := placeholder.FindString(out); left != "" {
		return "", fmt.Errorf("nginx template: unknown placeholder %s", left)
	}
	return out, nil
}

// WriteConfig renders the repository's template into dir and writes a main
// nginx.conf around it that keeps every path (pid, logs, temp files) in dir,
// for an nginx run as `nginx -c <dir>/nginx.conf -p <dir>`. It returns that path.
func WriteConfig(repo, dir string, v Vars) (string, error) {
	tmpl, err := os.ReadFile(filepath.Join(repo, "frontend", "nginx.conf.template"))
	if err != nil {
		return "", err
	}
	site, err := Render(string(tmpl), v)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "roboshop.conf"), []byte(site), 0o644); err != nil {
		return "", err
	}
	workerUser, err := workerUser(v.HTMLRoot, dir)
	if err != nil {
		return "", err
	}
	main := fmt.Sprintf(`daemon off;
%[2]s
worker_processes 1;
worker_rlimit_nofile 8192;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/tmp-body;
  proxy_temp_path %[1]s/tmp-proxy;
  fastcgi_temp_path %[1]s/tmp-fastcgi;
  uwsgi_temp_path %[1]s/tmp-uwsgi;
  scgi_temp_path %[1]s/tmp-scgi;
  include %[1]s/roboshop.conf;
}
`, dir, workerUser)
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
