#!/usr/bin/env bash
# The one script to run on the lent GPU machine, in one device call of at most 10 minutes:
#
#   scripts/gpu_session.sh [build|test|sanitize|smoke|bench|all ...]      (default: all)
#
# with .device_carry in the call's `carry` (made here by scripts/prepare_device_carry.sh). Stages:
#   build     configure (-DLSC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90, Ninja when there is one) and
#             build everything against the carried OpenBLAS, LAPACKE and GoogleTest source; runs
#             first, incrementally, whatever stages are asked for
#   test      the whole ctest suite with LSC_REQUIRE_GPU=1 (a GPU test that cannot reach the
#             device fails instead of skipping). The tests that take LSC_ORACLE_PYTHON run with
#             the machine's python3 (numpy, scipy, pytest, torch, cupy are there): python_binding
#             (its torch/cupy GPU tests too) and cli_report_float64; oracle_peers too when the
#             carried wheels of prdc and vendi-score install, else it is left out (it needs them,
#             and the machine has no network). LSC_SESSION_ORACLE=0: all three skip themselves
#   sanitize  compute-sanitizer memcheck (leaks too), racecheck, initcheck and synccheck over
#             tests/test_cuda with --gtest_filter='Cuda*'
#   smoke     bench/peers_gpu.py at --scale small: every benchmark path (lsc_bench on the device,
#             lsc_gpu_floor, the torch peers) in well under a minute
#   bench     bench/peers_gpu.py at the full target shapes (--scale full), floors included
#   all       build test sanitize smoke bench
# Each stage's failure is recorded and the script goes on to the next one; a stage that would
# start with less than its minimum time left in the budget is marked "not started". The last
# lines printed are a summary table (the device tool returns the output's tail).
#
# Output, all under $OUT (the device tool's folder; here, unset, build-gpu-session/out): at most
# these 8 files, as the tool returns no more: session.log (everything), summary.txt, ctest.xml
# (JUnit), sanitize.log, results_gpu_small.json, results_gpu.json, device.txt.
#
# Environment: BUILD_DIR (default build-gpu), JOBS (default: every core), LSC_SESSION_BUDGET_S
# (default 560: the call's 600 s less a margin), LSC_CARRY (default .device_carry), PYTHON
# (default python3), LSC_BENCH_REPEATS (default 5), LSC_LDCONFIG=0 to leave /etc alone even on
# the device (see setup_deps).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
t0=$SECONDS
budget=${LSC_SESSION_BUDGET_S:-560}
build=${BUILD_DIR:-build-gpu}
[[ $build = /* ]] || build="$root/$build"
jobs=${JOBS:-$(nproc 2>/dev/null || echo 4)}
carry=${LSC_CARRY:-$root/.device_carry}
py=${PYTHON:-python3}
repeats=${LSC_BENCH_REPEATS:-5}
if [[ -z ${OUT:-} ]]; then
    OUT="$root/build-gpu-session/out"
fi
mkdir -p "$OUT"
log="$OUT/session.log"
: >"$log"
exec > >(tee -a "$log") 2>&1
tee_pid=$!

stages=("$@")
((${#stages[@]})) || stages=(all)
want=()
for s in "${stages[@]}"; do
    case $s in
        all) want+=(build test sanitize smoke bench) ;;
        build|test|sanitize|smoke|bench) want+=("$s") ;;
        *) echo "gpu_session: unknown stage '$s' (build|test|sanitize|smoke|bench|all)"; exit 2 ;;
    esac
done
# every stage needs the build: it runs first, once (incremental on a warm machine)
order=(build)
for s in test sanitize smoke bench; do
    for w in "${want[@]}"; do [[ $w == "$s" ]] && { order+=("$s"); break; }; done
done

results=() # "stage|status|seconds|detail"
record() { results+=("$1|$2|$3|$4"); write_summary; }
left() { echo $((budget - (SECONDS - t0))); }
say() { echo "== gpu_session [$((SECONDS - t0)) s]: $*"; }

write_summary() {
    {
        printf '%-9s %-12s %6s  %s\n' stage status seconds detail
        local r
        for r in "${results[@]}"; do
            IFS='|' read -r a b c d <<<"$r"
            printf '%-9s %-12s %6s  %s\n' "$a" "$b" "$c" "$d"
        done
        echo "total $((SECONDS - t0)) s of a ${budget} s budget; build $build; out $OUT"
    } >"$OUT/summary.txt"
}

# ---- the python for the tests that take LSC_ORACLE_PYTHON ----------------------------------------
oracle_py=""
ctest_exclude=""
setup_oracle() {
    [[ ${LSC_SESSION_ORACLE:-1} == 0 ]] && { say "LSC_SESSION_ORACLE=0: the python tests skip"; return; }
    local p
    p=$(command -v "$py") || return
    if compgen -G "$carry/wheels/*.whl" >/dev/null; then
        if "$p" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/lsc-site \
            "$carry"/wheels/*.whl; then
            export PYTHONPATH="/tmp/lsc-site${PYTHONPATH:+:$PYTHONPATH}"
        else
            say "the carried wheels did not install"
        fi
    fi
    if "$p" -c 'import numpy, scipy, pytest' 2>/dev/null; then
        oracle_py=$p
        if ! "$p" -c 'import prdc, vendi_score, sklearn' 2>/dev/null; then
            ctest_exclude='^oracle_peers$'
            say "no prdc / vendi-score for $p: oracle_peers is left out"
        fi
    fi
    say "LSC_ORACLE_PYTHON=${oracle_py:-(empty: the python tests skip)}"
}

# ---- the carried dependencies --------------------------------------------------------------------
deps=""
gtest_src=""
setup_deps() {
    local arch=x86_64-linux-gnu
    if [[ -d $carry/root/usr ]]; then
        deps="$carry/root"
        # re-create a link the transfer dropped (links travel as links, but check)
        if [[ -f $carry/links.txt ]]; then
            local l t
            while read -r l t; do
                [[ -n $l ]] || continue
                [[ -L $carry/$l || -e $carry/$l ]] || { ln -sfn "$t" "$carry/$l" && say "re-made link $l"; }
            done <"$carry/links.txt"
        fi
        chmod +x "$deps/usr/bin/"* 2>/dev/null || true
    elif compgen -G "$carry/debs/*.deb" >/dev/null; then
        deps=/tmp/lsc-deps
        if [[ ! -f $deps/.unpacked ]]; then
            rm -rf "$deps" && mkdir -p "$deps"
            local f
            for f in "$carry"/debs/*.deb; do
                if command -v dpkg-deb >/dev/null && [[ -z ${LSC_UNDEB_PYTHON:-} ]]; then
                    dpkg-deb -x "$f" "$deps"
                else # no dpkg: an ar archive holding data.tar.*
                    "$py" - "$f" "$deps" <<'EOF'
import io, sys, tarfile
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"!<arch>\n", "not a .deb"
p = 8
while p < len(data):
    name = data[p:p + 16].decode().strip().rstrip("/")
    size = int(data[p + 48:p + 58].decode().strip())
    body = data[p + 60:p + 60 + size]
    if name.startswith("data.tar"):
        if name.endswith(".zst"):
            raise SystemExit("zstd data member: needs dpkg-deb")
        tarfile.open(fileobj=io.BytesIO(body)).extractall(sys.argv[2])
    p += 60 + size + (size & 1)
EOF
                fi
            done
            # as prepare_device_carry.sh does for the unpacked carry: googletest 1.11+ defines
            # the GTest:: aliases that tests/CMakeLists.txt defines again
            sed -i '/add_library(${cmake_package_name}::${name} ALIAS ${name})/d' \
                "$deps/usr/src/googletest/googletest/cmake/internal_utils.cmake" 2>/dev/null
            local ob="$deps/usr/lib/$arch/openblas-pthread" l
            for l in libopenblas.so.0 libopenblas.so libblas.so.3 libblas.so liblapack.so.3 liblapack.so; do
                [[ -e $ob/$l ]] && ln -sfn "openblas-pthread/$l" "$deps/usr/lib/$arch/$l"
            done
            touch "$deps/.unpacked"
        fi
    fi
    if [[ -d $carry/googletest ]]; then
        gtest_src="$carry/googletest"
    elif [[ -n $deps && -f $deps/usr/src/googletest/CMakeLists.txt ]]; then
        gtest_src="$deps/usr/src/googletest"
    elif [[ -f /usr/src/googletest/CMakeLists.txt ]]; then
        gtest_src=/usr/src/googletest
    fi
    if [[ -n $deps ]]; then
        local lib="$deps/usr/lib/$arch"
        export CMAKE_PREFIX_PATH="$deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
        export LD_LIBRARY_PATH="$lib:$lib/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        # pkg-config only for the install_consumer test, only where the machine has none
        if ! command -v pkg-config >/dev/null && ! command -v pkgconf >/dev/null; then
            export PATH="$PATH:$deps/usr/bin"
        fi
        # install_consumer runs an installed consumer with LD_LIBRARY_PATH set to the install
        # prefix alone: on the device (root, a throwaway machine, $OUT set by the tool, a GPU)
        # the carried libraries are also registered with ldconfig, after the system's own
        if [[ ${LSC_LDCONFIG:-1} != 0 && $(id -u) == 0 && -d /etc/ld.so.conf.d ]] &&
            command -v ldconfig >/dev/null && nvidia-smi -L >/dev/null 2>&1 &&
            [[ $OUT != "$root/build-gpu-session/out" ]]; then
            printf '%s\n%s\n' "$lib" "$lib/openblas-pthread" >/etc/ld.so.conf.d/zz-lsc-device-carry.conf
            ldconfig && say "registered $lib with ldconfig (after the system's libraries)"
        fi
    fi
    say "dependencies: ${deps:-those of the system}; googletest source: ${gtest_src:-none (an installed GTest)}"
}

tools_info() {
    {
        echo "# gpu_session $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
        echo "commit: $(cat "$carry/COMMIT" 2>/dev/null || echo unknown) (from .device_carry/COMMIT)"
        nvidia-smi 2>&1 | head -n 20
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu --format=csv 2>&1
        echo "nvcc: $(nvcc --version 2>&1 | tail -n 2 | head -n 1)"
        echo "cmake: $(cmake --version 2>&1 | head -n 1); ninja: $(ninja --version 2>&1)"
        echo "cc: $(cc --version 2>&1 | head -n 1)"
        echo "compute-sanitizer: $(sanitizer_bin) $($(sanitizer_bin) --version 2>&1 | tail -n 1)"
        echo "python: $("$py" -c 'import sys, numpy; print(sys.version.split()[0], "numpy", numpy.__version__)' 2>&1)"
        echo "torch: $("$py" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())' 2>&1 | tail -n 1)"
        echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); mem: $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB"}')"
        uname -a
    } >"$OUT/device.txt" 2>&1
    cat "$OUT/device.txt"
}

sanitizer_bin() {
    local c
    for c in "$(command -v compute-sanitizer 2>/dev/null)" /usr/local/cuda/bin/compute-sanitizer \
             /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
        [[ -n $c && -x $c ]] && { echo "$c"; return 0; }
    done
    echo compute-sanitizer
}

# runs "$@" under a timeout of the time left less `margin` seconds (at least 10 s)
bounded() {
    local margin=$1
    shift
    local t=$(( $(left) - margin ))
    ((t < 10)) && t=10
    timeout --signal=TERM --kill-after=15 "$t" "$@"
}

# ---- stages ----------------------------------------------------------------------------------------
stage_build() {
    local st=$SECONDS gen=() keep=()
    if command -v ninja >/dev/null; then
        gen=(-G Ninja)
        keep=(-- -k 0)
    else
        keep=(-- -k)
    fi
    local commit
    commit=$(cat "$carry/COMMIT" 2>/dev/null || echo unknown)
    local args=(-S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DLSC_CUDA=ON
                -DCMAKE_CUDA_ARCHITECTURES=90 -DLSC_BUILD_TESTS=ON -DLSC_BUILD_BENCH=ON
                "-DLSC_ORACLE_PYTHON=$oracle_py" "-DLSC_BENCH_COMMIT=$commit")
    [[ -n $gtest_src ]] && args+=("-DLSC_GTEST_SOURCE_DIR=$gtest_src")
    # a build directory configured with another generator cannot be reused
    if [[ -f $build/CMakeCache.txt ]] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${gen[1]:-Unix Makefiles}" "$build/CMakeCache.txt"; then
        rm -rf "$build"
    fi
    say "cmake ${args[*]}"
    if ! bounded 60 cmake "${args[@]}"; then
        record build FAILED $((SECONDS - st)) "configure failed (see session.log)"
        return 1
    fi
    say "cmake --build $build --parallel $jobs (keep going)"
    bounded 60 cmake --build "$build" --parallel "$jobs" "${keep[@]}"
    local rc=$?
    local have=()
    local b
    for b in liblsc.so liblsc_cuda.so tests/test_cuda bench/lsc_bench bench/lsc_gpu_floor tools/lsc; do
        [[ -e $build/$b ]] && have+=("$b") || have+=("NO-$b")
    done
    if ((rc == 0)); then
        record build ok $((SECONDS - st)) "${have[*]}"
    else
        record build FAILED $((SECONDS - st)) "exit $rc; built: ${have[*]}"
    fi
    return $rc
}

stage_test() {
    local st=$SECONDS
    if ! [[ -f $build/CTestTestfile.cmake ]]; then
        record test "not run" 0 "no configured build"
        return 1
    fi
    local par=$((jobs / 2))
    ((par < 1)) && par=1
    say "LSC_REQUIRE_GPU=1 ctest --parallel $par"
    local tlog
    tlog=$(mktemp)
    local ex=()
    [[ -n $ctest_exclude ]] && ex=(-E "$ctest_exclude")
    bounded 20 env LSC_REQUIRE_GPU=1 ctest --test-dir "$build" --output-on-failure \
        --parallel "$par" --timeout 300 --output-junit "$OUT/ctest.xml" --no-tests=error \
        "${ex[@]}" 2>&1 | tee "$tlog"
    local rc=${PIPESTATUS[0]}
    local line failed_names skipped
    line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$tlog" | tail -n 1)
    failed_names=$(awk '/The following tests FAILED:/ {f = 1; next} f && /^[[:space:]]+[0-9]+ - / {print $3} f && !/^[[:space:]]/ {f = 0}' "$tlog" |
                   sort -u | head -n 12 | tr '\n' ' ')
    skipped=$(grep -cE '\*\*\*Skipped' "$tlog" || true)
    rm -f "$tlog"
    if ((rc == 0)); then
        record test ok $((SECONDS - st)) "${line:-?}; skipped: $skipped${ctest_exclude:+; left out $ctest_exclude}"
    elif ((rc == 124)); then
        record test TIMEOUT $((SECONDS - st)) "${line:-cut at the budget}"
    else
        record test FAILED $((SECONDS - st)) "${line:-exit $rc}; failed: ${failed_names:-?}"
    fi
    return $rc
}

stage_sanitize() {
    local st=$SECONDS san
    san=$(sanitizer_bin)
    local bin="$build/tests/test_cuda"
    if ! [[ -x $bin ]]; then
        record sanitize "not run" 0 "no $bin"
        return 1
    fi
    if ! [[ -x $san ]] && ! command -v "$san" >/dev/null; then
        record sanitize "not run" 0 "no compute-sanitizer"
        return 1
    fi
    : >"$OUT/sanitize.log"
    local tool detail="" worst=0 per i=0
    local tools=(memcheck racecheck initcheck synccheck)
    for tool in "${tools[@]}"; do
        # share what is left (less 30 s) between the tools still to run, at most 150 s each
        per=$(( ($(left) - 30) / (${#tools[@]} - i) ))
        i=$((i + 1))
        ((per > 150)) && per=150
        if ((per < 20)); then
            detail+="$tool: not started (budget); "
            worst=1
            continue
        fi
        local extra=()
        [[ $tool == memcheck ]] && extra=(--leak-check full)
        local tmp
        tmp=$(mktemp)
        say "$san --tool $tool ${extra[*]} $bin --gtest_filter='Cuda*' (timeout ${per} s)"
        timeout --kill-after=10 "$per" env LSC_REQUIRE_GPU=1 "$san" --tool "$tool" "${extra[@]}" \
            --error-exitcode 86 "$bin" --gtest_filter='Cuda*' --gtest_brief=1 >"$tmp" 2>&1
        local rc=$?
        {
            echo "===== $tool (exit $rc) ====="
            if (($(stat -c %s "$tmp") > 3000000)); then
                head -c 1500000 "$tmp"
                echo
                echo "[... cut ...]"
                tail -c 1500000 "$tmp"
            else
                cat "$tmp"
            fi
        } >>"$OUT/sanitize.log"
        local errs gt
        errs=$(grep -oE 'ERROR SUMMARY: [0-9]+ error' "$tmp" | tail -n 1 | grep -oE '[0-9]+')
        gt=$(grep -oE '\[  PASSED  \] [0-9]+ test|\[  FAILED  \] [0-9]+ test' "$tmp" | tr '\n' ' ')
        tail -n 5 "$tmp"
        rm -f "$tmp"
        case $rc in
            0) detail+="$tool: ${errs:-0} errors; " ;;
            124|137) detail+="$tool: TIMEOUT ${per}s; "; worst=1 ;;
            86) detail+="$tool: ${errs:-?} ERRORS; "; worst=1 ;;
            *) detail+="$tool: exit $rc (${gt:-no gtest summary}), ${errs:-?} errors; "; worst=1 ;;
        esac
    done
    if ((worst == 0)); then
        record sanitize ok $((SECONDS - st)) "$detail"
    else
        record sanitize FAILED $((SECONDS - st)) "$detail"
    fi
    return $worst
}

# bench/peers_gpu.py at a scale; $1 = small|full, $2 = output file, $3 = margin to keep
run_peers() {
    local scale=$1 out=$2 margin=$3
    local b=$(( $(left) - margin ))
    ((b < 30)) && b=30
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 bounded $((margin / 2)) "$py" bench/peers_gpu.py \
        --device cuda --scale "$scale" --suite all --build "$build" --out "$out" \
        --repeats "$repeats" --budget-s "$b" --timeout 300
}

bench_detail() {
    "$py" - "$1" <<'EOF' 2>/dev/null || echo "no results file"
import json, sys
d = json.load(open(sys.argv[1]))
rows = [r for t in d.get("tables", {}).values() for r in t]
done = [r for r in rows if r.get("lsc_median") is not None]
sk = [r for r in rows if r.get("skipped")]
ratios = [r["lsc_over_floor"] for r in rows if r.get("lsc_over_floor")]
print("%d rows, %d with an lsc time, %d skipped%s" % (
    len(rows), len(done), len(sk),
    ", lsc/floor %.2f..%.2f" % (min(ratios), max(ratios)) if ratios else ""))
EOF
}

stage_smoke() {
    local st=$SECONDS
    if ! [[ -x $build/bench/lsc_bench ]]; then
        record smoke "not run" 0 "no lsc_bench"
        return 1
    fi
    rm -f "$OUT/results_gpu_small.json"
    say "bench/peers_gpu.py --scale small"
    run_peers small "$OUT/results_gpu_small.json" 60
    local rc=$?
    local d
    d=$(bench_detail "$OUT/results_gpu_small.json")
    if ((rc == 0)); then record smoke ok $((SECONDS - st)) "$d"; else record smoke FAILED $((SECONDS - st)) "exit $rc; $d"; fi
    return $rc
}

stage_bench() {
    local st=$SECONDS
    if ! [[ -x $build/bench/lsc_bench ]]; then
        record bench "not run" 0 "no lsc_bench"
        return 1
    fi
    rm -f "$OUT/results_gpu.json"
    say "bench/peers_gpu.py --scale full"
    run_peers full "$OUT/results_gpu.json" 20
    local rc=$?
    local d
    d=$(bench_detail "$OUT/results_gpu.json")
    if ((rc == 0)); then record bench ok $((SECONDS - st)) "$d"; else record bench FAILED $((SECONDS - st)) "exit $rc; $d"; fi
    return $rc
}

# minimum seconds left for a stage to start
declare -A need=([build]=60 [test]=60 [sanitize]=60 [smoke]=40 [bench]=90)

say "stages: ${order[*]}; budget ${budget} s; build $build; jobs $jobs; out $OUT"
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
    export PATH="/usr/local/cuda/bin:$PATH"
fi
setup_deps
setup_oracle
tools_info
for s in "${order[@]}"; do
    if (( $(left) < ${need[$s]} )); then
        record "$s" "not started" 0 "$(left) s left, needs ${need[$s]}"
        continue
    fi
    say "---- stage $s ----"
    "stage_$s" || say "stage $s failed (recorded); going on"
done

# the benchmark rows, compact, before the summary (the device tool returns the output's tail)
for f in "$OUT/results_gpu_small.json" "$OUT/results_gpu.json"; do
    [[ -f $f ]] || continue
    echo
    echo "---- $(basename "$f"): lsc/peer below 1: lsc is faster; lsc/floor 1: at the floor"
    "$py" - "$f" <<'EOF' 2>/dev/null | head -n 70
import json, sys
d = json.load(open(sys.argv[1]))
def f(v, fmt):
    return "-" if v is None else fmt % v
for key, rows in d.get("tables", {}).items():
    for r in rows:
        shape = ",".join("%s=%s" % kv for kv in r["shape"].items())
        print("%-9s %-28s %-20s lsc %8s  %-24s %8s  lsc/peer %6s  lsc/floor %6s  %s%s" % (
            r["case"], shape, r["lsc_op"] or "-", f(r["lsc_median"], "%.4f"), r["peer"] or "-",
            f(r["peer_median"], "%.4f"), f(r["lsc_over_peer"], "%.3f"),
            f(r["lsc_over_floor"], "%.2f"), r["agreement"] or "",
            (" SKIPPED " + r["skipped"][:60]) if r.get("skipped") else ""))
EOF
done

echo
echo "================================ gpu_session summary ================================"
write_summary
cat "$OUT/summary.txt"
echo "files: $(cd "$OUT" && ls | tr '\n' ' ')"
status=0
for r in "${results[@]}"; do
    IFS='|' read -r _ b _ _ <<<"$r"
    [[ $b == ok ]] || status=1
done
exec >&- 2>&-
wait "$tee_pid" 2>/dev/null
exit $status
