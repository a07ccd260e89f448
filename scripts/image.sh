#!/usr/bin/env bash
# Builds the container image without a registry, and checks it (make image):
#  1. a base image: mmdebstrap (Debian's package) makes a minimal Debian
#     with the runtime packages and the agentops user; podman import loads
#     it. Cached: the tarball under $IMAGE_CACHE, the image in podman's
#     store, both keyed by a hash of what goes in (REBUILD_BASE=1 redoes it).
#  2. the binary built on this host (make build), and the image from it
#     with packaging/Dockerfile's COPY-only path (no RUN step).
#  3. checks on the result: its metadata (podman image inspect: user,
#     healthcheck, volume, entrypoint, environment) and its files (the
#     image mounted, the binary, git and node run in it with chroot).
# VERSION names the image's tag (default: git describe); IMAGE its name
# (localhost/agentops); REMOVE_IMAGE=1 removes it after the checks.
# `podman run` does not work on the CI machines (setrlimit and cgroup
# errors), so the image is built and inspected here, not run.
# Needs root (mmdebstrap's root mode, podman image mount), podman and mmdebstrap.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/agentops-test/image}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PACKAGES=ca-certificates,curl,git,nodejs,npm,tini
UID_GID=10001
IMAGE=${IMAGE:-localhost/agentops}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
# podman rejects some characters in tags: keep [A-Za-z0-9_.-].
tag=$(printf '%s' "$VERSION" | tr -c 'A-Za-z0-9_.-' '-')

for cmd in podman mmdebstrap jq; do
  command -v "$cmd" >/dev/null || { echo "image: $cmd is not installed" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "image: run as root (mmdebstrap root mode, podman image mount)" >&2; exit 1; }

# ---- 1. the base ----
user_hook="chroot \"\$1\" useradd --system --uid $UID_GID --user-group --home-dir /var/lib/agentops --create-home --shell /usr/sbin/nologin agentops"
clean_hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb'
key=$(printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES" "$user_hook" "$clean_hook" | sha256sum | cut -c1-12)
base="localhost/agentops-base:$SUITE-$key"
mkdir -p "$IMAGE_CACHE"
tarball="$IMAGE_CACHE/base-$SUITE-$key.tar"
if [ "${REBUILD_BASE:-0}" = 1 ]; then
  rm -f "$tarball"
  podman rmi -f "$base" >/dev/null 2>&1 || true
fi
if podman image exists "$base"; then
  echo "base: $base (cached)"
else
  if [ ! -s "$tarball" ]; then
    echo "base: mmdebstrap $SUITE with $PACKAGES"
    start=$(date +%s)
    mmdebstrap --quiet --mode=root --variant=minbase --include="$PACKAGES" \
      --customize-hook="$user_hook" --customize-hook="$clean_hook" \
      --format=tar "$SUITE" "$tarball.tmp" "$MIRROR"
    mv "$tarball.tmp" "$tarball"
    echo "base: made in $(( $(date +%s) - start ))s"
  fi
  podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$base" >/dev/null
  echo "base: imported $base"
fi

# ---- 2. the image ----
make --no-print-directory build VERSION="$VERSION" >/dev/null
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin"
cp bin/agentops "$ctx/bin/agentops"
podman build --quiet --isolation=chroot --format docker -f packaging/Dockerfile \
  --build-arg BINARY=prebuilt --build-arg RUNTIME="$base" \
  -t "$IMAGE:$tag" "$ctx" >/dev/null
# The prebuilt stage leaves an untagged image per binary: remove ours.
podman image prune -f --filter label=org.agentops.stage=prebuilt >/dev/null
echo "image: $IMAGE:$tag ($(podman image inspect --format '{{.Size}}' "$IMAGE:$tag" | awk '{printf "%.0f MB", $1/1e6}'))"

# ---- 3. checks ----
fail=0
check() { # description, then a jq filter that must give true
  if podman image inspect "$IMAGE:$tag" | jq -e ".[0] | $2" >/dev/null; then
    echo "ok: $1"
  else
    echo "FAIL: $1"; fail=1
  fi
}
check "runs as the non-root user $UID_GID" ".Config.User == \"$UID_GID:$UID_GID\""
check "healthcheck on /ready" '((.Healthcheck // .Config.Healthcheck).Test | join(" ")) | test("http://127.0.0.1:8787/ready")'
check "docker format (podman keeps HEALTHCHECK only there)" '.ManifestType | test("docker")'
check "the data dir is a volume" '.Config.Volumes | has("/var/lib/agentops")'
check "entrypoint: tini, then agentops serve" '.Config.Entrypoint == ["/usr/bin/tini","--","/usr/bin/agentops"] and .Config.Cmd == ["serve"]'
check "listens on all interfaces, data in the volume" '(.Config.Env | index("AGENTOPS_LISTEN=0.0.0.0:8787") != null) and (.Config.Env | index("AGENTOPS_DATA_DIR=/var/lib/agentops") != null)'
check "port 8787 exposed" '.Config.ExposedPorts | has("8787/tcp")'

mnt=$(podman image mount "$IMAGE:$tag")
trap 'podman image unmount "$IMAGE:$tag" >/dev/null 2>&1 || true; rm -rf "$ctx"' EXIT
inside() { chroot --userspec="$UID_GID:$UID_GID" "$mnt" env HOME=/var/lib/agentops "$@"; }
if got=$(inside /usr/bin/agentops version) && [ "$got" = "agentops $VERSION" ]; then
  echo "ok: the binary runs in the image as the agentops user: $got"
else
  echo "FAIL: agentops version in the image gave: ${got:-nothing}"; fail=1
fi
for tool in "git --version" "node --version" "npm --version" "curl --version" "tini --version"; do
  if out=$(inside $tool 2>&1 | head -1); then
    echo "ok: $tool: $out"
  else
    echo "FAIL: $tool: $out"; fail=1
  fi
done
if [ "$(stat -c %u "$mnt/var/lib/agentops")" = "$UID_GID" ]; then
  echo "ok: /var/lib/agentops belongs to the agentops user"
else
  echo "FAIL: /var/lib/agentops owner $(stat -c %u "$mnt/var/lib/agentops")"; fail=1
fi
podman image unmount "$IMAGE:$tag" >/dev/null
# REMOVE_IMAGE=1 (CI): drop the image once checked, so that runs do not pile
# images up (the base stays cached).
if [ "${REMOVE_IMAGE:-0}" = 1 ]; then
  podman rmi "$IMAGE:$tag" >/dev/null
  echo "image: removed $IMAGE:$tag (REMOVE_IMAGE=1)"
fi
exit $fail
