#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with the peer-oracle packages of
# requirements.txt beside this file, and prints its python's path on stdout.
#   tests/oracle/make_venv.sh DIR
# Exit 0: DIR/bin/python imports every package. Non-zero: no usable environment (no venv module,
# no network, ...); the reason is on stderr. Tries the python3 on PATH, then Debian's.
set -euo pipefail

dir=${1:?usage: make_venv.sh DIR}
mkdir -p "$(dirname "$dir")"
dir="$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
req="$here/requirements.txt"
probe='import numpy, scipy, sklearn, prdc, vendi_score, pytest, safetensors, h5py, matplotlib, selenium'

if [[ -x "$dir/bin/python" ]] && "$dir/bin/python" -c "$probe" 2>/dev/null; then
    echo "$dir/bin/python"
    exit 0
fi

candidates=()
for py in python3 /usr/bin/python3 python; do
    if p=$(command -v "$py" 2>/dev/null); then candidates+=("$p"); fi
done
if [[ ${#candidates[@]} -eq 0 ]]; then
    echo "make_venv: no python3 found" >&2
    exit 1
fi

for py in "${candidates[@]}"; do
    rm -rf "$dir"
    if ! "$py" -m venv "$dir" >&2; then
        echo "make_venv: '$py -m venv' failed (Debian: apt-get install python3-venv)" >&2
        continue
    fi
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
            "$dir/bin/python" -m pip install -q -r "$req" >&2; then
        echo "make_venv: pip install -r $req failed with $py" >&2
        rm -rf "$dir"
        exit 1   # the network or the index is the problem; another python will not help
    fi
    if "$dir/bin/python" -c "$probe" >&2; then
        echo "$dir/bin/python"
        exit 0
    fi
    echo "make_venv: the packages do not import with $py" >&2
done
rm -rf "$dir"
exit 1
