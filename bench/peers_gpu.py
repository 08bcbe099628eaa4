#!/usr/bin/env python3
"""peers_gpu.py: lsc's CUDA backend against the code users write by hand, and the floor.

  python3 bench/peers_gpu.py [--device cuda|cpu] [--suite S[,S...]] [--scale full|small]
                             [--build DIR] [--data DIR] [--out FILE] [--repeats R]
                             [--budget-s SECONDS]

Runs, in one process and one session, on the same seeded float32 data:
  lsc       build/bench/lsc_bench with --backend cuda (inputs placed on the device, CUDA-event
            timing), or --backend cpu with --device cpu;
  peers     torch.cdist + topk in chunks (kNN); the PRDC algorithm of Naeem et al. in torch,
            chunked (cdist, kthvalue for the radii) so nothing N x M is held; the float64
            covariance and torch.linalg.eigvalsh (spectrum); chunked torch all-pairs statistics;
            faiss GpuIndexFlatL2 (faiss.IndexFlatL2 with --device cpu) when faiss imports; and,
            with --device cpu, the same algorithms in numpy, so the script runs without torch;
  floor     build/bench/lsc_gpu_floor (cuBLAS SGEMM of each operation's products with TF32 off,
            DSYRK for the spectrum, one pass over the inputs at the measured copy bandwidth); with
            --device cpu, numpy's float32 matmul of the same products (OpenBLAS, threaded).
Prints one table per suite with lsc/peer (below 1: lsc is faster) and lsc/floor (1 is the floor)
and writes every record, commands included, to --out (default bench/results_gpu.json; a run of
some suites updates the file a run of others left). Every lsc figure is checked against the
peers' on the same data (PRDC figures, the sum of k-th neighbour distances, the effective rank,
the pair mean) and the difference is recorded.

Suites (the workloads lsc is built for; --scale small divides them for a CPU run of the plumbing):
  dsweep    kNN (M queries among N rows) and PRDC (reference + prdc) for D = 2 .. 8192,
            N = M = 20,000 (small: 2,000 and D = 2, 32, 512)
  monitor   per-step monitoring: PRDC of a 4,096 x 512 batch against a kept 50,000 x 512
            reference; lsc_prdc and lsc_prdc_async (and its CUDA-graph replay) against the torch
            PRDC with the real radii kept (small: 512 x 64 against 5,000 x 64)
  spectrum  10,000,000 x 512 (small: 200,000 x 64): lsc_spectrum, the streaming accumulator in
            batches of 1,000,000 rows, lsc_spectrum_async; the data is made by lsc_bench's gen:
            generator and, identically, by gen_values() here (a 20 GB .npy file would cost more
            than the benchmark)
  pairs     all-pairs statistics of 1,000,000 x 128 (small: 4,000 x 32)
  all       every suite above (default), in the order monitor, spectrum, pairs, dsweep
Data: bench/make_data.py files in --data (real rows N(0, 1), seed 20261125; fake rows
N(0.1, 1.1^2), seed 20261126), except the spectrum's generated rows.

Without numpy the script re-runs itself under $BENCH_VENV/bin/python when that exists (the venv
peers_cpu.py makes); without torch or faiss their peers are skipped with the reason printed.
"""
import json
import math
import os
import platform
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # make_data is imported from bench/
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SEED_REAL, SEED_FAKE, SHIFT = 20261125, 20261126, 0.1
K = 5

try:
    import numpy as np
except ImportError:
    venv_py = os.path.join(os.environ.get("BENCH_VENV", "/tmp/lsc-bench-venv"), "bin", "python")
    venv = os.path.dirname(os.path.dirname(venv_py))
    if os.path.exists(venv_py) and os.path.realpath(sys.prefix) != os.path.realpath(venv):
        os.execv(venv_py, [venv_py] + sys.argv)
    sys.exit("peers_gpu.py needs numpy (none here, and no $BENCH_VENV at %s)" % venv_py)

SHAPES = {
    "full": {"dsweep_n": 20000, "dsweep_d": [2, 8, 32, 128, 512, 2048, 8192],
             "monitor": (50000, 4096, 512), "spectrum": (10000000, 512, 1000000),
             "pairs": (1000000, 128)},
    "small": {"dsweep_n": 2000, "dsweep_d": [2, 32, 512],
              "monitor": (5000, 512, 64), "spectrum": (200000, 64, 50000),
              "pairs": (4000, 32)},
}


# --------------------------------------------------------------------------------- the generator
M64 = (1 << 64) - 1


def _signed(c):
    c &= M64
    return c - (1 << 64) if c >= (1 << 63) else c


def gen_values(e0, n, seed, shift=0.0):
    """Elements [e0, e0 + n) of lsc_bench's gen:N:D:SEED:SHIFT set (row-major), float32, numpy."""
    base = np.uint64((seed * 0x9E3779B97F4A7C15) & M64)
    with np.errstate(over="ignore"):
        z = np.arange(e0, e0 + n, dtype=np.uint64) + base + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    m = np.uint64(0xFFFF)
    s = (z & m) + ((z >> np.uint64(16)) & m) + ((z >> np.uint64(32)) & m) + (z >> np.uint64(48))
    g = (s.astype(np.float64) + 2.0) / 65536.0 - 2.0
    g *= 1.7320508075688772
    if shift:
        g = shift + (1.0 + shift) * g
    return g.astype(np.float32)


def gen_values_torch(torch, e0, n, seed, shift, device):
    """gen_values in torch on `device`: int64 arithmetic wraps like uint64; >> is arithmetic in
    torch, so every shift is masked back to a logical one."""
    z = torch.arange(e0, e0 + n, dtype=torch.int64, device=device)
    z += _signed(seed * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15)

    def srl(v, s):
        return (v >> s) & ((1 << (64 - s)) - 1)
    z = torch.bitwise_xor(z, srl(z, 30)) * _signed(0xBF58476D1CE4E5B9)
    z = torch.bitwise_xor(z, srl(z, 27)) * _signed(0x94D049BB133111EB)
    z = torch.bitwise_xor(z, srl(z, 31))
    s = (z & 0xFFFF) + (srl(z, 16) & 0xFFFF) + (srl(z, 32) & 0xFFFF) + srl(z, 48)
    del z
    g = (s.double() + 2.0) / 65536.0 - 2.0
    g *= 1.7320508075688772
    if shift:
        g = shift + (1.0 + shift) * g
    return g.float()


# ------------------------------------------------------------------------------------- helpers
def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def effective_rank_from_eigs(lam):
    """docs/METRICS.md section 1 from covariance eigenvalues: the pinned cut, then exp(H(p)),
    p proportional to sqrt(lambda)."""
    lam = np.sort(np.asarray(lam, dtype=np.float64))[::-1]
    if lam.size == 0 or lam[0] <= 0:
        return 0.0
    lam = np.where(lam < 1e-10 * lam[0], 0.0, lam)
    sig = np.sqrt(lam)
    p = sig[sig > 0] / sig.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def rel(a, b):
    if a is None or b is None:
        return None
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


class Timer:
    """Warm-up, then repeats, median; sync() waits for the device (no-op on the CPU)."""

    def __init__(self, sync):
        self.sync = sync

    def __call__(self, fn, warmup, repeats):
        out = None
        for _ in range(warmup):
            out = fn()
            self.sync()
        t = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fn()
            self.sync()
            t.append(time.perf_counter() - t0)
        t.sort()
        return {"median": median(t), "min": t[0], "spread": t[-1] - t[0], "repeats": repeats,
                "warmup": warmup}, out


# --------------------------------------------------------------------------- the torch peers
class TorchPeers:
    """What a user writes by hand in torch. Distance blocks of at most `budget` elements."""

    def __init__(self, torch, device, budget=1 << 28):
        self.t = torch
        self.dev = device
        self.budget = budget
        # IEEE float32 products, as lsc computes them (torch's default, stated here)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    def sync(self):
        if self.dev == "cuda":
            self.t.cuda.synchronize()

    def put(self, a):
        return self.t.from_numpy(np.ascontiguousarray(a)).to(self.dev)

    def rows(self, n_cols):
        return max(1, self.budget // max(1, n_cols))

    def knn(self, Q, B, k):
        t = self.t
        nq = Q.shape[0]
        vals = t.empty((nq, k), device=self.dev)
        idx = t.empty((nq, k), dtype=t.int64, device=self.dev)
        c = self.rows(B.shape[0])
        for i in range(0, nq, c):
            d = t.cdist(Q[i:i + c], B)
            v, j = d.topk(k, dim=1, largest=False)
            vals[i:i + c], idx[i:i + c] = v, j
        return vals, idx

    def radii(self, X, k):
        """distance to the k-th nearest other row: the (k+1)-th smallest with self (d = 0)"""
        t = self.t
        n = X.shape[0]
        r = t.empty(n, device=self.dev)
        c = self.rows(n)
        for i in range(0, n, c):
            d = t.cdist(X[i:i + c], X)
            r[i:i + c] = d.kthvalue(k + 1, dim=1).values
        return r

    def prdc(self, R, F, k, r_real=None):
        """Naeem et al.'s four figures (strict <), one chunked pass of F against R. With r_real
        given (a kept reference), only the fake radii and the cross pass are computed."""
        t = self.t
        n, m = R.shape[0], F.shape[0]
        rr = self.radii(R, k) if r_real is None else r_real
        rf = self.radii(F, k)
        prec = t.zeros(m, dtype=t.bool, device=self.dev)
        dens = t.zeros(m, dtype=t.int64, device=self.dev)
        cov_min = t.full((n,), float("inf"), device=self.dev)
        rec = t.zeros(n, dtype=t.bool, device=self.dev)
        c = self.rows(n)
        for j in range(0, m, c):
            d = t.cdist(F[j:j + c], R)
            inside = d < rr[None, :]
            prec[j:j + c] = inside.any(dim=1)
            dens[j:j + c] = inside.sum(dim=1)
            cov_min = t.minimum(cov_min, d.min(dim=0).values)
            rec |= (d < rf[j:j + c, None]).any(dim=0)
        return {"precision": prec.double().mean().item(), "recall": rec.double().mean().item(),
                "density": dens.sum().item() / float(k * m),
                "coverage": (cov_min < rr).double().mean().item()}

    def covariance_eigs(self, X, chunk=1 << 20):
        """float64 covariance, accumulated over row chunks (a 10M x 512 set does not fit in
        float64 at once), then torch.linalg.eigvalsh"""
        t = self.t
        n, d = X.shape
        mean = t.zeros(d, dtype=t.float64, device=self.dev)
        for i in range(0, n, chunk):
            mean += X[i:i + chunk].double().sum(dim=0)
        mean /= n
        G = t.zeros((d, d), dtype=t.float64, device=self.dev)
        for i in range(0, n, chunk):
            xc = X[i:i + chunk].double() - mean
            G += xc.T @ xc
        return t.linalg.eigvalsh(G / (n - 1))

    def pairs(self, X, bins=64):
        """all-pairs statistics over i < j: mean, std, min, max, a histogram over [0, B] and each
        row's nearest other row; the upper triangle in row chunks"""
        t = self.t
        n = X.shape[0]
        mu = X.double().mean(dim=0).float()
        B = 2.0 * (X - mu).norm(dim=1).max().item()
        s1 = t.zeros((), dtype=t.float64, device=self.dev)
        s2 = t.zeros((), dtype=t.float64, device=self.dev)
        dmin = t.full((), float("inf"), device=self.dev)
        dmax = t.zeros((), device=self.dev)
        hist = t.zeros(bins, dtype=t.float64, device=self.dev)
        nn = t.full((n,), float("inf"), device=self.dev)
        c = max(1, min(n, self.budget // n))
        for i in range(0, n, c):
            d = t.cdist(X[i:i + c], X[i:])  # rows i.., columns i..: upper triangle plus block
            ii = t.arange(d.shape[0], device=self.dev)[:, None]
            jj = t.arange(d.shape[1], device=self.dev)[None, :]
            upper = jj > ii
            v = d[upper]
            s1 += v.sum(dtype=t.float64)
            s2 += (v * v).sum(dtype=t.float64)
            dmin = t.minimum(dmin, v.min()) if v.numel() else dmin
            dmax = t.maximum(dmax, v.max()) if v.numel() else dmax
            hist += t.histc(v, bins=bins, min=0.0, max=B if B > 0 else 1.0).double()
            d.masked_fill_(~upper, float("inf"))
            nn[i:i + c] = t.minimum(nn[i:i + c], d.min(dim=1).values)
            nn[i:] = t.minimum(nn[i:], d.min(dim=0).values)
        pairs = n * (n - 1) / 2.0
        mean = s1.item() / pairs
        return {"mean": mean, "std": math.sqrt(max(0.0, s2.item() / pairs - mean * mean)),
                "min": dmin.item(), "max": dmax.item(), "nn_mean": nn.double().mean().item()}


# ---------------------------------------------------------------------------- the numpy peers
class NumpyPeers:
    """The same algorithms in numpy (the CPU fallback when torch is missing)."""

    def __init__(self, budget=1 << 25):
        self.budget = budget

    def sync(self):
        pass

    def put(self, a):
        return np.ascontiguousarray(a, dtype=np.float32)

    def rows(self, n_cols):
        return max(1, self.budget // max(1, n_cols))

    @staticmethod
    def sqdist(A, B):
        d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
        return np.maximum(d, 0.0)

    def knn(self, Q, B, k):
        nq = Q.shape[0]
        vals = np.empty((nq, k), np.float32)
        idx = np.empty((nq, k), np.int64)
        c = self.rows(B.shape[0])
        for i in range(0, nq, c):
            d = self.sqdist(Q[i:i + c], B)
            j = np.argpartition(d, k - 1, axis=1)[:, :k]
            v = np.take_along_axis(d, j, 1)
            o = np.argsort(v, axis=1)
            vals[i:i + c] = np.sqrt(np.take_along_axis(v, o, 1))
            idx[i:i + c] = np.take_along_axis(j, o, 1)
        return vals, idx

    def radii(self, X, k):
        n = X.shape[0]
        r = np.empty(n, np.float32)
        c = self.rows(n)
        for i in range(0, n, c):
            d = self.sqdist(X[i:i + c], X)
            r[i:i + c] = np.sqrt(np.partition(d, k, axis=1)[:, k])
        return r

    def prdc(self, R, F, k, r_real=None):
        n, m = R.shape[0], F.shape[0]
        rr = self.radii(R, k) if r_real is None else r_real
        rf = self.radii(F, k)
        prec = np.zeros(m, bool)
        dens = np.zeros(m, np.int64)
        cov_min = np.full(n, np.inf, np.float32)
        rec = np.zeros(n, bool)
        c = self.rows(n)
        for j in range(0, m, c):
            d = np.sqrt(self.sqdist(F[j:j + c], R))
            inside = d < rr[None, :]
            prec[j:j + c] = inside.any(1)
            dens[j:j + c] = inside.sum(1)
            cov_min = np.minimum(cov_min, d.min(0))
            rec |= (d < rf[j:j + c, None]).any(0)
        return {"precision": float(prec.mean()), "recall": float(rec.mean()),
                "density": float(dens.sum()) / (k * m), "coverage": float((cov_min < rr).mean())}

    def covariance_eigs(self, X, chunk=1 << 18):
        n, d = X.shape
        mean = np.zeros(d)
        for i in range(0, n, chunk):
            mean += X[i:i + chunk].astype(np.float64).sum(0)
        mean /= n
        G = np.zeros((d, d))
        for i in range(0, n, chunk):
            xc = X[i:i + chunk].astype(np.float64) - mean
            G += xc.T @ xc
        return np.linalg.eigvalsh(G / (n - 1))

    def pairs(self, X, bins=64):
        n = X.shape[0]
        mu = X.astype(np.float64).mean(0)
        B = 2.0 * float(np.sqrt(((X - mu) ** 2).sum(1)).max())
        s1 = s2 = 0.0
        dmin, dmax = np.inf, 0.0
        hist = np.zeros(bins)
        nn = np.full(n, np.inf)
        c = max(1, min(n, self.budget // n))
        for i in range(0, n, c):
            d = np.sqrt(self.sqdist(X[i:i + c], X[i:]))
            upper = np.arange(d.shape[1])[None, :] > np.arange(d.shape[0])[:, None]
            v = d[upper].astype(np.float64)
            if v.size:
                s1 += v.sum()
                s2 += (v * v).sum()
                dmin, dmax = min(dmin, v.min()), max(dmax, v.max())
                hist += np.histogram(v, bins=bins, range=(0.0, B if B > 0 else 1.0))[0]
            d = np.where(upper, d, np.inf)
            nn[i:i + c] = np.minimum(nn[i:i + c], d.min(1))
            nn[i:] = np.minimum(nn[i:], d.min(0))
        pairs = n * (n - 1) / 2.0
        mean = s1 / pairs
        return {"mean": mean, "std": math.sqrt(max(0.0, s2 / pairs - mean * mean)),
                "min": float(dmin), "max": float(dmax), "nn_mean": float(nn.mean())}


# ---------------------------------------------------------------------------------- the bench
class Bench:
    def __init__(self, args):
        self.args = args
        self.device = args.device
        self.records = []
        self.t_start = time.time()
        self.lsc_bin = os.path.join(args.build, "bench", "lsc_bench")
        self.floor_bin = os.path.join(args.build, "bench", "lsc_gpu_floor")
        if not os.path.exists(self.lsc_bin):
            raise SystemExit("no %s: build it first (bench/RESULTS.md)" % self.lsc_bin)
        self.skipped = []
        self.failures = 0  # lsc_bench or lsc_gpu_floor runs that failed (not NOT_SUPPORTED)
        self.torch = None
        try:
            import torch
            if self.device == "cuda" and not torch.cuda.is_available():
                self.skip("torch", "torch %s sees no CUDA device" % torch.__version__)
            else:
                self.torch = torch
        except ImportError as e:
            self.skip("torch", "not importable (%s): the torch peers are skipped" % e)
        # distance blocks of up to 4 GiB on a GPU, 1 GiB on the host
        self.tp = TorchPeers(self.torch, self.device,
                             1 << (30 if self.device == "cuda" else 28)) if self.torch else None
        self.np_peers = NumpyPeers() if self.device == "cpu" else None
        self.faiss = None
        try:
            import faiss
            if self.device == "cuda" and not (hasattr(faiss, "StandardGpuResources")
                                              and faiss.get_num_gpus() > 0):
                self.skip("faiss", "faiss %s has no GPU support here" % faiss.__version__)
            else:
                self.faiss = faiss
        except ImportError as e:
            self.skip("faiss", "not importable (%s): the faiss peer is skipped" % e)
        if self.device == "cuda" and not os.path.exists(self.floor_bin):
            self.skip("floor", "no %s (a build without CUDA): no floor" % self.floor_bin)

    def skip(self, what, why):
        print("peers_gpu: %s skipped: %s" % (what, why), file=sys.stderr)
        self.skipped.append({"what": what, "why": why})

    def over_budget(self):
        return self.args.budget_s and time.time() - self.t_start > self.args.budget_s

    def files(self, n, d, m=None):
        sys.path.insert(0, HERE)
        import make_data
        return (make_data.make(self.args.data, n, d, SEED_REAL),
                make_data.make(self.args.data, m or n, d, SEED_FAKE, SHIFT))

    # ---- lsc
    def lsc(self, op, x, y=None, extra=(), repeats=None):
        repeats = repeats or self.args.repeats
        cmd = [self.lsc_bin, op, "--x", x] + (["--y", y] if y else []) + \
              ["--k", str(K), "--repeats", str(repeats), "--backend", self.device_backend()] + \
            list(extra)
        if self.torch is not None and self.device == "cuda":
            self.torch.cuda.empty_cache()  # leave the device's memory to lsc
        print("$ " + " ".join(cmd), file=sys.stderr)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.args.timeout)
        except subprocess.TimeoutExpired:
            self.failures += 1
            self.skip("lsc " + op, "timed out after %d s" % self.args.timeout)
            return {}
        if p.stderr.strip():
            print(p.stderr.strip(), file=sys.stderr)
        lines = {}
        for line in p.stdout.splitlines():
            try:
                j = json.loads(line)
            except ValueError:
                continue
            j["tool"] = "lsc"
            lines[j["op"]] = j
            self.records.append(j)
        if p.returncode != 0:
            self.failures += 1
            self.skip("lsc " + op, "lsc_bench exit %d: %s" % (p.returncode,
                                                              p.stderr.strip()[-300:]))
        return lines

    def device_backend(self):
        return "cuda" if self.device == "cuda" else "cpu"

    # ---- floors
    def floor(self, specs):
        """{(for, shape-key): floor record} from lsc_gpu_floor, or numpy's matmul on the CPU"""
        out = {}
        if self.device == "cuda":
            if not os.path.exists(self.floor_bin):
                return out
            cmd = [self.floor_bin, "--repeats", "3"] + specs
            print("$ " + " ".join(cmd), file=sys.stderr)
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.args.timeout)
            except subprocess.TimeoutExpired:
                self.failures += 1
                self.skip("floor", "timed out")
                return out
            if p.returncode != 0:
                self.failures += 1
                self.skip("floor", "lsc_gpu_floor exit %d: %s" % (p.returncode, p.stderr[-300:]))
            for line in p.stdout.splitlines():
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                j["tool"] = "floor"
                self.records.append(j)
                if j.get("op") == "floor":
                    out[j["for"] + ":" + json.dumps(j["shape"], sort_keys=True)] = j
            return out
        # the CPU: numpy float32 matmul of the same products, in 4096-row blocks
        for spec in specs:
            f = spec.split(":")
            op, v = f[0], [int(a) for a in f[1:]]
            if op == "spectrum":  # float64 X^T X of 65536-row blocks, scaled to N rows
                n, d = v
                rows = min(n, 65536)
                Xb = gen_values(0, rows * d, 1).reshape(rows, d).astype(np.float64)
                st, _ = Timer(lambda: None)(lambda: Xb.T @ Xb, 1, 3)
                total = st["median"] * n / rows
                shape = {"n": n, "d": d}
                rec = {"tool": "floor", "op": "floor", "for": op, "shape": shape,
                       "gemm_s": total, "floor_s": total, "pass_s": None,
                       "how": "numpy float64 X^T X of 65536-row blocks (CPU)"}
                self.records.append(rec)
                out[op + ":" + json.dumps(shape, sort_keys=True)] = rec
                continue
            if op == "knn":
                prods = [(v[0], v[1], v[2])]
            elif op == "prdc":
                prods = [(v[0], v[0], v[2]), (v[1], v[1], v[2]), (v[1], v[0], v[2])]
            elif op == "monitor":
                prods = [(v[1], v[1], v[2]), (v[1], v[0], v[2])]
            elif op == "pairs":
                prods = [(v[0], v[0], v[1])]
            else:
                continue
            total = 0.0
            for a, b, d in prods:
                A = gen_values(0, min(a, 4096) * d, 1).reshape(-1, d)
                Bm = gen_values(0, b * d, 2).reshape(b, d)
                blocks = a / A.shape[0]
                st, _ = Timer(lambda: None)(lambda: A @ Bm.T, 1, 3)
                total += st["median"] * blocks
            if op == "pairs":
                total *= 0.5
            shape = ({"q": v[0], "n": v[1], "d": v[2]} if op == "knn" else
                     {"n": v[0], "m": v[1], "d": v[2]} if op in ("prdc", "monitor") else
                     {"n": v[0], "d": v[1]})
            rec = {"tool": "floor", "op": "floor", "for": op, "shape": shape, "gemm_s": total,
                   "floor_s": total, "pass_s": None,
                   "how": "numpy float32 matmul of the products in 4096-row blocks (CPU)"}
            self.records.append(rec)
            out[op + ":" + json.dumps(shape, sort_keys=True)] = rec
        return out

    # ---- peers
    def peer(self, case, name, fn, shape, warmup=1, repeats=None, check=None):
        """times fn() (a peer), records it; check(out) -> dict of figures to keep"""
        repeats = repeats or self.args.repeats
        rec = {"tool": name, "op": case, "shape": shape}
        if self.over_budget():
            rec["skipped"] = "over the time budget (--budget-s %s)" % self.args.budget_s
            self.records.append(rec)
            return rec
        sync = self.tp.sync if (self.tp and name.startswith(("torch", "faiss"))) else (lambda: None)
        try:
            if self.torch is not None and self.device == "cuda":
                self.torch.cuda.reset_peak_memory_stats()
            st, out = Timer(sync)(fn, warmup, repeats)
            rec.update(st)
            if check:
                rec["result"] = check(out)
            if self.torch is not None and self.device == "cuda" and name.startswith("torch"):
                rec["gpu_peak_bytes"] = self.torch.cuda.max_memory_allocated()
        except Exception as e:  # a peer that fails (out of memory, say) is recorded, not fatal
            rec["skipped"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:300])
            print("peers_gpu: %s %s failed: %s" % (case, name, rec["skipped"]), file=sys.stderr)
        self.records.append(rec)
        return rec

    def peer_sets(self):
        """(label, peers object) pairs for the algorithms in torch and numpy"""
        s = []
        if self.tp:
            s.append(("torch", self.tp))
        if self.np_peers:
            s.append(("numpy", self.np_peers))
        return s


# ------------------------------------------------------------------------------------ the rows
class Table:
    def __init__(self, title):
        self.title = title
        self.rows = []

    def add(self, case, shape, lsc_rec, peer_name, peer_rec, floor_rec, agree=None):
        lm = lsc_rec.get("median") if lsc_rec else None
        pm = peer_rec.get("median") if peer_rec else None
        fm = floor_rec.get("floor_s") if floor_rec else None
        row = {"case": case, "shape": shape, "lsc_op": lsc_rec.get("op") if lsc_rec else None,
               "lsc_median": lm, "lsc_gpu_median": lsc_rec.get("gpu_median") if lsc_rec else None,
               "peer": peer_name, "peer_median": pm, "floor_s": fm,
               "lsc_over_peer": lm / pm if lm and pm else None,
               "lsc_over_floor": lm / fm if lm and fm else None, "agreement": agree,
               "skipped": (lsc_rec or {}).get("skipped") or (peer_rec or {}).get("skipped")}
        self.rows.append(row)
        return row

    def show(self):
        print("\n### %s\n" % self.title)
        print("| case | shape | lsc op | lsc median s | peer | peer median s | lsc/peer | "
              "floor s | lsc/floor | check |")
        print("|---|---|---|---|---|---|---|---|---|---|")

        def f(v, fmt):
            return "-" if v is None else fmt % v
        for r in self.rows:
            shape = " ".join("%s=%s" % kv for kv in r["shape"].items())
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%s" % (
                r["case"], shape, r["lsc_op"] or "-", f(r["lsc_median"], "%.4f"),
                r["peer"] or "-", f(r["peer_median"], "%.4f"), f(r["lsc_over_peer"], "%.3f"),
                f(r["floor_s"], "%.4f"), f(r["lsc_over_floor"], "%.2f"),
                "-" if r["agreement"] is None else r["agreement"],
                (" skipped: " + r["skipped"][:120]) if r["skipped"] else ""))


def prdc_agreement(lsc_rec, peer_res):
    if not lsc_rec or not peer_res or "result" not in lsc_rec:
        return None
    d = max(abs(lsc_rec["result"][key] - peer_res[key])
            for key in ("precision", "recall", "density", "coverage"))
    return "max |diff| %.2g" % d


def floor_for(floors, op, shape):
    return floors.get(op + ":" + json.dumps(shape, sort_keys=True))


# ------------------------------------------------------------------------------------ the suites
def suite_dsweep(b, sh):
    n = sh["dsweep_n"]
    tab = Table("kNN and PRDC against D (N = M = %d, k = %d, %s)" % (n, K, b.device))
    for d in sh["dsweep_d"]:
        if b.over_budget():
            b.skip("dsweep D=%d" % d, "over the time budget")
            continue
        x, y = b.files(n, d)
        floors = b.floor(["knn:%d:%d:%d" % (n, n, d), "prdc:%d:%d:%d" % (n, n, d)])
        L = b.lsc("knn", y, x)
        lk = L.get("knn", {})
        Lp = b.lsc("prdc", x, y, repeats=max(1, b.args.repeats if d <= 512 else 2))
        lp = Lp.get("prdc_total", {})
        X, Y = np.load(x), np.load(y)
        fk = floor_for(floors, "knn", {"q": n, "n": n, "d": d})
        fp = floor_for(floors, "prdc", {"n": n, "m": n, "d": d})
        shape = {"n": n, "m": n, "d": d, "k": K}
        for label, P in b.peer_sets():
            Xd, Yd = P.put(X), P.put(Y)

            def kth_sum(out):
                return {"kth_distance_sum": float(out[0][:, K - 1].sum())}
            r = b.peer("knn", label + "_cdist_topk" if label == "torch" else label + "_knn",
                       lambda: P.knn(Yd, Xd, K), shape, check=kth_sum)
            agree = None
            if lk.get("result") and r.get("result"):
                agree = "kth sum rel %.1e" % rel(lk["result"]["kth_distance_sum"],
                                                 r["result"]["kth_distance_sum"])
            tab.add("knn", shape, lk, r["tool"], r, fk, agree)
            r = b.peer("prdc", label + "_prdc", lambda: P.prdc(Xd, Yd, K), shape,
                       repeats=1 if d > 512 else None, check=lambda o: o)
            tab.add("prdc", shape, lp, r["tool"], r, fp, prdc_agreement(lp, r.get("result")))
            Xd = Yd = None  # the device memory goes back before the next D
        if b.faiss is not None:
            faiss = b.faiss

            def run_faiss():
                if b.device == "cuda":
                    res = faiss.StandardGpuResources()
                    index = faiss.GpuIndexFlatL2(res, d)
                else:
                    index = faiss.IndexFlatL2(d)
                index.add(X)
                return index.search(Y, K)
            name = "faiss_gpu_flatl2" if b.device == "cuda" else "faiss_flatl2"
            r = b.peer("knn", name, run_faiss, shape,
                       check=lambda o: {"kth_distance_sum": float(np.sqrt(
                           np.maximum(o[0][:, K - 1], 0)).sum())})
            agree = None
            if lk.get("result") and r.get("result"):
                agree = "kth sum rel %.1e" % rel(lk["result"]["kth_distance_sum"],
                                                 r["result"]["kth_distance_sum"])
            tab.add("knn", shape, lk, name, r, fk, agree)
        if not b.peer_sets() and b.faiss is None:
            tab.add("knn", shape, lk, None, None, fk)
            tab.add("prdc", shape, lp, None, None, fp)
        if b.torch is not None and b.device == "cuda":
            b.torch.cuda.empty_cache()
    tab.show()
    return tab.rows


def suite_monitor(b, sh):
    n, m, d = sh["monitor"]
    tab = Table("per-step monitoring: PRDC of %d x %d against a kept %d x %d reference (%s)"
                % (m, d, n, d, b.device))
    x, y = b.files(n, d, m)
    floors = b.floor(["monitor:%d:%d:%d" % (n, m, d)])
    fl = floor_for(floors, "monitor", {"n": n, "m": m, "d": d})
    L = b.lsc("monitor", x, y, repeats=max(b.args.repeats, 10))
    X, Y = np.load(x), np.load(y)
    shape = {"n": n, "m": m, "d": d, "k": K}
    for label, P in b.peer_sets():
        Xd, Yd = P.put(X), P.put(Y)
        rr = P.radii(Xd, K)  # the kept reference: built once, outside the timing
        r = b.peer("monitor", label + "_prdc_kept_radii", lambda: P.prdc(Xd, Yd, K, r_real=rr),
                   shape, repeats=max(b.args.repeats, 10), check=lambda o: o)
        for op in ("monitor_prdc", "monitor_prdc_async", "monitor_prdc_graph"):
            if op in L:
                tab.add("monitor", shape, L[op], r["tool"], r, fl,
                        prdc_agreement(L[op], r.get("result")))
    if not b.peer_sets():
        for op in ("monitor_prdc", "monitor_prdc_async", "monitor_prdc_graph"):
            if op in L:
                tab.add("monitor", shape, L[op], None, None, fl)
    tab.show()
    return tab.rows


def suite_spectrum(b, sh):
    n, d, batch = sh["spectrum"]
    tab = Table("spectrum of %d x %d (generated rows, %s)" % (n, d, b.device))
    gen = "gen:%d:%d:%d" % (n, d, SEED_REAL)
    floors = b.floor(["spectrum:%d:%d" % (n, d)])
    fl = floor_for(floors, "spectrum", {"n": n, "d": d})
    L = b.lsc("spectrum", gen, extra=["--batch", str(batch)], repeats=max(1, min(b.args.repeats, 3)))
    shape = {"n": n, "d": d}
    for label, P in b.peer_sets():
        if label == "torch":
            t = b.torch
            X = t.empty((n, d), dtype=t.float32, device=b.device)
            step = max(d, (1 << 26) // d * d)
            flat = X.view(-1)
            for e in range(0, n * d, step):
                c = min(step, n * d - e)
                flat[e:e + c] = gen_values_torch(t, e, c, SEED_REAL, 0.0, b.device)
        else:
            X = gen_values(0, n * d, SEED_REAL).reshape(n, d)

        def eig_check(lam):
            lam = lam.cpu().numpy() if hasattr(lam, "cpu") else lam
            return {"effective_rank": effective_rank_from_eigs(lam)}
        name = "torch_eigvalsh_cov64" if label == "torch" else "numpy_eigvalsh_cov64"
        r = b.peer("spectrum", name, lambda: P.covariance_eigs(X), shape,
                   repeats=max(1, min(b.args.repeats, 3)), check=eig_check)
        for op in ("spectrum", "spectrum_acc", "spectrum_async"):
            if op in L:
                agree = None
                if L[op].get("result") and r.get("result"):
                    agree = "eff. rank rel %.1e" % rel(L[op]["result"]["effective_rank"],
                                                       r["result"]["effective_rank"])
                tab.add("spectrum", shape, L[op], name, r, fl, agree)
        X = None
        if b.torch is not None and b.device == "cuda":
            b.torch.cuda.empty_cache()
    if not b.peer_sets():
        for op in ("spectrum", "spectrum_acc", "spectrum_async"):
            if op in L:
                tab.add("spectrum", shape, L[op], None, None, fl)
    tab.show()
    return tab.rows


def suite_pairs(b, sh):
    n, d = sh["pairs"]
    tab = Table("all-pairs statistics of %d x %d (%s)" % (n, d, b.device))
    x, _ = b.files(n, d)
    floors = b.floor(["pairs:%d:%d" % (n, d)])
    fl = floor_for(floors, "pairs", {"n": n, "d": d})
    L = b.lsc("pairs", x, repeats=max(1, min(b.args.repeats, 2)))
    lp = L.get("pairs", {})
    X = np.load(x)
    shape = {"n": n, "d": d}
    for label, P in b.peer_sets():
        Xd = P.put(X)
        r = b.peer("pairs", label + "_pairs", lambda: P.pairs(Xd), shape, warmup=0,
                   repeats=1, check=lambda o: o)
        agree = None
        if lp.get("result") and r.get("result"):
            agree = "mean rel %.1e, nn_mean rel %.1e" % (
                rel(lp["result"]["mean"], r["result"]["mean"]),
                rel(lp["result"]["nn_mean"], r["result"]["nn_mean"]))
        tab.add("pairs", shape, lp, r["tool"], r, fl, agree)
        Xd = None
    if not b.peer_sets():
        tab.add("pairs", shape, lp, None, None, fl)
    tab.show()
    return tab.rows


# the headline shapes first: when the time budget runs out, the D sweep's large D are cut
SUITES = {"monitor": suite_monitor, "spectrum": suite_spectrum, "pairs": suite_pairs,
          "dsweep": suite_dsweep}


def machine(b):
    m = {"host": platform.node(), "python": platform.python_version(), "numpy": np.__version__,
         "cores": os.cpu_count()}
    if b.torch is not None:
        m["torch"] = b.torch.__version__
        if b.device == "cuda":
            m["gpu"] = b.torch.cuda.get_device_name(0)
            m["cuda"] = b.torch.version.cuda
    if b.faiss is not None:
        m["faiss"] = b.faiss.__version__
    try:
        m["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem",
             "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    m["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return m


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--suite", default="all", help="all or a comma list of " + ",".join(SUITES))
    ap.add_argument("--scale", choices=["full", "small"], default=None,
                    help="issue shapes (default with cuda) or small ones (default with cpu)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default="/tmp/lsc-bench-data")
    ap.add_argument("--out", default=os.path.join(HERE, "results_gpu.json"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--timeout", type=int, default=900, help="seconds per lsc_bench call")
    ap.add_argument("--budget-s", type=float, default=0,
                    help="stop starting new cases after this many seconds (0: no limit)")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    scale = args.scale or ("full" if args.device == "cuda" else "small")
    suites = list(SUITES) if args.suite == "all" else args.suite.split(",")
    for s in suites:
        if s not in SUITES:
            ap.error("unknown suite %s" % s)
    b = Bench(args)
    run = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "command": " ".join(["python3", "bench/peers_gpu.py"] + sys.argv[1:]),
           "device": args.device, "scale": scale, "machine_before": machine(b)}
    tables = {}

    def save():
        """written after every suite, so a run cut short keeps what it measured"""
        run["machine_after"] = machine(b)
        run["skipped"] = b.skipped
        run["records"] = b.records
        old = {}
        if os.path.exists(args.out):
            try:
                with open(args.out) as f:
                    old = json.load(f)
            except ValueError:
                old = {}
        key = "%s/%s" % (args.device, scale)
        old.setdefault("runs", {})
        for s, rows in tables.items():
            old.setdefault("tables", {})["%s/%s" % (key, s)] = rows
            old["runs"]["%s/%s" % (key, s)] = run
        with open(args.out + ".tmp", "w") as f:
            json.dump(old, f, indent=1)
        os.replace(args.out + ".tmp", args.out)

    failed = []
    for s in suites:
        if b.over_budget():
            b.skip(s, "over the time budget (--budget-s %s)" % args.budget_s)
            continue
        t0 = time.time()
        try:
            tables[s] = SUITES[s](b, SHAPES[scale])
        except Exception as e:  # one suite's failure does not lose the others
            import traceback
            traceback.print_exc()
            b.skip("suite " + s, "%s: %s" % (type(e).__name__, e))
            failed.append(s)
        print("peers_gpu: suite %s took %.1f s" % (s, time.time() - t0), file=sys.stderr)
        save()
    print("\nwrote %s (%d records); skipped: %s" % (
        args.out, len(b.records), "; ".join("%s (%s)" % (s["what"], s["why"][:80])
                                           for s in b.skipped) or "nothing"))
    if b.failures:
        print("peers_gpu: %d lsc_bench / lsc_gpu_floor runs failed (see 'skipped')" % b.failures,
              file=sys.stderr)
    return 1 if failed or b.failures else 0


if __name__ == "__main__":
    sys.exit(main())
