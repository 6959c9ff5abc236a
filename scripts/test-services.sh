#!/usr/bin/env bash
# The developers' loop: the tests of the services (or of the modules named)
# against their real datastores, with -race, and nothing of the deploy, lab or
# compose stages. Installs only what the local run needs (scripts/deps.sh run).
#   scripts/test-services.sh                  kit, user, catalogue, cart, payment
#   scripts/test-services.sh cart             one module
#   scripts/test-services.sh cart -run Merge  extra arguments go to go test
# scripts/test.sh still runs everything.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
scripts/deps.sh run
modules=()
while [ $# -gt 0 ] && [ -d "$1" ] && [ -f "$1/go.mod" ]; do
	modules+=("$1")
	shift
done
((${#modules[@]})) || modules=(kit user catalogue cart payment)
log "building the MongoDB stand-in and the service binaries the tests start"
progress "$CACHE/bins-build.log" build_test_bins
export ROBOSHOP_BIN_DIR="$BIN"
log "go test -race: ${modules[*]}"
patterns=()
for m in "${modules[@]}"; do patterns+=("./$m/..."); done
go test -race -count=1 "${patterns[@]}" "$@"
log_end
