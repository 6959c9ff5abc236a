// Package frontend holds the tests of the frontend: nginx with the repository's
// config in front of the real services, and the web UI in a real browser. The
// UI itself is static files (html/, published from src/ by publish.sh) and the
// config is nginx.conf.template.
package frontend
