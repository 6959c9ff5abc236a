//go:build kubenode

package kube

// A single-node Kubernetes cluster for the chart's run on a real node
// (node_test.go): etcd, the control plane, containerd, kubelet, kube-proxy,
// CoreDNS and kube-router, all inside one network namespace of the test's
// own, with every file under nodeDir. Test tooling, not part of the shop:
// kube-router (flagged for reported security flaws) enforces the
// NetworkPolicies here and is reachable from nowhere but that namespace.
// scripts/node-test.sh builds the binaries and images and runs it.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	nodeName  = "roboshop-node"
	nodeNetns = "roboshop-node" // /run/netns/roboshop-node
	// nodeDir holds every file of the node (on disk, not tmpfs: the images'
	// layers are a few hundred MB); a run begins by removing what a killed
	// run left there.
	nodeDir     = "/var/tmp/roboshop-node"
	nodeIP      = "10.89.0.2" // on an empty bridge: the kernel here has no dummy interfaces
	clusterCIDR = "10.244.0.0/16"
	podSubnet   = "10.244.0.0/24"
	serviceCIDR = "10.96.0.0/16"
	dnsIP       = "10.96.0.10"
	apiPort     = "6443"
	// cgroupRoot is the node's own cgroup under every hierarchy: kubelet puts
	// its pods below it, and teardown ends whatever is left in it (never a
	// /kubepods another kubelet on this machine may own).
	cgroupRoot = "roboshop-node"
)

// The host's settings kubelet changes; put back at teardown.
var kubeletSysctls = []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"}

// Paths outside nodeDir that kubelet and libcni write to whatever they are
// told: removed at teardown when the node made them.
var hostPathsWritten = []string{"/var/lib/kubelet", "/var/lib/cni", "/var/log/containers"}

type node struct {
	t          *testing.T
	bin        string // the binaries, by their plain names (scripts/node-test.sh)
	kubeconfig string
	procs      []*nodeProc
	sysctls    map[string]string
	made       []string // of hostPathsWritten, those the node made
}

type nodeProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func (n *node) path(parts ...string) string {
	return filepath.Join(append([]string{nodeDir}, parts...)...)
}

// startNode brings the node up and has t's cleanup tear it down.
func startNode(t *testing.T) *node {
	bin := os.Getenv("ROBOSHOP_KUBE_NODE_BIN")
	if bin == "" {
		t.Fatal("ROBOSHOP_KUBE_NODE_BIN is not set: run scripts/node-test.sh")
	}
	n := &node{t: t, bin: bin, kubeconfig: filepath.Join(nodeDir, "pki", "kubeconfig"), sysctls: map[string]string{}}
	if err := removeLeftovers(); err != nil {
		t.Fatal(err)
	}
	for _, s := range kubeletSysctls {
		b, err := os.ReadFile("/proc/sys/" + s)
		if err != nil {
			t.Fatal(err)
		}
		n.sysctls[s] = strings.TrimSpace(string(b))
	}
	for _, p := range hostPathsWritten {
		if _, err := os.Stat(p); os.IsNotExist(err) {
			n.made = append(n.made, p)
		}
	}
	t.Cleanup(n.teardown)
	for _, d := range []string{"pki", "logs", "pids", "cni/net.d", "volumes", "kubelet", "pod-logs"} {
		if err := os.MkdirAll(n.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"network namespace, cgroups", func() error { return errors.Join(n.makeNetns(), makeCgroups()) }},
		{"certificates", n.writePKI},
		{"configuration", n.writeConfig},
		{"containerd", n.startContainerd},
		{"images", n.importImages},
		{"control plane", n.startControlPlane},
		{"kubelet, kube-proxy", n.startNodeAgents},
		{"node Ready, kube-router, DNS", n.waitReady},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.do(); err != nil {
			t.Fatalf("node: %s: %v\n%s", s.name, err, n.logTails())
		}
		t.Logf("node: %s in %.1f s", s.name, time.Since(start).Seconds())
	}
	return n
}

// removeLeftovers ends the processes a killed run started (by the PIDs it
// wrote), then removes its mounts, cgroups, namespace and files.
func removeLeftovers() error {
	pids, _ := filepath.Glob(filepath.Join(nodeDir, "pids", "*"))
	for _, f := range pids {
		b, _ := os.ReadFile(f)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		// Only a process that is still the one we started: its command
		// line names nodeDir.
		if err == nil && slices.Contains(processesNaming(nodeDir), pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// The containerd shims of this node's containers (their command line
	// names its containerd's socket).
	for _, pid := range processesNaming("containerd-shim", nodeDir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	killCgroupProcs()
	time.Sleep(500 * time.Millisecond)
	unmountUnder(nodeDir)
	removeCgroups()
	_ = exec.Command("ip", "netns", "del", nodeNetns).Run()
	return os.RemoveAll(nodeDir)
}

// processesNaming is every process whose command line holds each of parts.
func processesNaming(parts ...string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		match := err == nil
		for _, p := range parts {
			match = match && bytes.Contains(b, []byte(p))
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); match && err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killCgroupProcs ends every process left in the node's cgroups: the
// containers kubelet started there.
func killCgroupProcs() {
	_ = filepath.WalkDir(filepath.Join("/sys/fs/cgroup/pids", cgroupRoot), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return nil
	})
}

func unmountUnder(dir string) {
	for range 3 {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return
		}
		var targets []string
		for line := range strings.SplitSeq(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
				targets = append(targets, f[4])
			}
		}
		if len(targets) == 0 {
			return
		}
		// Deepest first.
		slices.SortFunc(targets, func(a, b string) int { return len(b) - len(a) })
		for _, m := range targets {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	}
}

// removeCgroups removes the node's cgroup under every hierarchy, deepest
// first (a cgroup goes only when it is empty).
func removeCgroups() {
	roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", cgroupRoot))
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	}
}

// makeCgroups makes the node's cgroup under every hierarchy: kubelet
// requires its cgroupRoot to exist.
func makeCgroups() error {
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*/cgroup.procs")
	for _, h := range hierarchies {
		if err := os.MkdirAll(filepath.Join(filepath.Dir(h), cgroupRoot), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (n *node) makeNetns() error {
	for _, args := range [][]string{
		{"ip", "netns", "add", nodeNetns},
		{"ip", "-n", nodeNetns, "link", "set", "lo", "up"},
		{"ip", "-n", nodeNetns, "link", "add", "node0", "type", "bridge"},
		{"ip", "-n", nodeNetns, "addr", "add", nodeIP + "/24", "dev", "node0"},
		{"ip", "-n", nodeNetns, "link", "set", "node0", "up"},
		// Components look for the default route's interface to find the
		// node's address.
		{"ip", "-n", nodeNetns, "route", "add", "default", "dev", "node0"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// writePKI makes a CA, the API server's certificate, the service-account key
// pair, and one admin token every component and the test use (a kubeconfig).
func (n *node) writePKI() error {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "roboshop-node-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
		IPAddresses: []net.IP{net.ParseIP(nodeIP), net.ParseIP("10.96.0.1"), net.ParseIP("127.0.0.1")}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return err
	}
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return err
	}
	files := map[string][]byte{
		"ca.crt":        pemBlock("CERTIFICATE", caDER),
		"ca.key":        pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(caKey)),
		"apiserver.crt": pemBlock("CERTIFICATE", srvDER),
		"apiserver.key": pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)),
		"sa.key":        pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sa)),
		"sa.pub":        pemBlock("PUBLIC KEY", saPub),
		"tokens.csv":    []byte(hex.EncodeToString(token) + `,roboshop-node-admin,1,"system:masters"` + "\n"),
		"kubeconfig": fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: node, cluster: {server: "https://%s:%s", certificate-authority: %q}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: node, context: {cluster: node, user: admin}}]
current-context: node
`, nodeIP, apiPort, n.path("pki", "ca.crt"), hex.EncodeToString(token)),
	}
	for name, b := range files {
		if err := os.WriteFile(n.path("pki", name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func (n *node) writeConfig() error {
	files := map[string]string{
		"containerd.toml": fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %[3]q
[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  # Root here lacks CAP_SYS_RESOURCE: without this runc fails every sandbox.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[6]q
`, n.path("containerd", "root"), n.path("containerd", "state"), n.containerdSock(), n.path("containerd", "opt"), pauseImage, n.path("cni", "net.d")),
		"cni/net.d/10-roboshop-node.conflist": fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "roboshop-node", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
`, podSubnet, n.path("cni", "ipam")),
		"kubelet.yaml": fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
readOnlyPort: 0
# cgroup v1 only here: kubelet 1.34 runs on it when told to.
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupRoot: /%s
failSwapOn: false
containerRuntimeEndpoint: unix://%s
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
# exec and logs through the API server, which presents no client certificate.
authorization: {mode: AlwaysAllow}
clusterDomain: cluster.local
clusterDNS: [%s]
resolvConf: ""
evictionHard: {memory.available: 100Mi, nodefs.available: 1%%, imagefs.available: 1%%, nodefs.inodesFree: 1%%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
volumePluginDir: %s
podLogsDir: %s
serializeImagePulls: false
`, nodeIP, cgroupRoot, n.containerdSock(), dnsIP, n.path("kubelet-plugins"), n.path("pod-logs")),
	}
	for name, content := range files {
		if err := os.WriteFile(n.path(name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (n *node) containerdSock() string { return n.path("containerd.sock") }

// start runs name (from n.bin, or PATH) inside the node's namespace, its
// output in logs/<name>.log and its PID in pids/<name>.
func (n *node) start(name, program string, args ...string) error {
	log, err := os.Create(n.path("logs", name+".log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := n.nsCommand(context.Background(), program, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "NODE_NAME="+nodeName)
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &nodeProc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	n.procs = append(n.procs, p)
	return os.WriteFile(n.path("pids", name), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
}

// await polls check until it succeeds, within d; an exited process ends the
// wait at once.
func (n *node) await(what string, d time.Duration, check func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return nil
		}
		for _, p := range n.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited (%v) while waiting for %s", p.name, p.cmd.ProcessState, what)
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s: %v", what, d, err)
		}
		time.Sleep(time.Second)
	}
}

func (n *node) startContainerd() error {
	if err := n.start("containerd", "containerd", "--config", n.path("containerd.toml")); err != nil {
		return err
	}
	return n.await("containerd", time.Minute, func() error {
		_, err := n.ctr("version")
		return err
	})
}

func (n *node) startControlPlane() error {
	pki := func(f string) string { return n.path("pki", f) }
	if err := n.start("etcd", "etcd", "--name", nodeName, "--data-dir", n.path("etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", nodeName+"=http://127.0.0.1:2380", "--log-level", "warn"); err != nil {
		return err
	}
	if err := n.start("kube-apiserver", "kube-apiserver", "--etcd-servers", "http://127.0.0.1:2379",
		"--advertise-address", nodeIP, "--secure-port", apiPort,
		"--tls-cert-file", pki("apiserver.crt"), "--tls-private-key-file", pki("apiserver.key"),
		"--client-ca-file", pki("ca.crt"), "--token-auth-file", pki("tokens.csv"),
		"--authorization-mode", "Node,RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", pki("sa.pub"), "--service-account-signing-key-file", pki("sa.key"),
		"--service-cluster-ip-range", serviceCIDR, "--enable-priority-and-fairness=false",
		// The node's name is in no DNS: exec and logs go to its address.
		"--kubelet-preferred-address-types", "InternalIP",
		"--cert-dir", n.path("pki", "apiserver")); err != nil {
		return err
	}
	if err := n.await("the API server", 2*time.Minute, func() error {
		_, err := n.kubectl("get", "--raw", "/readyz")
		return err
	}); err != nil {
		return err
	}
	if err := n.start("kube-controller-manager", "kube-controller-manager", "--kubeconfig", n.kubeconfig,
		"--leader-elect=false", "--allocate-node-cidrs", "--cluster-cidr", clusterCIDR, "--node-cidr-mask-size", "24",
		"--service-cluster-ip-range", serviceCIDR, "--root-ca-file", pki("ca.crt"),
		"--service-account-private-key-file", pki("sa.key"), "--use-service-account-credentials=false",
		"--cert-dir", n.path("pki", "controller-manager")); err != nil {
		return err
	}
	return n.start("kube-scheduler", "kube-scheduler", "--kubeconfig", n.kubeconfig, "--leader-elect=false",
		"--cert-dir", n.path("pki", "scheduler"))
}

func (n *node) startNodeAgents() error {
	if err := n.start("kubelet", "kubelet", "--config", n.path("kubelet.yaml"), "--kubeconfig", n.kubeconfig,
		"--root-dir", n.path("kubelet"), "--cert-dir", n.path("pki", "kubelet"),
		"--hostname-override", nodeName, "--node-ip", nodeIP); err != nil {
		return err
	}
	// iptables mode; the conntrack settings are the host's, left alone.
	return n.start("kube-proxy", "kube-proxy", "--kubeconfig", n.kubeconfig, "--proxy-mode", "iptables",
		"--hostname-override", nodeName, "--cluster-cidr", clusterCIDR,
		"--conntrack-max-per-core", "0", "--conntrack-min", "0",
		"--conntrack-tcp-timeout-established", "0", "--conntrack-tcp-timeout-close-wait", "0",
		"--metrics-bind-address", "127.0.0.1:10249", "--healthz-bind-address", "127.0.0.1:10256")
}

// startPolicies starts kube-router, once the node it enforces on is registered.
func (n *node) startPolicies() error {
	// NetworkPolicy only: routes, service proxy and CNI are the bridge's and
	// kube-proxy's.
	return n.start("kube-router", "kube-router", "--kubeconfig", n.kubeconfig, "--hostname-override", nodeName,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
		"--metrics-port", "0", "--health-port", "20244")
}

// nsCommand is program (from n.bin, or PATH) run inside the node's namespace.
func (n *node) nsCommand(ctx context.Context, program string, args ...string) *exec.Cmd {
	if _, err := os.Stat(filepath.Join(n.bin, program)); err == nil {
		program = filepath.Join(n.bin, program)
	}
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + nodeNetns, "--", program}, args...)...)
}

func (n *node) output(cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args[3:], " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (n *node) kubectl(args ...string) (string, error) { return n.kubectlIn("", args...) }

// kubectlIn is kubectl with stdin.
func (n *node) kubectlIn(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := n.nsCommand(ctx, "kubectl", append([]string{"--kubeconfig", n.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	return n.output(cmd)
}

func (n *node) helm(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := n.nsCommand(ctx, os.Getenv("ROBOSHOP_HELM"), append([]string{"--kubeconfig", n.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+n.path("helm"), "HELM_CONFIG_HOME="+n.path("helm"), "HELM_DATA_HOME="+n.path("helm"))
	return n.output(cmd)
}

// ctr talks to the node's containerd (over its socket: no namespace needed).
func (n *node) ctr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return n.output(exec.CommandContext(ctx, "ctr", append([]string{"--address", n.containerdSock(), "-n", "k8s.io"}, args...)...))
}

// teardown removes the node and everything it made, and checks that nothing
// is left: no process, mount, cgroup, namespace or file, the sysctls as they
// were.
func (n *node) teardown() {
	t := n.t
	start := time.Now()
	if len(n.procs) > 0 {
		if t.Failed() {
			t.Log(n.logTails())
		}
		// Nothing of the cluster outlives it: kubelet and the control plane
		// stop first, then every container left in the node's cgroups, and
		// the namespace takes the pods' network with it.
		for _, p := range slices.Backward(n.procs) {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(15 * time.Second):
				// kube-apiserver may not exit while clients are connected.
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
	}
	for _, image := range []string{pauseImage, corednsImage} {
		_ = exec.Command("docker", "image", "rm", image).Run()
	}
	if err := removeLeftovers(); err != nil {
		t.Errorf("node teardown: %v", err)
	}
	for _, p := range n.made {
		_ = os.RemoveAll(p)
	}
	for s, v := range n.sysctls {
		if err := os.WriteFile("/proc/sys/"+s, []byte(v), 0o644); err != nil {
			t.Errorf("restoring %s: %v", s, err)
		}
	}
	// What is left, if anything, is a failure.
	var left []string
	if _, err := os.Stat(nodeDir); err == nil {
		left = append(left, nodeDir)
	}
	if _, err := os.Stat("/run/netns/" + nodeNetns); err == nil {
		left = append(left, "network namespace "+nodeNetns)
	}
	if m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", cgroupRoot)); len(m) > 0 {
		left = append(left, m...)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(b, []byte(nodeDir)) {
		left = append(left, "mounts under "+nodeDir)
	}
	for _, pid := range processesNaming(nodeDir) {
		left = append(left, "process "+strconv.Itoa(pid))
	}
	for _, p := range n.made {
		if _, err := os.Stat(p); err == nil {
			left = append(left, p)
		}
	}
	for s, v := range n.sysctls {
		if b, _ := os.ReadFile("/proc/sys/" + s); strings.TrimSpace(string(b)) != v {
			left = append(left, fmt.Sprintf("sysctl %s = %s (was %s)", s, strings.TrimSpace(string(b)), v))
		}
	}
	if len(left) > 0 {
		t.Errorf("the node left behind: %s", strings.Join(left, "; "))
		return
	}
	t.Logf("node: torn down in %.1f s, nothing left behind (processes, mounts, cgroups, namespace, %s, %s, sysctls %s)",
		time.Since(start).Seconds(), nodeDir, strings.Join(hostPathsWritten, ", "), strings.Join(kubeletSysctls, ", "))
}

// logTails is the end of every component's log, for a failure.
func (n *node) logTails() string {
	var b strings.Builder
	logs, _ := filepath.Glob(n.path("logs", "*.log"))
	for _, f := range logs {
		data, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "--- %s (last lines)\n%s\n", filepath.Base(f), strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}
