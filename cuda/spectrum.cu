/* Spectrum on the GPU (docs/METRICS.md section 1), the same Grams as host/cpu/spectrum.c:
 *   N >= D, and the streaming accumulator: float64 D x D Grams accumulated tile by tile around a
 *     pivot (the first tile's mean) with cuBLAS DSYRK (FP64 tensor cores on Hopper), corrected
 *     exactly, as the CPU does;
 *   a single call with N < D: the N x N Grams of the exactly centred rows (and of the rows
 *     themselves), built over column blocks, each block centred on its own columns' exact means.
 * Synchronous calls take eigenvalues from cuSOLVER's 64-bit syevd and hand them to the host,
 * which computes the figures with common/spectrum_figures.h.
 *
 * The asynchronous form (lsc_spectrum_async) must be capturable into a CUDA graph, so it never
 * waits, never allocates once warm, and calls nothing that may synchronise. cuSOLVER's syevd
 * does not qualify: its generic API takes a host workspace (part of the solve may run on the
 * host, behind a copy that waits) and cuSOLVER documents no stream-capture support (CuPy's audit
 * of the CUDA libraries lists cuSOLVER as not capturable; neither syevj, whose sweeps and
 * residual are read on the host, nor syevjBatched, limited to n <= 32, is documented as
 * capturable either). The asynchronous form therefore uses an eigenvalue solver written here
 * from kernels only: Householder reduction to tridiagonal form (unblocked: four small kernels per
 * column, memory-bound, O(n^3), fine to D of a few thousand) and bisection with Sturm counts, one
 * thread per eigenvalue (LAPACK's dstebz idea), both in float64, deterministic. A host prototype
 * of the same arithmetic agreed with LAPACK's dsyevd to about 4e-15 of the largest eigenvalue on
 * random, rank-deficient and offset Grams, far inside the pinned cut at 1e-10. The figures are
 * then computed on the device by the same common/ functions.
 *
 * Scratch comes from the context's workspace (slot LSC_WS_SPECTRUM, grow-only, through the
 * caller's device allocator when one is set); tiles are sized to the workspace limit and halved
 * when an allocation fails. An accumulator's own state is not scratch: it lives as long as the
 * accumulator, is allocated with cudaMalloc at create and freed with cudaFree (which waits for the
 * device) at destroy, because destroy has no context and the stream it last used may be gone. */
#include "cuda_internal.cuh"
#include "workspace.cuh"
#include "../common/gram_rules.h"
#include "../common/spectrum_figures.h"
#include "../common/abi.h"
#include "../common/distance_rules.h"

#include <cfloat>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int64_t kTileRows = 2048; // rows per DSYRK tile (N >= D), as the CPU
constexpr int64_t kTileCols = 1024; // columns per block (N < D), as the CPU
constexpr int kThreads = 256;       // every kernel below that reduces assumes this block size
constexpr int kWarps = kThreads / 32;
constexpr long long kNoRow = LLONG_MAX;

/* The D x D accumulation: sums and Grams around `pivot`, lower triangles, column-major. */
struct gram_state {
    double *pivot, *sum; // d each
    double *gram, *cosg; // d x d; cosg NULL in a covariance-only accumulator (lsc_fd_acc)
    long long *zero_row; // first all-zero row, kNoRow if none
};

struct cuda_acc {
    int64_t d, n;
    void *block; // cudaMalloc'ed: everything in `g`
    gram_state g;
    int device;   // where `block` lives
    int broken;   // an add failed part-way: some of its tiles may be in `g`, so `g` is lost
    int cov_only; // the Frechet statistics' accumulator: no cosine Gram
};

/* Refuses an accumulator that another device holds (its state would be read without peer
 * access) or whose state an earlier failed add left half-updated. */
lsc_status acc_usable(lsc_ctx *ctx, const cuda_acc *a)
{
    const int dev = cuda_of(ctx)->device;
    if (a->device != dev)
        return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                             "the accumulator lives on CUDA device %d, this context runs on "
                             "device %d",
                             a->device, dev);
    if (a->broken)
        return lsc_set_error(ctx, LSC_STATUS_DEVICE_ERROR,
                             "the accumulator's state was lost when an earlier add failed on the "
                             "device part-way through its batch: create a new accumulator");
    return LSC_STATUS_OK;
}

/* Tiles of one pass over rows (N >= D). */
struct row_tiles {
    int64_t tr;      // rows per tile
    double *xc, *xn; // tr x d each: centred rows, normalised rows
    double *ones;    // tr
    char *stage;     // tr x d x es: a host tile's device copy (NULL for device input)
};

/* Scratch of the kernel-only eigenvalue solver, for matrices of up to n rows. */
struct eig_scratch {
    double *v, *p, *dg, *od; // n each
    double *sc;              // 4: tau of the current reflector
};

unsigned blocks(int64_t n) { return (unsigned)((n + kThreads - 1) / kThreads); }

/* progress between tiles, on the calling thread (host/error.c, linked into this module) */
lsc_status progress(lsc_ctx *ctx, double fraction) { return lsc_progress(ctx, fraction); }

/* ---- carving --------------------------------------------------------------------------------- */

void take_state(lsc_ws_carve *c, int64_t d, gram_state *g, bool cosine = true)
{
    const size_t dd = (size_t)d * (size_t)d;
    lsc_ws_take(c, (size_t)d * sizeof(double), &g->pivot);
    lsc_ws_take(c, (size_t)d * sizeof(double), &g->sum);
    lsc_ws_take(c, dd * sizeof(double), &g->gram);
    g->cosg = nullptr;
    if (cosine) lsc_ws_take(c, dd * sizeof(double), &g->cosg);
    lsc_ws_take(c, sizeof(long long), &g->zero_row);
}

void take_rows(lsc_ws_carve *c, int64_t d, int64_t tr, size_t stage_es, row_tiles *t)
{
    t->tr = tr;
    lsc_ws_take(c, (size_t)tr * (size_t)d * sizeof(double), &t->xc);
    lsc_ws_take(c, (size_t)tr * (size_t)d * sizeof(double), &t->xn);
    lsc_ws_take(c, (size_t)tr * sizeof(double), &t->ones);
    t->stage = nullptr;
    if (stage_es) lsc_ws_take(c, (size_t)tr * (size_t)d * stage_es, &t->stage);
}

void take_eig(lsc_ws_carve *c, int64_t n, eig_scratch *s)
{
    lsc_ws_take(c, (size_t)n * sizeof(double), &s->v);
    lsc_ws_take(c, (size_t)n * sizeof(double), &s->p);
    lsc_ws_take(c, (size_t)n * sizeof(double), &s->dg);
    lsc_ws_take(c, (size_t)n * sizeof(double), &s->od);
    lsc_ws_take(c, 4 * sizeof(double), &s->sc);
}

/* n x n doubles must be addressable (and a few of them must fit in size_t). */
lsc_status square_fits(lsc_ctx *ctx, int64_t n, const char *what)
{
    const int64_t nn = lsc_mul_i64(n, n);
    LSC_CHECK(ctx, nn >= 0 && (uint64_t)nn <= SIZE_MAX / (8 * sizeof(double)), LSC_STATUS_OVERFLOW,
              "%s: %lld x %lld float64 values overflow size_t", what, (long long)n, (long long)n);
    return LSC_STATUS_OK;
}

/* Reserves the spectrum slot for `layout(carve, t)` with the largest t <= *t that can be had:
 * an out-of-memory answer halves t (dropping the slot first, so the old buffer need not coexist
 * with the new), as does a slot that cannot grow during graph capture (a smaller t may fit the
 * slot as it is). The layout is then carved from the reserved base with the t found. */
template <class Layout>
lsc_status reserve_layout(lsc_ctx *ctx, int64_t *t, const char *what, Layout layout)
{
    int64_t cur = *t;
    for (;;) {
        lsc_ws_carve c = {nullptr, 0};
        layout(&c, cur);
        void *base = nullptr;
        lsc_status st = lsc_cuda_ws_reserve(ctx, LSC_WS_SPECTRUM, c.off, what, &base);
        if (st == LSC_STATUS_OK) {
            if (cur != *t) ctx->err[0] = '\0'; // a retry succeeded: no failure to report
            c = lsc_ws_carve{static_cast<char *>(base), 0};
            layout(&c, cur);
            *t = cur;
            return LSC_STATUS_OK;
        }
        if (st != LSC_STATUS_OUT_OF_MEMORY && st != LSC_STATUS_NOT_SUPPORTED) return st;
        if (cur <= 1) return st;
        if (st == LSC_STATUS_OUT_OF_MEMORY) lsc_cuda_ws_drop(ctx, LSC_WS_SPECTRUM);
        cur = (cur + 1) / 2;
    }
}

/* Rows per tile under the workspace limit (at most kTileRows and n), or WORKSPACE_LIMIT. */
lsc_status plan_rows(lsc_ctx *ctx, int64_t d, int64_t n, size_t stage_es, int64_t *tr)
{
    const size_t per_row = (size_t)d * (2 * sizeof(double) + stage_es) + sizeof(double);
    const int64_t r =
        lsc_plan_rows(lsc_cuda_ws_budget(ctx), per_row, n < kTileRows ? n : kTileRows);
    LSC_CHECK(ctx, r >= 1, LSC_STATUS_WORKSPACE_LIMIT,
              "workspace limit %zu bytes is too small for one row of %lld float64 columns",
              lsc_cuda_ws_budget(ctx), (long long)d);
    *tr = r;
    return LSC_STATUS_OK;
}

/* Columns per block under the workspace limit (N < D), or WORKSPACE_LIMIT. */
lsc_status plan_cols(lsc_ctx *ctx, int64_t n, int64_t d, size_t stage_es, int64_t *tc)
{
    const size_t per_col = (size_t)n * (2 * sizeof(double) + stage_es);
    const int64_t c =
        lsc_plan_rows(lsc_cuda_ws_budget(ctx), per_col, d < kTileCols ? d : kTileCols);
    LSC_CHECK(ctx, c >= 1, LSC_STATUS_WORKSPACE_LIMIT,
              "workspace limit %zu bytes is too small for one column of %lld float64 rows",
              lsc_cuda_ws_budget(ctx), (long long)n);
    *tc = c;
    return LSC_STATUS_OK;
}

/* ---- kernels: Grams --------------------------------------------------------------------------- */

__global__ void state_init(int64_t d, gram_state g)
{
    const int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (e < d * d) {
        g.gram[e] = 0.0;
        if (g.cosg) g.cosg[e] = 0.0;
    }
    if (e < d) {
        g.pivot[e] = 0.0;
        g.sum[e] = 0.0;
    }
    if (e == 0) *g.zero_row = kNoRow;
}

__global__ void fill(double *x, int64_t n, double v)
{
    const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i < n) x[i] = v;
}

__global__ void set_row(long long *x, long long v) { *x = v; }

/* One block per row: xc = x - pivot and xn = x / ||x|| in float64 (row-major nr x d, i.e. the
 * column-major d x nr matrix cuBLAS wants), and the first all-zero row. */
__global__ void convert_rows(const char *src, int dtype, size_t es, int64_t ld, int64_t nr,
                             int64_t d, long long row_base, const double *pivot, double *xc,
                             double *xn, long long *zero_row)
{
    __shared__ double red[kThreads];
    const int64_t i = blockIdx.x;
    const char *row = src + (size_t)(i * ld) * es;
    double q = 0.0;
    for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
        const double v = (double)lsc_load_f32(row, dtype, c);
        xc[i * d + c] = v - pivot[c];
        xn[i * d + c] = v;
        q += v * v;
    }
    q = lsc_block_sum<kThreads>(q, red);
    const double inv = q > 0.0 ? 1.0 / sqrt(q) : 0.0;
    for (int64_t c = threadIdx.x; c < d; c += blockDim.x) xn[i * d + c] *= inv;
    if (q == 0.0 && threadIdx.x == 0) atomicMin(zero_row, row_base + (long long)i);
}

/* Column means of the first tile: the pivot (docs/METRICS.md: accumulate around the first batch's
 * mean so a large common offset costs no digits). */
__global__ void tile_mean(const char *src, int dtype, size_t es, int64_t ld, int64_t nr, int64_t d,
                          double *pivot)
{
    const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (c >= d) return;
    double s = 0.0;
    for (int64_t i = 0; i < nr; i++)
        s += (double)lsc_load_f32(src + (size_t)(i * ld) * es, dtype, c);
    pivot[c] = s / (double)nr;
}

/* into += from, moving from's Gram and sums to into's pivot exactly (lsc_gram_moved). */
__global__ void merge_grams(int64_t d, double nb, const double *pa, const double *pb,
                            const double *sb, double *ga, const double *gb, double *va,
                            const double *vb)
{
    const int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (e >= d * d) return;
    const int64_t i = e % d, j = e / d;
    const double di = pb[i] - pa[i], dj = pb[j] - pa[j];
    ga[e] += lsc_gram_moved(gb[e], sb[i], sb[j], di, dj, nb);
    if (va) va[e] += vb[e];
}

__global__ void merge_sums(int64_t d, double nb, const double *pa, const double *pb, double *sa,
                           const double *sb, long long *za, const long long *zb, long long na)
{
    const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i < d) sa[i] += lsc_sum_moved(sb[i], pb[i] - pa[i], nb);
    if (i == 0 && *za == kNoRow && *zb != kNoRow) *za = *zb + na;
}

/* The full symmetric matrix of one Gram (`kind` an LSC_GRAM_ kind, lsc_gram_entry) from the
 * accumulated lower triangles. Entry (i, j) is computed from (max, min) so the two halves are
 * equal to the bit (the asynchronous form's solver reads both). */
__global__ void build(int kind, int64_t d, double n, const double *g, const double *v,
                      const double *s, const double *p, double *m)
{
    const int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (e >= d * d) return;
    const int64_t i0 = e % d, j0 = e / d;
    const int64_t i = i0 >= j0 ? i0 : j0, j = i0 >= j0 ? j0 : i0; // i >= j
    const int64_t l = i + j * d;
    m[e] = lsc_gram_entry(kind, n, kind == LSC_GRAM_COSINE ? v[l] : g[l], s[i], s[j], p[i], p[j]);
}

__global__ void column_variance(int64_t d, double n, const double *g, const double *s, double *out)
{
    const int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (k >= d) return;
    out[k] = lsc_gram_colvar(g[k + k * d], s[k], n);
}

/* N < D, one block of nc columns of all n rows, one thread per column: the columns' exact means,
 * then the centred and the plain values (row-major n x nc, i.e. the column-major nc x n matrix
 * DSYRK with CUBLAS_OP_T wants) and the columns' sample variances. */
__global__ void block_columns(const char *src, int dtype, size_t es, int64_t ld, int64_t n,
                              int64_t nc, double *bc, double *bu, double *colvar)
{
    const int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (k >= nc) return;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)lsc_load_f32(src + (size_t)(i * ld) * es, dtype, k);
    const double mu = s / (double)n;
    double s2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double v = (double)lsc_load_f32(src + (size_t)(i * ld) * es, dtype, k);
        const double c = v - mu;
        bc[i * nc + k] = c;
        bu[i * nc + k] = v;
        s2 += c * c;
    }
    colvar[k] = lsc_sample_var(s2, n);
}

/* N < D: the first row whose uncentred Gram diagonal is not positive (an all-zero row). */
__global__ void diag_zero_row(const double *ku, int64_t n, long long *zero_row)
{
    const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i < n && !(ku[i + i * n] > 0.0)) atomicMin(zero_row, (long long)i);
}

/* N < D: K / N with K_ij = U_ij / sqrt(U_ii U_jj), full, from U's lower triangle (0 where a row
 * is zero: the result is then unused, vendi being unavailable). */
__global__ void cos_from_uncentred(const double *ku, int64_t n, double *kv)
{
    const int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (e >= n * n) return;
    const int64_t i = e % n, j = e / n;
    const int64_t l = i >= j ? e : j + i * n;
    const double di = ku[i + i * n], dj = ku[j + j * n];
    kv[e] = di > 0.0 && dj > 0.0 ? ku[l] / sqrt(di * dj) / (double)n : 0.0;
}

/* Copies the lower triangle onto the upper one (the solver below reads full matrices). */
__global__ void mirror_lower(double *a, int64_t n)
{
    const int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (e >= n * n) return;
    const int64_t i = e % n, j = e / n;
    if (i < j) a[e] = a[j + i * n];
}

/* ---- kernels: eigenvalues of a symmetric matrix without cuSOLVER (asynchronous form) ----------
 * A is n x n, full, column-major, overwritten. Step k reflects column k below the diagonal onto
 * its first entry: H = I - tau u u^T, u = x - alpha e1, alpha = -sign(x0) ||x||, then
 * A22 <- H A22 H = A22 - u w^T - w u^T with p = tau A22 u, w = p - (tau/2)(p.u) u. */

__global__ void house(const double *a, int64_t n, int64_t k, double *v, double *dg, double *od,
                      double *sc)
{
    __shared__ double red[kThreads];
    const int64_t m = n - k - 1;
    const double *x = a + (k + 1) + k * n; // column k below the diagonal
    double s = 0.0;
    for (int64_t i = 1 + threadIdx.x; i < m; i += blockDim.x) s += x[i] * x[i];
    s = lsc_block_sum<kThreads>(s, red);
    const double x0 = x[0];
    double tau = 0.0, alpha = x0;
    if (s != 0.0) {
        const double nrm = sqrt(x0 * x0 + s);
        alpha = x0 >= 0.0 ? -nrm : nrm;
        tau = 2.0 / ((x0 - alpha) * (x0 - alpha) + s);
    }
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) v[i] = i == 0 ? x0 - alpha : x[i];
    if (threadIdx.x == 0) {
        sc[0] = tau;
        dg[k] = a[k + k * n];
        od[k] = alpha;
    }
}

/* p = tau A22 u, one warp per entry: entry i reads column i of A22 (contiguous; A symmetric). */
__global__ void house_symv(const double *a, int64_t n, int64_t k, const double *v, const double *sc,
                           double *p)
{
    const int64_t m = n - k - 1;
    const int64_t i = blockIdx.x * (int64_t)kWarps + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (i >= m) return;
    const double tau = sc[0];
    double t = 0.0;
    if (tau != 0.0) {
        const double *col = a + (k + 1) + (k + 1 + i) * n;
        for (int64_t j = lane; j < m; j += 32) t += col[j] * v[j];
        for (int off = 16; off > 0; off >>= 1) t += __shfl_down_sync(0xffffffffu, t, off);
    }
    if (lane == 0) p[i] = tau * t;
}

/* w = p - (tau/2)(p.u) u, in place of p; one block. */
__global__ void house_w(int64_t m, const double *v, const double *sc, double *p)
{
    __shared__ double red[kThreads];
    double t = 0.0;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) t += p[i] * v[i];
    const double kk = 0.5 * sc[0] * lsc_block_sum<kThreads>(t, red);
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) p[i] -= kk * v[i];
}

/* A22 -= u w^T + w u^T. The products are rounded separately (no FMA contraction), so entries
 * (i, j) and (j, i) receive the same value and A22 stays symmetric to the bit. */
__global__ void house_rank2(double *a, int64_t n, int64_t k, const double *v, const double *w,
                            const double *sc)
{
    const int64_t m = n - k - 1;
    const int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (e >= m * m || sc[0] == 0.0) return;
    const int64_t i = e % m, j = e / m;
    a[(k + 1 + i) + (k + 1 + j) * n] -= __dmul_rn(v[i], w[j]) + __dmul_rn(w[i], v[j]);
}

__global__ void tri_tail(const double *a, int64_t n, double *dg, double *od)
{
    if (n >= 2) {
        dg[n - 2] = a[(n - 2) + (n - 2) * n];
        od[n - 2] = a[(n - 1) + (n - 2) * n];
    }
    dg[n - 1] = a[(n - 1) + (n - 1) * n];
}

/* Eigenvalue `idx` (ascending) of the tridiagonal (dg, od) by bisection on Sturm counts, one
 * thread each: deterministic, no communication, absolute accuracy about eps ||T||. The count is
 * LAPACK's (dlaebz): pivots smaller than pivmin are replaced by -pivmin. The iteration cap only
 * matters for non-finite input, which the value check reports. */
__global__ void tri_bisect(const double *dg, const double *od, int64_t n, double *w)
{
    const int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (idx >= n) return;
    double gl = dg[0], gu = dg[0], emax2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double r = 0.0;
        if (i > 0) r += fabs(od[i - 1]);
        if (i < n - 1) {
            r += fabs(od[i]);
            emax2 = fmax(emax2, od[i] * od[i]);
        }
        gl = fmin(gl, dg[i] - r);
        gu = fmax(gu, dg[i] + r);
    }
    const double tnorm = fmax(fabs(gl), fabs(gu));
    const double pivmin = DBL_MIN * fmax(1.0, emax2);
    const double widen = 2.0 * tnorm * DBL_EPSILON * (double)n + 2.0 * pivmin;
    const double atol = 2.0 * DBL_EPSILON * tnorm + 2.0 * pivmin;
    double lo = gl - widen, hi = gu + widen;
    for (int it = 0; it < 256; it++) {
        if (hi - lo <= atol + 2.0 * DBL_EPSILON * fmax(fabs(lo), fabs(hi))) break;
        const double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break;
        int64_t count = 0;
        double q = dg[0] - mid;
        if (fabs(q) < pivmin) q = -pivmin;
        count += q < 0.0;
        for (int64_t i = 1; i < n; i++) {
            q = (dg[i] - mid) - od[i - 1] * od[i - 1] / q;
            if (fabs(q) < pivmin) q = -pivmin;
            count += q < 0.0;
        }
        if (count > idx) hi = mid;
        else lo = mid;
    }
    w[idx] = 0.5 * (lo + hi);
}

/* Every figure on the device, with the same common/ functions the host uses. */
__global__ void figures(double *w_c, double *w_u, double *w_v, int64_t n_ev, int64_t rows,
                        int64_t cols, const double *colvar, double thr, const long long *zero_row,
                        lsc_spectrum_result *out, lsc_async_status *status)
{
    lsc_eigs_prepare(w_c, n_ev);
    lsc_eigs_prepare(w_u, n_ev);
    lsc_eigs_prepare(w_v, n_ev);
    const long long z = *zero_row;
    lsc_spectrum_result r;
    memset(&r, 0, sizeof r);
    lsc_spectrum_figures(w_c, w_u, z == kNoRow ? w_v : nullptr, n_ev, rows, cols, colvar, thr, &r,
                         nullptr);
    r.vendi_zero_row = z == kNoRow ? -1 : (int64_t)z;
    r.size = sizeof r;
    const size_t sizes[] = LSC_SPECTRUM_RESULT_SIZES;
    // every byte the caller's size covers, padding included (zeroed above), not member-wise
    if (!lsc_result_store(out, &r, sizes, LSC_NSIZES(sizes)) && status) {
        status->status = LSC_STATUS_INVALID_ARGUMENT;
        status->row = -1;
        status->col = -1;
    }
}

/* Enqueues the eigenvalues (ascending) of the full symmetric n x n matrix a (destroyed) into w. */
lsc_status dev_eigvalsh(lsc_ctx *ctx, double *a, int64_t n, double *w, const eig_scratch &s)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    for (int64_t k = 0; k + 2 < n; k++) {
        const int64_t m = n - k - 1;
        house<<<1, kThreads, 0, st>>>(a, n, k, s.v, s.dg, s.od, s.sc);
        house_symv<<<(unsigned)((m + kWarps - 1) / kWarps), kThreads, 0, st>>>(a, n, k, s.v, s.sc,
                                                                               s.p);
        house_w<<<1, kThreads, 0, st>>>(m, s.v, s.sc, s.p);
        house_rank2<<<blocks(m * m), kThreads, 0, st>>>(a, n, k, s.v, s.p, s.sc);
    }
    tri_tail<<<1, 1, 0, st>>>(a, n, s.dg, s.od);
    tri_bisect<<<(unsigned)((n + 127) / 128), 128, 0, st>>>(s.dg, s.od, n, w);
    LSC_CUDA_TRY(ctx, cudaGetLastError());
    return LSC_STATUS_OK;
}

/* ---- passes over the rows ----------------------------------------------------------------------- */

/* Enqueues rows of m into g (which already holds n_before rows): pivot from the first tile ever,
 * then per tile the conversion, the two Grams and the sums. Host rows go through the pinned
 * staging buffers in turn (the CPU fills one while the device copies the other); device rows are
 * read in place. With `report`, reports progress after each tile (and may be cancelled). */
/* Host rows: both pinned staging buffers at full size before anything is enqueued, so that
 * nothing can fail half-way for lack of them (grow-only: a second call is free). */
lsc_status reserve_staging(lsc_ctx *ctx, int64_t d, const lsc_matrix *m, const row_tiles &t)
{
    if (m->memory != LSC_MEMORY_HOST) return LSC_STATUS_OK;
    const size_t es = lsc_elem_size((int)m->dtype);
    for (int b = 0; b < LSC_WS_PINNED_BUFS && b < (m->rows + t.tr - 1) / t.tr; b++) {
        void *h = nullptr;
        LSC_TRY(lsc_cuda_pinned_reserve(ctx, b, (size_t)t.tr * (size_t)d * es, &h));
    }
    return LSC_STATUS_OK;
}

lsc_status enqueue_rows(lsc_ctx *ctx, const gram_state &g, int64_t d, int64_t n_before,
                        const lsc_matrix *m, const row_tiles &t, int report)
{
    cuda_state *cs = cuda_of(ctx);
    cudaStream_t st = cs->stream;
    const int64_t n = m->rows;
    const size_t es = lsc_elem_size((int)m->dtype);
    const bool host = m->memory == LSC_MEMORY_HOST;
    LSC_TRY(reserve_staging(ctx, d, m, t));
    fill<<<blocks(t.tr), kThreads, 0, st>>>(t.ones, t.tr, 1.0);
    const double one = 1.0;
    int buf = 0;
    for (int64_t r0 = 0; r0 < n; r0 += t.tr) {
        const int64_t nr = n - r0 < t.tr ? n - r0 : t.tr;
        const char *src;
        int64_t ld;
        if (host) {
            void *h = nullptr;
            LSC_TRY(lsc_cuda_pinned_reserve(ctx, buf, (size_t)nr * (size_t)d * es, &h));
            const char *from = static_cast<const char *>(m->data) + (size_t)(r0 * m->ld) * es;
            if (m->ld == d) memcpy(h, from, (size_t)nr * (size_t)d * es);
            else
                for (int64_t i = 0; i < nr; i++)
                    memcpy(static_cast<char *>(h) + (size_t)(i * d) * es,
                           from + (size_t)(i * m->ld) * es, (size_t)d * es);
            LSC_CUDA_TRY(ctx, cudaMemcpyAsync(t.stage, h, (size_t)nr * (size_t)d * es,
                                              cudaMemcpyHostToDevice, st));
            LSC_TRY(lsc_cuda_pinned_mark(ctx, buf, st));
            buf = (buf + 1) % LSC_WS_PINNED_BUFS;
            src = t.stage;
            ld = d;
        } else {
            src = static_cast<const char *>(m->data) + (size_t)(r0 * m->ld) * es;
            ld = m->ld;
        }
        if (n_before == 0 && r0 == 0)
            tile_mean<<<blocks(d), kThreads, 0, st>>>(src, (int)m->dtype, es, ld, nr, d, g.pivot);
        convert_rows<<<(unsigned)nr, kThreads, 0, st>>>(src, (int)m->dtype, es, ld, nr, d,
                                                        (long long)(n_before + r0), g.pivot, t.xc,
                                                        t.xn, g.zero_row);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
        // float64 Grams: a float32 Gram's noise floor sits above the pinned cut
        LSC_CUBLAS_TRY(ctx, cublasDsyrk_64(cs->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, d, nr,
                                           &one, t.xc, d, &one, g.gram, d));
        if (g.cosg)
            LSC_CUBLAS_TRY(ctx, cublasDsyrk_64(cs->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, d, nr,
                                               &one, t.xn, d, &one, g.cosg, d));
        LSC_CUBLAS_TRY(ctx, cublasDgemv_64(cs->blas, CUBLAS_OP_N, d, nr, &one, t.xc, d, t.ones, 1,
                                           &one, g.sum, 1));
        if (report) LSC_TRY(progress(ctx, 0.9 * (double)(r0 + nr) / (double)n));
    }
    return LSC_STATUS_OK;
}

/* ---- synchronous eigenvalues (cuSOLVER) ----------------------------------------------------- */

/* One syevd set-up per call: the parameters object and the host workspace, freed on return.
 * A solve may still be queued when a later step of the call fails and returns early: the host
 * workspace it was given is then freed only after the stream has run it. */
struct syevd_call {
    cusolverDnParams_t params = nullptr;
    void *h_work = nullptr;
    size_t dev_bytes = 0, host_bytes = 0;
    mutable cudaStream_t queued_on = nullptr; // the stream of the last solve given h_work
    ~syevd_call()
    {
        if (h_work && queued_on) cudaStreamSynchronize(queued_on);
        if (params) cusolverDnDestroyParams(params);
        free(h_work);
    }
};

/* Workspace sizes of syevd (values only, lower triangle) on n x n; a_any and w_any are valid
 * device buffers of the right sizes (the query does not read them). */
lsc_status syevd_prepare(lsc_ctx *ctx, syevd_call *c, int64_t n, double *a_any, double *w_any)
{
    LSC_CUSOLVER_TRY(ctx, cusolverDnCreateParams(&c->params));
    LSC_CUSOLVER_TRY(ctx, cusolverDnXsyevd_bufferSize(
                              cuda_of(ctx)->solver, c->params, CUSOLVER_EIG_MODE_NOVECTOR,
                              CUBLAS_FILL_MODE_LOWER, n, CUDA_R_64F, a_any, n, CUDA_R_64F, w_any,
                              CUDA_R_64F, &c->dev_bytes, &c->host_bytes));
    if (c->host_bytes) {
        c->h_work = malloc(c->host_bytes);
        LSC_CHECK(ctx, c->h_work, LSC_STATUS_OUT_OF_MEMORY,
                  "out of host memory: %zu bytes of eigensolver workspace", c->host_bytes);
    }
    return LSC_STATUS_OK;
}

lsc_status syevd_enqueue(lsc_ctx *ctx, const syevd_call &c, int64_t n, double *a, double *w,
                         void *d_work, int *d_info)
{
    LSC_CUSOLVER_TRY(ctx, cusolverDnXsyevd(cuda_of(ctx)->solver, c.params,
                                           CUSOLVER_EIG_MODE_NOVECTOR, CUBLAS_FILL_MODE_LOWER, n,
                                           CUDA_R_64F, a, n, CUDA_R_64F, w, CUDA_R_64F, d_work,
                                           c.dev_bytes, c.h_work, c.host_bytes, d_info));
    c.queued_on = cuda_of(ctx)->stream;
    return LSC_STATUS_OK;
}

/* Device buffers of one synchronous eigen-step: three eigenvalue arrays, the column variances,
 * the solver's info words and workspace, and (D x D path) the matrix each Gram is built into. */
struct eig_out {
    double *w;      // 3 x n_ev: centred, uncentred, cosine
    double *colvar; // d
    int *info;      // 3
    void *work;     // syevd device workspace
    double *m;      // n_ev x n_ev (D x D path only)
};

void take_eig_out(lsc_ws_carve *c, int64_t n_ev, int64_t d, size_t work_bytes, bool with_m,
                  eig_out *o)
{
    lsc_ws_take(c, 3 * (size_t)n_ev * sizeof(double), &o->w);
    lsc_ws_take(c, (size_t)d * sizeof(double), &o->colvar);
    lsc_ws_take(c, 3 * sizeof(int), &o->info);
    lsc_ws_take(c, work_bytes, &o->work);
    o->m = nullptr;
    if (with_m) lsc_ws_take(c, (size_t)n_ev * (size_t)n_ev * sizeof(double), &o->m);
}

/* Copies the three eigenvalue sets, the column variances and the zero row to the host, waits,
 * checks the solver and prepares the eigenvalues for common/. */
lsc_status finish_sync(lsc_ctx *ctx, const eig_out &o, int64_t n_ev, int64_t rows, int64_t d,
                       const long long *d_zero, lsc_spectrum_eigs *e)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    int info[3] = {0, 0, 0};
    long long zero = kNoRow;
    double *dst[3] = {e->gram_c, e->gram_u, e->cos_nu};
    for (int k = 0; k < 3; k++)
        LSC_CUDA_TRY(ctx,
                     cudaMemcpyAsync(dst[k], o.w + (size_t)k * (size_t)n_ev,
                                     (size_t)n_ev * sizeof(double), cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(e->colvar, o.colvar, (size_t)d * sizeof(double),
                                      cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(info, o.info, sizeof info, cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(&zero, d_zero, sizeof zero, cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    static const char *const names[3] = {"centred Gram", "uncentred Gram", "cosine Gram"};
    for (int k = 0; k < 3; k++)
        LSC_CHECK(ctx, info[k] == 0 || (k == 2 && zero != kNoRow), LSC_STATUS_DEVICE_ERROR,
                  "cusolverDnXsyevd failed on the %s (info %d)", names[k], info[k]);
    for (int k = 0; k < 3; k++) lsc_eigs_prepare(dst[k], n_ev);
    e->rows = rows;
    e->cols = d;
    e->n_ev = n_ev;
    e->zero_row = zero == kNoRow ? -1 : (int64_t)zero;
    return LSC_STATUS_OK;
}

/* Enqueues the three D x D Grams' builds and syevd solves plus the column variances. */
lsc_status enqueue_dd_syevd(lsc_ctx *ctx, const gram_state &g, int64_t d, int64_t n,
                            const syevd_call &c, const eig_out &o)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    const unsigned nb = blocks(d * d);
    column_variance<<<blocks(d), kThreads, 0, st>>>(d, (double)n, g.gram, g.sum, o.colvar);
    for (int kind = 0; kind < 3; kind++) {
        build<<<nb, kThreads, 0, st>>>(kind, d, (double)n, g.gram, g.cosg, g.sum, g.pivot, o.m);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
        LSC_TRY(
            syevd_enqueue(ctx, c, d, o.m, o.w + (size_t)kind * (size_t)d, o.work, o.info + kind));
    }
    return LSC_STATUS_OK;
}

/* ---- N < D ------------------------------------------------------------------------------------ */

struct small_n {
    double *kc, *ku; // n x n each
    double *bc, *bu; // n x tc each
    char *stage;     // n x tc x es (host input only)
    long long *zero_row;
};

void take_small_n(lsc_ws_carve *c, int64_t n, int64_t tc, size_t stage_es, small_n *s)
{
    const size_t nn = (size_t)n * (size_t)n;
    lsc_ws_take(c, nn * sizeof(double), &s->kc);
    lsc_ws_take(c, nn * sizeof(double), &s->ku);
    lsc_ws_take(c, (size_t)n * (size_t)tc * sizeof(double), &s->bc);
    lsc_ws_take(c, (size_t)n * (size_t)tc * sizeof(double), &s->bu);
    s->stage = nullptr;
    if (stage_es) lsc_ws_take(c, (size_t)n * (size_t)tc * stage_es, &s->stage);
    lsc_ws_take(c, sizeof(long long), &s->zero_row);
}

/* Enqueues the N x N Grams (lower triangles) of x, column block by column block, the column
 * variances into d_colvar and the first zero row. */
lsc_status enqueue_small_n(lsc_ctx *ctx, const lsc_matrix *x, const small_n &s, int64_t tc,
                           double *d_colvar, int report)
{
    cuda_state *cs = cuda_of(ctx);
    cudaStream_t st = cs->stream;
    const int64_t n = x->rows, d = x->cols;
    const size_t es = lsc_elem_size((int)x->dtype);
    const bool host = x->memory == LSC_MEMORY_HOST;
    if (host)
        for (int b = 0; b < LSC_WS_PINNED_BUFS && b < (d + tc - 1) / tc; b++) {
            void *h = nullptr;
            LSC_TRY(lsc_cuda_pinned_reserve(ctx, b, (size_t)n * (size_t)tc * es, &h));
        }
    const double one = 1.0, zero = 0.0;
    int buf = 0;
    for (int64_t c0 = 0; c0 < d; c0 += tc) {
        const int64_t nc = d - c0 < tc ? d - c0 : tc;
        const char *src;
        int64_t ld;
        if (host) {
            void *h = nullptr;
            LSC_TRY(lsc_cuda_pinned_reserve(ctx, buf, (size_t)n * (size_t)nc * es, &h));
            for (int64_t i = 0; i < n; i++)
                memcpy(static_cast<char *>(h) + (size_t)(i * nc) * es,
                       static_cast<const char *>(x->data) + (size_t)(i * x->ld + c0) * es,
                       (size_t)nc * es);
            LSC_CUDA_TRY(ctx, cudaMemcpyAsync(s.stage, h, (size_t)n * (size_t)nc * es,
                                              cudaMemcpyHostToDevice, st));
            LSC_TRY(lsc_cuda_pinned_mark(ctx, buf, st));
            buf = (buf + 1) % LSC_WS_PINNED_BUFS;
            src = s.stage;
            ld = nc;
        } else {
            src = static_cast<const char *>(x->data) + (size_t)c0 * es;
            ld = x->ld;
        }
        block_columns<<<blocks(nc), kThreads, 0, st>>>(src, (int)x->dtype, es, ld, n, nc, s.bc,
                                                       s.bu, d_colvar + c0);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
        const double *beta = c0 == 0 ? &zero : &one; // beta 0: C is not read, needs no clearing
        LSC_CUBLAS_TRY(ctx, cublasDsyrk_64(cs->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, n, nc,
                                           &one, s.bc, nc, beta, s.kc, n));
        LSC_CUBLAS_TRY(ctx, cublasDsyrk_64(cs->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, n, nc,
                                           &one, s.bu, nc, beta, s.ku, n));
        if (report) LSC_TRY(progress(ctx, 0.9 * (double)(c0 + nc) / (double)d));
    }
    set_row<<<1, 1, 0, st>>>(s.zero_row, kNoRow);
    diag_zero_row<<<blocks(n), kThreads, 0, st>>>(s.ku, n, s.zero_row);
    LSC_CUDA_TRY(ctx, cudaGetLastError());
    return LSC_STATUS_OK;
}

lsc_status spectrum_small_n(lsc_ctx *ctx, const lsc_matrix *x, lsc_spectrum_eigs *e)
{
    const int64_t n = x->rows, d = x->cols;
    LSC_TRY(square_fits(ctx, n, "N x N Gram"));
    const size_t stage_es = x->memory == LSC_MEMORY_HOST ? lsc_elem_size((int)x->dtype) : 0;
    int64_t tc = 0;
    LSC_TRY(plan_cols(ctx, n, d, stage_es, &tc));
    small_n s;
    eig_out o;
    size_t work = 0;
    auto layout = [&](lsc_ws_carve *c, int64_t t) {
        take_small_n(c, n, t, stage_es, &s);
        take_eig_out(c, n, d, work, false, &o);
    };
    LSC_TRY(reserve_layout(ctx, &tc, "spectrum N x N Grams", layout));
    syevd_call call;
    LSC_TRY(syevd_prepare(ctx, &call, n, s.kc, o.w));
    if (call.dev_bytes) { // second reserve with the solver's workspace (nothing enqueued yet)
        work = call.dev_bytes;
        LSC_TRY(reserve_layout(ctx, &tc, "spectrum N x N Grams", layout));
    }
    LSC_TRY(enqueue_small_n(ctx, x, s, tc, o.colvar, 1));
    cudaStream_t st = cuda_of(ctx)->stream;
    const unsigned nb = blocks(n * n);
    // centred first (destroys kc), then the cosine Gram built in kc's place, then uncentred
    LSC_TRY(syevd_enqueue(ctx, call, n, s.kc, o.w, o.work, o.info));
    cos_from_uncentred<<<nb, kThreads, 0, st>>>(s.ku, n, s.kc);
    LSC_CUDA_TRY(ctx, cudaGetLastError());
    LSC_TRY(syevd_enqueue(ctx, call, n, s.kc, o.w + 2 * (size_t)n, o.work, o.info + 2));
    LSC_TRY(syevd_enqueue(ctx, call, n, s.ku, o.w + (size_t)n, o.work, o.info + 1));
    return finish_sync(ctx, o, n, n, d, s.zero_row, e);
}

} // namespace

/* ---- accumulator -------------------------------------------------------------------------------- */

namespace {

lsc_status acc_create(lsc_ctx *ctx, int64_t d, int cov_only, void **state)
{
    LSC_TRY(square_fits(ctx, d, "accumulator Gram"));
    cuda_acc *a = static_cast<cuda_acc *>(calloc(1, sizeof(cuda_acc)));
    if (!a) return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory");
    a->d = d;
    a->device = cuda_of(ctx)->device;
    a->cov_only = cov_only;
    lsc_ws_carve c = {nullptr, 0};
    take_state(&c, d, &a->g, !cov_only);
    cudaError_t e = cudaMalloc(&a->block, c.off);
    if (e != cudaSuccess) {
        free(a);
        cudaGetLastError();
        if (e == cudaErrorMemoryAllocation)
            return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                 "out of device memory: %zu bytes of accumulator state", c.off);
        return lsc_cuda_fail(ctx, e, "cudaMalloc (accumulator)", __FILE__, __LINE__);
    }
    c = lsc_ws_carve{static_cast<char *>(a->block), 0};
    take_state(&c, d, &a->g, !cov_only);
    state_init<<<blocks(d * d), kThreads, 0, cuda_of(ctx)->stream>>>(d, a->g);
    e = cudaGetLastError();
    if (e != cudaSuccess) {
        lsc_cuda_acc_destroy(a);
        return lsc_cuda_fail(ctx, e, "state_init", __FILE__, __LINE__);
    }
    *state = a;
    return LSC_STATUS_OK;
}

/* Mean and covariance of a state (lsc_gram_mean, lsc_gram_cov), entry (i, j) from the lower
 * triangle's (max, min) so both halves are equal. */
__global__ void cov_from_state(int64_t d, double n, gram_state g, double *mu, double *sigma)
{
    const int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (e < d) mu[e] = lsc_gram_mean(g.pivot[e], g.sum[e], n);
    if (e >= d * d) return;
    const int64_t r = e / d, c = e % d; // row-major (r, c)
    const int64_t i = r >= c ? r : c, j = r >= c ? c : r;
    sigma[e] = lsc_gram_cov(g.gram[i + j * d], g.sum[i], g.sum[j], n);
}

} // namespace

lsc_status lsc_cuda_acc_create(lsc_ctx *ctx, int64_t d, void **state)
{
    return acc_create(ctx, d, 0, state);
}

lsc_status lsc_cuda_cov_create(lsc_ctx *ctx, int64_t d, void **state)
{
    return acc_create(ctx, d, 1, state);
}

lsc_status lsc_cuda_cov_stats(lsc_ctx *ctx, const void *state, double *mu, double *sigma)
{
    const cuda_acc *a = static_cast<const cuda_acc *>(state);
    LSC_TRY(acc_usable(ctx, a));
    const int64_t d = a->d;
    const size_t dd = (size_t)d * (size_t)d;
    double *out = nullptr;
    int64_t one = 1;
    LSC_TRY(reserve_layout(ctx, &one, "Frechet statistics", [&](lsc_ws_carve *c, int64_t) {
        lsc_ws_take(c, (dd + (size_t)d) * sizeof(double), &out);
    }));
    cudaStream_t st = cuda_of(ctx)->stream;
    cov_from_state<<<blocks(d * d), kThreads, 0, st>>>(d, (double)a->n, a->g, out, out + d);
    LSC_CUDA_TRY(ctx, cudaGetLastError());
    LSC_CUDA_TRY(ctx,
                 cudaMemcpyAsync(mu, out, (size_t)d * sizeof(double), cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx,
                 cudaMemcpyAsync(sigma, out + d, dd * sizeof(double), cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    return LSC_STATUS_OK;
}

void lsc_cuda_acc_destroy(void *state)
{
    cuda_acc *a = static_cast<cuda_acc *>(state);
    if (!a) return;
    // cudaFree waits for the device, so work still reading the state finishes first: on the
    // accumulator's own device, whichever one the calling thread has current
    int prev = -1;
    const bool swap = cudaGetDevice(&prev) == cudaSuccess && prev != a->device &&
                      cudaSetDevice(a->device) == cudaSuccess;
    cudaFree(a->block);
    if (swap) cudaSetDevice(prev);
    cudaGetLastError();
    free(a);
}

lsc_status lsc_cuda_acc_add(lsc_ctx *ctx, void *state, const lsc_matrix *batch)
{
    cuda_acc *a = static_cast<cuda_acc *>(state);
    LSC_TRY(acc_usable(ctx, a));
    const size_t stage_es = batch->memory == LSC_MEMORY_HOST ? lsc_elem_size((int)batch->dtype) : 0;
    int64_t tr = 0;
    LSC_TRY(plan_rows(ctx, a->d, batch->rows, stage_es, &tr));
    row_tiles t;
    LSC_TRY(reserve_layout(ctx, &tr, "spectrum tiles", [&](lsc_ws_carve *c, int64_t r) {
        take_rows(c, a->d, r, stage_es, &t);
    }));
    // a streamed batch reports no progress and so cannot be cancelled half-way; it fails
    // part-way only on a device or library error, after some of its tiles may have gone in.
    // The staging memory is reserved first: its failure leaves the accumulator as it was.
    LSC_TRY(reserve_staging(ctx, a->d, batch, t));
    const lsc_status st = enqueue_rows(ctx, a->g, a->d, a->n, batch, t, 0);
    if (st != LSC_STATUS_OK) {
        a->broken = 1;
        return st;
    }
    a->n += batch->rows;
    return LSC_STATUS_OK;
}

lsc_status lsc_cuda_acc_merge(lsc_ctx *ctx, void *into, const void *from)
{
    cuda_acc *a = static_cast<cuda_acc *>(into);
    const cuda_acc *b = static_cast<const cuda_acc *>(from);
    LSC_TRY(acc_usable(ctx, a));
    LSC_TRY(acc_usable(ctx, b));
    cudaStream_t s = cuda_of(ctx)->stream;
    const int64_t d = a->d;
    const size_t dd = (size_t)d * (size_t)d;
    if (a->n == 0) {
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(a->g.pivot, b->g.pivot, (size_t)d * sizeof(double),
                                          cudaMemcpyDeviceToDevice, s));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(a->g.sum, b->g.sum, (size_t)d * sizeof(double),
                                          cudaMemcpyDeviceToDevice, s));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(a->g.gram, b->g.gram, dd * sizeof(double),
                                          cudaMemcpyDeviceToDevice, s));
        if (a->g.cosg)
            LSC_CUDA_TRY(ctx, cudaMemcpyAsync(a->g.cosg, b->g.cosg, dd * sizeof(double),
                                              cudaMemcpyDeviceToDevice, s));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(a->g.zero_row, b->g.zero_row, sizeof(long long),
                                          cudaMemcpyDeviceToDevice, s));
    } else {
        // the Grams first: they read into's pivot and from's sums before merge_sums runs
        merge_grams<<<blocks((int64_t)dd), kThreads, 0, s>>>(d, (double)b->n, a->g.pivot,
                                                             b->g.pivot, b->g.sum, a->g.gram,
                                                             b->g.gram, a->g.cosg, b->g.cosg);
        merge_sums<<<blocks(d), kThreads, 0, s>>>(d, (double)b->n, a->g.pivot, b->g.pivot, a->g.sum,
                                                  b->g.sum, a->g.zero_row, b->g.zero_row,
                                                  (long long)a->n);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
    }
    a->n += b->n;
    return LSC_STATUS_OK;
}

lsc_status lsc_cuda_acc_eigs(lsc_ctx *ctx, const void *state, lsc_spectrum_eigs *e)
{
    const cuda_acc *a = static_cast<const cuda_acc *>(state);
    LSC_TRY(acc_usable(ctx, a));
    const int64_t d = a->d;
    eig_out o;
    size_t work = 0;
    int64_t one = 1;
    auto layout = [&](lsc_ws_carve *c, int64_t) { take_eig_out(c, d, d, work, true, &o); };
    LSC_TRY(reserve_layout(ctx, &one, "spectrum eigen-step", layout));
    syevd_call call;
    LSC_TRY(syevd_prepare(ctx, &call, d, o.m, o.w));
    if (call.dev_bytes) {
        work = call.dev_bytes;
        LSC_TRY(reserve_layout(ctx, &one, "spectrum eigen-step", layout));
    }
    LSC_TRY(enqueue_dd_syevd(ctx, a->g, d, a->n, call, o));
    return finish_sync(ctx, o, d, a->n, d, a->g.zero_row, e);
}

/* ---- state across the backend boundary ----------------------------------------------------- */

namespace {

/* Element e of a Gram's d x d block (lower triangle column-major: (i, j), i >= j, at i + j d) is,
 * read as row-major, entry (j, i) of the upper triangle, at its place in the packed triangles
 * (lsc_packed_upper_at): copied from the Grams into the triangles (to_tri) or back. */
__global__ void copy_grams(int64_t d, double *gram, double *cosg, double *tri, int to_tri)
{
    const int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (e >= d * d) return;
    const int64_t r = e / d, c = e % d;
    if (c < r) return;
    const int64_t k = lsc_packed_upper_at(d, r, c), t = d * (d + 1) / 2;
    if (to_tri) {
        tri[k] = gram[e];
        tri[t + k] = cosg[e];
    } else {
        gram[e] = tri[k];
        cosg[e] = tri[t + k];
    }
}

/* The device copy of a state's two packed triangles, in the spectrum slot of the workspace. */
lsc_status reserve_packed(lsc_ctx *ctx, int64_t d, double **tri)
{
    const size_t vals = (size_t)d * (size_t)(d + 1);
    int64_t one = 1;
    return reserve_layout(ctx, &one, "accumulator state", [&](lsc_ws_carve *c, int64_t) {
        lsc_ws_take(c, vals * sizeof(double), tri);
    });
}

} // namespace

/* The sharded spectrum's wire (host/sharded.c): the state packed on the device, copied to the
 * host in one piece; import is the reverse into a fresh accumulator, whose upper halves stay as
 * acc_create left them (nothing reads them). */
lsc_status lsc_cuda_acc_export(lsc_ctx *ctx, const void *state, lsc_acc_state *out)
{
    const cuda_acc *a = static_cast<const cuda_acc *>(state);
    LSC_TRY(acc_usable(ctx, a));
    const int64_t d = a->d;
    cudaStream_t st = cuda_of(ctx)->stream;
    long long zero = kNoRow;
    LSC_CUDA_TRY(ctx,
                 cudaMemcpyAsync(&zero, a->g.zero_row, sizeof zero, cudaMemcpyDeviceToHost, st));
    if (a->n > 0) {
        double *buf = nullptr;
        LSC_TRY(reserve_packed(ctx, d, &buf));
        const size_t tri = (size_t)d * (size_t)(d + 1) / 2;
        copy_grams<<<blocks(d * d), kThreads, 0, st>>>(d, a->g.gram, a->g.cosg, buf, 1);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(out->pivot, a->g.pivot, (size_t)d * sizeof(double),
                                          cudaMemcpyDeviceToHost, st));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(out->sum, a->g.sum, (size_t)d * sizeof(double),
                                          cudaMemcpyDeviceToHost, st));
        LSC_CUDA_TRY(
            ctx, cudaMemcpyAsync(out->gram, buf, tri * sizeof(double), cudaMemcpyDeviceToHost, st));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(out->cosg, buf + tri, tri * sizeof(double),
                                          cudaMemcpyDeviceToHost, st));
    }
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    out->n = a->n;
    out->zero_row = zero == kNoRow ? -1 : (int64_t)zero;
    return LSC_STATUS_OK;
}

lsc_status lsc_cuda_acc_import(lsc_ctx *ctx, void *state, const lsc_acc_state *in)
{
    cuda_acc *a = static_cast<cuda_acc *>(state);
    LSC_TRY(acc_usable(ctx, a));
    const int64_t d = a->d;
    cudaStream_t st = cuda_of(ctx)->stream;
    const long long zero = in->zero_row < 0 ? kNoRow : (long long)in->zero_row;
    if (in->n > 0) {
        double *buf = nullptr;
        LSC_TRY(reserve_packed(ctx, d, &buf));
        const size_t tri = (size_t)d * (size_t)(d + 1) / 2;
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(a->g.pivot, in->pivot, (size_t)d * sizeof(double),
                                          cudaMemcpyHostToDevice, st));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(a->g.sum, in->sum, (size_t)d * sizeof(double),
                                          cudaMemcpyHostToDevice, st));
        LSC_CUDA_TRY(
            ctx, cudaMemcpyAsync(buf, in->gram, tri * sizeof(double), cudaMemcpyHostToDevice, st));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(buf + tri, in->cosg, tri * sizeof(double),
                                          cudaMemcpyHostToDevice, st));
        copy_grams<<<blocks(d * d), kThreads, 0, st>>>(d, a->g.gram, a->g.cosg, buf, 0);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
    }
    LSC_CUDA_TRY(ctx,
                 cudaMemcpyAsync(a->g.zero_row, &zero, sizeof zero, cudaMemcpyHostToDevice, st));
    // the host values are the caller's and `zero` is this frame's: read before returning
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    a->n = in->n;
    return LSC_STATUS_OK;
}

/* ---- one call ------------------------------------------------------------------------------------ */

lsc_status lsc_cuda_spectrum(lsc_ctx *ctx, const lsc_matrix *x, lsc_spectrum_eigs *e)
{
    if (x->rows < x->cols) return spectrum_small_n(ctx, x, e);
    const int64_t n = x->rows, d = x->cols;
    LSC_TRY(square_fits(ctx, d, "D x D Gram"));
    const size_t stage_es = x->memory == LSC_MEMORY_HOST ? lsc_elem_size((int)x->dtype) : 0;
    int64_t tr = 0;
    LSC_TRY(plan_rows(ctx, d, n, stage_es, &tr));
    gram_state g;
    row_tiles t;
    eig_out o;
    size_t work = 0;
    auto layout = [&](lsc_ws_carve *c, int64_t r) {
        take_state(c, d, &g);
        take_eig_out(c, d, d, work, true, &o);
        take_rows(c, d, r, stage_es, &t);
    };
    LSC_TRY(reserve_layout(ctx, &tr, "spectrum Grams and tiles", layout));
    syevd_call call;
    LSC_TRY(syevd_prepare(ctx, &call, d, o.m, o.w));
    if (call.dev_bytes) {
        work = call.dev_bytes;
        LSC_TRY(reserve_layout(ctx, &tr, "spectrum Grams and tiles", layout));
    }
    cudaStream_t st = cuda_of(ctx)->stream;
    state_init<<<blocks(d * d), kThreads, 0, st>>>(d, g);
    LSC_CUDA_TRY(ctx, cudaGetLastError());
    LSC_TRY(enqueue_rows(ctx, g, d, 0, x, t, 1));
    LSC_TRY(enqueue_dd_syevd(ctx, g, d, n, call, o));
    return finish_sync(ctx, o, d, n, d, g.zero_row, e);
}

/* ---- asynchronous form ------------------------------------------------------------------------ */

lsc_status lsc_cuda_spectrum_async(lsc_ctx *ctx, const lsc_matrix *x, double active_threshold,
                                   lsc_spectrum_result *out, lsc_async_status *status)
{
    LSC_TRY(lsc_cuda_check_pointer(ctx, x->data, "x", 0));
    LSC_TRY(lsc_cuda_check_pointer(ctx, out, "out", 1));
    if (status) LSC_TRY(lsc_cuda_check_pointer(ctx, status, "status", 1));
    const int64_t n = x->rows, d = x->cols;
    const bool small = n < d;
    const int64_t n_ev = small ? n : d; // the Gram's order
    LSC_TRY(square_fits(ctx, n_ev, small ? "N x N Gram" : "D x D Gram"));
    cudaStream_t st = cuda_of(ctx)->stream;

    // every piece of scratch in one reservation: no allocation once a call of these shapes ran
    double *w = nullptr, *colvar = nullptr, *m = nullptr;
    eig_scratch es;
    gram_state g;
    row_tiles t;
    small_n s;
    int64_t tile = 0;
    if (small) LSC_TRY(plan_cols(ctx, n, d, 0, &tile));
    else LSC_TRY(plan_rows(ctx, d, n, 0, &tile));
    auto layout = [&](lsc_ws_carve *c, int64_t k) {
        lsc_ws_take(c, 3 * (size_t)n_ev * sizeof(double), &w);
        lsc_ws_take(c, (size_t)d * sizeof(double), &colvar);
        take_eig(c, n_ev, &es);
        if (small) {
            take_small_n(c, n, k, 0, &s);
        } else {
            take_state(c, d, &g);
            lsc_ws_take(c, (size_t)d * (size_t)d * sizeof(double), &m);
            take_rows(c, d, k, 0, &t);
        }
    };
    LSC_TRY(reserve_layout(ctx, &tile, "asynchronous spectrum", layout));

    // the value check first: its verdict is what makes the figures meaningful
    LSC_TRY(lsc_cuda_check_async(ctx, x, 0, status));
    const long long *zero_row;
    if (small) {
        LSC_TRY(enqueue_small_n(ctx, x, s, tile, colvar, 0));
        const unsigned nb = blocks(n * n);
        mirror_lower<<<nb, kThreads, 0, st>>>(s.kc, n);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
        LSC_TRY(dev_eigvalsh(ctx, s.kc, n, w, es));
        cos_from_uncentred<<<nb, kThreads, 0, st>>>(s.ku, n, s.kc);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
        LSC_TRY(dev_eigvalsh(ctx, s.kc, n, w + 2 * (size_t)n, es));
        mirror_lower<<<nb, kThreads, 0, st>>>(s.ku, n);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
        LSC_TRY(dev_eigvalsh(ctx, s.ku, n, w + (size_t)n, es));
        zero_row = s.zero_row;
    } else {
        state_init<<<blocks(d * d), kThreads, 0, st>>>(d, g);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
        LSC_TRY(enqueue_rows(ctx, g, d, 0, x, t, 0));
        column_variance<<<blocks(d), kThreads, 0, st>>>(d, (double)n, g.gram, g.sum, colvar);
        for (int kind = 0; kind < 3; kind++) {
            build<<<blocks(d * d), kThreads, 0, st>>>(kind, d, (double)n, g.gram, g.cosg, g.sum,
                                                      g.pivot, m);
            LSC_CUDA_TRY(ctx, cudaGetLastError());
            LSC_TRY(dev_eigvalsh(ctx, m, d, w + (size_t)kind * (size_t)d, es));
        }
        zero_row = g.zero_row;
    }
    figures<<<1, 1, 0, st>>>(w, w + (size_t)n_ev, w + 2 * (size_t)n_ev, n_ev, n, d, colvar,
                             active_threshold, zero_row, out, status);
    LSC_CUDA_TRY(ctx, cudaGetLastError());
    return LSC_STATUS_OK;
}
