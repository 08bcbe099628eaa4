"""The Monitor's history file (docs/FILES.md, "Monitor history"), the page `lsc monitor-report`
draws from it, and plot() on the result types."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import lsc


def _batches(rng, n=14, d=8):
    for t in range(n):
        z = rng.standard_normal((150, d)).astype(np.float32)
        if t >= 10:
            z[:, d // 2:] *= 0.2        # the generator starts to lose half its dimensions
        yield t, z


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    rng = np.random.default_rng(5)
    real = rng.standard_normal((800, 8)).astype(np.float32)
    path = tmp_path_factory.mktemp("hist") / "history.jsonl"
    mon = lsc.Monitor(real, every=1, assess=True, history_path=path,
                      assess_options={"splits": 4})
    for t, z in _batches(rng):
        mon.step(t, z)
    mon.flush()
    return mon, path


def test_history_holds_one_record_a_line(run):
    mon, path = run
    lines = path.read_text().splitlines()
    assert len(lines) == len(mon.history) == 14
    for line, rec in zip(lines, mon.history):
        d = json.loads(line)             # strict JSON: no NaN, no Infinity
        assert d["format"] == "lsc-monitor-history" and d["version"] == 1
        assert d["step"] == rec.step and d["verdict"] == rec.verdict
        assert d["spectrum"]["effective_rank"] == rec.spectrum.effective_rank
        assert "singular_values" not in d["spectrum"]
        assert d["prdc"] == {k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                             for k, v in rec.prdc.to_dict().items()}
        assert d["verdicts"] == json.loads(json.dumps(
            {n: v.to_dict() for n, v in rec.verdicts.items()}))
        assert d["warnings"] == rec.warnings and d["trend_h"] == 8.0
        assert d == rec.to_dict() | {"trend_h": 8.0}


def test_history_is_appended_not_truncated(tmp_path, rng):
    path = tmp_path / "h.jsonl"
    path.write_text('{"kept": 1}\n')
    real = rng.standard_normal((300, 4)).astype(np.float32)
    mon = lsc.Monitor(real, every=1, history_path=str(path))
    mon.step(0, real[:100])
    lines = path.read_text().splitlines()
    assert lines[0] == '{"kept": 1}' and json.loads(lines[1])["step"] == 0
    assert json.loads(lines[1])["verdicts"] is None


def test_a_bad_history_path_fails_at_once(tmp_path, rng):
    real = rng.standard_normal((50, 4)).astype(np.float32)
    with pytest.raises(OSError):
        lsc.Monitor(real, history_path=tmp_path / "no" / "such" / "dir.jsonl")


def test_monitor_report_draws_the_history(run, cli, tmp_path):
    mon, path = run
    out = tmp_path / "m.html"
    p = subprocess.run([cli, "monitor-report", str(path), "--html", str(out)], capture_output=True,
                       text=True)
    if p.returncode != 0 and "without cJSON" in p.stderr:
        pytest.skip(p.stderr.strip())
    assert p.returncode == 0, p.stderr
    page = out.read_text()
    for rec in mon.history:
        v = rec.verdicts["dimensional_collapse"]
        # the page writes each value with 17 significant digits, as %.17g
        assert (f'data-key="monitor.dimensional_collapse.matched.{rec.step}" '
                f'data-value="{v.matched:.17g}"') in page
        for w in rec.warnings:
            assert f'data-key="monitor.warning.{w}.{rec.step}"' in page


def _matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


needs_mpl = pytest.mark.skipif(not _matplotlib(), reason="matplotlib is not installed here")


@needs_mpl
def test_plot_returns_figures(run, rng):
    from matplotlib.figure import Figure
    mon, _ = run
    real = rng.standard_normal((400, 8)).astype(np.float32)
    fake = rng.standard_normal((200, 8)).astype(np.float32) * 0.5
    a = lsc.assess(real, fake, splits=4)
    s = lsc.spectrum(fake)
    figs = [s.plot(), lsc.pair_stats(fake).plot(), a.prdc.plot(), a.prdc.plot(a), a.plot(), mon.plot()]
    assert all(isinstance(f, Figure) for f in figs)
    # the scree draws the spectrum's own fractions, the cumulative curve reaches 1
    ax_scree, ax_cum = figs[0].axes
    y = ax_scree.lines[0].get_ydata()
    lam = np.asarray(s.singular_values) ** 2
    np.testing.assert_allclose(y, lam / lam.sum())
    assert ax_scree.get_yscale() == "log"
    assert ax_cum.lines[0].get_ydata()[-1] == pytest.approx(1.0)
    assert {l.get_xdata()[0] for l in ax_cum.lines[-2:]} == {s.dims_90, s.dims_99}
    # PRDC: four bars with the figures
    bars = [p.get_width() for p in figs[2].axes[0].patches]
    assert bars == [a.prdc.precision, a.prdc.recall, a.prdc.density, a.prdc.coverage]
    # the assessment: one panel per check, titled with its level
    assert [ax.get_title(loc="left").split(":")[0] for ax in figs[4].axes] == list(a.verdicts)
    # the Monitor: one panel per check plus PRDC and effective rank; warnings as red lines
    titles = [ax.get_title(loc="left") for ax in figs[5].axes if ax.get_visible()]
    assert titles[:len(mon.history[-1].verdicts)] == list(mon.history[-1].verdicts)
    figs[5].savefig(__import__("io").BytesIO(), format="png")   # it renders


def test_plot_without_matplotlib_says_so(monkeypatch, rng):
    # a None entry in sys.modules makes `import matplotlib...` raise ImportError
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    s = lsc.spectrum(rng.standard_normal((50, 4)).astype(np.float32))
    with pytest.raises(lsc.MissingDependency, match="pip install matplotlib") as e:
        s.plot()
    assert isinstance(e.value, ImportError) and isinstance(e.value, lsc.LscError)
