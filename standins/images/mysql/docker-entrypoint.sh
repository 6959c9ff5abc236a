#!/bin/sh
# First start (empty /var/lib/mysql): create the system tables, then, on a
# server that listens on a socket only, set the root password and create
# MYSQL_DATABASE and MYSQL_USER with all rights on it, then source the *.sh
# in /docker-entrypoint-initdb.d, as mysql:8.4 does. root
# stays local (no root@'%'). A marker written last tells a finished
# initialisation from one that was cut off, which is refused rather than served.
set -eu
datadir=/var/lib/mysql
socket=/var/run/mysqld/mysqld.sock
server_opts="--no-defaults --datadir=$datadir --socket=$socket --pid-file=/var/run/mysqld/mysqld.pid
	--skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci"

# SQL string literal: double the quotes, escape the backslashes.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"; }

if [ ! -e "$datadir/.roboshop-initialized" ]; then
	if [ -e "$datadir/mysql" ]; then
		echo "docker-entrypoint: $datadir holds an unfinished initialisation; remove the volume and start again" >&2
		exit 1
	fi
	: "${MYSQL_ROOT_PASSWORD:?MYSQL_ROOT_PASSWORD is required}"
	echo "docker-entrypoint: initialising $datadir" >&2
	mariadb-install-db --no-defaults --datadir="$datadir" --auth-root-authentication-method=normal \
		--skip-test-db --skip-name-resolve >/dev/null
	# shellcheck disable=SC2086 # server_opts is a list of options
	mariadbd $server_opts --skip-networking &
	pid=$!
	i=0
	until mariadb-admin --socket="$socket" ping --silent 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt 60 ] || { echo "docker-entrypoint: the server did not start" >&2; exit 1; }
		sleep 0.5
	done
	{
		echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(quote "$MYSQL_ROOT_PASSWORD");"
		if [ -n "${MYSQL_DATABASE:-}" ]; then
			echo "CREATE DATABASE IF NOT EXISTS \`$(printf '%s' "$MYSQL_DATABASE" | sed 's/`/``/g')\`;"
		fi
		if [ -n "${MYSQL_USER:-}" ]; then
			: "${MYSQL_PASSWORD:?MYSQL_PASSWORD is required with MYSQL_USER}"
			echo "CREATE USER $(quote "$MYSQL_USER")@'%' IDENTIFIED BY $(quote "$MYSQL_PASSWORD");"
			if [ -n "${MYSQL_DATABASE:-}" ]; then
				echo "GRANT ALL ON \`$(printf '%s' "$MYSQL_DATABASE" | sed 's/`/``/g')\`.* TO $(quote "$MYSQL_USER")@'%';"
			fi
		fi
	} | mariadb --socket="$socket" -uroot
	# As mysql:8.4 does: the *.sh files in /docker-entrypoint-initdb.d are
	# sourced (root's password set, the server on its socket only).
	for f in /docker-entrypoint-initdb.d/*.sh; do
		[ -e "$f" ] || continue
		echo "docker-entrypoint: running $f" >&2
		# shellcheck disable=SC1090 # the operator's script
		. "$f"
	done
	MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mariadb-admin --socket="$socket" -uroot shutdown
	wait "$pid" || true
	touch "$datadir/.roboshop-initialized"
fi
unset MYSQL_ROOT_PASSWORD
# shellcheck disable=SC2086
exec mariadbd $server_opts --bind-address=0.0.0.0 --port=3306 "$@"
