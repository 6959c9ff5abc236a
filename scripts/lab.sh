#!/usr/bin/env bash
# The lab: the whole shop on one Linux machine, one network namespace per
# security group, firewalled by nftables rules generated from
# deploy/security-groups. Needs root.
#   scripts/lab.sh up      build, start, print the URL (default http://127.0.0.1:8080/) and the instances
#   scripts/lab.sh status  print the URL and the instances again
#   scripts/lab.sh check   reachability matrix vs. the definitions, and the policy
#   scripts/lab.sh firewall   apply edited groups (refused while they break the policy)
#   scripts/lab.sh down    remove everything (idempotent, also after a crash)
#   scripts/lab.sh metrics user   a service's /metrics, asked from inside its namespace
#   scripts/lab.sh try frontend payment 8080 [tcp|udp|icmp]   what telnet from one instance to
#                          another finds, and the rules (file:line) that decide it
#                          (try bastion payment icmp: what ping finds)
#   scripts/lab.sh allow frontend payment 8080   add the two rules that open it to the lab's
#                          copy of the groups and apply it live (firewall puts the repository's back)
#   scripts/lab.sh shell payment [-- command...]   a shell on an instance (telnet, nc, ping, curl, ssh)
#   scripts/lab.sh stop payment, start payment   end a service's process, and run it again
# Extra flags go to the lab command: -listen 127.0.0.1:9090, -prefix, -subnet, -public,
# -state; ROBOSHOP_LAB_FLAGS holds flags for every command (a second lab beside
# your own: ROBOSHOP_LAB_FLAGS="-prefix rs2 -subnet 10.79.0 -public 192.0.2
# -listen 127.0.0.1:9090 -state /run/roboshop-lab2").
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "the lab needs root (network namespaces, nftables): sudo $0 $*" >&2
	exit 1
fi
case ${1:-} in down | status) ;; *) scripts/deps.sh lab ;; esac
export ROBOSHOP_FERRETDB="$FERRETDB" # the lab's MongoDB servers (SCRAM)
(cd deploy && "${AS_SHIPPED[@]}" GOWORK=off go build -o ../.cache/bin/lab ./lab)
cmd=${1:-}
shift || true
# shellcheck disable=SC2086 # ROBOSHOP_LAB_FLAGS is a list of flags
exec .cache/bin/lab "$cmd" -repo "$PWD" ${ROBOSHOP_LAB_FLAGS:-} "$@"
