/* lsc report: the verdicts of docs/METRICS.md section 8, spectrum and all-pairs statistics of
 * each set, PRDC of fake against real (the real set from a .npy/.fvecs file or a saved
 * reference), the distances between the two distributions of section 10 (FD; KID and RBF MMD on
 * request), and the readings of section 6, made from the verdicts. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char *fmt(const char *f, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    char *s = malloc(strlen(buf) + 1);
    if (s) strcpy(s, buf);
    return s;
}

int cli_readings(const cli_reading_in *in, const cli_thresholds *th, char **out, int max)
{
    int n = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (n < max) {                                                                             \
            char *s_ = fmt(__VA_ARGS__);                                                           \
            if (!s_) goto oom;                                                                     \
            out[n++] = s_;                                                                         \
        }                                                                                          \
    } while (0)
    const lsc_spectrum_result *r = in->sreal, *f = in->sfake;
    int collapse = 0;
    if (f) {
        /* r is NULL for a reference without its rows: no real spectrum to compare with */
        if (r && f->effective_rank < th->dim_collapse_ratio * r->effective_rank) {
            ADD("dimensional collapse: fake effective_rank %.3g < %g x real's %.3g (= %.3g)",
                f->effective_rank, th->dim_collapse_ratio, r->effective_rank,
                th->dim_collapse_ratio * r->effective_rank);
            collapse = 1;
        }
        if (r && f->vendi_status == LSC_VENDI_OK && r->vendi_status == LSC_VENDI_OK) {
            if (f->vendi_cosine < th->mode_collapse_ratio * r->vendi_cosine) {
                ADD("mode collapse: fake vendi_cosine %.3g < %g x real's %.3g (= %.3g)",
                    f->vendi_cosine, th->mode_collapse_ratio, r->vendi_cosine,
                    th->mode_collapse_ratio * r->vendi_cosine);
                collapse = 1;
            }
        }
        if (in->prdc) {
            const lsc_prdc_result *p = in->prdc;
            if (p->coverage < th->coverage_min && p->precision >= th->precision_high) {
                ADD("mode collapse: coverage %.3f < %g while precision %.3f >= %g", p->coverage,
                    th->coverage_min, p->precision, th->precision_high);
                collapse = 1;
            }
            if (p->precision < th->precision_min) {
                ADD("low fidelity: precision %.3f < %g", p->precision, th->precision_min);
                collapse = 1;
            }
        }
        if (in->fake_dup_fraction >= 0 && in->fake_dup_fraction > th->dup_fraction) {
            ADD("memorisation or a stuck sampler: %s%.2f%% of the fake rows (%lld) are in a near-duplicate "
                "pair (d <= %g) > %g%%",
                in->dup_lower_bound ? "at least " : "", 100.0 * in->fake_dup_fraction,
                (long long)in->fake_dup_rows, in->dup_eps, 100.0 * th->dup_fraction);
            collapse = 1;
        }
        if (in->fake_mem_fraction >= 0 && in->fake_mem_fraction > th->dup_fraction) {
            ADD("memorisation: %.2f%% of the fake rows are within %g of a real row > %g%%",
                100.0 * in->fake_mem_fraction, in->dup_eps, 100.0 * th->dup_fraction);
            collapse = 1;
        }
        if (f->all_rows_identical) {
            ADD("fake: all rows identical");
            collapse = 1;
        }
    } else {
        if ((double)r->active_units < th->active_ratio * (double)r->cols) {
            ADD("posterior collapse (if these are VAE posterior means): active_units %lld < %g x D (= %.1f)",
                (long long)r->active_units, th->active_ratio, th->active_ratio * (double)r->cols);
            collapse = 1;
        }
        if (in->fake_dup_fraction >= 0 && in->fake_dup_fraction > th->dup_fraction) {
            ADD("stuck encoder or duplicated data: %s%.2f%% of the rows (%lld) are in a near-duplicate pair "
                "(d <= %g) > %g%%",
                in->dup_lower_bound ? "at least " : "", 100.0 * in->fake_dup_fraction,
                (long long)in->fake_dup_rows, in->dup_eps, 100.0 * th->dup_fraction);
            collapse = 1;
        }
    }
    if (r && r->all_rows_identical) {
        ADD("real: all rows identical");
        collapse = 1;
    }
    if (!collapse) ADD("no collapse detected");
    return n;
oom:
    for (int i = 0; i < n; i++) free(out[i]);
    return -1;
#undef ADD
}

/* The readings (docs/METRICS.md section 6): one for each check whose verdict is borderline or
 * collapse, "<check> (<level>): <why>", else one "no collapse detected" (naming the checks not
 * assessed, so that it claims no more than was checked). Returns the count, or -1 when out of
 * memory (nothing left allocated). */
static int verdict_readings(const lsc_assessment *a, char **out, int max)
{
    int n = 0;
    char na[256] = "";
    for (int c = 0; c < LSC_CHECK_COUNT && n < max; c++) {
        lsc_verdict v = LSC_VERDICT_INIT;
        if (lsc_assessment_verdict(a, (lsc_check)c, &v) != LSC_STATUS_OK) continue;
        if (v.level == LSC_LEVEL_NOT_ASSESSED) {
            size_t l = strlen(na);
            snprintf(na + l, sizeof na - l, "%s%s", l ? ", " : "", lsc_check_name(v.check));
        }
        if (v.level != LSC_LEVEL_BORDERLINE && v.level != LSC_LEVEL_COLLAPSE) continue;
        if (!(out[n] = fmt("%s (%s): %s", lsc_check_name(v.check), lsc_level_name(v.level), v.why)))
            goto oom;
        n++;
    }
    if (n == 0 && max > 0) {
        out[0] = na[0] ? fmt("no collapse detected (not assessed: %s)", na)
                       : fmt("no collapse detected");
        if (!out[0]) return -1;
        n = 1;
    }
    return n;
oom:
    for (int i = 0; i < n; i++) free(out[i]);
    return -1;
}

/* One set's spectrum (on `m`, possibly a subset) and pair statistics. */
typedef struct set_fig {
    const char *path;
    lsc_input in;
    int open;
    lsc_matrix whole;  /* in.m's shape with every rank's rows (in.m itself in one process) */
    lsc_matrix spec_m; /* this rank's rows of those the spectrum used */
    int64_t spec_rows; /* the rows the spectrum used, of every rank */
    void *spec_owned;
    lsc_spectrum_result s;
    double *sv;
    lsc_spectrum_result s_all; /* every row, when the spectrum above used a subset */
    double *sv_all;
    int have_all;
    lsc_pair_result p;
    int64_t *hist;
    lsc_pair *dups;
    int64_t dup_report;
    double t_spec, t_pairs;
    /* geometry (docs/METRICS.md section 9): `why` says why a figure is missing */
    lsc_twonn_result tn;
    lsc_hubness_result hub;
    lsc_vendi_rbf_result vr;
    int have_tn, have_hub, have_vr;
    char tn_why[200], hub_why[200], vr_why[200];
    double t_geom;
} set_fig;

/* A geometry figure the data cannot give (too few distinct rows, or rows for k) is reported as
 * missing with the library's reason; any other failure ends the report. */
static int geometry_soft(lsc_status st)
{
    return st == LSC_STATUS_INVALID_DATA || st == LSC_STATUS_INVALID_ARGUMENT;
}

/* TwoNN, hubness (k = 10, the report's metric) and RBF Vendi of order 2 (--sigma) of one set,
 * each at the library's default subset of 10,000 rows. */
static int set_geometry(cli_opts *o, lsc_ctx *ctx, set_fig *x, const char *name)
{
    char label[64];
    snprintf(label, sizeof label, "%s: intrinsic dimension, hubness, RBF Vendi", name);
    cli_progress_label(label);
    double t0 = cli_now_ms();
    x->tn.size = sizeof x->tn;
    x->hub.size = sizeof x->hub;
    lsc_twonn_opts to = LSC_TWONN_OPTS_INIT;
    to.seed = o->seed;
    lsc_status st = lsc_twonn(ctx, &x->in.m, &to, &x->tn);
    if (st == LSC_STATUS_OK) x->have_tn = 1;
    else if (geometry_soft(st)) snprintf(x->tn_why, sizeof x->tn_why, "%s", lsc_last_error(ctx));
    else return cli_lib_fail(o, ctx, st, x->path);
    lsc_hubness_opts ho = LSC_HUBNESS_OPTS_INIT;
    ho.metric = o->metric;
    ho.seed = o->seed;
    st = lsc_hubness(ctx, &x->in.m, NULL, &ho, &x->hub);
    if (st == LSC_STATUS_OK) x->have_hub = 1;
    else if (geometry_soft(st)) snprintf(x->hub_why, sizeof x->hub_why, "%s", lsc_last_error(ctx));
    else return cli_lib_fail(o, ctx, st, x->path);
    x->vr.size = sizeof x->vr;
    lsc_vendi_rbf_opts vo = LSC_VENDI_RBF_OPTS_INIT;
    vo.sigma = o->sigma;
    vo.seed = o->seed;
    st = lsc_vendi_rbf(ctx, &x->in.m, &vo, &x->vr);
    if (st == LSC_STATUS_OK) x->have_vr = 1;
    else if (geometry_soft(st)) snprintf(x->vr_why, sizeof x->vr_why, "%s", lsc_last_error(ctx));
    else return cli_lib_fail(o, ctx, st, x->path);
    cli_progress_done();
    x->t_geom = cli_now_ms() - t0;
    return 0;
}

static void json_twonn(json_w *w, const set_fig *x)
{
    jw_obj(w, "intrinsic_dimension");
    if (x->have_tn) {
        jw_num(w, "twonn", x->tn.dimension);
        jw_int(w, "rows", x->tn.rows);
        jw_int(w, "distinct_rows", x->tn.distinct_rows);
        jw_int(w, "duplicate_rows", x->tn.duplicate_rows);
        jw_int(w, "rows_used", x->tn.rows_used);
        jw_bool(w, "subset", x->tn.subset);
    } else {
        jw_null(w, "twonn");
        jw_str(w, "twonn_unavailable", x->tn_why);
    }
    jw_end_obj(w);
}

static void json_vendi_rbf(json_w *w, const set_fig *x)
{
    jw_obj(w, "vendi_rbf");
    if (x->have_vr) {
        jw_num(w, "vendi_q2", x->vr.vendi_q2);
        jw_num(w, "sigma", x->vr.sigma);
        jw_num(w, "tolerance", x->vr.tolerance);
        jw_int(w, "rows_used", x->vr.rows_used);
        jw_bool(w, "subset", x->vr.subset);
    } else {
        jw_null(w, "vendi_q2");
        jw_str(w, "unavailable", x->vr_why);
    }
    jw_end_obj(w);
}

static void json_hubness(json_w *w, const char *key, const lsc_hubness_result *h, int have,
                         const char *why)
{
    jw_obj(w, key);
    if (have) {
        jw_int(w, "k", h->k);
        jw_num(w, "skewness", h->skewness);
        jw_num(w, "robin_hood", h->robin_hood);
        jw_int(w, "max_occurrence", h->max_occurrence);
        jw_int(w, "antihubs", h->antihubs);
        jw_int(w, "base_rows", h->base_rows);
        jw_int(w, "query_rows", h->query_rows);
        jw_bool(w, "subset", h->subset);
    } else {
        jw_null(w, "skewness");
        jw_null(w, "robin_hood");
        jw_str(w, "unavailable", why);
    }
    jw_end_obj(w);
}

static void print_geometry(const set_fig *x, const char *name)
{
    printf("geometry of %s\n", name);
    if (x->have_tn)
        printf("  intrinsic dimension (TwoNN)  %.4g   (%lld distinct rows%s; %lld exact duplicates "
               "collapsed)\n",
               x->tn.dimension, (long long)x->tn.rows_used, x->tn.subset ? ", a seeded subset" : "",
               (long long)x->tn.duplicate_rows);
    else printf("  intrinsic dimension (TwoNN)  unavailable: %s\n", x->tn_why);
    if (x->have_hub)
        printf("  hubness (k = %lld)             skewness %.4g  robin hood %.4g  max N_k %lld  "
               "anti-hubs %lld of %lld\n",
               (long long)x->hub.k, x->hub.skewness, x->hub.robin_hood,
               (long long)x->hub.max_occurrence, (long long)x->hub.antihubs,
               (long long)x->hub.base_rows);
    else printf("  hubness                      unavailable: %s\n", x->hub_why);
    if (x->have_vr)
        printf("  RBF Vendi, order 2           %.4g   (sigma %g; %lld rows%s)\n", x->vr.vendi_q2,
               x->vr.sigma, (long long)x->vr.rows_used, x->vr.subset ? ", a seeded subset" : "");
    else printf("  RBF Vendi, order 2           unavailable: %s\n", x->vr_why);
    printf("  uniformity (t = 2)           %.4g   (of the all-pairs pass)\n", x->p.uniformity);
}

/* One set's spectrum (of `spec_rows` rows: a seeded subset below the set's rows, then also every
 * row for the record) and pair statistics; under mpirun with several ranks the sharded calls on
 * this rank's rows, the subsets drawn over the whole set's rows. */
static int set_figures(cli_opts *o, lsc_ctx *ctx, set_fig *x, const char *name, int64_t spec_rows)
{
    const int par = cli_par_ranks() > 1;
    const lsc_matrix *m = &x->in.m;
    const int64_t n = x->whole.rows;
    int rc = 0;
    x->spec_m = *m;
    x->spec_rows = spec_rows < n ? spec_rows : n;
    x->s.size = sizeof x->s;
    x->s_all.size = sizeof x->s_all;
    x->p.size = sizeof x->p;
    if (spec_rows < n) {
        x->spec_owned =
            par ? cli_subset_rows_part(ctx, m, n, x->in.first_row, spec_rows, o->seed, &x->spec_m)
                : cli_subset_rows(ctx, m, spec_rows, o->seed, &x->spec_m);
        if (!x->spec_owned)
            rc = cli_fail(o, EXIT_MACHINE, "%s: out of memory for a subset", x->path);
    }
    int64_t mm = x->spec_rows < m->cols ? x->spec_rows : m->cols;
    int64_t ma = n < m->cols ? n : m->cols;
    x->sv = malloc(sizeof(double) * (size_t)(mm > 0 ? mm : 1));
    if (x->spec_owned) x->sv_all = malloc(sizeof(double) * (size_t)(ma > 0 ? ma : 1));
    lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
    po.uniformity = o->geometry; /* a geometry figure: its exp per pair only with --geometry */
    po.metric = o->metric;
    po.bins = o->bins;
    po.dup_eps = o->dup_eps;
    po.seed = o->seed;
    po.subset_rows = (o->pairs_max_rows > 0 && n > o->pairs_max_rows) ? o->pairs_max_rows : 0;
    int64_t used = po.subset_rows ? po.subset_rows : n;
    /* every row in a listed pair counts for the memorisation reading: list up to one pair a row */
    po.dup_report = used > 100 ? used : 100;
    x->dup_report = po.dup_report;
    x->hist = calloc((size_t)po.bins, sizeof *x->hist);
    x->dups = calloc((size_t)po.dup_report, sizeof *x->dups);
    if (!rc && (!x->sv || (x->spec_owned && !x->sv_all) || !x->hist || !x->dups))
        rc = cli_fail(o, EXIT_MACHINE, "%s: out of memory for the figures", x->path);
    /* this rank's allocations, before the collective calls */
    if ((rc = cli_par_agree(rc))) return rc;

    lsc_spectrum_opts so = LSC_SPECTRUM_OPTS_INIT;
    so.active_threshold = o->active_threshold;
    char label[64];
    snprintf(label, sizeof label, "%s: spectrum", name);
    cli_progress_label(label);
    double t0 = cli_now_ms();
    lsc_status st = par ? lsc_spectrum_sharded(ctx, &x->spec_m, &so, &x->s, x->sv, NULL)
                        : lsc_spectrum(ctx, &x->spec_m, &so, &x->s, x->sv, NULL);
    x->t_spec = cli_now_ms() - t0;
    cli_progress_done();
    if (st != LSC_STATUS_OK) return cli_lib_fail(o, ctx, st, x->path);
    if (x->spec_owned) { /* also every row, for the record (not for the comparison) */
        t0 = cli_now_ms();
        st = par ? lsc_spectrum_sharded(ctx, m, &so, &x->s_all, x->sv_all, NULL)
                 : lsc_spectrum(ctx, m, &so, &x->s_all, x->sv_all, NULL);
        x->t_spec += cli_now_ms() - t0;
        cli_progress_done();
        if (st != LSC_STATUS_OK) return cli_par_lib_fail(o, ctx, st, x->path, "x", n);
        x->have_all = 1;
    }
    snprintf(label, sizeof label, "%s: all pairs", name);
    cli_progress_label(label);
    t0 = cli_now_ms();
    st = par ? lsc_pair_stats_sharded(ctx, m, &po, &x->p, x->hist, x->dups)
             : lsc_pair_stats(ctx, m, &po, &x->p, x->hist, x->dups);
    x->t_pairs = cli_now_ms() - t0;
    cli_progress_done();
    if (st != LSC_STATUS_OK) return cli_par_lib_fail(o, ctx, st, x->path, "x", n);
    return 0;
}

static void set_free(set_fig *x)
{
    free(x->spec_owned);
    free(x->sv);
    free(x->sv_all);
    free(x->hist);
    free(x->dups);
    if (x->open) lsc_input_close(&x->in);
}

/* Distinct rows in the listed near-duplicate pairs (their indices count the whole set's rows). */
static int64_t dup_rows(const set_fig *x)
{
    int64_t n = x->whole.rows, c = 0;
    unsigned char *seen = calloc((size_t)n, 1);
    if (!seen) return -1;
    for (int64_t t = 0; t < x->p.near_duplicates_listed; t++) {
        int64_t a[2] = {x->dups[t].i, x->dups[t].j};
        for (int u = 0; u < 2; u++)
            if (a[u] >= 0 && a[u] < n && !seen[a[u]]) {
                seen[a[u]] = 1;
                c++;
            }
    }
    free(seen);
    return c;
}

/* The two spectra side by side. */
static void print_spectra(const set_fig *R, const set_fig *F)
{
    const lsc_spectrum_result *a = &R->s, *b = &F->s;
    char head[96], act[64];
    snprintf(head, sizeof head, "spectrum (N = %lld rows each, D = %lld)", (long long)R->spec_rows,
             (long long)a->cols);
    printf("%-34s %12s %12s\n", head, "real", "fake");
    printf("  effective_rank                   %12.4f %12.4f\n", a->effective_rank,
           b->effective_rank);
    printf("  rankme (uncentred)               %12.4f %12.4f\n", a->rankme, b->rankme);
    printf("  participation_ratio              %12.4f %12.4f\n", a->participation_ratio,
           b->participation_ratio);
    printf("  stable_rank                      %12.4f %12.4f\n", a->stable_rank, b->stable_rank);
    printf("  dims_90                          %12lld %12lld\n", (long long)a->dims_90,
           (long long)b->dims_90);
    printf("  dims_99                          %12lld %12lld\n", (long long)a->dims_99,
           (long long)b->dims_99);
    snprintf(act, sizeof act, "active_units (variance > %g)", a->active_threshold);
    printf("  %-32s %12lld %12lld\n", act, (long long)a->active_units, (long long)b->active_units);
    printf("  total_variance                   %12.6g %12.6g\n", a->total_variance,
           b->total_variance);
    printf("  vendi_cosine                    ");
    const lsc_spectrum_result *both[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (both[i]->vendi_status == LSC_VENDI_OK) printf(" %12.4f", both[i]->vendi_cosine);
        else printf(" %12s", "unavailable");
    }
    printf("\n");
    static const char *const order_name[3] = {"vendi_cosine order 0", "vendi_cosine order 2",
                                              "vendi_cosine order inf"};
    for (int q = 0; q < 3; q++) {
        printf("  %-32s", order_name[q]);
        for (int i = 0; i < 2; i++) {
            const double v = q == 0   ? both[i]->vendi_cosine_q0
                             : q == 1 ? both[i]->vendi_cosine_q2
                                      : both[i]->vendi_cosine_qinf;
            if (both[i]->vendi_status == LSC_VENDI_OK) printf(" %12.4f", v);
            else printf(" %12s", "unavailable");
        }
        printf("\n");
    }
    printf("  alpha_req (spectral decay)       %12.4f %12.4f\n", a->alpha_req, b->alpha_req);
    for (int i = 0; i < 2; i++)
        if (both[i]->vendi_status != LSC_VENDI_OK)
            printf("  (%s: vendi_cosine unavailable: row %lld is all zeros)\n", i ? "fake" : "real",
                   (long long)both[i]->vendi_zero_row);
    for (int i = 0; i < 2; i++)
        if (both[i]->all_rows_identical)
            printf("  (%s: all rows identical)\n", i ? "fake" : "real");
}

/* ---- verdicts ------------------------------------------------------------------------------ */

static void json_verdicts(json_w *w, const lsc_assessment *a)
{
    jw_str(w, "verdict", lsc_level_name(lsc_assessment_level(a)));
    jw_arr(w, "not_assessed");
    for (int c = 0; c < LSC_CHECK_COUNT; c++) {
        lsc_verdict v = LSC_VERDICT_INIT;
        if (lsc_assessment_verdict(a, (lsc_check)c, &v) == LSC_STATUS_OK &&
            v.level == LSC_LEVEL_NOT_ASSESSED)
            jw_str(w, NULL, lsc_check_name(v.check));
    }
    jw_end_arr(w);
    jw_obj(w, "verdicts");
    for (int c = 0; c < LSC_CHECK_COUNT; c++) {
        lsc_verdict v = LSC_VERDICT_INIT;
        if (lsc_assessment_verdict(a, (lsc_check)c, &v) != LSC_STATUS_OK) continue;
        jw_obj(w, lsc_check_name(v.check));
        jw_str(w, "level", lsc_level_name(v.level));
        jw_obj(w, "statistic");
        jw_str(w, "name", v.statistic);
        jw_num(w, "value", v.value);
        jw_num(w, "matched", v.matched);
        jw_end_obj(w);
        jw_obj(w, "baseline");
        jw_num(w, "value", v.baseline);
        jw_num(w, "spread", v.spread);
        jw_str(w, "method", v.method);
        jw_end_obj(w);
        jw_arr(w, "interval");
        jw_num(w, NULL, v.interval_lo);
        jw_num(w, NULL, v.interval_hi);
        jw_end_arr(w);
        jw_num(w, "effect", v.effect);
        jw_num(w, "score", v.score);
        jw_arr(w, "lines");
        jw_num(w, NULL, v.borderline_line);
        jw_num(w, NULL, v.collapse_line);
        jw_end_arr(w);
        jw_str(w, "why", v.why);
        jw_end_obj(w);
    }
    jw_end_obj(w);
}

/* The classes (with --labels) and the uncovered real rows: the first 100, most uncovered first. */
static void json_classes(json_w *w, const lsc_assessment *a)
{
    jw_arr(w, "classes");
    for (int64_t i = 0; i < lsc_assessment_class_count(a); i++) {
        lsc_class_verdict c = LSC_CLASS_VERDICT_INIT;
        if (lsc_assessment_class(a, i, &c) != LSC_STATUS_OK) continue;
        jw_obj(w, NULL);
        jw_int(w, "label", c.label);
        jw_int(w, "real_rows", c.real_rows);
        jw_num(w, "coverage", c.coverage);
        jw_obj(w, "missing");
        jw_str(w, "level", lsc_level_name(c.level));
        jw_num(w, "matched", c.matched);
        jw_num(w, "baseline", c.baseline);
        jw_num(w, "spread", c.spread);
        jw_num(w, "effect", c.effect);
        jw_num(w, "score", c.score);
        jw_end_obj(w);
        jw_obj(w, "over_produced");
        jw_str(w, "level", lsc_level_name(c.share_level));
        jw_num(w, "share", c.share);
        jw_num(w, "baseline", c.share_baseline);
        jw_num(w, "effect", c.share_effect);
        jw_num(w, "score", c.share_score);
        jw_end_obj(w);
        jw_end_obj(w);
    }
    jw_end_arr(w);
    int64_t count = -1, rows[100];
    lsc_assessment_uncovered(a, rows, 100, &count);
    jw_int(w, "uncovered", count);
    jw_arr(w, "uncovered_rows");
    for (int64_t i = 0; i < count && i < 100; i++) jw_int(w, NULL, rows[i]);
    jw_end_arr(w);
}

static void print_classes(const lsc_assessment *a, int64_t real_rows)
{
    int64_t flagged = 0, n = lsc_assessment_class_count(a);
    for (int64_t i = 0; i < n; i++) {
        lsc_class_verdict c = LSC_CLASS_VERDICT_INIT;
        if (lsc_assessment_class(a, i, &c) != LSC_STATUS_OK) continue;
        const int miss = c.level == LSC_LEVEL_BORDERLINE || c.level == LSC_LEVEL_COLLAPSE;
        const int over =
            c.share_level == LSC_LEVEL_BORDERLINE || c.share_level == LSC_LEVEL_COLLAPSE;
        if (!miss && !over) continue;
        if (!flagged++) printf("classes flagged (of %lld):\n", (long long)n);
        if (miss)
            printf(
                "  class %-8lld missing        %-12s coverage %.3f vs %.3f held-out (%.0f%% less); %lld real rows\n",
                (long long)c.label, lsc_level_name(c.level), c.matched, c.baseline,
                100.0 * c.effect, (long long)c.real_rows);
        if (over)
            printf("  class %-8lld over-produced  %-12s share %.3f vs %.3f held-out (%+.0f%%)\n",
                   (long long)c.label, lsc_level_name(c.share_level), c.share, c.share_baseline,
                   100.0 * c.share_effect);
    }
    if (n && !flagged) printf("classes: none of %lld flagged\n", (long long)n);
    int64_t count = -1, rows[10];
    lsc_assessment_uncovered(a, rows, 10, &count);
    if (count > 0) {
        printf("uncovered real rows: %lld of %lld (most uncovered first:", (long long)count,
               (long long)real_rows);
        for (int64_t i = 0; i < count && i < 10; i++) printf(" %lld", (long long)rows[i]);
        printf("%s)\n", count > 10 ? " ..." : "");
    }
    if (n || count > 0) printf("\n");
}

static void print_verdicts(const lsc_assessment *a)
{
    printf("verdict: %s\n", lsc_level_name(lsc_assessment_level(a)));
    for (int c = 0; c < LSC_CHECK_COUNT; c++) {
        lsc_verdict v = LSC_VERDICT_INIT;
        if (lsc_assessment_verdict(a, (lsc_check)c, &v) != LSC_STATUS_OK) continue;
        printf("  %-21s %-12s %s\n", lsc_check_name(v.check), lsc_level_name(v.level), v.why);
    }
    printf(
        "(each check against held-out real rows at the same sizes, docs/METRICS.md section 8)\n\n");
}

/* exit 3 when --fail-on asks for it; 0 otherwise */
static int fail_on_code(const cli_opts *o, const lsc_assessment *a)
{
    if (!a) return 0;
    if (o->fail_on && (int)lsc_assessment_level(a) >= o->fail_on) return EXIT_VERDICT;
    if (o->fail_on_not_assessed)
        for (int c = 0; c < LSC_CHECK_COUNT; c++) {
            lsc_verdict v = LSC_VERDICT_INIT;
            if (lsc_assessment_verdict(a, (lsc_check)c, &v) == LSC_STATUS_OK &&
                v.level == LSC_LEVEL_NOT_ASSESSED)
                return EXIT_VERDICT;
        }
    return 0;
}

/* ---- the page's nearest-neighbour histograms ------------------------------------------------ */

static int cmp_f32(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Query rows a histogram draws at most: a seeded sample that fixes each bin's share to about 1%
 * (a binomial share's sd at most 0.5 / sqrt(2000)), so the page's three passes cost 3 x 2,000 x N
 * rather than three N x N passes (at 20,000 x 512 they added 40% to the report's CPU time). */
#define CLI_NN_QUERIES 2000

/* Each query row's distance to its nearest base row (base NULL: its nearest other row of the
 * set itself); *out owned by the caller. The set is `q` as the all-pairs figures see it (above
 * --pairs-max-rows, the seeded subset they use); above CLI_NN_QUERIES rows a seeded sample of
 * them are the queries, against the whole of that set: for the set against itself a k = 2 pass,
 * keeping the nearest row that is not the query itself (an exact copy of it still counts). */
static int nn_distances(cli_opts *o, lsc_ctx *ctx, const lsc_matrix *q, const lsc_matrix *base,
                        float **out, int64_t *nq, int *subset)
{
    lsc_matrix qs = *q, qq;
    void *owned = NULL, *owned_q = NULL;
    int64_t *rows = NULL, *idx = NULL;
    float *dist = NULL, *d = NULL;
    int rc = 0;
    *out = NULL;
    *subset = 0;
    if (o->pairs_max_rows > 0 && q->rows > o->pairs_max_rows) {
        owned = cli_subset_rows(ctx, q, o->pairs_max_rows, o->seed, &qs);
        if (!owned) return cli_fail(o, EXIT_MACHINE, "out of memory for a subset");
        *subset = 1;
    }
    const int64_t n = qs.rows, nqr = n > CLI_NN_QUERIES ? CLI_NN_QUERIES : n;
    const int sample = nqr < n, k = sample && !base ? 2 : 1;
    lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
    ko.metric = o->metric;
    qq = qs;
    if (sample) {
        /* the sampler's rows, then the same rows gathered (cli_subset_rows makes the same call) */
        rows = malloc(sizeof(int64_t) * (size_t)nqr);
        owned_q = rows ? cli_subset_rows(ctx, &qs, nqr, o->seed, &qq) : NULL;
        if (!owned_q || lsc_sample_rows(ctx, o->seed, n, 0, nqr, rows) != LSC_STATUS_OK) {
            rc = cli_fail(o, EXIT_MACHINE, "out of memory for the histograms' query rows");
            goto done;
        }
        *subset = 1;
    } else {
        ko.exclude_self = base == NULL; /* the queries are the very rows of the base */
    }
    dist = malloc(sizeof(float) * (size_t)(nqr * k));
    idx = malloc(sizeof(int64_t) * (size_t)(nqr * k));
    d = malloc(sizeof(float) * (size_t)nqr);
    lsc_status st = (dist && idx && d) ? lsc_knn(ctx, &qq, base ? base : &qs, k, &ko, dist, idx)
                                       : LSC_STATUS_OUT_OF_MEMORY;
    if (st != LSC_STATUS_OK) {
        rc = cli_lib_fail(o, ctx, st, "nearest-neighbour distances");
        goto done;
    }
    for (int64_t w = 0; w < nqr; w++)
        d[w] = k == 2 && idx[2 * w] == rows[w] ? dist[2 * w + 1] : dist[k * w];
    *out = d;
    d = NULL;
    *nq = nqr;
done:
    free(d);
    free(dist);
    free(idx);
    free(rows);
    free(owned_q);
    free(owned);
    return rc;
}

/* Real-real, fake-fake and fake-real nearest-neighbour distances binned over one range, with the
 * memorisation line of the verdicts (memorisation_factor x the median real nearest-neighbour
 * distance). */
static int nn_histograms(cli_opts *o, lsc_ctx *ctx, const lsc_matrix *real, const lsc_matrix *fake,
                         cli_nn_hist *h)
{
    float *d[3] = {NULL, NULL, NULL};
    int rc = 0;
    memset(h, 0, sizeof *h);
    lsc_assess_opts ao = LSC_ASSESS_OPTS_INIT;
    h->memorisation_factor = ao.memorisation_factor;
    if (real && real->rows >= 2 &&
        (rc = nn_distances(o, ctx, real, NULL, &d[0], &h->rows[0], &h->subset[0])))
        goto done;
    if (fake && fake->rows >= 2 &&
        (rc = nn_distances(o, ctx, fake, NULL, &d[1], &h->rows[1], &h->subset[1])))
        goto done;
    if (fake && real && (rc = nn_distances(o, ctx, fake, real, &d[2], &h->rows[2], &h->subset[2])))
        goto done;
    double upper = 0;
    for (int s = 0; s < 3; s++) {
        if (!d[s]) continue;
        qsort(d[s], (size_t)h->rows[s], sizeof(float), cmp_f32);
        h->median[s] = d[s][(h->rows[s] - 1) / 2]; /* the lower middle value, as nn_median */
        double q = d[s][(int64_t)(0.995 * (double)(h->rows[s] - 1))];
        if (q > upper) upper = q;
        if (d[s][h->rows[s] - 1] > h->largest) h->largest = d[s][h->rows[s] - 1];
    }
    upper *= 1.05;
    h->upper = upper > 0 ? upper : h->largest > 0 ? h->largest : 1.0;
    for (int s = 0; s < 3; s++)
        for (int64_t i = 0; d[s] && i < h->rows[s]; i++) {
            int64_t j = (int64_t)((double)d[s][i] / h->upper * CLI_NN_BINS);
            h->counts[s][j < 0 ? 0 : j >= CLI_NN_BINS ? CLI_NN_BINS - 1 : j]++;
        }
    h->memorisation_line = h->memorisation_factor * h->median[CLI_NN_REAL_REAL];
    h->have = 1;
done:
    for (int s = 0; s < 3; s++) free(d[s]);
    return rc;
}

/* timings_ms of the JSON and the page, in order */
typedef struct timings {
    const char *name[16];
    double ms[16];
    int n;
} timings;

static void timing_add(timings *t, const char *name, double ms)
{
    if (t->n < 16) {
        t->name[t->n] = name;
        t->ms[t->n++] = ms;
    }
}

/* Opens the real (--real) and fake sets and checks every row of each (here, because the spectrum
 * may see only a subset of them), their widths and k against their sizes; under mpirun with
 * several ranks this rank's part of each file's rows. Returns 0 or the exit code of a failure
 * (reported); what was opened is marked in R->open / F->open either way. */
static int open_sets(cli_opts *o, set_fig *R, set_fig *F, int *real_rows)
{
    const int par = cli_par_ranks() > 1;
    set_fig *sets[2] = {R, F};
    const char *paths[2] = {o->real, o->fake};
    int rc;
    for (int i = 0; i < 2; i++) {
        set_fig *x = sets[i];
        if (!paths[i]) continue;
        if ((rc = par ? cli_open_part(o, paths[i], &x->in) : cli_open(o, paths[i], &x->in)))
            return rc;
        x->open = 1;
        if (!par) x->in.total_rows = x->in.m.rows;
        x->whole = x->in.m;
        x->whole.rows = x->in.total_rows;
        if ((rc = cli_check_finite(o, paths[i], &x->in.m, x->in.first_row))) return rc;
    }
    if (o->real) *real_rows = 1;
    if (o->fake) {
        if (o->real && F->in.m.cols != R->in.m.cols)
            return cli_fail(o, EXIT_BAD_INPUT, "%s has %lld columns but %s has %lld", o->real,
                            (long long)R->in.m.cols, o->fake, (long long)F->in.m.cols);
        if (o->real && (o->k >= R->whole.rows || o->k >= F->whole.rows)) {
            const char *p = o->k >= R->whole.rows ? o->real : o->fake;
            int64_t n = o->k >= R->whole.rows ? R->whole.rows : F->whole.rows;
            return cli_fail(o, EXIT_BAD_INPUT,
                            "--k: k=%lld needs at least %lld rows in %s, got %lld", (long long)o->k,
                            (long long)o->k + 1, p, (long long)n);
        }
    }
    return 0;
}

/* Under mpirun with several ranks: the sections that have no sharded form yet are refused by
 * name rather than computed P times over (the same decision on every rank, before any work). */
static int par_refusals(const cli_opts *o)
{
    static const char *const why = "under mpirun with several ranks (it has no sharded form yet: "
                                   "run the report with it without mpirun)";
    const char *opt = o->geometry ? "--geometry"
                      : o->kid    ? "--kid"
                      : o->mmd    ? "--mmd"
                      : o->html   ? "--html"
                                  : NULL;
    if (opt) return cli_fail(o, EXIT_BAD_INPUT, "%s does not run %s", opt, why);
    return 0;
}

/* The options that only make sense with others, and the label files (--labels, --fake-labels:
 * one class per row). Returns 0 or the exit code of a failure (reported); labels read are the
 * caller's to free either way. */
static int report_options(cli_opts *o, const set_fig *F, int64_t **real_labels,
                          int64_t *n_real_labels, int64_t **fake_labels, int64_t *n_fake_labels)
{
    int rc;
    /* KID and MMD cost more than the rest of the report at its default sizes: opt-in, and
     * their options alone would silently do nothing */
    if (o->kid_opt[0] && !o->kid) return cli_fail(o, EXIT_BAD_INPUT, "%s needs --kid", o->kid_opt);
    if (o->mmd_opt[0] && !o->mmd) return cli_fail(o, EXIT_BAD_INPUT, "%s needs --mmd", o->mmd_opt);
    if (o->sigma_given && !o->mmd && !o->geometry)
        return cli_fail(o, EXIT_BAD_INPUT, "--sigma needs --mmd or --geometry");
    if ((o->kid || o->mmd) && !o->fake)
        return cli_fail(o, EXIT_BAD_INPUT, "--%s needs --fake (it compares two sets)",
                        o->kid ? "kid" : "mmd");
    if ((o->labels || o->fake_labels) && !o->fake)
        return cli_fail(o, EXIT_BAD_INPUT,
                        "--labels and --fake-labels need --fake (they judge the generated rows)");
    if (o->fake_labels && !o->labels)
        return cli_fail(o, EXIT_BAD_INPUT,
                        "--fake-labels needs --labels (the classes come from the real rows)");
    char err[512];
    if (o->labels && (rc = lsc_labels_open(o->labels, real_labels, n_real_labels, err, sizeof err)))
        return cli_fail(o, rc, "%s", err);
    if (o->fake_labels) {
        if ((rc = lsc_labels_open(o->fake_labels, fake_labels, n_fake_labels, err, sizeof err)))
            return cli_fail(o, rc, "%s", err);
        if (*n_fake_labels != F->whole.rows)
            return cli_fail(o, EXIT_BAD_INPUT, "%s holds %lld labels but %s has %lld rows",
                            o->fake_labels, (long long)*n_fake_labels, o->fake,
                            (long long)F->whole.rows);
    }
    return 0;
}

/* Hubness of the generated rows as queries against the real rows: which real rows the generator
 * keeps landing next to. *have is set when it was computed; a soft failure (geometry_soft) leaves
 * its reason in `why`. Returns 0 or the exit code of a hard failure (reported). */
static int fake_hubness(cli_opts *o, lsc_ctx *ctx, const set_fig *R, const set_fig *F,
                        lsc_hubness_result *hub, int *have, char *why, size_t why_len, double *t)
{
    lsc_hubness_opts ho = LSC_HUBNESS_OPTS_INIT;
    ho.metric = o->metric;
    ho.seed = o->seed;
    double t0 = cli_now_ms();
    cli_progress_label("hubness of fake against real");
    lsc_status st = lsc_hubness(ctx, &R->in.m, &F->in.m, &ho, hub);
    cli_progress_done();
    *t = cli_now_ms() - t0;
    if (st == LSC_STATUS_OK) *have = 1;
    else if (geometry_soft(st)) snprintf(why, why_len, "%s", lsc_last_error(ctx));
    else return cli_lib_fail(o, ctx, st, o->fake);
    return 0;
}

/* What the report says under mpirun of the parts that have no sharded form yet. */
#define PAR_NO_FD                                                                                  \
    "the Frechet distance does not run under mpirun with several ranks yet (no sharded form): "    \
    "lsc fd, or the report without mpirun"

/* What the report's writers (the JSON document, the HTML page, the text on stdout) read: the
 * figures of one run, gathered by cmd_report. */
typedef struct {
    set_fig *R, *F;
    const lsc_reference_info *rinfo;
    int real_rows;      /* 1 when the real rows are at hand in R->in (--real, or the reference's) */
    int64_t nreal, neq; /* real rows; rows of each spectrum */
    const lsc_assessment *verdicts;   /* NULL without --fake */
    const lsc_hubness_result *hub_fr; /* fake rows against the real ones, when have_hub_fr */
    int have_hub_fr;
    const char *hub_fr_why;
    int dist; /* the distribution distances were computed */
    const lsc_fd_result *fdr;
    const lsc_kid_result *kidr;
    const lsc_mmd_result *mmdr;
    const lsc_prdc_result *prdc;
    int64_t mem_rows, drows;
    double mem_fraction;
    const cli_reading_in *ri;
    const cli_nn_hist *nnh;
    char **readings, **fixed;
    int nread, nfixed;
    const timings *tm;
    double t_total;
} report_figs;

/* The JSON document (--json). Returns 0 or the exit code of a failure (reported). */
static int report_json(cli_opts *o, lsc_ctx *ctx, const report_figs *g)
{
    int rc = 0;
    FILE *jf = cli_output_open(o, o->json, &rc);
    if (!jf) return rc;
    json_w w;
    jw_open(&w, jf);
    jw_obj(&w, NULL);
    cli_json_header(&w, ctx);
    if (g->verdicts) {
        json_verdicts(&w, g->verdicts);
        json_classes(&w, g->verdicts);
    }
    jw_obj(&w, "inputs");
    if (o->reference) {
        jw_obj(&w, "real");
        jw_str(&w, "reference", o->reference);
        jw_int(&w, "file_version", g->rinfo->file_version);
        jw_int(&w, "rows", g->rinfo->rows);
        jw_int(&w, "cols", g->rinfo->cols);
        jw_str(&w, "dtype", "float32"); /* a reference keeps its rows as float32 */
        jw_end_obj(&w);
    } else {
        cli_json_input(&w, "real", o->real, &g->R->whole);
    }
    if (o->fake) cli_json_input(&w, "fake", o->fake, &g->F->whole);
    jw_end_obj(&w);
    jw_obj(&w, "params");
    jw_int(&w, "k", o->k);
    jw_str(&w, "metric", cli_metric_name(o->metric));
    jw_str(&w, "comparison", o->inclusive ? "inclusive" : "strict");
    jw_num(&w, "dup_eps", o->dup_eps);
    jw_int(&w, "bins", o->bins);
    jw_num(&w, "active_threshold", o->active_threshold);
    jw_int(&w, "pairs_max_rows", o->pairs_max_rows);
    jw_int(&w, "seed", (int64_t)o->seed);
    jw_int(&w, "splits", o->splits);
    jw_int(&w, "threads", o->threads);
    jw_int(&w, "spectrum_rows", g->neq);
    jw_int(&w, "dup_report_json", 100);
    jw_num(&w, "dim_collapse_ratio", o->th.dim_collapse_ratio);
    jw_num(&w, "mode_collapse_ratio", o->th.mode_collapse_ratio);
    jw_num(&w, "coverage_min", o->th.coverage_min);
    jw_num(&w, "precision_high", o->th.precision_high);
    jw_num(&w, "precision_min", o->th.precision_min);
    jw_num(&w, "dup_fraction", o->th.dup_fraction);
    jw_num(&w, "active_ratio", o->th.active_ratio);
    jw_end_obj(&w);
    jw_obj(&w, "spectrum");
    if (g->real_rows)
        cli_json_spectrum(&w, "real", &g->R->s, g->R->sv, g->R->spec_rows, g->R->whole.rows);
    if (o->fake)
        cli_json_spectrum(&w, "fake", &g->F->s, g->F->sv, g->F->spec_rows, g->F->whole.rows);
    jw_end_obj(&w);
    if (g->R->have_all || g->F->have_all) { /* the subsetted set's figures on every row */
        jw_obj(&w, "spectrum_all_rows");
        if (g->R->have_all)
            cli_json_spectrum(&w, "real", &g->R->s_all, g->R->sv_all, g->R->whole.rows,
                              g->R->whole.rows);
        if (g->F->have_all)
            cli_json_spectrum(&w, "fake", &g->F->s_all, g->F->sv_all, g->F->whole.rows,
                              g->F->whole.rows);
        jw_end_obj(&w);
    }
    jw_obj(&w, "pairwise");
    if (g->real_rows) cli_json_pairs(&w, "real", &g->R->p, g->R->hist, g->R->dups, 100);
    if (o->fake) cli_json_pairs(&w, "fake", &g->F->p, g->F->hist, g->F->dups, 100);
    jw_end_obj(&w);
    if (o->geometry) { /* docs/METRICS.md section 9: reported, no verdict */
        jw_obj(&w, "geometry");
        set_fig *gs[2] = {g->real_rows ? g->R : NULL, o->fake ? g->F : NULL};
        for (int i = 0; i < 2; i++) {
            if (!gs[i]) continue;
            jw_obj(&w, i ? "fake" : "real");
            json_twonn(&w, gs[i]);
            json_hubness(&w, "hubness", &gs[i]->hub, gs[i]->have_hub, gs[i]->hub_why);
            json_vendi_rbf(&w, gs[i]);
            jw_end_obj(&w);
        }
        if (o->fake)
            json_hubness(&w, "hubness_fake_to_real", g->hub_fr, g->have_hub_fr, g->hub_fr_why);
        jw_end_obj(&w);
    }
    if (g->dist) { /* docs/METRICS.md section 10: reported, no verdict */
        jw_obj(&w, "distribution");
        cli_json_fd(&w, "fd", g->fdr);
        if (o->kid) cli_json_kid(&w, "kid", g->kidr, o->seed);
        if (o->mmd) cli_json_mmd(&w, "mmd", g->mmdr, o->sigma, o->scale);
        jw_end_obj(&w);
    } else if (o->fake) {
        jw_obj(&w, "distribution");
        jw_null(&w, "fd");
        jw_str(&w, "unavailable", PAR_NO_FD);
        jw_end_obj(&w);
    }
    if (o->fake) {
        cli_json_prdc(&w, "prdc", g->prdc);
        jw_obj(&w, "memorisation");
        if (g->real_rows) {
            jw_int(&w, "fake_rows_near_real", g->mem_rows);
            jw_num(&w, "fraction", g->mem_fraction);
        } else {
            jw_null(&w, "fake_rows_near_real");
            jw_null(&w, "fraction");
        }
        jw_int(&w, "fake_rows_in_near_duplicate_pairs", g->drows);
        jw_end_obj(&w);
    }
    if (g->nnh->have) cli_json_nn_hist(&w, "nearest_neighbour", g->nnh);
    cli_json_definitions(&w);
    jw_arr(&w, "readings");
    for (int i = 0; i < g->nread; i++) jw_str(&w, NULL, g->readings[i]);
    jw_end_arr(&w);
    jw_arr(&w, "readings_fixed_thresholds");
    for (int i = 0; i < g->nfixed; i++) jw_str(&w, NULL, g->fixed[i]);
    jw_end_arr(&w);
    jw_obj(&w, "deprecated");
    jw_str(&w, "readings_fixed_thresholds",
           "the fixed-threshold readings of docs/METRICS.md section 6 (thresholds in params: "
           "dim_collapse_ratio ... active_ratio), kept for one release; they decide no verdict "
           "and no reading");
    jw_end_obj(&w);
    jw_obj(&w, "timings_ms");
    for (int i = 0; i < g->tm->n; i++) jw_num(&w, g->tm->name[i], g->tm->ms[i]);
    jw_end_obj(&w);
    jw_end_obj(&w);
    jw_close(&w);
    if (!jw_ok(&w)) {
        cli_output_close(o, jf, 0);
        return cli_fail(o, EXIT_MACHINE, "%s: the JSON document nests too deeply", o->json);
    }
    return cli_output_close(o, jf, 1);
}

/* The HTML page (--html). Returns 0 or the exit code of a failure (reported). */
static int report_html(cli_opts *o, lsc_ctx *ctx, const report_figs *g)
{
    int rc = 0;
    FILE *hf = cli_output_open(o, o->html, &rc);
    if (!hf) return rc;
    cli_html_set hs[2];
    memset(hs, 0, sizeof hs);
    set_fig *xs[2] = {g->R, g->F};
    for (int i = 0; i < 2; i++) {
        hs[i].path = xs[i]->path;
        hs[i].rows = xs[i]->whole.rows;
        hs[i].cols = xs[i]->whole.cols;
        hs[i].s = &xs[i]->s;
        hs[i].sv = xs[i]->sv;
        hs[i].spec_rows = xs[i]->spec_rows;
        hs[i].p = &xs[i]->p;
        hs[i].dups = xs[i]->dups;
    }
    cli_html_report hr;
    memset(&hr, 0, sizeof hr);
    hr.o = o;
    hr.device = lsc_ctx_device_name(ctx);
    hr.version = lsc_version();
    hr.a = g->verdicts;
    hr.real = g->real_rows ? &hs[0] : NULL;
    hr.fake = o->fake ? &hs[1] : NULL;
    hr.reference = o->reference;
    hr.prdc = o->fake ? g->prdc : NULL;
    hr.nn = g->nnh;
    hr.mem_rows = g->real_rows && o->fake ? g->mem_rows : -1;
    hr.readings = (const char *const *)g->readings;
    hr.nread = g->nread;
    hr.timing_name = g->tm->name;
    hr.timing_ms = g->tm->ms;
    hr.ntimings = g->tm->n;
    int bad = cli_html_write(hf, &hr);
    return cli_output_close(o, hf, !bad);
}

/* The deprecated fixed-threshold checks of docs/METRICS.md section 6, on stdout. */
static void print_fixed_checks(const cli_opts *o, const report_figs *g)
{
    const cli_thresholds *th = &o->th;
    printf(
        "\nfixed-threshold checks (deprecated, kept for one release: they decide no verdict and no\n"
        "reading; the JSON keeps them as readings_fixed_thresholds; docs/METRICS.md section 6):\n");
    if (o->fake) {
        if (!g->real_rows) {
            printf("  dimensional collapse  needs the real spectrum: not checked\n");
            printf("  mode collapse         vendi_cosine needs the real spectrum: not checked\n");
        } else {
            printf(
                "  dimensional collapse  fake effective_rank %.4g < %g x real's %.4g (= %.4g)?  %s\n",
                g->F->s.effective_rank, th->dim_collapse_ratio, g->R->s.effective_rank,
                th->dim_collapse_ratio * g->R->s.effective_rank,
                g->F->s.effective_rank < th->dim_collapse_ratio * g->R->s.effective_rank ? "yes"
                                                                                         : "no");
            if (g->F->s.vendi_status == LSC_VENDI_OK && g->R->s.vendi_status == LSC_VENDI_OK)
                printf(
                    "  mode collapse         fake vendi_cosine %.4g < %g x real's %.4g (= %.4g)?  %s\n",
                    g->F->s.vendi_cosine, th->mode_collapse_ratio, g->R->s.vendi_cosine,
                    th->mode_collapse_ratio * g->R->s.vendi_cosine,
                    g->F->s.vendi_cosine < th->mode_collapse_ratio * g->R->s.vendi_cosine ? "yes"
                                                                                          : "no");
            else
                printf(
                    "  mode collapse         vendi_cosine unavailable (an all-zero row): not checked\n");
        }
        printf("  mode collapse         coverage %.3f < %g while precision %.3f >= %g?  %s\n",
               g->prdc->coverage, th->coverage_min, g->prdc->precision, th->precision_high,
               g->prdc->coverage < th->coverage_min && g->prdc->precision >= th->precision_high
                   ? "yes"
                   : "no");
        printf("  low fidelity          precision %.3f < %g?  %s\n", g->prdc->precision,
               th->precision_min, g->prdc->precision < th->precision_min ? "yes" : "no");
        printf(
            "  memorisation          fake rows in a near-duplicate pair (d <= %g): %s%.2f%% > %g%%?  %s\n",
            o->dup_eps, g->ri->dup_lower_bound ? ">= " : "", 100.0 * g->ri->fake_dup_fraction,
            100.0 * th->dup_fraction, g->ri->fake_dup_fraction > th->dup_fraction ? "yes" : "no");
        if (g->real_rows)
            printf(
                "  memorisation          fake rows within %g of a real row: %.2f%% > %g%%?  %s\n",
                o->dup_eps, 100.0 * g->mem_fraction, 100.0 * th->dup_fraction,
                g->mem_fraction > th->dup_fraction ? "yes" : "no");
        else
            printf(
                "  memorisation          fake rows near a real row need the real rows: not checked\n");
    } else {
        printf(
            "  posterior collapse    active_units %lld < %g x D (= %.1f)?  %s   (meaningful for VAE "
            "posterior means)\n",
            (long long)g->R->s.active_units, th->active_ratio,
            th->active_ratio * (double)g->R->whole.cols,
            (double)g->R->s.active_units < th->active_ratio * (double)g->R->whole.cols ? "yes"
                                                                                       : "no");
        printf(
            "  duplicates            rows in a near-duplicate pair (d <= %g): %s%.2f%% > %g%%?  %s\n",
            o->dup_eps, g->ri->dup_lower_bound ? ">= " : "", 100.0 * g->ri->fake_dup_fraction,
            100.0 * th->dup_fraction, g->ri->fake_dup_fraction > th->dup_fraction ? "yes" : "no");
    }
}

/* The text report on stdout. */
static void report_text(cli_opts *o, lsc_ctx *ctx, const report_figs *g)
{
    printf("lsc %s report on %s\n", lsc_version(), lsc_ctx_device_name(ctx));
    if (o->reference)
        printf("real: reference %s (file format version %lld; %lld x %lld, k=%lld, %s, %s)\n",
               o->reference, (long long)g->rinfo->file_version, (long long)g->rinfo->rows,
               (long long)g->rinfo->cols, (long long)g->rinfo->k, cli_metric_name(g->rinfo->metric),
               o->inclusive ? "inclusive" : "strict");
    else
        printf("real: %s (%lld x %lld)\n", o->real, (long long)g->R->whole.rows,
               (long long)g->R->whole.cols);
    if (o->fake)
        printf("fake: %s (%lld x %lld)\n", o->fake, (long long)g->F->whole.rows,
               (long long)g->F->whole.cols);
    if (o->fake && g->nreal != g->F->whole.rows)
        printf(
            "the spectra are compared at equal N = %lld: a seeded subset (seed %llu) of the larger set\n",
            (long long)g->neq, (unsigned long long)o->seed);
    printf("\n");
    if (g->verdicts) {
        print_verdicts(g->verdicts);
        print_classes(g->verdicts, g->R->whole.rows);
    }
    if (o->fake && g->real_rows) print_spectra(g->R, g->F);
    else if (o->fake)
        cli_print_spectrum(stdout, "fake", &g->F->s, g->F->spec_rows, g->F->whole.rows);
    else cli_print_spectrum(stdout, "real", &g->R->s, g->R->spec_rows, g->R->whole.rows);
    set_fig *sets[2] = {g->R, g->F};
    for (int i = 0; i < 2; i++)
        if (sets[i]->have_all) {
            printf("(%s on all %lld rows, for the record: effective_rank %.4f", i ? "fake" : "real",
                   (long long)sets[i]->whole.rows, sets[i]->s_all.effective_rank);
            if (sets[i]->s_all.vendi_status == LSC_VENDI_OK)
                printf(", vendi_cosine %.4f", sets[i]->s_all.vendi_cosine);
            printf(")\n");
        }
    printf("\n");
    if (g->real_rows) cli_print_pairs(stdout, "real", &g->R->p, o);
    if (o->fake) cli_print_pairs(stdout, "fake", &g->F->p, o);
    if (g->R->p.subset || (o->fake && g->F->p.subset))
        printf(
            "(sets above --pairs-max-rows %lld use a seeded subset for the all-pairs figures; kNN and "
            "PRDC use every row)\n",
            (long long)o->pairs_max_rows);
    printf("\n");
    if (o->geometry && g->real_rows) print_geometry(g->R, "real");
    if (o->geometry && o->fake) print_geometry(g->F, "fake");
    if (o->geometry && o->fake && g->real_rows) {
        if (g->have_hub_fr)
            printf("hubness of fake rows among the real rows (k = %lld): skewness %.4g  robin hood "
                   "%.4g  max N_k %lld  real rows never a neighbour %lld of %lld\n",
                   (long long)g->hub_fr->k, g->hub_fr->skewness, g->hub_fr->robin_hood,
                   (long long)g->hub_fr->max_occurrence, (long long)g->hub_fr->antihubs,
                   (long long)g->hub_fr->base_rows);
        else printf("hubness of fake rows among the real rows: unavailable: %s\n", g->hub_fr_why);
    }
    if (o->geometry) printf("(reported without a verdict, docs/METRICS.md section 9)\n");
    if (o->fake) {
        printf("\n");
        cli_print_prdc(stdout, g->prdc);
        if (g->real_rows)
            printf("  fake rows within %g of a real row: %lld of %lld\n", o->dup_eps,
                   (long long)g->mem_rows, (long long)g->F->whole.rows);
    }
    if (!g->dist && o->fake) printf("\n(%s)\n", PAR_NO_FD);
    if (g->dist) {
        printf(
            "\ndistances between the two distributions (docs/METRICS.md section 10, no verdict):\n");
        cli_print_fd(stdout, g->fdr);
        if (o->kid) cli_print_kid(stdout, g->kidr);
        if (o->mmd) cli_print_mmd(stdout, g->mmdr, o->sigma, o->scale);
    }
    print_fixed_checks(o, g);
    if (g->verdicts) {
        printf("\nreadings:\n");
        for (int i = 0; i < g->nread; i++) printf("  %s\n", g->readings[i]);
    } else {
        printf("\nreadings: none (they are made from the verdicts, which need --fake)\n");
    }
    printf("\n(%.0f ms in all, %d rank%s)\n", g->t_total, cli_par_ranks(),
           cli_par_ranks() > 1 ? "s" : "");
}

int cmd_report(cli_opts *o)
{
    int rc = 0;
    if (!!o->real == !!o->reference)
        return cli_fail(o, EXIT_BAD_INPUT,
                        "give exactly one of --real and --reference (see --help)");
    set_fig R, F;
    memset(&R, 0, sizeof R);
    memset(&F, 0, sizeof F);
    R.path = o->real ? o->real : o->reference;
    F.path = o->fake;
    int real_rows = 0; /* 1 when the real rows are at hand in R.in (--real, or the reference's) */
    lsc_reference_info rinfo = LSC_REFERENCE_INFO_INIT;
    lsc_ctx *ctx = NULL;
    lsc_reference *ref = NULL;
    char *readings[16], *fixed[16];
    int nread = 0, nfixed = 0;
    lsc_prdc_result prdc = LSC_PRDC_RESULT_INIT;
    lsc_assessment *verdicts = NULL;
    int64_t *real_labels = NULL, *fake_labels = NULL, n_real_labels = 0, n_fake_labels = 0;
    double t_load = 0, t_verdicts = 0, t_start = cli_now_ms();
    double mem_fraction = -1;
    int64_t mem_rows = 0;

    /* under mpirun with several ranks each rank holds its part of each set's rows; every phase
     * that can fail on some ranks alone ends in an agreement before the next collective call */
    const int par = cli_par_ranks() > 1;
    if (par && (rc = par_refusals(o))) goto done;
    rc = open_sets(o, &R, &F, &real_rows);
    if (!rc) rc = report_options(o, &F, &real_labels, &n_real_labels, &fake_labels, &n_fake_labels);
    if (!rc && (ctx = cli_ctx(o, &rc))) rc = cli_par_attach(o, ctx);
    if ((rc = cli_par_agree(rc))) goto done;
    if (o->reference) { /* a valid file holds k < N and finite rows: only the fake set to check */
        double t0 = cli_now_ms();
        cli_progress_label("reference");
        rc = cli_reference_load_checked(o, ctx, par, &ref, &rinfo);
        cli_progress_done();
        t_load = cli_now_ms() - t0;
        if (!rc) {
            /* the reference's own float32 rows (this rank's shard's) stand for the real set */
            R.in.m = lsc_matrix_f32(lsc_reference_rows(ref), rinfo.rows, rinfo.cols);
            R.in.first_row = rinfo.first_row;
            R.in.total_rows = par ? rinfo.total_rows : rinfo.rows;
            R.whole = R.in.m;
            R.whole.rows = R.in.total_rows;
            rinfo.rows = R.whole.rows; /* the whole reference's, as the outputs give it */
            real_rows = 1;
        }
        if (!rc && o->fake && rinfo.cols != F.in.m.cols)
            rc = cli_fail(o, EXIT_BAD_INPUT, "%s has %lld columns but %s has %lld", o->reference,
                          (long long)rinfo.cols, o->fake, (long long)F.in.m.cols);
        if (!rc && o->fake && o->k >= F.whole.rows)
            rc = cli_fail(o, EXIT_BAD_INPUT,
                          "k=%lld of %s needs at least %lld rows in %s, got %lld", (long long)o->k,
                          o->reference, (long long)o->k + 1, o->fake, (long long)F.whole.rows);
    }
    if (!rc && real_labels && n_real_labels != R.whole.rows)
        rc = cli_fail(o, EXIT_BAD_INPUT, "%s holds %lld labels but the real set has %lld rows",
                      o->labels, (long long)n_real_labels, (long long)R.whole.rows);
    if ((rc = cli_par_agree(rc))) goto done;
    if (o->deprecated[0] && cli_par_rank() == 0)
        fprintf(stderr,
                "lsc report: warning: %s is deprecated: the fixed-threshold options make only "
                "the fixed-threshold table and the JSON's readings_fixed_thresholds, and decide "
                "no verdict and no reading (docs/METRICS.md section 6)\n",
                o->deprecated);

    int64_t nreal = real_rows ? R.whole.rows : rinfo.rows;
    int64_t neq = nreal;
    if (o->fake && F.whole.rows < neq) neq = F.whole.rows;
    if (real_rows && (rc = set_figures(o, ctx, &R, "real", neq))) goto done;
    if (o->fake && (rc = set_figures(o, ctx, &F, "fake", neq))) goto done;
    if (o->geometry && real_rows && (rc = set_geometry(o, ctx, &R, "real"))) goto done;
    if (o->geometry && o->fake && (rc = set_geometry(o, ctx, &F, "fake"))) goto done;
    /* hubness of the generated rows as queries against the real rows: which real rows the
     * generator keeps landing next to */
    lsc_hubness_result hub_fr = LSC_HUBNESS_RESULT_INIT;
    int have_hub_fr = 0;
    char hub_fr_why[200] = "needs the real rows (--real)";
    double t_hub_fr = 0;
    if (o->geometry && o->fake && real_rows &&
        (rc = fake_hubness(o, ctx, &R, &F, &hub_fr, &have_hub_fr, hub_fr_why, sizeof hub_fr_why,
                           &t_hub_fr)))
        goto done;

    /* distances between the two distributions (docs/METRICS.md section 10), reported without a
     * verdict: FD (one float64 Gram pass per set, every row), KID and RBF MMD when asked */
    lsc_fd_result fdr = LSC_FD_RESULT_INIT;
    lsc_kid_result kidr = LSC_KID_RESULT_INIT;
    lsc_mmd_result mmdr = LSC_MMD_RESULT_INIT;
    double t_dist[3] = {0, 0, 0};                  /* fd, kid, mmd */
    const int dist = o->fake && real_rows && !par; /* no sharded form yet: left out under mpirun */
    for (int step = 0; dist && step < 3; step++) {
        static const char *const label[3] = {"fd", "kid", "mmd"};
        if ((step == 1 && !o->kid) || (step == 2 && !o->mmd)) continue;
        double t0 = cli_now_ms();
        cli_progress_label(label[step]);
        lsc_status st = step == 0   ? lsc_frechet_distance(ctx, &R.in.m, &F.in.m, &fdr)
                        : step == 1 ? cli_kid(ctx, o, &R.in.m, &F.in.m, &kidr)
                                    : cli_mmd(ctx, o, &R.in.m, &F.in.m, &mmdr);
        cli_progress_done();
        t_dist[step] = cli_now_ms() - t0;
        if (st != LSC_STATUS_OK) {
            rc = cli_lib_fail(o, ctx, st, label[step]);
            goto done;
        }
    }

    cli_reading_in ri;
    memset(&ri, 0, sizeof ri);
    ri.sreal = real_rows ? &R.s : NULL;
    ri.dup_eps = o->dup_eps;
    ri.fake_mem_fraction = -1;
    set_fig *dupset = o->fake ? &F : &R;
    int64_t drows = dup_rows(dupset);
    ri.fake_dup_rows = drows;
    ri.fake_dup_fraction = drows < 0 ? -1 : (double)drows / (double)dupset->p.rows_used;
    ri.dup_lower_bound = dupset->p.near_duplicate_pairs > dupset->p.near_duplicates_listed &&
                         drows < dupset->p.rows_used;

    if (o->fake) {
        double t0 = cli_now_ms();
        lsc_status st;
        if (!ref) {
            lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
            ro.metric = o->metric;
            ro.comparison = o->inclusive ? LSC_COMPARISON_INCLUSIVE : LSC_COMPARISON_STRICT;
            ro.borrow_rows = 1; /* the real rows outlive the reference: no second copy */
            cli_progress_label("real radii");
            st = par ? lsc_reference_create_sharded(ctx, &R.in.m, o->k, &ro, &ref)
                     : lsc_reference_create(ctx, &R.in.m, o->k, &ro, &ref);
            cli_progress_done();
            if (st != LSC_STATUS_OK) {
                rc = cli_par_lib_fail(o, ctx, st, o->real, "real", R.whole.rows);
                goto done;
            }
        }
        /* the verdicts: every check against held-out real rows at matched sizes; the user's
         * PRDC comes with them (with its per-row outcomes: the uncovered rows) */
        lsc_assess_opts ao = LSC_ASSESS_OPTS_INIT;
        ao.splits = o->splits;
        ao.seed = o->seed;
        ao.real_labels = real_labels;
        ao.fake_labels = fake_labels;
        /* memorisation at full size: fake rows within dup_eps of a real row, counted in the
         * verdicts' full-size PRDC pass (one comparison per pair; a separate nearest-row pass
         * over the same pairs cost a quarter of the report) */
        if (real_rows) ao.near_distance = o->dup_eps;
        if (par) { /* the labels of this rank's rows: its part of each file's, in file order */
            if (real_labels) ao.real_labels = real_labels + R.in.first_row;
            if (fake_labels) ao.fake_labels = fake_labels + F.in.first_row;
        }
        t0 = cli_now_ms();
        cli_progress_label("verdicts");
        st = par ? lsc_assess_sharded(ctx, ref, &F.in.m, &ao, &verdicts)
                 : lsc_assess(ctx, ref, &F.in.m, &ao, &verdicts);
        if (st == LSC_STATUS_OK) st = lsc_assessment_prdc(verdicts, &prdc);
        cli_progress_done();
        t_verdicts = cli_now_ms() - t0;
        if (st != LSC_STATUS_OK) {
            rc = cli_par_lib_fail(o, ctx, st, o->fake, "fake", F.whole.rows);
            goto done;
        }
        nread = verdict_readings(verdicts, readings, 16);
        if (real_rows) {
            mem_rows = lsc_assessment_near_rows(verdicts);
            mem_fraction = (double)mem_rows / (double)F.whole.rows;
        }
        ri.sfake = &F.s;
        ri.prdc = &prdc;
        ri.fake_mem_fraction = mem_fraction;
    }
    nfixed = cli_readings(&ri, &o->th, fixed, 16);
    if (nread < 0 || nfixed < 0) {
        rc = cli_fail(o, EXIT_MACHINE, "out of memory for the readings");
        goto done;
    }
    /* the page's nearest-neighbour histograms (also in the JSON then): two kNN passes of each
     * set against itself and one of the generated rows against the real ones, queries capped
     * at --pairs-max-rows like the all-pairs figures */
    cli_nn_hist nnh;
    memset(&nnh, 0, sizeof nnh);
    double t_nn = 0;
    if (o->html) {
        double t0 = cli_now_ms();
        cli_progress_label("nearest-neighbour histograms");
        rc = nn_histograms(o, ctx, real_rows ? &R.in.m : NULL, o->fake ? &F.in.m : NULL, &nnh);
        cli_progress_done();
        t_nn = cli_now_ms() - t0;
        if (rc) goto done;
    }
    timings tm;
    memset(&tm, 0, sizeof tm);
    if (o->reference) timing_add(&tm, "reference_load", t_load);
    if (real_rows) {
        timing_add(&tm, "spectrum_real", R.t_spec);
        timing_add(&tm, "pairs_real", R.t_pairs);
        if (o->geometry) timing_add(&tm, "geometry_real", R.t_geom);
    }
    if (o->fake) {
        timing_add(&tm, "spectrum_fake", F.t_spec);
        timing_add(&tm, "pairs_fake", F.t_pairs);
        if (o->geometry) timing_add(&tm, "geometry_fake", F.t_geom);
        if (o->geometry && real_rows) timing_add(&tm, "hubness_fake_to_real", t_hub_fr);
        if (dist) timing_add(&tm, "fd", t_dist[0]);
        if (dist && o->kid) timing_add(&tm, "kid", t_dist[1]);
        if (dist && o->mmd) timing_add(&tm, "mmd", t_dist[2]);
        timing_add(&tm, "verdicts", t_verdicts);
    }
    if (o->html) timing_add(&tm, "nearest_neighbour", t_nn);
    double t_total = cli_now_ms() - t_start;
    timing_add(&tm, "total", t_total);

    report_figs g = {.R = &R,
                     .F = &F,
                     .rinfo = &rinfo,
                     .real_rows = real_rows,
                     .nreal = nreal,
                     .neq = neq,
                     .verdicts = verdicts,
                     .hub_fr = &hub_fr,
                     .have_hub_fr = have_hub_fr,
                     .hub_fr_why = hub_fr_why,
                     .dist = dist,
                     .fdr = &fdr,
                     .kidr = &kidr,
                     .mmdr = &mmdr,
                     .prdc = &prdc,
                     .mem_rows = mem_rows,
                     .drows = drows,
                     .mem_fraction = mem_fraction,
                     .ri = &ri,
                     .nnh = &nnh,
                     .readings = readings,
                     .fixed = fixed,
                     .nread = nread,
                     .nfixed = nfixed,
                     .tm = &tm,
                     .t_total = t_total};
    /* every rank holds the figures: rank 0 writes and prints them (the end agrees on its code) */
    if (cli_par_rank() == 0) {
        if (o->json && (rc = report_json(o, ctx, &g))) goto done;
        if (o->html && (rc = report_html(o, ctx, &g))) goto done;
        if (!o->json || strcmp(o->json, "-")) report_text(o, ctx, &g);
    }
    if (!rc) rc = fail_on_code(o, verdicts);
done:
    lsc_assessment_destroy(verdicts);
    free(real_labels);
    free(fake_labels);
    for (int i = 0; i < nread; i++) free(readings[i]);
    for (int i = 0; i < nfixed; i++) free(fixed[i]);
    lsc_reference_destroy(ref);
    lsc_ctx_destroy(ctx);
    set_free(&R);
    set_free(&F);
    return rc;
}
