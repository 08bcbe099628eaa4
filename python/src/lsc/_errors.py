"""lsc statuses as Python exceptions; each carries the C library's message."""
from __future__ import annotations


class LscError(Exception):
    """Base of every lsc error. `status` is the C status name, `code` its number."""

    status = "LSC_STATUS_UNKNOWN"
    code = -1

    def __init__(self, message: str, status: str | None = None, code: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class InvalidArgument(LscError, ValueError):
    """A NULL, a bad size, k out of range, an unknown option, mismatched columns."""


class InvalidData(LscError, ValueError):
    """NaN or Inf in an input (the message names the row and column), or a zero row for cosine."""


class OutOfMemory(LscError, MemoryError):
    """A host or device allocation failed, even with the smallest tiles."""


class WorkspaceLimit(LscError, MemoryError):
    """Even the smallest tile does not fit the workspace limit."""


class NotSupported(LscError, NotImplementedError):
    """The operation, dtype or memory space is not supported by the chosen backend."""


class BackendUnavailable(LscError, RuntimeError):
    """The requested backend is not built, or has no driver or device."""


class DeviceError(LscError, RuntimeError):
    """A CUDA, cuBLAS or cuSOLVER call failed."""


class LscIOError(LscError, OSError):
    """A file could not be opened, read or written."""


class BadFile(LscError, ValueError):
    """A file is truncated, corrupt, foreign or from a future version."""


class Cancelled(LscError, RuntimeError):
    """The call was cancelled."""


class Overflow(LscError, OverflowError):
    """A size product overflows 64 bits."""


class BadContext(LscError, RuntimeError):
    """The context failed to initialise."""


class InternalError(LscError, RuntimeError):
    """A bug in lsc: please report it with the message."""


class TransportError(LscError, RuntimeError):
    """A collective of a sharded call's transport (torch.distributed, MPI) failed; the message
    says which and why. The ranks may be out of step after it: do not reuse the group for lsc."""


_BY_CODE = {
    1: InvalidArgument, 2: InvalidData, 3: OutOfMemory, 4: WorkspaceLimit, 5: NotSupported,
    6: BackendUnavailable, 7: DeviceError, 8: LscIOError, 9: BadFile, 10: Cancelled, 11: Overflow,
    12: BadContext, 13: InternalError, 14: TransportError,
}


def error_for(code: int, message: str, name: str) -> LscError:
    cls = _BY_CODE.get(code, LscError)
    return cls(message, status=name, code=code)


class MissingDependency(LscError, ImportError):
    """An optional Python package a feature needs is not installed (plot() needs matplotlib)."""

    status = "LSC_PYTHON_MISSING_DEPENDENCY"
