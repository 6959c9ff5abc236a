#!/usr/bin/env bash
# Runs the four services on loopback ports, each with its own
# throwaway datastore, until Ctrl-C. For trying the API from a shell; the whole
# shop with the web UI is `docker compose up --build`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="/usr/local/go/bin:$PATH"
BIN="$ROOT/.cache/bin"
DATA=$(mktemp -d -t roboshop-dev-XXXXXX)
mkdir -p "$BIN"

echo "building..."
(cd testkit && go build -o "$BIN/mongostandin" ./cmd/mongostandin)
for svc in user catalogue cart payment; do (cd "$svc" && go build -o "$BIN/$svc" .); done

pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DATA"
}
trap cleanup EXIT INT TERM

start_mongo() { # name port
	if command -v mongod >/dev/null; then
		mkdir -p "$DATA/$1" && mongod --bind_ip 127.0.0.1 --port "$2" --dbpath "$DATA/$1" --quiet >"$DATA/$1.log" 2>&1 &
	else
		"$BIN/mongostandin" -listen "127.0.0.1:$2" -dir "$DATA/$1" >"$DATA/$1.log" 2>&1 &
	fi
	pids+=($!)
}
start_mongo user-mongodb 27117
start_mongo catalogue-mongodb 27118
mkdir -p "$DATA/cart-redis"
redis-server --port 6479 --bind 127.0.0.1 --dir "$DATA/cart-redis" --save "" --appendonly no --maxmemory 64mb --maxmemory-policy volatile-lru >"$DATA/cart-redis.log" 2>&1 &
pids+=($!)
mariadb-install-db --no-defaults --datadir="$DATA/payment-mysql" --user="$(id -un)" \
	--auth-root-authentication-method=normal --skip-test-db >"$DATA/payment-mysql.log" 2>&1
mariadbd --no-defaults --datadir="$DATA/payment-mysql" --user="$(id -un)" --port=3406 --bind-address=127.0.0.1 \
	--socket="$DATA/mysql.sock" --skip-log-bin >>"$DATA/payment-mysql.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do mariadb --no-defaults -uroot -h127.0.0.1 -P3406 -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
mariadb --no-defaults -uroot -h127.0.0.1 -P3406 -e "CREATE DATABASE IF NOT EXISTS payment"

LISTEN_ADDR=127.0.0.1:8081 MONGO_URI=mongodb://127.0.0.1:27117/users "$BIN/user" &
pids+=($!)
LISTEN_ADDR=127.0.0.1:8082 MONGO_URI=mongodb://127.0.0.1:27118/catalogue "$BIN/catalogue" &
pids+=($!)
LISTEN_ADDR=127.0.0.1:8083 REDIS_URL=redis://127.0.0.1:6479/0 USER_URL=http://127.0.0.1:8081 \
	CATALOGUE_URL=http://127.0.0.1:8082 "$BIN/cart" &
pids+=($!)
LISTEN_ADDR=127.0.0.1:8084 MYSQL_DSN='root@tcp(127.0.0.1:3406)/payment?parseTime=true' USER_URL=http://127.0.0.1:8081 \
	CATALOGUE_URL=http://127.0.0.1:8082 CART_URL=http://127.0.0.1:8083 "$BIN/payment" &
pids+=($!)

cat <<MSG

user      http://127.0.0.1:8081   (demo account: demo@roboshop.example / roboshop-demo)
catalogue http://127.0.0.1:8082
cart      http://127.0.0.1:8083
payment   http://127.0.0.1:8084
Try:  curl -s http://127.0.0.1:8082/products?q=drone
Ctrl-C stops everything and deletes the data.

MSG
wait -n "${pids[@]}"
