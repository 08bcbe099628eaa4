/* Shared pieces of the lsc command line (tools/lsc.c, tools/report.c, tools/demo.c). */
#ifndef LSC_TOOLS_CLI_H
#define LSC_TOOLS_CLI_H

#include "lsc.h"

#include <stdint.h>
#include <stdio.h>

/* Exit codes: 0 a complete result, 1 a failure of the machine, 2 bad input, 130 interrupted. */
enum {
    EXIT_OK = 0,
    EXIT_MACHINE = 1,
    EXIT_BAD_INPUT = 2,
    EXIT_VERDICT = 3,
    EXIT_INTERRUPTED = 130
};

/* Thresholds of the readings (docs/METRICS.md section 6). */
typedef struct cli_thresholds {
    double dim_collapse_ratio;  /* fake effective_rank < ratio x real's */
    double mode_collapse_ratio; /* fake vendi_cosine < ratio x real's */
    double coverage_min;        /* coverage < this ... */
    double precision_high;      /* ... while precision >= this: mode collapse */
    double precision_min;       /* precision < this: low fidelity */
    double dup_fraction;        /* more than this fraction of fake rows near-duplicated */
    double active_ratio;        /* active_units < ratio x D: posterior collapse */
} cli_thresholds;

#define CLI_THRESHOLDS_INIT                                                                        \
    {                                                                                              \
        0.5, 0.5, 0.5, 0.7, 0.5, 0.01, 0.5                                                         \
    }

/* Every option of every command; a command accepts a subset of them. */
typedef struct cli_opts {
    const char *cmd; /* "report", "reference build", ... (for messages) */
    const char *real, *fake, *input, *queries, *base, *reference, *out, *out_dist, *out_idx;
    const char *json; /* NULL, "-" or a path */
    const char *html; /* report, monitor-report: --html OUT.html, or NULL */
    int64_t k;
    int k_set;
    lsc_backend backend;
    lsc_metric metric;
    int metric_set; /* --metric was given (a reference's metric must then agree) */
    int inclusive;
    int geometry; /* report: the geometry section (TwoNN, hubness) */
    int kid, mmd; /* report: the KID and RBF MMD sections (--kid, --mmd) */
    double dup_eps;
    int64_t bins;
    double active_threshold;
    int64_t pairs_max_rows;
    uint64_t seed;
    int threads;
    cli_thresholds th;
    int64_t splits;                /* held-out subsets of the verdicts' baselines */
    const char *labels;            /* --labels: class labels of the real rows (.npy) */
    const char *fake_labels;       /* --fake-labels: of the generated rows */
    int fail_on;                   /* exit 3 at this lsc_level or worse (0: never) */
    int fail_on_not_assessed;      /* ... or when a check is not assessed */
    char deprecated[72];           /* the first deprecated option given, "" if none */
    int progress;                  /* --progress: CLI_PROGRESS_AUTO, _ALWAYS or _NEVER */
    int64_t subsets, subset_rows;  /* kid: --subsets (100), --subset-rows (1000) */
    double sigma, scale;           /* mmd: --sigma (10), --scale (1000) */
    int sigma_given;               /* --sigma was given (the report needs --mmd or --geometry) */
    char kid_opt[72], mmd_opt[72]; /* the first KID / MMD option given ("--subsets"), "" if none:
                                    * the report refuses them without --kid / --mmd */
} cli_opts;

/* --progress auto (default): a live line with the percentage and ETA on a terminal, otherwise a
 * line at most every 10 s (none for a shorter run); always: on a non-terminal also a line as
 * each step starts; never: none. */
enum { CLI_PROGRESS_AUTO = 0, CLI_PROGRESS_ALWAYS = 1, CLI_PROGRESS_NEVER = 2 };

/* Argument parsing (tools/args.c), apart from running anything. */
typedef enum cli_command {
    CLI_CMD_HELP, /* lsc --help */
    CLI_CMD_VERSION,
    CLI_CMD_REPORT,
    CLI_CMD_DEMO,
    CLI_CMD_SPECTRUM,
    CLI_CMD_PAIRS,
    CLI_CMD_KNN,
    CLI_CMD_PRDC,
    CLI_CMD_REFERENCE, /* `lsc reference` with --help, or a parse error */
    CLI_CMD_REFERENCE_BUILD,
    CLI_CMD_REFERENCE_INSPECT,
    CLI_CMD_FD,       /* Frechet distance of two sets or statistics files */
    CLI_CMD_FD_STATS, /* writes a statistics file (pytorch-fid's .npz) */
    CLI_CMD_KID,
    CLI_CMD_MMD,
    CLI_CMD_MONITOR_REPORT, /* the page of a Monitor's history (JSONL) */
    CLI_CMD_COUNT           /* how many there are: a new command goes above this line */
} cli_command;

/* The defaults of every option. */
void cli_opts_init(cli_opts *o);
/* Parses argv (argv[1] the command) into *o (reset to the defaults first) and *cmd. Returns 0
 * (then *help = 1 asks for the help of *cmd, and *pos is the positional argument of
 * `reference inspect`, or NULL), or an exit code after one line on stderr. Required options
 * are checked by the commands, not here. Reads argv only; keeps pointers into it. */
int cli_parse_argv(cli_opts *o, int argc, char **argv, cli_command *cmd, int *help,
                   const char **pos);

/* Errors: one line on stderr, "lsc <cmd>: ...". Returns `code`. */
int cli_fail(const cli_opts *o, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Maps a library failure to an exit code and prints "lsc <cmd>: <what>: <last error>". */
int cli_lib_fail(const cli_opts *o, lsc_ctx *ctx, lsc_status st, const char *what);
/* A reference file that lsc_reference_load refused: the library's message, naming `path`. A
 * missing or unreadable file is bad input (exit 2), like any other input file. */
/* Loads --reference (sharded: this rank's shard, lsc_reference_load_sharded, collective) and
 * adopts its k, metric and comparison; a --k, --metric or --inclusive given too must agree
 * (exit 2 naming both values; the same file on every rank, so the same decision). Returns 0 or
 * the exit code. */
int cli_reference_load_checked(cli_opts *o, lsc_ctx *ctx, int sharded, lsc_reference **ref,
                               lsc_reference_info *info);
int cli_reference_load_fail(const cli_opts *o, lsc_ctx *ctx, lsc_status st, const char *path);
int cli_status_exit(lsc_status st);

/* Context with the chosen backend, progress (--progress) and Ctrl-C cancelling. NULL on failure
 * (message printed, *code set). */
lsc_ctx *cli_ctx(const cli_opts *o, int *code);
void cli_progress_label(const char *label);
void cli_progress_done(void);

double cli_now_ms(void);
/* splitmix64 */
uint64_t cli_rng_next(uint64_t *state);
double cli_rng_uniform(uint64_t *state); /* [0, 1) */
double cli_rng_normal(uint64_t *state);

/* The seeded subset of `n` of the rows of m (lsc_sample_rows, positions 0..n-1), in row order,
 * as an owned copy (same dtype).
 * Returns NULL if out of memory. */
void *cli_subset_rows(lsc_ctx *ctx, const lsc_matrix *m, int64_t n, uint64_t seed, lsc_matrix *out);
/* The same subset of a set of total_rows rows of which m holds rows first_row.. (a rank's part):
 * m's rows of it, in row order (out->rows of them, perhaps none; the parts of every rank,
 * concatenated in rank order, are the subset). */
void *cli_subset_rows_part(lsc_ctx *ctx, const lsc_matrix *m, int64_t total_rows, int64_t first_row,
                           int64_t n, uint64_t seed, lsc_matrix *out);

/* Minimal JSON writer. Strings are written as valid UTF-8 JSON whatever their bytes: a byte
 * that is not part of a well-formed UTF-8 sequence is written as the escape \u00XX of its value.
 * Nesting deeper than JW_MAX_DEPTH is not written; it sets `too_deep`, and jw_ok() is 0 then. */
enum { JW_MAX_DEPTH = 64 };
typedef struct json_w {
    FILE *f;
    int depth;
    int first[JW_MAX_DEPTH];
    int after_key;
    int skip; /* levels opened past JW_MAX_DEPTH, not written */
    int too_deep;
} json_w;
void jw_open(json_w *w, FILE *f);
void jw_obj(json_w *w, const char *key); /* key NULL inside arrays or at top level */
void jw_end_obj(json_w *w);
void jw_arr(json_w *w, const char *key);
void jw_end_arr(json_w *w);
void jw_num(json_w *w, const char *key, double v);
void jw_int(json_w *w, const char *key, int64_t v);
void jw_str(json_w *w, const char *key, const char *s);
void jw_bool(json_w *w, const char *key, int v);
void jw_null(json_w *w, const char *key);
void jw_close(json_w *w);
/* 1 when everything asked for was written (nothing nested too deeply). */
int jw_ok(const json_w *w);

/* Shared JSON sections. */
void cli_json_header(json_w *w, lsc_ctx *ctx);
void cli_json_input(json_w *w, const char *key, const char *path, const lsc_matrix *m);
void cli_json_spectrum(json_w *w, const char *key, const lsc_spectrum_result *s, const double *sv,
                       int64_t rows_used, int64_t rows_total);
void cli_json_pairs(json_w *w, const char *key, const lsc_pair_result *p, const int64_t *hist,
                    const lsc_pair *dups, int64_t max_list);
void cli_json_prdc(json_w *w, const char *key, const lsc_prdc_result *r);
void cli_json_definitions(json_w *w);
void cli_print_spectrum(FILE *f, const char *name, const lsc_spectrum_result *s, int64_t rows_used,
                        int64_t rows_total);
void cli_print_pairs(FILE *f, const char *name, const lsc_pair_result *p, const cli_opts *o);
/* The distance histogram as rows of bars ('#', the fullest row 40 wide), at most 32 rows:
 * adjacent bins are merged, and said so, when there are more. */
void cli_print_histogram(FILE *f, const lsc_pair_result *p, const int64_t *hist);
void cli_print_prdc(FILE *f, const lsc_prdc_result *r);
const char *cli_metric_name(lsc_metric m);
/* Distribution distances (docs/METRICS.md section 10), shared by `lsc fd/kid/mmd` and the report
 * so that both give the same figures under the same keys: KID and MMD with the options of `o`
 * (--subsets, --subset-rows, --seed; --sigma, --scale), their JSON objects and text lines. */
lsc_status cli_kid(lsc_ctx *ctx, const cli_opts *o, const lsc_matrix *a, const lsc_matrix *b,
                   lsc_kid_result *r);
lsc_status cli_mmd(lsc_ctx *ctx, const cli_opts *o, const lsc_matrix *a, const lsc_matrix *b,
                   lsc_mmd_result *r);
void cli_json_fd(json_w *w, const char *key, const lsc_fd_result *r);
void cli_json_kid(json_w *w, const char *key, const lsc_kid_result *r, uint64_t seed);
void cli_json_mmd(json_w *w, const char *key, const lsc_mmd_result *r, double sigma, double scale);
void cli_print_fd(FILE *f, const lsc_fd_result *r);
void cli_print_kid(FILE *f, const lsc_kid_result *r);
void cli_print_mmd(FILE *f, const lsc_mmd_result *r, double sigma, double scale);

/* Output files. Every output a command will write (--json unless "-", --out, --out-dist,
 * --out-idx) is checked before any work: each can be created (its directory exists and is
 * writable, it is not a directory), no two name the same file (--out-dist and --out-idx may name
 * two members of one .npz), none names an input, and --out-dist / --out-idx name .npy or .npz
 * files. Returns 0 or exit 2 after one line on stderr. */
int cli_check_outputs(const cli_opts *o);
/* Opens `path` for writing ("-": stdout): a temporary file beside it, created with mode 0666
 * less the umask, which cli_output_close renames over `path` when the write succeeded and removes
 * otherwise (as it is at exit if never closed), so a failed or interrupted command leaves no
 * partial file. NULL and *code on failure. */
FILE *cli_output_open(const cli_opts *o, const char *path, int *code);
/* Closes it: renamed into place when `ok` and every write succeeded, else removed. Returns 0 or
 * an exit code (message printed). */
int cli_output_close(const cli_opts *o, FILE *f, int ok);

/* Opens an input or fails (message printed). Returns 0 or the exit code. */
#include "input.h"
int cli_open(const cli_opts *o, const char *path, lsc_input *in);
/* Opens this rank's part of the rows of an input (lsc_input_open_part: rank r of P holds rows
 * [r n / P, (r + 1) n / P)), or the whole input outside mpirun. Returns 0 or the exit code. */
int cli_open_part(const cli_opts *o, const char *path, lsc_input *in);
/* Refuses a NaN or Inf anywhere in m (exit 2, naming the row and column of the file, whose row
 * first_row m's first row is). */
int cli_check_finite(const cli_opts *o, const char *path, const lsc_matrix *m, int64_t first_row);

/* ---- under mpirun (tools/par.c) ------------------------------------------------------------
 * `mpirun -np P lsc <command>`: with the CLI's MPI module (built with LSC_MPI), every rank
 * initialises MPI (FUNNELED), reads its part of the rows and calls the sharded operation on a
 * context given MPI_COMM_WORLD; rank 0 alone writes and prints. A failure on some ranks is held
 * (cli_fail) until the next agreement, where the lowest failing rank prints its message and
 * every rank takes the largest exit code: every rank exits with one code, the job prints one
 * message. Started by mpirun without the module, or for a command not sharded yet with P > 1,
 * the CLI refuses on every rank. */

/* 1 when started by mpirun (OMPI_COMM_WORLD_SIZE or PMIX_RANK set), naming the variable. */
int cli_par_launched(const char **var, const char **value);
/* Called after parsing, before any work: nothing outside mpirun; under it, MPI initialised and
 * the command checked (0), or the refusal's exit code after its message. */
int cli_par_start(const cli_opts *o, cli_command cmd, int *argc, char ***argv);
/* The launcher's rank (OMPI_COMM_WORLD_RANK or PMIX_RANK; 0 outside mpirun), known before MPI
 * is up: who prints help or a refusal once. */
int cli_par_env_rank(void);
/* 1 while the ranks run together (cli_par_start succeeded under mpirun, even with -np 1). */
int cli_par_active(void);
int cli_par_rank(void);  /* 0 outside mpirun */
int cli_par_ranks(void); /* 1 outside mpirun */
/* Every rank's code of the phase so far: returns the largest (rc itself outside mpirun); the
 * held message of the lowest failing rank is printed. Collective: every rank must call it at the
 * same point of a command, after each phase that can fail on some ranks alone. */
int cli_par_agree(int rc);
/* Gives ctx the MPI transport over MPI_COMM_WORLD (nothing outside mpirun). 0 or exit code. */
int cli_par_attach(const cli_opts *o, lsc_ctx *ctx);
/* cli_lib_fail for a sharded call whose matrix `name` ("x", "base") was read by parts of the
 * n rows of `path`: a row the library names within a rank's part is named as the file's row. */
int cli_par_lib_fail(const cli_opts *o, lsc_ctx *ctx, lsc_status st, const char *path,
                     const char *name, int64_t n);
/* The last agreement and MPI_Finalize: returns the code every rank exits with. */
int cli_par_end(int rc);
/* The state the rest of the CLI reads (tools/common.c), which tools/par.c sets under mpirun:
 * this rank, the rank count, and cli_fail's hook, which keeps a line for the next agreement
 * (returning 1) instead of printing it; NULL outside mpirun. */
extern int cli_rank_, cli_ranks_;
extern int (*cli_fail_hold_)(const char *line);

int cmd_report(cli_opts *o);
int cmd_demo(cli_opts *o);
/* lsc monitor-report HISTORY.jsonl --html OUT.html (tools/monitor_report.c) */
int cmd_monitor_report(cli_opts *o, const char *history);

/* The length of the well-formed UTF-8 sequence at p, or 0 (the JSON writer's rule). */
int cli_utf8_len(const unsigned char *p);

/* ---- the report's page (tools/html.c) ------------------------------------------------------ */

/* Nearest-neighbour distance histograms (one set's rows to their nearest other row; the
 * generated rows to their nearest real row), all over the same equal-width bins. */
enum { CLI_NN_REAL_REAL = 0, CLI_NN_FAKE_FAKE = 1, CLI_NN_FAKE_REAL = 2, CLI_NN_BINS = 64 };
typedef struct cli_nn_hist {
    int have;       /* computed (the report computes them with --html) */
    double upper;   /* bin j holds upper j / CLI_NN_BINS <= d < upper (j + 1) / ..;
                       the last bin also every d >= upper: upper is 1.05 x the
                       largest 99.5th percentile of the three, so that a few far
                       rows do not squeeze the rest into a few bins */
    double largest; /* the largest distance of the three */
    int64_t counts[3][CLI_NN_BINS];
    int64_t rows[3];            /* query rows counted, 0 when the histogram is absent */
    int subset[3];              /* 1 when a seeded subset of the query rows was used */
    double median[3];           /* lower middle value for an even count */
    double memorisation_factor; /* the verdicts' (lsc_assess_opts.memorisation_factor) */
    double memorisation_line;   /* factor x median[CLI_NN_REAL_REAL] */
} cli_nn_hist;
void cli_json_nn_hist(json_w *w, const char *key, const cli_nn_hist *h);

/* One set as the page shows it. */
typedef struct cli_html_set {
    const char *path;
    int64_t rows, cols;
    const lsc_spectrum_result *s; /* the compared spectrum, of spec_rows rows */
    const double *sv;             /* its s->rank_limit singular values */
    int64_t spec_rows;
    const lsc_pair_result *p; /* all-pairs figures, NULL when not computed */
    const lsc_pair *dups;     /* p->near_duplicates_listed pairs */
} cli_html_set;

typedef struct cli_html_report {
    const cli_opts *o;
    const char *device, *version;
    const lsc_assessment *a;         /* the verdicts, NULL without --fake */
    const cli_html_set *real, *fake; /* NULL when absent (a real set from a reference: its
                                        rows, without path) */
    const char *reference;           /* --reference, or NULL */
    const lsc_prdc_result *prdc;     /* NULL without --fake */
    const cli_nn_hist *nn;
    int64_t mem_rows; /* generated rows within dup_eps of a real row, -1 n/a */
    const char *const *readings;
    int nread;
    const char *const *timing_name; /* the JSON's timings_ms, in its order */
    const double *timing_ms;
    int ntimings;
} cli_html_report;
/* Writes the report's page: one self-contained HTML document (inline CSS and SVG; no script, no
 * request), binned (its size does not grow with the rows), every plotted mark with data-key and
 * data-value attributes. Returns 0 when every write succeeded. */
int cli_html_write(FILE *f, const cli_html_report *r);

/* Pieces the history page (tools/monitor_report.c) shares with the report's page. */
void html_text(FILE *f, const char *s);          /* escaped text or attribute value */
void html_begin(FILE *f, const char *title);     /* doctype .. <main> */
void html_end(FILE *f);                          /* </main> .. </html> */
const char *html_level_class(const char *level); /* "ok", "borderline", ... or "na" */
/* A plot's frame: the data window x0..x1, y0..y1 (log10 axes when logx / logy, their bounds
 * then > 0) inside an SVG of w x h user units with margins l, r, t, b. */
typedef struct html_plot {
    double w, h, l, r, t, b;
    double x0, x1, y0, y1;
    int logx, logy;
} html_plot;
void html_plot_init(html_plot *p, double w, double h, double x0, double x1, double y0, double y1);
double html_px(const html_plot *p, double x);
double html_py(const html_plot *p, double y);
/* <svg> with its axes, ticks and labels; closed by html_plot_end. */
void html_plot_begin(FILE *f, const html_plot *p, const char *title, const char *xlabel,
                     const char *ylabel);
void html_plot_end(FILE *f);
/* A mark readable by a test: `<circle>` point, or a vertical line over the plot's height. The
 * key is written escaped; the value with 17 significant digits. */
void html_point(FILE *f, const html_plot *p, double x, double y, const char *cls, const char *key,
                double value);
void html_vline(FILE *f, const html_plot *p, double x, const char *cls, const char *key,
                double value, const char *label);
/* The polyline through the given points (those with a finite position), drawn under the marks. */
void html_polyline(FILE *f, const html_plot *p, const double *x, const double *y, int64_t n,
                   const char *cls);

/* The fixed-threshold readings (docs/METRICS.md section 6; deprecated, kept one release in the
 * report's JSON as readings_fixed_thresholds, and the demo's) of a comparison, or of one set
 * when sfake is NULL. With a fake set sreal may be NULL (a reference whose rows are not at
 * hand): the readings that need the real spectrum are then left out. */
typedef struct cli_reading_in {
    const lsc_spectrum_result *sreal, *sfake;
    const lsc_prdc_result *prdc; /* NULL without a fake set */
    double fake_dup_fraction;    /* fraction of fake rows in a near-duplicate pair, < 0 n/a */
    int64_t fake_dup_rows;
    int dup_lower_bound;      /* 1 if the listed pairs were capped */
    double fake_mem_fraction; /* fraction of fake rows within dup_eps of a real row, < 0 n/a */
    double dup_eps;
} cli_reading_in;
/* Writes up to `max` readings into out[] (each a malloc'd string); returns the count, or -1
 * when out of memory (nothing left allocated). */
int cli_readings(const cli_reading_in *in, const cli_thresholds *th, char **out, int max);

#endif
