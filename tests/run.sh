#!/usr/bin/env bash
# The project's one test command: configure, build, run every test.
#   tests/run.sh
# Environment:
#   BUILD_DIR           build directory (default: build, relative to the repository root)
#   LSC_CUDA            AUTO (default), ON or OFF: the CUDA backend module; ON and AUTO with a
#                       toolkit build it for CMAKE_CUDA_ARCHITECTURES=90 (override: CUDA_ARCHS)
#   LSC_ORACLE_PYTHON   a python with prdc and vendi-score for the peer-oracle test; unset: make
#                       one in $BUILD_DIR/oracle-venv from tests/oracle/requirements.txt (when
#                       that fails the test reports SKIPPED); set but empty: skip that test
#   JOBS                parallel build and test jobs (default: every online core)
#   CMAKE_BUILD_TYPE    default Release
# Exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-build}
[[ "$build" = /* ]] || build="$root/$build"
cuda=${LSC_CUDA:-AUTO}
jobs=${JOBS:-$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
build_type=${CMAKE_BUILD_TYPE:-Release}

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
            -DLSC_BUILD_TESTS=ON -DLSC_ORACLE_PYTHON="$oracle_py")
if [[ "${cuda^^}" == "ON" ]] || { [[ "${cuda^^}" == "AUTO" ]] && command -v nvcc >/dev/null; }; then
    cmake_args+=(-DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}")
fi
echo "== run.sh: cmake ${cmake_args[*]}"
cmake "${cmake_args[@]}"
stage "configure"
cmake --build "$build" --parallel "$jobs"
stage "build"

# ---- test --------------------------------------------------------------------------------------
ctest --test-dir "$build" --output-on-failure --parallel "$jobs" --timeout 900
stage "tests"
echo "== run.sh: all passed ($build, LSC_CUDA=$cuda) in $((SECONDS - t_start)) s"
