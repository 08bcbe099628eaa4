/* Exact k nearest neighbours on the GPU (docs/METRICS.md sections 2 and 4), the shape FAISS proved:
 * a cuBLAS SGEMM per (query tile, base tile) of centred float32 rows, then one block per query
 * row reads its row of the product once (into shared memory) and merges the tile into the
 * query's running list of k exact neighbours.
 *
 * Decisions are the CPU backend's (host/cpu/knn.c): a base row can enter a query's list only if
 * the lower end of its fast value's band, v_fast - lsc_fast_err, is at most a bound B on the
 * exact k-th value; every such candidate is recomputed exactly (lsc_exact_v, float64 in its
 * fixed order) and merged by lsc_knn_before on exact values. B is the list's exact k-th value once it
 * holds k entries and, when many rows of a tile pass that (the first tile always does), also the
 * k-th smallest *upper* end v_fast + err within the tile, found by a radix select on 32-bit keys
 * rounded up: k rows of the tile are then certainly within B, so no row with a larger lower end
 * can be among the k nearest. The list is therefore the exact top k in (value, index) order,
 * identical to the CPU's, whatever the tiles.
 *
 * Candidates are compacted in index order into a shared buffer of kCap and flushed (exact values,
 * bitonic sort, merge by rank into the other of two list buffers) whenever it fills, so any k
 * and any number of ties work; only the time grows. Per query tile the lists take 32 k bytes a
 * row of the workspace (planned with the tiles). */
#include "tiles.cuh"

#include <limits.h>
#include <math.h>

namespace {

constexpr int kSelThreads = 256;
constexpr int kCap = 1024; // candidates buffered per exact flush
constexpr int64_t kMaxTq = 4096;
constexpr int64_t kMaxTb = 8192; // product row in shared memory: 32 KiB, below the 48 KiB default

struct sel_args : ct_pair {
    int64_t k;
    int exclude_self;
    double *v[2]; // two list buffers, tile rows x k
    int64_t *ix[2];
    int64_t *cnt; // entries in each row's list
    int64_t *cur; // which buffer holds it
};

__device__ __forceinline__ double lower_end(float c, double qsq, double bsq, int64_t d)
{
    const double vf = lsc_fast_v(c, qsq, bsq);
    return vf - lsc_fast_err(d, qsq, bsq);
}

/* Entries of the sorted buffer (cv, b0 + cj)[0, m) that come before (v, x): lsc_knn_rank over
 * the buffer's 32-bit tile indices. */
__device__ int count_before_buf(const double *cv, const int *cj, int m, int64_t b0, double v,
                                int64_t x)
{
    int lo = 0, hi = m;
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (lsc_knn_before(cv[mid], b0 + cj[mid], v, x)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Ascending (value, index) bitonic sort of P (a power of two) entries in shared memory. */
__device__ void bitonic_sort(double *v, int *j, int P)
{
    for (int size = 2; size <= P; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int t = threadIdx.x; t < P / 2; t += blockDim.x) {
                int64_t lo, hi;
                const bool up = lsc_bitonic_step(t, size, stride, &lo, &hi);
                const bool sw = up ? lsc_knn_before(v[hi], j[hi], v[lo], j[lo])
                                   : lsc_knn_before(v[lo], j[lo], v[hi], j[hi]);
                if (sw) {
                    const double tv = v[lo];
                    v[lo] = v[hi];
                    v[hi] = tv;
                    const int tj = j[lo];
                    j[lo] = j[hi];
                    j[hi] = tj;
                }
            }
            __syncthreads();
        }
}

/* The kk-th smallest (1-based) upper end v_fast + err of the row, rounded up to float32, by a
 * four-pass radix select on ordered keys. Needs kk <= the valid entries. Block-uniform call. */
__device__ double kth_upper(const float *row, int64_t nb, int64_t self, double qsq,
                            const double *bsq, int64_t d, int kk, int *hist, int *sel)
{
    uint32_t prefix = 0, mask = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
        __syncthreads();
        for (int64_t j = threadIdx.x; j < nb; j += blockDim.x) {
            if (j == self) continue;
            const double bs = bsq[j];
            const double vf = lsc_fast_v(row[j], qsq, bs);
            const uint32_t key = lsc_key_f32(lsc_f32_ceil(vf + lsc_fast_err(d, qsq, bs)));
            if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1);
        }
        __syncthreads();
        if (threadIdx.x < 32) {
            const int lane = threadIdx.x;
            int h[8], sum = 0;
#pragma unroll
            for (int t = 0; t < 8; t++) {
                h[t] = hist[lane * 8 + t];
                sum += h[t];
            }
            int incl = sum;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                const int y = __shfl_up_sync(0xffffffffu, incl, o);
                if (lane >= o) incl += y;
            }
            const int excl = incl - sum;
            if (excl < kk && incl >= kk) { // exactly one lane
                int cum = excl, found = 0;
#pragma unroll
                for (int t = 0; t < 8; t++) {
                    if (!found && cum + h[t] >= kk) {
                        sel[0] = lane * 8 + t;
                        sel[1] = kk - cum;
                        found = 1;
                    }
                    cum += h[t];
                }
            }
        }
        __syncthreads();
        prefix |= static_cast<uint32_t>(sel[0]) << shift;
        mask |= 255u << shift;
        kk = sel[1];
        __syncthreads(); // everyone has read sel before the next pass may write it
    }
    return static_cast<double>(lsc_unkey_f32(prefix));
}

/* Exact values of the m buffered candidates, sorted, merged into the row's list. Block-uniform. */
__device__ void flush(const sel_args &a, int64_t i, int m, double *cv, int *cj, int64_t &n,
                      int64_t &cur, double &thr, const double *&lv, const int64_t *&lx)
{
    __syncthreads(); // the buffer's indices are written
    const int64_t gi = a.q0 + i, k = a.k;
    const float *qrow = a.qraw + i * a.qld;
    const double qinv = a.qinv ? a.qinv[gi] : 1.0;
    for (int e = threadIdx.x; e < m; e += blockDim.x) {
        const int64_t j = cj[e];
        const double binv = a.binv ? a.binv[a.b0 + j] : 1.0;
        const double v = lsc_exact_v(qrow, a.braw + j * a.bld, a.d, qinv, binv);
        // NaN (only from unchecked device input, lsc_prdc_async) would break the total order
        // the sort and the merge by rank rely on (two entries could share a slot): it sorts last
        cv[e] = isnan(v) ? INFINITY : v;
    }
    int P = 1;
    while (P < m) P <<= 1;
    for (int e = m + threadIdx.x; e < P; e += blockDim.x) {
        cv[e] = INFINITY;
        cj[e] = INT_MAX;
    }
    __syncthreads();
    bitonic_sort(cv, cj, P);
    const int64_t other = cur ^ 1;
    double *ov = (other ? a.v[1] : a.v[0]) + i * k;
    int64_t *ox = (other ? a.ix[1] : a.ix[0]) + i * k;
    // each entry's place in the merged order is its place in its own list plus the entries of
    // the other list before it (indices are distinct: a base row is in one tile only)
    for (int64_t e = threadIdx.x; e < n; e += blockDim.x) {
        const double v = lv[e];
        const int64_t x = lx[e];
        const int64_t r = e + count_before_buf(cv, cj, m, a.b0, v, x);
        if (r < k) {
            ov[r] = v;
            ox[r] = x;
        }
    }
    for (int e = threadIdx.x; e < m; e += blockDim.x) {
        const double v = cv[e];
        const int64_t x = a.b0 + cj[e];
        const int64_t r = e + lsc_knn_rank(lv, lx, n, v, x);
        if (r < k) {
            ov[r] = v;
            ox[r] = x;
        }
    }
    __syncthreads(); // the merged list is visible to the whole block
    n = n + m < k ? n + m : k;
    cur = other;
    lv = ov;
    lx = ox;
    if (n == k) {
        const double t = lv[k - 1];
        if (t < thr) thr = t;
    }
}

__global__ void __launch_bounds__(kSelThreads) k_select(sel_args a)
{
    extern __shared__ __align__(16) unsigned char smem[];
    double *cv = reinterpret_cast<double *>(smem);
    int *cj = reinterpret_cast<int *>(cv + kCap);
    float *row = reinterpret_cast<float *>(cj + kCap);
    __shared__ int s_red[32];
    __shared__ int s_hist[256];
    __shared__ int s_sel[2];

    const int64_t i = blockIdx.x, k = a.k, nb = a.nb;
    const int64_t gi = a.q0 + i;
    const int64_t self = a.exclude_self ? gi - a.b0 : -1; // may lie outside the tile
    int64_t n = a.cnt[i], cur = a.cur[i];
    const double *lv = (cur ? a.v[1] : a.v[0]) + i * k; // constant indices: no local memory
    const int64_t *lx = (cur ? a.ix[1] : a.ix[0]) + i * k;
    double thr = n == k ? lv[k - 1] : INFINITY;
    const double qsq = a.qsq[i];
    const float *crow = a.c + i * nb;

    // pass 1: the row into shared memory (read once, coalesced), candidates under the list's bound
    int local = 0;
    for (int64_t j = threadIdx.x; j < nb; j += kSelThreads) {
        const float c = crow[j];
        row[j] = c;
        if (j != self && lower_end(c, qsq, a.bsq[j], a.d) <= thr) local++;
    }
    // at most nb <= kMaxTb candidates, so 32 bits hold the count; the barrier of the sum also
    // publishes the row
    const int count = ct_block_sum(local, s_red);
    if (count == 0) return;
    const int64_t valid = nb - (self >= 0 && self < nb ? 1 : 0);
    if (count > 2 * k + 64 && valid >= k) {
        const double t =
            kth_upper(row, nb, self, qsq, a.bsq, a.d, static_cast<int>(k), s_hist, s_sel);
        if (t < thr) thr = t;
    }

    // pass 2: candidates in index order into the buffer, flushed whenever it would overflow
    int nbuf = 0;
    for (int64_t base = 0; base < nb; base += kSelThreads) {
        const int64_t j = base + threadIdx.x;
        const int pass = j < nb && j != self && lower_end(row[j], qsq, a.bsq[j], a.d) <= thr;
        int pos;
        const int total = ct_block_scan(pass, &pos, s_red);
        if (total == 0) continue;
        if (nbuf + total > kCap) {
            flush(a, i, nbuf, cv, cj, n, cur, thr, lv, lx);
            nbuf = 0;
        }
        if (pass) cj[nbuf + pos] = static_cast<int>(j);
        nbuf += total;
    }
    if (nbuf > 0) flush(a, i, nbuf, cv, cj, n, cur, thr, lv, lx);
    if (threadIdx.x == 0) {
        a.cnt[i] = n;
        a.cur[i] = cur;
    }
}

/* Lists to outputs: reported distances, indices, the k-th value (rows a list could not fill,
 * which only non-finite input produces, get NaN and -1). */
__global__ void k_knn_out(int64_t nq, int64_t k, int64_t q0, const double *v0, const double *v1,
                          const int64_t *i0, const int64_t *i1, const int64_t *cnt,
                          const int64_t *cur, int metric, float *dist, int64_t *idx, double *kth)
{
    const int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (e >= nq * k) return;
    const int64_t i = e / k, t = e % k;
    const bool ok = t < cnt[i];
    const double *lv = cur[i] ? v1 : v0;
    const int64_t *lx = cur[i] ? i1 : i0;
    const double v = ok ? lv[e] : NAN;
    const int64_t x = ok ? lx[e] : -1;
    const int64_t g = (q0 + i) * k + t;
    if (dist) dist[g] = static_cast<float>(lsc_dist_from_v(metric, v));
    if (idx) idx[g] = x;
    if (kth && t == k - 1) kth[q0 + i] = v;
}

} // namespace

lsc_status ct_knn_sets(lsc_ctx *ctx, const ct_set *q, const ct_set *b, int64_t k, int exclude_self,
                       int report_metric, float *dist, int64_t *idx, double *kth_v, bool progress,
                       double p0, double p1)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    if (k > (INT64_MAX / 64))
        return lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "k=%lld is too large", (long long)k);
    ct_plan_in in = {q, b, kMaxTq, kMaxTb, static_cast<size_t>(k) * 32 + 16, 0, 0, 0};
    ct_job job;
    LSC_TRY(ct_plan(ctx, &in, &job));
    const int64_t tq = job.tq;
    double *v0 = reinterpret_cast<double *>(job.extra_q);
    double *v1 = v0 + tq * k;
    int64_t *i0 = reinterpret_cast<int64_t *>(v1 + tq * k);
    int64_t *i1 = i0 + tq * k;
    int64_t *cnt = i1 + tq * k;
    int64_t *cur = cnt + tq;
    const double total = static_cast<double>(q->n) * static_cast<double>(b->n);
    double done = 0.0;
    auto begin = [&](const ct_tile &) -> lsc_status {
        LSC_CUDA_TRY(ctx,
                     cudaMemsetAsync(cnt, 0, static_cast<size_t>(2 * tq) * sizeof(int64_t), st));
        return LSC_STATUS_OK;
    };
    auto tile = [&](const ct_pair &p, const ct_tile &, const ct_tile &) -> lsc_status {
        sel_args a;
        static_cast<ct_pair &>(a) = p;
        a.k = k;
        a.exclude_self = exclude_self;
        a.v[0] = v0;
        a.v[1] = v1;
        a.ix[0] = i0;
        a.ix[1] = i1;
        a.cnt = cnt;
        a.cur = cur;
        const size_t smem = static_cast<size_t>(kCap) * (sizeof(double) + sizeof(int)) +
                            static_cast<size_t>(p.nb) * sizeof(float);
        k_select<<<static_cast<unsigned>(p.nq), kSelThreads, smem, st>>>(a);
        LSC_CUDA_LAUNCHED(ctx);
        if (!progress) return LSC_STATUS_OK;
        done += static_cast<double>(p.nq) * static_cast<double>(p.nb);
        return ct_progress(ctx, p0 + (p1 - p0) * (done / total));
    };
    auto end = [&](const ct_tile &qt) -> lsc_status {
        k_knn_out<<<ct_blocks(qt.nr * k, 256), 256, 0, st>>>(qt.nr, k, qt.r0, v0, v1, i0, i1, cnt,
                                                             cur, report_metric, dist, idx, kth_v);
        LSC_CUDA_LAUNCHED(ctx);
        return LSC_STATUS_OK;
    };
    LSC_TRY(ct_tile_loop(ctx, q, b, &job, false, begin, tile, end));
    return LSC_STATUS_OK;
}

lsc_status lsc_cuda_knn(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base, int64_t k,
                        const lsc_knn_opts *opts, float *dist, int64_t *idx)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    if (opts->out_memory == LSC_MEMORY_DEVICE) { // outputs the device cannot write are refused
        LSC_TRY(lsc_cuda_check_pointer(ctx, dist, "dist", 1));
        LSC_TRY(lsc_cuda_check_pointer(ctx, idx, "idx", 1));
    }
    const int metric = static_cast<int>(opts->metric);
    const int kind = metric == LSC_M_COSINE ? LSC_M_COSINE : LSC_M_EUCLIDEAN;
    const int64_t d = base->cols, nq = queries->rows, nb = base->rows;
    const bool self = opts->exclude_self != 0;
    // per-call state: the base's centre or both sets' inverse norms
    lsc_ws_carve c = {nullptr, 0};
    double *centre, *inv_b, *inv_q;
    lsc_ws_take(&c, static_cast<size_t>(d) * sizeof(double), &centre);
    lsc_ws_take(&c, static_cast<size_t>(kind == LSC_M_COSINE ? nb : 0) * sizeof(double), &inv_b);
    lsc_ws_take(&c, static_cast<size_t>(kind == LSC_M_COSINE && !self ? nq : 0) * sizeof(double),
                &inv_q);
    void *mem;
    LSC_TRY(lsc_cuda_ws_reserve(ctx, LSC_WS_STATE, c.off, "knn state", &mem));
    c = {static_cast<char *>(mem), 0};
    lsc_ws_take(&c, static_cast<size_t>(d) * sizeof(double), &centre);
    lsc_ws_take(&c, static_cast<size_t>(kind == LSC_M_COSINE ? nb : 0) * sizeof(double), &inv_b);
    lsc_ws_take(&c, static_cast<size_t>(kind == LSC_M_COSINE && !self ? nq : 0) * sizeof(double),
                &inv_q);
    // results gathered on the device and copied out at the end: a failed or cancelled call
    // writes no output
    const size_t e = static_cast<size_t>(nq) * static_cast<size_t>(k);
    lsc_ws_carve r = {nullptr, 0};
    float *d_dist;
    int64_t *d_idx;
    lsc_ws_take(&r, e * sizeof(int64_t), &d_idx);
    lsc_ws_take(&r, e * sizeof(float), &d_dist);
    LSC_TRY(lsc_cuda_ws_reserve(ctx, LSC_WS_RESULT, r.off, "knn results", &mem));
    r = {static_cast<char *>(mem), 0};
    lsc_ws_take(&r, e * sizeof(int64_t), &d_idx);
    lsc_ws_take(&r, e * sizeof(float), &d_dist);

    ct_set sb, sq;
    LSC_TRY(ct_set_init(ctx, &sb, base, nullptr, nullptr, nb, kind, centre, inv_b, nullptr));
    const ct_set *qs = &sb;
    if (!self) {
        // queries centred on the base's mean: distances are translation invariant
        LSC_TRY(
            ct_set_init(ctx, &sq, queries, nullptr, nullptr, nq, kind, nullptr, inv_q, sb.centre));
        qs = &sq;
    }
    LSC_TRY(
        ct_knn_sets(ctx, qs, &sb, k, self ? 1 : 0, metric, d_dist, d_idx, nullptr, true, 0.0, 1.0));
    const cudaMemcpyKind kind_copy =
        opts->out_memory == LSC_MEMORY_DEVICE ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost;
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(dist, d_dist, e * sizeof(float), kind_copy, st));
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(idx, d_idx, e * sizeof(int64_t), kind_copy, st));
    if (opts->out_memory == LSC_MEMORY_HOST) LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    return LSC_STATUS_OK;
}
