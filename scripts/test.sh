#!/usr/bin/env bash
# Runs every check and test of the project on a Debian/Ubuntu machine, as root
# (the lab test makes network namespaces and nftables rules).
# scripts/deps.sh installs what is missing (Debian packages, pinned Go tools:
# staticcheck, Terraform 1.5.7, Helm, Kubernetes's binaries); then gofmt, go vet,
# staticcheck, a GOWORK=off build of every module, and go test -race over every
# module in go.work: the services against real datastores, the security-group
# loader and policy, the Terraform checks, the Helm chart (its NetworkPolicies'
# reachability, a dry run through a real kube-apiserver), and the lab (up,
# reachability matrix, smoke, down); then,
# where a Docker engine runs, docker-compose.yml for real (scripts/compose-test.sh)
# and the Helm chart on a real single-node Kubernetes cluster (scripts/node-test.sh).
# Every step says what it does and how long it took; the total comes last.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export CHECKPOINT_DISABLE=1 GOBIN="$BIN"
total_start=$(now)

# The compose stage's base images (debootstrap, Debian's packages) are made
# beside the tool builds, which are mostly compiling while these mostly
# download; docker compose is built from source here too when missing.
base_images_job=""
if docker info >/dev/null 2>&1; then
	(_step_start="" && standins/images.sh) >"$CACHE/images-base.log" 2>&1 &
	base_images_job=$!
fi

scripts/deps.sh test
export ROBOSHOP_TERRAFORM="$CACHE/bin/terraform" TF_CLI_CONFIG_FILE=/dev/null
export ROBOSHOP_HELM="$BIN/helm-$HELM_VERSION" ROBOSHOP_KUBE_APISERVER="$BIN/kube-apiserver-$KUBE_VERSION"
export ROBOSHOP_FERRETDB="$FERRETDB" ROBOSHOP_TRIVYCONFIG="$TRIVYCONFIG" ROBOSHOP_PROMETHEUS="$PROMETHEUS" ROBOSHOP_PROMTOOL="$PROMTOOL"

mapfile -t modules < <(go list -m -f '{{.Dir}}')

# The compose stage's images go on being made beside the checks and tests,
# which spend much of their time waiting on servers and downloads: the
# stand-ins (Jaeger's and Prometheus's among them, Jaeger the longest build at
# about 6 minutes) and the shop's own, which compose then finds in its cache.
images_job=""
if [ -n "$base_images_job" ]; then
	if ! wait "$base_images_job"; then
		cat "$CACHE/images-base.log"
		exit 1
	fi
	(_step_start="" && standins/images.sh observability && shop_images) >"$CACHE/images.log" 2>&1 &
	images_job=$!
fi

# --- Static checks -------------------------------------------------------------
log "gofmt"
unformatted=$(gofmt -l "${modules[@]}")
if [ -n "$unformatted" ]; then
	echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi
# With the settings the programs ship with (AS_SHIPPED, lib.sh): what is
# checked is what ships, and the packages compiled here are the ones the
# binaries below, the lab's tools and the release test's amd64 build are
# linked from.
# requestctx (checks/): datastore and outbound calls take the request's
# context, never gin's. It runs on its own (go vet -vettool's cached results
# were seen to drop its findings on a second run).
(cd checks && "${AS_SHIPPED[@]}" go build -o "$BIN/requestctx" ./cmd/requestctx)
for dir in "${modules[@]}"; do
	name=${dir#"$ROOT"/}
	log "vet, requestctx, staticcheck and GOWORK=off build: $name"
	# deploy's node test (scripts/node-test.sh) is built only with the tag
	# kubenode: checked here with it.
	tags=nomsgpack
	[ "$name" = deploy ] && tags=nomsgpack,kubenode
	progress "$CACHE/vet.log" "${AS_SHIPPED[@]}" bash -c "cd '$dir' && go vet -tags $tags ./... && '$BIN/requestctx' ./... && '$GOBIN/staticcheck' -tags $tags ./... && GOWORK=off go build -o /dev/null ./..."
done

# --- Tests -----------------------------------------------------------------------
# Built once here rather than by every test binary, as the Dockerfiles build
# them (topology.Build takes them from ROBOSHOP_BIN_DIR): the services, and the
# MongoDB stand-in (embedded FerretDB; testkit prefers a real mongod on PATH).
log "building the MongoDB stand-in and the service binaries the tests start"
progress "$CACHE/bins-build.log" build_test_bins
export ROBOSHOP_BIN_DIR="$CACHE/bin"

log "go test -race (every module; each benchmark once to keep it working)"
patterns=()
for dir in "${modules[@]}"; do patterns+=("./${dir#"$ROOT"/}/..."); done
# Only the packages that have tests: go test would otherwise compile every
# other one again with -race (the MongoDB stand-in's embedded FerretDB and
# SQLite among them) only to say it has no test files. The checks above have
# built them all.
mapfile -t tested < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "${patterns[@]}")
# The longest first (go test starts packages in the order given): user's
# bcrypt under -race and deploy/ec2's release builds, left for last, ran
# alone at the end.
slowest=(github.com/roboshop-go/roboshop/user github.com/roboshop-go/roboshop/deploy/ec2 github.com/roboshop-go/roboshop/payment)
mapfile -t tested < <(printf '%s\n' "${slowest[@]}"; printf '%s\n' "${tested[@]}" | grep -v -x -F -f <(printf '%s\n' "${slowest[@]}"))
# The output goes to .cache/test.log, with a line every 30 s while it runs; a
# failure prints the whole log, a pass the per-package summary.
# -vet=off: the checks above ran go vet over every package, tests included.
if ! progress "$CACHE/test.log" go test -race -vet=off -count=1 -timeout 20m -bench . -benchtime 1x "${tested[@]}"; then
	cat "$CACHE/test.log"
	exit 1
fi
grep -E '^(ok|FAIL) ' "$CACHE/test.log" || true

# --- The README's run command without Docker: the lab ---------------------------
log "scripts/up.sh without Docker (the lab), checked through the URL it prints, then stopped"
lab_port=$(free_port 18180)
ROBOSHOP_RUN=lab FRONTEND_PORT=$lab_port ROBOSHOP_UP_FILE="$CACHE/up-lab.env" scripts/up.sh
ROBOSHOP_URL=""
. "$CACHE/up-lab.env" # up.sh's hand-over (its header says what it holds)
[ "$ROBOSHOP_URL" = "http://127.0.0.1:$lab_port/" ] && serves_shop "$lab_port" ||
	{ echo "scripts/up.sh (lab) handed over no URL that serves the shop (got '$ROBOSHOP_URL')" >&2; scripts/lab.sh down; exit 1; }
# The security-group drills: a mutated copy of the groups applied to the lab,
# its check showing exactly the broken pairs, the groups restored.
for drill in sg-rule-removed sg-rule-widened; do
	log "scripts/drill.sh $drill (on the lab)"
	FRONTEND_PORT=$lab_port scripts/drill.sh -picture "$CACHE/drill-$drill.svg" "$drill" | tee "$CACHE/drill-$drill.txt" || { scripts/lab.sh down; exit 1; }
done
scripts/lab.sh down

# --- docker-compose.yml, run for real ------------------------------------------
# Wherever a Docker engine answers: stand-in images (no registry needed), build,
# up, a journey through the published port, isolation checked from inside the
# containers, down (scripts/compose-test.sh says how).
if docker info >/dev/null 2>&1; then
	log "waiting for the images made beside the tests"
	if [ -n "$images_job" ] && ! wait "$images_job"; then
		cat "$CACHE/images.log"
		exit 1
	fi
	log "docker compose: images, build, up, journey, isolation, the observability profile and its drills, down"
	scripts/compose-test.sh
	# --- The Helm chart on a real Kubernetes node ------------------------------
	# The same images, imported into a single-node cluster the test brings up
	# in a network namespace and removes (scripts/node-test.sh says how).
	log "the Helm chart on a Kubernetes node (scripts/node-test.sh)"
	scripts/node-test.sh
else
	log "no Docker engine answers: docker-compose.yml was checked statically only (deploy/composecheck), and the chart was not run on a node (its images are built with Docker)"
fi
log_end
echo "all checks and tests passed in $(since "$total_start" | cut -d. -f1) s"
