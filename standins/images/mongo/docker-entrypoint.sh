#!/bin/sh
# Starts FerretDB the way mongo:7 starts mongod: data in /data/db, port 27017,
# and, when MONGO_INITDB_ROOT_USERNAME is set, authentication with that root
# user (created on first start; FerretDB keeps it in the data directory).
# Credentials go through FERRETDB_* variables, never the command line.
set -eu
if [ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ]; then
	: "${MONGO_INITDB_ROOT_PASSWORD:?MONGO_INITDB_ROOT_PASSWORD is required with MONGO_INITDB_ROOT_USERNAME}"
	export FERRETDB_TEST_ENABLE_NEW_AUTH=true \
		FERRETDB_SETUP_DATABASE=admin \
		FERRETDB_SETUP_USERNAME="$MONGO_INITDB_ROOT_USERNAME" \
		FERRETDB_SETUP_PASSWORD="$MONGO_INITDB_ROOT_PASSWORD"
fi
unset MONGO_INITDB_ROOT_USERNAME MONGO_INITDB_ROOT_PASSWORD
exec /usr/local/bin/ferretdb \
	--handler=sqlite --sqlite-url=file:/data/db/ --state-dir=/data/db \
	--listen-addr=:27017 --debug-addr=127.0.0.1:8088 \
	--telemetry=disable --log-level=warn --log-format=json "$@"
