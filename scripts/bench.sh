#!/usr/bin/env bash
# Measures the foundation's figures for docs/benchmarks.md:
#   - requests/s and p99 of authenticated GET /api/auth/me (wrk) on SQLite
#     and Postgres at 1, 16 and 64 connections;
#   - time from `serve` to /ready on an empty and on a migrated data dir;
#   - binary size and idle memory (RSS).
# Run through internal/testutil/testenv so that a throwaway Postgres exists:
#   make build && go run -tags sqlite_fts5 ./internal/testutil/testenv -- scripts/bench.sh
# Needs wrk (apt-get install wrk) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/agentops}
DURATION=${DURATION:-10s}
PORT=${PORT:-18911}
[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
: "${AGENTOPS_TEST_POSTGRES_URL:?run through internal/testutil/testenv (see the header)}"

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

now_ms() { date +%s%3N; }

# start_server DATA_DIR DB_URL: starts serve, waits for /ready; sets pid
# and ms (the time from exec to ready).
start_server() {
  local t0; t0=$(now_ms)
  "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$1" --database-url "$2" --log-level warn >"$work/serve.log" 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/ready"; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.002
  done
  ms=$(( $(now_ms) - t0 ))
}
stop_server() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

new_pg_db() {
  local name="bench_$(date +%s%N)"
  psql -q "$AGENTOPS_TEST_POSTGRES_URL" -c "CREATE DATABASE $name" >/dev/null
  echo "${AGENTOPS_TEST_POSTGRES_URL%/*}/$name?sslmode=disable"
}

echo "## Environment"
echo "- $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(go version | cut -d' ' -f3), $(uname -sr)"
echo "- binary: $(stat -c %s "$BIN") bytes ($(( $(stat -c %s "$BIN") / 1024 / 1024 )) MiB), built with make build (-trimpath -s -w)"
echo

echo "## Startup: serve to /ready"
for db in sqlite postgres; do
  d="$work/start-$db"; mkdir -p "$d"
  url="$d/agentops.db"; [ $db = postgres ] && url=$(new_pg_db)
  start_server "$d" "$url"; empty=$ms; stop_server
  runs=()
  for i in 1 2 3 4 5; do start_server "$d" "$url"; runs+=("$ms"); stop_server; done
  sorted=$(printf '%s\n' "${runs[@]}" | sort -n | tr '\n' ' ')
  echo "- $db: empty data dir ${empty} ms; migrated data dir, 5 runs: ${sorted}ms"
done
echo

echo "## Idle memory"
for db in sqlite postgres; do
  d="$work/mem-$db"; mkdir -p "$d"
  url="$d/agentops.db"; [ $db = postgres ] && url=$(new_pg_db)
  start_server "$d" "$url"
  sleep 5
  echo "- $db: RSS after 5 s idle: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
  stop_server
done
echo

echo "## GET /api/auth/me with an API key (wrk, $DURATION per row)"
echo "| database | connections | requests/s | p50 | p99 | RSS after |"
echo "|---|---|---|---|---|---|"
for db in sqlite postgres; do
  d="$work/load-$db"; mkdir -p "$d"
  url="$d/agentops.db"; [ $db = postgres ] && url=$(new_pg_db)
  echo "bench password" | "$BIN" user create --email bench@example.com --data-dir "$d" --database-url "$url" --log-level warn >/dev/null
  key=$("$BIN" token create --email bench@example.com --name bench --data-dir "$d" --database-url "$url" --log-level warn 2>/dev/null)
  start_server "$d" "$url"
  for c in 1 16 64; do
    t=$(( c < 2 ? 1 : 2 ))
    out=$(wrk -t$t -c$c -d"$DURATION" --latency -H "Authorization: Bearer $key" "http://127.0.0.1:$PORT/api/auth/me")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    p50=$(awk '$1=="50%"{print $2}' <<<"$out")
    p99=$(awk '$1=="99%"{print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/{print $4}' <<<"$out")
    [ -n "$non2xx" ] && { echo "non-2xx responses: $non2xx" >&2; exit 1; }
    echo "| $db | $c | $rps | $p50 | $p99 | $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status) |"
  done
  stop_server
done
