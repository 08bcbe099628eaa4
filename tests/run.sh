#!/usr/bin/env bash
# The project's one test command: configure, build, run every test.
#   tests/run.sh
# Environment:
#   BUILD_DIR           build directory (default: build, relative to the repository root)
#   LSC_CUDA            AUTO (default), ON or OFF: the CUDA backend module; ON and AUTO with a
#                       toolkit build it for CMAKE_CUDA_ARCHITECTURES=90 (override: CUDA_ARCHS);
#                       SIM builds it with the host compiler against tests/cudasim, a CUDA device
#                       emulated on the CPU, and runs every GPU test there (no GPU, no toolkit)
#   LSC_ORACLE_PYTHON   a python with prdc and vendi-score for the peer-oracle test; unset: make
#                       one in $BUILD_DIR/oracle-venv from tests/oracle/requirements.txt (when
#                       that fails the test reports SKIPPED); set but empty: skip that test
#   LSC_TEST_LABEL      run only the tests with this ctest label (cpu or cudasim); cudasim also
#                       builds only what those tests need
#   LSC_TEST_EXCLUDE    a ctest -E regular expression: tests not to run
#   LSC_BUILD_BENCH     OFF: do not build bench/ (default ON; no test needs it)
#   JOBS                parallel build and test jobs (default: every online core)
#   CMAKE_BUILD_TYPE    default Release (RelWithDebInfo with LSC_SANITIZE=1, at -O1 -g1)
#   LSC_SANITIZE        1: AddressSanitizer + UndefinedBehaviorSanitizer build (leaks checked, any
#                       UB report fatal), tests run with ASAN_OPTIONS/UBSAN_OPTIONS set below;
#                       install_consumer is skipped (a consumer built without the sanitizer
#                       cannot load the instrumented library). Use its own BUILD_DIR.
# Exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-build}
[[ "$build" = /* ]] || build="$root/$build"
cuda=${LSC_CUDA:-AUTO}
jobs=${JOBS:-$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
sanitize=${LSC_SANITIZE:-0}
if [[ "$sanitize" == 1 ]]; then
    build_type=${CMAKE_BUILD_TYPE:-RelWithDebInfo}
else
    build_type=${CMAKE_BUILD_TYPE:-Release}
fi

t_start=$SECONDS
stage_t=$SECONDS
stage() {
    echo "== run.sh: $1 done in $((SECONDS - stage_t)) s"
    stage_t=$SECONDS
}

# ---- the oracle environment ------------------------------------------------------------------
if [[ -z "${LSC_ORACLE_PYTHON+set}" ]]; then
    echo "== run.sh: making the peer-oracle environment in $build/oracle-venv"
    if oracle_py=$(tests/oracle/make_venv.sh "$build/oracle-venv"); then
        echo "== run.sh: peer oracles: $oracle_py"
    else
        echo "== run.sh: WARNING: no peer-oracle environment (see above); oracle_peers will report SKIPPED"
        oracle_py=""
    fi
    stage "oracle environment"
else
    oracle_py=$LSC_ORACLE_PYTHON
    if [[ -n "$oracle_py" ]]; then
        echo "== run.sh: peer oracles: $oracle_py (from LSC_ORACLE_PYTHON)"
    else
        echo "== run.sh: LSC_ORACLE_PYTHON is empty: oracle_peers will report SKIPPED"
    fi
fi

# ---- configure, build --------------------------------------------------------------------------
cmake_args=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE="$build_type" -DLSC_CUDA="$cuda"
            -DLSC_BUILD_TESTS=ON -DLSC_ORACLE_PYTHON="$oracle_py"
            -DLSC_BUILD_BENCH="${LSC_BUILD_BENCH:-ON}")
if [[ "${cuda^^}" == "ON" ]] || { [[ "${cuda^^}" == "AUTO" ]] && command -v nvcc >/dev/null; }; then
    cmake_args+=(-DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}")
fi
ctest_args=()
exclude=${LSC_TEST_EXCLUDE:-}
if [[ "$sanitize" == 1 ]]; then
    san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
    cmake_args+=(-DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san"
                 # -O1 with line tables: every report still names file and line, and the
                 # instrumented build takes half the time of -O2 -g (the tests run as fast)
                 -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
                 -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
                 -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
                 -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined")
    # the consumer is built without the sanitizer, so it cannot load the instrumented library
    # and python cannot load it without preloading the sanitizer runtime
    exclude="^(install_consumer|python_binding)\$${exclude:+|$exclude}"
    # Open MPI keeps allocations ASan would report as leaks and is not built instrumented: the
    # sharded code runs here over the in-process transport of test_sharded, MPI in the other stages
    cmake_args+=(-DLSC_MPI=OFF)
    export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    # no leak suppressions are needed (libgomp included, GCC 12); should one ever be, pass it
    # through a documented LSAN_OPTIONS=suppressions=FILE
    echo "== run.sh: sanitizers on: ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS"
fi
echo "== run.sh: cmake ${cmake_args[*]}"
cmake "${cmake_args[@]}"
stage "configure"
build_args=()
if [[ "${LSC_TEST_LABEL:-}" == cudasim ]]; then
    build_args+=(--target lsc lsc_cuda cudasim lsc_cli test_cuda test_cudasim)
fi
cmake --build "$build" --parallel "$jobs" ${build_args[@]+"${build_args[@]}"}
stage "build"
if [[ -n "${LSC_TEST_LABEL:-}" ]]; then ctest_args+=(-L "^${LSC_TEST_LABEL}\$"); fi
if [[ -n "$exclude" ]]; then ctest_args+=(-E "$exclude"); fi

# ---- test --------------------------------------------------------------------------------------
test_rc=0
ctest --test-dir "$build" --output-on-failure --parallel "$jobs" --timeout 900 ${ctest_args[@]+"${ctest_args[@]}"} ||
    test_rc=$?
stage "tests"

# The counts, and each reason for a skip once with how many tests gave it: ctest shows the reasons
# only with -V, and they are in its log of this run. A GoogleTest skip prints "file:line: Skipped"
# and its message on the next line; the other skips print "SKIPPED: reason".
log="$build/Testing/Temporary/LastTest.log"
if [[ -f $log ]]; then
    awk '
        function flush() {
            if (name == "") return
            total++
            if (failed_now) failed++
            else if (skipped_now) {
                skipped++
                r = reason == "" ? "(no reason printed)" : reason
                if (!(r in count)) order[++nreasons] = r
                count[r]++
            }
            name = ""
        }
        /^[0-9]+\/[0-9]+ Testing: / { flush(); name = $0; reason = ""; skipped_now = 0; failed_now = 0; want = 0; next }
        name == "" { next }
        want { sub(/^[ \t]+/, ""); if (reason == "") reason = substr($0, 1, 200); want = 0; next }
        /: Skipped$/ { want = 1; next }
        /^SKIPPED: / { if (reason == "") reason = substr($0, 10, 200); next }
        /^Skip regular expression found in output/ { skipped_now = 1; next }
        /^Test Failed|^Test Fail Reason/ { failed_now = 1; next }
        /^"[^"]*" end time:/ { flush() }
        END {
            flush()
            printf "== run.sh: %d tests: %d passed, %d skipped, %d failed\n", total, total - skipped - failed, skipped, failed
            for (i = 1; i <= nreasons; i++) printf "   skipped %3d: %s\n", count[order[i]], order[i]
        }' "$log"
fi
if [[ $test_rc != 0 ]]; then
    echo "== run.sh: FAILED ($build): ctest exited $test_rc"
    exit "$test_rc"
fi
echo "== run.sh: all passed ($build, LSC_CUDA=$cuda$([[ "$sanitize" == 1 ]] && echo ", LSC_SANITIZE=1")) in $((SECONDS - t_start)) s"
