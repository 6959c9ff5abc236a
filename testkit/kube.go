package testkit

// A Kubernetes API server with nothing behind it (no kubelet, no controllers):
// enough for the API server's own validation and admission, Pod Security
// included, to judge objects in a dry run.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/topology"
)

// KubeAPI is a running kube-apiserver: its base URL, and a client that
// trusts its self-signed certificate and sends a token with every right.
type KubeAPI struct {
	URL    string
	Client *http.Client
	// Kubeconfig is a kubeconfig file for it, for tools (helm, kubectl).
	Kubeconfig string
}

// bearer adds the token to every request (the API server takes no anonymous
// ones under AlwaysAllow).
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(req)
}

// StartKubeAPIServer starts etcd (Debian's etcd-server) and kube-apiserver on
// free loopback ports with throwaway data for this test, and waits until the
// API server reports ready.
func StartKubeAPIServer(t testing.TB) *KubeAPI {
	t.Helper()
	apiserver := Tool(t, "ROBOSHOP_KUBE_APISERVER", "kube-apiserver", "scripts/deps.sh builds it (deploy/kube/kubernetes)")
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatal("etcd not found: scripts/deps.sh installs Debian's etcd-server")
	}
	etcdProc := ownProcess(t, func(dir string, port int) (*Process, error) {
		peer := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
		client := fmt.Sprintf("http://127.0.0.1:%d", port)
		return &Process{name: etcd, addr: "127.0.0.1:" + strconv.Itoa(port), args: []string{
			"--name", "roboshop-test", "--data-dir", filepath.Join(dir, "etcd"),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", "roboshop-test=" + peer, "--log-level", "warn",
		}}, nil
	})

	dir := t.TempDir()
	token := randomHex(t)
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(token+`,roboshop-test,1,"system:masters"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	writePEM(t, filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pub)

	var port int
	ownProcess(t, func(_ string, p int) (*Process, error) {
		port = p
		return &Process{name: apiserver, addr: "127.0.0.1:" + strconv.Itoa(p), args: []string{
			"--etcd-servers", "http://" + etcdProc.Addr(),
			"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
			"--secure-port", strconv.Itoa(p), "--cert-dir", filepath.Join(dir, "certs"),
			"--token-auth-file", filepath.Join(dir, "tokens.csv"),
			"--authorization-mode", "AlwaysAllow",
			"--service-account-issuer", "https://kubernetes.default.svc",
			"--service-account-key-file", filepath.Join(dir, "sa.pub"),
			"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
			"--service-cluster-ip-range", "10.96.0.0/16",
			"--enable-priority-and-fairness=false",
		}}, nil
	})

	// The certificate the API server made for itself (cert-dir) is its own
	// authority: trust exactly it.
	pool := x509.NewCertPool()
	certPEM, err := os.ReadFile(filepath.Join(dir, "certs", "apiserver.crt"))
	if err != nil || !pool.AppendCertsFromPEM(certPEM) {
		t.Fatalf("kube-apiserver's certificate: %v", err)
	}
	api := &KubeAPI{URL: fmt.Sprintf("https://127.0.0.1:%d", port), Client: &http.Client{
		Timeout: 30 * time.Second,
		Transport: bearer{token: token, next: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}},
	}}
	api.Kubeconfig = filepath.Join(dir, "kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, certificate-authority: %q, tls-server-name: "127.0.0.1"}}]
users: [{name: test, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
`, api.URL, filepath.Join(dir, "certs", "apiserver.crt"), token)
	if err := os.WriteFile(api.Kubeconfig, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := topology.WaitHTTPWith(context.Background(), api.Client, api.URL+"/readyz", 90*time.Second); err != nil {
		t.Fatal(err)
	}
	return api
}

func randomHex(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
