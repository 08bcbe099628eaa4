"""lsc.integrations.lightning.CollapseMonitor: lsc.Monitor as a PyTorch Lightning Callback.

    from lsc.integrations.lightning import CollapseMonitor
    mon = CollapseMonitor(real_latents, lambda module, batch, outputs: module.encoder(batch[0]),
                          every=50, assess=True)
    trainer = lightning.Trainer(callbacks=[mon], logger=...)

Importing this module needs `lightning` (or the older `pytorch_lightning`)."""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Union

from .._monitor import Monitor, MonitorRecord
from ._keys import record_metrics, spectrum_values
from ._require import callback_options, require
from .loggers import HISTOGRAM_KEY


def _lightning():
    # the unified `lightning` package first; `pytorch_lightning` where only that one is installed
    # (a Trainer accepts only its own package's Callback class, so the two cannot be mixed)
    try:
        return require("lightning.pytorch", "lightning", "lsc.integrations.lightning")
    except ImportError as first:
        try:
            return require("pytorch_lightning", "lightning", "lsc.integrations.lightning")
        except ImportError:
            raise first from None


pl = _lightning()


class CollapseMonitor(pl.Callback):
    """Measures the latents of a training step every `every` optimizer steps
    (trainer.global_step) with lsc.Monitor and logs each record's `lsc/...` figures.

    `reference`: the real latents (2-D array or tensor) or an lsc.Reference, kept for the whole
    fit. `latents`: the hook that gives this step's latents, called as
    latents(pl_module, batch, outputs) under torch.no_grad at measured steps only; None calls the
    module's own `lsc_latents(batch, outputs)` method. Its result is detached by the Monitor's
    reading (GPU tensors are read in place on the current stream).

    `log`: None sends each record to the trainer's loggers (`logger.log_metrics(figures,
    step=record.step)`, and TensorBoard loggers get the singular values as a histogram); or one
    lsc.integrations logger adapter, or a list of them, instead. With `log_to_module` (default)
    the figures also go through `pl_module.log_dict(..., logger=False)` when a record arrives
    inside a training step, so they sit in trainer.callback_metrics for EarlyStopping or
    ModelCheckpoint (e.g. monitor="lsc/prdc/coverage").

    Under DDP only global rank 0 builds the reference, calls the hook and logs; the other ranks
    do nothing here. The remaining keyword arguments (k, assess, metric, spectrum, prdc,
    assess_options, ...) go to lsc.Monitor. `history` holds every record after the fit (and
    `monitor`, the lsc.Monitor itself, on rank 0)."""

    def __init__(self, reference, latents: Optional[Callable] = None, *, every: int = 100,
                 log: Union[None, Callable, Sequence[Callable]] = None,
                 log_to_module: bool = True, **monitor_options):
        super().__init__()
        adapters = callback_options(every, log, monitor_options)
        self.reference = reference
        self.latents = latents
        self.every = every
        self.adapters: Optional[List[Callable]] = adapters
        self.log_to_module = log_to_module
        self.monitor_options = monitor_options
        self.monitor: Optional[Monitor] = None
        self._queue: List[MonitorRecord] = []
        self._last_step: Optional[int] = None

    @property
    def history(self) -> List[MonitorRecord]:
        return [] if self.monitor is None else self.monitor.history

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit" or not trainer.is_global_zero or self.monitor is not None:
            return
        self.monitor = Monitor(self.reference, every=self.every, log=self._queue.append,
                               **self.monitor_options)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.monitor is None:      # not rank 0
            return
        step = trainer.global_step
        if not self.monitor.due(step):
            # collects measurements still on the GPU without measuring
            self.monitor.step(step, None)
        elif step != self._last_step:   # with gradient accumulation a step ends several batches
            self._last_step = step
            import torch
            with torch.no_grad():
                z = (self.latents(pl_module, batch, outputs) if self.latents is not None
                     else self._module_hook(pl_module)(batch, outputs))
            self.monitor.step(step, z.detach() if hasattr(z, "detach") else z)
        self._deliver(trainer, pl_module, in_step=True)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.monitor is None:
            return
        self.monitor.flush()
        # Lightning allows no self.log here: the loggers only
        self._deliver(trainer, pl_module, in_step=False)

    @staticmethod
    def _module_hook(pl_module):
        hook = getattr(pl_module, "lsc_latents", None)
        if not callable(hook):
            raise AttributeError(f"CollapseMonitor: no latents hook: pass latents=fn(pl_module, "
                                 f"batch, outputs) or define {type(pl_module).__name__}"
                                 f".lsc_latents(batch, outputs)")
        return hook

    def _deliver(self, trainer, pl_module, in_step: bool) -> None:
        while self._queue:
            rec = self._queue.pop(0)
            if self.adapters is not None:
                for adapter in self.adapters:
                    adapter(rec)
            else:
                self._to_trainer_loggers(trainer, rec)
            if in_step and self.log_to_module:
                figures = record_metrics(rec)
                figures.pop("lsc/step")
                # rank_zero_only: the other ranks never log these keys, so no collective may
                # wait for them
                pl_module.log_dict(figures, on_step=True, on_epoch=False, logger=False,
                                   rank_zero_only=True, batch_size=1)

    @staticmethod
    def _to_trainer_loggers(trainer, rec: MonitorRecord) -> None:
        figures = record_metrics(rec)
        figures.pop("lsc/step")      # the loggers' own step is the record's
        sv = spectrum_values(rec)
        for logger in trainer.loggers:
            logger.log_metrics(figures, step=rec.step)
            if sv is not None and isinstance(logger, pl.loggers.TensorBoardLogger):
                logger.experiment.add_histogram(HISTOGRAM_KEY, sv, rec.step)
