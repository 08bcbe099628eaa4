#!/usr/bin/env bash
# Installs the system packages lsc needs on Debian 12 or Ubuntu: the one list of them.
#   scripts/install_deps.sh          what building, testing and `pip install ./python` need
#   scripts/install_deps.sh --ci     also what .ci/run needs (clang for the fuzzers, ccache, and
#                                    clang-format for the layout check,
#                                    chromium with its driver for the report pages' browser test)
#   scripts/install_deps.sh --list   prints the packages (with --ci too) and installs nothing
# Installs only the packages that are missing, after an `apt-get update` (with none missing it
# runs no apt-get at all); as root directly, otherwise through sudo. The apt output goes to a log whose
# last lines are printed when it fails. Exit 0 when every package is installed, 1 otherwise.
set -euo pipefail

# build: compilers, CMake, pkg-config (the install's lsc.pc), BLAS and LAPACKE (libopenblas-pthread-dev:
# also the archive of the private one-thread OpenBLAS the shared library links, cmake/LscPrivateBlas.cmake)
# tests: GoogleTest (headers and the source tree), venv and pip for the peer oracles and the binding
# input formats: libzip (.npz), cJSON (.safetensors headers), HDF5
# sharded calls: Open MPI (the module liblsc_mpi and the mpirun tests)
packages=(build-essential cmake pkg-config libopenblas-dev libopenblas-pthread-dev liblapacke-dev
          libgtest-dev googletest python3-venv python3-pip
          libzip-dev libcjson-dev libhdf5-dev libopenmpi-dev openmpi-bin)
# CI only: chromium is large (about 300 MB installed) and only the browser test of the report's
# page needs it; outside CI that test skips with its reason
ci_packages=(clang clang-format libclang-rt-14-dev ccache chromium chromium-driver)

list=0
for a in "$@"; do
    case "$a" in
    --ci) packages+=("${ci_packages[@]}") ;;
    --list) list=1 ;;
    -h | --help) sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "install_deps: unknown argument '$a' (--ci, --list)" >&2; exit 1 ;;
    esac
done
if [[ $list == 1 ]]; then
    echo "${packages[*]}"
    exit 0
fi

if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
    echo "install_deps: no apt-get here (not Debian or Ubuntu): install the equivalents of" >&2
    echo "  ${packages[*]}" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install_deps: every system package is installed"
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null; then
    # env, not sudo's own VAR=value, which some sudoers policies refuse
    as_root=(sudo)
else
    echo "install_deps: not root and no sudo: as root, run apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi

log=$(mktemp "${TMPDIR:-/tmp}/lsc-install-deps.XXXXXX.log")
echo "install_deps: apt-get install ${missing[*]}${as_root:+ (through sudo)}"
# sudo may ask for a password: let it, before the apt output goes to the log
[[ ${#as_root[@]} -eq 0 ]] || sudo -v
if ! { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
       "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
           "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "install_deps: apt-get failed (the whole log: $log)" >&2
    exit 1
fi
rm -f "$log"
echo "install_deps: installed ${missing[*]}"
