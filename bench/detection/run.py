#!/usr/bin/env python3
"""Detection benchmark for lsc's collapse verdicts: how often each verdict fires on cases whose
truth is known, built from real data nobody tuned on (scikit-learn's digits, 1797 8x8 images)
plus a few synthetic Gaussian latents. A benchmark, not a test: it asserts nothing, it counts.

Each cell (one kind of generator, one feature space, one pair of sizes, one k) is run over
independent random draws (a seeded numpy Generator per draw). Every draw writes a real and a
generated set as float32 .npy files and calls

    lsc report --real R.npy --fake F.npy --k K --seed S --json OUT

then records, from the JSON, the level of every check of the verdict engine ("verdicts", when the
CLI has it; "n/a" otherwise) and which checks the fixed-threshold readings flag (deprecated:
"readings_fixed_thresholds" in the JSON; "readings" before the readings were made from the
verdicts). See README.md (same folder) for the protocol, the cells and what "held out" means.

Usage (from anywhere; the CLI defaults to build-bench/tools/lsc of this checkout):
    /work/bench-venv/bin/python bench/detection/run.py --quick
    /work/bench-venv/bin/python bench/detection/run.py      # the full run -> bench/detection/results.json
    options: --draws N  --quick  --cells REGEX  --out FILE  --jobs J  --seed S  --lsc PATH  --list

The full run (default, 20 draws): 161 cells x 20 draws = 3220 reports. Per feature space (raw
pixels, PCA-32, MLP hidden layer; 51 cells each): healthy (8 size pairs), "c of 10" mode collapse
(c = 3, 5, 7, 9 x 6 size pairs), "1500 shifted" healthy and 5 of 10, near copies, mode averaging,
blur 0.7, a 10-component Gaussian mixture, half-space cut, VQ latents, offset latents, the real
rows' labels given (--labels: healthy and 5, 7, 9 of 10 at 898/pool; which classes are named
missing), and k = 3,
10, 20 for healthy 898/899 and 5 of 10 898/pool; in the PCA-32 space also partial posterior
collapse and its control (2); Gaussian latents at D = 64, 128, 512, healthy and half cut (6).
Measured on 2 cores (AMD EPYC, --jobs 2, lsc --threads 1), lsc 0.2.0 at commit 6e61d6d (the
first with "verdicts"), with other sessions' work sharing the machine (load average 6-6.6): the
full run took 853 s wall (14.2 min; per report 0.27 s median, 0.37 s at D = 64, 11.8 s at
D = 512); --quick (57 cells x 3 draws = 171 reports) 52 to 69 s. Before the verdict engine (readings
only, load 4-5) the full run took 297 s. Every run prints a projected full-run time from its own
costs; if that passes 40 minutes on 2 cores, lower --draws.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

# One BLAS/OpenMP thread per worker process: the parallelism is across draws (--jobs), and the
# CLI gets its own --threads. Must be set before numpy is imported.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_LSC = os.path.join(ROOT, "build-bench", "tools", "lsc")

CHECKS = ["mode_collapse", "low_fidelity", "diversity_loss", "dimensional_collapse",
          "memorisation", "posterior_collapse"]
LEVELS = ["ok", "borderline", "collapse", "not_assessed", "n/a", "error"]
# today's readings can also say "all rows identical" (degenerate) or something this table
# does not know yet (other)
READING_CHECKS = CHECKS + ["degenerate", "other"]
ABBR = {"mode_collapse": "mode", "low_fidelity": "fid", "diversity_loss": "div",
        "dimensional_collapse": "dim", "memorisation": "mem", "posterior_collapse": "post",
        "degenerate": "degen", "other": "other"}

# tools/report.c cli_readings (the report's "readings_fixed_thresholds"): each reading string's
# start -> (check, which test). First match.
READING_MAP = [
    ("dimensional collapse", "dimensional_collapse", "effective_rank"),
    ("mode collapse: fake vendi", "mode_collapse", "vendi"),
    ("mode collapse: coverage", "mode_collapse", "coverage"),
    ("mode collapse", "mode_collapse", "other"),
    ("low fidelity", "low_fidelity", "precision"),
    ("memorisation or a stuck sampler", "memorisation", "near_duplicate_pairs"),
    ("memorisation", "memorisation", "near_real"),
    ("stuck encoder", "memorisation", "one_set_duplicates"),
    ("posterior collapse", "posterior_collapse", "active_units"),
    ("fake: all rows identical", "degenerate", "fake_identical"),
    ("real: all rows identical", "degenerate", "real_identical"),
]
NO_COLLAPSE = "no collapse detected"

N_REAL_POOL = 898  # digits: 1797 rows = 898 real + 899 generated pool
# "mlp" was held out until its blur cell was used to set the concentration cap (docs/METRICS.md
# section 8); "ae" replaced it
HELD_OUT_GROUPS = ("ae", "gauss")

# ---------------------------------------------------------------------------------------------
# the cells


def _cell(name, group, family, kind, expect, k=5, quick=False, **params):
    return {"name": name, "group": group, "family": family, "kind": kind, "expect": list(expect),
            "k": k, "quick": quick, "held_out": group in HELD_OUT_GROUPS, "params": params}


MODE = ("mode_collapse", "diversity_loss")


def all_cells():
    cells = []
    for sp in ("raw", "pca32", "mlp", "ae"):
        P = sp + "/"
        # healthy: held-out rows
        for m in (45, 90, 180, 300, 450, None):
            nm = "899" if m is None else str(m)
            cells.append(_cell(P + "healthy 898/" + nm, sp, "healthy", "healthy", (),
                               quick=m in (45, None), n_real=None, n_fake=m))
        for n in (150, 300):
            cells.append(_cell(P + "healthy %d/%d" % (n, n), sp, "healthy", "healthy", (),
                               quick=n == 150, n_real=n, n_fake=n))
        # c of 10
        for c in (3, 5, 7, 9):
            for n in (150, 300):
                cells.append(_cell(P + "%dof10 %d/%d" % (c, n, n), sp, "c of 10", "cof10", MODE,
                                   quick=(c == 3 and n == 150), c=c, n_real=n, n_fake=n))
            cells.append(_cell(P + "%dof10 898/pool" % c, sp, "c of 10", "cof10", MODE,
                               quick=c in (5, 9), c=c, n_real=None, n_fake=None))
            for m in (45, 90, 180):
                cells.append(_cell(P + "%dof10 898/%d" % (c, m), sp, "c of 10", "cof10", MODE,
                                   c=c, n_real=None, n_fake=m))
        # 1500 shifted
        cells.append(_cell(P + "shifted healthy 1500/1500", sp, "shifted", "shifted", (),
                           quick=True, c=None))
        cells.append(_cell(P + "shifted 5of10 1500/1500", sp, "shifted", "shifted", MODE,
                           quick=True, c=5))
        cells.append(_cell(P + "near copies 5%", sp, "near copies", "near_copies",
                           ("memorisation",), quick=True, frac=0.05, umax=0.25))
        cells.append(_cell(P + "mode averaging", sp, "mode averaging", "mode_avg",
                           ("low_fidelity",), quick=True))
        cells.append(_cell(P + "blur 0.7", sp, "blur", "blur", ("low_fidelity", "diversity_loss"),
                           quick=True, sigma=0.7))
        cells.append(_cell(P + "gmm10 (imperfect, not collapsed)", sp, "gmm", "gmm", (),
                           quick=True, n_components=10))
        cells.append(_cell(P + "half-space cut z1>med", sp, "half-space", "halfspace", MODE,
                           quick=True))
        cells.append(_cell(P + "vq16 latents (healthy)", sp, "vq", "vq", (), quick=True, codes=16))
        cells.append(_cell(P + "offset +50 (healthy)", sp, "offset", "offset", (), quick=True,
                           delta=50.0))
        # with the real rows' class labels (--labels): the classes named missing
        cells.append(_cell(P + "labels healthy 898/899", sp, "labels", "labels", (),
                           quick=True, c=None))
        for c in (5, 7, 9):
            cells.append(_cell(P + "labels %dof10 898/pool" % c, sp, "labels", "labels", MODE,
                               quick=c == 9, c=c))
        # k sweep (k = 5 is the healthy 898/899 and 5of10 898/pool cells above)
        for k in (3, 10, 20):
            cells.append(_cell(P + "healthy 898/899 k=%d" % k, sp, "k sweep", "healthy", (), k=k,
                               quick=k == 20, n_real=None, n_fake=None))
            cells.append(_cell(P + "5of10 898/pool k=%d" % k, sp, "k sweep", "cof10", MODE, k=k,
                               quick=k == 20, c=5, n_real=None, n_fake=None))
        if sp == "pca32":
            cells.append(_cell(P + "posterior 16 of 32 inactive", sp, "posterior", "posterior",
                               ("posterior_collapse", "dimensional_collapse"), quick=True,
                               inactive=16))
            cells.append(_cell(P + "posterior control 32 of 32 active", sp, "posterior",
                               "posterior", (), quick=True, inactive=0))
    for d in (64, 128, 512):
        cells.append(_cell("gauss/D%d healthy 2000/1000" % d, "gauss", "gauss", "gauss", (),
                           quick=d in (64, 512), D=d, cut=False))
        cells.append(_cell("gauss/D%d half cut z1>0 2000/1000" % d, "gauss", "gauss", "gauss", MODE,
                           quick=d in (64, 512), D=d, cut=True))
    return cells


# ---------------------------------------------------------------------------------------------
# data of one draw


def seed_seq(base, draw, name):
    h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return np.random.SeedSequence([base & 0xFFFFFFFF, draw, h & 0xFFFFFFFF, h >> 32])


_DIGITS = None


def digits():
    global _DIGITS
    if _DIGITS is None:
        from sklearn.datasets import load_digits
        d = load_digits()
        _DIGITS = (d.data.astype(np.float64), d.target.astype(np.int64))
    return _DIGITS


class Ctx:
    """One draw of one group: the split, the fitted feature map, and lazily shared pieces."""

    def __init__(self, group, draw, base):
        self.group, self.draw, self.base = group, draw, base
        self.memo = {}
        if group == "gauss":
            return
        X, y = digits()
        perm = self.rng("split").permutation(len(X))  # the same split for every space
        ri, gi = perm[:N_REAL_POOL], perm[N_REAL_POOL:]
        self.Xr, self.yr, self.Xg, self.yg = X[ri], y[ri], X[gi], y[gi]
        self.fmap = fit_map(group, self.Xr, self.yr, self.rng(group + "/map"))
        self.Fr, self.Fg = self.fmap(self.Xr), self.fmap(self.Xg)

    def rng(self, name):
        return np.random.default_rng(seed_seq(self.base, self.draw, name))

    def lazy(self, key, fn):
        if key not in self.memo:
            self.memo[key] = fn()
        return self.memo[key]


def fit_map(group, Xr, yr, rng):
    if group == "raw":
        return lambda X: X
    if group == "pca32":
        from sklearn.decomposition import PCA
        p = PCA(32, random_state=int(rng.integers(2**31))).fit(Xr)
        return p.transform
    if group == "mlp":
        import warnings
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        mlp = MLPClassifier(hidden_layer_sizes=(64,), activation="relu", max_iter=300,
                            random_state=int(rng.integers(2**31)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(Xr / 16.0, yr)
        W, b = mlp.coefs_[0], mlp.intercepts_[0]
        return lambda X: np.maximum(X / 16.0 @ W + b, 0.0)
    if group == "ae":
        # an autoencoder's bottleneck: a latent space in the sense lsc's users have one
        import warnings
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor
        ae = MLPRegressor(hidden_layer_sizes=(32,), activation="relu", max_iter=300,
                          random_state=int(rng.integers(2**31)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ae.fit(Xr / 16.0, Xr / 16.0)
        W, b = ae.coefs_[0], ae.intercepts_[0]
        return lambda X: np.maximum(X / 16.0 @ W + b, 0.0)
    raise ValueError(group)


def take(rng, A, n):
    """n random rows of A without replacement (all of A, shuffled, when n is None or >= rows)."""
    if n is None or n >= len(A):
        return A[rng.permutation(len(A))]
    return A[rng.choice(len(A), n, replace=False)]


def b_healthy(ctx, rng, n_real, n_fake):
    return take(rng, ctx.Fr, n_real), take(rng, ctx.Fg, n_fake)


def b_cof10(ctx, rng, c, n_real, n_fake):
    classes = rng.choice(10, c, replace=False)
    pool = ctx.Fg[np.isin(ctx.yg, classes)]
    return take(rng, ctx.Fr, n_real), take(rng, pool, n_fake)


def b_labels(ctx, rng, c):
    """The real pool with its labels against generated rows of c random classes (every class
    when c is None); the third item tells run_lsc the labels and the truly missing classes."""
    kept = np.arange(10) if c is None else rng.choice(10, c, replace=False)
    idx = rng.permutation(len(ctx.Fr))
    fake = take(rng, ctx.Fg[np.isin(ctx.yg, kept)], None)
    missing = sorted(int(x) for x in set(range(10)) - set(int(k) for k in kept))
    return ctx.Fr[idx], fake, {"labels": ctx.yr[idx], "missing": missing}


def _shifted_pools(ctx):
    def make():
        r = ctx.rng("shift-pools")
        Ar = np.repeat(ctx.Xr, 5, axis=0)
        Ag = np.repeat(ctx.Xg, 5, axis=0)
        Ar = Ar + r.normal(0.0, 0.5, Ar.shape)
        Ag = Ag + r.normal(0.0, 0.5, Ag.shape)
        return ctx.fmap(Ar), ctx.fmap(Ag), np.repeat(ctx.yg, 5)
    return ctx.lazy("shifted", make)


def b_shifted(ctx, rng, c):
    Ar, Ag, yAg = _shifted_pools(ctx)
    if c is not None:
        Ag = Ag[np.isin(yAg, rng.choice(10, c, replace=False))]
    return take(rng, Ar, 1500), take(rng, Ag, 1500)


def _median_nn(ctx):
    def make():
        from sklearn.neighbors import NearestNeighbors
        d, _ = NearestNeighbors(n_neighbors=2).fit(ctx.Fr).kneighbors(ctx.Fr)
        return float(np.median(d[:, 1]))
    return ctx.lazy("median_nn", make)


def b_near_copies(ctx, rng, frac, umax):
    fake = take(rng, ctx.Fg, None).copy()
    n = int(round(frac * len(fake)))
    pos = rng.choice(len(fake), n, replace=False)
    src = ctx.Fr[rng.choice(len(ctx.Fr), n, replace=False)]
    direc = rng.normal(size=src.shape)
    direc /= np.linalg.norm(direc, axis=1, keepdims=True)
    u = umax * (1.0 - rng.random(n))  # uniform in (0, umax]
    fake[pos] = src + direc * (u * _median_nn(ctx))[:, None]
    return take(rng, ctx.Fr, None), fake


def b_mode_avg(ctx, rng):
    mu, cov = ctx.Fr.mean(0), np.cov(ctx.Fr, rowvar=False)
    return take(rng, ctx.Fr, None), rng.multivariate_normal(mu, cov, size=len(ctx.Fg),
                                                            method="eigh")


def blur_images(X, sigma):
    imgs = X.reshape(-1, 8, 8)
    try:
        from scipy.ndimage import gaussian_filter
        out = gaussian_filter(imgs, sigma=(0, sigma, sigma))
    except ImportError:  # 3x3 box: 0.3 of the pixel + 0.7 of its 8 neighbours' mean
        p = np.pad(imgs, ((0, 0), (1, 1), (1, 1)), mode="edge")
        s = sum(p[:, 1 + dy:9 + dy, 1 + dx:9 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        out = 0.3 * imgs + 0.7 * (s - imgs) / 8.0
    return out.reshape(len(X), 64)


def b_blur(ctx, rng, sigma):
    return take(rng, ctx.Fr, None), take(rng, ctx.fmap(blur_images(ctx.Xg, sigma)), None)


def b_gmm(ctx, rng, n_components):
    from sklearn.mixture import GaussianMixture
    g = GaussianMixture(n_components, covariance_type="full", reg_covar=1e-2,
                        random_state=int(rng.integers(2**31))).fit(ctx.Fr)
    fake, _ = g.sample(len(ctx.Fg))
    return take(rng, ctx.Fr, None), take(rng, fake, None)


def b_halfspace(ctx, rng):
    mu = ctx.Fr.mean(0)
    _, _, Vt = np.linalg.svd(ctx.Fr - mu, full_matrices=False)
    zr, zg = (ctx.Fr - mu) @ Vt[0], (ctx.Fg - mu) @ Vt[0]
    return take(rng, ctx.Fr, None), take(rng, ctx.Fg[zg > np.median(zr)], None)


def b_vq(ctx, rng, codes):
    from sklearn.cluster import KMeans
    km = KMeans(codes, n_init=3, random_state=int(rng.integers(2**31))).fit(ctx.Fr)
    C = km.cluster_centers_
    return take(rng, C[km.labels_], None), take(rng, C[km.predict(ctx.Fg)], None)


def b_offset(ctx, rng, delta):
    return take(rng, ctx.Fr, None) + delta, take(rng, ctx.Fg, None) + delta


def b_posterior(ctx, rng, inactive):
    assert ctx.group == "pca32"
    fake = take(rng, ctx.Fg, None).copy()
    if inactive:
        var = 1e-4 * float(np.median(ctx.Fr.var(0)))
        d = fake.shape[1]
        fake[:, d - inactive:] = rng.normal(0.0, np.sqrt(var), (len(fake), inactive))
    return take(rng, ctx.Fr, None), fake


def b_gauss(ctx, rng, D, cut):
    real = rng.normal(size=(2000, D))
    fake = rng.normal(size=(1000, D))
    if cut:
        fake[:, 0] = np.abs(fake[:, 0])
    return real, fake


BUILDERS = {"healthy": b_healthy, "cof10": b_cof10, "shifted": b_shifted,
            "near_copies": b_near_copies, "mode_avg": b_mode_avg, "blur": b_blur, "gmm": b_gmm,
            "halfspace": b_halfspace, "vq": b_vq, "offset": b_offset, "posterior": b_posterior,
            "gauss": b_gauss, "labels": b_labels}

# ---------------------------------------------------------------------------------------------
# one report


def map_readings(readings):
    flagged, tests = set(), []
    for s in readings:
        if s.startswith(NO_COLLAPSE):
            continue
        for prefix, check, test in READING_MAP:
            if s.startswith(prefix):
                flagged.add(check)
                tests.append(check + "/" + test)
                break
        else:
            flagged.add("other")
            tests.append("other")
    return sorted(flagged), tests


def figures(j):
    g = lambda *path: _dig(j, path)  # noqa: E731
    return {
        "precision": g("prdc", "precision"), "recall": g("prdc", "recall"),
        "density": g("prdc", "density"), "coverage": g("prdc", "coverage"),
        "coverage_expected": g("prdc", "coverage_expected"),
        "zero_radii_real": g("prdc", "zero_radii_real"),
        "eff_rank_real": g("spectrum", "real", "effective_rank"),
        "eff_rank_fake": g("spectrum", "fake", "effective_rank"),
        "vendi_real": g("spectrum", "real", "vendi_cosine"),
        "vendi_fake": g("spectrum", "fake", "vendi_cosine"),
        "active_real": g("spectrum", "real", "active_units"),
        "active_fake": g("spectrum", "fake", "active_units"),
        "mem_fraction": g("memorisation", "fraction"),
        "fake_dup_rows": g("memorisation", "fake_rows_in_near_duplicate_pairs"),
        "lsc_total_ms": g("timings_ms", "total"),
    }


def _dig(j, path):
    for p in path:
        if not isinstance(j, dict) or p not in j:
            return None
        j = j[p]
    return j


def run_lsc(lsc, real, fake, k, seed, tmp, threads, labels=None):
    rp, fp, jp = (os.path.join(tmp, n) for n in ("real.npy", "fake.npy", "out.json"))
    np.save(rp, np.ascontiguousarray(real, dtype=np.float32))
    np.save(fp, np.ascontiguousarray(fake, dtype=np.float32))
    if os.path.exists(jp):
        os.remove(jp)
    cmd = [lsc, "report", "--real", rp, "--fake", fp, "--k", str(k), "--seed", str(seed),
           "--json", jp, "--threads", str(threads)]
    if labels is not None:
        lp = os.path.join(tmp, "labels.npy")
        np.save(lp, np.ascontiguousarray(labels, dtype=np.int64))
        cmd += ["--labels", lp]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rec = {"N": int(real.shape[0]), "M": int(fake.shape[0]), "D": int(real.shape[1]), "k": k,
           "lsc_seed": seed, "report_s": time.perf_counter() - t0}
    if p.returncode != 0 or not os.path.exists(jp):
        rec.update(error="exit %d: %s" % (p.returncode, p.stderr.strip()[-500:]),
                   levels={c: "error" for c in CHECKS}, verdict="error", readings=[],
                   readings_checks=[], readings_tests=[], stats={}, figures={})
        return rec
    with open(jp) as f:
        j = json.load(f)
    V = j.get("verdicts")
    levels, stats, vrec = {}, {}, None
    if isinstance(V, dict):
        vrec = V
        for c in CHECKS:
            v = V.get(c)
            levels[c] = v.get("level", "n/a") if isinstance(v, dict) else "n/a"
            st = v.get("statistic") if isinstance(v, dict) else None
            stats[c] = {"name": st.get("name"), "value": st.get("value"),
                        "matched": st.get("matched")} if isinstance(st, dict) else None
    else:
        levels = {c: "n/a" for c in CHECKS}
        stats = {c: None for c in CHECKS}
    verdict = j.get("verdict", "n/a")
    if isinstance(verdict, dict):  # tolerate {"level": ...}
        verdict = verdict.get("level", "n/a")
    # the fixed-threshold readings: their own key since "readings" is made from the verdicts; an
    # older CLI wrote them as "readings"
    fixed = j.get("readings_fixed_thresholds")
    if fixed is None:
        fixed = j.get("readings", [])
    readings = [r for r in fixed if isinstance(r, str)]
    flagged, tests = map_readings(readings)
    rec.update(levels=levels, verdict=verdict, stats=stats, verdicts=vrec, readings=readings,
               readings_checks=flagged, readings_tests=tests, figures=figures(j))
    if labels is not None:  # the classes named missing (borderline or worse)
        rec["classes_missing"] = sorted(
            int(c["label"]) for c in j.get("classes", [])
            if c.get("missing", {}).get("level") in ("borderline", "collapse"))
    return rec


def run_task(task):
    """All selected cells of one group for one draw (they share the split and the fitted map)."""
    group, draw, base, cells, lsc, threads = (task[x] for x in
                                              ("group", "draw", "base", "cells", "lsc", "threads"))
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except Exception:
        pass
    t0 = time.perf_counter()
    ctx = Ctx(group, draw, base)
    prep = time.perf_counter() - t0
    out = []
    lsc_seed = (base * 1000 + draw) % (2**31)
    with tempfile.TemporaryDirectory(prefix="lsc-detect-") as tmp:
        for cell in cells:
            tb = time.perf_counter()
            rng = np.random.default_rng(seed_seq(base, draw, cell["name"]))
            built = BUILDERS[cell["kind"]](ctx, rng, **cell["params"])
            real, fake = built[0], built[1]
            extra = built[2] if len(built) > 2 else None
            build_s = time.perf_counter() - tb
            rec = run_lsc(lsc, real, fake, cell["k"], lsc_seed, tmp, threads,
                          labels=extra["labels"] if extra else None)
            if extra:
                rec["classes_truly_missing"] = extra["missing"]
            rec.update(draw=draw, build_s=build_s, cell_s=time.perf_counter() - tb)
            out.append((cell["name"], rec))
    return {"group": group, "draw": draw, "prep_s": prep, "wall_s": time.perf_counter() - t0,
            "records": out}


# ---------------------------------------------------------------------------------------------
# summaries


def summarise(cell, recs):
    n = len(recs)
    counts = {c: {lv: 0 for lv in LEVELS} for c in CHECKS}
    rcounts = {c: 0 for c in READING_CHECKS}
    rtests, overall = {}, {}
    stat_vals = {c: [] for c in CHECKS}
    stat_matched = {c: [] for c in CHECKS}
    stat_name = {c: None for c in CHECKS}
    for r in recs:
        for c in CHECKS:
            lv = r["levels"].get(c, "n/a")
            counts[c][lv if lv in counts[c] else "n/a"] += 1
            st = (r.get("stats") or {}).get(c)
            if st and isinstance(st.get("value"), (int, float)):
                stat_vals[c].append(float(st["value"]))
                stat_name[c] = st.get("name")
                if isinstance(st.get("matched"), (int, float)):
                    stat_matched[c].append(float(st["matched"]))
        for c in r["readings_checks"]:
            rcounts[c] += 1
        for t in r["readings_tests"]:
            rtests[t] = rtests.get(t, 0) + 1
        overall[r["verdict"]] = overall.get(r["verdict"], 0) + 1
    figs = {}
    for key in (recs[0]["figures"] if recs else {}):
        vals = [r["figures"].get(key) for r in recs]
        vals = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
        figs[key] = float(np.mean(vals)) if vals else None
    exp = cell["expect"]
    if exp:  # a collapse cell: a hit is one of the expected checks firing
        v_hit = sum(any(r["levels"].get(c) == "collapse" for c in exp) for r in recs)
        v_bord = sum(any(r["levels"].get(c) in ("collapse", "borderline") for c in exp)
                     for r in recs)
        r_hit = sum(any(c in r["readings_checks"] for c in exp) for r in recs)
    else:  # a healthy cell: a hit is a false alarm (any check at collapse / any reading)
        v_hit = sum(any(r["levels"].get(c) == "collapse" for c in CHECKS) for r in recs)
        v_bord = sum(any(r["levels"].get(c) in ("collapse", "borderline") for c in CHECKS)
                     for r in recs)
        r_hit = sum(bool(r["readings_checks"]) for r in recs)
    have_verdicts = any(r["levels"].get(c) not in ("n/a", "error") for r in recs for c in CHECKS)
    return {
        "draws": n, "errors": sum("error" in r for r in recs),
        "N": sorted({r["N"] for r in recs}), "M": sorted({r["M"] for r in recs}),
        "D": sorted({r["D"] for r in recs}),
        "level_counts": counts, "verdict_counts": overall,
        "readings_counts": rcounts, "readings_test_counts": rtests,
        "mean_statistic": {c: ({"name": stat_name[c], "value": float(np.mean(stat_vals[c])),
                                "matched": (float(np.mean(stat_matched[c]))
                                            if stat_matched[c] else None),
                                "n": len(stat_vals[c])} if stat_vals[c] else None)
                           for c in CHECKS},
        "mean_figures": figs,
        "truth": "collapse" if exp else "healthy",
        "verdict_hits": v_hit if have_verdicts else None,
        "verdict_hits_incl_borderline": v_bord if have_verdicts else None,
        "readings_hits": r_hit,
        "classes": _class_summary(recs),
        "mean_report_s": float(np.mean([r["report_s"] for r in recs])) if recs else None,
        "mean_cell_s": float(np.mean([r["cell_s"] for r in recs])) if recs else None,
    }


def _class_summary(recs):
    """With --labels: truly missing classes named missing (borderline or worse), and classes
    named that were not missing, over all draws."""
    recs = [r for r in recs if "classes_missing" in r]
    if not recs:
        return None
    truth = sum(len(r["classes_truly_missing"]) for r in recs)
    named = sum(len(set(r["classes_missing"]) & set(r["classes_truly_missing"])) for r in recs)
    false = sum(len(set(r["classes_missing"]) - set(r["classes_truly_missing"])) for r in recs)
    every = sum(set(r["classes_truly_missing"]) <= set(r["classes_missing"]) for r in recs)
    return {"missing": truth, "named": named, "false": false, "draws_all_named": every,
            "draws": len(recs)}


def _range(vals):
    return str(vals[0]) if len(vals) == 1 else "%d-%d" % (vals[0], vals[-1])


def _levels_text(s):
    """The checks that left 'ok' in some draw, with their commonest non-ok level."""
    parts = []
    for c in CHECKS:
        cnt = s["level_counts"][c]
        for lv in ("collapse", "borderline", "error"):
            if cnt[lv]:
                parts.append("%s %s %d" % (ABBR[c], lv[:4], cnt[lv]))
    if not parts:
        if all(s["level_counts"][c]["n/a"] == s["draws"] for c in CHECKS):
            return "n/a"
        na = [ABBR[c] for c in CHECKS if s["level_counts"][c]["not_assessed"]]
        return "all ok" + (" (not assessed: %s)" % ",".join(na) if na else "")
    return ", ".join(parts)


def markdown(cells, summaries):
    lines = []
    for title, held in (("Tuned-on families (raw pixels, PCA-32)", False),
                        ("Held out, not tuned on (MLP hidden layer, Gaussian latents)", True)):
        rows = [c for c in cells if c["held_out"] == held and c["name"] in summaries]
        if not rows:
            continue
        lines.append("")
        lines.append("### " + title)
        lines.append("")
        lines.append("| cell | truth | N/M | D | k | draws | verdict | checks not ok (level count) "
                     "| hits: verdict / readings | readings fired (draws) | mean P / R / C |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for c in rows:
            s = summaries[c["name"]]
            vc = ", ".join("%s %d" % (k, v) for k, v in
                           sorted(s["verdict_counts"].items(), key=lambda kv: -kv[1]))
            rd = ", ".join("%s %d" % (ABBR[k], v) for k, v in s["readings_counts"].items() if v)
            truth = ("+".join(ABBR[e] for e in c["expect"])) if c["expect"] else "healthy"
            vh = "-" if s["verdict_hits"] is None else str(s["verdict_hits"])
            mf = s["mean_figures"]
            prc = " / ".join("-" if mf.get(x) is None else "%.2f" % mf[x]
                             for x in ("precision", "recall", "coverage"))
            lines.append("| %s | %s | %s/%s | %s | %d | %d | %s | %s | %s / %d | %s | %s |" % (
                c["name"], truth, _range(s["N"]), _range(s["M"]), _range(s["D"]), c["k"],
                s["draws"], vc, _levels_text(s), vh, s["readings_hits"], rd or "none", prc))
        # per section totals
        for truth in ("healthy", "collapse"):
            ss = [summaries[c["name"]] for c in rows if summaries[c["name"]]["truth"] == truth]
            if not ss:
                continue
            n = sum(s["draws"] for s in ss)
            rh = sum(s["readings_hits"] for s in ss)
            vh = [s["verdict_hits"] for s in ss if s["verdict_hits"] is not None]
            what = "false alarms" if truth == "healthy" else "detections (an expected check)"
            lines.append("")
            lines.append("%s cells, %s: verdicts %s, readings %d/%d (%.0f%%)" % (
                truth, what, ("%d/%d" % (sum(vh), n)) if vh else "n/a", rh, n, 100.0 * rh / n))
        cls = [(c, summaries[c["name"]]["classes"]) for c in rows
               if summaries[c["name"]].get("classes")]
        if cls:
            lines.append("")
            lines.append("| cell (--labels) | truly missing classes named missing | draws with "
                         "every one named | classes named but not missing |")
            lines.append("|---|---|---|---|")
            for c, k in cls:
                lines.append("| %s | %d / %d | %d / %d | %d |" % (
                    c["name"], k["named"], k["missing"], k["draws_all_named"], k["draws"],
                    k["false"]))
    return "\n".join(lines)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def lsc_version(lsc):
    try:
        p = subprocess.run([lsc, "--version"], capture_output=True, text=True, timeout=10)
        return (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr) else None
    except Exception:
        return None


def git_head():
    try:
        p = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                           text=True, timeout=10)
        return p.stdout.strip() or None
    except Exception:
        return None


def projection(cells_all, tasks_out, jobs, draws):
    """Full-run wall time from this run's costs: per group, the fitted map's time per draw plus
    the mean time per cell (building the data + the report) times the full run's cells."""
    per_group = {}
    for t in tasks_out:
        g = per_group.setdefault(t["group"], {"prep": [], "cell": []})
        g["prep"].append(t["prep_s"])
        g["cell"] += [r["cell_s"] for _, r in t["records"]]
    total = 0.0
    for g, v in per_group.items():
        n_cells = sum(c["group"] == g for c in cells_all)
        total += draws * (np.mean(v["prep"]) + n_cells * np.mean(v["cell"]))
    missing = sorted({c["group"] for c in cells_all} - set(per_group))
    return total / max(1, jobs), missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=None, help="draws per cell (default 20; 3 "
                    "with --quick)")
    ap.add_argument("--quick", action="store_true", help="3 draws, a subset of the cells")
    ap.add_argument("--cells", default=None, help="regular expression (re.search) on the cell "
                    "names, applied to the full list (to the quick subset with --quick)")
    ap.add_argument("--out", default=None, help="JSON with every draw's record "
                    "(default: bench/detection/results.json, results_quick.json with --quick)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel worker processes (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="base seed of every draw (default 0)")
    ap.add_argument("--lsc", default=os.environ.get("LSC", DEFAULT_LSC),
                    help="the lsc CLI (default $LSC or build-bench/tools/lsc)")
    ap.add_argument("--threads", type=int, default=None,
                    help="--threads for each lsc call (default: cores / jobs)")
    ap.add_argument("--list", action="store_true", help="list the selected cells and exit")
    a = ap.parse_args()

    full = all_cells()
    cells = [c for c in full if c["quick"]] if a.quick else list(full)
    if a.cells:
        rx = re.compile(a.cells)
        cells = [c for c in cells if rx.search(c["name"])]
    draws = a.draws if a.draws is not None else (3 if a.quick else 20)
    if a.list:
        for c in cells:
            print("%-48s %-7s k=%-2d held_out=%d expect=%s" % (
                c["name"], c["group"], c["k"], c["held_out"], ",".join(c["expect"]) or "-"))
        print("%d cells x %d draws = %d reports" % (len(cells), draws, len(cells) * draws))
        return 0
    if not cells:
        print("no cell matches", file=sys.stderr)
        return 2
    if not (os.path.isfile(a.lsc) and os.access(a.lsc, os.X_OK)):
        print("lsc CLI not found: %s (build it, or pass --lsc)" % a.lsc, file=sys.stderr)
        return 2
    ncpu = os.cpu_count() or 1
    threads = a.threads or max(1, ncpu // max(1, a.jobs))
    out_path = a.out or os.path.join(HERE, "results_quick.json" if a.quick else "results.json")

    groups = []
    for c in cells:
        if c["group"] not in groups:
            groups.append(c["group"])
    # the costly groups first, so the pool ends evenly
    order = {"mlp": 0, "ae": 1, "gauss": 2, "pca32": 3, "raw": 4}
    groups.sort(key=lambda g: order.get(g, 9))
    tasks = [{"group": g, "draw": d, "base": a.seed, "lsc": a.lsc, "threads": threads,
              "cells": [c for c in cells if c["group"] == g]}
             for g in groups for d in range(draws)]

    print("lsc detection benchmark: %d cells x %d draws = %d reports, %d tasks, --jobs %d, "
          "lsc --threads %d" % (len(cells), draws, len(cells) * draws, len(tasks), a.jobs,
                                threads), file=sys.stderr)
    t0 = time.perf_counter()
    results = []
    if a.jobs <= 1:
        for i, t in enumerate(tasks):
            results.append(run_task(t))
            print("  [%d/%d] %s draw %d (%.1f s)" % (i + 1, len(tasks), t["group"], t["draw"],
                                                     results[-1]["wall_s"]), file=sys.stderr)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed
        with ProcessPoolExecutor(max_workers=a.jobs) as ex:
            futs = {ex.submit(run_task, t): t for t in tasks}
            for i, fu in enumerate(as_completed(futs)):
                r = fu.result()
                results.append(r)
                print("  [%d/%d] %s draw %d (%.1f s)" % (i + 1, len(tasks), r["group"],
                                                         r["draw"], r["wall_s"]),
                      file=sys.stderr)
    wall = time.perf_counter() - t0

    by_cell = {c["name"]: [] for c in cells}
    for t in results:
        for name, rec in t["records"]:
            by_cell[name].append(rec)
    for v in by_cell.values():
        v.sort(key=lambda r: r["draw"])
    summaries = {c["name"]: summarise(c, by_cell[c["name"]]) for c in cells}

    reports = [r for v in by_cell.values() for r in v]
    rep_s = [r["report_s"] for r in reports]
    by_d = {}
    for r in reports:
        by_d.setdefault(r["D"], []).append(r["report_s"])
    proj, missing = projection(full, results, a.jobs, 20)
    machine = {"cpu": cpu_model(), "cores": ncpu, "platform": platform.platform(),
               "python": platform.python_version(), "numpy": np.__version__}
    try:
        import sklearn
        machine["sklearn"] = sklearn.__version__
    except Exception:
        pass
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv[1:], "draws": draws,
            "quick": a.quick, "cells_pattern": a.cells, "jobs": a.jobs, "lsc_threads": threads,
            "seed": a.seed, "lsc": a.lsc, "lsc_version": lsc_version(a.lsc),
            "git_head": git_head(), "machine": machine,
            "wall_s": wall, "reports": len(reports),
            "mean_report_s": float(np.mean(rep_s)), "median_report_s": float(np.median(rep_s)),
            "mean_report_s_by_D": {str(d): float(np.mean(v)) for d, v in sorted(by_d.items())},
            "verdicts_present": any(r["levels"].get(c) not in ("n/a", "error")
                                    for r in reports for c in CHECKS),
            "errors": sum("error" in r for r in reports),
            "projected_full_run_s (20 draws, same jobs)": proj,
            "projection_missing_groups": missing,
            "held_out_groups": list(HELD_OUT_GROUPS)}
    doc = {"meta": meta, "checks": CHECKS, "levels": LEVELS,
           "cells": [dict(c, summary=summaries[c["name"]], records=by_cell[c["name"]])
                     for c in cells]}
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1, default=float)

    print("# lsc detection benchmark%s" % (" (--quick)" if a.quick else ""))
    print()
    print("%d cells x %d draws = %d reports; verdicts in the JSON: %s; errors: %d" % (
        len(cells), draws, len(reports), "yes" if meta["verdicts_present"] else "no (n/a)",
        meta["errors"]))
    print("truth: 'healthy' or the checks expected to fire (mode, fid, div, dim, mem, post). "
          "hits: on a healthy cell, draws with a false alarm (any check at collapse / any "
          "reading); on a collapse cell, draws where an expected check is at collapse / is "
          "flagged by a reading.")
    print(markdown(cells, summaries))
    print()
    print("machine: %s, %d cores; %s (--threads %d), --jobs %d" % (
        machine["cpu"], ncpu, meta["lsc_version"] or "?", threads, a.jobs))
    print("wall time: %.1f s; per report (lsc call alone): mean %.3f s, median %.3f s; by D: %s" % (
        wall, meta["mean_report_s"], meta["median_report_s"],
        ", ".join("D=%s %.3f s" % kv for kv in meta["mean_report_s_by_D"].items())))
    print("projected full run (%d cells x 20 draws, --jobs %d): %.1f min%s" % (
        len(full), a.jobs, proj / 60.0,
        (" (groups not measured here, left out: %s)" % ", ".join(missing)) if missing else ""))
    print("records: %s" % out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
