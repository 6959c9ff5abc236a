#!/bin/sh
# Starts FerretDB the way mongo:7 starts mongod: data in /data/db, port 27017,
# and authentication (SCRAM) when MONGO_INITDB_ROOT_USERNAME is set.
# FerretDB has one user made at first start and no roles, and runs no
# /docker-entrypoint-initdb.d scripts: where the compose file asks the real
# image's init script for a service's own user (ROBOSHOP_MONGO_USER in
# MONGO_INITDB_DATABASE, readWrite there), that is the user made here, so the
# service connects exactly as it does to mongo:7. The Helm chart's init script
# (app-user.js) reads APP_USERNAME, APP_PASSWORD and APP_DATABASE: the same
# user is made from those. Otherwise the root user.
# Credentials go through FERRETDB_* variables, never the command line.
set -eu
if [ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ]; then
	: "${MONGO_INITDB_ROOT_PASSWORD:?MONGO_INITDB_ROOT_PASSWORD is required with MONGO_INITDB_ROOT_USERNAME}"
	export FERRETDB_TEST_ENABLE_NEW_AUTH=true
	if [ -n "${APP_USERNAME:-}" ] && [ -z "${ROBOSHOP_MONGO_USER:-}" ]; then
		ROBOSHOP_MONGO_USER=$APP_USERNAME ROBOSHOP_MONGO_PASSWORD=${APP_PASSWORD:-} MONGO_INITDB_DATABASE=${APP_DATABASE:-}
	fi
	if [ -n "${ROBOSHOP_MONGO_USER:-}" ]; then
		: "${ROBOSHOP_MONGO_PASSWORD:?ROBOSHOP_MONGO_PASSWORD is required with ROBOSHOP_MONGO_USER}"
		: "${MONGO_INITDB_DATABASE:?MONGO_INITDB_DATABASE is required with ROBOSHOP_MONGO_USER}"
		export FERRETDB_SETUP_DATABASE="$MONGO_INITDB_DATABASE" \
			FERRETDB_SETUP_USERNAME="$ROBOSHOP_MONGO_USER" \
			FERRETDB_SETUP_PASSWORD="$ROBOSHOP_MONGO_PASSWORD"
	else
		export FERRETDB_SETUP_DATABASE=admin \
			FERRETDB_SETUP_USERNAME="$MONGO_INITDB_ROOT_USERNAME" \
			FERRETDB_SETUP_PASSWORD="$MONGO_INITDB_ROOT_PASSWORD"
	fi
fi
unset MONGO_INITDB_ROOT_USERNAME MONGO_INITDB_ROOT_PASSWORD ROBOSHOP_MONGO_USER ROBOSHOP_MONGO_PASSWORD APP_USERNAME APP_PASSWORD
exec /usr/local/bin/ferretdb \
	--handler=sqlite --sqlite-url=file:/data/db/ --state-dir=/data/db \
	--listen-addr=:27017 --debug-addr=127.0.0.1:8088 \
	--telemetry=disable --log-level=warn --log-format=json "$@"
