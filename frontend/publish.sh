#!/bin/sh
# Publishes the web UI: copies SRC (frontend/src) to DST with content-hashed
# asset names (app.<hash>.js), so nginx can let browsers cache /assets/ for a
# year. The only build step of the UI, run wherever nginx serves it: the
# frontend image's build stage, the lab, the bench, the local run and the tests
# (topology.PublishUI). POSIX sh, so the nginx image (busybox) runs it too.
#   publish.sh SRC DST   (DST is replaced)
set -eu
src=$1 dst=$2
rm -rf "$dst"
mkdir -p "$dst/assets"
cp -R "$src/images" "$dst/images"
rewrite=""
for f in app.css app.js; do
	hash=$(sha256sum "$src/$f" | cut -c1-10)
	name="${f%.*}.$hash.${f##*.}"
	cp "$src/$f" "$dst/assets/$name"
	rewrite="$rewrite -e s|\"/assets/$f\"|\"/assets/$name\"|g"
done
# shellcheck disable=SC2086 # $rewrite is the list of sed expressions
sed $rewrite "$src/index.html" >"$dst/index.html"
