#!/usr/bin/env bash
# The Helm chart on a real single-node Kubernetes cluster, brought up and
# removed by the test itself (deploy/kube/node_up_test.go), inside a network
# namespace of its own with every file under /var/tmp/roboshop-node: etcd, the
# control plane, containerd and runc, the CNI bridge, CoreDNS and kube-router
# (the NetworkPolicy enforcer: test tooling only, it is flagged for reported
# security flaws). deploy/kube/node_test.go then installs the chart with the
# shop's real images, drives a buyer's journey through the frontend Service,
# probes the NetworkPolicy matrix from inside every pod against the security
# groups, rolls every image under load and restarts a datastore, and tears it
# all down, checking that nothing is left.
#
# Usage: sudo scripts/node-test.sh. Needs root and a Docker engine (the images
# are built with it, then imported into the node's containerd: no registry).
# scripts/test.sh runs it as its last stage.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

scripts/deps.sh node

# The images the node runs: the datastores' stand-ins (standins/images.sh)
# and the shop's, from the same Dockerfiles compose builds; both are cached
# by Docker, so after the compose stage this takes seconds.
log "images: the stand-ins and the shop's own (Docker's cache)"
images() { standins/images.sh && shop_images; }
progress "$CACHE/node-images.log" images

# The node's programs under their plain names, and the load generator.
bin="$CACHE/node-bin"
rm -rf "$bin" && mkdir -p "$bin"
for name in "${KUBE_NODE_BINARIES[@]}"; do ln -s "$BIN/$name-$KUBE_VERSION" "$bin/$name"; done
ln -s "$PAUSE" "$bin/pause"
ln -s "$COREDNS" "$bin/coredns"
ln -s "$KUBE_ROUTER" "$bin/kube-router"
(cd loadgen && "${AS_SHIPPED[@]}" GOWORK=off go build -o "$bin/loadgen" .)

log "the chart on a Kubernetes node: up, install, journey, policy matrix, rollout under load, datastore restart, down"
export ROBOSHOP_KUBE_NODE_BIN="$bin" ROBOSHOP_HELM="$BIN/helm-$HELM_VERSION"
status=0
# (scripts/test.sh vets and staticchecks it with the tag before.)
(cd deploy && go test -tags kubenode -race -count=1 -v -timeout 25m -run '^TestNode$' ./kube) >"$CACHE/node-test.log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
	cat "$CACHE/node-test.log"
	exit "$status"
fi
# The figures: each step's time, the pods, the journey, the matrix, the rollout.
grep -v -E '^=== (RUN|PAUSE|CONT)' "$CACHE/node-test.log"
log_end
