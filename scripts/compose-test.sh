#!/usr/bin/env bash
# Runs docker-compose.yml for real on a machine that has a Docker engine but no
# image registry (nothing can be pulled), then checks it and tears it down:
#
#  1. scripts/up.sh, the README's first command, as a user runs it: docker
#     compose v2 (built from the Go module proxy where the plugin is missing),
#     the stand-in images where no registry answers (standins/images.sh), then
#     `up --build --wait` on fresh volumes (timed); the URL it prints must serve
#     the shop.
#  2. A buyer journey through the published port with the load generator, and
#     deploy/cmd/composeverify: only the frontend publishes a port, and from
#     inside every container exactly the connections the security groups allow
#     succeed.
#  3. Image sizes and idle memory (docker stats) into .cache/compose/report.md,
#     then the load generator's own service (`--profile load`) for 15 s, then
#     `down -v`, also when a step fails.
#
# Usage: scripts/compose-test.sh. Needs root or the docker group.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PROJECT=roboshop-citest

# scripts/up.sh picks the Compose v2 plugin when installed, else builds this one.
COMPOSE="$BIN/docker-compose"
docker compose version --short 2>/dev/null | grep -Eq '^v?2\.' && COMPOSE="docker compose"

# --- The shop --------------------------------------------------------------------------------
port=$(free_port 18080)
export FRONTEND_PORT=$port
compose() { $COMPOSE -p "$PROJECT" -f docker-compose.yml --profile observability --profile load "$@"; }
down() { compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true; }
compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true # what a killed run left
trap 'status=$?; if [ $status -ne 0 ]; then compose ps -a; compose logs --tail 30; fi; down; exit $status' EXIT

log "scripts/up.sh, the README's first command: images, build, up --wait (fresh volumes)"
t=$(now)
COMPOSE_PROJECT_NAME=$PROJECT FRONTEND_PORT=$port ROBOSHOP_RUN=compose ROBOSHOP_UP_FILE="$WORK/up.env" scripts/up.sh
up_seconds=$(since "$t")
# up.sh's hand-over (its header says what it holds).
ROBOSHOP_URL="" ROBOSHOP_IMAGES=""
. "$WORK/up.env"
[ "$ROBOSHOP_URL" = "http://localhost:$port/" ] || { echo "scripts/up.sh handed over no URL of the shop (got '$ROBOSHOP_URL')" >&2; exit 1; }
serves_shop "$port" || { echo "the handed-over URL does not serve the shop's page" >&2; exit 1; }
echo "the handed-over URL serves the shop; up.sh took ${up_seconds} s" >&2

log "buyer journey through the published port 127.0.0.1:$port"
(cd loadgen && "${AS_SHIPPED[@]}" GOWORK=off go build -o "$BIN/loadgen" .)
"$BIN/loadgen" -target "http://127.0.0.1:$port" -vus 1 -iterations 1 -mix buyer=1 -duration 60s \
	-ramp-up 0s -progress 0 -json "$WORK/journey.json" >"$WORK/journey.txt"

log "isolation, published ports and the journey, checked from inside the containers"
(cd deploy && "${AS_SHIPPED[@]}" GOWORK=off go build -o "$BIN/composeverify" ./cmd/composeverify)
"$BIN/composeverify" -project "$PROJECT" -probe-image "$BASE" -journey "$WORK/journey.json" | tee "$WORK/verify.txt"

log "measurements"
sleep 10 # let the journey's work settle before reading idle memory
(cd deploy && "${AS_SHIPPED[@]}" GOWORK=off go build -o "$BIN/footprint" ./cmd/footprint)
"$BIN/footprint" -project "$PROJECT" -label "at rest" -json "$WORK/footprint-rest.json" >"$WORK/footprint-rest.md"
{
	echo "# docker compose on $(hostname) ($(nproc) cores), $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "- scripts/up.sh (stand-ins checked, docker compose up --build --wait on fresh volumes, layers cached as left by earlier runs): ${up_seconds} s"
	echo
	echo "## Images"
	echo
	echo "| image | size | of which the shop's own layers |"
	echo "|---|---|---|"
	for svc in frontend user catalogue cart payment; do
		img="roboshop/$svc:${ROBOSHOP_TAG:-dev}"
		case $svc in frontend) base=nginxinc/nginx-unprivileged:1.27-alpine ;; *) base=gcr.io/distroless/static-debian12:nonroot ;; esac
		own=$(($(docker image inspect -f '{{.Size}}' "$img") - $(docker image inspect -f '{{.Size}}' "$base")))
		echo "| $img on $base | $(docker image ls --format '{{.Size}}' "$img") | $(awk -v b="$own" 'BEGIN { printf "%.1f MB", b / 1e6 }') |"
	done
	for img in mongo:7 redis:7 mysql:8.4; do
		docker image ls --format '| {{.Repository}}:{{.Tag}} (stand-in) | {{.Size}} | |' "$img"
	done
	echo
	echo "## Memory at rest (deploy/cmd/footprint: each container's cgroup, less droppable page cache)"
	echo
	cat "$WORK/footprint-rest.md"
} >"$WORK/report.md"
cat "$WORK/report.md"

log "docker compose --profile load: the load generator's own container, 4 virtual users for 15 s"
retry progress "$WORK/loadgen-build.log" compose --profile load build loadgen
compose --profile load run --rm loadgen -target http://frontend:8080 -allow-host frontend \
	-vus 4 -duration 15s -ramp-up 2s -progress 0 -max-errors 0 -mix browse=40,guest=30,buyer=30 >"$WORK/loadgen-compose.txt" 2>&1 ||
	{ echo "the load generator's container saw errors:" >&2; cat "$WORK/loadgen-compose.txt"; exit 1; }
grep -m1 ' requests ' "$WORK/loadgen-compose.txt" || true # for the log
"$BIN/footprint" -project "$PROJECT" -label "after 15 s of 4 shoppers" -json "$WORK/footprint-load.json" >"$WORK/footprint-load.md"
{
	echo
	echo "## Memory after a buyer's load (the load generator's container gone)"
	echo
	cat "$WORK/footprint-load.md"
} >>"$WORK/report.md"
cat "$WORK/footprint-load.md"

# --- docker compose --profile observability, and the drills on it -----------------------------
# Grafana's image cannot be made here (its UI needs npm): its provisioning is
# checked statically (deploy/observability); the rest runs for real.
export PROMETHEUS_PORT=$(free_port 19090) JAEGER_PORT=$(free_port 16686)
if [ "$ROBOSHOP_IMAGES" = standins ]; then
	log "stand-ins for the observability profile's images"
	standins/images.sh observability
fi
log "docker compose --profile observability up: the collector, Jaeger, Prometheus, nginx's exporter"
t=$(now)
progress "$WORK/observability-up.log" compose up -d --wait --wait-timeout 120 otel-collector jaeger prometheus nginx-exporter
echo "the profile was up in $(since "$t") s" >&2
drills=(trace gateway-slow redis-down catalogue-down payment-killed)
for drill in "${drills[@]}"; do
	log "scripts/drill.sh $drill"
	COMPOSE_PROJECT_NAME=$PROJECT FRONTEND_PORT=$port scripts/drill.sh "$drill" | tee "$WORK/drill-$drill.txt"
done
{
	echo
	echo "## The observability profile's containers (docker stats --no-stream, after the drills)"
	echo
	echo "| container | memory | cpu |"
	echo "|---|---|---|"
	docker stats --no-stream --format '{{.Name}}|{{.MemUsage}}|{{.CPUPerc}}' $(compose ps -q otel-collector jaeger prometheus nginx-exporter) | sort |
		awk -F'|' '{ split($2, m, " / "); printf "| %s | %s | %s |\n", $1, m[1], $3 }'
} >>"$WORK/report.md"
tail -8 "$WORK/report.md"

log "from docker compose up (images built, volumes fresh) to the first 200 of a product through nginx"
down
t=$(date +%s.%N)
$COMPOSE -p "$PROJECT" -f docker-compose.yml up -d >"$WORK/first-200-up.log" 2>&1
for _ in $(seq 1200); do
	curl -fsS -o /dev/null "http://127.0.0.1:$port/api/catalogue/products/DR-001" 2>/dev/null && break
	sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/api/catalogue/products/DR-001" || { echo "no 200 within 2 minutes of up" >&2; exit 1; }
first200=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
printf '\n- From `docker compose up -d` (images built, fresh volumes) to the first 200 of `GET /api/catalogue/products/DR-001` through nginx: %s s\n' "$first200" | tee -a "$WORK/report.md"

log "scripts/down.sh -v: the shop stops and its volumes go"
trap - EXIT
COMPOSE_PROJECT_NAME=$PROJECT scripts/down.sh -v --remove-orphans --timeout 10
left=$(compose ps -aq)
[ -z "$left" ] || { echo "containers left after scripts/down.sh: $left" >&2; down; exit 1; }
log_end
