# Sourced by the scripts that drive Docker (scripts/compose-test.sh,
# standins/images.sh): the repository root as working directory, the tools on
# PATH, the classic builder (no buildx plugin here), the cache directories, and
# two helpers.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export PATH="/usr/local/go/bin:$PATH:/usr/sbin:/sbin"
export GOFLAGS="${GOFLAGS:--buildvcs=false}" DOCKER_BUILDKIT=0 COMPOSE_BAKE=false
CACHE="$ROOT/.cache"
WORK="$CACHE/compose"
BIN="$CACHE/bin"
mkdir -p "$WORK" "$BIN"
BASE=roboshop-standin/debian:bookworm # the stand-in Debian base image

log() { printf '\n== %s\n' "$*" >&2; }
# retry CMD...: a second attempt for the steps that download (Debian mirror, Go
# proxy), so one dropped connection does not fail the run.
retry() { "$@" || { echo "retrying once: $*" >&2; sleep 5; "$@"; }; }
