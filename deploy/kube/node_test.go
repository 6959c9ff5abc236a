//go:build kubenode

package kube

// The chart on a real Kubernetes node (node_up_test.go): installed with its
// defaults and the single node's values, every pod Ready under the chart's
// security contexts (the namespace enforces Pod Security "restricted"); a
// buyer's journey through the frontend Service; the NetworkPolicy matrix
// probed from inside every pod and compared with the security groups, and a
// planted wrong policy caught; a rollout of every image under load with no
// failed request; a datastore pod deleted mid-run that comes back with its
// data. Run by scripts/node-test.sh (go test -tags kubenode).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/deploy/netns"
	"github.com/roboshop-go/roboshop/deploy/sg"
	"github.com/roboshop-go/roboshop/kit/loadreport"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

const releaseNamespace = release

// singleNodeValues are all the chart needs beyond its defaults on this node
// (the chart's README says why): the tag the images were imported under, and
// no Ingress (the node runs no Ingress controller: the journey goes through
// the frontend Service).
var singleNodeValues = []string{"image.tag=" + installTag, "ingress.enabled=false"}

func TestNode(t *testing.T) {
	n := startNode(t)
	n.install(t)

	t.Run("every pod Ready under the chart's security contexts", func(t *testing.T) {
		out, err := n.kubectl("-n", releaseNamespace, "get", "pods", "-o", "wide")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pods:\n%s", out)
		pods := n.pods(t)
		if len(pods) < 10 {
			t.Errorf("%d pods, want the chart's 10 (4 services, 2 frontends, 4 datastores)", len(pods))
		}
		for _, p := range pods {
			if !p.ready {
				t.Errorf("pod %s is not Ready", p.name)
			}
		}
		label, err := n.kubectl("get", "namespace", releaseNamespace, "-o", `jsonpath={.metadata.labels.pod-security\.kubernetes\.io/enforce}`)
		if err != nil || label != "restricted" {
			t.Errorf("namespace %s enforces Pod Security %q (%v), want restricted", releaseNamespace, label, err)
		}
	})

	t.Run("a buyer's journey through the frontend Service", func(t *testing.T) {
		rep := n.loadgen(t, "-mix", "buyer=1", "-vus", "2", "-iterations", "3", "-ramp-up", "0s")
		if rep.Total.Errors != 0 || rep.Total.Count == 0 {
			t.Fatalf("journey: %d requests, %d failed: %v", rep.Total.Count, rep.Total.Errors, rep.Total.Statuses)
		}
		var steps []string
		for _, s := range rep.Steps {
			steps = append(steps, fmt.Sprintf("%s %d", s.Name, s.Count))
			if s.Errors != 0 {
				t.Errorf("step %s: %d of %d failed", s.Name, s.Errors, s.Count)
			}
		}
		for _, want := range []string{"buyer/register", "buyer/checkout", "buyer/orders"} {
			if s, ok := rep.Step(want); !ok || s.Count == 0 {
				t.Errorf("the journey has no %s step: %v", want, steps)
			}
		}
		t.Logf("journey: %d requests, 0 failed, statuses %v; steps: %s", rep.Total.Count, rep.Total.Statuses, strings.Join(steps, ", "))
	})

	t.Run("the NetworkPolicy matrix equals the security groups", func(t *testing.T) {
		rep, matrix := n.probeMatrix(t)
		t.Logf("matrix (from each pod's network namespace; ports that connect):\n%s", matrix)
		t.Logf("%d probes, %d connected, %d differences", rep.Probes, rep.Allowed, len(rep.Differences))
		for _, d := range rep.Differences {
			t.Errorf("DIFFERENCE: %s", d)
		}
	})

	t.Run("a planted wrong policy is caught", func(t *testing.T) {
		// The frontend let into the user's database: one connection the
		// groups forbid.
		planted := fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: planted-wrong, namespace: %[1]s}
spec:
  podSelector: {matchLabels: {%[2]s: user-mongodb}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {%[2]s: frontend}}}]
      ports: [{port: 27017, protocol: TCP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: planted-wrong-egress, namespace: %[1]s}
spec:
  podSelector: {matchLabels: {%[2]s: frontend}}
  policyTypes: [Egress]
  egress:
    - to: [{podSelector: {matchLabels: {%[2]s: user-mongodb}}}]
      ports: [{port: 27017, protocol: TCP}]
`, releaseNamespace, ComponentLabel)
		if _, err := n.kubectlIn(planted, "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		want := []string{"frontend -> user-mongodb:27017: definitions say blocked, network allowed"}
		var got []string
		// kube-router applies a change within seconds: probe until the
		// difference shows or a minute has passed.
		deadline := time.Now().Add(time.Minute)
		for {
			rep, _ := n.probeMatrix(t)
			got = got[:0]
			for _, d := range rep.Differences {
				got = append(got, d.String())
			}
			got = slices.Compact(got) // two frontend pods, one line each
			if slices.Equal(got, want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Second)
		}
		if !slices.Equal(got, want) {
			t.Errorf("with the planted policy the matrix shows %q, want exactly %q", got, want)
		} else {
			t.Logf("planted policy caught: %s", got[0])
		}
		if _, err := n.kubectl("-n", releaseNamespace, "delete", "networkpolicy", "planted-wrong", "planted-wrong-egress"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a rollout of every image under load fails no request", func(t *testing.T) {
		n.rollout(t)
	})

	t.Run("a datastore pod deleted mid-run comes back with its data", func(t *testing.T) {
		n.restartDatastore(t)
	})
}

// install makes the namespace (Pod Security "restricted" enforced), the
// volumes the chart's claims bind to, and installs the chart.
func (n *node) install(t *testing.T) {
	start := time.Now()
	ns := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: latest}
`, releaseNamespace)
	if _, err := n.kubectlIn(ns, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	var claims []string
	for _, ds := range []string{"user-mongodb", "catalogue-mongodb", "cart-redis", "payment-mysql"} {
		claims = append(claims, "data-"+ds+"-0")
	}
	if err := n.volumes(claims); err != nil {
		t.Fatal(err)
	}
	args := []string{"install", release, chartDir, "--namespace", releaseNamespace, "--wait", "--timeout", "5m"}
	for _, v := range singleNodeValues {
		args = append(args, "--set", v)
	}
	if out, err := n.helm(args...); err != nil {
		desc, _ := n.kubectl("-n", releaseNamespace, "get", "pods,events", "-o", "wide")
		t.Fatalf("helm install: %v\n%s\n%s\n%s", err, out, desc, n.logTails())
	}
	// The autoscalers bring each Deployment to its minimum (the frontend's
	// is 2) just after the install: wait for those replicas too.
	if err := n.await("every Deployment at its autoscaler's minimum", 2*time.Minute, func() error {
		out, err := n.kubectl("-n", releaseNamespace, "get", "hpa", "-o",
			`jsonpath={range .items[*]}{.spec.scaleTargetRef.name}={.spec.minReplicas}{"\n"}{end}`)
		if err != nil {
			return err
		}
		for _, line := range strings.Fields(out) {
			name, min, _ := strings.Cut(line, "=")
			ready, err := n.kubectl("-n", releaseNamespace, "get", "deployment", name, "-o", "jsonpath={.status.readyReplicas}")
			if err != nil {
				return err
			}
			if ready != min {
				return fmt.Errorf("%s: %s of %s replicas Ready", name, ready, min)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("helm install %s (--set %s): every pod Ready in %.1f s", chartDir, strings.Join(singleNodeValues, " --set "), time.Since(start).Seconds())
}

type pod struct {
	name, component, ip string
	ready               bool
}

func (n *node) pods(t *testing.T) []pod {
	t.Helper()
	out, err := n.kubectl("-n", releaseNamespace, "get", "pods", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list corev1.PodList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	var pods []pod
	for _, it := range list.Items {
		if it.DeletionTimestamp != nil {
			continue
		}
		p := pod{name: it.Name, component: it.Labels[ComponentLabel], ip: it.Status.PodIP}
		for _, c := range it.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				p.ready = true
			}
		}
		pods = append(pods, p)
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].name < pods[j].name })
	return pods
}

// frontendURL is the frontend Service's address inside the node.
func (n *node) frontendURL(t *testing.T) (string, string) {
	t.Helper()
	ip, err := n.kubectl("-n", releaseNamespace, "get", "service", "frontend", "-o", "jsonpath={.spec.clusterIP}")
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + ip + ":80", ip
}

// loadgen runs the load generator inside the node against the frontend
// Service and returns its report.
func (n *node) loadgen(t *testing.T, args ...string) loadreport.Report {
	t.Helper()
	return n.startLoadgen(t, args...)()
}

// startLoadgen starts the load generator in the background (it is ended
// with t if still running); the function it returns waits for it and reads
// its report.
func (n *node) startLoadgen(t *testing.T, args ...string) func() loadreport.Report {
	t.Helper()
	url, ip := n.frontendURL(t)
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cmd := n.nsCommand(ctx, "loadgen", append([]string{"-target", url, "-allow-host", ip,
		"-json", jsonPath, "-progress", "0"}, args...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return func() loadreport.Report {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatalf("loadgen: %v\n%s", err, out.String())
		}
		rep, err := loadreport.Read(jsonPath)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
}

// probeMatrix tries, from inside every pod of the release and from one pod
// outside it (the groups' internet), every pod of the release on every port
// of the groups (as the pod listens on it), and the cluster's DNS, and
// compares what connects with what the groups allow. Blocked means refused
// or timed out.
func (n *node) probeMatrix(t *testing.T) (sg.CheckReport, string) {
	t.Helper()
	set := loadGroups(t)
	_, dropped := NetworkPolicies(set)
	groups := withoutDropped(set, dropped)
	addrOf := func(string) netip.Addr { return netip.MustParseAddr("203.0.113.10") }
	outsider := n.outsider(t)
	namespaces := n.podNetns(t)
	pods := slices.DeleteFunc(n.pods(t), func(p pod) bool { return p.name == outsider.name })
	dns, err := n.kubectl("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "jsonpath={.items[0].status.podIP}")
	if err != nil {
		t.Fatal(err)
	}
	type probe struct {
		from, srcGroup, dstGroup, addr string // from: the source's network namespace
		port                           int
		expected, seen                 bool
	}
	var probes []*probe
	sources := append(slices.Clone(pods), pod{name: outsider.name, component: internet, ip: outsider.ip})
	for _, src := range sources {
		from, ok := namespaces[src.ip]
		if !ok {
			t.Fatalf("no network namespace found for pod %s", src.name)
		}
		for _, dst := range pods {
			if dst.component == src.component {
				continue
			}
			for _, sgPort := range set.Ports() {
				port, ok := PodPort(dst.component, sgPort)
				if !ok {
					continue
				}
				probes = append(probes, &probe{from: from, srcGroup: src.component, dstGroup: dst.component,
					addr: net.JoinHostPort(dst.ip, strconv.Itoa(port)), port: sgPort,
					expected: groupsAllow(set, groups, src.component, dst.component, sgPort, addrOf)})
			}
		}
		if src.component != internet {
			// The cluster's DNS, every pod of the release; nothing else outside it.
			probes = append(probes, &probe{from: from, srcGroup: src.component, dstGroup: "kube-dns",
				addr: net.JoinHostPort(dns, "53"), port: 53, expected: true})
			probes = append(probes, &probe{from: from, srcGroup: src.component, dstGroup: "outside the release",
				addr: net.JoinHostPort(outsider.ip, "8080"), port: 8080, expected: false})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 128)
	for _, p := range probes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p.seen = connects(p.from, p.addr)
		}()
	}
	wg.Wait()
	// DNS answers over UDP too: one lookup from every pod.
	for _, src := range pods {
		if err := resolves(namespaces[src.ip], dnsIP, "kubernetes.default.svc.cluster.local"); err != nil {
			t.Errorf("DNS from %s: %v", src.name, err)
		}
	}
	rep := sg.CheckReport{Probes: len(probes), Differences: []sg.Difference{}}
	cells := map[string][]string{}
	for _, p := range probes {
		if p.seen {
			rep.Allowed++
			key := p.srcGroup + " -> " + p.dstGroup
			if !slices.Contains(cells[key], strconv.Itoa(p.port)) {
				cells[key] = append(cells[key], strconv.Itoa(p.port))
			}
		}
		if p.seen != p.expected {
			rep.Differences = append(rep.Differences, sg.Difference{From: p.srcGroup, To: p.dstGroup, Port: p.port,
				DefinitionsAllow: p.expected, NetworkAllows: p.seen})
		}
	}
	var matrix strings.Builder
	for _, r := range slices.Sorted(maps.Keys(cells)) {
		fmt.Fprintf(&matrix, "  %-40s %s\n", r, strings.Join(cells[r], ","))
	}
	sort.Slice(rep.Differences, func(i, j int) bool { return rep.Differences[i].String() < rep.Differences[j].String() })
	return rep, matrix.String()
}

// connects reports whether a TCP connection from inside the network
// namespace at path to addr opens within 2 s.
func connects(path, addr string) bool {
	c, err := netns.Do(path, func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 2*time.Second) })
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// resolves looks name up over UDP at server from inside the namespace at path.
func resolves(path, server, name string) error {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return netns.Do(path, func() (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", net.JoinHostPort(server, "53"))
		})
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, name)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no address")
	}
	return err
}

// podNetns maps each pod's IP to its network namespace (containerd keeps
// them under its state directory).
func (n *node) podNetns(t *testing.T) map[string]string {
	t.Helper()
	paths, _ := filepath.Glob(n.path("containerd", "state", "io.containerd.grpc.v1.cri", "netns", "*"))
	out := map[string]string{}
	for _, p := range paths {
		ip, err := netns.Do(p, func() (string, error) {
			iface, err := net.InterfaceByName("eth0")
			if err != nil {
				return "", err
			}
			addrs, err := iface.Addrs()
			if err != nil {
				return "", err
			}
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
					return ipn.IP.String(), nil
				}
			}
			return "", errors.New("no IPv4 address")
		})
		if err == nil {
			out[ip] = p
		}
	}
	if len(out) == 0 {
		t.Fatalf("no pod network namespace under %s", n.path("containerd", "state"))
	}
	return out
}

// outsider is a pod in the release's namespace that belongs to no group
// (the pause image, listening nowhere): the groups' internet as a source,
// and a destination the release's pods must not reach.
func (n *node) outsider(t *testing.T) pod {
	t.Helper()
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: outsider, namespace: %s, labels: {run: outsider}}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: pause
      image: %s
      imagePullPolicy: Never
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
`, releaseNamespace, qualified(pauseImage))
	if _, err := n.kubectlIn(manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.kubectl("-n", releaseNamespace, "wait", "pod/outsider", "--for=condition=Ready", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	ip, err := n.kubectl("-n", releaseNamespace, "get", "pod", "outsider", "-o", "jsonpath={.status.podIP}")
	if err != nil {
		t.Fatal(err)
	}
	return pod{name: "outsider", ip: ip, ready: true}
}

// rollout runs load through the frontend while helm upgrade moves every
// service and the frontend to a new image tag; it counts failed requests and
// samples the PodDisruptionBudgets throughout.
func (n *node) rollout(t *testing.T) {
	report := n.startLoadgen(t, "-vus", "4", "-duration", "45s", "-ramp-up", "2s")
	stopSampling := make(chan struct{})
	samples := make(chan pdbSamples, 1)
	go func() { samples <- n.samplePDBs(stopSampling) }()
	time.Sleep(10 * time.Second)
	start := time.Now()
	args := []string{"upgrade", release, chartDir, "--namespace", releaseNamespace, "--reuse-values",
		"--set", "image.tag=" + rolloutTag, "--wait", "--timeout", "5m"}
	if out, err := n.helm(args...); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	took := time.Since(start)
	close(stopSampling)
	s := <-samples
	rep := report()
	for _, c := range shopComponents {
		image, err := n.kubectl("-n", releaseNamespace, "get", "deployment", c, "-o", "jsonpath={.spec.template.spec.containers[0].image}")
		if err != nil || !strings.HasSuffix(image, ":"+rolloutTag) {
			t.Errorf("deployment %s runs %q (%v), want tag %s", c, image, err, rolloutTag)
		}
	}
	t.Logf("rollout: helm upgrade to %s in %.1f s under load: %d requests, %d failed (statuses %v); PodDisruptionBudgets sampled %d times, %d violations",
		rolloutTag, took.Seconds(), rep.Total.Count, rep.Total.Errors, rep.Total.Statuses, s.count, len(s.violations))
	if rep.Total.Errors != 0 {
		t.Errorf("%d requests failed across the rollout, want 0", rep.Total.Errors)
	}
	for _, v := range s.violations {
		t.Errorf("PodDisruptionBudget: %s", v)
	}
	if s.count == 0 {
		t.Error("the PodDisruptionBudgets were never sampled")
	}
}

type pdbSamples struct {
	count      int
	violations []string
}

// samplePDBs reads every PodDisruptionBudget's status each second until
// stop: a budget is kept while its healthy pods are at least the desired.
func (n *node) samplePDBs(stop chan struct{}) pdbSamples {
	var s pdbSamples
	for {
		select {
		case <-stop:
			return s
		case <-time.After(time.Second):
		}
		out, err := n.kubectl("-n", releaseNamespace, "get", "pdb", "-o", "json")
		if err != nil {
			continue
		}
		var list policyv1.PodDisruptionBudgetList
		if json.Unmarshal([]byte(out), &list) != nil || len(list.Items) == 0 {
			continue
		}
		s.count++
		for _, p := range list.Items {
			if p.Status.CurrentHealthy < p.Status.DesiredHealthy {
				s.violations = append(s.violations, fmt.Sprintf("%s: %d healthy, %d desired", p.Name, p.Status.CurrentHealthy, p.Status.DesiredHealthy))
			}
		}
	}
}

// restartDatastore deletes payment's MySQL pod while buyers check out, and
// reads the orders table back before and after: the last order written
// before is there when the pod is back.
func (n *node) restartDatastore(t *testing.T) {
	report := n.startLoadgen(t, "-mix", "buyer=1", "-vus", "2", "-duration", "45s", "-ramp-up", "0s")
	var before orderCount
	if err := n.await("orders written", time.Minute, func() error {
		var err error
		before, err = n.orders()
		if err == nil && before.count == 0 {
			err = errors.New("no order yet")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	state := func() (string, error) {
		return n.kubectl("-n", releaseNamespace, "get", "pod", "payment-mysql-0", "-o",
			`jsonpath={.metadata.uid} {.status.conditions[?(@.type=="Ready")].status}`)
	}
	old, err := state()
	if err != nil {
		t.Fatal(err)
	}
	oldUID, _, _ := strings.Cut(old, " ")
	start := time.Now()
	if _, err := n.kubectl("-n", releaseNamespace, "delete", "pod", "payment-mysql-0", "--wait=false"); err != nil {
		t.Fatal(err)
	}
	// The StatefulSet makes the pod again: wait for the new one's readiness.
	if err := n.await("payment-mysql-0 back", 3*time.Minute, func() error {
		s, err := state()
		if err == nil && (strings.HasPrefix(s, oldUID) || !strings.HasSuffix(s, " True")) {
			err = fmt.Errorf("not yet a new Ready pod: %s", s)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	back := time.Since(start)
	var after orderCount
	if err := n.await("orders readable", time.Minute, func() error {
		var err error
		after, err = n.orders()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rep := report()
	has, err := n.mysql(fmt.Sprintf("SELECT COUNT(*) FROM orders WHERE id = '%s'", before.last))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("datastore: payment-mysql-0 deleted with %d orders (the last %s); Ready again in %.1f s with %d orders, the last one before there: %v; the run: %d requests, %d failed while MySQL was away (statuses %v)",
		before.count, before.last, back.Seconds(), after.count, has == "1", rep.Total.Count, rep.Total.Errors, rep.Total.Statuses)
	if has != "1" || after.count < before.count {
		t.Errorf("after the restart: %d orders, order %s present %q; before: %d", after.count, before.last, has, before.count)
	}
}

type orderCount struct {
	count int
	last  string // the newest order's id
}

// orders is the orders table's row count and newest order.
func (n *node) orders() (orderCount, error) {
	out, err := n.mysql("SELECT COUNT(*), COALESCE((SELECT id FROM orders ORDER BY created_at DESC LIMIT 1), '-') FROM orders")
	if err != nil {
		return orderCount{}, err
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return orderCount{}, fmt.Errorf("unexpected answer %q", out)
	}
	count, err := strconv.Atoi(f[0])
	return orderCount{count, f[1]}, err
}

// mysql runs one query in the payment database as its owner, inside the
// MySQL pod (its own client, over its socket).
func (n *node) mysql(query string) (string, error) {
	out, err := n.kubectl("-n", releaseNamespace, "exec", "payment-mysql-0", "--", "sh", "-c",
		`MYSQL_PWD="$MYSQL_PASSWORD" mariadb --socket=/var/run/mysqld/mysqld.sock -u"$MYSQL_USER" -N -B "$MYSQL_DATABASE" -e "$0"`, query)
	return strings.TrimSpace(out), err
}
