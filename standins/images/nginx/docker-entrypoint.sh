#!/bin/sh
# What the official image's entrypoint does for this shop: each
# /etc/nginx/templates/X.template becomes /etc/nginx/conf.d/X, with only the
# variables set in the environment substituted (nginx's own $variables stay).
set -eu
if [ "${1:-}" = nginx ]; then
	vars=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
	for template in /etc/nginx/templates/*.template; do
		[ -e "$template" ] || continue
		out="/etc/nginx/conf.d/$(basename "$template" .template)"
		envsubst "$vars" <"$template" >"$out"
		echo "docker-entrypoint: $template -> $out" >&2
	done
fi
exec "$@"
