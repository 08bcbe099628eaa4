/* All-pairs statistics on the GPU (docs/METRICS.md section 3), over tiles of the upper triangle,
 * never storing N x N, with the CPU backend's rules (host/cpu/pairs.c):
 *   - each pair's fast value and band decide whether its exact value is needed: the bulk rule
 *     (lsc_bulk_needs_exact), a near-duplicate (v_lo <= dup), a histogram bin edge inside the band,
 *     or a possible nearest neighbour of either row / maximum;
 *   - flagged pairs are recomputed exactly (lsc_exact_v), and the minimum, the maximum, each
 *     row's nearest-other value and the near-duplicates are taken from exact values only;
 *   - every pair lands in the histogram bin of its exact value (a band inside one bin holds it);
 *   - mean and std use the fast distance, or the exact one where the bulk rule says so;
 *   - the uniformity's pair terms (common/geometry_rules.h) come from the same product, summed
 *     with the moments in their fixed tree.
 * The nearest-neighbour and maximum tests use thresholds that hold on a GPU, where a whole tile
 * runs at once: for row i (and column j) of a tile, min(current nn, smallest upper end v + err
 * in that row (column) of the tile); for the maximum, max(current max, largest lower end in the
 * row). The pair reaching that upper (lower) end is itself flagged, so no pair left out could
 * have been the nearest (largest).
 * Integer results use atomics (exact, order-free); min / max use atomics on the bit patterns of
 * non-negative doubles; the moments are merged in a fixed tree per tile and tiles in order, so a
 * run is deterministic. The near-duplicate list keeps the first dup_report pairs in (d, i, j)
 * order across tiles (a per-tile buffer, then a sort and merge); if a tile ever holds more
 * candidates than the buffer, the list is rebuilt in a second pass, row range by row range. */
#include "tiles.cuh"
#include "../common/geometry_rules.h"
#include "../common/pair_figures.h"

#include <vector>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

namespace {

constexpr int kThreads = 256;
constexpr int kItems = 16; // pairs per thread of a row
constexpr int64_t kMaxTq = 4096;
constexpr int64_t kMaxTb = kThreads * kItems;
constexpr int64_t kSmemBins = 4096; // histograms up to this count in shared memory first
constexpr int kDupBuf = 16384;      // near-duplicate candidates per tile (a power of two)
constexpr int kColRows = 64;
constexpr int kMergeThreads = 1024;
constexpr int kDupThreads = 512;
constexpr int64_t kEdgeBins = 65536; // bin edges in internal values up to this many bins

struct moments {
    double n, mean, m2;
    double u; /* sum of the uniformity's pair terms */
};

/* (count, mean, M2) merged as Chan et al. (common/select_rules.h); the uniformity sums add. */
__device__ __forceinline__ void mom_merge(moments &a, const moments &b)
{
    lsc_moments_merge(&a.n, &a.mean, &a.m2, b.n, b.mean, b.m2);
    a.u += b.u;
}

__device__ __forceinline__ bool pair_before(const lsc_pair &a, const lsc_pair &b)
{
    return lsc_pair_order(a.d, a.i, a.j, b.d, b.i, b.j);
}

/* Device state of one call (the state slot). */
struct pair_state {
    unsigned long long *nn;   /* n: bits of each row's best exact value so far */
    unsigned long long *misc; /* [0] bits of the max exact value, [1] near-duplicate count,
                                 [2] candidates in the buffer */
    unsigned long long *hist; /* bins */
    moments *mom;             /* the running moments */
    lsc_pair *list[2];        /* cap each: the first near-duplicates so far, sorted */
    lsc_pair *thr;            /* the list's cap-th entry once full */
    int64_t *meta;            /* [0] entries, [1] current list, [2] thr valid, [3] overflow */
    lsc_pair *buf;            /* kDupBuf candidates of a tile */
    int64_t *d_map;           /* subset rows (device matrices) */
    double *vedge;            /* euclidean, bins <= kEdgeBins: bins + 1 edges (lsc_hist_edge_v) */
    lsc_unif_row *uq, *ub;    /* the uniformity's values of the tile's query and base rows */
};

/* One set against itself: the queries' and bases' inverse norms are the same array. */
struct pair_args : ct_pair {
    const int64_t *map; // set row -> input row (device) or NULL
    int metric;
    double dup_v, scale;
    int64_t bins, cap;
    pair_state s;
    const uint32_t *colmin; // tile columns: smallest upper end's key
    moments *rowmom;        // tile rows
};

/* The uniformity's per-row values of a tile's rows (centre NULL: normalised rows). O(rows D)
 * a tile, against the tile's O(rows^2 D) product. */
__global__ void k_unif_rows(const float *raw, int64_t ld, int64_t nr, int64_t d,
                            const double *centre, lsc_unif_row *out)
{
    const int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
    if (i < nr) out[i] = lsc_unif_row_of(raw + i * ld, d, centre);
}

/* Smallest upper end v + err of each column of the tile over its pairs (i < j), as ordered keys
 * of the float32 value rounded up. */
__global__ void k_colmin(const float *c, int64_t nq, int64_t nb, int64_t q0, int64_t b0,
                         const double *qsq, const double *bsq, int64_t d, uint32_t *colmin)
{
    const int64_t j = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
    if (j >= nb) return;
    const int64_t i0 = blockIdx.y * static_cast<int64_t>(kColRows);
    const int64_t i1 = i0 + kColRows < nq ? i0 + kColRows : nq;
    const int64_t gj = b0 + j;
    const double bs = bsq[j];
    uint32_t best = 0xffffffffu;
    for (int64_t i = i0; i < i1 && q0 + i < gj; i++) {
        const double qs = qsq[i];
        const double vf = lsc_fast_v(c[i * nb + j], qs, bs);
        const uint32_t key = lsc_key_f32(lsc_f32_ceil(vf + lsc_fast_err(d, qs, bs)));
        best = key < best ? key : best;
    }
    if (best != 0xffffffffu) atomicMin(&colmin[j], best);
}

__device__ __forceinline__ void dup_offer(const pair_args &a, const lsc_pair &p, bool thr_ok,
                                          const lsc_pair &thr)
{
    if (a.cap == 0 || (thr_ok && !pair_before(p, thr))) return;
    const unsigned long long pos = atomicAdd(&a.s.misc[2], 1ull);
    if (pos < static_cast<unsigned long long>(kDupBuf)) a.s.buf[pos] = p;
}

/* What every pair of one tile row shares in k_pairs: the row (its input index, squared norm,
 * product row in shared memory, float32 row as given), the thresholds of the nearest neighbour
 * and maximum tests, the near-duplicate list's threshold, the uniformity's row values and the
 * histogram in use. */
struct pair_row {
    int64_t oi;
    double qsq, inv_i, nn_thr, max_thr;
    const float *row, *qrow;
    bool thr_ok, unif, smem_hist;
    lsc_pair thr;
    lsc_unif_row ui;
    unsigned *shist;
};

/* The running results of one thread's pairs of a row. */
struct pair_acc {
    double nn, max, sum, usum;
    unsigned long long dups;
};

/* Pair (i, j) of tile row r: its flags, its exact value where a decision needs it, its bin and
 * uniformity term; returns the distance its moments take (the fast one, or the exact one where
 * the bulk rule says so). */
__device__ __forceinline__ double pair_one(const pair_args &a, const pair_row &r, int64_t j,
                                           pair_acc &acc)
{
    const int64_t gj = a.b0 + j;
    const double bs = a.bsq[j];
    const double vf = lsc_fast_v(r.row[j], r.qsq, bs);
    const double err = lsc_fast_err(a.d, r.qsq, bs);
    const double vlo = vf - err, vhi = vf + err, vlo0 = vlo > 0.0 ? vlo : 0.0;
    double x = lsc_dist_from_v(a.metric, vf > 0.0 ? vf : 0.0);
    const int64_t bx = lsc_hist_bin(x, a.scale, a.bins);
    // does the band leave the fast value's bin? Against the bin's edges (one square root
    // a pair instead of three, as the CPU), else the bins of both ends
    const bool split = a.s.vedge
                           ? vlo0 < a.s.vedge[bx] || vhi >= a.s.vedge[bx + 1]
                           : lsc_hist_pos(lsc_dist_from_v(a.metric, vlo0), a.scale, a.bins) !=
                                 lsc_hist_pos(lsc_dist_from_v(a.metric, vhi), a.scale, a.bins);
    const uint32_t ck = a.colmin[j];
    const double cmin = ck == 0xffffffffu ? INFINITY : static_cast<double>(lsc_unkey_f32(ck));
    const double nn_j = ct_bitsd(a.s.nn[gj]);
    const double col_thr = nn_j < cmin ? nn_j : cmin;
    const bool bulk = lsc_bulk_needs_exact(vf, err);
    const bool flag =
        bulk || vlo <= a.dup_v || vlo <= r.nn_thr || vlo <= col_thr || vhi >= r.max_thr || split;
    int64_t bin;
    if (flag) {
        const double ve =
            lsc_exact_v(r.qrow, a.braw + j * a.bld, a.d, r.inv_i, a.binv ? a.binv[gj] : 1.0);
        acc.nn = fmin(acc.nn, ve);
        atomicMin(&a.s.nn[gj], ct_dbits(ve));
        acc.max = fmax(acc.max, ve);
        const double dv = lsc_dist_from_v(a.metric, ve);
        if (ve <= a.dup_v) {
            acc.dups++;
            lsc_pair p;
            p.i = r.oi;
            p.j = a.map ? a.map[gj] : gj;
            p.d = dv;
            dup_offer(a, p, r.thr_ok, r.thr);
        }
        bin = lsc_hist_bin(dv, a.scale, a.bins);
        if (bulk) x = dv;
    } else {
        bin = bx;
    }
    if (r.smem_hist) atomicAdd(&r.shist[bin], 1u);
    else atomicAdd(&a.s.hist[bin], 1ull);
    acc.sum += x;
    if (r.unif) {
        const lsc_unif_row uj = a.s.ub[j];
        const double ud2 =
            lsc_unif_needs_exact(err, r.ui, uj)
                ? lsc_unif_exact_d2(r.qrow, a.braw + j * a.bld, a.d, a.qinv ? r.inv_i : r.ui.s,
                                    a.binv ? a.binv[gj] : uj.s)
                : lsc_unif_d2(static_cast<double>(r.row[j]), r.ui, uj);
        acc.usum += lsc_unif_term(ud2);
    }
    return x;
}

/* The block's moments: each thread's (count, mean, M2 around its own mean, uniformity sum) of
 * its `mine` distances xs[], then a fixed tree over the block (the same sums on every run).
 * Thread 0 gets the total. */
__device__ __forceinline__ moments block_moments(const double *xs, int mine, int64_t cnt,
                                                 double sum, double usum, moments *redm)
{
    moments m;
    m.n = static_cast<double>(mine);
    m.mean = mine ? sum / static_cast<double>(mine) : 0.0;
    m.m2 = 0.0;
    m.u = usum;
#pragma unroll
    for (int t = 0; t < kItems; t++) {
        const int64_t e = threadIdx.x + static_cast<int64_t>(t) * kThreads;
        if (e < cnt) m.m2 += (xs[t] - m.mean) * (xs[t] - m.mean);
    }
    redm[threadIdx.x] = m;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) mom_merge(redm[threadIdx.x], redm[threadIdx.x + s]);
        __syncthreads();
    }
    return redm[0];
}

/* One block per tile row: every statistic of the row's pairs. */
__global__ void __launch_bounds__(kThreads) k_pairs(pair_args a)
{
    extern __shared__ __align__(16) unsigned char smem[];
    float *row = reinterpret_cast<float *>(smem);
    __shared__ double red[32];
    __shared__ unsigned long long redu[32];
    __shared__ moments redm[kThreads];

    const int64_t i = blockIdx.x, gi = a.q0 + i;
    const int64_t js = gi + 1 > a.b0 ? gi + 1 - a.b0 : 0; // pairs i < j only
    if (js >= a.nb) {
        if (threadIdx.x == 0) a.rowmom[i] = moments{0.0, 0.0, 0.0, 0.0};
        return;
    }
    const int64_t cnt = a.nb - js;
    pair_row r;
    r.smem_hist = a.bins <= kSmemBins;
    r.shist = reinterpret_cast<unsigned *>(row + a.nb);
    r.qsq = a.qsq[i];
    r.row = row;
    const float *crow = a.c + i * a.nb;
    if (r.smem_hist)
        for (int64_t b = threadIdx.x; b < a.bins; b += kThreads) r.shist[b] = 0;
    // sweep 1: the row into shared memory, its smallest upper and largest lower end
    double rmin = INFINITY, rmax = -INFINITY;
    for (int64_t e = threadIdx.x; e < cnt; e += kThreads) {
        const int64_t j = js + e;
        const float c = crow[j];
        row[j] = c;
        const double bs = a.bsq[j];
        const double vf = lsc_fast_v(c, r.qsq, bs);
        const double err = lsc_fast_err(a.d, r.qsq, bs);
        rmin = fmin(rmin, vf + err);
        rmax = fmax(rmax, vf - err);
    }
    rmin = ct_block_reduce(rmin, red, [](double x, double y) { return fmin(x, y); });
    rmax = ct_block_reduce(rmax, red, [](double x, double y) { return fmax(x, y); });
    const double nn_read = ct_bitsd(a.s.nn[gi]);
    r.nn_thr = nn_read < rmin ? nn_read : rmin;
    const double max_read = ct_bitsd(a.s.misc[0]);
    r.max_thr = max_read > rmax ? max_read : rmax;
    r.thr_ok = a.cap > 0 && a.s.meta[2] != 0;
    r.thr.i = r.thr.j = 0;
    r.thr.d = 0.0;
    if (r.thr_ok) r.thr = *a.s.thr;
    r.oi = a.map ? a.map[gi] : gi;
    r.inv_i = a.qinv ? a.qinv[gi] : 1.0;
    r.qrow = a.qraw + i * a.qld;
    r.unif = a.s.uq != nullptr;
    r.ui = r.unif ? a.s.uq[i] : lsc_unif_row{0.0, 0.0, 0.0};

    // sweep 2: flags, exact values where a decision needs them, bins, the row's distances
    double xs[kItems];
    pair_acc acc = {INFINITY, 0.0, 0.0, 0.0, 0};
    int mine = 0;
#pragma unroll
    for (int t = 0; t < kItems; t++) {
        const int64_t e = threadIdx.x + static_cast<int64_t>(t) * kThreads;
        xs[t] = 0.0;
        if (e < cnt) {
            xs[t] = pair_one(a, r, js + e, acc);
            mine++;
        }
    }
    // this thread's pairs: mean, then M2 around it; then a fixed tree over the block
    const moments m = block_moments(xs, mine, cnt, acc.sum, acc.usum, redm);
    if (threadIdx.x == 0) a.rowmom[i] = m;
    double my_nn = ct_block_reduce(acc.nn, red, [](double x, double y) { return fmin(x, y); });
    double my_max = ct_block_reduce(acc.max, red, [](double x, double y) { return fmax(x, y); });
    unsigned long long my_dups = ct_block_sum(acc.dups, redu);
    if (threadIdx.x == 0) {
        if (my_nn < INFINITY) atomicMin(&a.s.nn[gi], ct_dbits(my_nn));
        atomicMax(&a.s.misc[0], ct_dbits(my_max));
        if (my_dups) atomicAdd(&a.s.misc[1], my_dups);
    }
    if (r.smem_hist) {
        __syncthreads();
        for (int64_t b = threadIdx.x; b < a.bins; b += kThreads)
            if (r.shist[b]) atomicAdd(&a.s.hist[b], static_cast<unsigned long long>(r.shist[b]));
    }
}

/* The rows' moments of a tile merged in a fixed tree, then into the running total in tile
 * order. One block. */
__global__ void __launch_bounds__(kMergeThreads)
    k_mom_merge(const moments *rowmom, int64_t nq, moments *total)
{
    __shared__ moments red[kMergeThreads];
    moments m = {0.0, 0.0, 0.0, 0.0};
    const int64_t per = (nq + kMergeThreads - 1) / kMergeThreads;
    const int64_t lo = threadIdx.x * per, hi = lo + per < nq ? lo + per : nq;
    for (int64_t r = lo; r < hi; r++) mom_merge(m, rowmom[r]);
    red[threadIdx.x] = m;
    __syncthreads();
    for (int s = kMergeThreads / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) mom_merge(red[threadIdx.x], red[threadIdx.x + s]);
        __syncthreads();
    }
    if (threadIdx.x == 0) mom_merge(*total, red[0]);
}

__device__ int64_t pairs_before(const lsc_pair *x, int64_t n, const lsc_pair &p)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (pair_before(x[mid], p)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The tile's near-duplicate candidates sorted and merged into the list (first cap by (d, i, j)).
 * With `discard` an overflowing buffer is dropped (its range is then redone in parts). One
 * block. */
__global__ void __launch_bounds__(kDupThreads) k_dup_merge(pair_state s, int64_t cap, int discard)
{
    const unsigned long long total = s.misc[2];
    if (total == 0) return;
    const bool over = total > static_cast<unsigned long long>(kDupBuf);
    if (over && threadIdx.x == 0) s.meta[3] = 1;
    if (over && discard) {
        __syncthreads();
        if (threadIdx.x == 0) s.misc[2] = 0;
        return;
    }
    const int m = over ? kDupBuf : static_cast<int>(total); // <= kDupBuf: a shared buffer's count
    int P = 1;
    while (P < m) P <<= 1;
    lsc_pair pad;
    pad.d = INFINITY;
    pad.i = INT64_MAX;
    pad.j = INT64_MAX;
    for (int e = m + threadIdx.x; e < P; e += blockDim.x) s.buf[e] = pad;
    __syncthreads();
    for (int size = 2; size <= P; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int t = threadIdx.x; t < P / 2; t += blockDim.x) {
                int64_t lo, hi;
                const bool up = lsc_bitonic_step(t, size, stride, &lo, &hi);
                const lsc_pair x = s.buf[lo], y = s.buf[hi];
                if (up ? pair_before(y, x) : pair_before(x, y)) {
                    s.buf[lo] = y;
                    s.buf[hi] = x;
                }
            }
            __syncthreads();
        }
    const int64_t n = s.meta[0], cur = s.meta[1];
    const lsc_pair *lv = cur ? s.list[1] : s.list[0]; // no run-time index into a parameter array
    lsc_pair *ov = cur ? s.list[0] : s.list[1];
    for (int64_t e = threadIdx.x; e < n; e += blockDim.x) {
        const int64_t r = e + pairs_before(s.buf, m, lv[e]);
        if (r < cap) ov[r] = lv[e];
    }
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        const int64_t r = e + pairs_before(lv, n, s.buf[e]);
        if (r < cap) ov[r] = s.buf[e];
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        const int64_t nn = n + m < cap ? n + m : cap;
        s.meta[0] = nn;
        s.meta[1] = cur ^ 1;
        if (nn == cap) {
            *s.thr = ov[cap - 1];
            s.meta[2] = 1;
        }
        s.misc[2] = 0;
    }
}

/* Second pass for the list only: rows [r0, r0 + gridDim.x) of a tile, near-duplicates only. */
__global__ void __launch_bounds__(kThreads) k_dup_rows(pair_args a, int64_t r0)
{
    const int64_t i = r0 + blockIdx.x, gi = a.q0 + i;
    const int64_t js = gi + 1 > a.b0 ? gi + 1 - a.b0 : 0;
    const double qsq = a.qsq[i];
    const bool thr_ok = a.s.meta[2] != 0;
    lsc_pair thr;
    thr.i = thr.j = 0;
    thr.d = 0.0;
    if (thr_ok) thr = *a.s.thr;
    const double inv_i = a.qinv ? a.qinv[gi] : 1.0;
    for (int64_t j = js + threadIdx.x; j < a.nb; j += kThreads) {
        const double bs = a.bsq[j];
        const double vf = lsc_fast_v(a.c[i * a.nb + j], qsq, bs);
        if (vf - lsc_fast_err(a.d, qsq, bs) > a.dup_v) continue;
        const int64_t gj = a.b0 + j;
        const double ve = lsc_exact_v(a.qraw + i * a.qld, a.braw + j * a.bld, a.d, inv_i,
                                      a.binv ? a.binv[gj] : 1.0);
        if (ve > a.dup_v) continue;
        lsc_pair p;
        p.i = a.map ? a.map[gi] : gi;
        p.j = a.map ? a.map[gj] : gj;
        p.d = lsc_dist_from_v(a.metric, ve);
        dup_offer(a, p, thr_ok, thr);
    }
}

__global__ void k_fill_u64(unsigned long long *x, int64_t n, unsigned long long v)
{
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n) x[i] = v;
}

/* The near-duplicate list rebuilt tile by tile, splitting a row range whose candidates overflow
 * the buffer (a single row never does: it has at most kMaxTb < kDupBuf pairs in a tile). */
lsc_status dup_rescan(lsc_ctx *ctx, pair_args a, int64_t r0, int64_t nr)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    k_dup_rows<<<static_cast<unsigned>(nr), kThreads, 0, st>>>(a, r0);
    LSC_CUDA_LAUNCHED(ctx);
    k_dup_merge<<<1, kDupThreads, 0, st>>>(a.s, a.cap, 1);
    LSC_CUDA_LAUNCHED(ctx);
    int64_t over = 0;
    LSC_CUDA_TRY(ctx,
                 cudaMemcpyAsync(&over, a.s.meta + 3, sizeof over, cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    if (!over) return LSC_STATUS_OK;
    if (nr <= 1)
        return lsc_set_error(ctx, LSC_STATUS_INTERNAL, "near-duplicate buffer overflow in one row");
    LSC_CUDA_TRY(ctx, cudaMemsetAsync(a.s.meta + 3, 0, sizeof(int64_t), st));
    LSC_TRY(dup_rescan(ctx, a, r0, nr / 2));
    return dup_rescan(ctx, a, r0 + nr / 2, nr - nr / 2);
}

/* One pass over the upper triangle's tiles. Pass 0: every statistic (the uniformity's row values
 * of each tile first when asked, with `centre` the set's, NULL for normalised rows), progress
 * after each tile by its area (*done of total); pass 1: the near-duplicate list alone, rebuilt
 * (dup_rescan). */
lsc_status pair_pass(lsc_ctx *ctx, const ct_set *set, ct_job *job, pair_args a, int pass,
                     const double *centre, double *done, double total)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    const int64_t d = set->d;
    const pair_state &s = a.s;
    auto begin = [&](const ct_tile &qt) -> lsc_status {
        if (pass == 0 && s.uq) {
            k_unif_rows<<<ct_blocks(qt.nr, kThreads), kThreads, 0, st>>>(qt.raw, qt.raw_ld, qt.nr,
                                                                         d, centre, s.uq);
            LSC_CUDA_LAUNCHED(ctx);
        }
        return LSC_STATUS_OK;
    };
    auto tile = [&](const ct_pair &p, const ct_tile &, const ct_tile &bt) -> lsc_status {
        static_cast<ct_pair &>(a) = p;
        if (pass == 1) {
            LSC_TRY(dup_rescan(ctx, a, 0, p.nq));
            return ct_progress(ctx, 1.0);
        }
        if (s.ub) {
            k_unif_rows<<<ct_blocks(p.nb, kThreads), kThreads, 0, st>>>(bt.raw, bt.raw_ld, p.nb, d,
                                                                        centre, s.ub);
            LSC_CUDA_LAUNCHED(ctx);
        }
        uint32_t *colmin = reinterpret_cast<uint32_t *>(job->extra_b);
        LSC_CUDA_TRY(
            ctx, cudaMemsetAsync(colmin, 0xff, static_cast<size_t>(p.nb) * sizeof(uint32_t), st));
        const dim3 cg(ct_blocks(p.nb, kThreads), ct_blocks(p.nq, kColRows));
        k_colmin<<<cg, kThreads, 0, st>>>(p.c, p.nq, p.nb, p.q0, p.b0, p.qsq, p.bsq, d, colmin);
        LSC_CUDA_LAUNCHED(ctx);
        const size_t smem =
            static_cast<size_t>(p.nb) * sizeof(float) +
            (a.bins <= kSmemBins ? static_cast<size_t>(a.bins) * sizeof(unsigned) : 0);
        k_pairs<<<static_cast<unsigned>(p.nq), kThreads, smem, st>>>(a);
        LSC_CUDA_LAUNCHED(ctx);
        k_mom_merge<<<1, kMergeThreads, 0, st>>>(a.rowmom, p.nq, s.mom);
        LSC_CUDA_LAUNCHED(ctx);
        if (a.cap > 0) {
            k_dup_merge<<<1, kDupThreads, 0, st>>>(s, a.cap, 0);
            LSC_CUDA_LAUNCHED(ctx);
        }
        *done += static_cast<double>(p.nq) * static_cast<double>(p.nb);
        return ct_progress(ctx, *done / total);
    };
    return ct_tile_loop(ctx, set, set, job, true, begin, tile, ct_no_step());
}

/* The call's device state in the state slot: the set's centre (d) and inverse norms (n, cosine),
 * and `s`, initialised (nearest values +Inf, counters, histogram, moments and list empty; the
 * subset copied to the device). s->vedge is carved for euclidean up to kEdgeBins bins and
 * filled by pair_edges; s->uq and s->ub only with the uniformity. */
lsc_status pair_state_take(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *subset, int64_t n,
                           const lsc_pair_opts *opts, int metric, pair_state *ps, double **centre,
                           double **inv)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    const int64_t bins = opts->bins, cap = opts->dup_report, d = x->cols;
    const bool edges = metric == LSC_M_EUCLIDEAN && bins <= kEdgeBins;
    pair_state &s = *ps;
    lsc_ws_carve c = {nullptr, 0};
    for (int pass = 0; pass < 2; pass++) {
        lsc_ws_take(&c, static_cast<size_t>(d) * sizeof(double), centre);
        lsc_ws_take(&c, static_cast<size_t>(metric == LSC_M_COSINE ? n : 0) * sizeof(double), inv);
        lsc_ws_take(&c, static_cast<size_t>(n) * sizeof(unsigned long long), &s.nn);
        lsc_ws_take(&c, 4 * sizeof(unsigned long long), &s.misc);
        lsc_ws_take(&c, static_cast<size_t>(bins) * sizeof(unsigned long long), &s.hist);
        lsc_ws_take(&c, sizeof(moments), &s.mom);
        lsc_ws_take(&c, static_cast<size_t>(cap) * sizeof(lsc_pair), &s.list[0]);
        lsc_ws_take(&c, static_cast<size_t>(cap) * sizeof(lsc_pair), &s.list[1]);
        lsc_ws_take(&c, sizeof(lsc_pair), &s.thr);
        lsc_ws_take(&c, 4 * sizeof(int64_t), &s.meta);
        lsc_ws_take(&c, static_cast<size_t>(kDupBuf) * sizeof(lsc_pair), &s.buf);
        lsc_ws_take(&c, static_cast<size_t>(subset ? n : 0) * sizeof(int64_t), &s.d_map);
        lsc_ws_take(&c, static_cast<size_t>(edges ? bins + 1 : 0) * sizeof(double), &s.vedge);
        // the uniformity only when asked (an exp per pair): no rows' values, no terms
        const int64_t un = opts->uniformity ? n : 0;
        lsc_ws_take(&c, static_cast<size_t>(un < kMaxTq ? un : kMaxTq) * sizeof(lsc_unif_row),
                    &s.uq);
        lsc_ws_take(&c, static_cast<size_t>(un < kMaxTb ? un : kMaxTb) * sizeof(lsc_unif_row),
                    &s.ub);
        if (pass == 0) {
            void *mem;
            LSC_TRY(lsc_cuda_ws_reserve(ctx, LSC_WS_STATE, c.off, "pair statistics state", &mem));
            c = {static_cast<char *>(mem), 0};
        }
    }
    // the subset on the device: device rows are read through it, and near-duplicate pairs are
    // reported with the input's row indices either way
    if (!opts->uniformity) s.uq = s.ub = nullptr;
    if (!subset) s.d_map = nullptr;
    else
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(s.d_map, subset, static_cast<size_t>(n) * sizeof(int64_t),
                                          cudaMemcpyHostToDevice, st));
    k_fill_u64<<<ct_blocks(n, kThreads), kThreads, 0, st>>>(s.nn, n, 0x7ff0000000000000ull); // +Inf
    LSC_CUDA_LAUNCHED(ctx);
    LSC_CUDA_TRY(ctx, cudaMemsetAsync(s.misc, 0, 4 * sizeof(unsigned long long), st));
    LSC_CUDA_TRY(ctx, cudaMemsetAsync(s.hist, 0,
                                      static_cast<size_t>(bins) * sizeof(unsigned long long), st));
    LSC_CUDA_TRY(ctx, cudaMemsetAsync(s.mom, 0, sizeof(moments), st));
    LSC_CUDA_TRY(ctx, cudaMemsetAsync(s.meta, 0, 4 * sizeof(int64_t), st));
    return LSC_STATUS_OK;
}

/* Euclidean, up to kEdgeBins bins: the bins' edges in internal values into s->vedge, computed on
 * the host once the bound `upper` is known (as the CPU's); otherwise s->vedge = NULL. */
lsc_status pair_edges(lsc_ctx *ctx, int metric, int64_t bins, double upper, pair_state *s)
{
    if (!(metric == LSC_M_EUCLIDEAN && bins <= kEdgeBins)) {
        s->vedge = nullptr;
        return LSC_STATUS_OK;
    }
    // host memory by malloc, whose failure is a status (a std::vector's would throw)
    const size_t ne = static_cast<size_t>(bins) + 1;
    host_buf e;
    e.p = malloc(ne * sizeof(double));
    if (!e.p)
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                             "out of host memory (%zu histogram edges)", ne);
    double *ev = static_cast<double *>(e.p);
    lsc_hist_edges_v(metric, lsc_hist_scale(upper, bins), bins, ev);
    // from pageable memory: the call returns once `ev` has been read
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(s->vedge, ev, ne * sizeof(double), cudaMemcpyHostToDevice,
                                      cuda_of(ctx)->stream));
    return LSC_STATUS_OK;
}

/* The state's results to the host, and the figures as the CPU's (common/pair_figures.h). */
lsc_status pair_results(lsc_ctx *ctx, const pair_state &s, int64_t n, int metric,
                        const lsc_pair_opts *opts, double upper, lsc_pair_result *out,
                        int64_t *histogram, lsc_pair *near_dups)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    const int64_t bins = opts->bins, cap = opts->dup_report;
    host_buf hnn;
    hnn.p = malloc(static_cast<size_t>(n) * sizeof(double));
    if (!hnn.p)
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory (nearest values)");
    double *nn_v = static_cast<double *>(hnn.p);
    unsigned long long misc[4];
    moments mom;
    int64_t meta[4];
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(nn_v, s.nn, static_cast<size_t>(n) * sizeof(double),
                                      cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(misc, s.misc, sizeof misc, cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(&mom, s.mom, sizeof mom, cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(meta, s.meta, sizeof meta, cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    if (histogram) // unsigned long long and int64_t share their representation for counts < 2^63
        LSC_CUDA_TRY(ctx,
                     cudaMemcpyAsync(histogram, s.hist, static_cast<size_t>(bins) * sizeof(int64_t),
                                     cudaMemcpyDeviceToHost, st));
    const int64_t listed = cap > 0 ? meta[0] : 0;
    if (near_dups && listed > 0)
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(near_dups, s.list[meta[1]],
                                          static_cast<size_t>(listed) * sizeof(lsc_pair),
                                          cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    // the bits were those of non-negative doubles: reinterpret in place
    double max_v;
    memcpy(&max_v, &misc[0], sizeof max_v);
    lsc_pair_figures(metric, mom.n, mom.mean, mom.m2, max_v, nn_v, n, opts->uniformity != 0, mom.u,
                     out);
    out->near_duplicate_pairs = static_cast<int64_t>(misc[1]);
    out->near_duplicates_listed = near_dups ? listed : 0;
    out->hist_upper = upper;
    return LSC_STATUS_OK;
}

} // namespace

lsc_status lsc_cuda_pair_stats(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *subset, int64_t n,
                               const lsc_pair_opts *opts, lsc_pair_result *out, int64_t *histogram,
                               lsc_pair *near_dups)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    const int metric = opts->metric == LSC_METRIC_COSINE ? LSC_M_COSINE : LSC_M_EUCLIDEAN;
    const int64_t bins = opts->bins, cap = opts->dup_report;
    pair_state s;
    double *centre, *inv;
    LSC_TRY(pair_state_take(ctx, x, subset, n, opts, metric, &s, &centre, &inv));
    ct_set set;
    LSC_TRY(ct_set_init(ctx, &set, x, subset, s.d_map, n, metric, centre, inv, nullptr));
    double upper = 0.0;
    LSC_TRY(ct_hist_upper(ctx, &set, &upper));
    LSC_TRY(pair_edges(ctx, metric, bins, upper, &s));
    ct_plan_in in = {&set, &set, kMaxTq, kMaxTb, sizeof(moments), sizeof(uint32_t), 0, 0};
    ct_job job;
    LSC_TRY(ct_plan(ctx, &in, &job));
    moments *rowmom = reinterpret_cast<moments *>(job.extra_q);
    uint32_t *colmin = reinterpret_cast<uint32_t *>(job.extra_b);

    pair_args a;
    memset(&a, 0, sizeof a);
    a.map = s.d_map;
    a.metric = metric;
    a.dup_v = lsc_v_from_dist(metric, opts->dup_eps);
    a.scale = lsc_hist_scale(upper, bins);
    a.bins = bins;
    a.cap = cap;
    a.s = s;
    a.colmin = colmin;
    a.rowmom = rowmom;
    // progress counts the tiles' areas, as the loop below does (the upper triangle's tiles
    // cover more than n (n + 1) / 2 entries)
    double total = 0.0, done = 0.0;
    for (int64_t q0 = 0; q0 < n; q0 += job.tq)
        for (int64_t b0 = q0; b0 < n; b0 += job.tb)
            total += static_cast<double>(n - q0 < job.tq ? n - q0 : job.tq) *
                     static_cast<double>(n - b0 < job.tb ? n - b0 : job.tb);
    for (int pass = 0; pass < 2; pass++) {
        // pass 1 (only if the near-duplicate buffer ever overflowed): the list alone, again
        if (pass == 1) {
            int64_t meta[4] = {0, 0, 0, 0};
            LSC_CUDA_TRY(ctx,
                         cudaMemcpyAsync(meta, s.meta, sizeof meta, cudaMemcpyDeviceToHost, st));
            LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
            if (!meta[3]) break;
            LSC_CUDA_TRY(ctx, cudaMemsetAsync(s.meta, 0, 4 * sizeof(int64_t), st));
            LSC_CUDA_TRY(ctx, cudaMemsetAsync(s.misc + 2, 0, sizeof(unsigned long long), st));
        }
        LSC_TRY(pair_pass(ctx, &set, &job, a, pass, metric == LSC_M_COSINE ? nullptr : centre,
                          &done, total));
    }
    return pair_results(ctx, s, n, metric, opts, upper, out, histogram, near_dups);
}
