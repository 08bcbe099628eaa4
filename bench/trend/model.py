"""Null models of the score sequence a Monitor sees (one reference, one seed: baseline fixed)."""
import numpy as np
def run_params(rng, shape, S=16, q=0.0, J=1, iid=False):
    """per (run, check): offset mu and scale sc so that z_t = mu + sc * x_t, x_t ~ N(0,1).
    q = m/|B| for overlapping held-out subsets (S m > |B|), 0 for disjoint ones."""
    eps = rng.standard_normal(shape + (S,))
    u = rng.standard_normal(shape)
    b = np.sqrt(q) * u + np.sqrt(1 - q) * eps.mean(-1)
    s = eps.std(-1, ddof=1)
    c = np.sqrt(1 / J + 1 / S)
    return b / (s * c), (1 / np.sqrt(J)) / (s * c)
def scores(rng, R, T, C=6, S=16, q=0.0, J=1, model="shared", zc=8.0):
    """yields z of shape (R, C) for T records"""
    if model == "iid":
        for t in range(T):
            yield np.clip(rng.standard_t(S - 1, (R, C)), -zc, zc)
        return
    mu, sc = run_params(rng, (R, C), S, q, J)
    for t in range(T):
        yield np.clip(mu - sc * rng.standard_normal((R, C)), -zc, zc)
def max_cusum(gen, kappas):
    M = None
    for z in gen:
        if M is None:
            St = np.zeros((len(kappas),) + z.shape); M = np.zeros_like(St)
        St = np.maximum(0.0, St + z[None] - np.asarray(kappas)[:, None, None])
        np.maximum(M, St, out=M)
    return M.max(-1)   # (K, R): the largest CUSUM of any check
