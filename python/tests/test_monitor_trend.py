"""The Monitor's trend warning (docs/METRICS.md section 8.1): the CUSUM recursion on hand-computed
numbers, its false-alarm rate and detection on simulated healthy and shifted runs, and a Monitor
fed real batches that start to collapse."""
import math

import numpy as np
import pytest

import lsc
from lsc._monitor import TREND_H, TREND_KAPPA, MonitorRecord, _Cusum

nan = math.nan


def test_cusum_recursion_by_hand():
    # kappa 0.5, h 2, a window of 3 scores, 2 scores before a lane's CUSUM runs
    cu = _Cusum(3, 0.5, 2.0, window=3, warmup=2, clip=8.0, sd_floor=0.5)
    z = [[1, 0, 0], [3, 0, 0], [4, 1, 100], [nan, 0, nan], [20, 0, nan], [3, 0, math.inf]]
    want = [
        # lane 0: [1, 3] -> mean 2, sd sqrt(2), u = (4 - 2) / (sqrt(2) sqrt(1 + 1/2)) = 1.154701,
        # S = 1.154701 - 0.5; a NaN score is skipped (S kept); 20 is clipped to 8: [1, 3, 4] ->
        # mean 8/3, sd 1.527525, u = (8 - 8/3) / (1.527525 sqrt(4/3)) = 3.023716, S = 0.654701 +
        # 3.023716 - 0.5 = 3.178417 > 2 warns and restarts; 3 against [8, 3, 4] -> u < 0, S = 0.
        # lane 1: [0, 0] -> sd 0 floored to 0.5: u = 1 / (0.5 sqrt(1.5)) = 1.632993, S = 1.132993;
        # 0 against [0, 0, 1] (mean 1/3, sd 0.577350): u = -0.5, S = 0.132993, then 0.
        # lane 2: 100 -> 8, u = 8 / 0.612372 = 13.06 clipped to 8: S = 7.5 warns, restarts at 0.
        ([nan, nan, nan], []),
        ([nan, nan, nan], []),
        ([0.654701, 1.132993, 7.5], [2]),
        ([0.654701, 0.132993, 0.0], []),
        ([3.178417, 0.0, 0.0], [0]),
        ([0.0, 0.0, 0.0], []),
    ]
    for zt, (cusum, warned) in zip(z, want):
        got, w = cu.update(zt)
        np.testing.assert_allclose(got, cusum, atol=1e-6)
        assert list(np.nonzero(w)[0]) == warned
    cu.reset()      # the warm-up starts again
    got, w = cu.update([5, 5, 5])
    assert np.isnan(got).all() and not w.any()


def test_bad_trend_options():
    real = np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="assess"):
        lsc.Monitor(real, trend=True)
    for kw in ({"trend_kappa": -1.0}, {"trend_h": 0.0}, {"trend_h": math.inf}):
        with pytest.raises(ValueError, match="trend"):
            lsc.Monitor(real, assess=True, backend="cpu", **kw)


def monitor_scores(rng, runs, records, checks=6, splits=16, q=0.2):
    """Scores of healthy Monitor runs (records, runs, checks): every record of a run is judged
    against the same held-out subsets, so a run's scores share one baseline error - a level and a
    scale of their own (section 8.1: q = m / |B|, the share of the held-out half in a subset)."""
    eps = rng.standard_normal((runs, checks, splits))
    base = math.sqrt(q) * rng.standard_normal((runs, checks)) + \
        math.sqrt(1 - q) * eps.mean(-1)
    pred = eps.std(-1, ddof=1) * math.sqrt(1 + 1 / splits)
    return (base - rng.standard_normal((records, runs, checks))) / pred


def first_warnings(z, kappa=TREND_KAPPA, h=TREND_H, **kw):
    """The record of each run's first warning of any check (len(z) where none), by default at
    the Monitor's kappa and h."""
    records, runs, checks = z.shape
    cu = _Cusum(runs * checks, kappa, h, **kw)
    first = np.full(runs, records)
    for t in range(records):
        _, warned = cu.update(z[t].reshape(-1))
        first[(first == records) & warned.reshape(runs, checks).any(-1)] = t
    return first


def test_healthy_runs_rarely_warn_and_a_shift_warns_soon():
    rng = np.random.default_rng(81)
    first = first_warnings(monitor_scores(rng, 150, 1000))
    assert (first < 1000).mean() <= 0.05       # section 8.1: about 2% at 1,000 records
    # each healthy run's own level and scale do not matter: the same runs moved and stretched
    # per run warn at the same records (a CUSUM of the raw scores would not); without the clip
    # and the spread's floor, which bound what the standardisation sees, and at a low h, so that
    # many runs warn and the comparison says something
    z = monitor_scores(np.random.default_rng(82), 150, 200)
    moved = 1.5 * rng.random((150, 1)) + z * (0.5 + rng.random((150, 1)))
    free = dict(kappa=0.5, h=6.0, clip=math.inf, sd_floor=0.0)
    first = first_warnings(z, **free)
    assert 0.2 < (first < 200).mean() < 1
    np.testing.assert_array_equal(first, first_warnings(moved, **free))
    # a shift of 3 of one check's score from record 50 (index 49) warns by record 60
    z = monitor_scores(rng, 150, 60)
    z[49:, :, 3] += 3.0
    first = first_warnings(z)
    assert (first < 49).mean() <= 0.02
    assert (first[first >= 49] <= 59).mean() >= 0.9


def gaussian_shrunk(rng, n, d, shrunk=0, factor=1.0):
    x = rng.standard_normal((n, d))
    x[:, :shrunk] *= factor     # less variance along `shrunk` of the directions
    return x.astype(np.float32)


def test_monitor_warns_soon_after_a_partial_collapse():
    rng = np.random.default_rng(2)
    real = gaussian_shrunk(rng, 2000, 16)
    seen = []
    # spectrum and PRDC are not needed here: the verdicts alone cost about a reference build
    mon = lsc.Monitor(real, every=1, backend="cpu", asynchronous=False, assess=True,
                      spectrum=False, prdc=False, log=seen.append)
    assert mon._trend_args == (TREND_KAPPA, TREND_H)     # assess=True keeps the trend
    change = 20     # 10 records of warm-up, 10 judged healthy ones
    recs = [mon.step(t, gaussian_shrunk(rng, 200, 16)) for t in range(change)]
    # the generator then loses a third of the variance along 4 of the 16 directions: effective
    # rank and recall drop, yet most records still read ok
    for t in range(change, change + 10):
        recs.append(mon.step(t, gaussian_shrunk(rng, 200, 16, shrunk=4, factor=0.8)))
        if recs[-1].warnings:
            break
    assert seen == mon.history == recs
    warned = [i for i, r in enumerate(recs) if r.warnings]
    assert warned and warned[0] >= change, [r.summary() for r in recs if r.warnings]
    w = warned[0]
    assert w <= change + 9      # within 10 records of the change
    assert set(recs[w].warnings) <= {"diversity_loss", "dimensional_collapse"}
    assert all(recs[w].trend[c] > TREND_H for c in recs[w].warnings)
    # before the warning no record read collapse: the trend saw the drift first
    assert all(r.verdict != "collapse" for r in recs[:w + 1])
    assert "TREND WARNING" in recs[w].summary() and recs[w].warnings[0] in recs[w].summary()
    assert not any("TREND" in r.summary() for r in recs[:w])
    # the trend of a check runs from its 11th assessed record; mode collapse is not assessed at
    # these sizes, so it has none
    assert recs[9].trend == {}
    assessed = {c for c, v in recs[10].verdicts.items() if v.level != "not_assessed"}
    assert set(recs[10].trend) == assessed and "mode_collapse" not in assessed
    assert all(v >= 0 for v in recs[10].trend.values())
    # reset_trend: the warm-up starts again
    mon.reset_trend()
    assert mon.step(100, gaussian_shrunk(rng, 200, 16)).trend == {}


def test_monitor_without_trend():
    rng = np.random.default_rng(3)
    real = gaussian_shrunk(rng, 400, 8)
    rec = lsc.Monitor(real, every=1, backend="cpu", assess=True, trend=False).step(
        0, gaussian_shrunk(rng, 100, 8))
    assert rec.verdicts is not None and rec.trend is None and rec.warnings == []
    rec = lsc.Monitor(real, every=1, backend="cpu").step(0, gaussian_shrunk(rng, 100, 8))
    assert rec.trend is None and rec.warnings == []


def test_records_reach_history_and_trend_in_the_order_taken():
    # a measurement still on the GPU (here a stand-in that is never done on its own) when a host
    # batch is measured: the earlier one is collected first, so history, log and the trend see
    # the records in the order they were taken
    rng = np.random.default_rng(4)
    real = gaussian_shrunk(rng, 400, 8)
    early = gaussian_shrunk(rng, 100, 8)

    class OnTheGpu:
        assess_rows = early

        def done(self):
            return False

        def result(self):
            return MonitorRecord(5, None, None, True, 0.1)

    seen = []
    mon = lsc.Monitor(real, every=1, backend="cpu", assess=True, log=lambda r: seen.append(r.step))
    mon._pending.append(OnTheGpu())
    assert mon.step(6, gaussian_shrunk(rng, 100, 8)).step == 6
    assert seen == [5, 6] and [r.step for r in mon.history] == [5, 6]
    assert mon._trend.seen.max() == 2       # both records entered the trend
    first = mon.history[0].verdicts
    scores = [first[c].score for c in mon._trend_checks if first[c].level != "not_assessed"]
    slot0 = [mon._trend.buf[0, i] for i, c in enumerate(mon._trend_checks)
             if first[c].level != "not_assessed"]
    np.testing.assert_allclose(slot0, np.clip(scores, -8, 8))
