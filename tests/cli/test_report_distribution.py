#!/usr/bin/env python3
"""The distribution distances of `lsc report` (docs/METRICS.md section 10) against the commands
that compute them alone, and the report's options for them:

    python test_report_distribution.py PATH/TO/lsc

Needs numpy only. On seeded real and fake sets of different sizes (float32 .npy):
  - `lsc report --fake` carries `distribution.fd`, equal to `lsc fd` on the same files (the same
    computation: every figure bit for bit), and timings_ms.fd; no kid or mmd without their flags;
  - with --kid (--subsets, --subset-rows, --seed) and --mmd (--sigma, --scale) the report's
    `distribution.kid` and `distribution.mmd` equal `lsc kid` and `lsc mmd` with those options,
    with a saved reference (--reference) as with --real; the text report prints them;
  - refused with exit 2 and a message: --subsets / --subset-rows without --kid, --scale without
    --mmd, --sigma without --mmd or --geometry, --kid / --mmd without --fake, --kid=VALUE, --mmd
    on `lsc kid`.
Exit 0 when every check passes, 1 otherwise, 2 on a usage or environment error.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"report distribution: cannot import numpy ({e})", file=sys.stderr)
    sys.exit(2)

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def lsc_run(lsc, *args):
    return subprocess.run([lsc, *args, "--backend", "cpu", "--progress", "never"],
                          capture_output=True, text=True)


def run_json(lsc, *args):
    p = lsc_run(lsc, *args, "--json", "-")
    if p.returncode != 0:
        print(p.stdout, p.stderr, file=sys.stderr)
        raise SystemExit(f"lsc {' '.join(args)} exited {p.returncode}")
    return json.loads(p.stdout)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lsc = sys.argv[1]
    rng = np.random.default_rng(25)
    d = 12
    real = rng.standard_normal((260, d)).astype(np.float32)
    fake = (rng.standard_normal((220, d)) * 0.8 + 0.2).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        fr, ff = os.path.join(tmp, "real.npy"), os.path.join(tmp, "fake.npy")
        np.save(fr, real)
        np.save(ff, fake)
        pair = ["--real", fr, "--fake", ff]

        rep = run_json(lsc, "report", *pair)
        fd = run_json(lsc, "fd", *pair)["fd"]
        dist = rep.get("distribution", {})
        check(dist.get("fd") == fd, f"report fd = lsc fd ({fd['fd']:.10g})")
        check("kid" not in dist and "mmd" not in dist, "no kid or mmd without --kid / --mmd")
        check("fd" in rep["timings_ms"] and "kid" not in rep["timings_ms"],
              "timings_ms: fd, no kid")

        kid_opts = ["--subsets", "7", "--subset-rows", "90", "--seed", "3"]
        mmd_opts = ["--sigma", "2.5", "--scale", "10"]
        kid = run_json(lsc, "kid", *pair, *kid_opts)["kid"]
        mmd = run_json(lsc, "mmd", *pair, *mmd_opts)["mmd"]
        check(kid["subsets"] == 7 and kid["subset_rows"] == 90 and kid["seed"] == 3,
              "lsc kid took the options")
        rep = run_json(lsc, "report", *pair, "--kid", *kid_opts, "--mmd", *mmd_opts)
        dist = rep["distribution"]
        check(dist["fd"] == fd, "report --kid --mmd: fd unchanged")
        check(dist["kid"] == kid, f"report kid = lsc kid ({kid['mean']:.6g} +- {kid['std']:.3g})")
        check(dist["mmd"] == mmd, f"report mmd = lsc mmd ({mmd['mmd']:.6g})")
        check("kid" in rep["timings_ms"] and "mmd" in rep["timings_ms"], "timings_ms: kid, mmd")

        # a saved reference stands for the real set: its float32 rows are the same
        ref = os.path.join(tmp, "real.lscref")
        p = lsc_run(lsc, "reference", "build", "--real", fr, "--out", ref)
        check(p.returncode == 0, "reference build")
        rep = run_json(lsc, "report", "--reference", ref, "--fake", ff, "--kid", *kid_opts,
                       "--mmd", *mmd_opts)
        dist = rep["distribution"]
        check(dist["fd"] == fd and dist["kid"] == kid and dist["mmd"] == mmd,
              "report --reference: fd, kid, mmd as with --real")

        p = lsc_run(lsc, "report", *pair, "--kid", "--mmd", *mmd_opts)
        check(p.returncode == 0 and "Frechet distance" in p.stdout and "KID " in p.stdout and
              "MMD " in p.stdout, "text report prints fd, kid and mmd")

        for args, want in (
                (["report", *pair, "--subsets", "5"], "--subsets needs --kid"),
                (["report", *pair, "--subset-rows", "50"], "--subset-rows needs --kid"),
                (["report", *pair, "--sigma", "2"], "--sigma needs --mmd or --geometry"),
                (["report", *pair, "--kid", "--scale", "2"], "--scale needs --mmd"),
                (["report", "--real", fr, "--kid"], "--kid needs --fake"),
                (["report", "--real", fr, "--mmd"], "--mmd needs --fake"),
                (["report", *pair, "--kid=1"], "--kid takes no value"),
                (["report", *pair, "--mmd", "--sigma", "0"], "--sigma: must be > 0"),
                (["report", *pair, "--kid", "--subsets", "0"], "--subsets: 0 is below 1"),
                (["kid", *pair, "--mmd"], "unknown option '--mmd'")):
            p = lsc_run(lsc, *args)
            check(p.returncode == 2 and want in p.stderr,
                  f"refused: lsc {' '.join(a for a in args if not a.startswith(tmp))}: "
                  f"{p.stderr.strip()}")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
