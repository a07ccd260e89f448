#!/usr/bin/env bash
# Builds the release artifacts into dist/ (make package):
#   agentops_<version>_linux_<arch>.tar.gz   for each arch that can be built here
#   agentops_<version>_<arch>.deb and .rpm   (nfpm, from packaging/tools)
#   SHA256SUMS                               (sha256sum format)
# ARCHES (default "amd64 arm64") picks the architectures. arm64 needs
# Debian's cross compiler (apt-get install gcc-aarch64-linux-gnu
# libc6-dev-arm64-cross): cgo builds SQLite. An arch whose compiler is
# missing is skipped with a message unless REQUIRE_ALL_ARCHES=1.
# macOS binaries cannot be built here (cgo needs Apple's toolchain): the
# Homebrew formula builds from source instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCHES=${ARCHES:-amd64 arm64}
GO=${GO:-go}
raw=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
# Packages need a version that starts with a digit: v1.2.3 → 1.2.3; an
# untagged build is 0.0.0~git<commit date>.<hash> (sorts before any release).
if [[ $raw =~ ^v?[0-9]+\.[0-9]+ ]]; then
  version=${raw#v}
else
  version="0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d).${raw//-/.}"
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
dist=dist
rm -rf "$dist"
mkdir -p "$dist/build"

cc_for() {
  case $1 in
    amd64) [ "$(uname -m)" = x86_64 ] && echo gcc || echo x86_64-linux-gnu-gcc ;;
    arm64) [ "$(uname -m)" = aarch64 ] && echo gcc || echo aarch64-linux-gnu-gcc ;;
    *) echo "unknown arch $1" >&2; return 1 ;;
  esac
}

# nfpm, pinned by packaging/tools/go.mod and built (once, then cached) by go.
nfpm=$(cd packaging/tools && "$GO" tool -n nfpm)

built=()
for arch in $ARCHES; do
  cc=$(cc_for "$arch")
  if ! command -v "$cc" >/dev/null 2>&1; then
    msg="skipping linux/$arch: $cc is missing (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"
    if [ "${REQUIRE_ALL_ARCHES:-0}" = 1 ]; then echo "$msg" >&2; exit 1; fi
    echo "$msg" >&2
    continue
  fi
  t0=$(date +%s)
  bin="$dist/build/linux_$arch/agentops"
  CGO_ENABLED=1 GOOS=linux GOARCH=$arch CC=$cc \
    "$GO" build -tags sqlite_fts5 -trimpath -buildvcs=false \
    -ldflags "-s -w -X main.version=$raw" -o "$bin" .
  # The tarball: the binary, the unit, the default settings and the docs.
  name="agentops_${version}_linux_${arch}"
  stage="$dist/build/$name"
  mkdir -p "$stage"
  cp "$bin" "$stage/agentops"
  cp README.md docs/deploy.md packaging/systemd/agentops.service packaging/agentops.env "$stage/"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    -C "$dist/build" -cf - "$name" | gzip -n -9 >"$dist/$name.tar.gz"
  # The .deb and the .rpm.
  for fmt in deb rpm; do
    # nfpm expands variables in version and arch, not in contents: write
    # the binary's path into a copy of the config.
    sed "s#\${BINARY}#$bin#" packaging/nfpm.yaml >"$dist/build/nfpm-$arch.yaml"
    VERSION=$version ARCH=$arch "$nfpm" package --config "$dist/build/nfpm-$arch.yaml" \
      --packager "$fmt" --target "$dist/agentops_${version}_${arch}.$fmt" >/dev/null
  done
  built+=("$arch")
  echo "linux/$arch: built in $(( $(date +%s) - t0 ))s"
done
[ ${#built[@]} -gt 0 ] || { echo "nothing built" >&2; exit 1; }
rm -rf "$dist/build"
(cd "$dist" && sha256sum -- *.tar.gz *.deb *.rpm >SHA256SUMS)
ls -l "$dist"
