#!/usr/bin/env bash
# Reading a large Go pprof profile into folded stacks: firebox against
# `go tool pprof -raw` on the same file, wall time and peak memory from
# /usr/bin/time -v. Needs golang-go and the `time` package.
#
#   scripts/bench/pprof-large.sh [MEGABYTES]   (uncompressed size, default 60)
set -euo pipefail

megabytes="${1:-60}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$root"
cargo build --release --quiet
cargo build --release --quiet -p firebox-collectors --example inflate_pprof

# A real CPU profile from Go's runtime/pprof, then many copies of it.
go build -o "$work/work" fixtures/go/work.go
"$work/work" "$work/cpu.pprof" "$work/heap.pprof"
target/release/examples/inflate_pprof "$work/cpu.pprof" "$work/big.pb.gz" "$megabytes"

measure() {
    local name="$1"
    shift
    /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt" || { cat "$work/time.txt"; exit 1; }
    local wall rss
    wall="$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}')"
    rss="$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')"
    printf '%-32s %10s %12s KiB\n' "$name" "$wall" "$rss"
}

printf '%-32s %10s %16s\n' "reader" "wall" "peak RSS"
measure "firebox convert -> folded" target/release/firebox convert "$work/big.pb.gz" -o -
measure "go tool pprof -raw" go tool pprof -raw "$work/big.pb.gz"
measure "go tool pprof -traces" go tool pprof -traces "$work/big.pb.gz"
