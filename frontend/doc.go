// Package frontend holds the tests of the frontend: nginx with the repository's
// config in front of the real services, and the web UI in a real browser. The
// UI itself is static files in src/, published with content-hashed asset names
// by publish.sh wherever nginx serves them (the image build, topology.PublishUI);
// the config is nginx.conf.template.
package frontend
