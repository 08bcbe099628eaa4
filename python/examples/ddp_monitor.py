"""lsc.Monitor in a data-parallel (DDP) job: one record of the whole batch, not of one rank's.

The VAE of vae_collapse.py is trained with torch's DistributedDataParallel on P processes of this
machine (gloo, the CPU backend of torch.distributed; a GPU job passes its NCCL group unchanged).
Every `every` steps each rank hands the posterior means of ITS shard of the held-out rows to an
lsc.Monitor made with `process_group=` and `assess=True`: the monitor runs lsc's sharded
spectrum, PRDC and verdicts over the group's own collectives, so every rank gets the record of
all ranks' rows together, and rank 0 prints it - no gather loop in the training code. Each rank
holds an even part of the reference (the prior sample) with radii against all of it.

The monitor does not hold the step up: a due step() copies the rank's shard and returns, and the
measurement runs on the monitor's worker thread over a private group (its rows print once done).
For comparison the same shards also go to a second monitor made with asynchronous=False, whose
step() waits for the measurement; at the end rank 0 says how long a due step() took in each form
and whether their records are the same (exactly: figures and verdicts). Rank 0 then repeats every
measurement in one process on the gathered means (as a job without lsc's sharded calls would
have to) and says whether the records are the same: PRDC's counts and every verdict's level
exactly, the spectrum's figures and the verdicts' scores within docs/METRICS.md's tolerance.

    LSC_LIBRARY=build/liblsc.so PYTHONPATH=python/src python python/examples/ddp_monitor.py
    ... --ranks 3      processes (default 2)
    ... --quick        200 steps, a few seconds after start-up (the tests use it)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

try:
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from torch.nn.parallel import DistributedDataParallel
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("this example needs PyTorch: pip install torch")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lsc  # noqa: E402
from vae_collapse import VAE, make_data, objective  # noqa: E402

FACTORS = 12


# the verdicts' options: 8 held-out subsets (the default 16 doubles the reference side's cost,
# which the sharded monitor measures afresh at every record)
ASSESS = {"splits": 8}


def shard_of(n: int, rank: int, ranks: int) -> slice:
    return slice(n * rank // ranks, n * (rank + 1) // ranks)


def run(rank: int, ranks: int, args, init: str):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=ranks)
    try:
        x_train, x_eval = make_data(FACTORS, args.train_rows, args.eval_rows, args.seed)
        prior = np.random.default_rng(args.seed + 1).standard_normal(
            (args.eval_rows, args.latent)).astype(np.float32)
        torch.manual_seed(args.seed)                       # the same initial weights everywhere
        model = DistributedDataParallel(VAE(args.latent))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        mine = torch.from_numpy(x_train[shard_of(len(x_train), rank, ranks)])
        held = torch.from_numpy(x_eval[shard_of(len(x_eval), rank, ranks)])
        gen = torch.Generator().manual_seed(args.seed + rank)

        def row(rec):
            s, p = rec.spectrum, rec.prdc
            print(f"  {rec.step:5d} {s.active_units:4d}/{args.latent} {s.effective_rank:8.2f} "
                  f"{s.total_variance:7.3f} {p.precision:5.2f} {p.coverage:5.2f} "
                  f"{rec.verdict:>12s} {rec.call_ms:8.1f}", flush=True)

        # the monitor (every rank makes it: it makes its own group of the same ranks), and the
        # waiting form beside it, for the comparison
        mon = lsc.Monitor(prior, k=5, every=args.every, log=row, backend="cpu", assess=True,
                          assess_options=ASSESS, process_group=dist.group.WORLD)
        wait = lsc.Monitor(prior, k=5, every=args.every, backend="cpu", assess=True,
                           assess_options=ASSESS, process_group=dist.group.WORLD,
                           asynchronous=False)
        in_step = {"wait": [], "async": []}
        if rank == 0:
            print(f"lsc {lsc.version()}, torch {torch.__version__}: {ranks} ranks on gloo, "
                  f"beta {args.beta}, {args.steps} steps; each rank measures its "
                  f"{len(held)}-odd held-out rows, every record is of all {len(x_eval)}")
            print("   step active eff_rank     var  prec cover      verdict  call_ms")
        means = []
        for step in range(args.steps + 1):
            if mon.due(step):
                with torch.no_grad():
                    mu = model.module.encode(held)[0].numpy()
                means.append(mu)
                # the waiting form first: its measurement then has the cores to itself, as the
                # worker thread of the other has them during the training steps that follow
                for name, m in (("wait", wait), ("async", mon)):
                    t0 = time.perf_counter()
                    m.step(step, mu)
                    in_step[name].append((time.perf_counter() - t0) * 1e3)
            if step == args.steps:
                break
            idx = torch.randint(0, len(mine), (args.batch,), generator=gen)
            loss, _ = objective(model, mine[idx], args.beta, 0.05 ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        t0 = time.perf_counter()
        history = mon.flush()           # the records still on the worker thread
        flush_ms = (time.perf_counter() - t0) * 1e3
        mon.close()
        if rank == 0:
            print(f"time inside Monitor.step() on a due step, median of {len(in_step['wait'])}: "
                  f"{np.median(in_step['wait']):.1f} ms waiting (asynchronous=False), "
                  f"{np.median(in_step['async']):.2f} ms not waiting; the final flush() waited "
                  f"{flush_ms:.1f} ms", flush=True)
        same = [_same(a, b) for a, b in zip(history, wait.history)]
        if len(history) != len(wait.history) or not all(same):
            print(f"rank {rank}: the two forms' records DIFFER", flush=True)
            sys.exit(1)
        if rank == 0:
            print(f"the {len(history)} records of both forms are the same on rank 0: yes",
                  flush=True)
        check(rank, ranks, args, prior, means, history)
    finally:
        dist.destroy_process_group()


def _same(a, b) -> bool:
    """The two forms' records, equal but for how they were taken (asynchronous, call_ms): every
    figure, verdict and trend of the history line, and the singular values, exactly."""
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        del d["asynchronous"], d["call_ms"]
    return da == db and np.array_equal(a.spectrum.singular_values, b.spectrum.singular_values)


def check(rank, ranks, args, prior, means, history):
    """Rank 0 measures the gathered means in one process: the records must be the same."""
    gathered = [None] * ranks
    dist.all_gather_object(gathered, means)
    if rank != 0:
        return
    one = lsc.Monitor(prior, k=5, every=1, backend="cpu", asynchronous=False, assess=True,
                      assess_options=ASSESS)
    for rec, parts in zip(history, zip(*gathered)):
        ref = one.measure(rec.step, np.concatenate(parts))
        a, b = rec.spectrum, ref.spectrum
        same_counts = (rec.prdc.precision, rec.prdc.recall, rec.prdc.density,
                       rec.prdc.coverage) == (ref.prdc.precision, ref.prdc.recall,
                                              ref.prdc.density, ref.prdc.coverage)
        close = all(abs(u - v) <= 2e-4 * max(abs(v), 1e-5) for u, v in
                    ((a.effective_rank, b.effective_rank), (a.total_variance, b.total_variance),
                     (a.rankme, b.rankme)))
        same_verdicts = rec.verdict == ref.verdict and all(
            v.level == ref.verdicts[c].level and (v.score == ref.verdicts[c].score or abs(
                v.score - ref.verdicts[c].score) <= 1e-9 * max(abs(v.score), 1.0))
            for c, v in rec.verdicts.items())
        if not (same_counts and close and same_verdicts and a.active_units == b.active_units):
            print(f"DIFFERENT at step {rec.step}: {rec} vs {ref}", flush=True)
            sys.exit(1)
    print(f"the {len(history)} records equal one process's on the gathered means: yes",
          flush=True)
    ones = [one.history[i].call_ms for i in range(len(history))]
    print(f"one measurement in one process on the gathered means, median: "
          f"{np.median(ones):.1f} ms", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--every", type=int, default=0, help="default: steps / 10")
    ap.add_argument("--beta", type=float, default=4.0)
    ap.add_argument("--latent", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64, help="rows a rank a step")
    ap.add_argument("--train-rows", type=int, default=8192)
    ap.add_argument("--eval-rows", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="200 steps, 600 held-out rows")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.eval_rows = 200, 600
    if args.every <= 0:
        args.every = max(args.steps // 10, 1)
    with tempfile.TemporaryDirectory() as tmp:
        init = "file://" + os.path.join(tmp, "rendezvous")
        mp.spawn(run, args=(args.ranks, args, init), nprocs=args.ranks, join=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
