#!/usr/bin/env python3
"""What assess=True adds to a Monitor step (docs/METRICS.md section 8, "What the context keeps").

A training loop measures a batch of M latents against one reference every few hundred steps. This
script times Monitor.measure on the same batches with assess=False (the step before the verdicts)
and assess=True, the two interleaved so that load on the machine hits both alike, and prints the
ratio of their medians: the first assessed step (it computes the reference side and keeps it in
the context) apart from the later ones (which measure only the generated rows). It prints the
ratio of wall times and of the process's CPU times (every thread's; on a machine shared with
other work the CPU time is the steadier measure of the work done).

Usage: PYTHONPATH=python/src LSC_LIBRARY=build/liblsc.so.0.2.0 python bench/monitor_cost.py
       [--n 20000] [--m 4096] [--d 256] [--steps 6] [--threads 0]
Data: 20 Gaussian clusters (centres N(0, 1), spread 0.8), float32, numpy default_rng(1); each
step's batch is a fresh draw of the same clusters (a healthy generator)."""
import argparse
import statistics
import time

import numpy as np

import lsc


def clusters(g, centres, n):
    return (centres[g.integers(0, len(centres), n)] +
            0.8 * g.standard_normal((n, centres.shape[1]))).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--m", type=int, default=4096)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    g = np.random.default_rng(1)
    centres = g.normal(0.0, 1.0, (20, a.d))
    real = clusters(g, centres, a.n)
    batches = [clusters(g, centres, a.m) for _ in range(a.steps + 1)]
    ref = lsc.Reference(real, k=5, backend="cpu", threads=a.threads)
    plain = lsc.Monitor(ref, every=1, backend="cpu", asynchronous=False)
    judged = lsc.Monitor(ref, every=1, backend="cpu", asynchronous=False, assess=True)
    t_plain, t_judged, c_plain, c_judged = [], [], [], []
    for s, x in enumerate(batches):
        t0, c0 = time.perf_counter(), time.process_time()
        plain.measure(s, x)
        t1, c1 = time.perf_counter(), time.process_time()
        rec = judged.measure(s, x)
        t2, c2 = time.perf_counter(), time.process_time()
        t_plain.append(t1 - t0)
        t_judged.append(t2 - t1)
        c_plain.append(c1 - c0)
        c_judged.append(c2 - c1)
        print(f"step {s}: plain {t_plain[-1]:.2f} s (cpu {c_plain[-1]:.2f} s), with verdicts "
              f"{t_judged[-1]:.2f} s (cpu {c_judged[-1]:.2f} s) ({rec.verdict})", flush=True)
    first = t_judged[0] / statistics.median(t_plain)
    later = statistics.median(t_judged[1:]) / statistics.median(t_plain[1:])
    cpu_later = statistics.median(c_judged[1:]) / statistics.median(c_plain[1:])
    print(f"N={a.n} M={a.m} D={a.d} k=5, lsc {lsc.version()}: median plain step "
          f"{statistics.median(t_plain[1:]):.2f} s; first assessed step {first:.2f}x, later "
          f"steps (reference side kept) {later:.2f}x; in CPU time {cpu_later:.2f}x")


if __name__ == "__main__":
    main()
