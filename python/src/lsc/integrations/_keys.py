"""The `lsc/...` keys a MonitorRecord is logged under (the table in python/README.md).

One flat name per figure, so every logger (TensorBoard tags, W&B keys, MLflow metric names)
stores them the same way and a dashboard built for one reads the others."""
from __future__ import annotations

import math
from typing import Dict, Optional

import numpy as np

# Verdict levels as numbers, ordered by harm so a chart of them reads upwards. A check that was
# not assessed at a record is logged as -1 rather than left out: a gap in a chart cannot tell
# "not judged at these sizes" from "not logged".
LEVEL_CODES = {"ok": 0, "borderline": 1, "collapse": 2, "not_assessed": -1}

# Spectrum fields logged as they are; `active_threshold` is a setting, not a figure, and the
# arrays (singular values, column variances) go to histograms, not scalars.
_SPECTRUM = ("rows", "cols", "numerical_rank", "effective_rank", "rankme", "participation_ratio",
             "stable_rank", "dims_90", "dims_99", "active_units", "total_variance",
             "largest_singular_value", "vendi_cosine", "vendi_cosine_q0", "vendi_cosine_q2",
             "vendi_cosine_qinf", "alpha_req", "alpha_req_r2", "all_rows_identical")
# PRDC fields; k, the real set's size, the metric and the comparison are the reference's
# constants, the same at every record.
_PRDC = ("precision", "recall", "density", "coverage", "coverage_expected", "fake_rows",
         "zero_radii_real", "zero_radii_fake")


def _put(out: Dict[str, float], key: str, value) -> None:
    # None (a figure this record has not got, as vendi_cosine of a set with a zero row) and
    # non-finite numbers are left out: MLflow refuses them and they draw nothing anyway.
    if value is None:
        return
    v = float(value)
    if math.isfinite(v):
        out[key] = v


def record_metrics(record) -> Dict[str, float]:
    """A MonitorRecord as {"lsc/...": float}: the step, the spectrum's and PRDC's figures, and
    with assess=True every check's level, score and effect, the worst level, and with the trend
    each check's CUSUM and whether it warned at this record (1) or not (0)."""
    out: Dict[str, float] = {"lsc/step": float(record.step)}
    s, p = record.spectrum, record.prdc
    if s is not None:
        for name in _SPECTRUM:
            _put(out, f"lsc/spectrum/{name}", getattr(s, name))
        if s.cols:
            _put(out, "lsc/spectrum/active_fraction", s.active_units / s.cols)
    if p is not None:
        for name in _PRDC:
            _put(out, f"lsc/prdc/{name}", getattr(p, name))
    if record.verdict is not None:
        out["lsc/verdict"] = float(LEVEL_CODES.get(record.verdict, -1))
        for check, v in (record.verdicts or {}).items():
            out[f"lsc/verdict/{check}"] = float(LEVEL_CODES.get(v.level, -1))
            if v.level != "not_assessed":
                _put(out, f"lsc/score/{check}", v.score)
                _put(out, f"lsc/effect/{check}", v.effect)
    if record.trend is not None:
        for check, c in record.trend.items():
            _put(out, f"lsc/trend/{check}", c)
            out[f"lsc/warning/{check}"] = 1.0 if check in record.warnings else 0.0
    _put(out, "lsc/call_ms", record.call_ms)
    return out


def spectrum_values(record) -> Optional[np.ndarray]:
    """The record's singular values (float64), for a histogram; None when the record has none
    (no spectrum asked for, or an asynchronous GPU measurement, which returns the figures only)."""
    s = record.spectrum
    if s is None or s.singular_values is None or len(s.singular_values) == 0:
        return None
    return np.asarray(s.singular_values, dtype=np.float64)
