"""plot() of lsc's result types with matplotlib, an optional dependency.

Each function draws on a new matplotlib.figure.Figure (not pyplot: no global state, no
display backend needed) and returns it; the caller shows or saves it. The figures are the ones
`lsc report --html` draws, from the same numbers."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from ._errors import MissingDependency

LEVEL_COLOURS = {"ok": "#2e7d32", "borderline": "#b7791f", "collapse": "#c62828",
                 "not_assessed": "#6b6b6b"}


def _figure(**kw):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise MissingDependency(
            "plot() needs matplotlib, which is not installed: pip install matplotlib") from e
    return Figure(**kw)


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)


def plot_spectrum(s, label: str = "") -> "Figure":
    """Scree (variance fraction per component, log scale) and cumulative variance with dims_90
    and dims_99 marked."""
    if s.singular_values is None:
        raise ValueError("this Spectrum holds no singular values to draw")
    sv = np.asarray(s.singular_values, dtype=np.float64)
    lam = sv * sv
    tot = lam.sum()
    fig = _figure(figsize=(9, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    i = np.arange(1, len(lam) + 1)
    if tot > 0:
        frac = lam / tot
        keep = frac >= frac.max() * 1e-10   # numerically zero eigenvalues sit off a log axis
        ax1.semilogy(i[keep], frac[keep], "o-", ms=3, label=label or None)
        ax2.plot(i, np.cumsum(lam) / tot, "o-", ms=3, label=label or None)
    ax1.set(title="scree (variance fraction)", xlabel="component i", ylabel="fraction of variance")
    ax2.axhline(0.9, ls=":", c="grey")
    ax2.axhline(0.99, ls=":", c="grey")
    ax2.axvline(s.dims_90, ls="--", c="C1", label=f"dims_90 = {s.dims_90}")
    ax2.axvline(s.dims_99, ls="--", c="C2", label=f"dims_99 = {s.dims_99}")
    ax2.set(title="cumulative variance", xlabel="components", ylabel="cumulative fraction",
            ylim=(0, 1.02))
    ax2.legend(loc="lower right")
    return fig


def plot_pair_stats(p) -> "Figure":
    """The all-pairs distance histogram, with the mean and the nearest-neighbour median."""
    fig = _figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.subplots()
    edges = np.asarray(p.edges)
    ax.bar(edges[:-1], np.asarray(p.histogram), width=np.diff(edges), align="edge")
    ax.axvline(p.mean, c="k", ls="--", label=f"mean {p.mean:.4g}")
    ax.axvline(p.nn_median, c="C3", ls=":", label=f"nearest-neighbour median {p.nn_median:.4g}")
    ax.set(title=f"all-pairs distances ({p.metric}, {p.rows_used} rows)", xlabel="distance",
           ylabel="pairs")
    ax.legend()
    return fig


def plot_prdc(p, assessment=None) -> "Figure":
    """Precision, recall, density and coverage as bars; coverage's expected value; with an
    assessment, each judged figure's baseline, interval and matched value."""
    fig = _figure(figsize=(6, 3), layout="constrained")
    ax = fig.subplots()
    names = ["precision", "recall", "density", "coverage"]
    vals = [p.precision, p.recall, p.density, p.coverage]
    y = np.arange(len(names))[::-1]
    ax.barh(y, vals, color="#8ab4f8")
    for yi, v in zip(y, vals):
        ax.text(v, yi, f" {v:.3g}", va="center")
    if _finite(p.coverage_expected):
        ax.plot([p.coverage_expected] * 2, [y[3] - 0.4, y[3] + 0.4], "k--",
                label="coverage expected")
    for v in (assessment.verdicts.values() if assessment is not None else []):
        if v.statistic.name not in names:
            continue
        yi = y[names.index(v.statistic.name)]
        ax.plot([v.interval.lo, v.interval.hi], [yi, yi], "|-", c="grey", ms=14)
        ax.plot([v.baseline.value], [yi], "k|", ms=18)
        ax.plot([v.matched], [yi], "o", c=LEVEL_COLOURS.get(v.level, "grey"))
    ax.set_yticks(y, names)
    ax.set(title=f"PRDC (k = {p.k}, {p.fake_rows} vs {p.real_rows} rows)",
           xlim=(0, max(1.05, max(vals) * 1.1)))
    return fig


def plot_assessment(a) -> "Figure":
    """Each check's evidence on its own line: the 99% interval (grey), baseline +- spread, the
    matched statistic (coloured by level) and the full-size figure (hollow)."""
    vs = list(a.verdicts.values())
    fig = _figure(figsize=(7, 0.9 * len(vs) + 0.8), layout="constrained")
    axes = fig.subplots(len(vs), 1, squeeze=False)[:, 0]
    for ax, v in zip(axes, vs):
        c = LEVEL_COLOURS.get(v.level, "grey")
        if _finite(v.interval.lo) and _finite(v.interval.hi):
            ax.axvspan(v.interval.lo, v.interval.hi, color="#e8eaed")
        b, sp = v.baseline.value, v.baseline.spread
        if _finite(b) and _finite(sp):
            ax.axvspan(b - sp, b + sp, ymin=0.3, ymax=0.7, color="#c9ced6")
            ax.axvline(b, c="k")
        if _finite(v.statistic.value):
            ax.plot([v.statistic.value], [0.5], "o", mfc="white", mec="k", ms=8)
        if _finite(v.matched):
            ax.plot([v.matched], [0.5], "o", c=c, ms=8)
        ax.set_yticks([])
        ax.set_ylim(0, 1)
        ax.set_title(f"{v.check}: {v.level} ({v.statistic.name})", loc="left", fontsize=9,
                     color=c)
    fig.suptitle(f"verdict: {a.verdict}")
    return fig


def plot_monitor(history: Sequence, checks: Optional[Sequence[str]] = None) -> "Figure":
    """A Monitor's history: per check the matched statistic over the steps against its baseline
    and 99% band, warnings as red lines; then the PRDC figures and the effective rank."""
    recs = list(history)
    if not recs:
        raise ValueError("the Monitor has no records to draw yet")
    steps = np.array([r.step for r in recs], dtype=np.float64)
    names = list(checks) if checks is not None else []
    if checks is None:
        for r in recs:
            for n in (r.verdicts or {}):
                if n not in names:
                    names.append(n)
    panels = len(names) + 2
    cols = 2
    rows = (panels + cols - 1) // cols
    fig = _figure(figsize=(10, 2.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    nan = float("nan")
    for ax, n in zip(axes, names):
        vs = [(r.verdicts or {}).get(n) for r in recs]
        get = lambda f: np.array([f(v) if v is not None else nan for v in vs], dtype=np.float64)
        m, b = get(lambda v: v.matched), get(lambda v: v.baseline.value)
        lo, hi = get(lambda v: v.interval.lo), get(lambda v: v.interval.hi)
        ax.fill_between(steps, lo, hi, color="#e8eaed", label="99% band")
        ax.plot(steps, b, c="k", lw=1, label="baseline")
        ax.plot(steps, m, c="#e07000", lw=1)
        ax.scatter(steps, m, s=12, zorder=3,
                   c=[LEVEL_COLOURS.get(v.level, "grey") if v is not None else "white"
                      for v in vs])
        for r in recs:
            if n in r.warnings:
                ax.axvline(r.step, c="#c62828", ls="--", lw=1)
        ax.set_title(n, loc="left", fontsize=9)
    k = len(names)
    prdc = [r.prdc for r in recs]
    if any(p is not None for p in prdc):
        for f in ("precision", "recall", "coverage"):
            axes[k].plot(steps, [getattr(p, f) if p is not None else nan for p in prdc], "o-",
                         ms=3, label=f)
        axes[k].legend(fontsize=8)
    axes[k].set_title("PRDC", loc="left", fontsize=9)
    spec = [r.spectrum for r in recs]
    if any(s is not None for s in spec):
        axes[k + 1].plot(steps, [s.effective_rank if s is not None else nan for s in spec], "o-",
                         ms=3)
    axes[k + 1].set_title("effective rank", loc="left", fontsize=9)
    for ax in axes[k + 2:]:
        ax.set_visible(False)
    for ax in axes[:k + 2]:
        ax.set_xlabel("step")
    return fig
