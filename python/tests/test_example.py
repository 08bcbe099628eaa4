"""python/examples/vae_collapse.py runs, end to end, and shows the collapse it is about: the
healthy run keeps its units, the runs with a too-high KL weight lose them. On the CPU when torch is
installed, and on the GPU (latents read on the device, the monitor's asynchronous path) when torch
sees one; skipped, with the reason, otherwise. LSC_REQUIRE_GPU=1 turns the GPU skip into a failure.
"""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vae_collapse.py"
VERDICT = re.compile(r"^verdict beta=(\S+): (healthy|posterior collapse): (\d+)/(\d+) units active",
                     re.M)

try:
    import torch
except ImportError:
    torch = None


def _env():
    """The test process's environment (LSC_LIBRARY, PYTHONPATH), plus the directory lsc was found
    in, so the example imports the same lsc however pytest found it."""
    env = dict(os.environ)
    spec = importlib.util.find_spec("lsc")
    if spec is not None and spec.origin:
        root = str(Path(spec.origin).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _run(device):
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--quick", "--device", device],
                          env=_env(), capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"the example failed (exit {proc.returncode}):\n{out}"
    verdicts = {beta: (state, int(active), int(units))
                for beta, state, active, units in VERDICT.findall(proc.stdout)}
    assert set(verdicts) == {"1", "20", "1->20"}, f"expected three verdicts:\n{out}"
    state, healthy, units = verdicts["1"]
    assert state == "healthy" and healthy >= units // 2, out
    for beta in ("20", "1->20"):
        state, active, _ = verdicts[beta]
        assert state == "posterior collapse" and active < healthy, out
    assert verdicts["20"][1] == 0, out      # a constant KL weight of 20 kills every unit
    return proc.stdout


def test_example_cpu():
    if torch is None:
        pytest.skip("torch is not installed: the example trains a VAE with PyTorch")
    out = _run("cpu")
    assert "device cpu" in out


def test_example_cuda():
    why = None
    if torch is None:
        why = "torch is not installed: the example trains a VAE with PyTorch"
    elif not torch.cuda.is_available():
        why = "torch.cuda.is_available() is false: no CUDA device for the GPU run"
    if why is not None:
        if os.environ.get("LSC_REQUIRE_GPU") == "1":
            pytest.fail(f"LSC_REQUIRE_GPU=1 but {why}")
        pytest.skip(why)
    out = _run("cuda")
    assert "device cuda" in out


DDP = EXAMPLE.parent / "ddp_monitor.py"


def test_ddp_example_records_equal_one_process():
    """python/examples/ddp_monitor.py: a DDP job on 2 gloo processes; every record of the
    group's monitor equals one process's on the gathered means (the script checks it)."""
    if torch is None:
        pytest.skip("torch is not installed: the DDP example trains a VAE with PyTorch")
    proc = subprocess.run([sys.executable, str(DDP), "--quick", "--ranks", "2"], env=_env(),
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"the DDP example failed (exit {proc.returncode}):\n{out}"
    assert "2 ranks on gloo" in out, out
    assert "records equal one process's on the gathered means: yes" in out, out
    # rank 0 alone prints the table: one header, one row a measurement
    assert out.count("step active") == 1, out
