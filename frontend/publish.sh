#!/usr/bin/env bash
# Copies src/ to html/ with content-hashed asset names (app.<hash>.js), so
# nginx can let browsers cache /assets/ for a year. There is no other build
# step: the files are served as written. Run it after editing src/; a test
# fails while html/ is out of date.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf html/assets && mkdir -p html/assets
index=$(cat src/index.html)
for f in app.css app.js; do
	hash=$(sha256sum "src/$f" | cut -c1-10)
	name="${f%.*}.$hash.${f##*.}"
	cp "src/$f" "html/assets/$name"
	index=${index//\/assets\/$f/\/assets\/$name}
done
printf '%s\n' "$index" > html/index.html
