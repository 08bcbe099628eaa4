#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-DLSC_FUZZ=ON: ASan + UBSan + fuzzer coverage over the
# library and the CLI readers; libzip and cJSON required, libhdf5 left out: tests/fuzz/README.md) and runs each for SECONDS seconds from its seed corpus, as many
# targets at once as there are cores (JOBS).
#   tests/fuzz/run.sh [SECONDS] [extra libFuzzer flags...]
# Environment:
#   FUZZ_BUILD_DIR   build directory (default: build-fuzz, relative to the repository root)
#   FUZZ_TARGETS     the targets to run (default: all seven)
#   CC, CXX          default clang, clang++
# The corpus is copied to a scratch folder first, so the repository is never modified; new
# inputs the run finds are thrown away with it. Any crash, leak, sanitizer report or timeout
# fails the script; the crashing input is left under $FUZZ_BUILD_DIR/artifacts/<target>/ (add it
# to tests/fuzz/corpus/<target>/ as a regression once fixed).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
secs=${1:-30}
shift || true
build=${FUZZ_BUILD_DIR:-build-fuzz}
[[ "$build" = /* ]] || build="$root/$build"
targets=${FUZZ_TARGETS:-"fuzz_npy fuzz_fvecs fuzz_reference fuzz_cli_args fuzz_npz fuzz_safetensors fuzz_monitor_history"}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

t0=$SECONDS
scratch=$(mktemp -d "${TMPDIR:-/tmp}/lsc-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="${CC:-clang}" -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSC_FUZZ=ON -DLSC_CUDA=OFF -DLSC_BUILD_TESTS=OFF \
    -DLSC_BUILD_BENCH=OFF -DLSC_WITH_LIBZIP=ON -DLSC_WITH_CJSON=ON -DLSC_WITH_HDF5=OFF \
    >"$scratch/configure.log" 2>&1 || { cat "$scratch/configure.log"; exit 1; }
cmake --build "$build" --target lsc_fuzz --parallel "$jobs"
echo "== fuzz: built in $((SECONDS - t0)) s"

export TMPDIR="$scratch"     # the targets' scratch files
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export OMP_NUM_THREADS=1

# one target: its summary in $scratch/$t.sum, its status in $scratch/$t.rc
run_one() {
    local t=$1 log="$build/$1.log" ts=$SECONDS
    shift
    mkdir -p "$scratch/$t" "$build/artifacts/$t"
    cp -a "$root/tests/fuzz/corpus/$t/." "$scratch/$t/"
    {
        echo "== fuzz: $t for ${secs} s ($(ls "$scratch/$t" | wc -l) seeds)"
        # -close_fd_mask=2: the targets' own stderr (the CLI's one-line refusals) is muted;
        # libFuzzer and the sanitizers still report on a duplicate of it
        if "$build/tests/fuzz/$t" "$scratch/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
                -close_fd_mask=2 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" "$@" \
                >"$log" 2>&1; then
            runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
            echo "== fuzz: $t clean: ${runs:-?} executions in $((SECONDS - ts)) s"
            echo 0 >"$scratch/$t.rc"
        else
            echo "== fuzz: $t FAILED (log $log, artifacts in $build/artifacts/$t/):"
            grep -E -A30 'ERROR|runtime error|deadly signal|timeout' "$log" | head -n 60 || tail -n 40 "$log"
            echo 1 >"$scratch/$t.rc"
        fi
    } >"$scratch/$t.sum"
}

# each target is one process on one core: as many at once as there are cores
failed=()
running=0
for t in $targets; do
    run_one "$t" "$@" &
    running=$((running + 1))
    if [[ $running -ge $jobs ]]; then
        wait
        running=0
    fi
done
wait
for t in $targets; do
    cat "$scratch/$t.sum"
    [[ "$(cat "$scratch/$t.rc" 2>/dev/null)" == 0 ]] || failed+=("$t")
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "== fuzz: FAILED: ${failed[*]}"
    exit 1
fi
echo "== fuzz: all clean in $((SECONDS - t0)) s"
