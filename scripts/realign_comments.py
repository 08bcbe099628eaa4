"""realign_comments.py ORIGINAL FORMATTED: after clang-format moved the first line of a trailing
block comment (code, then a /* ... that closes on a later line) to another column, moves the
comment's continuation lines by the same number of columns, so that they stay aligned under its
text. FORMATTED is rewritten in place. Comments are matched in order by their first line."""
import re
import sys

# code, then an opening /* that does not close on this line
TRAILING = re.compile(r'^(?P<code>.*?\S.*?)(?P<open>/\*(?!.*\*/).*)$')


def trailing_starts(lines):
    starts = {}
    for line in lines:
        m = TRAILING.match(line)
        if m and '"' not in m.group('code') and '//' not in m.group('code'):
            starts.setdefault(m.group('open').strip(), []).append(m.start('open'))
    return starts


def realign(original, formatted):
    starts = trailing_starts(original)
    out = list(formatted)
    i = 0
    while i < len(out):
        m = TRAILING.match(out[i])
        if not m or '"' in m.group('code') or '//' in m.group('code'):
            i += 1
            continue
        cols = starts.get(m.group('open').strip())
        delta = m.start('open') - cols.pop(0) if cols else 0
        j = i + 1
        while j < len(out):
            line = out[j]
            if delta > 0 and line.strip():
                out[j] = ' ' * delta + line
            elif delta < 0 and line.strip():
                lead = len(line) - len(line.lstrip(' '))
                out[j] = line[min(-delta, lead):]
            if '*/' in line:
                break
            j += 1
        i = j + 1
    return out


def main():
    original = open(sys.argv[1], encoding='utf-8').read().split('\n')
    path = sys.argv[2]
    formatted = open(path, encoding='utf-8').read().split('\n')
    result = realign(original, formatted)
    if result != formatted:
        with open(path, 'w', encoding='utf-8') as f:
            f.write('\n'.join(result))


if __name__ == '__main__':
    main()
