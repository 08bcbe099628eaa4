/* lsc report: spectrum and all-pairs statistics of each set, PRDC of fake against real, and
 * the readings of docs/METRICS.md section 6. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char *fmt(const char *f, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    char *s = malloc(strlen(buf) + 1);
    if (s) strcpy(s, buf);
    return s;
}

int cli_readings(const cli_reading_in *in, const cli_thresholds *th, char **out, int max) {
    int n = 0;
#define ADD(...)                                                                                    \
    do {                                                                                            \
        if (n < max) out[n++] = fmt(__VA_ARGS__);                                                   \
    } while (0)
    const lsc_spectrum_result *r = in->sreal, *f = in->sfake;
    int collapse = 0;
    if (f) {
        if (f->effective_rank < th->dim_collapse_ratio * r->effective_rank) {
            ADD("dimensional collapse: fake effective_rank %.3g < %g x real's %.3g (= %.3g)",
                f->effective_rank, th->dim_collapse_ratio, r->effective_rank,
                th->dim_collapse_ratio * r->effective_rank);
            collapse = 1;
        }
        if (f->vendi_status == LSC_VENDI_OK && r->vendi_status == LSC_VENDI_OK) {
            if (f->vendi_cosine < th->mode_collapse_ratio * r->vendi_cosine) {
                ADD("mode collapse: fake vendi_cosine %.3g < %g x real's %.3g (= %.3g)", f->vendi_cosine,
                    th->mode_collapse_ratio, r->vendi_cosine, th->mode_collapse_ratio * r->vendi_cosine);
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
    if (r->all_rows_identical) {
        ADD("real: all rows identical");
        collapse = 1;
    }
    if (!collapse) ADD("no collapse detected");
#undef ADD
    return n;
}

/* One set's spectrum (on `m`, possibly a subset) and pair statistics. */
typedef struct set_fig {
    const char *path;
    lsc_input in;
    int open;
    lsc_matrix spec_m;     /* the rows the spectrum used */
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
} set_fig;

static int set_figures(cli_opts *o, lsc_ctx *ctx, set_fig *x, const char *name, int64_t spec_rows) {
    const lsc_matrix *m = &x->in.m;
    x->spec_m = *m;
    x->s.size = sizeof x->s;
    x->s_all.size = sizeof x->s_all;
    x->p.size = sizeof x->p;
    if (spec_rows < m->rows) {
        x->spec_owned = cli_subset_rows(ctx, m, spec_rows, o->seed, &x->spec_m);
        if (!x->spec_owned) return cli_fail(o, EXIT_MACHINE, "%s: out of memory for a subset", x->path);
    }
    int64_t mm = x->spec_m.rows < m->cols ? x->spec_m.rows : m->cols;
    x->sv = malloc(sizeof(double) * (size_t)mm);
    lsc_spectrum_opts so = LSC_SPECTRUM_OPTS_INIT;
    so.active_threshold = o->active_threshold;
    char label[64];
    snprintf(label, sizeof label, "%s: spectrum", name);
    cli_progress_label(label);
    double t0 = cli_now_ms();
    lsc_status st = x->sv ? lsc_spectrum(ctx, &x->spec_m, &so, &x->s, x->sv, NULL) : LSC_STATUS_OUT_OF_MEMORY;
    x->t_spec = cli_now_ms() - t0;
    cli_progress_done();
    if (st != LSC_STATUS_OK) return cli_lib_fail(o, ctx, st, x->path);
    if (x->spec_owned) { /* also every row, for the record (not for the comparison) */
        int64_t ma = m->rows < m->cols ? m->rows : m->cols;
        x->sv_all = malloc(sizeof(double) * (size_t)ma);
        t0 = cli_now_ms();
        st = x->sv_all ? lsc_spectrum(ctx, m, &so, &x->s_all, x->sv_all, NULL) : LSC_STATUS_OUT_OF_MEMORY;
        x->t_spec += cli_now_ms() - t0;
        cli_progress_done();
        if (st != LSC_STATUS_OK) return cli_lib_fail(o, ctx, st, x->path);
        x->have_all = 1;
    }

    lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
    po.metric = o->metric;
    po.bins = o->bins;
    po.dup_eps = o->dup_eps;
    po.seed = o->seed;
    po.subset_rows = (o->pairs_max_rows > 0 && m->rows > o->pairs_max_rows) ? o->pairs_max_rows : 0;
    int64_t used = po.subset_rows ? po.subset_rows : m->rows;
    /* every row in a listed pair counts for the memorisation reading: list up to one pair a row */
    po.dup_report = used > 100 ? used : 100;
    x->dup_report = po.dup_report;
    x->hist = calloc((size_t)po.bins, sizeof *x->hist);
    x->dups = calloc((size_t)po.dup_report, sizeof *x->dups);
    snprintf(label, sizeof label, "%s: all pairs", name);
    cli_progress_label(label);
    t0 = cli_now_ms();
    st = (x->hist && x->dups) ? lsc_pair_stats(ctx, m, &po, &x->p, x->hist, x->dups) : LSC_STATUS_OUT_OF_MEMORY;
    x->t_pairs = cli_now_ms() - t0;
    cli_progress_done();
    if (st != LSC_STATUS_OK) return cli_lib_fail(o, ctx, st, x->path);
    return 0;
}

static void set_free(set_fig *x) {
    free(x->spec_owned);
    free(x->sv);
    free(x->sv_all);
    free(x->hist);
    free(x->dups);
    if (x->open) lsc_input_close(&x->in);
}

/* Distinct rows in the listed near-duplicate pairs. */
static int64_t dup_rows(const set_fig *x) {
    int64_t n = x->in.m.rows, c = 0;
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
static void print_spectra(const set_fig *R, const set_fig *F) {
    const lsc_spectrum_result *a = &R->s, *b = &F->s;
    char head[96], act[64];
    snprintf(head, sizeof head, "spectrum (N = %lld rows each, D = %lld)", (long long)R->spec_m.rows,
             (long long)a->cols);
    printf("%-34s %12s %12s\n", head, "real", "fake");
    printf("  effective_rank                   %12.4f %12.4f\n", a->effective_rank, b->effective_rank);
    printf("  rankme (uncentred)               %12.4f %12.4f\n", a->rankme, b->rankme);
    printf("  participation_ratio              %12.4f %12.4f\n", a->participation_ratio, b->participation_ratio);
    printf("  stable_rank                      %12.4f %12.4f\n", a->stable_rank, b->stable_rank);
    printf("  dims_90                          %12lld %12lld\n", (long long)a->dims_90, (long long)b->dims_90);
    printf("  dims_99                          %12lld %12lld\n", (long long)a->dims_99, (long long)b->dims_99);
    snprintf(act, sizeof act, "active_units (variance > %g)", a->active_threshold);
    printf("  %-32s %12lld %12lld\n", act, (long long)a->active_units, (long long)b->active_units);
    printf("  total_variance                   %12.6g %12.6g\n", a->total_variance, b->total_variance);
    printf("  vendi_cosine                    ");
    const lsc_spectrum_result *both[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (both[i]->vendi_status == LSC_VENDI_OK) printf(" %12.4f", both[i]->vendi_cosine);
        else printf(" %12s", "unavailable");
    }
    printf("\n");
    for (int i = 0; i < 2; i++)
        if (both[i]->vendi_status != LSC_VENDI_OK)
            printf("  (%s: vendi_cosine unavailable: row %lld is all zeros)\n", i ? "fake" : "real",
                   (long long)both[i]->vendi_zero_row);
    for (int i = 0; i < 2; i++)
        if (both[i]->all_rows_identical) printf("  (%s: all rows identical)\n", i ? "fake" : "real");
}

/* ---- verdicts ------------------------------------------------------------------------------ */

static void json_verdicts(json_w *w, const lsc_assessment *a) {
    jw_str(w, "verdict", lsc_level_name(lsc_assessment_level(a)));
    jw_arr(w, "not_assessed");
    for (int c = 0; c < LSC_CHECK_COUNT; c++) {
        lsc_verdict v = LSC_VERDICT_INIT;
        if (lsc_assessment_verdict(a, (lsc_check)c, &v) == LSC_STATUS_OK && v.level == LSC_LEVEL_NOT_ASSESSED)
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

static void print_verdicts(const lsc_assessment *a) {
    printf("verdict: %s\n", lsc_level_name(lsc_assessment_level(a)));
    for (int c = 0; c < LSC_CHECK_COUNT; c++) {
        lsc_verdict v = LSC_VERDICT_INIT;
        if (lsc_assessment_verdict(a, (lsc_check)c, &v) != LSC_STATUS_OK) continue;
        printf("  %-21s %-12s %s\n", lsc_check_name(v.check), lsc_level_name(v.level), v.why);
    }
    printf("(each check against held-out real rows at the same sizes, docs/METRICS.md section 8)\n\n");
}

/* exit 3 when --fail-on asks for it; 0 otherwise */
static int fail_on_code(const cli_opts *o, const lsc_assessment *a) {
    if (!a) return 0;
    if (o->fail_on && (int)lsc_assessment_level(a) >= o->fail_on) return EXIT_VERDICT;
    if (o->fail_on_not_assessed)
        for (int c = 0; c < LSC_CHECK_COUNT; c++) {
            lsc_verdict v = LSC_VERDICT_INIT;
            if (lsc_assessment_verdict(a, (lsc_check)c, &v) == LSC_STATUS_OK && v.level == LSC_LEVEL_NOT_ASSESSED)
                return EXIT_VERDICT;
        }
    return 0;
}

int cmd_report(cli_opts *o) {
    int rc = 0;
    if (!o->real) return cli_fail(o, EXIT_BAD_INPUT, "missing --real (see --help)");
    set_fig R, F;
    memset(&R, 0, sizeof R);
    memset(&F, 0, sizeof F);
    R.path = o->real;
    F.path = o->fake;
    lsc_ctx *ctx = NULL;
    lsc_reference *ref = NULL;
    float *nn_d = NULL;
    int64_t *nn_i = NULL;
    char *readings[16];
    int nread = 0;
    lsc_prdc_result prdc = LSC_PRDC_RESULT_INIT;
    lsc_assessment *verdicts = NULL;
    double t_prdc = 0, t_mem = 0, t_verdicts = 0, t_start = cli_now_ms();
    double mem_fraction = -1;
    int64_t mem_rows = 0;

    /* checked here, on every row, because the spectrum may see only a subset of them */
    if ((rc = cli_open(o, o->real, &R.in))) goto done;
    R.open = 1;
    if ((rc = cli_check_finite(o, o->real, &R.in.m))) goto done;
    if (o->fake) {
        if ((rc = cli_open(o, o->fake, &F.in))) goto done;
        F.open = 1;
        if ((rc = cli_check_finite(o, o->fake, &F.in.m))) goto done;
        if (F.in.m.cols != R.in.m.cols) {
            rc = cli_fail(o, EXIT_BAD_INPUT, "%s has %lld columns but %s has %lld", o->real,
                          (long long)R.in.m.cols, o->fake, (long long)F.in.m.cols);
            goto done;
        }
        if (o->k >= R.in.m.rows || o->k >= F.in.m.rows) {
            const char *p = o->k >= R.in.m.rows ? o->real : o->fake;
            int64_t n = o->k >= R.in.m.rows ? R.in.m.rows : F.in.m.rows;
            rc = cli_fail(o, EXIT_BAD_INPUT, "--k: k=%lld needs at least %lld rows in %s, got %lld",
                          (long long)o->k, (long long)o->k + 1, p, (long long)n);
            goto done;
        }
    }
    if (!(ctx = cli_ctx(o, &rc))) goto done;
    if (o->deprecated[0])
        fprintf(stderr, "lsc report: warning: %s is deprecated: the fixed-threshold options make the "
                        "readings only and decide no verdict (docs/METRICS.md section 8)\n", o->deprecated);

    int64_t neq = R.in.m.rows;
    if (o->fake && F.in.m.rows < neq) neq = F.in.m.rows;
    if ((rc = set_figures(o, ctx, &R, "real", neq))) goto done;
    if (o->fake && (rc = set_figures(o, ctx, &F, "fake", neq))) goto done;

    cli_reading_in ri;
    memset(&ri, 0, sizeof ri);
    ri.sreal = &R.s;
    ri.dup_eps = o->dup_eps;
    ri.fake_mem_fraction = -1;
    set_fig *dupset = o->fake ? &F : &R;
    int64_t drows = dup_rows(dupset);
    ri.fake_dup_rows = drows;
    ri.fake_dup_fraction = drows < 0 ? -1 : (double)drows / (double)dupset->p.rows_used;
    ri.dup_lower_bound = dupset->p.near_duplicate_pairs > dupset->p.near_duplicates_listed &&
                         drows < dupset->p.rows_used;

    if (o->fake) {
        lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
        ro.metric = o->metric;
        ro.comparison = o->inclusive ? LSC_COMPARISON_INCLUSIVE : LSC_COMPARISON_STRICT;
        ro.borrow_rows = 1; /* the real rows outlive the reference: no second copy */
        double t0 = cli_now_ms();
        cli_progress_label("real radii");
        lsc_status st = lsc_reference_create(ctx, &R.in.m, o->k, &ro, &ref);
        cli_progress_done();
        if (st != LSC_STATUS_OK) {
            rc = cli_lib_fail(o, ctx, st, o->real);
            goto done;
        }
        cli_progress_label("prdc");
        st = lsc_prdc(ctx, ref, &F.in.m, &prdc);
        cli_progress_done();
        t_prdc = cli_now_ms() - t0;
        if (st != LSC_STATUS_OK) {
            rc = cli_lib_fail(o, ctx, st, o->fake);
            goto done;
        }
        /* memorisation: fake rows within dup_eps of a real row (every row) */
        nn_d = malloc(sizeof(float) * (size_t)F.in.m.rows);
        nn_i = malloc(sizeof(int64_t) * (size_t)F.in.m.rows);
        if (!nn_d || !nn_i) {
            rc = cli_fail(o, EXIT_MACHINE, "out of memory");
            goto done;
        }
        lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
        ko.metric = o->metric;
        t0 = cli_now_ms();
        cli_progress_label("fake to real");
        st = lsc_knn(ctx, &F.in.m, &R.in.m, 1, &ko, nn_d, nn_i);
        cli_progress_done();
        t_mem = cli_now_ms() - t0;
        if (st != LSC_STATUS_OK) {
            rc = cli_lib_fail(o, ctx, st, o->fake);
            goto done;
        }
        for (int64_t j = 0; j < F.in.m.rows; j++) mem_rows += nn_d[j] <= o->dup_eps;
        mem_fraction = (double)mem_rows / (double)F.in.m.rows;
        ri.sfake = &F.s;
        ri.prdc = &prdc;
        ri.fake_mem_fraction = mem_fraction;
        /* the verdicts: every check against held-out real rows at matched sizes */
        lsc_assess_opts ao = LSC_ASSESS_OPTS_INIT;
        ao.splits = o->splits;
        ao.seed = o->seed;
        ao.prdc = &prdc; /* computed above: the verdicts' full-size figures */
        t0 = cli_now_ms();
        cli_progress_label("verdicts");
        st = lsc_assess(ctx, ref, &F.in.m, &ao, &verdicts);
        cli_progress_done();
        t_verdicts = cli_now_ms() - t0;
        if (st != LSC_STATUS_OK) {
            rc = cli_lib_fail(o, ctx, st, o->fake);
            goto done;
        }
    }
    nread = cli_readings(&ri, &o->th, readings, 16);
    double t_total = cli_now_ms() - t_start;

    if (o->json) {
        FILE *jf = !strcmp(o->json, "-") ? stdout : fopen(o->json, "w");
        if (!jf) {
            rc = cli_fail(o, EXIT_MACHINE, "%s: cannot create", o->json);
            goto done;
        }
        json_w w;
        jw_open(&w, jf);
        jw_obj(&w, NULL);
        cli_json_header(&w, ctx);
        if (verdicts) json_verdicts(&w, verdicts);
        jw_obj(&w, "inputs");
        cli_json_input(&w, "real", o->real, &R.in.m);
        if (o->fake) cli_json_input(&w, "fake", o->fake, &F.in.m);
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
        jw_int(&w, "spectrum_rows", neq);
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
        cli_json_spectrum(&w, "real", &R.s, R.sv, R.spec_m.rows, R.in.m.rows);
        if (o->fake) cli_json_spectrum(&w, "fake", &F.s, F.sv, F.spec_m.rows, F.in.m.rows);
        jw_end_obj(&w);
        if (R.have_all || F.have_all) { /* the subsetted set's figures on every row */
            jw_obj(&w, "spectrum_all_rows");
            if (R.have_all) cli_json_spectrum(&w, "real", &R.s_all, R.sv_all, R.in.m.rows, R.in.m.rows);
            if (F.have_all) cli_json_spectrum(&w, "fake", &F.s_all, F.sv_all, F.in.m.rows, F.in.m.rows);
            jw_end_obj(&w);
        }
        jw_obj(&w, "pairwise");
        cli_json_pairs(&w, "real", &R.p, R.hist, R.dups, 100);
        if (o->fake) cli_json_pairs(&w, "fake", &F.p, F.hist, F.dups, 100);
        jw_end_obj(&w);
        if (o->fake) {
            cli_json_prdc(&w, "prdc", &prdc);
            jw_obj(&w, "memorisation");
            jw_int(&w, "fake_rows_near_real", mem_rows);
            jw_num(&w, "fraction", mem_fraction);
            jw_int(&w, "fake_rows_in_near_duplicate_pairs", drows);
            jw_end_obj(&w);
        }
        cli_json_definitions(&w);
        jw_arr(&w, "readings");
        for (int i = 0; i < nread; i++) jw_str(&w, NULL, readings[i]);
        jw_end_arr(&w);
        jw_obj(&w, "timings_ms");
        jw_num(&w, "spectrum_real", R.t_spec);
        jw_num(&w, "pairs_real", R.t_pairs);
        if (o->fake) {
            jw_num(&w, "spectrum_fake", F.t_spec);
            jw_num(&w, "pairs_fake", F.t_pairs);
            jw_num(&w, "prdc", t_prdc);
            jw_num(&w, "memorisation", t_mem);
            jw_num(&w, "verdicts", t_verdicts);
        }
        jw_num(&w, "total", t_total);
        jw_end_obj(&w);
        jw_end_obj(&w);
        jw_close(&w);
        if (jf == stdout) {
            if (fflush(stdout)) rc = cli_fail(o, EXIT_MACHINE, "stdout: write failed");
        } else if (ferror(jf) | fclose(jf)) {
            rc = cli_fail(o, EXIT_MACHINE, "%s: write failed", o->json);
        }
        if (rc) goto done;
    }
    if (!o->json || strcmp(o->json, "-")) {
        printf("lsc %s report on %s\n", lsc_version(), lsc_ctx_device_name(ctx));
        printf("real: %s (%lld x %lld)\n", o->real, (long long)R.in.m.rows, (long long)R.in.m.cols);
        if (o->fake)
            printf("fake: %s (%lld x %lld)\n", o->fake, (long long)F.in.m.rows, (long long)F.in.m.cols);
        if (o->fake && R.in.m.rows != F.in.m.rows)
            printf("the spectra are compared at equal N = %lld: a seeded subset (seed %llu) of the larger set\n",
                   (long long)neq, (unsigned long long)o->seed);
        printf("\n");
        if (verdicts) print_verdicts(verdicts);
        if (o->fake) print_spectra(&R, &F);
        else cli_print_spectrum(stdout, "real", &R.s, R.spec_m.rows, R.in.m.rows);
        set_fig *sets[2] = {&R, &F};
        for (int i = 0; i < 2; i++)
            if (sets[i]->have_all) {
                printf("(%s on all %lld rows, for the record: effective_rank %.4f", i ? "fake" : "real",
                       (long long)sets[i]->in.m.rows, sets[i]->s_all.effective_rank);
                if (sets[i]->s_all.vendi_status == LSC_VENDI_OK) printf(", vendi_cosine %.4f", sets[i]->s_all.vendi_cosine);
                printf(")\n");
            }
        printf("\n");
        cli_print_pairs(stdout, "real", &R.p, o);
        if (o->fake) cli_print_pairs(stdout, "fake", &F.p, o);
        if (R.p.subset || (o->fake && F.p.subset))
            printf("(sets above --pairs-max-rows %lld use a seeded subset for the all-pairs figures; kNN and "
                   "PRDC use every row)\n",
                   (long long)o->pairs_max_rows);
        if (o->fake) {
            printf("\n");
            cli_print_prdc(stdout, &prdc);
            printf("  fake rows within %g of a real row: %lld of %lld\n", o->dup_eps, (long long)mem_rows,
                   (long long)F.in.m.rows);
        }
        const cli_thresholds *th = &o->th;
        printf("\nfixed-threshold checks (deprecated: they decide the readings below, not the verdicts;\n"
               "docs/METRICS.md section 6; every threshold is an option, see --help):\n");
        if (o->fake) {
            printf("  dimensional collapse  fake effective_rank %.4g < %g x real's %.4g (= %.4g)?  %s\n",
                   F.s.effective_rank, th->dim_collapse_ratio, R.s.effective_rank,
                   th->dim_collapse_ratio * R.s.effective_rank,
                   F.s.effective_rank < th->dim_collapse_ratio * R.s.effective_rank ? "yes" : "no");
            if (F.s.vendi_status == LSC_VENDI_OK && R.s.vendi_status == LSC_VENDI_OK)
                printf("  mode collapse         fake vendi_cosine %.4g < %g x real's %.4g (= %.4g)?  %s\n",
                       F.s.vendi_cosine, th->mode_collapse_ratio, R.s.vendi_cosine,
                       th->mode_collapse_ratio * R.s.vendi_cosine,
                       F.s.vendi_cosine < th->mode_collapse_ratio * R.s.vendi_cosine ? "yes" : "no");
            else
                printf("  mode collapse         vendi_cosine unavailable (an all-zero row): not checked\n");
            printf("  mode collapse         coverage %.3f < %g while precision %.3f >= %g?  %s\n", prdc.coverage,
                   th->coverage_min, prdc.precision, th->precision_high,
                   prdc.coverage < th->coverage_min && prdc.precision >= th->precision_high ? "yes" : "no");
            printf("  low fidelity          precision %.3f < %g?  %s\n", prdc.precision, th->precision_min,
                   prdc.precision < th->precision_min ? "yes" : "no");
            printf("  memorisation          fake rows in a near-duplicate pair (d <= %g): %s%.2f%% > %g%%?  %s\n",
                   o->dup_eps, ri.dup_lower_bound ? ">= " : "", 100.0 * ri.fake_dup_fraction,
                   100.0 * th->dup_fraction, ri.fake_dup_fraction > th->dup_fraction ? "yes" : "no");
            printf("  memorisation          fake rows within %g of a real row: %.2f%% > %g%%?  %s\n", o->dup_eps,
                   100.0 * mem_fraction, 100.0 * th->dup_fraction, mem_fraction > th->dup_fraction ? "yes" : "no");
        } else {
            printf("  posterior collapse    active_units %lld < %g x D (= %.1f)?  %s   (meaningful for VAE "
                   "posterior means)\n",
                   (long long)R.s.active_units, th->active_ratio, th->active_ratio * (double)R.in.m.cols,
                   (double)R.s.active_units < th->active_ratio * (double)R.in.m.cols ? "yes" : "no");
            printf("  duplicates            rows in a near-duplicate pair (d <= %g): %s%.2f%% > %g%%?  %s\n",
                   o->dup_eps, ri.dup_lower_bound ? ">= " : "", 100.0 * ri.fake_dup_fraction,
                   100.0 * th->dup_fraction, ri.fake_dup_fraction > th->dup_fraction ? "yes" : "no");
        }
        printf("\nreadings:\n");
        for (int i = 0; i < nread; i++) printf("  %s\n", readings[i]);
        printf("\n(%.0f ms in all)\n", t_total);
    }
    if (!rc) rc = fail_on_code(o, verdicts);
done:
    lsc_assessment_destroy(verdicts);
    for (int i = 0; i < nread; i++) free(readings[i]);
    free(nn_d);
    free(nn_i);
    lsc_reference_destroy(ref);
    lsc_ctx_destroy(ctx);
    set_free(&R);
    set_free(&F);
    return rc;
}
