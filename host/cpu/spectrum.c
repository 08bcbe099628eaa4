/* Spectrum on the CPU (docs/METRICS.md section 1): float64 Grams built tile by tile with DSYRK and
 * LAPACK's symmetric eigensolver (values only). N >= D, and the streaming accumulator, use the
 * D x D Grams, accumulated around a pivot and corrected exactly; a single call with N < D uses the
 * N x N Grams of the exactly centred rows. The figures themselves come from common/. */
#include "tiles.h"
#include "../../common/gram_rules.h"
#include "../../common/spectrum_figures.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cpu_acc {
    int64_t d, n;
    int64_t zero_row; /* first all-zero row (in the order rows were added), -1 if none */
    double *pivot;    /* d: the centre the Gram is accumulated around */
    double *sum;      /* d: sum of (x - pivot) */
    double *gram;     /* d x d, upper triangle: sum (x - pivot)(x - pivot)^T */
    double *cosg;     /* d x d, upper triangle: sum xn xn^T, xn = x / ||x||; NULL when cov_only */
    int cov_only;     /* the Frechet statistics' accumulator: mean and covariance only */
} cpu_acc;

static const char *row_of(const lsc_matrix *m, int64_t r)
{
    return (const char *)m->data + (size_t)(r * m->ld) * lsc_dtype_size(m->dtype);
}

/* Rows per DSYRK tile: two float64 tiles of rows x d under the workspace limit. */
static int64_t rows_per_tile(lsc_ctx *ctx, int64_t d, int64_t n)
{
    return lsc_plan_rows(ctx->workspace_limit, 2 * sizeof(double) * (size_t)d, n < 2048 ? n : 2048);
}

static lsc_status acc_create(lsc_ctx *ctx, int64_t d, int cov_only, void **state)
{
    LSC_CHECK(ctx, d <= 46340, LSC_STATUS_NOT_SUPPORTED,
              "%lld columns: the D x D Gram exceeds LAPACK's 32-bit sizes", (long long)d);
    cpu_acc *a = (cpu_acc *)lsc_calloc(ctx, 1, sizeof *a, "accumulator");
    if (!a) return LSC_STATUS_OUT_OF_MEMORY;
    a->d = d;
    a->zero_row = -1;
    a->cov_only = cov_only;
    size_t dd = (size_t)d * (size_t)d;
    a->pivot = (double *)lsc_calloc(ctx, (size_t)d * 2, sizeof(double), "accumulator sums");
    a->gram = a->pivot ? (double *)lsc_calloc(ctx, dd * (cov_only ? 1 : 2), sizeof(double),
                                              "accumulator Grams")
                       : NULL;
    if (!a->gram) {
        lsc_cpu_acc_destroy(a);
        return LSC_STATUS_OUT_OF_MEMORY;
    }
    a->sum = a->pivot + d;
    a->cosg = cov_only ? NULL : a->gram + dd;
    *state = a;
    return LSC_STATUS_OK;
}

lsc_status lsc_cpu_acc_create(lsc_ctx *ctx, int64_t d, void **state)
{
    return acc_create(ctx, d, 0, state);
}

lsc_status lsc_cpu_cov_create(lsc_ctx *ctx, int64_t d, void **state)
{
    return acc_create(ctx, d, 1, state);
}

void lsc_cpu_acc_destroy(void *state)
{
    cpu_acc *a = (cpu_acc *)state;
    if (!a) return;
    free(a->pivot);
    free(a->gram);
    free(a);
}

/* Part t of adding a converted tile (nr rows): 0 the centred Gram, 1 the cosine Gram (float64:
 * a float32 Gram's noise floor sits above the pinned cut), 2 the column sums (in row order). */
static void acc_tile_part(cpu_acc *a, int t, const double *xc, const double *xn, int64_t nr,
                          int serial)
{
    const int64_t d = a->d;
    if (t == 1 && a->cov_only) return;
    if (t == 2) {
        for (int64_t i = 0; i < nr; i++)
            for (int64_t k = 0; k < d; k++) a->sum[k] += xc[i * d + k];
        return;
    }
    /* inside lsc's threads the single-threaded copy (tiles.h), else the caller's BLAS, whose
     * own threads then run one DSYRK at a time */
    if (serial) cpu_dsyrk_t_serial(d, nr, t ? xn : xc, t ? a->cosg : a->gram);
    else
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nr, 1.0, t ? xn : xc,
                    (int)d, 1.0, t ? a->cosg : a->gram, (int)d);
}

/* Adds m's rows. The first rows ever added fix the pivot: `pivot` if given, else their mean. */
static lsc_status acc_add(lsc_ctx *ctx, cpu_acc *a, const lsc_matrix *m, const double *pivot,
                          int progress)
{
    const int64_t d = a->d, n = m->rows;
    int64_t tr = rows_per_tile(ctx, d, n);
    LSC_CHECK(ctx, tr >= 1, LSC_STATUS_WORKSPACE_LIMIT,
              "workspace limit %zu bytes is too small for one row of %lld float64 columns",
              ctx->workspace_limit, (long long)d);
    double *xc =
        (double *)lsc_malloc(ctx, (size_t)tr * (size_t)d * 2 * sizeof(double), "Gram tiles");
    if (!xc) return LSC_STATUS_OUT_OF_MEMORY;
    double *xn = xc + (size_t)tr * (size_t)d;
    if (a->n == 0) {
        lsc_status ps = LSC_STATUS_OK;
        if (pivot) memcpy(a->pivot, pivot, (size_t)d * sizeof(double));
        else ps = cpu_mean(ctx, m, NULL, n, a->pivot);
        if (ps != LSC_STATUS_OK) {
            free(xc);
            return ps;
        }
    }
    int64_t zero_row = -1;
    lsc_status st = LSC_STATUS_OK;
    /* With up to three threads, one parallel region per tile and single-threaded BLAS: the
     * threads convert the tile's rows, then the two Grams' DSYRKs and the column sums run side
     * by side. Alternating lsc's threads with OpenBLAS's (which spin after each call) left two
     * cores no faster than one: 20,000 x 512 took 0.22 s with one thread or two, 0.16 s so.
     * With more threads one threaded DSYRK at a time uses every core. Either way each Gram of
     * a tile is one DSYRK call over the same rows. A covariance-only accumulator has one Gram:
     * with two or three threads each thread adds its share of the tile's rows to a Gram and
     * sums of its own, added up after the batch (in thread order), when those Grams fit the
     * workspace limit. On 2 busy cores (load 6), 20,000 x 256 took about 0.4 s a set with one
     * thread, 0.75 s with two alternating with a threaded DSYRK, 0.35-0.5 s split so. */
    const int side = ctx->threads <= 3;
    const size_t dd = (size_t)d * (size_t)d;
    const int split = side && a->cov_only && ctx->threads >= 2 &&
                      (size_t)(ctx->threads - 1) * dd * sizeof(double) <= ctx->workspace_limit;
    double *extra = NULL; /* threads 1 .. T-1: a Gram (dd) then sums (d) each */
    if (split) {
        extra = (double *)lsc_calloc(ctx, (size_t)(ctx->threads - 1) * (dd + (size_t)d),
                                     sizeof(double), "per-thread Grams");
        if (!extra) {
            free(xc);
            return LSC_STATUS_OUT_OF_MEMORY;
        }
    }
    const int blas_prev = side ? cpu_blas_single_enter() : 0;
    for (int64_t r0 = 0; r0 < n; r0 += tr) {
        int64_t nr = n - r0 < tr ? n - r0 : tr;
        int64_t tile_zero = -1;
#pragma omp parallel num_threads(ctx->threads) if (side || nr * d > 32768)
        {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < nr; i++) {
                const char *row = row_of(m, r0 + i);
                double *c = xc + i * d, *u = xn + i * d, q = 0.0;
                for (int64_t k = 0; k < d; k++) {
                    double v = (double)lsc_load_f32(row, (int)m->dtype, k);
                    c[k] = v - a->pivot[k];
                    u[k] = v;
                    q += v * v;
                }
                if (q > 0.0 && !a->cov_only) { /* no cosine Gram, no normalised rows */
                    double inv = 1.0 / sqrt(q);
                    for (int64_t k = 0; k < d; k++) u[k] *= inv;
                } else if (q == 0.0) {
#pragma omp critical(lsc_acc_zero)
                    if (tile_zero < 0 || i < tile_zero) tile_zero = i;
                }
            }
            if (split) {
                const int tid = cpu_tid(), nth = cpu_nthreads();
                int64_t lo, hi;
                cpu_thread_rows(nr, tid, nth, &lo, &hi);
                double *g = tid ? extra + (size_t)(tid - 1) * (dd + (size_t)d) : a->gram;
                double *sum = tid ? g + dd : a->sum;
                if (hi > lo) {
                    cpu_dsyrk_t_serial(d, hi - lo, xc + lo * d, g);
                    for (int64_t i = lo; i < hi; i++)
                        for (int64_t k = 0; k < d; k++) sum[k] += xc[i * d + k];
                }
            } else if (side) {
#pragma omp for schedule(static, 1)
                for (int t = 0; t < 3; t++) acc_tile_part(a, t, xc, xn, nr, 1);
            }
        }
        if (!side)
            for (int t = 0; t < 3; t++) acc_tile_part(a, t, xc, xn, nr, 0);
        if (tile_zero >= 0 && zero_row < 0) zero_row = r0 + tile_zero;
        if (progress) st = lsc_progress(ctx, 0.9 * (double)(r0 + nr) / (double)n);
        if (st != LSC_STATUS_OK) break;
    }
    if (side) cpu_blas_single_leave(blas_prev);
    for (int t = 1; split && t < ctx->threads; t++) {
        const double *g = extra + (size_t)(t - 1) * (dd + (size_t)d);
        for (size_t e = 0; e < dd; e++) a->gram[e] += g[e];
        for (int64_t k = 0; k < d; k++) a->sum[k] += g[dd + (size_t)k];
    }
    free(extra);
    free(xc);
    if (st != LSC_STATUS_OK) return st;
    if (a->zero_row < 0 && zero_row >= 0) a->zero_row = a->n + zero_row;
    a->n += n;
    return LSC_STATUS_OK;
}

/* A streamed batch reports no progress and so cannot be cancelled half-way: after the scratch
 * allocation nothing can fail, and a failed add leaves the accumulator as it was. */
lsc_status lsc_cpu_acc_add(lsc_ctx *ctx, void *state, const lsc_matrix *batch)
{
    return acc_add(ctx, (cpu_acc *)state, batch, NULL, 0);
}

lsc_status lsc_cpu_acc_merge(lsc_ctx *ctx, void *into, const void *from)
{
    (void)ctx;
    cpu_acc *a = (cpu_acc *)into;
    const cpu_acc *b = (const cpu_acc *)from;
    const int64_t d = a->d;
    size_t dd = (size_t)d * (size_t)d;
    if (a->n == 0) {
        memcpy(a->pivot, b->pivot, 2 * (size_t)d * sizeof(double));
        memcpy(a->gram, b->gram, (a->cov_only ? 1 : 2) * dd * sizeof(double));
        a->n = b->n;
        a->zero_row = b->zero_row;
        return LSC_STATUS_OK;
    }
    /* move b's Gram and sums to a's pivot exactly (lsc_gram_moved) */
    const double nb = (double)b->n;
    for (int64_t i = 0; i < d; i++) {
        double di = b->pivot[i] - a->pivot[i];
        for (int64_t j = i; j < d; j++) {
            double dj = b->pivot[j] - a->pivot[j];
            a->gram[i * d + j] +=
                lsc_gram_moved(b->gram[i * d + j], b->sum[i], b->sum[j], di, dj, nb);
            if (!a->cov_only) a->cosg[i * d + j] += b->cosg[i * d + j];
        }
    }
    for (int64_t i = 0; i < d; i++)
        a->sum[i] += lsc_sum_moved(b->sum[i], b->pivot[i] - a->pivot[i], nb);
    if (a->zero_row < 0 && b->zero_row >= 0) a->zero_row = a->n + b->zero_row;
    a->n += b->n;
    return LSC_STATUS_OK;
}

/* The status of LAPACKE_dsyevd's `info` on the `what` Gram (whose eigenvalues are in w), and
 * the values prepared for the figures. */
static lsc_status eigs_done(lsc_ctx *ctx, lapack_int info, int64_t n, double *w, const char *what)
{
    /* LAPACKE allocates its own work arrays and says LAPACK_WORK_MEMORY_ERROR (or
     * LAPACK_TRANSPOSE_MEMORY_ERROR) when that fails; a positive info is no convergence */
    LSC_CHECK(ctx, info != LAPACK_WORK_MEMORY_ERROR && info != LAPACK_TRANSPOSE_MEMORY_ERROR,
              LSC_STATUS_OUT_OF_MEMORY, "out of host memory in LAPACK dsyevd on the %s", what);
    LSC_CHECK(ctx, info == 0, LSC_STATUS_INTERNAL, "LAPACK dsyevd failed on the %s (info %d)", what,
              (int)info);
    lsc_eigs_prepare(w, n);
    return LSC_STATUS_OK;
}

/* The row-major upper triangle is the column-major lower one: LAPACK reads the buffer in place
 * ('L', column-major), with work arrays of 2 n + 1 doubles for values only. LAPACKE's row-major
 * path copied and transposed n^2 doubles into fresh memory at every call (at D = 512 its page
 * faults and unmaps made up a quarter of the eigenvalue time). */
/* the serial dsyevd takes LAPACK's 32-bit integers, as Debian's LAPACKE does */
typedef char lsc_lapack_int_is_int[sizeof(lapack_int) == sizeof(int) ? 1 : -1];

/* `serial`: called from inside lsc's threads, so on the single-threaded copy (tiles.h). */
static lapack_int eigs_of(double *s, int64_t n, double *w, int serial)
{
    double wq = 0.0;
    lapack_int iq = 0;
    lapack_int info = serial ? cpu_dsyevd_values_serial(n, s, w, &wq, -1, &iq, -1)
                             : LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)n, s,
                                                   (lapack_int)n, w, &wq, -1, &iq, -1);
    if (info != 0) return info;
    const size_t lw = (size_t)wq > 1 ? (size_t)wq : 1, liw = iq > 1 ? (size_t)iq : 1;
    double *work = (double *)malloc(lw * sizeof(double));
    lapack_int *iwork = (lapack_int *)malloc(liw * sizeof(lapack_int));
    if (work && iwork)
        info = serial ? cpu_dsyevd_values_serial(n, s, w, work, (int64_t)lw, iwork, (int64_t)liw)
                      : LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)n, s,
                                            (lapack_int)n, w, work, (lapack_int)lw, iwork,
                                            (lapack_int)liw);
    else info = LAPACK_WORK_MEMORY_ERROR;
    free(work);
    free(iwork);
    return info;
}

/* Eigenvalues (values only) of the symmetric n x n matrix whose upper triangle is in `s`
 * (overwritten), descending after the pinned cut. */
static lsc_status sym_eigs(lsc_ctx *ctx, double *s, int64_t n, double *w, const char *what)
{
    return eigs_done(ctx, eigs_of(s, n, w, 0), n, w, what);
}

/* The D x D Grams' matrices for the eigensolver (lsc_gram_entry; `which` an LSC_GRAM_ kind).
 * Upper triangles. */
static void acc_matrix(const cpu_acc *a, int which, double *m)
{
    const int64_t d = a->d;
    const double n = (double)a->n;
    const double *acc = which == LSC_GRAM_COSINE ? a->cosg : a->gram;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i; j < d; j++) {
            const size_t e = (size_t)(i * d + j);
            m[e] = lsc_gram_entry(which, n, acc[e], a->sum[i], a->sum[j], a->pivot[i], a->pivot[j]);
        }
}

lsc_status lsc_cpu_acc_eigs(lsc_ctx *ctx, const void *state, lsc_spectrum_eigs *e)
{
    const cpu_acc *a = (const cpu_acc *)state;
    const int64_t d = a->d;
    const double n = (double)a->n;
    size_t dd = (size_t)d * (size_t)d;
    for (int64_t k = 0; k < d; k++) {
        e->colvar[k] = lsc_gram_colvar(a->gram[k * d + k], a->sum[k], n);
    }
    double *w[3] = {e->gram_c, e->gram_u, e->cos_nu};
    static const char *const what[3] = {"centred Gram", "uncentred Gram", "cosine Gram"};
    const int np = a->zero_row < 0 ? 3 : 2; /* no cosine Gram with a zero row */
    /* With up to three threads (as acc_add) the problems are solved side by side, each with
     * single-threaded LAPACK, when their matrices fit the workspace limit: threaded dsyevd at
     * D = 512 took 66 ms for the three with two lsc threads spinning beside it, 50 ms with one. */
    const int side = ctx->threads <= 3 && (size_t)np * dd * sizeof(double) <= ctx->workspace_limit;
    double *m =
        (double *)lsc_malloc(ctx, (side ? (size_t)np : 1) * dd * sizeof(double), "eigen work");
    if (!m) return LSC_STATUS_OUT_OF_MEMORY;
    lsc_status st = LSC_STATUS_OK;
    if (side) {
        lapack_int info[3] = {0, 0, 0};
        const int blas_prev = cpu_blas_single_enter();
#pragma omp parallel for schedule(dynamic, 1) num_threads(ctx->threads)
        for (int p = 0; p < np; p++) {
            acc_matrix(a, p, m + (size_t)p * dd);
            info[p] = eigs_of(m + (size_t)p * dd, d, w[p], 1);
        }
        cpu_blas_single_leave(blas_prev);
        for (int p = 0; p < np && st == LSC_STATUS_OK; p++)
            st = eigs_done(ctx, info[p], d, w[p], what[p]);
    } else {
        for (int p = 0; p < np && st == LSC_STATUS_OK; p++) {
            acc_matrix(a, p, m);
            st = sym_eigs(ctx, m, d, w[p], what[p]);
        }
    }
    free(m);
    e->rows = a->n;
    e->cols = d;
    e->n_ev = d;
    e->zero_row = a->zero_row;
    return st;
}

/* Mean and covariance from the state (lsc_gram_mean, lsc_gram_cov), mirrored into both
 * triangles. */
lsc_status lsc_cpu_cov_stats(lsc_ctx *ctx, const void *state, double *mu, double *sigma)
{
    (void)ctx;
    const cpu_acc *a = (const cpu_acc *)state;
    const int64_t d = a->d;
    const double n = (double)a->n;
    for (int64_t i = 0; i < d; i++) mu[i] = lsc_gram_mean(a->pivot[i], a->sum[i], n);
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i; j < d; j++) {
            const double v = lsc_gram_cov(a->gram[i * d + j], a->sum[i], a->sum[j], n);
            sigma[i * d + j] = v;
            sigma[j * d + i] = v;
        }
    return LSC_STATUS_OK;
}

/* N < D: the N x N Grams of the exactly centred rows, built over column blocks. */
static lsc_status spectrum_small_n(lsc_ctx *ctx, const lsc_matrix *x, lsc_spectrum_eigs *e)
{
    const int64_t n = x->rows, d = x->cols;
    size_t nn = (size_t)n * (size_t)n;
    const int64_t tc =
        lsc_plan_rows(ctx->workspace_limit, 2 * sizeof(double) * (size_t)n, d < 1024 ? d : 1024);
    LSC_CHECK(ctx, tc >= 1, LSC_STATUS_WORKSPACE_LIMIT,
              "workspace limit %zu bytes is too small for one column of %lld float64 rows",
              ctx->workspace_limit, (long long)n);
    double *mu = (double *)lsc_malloc(ctx, (size_t)d * sizeof(double), "column means");
    double *kc = mu ? (double *)lsc_calloc(ctx, nn * 2, sizeof(double), "N x N Grams") : NULL;
    double *blk =
        kc ? (double *)lsc_malloc(ctx, (size_t)n * (size_t)tc * 2 * sizeof(double), "Gram tiles")
           : NULL;
    lsc_status st = blk ? cpu_mean(ctx, x, NULL, n, mu) : LSC_STATUS_OUT_OF_MEMORY;
    double *ku = kc ? kc + nn : NULL;
    for (int64_t c0 = 0; c0 < d && st == LSC_STATUS_OK; c0 += tc) {
        int64_t nc = d - c0 < tc ? d - c0 : tc;
        double *bc = blk, *bu = blk + (size_t)n * (size_t)nc;
        for (int64_t i = 0; i < n; i++) {
            const char *row = row_of(x, i);
            for (int64_t k = 0; k < nc; k++) {
                double v = (double)lsc_load_f32(row, (int)x->dtype, c0 + k);
                bu[i * nc + k] = v;
                bc[i * nc + k] = v - mu[c0 + k];
            }
        }
        for (int64_t k = 0; k < nc; k++) {
            double s2 = 0.0;
            for (int64_t i = 0; i < n; i++) s2 += bc[i * nc + k] * bc[i * nc + k];
            e->colvar[c0 + k] = lsc_sample_var(s2, n);
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)nc, 1.0, bc, (int)nc, 1.0,
                    kc, (int)n);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)nc, 1.0, bu, (int)nc, 1.0,
                    ku, (int)n);
        st = lsc_progress(ctx, 0.9 * (double)(c0 + nc) / (double)d);
    }
    e->zero_row = -1;
    if (st == LSC_STATUS_OK) {
        /* cosine Gram from the uncentred one: K_ij = U_ij / sqrt(U_ii U_jj), divided by N;
         * built in blk's place before the eigensolver overwrites ku */
        for (int64_t i = 0; i < n && e->zero_row < 0; i++)
            if (!(ku[(size_t)i * n + i] > 0.0)) e->zero_row = i;
        st = sym_eigs(ctx, kc, n, e->gram_c, "centred Gram");
    }
    if (st == LSC_STATUS_OK && e->zero_row < 0) {
        double *kv = kc; /* reuse: the centred Gram is no longer needed */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i; j < n; j++)
                kv[i * n + j] =
                    ku[i * n + j] / sqrt(ku[(size_t)i * n + i] * ku[(size_t)j * n + j]) / (double)n;
        st = sym_eigs(ctx, kv, n, e->cos_nu, "cosine Gram");
    }
    if (st == LSC_STATUS_OK) st = sym_eigs(ctx, ku, n, e->gram_u, "uncentred Gram");
    e->rows = n;
    e->cols = d;
    e->n_ev = n;
    free(mu);
    free(kc);
    free(blk);
    return st;
}

lsc_status lsc_cpu_spectrum(lsc_ctx *ctx, const lsc_matrix *x, lsc_spectrum_eigs *e)
{
    if (x->rows < x->cols) return spectrum_small_n(ctx, x, e);
    void *state = NULL;
    LSC_TRY(lsc_cpu_acc_create(ctx, x->cols, &state));
    cpu_acc *a = (cpu_acc *)state;
    /* one call sees all rows: pivot on the exact mean, so the correction term is ~0 */
    double *mu = (double *)lsc_malloc(ctx, (size_t)x->cols * sizeof(double), "column means");
    lsc_status st = mu ? cpu_mean(ctx, x, NULL, x->rows, mu) : LSC_STATUS_OUT_OF_MEMORY;
    if (st == LSC_STATUS_OK) st = acc_add(ctx, a, x, mu, 1);
    if (st == LSC_STATUS_OK) st = lsc_cpu_acc_eigs(ctx, a, e);
    free(mu);
    lsc_cpu_acc_destroy(a);
    return st;
}

/* The state's fields as they are (the triangles packed row by row), so an imported state merges
 * exactly as lsc_cpu_acc_merge merges the exported one. */
lsc_status lsc_cpu_acc_export(lsc_ctx *ctx, const void *state, lsc_acc_state *out)
{
    (void)ctx;
    const cpu_acc *a = (const cpu_acc *)state;
    const int64_t d = a->d;
    out->n = a->n;
    out->zero_row = a->zero_row;
    if (a->n == 0) return LSC_STATUS_OK;
    memcpy(out->pivot, a->pivot, (size_t)d * sizeof(double));
    memcpy(out->sum, a->sum, (size_t)d * sizeof(double));
    for (int64_t i = 0; i < d; i++) {
        const int64_t at = lsc_packed_upper_at(d, i, i);
        memcpy(out->gram + at, a->gram + i * d + i, (size_t)(d - i) * sizeof(double));
        memcpy(out->cosg + at, a->cosg + i * d + i, (size_t)(d - i) * sizeof(double));
    }
    return LSC_STATUS_OK;
}

lsc_status lsc_cpu_acc_import(lsc_ctx *ctx, void *state, const lsc_acc_state *in)
{
    (void)ctx;
    cpu_acc *a = (cpu_acc *)state;
    const int64_t d = a->d;
    a->n = in->n;
    a->zero_row = in->zero_row;
    if (in->n == 0) return LSC_STATUS_OK;
    memcpy(a->pivot, in->pivot, (size_t)d * sizeof(double));
    memcpy(a->sum, in->sum, (size_t)d * sizeof(double));
    for (int64_t i = 0; i < d; i++) {
        const int64_t at = lsc_packed_upper_at(d, i, i);
        memcpy(a->gram + i * d + i, in->gram + at, (size_t)(d - i) * sizeof(double));
        memcpy(a->cosg + i * d + i, in->cosg + at, (size_t)(d - i) * sizeof(double));
    }
    return LSC_STATUS_OK;
}
