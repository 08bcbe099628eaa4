"""lsc.integrations.hf.CollapseMonitor: lsc.Monitor as a Hugging Face transformers
TrainerCallback.

    from lsc.integrations.hf import CollapseMonitor
    mon = CollapseMonitor(real_latents, lambda model: model.encode(probe), assess=True)
    trainer = transformers.Trainer(..., callbacks=[mon])

Importing this module needs `transformers`."""
from __future__ import annotations

import os
from typing import Callable, List, Optional, Sequence, Union

from .._monitor import Monitor, MonitorRecord
from ._require import callback_options, require
from .loggers import MLflowLogger, TensorBoardLogger, WandbLogger

transformers = require("transformers", "transformers", "lsc.integrations.hf")


class CollapseMonitor(transformers.TrainerCallback):
    """Measures latents with lsc.Monitor whenever the Trainer logs (on_log, every
    `logging_steps`) and evaluates (on_evaluate), at state.global_step, and logs each record's
    `lsc/...` figures. A step is measured once even when an evaluation and a log both land on it.

    `reference`: the real latents (2-D array or tensor) or an lsc.Reference. `latents`: the hook,
    called as latents(model) under torch.no_grad on the main process (typically: encode a fixed
    probe batch; the hook decides train or eval mode). `every`: measure only at events whose
    global_step is a multiple of it (default 1: at every event).

    `log`: None logs to what the Trainer reports to (args.report_to): "tensorboard" through a
    SummaryWriter of its own, in the Trainer's folder when that is named (TENSORBOARD_LOGGING_DIR;
    args.logging_dir before transformers 5), else in output_dir/runs/lsc, a run of its own,
    "wandb" to the current W&B run against `lsc/step`, "mlflow" to the run active at the first
    record; or one lsc.integrations logger adapter, or a list of them, instead.

    Only the world's main process (state.is_world_process_zero) builds the reference, calls the
    hook and logs. The remaining keyword arguments (k, assess, metric, spectrum, prdc, ...) go to
    lsc.Monitor. `history` holds every record."""

    def __init__(self, reference, latents: Callable, *, every: int = 1,
                 log: Union[None, Callable, Sequence[Callable]] = None, **monitor_options):
        if not callable(latents):
            raise TypeError("CollapseMonitor: latents must be a callable latents(model)")
        adapters = callback_options(every, log, monitor_options)
        self.reference = reference
        self.latents = latents
        self.every = every
        self.adapters: Optional[List[Callable]] = adapters
        self.monitor_options = monitor_options
        self.monitor: Optional[Monitor] = None
        self._own_tb: Optional[TensorBoardLogger] = None
        self._last_step: Optional[int] = None

    @property
    def history(self) -> List[MonitorRecord]:
        return [] if self.monitor is None else self.monitor.history

    def _adapters_for(self, args) -> List[Callable]:
        report_to = args.report_to or []
        if isinstance(report_to, str):
            report_to = [] if report_to == "none" else [report_to]
        out: List[Callable] = []
        if "tensorboard" in report_to:
            # the Trainer's own folder where it is named (TENSORBOARD_LOGGING_DIR in transformers
            # 5, args.logging_dir before); else its default is timestamped, out of reach from a
            # callback, and the figures get a run of their own beside it
            log_dir = (os.environ.get("TENSORBOARD_LOGGING_DIR")
                       or getattr(args, "logging_dir", None)
                       or os.path.join(args.output_dir, "runs", "lsc"))
            self._own_tb = TensorBoardLogger(log_dir=os.path.expanduser(log_dir))
            out.append(self._own_tb)
        if "wandb" in report_to:
            out.append(WandbLogger())
        if "mlflow" in report_to:
            out.append(MLflowLogger())
        return out

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or self.monitor is not None:
            return
        if self.adapters is None:
            self.adapters = self._adapters_for(args)
        self.monitor = Monitor(self.reference, every=self.every, log=self._deliver,
                               **self.monitor_options)

    def _deliver(self, rec: MonitorRecord) -> None:
        for adapter in self.adapters:
            adapter(rec)

    def _measure(self, state, model) -> None:
        if self.monitor is None or model is None:
            return
        step = state.global_step
        if step == self._last_step:
            # measured already (an evaluation and a log on one step); GPU measurements still in
            # flight are collected at the next event
            return
        if not self.monitor.due(step):
            self.monitor.step(step, None)    # collects GPU measurements without measuring
            return
        self._last_step = step
        import torch
        with torch.no_grad():
            z = self.latents(model)
        self.monitor.step(step, z.detach() if hasattr(z, "detach") else z)

    def on_log(self, args, state, control, model=None, **kwargs):
        self._measure(state, model)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        self._measure(state, model)

    def on_train_end(self, args, state, control, **kwargs):
        if self.monitor is None:
            return
        self.monitor.flush()
        if self._own_tb is not None:
            self._own_tb.flush()
