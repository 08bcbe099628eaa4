#!/usr/bin/env bash
# Prepares .device_carry/ (git-ignored) for the lent GPU machine, which has CUDA, CMake, ninja and
# python but no OpenBLAS, LAPACKE or GoogleTest and no network. Run it HERE (Debian 12, amd64),
# once; then name .device_carry in the device tool's `carry` and run scripts/gpu_session.sh there.
#
#   scripts/prepare_device_carry.sh [--debs] [--no-wheels] [--stamp]
#
# Default: downloads the Debian 12 packages with `apt-get download` into a cache outside the
# repository ($LSC_DEB_CACHE, default /tmp/lsc-device-debs), unpacks each with `dpkg -x` into
# .device_carry/root (never into /), and prunes what a build does not need (docs, man pages,
# lintian files, static libraries). Adds the links Debian's update-alternatives would
# make (libopenblas.so, libblas.so.3, liblapack.so.3 in the multiarch directory), lists every link
# in .device_carry/links.txt (gpu_session.sh re-creates any the transfer lost), copies the
# googletest source tree (/usr/src/googletest of the `googletest` package) without its tests,
# samples and googlemock into .device_carry/googletest, and checks the size against the device
# tool's 64 MiB limit (which also counts the working tree).
#   --debs   carry the .deb files instead (about 14 MB, against about 51 MB unpacked);
#            gpu_session.sh unpacks them on the device with dpkg -x (or Python when dpkg is
#            missing) into /tmp/lsc-deps
#   --no-wheels  leave out .device_carry/wheels: the pure-Python wheels of the peer oracles,
#            pins in tests/oracle/requirements.txt (prdc 0.2, vendi-score 0.0.3, 20 KB; their
#            own needs, numpy scipy scikit-learn joblib, are on the device), with which the
#            session runs the oracle_peers test there too
#   --stamp  only write .device_carry/COMMIT (`git rev-parse HEAD`, "+dirty" when the tree has
#            changes): the device gets no .git, and the benchmark lines name the commit from it.
#            Re-run with --stamp before each session.
# Packages: libopenblas0-pthread libopenblas-pthread-dev liblapacke liblapacke-dev libtmglib3
# libgfortran5 libquadmath0 googletest pkgconf-bin libpkgconf3 (pkg-config for the
# install_consumer test, used on the device only when it has none).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
carry="$root/.device_carry"
cache=${LSC_DEB_CACHE:-/tmp/lsc-device-debs}
arch=x86_64-linux-gnu
packages=(libopenblas0-pthread libopenblas-pthread-dev liblapacke liblapacke-dev libtmglib3
          libgfortran5 libquadmath0 googletest pkgconf-bin libpkgconf3)
limit=$((64 * 1024 * 1024))
mode=unpacked
wheels=1

stamp() {
    mkdir -p "$carry"
    local rev dirty=""
    if rev=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null); then
        [[ -z $(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null) ]] || dirty="+dirty"
        echo "$rev$dirty" >"$carry/COMMIT"
        echo "prepare_device_carry: COMMIT $rev$dirty"
    fi
}

for a in "$@"; do
    case $a in
        --debs) mode=debs ;;
        --no-wheels) wheels=0 ;;
        --stamp) stamp; exit 0 ;;
        -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "prepare_device_carry: unknown argument $a" >&2; exit 2 ;;
    esac
done

if [[ $(dpkg --print-architecture 2>/dev/null) != amd64 ]]; then
    echo "prepare_device_carry: needs a Debian/Ubuntu amd64 machine with apt-get and dpkg" >&2
    exit 1
fi

# ---- the ignore rule: the carry must never be committed -----------------------------------------
mkdir -p "$carry"
if ! git -C "$root" check-ignore -q "$carry/" 2>/dev/null; then
    echo "prepare_device_carry: .device_carry is not ignored by git: add '/.device_carry/' to .gitignore" >&2
    exit 1
fi

# ---- download (apt-get download writes into the current directory) ------------------------------
mkdir -p "$cache"
missing=()
for p in "${packages[@]}"; do
    compgen -G "$cache/${p}_*.deb" >/dev/null || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "prepare_device_carry: apt-get download ${missing[*]}"
    if ! (cd "$cache" && apt-get download "${missing[@]}"); then
        echo "prepare_device_carry: apt-get download failed; try 'apt-get update' first" >&2
        exit 1
    fi
fi

rm -rf "$carry/root" "$carry/googletest" "$carry/debs" "$carry/links.txt" "$carry/MANIFEST"
mkdir -p "$carry"

if [[ $mode == debs ]]; then
    mkdir -p "$carry/debs"
    for p in "${packages[@]}"; do cp "$cache/${p}"_*.deb "$carry/debs/"; done
else
    # ---- unpack, never into / -----------------------------------------------------------------
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    for p in "${packages[@]}"; do dpkg -x "$cache/${p}"_*.deb "$stage"; done
    # the googletest source tree goes beside the libraries, pruned to what CMake builds
    # (BUILD_GMOCK=OFF: tests/CMakeLists.txt sets it)
    gt="$stage/usr/src/googletest"
    [[ -f $gt/CMakeLists.txt ]] || { echo "prepare_device_carry: no googletest source in the package" >&2; exit 1; }
    rm -rf "$gt/googlemock" "$gt/googletest/test" "$gt/googletest/samples" "$gt/googletest/docs"
    # googletest 1.11+ defines GTest::gtest and GTest::gtest_main itself, and tests/CMakeLists.txt
    # (as of this script) defines the same aliases again: CMake refuses the second. Dropping
    # googletest's own line lets either version of tests/CMakeLists.txt configure.
    sed -i '/add_library(${cmake_package_name}::${name} ALIAS ${name})/d' \
        "$gt/googletest/cmake/internal_utils.cmake"
    mv "$gt" "$carry/googletest"
    # prune
    rm -rf "$stage/usr/share/doc" "$stage/usr/share/man" "$stage/usr/share/lintian" \
           "$stage/usr/share/bug" "$stage/usr/src"
    find "$stage" \( -name '*.a' \) \( -type f -o -type l \) -delete
    ob="$stage/usr/lib/$arch/openblas-pthread"
    # (liblapack.so.3, OpenBLAS's 7 MB LAPACK wrapper that liblapacke needs, stays a file: a link
    # to libopenblas would carry libopenblas's SONAME, and ldconfig indexes by SONAME)
    # what update-alternatives would link in the multiarch directory (and the dev links)
    ml="$stage/usr/lib/$arch"
    for l in libopenblas.so.0 libopenblas.so libblas.so.3 libblas.so liblapack.so.3 liblapack.so; do
        [[ -e $ob/$l ]] && ln -sfn "openblas-pthread/$l" "$ml/$l"
    done
    if [[ -f $stage/usr/include/$arch/openblas-pthread/cblas.h ]]; then
        ln -sfn openblas-pthread/cblas.h "$stage/usr/include/$arch/cblas.h"
    fi
    mv "$stage" "$carry/root"
    trap - EXIT
    chmod -R u+rwX,go+rX "$carry/root"
    # every link, so the session can re-create one the transfer dropped
    (cd "$carry" && find root googletest -type l -printf '%p %l\n' | sort) >"$carry/links.txt"
fi
# ---- the peer oracles' wheels (pure Python; vendi-score publishes only a source archive) ---------
rm -rf "$carry/wheels"
if ((wheels)); then
    mkdir -p "$carry/wheels" "$cache/wheels"
    pins=$(grep -E '^(prdc|vendi-score)==' "$root/tests/oracle/requirements.txt" || true)
    for pin in $pins; do
        name=${pin%%==*}
        have=$(compgen -G "$cache/wheels/${name//-/_}-${pin##*==}-*.whl" | head -n 1 || true)
        if [[ -z $have ]] && ! python3 -m pip wheel -q --no-deps -w "$cache/wheels" "$pin"; then
            echo "prepare_device_carry: WARNING: no wheel for $pin: oracle_peers will be left out on the device" >&2
            continue
        fi
        cp "$(compgen -G "$cache/wheels/${name//-/_}-${pin##*==}-*.whl" | head -n 1)" "$carry/wheels/"
    done
fi
stamp

# ---- what it holds, and its size ------------------------------------------------------------------
{
    echo "# .device_carry, made by scripts/prepare_device_carry.sh on $(date -u '+%Y-%m-%d %H:%M UTC') ($mode)"
    for p in "${packages[@]}"; do
        f=$(ls "$cache/${p}"_*.deb | head -n 1)
        echo "$(basename "$f")"
    done
} >"$carry/MANIFEST"
size=$(du -sb "$carry" | cut -f1)
tree=$( (cd "$root" && { git ls-files -z; git ls-files -z --others --exclude-standard; } |
         xargs -0 -r du -cb 2>/dev/null | awk '/\ttotal$/ {s += $1} END {print s + 0}') )
shared=0
[[ -d $root/shared ]] && shared=$(du -sb "$root/shared" | cut -f1)
total=$((size + tree + shared))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
echo "prepare_device_carry: .device_carry $(mib "$size") MiB ($mode), working tree $(mib "$tree") MiB," \
     "shared/ $(mib "$shared") MiB: $(mib "$total") MiB of the 64 MiB a call may carry"
if ((total > limit)); then
    echo "prepare_device_carry: OVER the 64 MiB limit: use --debs, or carry less" >&2
    exit 1
fi
echo "prepare_device_carry: done; on the device: scripts/gpu_session.sh (carry: .device_carry)"
