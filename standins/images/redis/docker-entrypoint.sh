#!/bin/sh
# As redis:7's entrypoint: arguments that start with a configuration file or
# an option are redis-server's (the Helm chart passes its auth.conf first).
set -eu
case "${1:-}" in
-* | *.conf) set -- redis-server "$@" ;;
esac
exec "$@"
