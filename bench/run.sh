#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: builds sockwright, the load generator and the peers in release,
# then runs every scenario on every server, interleaved over rounds, and writes the table.
#
#   bench/run.sh                 # the full run (about 25 minutes), writes BENCHMARKS.md
#   bench/run.sh --quick         # a short smoke run (about 2 minutes), writes $TMPDIR/BENCHMARKS-quick.md
#   bench/run.sh --no-pin        # servers and generator share every CPU
#   bench/run.sh --rounds 5 --only echo,idle --out /tmp/x.md   # any other suite option
#   bench/run.sh --only fanout,relay,echo:100x20,idle:1000      # some scenarios and rows
#
# With two or more CPUs each server is pinned to CPU 0 and the generator to CPU 1 (taskset):
# on a 2-core machine this keeps the two from preempting each other, which steadied the
# numbers (see BENCHMARKS.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

command_line="bench/run.sh${*:+ $*}"
quick=0
pin=1
out=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; args+=("--quick") ;;
        --no-pin) pin=0 ;;
        --out) out="$2"; shift ;;
        *) args+=("$1") ;;
    esac
    shift
done
if [ -z "$out" ]; then
    if [ "$quick" = 1 ]; then out="${TMPDIR:-/tmp}/BENCHMARKS-quick.md"; else out="$root/BENCHMARKS.md"; fi
fi

# The mio-only build first (the same binary name; the full build then takes it back), kept
# as sockwright-mio-only for the idle rows.
cargo build --release --quiet -p sockwright-servers --no-default-features --features rt-mio
cp "${CARGO_TARGET_DIR:-$root/target}/release/sockwright" "${CARGO_TARGET_DIR:-$root/target}/release/sockwright-mio-only"
cargo build --release --quiet -p sockwright-servers -p sockwright-bench
cargo build --release --quiet --manifest-path bench/peers/Cargo.toml
bin="${CARGO_TARGET_DIR:-$root/target}/release"
peers="${CARGO_TARGET_DIR:-$root/bench/peers/target}/release"

generator=("$bin/sockwright-bench")
pinning=()
if [ "$pin" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    generator=(taskset -c 1 "$bin/sockwright-bench")
    pinning=(--server-cpu 0)
fi

exec "${generator[@]}" suite --bin-dir "$bin" --peers-dir "$peers" "${pinning[@]}" \
    --out "$out" --command-line "$command_line" --notes bench/findings.md "${args[@]}"
