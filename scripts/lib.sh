# Sourced by every script here and by standins/images.sh: the repository root as
# working directory, the tools on PATH, the classic Docker builder (no buildx
# plugin here), the cache directories, and the helpers that keep a run honest
# about what it is doing and for how long.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export PATH="/usr/local/go/bin:$PATH:/usr/sbin:/sbin"
export GOFLAGS="${GOFLAGS:--buildvcs=false}" DOCKER_BUILDKIT=0 COMPOSE_BAKE=false
# The settings the programs ship with (scripts/release.sh, the Dockerfile):
# static, no cgo, trimmed paths, gin without msgpack. The checks, the tests'
# binaries and the lab's tools are built with them too ("${AS_SHIPPED[@]}" GOWORK=off
# go build ...), so each package is compiled once for all of them.
AS_SHIPPED=(env CGO_ENABLED=0 GOFLAGS="$GOFLAGS -trimpath -tags=nomsgpack")
# required_version GO.MOD MODULE: the version GO.MOD requires of MODULE, in a
# require block or on a require line of its own.
required_version() {
	awk -v m="$2" '{sub(/^require /, "")} $1 == m && $2 ~ /^v/ {print $2; exit}' "$1"
}
CACHE="$ROOT/.cache"
WORK="$CACHE/compose"
BIN="$CACHE/bin"
mkdir -p "$WORK" "$BIN" "$CACHE/build"
BASE=roboshop-standin/debian:bookworm # the stand-in Debian base image
# Kubernetes tools (scripts/deps.sh builds them once into $BIN, named by
# version): helm for the chart, and kube-apiserver at the k8s.io/kubernetes
# version deploy/kube/kubernetes/go.mod requires, for the chart's dry run.
HELM_VERSION=v3.19.5
# The release's SBOMs (scripts/release.sh): CycloneDX's Go module tool.
CYCLONEDX_VERSION=v1.10.0
CYCLONEDX="$BIN/cyclonedx-gomod-$CYCLONEDX_VERSION"
# FerretDB, MongoDB's stand-in where no mongod is installed: the server of the
# compose stand-in image, and the lab's (which needs its SCRAM sign-in).
FERRETDB_VERSION=v1.24.0
FERRETDB="$BIN/ferretdb-$FERRETDB_VERSION"
# The misconfiguration scan of deploy/terraform: trivy's config scanner, with
# the checks built into it (it needs Go's encoding/json/v2 experiment), built
# as deploy/trivyconfig (the scanner without the rest of trivy's CLI) at the
# version its go.mod pins, once per change of its source.
TRIVY_VERSION=$(required_version deploy/trivyconfig/go.mod github.com/aquasecurity/trivy)
TRIVYCONFIG="$BIN/trivyconfig-$TRIVY_VERSION-$(cat deploy/trivyconfig/go.mod deploy/trivyconfig/go.sum deploy/trivyconfig/main.go | sha256sum | cut -c1-12)"
# The observability profile (docs/observability.md): Prometheus and promtool
# (one build; the tests run promtool on the alert rules and Prometheus against
# real services), Jaeger v2 and the collector's stand-in for compose's images.
PROMETHEUS_VERSION=v0.316.0 # its Go module's tag for the release below
PROMETHEUS_RELEASE=3.16.0
PROMETHEUS="$BIN/prometheus-$PROMETHEUS_VERSION"
PROMTOOL="$BIN/promtool-$PROMETHEUS_VERSION"
JAEGER_VERSION=v1.76.0 # Jaeger v2.13.0 (its Go module keeps the v1 tags)
JAEGER="$BIN/jaeger-$JAEGER_VERSION"
OTELCOL="$BIN/otelcol-$(cat standins/otelcol/go.mod standins/otelcol/go.sum standins/otelcol/main.go | sha256sum | cut -c1-12)"
# The tools only the tests and the stand-in images run are compiled without
# the compiler's optimisations and inlining: that is about 30% less compile
# time (staticcheck v0.8.2 cold: 48 s of CPU against 68 s), their code runs a
# little slower, and nothing they compute changes. FerretDB, which every test
# of user and catalogue talks to, and staticcheck, which reads every module,
# stay optimised.
TOOL_GCFLAGS="all=-N -l"
KUBE_VERSION=$(required_version deploy/kube/kubernetes/go.mod k8s.io/kubernetes)
# The rest of a Kubernetes node (scripts/node-test.sh): kubelet, kube-proxy,
# kube-controller-manager, kube-scheduler and kubectl from the same go.mod as
# kube-apiserver, each $BIN/<name>-$KUBE_VERSION; the pod sandbox's pause from
# that release's source; CoreDNS with the plugins a cluster's DNS needs
# (deploy/kube/coredns); and kube-router, the NetworkPolicy enforcer that
# works on this kind of kernel (test tooling only: security flaws are
# reported for the one version the Go module proxy serves).
KUBE_NODE_BINARIES=(kube-apiserver kubelet kube-proxy kube-controller-manager kube-scheduler kubectl)
PAUSE="$BIN/pause-$KUBE_VERSION"
COREDNS="$BIN/coredns-$(cat deploy/kube/coredns/go.mod deploy/kube/coredns/go.sum deploy/kube/coredns/main.go | sha256sum | cut -c1-12)"
KUBE_ROUTER_VERSION=v2.1.0
KUBE_ROUTER="$BIN/kube-router-$KUBE_ROUTER_VERSION"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# log TEXT: a step begins; the previous step of this script ends with its time.
_step_start=""
_step=""
log() {
	log_end
	printf '\n== %s\n' "$*" >&2
	_step_start=$(now)
	_step=$*
}
# log_end: closes the last step (call before a script's summary). Its line
# names the step, as steps run side by side (in_parallel).
log_end() {
	if [ -n "$_step_start" ]; then printf '   done in %s s: %s\n' "$(since "$_step_start")" "${_step%% (*}" >&2; fi
	_step_start=""
}

# in_parallel FUNCTION...: runs the functions side by side, each in the
# background with its own steps; fails, after all have ended, if any failed.
in_parallel() {
	local fn pids=() failed=0 pid
	log_end
	for fn in "$@"; do
		("$fn" && log_end) &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
	return "$failed"
}

# retry CMD...: a second attempt for the steps that download (Debian mirror, Go
# proxy), so one dropped connection does not fail the run.
retry() { "$@" || { echo "retrying once: $*" >&2; sleep 5; "$@"; }; }

# progress LOGFILE CMD...: runs CMD with its output in LOGFILE and, while it
# runs, says every 30 s how long it has taken and what it is doing (the log's
# last line), so a long build is never silent. On failure the log's tail is shown.
progress() {
	local logfile=$1 start pid status=0
	shift
	start=$(now)
	"$@" >"$logfile" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 1; done
		if kill -0 "$pid" 2>/dev/null; then
			printf '   ... %s s (%s): %s\n' "$(since "$start" | cut -d. -f1)" "$(basename "$logfile" .log)" "$(tail -n 1 "$logfile" | cut -c1-100)" >&2
		fi
	done
	wait "$pid" || status=$?
	if [ "$status" -ne 0 ]; then tail -n 40 "$logfile" >&2; fi
	return "$status"
}

# apt_install PACKAGE...: Debian packages, waiting up to 10 minutes for apt's
# lock (another apt run, unattended upgrades) instead of failing at once; no
# service starts (the tests and the lab start their own servers).
apt_install() {
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	local wait=(-o DPkg::Lock::Timeout=600)
	$sudo apt-get "${wait[@]}" update -qq
	# policy-rc.d answering 101 keeps a package's service from starting
	# (openssh-server's would listen on the host's port 22); one the machine
	# has already is left alone.
	local own_policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod +x /usr/sbin/policy-rc.d
		own_policy=1
	fi
	DEBIAN_FRONTEND=noninteractive $sudo apt-get "${wait[@]}" install -y -qq --no-install-recommends "$@" >/dev/null
	[ -z "$own_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
}

# free_port FIRST: the first TCP port from FIRST (of 100) that nothing listens on.
free_port() {
	local p
	for p in $(seq "$1" $(($1 + 99))); do
		if ! ss -Hltn "sport = :$p" | grep -q .; then echo "$p" && return; fi
	done
	echo "no free port in $1-$(($1 + 99))" >&2
	return 1
}

# get_local PORT PATH: the whole HTTP answer of 127.0.0.1:PORT to GET PATH
# (bash's /dev/tcp: no curl needed), within 10 s.
get_local() {
	timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'GET $2 HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && cat <&3"
}

# serves_shop PORT: the page at 127.0.0.1:PORT is the shop's (its hashed script).
serves_shop() {
	local page
	page=$(get_local "$1" /) && grep -q '/assets/app\.[0-9a-f]\{10\}\.js' <<<"$page"
}

# go_install_as DEST PACKAGE@VERSION [LDFLAGS]: `go install` of a pinned tool,
# static and trimmed, kept as DEST (whose name carries the version, so a new
# pin builds anew); the build's output goes to .cache/<name>-build.log. GCFLAGS,
# when set, are the compiler's flags.
go_install_as() {
	local dest=$1 pkg=$2 name
	name=$(basename "$dest")
	retry progress "$CACHE/$name-build.log" env GOBIN="$CACHE/build/$name" CGO_ENABLED=0 \
		go install -trimpath -gcflags "${GCFLAGS:-}" -ldflags "-s -w ${3:-}" "$pkg"
	mv "$CACHE/build/$name/$(basename "${pkg%@*}")" "$dest"
}

# build_own_tool DIR OUT: a test-only tool whose source is here, a module of
# its own (not in go.work), into OUT; the build's output goes to
# .cache/<dir's name>-build.log.
build_own_tool() {
	(cd "$1" && retry progress "$CACHE/$(basename "$1")-build.log" env GOWORK=off CGO_ENABLED=0 \
		go build -trimpath -gcflags "$TOOL_GCFLAGS" -ldflags="-s -w" -o "$2" .)
}

# build_cyclonedx: cyclonedx-gomod at its pinned version into $CYCLONEDX, once.
build_cyclonedx() {
	[ -x "$CYCLONEDX" ] && return
	log "building cyclonedx-gomod $CYCLONEDX_VERSION from the Go module proxy (about a minute, once)"
	GCFLAGS=$TOOL_GCFLAGS go_install_as "$CYCLONEDX" "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$CYCLONEDX_VERSION"
}

# build_release MODULE VERSION PACKAGES OUT [LDFLAGS]: builds commands from the
# module's release source, as its own main module, so its go.mod (replace and
# exclude directives, toolchain) applies exactly as in its own repository.
# PACKAGES is one package, or several (space-separated) with OUT a directory
# ending in /; TAGS, when set, are the build tags, and GCFLAGS the compiler's.
build_release() {
	local module=$1 version=$2 pkg=$3 out=$4 ldflags=${5:-}
	local dir src
	dir=$(GOWORK=off GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	src="$CACHE/src/$(basename "$out")"
	rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -r "$dir" "$src" && chmod -R u+w "$src"
	[ -z "${PATCH:-}" ] || (cd "$src" && eval "$PATCH")
	# shellcheck disable=SC2086 # PACKAGES is a list
	(cd "$src" && GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags "${TAGS:-}" -gcflags "${GCFLAGS:-}" -ldflags="-s -w $ldflags" -o "$out" $pkg) ||
		{ rm -rf "$src"; return 1; }
	rm -rf "$src"
}

# build_ferretdb: FerretDB's server at its pinned version into $FERRETDB, once.
build_ferretdb() {
	[ -x "$FERRETDB" ] && return
	# scripts/test.sh makes the images (the mongo:7 stand-in needs this) while
	# scripts/deps.sh builds the tools (the lab needs it): one build, the
	# other waits for it.
	local lock
	exec {lock}>"$CACHE/build/ferretdb.lock"
	flock "$lock"
	if ! [ -x "$FERRETDB" ]; then
		log "building FerretDB $FERRETDB_VERSION from its release source (about 2 minutes, once)"
		# A release build reads its version from build/version/version.txt, which
		# the module zip leaves out (FerretDB's own build writes it).
		PATCH="echo $FERRETDB_VERSION >build/version/version.txt" \
			retry progress "$CACHE/ferretdb-build.log" build_release github.com/FerretDB/FerretDB "$FERRETDB_VERSION" ./cmd/ferretdb "$FERRETDB"
	fi
	exec {lock}>&-
}

# build_trivy: trivy's config scanner (deploy/trivyconfig) into $TRIVYCONFIG, once.
build_trivy() {
	[ -x "$TRIVYCONFIG" ] && return
	log "building trivy $TRIVY_VERSION's config scanner (deploy/trivyconfig) from the Go module proxy (about 3 minutes on 2 cores, once)"
	GOEXPERIMENT=jsonv2 build_own_tool deploy/trivyconfig "$TRIVYCONFIG"
}

# build_prometheus: Prometheus and promtool at their pinned version, once. The
# cloud service discoveries are left out (remove_all_sd; static, file and HTTP
# targets stay): their SDKs are most of the build, and the shop names its
# targets. The web UI needs npm, so this Prometheus serves its API only.
build_prometheus() {
	[ -x "$PROMETHEUS" ] && [ -x "$PROMTOOL" ] && return
	log "building Prometheus and promtool $PROMETHEUS_VERSION from their release source (about 4 minutes on 2 cores, once)"
	local out="$CACHE/build/prometheus/"
	TAGS=remove_all_sd GCFLAGS=$TOOL_GCFLAGS retry progress "$CACHE/prometheus-build.log" build_release github.com/prometheus/prometheus \
		"$PROMETHEUS_VERSION" "./cmd/prometheus ./cmd/promtool" "$out" \
		"-X github.com/prometheus/common/version.Version=$PROMETHEUS_RELEASE"
	mv "$out/prometheus" "$PROMETHEUS" && mv "$out/promtool" "$PROMTOOL"
}

# build_jaeger: Jaeger v2 (all in one: the collector, memory storage, the query
# API) at its pinned version, once. Its UI's assets need npm: the API answers.
build_jaeger() {
	[ -x "$JAEGER" ] && return
	log "building Jaeger $JAEGER_VERSION from its release source (about 5 minutes on 2 cores, once)"
	GCFLAGS=$TOOL_GCFLAGS retry progress "$CACHE/jaeger-build.log" build_release github.com/jaegertracing/jaeger "$JAEGER_VERSION" ./cmd/jaeger "$JAEGER"
}

# build_otelcol: the collector's stand-in (standins/otelcol), once per change of
# its source; it shares Jaeger's collector release, so most of it is built.
build_otelcol() {
	[ -x "$OTELCOL" ] && return
	log "building the OpenTelemetry Collector stand-in (standins/otelcol)"
	build_own_tool standins/otelcol "$OTELCOL"
}

# build_test_bins: the programs the tests start (topology.Build takes them from
# ROBOSHOP_BIN_DIR=$BIN), as the Dockerfiles build them: the services, the
# card gateway's stand-in, the MongoDB stand-in (embedded FerretDB; testkit
# prefers a real mongod on PATH), nginx's exporter and the lab.
build_test_bins() {
	(cd standins && "${AS_SHIPPED[@]}" GOWORK=off go build -ldflags="-s -w" -o "$BIN/mongostandin" ./mongostandin &&
		"${AS_SHIPPED[@]}" GOWORK=off go build -ldflags="-s -w" -o "$BIN/nginxexporter" ./nginxexporter)
	for svc in user catalogue cart payment; do
		(cd "$svc" && "${AS_SHIPPED[@]}" GOWORK=off go build -ldflags="-s -w" -o "$BIN/$svc" .)
	done
	(cd payment && "${AS_SHIPPED[@]}" GOWORK=off go build -ldflags="-s -w" -o "$BIN/cardgateway" ./cmd/cardgateway)
	(cd deploy && "${AS_SHIPPED[@]}" GOWORK=off go build -o "$BIN/lab" ./lab)
}

# shop_images: the shop's images from this repository's Dockerfiles, tagged
# $ROBOSHOP_TAG (dev), on the stand-in base images (standins/images.sh):
# what the compose stage and the node test run (Docker caches them).
shop_images() {
	local program
	for program in user catalogue cart payment loadgen cardgateway; do
		docker build -q --build-arg PROGRAM="$program" -t "roboshop/$program:${ROBOSHOP_TAG:-dev}" . || return
	done
	docker build -q -f frontend/Dockerfile -t "roboshop/frontend:${ROBOSHOP_TAG:-dev}" .
}
