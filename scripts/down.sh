#!/usr/bin/env bash
# Stops what scripts/up.sh started: the compose shop (its data kept unless -v
# is given) and the lab, whichever is running.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
stopped=0
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
	compose=(docker compose)
	docker compose version --short 2>/dev/null | grep -Eq '^v?2\.' || compose=("$BIN/docker-compose")
	# Every profile: the observability profile's and the load generator's
	# containers hold the shop's networks too.
	compose+=(--profile observability --profile load)
	if [ -n "$("${compose[@]}" ps -q 2>/dev/null)" ]; then
		"${compose[@]}" down "$@"
		stopped=1
	fi
fi
if ls /run/netns/rs-* >/dev/null 2>&1; then
	scripts/lab.sh down
	stopped=1
fi
[ "$stopped" = 1 ] || echo "nothing of Roboshop is running"
