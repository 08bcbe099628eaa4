#!/usr/bin/env python3
"""`lsc fd`, `lsc fd-stats`, `lsc kid` and `lsc mmd` against a float64 numpy/scipy reference of
docs/METRICS.md section 10, and the statistics files against numpy:

    python test_distribution.py PATH/TO/lsc

- `lsc fd-stats` writes an .npz that numpy.load reads, with float64 mu (D,) and sigma (D, D)
  equal to np.mean and np.cov (ddof 1) of the float32 rows;
- `lsc fd` reads statistics saved by numpy.savez (pytorch-fid's and clean-fid's format), its own,
  and features, in any combination, and agrees with pytorch-fid's formula (scipy.linalg.sqrtm of
  S1 S2, float64) within the pinned tolerance it reports;
- `lsc kid` and `lsc mmd` agree with a naive float64 reference on the same subsets (KID: the
  subsets are the whole sets here) within their pinned tolerances.
Exit 0 when every check passes, 1 otherwise, 2 on a usage or environment error.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import scipy.linalg as sl
except ImportError as e:  # pragma: no cover
    print(f"distribution: cannot import numpy/scipy ({e})", file=sys.stderr)
    sys.exit(2)

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def run(lsc, *args):
    p = subprocess.run([lsc, *args, "--backend", "cpu", "--progress", "never"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout, p.stderr, file=sys.stderr)
        raise SystemExit(f"lsc {' '.join(args)} exited {p.returncode}")
    return p.stdout


def fd_ref(m1, s1, m2, s2):
    """pytorch-fid's calculate_frechet_distance (float64)."""
    covmean = sl.sqrtm(s1.dot(s2))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    d = m1 - m2
    return d.dot(d) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lsc = sys.argv[1]
    rng = np.random.default_rng(5)
    n, d = 400, 24
    a = rng.standard_normal((n, d)).astype(np.float32)
    b = (rng.standard_normal((n + 50, d)) * 1.2 + 0.3).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        fa, fb = os.path.join(tmp, "a.npy"), os.path.join(tmp, "b.npy")
        np.save(fa, a)
        np.save(fb, b)
        ours = os.path.join(tmp, "ours.npz")
        run(lsc, "fd-stats", "--input", fa, "--out", ours)
        z = np.load(ours)
        a64 = a.astype(np.float64)
        m1, s1 = a64.mean(0), np.cov(a64, rowvar=False)
        check(z["mu"].dtype == np.float64 and z["mu"].shape == (d,), "fd-stats: mu float64 (D,)")
        check(z["sigma"].dtype == np.float64 and z["sigma"].shape == (d, d),
              "fd-stats: sigma float64 (D, D)")
        check(np.allclose(z["mu"], m1, rtol=0, atol=1e-12), "fd-stats: mu = np.mean")
        check(np.allclose(z["sigma"], s1, rtol=0, atol=1e-12), "fd-stats: sigma = np.cov (ddof 1)")

        b64 = b.astype(np.float64)
        m2, s2 = b64.mean(0), np.cov(b64, rowvar=False)
        theirs = os.path.join(tmp, "theirs.npz")
        np.savez(theirs, mu=m2, sigma=s2)
        want = fd_ref(m1, s1, m2, s2)
        for x, y, what in ((fa, fb, "features, features"), (ours, theirs, "ours, numpy.savez"),
                           (fa, theirs, "features, numpy.savez")):
            r = json.loads(run(lsc, "fd", "--real", x, "--fake", y, "--json", "-"))["fd"]
            check(abs(r["fd"] - want) <= r["tolerance"] and r["tolerance"] < 1e-3 * want,
                  f"fd ({what}): {r['fd']:.12g} vs pytorch-fid's formula {want:.12g}, "
                  f"tolerance {r['tolerance']:.3g}")
        r = json.loads(run(lsc, "fd", "--real", ours, "--fake", ours, "--json", "-"))["fd"]
        check(abs(r["fd"]) <= r["tolerance"], f"fd of a statistics file with itself: {r['fd']:.3g}")

        # KID: subsets of the whole sets (subset rows >= N, M) are the sets themselves
        m = 120
        fa2, fb2 = os.path.join(tmp, "a2.npy"), os.path.join(tmp, "b2.npy")
        np.save(fa2, a[:m])
        np.save(fb2, b[:m])
        r = json.loads(run(lsc, "kid", "--real", fa2, "--fake", fb2, "--subsets", "2",
                           "--json", "-"))["kid"]
        x, y = a64[:m], b64[:m]
        k = lambda p, q: (p @ q.T / d + 1) ** 3
        kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
        want = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) +
                (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
        check(abs(r["mean"] - want) <= r["tolerance"] and r["std"] <= r["tolerance"],
              f"kid: {r['mean']:.10g} vs {want:.10g} (tolerance {r['tolerance']:.3g})")

        r = json.loads(run(lsc, "mmd", "--real", fa2, "--fake", fb2, "--sigma", "4",
                           "--json", "-"))["mmd"]
        g = 1 / (2 * 16.0)
        sq = lambda p, q: ((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)
        want = 1000 * (np.exp(-g * sq(x, x)).mean() + np.exp(-g * sq(y, y)).mean() -
                       2 * np.exp(-g * sq(x, y)).mean())
        check(abs(r["mmd"] - want) <= r["tolerance"],
              f"mmd: {r['mmd']:.10g} vs {want:.10g} (tolerance {r['tolerance']:.3g})")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
