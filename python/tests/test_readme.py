"""What a newcomer meets first: README's Python blocks run as printed, the package's `lsc` command,
an empty array refused with a clear message, and knn without a base excluding each row itself
(as the command line does)."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lsc

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PYPROJECT = ROOT / "python" / "pyproject.toml"


def _env():
    """This process's environment, plus the directory lsc was imported from."""
    env = dict(os.environ)
    spec = importlib.util.find_spec("lsc")
    if spec is not None and spec.origin:
        where = str(Path(spec.origin).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (where, env.get("PYTHONPATH")) if p)
    return env


def _python_blocks():
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Python\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end >= 0 else None]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_python_blocks_run_as_printed(tmp_path):
    blocks = _python_blocks()
    assert len(blocks) >= 2, "README's Python section lost its examples"
    # one after the other in one interpreter, as a reader pastes them
    script = tmp_path / "readme.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"README's Python blocks failed:\n{proc.stdout}\n{proc.stderr}"
    assert "precision" in proc.stdout
    assert (tmp_path / "real.lscref").exists()


def test_console_script_is_declared():
    text = PYPROJECT.read_text(encoding="utf-8")
    m = re.search(r"^\[project\.scripts\]\s*\n(?:#[^\n]*\n)*lsc\s*=\s*\"([\w.]+):(\w+)\"", text, re.M)
    assert m, "python/pyproject.toml declares no `lsc` console script"
    module = importlib.import_module(m.group(1))
    assert callable(getattr(module, m.group(2)))


def test_console_script_runs_the_command_line(cli):
    installed = Path(sys.executable).parent / "lsc"
    if installed.exists():   # pip install ./python: the console script itself
        cmd, env = [str(installed), "--version"], {k: v for k, v in os.environ.items() if k != "LSC_CLI"}
    else:                    # from the sources: the script's function, with LSC_CLI
        cmd = [sys.executable, "-c", "import sys; sys.argv[0] = 'lsc'; "
               "from lsc.__main__ import main; main()", "--version"]
        env = dict(_env(), LSC_CLI=cli)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("lsc "), proc.stdout


def test_installed_package_puts_lsc_on_path():
    import glob
    native = glob.glob(os.path.join(os.path.dirname(lsc.__file__), "_native", "bin", "lsc"))
    if not native:
        pytest.skip("lsc is used from its sources here, not installed by pip")
    assert (Path(sys.executable).parent / "lsc").exists(), \
        "pip install ./python put no `lsc` command beside the interpreter"


@pytest.mark.parametrize("shape", [(0, 4), (5, 0), (0, 0)])
def test_empty_array_is_refused_as_empty(shape):
    with pytest.raises(lsc.InvalidArgument, match=r"the array is empty \(shape \(%d, %d\)\)" % shape):
        lsc.spectrum(np.zeros(shape, dtype=np.float32))


def test_knn_without_base_excludes_self_like_the_cli(rng):
    x = rng.standard_normal((50, 6)).astype(np.float32)
    d, i = lsc.knn(x, k=3, backend="cpu")
    assert not (i == np.arange(50)[:, None]).any(), "a row found itself"
    d2, i2 = lsc.knn(x, k=3, exclude_self=True, backend="cpu")
    np.testing.assert_array_equal(i, i2)
    # kept on request, and with a base (even the same rows) nothing is excluded by default
    d3, i3 = lsc.knn(x, k=3, exclude_self=False, backend="cpu")
    np.testing.assert_array_equal(i3[:, 0], np.arange(50))
    d4, i4 = lsc.knn(x, x, k=3, backend="cpu")
    np.testing.assert_array_equal(i4, i3)


def test_saved_reference_honours_the_umask(tmp_path, rng):
    ref = lsc.Reference(rng.standard_normal((40, 4)).astype(np.float32), k=3, backend="cpu")
    old = os.umask(0o027)
    try:
        ref.save(tmp_path / "r.lscref")
    finally:
        os.umask(old)
    assert (tmp_path / "r.lscref").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["r.lscref"]   # no temporary left
