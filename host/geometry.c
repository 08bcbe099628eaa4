/* Geometry of one set (docs/METRICS.md section 9): TwoNN intrinsic dimension and hubness, both
 * host-side reductions over one exact kNN pass, which runs on the context's backend through
 * lsc_knn, so every backend that has kNN has them; RBF Vendi of order 2 over the backend's RBF
 * kernel sums; the alignment of positive pairs, a host loop. */
#include "validate.h"
#include "../common/sampler.h"
#include "../common/mmd_rules.h"
#include "../common/geometry_rules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* as host/api.c: a missing backend entry is NOT_SUPPORTED, never a silent fallback */
#define LSC_NEED_OP(ctx, op)                                                                       \
    LSC_CHECK(ctx, (ctx)->ops->op, LSC_STATUS_NOT_SUPPORTED,                                       \
              "%s is not implemented by the %s backend", #op, (ctx)->ops->name)

/* Row i of a host matrix, element c, as float32 (the figures are those of the float32 values). */
static float elem(const lsc_matrix *m, int64_t i, int64_t c)
{
    const char *row = (const char *)m->data + (size_t)(i * m->ld) * lsc_dtype_size(m->dtype);
    return lsc_load_f32(row, (int)m->dtype, c);
}

/* Lexicographic order of two rows' float32 values, then row index: a total order in which exact
 * duplicates are adjacent (-0 equals +0, as their distance is 0; NaN was refused). */
static int row_before(const lsc_matrix *m, int64_t a, int64_t b)
{
    for (int64_t c = 0; c < m->cols; c++) {
        const float x = elem(m, a, c), y = elem(m, b, c);
        if (x != y) return x < y;
    }
    return a < b;
}

static int rows_equal(const lsc_matrix *m, int64_t a, int64_t b)
{
    for (int64_t c = 0; c < m->cols; c++)
        if (elem(m, a, c) != elem(m, b, c)) return 0;
    return 1;
}

/* Bottom-up merge sort of idx[0..n) by row_before (qsort has no context argument, and a static
 * one would be hidden global state). tmp holds n values. */
static void sort_rows(const lsc_matrix *m, int64_t *idx, int64_t *tmp, int64_t n)
{
    int64_t *src = idx, *dst = tmp;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                dst[o++] = row_before(m, src[b], src[a]) ? src[b++] : src[a++];
            while (a < mid) dst[o++] = src[a++];
            while (b < hi) dst[o++] = src[b++];
        }
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx) memcpy(idx, src, (size_t)n * sizeof *idx);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The rows `rows[0..n)` of m as a dense float32 host matrix (caller frees *buf). */
static lsc_status gather(lsc_ctx *ctx, const lsc_matrix *m, const int64_t *rows, int64_t n,
                         float **buf, lsc_matrix *out)
{
    size_t bytes;
    LSC_TRY(lsc_bytes(ctx, lsc_mul_i64(n, m->cols), sizeof(float), &bytes, "row subset"));
    float *b = (float *)lsc_malloc(ctx, bytes, "row subset");
    if (!b) return LSC_STATUS_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < m->cols; c++) b[i * m->cols + c] = elem(m, rows[i], c);
    *buf = b;
    *out = lsc_matrix_f32(b, n, m->cols);
    return LSC_STATUS_OK;
}

static lsc_status check_host(lsc_ctx *ctx, const lsc_matrix *m, const char *name, const char *fn)
{
    LSC_CHECK(ctx, m->memory == LSC_MEMORY_HOST, LSC_STATUS_NOT_SUPPORTED,
              "%s: %s reads host memory (copy device rows to the host first)", name, fn);
    return LSC_STATUS_OK;
}

/* ---- TwoNN ---------------------------------------------------------------------------------- */

/* Facco et al. 2017 with scikit-dimension 0.5's defaults: mu sorted ascending, the first
 * n' = floor(n (1 - f)) kept (at most n - 1: F = 1 would make y infinite), the i-th smallest at
 * its empirical CDF F_i = i / n, d = sum x y / sum x^2 with x = ln mu, y = -ln(1 - F). */
static double twonn_fit(double *mu, int64_t n, double discard, int64_t *fitted)
{
    qsort(mu, (size_t)n, sizeof *mu, lsc_cmp_f64);
    int64_t keep = (int64_t)((double)n * (1.0 - discard));
    if (keep > n - 1) keep = n - 1;
    double sxy = 0.0, sxx = 0.0;
    for (int64_t i = 0; i < keep; i++) {
        const double x = log(mu[i]), y = -log1p(-(double)(i + 1) / (double)n);
        sxy += x * y;
        sxx += x * x;
    }
    *fitted = keep;
    return sxx > 0.0 ? sxy / sxx : 0.0;
}

lsc_status lsc_twonn(lsc_ctx *ctx, const lsc_matrix *x, const lsc_twonn_opts *opts,
                     lsc_twonn_result *out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_check_matrix(ctx, x, "x", 3));
    LSC_TRY(check_host(ctx, x, "x", "lsc_twonn"));
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_TRY(LSC_CHECK_RESULT(ctx, out, TWONN_RESULT, "out", "LSC_TWONN_RESULT_INIT"));
    lsc_twonn_opts o = LSC_TWONN_OPTS_INIT;
    if (opts)
        LSC_TRY(LSC_READ_OPTS(ctx, &o, opts, TWONN_OPTS, "twonn opts", "LSC_TWONN_OPTS_INIT"));
    LSC_CHECK(ctx, o.max_rows == 0 || o.max_rows >= 3, LSC_STATUS_INVALID_ARGUMENT,
              "twonn opts: max_rows is %lld, expected 0 (every row) or >= 3",
              (long long)o.max_rows);
    LSC_CHECK(ctx, o.discard_fraction > 0.0 && o.discard_fraction < 1.0,
              LSC_STATUS_INVALID_ARGUMENT, "twonn opts: discard_fraction %g must be in (0, 1)",
              o.discard_fraction);
    LSC_TRY(lsc_check_values(ctx, x, "x", 0));

    const int64_t n = x->rows;
    size_t bytes;
    LSC_TRY(lsc_bytes(ctx, n, 2 * sizeof(int64_t), &bytes, "row order"));
    int64_t *idx = (int64_t *)lsc_malloc(ctx, bytes, "row order");
    if (!idx) return LSC_STATUS_OUT_OF_MEMORY;
    int64_t *tmp = idx + n;
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    sort_rows(x, idx, tmp, n);
    /* each run of equal rows keeps its first (smallest) index; then row order again, so the
     * subset is drawn over the distinct rows as they appear */
    int64_t distinct = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || !rows_equal(x, idx[i - 1], idx[i])) tmp[distinct++] = idx[i];
    qsort(tmp, (size_t)distinct, sizeof *tmp, cmp_i64);

    lsc_status st = LSC_STATUS_OK;
    if (distinct < 3)
        st = lsc_set_error(ctx, LSC_STATUS_INVALID_DATA,
                           "x: %lld distinct rows of %lld; TwoNN needs at least 3",
                           (long long)distinct, (long long)n);
    int64_t used = distinct;
    const int subset = o.max_rows > 0 && distinct > o.max_rows;
    if (st == LSC_STATUS_OK && subset) {
        /* positions 0..max_rows-1 of the seeded permutation of the distinct rows */
        used = o.max_rows;
        lsc_perm p;
        lsc_perm_init(&p, o.seed, distinct);
        for (int64_t t = 0; t < used; t++) idx[t] = tmp[lsc_perm_at(&p, t)];
        qsort(idx, (size_t)used, sizeof *idx, cmp_i64);
        memcpy(tmp, idx, (size_t)used * sizeof *idx);
    }
    float *rows = NULL, *dist = NULL;
    int64_t *nn = NULL;
    double *mu = NULL;
    lsc_matrix m = *x;
    /* every row distinct and used: the kNN pass reads the caller's rows, no copy */
    if (st == LSC_STATUS_OK && used < n) st = gather(ctx, x, tmp, used, &rows, &m);
    if (st == LSC_STATUS_OK) {
        dist = (float *)lsc_malloc(ctx, (size_t)used * 2 * sizeof(float), "neighbour distances");
        nn = dist ? (int64_t *)lsc_malloc(ctx, (size_t)used * 2 * sizeof(int64_t), "neighbours")
                  : NULL;
        mu = nn ? (double *)lsc_malloc(ctx, (size_t)used * sizeof(double), "ratios") : NULL;
        if (!mu) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (st == LSC_STATUS_OK) {
        lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
        ko.exclude_self = 1;
        st = lsc_knn(ctx, &m, NULL, 2, &ko, dist, nn);
    }
    if (st == LSC_STATUS_OK) {
        /* distinct float32 rows have r1 > 0 unless their distance underflows float32 */
        for (int64_t i = 0; i < used && st == LSC_STATUS_OK; i++) {
            if (!(dist[2 * i] > 0.0f))
                st = lsc_set_error(ctx, LSC_STATUS_INVALID_DATA,
                                   "x: row %lld is at distance %g of its nearest distinct row, "
                                   "below float32's resolution",
                                   (long long)tmp[i], (double)dist[2 * i]);
            else mu[i] = (double)dist[2 * i + 1] / (double)dist[2 * i];
        }
    }
    if (st == LSC_STATUS_OK) {
        lsc_twonn_result r;
        memset(&r, 0, sizeof r);
        r.size = sizeof r;
        r.rows = n;
        r.distinct_rows = distinct;
        r.duplicate_rows = n - distinct;
        r.rows_used = used;
        r.subset = subset;
        r.dimension = twonn_fit(mu, used, o.discard_fraction, &r.points_fitted);
        LSC_STORE_RESULT(out, &r, TWONN_RESULT);
    }
    free(idx);
    free(rows);
    free(dist);
    free(nn);
    free(mu);
    return st;
}

/* ---- hubness -------------------------------------------------------------------------------- */

/* The seeded subset of `max_rows` rows of m as float32 when m has more, else m itself. */
static lsc_status maybe_subset(lsc_ctx *ctx, const lsc_matrix *m, int64_t max_rows, uint64_t seed,
                               float **buf, lsc_matrix *out, int *subset)
{
    *buf = NULL;
    *out = *m;
    if (max_rows == 0 || m->rows <= max_rows) return LSC_STATUS_OK;
    *subset = 1;
    int64_t *rows = (int64_t *)lsc_malloc(ctx, (size_t)max_rows * sizeof(int64_t), "row subset");
    if (!rows) return LSC_STATUS_OUT_OF_MEMORY;
    lsc_perm p;
    lsc_perm_init(&p, seed, m->rows);
    for (int64_t t = 0; t < max_rows; t++) rows[t] = lsc_perm_at(&p, t);
    qsort(rows, (size_t)max_rows, sizeof *rows, cmp_i64);
    lsc_status st = gather(ctx, m, rows, max_rows, buf, out);
    free(rows);
    return st;
}

lsc_status lsc_hubness(lsc_ctx *ctx, const lsc_matrix *base, const lsc_matrix *queries,
                       const lsc_hubness_opts *opts, lsc_hubness_result *out)
{
    LSC_TRY(lsc_begin(ctx));
    lsc_hubness_opts o = LSC_HUBNESS_OPTS_INIT;
    if (opts)
        LSC_TRY(
            LSC_READ_OPTS(ctx, &o, opts, HUBNESS_OPTS, "hubness opts", "LSC_HUBNESS_OPTS_INIT"));
    LSC_TRY(lsc_check_nn_metric(ctx, o.metric, "hubness opts"));
    /* the bound keeps k + 1 and q k from overflowing before the shapes are checked */
    LSC_CHECK(ctx, o.k >= 1 && o.k <= ((int64_t)1 << 40), LSC_STATUS_INVALID_ARGUMENT,
              "hubness opts: k is %lld, expected 1 to 2^40", (long long)o.k);
    LSC_CHECK(ctx, o.max_rows == 0 || o.max_rows > o.k, LSC_STATUS_INVALID_ARGUMENT,
              "hubness opts: max_rows is %lld, expected 0 (every row) or more than k = %lld",
              (long long)o.max_rows, (long long)o.k);
    const int within = queries == NULL;
    LSC_TRY(lsc_check_matrix(ctx, base, "base", within ? o.k + 1 : o.k));
    LSC_TRY(check_host(ctx, base, "base", "lsc_hubness"));
    if (!within) {
        LSC_TRY(lsc_check_matrix(ctx, queries, "queries", 1));
        LSC_TRY(check_host(ctx, queries, "queries", "lsc_hubness"));
        LSC_CHECK(ctx, queries->cols == base->cols, LSC_STATUS_INVALID_ARGUMENT,
                  "queries have %lld cols, base has %lld", (long long)queries->cols,
                  (long long)base->cols);
    }
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_TRY(LSC_CHECK_RESULT(ctx, out, HUBNESS_RESULT, "out", "LSC_HUBNESS_RESULT_INIT"));
    const int cosine = o.metric == LSC_METRIC_COSINE;
    LSC_TRY(lsc_check_values(ctx, base, "base", cosine));
    if (!within) LSC_TRY(lsc_check_values(ctx, queries, "queries", cosine));

    int subset = 0;
    float *bbuf = NULL, *qbuf = NULL, *dist = NULL;
    int64_t *idx = NULL, *occ = NULL;
    lsc_matrix b, q;
    lsc_status st = maybe_subset(ctx, base, o.max_rows, o.seed, &bbuf, &b, &subset);
    if (st == LSC_STATUS_OK) {
        if (within) q = b;
        else st = maybe_subset(ctx, queries, o.max_rows, o.seed, &qbuf, &q, &subset);
    }
    size_t bytes = 0;
    if (st == LSC_STATUS_OK)
        st = lsc_bytes(ctx, lsc_mul_i64(q.rows, o.k), sizeof(int64_t) + sizeof(float), &bytes,
                       "neighbour lists");
    if (st == LSC_STATUS_OK) {
        dist = (float *)lsc_malloc(ctx, (size_t)(q.rows * o.k) * sizeof(float), "distances");
        idx = dist ? (int64_t *)lsc_malloc(ctx, (size_t)(q.rows * o.k) * sizeof(int64_t),
                                           "neighbours")
                   : NULL;
        occ =
            idx ? (int64_t *)lsc_calloc(ctx, (size_t)b.rows, sizeof(int64_t), "occurrences") : NULL;
        if (!occ) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (st == LSC_STATUS_OK) {
        lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
        ko.metric = o.metric;
        ko.exclude_self = within;
        st = lsc_knn(ctx, &q, within ? NULL : &b, o.k, &ko, dist, idx);
    }
    if (st == LSC_STATUS_OK) {
        for (int64_t t = 0; t < q.rows * o.k; t++) occ[idx[t]]++;
        /* moments around the exact mean (q k / n_b), in float64 over integer counts */
        const double nb = (double)b.rows, total = (double)q.rows * (double)o.k, mean = total / nb;
        double m2 = 0.0, m3 = 0.0, dev = 0.0;
        int64_t top = 0, anti = 0;
        for (int64_t i = 0; i < b.rows; i++) {
            const double e = (double)occ[i] - mean;
            m2 += e * e;
            m3 += e * e * e;
            dev += fabs(e);
            if (occ[i] > top) top = occ[i];
            if (occ[i] == 0) anti++;
        }
        m2 /= nb;
        m3 /= nb;
        lsc_hubness_result r;
        memset(&r, 0, sizeof r);
        r.size = sizeof r;
        r.k = o.k;
        r.base_rows = b.rows;
        r.query_rows = q.rows;
        /* every N_k equal (a regular graph): no asymmetry, pinned to 0 rather than 0 / 0 */
        r.skewness = m2 > 0.0 ? m3 / pow(m2, 1.5) : 0.0;
        r.robin_hood = dev / (2.0 * total);
        r.max_occurrence = top;
        r.antihubs = anti;
        r.subset = subset;
        LSC_STORE_RESULT(out, &r, HUBNESS_RESULT);
    }
    free(bbuf);
    free(qbuf);
    free(dist);
    free(idx);
    free(occ);
    return st;
}

/* ---- RBF Vendi of order 2 ------------------------------------------------------------------- */

/* 1 / ||K / N||_F^2 = N^2 / (N + sum_{i != j} K_ij^2), K_ii = 1. K_ij^2 = exp(-2 a d^2) is the RBF
 * kernel of bandwidth sigma / sqrt(2), so the sum is the backend's RBF kernel sum over one set
 * (the sums lsc_mmd uses), with nothing new to tile. */
lsc_status lsc_vendi_rbf(lsc_ctx *ctx, const lsc_matrix *x, const lsc_vendi_rbf_opts *opts,
                         lsc_vendi_rbf_result *out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_check_matrix(ctx, x, "x", 2));
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_TRY(LSC_CHECK_RESULT(ctx, out, VENDI_RBF_RESULT, "out", "LSC_VENDI_RBF_RESULT_INIT"));
    lsc_vendi_rbf_opts o = LSC_VENDI_RBF_OPTS_INIT;
    if (opts)
        LSC_TRY(LSC_READ_OPTS(ctx, &o, opts, VENDI_RBF_OPTS, "vendi rbf opts",
                              "LSC_VENDI_RBF_OPTS_INIT"));
    LSC_CHECK(ctx, o.sigma > 0.0 && o.sigma < 1e150, LSC_STATUS_INVALID_ARGUMENT,
              "vendi rbf opts: sigma %g must be finite and > 0", o.sigma);
    LSC_CHECK(ctx, o.max_rows == 0 || o.max_rows >= 2, LSC_STATUS_INVALID_ARGUMENT,
              "vendi rbf opts: max_rows is %lld, expected 0 (every row) or >= 2",
              (long long)o.max_rows);
    LSC_TRY(lsc_check_values(ctx, x, "x", 0));
    LSC_NEED_OP(ctx, kernel_sums);
    const int subset = o.max_rows > 0 && x->rows > o.max_rows;
    const int64_t n = subset ? o.max_rows : x->rows;
    int64_t *rows = NULL;
    if (subset) {
        rows = (int64_t *)lsc_malloc(ctx, (size_t)n * sizeof(int64_t), "row subset");
        if (!rows) return LSC_STATUS_OUT_OF_MEMORY;
        lsc_perm p;
        lsc_perm_init(&p, o.seed, x->rows);
        for (int64_t t = 0; t < n; t++) rows[t] = lsc_perm_at(&p, t);
        qsort(rows, (size_t)n, sizeof *rows, cmp_i64); /* ascending, for locality */
    }
    const double a2 = 2.0 / (2.0 * o.sigma * o.sigma); /* K^2: twice the kernel's a */
    double sums[LSC_KSUM_N];
    lsc_status st = ctx->ops->kernel_sums(ctx, x, rows, n, x, NULL, 0, LSC_KERNEL_RBF, a2, sums);
    free(rows);
    LSC_TRY(st);
    LSC_TRY(lsc_progress(ctx, 1.0));
    lsc_vendi_rbf_result r;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.rows_used = n;
    r.sigma = o.sigma;
    const double fn = (double)n, total = fn + sums[LSC_KSUM_XX];
    r.vendi_q2 = fn * fn / total;
    /* each of the N (N - 1) kernel values is within 2 a2 D u r2 (common/mmd_rules.h); V moves by
     * V / total per unit of the sum */
    r.tolerance = r.vendi_q2 * fn * (fn - 1.0) *
                  lsc_mmd2_tolerance(LSC_KERNEL_RBF, a2, sums[LSC_KSUM_MAXSQ], x->cols) / 4.0 /
                  total;
    r.subset = subset;
    LSC_STORE_RESULT(out, &r, VENDI_RBF_RESULT);
    return LSC_STATUS_OK;
}

/* ---- alignment ------------------------------------------------------------------------------ */

lsc_status lsc_alignment(lsc_ctx *ctx, const lsc_matrix *x, const lsc_matrix *y, double *alignment)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_check_matrix(ctx, x, "x", 1));
    LSC_TRY(lsc_check_matrix(ctx, y, "y", 1));
    LSC_TRY(check_host(ctx, x, "x", "lsc_alignment"));
    LSC_TRY(check_host(ctx, y, "y", "lsc_alignment"));
    LSC_CHECK(ctx, x->rows == y->rows && x->cols == y->cols, LSC_STATUS_INVALID_ARGUMENT,
              "x is %lld x %lld, y is %lld x %lld: positive pairs need the same shape",
              (long long)x->rows, (long long)x->cols, (long long)y->rows, (long long)y->cols);
    LSC_CHECK(ctx, alignment, LSC_STATUS_INVALID_ARGUMENT, "alignment is NULL");
    LSC_TRY(lsc_check_values(ctx, x, "x", 0));
    LSC_TRY(lsc_check_values(ctx, y, "y", 0));
    const int64_t d = x->cols;
    float *buf = (float *)lsc_malloc(ctx, (size_t)d * 2 * sizeof(float), "alignment rows");
    if (!buf) return LSC_STATUS_OUT_OF_MEMORY;
    double sum = 0.0;
    for (int64_t i = 0; i < x->rows; i++) {
        for (int64_t c = 0; c < d; c++) {
            buf[c] = elem(x, i, c);
            buf[d + c] = elem(y, i, c);
        }
        sum += lsc_align_d2(buf, buf + d, d);
    }
    free(buf);
    *alignment = sum / (double)x->rows;
    return LSC_STATUS_OK;
}
