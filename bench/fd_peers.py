#!/usr/bin/env python3
"""Frechet distance: lsc against pytorch-fid's and torchmetrics' formulas on the same data.

    LSC_LIBRARY=build/liblsc.so PYTHONPATH=python/src python3 bench/fd_peers.py [--n N] [--d D]

Peers, each from the float32 rows of two sets to the figure:
  - pytorch-fid's `calculate_frechet_distance` (numpy/scipy: np.mean, np.cov, then
    scipy.linalg.sqrtm of S1 S2 in float64), written out here; clean-fid uses the same sqrtm;
  - torchmetrics' FrechetInceptionDistance (1.x): the rows widened to float64, their sum and
    uncentred Gram x^T x accumulated, cov = (G - n mu mu^T) / (n - 1), then
    tr sqrt = sum of sqrt(eigvals(S1 S2)).real (torch.linalg.eigvals of the non-symmetric
    product: torchmetrics.image.fid._compute_fid itself). Run in torch (CPU) when torch and
    torchmetrics import, else the same steps in numpy, which the output says.
lsc runs one float64 Gram pass per set around a pivot (its CPU backend) and two symmetric
eigenproblems. Prints the median and minimum of `--repeats` runs after a warm-up, the ratios
(peer / lsc, medians) and the figures with lsc's pinned tolerance.
"""
import argparse
import statistics
import time

import numpy as np
import scipy.linalg as sl

import lsc

try:
    import torch
    from torchmetrics.image.fid import _compute_fid  # the package's own final step
except ImportError:  # the formula in numpy instead
    torch = None


def pytorch_fid(a, b):
    m1, s1 = np.mean(a, axis=0), np.cov(a, rowvar=False)
    m2, s2 = np.mean(b, axis=0), np.cov(b, rowvar=False)
    diff = m1 - m2
    covmean = sl.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = sl.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def torchmetrics_fid(a, b):
    """torchmetrics.image.fid: update() sums x and x^T x in float64, compute() as below."""
    if torch is not None:
        stats = []
        for x in (a, b):
            t = torch.from_numpy(x).double()
            n = t.shape[0]
            mu = t.sum(0) / n
            cov = (t.t().mm(t) - n * torch.outer(mu, mu)) / (n - 1)
            stats.append((mu, cov))
        (m1, s1), (m2, s2) = stats
        return float(_compute_fid(m1, s1, m2, s2))
    stats = []
    for x in (a, b):
        t = x.astype(np.float64)
        n = t.shape[0]
        mu = t.sum(0) / n
        stats.append((mu, (t.T @ t - n * np.outer(mu, mu)) / (n - 1)))
    (m1, s1), (m2, s2) = stats
    c = np.sqrt(np.linalg.eigvals(s1 @ s2).astype(np.complex128)).real.sum()
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * c)


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
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    g = np.random.default_rng(args.seed)
    mix = g.standard_normal((args.d, args.d)) / np.sqrt(args.d)
    a = (g.standard_normal((args.n, args.d)) @ mix).astype(np.float32)
    b = (g.standard_normal((args.n, args.d)) @ (mix * 1.1) + 0.05).astype(np.float32)
    ours, om, on = timed(lambda: lsc.frechet_distance(a, b, backend="cpu"), args.repeats)
    # the peers read float32 rows as the packages do (np.cov and torchmetrics widen to float64)
    pf, pm, pn = timed(lambda: pytorch_fid(a, b), args.repeats)
    tf, tm, tn = timed(lambda: torchmetrics_fid(a, b), args.repeats)
    tm_how = f"torch {torch.__version__}, {torch.get_num_threads()} threads" if torch is not None else "numpy (no torch)"
    print(f"N = {args.n}, D = {args.d}, repeats {args.repeats}; lsc {lsc.version()}; "
          f"numpy {np.__version__}")
    print(f"lsc          median {om:.3f} s  min {on:.3f} s   fd {ours.fd:.10g} (tolerance "
          f"{ours.tolerance:.3g})")
    print(f"pytorch-fid  median {pm:.3f} s  min {pn:.3f} s   fd {pf:.10g}   ratio {pm / om:.2f}x"
          f"   |difference| {abs(ours.fd - pf):.3g}")
    print(f"torchmetrics median {tm:.3f} s  min {tn:.3f} s   fd {tf:.10g}   ratio {tm / om:.2f}x"
          f"   |difference| {abs(ours.fd - tf):.3g}   ({tm_how})")


if __name__ == "__main__":
    main()
