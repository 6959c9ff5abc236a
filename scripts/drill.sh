#!/usr/bin/env bash
# A fault drill (docs/observability.md): breaks one thing in the running shop,
# checks that the symptom shows where the docs say to look, then restores it.
#
#   scripts/drill.sh trace | gateway-slow | redis-down | catalogue-down | payment-killed
#       the compose shop with the observability profile
#       (docker compose --profile observability up, or COMPOSE_PROFILES=observability scripts/up.sh)
#   sudo scripts/drill.sh [-picture FILE.svg] sg-rule-removed | sg-rule-widened
#       the lab (ROBOSHOP_RUN=lab scripts/up.sh)
#
# Environment: FRONTEND_PORT (8080), PROMETHEUS_PORT (9090), JAEGER_PORT (16686),
# COMPOSE_PROJECT_NAME (roboshop). Each drill gives up after 5 minutes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
(cd deploy && "${AS_SHIPPED[@]}" GOWORK=off go build -o "$BIN/drill" ./cmd/drill)
shop="http://127.0.0.1:${FRONTEND_PORT:-8080}"
case ${*: -1} in # the drill is the last argument, after any flags of its own
sg-rule-*)
	(cd deploy && "${AS_SHIPPED[@]}" GOWORK=off go build -o "$BIN/lab" ./lab)
	exec "$BIN/drill" -shop "$shop" -lab "$BIN/lab -repo $ROOT" -groups "$ROOT/deploy/security-groups" "$@"
	;;
*)
	compose="docker compose"
	docker compose version --short 2>/dev/null | grep -Eq '^v?2\.' || compose="$BIN/docker-compose"
	exec "$BIN/drill" -shop "$shop" -prometheus "http://127.0.0.1:${PROMETHEUS_PORT:-9090}" \
		-jaeger "http://127.0.0.1:${JAEGER_PORT:-16686}" \
		-compose "$compose -p ${COMPOSE_PROJECT_NAME:-roboshop} -f $ROOT/docker-compose.yml --profile observability" "$@"
	;;
esac
