#!/usr/bin/env bash
# Makes sure what the tests need is installed: a C compiler (cgo, for
# SQLite), the PostgreSQL server binaries, redis-server, and curl and jq (the
# README's examples, which scripts/readme-test.sh runs); with the argument
# `web`, Node's npm and Debian's Chromium (the web client's build and browser
# tests) instead. As root with apt available it
# installs what is missing; otherwise it names it and fails.
set -euo pipefail

missing=()
if [ "${1:-}" = web ]; then
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1 || missing+=(chromium)
else
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v jq >/dev/null 2>&1 || missing+=(jq)
pg_ok=false
for d in ${AGENTOPS_PG_BINDIR:-} /usr/lib/postgresql/*/bin; do
  [ -n "$d" ] && [ -x "$d/initdb" ] && pg_ok=true && break
done
$pg_ok || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -n "${AGENTOPS_REDIS_SERVER:-}" ] || command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "ensure-deps: missing ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run again" >&2
exit 1
