"""One rank of test_distributed.py's jobs: sharded lsc calls on a real engine, each rank's
results written to OUT/rank<r>.npz for the test to compare with one process.

    python distributed_worker.py torch P OUT     # P processes on torch.distributed (gloo)
    python distributed_worker.py torch-monitor P OUT     # the Monitor's two forms on gloo
    python distributed_worker.py nccl P OUT      # P processes on NCCL, one GPU each
    mpirun -np P python distributed_worker.py mpi OUT
    mpirun -np P python distributed_worker.py mpi-monitor OUT     # the Monitor's two forms
    python distributed_worker.py torch-send-recv P OUT   # the point-to-point step on gloo
    mpirun -np P python distributed_worker.py mpi-send-recv OUT  # the same on mpi4py

Every rank makes the same data from one seed and keeps its own shard; the splits include an
empty shard and uneven ones.
"""
import os
import sys
import traceback

import numpy as np

N, D, Q, K, M = 61, 7, 9, 4, 37


def data():
    rng = np.random.default_rng(2024)
    x = rng.standard_normal((N, D)).astype(np.float32)
    x[40] = x[3]  # an exact duplicate: ties in the kNN lists
    q = rng.standard_normal((Q, D)).astype(np.float32)
    return x, q


def wide_rows():
    """Rows wide enough (24 columns, k = 3) that the self kNN at 3 and 4 ranks travels over a
    covering, the engine's send_recv step carrying the pieces and the partial lists."""
    rng = np.random.default_rng(2025)
    x = rng.standard_normal((N, 24)).astype(np.float32)
    x[50] = x[2]
    return x


def splits(p, n=N):
    """Row counts per rank: even, uneven, one rank empty."""
    even = [n // p + (r < n % p) for r in range(p)]
    uneven = [n - (p - 1)] + [1] * (p - 1)
    empty = [0] + even[1:-1] + [even[-1] + even[0]] if p > 1 else [n]
    return {"even": even, "uneven": uneven, "empty": empty}


def fake_rows():
    rng = np.random.default_rng(77)
    return (rng.standard_normal((M, D)) * 0.9 + 0.2).astype(np.float32)


def fake_splits(p):
    """The generated rows split otherwise than the real ones: the sharded PRDC takes any two."""
    return {name: counts[::-1] for name, counts in splits(p, M).items()}


def batch(step):
    return (fake_rows() * (1.0 - 0.3 * step)).astype(np.float32)


def monitor_figures(history):
    return np.array([[r.step, r.spectrum.effective_rank, r.spectrum.rankme, r.prdc.precision,
                      r.prdc.recall, r.prdc.density, r.prdc.coverage] for r in history])


def monitor_verdicts(history):
    """Each record's worst level, then every check's level and score, as strings and numbers."""
    return np.array([[r.verdict] + [f"{c}:{v.level}:{v.score!r}" for c, v in
                                    sorted(r.verdicts.items())] for r in history])


def pair_figures(ps):
    return np.array([ps.rows_used, ps.pairs, ps.mean, ps.std, ps.min, ps.max, ps.nn_mean,
                     ps.nn_median, ps.nn_min, ps.nn_max, ps.near_duplicate_pairs, ps.hist_upper,
                     ps.uniformity])


def labels():
    return np.arange(N, dtype=np.int64) % 3


def assess_record(a):
    """An assessment's numbers and its words (levels, why), in a fixed order, for comparison."""
    nums, words = [], []

    def walk(o):
        if isinstance(o, dict):
            for key in sorted(o):
                walk(o[key])
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)
        elif o is None or isinstance(o, (str, bool)):
            words.append(repr(o))
        else:
            nums.append(float(o))
    walk(a.to_dict())
    return np.array(nums), np.array(words)


def shard(x, counts, rank):
    at = sum(counts[:rank])
    return np.ascontiguousarray(x[at:at + counts[rank]])


def run(rank, ranks, kw, out):
    import lsc
    x, q = data()
    res = {}
    for name, counts in splits(ranks).items():
        mine = shard(x, counts, rank)
        s = lsc.spectrum(mine, **kw)
        res[f"spectrum_{name}"] = np.array([s.effective_rank, s.participation_ratio,
                                            s.stable_rank, s.rankme, s.vendi_cosine,
                                            s.numerical_rank, s.rows])
        res[f"sv_{name}"] = np.asarray(s.singular_values)
        kn = lsc.knn(q, mine, k=K, **kw)
        res[f"knn_dist_{name}"] = kn.distances
        res[f"knn_idx_{name}"] = kn.indices
        kself = lsc.knn(mine, k=K, metric="cosine", **kw)
        res[f"self_dist_{name}"] = kself.distances
        res[f"self_idx_{name}"] = kself.indices
        kwide = lsc.knn(shard(wide_rows(), counts, rank), k=3, **kw)
        res[f"wide_dist_{name}"] = kwide.distances
        res[f"wide_idx_{name}"] = kwide.indices
        fake = shard(fake_rows(), fake_splits(ranks)[name], rank)
        for comparison in ("strict", "inclusive"):
            ref = lsc.Reference(mine, k=K, comparison=comparison, **kw)
            res[f"radii_{comparison}_{name}"] = ref.radii
            p = lsc.prdc(ref, fake)   # the shard carries its group
            res[f"prdc_{comparison}_{name}"] = np.array([p.precision, p.recall, p.density,
                                                         p.coverage])
        # the verdicts over the group: labels of this rank's rows, near rows counted
        a = lsc.assess(ref, fake, labels=shard(labels(), counts, rank), near_distance=0.0)
        res[f"assess_nums_{name}"], res[f"assess_words_{name}"] = assess_record(a)
        path = os.path.join(out, f"ref_{name}.lscref")
        ref.save(path)
        loaded = lsc.Reference.load(path, **kw)   # this rank's even part, whatever the split
        res[f"loaded_radii_{name}"] = loaded.radii
        res[f"loaded_first_{name}"] = np.array([loaded.first_row, loaded.total_rows])
        for sub in (0, 23):
            ps = lsc.pair_stats(mine, bins=16, subset_rows=sub, seed=5, uniformity=True, **kw)
            res[f"pairs{sub}_{name}"] = pair_figures(ps)
            res[f"pairs{sub}_hist_{name}"] = ps.histogram
            res[f"pairs{sub}_dups_{name}"] = np.array(ps.near_duplicates).reshape(-1, 3)
    # the Monitor over the group: each rank its shard of every batch, one record for all
    logged = []
    # (over torch the records come from the monitor's worker thread: flush() waits for them)
    mon = lsc.Monitor(x, k=K, every=1, log=logged.append, **kw)
    for step, counts in enumerate(splits(ranks, M).values()):
        mon.step(step, shard(batch(step), counts, rank))
    res["monitor"] = monitor_figures(mon.flush())
    res["monitor_logged"] = np.array([len(logged)])   # rank 0 logs, by default alone
    # with the verdicts: every rank the records one process's monitor makes on whole batches
    mon = lsc.Monitor(x, k=K, every=1, assess=True, assess_options={"splits": 4}, **kw)
    for step, counts in enumerate(splits(ranks, M).values()):
        mon.step(step, shard(batch(step), counts, rank))
    res["monitor_assess"] = monitor_verdicts(mon.flush())
    if kw.get("process_group") is not None and _torch_cuda():
        # the batches as CUDA tensors: the pinned copy on the caller's stream, the worker's
        # wait on its event (and over NCCL the transport's device copies on its own stream)
        import torch
        mon = lsc.Monitor(x, k=K, every=1, **kw)
        for step, counts in enumerate(splits(ranks, M).values()):
            t = torch.from_numpy(shard(batch(step), counts, rank)).cuda()
            mon.step(step, t)
            t.fill_(float("nan"))    # after step() returns: the monitor holds its own copy
        res["monitor_cuda"] = monitor_figures(mon.flush())
        mon.close()
    # a NaN on the last rank: every rank gets the same error, naming that rank
    bad = shard(x, splits(ranks)["even"], rank).copy()
    if rank == ranks - 1:
        bad[0, 2] = np.nan
    res["nan_error"] = np.array(_error_of(lambda: lsc.spectrum(bad, **kw)))
    # an argument the binding refuses on one rank only (a 1-D array): every rank raises
    arg = shard(x, splits(ranks)["even"], rank)
    if rank == 0:
        arg = arg.ravel()
    res["arg_error"] = np.array(_error_of(lambda: lsc.spectrum(arg, **kw)))
    # the ranks still agree after those failures: one more call succeeds
    res["after"] = np.array([lsc.spectrum(shard(x, splits(ranks)["even"], rank),
                                          **kw).effective_rank])
    np.savez(os.path.join(out, f"rank{rank}.npz"), **res)


def p2p_size(src, dst, key):
    """The bytes group rank src sends group rank dst in step `key`: none in the first round (keys
    below 8), then uneven sizes, none for some pairs."""
    if key < 8:
        return 0
    h = ((src * 7 + dst * 3 + key) * 2654435761 % 2**32 >> 13) % 4
    return 0 if h == 0 else h * 1531 + src * 13 + dst * 5 + key


def p2p_bytes(src, dst, key, n):
    i = np.arange(n, dtype=np.int64)
    return ((src * 131 + dst * 71 + key * 29 + i * 7 + (i >> 8) * 13) % 256).astype(np.uint8)


P2P_GUARD = 16


def p2p_run(engines, out, rank):
    """Each engine's send_recv callback, as lsc calls it, for every shift s: send to group rank
    r + s, receive from r - s, three rounds (the first all empty). The bytes received, a guard
    after them, and each call's status and reason go to OUT/p2p<rank>.npz."""
    import ctypes as C

    from lsc._distributed import _Transport
    res = {}
    for label, engine in engines:
        t = _Transport(engine)
        me, p = engine.rank, engine.ranks
        res[f"{label}_rank"] = np.array([me, p])
        for rnd in range(3):
            for s in range(1, p):
                key = rnd * 8 + s
                dst, src = (me + s) % p, (me - s) % p
                ns, nr = p2p_size(me, dst, key), p2p_size(src, me, key)
                send = p2p_bytes(me, dst, key, ns)
                recv = np.full(nr + P2P_GUARD, 0x5A, dtype=np.uint8)
                why = C.create_string_buffer(256)
                rc = t.struct.send_recv(send.ctypes.data, ns, dst, recv.ctypes.data, nr, src,
                                        0, None, why, len(why))
                res[f"{label}_rc_{key}"] = np.array([rc])
                res[f"{label}_why_{key}"] = np.array(why.value.decode())
                res[f"{label}_recv_{key}"] = recv
    np.savez(os.path.join(out, f"p2p{rank}.npz"), **res)


def torch_p2p(rank, ranks, out):
    """The world group, and at 3 ranks or more the group of ranks 1.. (group rank g is global
    rank g + 1: the engine must map the ranks it is given)."""
    import torch.distributed as dist

    from lsc._distributed import engine_for
    engines = [("world", engine_for(process_group=dist.group.WORLD))]
    if ranks >= 3:
        sub = dist.new_group(list(range(1, ranks)))   # every rank makes it, members use it
        if rank >= 1:
            engines.append(("sub", engine_for(process_group=sub)))
    p2p_run(engines, out, rank)


def mpi_p2p(comm, out):
    """COMM_WORLD and a communicator of the same ranks in reverse order."""
    from lsc._distributed import engine_for
    rank, ranks = comm.Get_rank(), comm.Get_size()
    rev = comm.Split(0, ranks - 1 - rank)
    p2p_run([("world", engine_for(comm=comm)), ("rev", engine_for(comm=rev))], out, rank)
    rev.Free()


# the non-waiting Monitor's job: 6 steps, every 2nd due, each due step's shard split otherwise
STEPS, EVERY = 6, 2


def monitor_shards(rank, ranks):
    counts = list(splits(ranks, M).values())
    return [shard(batch(step), counts[step // EVERY % len(counts)], rank) for step in range(STEPS)]


def loop_sum(step, ranks):
    """What the training loop's all-reduce of monitor_run gives: the sum of every rank's
    arange(4) * (rank + 1) + step."""
    return np.arange(4) * (ranks * (ranks + 1) // 2) + ranks * step


def monitor_run(rank, ranks, out, engine="torch"):
    """The Monitor over a torch group or an mpi4py communicator, waiting (asynchronous=False)
    and not (the default)."""
    import threading
    import time

    import lsc
    if engine == "torch":
        import datetime

        import torch
        import torch.distributed as dist
        world = dist.group.WORLD
        # the monitor's own group fails a mixed-up collective within the test's time too
        group = {"process_group": world, "group_timeout": datetime.timedelta(seconds=60)}

        def loop_sum_of(a):         # the training loop's all-reduce on the caller's group
            t = torch.from_numpy(a)
            dist.all_reduce(t, group=world)
            return t.numpy()
        tensor = torch.from_numpy
    else:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        group = {"comm": comm}

        def loop_sum_of(a):
            b = np.empty_like(a)
            comm.Allreduce(a, b)
            return b
        tensor = np.asarray
    x, _ = data()
    shards = monitor_shards(rank, ranks)
    opts = dict(k=K, every=EVERY, assess=True, assess_options={"splits": 4}, **group)
    res = {}
    mon = lsc.Monitor(x, asynchronous=False, **opts)
    for step, rows in enumerate(shards):
        mon.step(step, rows)
    res["sync"], res["sync_verdicts"] = monitor_figures(mon.history), monitor_verdicts(
        mon.history)
    res["sync_async"] = np.array([r.asynchronous for r in mon.history])

    logged = []
    mon = lsc.Monitor(x, log=logged.append, history_path=os.path.join(out, f"hist{rank}.jsonl"),
                      **opts)
    returned, seen, sums = [], [], []
    for step, rows in enumerate(shards):
        mine = tensor(rows.copy())
        got = mon.step(step, mine)
        mine[...] = float("nan")     # the loop reuses its buffer: the monitor took a copy
        if mon.due(step):
            returned.append(got is None)
            seen.append(step in [r.step for r in mon.history])
        # the training loop's own collective on the caller's group while the worker measures:
        # the last rank issues it late, after its worker's first collectives, so that a monitor
        # on the caller's group would pair them with other ranks' (a mismatch, a wrong sum or a
        # hang)
        if rank == ranks - 1:
            time.sleep(0.05)
        sums.append(loop_sum_of(np.arange(4, dtype=np.float64) * (rank + 1) + step))
    res["returned_none"], res["seen_at_once"] = np.array(returned), np.array(seen)
    res["loop_sums"] = np.array(sums)
    hist = mon.flush()
    res["async"], res["async_verdicts"] = monitor_figures(hist), monitor_verdicts(hist)
    res["async_async"] = np.array([r.asynchronous for r in hist])
    res["logged"] = np.array([rec.step for rec in logged], dtype=np.int64)
    mon.close()
    res["closed"] = np.array(_error_of(lambda: mon.step(0, shards[0])))

    # a NaN in the last rank's shard at step 1: every rank raises it, naming the step, at the
    # step() or flush() that collects it (a later step() where the job failed by then); the
    # measurement queued after it is not run, and the monitor refuses further steps
    mon = lsc.Monitor(x, k=K, every=1, **group)
    first = None
    for step in range(3):
        rows = shards[step].copy()
        if step == 1 and rank == ranks - 1 and len(rows):
            rows[0, 2] = np.nan
        got = _error_of(lambda: mon.step(step, rows))
        first = first or (got if got != "no error" else None)
    res["nan_error"] = np.array(first or _error_of(mon.flush))
    res["nan_history"] = np.array([r.step for r in mon.history], dtype=np.int64)
    res["nan_after"] = np.array(_error_of(lambda: mon.step(3, shards[0])))
    mon.close()     # a failed monitor closes without raising again
    # a monitor dropped with a measurement queued: its thread ends once it is done
    mon = lsc.Monitor(x, k=K, every=1, **group)
    mon.step(0, shards[0])
    del mon
    deadline = time.monotonic() + 20
    while (any(t.name == "lsc-monitor" for t in threading.enumerate())
           and time.monotonic() < deadline):
        time.sleep(0.01)
    res["threads_left"] = np.array([sum(t.name == "lsc-monitor" for t in threading.enumerate())])
    # the caller's group still works
    res["after"] = loop_sum_of(np.ones(1))
    # rank 0's log raises once, inside a later step() (the loop catches it): that step is
    # still measured on every rank, so every rank keeps the same records, in step order
    raised = []

    def log_once(rec):
        if not raised:
            raised.append(rec.step)
            raise RuntimeError("the log failed")
    mon = lsc.Monitor(x, k=K, every=1, log=log_once, **group)
    for step in range(4):
        time.sleep(0.5)     # the previous step's record is ready: this step() logs it
        try:
            mon.step(step, shards[step])
        except RuntimeError:
            pass
    hist = None
    while hist is None:
        try:
            hist = mon.flush()
        except RuntimeError:
            pass
    res["log_raised"] = np.array([len(raised)])
    res["log_steps"] = np.array([r.step for r in hist], dtype=np.int64)
    res["log_figures"] = monitor_figures(hist)
    mon.close()
    np.savez(os.path.join(out, f"monitor{rank}.npz"), **res)
    # measurements still queued when the process ends: finished before the interpreter stops
    # its threads (a worker stopped inside a collective aborts the process; the test checks
    # that every rank exits with 0)
    _KEEP.append(lsc.Monitor(x, k=K, every=1, **group))
    for step in range(3):
        _KEEP[-1].step(step, shards[step])


_KEEP = []


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _error_of(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the class and message are what is compared
        return f"{type(e).__name__}|{e}"
    return "no error"


def torch_rank(rank, ranks, out, init, what="calls", backend="gloo"):
    import datetime

    import torch
    import torch.distributed as dist
    if backend == "nccl":
        torch.cuda.set_device(rank)     # one GPU a rank
    # a mismatched collective fails within the test's time instead of waiting half an hour
    dist.init_process_group(backend, init_method=init, rank=rank, world_size=ranks,
                            timeout=datetime.timedelta(seconds=60))
    try:
        if what == "monitor":
            # the group stays: the monitor left with queued work finishes it at exit
            monitor_run(rank, ranks, out)
            return
        if what == "send-recv":
            torch_p2p(rank, ranks, out)
            dist.destroy_process_group()
            return
        run(rank, ranks, {"process_group": dist.group.WORLD}, out)
    except Exception:
        traceback.print_exc()
        raise
    dist.destroy_process_group()


def main():
    engine = sys.argv[1]
    if engine in ("torch", "torch-monitor", "torch-send-recv", "nccl"):
        import torch.multiprocessing as mp
        ranks, out = int(sys.argv[2]), sys.argv[3]
        init = "file://" + os.path.join(out, "rendezvous")
        what = {"torch-monitor": "monitor", "torch-send-recv": "send-recv"}.get(engine, "calls")
        mp.spawn(torch_rank, args=(ranks, out, init, what,
                                   "nccl" if engine == "nccl" else "gloo"),
                 nprocs=ranks, join=True)
    else:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        if engine == "mpi-monitor":
            monitor_run(comm.Get_rank(), comm.Get_size(), sys.argv[2], "mpi")
        elif engine == "mpi-send-recv":
            mpi_p2p(comm, sys.argv[2])
        else:
            run(comm.Get_rank(), comm.Get_size(), {"comm": comm}, sys.argv[2])


if __name__ == "__main__":
    main()
