"""The callbacks and logger adapters against the real packages: a tiny Lightning fit and a tiny
Hugging Face Trainer run on the CPU, each logging to TensorBoard, Weights & Biases (offline) and
MLflow (a SQLite tracking store, and once the file: store: MLflow 3 refuses that one unless
MLFLOW_ALLOW_FILE_STORE=true, and points its users to a database) in a temporary folder, and every logged `lsc/...` figure read back
with the package's own reader (TensorBoard's EventAccumulator, the W&B run folder's record log,
MlflowClient) and compared with the callback's own records.

Each test skips, naming the package, where torch, lightning, transformers, tensorboard, wandb or
mlflow is missing (`pip install lightning transformers tensorboard wandb mlflow`; .ci/run's
LSC_CI_SLOW=1 stage installs them)."""
import glob
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lsc
from lsc.integrations import record_metrics


ROOT = Path(__file__).resolve().parents[2]
# .ci/run's slow stage sets it: there a missing package is a failure, not a skip
REQUIRED = os.environ.get("LSC_REQUIRE_FRAMEWORKS") == "1"


def _need(*modules):
    for m in modules:
        if REQUIRED:
            importlib.import_module(m)
        else:
            pytest.importorskip(m, reason=f"the integration tests need `{m}` (pip install {m}; "
                                          f".ci/run runs them with LSC_CI_SLOW=1)")


KEYS = ("lsc/spectrum/effective_rank", "lsc/prdc/coverage", "lsc/prdc/precision", "lsc/verdict")


@pytest.fixture(autouse=True)
def _own_environment():
    # the frameworks write to os.environ (mlflow.set_experiment sets MLFLOW_EXPERIMENT_ID, which
    # names an experiment of this test's store only): each test starts from the same environment
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    # wandb keeps its settings (WANDB_DIR among them) in a process-wide singleton from its first
    # run on: torn down around each test, so that each run lands in its own test's folder
    try:
        import wandb
    except ImportError:       # the test names what it needs itself
        wandb = None
    if wandb is not None:
        wandb.teardown()
    yield tmp_path
    if wandb is not None:
        wandb.teardown()


def _data(seed=0, n=512, d=8):
    import torch
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    return x, x @ torch.randn(d, 1, generator=g)


def _reference(d=8):
    return np.random.default_rng(1).standard_normal((600, d)).astype(np.float32)


# ---- readers --------------------------------------------------------------------------------------

def _tensorboard_scalars(folder):
    """{tag: {step: value}} over every event file under `folder` (each read on its own: a folder
    two writers wrote to holds two files)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out, hist = {}, {}
    files = glob.glob(os.path.join(str(folder), "**", "events.out.tfevents.*"), recursive=True)
    assert files, f"no TensorBoard event file under {folder}"
    for f in files:
        ea = EventAccumulator(f, size_guidance={"scalars": 0, "histograms": 0})
        ea.Reload()
        for tag in ea.Tags()["scalars"]:
            out.setdefault(tag, {}).update({e.step: e.value for e in ea.Scalars(tag)})
        for tag in ea.Tags()["histograms"]:
            hist.setdefault(tag, {}).update({e.step: e.histogram_value for e in ea.Histograms(tag)})
    return out, hist


# the run-*.wandb record log: a 7-byte header (":W&B", magic 0xBEE1 little-endian, version 0),
# then LevelDB's log format in 32 KiB blocks: records of crc32 (4 bytes, over the type byte and
# the data), length (2), type (1: full, 2: first, 3: middle, 4: last), each block's tail under 7
# bytes zero padding. wandb 0.31 dropped its Python reader of the format (wandb-core, in Go,
# syncs it), so the test reads it itself; every record's checksum is verified.
_WANDB_HEADER = b":W&B" + (0xBEE1).to_bytes(2, "little") + b"\x00"
_BLOCK = 32768


def _wandb_log_payloads(path):
    import zlib
    with open(path, "rb") as f:
        buf = f.read()
    assert buf[:7] == _WANDB_HEADER, f"{path}: not a W&B record log ({buf[:7]!r})"
    pos, pending = 7, b""
    while pos + 7 <= len(buf):
        room = _BLOCK - pos % _BLOCK
        if room < 7:
            pos += room
            continue
        crc = int.from_bytes(buf[pos:pos + 4], "little")
        length = int.from_bytes(buf[pos + 4:pos + 6], "little")
        kind = buf[pos + 6]
        data = buf[pos + 7:pos + 7 + length]
        if kind == 0 and length == 0:     # the zeroed rest of the last, unfinished block
            break
        assert zlib.crc32(data, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF == crc, \
            f"{path}: bad checksum at byte {pos}"
        pos += 7 + length
        if kind == 1:
            yield data
        elif kind == 2:
            pending = data
        elif kind == 3:
            pending += data
        elif kind == 4:
            yield pending + data
            pending = b""


def _wandb_records(folder):
    """The history rows ({key: value}) and metric definitions ({name: step_metric}) of the one
    offline W&B run under `folder`, read from its run-*.wandb record log (what `wandb sync`
    uploads)."""
    from wandb.proto import wandb_internal_pb2 as pb
    files = glob.glob(os.path.join(str(folder), "**", "offline-run-*", "run-*.wandb"),
                      recursive=True)
    assert len(files) == 1, f"expected one offline W&B run under {folder}: {files}"
    rows, metrics = [], {}
    for data in _wandb_log_payloads(files[0]):
        rec = pb.Record()
        rec.ParseFromString(data)
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            rows.append({(it.key or "/".join(it.nested_key)): json.loads(it.value_json)
                         for it in rec.history.item})
        elif kind == "metric":
            m = rec.metric
            metrics[m.name or m.glob_name] = m.step_metric
    assert rows, f"{files[0]}: no history record"
    return rows, metrics


def _mlflow_history(client, run_id, key):
    return {m.step: m.value for m in client.get_metric_history(run_id, key)}


def _close(a, b):
    # TensorBoard stores scalars as float32
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


# ---- Lightning ------------------------------------------------------------------------------------

def _lightning_module(pl):
    import torch

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Linear(8, 8)
            self.head = torch.nn.Linear(8, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.head(torch.tanh(self.encoder(x))), y)
            self.log("train_loss", loss)
            return loss

        def lsc_latents(self, batch, outputs):
            return self.encoder(batch[0])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    return Tiny()


def test_lightning_fit_logs_to_tensorboard_wandb_and_mlflow(tmp_path, offline_wandb):
    _need("torch", "lightning", "tensorboard", "wandb", "mlflow")
    import lightning.pytorch as pl
    import torch
    import wandb
    from mlflow.tracking import MlflowClient
    from lsc.integrations.lightning import CollapseMonitor

    x, y = _data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=128)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tb = pl.loggers.TensorBoardLogger(str(tmp_path / "tb"), name="", version="")
    wb = pl.loggers.WandbLogger(project="lsc-test", save_dir=str(tmp_path), offline=True)
    mf = pl.loggers.MLFlowLogger(experiment_name="lsc-test", tracking_uri=uri)
    cb = CollapseMonitor(_reference(), every=3, k=5, assess=True, backend="cpu")
    trainer = pl.Trainer(max_steps=12, accelerator="cpu", devices=1, logger=[tb, wb, mf],
                         callbacks=[cb], enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(_lightning_module(pl), loader)
    wandb.finish()

    assert [r.step for r in cb.history] == [3, 6, 9, 12]
    assert all(r.verdict is not None for r in cb.history)
    want = {r.step: record_metrics(r) for r in cb.history}

    # pl_module.log_dict: the last record's figures are callback metrics (for EarlyStopping)
    assert float(trainer.callback_metrics["lsc/prdc/coverage"]) == pytest.approx(
        want[12]["lsc/prdc/coverage"])

    scalars, hist = _tensorboard_scalars(tmp_path / "tb")
    for key in KEYS:
        assert set(scalars[key]) == set(want), key
        for step, value in scalars[key].items():
            assert _close(value, want[step][key]), (key, step)
    assert set(hist["lsc/spectrum/singular_values"]) == set(want)
    assert "train_loss" in scalars       # the run's own figures are still there

    rows, _ = _wandb_records(offline_wandb)
    lsc_rows = [r for r in rows if "lsc/prdc/coverage" in r]
    # Lightning's WandbLogger charts against trainer/global_step, which it sets to our step
    assert sorted(r["trainer/global_step"] for r in lsc_rows) == sorted(want)
    for r in lsc_rows:
        for key in KEYS:
            assert r[key] == pytest.approx(want[r["trainer/global_step"]][key]), key

    client = MlflowClient(tracking_uri=uri)
    for key in KEYS:
        got = _mlflow_history(client, mf.run_id, key)
        assert set(got) == set(want), key
        for step, value in got.items():
            assert value == pytest.approx(want[step][key]), (key, step)


def test_lightning_with_lsc_adapters_and_a_hook_argument(tmp_path, offline_wandb, monkeypatch):
    # the callback's log= takes lsc's own adapters instead of the trainer's loggers
    _need("torch", "lightning", "tensorboard", "wandb", "mlflow")
    import lightning.pytorch as pl
    import mlflow
    import torch
    import wandb
    from mlflow.tracking import MlflowClient
    from lsc.integrations import MLflowLogger, TensorBoardLogger, WandbLogger
    from lsc.integrations.lightning import CollapseMonitor

    x, y = _data(seed=2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)
    # MLflow's file: store here (the other tests use SQLite), which MLflow 3 serves only when
    # asked to
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file:{tmp_path / 'mlruns'}"
    client = MlflowClient(tracking_uri=uri)
    run_id = client.create_run(client.create_experiment("lsc-adapters")).info.run_id
    wandb.init(project="lsc-test", dir=str(tmp_path))
    tb = TensorBoardLogger(log_dir=str(tmp_path / "tb"))
    calls = []
    cb = CollapseMonitor(_reference(), lambda module, batch, out: calls.append(1) or
                         module.encoder(batch[0]), every=4, k=5,
                         log=[tb, WandbLogger(), MLflowLogger(run_id, tracking_uri=uri)],
                         log_to_module=False, backend="cpu")
    trainer = pl.Trainer(max_steps=8, accelerator="cpu", devices=1, logger=False, callbacks=[cb],
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(_lightning_module(pl), loader)
    tb.close()
    wandb.finish()

    assert len(calls) == 2, "the hook runs at measured steps only"
    want = {r.step: record_metrics(r) for r in cb.history}
    assert set(want) == {4, 8}
    assert "lsc/prdc/coverage" not in trainer.callback_metrics     # log_to_module=False
    scalars, _ = _tensorboard_scalars(tmp_path / "tb")
    assert {s: _close(v, want[s]["lsc/prdc/recall"]) for s, v in
            scalars["lsc/prdc/recall"].items()} == {4: True, 8: True}
    rows, metrics = _wandb_records(offline_wandb)
    assert metrics.get("lsc/*") == "lsc/step"
    assert sorted(r["lsc/step"] for r in rows if "lsc/step" in r) == [4, 8]
    got = _mlflow_history(client, run_id, "lsc/spectrum/effective_rank")
    assert got == pytest.approx({s: want[s]["lsc/spectrum/effective_rank"] for s in want})
    assert mlflow.active_run() is None


def test_adapters_chart_a_late_record_at_its_own_step(tmp_path, offline_wandb, monkeypatch):
    # on a GPU the Monitor hands a record over after later training steps: the run has logged
    # step 9 when the record of step 3 arrives. W&B drops a run.log(step=3) by then; against
    # lsc/step the record keeps its step. TensorBoard and MLflow take the step with the value.
    _need("torch", "tensorboard", "wandb", "mlflow")
    import dataclasses
    import wandb
    from mlflow.tracking import MlflowClient
    from lsc.integrations import MLflowLogger, TensorBoardLogger, WandbLogger

    rng = np.random.default_rng(5)
    mon = lsc.Monitor(_reference(), every=1, backend="cpu")
    rec = dataclasses.replace(mon.measure(0, rng.standard_normal((300, 8)).astype(np.float32)),
                              step=3)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    run_id = client.create_run(client.create_experiment("late")).info.run_id
    run = wandb.init(project="lsc-test", dir=str(tmp_path))
    tb = TensorBoardLogger(log_dir=str(tmp_path / "tb"))
    for step in range(10):      # the training loop's own figures, steps 0 to 9
        run.log({"train/loss": 1.0 / (step + 1)})
        tb.writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        client.log_metric(run_id, "train/loss", 1.0 / (step + 1), step=step)
    for log in (tb, WandbLogger(run), MLflowLogger(run_id, tracking_uri=uri)):
        log(rec)
    tb.close()
    wandb.finish()

    want = record_metrics(rec)["lsc/prdc/coverage"]
    scalars, hist = _tensorboard_scalars(tmp_path / "tb")
    assert list(scalars["lsc/prdc/coverage"]) == [3] and _close(scalars["lsc/prdc/coverage"][3], want)
    assert list(hist["lsc/spectrum/singular_values"]) == [3]
    rows, metrics = _wandb_records(offline_wandb)
    late = [r for r in rows if "lsc/step" in r]
    assert len(late) == 1 and late[0]["lsc/step"] == 3 and late[0]["_step"] == 10
    assert late[0]["lsc/prdc/coverage"] == pytest.approx(want)
    assert metrics.get("lsc/*") == "lsc/step"
    assert _mlflow_history(client, run_id, "lsc/prdc/coverage") == {3: pytest.approx(want)}


_DDP_SCRIPT = """
import json, os, sys
import numpy as np
import torch
import lightning.pytorch as pl
from lsc.integrations.lightning import CollapseMonitor

out = sys.argv[1]
calls = []

class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(8, 8)

    def training_step(self, batch, batch_idx):
        return self.encoder(batch[0]).pow(2).mean()

    def lsc_latents(self, batch, outputs):
        calls.append(self.trainer.global_step)
        return self.encoder(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

ref = np.random.default_rng(1).standard_normal((600, 8)).astype(np.float32)
cb = CollapseMonitor(ref, every=2, k=5, backend="cpu")
x = torch.randn(1024, 8, generator=torch.Generator().manual_seed(0))
trainer = pl.Trainer(max_steps=6, accelerator="cpu", devices=2, strategy="ddp", logger=False,
                     callbacks=[cb], enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False)
trainer.fit(Tiny(), torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=64))
with open(os.path.join(out, f"rank{trainer.global_rank}.json"), "w") as f:
    json.dump({"world": trainer.world_size, "calls": calls, "monitor": cb.monitor is not None,
               "steps": [r.step for r in cb.history],
               "logged": "lsc/prdc/coverage" in trainer.callback_metrics}, f)
"""


def test_lightning_ddp_measures_on_rank_zero_only(tmp_path):
    # two CPU processes (gloo): Lightning's ddp launcher starts the script again as rank 1, so
    # the fit runs in a script of its own rather than inside pytest
    _need("torch", "lightning")
    script = tmp_path / "ddp_fit.py"
    script.write_text(_DDP_SCRIPT, encoding="utf-8")
    env = dict(os.environ)
    where = str(Path(importlib.util.find_spec("lsc").origin).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (where, env.get("PYTHONPATH")) if p)
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2
    assert r0["monitor"] and r0["calls"] == [2, 4, 6] and r0["steps"] == [2, 4, 6]
    assert r0["logged"]
    assert not r1["monitor"] and r1["calls"] == [] and r1["steps"] == []


# ---- Hugging Face ---------------------------------------------------------------------------------

def test_hf_trainer_logs_to_tensorboard_wandb_and_mlflow(tmp_path, offline_wandb, monkeypatch):
    _need("torch", "transformers", "accelerate", "tensorboard", "wandb", "mlflow")
    import torch
    import transformers
    import wandb
    from mlflow.tracking import MlflowClient
    from lsc.integrations.hf import CollapseMonitor

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # MLflow keeps the tracking URI process-wide once anything has set it (an earlier test), and
    # the Trainer's MLflowCallback then leaves it as it is
    import mlflow
    mlflow.set_tracking_uri(uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "lsc-hf")
    monkeypatch.setenv("WANDB_PROJECT", "lsc-test")
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Linear(8, 8)
            self.head = torch.nn.Linear(8, 1)

        def forward(self, x, labels=None):
            out = self.head(torch.tanh(self.encoder(x)))
            return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}

    class Rows(torch.utils.data.Dataset):
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"x": self.x[i], "labels": self.y[i]}

    x, y = _data(seed=3)
    probe = torch.randn(256, 8, generator=torch.Generator().manual_seed(4))
    cb = CollapseMonitor(_reference(), lambda model: model.encoder(probe), k=5, assess=True,
                         backend="cpu")
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=12, logging_steps=4, eval_strategy="steps",
        eval_steps=6, per_device_train_batch_size=64, report_to=["tensorboard", "wandb", "mlflow"],
        use_cpu=True, save_strategy="no", disable_tqdm=True)
    trainer = transformers.Trainer(model=Tiny(), args=args, train_dataset=Rows(x, y),
                                   eval_dataset=Rows(x[:128], y[:128]), callbacks=[cb])
    trainer.train()
    wandb.finish()

    # logs at 4, 8, 12 and evaluations at 6, 12: step 12 measured once
    assert [r.step for r in cb.history] == [4, 6, 8, 12]
    want = {r.step: record_metrics(r) for r in cb.history}

    scalars, hist = _tensorboard_scalars(tmp_path / "tb")
    for key in KEYS:
        assert set(scalars[key]) == set(want), key
        for step, value in scalars[key].items():
            assert _close(value, want[step][key]), (key, step)
    assert set(hist["lsc/spectrum/singular_values"]) == set(want)
    assert any(t.startswith("train/") for t in scalars), "the Trainer's own scalars are missing"

    rows, metrics = _wandb_records(offline_wandb)
    assert metrics.get("lsc/*") == "lsc/step"
    lsc_rows = [r for r in rows if "lsc/step" in r]
    assert sorted(r["lsc/step"] for r in lsc_rows) == sorted(want)
    for r in lsc_rows:
        for key in KEYS:
            assert r[key] == pytest.approx(want[r["lsc/step"]][key]), key

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("lsc-hf").experiment_id])
    assert len(runs) == 1
    for key in KEYS:
        got = _mlflow_history(client, runs[0].info.run_id, key)
        assert got == pytest.approx({s: want[s][key] for s in want}), key
    assert "loss" in runs[0].data.metrics       # the Trainer's own figures, in the same run


# ---- README's examples ---------------------------------------------------------------------------

def _readme_blocks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Training frameworks\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end if end >= 0 else None], re.S)


@pytest.mark.parametrize("index, needs, printed", [
    (0, ("torch", "lightning", "tensorboard"), r"step 100 .*verdict"),
    (1, ("torch", "transformers", "accelerate", "tensorboard"), r"step 20 .*verdict"),
    (2, ("torch", "tensorboard", "wandb", "mlflow"), r"step 400 .*verdict"),
], ids=["lightning", "hugging-face", "adapters"])
def test_readme_training_examples_run_as_printed(index, needs, printed, tmp_path, offline_wandb):
    _need(*needs)
    blocks = _readme_blocks()
    assert len(blocks) == 3, "README's Training frameworks section lost an example"
    script = tmp_path / "example.py"
    script.write_text(blocks[index], encoding="utf-8")
    env = dict(os.environ)
    where = str(Path(importlib.util.find_spec("lsc").origin).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (where, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"README example {index} failed:\n{proc.stdout}\n{proc.stderr}"
    assert re.search(printed, proc.stdout), proc.stdout
    scalars, _ = _tensorboard_scalars(tmp_path)
    assert "lsc/prdc/coverage" in scalars, sorted(scalars)
    if index == 2:
        rows, metrics = _wandb_records(tmp_path)
        assert metrics.get("lsc/*") == "lsc/step"
        assert sorted(r["lsc/step"] for r in rows if "lsc/step" in r) == [0, 100, 200, 300, 400]
        from mlflow.tracking import MlflowClient
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
        run, = client.search_runs([e.experiment_id for e in client.search_experiments()])
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "lsc/verdict")]
        assert sorted(steps) == [0, 100, 200, 300, 400]
