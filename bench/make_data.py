#!/usr/bin/env python3
"""make_data.py OUTDIR N:D[:SEED[:SHIFT]] ...: seeded float32 .npy files for the benchmarks.

Each spec writes OUTDIR/x_N_D_SEED.npy: N rows of N(SHIFT, (1 + SHIFT)^2) in D columns, float32,
C order, from numpy.random.default_rng(SEED). The real set of a PRDC case is SHIFT 0 and the fake
set SHIFT 0.1 with another seed (the RESULTS.md convention). Prints each path.
Needs numpy only. Usable as a module: path_for() and make()."""
import os
import sys

import numpy as np


def path_for(outdir, n, d, seed, shift=0.0):
    tag = "" if shift == 0 else "_s%g" % shift
    return os.path.join(outdir, "x_%d_%d_%d%s.npy" % (n, d, seed, tag))


def make(outdir, n, d, seed, shift=0.0):
    p = path_for(outdir, n, d, seed, shift)
    if not os.path.exists(p):
        os.makedirs(outdir, exist_ok=True)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, d), dtype=np.float32)
        if shift:
            x = x * np.float32(1.0 + shift) + np.float32(shift)
        tmp = p + ".tmp.npy"
        np.save(tmp, np.ascontiguousarray(x, dtype=np.float32))
        os.replace(tmp, p)
    return p


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    for spec in argv[2:]:
        f = spec.split(":")
        n, d = int(f[0]), int(f[1])
        seed = int(f[2]) if len(f) > 2 else 20261125
        shift = float(f[3]) if len(f) > 3 else 0.0
        print(make(argv[1], n, d, seed, shift))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
