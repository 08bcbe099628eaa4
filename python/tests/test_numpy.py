"""The binding on numpy arrays: figures against float64 references written from docs/METRICS.md,
against the CLI on the same files, every dtype and layout, every error."""
import json
import subprocess

import numpy as np
import pytest

import lsc

REL = 1e-9       # spectrum figures (float64 Gram vs SVD, docs/METRICS.md tolerances are looser)


# ---- float64 references from docs/METRICS.md -------------------------------------------------------

def ref_spectrum(x, thr=0.01):
    x = x.astype(np.float64)
    n, d = x.shape
    xc = x - x.mean(0)
    s = np.linalg.svd(xc, compute_uv=False)
    s = np.where(s < 1e-5 * s.max(), 0.0, s) if s.max() > 0 else s
    su = np.linalg.svd(x, compute_uv=False)
    lam = s ** 2 / (n - 1)
    p = s[s > 0] / s.sum()
    q = su / su.sum() + 1e-7
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    nu = np.linalg.eigvalsh(xn @ xn.T / n)
    nu = nu[nu > 1e-10 * nu.max()]
    nu = nu / nu.sum()
    c = np.cumsum(lam) / lam.sum()
    return dict(
        effective_rank=float(np.exp(-(p * np.log(p)).sum())),
        rankme=float(np.exp(-(q * np.log(q)).sum())),
        participation_ratio=float(lam.sum() ** 2 / (lam ** 2).sum()),
        stable_rank=float(lam.sum() / lam[0]),
        dims_90=int(np.argmax(c >= 0.90 - 1e-12) + 1),
        dims_99=int(np.argmax(c >= 0.99 - 1e-12) + 1),
        active_units=int((x.var(0, ddof=1) > thr).sum()),
        total_variance=float(lam.sum()),
        vendi_cosine=float(np.exp(-(nu * np.log(nu)).sum())),
        singular_values=s)


def ref_dist(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def ref_prdc(real, fake, k, strict=True):
    rr, ff, rf = ref_dist(real, real), ref_dist(fake, fake), ref_dist(real, fake)
    r = np.sort(rr, axis=1)[:, k]      # column 0 is self
    s = np.sort(ff, axis=1)[:, k]
    lt = (lambda d, t: d < t) if strict else (lambda d, t: d <= t)
    inball = lt(rf, r[:, None])        # N x M: fake j inside real ball i
    return dict(precision=inball.any(0).mean(), recall=lt(rf, s[None, :]).any(1).mean(),
                density=inball.sum() / (k * fake.shape[0]),
                coverage=lt(rf.min(1), r).mean())


# ---- spectrum ------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(400, 16), (50, 80), (2, 3)])
def test_spectrum_random_matches_float64_reference(rng, shape):
    x = rng.standard_normal(shape, dtype=np.float32)
    s = lsc.spectrum(x, backend="cpu")
    ref = ref_spectrum(x)
    for key in ("effective_rank", "rankme", "participation_ratio", "stable_rank",
                "total_variance", "vendi_cosine"):
        assert getattr(s, key) == pytest.approx(ref[key], rel=1e-8), key
    for key in ("dims_90", "dims_99", "active_units"):
        assert getattr(s, key) == ref[key], key
    np.testing.assert_allclose(s.singular_values, ref["singular_values"], rtol=1e-7, atol=1e-9)
    assert s.rows == shape[0] and s.cols == shape[1] and s.rank_limit == min(shape)
    np.testing.assert_allclose(s.column_variance, x.astype(np.float64).var(0, ddof=1), rtol=1e-10)


def test_spectrum_rank_k_with_large_offset(rng):
    z = rng.standard_normal((500, 3))
    x = (z @ rng.standard_normal((3, 32)) + 50.0).astype(np.float32)
    s = lsc.spectrum(x)
    assert s.numerical_rank == 3
    assert s.effective_rank == pytest.approx(ref_spectrum(x)["effective_rank"], rel=1e-6)
    assert s.effective_rank < 3.0 + 1e-9


def test_spectrum_identical_rows_and_zero_row(rng):
    x = np.tile(rng.standard_normal((1, 8), dtype=np.float32), (10, 1))
    s = lsc.spectrum(x)
    assert s.all_rows_identical and s.effective_rank == 0 and s.dims_90 == 0
    y = rng.standard_normal((10, 8), dtype=np.float32)
    y[4] = 0
    s = lsc.spectrum(y)
    assert s.vendi_cosine is None and "row 4" in s.vendi_unavailable
    assert np.isfinite(s.effective_rank)


def test_accumulator_equals_single_call_and_merges(rng):
    x = rng.standard_normal((1000, 24), dtype=np.float32) + 3.0
    one = lsc.spectrum(x)
    a = lsc.SpectrumAccumulator()
    for lo in range(0, 600, 97):
        a.add(x[lo:min(lo + 97, 600)])
    b = lsc.SpectrumAccumulator(24).add(x[600:])
    a.merge(b)
    assert a.rows == 1000 and b.rows == 400 and a.cols == 24
    s = a.finalize()
    assert s.effective_rank == pytest.approx(one.effective_rank, rel=1e-10)
    assert s.vendi_cosine == pytest.approx(one.vendi_cosine, rel=1e-10)
    np.testing.assert_allclose(s.singular_values, one.singular_values, rtol=1e-9)
    with pytest.raises(lsc.InvalidArgument, match="cols"):
        a.add(x[:, :5])
    with pytest.raises(lsc.InvalidArgument, match="empty"):
        lsc.SpectrumAccumulator().finalize()


# ---- distances, kNN, pair statistics ---------------------------------------------------------------

def test_distances_metrics(rng):
    a = rng.standard_normal((30, 12), dtype=np.float32)
    b = rng.standard_normal((20, 12), dtype=np.float32)
    d = lsc.distances(a, b)
    assert d.shape == (30, 20) and d.dtype == np.float32
    np.testing.assert_allclose(d, ref_dist(a, b), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lsc.distances(a, b, metric="sqeuclidean"), ref_dist(a, b) ** 2,
                               rtol=1e-4, atol=1e-4)
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(lsc.distances(a, b, metric="cosine"), 1 - an @ bn.T, atol=1e-5)
    self_d = lsc.distances(a)
    assert np.all(np.diag(self_d) == 0)


def test_knn_exact_with_ties_and_duplicates(rng):
    x = rng.standard_normal((200, 8), dtype=np.float32)
    x[50] = x[10]                       # an exact duplicate
    d, i = lsc.knn(x, k=4, exclude_self=True)
    full = ref_dist(x, x)
    np.fill_diagonal(full, np.inf)
    order = np.lexsort((np.tile(np.arange(200), (200, 1)), full), axis=1)[:, :4]
    np.testing.assert_array_equal(i, order)
    np.testing.assert_allclose(d, np.take_along_axis(full, order, 1), rtol=1e-6)
    assert i[10, 0] == 50 and d[10, 0] == 0 and i[50, 0] == 10
    q = rng.standard_normal((7, 8), dtype=np.float32)
    d2, i2 = lsc.knn(q, x, k=199)
    assert d2.shape == (7, 199) and i2.dtype == np.int64
    assert np.all(np.diff(d2, axis=1) >= 0)
    dc, ic = lsc.knn(q, x, k=3, metric="cosine")
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    np.testing.assert_array_equal(ic, np.argsort(1 - qn @ xn.T, axis=1, kind="stable")[:, :3])


def test_pair_stats_matches_brute_force(rng):
    x = rng.standard_normal((120, 6), dtype=np.float32)
    x[7] = x[3]
    p = lsc.pair_stats(x, bins=16, dup_eps=1e-6)
    full = ref_dist(x, x)
    iu = np.triu_indices(120, 1)
    d = full[iu]
    assert p.pairs == d.size and p.rows_used == 120 and not p.subset
    assert p.mean == pytest.approx(d.mean(), rel=1e-6)
    assert p.std == pytest.approx(d.std(), rel=1e-5)
    assert p.min == 0.0 and p.max == pytest.approx(d.max(), rel=1e-6)
    np.fill_diagonal(full, np.inf)
    nn = full.min(1)
    assert p.nn_mean == pytest.approx(nn.mean(), rel=1e-6)
    assert p.nn_median == pytest.approx(np.sort(nn)[(nn.size - 1) // 2], rel=1e-6)
    assert p.near_duplicate_pairs == 1 and p.near_duplicates == [(3, 7, 0.0)]
    assert p.histogram.sum() == p.pairs and p.histogram.dtype == np.int64
    B = 2 * np.linalg.norm(x.astype(np.float64) - x.mean(0, dtype=np.float64), axis=1).max()
    assert p.hist_upper == pytest.approx(B, rel=1e-6)
    assert p.edges[0] == 0 and p.edges[-1] == pytest.approx(B) and len(p.edges) == 17
    np.testing.assert_array_equal(p.histogram, np.histogram(d, bins=16, range=(0, p.hist_upper))[0])
    s = lsc.pair_stats(x, subset_rows=50, seed=3)
    assert s.subset and s.rows_used == 50 and s.pairs == 50 * 49 // 2
    assert lsc.pair_stats(x, subset_rows=50, seed=3) == s
    assert lsc.pair_stats(x, subset_rows=50, seed=3, subset_offset=0) == s


def _same_figures(got, want, rows):
    """pair statistics of a subset (got) against those of its rows taken out (want): exact
    distances within 1e-6 relative, means of them within 1e-9, histograms and listed pairs equal
    (listed pairs name rows of the whole matrix, `rows[i]`, in got)."""
    assert got.rows_used == want.rows_used == len(rows) and got.pairs == want.pairs
    assert got.subset and not want.subset
    for key in ("mean", "std"):
        assert getattr(got, key) == pytest.approx(getattr(want, key), rel=1e-9), key
    for key in ("min", "max", "nn_mean", "nn_median", "nn_min", "nn_max"):
        assert getattr(got, key) == pytest.approx(getattr(want, key), rel=1e-6, abs=1e-12), key
    assert got.hist_upper == pytest.approx(want.hist_upper, rel=1e-9)
    np.testing.assert_array_equal(got.histogram, want.histogram)
    assert got.near_duplicate_pairs == want.near_duplicate_pairs
    assert [(i, j) for i, j, _ in got.near_duplicates] == \
        [(int(rows[i]), int(rows[j])) for i, j, _ in want.near_duplicates]
    for (_, _, dg), (_, _, dw) in zip(got.near_duplicates, want.near_duplicates):
        assert dg == pytest.approx(dw, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_pair_stats_subset_offset_gives_the_figures_of_exactly_those_rows(rng, metric):
    n, seed, h = 301, 9, 150
    x = rng.standard_normal((n, 7), dtype=np.float32)
    halves = [lsc.sample_rows(n, h, seed=seed, offset=o) for o in (0, h)]
    for rows in halves:            # a duplicate pair inside each half, listed by both calls
        x[rows[40]] = x[rows[3]]
    got = []
    for offset, rows in zip((0, h), halves):
        g = lsc.pair_stats(x, metric=metric, bins=16, subset_rows=h, seed=seed,
                           subset_offset=offset)
        want = lsc.pair_stats(np.ascontiguousarray(x[rows]), metric=metric, bins=16)
        _same_figures(g, want, rows)
        assert g.near_duplicate_pairs >= 1
        got.append(g)
    assert np.intersect1d(*halves).size == 0 and got[0].mean != got[1].mean
    with pytest.raises(lsc.InvalidArgument, match="positions"):
        lsc.pair_stats(x, subset_rows=h, seed=seed, subset_offset=n - h + 1)


# ---- references and PRDC -------------------------------------------------------------------------

@pytest.mark.parametrize("comparison", ["strict", "inclusive"])
def test_prdc_matches_definition(rng, comparison):
    real = rng.standard_normal((150, 5), dtype=np.float32)
    fake = (rng.standard_normal((120, 5)) * 0.8 + 0.3).astype(np.float32)
    got = lsc.prdc(real, fake, k=5, comparison=comparison)
    ref = ref_prdc(real, fake, 5, strict=comparison == "strict")
    for key, val in ref.items():
        assert getattr(got, key) == pytest.approx(val, abs=1e-12), key
    assert (got.k, got.real_rows, got.fake_rows, got.comparison) == (5, 150, 120, comparison)


def ref_coverage_expected(n, m, k):
    """docs/METRICS.md section 5: 1 - prod_{t<k} (N-1-t) / (N-1+M-t), in exact fractions."""
    from fractions import Fraction
    miss = Fraction(1)
    for t in range(k):
        miss *= Fraction(n - 1 - t, n - 1 + m - t)
    return float(1 - miss)


@pytest.mark.parametrize("n,m,k", [(150, 120, 5), (40, 400, 3), (300, 7, 1), (12, 13, 11)])
def test_prdc_coverage_expected_is_the_closed_form(rng, n, m, k):
    real = rng.standard_normal((n, 4), dtype=np.float32)
    fake = rng.standard_normal((m, 4), dtype=np.float32)
    want = ref_coverage_expected(n, m, k)
    got = lsc.prdc(real, fake, k=k)
    assert got.coverage_expected == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert 0.0 < got.coverage_expected < 1.0
    assert got.to_dict()["coverage_expected"] == got.coverage_expected
    assert lsc.prdc(lsc.Reference(real, k), fake).coverage_expected == got.coverage_expected
    # a fake set drawn from the real distribution lands near it (a loose sanity check only)
    if (n, m) == (150, 120):
        assert abs(got.coverage - want) < 0.25


def test_reference_save_load_radii(rng, tmp_path):
    real = rng.standard_normal((100, 4), dtype=np.float32)
    ref = lsc.Reference(real, k=3, comparison="inclusive")
    full = ref_dist(real, real)
    np.testing.assert_allclose(ref.radii, np.sort(full, 1)[:, 3], rtol=1e-6)
    path = tmp_path / "r.lscref"
    ref.save(path)
    back = lsc.Reference.load(path)
    assert (back.rows, back.cols, back.k, back.metric, back.comparison) == \
        (100, 4, 3, "euclidean", "inclusive")

    np.testing.assert_array_equal(back.radii, ref.radii)
    fake = rng.standard_normal((60, 4), dtype=np.float32)
    assert lsc.prdc(back, fake) == lsc.prdc(ref, fake)
    assert "rows=100" in repr(back)


def test_reference_file_version(rng, tmp_path):
    # lsc_reference_info.file_version: the format version in the file's header (u32 at byte 8)
    # for a loaded reference, 0 for one built in memory
    ref = lsc.Reference(rng.standard_normal((30, 3), dtype=np.float32), k=2)
    assert ref.file_version == 0
    path = tmp_path / "r.lscref"
    ref.save(path)
    back = lsc.Reference.load(path)
    assert back.file_version == int.from_bytes(path.read_bytes()[8:12], "little") >= 1
    assert f"file_version={back.file_version}" in repr(back)


def test_reference_without_a_copy_equals_a_copied_one(rng):
    real = rng.standard_normal((120, 6), dtype=np.float32)
    fake = rng.standard_normal((90, 6), dtype=np.float32)
    before = real.copy()
    padded = np.zeros((120, 8), dtype=np.float32)
    padded[:, :6] = real
    for arr in (real, real.astype(np.float64), padded[:, :6]):  # borrowed, then two copied
        a, b = lsc.Reference(arr, k=4), lsc.Reference(arr, k=4, copy=False)
        np.testing.assert_array_equal(a.radii, b.radii)
        assert lsc.prdc(a, fake) == lsc.prdc(b, fake)
    np.testing.assert_array_equal(real, before)


# ---- the binding's figures equal the CLI's on the same data -------------------------------------------

def test_figures_equal_cli(cli, rng, tmp_path):
    real = rng.standard_normal((300, 12), dtype=np.float32)
    fake = (rng.standard_normal((300, 12)) * 0.6).astype(np.float32)
    fake[5] = fake[9]
    np.save(tmp_path / "r.npy", real)
    np.save(tmp_path / "f.npy", fake)
    out = subprocess.run([cli, "report", "--real", str(tmp_path / "r.npy"), "--fake",
                          str(tmp_path / "f.npy"), "--k", "5", "--backend", "cpu", "--json", "-"],
                         check=True, capture_output=True, text=True).stdout
    rep = json.loads(out)
    for name, x in (("real", real), ("fake", fake)):
        s = lsc.spectrum(x, backend="cpu")
        js = rep["spectrum"][name]
        for key in ("effective_rank", "rankme", "participation_ratio", "stable_rank",
                    "total_variance", "vendi_cosine"):
            assert getattr(s, key) == pytest.approx(js[key], rel=1e-12), (name, key)
        for key in ("dims_90", "dims_99", "active_units", "numerical_rank"):
            assert getattr(s, key) == js[key]
        np.testing.assert_allclose(s.singular_values, js["singular_values"], rtol=1e-12)
        p = lsc.pair_stats(x, backend="cpu")
        jp = rep["pairwise"][name]
        for key in ("mean", "std", "min", "max", "nn_mean", "nn_median", "nn_min", "nn_max",
                    "near_duplicate_pairs"):
            assert getattr(p, key) == pytest.approx(jp[key], rel=1e-12), (name, key)
        np.testing.assert_array_equal(p.histogram, jp["histogram"]["counts"])
    q = lsc.prdc(real, fake, k=5, backend="cpu")
    for key in ("precision", "recall", "density", "coverage", "zero_radii_real",
                "zero_radii_fake"):
        assert getattr(q, key) == rep["prdc"][key], key


# ---- dtypes and layouts ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_dtypes_give_the_figures_of_their_float32_values(rng, dtype):
    x = rng.standard_normal((200, 10)).astype(dtype)
    x32 = x.astype(np.float32)
    assert lsc.spectrum(x) == lsc.spectrum(x32)
    assert lsc.pair_stats(x) == lsc.pair_stats(x32)
    np.testing.assert_array_equal(lsc.knn(x, k=3, exclude_self=True).indices,
                                  lsc.knn(x32, k=3, exclude_self=True).indices)


def test_strided_rows_are_read_in_place_and_never_modified(rng):
    wide = rng.standard_normal((100, 20), dtype=np.float32)
    before = wide.copy()
    view = wide[::2, 3:11]              # ld = 40 elements, rows strided
    assert lsc.spectrum(view) == lsc.spectrum(np.ascontiguousarray(view))
    assert lsc.prdc(wide[:50, :8], view, k=3) == lsc.prdc(np.ascontiguousarray(wide[:50, :8]),
                                                          np.ascontiguousarray(view), k=3)
    np.testing.assert_array_equal(wide, before)


def test_bad_layouts_and_types_are_refused_clearly(rng):
    x = rng.standard_normal((20, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="columns are not contiguous"):
        lsc.spectrum(x[:, ::2])
    with pytest.raises(ValueError, match="columns are not contiguous"):
        lsc.spectrum(np.asfortranarray(x))
    with pytest.raises(ValueError, match="2-D"):
        lsc.spectrum(x[0])
    with pytest.raises(TypeError, match="int64"):
        lsc.spectrum(np.arange(20, dtype=np.int64).reshape(10, 2))
    with pytest.raises(TypeError, match="byte order"):
        lsc.spectrum(x.astype(">f4"))
    with pytest.raises(TypeError, match="not supported"):
        lsc.spectrum("not an array")
    assert lsc.spectrum(x.tolist()).rows == 20   # lists become float64 arrays


# ---- errors: every status is an exception carrying the C message ----------------------------------

def test_errors_carry_the_c_message(rng, tmp_path):
    x = rng.standard_normal((20, 6), dtype=np.float32)
    y = x.copy()
    y[7, 2] = np.inf
    with pytest.raises(lsc.InvalidData, match="row 7 col 2 is Inf") as e:
        lsc.knn(y, k=2, exclude_self=True)
    assert e.value.status == "LSC_STATUS_INVALID_DATA" and e.value.code == 2
    assert isinstance(e.value, ValueError) and isinstance(e.value, lsc.LscError)
    with pytest.raises(lsc.InvalidArgument, match="k"):
        lsc.knn(x, k=20, exclude_self=True)
    with pytest.raises(lsc.InvalidArgument):
        lsc.knn(x, k=0)
    with pytest.raises(lsc.InvalidArgument, match="cols"):
        lsc.prdc(x, rng.standard_normal((20, 5), dtype=np.float32))
    with pytest.raises(lsc.InvalidArgument, match="at least 2"):
        lsc.spectrum(x[:1])
    with pytest.raises(lsc.InvalidArgument, match="0 rows|rows"):
        lsc.spectrum(x[:0])
    with pytest.raises(lsc.InvalidArgument, match="metric"):
        lsc.knn(x, k=2, metric="manhattan")
    with pytest.raises(lsc.InvalidArgument, match="backend"):
        lsc.spectrum(x, backend="tpu")
    with pytest.raises(lsc.InvalidData, match="zero"):
        z = x.copy()
        z[3] = 0
        lsc.knn(z, k=2, metric="cosine")
    bad = tmp_path / "bad.lscref"
    bad.write_bytes(b"not a reference file at all" * 10)
    with pytest.raises(lsc.BadFile):
        lsc.Reference.load(bad)
    with pytest.raises(lsc.LscIOError):
        lsc.Reference.load(tmp_path / "missing.lscref")


def test_cuda_backend_without_a_device_is_a_clear_error(rng):
    x = rng.standard_normal((20, 6), dtype=np.float32)
    try:
        lsc.spectrum(x, backend="cuda")
    except lsc.BackendUnavailable as e:
        assert str(e)                    # says why (not built, no driver, no device)
    except lsc.NotSupported:
        pass                             # a CUDA build whose backend lacks the operation
    else:
        pytest.skip("a CUDA device is present: covered by test_gpu.py")


def test_reference_to_device_without_a_device_is_a_clear_error(rng):
    ref = lsc.Reference(rng.standard_normal((40, 5), dtype=np.float32), k=3)
    try:
        ref.to_device(0)
    except lsc.BackendUnavailable as e:
        assert str(e)                    # no CUDA backend here: nothing was placed
    else:
        pytest.skip("a CUDA device is present: covered by test_gpu.py")
    assert ref.device is None and "device=" not in repr(ref)
    fake = rng.standard_normal((30, 5), dtype=np.float32)
    assert lsc.prdc(ref, fake, backend="cpu") == lsc.prdc(ref, fake)   # still a host reference


# ---- the monitor on the CPU ------------------------------------------------------------------------

def test_monitor_measures_on_schedule_and_logs(rng):
    real = rng.standard_normal((300, 8), dtype=np.float32)
    seen = []
    mon = lsc.Monitor(real, k=5, every=3, log=seen.append, backend="cpu")
    for step in range(10):
        z = real[::2] * (1.0 - step / 10)        # shrinking: precision stays, recall falls
        rec = mon.step(step, z)
        assert (rec is not None) == (step % 3 == 0)
    hist = mon.flush()
    assert [r.step for r in hist] == [0, 3, 6, 9] and seen == hist
    assert all(not r.asynchronous and r.call_ms >= 0 for r in hist)
    assert hist[0].prdc.recall > hist[-1].prdc.recall
    assert hist[-1].spectrum.total_variance < hist[0].spectrum.total_variance
    assert "eff_rank" in hist[0].summary() and "step 0" in hist[0].summary()
    only = lsc.Monitor(real, every=1, prdc=False)
    assert only.step(0, real).prdc is None and only.reference is None
    with pytest.raises(ValueError):
        lsc.Monitor(real, every=0)


def test_version_and_exports():
    assert lsc.version() == lsc.__version__
    for name in ("spectrum", "SpectrumAccumulator", "pair_stats", "knn", "distances",
                 "Reference", "prdc", "Monitor", "sample_rows", "permute"):
        assert hasattr(lsc, name)
