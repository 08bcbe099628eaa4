/* Spectrum on the GPU (METRICS.md section 1): float64 D x D Grams accumulated tile by tile around a
 * pivot with cuBLAS DSYRK (FP64 tensor cores on Hopper), corrected exactly, eigenvalues by
 * cuSOLVER's 64-bit syevd. The figures themselves come from common/spectrum_figures.h on the host,
 * exactly as for the CPU backend. Host batches are staged tile by tile; device batches are read in
 * place. A single call with N < D (the N x N Gram) is not implemented here yet. */
#include "cuda_internal.cuh"
#include "../common/spectrum_figures.h"

#include <climits>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int64_t kTileRows = 2048;
constexpr int kThreads = 256;
constexpr long long kNoRow = LLONG_MAX;

struct cuda_acc {
    int64_t d, n;
    cudaStream_t stream;
    double *pivot, *sum; // device, d each
    double *gram, *cosg; // device, d x d column-major, lower triangle valid
    long long *zero_row; // device: first all-zero row, kNoRow if none
};

__device__ double block_sum(double v, double *red)
{
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    double t = red[0];
    __syncthreads();
    return t;
}

/* One block per row: xc = x - pivot and xn = x / ||x|| in float64 (row-major nr x d, i.e. the
 * column-major d x nr matrix cuBLAS wants), and the first all-zero row. */
__global__ void convert_rows(const char *src, int dtype, size_t es, int64_t ld, int64_t nr, int64_t d,
                             long long row_base, const double *pivot, double *xc, double *xn,
                             long long *zero_row)
{
    __shared__ double red[kThreads];
    const int64_t i = blockIdx.x;
    if (i >= nr) return;
    const char *row = src + (size_t)(i * ld) * es;
    double q = 0.0;
    for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
        double v = (double)lsc_load_f32(row, dtype, c);
        xc[i * d + c] = v - pivot[c];
        xn[i * d + c] = v;
        q += v * v;
    }
    q = block_sum(q, red);
    const double inv = q > 0.0 ? 1.0 / sqrt(q) : 0.0;
    for (int64_t c = threadIdx.x; c < d; c += blockDim.x) xn[i * d + c] *= inv;
    if (q == 0.0 && threadIdx.x == 0) atomicMin(zero_row, row_base + (long long)i);
}

/* Column means of the first tile: the pivot (METRICS.md: accumulate around the first batch's
 * mean so a large common offset costs no digits). */
__global__ void tile_mean(const char *src, int dtype, size_t es, int64_t ld, int64_t nr, int64_t d,
                          double *pivot)
{
    const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (c >= d) return;
    double s = 0.0;
    for (int64_t i = 0; i < nr; i++) s += (double)lsc_load_f32(src + (size_t)(i * ld) * es, dtype, c);
    pivot[c] = s / (double)nr;
}

__global__ void fill(double *x, int64_t n, double v)
{
    const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i < n) x[i] = v;
}

/* into += from, moving from's Gram to into's pivot exactly (see host/cpu/spectrum.c). */
__global__ void merge_grams(int64_t d, double nb, const double *pa, const double *pb, const double *sb,
                            double *ga, const double *gb, double *va, const double *vb)
{
    const int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (e >= d * d) return;
    const int64_t i = e % d, j = e / d;
    const double di = pb[i] - pa[i], dj = pb[j] - pa[j];
    ga[e] += gb[e] + sb[i] * dj + di * sb[j] + nb * di * dj;
    va[e] += vb[e];
}

__global__ void merge_sums(int64_t d, double nb, const double *pa, const double *pb, double *sa,
                           const double *sb, long long *za, const long long *zb, long long na)
{
    const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i < d) sa[i] += sb[i] + nb * (pb[i] - pa[i]);
    if (i == 0 && *za == kNoRow && *zb != kNoRow) *za = *zb + na;
}

/* The full symmetric matrix of one Gram from the accumulated lower triangles:
 * kind 0 centred G - s s^T / n, 1 uncentred G + s p^T + p s^T + n p p^T, 2 cosine V / n. */
__global__ void build(int kind, int64_t d, double n, const double *g, const double *v, const double *s,
                      const double *p, double *m)
{
    const int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (e >= d * d) return;
    const int64_t i = e % d, j = e / d;
    const int64_t l = i >= j ? e : j + i * d;
    double x;
    if (kind == 0) x = g[l] - s[i] * s[j] / n;
    else if (kind == 1) x = g[l] + s[i] * p[j] + p[i] * s[j] + n * p[i] * p[j];
    else x = v[l] / n;
    m[e] = x;
}

__global__ void column_variance(int64_t d, double n, const double *g, const double *s, double *out)
{
    const int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (k >= d) return;
    const double v = (g[k + k * d] - s[k] * s[k] / n) / (n - 1.0);
    out[k] = v > 0.0 ? v : 0.0;
}

unsigned blocks(int64_t n) { return (unsigned)((n + kThreads - 1) / kThreads); }

lsc_status device_alloc(lsc_ctx *ctx, void **p, size_t bytes, const char *what)
{
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError(); // clear the sticky-free error
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                             "out of device memory allocating %zu bytes for %s", bytes, what);
    }
    if (e != cudaSuccess) return lsc_cuda_fail(ctx, e, what, __FILE__, __LINE__);
    return LSC_STATUS_OK;
}

/* Scratch of one add, freed on every path. */
struct add_scratch {
    double *xc = nullptr, *ones = nullptr;
    char *stage = nullptr;
    ~add_scratch()
    {
        cudaFree(xc);
        cudaFree(ones);
        cudaFree(stage);
    }
};

lsc_status acc_add(lsc_ctx *ctx, cuda_acc *a, const lsc_matrix *m)
{
    cuda_state *cs = cuda_of(ctx);
    const int64_t d = a->d, n = m->rows;
    const size_t es = lsc_dtype_size(m->dtype);
    const int64_t tr = n < kTileRows ? n : kTileRows;
    add_scratch sc;
    LSC_TRY(device_alloc(ctx, (void **)&sc.xc, (size_t)tr * (size_t)d * 2 * sizeof(double), "Gram tiles"));
    LSC_TRY(device_alloc(ctx, (void **)&sc.ones, (size_t)tr * sizeof(double), "ones"));
    if (m->memory == LSC_MEMORY_HOST)
        LSC_TRY(device_alloc(ctx, (void **)&sc.stage, (size_t)tr * (size_t)d * es, "staging tile"));
    double *xn = sc.xc + (size_t)tr * (size_t)d;
    fill<<<blocks(tr), kThreads, 0, cs->stream>>>(sc.ones, tr, 1.0);
    const double one = 1.0;
    for (int64_t r0 = 0; r0 < n; r0 += tr) {
        const int64_t nr = n - r0 < tr ? n - r0 : tr;
        const char *src;
        int64_t ld;
        if (m->memory == LSC_MEMORY_HOST) {
            LSC_CUDA_TRY(ctx, cudaMemcpy2DAsync(sc.stage, (size_t)d * es,
                                                (const char *)m->data + (size_t)(r0 * m->ld) * es,
                                                (size_t)m->ld * es, (size_t)d * es, (size_t)nr,
                                                cudaMemcpyHostToDevice, cs->stream));
            src = sc.stage;
            ld = d;
        } else {
            src = (const char *)m->data + (size_t)(r0 * m->ld) * es;
            ld = m->ld;
        }
        if (a->n == 0 && r0 == 0)
            tile_mean<<<blocks(d), kThreads, 0, cs->stream>>>(src, (int)m->dtype, es, ld, nr, d, a->pivot);
        convert_rows<<<(unsigned)nr, kThreads, 0, cs->stream>>>(src, (int)m->dtype, es, ld, nr, d,
                                                                (long long)(a->n + r0), a->pivot, sc.xc, xn,
                                                                a->zero_row);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
        LSC_CUBLAS_TRY(ctx, cublasDsyrk_64(cs->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, d, nr, &one,
                                           sc.xc, d, &one, a->gram, d));
        LSC_CUBLAS_TRY(ctx, cublasDsyrk_64(cs->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, d, nr, &one,
                                           xn, d, &one, a->cosg, d));
        LSC_CUBLAS_TRY(ctx, cublasDgemv_64(cs->blas, CUBLAS_OP_N, d, nr, &one, sc.xc, d, sc.ones, 1, &one,
                                           a->sum, 1));
    }
    // the scratch is freed when this returns: the stream must be done with it
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(cs->stream));
    a->n += n;
    return LSC_STATUS_OK;
}

/* Eigenvalues of one built Gram, descending after the pinned cut, into host w. */
lsc_status eigs_of(lsc_ctx *ctx, int kind, const cuda_acc *a, double *d_m, double *d_w, int *d_info,
                   double *h_w)
{
    cuda_state *cs = cuda_of(ctx);
    const int64_t d = a->d;
    build<<<blocks(d * d), kThreads, 0, cs->stream>>>(kind, d, (double)a->n, a->gram, a->cosg, a->sum,
                                                       a->pivot, d_m);
    LSC_CUDA_TRY(ctx, cudaGetLastError());
    cusolverDnParams_t params;
    LSC_CUSOLVER_TRY(ctx, cusolverDnCreateParams(&params));
    size_t dev_bytes = 0, host_bytes = 0;
    cusolverStatus_t s = cusolverDnXsyevd_bufferSize(cs->solver, params, CUSOLVER_EIG_MODE_NOVECTOR,
                                                     CUBLAS_FILL_MODE_LOWER, d, CUDA_R_64F, d_m, d,
                                                     CUDA_R_64F, d_w, CUDA_R_64F, &dev_bytes, &host_bytes);
    void *d_work = nullptr, *h_work = nullptr;
    lsc_status st = s == CUSOLVER_STATUS_SUCCESS
                        ? device_alloc(ctx, &d_work, dev_bytes, "eigensolver workspace")
                        : lsc_cusolver_fail(ctx, s, "cusolverDnXsyevd_bufferSize", __FILE__, __LINE__);
    if (st == LSC_STATUS_OK && host_bytes) {
        h_work = malloc(host_bytes);
        if (!h_work) st = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory for syevd");
    }
    if (st == LSC_STATUS_OK) {
        s = cusolverDnXsyevd(cs->solver, params, CUSOLVER_EIG_MODE_NOVECTOR, CUBLAS_FILL_MODE_LOWER, d,
                             CUDA_R_64F, d_m, d, CUDA_R_64F, d_w, CUDA_R_64F, d_work, dev_bytes, h_work,
                             host_bytes, d_info);
        if (s != CUSOLVER_STATUS_SUCCESS) st = lsc_cusolver_fail(ctx, s, "cusolverDnXsyevd", __FILE__, __LINE__);
    }
    int info = 0;
    if (st == LSC_STATUS_OK) {
        cudaError_t e = cudaMemcpyAsync(h_w, d_w, (size_t)d * sizeof(double), cudaMemcpyDeviceToHost, cs->stream);
        if (e == cudaSuccess) e = cudaMemcpyAsync(&info, d_info, sizeof(int), cudaMemcpyDeviceToHost, cs->stream);
        if (e == cudaSuccess) e = cudaStreamSynchronize(cs->stream);
        if (e != cudaSuccess) st = lsc_cuda_fail(ctx, e, "copying eigenvalues", __FILE__, __LINE__);
    }
    if (st == LSC_STATUS_OK && info != 0)
        st = lsc_set_error(ctx, LSC_STATUS_DEVICE_ERROR, "cusolverDnXsyevd failed (info %d)", info);
    cudaStreamSynchronize(cs->stream); // d_work is freed below
    cudaFree(d_work);
    free(h_work);
    cusolverDnDestroyParams(params);
    if (st == LSC_STATUS_OK) lsc_eigs_prepare(h_w, d);
    return st;
}

} // namespace

lsc_status lsc_cuda_acc_create(lsc_ctx *ctx, int64_t d, void **state)
{
    cuda_acc *a = static_cast<cuda_acc *>(calloc(1, sizeof(cuda_acc)));
    if (!a) return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory");
    a->d = d;
    a->stream = cuda_of(ctx)->stream;
    const size_t dd = (size_t)d * (size_t)d;
    lsc_status st = device_alloc(ctx, (void **)&a->pivot, (size_t)d * 2 * sizeof(double), "accumulator sums");
    if (st == LSC_STATUS_OK) st = device_alloc(ctx, (void **)&a->gram, dd * 2 * sizeof(double), "accumulator Grams");
    if (st == LSC_STATUS_OK) st = device_alloc(ctx, (void **)&a->zero_row, sizeof(long long), "accumulator flag");
    if (st != LSC_STATUS_OK) {
        lsc_cuda_acc_destroy(a);
        return st;
    }
    a->sum = a->pivot + d;
    a->cosg = a->gram + dd;
    cudaStream_t s = cuda_of(ctx)->stream;
    const long long none = kNoRow;
    LSC_CUDA_TRY(ctx, cudaMemsetAsync(a->pivot, 0, (size_t)d * 2 * sizeof(double), s));
    LSC_CUDA_TRY(ctx, cudaMemsetAsync(a->gram, 0, dd * 2 * sizeof(double), s));
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(a->zero_row, &none, sizeof none, cudaMemcpyHostToDevice, s));
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(s)); // `none` lives on this stack frame
    *state = a;
    return LSC_STATUS_OK;
}

void lsc_cuda_acc_destroy(void *state)
{
    cuda_acc *a = static_cast<cuda_acc *>(state);
    if (!a) return;
    cudaStreamSynchronize(a->stream);
    cudaFree(a->pivot);
    cudaFree(a->gram);
    cudaFree(a->zero_row);
    free(a);
}

lsc_status lsc_cuda_acc_add(lsc_ctx *ctx, void *state, const lsc_matrix *batch)
{
    return acc_add(ctx, static_cast<cuda_acc *>(state), batch);
}

lsc_status lsc_cuda_acc_merge(lsc_ctx *ctx, void *into, const void *from)
{
    cuda_acc *a = static_cast<cuda_acc *>(into);
    const cuda_acc *b = static_cast<const cuda_acc *>(from);
    cudaStream_t s = cuda_of(ctx)->stream;
    const int64_t d = a->d;
    const size_t dd = (size_t)d * (size_t)d;
    if (a->n == 0) {
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(a->pivot, b->pivot, (size_t)d * 2 * sizeof(double), cudaMemcpyDeviceToDevice, s));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(a->gram, b->gram, dd * 2 * sizeof(double), cudaMemcpyDeviceToDevice, s));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(a->zero_row, b->zero_row, sizeof(long long), cudaMemcpyDeviceToDevice, s));
    } else {
        // the Grams first: they read into's sums before merge_sums changes them
        merge_grams<<<blocks((int64_t)dd), kThreads, 0, s>>>(d, (double)b->n, a->pivot, b->pivot, b->sum,
                                                              a->gram, b->gram, a->cosg, b->cosg);
        merge_sums<<<blocks(d), kThreads, 0, s>>>(d, (double)b->n, a->pivot, b->pivot, a->sum, b->sum,
                                                   a->zero_row, b->zero_row, (long long)a->n);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
    }
    a->n += b->n;
    return LSC_STATUS_OK;
}

lsc_status lsc_cuda_acc_eigs(lsc_ctx *ctx, const void *state, lsc_spectrum_eigs *e)
{
    const cuda_acc *a = static_cast<const cuda_acc *>(state);
    cuda_state *cs = cuda_of(ctx);
    const int64_t d = a->d;
    double *d_m = nullptr, *d_w = nullptr;
    int *d_info = nullptr;
    lsc_status st = device_alloc(ctx, (void **)&d_m, (size_t)d * (size_t)d * sizeof(double), "eigen matrix");
    if (st == LSC_STATUS_OK) st = device_alloc(ctx, (void **)&d_w, (size_t)d * 2 * sizeof(double), "eigenvalues");
    if (st == LSC_STATUS_OK) st = device_alloc(ctx, (void **)&d_info, sizeof(int), "solver info");
    long long zero = kNoRow;
    if (st == LSC_STATUS_OK) {
        column_variance<<<blocks(d), kThreads, 0, cs->stream>>>(d, (double)a->n, a->gram, a->sum, d_w + d);
        cudaError_t err = cudaMemcpyAsync(e->colvar, d_w + d, (size_t)d * sizeof(double), cudaMemcpyDeviceToHost, cs->stream);
        if (err == cudaSuccess) err = cudaMemcpyAsync(&zero, a->zero_row, sizeof zero, cudaMemcpyDeviceToHost, cs->stream);
        if (err == cudaSuccess) err = cudaStreamSynchronize(cs->stream);
        if (err != cudaSuccess) st = lsc_cuda_fail(ctx, err, "copying column variances", __FILE__, __LINE__);
    }
    if (st == LSC_STATUS_OK) st = eigs_of(ctx, 0, a, d_m, d_w, d_info, e->gram_c);
    if (st == LSC_STATUS_OK) st = eigs_of(ctx, 1, a, d_m, d_w, d_info, e->gram_u);
    if (st == LSC_STATUS_OK && zero == kNoRow) st = eigs_of(ctx, 2, a, d_m, d_w, d_info, e->cos_nu);
    cudaStreamSynchronize(cs->stream);
    cudaFree(d_m);
    cudaFree(d_w);
    cudaFree(d_info);
    e->rows = a->n;
    e->cols = d;
    e->n_ev = d;
    e->zero_row = zero == kNoRow ? -1 : (int64_t)zero;
    return st;
}

lsc_status lsc_cuda_spectrum(lsc_ctx *ctx, const lsc_matrix *x, lsc_spectrum_eigs *e)
{
    if (x->rows < x->cols)
        return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                             "spectrum with N < D (%lld x %lld) is not implemented on the CUDA "
                             "backend yet; use a CPU context",
                             (long long)x->rows, (long long)x->cols);
    void *state = nullptr;
    LSC_TRY(lsc_cuda_acc_create(ctx, x->cols, &state));
    lsc_status st = acc_add(ctx, static_cast<cuda_acc *>(state), x);
    if (st == LSC_STATUS_OK) st = lsc_cuda_acc_eigs(ctx, state, e);
    lsc_cuda_acc_destroy(state);
    return st;
}
