"""Do the one-set figures of issue 26 separate collapse from health? (docs/METRICS.md section 9)

For each family of the verdicts' benchmark (bench/detection/run.py: its data, split, feature maps
and generators, imported, not copied) and 10 draws, the generated set's TwoNN dimension, hubness
skewness (k = 10, within the set), Vendi (cosine) of orders 1, 2 and infinity, alpha-ReQ,
uniformity (t = 2) and RBF Vendi of order 2 (sigma 10, the library default), each on the same
number of generated rows (400), so size does not stand in for collapse. A figure *separates* a
collapsed family when its range over the draws does not overlap the healthy family's range of
the same group. It asserts nothing; it prints a markdown table for bench/RESULTS.md.

    PYTHONPATH=python/src LSC_LIBRARY=build/liblsc.so.0.2.0 \
        /work/bench-venv/bin/python bench/geometry_separation.py [--draws 10] [--threads 2]
"""
import argparse
import importlib.util
import os
import sys

import numpy as np

import lsc

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("detection_run", os.path.join(HERE, "detection", "run.py"))
det = importlib.util.module_from_spec(spec)
spec.loader.exec_module(det)

N_FAKE = 400
FIGS = ["twonn", "hub_skew", "vendi_q1", "vendi_q2", "vendi_qinf", "alpha_req", "uniformity",
        "vendi_rbf_q2"]


def b_gauss_cut(ctx, rng, cut):
    """Gaussian latents, D = 64: healthy N(0, I); collapsed: the variance cut 5x in 60% of the
    directions (38 of 64 columns scaled by 1/sqrt(5))."""
    real = rng.normal(size=(2000, 64))
    fake = rng.normal(size=(1000, 64))
    if cut:
        fake[:, :38] /= np.sqrt(5.0)
    return real, fake


# (group, family, builder, params): the detection benchmark's families at its parameters
FAMILIES = [
    ("pca32", "healthy", det.b_healthy, dict(n_real=None, n_fake=None)),
    ("pca32", "5 of 10 classes", det.b_cof10, dict(c=5, n_real=None, n_fake=None)),
    ("pca32", "blur 0.7", det.b_blur, dict(sigma=0.7)),
    ("pca32", "mode averaging", det.b_mode_avg, {}),
    ("raw", "healthy", det.b_healthy, dict(n_real=None, n_fake=None)),
    ("raw", "5 of 10 classes", det.b_cof10, dict(c=5, n_real=None, n_fake=None)),
    ("raw", "blur 0.7", det.b_blur, dict(sigma=0.7)),
    ("raw", "mode averaging", det.b_mode_avg, {}),
    ("gauss", "healthy", b_gauss_cut, dict(cut=False)),
    ("gauss", "variance cut 5x in 60%", b_gauss_cut, dict(cut=True)),
]


def figures(fake, threads):
    x = np.ascontiguousarray(fake, dtype=np.float32)
    s = lsc.spectrum(x, threads=threads)
    p = lsc.pair_stats(x, threads=threads)
    return {
        "twonn": lsc.twonn(x, threads=threads).dimension,
        "hub_skew": lsc.hubness(x, threads=threads).skewness,
        "vendi_q1": s.vendi_cosine, "vendi_q2": s.vendi_cosine_q2,
        "vendi_qinf": s.vendi_cosine_qinf, "alpha_req": s.alpha_req,
        "uniformity": p.uniformity,
        "vendi_rbf_q2": lsc.vendi_rbf(x, threads=threads).vendi_q2,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--base", type=int, default=2026)
    a = ap.parse_args()
    res = {}
    for group, fam, fn, params in FAMILIES:
        vals = {f: [] for f in FIGS}
        for draw in range(a.draws):
            ctx = det.Ctx(group, draw, a.base)
            rng = ctx.rng("geometry/" + fam)
            _, fake = fn(ctx, rng, **params)
            fake = det.take(rng, fake, N_FAKE)
            for f, v in figures(fake, a.threads).items():
                vals[f].append(float("nan") if v is None else v)
        res[(group, fam)] = vals
        print(f"done {group} {fam}", file=sys.stderr)
    print(f"{a.draws} draws, {N_FAKE} generated rows each; range min..max over the draws; "
          "**bold**: does not overlap the group's healthy range\n")
    print("| group | family | " + " | ".join(FIGS) + " |")
    print("|---|---|" + "---|" * len(FIGS))
    for (group, fam), vals in res.items():
        h = res[(group, "healthy")]
        cells = []
        for f in FIGS:
            lo, hi = np.nanmin(vals[f]), np.nanmax(vals[f])
            hlo, hhi = np.nanmin(h[f]), np.nanmax(h[f])
            txt = f"{lo:.3g}..{hi:.3g}"
            if fam != "healthy" and (hi < hlo or lo > hhi):
                txt = f"**{txt}**"
            cells.append(txt)
        print(f"| {group} | {fam} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
