#!/usr/bin/env bash
# Runs README's two commands (the block under "## Two commands") on a clean Debian 12 made with
# debootstrap, as a newcomer would: once in a root shell, once as a user with sudo. Each run gets
# its own fresh chroot and a copy of this working tree (tracked and untracked, not ignored files).
# Run by hand, as root, on a Debian or Ubuntu host with network access; never part of CI (each
# run downloads the packages and builds and tests everything: allow 15 to 30 minutes per run).
#   scripts/check_fresh_debian.sh [root] [sudo]     (default: both)
# Environment:
#   WORK    where the chroots live (default /var/tmp/lsc-fresh-debian); the debootstrap result
#           is kept there as base.tar and reused (delete it for a new one)
#   MIRROR  Debian mirror (default http://deb.debian.org/debian)
#   KEEP=1  leave the chroots in place afterwards (default: removed)
# Prints each step's time and a closing summary; exits non-zero when a run failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${WORK:-/var/tmp/lsc-fresh-debian}
mirror=${MIRROR:-http://deb.debian.org/debian}
modes=("$@")
[[ ${#modes[@]} -gt 0 ]] || modes=(root sudo)
for m in "${modes[@]}"; do
    [[ $m == root || $m == sudo ]] || { echo "check_fresh_debian: unknown run '$m' (root, sudo)" >&2; exit 2; }
done
[[ $(id -u) -eq 0 ]] || { echo "check_fresh_debian: must run as root (debootstrap, chroot)" >&2; exit 2; }

t0=$SECONDS
summary=()
note() {
    summary+=("$(printf '%-52s %5d s  %s' "$1" "$2" "$3")")
    echo "== check_fresh_debian: $1: $3 in $2 s"
}

# README's two commands, exactly as written there
mapfile -t commands < <(awk '/^## Two commands/ {s = 1; next} s && /^```sh/ {b = 1; next}
                             b && /^```/ {exit} b {print}' "$root/README.md")
[[ ${#commands[@]} -eq 2 ]] || { echo "check_fresh_debian: expected two commands in README.md, found ${#commands[@]}" >&2; exit 2; }
printf '== check_fresh_debian: README command: %s\n' "${commands[@]}"

# ---- the clean Debian 12, made once and kept as a tarball ----------------------------------------
mkdir -p "$work"
if [[ ! -s $work/base.tar ]]; then
    command -v debootstrap >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    st=$SECONDS
    rm -rf --one-file-system "$work/base"
    # minbase: what a container's debian:12 image holds (no sudo, no compiler, no python)
    debootstrap --variant=minbase bookworm "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -n 30 "$work/debootstrap.log"; exit 1; }
    tar -C "$work/base" -cf "$work/base.tar" .
    rm -rf --one-file-system "$work/base"
    note "debootstrap bookworm (minbase)" $((SECONDS - st)) "ok"
fi

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
    mounted=()
}
trap cleanup EXIT

# A fresh chroot in $1: the base, the host's resolver, /proc, /sys, /dev/shm and /dev/pts.
fresh_chroot() {
    local dir=$1
    rm -rf --one-file-system "$dir"
    mkdir -p "$dir"
    tar -C "$dir" -xf "$work/base.tar"
    cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
    cp -L /etc/hosts "$dir/etc/hosts" # sudo looks the host name up
    # a host behind a TLS-intercepting proxy trusts the proxy's CA through pip's configuration:
    # carry both, or the peer-oracle environment cannot be made (ordinary hosts have neither)
    if [[ -f /etc/pip.conf ]]; then
        cp -L /etc/pip.conf "$dir/etc/pip.conf"
        local cert
        cert=$(sed -n 's/^ *cert *= *//p' /etc/pip.conf | head -n 1)
        if [[ -n $cert && -f $cert ]]; then
            mkdir -p "$dir$(dirname "$cert")"
            cp -L "$cert" "$dir$cert"
        fi
        # and the local CAs themselves, which update-ca-certificates keeps in that bundle when
        # the ca-certificates package arrives (python3-pip depends on it)
        if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
            mkdir -p "$dir/usr/local/share/ca-certificates"
            cp -L /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
        fi
    fi
    mount -t proc proc "$dir/proc" && mounted+=("$dir/proc")
    mount -t sysfs sysfs "$dir/sys" && mounted+=("$dir/sys")
    mkdir -p "$dir/dev/shm" "$dir/dev/pts"
    mount -t tmpfs -o mode=1777 shm "$dir/dev/shm" && mounted+=("$dir/dev/shm")
    mount -t devpts -o newinstance,ptmxmode=0666 devpts "$dir/dev/pts" && mounted+=("$dir/dev/pts")
}

# Copies this working tree (what a clone plus the uncommitted work holds) into $1.
copy_tree() {
    mkdir -p "$1"
    (cd "$root" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -C "$1" -xf -
}

failed=0
for mode in "${modes[@]}"; do
    dir="$work/$mode"
    st=$SECONDS
    fresh_chroot "$dir"
    if [[ $mode == root ]]; then
        home=/root
        run=(chroot "$dir" env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
             TERM=dumb LANG=C.UTF-8 bash -c)
    else
        # a user with sudo: sudo itself and the user are set up, then the package lists are
        # dropped again, so the README's command has to run apt-get update on its own
        chroot "$dir" bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sudo >/dev/null &&
            useradd -m -s /bin/bash newcomer && echo "newcomer ALL=(ALL) NOPASSWD:ALL" >/etc/sudoers.d/newcomer &&
            chmod 0440 /etc/sudoers.d/newcomer && apt-get clean && rm -rf /var/lib/apt/lists/*' >"$work/$mode-setup.log" 2>&1 ||
            { tail -n 30 "$work/$mode-setup.log"; exit 1; }
        home=/home/newcomer
        run=(chroot --userspec=newcomer:newcomer "$dir" env -i HOME=$home USER=newcomer LOGNAME=newcomer
             PATH=/usr/local/bin:/usr/bin:/bin TERM=dumb LANG=C.UTF-8 bash -c)
    fi
    copy_tree "$dir$home/lsc"
    [[ $mode == root ]] || chroot "$dir" chown -R newcomer:newcomer "$home/lsc"
    note "$mode: fresh chroot and the tree copied" $((SECONDS - st)) "ok"
    for i in 0 1; do
        st=$SECONDS
        log="$work/$mode-command$((i + 1)).log"
        if "${run[@]}" "cd $home/lsc && ${commands[i]}" </dev/null >"$log" 2>&1; then
            res="ok"
        else
            res="FAILED (exit $?, $log)"
            failed=1
        fi
        case $i in
        0) what="install + build + demo"
           # the demo's verdict lines show it ran
           res="$res; demo: $(grep -c 'collapse\|no collapse detected' "$log" || true) reading lines" ;;
        1) what="tests/run.sh"
           res="$res; $(grep -E '^== run.sh: [0-9]+ tests:' "$log" | tail -n 1 | sed 's/^== run.sh: //' || true)" ;;
        esac
        note "$mode: $what" $((SECONDS - st)) "$res"
        tail -n 15 "$log" | sed 's/^/    /'
        [[ $res == ok* ]] || break
    done
    cleanup
    [[ ${KEEP:-0} == 1 ]] || rm -rf --one-file-system "$dir"
done

echo "== check_fresh_debian: summary (host $(. /etc/os-release && echo "$PRETTY_NAME"), $(nproc) cores)"
for s in "${summary[@]}"; do echo "   $s"; done
echo "   total $((SECONDS - t0)) s: $([[ $failed == 0 ]] && echo "every run passed" || echo "a run FAILED")"
exit $failed
