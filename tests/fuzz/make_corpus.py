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


def knn_radii(x, k, metric):
    """The k-th neighbour's internal value of each row: squared euclidean, or 2 x cosine."""
    n, radii = len(x), []
    for i in range(n):
        if metric == 0:
            ds = sorted(sum((a - b) ** 2 for a, b in zip(x[i], x[j])) for j in range(n) if j != i)
        else:
            ni = math.sqrt(sum(a * a for a in x[i]))
            ds = sorted(1 - sum(a * b for a, b in zip(x[i], x[j])) /
                        (ni * math.sqrt(sum(b * b for b in x[j]))) for j in range(n) if j != i)
            ds = [max(v, 0.0) for v in ds]
        radii.append(ds[k - 1] if metric == 0 else 2.0 * ds[k - 1])
    return radii


def reference(rows, k, metric=0, cmp=0, version=1, header_bytes=64, radii=None, zero=None,
              bad_sum=False, cut=0, extra=b""):
    """A version-1 file (host/reference_file.c): 64-byte header, rows, radii, one checksum."""
    x = rows
    n, d = len(x), len(x[0])
    if radii is None:
        radii = knn_radii(x, k, metric)
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


def align64(x):
    return (x + 63) // 64 * 64


def reference_v2(rows, k, metric=0, cmp=0, radii=None, zero=None, extra_sections=(),
                 order=None, header=None, entries=None, sums=None, gap=0, cut=0, extra=b""):
    """A version-2 file (host/reference_file.c): 128-byte header, a table of 32-byte entries
    {tag, flags, offset, length, checksum}, the sections ('ROWS', 'RADV', then extra_sections,
    each (tag, flags, bytes)) in table order, placed in the file in `order` (table indices), each
    at the next 64-byte boundary (`gap` more bytes before the second). Every checksum is right
    unless sums={"header"|"table"|tag: xor} damages one; header={offset: (fmt, value)} and
    entries={(index, field offset): (fmt, value)} edit fields before the checksums are taken."""
    x = rows
    n, d = len(x), len(x[0])
    if radii is None:
        radii = knn_radii(x, k, metric)
    if zero is None:
        zero = sum(1 for r in radii if r == 0.0)
    sums = sums or {}
    secs = [(b"ROWS", 1, b"".join(struct.pack("<f", v) for r in x for v in r)),
            (b"RADV", 1, b"".join(struct.pack("<d", r) for r in radii))] + list(extra_sections)
    order = list(range(len(secs))) if order is None else order
    body = bytearray(128 + 32 * len(secs))
    for pos, i in enumerate(order):
        tag, flags, data = secs[i]
        body += b"\0" * (align64(len(body)) - len(body) + (gap if pos == 1 else 0))
        s = checksum(data) ^ sums.get(tag, 0)
        struct.pack_into("<4sIQQQ", body, 128 + 32 * i, tag, flags, len(body), len(data), s)
        body += data
    for (i, off), (fmt, v) in (entries or {}).items():
        struct.pack_into(fmt, body, 128 + 32 * i + off, v)
    struct.pack_into("<8sIIII", body, 0, b"\x89LSCREF\n", 2, 128, len(secs), 0)
    struct.pack_into("<qqqiiq", body, 24, n, d, k, metric, cmp, zero)
    for off, (fmt, v) in (header or {}).items():
        struct.pack_into(fmt, body, off, v)
    count = min(struct.unpack_from("<I", body, 16)[0], len(secs))
    table = checksum(bytes(body[128:128 + 32 * count])) ^ sums.get("table", 0)
    struct.pack_into("<Q", body, 64, table)
    struct.pack_into("<Q", body, 120, checksum(bytes(body[:120])) ^ sums.get("header", 0))
    out = bytes(body) + extra
    return out[:-cut] if cut else out


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
    put("bad_future_version", reference(a, 1, version=3), fix=1)
    put("bad_v1_header_says_v2", reference(a, 1, version=2), fix=1)
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
    reference_v2_corpus(put, a)


def reference_v2_corpus(put, a):
    """Version 2: what lsc writes, what a later writer may add, and a file of each refusal."""
    c5 = [[1.0, 0.2, 0.1], [0.1, 1.0, 0.3], [0.5, 0.5, 0.5], [0.9, 0.1, 0.0], [0.0, 0.2, 1.0]]
    opt = (b"SPLT", 0, bytes(range(1, 41)))
    put("v2_ok_euclid_4x2_k1", reference_v2(a, 1))
    put("v2_ok_euclid_4x2_k3_inclusive", reference_v2(a, 3, cmp=1))
    put("v2_ok_cosine_5x3_k2", reference_v2(c5, 2, metric=2))
    put("v2_ok_dups_zero_radii", reference_v2([[1.0, 1.0]] * 3 + [[0.0, 2.0]], 1))
    put("v2_ok_1col", reference_v2([[0.0], [1.0], [3.0]], 1))
    put("v2_ok_optional_last", reference_v2(a, 1, extra_sections=[opt]))
    put("v2_ok_optional_first", reference_v2(a, 2, extra_sections=[opt], order=[2, 0, 1]))
    put("v2_ok_optional_empty_between", reference_v2(a, 1, extra_sections=[(b"LBLS", 0, b"")],
                                                     order=[0, 2, 1]))
    put("v2_ok_radv_first", reference_v2(c5, 1, metric=2, order=[1, 0]))
    put("v2_ok_fixsum", reference_v2(a, 1, sums={b"ROWS": 1, "table": 2, "header": 3}), fix=1)
    # refused
    put("v2_bad_header_checksum", reference_v2(a, 1, sums={"header": 1}))
    put("v2_bad_table_checksum", reference_v2(a, 1, sums={"table": 1}))
    put("v2_bad_rows_checksum", reference_v2(a, 1, sums={b"ROWS": 1}))
    put("v2_bad_radv_checksum", reference_v2(a, 1, sums={b"RADV": 1}))
    put("v2_bad_unknown_required", reference_v2(a, 1, extra_sections=[(b"SPLT", 1, b"\1" * 8)]))
    put("v2_bad_version3", reference_v2(a, 1, header={8: ("<I", 3)}), fix=1)
    put("v2_bad_header_size", reference_v2(a, 1, header={12: ("<I", 64)}), fix=1)
    put("v2_bad_flags", reference_v2(a, 1, header={20: ("<I", 1)}), fix=1)
    put("v2_bad_reserved", reference_v2(a, 1, header={100: ("<B", 1)}), fix=1)
    put("v2_bad_section_count", reference_v2(a, 1, header={16: ("<I", 0xFFFFFFFF)}), fix=1)
    put("v2_bad_table_past_end", reference_v2(a, 1, header={16: ("<I", 40)}), fix=1)
    put("v2_bad_dup_tag", reference_v2(a, 1, extra_sections=[(b"RADV", 1, b"\0" * 32)]))
    put("v2_bad_missing_radv", reference_v2(a, 1, entries={(1, 0): ("<4s", b"RADX"),
                                                                 (1, 4): ("<I", 0)}))
    put("v2_bad_known_optional", reference_v2(a, 1, entries={(0, 4): ("<I", 0)}))
    put("v2_bad_tag", reference_v2(a, 1, extra_sections=[(b"\0\1\2\3", 0, b"")]))
    put("v2_bad_overlap", reference_v2(a, 1, entries={(1, 8): ("<Q", 192)}))
    put("v2_bad_in_table", reference_v2(a, 1, entries={(0, 8): ("<Q", 128)}))
    put("v2_bad_misaligned", reference_v2(a, 1, entries={(1, 8): ("<Q", 232)}))
    put("v2_bad_gap", reference_v2(a, 1, gap=64))
    put("v2_bad_padding", reference_v2(a, 1)[:230] + b"\1" + reference_v2(a, 1)[231:])
    put("v2_bad_past_end", reference_v2(a, 1, entries={(1, 16): ("<Q", 1 << 62)}))
    put("v2_bad_offset_max", reference_v2(a, 1, entries={(0, 8): ("<Q", (1 << 64) - 64)}))
    put("v2_bad_length_mismatch", reference_v2(a, 1, header={32: ("<q", 3)}), fix=1)
    put("v2_bad_overflow_shape", reference_v2(a, 1, header={24: ("<q", 1 << 62),
                                                            32: ("<q", 1 << 62)}), fix=1)
    put("v2_bad_huge_shape", reference_v2(a, 1, header={24: ("<q", 1 << 40)},
                                          entries={(0, 16): ("<Q", 1 << 43),
                                                   (1, 16): ("<Q", 1 << 43)}), fix=1)
    put("v2_bad_truncated", reference_v2(a, 1, cut=9))
    put("v2_bad_trailing", reference_v2(a, 1, extra=b"\0" * 8))
    put("v2_bad_nan_radius", reference_v2(a, 1, radii=[1.0, float("nan"), 1.0, 1.0]))
    put("v2_bad_zero_count", reference_v2(a, 1, zero=3))
    put("v2_bad_cosine_zero_row", reference_v2([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], 1, metric=2,
                                               radii=[1.0, 1.0, 1.0]))
    put("v2_bad_short", reference_v2(a, 1)[:100])


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
        "report_distribution": ["report", "--real", "r.npy", "--fake", "f.npy", "--kid",
                                "--subsets", "10", "--subset-rows", "50", "--mmd", "--sigma",
                                "2", "--scale", "1"],
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
        "bad_kid_value": ["report", "--kid=1"],
        "bad_sigma_zero": ["report", "--mmd", "--sigma", "0"],
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


# ---- .npz and .safetensors (fuzz_npz, fuzz_safetensors) ------------------------------------------
# Each input is a mode byte (bits 0-1: no name, "x", a carried name, "a:b/c.npy"; bit 2: labels
# too), for a carried name its length byte and the name, then the file (fuzz_input_common.h).
def container(mode, data, name=b""):
    if mode & 3 == 2:
        return bytes([mode, len(name)]) + name + data
    return bytes([mode]) + data


def zip_of(members, method=None, force_zip64=False):
    import io
    import zipfile
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression=method or zipfile.ZIP_STORED) as z:
        for name, data in members:
            with z.open(name, "w", force_zip64=force_zip64) as f:
                f.write(data)
    return b.getvalue()


def npz_corpus():
    import zipfile
    t = "fuzz_npz"
    labels = npy(4, 1, "<i8", "<q", shape="(4,)", values=[0, 1, 2, 1])
    feats = npy(3, 2)
    two = zip_of([("feats.npy", feats), ("labels.npy", labels)], force_zip64=True)  # numpy's way
    one_c = zip_of([("x.npy", npy(2, 3, "<f8", "<d"))], zipfile.ZIP_DEFLATED)
    write(t, "two_named", container(2, two, b"feats"))
    write(t, "two_labels", container(2 | 4, two, b"labels"))
    write(t, "two_no_name", container(0, two))
    write(t, "one_deflated", container(0, one_c))
    write(t, "one_deflated_x", container(1 | 4, one_c))
    write(t, "one_fortran_f2", container(1, zip_of([("x.npy", npy(2, 3, "<f2", "<e", fortran=True))])))
    write(t, "name_with_colon", container(3, zip_of([("a:b/c.npy", feats)])))
    write(t, "dup_names", container(1, zip_of([("x.npy", feats), ("x.npy", feats)])))
    write(t, "not_npy", container(0, zip_of([("x.npy", b"hello")], zipfile.ZIP_DEFLATED)))
    write(t, "zeros_bomb", container(0, zip_of([("z.npy", npy(256, 256, values=[0.0] * 65536))],
                                               zipfile.ZIP_DEFLATED)))
    write(t, "truncated", container(0, two[: len(two) // 2]))
    write(t, "empty_zip", container(0, zip_of([])))


def st(header, data):
    import json
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors_corpus():
    t = "fuzz_safetensors"
    g = b"".join(struct.pack("<f", 0.5 * i) for i in range(6))
    lab = b"".join(struct.pack("<q", i % 3) for i in range(4))
    two = st({"__metadata__": {"a": "b"},
              "x": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]},
              "y": {"dtype": "I64", "shape": [4], "data_offsets": [24, 56]}}, g + lab)
    write(t, "two_x", container(1, two))
    write(t, "two_y_labels", container(2 | 4, two, b"y"))
    write(t, "two_no_name", container(0, two))
    for dt, size in (("F16", 2), ("BF16", 2), ("F64", 8), ("U8", 1), ("I32", 4)):
        write(t, "one_" + dt.lower(), container(4, st({"x": {"dtype": dt, "shape": [2, 3],
                                                            "data_offsets": [0, 6 * size]}},
                                                      b"\x01" * 6 * size)))
    write(t, "gap", container(1, st({"x": {"dtype": "F32", "shape": [1, 2], "data_offsets": [8, 16]}}, g[:16])))
    write(t, "overlap", container(1, st({"x": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]},
                                         "z": {"dtype": "F32", "shape": [1, 2], "data_offsets": [16, 24]}}, g)))
    write(t, "huge_shape", container(1, st({"x": {"dtype": "F32", "shape": [2**40, 2**30],
                                                   "data_offsets": [0, 24]}}, g)))
    write(t, "dup", container(1, b"\x30\x00\x00\x00\x00\x00\x00\x00" +
                              b'{"x":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"x":1}   '[:48] + g[:4]))
    write(t, "header_len_lie", container(0, struct.pack("<Q", 2**62) + b"{}"))
    write(t, "not_json", container(0, struct.pack("<Q", 8) + b"{\"x\":[1," ))
    write(t, "empty", container(0, b""))


def monitor_history_corpus():
    """Histories as lsc.Monitor(history_path=...) writes them (docs/FILES.md), whole and damaged."""
    import json
    t = "fuzz_monitor_history"

    def record(step, level="ok", warn=()):
        v = {"level": level, "statistic": {"name": "coverage", "value": 0.8, "matched": 0.79},
             "baseline": {"value": 0.8, "spread": 0.01, "method": "held-out"},
             "interval": [0.77, 0.83], "effect": 0.01, "score": 0.5, "lines": [0.03, 0.15],
             "why": "w"}
        return {"format": "lsc-monitor-history", "version": 1, "step": step, "asynchronous": False,
                "call_ms": 1.5, "spectrum": {"effective_rank": 10.0, "vendi_cosine": 9.0,
                                             "dims_90": 8, "active_units": 16},
                "prdc": {"precision": 0.9, "recall": 0.8, "density": 1.0, "coverage": 0.79,
                         "coverage_expected": 0.81},
                "verdict": level, "verdicts": {"mode_collapse": v}, "not_assessed": [],
                "trend": {"mode_collapse": 0.5 * step}, "trend_h": 8.0, "warnings": list(warn)}

    lines = [json.dumps(record(s, "collapse" if s == 3 else "ok",
                               ("mode_collapse",) if s == 2 else ())) for s in range(4)]
    write(t, "valid", ("\n".join(lines) + "\n").encode())
    write(t, "truncated", (lines[0] + "\n" + lines[1][: len(lines[1]) // 2]).encode())
    write(t, "no_verdicts", (json.dumps(dict(record(0), verdicts=None, trend=None)) + "\n").encode())
    write(t, "names", lines[0].replace('"mode_collapse"', '"m<i>&x"').encode() + b"\n")


def main():
    npy_corpus()
    fvecs_corpus()
    reference_corpus()
    cli_corpus()
    npz_corpus()
    safetensors_corpus()
    monitor_history_corpus()
    n = sum(len(fs) for _, _, fs in os.walk(OUT))
    print("make_corpus: %d files under %s" % (n, OUT))


if __name__ == "__main__":
    main()
