"""lsc.twonn and lsc.hubness (docs/METRICS.md section 9) against numpy written from the papers, and
against scikit-dimension / scikit-hubness where they are installed (skipped otherwise)."""
import numpy as np
import pytest

import lsc


def _dist(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))


def _twonn_numpy(x, discard=0.1):
    x = np.unique(x, axis=0)  # exact duplicates count once
    n = len(x)
    d = _dist(x, x)
    np.fill_diagonal(d, np.inf)
    d.sort(axis=1)
    mu = np.sort(d[:, 1] / d[:, 0])
    keep = int(n * (1 - discard))
    xs = np.log(mu[:keep])
    ys = -np.log(1 - np.arange(1, keep + 1) / n)
    return float((xs * ys).sum() / (xs * xs).sum())


def _occurrence(base, queries, k):
    d = _dist(queries if queries is not None else base, base)
    if queries is None:
        np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.bincount(nn.ravel(), minlength=len(base)).astype(np.float64)


def _data(seed, n, d, dim):
    r = np.random.default_rng(seed)
    return (r.standard_normal((n, dim)) @ r.standard_normal((dim, d))).astype(np.float32)


def test_twonn_matches_numpy_and_counts_duplicates():
    x = _data(0, 300, 10, 3)
    x = np.concatenate([x, x[:20]])
    t = lsc.twonn(x)
    assert t.rows == 320 and t.distinct_rows == 300 and t.duplicate_rows == 20
    assert t.rows_used == 300 and not t.subset and t.points_fitted == 270
    assert t.dimension == pytest.approx(_twonn_numpy(x), rel=1e-5)
    assert 2.5 < t.dimension < 3.5


def test_hubness_matches_numpy_within_and_against_a_reference():
    base, q = _data(1, 250, 16, 16), _data(2, 100, 16, 16)
    for queries in (None, q):
        h = lsc.hubness(base, queries, k=10)
        occ = _occurrence(base, queries, 10)
        m = occ - occ.mean()
        skew = (m ** 3).mean() / (m ** 2).mean() ** 1.5
        assert h.skewness == pytest.approx(skew, rel=1e-9)
        assert h.robin_hood == pytest.approx(np.abs(m).sum() / (2 * occ.sum()), rel=1e-9)
        assert h.max_occurrence == occ.max() and h.antihubs == (occ == 0).sum()
        assert h.query_rows == (100 if queries is not None else 250)


def test_against_scikit_dimension():
    # scikit-dimension 0.5 (its empirical CDF i / N from i = 1; earlier versions started at 0)
    skdim = pytest.importorskip("skdim")
    for dim, d in ((4, 8), (6, 40)):  # its kd-tree path (D <= 25) and its chunked distances
        x = _data(3, 400, d, dim)
        want = skdim.id.TwoNN().fit(x.astype(np.float64)).dimension_
        assert lsc.twonn(x).dimension == pytest.approx(want, rel=1e-5)


def test_against_scikit_hubness():
    skhubness = pytest.importorskip("skhubness")
    base = _data(4, 300, 12, 12)
    hub = skhubness.Hubness(k=10, return_value="all", metric="euclidean").fit(base)
    s = hub.score()
    h = lsc.hubness(base, k=10)
    assert h.skewness == pytest.approx(s["k_skewness"], rel=1e-6)
    assert h.robin_hood == pytest.approx(s["robinhood"], rel=1e-6)


def test_refusals():
    with pytest.raises(lsc.InvalidData):
        lsc.twonn(np.zeros((5, 3), np.float32))
    with pytest.raises(lsc.InvalidArgument):
        lsc.hubness(_data(5, 20, 4, 4), k=0)


def _unit(x):
    x = x.astype(np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(n > 0, x / np.where(n > 0, n, 1.0), 0.0)  # a zero row stays zero


def test_uniformity_matches_the_paper():
    """Wang & Isola 2020, t = 2: log mean over pairs i < j of exp(-2 ||u_i - u_j||^2)."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((300, 12)) + 2.0).astype(np.float32)
    x[4] = 0.0
    u = _unit(x)
    d2 = ((u[:, None, :] - u[None, :, :]) ** 2).sum(-1)
    i, j = np.triu_indices(len(x), 1)
    want = np.log(np.mean(np.exp(-2.0 * d2[i, j])))
    assert lsc.pair_stats(x).uniformity is None  # asked for only: an exp per pair
    assert abs(lsc.pair_stats(x, uniformity=True).uniformity - want) < 1e-6
    # known answers: identical rows 0, two antipodal rows -8
    assert abs(lsc.pair_stats(np.ones((20, 3), np.float32), uniformity=True).uniformity) < 1e-12
    ap = np.array([[1.0, 2.0], [-1.0, -2.0]], np.float32)
    # the float64 exp: 1.11e-10; on an AVX-512 CPU rows of r = 1 take a float32 path: 21.6 2^-24
    assert abs(lsc.pair_stats(ap, uniformity=True).uniformity + 8.0) < 21.6 * 2.0**-24
    assert abs(lsc.pair_stats(ap, metric="cosine", uniformity=True).uniformity + 8.0) < 2e-6  # float32 unit rows


def test_alignment_and_vendi_rbf_match_numpy():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((200, 6)).astype(np.float32)
    y = (x + 0.3 * rng.standard_normal(x.shape)).astype(np.float32)
    want = float(np.mean(((_unit(x) - _unit(y)) ** 2).sum(1)))
    assert abs(lsc.alignment(x, y) - want) < 1e-12
    d2 = ((x[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2 * 1.5 ** 2)) / len(x)
    v = lsc.vendi_rbf(x, sigma=1.5)
    assert abs(v.vendi_q2 - 1.0 / (k * k).sum()) <= v.tolerance
    assert v.rows_used == 200 and not v.subset and v.sigma == 1.5
    with pytest.raises(lsc.InvalidArgument):
        lsc.alignment(x, y[:-1])
    with pytest.raises(lsc.InvalidArgument):
        lsc.vendi_rbf(x, sigma=0.0)
