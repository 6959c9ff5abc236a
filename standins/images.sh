#!/usr/bin/env bash
# Scaffolding, not the product (standins/README.md says why): makes, on a
# machine with a Docker engine but no image registry, everything
# docker-compose.yml needs that would otherwise be pulled or downloaded:
#
#  1. docker compose v2, built from the Go module proxy (once, into .cache/bin).
#  2. Every image the compose file and the Dockerfiles name, made locally and
#     tagged with the upstream name so the SAME files build and start:
#       golang:1.26-bookworm                        Debian (debootstrap) + this machine's Go 1.26
#       gcr.io/distroless/static-debian12:nonroot   passwd/group/CA file, uid 65532, no shell
#       mongo:7                                     FerretDB v1.24 (SQLite, SCRAM auth) + a ping-only mongosh
#       redis:7                                     Debian's redis-server 7.0
#       mysql:8.4                                   Debian's MariaDB 10.11 + MYSQL_* entrypoint
#       nginxinc/nginx-unprivileged:1.27-alpine     Debian's nginx-light 1.22, uid 101, port 8080
#     Each carries the label org.roboshop.standin, so `docker image ls --filter
#     label=org.roboshop.standin` lists them and `$0 clean` removes them; a
#     stand-in is rebuilt only when its files change.
#
#     and, with `observability` (or observability in COMPOSE_PROFILES), the
#     profile's images but Grafana's, whose UI needs npm (docs/observability.md):
#       otel/opentelemetry-collector:0.140.0        standins/otelcol (the core components, same release)
#       jaegertracing/jaeger:2.13.0                 Jaeger v1.76.0's cmd/jaeger (= 2.13.0), API only
#       prom/prometheus:v3.16.0                     Prometheus and promtool 3.16.0, API only
#       nginx/nginx-prometheus-exporter:1.4.2       standins/nginxexporter
#
# Usage: standins/images.sh [clean|compose|observability]. Needs root or the docker group.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
COMPOSE_VERSION=v2.40.3
LABEL=org.roboshop.standin

if [ "${1:-}" = clean ]; then
	# The shop's images first (they are built on the stand-ins), then the
	# stand-ins, children before parents: a few rounds empty the list.
	docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '^roboshop/' | xargs -r docker image rm -f >/dev/null || true
	for _ in 1 2 3 4; do
		mapfile -t ids < <(docker image ls -q --filter "label=$LABEL" | sort -u)
		((${#ids[@]} == 0)) && exit 0
		docker image rm -f "${ids[@]}" >/dev/null 2>&1 || true
	done
	docker image ls --filter "label=$LABEL"
	exit 1
fi

COMPOSE="$BIN/docker-compose"
if [ "$("$COMPOSE" version --short 2>/dev/null)" != "${COMPOSE_VERSION#v}" ]; then
	log "building docker compose $COMPOSE_VERSION from the Go module proxy (about 2 minutes on 2 cores, once)"
	retry progress "$WORK/compose-build.log" build_release github.com/docker/compose/v2 "$COMPOSE_VERSION" ./cmd "$COMPOSE" \
		"-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION"
fi
# `images.sh compose`: only docker compose (scripts/up.sh, where a registry answers).
[ "${1:-}" != compose ] || exit 0

# rev FILES...: a digest of the inputs of a stand-in, stored as its label.
rev() { cat "$@" | sha256sum | cut -c1-16; }
current() { docker image inspect -f "{{ index .Config.Labels \"$LABEL.rev\" }}" "$1" 2>/dev/null || true; }
# standin TAG REV DOCKER-BUILD-ARGS...: builds TAG unless it is already at REV.
standin() {
	local tag=$1 r=$2
	shift 2
	if [ "$(current "$tag")" = "$r" ]; then
		echo "stand-in $tag is up to date" >&2
		return
	fi
	log "stand-in $tag"
	retry progress "$WORK/standin-build.log" docker build --label "$LABEL=$tag" --label "$LABEL.rev=$r" -t "$tag" "$@"
}
# import_dir DIR TAG REV [--change ...]: a root filesystem made here becomes image
# TAG at REV (docker import: no base image needed), then DIR goes.
import_dir() {
	local dir=$1 tag=$2 r=$3
	shift 3
	tar --numeric-owner -C "$dir" -c . | docker import --change "LABEL $LABEL=$tag $LABEL.rev=$r" "$@" - "$tag" >/dev/null
	rm -rf "$dir"
}

# --- The Debian base: debootstrap, slimmed like debian:bookworm-slim ---------------
# The machine's own CA certificates (an egress proxy's, say) go into the base, so
# that images which install ca-certificates trust what the host trusts.
local_cas=/usr/local/share/ca-certificates
base_rev=$(rev <(echo 'bookworm minbase 1') $(find "$local_cas" -name '*.crt' 2>/dev/null | sort))
if [ "$(current "$BASE")" != "$base_rev" ]; then
	command -v debootstrap >/dev/null || apt_install debootstrap
	log "Debian bookworm root filesystem (debootstrap, about a minute)"
	rootfs="$WORK/rootfs"
	bootstrap() {
		rm -rf "$rootfs"
		progress "$WORK/debootstrap.log" debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian
	}
	retry bootstrap
	if [ -d "$local_cas" ]; then cp -a "$local_cas/." "$rootfs$local_cas/"; fi
	# As the official images: no services started by packages, no docs, no caches.
	printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d" && chmod +x "$rootfs/usr/sbin/policy-rc.d"
	printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n' \
		>"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim"
	printf 'APT::Install-Recommends "false";\nDPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };\n' \
		>"$rootfs/etc/apt/apt.conf.d/docker-slim"
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
		"$rootfs"/usr/share/man/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
	find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
	import_dir "$rootfs" "$BASE" "$base_rev" --change 'CMD ["bash"]'
fi
base_id=$(docker image inspect -f '{{.Id}}' "$BASE")
sdir=standins/images

# --- golang:1.26-bookworm: the base plus this machine's Go ---------------------------
goroot=$(go env GOROOT)
gover=$(go env GOVERSION)
case $gover in go1.26.*) ;; *) echo "the Dockerfiles build with Go 1.26; this machine has $gover" >&2; exit 1 ;; esac
standin golang:1.26-bookworm "$(rev $sdir/golang/Dockerfile <(echo "$base_id $gover"))" \
	-f "$ROOT/$sdir/golang/Dockerfile" "$goroot"

# --- gcr.io/distroless/static-debian12:nonroot ------------------------------------------
# What distroless/static holds and a Go binary may read: users (nonroot is
# 65532), nsswitch.conf, the CA bundle, /tmp and the home directory.
distroless_rev=$(rev $sdir/distroless/etc/* <(echo "$base_id"))
if [ "$(current gcr.io/distroless/static-debian12:nonroot)" != "$distroless_rev" ]; then
	log "stand-in gcr.io/distroless/static-debian12:nonroot"
	d="$WORK/distroless"
	rm -rf "$d" && mkdir -p "$d/etc/ssl/certs" "$d/home/nonroot" "$d/tmp"
	cp $sdir/distroless/etc/* "$d/etc/"
	docker run --rm "golang:1.26-bookworm" cat /etc/ssl/certs/ca-certificates.crt >"$d/etc/ssl/certs/ca-certificates.crt"
	chmod 1777 "$d/tmp" && chown 65532:65532 "$d/home/nonroot" && chmod 700 "$d/home/nonroot"
	import_dir "$d" gcr.io/distroless/static-debian12:nonroot "$distroless_rev" \
		--change 'USER 65532:65532' --change 'WORKDIR /home/nonroot'
fi

# --- mongo:7: FerretDB from its release source, and the health check's mongosh -----------
mongo_rev=$(rev $sdir/mongo/* standins/mongosh/main.go standins/go.sum <(echo "$base_id $FERRETDB_VERSION $gover"))
if [ "$(current mongo:7)" != "$mongo_rev" ]; then
	ctx="$WORK/mongo"
	rm -rf "$ctx" && mkdir -p "$ctx" && cp $sdir/mongo/* "$ctx/"
	build_ferretdb
	cp "$FERRETDB" "$ctx/ferretdb"
	(cd standins && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$ctx/mongosh" ./mongosh)
	standin mongo:7 "$mongo_rev" "$ctx"
	rm -rf "$ctx"
fi

# --- redis:7, mysql:8.4, the nginx image ---------------------------------------------------
for spec in redis:redis:7 mysql:mysql:8.4 nginx:nginxinc/nginx-unprivileged:1.27-alpine; do
	dir=${spec%%:*} tag=${spec#*:}
	standin "$tag" "$(rev $sdir/"$dir"/* <(echo "$base_id"))" "$sdir/$dir"
done

# --- The observability profile's images (not Grafana's) --------------------------------------
case " ${1:-} ${COMPOSE_PROFILES:-} " in *[\ ,]observability[\ ,]*) ;; *) exit 0 ;; esac
distroless_id=$(docker image inspect -f '{{.Id}}' gcr.io/distroless/static-debian12:nonroot)
build_prometheus
build_jaeger
build_otelcol
# observability_standin DIR TAG FILES...: the stand-in TAG from DIR's Dockerfile and FILES
# (each SOURCE[:NAME]), rebuilt when any of them changes.
observability_standin() {
	local dir=$1 tag=$2 ctx="$WORK/$1" f
	shift 2
	rm -rf "$ctx" && mkdir -p "$ctx/data" && cp "$sdir/$dir/Dockerfile" "$ctx/"
	for f in "$@"; do cp "${f%%:*}" "$ctx/${f#*:}"; done
	standin "$tag" "$(cd "$ctx" && find . -type f | sort | xargs cat | rev /dev/stdin <(echo "$distroless_id"))" "$ctx"
	rm -rf "$ctx"
}
(cd standins && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$WORK/nginxexporter" ./nginxexporter)
observability_standin otelcol otel/opentelemetry-collector:0.140.0 "$OTELCOL:otelcol"
observability_standin jaeger jaegertracing/jaeger:2.13.0 "$JAEGER:jaeger"
observability_standin prometheus prom/prometheus:v3.16.0 "$PROMETHEUS:prometheus" "$PROMTOOL:promtool"
observability_standin nginx-exporter nginx/nginx-prometheus-exporter:1.4.2 "$WORK/nginxexporter:nginx-prometheus-exporter"
