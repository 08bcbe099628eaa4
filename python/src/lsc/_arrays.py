"""Turning numpy arrays, torch tensors and CUDA arrays into lsc_matrix views, in place.

Host arrays (numpy, torch CPU tensors) are read where they are. Device arrays (torch CUDA tensors,
cupy arrays, anything with __cuda_array_interface__) are read on the device, with no copy to the
host, on the producer's current CUDA stream. Rows may be strided (the leading dimension); columns
must be contiguous, anything else is refused with a clear error rather than silently copied.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from . import _native as N
from ._errors import InvalidArgument

# cudaStreamLegacy: frameworks report the legacy default stream as 0, which lsc would read as
# "the context's own stream"; pass the legacy handle so lsc orders itself after the producer.
_CUDA_STREAM_LEGACY = 1


@dataclass
class View:
    matrix: N.Matrix
    keep: Any                 # the object whose memory the view reads
    kind: str                 # "numpy", "torch" or "cuda" (__cuda_array_interface__)
    device: Optional[int]     # CUDA device ordinal for device memory, else None
    stream: Optional[int]     # cudaStream_t to work on for device memory
    dtype: str

    @property
    def on_device(self) -> bool:
        return self.device is not None


def _is_torch(x) -> bool:
    mod = sys.modules.get("torch")
    return mod is not None and isinstance(x, mod.Tensor)


def _is_cupy(x) -> bool:
    mod = sys.modules.get("cupy")
    return mod is not None and isinstance(x, mod.ndarray)


def _shape_check(name, shape, shard=False):
    if len(shape) != 2:
        raise ValueError(f"{name}: expected a 2-D array (rows x cols), got {len(shape)}-D shape "
                         f"{tuple(shape)}; reshape a single sample to (1, -1)")
    if (shape[0] == 0 and not shard) or shape[1] == 0:
        # said here: an empty array's strides would otherwise be reported as a layout problem
        raise InvalidArgument(f"{name}: the array is empty (shape {tuple(shape)}): {shape[0]} rows, "
                              f"{shape[1]} columns; lsc needs at least one of each",
                              "LSC_STATUS_INVALID_ARGUMENT", 1)


def _ld(name, rows, cols, s0, s1, itemsize_or_1):
    """Leading dimension in elements from strides given in the same unit as itemsize_or_1."""
    if rows == 0:
        return max(cols, 1)     # an empty shard has no layout (numpy makes its strides 0)
    if cols > 1 and s1 != itemsize_or_1:
        raise ValueError(f"{name}: columns are not contiguous (column stride {s1 // itemsize_or_1 if s1 % itemsize_or_1 == 0 else s1 / itemsize_or_1} "
                         f"elements); lsc reads rows with a leading dimension only - pass a "
                         f"row-major copy (np.ascontiguousarray / .contiguous())")
    if rows <= 1:
        return max(cols, 1)
    if s0 % itemsize_or_1 or s0 // itemsize_or_1 < cols:
        raise ValueError(f"{name}: rows overlap or are misaligned (row stride {s0}, {cols} "
                         f"columns); pass a row-major copy")
    return s0 // itemsize_or_1


_NUMPY_DTYPES = {"float32": "float32", "float16": "float16", "float64": "float64",
                 "bfloat16": "bfloat16"}


def _from_numpy(a: np.ndarray, name: str, shard=False) -> View:
    _shape_check(name, a.shape, shard)
    dt = a.dtype
    if dt.name not in _NUMPY_DTYPES:
        raise TypeError(f"{name}: dtype {dt} is not supported; lsc reads float32 (in place), "
                        f"float16, bfloat16 and float64 - convert with x.astype(np.float32)")
    if not dt.isnative:
        raise TypeError(f"{name}: dtype {dt} is not in the machine's byte order; use "
                        f"x.astype(x.dtype.newbyteorder('='))")
    rows, cols = a.shape
    if not a.flags.aligned:
        raise ValueError(f"{name}: the array is not aligned to its element size; pass a copy")
    ld = _ld(name, rows, cols, a.strides[0], a.strides[1], dt.itemsize)
    m = N.Matrix(a.ctypes.data, N.DTYPES[_NUMPY_DTYPES[dt.name]], rows, cols, ld, N.MEMORY_HOST)
    return View(m, a, "numpy", None, None, dt.name)


def _from_torch(t, name: str, shard=False) -> View:
    import torch
    _shape_check(name, tuple(t.shape), shard)
    names = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
             torch.float64: "float64"}
    if t.dtype not in names:
        raise TypeError(f"{name}: dtype {t.dtype} is not supported; lsc reads float32, float16, "
                        f"bfloat16 and float64 - convert with x.float()")
    if t.layout != torch.strided:
        raise ValueError(f"{name}: layout {t.layout} is not supported; pass a dense tensor")
    rows, cols = t.shape
    s0, s1 = t.stride()
    ld = _ld(name, rows, cols, s0, s1, 1)
    dtype = names[t.dtype]
    if t.is_cuda:
        dev = t.device.index if t.device.index is not None else torch.cuda.current_device()
        stream = torch.cuda.current_stream(dev).cuda_stream or _CUDA_STREAM_LEGACY
        m = N.Matrix(t.data_ptr(), N.DTYPES[dtype], rows, cols, ld, N.MEMORY_DEVICE)
        return View(m, t, "torch", dev, stream, dtype)
    if t.device.type != "cpu":
        raise ValueError(f"{name}: tensors on {t.device} are not supported (CPU or CUDA only)")
    m = N.Matrix(t.data_ptr(), N.DTYPES[dtype], rows, cols, ld, N.MEMORY_HOST)
    return View(m, t, "torch", None, None, dtype)


_CAI_TYPES = {"<f4": "float32", "<f2": "float16", "<f8": "float64"}


def _from_cai(x, name: str) -> View:
    cai = x.__cuda_array_interface__
    shape = tuple(cai["shape"])
    _shape_check(name, shape)
    typestr = cai["typestr"]
    if typestr not in _CAI_TYPES:
        raise TypeError(f"{name}: CUDA array type {typestr} is not supported; lsc reads float32, "
                        f"float16 and float64 (bfloat16 through torch tensors)")
    dtype = _CAI_TYPES[typestr]
    itemsize = np.dtype(typestr).itemsize
    rows, cols = shape
    strides = cai.get("strides")
    if strides is None:
        strides = (cols * itemsize, itemsize)
    ld = _ld(name, rows, cols, strides[0], strides[1], itemsize)
    ptr = cai["data"][0]
    if _is_cupy(x):
        import cupy
        dev = x.device.id
        stream = cupy.cuda.get_current_stream().ptr or _CUDA_STREAM_LEGACY
    else:
        dev = 0
        s = cai.get("stream")
        stream = s if s else _CUDA_STREAM_LEGACY
    m = N.Matrix(ptr, N.DTYPES[dtype], rows, cols, ld, N.MEMORY_DEVICE)
    return View(m, x, "cuda", dev, stream, dtype)


def view(x, name: str, shard: bool = False) -> View:
    """An lsc_matrix reading `x` where it lives. shard=True: a rank's shard of a sharded call,
    which may have no rows."""
    if x is None:
        raise ValueError(f"{name}: None given, expected a 2-D array")
    if isinstance(x, np.ndarray):
        return _from_numpy(x, name, shard)
    if _is_torch(x):
        return _from_torch(x, name, shard)
    if hasattr(x, "__cuda_array_interface__"):
        return _from_cai(x, name)
    if hasattr(x, "__array_interface__") or isinstance(x, (list, tuple)):
        return _from_numpy(np.asarray(x), name, shard)
    raise TypeError(f"{name}: {type(x).__name__} is not supported; pass a numpy array, a torch "
                    f"tensor or a CUDA array (cupy)")


def empty_like_kind(v: View, shape, dtype: str):
    """An output array of the input's kind and place (numpy on the host; torch or cupy on the
    device), and its data pointer."""
    if not v.on_device:
        a = np.empty(shape, dtype=dtype)
        return a, a.ctypes.data
    if v.kind == "torch":
        import torch
        t = torch.empty(shape, dtype=getattr(torch, dtype), device=f"cuda:{v.device}")
        return t, t.data_ptr()
    import cupy
    with cupy.cuda.Device(v.device):
        a = cupy.empty(shape, dtype=dtype)
    return a, a.data.ptr
