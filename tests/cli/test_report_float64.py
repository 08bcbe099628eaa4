#!/usr/bin/env python3
"""`lsc report --json` against an independent float64 reference written from docs/METRICS.md.

    python test_report_float64.py PATH/TO/lsc

Needs numpy and scipy (the oracle venv, tests/oracle/requirements.txt). Makes seeded random real
and fake sets, saves them as float32 .npy, runs

    lsc report --real R.npy --fake F.npy --k 5 --backend cpu --json OUT   (and --json -)
    lsc prdc   --real R.npy --fake F.npy --k 5 --json -

and checks every figure of the JSON report against numpy/scipy in float64 on the float32 values:

  - spectrum of each set (section 1): singular_values (each), effective_rank, rankme,
    participation_ratio, stable_rank, total_variance, vendi_cosine, dims_90, dims_99,
    active_units, numerical_rank, rows_used / rows_total / subset. The report compares the sets
    at equal N: the larger set's spectrum is taken on a seeded subset of the smaller's size, chosen
    by the library's seeded sampler (docs/METRICS.md section 7: positions 0..n-1 of a seeded
    Feistel permutation, from --seed, default 0), which this test reproduces from the definition; `spectrum_all_rows` (the larger set on every
    row) is checked against all rows;
  - all-pairs statistics of each set (section 3): mean, std (ddof 0), min, max, nn_mean,
    nn_median (lower middle), nn_min, nn_max, near_duplicate_pairs and the listed pairs (i, j, d),
    histogram edges (B = 2 max ||x_i - mu||) and counts, pairs, rows_used;
  - PRDC (section 5, strict): precision, recall, density, coverage, zero radii, row counts;
  - the memorisation block (fake rows within dup_eps of a real row; fake rows in a listed pair);
  - `--json -` writes the same JSON as `--json FILE` (timings aside), and `lsc prdc` the same prdc.

Tolerances (docs/METRICS.md, "Tolerances the tests use"): continuous figures within 2e-4 relative or
1e-9 absolute, whichever is larger; exact distances (min, nn_*, listed pairs) within 1e-6
relative; integer figures exact except where the reference lies within 1e-9 relative of a
threshold; PRDC counts exact except rows whose float64 distance lies within 1e-6 relative of
their radius; histogram counts exact except pairs within 1e-9 B of an edge.
Exit 0 when every check passes, 1 otherwise, 2 on a usage or environment error.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import scipy.spatial.distance as ssd
except ImportError as e:  # pragma: no cover - environment problem, not a test failure
    print(f"report_float64: cannot import numpy/scipy ({e}); use the oracle venv "
          f"(tests/oracle/requirements.txt)", file=sys.stderr)
    sys.exit(2)

REL = 2e-4          # continuous figures
ABS = 1e-9
DIST_REL = 1e-6     # exact distances
THRESH_REL = 1e-9   # integer figures near a threshold
BORDER_REL = 1e-6   # PRDC rows near their radius
EDGE_REL = 1e-9     # histogram: pairs within 1e-9 B of an edge
K = 5
DUP_EPS = 1e-6      # CLI default
BINS = 64           # CLI default
ACTIVE = 0.01       # CLI default
SEED = 0            # CLI default
CUT_SV = 1e-5       # pinned numerical zero (singular values)
CUT_EIG = 1e-10     # pinned numerical zero (eigenvalues)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def ok(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed.append(what)
            print(f"FAIL: {what}", flush=True)
        return cond

    def close(self, tag, got, want, rel=REL, abs_=ABS):
        if got is None or want is None:
            return self.ok(got is None and want is None, f"{tag}: lsc {got!r} vs reference {want!r}")
        err = abs(got - want)
        lim = max(rel * abs(want), abs_)
        return self.ok(err <= lim, f"{tag}: lsc {got!r} vs float64 reference {want!r} "
                                   f"(|diff| {err:.3g} > {lim:.3g})")


# ---- the float64 reference (docs/METRICS.md) ------------------------------------------------

def entropy_exp(p):
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def first_reaching(frac, t):
    """Smallest k with frac[k-1] >= t, and the set of k a correct float implementation may give
    (the reference lies within 1e-9 relative of the threshold)."""
    k = int(np.argmax(frac >= t)) + 1
    near = np.abs(frac - t) <= THRESH_REL * t
    allowed = {k}
    for i in np.nonzero(near)[0]:  # frac[i] on either side of t: k may be i + 1 or the next one
        allowed.update({int(i) + 1, int(i) + 2})
    return k, allowed


def ref_spectrum(x32):
    x = x32.astype(np.float64)
    n, d = x.shape
    m = min(n, d)
    xc = x - x.mean(axis=0)
    sig = np.linalg.svd(xc, compute_uv=False)[:m]
    sig = np.where(sig < CUT_SV * sig[0], 0.0, sig) if sig[0] > 0 else sig
    lam = sig ** 2 / (n - 1)
    tot = lam.sum()
    s = np.linalg.svd(x, compute_uv=False)[:m]
    s = np.where(s < CUT_SV * s[0], 0.0, s) if s[0] > 0 else s
    out = {"singular_values": sig, "total_variance": float(tot), "numerical_rank": int((sig > 0).sum())}
    if sig[0] > 0:
        out["effective_rank"] = entropy_exp(sig / sig.sum())
        out["participation_ratio"] = float(tot ** 2 / (lam ** 2).sum())
        out["stable_rank"] = float(tot / lam[0])
        frac = np.cumsum(lam) / tot
        out["dims_90"] = first_reaching(frac, 0.90)
        out["dims_99"] = first_reaching(frac, 0.99)
    else:
        out.update(effective_rank=0.0, participation_ratio=0.0, stable_rank=0.0,
                   dims_90=(0, {0}), dims_99=(0, {0}))
    if s[0] > 0:
        q = s / s.sum() + 1e-7
        out["rankme"] = float(np.exp(-(q * np.log(q)).sum()))
    else:
        out["rankme"] = 0.0
    var = x.var(axis=0, ddof=1)
    definite = int((var > ACTIVE * (1 + THRESH_REL)).sum())
    near = int((np.abs(var - ACTIVE) <= THRESH_REL * ACTIVE).sum())
    out["active_units"] = (int((var > ACTIVE).sum()), set(range(definite, definite + near + 1)))
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        out["vendi_cosine"] = None
    else:
        xn = x / norms[:, None]
        g = xn.T @ xn / n if n >= d else xn @ xn.T / n
        nu = np.linalg.eigvalsh(g)
        nu = np.where(nu < CUT_EIG * nu.max(), 0.0, nu)
        out["vendi_cosine"] = entropy_exp(nu)
    return out


def ref_pairs(x32):
    x = x32.astype(np.float64)
    n = x.shape[0]
    dv = ssd.pdist(x)                      # i < j order, direct differences in float64
    sq = ssd.squareform(dv)
    np.fill_diagonal(sq, np.inf)
    nn = np.sort(sq.min(axis=1))
    bound = 2.0 * np.linalg.norm(x - x.mean(axis=0), axis=1).max()
    if bound > 0:
        idx = np.minimum(np.floor(dv / bound * BINS).astype(np.int64), BINS - 1)
    else:
        idx = np.zeros(dv.shape, dtype=np.int64)
    counts = np.bincount(idx, minlength=BINS)
    edges = bound * np.arange(BINS + 1) / BINS
    # pairs within 1e-9 B of an inner edge may fall in the bin on either side of it
    border = np.zeros(BINS + 1, dtype=np.int64)
    if bound > 0:
        for e in range(1, BINS):
            border[e] = int((np.abs(dv - edges[e]) <= EDGE_REL * bound).sum())
    ii, jj = np.triu_indices(n, 1)
    dup = dv <= DUP_EPS
    dup_near = np.abs(dv - DUP_EPS) <= THRESH_REL * DUP_EPS
    order = np.lexsort((jj[dup], ii[dup], dv[dup]))
    listed = [(int(a), int(b), float(c)) for a, b, c in
              zip(ii[dup][order], jj[dup][order], dv[dup][order])]
    return {
        "mean": float(dv.mean()), "std": float(dv.std()), "min": float(dv.min()), "max": float(dv.max()),
        "nn_mean": float(nn.mean()), "nn_median": float(nn[(n - 1) // 2]),
        "nn_min": float(nn[0]), "nn_max": float(nn[-1]),
        "near_duplicate_pairs": int(dup.sum()), "near_duplicate_border": int(dup_near.sum()),
        "near_duplicates": listed, "edges": edges, "counts": counts, "edge_border": border,
        "pairs": n * (n - 1) // 2,
    }


def kth_other(sq, k):
    d = sq.copy()
    np.fill_diagonal(d, np.inf)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def ref_prdc(real32, fake32, k):
    r64, f64 = real32.astype(np.float64), fake32.astype(np.float64)
    r = kth_other(ssd.cdist(r64, r64), k)
    s = kth_other(ssd.cdist(f64, f64), k)
    d_rf = ssd.cdist(r64, f64)             # N x M
    in_real = d_rf < r[:, None]            # fake j inside real ball i
    in_fake = d_rf < s[None, :]            # real i inside fake ball j
    b_real = np.abs(d_rf - r[:, None]) <= BORDER_REL * r[:, None]
    b_fake = np.abs(d_rf - s[None, :]) <= BORDER_REL * s[None, :]
    dmin = d_rf.min(axis=1)
    counts = {"precision": int(in_real.any(axis=0).sum()), "recall": int(in_fake.any(axis=1).sum()),
              "density": int(in_real.sum()), "coverage": int((dmin < r).sum())}
    border = {"precision": int(b_real.any(axis=0).sum()), "recall": int(b_fake.any(axis=1).sum()),
              "density": int(b_real.sum()), "coverage": int((np.abs(dmin - r) <= BORDER_REL * r).sum())}
    near_real = int((d_rf.min(axis=0) <= DUP_EPS).sum())
    return counts, border, int((r == 0).sum()), int((s == 0).sum()), near_real


def permute(seed, n, j):
    """docs/METRICS.md section 7: position j of the seeded permutation of 0..n-1."""
    mask64 = (1 << 64) - 1

    def fin(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask64
        return z ^ (z >> 31)

    b = 2
    while b < 64 and (1 << b) < n:
        b += 2
    h = b // 2
    mask = (1 << h) - 1
    keys, state = [], seed & mask64
    for _ in range(6):
        state = (state + 0x9E3779B97F4A7C15) & mask64
        keys.append(fin(state))
    x = j
    while True:
        left, right = x >> h, x & mask
        for key in keys:
            left, right = right, left ^ (fin((right + key) & mask64) & mask)
        x = (left << h) | right
        if x < n:
            return x


def subset_rows(n, want, seed):
    """The seeded subset of `want` of n rows: positions 0..want-1 of the permutation, ascending."""
    return np.array(sorted(permute(seed, n, j) for j in range(want)), dtype=np.int64)


# ---- checks ---------------------------------------------------------------------------------

def check_spectrum(c, tag, got, x32, rows_total):
    ref = ref_spectrum(x32)
    n, d = x32.shape
    c.ok(got.get("rows_used") == n and got.get("rows_total") == rows_total
         and got.get("subset") == (n < rows_total),
         f"{tag}: rows_used/rows_total/subset {got.get('rows_used')}/{got.get('rows_total')}/"
         f"{got.get('subset')}, want {n}/{rows_total}/{n < rows_total}")
    for key in ("effective_rank", "rankme", "participation_ratio", "stable_rank", "total_variance",
                "vendi_cosine"):
        c.close(f"{tag} {key}", got.get(key), ref[key])
    if ref["vendi_cosine"] is None:
        c.ok("vendi_cosine_unavailable" in got, f"{tag}: vendi_cosine null without a reason")
    for key in ("dims_90", "dims_99", "active_units"):
        want, allowed = ref[key]
        c.ok(got.get(key) in allowed, f"{tag} {key}: lsc {got.get(key)!r} vs float64 reference {want}"
                                      + (f" (any of {sorted(allowed)})" if len(allowed) > 1 else ""))
    c.ok(got.get("numerical_rank") == ref["numerical_rank"],
         f"{tag} numerical_rank: lsc {got.get('numerical_rank')!r} vs reference {ref['numerical_rank']}")
    sv, want = got.get("singular_values") or [], ref["singular_values"]
    if c.ok(len(sv) == len(want), f"{tag} singular_values: lsc gives {len(sv)}, want min(N, D) = {len(want)}"):
        bad = [(i, a, b) for i, (a, b) in enumerate(zip(sv, want))
               if not (abs(a - b) <= max(REL * abs(b), ABS))]
        c.ok(not bad, f"{tag} singular_values: {len(bad)} of {len(want)} outside 2e-4 rel, first "
                      f"(index, lsc, reference): {bad[:3]}")
    return ref


def check_pairs(c, tag, got, x32):
    ref = ref_pairs(x32)
    n = x32.shape[0]
    c.ok(got.get("rows_used") == n and got.get("pairs") == ref["pairs"] and got.get("subset") is False,
         f"{tag}: rows_used/pairs/subset {got.get('rows_used')}/{got.get('pairs')}/{got.get('subset')}, "
         f"want {n}/{ref['pairs']}/False")
    for key in ("mean", "std", "max"):
        c.close(f"{tag} {key}", got.get(key), ref[key])
    for key in ("min", "nn_mean", "nn_median", "nn_min", "nn_max"):  # exact distances
        c.close(f"{tag} {key}", got.get(key), ref[key], rel=DIST_REL)
    nd, wnd, nb = got.get("near_duplicate_pairs"), ref["near_duplicate_pairs"], ref["near_duplicate_border"]
    c.ok(nd is not None and abs(nd - wnd) <= nb,
         f"{tag} near_duplicate_pairs: lsc {nd!r} vs float64 reference {wnd} ({nb} within 1e-9 rel of dup_eps)")
    listed, wl = got.get("near_duplicates", []), ref["near_duplicates"][:100]
    if nb == 0 and c.ok(len(listed) == len(wl),
                        f"{tag} near_duplicates: lsc lists {len(listed)}, reference {len(wl)}"):
        bad = [(a, b) for a, b in zip(listed, wl)
               if a[0] != b[0] or a[1] != b[1] or abs(a[2] - b[2]) > max(DIST_REL * b[2], ABS)]
        c.ok(not bad, f"{tag} near_duplicates: {len(bad)} listed pairs differ, first (lsc, reference): {bad[:2]}")
    h = got.get("histogram", {})
    edges, counts = h.get("edges", []), h.get("counts", [])
    if c.ok(len(edges) == BINS + 1 and len(counts) == BINS,
            f"{tag} histogram: {len(edges)} edges / {len(counts)} counts, want {BINS + 1} / {BINS}"):
        bad = [(i, a, b) for i, (a, b) in enumerate(zip(edges, ref["edges"]))
               if not (abs(a - b) <= max(REL * abs(b), ABS))]
        c.ok(not bad, f"{tag} histogram edges: {len(bad)} outside 2e-4 rel, first (index, lsc, reference): {bad[:3]}")
        c.ok(sum(counts) == ref["pairs"], f"{tag} histogram counts sum to {sum(counts)}, want {ref['pairs']}")
        eb = ref["edge_border"]
        bad = [(j, counts[j], int(ref["counts"][j])) for j in range(BINS)
               if abs(counts[j] - int(ref["counts"][j])) > eb[j] + eb[j + 1]]
        c.ok(not bad, f"{tag} histogram counts: {len(bad)} bins differ beyond the pairs within 1e-9 B of "
                      f"an edge, first (bin, lsc, reference): {bad[:4]}")
    return ref


def run_lsc(lsc, args, tag):
    p = subprocess.run([lsc] + args, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{tag}: lsc {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def strip_volatile(doc):
    doc = dict(doc)
    doc.pop("timings_ms", None)
    return doc


def check_case(c, lsc, tmp, name, real, fake, stdout_json=False):
    n, d = real.shape
    m = fake.shape[0]
    rpath, fpath = os.path.join(tmp, f"{name}_real.npy"), os.path.join(tmp, f"{name}_fake.npy")
    np.save(rpath, real)
    np.save(fpath, fake)
    tag = f"{name} (N={n} M={m} D={d})"
    out = os.path.join(tmp, f"{name}.json")
    common = ["--real", rpath, "--fake", fpath, "--k", str(K), "--backend", "cpu"]
    t0 = time.time()
    run_lsc(lsc, ["report"] + common + ["--json", out], tag)
    with open(out) as f:
        rep = json.load(f)
    if stdout_json:
        text = run_lsc(lsc, ["report"] + common + ["--json", "-"], tag)
        try:
            rep2 = json.loads(text)
        except ValueError as e:
            rep2 = None
            c.ok(False, f"{tag}: `--json -` stdout is not JSON ({e}); starts {text[:80]!r}")
        if rep2 is not None:
            c.ok(strip_volatile(rep2) == strip_volatile(rep),
                 f"{tag}: `--json -` and `--json FILE` differ beyond timings_ms")
    t_lsc = time.time() - t0

    c.ok(rep.get("backend") == "cpu", f"{tag}: backend {rep.get('backend')!r}")
    c.ok(rep["inputs"]["real"]["rows"] == n and rep["inputs"]["fake"]["rows"] == m
         and rep["inputs"]["real"]["cols"] == d and rep["inputs"]["fake"]["cols"] == d,
         f"{tag}: inputs {rep['inputs']}")
    neq = min(n, m)
    c.ok(rep["params"].get("spectrum_rows") == neq, f"{tag}: params.spectrum_rows "
                                                    f"{rep['params'].get('spectrum_rows')}, want {neq}")

    # spectra at equal N: the larger set through the CLI's seeded subset
    for key, x in (("real", real), ("fake", fake)):
        rows = x.shape[0]
        xs = x[subset_rows(rows, neq, SEED)] if rows > neq else x
        check_spectrum(c, f"{tag} spectrum.{key}", rep["spectrum"][key], xs, rows)
        if rows > neq:
            allr = rep.get("spectrum_all_rows", {}).get(key)
            if c.ok(allr is not None, f"{tag}: spectrum_all_rows.{key} missing for the subsetted set"):
                check_spectrum(c, f"{tag} spectrum_all_rows.{key}", allr, x, rows)
        else:
            c.ok(key not in rep.get("spectrum_all_rows", {}),
                 f"{tag}: spectrum_all_rows.{key} present, but {key} was not subsetted")

    # all pairs, every row
    pref = {}
    for key, x in (("real", real), ("fake", fake)):
        pref[key] = check_pairs(c, f"{tag} pairwise.{key}", rep["pairwise"][key], x)

    # PRDC (strict)
    counts, border, zr, zf, near_real = ref_prdc(real, fake, K)
    got = rep["prdc"]
    denom = {"precision": m, "recall": n, "density": K * m, "coverage": n}
    worst = 0
    for key in counts:
        gc = got.get(key, float("nan")) * denom[key]
        if gc == gc:
            worst = max(worst, abs(round(gc) - counts[key]))
        c.ok(abs(gc - round(gc)) < 1e-6 and abs(round(gc) - counts[key]) <= border[key],
             f"{tag} prdc.{key}: lsc {got.get(key)!r} ({gc:.6g} of {denom[key]}) vs float64 reference "
             f"{counts[key] / denom[key]!r} ({counts[key]}); {border[key]} borderline")
    c.ok(got.get("zero_radii_real") == zr and got.get("zero_radii_fake") == zf,
         f"{tag} prdc zero radii: lsc {got.get('zero_radii_real')}/{got.get('zero_radii_fake')} vs "
         f"reference {zr}/{zf}")
    c.ok(got.get("k") == K and got.get("real_rows") == n and got.get("fake_rows") == m
         and got.get("comparison") == "strict" and got.get("metric") == "euclidean",
         f"{tag} prdc: k/real_rows/fake_rows/comparison/metric {got.get('k')}/{got.get('real_rows')}/"
         f"{got.get('fake_rows')}/{got.get('comparison')}/{got.get('metric')}")

    # memorisation block
    mem = rep.get("memorisation", {})
    c.ok(mem.get("fake_rows_near_real") == near_real,
         f"{tag} memorisation.fake_rows_near_real: lsc {mem.get('fake_rows_near_real')} vs reference {near_real}")
    listed_rows = {r for p in pref["fake"]["near_duplicates"][:max(m, 100)] for r in p[:2]}
    c.ok(mem.get("fake_rows_in_near_duplicate_pairs") == len(listed_rows),
         f"{tag} memorisation.fake_rows_in_near_duplicate_pairs: lsc "
         f"{mem.get('fake_rows_in_near_duplicate_pairs')} vs reference {len(listed_rows)}")

    # `lsc prdc` gives the report's prdc
    text = run_lsc(lsc, ["prdc", "--real", rpath, "--fake", fpath, "--k", str(K), "--backend", "cpu",
                         "--json", "-"], tag)
    pr = json.loads(text).get("prdc", {})
    keys = ("k", "precision", "recall", "density", "coverage", "zero_radii_real", "zero_radii_fake",
            "real_rows", "fake_rows", "comparison", "metric")
    diff = {k_: (pr.get(k_), got.get(k_)) for k_ in keys if pr.get(k_) != got.get(k_)}
    c.ok(not diff, f"{tag}: `lsc prdc` and `lsc report` prdc differ (prdc, report): {diff}")

    sr, sf = rep["spectrum"]["real"], rep["spectrum"]["fake"]
    print(f"  {tag:<34} erank {sr['effective_rank']:.4g}/{sf['effective_rank']:.4g}  "
          f"P {got['precision']:.3f} R {got['recall']:.3f} D {got['density']:.3f} C {got['coverage']:.3f}  "
          f"dup pairs {rep['pairwise']['fake']['near_duplicate_pairs']}  "
          f"prdc borderline {sum(border.values())}, max count diff {worst}  ({t_lsc:.2f} s in lsc)", flush=True)


def main():
    if len(sys.argv) != 2:
        print("usage: test_report_float64.py PATH/TO/lsc", file=sys.stderr)
        return 2
    lsc = sys.argv[1]
    if not os.access(lsc, os.X_OK):
        print(f"report_float64: '{lsc}' is not an executable file", file=sys.stderr)
        return 2
    c = Checks()
    rng = np.random.default_rng(20261125)
    f32 = np.float32

    def gauss(n, d, scale=1.0, shift=0.0):
        return (rng.standard_normal((n, d)) * scale + shift).astype(f32)

    cases = []
    # different sizes: the real spectrum uses a seeded subset of 500 of its 600 rows
    aniso = np.linspace(0.05, 2.0, 16)  # column variances from 0.0025 to 4 (active_units < D)
    cases.append(("gauss_600v500_d16", (rng.standard_normal((600, 16)) * aniso).astype(f32),
                  (rng.standard_normal((500, 16)) * aniso * 1.1 + 0.1).astype(f32), True))
    # large mean next to the spread: the cancellation case of docs/METRICS.md section 1
    cases.append(("mean50_300v300_d40", gauss(300, 40, 1.0, 50.0), gauss(300, 40, 1.0, 50.0), False))
    # exact duplicate rows in fake: one row 7 times (zero radius at k=5), 30 rows twice, and
    # 5 rows copied from real (memorisation)
    real = gauss(400, 12)
    base = gauss(400 - 6 - 30 - 5, 12, 0.9)
    fake = np.concatenate([np.repeat(base[:1], 7, axis=0), base[1:], base[1:31], real[10:15]])
    fake = fake[rng.permutation(fake.shape[0])].astype(f32)
    cases.append(("dups_400v400_d12", real, fake, False))
    # N < D: the N x N Gram path; fake larger, so the fake spectrum uses a subset
    cases.append(("wide_60v80_d100", gauss(60, 100, 1.0, 0.5), gauss(80, 100, 1.2, 0.5), False))

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="lsc-report-f64-") as tmp:
        for name, real, fake, stdout_json in cases:
            try:
                check_case(c, lsc, tmp, name, real, fake, stdout_json)
            except (RuntimeError, ValueError, KeyError, TypeError) as e:
                c.ok(False, f"{name}: {type(e).__name__}: {e}")

    print(f"report_float64: {c.passed} passed, {len(c.failed)} failed ({time.time() - t0:.1f} s)")
    if c.failed:
        print("report_float64: failures:\n  " + "\n  ".join(c.failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
