"""Frechet distance, KID and RBF MMD through the binding against float64 numpy references of
docs/METRICS.md section 10, within the pinned tolerances the library reports. numpy only: the
installed package's suite runs in a venv with nothing else."""
import numpy as np
import pytest

import lsc


def ref_fd(m1, s1, m2, s2):
    """pytorch-fid's formula in float64, tr sqrtm(S1 S2), as the sum of the square roots of the
    eigenvalues of the non-symmetric product S1 S2 (real and >= 0 in exact arithmetic: it is
    similar to S1^1/2 S2 S1^1/2); a different route from lsc's two symmetric eigenproblems."""
    ev = np.linalg.eigvals(s1 @ s2)
    trace_sqrt = float(np.sqrt(np.clip(ev.real, 0.0, None)).sum())
    d = m1 - m2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)


def stats(x):
    x = x.astype(np.float64)
    return x.mean(0), np.cov(x, rowvar=False)


@pytest.mark.parametrize("n,d", [(500, 32), (40, 64)])  # full rank and rank deficient
def test_frechet_distance_random_against_the_peers_formula(rng, n, d):
    a = rng.standard_normal((n, d), dtype=np.float32)
    b = (rng.standard_normal((n + 7, d)) * 1.3 + 0.2).astype(np.float32)
    r = lsc.frechet_distance(a, b, backend="cpu")
    want = ref_fd(*stats(a), *stats(b))
    assert abs(r.fd - want) <= r.tolerance, (r.fd, want, r.tolerance)
    assert r.tolerance < 1e-4 * want
    assert r.cols == d


def test_frechet_distance_identical_is_zero(rng):
    a = rng.standard_normal((30, 48), dtype=np.float32) * 3 + 1
    r = lsc.frechet_distance(a, a, backend="cpu")
    assert abs(r.fd) <= r.tolerance


def test_fd_stats_and_saved_statistics(rng, tmp_path):
    a = rng.standard_normal((300, 16), dtype=np.float32) + 5
    b = rng.standard_normal((200, 16), dtype=np.float32)
    mu, sigma = lsc.fd_stats(a, backend="cpu")
    m0, s0 = stats(a)
    np.testing.assert_allclose(mu, m0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(sigma, s0, rtol=0, atol=1e-11)
    # a pytorch-fid statistics file, written by numpy and read back
    path = tmp_path / "real.npz"
    np.savez(path, mu=mu, sigma=sigma)
    z = np.load(path)
    from_file = lsc.frechet_distance((z["mu"], z["sigma"]), b, backend="cpu")
    from_rows = lsc.frechet_distance(a, b, backend="cpu")
    assert abs(from_file.fd - from_rows.fd) <= from_rows.tolerance
    assert abs(from_rows.fd - ref_fd(m0, s0, *stats(b))) <= from_rows.tolerance


def test_fd_accumulator_streams_and_merges(rng):
    a = rng.standard_normal((250, 10), dtype=np.float32) * 2 - 7
    p, q = lsc.FdAccumulator(backend="cpu"), lsc.FdAccumulator(backend="cpu")
    p.add(a[:100])
    q.add(a[100:180]).add(a[180:])
    p.merge(q)
    assert p.rows == 250
    mu, sigma = p.stats()
    m0, s0 = stats(a)
    np.testing.assert_allclose(mu, m0, rtol=0, atol=1e-11)
    np.testing.assert_allclose(sigma, s0, rtol=0, atol=1e-10)


def test_frechet_distance_bad_inputs(rng):
    a = rng.standard_normal((10, 4), dtype=np.float32)
    with pytest.raises(lsc.InvalidArgument):
        lsc.frechet_distance(a, rng.standard_normal((10, 5), dtype=np.float32), backend="cpu")
    with pytest.raises(lsc.InvalidArgument):
        lsc.frechet_distance(a, a[:1], backend="cpu")
    bad = a.copy()
    bad[3, 2] = np.nan
    with pytest.raises(lsc.InvalidData, match="row 3 col 2"):
        lsc.frechet_distance(a, bad, backend="cpu")
    mu, sigma = stats(a)
    sigma[1, 1] = np.inf
    with pytest.raises(lsc.InvalidData, match="sigma2"):
        lsc.frechet_distance(a, (mu, sigma), backend="cpu")


def ref_kid_subset(x, y):
    x, y = x.astype(np.float64), y.astype(np.float64)
    d, m = x.shape[1], x.shape[0]
    k = lambda p, q: (p @ q.T / d + 1) ** 3
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) +
            (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def test_kid_against_numpy_on_the_library_subsets(rng):
    a = rng.standard_normal((200, 8), dtype=np.float32)
    b = (rng.standard_normal((150, 8)) * 1.5).astype(np.float32)
    r = lsc.kid(a, b, subsets=3, subset_rows=60, seed=11, backend="cpu")
    assert r.subset_rows == 60 and r.subsets == 3 and len(r.scores) == 3
    # the subsets are those of docs/METRICS.md 9.2; here, the scores' mean and std (ddof 1)
    assert abs(r.mean - r.scores.mean()) <= 1e-12
    assert abs(r.std - r.scores.std(ddof=1)) <= 1e-12
    # whole sets as the subsets: the estimator itself against numpy
    w = lsc.kid(a[:90], b[:90], subsets=1, backend="cpu")
    assert abs(w.mean - ref_kid_subset(a[:90], b[:90])) <= w.tolerance
    assert w.std == 0.0


def test_mmd_against_numpy(rng):
    a = rng.standard_normal((120, 6), dtype=np.float32)
    b = (rng.standard_normal((100, 6)) + 0.5).astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)  # CMMD's unit embeddings
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    r = lsc.mmd(a, b, backend="cpu")
    x, y = a.astype(np.float64), b.astype(np.float64)
    sq = lambda p, q: ((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)
    g = 1 / (2 * 10.0 ** 2)
    want = 1000 * (np.exp(-g * sq(x, x)).mean() + np.exp(-g * sq(y, y)).mean()
                   - 2 * np.exp(-g * sq(x, y)).mean())
    assert abs(r.mmd - want) <= r.tolerance, (r.mmd, want, r.tolerance)
    assert r.mmd > 10 * r.tolerance
    with pytest.raises(lsc.InvalidArgument, match="sigma"):
        lsc.mmd(a, b, sigma=0.0, backend="cpu")
