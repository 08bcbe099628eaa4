"""Posterior collapse in a small VAE, watched as it happens with lsc.Monitor.

The same VAE (16 latent units) is trained on the same synthetic data three times:

  beta = 1       a healthy KL weight: about one active unit per true factor of the data;
  beta = 20      far too high from the start: every unit collapses within a few dozen steps;
  beta = 1->20   a KL weight that keeps growing (geometrically, over the run): the units switch
                 off one at a time, the weakest factor first, while you watch.

Every `every` steps the encoder's posterior MEANS of a fixed held-out batch go to an lsc.Monitor,
and each finished measurement prints one row of the run's table:

  KL        the KL term per sample; it goes to 0 when the posterior equals the prior everywhere.
  active    columns of the means with variance > 0.01 (docs/METRICS.md section 1, Burda et al.):
            a unit whose mean no longer depends on the input carries no information.
  eff_rank  effective rank of the centred means: how many directions the codes spread over. It
            falls as units switch off. It is scale-free, though: once every unit is dead the means
            are tiny, shapeless noise around a constant, whose effective rank is high again. Read
            it with `var`, the total variance of the means: how much spread there is at all.
  vendi     Vendi score of the means under cosine similarity.
  prec, cover   precision and coverage of the means against a sample of the prior N(0, I)
            (docs/METRICS.md section 5). The prior is what the aggregate posterior should fill for
            the decoder to work as a generator, so a prior sample is the monitor's reference. A
            collapsed encoder maps every input near the origin: its means all lie inside the prior
            (precision stays 1) but cover almost none of it (coverage falls towards 0).

Why the means and not sampled latents z = mu + sigma * eps: a collapsed unit's samples are pure
N(0, 1) noise, indistinguishable from a healthy code; the collapse shows only in the means.

Data: 12 true factors, standard normal, through a fixed random two-layer tanh network into 64
observed dimensions, plus a little noise. Everything is seeded; nothing is downloaded.

    LSC_LIBRARY=build/liblsc.so PYTHONPATH=python/src python python/examples/vae_collapse.py
    ... --device cuda    the means stay on the GPU: the monitor measures asynchronously on torch's
                         current stream and the training loop does not wait for it
    ... --quick          300 steps a run, a few seconds (the tests use it)
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("this example needs PyTorch: pip install torch")

try:
    import lsc
except ImportError:  # pragma: no cover
    sys.exit("cannot import lsc: pip install ./python, or set PYTHONPATH=python/src and "
             "LSC_LIBRARY=build/liblsc.so")

OBSERVED = 64
NOISE = 0.05          # observation noise, in units of the standardised data
TRAIN_ROWS = 8192


def make_data(factors: int, n_train: int, n_eval: int, seed: int):
    """Observations from a known `factors`-dimensional latent structure, standardised."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((factors, 128))
    b1 = 0.5 * rng.standard_normal(128)
    w2 = rng.standard_normal((128, OBSERVED)) / np.sqrt(128)
    z = rng.standard_normal((n_train + n_eval, factors))
    x = np.tanh(z @ w1 + b1) @ w2
    x = (x - x.mean(0)) / x.std(0)
    x += NOISE * rng.standard_normal(x.shape)
    x = x.astype(np.float32)
    return x[:n_train], x[n_train:]


class VAE(nn.Module):
    def __init__(self, latent: int, hidden: int = 128):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(OBSERVED, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2 * latent))
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, OBSERVED))

    def encode(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        return mu, logvar

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec(z), mu, logvar


def objective(model, x, beta: float, noise_var: float):
    """Negative ELBO per sample (Gaussian decoder of fixed variance), the KL weighted by beta."""
    xhat, mu, logvar = model(x)
    recon = 0.5 * ((x - xhat) ** 2).sum(1).mean() / noise_var
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar).sum(1).mean()
    return recon + beta * kl, kl


class Schedule:
    """A KL weight: "20" is constant, "1:20" grows geometrically from 1 to 20 over the run."""

    def __init__(self, text: str):
        parts = [float(v) for v in text.split(":")]
        if len(parts) not in (1, 2) or min(parts) <= 0:
            raise ValueError(text)
        self.start, self.end = parts[0], parts[-1]

    def __call__(self, step: int, steps: int) -> float:
        return self.start * (self.end / self.start) ** (step / max(steps, 1))

    def __str__(self):
        return f"{self.start:g}" if self.start == self.end else f"{self.start:g}->{self.end:g}"


def schedules(text: str):
    try:
        return [Schedule(b) for b in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad KL weights {text!r}: want e.g. 1,20,1:20")


def lsc_reads_gpu() -> bool:
    """Whether this lsc build can read CUDA tensors where they are (its CUDA backend is built and
    sees a device). If not, the example still runs on the GPU and hands lsc host copies."""
    try:
        lsc.Context("cuda", 0, 0)
        return True
    except lsc.LscError as e:
        print(f"note: lsc cannot use the GPU ({e}); it is given host copies of the means")
        return False


HEADER = (f"{'step':>6} {'beta':>6} {'loss':>7} {'KL':>6} {'active':>7} {'eff_rank':>8} "
          f"{'var':>7} {'vendi':>6} {'prec':>5} {'cover':>5}")


def train(schedule: Schedule, args, device, x_train, x_eval, prior):
    torch.manual_seed(args.seed)
    model = VAE(args.latent).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    xt = torch.from_numpy(x_train).to(device)
    xe = torch.from_numpy(x_eval).to(device)
    batches = torch.Generator().manual_seed(args.seed)   # the same batches on every device
    # step -> (beta, loss, KL), the losses as tensors: reading them (.item()) would make the
    # training loop wait for the GPU, so row() reads them once the measurement has finished
    seen = {}

    def row(rec: lsc.MonitorRecord):
        beta, loss, kl = seen.pop(rec.step)
        s, p = rec.spectrum, rec.prdc
        vendi = f"{s.vendi_cosine:6.2f}" if s.vendi_cosine is not None else f"{'-':>6}"
        print(f"{rec.step:>6} {beta:>6.2f} {loss.item():>7.2f} {kl.item():>6.2f} "
              f"{s.active_units:>3}/{s.cols:<3} {s.effective_rank:>8.2f} {s.total_variance:>7.3f} "
              f"{vendi} {p.precision:>5.2f} {p.coverage:>5.2f}", flush=True)

    # The reference (the prior sample) and its k-NN radii are built once; a measurement then costs
    # one pass of the means against it, plus the spectrum of the means. On the CPU it runs inside
    # mon.step(); for CUDA tensors it is enqueued on the current stream, and row() is called from
    # a later mon.step() or from mon.flush(), once the GPU has finished it.
    mon = lsc.Monitor(prior, k=5, every=args.every, log=row)
    print(f"\n== beta = {schedule}")
    print(HEADER)
    t0 = time.perf_counter()
    for step in range(args.steps + 1):
        beta = schedule(step, args.steps)
        if mon.due(step):
            model.eval()
            with torch.no_grad():
                loss, kl = objective(model, xe, beta, args.noise_var)
                mu, _ = model.encode(xe)
            seen[step] = (beta, loss, kl)
            # mu is a strided view (the first half of each row of the encoder's output): lsc
            # reads it in place, with no copy, on the GPU when it lives there
            mon.step(step, mu.cpu() if args.host_copies else mu)
            model.train()
        if step == args.steps:
            break
        idx = torch.randint(0, xt.shape[0], (args.batch,), generator=batches).to(device)
        loss, _ = objective(model, xt[idx], beta, args.noise_var)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    history = mon.flush()   # waits for measurements still in flight on the GPU
    elapsed = time.perf_counter() - t0
    asyn = sum(r.asynchronous for r in history)
    print(f"   {elapsed:.1f} s; {len(history)} measurements ({asyn} asynchronous), "
          f"{np.mean([r.call_ms for r in history]):.2f} ms per monitor call")
    return schedule, history[-1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                    help="auto: cuda when torch sees a GPU, else cpu")
    ap.add_argument("--steps", type=int, default=2000, help="training steps per run")
    ap.add_argument("--every", type=int, default=None,
                    help="measure every N steps (default: steps / 20)")
    ap.add_argument("--betas", type=schedules, default="1,20,1:20",
                    help="KL weights, one run each: 20 is constant, 1:20 grows from 1 to 20")
    ap.add_argument("--latent", type=int, default=16, help="latent units")
    ap.add_argument("--factors", type=int, default=12, help="true factors of the data")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--noise-var", type=float, default=0.5,
                    help="the decoder's fixed Gaussian variance")
    ap.add_argument("--eval-rows", type=int, default=1000,
                    help="held-out rows measured, and prior rows in the reference")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads: the model is too small to gain from more, and "
                         "spinning threads slow it down badly on a busy machine")
    ap.add_argument("--quick", action="store_true", help="300 steps and 500 rows: a few seconds")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.eval_rows = min(args.steps, 300), min(args.eval_rows, 500)
    if args.every is None:
        args.every = max(args.steps // 20, 1)
    if args.steps < 1 or args.every < 1 or args.eval_rows < 10:
        ap.error("--steps and --every must be >= 1, --eval-rows >= 10")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA device")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    args.host_copies = device.type == "cuda" and not lsc_reads_gpu()

    x_train, x_eval = make_data(args.factors, TRAIN_ROWS, args.eval_rows, args.seed)
    prior = np.random.default_rng(args.seed + 1).standard_normal(
        (args.eval_rows, args.latent)).astype(np.float32)
    where = ("on the host" if device.type == "cpu" else
             "on host copies" if args.host_copies else "on the GPU, in place")
    print(f"lsc {lsc.version()}, torch {torch.__version__}, device {device}, lsc measures {where}\n"
          f"data: {args.factors} true factors -> {OBSERVED} observed dims; a VAE with "
          f"{args.latent} latent units, {args.steps} steps a run.\nEvery {args.every} steps: the "
          f"posterior means of {args.eval_rows} held-out rows, PRDC against {args.eval_rows} "
          f"prior samples (k=5).")

    results = [train(s, args, device, x_train, x_eval, prior) for s in args.betas]
    print()
    for schedule, rec in results:
        s, p = rec.spectrum, rec.prdc
        # docs/METRICS.md section 6: posterior collapse when active_units < 0.5 x D
        state = "posterior collapse" if s.active_units < 0.5 * s.cols else "healthy"
        print(f"verdict beta={schedule}: {state}: {s.active_units}/{s.cols} units active, "
              f"effective rank {s.effective_rank:.2f}, variance {s.total_variance:.3f}, "
              f"coverage of the prior {p.coverage:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
