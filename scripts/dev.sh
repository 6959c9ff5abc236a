#!/usr/bin/env bash
# Runs the whole shop from source on this machine's loopback until Ctrl-C:
# the web UI at http://127.0.0.1:8080/, the services on 8081-8084 for trying
# the API directly (topology/cmd/dev says how; `scripts/deps.sh run` installs the
# servers it starts).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH:/usr/sbin:/sbin"
scripts/deps.sh run
exec go run ./topology/cmd/dev -repo "$PWD" "$@"
