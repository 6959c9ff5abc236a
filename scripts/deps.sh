#!/usr/bin/env bash
# Installs what one purpose needs and the machine lacks, and nothing more:
#   scripts/deps.sh run    the local run (scripts/dev.sh): the datastore servers
#                          (Redis, MariaDB) and nginx, from Debian; the MongoDB
#                          stand-in is built by the run itself
#   scripts/deps.sh lab    the lab (scripts/lab.sh): run's servers, the network
#                          tools (nftables, iproute2, unshare, conntrack), Graphviz
#                          for the lab's picture, what a learner uses on a tier
#                          (telnet, nc, ping, curl), OpenSSH's server (started by
#                          the lab in each instance, never as the host's service)
#                          and client, and FerretDB's server (SCRAM)
#   scripts/deps.sh node   the chart on a Kubernetes node (scripts/node-test.sh):
#                          etcd, containerd, runc, the CNI plugins, ipset (for
#                          kube-router), gcc (the pause binary), and under
#                          .cache/bin the node's Go programs: Kubernetes's six,
#                          CoreDNS, kube-router, helm
#   scripts/deps.sh test   the test command (scripts/test.sh): the lab's and the
#                          node's, and Chromium (the browser test), systemd-analyze
#                          (the EC2 units' check), and the pinned Go tools under
#                          .cache/bin
# The compose run needs none of these: Docker, and compose and the stand-in
# images, which scripts/up.sh makes itself (standins/images.sh).
# The servers are started by the tests and the lab themselves, never as system
# services. Idempotent; apt waits for its lock rather than failing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2
TERRAFORM_VERSION=v1.5.7   # the last MPL release; builds from the Go module proxy
# HELM_VERSION and KUBE_VERSION are in lib.sh: scripts/test.sh names the binaries too.

purpose=${1:-}
case $purpose in
run | lab | node | test) ;;
*)
	echo "usage: scripts/deps.sh run|lab|node|test" >&2
	exit 2
	;;
esac

need=()
want() { command -v "$1" >/dev/null || need+=("${@:2}"); }
if [ "$purpose" != node ]; then
	want redis-server redis-server
	want mariadbd mariadb-server
	want nginx nginx-light
fi
if [ "$purpose" = lab ] || [ "$purpose" = test ]; then
	want nft nftables
	want ip iproute2
	want unshare util-linux
	want conntrack conntrack # the lab's firewall drills
	want dot graphviz        # the lab's picture (scripts/lab.sh check)
	# What a learner uses on a tier (scripts/lab.sh shell): telnet, nc, ping, curl.
	want telnet telnet
	want nc netcat-openbsd
	want ping iputils-ping
	want curl curl
	# Debian's OpenSSH server, which the lab starts inside each instance
	# (never as the host's own service: see below), and its client.
	want sshd openssh-server
	want ssh-keygen openssh-client
fi
if [ "$purpose" = node ] || [ "$purpose" = test ]; then
	want etcd etcd-server # the chart's API server, and the node's
	want containerd containerd
	want runc runc
	[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
	want ipset ipset
	want gcc gcc libc6-dev
	want nsenter util-linux
fi
if [ "$purpose" = test ]; then
	want chromium chromium fonts-dejavu-core
	want systemd-analyze systemd # the EC2 units' check
fi
if ((${#need[@]})); then
	log "installing Debian packages for $purpose: ${need[*]} (about 2 minutes the first time)"
	retry progress "$CACHE/apt.log" apt_install "${need[@]}"
	# Installed for the lab, OpenSSH's server must not become the host's:
	# apt_install kept it from starting, and where systemd runs, its units
	# are not left enabled for the next boot either.
	if [[ " ${need[*]} " == *" openssh-server "* ]] && [ -d /run/systemd/system ]; then
		systemctl disable --quiet ssh.service ssh.socket 2>/dev/null || true
	fi
fi

build_staticcheck() {
	"$BIN/staticcheck" -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})" && return
	log "building staticcheck $STATICCHECK_VERSION (about a minute, once)"
	retry progress "$CACHE/staticcheck-build.log" env GOBIN="$BIN" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
}
build_terraform() {
	"$BIN/terraform" version 2>/dev/null | grep -q "Terraform ${TERRAFORM_VERSION}$" && return
	# For the tests only (fmt, init -backend=false, validate): the remote state
	# backends but Terraform's own (azurerm, consul, cos, gcs, kubernetes, oss,
	# pg, s3) are left out of the build, and with them a third of its packages
	# (client-go, the Azure and Tencent SDKs among them). To deploy, use a
	# Terraform of your own.
	log "building terraform $TERRAFORM_VERSION from its release source, remote state backends left out (about 3 minutes on 2 cores, once)"
	PATCH="sed -i -E '/backend(Azure|Consul|Cos|GCS|Kubernetes|OSS|Pg|S3)\b/d' internal/backend/init/init.go" GCFLAGS=$TOOL_GCFLAGS \
		retry progress "$CACHE/terraform-build.log" build_release github.com/hashicorp/terraform "$TERRAFORM_VERSION" . "$BIN/terraform"
}
build_helm() {
	"$BIN/helm-$HELM_VERSION" version --short 2>/dev/null | grep -q "^$HELM_VERSION" && return
	# As Helm's Makefile does: the Kubernetes version it assumes without a
	# cluster (for kubeVersion and deprecation checks) is its client-go's, 1.34.
	local helm_k8s="" pkg
	for pkg in pkg/lint/rules pkg/chartutil; do
		helm_k8s+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=34"
	done
	log "building helm $HELM_VERSION from the Go module proxy (about 3 minutes on 2 cores, once)"
	GCFLAGS=$TOOL_GCFLAGS go_install_as "$BIN/helm-$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
		"-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION $helm_k8s"
}
build_kubernetes() {
	if [ -z "$KUBE_VERSION" ]; then
		echo "deploy/kube/kubernetes/go.mod names no k8s.io/kubernetes version" >&2
		return 1
	fi
	# Stamped with their version, as a release is: clients (helm's
	# kubeVersion check) read it from /version. A set built before it was
	# stamped, or with one binary missing, is built again.
	local name missing=""
	for name in "${KUBE_NODE_BINARIES[@]}"; do
		[ -x "$BIN/$name-$KUBE_VERSION" ] || missing+=" $name"
	done
	[ -z "$missing" ] && [ "$("$BIN/kube-apiserver-$KUBE_VERSION" --version 2>/dev/null)" = "Kubernetes $KUBE_VERSION" ] && return
	local minor=${KUBE_VERSION#v1.} pkgs=() stamp=""
	minor=${minor%%.*}
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		stamp+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
	done
	for name in "${KUBE_NODE_BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$name"); done
	log "building Kubernetes $KUBE_VERSION (${KUBE_NODE_BINARIES[*]}) from the Go module proxy (about 8 minutes on 2 cores, once)"
	rm -rf "$CACHE/build/kubernetes" && mkdir -p "$CACHE/build/kubernetes"
	retry progress "$CACHE/kubernetes-build.log" bash -c "cd deploy/kube/kubernetes && GOWORK=off CGO_ENABLED=0 \
		go build -trimpath -gcflags '$TOOL_GCFLAGS' -ldflags '-s -w $stamp' -o '$CACHE/build/kubernetes/' ${pkgs[*]}"
	for name in "${KUBE_NODE_BINARIES[@]}"; do mv "$CACHE/build/kubernetes/$name" "$BIN/$name-$KUBE_VERSION"; done
}
# build_pause: the pod sandbox's process, from the pinned release's source.
build_pause() {
	[ -x "$PAUSE" ] && return
	local src
	src=$(cd deploy/kube/kubernetes && GOWORK=off go mod download k8s.io/kubernetes && GOWORK=off go list -m -f '{{.Dir}}' k8s.io/kubernetes)
	gcc -Os -static -DVERSION="$KUBE_VERSION" -o "$PAUSE" "$src/build/pause/linux/pause.c"
}
build_coredns() {
	[ -x "$COREDNS" ] && return
	log "building CoreDNS (deploy/kube/coredns) from the Go module proxy (about 3 minutes on 2 cores, once)"
	build_own_tool deploy/kube/coredns "$COREDNS"
}
build_kube_router() {
	[ -x "$KUBE_ROUTER" ] && return
	log "building kube-router $KUBE_ROUTER_VERSION from the Go module proxy (about 3 minutes on 2 cores, once)"
	GCFLAGS=$TOOL_GCFLAGS go_install_as "$KUBE_ROUTER" "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
}

# Three chains of builds side by side: while one build downloads its modules
# or links, which leaves the cores idle, the others compile. Builds that share
# packages are in one chain, so a package is compiled once (Helm and
# kube-apiserver share Kubernetes's).
case $purpose in
lab) build_ferretdb ;;
node)
	kubernetes_tools() { build_helm && build_kubernetes && build_pause; }
	in_parallel kubernetes_tools build_coredns build_kube_router
	;;
test)
	kubernetes_tools() { build_staticcheck && build_helm && build_kubernetes && build_pause; }
	scanners() { build_trivy && build_cyclonedx && build_ferretdb && build_coredns; }
	servers() { build_terraform && build_prometheus && build_kube_router; }
	in_parallel kubernetes_tools scanners servers
	;;
esac
log_end
