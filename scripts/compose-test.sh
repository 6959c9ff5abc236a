#!/usr/bin/env bash
# Runs docker-compose.yml for real on a machine that has a Docker engine but no
# image registry (nothing can be pulled), then checks it and tears it down:
#
#  1-2. standins/images.sh: docker compose v2 built from the Go module proxy,
#     and every image the compose file and the Dockerfiles name, made locally
#     under the upstream names (scaffolding for a machine without a registry).
#  3. `docker compose build`, then `up --wait` on fresh volumes (timed), a buyer
#     journey through the published port with the load generator, and
#     deploy/cmd/composeverify: only the frontend publishes a port, and from
#     inside every container exactly the connections the security groups allow
#     succeed.
#  4. Image sizes and idle memory (docker stats) into .cache/compose/report.md,
#     then the load generator's own service (`--profile load`) for 15 s, then
#     `down -v`, also when a step fails.
#
# Usage: scripts/compose-test.sh. Needs root or the docker group.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PROJECT=roboshop-citest

standins/images.sh
COMPOSE="$BIN/docker-compose"

# --- The shop --------------------------------------------------------------------------------
port=""
for p in $(seq 18080 18179); do
	if ! ss -Hltn "sport = :$p" | grep -q .; then port=$p && break; fi
done
[ -n "$port" ] || { echo "no free port in 18080-18179" >&2; exit 1; }
export FRONTEND_PORT=$port
compose() { "$COMPOSE" -p "$PROJECT" -f docker-compose.yml "$@"; }
down() { compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true; }
compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true # what a killed run left
trap 'status=$?; if [ $status -ne 0 ]; then compose ps -a; compose logs --tail 30; fi; down; exit $status' EXIT

log "docker compose build (the Dockerfiles, unchanged)"
t=$(now)
build() { compose --profile load build >"$WORK/build.log" 2>&1 || { tail -60 "$WORK/build.log"; return 1; }; }
retry build
build_seconds=$(since "$t")

log "docker compose up --wait (fresh volumes)"
t=$(now)
compose --progress quiet up -d --wait --wait-timeout 300
up_seconds=$(since "$t")
echo "all healthy after ${up_seconds} s" >&2

log "buyer journey through the published port 127.0.0.1:$port"
(cd loadgen && go build -o "$BIN/loadgen" .)
"$BIN/loadgen" -target "http://127.0.0.1:$port" -vus 1 -iterations 1 -mix buyer=1 -duration 60s \
	-ramp-up 0s -progress 0 -json "$WORK/journey.json" >"$WORK/journey.txt"

log "isolation, published ports and the journey, checked from inside the containers"
(cd deploy && go build -o "$BIN/composeverify" ./cmd/composeverify)
"$BIN/composeverify" -project "$PROJECT" -probe-image "$BASE" -journey "$WORK/journey.json" | tee "$WORK/verify.txt"

log "measurements"
sleep 10 # let the journey's work settle before reading idle memory
{
	echo "# docker compose on $(hostname) ($(nproc) cores), $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "- build (docker compose build, layers cached as left by earlier runs): ${build_seconds} s"
	echo "- cold up (fresh volumes, up --wait until every container is healthy): ${up_seconds} s"
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
	echo "## Idle memory (docker stats --no-stream)"
	echo
	echo "| container | memory | limit | cpu |"
	echo "|---|---|---|---|"
	docker stats --no-stream --format '{{.Name}}|{{.MemUsage}}|{{.CPUPerc}}' $(compose ps -q) | sort |
		awk -F'|' '{ split($2, m, " / "); printf "| %s | %s | %s | %s |\n", $1, m[1], m[2], $3 }'
} >"$WORK/report.md"
cat "$WORK/report.md"

log "docker compose --profile load: the load generator's own container, 4 virtual users for 15 s"
compose --profile load run --rm loadgen -target http://frontend:8080 -allow-host frontend \
	-vus 4 -duration 15s -ramp-up 2s -progress 0 >"$WORK/loadgen-compose.txt" 2>&1 ||
	{ cat "$WORK/loadgen-compose.txt"; exit 1; }
grep -m1 ' requests ' "$WORK/loadgen-compose.txt"
grep -Eq ': [1-9][0-9]* requests \([0-9]+/s\), 0 errors,' "$WORK/loadgen-compose.txt" ||
	{ echo "the load generator's container saw errors:" >&2; cat "$WORK/loadgen-compose.txt"; exit 1; }

log "docker compose down -v"
trap - EXIT
down
