/* Reference radii and precision, recall, density, coverage on the GPU (docs/METRICS.md section 5),
 * with exactly the CPU backend's decisions (host/cpu/prdc.c): the radii are exact k-th
 * neighbour values (knn.cu), and each comparison d < r (or d <= r) is decided by the tests of
 * common/prdc_figures.h: on the fast value where its error band allows, on lsc_exact_v where it
 * does not. Counts are integers (atomics are exact and order-free); the figures are formed from them
 * in one final kernel, so a run is deterministic.
 *
 * The reference's rows on the device - its float32 rows, centre (or inverse norms), the centred /
 * normalised rows with their norms and the radii - are one block described by a ref_cache. A
 * device reference (lsc_reference_to_device) holds one, made once with cudaMalloc because it
 * outlives the context that made it, and every call only reads it: one copy serves any number
 * of contexts and threads on its device. A host reference gets one for the call alone, from the
 * context's stream-ordered allocator, given back once the call's work is enqueued: nothing is
 * kept on the caller's reference, which stays read-only. */
#include "tiles.cuh"
#include "../common/abi.h"
#include "../common/prdc_figures.h"

#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxTq = 4096;
constexpr int64_t kMaxTb = 8192;

struct ref_cache {
    int device;
    bool temp;   /* from the context's allocator for one call (a host reference) */
    void *block; /* everything below, one allocation */
    size_t bytes;
    float *raw;       /* n x d, the reference's float32 rows */
    float *t;         /* n x d centred / normalised rows; NULL if the device had no room for
                         them (then converted tile by tile like any device matrix) */
    double *sq;       /* n */
    double *centre;   /* d (euclidean) */
    double *inv;      /* n (cosine) */
    double *radius_v; /* n internal values of the radii */
    lsc_matrix view;  /* raw as a device matrix */
};

/* The pieces of a cache in one block (sizes only while c->block is NULL). */
size_t cache_layout(const lsc_reference *ref, bool with_t, ref_cache *c)
{
    const size_t n = static_cast<size_t>(ref->rows), d = static_cast<size_t>(ref->cols);
    const bool cosine = ref->metric == LSC_METRIC_COSINE;
    lsc_ws_carve cv = {static_cast<char *>(c->block), 0};
    lsc_ws_take(&cv, n * d * sizeof(float), &c->raw);
    lsc_ws_take(&cv, with_t ? n * d * sizeof(float) : 0, &c->t);
    lsc_ws_take(&cv, n * sizeof(double), &c->sq);
    lsc_ws_take(&cv, d * sizeof(double), &c->centre);
    lsc_ws_take(&cv, cosine ? n * sizeof(double) : 0, &c->inv);
    lsc_ws_take(&cv, n * sizeof(double), &c->radius_v);
    if (!with_t) c->t = nullptr;
    if (!cosine) c->inv = nullptr;
    return cv.off;
}

/* A device reference's copy: freed with the reference, on its own device. */
void ref_cache_free(void *p)
{
    ref_cache *c = static_cast<ref_cache *>(p);
    if (!c) return;
    // cudaFree waits for work still using the memory (it synchronises the device), on the
    // cache's own device: the caller's current device may be another one (a reference
    // destroyed from a thread working on another)
    int prev = -1;
    const bool swap = cudaGetDevice(&prev) == cudaSuccess && prev != c->device &&
                      cudaSetDevice(c->device) == cudaSuccess;
    cudaFree(c->block);
    if (swap) cudaSetDevice(prev);
    cudaGetLastError();
    free(c);
}

/* A per-call copy: given back stream-ordered, after the work enqueued on it. */
void ref_cache_release(lsc_ctx *ctx, ref_cache *c)
{
    if (!c) return;
    if (c->temp) {
        lsc_cuda_dev_free(ctx, c->block, c->bytes);
        free(c);
    } else {
        ref_cache_free(c);
    }
}

/* A device reference's free function lives in this module, which the core unloads (dlclose)
 * when the context that loaded it is destroyed; a reference may outlive that context. Once a
 * device reference exists the module therefore keeps itself loaded for the life of the process. */
void pin_module()
{
    Dl_info info;
    if (dladdr(reinterpret_cast<void *>(&ref_cache_free), &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

void ref_set(const lsc_reference *ref, const ref_cache *c, ct_set *s)
{
    memset(s, 0, sizeof *s);
    s->m = &c->view;
    s->n = ref->rows;
    s->d = ref->cols;
    s->metric = ref->metric == LSC_METRIC_COSINE ? LSC_M_COSINE : LSC_M_EUCLIDEAN;
    s->centre = c->centre;
    s->inv = c->inv;
    if (c->t) {
        s->res_raw = c->raw;
        s->res_raw_ld = ref->cols;
        s->res_t = c->t;
        s->res_sq = c->sq;
    }
}

lsc_status not_while_capturing(lsc_ctx *ctx, const char *what)
{
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    LSC_CUDA_TRY(ctx, cudaStreamIsCapturing(cuda_of(ctx)->stream, &cap));
    if (cap != cudaStreamCaptureStatusNone)
        return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                             "%s cannot happen while the stream is being captured: place the "
                             "reference on the device once with lsc_reference_to_device and "
                             "capture calls with that copy",
                             what);
    return LSC_STATUS_OK;
}

/* One block for the cache: `persistent` from cudaMalloc (it outlives the context), else from
 * the context's allocator. Without room for the converted rows, the block without them. */
lsc_status cache_alloc(lsc_ctx *ctx, const lsc_reference *ref, bool persistent, ref_cache *c)
{
    for (int with_t = 1; with_t >= 0; with_t--) {
        c->block = nullptr;
        const size_t bytes = cache_layout(ref, with_t != 0, c);
        lsc_status s;
        if (persistent) {
            cudaError_t e = cudaMalloc(&c->block, bytes);
            if (e == cudaSuccess) {
                s = LSC_STATUS_OK;
            } else {
                c->block = nullptr;
                s = lsc_cuda_fail(ctx, e, "cudaMalloc of the reference's device copy", __FILE__,
                                  __LINE__);
            }
        } else {
            s = lsc_cuda_dev_alloc(ctx, bytes, "the reference's rows for this call", &c->block);
        }
        if (s == LSC_STATUS_OK) {
            c->bytes = bytes;
            cache_layout(ref, with_t != 0, c);
            return LSC_STATUS_OK;
        }
        if (s != LSC_STATUS_OUT_OF_MEMORY || !with_t) return s;
        ctx->err[0] = '\0'; // only speed is lost without the converted rows
    }
    return LSC_STATUS_INTERNAL; // not reached: the loop returns
}

/* The reference's rows (and with `upload_radii` its radii) on the context's device, ready for
 * the tiles. A persistent copy is complete when this returns (other streams and contexts may
 * read it at once); a per-call one is ordered on the context's stream. */
lsc_status cache_build(lsc_ctx *ctx, const lsc_reference *ref, bool persistent, bool upload_radii,
                       ref_cache **out)
{
    LSC_TRY(not_while_capturing(ctx, persistent ? "placing a reference on the device"
                                                : "copying a host reference's rows to the device"));
    cudaStream_t st = cuda_of(ctx)->stream;
    const int64_t n = ref->rows, d = ref->cols;
    ref_cache *c = static_cast<ref_cache *>(calloc(1, sizeof(ref_cache)));
    if (!c)
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory (reference copy)");
    c->device = cuda_of(ctx)->device;
    c->temp = !persistent;
    lsc_status s = cache_alloc(ctx, ref, persistent, c);
    if (s != LSC_STATUS_OK) {
        free(c);
        return s;
    }
    c->view.data = c->raw;
    c->view.dtype = LSC_DTYPE_F32;
    c->view.rows = n;
    c->view.cols = d;
    c->view.ld = d;
    c->view.memory = LSC_MEMORY_DEVICE;
    const size_t rows = static_cast<size_t>(n) * static_cast<size_t>(d) * sizeof(float);
    cudaError_t e = cudaMemcpyAsync(c->raw, ref->data, rows, cudaMemcpyHostToDevice, st);
    if (e == cudaSuccess && upload_radii)
        e = cudaMemcpyAsync(c->radius_v, ref->radius_v, static_cast<size_t>(n) * sizeof(double),
                            cudaMemcpyHostToDevice, st);
    if (e != cudaSuccess)
        s = lsc_cuda_fail(ctx, e, "copying the reference to the device", __FILE__, __LINE__);
    ct_set rs;
    if (s == LSC_STATUS_OK) {
        ref_set(ref, c, &rs);
        rs.res_t = nullptr; // the set's centre / norms are computed from the raw rows first
        s = ct_set_init(ctx, &rs, &c->view, nullptr, nullptr, n, rs.metric, c->centre, c->inv,
                        nullptr);
    }
    if (s == LSC_STATUS_OK && c->t) s = ct_convert_all(ctx, &rs, c->t, c->sq);
    if (s == LSC_STATUS_OK && persistent) {
        e = cudaStreamSynchronize(st);
        if (e != cudaSuccess)
            s = lsc_cuda_fail(ctx, e, "placing the reference on the device", __FILE__, __LINE__);
    }
    if (s != LSC_STATUS_OK) {
        if (persistent) cudaStreamSynchronize(st);
        ref_cache_release(ctx, c);
        return s;
    }
    *out = c;
    return LSC_STATUS_OK;
}

/* The rows of `ref` on the context's device for one call: a device reference's own copy (the
 * host has checked that it lives on this backend and device), else a per-call copy that the
 * holder gives back. */
struct ref_rows {
    lsc_ctx *ctx = nullptr;
    ref_cache *c = nullptr;
    bool mine = false;
    ref_rows() = default;
    ref_rows(const ref_rows &) = delete;
    ref_rows &operator=(const ref_rows &) = delete;
    ~ref_rows()
    {
        if (mine) ref_cache_release(ctx, c);
    }
};

lsc_status get_rows(lsc_ctx *ctx, const lsc_reference *ref, bool need_radii, ref_rows *out)
{
    out->ctx = ctx;
    if (ref->device_data) {
        ref_cache *c = static_cast<ref_cache *>(ref->device_data);
        if (ref->device_free != ref_cache_free || c->device != cuda_of(ctx)->device)
            return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                 "the reference lives on another device or backend");
        out->c = c;
        return LSC_STATUS_OK;
    }
    LSC_TRY(cache_build(ctx, ref, false, need_radii, &out->c));
    out->mine = true;
    return LSC_STATUS_OK;
}

/* Queries are the generated rows, bases the reference rows. */
struct prdc_args : ct_pair {
    int inclusive;
    const double *real_rv, *fake_rv; // radii (internal values)
    unsigned long long *density;     // per fake row
    unsigned char *real_hit;         // recall: set-only flags
    unsigned char *real_cov;         // coverage: set-only flags
    // the fused near tests (lsc_prdc_near), or near == nullptr: set-only flags of each fake row,
    // strictly nearer than near_s at [gi], within near_i at [M + gi] (two bytes: the block's
    // threads never write one byte's bits at once)
    unsigned char *near;
    double near_s, near_i;
    int64_t m;
    // the judged subsets (lsc_prdc_judge), or j_subset == nullptr: inputs ball and widened-ball
    // values of the reference rows (-1 outside the judging half), each fake row's subset and
    // radius in it; outputs the density against the half (per fake row), the set-only bytes
    // cov, rec and wide ([subset N + row]) and the copy tests (strict at [gi], at 0 at [M + gi])
    const double *j_ball, *j_wide, *j_sub_v;
    const signed char *j_subset;
    double j_strict;
    unsigned long long *j_density;
    unsigned char *j_cov, *j_rec, *j_widehit, *j_near;
    int64_t n;
};

/* One block per fake row of the tile: every comparison with the real rows of the tile. */
__global__ void __launch_bounds__(kThreads) k_prdc_count(prdc_args a)
{
    __shared__ unsigned long long red[32];
    const int64_t i = blockIdx.x, gi = a.q0 + i;
    const double fsq = a.qsq[i], sj = a.fake_rv[gi];
    const float *crow = a.c + i * a.nb;
    const volatile unsigned char *hit = a.real_hit;
    const volatile unsigned char *cov = a.real_cov;
    unsigned long long dens = 0, jdens = 0;
    const int sub = a.j_subset ? a.j_subset[gi] : -1;
    const double sv = sub >= 0 ? a.j_sub_v[gi] : -1.0;
    const unsigned pincl = lsc_prdc_incl(a.inclusive), jincl = lsc_judge_incl(a.inclusive);
    for (int64_t j = threadIdx.x; j < a.nb; j += kThreads) {
        const int64_t gr = a.b0 + j;
        const double rs = a.bsq[j];
        const double vf = lsc_fast_v(crow[j], fsq, rs);
        const double err = lsc_fast_err(a.d, fsq, rs);
        // a real row already recalled needs no more tests (set-only flag; as the CPU)
        const double pb[LSC_PRDC_TESTS] = {a.real_rv[gr], sj, a.near_s, a.near_i};
        unsigned pneed = 1u << LSC_PRDC_REAL | static_cast<unsigned>(!hit[gr]) << LSC_PRDC_FAKE;
        if (a.near) {
            const volatile unsigned char *nfl = a.near;
            pneed |= static_cast<unsigned>(a.near_s >= 0 && !nfl[gi]) << LSC_PRDC_STRICT |
                     static_cast<unsigned>(a.near_i >= 0 && !nfl[a.m + gi]) << LSC_PRDC_INCL;
        }
        int pin[LSC_PRDC_TESTS];
        const int px = lsc_tests_fast(vf, err, pb, LSC_PRDC_TESTS, pneed, pincl, pin);
        // the judged subset's tests, for a row of the judging half (as the CPU)
        const double bv = sub >= 0 ? a.j_ball[gr] : -1.0;
        const int64_t at = static_cast<int64_t>(sub) * a.n + gr;
        int in[LSC_JUDGE_TESTS] = {0, 0, 0, 0, 0}, jx = 0;
        const double jb[LSC_JUDGE_TESTS] = {bv, bv >= 0 ? a.j_wide[gr] : -1.0, sv, a.j_strict, 0.0};
        if (bv >= 0) {
            const volatile unsigned char *wh = a.j_widehit, *rh = a.j_rec, *jn = a.j_near;
            const unsigned need =
                1u | static_cast<unsigned>(jb[LSC_JUDGE_WIDE] >= 0 && !wh[at]) << LSC_JUDGE_WIDE |
                static_cast<unsigned>(!rh[at]) << LSC_JUDGE_SUB |
                static_cast<unsigned>(a.j_strict >= 0 && !jn[gi]) << LSC_JUDGE_STRICT |
                static_cast<unsigned>(!jn[a.m + gi]) << LSC_JUDGE_ZERO;
            jx = lsc_tests_fast(vf, err, jb, LSC_JUDGE_TESTS, need, jincl, in);
        }
        if (px || jx) {
            const double ve = lsc_exact_v(a.qraw + i * a.qld, a.braw + j * a.bld, a.d,
                                          a.qinv ? a.qinv[gi] : 1.0, a.binv ? a.binv[gr] : 1.0);
            if (px) lsc_tests_exact(ve, pb, LSC_PRDC_TESTS, pincl, pin);
            if (jx) lsc_tests_exact(ve, jb, LSC_JUDGE_TESTS, jincl, in);
        }
        if (bv >= 0) {
            if (in[LSC_JUDGE_BALL]) {
                jdens++;
                a.j_cov[at] = 1;
            }
            if (in[LSC_JUDGE_BALL] || in[LSC_JUDGE_WIDE]) a.j_widehit[at] = 1;
            if (in[LSC_JUDGE_SUB]) a.j_rec[at] = 1;
            if (in[LSC_JUDGE_STRICT]) a.j_near[gi] = 1;
            if (in[LSC_JUDGE_ZERO]) a.j_near[a.m + gi] = 1;
        }
        if (pin[LSC_PRDC_STRICT]) a.near[gi] = 1;
        if (pin[LSC_PRDC_INCL]) a.near[a.m + gi] = 1;
        if (pin[LSC_PRDC_REAL]) {
            dens++;
            if (!cov[gr]) a.real_cov[gr] = 1;
        }
        if (pin[LSC_PRDC_FAKE]) a.real_hit[gr] = 1;
    }
    dens = ct_block_sum(dens, red);
    if (threadIdx.x == 0 && dens) atomicAdd(&a.density[gi], dens);
    if (sub >= 0) { // uniform in the block: every thread reaches the sum
        jdens = ct_block_sum(jdens, red);
        if (threadIdx.x == 0 && jdens) atomicAdd(&a.j_density[gi], jdens);
    }
}

/* The four figures from the counts (lsc_prdc_from_counts) and the result struct, in
 * device-writable memory: whole into lsc's own workspace, or (`caller`) as far as the caller's
 * size field reaches, a bad size then reported through `status`. One block of 1024 threads. */
__global__ void __launch_bounds__(1024)
    k_prdc_final(int64_t M, int64_t N, int64_t k, const unsigned long long *density,
                 const double *fake_rv, const unsigned char *real_hit,
                 const unsigned char *real_cov, int comparison, int metric, int64_t zero_real,
                 bool caller, lsc_prdc_result *out, lsc_async_status *status)
{
    __shared__ unsigned long long red[32];
    unsigned long long prec = 0, dens = 0, zf = 0, rec = 0, cov = 0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
        prec += density[j] > 0;
        dens += density[j];
        zf += fake_rv[j] == 0.0;
    }
    for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
        rec += real_hit[i];
        cov += real_cov[i];
    }
    prec = ct_block_sum(prec, red);
    dens = ct_block_sum(dens, red);
    zf = ct_block_sum(zf, red);
    rec = ct_block_sum(rec, red);
    cov = ct_block_sum(cov, red);
    if (threadIdx.x != 0) return;
    lsc_prdc_result r;
    memset(&r, 0, sizeof r);
    r.k = k;
    r.real_rows = N;
    r.fake_rows = M;
    lsc_prdc_from_counts(static_cast<int64_t>(prec), static_cast<int64_t>(dens),
                         static_cast<int64_t>(rec), static_cast<int64_t>(cov), N, M, k, &r);
    r.zero_radii_real = zero_real;
    r.zero_radii_fake = static_cast<int64_t>(zf);
    r.comparison = static_cast<lsc_comparison>(comparison);
    r.metric = static_cast<lsc_metric>(metric);
    r.coverage_expected = lsc_coverage_expected(N, M, k);
    r.size = sizeof r;
    const size_t sizes[] = LSC_PRDC_RESULT_SIZES;
    if (!caller) {
        *out = r;
    } else if (!lsc_result_store(out, &r, sizes, LSC_NSIZES(sizes)) && status) {
        status->status = LSC_STATUS_INVALID_ARGUMENT;
        status->row = -1;
        status->col = -1;
    }
}

/* Everything of one PRDC call, enqueued on the context's stream; the figures land in `out`
 * (device-writable) and, with `status`, the value check of fake (validate.cu's scan, written
 * with no host synchronisation). `async`: no progress callback. `rows` (may be NULL) receives
 * the device state behind the figures: recall then coverage flags (2 N bytes) and the density
 * count of every fake row (M), valid until the context's next call. */
struct prdc_rows {
    const unsigned char *flags;
    const unsigned long long *density;
    const unsigned char *near; // with `near`: the strict then the inclusive flags (2 M bytes)
    // with near->judge: the density against the half (M), the cov, rec and wide bytes (3 J N)
    // and the copy tests against the half (2 M)
    const unsigned long long *j_density;
    const unsigned char *j_bytes, *j_near;
};

lsc_status prdc_enqueue(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake, bool async,
                        lsc_prdc_result *out, lsc_async_status *status, prdc_rows *rows,
                        const lsc_prdc_near *near = nullptr)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    if (async) { // pointers the device cannot reach are refused before anything is enqueued
        LSC_TRY(lsc_cuda_check_pointer(ctx, fake->data, "fake", 0));
        LSC_TRY(lsc_cuda_check_pointer(ctx, out, "out", 1));
        if (status) LSC_TRY(lsc_cuda_check_pointer(ctx, status, "status", 1));
    }
    ref_rows held;
    LSC_TRY(get_rows(ctx, ref, true, &held));
    const ref_cache *cache = held.c;
    const int64_t N = ref->rows, M = fake->rows, k = ref->k;
    const int metric = ref->metric == LSC_METRIC_COSINE ? LSC_M_COSINE : LSC_M_EUCLIDEAN;
    const bool cosine = metric == LSC_M_COSINE;
    // per-call state: fake radii and norms, density counts, real flags
    double *fake_r, *fake_inv;
    unsigned long long *density;
    unsigned char *flags, *near_flags;
    // the judged subsets' inputs and outputs (sizes 0 without them)
    const lsc_prdc_judge *jg = near ? near->judge : nullptr;
    const size_t jn = jg ? static_cast<size_t>(N) : 0, jm = jg ? static_cast<size_t>(M) : 0;
    const size_t jb = jg ? 3 * static_cast<size_t>(jg->subsets) * static_cast<size_t>(N) : 0;
    double *j_ball, *j_sub_v;
    signed char *j_subset;
    unsigned long long *j_density;
    unsigned char *j_bytes, *j_near;
    lsc_ws_carve c = {nullptr, 0};
    for (int pass = 0; pass < 2; pass++) {
        lsc_ws_take(&c, static_cast<size_t>(M) * sizeof(double), &fake_r);
        lsc_ws_take(&c, static_cast<size_t>(cosine ? M : 0) * sizeof(double), &fake_inv);
        lsc_ws_take(&c, static_cast<size_t>(M) * sizeof(unsigned long long), &density);
        lsc_ws_take(&c, static_cast<size_t>(N) * 2, &flags);
        lsc_ws_take(&c, static_cast<size_t>(near && near->flags ? M : 0) * 2, &near_flags);
        lsc_ws_take(&c, 2 * jn * sizeof(double), &j_ball);
        lsc_ws_take(&c, jm * sizeof(double), &j_sub_v);
        lsc_ws_take(&c, jm * sizeof(unsigned long long), &j_density);
        lsc_ws_take(&c, jm, &j_subset);
        lsc_ws_take(&c, jb, &j_bytes);
        lsc_ws_take(&c, 2 * jm, &j_near);
        if (pass == 0) {
            void *mem;
            LSC_TRY(lsc_cuda_ws_reserve(ctx, LSC_WS_STATE, c.off, "prdc state", &mem));
            c = {static_cast<char *>(mem), 0};
        }
    }
    LSC_CUDA_TRY(
        ctx, cudaMemsetAsync(density, 0, static_cast<size_t>(M) * sizeof(unsigned long long), st));
    LSC_CUDA_TRY(ctx, cudaMemsetAsync(flags, 0, static_cast<size_t>(N) * 2, st));
    if (near && near->flags)
        LSC_CUDA_TRY(ctx, cudaMemsetAsync(near_flags, 0, static_cast<size_t>(M) * 2, st));
    if (jg) {
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(j_ball, jg->ball_v, jn * sizeof(double),
                                          cudaMemcpyHostToDevice, st));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(j_ball + N, jg->wide_v, jn * sizeof(double),
                                          cudaMemcpyHostToDevice, st));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(j_sub_v, jg->sub_v, jm * sizeof(double),
                                          cudaMemcpyHostToDevice, st));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(j_subset, jg->subset, jm, cudaMemcpyHostToDevice, st));
        LSC_CUDA_TRY(ctx, cudaMemsetAsync(j_density, 0, jm * sizeof(unsigned long long), st));
        LSC_CUDA_TRY(ctx, cudaMemsetAsync(j_bytes, 0, jb, st));
        LSC_CUDA_TRY(ctx, cudaMemsetAsync(j_near, 0, 2 * jm, st));
    }
    if (status) LSC_TRY(lsc_cuda_check_async(ctx, fake, cosine ? 1 : 0, status));
    ct_set rs, sf;
    ref_set(ref, cache, &rs);
    // the fake rows centred on the reference's centre (cosine ignores centres), as the CPU
    LSC_TRY(
        ct_set_init(ctx, &sf, fake, nullptr, nullptr, M, metric, nullptr, fake_inv, cache->centre));
    LSC_TRY(ct_knn_sets(ctx, &sf, &sf, k, 1, metric, nullptr, nullptr, fake_r, !async, 0.0, 0.3));

    // one pass of fake (query tiles) against real (base tiles)
    ct_plan_in in = {&sf, &rs, kMaxTq, kMaxTb, 0, 0, 0, 0};
    ct_job job;
    LSC_TRY(ct_plan(ctx, &in, &job));
    const double total = static_cast<double>(M) * static_cast<double>(N);
    double done = 0.0;
    auto tile = [&](const ct_pair &p, const ct_tile &, const ct_tile &) -> lsc_status {
        prdc_args a;
        static_cast<ct_pair &>(a) = p;
        a.inclusive = ref->comparison == LSC_COMPARISON_INCLUSIVE;
        a.real_rv = cache->radius_v;
        a.fake_rv = fake_r;
        a.density = density;
        a.real_hit = flags;
        a.real_cov = flags + N;
        a.near = near && near->flags ? near_flags : nullptr;
        a.near_s = near ? near->strict_v : -1.0;
        a.near_i = near ? near->incl_v : -1.0;
        a.m = M;
        a.j_ball = j_ball;
        a.j_wide = j_ball + N;
        a.j_sub_v = j_sub_v;
        a.j_subset = jg ? j_subset : nullptr;
        a.j_strict = jg ? jg->strict_v : -1.0;
        a.j_density = j_density;
        a.j_cov = j_bytes;
        a.j_rec = jg ? j_bytes + static_cast<size_t>(jg->subsets) * jn : nullptr;
        a.j_widehit = jg ? j_bytes + 2 * static_cast<size_t>(jg->subsets) * jn : nullptr;
        a.j_near = j_near;
        a.n = N;
        k_prdc_count<<<static_cast<unsigned>(p.nq), kThreads, 0, st>>>(a);
        LSC_CUDA_LAUNCHED(ctx);
        if (async) return LSC_STATUS_OK;
        done += static_cast<double>(p.nq) * static_cast<double>(p.nb);
        return ct_progress(ctx, 0.3 + 0.7 * (done / total));
    };
    LSC_TRY(ct_tile_loop(ctx, &sf, &rs, &job, false, ct_no_step(), tile, ct_no_step()));
    if (rows) *rows = {flags, density, near_flags, j_density, j_bytes, j_near};
    k_prdc_final<<<1, 1024, 0, st>>>(
        M, N, k, density, fake_r, flags, flags + N, static_cast<int>(ref->comparison),
        static_cast<int>(ref->metric), ref->zero_radii, async, out, status);
    LSC_CUDA_LAUNCHED(ctx);
    return LSC_STATUS_OK;
}

/* The device's two set-only bytes per row (strict at [j], inclusive at [M + j]: no two threads
 * share a byte's bits) as the host's LSC_NEAR_STRICT | LSC_NEAR_INCL bits. */
void near_bits(const unsigned char *f, int64_t M, unsigned char *out)
{
    for (int64_t j = 0; j < M; j++)
        out[j] = static_cast<unsigned char>((f[j] ? LSC_NEAR_STRICT : 0u) |
                                            (f[M + j] ? LSC_NEAR_INCL : 0u));
}

} // namespace

lsc_status lsc_cuda_reference_radii(lsc_ctx *ctx, lsc_reference *ref)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    ref_rows held;
    LSC_TRY(get_rows(ctx, ref, false, &held));
    ref_cache *c = held.c;
    ct_set rs;
    ref_set(ref, c, &rs);
    LSC_TRY(ct_knn_sets(ctx, &rs, &rs, ref->k, 1, rs.metric, nullptr, nullptr, c->radius_v, true,
                        0.0, 1.0));
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(ref->radius_v, c->radius_v,
                                      static_cast<size_t>(ref->rows) * sizeof(double),
                                      cudaMemcpyDeviceToHost, st));
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    int64_t zero = 0;
    for (int64_t i = 0; i < ref->rows; i++) {
        ref->radius[i] = lsc_dist_from_v(static_cast<int>(ref->metric), ref->radius_v[i]);
        zero += ref->radius_v[i] == 0.0;
    }
    ref->zero_radii = zero;
    return LSC_STATUS_OK;
}

lsc_status lsc_cuda_reference_place(lsc_ctx *ctx, lsc_reference *ref)
{
    ref_cache *c = nullptr;
    LSC_TRY(cache_build(ctx, ref, true, true, &c));
    pin_module();
    ref->device_data = c;
    ref->device_free = ref_cache_free;
    return LSC_STATUS_OK;
}

lsc_status lsc_cuda_prdc(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                         lsc_prdc_result *out, unsigned char *real_flags, int64_t *fake_counts,
                         const lsc_prdc_near *near)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    void *mem;
    LSC_TRY(lsc_cuda_ws_reserve(ctx, LSC_WS_RESULT, sizeof(lsc_prdc_result), "prdc result", &mem));
    lsc_prdc_result *d_out = static_cast<lsc_prdc_result *>(mem);
    prdc_rows rows = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
    LSC_TRY(prdc_enqueue(ctx, ref, fake, false, d_out, nullptr, &rows, near));
    lsc_prdc_result r;
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(&r, d_out, sizeof r, cudaMemcpyDeviceToHost, st));
    const int64_t N = ref->rows, M = fake->rows;
    host_buf flags;
    if (real_flags) {
        flags.p = malloc(static_cast<size_t>(N) * 2);
        if (!flags.p)
            return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                 "out of host memory (prdc row flags)");
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(flags.p, rows.flags, static_cast<size_t>(N) * 2,
                                          cudaMemcpyDeviceToHost, st));
    }
    // the counts are unsigned long long on the device, int64_t here: the same 8 bytes, and no
    // count exceeds N
    static_assert(sizeof(unsigned long long) == sizeof(int64_t), "8-byte counts");
    if (fake_counts)
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(fake_counts, rows.density,
                                          static_cast<size_t>(M) * sizeof(int64_t),
                                          cudaMemcpyDeviceToHost, st));
    host_buf nf, jf;
    if (near && near->flags) {
        nf.p = malloc(static_cast<size_t>(M) * 2);
        if (!nf.p)
            return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                 "out of host memory (prdc near flags)");
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(nf.p, rows.near, static_cast<size_t>(M) * 2,
                                          cudaMemcpyDeviceToHost, st));
    }
    const lsc_prdc_judge *jg = near ? near->judge : nullptr;
    if (jg) {
        const size_t jn = static_cast<size_t>(jg->subsets) * static_cast<size_t>(N);
        jf.p = malloc(static_cast<size_t>(M) * 2);
        if (!jf.p)
            return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                 "out of host memory (prdc judged flags)");
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(jg->density, rows.j_density,
                                          static_cast<size_t>(M) * sizeof(int64_t),
                                          cudaMemcpyDeviceToHost, st));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(jg->cov, rows.j_bytes, jn, cudaMemcpyDeviceToHost, st));
        LSC_CUDA_TRY(ctx,
                     cudaMemcpyAsync(jg->rec, rows.j_bytes + jn, jn, cudaMemcpyDeviceToHost, st));
        LSC_CUDA_TRY(
            ctx, cudaMemcpyAsync(jg->wide, rows.j_bytes + 2 * jn, jn, cudaMemcpyDeviceToHost, st));
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(jf.p, rows.j_near, static_cast<size_t>(M) * 2,
                                          cudaMemcpyDeviceToHost, st));
    }
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    if (real_flags) lsc_row_flags(static_cast<const unsigned char *>(flags.p), N, real_flags);
    if (near && near->flags) near_bits(static_cast<const unsigned char *>(nf.p), M, near->flags);
    if (jg) near_bits(static_cast<const unsigned char *>(jf.p), M, jg->flags);
    *out = r;
    return LSC_STATUS_OK;
}

lsc_status lsc_cuda_prdc_async(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                               lsc_prdc_result *out, lsc_async_status *status)
{
    return prdc_enqueue(ctx, ref, fake, true, out, status, nullptr);
}
