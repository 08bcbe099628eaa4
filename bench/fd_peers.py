#!/usr/bin/env python3
"""Frechet distance: lsc against pytorch-fid's formula on the same data.

    LSC_LIBRARY=build/liblsc.so PYTHONPATH=python/src python3 bench/fd_peers.py [--n N] [--d D]

The peer is pytorch-fid's `calculate_frechet_distance` (numpy/scipy: np.mean, np.cov, then
scipy.linalg.sqrtm of S1 S2 in float64), written out here so the script needs no torch; clean-fid
and torchmetrics use the same sqrtm. Both sides start from the float32 rows of two sets and end
with the figure; lsc runs one float64 Gram pass per set (its CPU backend) and two symmetric
eigenproblems. Prints the median and minimum of `--repeats` runs after a warm-up, the ratio, and
the two figures with lsc's pinned tolerance.
"""
import argparse
import statistics
import time

import numpy as np
import scipy.linalg as sl

import lsc


def peer_fd(a, b):
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
    # the peer reads float32 rows as pytorch-fid does (np.cov widens them to float64)
    theirs, pm, pn = timed(lambda: peer_fd(a, b), args.repeats)
    print(f"N = {args.n}, D = {args.d}, repeats {args.repeats}; {lsc.version()}")
    print(f"lsc        median {om:.3f} s  min {on:.3f} s   fd {ours.fd:.10g} (tolerance "
          f"{ours.tolerance:.3g})")
    print(f"pytorch-fid median {pm:.3f} s  min {pn:.3f} s   fd {theirs:.10g}")
    print(f"ratio (peer / lsc, medians) {pm / om:.2f}x; |difference| {abs(ours.fd - theirs):.3g}")


if __name__ == "__main__":
    main()
