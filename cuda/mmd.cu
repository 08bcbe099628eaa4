/* Kernel sums of KID and RBF MMD on the GPU (docs/METRICS.md sections 10.2-10.4), the CPU
 * backend's plan (host/cpu/mmd.c): rows gathered tile by tile into float32, a float32 cuBLAS
 * GEMM per tile pair, the kernel of common/mmd_rules.h applied in float64 and summed per tile
 * pair into its own slot; the slots are added on the host in the CPU's order. Never an N x N
 * matrix. Host rows are gathered and converted on the CPU into pinned staging, device rows by a
 * kernel reading through a device copy of the row list. All on the context's stream; the call
 * waits once, for the slots. */
#include "cuda_internal.cuh"
#include "workspace.cuh"
#include "../common/mmd_rules.h"

#include <cstdlib>
#include <cstring>

namespace {

constexpr int64_t kTile = 512; // rows per tile (the CPU's 256 would leave the GEMM small)
constexpr int kThreads = 256;  // the reductions below assume this block size

struct side {
    const lsc_matrix *m;
    const int64_t *rows;   // host, NULL: 0..n-1
    const int64_t *d_rows; // device copy of rows (device matrices), NULL: 0..n-1
    int64_t n;
};

struct job {
    int which;
    int64_t bi, bj;
};

/* One block per row: gather row map[i] (or i) of a device matrix as float32, and its float64
 * squared norm. */
__global__ void gather_rows(const char *src, int dtype, size_t es, int64_t ld, const int64_t *map,
                            int64_t r0, int64_t d, float *t, double *sq)
{
    __shared__ double red[kThreads];
    const int64_t i = blockIdx.x;
    const int64_t r = map ? map[r0 + i] : r0 + i;
    const char *row = src + (size_t)(r * ld) * es;
    double q = 0.0;
    for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
        const float v = lsc_load_f32(row, dtype, c);
        t[i * d + c] = v;
        q += (double)v * (double)v;
    }
    q = lsc_block_sum<kThreads>(q, red);
    if (threadIdx.x == 0) sq[i] = q;
}

/* One block per row: squared norms of dense float32 rows (host rows, converted on the CPU). */
__global__ void row_norms(const float *t, int64_t d, double *sq)
{
    __shared__ double red[kThreads];
    const int64_t i = blockIdx.x;
    double q = 0.0;
    for (int64_t c = threadIdx.x; c < d; c += blockDim.x) q += (double)t[i * d + c] * t[i * d + c];
    q = lsc_block_sum<kThreads>(q, red);
    if (threadIdx.x == 0) sq[i] = q;
}

/* One block per row i of the tile product c (n1 x n2, row i at c + i * n2): the kernel summed
 * over columns k (k > i on a diagonal block). */
__global__ void kernel_rows(const float *c, int64_t n2, const double *sa, const double *sb,
                            int kind, double a, int diag, double *rowsum)
{
    __shared__ double red[kThreads];
    const int64_t i = blockIdx.x;
    double s = 0.0;
    for (int64_t k = (diag ? i + 1 : 0) + threadIdx.x; k < n2; k += blockDim.x)
        s += lsc_kernel_value(kind, a, (double)c[i * n2 + k], sa[i], sb[k]);
    s = lsc_block_sum<kThreads>(s, red);
    if (threadIdx.x == 0) rowsum[i] = s;
}

/* One block: a tile pair's slot (its rows' sums in order, doubled for a set with itself) and the
 * largest squared norm of its rows. */
__global__ void tile_slot(const double *rowsum, int64_t n1, const double *sa, const double *sb,
                          int64_t n2, double factor, double *slot)
{
    if (threadIdx.x != 0) return;
    double s = 0.0, mx = 0.0;
    for (int64_t i = 0; i < n1; i++) {
        s += rowsum[i];
        if (sa[i] > mx) mx = sa[i];
    }
    for (int64_t k = 0; k < n2; k++)
        if (sb[k] > mx) mx = sb[k];
    slot[0] = factor * s;
    slot[1] = mx;
}

/* Rows [r0, r0 + nr) of a side into t / sq on the device. */
lsc_status load(lsc_ctx *ctx, const side &s, int64_t r0, int64_t nr, int64_t d, float *t,
                double *sq, int *buf)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    const lsc_matrix *m = s.m;
    const size_t es = lsc_elem_size((int)m->dtype);
    if (m->memory != LSC_MEMORY_HOST) {
        gather_rows<<<(unsigned)nr, kThreads, 0, st>>>(
            static_cast<const char *>(m->data), (int)m->dtype, es, m->ld, s.d_rows, r0, d, t, sq);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
        return LSC_STATUS_OK;
    }
    void *h = nullptr;
    LSC_TRY(lsc_cuda_pinned_reserve(ctx, *buf, (size_t)nr * (size_t)d * sizeof(float), &h));
    float *f = static_cast<float *>(h);
    for (int64_t i = 0; i < nr; i++) {
        const int64_t r = s.rows ? s.rows[r0 + i] : r0 + i;
        const char *row = static_cast<const char *>(m->data) + (size_t)(r * m->ld) * es;
        for (int64_t c = 0; c < d; c++) f[i * d + c] = lsc_load_f32(row, (int)m->dtype, c);
    }
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(t, f, (size_t)nr * (size_t)d * sizeof(float),
                                      cudaMemcpyHostToDevice, st));
    LSC_TRY(lsc_cuda_pinned_mark(ctx, *buf, st));
    *buf = (*buf + 1) % LSC_WS_PINNED_BUFS;
    row_norms<<<(unsigned)nr, kThreads, 0, st>>>(t, d, sq);
    LSC_CUDA_TRY(ctx, cudaGetLastError());
    return LSC_STATUS_OK;
}

struct scratch {
    float *ta, *tb, *c;
    double *sa, *sb, *rowsum, *slots;
    int64_t *map[2];
};

} // namespace

lsc_status lsc_cuda_kernel_sums(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *xs, int64_t nx,
                                const lsc_matrix *y, const int64_t *ys, int64_t ny, int kind,
                                double a, double *sums)
{
    const int64_t d = x->cols;
    cuda_state *cs = cuda_of(ctx);
    cudaStream_t st = cs->stream;
    int64_t tile = kTile;
    const auto tile_bytes = [&](int64_t t) {
        return (size_t)t * (size_t)d * 2 * sizeof(float) + (size_t)t * (size_t)t * sizeof(float) +
               (size_t)t * 3 * sizeof(double);
    };
    while (tile > 1 && tile_bytes(tile) > lsc_cuda_ws_budget(ctx)) tile /= 2;
    LSC_CHECK(ctx, tile_bytes(tile) <= lsc_cuda_ws_budget(ctx), LSC_STATUS_WORKSPACE_LIMIT,
              "workspace limit %zu bytes is too small for one row of %lld columns",
              lsc_cuda_ws_budget(ctx), (long long)d);
    const int64_t bx = (nx + tile - 1) / tile, by = (ny + tile - 1) / tile;
    const int64_t njobs = bx * (bx + 1) / 2 + by * (by + 1) / 2 + bx * by;
    host_buf jb, hs;
    jb.p = malloc((size_t)njobs * sizeof(job));
    hs.p = malloc((size_t)njobs * 2 * sizeof(double));
    if (!jb.p || !hs.p) return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory");
    job *jobs = static_cast<job *>(jb.p);
    double *slots = static_cast<double *>(hs.p);
    int64_t q = 0;
    for (int w = 0; w < 2; w++) {
        const int64_t nb = w ? by : bx;
        for (int64_t bi = 0; bi < nb; bi++)
            for (int64_t bj = bi; bj < nb; bj++)
                jobs[q++] = job{w ? LSC_KSUM_YY : LSC_KSUM_XX, bi, bj};
    }
    for (int64_t bi = 0; bi < bx; bi++)
        for (int64_t bj = 0; bj < by; bj++) jobs[q++] = job{LSC_KSUM_XY, bi, bj};

    const bool dev[2] = {x->memory != LSC_MEMORY_HOST && xs, y->memory != LSC_MEMORY_HOST && ys};
    scratch s;
    auto layout = [&](lsc_ws_carve *c) {
        lsc_ws_take(c, (size_t)tile * (size_t)d * sizeof(float), &s.ta);
        lsc_ws_take(c, (size_t)tile * (size_t)d * sizeof(float), &s.tb);
        lsc_ws_take(c, (size_t)tile * (size_t)tile * sizeof(float), &s.c);
        lsc_ws_take(c, (size_t)tile * sizeof(double), &s.sa);
        lsc_ws_take(c, (size_t)tile * sizeof(double), &s.sb);
        lsc_ws_take(c, (size_t)tile * sizeof(double), &s.rowsum);
        lsc_ws_take(c, (size_t)njobs * 2 * sizeof(double), &s.slots);
        s.map[0] = s.map[1] = nullptr;
        if (dev[0]) lsc_ws_take(c, (size_t)nx * sizeof(int64_t), &s.map[0]);
        if (dev[1]) lsc_ws_take(c, (size_t)ny * sizeof(int64_t), &s.map[1]);
    };
    lsc_ws_carve c = {nullptr, 0};
    layout(&c);
    void *base = nullptr;
    LSC_TRY(lsc_cuda_ws_reserve(ctx, LSC_WS_TILES, c.off, "kernel sum tiles", &base));
    c = lsc_ws_carve{static_cast<char *>(base), 0};
    layout(&c);
    // the row lists of device matrices: copied from the caller's host arrays, then waited for
    // (the copy is pageable, so it completes before the call returns anyway)
    if (dev[0])
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(s.map[0], xs, (size_t)nx * sizeof(int64_t),
                                          cudaMemcpyHostToDevice, st));
    if (dev[1])
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(s.map[1], ys, (size_t)ny * sizeof(int64_t),
                                          cudaMemcpyHostToDevice, st));
    const side sd[2] = {{x, xs, s.map[0], nx}, {y, ys, s.map[1], ny}};
    int buf = 0;
    int loaded_set = -1;
    int64_t loaded_bi = -1;
    const float one = 1.0f, zero = 0.0f;
    for (q = 0; q < njobs; q++) {
        const job j = jobs[q];
        const int s1 = j.which == LSC_KSUM_YY, s2 = j.which != LSC_KSUM_XX;
        const int64_t r1 = j.bi * tile, r2 = j.bj * tile;
        const int64_t n1 = sd[s1].n - r1 < tile ? sd[s1].n - r1 : tile;
        const int64_t n2 = sd[s2].n - r2 < tile ? sd[s2].n - r2 : tile;
        if (loaded_set != s1 || loaded_bi != j.bi) {
            LSC_TRY(load(ctx, sd[s1], r1, n1, d, s.ta, s.sa, &buf));
            loaded_set = s1;
            loaded_bi = j.bi;
        }
        LSC_TRY(load(ctx, sd[s2], r2, n2, d, s.tb, s.sb, &buf));
        // c (row-major n1 x n2) = ta tb^T is the column-major n2 x n1 matrix TB^T TA, each
        // row-major tile being a column-major d x n matrix
        LSC_CUBLAS_TRY(ctx, cublasSgemm_64(cs->blas, CUBLAS_OP_T, CUBLAS_OP_N, n2, n1, d, &one,
                                           s.tb, d, s.ta, d, &zero, s.c, n2));
        const int diag = j.which != LSC_KSUM_XY && j.bi == j.bj;
        kernel_rows<<<(unsigned)n1, kThreads, 0, st>>>(s.c, n2, s.sa, s.sb, kind, a, diag,
                                                       s.rowsum);
        tile_slot<<<1, 32, 0, st>>>(s.rowsum, n1, s.sa, s.sb, n2,
                                    j.which == LSC_KSUM_XY ? 1.0 : 2.0, s.slots + 2 * q);
        LSC_CUDA_TRY(ctx, cudaGetLastError());
    }
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(slots, s.slots, (size_t)njobs * 2 * sizeof(double),
                                      cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    for (int k = 0; k < LSC_KSUM_N; k++) sums[k] = 0.0;
    for (q = 0; q < njobs; q++) {
        sums[jobs[q].which] += slots[2 * q];
        if (slots[2 * q + 1] > sums[LSC_KSUM_MAXSQ]) sums[LSC_KSUM_MAXSQ] = slots[2 * q + 1];
    }
    return LSC_STATUS_OK;
}
