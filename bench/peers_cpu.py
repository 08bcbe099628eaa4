#!/usr/bin/env python3
"""peers_cpu.py: lsc's CPU backend against the Python peers, same .npy files, same run.

  python3 bench/peers_cpu.py [--suite targets|scaling|all] [--build DIR] [--data DIR] [--quick]
                             [--out FILE] [--lsc-workspace MiB]

Creates (or reuses) a virtual environment at $BENCH_VENV (default /tmp/lsc-bench-venv) with
numpy scipy scikit-learn prdc vendi-score faiss-cpu matplotlib (benchmark dependencies only,
never the library's; faiss-cpu is skipped with a printed reason if it does not install) and
re-runs itself inside it. Data: bench/make_data.py, seeded float32 .npy files in --data.

Every case (lsc or peer) runs in a subprocess of its own: its times come from its own clock
(warm-up then repeats, median) and its peak memory is that subprocess's maximum resident set
(os.wait4's ru_maxrss), so lsc's O((N + M) k) working memory is set against prdc's N x M
matrices. lsc is timed by lsc_bench (--build DIR/bench/lsc_bench). Ratios are peer / lsc
(> 1: lsc is faster / smaller). Writes bench/results_cpu.json and, for the scaling suite,
bench/scaling_n_cpu.png and bench/scaling_d_cpu.png. --lsc-workspace sets lsc's workspace limit
(default: the library's 256 MiB), the user's knob between speed and peak memory.

Suites:
  targets  the performance targets: PRDC at N = M = 20,000, D = 64 and 512, k = 5 (lsc vs prdc);
           exact kNN of 20,000 queries in 20,000 rows (lsc vs faiss IndexFlatL2, scikit-learn
           brute, kd-tree and ball-tree); spectrum vs numpy/scipy SVD; Vendi vs vendi-score.
  scaling  time against N (1e3 .. 1e5, D = 64) and against D (2 .. 8192, N = 5,000) for lsc kNN
           and PRDC, with faiss IndexFlatL2 and prdc.compute_prdc beside them.
"""
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # make_data is imported from bench/
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.environ.get("BENCH_VENV", "/tmp/lsc-bench-venv")
PACKAGES = ["numpy", "scipy", "scikit-learn", "prdc", "vendi-score", "matplotlib"]
SEED_REAL, SEED_FAKE, SHIFT = 20261125, 20261126, 0.1


# ------------------------------------------------------------------------------------------ venv
def ensure_venv():
    py = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(py):
        print("creating %s" % VENV, file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    mark = os.path.join(VENV, ".lsc-bench-installed")
    if not os.path.exists(mark):
        subprocess.check_call([py, "-m", "pip", "install", "-q"] + PACKAGES)
        r = subprocess.run([py, "-m", "pip", "install", "-q", "faiss-cpu"])
        if r.returncode != 0:
            print("faiss-cpu did not install (pip exit %d): the faiss cases are skipped"
                  % r.returncode, file=sys.stderr)
        open(mark, "w").close()
    os.execv(py, [py] + sys.argv)


# ------------------------------------------------------------------------------------ the child
def child(spec):
    """Runs one peer case in this process; prints 'RESULT {json}'."""
    import numpy as np
    s = json.loads(spec)
    X = np.load(s["x"])
    Y = np.load(s["y"]) if s.get("y") else None
    k, peer = s["k"], s["peer"]
    if peer == "prdc":
        import prdc
        import contextlib

        def fn():
            with contextlib.redirect_stdout(sys.stderr):  # compute_prdc prints to stdout
                return prdc.compute_prdc(real_features=X, fake_features=Y, nearest_k=k)
    elif peer.startswith("sklearn_"):
        from sklearn.neighbors import NearestNeighbors
        algo = peer[len("sklearn_"):]

        def fn():
            nn = NearestNeighbors(n_neighbors=k, algorithm=algo, n_jobs=-1).fit(X)
            return nn.kneighbors(Y)
    elif peer == "faiss_flatl2":
        import faiss

        def fn():
            index = faiss.IndexFlatL2(X.shape[1])
            index.add(X)
            return index.search(Y, k)
    elif peer == "numpy_svd":
        def fn():
            return np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    elif peer == "scipy_svd":
        import scipy.linalg

        def fn():
            return scipy.linalg.svd(X - X.mean(axis=0), compute_uv=False, check_finite=False)
    elif peer == "vendi_score":
        from vendi_score import vendi

        def fn():
            return vendi.score_dual(X, q=1, normalize=True)
    elif peer == "baseline":  # python + numpy + the loaded inputs, nothing computed
        def fn():
            return None
    else:
        raise SystemExit("unknown peer " + peer)
    times = []
    for r in range(s["warmup"] + s["repeats"]):
        t0 = time.perf_counter()
        out = fn()
        t = time.perf_counter() - t0
        if r >= s["warmup"]:
            times.append(t)
    extra = {}
    if peer == "prdc":
        extra = {key: float(v) for key, v in out.items()}
    elif peer == "vendi_score":
        extra = {"vendi": float(out)}
    times.sort()
    print("RESULT " + json.dumps({"times": times, "extra": extra}))


# ----------------------------------------------------------------------------------- the parent
def run_measured(cmd, timeout):
    """Runs cmd; returns (rc, stdout, stderr, max RSS in kB, wall s). rc None on timeout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.time()
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        rc, ru = None, None
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                rc = os.waitstatus_to_exitcode(status)
                p.returncode = rc
                break
            if time.time() - t0 > timeout:
                p.kill()
                _, status, ru = os.wait4(p.pid, 0)
                p.returncode = -9
                break
            time.sleep(0.05)
        wall = time.time() - t0
        out.seek(0)
        err.seek(0)
        return rc, out.read().decode(), err.read().decode(), ru.ru_maxrss, wall


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


class Bench:
    def __init__(self, args):
        self.build = args.build
        self.data = args.data
        self.records = []
        self.lsc_bin = os.path.join(self.build, "bench", "lsc_bench")
        self.workspace = args.lsc_workspace  # MiB, 0: the library's default (256 MiB)
        if not os.path.exists(self.lsc_bin):
            raise SystemExit("no %s: build it first (see RESULTS.md)" % self.lsc_bin)
        try:
            import faiss  # noqa: F401
            self.have_faiss = True
        except ImportError as e:
            print("faiss-cpu is not importable (%s): its cases are skipped" % e, file=sys.stderr)
            self.have_faiss = False

    def files(self, n, d, m=None):
        sys.path.insert(0, HERE)
        import make_data
        x = make_data.make(self.data, n, d, SEED_REAL)
        y = make_data.make(self.data, m or n, d, SEED_FAKE, SHIFT)
        return x, y

    def lsc(self, op, x, y, k, repeats, timeout=1800):
        cmd = [self.lsc_bin, op, "--x", x] + (["--y", y] if y else []) + \
              ["--k", str(k), "--repeats", str(repeats)] + \
              (["--workspace", str(self.workspace)] if self.workspace else [])
        rc, out, err, rss, wall = run_measured(cmd, timeout)
        if rc != 0:
            print("lsc_bench failed (%s): %s" % (rc, err.strip()), file=sys.stderr)
            return {}
        lines = {}
        for line in out.splitlines():
            j = json.loads(line)
            j["max_rss_kb"] = rss  # the whole process: every op it timed, inputs included
            j["tool"] = "lsc"
            j = portable(j, self.data)
            lines[j["op"]] = j
            self.records.append(j)
            print(json.dumps(j))
        return lines

    def peer(self, case, peer, x, y, k, repeats, warmup, shape, timeout=1800):
        spec = json.dumps({"peer": peer, "x": x, "y": y, "k": k, "repeats": repeats,
                           "warmup": warmup})
        cmd = [sys.executable, os.path.abspath(__file__), "--child", spec]
        rc, out, err, rss, wall = run_measured(cmd, timeout)
        rec = {"tool": peer, "op": case, "shape": shape, "max_rss_kb": rss,
               "command": " ".join(cmd[:3]) + " '" + spec + "'"}
        res = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if rc != 0 or not res:
            rec["skipped"] = ("timed out after %d s" % timeout if rc is None else
                              "exit %s: %s" % (rc, err.strip().splitlines()[-1:] or ""))
            print("peer %s skipped: %s" % (peer, rec["skipped"]), file=sys.stderr)
        else:
            r = json.loads(res[0][len("RESULT "):])
            t = r["times"]
            rec.update({"median": median(t), "min": t[0], "spread": t[-1] - t[0],
                        "repeats": repeats, "warmup": warmup, "extra": r["extra"]})
        rec = portable(rec, self.data)
        self.records.append(rec)
        print(json.dumps(rec))
        return rec


def portable(value, data_dir):
    """`value` with this machine's paths written as a reader elsewhere runs it: the repository's
    own paths relative to its root, the data directory as <data> (--data), the interpreter as
    python3. Applied to every string of a record, nested ones too."""
    if isinstance(value, dict):
        return {k: portable(v, data_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, data_dir) for v in value]
    if not isinstance(value, str):
        return value
    for path, name in ((sys.executable, "python3"), (os.path.abspath(data_dir), "<data>"),
                       (data_dir, "<data>"), (ROOT + os.sep, "")):
        if path:
            value = value.replace(path, name)
    return value


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    osr = "?"
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                osr = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {"os": osr, "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


def ratio(a, b):
    return None if not a or not b else a / b


def suite_targets(b, quick):
    n = 2000 if quick else 20000
    k = 5
    rows = []
    for d in (64, 512):
        x, y = b.files(n, d)
        shape = {"n": n, "m": n, "d": d, "k": k}
        base = b.peer("baseline", "baseline", x, y, k, 1, 0, shape)
        # PRDC: reference + prdc (what compute_prdc does in one call)
        L = b.lsc("prdc", x, y, k, 3)
        p = b.peer("prdc", "prdc", x, y, k, 1, 0, shape)
        lt = L.get("prdc_total", {})
        rows.append(("prdc", d, "prdc.compute_prdc", p, lt))
        # exact kNN: 20,000 queries (y) among 20,000 rows (x)
        L = b.lsc("knn", y, x, k, 3)
        lk = L.get("knn", {})
        knn_peers = ["sklearn_brute"] + (["faiss_flatl2"] if b.have_faiss else [])
        if d == 64:
            knn_peers += ["sklearn_kd_tree", "sklearn_ball_tree"]
        for peer in knn_peers:
            # the trees are slow at D = 64: one timed call, no warm-up
            tree = peer.endswith("tree")
            p = b.peer("knn", peer, x, y, k, 1 if tree else 3, 0 if tree else 1, shape,
                       timeout=900)
            rows.append(("knn", d, peer, p, lk))
        # spectrum and Vendi: lsc_spectrum computes both (and every other figure)
        L = b.lsc("spectrum", x, None, k, 5)
        ls = L.get("spectrum", {})
        for peer in ("numpy_svd", "scipy_svd", "vendi_score"):
            p = b.peer("spectrum", peer, x, None, k, 5, 1, shape)
            rows.append(("spectrum", d, peer, p, ls))
        rows.append(("baseline", d, "python+numpy+inputs", base, {}))
    print("\n| op | D | peer | peer median s | lsc median s | time peer/lsc | peer max RSS MiB"
          " | lsc max RSS MiB | memory peer/lsc |")
    print("|---|---|---|---|---|---|---|---|---|")
    table = []
    for op, d, peer, p, l in rows:
        pm, lm = p.get("median"), l.get("median")
        pr, lr = p.get("max_rss_kb"), l.get("max_rss_kb")
        t = {"op": op, "d": d, "n": n, "peer": peer, "peer_median": pm, "lsc_median": lm,
             "time_ratio": ratio(pm, lm), "peer_rss_kb": pr, "lsc_rss_kb": lr,
             "memory_ratio": ratio(pr, lr), "skipped": p.get("skipped")}
        table.append(t)

        def f(v, fmt):
            return "-" if v is None else fmt % v
        print("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            op, d, peer, f(pm, "%.3f"), f(lm, "%.3f"), f(t["time_ratio"], "%.1fx"),
            f(pr and pr / 1024, "%.0f"), f(lr and lr / 1024, "%.0f"),
            f(t["memory_ratio"], "%.1fx")) + (" skipped: " + p["skipped"] if p.get("skipped")
                                             else ""))
    return table


def suite_scaling(b, quick):
    k = 5
    ns = [1000, 3000] if quick else [1000, 3000, 10000, 30000, 100000]
    ds = [2, 64, 512] if quick else [2, 8, 32, 128, 512, 2048, 8192]
    nd = 1000 if quick else 5000
    out = {"n": [], "d": []}
    for n in ns:
        x, y = b.files(n, 64)
        shape = {"n": n, "m": n, "d": 64, "k": k}
        rep = 3 if n <= 10000 else 1
        rec = {"n": n}
        rec["lsc_knn"] = b.lsc("knn", y, x, k, rep).get("knn", {}).get("median")
        rec["lsc_prdc"] = b.lsc("prdc", x, y, k, rep).get("prdc_total", {}).get("median")
        if b.have_faiss:
            rec["faiss_knn"] = b.peer("knn", "faiss_flatl2", x, y, k, rep, 1, shape).get("median")
        if n <= 20000:  # prdc keeps three N x N float32 matrices: 3 x 40 GB at 1e5
            rec["prdc_prdc"] = b.peer("prdc", "prdc", x, y, k, 1, 0, shape).get("median")
        out["n"].append(rec)
    for d in ds:
        x, y = b.files(nd, d)
        shape = {"n": nd, "m": nd, "d": d, "k": k}
        rec = {"d": d}
        rep = 3 if d <= 512 else 1
        rec["lsc_knn"] = b.lsc("knn", y, x, k, rep).get("knn", {}).get("median")
        rec["lsc_prdc"] = b.lsc("prdc", x, y, k, rep).get("prdc_total", {}).get("median")
        if b.have_faiss:
            rec["faiss_knn"] = b.peer("knn", "faiss_flatl2", x, y, k, rep, 1, shape).get("median")
        rec["prdc_prdc"] = b.peer("prdc", "prdc", x, y, k, 1, 0, shape).get("median")
        out["d"].append(rec)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for key, xlabel, fname, title in (
            ("n", "N = M (D = 64, k = 5)", "scaling_n_cpu.png", "time against N"),
            ("d", "D (N = M = %d, k = 5)" % nd, "scaling_d_cpu.png", "time against D")):
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for series, label, style in (("lsc_knn", "lsc kNN", "o-"),
                                     ("faiss_knn", "faiss IndexFlatL2 kNN", "o--"),
                                     ("lsc_prdc", "lsc PRDC (reference + prdc)", "s-"),
                                     ("prdc_prdc", "prdc.compute_prdc", "s--")):
            pts = [(r[key], r[series]) for r in out[key] if r.get(series)]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
        ax.set_xscale("log", base=10 if key == "n" else 2)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("median seconds")
        ax.set_title("lsc CPU backend, %s (%s)" % (title, machine()["cpu"]))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(HERE, fname), dpi=110)
        plt.close(fig)
        print("wrote %s" % os.path.join(HERE, fname))
    print("\n| N | lsc kNN s | faiss kNN s | lsc PRDC s | prdc s |")
    print("|---|---|---|---|---|")
    for r in out["n"]:
        print("| %s |" % " | ".join(["%d" % r["n"]] + [
            "-" if r.get(s) is None else "%.3f" % r[s]
            for s in ("lsc_knn", "faiss_knn", "lsc_prdc", "prdc_prdc")]))
    print("\n| D | lsc kNN s | faiss kNN s | lsc PRDC s | prdc s |")
    print("|---|---|---|---|---|")
    for r in out["d"]:
        print("| %s |" % " | ".join(["%d" % r["d"]] + [
            "-" if r.get(s) is None else "%.3f" % r[s]
            for s in ("lsc_knn", "faiss_knn", "lsc_prdc", "prdc_prdc")]))
    return out


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", choices=["targets", "scaling", "all"], default="all")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default="/tmp/lsc-bench-data")
    ap.add_argument("--quick", action="store_true", help="small shapes, to try the script")
    ap.add_argument("--out", default=os.path.join(HERE, "results_cpu.json"))
    ap.add_argument("--lsc-workspace", type=int, default=0, metavar="MiB",
                    help="lsc's workspace limit (lsc_ctx_params.workspace_limit) in MiB; "
                         "0: the library's default, 256 MiB")
    args = ap.parse_args()
    b = Bench(args)
    # a partial suite updates the file left by another one (targets and scaling run apart)
    old = {}
    if args.suite != "all" and os.path.exists(args.out):
        with open(args.out) as f:
            old = json.load(f)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": portable(" ".join(["python3", "bench/peers_cpu.py"] + sys.argv[1:]), args.data),
              "data": "<data> in the commands: the --data directory, %s here" % (
                  "the default" if args.data == "/tmp/lsc-bench-data" else "another"),
              "machine_before": machine(),
              # the CPU backend's kNN and PRDC use AMX where the CPU has it (include/lsc.h);
              # LSC_CPU_AMX=0 measures the float32 GEMM path instead
              "lsc_cpu_amx": os.environ.get("LSC_CPU_AMX", "unset (AMX where available)"),
              "lsc_workspace_mib": args.lsc_workspace or "default (256)"}
    if args.suite in ("targets", "all"):
        result["targets"] = suite_targets(b, args.quick)
    if args.suite in ("scaling", "all"):
        result["scaling"] = suite_scaling(b, args.quick)
    result["machine_after"] = machine()
    result["records"] = b.records
    if old:
        old[args.suite] = result[args.suite]
        old.setdefault("runs", {})[args.suite] = {
            key: result[key] for key in ("date", "command", "machine_before", "machine_after",
                                         "records")}
        result = old
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    run = result["runs"][args.suite] if old else result
    print("wrote %s; load: %s / %s" % (args.out, run["machine_before"]["uptime"],
                                      run["machine_after"]["uptime"]))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        ensure_venv()
        main()
