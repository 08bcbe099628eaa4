"""lsc.Monitor: collapse figures every few steps of a training loop.

Keep a reference set once; every `every` steps hand the monitor a batch of latents. On the CPU
each measurement runs at once. For latents on a GPU (torch or cupy) the monitor uses lsc's
asynchronous forms: the work is enqueued on the caller's current stream, the figures land in
pinned host memory, and the step goes on without waiting; finished measurements are collected at
later calls (or by flush()) and passed to `log`. The reference is placed on each GPU that
measures once (Reference.to_device), so a step's PRDC reads it there instead of copying it.

With assess=True each record also carries the verdicts of lsc.assess (docs/METRICS.md section 8)
on the batch's rows against the monitor's reference. lsc_assess reads host rows: a GPU batch is
copied on its stream (no wait) when the measurement is enqueued, and assessed on the host when
the measurement is collected, so that cost lands in the call that collects it, not in `call_ms`.
Records reach `history` and `log` in the order their measurements were taken.

With assess=True the monitor also keeps a trend warning (docs/METRICS.md section 8.1): per check a
one-sided CUSUM of each record's score, standardised against that check's previous records, that
warns when a check drifts in the harmful direction over successive records, usually before any
single record reads `collapse`.
"""
from __future__ import annotations

import ctypes as C
import dataclasses
import json
import math
import os
import queue
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _native as N
from ._arrays import view
from ._core import (Assessment, Prdc, Reference, Spectrum, Verdict, _ctx_for, _host,
                    _spectrum_opts, assess, prdc, prdc_from_struct, spectrum,
                    spectrum_from_struct)
from ._distributed import _TorchEngine, agreed, engine_for
from ._errors import (BackendUnavailable, InvalidArgument, InvalidData, LscError, NotSupported,
                      error_for)


@dataclass(frozen=True)
class MonitorRecord:
    step: int
    spectrum: Optional[Spectrum]
    prdc: Optional[Prdc]
    asynchronous: bool
    call_ms: float                  # time the training step spent inside the monitor's call
    # with Monitor(assess=True): lsc.assess of the batch against the reference, else None
    verdict: Optional[str] = None               # the worst assessed level
    verdicts: Optional[Dict[str, Verdict]] = field(default=None, repr=False)
    not_assessed: Optional[List[str]] = field(default=None, repr=False)
    # with the trend warning (assess=True): the CUSUM of every check whose trend runs (after its
    # warm-up; the value that crossed trend_h at a warning), and the checks that warned here
    trend: Optional[Dict[str, float]] = field(default=None, repr=False)
    warnings: List[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"step {self.step}"]
        s, p = self.spectrum, self.prdc
        if s is not None:
            parts.append(f"eff_rank {s.effective_rank:.2f}  active {s.active_units}/{s.cols}")
            if s.vendi_cosine is not None:
                parts.append(f"vendi {s.vendi_cosine:.2f}")
        if p is not None:
            parts.append(f"P {p.precision:.3f} R {p.recall:.3f} D {p.density:.3f} "
                         f"C {p.coverage:.3f}")
        if self.verdict is not None:
            bad = [n for n, v in (self.verdicts or {}).items()
                   if v.level in ("borderline", "collapse")]
            parts.append(f"verdict {self.verdict}" + (f" ({', '.join(bad)})" if bad else ""))
        if self.warnings:
            parts.append(f"TREND WARNING ({', '.join(self.warnings)} drifting toward collapse)")
        return "  ".join(parts)

    def to_dict(self) -> dict:
        """The record as one line of a Monitor's history (docs/FILES.md, "Monitor history"):
        plain values json.dumps writes as they are, non-finite numbers as None (null)."""
        spec = None
        if self.spectrum is not None:
            spec = {k: v for k, v in self.spectrum.to_dict().items()
                    if k not in ("singular_values", "column_variance")}
        return _finite({
            "format": HISTORY_FORMAT, "version": HISTORY_VERSION,
            "step": int(self.step), "asynchronous": bool(self.asynchronous),
            "call_ms": float(self.call_ms),
            "spectrum": spec,
            "prdc": self.prdc.to_dict() if self.prdc is not None else None,
            "verdict": self.verdict,
            "verdicts": ({n: v.to_dict() for n, v in self.verdicts.items()}
                         if self.verdicts is not None else None),
            "not_assessed": list(self.not_assessed) if self.not_assessed is not None else None,
            "trend": dict(self.trend) if self.trend is not None else None,
            "warnings": list(self.warnings),
        })


# The history file's identification (docs/FILES.md, "Monitor history"): a reader refuses a
# version it does not know; fields may be added within a version.
HISTORY_FORMAT = "lsc-monitor-history"
HISTORY_VERSION = 1


def _finite(v):
    """v with every non-finite float (and numpy scalar) made JSON-safe: NaN and inf become None."""
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


def _with_assessment(rec: MonitorRecord, a: Optional[Assessment]) -> MonitorRecord:
    if a is None:
        return rec
    return MonitorRecord(rec.step, rec.spectrum, rec.prdc, rec.asynchronous, rec.call_ms,
                         a.verdict, a.verdicts, a.not_assessed)


# The trend warning's constants (docs/METRICS.md section 8.1 says how they were calibrated).
TREND_KAPPA = 0.75      # allowance per record, in units of the check's own record-to-record spread
TREND_H = 8.0           # decision interval: warn when the CUSUM exceeds it
TREND_WINDOW = 50       # previous scores a record is standardised against
TREND_WARMUP = 10       # scores a check needs in its window before its CUSUM runs
TREND_CLIP = 8.0        # bound on |score| and on |standardised score|: one wild record cannot warn
TREND_SD_FLOOR = 0.5    # bound on the window's spread (scores are unit-spread by construction);
                        # keeps checks whose score sits at one value (no copies: 0) from dividing
                        # by zero


class _Cusum:
    """A one-sided upper CUSUM on each of `lanes` score series (a Monitor: one lane per check; the
    tests run many simulated runs side by side), docs/METRICS.md section 8.1.

    Each new score is standardised against the lane's previous `window` scores, not taken as it
    is: a Monitor judges every record against the same held-out subsets (one reference, one
    seed), so a healthy run's scores share that baseline's error - a level and a scale of their
    own that a CUSUM of the raw scores would accumulate into false warnings."""

    def __init__(self, lanes: int, kappa: float = TREND_KAPPA, h: float = TREND_H, *,
                 window: int = TREND_WINDOW, warmup: int = TREND_WARMUP,
                 clip: float = TREND_CLIP, sd_floor: float = TREND_SD_FLOOR):
        if not (math.isfinite(kappa) and kappa >= 0):
            raise ValueError(f"trend_kappa must be finite and >= 0, not {kappa}")
        if not (math.isfinite(h) and h > 0):
            raise ValueError(f"trend_h must be finite and > 0, not {h}")
        if not 2 <= warmup <= window:
            raise ValueError(f"need 2 <= warmup <= window, not {warmup}, {window}")
        self.kappa, self.h, self.window, self.warmup = float(kappa), float(h), window, warmup
        self.clip, self.sd_floor = float(clip), float(sd_floor)
        self.lanes = lanes
        self.reset()

    def reset(self):
        self.buf = np.zeros((self.window, self.lanes))   # ring of the last `window` scores
        self.seen = np.zeros(self.lanes, dtype=np.int64)  # scores each lane has taken
        self.s = np.zeros(self.lanes)

    def update(self, z: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
        """Takes one record's score per lane (NaN or inf: the lane skips this record). Returns
        (cusum, warned): each lane's CUSUM after this record - the value that crossed h where it
        warned (the lane then restarts from 0), NaN while the lane warms up - and the lanes that
        crossed h at this record."""
        z = np.asarray(z, dtype=np.float64)
        ok = np.isfinite(z)
        zc = np.clip(np.where(ok, z, 0.0), -self.clip, self.clip)
        n = np.minimum(self.seen, self.window)
        run = ok & (n >= self.warmup)
        warned = np.zeros(self.lanes, dtype=bool)
        if run.any():
            k = n[run].astype(np.float64)
            b = self.buf[:, run]
            used = np.arange(self.window)[:, None] < k   # a full ring is all used
            mean = np.where(used, b, 0.0).sum(0) / k
            var = np.where(used, (b - mean) ** 2, 0.0).sum(0) / (k - 1)
            sd = np.maximum(np.sqrt(var), self.sd_floor)
            # a new score's spread about a mean of k past ones: sd sqrt(1 + 1/k)
            u = np.clip((zc[run] - mean) / (sd * np.sqrt(1.0 + 1.0 / k)), -self.clip, self.clip)
            s = np.maximum(0.0, self.s[run] + u - self.kappa)
            warned[run] = s > self.h
            self.s[run] = s
        cusum = np.where(np.minimum(self.seen, self.window) >= self.warmup, self.s, np.nan)
        self.s[warned] = 0.0
        # the ring: lane i's scores in slots seen % window (its oldest is overwritten)
        idx = np.nonzero(ok)[0]
        self.buf[self.seen[idx] % self.window, idx] = zc[idx]
        self.seen[idx] += 1
        return cusum, warned


class _Pending:
    """An enqueued measurement: pinned result buffers and an event on the producer's stream."""

    def __init__(self, step, kind, latents, call_ms, want_spectrum, want_prdc,
                 assess_rows=None):
        self.step, self.kind, self.latents, self.call_ms = step, kind, latents, call_ms
        self.want_spectrum, self.want_prdc = want_spectrum, want_prdc
        self.assess_rows = assess_rows   # a device copy of the batch, made on its stream
        n = C.sizeof(N.SpectrumResult) + C.sizeof(N.PrdcResult) + 2 * C.sizeof(N.AsyncStatus)
        if kind == "torch":
            import torch
            self.buf = torch.zeros(n, dtype=torch.uint8, pin_memory=True)
            self.base = self.buf.data_ptr()
            self.event = torch.cuda.Event()
        else:
            import cupy
            self.mem = cupy.cuda.alloc_pinned_memory(n)
            C.memset(self.mem.ptr, 0, n)
            self.base = self.mem.ptr
            self.event = cupy.cuda.Event()
        self.spec_ptr = self.base
        self.prdc_ptr = self.spec_ptr + C.sizeof(N.SpectrumResult)
        self.st_spec = self.prdc_ptr + C.sizeof(N.PrdcResult)
        self.st_prdc = self.st_spec + C.sizeof(N.AsyncStatus)

    def set_sizes(self):
        """Each result struct's `size` in the pinned buffer, which the device reads when it writes
        the result (lsc.h: set by the caller before the call); called before each async call."""
        N.set_size(N.SpectrumResult, self.spec_ptr)
        N.set_size(N.PrdcResult, self.prdc_ptr)

    def record(self, stream_ptr):
        if self.kind == "torch":
            import torch
            self.event.record(torch.cuda.ExternalStream(stream_ptr))
        else:
            import cupy
            self.event.record(cupy.cuda.ExternalStream(stream_ptr))

    def done(self) -> bool:
        return self.event.query()

    def result(self) -> MonitorRecord:
        self.event.synchronize()
        self.latents = None
        for ptr in (self.st_spec, self.st_prdc):
            st = N.AsyncStatus.from_address(ptr)
            if st.status == 2:
                raise InvalidData(f"latents of step {self.step}: row {st.row} col {st.col} is not "
                                  f"finite", status="LSC_STATUS_INVALID_DATA", code=2)
            if st.status != 0:     # e.g. INVALID_ARGUMENT: the result's size the device read
                raise error_for(st.status, f"latents of step {self.step}: the device refused the "
                                f"measurement ({N.lib.lsc_status_string(st.status).decode()})",
                                N.lib.lsc_status_name(st.status).decode())
        s = spectrum_from_struct(N.SpectrumResult.from_address(self.spec_ptr)) \
            if self.want_spectrum else None
        p = prdc_from_struct(N.PrdcResult.from_address(self.prdc_ptr)) if self.want_prdc else None
        return MonitorRecord(self.step, s, p, True, self.call_ms)


class _Shard:
    """A rank's rows taken at a due step for the worker thread, so that the caller may change
    them after step() returns. A CUDA torch tensor is copied into pinned host memory on the
    caller's current stream (no host wait), with an event recorded after the copy; other rows
    are copied on the host (a cupy array waits for its copy)."""

    def __init__(self, latents):
        self.rows, self.event, self.device, self.error = None, None, None, None
        try:
            if hasattr(latents, "is_cuda") and latents.is_cuda:
                import torch
                t = latents.detach()
                self.rows = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
                self.rows.copy_(t, non_blocking=True)
                self.device = t.device.index
                self.event = torch.cuda.Event()
                self.event.record(torch.cuda.current_stream(t.device))
            else:
                h = np.asarray(_host(latents))
                self.rows = np.empty(h.shape, dtype=h.dtype)
                self.rows[...] = h
        except Exception as e:  # noqa: BLE001 - raised on every rank by take()
            self.error = e

    def take(self) -> np.ndarray:
        """The host rows, once the copy is done (on the worker thread)."""
        if self.error is not None:
            raise self.error
        if self.event is not None:
            import torch
            with torch.cuda.device(self.device):
                self.event.synchronize()
        rows, self.rows = _host(self.rows), None
        return rows


class _Job:
    """A measurement handed to a Monitor's worker thread; done() and result() as _Pending's."""

    assess_rows = None      # the worker's record carries its verdicts already

    def __init__(self, step: int, fn: Callable[[], MonitorRecord]):
        self.step, self.fn, self.call_ms = step, fn, 0.0
        self.rec: Optional[MonitorRecord] = None
        self.error: Optional[BaseException] = None
        self._done = threading.Event()

    def run(self, skip: Optional[str] = None):
        try:
            if skip is not None:
                raise LscError(skip)
            self.rec = self.fn()
        except BaseException as e:  # noqa: BLE001 - re-raised on the caller's thread
            self.error = e
        finally:
            self.fn = None      # the closure holds the Monitor and the rows
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> MonitorRecord:
        self._done.wait()
        e = self.error
        if e is None:
            return self.rec
        msg = f"monitor step {self.step}: {e}"
        if isinstance(e, LscError):
            raise type(e)(msg, e.status, e.code) from e
        # e.g. the binding's refusal of a 1-D shard (on the rank that passed it)
        cls = InvalidArgument if isinstance(e, (TypeError, ValueError)) else LscError
        raise cls(f"monitor step {self.step}: {type(e).__name__}: {e}") from e


# measurements a Monitor's worker may have queued before a due step waits for the oldest
_IN_FLIGHT = 2


def _work(jobs: "queue.Queue"):
    """A Monitor's worker thread: runs its jobs one at a time, in the order they were handed
    over. After a failed job the rest are not run: the ranks may be out of step, and a
    collective some rank never issues would hang."""
    failed = None
    while True:
        job = jobs.get()
        if job is None:
            _forget_worker(threading.current_thread())
            return
        job.run(None if failed is None else
                f"not measured: the measurement of step {failed} failed before it")
        if job.error is not None and failed is None:
            failed = job.step


# Every live worker (its queue and thread), ended before the interpreter stops its threads: a
# daemon thread stopped inside a collective aborts the process, and the other ranks' workers
# would wait for it. Every rank's worker runs the same queued measurements to the end, so the
# ranks leave together.
_WORKERS: Dict[int, Tuple["queue.Queue", threading.Thread]] = {}
_WORKERS_LOCK = threading.Lock()


def _end_workers():
    with _WORKERS_LOCK:
        workers = list(_WORKERS.values())
        _WORKERS.clear()
    for jobs, thread in workers:
        jobs.put(None)
    for jobs, thread in workers:
        thread.join()


def _forget_worker(thread: threading.Thread):
    with _WORKERS_LOCK:
        _WORKERS.pop(id(thread), None)


try:
    # run at the start of interpreter shutdown, before threads are stopped (as
    # concurrent.futures does); atexit where the interpreter lacks it
    threading._register_atexit(_end_workers)
except AttributeError:  # pragma: no cover - CPython before 3.9
    import atexit
    atexit.register(_end_workers)


class Monitor:
    """Collapse figures of a training loop's latents against a kept reference.

        mon = lsc.Monitor(real_latents, k=5, every=200, log=print)
        for step in range(steps):
            ...
            mon.step(step, z)          # measures when step % every == 0
        mon.flush()                    # waits for anything still in flight
        mon.history                    # every MonitorRecord, in step order

    `reference` is a 2-D array or an lsc.Reference; `spectrum` and `prdc` choose what to compute;
    `log` is called with each finished MonitorRecord (print gives one line per record).
    `history_path` (optional): each finished record is appended to this file as one JSON line
    (MonitorRecord.to_dict(), docs/FILES.md "Monitor history"), which `lsc monitor-report
    HISTORY --html OUT.html` draws; the file is appended to, never truncated.
    assess=True adds lsc.assess's verdicts to every record (record.verdict, record.verdicts,
    record.not_assessed; docs/METRICS.md section 8), with `assess_options` (splits, seed,
    memorisation_factor, inactive_factor) passed on. It costs about one reference build of half
    the reference and splits + 1 PRDC, kNN and spectrum calls of the batch size per measurement,
    on host rows: a GPU batch is copied to the host. The default (False) adds nothing.

    With assess=True the monitor keeps a trend warning (trend=True by default then; it needs
    assess): per check a one-sided CUSUM of the records' scores, each standardised against that
    check's previous 50 records, in the order the measurements were taken (docs/METRICS.md
    section 8.1). record.trend holds each check's CUSUM once the check has 10 assessed records;
    record.warnings names the checks whose CUSUM crossed `trend_h` (default 8.0) at that record
    (that check's CUSUM then restarts from 0), and summary() says so. `trend_kappa` (default
    0.75) is the allowance per record. At the defaults about 2% of healthy 1,000-record runs warn
    at all; a check whose score shifts by 2.5 (its record-to-record spread is about 1) warns
    within 11 records 9 times in 10, one that shifts by 3, 97 times in 100. A warning means: this
    check has lately been worse than in this run's earlier records - a change of the generator,
    not a level; the verdicts judge the level. reset_trend() forgets the trend (after a
    deliberate change of the generator or the data), which then warms up again.

    In a data-parallel job, process_group= (torch.distributed: gloo, or NCCL) or comm= (mpi4py)
    makes every record the figures of the whole step's batch, all ranks' rows together: every
    rank calls step() with its own shard of the batch (any number of rows) and the same
    `reference` (the whole real set), and gets the same record. Each rank keeps its part of the
    reference (an even split, its radii against all of it; built once, collectively, here), and
    each measurement runs the sharded spectrum and PRDC (lsc.h section 12) on host rows. Rank 0
    logs and writes history_path; log_all_ranks=True logs on every rank; every rank keeps the
    history. With assess=True each record's verdicts are lsc.assess's over the group
    (lsc_assess_sharded: every rank the verdicts of all ranks' rows); as in one process, the
    reference side is measured at the first record and kept by the context that measures.

    Over a torch group the step does not wait (asynchronous=True, the default): a due step()
    copies the rank's shard (a CUDA tensor into pinned host memory on the caller's current
    stream, an event after it, no host wait; host rows on the host), hands the measurement to
    the monitor's one worker thread and returns None. The worker runs the same sharded
    measurement as the waiting form, in step order, over a private gloo group of the same
    ranks, so that its collectives never interleave with the training loop's on the caller's
    group; gloo whatever the caller's backend, since the measurement works on host rows and a
    second NCCL communicator driven from another thread beside the training loop's can
    deadlock. group_timeout (a datetime.timedelta) is that group's timeout (torch's default,
    30 minutes, without it). Records reach history, log, the trend and history_path in step
    order at later step() calls and at flush() (which waits for all), as the GPU form's do, and
    equal the waiting form's. At most two measurements are queued: a due step beyond that waits
    for the oldest. Making such a Monitor is collective over the whole job
    (torch.distributed.new_group's rule): every process makes it, in the same order as its
    other new_group calls (a process outside a subgroup calls new_group(ranks=the subgroup's
    ranks) instead), and it costs one more group and one thread. A measurement that fails (a
    NaN in a shard) raises its error, naming the step, at the step() or flush() that collects
    it on each rank (not always the same step on every rank: a step collects what is done by
    then); the monitor then refuses further steps (the ranks may be out of step), and a new one
    should be made only where every rank makes it. At exit the measurements still queued are
    finished first (every rank's worker runs the same ones, so the ranks leave together); close()
    flushes and ends the worker, and a dropped Monitor's worker ends by itself. Call flush() or
    close() before destroy_process_group(): a measurement still running uses the group. In
    python/examples/ddp_monitor.py (gloo, 2 processes, CPU) a due step() takes about 0.2 ms
    instead of the waiting form's ~90 ms (bench/RESULTS.md); the measurement still takes its
    time, now beside the training steps, on the same cores. Over NCCL the pinned copy and its
    event have not run yet (written without a GPU).

    Over mpi4py (comm=) the same holds where MPI runs at MPI_THREAD_MULTIPLE (mpi4py's default
    thread level): the private communicator is comm.Dup() (collective over comm; close() frees
    it, a dropped Monitor leaves it, since freeing is collective too). Below MULTIPLE a worker thread may not make MPI calls beside the caller's, so there the
    step waits, as with asynchronous=False, which keeps the waiting form: step() measures over
    the caller's group and returns the record."""

    def __init__(self, reference, *, k: int = 5, every: int = 100, metric: str = "euclidean",
                 comparison: str = "strict", spectrum: bool = True, prdc: bool = True,
                 active_threshold: float = 0.01, log: Optional[Callable] = None,
                 backend: str = "auto", asynchronous: bool = True, assess: bool = False,
                 assess_options: Optional[dict] = None, trend: Optional[bool] = None,
                 trend_kappa: float = TREND_KAPPA, trend_h: float = TREND_H,
                 history_path=None, process_group=None, comm=None,
                 log_all_ranks: bool = False, group_timeout=None):
        if every < 1:
            raise ValueError(f"every must be >= 1, not {every}")
        self._engine = engine_for(process_group, comm)
        self.every = every
        self.want_spectrum, self.want_prdc = spectrum, prdc
        self.want_assess = bool(assess)
        if trend is None:
            trend = self.want_assess
        if trend and not self.want_assess:
            raise ValueError("trend=True needs assess=True: the trend follows the verdicts' scores")
        # one lane per check, made at the first assessed record (the library names the checks)
        self._trend_checks: Optional[List[str]] = None
        self._trend: Optional[_Cusum] = None
        self._trend_args = (trend_kappa, trend_h) if trend else None
        if trend:
            _Cusum(1, trend_kappa, trend_h)     # refuses a bad kappa or h now, not at a record
        # keyword arguments of lsc.assess: splits, seed, memorisation_factor, inactive_factor
        self.assess_options = dict(assess_options or {})
        unknown = set(self.assess_options) - {"splits", "seed", "memorisation_factor",
                                              "inactive_factor"}
        if unknown:
            raise ValueError(f"assess_options: unknown {sorted(unknown)} (splits, seed, "
                             f"memorisation_factor, inactive_factor)")
        self.active_threshold = active_threshold
        self.trend_h = float(trend_h) if trend else None
        # appended to, never truncated: a resumed run continues its history
        self.history_path = os.fspath(history_path) if history_path is not None else None
        if self.history_path is not None:
            with open(self.history_path, "a", encoding="utf-8"):
                pass                            # a bad path fails here, not at the first record
        self.backend = backend
        # over a torch group, or an mpi4py communicator where MPI runs THREAD_MULTIPLE, the
        # non-waiting form runs on a worker thread; over mpi4py below that it waits
        self.asynchronous = bool(asynchronous) and (self._engine is None or
                                                    isinstance(self._engine, _TorchEngine) or
                                                    _mpi_multiple(self._engine))
        self._jobs: Optional[queue.Queue] = None
        self._broken: Optional[str] = None
        self._group_timeout = group_timeout
        if self._engine is not None and self.asynchronous:
            self._start_worker()
        lead = self._engine is None or self._engine.rank == 0
        self.log = log if lead or log_all_ranks else None
        if not lead:
            self.history_path = None
        self.history: List[MonitorRecord] = []
        self._pending: List[_Pending] = []
        self._cuda_ok: Optional[bool] = None
        # the reference placed on each CUDA device that measures (Reference.to_device): made at
        # that device's first measurement, read there by every later one without a copy
        self._placed: Dict[int, Reference] = {}
        if self._engine is not None:
            self.reference = None
            if prdc or self.want_assess:
                build = lambda: self._reference_shard(reference, k, metric, comparison)  # noqa
                self.reference = build() if self._jobs is None else self._on_worker(build)
        elif prdc or self.want_assess:
            self.reference = reference if isinstance(reference, Reference) else Reference(
                _host(reference), k, metric=metric, comparison=comparison, backend=backend)
        else:
            self.reference = None

    def _start_worker(self):
        """The non-waiting form over a group: a private group of the same ranks (a torch group's
        new_group with its backend, an mpi4py communicator's Dup), so that its collectives never
        interleave with the training loop's on the caller's group, and one worker thread that
        runs the measurements over it, in step order."""
        e = self._engine
        self._own_comm = None
        if isinstance(e, _TorchEngine):
            dist = e.dist
            group = e.group if e.group is not None else dist.group.WORLD
            # collective over the whole job (every process calls new_group, in the same order).
            # gloo whatever the caller's backend: the measurement works on host rows, and a
            # second NCCL communicator driven from another thread beside the training loop's
            # can deadlock (NCCL's documentation on concurrent communicators) and would hold
            # device buffers for nothing
            kw = {} if self._group_timeout is None else {"timeout": self._group_timeout}
            own = dist.new_group(ranks=dist.get_process_group_ranks(group), backend="gloo", **kw)
            self._engine = _TorchEngine(own)
        else:
            # collective over the communicator; freed by close()
            self._own_comm = e.comm.Dup()
            self._engine = type(e)(self._own_comm)
        self._jobs = queue.Queue()
        self._thread = threading.Thread(target=_work, args=(self._jobs,), name="lsc-monitor",
                                        daemon=True)
        self._thread.start()
        with _WORKERS_LOCK:
            _WORKERS[id(self._thread)] = (self._jobs, self._thread)
        # a Monitor dropped without close() lets its thread end (queued work is still done)
        weakref.finalize(self, self._jobs.put, None)

    def _on_worker(self, fn):
        """fn() run on the worker thread (whose contexts the measurements use), waited for."""
        job = _Job(-1, fn)
        self._jobs.put(job)
        job._done.wait()
        if job.error is not None:
            # the failure was agreed by every rank (the build's collectives agree on errors)
            self._jobs.put(None)
            self._jobs = None
            self._thread.join()
            _forget_worker(self._thread)
            self._free_comm()
            raise job.error
        return job.rec

    def _free_comm(self):
        own, self._own_comm = getattr(self, "_own_comm", None), None
        if own is not None and not _mpi_finalized():
            own.Free()

    def _reference_shard(self, reference, k, metric, comparison) -> Reference:
        """This rank's even part of the whole reference, its radii against all of it."""
        if isinstance(reference, Reference):
            k, metric, comparison = reference.k, reference.metric, reference.comparison
            rows = reference.rows_array()
        else:
            rows = np.ascontiguousarray(_host(reference))
        e = self._engine
        n = len(rows)
        lo, hi = n * e.rank // e.ranks, n * (e.rank + 1) // e.ranks
        return Reference(np.ascontiguousarray(rows[lo:hi]), k, metric=metric,
                         comparison=comparison, backend="cpu", process_group=e)

    def _reference_on(self, device: int) -> Reference:
        r = self._placed.get(device)
        if r is None:
            r = self._placed[device] = self.reference.to_device(device)
        return r

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def step(self, step: int, latents) -> Optional[MonitorRecord]:
        """Measures `latents` if `step` is due. Returns the record when it was computed at once,
        else None (it reaches `log` and `history` once the GPU, or over a torch group the
        worker thread, has finished)."""
        self._check_usable()
        if self._jobs is not None:
            # the due step is handed over before anything is collected: collecting runs `log`
            # and writes history_path on rank 0 alone, and a failure there (caught by the loop)
            # must not keep that rank from queueing the measurement every other rank queues
            older = len(self._pending)
            if self.due(step):
                self._hand_over(step, latents)
                older = len(self._pending) - 1  # the bound may have collected the oldest
            # only what was queued before this step: its own record comes at a later call
            self._collect(block=False, most=older)
            return None
        self._collect(block=False)
        if not self.due(step):
            return None
        return self.measure(step, latents)

    def measure(self, step: int, latents) -> Optional[MonitorRecord]:
        self._check_usable()
        if self._jobs is not None:
            return self._hand_over(step, latents)
        if self._engine is not None:
            return self._measure_sharded(step, latents)
        v = view(latents, "latents")
        t0 = time.perf_counter()
        if v.on_device and self.asynchronous and v.kind in ("torch", "cuda"):
            try:
                self._enqueue(step, v, t0)
                return None
            except NotSupported:
                self.asynchronous = False   # this build's CUDA backend lacks the async forms
            except BackendUnavailable:
                # no CUDA backend in this build (or no usable device): measure host copies
                self.asynchronous = False
                latents = _host(latents)
                v = view(latents, "latents")
        x = latents if not v.on_device or self.backend != "cpu" else _host(latents)
        if v.on_device and not self.asynchronous and self._no_cuda():
            x = _host(latents)
        s = spectrum(x, active_threshold=self.active_threshold, backend=self.backend) \
            if self.want_spectrum else None
        if self.want_assess:
            # one pass gives both: the full-size PRDC and the judged subsets ride on it
            a = self._assess(x)
            p = a.prdc if self.want_prdc else None
        else:
            a = None
            ref = self._reference_on(v.device) if self.want_prdc and v.on_device and \
                x is latents else self.reference
            p = prdc(ref, x, backend=self.backend) if self.want_prdc else None
        # measurements still on the GPU were taken before this one: they reach history, log
        # and the trend first (a wait only when a loop mixes GPU and host batches)
        self._collect(block=True)
        rec = _with_assessment(MonitorRecord(step, s, p, False, (time.perf_counter() - t0) * 1e3),
                               a)
        return self._finish(rec)

    def _measure_sharded(self, step: int, latents) -> MonitorRecord:
        t0 = time.perf_counter()
        s, p, a = self._sharded_figures(_host(latents))
        rec = _with_assessment(MonitorRecord(step, s, p, False, (time.perf_counter() - t0) * 1e3),
                               a)
        return self._finish(rec)

    def _sharded_figures(self, x) -> Tuple[Optional[Spectrum], Optional[Prdc],
                                           Optional[Assessment]]:
        """The spectrum, PRDC and verdicts of this rank's host rows over the monitor's group:
        the one path of the waiting form and of the worker thread."""
        s = spectrum(x, active_threshold=self.active_threshold, backend="cpu",
                     process_group=self._engine) if self.want_spectrum else None
        if self.want_assess:
            # the sharded verdicts' full-size pass gives the record's PRDC too
            a = self._assess(x)
            p = a.prdc if self.want_prdc else None
        else:
            a = None
            p = prdc(self.reference, x, backend="cpu") if self.want_prdc else None
        return s, p, a

    def _hand_over(self, step: int, latents) -> None:
        """Takes this rank's rows and hands their measurement to the worker thread."""
        t0 = time.perf_counter()
        shard = _Shard(latents)
        job = _Job(step, None)

        def measure() -> MonitorRecord:
            # a rank that could not take its rows fails here on every rank, before any
            # collective of the measurement (the others would wait in it)
            x = agreed(self._engine, lambda: _taken(shard))
            s, p, a = self._sharded_figures(x)
            return _with_assessment(MonitorRecord(step, s, p, True, job.call_ms), a)

        job.fn = measure
        job.call_ms = (time.perf_counter() - t0) * 1e3
        # queued first: a job queued but not listed loses its record, one listed but never
        # queued would hold flush() for ever
        self._jobs.put(job)
        self._pending.append(job)
        # at most _IN_FLIGHT measurements queued: beyond that the step waits for the oldest,
        # as the waiting form would, instead of piling up copies of the shards
        while sum(isinstance(p, _Job) for p in self._pending) > _IN_FLIGHT:
            self._collect_first()
        return None

    def _collect_first(self):
        """Waits for the oldest pending measurement (the worker's) and records it, it alone: a
        later one done by then waits for a step() or flush() to collect it, as without the
        bound."""
        self._pending[0]._done.wait()
        self._collect(block=False, most=1)

    def _check_usable(self):
        if self._broken is not None:
            raise LscError(self._broken)

    def _assess(self, rows, p=None) -> Optional[Assessment]:
        """lsc.assess of `rows` (host or device: assess copies device rows to the host). With
        the record's PRDC of the same rows (an asynchronous GPU step has it already) assess
        measures only its judged subsets; without, its one pass gives the record's PRDC too."""
        if not self.want_assess:
            return None
        # the uncovered rows' order is not part of a record: spare its pass
        # (a reference shard carries its group: the call is then lsc_assess_sharded)
        return assess(self.reference, rows, backend=self.backend if self._engine is None else "cpu",
                      prdc=p, order_uncovered=False, **self.assess_options)

    def _no_cuda(self) -> bool:
        if self._cuda_ok is None:
            try:
                _ctx_for_cuda()
                self._cuda_ok = True
            except BackendUnavailable:
                self._cuda_ok = False
        return not self._cuda_ok

    def _enqueue(self, step, v, t0):
        kind = "torch" if v.kind == "torch" else "cupy"
        ctx = _ctx_for([v], "cuda")
        rows = None
        if self.want_assess:
            # a copy on the producer's stream (no wait), so the batch may change after the call;
            # it comes to the host and is assessed when the measurement is collected
            rows = _device_copy(v)
        pend = _Pending(step, kind, v.keep, 0.0, self.want_spectrum, self.want_prdc, rows)
        pend.set_sizes()    # the device reads each result's size from the pinned buffer
        if self.want_spectrum:
            opts = _spectrum_opts(self.active_threshold)
            ctx.check(N.lib.lsc_spectrum_async(ctx.handle, C.byref(v.matrix), C.byref(opts),
                                               pend.spec_ptr, pend.st_spec))
        if self.want_prdc:
            ref = self._reference_on(v.device)
            ctx.check(N.lib.lsc_prdc_async(ctx.handle, ref._h, C.byref(v.matrix),
                                           pend.prdc_ptr, pend.st_prdc))
        pend.record(v.stream)
        pend.call_ms = (time.perf_counter() - t0) * 1e3
        self._pending.append(pend)

    def _collect(self, block: bool, most: Optional[int] = None):
        while self._pending and (block or self._pending[0].done()) and most != 0:
            most = None if most is None else most - 1
            pend = self._pending.pop(0)
            try:
                rec = pend.result()
            except LscError as e:
                if isinstance(pend, _Job):
                    # the later measurements are not run (_work): refuse further ones
                    self._pending.clear()
                    self._broken = (f"this Monitor's measurement of step {pend.step} failed "
                                    f"({e}); the ranks may be out of step, so it measures no "
                                    f"more: make a new Monitor")
                raise
            if pend.assess_rows is not None:
                rows, pend.assess_rows = _host(pend.assess_rows), None
                rec = _with_assessment(rec, self._assess(rows, rec.prdc))
            self._finish(rec)

    def _finish(self, rec: MonitorRecord) -> MonitorRecord:
        rec = self._with_trend(rec)
        self.history.append(rec)
        if self.history_path is not None:
            d = rec.to_dict()
            if self.trend_h is not None:
                d["trend_h"] = self.trend_h
            # one whole line per write, flushed at once: a killed run leaves at most its last
            # line cut short, which lsc monitor-report names
            with open(self.history_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(d, allow_nan=False, separators=(",", ":")) + "\n")
        if self.log is not None:
            self.log(rec.summary() if self.log is print else rec)
        return rec

    def _with_trend(self, rec: MonitorRecord) -> MonitorRecord:
        """The record with the trend after it; records come here in the order they were taken."""
        if self._trend_args is None or rec.verdicts is None:
            return rec
        if self._trend is None:
            self._trend_checks = list(rec.verdicts)
            self._trend = _Cusum(len(self._trend_checks), *self._trend_args)
        # a check that is not assessed at this record skips it (its score judges nothing)
        z = [rec.verdicts[c].score if c in rec.verdicts and
             rec.verdicts[c].level != "not_assessed" else math.nan for c in self._trend_checks]
        cusum, warned = self._trend.update(z)
        trend = {c: float(v) for c, v in zip(self._trend_checks, cusum) if not math.isnan(v)}
        return dataclasses.replace(rec, trend=trend,
                                   warnings=[c for c, w in zip(self._trend_checks, warned) if w])

    def reset_trend(self):
        """Forgets every check's trend (CUSUM and window); it warms up again from the next
        record. For a deliberate change of the generator or the data."""
        if self._trend is not None:
            self._trend.reset()

    def flush(self) -> List[MonitorRecord]:
        """Waits for every measurement still on the GPU (or, over a torch group, on the worker
        thread); returns the whole history. A measurement that failed raises its error here, or
        at the step() that collects it."""
        self._check_usable()
        self._collect(block=True)
        return self.history

    def close(self):
        """Over a group with the non-waiting form: flush(), then ends the worker thread (the
        Monitor then measures no more) and frees its communicator. Not needed before exit (the
        queued measurements are finished then), but call flush() or close() before
        destroy_process_group() or MPI's finalisation: a measurement still running uses the
        group. Elsewhere flush()."""
        try:
            if self._broken is None:
                self.flush()
        finally:
            if self._jobs is not None:
                self._jobs.put(None)
                self._jobs = None
                if self._broken is None:
                    self._broken = "this Monitor is closed"
                # the worker's last collective is done before its communicator goes
                self._thread.join()
                _forget_worker(self._thread)
                self._free_comm()

    def plot(self, checks: Optional[Sequence[str]] = None):
        """A matplotlib Figure of the history: each check's matched statistic over the steps
        against its baseline band, the trend warnings marked, and the PRDC figures. Needs
        matplotlib (lsc.MissingDependency without it)."""
        from ._plot import plot_monitor
        return plot_monitor(self.history, checks)


def _mpi_multiple(engine) -> bool:
    """Whether `engine` is an mpi4py communicator's and MPI runs at MPI_THREAD_MULTIPLE (mpi4py's
    default), so that a worker thread may make collectives on a communicator of its own while
    the caller's thread makes others."""
    if engine is None or isinstance(engine, _TorchEngine):
        return False
    MPI = engine.MPI
    return MPI.Query_thread() == MPI.THREAD_MULTIPLE


def _mpi_finalized() -> bool:
    from mpi4py import MPI
    return MPI.Is_finalized()


def _taken(shard: _Shard) -> np.ndarray:
    """The shard's host rows; any failure to take them as an LscError, which agreed() raises on
    every rank."""
    try:
        return shard.take()
    except LscError:
        raise
    except Exception as e:  # noqa: BLE001 - e.g. a CUDA error of the copy
        raise LscError(f"this rank's latents could not be copied to the host: "
                       f"{type(e).__name__}: {e}") from e


def _device_copy(v):
    """A copy of a device view's rows on its device, enqueued on the stream the view was taken on
    (the producer's current stream, as the async calls) before the measurement's event."""
    if v.kind == "torch":
        return v.keep.detach().clone()      # on the tensor's device's current stream
    import cupy
    if isinstance(v.keep, cupy.ndarray):
        return v.keep.copy()                # on its device, on cupy's current stream
    with cupy.cuda.Device(v.device), cupy.cuda.ExternalStream(v.stream):
        return cupy.asarray(v.keep).copy()  # another __cuda_array_interface__ producer


def _ctx_for_cuda():
    from ._core import context
    return context("cuda")
