#!/usr/bin/env bash
# Builds the servers agentops is measured against (make bench-compare) from
# the Go module proxy into a cache outside the clone, once; later runs reuse
# them. Prints the cache directory.
#   PocketBase 0.36.8 (examples/base; newer versions need Go 1.27)
#   Centrifugo 6.9.1
set -euo pipefail
cache="${AGENTOPS_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentops/bench-peers}"
mkdir -p "$cache/src"
cd "$cache/src"
[ -f go.mod ] || printf 'module benchpeers\n\ngo 1.26\n' > go.mod
build() { # name version module package
	local out="$cache/$1-$2"
	[ -x "$out" ] && return
	echo "building $1 $2 into $cache (once)" >&2
	go get "$3@v$2" >&2
	GOFLAGS=-mod=mod go build -trimpath -o "$out.tmp" "$4" >&2
	mv "$out.tmp" "$out"
}
build pocketbase 0.36.8 github.com/pocketbase/pocketbase github.com/pocketbase/pocketbase/examples/base
build centrifugo 6.9.1 github.com/centrifugal/centrifugo/v6 github.com/centrifugal/centrifugo/v6
echo "$cache"
