#!/usr/bin/env bash
# The full local stack for development (make dev, dev-logs, dev-down,
# dev-reset, dev-migrate, dev-seed): agentops on a local Postgres and Redis
# started from Debian's binaries, with the filesystem object store. State
# lives in .dev/ in the checkout; nothing is installed or started
# system-wide. (The compose stack, for machines with a working container
# engine, comes with packaging/compose.)
#   up      start Postgres, Redis and agentops; return once ready; print the URL
#   logs    follow the three logs
#   down    stop all three (the data stays)
#   reset   down, then delete .dev/ (every database, key and workspace)
#   migrate apply migrations to the dev database
#   seed    fill the running stack with demo data through the API
# DEV_PORT (default 8787) is agentops' port; Postgres and Redis take free ones.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dev=$root/.dev
BIN=${BIN:-$root/bin/agentops}
port=${DEV_PORT:-8787}
# Postgres' files: in .dev/ as a normal user; as root, Postgres runs as the
# postgres user, who may not reach into the checkout (a 0700 parent), so
# they go under /var/tmp in a folder named after the checkout.
if [ "$(id -u)" = 0 ]; then
  pg=/var/tmp/agentops-dev-$(printf %s "$root" | sha256sum | cut -c1-12)
else
  pg=$dev/pg
fi

pgbin() {
  local d
  for d in ${AGENTOPS_PG_BINDIR:-} $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
  echo "no initdb: apt-get install postgresql (or set AGENTOPS_PG_BINDIR)" >&2; return 1
}
# as_pg runs a Postgres tool as the postgres user when we are root (initdb
# refuses root), else as ourselves.
as_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
free_port() { "$root/scripts/free-port.sh"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
db_url() { echo "postgres://postgres@127.0.0.1:$(cat "$dev/pg.port")/agentops?sslmode=disable"; }

up_postgres() {
  local bin; bin=$(pgbin)
  [ -f "$dev/pg.port" ] || rm -rf "$pg" # a leftover of a stack whose .dev/ is gone
  mkdir -p "$pg"
  if [ ! -d "$pg/data" ]; then
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$pg"
    as_pg "$bin/initdb" -D "$pg/data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$pg/initdb.log" 2>&1 \
      || { cat "$pg/initdb.log" >&2; exit 1; }
    free_port >"$dev/pg.port"
  fi
  if ! as_pg "$bin/pg_ctl" -D "$pg/data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -t 60 \
      -o "-p $(cat "$dev/pg.port") -k $pg -c listen_addresses=127.0.0.1" start >/dev/null
  fi
  as_pg "$bin/psql" -h 127.0.0.1 -p "$(cat "$dev/pg.port")" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='agentops'" | grep -q 1 \
    || as_pg "$bin/createdb" -h 127.0.0.1 -p "$(cat "$dev/pg.port")" -U postgres agentops
}

up_redis() {
  command -v redis-server >/dev/null || { echo "no redis-server: apt-get install redis-server" >&2; exit 1; }
  [ -f "$dev/redis.port" ] || free_port >"$dev/redis.port"
  alive "$dev/redis.pid" && return
  mkdir -p "$dev/redis"
  redis-server --port "$(cat "$dev/redis.port")" --bind 127.0.0.1 --dir "$dev/redis" \
    --daemonize yes --pidfile "$dev/redis.pid" --logfile "$dev/redis.log" --save "" >/dev/null
  for _ in $(seq 1 50); do alive "$dev/redis.pid" && return; sleep 0.1; done
  echo "redis did not start: $dev/redis.log" >&2; exit 1
}

serve_env() {
  export AGENTOPS_DATA_DIR=$dev/data AGENTOPS_DATABASE_URL=$(db_url) \
    AGENTOPS_PUBSUB=redis AGENTOPS_REDIS_URL=redis://127.0.0.1:$(cat "$dev/redis.port")/0 \
    AGENTOPS_LISTEN=127.0.0.1:$port AGENTOPS_BLOB=fs
}

up() {
  [ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
  mkdir -p "$dev"
  up_postgres
  up_redis
  if ! alive "$dev/agentops.pid"; then
    serve_env
    # setsid: the server outlives this script (make dev returns).
    setsid "$BIN" serve >>"$dev/agentops.log" 2>&1 </dev/null &
    echo $! >"$dev/agentops.pid"
  fi
  for _ in $(seq 1 300); do
    if curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1; then
      echo "agentops is ready at http://127.0.0.1:$port (Postgres on port $(cat "$dev/pg.port"), Redis on $(cat "$dev/redis.port"); logs: make dev-logs)"
      return
    fi
    alive "$dev/agentops.pid" || { tail -20 "$dev/agentops.log" >&2; echo "agentops exited (log: $dev/agentops.log)" >&2; exit 1; }
    sleep 0.1
  done
  echo "agentops did not become ready in 30 s (log: $dev/agentops.log)" >&2; exit 1
}

down() {
  if alive "$dev/agentops.pid"; then
    kill "$(cat "$dev/agentops.pid")"
    for _ in $(seq 1 600); do alive "$dev/agentops.pid" || break; sleep 0.1; done
  fi
  rm -f "$dev/agentops.pid"
  if alive "$dev/redis.pid"; then kill "$(cat "$dev/redis.pid")"; fi
  if [ -d "$pg/data" ]; then
    as_pg "$(pgbin)/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  # Runners of dev sessions run in their own process groups: stop them too.
  pkill -f -- "--workspace $dev/data/" 2>/dev/null || true
  echo "dev stack stopped (data kept in .dev/; make dev-reset deletes it)"
}

case ${1:-} in
  up) up ;;
  logs) exec tail -n 50 -F "$dev/agentops.log" "$pg/postgres.log" "$dev/redis.log" ;;
  down) down ;;
  reset) down; rm -rf "$dev" "$pg"; echo "dev data deleted" ;;
  migrate)
    [ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
    up_postgres; up_redis; serve_env; "$BIN" migrate up ;;
  seed)
    curl -fs "http://127.0.0.1:$port/ready" >/dev/null || { echo "the stack is not running: make dev" >&2; exit 1; }
    go run -tags sqlite_fts5 ./internal/devseed -url "http://127.0.0.1:$port" ;;
  *) echo "usage: scripts/dev.sh up|logs|down|reset|migrate|seed" >&2; exit 2 ;;
esac
