"""Sharded calls on real engines: torch.distributed (gloo, processes on this machine) and mpi4py
(under Debian's Open MPI's mpirun), each rank's figures against one process's on all the rows.

distributed_worker.py runs the ranks; each test skips, saying why, where its engine is missing.
"""
import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import lsc

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "distributed_worker.py")
sys.path.insert(0, HERE)
import distributed_worker as W  # noqa: E402

MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader,tcp",
          "--mca", "btl_tcp_if_include", "lo", "--mca", "btl_vader_single_copy_mechanism", "none"]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # the workers import the same lsc as this test
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(lsc.__file__)),
                                         env.get("PYTHONPATH", "")])
    return env


def _run_torch(ranks, out, mode="torch", timeout=300):
    """The worker's `mode` in `ranks` processes on torch.distributed (gloo)."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed: the torch.distributed (gloo) test needs it")
    subprocess.run([sys.executable, WORKER, mode, str(ranks), str(out)], check=True,
                   env=_env(), timeout=timeout)


def _run_nccl(ranks, out):
    """torch.distributed on NCCL, one GPU a rank: where fewer GPUs exist, the test skips."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed: the NCCL test needs it")
    import torch
    import torch.distributed as dist
    if not torch.cuda.is_available() or torch.cuda.device_count() < ranks:
        pytest.skip(f"the NCCL test needs {ranks} CUDA device(s); this machine has "
                    f"{torch.cuda.device_count() if torch.cuda.is_available() else 0}")
    if not dist.is_nccl_available():
        pytest.skip("this torch has no NCCL")
    subprocess.run([sys.executable, WORKER, "nccl", str(ranks), str(out)], check=True,
                   env=_env(), timeout=300)


def _run_mpi(ranks, out):
    _mpi_job(ranks, ["mpi", str(out)], timeout=300)


def _mpi_job(ranks, args, timeout):
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed: the MPI test needs it (pip install mpi4py)")
    if shutil.which("mpirun") is None:
        pytest.skip("no mpirun (apt-get install openmpi-bin)")
    cmd = MPIRUN + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    subprocess.run(cmd + ["-np", str(ranks), sys.executable, WORKER] + args, check=True,
                   env=_env(), timeout=timeout)


def _one_process():
    x, q = W.data()
    s = lsc.spectrum(x)
    kn = lsc.knn(q, x, k=W.K)
    pairs = {sub: lsc.pair_stats(x, bins=16, subset_rows=sub, seed=5, uniformity=True)
             for sub in (0, 23)}
    kself = lsc.knn(x, k=W.K, metric="cosine")
    pairs["wide"] = lsc.knn(W.wide_rows(), k=3)
    prdc = {}
    for comparison in ("strict", "inclusive"):
        ref = lsc.Reference(x, k=W.K, comparison=comparison)
        p = lsc.prdc(ref, W.fake_rows())
        prdc[comparison] = (ref, np.array([p.precision, p.recall, p.density, p.coverage]))
    pairs["self"] = kself
    pairs["prdc"] = prdc
    pairs["assess"] = W.assess_record(lsc.assess(prdc["inclusive"][0], W.fake_rows(),
                                                 labels=W.labels(), near_distance=0.0))
    mon = lsc.Monitor(x, k=W.K, every=1, asynchronous=False)
    for step in range(3):
        mon.step(step, W.batch(step))
    pairs["monitor"] = W.monitor_figures(mon.history)
    mon = lsc.Monitor(x, k=W.K, every=1, asynchronous=False, assess=True,
                      assess_options={"splits": 4})
    for step, counts in enumerate(W.splits(1, W.M).values()):
        mon.step(step, W.batch(step))
    pairs["monitor_assess"] = W.monitor_verdicts(mon.history)
    return (np.array([s.effective_rank, s.participation_ratio, s.stable_rank, s.rankme,
                      s.vendi_cosine, s.numerical_rank, s.rows]),
            np.asarray(s.singular_values), kn, pairs)


# pair figures compared exactly: rows_used, pairs, min, max, nn_median, nn_min, nn_max, near
# duplicates, hist_upper (the others within the continuous tolerance)
EXACT_PAIR = [0, 1, 4, 5, 7, 8, 9, 10, 11]


@pytest.mark.parametrize("engine,ranks", [("torch", 1), ("torch", 2), ("torch", 3), ("mpi", 2),
                                          ("mpi", 3), ("nccl", 1), ("nccl", 2)])
def test_sharded_calls_equal_one_process(tmp_path, engine, ranks):
    """Every sharded call and the Monitor over the engine against one process. NCCL needs a GPU
    a rank (one GPU: one rank, the adapter's whole path but no multi-rank exchange)."""
    {"torch": _run_torch, "mpi": _run_mpi, "nccl": _run_nccl}[engine](ranks, tmp_path)
    fig, sv, kn, pairs = _one_process()
    kself, prdc, monitor = pairs.pop("self"), pairs.pop("prdc"), pairs.pop("monitor")
    wide = pairs.pop("wide")  # over a covering at 3 ranks where the engine has send_recv
    assess_nums, assess_words = pairs.pop("assess")
    monitor_assess = pairs.pop("monitor_assess")
    got = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(ranks)]
    for r, g in enumerate(got):
        # every rank's records: the one-process monitor's on the whole batches
        np.testing.assert_allclose(g["monitor"], monitor, rtol=2e-4, atol=1e-9, err_msg=r)
        np.testing.assert_array_equal(g["monitor"][:, 3:], monitor[:, 3:])  # PRDC: counts
        # the same batches as CUDA tensors (where a GPU exists; always over NCCL): the same
        # records as the host rows'
        if engine == "nccl":
            assert "monitor_cuda" in g, r
        if "monitor_cuda" in g:
            np.testing.assert_array_equal(g["monitor_cuda"], g["monitor"], err_msg=r)
        assert int(g["monitor_logged"][0]) == (len(monitor) if r == 0 else 0), r
        # with assess=True: one process's verdicts, levels and scores (printed exactly: the
        # scores come from integer counts but for the spectrum's, within 1e-9)
        assert g["monitor_assess"].shape == monitor_assess.shape, r
        for row_g, row_w in zip(g["monitor_assess"], monitor_assess):
            assert row_g[0] == row_w[0], (r, row_g, row_w)
            for a_, b_ in zip(row_g[1:], row_w[1:]):
                ca, la, sa = a_.split(":")
                cb, lb, sb = b_.split(":")
                assert (ca, la) == (cb, lb), (r, a_, b_)
                assert sa == sb or float(sa) == pytest.approx(float(sb), rel=1e-9, abs=1e-12), \
                    (r, a_, b_)
    for name in W.splits(ranks):
        for r, g in enumerate(got):
            # every rank holds the same bytes
            for key in (f"spectrum_{name}", f"sv_{name}", f"knn_dist_{name}", f"knn_idx_{name}"):
                np.testing.assert_array_equal(g[key], got[0][key], err_msg=f"{key} rank {r}")
        # continuous figures within docs/METRICS.md's tolerance; counts and lists exactly
        np.testing.assert_allclose(got[0][f"spectrum_{name}"], fig, rtol=2e-4, atol=1e-9,
                                   err_msg=name)
        np.testing.assert_allclose(got[0][f"sv_{name}"], sv, rtol=2e-4, atol=1e-9, err_msg=name)
        np.testing.assert_array_equal(got[0][f"knn_idx_{name}"], kn.indices, err_msg=name)
        np.testing.assert_array_equal(got[0][f"knn_dist_{name}"], kn.distances, err_msg=name)
        # self kNN: each rank its own rows' lists, global indices: together one process's
        np.testing.assert_array_equal(np.concatenate([g[f"self_idx_{name}"] for g in got]),
                                      kself.indices, err_msg=name)
        np.testing.assert_array_equal(np.concatenate([g[f"self_dist_{name}"] for g in got]),
                                      kself.distances, err_msg=name)
        np.testing.assert_array_equal(np.concatenate([g[f"wide_idx_{name}"] for g in got]),
                                      wide.indices, err_msg=name)
        np.testing.assert_array_equal(np.concatenate([g[f"wide_dist_{name}"] for g in got]),
                                      wide.distances, err_msg=name)
        for comparison, (ref, want) in prdc.items():
            np.testing.assert_array_equal(
                np.concatenate([g[f"radii_{comparison}_{name}"] for g in got]), ref.radii)
            for g in got:  # counts exactly, so the figures exactly, on every rank
                np.testing.assert_array_equal(g[f"prdc_{comparison}_{name}"], want)
        # the verdicts: one process's words (levels, why) exactly, numbers within 1e-9
        for r, g in enumerate(got):
            np.testing.assert_array_equal(g[f"assess_words_{name}"], assess_words,
                                          err_msg=f"assess rank {r} {name}")
            np.testing.assert_allclose(g[f"assess_nums_{name}"], assess_nums, rtol=1e-9,
                                       atol=1e-12, err_msg=f"assess rank {r} {name}")
        # the shards saved as one file: the file one process writes for the whole reference
        whole = tmp_path / f"whole_{name}.lscref"
        prdc["inclusive"][0].save(whole)
        assert (tmp_path / f"ref_{name}.lscref").read_bytes() == whole.read_bytes(), name
        # read back by the group, each rank its even part: together the whole reference's radii
        np.testing.assert_array_equal(
            np.concatenate([g[f"loaded_radii_{name}"] for g in got]), prdc["inclusive"][0].radii)
        for r, g in enumerate(got):
            assert list(g[f"loaded_first_{name}"]) == [W.N * r // ranks, W.N], (r, name)
        for sub, ps in pairs.items():
            key = f"pairs{sub}_{name}"
            for r, g in enumerate(got):
                for k in (key, f"pairs{sub}_hist_{name}", f"pairs{sub}_dups_{name}"):
                    np.testing.assert_array_equal(g[k], got[0][k], err_msg=f"{k} rank {r}")
            want = W.pair_figures(ps)
            np.testing.assert_array_equal(got[0][key][EXACT_PAIR], want[EXACT_PAIR], err_msg=key)
            np.testing.assert_allclose(got[0][key], want, rtol=2e-4, atol=1e-9, err_msg=key)
            np.testing.assert_array_equal(got[0][f"pairs{sub}_hist_{name}"], ps.histogram)
            np.testing.assert_array_equal(got[0][f"pairs{sub}_dups_{name}"],
                                          np.array(ps.near_duplicates).reshape(-1, 3))
    last = ranks - 1
    for r, g in enumerate(got):
        # the NaN on the last rank: every rank raises InvalidData naming that rank, its row and column
        cls, msg = str(g["nan_error"]).split("|", 1)
        assert cls == "InvalidData", (r, msg)
        # (one rank's message names no rank: there is no other to tell it from)
        assert (ranks == 1 or f"rank {last}" in msg) and "row 0" in msg and "col 2" in msg, msg
        # the 1-D array on rank 0: refused there by the binding, and on every other rank
        cls, msg = str(g["arg_error"]).split("|", 1)
        assert cls == ("ValueError" if r == 0 else "InvalidArgument"), (r, cls, msg)
        assert "2-D" in msg and (r == 0 or "rank 0" in msg), msg
        # the group still works after both
        np.testing.assert_array_equal(g["after"], got[0]["after"])


def test_one_of_process_group_and_comm():
    x, _ = W.data()
    with pytest.raises(lsc.InvalidArgument, match="not both"):
        lsc.spectrum(x, process_group=object(), comm=object())


@pytest.mark.parametrize("engine,ranks", [("torch", 2), ("torch", 3), ("mpi", 2), ("mpi", 3)])
def test_monitor_does_not_wait(tmp_path, engine, ranks):
    """Monitor(process_group=...) on gloo, or comm=... on Open MPI at MPI_THREAD_MULTIPLE
    (mpi4py's default), measures on its worker thread over a private group: a due step()
    returns None at once, flush() gives every record, and they equal the waiting form's on
    every rank; the training loop's collectives on the caller's group go on meanwhile; an error
    surfaces at flush on every rank and stops the monitor; the threads end."""
    if engine == "torch":
        # a mixed-up collective ends the job (the worker's gloo timeout is 60 s) or this one
        _run_torch(ranks, tmp_path, "torch-monitor", timeout=150)
    else:
        _mpi_job(ranks, ["mpi-monitor", str(tmp_path)], timeout=150)
    due = [s for s in range(W.STEPS) if s % W.EVERY == 0]
    last = ranks - 1
    got = [dict(np.load(tmp_path / f"monitor{r}.npz")) for r in range(ranks)]
    for r, g in enumerate(got):
        # the same records as the waiting form, exactly (figures, levels, scores), in step order
        assert list(g["sync"][:, 0]) == due, r
        np.testing.assert_array_equal(g["async"], g["sync"], err_msg=r)
        np.testing.assert_array_equal(g["async_verdicts"], g["sync_verdicts"], err_msg=r)
        np.testing.assert_array_equal(g["async"], got[0]["async"], err_msg=r)
        assert g["async_async"].all() and not g["sync_async"].any(), r
        # a due step returns no record, and its record is not in the history yet
        assert g["returned_none"].all() and not g["seen_at_once"].any(), r
        # the loop's all-reduce on the caller's group: its own sums, never the monitor's data
        np.testing.assert_array_equal(g["loop_sums"],
                                      [W.loop_sum(s, ranks) for s in range(W.STEPS)], err_msg=r)
        # rank 0 logs and writes the history, in step order
        assert list(g["logged"]) == (due if r == 0 else []), r
        path = tmp_path / f"hist{r}.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        assert [json.loads(x)["step"] for x in lines] == (due if r == 0 else []), r
        assert str(g["closed"]).startswith("LscError|") and "closed" in str(g["closed"]), r
        # the NaN of the last rank's step-1 shard: InvalidData on every rank at flush, with the
        # step and the row; the record before it kept; no further step
        cls, msg = str(g["nan_error"]).split("|", 1)
        assert cls == "InvalidData", (r, msg)
        assert "monitor step 1" in msg and f"rank {last}" in msg and "row 0" in msg, (r, msg)
        assert list(g["nan_history"]) == [0], r
        cls, msg = str(g["nan_after"]).split("|", 1)
        assert cls == "LscError" and "step 1 failed" in msg and "measures no more" in msg, msg
        assert int(g["threads_left"][0]) == 0, r
        # rank 0's log raised inside a step(): every rank still measured every step, together
        assert int(g["log_raised"][0]) == (1 if r == 0 else 0), r
        assert list(g["log_steps"]) == [0, 1, 2, 3], r
        np.testing.assert_array_equal(g["log_figures"], got[0]["log_figures"], err_msg=r)
        assert float(g["after"][0]) == ranks, r


def test_monitor_worker_runs_nothing_after_a_failure():
    """The worker thread of Monitor(process_group=...): jobs in order, and none after a failed
    one (its collectives might wait for a rank that has stopped); each job's error is raised
    by result() with its step."""
    from lsc._monitor import _Job, _work

    def bad():
        raise lsc.InvalidData("row 0 col 2 is not finite")
    ran = []
    jobs = [_Job(0, lambda: ran.append(0)), _Job(1, bad), _Job(2, lambda: ran.append(2))]
    q = queue.Queue()
    t = threading.Thread(target=_work, args=(q,), daemon=True)
    t.start()
    for job in jobs:
        q.put(job)
    q.put(None)     # the thread ends once the jobs before it are done
    t.join(10)
    assert not t.is_alive() and ran == [0]
    assert all(job.done() for job in jobs)
    with pytest.raises(lsc.InvalidData, match="monitor step 1: row 0 col 2"):
        jobs[1].result()
    with pytest.raises(lsc.LscError, match="monitor step 2: not measured: the measurement of "
                       "step 1 failed before it"):
        jobs[2].result()


@pytest.mark.parametrize("engine,ranks", [("torch", 2), ("torch", 3), ("mpi", 2), ("mpi", 3)])
def test_send_recv_moves_the_bytes(tmp_path, engine, ranks):
    """Each engine's point-to-point step through its ctypes callback, as lsc calls it: for every
    shift, every rank gets exactly the bytes its source sent it, uneven sizes and empty sides
    included, nothing written past them; also on a group whose ranks are not the world's (torch:
    ranks 1.. of 3; mpi4py: the world in reverse order)."""
    if engine == "torch":
        _run_torch(ranks, tmp_path, "torch-send-recv", timeout=120)
    else:
        _mpi_job(ranks, ["mpi-send-recv", str(tmp_path)], timeout=120)
    labels = {"torch": ["world"] + (["sub"] if ranks >= 3 else []), "mpi": ["world", "rev"]}
    steps = 0
    for r in range(ranks):
        g = dict(np.load(tmp_path / f"p2p{r}.npz"))
        for label in labels[engine]:
            if label == "sub" and r == 0:
                assert f"{label}_rank" not in g   # rank 0 is not in the group
                continue
            me, p = (int(v) for v in g[f"{label}_rank"])
            want_me = {"world": r, "sub": r - 1, "rev": ranks - 1 - r}[label]
            assert (me, p) == (want_me, ranks - (label == "sub")), (label, r)
            for key in [rnd * 8 + s for rnd in range(3) for s in range(1, p)]:
                src = (me - key % 8) % p
                assert int(g[f"{label}_rc_{key}"][0]) == 0, (label, r, key,
                                                             str(g[f"{label}_why_{key}"]))
                n = W.p2p_size(src, me, key)
                got = g[f"{label}_recv_{key}"]
                np.testing.assert_array_equal(got[:n], W.p2p_bytes(src, me, key, n),
                                              err_msg=f"{label} rank {r} step {key}")
                assert (got[n:] == 0x5A).all() and got.size == n + W.P2P_GUARD, (label, r, key)
                steps += 1
    # every member of every group made 3 rounds of ranks - 1 steps (torch's subgroup: ranks - 1)
    sub = (ranks - 1) * (ranks - 2) if engine == "torch" else ranks * (ranks - 1)
    assert steps == 3 * (ranks * (ranks - 1) + sub), steps


class _Recorder:
    """An engine in this process: its send_recv records the call and answers, or raises."""
    rank, ranks = 1, 3

    def __init__(self, fail=False):
        self.calls, self.fail = [], fail

    def send_recv(self, send, dst, src, recv_size):
        if self.fail:
            raise RuntimeError("peer 2 went away")
        self.calls.append((bytes(send), dst, src, recv_size))
        return np.arange(recv_size, dtype=np.uint8)


def test_send_recv_callback_passes_arguments_and_errors():
    """The callback hands the engine the send bytes, dst, src and size as lsc gives them, writes
    the answer into lsc's buffer, and turns an exception into status 1 with its text in why."""
    import ctypes as C

    from lsc._distributed import _Transport
    eng = _Recorder()
    t = _Transport(eng).struct
    send = np.array([9, 8, 7], dtype=np.uint8)
    recv = np.zeros(6, dtype=np.uint8)
    why = C.create_string_buffer(64)
    assert t.send_recv(send.ctypes.data, 3, 2, recv.ctypes.data, 5, 0, 0, None, why, 64) == 0
    assert eng.calls == [(b"\x09\x08\x07", 2, 0, 5)]
    assert list(recv) == [0, 1, 2, 3, 4, 0]
    # the empty sides: nothing read, nothing written
    assert t.send_recv(None, 0, 0, None, 0, 2, 0, None, why, 64) == 0
    assert eng.calls[-1] == (b"", 0, 2, 0)
    t = _Transport(_Recorder(fail=True)).struct
    assert t.send_recv(send.ctypes.data, 3, 2, recv.ctypes.data, 5, 0, 0, None, why, 64) == 1
    assert why.value.decode() == "RuntimeError: peer 2 went away"
