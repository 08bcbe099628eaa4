"""The lsc command line under mpirun (README "Beyond one process", tools/par.c), against the
single-process CLI on the same files. Standard library only: the .npy files are written here.

  cli_mpirun.py LSC NP MPIRUN...   spectrum, pairs, knn and prdc under `MPIRUN -np NP`: the JSON
                                   figures of pairs (whole, --pairs-max-rows subsets, both
                                   metrics; counts, lists, histogram and bound exactly) and of
                                   spectrum (.npy in C and Fortran order and big-endian, a file of
                                   fewer rows than ranks, stored and deflated .npz, .safetensors)
                                   and the kNN lists (.npy bytes) equal one process's
                                   within docs/METRICS.md's tolerances, and prdc --real's figures
                                   (both metrics, strict and inclusive, files of fewer rows than
                                   ranks) exactly, and reference build's file (prdc --reference on
                                   it gives one process's figures, and so does prdc
                                   --reference under mpirun on either file); "ranks" is NP;
                                   every rank exits 0. With NP >= 2 also: an unsharded
                                   command (fd) and a missing MPI module (the library's and
                                   the CLI's) are refused with one message and exit 2 on every
                                   rank; a NaN in one rank's part gives exit 2 on every rank
                                   and names the file's row.
  cli_mpirun.py LSC report NP MPIRUN...
                                   lsc report under `MPIRUN -np NP` (report_checks): its
                                   sharded sections equal one process's; with NP >= 2 what has
                                   no sharded form is marked unavailable or refused by name.
  cli_mpirun.py LSC refusal        no mpirun: OMPI_COMM_WORLD_SIZE set by hand and the CLI's MPI
                                   module out of reach (as in an lsc built without MPI): exit 2
                                   with the refusal, nothing computed.
Exit 0 when every check passed."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def npy_image(rows, fortran=False, big=False):
    """A float32 .npy image of the list of rows (version 1.0)."""
    n, d = len(rows), len(rows[0])
    header = "{'descr': '%sf4', 'fortran_order': %s, 'shape': (%d, %d), }" % (
        ">" if big else "<", fortran, n, d)
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    vals = [rows[i][j] for j in range(d) for i in range(n)] if fortran else \
        [v for r in rows for v in r]
    return (b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() +
            struct.pack("%s%df" % (">" if big else "<", len(vals)), *vals))


def write_npy(path, rows, fortran=False, big=False):
    with open(path, "wb") as f:
        f.write(npy_image(rows, fortran, big))


def write_npz(path, rows, compressed):
    """numpy.savez's layout: the member x.npy, stored (its data misaligned in the archive, so
    the reader copies) or deflated (inflated whole, then cut to the part)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED) as z:
        z.writestr("x.npy", npy_image(rows))


def write_safetensors(path, rows):
    n, d = len(rows), len(rows[0])
    header = json.dumps({"x": {"dtype": "F32", "shape": [n, d], "data_offsets": [0, 4 * n * d]}})
    header += " " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header.encode())
        f.write(struct.pack("<%df" % (n * d), *[v for r in rows for v in r]))


def data(n, d, seed):
    """Rows with unequal column scales and an offset (the pivot-shift merge has work to do)."""
    s = seed * 0x9E3779B97F4A7C15 + 1
    rows = []
    for i in range(n):
        row = []
        for j in range(d):
            v = 0.0
            for _ in range(4):
                s = (s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
                v += (s >> 11) / 9007199254740992.0 - 0.5
            row.append(5.0 + v * (1.0 + j))
        rows.append(row)
    return rows


def env_without_mpi():
    """This script's environment with no trace of a launcher (the single-process runs)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("OMPI_", "PMIX_", "PMI_"))}


def run_single(lsc, args):
    p = subprocess.run([lsc] + args, env=env_without_mpi(), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def run_ranks(mpirun, np_, lsc, args, tmp, extra_env=None, last_env=None):
    """Each rank's exit code (through a shell that records it), and mpirun's stderr. last_env:
    variables for the last rank alone (an MPMD launch), to make it fail where the others do not."""
    for f in os.listdir(tmp):
        if f.startswith("rc."):
            os.remove(os.path.join(tmp, f))
    script = '"$0" "$@"; echo $? > "%s/rc.$OMPI_COMM_WORLD_RANK"' % tmp
    env = env_without_mpi()
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra_env or {})
    rank_cmd = ["sh", "-c", script, lsc] + args
    if last_env:
        last = ["env"] + ["%s=%s" % kv for kv in last_env.items()] + rank_cmd
        cmd = mpirun + ["-np", str(np_ - 1)] + rank_cmd + [":", "-np", "1"] + last
    else:
        cmd = mpirun + ["-np", str(np_)] + rank_cmd
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        check(False, "%s: no end after 60 s (ranks left waiting in a collective)" % " ".join(args))
        return [None] * np_, "", ""
    codes = []
    for r in range(np_):
        try:
            with open(os.path.join(tmp, "rc.%d" % r)) as f:
                codes.append(int(f.read()))
        except OSError:
            codes.append(None)
    return codes, p.stdout, p.stderr


def one_and_many(lsc, mpirun, np_, tmp, args, what, want_rc=0, skip_if=None):
    """`lsc ARGS --json` in one process, then under mpirun on np_ ranks: the two documents and
    the ranks' standard output, or
    None where either run failed (checked here: the single run exits want_rc, every rank with
    the same code, the ranks' document says np_ ranks). skip_if: a phrase of the single run's
    error that skips the case (a build without that input format)."""
    one, many = os.path.join(tmp, "one.json"), os.path.join(tmp, "many.json")
    rc, _, err = run_single(lsc, args + ["--json", one])
    if rc != 0 and skip_if and skip_if in err:
        print("skipped %s: %s" % (what, err.strip()))
        return None
    check(rc == want_rc, "single %s: exit %d, expected %d: %s" % (what, rc, want_rc, err))
    codes, out, err = run_ranks(mpirun, np_, lsc, args + ["--json", many], tmp)
    check(codes == [rc] * np_, "%s: rank exit codes %r, one process's %d: %s"
          % (what, codes, rc, err))
    if rc != want_rc or codes != [rc] * np_:
        return None
    with open(one) as f:
        want = json.load(f)
    with open(many) as f:
        got = json.load(f)
    check(got.get("ranks") == np_, "%s: ranks %r" % (what, got.get("ranks")))
    return want, got, out


def close(a, b, rel):
    return abs(a - b) <= max(rel * abs(b), 1e-9)


# continuous figures within 2e-4 relative (docs/METRICS.md "Tolerances the tests use"), alpha-ReQ
# within twice that; every integer exactly
TWICE = ("alpha_req", "alpha_req_r2")


def compare_json(got, want, path, what):
    if isinstance(want, dict):
        for k, v in want.items():
            if k in ("timings_ms", "ranks", "device"):
                continue
            check(k in got, "%s: %s%s missing" % (what, path, k))
            if k in got:
                compare_json(got[k], v, path + k + ".", what)
    elif isinstance(want, list):
        check(isinstance(got, list) and len(got) == len(want), "%s: %s length" % (what, path))
        if isinstance(got, list):
            for i, (g, w) in enumerate(zip(got, want)):
                compare_json(g, w, "%s[%d]." % (path, i), what)
    elif isinstance(want, float) and not isinstance(want, bool):
        rel = 4e-4 if any(path.endswith(t + ".") for t in TWICE) else 2e-4
        check(isinstance(got, (int, float)) and close(got, want, rel),
              "%s: %s %r vs one process's %r" % (what, path, got, want))
    else:
        check(got == want, "%s: %s %r vs one process's %r" % (what, path, got, want))


def pairs_checks(lsc, np_, mpirun, tmp, d):
    """lsc pairs under mpirun: its JSON equals one process's (counts, the histogram, its bound and
    the near-duplicate list with the file's row indices exactly; the rest within tolerance), on
    the whole set and on --pairs-max-rows subsets, in both metrics; rank 0 prints the figures."""
    rows = data(61, d, 4)
    # near duplicates across the ranks' parts (rows 3 and 58, 20 and 41, 40 and 41) and an exact
    # copy (row 10 at row 50): the list holds pairs of rows that different ranks read
    for a, b, eps in ((3, 58, 1e-4), (20, 41, 2e-4), (40, 41, 0.0), (10, 50, 0.0)):
        rows[b] = [v + eps for v in rows[a]]
    write_npy(os.path.join(tmp, "p.npy"), rows)
    write_npy(os.path.join(tmp, "pf.npy"), rows, fortran=True)
    write_npy(os.path.join(tmp, "p2.npy"), rows[:2])  # fewer rows than 3 ranks: empty parts
    runs = [("p.npy", []), ("pf.npy", ["--metric", "cosine"]), ("p2.npy", []),
            ("p.npy", ["--pairs-max-rows", "17", "--seed", "5"]),
            # more than any rank's part, fewer than the file: a subset all the same
            ("p.npy", ["--pairs-max-rows", "40"]),
            ("p.npy", ["--pairs-max-rows", "2", "--metric", "cosine"]),
            ("p.npy", ["--pairs-max-rows", "61"]),  # not a subset: all the rows
            ("p.npy", ["--bins", "7", "--dup-eps", "0.01"])]
    for name, extra in runs:
        what = "pairs %s %s np %d" % (name, " ".join(extra), np_)
        docs = one_and_many(lsc, mpirun, np_, tmp,
                            ["pairs", "--input", os.path.join(tmp, name)] + extra, what)
        if docs is None:
            continue
        want, got, out = docs
        pw, pg = want["pairwise"], got.get("pairwise", {})
        # the decisions exactly, not within a tolerance: counts, the list, the bins and the bound
        for k in ("near_duplicate_pairs", "near_duplicates", "histogram", "rows_used", "pairs",
                  "subset"):
            check(k not in pw or pg.get(k) == pw[k],
                  "%s: %s %r vs one process's %r" % (what, k, pg.get(k), pw.get(k)))
        compare_json(got, want, "", what)
        ranks_note = "%d rank%s)" % (np_, "s" if np_ > 1 else "")
        check(out.count("near-duplicate pairs") == 1 and ranks_note in out,
              "%s: rank 0 alone prints, naming %s: %r" % (what, ranks_note, out))
        if name == "p.npy" and not extra:
            check(pw["near_duplicate_pairs"] >= 2 and len(pw["near_duplicates"]) >= 2,
                  "%s: the set has no near duplicates to compare: %r" % (what, pw))


def prdc_files(tmp, d):
    """The real (47 rows) and fake (39) sets of prdc_checks and report_checks, their files, and
    pfnan.npy: the fake set with a NaN in the last rank's part."""
    real = data(47, d, 5)
    fake = data(39, d, 6)
    # fake rows on real rows that other ranks read, and a duplicate (a zero radius at k = 1):
    # matches across the parts
    for a, b in ((0, 38), (46, 1), (20, 20)):
        fake[b] = list(real[a])
    real[30] = list(real[29])
    write_npy(os.path.join(tmp, "pr.npy"), real)
    write_npy(os.path.join(tmp, "prf.npy"), real, fortran=True)
    write_npy(os.path.join(tmp, "pf.npy"), fake)
    write_npy(os.path.join(tmp, "pr2.npy"), real[:2])  # fewer rows than 3 ranks: empty parts
    write_npy(os.path.join(tmp, "pf2.npy"), fake[:2])
    bad = [list(r) for r in fake]
    bad[37][2] = float("nan")
    write_npy(os.path.join(tmp, "pfnan.npy"), bad)
    return real, fake


def prdc_checks(lsc, np_, mpirun, tmp, d):
    """lsc prdc --real under mpirun (each rank its part of the real and of the fake rows): its
    figures equal one process's exactly (they come from counts), in both metrics, strict and
    inclusive, with files of fewer rows than ranks; rank 0 alone prints. With NP >= 2 --reference
    is refused on every rank with one message, and a NaN in the last rank's part of the fake rows
    names the file's row."""
    real, fake = prdc_files(tmp, d)
    runs = [("pr.npy", "pf.npy", []), ("prf.npy", "pf.npy", ["--metric", "cosine"]),
            ("pr.npy", "pf.npy", ["--k", "3", "--inclusive"]),
            ("pr.npy", "pf.npy", ["--k", "9", "--metric", "cosine", "--inclusive"]),
            ("pr2.npy", "pf.npy", ["--k", "1"]), ("pr.npy", "pf2.npy", ["--k", "1"]),
            ("pr2.npy", "pf2.npy", ["--k", "1", "--metric", "cosine"])]
    for rname, fname, extra in runs:
        what = "prdc %s %s %s np %d" % (rname, fname, " ".join(extra), np_)
        args = ["prdc", "--real", os.path.join(tmp, rname), "--fake",
                os.path.join(tmp, fname)] + extra
        docs = one_and_many(lsc, mpirun, np_, tmp, args, what)
        if docs is None:
            continue
        want, got, out = docs
        # the figures are ratios of counts: the very same numbers, not within a tolerance
        check(got.get("prdc") == want["prdc"],
              "%s: %r vs one process's %r" % (what, got.get("prdc"), want["prdc"]))
        compare_json(got, want, "", what)
        ranks_note = "%d rank%s)" % (np_, "s" if np_ > 1 else "")
        check(out.count("precision /") == 1 and ranks_note in out,
              "%s: rank 0 alone prints, naming %s: %r" % (what, ranks_note, out))
        if rname == "pr.npy" and fname == "pf.npy" and not extra:
            p = want["prdc"]
            check(0 < p["precision"] < 1 and 0 < p["recall"] < 1 and 0 < p["coverage"] < 1,
                  "%s: the sets do not exercise the counts: %r" % (what, p))
    # lsc reference build under mpirun: one file, written by the ranks together, whose reference
    # is one process's: the same rows, k, metric, comparison and zero radii, and prdc --reference
    # on it gives one process's figures on one process's file exactly
    for rname, extra in (("pr.npy", []), ("prf.npy", ["--metric", "cosine", "--inclusive"]),
                         ("pr2.npy", ["--k", "1"])):
        what = "reference build %s %s np %d" % (rname, " ".join(extra), np_)
        args = ["reference", "build", "--real", os.path.join(tmp, rname)] + extra
        refs, docs = {}, {}
        for tag in ("one", "many"):
            refs[tag] = os.path.join(tmp, "%s.lscref" % tag)
            docs[tag] = os.path.join(tmp, "%s_ref.json" % tag)
            full = args + ["--out", refs[tag], "--json", docs[tag]]
            if tag == "one":
                rc, _, err = run_single(lsc, full)
                check(rc == 0, "single %s: exit %d %s" % (what, rc, err))
            else:
                codes, out, err = run_ranks(mpirun, np_, lsc, full, tmp)
                check(codes == [0] * np_, "%s: rank exit codes %r: %s" % (what, codes, err))
                check(out.count("reference ") == 1, "%s: rank 0 alone prints: %r" % (what, out))
        try:
            with open(docs["one"]) as f:
                want = json.load(f)
            with open(docs["many"]) as f:
                got = json.load(f)
        except (OSError, ValueError) as e:
            check(False, "%s: %s" % (what, e))
            continue
        check(got.get("ranks") == np_, "%s: ranks %r" % (what, got.get("ranks")))
        check(got.get("inputs") == want["inputs"], "%s: inputs %r" % (what, got.get("inputs")))
        # a sharded build leaves the verdicts' judging half to the report (no prepared seed)
        for k in ("rows", "cols", "k", "metric", "comparison", "zero_radii"):
            check(got.get("reference", {}).get(k) == want["reference"][k],
                  "%s: %s %r vs one process's %r" % (what, k, got.get("reference", {}).get(k),
                                                    want["reference"][k]))
        if np_ == 1:  # one rank builds as one process does: the very bytes
            with open(refs["one"], "rb") as fa, open(refs["many"], "rb") as fb:
                check(fa.read() == fb.read(), "%s: the file differs from one process's" % what)
        figs = {}
        for tag in ("one", "many"):
            rc, out, err = run_single(lsc, ["prdc", "--reference", refs[tag], "--fake",
                                            os.path.join(tmp, "pf.npy"), "--json", "-"])
            check(rc == 0, "%s: prdc --reference %s: exit %d %s" % (what, tag, rc, err))
            figs[tag] = json.loads(out).get("prdc") if rc == 0 else None
        check(figs["one"] is not None and figs["many"] == figs["one"],
              "%s: prdc on the file %r vs one process's %r" % (what, figs["many"], figs["one"]))
        # prdc --reference under mpirun: each rank loads its shard of the file (one process's;
        # the ranks' too on the first) and reads its part of the fake rows; the very figures of
        # one process, "ranks" NP, rank 0 prints
        for tag in ("one", "many") if rname == "pr.npy" else ("one",):
            doc = os.path.join(tmp, "ref_prdc.json")
            args = ["prdc", "--reference", refs[tag], "--fake", os.path.join(tmp, "pf.npy"),
                    "--json", doc]
            codes, out, err = run_ranks(mpirun, np_, lsc, args, tmp)
            check(codes == [0] * np_, "%s: mpirun prdc --reference %s: exit codes %r: %s"
                  % (what, tag, codes, err))
            if codes != [0] * np_:
                continue
            with open(doc) as f:
                got = json.load(f)
            check(got.get("ranks") == np_ and got.get("prdc") == figs["one"],
                  "%s: mpirun prdc --reference %s: ranks %r, %r vs one process's %r"
                  % (what, tag, got.get("ranks"), got.get("prdc"), figs["one"]))
            check(got.get("inputs", {}).get("real", {}).get("rows") == want["reference"]["rows"],
                  "%s: mpirun prdc --reference %s: inputs %r" % (what, tag, got.get("inputs")))
            check(out.count("precision /") == 1, "%s: rank 0 alone prints: %r" % (what, out))
    # a NaN in the last rank's part of the fake rows: every rank fails alike, naming the file's row
    codes, _, err = run_ranks(mpirun, np_, lsc, ["prdc", "--real", os.path.join(tmp, "pr.npy"),
                                                 "--fake", os.path.join(tmp, "pfnan.npy")], tmp)
    lines = [l for l in err.splitlines() if l.startswith("lsc ")]
    check(codes == [2] * np_ and len(lines) == 1 and "pfnan.npy: row 37 col 2" in lines[0],
          "prdc NaN on one rank: %r %r" % (codes, lines))
    # and in the last rank's part of the real rows, for prdc and for reference build (no file)
    bad = [list(r) for r in real]
    bad[45][4] = float("nan")
    write_npy(os.path.join(tmp, "prnan.npy"), bad)
    out = os.path.join(tmp, "nan.lscref")
    for args in (["prdc", "--fake", os.path.join(tmp, "pf.npy")],
                 ["reference", "build", "--out", out]):
        args = args + ["--real", os.path.join(tmp, "prnan.npy")]
        codes, _, err = run_ranks(mpirun, np_, lsc, args, tmp)
        lines = [l for l in err.splitlines() if l.startswith("lsc ")]
        check(codes == [2] * np_ and len(lines) == 1 and "prnan.npy: row 45 col 4" in lines[0],
              "%s NaN in the real rows: %r %r" % (args[0], codes, lines))
    check(not os.path.exists(out), "reference build wrote a file of a NaN")


# The report's keys that run sharded and must equal one process's (compare_json: levels,
# counts, lists, flags and strings exactly, continuous figures within tolerance): the verdicts
# (lsc_assess_sharded) with their classes, uncovered rows and the readings made from them, the
# inputs' shapes, the parameters, both spectra (the compared one on the seeded subset at equal N,
# and every row's), the all-pairs figures, PRDC and the memorisation counts. Not compared:
# timings_ms, device and ranks (the run's), and the distribution distances (FD), which have no
# sharded form yet: the document says so (checked below).
REPORT_SHARDED = ("verdict", "not_assessed", "verdicts", "classes", "uncovered",
                  "uncovered_rows", "inputs", "params", "spectrum", "spectrum_all_rows",
                  "pairwise", "prdc", "memorisation", "definitions", "readings",
                  "readings_fixed_thresholds")


def report_checks(lsc, np_, mpirun, tmp, d):
    """lsc report under mpirun: its JSON equals one process's on REPORT_SHARDED (the same files
    pr.npy / pf.npy as prdc_checks: 47 real rows and 39 fake, so the real spectrum is compared on
    a seeded subset drawn over every rank's rows); a subset for the all-pairs figures; cosine,
    k and the inclusive comparison; a reference file loaded by shards; class labels of both sets
    (each rank passing its rows' labels); --fail-on (exit 3 on every rank, as one process); the
    real set alone; files of fewer rows than ranks (a fake set of 2 rows, and a reference of 2
    alone: the verdicts' real set needs 8). Every rank exits with one process's code and rank 0 alone prints. With NP >= 2
    the sections without a sharded form are refused by name (exit 2 on every rank, one message,
    no output), and a NaN in the last rank's part names the file's row."""
    ref = os.path.join(tmp, "report.lscref")
    rc, _, err = run_single(lsc, ["reference", "build", "--real", os.path.join(tmp, "pr.npy"),
                                  "--out", ref, "--k", "4"])
    check(rc == 0, "reference build for the report: exit %d %s" % (rc, err))
    ref2 = os.path.join(tmp, "report2.lscref")  # 2 rows: an empty shard on a third rank
    rc, _, err = run_single(lsc, ["reference", "build", "--real", os.path.join(tmp, "pr2.npy"),
                                  "--out", ref2, "--k", "1"])
    check(rc == 0, "reference build of 2 rows for the report: exit %d %s" % (rc, err))
    pr, pf = os.path.join(tmp, "pr.npy"), os.path.join(tmp, "pf.npy")
    labels = {}
    # three classes in runs of rows, so that each rank's part holds other counts of each (a rank
    # passing labels from the wrong place changes them); the fake rows over-produce class 1
    for name, n in (("lr", 47), ("lf", 39)):
        labels[name] = os.path.join(tmp, name + ".npy")
        vals = ([0] * 10 + [1] * 21 + [2] * 16) if name == "lr" else ([0] * 5 + [1] * 24 +
                                                                       [2] * 10)
        header = "{'descr': '<i8', 'fortran_order': False, 'shape': (%d,), }" % n
        header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
        with open(labels[name], "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() +
                    struct.pack("<%dq" % n, *vals))
    # the verdicts at the default 16 splits on the first run, at 4 (fewer judged subsets, a
    # shorter test) on the others
    runs = [["--real", pr, "--fake", pf],
            # the all-pairs subset and class labels of both sets
            ["--real", pr, "--fake", pf, "--pairs-max-rows", "20", "--seed", "3", "--labels",
             labels["lr"], "--fake-labels", labels["lf"], "--splits", "4"],
            ["--real", pf, "--fake", pr, "--metric", "cosine", "--k", "3", "--inclusive",
             "--splits", "4"],
            ["--reference", ref, "--fake", pf, "--labels", labels["lr"], "--fail-on",
             "borderline,not_assessed", "--splits", "4"],
            ["--real", pr],
            ["--reference", ref2],
            ["--real", pr, "--fake", os.path.join(tmp, "pf2.npy"), "--k", "1", "--splits", "4"]]
    for extra in runs:
        what = "report %s np %d" % (" ".join(os.path.basename(a) for a in extra), np_)
        # --fail-on: exit 3 (a verdict at the level), the same on every rank
        docs = one_and_many(lsc, mpirun, np_, tmp, ["report"] + extra, what,
                            want_rc=3 if "--fail-on" in extra else 0)
        if docs is None:
            continue
        want, got, out = docs
        for k in REPORT_SHARDED:
            check((k in got) == (k in want), "%s: %s in one document only" % (what, k))
            if k in want:
                compare_json(got.get(k), want[k], k + ".", what)
        # decisions exactly: the pairs' counts and lists, PRDC's ratios of counts
        for s in ("real", "fake"):
            pw, pg = want["pairwise"].get(s), got.get("pairwise", {}).get(s)
            for k in ("near_duplicate_pairs", "near_duplicates", "histogram", "rows_used"):
                check(pw is None or (pg or {}).get(k) == pw.get(k),
                      "%s: pairwise %s %s differs" % (what, s, k))
        check(got.get("prdc") == want.get("prdc"),
              "%s: prdc %r vs one process's %r" % (what, got.get("prdc"), want.get("prdc")))
        mw, mg = want.get("memorisation", {}), got.get("memorisation", {})
        check(mg.get("fake_rows_in_near_duplicate_pairs") ==
              mw.get("fake_rows_in_near_duplicate_pairs"), "%s: memorisation %r vs %r"
              % (what, mg, mw))
        if "--fake" in extra:
            # the verdicts are there to compare, and what has no sharded form is said so
            check(len(want.get("verdicts", {})) >= 6 and want.get("verdict") in
                  ("ok", "borderline", "collapse"), "%s: no verdicts: %r" % (what, want))
            check(np_ == 1 or (got.get("distribution", {}).get("fd", 1) is None and "mpirun" in
                               got.get("distribution", {}).get("unavailable", "")),
                  "%s: FD not marked unavailable: %r" % (what, got.get("distribution")))
        if "--labels" in extra:
            check(len(want.get("classes", [])) == 3, "%s: classes %r" % (what, want.get("classes")))
        ranks_note = "%d rank%s)" % (np_, "s" if np_ > 1 else "")
        check(out.count("report on") == 1 and ranks_note in out,
              "%s: rank 0 alone prints, naming %s: %r" % (what, ranks_note, out))
        if extra == runs[0]:
            check(0 < want["prdc"]["coverage"] < 1 and want["spectrum"]["real"]["rows_used"] == 39
                  and want["spectrum"]["real"]["rows_total"] == 47,
                  "%s: the sets do not exercise the subset and counts: %r %r" % (
                      what, want["prdc"], want["spectrum"]["real"]))
    if np_ < 2:
        return
    # what has no sharded form: refused by name on every rank, one message, no output
    out = os.path.join(tmp, "refused.json")
    for opt in (["--geometry"], ["--kid"], ["--mmd"], ["--html", os.path.join(tmp, "r.html")]):
        codes, _, err = run_ranks(mpirun, np_, lsc, ["report", "--real", pr, "--fake", pf,
                                                     "--json", out] + opt, tmp)
        lines = [l for l in err.splitlines() if l.startswith("lsc ")]
        check(codes == [2] * np_ and len(lines) == 1 and
              lines[0].startswith("lsc report: %s " % opt[0]) and "mpirun" in lines[0],
              "report %s under mpirun: %r %r" % (opt[0], codes, lines))
        check(not os.path.exists(out), "report %s under mpirun wrote its JSON" % opt[0])
    # a NaN in the last rank's part of the fake rows, found by that rank alone: every rank exits
    # 2 and the job prints one message, that rank's, naming the file's row
    codes, _, err = run_ranks(mpirun, np_, lsc, ["report", "--real", pr, "--fake",
                                                 os.path.join(tmp, "pfnan.npy")], tmp)
    lines = [l for l in err.splitlines() if "lsc report" in l]
    check(codes == [2] * np_ and len(lines) == 1 and lines[0].startswith(
        "(rank %d of %d) lsc report: " % (np_ - 1, np_)) and "pfnan.npy: row 37 col 2" in lines[0],
          "report NaN on one rank: %r %r" % (codes, lines))


def sharded_checks(lsc, np_, mpirun, tmp):
    d = 9
    rows = data(103, d, 1)
    write_npy(os.path.join(tmp, "x.npy"), rows)
    write_npy(os.path.join(tmp, "xf.npy"), rows, fortran=True)
    write_npy(os.path.join(tmp, "xb.npy"), rows, big=True)  # byte-swapped: a copy of the part
    write_npy(os.path.join(tmp, "two.npy"), rows[:2])  # fewer rows than 3 ranks: empty parts
    write_npy(os.path.join(tmp, "q.npy"), data(11, d, 2))
    write_npz(os.path.join(tmp, "xs.npz"), rows, False)
    write_npz(os.path.join(tmp, "xz.npz"), rows, True)
    write_safetensors(os.path.join(tmp, "x.safetensors"), rows)
    names = ["x.npy", "xf.npy", "xb.npy", "two.npy", "xs.npz", "xz.npz", "x.safetensors"]
    try:  # HDF5 where this Python has h5py (CI's LSC_ORACLE_PYTHON): mapped, and read whole
        import h5py
        with h5py.File(os.path.join(tmp, "x.h5"), "w") as f:
            f.create_dataset("flat", data=rows, dtype="<f4")
        with h5py.File(os.path.join(tmp, "xc.h5"), "w") as f:
            f.create_dataset("packed", data=rows, dtype="<f4", chunks=(16, d), compression="gzip")
        names += ["x.h5", "xc.h5"]
    except ImportError:
        print("HDF5 not checked: no h5py in this Python")
    for name in names:
        what = "spectrum %s np %d" % (name, np_)
        docs = one_and_many(lsc, mpirun, np_, tmp, ["spectrum", "--input", os.path.join(tmp, name)],
                            what, skip_if="built without")
        if docs is not None:
            want, got, _ = docs
            check(want.get("ranks") == 1, "single spectrum: ranks %r" % want.get("ranks"))
            compare_json(got, want, "", what)
    # kNN: the lists as files, byte for byte, and the JSON
    for base in ("x.npy", "xf.npy"):
        outs = {}
        for tag in ("one", "many"):
            outs[tag] = [os.path.join(tmp, "%s_%s.npy" % (tag, w)) for w in ("idx", "dist")]
            args = ["knn", "--queries", os.path.join(tmp, "q.npy"), "--base",
                    os.path.join(tmp, base), "--k", "7", "--out-idx", outs[tag][0], "--out-dist",
                    outs[tag][1], "--json", os.path.join(tmp, tag + "_knn.json")]
            if tag == "one":
                rc, _, err = run_single(lsc, args)
                check(rc == 0, "single knn: exit %d %s" % (rc, err))
            else:
                codes, _, err = run_ranks(mpirun, np_, lsc, args, tmp)
                check(codes == [0] * np_, "knn %s: rank exit codes %r: %s" % (base, codes, err))
        for a, b in zip(outs["one"], outs["many"]):
            with open(a, "rb") as fa, open(b, "rb") as fb:
                check(fa.read() == fb.read(), "knn %s np %d: %s differs from one process's %s"
                      % (base, np_, b, a))
        with open(os.path.join(tmp, "one_knn.json")) as f:
            want = json.load(f)
        with open(os.path.join(tmp, "many_knn.json")) as f:
            got = json.load(f)
        check(got.get("ranks") == np_, "knn: ranks %r" % got.get("ranks"))
        for k in ("out_idx", "out_dist"):
            want["knn"].pop(k, None)
            got["knn"].pop(k, None)
        compare_json(got, want, "", "knn %s np %d" % (base, np_))
    pairs_checks(lsc, np_, mpirun, tmp, d)
    prdc_checks(lsc, np_, mpirun, tmp, d)
    if np_ < 2:
        return
    x = os.path.join(tmp, "x.npy")
    # a command not sharded yet: refused on every rank, one message naming it, no output
    out = os.path.join(tmp, "fd.json")
    codes, _, err = run_ranks(mpirun, np_, lsc, ["fd", "--real", x, "--fake", x, "--json", out],
                              tmp)
    check(codes == [2] * np_, "fd under mpirun: rank exit codes %r" % codes)
    lines = [l for l in err.splitlines() if l.startswith("lsc ")]
    check(len(lines) == 1 and lines[0].startswith("lsc fd: does not run sharded yet"),
          "fd under mpirun: messages %r" % lines)
    check(not os.path.exists(out), "fd under mpirun wrote its JSON")
    # knn without --base (self kNN) is not sharded either
    codes, _, err = run_ranks(mpirun, np_, lsc, ["knn", "--queries", x, "--k", "3"], tmp)
    check(codes == [2] * np_ and "does not run sharded yet" in err,
          "self knn under mpirun: %r %s" % (codes, err))
    # the library's MPI module missing: lsc_ctx_set_mpi refuses on every rank
    codes, _, err = run_ranks(mpirun, np_, lsc, ["spectrum", "--input", x], tmp,
                              {"LSC_MPI_MODULE": os.path.join(tmp, "missing.so")})
    check(codes == [2] * np_ and "cannot load the MPI module" in err,
          "missing liblsc_mpi: %r %s" % (codes, err))
    # a failure on the last rank alone (its library MPI module missing): every rank exits 2 and
    # the job prints one message, that rank's
    codes, _, err = run_ranks(mpirun, np_, lsc, ["spectrum", "--input", x], tmp,
                              last_env={"LSC_MPI_MODULE": os.path.join(tmp, "missing.so")})
    lines = [l for l in err.splitlines() if "lsc spectrum" in l]
    check(codes == [2] * np_ and len(lines) == 1 and
          lines[0].startswith("(rank %d of %d) lsc spectrum: the MPI transport" % (np_ - 1, np_)),
          "one rank failing: %r %r" % (codes, lines))
    # the CLI's MPI module missing (an lsc without MPI): refused before any work on every rank
    codes, out_, err = run_ranks(mpirun, np_, lsc, ["spectrum", "--input", x], tmp,
                                 {"LSC_CLI_MPI_MODULE": os.path.join(tmp, "missing.so")})
    check(codes == [2] * np_ and "refusing to run one full copy" in err
          and "effective_rank" not in out_, "missing CLI module: %r %s" % (codes, err))
    # a NaN in the last rank's part: every rank fails alike, naming the file's row
    bad = [list(r) for r in rows]
    bad[100][3] = float("nan")
    write_npy(os.path.join(tmp, "nan.npy"), bad)
    codes, _, err = run_ranks(mpirun, np_, lsc,
                              ["spectrum", "--input", os.path.join(tmp, "nan.npy")], tmp)
    lines = [l for l in err.splitlines() if l.startswith("lsc ")]
    check(codes == [2] * np_, "NaN on one rank: exit codes %r" % codes)
    check(len(lines) == 1 and "nan.npy: row 100 col 3" in lines[0],
          "NaN on one rank: messages %r" % lines)
    # the same as a kNN base read by parts, and in the queries every rank reads whole
    for args, want in ((["--queries", os.path.join(tmp, "q.npy"), "--base",
                         os.path.join(tmp, "nan.npy")], "nan.npy: row 100 col 3"),
                       (["--queries", os.path.join(tmp, "nan.npy"), "--base", x],
                        "nan.npy: row 100 col 3")):
        codes, _, err = run_ranks(mpirun, np_, lsc, ["knn", "--k", "3"] + args, tmp)
        lines = [l for l in err.splitlines() if l.startswith("lsc ")]
        check(codes == [2] * np_ and len(lines) == 1 and want in lines[0],
              "kNN NaN: %r %r" % (codes, lines))


def refusal_check(lsc, tmp):
    rows = data(5, 3, 3)
    x = os.path.join(tmp, "x.npy")
    write_npy(x, rows)
    env = env_without_mpi()
    env["OMPI_COMM_WORLD_SIZE"] = "2"
    env["LSC_CLI_MPI_MODULE"] = os.path.join(tmp, "missing.so")
    p = subprocess.run([lsc, "spectrum", "--input", x], env=env, capture_output=True, text=True)
    check(p.returncode == 2, "refusal: exit %d" % p.returncode)
    check("started by mpirun (OMPI_COMM_WORLD_SIZE=2)" in p.stderr
          and "refusing to run one full copy" in p.stderr, "refusal: message %r" % p.stderr)
    check("effective_rank" not in p.stdout, "refusal: the command ran: %r" % p.stdout)


def main():
    lsc = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        if sys.argv[2] == "refusal":
            refusal_check(lsc, tmp)
        elif sys.argv[2] == "report":
            prdc_files(tmp, 9)
            report_checks(lsc, int(sys.argv[3]), sys.argv[4:], tmp, 9)
        else:
            sharded_checks(lsc, int(sys.argv[2]), sys.argv[3:], tmp)
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
