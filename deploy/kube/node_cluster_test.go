//go:build kubenode

package kube

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Images the node makes for itself (docker import of one static binary) and
// removes at teardown.
const (
	pauseImage   = "roboshop-node/pause:1"
	corednsImage = "roboshop-node/coredns:1"
)

// The images the chart names, by what scripts/node-test.sh has in Docker:
// the shop's own, built from the same Dockerfiles compose builds, and the
// datastores' stand-ins (standins/images.sh) under the chart's default names.
// Two tags of the shop's images: the install's and the rollout's.
var shopComponents = []string{"user", "catalogue", "cart", "payment", "frontend"}

const (
	installTag = "node-1"
	rolloutTag = "node-2"
)

var datastoreImages = map[string]string{ // Docker's name -> the chart's default
	"mongo:7":   "mongo:7.0",
	"redis:7":   "redis:7.2",
	"mysql:8.4": "mysql:8.4",
}

// qualified is the name containerd stores an image under.
func qualified(image string) string {
	name, _, _ := strings.Cut(image, ":")
	if !strings.Contains(name, "/") {
		return "docker.io/library/" + image
	}
	return "docker.io/" + image
}

// importImages makes the pause and CoreDNS images, then moves every image
// the node runs from Docker into containerd (no registry: docker save, ctr
// import) and tags them with the names the chart and the CoreDNS manifest ask for.
func (n *node) importImages() error {
	for image, binary := range map[string]string{pauseImage: "pause", corednsImage: "coredns"} {
		tar := exec.Command("tar", "-C", n.bin, "-ch", "--transform", "s|^|/|", binary)
		imp := exec.Command("docker", "import", "--change", fmt.Sprintf(`ENTRYPOINT ["/%s"]`, binary), "-", image)
		pipe, err := tar.StdoutPipe()
		if err != nil {
			return err
		}
		imp.Stdin = pipe
		if err := tar.Start(); err != nil {
			return err
		}
		if out, err := imp.CombinedOutput(); err != nil {
			return fmt.Errorf("docker import %s: %v: %s", image, err, out)
		}
		if err := tar.Wait(); err != nil {
			return err
		}
	}
	images := []string{pauseImage, corednsImage}
	for _, c := range shopComponents {
		images = append(images, "roboshop/"+c+":"+shopDockerTag())
	}
	for docker := range datastoreImages {
		images = append(images, docker)
	}
	save := exec.Command("docker", append([]string{"save"}, images...)...)
	imp := exec.Command("ctr", "--address", n.containerdSock(), "-n", "k8s.io", "images", "import", "-")
	pipe, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	var saveErr bytes.Buffer
	save.Stderr = &saveErr
	imp.Stdin = pipe
	if err := save.Start(); err != nil {
		return err
	}
	if out, err := imp.CombinedOutput(); err != nil {
		_ = save.Process.Kill()
		_ = save.Wait()
		return fmt.Errorf("ctr import: %v: %s %s", err, out, saveErr.String())
	}
	if err := save.Wait(); err != nil {
		return fmt.Errorf("docker save: %v: %s", err, saveErr.String())
	}
	tag := func(from, to string) error {
		if from == to {
			return nil
		}
		_, err := n.ctr("images", "tag", "--force", qualified(from), qualified(to))
		return err
	}
	for _, c := range shopComponents {
		for _, t := range []string{installTag, rolloutTag} {
			if err := tag("roboshop/"+c+":"+shopDockerTag(), "roboshop/"+c+":"+t); err != nil {
				return err
			}
		}
	}
	for docker, chart := range datastoreImages {
		if err := tag(docker, chart); err != nil {
			return err
		}
	}
	return nil
}

// shopDockerTag is the tag scripts/test.sh builds the shop's images with.
func shopDockerTag() string {
	if t := os.Getenv("ROBOSHOP_TAG"); t != "" {
		return t
	}
	return "dev"
}

// corednsManifest is the cluster's DNS: the kube-dns Service the chart's
// policies let every pod reach, and CoreDNS behind it.
var corednsManifest = fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: system:coredns}
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: system:coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:coredns}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        cache 30
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      containers:
        - name: coredns
          image: %s
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile]
          ports:
            - {name: dns, containerPort: 53, protocol: UDP}
            - {name: dns-tcp, containerPort: 53, protocol: TCP}
          readinessProbe:
            httpGet: {path: /ready, port: 8181}
            periodSeconds: 2
          volumeMounts: [{name: config, mountPath: /etc/coredns}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: %s
  selector: {k8s-app: kube-dns}
  ports:
    - {name: dns, port: 53, protocol: UDP}
    - {name: dns-tcp, port: 53, protocol: TCP}
`, qualified(corednsImage), dnsIP)

// waitReady waits for the node to be Ready, then starts kube-router and the
// cluster's DNS and waits for it.
func (n *node) waitReady() error {
	if err := n.await("node Ready", 3*time.Minute, func() error {
		out, err := n.kubectl("get", "node", nodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err == nil && out != "True" {
			err = fmt.Errorf("Ready=%q", out)
		}
		return err
	}); err != nil {
		return err
	}
	if err := n.startPolicies(); err != nil {
		return err
	}
	if _, err := n.kubectlIn(corednsManifest, "apply", "-f", "-"); err != nil {
		return err
	}
	_, err := n.kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=3m")
	return err
}

// volumes makes a hostPath PersistentVolume under nodeDir for each of the
// chart's claims (the node has no storage class), owned by the datastores'
// user: kubelet applies fsGroup to no hostPath volume.
func (n *node) volumes(claims []string) error {
	var b strings.Builder
	for _, c := range claims {
		dir := n.path("volumes", c)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		if err := os.Chown(dir, 999, 999); err != nil {
			return err
		}
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: PersistentVolume
metadata: {name: %s}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: %s, name: %s}
  hostPath: {path: %s, type: Directory}
`, c, releaseNamespace, c, filepath.Clean(dir))
	}
	_, err := n.kubectlIn(b.String(), "apply", "-f", "-")
	return err
}
