"""Runs lsc_sharded_bytes at P = 1..4 under mpirun and prints the Markdown tables of
docs/SCALING.md and bench/RESULTS.md: per rank, bytes sent and received against the model, and
the memory the call added beside the rank's input rows.

  python3 bench/sharded_table.py BUILD/bench/lsc_sharded_bytes [OP...]   (OP: only those runs)
  python3 bench/sharded_table.py BUILD/bench/lsc_sharded_bytes checks     (the small checks)

An operation with a self kNN in it (knnself, prdc, assess) runs twice a P: with the transport's
send_recv (the covering where it is chosen) and with --ring (no send_recv: the ring alone).
`checks` runs the small uneven and empty shapes both ways and prints, a run, whether the model
matched every rank's bytes. Standard library only. The mpirun flags are the tests' (loopback
transports, one lsc thread a rank); with more ranks than cores the times mean nothing and are not
shown."""
import json
import os
import subprocess
import sys

MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "--mca", "btl",
          "self,vader,tcp", "--mca", "btl_tcp_if_include", "lo", "--mca",
          "btl_vader_single_copy_mechanism", "none"]

# each operation and its arguments (lsc_sharded_bytes's own), one table each
RUNS = [("spectrum", ["spectrum", "40000", "256"]),
        ("knn", ["knn", "2000", "40000", "64", "50"]),
        ("knnself", ["knnself", "12000", "64", "5"]),
        ("pairs", ["pairs", "12000", "64"]),
        ("prdc", ["prdc", "12000", "12000", "64", "5"]),
        ("assess", ["assess", "12000", "12000", "64", "5"])]


# the operations whose self kNN may take the covering: each runs with and without send_recv
SELF_KNN = {"knnself", "prdc", "assess"}
MODES = (("send_recv", []), ("ring", ["--ring"]))

# uneven and empty shards: the model must match every rank's bytes (`checks`)
# (knnself 22 64 5: pieces of 2 and 3 rows under k, so who computes what shows in the lists)
CHECKS = [["knnself", "10", "3", "2"], ["knnself", "1001", "16", "5"], ["knnself", "22", "64", "5"],
          ["prdc", "1001", "799", "16", "5"], ["prdc", "3", "7", "4", "2"],
          ["assess", "1001", "799", "16", "5"], ["assess", "12", "7", "4", "2"]]


def knn_minimum(args, p):
    """kNN's least bytes a rank receives for every rank to end with the merged lists: each rank
    merges the lists of Q / P queries (their candidates from the P - 1 other ranks, 16 bytes
    each) and receives the other ranks' merged lists (float32 + int64, 12 bytes a neighbour)."""
    q, k = int(args[1]), int(args[4])
    return (p - 1) * q * k * (16 + 12) // p


def pairs_minimum(args, p):
    """The pair statistics' least bytes a rank receives with the pairs shared out evenly: a rank
    that computes its N (N - 1) / (2 P) pairs from m rows needs m (m - 1) / 2 >= that, so
    m >= about N / sqrt(P), of which it holds N / P: it receives at least N / sqrt(P) - N / P
    rows of 4 D bytes (float32, no index). The figures every rank ends with (histogram, list,
    sums) are small beside them and not counted; a distributed median of the nearest values
    would be too."""
    n, d = int(args[1]), int(args[2])
    return int((n / p ** 0.5 - n / p) * 4 * d)


def knnself_minimum(args, p):
    """lsc_knn_sharded with exclude_self: the build's argument (its pairs shared out evenly need
    N / sqrt(P) rows on a rank, of which it holds N / P); the lists sent back not counted."""
    n, d = int(args[1]), int(args[2])
    return int((n / p ** 0.5 - n / p) * 4 * d)


def build_minimum(args, p):
    """The sharded reference's build (the real rows' self kNN) least bytes a rank receives: its
    N (N - 1) / (2 P) pairs, shared out evenly, need N / sqrt(P) real rows on a rank (the pairs'
    argument), of which it holds N / P. The lists a rank would send back for rows whose pairs it
    computed are not counted (a lower bound)."""
    n, d = int(args[1]), int(args[3])
    return int((n / p ** 0.5 - n / p) * 4 * d)


def prdc_call_minimum(args, p):
    """lsc_prdc_sharded's least bytes a rank receives against a reference built once, its
    generated rows staying home (their per-row counts are lsc_prdc_rows_sharded's output on the
    rank that holds them): every real row must meet every generated row of this rank, and its
    radius with it, so it receives the other ranks' N - N / P real rows with their float64
    radius values (4 D + 8 bytes each) at least once. The generated rows' self kNN, its
    M (M - 1) / 2 pairs shared out evenly, needs M / sqrt(P) generated rows on a rank (the pairs'
    argument), of which it holds M / P. The flags and counts (N bits a rank and six int64) are
    small beside them and not counted."""
    n, m, d = int(args[1]), int(args[2]), int(args[3])
    return int((n - n / p) * (4 * d + 8) + (m / p ** 0.5 - m / p) * 4 * d)


def verdicts_minimum(args, p):
    """lsc_assess_sharded's least bytes a rank receives against a reference built once: the
    full-size PRDC's (prdc_call_minimum), the judging half's radii (the build's minimum at N / 2
    rows), and each of the S + J judged subsets of m rows meeting every rank's rows of the half:
    the rows of a subset this rank does not hold (m (P - 1) / P rows of 4 D bytes). S = 16, m and
    J as lsc_assess derives them (host/verdicts.c)."""
    n, m, d = int(args[1]), int(args[2]), int(args[3])
    nb = n - n // 2
    mm = min(m, nb // 2, 2000)
    j = min(m // mm, 2 if mm == 2000 else 4)
    half = ["build", str(n // 2), str(m), str(d), args[4]]
    return int(prdc_call_minimum(args, p) + build_minimum(half, p) +
               (16 + j) * mm * (p - 1) / p * 4 * d)


MINIMUM = {"knn": knn_minimum, "pairs": pairs_minimum, "knnself": knnself_minimum}

# operations of two calls, counted apart at the program's mark: each call's name and minimum
SPLIT = {"prdc": (("build", build_minimum), ("PRDC", prdc_call_minimum)),
         "assess": (("build", build_minimum), ("verdicts", verdicts_minimum))}


def mib(b):
    return "%.2f" % (b / 2**20)


def worst_ratio(pairs):
    """The largest of measured / model and model / measured, "-" when nothing was counted."""
    ratios = [max(a, b) / min(a, b) for a, b in pairs if min(a, b) > 0]
    return "%.4f" % max(ratios) if ratios else "-"


def over(recv, least):
    return "%.2f" % (recv / least) if least > 0 else "-"


def run(exe, env, p, args):
    out = subprocess.run(MPIRUN + ["-np", str(p), exe] + args, env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def matched(r):
    return (r["sent"], r["recv"], r["part_sent"], r["part_recv"]) == (
        r["model_sent"], r["model_recv"], r["model_part_sent"], r["model_part_recv"])


def checks(exe, env):
    bad = 0
    for args in CHECKS:
        for mode, flag in MODES:
            for p in range(1, 5):
                line = run(exe, env, p, flag + args)
                ok = all(matched(r) for r in line["per_rank"])
                bad += not ok
                print("%s (%s) P = %d: %s" % (" ".join(args), mode, p,
                                              "every rank exact" if ok else "MISMATCH"))
    return 1 if bad else 0


def main():
    exe = sys.argv[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    only = sys.argv[2:]
    if only == ["checks"]:
        return checks(exe, env)
    for name, args in RUNS:
        if only and name not in only:
            continue
        print("\n%s (%s)\n" % (name, " ".join(args[1:])))
        minimum = MINIMUM.get(name)
        split = SPLIT.get(name)
        modes = MODES if name in SELF_KNN else MODES[:1]
        lead = "| P | transport | rank | rows |" if name in SELF_KNN else "| P | rank | rows |"
        rule = "|---|---|---|---|" if name in SELF_KNN else "|---|---|---|"
        if split:
            cols = ""
            for call, _ in split:
                cols += (" %s sent (B) | model | %s recv (B) | model | %s recv / minimum |"
                         % (call, call, call))
            print("%s%s worst ratio | added peak (MiB) | input rows (MiB) |" % (lead, cols))
            print("%s%s---|---|---|" % (rule, "---|---|---|---|---|" * len(split)))
        else:
            print("%s sent (B) | model | recv (B) | model | worst ratio "
                  "| added peak (MiB) | input rows (MiB) |%s"
                  % (lead, " recv / minimum |" if minimum else ""))
            print("%s---|---|---|---|---|---|---|%s" % (rule, "---|" if minimum else ""))
        for p in range(1, 5):
            for mode, flag in modes:
                line = run(exe, env, p, flag + args)
                for r in line["per_rank"]:
                    head = ("| %d | %s | %d | %d |" % (p, mode, r["rank"], r["rows"])
                            if name in SELF_KNN else "| %d | %d | %d |" % (p, r["rank"], r["rows"]))
                    if split:
                        # the first call up to the mark, the second the rest
                        parts = [(r["part_sent"], r["model_part_sent"], r["part_recv"],
                                  r["model_part_recv"]),
                                 (r["sent"] - r["part_sent"],
                                  r["model_sent"] - r["model_part_sent"],
                                  r["recv"] - r["part_recv"],
                                  r["model_recv"] - r["model_part_recv"])]
                        cells = ""
                        pairs = []
                        for (sent, msent, recv, mrecv), (_, least) in zip(parts, split):
                            cells += " %d | %d | %d | %d | %s |" % (sent, msent, recv, mrecv,
                                                                   over(recv, least(args, p)))
                            pairs += [(sent, msent), (recv, mrecv)]
                        print("%s%s %s | %s | %s |" % (
                            head, cells, worst_ratio(pairs), mib(r["peak_added"]),
                            mib(r["input_bytes"])))
                        continue
                    ratio = worst_ratio(((r["sent"], r["model_sent"]),
                                         (r["recv"], r["model_recv"])))
                    extra = " %s |" % over(r["recv"], minimum(args, p)) if minimum else ""
                    print("%s %d | %d | %d | %d | %s | %s | %s |%s" % (
                        head, r["sent"], r["model_sent"], r["recv"], r["model_recv"], ratio,
                        mib(r["peak_added"]), mib(r["input_bytes"]), extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
