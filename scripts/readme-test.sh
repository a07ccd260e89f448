#!/usr/bin/env bash
# Runs the README's shell blocks (```sh, ```bash or ```shell fences), in the
# order they appear, in one shell, against a fresh server: a binary built from
# this tree, a temporary data dir, a free loopback port. Stops at the first
# block that fails and prints its text and output. `make test` runs it.
#
# How the blocks run:
# - in one bash (variables carry from block to block) with `set -e -o
#   pipefail`, from a directory where `bin/agentops` is the built binary (it
#   is on PATH as `agentops` too), with AGENTOPS_DATA_DIR set to the server's
#   data dir and HOME to a temporary directory;
# - `localhost:8787` and `127.0.0.1:8787` in a block are replaced by the
#   server's address;
# - `curl` fails on an HTTP error status (--fail-with-body is added): a block
#   that shows an error on purpose ends that command with `|| true`;
# - each block has $BLOCK_TIMEOUT seconds (default 60).
#
# A block that cannot run here goes in SKIP below, keyed by the start of its
# first line, with the reason; the script prints what it skipped, and fails
# when an entry matches no block (so the list does not rot).
set -euo pipefail
cd "$(dirname "$0")/.."
readme=${README:-README.md}
block_timeout=${BLOCK_TIMEOUT:-60}

declare -A SKIP=(
  ['make run']='serves in the foreground and runs the whole test suite: this script builds and serves itself, and make test is what runs it'
  ["bin/agentops serve --database-url 'postgres://"]='needs a Postgres server at that URL, and serves in the foreground (make test covers Postgres with its own server)'
  ['# MinIO (path-style']='serves against outside object stores (MinIO, Cloudflare R2, AWS S3)'
  ['make web ']='development commands for the web client: npm installs, a rebuild of web/dist, the browser tests (make test runs web-e2e itself) and a dev server in the foreground'
)

t0=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/agentops-readme-XXXXXX")
server_pid= runner_pid=
cleanup() {
  local rc=$?
  if [ -n "$runner_pid" ]; then kill -KILL -- "-$runner_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  # Runners run in their own process groups and outlive the server (by
  # design): end the ones this server started, by pid.
  local f p
  for f in $(grep -laF "$work/bin/agentops" /proc/[0-9]*/cmdline 2>/dev/null); do
    p=${f#/proc/}; p=${p%/cmdline}
    if [[ $(tr '\0' ' ' 2>/dev/null <"$f") == "$work/bin/agentops runner "* ]]; then
      kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Build. -race shares the packages `go test -race` compiled (make test runs
# it first), so this only links, and the README's flow runs under the race
# detector.
mkdir -p "$work/bin" "$work/shim" "$work/data" "$work/home" "$work/blocks"
go build -race -tags sqlite_fts5 -o "$work/bin/agentops" .
ln -s "$work/bin" "$work/home/bin"
t_built=$(date +%s)

real_curl=$(command -v curl) || { echo "readme-test: curl is not installed" >&2; exit 1; }
command -v jq >/dev/null || { echo "readme-test: jq is not installed" >&2; exit 1; }
printf '#!/bin/sh\nexec %s --fail-with-body "$@"\n' "$real_curl" >"$work/shim/curl"
chmod +x "$work/shim/curl"

# Extract the blocks: blocks/N.sh, and index lines "N<TAB>line<TAB>first line".
awk -v dir="$work/blocks" '
  !inb && /^[ \t]*```(sh|bash|shell)[ \t]*$/ { inb = 1; n++; start = NR + 1; first = ""; file = sprintf("%s/%03d.sh", dir, n); printf "" > file; next }
  inb && /^[ \t]*```[ \t]*$/ { inb = 0; close(file); printf "%03d\t%d\t%s\n", n, start, first > (dir "/index"); next }
  inb { print > file; if (first == "") first = $0 }
' "$readme"
[ -s "$work/blocks/index" ] || { echo "readme-test: no shell blocks found in $readme" >&2; exit 1; }

# Start the server on a free loopback port.
for v in $(compgen -e | grep '^AGENTOPS_' || true); do unset "$v"; done
export AGENTOPS_DATA_DIR="$work/data" HOME="$work/home"
unset XDG_DATA_HOME
for attempt in 1 2 3 4 5; do
  port=$(scripts/free-port.sh)
  # In a session of its own, like the blocks: a Ctrl-C reaches this script
  # alone, and cleanup ends the rest.
  setsid "$work/bin/agentops" serve --listen "127.0.0.1:$port" --log-level warn >"$work/serve.log" 2>&1 &
  server_pid=$!
  up=false
  for _ in $(seq 1 300); do
    if "$real_curl" -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1; then up=true; break; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  $up && break
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
done
if [ -z "$server_pid" ]; then
  echo "readme-test: the server did not start:" >&2
  cat "$work/serve.log" >&2
  exit 1
fi

# Decide which blocks run, and write the shell that runs them.
declare -A used=()
runner="$work/runner.sh"
{
  echo 'set -e -o pipefail'
  echo "cd '$work/home'"
  echo "export PATH='$work/shim:$work/bin':\"\$PATH\""
} >"$runner"
ran=0 skipped=0
while IFS=$'\t' read -r n line first; do
  reason=
  for key in "${!SKIP[@]}"; do
    if [[ $first == "$key"* ]]; then reason=${SKIP[$key]}; used[$key]=1; break; fi
  done
  if [ -n "$reason" ]; then
    echo "readme-test: skipped $readme:$line ($first): $reason"
    skipped=$((skipped + 1))
    continue
  fi
  sed -e "s/localhost:8787/127.0.0.1:$port/g" -e "s/127\.0\.0\.1:8787/127.0.0.1:$port/g" "$work/blocks/$n.sh" >"$work/blocks/$n.run"
  echo "echo $n >'$work/current'; . '$work/blocks/$n.run' >'$work/blocks/$n.log' 2>&1; echo \"readme-test: ok $readme:$line (\$(( \$(date +%s) - \$(stat -c %Y '$work/current') ))s)\"" >>"$runner"
  ran=$((ran + 1))
done <"$work/blocks/index"
echo "echo done >'$work/current'" >>"$runner"
stale=0
for key in "${!SKIP[@]}"; do
  if [ -z "${used[$key]:-}" ]; then echo "readme-test: SKIP entry matches no block in $readme: $key" >&2; stale=1; fi
done
[ $stale = 0 ] || exit 1

# Run them, in a process group of their own that holds whatever a block
# left in the background (ended afterwards). A watchdog ends a block that
# runs longer than $block_timeout seconds.
rc=0
setsid bash "$runner" </dev/null 2>&1 &
runner_pid=$!
timed_out=false
while kill -0 "$runner_pid" 2>/dev/null; do
  if [ -f "$work/current" ] && [ $(( $(date +%s) - $(stat -c %Y "$work/current") )) -ge "$block_timeout" ]; then
    timed_out=true
    kill -TERM -- "-$runner_pid" 2>/dev/null || true
    break
  fi
  sleep 0.2
done
wait "$runner_pid" || rc=$?
kill -KILL -- "-$runner_pid" 2>/dev/null || true
current=$(cat "$work/current" 2>/dev/null || echo none)
if [ "$rc" != 0 ] || [ "$current" != done ] || $timed_out; then
  line=$(awk -F'\t' -v n="$current" '$1 == n { print $2 }' "$work/blocks/index")
  if $timed_out; then why="timed out after ${block_timeout}s"; else why="exit status $rc"; fi
  echo "readme-test: FAIL: the block at $readme:$line failed ($why):" >&2
  sed 's/^/    /' "$work/blocks/$current.sh" >&2
  echo "  its output:" >&2
  sed 's/^/    /' "$work/blocks/$current.log" >&2
  echo "  server log:" >&2
  tail -n 30 "$work/serve.log" | sed 's/^/    /' >&2
  exit 1
fi
t_end=$(date +%s)
echo "readme-test: $ran blocks passed, $skipped skipped; build took $((t_built - t0))s, blocks $((t_end - t_built))s"
