/* lsc monitor-report: the page of a Monitor's history (lsc.Monitor(history_path=...), one JSON
 * record a line, docs/FILES.md "Monitor history"): each figure over the steps, each check's
 * matched statistic against its baseline band, the trend warnings marked. The history is read
 * with cJSON; a line that is not a record is refused with its number, before anything is
 * written. */
#define _POSIX_C_SOURCE 200809L /* getline */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifndef LSC_HAVE_CJSON

int cmd_monitor_report(cli_opts *o, const char *history)
{
    (void)history;
    return cli_fail(
        o, EXIT_BAD_INPUT,
        "this lsc was built without cJSON, which reads the history (Debian: libcjson-dev; "
        "rebuild with it)");
}

#else

#include <cjson/cJSON.h>

enum { MR_MAX_CHECKS = 16, MR_MAX_POINTS = 400 };

/* The figures the page draws, per record; NaN where the record lacks one. */
enum {
    F_PRECISION,
    F_RECALL,
    F_DENSITY,
    F_COVERAGE,
    F_COVERAGE_EXPECTED,
    F_EFFECTIVE_RANK,
    F_VENDI,
    F_DIMS_90,
    F_ACTIVE_UNITS,
    F_COUNT
};
static const char *const FIG_NAME[F_COUNT] = {
    "precision",      "recall",       "density", "coverage",    "coverage_expected",
    "effective_rank", "vendi_cosine", "dims_90", "active_units"};

typedef struct mr_check {
    double matched, baseline, spread, lo, hi, score, trend;
    int level; /* 0 ok, 1 borderline, 2 collapse, 3 not assessed, -1 absent */
    int warned;
} mr_check;

typedef struct mr_record {
    double step;
    double fig[F_COUNT];
    mr_check chk[MR_MAX_CHECKS];
    int level; /* the record's verdict, -1 absent */
} mr_record;

typedef struct mr_history {
    mr_record *rec;
    int64_t n, cap;
    char check[MR_MAX_CHECKS][40];
    int nchecks;
    double trend_h;
} mr_history;

static const char *const LEVELS[4] = {"ok", "borderline", "collapse", "not_assessed"};

static int level_of(const cJSON *s)
{
    if (!cJSON_IsString(s)) return -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(s->valuestring, LEVELS[i])) return i;
    return -1;
}

/* A number, or NaN for null, absent or another type (the JSON writes non-finite as null). */
static double num(const cJSON *obj, const char *key)
{
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int check_index(mr_history *h, const char *name)
{
    for (int i = 0; i < h->nchecks; i++)
        if (!strcmp(h->check[i], name)) return i;
    if (h->nchecks == MR_MAX_CHECKS || strlen(name) >= sizeof h->check[0]) return -1;
    snprintf(h->check[h->nchecks], sizeof h->check[0], "%s", name);
    return h->nchecks++;
}

/* One line's record into *r; returns NULL or what is wrong with it. */
static const char *parse_record(mr_history *h, const cJSON *j, mr_record *r)
{
    if (!cJSON_IsObject(j)) return "not a JSON object";
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "lsc-monitor-history"))
        return "no \"format\": \"lsc-monitor-history\"";
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 1)
        return "a version other than 1 (from a later lsc?)";
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "step");
    if (!cJSON_IsNumber(step) || !isfinite(step->valuedouble)) return "no numeric \"step\"";
    r->step = step->valuedouble;
    for (int i = 0; i < F_COUNT; i++) r->fig[i] = NAN;
    for (int c = 0; c < MR_MAX_CHECKS; c++) r->chk[c].level = -1;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prdc");
    if (p && !cJSON_IsNull(p) && !cJSON_IsObject(p))
        return "\"prdc\" is neither an object nor null";
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "spectrum");
    if (s && !cJSON_IsNull(s) && !cJSON_IsObject(s))
        return "\"spectrum\" is neither an object nor null";
    for (int i = F_PRECISION; i <= F_COVERAGE_EXPECTED; i++)
        r->fig[i] = num(cJSON_IsObject(p) ? p : NULL, FIG_NAME[i]);
    for (int i = F_EFFECTIVE_RANK; i < F_COUNT; i++)
        r->fig[i] = num(cJSON_IsObject(s) ? s : NULL, FIG_NAME[i]);
    r->level = level_of(cJSON_GetObjectItemCaseSensitive(j, "verdict"));
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(j, "verdicts");
    if (vs && !cJSON_IsNull(vs) && !cJSON_IsObject(vs))
        return "\"verdicts\" is neither an object nor null";
    const cJSON *v, *vs_obj = cJSON_IsObject(vs) ? vs : NULL;
    cJSON_ArrayForEach(v, vs_obj)
    {
        if (!cJSON_IsObject(v) || !v->string) return "a verdict is not an object";
        int c = check_index(h, v->string);
        if (c < 0) return "too many checks, or a check name too long";
        mr_check *k = &r->chk[c];
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(v, "statistic");
        const cJSON *bl = cJSON_GetObjectItemCaseSensitive(v, "baseline");
        const cJSON *iv = cJSON_GetObjectItemCaseSensitive(v, "interval");
        k->level = level_of(cJSON_GetObjectItemCaseSensitive(v, "level"));
        if (k->level < 0) return "a verdict without a known \"level\"";
        k->matched = num(cJSON_IsObject(st) ? st : NULL, "matched");
        k->baseline = num(cJSON_IsObject(bl) ? bl : NULL, "value");
        k->spread = num(cJSON_IsObject(bl) ? bl : NULL, "spread");
        k->lo = k->hi = NAN;
        if (cJSON_IsArray(iv) && cJSON_GetArraySize(iv) == 2) {
            const cJSON *a = cJSON_GetArrayItem(iv, 0), *b = cJSON_GetArrayItem(iv, 1);
            k->lo = cJSON_IsNumber(a) ? a->valuedouble : NAN;
            k->hi = cJSON_IsNumber(b) ? b->valuedouble : NAN;
        }
        k->score = num(v, "score");
        k->trend = NAN;
    }
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(j, "trend");
    const cJSON *tr_obj = cJSON_IsObject(tr) ? tr : NULL;
    cJSON_ArrayForEach(v, tr_obj)
    {
        if (!v->string) continue;
        int c = check_index(h, v->string);
        if (c >= 0 && cJSON_IsNumber(v)) r->chk[c].trend = v->valuedouble;
    }
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "warnings");
    if (w && !cJSON_IsNull(w) && !cJSON_IsArray(w)) return "\"warnings\" is not a list";
    const cJSON *w_arr = cJSON_IsArray(w) ? w : NULL;
    cJSON_ArrayForEach(v, w_arr)
    {
        if (!cJSON_IsString(v)) return "a warning is not a check name";
        int c = check_index(h, v->valuestring);
        if (c < 0) return "too many checks, or a check name too long";
        r->chk[c].warned = 1;
    }
    double th = num(j, "trend_h");
    if (isfinite(th)) h->trend_h = th;
    return NULL;
}

/* Reads every line; 0, or exit 2 naming the first bad line. */
static int read_history(const cli_opts *o, const char *path, mr_history *h)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail(o, EXIT_BAD_INPUT, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0;
    int rc = 0;
    h->trend_h = NAN;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        size_t sp = strspn(line, " \t");
        if (line[sp] == 0) continue; /* blank lines carry nothing */
        if (memchr(line, 0, (size_t)len)) {
            rc = cli_fail(o, EXIT_BAD_INPUT, "%s:%lld: a NUL byte: not a JSON record", path,
                          (long long)lineno);
            break;
        }
        cJSON *j = cJSON_ParseWithLength(line, (size_t)len);
        if (!j) {
            rc = cli_fail(o, EXIT_BAD_INPUT,
                          "%s:%lld: not a JSON record (truncated or corrupt line)", path,
                          (long long)lineno);
            break;
        }
        if (h->n == h->cap) {
            int64_t nc = h->cap ? 2 * h->cap : 64;
            mr_record *nr = realloc(h->rec, sizeof *nr * (size_t)nc);
            if (!nr) {
                cJSON_Delete(j);
                rc = cli_fail(o, EXIT_MACHINE, "out of memory for the history");
                break;
            }
            h->rec = nr;
            h->cap = nc;
        }
        memset(&h->rec[h->n], 0, sizeof h->rec[h->n]);
        const char *why = parse_record(h, j, &h->rec[h->n]);
        cJSON_Delete(j);
        if (why) {
            rc = cli_fail(o, EXIT_BAD_INPUT, "%s:%lld: not a Monitor record: %s", path,
                          (long long)lineno, why);
            break;
        }
        h->n++;
    }
    if (!rc && ferror(f)) rc = cli_fail(o, EXIT_BAD_INPUT, "%s: read error", path);
    if (!rc && h->n == 0) rc = cli_fail(o, EXIT_BAD_INPUT, "%s: no records", path);
    free(line);
    fclose(f);
    return rc;
}

/* ---- the page ---------------------------------------------------------------------------------- */

static double step_lo(const mr_history *h)
{
    double v = h->rec[0].step;
    for (int64_t i = 1; i < h->n; i++) v = h->rec[i].step < v ? h->rec[i].step : v;
    return v;
}
static double step_hi(const mr_history *h)
{
    double v = h->rec[0].step;
    for (int64_t i = 1; i < h->n; i++) v = h->rec[i].step > v ? h->rec[i].step : v;
    return v;
}

/* Records drawn as marks: every one up to MR_MAX_POINTS, else an even spread (the first and
 * the last always), so the page stays the same size for any number of records; warnings are
 * marked at every record whatever the spread. */
static int drawn(const mr_history *h, int64_t i)
{
    int64_t st = h->n <= MR_MAX_POINTS ? 1 : (h->n + MR_MAX_POINTS - 1) / MR_MAX_POINTS;
    return i % st == 0 || i == h->n - 1;
}

static void frame(const mr_history *h, html_plot *pl, double lo, double hi)
{
    double x0 = step_lo(h), x1 = step_hi(h);
    if (!(x1 > x0)) {
        x0 -= 1;
        x1 += 1;
    }
    if (!isfinite(lo)) {
        lo = 0;
        hi = 1;
    }
    double pad = hi > lo ? 0.06 * (hi - lo) : (fabs(lo) > 0 ? 0.1 * fabs(lo) : 0.5);
    html_plot_init(pl, 480, 240, x0, x1, lo - pad, hi + pad);
}

/* A series of figure values over the steps: the line, then the readable marks. */
static void series(FILE *f, const mr_history *h, const html_plot *pl, const double *y,
                   const char *cls, const char *keyfmt_name)
{
    double *xs = malloc(sizeof(double) * (size_t)h->n), *ys = malloc(sizeof(double) * (size_t)h->n);
    if (!xs || !ys) {
        free(xs);
        free(ys);
        return;
    }
    int64_t m = 0;
    for (int64_t i = 0; i < h->n; i++)
        if (drawn(h, i) && isfinite(y[i])) {
            xs[m] = h->rec[i].step;
            ys[m++] = y[i];
        }
    html_polyline(f, pl, xs, ys, m, cls);
    char key[128];
    for (int64_t i = 0; i < h->n; i++)
        if (drawn(h, i) && isfinite(y[i])) {
            snprintf(key, sizeof key, "monitor.%s.%.17g", keyfmt_name, h->rec[i].step);
            html_point(f, pl, h->rec[i].step, y[i], cls, key, y[i]);
        }
    free(xs);
    free(ys);
}

static void warning_lines(FILE *f, const mr_history *h, const html_plot *pl, int c)
{
    char key[128];
    for (int64_t i = 0; i < h->n; i++)
        if (h->rec[i].chk[c].warned) {
            snprintf(key, sizeof key, "monitor.warning.%s.%.17g", h->check[c], h->rec[i].step);
            html_vline(f, pl, h->rec[i].step, "memline", key, h->rec[i].step, "");
        }
}

static void check_plot(FILE *f, const mr_history *h, int c)
{
    double lo = INFINITY, hi = -INFINITY;
    double *m = malloc(sizeof(double) * (size_t)h->n), *b = malloc(sizeof(double) * (size_t)h->n);
    if (!m || !b) {
        free(m);
        free(b);
        return;
    }
    for (int64_t i = 0; i < h->n; i++) {
        const mr_check *k = &h->rec[i].chk[c];
        m[i] = k->level >= 0 ? k->matched : NAN;
        b[i] = k->level >= 0 ? k->baseline : NAN;
        const double v[4] = {m[i], b[i], k->level >= 0 ? k->lo : NAN, k->level >= 0 ? k->hi : NAN};
        for (int t = 0; t < 4; t++)
            if (isfinite(v[t])) {
                lo = v[t] < lo ? v[t] : lo;
                hi = v[t] > hi ? v[t] : hi;
            }
    }
    html_plot pl;
    frame(h, &pl, lo, hi);
    char title[96];
    snprintf(title, sizeof title, "%s", h->check[c]);
    fputs("<figure>\n", f);
    html_plot_begin(f, &pl, title, "step", "matched statistic");
    /* the 99% interval of a generated set from the real distribution, as a band over the steps */
    fputs("<polygon class=\"band\" points=\"", f);
    for (int64_t i = 0; i < h->n; i++)
        if (drawn(h, i) && isfinite(h->rec[i].chk[c].hi) && h->rec[i].chk[c].level >= 0)
            fprintf(f, "%.1f,%.1f ", html_px(&pl, h->rec[i].step),
                    html_py(&pl, h->rec[i].chk[c].hi));
    for (int64_t i = h->n - 1; i >= 0; i--)
        if (drawn(h, i) && isfinite(h->rec[i].chk[c].lo) && h->rec[i].chk[c].level >= 0)
            fprintf(f, "%.1f,%.1f ", html_px(&pl, h->rec[i].step),
                    html_py(&pl, h->rec[i].chk[c].lo));
    fputs("\"/>\n", f);
    char name[96];
    snprintf(name, sizeof name, "%s.baseline", h->check[c]);
    series(f, h, &pl, b, "base", name);
    warning_lines(f, h, &pl, c);
    /* the matched statistic, each mark coloured by that record's level */
    double *xs = malloc(sizeof(double) * (size_t)h->n), *ys = malloc(sizeof(double) * (size_t)h->n);
    int64_t n = 0;
    for (int64_t i = 0; xs && ys && i < h->n; i++)
        if (drawn(h, i) && isfinite(m[i])) {
            xs[n] = h->rec[i].step;
            ys[n++] = m[i];
        }
    if (xs && ys) html_polyline(f, &pl, xs, ys, n, "fake");
    free(xs);
    free(ys);
    char key[128], cls[32];
    for (int64_t i = 0; i < h->n; i++) {
        const mr_check *k = &h->rec[i].chk[c];
        if (!drawn(h, i) || !isfinite(m[i])) continue;
        snprintf(cls, sizeof cls, "pt-%s", html_level_class(LEVELS[k->level]));
        snprintf(key, sizeof key, "monitor.%s.matched.%.17g", h->check[c], h->rec[i].step);
        html_point(f, &pl, h->rec[i].step, m[i], cls, key, m[i]);
    }
    html_plot_end(f);
    fputs("</figure>\n", f);
    free(m);
    free(b);
}

static void figure_plot(FILE *f, const mr_history *h, const int *figs, int nfig, const char *title,
                        const char *ylabel)
{
    static const char *const cls[4] = {"real", "fake", "cross", "base"};
    double lo = INFINITY, hi = -INFINITY;
    int any = 0;
    for (int t = 0; t < nfig; t++)
        for (int64_t i = 0; i < h->n; i++) {
            double v = h->rec[i].fig[figs[t]];
            if (!isfinite(v)) continue;
            any = 1;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    if (!any) return;
    html_plot pl;
    frame(h, &pl, lo, hi);
    fputs("<figure>\n", f);
    html_plot_begin(f, &pl, title, "step", ylabel);
    double *y = malloc(sizeof(double) * (size_t)h->n);
    for (int t = 0; y && t < nfig; t++) {
        for (int64_t i = 0; i < h->n; i++) y[i] = h->rec[i].fig[figs[t]];
        char name[64];
        snprintf(name, sizeof name, "%s", FIG_NAME[figs[t]]);
        series(f, h, &pl, y, cls[t % 4], name);
    }
    free(y);
    html_plot_end(f);
    fputs("<figcaption class=\"legend\">", f);
    for (int t = 0; t < nfig; t++)
        fprintf(f, "<span><span class=\"sw\" style=\"background:var(--%s)\"></span>%s</span>",
                t == 0   ? "real"
                : t == 1 ? "fake"
                : t == 2 ? "cross"
                         : "ink",
                FIG_NAME[figs[t]]);
    fputs("</figcaption>\n</figure>\n", f);
}

static int write_page(FILE *f, const char *path, const mr_history *h)
{
    html_begin(f, "lsc monitor report");
    fputs("<header><h1>lsc monitor report</h1>\n<p class=\"muted\">History <code>", f);
    html_text(f, path);
    fprintf(f, "</code>: %lld records, steps %.17g to %.17g.</p></header>\n", (long long)h->n,
            step_lo(h), step_hi(h));
    const mr_record *last = &h->rec[h->n - 1];
    int64_t nwarn = 0;
    for (int64_t i = 0; i < h->n; i++)
        for (int c = 0; c < h->nchecks; c++) nwarn += h->rec[i].chk[c].warned;
    fputs("<section id=\"verdicts\">\n<h2>Verdicts over the steps</h2>\n", f);
    if (last->level >= 0)
        fprintf(
            f,
            "<p class=\"headline\">Last record (step %.17g): <span class=\"badge %s\" data-key=\"monitor.verdict\" "
            "data-level=\"%s\">%s</span>; %lld trend warnings in all.</p>\n",
            last->step, html_level_class(LEVELS[last->level]), LEVELS[last->level],
            LEVELS[last->level], (long long)nwarn);
    if (!h->nchecks) {
        fputs("<p>No verdicts in this history (a Monitor with assess=True records them).</p>\n", f);
    } else {
        fputs(
            "<p class=\"muted\">Per check, each record's matched statistic (dots coloured by the record's level) "
            "against its held-out baseline (black) and the band where a generated set from the real "
            "distribution falls with probability 0.99 (grey); red dashed lines: the record where the check's "
            "trend warned (docs/METRICS.md sections 8 and 8.1).</p>\n<div class=\"grid2\">\n",
            f);
        for (int c = 0; c < h->nchecks; c++) check_plot(f, h, c);
        fputs("</div>\n", f);
    }
    fputs("</section>\n", f);
    fputs("<section id=\"prdc\">\n<h2>Figures over the steps</h2>\n<div class=\"grid2\">\n", f);
    const int prdc_figs[] = {F_PRECISION, F_RECALL, F_COVERAGE, F_COVERAGE_EXPECTED};
    figure_plot(f, h, prdc_figs, 4, "precision, recall, coverage", "figure");
    const int dens[] = {F_DENSITY};
    figure_plot(f, h, dens, 1, "density", "density");
    const int er[] = {F_EFFECTIVE_RANK, F_VENDI};
    figure_plot(f, h, er, 2, "effective rank and Vendi (cosine)", "");
    const int dims[] = {F_DIMS_90, F_ACTIVE_UNITS};
    figure_plot(f, h, dims, 2, "dims_90 and active units", "dimensions");
    fputs("</div>\n</section>\n", f);
    if (h->nchecks) {
        fputs("<section id=\"trend\">\n<h2>Trend</h2>\n", f);
        fputs(
            "<p class=\"muted\">Each check's CUSUM of its standardised scores (docs/METRICS.md section 8.1); a "
            "check warns when it crosses h.</p>\n<div class=\"grid2\">\n",
            f);
        for (int c = 0; c < h->nchecks; c++) {
            double lo = 0, hi = isfinite(h->trend_h) ? h->trend_h : 1;
            int any = 0;
            for (int64_t i = 0; i < h->n; i++)
                if (isfinite(h->rec[i].chk[c].trend)) {
                    any = 1;
                    hi = h->rec[i].chk[c].trend > hi ? h->rec[i].chk[c].trend : hi;
                }
            if (!any) continue;
            html_plot pl;
            frame(h, &pl, lo, hi);
            double *y = malloc(sizeof(double) * (size_t)h->n);
            if (!y) continue;
            for (int64_t i = 0; i < h->n; i++) y[i] = h->rec[i].chk[c].trend;
            fputs("<figure>\n", f);
            html_plot_begin(f, &pl, h->check[c], "step", "CUSUM");
            if (isfinite(h->trend_h))
                fprintf(f,
                        "<line class=\"guide\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                        pl.l, html_py(&pl, h->trend_h), pl.w - pl.r, html_py(&pl, h->trend_h));
            warning_lines(f, h, &pl, c);
            char name[96];
            snprintf(name, sizeof name, "trend.%s", h->check[c]);
            series(f, h, &pl, y, "cross", name);
            html_plot_end(f);
            fputs("</figure>\n", f);
            free(y);
        }
        fputs("</div>\n", f);
        fputs("<h3>Warnings</h3>\n", f);
        if (!nwarn) fputs("<p>None.</p>\n", f);
        else {
            fputs(
                "<div class=\"scroll\"><table id=\"warnings\"><tr><th>step</th><th>checks</th></tr>\n",
                f);
            int64_t shown = 0;
            for (int64_t i = 0; i < h->n && shown < 100; i++) {
                int any = 0;
                for (int c = 0; c < h->nchecks; c++)
                    if (h->rec[i].chk[c].warned) {
                        if (!any) fprintf(f, "<tr><td class=\"n\">%.17g</td><td>", h->rec[i].step);
                        if (any) fputs(", ", f);
                        html_text(f, h->check[c]); /* a name from the file: escaped, valid UTF-8 */
                        any = 1;
                    }
                if (any) {
                    fputs("</td></tr>\n", f);
                    shown++;
                }
            }
            fputs("</table></div>\n", f);
            if (shown == 100)
                fputs("<p class=\"muted\">(the first 100 records with a warning)</p>\n", f);
        }
        fputs("</section>\n", f);
    }
    html_end(f);
    return ferror(f) ? -1 : 0;
}

int cmd_monitor_report(cli_opts *o, const char *history)
{
    if (!history)
        return cli_fail(
            o, EXIT_BAD_INPUT,
            "missing the history file (lsc monitor-report HISTORY.jsonl --html OUT.html)");
    if (!o->html)
        return cli_fail(o, EXIT_BAD_INPUT, "--html OUT.html is required (the page to write)");
    struct stat a, b;
    if (stat(history, &a) == 0 && stat(o->html, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return cli_fail(o, EXIT_BAD_INPUT, "--html %s is also the history: it would be overwritten",
                        o->html);
    mr_history h;
    memset(&h, 0, sizeof h);
    int rc = read_history(o, history, &h);
    if (!rc) {
        FILE *f = cli_output_open(o, o->html, &rc);
        if (f) rc = cli_output_close(o, f, write_page(f, history, &h) == 0);
    }
    free(h.rec);
    return rc;
}

#endif
