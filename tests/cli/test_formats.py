#!/usr/bin/env python3
"""`lsc` on the files users already have: one float32 set saved by numpy (.npy, .npz stored and
compressed), the safetensors package and h5py (contiguous and chunked + gzip), with the same
figures from every one; labels from each format; `lsc knn --out-*` to .npz, read by numpy.load.

usage: test_formats.py path/to/lsc   (a python with numpy, safetensors and h5py; SKIPPED if not)
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    from safetensors.numpy import save_file
except ImportError as e:  # the oracle venv predates these packages
    print("SKIPPED: %s (pip install -r tests/oracle/requirements.txt)" % e)
    sys.exit(0)

LSC = os.path.abspath(sys.argv[1])
d = tempfile.mkdtemp(prefix="lsc_formats_")
os.chdir(d)
rng = np.random.default_rng(5)
x = rng.standard_normal((200, 8)).astype(np.float32)
y = (np.arange(200) % 4).astype(np.int32)

np.save("x.npy", x)
np.savez("x.npz", feats=x, labels=y)
np.savez_compressed("xc.npz", feats=x)
save_file({"feats": x, "labels": y}, "x.safetensors")
with h5py.File("x.h5", "w") as f:
    f.create_dataset("emb/feats", data=x)
    f.create_dataset("emb/chunked", data=x, chunks=(32, 8), compression="gzip")
    f.create_dataset("labels", data=y)
os.makedirs("run:7", exist_ok=True)
np.savez("run:7/x.npz", feats=x)


def lsc(*args):
    r = subprocess.run([LSC] + list(args), capture_output=True, text=True)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    return r.stdout


def spectrum(spec):
    s = json.loads(lsc("spectrum", "--input", spec, "--json", "-"))["spectrum"]
    return {k: v for k, v in s.items() if k not in ("path",)}


want = spectrum("x.npy")
for spec in ["x.npz:feats", "xc.npz", "x.safetensors:feats", "x.h5:/emb/feats", "x.h5:emb/chunked",
             "run:7/x.npz:feats"]:
    got = spectrum(spec)
    assert got == want, (spec, got, want)

# knn to one .npz (both outputs), to a named member, and to .npy: numpy reads them all alike
lsc("knn", "--queries", "x.safetensors:feats", "--k", "3", "--out-dist", "o.npz", "--out-idx", "o.npz")
lsc("knn", "--queries", "x.npy", "--k", "3", "--out-dist", "d.npy", "--out-idx", "i.npy")
lsc("knn", "--queries", "x.npy", "--k", "3", "--out-dist", "n.npz:distances")
o = np.load("o.npz")
assert sorted(o.files) == ["dist", "idx"], o.files
assert o["dist"].dtype == np.float32 and o["idx"].dtype == np.int64 and o["idx"].shape == (200, 3)
assert np.array_equal(o["dist"], np.load("d.npy")) and np.array_equal(o["idx"], np.load("i.npy"))
assert np.load("n.npz").files == ["distances"]

# labels from every format (a report with --labels reads them; the classes are judged)
for lab in ["x.npz:labels", "x.safetensors:labels", "x.h5:/labels"]:
    r = json.loads(lsc("report", "--real", "x.npy", "--fake", "xc.npz", "--labels", lab,
                       "--splits", "4", "--json", "-"))
    assert "verdicts" in r, lab

# refusals: one line, exit 2
for args, what in [(["x.npz"], "choose one with x.npz:NAME"), (["x.pt"], "torch.load"),
                   (["x.csv"], "unknown file type")]:
    r = subprocess.run([LSC, "spectrum", "--input"] + args, capture_output=True, text=True)
    assert r.returncode == 2 and what in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
print("formats: every format gives the same figures; knn .npz outputs load in numpy")
