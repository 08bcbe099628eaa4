/* Distances between two distributions (lsc.h section 11, docs/METRICS.md section 10): the
 * Frechet distance's two symmetric eigenproblems on the host (LAPACK: the D x D solve is small
 * next to the O(N D^2) pass, which is the backend's), the Frechet statistics accumulator, and
 * KID's and RBF MMD's subsets and estimators around the backends' kernel sums. */
#include "validate.h"
#include "accumulator.h"
#include "../common/mmd_rules.h"
#include "../common/sampler.h"

#include <float.h>
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LSC_NEED_OP(ctx, op)                                                                       \
    LSC_CHECK(ctx, (ctx)->ops->op, LSC_STATUS_NOT_SUPPORTED,                                       \
              "%s is not implemented by the %s backend", #op, (ctx)->ops->name)

/* ---- Frechet distance ------------------------------------------------------------------------ */

/* LAPACK's 32-bit sizes bound the D x D problems (as the spectrum's). */
#define FD_MAX_D 46340

static lsc_status check_finite(lsc_ctx *ctx, const double *v, int64_t rows, int64_t cols,
                               const char *name)
{
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            if (!isfinite(v[i * cols + j])) {
                const char *what = isnan(v[i * cols + j]) ? "NaN" : "Inf";
                if (rows == 1)
                    return lsc_set_error(ctx, LSC_STATUS_INVALID_DATA, "%s: element %lld is %s",
                                         name, (long long)j, what);
                return lsc_set_error(ctx, LSC_STATUS_INVALID_DATA, "%s: row %lld col %lld is %s",
                                     name, (long long)i, (long long)j, what);
            }
    return LSC_STATUS_OK;
}

static lsc_status lapack_status(lsc_ctx *ctx, lapack_int info, const char *what)
{
    LSC_CHECK(ctx, info != LAPACK_WORK_MEMORY_ERROR && info != LAPACK_TRANSPOSE_MEMORY_ERROR,
              LSC_STATUS_OUT_OF_MEMORY, "out of host memory in LAPACK on the %s", what);
    LSC_CHECK(ctx, info == 0, LSC_STATUS_INTERNAL, "LAPACK dsyevd failed on the %s (info %d)", what,
              (int)info);
    return LSC_STATUS_OK;
}

/* tr((S1^1/2 S2 S1^1/2)^1/2) through two symmetric eigenproblems. With S1 = V W V^T,
 * S1^1/2 S2 S1^1/2 = V (W^1/2 V^T S2 V W^1/2) V^T has the eigenvalues of the inner matrix, so
 * S1^1/2 itself is never formed. Round-off negatives are clamped to 0 at both steps (a PSD
 * matrix's eigenvalues); sqrtm of the non-symmetric S1 S2 (pytorch-fid) is avoided: it can turn
 * complex and its error is not bounded by the symmetric solvers'. */
static lsc_status fd_trace_sqrt(lsc_ctx *ctx, int64_t d, const double *s1, const double *s2,
                                double *out)
{
    const size_t dd = (size_t)d * (size_t)d;
    double *v = (double *)lsc_malloc(ctx, (3 * dd + (size_t)d) * sizeof(double), "Frechet solve");
    if (!v) return LSC_STATUS_OUT_OF_MEMORY;
    double *b = v + dd, *t = b + dd, *w = t + dd;
    /* the upper triangles, read as the (column-major) lower ones LAPACK and BLAS are told of */
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i; j < d; j++) {
            v[(size_t)i * d + j] = v[(size_t)j * d + i] = s1[(size_t)i * d + j];
            b[(size_t)i * d + j] = b[(size_t)j * d + i] = s2[(size_t)i * d + j];
        }
    lsc_status st = lapack_status(
        ctx, LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', (lapack_int)d, v, (lapack_int)d, w),
        "first covariance");
    if (st == LSC_STATUS_OK) {
        for (int64_t k = 0; k < d; k++) w[k] = w[k] > 0.0 ? sqrt(w[k]) : 0.0;
        /* t = S2 V, then b = V^T t (column-major: V's columns are the eigenvectors) */
        cblas_dsymm(CblasColMajor, CblasLeft, CblasLower, (int)d, (int)d, 1.0, b, (int)d, v, (int)d,
                    0.0, t, (int)d);
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0, v, (int)d,
                    t, (int)d, 0.0, b, (int)d);
        /* W^1/2 b W^1/2, symmetrised: the two triangles differ by round-off */
        for (int64_t j = 0; j < d; j++)
            for (int64_t i = j; i < d; i++) {
                const double m = 0.5 * (b[(size_t)j * d + i] + b[(size_t)i * d + j]);
                b[(size_t)j * d + i] = m * w[i] * w[j];
            }
        st = lapack_status(
            ctx, LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)d, b, (lapack_int)d, t),
            "symmetrised product");
    }
    if (st == LSC_STATUS_OK) {
        double s = 0.0;
        for (int64_t k = 0; k < d; k++) s += t[k] > 0.0 ? sqrt(t[k]) : 0.0;
        *out = s;
    }
    free(v);
    return st;
}

/* Validated statistics to the figures. */
static lsc_status fd_solve(lsc_ctx *ctx, int64_t d, const double *mu1, const double *s1,
                           const double *mu2, const double *s2, lsc_fd_result *out)
{
    lsc_fd_result r;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.cols = d;
    for (int64_t k = 0; k < d; k++) {
        const double e = mu1[k] - mu2[k];
        r.mean_term += e * e;
        r.trace1 += s1[(size_t)k * d + k];
        r.trace2 += s2[(size_t)k * d + k];
    }
    LSC_TRY(fd_trace_sqrt(ctx, d, s1, s2, &r.trace_sqrt));
    r.fd = r.mean_term + r.trace1 + r.trace2 - 2.0 * r.trace_sqrt;
    /* docs/METRICS.md 10.1: each of the up to D eigenvalues the first solve leaves at round-off
     * (about eps ||S||) enters the sum as a square root, about sqrt(eps) ||S|| each */
    r.tolerance = sqrt(DBL_EPSILON) * (double)d * (fabs(r.trace1) + fabs(r.trace2)) / 2.0;
    LSC_STORE_RESULT(out, &r, FD_RESULT); /* size checked on entry */
    return LSC_STATUS_OK;
}

lsc_status lsc_frechet_distance_stats(lsc_ctx *ctx, int64_t d, const double *mu1,
                                      const double *sigma1, const double *mu2, const double *sigma2,
                                      lsc_fd_result *out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, d >= 1 && d <= FD_MAX_D, LSC_STATUS_INVALID_ARGUMENT,
              "d is %lld, expected 1 to %d (LAPACK's 32-bit sizes)", (long long)d, FD_MAX_D);
    LSC_CHECK(ctx, mu1 && sigma1 && mu2 && sigma2, LSC_STATUS_INVALID_ARGUMENT, "%s is NULL",
              !mu1      ? "mu1"
              : !sigma1 ? "sigma1"
              : !mu2    ? "mu2"
                        : "sigma2");
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_TRY(LSC_CHECK_RESULT(ctx, out, FD_RESULT, "out", "LSC_FD_RESULT_INIT"));
    LSC_TRY(check_finite(ctx, mu1, 1, d, "mu1"));
    LSC_TRY(check_finite(ctx, sigma1, d, d, "sigma1"));
    LSC_TRY(check_finite(ctx, mu2, 1, d, "mu2"));
    LSC_TRY(check_finite(ctx, sigma2, d, d, "sigma2"));
    return fd_solve(ctx, d, mu1, sigma1, mu2, sigma2, out);
}

/* the spectrum accumulator's bookkeeping (host/accumulator.h) around a covariance-only state */
struct lsc_fd_acc {
    lsc_acc_core core;
};

static lsc_status fd_acc_new(lsc_ctx *ctx, int64_t cols, lsc_fd_acc **out)
{
    LSC_CHECK(ctx, cols >= 1 && cols <= FD_MAX_D, LSC_STATUS_INVALID_ARGUMENT,
              "cols is %lld, expected 1 to %d (LAPACK's 32-bit sizes)", (long long)cols, FD_MAX_D);
    LSC_NEED_OP(ctx, cov_stats);
    lsc_fd_acc *a = (lsc_fd_acc *)lsc_calloc(ctx, 1, sizeof *a, "Frechet accumulator");
    if (!a) return LSC_STATUS_OUT_OF_MEMORY;
    lsc_status s = lsc_acc_core_init(ctx, &a->core, cols, ctx->ops->cov_create, "cov_create");
    if (s != LSC_STATUS_OK) {
        free(a);
        return s;
    }
    *out = a;
    return LSC_STATUS_OK;
}

lsc_status lsc_fd_acc_create(lsc_ctx *ctx, int64_t cols, lsc_fd_acc **out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    return fd_acc_new(ctx, cols, out);
}

lsc_status lsc_fd_acc_add(lsc_ctx *ctx, lsc_fd_acc *acc, const lsc_matrix *batch)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_acc_core_check(ctx, acc ? &acc->core : NULL, "acc"));
    LSC_TRY(lsc_check_matrix(ctx, batch, "batch", 1));
    return lsc_acc_core_add(ctx, &acc->core, batch, "batch");
}

lsc_status lsc_fd_acc_merge(lsc_ctx *ctx, lsc_fd_acc *into, const lsc_fd_acc *from)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_acc_core_check(ctx, into ? &into->core : NULL, "into"));
    LSC_TRY(lsc_acc_core_check(ctx, from ? &from->core : NULL, "from"));
    return lsc_acc_core_merge(ctx, &into->core, &from->core);
}

int64_t lsc_fd_acc_rows(const lsc_fd_acc *acc) { return acc ? acc->core.rows : -1; }

static lsc_status fd_acc_stats(lsc_ctx *ctx, const lsc_fd_acc *acc, double *mu, double *sigma)
{
    LSC_CHECK(ctx, mu && sigma, LSC_STATUS_INVALID_ARGUMENT, "%s is NULL", mu ? "sigma" : "mu");
    LSC_CHECK(ctx, acc->core.rows >= 2, LSC_STATUS_INVALID_ARGUMENT,
              "the accumulator holds %lld rows, a covariance with ddof 1 needs at least 2",
              (long long)acc->core.rows);
    return acc->core.ops->cov_stats(ctx, acc->core.state, mu, sigma);
}

lsc_status lsc_fd_acc_stats(lsc_ctx *ctx, const lsc_fd_acc *acc, double *mu, double *sigma)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_acc_core_check(ctx, acc ? &acc->core : NULL, "acc"));
    return fd_acc_stats(ctx, acc, mu, sigma);
}

void lsc_fd_acc_destroy(lsc_fd_acc *acc)
{
    if (!acc) return;
    lsc_acc_core_fini(&acc->core);
    free(acc);
}

/* One set's statistics through a fresh accumulator: a single batch pivots on its own mean. */
static lsc_status fd_stats(lsc_ctx *ctx, const lsc_matrix *x, const char *name, double *mu,
                           double *sigma)
{
    lsc_fd_acc *a = NULL;
    LSC_TRY(fd_acc_new(ctx, x->cols, &a));
    lsc_status s = lsc_acc_core_add(ctx, &a->core, x, name);
    if (s == LSC_STATUS_OK) s = fd_acc_stats(ctx, a, mu, sigma);
    lsc_fd_acc_destroy(a);
    return s;
}

lsc_status lsc_fd_stats(lsc_ctx *ctx, const lsc_matrix *x, double *mu, double *sigma)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_check_matrix(ctx, x, "x", 2));
    LSC_CHECK(ctx, mu && sigma, LSC_STATUS_INVALID_ARGUMENT, "%s is NULL", mu ? "sigma" : "mu");
    return fd_stats(ctx, x, "x", mu, sigma);
}

lsc_status lsc_frechet_distance(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                                lsc_fd_result *out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(lsc_check_matrix(ctx, a, "a", 2));
    LSC_TRY(lsc_check_matrix(ctx, b, "b", 2));
    LSC_CHECK(ctx, a->cols == b->cols, LSC_STATUS_INVALID_ARGUMENT, "a has %lld cols, b has %lld",
              (long long)a->cols, (long long)b->cols);
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_TRY(LSC_CHECK_RESULT(ctx, out, FD_RESULT, "out", "LSC_FD_RESULT_INIT"));
    const int64_t d = a->cols;
    LSC_CHECK(ctx, d <= FD_MAX_D, LSC_STATUS_INVALID_ARGUMENT,
              "%lld cols, expected at most %d (LAPACK's 32-bit sizes)", (long long)d, FD_MAX_D);
    const size_t dd = (size_t)d * (size_t)d;
    double *buf =
        (double *)lsc_malloc(ctx, 2 * (dd + (size_t)d) * sizeof(double), "Frechet statistics");
    if (!buf) return LSC_STATUS_OUT_OF_MEMORY;
    double *mu1 = buf, *s1 = mu1 + d, *mu2 = s1 + dd, *s2 = mu2 + d;
    lsc_status s = fd_stats(ctx, a, "a", mu1, s1);
    if (s == LSC_STATUS_OK) s = lsc_progress(ctx, 0.45);
    if (s == LSC_STATUS_OK) s = fd_stats(ctx, b, "b", mu2, s2);
    if (s == LSC_STATUS_OK) s = lsc_progress(ctx, 0.9);
    if (s == LSC_STATUS_OK) s = fd_solve(ctx, d, mu1, s1, mu2, s2, out);
    free(buf);
    return s;
}

/* ---- KID and RBF MMD ------------------------------------------------------------------------- */

static lsc_status check_pair(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                             int64_t min_rows)
{
    LSC_TRY(lsc_check_matrix(ctx, a, "a", min_rows));
    LSC_TRY(lsc_check_matrix(ctx, b, "b", min_rows));
    LSC_CHECK(ctx, a->cols == b->cols, LSC_STATUS_INVALID_ARGUMENT, "a has %lld cols, b has %lld",
              (long long)a->cols, (long long)b->cols);
    return LSC_STATUS_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Subset s's rows of a set of n rows (side 0: a, 1: b): the first m positions of the seeded
 * permutation of docs/METRICS.md section 7 under a seed of its own, so subsets are independent
 * of one another and rows within one are distinct. Ascending, for locality. */
static void kid_subset(uint64_t seed, int64_t s, int side, int64_t n, int64_t m, int64_t *rows)
{
    lsc_perm p;
    lsc_perm_init(&p, lsc_kid_subset_seed(seed, s, side), n);
    for (int64_t t = 0; t < m; t++) rows[t] = lsc_perm_at(&p, t);
    qsort(rows, (size_t)m, sizeof *rows, cmp_i64);
}

lsc_status lsc_kid(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b, const lsc_kid_opts *opts,
                   lsc_kid_result *out, double *scores)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(check_pair(ctx, a, b, 2));
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_TRY(LSC_CHECK_RESULT(ctx, out, KID_RESULT, "out", "LSC_KID_RESULT_INIT"));
    lsc_kid_opts o = LSC_KID_OPTS_INIT;
    if (opts) LSC_TRY(LSC_READ_OPTS(ctx, &o, opts, KID_OPTS, "kid opts", "LSC_KID_OPTS_INIT"));
    LSC_CHECK(ctx, o.subsets >= 1 && o.subsets <= 1000000, LSC_STATUS_INVALID_ARGUMENT,
              "kid opts: subsets is %lld, expected 1 to 10^6", (long long)o.subsets);
    LSC_CHECK(ctx, o.subset_rows >= 2, LSC_STATUS_INVALID_ARGUMENT,
              "kid opts: subset_rows is %lld, expected >= 2", (long long)o.subset_rows);
    LSC_TRY(lsc_check_values(ctx, a, "a", 0));
    LSC_TRY(lsc_check_values(ctx, b, "b", 0));
    LSC_NEED_OP(ctx, kernel_sums);
    int64_t m = o.subset_rows;
    if (m > a->rows) m = a->rows;
    if (m > b->rows) m = b->rows;
    const int64_t d = a->cols;
    int64_t *rows = (int64_t *)lsc_malloc(ctx, 2 * (size_t)m * sizeof(int64_t), "KID subsets");
    double *sc =
        rows ? (double *)lsc_malloc(ctx, (size_t)o.subsets * sizeof(double), "KID scores") : NULL;
    if (!sc) {
        free(rows);
        return LSC_STATUS_OUT_OF_MEMORY;
    }
    const double ka = 1.0 / (double)d;
    double maxsq = 0.0, mean = 0.0;
    lsc_status st = LSC_STATUS_OK;
    for (int64_t s = 0; s < o.subsets && st == LSC_STATUS_OK; s++) {
        kid_subset(o.seed, s, 0, a->rows, m, rows);
        kid_subset(o.seed, s, 1, b->rows, m, rows + m);
        double sums[LSC_KSUM_N];
        st = ctx->ops->kernel_sums(ctx, a, rows, m, b, rows + m, m, LSC_KERNEL_POLY3, ka, sums);
        if (st != LSC_STATUS_OK) break;
        sc[s] = lsc_mmd2_unbiased(sums, m, m);
        mean += sc[s];
        if (sums[LSC_KSUM_MAXSQ] > maxsq) maxsq = sums[LSC_KSUM_MAXSQ];
        st = lsc_progress(ctx, (double)(s + 1) / (double)o.subsets);
    }
    if (st == LSC_STATUS_OK) {
        lsc_kid_result r;
        memset(&r, 0, sizeof r);
        r.size = sizeof r;
        r.subsets = o.subsets;
        r.subset_rows = m;
        r.mean = mean / (double)o.subsets;
        double ss = 0.0;
        for (int64_t s = 0; s < o.subsets; s++) ss += (sc[s] - r.mean) * (sc[s] - r.mean);
        r.std = o.subsets > 1 ? sqrt(ss / (double)(o.subsets - 1)) : 0.0;
        r.tolerance = lsc_mmd2_tolerance(LSC_KERNEL_POLY3, ka, maxsq, d);
        LSC_STORE_RESULT(out, &r, KID_RESULT);
        if (scores) memcpy(scores, sc, (size_t)o.subsets * sizeof(double));
    }
    free(rows);
    free(sc);
    return st;
}

lsc_status lsc_mmd(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b, const lsc_mmd_opts *opts,
                   lsc_mmd_result *out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_TRY(check_pair(ctx, a, b, 1));
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_TRY(LSC_CHECK_RESULT(ctx, out, MMD_RESULT, "out", "LSC_MMD_RESULT_INIT"));
    lsc_mmd_opts o = LSC_MMD_OPTS_INIT;
    if (opts) LSC_TRY(LSC_READ_OPTS(ctx, &o, opts, MMD_OPTS, "mmd opts", "LSC_MMD_OPTS_INIT"));
    LSC_CHECK(ctx, o.sigma > 0.0 && o.sigma < 1e150, LSC_STATUS_INVALID_ARGUMENT,
              "mmd opts: sigma %g must be finite and > 0", o.sigma);
    LSC_CHECK(ctx, o.scale > 0.0 && o.scale < 1e300, LSC_STATUS_INVALID_ARGUMENT,
              "mmd opts: scale %g must be finite and > 0", o.scale);
    LSC_TRY(lsc_check_values(ctx, a, "a", 0));
    LSC_TRY(lsc_check_values(ctx, b, "b", 0));
    LSC_NEED_OP(ctx, kernel_sums);
    const double ka = 1.0 / (2.0 * o.sigma * o.sigma);
    double sums[LSC_KSUM_N];
    LSC_TRY(
        ctx->ops->kernel_sums(ctx, a, NULL, a->rows, b, NULL, b->rows, LSC_KERNEL_RBF, ka, sums));
    LSC_TRY(lsc_progress(ctx, 1.0));
    lsc_mmd_result r;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.rows_a = a->rows;
    r.rows_b = b->rows;
    r.mmd = o.scale * lsc_mmd2_biased(sums, a->rows, b->rows, 1.0);
    r.tolerance = o.scale * lsc_mmd2_tolerance(LSC_KERNEL_RBF, ka, sums[LSC_KSUM_MAXSQ], a->cols);
    LSC_STORE_RESULT(out, &r, MMD_RESULT);
    return LSC_STATUS_OK;
}
