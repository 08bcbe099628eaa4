/* Distance tiles on the GPU, shared by distances.cu, knn.cu, prdc.cu and pairs.cu: prepared sets
 * (centre or inverse norms), tiles of rows converted to centred / normalised float32 with float64
 * squared norms, the float32 GEMM of a query tile against a base tile (cuBLAS, IEEE float32: the
 * handle keeps CUBLAS_DEFAULT_MATH), and the tile plan within the workspace budget.
 *
 * Exactly the CPU backend's rules (host/cpu/tiles.c): euclidean rows are centred on a centre
 * shared by both sets (the base set's own column mean, or the reference's), t = (float)((double)x
 * - centre); cosine rows are normalised with the float32 row's float64 inverse norm, t =
 * (float)((double)x * inv), inv = 1 / sqrt(sum x^2) summed in index order (bit-identical to the
 * CPU's, which lsc_exact_v needs). These files are compiled with --fmad=false for the same reason.
 *
 * Host matrices stream through pinned staging buffers tile by tile: the CPU fills one pinned
 * buffer while a copy stream moves the other to the device and the context's stream computes;
 * events order the three. Device matrices are read in place (any dtype, any ld).
 *
 * Everything is enqueued on the context's stream (cuda_of(ctx)->stream); nothing here
 * synchronises the device except where a result must reach the host, which the callers do. */
#pragma once

#include "workspace.cuh"
#include "../common/distance_rules.h"
#include "../common/select_rules.h"

#include <stdint.h>

/* A set of rows as the distance kernels see it. */
struct ct_set {
    const lsc_matrix *m;  /* the rows (host or device memory); NULL when resident */
    const int64_t *h_map; /* host row map (pair subsets) or NULL: set row i is m's row map[i] */
    const int64_t *d_map; /* the same map in device memory (device matrices) */
    int64_t n, d;
    int metric;           /* LSC_M_EUCLIDEAN or LSC_M_COSINE */
    const double *centre; /* device, d values (euclidean) */
    const double *inv;    /* device, n values (cosine): 1 / ||row|| of the float32 row */
    /* resident form: every row already converted in device memory (the reference cache) */
    const float *res_raw;
    int64_t res_raw_ld;
    const float *res_t;   /* n x d */
    const double *res_sq; /* n */
};

/* Rows [r0, r0 + nr) of a set, in device memory. */
struct ct_tile {
    int64_t r0, nr;
    const float *raw; /* the float32 rows as given (exact values are computed from these) */
    int64_t raw_ld;
    const float *t;   /* centred or normalised rows, nr x d, ld d */
    const double *sq; /* their squared norms, float64 */
};

/* Device buffers of one role (query or base) of a tile job. */
struct ct_tilebuf {
    float *raw;     /* cap x d, or NULL when the source's own float32 rows serve */
    float *t;       /* cap x d */
    double *sq;     /* cap */
    char *stage[2]; /* host sets: device copies of the source rows, dtype as given, dense */
    int64_t cap;    /* rows */
    int role;       /* 0 query, 1 base: which staging events it uses */
    int next;       /* staging buffer for the next load */
    int64_t loaded_r0, loaded_nr; /* what the buffers hold now (-1: nothing) */
};

/* Rows of a set readable on the device in the source dtype (for set passes and conversion):
 * row i of the range is p + (map ? map[i] : i) * ld elements. */
struct ct_src {
    const char *p;
    int64_t ld;
    const int64_t *map;
    int dtype;
    size_t es;
    int stage; /* staging buffer used (host sets), -1 for device sets */
};

/* What a tile job needs besides the tiles: bytes per query row, per base row, per entry of the
 * product (beyond its 4 bytes) and fixed bytes, all carved from the tile slot. */
struct ct_plan_in {
    const ct_set *q, *b;
    int64_t max_tq, max_tb;
    size_t extra_q_row, extra_b_row, extra_entry, extra_fixed;
};

struct ct_job {
    int64_t tq, tb;
    ct_tilebuf qb, bb;
    float *c;          /* tq x tb product (ld = the base tile's rows) */
    char *extra_q;     /* tq * extra_q_row bytes */
    char *extra_b;     /* tb * extra_b_row bytes */
    char *extra_entry; /* tq * tb * extra_entry bytes */
    char *extra_fixed; /* extra_fixed bytes */
};

/* Initialises a set over matrix m (rows through h_map, n of them). The centre / inverse norms
 * are computed into the caller's device buffers (centre_buf: d doubles, euclidean; inv_buf: n
 * doubles, cosine); `given_centre` (device) is used instead of the set's own mean when not
 * NULL. d_map must be a device copy of h_map when m is device memory and h_map is set. */
lsc_status ct_set_init(lsc_ctx *ctx, ct_set *s, const lsc_matrix *m, const int64_t *h_map,
                       const int64_t *d_map, int64_t n, int metric, double *centre_buf,
                       double *inv_buf, const double *given_centre);

/* Plans and carves a job in the tile slot (LSC_WS_TILES) within the workspace budget, halving
 * the tiles when the device cannot serve the allocation. OUT_OF_MEMORY / WORKSPACE_LIMIT with a
 * message when even the smallest plan fails. */
lsc_status ct_plan(lsc_ctx *ctx, const ct_plan_in *in, ct_job *job);

/* Loads rows [r0, r0 + nr) of s into buf (a no-op when buf already holds them, or a view when
 * s is resident) and describes them in *t. */
lsc_status ct_load(lsc_ctx *ctx, const ct_set *s, ct_tilebuf *buf, int64_t r0, int64_t nr,
                   ct_tile *t);

/* c (q->nr x b->nr, row-major, ld b->nr) = q->t b->t^T in IEEE float32 (cuBLAS SGEMM). */
lsc_status ct_gemm(lsc_ctx *ctx, const ct_tile *q, const ct_tile *b, int64_t d, float *c);

/* One tile pair as the tile kernels read it: the product c (nq x nb, ld nb) of query rows
 * [q0, q0 + nq) and base rows [b0, b0 + nb), the tiles' squared norms and float32 rows as given
 * (exact values are computed from these), the sets' inverse norms (cosine; else NULL, indexed by
 * set row) and the dimension. Each kernel's arguments extend it. */
struct ct_pair {
    float *c;
    int64_t nq, nb, q0, b0;
    const double *qsq, *bsq;
    const float *qraw, *braw;
    int64_t qld, bld;
    const double *qinv, *binv;
    int64_t d;
};

/* The tile loop of a pass of set q against set b, written once for every pass: each query
 * tile is loaded, then query_begin(qt) runs; each base tile (with `upper`, only those from the
 * query tile's first row on: the pairs i < j of one set) is loaded, the product formed and
 * tile(pair, qt, bt) run; after the query tile's last base tile, query_end(qt). Each callback
 * returns a status; the first failure ends the loop with it. */
template <typename Begin, typename Tile, typename End>
lsc_status ct_tile_loop(lsc_ctx *ctx, const ct_set *q, const ct_set *b, ct_job *job, bool upper,
                        Begin &&query_begin, Tile &&tile, End &&query_end)
{
    for (int64_t q0 = 0; q0 < q->n; q0 += job->tq) {
        const int64_t nq = q->n - q0 < job->tq ? q->n - q0 : job->tq;
        ct_tile qt;
        LSC_TRY(ct_load(ctx, q, &job->qb, q0, nq, &qt));
        LSC_TRY(query_begin(qt));
        for (int64_t b0 = upper ? q0 : 0; b0 < b->n; b0 += job->tb) {
            const int64_t nb = b->n - b0 < job->tb ? b->n - b0 : job->tb;
            ct_tile bt;
            LSC_TRY(ct_load(ctx, b, &job->bb, b0, nb, &bt));
            LSC_TRY(ct_gemm(ctx, &qt, &bt, q->d, job->c));
            ct_pair p;
            p.c = job->c;
            p.nq = nq;
            p.nb = nb;
            p.q0 = q0;
            p.b0 = b0;
            p.qsq = qt.sq;
            p.bsq = bt.sq;
            p.qraw = qt.raw;
            p.braw = bt.raw;
            p.qld = qt.raw_ld;
            p.bld = bt.raw_ld;
            p.qinv = q->metric == LSC_M_COSINE ? q->inv : nullptr;
            p.binv = b->metric == LSC_M_COSINE ? b->inv : nullptr;
            p.d = q->d;
            LSC_TRY(tile(p, qt, bt));
        }
        LSC_TRY(query_end(qt));
    }
    return LSC_STATUS_OK;
}

/* A tile loop callback that does nothing. */
struct ct_no_step {
    lsc_status operator()(const ct_tile &) const { return LSC_STATUS_OK; }
};

/* Passes over a set's source rows in chunks (set passes: means, norms, bounds): stages rows
 * [r0, r0 + nr) of a non-resident set (host sets through `stage`, `chunk` rows each) and
 * returns their location; call ct_src_done after enqueuing the kernels that read it. */
lsc_status ct_src_get(lsc_ctx *ctx, const ct_set *s, char *stage[2], int *next, int role,
                      int64_t r0, int64_t nr, ct_src *src);
lsc_status ct_src_done(lsc_ctx *ctx, const ct_src *src, int role);

/* B = 2 max_i ||x_i - mu|| of docs/METRICS.md section 3 (for cosine min(2, 2 R^2) over the
 * normalised rows), computed exactly as the CPU backend computes it (sequential float64 sums),
 * so that both backends bin every pair alike. Blocks (the bound is needed on the host). */
lsc_status ct_hist_upper(lsc_ctx *ctx, const ct_set *s, double *upper);

/* Progress between tiles, on the calling thread (host/error.c, linked into this module). */
static inline lsc_status ct_progress(lsc_ctx *ctx, double fraction)
{
    return lsc_progress(ctx, fraction);
}

/* Launch helpers. */
static inline unsigned ct_blocks(int64_t n, int threads)
{
    return static_cast<unsigned>((n + threads - 1) / threads);
}

#define LSC_CUDA_LAUNCHED(ctx) LSC_CUDA_TRY((ctx), cudaGetLastError())

/* Non-negative doubles as ordered unsigned 64-bit patterns, for atomicMin / atomicMax. */
__device__ __forceinline__ unsigned long long ct_dbits(double v)
{
    return static_cast<unsigned long long>(__double_as_longlong(v));
}
__device__ __forceinline__ double ct_bitsd(unsigned long long b)
{
    return __longlong_as_double(static_cast<long long>(b));
}

/* Converts every row of a device set into t (n x d) and sq (n): the reference cache. */
lsc_status ct_convert_all(lsc_ctx *ctx, const ct_set *s, float *t, double *sq);

/* ---- exact k nearest neighbours of sets (knn.cu), shared with prdc.cu ---------------------- */

/* For every row of q, its k exact nearest rows of b (ascending internal value, ties by the smaller
 * index; exclude_self: q and b are the same set). Outputs (device memory, any may be NULL):
 * dist[q * k + t] the reported distance under `report_metric`, idx[q * k + t] the base index,
 * kth_v[q] the internal value of the k-th. Progress from p0 to p1 when `progress` is set (never
 * in an asynchronous call). Enqueues only; the caller synchronises if it needs the values. */
lsc_status ct_knn_sets(lsc_ctx *ctx, const ct_set *q, const ct_set *b, int64_t k, int exclude_self,
                       int report_metric, float *dist, int64_t *idx, double *kth_v, bool progress,
                       double p0, double p1);

/* ---- block-wide helpers (blockDim.x a multiple of 32, at most 1024) ------------------------ */

/* Sum of v over the block; every thread gets it. Uses and synchronises `red` (32 entries). */
template <typename T>
__device__ __forceinline__ T ct_block_sum(T v, T *red)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int w = threadIdx.x / 32, nw = blockDim.x / 32;
    __syncthreads(); // red may still be read by a previous call
    if (threadIdx.x % 32 == 0) red[w] = v;
    __syncthreads();
    T s = T(0);
    for (int i = 0; i < nw; i++) s += red[i]; // fixed order: deterministic
    return s;
}

template <typename T, typename Op>
__device__ __forceinline__ T ct_block_reduce(T v, T *red, Op op)
{
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int w = threadIdx.x / 32, nw = blockDim.x / 32;
    __syncthreads();
    if (threadIdx.x % 32 == 0) red[w] = v;
    __syncthreads();
    T s = red[0];
    for (int i = 1; i < nw; i++) s = op(s, red[i]);
    return s;
}

/* Exclusive prefix sum of flag over the block in thread order; returns the total. */
__device__ __forceinline__ int ct_block_scan(int flag, int *pos, int *red)
{
    const int lane = threadIdx.x % 32, w = threadIdx.x / 32, nw = blockDim.x / 32;
    const unsigned ball = __ballot_sync(0xffffffffu, flag);
    const int in_warp = __popc(ball & ((1u << lane) - 1u));
    __syncthreads();
    if (lane == 0) red[w] = __popc(ball);
    __syncthreads();
    int before = 0, total = 0;
    for (int i = 0; i < nw; i++) {
        if (i < w) before += red[i];
        total += red[i];
    }
    *pos = before + in_warp;
    return total;
}
