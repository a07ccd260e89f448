#!/usr/bin/env bash
# CI-only: installs the .deb built by `make package` on this machine, checks
# it, runs the installed binary as the package's user, then removes and
# purges it. It changes the machine (a package, a system user), so `make
# test` does not run it; .ci/run does, as root. Also checks the Homebrew
# formula's syntax with ruby -c.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "package-test: run as root (it installs a package)" >&2; exit 1; }
arch=$(dpkg --print-architecture)
deb=$(ls dist/agentops_*_"$arch".deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "package-test: no dist/agentops_*_$arch.deb; run make package first" >&2; exit 1; }
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
chmod 0755 "$work" # the agentops user runs the binary in here
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  dpkg --purge agentops >/dev/null 2>&1 || true
  rm -rf "$work" /var/lib/agentops
}
trap cleanup EXIT

echo "--- checksums"
(cd dist && sha256sum --check --quiet SHA256SUMS) || fail "SHA256SUMS does not match dist/"

echo "--- install $deb"
dpkg --purge agentops >/dev/null 2>&1 || true
dpkg -i "$deb" >/dev/null
for f in /usr/bin/agentops /usr/lib/systemd/system/agentops.service /etc/agentops/agentops.env /usr/share/doc/agentops/deploy.md; do
  [ -e "$f" ] || fail "$f is missing after install"
done
dpkg-query -W -f='${Conffiles}\n' agentops | grep -q /etc/agentops/agentops.env || fail "agentops.env is not a conffile"
getent passwd agentops >/dev/null || fail "the agentops user was not created"
[ "$(stat -c %U /var/lib/agentops)" = agentops ] || fail "/var/lib/agentops is not owned by agentops"
[ "$(stat -c %a /etc/agentops/agentops.env)" = 640 ] || fail "agentops.env should be 0640"
/usr/bin/agentops version | grep -q . || fail "agentops version printed nothing"

echo "--- systemd-analyze verify"
# verify wants the binary it names to exist and reports unknown settings.
out=$(systemd-analyze verify /usr/lib/systemd/system/agentops.service 2>&1 || true)
if echo "$out" | grep -v -e 'Failed to .*bus' -e 'Cannot .*bus' -e 'System has not been booted with systemd' -e '^$' | grep -q .; then
  echo "$out" >&2; fail "systemd-analyze verify reported problems"
fi
grep -q '^Type=notify' /usr/lib/systemd/system/agentops.service || fail "unit is not Type=notify"
grep -q '^KillMode=process' /usr/lib/systemd/system/agentops.service || fail "unit does not keep runners on restart"

echo "--- run the installed binary as the agentops user"
data="$work/data"
install -d -o agentops -g agentops "$data"
port=$(./scripts/free-port.sh)
runuser -u agentops -- env HOME="$data" /usr/bin/agentops serve --listen "127.0.0.1:$port" --data-dir "$data" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
  curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; fail "serve exited"; }
  sleep 0.2
done
curl -fs "http://127.0.0.1:$port/ready" >/dev/null || { cat "$work/serve.log" >&2; fail "serve never became ready"; }
curl -fs "http://127.0.0.1:$port/auth/setup" | grep -q needsSetup || fail "/auth/setup did not answer"
[ "$(stat -c %U "$data/agentops.db")" = agentops ] || fail "the database is not owned by agentops"
[ "$(stat -c %a "$data/instance.key")" = 600 ] || fail "instance.key should be 0600"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

echo "--- remove keeps settings, user and data; purge removes settings and user, keeps data"
install -d -o agentops -g agentops /var/lib/agentops
touch /var/lib/agentops/keep-me
dpkg --remove agentops >/dev/null
[ ! -e /usr/bin/agentops ] || fail "the binary is still there after remove"
[ -e /etc/agentops/agentops.env ] || fail "remove deleted the settings"
getent passwd agentops >/dev/null || fail "remove deleted the user"
dpkg --purge agentops >/dev/null
[ ! -e /etc/agentops ] || fail "purge left /etc/agentops"
! getent passwd agentops >/dev/null || fail "purge left the agentops user"
[ -e /var/lib/agentops/keep-me ] || fail "purge deleted the data"

echo "--- Homebrew formula"
if command -v ruby >/dev/null 2>&1; then
  ruby -c packaging/homebrew/agentops.rb >/dev/null || fail "the formula does not parse"
else
  fail "ruby is missing (apt-get install ruby)"
fi
echo "package-test: ok"
