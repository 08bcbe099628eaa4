"""Calibration of the trend warning with lsc._monitor._Cusum itself, on simulated healthy runs."""
import numpy as np, sys, time
sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "..", "python", "src"))
from lsc._monitor import _Cusum
from model import run_params
S = 16; C = 6
def run(z, kappa, h, **kw):
    """z: (T, R, C) -> first warning record index per run (T if none), any check"""
    T, R, _ = z.shape
    cu = _Cusum(R * C, kappa, h, **kw); first = np.full(R, T)
    for t in range(T):
        _, w = cu.update(z[t].reshape(-1))
        w = w.reshape(R, C).any(-1)
        first = np.where((first == T) & w, t, first)
    return first
def null(rng, R, T, model, q=0.2, J=1):
    if model == "iid":
        return rng.standard_t(S - 1, (T, R, C))
    mu, sc = run_params(rng, (R, C), S, q, J)
    return mu[None] - sc[None] * rng.standard_normal((T, R, C))
if __name__ == "__main__":
    R = int(sys.argv[1]); pairs = [tuple(map(float, p.split(","))) for p in sys.argv[2:]]
    for kappa, h in pairs:
        for model, q, J in (("iid", 0, 1), ("shared", 0.2, 1)):
            rng = np.random.default_rng(2024); t0 = time.time()
            fa = (run(null(rng, R, 1000, model, q, J), kappa, h) < 1000).mean()
            det = []
            for d in (1.5, 2.0, 2.5, 3.0, 4.0):
                z = null(rng, R, 60, model, q, J); z[49:, :, 0] += d
                f = run(z, kappa, h); ok = f >= 49
                det.append(f"d={d}: {(f[ok] <= 59).mean():.3f} (median {np.median(f[ok] - 48):.0f})")
            print(f"kappa={kappa} h={h} {model:6} q={q} J={J}: FA1000 {fa:.4f} (se {np.sqrt(fa*(1-fa)/R):.4f})  by record 60: " + "  ".join(det), f"[{time.time()-t0:.0f}s]", flush=True)
