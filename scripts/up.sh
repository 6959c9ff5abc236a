#!/usr/bin/env bash
# Runs the whole shop and leaves it running, on any machine the README names,
# then prints its URL, how to follow its logs and read its metrics, and how to
# stop it (scripts/down.sh).
#
#  - A Docker engine answers: docker compose, the v2 plugin when installed,
#    else v2.40.3 built from the Go module proxy into .cache/bin. The real
#    images when a registry answers; stand-ins made here when none does
#    (standins/README.md). .env is made from .env.example with random
#    secrets (or gains the keys it lacks). Then `up --build --wait -d`.
#  - No Docker: the lab, every tier in its own network namespace behind the
#    security groups (needs root).
#
# When the shop answers, up.sh writes what it started, for programs, as
# shell assignments (KEY=value lines) to ROBOSHOP_UP_FILE (.cache/up.env):
#   ROBOSHOP_MODE=compose|lab   ROBOSHOP_URL=<the shop's URL>
#   ROBOSHOP_IMAGES=upstream|standins (compose)   ROBOSHOP_UP_SECONDS=<n>
# A run that fails leaves no such file. The messages on stderr and stdout are
# for people, and free to change.
#
# Environment: FRONTEND_PORT (8080), COMPOSE_PROJECT_NAME (roboshop),
# COMPOSE_PROFILES=observability for the traces, metrics and dashboards,
# ROBOSHOP_RUN=compose|lab to choose, ROBOSHOP_STANDINS=1 to make the stand-ins
# even where a registry answers.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
port=${FRONTEND_PORT:-8080}
start=$(now)
up_file=${ROBOSHOP_UP_FILE:-$CACHE/up.env}
rm -f "$up_file"
# ready MODE URL [KEY=value...]: the hand-over file, written whole or not at all.
ready() {
	local mode=$1 url=$2
	shift 2
	printf '%s\n' "ROBOSHOP_MODE=$mode" "ROBOSHOP_URL=$url" "$@" "ROBOSHOP_UP_SECONDS=$(since "$start" | cut -d. -f1)" >"$up_file.tmp"
	mv "$up_file.tmp" "$up_file"
}

mode=${ROBOSHOP_RUN:-}
if [ -z "$mode" ]; then
	if command -v docker >/dev/null && docker info >/dev/null 2>&1; then mode=compose; else mode=lab; fi
fi

# registry_answers: Docker Hub takes a TCP connection within 5 s.
registry_answers() { timeout 5 bash -c '</dev/tcp/registry-1.docker.io/443' 2>/dev/null; }

# make_env: .env from .env.example, every secret left empty there (a
# *_PASSWORD, *_SIGNING_KEY or *_TOKEN) given a random value; an existing .env keeps
# its values and gains only the keys it lacks. Prints the keys it added.
make_env() {
	local line key value added=()
	if [ ! -f .env ]; then
		echo "# Made by scripts/up.sh from .env.example: random secrets, kept across runs." >.env
	fi
	chmod 600 .env
	while IFS= read -r line; do
		[[ $line == \#* || $line != *=* ]] && continue
		key=${line%%=*} value=${line#*=}
		grep -q "^$key=" .env && continue
		case $key in
		*_SIGNING_KEY) [ -n "$value" ] || value=$(head -c 32 /dev/urandom | base64) ;;
		*_PASSWORD) [ -n "$value" ] || value=$(head -c 18 /dev/urandom | base64 | tr -d '/+=') ;;
		*_TOKEN) [ -n "$value" ] || value=$(head -c 36 /dev/urandom | base64 | tr -d '/+=') ;;
		esac
		echo "$key=$value" >>.env
		added+=("$key")
	done <.env.example
	echo "${added[*]}"
}

# make_redis_conf: Redis's requirepass line for compose's file secret, from
# .env's REDIS_PASSWORD (rewritten each time, so the two always agree). The
# file is readable by all (the container's redis user is not the file's
# owner: compose cannot chown a file secret), so its directory is not.
make_redis_conf() {
	local password
	password=$(sed -n 's/^REDIS_PASSWORD=//p' .env | tail -n 1)
	install -d -m 700 .secrets
	(umask 022 && printf 'requirepass %s\n' "$password" >.secrets/cart-redis.conf.new)
	mv .secrets/cart-redis.conf.new .secrets/cart-redis.conf
}

case $mode in
compose)
	if docker compose version --short 2>/dev/null | grep -Eq '^v?2\.'; then
		compose=(docker compose)
	else
		log "no Compose v2 plugin: docker compose from the Go module proxy"
		standins/images.sh compose
		compose=("$BIN/docker-compose")
	fi
	standins=""
	images=upstream
	if [ -z "${ROBOSHOP_STANDINS:-}" ] && registry_answers; then
		log "a registry answers: docker compose pulls the upstream images"
	else
		log "no registry answers: the upstream images are made here (standins/images.sh)"
		standins/images.sh
		# Grafana's image has no stand-in (its UI needs npm): the rest of
		# the observability profile runs without it.
		standins=1 images=standins
	fi
	added=$(make_env)
	if [ -n "$added" ]; then
		log ".env: added from .env.example (secrets random): $added"
	fi
	make_redis_conf
	services=() # none named: every service of the enabled profiles
	if [ -n "$standins" ] && [[ ,${COMPOSE_PROFILES:-}, == *,observability,* ]]; then
		mapfile -t services < <("${compose[@]}" config --services | grep -vx grafana)
	fi
	log "docker compose up --build --wait -d (the first build takes about 7 minutes on 2 cores)"
	progress "$WORK/up.log" "${compose[@]}" up --build --wait --wait-timeout 300 -d "${services[@]}"
	log "checking the shop through http://127.0.0.1:$port/"
	answer=$(get_local "$port" '/api/catalogue/products?limit=1') || answer=""
	[[ $answer == HTTP/1.?" 200 "* ]] || { echo "the shop does not answer on port $port" >&2; exit 1; }
	ready compose "http://localhost:$port/" "ROBOSHOP_IMAGES=$images"
	log_end
	cat <<MSG

Roboshop is up in $(since "$start" | cut -d. -f1) s: http://localhost:$port/
  logs:    ${compose[*]} logs -f            (one tier: ${compose[*]} logs -f cart)
  metrics: ${compose[*]} exec user /app metrics   (any service: user, catalogue, cart, payment)
  stop:    scripts/down.sh                 (keeps the data; scripts/down.sh -v deletes it)
MSG
	if [[ ,${COMPOSE_PROFILES:-}, == *,observability,* ]]; then
		cat <<MSG
  traces:  http://localhost:${JAEGER_PORT:-16686}/   (Jaeger; its API where its UI could not be built here)
  metrics: http://localhost:${PROMETHEUS_PORT:-9090}/   (Prometheus; alerts: /api/v1/alerts)
  boards:  http://localhost:${GRAFANA_PORT:-3000}/   (Grafana, where its image could be pulled)
  drills:  scripts/drill.sh trace|gateway-slow|redis-down|catalogue-down   (docs/observability.md)
MSG
	fi
	;;
lab)
	if [ "$(id -u)" -ne 0 ]; then
		echo "no Docker engine answers, and the lab needs root: sudo $0 (or scripts/dev.sh, the shop as plain processes)" >&2
		exit 1
	fi
	log "no Docker: the lab (one network namespace per security group)"
	progress "$CACHE/lab-up.log" scripts/lab.sh up -listen "127.0.0.1:$port"
	sed -n '/^Roboshop lab is up/,$p' "$CACHE/lab-up.log"
	serves_shop "$port" || { echo "the lab does not serve the shop on port $port" >&2; exit 1; }
	ready lab "http://127.0.0.1:$port/"
	log_end
	cat <<MSG

Roboshop is up in $(since "$start" | cut -d. -f1) s: http://127.0.0.1:$port/
  logs:    /run/roboshop-lab/logs/<tier>.log   (tail -f /run/roboshop-lab/logs/cart.log)
  metrics: sudo scripts/lab.sh metrics user     (any service: user, catalogue, cart, payment)
  stop:    sudo scripts/down.sh
MSG
	;;
*)
	echo "ROBOSHOP_RUN must be compose or lab, not $mode" >&2
	exit 2
	;;
esac
