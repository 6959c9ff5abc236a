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
#   scripts/deps.sh test   the test command (scripts/test.sh): the lab's, and
#                          Chromium (the browser test), etcd (the chart's API
#                          server), systemd-analyze (the EC2 units' check), and the
#                          pinned Go tools under .cache/bin
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
run | lab | test) ;;
*)
	echo "usage: scripts/deps.sh run|lab|test" >&2
	exit 2
	;;
esac

need=()
want() { command -v "$1" >/dev/null || need+=("${@:2}"); }
want redis-server redis-server
want mariadbd mariadb-server
want nginx nginx-light
if [ "$purpose" != run ]; then
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
if [ "$purpose" = test ]; then
	want chromium chromium fonts-dejavu-core
	want etcd etcd-server
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
build_kube_apiserver() {
	if [ -z "$KUBE_VERSION" ]; then
		echo "deploy/kube/apiserver/go.mod names no k8s.io/kubernetes version" >&2
		return 1
	fi
	# Stamped with its version, as a release is: clients (helm's kubeVersion
	# check) read it from /version. A binary built before it was stamped says
	# v0.0.0-master and is built again.
	[ -x "$BIN/kube-apiserver-$KUBE_VERSION" ] &&
		[ "$("$BIN/kube-apiserver-$KUBE_VERSION" --version 2>/dev/null)" = "Kubernetes $KUBE_VERSION" ] && return
	local minor=${KUBE_VERSION#v1.}
	local stamp="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 \
-X k8s.io/component-base/version.gitMinor=${minor%%.*} -X k8s.io/component-base/version.gitTreeState=clean"
	log "building kube-apiserver $KUBE_VERSION from the Go module proxy (about 4 minutes on 2 cores, once)"
	retry progress "$CACHE/kube-apiserver-build.log" bash -c "cd deploy/kube/apiserver && GOWORK=off CGO_ENABLED=0 \
		go build -trimpath -gcflags '$TOOL_GCFLAGS' -ldflags '-s -w $stamp' -o '$CACHE/build/kube-apiserver' k8s.io/kubernetes/cmd/kube-apiserver"
	mv "$CACHE/build/kube-apiserver" "$BIN/kube-apiserver-$KUBE_VERSION"
}

# Three chains of builds side by side: while one build downloads its modules
# or links, which leaves the cores idle, the others compile. Builds that share
# packages are in one chain, so a package is compiled once (Helm and
# kube-apiserver share Kubernetes's).
case $purpose in
lab) build_ferretdb ;;
test)
	kubernetes_tools() { build_staticcheck && build_helm && build_kube_apiserver; }
	scanners() { build_trivy && build_cyclonedx && build_ferretdb; }
	servers() { build_terraform && build_prometheus; }
	in_parallel kubernetes_tools scanners servers
	;;
esac
log_end
