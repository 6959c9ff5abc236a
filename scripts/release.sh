#!/usr/bin/env bash
# Makes a release directory for EC2: each service as a static binary for
# linux/amd64 and linux/arm64 (Graviton) with its CycloneDX SBOM
# (<binary>.cdx.json: the modules linked into it), the web UI as
# frontend-html.tar.gz, and SHA256SUMS over them. Reproducible: the same
# commit and Go version give the same bytes. It prints the SHA-256 of
# SHA256SUMS, which Terraform takes
# (release_sums_sha256): an instance installs only files whose sums match a
# SHA256SUMS with that digest, so a swapped release is refused.
#   scripts/release.sh VERSION [DIR]     (DIR defaults to dist/VERSION)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
version=${1:-}
if ! [[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]]; then
	echo "usage: scripts/release.sh VERSION [DIR]   (VERSION like v1.2.3)" >&2
	exit 2
fi
dir=${2:-dist/$version}
rm -rf "$dir"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
start=$(now)

build_cyclonedx
for arch in amd64 arm64; do
	log "the services for linux/$arch (static, trimmed, no build id) and their SBOMs"
	for svc in user catalogue cart payment; do
		# The SBOM under the binary's own build settings, so it lists what the
		# binary links; no serial or timestamp, so it is reproducible too.
		(cd "$svc" && export GOWORK=off CGO_ENABLED=0 GOOS=linux GOARCH=$arch &&
			go build -tags nomsgpack -trimpath -ldflags="-s -w -buildid=" -o "$dir/$svc-linux-$arch" . &&
			GOFLAGS="$GOFLAGS -tags=nomsgpack" "$CYCLONEDX" app -json -std -noserial -notimestamp \
				-output "$dir/$svc-linux-$arch.cdx.json" .)
	done
done

log "the web UI: frontend-html.tar.gz (frontend/publish.sh)"
html=$(mktemp -d)
trap 'rm -rf "$html"' EXIT
sh frontend/publish.sh frontend/src "$html/html"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$html/html" -cf - . | gzip -n -9 >"$dir/frontend-html.tar.gz"

log "SHA256SUMS"
(cd "$dir" && sha256sum -- *-linux-* frontend-html.tar.gz >SHA256SUMS)
digest=$(sha256sum "$dir/SHA256SUMS" | cut -d' ' -f1)
log_end
cat <<MSG

Release $version in $(since "$start" | cut -d. -f1) s: $dir
$(cd "$dir" && ls -l --time-style=+ | tail -n +2 | awk '{printf "  %-32s %9d bytes\n", $NF, $5}')
SHA-256 of SHA256SUMS: $digest

Deploy it (deploy/README.md): Terraform uploads it to a private bucket,
  terraform apply -var release_dir=$dir ...
or host the files yourself over HTTPS:
  terraform apply -var release_url=https://<where>/$version -var release_sums_sha256=$digest ...
MSG
