"""lsc - latent space collapse metrics.

Spectrum figures (effective rank, RankMe, active units, Vendi), all-pairs statistics, exact kNN
and precision / recall / density / coverage, on numpy arrays, torch tensors and cupy arrays, on
the CPU or on a GPU without copies. Every figure is defined in docs/METRICS.md.

    import numpy as np, lsc
    x = np.random.default_rng(0).standard_normal((1000, 64), dtype=np.float32)
    lsc.spectrum(x).effective_rank
    lsc.prdc(x, x[::-1] + 0.1, k=5)
    lsc.sample_rows(len(x), 100, seed=1)      # the seeded subset lsc draws everywhere
    print(lsc.assess(x, x[:200] * 0.5))       # verdicts: has the generator collapsed, and how?
"""
from ._core import (Assessment, Baseline, ClassVerdict, Context, Interval, Knn, Lines, PairStats, Prdc,
                    Reference, Spectrum, SpectrumAccumulator, Statistic, Verdict, assess,
                    distances, knn, pair_stats, permute, prdc, sample_rows, spectrum, version,
                    TwoNN, Hubness, twonn, hubness, VendiRbf, vendi_rbf, alignment)
from ._errors import (BackendUnavailable, BadContext, BadFile, Cancelled, DeviceError,
                      InternalError, InvalidArgument, InvalidData, LscError, LscIOError,
                      MissingDependency, NotSupported, OutOfMemory, Overflow, TransportError,
                      WorkspaceLimit)
from ._monitor import Monitor, MonitorRecord
from ._core import (FdAccumulator, FrechetDistance, Kid, Mmd, fd_stats, frechet_distance, kid,
                    mmd)

__version__ = "0.2.0"

__all__ = [
    "spectrum", "SpectrumAccumulator", "pair_stats", "knn", "distances", "Reference", "prdc",
    "sample_rows", "permute", "assess", "Assessment", "ClassVerdict", "Verdict", "Statistic", "Baseline",
    "Interval", "Lines",
    "Monitor", "MonitorRecord", "Spectrum", "PairStats", "Knn", "Prdc", "version", "Context",
    "LscError", "InvalidArgument", "InvalidData", "OutOfMemory", "WorkspaceLimit", "NotSupported",
    "BackendUnavailable", "DeviceError", "LscIOError", "BadFile", "Cancelled", "Overflow",
    "BadContext", "InternalError", "MissingDependency", "TransportError", "twonn", "hubness", "TwoNN", "Hubness", "vendi_rbf",
    "VendiRbf", "alignment",
    "frechet_distance", "fd_stats", "FdAccumulator", "FrechetDistance", "kid", "Kid", "mmd", "Mmd",
]
