#!/usr/bin/env bash
# Checks the dev stack end to end: make dev, make dev-seed, make dev-down
# (on a free port; it refuses to touch an existing .dev/), then dev-reset. The
# seeded data must be there after a restart: dev-down keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
export DEV_PORT=$(./scripts/free-port.sh)
[ ! -e .dev ] || { echo "dev-test: .dev/ exists (a dev stack of yours); not touching it" >&2; exit 1; }
trap './scripts/dev.sh reset >/dev/null 2>&1 || true' EXIT
./scripts/dev.sh up
out=$(./scripts/dev.sh seed)
echo "$out"
echo "$out" | grep -q "demo admin: admin@demo.agentops.test" || { echo "dev-test: seed printed no admin" >&2; exit 1; }
base="http://127.0.0.1:$DEV_PORT"
tok=$(curl -fs -X POST "$base/auth/email/login" -d '{"email":"admin@demo.agentops.test","password":"demo passphrase 1234"}' | sed -n 's/.*"sessionToken":"\([^"]*\)".*/\1/p')
[ -n "$tok" ] || { echo "dev-test: the demo admin cannot log in" >&2; exit 1; }
n=$(curl -fs "$base/api/sessions" -H "Authorization: Bearer $tok" | grep -o '"id"' | wc -l)
[ "$n" -ge 3 ] || { echo "dev-test: expected the admin's 3 sessions, saw $n ids" >&2; exit 1; }
./scripts/dev.sh down
curl -fs "$base/ready" >/dev/null 2>&1 && { echo "dev-test: agentops still answers after dev-down" >&2; exit 1; }
# The data survives a down/up.
./scripts/dev.sh up >/dev/null
curl -fs -X POST "$base/auth/email/login" -d '{"email":"admin@demo.agentops.test","password":"demo passphrase 1234"}' | grep -q sessionToken \
  || { echo "dev-test: the seeded admin is gone after a restart" >&2; exit 1; }
./scripts/dev.sh down >/dev/null
echo "dev-test: ok in $(( $(date +%s) - t0 ))s"
