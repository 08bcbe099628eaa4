#!/usr/bin/env python3
"""The private one-thread OpenBLAS against the linked BLAS with its thread count set around lsc's
parallel regions: two builds of lsc_bench (LSC_PRIVATE_BLAS=ON and OFF) alternated, run after
run, on the same inputs, so both see the same machine. Prints each operation's median time per
build and the ratio private / linked (below 1: the private copy is faster).

    python3 bench/blas_private.py --private build/bench/lsc_bench --linked OTHER/bench/lsc_bench
"""
import argparse
import json
import statistics
import subprocess

CASES = [
    ("knn", "gen:20000:64:1", None, 5),
    ("knn", "gen:20000:512:1", None, 5),
    ("prdc", "gen:20000:512:1", "gen:20000:512:2:0.1", 5),
    ("pairs", "gen:20000:64:1", None, 0),
    ("spectrum", "gen:200000:512:1", None, 0),
    ("spectrum", "gen:20000:2048:1", None, 0),
]


def run(binary, op, x, y, k, threads):
    cmd = [binary, op, "--x", x, "--repeats", "1", "--warmup", "1", "--threads", str(threads)]
    if y:
        cmd += ["--y", y]
    if k:
        cmd += ["--k", str(k)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--private", required=True, help="lsc_bench of the LSC_PRIVATE_BLAS=ON build")
    ap.add_argument("--linked", required=True, help="lsc_bench of the LSC_PRIVATE_BLAS=OFF build")
    ap.add_argument("--rounds", type=int, default=5, help="alternations per case (default 5)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    print("| operation | input | linked BLAS (s) | private copy (s) | private / linked |")
    print("|---|---|---|---|---|")
    for op, x, y, k in CASES:
        t = {"private": [], "linked": []}
        devices = {}
        for r in range(a.rounds):
            # alternate which build goes first, so neither always runs on a warmer machine
            order = ("private", "linked") if r % 2 == 0 else ("linked", "private")
            for which in order:
                res = run(getattr(a, which), op, x, y, k, a.threads)
                t[which].append(res["median"])
                devices[which] = res["device"]
        mp, ml = statistics.median(t["private"]), statistics.median(t["linked"])
        shape = x.split(":")[1] + " x " + x.split(":")[2]
        print(f"| {op} | {shape} | {ml:.3f} | {mp:.3f} | {mp / ml:.3f} |", flush=True)
    print()
    print("devices:", json.dumps(devices))


if __name__ == "__main__":
    main()
