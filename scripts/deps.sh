#!/usr/bin/env bash
# Installs what the tests and the lab need and the machine lacks: Debian
# packages for the servers and the browser test (Chromium) (started by the tests and the lab themselves, never
# as system services), and pinned Go tools under .cache/bin. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH:/usr/sbin:/sbin"
BIN="$PWD/.cache/bin"
mkdir -p "$BIN"

STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2
TERRAFORM_VERSION=v1.5.7   # the last MPL release; builds from the Go module proxy

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v mariadbd >/dev/null || need+=(mariadb-server)
command -v nginx >/dev/null || need+=(nginx-light)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)
if ((${#need[@]})); then
	echo "== installing Debian packages: ${need[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	# policy-rc.d keeps the packages from starting system-wide services.
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	$SUDO rm -f /usr/sbin/policy-rc.d
fi

if ! "$BIN/staticcheck" -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; then
	echo "== installing staticcheck $STATICCHECK_VERSION"
	GOBIN="$BIN" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
if ! "$BIN/terraform" version 2>/dev/null | grep -q "Terraform ${TERRAFORM_VERSION}$"; then
	echo "== building terraform $TERRAFORM_VERSION from the Go module proxy (a few minutes, once)"
	GOBIN="$BIN" CGO_ENABLED=0 go install "github.com/hashicorp/terraform@$TERRAFORM_VERSION"
fi
