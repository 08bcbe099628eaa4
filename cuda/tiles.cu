/* Distance tiles on the GPU (see tiles.cuh): set preparation, staging of host rows, conversion
 * to centred / normalised float32, the tile plan and the GEMM. */
#include "tiles.cuh"

#include <math.h>
#include <string.h>

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

__device__ __forceinline__ const char *src_row(const char *p, int64_t ld, size_t es,
                                               const int64_t *map, int64_t i)
{
    const int64_t r = map ? map[i] : i;
    return p + static_cast<size_t>(r * ld) * es;
}

/* acc[c] += sum over the rows, in row order, of x[i][c] * scale_i (scale NULL: 1). One thread per
 * column walking the rows in order: the same float64 sums, in the same order, as the CPU's
 * sequential loops (host/cpu/pairs.c hist_upper), whatever the chunking. For the histogram's
 * bound, which both backends must compute to the bit; a set's centre uses k_colsum_wide. */
__global__ void k_colsum(const char *p, int dtype, size_t es, int64_t ld, const int64_t *map,
                         int64_t nr, int64_t d, const double *scale, double *acc)
{
    const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (c >= d) return;
    double s = acc[c];
    for (int64_t i = 0; i < nr; i++) {
        const double v = static_cast<double>(lsc_load_f32(src_row(p, ld, es, map, i), dtype, c));
        s += scale ? v * scale[i] : v;
    }
    acc[c] = s;
}

/* acc[c] += sum over the rows of x[i][c], for a set's centre, with 256 threads for every 32
 * columns (one block when d <= 32) rather than one thread a column (d = 2 gave two threads of
 * one warp walking every row; filling the GPU would need the rows split across blocks too): a
 * block holds `cols` columns (a power of two, at most 32) and kThreads / cols row lanes; lane l
 * sums rows l, l + L, ... and the lane sums are added in lane order, so the bits depend on the
 * shape alone and are the same run to run. The centre need not match the CPU's bits (cpu_mean's depend on its thread
 * count): it shifts fast values only, never a decision. */
__global__ void __launch_bounds__(kThreads)
    k_colsum_wide(const char *p, int dtype, size_t es, int64_t ld, const int64_t *map, int64_t nr,
                  int64_t d, int cols /* <= 32 */, double *acc)
{
    __shared__ double part[kThreads];
    const int cl = threadIdx.x % cols, lane = threadIdx.x / cols, lanes = kThreads / cols;
    const int64_t c = blockIdx.x * static_cast<int64_t>(cols) + cl;
    double s = 0.0;
    if (c < d)
        for (int64_t i = lane; i < nr; i += lanes)
            s += static_cast<double>(lsc_load_f32(src_row(p, ld, es, map, i), dtype, c));
    part[threadIdx.x] = s;
    __syncthreads();
    if (lane == 0 && c < d) {
        double t = 0.0;
        for (int l = 0; l < lanes; l++) t += part[l * cols + cl];
        acc[c] += t;
    }
}

/* Columns a block of k_colsum_wide holds: the power of two >= d, at most 32. */
int wide_cols(int64_t d)
{
    int c = 1;
    while (c < 32 && c < d) c <<= 1;
    return c;
}

__global__ void k_scale(double *x, int64_t n, double div)
{
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n) x[i] /= div;
}

/* inv[i] = 1 / sqrt(sum_c x[i][c]^2), summed in index order in float64 (as host/cpu/tiles.c). */
__global__ void k_rowinv(const char *p, int dtype, size_t es, int64_t ld, const int64_t *map,
                         int64_t nr, int64_t d, double *inv)
{
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= nr) return;
    const char *row = src_row(p, ld, es, map, i);
    double q = 0.0;
    for (int64_t c = 0; c < d; c++) {
        const double v = static_cast<double>(lsc_load_f32(row, dtype, c));
        q += v * v;
    }
    inv[i] = 1.0 / sqrt(q);
}

/* best = max_i sum_c (x[i][c] scale_i - mu[c])^2 (bits of a non-negative double). */
__global__ void k_maxdev(const char *p, int dtype, size_t es, int64_t ld, const int64_t *map,
                         int64_t nr, int64_t d, const double *scale, const double *mu,
                         unsigned long long *best)
{
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= nr) return;
    const char *row = src_row(p, ld, es, map, i);
    const double sc = scale ? scale[i] : 1.0;
    double q = 0.0;
    for (int64_t c = 0; c < d; c++) {
        const double v = static_cast<double>(lsc_load_f32(row, dtype, c)) * sc;
        q += (v - mu[c]) * (v - mu[c]);
    }
    atomicMax(best, ct_dbits(q));
}

/* One warp per row: raw float32 copy (optional), the centred or normalised float32 row and its
 * float64 squared norm. */
__global__ void __launch_bounds__(kThreads)
    k_convert(const char *p, int dtype, size_t es, int64_t ld, const int64_t *map, int64_t nr,
              int64_t d, int cosine, const double *centre, const double *inv, float *raw, float *t,
              double *sq)
{
    const int64_t i = blockIdx.x * static_cast<int64_t>(kWarps) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (i >= nr) return;
    const char *row = src_row(p, ld, es, map, i);
    float *rr = raw ? raw + i * d : nullptr;
    float *tt = t + i * d;
    const double sc = cosine ? inv[i] : 0.0;
    double q = 0.0;
    for (int64_t c = lane; c < d; c += 32) {
        const float v = lsc_load_f32(row, dtype, c);
        if (rr) rr[c] = v;
        const float w = cosine ? static_cast<float>(static_cast<double>(v) * sc)
                               : static_cast<float>(static_cast<double>(v) - centre[c]);
        tt[c] = w;
        q += static_cast<double>(w) * static_cast<double>(w);
    }
    for (int o = 16; o > 0; o >>= 1) q += __shfl_xor_sync(0xffffffffu, q, o);
    if (lane == 0) sq[i] = q;
}

/* Staging chunk for set passes over host rows: at most 64 MiB, a quarter of the budget. */
int64_t pass_rows(const lsc_ctx *ctx, const ct_set *s)
{
    if (s->m->memory == LSC_MEMORY_DEVICE) return s->n;
    size_t cap = lsc_cuda_ws_budget(ctx) / 4;
    if (cap > (static_cast<size_t>(64) << 20)) cap = static_cast<size_t>(64) << 20;
    const size_t row = static_cast<size_t>(s->d) * lsc_elem_size((int)s->m->dtype);
    int64_t r = static_cast<int64_t>(cap / (row ? row : 1));
    if (r < 1) r = 1;
    return r < s->n ? r : s->n;
}

/* Orders the copy stream after everything enqueued so far on the context's stream (the
 * workspace allocations and earlier readers of the staging buffers). */
lsc_status staging_begin(lsc_ctx *ctx)
{
    cuda_workspace *w;
    LSC_TRY(lsc_cuda_ws_staging(ctx, &w));
    LSC_CUDA_TRY(ctx, cudaEventRecord(w->copy_start, cuda_of(ctx)->stream));
    LSC_CUDA_TRY(ctx, cudaStreamWaitEvent(w->copy, w->copy_start, 0));
    return LSC_STATUS_OK;
}

/* Runs fn(src, r0, nr) over the rows of s in chunks (staging host rows in the tile slot; when
 * the device cannot serve the staging buffers, smaller chunks). */
template <typename Fn>
lsc_status set_pass(lsc_ctx *ctx, const ct_set *s, Fn fn)
{
    int64_t R = pass_rows(ctx, s);
    char *stage[2] = {nullptr, nullptr};
    int next = 0;
    if (s->m->memory == LSC_MEMORY_HOST) {
        const size_t row = static_cast<size_t>(s->d) * lsc_elem_size((int)s->m->dtype);
        for (;;) {
            const size_t bytes = static_cast<size_t>(R) * row;
            lsc_ws_carve c = {nullptr, 0};
            lsc_ws_take(&c, bytes, &stage[0]);
            lsc_ws_take(&c, bytes, &stage[1]);
            void *base;
            const lsc_status st =
                lsc_cuda_ws_reserve(ctx, LSC_WS_TILES, c.off, "staging of host rows", &base);
            if (st == LSC_STATUS_OK) {
                if (R < pass_rows(ctx, s)) ctx->err[0] = '\0'; // a smaller chunk did it
                c = {static_cast<char *>(base), 0};
                lsc_ws_take(&c, bytes, &stage[0]);
                lsc_ws_take(&c, bytes, &stage[1]);
                break;
            }
            if (st != LSC_STATUS_OUT_OF_MEMORY || R == 1) return st;
            R /= 2; // R >= 2 here, so at least 1
        }
        LSC_TRY(staging_begin(ctx));
    }
    for (int64_t r0 = 0; r0 < s->n; r0 += R) {
        const int64_t nr = s->n - r0 < R ? s->n - r0 : R;
        ct_src src;
        LSC_TRY(ct_src_get(ctx, s, stage, &next, 0, r0, nr, &src));
        LSC_TRY(fn(src, r0, nr));
        LSC_TRY(ct_src_done(ctx, &src, 0));
    }
    return LSC_STATUS_OK;
}

size_t set_row_bytes(const ct_set *s, bool *needs_raw)
{
    *needs_raw = false;
    if (s->res_t) return 0;
    const size_t d = static_cast<size_t>(s->d);
    size_t b = d * sizeof(float) + sizeof(double);
    *needs_raw = !(s->m->memory == LSC_MEMORY_DEVICE && s->m->dtype == LSC_DTYPE_F32 && !s->h_map);
    if (*needs_raw) b += d * sizeof(float);
    if (s->m->memory == LSC_MEMORY_HOST) b += 2 * d * lsc_elem_size((int)s->m->dtype);
    return b;
}

void carve_buf(lsc_ws_carve *c, const ct_set *s, int64_t cap, int role, ct_tilebuf *b)
{
    memset(b, 0, sizeof *b);
    b->cap = cap;
    b->role = role;
    b->loaded_r0 = -1;
    b->loaded_nr = -1;
    bool raw;
    set_row_bytes(s, &raw);
    if (s->res_t) return;
    const size_t rows = static_cast<size_t>(cap), d = static_cast<size_t>(s->d);
    lsc_ws_take(c, rows * d * sizeof(float), &b->t);
    lsc_ws_take(c, rows * sizeof(double), &b->sq);
    if (raw) lsc_ws_take(c, rows * d * sizeof(float), &b->raw);
    if (s->m->memory == LSC_MEMORY_HOST) {
        const size_t sb = rows * d * lsc_elem_size((int)s->m->dtype);
        lsc_ws_take(c, sb, &b->stage[0]);
        lsc_ws_take(c, sb, &b->stage[1]);
    }
}

void carve_job(lsc_ws_carve *c, const ct_plan_in *in, ct_job *job)
{
    carve_buf(c, in->q, job->tq, 0, &job->qb);
    carve_buf(c, in->b, job->tb, 1, &job->bb);
    const size_t tq = static_cast<size_t>(job->tq), tb = static_cast<size_t>(job->tb);
    lsc_ws_take(c, tq * tb * sizeof(float), &job->c);
    lsc_ws_take(c, tq * in->extra_q_row, &job->extra_q);
    lsc_ws_take(c, tb * in->extra_b_row, &job->extra_b);
    lsc_ws_take(c, tq * tb * in->extra_entry, &job->extra_entry);
    lsc_ws_take(c, in->extra_fixed, &job->extra_fixed);
}

} // namespace

lsc_status ct_src_get(lsc_ctx *ctx, const ct_set *s, char *stage[2], int *next, int role,
                      int64_t r0, int64_t nr, ct_src *src)
{
    const lsc_matrix *m = s->m;
    const size_t es = lsc_elem_size((int)m->dtype);
    src->dtype = static_cast<int>(m->dtype);
    src->es = es;
    if (m->memory == LSC_MEMORY_DEVICE) {
        src->stage = -1;
        if (s->d_map) {
            src->p = static_cast<const char *>(m->data);
            src->map = s->d_map + r0;
        } else {
            src->p = static_cast<const char *>(m->data) + static_cast<size_t>(r0 * m->ld) * es;
            src->map = nullptr;
        }
        src->ld = m->ld;
        return LSC_STATUS_OK;
    }
    // host rows: CPU copy into a pinned buffer, copy stream to the device, then the context's
    // stream reads them; the pinned buffers alternate, so the CPU fills one while the other moves
    cuda_workspace *w;
    LSC_TRY(lsc_cuda_ws_staging(ctx, &w));
    const int b = *next;
    *next ^= 1;
    const int h = w->pinned_next;
    w->pinned_next = (h + 1) % LSC_WS_PINNED_BUFS;
    const size_t row = static_cast<size_t>(s->d) * es;
    const size_t bytes = static_cast<size_t>(nr) * row;
    void *pin;
    LSC_TRY(lsc_cuda_pinned_reserve(ctx, h, bytes, &pin));
    char *dst = static_cast<char *>(pin);
    const char *base = static_cast<const char *>(m->data);
    if (!s->h_map && m->ld == s->d) {
        memcpy(dst, base + static_cast<size_t>(r0 * m->ld) * es, bytes);
    } else {
        for (int64_t i = 0; i < nr; i++) {
            const int64_t r = s->h_map ? s->h_map[r0 + i] : r0 + i;
            memcpy(dst + static_cast<size_t>(i) * row, base + static_cast<size_t>(r * m->ld) * es,
                   row);
        }
    }
    cudaStream_t st = cuda_of(ctx)->stream;
    LSC_CUDA_TRY(ctx, cudaStreamWaitEvent(w->copy, w->stage_free[role][b], 0));
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(stage[b], pin, bytes, cudaMemcpyHostToDevice, w->copy));
    LSC_TRY(lsc_cuda_pinned_mark(ctx, h, w->copy));
    LSC_CUDA_TRY(ctx, cudaEventRecord(w->stage_ready[role][b], w->copy));
    LSC_CUDA_TRY(ctx, cudaStreamWaitEvent(st, w->stage_ready[role][b], 0));
    src->p = stage[b];
    src->ld = s->d;
    src->map = nullptr;
    src->stage = b;
    return LSC_STATUS_OK;
}

lsc_status ct_src_done(lsc_ctx *ctx, const ct_src *src, int role)
{
    if (src->stage < 0) return LSC_STATUS_OK;
    cuda_workspace *w;
    LSC_TRY(lsc_cuda_ws_staging(ctx, &w));
    LSC_CUDA_TRY(ctx, cudaEventRecord(w->stage_free[role][src->stage], cuda_of(ctx)->stream));
    return LSC_STATUS_OK;
}

lsc_status ct_set_init(lsc_ctx *ctx, ct_set *s, const lsc_matrix *m, const int64_t *h_map,
                       const int64_t *d_map, int64_t n, int metric, double *centre_buf,
                       double *inv_buf, const double *given_centre)
{
    memset(s, 0, sizeof *s);
    s->m = m;
    s->h_map = h_map;
    s->d_map = m->memory == LSC_MEMORY_DEVICE ? d_map : nullptr;
    s->n = n;
    s->d = m->cols;
    s->metric = metric == LSC_M_COSINE ? LSC_M_COSINE : LSC_M_EUCLIDEAN;
    cudaStream_t st = cuda_of(ctx)->stream;
    if (s->metric == LSC_M_COSINE) {
        s->inv = inv_buf;
        return set_pass(ctx, s, [&](const ct_src &src, int64_t r0, int64_t nr) -> lsc_status {
            k_rowinv<<<ct_blocks(nr, kThreads), kThreads, 0, st>>>(src.p, src.dtype, src.es, src.ld,
                                                                   src.map, nr, s->d, inv_buf + r0);
            LSC_CUDA_LAUNCHED(ctx);
            return LSC_STATUS_OK;
        });
    }
    if (given_centre) {
        s->centre = given_centre;
        return LSC_STATUS_OK;
    }
    s->centre = centre_buf;
    LSC_CUDA_TRY(ctx,
                 cudaMemsetAsync(centre_buf, 0, static_cast<size_t>(s->d) * sizeof(double), st));
    const int cols = wide_cols(s->d); // at most 32: columns in a block, not a size of the set
    LSC_TRY(set_pass(ctx, s, [&](const ct_src &src, int64_t, int64_t nr) -> lsc_status {
        k_colsum_wide<<<ct_blocks(s->d, cols), kThreads, 0, st>>>(
            src.p, src.dtype, src.es, src.ld, src.map, nr, s->d, cols, centre_buf);
        LSC_CUDA_LAUNCHED(ctx);
        return LSC_STATUS_OK;
    }));
    k_scale<<<ct_blocks(s->d, kThreads), kThreads, 0, st>>>(centre_buf, s->d,
                                                            static_cast<double>(n));
    LSC_CUDA_LAUNCHED(ctx);
    return LSC_STATUS_OK;
}

lsc_status ct_hist_upper(lsc_ctx *ctx, const ct_set *s, double *upper)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    const int64_t d = s->d;
    void *mem;
    LSC_TRY(lsc_cuda_ws_reserve(ctx, LSC_WS_RESULT, static_cast<size_t>(d) * sizeof(double) + 256,
                                "the histogram's bound", &mem));
    unsigned long long *best = static_cast<unsigned long long *>(mem);
    double *mu = reinterpret_cast<double *>(static_cast<char *>(mem) + 256);
    LSC_CUDA_TRY(ctx, cudaMemsetAsync(mem, 0, static_cast<size_t>(d) * sizeof(double) + 256, st));
    const double *inv = s->metric == LSC_M_COSINE ? s->inv : nullptr;
    LSC_TRY(set_pass(ctx, s, [&](const ct_src &src, int64_t r0, int64_t nr) -> lsc_status {
        k_colsum<<<ct_blocks(d, kThreads), kThreads, 0, st>>>(
            src.p, src.dtype, src.es, src.ld, src.map, nr, d, inv ? inv + r0 : nullptr, mu);
        LSC_CUDA_LAUNCHED(ctx);
        return LSC_STATUS_OK;
    }));
    k_scale<<<ct_blocks(d, kThreads), kThreads, 0, st>>>(mu, d, static_cast<double>(s->n));
    LSC_CUDA_LAUNCHED(ctx);
    LSC_TRY(set_pass(ctx, s, [&](const ct_src &src, int64_t r0, int64_t nr) -> lsc_status {
        k_maxdev<<<ct_blocks(nr, kThreads), kThreads, 0, st>>>(
            src.p, src.dtype, src.es, src.ld, src.map, nr, d, inv ? inv + r0 : nullptr, mu, best);
        LSC_CUDA_LAUNCHED(ctx);
        return LSC_STATUS_OK;
    }));
    unsigned long long bits = 0;
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(&bits, best, sizeof bits, cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    double b;
    memcpy(&b, &bits, sizeof b);
    const double chord = 2.0 * sqrt(b);
    if (s->metric != LSC_M_COSINE) {
        *upper = chord;
    } else {
        const double u = 0.5 * chord * chord;
        *upper = u < 2.0 ? u : 2.0;
    }
    return LSC_STATUS_OK;
}

lsc_status ct_plan(lsc_ctx *ctx, const ct_plan_in *in, ct_job *job)
{
    bool raw;
    const size_t per_q = set_row_bytes(in->q, &raw) + in->extra_q_row;
    const size_t per_b = set_row_bytes(in->b, &raw) + in->extra_b_row;
    const size_t per_entry = sizeof(float) + in->extra_entry;
    const size_t slack = 32 * 256 + in->extra_fixed; // alignment of the carved pieces
    const int64_t mq = in->max_tq < in->q->n ? in->max_tq : in->q->n;
    const int64_t mb = in->max_tb < in->b->n ? in->max_tb : in->b->n;
    // under graph capture the tile slot cannot grow: take the largest plan that fits what a
    // warm-up call left there (the same plan that call ended with, also after a shrink)
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    LSC_CUDA_TRY(ctx, cudaStreamIsCapturing(cuda_of(ctx)->stream, &cap));
    const bool capturing = cap != cudaStreamCaptureStatusNone;
    const size_t have = lsc_cuda_ws_size(ctx, LSC_WS_TILES);
    size_t budget = lsc_cuda_ws_budget(ctx);
    bool shrunk = false;
    for (;;) {
        int64_t tq = 0, tb = 0;
        if (budget <= slack ||
            !lsc_plan_tiles(budget - slack, per_q, per_b, per_entry, mq, mb, &tq, &tb)) {
            if (capturing)
                return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                                     "the distance tiles would have to grow during graph capture; "
                                     "make one call of the same shapes before capturing");
            if (shrunk)
                return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                     "out of device memory: not even the smallest tile of %lld "
                                     "columns could be allocated",
                                     static_cast<long long>(in->q->d));
            return lsc_set_error(ctx, LSC_STATUS_WORKSPACE_LIMIT,
                                 "workspace limit %zu bytes is too small for one tile of %lld "
                                 "columns (needs %zu)",
                                 lsc_cuda_ws_budget(ctx), static_cast<long long>(in->q->d),
                                 per_q + per_b + per_entry + slack);
        }
        job->tq = tq;
        job->tb = tb;
        lsc_ws_carve c = {nullptr, 0};
        carve_job(&c, in, job);
        if (capturing && c.off > have) {
            budget /= 2;
            continue;
        }
        void *base = nullptr;
        lsc_status st = lsc_cuda_ws_reserve(ctx, LSC_WS_TILES, c.off, "distance tiles", &base);
        if (st == LSC_STATUS_OK) {
            c = {static_cast<char *>(base), 0};
            carve_job(&c, in, job);
            if (shrunk) ctx->err[0] = '\0'; // the retry succeeded: no failure to report
            const bool host = (in->q->m && !in->q->res_t && in->q->m->memory == LSC_MEMORY_HOST) ||
                              (in->b->m && !in->b->res_t && in->b->m->memory == LSC_MEMORY_HOST);
            if (host) LSC_TRY(staging_begin(ctx));
            return LSC_STATUS_OK;
        }
        if (st != LSC_STATUS_OUT_OF_MEMORY) return st;
        // smaller tiles; the failed size was never allocated and the slot is empty now
        budget /= 2;
        shrunk = true;
    }
}

lsc_status ct_load(lsc_ctx *ctx, const ct_set *s, ct_tilebuf *buf, int64_t r0, int64_t nr,
                   ct_tile *t)
{
    const int64_t d = s->d;
    t->r0 = r0;
    t->nr = nr;
    if (s->res_t) {
        t->raw = s->res_raw + r0 * s->res_raw_ld;
        t->raw_ld = s->res_raw_ld;
        t->t = s->res_t + r0 * d;
        t->sq = s->res_sq + r0;
        return LSC_STATUS_OK;
    }
    const lsc_matrix *m = s->m;
    const bool own_raw = buf->raw != nullptr;
    if (own_raw) {
        t->raw = buf->raw;
        t->raw_ld = d;
    } else { // device float32 rows without a map: exact values read them in place
        t->raw = static_cast<const float *>(m->data) + r0 * m->ld;
        t->raw_ld = m->ld;
    }
    t->t = buf->t;
    t->sq = buf->sq;
    if (buf->loaded_r0 == r0 && buf->loaded_nr == nr) return LSC_STATUS_OK;
    ct_src src;
    LSC_TRY(ct_src_get(ctx, s, buf->stage, &buf->next, buf->role, r0, nr, &src));
    const bool cosine = s->metric == LSC_M_COSINE;
    k_convert<<<ct_blocks(nr, kWarps), kThreads, 0, cuda_of(ctx)->stream>>>(
        src.p, src.dtype, src.es, src.ld, src.map, nr, d, cosine ? 1 : 0, s->centre,
        cosine ? s->inv + r0 : nullptr, own_raw ? buf->raw : nullptr, buf->t, buf->sq);
    LSC_CUDA_LAUNCHED(ctx);
    LSC_TRY(ct_src_done(ctx, &src, buf->role));
    buf->loaded_r0 = r0;
    buf->loaded_nr = nr;
    return LSC_STATUS_OK;
}

lsc_status ct_gemm(lsc_ctx *ctx, const ct_tile *q, const ct_tile *b, int64_t d, float *c)
{
    // row-major C (nq x nb) is column-major C^T (nb x nq) = B_t^T-as-stored x Q_t
    const float one = 1.0f, zero = 0.0f;
    LSC_CUBLAS_TRY(ctx, cublasSgemm_64(cuda_of(ctx)->blas, CUBLAS_OP_T, CUBLAS_OP_N, b->nr, q->nr,
                                       d, &one, b->t, d, q->t, d, &zero, c, b->nr));
    return LSC_STATUS_OK;
}

lsc_status ct_convert_all(lsc_ctx *ctx, const ct_set *s, float *t, double *sq)
{
    if (s->m->memory != LSC_MEMORY_DEVICE)
        return lsc_set_error(ctx, LSC_STATUS_INTERNAL, "ct_convert_all needs device rows");
    char *stage[2] = {nullptr, nullptr};
    int next = 0;
    ct_src src;
    LSC_TRY(ct_src_get(ctx, s, stage, &next, 0, 0, s->n, &src));
    const bool cosine = s->metric == LSC_M_COSINE;
    k_convert<<<ct_blocks(s->n, kWarps), kThreads, 0, cuda_of(ctx)->stream>>>(
        src.p, src.dtype, src.es, src.ld, src.map, s->n, s->d, cosine ? 1 : 0, s->centre,
        cosine ? s->inv : nullptr, nullptr, t, sq);
    LSC_CUDA_LAUNCHED(ctx);
    return LSC_STATUS_OK;
}
