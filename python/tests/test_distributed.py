"""Sharded calls on real engines: torch.distributed (gloo, processes on this machine) and mpi4py
(under Debian's Open MPI's mpirun), each rank's figures against one process's on all the rows.

distributed_worker.py runs the ranks; each test skips, saying why, where its engine is missing.
"""
import importlib.util
import os
import shutil
import subprocess
import sys

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


def _run_torch(ranks, out):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed: the torch.distributed (gloo) test needs it")
    subprocess.run([sys.executable, WORKER, "torch", str(ranks), str(out)], check=True,
                   env=_env(), timeout=300)


def _run_mpi(ranks, out):
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed: the MPI test needs it (pip install mpi4py)")
    if shutil.which("mpirun") is None:
        pytest.skip("no mpirun (apt-get install openmpi-bin)")
    cmd = MPIRUN + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    subprocess.run(cmd + ["-np", str(ranks), sys.executable, WORKER, "mpi", str(out)],
                   check=True, env=_env(), timeout=300)


def _one_process():
    x, q = W.data()
    s = lsc.spectrum(x)
    kn = lsc.knn(q, x, k=W.K)
    pairs = {sub: lsc.pair_stats(x, bins=16, subset_rows=sub, seed=5, uniformity=True)
             for sub in (0, 23)}
    kself = lsc.knn(x, k=W.K, metric="cosine")
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


@pytest.mark.parametrize("engine,ranks", [("torch", 2), ("torch", 3), ("mpi", 2), ("mpi", 3)])
def test_sharded_calls_equal_one_process(tmp_path, engine, ranks):
    (_run_torch if engine == "torch" else _run_mpi)(ranks, tmp_path)
    fig, sv, kn, pairs = _one_process()
    kself, prdc, monitor = pairs.pop("self"), pairs.pop("prdc"), pairs.pop("monitor")
    assess_nums, assess_words = pairs.pop("assess")
    monitor_assess = pairs.pop("monitor_assess")
    got = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(ranks)]
    for r, g in enumerate(got):
        # every rank's records: the one-process monitor's on the whole batches
        np.testing.assert_allclose(g["monitor"], monitor, rtol=2e-4, atol=1e-9, err_msg=r)
        np.testing.assert_array_equal(g["monitor"][:, 3:], monitor[:, 3:])  # PRDC: counts
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
        assert f"rank {last}" in msg and "row 0" in msg and "col 2" in msg, msg
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
