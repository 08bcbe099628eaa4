#!/usr/bin/env python3
"""KID: lsc against torchmetrics' KernelInceptionDistance formula on the same features.

    LSC_LIBRARY=build/liblsc.so PYTHONPATH=python/src python3 bench/kid_peers.py [--n N] [--d D]

The peer is torchmetrics' KernelInceptionDistance.compute() (1.x) on features it holds:
`subsets` times, a random permutation of each set (torch.randperm), the first `subset_size` rows
of each, then torchmetrics.image.kid.poly_mmd itself: the polynomial kernel (x y^T / D + 1)^3 on
the three m x m blocks (matrix products in the features' dtype: float32, as update() keeps them)
and the unbiased MMD^2; then the mean and std (ddof 0) of the scores. Run in torch (CPU) when
torch and torchmetrics import, else the same steps in numpy (float32 products through numpy's
BLAS), which the output says. torch-fidelity's `kid` uses the same estimator.
lsc: lsc.kid (CPU backend) with the same subsets and subset_rows (its own seeded subsets, so the
two means differ by the subsets' sampling spread, not round-off). Median and minimum of
`--repeats` runs after a warm-up, the ratio (peer / lsc, medians).
"""
import argparse
import statistics
import time

import numpy as np

import lsc

try:
    import torch
    from torchmetrics.image.kid import poly_mmd  # the package's own estimator
except ImportError:
    torch = None


def torchmetrics_kid(a, b, subsets, m, seed):
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        gen = torch.Generator().manual_seed(seed)
        scores = []
        for _ in range(subsets):
            x = ta[torch.randperm(ta.shape[0], generator=gen)[:m]]
            y = tb[torch.randperm(tb.shape[0], generator=gen)[:m]]
            scores.append(poly_mmd(x, y))
        s = torch.stack(scores)
        return float(s.mean()), float(s.std(unbiased=False))
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(subsets):
        x = a[rng.permutation(a.shape[0])[:m]]
        y = b[rng.permutation(b.shape[0])[:m]]
        g = np.float32(1.0 / x.shape[1])
        kxx, kyy, kxy = ((x @ x.T * g + 1) ** 3, (y @ y.T * g + 1) ** 3, (x @ y.T * g + 1) ** 3)
        v = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1))
        scores.append(v - 2 * kxy.sum() / m ** 2)
    s = np.array(scores, dtype=np.float64)
    return float(s.mean()), float(s.std())


def timed(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        v = fn()
        ts.append(time.perf_counter() - t)
    return v, statistics.median(ts), min(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--subsets", type=int, default=100)
    ap.add_argument("--subset-rows", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    g = np.random.default_rng(args.seed)
    # Inception-like features: non-negative, a few scales (pool3 activations are ReLU outputs)
    a = np.abs(g.standard_normal((args.n, args.d), dtype=np.float32))
    b = np.abs(g.standard_normal((args.n, args.d), dtype=np.float32)) * np.float32(1.05)
    ours, om, on = timed(lambda: lsc.kid(a, b, subsets=args.subsets,
                                         subset_rows=args.subset_rows, backend="cpu"),
                         args.repeats)
    (pmean, pstd), pm, pn = timed(
        lambda: torchmetrics_kid(a, b, args.subsets, args.subset_rows, args.seed), args.repeats)
    how = f"torch {torch.__version__}, {torch.get_num_threads()} threads" if torch is not None \
        else "numpy (no torch)"
    print(f"N = {args.n}, D = {args.d}, {args.subsets} subsets of {args.subset_rows} rows, "
          f"repeats {args.repeats}; lsc {lsc.version()}")
    print(f"lsc          median {om:.3f} s  min {on:.3f} s   kid {ours.mean:.6g} +- {ours.std:.3g}"
          f" (tolerance {ours.tolerance:.3g})")
    print(f"torchmetrics median {pm:.3f} s  min {pn:.3f} s   kid {pmean:.6g} +- {pstd:.3g} (ddof 0)"
          f"   ratio {pm / om:.2f}x   ({how})")


if __name__ == "__main__":
    main()
