"""Logger adapters: each is a callable taking an lsc.MonitorRecord, for `lsc.Monitor(log=...)`
and the callbacks' `log=`. Each imports its package when it is made, so this module imports
without any of them.

Every record is logged at its own step (`record.step`), not at the step the training loop has
reached when the record arrives: on a GPU the Monitor measures asynchronously and delivers a
record at a later call."""
from __future__ import annotations

import time
from typing import Optional

from ._keys import record_metrics, spectrum_values
from ._require import require

HISTOGRAM_KEY = "lsc/spectrum/singular_values"


class TensorBoardLogger:
    """Writes each record's `lsc/...` figures as TensorBoard scalars at the record's step, and
    its singular values as a histogram (`lsc/spectrum/singular_values`, when the record carries
    them: measurements of host arrays do, asynchronous GPU ones do not).

    `writer` is a SummaryWriter (torch.utils.tensorboard's or tensorboardX's: anything with
    add_scalar and add_histogram); or give `log_dir` and one is made there (torch and the
    `tensorboard` package needed), which close() closes."""

    def __init__(self, writer=None, *, log_dir: Optional[str] = None, histogram: bool = True):
        if (writer is None) == (log_dir is None):
            raise ValueError("TensorBoardLogger: give a SummaryWriter or a log_dir (one of them)")
        self._own = writer is None
        if writer is None:
            require("tensorboard", "tensorboard", "lsc.integrations.TensorBoardLogger")
            tb = require("torch.utils.tensorboard", "torch",
                         "lsc.integrations.TensorBoardLogger")
            writer = tb.SummaryWriter(log_dir=log_dir)
        self.writer = writer
        self.histogram = histogram

    def __call__(self, record) -> None:
        for key, value in record_metrics(record).items():
            if key != "lsc/step":      # TensorBoard's own step axis is the record's step
                self.writer.add_scalar(key, value, record.step)
        sv = spectrum_values(record) if self.histogram else None
        if sv is not None:
            self.writer.add_histogram(HISTOGRAM_KEY, sv, record.step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        """Flushes; closes the writer only when this logger made it."""
        self.writer.flush()
        if self._own:
            self.writer.close()


class WandbLogger:
    """Logs each record's `lsc/...` figures to a Weights & Biases run (`run`, else the current
    `wandb.run` at each record), with `lsc/step` as their step metric
    (wandb.define_metric("lsc/*", step_metric="lsc/step")): a record that arrives after later
    training steps is still charted at the step it measured, and the run's own step is left to
    the training loop. Works the same in offline mode (WANDB_MODE=offline, then `wandb sync`).
    With histogram=True the singular values go in as a wandb.Histogram too."""

    def __init__(self, run=None, *, histogram: bool = True):
        self.wandb = require("wandb", "wandb", "lsc.integrations.WandbLogger")
        self.run = run
        self.histogram = histogram
        self._defined = set()

    def _run(self):
        run = self.run if self.run is not None else self.wandb.run
        if run is None:
            raise RuntimeError("lsc.integrations.WandbLogger: no W&B run: call wandb.init() first "
                               "or pass run=")
        if id(run) not in self._defined:
            # the step metric first, then every lsc key charted against it
            run.define_metric("lsc/step")
            run.define_metric("lsc/*", step_metric="lsc/step")
            self._defined.add(id(run))
        return run

    def __call__(self, record) -> None:
        run = self._run()
        data = dict(record_metrics(record))
        sv = spectrum_values(record) if self.histogram else None
        if sv is not None:
            data[HISTOGRAM_KEY] = self.wandb.Histogram(sv)
        run.log(data)


class MLflowLogger:
    """Logs each record's `lsc/...` figures to an MLflow run with log_metric's step = the
    record's step (one log_batch per record). `run_id` names the run; without it the active run
    (mlflow.active_run()) at the first record is used from then on, so records flushed after a
    framework has ended its run still reach it. `tracking_uri` as MlflowClient takes it (None:
    MLflow's default, MLFLOW_TRACKING_URI)."""

    def __init__(self, run_id: Optional[str] = None, *, tracking_uri: Optional[str] = None):
        self.mlflow = require("mlflow", "mlflow", "lsc.integrations.MLflowLogger")
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient
        self._metric = Metric
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.run_id = run_id

    def __call__(self, record) -> None:
        if self.run_id is None:
            active = self.mlflow.active_run()
            if active is None:
                raise RuntimeError("lsc.integrations.MLflowLogger: no active MLflow run: call "
                                   "mlflow.start_run() first or pass run_id=")
            self.run_id = active.info.run_id
        now = int(time.time() * 1000)
        metrics = [self._metric(key, value, now, record.step)
                   for key, value in record_metrics(record).items()]
        self.client.log_batch(self.run_id, metrics=metrics)
