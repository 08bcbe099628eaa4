"""lsc in the training tools people already use.

Callbacks, each importing its framework only when it is imported itself:

    lsc.integrations.lightning.CollapseMonitor    a PyTorch Lightning Callback
    lsc.integrations.hf.CollapseMonitor           a Hugging Face transformers TrainerCallback

Logger adapters, each a callable taking an lsc.MonitorRecord (so `lsc.Monitor(log=...)` takes
one, and so do both callbacks), importing its package when it is made:

    TensorBoardLogger    torch.utils.tensorboard's SummaryWriter: scalars, the spectrum as a histogram
    WandbLogger          a Weights & Biases run (online or offline), against the step `lsc/step`
    MLflowLogger         an MLflow run: log_metric with the record's step

Every figure of a record goes under an `lsc/...` key; `record_metrics(record)` gives them as a
flat dict of floats and python/README.md has the table of keys. Verdict levels are numbers:
ok 0, borderline 1, collapse 2, not assessed -1 (`LEVEL_CODES`).
"""
from ._keys import LEVEL_CODES, record_metrics, spectrum_values
from .loggers import MLflowLogger, TensorBoardLogger, WandbLogger

__all__ = ["LEVEL_CODES", "record_metrics", "spectrum_values", "TensorBoardLogger",
           "WandbLogger", "MLflowLogger"]
