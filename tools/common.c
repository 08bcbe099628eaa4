/* Shared pieces of the lsc command line: errors, context, progress, random numbers, subsets,
 * JSON writer and the printing of each family of figures. */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with realpath */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* ---- the ranks under mpirun (set by tools/par.c; one process otherwise) --------------------- */

int cli_rank_ = 0, cli_ranks_ = 1;
int (*cli_fail_hold_)(const char *line) = NULL;

int cli_par_rank(void) { return cli_rank_; }
int cli_par_ranks(void) { return cli_ranks_; }

/* ---- errors ------------------------------------------------------------------------------- */

int cli_fail(const cli_opts *o, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    cli_progress_done();
    char line[1200];
    snprintf(line, sizeof line, "lsc%s%s: %s", o && o->cmd ? " " : "", o && o->cmd ? o->cmd : "",
             msg);
    if (!cli_fail_hold_ || !cli_fail_hold_(line)) fprintf(stderr, "%s\n", line);
    return code;
}

int cli_status_exit(lsc_status st)
{
    switch (st) {
    case LSC_STATUS_OK: return EXIT_OK;
    case LSC_STATUS_INVALID_ARGUMENT:
    case LSC_STATUS_INVALID_DATA:
    case LSC_STATUS_BAD_FILE:
    case LSC_STATUS_NOT_SUPPORTED:
    case LSC_STATUS_OVERFLOW: return EXIT_BAD_INPUT;
    case LSC_STATUS_CANCELLED: return EXIT_INTERRUPTED;
    default: return EXIT_MACHINE;
    }
}

int cli_lib_fail(const cli_opts *o, lsc_ctx *ctx, lsc_status st, const char *what)
{
    if (st == LSC_STATUS_CANCELLED) return cli_fail(o, EXIT_INTERRUPTED, "interrupted");
    const char *e = lsc_last_error(ctx);
    if (!e || !*e) e = lsc_status_string(st);
    /* the library names the matrix ("x: row 3 col 2 is NaN"); `what` already names the file */
    static const char *names[] = {"x: ", "real: ", "fake: ", "queries: ", "base: "};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strncmp(e, names[i], strlen(names[i])) && !strncmp(e + strlen(names[i]), "row ", 4)) {
            e += strlen(names[i]);
            break;
        }
    return cli_fail(o, cli_status_exit(st), "%s: %s", what, e);
}

int cli_reference_load_fail(const cli_opts *o, lsc_ctx *ctx, lsc_status st, const char *path)
{
    int code = cli_status_exit(st);
    if (st == LSC_STATUS_IO_ERROR) code = EXIT_BAD_INPUT;
    const char *e = lsc_last_error(ctx);
    if (!e || !*e) return cli_fail(o, code, "%s: %s", path, lsc_status_string(st));
    if (strstr(e, path)) return cli_fail(o, code, "%s", e);
    return cli_fail(o, code, "%s: %s", path, e);
}

/* ---- progress and Ctrl-C ------------------------------------------------------------------ */

static volatile sig_atomic_t g_interrupted = 0;
static char g_label[64] = "";
static int g_progress_shown = 0; /* a terminal line is up, to be cleared */
static int g_tty = 0;
static int g_progress = CLI_PROGRESS_AUTO;
static double g_interval_ms = 10000.0; /* between two lines when stderr is not a terminal */
static double g_label_t0 = 0.0, g_last_line = 0.0;
static int g_label_lines = 0; /* lines printed for the current label */
static int g_last_pct = -1;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

/* "42 s", "3m05s", "2h07m" */
static void format_seconds(char *buf, size_t len, double s)
{
    long t = (long)(s + 0.5);
    if (t < 60) snprintf(buf, len, "%ld s", t);
    else if (t < 3600) snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, len, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}

static int progress_cb(double fraction, void *user)
{
    (void)user;
    if (g_progress == CLI_PROGRESS_NEVER) return g_interrupted ? 1 : 0;
    double now = cli_now_ms();
    if (fraction < 0) fraction = 0;
    if (fraction > 1) fraction = 1;
    int pct = (int)(fraction * 100.0);
    double elapsed = (now - g_label_t0) / 1e3;
    /* the remaining time from the rate so far, once there is a rate to speak of (on a terminal
     * not in the first second, where it would jump about) */
    char eta[32] = "";
    if (fraction >= 0.01 && fraction < 1 && elapsed >= (g_tty ? 1.0 : 0.0))
        format_seconds(eta, sizeof eta, elapsed * (1.0 - fraction) / fraction);
    if (g_tty) {
        if (pct != g_last_pct || !g_progress_shown) {
            fprintf(stderr, "\r%-24s %3d%%%s%-12s", g_label, pct, eta[0] ? "  ETA " : "", eta);
            fflush(stderr);
            g_progress_shown = 1;
            g_last_pct = pct;
        }
    } else if (now - g_last_line >= g_interval_ms ||
               (g_progress == CLI_PROGRESS_ALWAYS && g_label_lines == 0)) {
        /* a log, not a screen: whole lines, few of them */
        char el[32];
        format_seconds(el, sizeof el, elapsed);
        fprintf(stderr, "lsc: %s %d%% after %s%s%s%s\n", g_label, pct, el, eta[0] ? ", about " : "",
                eta, eta[0] ? " left" : "");
        fflush(stderr);
        g_last_line = now;
        g_label_lines++;
    }
    return g_interrupted ? 1 : 0;
}

void cli_progress_label(const char *label)
{
    snprintf(g_label, sizeof g_label, "%s", label);
    g_label_t0 = cli_now_ms();
    g_label_lines = 0;
    g_last_pct = -1;
}

void cli_progress_done(void)
{
    if (g_progress_shown) {
        fprintf(stderr, "\r%50s\r", "");
        fflush(stderr);
        g_progress_shown = 0;
    }
}

lsc_ctx *cli_ctx(const cli_opts *o, int *code)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    g_progress = cli_par_rank() > 0 ? CLI_PROGRESS_NEVER : o->progress; /* rank 0 speaks */
    g_tty = isatty(STDERR_FILENO);
    /* LSC_PROGRESS_INTERVAL_MS: the spacing of the non-terminal lines (tests shorten it) */
    const char *iv = getenv("LSC_PROGRESS_INTERVAL_MS");
    if (iv && *iv) g_interval_ms = atof(iv);
    g_last_line = cli_now_ms();

    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = o->backend;
    p.threads = o->threads;
    lsc_ctx *ctx = NULL;
    lsc_status st = lsc_ctx_create(&p, &ctx);
    if (st != LSC_STATUS_OK) {
        *code = cli_fail(o, EXIT_MACHINE, "cannot create a %s context: %s",
                         o->backend == LSC_BACKEND_CUDA  ? "cuda"
                         : o->backend == LSC_BACKEND_CPU ? "cpu"
                                                         : "auto",
                         ctx ? lsc_last_error(ctx) : "out of memory");
        lsc_ctx_destroy(ctx);
        return NULL;
    }
    lsc_ctx_set_progress(ctx, progress_cb, NULL);
    return ctx;
}

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* ---- random numbers and subsets ----------------------------------------------------------- */

uint64_t cli_rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double cli_rng_uniform(uint64_t *s) { return (cli_rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

double cli_rng_normal(uint64_t *s)
{
    double u = cli_rng_uniform(s), v = cli_rng_uniform(s);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

void *cli_subset_rows(lsc_ctx *ctx, const lsc_matrix *m, int64_t n, uint64_t seed, lsc_matrix *out)
{
    return cli_subset_rows_part(ctx, m, m->rows, 0, n, seed, out);
}

void *cli_subset_rows_part(lsc_ctx *ctx, const lsc_matrix *m, int64_t total_rows, int64_t first_row,
                           int64_t n, uint64_t seed, lsc_matrix *out)
{
    /* the library's seeded sampler, so the spectrum's subset and the pair statistics' subset
     * (lsc_pair_opts.subset_rows) of one --seed are the same rows */
    size_t es = lsc_dtype_size(m->dtype);
    int64_t *rows = malloc((size_t)(n > 0 ? n : 1) * sizeof *rows);
    const int64_t cap = n < m->rows ? n : m->rows; /* this part's rows of it at most */
    char *dst = malloc((size_t)(cap > 0 ? cap : 0) * (size_t)m->cols * es + 1);
    if (!rows || !dst || lsc_sample_rows(ctx, seed, total_rows, 0, n, rows) != LSC_STATUS_OK) {
        free(rows);
        free(dst);
        return NULL;
    }
    /* ascending: this part's rows of the subset are a run of it, in the same order */
    const char *src = m->data;
    int64_t kept = 0;
    for (int64_t w = 0; w < n; w++) {
        const int64_t r = rows[w] - first_row;
        if (r < 0 || r >= m->rows) continue;
        memcpy(dst + (size_t)kept++ * m->cols * es, src + (size_t)r * m->ld * es,
               (size_t)m->cols * es);
    }
    free(rows);
    *out = *m;
    out->data = dst;
    out->rows = kept;
    out->ld = m->cols;
    return dst;
}

/* ---- JSON ----------------------------------------------------------------------------------- */

void jw_open(json_w *w, FILE *f)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    w->first[0] = 1;
}

static void jw_indent(json_w *w)
{
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++) fputs("  ", w->f);
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), or 0. */
static int utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    int n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return n;
}

int cli_utf8_len(const unsigned char *p) { return utf8_len(p); }

static void jw_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_len(p);
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        /* a file name may hold any byte: keep the document valid UTF-8, and the byte's value */
        else if (n == 0) fprintf(f, "\\u%04x", *p);
        else fwrite(p, 1, (size_t)n, f);
        p += n ? n : 1;
    }
    fputc('"', f);
}

static void jw_item(json_w *w, const char *key)
{
    if (w->depth > 0) {
        if (!w->first[w->depth]) fputc(',', w->f);
        w->first[w->depth] = 0;
        jw_indent(w);
    }
    if (key) {
        jw_string(w->f, key);
        fputs(": ", w->f);
    }
}

/* Opens an object or array; past the depth limit nothing is written until it closes. */
static void jw_open_level(json_w *w, const char *key, int c)
{
    if (w->skip || w->depth + 1 >= JW_MAX_DEPTH) {
        w->skip++;
        w->too_deep = 1;
        return;
    }
    jw_item(w, key);
    fputc(c, w->f);
    w->depth++;
    w->first[w->depth] = 1;
}

void jw_obj(json_w *w, const char *key) { jw_open_level(w, key, '{'); }

static void jw_end(json_w *w, int c)
{
    if (w->skip) {
        w->skip--;
        return;
    }
    if (w->depth <= 0) { /* more closed than opened: a writer bug, reported by jw_ok */
        w->too_deep = 1;
        return;
    }
    int empty = w->first[w->depth];
    w->depth--;
    if (!empty) jw_indent(w);
    fputc(c, w->f);
}

void jw_end_obj(json_w *w) { jw_end(w, '}'); }

void jw_arr(json_w *w, const char *key) { jw_open_level(w, key, '['); }

void jw_end_arr(json_w *w) { jw_end(w, ']'); }

static void jw_raw_num(FILE *f, double v)
{
    if (!isfinite(v)) fputs("null", f);
    else if (v == floor(v) && fabs(v) < 1e15) fprintf(f, "%.1f", v);
    else { /* the shortest of 15 or 17 digits that reads back exactly */ char buf[40];
        snprintf(buf, sizeof buf, "%.15g", v);
        if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
        fputs(buf, f);
    }
}

void jw_num(json_w *w, const char *key, double v)
{
    if (w->skip) return;
    jw_item(w, key);
    jw_raw_num(w->f, v);
}

void jw_int(json_w *w, const char *key, int64_t v)
{
    if (w->skip) return;
    jw_item(w, key);
    fprintf(w->f, "%lld", (long long)v);
}

void jw_str(json_w *w, const char *key, const char *s)
{
    if (w->skip) return;
    jw_item(w, key);
    jw_string(w->f, s ? s : "");
}

void jw_bool(json_w *w, const char *key, int v)
{
    if (w->skip) return;
    jw_item(w, key);
    fputs(v ? "true" : "false", w->f);
}

void jw_null(json_w *w, const char *key)
{
    if (w->skip) return;
    jw_item(w, key);
    fputs("null", w->f);
}

void jw_close(json_w *w) { fputc('\n', w->f); }

int jw_ok(const json_w *w) { return !w->too_deep && !w->skip && w->depth == 0; }

/* ---- shared sections ------------------------------------------------------------------------ */

const char *cli_metric_name(lsc_metric m)
{
    return m == LSC_METRIC_COSINE        ? "cosine"
           : m == LSC_METRIC_SQEUCLIDEAN ? "sqeuclidean"
                                         : "euclidean";
}

void cli_json_header(json_w *w, lsc_ctx *ctx)
{
    jw_str(w, "lsc_version", lsc_version());
    jw_str(w, "backend", lsc_ctx_backend(ctx) == LSC_BACKEND_CUDA ? "cuda" : "cpu");
    jw_str(w, "device", lsc_ctx_device_name(ctx));
    jw_int(w, "ranks", cli_par_ranks()); /* processes that ran the command (mpirun -np) */
}

static const char *dtype_name(lsc_dtype d)
{
    switch (d) {
    case LSC_DTYPE_F16: return "float16";
    case LSC_DTYPE_BF16: return "bfloat16";
    case LSC_DTYPE_F64: return "float64";
    default: return "float32";
    }
}

void cli_json_input(json_w *w, const char *key, const char *path, const lsc_matrix *m)
{
    jw_obj(w, key);
    jw_str(w, "path", path);
    jw_int(w, "rows", m->rows);
    jw_int(w, "cols", m->cols);
    jw_str(w, "dtype", dtype_name(m->dtype));
    jw_end_obj(w);
}

void cli_json_spectrum(json_w *w, const char *key, const lsc_spectrum_result *s, const double *sv,
                       int64_t rows_used, int64_t rows_total)
{
    jw_obj(w, key);
    jw_num(w, "effective_rank", s->effective_rank);
    jw_num(w, "rankme", s->rankme);
    jw_num(w, "participation_ratio", s->participation_ratio);
    jw_num(w, "stable_rank", s->stable_rank);
    jw_int(w, "dims_90", s->dims_90);
    jw_int(w, "dims_99", s->dims_99);
    jw_int(w, "active_units", s->active_units);
    jw_num(w, "total_variance", s->total_variance);
    if (s->vendi_status == LSC_VENDI_OK) {
        jw_num(w, "vendi_cosine", s->vendi_cosine);
        jw_num(w, "vendi_cosine_q0", s->vendi_cosine_q0);
        jw_num(w, "vendi_cosine_q2", s->vendi_cosine_q2);
        jw_num(w, "vendi_cosine_qinf", s->vendi_cosine_qinf);
    } else {
        char why[128];
        snprintf(why, sizeof why, "row %lld is all zeros: its cosine is undefined",
                 (long long)s->vendi_zero_row);
        jw_null(w, "vendi_cosine");
        jw_str(w, "vendi_cosine_unavailable", why);
        jw_null(w, "vendi_cosine_q0");
        jw_null(w, "vendi_cosine_q2");
        jw_null(w, "vendi_cosine_qinf");
    }
    jw_num(w, "alpha_req", s->alpha_req);
    jw_num(w, "alpha_req_r2", s->alpha_req_r2);
    jw_int(w, "alpha_req_ranks", s->alpha_req_ranks);
    jw_int(w, "numerical_rank", s->numerical_rank);
    jw_bool(w, "all_rows_identical", s->all_rows_identical);
    jw_arr(w, "singular_values");
    for (int64_t i = 0; sv && i < s->rank_limit; i++) jw_num(w, NULL, sv[i]);
    jw_end_arr(w);
    jw_int(w, "rows_used", rows_used);
    jw_int(w, "rows_total", rows_total);
    jw_bool(w, "subset", rows_used < rows_total);
    jw_end_obj(w);
}

void cli_json_pairs(json_w *w, const char *key, const lsc_pair_result *p, const int64_t *hist,
                    const lsc_pair *dups, int64_t max_list)
{
    jw_obj(w, key);
    jw_num(w, "mean", p->mean);
    jw_num(w, "std", p->std);
    jw_num(w, "min", p->min);
    jw_num(w, "max", p->max);
    jw_num(w, "nn_mean", p->nn_mean);
    jw_num(w, "nn_median", p->nn_median);
    jw_num(w, "nn_min", p->nn_min);
    jw_num(w, "nn_max", p->nn_max);
    if (!isnan(p->uniformity)) jw_num(w, "uniformity", p->uniformity); /* when asked for */
    jw_int(w, "near_duplicate_pairs", p->near_duplicate_pairs);
    jw_arr(w, "near_duplicates");
    int64_t n = p->near_duplicates_listed < max_list ? p->near_duplicates_listed : max_list;
    for (int64_t i = 0; i < n; i++) {
        jw_arr(w, NULL);
        jw_int(w, NULL, dups[i].i);
        jw_int(w, NULL, dups[i].j);
        jw_num(w, NULL, dups[i].d);
        jw_end_arr(w);
    }
    jw_end_arr(w);
    jw_obj(w, "histogram");
    jw_arr(w, "edges");
    for (int64_t i = 0; i <= p->bins; i++)
        jw_num(w, NULL, p->hist_upper * (double)i / (double)p->bins);
    jw_end_arr(w);
    jw_arr(w, "counts");
    for (int64_t i = 0; i < p->bins; i++) jw_int(w, NULL, hist[i]);
    jw_end_arr(w);
    jw_end_obj(w);
    jw_int(w, "pairs", p->pairs);
    jw_int(w, "rows_used", p->rows_used);
    jw_bool(w, "subset", p->subset);
    jw_end_obj(w);
}

void cli_json_prdc(json_w *w, const char *key, const lsc_prdc_result *r)
{
    jw_obj(w, key);
    jw_int(w, "k", r->k);
    jw_num(w, "precision", r->precision);
    jw_num(w, "recall", r->recall);
    jw_num(w, "density", r->density);
    jw_num(w, "coverage", r->coverage);
    jw_int(w, "zero_radii_real", r->zero_radii_real);
    jw_int(w, "zero_radii_fake", r->zero_radii_fake);
    jw_int(w, "real_rows", r->real_rows);
    jw_int(w, "fake_rows", r->fake_rows);
    jw_str(w, "comparison", r->comparison == LSC_COMPARISON_INCLUSIVE ? "inclusive" : "strict");
    jw_str(w, "metric", cli_metric_name(r->metric));
    jw_end_obj(w);
}

void cli_json_nn_hist(json_w *w, const char *key, const cli_nn_hist *h)
{
    static const char *const name[3] = {"real_real", "fake_fake", "fake_real"};
    jw_obj(w, key);
    jw_arr(w, "edges");
    for (int j = 0; j <= CLI_NN_BINS; j++)
        jw_num(w, NULL, h->upper * (double)j / (double)CLI_NN_BINS);
    jw_end_arr(w);
    jw_num(w, "largest", h->largest);
    for (int s = 0; s < 3; s++) {
        if (!h->rows[s]) continue;
        jw_obj(w, name[s]);
        jw_arr(w, "counts");
        for (int j = 0; j < CLI_NN_BINS; j++) jw_int(w, NULL, h->counts[s][j]);
        jw_end_arr(w);
        jw_int(w, "rows", h->rows[s]);
        jw_bool(w, "subset", h->subset[s]);
        jw_num(w, "median", h->median[s]);
        jw_end_obj(w);
    }
    jw_num(w, "memorisation_factor", h->memorisation_factor);
    if (h->rows[CLI_NN_REAL_REAL]) jw_num(w, "memorisation_line", h->memorisation_line);
    else jw_null(w, "memorisation_line");
    jw_end_obj(w);
}

void cli_json_definitions(json_w *w)
{
    jw_obj(w, "definitions");
    jw_str(w, "effective_rank",
           "exp(entropy of sigma_i / sum sigma), centred singular values (Roy & Vetterli 2007)");
    jw_str(w, "rankme", "uncentred, sigma, eps 1e-7, over min(N, D) values (Garrido et al. 2023)");
    jw_str(w, "participation_ratio", "(sum lambda)^2 / sum lambda^2, lambda = sigma^2 / (N - 1)");
    jw_str(w, "stable_rank", "sum lambda / lambda_1");
    jw_str(w, "dims_90", "smallest k with the top k eigenvalues >= 90% of the total variance");
    jw_str(w, "active_units",
           "columns with sample variance (ddof 1) > threshold (Burda et al. 2015)");
    jw_str(w, "vendi_cosine",
           "exp(entropy of the eigenvalues of K/N), K = cosine similarity (Friedman & Dieng 2023)");
    jw_str(
        w, "vendi_cosine_q",
        "Vendi of order q: (sum nu^q)^(1/(1-q)) over the non-zero eigenvalues of K/N; q0 their count, qinf 1 / max (Pasarkar & Dieng 2024)");
    jw_str(
        w, "alpha_req",
        "minus the least-squares slope of ln lambda_i on ln i over every non-zero covariance eigenvalue (Agrawal et al. 2022); 0 with fewer than 3");
    jw_str(w, "numerical_zero", "singular value < 1e-5 x the largest is 0");
    jw_str(w, "std", "population (ddof 0) over the N(N-1)/2 pairs");
    jw_str(w, "nn_median", "lower middle value for an even count");
    jw_str(
        w, "uniformity",
        "log mean over pairs of exp(-2 ||u_i - u_j||^2), u the L2-normalised rows (Wang & Isola 2020)");
    jw_str(w, "near_duplicate", "pair with d <= dup_eps (absolute)");
    jw_str(w, "histogram", "bins equal-width over [0, 2 max ||x_i - mean||]");
    jw_str(
        w, "nearest_neighbour",
        "each query row's distance to its nearest other row of its own set (real_real, fake_fake) or to its nearest real row (fake_real), equal-width bins over [0, 1.05 x the largest 99.5th percentile of the three], the last bin also holding every larger distance; memorisation_line = memorisation_factor x the real_real median");
    jw_str(
        w, "prdc",
        "Naeem et al. 2020 density/coverage, Kynkaanniemi et al. 2019 precision/recall; radius = distance to the k-th nearest other row");
    jw_end_obj(w);
}

void cli_print_spectrum(FILE *f, const char *name, const lsc_spectrum_result *s, int64_t rows_used,
                        int64_t rows_total)
{
    fprintf(f, "spectrum of %s (%lld x %lld", name, (long long)rows_used, (long long)s->cols);
    if (rows_used < rows_total) fprintf(f, ", a seeded subset of %lld rows", (long long)rows_total);
    fprintf(f, ")\n");
    fprintf(f, "  effective_rank       %12.4f\n", s->effective_rank);
    fprintf(f, "  rankme               %12.4f   (uncentred)\n", s->rankme);
    fprintf(f, "  participation_ratio  %12.4f\n", s->participation_ratio);
    fprintf(f, "  stable_rank          %12.4f\n", s->stable_rank);
    fprintf(f, "  dims_90 / dims_99    %6lld / %lld\n", (long long)s->dims_90,
            (long long)s->dims_99);
    fprintf(f, "  active_units         %6lld of %lld   (variance > %g)\n",
            (long long)s->active_units, (long long)s->cols, s->active_threshold);
    fprintf(f, "  total_variance       %12.6g\n", s->total_variance);
    if (s->vendi_status == LSC_VENDI_OK)
        fprintf(f, "  vendi_cosine         %12.4f   (orders 0 / 2 / inf: %.4g / %.4g / %.4g)\n",
                s->vendi_cosine, s->vendi_cosine_q0, s->vendi_cosine_q2, s->vendi_cosine_qinf);
    else
        fprintf(f, "  vendi_cosine         unavailable: row %lld is all zeros\n",
                (long long)s->vendi_zero_row);
    if (s->alpha_req_ranks > 0)
        fprintf(f, "  alpha_req            %12.4f   (R^2 %.3f over %lld eigenvalues)\n",
                s->alpha_req, s->alpha_req_r2, (long long)s->alpha_req_ranks);
    if (s->all_rows_identical) fprintf(f, "  all rows identical\n");
}

void cli_print_pairs(FILE *f, const char *name, const lsc_pair_result *p, const cli_opts *o)
{
    fprintf(f, "all pairs of %s (%lld rows%s, %lld pairs, %s)\n", name, (long long)p->rows_used,
            p->subset ? ", a seeded subset" : "", (long long)p->pairs, cli_metric_name(o->metric));
    fprintf(f, "  distance mean %.6g  std %.6g  min %.6g  max %.6g\n", p->mean, p->std, p->min,
            p->max);
    fprintf(f, "  nearest other row: mean %.6g  median %.6g  min %.6g  max %.6g\n", p->nn_mean,
            p->nn_median, p->nn_min, p->nn_max);
    fprintf(f, "  near-duplicate pairs (d <= %g): %lld\n", o->dup_eps,
            (long long)p->near_duplicate_pairs);
    if (!isnan(p->uniformity))
        fprintf(f, "  uniformity (t = 2, normalised rows): %.6g\n", p->uniformity);
}

void cli_print_histogram(FILE *f, const lsc_pair_result *p, const int64_t *hist)
{
    if (!hist || p->bins < 1) return;
    int64_t per = (p->bins + 31) / 32; /* bins a row */
    int64_t rows = (p->bins + per - 1) / per, top = 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t c = 0;
        for (int64_t b = r * per; b < (r + 1) * per && b < p->bins; b++) c += hist[b];
        if (c > top) top = c;
    }
    double width = p->hist_upper / (double)p->bins;
    fprintf(f, "  histogram of the distances (%lld bins over [0, %.6g]", (long long)p->bins,
            p->hist_upper);
    if (per > 1) fprintf(f, ", %lld bins a row", (long long)per);
    fprintf(f, "):\n");
    for (int64_t r = 0; r < rows; r++) {
        int64_t lo = r * per, hi = (r + 1) * per < p->bins ? (r + 1) * per : p->bins, c = 0;
        for (int64_t b = lo; b < hi; b++) c += hist[b];
        /* any non-empty row shows at least one mark, so a thin tail stays visible */
        int len = top > 0 ? (int)((double)c * 40.0 / (double)top + 0.5) : 0;
        if (c > 0 && len == 0) len = 1;
        fprintf(f, "  %10.4g - %-10.4g %12lld |", width * (double)lo, width * (double)hi,
                (long long)c);
        for (int i = 0; i < len; i++) fputc('#', f);
        fputc('\n', f);
    }
}

void cli_print_prdc(FILE *f, const lsc_prdc_result *r)
{
    fprintf(f,
            "precision / recall / density / coverage (k=%lld, %s, %s; %lld real, %lld fake rows)\n",
            (long long)r->k, cli_metric_name(r->metric),
            r->comparison == LSC_COMPARISON_INCLUSIVE ? "inclusive d <= r" : "strict d < r",
            (long long)r->real_rows, (long long)r->fake_rows);
    fprintf(f, "  precision %.4f  recall %.4f  density %.4f  coverage %.4f\n", r->precision,
            r->recall, r->density, r->coverage);
    if (r->zero_radii_real || r->zero_radii_fake)
        fprintf(f, "  zero radii: %lld real, %lld fake\n", (long long)r->zero_radii_real,
                (long long)r->zero_radii_fake);
}

/* ---- distribution distances (docs/METRICS.md section 10): `lsc fd/kid/mmd` and the report -- */

lsc_status cli_kid(lsc_ctx *ctx, const cli_opts *o, const lsc_matrix *a, const lsc_matrix *b,
                   lsc_kid_result *r)
{
    lsc_kid_opts ko = LSC_KID_OPTS_INIT;
    ko.subsets = o->subsets;
    ko.subset_rows = o->subset_rows;
    ko.seed = o->seed;
    return lsc_kid(ctx, a, b, &ko, r, NULL);
}

lsc_status cli_mmd(lsc_ctx *ctx, const cli_opts *o, const lsc_matrix *a, const lsc_matrix *b,
                   lsc_mmd_result *r)
{
    lsc_mmd_opts mo = LSC_MMD_OPTS_INIT;
    mo.sigma = o->sigma;
    mo.scale = o->scale;
    return lsc_mmd(ctx, a, b, &mo, r);
}

void cli_json_fd(json_w *w, const char *key, const lsc_fd_result *r)
{
    jw_obj(w, key);
    jw_int(w, "cols", r->cols);
    jw_num(w, "fd", r->fd);
    jw_num(w, "mean_term", r->mean_term);
    jw_num(w, "trace_real", r->trace1);
    jw_num(w, "trace_fake", r->trace2);
    jw_num(w, "trace_sqrt", r->trace_sqrt);
    jw_num(w, "tolerance", r->tolerance);
    jw_end_obj(w);
}

void cli_json_kid(json_w *w, const char *key, const lsc_kid_result *r, uint64_t seed)
{
    jw_obj(w, key);
    jw_num(w, "mean", r->mean);
    jw_num(w, "std", r->std);
    jw_int(w, "subsets", r->subsets);
    jw_int(w, "subset_rows", r->subset_rows);
    jw_int(w, "seed", (int64_t)seed);
    jw_num(w, "tolerance", r->tolerance);
    jw_end_obj(w);
}

void cli_json_mmd(json_w *w, const char *key, const lsc_mmd_result *r, double sigma, double scale)
{
    jw_obj(w, key);
    jw_num(w, "mmd", r->mmd);
    jw_num(w, "sigma", sigma);
    jw_num(w, "scale", scale);
    jw_num(w, "tolerance", r->tolerance);
    jw_end_obj(w);
}

void cli_print_fd(FILE *f, const lsc_fd_result *r)
{
    fprintf(f, "Frechet distance (D = %lld)\n", (long long)r->cols);
    fprintf(f, "  fd                   %.10g   (tolerance %.3g)\n", r->fd, r->tolerance);
    fprintf(f, "  ||mu1 - mu2||^2      %.10g\n", r->mean_term);
    fprintf(f, "  tr S1, tr S2         %.10g, %.10g\n", r->trace1, r->trace2);
    fprintf(f, "  tr (S1^1/2 S2 S1^1/2)^1/2  %.10g\n", r->trace_sqrt);
}

void cli_print_kid(FILE *f, const lsc_kid_result *r)
{
    fprintf(f, "KID  %.6g +- %.3g (std, ddof 1; %lld subsets of %lld rows; tolerance %.3g)\n",
            r->mean, r->std, (long long)r->subsets, (long long)r->subset_rows, r->tolerance);
}

void cli_print_mmd(FILE *f, const lsc_mmd_result *r, double sigma, double scale)
{
    fprintf(f, "MMD  %.6g (RBF sigma %g, scale %g, biased; tolerance %.3g)\n", r->mmd, sigma, scale,
            r->tolerance);
}

/* ---- output files ------------------------------------------------------------------------- */

/* The temporary files not yet renamed into place. They are removed at exit, so no way out of a
 * command (an error, a cancelled computation) leaves one behind. */
enum { CLI_MAX_OUTPUTS = 8 };
static struct {
    FILE *f;
    char *path, *tmp;
} g_out[CLI_MAX_OUTPUTS];

static void outputs_at_exit(void)
{
    for (int i = 0; i < CLI_MAX_OUTPUTS; i++)
        if (g_out[i].tmp) {
            if (g_out[i].f) fclose(g_out[i].f);
            remove(g_out[i].tmp);
        }
}

/* A new file beside `path` (its name in tmp), opened for writing. open() with 0666, unlike
 * mkstemp's 0600, lets the umask decide the mode, as for any file the user creates. Returns the
 * descriptor, or -1 with errno set. */
static int make_temp(const char *path, char *tmp, size_t len)
{
    static unsigned serial = 0;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, len, "%s.tmp-%ld-%u", path, (long)getpid(), serial++);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

/* `path` with its directory resolved (links, "." and ".."), so that two spellings of one new
 * file compare equal; the path as given when its directory does not resolve. */
static void canonical_path(const char *path, char *buf, size_t len)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX], real[PATH_MAX];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (realpath(dir, real))
        snprintf(buf, len, "%s/%s", strcmp(real, "/") ? real : "", slash ? slash + 1 : path);
    else snprintf(buf, len, "%s", path);
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char ca[PATH_MAX + 256], cb[PATH_MAX + 256];
    canonical_path(a, ca, sizeof ca);
    canonical_path(b, cb, sizeof cb);
    return !strcmp(ca, cb);
}

static int ends_with(const char *p, size_t n, const char *ext)
{
    size_t e = strlen(ext);
    return n >= e && !strncasecmp(p + n - e, ext, e);
}

/* The file an array output writes (into file, at most len bytes) and the .npz member it names
 * (*member: after the ':', or "" for the default; NULL for a .npy file). 0, or -1 when `p` names
 * neither a .npy nor a .npz file. */
static int array_output(const char *p, char *file, size_t len, const char **member)
{
    size_t n = strlen(p);
    const char *colon = NULL;
    for (const char *c = strchr(p, ':'); c; c = strchr(c + 1, ':'))
        if (ends_with(p, (size_t)(c - p), ".npz")) {
            colon = c;
            break;
        }
    if (colon) n = (size_t)(colon - p);
    if (!ends_with(p, n, ".npz") && (colon || !ends_with(p, n, ".npy"))) return -1;
    snprintf(file, len, "%.*s", (int)n, p);
    *member = ends_with(p, n, ".npz") ? (colon ? colon + 1 : "") : NULL;
    return 0;
}

/* The file an input names: the whole path, or for "file.npz:NAME" and the like the part before
 * the first ':' that names an existing file. */
static const char *input_file(const char *p, char *buf, size_t len)
{
    struct stat st;
    if (stat(p, &st) == 0) return p;
    for (const char *c = strchr(p, ':'); c; c = strchr(c + 1, ':')) {
        snprintf(buf, len, "%.*s", (int)(c - p), p);
        if (stat(buf, &st) == 0) return buf;
    }
    return p;
}

int cli_check_outputs(const cli_opts *o)
{
    const char *out_name[] = {"--json", "--out", "--out-dist", "--out-idx", "--html"};
    const char *out_arg[] = {o->json && strcmp(o->json, "-") ? o->json : NULL, o->out, o->out_dist,
                             o->out_idx, o->html};
    const char *in_name[] = {"--real", "--fake",      "--input",  "--queries",
                             "--base", "--reference", "--labels", "--fake-labels"};
    const char *in[] = {o->real, o->fake,      o->input,  o->queries,
                        o->base, o->reference, o->labels, o->fake_labels};
    char file[5][PATH_MAX];
    const char *member[5] = {NULL, NULL, NULL, NULL, NULL};
    for (int i = 0; i < 5; i++) {
        const char *p = out_arg[i];
        if (!p) continue;
        if (!*p) return cli_fail(o, EXIT_BAD_INPUT, "%s: the path is empty", out_name[i]);
        snprintf(file[i], sizeof file[i], "%s", p);
        /* arrays are written as .npy or into an .npz: an index file named .fvecs would hold
         * .npy bytes, and .fvecs cannot hold int64 indices anyway */
        if ((i == 2 || i == 3) && array_output(p, file[i], sizeof file[i], &member[i]))
            return cli_fail(
                o, EXIT_BAD_INPUT, "%s %s: only .npy and .npz files are written (%s)", out_name[i],
                p, i == 2 ? "float32 distances" : "int64 indices, which .fvecs cannot hold");
        for (int j = 0; j < i; j++) {
            if (!out_arg[j] || !same_file(file[i], file[j])) continue;
            /* the distances and the indices may share one .npz, as two members */
            if (i == 3 && j == 2 && member[i] && member[j]) {
                const char *a = *member[j] ? member[j] : "dist",
                           *b = *member[i] ? member[i] : "idx";
                if (strcmp(a, b)) continue;
                return cli_fail(o, EXIT_BAD_INPUT,
                                "--out-dist and --out-idx both name the member '%s' of %s", a,
                                file[i]);
            }
            return cli_fail(o, EXIT_BAD_INPUT,
                            "%s and %s both name %s: give each output its own file", out_name[j],
                            out_name[i], file[i]);
        }
        char inbuf[PATH_MAX];
        for (size_t j = 0; j < sizeof in / sizeof in[0]; j++)
            if (in[j] && same_file(file[i], input_file(in[j], inbuf, sizeof inbuf)))
                return cli_fail(o, EXIT_BAD_INPUT,
                                "%s %s is also the input %s: it would be overwritten", out_name[i],
                                file[i], in_name[j]);
        struct stat st;
        if (stat(file[i], &st) == 0 && S_ISDIR(st.st_mode))
            return cli_fail(o, EXIT_BAD_INPUT, "%s %s: is a directory", out_name[i], file[i]);
        /* create (and remove) a file beside it now rather than find out after the work */
        size_t len = strlen(file[i]) + 48;
        char *tmp = malloc(len);
        if (!tmp) return cli_fail(o, EXIT_MACHINE, "out of memory");
        int fd = make_temp(file[i], tmp, len);
        int e = errno;
        if (fd >= 0) {
            close(fd);
            remove(tmp);
        }
        free(tmp);
        if (fd < 0)
            return cli_fail(o, EXIT_BAD_INPUT, "%s %s: cannot create: %s", out_name[i], file[i],
                            strerror(e));
    }
    return 0;
}

FILE *cli_output_open(const cli_opts *o, const char *path, int *code)
{
    static int registered = 0;
    if (!strcmp(path, "-")) return stdout;
    int slot = 0;
    while (slot < CLI_MAX_OUTPUTS && g_out[slot].tmp) slot++;
    if (slot == CLI_MAX_OUTPUTS) {
        *code = cli_fail(o, EXIT_MACHINE, "%s: too many open outputs", path);
        return NULL;
    }
    if (!registered) registered = atexit(outputs_at_exit) == 0;
    size_t len = strlen(path) + 48;
    char *tmp = malloc(len), *dup = strdup(path);
    int fd = tmp && dup ? make_temp(path, tmp, len) : -1;
    int e = tmp && dup ? errno : ENOMEM;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0) {
            e = errno;
            close(fd);
            remove(tmp);
        }
        free(tmp);
        free(dup);
        *code = cli_fail(o, EXIT_MACHINE, "%s: cannot create: %s", path, strerror(e));
        return NULL;
    }
    g_out[slot].f = f;
    g_out[slot].path = dup;
    g_out[slot].tmp = tmp;
    return f;
}

int cli_output_close(const cli_opts *o, FILE *f, int ok)
{
    if (f == stdout)
        return fflush(stdout) && ok ? cli_fail(o, EXIT_MACHINE, "stdout: write failed") : 0;
    int i = 0;
    while (i < CLI_MAX_OUTPUTS && g_out[i].f != f) i++;
    if (i == CLI_MAX_OUTPUTS)
        return fclose(f) && ok ? cli_fail(o, EXIT_MACHINE, "write failed") : 0;
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    g_out[i].f = NULL;
    int rc = 0;
    if (ok && bad) rc = cli_fail(o, EXIT_MACHINE, "%s: write failed", g_out[i].path);
    else if (ok && rename(g_out[i].tmp, g_out[i].path) != 0)
        rc = cli_fail(o, EXIT_MACHINE, "%s: cannot replace: %s", g_out[i].path, strerror(errno));
    if (!ok || rc) remove(g_out[i].tmp);
    free(g_out[i].tmp);
    free(g_out[i].path);
    g_out[i].tmp = g_out[i].path = NULL;
    return rc;
}

int cli_open(const cli_opts *o, const char *path, lsc_input *in)
{
    char err[512];
    err[0] = 0;
    int rc = lsc_input_open(path, in, err, sizeof err);
    if (rc != 0)
        return cli_fail(o, rc == 1 ? EXIT_MACHINE : EXIT_BAD_INPUT, "%s", err[0] ? err : path);
    return 0;
}

int cli_open_part(const cli_opts *o, const char *path, lsc_input *in)
{
    char err[512];
    err[0] = 0;
    int rc = lsc_input_open_part(path, cli_par_rank(), cli_par_ranks(), in, err, sizeof err);
    if (rc != 0)
        return cli_fail(o, rc == 1 ? EXIT_MACHINE : EXIT_BAD_INPUT, "%s", err[0] ? err : path);
    return 0;
}

/* Finds the first NaN or Inf of m (host, any dtype) in row order. Returns 0 if none. */
int cli_check_finite(const cli_opts *o, const char *path, const lsc_matrix *m, int64_t first_row)
{
    size_t es = lsc_dtype_size(m->dtype);
    for (int64_t i = 0; i < m->rows; i++) {
        const unsigned char *row = (const unsigned char *)m->data + (size_t)i * (size_t)m->ld * es;
        for (int64_t j = 0; j < m->cols; j++) {
            const unsigned char *p = row + (size_t)j * es;
            int bad = 0, nan = 0;
            if (m->dtype == LSC_DTYPE_F32) {
                float v;
                memcpy(&v, p, sizeof v);
                bad = !isfinite(v);
                nan = isnan(v);
            } else if (m->dtype == LSC_DTYPE_F64) {
                double v;
                memcpy(&v, p, sizeof v);
                bad = !isfinite(v);
                nan = isnan(v);
            } else {
                uint16_t h;
                memcpy(&h, p, sizeof h);
                uint16_t e = m->dtype == LSC_DTYPE_F16 ? 0x7c00 : 0x7f80;
                uint16_t f = m->dtype == LSC_DTYPE_F16 ? 0x03ff : 0x007f;
                bad = (h & e) == e;
                nan = bad && (h & f);
            }
            if (bad)
                return cli_fail(o, EXIT_BAD_INPUT, "%s: row %lld col %lld is %s", path,
                                (long long)(first_row + i), (long long)j, nan ? "NaN" : "Inf");
        }
    }
    return 0;
}

/* Loads --reference and adopts its k, metric and comparison: its radii hold for those only, so
 * a --k, --metric or --inclusive given as well must agree with them. */
int cli_reference_load_checked(cli_opts *o, lsc_ctx *ctx, int sharded, lsc_reference **ref,
                               lsc_reference_info *info)
{
    lsc_status st = sharded ? lsc_reference_load_sharded(ctx, o->reference, ref)
                            : lsc_reference_load(ctx, o->reference, ref);
    if (st != LSC_STATUS_OK) return cli_reference_load_fail(o, ctx, st, o->reference);
    if ((st = lsc_reference_info_get(*ref, info)) != LSC_STATUS_OK)
        return cli_lib_fail(o, ctx, st, o->reference);
    if (o->k_set && o->k != info->k)
        return cli_fail(o, EXIT_BAD_INPUT, "--k %lld differs from the k=%lld of %s",
                        (long long)o->k, (long long)info->k, o->reference);
    if (o->metric_set && o->metric != info->metric)
        return cli_fail(o, EXIT_BAD_INPUT, "--metric %s differs from the metric %s of %s",
                        cli_metric_name(o->metric), cli_metric_name(info->metric), o->reference);
    if (o->inclusive && info->comparison != LSC_COMPARISON_INCLUSIVE)
        return cli_fail(
            o, EXIT_BAD_INPUT,
            "--inclusive (comparison inclusive, d <= r) differs from the comparison strict "
            "(d < r) of %s",
            o->reference);
    o->k = info->k;
    o->metric = info->metric;
    o->inclusive = info->comparison == LSC_COMPARISON_INCLUSIVE;
    return 0;
}
