"""lsc.assess against a float64 reference written from docs/METRICS.md alone: the seeded sampler
(section 7), PRDC (section 5), effective rank and Vendi (section 1) and the verdict engine
(section 8: halves, subsets, statistics, baseline, spread, score, effect, interval, levels, caps,
classes). Every count is decided on distances computed in float64 from the float32 values the
library receives; the data are continuous, and each case first checks that no decision lies
within 1e-6 relative of its threshold (the documented tolerance), so counts must be equal."""
import functools
import math
from statistics import NormalDist

import numpy as np
import pytest

try:
    import lsc
except (ImportError, OSError) as e:  # the binding or its shared library is missing
    pytest.skip(f"lsc binding unavailable: {e}", allow_module_level=True)

CHECKS = ["mode_collapse", "low_fidelity", "diversity_loss", "dimensional_collapse",
          "memorisation", "posterior_collapse"]
LEVELS = ["ok", "borderline", "collapse", "not_assessed"]  # severity order of the first three
OK, BORDER, COLLAPSE, NA = range(4)
MARGIN = 1e-6      # no decision of a case may sit closer than this to its threshold
WIDE = 1.3

# ---- section 7: the seeded permutation ---------------------------------------------------------

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _fin(z):
    """splitmix64's finalizer on a uint64 array (numpy wraps uint64 arithmetic mod 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
    return z ^ (z >> np.uint64(31))


@functools.lru_cache(maxsize=None)
def permutation(seed, n):
    """pi(0..n-1): a balanced Feistel network on the smallest even b >= 2 with 2^b >= n, 6 rounds
    of F_r(x) = finalizer(x + key_r) cut to b/2 bits, keys from splitmix64 seeded by `seed`, with
    cycle walking."""
    b = 2
    while (1 << b) < n:
        b += 2
    half, mask = np.uint64(b // 2), np.uint64((1 << (b // 2)) - 1)
    state, keys = seed % (1 << 64), []
    for _ in range(6):
        state = (state + 0x9e3779b97f4a7c15) % (1 << 64)
        keys.append(np.uint64(int(_fin(np.array([state], dtype=np.uint64))[0])))

    def encrypt(x):
        left, right = x >> half, x & mask
        for key in keys:
            left, right = right, left ^ (_fin(right + key) & mask)
        return (left << half) | right

    with np.errstate(over="ignore"):
        x = encrypt(np.arange(n, dtype=np.uint64))
        out = x >= np.uint64(n)
        while out.any():  # cycle walking: re-encrypt until inside 0..n-1
            x[out] = encrypt(x[out])
            out = x >= np.uint64(n)
    return x.astype(np.int64)


def subset(seed, n, offset, count):
    """The seeded subset at positions offset .. offset+count-1, in ascending row order."""
    return np.sort(permutation(seed, n)[offset:offset + count])


# ---- sections 1, 2, 5: the figures -------------------------------------------------------------

def pairwise(x, y, metric):
    """float64 distances between the rows of x and y (float64 of float32 values), each a sum of
    squared differences over the columns in order, so a pair and its mirror give the same bits."""
    if metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        y = y / np.linalg.norm(y, axis=1, keepdims=True)
    acc = np.zeros((x.shape[0], y.shape[0]))
    for c in range(x.shape[1]):
        acc += (x[:, c, None] - y[None, :, c]) ** 2
    return acc / 2 if metric == "cosine" else np.sqrt(acc)


def radii(x, k, metric):
    """Distance of each row to its k-th nearest other row."""
    d = pairwise(x, x, metric)
    np.fill_diagonal(d, np.inf)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


class Margins:
    """The closest any decision came to its threshold (relative), over a whole case."""

    def __init__(self):
        self.worst = np.inf

    def ratio(self, q):
        """Decisions q < 1 (or <= 1): record how near 1 they came. An exact tie (a copy's
        distance to a row equal to that row's radius) is one exact value on both sides."""
        q = np.asarray(q, dtype=np.float64).ravel()
        q = q[np.isfinite(q) & (q != 1.0)]
        if q.size:
            self.worst = min(self.worst, float(np.abs(q - 1.0).min()))


def below(d, r, inclusive):
    return d <= r if inclusive else d < r


def prdc(d, r, fake, k, metric, inclusive, margins):
    """Section 5 from the real-by-fake distances d and the real radii r; also each real row's
    nearest fake distance."""
    s = radii(fake, k, metric)
    with np.errstate(divide="ignore", invalid="ignore"):
        margins.ratio((d / r[:, None]).min(axis=0))    # precision: the nearest ball per fake row
        margins.ratio((d / r[:, None]).min(axis=1))    # coverage
        margins.ratio((d / s[None, :]).min(axis=1))    # recall
    inside = below(d, r[:, None], inclusive)
    covered = below(d.min(axis=1), r, inclusive)
    return dict(precision=inside.any(axis=0).mean(), recall=below(d, s[None, :], inclusive)
                .any(axis=1).mean(), density=inside.sum() / (k * fake.shape[0]),
                coverage=covered.mean(), covered=covered, nearest=d.min(axis=1))


def entropy_exp(p):
    p = p[p > 0]
    return math.exp(-(p * np.log(p)).sum())


def effective_rank(x):
    """exp(H(sigma / sum sigma)) of the centred rows; singular values below 1e-5 x the largest
    are the pinned numerical zero."""
    sv = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    if sv.max() == 0:
        return 0.0
    sv = np.where(sv < 1e-5 * sv.max(), 0.0, sv)
    return entropy_exp(sv / sv.sum())


def vendi_cosine(x):
    """exp(H) of the eigenvalues of K / n, K the cosine kernel; eigenvalues below 1e-10 x the
    largest are 0. None when a row is zero (Vendi unavailable)."""
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        return None
    xn = x / norms[:, None]
    ev = np.linalg.svd(xn / math.sqrt(x.shape[0]), compute_uv=False) ** 2
    ev = np.where(ev < 1e-10 * ev.max(), 0.0, ev)
    return entropy_exp(ev / ev.sum())


def lower_median(v):
    """The lower middle value of an even count, as section 3 pins it for nn_median."""
    v = np.sort(np.asarray(v, dtype=np.float64))
    return v[(v.size - 1) // 2]


# ---- section 8: the verdict engine -------------------------------------------------------------

def cornish_fisher(z, dof):
    z3, z5, z7 = z ** 3, z ** 5, z ** 7
    return (z + (z3 + z) / (4 * dof) + (5 * z5 + 16 * z3 + 3 * z) / (96 * dof ** 2)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * dof ** 3))


def z_upper(p):
    return NormalDist().inv_cdf(1.0 - p)


class Judged:
    """One statistic judged against its held-out values (the numbers a Verdict reports)."""

    def __init__(self, g, h, S, J, fpc, loss, floor, lines):
        h = np.asarray(h, dtype=np.float64)
        self.matched, self.baseline = float(g), float(h.mean())
        sd = fpc * float(h.std(ddof=1))
        self.spread = max(sd, floor)
        pred = self.spread * math.sqrt(1.0 / J + 1.0 / S)
        ti = cornish_fisher(z_upper(0.005), S - 1)
        self.lo, self.hi = self.baseline - ti * pred, self.baseline + ti * pred
        dep = self.baseline - g if loss else g - self.baseline
        self.score = dep / pred if pred > 0 else (math.inf if dep > 0 else 0.0)
        if loss:
            self.effect = dep / self.baseline if self.baseline > 0 else 0.0
        else:
            self.effect = dep
        tc = cornish_fisher(z_upper(0.001 / 6), S - 1)
        self.detectable = (tc * pred / self.baseline if self.baseline > 0 else math.inf) \
            if loss else tc * pred
        self.b_line, self.c_line = lines
        self.dof = S - 1
        self.level = None

    def decide(self, sig_b, sig_c, detectable=None):
        det = self.detectable if detectable is None else detectable
        if sig_c and self.effect >= self.c_line:
            self.level = COLLAPSE
        elif sig_b and self.effect >= self.b_line:
            self.level = BORDER
        elif not det <= self.c_line:
            self.level = NA
        elif self.effect >= self.c_line:
            self.level = BORDER
        else:
            self.level = OK
        return self

    def judge(self, score=None):
        z = self.score if score is None else score
        tb = cornish_fisher(z_upper(0.01 / 6), self.dof)
        tc = cornish_fisher(z_upper(0.001 / 6), self.dof)
        return self.decide(z >= tb, z >= tc)


def reference_assess(real32, fake32, k=5, splits=16, seed=0, metric="euclidean",
                     comparison="strict", memorisation_factor=0.25, inactive_factor=0.01,
                     labels=None, fake_labels=None):
    """Section 8 in float64. Returns (verdicts by check, classes, extras, margins)."""
    inclusive = comparison == "inclusive"
    mg = Margins()
    R, F = real32.astype(np.float64), fake32.astype(np.float64)
    N, D = R.shape
    M = F.shape[0]
    S = splits
    mu = R.mean(axis=0)
    na = N // 2
    nb = N - na
    m = min(M, nb // 2, 2000)
    J = min(M // m, 2 if m == 2000 else 4)
    perm = permutation(seed, N)
    rows_a = np.sort(perm[:na])            # A's rows in ascending order
    rows_b = np.sort(perm[na:])            # B's permutation (seed + 1) indexes B's ascending rows
    disjoint = S * m <= nb
    fpc = 1.0 if disjoint else 1.0 / math.sqrt(1.0 - m / nb)
    if disjoint:
        pb = permutation(seed + 1, nb)
        held = [rows_b[np.sort(pb[t * m:(t + 1) * m])] for t in range(S)]
    else:
        held = [rows_b[subset(seed + 2 + t, nb, 0, m)] for t in range(S)]
    pf = permutation(seed, M)
    gen = [np.sort(pf[j * m:(j + 1) * m]) for j in range(J)]

    # euclidean rows are centred on R's column mean (distances do not change); cosine rows are
    # compared as given (centring would change their angles) and centred for their spectrum
    shift = mu if metric == "euclidean" else np.zeros_like(mu)
    Rc, Fc = R - shift, F - shift
    A = Rc[rows_a]
    prdc_ok = k < m and k + 1 < na
    r_a = radii(A, k, metric) if prdc_ok else None
    nw = min(na, 2000)
    sa = subset(seed, na, 0, nw)           # the seeded sample of A: wide coverage, the median
    # every nearest-row search (copies, the median distance, classes) uses the reference's metric
    d_aa = pairwise(A[sa], A, metric)
    d_aa[np.arange(nw), sa] = np.inf
    median_nn = lower_median(d_aa.min(axis=1))
    radius = memorisation_factor * median_nn
    var_r = R.var(axis=0, ddof=1)
    median_var = lower_median(var_r)
    C = 0
    if labels is not None:
        classes = np.unique(labels)
        C = classes.size
        cls_ref = np.searchsorted(classes, labels)
        n_cls_a = np.bincount(cls_ref[rows_a], minlength=C)

    def class_of(lab):
        i = np.searchsorted(classes, lab)
        ok = (i < C) & (classes[np.minimum(i, C - 1)] == lab)
        return np.where(ok, i, -1)

    def stats(x, own_labels_class):
        """Every statistic of one subset x (centred rows)."""
        out = {}
        if prdc_ok:
            dax = pairwise(A, x, metric)
            p = prdc(dax, r_a, x, k, metric, inclusive, mg)
            out.update(p=p["precision"], r=p["recall"], d=p["density"], c=p["coverage"])
            dw = p["nearest"][sa]
            with np.errstate(divide="ignore", invalid="ignore"):
                mg.ratio(dw / (WIDE * r_a[sa]))
            out["wide"] = (p["covered"][sa] | below(dw, WIDE * r_a[sa], inclusive)).mean()
            covered = p["covered"]
        dn = (dax if prdc_ok else pairwise(A, x, metric)).T
        nn_d, nn_i = dn.min(axis=1), dn.argmin(axis=1)
        mg.ratio(nn_d / radius)
        out["near"] = (nn_d < radius).mean()
        xc = x + shift - mu                # the spectrum sees centred rows for every metric
        out["erank"] = effective_rank(xc)
        out["vendi"] = vendi_cosine(xc)
        cv = x.var(axis=0, ddof=1)
        mg.ratio(cv / (inactive_factor * median_var))
        out["inactive"] = (cv < inactive_factor * median_var).mean()
        if C and prdc_ok:
            cls = own_labels_class if own_labels_class is not None else cls_ref[rows_a[nn_i]]
            cov = np.bincount(cls_ref[rows_a][covered], minlength=C).astype(np.float64)
            out["cov"] = np.divide(cov, n_cls_a, out=np.zeros(C), where=n_cls_a > 0)
            out["share"] = np.bincount(cls[cls >= 0], minlength=C) / m
        return out

    gs = []
    for rows in gen:
        own = class_of(fake_labels[rows]) if (C and fake_labels is not None) else None
        gs.append(stats(Fc[rows], own))
    hs = []
    for rows in held:
        own = cls_ref[rows] if (C and fake_labels is not None) else None
        hs.append(stats(Rc[rows], own))

    def g_mean(key):
        return sum(x[key] for x in gs) / J

    def h_vals(key):
        return [x[key] for x in hs]

    lines = {"mode_collapse": (0.03, 0.15), "low_fidelity": (0.10, 0.25),
             "diversity_loss": (0.10, 0.25), "dimensional_collapse": (0.03, 0.06),
             "memorisation": (0.01, 0.03), "posterior_collapse": (0.10, 0.25)}

    def judged(key, loss, floor, ln):
        return Judged(g_mean(key), h_vals(key), S, J, fpc, loss, floor, ln)

    v, extra = {}, {}
    cls_out = []
    if prdc_ok:
        wv = judged("wide", True, 0.5 / nw, (0.02, 0.05)).judge()
        mc = judged("c", True, 0.5 / na, lines["mode_collapse"])
        mc.judge(max(mc.score, wv.score))
        lf = judged("p", True, 0.5 / m, lines["low_fidelity"]).judge()
        dl = judged("r", True, 0.5 / na, lines["diversity_loss"]).judge()
        hd = float(np.mean(h_vals("d")))
        density_ratio = g_mean("d") / hd if hd > 0 else 1.0
        extra.update(wide=wv, density_ratio=density_ratio)
        # the caps judge coverage; a class's own loss (then) is direct evidence, not capped
        if wv.level != NA and mc.level != NA and wv.level < mc.level:
            mc.level = wv.level
        extra["concentration"] = False
        if (mc.level == COLLAPSE and wv.level != NA and wv.effect < 2 * 0.05
                and dl.effect >= dl.c_line and dl.effect >= 1.5 * mc.effect):
            mc.level = BORDER
            extra["concentration"] = True
        if C:
            cls_out = judge_classes(gs, hs, C, S, J, m, fpc, n_cls_a)
            worst = max([c["level"] for c in cls_out if c["level"] in (BORDER, COLLAPSE)],
                        default=OK)
            if worst > OK and (mc.level == NA or worst > mc.level):
                mc.level = worst
        if density_ratio < 0.5 and mc.level == COLLAPSE:
            mc.level = BORDER
        v.update(mode_collapse=mc, low_fidelity=lf, diversity_loss=dl)
    if all(x["vendi"] is not None for x in gs + hs):
        vv = judged("vendi", True, 1e-9, (0.15, 0.30)).judge()
        dl = v.get("diversity_loss")
        if not prdc_ok or (vv.level != NA and (dl.level == NA or vv.level > dl.level)):
            v["diversity_loss"] = vv
            extra["vendi_chosen"] = True
    v["dimensional_collapse"] = judged("erank", True, 1e-9, lines["dimensional_collapse"]).judge()
    pm = float(np.mean(h_vals("near")))
    q = max(pm, 1.0 / m)
    v["memorisation"] = judged("near", False, math.sqrt(q * (1 - q) / m),
                           lines["memorisation"]).judge()
    v["posterior_collapse"] = judged("inactive", False, 0.5 / D, lines["posterior_collapse"]).judge()
    if not median_nn > 0:
        v["memorisation"].level = NA
    if not median_var > 0:
        v["posterior_collapse"].level = NA
    if v["dimensional_collapse"].baseline == 0:
        v["dimensional_collapse"].level = NA
    extra.update(m=m, J=J, na=na, nb=nb, prdc_ok=prdc_ok)

    # the full-size figures: the whole generated set against the whole reference, uncentred
    if k < M:
        r_full = radii(R, k, metric)
        full = prdc(pairwise(R, F, metric), r_full, F, k, metric, inclusive, mg)
        extra["full"] = full
        uncov = np.flatnonzero(~full["covered"])
        with np.errstate(divide="ignore"):
            ratio = np.where(r_full[uncov] > 0, full["nearest"][uncov] / r_full[uncov], np.inf)
        extra["uncovered_rows"] = uncov[np.lexsort((uncov, -ratio))]
        extra["ratio"] = np.full(N, np.nan)
        extra["ratio"][uncov] = ratio
        if C:
            for c in range(C):
                in_c = cls_ref == c
                cls_out[c]["coverage"] = full["covered"][in_c].mean() if cls_out else None
                if cls_out:
                    cls_out[c]["real_rows"] = int(in_c.sum())
    if C:
        for c in range(C):
            if cls_out:
                cls_out[c]["label"] = int(classes[c])
    return v, cls_out, extra, mg.worst


def judge_classes(gs, hs, C, S, J, m, fpc, n_cls_a):
    """Per class: coverage loss ("missing") and share excess ("over-produced"), each family
    Holm step-down over the classes inside the six checks' budget."""
    cov_g = sum(x["cov"] for x in gs) / J
    share_g = sum(x["share"] for x in gs) / J
    cov_h = np.array([x["cov"] for x in hs])
    share_h = np.array([x["share"] for x in hs])
    missing, over = [], []
    for c in range(C):
        nc = n_cls_a[c] if n_cls_a[c] > 0 else 1
        a = Judged(cov_g[c], cov_h[:, c], S, J, fpc, True, 0.5 / nc, (0.25, 0.50))
        # a class is not assessed when it has no row in A or even a complete loss is not
        # significant at the collapse quantile
        a.detectable = math.inf if (n_cls_a[c] == 0 or a.detectable > 1.0) else 0.0
        p = max(float(share_h[:, c].mean()), 1.0 / m)
        b = Judged(share_g[c], share_h[:, c], S, J, fpc, False, math.sqrt(p * (1 - p) / m),
                   (0.5, 1.0))
        if b.baseline > 0:
            b.effect = share_g[c] / b.baseline - 1.0
            b.detectable = b.detectable / b.baseline
        else:
            b.effect = math.inf if share_g[c] > 0 else 0.0
            b.detectable = math.inf
        missing.append(a)
        over.append(b)
    for fam in (missing, over):
        order = sorted(range(C), key=lambda c: -fam[c].score)  # stable: ties by class
        sig_b = sig_c = True
        for i, c in enumerate(order):
            left = 6 * (C - i)
            x = fam[c]
            sig_b = sig_b and x.score >= cornish_fisher(z_upper(0.01 / left), S - 1)
            sig_c = sig_c and x.score >= cornish_fisher(z_upper(0.001 / left), S - 1)
            x.decide(sig_b, sig_c)
    return [dict(level=missing[c].level, missing=missing[c], share_level=over[c].level,
                 over=over[c]) for c in range(C)]


# ---- comparison --------------------------------------------------------------------------------

def close(got, want, tol, what):
    assert math.isfinite(got) == math.isfinite(want) and (
        got == want or abs(got - want) <= tol), f"{what}: library {got!r}, reference {want!r}"


def compare_verdict(name, lv, r, J, S, spectral):
    """Counts over exact decisions: proportions to 1e-12, what is derived from them to 1e-9
    relative. Effective rank and Vendi (float32 rows, float64 accumulation) to 1e-6 relative,
    carried through the spread, score, effect and interval."""
    assert lv.level == LEVELS[r.level], f"{name}: level {lv.level}, reference {LEVELS[r.level]}"
    if spectral:
        eps = 1e-6 * abs(r.baseline)           # every subset's figure within eps
        root = math.sqrt(1.0 / J + 1.0 / S)
        pred = r.spread * root
        ti = cornish_fisher(z_upper(0.005), S - 1)
        tol = dict(matched=1e-6 * abs(r.matched), baseline=eps, spread=3 * eps,
                   score=(2 * eps + abs(r.score) * 3 * eps * root) / pred,
                   effect=(2 * eps + abs(r.effect) * eps) / abs(r.baseline),
                   lo=eps + ti * root * 3 * eps, hi=eps + ti * root * 3 * eps)
    else:
        tol = dict(matched=1e-12, baseline=1e-12)
        for f in ("spread", "score", "effect", "lo", "hi"):
            tol[f] = 1e-9 * max(abs(getattr(r, f)), 1e-3)
    got = dict(matched=lv.matched, baseline=lv.baseline.value, spread=lv.baseline.spread,
               score=lv.score, effect=lv.effect, lo=lv.interval.lo, hi=lv.interval.hi)
    for f, t in tol.items():
        close(got[f], getattr(r, f), t, f"{name}.{f}")


def compare(real, fake, **kw):
    """lsc.assess against the reference on one case; returns both for known-truth checks."""
    a = lsc.assess(real, fake, threads=1, **kw)
    v, cls, extra, margin = reference_assess(real, fake, **kw)
    # continuous data: no decision within the documented 1e-6 of its threshold (exact ties,
    # such as copies, are the same bits on both sides)
    assert margin > MARGIN, f"a decision lies within {margin:.1e} of its threshold: pick other data"
    S, J = kw.get("splits", 16), extra["J"]
    assert list(a.verdicts) == CHECKS
    for name in CHECKS:
        lv = a.verdicts[name]
        if name not in v:   # PRDC checks on sizes too small for k: only the level is defined
            assert not extra["prdc_ok"] and lv.level == "not_assessed", name
            continue
        r = v[name]
        vendi = name == "diversity_loss" and extra.get("vendi_chosen")
        assert lv.statistic.name == {"mode_collapse": "coverage", "low_fidelity": "precision",
                                     "diversity_loss": "vendi_centred" if vendi else "recall",
                                     "dimensional_collapse": "effective_rank",
                                     "memorisation": "copy_fraction",
                                     "posterior_collapse": "inactive_fraction"}[name]
        compare_verdict(name, lv, r, J, S, spectral=vendi or name == "dimensional_collapse")
    full = extra.get("full")
    if full is not None and extra["prdc_ok"]:
        for name, key in (("mode_collapse", "coverage"), ("low_fidelity", "precision"),
                          ("diversity_loss", "recall")):
            if a.verdicts[name].statistic.name != "vendi_centred":
                close(a.verdicts[name].statistic.value, full[key], 1e-12, f"{name}.value")
    if full is not None:
        assert a.uncovered == int((~full["covered"]).sum())
        # ordered by ratio, descending; the library's ratio uses the float32 kNN distance, so
        # rows whose ratios tie within float32 rounding (copies give exact ties) may swap
        ratio = extra["ratio"]
        got = np.array(a.uncovered_rows, dtype=np.int64)
        want = extra["uncovered_rows"][:100]
        assert len(got) == len(want) and len(set(got.tolist())) == len(got)
        assert (~full["covered"][got]).all()
        assert (ratio[got][1:] <= ratio[got][:-1] * (1 + 1e-6)).all(), "uncovered order"
        if len(want):
            assert ratio[got].min() >= ratio[want].min() * (1 - 1e-6)
    assert a.verdict == LEVELS[max([x.level for x in v.values() if x.level != NA], default=OK)]
    assert len(a.classes) == len(cls)
    for lc, rc in zip(a.classes, cls):
        mi, ov = rc["missing"], rc["over"]
        assert (lc.label, lc.real_rows) == (rc["label"], rc["real_rows"])
        close(lc.coverage, rc["coverage"], 1e-12, f"class {lc.label} coverage")
        assert (lc.level, lc.share_level) == (LEVELS[mi.level], LEVELS[ov.level]), lc.label
        for f, want in (("matched", mi.matched), ("baseline", mi.baseline), ("share", ov.matched),
                        ("share_baseline", ov.baseline)):
            close(getattr(lc, f), want, 1e-12, f"class {lc.label} {f}")
        for f, want in (("spread", mi.spread), ("effect", mi.effect), ("score", mi.score),
                        ("share_effect", ov.effect), ("share_score", ov.score)):
            close(getattr(lc, f), want, 1e-9 * max(abs(want), 1e-3), f"class {lc.label} {f}")
    return a, v, cls, extra


# ---- the sampler -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed,n", [(0, 1), (0, 5), (7, 64), (3, 65), (123456789, 1000),
                                    ((1 << 64) - 1, 37)])
def test_sampler_matches_section_7(seed, n):
    assert lsc.permute(n, seed).tolist() == permutation(seed, n).tolist()
    h = n // 2
    assert lsc.sample_rows(n, n - h, seed, offset=h).tolist() == subset(seed, n, h, n - h).tolist()


# ---- (a) random continuous data ----------------------------------------------------------------

def gaussian(rng, n, d, mix):
    """Correlated Gaussian rows with a common offset (which cosine and the centring see)."""
    return (rng.standard_normal((n, d)) @ mix + 3.0).astype(np.float32)


# (N, M, D, k, splits, metric, comparison, seed): held-out subsets disjoint and overlapping
# (S m > |B|), J = 1 to 4, m = M and m < M, both metrics and comparisons, PRDC not assessable
CASES = [
    (120, 60, 4, 3, 4, "euclidean", "strict", 1),      # overlapping, J = 2
    (250, 60, 8, 5, 8, "euclidean", "strict", 2),      # disjoint, m = M
    (400, 20, 12, 5, 8, "euclidean", "inclusive", 3),
    (120, 400, 6, 3, 8, "euclidean", "strict", 4),     # J = 4, Vendi chosen
    (250, 150, 8, 5, 4, "cosine", "strict", 5),
    (400, 400, 12, 3, 8, "cosine", "inclusive", 6),
    (300, 5, 4, 5, 4, "euclidean", "strict", 7),       # k >= m: PRDC checks not assessed
    (4200, 300, 4, 5, 4, "euclidean", "strict", 8),    # |A| > 2000: wide and median on a sample
]


@pytest.mark.parametrize("n,m,d,k,splits,metric,comparison,seed", CASES)
def test_random_continuous(n, m, d, k, splits, metric, comparison, seed):
    rng = np.random.default_rng(900 + seed)
    mix = rng.standard_normal((d, d))
    compare(gaussian(rng, n, d, mix), gaussian(rng, m, d, mix), k=k, splits=splits,
            seed=seed, metric=metric, comparison=comparison)


# ---- (b) known truths --------------------------------------------------------------------------

D_MIX = 8
CENTRES = np.random.default_rng(5).normal(0, 4, (10, D_MIX))


def mixture(n, seed, only=10, spread=1.0):
    rng = np.random.default_rng(seed)
    c = rng.integers(0, only, n)
    return (CENTRES[c] + spread * rng.standard_normal((n, D_MIX))).astype(np.float32), c


@pytest.fixture(scope="module")
def real400():
    return mixture(400, 1)


def test_missing_modes(real400):
    real, _ = real400
    a, v, _, extra = compare(real, mixture(200, 2, only=3)[0], k=5, splits=8)
    assert a.verdicts["mode_collapse"].level == "collapse"
    assert LEVELS[extra["wide"].level] == "collapse"


def test_exact_copies(real400):
    real, _ = real400
    copies = real[np.random.default_rng(6).choice(len(real), 200, replace=False)]
    a, *_ = compare(real, copies, k=5, splits=8)
    assert a.verdicts["memorisation"].level == "collapse"   # half are copies of rows of A


def test_dead_units():
    rng = np.random.default_rng(8)
    real = rng.standard_normal((400, 12)).astype(np.float32)
    fake = rng.standard_normal((200, 12)).astype(np.float32)
    fake[:, :6] *= 0.02                      # variance 4e-4 of the reference's 1
    a, *_ = compare(real, fake, k=5, splits=16)
    assert a.verdicts["posterior_collapse"].level == "collapse"
    assert a.verdicts["dimensional_collapse"].level == "collapse"


def test_low_fidelity_caps_mode_collapse(real400):
    real, _ = real400
    fake, _ = mixture(200, 3)
    fake = fake + np.random.default_rng(4).normal(0, 2.0, fake.shape).astype(np.float32)
    a, _, _, extra = compare(real, fake, k=5, splits=8)
    assert extra["density_ratio"] < 0.5 and a.verdicts["mode_collapse"].level == "borderline"
    assert a.verdicts["low_fidelity"].level == "collapse"


def test_wide_coverage_caps_blur():
    real, _ = mixture(800, 11)
    fake, _ = mixture(800, 12)
    fake = fake + np.random.default_rng(3).normal(0, 0.7, fake.shape).astype(np.float32)
    a, v, _, extra = compare(real, fake, k=5, splits=16)
    # a significant plain loss past the collapse line, but the widened balls lose little: the
    # wide level (at most borderline) caps mode collapse
    mc = v["mode_collapse"]
    wide = LEVELS[extra["wide"].level]
    assert mc.effect >= 0.15 and mc.score > 5 and wide in ("ok", "borderline")
    assert a.verdicts["mode_collapse"].level == wide


def test_concentration_caps_mode_collapse():
    rng = np.random.default_rng(5)
    real = rng.standard_normal((800, 8)).astype(np.float32)
    clumps = np.random.default_rng(21).standard_normal((25, 8))
    fake = (clumps[np.arange(200) % 25] + 0.01 * rng.standard_normal((200, 8))).astype(np.float32)
    a, v, _, extra = compare(real, fake, k=5, splits=16)
    assert extra["concentration"] and a.verdicts["mode_collapse"].level == "borderline"
    assert a.verdicts["diversity_loss"].level == "collapse"


# ---- (c) labels --------------------------------------------------------------------------------

def test_classes_by_nearest_row(real400):
    real, labels = real400
    a, _, cls, _ = compare(real, mixture(200, 2, only=3)[0], k=5, splits=8, labels=labels)
    levels = [c.level for c in a.classes]
    assert levels.count("collapse") >= 5 and a.classes[0].share_level == "collapse"


def test_classes_by_own_labels(real400):
    real, labels = real400
    fake, fl = mixture(200, 2, only=3)
    fl = fl.copy()
    fl[:10] = 99                             # a label no reference row has: in no class
    compare(real, fake, k=5, splits=8, labels=labels, fake_labels=fl)


def test_class_without_rows_in_a(real400):
    real, labels = real400
    labels = labels.copy()
    in_b = np.sort(permutation(0, len(real))[len(real) // 2:])
    labels[in_b[:3]] = 42                    # a class held out whole: not assessed
    a, *_ = compare(real, mixture(200, 3)[0], k=5, splits=8, labels=labels)
    c42 = [c for c in a.classes if c.label == 42][0]
    assert c42.level == "not_assessed" and c42.real_rows == 3


# ---- scale ----------------------------------------------------------------------------------------

def test_cosine_wide_coverage_is_scale_free():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((800, 8)).astype(np.float32)
    fake = rng.standard_normal((200, 8)).astype(np.float32)
    fake[:, 0] = np.abs(fake[:, 0])          # half the directions have no generated rows
    compare(real * np.float32(0.01), fake * np.float32(0.01), metric="cosine")
