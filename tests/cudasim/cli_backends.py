#!/usr/bin/env python3
"""The `lsc` command line with --backend cuda on the emulated device (LSC_CUDA=SIM) against
--backend cpu: report, spectrum, pairs, knn, prdc, reference build, fd, kid and mmd on float32, float16 and
float64 files, Fortran order included. Every JSON figure must agree (counts, histograms, ranks and
near-duplicate lists exactly; continuous figures within twice docs/METRICS.md's 2e-4), and the kNN
files must hold the same neighbours. Standard library only.
usage: cli_backends.py path/to/lsc scratch-dir"""
import json
import os
import random
import struct
import subprocess
import sys

LSC, DIR = sys.argv[1], sys.argv[2]
os.makedirs(DIR, exist_ok=True)
os.chdir(DIR)
ENV = dict(os.environ, LSC_SIM_DEVICES="1")


def npy(path, rows, descr="<f4", fmt="f", fortran=False):
    n, d = len(rows), len(rows[0])
    flat = [rows[i][j] for j in range(d) for i in range(n)] if fortran else [v for r in rows for v in r]
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': (%d, %d), }" % (descr, fortran, n, d)
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode("latin1"))
        f.write(struct.pack("<%d%s" % (len(flat), fmt), *flat))


def read_npy(path):
    b = open(path, "rb").read()
    hl = struct.unpack("<H", b[8:10])[0]
    header = b[10:10 + hl].decode("latin1")
    code = {"<f4": "f", "<i8": "q"}[header.split("'descr': '")[1].split("'")[0]]
    body = b[10 + hl:]
    return struct.unpack("<%d%s" % (len(body) // struct.calcsize(code), code), body)


rng = random.Random(5)
real = [[rng.gauss(0.0, 1.0) for _ in range(24)] for _ in range(900)]
# a mode-collapsed fake set: a few tight clusters, with exact duplicates
centres = [[rng.gauss(0.3, 1.0) for _ in range(24)] for _ in range(4)]
fake = [[c + rng.gauss(0.0, 0.05) for c in centres[i % 4]] for i in range(700)]
fake[10] = list(fake[3])
npy("real.npy", real)
npy("realF.npy", real, fortran=True)
npy("fake16.npy", fake, "<f2", "e")
npy("fake64.npy", fake, "<f8", "d")

failures = []


def run(args):
    p = subprocess.run([LSC] + args, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        failures.append("lsc %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()))
    return p.returncode == 0


def compare(x, y, path):
    if isinstance(x, dict):
        for k in x:
            if k in ("timings_ms", "backend", "device", "path"):
                continue
            if k not in y:
                failures.append("%s/%s: missing on cuda" % (path, k))
            else:
                compare(x[k], y[k], path + "/" + k)
    elif isinstance(x, list):
        if len(x) != len(y):
            failures.append("%s: %d entries on cpu, %d on cuda" % (path, len(x), len(y)))
        for i, (u, v) in enumerate(zip(x, y)):
            compare(u, v, "%s[%d]" % (path, i))
    elif isinstance(x, float) and isinstance(y, (int, float)):
        if abs(x - y) > max(1e-6, 4e-4 * max(abs(x), abs(y))):
            failures.append("%s: %r on cpu, %r on cuda" % (path, x, y))
    elif x != y:
        failures.append("%s: %r on cpu, %r on cuda" % (path, x, y))


def both(args, json_name):
    out = {}
    for b in ("cpu", "cuda"):
        if not run(args + ["--backend", b, "--json", "%s_%s.json" % (json_name, b)]):
            return
        out[b] = json.load(open("%s_%s.json" % (json_name, b)))
    if out["cuda"].get("backend") != "cuda":
        failures.append("%s: --backend cuda ran on %r" % (json_name, out["cuda"].get("backend")))
    compare(out["cpu"], out["cuda"], json_name)


both(["report", "--real", "real.npy", "--fake", "fake16.npy", "--k", "5"], "report")
both(["report", "--real", "realF.npy", "--fake", "fake64.npy", "--metric", "cosine", "--inclusive"], "report_cos")
both(["spectrum", "--input", "fake64.npy"], "spectrum")
both(["pairs", "--input", "fake16.npy", "--bins", "40", "--dup-eps", "0.01"], "pairs")
both(["pairs", "--input", "real.npy", "--pairs-max-rows", "300", "--seed", "9"], "pairs_subset")
both(["prdc", "--real", "real.npy", "--fake", "fake64.npy", "--k", "3"], "prdc")
both(["fd", "--real", "real.npy", "--fake", "fake16.npy"], "fd")
both(["kid", "--real", "realF.npy", "--fake", "fake64.npy", "--subsets", "2", "--subset-rows", "300"], "kid")
both(["mmd", "--real", "real.npy", "--fake", "fake64.npy", "--sigma", "3"], "mmd")
for b in ("cpu", "cuda"):
    run(["knn", "--queries", "fake16.npy", "--base", "real.npy", "--k", "7", "--backend", b,
         "--out-dist", "d_%s.npy" % b, "--out-idx", "i_%s.npy" % b])
    run(["reference", "build", "--real", "real.npy", "--k", "5", "--backend", b, "--out", "ref_%s.lscref" % b])
if os.path.exists("i_cpu.npy") and os.path.exists("i_cuda.npy"):
    if read_npy("i_cpu.npy") != read_npy("i_cuda.npy"):
        failures.append("knn: the neighbours differ")
    dc, dg = read_npy("d_cpu.npy"), read_npy("d_cuda.npy")
    if any(abs(a - b) > 2e-6 * max(1.0, abs(a)) for a, b in zip(dc, dg)):
        failures.append("knn: the distances differ")
for b in ("cpu", "cuda"):  # a reference built on one backend, used by the other
    other = "cuda" if b == "cpu" else "cpu"
    run(["prdc", "--reference", "ref_%s.lscref" % b, "--fake", "fake64.npy", "--backend", other,
         "--json", "prdc_ref_%s.json" % b])
if os.path.exists("prdc_ref_cpu.json") and os.path.exists("prdc_ref_cuda.json"):
    compare(json.load(open("prdc_ref_cpu.json"))["prdc"], json.load(open("prdc_ref_cuda.json"))["prdc"], "prdc_ref")

if failures:
    print("\n".join(failures[:40]))
    print("FAIL: %d differences between --backend cpu and --backend cuda" % len(failures))
    sys.exit(1)
print("ok: every command agrees between --backend cpu and --backend cuda (emulated device)")
