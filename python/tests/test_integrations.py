"""lsc.integrations without any training framework: the `lsc/...` keys a record is logged under,
the verdict levels as numbers, and the message an integration gives when its package is missing.
The frameworks and loggers themselves are exercised in test_integrations_frameworks.py."""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lsc
from lsc.integrations import LEVEL_CODES, record_metrics, spectrum_values

ROOT = Path(__file__).resolve().parents[2]


def _records(rng, assess):
    ref = rng.standard_normal((600, 8)).astype(np.float32)
    mon = lsc.Monitor(ref, k=5, every=1, assess=assess, backend="cpu")
    for step in range(3):
        mon.step(step, rng.standard_normal((200, 8)).astype(np.float32) * np.float32(0.4))
    return mon.flush()


def test_every_figure_of_a_record_has_its_key(rng):
    rec = _records(rng, assess=True)[-1]
    m = record_metrics(rec)
    assert m["lsc/step"] == 2.0
    s, p = rec.spectrum, rec.prdc
    assert m["lsc/spectrum/effective_rank"] == s.effective_rank
    assert m["lsc/spectrum/active_units"] == s.active_units
    assert m["lsc/spectrum/active_fraction"] == s.active_units / s.cols
    assert m["lsc/spectrum/vendi_cosine"] == s.vendi_cosine
    assert m["lsc/prdc/coverage"] == p.coverage
    assert m["lsc/prdc/precision"] == p.precision
    assert m["lsc/prdc/coverage_expected"] == p.coverage_expected
    assert m["lsc/verdict"] == LEVEL_CODES[rec.verdict]
    assert set(rec.verdicts) and len(rec.verdicts) >= 6
    for check, v in rec.verdicts.items():
        assert m[f"lsc/verdict/{check}"] == LEVEL_CODES[v.level]
        if v.level == "not_assessed":
            assert f"lsc/score/{check}" not in m
        elif math.isfinite(v.score):
            assert m[f"lsc/score/{check}"] == v.score
    # a squeezed generator: at least one check reads borderline or collapse, as a positive code
    assert m["lsc/verdict"] >= 1
    assert all(k.startswith("lsc/") for k in m)
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    np.testing.assert_array_equal(spectrum_values(rec), s.singular_values)


def test_levels_are_ordered_numbers():
    assert LEVEL_CODES == {"ok": 0, "borderline": 1, "collapse": 2, "not_assessed": -1}


def test_without_assess_no_verdict_keys(rng):
    m = record_metrics(_records(rng, assess=False)[-1])
    assert not [k for k in m if k.startswith(("lsc/verdict", "lsc/score", "lsc/trend"))]
    assert "lsc/prdc/density" in m


def test_trend_keys_once_the_trend_runs(rng):
    ref = rng.standard_normal((600, 8)).astype(np.float32)
    mon = lsc.Monitor(ref, k=5, every=1, assess=True, backend="cpu", spectrum=False)
    for step in range(12):     # the CUSUM runs after 10 assessed records
        mon.step(step, rng.standard_normal((200, 8)).astype(np.float32))
    first, last = record_metrics(mon.history[0]), record_metrics(mon.history[-1])
    assert not [k for k in first if k.startswith("lsc/trend/")]
    trend = {k for k in last if k.startswith("lsc/trend/")}
    assert trend, "no trend key after the warm-up"
    for k in trend:
        check = k[len("lsc/trend/"):]
        assert last[f"lsc/warning/{check}"] in (0.0, 1.0)
        assert last[k] == mon.history[-1].trend[check]
    assert "lsc/spectrum/effective_rank" not in last


def test_a_figure_the_record_lacks_is_left_out(rng):
    # a zero row leaves the cosine Vendi score undefined (None): no key, rather than a NaN that
    # MLflow would refuse
    ref = rng.standard_normal((300, 4)).astype(np.float32)
    z = rng.standard_normal((100, 4)).astype(np.float32)
    z[7] = 0
    rec = lsc.Monitor(ref, every=1, backend="cpu").measure(0, z)
    assert rec.spectrum.vendi_cosine is None
    m = record_metrics(rec)
    assert "lsc/spectrum/vendi_cosine" not in m and "lsc/spectrum/effective_rank" in m


def _import_without(module_blocked, statement):
    # the package is hidden from the import system (None in sys.modules makes `import` raise),
    # as on a machine where it was never installed
    code = ("import sys\n"
            f"for name in {module_blocked!r}: sys.modules[name] = None\n"
            f"{statement}\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(lsc.__file__).resolve().parents[1]), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("blocked, statement, pip_name", [
    (["lightning", "lightning.pytorch", "pytorch_lightning"],
     "import lsc.integrations.lightning", "lightning"),
    (["transformers"], "import lsc.integrations.hf", "transformers"),
    (["wandb"], "from lsc.integrations import WandbLogger; WandbLogger()", "wandb"),
    (["mlflow"], "from lsc.integrations import MLflowLogger; MLflowLogger()", "mlflow"),
    (["tensorboard"], "from lsc.integrations import TensorBoardLogger; TensorBoardLogger(log_dir='x')",
     "tensorboard"),
])
def test_a_missing_package_is_named_with_its_install_command(blocked, statement, pip_name):
    proc = _import_without(blocked, statement)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: lsc.integrations"), proc.stderr
    assert f"needs the `{pip_name}` package" in last and f"pip install {pip_name}" in last


def test_the_integrations_import_without_any_framework():
    proc = _import_without(["lightning", "lightning.pytorch", "pytorch_lightning", "transformers",
                            "wandb", "mlflow", "tensorboard", "torch"],
                           "import lsc.integrations as i; print(sorted(i.__all__))")
    assert proc.returncode == 0, proc.stderr
    assert "TensorBoardLogger" in proc.stdout


def test_readme_documents_every_key_family():
    text = (ROOT / "python" / "README.md").read_text(encoding="utf-8")
    for key in ("lsc/step", "lsc/spectrum/effective_rank", "lsc/spectrum/active_fraction",
                "lsc/prdc/coverage", "lsc/verdict", "lsc/verdict/<check>", "lsc/score/<check>",
                "lsc/effect/<check>", "lsc/trend/<check>", "lsc/warning/<check>", "lsc/call_ms",
                "lsc/spectrum/singular_values"):
        assert f"`{key}`" in text, f"python/README.md does not document {key}"
