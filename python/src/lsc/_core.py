"""The operations of lsc.h with plain Python results (dataclasses named as in docs/METRICS.md)."""
from __future__ import annotations

import ctypes as C
import threading
from dataclasses import asdict, dataclass, field
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from . import _native as N
from ._arrays import View, empty_like_kind, view
from ._distributed import agreed, engine_for, sharded
from ._errors import InvalidArgument, NotSupported, error_for

# --------------------------------------------------------------------------------------------------
# contexts: one per (thread, backend, device, threads), kept for the thread's life, because a CUDA
# context costs its cuBLAS/cuSOLVER handles and its workspace to make (lsc.h: one thread per context)

_local = threading.local()


class Context:
    def __init__(self, backend: str, device: int, threads: int):
        if backend not in N.BACKENDS:
            raise InvalidArgument(f"backend must be one of {sorted(N.BACKENDS)}, not {backend!r}")
        p = N.params_init()
        p.backend = N.BACKENDS[backend]
        p.device = device
        p.threads = threads
        h = C.c_void_p()
        s = N.lib.lsc_ctx_create(C.byref(p), C.byref(h))
        self.handle = h.value
        if s != 0:
            msg = N.lib.lsc_last_error(h).decode() if h.value else "out of memory"
            N.lib.lsc_ctx_destroy(h)
            self.handle = None
            raise error_for(s, f"cannot create a {backend} context: {msg}",
                            N.lib.lsc_status_name(s).decode())
        self.backend = {v: k for k, v in N.BACKENDS.items()}[N.lib.lsc_ctx_backend(h)]
        self.device_name = N.lib.lsc_ctx_device_name(h).decode()

    def check(self, status: int):
        if status != 0:
            raise error_for(status, N.lib.lsc_last_error(self.handle).decode(),
                            N.lib.lsc_status_name(status).decode())

    def set_stream(self, stream: Optional[int]):
        self.check(N.lib.lsc_ctx_set_stream(self.handle, stream))

    def __del__(self):
        if getattr(self, "handle", None):
            N.lib.lsc_ctx_destroy(self.handle)
            self.handle = None


def context(backend: str = "auto", device: Optional[int] = None, threads: int = 0) -> Context:
    cache = getattr(_local, "contexts", None)
    if cache is None:
        cache = _local.contexts = {}
    key = (backend, 0 if device is None else device, threads)
    ctx = cache.get(key)
    if ctx is None:
        ctx = cache[key] = Context(backend, key[1], threads)
    return ctx


def _ctx_for(views: List[View], backend: str, threads: int = 0) -> Context:
    """The context for inputs: device inputs run on their device (and their stream)."""
    devs = {v.device for v in views if v is not None and v.on_device}
    hosts = [v for v in views if v is not None and not v.on_device]
    if devs:
        if len(devs) > 1:
            raise InvalidArgument(f"inputs live on different CUDA devices {sorted(devs)}")
        if hosts:
            raise InvalidArgument("inputs mix host and device memory; move them to one place")
        if backend == "cpu":
            raise InvalidArgument("backend='cpu' cannot read device memory; move the inputs to "
                                  "the host (x.cpu()) or use backend='cuda'")
        dev = devs.pop()
        ctx = context("cuda", dev, threads)
        stream = next(v.stream for v in views if v is not None and v.on_device)
        ctx.set_stream(stream)
        return ctx
    return context(backend, None, threads)


def version() -> str:
    """The version of the loaded C library."""
    return N.lib.lsc_version().decode()


def _int(value, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an integer, not {value!r}")
    return int(value)


def _seed(seed) -> int:
    """A seed as lsc's uint64_t (negative Python ints wrap, as in C)."""
    return _int(seed, "seed") & ((1 << 64) - 1)


def _metric(name: str, allowed=("euclidean", "cosine")) -> int:
    if name not in allowed:
        raise InvalidArgument(f"metric must be one of {list(allowed)}, not {name!r}")
    return N.METRICS[name]


# --------------------------------------------------------------------------------------------------
# spectrum

@dataclass(frozen=True)
class Spectrum:
    """docs/METRICS.md section 1. `vendi_cosine` is None when unavailable, with the reason."""
    rows: int
    cols: int
    rank_limit: int
    numerical_rank: int
    effective_rank: float
    rankme: float
    participation_ratio: float
    stable_rank: float
    dims_90: int
    dims_99: int
    active_units: int
    active_threshold: float
    total_variance: float
    largest_singular_value: float
    vendi_cosine: Optional[float]
    vendi_unavailable: Optional[str]
    all_rows_identical: bool
    vendi_cosine_q0: Optional[float]    # Vendi of order 0, 2, inf (None with vendi_cosine)
    vendi_cosine_q2: Optional[float]
    vendi_cosine_qinf: Optional[float]
    alpha_req: float                    # eigenspectrum decay; 0 with fewer than 3 ranks
    alpha_req_r2: float
    alpha_req_ranks: int
    singular_values: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    column_variance: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("singular_values", "column_variance"):
            if d[k] is not None:
                d[k] = d[k].tolist()
        return d

    def plot(self, label: str = ""):
        """A matplotlib Figure: scree (log scale) and cumulative variance with dims_90/99
        marked. Needs matplotlib (lsc.MissingDependency without it)."""
        from ._plot import plot_spectrum
        return plot_spectrum(self, label)


def spectrum_from_struct(r: N.SpectrumResult, sv=None, cv=None) -> Spectrum:
    ok = r.vendi_status == 0
    return Spectrum(
        rows=r.rows, cols=r.cols, rank_limit=r.rank_limit, numerical_rank=r.numerical_rank,
        effective_rank=r.effective_rank, rankme=r.rankme,
        participation_ratio=r.participation_ratio, stable_rank=r.stable_rank,
        dims_90=r.dims_90, dims_99=r.dims_99, active_units=r.active_units,
        active_threshold=r.active_threshold, total_variance=r.total_variance,
        largest_singular_value=r.largest_singular_value,
        vendi_cosine=r.vendi_cosine if ok else None,
        vendi_unavailable=None if ok else f"row {r.vendi_zero_row} is all zeros: its cosine is "
                                          f"undefined",
        all_rows_identical=bool(r.all_rows_identical),
        vendi_cosine_q0=r.vendi_cosine_q0 if ok else None,
        vendi_cosine_q2=r.vendi_cosine_q2 if ok else None,
        vendi_cosine_qinf=r.vendi_cosine_qinf if ok else None,
        alpha_req=r.alpha_req, alpha_req_r2=r.alpha_req_r2, alpha_req_ranks=r.alpha_req_ranks,
        singular_values=sv, column_variance=cv)


def _spectrum_opts(active_threshold: float) -> N.SpectrumOpts:
    return N.SpectrumOpts(C.sizeof(N.SpectrumOpts), float(active_threshold))


def spectrum(x, *, active_threshold: float = 0.01, backend: str = "auto", threads: int = 0,
             process_group=None, comm=None) -> Spectrum:
    """Every docs/METRICS.md section 1 figure of `x` (rows = samples, N >= 2).

    With process_group= (torch.distributed) or comm= (mpi4py) the call is collective: x is this
    rank's shard (host memory, or a CUDA array on the CUDA backend; any number of rows, the same
    columns on every rank) and every rank gets the figures of all ranks' rows concatenated in
    rank order (lsc_spectrum_sharded)."""
    engine = engine_for(process_group, comm)
    if engine is not None:
        return _spectrum_sharded(x, active_threshold, backend, threads, engine)
    v = view(x, "x")
    ctx = _ctx_for([v], backend, threads)
    r = N.new(N.SpectrumResult)
    m = min(v.matrix.rows, v.matrix.cols)
    sv = np.zeros(max(m, 1), dtype=np.float64)
    cv = np.zeros(max(v.matrix.cols, 1), dtype=np.float64)
    opts = _spectrum_opts(active_threshold)
    ctx.check(N.lib.lsc_spectrum(ctx.handle, C.byref(v.matrix), C.byref(opts), C.byref(r),
                                 sv.ctypes.data_as(C.POINTER(C.c_double)),
                                 cv.ctypes.data_as(C.POINTER(C.c_double))))
    return spectrum_from_struct(r, sv[:m], cv[:v.matrix.cols])


def _spectrum_sharded(x, active_threshold, backend, threads, engine) -> Spectrum:
    def prepare():
        v = view(x, "x", shard=True)
        return v, _ctx_for([v], backend, threads), _spectrum_opts(active_threshold)

    v, ctx, opts = agreed(engine, prepare)
    cols = v.matrix.cols
    r = N.new(N.SpectrumResult)
    # min(all rows, cols) singular values: at most cols, the count is in the result
    sv = np.zeros(cols, dtype=np.float64)
    cv = np.zeros(cols, dtype=np.float64)
    with sharded(ctx, engine):
        ctx.check(N.lib.lsc_spectrum_sharded(ctx.handle, C.byref(v.matrix), C.byref(opts),
                                             C.byref(r), sv.ctypes.data_as(C.POINTER(C.c_double)),
                                             cv.ctypes.data_as(C.POINTER(C.c_double))))
    return spectrum_from_struct(r, sv[:r.rank_limit], cv)


class SpectrumAccumulator:
    """Streaming spectrum: add batches of rows (any size), merge accumulators, finalize any time.

    The backend is fixed by the first batch (device batches put it on their GPU)."""

    def __init__(self, cols: Optional[int] = None, *, active_threshold: float = 0.01,
                 backend: str = "auto", threads: int = 0):
        self._cols = cols
        self._thr = active_threshold
        self._backend = backend
        self._threads = threads
        self._ctx: Optional[Context] = None
        self._h = None

    def _ensure(self, v: Optional[View], cols: int):
        if self._h is not None:
            return
        self._ctx = _ctx_for([v] if v else [], self._backend, self._threads)
        h = C.c_void_p()
        opts = _spectrum_opts(self._thr)
        self._ctx.check(N.lib.lsc_spectrum_acc_create(self._ctx.handle, cols, C.byref(opts),
                                                      C.byref(h)))
        self._h = h.value
        self._cols = cols

    def add(self, batch) -> "SpectrumAccumulator":
        v = view(batch, "batch")
        if self._cols is not None and v.matrix.cols != self._cols:
            raise InvalidArgument(f"batch has {v.matrix.cols} cols, the accumulator {self._cols}")
        self._ensure(v, v.matrix.cols)
        if v.on_device:
            self._ctx.set_stream(v.stream)
        self._ctx.check(N.lib.lsc_spectrum_acc_add(self._ctx.handle, self._h, C.byref(v.matrix)))
        return self

    def merge(self, other: "SpectrumAccumulator") -> "SpectrumAccumulator":
        if other._h is None:
            return self
        self._ensure(None, other._cols)
        self._ctx.check(N.lib.lsc_spectrum_acc_merge(self._ctx.handle, self._h, other._h))
        return self

    @property
    def rows(self) -> int:
        return 0 if self._h is None else int(N.lib.lsc_spectrum_acc_rows(self._h))

    @property
    def cols(self) -> Optional[int]:
        return self._cols

    def finalize(self) -> Spectrum:
        if self._h is None:
            raise InvalidArgument("the accumulator is empty: add at least 2 rows first")
        r = N.new(N.SpectrumResult)
        m = min(self.rows, self._cols)
        sv = np.zeros(max(self._cols, 1), dtype=np.float64)
        cv = np.zeros(max(self._cols, 1), dtype=np.float64)
        self._ctx.check(N.lib.lsc_spectrum_acc_finalize(
            self._ctx.handle, self._h, C.byref(r), sv.ctypes.data_as(C.POINTER(C.c_double)),
            cv.ctypes.data_as(C.POINTER(C.c_double))))
        return spectrum_from_struct(r, sv[:m], cv[:self._cols])

    def __del__(self):
        if getattr(self, "_h", None):
            N.lib.lsc_spectrum_acc_destroy(self._h)
            self._h = None


# --------------------------------------------------------------------------------------------------
# seeded subsets and splits (docs/METRICS.md section 7)

def sample_rows(n: int, count: int, seed: int = 0, offset: int = 0) -> np.ndarray:
    """The seeded subset of `count` of `n` rows: the rows at positions offset .. offset+count-1 of
    lsc's seeded permutation of 0..n-1, in ascending order (int64). The same subsets lsc draws
    everywhere (pair_stats' subset_rows, the CLI's), from (seed, n) alone on every backend and
    process. Subsets of one seed at disjoint positions are disjoint: with h = n // 2,
    sample_rows(n, h, s) and sample_rows(n, n - h, s, offset=h) split the rows in two halves.
    Needs n >= 1, offset >= 0, count >= 0 and offset + count <= n (else InvalidArgument)."""
    n, count, offset = _int(n, "n"), _int(count, "count"), _int(offset, "offset")
    rows = np.empty(max(count, 0), dtype=np.int64)
    ctx = context("cpu")
    ctx.check(N.lib.lsc_sample_rows(ctx.handle, _seed(seed), n, offset, count,
                                    rows.ctypes.data_as(C.POINTER(C.c_int64))))
    return rows


def permute(n: int, seed: int = 0) -> np.ndarray:
    """lsc's seeded permutation of 0..n-1 (int64): element j is the row at position j, the
    permutation every subset and split is drawn from (sample_rows(n, c, seed, o) is
    np.sort(permute(n, seed)[o:o + c])). One library call (lsc_permute) per position, about a
    microsecond each: for a subset of a large n, sample_rows is the cheaper call. Needs n >= 1."""
    n = _int(n, "n")
    if n < 1:
        raise InvalidArgument(f"permute: n is {n}, expected >= 1")
    s, f = _seed(seed), N.lib.lsc_permute
    return np.fromiter((f(s, n, j) for j in range(n)), dtype=np.int64, count=n)


# --------------------------------------------------------------------------------------------------
# distances, pair statistics, kNN

def distances(a, b=None, *, metric: str = "euclidean", backend: str = "auto", threads: int = 0):
    """The a.rows x b.rows block of distances (float32), as the input's kind (numpy, or a torch /
    cupy array on the input's GPU). b=None means a against itself."""
    va = view(a, "a")
    vb = va if b is None else view(b, "b")
    ctx = _ctx_for([va, vb], backend, threads)
    out, ptr = empty_like_kind(va, (va.matrix.rows, vb.matrix.rows), "float32")
    mem = N.MEMORY_DEVICE if va.on_device else N.MEMORY_HOST
    ctx.check(N.lib.lsc_distances(ctx.handle, C.byref(va.matrix), C.byref(vb.matrix),
                                  _metric(metric, ("euclidean", "sqeuclidean", "cosine")), ptr,
                                  vb.matrix.rows, mem))
    return out


@dataclass(frozen=True)
class PairStats:
    """docs/METRICS.md section 3. `near_duplicates` lists (i, j, d) ordered by d, then i, then j."""
    metric: str
    rows_used: int
    pairs: int
    mean: float
    std: float
    min: float
    max: float
    nn_mean: float
    nn_median: float
    nn_min: float
    nn_max: float
    near_duplicate_pairs: int
    near_duplicates: List[Tuple[int, int, float]]
    bins: int
    hist_upper: float
    histogram: np.ndarray = field(repr=False, compare=False)
    edges: np.ndarray = field(repr=False, compare=False)
    subset: bool = False
    uniformity: Optional[float] = None  # with pair_stats(uniformity=True)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["histogram"] = self.histogram.tolist()
        d["edges"] = self.edges.tolist()
        return d

    def plot(self):
        """A matplotlib Figure of the distance histogram. Needs matplotlib."""
        from ._plot import plot_pair_stats
        return plot_pair_stats(self)


def pair_stats(x, *, metric: str = "euclidean", bins: int = 64, dup_eps: float = 1e-6,
               dup_report: int = 100, subset_rows: int = 0, seed: int = 0,
               subset_offset: int = 0, uniformity: bool = False, backend: str = "auto",
               threads: int = 0, process_group=None, comm=None) -> PairStats:
    """All-pairs statistics over the N(N-1)/2 pairs of x, never storing N x N.

    subset_rows=0 (or >= N) uses every row; else the seeded subset of that many rows at positions
    subset_offset .. subset_offset + subset_rows - 1 of the permutation of `seed`, the rows
    lsc.sample_rows(N, subset_rows, seed, subset_offset) returns (docs/METRICS.md section 7):
    subsets with one seed at disjoint positions are disjoint (halves, folds). Listed near
    duplicates name rows of x, also for a subset.

    With process_group= (torch.distributed) or comm= (mpi4py) the call is collective: x is this
    rank's shard (host memory, any number of rows) and every rank gets the statistics of all
    ranks' rows concatenated in rank order, the listed rows counted in that concatenation and
    the subset drawn over it (lsc_pair_stats_sharded: each pair computed once, the shards passed
    round the ranks)."""
    engine = engine_for(process_group, comm)

    def prepare():
        v = view(x, "x", shard=engine is not None)
        if not isinstance(bins, (int, np.integer)) or bins < 1:
            raise InvalidArgument(f"bins must be a positive integer, not {bins!r}")
        if not isinstance(dup_report, (int, np.integer)) or dup_report < 0:
            raise InvalidArgument(f"dup_report must be an integer >= 0, not {dup_report!r}")
        opts = N.PairOpts(C.sizeof(N.PairOpts), _metric(metric), int(bins), float(dup_eps),
                          int(dup_report), _int(subset_rows, "subset_rows"), _seed(seed),
                          _int(subset_offset, "subset_offset"), 1 if uniformity else 0)
        return v, _ctx_for([v], backend, threads), opts

    v, ctx, opts = prepare() if engine is None else agreed(engine, prepare)
    r = N.new(N.PairResult)
    hist = np.zeros(int(bins), dtype=np.int64)
    dups = (N.Pair * max(int(dup_report), 1))()
    args = (ctx.handle, C.byref(v.matrix), C.byref(opts), C.byref(r),
            hist.ctypes.data_as(C.POINTER(C.c_int64)), dups)
    if engine is None:
        ctx.check(N.lib.lsc_pair_stats(*args))
    else:
        with sharded(ctx, engine):
            ctx.check(N.lib.lsc_pair_stats_sharded(*args))
    listed = [(int(p.i), int(p.j), float(p.d)) for p in dups[:r.near_duplicates_listed]]
    return PairStats(metric=metric, rows_used=r.rows_used, pairs=r.pairs, mean=r.mean, std=r.std,
                     min=r.min, max=r.max, nn_mean=r.nn_mean, nn_median=r.nn_median,
                     nn_min=r.nn_min, nn_max=r.nn_max,
                     near_duplicate_pairs=r.near_duplicate_pairs, near_duplicates=listed,
                     bins=r.bins, hist_upper=r.hist_upper, histogram=hist,
                     edges=np.linspace(0.0, r.hist_upper, int(bins) + 1), subset=bool(r.subset),
                     uniformity=r.uniformity if uniformity else None)


class Knn(NamedTuple):
    """k nearest neighbours: distances and indices, each queries x k, ascending."""
    distances: object
    indices: object


def knn(queries, base=None, k: int = 5, *, exclude_self=None,
        metric: str = "euclidean", backend: str = "auto", threads: int = 0,
        process_group=None, comm=None) -> Knn:
    """Exact k nearest neighbours of each query row among the base rows. base=None: the queries
    among themselves, each row's own index excluded (as `lsc knn` without --base does);
    exclude_self=False keeps it (distance 0 first). exclude_self defaults to True without a base
    and to False with one. Outputs are of the input's kind.

    With process_group= (torch.distributed) or comm= (mpi4py) the call is collective: `queries`
    are the same rows on every rank, `base` is this rank's shard of the base (host memory), and
    every rank gets the same lists, indices counting the rows of all ranks' shards concatenated
    in rank order (lsc_knn_sharded). Without a base, each rank's `queries` are its shard and it
    gets its rows' lists among every rank's rows, itself excluded (global indices)."""
    engine = engine_for(process_group, comm)
    if engine is not None:
        return _knn_sharded(queries, base, k, exclude_self, metric, backend, threads, engine)
    if exclude_self is None:
        exclude_self = base is None
    vq = view(queries, "queries")
    vb = vq if base is None or base is queries else view(base, "base")
    ctx = _ctx_for([vq, vb], backend, threads)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise InvalidArgument(f"k must be an integer, not {k!r}")
    k = int(k)
    if k < 1:
        raise InvalidArgument(f"k is {k}, expected >= 1")
    q = vq.matrix.rows
    dist, dptr = empty_like_kind(vq, (q, k), "float32")
    idx, iptr = empty_like_kind(vq, (q, k), "int64")
    opts = N.KnnOpts(C.sizeof(N.KnnOpts), _metric(metric), int(bool(exclude_self)),
                     N.MEMORY_DEVICE if vq.on_device else N.MEMORY_HOST)
    ctx.check(N.lib.lsc_knn(ctx.handle, C.byref(vq.matrix), C.byref(vb.matrix), k, C.byref(opts),
                            dptr, iptr))
    return Knn(dist, idx)


def _knn_sharded(queries, base, k, exclude_self, metric, backend, threads, engine) -> Knn:
    own = base is None or base is queries
    if exclude_self is None:
        exclude_self = own

    def prepare():
        if own != bool(exclude_self):
            raise NotSupported("knn over a group: give a base shard (the same queries on every "
                               "rank), or no base with exclude_self (each rank's rows among all "
                               "ranks' rows, itself excluded)")
        vq = view(queries, "queries", shard=own)
        vb = None if own else view(base, "base", shard=True)
        opts = N.KnnOpts(C.sizeof(N.KnnOpts), _metric(metric), 1 if own else 0, N.MEMORY_HOST)
        return vq, vb, _ctx_for([vq, vb], backend, threads), _int(k, "k"), opts

    vq, vb, ctx, k, opts = agreed(engine, prepare)
    q = vq.matrix.rows
    dist, dptr = empty_like_kind(vq, (q, max(k, 1)), "float32")
    idx, iptr = empty_like_kind(vq, (q, max(k, 1)), "int64")
    with sharded(ctx, engine):
        ctx.check(N.lib.lsc_knn_sharded(ctx.handle, C.byref(vq.matrix),
                                        C.byref(vb.matrix) if vb is not None else None, k,
                                        C.byref(opts), dptr, iptr))
    return Knn(dist, idx)


@dataclass(frozen=True)
class TwoNN:
    """TwoNN intrinsic dimension (docs/METRICS.md section 9)."""
    dimension: float
    rows: int
    distinct_rows: int
    duplicate_rows: int
    rows_used: int
    points_fitted: int
    subset: bool

    def to_dict(self) -> dict:
        return asdict(self)


def twonn(x, *, max_rows: int = 10000, seed: int = 0, discard_fraction: float = 0.1,
          backend: str = "auto", threads: int = 0) -> TwoNN:
    """TwoNN intrinsic dimension of x (host memory; Facco et al. 2017, scikit-dimension 0.5's fit).
    Exact duplicate rows count once (`duplicate_rows` says how many were collapsed); above
    max_rows distinct rows a seeded subset of max_rows is used (0: every row)."""
    v = view(x, "x")
    ctx = _ctx_for([v], backend, threads)
    opts = N.TwonnOpts(C.sizeof(N.TwonnOpts), _int(max_rows, "max_rows"), _seed(seed),
                       float(discard_fraction))
    r = N.new(N.TwonnResult)
    ctx.check(N.lib.lsc_twonn(ctx.handle, C.byref(v.matrix), C.byref(opts), C.byref(r)))
    return TwoNN(dimension=r.dimension, rows=r.rows, distinct_rows=r.distinct_rows,
                 duplicate_rows=r.duplicate_rows, rows_used=r.rows_used,
                 points_fitted=r.points_fitted, subset=bool(r.subset))


@dataclass(frozen=True)
class Hubness:
    """Hubness of a k-nearest-neighbour graph (docs/METRICS.md section 9)."""
    k: int
    skewness: float
    robin_hood: float
    max_occurrence: int
    antihubs: int
    base_rows: int
    query_rows: int
    subset: bool

    def to_dict(self) -> dict:
        return asdict(self)


def hubness(base, queries=None, *, k: int = 10, metric: str = "euclidean", max_rows: int = 10000,
            seed: int = 0, backend: str = "auto", threads: int = 0) -> Hubness:
    """k-occurrence skewness and Robin Hood index of the base rows (host memory): within the
    set (queries=None, each row's own index excluded) or counted over the k-nearest lists of the
    query rows (generated codes) against the base (the reference). Above max_rows rows each set
    is a seeded subset of max_rows (0: every row)."""
    vb = view(base, "base")
    vq = None if queries is None else view(queries, "queries")
    ctx = _ctx_for([vb] + ([vq] if vq else []), backend, threads)
    opts = N.HubnessOpts(C.sizeof(N.HubnessOpts), _int(k, "k"), _metric(metric),
                         _int(max_rows, "max_rows"), _seed(seed))
    r = N.new(N.HubnessResult)
    ctx.check(N.lib.lsc_hubness(ctx.handle, C.byref(vb.matrix),
                                C.byref(vq.matrix) if vq else None, C.byref(opts), C.byref(r)))
    return Hubness(k=r.k, skewness=r.skewness, robin_hood=r.robin_hood,
                   max_occurrence=r.max_occurrence, antihubs=r.antihubs, base_rows=r.base_rows,
                   query_rows=r.query_rows, subset=bool(r.subset))


@dataclass(frozen=True)
class VendiRbf:
    """RBF Vendi score of order 2, the RKE mode count (docs/METRICS.md section 9)."""
    vendi_q2: float
    sigma: float
    rows_used: int
    tolerance: float
    subset: bool

    def to_dict(self) -> dict:
        return asdict(self)


def vendi_rbf(x, *, sigma: float = 10.0, max_rows: int = 10000, seed: int = 0,
              backend: str = "auto", threads: int = 0) -> VendiRbf:
    """1 / ||K / N||_F^2 with K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2)), from one all-pairs
    kernel sum, never N x N. sigma defaults to lsc.mmd's (10, CMMD's, for unit rows): match it
    to the features' scale. Above max_rows rows, a seeded subset of max_rows (0: every row)."""
    v = view(x, "x")
    ctx = _ctx_for([v], backend, threads)
    opts = N.VendiRbfOpts(C.sizeof(N.VendiRbfOpts), float(sigma), _int(max_rows, "max_rows"),
                          _seed(seed))
    r = N.new(N.VendiRbfResult)
    ctx.check(N.lib.lsc_vendi_rbf(ctx.handle, C.byref(v.matrix), C.byref(opts), C.byref(r)))
    return VendiRbf(vendi_q2=r.vendi_q2, sigma=r.sigma, rows_used=r.rows_used,
                    tolerance=r.tolerance, subset=bool(r.subset))


def alignment(x, y, *, backend: str = "auto", threads: int = 0) -> float:
    """Alignment of positive pairs (Wang & Isola 2020, alpha = 2): the mean of
    ||x_i/|x_i| - y_i/|y_i|||^2 over the rows (host memory, the same shape); 0 to 4."""
    vx, vy = view(_host(x), "x"), view(_host(y), "y")
    ctx = _ctx_for([vx, vy], backend, threads)
    out = C.c_double(0.0)
    ctx.check(N.lib.lsc_alignment(ctx.handle, C.byref(vx.matrix), C.byref(vy.matrix),
                                  C.byref(out)))
    return float(out.value)


# --------------------------------------------------------------------------------------------------
# references and PRDC

def _host(x):
    """A host copy of a device array (torch or cupy); other arrays as they are."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        return x.detach().cpu().float().numpy() if str(x.dtype) == "torch.bfloat16" \
            else x.detach().cpu().numpy()
    if hasattr(x, "get") and hasattr(x, "__cuda_array_interface__"):
        return x.get()
    return x


class Reference:
    """A real set kept with its k-NN radii, built once and reused against many generated sets.

    Reference(real, k=5, metric="euclidean", comparison="strict") builds one; Reference.load(path)
    reads one written by .save(path) (or by `lsc reference build`). A reference keeps its own
    host copy of the rows: a real set in device memory (torch, cupy) is copied to the host, and
    its radii are still computed on its device. copy=False reads a C-contiguous float32 host
    array where it is instead (N x D x 4 bytes saved; other arrays are still copied): the
    Reference holds on to the array, whose values must not change while the Reference lives.

    A reference is read-only once made: threads may share one. On a GPU each call copies its rows
    to the device; .to_device(d) makes a copy that lives on device d once (the Monitor does so).

    With process_group= (torch.distributed) or comm= (mpi4py), collective: `real` is this rank's
    shard of the real rows (host memory, any number of rows), and each rank's Reference is its
    shard of the reference of all ranks' rows (lsc_reference_create_sharded: radii against every
    rank's rows). lsc.prdc(shard, fake_shard) then runs over the same group, and .save(path)
    writes the shards as one file, from every rank."""

    def __init__(self, real=None, k: int = 5, *, metric: str = "euclidean",
                 comparison: str = "strict", backend: str = "auto", threads: int = 0,
                 copy: bool = True, process_group=None, comm=None, _handle=None, _ctx=None,
                 _device=None):
        self._h = None
        self._rows = None
        self._engine = None
        self.device: Optional[int] = _device
        if _handle is not None:
            self._h, self._ctx = _handle, _ctx
            return
        engine = engine_for(process_group, comm)
        if engine is not None:
            self._create_sharded(real, k, metric, comparison, backend, threads, engine)
            return
        if comparison not in N.COMPARISONS:
            raise InvalidArgument(f"comparison must be 'strict' or 'inclusive', not {comparison!r}")
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise InvalidArgument(f"k must be an integer, not {k!r}")
        v = view(real, "real")
        self._ctx = _ctx_for([v], backend, threads)
        if v.on_device:
            # lsc_reference_create reads host rows (a reference keeps its own host copy): the
            # rows come to the host, the radii are still computed on their device's context
            v = view(_host(real), "real")
        # copy=False: the library reads dense float32 host rows where they are; the view,
        # which holds them, is kept with the reference
        opts = N.ReferenceOpts(C.sizeof(N.ReferenceOpts), _metric(metric),
                               N.COMPARISONS[comparison], 0 if copy else 1)
        if not copy:
            self._rows = v
        h = C.c_void_p()
        self._ctx.check(N.lib.lsc_reference_create(self._ctx.handle, C.byref(v.matrix), int(k),
                                                   C.byref(opts), C.byref(h)))
        self._h = h.value

    def _create_sharded(self, real, k, metric, comparison, backend, threads, engine):
        def prepare():
            if comparison not in N.COMPARISONS:
                raise InvalidArgument(f"comparison must be 'strict' or 'inclusive', not "
                                      f"{comparison!r}")
            v = view(real, "real", shard=True)
            opts = N.ReferenceOpts(C.sizeof(N.ReferenceOpts), _metric(metric),
                                   N.COMPARISONS[comparison], 0)
            return v, _ctx_for([v], backend, threads), _int(k, "k"), opts

        v, self._ctx, k, opts = agreed(engine, prepare)
        h = C.c_void_p()
        with sharded(self._ctx, engine):
            self._ctx.check(N.lib.lsc_reference_create_sharded(self._ctx.handle, C.byref(v.matrix),
                                                               k, C.byref(opts), C.byref(h)))
        self._h = h.value
        self._engine = engine

    @classmethod
    def load(cls, path, *, backend: str = "auto", threads: int = 0, process_group=None,
             comm=None) -> "Reference":
        """Reads a reference file. With process_group= or comm=, collective: each rank reads only
        its even part of the rows (and their radii), the file's checksums verified across the
        ranks, and gets that shard (lsc_reference_load_sharded), whatever number of ranks or
        processes wrote the file."""
        engine = engine_for(process_group, comm)
        ctx = context(backend, None, threads)
        h = C.c_void_p()
        if engine is None:
            ctx.check(N.lib.lsc_reference_load(ctx.handle, str(path).encode(), C.byref(h)))
            return cls(_handle=h.value, _ctx=ctx)
        with sharded(ctx, engine):
            ctx.check(N.lib.lsc_reference_load_sharded(ctx.handle, str(path).encode(),
                                                       C.byref(h)))
        ref = cls(_handle=h.value, _ctx=ctx)
        ref._engine = engine
        return ref

    def to_device(self, device: int = 0) -> "Reference":
        """A copy of this reference whose rows and radii live on CUDA device `device`, copied
        there once now (lsc_reference_to_device): PRDC of batches on that device then reads them
        in place instead of copying N x D floats across at every call, and the asynchronous form
        may be captured in a CUDA graph. It costs about 2 N x D x 4 bytes of device memory, freed
        with the copy, and its own host copy; either reference may be dropped first. Calls with it
        run on that device (host batches too); on another device it is refused (InvalidArgument).
        Raises BackendUnavailable without a usable CUDA backend."""
        ctx = context("cuda", int(device))
        h = C.c_void_p()
        ctx.check(N.lib.lsc_reference_to_device(ctx.handle, self._h, C.byref(h)))
        return Reference(_handle=h.value, _ctx=ctx, _device=int(device))

    def save(self, path) -> None:
        """Writes the reference to `path`; a shard made over a group writes, with the other
        ranks' shards, one file (every rank calls it, with the same path on a filesystem every
        rank sees)."""
        if self._engine is not None:
            with sharded(self._ctx, self._engine):
                self._ctx.check(N.lib.lsc_reference_save_sharded(self._ctx.handle, self._h,
                                                                 str(path).encode()))
            return
        self._ctx.check(N.lib.lsc_reference_save(self._ctx.handle, self._h, str(path).encode()))

    def prepare(self, seed: int = 0) -> "Reference":
        """Computes what lsc.assess(..., seed=seed) needs from the reference alone (its judging
        half's radii; docs/METRICS.md section 8) and keeps it, so .save() stores it and every
        assess with that seed skips that pass, here or after .load(). Returns self."""
        self._ctx.check(N.lib.lsc_reference_prepare(self._ctx.handle, self._h, _seed(seed)))
        return self

    def _info(self) -> N.ReferenceInfo:
        info = N.new(N.ReferenceInfo)
        s = N.lib.lsc_reference_info_get(self._h, C.byref(info))
        if s != 0:
            raise error_for(s, f"lsc_reference_info_get: {N.lib.lsc_status_string(s).decode()} "
                               f"(ReferenceInfo.size {info.size})",
                            N.lib.lsc_status_name(s).decode())
        return info

    rows = property(lambda self: int(self._info().rows))
    cols = property(lambda self: int(self._info().cols))
    k = property(lambda self: int(self._info().k))
    metric = property(lambda self: N.METRIC_NAMES[self._info().metric])
    comparison = property(lambda self: N.COMPARISON_NAMES[self._info().comparison])
    zero_radii = property(lambda self: int(self._info().zero_radii))
    total_rows = property(lambda self: int(self._info().total_rows),
                          doc="Rows of the whole reference: more than .rows for a rank's shard.")
    first_row = property(lambda self: int(self._info().first_row),
                         doc="The global index of a shard's first row (0 for a whole one).")
    file_version = property(lambda self: int(self._info().file_version),
                            doc="Format version of the file the reference was loaded from; 0 for "
                                "one built in this process.")
    prepared_seed = property(lambda self: (int(self._info().prepared_seed)
                                           if self._info().prepared else None),
                             doc="The seed .prepare() ran for (kept in its file), or None.")

    def rows_array(self) -> np.ndarray:
        """The real rows the reference holds (a float32 copy, rows x cols)."""
        p = N.lib.lsc_reference_rows(self._h)
        return np.ctypeslib.as_array(p, shape=(self.rows, self.cols)).copy()

    @property
    def radii(self) -> np.ndarray:
        """The exact k-NN radius of each real row (a float64 copy)."""
        p = N.lib.lsc_reference_radii(self._h)
        return np.ctypeslib.as_array(p, shape=(self.rows,)).copy()

    def __repr__(self):
        i = self._info()
        return (f"lsc.Reference(rows={i.rows}, cols={i.cols}, k={i.k}, "
                f"metric={N.METRIC_NAMES[i.metric]!r}, "
                f"comparison={N.COMPARISON_NAMES[i.comparison]!r}, zero_radii={i.zero_radii}, "
                f"file_version={i.file_version}"
                + (f", device={self.device}" if self.device is not None else "") + ")")

    def __del__(self):
        if getattr(self, "_h", None):
            N.lib.lsc_reference_destroy(self._h)
            self._h = None


@dataclass(frozen=True)
class Prdc:
    """docs/METRICS.md section 5. `coverage_expected` is the coverage expected if the generated
    rows came from the real rows' own distribution, at these N, M and k (closed form,
    1 - prod_{t<k} (N-1-t) / (N-1+M-t)): the baseline `coverage` is judged by."""
    precision: float
    recall: float
    density: float
    coverage: float
    k: int
    real_rows: int
    fake_rows: int
    zero_radii_real: int
    zero_radii_fake: int
    comparison: str
    metric: str
    coverage_expected: float

    def to_dict(self) -> dict:
        return asdict(self)

    def plot(self, assessment: "Optional[Assessment]" = None):
        """A matplotlib Figure of the four figures (with an Assessment of the same sets, each
        judged figure's baseline and interval). Needs matplotlib."""
        from ._plot import plot_prdc
        return plot_prdc(self, assessment)


def prdc_from_struct(r: N.PrdcResult) -> Prdc:
    return Prdc(precision=r.precision, recall=r.recall, density=r.density, coverage=r.coverage,
                k=r.k, real_rows=r.real_rows, fake_rows=r.fake_rows,
                zero_radii_real=r.zero_radii_real, zero_radii_fake=r.zero_radii_fake,
                comparison=N.COMPARISON_NAMES.get(r.comparison, str(r.comparison)),
                metric=N.METRIC_NAMES.get(r.metric, str(r.metric)),
                coverage_expected=r.coverage_expected)


def prdc(real_or_reference, fake, k: int = 5, *, metric: str = "euclidean",
         comparison: str = "strict", backend: str = "auto", threads: int = 0,
         process_group=None, comm=None) -> Prdc:
    """Precision, recall, density and coverage of `fake` against a real set or a Reference (whose
    own k, metric and comparison are then used).

    With process_group= (torch.distributed) or comm= (mpi4py), or a Reference shard made over a
    group, collective: `fake` is this rank's shard of the generated rows and the real rows (or
    the reference) this rank's shard of the real ones (host memory, any number of rows), and
    every rank gets the figures of all ranks' rows (lsc_prdc_sharded; the counts exactly as one
    process's)."""
    engine = engine_for(process_group, comm)
    if engine is None and isinstance(real_or_reference, Reference):
        engine = real_or_reference._engine
    if engine is not None:
        return _prdc_sharded(real_or_reference, fake, k, metric, comparison, backend, threads,
                             engine)
    vf = view(fake, "fake")
    if isinstance(real_or_reference, Reference):
        ref = real_or_reference
    else:
        ref = Reference(real_or_reference, k, metric=metric, comparison=comparison,
                        backend=backend, threads=threads, copy=False)  # real outlives it
    if ref.device is not None and not vf.on_device:
        ctx = context("cuda", ref.device, threads)   # host rows against the device's copy
    else:
        ctx = _ctx_for([vf], backend if not vf.on_device else "cuda", threads)
    r = N.new(N.PrdcResult)
    ctx.check(N.lib.lsc_prdc(ctx.handle, ref._h, C.byref(vf.matrix), C.byref(r)))
    return prdc_from_struct(r)


def _prdc_sharded(real_or_reference, fake, k, metric, comparison, backend, threads,
                  engine) -> Prdc:
    if isinstance(real_or_reference, Reference):
        ref = real_or_reference
    else:
        ref = Reference(real_or_reference, k, metric=metric, comparison=comparison,
                        backend=backend, threads=threads, process_group=engine)
    vf, ctx = agreed(engine, lambda: (view(fake, "fake", shard=True), ref._ctx))
    r = N.new(N.PrdcResult)
    with sharded(ctx, engine):
        ctx.check(N.lib.lsc_prdc_sharded(ctx.handle, ref._h, C.byref(vf.matrix), C.byref(r)))
    return prdc_from_struct(r)


# --------------------------------------------------------------------------------------------------
# verdicts (docs/METRICS.md section 8)

# lsc.h's LSC_ASSESS_OPTS_INIT (python/tests/test_abi.py checks these against the header)
ASSESS_DEFAULTS = dict(splits=16, seed=0, memorisation_factor=0.25, inactive_factor=0.01)


class Statistic(NamedTuple):
    """The statistic a check judges: its name ("coverage") and the user's figure at full sizes
    (PRDC of the whole generated set against the whole reference)."""
    name: str
    value: float


class Baseline(NamedTuple):
    """What held-out real rows give at the matched sizes: the mean over the splits, their
    standard deviation (ddof 1, floored as docs/METRICS.md section 8 says) and how it was made."""
    value: float
    spread: float
    method: str


class Interval(NamedTuple):
    """Where `matched` falls with probability 0.99 (two-sided) when the generated rows come from
    the real distribution."""
    lo: float
    hi: float


class Lines(NamedTuple):
    """The check's effect lines: borderline and collapse."""
    borderline: float
    collapse: float


def _json_num(v: float):
    """A float as the CLI's JSON writes it: null when not finite."""
    return v if np.isfinite(v) else None


@dataclass(frozen=True)
class Verdict:
    """One check's verdict and its evidence (lsc_verdict, docs/METRICS.md section 8).

    `level` is "ok", "borderline", "collapse" or "not_assessed"; `matched` is the statistic at
    the matched sizes the decision uses (m generated rows against the reference's first half);
    `effect` the relative departure in the harmful direction (negative when better than the
    baseline); `score` the departure over the predicted spread (the significance test); `why`
    one sentence for a human."""
    check: str
    level: str
    statistic: Statistic
    matched: float
    baseline: Baseline
    interval: Interval
    effect: float
    score: float
    lines: Lines
    why: str

    def to_dict(self) -> dict:
        """The verdict as the JSON object Assessment.to_dict() holds under its check's name
        (non-finite numbers become None, JSON's null)."""
        return {
            "level": self.level,
            "statistic": {"name": self.statistic.name, "value": _json_num(self.statistic.value),
                          "matched": _json_num(self.matched)},
            "baseline": {"value": _json_num(self.baseline.value),
                         "spread": _json_num(self.baseline.spread),
                         "method": self.baseline.method},
            "interval": [_json_num(self.interval.lo), _json_num(self.interval.hi)],
            "effect": _json_num(self.effect),
            "score": _json_num(self.score),
            "lines": [_json_num(self.lines.borderline), _json_num(self.lines.collapse)],
            "why": self.why,
        }


def _level_name(level: int) -> str:
    return N.lib.lsc_level_name(level).decode()


def verdict_from_struct(v: N.Verdict) -> Verdict:
    return Verdict(
        check=N.lib.lsc_check_name(v.check).decode(), level=_level_name(v.level),
        statistic=Statistic((v.statistic or b"").decode(), v.value), matched=v.matched,
        baseline=Baseline(v.baseline, v.spread, (v.method or b"").decode()),
        interval=Interval(v.interval_lo, v.interval_hi), effect=v.effect, score=v.score,
        lines=Lines(v.borderline_line, v.collapse_line),
        why=v.why.decode("utf-8", errors="replace"))


@dataclass(frozen=True)
class ClassVerdict:
    """One class of the reference's labels (docs/METRICS.md section 8, "Classes"): `level`
    judges its coverage loss (missing), `share_level` its share of the generated rows
    (over-produced); `coverage` is the full-size figure (nan when a caller's PRDC was used)."""
    label: int
    real_rows: int
    coverage: float
    level: str
    matched: float
    baseline: float
    spread: float
    effect: float
    score: float
    share_level: str
    share: float
    share_baseline: float
    share_effect: float
    share_score: float

    def to_dict(self) -> dict:
        return {k: (_json_num(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Assessment:
    """The outcome of lsc.assess: every check's Verdict, by check name, in lsc's order.

    `verdict` is the worst level among the assessed checks ("ok" when none is assessed);
    `not_assessed` names the checks these sizes or inputs could not judge (each Verdict's `why`
    says why). With labels, `classes` holds each class's ClassVerdict (ascending labels);
    `uncovered` is the number of reference rows no generated row covers and `uncovered_rows`
    the first 100 of them, most uncovered first (None when a caller's PRDC was used).
    `near_rows` counts the generated rows within assess's `near_distance` of a reference row
    (None when not asked for, or with a caller's PRDC). `prdc` holds the full-size figures the
    verdicts' values come from (lsc.prdc's, from the same pass, or the caller's; None when the
    generated set has k rows or fewer)."""
    verdict: str
    not_assessed: List[str]
    verdicts: Dict[str, Verdict]
    classes: List[ClassVerdict] = field(default_factory=list)
    uncovered: Optional[int] = None
    uncovered_rows: Optional[List[int]] = None
    near_rows: Optional[int] = None
    prdc: Optional[Prdc] = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """{"verdict", "not_assessed", "verdicts": {check: Verdict.to_dict()}, "classes",
        "uncovered", "uncovered_rows", "near_rows"}: plain values json.dumps writes as they are."""
        return {"verdict": self.verdict, "not_assessed": list(self.not_assessed),
                "verdicts": {name: v.to_dict() for name, v in self.verdicts.items()},
                "classes": [c.to_dict() for c in self.classes],
                "uncovered": self.uncovered, "uncovered_rows": self.uncovered_rows,
                "near_rows": self.near_rows}

    def plot(self):
        """A matplotlib Figure of each check's evidence (interval, baseline, matched and
        full-size figure, coloured by level). Needs matplotlib."""
        from ._plot import plot_assessment
        return plot_assessment(self)

    def __str__(self) -> str:
        lines = [f"verdict: {self.verdict}"]
        for name, v in self.verdicts.items():
            lines.append(f"  {name:<21} {v.level:<12} {v.why}")
        flagged = [c for c in self.classes if c.level in ("borderline", "collapse")
                   or c.share_level in ("borderline", "collapse")]
        for c in flagged:
            lines.append(f"  class {c.label}: coverage {c.level} ({100 * c.effect:.0f}% less), "
                         f"share {c.share_level} ({c.share:.3f} vs {c.share_baseline:.3f})")
        lines.append("(each check against held-out real rows at the same sizes, "
                     "docs/METRICS.md section 8)")
        return "\n".join(lines)


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgument(f"{name} must be a number, not {value!r}")
    return float(value)


def _check_names() -> List[Tuple[int, str]]:
    """(value, name) of every lsc_check the loaded library names, in order."""
    out = []
    for c in range(64):
        name = N.lib.lsc_check_name(c).decode()
        if name == "unknown":
            break
        out.append((c, name))
    return out


def _labels(values, n: int, name: str, what: str):
    """A label array as contiguous int64 of length n, or None."""
    if values is None:
        return None
    a = np.asarray(_host(values) if hasattr(values, "__cuda_array_interface__") else values)
    if a.ndim != 1 or a.shape[0] != n:
        raise InvalidArgument(f"{name} must hold one label per row of the {what}: shape "
                              f"{a.shape}, expected ({n},)")
    if not np.issubdtype(a.dtype, np.integer):
        raise InvalidArgument(f"{name} must be integers, not {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.int64)


def assessment_from_handle(handle) -> Assessment:
    verdicts: Dict[str, Verdict] = {}
    for c, name in _check_names():
        v = N.new(N.Verdict)
        s = N.lib.lsc_assessment_verdict(handle, c, C.byref(v))
        if s != 0:
            raise error_for(s, f"lsc_assessment_verdict({name}): "
                               f"{N.lib.lsc_status_string(s).decode()} (Verdict.size {v.size})",
                            N.lib.lsc_status_name(s).decode())
        verdicts[name] = verdict_from_struct(v)
    classes = []
    for i in range(N.lib.lsc_assessment_class_count(handle)):
        c = N.new(N.ClassVerdict)
        s = N.lib.lsc_assessment_class(handle, i, C.byref(c))
        if s != 0:
            raise error_for(s, f"lsc_assessment_class({i}): {N.lib.lsc_status_string(s).decode()}",
                            N.lib.lsc_status_name(s).decode())
        classes.append(ClassVerdict(
            label=c.label, real_rows=c.real_rows, coverage=c.coverage, level=_level_name(c.level),
            matched=c.matched, baseline=c.baseline, spread=c.spread, effect=c.effect,
            score=c.score, share_level=_level_name(c.share_level), share=c.share,
            share_baseline=c.share_baseline, share_effect=c.share_effect,
            share_score=c.share_score))
    count = C.c_int64(-1)
    rows = (C.c_int64 * 100)()
    N.lib.lsc_assessment_uncovered(handle, rows, 100, C.byref(count))
    near = N.lib.lsc_assessment_near_rows(handle)
    pr = N.new(N.PrdcResult)
    full = prdc_from_struct(pr) if N.lib.lsc_assessment_prdc(handle, C.byref(pr)) == 0 else None
    return Assessment(prdc=full,
                      verdict=_level_name(N.lib.lsc_assessment_level(handle)),
                      not_assessed=[n for n, v in verdicts.items() if v.level == "not_assessed"],
                      verdicts=verdicts, classes=classes,
                      uncovered=None if count.value < 0 else count.value,
                      uncovered_rows=None if count.value < 0
                      else [int(r) for r in rows[:min(count.value, 100)]],
                      near_rows=None if near < 0 else int(near))


def assess(real_or_reference, fake, k: int = 5, *, splits: int = ASSESS_DEFAULTS["splits"],
           seed: int = ASSESS_DEFAULTS["seed"],
           memorisation_factor: float = ASSESS_DEFAULTS["memorisation_factor"],
           inactive_factor: float = ASSESS_DEFAULTS["inactive_factor"],
           metric: str = "euclidean", comparison: str = "strict", backend: str = "auto",
           threads: int = 0, labels=None, fake_labels=None,
           prdc: Optional[Prdc] = None,
           near_distance: Optional[float] = None,
           order_uncovered: bool = True, process_group=None, comm=None) -> Assessment:
    """Verdicts on the generated set `fake`: has the generator collapsed, and how?
    (docs/METRICS.md section 8).

    Each check (mode collapse, low fidelity, diversity loss, dimensional collapse, memorisation,
    posterior collapse) compares a statistic of m = min(M, N/4, 2000) generated rows against the
    reference's first seeded half with the same statistic of `splits` subsets of m held-out real
    rows from the other half, so the baseline holds at the very same sizes. The first argument is
    a real set (built into a reference with k, metric and comparison) or an lsc.Reference (whose
    own k, metric and comparison are then used). Needs a reference of 8 rows or more, splits 4
    to 64 and both factors finite and > 0; the PRDC-based checks need M > k and N / 2 > k + 1
    (else they read "not_assessed", with the reason in their `why`).

    labels (N integers, one per reference row) add each class's verdicts (.classes: missing
    and over-produced classes, Holm-corrected); fake_labels (M integers) class the generated rows
    by their own labels instead of their nearest reference row's.

    prdc: lsc.prdc of these very sets when the caller has it already (an asynchronous GPU
    Monitor step does): its figures become the verdicts' values and that pass is spared, but no
    uncovered rows are listed. Without it the full-size pass is computed here and the generated
    subsets are judged inside it (.prdc holds its figures).

    order_uncovered=False lists the uncovered reference rows in row order instead of most
    uncovered first, sparing a kNN pass of them against the generated set.

    near_distance (>= 0): also count the generated rows within it (inclusive) of some reference
    row (.near_rows; 0 counts exact copies), tested in the full-size PRDC pass (not with prdc).

    The reference side (its first half, the held-out subsets' statistics) is kept with the
    thread's context, so a second call on the same Reference with the same options and as many
    generated rows measures only the generated rows.

    lsc_assess reads host memory: a generated set on a GPU (torch, cupy) is copied to the host,
    and the work runs on its device's context (backend="cpu": on the CPU). Returns an Assessment:
    .verdict, .not_assessed, .verdicts[check] (Verdict), .to_dict(), print() for a summary.

    With process_group= (torch.distributed) or comm= (mpi4py), or a Reference shard made over a
    group, collective: `fake` is this rank's shard of the generated rows, the real rows (or the
    reference) this rank's shard of the real ones, labels / fake_labels this rank's rows' labels,
    and every rank gets the verdicts one process gives on all ranks' rows (lsc_assess_sharded,
    on the CPU; .uncovered counts rows of all ranks' reference); each rank's thread context keeps
    the reference side as in one process."""
    engine = engine_for(process_group, comm)
    if engine is None and isinstance(real_or_reference, Reference):
        engine = real_or_reference._engine
    if engine is not None:
        return _assess_sharded(real_or_reference, fake, k, splits, seed, memorisation_factor,
                               inactive_factor, metric, comparison, threads, labels,
                               fake_labels, prdc, near_distance, order_uncovered, engine)
    vf = view(fake, "fake")
    if vf.on_device:
        ctx = context("cpu", None, threads) if backend == "cpu" else \
            _ctx_for([vf], backend, threads)
        vf = view(_host(fake), "fake")     # lsc_assess reads host rows
    else:
        ctx = _ctx_for([vf], backend, threads)
    if isinstance(real_or_reference, Reference):
        ref = real_or_reference
        if ref.device is not None:
            ctx = context("cuda", ref.device, threads)   # where the reference lives
    else:
        ref = Reference(real_or_reference, k, metric=metric, comparison=comparison,
                        backend=backend, threads=threads, copy=False)  # real outlives it
    opts, keep = _assess_opts(ref, vf, splits, seed, memorisation_factor, inactive_factor, labels,
                              fake_labels, prdc, near_distance, order_uncovered)
    h = C.c_void_p()
    ctx.check(N.lib.lsc_assess(ctx.handle, ref._h, C.byref(vf.matrix), C.byref(opts),
                               C.byref(h)))
    del keep
    try:
        return assessment_from_handle(h)
    finally:
        N.lib.lsc_assessment_destroy(h)


def _assess_sharded(real_or_reference, fake, k, splits, seed, memorisation_factor,
                    inactive_factor, metric, comparison, threads, labels, fake_labels, prdc,
                    near_distance, order_uncovered, engine) -> Assessment:
    if isinstance(real_or_reference, Reference):
        ref = real_or_reference
    else:
        ref = Reference(real_or_reference, k, metric=metric, comparison=comparison,
                        backend="cpu", threads=threads, process_group=engine)

    def prepare():
        vf = view(_host(fake), "fake", shard=True)
        return (vf,) + _assess_opts(ref, vf, splits, seed, memorisation_factor, inactive_factor,
                                    labels, fake_labels, prdc, near_distance, order_uncovered,
                                    shard=True)
    vf, opts, keep = agreed(engine, prepare)
    ctx = ref._ctx
    h = C.c_void_p()
    with sharded(ctx, engine):
        ctx.check(N.lib.lsc_assess_sharded(ctx.handle, ref._h, C.byref(vf.matrix),
                                           C.byref(opts), C.byref(h)))
    del keep
    try:
        return assessment_from_handle(h)
    finally:
        N.lib.lsc_assessment_destroy(h)


def _assess_opts(ref, vf, splits, seed, memorisation_factor, inactive_factor, labels,
                 fake_labels, prdc, near_distance, order_uncovered, shard=False):
    """lsc_assess_opts from assess's arguments, and what it points into (kept alive by the
    caller until the call returns)."""
    opts = N.AssessOpts(C.sizeof(N.AssessOpts), _int(splits, "splits"), _seed(seed),
                        _number(memorisation_factor, "memorisation_factor"),
                        _number(inactive_factor, "inactive_factor"))
    rows = "this rank's reference rows" if shard else "reference rows"
    rl = _labels(labels, ref.rows, "labels", rows)
    fl = _labels(fake_labels, vf.matrix.rows, "fake_labels",
                 "this rank's generated rows" if shard else "generated rows")
    if fl is not None and rl is None:
        raise InvalidArgument("fake_labels need labels (the classes come from the reference)")
    pr = None
    if rl is not None:
        opts.real_labels = rl.ctypes.data
    if fl is not None:
        opts.fake_labels = fl.ctypes.data
    opts.near_distance = -1.0
    opts.order_uncovered = 1 if order_uncovered else 0
    if near_distance is not None:
        nd = _number(near_distance, "near_distance")
        if not nd >= 0:
            raise InvalidArgument(f"near_distance must be >= 0, got {near_distance!r}")
        opts.near_distance = nd
    if prdc is not None:
        if not isinstance(prdc, Prdc):
            raise InvalidArgument(f"prdc must be an lsc.Prdc (from lsc.prdc), not "
                                  f"{type(prdc).__name__}")
        pr = N.PrdcResult(C.sizeof(N.PrdcResult), prdc.k, prdc.real_rows, prdc.fake_rows,
                          prdc.precision, prdc.recall, prdc.density, prdc.coverage,
                          prdc.zero_radii_real, prdc.zero_radii_fake,
                          N.COMPARISONS.get(prdc.comparison, -1), N.METRICS.get(prdc.metric, -1),
                          prdc.coverage_expected)
        opts.prdc = C.cast(C.pointer(pr), C.c_void_p)
    return opts, (rl, fl, pr)


# --------------------------------------------------------------------------------------------------
# distances between two distributions (docs/METRICS.md section 10)

def _dptr(a: np.ndarray):
    return a.ctypes.data_as(C.POINTER(C.c_double))


@dataclass(frozen=True)
class FrechetDistance:
    """docs/METRICS.md section 10.1: `fd` and its terms; |fd| <= tolerance means 0."""
    cols: int
    fd: float
    mean_term: float
    trace1: float
    trace2: float
    trace_sqrt: float
    tolerance: float

    def to_dict(self) -> dict:
        return asdict(self)


def _fd_from_struct(r: N.FdResult) -> FrechetDistance:
    return FrechetDistance(cols=r.cols, fd=r.fd, mean_term=r.mean_term, trace1=r.trace1,
                           trace2=r.trace2, trace_sqrt=r.trace_sqrt, tolerance=r.tolerance)


def fd_stats(x, *, backend: str = "auto", threads: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of `x`'s rows in float64, sigma with ddof 1: what pytorch-fid and clean-fid save
    (np.savez(path, mu=mu, sigma=sigma) makes their statistics file)."""
    v = view(x, "x")
    ctx = _ctx_for([v], backend, threads)
    d = v.matrix.cols
    mu = np.zeros(max(d, 1), dtype=np.float64)
    sigma = np.zeros((max(d, 1), max(d, 1)), dtype=np.float64)
    ctx.check(N.lib.lsc_fd_stats(ctx.handle, C.byref(v.matrix), _dptr(mu), _dptr(sigma)))
    return mu, sigma


def _stats_pair(s) -> Tuple[np.ndarray, np.ndarray]:
    mu, sigma = s
    mu = np.ascontiguousarray(mu, dtype=np.float64)
    sigma = np.ascontiguousarray(sigma, dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise InvalidArgument(f"statistics must be mu (D,) and sigma (D, D), not {mu.shape} and "
                              f"{sigma.shape}")
    return mu, sigma


def frechet_distance(a, b, *, backend: str = "auto", threads: int = 0) -> FrechetDistance:
    """Frechet distance between two sets. Each of `a` and `b` is either rows (N x D, N >= 2) or
    saved statistics, a (mu, sigma) pair (float64, sigma D x D with ddof 1)."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        m1, s1 = _stats_pair(a) if isinstance(a, tuple) else fd_stats(a, backend=backend,
                                                                       threads=threads)
        m2, s2 = _stats_pair(b) if isinstance(b, tuple) else fd_stats(b, backend=backend,
                                                                       threads=threads)
        if m1.shape != m2.shape:
            raise InvalidArgument(f"the two sets have {m1.shape[0]} and {m2.shape[0]} columns")
        ctx = context(backend if backend != "auto" else "cpu", None, threads)
        r = N.new(N.FdResult)
        ctx.check(N.lib.lsc_frechet_distance_stats(ctx.handle, m1.shape[0], _dptr(m1), _dptr(s1),
                                                   _dptr(m2), _dptr(s2), C.byref(r)))
        return _fd_from_struct(r)
    va, vb = view(a, "a"), view(b, "b")
    ctx = _ctx_for([va, vb], backend, threads)
    r = N.new(N.FdResult)
    ctx.check(N.lib.lsc_frechet_distance(ctx.handle, C.byref(va.matrix), C.byref(vb.matrix),
                                         C.byref(r)))
    return _fd_from_struct(r)


class FdAccumulator:
    """Streaming Frechet statistics: add batches, merge shards, read (mu, sigma) any time."""

    def __init__(self, *, backend: str = "auto", threads: int = 0):
        self._backend = backend
        self._threads = threads
        self._ctx: Optional[Context] = None
        self._h = None
        self._cols: Optional[int] = None

    def _ensure(self, v: Optional[View], cols: int):
        if self._h is not None:
            return
        self._ctx = _ctx_for([v] if v else [], self._backend, self._threads)
        h = C.c_void_p()
        self._ctx.check(N.lib.lsc_fd_acc_create(self._ctx.handle, cols, C.byref(h)))
        self._h = h.value
        self._cols = cols

    def add(self, batch) -> "FdAccumulator":
        v = view(batch, "batch")
        self._ensure(v, v.matrix.cols)
        if v.on_device:
            self._ctx.set_stream(v.stream)
        self._ctx.check(N.lib.lsc_fd_acc_add(self._ctx.handle, self._h, C.byref(v.matrix)))
        return self

    def merge(self, other: "FdAccumulator") -> "FdAccumulator":
        if other._h is None:
            return self
        self._ensure(None, other._cols)
        self._ctx.check(N.lib.lsc_fd_acc_merge(self._ctx.handle, self._h, other._h))
        return self

    @property
    def rows(self) -> int:
        return 0 if self._h is None else int(N.lib.lsc_fd_acc_rows(self._h))

    def stats(self) -> Tuple[np.ndarray, np.ndarray]:
        if self._h is None:
            raise InvalidArgument("the accumulator is empty: add at least 2 rows first")
        d = self._cols
        mu = np.zeros(d, dtype=np.float64)
        sigma = np.zeros((d, d), dtype=np.float64)
        self._ctx.check(N.lib.lsc_fd_acc_stats(self._ctx.handle, self._h, _dptr(mu),
                                               _dptr(sigma)))
        return mu, sigma

    def __del__(self):
        if getattr(self, "_h", None):
            N.lib.lsc_fd_acc_destroy(self._h)
            self._h = None


@dataclass(frozen=True)
class Kid:
    """docs/METRICS.md section 10.2: mean and std (ddof 1) of the subsets' unbiased MMD^2."""
    mean: float
    std: float
    subsets: int
    subset_rows: int
    tolerance: float
    scores: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["scores"] is not None:
            d["scores"] = d["scores"].tolist()
        return d


def kid(a, b, *, subsets: int = 100, subset_rows: int = 1000, seed: int = 0,
        backend: str = "auto", threads: int = 0) -> Kid:
    """Kernel Inception Distance between the rows of `a` and `b` (any features)."""
    va, vb = view(a, "a"), view(b, "b")
    ctx = _ctx_for([va, vb], backend, threads)
    opts = N.KidOpts(C.sizeof(N.KidOpts), _int(subsets, "subsets"),
                     _int(subset_rows, "subset_rows"), _seed(seed))
    r = N.new(N.KidResult)
    scores = np.zeros(max(int(subsets), 1), dtype=np.float64)
    ctx.check(N.lib.lsc_kid(ctx.handle, C.byref(va.matrix), C.byref(vb.matrix), C.byref(opts),
                            C.byref(r), _dptr(scores)))
    return Kid(mean=r.mean, std=r.std, subsets=r.subsets, subset_rows=r.subset_rows,
               tolerance=r.tolerance, scores=scores[:r.subsets])


@dataclass(frozen=True)
class Mmd:
    """docs/METRICS.md section 10.3: scale x the biased RBF MMD^2 (CMMD's estimator)."""
    mmd: float
    rows_a: int
    rows_b: int
    tolerance: float

    def to_dict(self) -> dict:
        return asdict(self)


def mmd(a, b, *, sigma: float = 10.0, scale: float = 1000.0, backend: str = "auto",
        threads: int = 0) -> Mmd:
    """RBF MMD (CMMD's defaults: sigma 10, scale 1000) on the rows as given."""
    va, vb = view(a, "a"), view(b, "b")
    ctx = _ctx_for([va, vb], backend, threads)
    opts = N.MmdOpts(C.sizeof(N.MmdOpts), float(sigma), float(scale))
    r = N.new(N.MmdResult)
    ctx.check(N.lib.lsc_mmd(ctx.handle, C.byref(va.matrix), C.byref(vb.matrix), C.byref(opts),
                            C.byref(r)))
    return Mmd(mmd=r.mmd, rows_a=r.rows_a, rows_b=r.rows_b, tolerance=r.tolerance)
