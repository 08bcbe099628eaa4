#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/ (standard
library only). Small valid files of every accepted kind and a few of every refused kind; the
generated files are committed. Regressions found by fuzzing live in the same folders under
names starting with "crash-" and are never removed by this script.

usage: python3 tests/fuzz/make_corpus.py [corpus-dir]
"""
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")

MASK = (1 << 64) - 1


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- .npy ------------------------------------------------------------------------------------
def npy(rows, cols, descr="<f4", fmt="<f", version=1, fortran=False, shape=None, header=None,
        align=64, cut=0, extra=b"", values=None):
    if shape is None:
        shape = "(%d, %d)" % (rows, cols)
    h = header if header is not None else "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", shape)
    pre = 10 if version == 1 else 12
    pad = (align - (pre + len(h) + 1) % align) % align if align else 0
    h = (h + " " * pad + "\n").encode("latin1" if version < 3 else "utf-8")
    out = b"\x93NUMPY" + bytes([version, 0])
    out += struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    out += h
    n = rows * cols
    vals = values if values is not None else [0.5 * i - 1.0 for i in range(n)]
    out += b"".join(struct.pack(fmt, v) for v in vals)
    out += extra
    if cut:
        out = out[:-cut]
    return out


def npy_corpus():
    t = "fuzz_npy"
    write(t, "v1_f4_3x2", npy(3, 2))
    write(t, "v1_f2_4x3", npy(4, 3, "<f2", "<e"))
    write(t, "v1_f8_2x2", npy(2, 2, "<f8", "<d"))
    write(t, "v2_f4_2x3", npy(2, 3, version=2))
    write(t, "v3_f4_2x2", npy(2, 2, version=3))
    write(t, "v1_fortran_2x3", npy(2, 3, fortran=True))
    write(t, "v1_fortran_1x4", npy(1, 4, fortran=True))
    write(t, "v1_be_f4_2x2", npy(2, 2, ">f4", ">f"))
    write(t, "v1_be_f8_2x2", npy(2, 2, ">f8", ">d"))
    write(t, "v1_native_f4", npy(2, 2, "=f4"))
    write(t, "v1_unaligned", npy(2, 2, align=0))
    write(t, "v1_f4_1x1", npy(1, 1))
    write(t, "v1_be_f2_2x3", npy(2, 3, ">f2", ">e"))
    write(t, "v1_pipe_f4", npy(2, 2, "|f4"))
    write(t, "v1_fortran_be_f8_3x2", npy(3, 2, ">f8", ">d", fortran=True))
    write(t, "v1_fortran_unaligned", npy(2, 3, fortran=True, align=0))
    write(t, "v1_shape_compact", npy(2, 2, shape="(2,2,)"))
    write(t, "bad_v3_text_after_dict", npy(2, 2, version=3,
                                   header="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), } \u00e9"))
    write(t, "v1_nan", npy(2, 2, values=[float("nan"), 1.0, float("inf"), 0.0]))
    # refused
    write(t, "bad_1d", npy(4, 1, shape="(4,)"))
    write(t, "bad_3d", npy(2, 2, shape="(1, 2, 2)"))
    write(t, "bad_zero_rows", npy(0, 3))
    write(t, "bad_zero_cols", npy(3, 0))
    write(t, "bad_list_descr", npy(2, 2, header="{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 2), }"))
    write(t, "bad_c8", npy(2, 1, "<c8", "<f", values=[1.0, 2.0, 3.0, 4.0]))
    write(t, "bad_bool", npy(2, 2, "|b1", "<B", values=[0, 1, 1, 0]))
    write(t, "bad_object", npy(2, 2, "|O", "<Q", values=[0, 0, 0, 0]))
    write(t, "bad_string", npy(2, 2, "|S4", "<I", values=[0, 0, 0, 0]))
    write(t, "bad_no_shape", npy(2, 2, header="{'descr': '<f4', 'fortran_order': False, }"))
    write(t, "bad_fortran_text", npy(2, 2, header="{'descr': '<f4', 'fortran_order': 1, 'shape': (2, 2), }"))
    write(t, "bad_i4", npy(2, 2, "<i4", "<i", values=[1, 2, 3, 4]))
    write(t, "bad_truncated", npy(3, 3, cut=5))
    write(t, "bad_trailing", npy(2, 2, extra=b"\0\0\0\0"))
    write(t, "bad_magic", b"\x93NUMPX" + npy(2, 2)[6:])
    write(t, "bad_version", npy(2, 2)[:6] + b"\x04\x00" + npy(2, 2)[8:])
    write(t, "bad_huge_shape", npy(1, 1, shape="(9223372036854775807, 9223372036854775807)"))
    write(t, "bad_overflow_shape", npy(1, 1, shape="(4294967296, 4294967296)"))
    write(t, "bad_neg_shape", npy(1, 1, shape="(-1, 2)"))
    write(t, "bad_header_len", b"\x93NUMPY\x01\x00\xff\xff{'descr'")
    write(t, "bad_no_dict", npy(2, 2, header="[1, 2, 3]"))
    write(t, "bad_dup_key", npy(2, 2, header="{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }"))
    write(t, "bad_short", b"\x93NUMPY\x01")
    write(t, "empty", b"")


# ---- .fvecs ----------------------------------------------------------------------------------
def fvecs(rows, dims=None, d=2):
    out = b""
    for i in range(rows):
        di = dims[i] if dims else d
        out += struct.pack("<i", di)
        out += b"".join(struct.pack("<f", 0.25 * (i + j)) for j in range(max(di, 0)))
    return out


def fvecs_corpus():
    t = "fuzz_fvecs"
    write(t, "ok_3x2", fvecs(3, d=2))
    write(t, "ok_1x1", fvecs(1, d=1))
    write(t, "ok_4x5", fvecs(4, d=5))
    write(t, "bad_ragged", fvecs(3, dims=[2, 3, 2]))
    write(t, "bad_d0", fvecs(2, d=0))
    write(t, "bad_dneg", struct.pack("<i", -3) + b"\0" * 12)
    write(t, "bad_dhuge", struct.pack("<i", 0x7FFFFFFF) + b"\0" * 8)
    write(t, "bad_truncated", fvecs(3, d=2)[:-3])
    write(t, "bad_short", b"\x02\x00")
    write(t, "empty", b"")


# ---- reference files -------------------------------------------------------------------------
def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & MASK


def checksum(b):
    h, n = 0, len(b)
    b = b + b"\0" * ((8 - n % 8) % 8)
    for i in range(0, len(b), 8):
        w = struct.unpack_from("<Q", b, i)[0]
        h ^= (rotl((w * 0x87C37B91114253D5) & MASK, 31) * 0x4CF5AD432745937F) & MASK
        h = (rotl(h, 27) * 5 + 0x52DCE729) & MASK
    z = ((h ^ n) + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def reference(rows, k, metric=0, cmp=0, version=1, header_bytes=64, radii=None, zero=None,
              bad_sum=False, cut=0, extra=b""):
    x = rows
    n, d = len(x), len(x[0])
    if radii is None:
        radii = []
        for i in range(n):
            if metric == 0:
                ds = sorted(sum((a - b) ** 2 for a, b in zip(x[i], x[j])) for j in range(n) if j != i)
            else:
                ni = math.sqrt(sum(a * a for a in x[i]))
                ds = sorted(1 - sum(a * b for a, b in zip(x[i], x[j])) /
                            (ni * math.sqrt(sum(b * b for b in x[j]))) for j in range(n) if j != i)
                ds = [max(v, 0.0) for v in ds]
            radii.append(ds[k - 1] if metric == 0 else 2.0 * ds[k - 1])
    if zero is None:
        zero = sum(1 for r in radii if r == 0.0)
    # metric: 0 euclidean (radii squared), 2 cosine (radii 2 x (1 - cos)); 1 is refused
    h = b"\x89LSCREF\n" + struct.pack("<IIqqqiiqQ", version, header_bytes, n, d, k, metric, cmp, zero, 0)
    body = h + b"".join(struct.pack("<f", v) for r in x for v in r)
    body += b"".join(struct.pack("<d", r) for r in radii)
    s = checksum(body) ^ (1 if bad_sum else 0)
    out = body + struct.pack("<Q", s) + extra
    if cut:
        out = out[:-cut]
    return out


def reference_corpus():
    t = "fuzz_reference"
    # the first byte is the target's mode: bit 0 set makes it rewrite the trailing checksum
    def put(name, data, fix=0):
        write(t, name, bytes([fix]) + data)
    a = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 0.5]]
    put("ok_euclid_4x2_k1", reference(a, 1))
    put("ok_euclid_4x2_k3_inclusive", reference(a, 3, cmp=1))
    put("ok_cosine_5x3_k2", reference([[1.0, 0.2, 0.1], [0.1, 1.0, 0.3], [0.5, 0.5, 0.5],
                                       [0.9, 0.1, 0.0], [0.0, 0.2, 1.0]], 2, metric=2))
    put("ok_dups_zero_radii", reference([[1.0, 1.0]] * 3 + [[0.0, 2.0]], 1))
    put("ok_fixsum_4x2", reference(a, 1, bad_sum=True), fix=1)
    put("ok_1col", reference([[0.0], [1.0], [3.0]], 1))
    # refused
    put("bad_checksum", reference(a, 1, bad_sum=True))
    put("bad_magic", b"\x89LSCREX\n" + reference(a, 1)[8:])
    put("bad_future_version", reference(a, 1, version=2), fix=1)
    put("bad_version0", reference(a, 1, version=0), fix=1)
    put("bad_header_size", reference(a, 1, header_bytes=72), fix=1)
    put("bad_k_ge_rows", reference(a, 4, radii=[1.0] * 4), fix=1)
    put("bad_metric", reference(a, 1, metric=7), fix=1)
    put("bad_metric_sq", reference(a, 1, metric=1), fix=1)
    put("bad_cmp", reference(a, 1, cmp=-1), fix=1)
    put("bad_truncated", reference(a, 1, cut=9))
    put("bad_trailing", reference(a, 1, extra=b"\0" * 8), fix=1)
    put("bad_nan_radius", reference(a, 1, radii=[1.0, float("nan"), 1.0, 1.0]), fix=1)
    put("bad_neg_radius", reference(a, 1, radii=[1.0, -1.0, 1.0, 1.0]), fix=1)
    put("bad_zero_count", reference(a, 1, zero=3), fix=1)
    put("bad_nan_value", reference([[0.0, float("nan")], [1.0, 0.0], [1.0, 1.0]], 1,
                                   radii=[1.0, 1.0, 1.0]), fix=1)
    put("bad_cosine_zero_row", reference([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], 1, metric=2,
                                         radii=[1.0, 1.0, 1.0]), fix=1)
    hdr = bytearray(reference(a, 1)[:64])
    struct.pack_into("<qq", hdr, 16, 1 << 62, 1 << 62)
    put("bad_overflow_shape", bytes(hdr) + b"\0" * 8, fix=1)
    put("bad_short", b"\x89LSCREF\n\x01\x00")
    put("empty", b"")


# ---- command lines ---------------------------------------------------------------------------
def cli_corpus():
    t = "fuzz_cli_args"
    lines = {
        "report": ["report", "--real", "r.npy", "--fake", "f.npy", "--k", "5", "--inclusive",
                   "--dup-eps=1e-6", "--bins", "64", "--pairs-max-rows", "0", "--json", "-",
                   "--metric", "cosine", "--backend", "cpu", "--threads", "2", "--seed", "7",
                   "--dim-collapse-ratio", "0.5", "--mode-collapse-ratio", "0.5",
                   "--coverage-min", "0.5", "--precision-high", "0.7", "--precision-min", "0.5",
                   "--dup-fraction", "0.01", "--active-ratio", "0.5", "--active-threshold", "0.01"],
        "demo": ["demo", "--seed", "3", "--k", "4", "--threads", "1"],
        "spectrum": ["spectrum", "--input", "x.npy", "--active-threshold", "0.1"],
        "pairs": ["pairs", "--input=x.fvecs", "--bins=8", "--pairs-max-rows=100"],
        "knn": ["knn", "--queries", "q.npy", "--base", "b.npy", "--k", "3", "--out-dist", "d.npy",
                "--out-idx", "i.npy"],
        "prdc_ref": ["prdc", "--reference", "r.lscref", "--fake", "f.npy"],
        "ref_build": ["reference", "build", "--real", "r.npy", "--k", "3", "--out", "r.lscref"],
        "ref_inspect": ["reference", "inspect", "r.lscref", "--json", "out.json"],
        "ref_help": ["reference", "--help"],
        "help": ["--help"],
        "version": ["version"],
        "knn_help": ["knn", "-h"],
        "bad_k": ["knn", "--queries", "q.npy", "--k", "0"],
        "bad_k_text": ["prdc", "--k", "5x"],
        "bad_k_huge": ["prdc", "--k", "99999999999999999999999"],
        "bad_threads": ["spectrum", "--threads", "5000"],
        "bad_bins": ["pairs", "--bins", "100000001"],
        "bad_float": ["report", "--dup-eps", "nan"],
        "bad_float_neg": ["report", "--coverage-min", "-1"],
        "bad_pmr": ["pairs", "--pairs-max-rows", "1"],
        "bad_missing_value": ["report", "--real"],
        "bad_inclusive_value": ["prdc", "--inclusive=1"],
        "bad_unknown": ["report", "--nope"],
        "bad_long_option": ["report", "--" + "x" * 100],
        "bad_empty_option": ["report", "--", "--="],
        "bad_positional": ["spectrum", "x.npy"],
        "bad_command": ["frobnicate"],
        "bad_subcommand": ["reference", "frob"],
        "bad_reference": ["reference"],
        "bad_backend": ["knn", "--backend", "tpu"],
        "bad_metric": ["knn", "--metric", "manhattan"],
        "empty": [],
    }
    for name, argv in lines.items():
        write(t, name, b"\0".join(a.encode() for a in argv))


def main():
    npy_corpus()
    fvecs_corpus()
    reference_corpus()
    cli_corpus()
    n = sum(len(fs) for _, _, fs in os.walk(OUT))
    print("make_corpus: %d files under %s" % (n, OUT))


if __name__ == "__main__":
    main()
