/* lsc: the command line of the lsc library. Like any user's program it uses only include/lsc.h and
 * tools/input.h. Errors: one line on stderr; exit 2 for bad input, 1 for a failure of the
 * machine, 0 for a complete result. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- help ------------------------------------------------------------------------------------ */

static const char *HELP_MAIN =
    "usage: lsc <command> [options]   (lsc <command> --help for its options)\n"
    "\n"
    "commands:\n"
    "  report     the verdicts (mode collapse, low fidelity, diversity loss, dimensional,\n"
    "             memorisation and posterior collapse) and the readings made from them, with\n"
    "             the spectrum and all-pairs statistics of each set and PRDC of fake against real\n"
    "  demo       makes its own data (healthy, mode- and dimension-collapsed generators, a\n"
    "             sweep of collapse strength) and reports on it\n"
    "  spectrum   effective rank, RankMe, ... of one set\n"
    "  pairs      all-pairs distance statistics of one set\n"
    "  knn        exact k nearest neighbours\n"
    "  prdc       precision, recall, density, coverage\n"
    "  reference  build / inspect a kept real set with its k-NN radii (.lscref)\n"
    "  fd         Frechet distance of two sets (features or saved statistics)\n"
    "  fd-stats   save a set's mean and covariance as pytorch-fid / clean-fid do (.npz)\n"
    "  kid        Kernel Inception Distance of two sets\n"
    "  mmd        RBF MMD (CMMD's estimator) of two sets\n"
    "  monitor-report  the page of a Monitor's history (JSONL): each figure over steps\n"
    "  version    print the library version\n"
    "\n"
    "Inputs (rows x cols, float32, float16, bfloat16 or float64): .npy, .npz[:NAME],\n"
    ".safetensors[:NAME], .h5 / .hdf5[:/DATASET] and .fvecs. NAME picks the array of a file\n"
    "holding several (by default the only one); a path that itself holds ':' is tried whole\n"
    "first. Labels: 1-D integer arrays in the same formats. PyTorch .pt files: convert with\n"
    "torch.load then numpy.save. Exit status: 0 a complete result,\n"
    "1 a failure of the machine, 2 bad input, 3 a verdict at or above report --fail-on,\n"
    "130 interrupted.\n";

#define COMMON_HELP                                                                                \
    "  --backend auto|cpu|cuda   where the work runs (default auto)\n"                             \
    "  --threads N               CPU threads (default: one per core)\n"                            \
    "  --json OUT|-              write the figures as JSON to OUT (- = stdout, no summary)\n" PROGRESS_HELP
#define PROGRESS_HELP                                                                              \
    "  --progress auto|always|never  progress on stderr: auto (default) a live line with the\n"    \
    "                            ETA on a terminal, else a line at most every 10 s; always\n"      \
    "                            also a line as each step starts\n"
#define METRIC_HELP "  --metric euclidean|cosine distance (default euclidean)\n"
#define SEED_HELP "  --seed S                  seed of every subset (default 0)\n"

static const char *HELP_REPORT =
    "usage: lsc report (--real R.npy | --reference REF.lscref) [--fake F.npy] [options]\n"
    "\n"
    "Spectrum and all-pairs statistics of each set; with --fake, PRDC of fake against real and\n"
    "the verdicts of docs/METRICS.md section 8: each check (mode collapse, low fidelity, diversity\n"
    "loss, dimensional collapse, memorisation, posterior collapse) against held-out real rows at\n"
    "the same sizes, ok / borderline / collapse / not_assessed with its evidence. The readings\n"
    "(section 6) are made from the verdicts: one for each check at borderline or collapse, with\n"
    "its reason, else \"no collapse detected\"; without --fake there are none. The spectra are\n"
    "compared at equal N (a seeded subset of the larger set, of the smaller's size). kNN and PRDC\n"
    "always use every row. With --fake, the Frechet distance between the two sets (every row;\n"
    "docs/METRICS.md section 10.1, as `lsc fd`), reported without a verdict. Under mpirun with\n"
    "several ranks each rank reads its part of each file (or its shard of the reference): the\n"
    "verdicts, spectra, all-pairs figures and PRDC of one process; FD is not sharded yet (marked\n"
    "unavailable), and --geometry, --kid, --mmd and --html are refused.\n"
    "\n"
    "options:\n"
    "  --real R.npy              the real (reference) set, rows = samples\n"
    "  --reference REF.lscref    a kept real set (lsc reference build) in place of --real, with\n"
    "                            its k, metric and comparison (--k, --metric, --inclusive given\n"
    "                            too must agree); needs --fake. The library does not give out a\n"
    "                            reference's rows, so the real spectrum, real pair statistics\n"
    "                            and fake-to-real distances are left out; the verdicts and PRDC\n"
    "                            are those of --real on the rows it was built from\n"
    "  --fake F.npy              the generated set (same number of columns)\n"
    "  --k K                     neighbours for the PRDC radii (default 5)\n"
    "  --inclusive               PRDC compares d <= r (default strict d < r)\n"
    "  --dup-eps E               near-duplicate distance (default 1e-6)\n"
    "  --bins B                  histogram bins (default 64)\n"
    "  --active-threshold T      active unit: column variance > T (default 0.01)\n"
    "  --pairs-max-rows R        above R rows the all-pairs figures use a seeded subset of R\n"
    "                            rows (default 20000; 0 = always every row)\n"
    "  --splits S                held-out real subsets behind each verdict (default 16, 4-64)\n"
    "  --labels L.npy            class labels of the real rows (1-D integers; also\n"
    "                            .npz/.safetensors[:NAME], .h5:/DATASET): each class's\n"
    "                            coverage (missing) and share (over-produced) judged too\n"
    "  --fake-labels L.npy       labels of the generated rows (default: each takes its\n"
    "                            nearest real row's)\n"
    "  --geometry                also the geometry of each set (TwoNN intrinsic dimension,\n"
    "                            hubness, RBF Vendi of order 2; docs/METRICS.md section 9):\n"
    "                            about three more kNN passes and one kernel pass of up to\n"
    "                            10,000 rows, reported without a verdict\n"
    "  --kid                     also KID (as `lsc kid`, section 10.2): --subsets S (default\n"
    "                            100) seeded subsets of --subset-rows R (default 1000) rows of\n"
    "                            each set, from --seed; about 3 S R^2 D multiply-adds\n"
    "  --mmd                     also RBF MMD (as `lsc mmd`, CMMD's, section 10.3) over every\n"
    "                            row, --scale C (default 1000): an all-pairs pass over the\n"
    "                            N + M rows, the report's costliest part\n"
    "  --sigma S                 the RBF bandwidth of --mmd and of --geometry's RBF Vendi\n"
    "                            (default 10, lsc mmd's: match it to the features' scale)\n"
    "  --html OUT.html           also a page for people: the verdicts with their evidence, the\n"
    "                            spectra, nearest-neighbour distance histograms with the\n"
    "                            memorisation line, PRDC against its baselines, the classes,\n"
    "                            the rows to look at; one self-contained file (no script, no\n"
    "                            request), binned. Adds the histograms' kNN passes (each set\n"
    "                            against itself, fake against real; queries capped at\n"
    "                            --pairs-max-rows) and their figures to the JSON\n"
    "  --fail-on L[,not_assessed] exit 3 after writing every output when the verdict is L\n"
    "                            (borderline or collapse) or worse, or a check is not assessed\n" METRIC_HELP
        SEED_HELP COMMON_HELP
    "deprecated fixed thresholds (kept for one release: they make only the JSON's\n"
    "readings_fixed_thresholds and the fixed-threshold table, and decide no verdict or reading):\n"
    "  --dim-collapse-ratio X    fake effective_rank < X x real's (default 0.5)\n"
    "  --mode-collapse-ratio X   fake vendi_cosine < X x real's (default 0.5)\n"
    "  --coverage-min X          mode collapse when coverage < X ... (default 0.5)\n"
    "  --precision-high X        ... while precision >= X (default 0.7)\n"
    "  --precision-min X         low fidelity: precision < X (default 0.5)\n"
    "  --dup-fraction X          memorisation: more than X of the fake rows in a\n"
    "                            near-duplicate pair, or within dup-eps of a real row\n"
    "                            (default 0.01)\n"
    "  --active-ratio X          posterior collapse (one set): active_units < X x D (0.5)\n";

static const char *HELP_MONITOR_REPORT =
    "usage: lsc monitor-report HISTORY.jsonl --html OUT.html\n"
    "\n"
    "Draws a Monitor's history (lsc.Monitor(..., history_path=...), one JSON record a line;\n"
    "docs/FILES.md) as a page: each figure over the steps, each check's statistic against its\n"
    "baseline band, the trend warnings marked. A line that is not a record (truncated,\n"
    "not JSON) is refused with its line number (exit 2). Needs cJSON at build time.\n"
    "\n"
    "options:\n"
    "  --html OUT.html           the page to write (required)\n";

static const char *HELP_DEMO =
    "usage: lsc demo [--seed S] [--backend B] [--threads N] [--k K] [--progress P]\n"
    "\n"
    "Makes a real set (a mixture of 10 Gaussian modes in 32 dimensions), a healthy generator,\n"
    "a mode-collapsed and a dimension-collapsed one and two sweeps of collapse strength, and\n"
    "prints their figures and readings side by side, with the default thresholds.\n";

static const char *HELP_SPECTRUM =
    "usage: lsc spectrum --input X.npy [--active-threshold T] [options]\n"
    "\n"
    "Effective rank, RankMe, participation ratio, stable rank, dims_90/99, active units,\n"
    "total variance and Vendi (cosine) of one set, and its singular values.\n\noptions:\n"
    "  --input X.npy             the set, rows = samples\n"
    "  --active-threshold T      active unit: column variance > T (default 0.01)\n" COMMON_HELP;

static const char *HELP_PAIRS =
    "usage: lsc pairs --input X.npy [--dup-eps E] [--bins B] [--pairs-max-rows R] [options]\n"
    "\n"
    "All-pairs distance statistics of one set (mean, std, min, max, nearest-neighbour figures,\n"
    "near-duplicate pairs, histogram), never storing N x N.\n\noptions:\n"
    "  --input X.npy             the set\n"
    "  --dup-eps E               near-duplicate distance (default 1e-6)\n"
    "  --bins B                  histogram bins (default 64)\n"
    "  --pairs-max-rows R        above R rows use a seeded subset of R rows (default 20000;\n"
    "                            0 = every row)\n" METRIC_HELP SEED_HELP COMMON_HELP;

static const char *HELP_KNN =
    "usage: lsc knn --queries Q.npy [--base B.npy] --k K [--out-dist D.npy] [--out-idx I.npy]\n"
    "\n"
    "Exact k nearest neighbours of each query among the base rows (ascending, ties by the\n"
    "smaller index). Without --base: the set against itself, self excluded.\n\noptions:\n"
    "  --queries Q.npy, --base B.npy, --k K\n"
    "  --out-dist D.npy          write the Q x k float32 distances (.npy, or an .npz:\n"
    "                            D.npz holds them as 'dist', D.npz:NAME as NAME)\n"
    "  --out-idx I.npy           write the Q x k int64 indices (.npy, or .npz as 'idx'; the\n"
    "                            same .npz as --out-dist: one archive holding both)\n" COMMON_HELP;

static const char *HELP_PRDC =
    "usage: lsc prdc (--real R.npy | --reference REF.lscref) --fake F.npy [--k K] [--inclusive]\n"
    "\n"
    "Precision, recall, density and coverage of F against R (or a kept reference, whose k,\n"
    "metric and comparison are used). Under mpirun, each rank reads its part of R (or of the\n"
    "reference's rows) and of F.\n\noptions:\n"
    "  --real R.npy | --reference REF.lscref\n"
    "  --fake F.npy\n"
    "  --k K                     neighbours (default 5; must match a reference's)\n"
    "  --inclusive               compare d <= r (default strict d < r)\n" METRIC_HELP COMMON_HELP;

static const char *HELP_REFERENCE =
    "usage: lsc reference build --real R.npy [--k K] --out REF.lscref [--metric M] [--inclusive]\n"
    "       lsc reference inspect REF.lscref [--json OUT|-]\n"
    "\n"
    "A reference keeps the real set with its k-NN radii, for `lsc prdc --reference` and\n"
    "`lsc report --reference`. Under mpirun with several ranks, build reads each rank's part of\n"
    "R and the ranks write the one file together (its verdicts' judging half left to the report).\n"
    "\noptions:\n"
    "  --real R.npy, --out REF.lscref\n"
    "  --k K                     neighbours for the radii (default 5, as prdc and report)\n"
    "  --inclusive               its PRDC compares d <= r (default strict)\n"
    "  --metric euclidean|cosine distance (default euclidean; build only)\n" COMMON_HELP;

/* ---- option checks (the parsing is in tools/args.c) -------------------------------------- */

static int need(const cli_opts *o, const char *v, const char *name)
{
    if (!v) return cli_fail(o, EXIT_BAD_INPUT, "missing --%s (see --help)", name);
    return 0;
}

/* Opens the JSON document of a command: the file (or stdout), the outer object and the header
 * keys every document has. NULL (with *code set) if the file cannot be created. */
static FILE *json_begin(const cli_opts *o, lsc_ctx *ctx, json_w *w, int *code)
{
    FILE *f = cli_output_open(o, o->json, code);
    if (!f) return NULL;
    jw_open(w, f);
    jw_obj(w, NULL);
    cli_json_header(w, ctx);
    return f;
}

/* Closes it: the timing of the one operation (when name is not NULL), the outer object, the
 * file. Returns the exit code of the write. */
static int json_finish(const cli_opts *o, json_w *w, FILE *f, const char *name, double ms)
{
    if (name) {
        jw_obj(w, "timings_ms");
        jw_num(w, name, ms);
        jw_end_obj(w);
    }
    jw_end_obj(w);
    jw_close(w);
    if (!jw_ok(w)) {
        cli_output_close(o, f, 0);
        return cli_fail(o, EXIT_MACHINE, "%s: the JSON document nests too deeply", o->json);
    }
    return cli_output_close(o, f, 1);
}

static void json_params_common(json_w *w, const cli_opts *o)
{
    jw_str(w, "metric", cli_metric_name(o->metric));
    jw_int(w, "seed", (int64_t)o->seed);
    jw_int(w, "threads", o->threads);
}

/* ---- spectrum --------------------------------------------------------------------------------- */

/* Under mpirun: the phase every rank runs alone (its part of the rows, its context, the MPI
 * transport) ends in an agreement before the sharded call. Returns that agreement's code. */
static int par_ready(const cli_opts *o, int rc, lsc_ctx *ctx)
{
    if (!rc && ctx) rc = cli_par_attach(o, ctx);
    return cli_par_agree(rc);
}

static int cmd_spectrum(cli_opts *o)
{
    int rc = need(o, o->input, "input");
    if (rc) return rc;
    lsc_input in;
    memset(&in, 0, sizeof in);
    lsc_ctx *ctx = NULL;
    if (!(rc = cli_open_part(o, o->input, &in))) ctx = cli_ctx(o, &rc);
    if ((rc = par_ready(o, rc, ctx))) {
        lsc_ctx_destroy(ctx);
        lsc_input_close(&in);
        return rc;
    }
    /* the whole set's shape: every rank's part together */
    lsc_matrix whole = in.m;
    whole.rows = in.total_rows;
    int64_t m = whole.rows < whole.cols ? whole.rows : whole.cols;
    double *sv = malloc(sizeof(double) * (size_t)(m > 0 ? m : 1));
    lsc_spectrum_opts so = LSC_SPECTRUM_OPTS_INIT;
    so.active_threshold = o->active_threshold;
    lsc_spectrum_result s = LSC_SPECTRUM_RESULT_INIT;
    cli_progress_label("spectrum");
    double t0 = cli_now_ms();
    lsc_status st = !sv                ? LSC_STATUS_OUT_OF_MEMORY
                    : cli_par_active() ? lsc_spectrum_sharded(ctx, &in.m, &so, &s, sv, NULL)
                                       : lsc_spectrum(ctx, &in.m, &so, &s, sv, NULL);
    double t1 = cli_now_ms();
    cli_progress_done();
    if (st != LSC_STATUS_OK) rc = cli_par_lib_fail(o, ctx, st, o->input, "x", whole.rows);
    else if (cli_par_rank() > 0) {
        /* the figures are rank 0's to write and print */
    } else if (o->json) {
        json_w w;
        FILE *f = json_begin(o, ctx, &w, &rc);
        if (f) {
            jw_obj(&w, "inputs");
            cli_json_input(&w, "input", o->input, &whole);
            jw_end_obj(&w);
            jw_obj(&w, "params");
            jw_num(&w, "active_threshold", o->active_threshold);
            json_params_common(&w, o);
            jw_end_obj(&w);
            cli_json_spectrum(&w, "spectrum", &s, sv, whole.rows, whole.rows);
            cli_json_definitions(&w);
            rc = json_finish(o, &w, f, "spectrum", t1 - t0);
        }
    }
    if (st == LSC_STATUS_OK && cli_par_rank() == 0 && (!o->json || strcmp(o->json, "-"))) {
        cli_print_spectrum(stdout, o->input, &s, whole.rows, whole.rows);
        printf("  singular values      ");
        for (int64_t i = 0; i < m && i < 8; i++) printf("%.4g ", sv[i]);
        printf("%s\n", m > 8 ? "..." : "");
        printf("  (%.1f ms, %s, %d rank%s)\n", t1 - t0, lsc_ctx_device_name(ctx), cli_par_ranks(),
               cli_par_ranks() > 1 ? "s" : "");
    }
    free(sv);
    lsc_ctx_destroy(ctx);
    lsc_input_close(&in);
    return rc;
}

/* ---- pairs ------------------------------------------------------------------------------------ */

static int cmd_pairs(cli_opts *o)
{
    int rc = need(o, o->input, "input");
    if (rc) return rc;
    lsc_input in;
    memset(&in, 0, sizeof in);
    lsc_ctx *ctx = NULL;
    if (!(rc = cli_open_part(o, o->input, &in))) ctx = cli_ctx(o, &rc);
    if ((rc = par_ready(o, rc, ctx))) {
        lsc_ctx_destroy(ctx);
        lsc_input_close(&in);
        return rc;
    }
    /* the whole set's shape: every rank's part together (the subset is drawn from all of it) */
    lsc_matrix whole = in.m;
    whole.rows = in.total_rows;
    lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
    po.uniformity = 1; /* the command's own figure: worth its exp per pair */
    po.metric = o->metric;
    po.bins = o->bins;
    po.dup_eps = o->dup_eps;
    po.seed = o->seed;
    po.subset_rows =
        (o->pairs_max_rows > 0 && whole.rows > o->pairs_max_rows) ? o->pairs_max_rows : 0;
    int64_t *hist = calloc((size_t)po.bins, sizeof *hist);
    lsc_pair *dups = calloc((size_t)po.dup_report, sizeof *dups);
    lsc_pair_result p = LSC_PAIR_RESULT_INIT;
    cli_progress_label("all pairs");
    double t0 = cli_now_ms();
    lsc_status st = !(hist && dups)    ? LSC_STATUS_OUT_OF_MEMORY
                    : cli_par_active() ? lsc_pair_stats_sharded(ctx, &in.m, &po, &p, hist, dups)
                                       : lsc_pair_stats(ctx, &in.m, &po, &p, hist, dups);
    double t1 = cli_now_ms();
    cli_progress_done();
    if (st != LSC_STATUS_OK) rc = cli_par_lib_fail(o, ctx, st, o->input, "x", whole.rows);
    else if (cli_par_rank() > 0) {
        /* every rank holds the figures: rank 0 writes and prints them */
    } else if (o->json) {
        json_w w;
        FILE *f = json_begin(o, ctx, &w, &rc);
        if (f) {
            jw_obj(&w, "inputs");
            cli_json_input(&w, "input", o->input, &whole);
            jw_end_obj(&w);
            jw_obj(&w, "params");
            jw_num(&w, "dup_eps", o->dup_eps);
            jw_int(&w, "dup_report", po.dup_report);
            jw_int(&w, "bins", o->bins);
            jw_int(&w, "pairs_max_rows", o->pairs_max_rows);
            json_params_common(&w, o);
            jw_end_obj(&w);
            cli_json_pairs(&w, "pairwise", &p, hist, dups, po.dup_report);
            cli_json_definitions(&w);
            rc = json_finish(o, &w, f, "pairs", t1 - t0);
        }
    }
    if (st == LSC_STATUS_OK && cli_par_rank() == 0 && (!o->json || strcmp(o->json, "-"))) {
        cli_print_pairs(stdout, o->input, &p, o);
        cli_print_histogram(stdout, &p, hist);
        if (p.subset)
            printf(
                "  (the set has %lld rows: a seeded subset of %lld rows was used, --pairs-max-rows)\n",
                (long long)whole.rows, (long long)p.rows_used);
        for (int64_t i = 0; i < p.near_duplicates_listed && i < 5; i++)
            printf("    rows %lld and %lld: d = %.6g\n", (long long)dups[i].i, (long long)dups[i].j,
                   dups[i].d);
        printf("  (%.1f ms, %s, %d rank%s)\n", t1 - t0, lsc_ctx_device_name(ctx), cli_par_ranks(),
               cli_par_ranks() > 1 ? "s" : "");
    }
    free(hist);
    free(dups);
    lsc_ctx_destroy(ctx);
    lsc_input_close(&in);
    return rc;
}

/* ---- knn -------------------------------------------------------------------------------------- */

static int cmd_knn(cli_opts *o)
{
    int rc = need(o, o->queries, "queries");
    if (!rc) rc = need(o, o->k_set ? "" : NULL, "k");
    if (rc) return rc;
    lsc_input q, b;
    memset(&q, 0, sizeof q);
    memset(&b, 0, sizeof b);
    lsc_ctx *ctx = NULL;
    float *dist = NULL;
    int64_t *idx = NULL;
    /* under mpirun: the queries whole on every rank, the base by parts of its rows */
    if (!o->base && cli_par_ranks() > 1)
        rc = cli_fail(o, EXIT_BAD_INPUT,
                      "without --base (a set against itself) knn does not run "
                      "sharded yet: give --base, or run it without mpirun");
    if (!rc) rc = cli_open(o, o->queries, &q);
    if (!rc && o->base) rc = cli_open_part(o, o->base, &b);
    if (!rc) ctx = cli_ctx(o, &rc);
    if ((rc = par_ready(o, rc, ctx))) goto done;
    const int sharded = cli_par_active() && o->base;
    const int64_t base_rows = o->base ? b.total_rows : q.m.rows; /* every part together */
    if (o->base && b.m.cols != q.m.cols) {
        rc = cli_fail(o, EXIT_BAD_INPUT, "%s has %lld columns but %s has %lld", o->queries,
                      (long long)q.m.cols, o->base, (long long)b.m.cols);
        goto done;
    }
    int64_t nb = o->base ? base_rows : q.m.rows - 1;
    if (o->k > nb) {
        rc = cli_fail(o, EXIT_BAD_INPUT,
                      "--k: k=%lld is out of range: %s has %lld rows%s, so k must be 1 to %lld",
                      (long long)o->k, o->base ? o->base : o->queries, (long long)base_rows,
                      o->base ? "" : " (self excluded)", (long long)nb);
        goto done;
    }
    lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
    ko.metric = o->metric;
    ko.exclude_self = o->base ? 0 : 1;
    size_t n = (size_t)q.m.rows * (size_t)o->k;
    dist = malloc(n * sizeof *dist);
    idx = malloc(n * sizeof *idx);
    if (!dist || !idx)
        rc = cli_fail(o, EXIT_MACHINE, "out of memory for %lld x %lld neighbours",
                      (long long)q.m.rows, (long long)o->k);
    if ((rc = cli_par_agree(rc))) goto done;
    cli_progress_label("knn");
    double t0 = cli_now_ms();
    lsc_status st = sharded ? lsc_knn_sharded(ctx, &q.m, &b.m, o->k, &ko, dist, idx)
                            : lsc_knn(ctx, &q.m, o->base ? &b.m : NULL, o->k, &ko, dist, idx);
    double t1 = cli_now_ms();
    cli_progress_done();
    if (st != LSC_STATUS_OK) {
        /* the library names the matrix ("queries: row 3 col 2 is NaN"): name the file instead */
        const char *e = lsc_last_error(ctx);
        const char *eq = sharded ? strstr(e, ": queries: ") : NULL; /* read whole: file rows */
        if (eq) rc = cli_fail(o, cli_status_exit(st), "%s: %s", o->queries, eq + 11);
        else if (sharded && !strncmp(e, "rank ", 5))
            rc = cli_par_lib_fail(o, ctx, st, o->base, "base", base_rows);
        else if (o->base && !strncmp(e, "base: ", 6))
            rc = cli_fail(o, cli_status_exit(st), "%s: %s", o->base, e + 6);
        else if (!strncmp(e, "queries: ", 9))
            rc = cli_fail(o, cli_status_exit(st), "%s: %s", o->queries, e + 9);
        else rc = cli_lib_fail(o, ctx, st, o->base ? "knn" : o->queries);
        goto done;
    }
    if (cli_par_rank() > 0) goto done; /* the lists are rank 0's to write and print */
    /* .npy files, or members "dist" / "idx" of an .npz (one archive when both name it) */
    lsc_output_array outs[2];
    int nout = 0;
    if (o->out_dist)
        outs[nout++] = (lsc_output_array){o->out_dist, "dist", dist, 0, q.m.rows, o->k};
    if (o->out_idx) outs[nout++] = (lsc_output_array){o->out_idx, "idx", idx, 1, q.m.rows, o->k};
    char err[512];
    if (nout && (rc = lsc_arrays_write(outs, nout, err, sizeof err))) {
        rc = cli_fail(o, rc, "%s", err);
        goto done;
    }
    double mean1 = 0, meank = 0;
    for (int64_t i = 0; i < q.m.rows; i++) {
        mean1 += dist[(size_t)i * o->k];
        meank += dist[(size_t)i * o->k + o->k - 1];
    }
    mean1 /= (double)q.m.rows;
    meank /= (double)q.m.rows;
    if (o->json) {
        json_w w;
        FILE *f = json_begin(o, ctx, &w, &rc);
        if (!f) goto done;
        jw_obj(&w, "inputs");
        cli_json_input(&w, "queries", o->queries, &q.m);
        lsc_matrix whole = b.m;
        whole.rows = base_rows;
        if (o->base) cli_json_input(&w, "base", o->base, &whole);
        jw_end_obj(&w);
        jw_obj(&w, "params");
        jw_int(&w, "k", o->k);
        jw_bool(&w, "exclude_self", ko.exclude_self);
        json_params_common(&w, o);
        jw_end_obj(&w);
        jw_obj(&w, "knn");
        jw_int(&w, "k", o->k);
        jw_int(&w, "queries", q.m.rows);
        jw_int(&w, "base", base_rows);
        jw_num(&w, "mean_nearest", mean1);
        jw_num(&w, "mean_kth", meank);
        if (o->out_dist) jw_str(&w, "out_dist", o->out_dist);
        if (o->out_idx) jw_str(&w, "out_idx", o->out_idx);
        jw_end_obj(&w);
        if ((rc = json_finish(o, &w, f, "knn", t1 - t0))) goto done;
    }
    if (!o->json || strcmp(o->json, "-")) {
        printf("exact %lld nearest neighbours of %lld queries among %lld base rows (%s%s)\n",
               (long long)o->k, (long long)q.m.rows, (long long)base_rows,
               cli_metric_name(o->metric), ko.exclude_self ? ", self excluded" : "");
        printf("  mean distance to the nearest %.6g, to the k-th %.6g\n", mean1, meank);
        for (int64_t i = 0; i < q.m.rows && i < 3; i++) {
            printf("  query %lld:", (long long)i);
            for (int64_t t = 0; t < o->k && t < 5; t++)
                printf(" %lld (%.4g)", (long long)idx[(size_t)i * o->k + t],
                       dist[(size_t)i * o->k + t]);
            printf("%s\n", o->k > 5 ? " ..." : "");
        }
        if (o->out_dist) printf("  distances written to %s\n", o->out_dist);
        if (o->out_idx) printf("  indices written to %s\n", o->out_idx);
        printf("  (%.1f ms, %s)\n", t1 - t0, lsc_ctx_device_name(ctx));
    }
done:
    free(dist);
    free(idx);
    lsc_ctx_destroy(ctx);
    lsc_input_close(&q);
    if (o->base) lsc_input_close(&b);
    return rc;
}

/* ---- prdc and references --------------------------------------------------------------------- */

/* Builds a reference from o->real (k, metric, comparison from o); sharded, from every rank's part
 * of it (real holds this rank's rows, total_rows all of them), a shard on each rank. */
static int build_reference(cli_opts *o, lsc_ctx *ctx, const lsc_matrix *real, int64_t total_rows,
                           int sharded, lsc_reference **ref)
{
    if (o->k >= total_rows)
        return cli_fail(o, EXIT_BAD_INPUT, "--k: k=%lld needs at least %lld rows in %s, got %lld",
                        (long long)o->k, (long long)o->k + 1, o->real, (long long)total_rows);
    lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
    ro.metric = o->metric;
    ro.comparison = o->inclusive ? LSC_COMPARISON_INCLUSIVE : LSC_COMPARISON_STRICT;
    ro.borrow_rows = 1; /* the input stays mapped until the reference is gone: no second copy */
    cli_progress_label("real radii");
    lsc_status st = sharded ? lsc_reference_create_sharded(ctx, real, o->k, &ro, ref)
                            : lsc_reference_create(ctx, real, o->k, &ro, ref);
    cli_progress_done();
    if (st != LSC_STATUS_OK) return cli_par_lib_fail(o, ctx, st, o->real, "real", total_rows);
    return 0;
}

static int cmd_prdc(cli_opts *o)
{
    int rc = 0;
    if (!!o->real == !!o->reference)
        return cli_fail(o, EXIT_BAD_INPUT,
                        "give exactly one of --real and --reference (see --help)");
    if ((rc = need(o, o->fake, "fake"))) return rc;
    /* under mpirun: each rank reads its part of the fake rows and its part of the real rows
     * (--real) or its shard of the reference (--reference, after the agreement below) */
    const int sharded = cli_par_active();
    lsc_input r, f;
    memset(&r, 0, sizeof r);
    memset(&f, 0, sizeof f);
    lsc_reference *ref = NULL;
    lsc_ctx *ctx = NULL;
    if (o->real) rc = sharded ? cli_open_part(o, o->real, &r) : cli_open(o, o->real, &r);
    if (!rc) rc = sharded ? cli_open_part(o, o->fake, &f) : cli_open(o, o->fake, &f);
    if (!rc) ctx = cli_ctx(o, &rc);
    if ((rc = par_ready(o, rc, ctx))) goto done;
    /* every part together (one process: the file's rows) */
    lsc_matrix real_whole = r.m, fake_whole = f.m;
    if (sharded) {
        real_whole.rows = r.total_rows;
        fake_whole.rows = f.total_rows;
    }
    double t0 = cli_now_ms();
    if (o->real) {
        if (r.m.cols != f.m.cols) {
            rc = cli_fail(o, EXIT_BAD_INPUT, "%s has %lld columns but %s has %lld", o->real,
                          (long long)r.m.cols, o->fake, (long long)f.m.cols);
            goto done;
        }
        if ((rc = build_reference(o, ctx, &r.m, real_whole.rows, sharded, &ref))) goto done;
    } else {
        lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
        if ((rc = cli_reference_load_checked(o, ctx, sharded, &ref, &info))) goto done;
        if (info.cols != f.m.cols) {
            rc = cli_fail(o, EXIT_BAD_INPUT, "%s has %lld columns but %s has %lld", o->reference,
                          (long long)info.cols, o->fake, (long long)f.m.cols);
            goto done;
        }
    }
    if (o->k >= fake_whole.rows) {
        rc = cli_fail(o, EXIT_BAD_INPUT, "--k: k=%lld needs at least %lld rows in %s, got %lld",
                      (long long)o->k, (long long)o->k + 1, o->fake, (long long)fake_whole.rows);
        goto done;
    }
    lsc_prdc_result p = LSC_PRDC_RESULT_INIT;
    cli_progress_label("prdc");
    lsc_status st = sharded ? lsc_prdc_sharded(ctx, ref, &f.m, &p) : lsc_prdc(ctx, ref, &f.m, &p);
    cli_progress_done();
    double t1 = cli_now_ms();
    if (st != LSC_STATUS_OK) {
        rc = cli_par_lib_fail(o, ctx, st, o->fake, "fake", fake_whole.rows);
        goto done;
    }
    if (cli_par_rank() > 0) goto done; /* the figures are rank 0's to write and print */
    if (o->json) {
        json_w w;
        FILE *jf = json_begin(o, ctx, &w, &rc);
        if (!jf) goto done;
        jw_obj(&w, "inputs");
        if (o->real) cli_json_input(&w, "real", o->real, &real_whole);
        else {
            jw_obj(&w, "real");
            jw_str(&w, "reference", o->reference);
            jw_int(&w, "rows", p.real_rows);
            jw_int(&w, "cols", f.m.cols);
            jw_end_obj(&w);
        }
        cli_json_input(&w, "fake", o->fake, &fake_whole);
        jw_end_obj(&w);
        jw_obj(&w, "params");
        jw_int(&w, "k", o->k);
        jw_str(&w, "comparison", o->inclusive ? "inclusive" : "strict");
        json_params_common(&w, o);
        jw_end_obj(&w);
        cli_json_prdc(&w, "prdc", &p);
        if ((rc = json_finish(o, &w, jf, "prdc", t1 - t0))) goto done;
    }
    if (!o->json || strcmp(o->json, "-")) {
        cli_print_prdc(stdout, &p);
        printf("  (%.1f ms, %s, %d rank%s)\n", t1 - t0, lsc_ctx_device_name(ctx), cli_par_ranks(),
               cli_par_ranks() > 1 ? "s" : "");
    }
done:
    lsc_reference_destroy(ref);
    lsc_ctx_destroy(ctx);
    if (o->real) lsc_input_close(&r);
    lsc_input_close(&f);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_reference_build(cli_opts *o)
{
    int rc;
    /* --k defaults to 5, as for prdc and report, whose references these are */
    if ((rc = need(o, o->real, "real")) || (rc = need(o, o->out, "out"))) return rc;
    /* under mpirun with several ranks: each rank its part of the rows, one file written together */
    const int sharded = cli_par_ranks() > 1;
    lsc_input r;
    memset(&r, 0, sizeof r);
    lsc_ctx *ctx = NULL;
    lsc_reference *ref = NULL;
    if (!(rc = sharded ? cli_open_part(o, o->real, &r) : cli_open(o, o->real, &r)))
        ctx = cli_ctx(o, &rc);
    if ((rc = par_ready(o, rc, ctx))) goto done;
    lsc_matrix whole = r.m; /* every part together */
    whole.rows = sharded ? r.total_rows : r.m.rows;
    if (!(rc = build_reference(o, ctx, &r.m, whole.rows, sharded, &ref))) {
        /* the judging half's radii for the verdicts' default seed travel in the file, so each
         * `report --reference` skips that pass (a reference too small for verdicts skips it);
         * a sharded reference cannot prepare them, its file leaves them to the report */
        lsc_reference_info pi = LSC_REFERENCE_INFO_INIT;
        lsc_reference_info_get(ref, &pi);
        lsc_status st = !sharded && pi.rows >= 8 && pi.k + 1 < pi.rows / 2
                            ? lsc_reference_prepare(ctx, ref, 0)
                            : LSC_STATUS_OK;
        if (st == LSC_STATUS_OK)
            st = sharded ? lsc_reference_save_sharded(ctx, ref, o->out)
                         : lsc_reference_save(ctx, ref, o->out);
        if (st != LSC_STATUS_OK) rc = cli_fail(o, cli_status_exit(st), "%s", lsc_last_error(ctx));
        else if (cli_par_rank() == 0) {
            /* a shard's info is its own rows': the file's, read back, is the whole reference's */
            lsc_reference *saved = NULL;
            if (sharded && (st = lsc_reference_load(ctx, o->out, &saved)) != LSC_STATUS_OK)
                rc = cli_reference_load_fail(o, ctx, st, o->out);
            lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
            if (!rc) lsc_reference_info_get(sharded ? saved : ref, &info);
            lsc_reference_destroy(saved);
            if (rc) goto done;
            const char *cmp = info.comparison == LSC_COMPARISON_INCLUSIVE ? "inclusive" : "strict";
            if (o->json) {
                json_w w;
                FILE *jf = json_begin(o, ctx, &w, &rc);
                if (jf) {
                    jw_obj(&w, "inputs");
                    cli_json_input(&w, "real", o->real, &whole);
                    jw_end_obj(&w);
                    jw_obj(&w, "reference");
                    jw_str(&w, "path", o->out);
                    jw_int(&w, "file_version", info.file_version);
                    jw_int(&w, "rows", info.rows);
                    jw_int(&w, "cols", info.cols);
                    jw_int(&w, "k", info.k);
                    jw_str(&w, "metric", cli_metric_name(info.metric));
                    jw_str(&w, "comparison", cmp);
                    jw_int(&w, "zero_radii", info.zero_radii);
                    if (info.prepared) jw_int(&w, "prepared_seed", (int64_t)info.prepared_seed);
                    else jw_null(&w, "prepared_seed");
                    jw_end_obj(&w);
                    rc = json_finish(o, &w, jf, NULL, 0.0);
                }
            }
            if (!rc && (!o->json || strcmp(o->json, "-")))
                printf("reference %s: %lld x %lld rows, k=%lld, %s, %s, %lld zero radii%s\n",
                       o->out, (long long)info.rows, (long long)info.cols, (long long)info.k,
                       cli_metric_name(info.metric), cmp, (long long)info.zero_radii,
                       info.prepared ? "; the verdicts' judging half prepared (seed 0)" : "");
        }
    }
done:
    lsc_reference_destroy(ref);
    lsc_ctx_destroy(ctx);
    lsc_input_close(&r);
    return rc;
}

static int cmd_reference_inspect(cli_opts *o, const char *path)
{
    int rc = 0;
    if (!path) return cli_fail(o, EXIT_BAD_INPUT, "missing the reference file (see --help)");
    /* reading a file and its radii needs no device: auto does not probe for one here */
    cli_opts oc = *o;
    if (oc.backend == LSC_BACKEND_AUTO) oc.backend = LSC_BACKEND_CPU;
    lsc_ctx *ctx = cli_ctx(&oc, &rc);
    if (!ctx) return rc;
    lsc_reference *ref = NULL;
    lsc_status st = lsc_reference_load(ctx, path, &ref);
    if (st != LSC_STATUS_OK) {
        rc = cli_reference_load_fail(o, ctx, st, path);
        lsc_ctx_destroy(ctx);
        return rc;
    }
    lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
    lsc_reference_info_get(ref, &info);
    double *r = malloc(sizeof(double) * (size_t)info.rows);
    if (!r) rc = cli_fail(o, EXIT_MACHINE, "out of memory");
    else {
        memcpy(r, lsc_reference_radii(ref), sizeof(double) * (size_t)info.rows);
        qsort(r, (size_t)info.rows, sizeof *r, cmp_double);
        double mean = 0;
        for (int64_t i = 0; i < info.rows; i++) mean += r[i];
        mean /= (double)info.rows;
        const char *cmp = info.comparison == LSC_COMPARISON_INCLUSIVE ? "inclusive" : "strict";
        if (o->json) {
            json_w w;
            FILE *jf = json_begin(o, ctx, &w, &rc);
            if (jf) {
                jw_obj(&w, "reference");
                jw_str(&w, "path", path);
                jw_int(&w, "file_version", info.file_version);
                jw_int(&w, "rows", info.rows);
                jw_int(&w, "cols", info.cols);
                jw_int(&w, "k", info.k);
                jw_str(&w, "metric", cli_metric_name(info.metric));
                jw_str(&w, "comparison", cmp);
                jw_int(&w, "zero_radii", info.zero_radii);
                if (info.prepared) jw_int(&w, "prepared_seed", (int64_t)info.prepared_seed);
                else jw_null(&w, "prepared_seed");
                jw_obj(&w, "radii");
                jw_num(&w, "min", r[0]);
                jw_num(&w, "median", r[(info.rows - 1) / 2]);
                jw_num(&w, "mean", mean);
                jw_num(&w, "max", r[info.rows - 1]);
                jw_end_obj(&w);
                jw_end_obj(&w);
                rc = json_finish(o, &w, jf, NULL, 0.0);
            }
        }
        if (!rc && (!o->json || strcmp(o->json, "-"))) {
            printf("reference %s\n", path);
            printf("  file format version %lld\n", (long long)info.file_version);
            printf("  rows %lld  cols %lld  k %lld  metric %s  comparison %s\n",
                   (long long)info.rows, (long long)info.cols, (long long)info.k,
                   cli_metric_name(info.metric), cmp);
            printf("  radii: min %.6g  median %.6g  mean %.6g  max %.6g  zero %lld\n", r[0],
                   r[(info.rows - 1) / 2], mean, r[info.rows - 1], (long long)info.zero_radii);
            if (info.prepared)
                printf("  verdicts: the judging half's radii are stored for --seed %llu (a report "
                       "with that seed skips their pass)\n",
                       (unsigned long long)info.prepared_seed);
            else
                printf("  verdicts: nothing stored (%s); each report computes the judging half's "
                       "radii on first use\n",
                       info.file_version == 1 ? "a version 1 file" : "not prepared");
        }
    }
    free(r);
    lsc_reference_destroy(ref);
    lsc_ctx_destroy(ctx);
    return rc;
}

/* ---- distribution distances (docs/METRICS.md section 10) -------------------------------------- */

static const char *HELP_FD =
    "usage: lsc fd --real A --fake B [options]\n"
    "       lsc fd-stats --input X --out STATS.npz [options]\n"
    "\n"
    "fd: the Frechet distance between two sets (FID on Inception features, FD-DINOv2, ...), each\n"
    "given as features (rows = samples, any input format) or as a statistics .npz holding float64\n"
    "mu (D) and sigma (D x D, ddof 1): the files of pytorch-fid and clean-fid, and of fd-stats.\n"
    "fd-stats: writes those statistics of one set (numpy.load and pytorch-fid read it).\n"
    "The figure's pinned tolerance is printed beside it (docs/METRICS.md section 10.1).\n\noptions:\n"
    "  --real A, --fake B        the two sets: features or statistics (.npz with mu, sigma)\n"
    "  --input X --out S.npz     fd-stats: the set and the statistics file to write\n" COMMON_HELP;

static const char *HELP_KID =
    "usage: lsc kid --real A --fake B [--subsets S] [--subset-rows R] [--seed S] [options]\n"
    "\n"
    "KID: the unbiased MMD^2 with the kernel (x.y / D + 1)^3 over seeded subsets of\n"
    "min(R, N, M) rows of each set; mean and std (ddof 1). docs/METRICS.md section 10.2.\n\noptions:\n"
    "  --real A, --fake B        the two sets (features)\n"
    "  --subsets S               subsets (default 100)\n"
    "  --subset-rows R           rows of each set in a subset (default 1000)\n" SEED_HELP
        COMMON_HELP;

static const char *HELP_MMD =
    "usage: lsc mmd --real A --fake B [--sigma S] [--scale C] [options]\n"
    "\n"
    "RBF MMD, CMMD's estimator: scale x the biased MMD^2 with exp(-||x - y||^2 / (2 sigma^2))\n"
    "over every row, on the rows as given (CMMD uses unit CLIP embeddings). Section 10.3.\n\noptions:\n"
    "  --real A, --fake B        the two sets (features)\n"
    "  --sigma S                 bandwidth (default 10, CMMD's)\n"
    "  --scale C                 factor (default 1000, CMMD's)\n" COMMON_HELP;

/* fd, kid, mmd: both --real and --fake, and a context. NULL with *rc set otherwise. */
static lsc_ctx *pair_ctx(cli_opts *o, int *rc)
{
    *rc = need(o, o->real, "real");
    if (!*rc) *rc = need(o, o->fake, "fake");
    return *rc ? NULL : cli_ctx(o, rc);
}

/* The JSON document of fd, kid or mmd: inputs, then the figure's object (cli_json_*). */
static int pair_json(cli_opts *o, lsc_ctx *ctx, const lsc_input *a, const lsc_input *b,
                     const char *name, double ms, const lsc_fd_result *fd,
                     const lsc_kid_result *kid, const lsc_mmd_result *mmd)
{
    int rc = 0;
    json_w w;
    FILE *f = json_begin(o, ctx, &w, &rc);
    if (!f) return rc;
    jw_obj(&w, "inputs");
    if (a) {
        cli_json_input(&w, "real", o->real, &a->m);
        cli_json_input(&w, "fake", o->fake, &b->m);
    } else { /* fd: either side may be a statistics file */
        jw_str(&w, "real", o->real);
        jw_str(&w, "fake", o->fake);
    }
    jw_end_obj(&w);
    if (fd) cli_json_fd(&w, "fd", fd);
    if (kid) cli_json_kid(&w, "kid", kid, o->seed);
    if (mmd) cli_json_mmd(&w, "mmd", mmd, o->sigma, o->scale);
    return json_finish(o, &w, f, name, ms);
}

/* One side of fd: a statistics file, or features reduced to their statistics. */
static int fd_side(cli_opts *o, lsc_ctx *ctx, const char *path, double **mu, double **sigma,
                   int64_t *d)
{
    char err[1024];
    int rc = lsc_stats_open(path, mu, sigma, d, err, sizeof err);
    if (rc == 0) return 0;
    if (rc > 0) return cli_fail(o, rc, "%s", err);
    lsc_input in;
    if ((rc = cli_open(o, path, &in))) return rc;
    const int64_t n = in.m.cols;
    *mu = malloc((size_t)n * sizeof(double));
    *sigma = malloc((size_t)n * (size_t)n * sizeof(double));
    lsc_status st =
        *mu && *sigma ? lsc_fd_stats(ctx, &in.m, *mu, *sigma) : LSC_STATUS_OUT_OF_MEMORY;
    lsc_input_close(&in);
    if (st != LSC_STATUS_OK) {
        free(*mu);
        free(*sigma);
        *mu = *sigma = NULL;
        return cli_lib_fail(o, ctx, st, path);
    }
    *d = n;
    return 0;
}

static int cmd_fd(cli_opts *o)
{
    int rc;
    lsc_ctx *ctx = pair_ctx(o, &rc);
    if (!ctx) return rc;
    double *m1 = NULL, *s1 = NULL, *m2 = NULL, *s2 = NULL;
    int64_t d1 = 0, d2 = 0;
    cli_progress_label("fd statistics");
    double t0 = cli_now_ms();
    rc = fd_side(o, ctx, o->real, &m1, &s1, &d1);
    if (!rc) rc = fd_side(o, ctx, o->fake, &m2, &s2, &d2);
    if (!rc && d1 != d2)
        rc = cli_fail(o, EXIT_BAD_INPUT, "%s has %lld columns, %s has %lld", o->real, (long long)d1,
                      o->fake, (long long)d2);
    lsc_fd_result r = LSC_FD_RESULT_INIT;
    if (!rc) {
        lsc_status st = lsc_frechet_distance_stats(ctx, d1, m1, s1, m2, s2, &r);
        if (st != LSC_STATUS_OK) rc = cli_lib_fail(o, ctx, st, "frechet distance");
    }
    double t1 = cli_now_ms();
    cli_progress_done();
    if (!rc && o->json) rc = pair_json(o, ctx, NULL, NULL, "fd", t1 - t0, &r, NULL, NULL);
    if (!rc && (!o->json || strcmp(o->json, "-"))) {
        cli_print_fd(stdout, &r);
        printf("  (%.1f ms, %s)\n", t1 - t0, lsc_ctx_device_name(ctx));
    }
    free(m1);
    free(s1);
    free(m2);
    free(s2);
    lsc_ctx_destroy(ctx);
    return rc;
}

static int cmd_fd_stats(cli_opts *o)
{
    int rc = need(o, o->input, "input");
    if (!rc) rc = need(o, o->out, "out");
    if (rc) return rc;
    lsc_input in;
    if ((rc = cli_open(o, o->input, &in))) return rc;
    lsc_ctx *ctx = cli_ctx(o, &rc);
    if (!ctx) {
        lsc_input_close(&in);
        return rc;
    }
    const int64_t d = in.m.cols;
    double *mu = malloc((size_t)d * sizeof(double));
    double *sigma = malloc((size_t)d * (size_t)d * sizeof(double));
    cli_progress_label("fd statistics");
    lsc_status st = mu && sigma ? lsc_fd_stats(ctx, &in.m, mu, sigma) : LSC_STATUS_OUT_OF_MEMORY;
    cli_progress_done();
    if (st != LSC_STATUS_OK) rc = cli_lib_fail(o, ctx, st, o->input);
    else {
        char err[1024];
        rc = lsc_stats_write(o->out, mu, sigma, d, err, sizeof err);
        if (rc) rc = cli_fail(o, rc, "%s", err);
        else if (!o->json || strcmp(o->json, "-"))
            printf("wrote %s: mu (%lld), sigma (%lld x %lld), float64, ddof 1, from %lld rows\n",
                   o->out, (long long)d, (long long)d, (long long)d, (long long)in.m.rows);
    }
    free(mu);
    free(sigma);
    lsc_ctx_destroy(ctx);
    lsc_input_close(&in);
    return rc;
}

/* kid and mmd: both sets as features. */
static int cmd_kernel(cli_opts *o, int kid)
{
    int rc;
    lsc_ctx *ctx = pair_ctx(o, &rc);
    if (!ctx) return rc;
    lsc_input a, b;
    if ((rc = cli_open(o, o->real, &a))) {
        lsc_ctx_destroy(ctx);
        return rc;
    }
    if ((rc = cli_open(o, o->fake, &b))) {
        lsc_input_close(&a);
        lsc_ctx_destroy(ctx);
        return rc;
    }
    const char *name = kid ? "kid" : "mmd";
    lsc_kid_result kr = LSC_KID_RESULT_INIT;
    lsc_mmd_result mr = LSC_MMD_RESULT_INIT;
    cli_progress_label(name);
    double t0 = cli_now_ms();
    lsc_status st = kid ? cli_kid(ctx, o, &a.m, &b.m, &kr) : cli_mmd(ctx, o, &a.m, &b.m, &mr);
    double t1 = cli_now_ms();
    cli_progress_done();
    if (st != LSC_STATUS_OK) rc = cli_lib_fail(o, ctx, st, name);
    else if (o->json)
        rc = pair_json(o, ctx, &a, &b, name, t1 - t0, NULL, kid ? &kr : NULL, kid ? NULL : &mr);
    if (st == LSC_STATUS_OK && !rc && (!o->json || strcmp(o->json, "-"))) {
        if (kid) cli_print_kid(stdout, &kr);
        else cli_print_mmd(stdout, &mr, o->sigma, o->scale);
        printf("  (%.1f ms, %s)\n", t1 - t0, lsc_ctx_device_name(ctx));
    }
    lsc_ctx_destroy(ctx);
    lsc_input_close(&a);
    lsc_input_close(&b);
    return rc;
}

/* ---- main ------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    cli_opts o;
    cli_command cmd;
    int help;
    const char *pos;
    int rc = cli_parse_argv(&o, argc, argv, &cmd, &help, &pos);
    if (rc) return rc;
    if (help) {
        const char *h = HELP_MAIN;
        switch (cmd) {
        case CLI_CMD_REPORT: h = HELP_REPORT; break;
        case CLI_CMD_DEMO: h = HELP_DEMO; break;
        case CLI_CMD_SPECTRUM: h = HELP_SPECTRUM; break;
        case CLI_CMD_PAIRS: h = HELP_PAIRS; break;
        case CLI_CMD_KNN: h = HELP_KNN; break;
        case CLI_CMD_PRDC: h = HELP_PRDC; break;
        case CLI_CMD_REFERENCE:
        case CLI_CMD_REFERENCE_BUILD:
        case CLI_CMD_REFERENCE_INSPECT: h = HELP_REFERENCE; break;
        case CLI_CMD_FD:
        case CLI_CMD_FD_STATS: h = HELP_FD; break;
        case CLI_CMD_KID: h = HELP_KID; break;
        case CLI_CMD_MMD: h = HELP_MMD; break;
        case CLI_CMD_MONITOR_REPORT: h = HELP_MONITOR_REPORT; break;
        default: break;
        }
        if (cli_par_env_rank() == 0) fputs(h, stdout); /* once under mpirun */
        return 0;
    }
    if (cmd == CLI_CMD_VERSION) {
        if (cli_par_env_rank() == 0) printf("lsc %s\n", lsc_version());
        return 0;
    }
    /* under mpirun: MPI up and the command checked, or refused on every rank */
    if ((rc = cli_par_start(&o, cmd, &argc, &argv))) return rc;
    /* every output is checked before any work: a bad path costs nothing (rank 0 writes them) */
    rc = cli_par_rank() == 0 ? cli_check_outputs(&o) : 0;
    if (!(rc = cli_par_agree(rc))) {
        switch (cmd) {
        case CLI_CMD_REPORT: rc = cmd_report(&o); break;
        case CLI_CMD_DEMO: rc = cmd_demo(&o); break;
        case CLI_CMD_SPECTRUM: rc = cmd_spectrum(&o); break;
        case CLI_CMD_PAIRS: rc = cmd_pairs(&o); break;
        case CLI_CMD_KNN: rc = cmd_knn(&o); break;
        case CLI_CMD_PRDC: rc = cmd_prdc(&o); break;
        case CLI_CMD_REFERENCE_BUILD: rc = cmd_reference_build(&o); break;
        case CLI_CMD_REFERENCE_INSPECT: rc = cmd_reference_inspect(&o, pos); break;
        case CLI_CMD_FD: rc = cmd_fd(&o); break;
        case CLI_CMD_FD_STATS: rc = cmd_fd_stats(&o); break;
        case CLI_CMD_KID: rc = cmd_kernel(&o, 1); break;
        case CLI_CMD_MMD: rc = cmd_kernel(&o, 0); break;
        case CLI_CMD_MONITOR_REPORT: rc = cmd_monitor_report(&o, pos); break;
        default:
            fputs(HELP_MAIN, stdout);
            rc = 0;
            break;
        }
    }
    /* every rank exits with the same code */
    return cli_par_end(rc);
}
