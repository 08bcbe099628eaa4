/* The verdict engine (docs/METRICS.md section 8): each check compares a statistic of the
 * generated rows with the same statistic of held-out real rows at the very same sizes, so no
 * threshold has to know how the statistic moves with N, M, k or D. It is written on top of the
 * public operations, so it runs on whichever backend the context has. */
#include "validate.h"
#include "../common/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Significance: one-sided normal quantiles at 99% and 99.9%, each divided by the six checks
 * (Bonferroni), corrected for the S - 1 degrees of freedom of the spread (Cornish-Fisher). */
#define Z_BORDER 2.9351994688666982 /* 1 - 0.01 / 6 */
#define Z_COLLAPSE 3.5879146722879613 /* 1 - 0.001 / 6 */
#define Z_INTERVAL 2.5758293035489004 /* two-sided 99% */

/* Effect lines at k = 5 (relative loss, or excess fraction for memorisation and inactive
 * units), each with the reason it sits where it does in docs/METRICS.md section 8. */
typedef struct {
    double borderline, collapse;
} lines;
static const lines kLines[LSC_CHECK_COUNT] = {
    {0.05, 0.15}, /* mode collapse: coverage */
    {0.10, 0.25}, /* low fidelity: precision */
    {0.10, 0.25}, /* diversity loss: recall (and Vendi) */
    {0.03, 0.06}, /* dimensional collapse: effective rank */
    {0.01, 0.03}, /* memorisation: excess fraction of copies */
    {0.10, 0.25}, /* posterior collapse: excess fraction of inactive units */
};

struct lsc_assessment {
    lsc_verdict v[LSC_CHECK_COUNT];
};

const char *lsc_check_name(lsc_check check)
{
    static const char *const names[LSC_CHECK_COUNT] = {
        "mode_collapse", "low_fidelity", "diversity_loss", "dimensional_collapse",
        "memorisation", "posterior_collapse"};
    return (int)check >= 0 && check < LSC_CHECK_COUNT ? names[check] : "unknown";
}

const char *lsc_level_name(lsc_level level)
{
    static const char *const names[] = {"ok", "borderline", "collapse", "not_assessed"};
    return (int)level >= 0 && level <= LSC_LEVEL_NOT_ASSESSED ? names[level] : "unknown";
}

/* Student t quantile with `dof` degrees of freedom from the normal one z (Cornish-Fisher, three
 * terms; within 3% of the exact value from 7 degrees of freedom at these tails). */
static double t_quantile(double z, double dof)
{
    const double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
    return z + (z3 + z) / (4 * dof) + (5 * z5 + 16 * z3 + 3 * z) / (96 * dof * dof) +
           (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * dof * dof * dof);
}

/* ---- the data the checks share ------------------------------------------------------------- */

typedef struct {
    int64_t d, k, S, m, na;
    float *a;              /* the reference's first half, na x d, centred on its mean (every
                              distance is translation-invariant; centring keeps digits) */
    float *g;              /* m generated rows, centred on the reference mean */
    float *h;              /* one held-out subset: m real rows of the second half, centred,
                              gathered in turn (S x m x d floats at once would be 4 x the
                              reference at m = N/4) */
    int64_t *pick;         /* its rows */
    int64_t *half_b;       /* the second half's rows, in permutation order */
    int64_t nb;
    uint64_t seed;
    const lsc_reference *ref;
    double *mean;          /* the reference's column mean */
    double median_unit_var; /* median column variance of the reference */
    double median_nn_a;    /* median nearest-neighbour distance within the first half */
    double inactive;       /* lsc_assess_opts.inactive_factor */
    double fpc;            /* factor on the held-out spread for overlapping subsets */
    int64_t J;             /* disjoint generated subsets of m rows averaged (1 to 4) */
    const lsc_matrix *fake;
    lsc_reference *ref_a;
} shared;

static void gather(const lsc_matrix *x, const int64_t *rows, int64_t n, const double *centre,
                   float *out)
{
    const size_t es = lsc_dtype_size(x->dtype);
    for (int64_t t = 0; t < n; t++) {
        const char *src = (const char *)x->data + (size_t)(rows[t] * x->ld) * es;
        for (int64_t c = 0; c < x->cols; c++) {
            const double v = lsc_load_f32(src, (int)x->dtype, c);
            out[t * x->cols + c] = (float)(centre ? v - centre[c] : v);
        }
    }
}

/* lower median, as everywhere in lsc */
static double median(double *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof *v, lsc_cmp_f64);
    return v[(n - 1) / 2];
}

static void shared_free(shared *s)
{
    free(s->a);
    free(s->g);
    free(s->h);
    free(s->pick);
    free(s->half_b);
    free(s->mean);
    lsc_reference_destroy(s->ref_a);
}

/* Column mean and median column variance of the whole reference (float64, two passes). */
static lsc_status reference_moments(lsc_ctx *ctx, const lsc_reference *ref, shared *s)
{
    const int64_t n = ref->rows, d = ref->cols;
    double *var = (double *)lsc_calloc(ctx, (size_t)d, sizeof *var, "assess moments");
    s->mean = (double *)lsc_calloc(ctx, (size_t)d, sizeof *s->mean, "assess moments");
    if (!var || !s->mean) {
        free(var);
        return LSC_STATUS_OUT_OF_MEMORY;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) s->mean[c] += ref->data[i * d + c];
    for (int64_t c = 0; c < d; c++) s->mean[c] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) {
            const double e = ref->data[i * d + c] - s->mean[c];
            var[c] += e * e;
        }
    for (int64_t c = 0; c < d; c++) var[c] /= (double)(n - 1);
    s->median_unit_var = median(var, d);
    free(var);
    return LSC_STATUS_OK;
}

static lsc_status shared_make(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                              const lsc_assess_opts *o, shared *s)
{
    memset(s, 0, sizeof *s);
    const int64_t n = ref->rows, d = ref->cols, M = fake->rows;
    s->d = d;
    s->k = ref->k;
    s->S = o->splits;
    s->inactive = o->inactive_factor;
    s->na = n / 2;
    const int64_t nb = n - s->na;
    /* at most half of the second half, so the held-out subsets differ from one another */
    s->m = M < nb / 2 ? M : nb / 2;
    /* a larger generated set is judged as the mean over up to 4 disjoint subsets of m rows:
     * its statistic then varies less than one held-out subset's, by 1 / J */
    s->J = M / s->m < 4 ? M / s->m : 4;
    s->fake = fake;
    /* overlapping subsets of a finite half vary less than independent draws by 1 - m / nb
     * (the finite population correction); disjoint ones are independent draws */
    s->fpc = lsc_mul_i64(s->S, s->m) <= nb ? 1.0 : 1.0 / sqrt(1.0 - (double)s->m / (double)nb);
    size_t bytes;
    LSC_TRY(lsc_bytes(ctx, lsc_mul_i64(2 * s->m + s->na, d), sizeof(float), &bytes,
                      "assess rows"));
    s->nb = nb;
    s->seed = o->seed;
    s->ref = ref;
    LSC_TRY(reference_moments(ctx, ref, s));
    int64_t *rows = (int64_t *)lsc_malloc(ctx, (size_t)(n > M ? n : M) * sizeof *rows, "rows");
    s->a = (float *)lsc_malloc(ctx, (size_t)(s->na * d) * sizeof(float), "assess rows");
    s->g = (float *)lsc_malloc(ctx, (size_t)(s->m * d) * sizeof(float), "assess rows");
    s->h = (float *)lsc_malloc(ctx, (size_t)(s->m * d) * sizeof(float), "assess rows");
    s->pick = (int64_t *)lsc_malloc(ctx, (size_t)s->m * sizeof *s->pick, "rows");
    s->half_b = (int64_t *)lsc_malloc(ctx, (size_t)nb * sizeof *s->half_b, "rows");
    lsc_status st = (rows && s->a && s->g && s->h && s->pick && s->half_b)
                        ? LSC_STATUS_OK
                        : LSC_STATUS_OUT_OF_MEMORY;
    lsc_matrix rm = lsc_matrix_f32(ref->data, n, d);
    if (st == LSC_STATUS_OK) st = lsc_sample_rows(ctx, o->seed, n, 0, s->na, rows);
    if (st == LSC_STATUS_OK) gather(&rm, rows, s->na, s->mean, s->a);
    if (st == LSC_STATUS_OK) st = lsc_sample_rows(ctx, o->seed, n, s->na, nb, s->half_b);
    free(rows);
    return st;
}

/* Gathers held-out subset t into s->h: disjoint positions of the second half while the S subsets
 * fit, else the subset of seed + 2 + t. */
static lsc_status gather_held_out(lsc_ctx *ctx, shared *s, int64_t t)
{
    const int disjoint = lsc_mul_i64(s->S, s->m) <= s->nb;
    LSC_TRY(lsc_sample_rows(ctx, disjoint ? s->seed + 1 : s->seed + 2 + (uint64_t)t, s->nb,
                            disjoint ? t * s->m : 0, s->m, s->pick));
    for (int64_t i = 0; i < s->m; i++) s->pick[i] = s->half_b[s->pick[i]];
    lsc_matrix rm = lsc_matrix_f32(s->ref->data, s->ref->rows, s->d);
    gather(&rm, s->pick, s->m, s->mean, s->h);
    return LSC_STATUS_OK;
}

/* Gathers generated subset j into s->g: positions j m .. (j + 1) m - 1 of the generated set's
 * permutation (all of it when M = m). */
static lsc_status gather_generated(lsc_ctx *ctx, shared *s, int64_t j)
{
    LSC_TRY(lsc_sample_rows(ctx, s->seed, s->fake->rows, j * s->m, s->m, s->pick));
    gather(s->fake, s->pick, s->m, s->mean, s->g);
    return LSC_STATUS_OK;
}

/* ---- judging ------------------------------------------------------------------------------- */

/* Fills the numbers of a verdict and its level from the matched statistic g and the S held-out
 * values h. `loss`: the harm is a smaller value (effect = 1 - g / baseline); else a larger one
 * (effect = g - baseline, a fraction). `floor_sd` bounds the spread from below. Returns 1 when
 * these sizes cannot resolve the collapse line (the level is then NOT_ASSESSED). */
static int judge(lsc_verdict *v, double g, const double *h, int64_t S, int loss, double floor_sd,
                 const shared *sh)
{
    const double fpc = sh->fpc;
    double mean = 0.0, ss = 0.0;
    for (int64_t t = 0; t < S; t++) mean += h[t];
    mean /= (double)S;
    for (int64_t t = 0; t < S; t++) ss += (h[t] - mean) * (h[t] - mean);
    double sd = fpc * sqrt(ss / (double)(S - 1));
    if (sd < floor_sd) sd = floor_sd;
    /* the spread of a difference: g is a mean of J generated subsets, the baseline of S */
    const double pred = sd * sqrt(1.0 / (double)sh->J + 1.0 / (double)S);
    const double dof = (double)(S - 1);
    const double tb = t_quantile(Z_BORDER, dof), tc = t_quantile(Z_COLLAPSE, dof);
    const double ti = t_quantile(Z_INTERVAL, dof);
    v->matched = g;
    v->baseline = mean;
    v->spread = sd;
    v->interval_lo = mean - ti * pred;
    v->interval_hi = mean + ti * pred;
    const double departure = loss ? mean - g : g - mean;
    v->score = pred > 0 ? departure / pred : (departure > 0 ? INFINITY : 0.0);
    if (loss)
        v->effect = mean > 0 ? departure / mean : 0.0;
    else
        v->effect = departure;
    /* the smallest effect these sizes can show at the collapse level */
    const double detectable = loss ? (mean > 0 ? tc * pred / mean : INFINITY) : tc * pred;
    if (!(detectable <= v->collapse_line)) {
        v->level = LSC_LEVEL_NOT_ASSESSED;
        return 1;
    }
    if (v->score >= tc && v->effect >= v->collapse_line)
        v->level = LSC_LEVEL_COLLAPSE;
    else if ((v->score >= tb && v->effect >= v->borderline_line) ||
             v->effect >= v->collapse_line)
        v->level = LSC_LEVEL_BORDERLINE;
    else
        v->level = LSC_LEVEL_OK;
    return 0;
}

static void verdict_init(lsc_verdict *v, lsc_check c, const char *stat, const char *method)
{
    lsc_verdict z = LSC_VERDICT_INIT;
    *v = z;
    v->check = c;
    v->statistic = stat;
    v->method = method;
    v->borderline_line = kLines[c].borderline;
    v->collapse_line = kLines[c].collapse;
}

static void not_assessed(lsc_verdict *v, const char *why)
{
    v->level = LSC_LEVEL_NOT_ASSESSED;
    snprintf(v->why, sizeof v->why, "%s", why);
}

/* ---- the statistics ------------------------------------------------------------------------- */

typedef struct {
    double p, r, d, c;
} prdc4;

static lsc_status prdc_of(lsc_ctx *ctx, const lsc_reference *ref, const float *x, int64_t n,
                          int64_t d, prdc4 *out)
{
    lsc_matrix m = lsc_matrix_f32(x, n, d);
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    LSC_TRY(lsc_prdc(ctx, ref, &m, &r));
    out->p = r.precision;
    out->r = r.recall;
    out->d = r.density;
    out->c = r.coverage;
    return LSC_STATUS_OK;
}

/* Fraction of the n rows of x whose nearest row of the first half is nearer than `radius`, and
 * the fraction of exact copies (distance 0). */
static lsc_status copies_of(lsc_ctx *ctx, const shared *s, const float *x, int64_t n,
                            double radius, double *near, double *exact)
{
    float *dist = (float *)lsc_malloc(ctx, (size_t)n * sizeof *dist, "assess distances");
    int64_t *idx = (int64_t *)lsc_malloc(ctx, (size_t)n * sizeof *idx, "assess distances");
    lsc_status st = (dist && idx) ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY;
    lsc_matrix q = lsc_matrix_f32(x, n, s->d), b = lsc_matrix_f32(s->a, s->na, s->d);
    lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
    if (st == LSC_STATUS_OK) st = lsc_knn(ctx, &q, &b, 1, &ko, dist, idx);
    if (st == LSC_STATUS_OK) {
        int64_t cn = 0, ce = 0;
        for (int64_t i = 0; i < n; i++) {
            cn += dist[i] < radius;
            ce += dist[i] == 0.0f;
        }
        *near = (double)cn / (double)n;
        *exact = (double)ce / (double)n;
    }
    free(dist);
    free(idx);
    return st;
}

/* Effective rank, Vendi of the (centred) rows and the fraction of inactive units. */
static lsc_status spectrum_of(lsc_ctx *ctx, const shared *s, const float *x, int64_t n,
                              double *erank, double *vendi, int *vendi_ok, double *inactive)
{
    double *cv = (double *)lsc_malloc(ctx, (size_t)s->d * sizeof *cv, "assess variances");
    if (!cv) return LSC_STATUS_OUT_OF_MEMORY;
    lsc_matrix m = lsc_matrix_f32(x, n, s->d);
    lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
    lsc_status st = lsc_spectrum(ctx, &m, NULL, &r, NULL, cv);
    if (st == LSC_STATUS_OK) {
        *erank = r.effective_rank;
        *vendi = r.vendi_cosine;
        *vendi_ok = r.vendi_status == LSC_VENDI_OK;
        int64_t dead = 0;
        for (int64_t c = 0; c < s->d; c++) dead += cv[c] < s->median_unit_var * s->inactive;
        *inactive = (double)dead / (double)s->d;
    }
    free(cv);
    return st;
}

/* ---- the checks ----------------------------------------------------------------------------- */

static const char kMethodPrdc[] = "held-out real subsets of m rows against the reference's first "
                                  "half, the same sizes as the generated rows";

static lsc_status run_checks(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                             const lsc_assess_opts *o, lsc_assessment *out)
{
    shared s;
    lsc_status st = shared_make(ctx, ref, fake, o, &s);
    const int64_t S = s.S, m = s.m, d = s.d;
    double *h = NULL;
    prdc4 full = {0, 0, 0, 0}, g = {0, 0, 0, 0}, *hp = NULL;
    lsc_verdict *v = out->v;
    verdict_init(&v[LSC_CHECK_MODE_COLLAPSE], LSC_CHECK_MODE_COLLAPSE, "coverage", kMethodPrdc);
    verdict_init(&v[LSC_CHECK_LOW_FIDELITY], LSC_CHECK_LOW_FIDELITY, "precision", kMethodPrdc);
    verdict_init(&v[LSC_CHECK_DIVERSITY_LOSS], LSC_CHECK_DIVERSITY_LOSS, "recall", kMethodPrdc);
    verdict_init(&v[LSC_CHECK_DIMENSIONAL_COLLAPSE], LSC_CHECK_DIMENSIONAL_COLLAPSE,
                 "effective_rank", "held-out real subsets of m rows, the same size");
    verdict_init(&v[LSC_CHECK_MEMORISATION], LSC_CHECK_MEMORISATION, "copy_fraction",
                 "held-out real subsets of m rows against the reference's first half");
    verdict_init(&v[LSC_CHECK_POSTERIOR_COLLAPSE], LSC_CHECK_POSTERIOR_COLLAPSE,
                 "inactive_fraction", "held-out real subsets of m rows, the same size");
    if (st == LSC_STATUS_OK) {
        h = (double *)lsc_calloc(ctx, (size_t)(8 * S), sizeof *h, "assess statistics");
        hp = (prdc4 *)lsc_calloc(ctx, (size_t)S, sizeof *hp, "assess statistics");
        if (!h || !hp) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    /* the user's full-size figures */
    if (st == LSC_STATUS_OK && s.k < fake->rows) {
        lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
        if (o->prdc)
            r = *o->prdc; /* checked on entry to describe these sets */
        else
            st = lsc_prdc(ctx, ref, fake, &r);
        full.p = r.precision;
        full.r = r.recall;
        full.d = r.density;
        full.c = r.coverage;
    }
    /* the first half as a reference of its own, and its nearest-neighbour distances */
    const int prdc_ok = s.k < m && s.k + 1 < s.na;
    lsc_matrix am = lsc_matrix_f32(s.a, s.na, d);
    if (st == LSC_STATUS_OK && prdc_ok) {
        lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
        ro.metric = ref->metric;
        ro.comparison = ref->comparison;
        ro.borrow_rows = 1;
        st = lsc_reference_create(ctx, &am, s.k, &ro, &s.ref_a);
    }
    if (st == LSC_STATUS_OK) {
        float *dist = (float *)lsc_malloc(ctx, (size_t)s.na * sizeof *dist, "assess distances");
        int64_t *idx = (int64_t *)lsc_malloc(ctx, (size_t)s.na * sizeof *idx, "assess distances");
        double *nn = (double *)lsc_malloc(ctx, (size_t)s.na * sizeof *nn, "assess distances");
        lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
        ko.exclude_self = 1;
        st = (dist && idx && nn) ? lsc_knn(ctx, &am, NULL, 1, &ko, dist, idx)
                                 : LSC_STATUS_OUT_OF_MEMORY;
        if (st == LSC_STATUS_OK) {
            for (int64_t i = 0; i < s.na; i++) nn[i] = dist[i];
            s.median_nn_a = median(nn, s.na);
        }
        free(dist);
        free(idx);
        free(nn);
    }
    /* the generated rows and each held-out subset, the same statistics */
    double g_near = 0, g_exact = 0, g_erank = 0, g_vendi = 0, g_inactive = 0;
    int g_vendi_ok = 0, vendi_ok = 1;
    int small[LSC_CHECK_COUNT] = {0};
    double *h_near = h, *h_erank = h + S, *h_vendi = h + 2 * S, *h_inactive = h + 3 * S;
    double *h_exact = h + 4 * S, *tmp = h + 5 * S;
    const double radius = o->memorisation_factor * s.median_nn_a;
    g_vendi_ok = 1;
    for (int64_t j = 0; st == LSC_STATUS_OK && j < s.J; j++) {
        prdc4 gj = {0, 0, 0, 0};
        double nj = 0, ej = 0, rj = 0, vj = 0, ij = 0;
        int okj = 0;
        st = gather_generated(ctx, &s, j);
        if (st == LSC_STATUS_OK && prdc_ok) st = prdc_of(ctx, s.ref_a, s.g, m, d, &gj);
        if (st == LSC_STATUS_OK) st = copies_of(ctx, &s, s.g, m, radius, &nj, &ej);
        if (st == LSC_STATUS_OK) st = spectrum_of(ctx, &s, s.g, m, &rj, &vj, &okj, &ij);
        const double w = 1.0 / (double)s.J;
        g.p += w * gj.p;
        g.r += w * gj.r;
        g.d += w * gj.d;
        g.c += w * gj.c;
        g_near += w * nj;
        g_exact += w * ej;
        g_erank += w * rj;
        g_vendi += w * vj;
        g_inactive += w * ij;
        g_vendi_ok &= okj;
    }
    for (int64_t t = 0; st == LSC_STATUS_OK && t < S; t++) {
        st = gather_held_out(ctx, &s, t);
        if (st != LSC_STATUS_OK) break;
        const float *x = s.h;
        int ok = 0;
        if (prdc_ok) st = prdc_of(ctx, s.ref_a, x, m, d, &hp[t]);
        if (st == LSC_STATUS_OK) st = copies_of(ctx, &s, x, m, radius, &h_near[t], &h_exact[t]);
        if (st == LSC_STATUS_OK)
            st = spectrum_of(ctx, &s, x, m, &h_erank[t], &h_vendi[t], &ok, &h_inactive[t]);
        vendi_ok &= ok;
    }
    if (st == LSC_STATUS_OK) {
        const double mf = (double)m;
        char buf[200];
        /* PRDC-based checks */
        if (!prdc_ok) {
            snprintf(buf, sizeof buf, "k=%lld needs more than %lld generated rows and %lld "
                     "reference rows per half; have %lld and %lld", (long long)s.k,
                     (long long)s.k, (long long)s.k + 1, (long long)m, (long long)s.na);
            not_assessed(&v[LSC_CHECK_MODE_COLLAPSE], buf);
            not_assessed(&v[LSC_CHECK_LOW_FIDELITY], buf);
            not_assessed(&v[LSC_CHECK_DIVERSITY_LOSS], buf);
        } else {
            for (int64_t t = 0; t < S; t++) tmp[t] = hp[t].c;
            /* a proportion of na rows: its spread cannot be below one row's worth */
            small[LSC_CHECK_MODE_COLLAPSE] =
                judge(&v[LSC_CHECK_MODE_COLLAPSE], g.c, tmp, S, 1, 0.5 / (double)s.na, &s);
            v[LSC_CHECK_MODE_COLLAPSE].value = full.c;
            for (int64_t t = 0; t < S; t++) tmp[t] = hp[t].p;
            small[LSC_CHECK_LOW_FIDELITY] =
                judge(&v[LSC_CHECK_LOW_FIDELITY], g.p, tmp, S, 1, 0.5 / mf, &s);
            v[LSC_CHECK_LOW_FIDELITY].value = full.p;
            for (int64_t t = 0; t < S; t++) tmp[t] = hp[t].r;
            small[LSC_CHECK_DIVERSITY_LOSS] =
                judge(&v[LSC_CHECK_DIVERSITY_LOSS], g.r, tmp, S, 1, 0.5 / (double)s.na, &s);
            v[LSC_CHECK_DIVERSITY_LOSS].value = full.r;
            double hd = 0;
            for (int64_t t = 0; t < S; t++) hd += hp[t].d;
            hd /= (double)S;
            const double density_ratio = hd > 0 ? g.d / hd : 1.0;
            lsc_verdict *mc = &v[LSC_CHECK_MODE_COLLAPSE];
            if (density_ratio < 0.5 && mc->level == LSC_LEVEL_COLLAPSE)
                mc->level = LSC_LEVEL_BORDERLINE;
            snprintf(mc->why, sizeof mc->why,
                     "coverage %.3f where held-out real rows of the same size give %.3f +- %.3f "
                     "(%.1f%% lower; recall %.3f vs %.3f)%s",
                     g.c, mc->baseline, mc->spread, 100.0 * mc->effect, g.r,
                     v[LSC_CHECK_DIVERSITY_LOSS].baseline,
                     density_ratio < 0.5 ? "; explained by low fidelity (density ratio below "
                                           "0.5), so at most borderline"
                                         : "");
            lsc_verdict *lf = &v[LSC_CHECK_LOW_FIDELITY];
            snprintf(lf->why, sizeof lf->why,
                     "precision %.3f where held-out real rows give %.3f +- %.3f (%.1f%% lower); "
                     "density %.3f vs %.3f",
                     g.p, lf->baseline, lf->spread, 100.0 * lf->effect, g.d, hd);
        }
        /* zero radii hold nothing under the strict comparison: say what to do about it */
        if (prdc_ok && ref->zero_radii > 0 && ref->comparison == LSC_COMPARISON_STRICT) {
            for (int c = LSC_CHECK_MODE_COLLAPSE; c <= LSC_CHECK_LOW_FIDELITY; c++) {
                lsc_verdict *x = &v[c];
                const size_t used = strlen(x->why);
                snprintf(x->why + used, sizeof x->why - used,
                         "; %lld reference radii are 0 (k or more exact duplicates) and hold "
                         "nothing under the strict comparison: the inclusive one (--inclusive) "
                         "counts them", (long long)ref->zero_radii);
            }
        }
        /* diversity loss: recall, and Vendi of the centred rows when both are available */
        lsc_verdict *dl = &v[LSC_CHECK_DIVERSITY_LOSS];
        if (vendi_ok && g_vendi_ok) {
            lsc_verdict vv;
            verdict_init(&vv, LSC_CHECK_DIVERSITY_LOSS, "vendi_centred", dl->method);
            vv.borderline_line = 0.15;
            vv.collapse_line = 0.30;
            const int vsmall = judge(&vv, g_vendi, h_vendi, S, 1, 1e-9, &s);
            vv.value = g_vendi;
            if (!prdc_ok || (vv.level != LSC_LEVEL_NOT_ASSESSED &&
                             (dl->level == LSC_LEVEL_NOT_ASSESSED || vv.level > dl->level))) {
                *dl = vv;
                small[LSC_CHECK_DIVERSITY_LOSS] = vsmall;
                snprintf(dl->why, sizeof dl->why,
                         "Vendi of the rows centred on the reference mean %.3f where held-out "
                         "real rows give %.3f +- %.3f (%.1f%% lower)",
                         g_vendi, vv.baseline, vv.spread, 100.0 * vv.effect);
            }
        }
        if (dl->why[0] == '\0')
            snprintf(dl->why, sizeof dl->why,
                     "recall %.3f where held-out real rows give %.3f +- %.3f (%.1f%% lower)",
                     dl->matched, dl->baseline, dl->spread, 100.0 * dl->effect);
        /* dimensional collapse */
        lsc_verdict *dc = &v[LSC_CHECK_DIMENSIONAL_COLLAPSE];
        small[LSC_CHECK_DIMENSIONAL_COLLAPSE] = judge(dc, g_erank, h_erank, S, 1, 1e-9, &s);
        dc->value = g_erank;
        snprintf(dc->why, sizeof dc->why,
                 "effective rank %.3f where held-out real rows give %.3f +- %.3f (%.1f%% lower)",
                 g_erank, dc->baseline, dc->spread, 100.0 * dc->effect);
        /* memorisation of the reference: near copies beyond what held-out rows show */
        lsc_verdict *me = &v[LSC_CHECK_MEMORISATION];
        double pm = 0;
        for (int64_t t = 0; t < S; t++) pm += h_near[t];
        pm /= (double)S;
        const double pfloor = pm > 1.0 / mf ? pm : 1.0 / mf;
        small[LSC_CHECK_MEMORISATION] =
            judge(me, g_near, h_near, S, 0, sqrt(pfloor * (1.0 - pfloor) / mf), &s);
        me->value = g_near;
        double ex = 0;
        for (int64_t t = 0; t < S; t++) ex += h_exact[t];
        snprintf(me->why, sizeof me->why,
                 "%.2f%% of the generated rows lie within %.3g (%.2f x the median nearest-"
                 "neighbour distance) of a reference row, held-out real rows %.2f%% +- %.2f%%; "
                 "exact copies %.2f%% vs %.2f%%. This is memorisation of the reference set; "
                 "memorisation of a training set is not assessed without it",
                 100.0 * g_near, radius, o->memorisation_factor, 100.0 * me->baseline,
                 100.0 * me->spread, 100.0 * g_exact, 100.0 * ex / (double)S);
        if (!(s.median_nn_a > 0))
            not_assessed(me, "the reference's median nearest-neighbour distance is 0 (more "
                             "than half its rows are exact duplicates): copies cannot be told");
        /* posterior collapse: units without variance, beyond the held-out rows' share */
        lsc_verdict *pc = &v[LSC_CHECK_POSTERIOR_COLLAPSE];
        small[LSC_CHECK_POSTERIOR_COLLAPSE] =
            judge(pc, g_inactive, h_inactive, S, 0, 0.5 / (double)d, &s);
        pc->value = g_inactive;
        snprintf(pc->why, sizeof pc->why,
                 "%.0f of %lld units (%.1f%%) have a variance below %.3g x the reference's "
                 "median unit variance, held-out real rows %.1f%%%s",
                 g_inactive * (double)d, (long long)d, 100.0 * g_inactive, o->inactive_factor,
                 100.0 * pc->baseline,
                 g_inactive - pc->baseline >= 0.9 ? " (total collapse)"
                 : pc->effect >= pc->collapse_line ? " (partial collapse)" : "");
        if (!(s.median_unit_var > 0))
            not_assessed(pc, "the reference's median unit variance is 0: no unit can be judged");
        if (v[LSC_CHECK_DIMENSIONAL_COLLAPSE].baseline == 0)
            not_assessed(dc, "the held-out real rows are all identical: no rank to compare");
        /* say what not_assessed means where judge() decided it */
        for (int c = 0; c < LSC_CHECK_COUNT; c++) {
            lsc_verdict *x = &v[c];
            if (x->level != LSC_LEVEL_NOT_ASSESSED || !small[c]) continue;
            char was[sizeof x->why];
            snprintf(was, sizeof was, "%s", x->why);
            snprintf(x->why, sizeof x->why,
                     "not assessed: at %lld generated rows the smallest effect detectable at the "
                     "collapse level exceeds the collapse line %.3g; %.250s",
                     (long long)m, x->collapse_line, was);
        }
    }
    free(h);
    free(hp);
    shared_free(&s);
    return st;
}

lsc_status lsc_assess(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                      const lsc_assess_opts *opts, lsc_assessment **out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, ref, LSC_STATUS_INVALID_ARGUMENT, "ref is NULL");
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
    if (opts)
        LSC_TRY(LSC_READ_OPTS(ctx, &o, opts, ASSESS_OPTS, "assess opts", "LSC_ASSESS_OPTS_INIT"));
    LSC_CHECK(ctx, o.splits >= 4 && o.splits <= 64, LSC_STATUS_INVALID_ARGUMENT,
              "assess opts: splits is %lld, expected 4 to 64", (long long)o.splits);
    LSC_CHECK(ctx, o.memorisation_factor > 0 && o.memorisation_factor < 1e300,
              LSC_STATUS_INVALID_ARGUMENT,
              "assess opts: memorisation_factor %g must be finite and > 0", o.memorisation_factor);
    LSC_CHECK(ctx, o.inactive_factor > 0 && o.inactive_factor < 1e300, LSC_STATUS_INVALID_ARGUMENT,
              "assess opts: inactive_factor %g must be finite and > 0", o.inactive_factor);
    LSC_TRY(lsc_check_matrix(ctx, fake, "fake", 2));
    LSC_CHECK(ctx, fake->memory == LSC_MEMORY_HOST, LSC_STATUS_NOT_SUPPORTED,
              "fake: lsc_assess reads host memory (copy device rows to the host first)");
    LSC_CHECK(ctx, fake->cols == ref->cols, LSC_STATUS_INVALID_ARGUMENT,
              "fake has %lld cols, the reference has %lld", (long long)fake->cols,
              (long long)ref->cols);
    LSC_CHECK(ctx, ref->rows >= 8, LSC_STATUS_INVALID_ARGUMENT,
              "the reference has %lld rows; its halves need at least 4 each", (long long)ref->rows);
    if (o.prdc) {
        LSC_TRY(LSC_CHECK_RESULT(ctx, o.prdc, PRDC_RESULT, "assess opts: prdc",
                                 "LSC_PRDC_RESULT_INIT"));
        LSC_CHECK(ctx, o.prdc->size >= sizeof *o.prdc && o.prdc->k == ref->k &&
                           o.prdc->real_rows == ref->rows && o.prdc->fake_rows == fake->rows &&
                           o.prdc->metric == ref->metric && o.prdc->comparison == ref->comparison,
                  LSC_STATUS_INVALID_ARGUMENT,
                  "assess opts: prdc describes k=%lld, %lld real and %lld fake rows, not this "
                  "reference (k=%lld, %lld rows) and fake set (%lld rows)",
                  (long long)o.prdc->k, (long long)o.prdc->real_rows,
                  (long long)o.prdc->fake_rows, (long long)ref->k, (long long)ref->rows,
                  (long long)fake->rows);
    }
    LSC_TRY(lsc_check_values(ctx, fake, "fake", ref->metric == LSC_METRIC_COSINE));
    lsc_assessment *a = (lsc_assessment *)lsc_calloc(ctx, 1, sizeof *a, "assessment");
    if (!a) return LSC_STATUS_OUT_OF_MEMORY;
    /* the calls below replace the context's last error: keep the first failure's message */
    lsc_status st = run_checks(ctx, ref, fake, &o, a);
    if (st != LSC_STATUS_OK) {
        free(a);
        return st;
    }
    *out = a;
    return LSC_STATUS_OK;
}

lsc_status lsc_assessment_verdict(const lsc_assessment *a, lsc_check check, lsc_verdict *out)
{
    if (!a || !out || (int)check < 0 || check >= LSC_CHECK_COUNT)
        return LSC_STATUS_INVALID_ARGUMENT;
    lsc_verdict v = a->v[check];
    v.size = sizeof v;
    return LSC_STORE_RESULT(out, &v, VERDICT) ? LSC_STATUS_OK : LSC_STATUS_INVALID_ARGUMENT;
}

lsc_level lsc_assessment_level(const lsc_assessment *a)
{
    if (!a) return LSC_LEVEL_NOT_ASSESSED;
    lsc_level worst = LSC_LEVEL_OK;
    for (int c = 0; c < LSC_CHECK_COUNT; c++)
        if (a->v[c].level != LSC_LEVEL_NOT_ASSESSED && a->v[c].level > worst) worst = a->v[c].level;
    return worst;
}

void lsc_assessment_destroy(lsc_assessment *a) { free(a); }
