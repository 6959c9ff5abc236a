#!/usr/bin/env bash
# Runs every check and test of the project on a Debian/Ubuntu machine.
# It installs what is missing (Debian packages, pinned Go tools), then runs
# gofmt, go vet, staticcheck, a GOWORK=off build of every module, and
# go test -race over every module in go.work. Run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="/usr/local/go/bin:$PATH:/usr/sbin:/sbin"
export CHECKPOINT_DISABLE=1 GOFLAGS="${GOFLAGS:--buildvcs=false}"

STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2
CACHE="$ROOT/.cache"
mkdir -p "$CACHE/bin"
export GOBIN="$CACHE/bin"

log() { printf '\n== %s\n' "$*"; }

# --- Debian packages: servers the tests start on loopback ports -------------
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v mariadbd >/dev/null || need+=(mariadb-server)
command -v nginx >/dev/null || need+=(nginx-light)
if ((${#need[@]})); then
	log "installing Debian packages: ${need[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	# policy-rc.d keeps the packages from starting system-wide services: tests
	# start their own servers on free ports with throwaway data.
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	$SUDO rm -f /usr/sbin/policy-rc.d
fi

# --- Go tools, pinned ----------------------------------------------------------
if ! "$GOBIN/staticcheck" -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; then
	log "installing staticcheck $STATICCHECK_VERSION"
	go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi

mapfile -t modules < <(go list -m -f '{{.Dir}}')

# --- Static checks -------------------------------------------------------------
log "gofmt"
unformatted=$(gofmt -l "${modules[@]}")
if [ -n "$unformatted" ]; then
	echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi
for dir in "${modules[@]}"; do
	name=${dir#"$ROOT"/}
	log "vet, staticcheck and GOWORK=off build: $name"
	(cd "$dir" && go vet ./... && "$GOBIN/staticcheck" ./... && GOWORK=off go build -o /dev/null ./...)
done

# --- Tests -----------------------------------------------------------------------
# The MongoDB stand-in (embedded FerretDB) is built once here rather than by
# every test binary; testkit prefers a real mongod when one is on PATH.
log "building the MongoDB stand-in and the service binaries the tests start"
(cd testkit && go build -o "$CACHE/bin/mongostandin" ./cmd/mongostandin)
for svc in user catalogue cart payment; do (cd "$svc" && go build -o "$CACHE/bin/$svc" .); done
export ROBOSHOP_MONGO_STANDIN="$CACHE/bin/mongostandin" ROBOSHOP_BIN_DIR="$CACHE/bin"

log "go test -race (every module; each benchmark once to keep it working)"
patterns=()
for dir in "${modules[@]}"; do patterns+=("./${dir#"$ROOT"/}/..."); done
go test -race -count=1 -timeout 20m -bench . -benchtime 1x "${patterns[@]}"
