#!/usr/bin/env bash
# Installs a wheel made by scripts/build_wheel.sh into a clean virtual environment and runs what a
# user runs first: the `lsc` command (version, demo, an .npz input through the bundled libzip) and
# Python calls (spectrum, prdc, assess, the Monitor), from a folder outside the repository with no
# LSC_LIBRARY / LSC_CLI / PYTHONPATH, so only the installed package can answer. Then checks that
# every shared library the package's ELF files load resolves inside the wheel (lsc.libs,
# lsc/_native) or to the manylinux_2_34 policy's system set (glibc's libraries, libgcc_s,
# libstdc++, libz, ...): nothing
# from the build machine's OpenBLAS, LAPACKE, HDF5 or libzip.
#
#   scripts/test_wheel.sh WHEEL                   a venv of this machine's python3 (needs its venv
#                                                 module; numpy comes from PyPI)
#   scripts/test_wheel.sh WHEEL --fresh-debian    the same inside a clean Debian 12 chroot (minbase
#                                                 from debootstrap, as root: no compiler, no BLAS;
#                                                 python3-venv is the one package added). Shares
#                                                 scripts/check_fresh_debian.sh's base.tar in WORK
#                                                 (default /var/tmp/lsc-fresh-debian), made there
#                                                 when missing.
# Exits non-zero on any failure.
set -euo pipefail

whl=${1:?usage: scripts/test_wheel.sh WHEEL [--fresh-debian]}
mode=${2:-venv}
[[ -f $whl ]] || { echo "test_wheel: no wheel at $whl" >&2; exit 2; }
whl=$(cd "$(dirname "$whl")" && pwd)/$(basename "$whl")
t0=$SECONDS

# The checks, run by bash in a clean environment: $1 the wheel, $2 a scratch folder.
read -r -d '' checks <<'CHECKS' || true
set -euo pipefail
whl=$1; tmp=$2
cd "$tmp"
python3 -m venv venv
venv/bin/pip install -q --disable-pip-version-check "$whl"
if command -v cc >/dev/null || command -v gcc >/dev/null; then
    echo "== test_wheel: (a compiler is present here; the wheel did not use it)"
else
    echo "== test_wheel: no compiler on this machine"
fi
echo "== test_wheel: $(venv/bin/lsc --version)"
venv/bin/lsc demo >demo.txt
grep -q "^healthy generator .*  ok$" demo.txt || { cat demo.txt; echo "test_wheel: lsc demo gave no verdict" >&2; exit 1; }
echo "== test_wheel: lsc demo ran ($(grep -c "  collapse: " demo.txt) lines reading collapse)"
venv/bin/python - <<'PY'
import os, numpy as np, lsc
from lsc import _native
where = os.path.dirname(lsc.__file__)
assert os.path.realpath(_native.lib._name).startswith(os.path.realpath(where)), _native.lib._name
rng = np.random.default_rng(0)
real = rng.standard_normal((1000, 16), dtype=np.float32)
fake = real[:400] * np.float32(0.3)
s = lsc.spectrum(real)
assert 14 < s.effective_rank <= 16, s.effective_rank
p = lsc.prdc(real, fake, k=5)
a = lsc.assess(real, fake)
assert a.verdict == "collapse", a.verdict
mon = lsc.Monitor(real, every=1, assess=True)
mon.step(0, fake)
assert mon.history[0].verdict == "collapse"
np.savez("sets.npz", real=real, fake=fake)
print(f"== test_wheel: python: lsc {lsc.version()} from {where}: effective_rank "
      f"{s.effective_rank:.3f}, coverage {p.coverage:.3f}, verdict {a.verdict}")
PY
venv/bin/lsc spectrum --input sets.npz:real >spectrum.txt
grep -qi "effective" spectrum.txt || { cat spectrum.txt; exit 1; }
echo "== test_wheel: lsc spectrum read an .npz"
# every library the package's ELF files load: in the wheel, or the manylinux system set
site=$(venv/bin/python -c "import lsc, os; print(os.path.dirname(os.path.dirname(lsc.__file__)))")
bad=0
while IFS= read -r -d '' f; do
    head -c 4 "$f" | grep -q "ELF" || continue
    while read -r name _ path _; do
        case $name in
            linux-vdso.so.*|/lib64/ld-linux-x86-64.so.*|ld-linux-x86-64.so.*) continue ;;
            # auditwheel's manylinux_2_34 policy: what every such system provides
            libGL.so.1|libICE.so.6|libSM.so.6|libX11.so.6|libXext.so.6|libXrender.so.1|libanl.so.1|\
            libatomic.so.1|libc.so.6|libdl.so.2|libexpat.so.1|libgcc_s.so.1|libglib-2.0.so.0|\
            libgobject-2.0.so.0|libgthread-2.0.so.0|libm.so.6|libmvec.so.1|libnsl.so.1|\
            libpthread.so.0|libresolv.so.2|librt.so.1|libstdc++.so.6|libutil.so.1|libz.so.1) continue ;;
        esac
        if [[ $path != "$site"/* ]]; then
            echo "test_wheel: $f loads $name from $path, outside the wheel" >&2
            bad=1
        fi
    done < <(ldd "$f" | grep "=>")
done < <(find "$site/lsc" "$site/lsc.libs" -type f -print0)
[[ $bad == 0 ]] || exit 1
echo "== test_wheel: every library of the package resolves inside the wheel or to the manylinux set"
CHECKS

case $mode in
venv)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # nothing that could point at a build tree or another environment; pip's and TLS settings
    # (a proxy's CA) stay
    env -u LSC_LIBRARY -u LSC_CLI -u LSC_LAYOUTS -u PYTHONPATH -u PYTHONHOME -u LD_LIBRARY_PATH \
        -u LD_PRELOAD -u VIRTUAL_ENV PATH=/usr/local/bin:/usr/bin:/bin bash -c "$checks" _ "$whl" "$tmp"
    ;;
--fresh-debian)
    [[ $(id -u) -eq 0 ]] || { echo "test_wheel: --fresh-debian must run as root (chroot)" >&2; exit 2; }
    work=${WORK:-/var/tmp/lsc-fresh-debian}
    mirror=${MIRROR:-http://deb.debian.org/debian}
    if [[ ! -s $work/base.tar ]]; then
        command -v debootstrap >/dev/null || {
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
        mkdir -p "$work"
        rm -rf --one-file-system "$work/base"
        debootstrap --variant=minbase bookworm "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 ||
            { tail -n 30 "$work/debootstrap.log"; exit 1; }
        tar -C "$work/base" -cf "$work/base.tar" .
        rm -rf --one-file-system "$work/base"
    fi
    dir="$work/wheel"
    mounted=()
    cleanup() {
        local i
        for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
        rm -rf --one-file-system "$dir"
    }
    trap cleanup EXIT
    rm -rf --one-file-system "$dir"
    mkdir -p "$dir"
    tar -C "$dir" -xf "$work/base.tar"
    cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
    # a host behind a TLS-intercepting proxy trusts its CA through pip's configuration: carry it
    if [[ -f /etc/pip.conf ]]; then
        cp -L /etc/pip.conf "$dir/etc/pip.conf"
        cert=$(sed -n 's/^ *cert *= *//p' /etc/pip.conf | head -n 1)
        if [[ -n $cert && -f $cert ]]; then mkdir -p "$dir$(dirname "$cert")"; cp -L "$cert" "$dir$cert"; fi
        # and the local CAs, which update-ca-certificates puts back into that bundle when the
        # ca-certificates package arrives with python3-venv
        if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
            mkdir -p "$dir/usr/local/share/ca-certificates"
            cp -L /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
        fi
    fi
    mount -t proc proc "$dir/proc" && mounted+=("$dir/proc")
    mkdir -p "$dir/dev/shm" && mount -t tmpfs -o mode=1777 shm "$dir/dev/shm" && mounted+=("$dir/dev/shm")
    chroot "$dir" bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv' \
        >"$work/wheel-apt.log" 2>&1 ||
        { tail -n 30 "$work/wheel-apt.log"; echo "test_wheel: apt-get install python3-venv failed in the chroot" >&2; exit 1; }
    mkdir -p "$dir/root/wheel" "$dir/root/scratch"
    cp "$whl" "$dir/root/wheel/"
    chroot "$dir" env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 bash -c "$checks" _ \
        "/root/wheel/$(basename "$whl")" /root/scratch
    ;;
*)
    echo "test_wheel: unknown mode $mode (--fresh-debian)" >&2; exit 2 ;;
esac
echo "== test_wheel: passed ($mode) in $((SECONDS - t0)) s"
