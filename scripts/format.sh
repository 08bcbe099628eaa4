#!/usr/bin/env bash
# Lays out every tracked C, C++ and CUDA source with clang-format and the repository's
# .clang-format (Debian 12's clang-format 14 or later).
#   scripts/format.sh            rewrites the files in place
#   scripts/format.sh --check    changes nothing; lists the files that differ, exits 1 if any
#   scripts/format.sh FILE...    rewrites only these files
# clang-format moves a trailing block comment's first line to the aligned column but leaves its
# continuation lines where they were; scripts/realign_comments.py moves them by the same amount.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cf=${CLANG_FORMAT:-clang-format}
command -v "$cf" >/dev/null || { echo "format.sh: $cf not found (apt-get install clang-format)" >&2; exit 2; }

check=0
if [[ ${1:-} == --check ]]; then check=1; shift; fi
if (($#)); then files=("$@"); else
    mapfile -t files < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' '*.cu' '*.cuh')
fi

before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
bad=()
for f in "${files[@]}"; do
    mkdir -p "$before/$(dirname "$f")"
    "$cf" --style=file "$f" > "$before/$f.new"
    python3 scripts/realign_comments.py "$f" "$before/$f.new"
    if ! cmp -s "$f" "$before/$f.new"; then
        bad+=("$f")
        ((check)) || cp "$before/$f.new" "$f"
    fi
done
if ((check)); then
    if ((${#bad[@]})); then
        printf 'format.sh: not laid out as .clang-format says: %s\n' "${bad[@]}" >&2
        echo "format.sh: run scripts/format.sh to fix" >&2
        exit 1
    fi
    echo "format.sh: ${#files[@]} files laid out"
else
    echo "format.sh: ${#bad[@]} of ${#files[@]} files changed"
fi
