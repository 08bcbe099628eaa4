"""lsc.assess (docs/METRICS.md section 8) on cases with a known truth: healthy generated sets read
no collapse at any size, each kind of collapse reads as its own check, sizes that cannot resolve
a check say so, a Reference gives what its array gives, bad arguments are the binding's errors;
and the Monitor's verdicts."""
import json

import numpy as np
import pytest

import lsc

CHECKS = ["mode_collapse", "low_fidelity", "diversity_loss", "dimensional_collapse",
          "memorisation", "posterior_collapse"]
LEVELS = {"ok", "borderline", "collapse", "not_assessed"}
D, N_REAL = 16, 800


class Mixture:
    """`modes` Gaussian modes in `d` dimensions (centres N(0, 4^2), unit spread around each);
    draw(n, seed, only) keeps the first `only` modes when only > 0."""

    def __init__(self, d, modes, seed):
        self.d, self.modes = d, modes
        self.centre = np.random.default_rng(seed).normal(0.0, 4.0, (modes, d))

    def draw(self, n, seed, only=0):
        g = np.random.default_rng(seed)
        c = g.integers(0, only if only > 0 else self.modes, n)
        return (self.centre[c] + g.standard_normal((n, self.d))).astype(np.float32)


def dump(a):
    return "\n" + str(a)


@pytest.fixture(scope="module")
def mixture():
    mix = Mixture(D, 10, 300)
    return mix, mix.draw(N_REAL, 301)


# ---- known truths ----------------------------------------------------------------------------------

@pytest.mark.parametrize("m", [60, 150, 400])
@pytest.mark.parametrize("draw", [0, 1])
def test_a_healthy_generator_reads_no_collapse(mixture, m, draw):
    mix, real = mixture
    a = lsc.assess(real, mix.draw(m, 310 + 7 * draw + m))
    assert list(a.verdicts) == CHECKS
    for name, v in a.verdicts.items():
        assert v.check == name and v.level in LEVELS
        assert v.level != "collapse", dump(a)
    assert a.verdict != "collapse", dump(a)
    assert a.verdicts["mode_collapse"].level in ("ok", "not_assessed"), dump(a)
    mc = a.verdicts["mode_collapse"]
    # the user's full-size figure and the matched one are both reported
    assert mc.statistic.name == "coverage" and mc.statistic.value > 0 and mc.matched > 0
    assert a.not_assessed == [n for n, v in a.verdicts.items() if v.level == "not_assessed"]


def test_three_of_ten_modes_read_mode_collapse(mixture):
    mix, real = mixture
    a = lsc.assess(real, mix.draw(400, 322, only=3))
    mc = a.verdicts["mode_collapse"]
    assert mc.level == "collapse", dump(a)
    assert a.verdict == "collapse"
    # about 7 in 10 of the real rows lose their cover
    assert mc.effect == pytest.approx(0.7, abs=0.15), dump(a)
    assert mc.matched < mc.interval.lo < mc.baseline.value < mc.interval.hi
    assert mc.score > 0 and mc.lines.borderline < mc.lines.collapse
    assert a.verdicts["low_fidelity"].level != "collapse", dump(a)
    assert "mode_collapse" not in a.not_assessed


def test_sixteen_dead_units_of_thirty_two_read_posterior_collapse():
    g = np.random.default_rng(340)
    real = g.standard_normal((N_REAL, 32)).astype(np.float32)
    fake = g.standard_normal((400, 32)).astype(np.float32)
    fake[:, :16] *= 0.01                         # variance 1e-4 of the reference's 1
    a = lsc.assess(real, fake)
    pc = a.verdicts["posterior_collapse"]
    assert pc.level == "collapse", dump(a)
    assert pc.statistic.name == "inactive_fraction"
    assert pc.statistic.value == pytest.approx(0.5, abs=1e-12)
    assert "partial" in pc.why
    assert a.verdict == "collapse"


def test_five_generated_rows_cannot_judge_mode_collapse(mixture):
    mix, real = mixture
    a = lsc.assess(real, mix.draw(5, 400), k=5)
    mc = a.verdicts["mode_collapse"]
    assert mc.level == "not_assessed", dump(a)
    assert "k=5" in mc.why, mc.why
    assert "mode_collapse" in a.not_assessed
    # the other PRDC-based checks share the reason
    assert a.verdicts["low_fidelity"].level == "not_assessed"
    assert a.verdict in LEVELS - {"not_assessed"}     # the worst of the assessed checks


def test_a_reference_gives_the_verdicts_of_its_array(mixture, tmp_path):
    mix, real = mixture
    fake = mix.draw(300, 500, only=4)
    want = lsc.assess(real, fake, k=5)
    ref = lsc.Reference(real, k=5)
    assert lsc.assess(ref, fake) == want
    assert lsc.assess(ref, fake, k=99) == want          # the reference's own k is used
    ref.save(tmp_path / "real.lscref")
    assert lsc.assess(lsc.Reference.load(tmp_path / "real.lscref"), fake).to_dict() == \
        want.to_dict()
    assert lsc.assess(lsc.Reference(real, k=5, copy=False), fake) == want


def test_a_prdc_the_caller_has_is_used_and_checked(mixture):
    mix, real = mixture
    fake = mix.draw(300, 502, only=4)
    ref = lsc.Reference(real, k=5)
    p = lsc.prdc(ref, fake)
    a, b = lsc.assess(ref, fake, prdc=p), lsc.assess(ref, fake)
    assert a.verdicts["mode_collapse"].statistic.value == p.coverage
    assert a.verdicts["low_fidelity"].statistic.value == p.precision
    assert {n: v.level for n, v in a.verdicts.items()} == {n: v.level for n, v in b.verdicts.items()}
    assert a.uncovered is None and b.uncovered > 0       # the spared pass lists no rows
    with pytest.raises(lsc.InvalidArgument, match="prdc describes"):
        lsc.assess(ref, fake[:200], prdc=p)               # another fake set
    with pytest.raises(lsc.InvalidArgument, match="lsc.Prdc"):
        lsc.assess(ref, fake, prdc={"coverage": 1.0})


def test_a_prepared_reference_gives_the_same_verdicts(mixture, tmp_path):
    mix, real = mixture
    fake = mix.draw(300, 503, only=4)
    ref = lsc.Reference(real, k=5)
    assert ref.prepared_seed is None
    want = lsc.assess(ref, fake)
    assert ref.prepare() is ref and ref.prepared_seed == 0
    assert lsc.assess(ref, fake) == want
    ref.save(tmp_path / "prepared.lscref")
    back = lsc.Reference.load(tmp_path / "prepared.lscref")
    assert back.prepared_seed == 0 and lsc.assess(back, fake) == want
    assert ref.prepare(seed=9).prepared_seed == 9


def test_options_reach_the_library(mixture):
    mix, real = mixture
    fake = mix.draw(300, 501)
    a = lsc.assess(real, fake)
    assert lsc.assess(real, fake, seed=0, splits=lsc.assess.__kwdefaults__["splits"]) == a
    b = lsc.assess(real, fake, seed=7)
    assert b.verdicts["mode_collapse"].baseline != a.verdicts["mode_collapse"].baseline
    c = lsc.assess(real, fake, inactive_factor=0.5)
    assert "0.5 x" in c.verdicts["posterior_collapse"].why
    d = lsc.assess(real, fake, memorisation_factor=0.5)
    assert "0.50 x" in d.verdicts["memorisation"].why


def test_dtypes_and_strided_rows_give_the_verdicts_of_their_float32_values(mixture):
    mix, real = mixture
    fake = mix.draw(200, 502)
    want = lsc.assess(real, fake)
    assert lsc.assess(real, fake.astype(np.float64)) == want
    wide = np.zeros((200, 2 * D), dtype=np.float32)
    wide[:, :D] = fake
    assert lsc.assess(real, wide[:, :D]) == want
    assert lsc.assess(real, fake.tolist()) == want


# ---- the result's shape ------------------------------------------------------------------------------

def test_to_dict_is_the_json_shape_and_str_leads_with_the_verdict(mixture):
    mix, real = mixture
    a = lsc.assess(real, mix.draw(400, 322, only=3))
    d = a.to_dict()
    assert list(d) == ["verdict", "not_assessed", "verdicts", "classes", "uncovered",
                       "uncovered_rows", "near_rows"]
    assert d["verdict"] == a.verdict == "collapse"
    assert d["not_assessed"] == a.not_assessed
    assert list(d["verdicts"]) == CHECKS
    for name, v in d["verdicts"].items():
        assert set(v) == {"level", "statistic", "baseline", "interval", "effect", "score",
                          "lines", "why"}
        assert set(v["statistic"]) == {"name", "value", "matched"}
        assert set(v["baseline"]) == {"value", "spread", "method"}
        assert isinstance(v["interval"], list) and len(v["interval"]) == 2
        got = a.verdicts[name]
        assert v["level"] == got.level and v["why"] == got.why
        assert v["interval"] == [got.interval.lo, got.interval.hi]
        assert v["baseline"]["method"] == got.baseline.method != ""
    # plain values: strict JSON (non-finite numbers would be null), and back again
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    s = str(a)
    assert s.startswith("verdict: collapse\n")
    for name in CHECKS:
        assert name in s
    assert a.verdicts["mode_collapse"].why in s


def test_verdicts_equal_the_clis(cli, mixture, tmp_path):
    # `lsc report --json` and lsc.assess on the same rows: the same verdicts, number for number
    # (one JSON shape for both)
    import subprocess
    mix, real = mixture
    fake = mix.draw(400, 322, only=3)
    np.save(tmp_path / "r.npy", real)
    np.save(tmp_path / "f.npy", fake)
    out = subprocess.run([cli, "report", "--real", str(tmp_path / "r.npy"), "--fake",
                          str(tmp_path / "f.npy"), "--k", "5", "--backend", "cpu", "--json", "-"],
                         check=True, capture_output=True, text=True).stdout
    rep = json.loads(out)
    a = lsc.assess(real, fake, k=5, backend="cpu")
    d = a.to_dict()
    assert (rep["verdict"], rep["not_assessed"]) == (d["verdict"], d["not_assessed"])
    assert list(rep["verdicts"]) == list(d["verdicts"])
    for name, c in rep["verdicts"].items():
        v = d["verdicts"][name]
        assert c == v, name


# ---- errors ------------------------------------------------------------------------------------------

def test_bad_arguments_are_the_bindings_errors(mixture):
    mix, real = mixture
    fake = mix.draw(100, 503)
    with pytest.raises(lsc.InvalidArgument, match="cols") as e:
        lsc.assess(real, fake[:, :D - 1].copy())
    assert e.value.status == "LSC_STATUS_INVALID_ARGUMENT"
    bad = fake.copy()
    bad[3, 2] = np.nan
    with pytest.raises(lsc.InvalidData, match="row 3 col 2 is NaN") as e:
        lsc.assess(real, bad)
    assert e.value.code == 2
    ref = lsc.Reference(real, k=5)
    with pytest.raises(lsc.InvalidData, match="row 3 col 2"):
        lsc.assess(ref, bad)
    with pytest.raises(lsc.InvalidArgument, match="splits is 2"):
        lsc.assess(real, fake, splits=2)
    with pytest.raises(lsc.InvalidArgument, match="splits"):
        lsc.assess(real, fake, splits=65)
    with pytest.raises(lsc.InvalidArgument, match="splits"):
        lsc.assess(real, fake, splits=4.5)
    with pytest.raises(lsc.InvalidArgument, match="memorisation_factor"):
        lsc.assess(real, fake, memorisation_factor=0)
    with pytest.raises(lsc.InvalidArgument, match="inactive_factor"):
        lsc.assess(real, fake, inactive_factor=float("inf"))
    with pytest.raises(lsc.InvalidArgument, match="inactive_factor"):
        lsc.assess(real, fake, inactive_factor="small")
    with pytest.raises(lsc.InvalidArgument, match="seed"):
        lsc.assess(real, fake, seed=1.5)
    with pytest.raises(lsc.InvalidArgument, match="rows"):
        lsc.assess(real[:7], fake, k=2)                  # halves of at least 4 rows
    with pytest.raises(lsc.InvalidArgument, match="at least 2|rows"):
        lsc.assess(real, fake[:1])
    with pytest.raises(lsc.InvalidArgument, match="metric"):
        lsc.assess(real, fake, metric="manhattan")
    with pytest.raises(ValueError, match="2-D"):
        lsc.assess(real, fake[0])


# ---- the monitor ------------------------------------------------------------------------------------

def test_monitor_records_carry_verdicts_only_when_asked(mixture):
    mix, real = mixture
    healthy, collapsed = mix.draw(300, 600), mix.draw(300, 601, only=3)
    seen = []
    mon = lsc.Monitor(real, k=5, every=1, backend="cpu", assess=True, log=seen.append)
    r0 = mon.step(0, healthy)
    r1 = mon.step(1, collapsed)
    assert mon.flush() == [r0, r1] == seen
    for rec, batch in ((r0, healthy), (r1, collapsed)):
        want = lsc.assess(real, batch, backend="cpu")
        assert rec.verdict == want.verdict
        assert rec.verdicts == want.verdicts
        assert rec.not_assessed == want.not_assessed
        assert rec.prdc == lsc.prdc(real, batch, backend="cpu")
    assert r0.verdict != "collapse" and r1.verdict == "collapse"
    assert r1.verdicts["mode_collapse"].level == "collapse"
    assert "verdict collapse" in r1.summary() and "mode_collapse" in r1.summary()
    # prdc=False still keeps the reference the verdicts need; options reach lsc.assess
    only = lsc.Monitor(real, every=1, prdc=False, spectrum=False, backend="cpu", assess=True,
                       assess_options={"seed": 7})
    rec = only.step(0, collapsed)
    assert rec.prdc is None and rec.spectrum is None
    assert rec.verdicts == lsc.assess(real, collapsed, seed=7, backend="cpu").verdicts
    with pytest.raises(ValueError, match="assess_options"):
        lsc.Monitor(real, assess=True, assess_options={"k": 3})


def test_monitor_without_assess_is_unchanged(mixture):
    mix, real = mixture
    mon = lsc.Monitor(real, every=1, backend="cpu")
    rec = mon.step(0, mix.draw(100, 602))
    assert rec.verdict is None and rec.verdicts is None and rec.not_assessed is None
    assert "verdict" not in rec.summary()


def test_monitor_assesses_a_collected_async_measurement(mixture):
    # the async path without a GPU: a finished measurement whose batch copy (here host rows)
    # is assessed when it is collected, and the record carries those verdicts
    from lsc._monitor import MonitorRecord
    mix, real = mixture
    batch = mix.draw(300, 603, only=3)

    class Finished:
        assess_rows = batch.copy()

        def done(self):
            return True

        def result(self):
            return MonitorRecord(5, None, None, True, 0.1)

    mon = lsc.Monitor(real, every=1, backend="cpu", assess=True)
    mon._pending.append(Finished())
    (rec,) = mon.flush()
    want = lsc.assess(real, batch, backend="cpu")
    assert rec.step == 5 and rec.asynchronous and rec.call_ms == 0.1
    assert (rec.verdict, rec.verdicts, rec.not_assessed) == \
        (want.verdict, want.verdicts, want.not_assessed)


def test_labels_name_the_missing_class_and_list_uncovered_rows():
    # one of ten classes missing: that class reads collapse, the others do not; the uncovered
    # rows are the full-size PRDC's, the missing class's first
    mix = Mixture(D, 10, 500)
    g = np.random.default_rng(501)
    labels = g.integers(0, 10, N_REAL)
    real = (mix.centre[labels] + g.standard_normal((N_REAL, D))).astype(np.float32)
    fl = g.integers(0, 9, 300)                      # class 9 never generated
    fake = (mix.centre[fl] + g.standard_normal((300, D))).astype(np.float32)
    for own in (None, fl):
        a = lsc.assess(real, fake, labels=labels * 3 + 7, fake_labels=None if own is None
                       else own * 3 + 7)
        assert [c.label for c in a.classes] == [7 + 3 * c for c in range(10)]
        assert sum(c.real_rows for c in a.classes) == N_REAL
        levels = {c.label: c.level for c in a.classes}
        assert levels[34] == "collapse", dump(a)
        assert all(v != "collapse" for k, v in levels.items() if k != 34), dump(a)
        assert a.verdicts["mode_collapse"].level == "collapse" and "34" in \
            a.verdicts["mode_collapse"].why
        assert a.uncovered is not None and a.uncovered >= len(a.uncovered_rows) > 0
        assert labels[a.uncovered_rows[0]] == 9
        d = json.loads(json.dumps(a.to_dict()))
        assert len(d["classes"]) == 10 and d["uncovered"] == a.uncovered
        assert "class 34: coverage collapse" in str(a)
    # the rows listed are exactly the uncovered ones of the full-size PRDC
    ref = lsc.Reference(real, 5)
    a = lsc.assess(ref, fake)
    assert a.classes == []
    assert a.uncovered == round((1 - lsc.prdc(ref, fake).coverage) * N_REAL)


def test_bad_labels_are_the_bindings_errors(mixture):
    _, real = mixture
    fake = real[:100]
    with pytest.raises(lsc.InvalidArgument, match="one label per row"):
        lsc.assess(real, fake, labels=np.zeros(5, dtype=np.int64))
    with pytest.raises(lsc.InvalidArgument, match="integers"):
        lsc.assess(real, fake, labels=np.zeros(N_REAL, dtype=np.float32))
    with pytest.raises(lsc.InvalidArgument, match="need labels"):
        lsc.assess(real, fake, fake_labels=np.zeros(100, dtype=np.int64))


# ---- copies counted in the full-size pass -----------------------------------------------------------

@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_near_rows_count_the_rows_within_the_distance_of_a_reference_row(mixture, metric):
    # 20 exact copies, 30 copies moved by a known amount, the rest fresh: the count at each
    # distance is a float64 nearest-row search's, written from the definition
    mix, real = mixture
    g = np.random.default_rng(720)
    fake = mix.draw(300, 721)
    fake[:20] = real[g.choice(N_REAL, 20, replace=False)]
    step = g.standard_normal((30, D)).astype(np.float32)
    step *= (np.linspace(0.01, 0.3, 30) / np.linalg.norm(step, axis=1))[:, None].astype(np.float32)
    fake[20:50] = real[g.choice(N_REAL, 30, replace=False)] + step
    r64, f64 = real.astype(np.float64), fake.astype(np.float64)
    if metric == "cosine":   # cosine distance = 1 - cos, on the rows as given (uncentred)
        rn = r64 / np.linalg.norm(r64, axis=1, keepdims=True)
        fn = f64 / np.linalg.norm(f64, axis=1, keepdims=True)
        nearest = 0.5 * ((fn[:, None, :] - rn[None, :, :]) ** 2).sum(-1).min(axis=1)
        dists = [0.0, 1e-5, 1e-4]
    else:
        nearest = np.sqrt(((f64[:, None, :] - r64[None, :, :]) ** 2).sum(-1)).min(axis=1)
        dists = [0.0, 0.055, 0.205, 1.0]
    ref = lsc.Reference(real, 5, metric=metric)
    for nd in dists:
        # no row within 1e-3 relative of the boundary (the float32 rows decide it exactly)
        assert not np.any((nearest > 0) & (np.abs(nearest - nd) <= 1e-3 * max(nd, 1e-9))), nd
        a = lsc.assess(ref, fake, near_distance=nd)
        want = int((nearest <= nd).sum())
        assert a.near_rows == want, (metric, nd, want)
        assert a.to_dict()["near_rows"] == want
    assert lsc.assess(ref, fake, near_distance=0).near_rows >= 20
    # not asked, or a caller's PRDC: not counted
    assert lsc.assess(ref, fake).near_rows is None
    assert lsc.assess(ref, fake, near_distance=0.1, prdc=lsc.prdc(ref, fake)).near_rows is None
    for bad in (-1.0, float("nan"), "0.1"):
        with pytest.raises(lsc.InvalidArgument):
            lsc.assess(ref, fake, near_distance=bad)


def test_memorisation_reads_the_same_with_and_without_a_nearest_row_search(mixture):
    # without labels the copy tests ride on the generated rows' PRDC pass; with labels (and no
    # generated labels) each row's nearest reference row is searched for its class: the copy
    # fractions are the same decisions
    mix, real = mixture
    g = np.random.default_rng(730)
    fake = mix.draw(400, 731)
    fake[:60] = real[g.choice(N_REAL, 60, replace=False)] + \
        0.01 * g.standard_normal((60, D)).astype(np.float32)
    labels = g.integers(0, 4, N_REAL)
    plain, labelled = lsc.assess(real, fake), lsc.assess(real, fake, labels=labels)
    for name in ("memorisation",):
        a, b = plain.verdicts[name], labelled.verdicts[name]
        assert (a.matched, a.baseline, a.level) == (b.matched, b.baseline, b.level)
    assert plain.verdicts["memorisation"].level != "ok"
