"""Sharded calls on the engine a data-parallel job already runs (lsc.h section 12).

A call given `process_group=` (torch.distributed) or `comm=` (an mpi4py communicator) is
collective: every rank of the group calls it, in the same order, with its own rows, and every
rank gets the same figures - those of all ranks' rows concatenated in rank order. The sharded
algorithms are the C library's; this module only gives them the engine's collectives, as the
transport callbacks of lsc.h (all-reduce, all-gather, broadcast, the ring step and the
point-to-point step), on host buffers. lsc never initialises or destroys the engine: the group
or communicator is the caller's, used as given.

torch.distributed: gloo (CPU) moves the host buffers as CPU tensors; NCCL moves them through
the current CUDA device (a copy each way), since NCCL takes device tensors only. Every call
blocks until its collectives are done.
"""
from __future__ import annotations

import contextlib
import ctypes as C
from typing import Optional

import numpy as np

from . import _native as N
from ._errors import InvalidArgument, LscError, MissingDependency

_OPS = {N.REDUCE_SUM: "sum", N.REDUCE_MIN: "min", N.REDUCE_MAX: "max"}


def _bytes_at(ptr: Optional[int], n: int) -> np.ndarray:
    """n bytes of C memory as a writable uint8 array (a view, no copy)."""
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.ctypeslib.as_array(C.cast(ptr, C.POINTER(C.c_uint8)), shape=(n,))


class _TorchEngine:
    """The collectives of a torch.distributed process group."""

    def __init__(self, group):
        try:
            import torch
            import torch.distributed as dist
        except ImportError as e:  # pragma: no cover - the caller passed a group, so torch exists
            raise MissingDependency(f"process_group= needs torch.distributed: {e}") from e
        if not dist.is_available() or not dist.is_initialized():
            raise InvalidArgument("process_group=: torch.distributed is not initialised "
                                  "(call torch.distributed.init_process_group first)")
        self.torch, self.dist = torch, dist
        self.group = group
        self.rank = dist.get_rank(group)
        self.ranks = dist.get_world_size(group)
        if self.rank < 0:
            raise InvalidArgument("process_group=: this process is not a member of the group")
        backend = str(dist.get_backend(group)).lower()
        self.nccl = backend == "nccl"
        self.device = (torch.device("cuda", torch.cuda.current_device()) if self.nccl
                       else torch.device("cpu"))
        self._ops = {"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}

    def _global(self, r: int) -> int:
        if self.group is None or self.group is self.dist.group.WORLD:
            return r
        return self.dist.get_global_rank(self.group, r)

    def _to(self, a: np.ndarray):
        return self.torch.from_numpy(a).to(self.device)

    def all_reduce(self, a: np.ndarray, op: str):
        t = self._to(a)
        self.dist.all_reduce(t, op=self._ops[op], group=self.group)
        a[:] = t.cpu().numpy()

    def all_gather(self, send: np.ndarray, sizes) -> np.ndarray:
        # torch's all_gather takes blocks of one size: each is padded to the largest
        top = max(max(sizes), 1)
        block = np.zeros(top, dtype=np.uint8)
        block[:send.size] = send
        outs = [self.torch.empty(top, dtype=self.torch.uint8, device=self.device)
                for _ in range(self.ranks)]
        self.dist.all_gather(outs, self._to(block), group=self.group)
        return np.concatenate([o.cpu().numpy()[:n] for o, n in zip(outs, sizes)])

    def broadcast(self, a: np.ndarray, root: int):
        if a.size == 0:
            return
        t = self._to(a)
        self.dist.broadcast(t, src=self._global(root), group=self.group)
        a[:] = t.cpu().numpy()

    def ring(self, send: np.ndarray, recv_size: int) -> np.ndarray:
        return self.send_recv(send, (self.rank + 1) % self.ranks, (self.rank - 1) % self.ranks,
                              recv_size)

    def send_recv(self, send: np.ndarray, dst: int, src: int, recv_size: int) -> np.ndarray:
        """Sends to group rank dst and receives recv_size bytes from group rank src."""
        recv = self.torch.empty(recv_size, dtype=self.torch.uint8, device=self.device)
        # a size of 0 is known to both ends (the sizes were agreed before), so neither posts
        ops = []
        if send.size:
            ops.append(self.dist.P2POp(self.dist.isend, self._to(send), self._global(dst),
                                       self.group))
        if recv_size:
            ops.append(self.dist.P2POp(self.dist.irecv, recv, self._global(src), self.group))
        if ops:
            for w in self.dist.batch_isend_irecv(ops):
                w.wait()
        return recv.cpu().numpy()


class _MpiEngine:
    """The collectives of an mpi4py communicator."""

    def __init__(self, comm):
        try:
            from mpi4py import MPI
        except ImportError as e:  # pragma: no cover - the caller passed a communicator
            raise MissingDependency(f"comm= needs mpi4py: {e}") from e
        if not MPI.Is_initialized() or MPI.Is_finalized():
            raise InvalidArgument("comm=: MPI is not initialised, or already finalised")
        self.MPI, self.comm = MPI, comm
        self.rank = comm.Get_rank()
        self.ranks = comm.Get_size()
        self._ops = {"sum": MPI.SUM, "min": MPI.MIN, "max": MPI.MAX}

    def all_reduce(self, a: np.ndarray, op: str):
        self.comm.Allreduce(self.MPI.IN_PLACE, a, op=self._ops[op])

    def all_gather(self, send: np.ndarray, sizes) -> np.ndarray:
        recv = np.empty(sum(sizes), dtype=np.uint8)
        displs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.comm.Allgatherv(send, [recv, list(sizes), list(displs), self.MPI.BYTE])
        return recv

    def broadcast(self, a: np.ndarray, root: int):
        self.comm.Bcast([a, self.MPI.BYTE], root=root)

    def ring(self, send: np.ndarray, recv_size: int) -> np.ndarray:
        return self.send_recv(send, (self.rank + 1) % self.ranks, (self.rank - 1) % self.ranks,
                              recv_size)

    def send_recv(self, send: np.ndarray, dst: int, src: int, recv_size: int) -> np.ndarray:
        # mpi4py passes counts past 2^31 on as MPI-4 large counts, or as a derived datatype
        recv = np.empty(recv_size, dtype=np.uint8)
        self.comm.Sendrecv([send, self.MPI.BYTE], dest=dst, recvbuf=[recv, self.MPI.BYTE],
                           source=src)
        return recv


def _fail(why: int, why_len: int, e: BaseException) -> int:
    msg = f"{type(e).__name__}: {e}".encode("utf-8", "replace")[:max(why_len - 1, 0)]
    if why and why_len:
        C.memmove(why, msg + b"\0", len(msg) + 1)
    return 1


class _Transport:
    """An lsc_transport whose callbacks run the engine's collectives. The callbacks come back
    into Python on the thread of the sharded call; an exception there becomes the call's
    TransportError, with the exception's text."""

    def __init__(self, engine):
        self.engine = engine

        def all_reduce(buf, count, elem, op, memory, user, why, why_len):
            try:
                dt = np.float64 if elem == N.ELEM_F64 else np.int64
                a = _bytes_at(buf, count * 8).view(dt)
                engine.all_reduce(a, _OPS[op])
                return 0
            except BaseException as e:  # noqa: BLE001 - reported through the status
                return _fail(why, why_len, e)

        def all_gather(send, nbytes, recv, recv_bytes, memory, user, why, why_len):
            try:
                sizes = [int(recv_bytes[r]) for r in range(engine.ranks)]
                got = engine.all_gather(_bytes_at(send, nbytes).copy(), sizes)
                _bytes_at(recv, sum(sizes))[:] = got
                return 0
            except BaseException as e:  # noqa: BLE001
                return _fail(why, why_len, e)

        def broadcast(buf, nbytes, root, memory, user, why, why_len):
            try:
                engine.broadcast(_bytes_at(buf, nbytes), int(root))
                return 0
            except BaseException as e:  # noqa: BLE001
                return _fail(why, why_len, e)

        def ring(send, send_bytes, recv, recv_bytes, memory, user, why, why_len):
            try:
                got = engine.ring(_bytes_at(send, send_bytes).copy(), int(recv_bytes))
                _bytes_at(recv, recv_bytes)[:] = got
                return 0
            except BaseException as e:  # noqa: BLE001
                return _fail(why, why_len, e)

        def send_recv(send, send_bytes, dst, recv, recv_bytes, src, memory, user, why, why_len):
            try:
                got = engine.send_recv(_bytes_at(send, send_bytes).copy(), int(dst), int(src),
                                       int(recv_bytes))
                _bytes_at(recv, recv_bytes)[:] = got
                return 0
            except BaseException as e:  # noqa: BLE001
                return _fail(why, why_len, e)

        # the ctypes function objects must outlive every call that may use them
        self._fns = (N.ALL_REDUCE_FN(all_reduce), N.ALL_GATHER_FN(all_gather),
                     N.BROADCAST_FN(broadcast), N.RING_FN(ring), N.SEND_RECV_FN(send_recv))
        t = N.new(N.Transport)
        t.rank, t.ranks, t.user = engine.rank, engine.ranks, None
        t.all_reduce, t.all_gather, t.broadcast, t.ring, t.send_recv = self._fns
        self.struct = t


def engine_for(process_group=None, comm=None):
    """The engine of a call's process_group= or comm= argument, or None for one process."""
    if process_group is not None and comm is not None:
        raise InvalidArgument("give process_group= (torch.distributed) or comm= (mpi4py), not "
                              "both")
    if isinstance(process_group, (_TorchEngine, _MpiEngine)):
        return process_group  # passed on by a call that already made it
    if comm is not None:
        return _MpiEngine(comm)
    if process_group is not None:
        return _TorchEngine(process_group)
    return None


_MSG = 512


def agreed(engine, prepare):
    """prepare(), with its failure on any rank raised on every rank: a rank whose arguments the
    binding refuses before the C call (a wrong type, a 1-D array) would otherwise leave the
    others waiting in the call's first collective. One all-gather of a small block a rank."""
    err, out = None, None
    try:
        out = prepare()
    except (LscError, TypeError, ValueError) as e:
        err = e
    block = np.zeros(_MSG, dtype=np.uint8)
    if err is not None:
        msg = f"{type(err).__name__}: {err}".encode("utf-8", "replace")[:_MSG - 2]
        block[:len(msg)] = np.frombuffer(msg, dtype=np.uint8)
        block[-1] = 1
    got = engine.all_gather(block, [_MSG] * engine.ranks)
    if err is not None:
        raise err
    for r in range(engine.ranks):
        b = got[r * _MSG:(r + 1) * _MSG]
        if b[-1]:
            text = bytes(b[:-1]).split(b"\0", 1)[0].decode("utf-8", "replace")
            raise InvalidArgument(f"rank {r}: {text}")
    return out


@contextlib.contextmanager
def sharded(ctx, engine):
    """Gives ctx the engine's transport for the calls inside the block, then takes it back (the
    contexts are cached per thread and shared by one-process calls)."""
    t = _Transport(engine)
    ctx.check(N.lib.lsc_ctx_set_transport(ctx.handle, C.byref(t.struct)))
    try:
        yield t
    finally:
        N.lib.lsc_ctx_set_transport(ctx.handle, None)
