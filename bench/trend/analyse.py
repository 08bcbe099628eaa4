"""False alarms of the trend on real healthy lsc runs (collect.py), against the null models."""
import numpy as np, sys, math
sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "..", "python", "src"))
from lsc._monitor import _Cusum, TREND_KAPPA, TREND_H
from model import run_params
f = np.load(sys.argv[1]); Z = f["Z"]; checks = list(f["checks"]); LV = f["LV"]
R, T, C = Z.shape
q, J = float(sys.argv[2]), int(sys.argv[3])
print(f"{sys.argv[1]}: {R} runs x {T} records; assessed share per check:",
      {c: round(float(np.isfinite(Z[:, :, i]).mean()), 3) for i, c in enumerate(checks)})
print("levels:", {l: int((LV == l).sum()) for l in np.unique(LV)})
for i, c in enumerate(checks):
    z = Z[:, :, i]
    if not np.isfinite(z).any() or np.nanstd(z) == 0: continue
    m = np.nanmean(z, 1); sd = np.nanstd(z, 1, ddof=1)
    print(f"  {c:21} score mean {np.nanmean(z):6.3f} sd {np.nanstd(z):5.3f}; per-run mean: sd {np.nanstd(m):.3f} "
          f"(independent records: {np.nanstd(z)/math.sqrt(T):.3f}); per-run sd {np.nanmin(sd):.2f}..{np.nanmax(sd):.2f}")
def first(z, kappa, h, raw=False):
    """z (T, R, C) with NaN = skipped -> first warning per run"""
    T_, R_, C_ = z.shape; out = np.full(R_, T_)
    if raw:   # the pinned rule on the raw scores, for comparison
        S = np.zeros((R_, C_))
        for t in range(T_):
            zt = np.clip(z[t], -8, 8); ok = np.isfinite(zt)
            S = np.where(ok, np.maximum(0, S + np.where(ok, zt, 0) - kappa), S)
            w = (S > h).any(-1); out[(out == T_) & w] = t; S[S > h] = 0
        return out
    cu = _Cusum(R_ * C_, kappa, h)
    for t in range(T_):
        _, w = cu.update(z[t].reshape(-1))
        out[(out == T_) & w.reshape(R_, C_).any(-1)] = t
    return out
zr = np.transpose(Z, (1, 0, 2))
rng = np.random.default_rng(5)
# the model's prediction at the same length; independent checks, as many as are assessed
act = [i for i in range(C) if np.isfinite(Z[:, :, i]).any() and np.nanstd(Z[:, :, i]) > 0]
Cm = len(act)
def model(Rm, Tm, kind):
    if kind == "iid": return rng.standard_t(15, (Tm, Rm, Cm))
    mu, sc = run_params(rng, (Rm, Cm), 16, q, J)
    return mu[None] - sc[None] * rng.standard_normal((Tm, Rm, Cm))
print(f"first warnings within {T} records ({Cm} checks vary: the model uses {Cm} independent ones):")
for kappa, h, raw in ((TREND_KAPPA, TREND_H, False), (TREND_KAPPA, 5.0, False), (TREND_KAPPA, 4.0, False),
                      (0.5, 4.0, False), (1.0, 7.0, True), (2.0, 8.0, True)):
    fr = (first(zr, kappa, h, raw) < T).mean()
    fm = (first(model(4000, T, "shared"), kappa, h, raw) < T).mean()
    fi = (first(model(4000, T, "iid"), kappa, h, raw) < T).mean()
    print(f"  {'raw scores' if raw else 'trend'} kappa={kappa} h={h}: real {fr:.3f} (+-{math.sqrt(fr*(1-fr)/R):.3f}); "
          f"model shared {fm:.3f}; iid t15 {fi:.3f}")
# 1,000 records: records of a run are independent given its reference (its baseline), so a run
# is lengthened by drawing its own records (all checks of a record together) with replacement
B = 5
for kappa, h, raw in ((TREND_KAPPA, TREND_H, False), (1.0, 7.0, True), (2.0, 8.0, True)):
    idx = rng.integers(0, T, (1000, R * B))
    zz = zr[idx, np.repeat(np.arange(R), B)[None, :]]       # (1000, R*B, C)
    fb = (first(zz, kappa, h, raw) < 1000).mean()
    print(f"  1,000 records (each run's records redrawn, {B} per run): {'raw' if raw else 'trend'} kappa={kappa} h={h}: {fb:.3f}")
