/* The verdict engine (docs/METRICS.md section 8): each check compares a statistic of the
 * generated rows with the same statistic of held-out real rows at the very same sizes, so no
 * threshold has to know how the statistic moves with N, M, k or D. It is written on top of the
 * public operations, so it runs on whichever backend the context has.
 *
 * The same engine judges sets sharded over ranks (lsc_assess_sharded): the few steps that touch
 * the reference, its judging half or the generated set as a whole have a sharded form beside the
 * one-process one (each marked "sharded:"), and everything else - the subsets of at most
 * MAX_JUDGED rows, their spectra, every statistic and decision - runs unchanged on every rank,
 * on the same subsets fetched by global index, so every rank reaches the same verdicts. */
#include "validate.h"
#include "sharded.h"
#include "../common/distance_rules.h"
#include "../common/prdc_figures.h"
#include "../common/sampler.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Significance: one-sided normal quantiles at 99% and 99.9%, each divided by the six checks
 * (Bonferroni), corrected for the S - 1 degrees of freedom of the spread (Cornish-Fisher). */
#define Z_BORDER 2.9351994688666982   /* 1 - 0.01 / 6 */
#define Z_COLLAPSE 3.5879146722879613 /* 1 - 0.001 / 6 */
#define Z_INTERVAL 2.5758293035489004 /* two-sided 99% */

/* Effect lines at k = 5 (relative loss, or excess fraction for memorisation and inactive
 * units), each with the reason it sits where it does in docs/METRICS.md section 8. */
typedef struct {
    double borderline, collapse;
} lines;
static const lines kLines[LSC_CHECK_COUNT] = {
    {0.03, 0.15}, /* mode collapse: coverage */
    {0.10, 0.25}, /* low fidelity: precision */
    {0.10, 0.25}, /* diversity loss: recall (and Vendi) */
    {0.03, 0.06}, /* dimensional collapse: effective rank */
    {0.01, 0.03}, /* memorisation: excess fraction of copies */
    {0.10, 0.25}, /* posterior collapse: excess fraction of inactive units */
};

/* Class lines: a class "missing" loses coverage (relative), an "over-produced" one gains share
 * (relative); docs/METRICS.md section 8, "Classes". */
static const lines kClassMissing = {0.25, 0.50};

/* Mode collapse's second look: the same coverage with every real ball widened by WIDE_FACTOR.
 * Generated rows that sit near the real ones but off them (blur, an imperfect fit, noise) lose
 * plain coverage and keep this one; a region without generated rows loses both. */
#define WIDE_FACTOR 1.3
static const lines kWide = {0.02, 0.05};
/* Precision's departure (in spreads of the difference) below which the generated rows show no
 * sign of sitting off the real ones: the wide-coverage cap then sits one level higher. */
#define FIDELITY_INTACT_SCORE 2.0
#define CONCENTRATION_RATIO 1.5 /* recall's loss over coverage's beyond which rows concentrate */
/* Recall's loss over the widened balls' below which concentration explains regions left bare */
#define CONCENTRATION_WIDE_RATIO 3.0
static const lines kClassOver = {0.50, 1.00};
#define MAX_CLASSES 4096
#define MAX_JUDGED 2000 /* generated rows in one judged subset */

struct lsc_assessment {
    lsc_verdict v[LSC_CHECK_COUNT];
    lsc_prdc_result prdc; /* the user's full-size figures */
    int64_t classes;      /* judged classes (0 without labels) */
    lsc_class_verdict *cls;
    int64_t uncovered;       /* uncovered reference rows, -1 when not computed */
    int64_t *uncovered_rows; /* most uncovered first */
    int64_t near_rows;       /* generated rows within near_distance of a reference row, -1
                                when not counted */
};

const char *lsc_check_name(lsc_check check)
{
    static const char *const names[LSC_CHECK_COUNT] = {"mode_collapse",  "low_fidelity",
                                                       "diversity_loss", "dimensional_collapse",
                                                       "memorisation",   "posterior_collapse"};
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

/* Upper normal quantile: z with P(Z > z) = p, 0 < p < 0.5, by bisection on erfc (60 halvings
 * reach double precision on [0, 40]); used for the Holm thresholds over classes. */
static double z_upper(double p)
{
    double lo = 0.0, hi = 40.0;
    for (int i = 0; i < 60; i++) {
        const double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(mid / sqrt(2.0)) > p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* ---- the data the checks share ------------------------------------------------------------- */

/* Where the rows of a sharded call live: this rank holds reference rows [first, first +
 * ref->rows) of n and generated rows [fake_first, fake_first + fake->rows) of M, and the ranks'
 * labels are gathered whole (8 bytes a row, beside 4 D bytes a row of the shards). */
typedef struct assess_shards {
    int64_t n, first, M, fake_first, zero_radii;
    const int64_t *fake_rows;           /* generated rows of each rank */
    int64_t *real_labels, *fake_labels; /* every rank's, concatenated; NULL without */
} assess_shards;

typedef struct {
    int64_t d, k, S, m, na;
    int64_t n, M;            /* reference and generated rows of every rank */
    const assess_shards *sh; /* NULL: one process; else A's rows held here are a (na_loc x d),
                                in ascending position of A, pos_a[] their positions, a_loc[]
                                (na) each position's row in a or -1, flags_loc (na_loc) one
                                subset's PRDC outcomes of them */
    int64_t na_loc, *pos_a, *a_loc;
    unsigned char *flags_loc;
    lsc_ctx *ctx; /* the call's (the cache's key reads its rank count) */
    /* A, the generated and the held-out rows are compared as copies of the caller's rows, not
     * centred ones: the distance code centres each set for its fast form and takes exact values
     * from the rows themselves, as in the full-size pass, so a copy of a reference row ties
     * with a radius in every pass alike (the judged subsets ride on that pass) */
    float *a;        /* the reference's first half, na x d */
    float *g;        /* m generated rows */
    float *h;        /* one held-out subset: m real rows of the second half,
                        gathered in turn (S x m x d floats at once would be 4 x the
                        reference at m = N/4) */
    int64_t *pick;   /* its rows */
    int64_t *rows_a; /* the first half's rows, in permutation order */
    int64_t *half_b; /* the second half's rows, in permutation order */
    int64_t nb;
    uint64_t seed;
    const lsc_reference *ref;
    double *mean;           /* the reference's column mean */
    lsc_metric metric;      /* the reference's: every nearest-row search uses it */
    float *centred;         /* one subset centred on the reference mean for its spectrum (m x d) */
    int64_t *sample_a;      /* a seeded sample of nw positions of A: wide coverage, median */
    double median_unit_var; /* median column variance of the reference */
    double median_nn_a;     /* median nearest-neighbour distance within the first half */
    double inactive;        /* lsc_assess_opts.inactive_factor */
    double fpc;             /* factor on the held-out spread for overlapping subsets */
    int64_t J;              /* disjoint generated subsets of m rows averaged (1 to 4) */
    const lsc_matrix *fake;
    lsc_reference *ref_a;
    float *nn_d; /* one subset's nearest row of A: distance and position in A (m) */
    int64_t *nn_i;
    double *held_nn;    /* per reference row of B: distance to its nearest row of A */
    int64_t *held_nn_i; /*   and that row's position in A (-1: not computed) */
    /* classes, with labels: C distinct reference labels in ascending order */
    int64_t C;
    int64_t *labels;
    int64_t *cls_ref;       /* class of every reference row */
    int64_t *n_cls_a;       /* rows of each class in A */
    int64_t *cls_rows;      /* the class of each row of one subset (m; -1: unknown label) */
    unsigned char *flags_a; /* per-row outcomes of one subset's PRDC against A (na) */
    unsigned char *near_g;  /* lsc_prdc_near flags of one subset's rows (m) */
    const int64_t *fake_labels;
    int cached; /* A, its reference and the held-out statistics came from the
                   context's cache (below): only the generated side is measured */
    /* wide coverage: judged on a seeded sample of nw rows of A (sample_a) */
    int64_t nw;
    float *wide_rows;  /* the rows of those the plain balls leave uncovered, gathered */
    int64_t *wide_pos; /*   and their positions in A */
    float *wide_d;     /*   their nearest subset row's distance */
    int64_t *wide_i;
} shared;

static void gather(const lsc_matrix *x, const int64_t *rows, int64_t n, float *out)
{
    const size_t es = lsc_dtype_size(x->dtype);
    for (int64_t t = 0; t < n; t++) {
        const char *src = (const char *)x->data + (size_t)(rows[t] * x->ld) * es;
        for (int64_t c = 0; c < x->cols; c++)
            out[t * x->cols + c] = (float)lsc_load_f32(src, (int)x->dtype, c);
    }
}

/* The spread floor of a share p of n rows: one binomial standard deviation, with p at least
 * 1 / n so a share of 0 still has one row's worth. */
static double share_floor(double p, int64_t n)
{
    const double q = p > 1.0 / (double)n ? p : 1.0 / (double)n;
    return sqrt(q * (1.0 - q) / (double)n);
}

/* lower median, as everywhere in lsc */
static double median(double *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof *v, lsc_cmp_f64);
    return v[(n - 1) / 2];
}

/* (key, row) pairs of doubles: by key, then row */
static int cmp_f64_pair(const void *a, const void *b)
{
    const double *x = (const double *)a, *y = (const double *)b;
    const int c = lsc_cmp_f64(x, y);
    return c ? c : lsc_cmp_f64(x + 1, y + 1);
}

static int cmp_i64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The class index of `label` among the sorted labels, -1 when it is not one of them. */
static int64_t class_of(const shared *s, int64_t label)
{
    const int64_t *hit =
        (const int64_t *)bsearch(&label, s->labels, (size_t)s->C, sizeof label, cmp_i64);
    return hit ? hit - s->labels : -1;
}

static void shared_free(shared *s)
{
    free(s->a);
    free(s->g);
    free(s->h);
    free(s->pick);
    free(s->rows_a);
    free(s->half_b);
    free(s->mean);
    free(s->nn_d);
    free(s->nn_i);
    free(s->held_nn);
    free(s->held_nn_i);
    free(s->labels);
    free(s->cls_ref);
    free(s->n_cls_a);
    free(s->cls_rows);
    free(s->flags_a);
    free(s->near_g);
    free(s->centred);
    free(s->sample_a);
    free(s->wide_rows);
    free(s->wide_pos);
    free(s->wide_d);
    free(s->wide_i);
    free(s->pos_a);
    free(s->a_loc);
    free(s->flags_loc);
    lsc_reference_destroy(s->ref_a);
}

/* A sharded call's status agreed across the ranks (every local failure is agreed before it can
 * steer the ranks apart); one process's as it is. */
static lsc_status sh_agree(lsc_ctx *ctx, const shared *s, lsc_status st)
{
    return s->sh ? lsc_tp_agree(ctx, st, NULL, 0, NULL) : st;
}

/* Row `pos` of A as this rank holds it: its index in s->a and ref_a (-1: another rank's). */
static int64_t a_index(const shared *s, int64_t pos) { return s->sh ? s->a_loc[pos] : pos; }

/* ---- what the context keeps between calls ---------------------------------------------------- */

/* Everything lsc_assess computes from the reference and the options alone - the first half A and its reference, the moments, the classes and the S held-out subsets' statistics -
 * kept in the context after a call, so that the next call on the same reference with the same
 * options and the same m (a training loop's fixed batch size) measures only the generated rows.
 * The key names the reference by its serial number (never reused), not its address. */
typedef struct assess_cache {
    uint64_t serial, seed, labels_hash;
    int64_t S, m;
    double memorisation, inactive;
    int labelled, by_fake_labels;
    int64_t ranks; /* 0: one process's (lsc_assess); else a sharded call's over this many */
    /* moved out of `shared` */
    double *mean, median_unit_var, median_nn_a;
    int64_t *pos_a, *a_loc, na_loc; /* sharded: this rank's part of A */
    int64_t *rows_a;
    float *a;
    lsc_reference *ref_a;
    int64_t C, *labels, *cls_ref, *n_cls_a;
    /* moved out of `measured` */
    struct subset_stats *h;
    double *cov_h; /* S x C, then share_h: S x C */
} assess_cache;

static void cache_free(assess_cache *c)
{
    if (!c) return;
    free(c->mean);
    free(c->rows_a);
    free(c->a);
    free(c->pos_a);
    free(c->a_loc);
    lsc_reference_destroy(c->ref_a);
    free(c->labels);
    free(c->cls_ref);
    free(c->n_cls_a);
    free(c->h);
    free(c->cov_h);
    free(c);
}

void lsc_assess_cache_free(lsc_ctx *ctx)
{
    cache_free((assess_cache *)ctx->assess_cache);
    ctx->assess_cache = NULL;
}

/* FNV-1a of the labels (0 without): a changed label set must miss the cache. */
static uint64_t labels_hash(const int64_t *labels, int64_t n)
{
    uint64_t h = 1469598103934665603ull;
    if (!labels) return 0;
    const unsigned char *b = (const unsigned char *)labels;
    for (size_t i = 0; i < (size_t)n * sizeof *labels; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* The labels lsc_assess reads: the caller's, or every rank's gathered (sharded). */
static const int64_t *real_labels_of(const shared *s, const lsc_assess_opts *o)
{
    return s->sh ? s->sh->real_labels : o->real_labels;
}

static int cache_matches(const assess_cache *c, const lsc_reference *ref, const shared *s,
                         const lsc_assess_opts *o, uint64_t lh)
{
    const int64_t ranks = s->sh ? lsc_tp_ranks(s->ctx) : 0;
    return c && c->serial == ref->serial && c->seed == o->seed && c->S == s->S && c->m == s->m &&
           c->memorisation == o->memorisation_factor && c->inactive == o->inactive_factor &&
           c->labelled == (real_labels_of(s, o) != NULL) && c->labels_hash == lh &&
           c->by_fake_labels == (s->fake_labels != NULL) && c->ranks == ranks;
}

/* Column mean and median column variance of the whole reference (float64, two passes). */
static lsc_status reference_moments(lsc_ctx *ctx, const lsc_reference *ref, shared *s)
{
    const int64_t n = ref->rows, d = ref->cols;
    double *var = (double *)lsc_calloc(ctx, (size_t)d, sizeof *var, "assess moments");
    s->mean = (double *)lsc_calloc(ctx, (size_t)d, sizeof *s->mean, "assess moments");
    lsc_status st = var && s->mean ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY;
    /* sharded: each rank's sums over its rows, added in rank order (lsc_tp_sum_f64) */
    for (int64_t i = 0; st == LSC_STATUS_OK && i < n; i++)
        for (int64_t c = 0; c < d; c++) s->mean[c] += ref->data[i * d + c];
    if (s->sh) st = lsc_tp_sum_f64(ctx, st, s->mean, d);
    for (int64_t c = 0; st == LSC_STATUS_OK && c < d; c++) s->mean[c] /= (double)s->n;
    for (int64_t i = 0; st == LSC_STATUS_OK && i < n; i++)
        for (int64_t c = 0; c < d; c++) {
            const double e = ref->data[i * d + c] - s->mean[c];
            var[c] += e * e;
        }
    if (s->sh) st = lsc_tp_sum_f64(ctx, st, var, d);
    for (int64_t c = 0; st == LSC_STATUS_OK && c < d; c++) var[c] /= (double)(s->n - 1);
    if (st == LSC_STATUS_OK) s->median_unit_var = median(var, d);
    free(var);
    return st;
}

/* The distinct labels of the reference, every reference row's class and A's class sizes. */
static lsc_status classes_make(lsc_ctx *ctx, const int64_t *labels, shared *s)
{
    const int64_t n = s->n;
    int64_t *sorted = (int64_t *)lsc_malloc(ctx, (size_t)n * sizeof *sorted, "assess labels");
    if (!sorted) return LSC_STATUS_OUT_OF_MEMORY;
    memcpy(sorted, labels, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_i64);
    int64_t C = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || sorted[i] != sorted[i - 1]) sorted[C++] = sorted[i];
    if (C > MAX_CLASSES) {
        free(sorted);
        return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                             "assess opts: real_labels holds %lld distinct labels, at most %d",
                             (long long)C, MAX_CLASSES);
    }
    s->labels = sorted; /* the first C entries */
    s->C = C;
    s->cls_ref = (int64_t *)lsc_malloc(ctx, (size_t)n * sizeof *s->cls_ref, "assess labels");
    s->n_cls_a = (int64_t *)lsc_calloc(ctx, (size_t)C, sizeof *s->n_cls_a, "assess labels");
    if (!s->cls_ref || !s->n_cls_a) return LSC_STATUS_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++) s->cls_ref[i] = class_of(s, labels[i]);
    for (int64_t i = 0; i < s->na; i++) s->n_cls_a[s->cls_ref[s->rows_a[i]]]++;
    return LSC_STATUS_OK;
}

static lsc_status shared_make(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                              const lsc_assess_opts *o, const assess_shards *sh, shared *s)
{
    memset(s, 0, sizeof *s);
    const int64_t n = sh ? sh->n : ref->rows, d = ref->cols, M = sh ? sh->M : fake->rows;
    s->sh = sh;
    s->n = n;
    s->M = M;
    s->d = d;
    s->k = ref->k;
    s->S = o->splits;
    s->inactive = o->inactive_factor;
    s->na = n / 2;
    const int64_t nb = n - s->na;
    /* at most half of the second half, so the held-out subsets differ from one another, and at
     * most MAX_JUDGED rows: beyond that the baselines are already tight (a 5% loss of coverage
     * is many spreads away), and the judging cost stops growing with M */
    s->m = M < nb / 2 ? M : nb / 2;
    if (s->m > MAX_JUDGED) s->m = MAX_JUDGED;
    /* a larger generated set is judged as the mean over up to 4 disjoint subsets of m rows:
     * its statistic then varies less than one held-out subset's, by 1 / J; 2 at the cap, where
     * the spread is small already and each subset costs most */
    const int64_t jmax = s->m == MAX_JUDGED ? 2 : 4;
    s->J = M / s->m < jmax ? M / s->m : jmax;
    s->fake = fake;
    s->fake_labels = sh ? sh->fake_labels : o->fake_labels;
    /* overlapping subsets of a finite half vary less than independent draws by 1 - m / nb
     * (the finite population correction); disjoint ones are independent draws */
    s->fpc = lsc_mul_i64(s->S, s->m) <= nb ? 1.0 : 1.0 / sqrt(1.0 - (double)s->m / (double)nb);
    size_t bytes;
    /* sharded: A's rows are counted as if this rank held them all (it holds its part) */
    LSC_TRY(lsc_bytes(ctx, lsc_mul_i64(2 * s->m + s->na, d), sizeof(float), &bytes, "assess rows"));
    s->nb = nb;
    s->seed = o->seed;
    s->ref = ref;
    s->g = (float *)lsc_malloc(ctx, (size_t)(s->m * d) * sizeof(float), "assess rows");
    s->h = (float *)lsc_malloc(ctx, (size_t)(s->m * d) * sizeof(float), "assess rows");
    s->pick = (int64_t *)lsc_malloc(ctx, (size_t)s->m * sizeof *s->pick, "rows");
    s->nn_d = (float *)lsc_malloc(ctx, (size_t)s->m * sizeof *s->nn_d, "assess distances");
    s->nn_i = (int64_t *)lsc_malloc(ctx, (size_t)s->m * sizeof *s->nn_i, "assess distances");
    s->flags_a = (unsigned char *)lsc_malloc(ctx, (size_t)s->na + 1, "assess coverage");
    s->near_g = (unsigned char *)lsc_malloc(ctx, (size_t)s->m, "assess copies");
    s->nw = s->na < MAX_JUDGED ? s->na : MAX_JUDGED;
    s->wide_rows = (float *)lsc_malloc(ctx, (size_t)(s->nw * d) * sizeof(float), "assess rows");
    s->wide_pos =
        (int64_t *)lsc_malloc(ctx, (size_t)s->nw * sizeof *s->wide_pos, "assess coverage");
    s->wide_d = (float *)lsc_malloc(ctx, (size_t)s->nw * sizeof *s->wide_d, "assess coverage");
    s->wide_i = (int64_t *)lsc_malloc(ctx, (size_t)s->nw * sizeof *s->wide_i, "assess coverage");
    s->metric = ref->metric;
    s->sample_a =
        (int64_t *)lsc_malloc(ctx, (size_t)s->nw * sizeof *s->sample_a, "assess coverage");
    s->centred = (float *)lsc_malloc(ctx, (size_t)(s->m * d) * sizeof(float), "assess rows");
    const int labelled = o->real_labels != NULL || (sh && sh->real_labels);
    s->cls_rows =
        labelled ? (int64_t *)lsc_malloc(ctx, (size_t)s->m * sizeof *s->cls_rows, "assess labels")
                 : NULL;
    lsc_status st = s->g && s->h && s->pick && s->nn_d && s->nn_i && s->flags_a && s->near_g &&
                            s->wide_rows && s->wide_pos && s->wide_d && s->wide_i && s->sample_a &&
                            (s->cls_rows || !labelled) && s->centred
                        ? LSC_STATUS_OK
                        : LSC_STATUS_OUT_OF_MEMORY;
    if (st == LSC_STATUS_OK) st = lsc_sample_rows(ctx, o->seed, s->na, 0, s->nw, s->sample_a);
    LSC_TRY(sh_agree(ctx, s, st)); /* before the collective sums of reference_moments */
    /* the reference side: from the context's cache when its key matches (sharded: on every
     * rank, else on none) */
    s->ctx = ctx;
    const uint64_t lh = labels_hash(real_labels_of(s, o), n);
    assess_cache *c = (assess_cache *)ctx->assess_cache;
    int hit = cache_matches(c, ref, s, o, lh);
    if (sh) {
        int64_t miss = !hit;
        LSC_TRY(lsc_tp_sum_i64(ctx, LSC_STATUS_OK, &miss, 1));
        hit = miss == 0;
    }
    if (hit) {
        s->cached = 1;
        s->mean = c->mean;
        s->median_unit_var = c->median_unit_var;
        s->median_nn_a = c->median_nn_a;
        s->rows_a = c->rows_a;
        s->a = c->a;
        s->ref_a = c->ref_a;
        s->C = c->C;
        s->labels = c->labels;
        s->cls_ref = c->cls_ref;
        s->n_cls_a = c->n_cls_a;
        c->mean = NULL;
        c->rows_a = NULL;
        c->a = NULL;
        c->ref_a = NULL;
        c->labels = c->cls_ref = c->n_cls_a = NULL;
        if (sh) {
            s->pos_a = c->pos_a;
            s->a_loc = c->a_loc;
            s->na_loc = c->na_loc;
            c->pos_a = c->a_loc = NULL;
            s->flags_loc =
                (unsigned char *)lsc_malloc(ctx, (size_t)s->na_loc + 1, "assess coverage");
            LSC_TRY(sh_agree(ctx, s, s->flags_loc ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY));
        }
        return LSC_STATUS_OK; /* the held-out statistics stay in the cache for measure_subsets */
    }
    lsc_assess_cache_free(ctx); /* another reference or other options: rebuilt below */
    LSC_TRY(reference_moments(ctx, ref, s));
    s->rows_a = (int64_t *)lsc_malloc(ctx, (size_t)s->na * sizeof *s->rows_a, "rows");
    s->half_b = (int64_t *)lsc_malloc(ctx, (size_t)nb * sizeof *s->half_b, "rows");
    s->held_nn = (double *)lsc_malloc(ctx, (size_t)n * sizeof *s->held_nn, "assess distances");
    s->held_nn_i = (int64_t *)lsc_malloc(ctx, (size_t)n * sizeof *s->held_nn_i, "assess distances");
    if (!(s->rows_a && s->half_b && s->held_nn && s->held_nn_i)) return LSC_STATUS_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++) s->held_nn_i[i] = -1;
    LSC_TRY(lsc_sample_rows(ctx, o->seed, n, 0, s->na, s->rows_a));
    LSC_TRY(lsc_sample_rows(ctx, o->seed, n, s->na, nb, s->half_b));
    if (sh) {
        /* sharded: the rows of A this rank holds, in A's order */
        const int64_t lo = sh->first, hi = sh->first + ref->rows;
        s->a_loc = (int64_t *)lsc_malloc(ctx, (size_t)s->na * sizeof *s->a_loc, "assess rows");
        if (!s->a_loc) return LSC_STATUS_OUT_OF_MEMORY;
        for (int64_t t = 0; t < s->na; t++)
            s->a_loc[t] = s->rows_a[t] >= lo && s->rows_a[t] < hi ? s->na_loc++ : -1;
        s->pos_a = (int64_t *)lsc_malloc(ctx, (size_t)s->na_loc * sizeof *s->pos_a + 1, "rows");
        s->flags_loc = (unsigned char *)lsc_malloc(ctx, (size_t)s->na_loc + 1, "assess coverage");
        s->a = (float *)lsc_malloc(ctx, (size_t)(s->na_loc * d) * sizeof(float) + 1, "assess rows");
        if (!s->pos_a || !s->flags_loc || !s->a) return LSC_STATUS_OUT_OF_MEMORY;
        for (int64_t t = 0; t < s->na; t++) {
            if (s->a_loc[t] < 0) continue;
            s->pos_a[s->a_loc[t]] = t;
            memcpy(s->a + s->a_loc[t] * d, ref->data + (s->rows_a[t] - lo) * d,
                   (size_t)d * sizeof(float));
        }
    } else {
        s->a = (float *)lsc_malloc(ctx, (size_t)(s->na * d) * sizeof(float), "assess rows");
        if (!s->a) return LSC_STATUS_OUT_OF_MEMORY;
        lsc_matrix rm = lsc_matrix_f32(ref->data, n, d);
        gather(&rm, s->rows_a, s->na, s->a);
    }
    const int64_t *labels = sh ? sh->real_labels : o->real_labels;
    if (labels) LSC_TRY(classes_make(ctx, labels, s));
    return LSC_STATUS_OK;
}

/* Keeps the reference side of a successful call in the context (see assess_cache), taking its
 * buffers out of `s` and the held-out statistics `h` (S) and `cov_h` (2 S C) from the caller. */
static void cache_keep(lsc_ctx *ctx, shared *s, const lsc_assess_opts *o, struct subset_stats **h,
                       double **cov_h)
{
    assess_cache *c = (assess_cache *)ctx->assess_cache;
    if (!c) c = (assess_cache *)calloc(1, sizeof *c);
    if (!c) return; /* nothing kept: the next call recomputes */
    c->serial = s->ref->serial;
    c->seed = o->seed;
    c->labels_hash = labels_hash(real_labels_of(s, o), s->n);
    c->S = s->S;
    c->m = s->m;
    c->memorisation = o->memorisation_factor;
    c->inactive = o->inactive_factor;
    c->labelled = real_labels_of(s, o) != NULL;
    c->by_fake_labels = s->fake_labels != NULL;
    c->ranks = s->sh ? lsc_tp_ranks(ctx) : 0;
    c->pos_a = s->pos_a;
    c->a_loc = s->a_loc;
    c->na_loc = s->na_loc;
    s->pos_a = s->a_loc = NULL;
    c->mean = s->mean;
    c->median_unit_var = s->median_unit_var;
    c->median_nn_a = s->median_nn_a;
    c->rows_a = s->rows_a;
    c->a = s->a;
    c->ref_a = s->ref_a;
    c->C = s->C;
    c->labels = s->labels;
    c->cls_ref = s->cls_ref;
    c->n_cls_a = s->n_cls_a;
    s->mean = NULL;
    s->rows_a = NULL;
    s->a = NULL;
    s->ref_a = NULL;
    s->labels = s->cls_ref = s->n_cls_a = NULL;
    if (!s->cached) { /* a hit left them in the cache already */
        c->h = *h;
        c->cov_h = *cov_h;
        *h = NULL;
        *cov_h = NULL;
    }
    ctx->assess_cache = c;
}

/* The n reference rows `rows` (global indices) into out (n x d): sharded, fetched from the ranks
 * that hold them, so every rank has them. */
static lsc_status reference_rows(lsc_ctx *ctx, shared *s, const int64_t *rows, int64_t n,
                                 float *out)
{
    if (!s->sh) {
        lsc_matrix rm = lsc_matrix_f32(s->ref->data, s->ref->rows, s->d);
        gather(&rm, rows, n, out);
        return LSC_STATUS_OK;
    }
    lsc_matrix mine = lsc_matrix_f32(s->ref->data, s->ref->rows, s->d);
    return lsc_tp_gather_rows(ctx, LSC_STATUS_OK, &mine, s->sh->first, rows, n, out);
}

/* Whether the S held-out subsets are disjoint positions of B (else seeded subsets of B). */
static int held_out_disjoint(const shared *s) { return lsc_mul_i64(s->S, s->m) <= s->nb; }

/* Gathers held-out subset t into s->h: disjoint positions of the second half while the S subsets
 * fit, else the subset of seed + 2 + t. */
static lsc_status gather_held_out(lsc_ctx *ctx, shared *s, int64_t t)
{
    const int disjoint = held_out_disjoint(s);
    LSC_TRY(lsc_sample_rows(ctx, disjoint ? s->seed + 1 : s->seed + 2 + (uint64_t)t, s->nb,
                            disjoint ? t * s->m : 0, s->m, s->pick));
    for (int64_t i = 0; i < s->m; i++) s->pick[i] = s->half_b[s->pick[i]];
    return reference_rows(ctx, s, s->pick, s->m, s->h);
}

/* Gathers generated subset j into s->g: positions j m .. (j + 1) m - 1 of the generated set's
 * permutation (all of it when M = m). */
static lsc_status gather_generated(lsc_ctx *ctx, shared *s, int64_t j)
{
    LSC_TRY(lsc_sample_rows(ctx, s->seed, s->M, j * s->m, s->m, s->pick));
    if (s->sh)
        return lsc_tp_gather_rows(ctx, LSC_STATUS_OK, s->fake, s->sh->fake_first, s->pick, s->m,
                                  s->g);
    gather(s->fake, s->pick, s->m, s->g);
    return LSC_STATUS_OK;
}

/* Sharded: the `k` nearest rows of A of the n rows x (every rank's the same) by their exact
 * internal values, each rank's among its rows of A, merged: v and pos (n x k: positions in A,
 * ties by the smaller position, as lsc_knn on the whole of A breaks them). */
static lsc_status nearest_in_a_sharded(lsc_ctx *ctx, shared *s, const float *x, int64_t n,
                                       int64_t k, double *v, int64_t *pos)
{
    const int64_t kl = s->na_loc < k ? s->na_loc : k;
    for (int64_t e = 0; e < n * k; e++) {
        v[e] = INFINITY;
        pos[e] = INT64_MAX;
    }
    double *lv = NULL;
    int64_t *li = NULL;
    lsc_status st = LSC_STATUS_OK;
    if (kl > 0 && n > 0) {
        lv = (double *)lsc_malloc(ctx, (size_t)(n * kl) * sizeof *lv, "assess distances");
        li = (int64_t *)lsc_malloc(ctx, (size_t)(n * kl) * sizeof *li, "assess distances");
        st = lv && li ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY;
        lsc_matrix q = lsc_matrix_f32(x, n, s->d), b = lsc_matrix_f32(s->a, s->na_loc, s->d);
        if (st == LSC_STATUS_OK)
            st = lsc_shard_knn(ctx, &q, &b, kl, (int)s->metric, lv, li, 0.0, 1.0);
        for (int64_t i = 0; st == LSC_STATUS_OK && i < n; i++)
            for (int64_t t = 0; t < kl; t++) {
                v[i * k + t] = lv[i * kl + t];
                pos[i * k + t] = s->pos_a[li[i * kl + t]]; /* ascending with the row in a */
            }
    }
    free(lv);
    free(li);
    return lsc_tp_merge_lists(ctx, st, n, k, v, pos);
}

/* The nearest row of A of the n (<= m) rows x: s->nn_d, s->nn_i. */
static lsc_status nearest_in_a(lsc_ctx *ctx, shared *s, const float *x, int64_t n)
{
    if (s->sh) {
        double *v = (double *)lsc_malloc(ctx, (size_t)n * sizeof *v + 1, "assess distances");
        lsc_status st = sh_agree(ctx, s, v ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY);
        if (st == LSC_STATUS_OK) st = nearest_in_a_sharded(ctx, s, x, n, 1, v, s->nn_i);
        /* the float32 distance lsc_knn reports for that value */
        for (int64_t i = 0; st == LSC_STATUS_OK && i < n; i++)
            s->nn_d[i] = (float)lsc_dist_from_v((int)s->metric, v[i]);
        free(v);
        return st;
    }
    lsc_matrix q = lsc_matrix_f32(x, n, s->d), b = lsc_matrix_f32(s->a, s->na, s->d);
    lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
    ko.metric = s->metric;
    return lsc_knn(ctx, &q, &b, 1, &ko, s->nn_d, s->nn_i);
}

/* The nearest row of A of every row of B any held-out subset uses, once: the disjoint subsets'
 * rows, else all of B (overlapping subsets share rows; one pass over B costs |B| rows, the
 * subsets S m). */
static lsc_status held_out_nearest(lsc_ctx *ctx, shared *s)
{
    const int64_t used = held_out_disjoint(s) ? s->S * s->m : s->nb;
    int64_t *rows = NULL;
    if (held_out_disjoint(s)) {
        rows = (int64_t *)lsc_malloc(ctx, (size_t)used * sizeof *rows, "rows");
        lsc_status st = rows ? lsc_sample_rows(ctx, s->seed + 1, s->nb, 0, used, rows)
                             : LSC_STATUS_OUT_OF_MEMORY;
        st = sh_agree(ctx, s, st);
        if (st != LSC_STATUS_OK) {
            free(rows);
            return st;
        }
        for (int64_t i = 0; i < used; i++) rows[i] = s->half_b[rows[i]];
    }
    const int64_t *from = rows ? rows : s->half_b;
    lsc_status st = LSC_STATUS_OK;
    for (int64_t r0 = 0; st == LSC_STATUS_OK && r0 < used; r0 += s->m) {
        const int64_t n = used - r0 < s->m ? used - r0 : s->m;
        st = reference_rows(ctx, s, from + r0, n, s->h);
        if (st == LSC_STATUS_OK) st = nearest_in_a(ctx, s, s->h, n);
        for (int64_t i = 0; st == LSC_STATUS_OK && i < n; i++) {
            s->held_nn[from[r0 + i]] = s->nn_d[i];
            s->held_nn_i[from[r0 + i]] = s->nn_i[i];
        }
    }
    free(rows);
    return st;
}

/* ---- judging ------------------------------------------------------------------------------- */

/* Fills the numbers of a verdict from the matched statistic g and the S held-out values h.
 * `loss`: the harm is a smaller value (effect = 1 - g / baseline); else a larger one (effect =
 * g - baseline, a fraction). `floor_sd` bounds the spread from below. Returns the smallest
 * effect these sizes can show at the collapse quantile tc. */
static double measure(lsc_verdict *v, double g, const double *h, int64_t S, int loss,
                      double floor_sd, const shared *sh, double tc)
{
    double mean = 0.0, ss = 0.0;
    for (int64_t t = 0; t < S; t++) mean += h[t];
    mean /= (double)S;
    for (int64_t t = 0; t < S; t++) ss += (h[t] - mean) * (h[t] - mean);
    double sd = sh->fpc * sqrt(ss / (double)(S - 1));
    if (sd < floor_sd) sd = floor_sd;
    /* the spread of a difference: g is a mean of J generated subsets, the baseline of S */
    const double pred = sd * sqrt(1.0 / (double)sh->J + 1.0 / (double)S);
    const double ti = t_quantile(Z_INTERVAL, (double)(S - 1));
    v->matched = g;
    v->baseline = mean;
    v->spread = sd;
    v->interval_lo = mean - ti * pred;
    v->interval_hi = mean + ti * pred;
    const double departure = loss ? mean - g : g - mean;
    v->score = pred > 0 ? departure / pred : (departure > 0 ? INFINITY : 0.0);
    v->effect = loss ? (mean > 0 ? departure / mean : 0.0) : departure;
    return loss ? (mean > 0 ? tc * pred / mean : INFINITY) : tc * pred;
}

/* The level from the numbers measure() filled, at the quantiles tb < tc; `sig_b`/`sig_c` say
 * whether the score passes them (a step-down procedure decides that for classes). */
static void decide(lsc_verdict *v, int sig_b, int sig_c, double detectable)
{
    /* a significant departure beyond a line is a finding at any size; sizes too small to
     * resolve the collapse line only forbid reading the absence of one as `ok` */
    if (sig_c && v->effect >= v->collapse_line) v->level = LSC_LEVEL_COLLAPSE;
    else if (sig_b && v->effect >= v->borderline_line) v->level = LSC_LEVEL_BORDERLINE;
    else if (!(detectable <= v->collapse_line)) v->level = LSC_LEVEL_NOT_ASSESSED;
    else if (v->effect >= v->collapse_line) v->level = LSC_LEVEL_BORDERLINE;
    else v->level = LSC_LEVEL_OK;
}

/* measure() and decide() at the six checks' Bonferroni quantiles, significance also granted by
 * a second statistic `other` (already measured; NULL: none) of the same loss - the plain and the
 * widened coverage count the same uncovered rows, and the wide one varies far less. Returns the
 * smallest effect detectable at the collapse level (beyond the collapse line: too few rows to
 * read `ok`). */
static double judge_either(lsc_verdict *v, const lsc_verdict *other, double g, const double *h,
                           int64_t S, int loss, double floor_sd, const shared *sh)
{
    const double dof = (double)(S - 1);
    const double tb = t_quantile(Z_BORDER, dof), tc = t_quantile(Z_COLLAPSE, dof);
    const double det = measure(v, g, h, S, loss, floor_sd, sh, tc);
    const double z = other && other->score > v->score ? other->score : v->score;
    decide(v, z >= tb, z >= tc, det);
    return det;
}

static double judge(lsc_verdict *v, double g, const double *h, int64_t S, int loss, double floor_sd,
                    const shared *sh)
{
    return judge_either(v, NULL, g, h, S, loss, floor_sd, sh);
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

/* The word for a loss's effect in a `why`: a negative effect is a gain. */
static const char *lower(double effect) { return effect < 0 ? "higher" : "lower"; }

static void not_assessed(lsc_verdict *v, const char *why)
{
    v->level = LSC_LEVEL_NOT_ASSESSED;
    snprintf(v->why, sizeof v->why, "%s", why);
}

/* Appends to a verdict's `why`, cutting at its size. */
static void why_add(lsc_verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why_add(lsc_verdict *v, const char *fmt, ...)
{
    const size_t used = strlen(v->why);
    if (used + 1 >= sizeof v->why) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why + used, sizeof v->why - used, fmt, ap);
    va_end(ap);
}

/* ---- the statistics of one subset ----------------------------------------------------------- */

typedef struct subset_stats {
    double p, r, d, c;  /* PRDC against A */
    double near, exact; /* fractions of rows near / exactly on a row of A */
    double wide;        /* coverage of A's first nw rows with balls WIDE_FACTOR x wider */
    double erank, vendi, inactive;
    int vendi_ok;
} subset_stats;

/* Sharded: the m rows x (every rank's the same) against this rank's rows of A with their radii
 * among all of A, by the one-process pass; the per-row counts, the copy tests' flags and the
 * recall and coverage counts summed over the ranks, the figures made from them as lsc_prdc
 * makes its own. s->flags_a gets this rank's rows' outcomes (the others' stay 0). */
static lsc_status prdc_of_sharded(lsc_ctx *ctx, shared *s, const lsc_matrix *x, lsc_prdc_result *r,
                                  const lsc_prdc_near *near)
{
    const int64_t m = s->m;
    /* m counts, m strict and m inclusive copy flags, then recall and coverage */
    int64_t *ct = (int64_t *)lsc_calloc(ctx, (size_t)(3 * m + 2), sizeof *ct, "assess counts");
    lsc_status st = ct ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY;
    memset(s->flags_a, 0, (size_t)s->na);
    if (near) memset(near->flags, 0, (size_t)m);
    if (st == LSC_STATUS_OK && s->na_loc > 0) {
        lsc_prdc_result mine = LSC_PRDC_RESULT_INIT;
        st = lsc_prdc_near_rows(ctx, s->ref_a, x, &mine, s->flags_loc, ct, near);
        for (int64_t i = 0; st == LSC_STATUS_OK && i < s->na_loc; i++) {
            s->flags_a[s->pos_a[i]] = s->flags_loc[i];
            ct[3 * m] += (s->flags_loc[i] & LSC_ROW_RECALLED) != 0;
            ct[3 * m + 1] += (s->flags_loc[i] & LSC_ROW_COVERED) != 0;
        }
        for (int64_t j = 0; st == LSC_STATUS_OK && near && j < m; j++) {
            ct[m + j] = (near->flags[j] & LSC_NEAR_STRICT) != 0;
            ct[2 * m + j] = (near->flags[j] & LSC_NEAR_INCL) != 0;
        }
    }
    st = lsc_tp_sum_i64(ctx, st, ct, 3 * m + 2);
    if (st == LSC_STATUS_OK) {
        int64_t held = 0, dens = 0;
        for (int64_t j = 0; j < m; j++) {
            held += ct[j] > 0;
            dens += ct[j];
            if (near)
                near->flags[j] = (unsigned char)((ct[m + j] ? LSC_NEAR_STRICT : 0u) |
                                                 (ct[2 * m + j] ? LSC_NEAR_INCL : 0u));
        }
        lsc_prdc_from_counts(held, dens, ct[3 * m], ct[3 * m + 1], s->na, m, s->k, r);
    }
    free(ct);
    return st;
}

/* PRDC against A, with the per-row outcomes in s->flags_a (classes, wide coverage) and, with
 * `near`, its fused tests of each row in near->flags. */
static lsc_status prdc_of(lsc_ctx *ctx, shared *s, const float *x, subset_stats *out,
                          const lsc_prdc_near *near)
{
    lsc_matrix m = lsc_matrix_f32(x, s->m, s->d);
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    if (s->sh) LSC_TRY(prdc_of_sharded(ctx, s, &m, &r, near));
    else LSC_TRY(lsc_prdc_near_rows(ctx, s->ref_a, &m, &r, s->flags_a, NULL, near));
    out->p = r.precision;
    out->r = r.recall;
    out->d = r.density;
    out->c = r.coverage;
    return LSC_STATUS_OK;
}

/* Wide coverage of the m rows x (after prdc_of filled s->flags_a): a row of A's seeded sample
 * (nw rows) the plain ball covers is covered; of the others, one nearest-neighbour pass against x tells whether
 * a row of x lies within WIDE_FACTOR x the radius. */
static lsc_status wide_of(lsc_ctx *ctx, shared *s, const float *x, subset_stats *out)
{
    const int64_t d = s->d;
    int64_t u = 0, hit = 0;
    /* sharded: each rank judges the sampled rows of A it holds; the hits are summed */
    for (int64_t t = 0; t < s->nw; t++) {
        const int64_t i = s->sample_a[t], ai = a_index(s, i);
        if (ai < 0) continue;
        if (s->flags_a[i] & LSC_ROW_COVERED) {
            hit++;
            continue;
        }
        memcpy(s->wide_rows + u * d, s->a + ai * d, (size_t)d * sizeof(float));
        s->wide_pos[u++] = ai;
    }
    lsc_status st = LSC_STATUS_OK;
    if (u > 0) {
        lsc_matrix q = lsc_matrix_f32(s->wide_rows, u, d), b = lsc_matrix_f32(x, s->m, d);
        lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
        ko.metric = s->metric;
        st = lsc_knn(ctx, &q, &b, 1, &ko, s->wide_d, s->wide_i);
        const int inclusive = s->ref_a->comparison == LSC_COMPARISON_INCLUSIVE;
        for (int64_t t = 0; st == LSC_STATUS_OK && t < u; t++) {
            const double r = WIDE_FACTOR * s->ref_a->radius[s->wide_pos[t]], dt = s->wide_d[t];
            hit += inclusive ? dt <= r : dt < r;
        }
    }
    if (s->sh) st = lsc_tp_sum_i64(ctx, st, &hit, 1);
    if (st == LSC_STATUS_OK) out->wide = (double)hit / (double)s->nw;
    return st;
}

/* Fractions of rows nearer A than `radius` and exactly on a row of A, from their distances (or,
 * for the generated rows, from the same two tests fused into their PRDC pass: copies_of_flags). */
static void copies_of(const double *dist, int64_t n, double radius, subset_stats *out)
{
    int64_t cn = 0, ce = 0;
    for (int64_t i = 0; i < n; i++) {
        cn += dist[i] < radius;
        ce += dist[i] == 0.0;
    }
    out->near = (double)cn / (double)n;
    out->exact = (double)ce / (double)n;
}

static void copies_of_flags(const unsigned char *flags, int64_t n, subset_stats *out)
{
    int64_t cn = 0, ce = 0;
    for (int64_t i = 0; i < n; i++) {
        cn += (flags[i] & LSC_NEAR_STRICT) != 0;
        ce += (flags[i] & LSC_NEAR_INCL) != 0;
    }
    out->near = (double)cn / (double)n;
    out->exact = (double)ce / (double)n;
}

/* Effective rank, Vendi of the (centred) rows and the fraction of inactive units. */
static lsc_status spectrum_of(lsc_ctx *ctx, const shared *s, const float *x, subset_stats *out)
{
    double *cv = (double *)lsc_malloc(ctx, (size_t)s->d * sizeof *cv, "assess variances");
    if (!cv) return LSC_STATUS_OUT_OF_MEMORY;
    /* Vendi is judged on rows centred on the reference mean (a common offset would read as
     * one direction); the rank and the variances do not change */
    for (int64_t i = 0; i < s->m; i++)
        for (int64_t c = 0; c < s->d; c++)
            s->centred[i * s->d + c] = (float)((double)x[i * s->d + c] - s->mean[c]);
    x = s->centred;
    lsc_matrix m = lsc_matrix_f32(x, s->m, s->d);
    lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
    lsc_status st = lsc_spectrum(ctx, &m, NULL, &r, NULL, cv);
    if (st == LSC_STATUS_OK) {
        out->erank = r.effective_rank;
        out->vendi = r.vendi_cosine;
        out->vendi_ok = r.vendi_status == LSC_VENDI_OK;
        int64_t dead = 0;
        for (int64_t c = 0; c < s->d; c++) dead += cv[c] < s->median_unit_var * s->inactive;
        out->inactive = (double)dead / (double)s->d;
    }
    free(cv);
    return st;
}

/* Each class's coverage of A (from s->flags_a) and share of the subset (from s->cls_rows). */
static lsc_status class_stats(lsc_ctx *ctx, const shared *s, double *cov, double *share)
{
    int64_t *hit = (int64_t *)lsc_calloc(ctx, (size_t)s->C + 1, sizeof *hit, "assess classes");
    lsc_status st = hit ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY;
    /* sharded: s->flags_a holds this rank's rows of A only; the counts are summed */
    for (int64_t i = 0; hit && i < s->na; i++)
        if (s->flags_a[i] & LSC_ROW_COVERED) hit[s->cls_ref[s->rows_a[i]]]++;
    if (s->sh) st = lsc_tp_sum_i64(ctx, st, hit, s->C);
    for (int64_t c = 0; st == LSC_STATUS_OK && c < s->C; c++) {
        cov[c] = s->n_cls_a[c] ? (double)hit[c] / (double)s->n_cls_a[c] : 0.0;
        share[c] = 0.0;
    }
    for (int64_t i = 0; st == LSC_STATUS_OK && i < s->m; i++)
        if (s->cls_rows[i] >= 0) share[s->cls_rows[i]] += 1.0;
    for (int64_t c = 0; st == LSC_STATUS_OK && c < s->C; c++) share[c] /= (double)s->m;
    free(hit);
    return st;
}

/* ---- the judging half's reference ------------------------------------------------------------ */

/* On a backend with device references, A's reference placed on the device once: the call's
 * S + J PRDC passes, and the next calls' while the context keeps it, then read it there instead
 * of each copying its rows across. */
static lsc_status place_half(lsc_ctx *ctx, shared *s)
{
    if (!s->ref_a || !lsc_supports(ctx, LSC_CAP_DEVICE_REFERENCE)) return LSC_STATUS_OK;
    lsc_reference *placed = NULL;
    LSC_TRY(lsc_reference_to_device(ctx, s->ref_a, &placed));
    lsc_reference_destroy(s->ref_a);
    s->ref_a = placed;
    return LSC_STATUS_OK;
}

/* A's reference (with its radii: when `need_radii`) and its median nearest-neighbour distance:
 * from the reference's own lsc_reference_prepare result when it was made for this seed (the same
 * numbers, computed by this very function then), else computed here. */
/* Sharded: A's radii by the sharded reference of the ranks' rows of A, and the median over A's
 * seeded sample (fetched to every rank) of each sampled row's second nearest row of A - its
 * nearest other row, the first being itself at 0 - which is the value one process takes. */
static lsc_status judging_half_sharded(lsc_ctx *ctx, shared *s, int need_radii)
{
    const int64_t d = s->d, q = s->nw;
    lsc_status st = LSC_STATUS_OK;
    if (need_radii) {
        lsc_matrix am = lsc_matrix_f32(s->a, s->na_loc, d);
        lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
        ro.metric = s->ref->metric;
        ro.comparison = s->ref->comparison;
        ro.borrow_rows = 1;
        st = lsc_reference_create_sharded(ctx, &am, s->k, &ro, &s->ref_a);
        /* this rank's part of A is all its PRDC passes read, with the radii of all of A: the
         * pass then takes it as a reference of its own */
        if (st == LSC_STATUS_OK) s->ref_a->shard_total = s->ref_a->shard_first = 0;
        if (st != LSC_STATUS_OK) return st;
    }
    int64_t *rows = (int64_t *)lsc_malloc(ctx, (size_t)q * sizeof *rows, "rows");
    double *v = (double *)lsc_malloc(ctx, (size_t)q * 2 * sizeof *v, "assess distances");
    int64_t *pos = (int64_t *)lsc_malloc(ctx, (size_t)q * 2 * sizeof *pos, "assess distances");
    double *nn = (double *)lsc_malloc(ctx, (size_t)q * sizeof *nn, "assess distances");
    st = sh_agree(ctx, s, rows && v && pos && nn ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY);
    for (int64_t t = 0; st == LSC_STATUS_OK && t < q; t++) rows[t] = s->rows_a[s->sample_a[t]];
    if (st == LSC_STATUS_OK) st = reference_rows(ctx, s, rows, q, s->wide_rows);
    if (st == LSC_STATUS_OK) st = nearest_in_a_sharded(ctx, s, s->wide_rows, q, 2, v, pos);
    if (st == LSC_STATUS_OK) {
        for (int64_t i = 0; i < q; i++)
            nn[i] = (float)lsc_dist_from_v((int)s->metric, v[2 * i + 1]);
        s->median_nn_a = median(nn, q);
    }
    free(rows);
    free(v);
    free(pos);
    free(nn);
    return st;
}

static lsc_status judging_half(lsc_ctx *ctx, shared *s, int need_radii, int use_prepared)
{
    if (s->sh) return judging_half_sharded(ctx, s, need_radii);
    const lsc_reference *ref = s->ref;
    const int64_t d = s->d;
    uint64_t seed = 0;
    if (ref->half) memcpy(&seed, ref->half, sizeof seed);
    if (use_prepared && ref->half && seed == s->seed) {
        memcpy(&s->median_nn_a, ref->half + 8, sizeof s->median_nn_a);
        if (!need_radii) return LSC_STATUS_OK;
        lsc_reference *r = NULL;
        LSC_TRY(lsc_reference_alloc(ctx, s->na, d, 0, &r));
        r->data = s->a; /* borrowed, as lsc_reference_create's borrow_rows */
        r->k = s->k;
        r->metric = ref->metric;
        r->comparison = ref->comparison;
        memcpy(r->radius_v, ref->half + 16, (size_t)s->na * sizeof *r->radius_v);
        for (int64_t i = 0; i < s->na; i++) {
            r->radius[i] = lsc_dist_from_v((int)r->metric, r->radius_v[i]);
            r->zero_radii += r->radius_v[i] == 0.0;
        }
        s->ref_a = r;
        return LSC_STATUS_OK;
    }
    lsc_matrix am = lsc_matrix_f32(s->a, s->na, d);
    if (need_radii) {
        lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
        ro.metric = ref->metric;
        ro.comparison = ref->comparison;
        ro.borrow_rows = 1;
        LSC_TRY(lsc_reference_create(ctx, &am, s->k, &ro, &s->ref_a));
    }
    /* the median over every row of A, or over its seeded sample of MAX_JUDGED rows against all
     * of A: their second neighbour is their nearest other row (the first is the row itself at
     * 0, or an exact duplicate, and then both are 0) */
    const int64_t q = s->nw, kq = q < s->na ? 2 : 1;
    float *dist = (float *)lsc_malloc(ctx, (size_t)(q * kq) * sizeof *dist, "assess distances");
    int64_t *idx = (int64_t *)lsc_malloc(ctx, (size_t)(q * kq) * sizeof *idx, "assess distances");
    double *nn = (double *)lsc_malloc(ctx, (size_t)q * sizeof *nn, "assess distances");
    lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
    ko.exclude_self = q == s->na;
    ko.metric = s->metric;
    if (q < s->na)
        for (int64_t t = 0; t < q; t++)
            memcpy(s->wide_rows + t * d, s->a + s->sample_a[t] * d, (size_t)d * sizeof(float));
    lsc_matrix qm = lsc_matrix_f32(q < s->na ? s->wide_rows : s->a, q, d);
    lsc_status st = (dist && idx && nn)
                        ? lsc_knn(ctx, &qm, q == s->na ? NULL : &am, kq, &ko, dist, idx)
                        : LSC_STATUS_OUT_OF_MEMORY;
    if (st == LSC_STATUS_OK) {
        for (int64_t i = 0; i < q; i++) nn[i] = dist[i * kq + kq - 1];
        s->median_nn_a = median(nn, q);
    }
    free(dist);
    free(idx);
    free(nn);
    return st;
}

/* ---- the checks ----------------------------------------------------------------------------- */

static const char kMethodPrdc[] = "held-out real subsets of m rows against the reference's first "
                                  "half, the same sizes as the generated rows";

/* Everything measured: the J generated subsets' mean and the S held-out subsets. */
typedef struct {
    subset_stats g, *h;
    double *cov_g, *share_g, *cov_h, *share_h; /* classes: C, C, S x C, S x C */
    double *tmp;                               /* S values of one statistic */
    double *tmp_c;                             /* 2 C: one subset's class coverage and share */
    int prdc_ok;
} measured;

static void add_scaled(subset_stats *to, const subset_stats *x, double w)
{
    to->p += w * x->p;
    to->r += w * x->r;
    to->d += w * x->d;
    to->c += w * x->c;
    to->wide += w * x->wide;
    to->near += w * x->near;
    to->exact += w * x->exact;
    to->erank += w * x->erank;
    to->vendi += w * x->vendi;
    to->inactive += w * x->inactive;
    to->vendi_ok &= x->vendi_ok;
}

static lsc_status measure_subsets(lsc_ctx *ctx, shared *s, double radius, int generated,
                                  measured *me)
{
    const int64_t m = s->m, C = s->C;
    double *dist = (double *)lsc_malloc(ctx, (size_t)m * sizeof *dist, "assess distances");
    double *cov = (double *)lsc_calloc(ctx, (size_t)(2 * C + 1), sizeof *cov, "assess classes");
    lsc_status st = sh_agree(ctx, s, dist && cov ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY);
    if (st != LSC_STATUS_OK) {
        free(dist);
        free(cov);
        return st;
    }
    double *share = cov + C;
    if (generated) me->g.vendi_ok = 1;
    /* the copy tests (nearer than `radius`, exactly on a row) ride on each subset's PRDC pass
     * against A, unless each row's nearest row of A is wanted for its class: then one nearest-
     * row search per subset (and one over the held-out rows) finds both */
    const int fused = me->prdc_ok && !(C && !s->fake_labels);
    const lsc_prdc_near near = {lsc_v_from_dist((int)s->metric, radius), 0.0, s->near_g, NULL};
    for (int64_t j = 0; st == LSC_STATUS_OK && generated && j < s->J; j++) {
        subset_stats x = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        st = gather_generated(ctx, s, j);
        if (st == LSC_STATUS_OK && me->prdc_ok)
            st = prdc_of(ctx, s, s->g, &x, fused ? &near : NULL);
        if (st == LSC_STATUS_OK && me->prdc_ok) st = wide_of(ctx, s, s->g, &x);
        if (st == LSC_STATUS_OK && !fused) st = nearest_in_a(ctx, s, s->g, m);
        if (st == LSC_STATUS_OK) {
            if (fused) {
                copies_of_flags(s->near_g, m, &x);
            } else {
                for (int64_t i = 0; i < m; i++) dist[i] = s->nn_d[i];
                copies_of(dist, m, radius, &x);
            }
            st = sh_agree(ctx, s, spectrum_of(ctx, s, s->g, &x));
        }
        if (st == LSC_STATUS_OK && C && me->prdc_ok) {
            /* a generated row's class: its own label, else its nearest reference row's */
            for (int64_t i = 0; i < m; i++)
                s->cls_rows[i] = s->fake_labels ? class_of(s, s->fake_labels[s->pick[i]])
                                                : s->cls_ref[s->rows_a[s->nn_i[i]]];
            st = class_stats(ctx, s, cov, share);
            for (int64_t c = 0; st == LSC_STATUS_OK && c < C; c++) {
                me->cov_g[c] += cov[c] / (double)s->J;
                me->share_g[c] += share[c] / (double)s->J;
            }
        }
        add_scaled(&me->g, &x, 1.0 / (double)s->J);
    }
    /* the held-out subsets' statistics: measured once per reference and options (assess_cache) */
    if (st == LSC_STATUS_OK && !s->cached && !fused) st = held_out_nearest(ctx, s);
    for (int64_t t = 0; st == LSC_STATUS_OK && !s->cached && t < s->S; t++) {
        subset_stats *x = &me->h[t];
        st = gather_held_out(ctx, s, t);
        if (st == LSC_STATUS_OK && me->prdc_ok) st = prdc_of(ctx, s, s->h, x, fused ? &near : NULL);
        if (st == LSC_STATUS_OK && me->prdc_ok) st = wide_of(ctx, s, s->h, x);
        if (st != LSC_STATUS_OK) break;
        if (fused) {
            copies_of_flags(s->near_g, m, x);
        } else {
            for (int64_t i = 0; i < m; i++) dist[i] = s->held_nn[s->pick[i]];
            copies_of(dist, m, radius, x);
        }
        st = sh_agree(ctx, s, spectrum_of(ctx, s, s->h, x));
        if (st == LSC_STATUS_OK && C && me->prdc_ok) {
            /* held-out rows are classed as generated ones are: by label when generated labels
             * are given, else by their nearest reference row */
            for (int64_t i = 0; i < m; i++)
                s->cls_rows[i] = s->fake_labels ? s->cls_ref[s->pick[i]]
                                                : s->cls_ref[s->rows_a[s->held_nn_i[s->pick[i]]]];
            st = class_stats(ctx, s, me->cov_h + t * C, me->share_h + t * C);
        }
    }
    free(dist);
    free(cov);
    return st;
}

/* The user's full-size PRDC, with the per-row outcomes: the uncovered reference rows, most
 * uncovered first, and each class's full-size coverage. */
static lsc_status full_size(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                            const shared *s, const lsc_assess_opts *o, const lsc_prdc_judge *jg,
                            lsc_assessment *out)
{
    const double near_distance = o->near_distance;
    const int64_t n = ref->rows, d = ref->cols;
    unsigned char *flags = (unsigned char *)lsc_malloc(ctx, (size_t)n, "assess row flags");
    unsigned char *nf = near_distance >= 0 ? (unsigned char *)lsc_malloc(ctx, (size_t)fake->rows,
                                                                         "assess near rows")
                                           : NULL;
    if (!flags || (near_distance >= 0 && !nf)) {
        free(flags);
        return LSC_STATUS_OUT_OF_MEMORY;
    }
    /* the rows within near_distance of a reference row: one more test in the same pass */
    const lsc_prdc_near near = {-1.0, nf ? lsc_v_from_dist((int)ref->metric, near_distance) : -1.0,
                                nf, jg};
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    lsc_status st = lsc_prdc_near_rows(ctx, ref, fake, &r, flags, NULL, nf || jg ? &near : NULL);
    int64_t U = 0;
    if (st == LSC_STATUS_OK && nf) {
        out->near_rows = 0;
        for (int64_t j = 0; j < fake->rows; j++) out->near_rows += (nf[j] & LSC_NEAR_INCL) != 0;
    }
    free(nf);
    if (st == LSC_STATUS_OK) {
        out->prdc = r;
        for (int64_t i = 0; i < n; i++) U += !(flags[i] & LSC_ROW_COVERED);
        for (int64_t c = 0; c < s->C; c++) out->cls[c].coverage = 0.0;
        if (s->C) {
            int64_t *nc = (int64_t *)lsc_calloc(ctx, (size_t)s->C, sizeof *nc, "assess classes");
            if (!nc) st = LSC_STATUS_OUT_OF_MEMORY;
            for (int64_t i = 0; nc && i < n; i++) {
                nc[s->cls_ref[i]]++;
                if (flags[i] & LSC_ROW_COVERED) out->cls[s->cls_ref[i]].coverage += 1.0;
            }
            for (int64_t c = 0; nc && c < s->C; c++) out->cls[c].coverage /= (double)nc[c];
            free(nc);
        }
    }
    /* most uncovered first: the nearest generated row's distance over the row's radius */
    int64_t *rows = NULL, *idx = NULL;
    float *x = NULL, *dist = NULL;
    double *key = NULL;
    /* in row order; then, unless order_uncovered is 0, most uncovered first (a kNN pass) */
    const int order = o->order_uncovered != 0;
    if (st == LSC_STATUS_OK && U > 0) {
        rows = (int64_t *)lsc_malloc(ctx, (size_t)U * sizeof *rows, "uncovered rows");
        if (!rows) st = LSC_STATUS_OUT_OF_MEMORY;
        for (int64_t i = 0, u = 0; rows && i < n; i++)
            if (!(flags[i] & LSC_ROW_COVERED)) rows[u++] = i;
    }
    if (st == LSC_STATUS_OK && U > 0 && order) {
        idx = (int64_t *)lsc_malloc(ctx, (size_t)U * sizeof *idx, "uncovered rows");
        dist = (float *)lsc_malloc(ctx, (size_t)U * sizeof *dist, "uncovered rows");
        key = (double *)lsc_malloc(ctx, (size_t)U * 2 * sizeof *key, "uncovered rows");
        size_t bytes;
        st = lsc_bytes(ctx, lsc_mul_i64(U, d), sizeof(float), &bytes, "uncovered rows");
        x = st == LSC_STATUS_OK ? (float *)lsc_malloc(ctx, bytes, "uncovered rows") : NULL;
        if (!idx || !dist || !key || !x) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (st == LSC_STATUS_OK && U > 0 && order) {
        lsc_matrix rm = lsc_matrix_f32(ref->data, n, d);
        gather(&rm, rows, U, x);
        lsc_matrix q = lsc_matrix_f32(x, U, d);
        lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
        ko.metric = ref->metric;
        st = lsc_knn(ctx, &q, fake, 1, &ko, dist, idx);
    }
    if (st == LSC_STATUS_OK && U > 0 && order) {
        /* sort (ratio descending, row ascending) as pairs of doubles: rows stay exact below 2^53 */
        for (int64_t u = 0; u < U; u++) {
            const double r0 = ref->radius[rows[u]];
            key[2 * u] = -(r0 > 0 ? (double)dist[u] / r0 : INFINITY);
            key[2 * u + 1] = (double)rows[u];
        }
        qsort(key, (size_t)U, 2 * sizeof *key, cmp_f64_pair);
        for (int64_t u = 0; u < U; u++) rows[u] = (int64_t)key[2 * u + 1];
    }
    if (st == LSC_STATUS_OK && U > 0) {
        out->uncovered_rows = rows;
        rows = NULL;
    }
    if (st == LSC_STATUS_OK) out->uncovered = U;
    free(flags);
    free(rows);
    free(idx);
    free(dist);
    free(key);
    free(x);
    return st;
}

/* Sharded: the generated shards' walk round the ranks after the full-size PRDC, for what that
 * pass does not give across ranks: the nearest generated row of each of this rank's uncovered
 * reference rows (their order), and whether each generated row lies within near_distance of some
 * reference row (its flag travels with its shard and comes home). */
typedef struct full_walk {
    const lsc_reference *ref;
    const int64_t *fake_rows;
    int64_t d, u;
    int metric, near;
    double incl_v;
    const float *xu; /* this rank's uncovered reference rows (u x d) */
    double *vu;      /* their nearest generated row's value so far */
} full_walk;

static lsc_status full_visit(lsc_ctx *ctx, void *user, int64_t origin, unsigned char *block)
{
    const full_walk *W = (const full_walk *)user;
    const int64_t mr = W->fake_rows[origin], nr = W->ref->rows;
    if (mr == 0) return LSC_STATUS_OK;
    const lsc_matrix fb = lsc_matrix_f32((const float *)block, mr, W->d);
    const int64_t most = mr > W->u ? mr : W->u;
    double *v = (double *)lsc_malloc(ctx, (size_t)most * sizeof *v + 1, "assess distances");
    int64_t *ix = (int64_t *)lsc_malloc(ctx, (size_t)most * sizeof *ix + 1, "assess distances");
    lsc_status st = v && ix ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY;
    if (st == LSC_STATUS_OK && W->u > 0) {
        const lsc_matrix q = lsc_matrix_f32(W->xu, W->u, W->d);
        st = lsc_shard_knn(ctx, &q, &fb, 1, W->metric, v, ix, 0.0, 1.0);
        for (int64_t i = 0; st == LSC_STATUS_OK && i < W->u; i++)
            if (v[i] < W->vu[i]) W->vu[i] = v[i];
    }
    if (st == LSC_STATUS_OK && W->near && nr > 0) {
        const lsc_matrix rb = lsc_matrix_f32(W->ref->data, nr, W->d);
        unsigned char *flag = block + (size_t)(mr * W->d) * sizeof(float);
        st = lsc_shard_knn(ctx, &fb, &rb, 1, W->metric, v, ix, 0.0, 1.0);
        for (int64_t j = 0; st == LSC_STATUS_OK && j < mr; j++) flag[j] |= v[j] <= W->incl_v;
    }
    free(v);
    free(ix);
    return st;
}

/* Sharded: full_size over the ranks' shards - the full-size PRDC by lsc_prdc_rows_sharded, the
 * class coverages and the uncovered rows (global indices) summed and gathered on every rank. */
static lsc_status full_size_sharded(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                                    const shared *s, const lsc_assess_opts *o, lsc_assessment *out)
{
    const assess_shards *sh = s->sh;
    const int64_t nr = ref->rows, mr = fake->rows, d = s->d, C = s->C, ranks = lsc_tp_ranks(ctx);
    const int near = o->near_distance >= 0, order = o->order_uncovered != 0;
    unsigned char *flags = (unsigned char *)lsc_malloc(ctx, (size_t)nr + 1, "assess row flags");
    int64_t *ct = (int64_t *)lsc_calloc(ctx, (size_t)(2 * C + 2), sizeof *ct, "assess classes");
    /* each generated shard's block, and where its near flags start (only they come home) */
    size_t *sizes = (size_t *)lsc_malloc(ctx, (size_t)ranks * 2 * sizeof *sizes, "assess sizes");
    lsc_status st = flags && ct && sizes ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY;
    st = sh_agree(ctx, s, st);
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    if (st == LSC_STATUS_OK) st = lsc_prdc_rows_sharded(ctx, ref, fake, &r, flags, NULL);
    /* per class: covered rows, then rows; then this rank's uncovered rows */
    int64_t u = 0;
    for (int64_t i = 0; st == LSC_STATUS_OK && i < nr; i++) {
        const int covered = (flags[i] & LSC_ROW_COVERED) != 0;
        u += !covered;
        if (C) {
            ct[s->cls_ref[sh->first + i]] += covered;
            ct[C + s->cls_ref[sh->first + i]]++;
        }
    }
    if (ct) ct[2 * C] = u;
    st = lsc_tp_sum_i64(ctx, st, ct, 2 * C + 1);
    if (st == LSC_STATUS_OK) {
        out->prdc = r;
        for (int64_t c = 0; c < C; c++) out->cls[c].coverage = (double)ct[c] / (double)ct[C + c];
    }
    const int64_t U = st == LSC_STATUS_OK ? ct[2 * C] : 0;
    /* this rank's uncovered rows: (key, global row) pairs, the key as one process sorts by */
    double *key = NULL, *vu = NULL;
    float *xu = NULL;
    unsigned char *block = NULL;
    if (st == LSC_STATUS_OK) {
        key = (double *)lsc_malloc(ctx, (size_t)u * 2 * sizeof *key + 1, "uncovered rows");
        vu = (double *)lsc_malloc(ctx, (size_t)u * sizeof *vu + 1, "uncovered rows");
        xu = order ? (float *)lsc_malloc(ctx, (size_t)(u * d) * sizeof *xu + 1, "uncovered rows")
                   : NULL;
        size_t bb = 0;
        st = lsc_bytes(ctx, lsc_mul_i64(mr, d * (int64_t)sizeof(float) + near), 1, &bb,
                       "a generated shard");
        block = st == LSC_STATUS_OK ? (unsigned char *)lsc_calloc(ctx, bb + 1, 1,
                                                                  "a generated "
                                                                  "shard")
                                    : NULL;
        if (st == LSC_STATUS_OK && (!key || !vu || (order && !xu) || !block))
            st = LSC_STATUS_OUT_OF_MEMORY;
        for (int64_t r0 = 0; st == LSC_STATUS_OK && r0 < ranks; r0++) {
            sizes[r0] = (size_t)(sh->fake_rows[r0] * (d * (int64_t)sizeof(float) + near));
            sizes[ranks + r0] = (size_t)(sh->fake_rows[r0] * d) * sizeof(float);
        }
    }
    if (st == LSC_STATUS_OK) {
        lsc_matrix fm = *fake;
        float *ff = NULL;
        st = lsc_rows_f32(ctx, &fm, &ff);
        if (ff) memcpy(block, ff, (size_t)(mr * d) * sizeof(float));
        free(ff);
        for (int64_t i = 0, t = 0; st == LSC_STATUS_OK && i < nr; i++) {
            if (flags[i] & LSC_ROW_COVERED) continue;
            if (order) memcpy(xu + t * d, ref->data + i * d, (size_t)d * sizeof(float));
            vu[t] = INFINITY;
            key[2 * t + 1] = (double)(sh->first + i);
            t++;
        }
    }
    st = sh_agree(ctx, s, st);
    if (st == LSC_STATUS_OK && (near || (order && U > 0))) {
        full_walk W = {ref,
                       sh->fake_rows,
                       d,
                       order ? u : 0,
                       (int)ref->metric,
                       near,
                       near ? lsc_v_from_dist((int)ref->metric, o->near_distance) : -1.0,
                       xu,
                       vu};
        st = lsc_ring_walk(ctx, sizes, block, near ? sizes + ranks : NULL, full_visit, &W,
                           block + sizes[ranks + lsc_tp_rank(ctx)], "lsc_assess_sharded");
    }
    if (st == LSC_STATUS_OK && near) {
        int64_t hits = 0;
        const unsigned char *flag = block + (size_t)(mr * d) * sizeof(float);
        for (int64_t j = 0; j < mr; j++) hits += flag[j] != 0;
        st = lsc_tp_sum_i64(ctx, st, &hits, 1);
        if (st == LSC_STATUS_OK) out->near_rows = hits;
    }
    /* the uncovered rows of every rank: most uncovered first, else in row order (rank order) */
    for (int64_t t = 0; st == LSC_STATUS_OK && order && t < u; t++) {
        const double r0 = ref->radius[(int64_t)key[2 * t + 1] - sh->first];
        const double dist = (float)lsc_dist_from_v((int)ref->metric, vu[t]);
        key[2 * t] = -(r0 > 0 ? dist / r0 : INFINITY);
    }
    void *all = NULL;
    size_t total = 0;
    if (st == LSC_STATUS_OK)
        st = lsc_tp_concat(ctx, st, key, (size_t)u * 2 * sizeof *key, &all, &total);
    if (st == LSC_STATUS_OK && U > 0) {
        double *k2 = (double *)all;
        if (order) qsort(k2, (size_t)U, 2 * sizeof *k2, cmp_f64_pair);
        out->uncovered_rows = (int64_t *)lsc_malloc(ctx, (size_t)U * sizeof(int64_t),
                                                    "uncovered "
                                                    "rows");
        for (int64_t t = 0; out->uncovered_rows && t < U; t++)
            out->uncovered_rows[t] = (int64_t)k2[2 * t + 1];
        if (!out->uncovered_rows) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    st = sh_agree(ctx, s, st);
    if (st == LSC_STATUS_OK) out->uncovered = U;
    free(all);
    free(flags);
    free(ct);
    free(sizes);
    free(key);
    free(vu);
    free(xu);
    free(block);
    return st;
}

/* The generated subsets judged inside the full-size PRDC pass (lsc_prdc_judge): each subset's
 * radii among its own rows and its spectrum first, then the one pass, then each subset's
 * statistics from the pass's outcomes. They are the figures prdc_of, wide_of and the fused copy
 * tests give in a pass of their own, decision for decision. A Monitor step is then its own full-size pass plus J passes of m x m
 * for the subsets' radii, where the separate form adds J passes of m x N / 2. */
static lsc_status judged_in_full_pass(lsc_ctx *ctx, const lsc_reference *ref,
                                      const lsc_matrix *fake, shared *s, double radius,
                                      const lsc_assess_opts *o, measured *me, lsc_assessment *out)
{
    const int64_t n = ref->rows, M = fake->rows, m = s->m, J = s->J, C = s->C, na = s->na;
    lsc_prdc_judge jg;
    memset(&jg, 0, sizeof jg);
    jg.subsets = (int)J;
    jg.strict_v = lsc_v_from_dist((int)s->metric, radius);
    double *ball = (double *)lsc_malloc(ctx, (size_t)n * 2 * sizeof *ball, "assess radii");
    double *sub_v = (double *)lsc_malloc(ctx, (size_t)M * sizeof *sub_v, "assess radii");
    signed char *subset = (signed char *)lsc_malloc(ctx, (size_t)M, "assess subsets");
    int64_t *density = (int64_t *)lsc_malloc(ctx, (size_t)M * sizeof *density, "assess counts");
    unsigned char *bytes =
        (unsigned char *)lsc_malloc(ctx, (size_t)(3 * J * n + M), "assess row outcomes");
    subset_stats x[LSC_JUDGE_MAX];
    memset(x, 0, sizeof x);
    lsc_status st =
        ball && sub_v && subset && density && bytes ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY;
    if (st == LSC_STATUS_OK) {
        jg.ball_v = ball;
        jg.wide_v = ball + n;
        jg.subset = subset;
        jg.sub_v = sub_v;
        jg.density = density;
        jg.cov = bytes;
        jg.rec = bytes + J * n;
        jg.wide = bytes + 2 * J * n;
        jg.flags = bytes + 3 * J * n;
        for (int64_t i = 0; i < 2 * n; i++) ball[i] = -1.0;
        for (int64_t t = 0; t < na; t++) ball[s->rows_a[t]] = s->ref_a->radius_v[t];
        /* the widened balls of the n_w sampled rows only: wide coverage counts no other, and
         * a wider ball lets many more pairs past the pass's prefilter */
        for (int64_t t = 0; t < s->nw; t++) {
            const int64_t p = s->sample_a[t];
            ball[n + s->rows_a[p]] =
                lsc_v_from_dist((int)s->metric, WIDE_FACTOR * s->ref_a->radius[p]);
        }
        memset(subset, -1, (size_t)M);
    }
    /* each subset's radii (a reference of its own rows) and spectrum */
    for (int64_t j = 0; st == LSC_STATUS_OK && j < J; j++) {
        st = gather_generated(ctx, s, j);
        lsc_matrix gm = lsc_matrix_f32(s->g, m, s->d);
        lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
        ro.metric = ref->metric;
        ro.comparison = ref->comparison;
        ro.borrow_rows = 1;
        lsc_reference *rj = NULL;
        if (st == LSC_STATUS_OK) st = lsc_reference_create(ctx, &gm, s->k, &ro, &rj);
        for (int64_t i = 0; st == LSC_STATUS_OK && i < m; i++) {
            subset[s->pick[i]] = (signed char)j;
            sub_v[s->pick[i]] = rj->radius_v[i];
        }
        lsc_reference_destroy(rj);
        if (st == LSC_STATUS_OK) st = spectrum_of(ctx, s, s->g, &x[j]);
    }
    if (st == LSC_STATUS_OK) st = full_size(ctx, ref, fake, s, o, &jg, out);
    me->g.vendi_ok = 1;
    for (int64_t j = 0; st == LSC_STATUS_OK && j < J; j++) {
        st = lsc_sample_rows(ctx, s->seed, M, j * m, m, s->pick);
        if (st != LSC_STATUS_OK) break;
        int64_t held = 0, dens = 0, cn = 0, ce = 0, cov = 0, rec = 0, wide = 0;
        for (int64_t i = 0; i < m; i++) {
            const int64_t r = s->pick[i];
            held += density[r] > 0;
            dens += density[r];
            cn += (jg.flags[r] & LSC_NEAR_STRICT) != 0;
            ce += (jg.flags[r] & LSC_NEAR_INCL) != 0;
        }
        const unsigned char *cj = jg.cov + j * n, *rj = jg.rec + j * n, *wj = jg.wide + j * n;
        for (int64_t t = 0; t < na; t++) {
            const int64_t i = s->rows_a[t];
            s->flags_a[t] = cj[i] ? LSC_ROW_COVERED : 0;
            cov += cj[i] != 0;
            rec += rj[i] != 0;
        }
        for (int64_t t = 0; t < s->nw; t++) {
            const int64_t i = s->rows_a[s->sample_a[t]];
            wide += cj[i] || wj[i];
        }
        x[j].p = (double)held / (double)m;
        x[j].d = (double)dens / ((double)s->k * (double)m);
        x[j].r = (double)rec / (double)na;
        x[j].c = (double)cov / (double)na;
        x[j].wide = (double)wide / (double)s->nw;
        x[j].near = (double)cn / (double)m;
        x[j].exact = (double)ce / (double)m;
        if (C) { /* generated labels (the fused form is not used without them) */
            double *cv = me->tmp_c, *sh = me->tmp_c + C;
            for (int64_t i = 0; i < m; i++)
                s->cls_rows[i] = class_of(s, s->fake_labels[s->pick[i]]);
            st = class_stats(ctx, s, cv, sh);
            for (int64_t c = 0; c < C; c++) {
                me->cov_g[c] += cv[c] / (double)J;
                me->share_g[c] += sh[c] / (double)J;
            }
        }
        add_scaled(&me->g, &x[j], 1.0 / (double)J);
    }
    free(ball);
    free(sub_v);
    free(subset);
    free(density);
    free(bytes);
    return st;
}

/* Judges every class: coverage loss ("missing") and share excess ("over-produced"), each
 * family Holm-corrected over the classes inside the six checks' Bonferroni budget. */
static lsc_status judge_classes(lsc_ctx *ctx, const shared *s, const measured *me,
                                lsc_assessment *out)
{
    const int64_t C = s->C, S = s->S, m = s->m;
    const double dof = (double)(S - 1);
    lsc_verdict *vm = (lsc_verdict *)lsc_calloc(ctx, (size_t)(2 * C), sizeof *vm, "assess classes");
    double *det = (double *)lsc_calloc(ctx, (size_t)(2 * C), sizeof *det, "assess classes");
    int64_t *order = (int64_t *)lsc_calloc(ctx, (size_t)C, sizeof *order, "assess classes");
    double *h = (double *)lsc_calloc(ctx, (size_t)S, sizeof *h, "assess classes");
    if (!vm || !det || !order || !h) {
        free(vm), free(det), free(order), free(h);
        return LSC_STATUS_OUT_OF_MEMORY;
    }
    for (int64_t c = 0; c < C; c++) {
        lsc_verdict *a = &vm[c], *b = &vm[C + c];
        a->borderline_line = kClassMissing.borderline;
        a->collapse_line = kClassMissing.collapse;
        b->borderline_line = kClassOver.borderline;
        b->collapse_line = kClassOver.collapse;
        for (int64_t t = 0; t < S; t++) h[t] = me->cov_h[t * C + c];
        /* a proportion of the class's rows of A: not below one row's worth */
        const double nc = s->n_cls_a[c] > 0 ? (double)s->n_cls_a[c] : 1.0;
        det[c] = measure(a, me->cov_g[c], h, S, 1, 0.5 / nc, s, t_quantile(Z_COLLAPSE, dof));
        for (int64_t t = 0; t < S; t++) h[t] = me->share_h[t * C + c];
        double p = 0;
        for (int64_t t = 0; t < S; t++) p += h[t] / (double)S;
        det[C + c] =
            measure(b, me->share_g[c], h, S, 0, share_floor(p, m), s, t_quantile(Z_COLLAPSE, dof));
        /* over-production is relative to the class's own share */
        b->effect = b->baseline > 0 ? me->share_g[c] / b->baseline - 1.0
                                    : (me->share_g[c] > 0 ? INFINITY : 0.0);
        det[C + c] = b->baseline > 0 ? det[C + c] / b->baseline : INFINITY;
        /* a class can lose all its coverage: it is not assessed only when even that could not
         * be told from chance (its level still needs the collapse line's effect) */
        det[c] = s->n_cls_a[c] == 0 || det[c] > 1.0 ? INFINITY : 0.0;
    }
    /* Holm: the i-th largest score against the quantile of alpha / (6 (C - i)), stepping down */
    for (int fam = 0; fam < 2; fam++) {
        lsc_verdict *v = vm + fam * C;
        for (int64_t c = 0; c < C; c++) order[c] = c;
        for (int64_t i = 1; i < C; i++) /* insertion sort by score, descending: C is small */
            for (int64_t j = i; j > 0 && v[order[j]].score > v[order[j - 1]].score; j--) {
                const int64_t t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        int sig_b = 1, sig_c = 1;
        for (int64_t i = 0; i < C; i++) {
            lsc_verdict *x = &v[order[i]];
            const double left = (double)(6 * (C - i));
            sig_b = sig_b && x->score >= t_quantile(z_upper(0.01 / left), dof);
            sig_c = sig_c && x->score >= t_quantile(z_upper(0.001 / left), dof);
            decide(x, sig_b, sig_c, det[fam * C + order[i]]);
        }
    }
    for (int64_t c = 0; c < C; c++) {
        lsc_class_verdict *o = &out->cls[c];
        const lsc_verdict *a = &vm[c], *b = &vm[C + c];
        o->size = sizeof *o;
        o->label = s->labels[c];
        o->real_rows = 0;
        o->level = a->level;
        o->matched = a->matched;
        o->baseline = a->baseline;
        o->spread = a->spread;
        o->effect = a->effect;
        o->score = a->score;
        o->share_level = b->level;
        o->share = b->matched;
        o->share_baseline = b->baseline;
        o->share_effect = b->effect;
        o->share_score = b->score;
    }
    for (int64_t i = 0; i < s->n; i++) out->cls[s->cls_ref[i]].real_rows++;
    free(vm), free(det), free(order), free(h);
    return LSC_STATUS_OK;
}

/* Mode collapse takes the worst missing class's level; `why` names the missing classes. */
static void classes_into_mode_collapse(const lsc_assessment *a, lsc_verdict *mc)
{
    lsc_level worst = LSC_LEVEL_OK;
    int64_t missing = 0, over = 0;
    for (int64_t c = 0; c < a->classes; c++) {
        const lsc_class_verdict *x = &a->cls[c];
        if (x->level == LSC_LEVEL_BORDERLINE || x->level == LSC_LEVEL_COLLAPSE) {
            missing++;
            if (x->level > worst) worst = x->level;
        }
        over += x->share_level == LSC_LEVEL_BORDERLINE || x->share_level == LSC_LEVEL_COLLAPSE;
    }
    if (worst > LSC_LEVEL_OK && (mc->level == LSC_LEVEL_NOT_ASSESSED || worst > mc->level))
        mc->level = worst;
    why_add(mc, "; %lld of %lld classes under-covered", (long long)missing, (long long)a->classes);
    int64_t listed = 0;
    for (int64_t c = 0; c < a->classes && listed < 8; c++) {
        const lsc_class_verdict *x = &a->cls[c];
        if (x->level != LSC_LEVEL_BORDERLINE && x->level != LSC_LEVEL_COLLAPSE) continue;
        why_add(mc, "%s %lld (%.0f%% less coverage)", listed ? "," : ":", (long long)x->label,
                100.0 * x->effect);
        listed++;
    }
    if (over) why_add(mc, "; %lld over-produced", (long long)over);
}

static lsc_status run_checks(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                             const lsc_assess_opts *o, const assess_shards *sh, lsc_assessment *out)
{
    shared s;
    lsc_status st = shared_make(ctx, ref, fake, o, sh, &s);
    if (sh) st = lsc_tp_agree(ctx, st, NULL, 0, NULL);
    const int64_t S = s.S, m = s.m, d = s.d, C = s.C;
    measured me;
    memset(&me, 0, sizeof me);
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
    out->uncovered = -1;
    out->near_rows = -1;
    const assess_cache *cache = (const assess_cache *)ctx->assess_cache;
    if (st == LSC_STATUS_OK) {
        if (s.cached) { /* borrowed from the cache, given back (or dropped) below */
            me.h = cache->h;
            me.cov_h = cache->cov_h;
        } else {
            me.h = (subset_stats *)lsc_calloc(ctx, (size_t)S, sizeof *me.h, "assess statistics");
            me.cov_h = (double *)lsc_calloc(ctx, (size_t)(2 * S * C + 1), sizeof *me.cov_h,
                                            "assess classes");
        }
        me.tmp = (double *)lsc_calloc(ctx, (size_t)S, sizeof *me.tmp, "assess statistics");
        me.cov_g =
            (double *)lsc_calloc(ctx, (size_t)(2 * C + 1), sizeof *me.cov_g, "assess classes");
        me.tmp_c =
            (double *)lsc_calloc(ctx, (size_t)(2 * C + 1), sizeof *me.tmp_c, "assess classes");
        out->cls =
            C ? (lsc_class_verdict *)lsc_calloc(ctx, (size_t)C, sizeof *out->cls, "assess classes")
              : NULL;
        if (!me.h || !me.cov_h || !me.tmp || !me.cov_g || !me.tmp_c || (C && !out->cls))
            st = LSC_STATUS_OUT_OF_MEMORY;
        out->classes = C;
        st = sh_agree(ctx, &s, st);
    }
    if (me.cov_g) me.share_g = me.cov_g + C;
    if (me.cov_h) me.share_h = me.cov_h + S * C;
    /* the first half as a reference of its own, and its nearest-neighbour distances */
    me.prdc_ok = s.k < m && s.k + 1 < s.na;
    if (st == LSC_STATUS_OK && !s.cached) st = judging_half(ctx, &s, me.prdc_ok, 1);
    if (st == LSC_STATUS_OK && !s.cached) st = place_half(ctx, &s);
    const double radius = o->memorisation_factor * s.median_nn_a;
    /* the user's full-size figures (and rows, when this call computes them), with the generated
     * subsets judged in the same pass unless each generated row's nearest reference row is
     * wanted for its class (labels without generated labels: measure_subsets searches it) */
    /* (sharded: the subsets are judged in passes of their own) */
    const int fused = !sh && !o->prdc && s.k < s.M && me.prdc_ok && !(C && !s.fake_labels);
    if (st == LSC_STATUS_OK) {
        if (o->prdc) out->prdc = *o->prdc; /* checked on entry to describe these sets */
        else if (fused) st = judged_in_full_pass(ctx, ref, fake, &s, radius, o, &me, out);
        else if (s.k < s.M && sh) st = full_size_sharded(ctx, ref, fake, &s, o, out);
        else if (s.k < s.M) /* else no figures: the PRDC checks are not assessed */
            st = full_size(ctx, ref, fake, &s, o, NULL, out);
    }
    if (C && o->prdc && out->cls)
        for (int64_t c = 0; c < C; c++) out->cls[c].coverage = NAN;
    const lsc_prdc_result full = out->prdc;
    if (st == LSC_STATUS_OK) st = measure_subsets(ctx, &s, radius, !fused, &me);
    double det[LSC_CHECK_COUNT] = {0}; /* each check's smallest detectable effect */
    if (st == LSC_STATUS_OK) {
        const subset_stats g = me.g;
        double *tmp = me.tmp;
        const double mf = (double)m;
        char buf[200];
        /* PRDC-based checks */
        if (!me.prdc_ok) {
            snprintf(buf, sizeof buf,
                     "k=%lld needs more than %lld generated rows and %lld "
                     "reference rows per half; have %lld and %lld",
                     (long long)s.k, (long long)s.k, (long long)s.k + 1, (long long)m,
                     (long long)s.na);
            not_assessed(&v[LSC_CHECK_MODE_COLLAPSE], buf);
            not_assessed(&v[LSC_CHECK_LOW_FIDELITY], buf);
            not_assessed(&v[LSC_CHECK_DIVERSITY_LOSS], buf);
        } else {
            /* coverage with balls WIDE_FACTOR x wider: a loss that the widened balls do not
             * show is of generated rows near the real ones but off them, not of a region */
            lsc_verdict wv;
            verdict_init(&wv, LSC_CHECK_MODE_COLLAPSE, "wide_coverage", kMethodPrdc);
            wv.borderline_line = kWide.borderline;
            wv.collapse_line = kWide.collapse;
            for (int64_t t = 0; t < S; t++) tmp[t] = me.h[t].wide;
            judge(&wv, g.wide, tmp, S, 1, 0.5 / (double)s.nw, &s);
            for (int64_t t = 0; t < S; t++) tmp[t] = me.h[t].c;
            /* a proportion of na rows: its spread cannot be below one row's worth */
            det[LSC_CHECK_MODE_COLLAPSE] = judge_either(&v[LSC_CHECK_MODE_COLLAPSE], &wv, g.c, tmp,
                                                        S, 1, 0.5 / (double)s.na, &s);
            v[LSC_CHECK_MODE_COLLAPSE].value = full.coverage;
            for (int64_t t = 0; t < S; t++) tmp[t] = me.h[t].p;
            det[LSC_CHECK_LOW_FIDELITY] =
                judge(&v[LSC_CHECK_LOW_FIDELITY], g.p, tmp, S, 1, 0.5 / mf, &s);
            v[LSC_CHECK_LOW_FIDELITY].value = full.precision;
            for (int64_t t = 0; t < S; t++) tmp[t] = me.h[t].r;
            det[LSC_CHECK_DIVERSITY_LOSS] =
                judge(&v[LSC_CHECK_DIVERSITY_LOSS], g.r, tmp, S, 1, 0.5 / (double)s.na, &s);
            v[LSC_CHECK_DIVERSITY_LOSS].value = full.recall;
            double hd = 0;
            for (int64_t t = 0; t < S; t++) hd += me.h[t].d;
            hd /= (double)S;
            const double density_ratio = hd > 0 ? g.d / hd : 1.0;
            lsc_verdict *mc = &v[LSC_CHECK_MODE_COLLAPSE];
            snprintf(mc->why, sizeof mc->why,
                     "coverage %.3f where held-out real rows of the same size give %.3f +- %.3f "
                     "(%.1f%% %s; recall %.3f vs %.3f)",
                     g.c, mc->baseline, mc->spread, 100.0 * fabs(mc->effect), lower(mc->effect),
                     g.r, v[LSC_CHECK_DIVERSITY_LOSS].baseline);
            /* the wide level caps the plain one (a class's own loss, below, is not capped) */
            why_add(mc, "; balls %.1f x wider: %.3f vs %.3f (%.1f%% %s)", WIDE_FACTOR, g.wide,
                    wv.baseline, 100.0 * fabs(wv.effect), lower(wv.effect));
            if (wv.level != LSC_LEVEL_NOT_ASSESSED && mc->level != LSC_LEVEL_NOT_ASSESSED &&
                wv.level < mc->level) {
                /* "off the real ones" needs a sign of it: generated rows whose precision is as
                 * high as held-out rows' sit on the real support, and a loss of coverage
                 * they leave is as likely missing modes beside kept ones: the cap sits one
                 * level above the wide level (`ok` gives `borderline`, `borderline` none) */
                const lsc_verdict *pv = &v[LSC_CHECK_LOW_FIDELITY];
                if (pv->score < FIDELITY_INTACT_SCORE) {
                    const lsc_level cap =
                        wv.level == LSC_LEVEL_OK ? LSC_LEVEL_BORDERLINE : LSC_LEVEL_COLLAPSE;
                    if (cap < mc->level) mc->level = cap;
                    why_add(mc,
                            ": %s, but precision is as high as held-out rows' (%.3f vs %.3f): "
                            "missing modes next to kept ones, not rows off the real ones%s",
                            wv.level == LSC_LEVEL_OK ? "every region keeps a generated row nearby"
                                                     : "the widened balls lose less",
                            pv->matched, pv->baseline,
                            cap == LSC_LEVEL_BORDERLINE ? " (or rows just off them); at most "
                                                          "borderline"
                                                        : "");
                } else {
                    mc->level = wv.level;
                    why_add(mc,
                            ": generated rows near the real ones but off them, not a "
                            "missing region, so %s",
                            wv.level == LSC_LEVEL_OK ? "coverage shows no mode collapse"
                                                     : "coverage shows at most borderline");
                }
            }
            /* generated rows that reach nearly every real region (the widened balls lose less
             * than twice their collapse line, or less than a third of recall's loss) but whose
             * own neighbourhoods are far tighter than the real ones' (recall's loss at least
             * 1.5 x coverage's and beyond its collapse line) lose coverage by concentrating
             * within the regions: diversity loss */
            const lsc_verdict *rv = &v[LSC_CHECK_DIVERSITY_LOSS];
            if (mc->level == LSC_LEVEL_COLLAPSE && wv.level != LSC_LEVEL_NOT_ASSESSED &&
                wv.effect < fmax(2.0 * kWide.collapse, rv->effect / CONCENTRATION_WIDE_RATIO) &&
                rv->effect >= rv->collapse_line && rv->effect >= CONCENTRATION_RATIO * mc->effect) {
                mc->level = LSC_LEVEL_BORDERLINE;
                why_add(mc,
                        "; explained by concentration (recall %.1f%% lower, far more than "
                        "coverage): see diversity_loss; at most borderline",
                        100.0 * rv->effect);
            }
            if (C && (st = judge_classes(ctx, &s, &me, out)) == LSC_STATUS_OK)
                classes_into_mode_collapse(out, mc);
            if (density_ratio < 0.5 && mc->level == LSC_LEVEL_COLLAPSE) {
                mc->level = LSC_LEVEL_BORDERLINE;
                why_add(mc, "; explained by low fidelity (density ratio below 0.5), so at most "
                            "borderline");
            }
            lsc_verdict *lf = &v[LSC_CHECK_LOW_FIDELITY];
            snprintf(lf->why, sizeof lf->why,
                     "precision %.3f where held-out real rows give %.3f +- %.3f (%.1f%% %s); "
                     "density %.3f vs %.3f",
                     g.p, lf->baseline, lf->spread, 100.0 * fabs(lf->effect), lower(lf->effect),
                     g.d, hd);
        }
        /* zero radii hold nothing under the strict comparison: say what to do about it */
        const int64_t zero_radii = sh ? sh->zero_radii : ref->zero_radii;
        if (me.prdc_ok && zero_radii > 0 && ref->comparison == LSC_COMPARISON_STRICT) {
            for (int c = LSC_CHECK_MODE_COLLAPSE; c <= LSC_CHECK_LOW_FIDELITY; c++)
                why_add(&v[c],
                        "; %lld reference radii are 0 (k or more exact duplicates) and hold "
                        "nothing under the strict comparison: the inclusive one "
                        "(--inclusive) counts them",
                        (long long)zero_radii);
        }
        /* diversity loss: recall, and Vendi of the centred rows when both are available */
        lsc_verdict *dl = &v[LSC_CHECK_DIVERSITY_LOSS];
        int vendi_ok = g.vendi_ok;
        for (int64_t t = 0; t < S; t++) vendi_ok &= me.h[t].vendi_ok;
        if (vendi_ok) {
            lsc_verdict vv;
            verdict_init(&vv, LSC_CHECK_DIVERSITY_LOSS, "vendi_centred", dl->method);
            vv.borderline_line = 0.15;
            vv.collapse_line = 0.30;
            for (int64_t t = 0; t < S; t++) tmp[t] = me.h[t].vendi;
            const double vdet = judge(&vv, g.vendi, tmp, S, 1, 1e-9, &s);
            vv.value = g.vendi;
            if (!me.prdc_ok || (vv.level != LSC_LEVEL_NOT_ASSESSED &&
                                (dl->level == LSC_LEVEL_NOT_ASSESSED || vv.level > dl->level))) {
                *dl = vv;
                det[LSC_CHECK_DIVERSITY_LOSS] = vdet;
                snprintf(dl->why, sizeof dl->why,
                         "Vendi of the rows centred on the reference mean %.3f where held-out "
                         "real rows give %.3f +- %.3f (%.1f%% %s)",
                         g.vendi, vv.baseline, vv.spread, 100.0 * fabs(vv.effect),
                         lower(vv.effect));
            }
        }
        if (dl->why[0] == '\0')
            snprintf(dl->why, sizeof dl->why,
                     "recall %.3f where held-out real rows give %.3f +- %.3f (%.1f%% %s)",
                     dl->matched, dl->baseline, dl->spread, 100.0 * fabs(dl->effect),
                     lower(dl->effect));
        /* dimensional collapse */
        lsc_verdict *dc = &v[LSC_CHECK_DIMENSIONAL_COLLAPSE];
        for (int64_t t = 0; t < S; t++) tmp[t] = me.h[t].erank;
        det[LSC_CHECK_DIMENSIONAL_COLLAPSE] = judge(dc, g.erank, tmp, S, 1, 1e-9, &s);
        dc->value = g.erank;
        snprintf(dc->why, sizeof dc->why,
                 "effective rank %.3f where held-out real rows give %.3f +- %.3f (%.1f%% %s)",
                 g.erank, dc->baseline, dc->spread, 100.0 * fabs(dc->effect), lower(dc->effect));
        /* memorisation of the reference: near copies beyond what held-out rows show */
        lsc_verdict *mo = &v[LSC_CHECK_MEMORISATION];
        double pm = 0, ex = 0;
        for (int64_t t = 0; t < S; t++) {
            tmp[t] = me.h[t].near;
            pm += me.h[t].near / (double)S;
            ex += me.h[t].exact / (double)S;
        }
        det[LSC_CHECK_MEMORISATION] = judge(mo, g.near, tmp, S, 0, share_floor(pm, m), &s);
        mo->value = g.near;
        snprintf(mo->why, sizeof mo->why,
                 "%.2f%% of the generated rows lie within %.3g (%.2f x the median nearest-"
                 "neighbour distance) of a reference row, held-out real rows %.2f%% +- %.2f%%; "
                 "exact copies %.2f%% vs %.2f%% (memorisation of the reference set; of a "
                 "training set it is not assessed)",
                 100.0 * g.near, radius, o->memorisation_factor, 100.0 * mo->baseline,
                 100.0 * mo->spread, 100.0 * g.exact, 100.0 * ex);
        if (!(s.median_nn_a > 0))
            not_assessed(mo, "the reference's median nearest-neighbour distance is 0 (more "
                             "than half its rows are exact duplicates): copies cannot be told");
        /* posterior collapse: units without variance, beyond the held-out rows' share */
        lsc_verdict *pc = &v[LSC_CHECK_POSTERIOR_COLLAPSE];
        for (int64_t t = 0; t < S; t++) tmp[t] = me.h[t].inactive;
        det[LSC_CHECK_POSTERIOR_COLLAPSE] = judge(pc, g.inactive, tmp, S, 0, 0.5 / (double)d, &s);
        pc->value = g.inactive;
        snprintf(pc->why, sizeof pc->why,
                 "%.0f of %lld units (%.1f%%) have a variance below %.3g x the reference's "
                 "median unit variance, held-out real rows %.1f%%%s",
                 g.inactive * (double)d, (long long)d, 100.0 * g.inactive, o->inactive_factor,
                 100.0 * pc->baseline,
                 g.inactive - pc->baseline >= 0.9  ? " (total collapse)"
                 : pc->effect >= pc->collapse_line ? " (partial collapse)"
                                                   : "");
        if (!(s.median_unit_var > 0))
            not_assessed(pc, "the reference's median unit variance is 0: no unit can be judged");
        if (v[LSC_CHECK_DIMENSIONAL_COLLAPSE].baseline == 0)
            not_assessed(dc, "the held-out real rows are all identical: no rank to compare");
        /* say what not_assessed means where judge() decided it */
        for (int c = 0; c < LSC_CHECK_COUNT; c++) {
            lsc_verdict *x = &v[c];
            if (x->level != LSC_LEVEL_NOT_ASSESSED || !(det[c] > x->collapse_line)) continue;
            char was[sizeof x->why];
            snprintf(was, sizeof was, "%s", x->why);
            snprintf(x->why, sizeof x->why,
                     "not assessed: %lld generated rows resolve effects of %.3g, the collapse "
                     "line is %.3g; %.300s",
                     (long long)m, det[c], x->collapse_line, was);
        }
    }
    /* a call that got this far keeps the reference side for the next one; a failed call that
     * borrowed from the cache drops it (its buffers are half given away) */
    if (st == LSC_STATUS_OK) cache_keep(ctx, &s, o, &me.h, &me.cov_h);
    else if (s.cached) lsc_assess_cache_free(ctx);
    if (s.cached) me.h = NULL, me.cov_h = NULL;
    free(me.h);
    free(me.cov_h);
    free(me.tmp);
    free(me.tmp_c);
    free(me.cov_g);
    shared_free(&s);
    return st;
}

/* The options read and checked as both entry points take them. */
static lsc_status assess_read_opts(lsc_ctx *ctx, const lsc_assess_opts *opts, lsc_assess_opts *out)
{
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
    LSC_CHECK(ctx, o.order_uncovered == 0 || o.order_uncovered == 1, LSC_STATUS_INVALID_ARGUMENT,
              "assess opts: order_uncovered is %lld, expected 0 or 1",
              (long long)o.order_uncovered);
    LSC_CHECK(ctx, !isnan(o.near_distance) && o.near_distance < 1e300, LSC_STATUS_INVALID_ARGUMENT,
              "assess opts: near_distance %g must be finite (negative: not counted)",
              o.near_distance);
    *out = o;
    return LSC_STATUS_OK;
}

/* opts->prdc, when given, must describe these sets (n reference and M generated rows). */
static lsc_status assess_check_prdc(lsc_ctx *ctx, const lsc_assess_opts *o,
                                    const lsc_reference *ref, int64_t n, int64_t M)
{
    if (!o->prdc) return LSC_STATUS_OK;
    LSC_TRY(
        LSC_CHECK_RESULT(ctx, o->prdc, PRDC_RESULT, "assess opts: prdc", "LSC_PRDC_RESULT_INIT"));
    LSC_CHECK(ctx,
              o->prdc->size >= sizeof *o->prdc && o->prdc->k == ref->k && o->prdc->real_rows == n &&
                  o->prdc->fake_rows == M && o->prdc->metric == ref->metric &&
                  o->prdc->comparison == ref->comparison,
              LSC_STATUS_INVALID_ARGUMENT,
              "assess opts: prdc describes k=%lld, %lld real and %lld fake rows, not this "
              "reference (k=%lld, %lld rows) and fake set (%lld rows)",
              (long long)o->prdc->k, (long long)o->prdc->real_rows, (long long)o->prdc->fake_rows,
              (long long)ref->k, (long long)n, (long long)M);
    return LSC_STATUS_OK;
}

lsc_status lsc_assess(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                      const lsc_assess_opts *opts, lsc_assessment **out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, ref, LSC_STATUS_INVALID_ARGUMENT, "ref is NULL");
    LSC_TRY(lsc_check_whole(ctx, ref, "ref"));
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    lsc_assess_opts o;
    LSC_TRY(assess_read_opts(ctx, opts, &o));
    LSC_CHECK(ctx, !o.fake_labels || o.real_labels, LSC_STATUS_INVALID_ARGUMENT,
              "assess opts: fake_labels need real_labels (the classes come from the reference)");
    LSC_TRY(lsc_check_matrix(ctx, fake, "fake", 2));
    LSC_CHECK(ctx, fake->memory == LSC_MEMORY_HOST, LSC_STATUS_NOT_SUPPORTED,
              "fake: lsc_assess reads host memory (copy device rows to the host first)");
    LSC_CHECK(ctx, fake->cols == ref->cols, LSC_STATUS_INVALID_ARGUMENT,
              "fake has %lld cols, the reference has %lld", (long long)fake->cols,
              (long long)ref->cols);
    LSC_CHECK(ctx, ref->rows >= 8, LSC_STATUS_INVALID_ARGUMENT,
              "the reference has %lld rows; its halves need at least 4 each", (long long)ref->rows);
    LSC_TRY(assess_check_prdc(ctx, &o, ref, ref->rows, fake->rows));
    LSC_TRY(lsc_check_values(ctx, fake, "fake", ref->metric == LSC_METRIC_COSINE));
    lsc_assessment *a = (lsc_assessment *)lsc_calloc(ctx, 1, sizeof *a, "assessment");
    if (!a) return LSC_STATUS_OUT_OF_MEMORY;
    /* the calls below replace the context's last error: keep the first failure's message */
    lsc_status st = run_checks(ctx, ref, fake, &o, NULL, a);
    if (st != LSC_STATUS_OK) {
        lsc_assessment_destroy(a);
        return st;
    }
    *out = a;
    return LSC_STATUS_OK;
}

/* ---- sharded ------------------------------------------------------------------------------- */

enum {
    AS_REF_ROWS,
    AS_REF_TOTAL,
    AS_REF_FIRST,
    AS_COLS,
    AS_FAKE_ROWS,
    AS_K,
    AS_METRIC,
    AS_CMP,
    AS_RING,
    AS_ZERO,
    AS_REAL_LABELS,
    AS_FAKE_LABELS,
    AS_PRDC,
    AS_SPLITS,
    AS_SEED,
    AS_MEMO,
    AS_INACTIVE,
    AS_NEAR,
    AS_ORDER,
    AS_NVALS
};

static int64_t f64_bits(double x)
{
    int64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* The ranks' arguments compared and their layout into sh (fake_rows: `ranks` entries). */
static lsc_status assess_layout(lsc_ctx *ctx, const int64_t *all, assess_shards *sh,
                                int64_t *fake_rows)
{
    const int64_t ranks = lsc_tp_ranks(ctx), rank = lsc_tp_rank(ctx);
    int64_t n = 0, M = 0, zero = 0;
    for (int64_t r = 0; r < ranks; r++) {
        const int64_t *v = all + r * AS_NVALS;
        if (v[AS_COLS] != all[AS_COLS])
            return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                 "rank %lld has %lld cols, rank 0 has %lld", (long long)r,
                                 (long long)v[AS_COLS], (long long)all[AS_COLS]);
        if (v[AS_K] != all[AS_K] || v[AS_METRIC] != all[AS_METRIC] || v[AS_CMP] != all[AS_CMP] ||
            v[AS_REF_TOTAL] != all[AS_REF_TOTAL] || v[AS_REF_FIRST] != n)
            return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                 "ref: rank %lld's reference is not its shard of rank 0's (rows "
                                 "from %lld of %lld; expected rows from %lld of %lld, the same k, "
                                 "metric and comparison): make the shards with "
                                 "lsc_reference_create_sharded or lsc_reference_load_sharded on "
                                 "these ranks",
                                 (long long)r, (long long)v[AS_REF_FIRST],
                                 (long long)v[AS_REF_TOTAL], (long long)n,
                                 (long long)all[AS_REF_TOTAL]);
        for (int f = AS_PRDC; f < AS_NVALS; f++)
            if (v[f] != all[f])
                return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                     "assess opts: rank %lld's %s differs from rank 0's",
                                     (long long)r,
                                     f == AS_PRDC       ? "prdc (given or not)"
                                     : f == AS_SPLITS   ? "splits"
                                     : f == AS_SEED     ? "seed"
                                     : f == AS_MEMO     ? "memorisation_factor"
                                     : f == AS_INACTIVE ? "inactive_factor"
                                     : f == AS_NEAR     ? "near_distance"
                                                        : "order_uncovered");
        if (v[AS_FAKE_ROWS] > INT64_MAX - M)
            return lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "the ranks' fake rows overflow");
        if (r == rank) sh->fake_first = M;
        fake_rows[r] = v[AS_FAKE_ROWS];
        n += v[AS_REF_ROWS];
        M += v[AS_FAKE_ROWS];
        zero += v[AS_ZERO];
    }
    if (n != all[AS_REF_TOTAL])
        return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                             "ref: the ranks' shards hold %lld rows, the reference has %lld: make "
                             "the shards on these ranks",
                             (long long)n, (long long)all[AS_REF_TOTAL]);
    /* labels: given for every rank's rows or for none (a rank without rows may pass NULL) */
    for (int f = AS_REAL_LABELS; f <= AS_FAKE_LABELS; f++) {
        int any = 0, all_given = 1;
        for (int64_t r = 0; r < ranks; r++) {
            const int64_t *v = all + r * AS_NVALS;
            const int64_t rows = f == AS_REAL_LABELS ? v[AS_REF_ROWS] : v[AS_FAKE_ROWS];
            any |= v[f] != 0;
            if (rows > 0 && !v[f]) all_given = 0;
        }
        if (any && !all_given)
            return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                 "assess opts: %s given on some ranks, not on others holding rows",
                                 f == AS_REAL_LABELS ? "real_labels" : "fake_labels");
        /* marks only (non-NULL: given), replaced by the gathered labels */
        if (f == AS_REAL_LABELS) sh->real_labels = any ? &sh->n : NULL;
        else sh->fake_labels = any ? &sh->n : NULL;
    }
    if (sh->fake_labels && !sh->real_labels)
        return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                             "assess opts: fake_labels need real_labels (the classes come from "
                             "the reference)");
    for (int64_t r = 0; r < ranks; r++)
        if (ranks > 1 && !all[r * AS_NVALS + AS_RING])
            return lsc_tp_no_ring(ctx, "lsc_assess_sharded", r);
    if (n < 8)
        return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                             "the reference has %lld rows on all %lld ranks together; its halves "
                             "need at least 4 each",
                             (long long)n, (long long)ranks);
    if (M < 2)
        return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                             "fake: %lld rows on all %lld ranks together, expected at least 2",
                             (long long)M, (long long)ranks);
    sh->n = n;
    sh->M = M;
    sh->zero_radii = zero;
    sh->fake_rows = fake_rows;
    return LSC_STATUS_OK;
}

/* Every rank's labels (n_r each) concatenated, when the ranks give them. */
static lsc_status gather_labels(lsc_ctx *ctx, lsc_status st, int given, const int64_t *mine,
                                int64_t rows, int64_t total, int64_t **out)
{
    *out = NULL;
    if (!given) return st;
    void *all = NULL;
    size_t bytes = 0;
    st = lsc_tp_concat(ctx, st, rows ? mine : NULL, (size_t)rows * sizeof *mine, &all, &bytes);
    if (st == LSC_STATUS_OK && bytes != (size_t)total * sizeof *mine)
        st = lsc_set_error(ctx, LSC_STATUS_INTERNAL, "gathered %zu bytes of labels for %lld rows",
                           bytes, (long long)total);
    if (st != LSC_STATUS_OK) {
        free(all);
        return st;
    }
    *out = (int64_t *)all;
    return LSC_STATUS_OK;
}

lsc_status lsc_assess_sharded(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                              const lsc_assess_opts *opts, lsc_assessment **out)
{
    LSC_TRY(lsc_begin(ctx));
    const int64_t ranks = lsc_tp_ranks(ctx);

    /* phase 1: this rank's arguments and values, then the ranks' compared */
    lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
    lsc_status st = LSC_STATUS_OK;
    if (!ref || !out)
        st = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "%s is NULL", !ref ? "ref" : "out");
    if (st == LSC_STATUS_OK) st = assess_read_opts(ctx, opts, &o);
    if (st == LSC_STATUS_OK && ref->device_ops)
        st = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                           "ref: lsc_assess_sharded reads a host reference shard "
                           "(lsc_reference_create_sharded), not a device reference");
    if (st == LSC_STATUS_OK) st = lsc_check_shard(ctx, fake, "fake", 0);
    if (st == LSC_STATUS_OK && fake->cols != ref->cols)
        st = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                           "fake has %lld cols, the reference has %lld", (long long)fake->cols,
                           (long long)ref->cols);
    if (st == LSC_STATUS_OK) st = lsc_sharded_on_cpu(ctx, "the sharded verdicts");
    if (st == LSC_STATUS_OK)
        st = lsc_check_values(ctx, fake, "fake", ref->metric == LSC_METRIC_COSINE);
    int64_t mine[AS_NVALS];
    memset(mine, 0, sizeof mine);
    if (st == LSC_STATUS_OK) {
        mine[AS_REF_ROWS] = ref->rows;
        mine[AS_REF_TOTAL] = ref->shard_total ? ref->shard_total : ref->rows;
        mine[AS_REF_FIRST] = ref->shard_first;
        mine[AS_COLS] = ref->cols;
        mine[AS_FAKE_ROWS] = fake->rows;
        mine[AS_K] = ref->k;
        mine[AS_METRIC] = ref->metric;
        mine[AS_CMP] = ref->comparison;
        mine[AS_RING] = ctx->transport.ring != NULL || ranks == 1;
        mine[AS_ZERO] = ref->zero_radii;
        mine[AS_REAL_LABELS] = o.real_labels != NULL;
        mine[AS_FAKE_LABELS] = o.fake_labels != NULL;
        mine[AS_PRDC] = o.prdc != NULL;
        mine[AS_SPLITS] = o.splits;
        mine[AS_SEED] = (int64_t)o.seed;
        mine[AS_MEMO] = f64_bits(o.memorisation_factor);
        mine[AS_INACTIVE] = f64_bits(o.inactive_factor);
        mine[AS_NEAR] = f64_bits(o.near_distance < 0 ? -1.0 : o.near_distance);
        mine[AS_ORDER] = o.order_uncovered;
    }
    int64_t *all = (int64_t *)malloc((size_t)ranks * AS_NVALS * sizeof(int64_t));
    int64_t *fake_rows = (int64_t *)malloc((size_t)ranks * sizeof(int64_t));
    if ((!all || !fake_rows) && st == LSC_STATUS_OK)
        st = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                           "out of host memory for %lld ranks' shapes", (long long)ranks);
    st = lsc_tp_agree(ctx, st, mine, AS_NVALS, all);
    assess_shards sh;
    memset(&sh, 0, sizeof sh);
    sh.first = ref ? ref->shard_first : 0;
    /* decided from agreed values alone: the same on every rank */
    if (st == LSC_STATUS_OK) st = assess_layout(ctx, all, &sh, fake_rows);
    if (st == LSC_STATUS_OK) st = assess_check_prdc(ctx, &o, ref, sh.n, sh.M);
    st = lsc_tp_agree(ctx, st, NULL, 0, NULL); /* the prdc given may differ between ranks */
    free(all);

    /* phase 2: the labels of every rank, then the checks */
    const int real_given = st == LSC_STATUS_OK && sh.real_labels;
    const int fake_given = st == LSC_STATUS_OK && sh.fake_labels;
    sh.real_labels = sh.fake_labels = NULL; /* the layout's marks, replaced by the labels */
    if (st == LSC_STATUS_OK)
        st = gather_labels(ctx, st, real_given, o.real_labels, ref->rows, sh.n, &sh.real_labels);
    if (st == LSC_STATUS_OK)
        st = gather_labels(ctx, st, fake_given, o.fake_labels, fake->rows, sh.M, &sh.fake_labels);
    lsc_assessment *a = NULL;
    if (st == LSC_STATUS_OK) {
        a = (lsc_assessment *)lsc_calloc(ctx, 1, sizeof *a, "assessment");
        st = lsc_tp_agree(ctx, a ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY, NULL, 0, NULL);
    }
    if (st == LSC_STATUS_OK) {
        st = run_checks(ctx, ref, fake, &o, &sh, a);
        /* a failure after the last collective (the classes' judging) reaches every rank */
        st = lsc_tp_agree(ctx, st, NULL, 0, NULL);
    }
    free(sh.real_labels);
    free(sh.fake_labels);
    free(fake_rows);
    if (st != LSC_STATUS_OK) {
        lsc_assessment_destroy(a);
        return st;
    }
    ctx->err[0] = '\0';
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

lsc_status lsc_assessment_prdc(const lsc_assessment *a, lsc_prdc_result *out)
{
    if (!a || !out || a->prdc.size == 0) return LSC_STATUS_INVALID_ARGUMENT;
    lsc_prdc_result r = a->prdc;
    r.size = sizeof r;
    return LSC_STORE_RESULT(out, &r, PRDC_RESULT) ? LSC_STATUS_OK : LSC_STATUS_INVALID_ARGUMENT;
}

int64_t lsc_assessment_class_count(const lsc_assessment *a) { return a ? a->classes : 0; }

lsc_status lsc_assessment_class(const lsc_assessment *a, int64_t i, lsc_class_verdict *out)
{
    if (!a || !out || i < 0 || i >= a->classes) return LSC_STATUS_INVALID_ARGUMENT;
    lsc_class_verdict c = a->cls[i];
    c.size = sizeof c;
    return LSC_STORE_RESULT(out, &c, CLASS_VERDICT) ? LSC_STATUS_OK : LSC_STATUS_INVALID_ARGUMENT;
}

lsc_status lsc_assessment_uncovered(const lsc_assessment *a, int64_t *rows, int64_t cap,
                                    int64_t *count)
{
    if (!a || !count || cap < 0 || (cap > 0 && !rows)) return LSC_STATUS_INVALID_ARGUMENT;
    *count = a->uncovered;
    const int64_t n = a->uncovered < cap ? a->uncovered : cap;
    for (int64_t i = 0; i < n; i++) rows[i] = a->uncovered_rows[i];
    return LSC_STATUS_OK;
}

int64_t lsc_assessment_near_rows(const lsc_assessment *a) { return a ? a->near_rows : -1; }

lsc_level lsc_assessment_level(const lsc_assessment *a)
{
    if (!a) return LSC_LEVEL_NOT_ASSESSED;
    lsc_level worst = LSC_LEVEL_OK;
    for (int c = 0; c < LSC_CHECK_COUNT; c++)
        if (a->v[c].level != LSC_LEVEL_NOT_ASSESSED && a->v[c].level > worst) worst = a->v[c].level;
    return worst;
}

void lsc_assessment_destroy(lsc_assessment *a)
{
    if (!a) return;
    free(a->cls);
    free(a->uncovered_rows);
    free(a);
}

lsc_status lsc_reference_prepare(lsc_ctx *ctx, lsc_reference *ref, uint64_t seed)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, ref, LSC_STATUS_INVALID_ARGUMENT, "ref is NULL");
    LSC_TRY(lsc_check_whole(ctx, ref, "ref"));
    LSC_CHECK(ctx, ref->rows >= 8, LSC_STATUS_INVALID_ARGUMENT,
              "the reference has %lld rows; its halves need at least 4 each", (long long)ref->rows);
    LSC_CHECK(ctx, ref->k + 1 < ref->rows / 2, LSC_STATUS_INVALID_ARGUMENT,
              "k=%lld needs more than %lld rows in the judging half; it has %lld",
              (long long)ref->k, (long long)ref->k + 1, (long long)(ref->rows / 2));
    /* the judging half exactly as lsc_assess makes it (shared_make), then judging_half */
    shared s;
    memset(&s, 0, sizeof s);
    const int64_t n = ref->rows, d = ref->cols;
    s.ref = ref;
    s.d = d;
    s.k = ref->k;
    s.na = n / 2;
    s.nw = s.na < MAX_JUDGED ? s.na : MAX_JUDGED;
    s.seed = seed;
    s.metric = ref->metric;
    lsc_status st = LSC_STATUS_OK;
    {
        s.rows_a = (int64_t *)lsc_malloc(ctx, (size_t)s.na * sizeof *s.rows_a, "rows");
        s.a = (float *)lsc_malloc(ctx, (size_t)(s.na * d) * sizeof(float), "reference half");
        s.sample_a = (int64_t *)lsc_malloc(ctx, (size_t)s.nw * sizeof *s.sample_a, "rows");
        s.wide_rows = (float *)lsc_malloc(ctx, (size_t)(s.nw * d) * sizeof(float), "rows");
        if (!(s.rows_a && s.a && s.sample_a && s.wide_rows)) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (st == LSC_STATUS_OK) st = lsc_sample_rows(ctx, seed, n, 0, s.na, s.rows_a);
    if (st == LSC_STATUS_OK) {
        lsc_matrix rm = lsc_matrix_f32(ref->data, n, d);
        gather(&rm, s.rows_a, s.na, s.a);
        st = lsc_sample_rows(ctx, seed, s.na, 0, s.nw, s.sample_a);
    }
    if (st == LSC_STATUS_OK) st = judging_half(ctx, &s, 1, 0);
    unsigned char *half = NULL;
    if (st == LSC_STATUS_OK) {
        half =
            (unsigned char *)lsc_malloc(ctx, 16 + (size_t)s.na * sizeof(double), "reference half");
        if (!half) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (st == LSC_STATUS_OK) {
        memcpy(half, &seed, sizeof seed);
        memcpy(half + 8, &s.median_nn_a, sizeof s.median_nn_a);
        memcpy(half + 16, s.ref_a->radius_v, (size_t)s.na * sizeof(double));
        free(ref->half);
        ref->half = half;
    }
    shared_free(&s);
    return st;
}
