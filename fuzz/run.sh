#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 20), one after the other.
#
#   fuzz/run.sh [SECONDS]
#
# Installs cargo-fuzz when it is missing. The toolchain is stable: RUSTC_BOOTSTRAP=1 lets it
# take the -Z flags cargo-fuzz passes (sanitizer, coverage). Inputs the fuzzer finds go to a
# scratch corpus under the target dir, never into fuzz/corpus (kept small in git); a crash or
# oracle failure stops the script with its input in fuzz/artifacts/<target>/. Set CARGO_TARGET_DIR to build
# elsewhere than fuzz/target.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-20}"
export RUSTC_BOOTSTRAP=1
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
scratch="$target_dir/fuzz-corpus"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# -a: debug assertions on, so arithmetic overflow is a crash too.
build() { cargo fuzz build -a --target-dir "$target_dir" "$@"; }

start=$(date +%s)
build
echo "built in $(($(date +%s) - start)) s"

for target in $(cargo fuzz list); do
    mkdir -p "$scratch/$target"
    dirs=("$scratch/$target" "corpus/$target")
    if [ -d "regressions/$target" ]; then dirs+=("regressions/$target"); fi
    echo "== $target: ${seconds} s"
    log="$target_dir/fuzz-$target.log"
    # The first folder receives new inputs; the others are only read.
    if ! cargo fuzz run -a --target-dir "$target_dir" "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz/run.sh: $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done ' "$log" || true
done
echo "fuzz/run.sh: every target ran ${seconds} s without a failure ($(($(date +%s) - start)) s in all)"
