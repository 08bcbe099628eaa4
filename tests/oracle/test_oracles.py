#!/usr/bin/env python3
"""Peer-oracle test: lsc against the published packages that compute the same figures.

    python test_oracles.py PATH/TO/lsc_oracle_driver

Needs numpy, scipy, scikit-learn, prdc==0.2 and vendi-score==0.0.3 (requirements.txt beside this
file). Makes seeded random data, writes it as raw float32, runs the driver and compares:

  - precision / recall / density / coverage (strict) with prdc.compute_prdc (Naeem et al.);
  - the inclusive comparison (which prdc does not offer) with a float64 numpy reference;
  - vendi_cosine with vendi_score.vendi.score_dual (N >= D) or score_X (N < D), normalize=True;
  - effective_rank, participation_ratio, stable_rank, total_variance and rankme with numpy's SVD.

Tolerances (docs/METRICS.md, "Tolerances the tests use"): PRDC exact except for rows whose float64
distance lies within 1e-6 relative of their radius; each figure may differ from the peer by at
most the number of such borderline rows (pairs, for density), counted here in float64 from the
exact distances. Continuous spectrum figures within 2e-4 relative.
Both peers get the float32 values as float64 arrays, so their distances are float64.
Exit 0 when every check passes, 1 otherwise, 2 on a usage or environment error.
"""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import scipy.spatial.distance
    from prdc import compute_prdc
    from vendi_score import vendi
except ImportError as e:  # pragma: no cover - environment problem, not a test failure
    print(f"oracle: cannot import a peer package ({e}); install tests/oracle/requirements.txt",
          file=sys.stderr)
    sys.exit(2)

BORDER_REL = 1e-6
SPECTRUM_REL = 2e-4
SPECTRUM_ABS = 1e-9


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def run(self, fn, *args, **kwargs):
        """Runs one case; an error in it (driver failure, bad output) fails it, not the rest."""
        try:
            fn(self, *args, **kwargs)
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            self.ok(False, f"{fn.__name__} {args[2] if len(args) > 2 else ''}: {e}")

    def ok(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed.append(what)
            print(f"FAIL: {what}", flush=True)


def write_f32(tmp, name, x):
    path = os.path.join(tmp, name)
    np.ascontiguousarray(x, dtype="<f4").tofile(path)
    return path


def run_driver(driver, args):
    p = subprocess.run([driver] + [str(a) for a in args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"driver {' '.join(map(str, args))} exited {p.returncode}: "
                           f"{p.stderr.strip()}")
    return json.loads(p.stdout)


def kth_other(dist_self, k):
    """k-th smallest distance to another row (self excluded), from a square distance matrix."""
    d = dist_self.copy()
    np.fill_diagonal(d, np.inf)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def reference_prdc(real, fake, k, inclusive):
    """PRDC on float64 exact distances (scipy cdist is the direct difference form), and the number
    of borderline rows per figure: those whose decision depends on a distance within 1e-6
    relative of its radius."""
    d_rr = scipy.spatial.distance.cdist(real, real)
    d_ff = scipy.spatial.distance.cdist(fake, fake)
    d_rf = scipy.spatial.distance.cdist(real, fake)  # N x M
    r = kth_other(d_rr, k)
    s = kth_other(d_ff, k)
    less = np.less_equal if inclusive else np.less
    in_real = less(d_rf, r[:, None])            # fake j inside real ball i
    in_fake = less(d_rf, s[None, :])            # real i inside fake ball j
    border_real = np.abs(d_rf - r[:, None]) <= BORDER_REL * r[:, None]
    border_fake = np.abs(d_rf - s[None, :]) <= BORDER_REL * s[None, :]
    dmin = d_rf.min(axis=1)
    counts = {
        "precision": int(in_real.any(axis=0).sum()),
        "recall": int(in_fake.any(axis=1).sum()),
        "density": int(in_real.sum()),
        "coverage": int(less(dmin, r).sum()),
    }
    border = {
        "precision": int(border_real.any(axis=0).sum()),
        "recall": int(border_fake.any(axis=1).sum()),
        "density": int(border_real.sum()),
        "coverage": int((np.abs(dmin - r) <= BORDER_REL * r).sum()),
    }
    return counts, border, int((r == 0).sum()), int((s == 0).sum())


def to_counts(fig, n, m, k):
    """Figures -> the integer counts they were made of."""
    return {
        "precision": int(round(fig["precision"] * m)),
        "recall": int(round(fig["recall"] * n)),
        "density": int(round(fig["density"] * k * m)),
        "coverage": int(round(fig["coverage"] * n)),
    }


def check_prdc(checks, driver, tmp, name, real, fake, k, exact_ties=False):
    """real, fake: float32 arrays. exact_ties: the data are small integers, every distance is
    exact in float64 in any summation order, so every implementation must agree exactly."""
    n, d = real.shape
    m = fake.shape[0]
    rpath = write_f32(tmp, f"{name}_real.f32", real)
    fpath = write_f32(tmp, f"{name}_fake.f32", fake)
    real64, fake64 = real.astype(np.float64), fake.astype(np.float64)

    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        peer = compute_prdc(real64, fake64, k)
    peer_counts = to_counts(peer, n, m, k)

    for mode in ("strict", "inclusive"):
        got = run_driver(driver, ["prdc", rpath, n, d, fpath, m, k, mode])
        got_counts = to_counts(got, n, m, k)
        ref_counts, border, zr, zf = reference_prdc(real64, fake64, k, mode == "inclusive")
        tag = f"{name} (N={n} M={m} D={d} k={k}) {mode}"
        worst = max(abs(got_counts[key] - ref_counts[key]) for key in ref_counts)
        checks.ok(got.get("comparison") == mode, f"{tag}: driver says comparison={got.get('comparison')}")
        for key in ("precision", "recall", "density", "coverage"):
            allowed = 0 if exact_ties else border[key]
            diff_ref = abs(got_counts[key] - ref_counts[key])
            checks.ok(diff_ref <= allowed,
                      f"{tag} {key}: lsc {got[key]!r} ({got_counts[key]}) vs float64 reference "
                      f"count {ref_counts[key]}, |diff| {diff_ref} > {allowed} borderline")
            if mode == "strict":
                diff_peer = abs(got_counts[key] - peer_counts[key])
                checks.ok(diff_peer <= allowed,
                          f"{tag} {key}: lsc {got[key]!r} ({got_counts[key]}) vs prdc "
                          f"{float(peer[key])!r} ({peer_counts[key]}), |diff| {diff_peer} > "
                          f"{allowed} borderline")
        checks.ok(got["zero_radii_real"] == zr and got["zero_radii_fake"] == zf,
                  f"{tag}: zero radii lsc {got['zero_radii_real']}/{got['zero_radii_fake']} "
                  f"vs reference {zr}/{zf}")
        print(f"  prdc  {tag:<52} P {got['precision']:.4f} R {got['recall']:.4f} "
              f"D {got['density']:.4f} C {got['coverage']:.4f}  borderline {sum(border.values())}, "
              f"max count diff {worst}",
              flush=True)
    return peer_counts


def close(a, b, rel=SPECTRUM_REL, abs_=SPECTRUM_ABS):
    return abs(a - b) <= max(rel * abs(b), abs_)


def numpy_spectrum(x64):
    """The continuous figures of docs/METRICS.md section 1 from numpy's SVD (well-conditioned data:
    the pinned cut removes nothing)."""
    n, d = x64.shape
    xc = x64 - x64.mean(axis=0)
    sig = np.linalg.svd(xc, compute_uv=False)
    sig = np.where(sig < 1e-5 * sig[0], 0.0, sig)
    lam = sig ** 2 / (n - 1)
    p = sig[sig > 0] / sig.sum()
    s = np.linalg.svd(x64, compute_uv=False)
    q = s / s.sum() + 1e-7
    return {
        "effective_rank": float(np.exp(-(p * np.log(p)).sum())),
        "participation_ratio": float(lam.sum() ** 2 / (lam ** 2).sum()),
        "stable_rank": float(lam.sum() / lam[0]),
        "total_variance": float(lam.sum()),
        "rankme": float(np.exp(-(q * np.log(q)).sum())),
        "largest_singular_value": float(sig[0]),
    }


def check_spectrum(checks, driver, tmp, name, x):
    n, d = x.shape
    path = write_f32(tmp, f"{name}.f32", x)
    got = run_driver(driver, ["spectrum", path, n, d])
    x64 = x.astype(np.float64)
    tag = f"{name} (N={n} D={d})"
    if n >= d:
        peer, how = float(vendi.score_dual(x64, normalize=True)), "score_dual"
    else:
        peer, how = float(vendi.score_X(x64, normalize=True)), "score_X"
    checks.ok(got["vendi_status"] == 0 and got["vendi_cosine"] is not None,
              f"{tag}: vendi unavailable (status {got['vendi_status']})")
    if got["vendi_cosine"] is not None:
        checks.ok(close(got["vendi_cosine"], peer),
                  f"{tag} vendi_cosine: lsc {got['vendi_cosine']!r} vs vendi_score.{how} {peer!r} "
                  f"(rel {abs(got['vendi_cosine'] - peer) / abs(peer):.2e} > {SPECTRUM_REL})")
    # Vendi of orders 2 and inf through vendi_score.score_K with q (score_X and score_dual
    # ignore q); order 0 counts the eigenvalues above lsc's pinned numerical zero, where
    # entropy_q counts every positive one, roundoff included: compared with that cut applied.
    xn = x64 / np.linalg.norm(x64, axis=1, keepdims=True)
    kern = xn @ xn.T
    for q, key in ((2, "vendi_cosine_q2"), ("inf", "vendi_cosine_qinf")):
        want = float(vendi.score_K(kern, q=q))
        checks.ok(close(got[key], want), f"{tag} {key}: lsc {got[key]!r} vs score_K {want!r}")
    nu = np.linalg.eigvalsh(kern / n)
    q0 = int((nu >= 1e-10 * nu.max()).sum())
    checks.ok(got["vendi_cosine_q0"] == q0, f"{tag} vendi_cosine_q0: lsc {got['vendi_cosine_q0']}"
              f" vs {q0} eigenvalues of K/N above 1e-10 of the largest")
    # alpha-ReQ from numpy, written from Agrawal et al. 2022: np.polyfit of log lambda on log i
    lam = np.linalg.svd(x64 - x64.mean(axis=0), compute_uv=False) ** 2 / (n - 1)
    lam = lam[lam >= 1e-10 * lam[0]]
    slope = np.polyfit(np.log(np.arange(1, lam.size + 1)), np.log(lam), 1)[0]
    checks.ok(got["alpha_req_ranks"] == lam.size and close(got["alpha_req"], -slope, 4e-4),
              f"{tag} alpha_req: lsc {got['alpha_req']!r} over {got['alpha_req_ranks']} vs "
              f"numpy {-slope!r} over {lam.size}")
    checks.ok(got["rows"] == n and got["cols"] == d and got["rank_limit"] == min(n, d),
              f"{tag}: rows/cols/rank_limit {got['rows']}/{got['cols']}/{got['rank_limit']}")
    ref = numpy_spectrum(x64)
    for key, want in ref.items():
        checks.ok(close(got[key], want),
                  f"{tag} {key}: lsc {got[key]!r} vs numpy {want!r}")
    print(f"  spec  {tag:<52} vendi {got['vendi_cosine']:.6g} ({how} {peer:.6g})  "
          f"erank {got['effective_rank']:.6g}", flush=True)


def main():
    if len(sys.argv) != 2:
        print("usage: test_oracles.py PATH/TO/lsc_oracle_driver", file=sys.stderr)
        return 2
    driver = sys.argv[1]
    if not os.access(driver, os.X_OK):
        print(f"oracle: driver '{driver}' is not an executable file", file=sys.stderr)
        return 2
    checks = Checks()
    rng = np.random.default_rng(20261125)
    f32 = np.float32

    def gauss(n, d, scale=1.0, shift=0.0):
        return (rng.standard_normal((n, d)) * scale + shift).astype(f32)

    with tempfile.TemporaryDirectory(prefix="lsc-oracle-") as tmp:
        try:
            print("PRDC against prdc 0.2 (strict) and a float64 numpy reference (both modes)")
            checks.run(check_prdc, driver, tmp, "gauss_d8", gauss(500, 8), gauss(500, 8), 1)
            checks.run(check_prdc, driver, tmp, "shifted_d32", gauss(1000, 32), gauss(700, 32, 1.2, 0.3), 3)
            checks.run(check_prdc, driver, tmp, "gauss_d128", gauss(1500, 128), gauss(1500, 128, 0.9), 5)
            checks.run(check_prdc, driver, tmp, "offset50_d16", gauss(800, 16, 1.0, 50.0),
                       gauss(1200, 16, 1.0, 50.2), 5)
            # mode collapse: every fake row sits near one of 4 real rows
            real = gauss(900, 24)
            collapsed = (real[rng.integers(0, 900, 4)][rng.integers(0, 4, 600)] +
                         0.3 * rng.standard_normal((600, 24))).astype(f32)
            checks.run(check_prdc, driver, tmp, "modecollapse_d24", real, collapsed, 5)
            # small integers: duplicates, zero radii and exact ties d == r, where strict and
            # inclusive differ; every distance is exact, so agreement must be exact.
            ints_r = rng.integers(-2, 3, (600, 3)).astype(f32)
            ints_f = rng.integers(-2, 3, (500, 3)).astype(f32)
            checks.run(check_prdc, driver, tmp, "int_ties_d3", ints_r, ints_f, 3, exact_ties=True)
            ints_r = rng.integers(-3, 4, (700, 5)).astype(f32)
            ints_f = np.concatenate([ints_r[:300], rng.integers(-3, 4, (200, 5))]).astype(f32)
            checks.run(check_prdc, driver, tmp, "int_copies_d5", ints_r, ints_f, 5, exact_ties=True)

            print("Spectrum against vendi-score 0.0.3 (cosine, normalize=True) and numpy's SVD")
            checks.run(check_spectrum, driver, tmp, "gauss", gauss(500, 8))
            checks.run(check_spectrum, driver, tmp, "gauss_aniso", (rng.standard_normal((1000, 64)) *
                           np.linspace(0.1, 3.0, 64)).astype(f32))
            checks.run(check_spectrum, driver, tmp, "offset", gauss(1500, 128, 1.0, 2.0))
            low = rng.standard_normal((1200, 6)) @ rng.standard_normal((6, 32))
            checks.run(check_spectrum, driver, tmp, "lowrank_plus_noise",
                           (low + 0.05 * rng.standard_normal((1200, 32))).astype(f32))
            checks.run(check_spectrum, driver, tmp, "wide_n_lt_d", gauss(120, 256, 1.0, 0.5))
            print("Driver errors")
            bad = write_f32(tmp, "short.f32", gauss(10, 4))
            p = subprocess.run([driver, "spectrum", bad, "11", "4"], capture_output=True, text=True)
            checks.ok(p.returncode == 2 and "short.f32" in p.stderr and not p.stdout,
                      f"driver on a short file: exit {p.returncode}, stderr {p.stderr.strip()!r}")
            p = subprocess.run([driver, "prdc", bad, "10", "4", bad, "10", "10"], capture_output=True,
                               text=True)
            checks.ok(p.returncode == 2 and "LSC_STATUS_INVALID_ARGUMENT" in p.stderr,
                      f"driver with k >= N: exit {p.returncode}, stderr {p.stderr.strip()!r}")
        except (RuntimeError, ValueError, KeyError) as e:
            checks.failed.append(str(e))
            print(f"FAIL: {e}", flush=True)

    print(f"oracle: {checks.passed} passed, {len(checks.failed)} failed")
    if checks.failed:
        print("oracle: failures:\n  " + "\n  ".join(checks.failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
