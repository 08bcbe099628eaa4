/* The public operations: validate every argument, then hand the work to the context's backend
 * and turn what it returns into figures (common/) and statuses. */
#include "validate.h"
#include "accumulator.h"
#include "sharded.h"
#include "../common/distance_rules.h"
#include "../common/spectrum_figures.h"
#include "../common/prdc_figures.h"
#include "../common/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LSC_NEED_OP(ctx, op)                                                                       \
    LSC_CHECK(ctx, (ctx)->ops->op, LSC_STATUS_NOT_SUPPORTED,                                       \
              "%s is not implemented by the %s backend", #op, (ctx)->ops->name)

/* ---------------------------------------------------------------------------------------------- */
/* spectrum                                                                                       */

struct lsc_spectrum_acc {
    lsc_acc_core core;
    double active_threshold;
};

static lsc_status spectrum_opts(lsc_ctx *ctx, const lsc_spectrum_opts *opts, double *thr)
{
    lsc_spectrum_opts d = LSC_SPECTRUM_OPTS_INIT;
    if (opts)
        LSC_TRY(
            LSC_READ_OPTS(ctx, &d, opts, SPECTRUM_OPTS, "spectrum opts", "LSC_SPECTRUM_OPTS_INIT"));
    LSC_CHECK(ctx, d.active_threshold >= 0.0 && d.active_threshold < 1e300,
              LSC_STATUS_INVALID_ARGUMENT,
              "spectrum opts: active_threshold %g must be finite and >= 0", d.active_threshold);
    *thr = d.active_threshold;
    return LSC_STATUS_OK;
}

/* Allocates the four arrays of `eigs` with `n` values each (n >= every size a backend uses). */
static lsc_status eigs_alloc(lsc_ctx *ctx, lsc_spectrum_eigs *e, int64_t n)
{
    memset(e, 0, sizeof *e);
    size_t bytes;
    LSC_TRY(lsc_bytes(ctx, n, 4 * sizeof(double), &bytes, "spectrum eigenvalues"));
    double *buf = (double *)lsc_calloc(ctx, (size_t)n * 4, sizeof(double), "spectrum eigenvalues");
    if (!buf) return LSC_STATUS_OUT_OF_MEMORY;
    e->gram_c = buf;
    e->gram_u = buf + n;
    e->cos_nu = buf + 2 * n;
    e->colvar = buf + 3 * n;
    e->zero_row = -1;
    return LSC_STATUS_OK;
}

static void eigs_free(lsc_spectrum_eigs *e) { free(e->gram_c); }

static void spectrum_finish(const lsc_spectrum_eigs *e, double thr, lsc_spectrum_result *out,
                            double *singular_values, double *column_variance)
{
    lsc_spectrum_result r;
    memset(&r, 0, sizeof r);
    lsc_spectrum_figures(e->gram_c, e->gram_u, e->zero_row < 0 ? e->cos_nu : NULL, e->n_ev, e->rows,
                         e->cols, e->colvar, thr, &r, singular_values);
    r.vendi_zero_row = e->zero_row;
    r.size = sizeof r;
    LSC_STORE_RESULT(out, &r, SPECTRUM_RESULT); /* size checked on entry */
    if (column_variance) memcpy(column_variance, e->colvar, (size_t)e->cols * sizeof(double));
}

lsc_status lsc_spectrum(lsc_ctx *ctx, const lsc_matrix *x, const lsc_spectrum_opts *opts,
                        lsc_spectrum_result *out, double *singular_values, double *column_variance)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_check_matrix(ctx, x, "x", 2));
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_TRY(LSC_CHECK_RESULT(ctx, out, SPECTRUM_RESULT, "out", "LSC_SPECTRUM_RESULT_INIT"));
    double thr = 0.0;
    LSC_TRY(spectrum_opts(ctx, opts, &thr));
    LSC_TRY(lsc_check_values(ctx, x, "x", 0));
    LSC_NEED_OP(ctx, spectrum);
    lsc_spectrum_eigs e;
    LSC_TRY(eigs_alloc(ctx, &e, x->cols));
    lsc_status s = ctx->ops->spectrum(ctx, x, &e);
    /* backends report progress up to the eigensolver: the call reaches 1 only here */
    if (s == LSC_STATUS_OK) s = lsc_progress(ctx, 1.0);
    if (s == LSC_STATUS_OK) spectrum_finish(&e, thr, out, singular_values, column_variance);
    eigs_free(&e);
    return s;
}

lsc_status lsc_spectrum_acc_create(lsc_ctx *ctx, int64_t cols, const lsc_spectrum_opts *opts,
                                   lsc_spectrum_acc **out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_CHECK(ctx, cols >= 1, LSC_STATUS_INVALID_ARGUMENT, "cols is %lld, expected >= 1",
              (long long)cols);
    size_t gram;
    LSC_TRY(lsc_bytes(ctx, lsc_mul_i64(cols, cols), 2 * sizeof(double), &gram,
                      "spectrum accumulator Gram"));
    double thr = 0.0;
    LSC_TRY(spectrum_opts(ctx, opts, &thr));
    lsc_spectrum_acc *a = (lsc_spectrum_acc *)lsc_calloc(ctx, 1, sizeof *a, "accumulator");
    if (!a) return LSC_STATUS_OUT_OF_MEMORY;
    lsc_status s = lsc_acc_core_init(ctx, &a->core, cols, ctx->ops->acc_create, "acc_create");
    if (s != LSC_STATUS_OK) {
        free(a);
        return s;
    }
    a->active_threshold = thr;
    *out = a;
    return LSC_STATUS_OK;
}

lsc_status lsc_spectrum_acc_add(lsc_ctx *ctx, lsc_spectrum_acc *acc, const lsc_matrix *batch)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_acc_core_check(ctx, acc ? &acc->core : NULL, "acc"));
    LSC_TRY(lsc_check_matrix(ctx, batch, "batch", 1));
    return lsc_acc_core_add(ctx, &acc->core, batch, "batch");
}

lsc_status lsc_spectrum_acc_merge(lsc_ctx *ctx, lsc_spectrum_acc *into,
                                  const lsc_spectrum_acc *from)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_acc_core_check(ctx, into ? &into->core : NULL, "into"));
    LSC_TRY(lsc_acc_core_check(ctx, from ? &from->core : NULL, "from"));
    return lsc_acc_core_merge(ctx, &into->core, &from->core);
}

int64_t lsc_spectrum_acc_rows(const lsc_spectrum_acc *acc) { return acc ? acc->core.rows : -1; }

lsc_status lsc_spectrum_acc_finalize(lsc_ctx *ctx, const lsc_spectrum_acc *acc,
                                     lsc_spectrum_result *out, double *singular_values,
                                     double *column_variance)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_acc_core_check(ctx, acc ? &acc->core : NULL, "acc"));
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_TRY(LSC_CHECK_RESULT(ctx, out, SPECTRUM_RESULT, "out", "LSC_SPECTRUM_RESULT_INIT"));
    LSC_CHECK(ctx, acc->core.rows >= 2, LSC_STATUS_INVALID_ARGUMENT,
              "the accumulator holds %lld rows, the spectrum needs at least 2",
              (long long)acc->core.rows);
    LSC_NEED_OP(ctx, acc_eigs);
    lsc_spectrum_eigs e;
    LSC_TRY(eigs_alloc(ctx, &e, acc->core.cols));
    lsc_status s = acc->core.ops->acc_eigs(ctx, acc->core.state, &e);
    if (s == LSC_STATUS_OK)
        spectrum_finish(&e, acc->active_threshold, out, singular_values, column_variance);
    eigs_free(&e);
    return s;
}

void lsc_spectrum_acc_destroy(lsc_spectrum_acc *acc)
{
    if (!acc) return;
    lsc_acc_core_fini(&acc->core);
    free(acc);
}

/* ---------------------------------------------------------------------------------------------- */
/* distances, pair statistics, kNN                                                                */

lsc_status lsc_distances(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b, lsc_metric metric,
                         float *out, int64_t ld_out, lsc_memory out_memory)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_check_matrix(ctx, a, "a", 1));
    LSC_TRY(lsc_check_matrix(ctx, b, "b", 1));
    LSC_CHECK(ctx, a->cols == b->cols, LSC_STATUS_INVALID_ARGUMENT, "a has %lld cols, b has %lld",
              (long long)a->cols, (long long)b->cols);
    LSC_CHECK(ctx,
              metric == LSC_METRIC_EUCLIDEAN || metric == LSC_METRIC_SQEUCLIDEAN ||
                  metric == LSC_METRIC_COSINE,
              LSC_STATUS_INVALID_ARGUMENT, "metric %d is unknown", (int)metric);
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_CHECK(ctx, ld_out >= b->rows, LSC_STATUS_INVALID_ARGUMENT,
              "ld_out (%lld) is smaller than b's rows (%lld)", (long long)ld_out,
              (long long)b->rows);
    LSC_CHECK(ctx, (int)out_memory == LSC_MEMORY_HOST || (int)out_memory == LSC_MEMORY_DEVICE,
              LSC_STATUS_INVALID_ARGUMENT, "out_memory %d is unknown", (int)out_memory);
    LSC_CHECK(ctx, out_memory == LSC_MEMORY_HOST || lsc_supports(ctx, LSC_CAP_DEVICE_MEMORY),
              LSC_STATUS_NOT_SUPPORTED,
              "out is in device memory but the context runs on the %s "
              "backend",
              ctx->ops->name);
    int64_t span = lsc_mul_i64(a->rows - 1, ld_out);
    size_t bytes;
    LSC_CHECK(ctx, span >= 0 && span <= INT64_MAX - b->rows, LSC_STATUS_OVERFLOW,
              "out: %lld rows of ld %lld overflow", (long long)a->rows, (long long)ld_out);
    LSC_TRY(lsc_bytes(ctx, span + b->rows, sizeof(float), &bytes, "out"));
    LSC_TRY(lsc_check_values(ctx, a, "a", metric == LSC_METRIC_COSINE));
    LSC_TRY(lsc_check_values(ctx, b, "b", metric == LSC_METRIC_COSINE));
    LSC_NEED_OP(ctx, distances);
    return ctx->ops->distances(ctx, a, b, metric, out, ld_out);
}

/* ---------------------------------------------------------------------------------------------- */
/* the seeded sampler (common/sampler.h)                                                          */

int64_t lsc_permute(uint64_t seed, int64_t n, int64_t j)
{
    if (n < 1 || j < 0 || j >= n) return -1;
    lsc_perm p;
    lsc_perm_init(&p, seed, n);
    return lsc_perm_at(&p, j);
}

int64_t lsc_permute_inverse(uint64_t seed, int64_t n, int64_t i)
{
    if (n < 1 || i < 0 || i >= n) return -1;
    lsc_perm p;
    lsc_perm_init(&p, seed, n);
    return lsc_perm_position(&p, i);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Positions offset..offset+count-1 of the permutation, ascending; arguments already checked. */
static void sample_rows(uint64_t seed, int64_t n, int64_t offset, int64_t count, int64_t *rows)
{
    lsc_perm p;
    lsc_perm_init(&p, seed, n);
    for (int64_t t = 0; t < count; t++) rows[t] = lsc_perm_at(&p, offset + t);
    qsort(rows, (size_t)count, sizeof *rows, cmp_i64);
}

static lsc_status check_sample(lsc_ctx *ctx, int64_t n, int64_t offset, int64_t count,
                               const char *what)
{
    LSC_CHECK(ctx, n >= 1, LSC_STATUS_INVALID_ARGUMENT, "%s: n is %lld, expected >= 1", what,
              (long long)n);
    LSC_CHECK(ctx, offset >= 0 && count >= 0 && offset <= n - count, LSC_STATUS_INVALID_ARGUMENT,
              "%s: positions from offset %lld, count %lld, are not within the %lld rows (needs "
              "offset >= 0, count >= 0, offset + count <= n)",
              what, (long long)offset, (long long)count, (long long)n);
    return LSC_STATUS_OK;
}

lsc_status lsc_sample_rows(lsc_ctx *ctx, uint64_t seed, int64_t n, int64_t offset, int64_t count,
                           int64_t *rows)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(check_sample(ctx, n, offset, count, "sample"));
    LSC_CHECK(ctx, rows || count == 0, LSC_STATUS_INVALID_ARGUMENT, "rows is NULL");
    if (count > 0) sample_rows(seed, n, offset, count, rows);
    return LSC_STATUS_OK;
}

lsc_status lsc_pair_read_opts(lsc_ctx *ctx, const lsc_pair_opts *opts, lsc_pair_opts *o)
{
    const lsc_pair_opts def = LSC_PAIR_OPTS_INIT;
    *o = def;
    if (opts) LSC_TRY(LSC_READ_OPTS(ctx, o, opts, PAIR_OPTS, "pair opts", "LSC_PAIR_OPTS_INIT"));
    LSC_TRY(lsc_check_nn_metric(ctx, o->metric, "pair opts"));
    LSC_CHECK(ctx, o->bins >= 1 && o->bins <= ((int64_t)1 << 24), LSC_STATUS_INVALID_ARGUMENT,
              "pair opts: bins is %lld, expected 1 to 2^24", (long long)o->bins);
    LSC_CHECK(ctx, o->dup_eps >= 0.0 && o->dup_eps < 1e300, LSC_STATUS_INVALID_ARGUMENT,
              "pair opts: dup_eps %g must be finite and >= 0", o->dup_eps);
    LSC_CHECK(ctx, o->uniformity == 0 || o->uniformity == 1, LSC_STATUS_INVALID_ARGUMENT,
              "pair opts: uniformity is %lld, expected 0 or 1", (long long)o->uniformity);
    LSC_CHECK(ctx, o->dup_report >= 0 && o->dup_report <= ((int64_t)1 << 24),
              LSC_STATUS_INVALID_ARGUMENT, "pair opts: dup_report is %lld, expected 0 to 2^24",
              (long long)o->dup_report);
    LSC_CHECK(ctx, o->subset_rows == 0 || o->subset_rows >= 2, LSC_STATUS_INVALID_ARGUMENT,
              "pair opts: subset_rows is %lld, expected 0 (every row) or >= 2",
              (long long)o->subset_rows);
    return LSC_STATUS_OK;
}

lsc_status lsc_pair_check_subset(lsc_ctx *ctx, const lsc_pair_opts *o, int64_t rows,
                                 int64_t *n_used)
{
    if (o->subset_rows > 0 && o->subset_rows < rows) {
        LSC_TRY(check_sample(ctx, rows, o->subset_offset, o->subset_rows, "pair opts subset"));
        *n_used = o->subset_rows;
        return LSC_STATUS_OK;
    }
    LSC_CHECK(ctx, o->subset_offset == 0, LSC_STATUS_INVALID_ARGUMENT,
              "pair opts: subset_offset is %lld but every row is used (subset_rows %lld, "
              "%lld rows)",
              (long long)o->subset_offset, (long long)o->subset_rows, (long long)rows);
    *n_used = rows;
    return LSC_STATUS_OK;
}

lsc_status lsc_pair_stats(lsc_ctx *ctx, const lsc_matrix *x, const lsc_pair_opts *opts,
                          lsc_pair_result *out, int64_t *histogram, lsc_pair *near_dups)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_check_matrix(ctx, x, "x", 2));
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_TRY(LSC_CHECK_RESULT(ctx, out, PAIR_RESULT, "out", "LSC_PAIR_RESULT_INIT"));
    lsc_pair_opts o;
    LSC_TRY(lsc_pair_read_opts(ctx, opts, &o));
    int64_t n = x->rows;
    LSC_TRY(lsc_pair_check_subset(ctx, &o, x->rows, &n));
    LSC_TRY(lsc_check_values(ctx, x, "x", o.metric == LSC_METRIC_COSINE));
    LSC_NEED_OP(ctx, pair_stats);

    int64_t *rows = NULL;
    if (n < x->rows) {
        size_t bytes;
        LSC_TRY(lsc_bytes(ctx, n, sizeof(int64_t), &bytes, "row subset"));
        rows = (int64_t *)lsc_malloc(ctx, bytes, "row subset");
        if (!rows) return LSC_STATUS_OUT_OF_MEMORY;
        sample_rows(o.seed, x->rows, o.subset_offset, n, rows);
    }
    lsc_pair_result r;
    memset(&r, 0, sizeof r);
    lsc_status s = ctx->ops->pair_stats(ctx, x, rows, n, &o, &r, histogram, near_dups);
    free(rows);
    if (s != LSC_STATUS_OK) return s;
    r.rows_used = n;
    r.pairs = lsc_mul_i64(n, n - 1) / 2;
    r.bins = o.bins;
    r.subset = n < x->rows;
    r.size = sizeof r;
    LSC_STORE_RESULT(out, &r, PAIR_RESULT);
    return LSC_STATUS_OK;
}

static int same_matrix(const lsc_matrix *a, const lsc_matrix *b)
{
    return a->data == b->data && a->dtype == b->dtype && a->rows == b->rows && a->cols == b->cols &&
           a->ld == b->ld && a->memory == b->memory;
}

lsc_status lsc_knn(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base, int64_t k,
                   const lsc_knn_opts *opts, float *dist, int64_t *idx)
{
    LSC_TRY(lsc_begin(ctx));
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    if (opts) LSC_TRY(LSC_READ_OPTS(ctx, &o, opts, KNN_OPTS, "knn opts", "LSC_KNN_OPTS_INIT"));
    LSC_TRY(lsc_check_nn_metric(ctx, o.metric, "knn opts"));
    LSC_CHECK(ctx, o.exclude_self == 0 || o.exclude_self == 1, LSC_STATUS_INVALID_ARGUMENT,
              "knn opts: exclude_self is %d, expected 0 or 1", o.exclude_self);
    LSC_CHECK(ctx, (int)o.out_memory == LSC_MEMORY_HOST || (int)o.out_memory == LSC_MEMORY_DEVICE,
              LSC_STATUS_INVALID_ARGUMENT, "knn opts: out_memory %d is unknown", (int)o.out_memory);
    LSC_CHECK(ctx, o.out_memory == LSC_MEMORY_HOST || lsc_supports(ctx, LSC_CAP_DEVICE_MEMORY),
              LSC_STATUS_NOT_SUPPORTED,
              "knn opts: outputs in device memory but the context runs on the %s backend",
              ctx->ops->name);
    LSC_TRY(lsc_check_matrix(ctx, queries, "queries", 1));
    if (o.exclude_self) {
        LSC_CHECK(ctx, !base || same_matrix(base, queries), LSC_STATUS_INVALID_ARGUMENT,
                  "exclude_self needs base to be NULL or the same matrix as queries");
        base = queries;
    } else {
        LSC_TRY(lsc_check_matrix(ctx, base, "base", 1));
        LSC_CHECK(ctx, base->cols == queries->cols, LSC_STATUS_INVALID_ARGUMENT,
                  "queries have %lld cols, base has %lld", (long long)queries->cols,
                  (long long)base->cols);
    }
    int64_t max_k = base->rows - o.exclude_self;
    LSC_CHECK(ctx, k >= 1 && k <= max_k, LSC_STATUS_INVALID_ARGUMENT,
              "k=%lld is out of range: base has %lld rows%s, so k must be 1 to %lld", (long long)k,
              (long long)base->rows, o.exclude_self ? " (self excluded)" : "", (long long)max_k);
    LSC_CHECK(ctx, dist && idx, LSC_STATUS_INVALID_ARGUMENT, "%s is NULL", dist ? "idx" : "dist");
    size_t bytes;
    LSC_TRY(lsc_bytes(ctx, lsc_mul_i64(queries->rows, k), sizeof(int64_t), &bytes, "knn output"));
    LSC_TRY(lsc_check_values(ctx, queries, "queries", o.metric == LSC_METRIC_COSINE));
    if (!o.exclude_self)
        LSC_TRY(lsc_check_values(ctx, base, "base", o.metric == LSC_METRIC_COSINE));
    LSC_NEED_OP(ctx, knn);
    return ctx->ops->knn(ctx, queries, base, k, &o, dist, idx);
}

/* ---------------------------------------------------------------------------------------------- */
/* references and PRDC                                                                            */

void lsc_reference_destroy(lsc_reference *ref)
{
    if (!ref) return;
    if (ref->device_free) ref->device_free(ref->device_data);
    if (ref->owns_data) free(ref->data);
    free(ref->radius_v);
    free(ref->half);
    free(ref->radius);
    free(ref);
}

/* Allocates a reference of rows x cols with empty radii, and empty rows when `with_data` (else
 * the caller sets data to borrowed rows). */
lsc_status lsc_reference_alloc(lsc_ctx *ctx, int64_t rows, int64_t cols, int with_data,
                               lsc_reference **out)
{
    size_t data_bytes, radii_bytes;
    LSC_TRY(lsc_bytes(ctx, lsc_mul_i64(rows, cols), sizeof(float), &data_bytes, "reference rows"));
    LSC_TRY(lsc_bytes(ctx, rows, sizeof(double), &radii_bytes, "reference radii"));
    lsc_reference *r = (lsc_reference *)lsc_calloc(ctx, 1, sizeof *r, "reference");
    if (!r) return LSC_STATUS_OUT_OF_MEMORY;
    static uint64_t serials; /* the only process-wide state: a counter nobody else sees */
    r->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
    r->rows = rows;
    r->cols = cols;
    r->owns_data = with_data;
    int ok = 1;
    if (with_data) {
        r->data = (float *)lsc_malloc(ctx, data_bytes, "reference rows");
        ok = r->data != NULL;
    }
    r->radius_v = ok ? (double *)lsc_malloc(ctx, radii_bytes, "reference radii") : NULL;
    r->radius = r->radius_v ? (double *)lsc_malloc(ctx, radii_bytes, "reference radii") : NULL;
    if (!r->radius) {
        lsc_reference_destroy(r);
        return LSC_STATUS_OUT_OF_MEMORY;
    }
    *out = r;
    return LSC_STATUS_OK;
}

lsc_status lsc_reference_read_opts(lsc_ctx *ctx, const lsc_reference_opts *opts,
                                   lsc_reference_opts *o)
{
    lsc_reference_opts d = LSC_REFERENCE_OPTS_INIT;
    if (opts)
        LSC_TRY(LSC_READ_OPTS(ctx, &d, opts, REFERENCE_OPTS, "reference opts",
                              "LSC_REFERENCE_OPTS_INIT"));
    LSC_TRY(lsc_check_nn_metric(ctx, d.metric, "reference opts"));
    LSC_CHECK(
        ctx, d.comparison == LSC_COMPARISON_STRICT || d.comparison == LSC_COMPARISON_INCLUSIVE,
        LSC_STATUS_INVALID_ARGUMENT, "reference opts: comparison %d is unknown", (int)d.comparison);
    LSC_CHECK(ctx, d.borrow_rows == 0 || d.borrow_rows == 1, LSC_STATUS_INVALID_ARGUMENT,
              "reference opts: borrow_rows is %d, not 0 or 1", d.borrow_rows);
    *o = d;
    return LSC_STATUS_OK;
}

lsc_status lsc_reference_create(lsc_ctx *ctx, const lsc_matrix *real, int64_t k,
                                const lsc_reference_opts *opts, lsc_reference **out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
    LSC_TRY(lsc_reference_read_opts(ctx, opts, &o));
    LSC_TRY(lsc_check_matrix(ctx, real, "real", 1));
    LSC_CHECK(ctx, k >= 1 && k < real->rows, LSC_STATUS_INVALID_ARGUMENT,
              "k=%lld needs at least %llu real rows, got %lld", (long long)k,
              (unsigned long long)(k < 1 ? 2 : (uint64_t)k + 1), (long long)real->rows);
    LSC_TRY(lsc_check_values(ctx, real, "real", o.metric == LSC_METRIC_COSINE));
    LSC_NEED_OP(ctx, reference_radii);
    LSC_CHECK(ctx, real->memory == LSC_MEMORY_HOST, LSC_STATUS_NOT_SUPPORTED,
              "real: a reference is built from host memory");
    const int borrow = o.borrow_rows && real->dtype == LSC_DTYPE_F32 && real->ld == real->cols;
    lsc_reference *r;
    LSC_TRY(lsc_reference_alloc(ctx, real->rows, real->cols, !borrow, &r));
    r->k = k;
    r->metric = o.metric;
    r->comparison = o.comparison;
    if (borrow) {
        r->data = (float *)real->data; /* read only: lsc never writes a reference's rows */
    } else {
        size_t es = lsc_dtype_size(real->dtype);
        for (int64_t i = 0; i < real->rows; i++) {
            const char *row = (const char *)real->data + (size_t)(i * real->ld) * es;
            float *dst = r->data + i * real->cols;
            for (int64_t c = 0; c < real->cols; c++)
                dst[c] = lsc_load_f32(row, (int)real->dtype, c);
        }
    }
    lsc_status s = ctx->ops->reference_radii(ctx, r);
    if (s != LSC_STATUS_OK) {
        lsc_reference_destroy(r);
        return s;
    }
    *out = r;
    return LSC_STATUS_OK;
}

lsc_status lsc_check_whole(lsc_ctx *ctx, const lsc_reference *ref, const char *what)
{
    LSC_CHECK(ctx, ref->shard_total <= ref->rows, LSC_STATUS_INVALID_ARGUMENT,
              "%s: the reference is one shard (rows %lld to %lld of %lld) made by "
              "lsc_reference_create_sharded, not the whole reference: use the sharded calls "
              "(lsc_prdc_sharded) on every rank",
              what, (long long)ref->shard_first, (long long)(ref->shard_first + ref->rows - 1),
              (long long)ref->shard_total);
    return LSC_STATUS_OK;
}

lsc_status lsc_check_residency(lsc_ctx *ctx, const lsc_reference *ref, const char *name)
{
    if (!ref->device_ops) return LSC_STATUS_OK;
    static const char *const fix = "use the host reference it was made from, or make one for "
                                   "this context with lsc_reference_to_device";
    LSC_CHECK(ctx, ref->device_ops == ctx->ops, LSC_STATUS_INVALID_ARGUMENT,
              "%s is a device reference of %s device %d and this context runs on the %s "
              "backend: %s",
              name, ref->device_ops->name, ref->device, ctx->ops->name, fix);
    LSC_CHECK(ctx, ref->device == ctx->params.device, LSC_STATUS_INVALID_ARGUMENT,
              "%s is a device reference of %s device %d and this context runs on device %d: %s",
              name, ref->device_ops->name, ref->device, ctx->params.device, fix);
    return LSC_STATUS_OK;
}

lsc_status lsc_reference_to_device(lsc_ctx *ctx, const lsc_reference *ref, lsc_reference **out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, ref, LSC_STATUS_INVALID_ARGUMENT, "ref is NULL");
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_CHECK(ctx, lsc_supports(ctx, LSC_CAP_DEVICE_REFERENCE), LSC_STATUS_NOT_SUPPORTED,
              "the %s backend keeps no device references: it reads the host reference as it "
              "is",
              ctx->ops->name);
    LSC_TRY(lsc_check_whole(ctx, ref, "ref"));
    lsc_reference *r;
    LSC_TRY(lsc_reference_alloc(ctx, ref->rows, ref->cols, 1, &r));
    const size_t n = (size_t)ref->rows;
    memcpy(r->data, ref->data, n * (size_t)ref->cols * sizeof(float));
    memcpy(r->radius_v, ref->radius_v, n * sizeof(double));
    memcpy(r->radius, ref->radius, n * sizeof(double));
    r->k = ref->k;
    r->metric = ref->metric;
    r->comparison = ref->comparison;
    r->zero_radii = ref->zero_radii;
    r->file_version = ref->file_version;
    if (ref->half) {
        /* lsc_reference_prepare's layout: seed, median, floor(rows / 2) radius values */
        const size_t bytes = 16 + n / 2 * sizeof(double);
        r->half = (unsigned char *)lsc_malloc(ctx, bytes, "reference preparation");
        if (!r->half) {
            lsc_reference_destroy(r);
            return LSC_STATUS_OUT_OF_MEMORY;
        }
        memcpy(r->half, ref->half, bytes);
    }
    lsc_status s = ctx->ops->reference_place(ctx, r);
    if (s != LSC_STATUS_OK) {
        lsc_reference_destroy(r);
        return s;
    }
    r->device_ops = ctx->ops;
    r->device = ctx->params.device;
    *out = r;
    return LSC_STATUS_OK;
}

lsc_status lsc_reference_info_get(const lsc_reference *ref, lsc_reference_info *info)
{
    if (!ref || !info) return LSC_STATUS_INVALID_ARGUMENT;
    lsc_reference_info r;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.rows = ref->rows;
    r.cols = ref->cols;
    r.k = ref->k;
    r.metric = ref->metric;
    r.comparison = ref->comparison;
    r.zero_radii = ref->zero_radii;
    r.file_version = ref->file_version;
    r.prepared = ref->half != NULL;
    r.total_rows = ref->shard_total ? ref->shard_total : ref->rows;
    r.first_row = ref->shard_first;
    if (ref->half) memcpy(&r.prepared_seed, ref->half, sizeof r.prepared_seed);
    /* no context for a message: a bad size is INVALID_ARGUMENT alone */
    return LSC_STORE_RESULT(info, &r, REFERENCE_INFO) ? LSC_STATUS_OK : LSC_STATUS_INVALID_ARGUMENT;
}

const double *lsc_reference_radii(const lsc_reference *ref) { return ref ? ref->radius : NULL; }

const float *lsc_reference_rows(const lsc_reference *ref) { return ref ? ref->data : NULL; }

lsc_status lsc_prdc(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                    lsc_prdc_result *out)
{
    return lsc_prdc_rows(ctx, ref, fake, out, NULL, NULL);
}

lsc_status lsc_prdc_rows(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                         lsc_prdc_result *out, unsigned char *real_flags, int64_t *fake_counts)
{
    return lsc_prdc_near_rows(ctx, ref, fake, out, real_flags, fake_counts, NULL);
}

lsc_status lsc_prdc_near_rows(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                              lsc_prdc_result *out, unsigned char *real_flags, int64_t *fake_counts,
                              const lsc_prdc_near *near)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, ref, LSC_STATUS_INVALID_ARGUMENT, "ref is NULL");
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_TRY(LSC_CHECK_RESULT(ctx, out, PRDC_RESULT, "out", "LSC_PRDC_RESULT_INIT"));
    LSC_TRY(lsc_check_matrix(ctx, fake, "fake", 1));
    LSC_CHECK(ctx, fake->cols == ref->cols, LSC_STATUS_INVALID_ARGUMENT,
              "fake has %lld cols, the reference has %lld", (long long)fake->cols,
              (long long)ref->cols);
    LSC_CHECK(ctx, ref->k < fake->rows, LSC_STATUS_INVALID_ARGUMENT,
              "k=%lld needs at least %lld fake rows, got %lld", (long long)ref->k,
              (long long)(ref->k + 1), (long long)fake->rows);
    LSC_TRY(lsc_check_residency(ctx, ref, "ref"));
    LSC_TRY(lsc_check_whole(ctx, ref, "ref"));
    LSC_TRY(lsc_check_values(ctx, fake, "fake", ref->metric == LSC_METRIC_COSINE));
    LSC_NEED_OP(ctx, prdc);
    lsc_prdc_result r;
    memset(&r, 0, sizeof r);
    LSC_CHECK(ctx,
              !near || ((near->flags || (near->strict_v < 0 && near->incl_v < 0)) &&
                        !isnan(near->strict_v) && !isnan(near->incl_v)),
              LSC_STATUS_INVALID_ARGUMENT, "prdc: near tests without flags or with a NaN bound");
    const lsc_prdc_judge *jg = near ? near->judge : NULL;
    LSC_CHECK(ctx,
              !jg || (jg->subsets >= 1 && jg->subsets <= LSC_JUDGE_MAX && jg->ball_v &&
                      jg->wide_v && jg->subset && jg->sub_v && jg->density && jg->cov && jg->rec &&
                      jg->wide && jg->flags && !isnan(jg->strict_v)),
              LSC_STATUS_INVALID_ARGUMENT, "prdc: judged subsets with a missing array or bound");
    LSC_TRY(ctx->ops->prdc(ctx, ref, fake, &r, real_flags, fake_counts, near));
    r.k = ref->k;
    r.real_rows = ref->rows;
    r.fake_rows = fake->rows;
    r.comparison = ref->comparison;
    r.metric = ref->metric;
    r.zero_radii_real = ref->zero_radii;
    r.coverage_expected = lsc_coverage_expected(ref->rows, fake->rows, ref->k);
    r.size = sizeof r;
    LSC_STORE_RESULT(out, &r, PRDC_RESULT);
    return LSC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* asynchronous forms (lsc.h section 8): the host validates shapes, the backend enqueues the rest */

static lsc_status async_common(lsc_ctx *ctx, const lsc_matrix *x, const char *name, const void *out,
                               lsc_capability cap)
{
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_CHECK(ctx, lsc_supports(ctx, cap), LSC_STATUS_NOT_SUPPORTED,
              "the asynchronous forms need a device backend (CUDA); the context runs on the %s "
              "backend, which has none",
              ctx->ops->name);
    LSC_CHECK(ctx, x && x->memory == LSC_MEMORY_DEVICE, LSC_STATUS_NOT_SUPPORTED,
              "%s: the asynchronous forms read device memory only", name);
    return LSC_STATUS_OK;
}

lsc_status lsc_spectrum_async(lsc_ctx *ctx, const lsc_matrix *x, const lsc_spectrum_opts *opts,
                              lsc_spectrum_result *out, lsc_async_status *status)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_check_matrix(ctx, x, "x", 2));
    double thr = 0.0;
    LSC_TRY(spectrum_opts(ctx, opts, &thr));
    LSC_TRY(async_common(ctx, x, "x", out, LSC_CAP_SPECTRUM_ASYNC));
    LSC_NEED_OP(ctx, spectrum_async);
    return ctx->ops->spectrum_async(ctx, x, thr, out, status);
}

lsc_status lsc_prdc_async(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                          lsc_prdc_result *out, lsc_async_status *status)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, ref, LSC_STATUS_INVALID_ARGUMENT, "ref is NULL");
    LSC_TRY(lsc_check_matrix(ctx, fake, "fake", 1));
    LSC_CHECK(ctx, fake->cols == ref->cols, LSC_STATUS_INVALID_ARGUMENT,
              "fake has %lld cols, the reference has %lld", (long long)fake->cols,
              (long long)ref->cols);
    LSC_CHECK(ctx, ref->k < fake->rows, LSC_STATUS_INVALID_ARGUMENT,
              "k=%lld needs at least %lld fake rows, got %lld", (long long)ref->k,
              (long long)(ref->k + 1), (long long)fake->rows);
    LSC_TRY(async_common(ctx, fake, "fake", out, LSC_CAP_PRDC_ASYNC));
    LSC_TRY(lsc_check_residency(ctx, ref, "ref"));
    LSC_NEED_OP(ctx, prdc_async);
    return ctx->ops->prdc_async(ctx, ref, fake, out, status);
}

/* ---------------------------------------------------------------------------------------------- */
/* the sharded spectrum's finish (host/sharded.h)                                                 */

lsc_status lsc_spectrum_read_opts(lsc_ctx *ctx, const lsc_spectrum_opts *opts, double *thr)
{
    return spectrum_opts(ctx, opts, thr);
}

lsc_status lsc_spectrum_core_finalize(lsc_ctx *ctx, const lsc_acc_core *core, double thr,
                                      lsc_spectrum_result *out, double *singular_values,
                                      double *column_variance)
{
    LSC_NEED_OP(ctx, acc_eigs);
    lsc_spectrum_eigs e;
    LSC_TRY(eigs_alloc(ctx, &e, core->cols));
    lsc_status s = core->ops->acc_eigs(ctx, core->state, &e);
    if (s == LSC_STATUS_OK) spectrum_finish(&e, thr, out, singular_values, column_variance);
    eigs_free(&e);
    return s;
}
