/* Distance blocks on the GPU: the centred fast form from one SGEMM per tile; entries too close to
 * zero for the fast form's error bound (lsc_bulk_needs_exact) are recomputed exactly, as the CPU
 * backend does (host/cpu/distances.c), so a self-distance is exactly 0 and no clamped negative
 * value is ever an answer. */
#include "tiles.cuh"

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxTq = 4096;
constexpr int64_t kMaxTb = 8192;

/* The tile pair (its product c is overwritten with the distances when out is NULL). */
struct dist_args : ct_pair {
    int metric;
    float *out; // device output at (q0, b0) with ld_out, or NULL
    int64_t ld_out;
};

__global__ void __launch_bounds__(kThreads) k_dist(dist_args a)
{
    const int64_t i = blockIdx.y;
    const int64_t j = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
    if (j >= a.nb) return;
    const double qs = a.qsq[i], bs = a.bsq[j];
    double v = lsc_fast_v(a.c[i * a.nb + j], qs, bs);
    if (lsc_bulk_needs_exact(v, lsc_fast_err(a.d, qs, bs)))
        v = lsc_exact_v(a.qraw + i * a.qld, a.braw + j * a.bld, a.d,
                        a.qinv ? a.qinv[a.q0 + i] : 1.0, a.binv ? a.binv[a.b0 + j] : 1.0);
    const float r = static_cast<float>(lsc_dist_from_v(a.metric, v));
    if (a.out) a.out[(a.q0 + i) * a.ld_out + a.b0 + j] = r;
    else a.c[i * a.nb + j] = r;
}

} // namespace

lsc_status lsc_cuda_distances(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                              lsc_metric metric, float *out, int64_t ld_out)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    const int m = static_cast<int>(metric);
    const int kind = m == LSC_M_COSINE ? LSC_M_COSINE : LSC_M_EUCLIDEAN;
    const int64_t d = a->cols;
    // the backend table carries no out_memory: where `out` lives is asked of the driver
    cudaPointerAttributes attr;
    LSC_CUDA_TRY(ctx, cudaPointerGetAttributes(&attr, out));
    const bool dev_out = attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
    if (dev_out && attr.type == cudaMemoryTypeDevice && attr.device != cuda_of(ctx)->device)
        return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                             "out is memory of CUDA device %d, the context runs on device %d",
                             attr.device, cuda_of(ctx)->device);

    double *centre, *inv_a, *inv_b;
    lsc_ws_carve c = {nullptr, 0};
    for (int pass = 0; pass < 2; pass++) {
        lsc_ws_take(&c, static_cast<size_t>(d) * sizeof(double), &centre);
        lsc_ws_take(&c, static_cast<size_t>(kind == LSC_M_COSINE ? a->rows : 0) * sizeof(double),
                    &inv_a);
        lsc_ws_take(&c, static_cast<size_t>(kind == LSC_M_COSINE ? b->rows : 0) * sizeof(double),
                    &inv_b);
        if (pass == 0) {
            void *mem;
            LSC_TRY(lsc_cuda_ws_reserve(ctx, LSC_WS_STATE, c.off, "distance state", &mem));
            c = {static_cast<char *>(mem), 0};
        }
    }
    ct_set sa, sb;
    LSC_TRY(ct_set_init(ctx, &sb, b, nullptr, nullptr, b->rows, kind, centre, inv_b, nullptr));
    LSC_TRY(ct_set_init(ctx, &sa, a, nullptr, nullptr, a->rows, kind, nullptr, inv_a, sb.centre));
    ct_plan_in in = {&sa, &sb, kMaxTq, kMaxTb, 0, 0, 0, 0};
    ct_job job;
    LSC_TRY(ct_plan(ctx, &in, &job));
    const double total = static_cast<double>(a->rows) * static_cast<double>(b->rows);
    // host output: queued copies write into the caller's buffer (at once when it is pinned), so
    // every return, a failed or cancelled one too, waits for them first; managed output too,
    // which the host may read as soon as the call returns
    struct wait_copies {
        cudaStream_t s;
        bool on;
        ~wait_copies()
        {
            if (on) cudaStreamSynchronize(s);
        }
    } copies{st, attr.type != cudaMemoryTypeDevice};
    double done = 0.0;
    auto tile = [&](const ct_pair &p, const ct_tile &, const ct_tile &) -> lsc_status {
        dist_args x;
        static_cast<ct_pair &>(x) = p;
        x.metric = m;
        x.out = dev_out ? out : nullptr;
        x.ld_out = ld_out;
        const dim3 grid(ct_blocks(p.nb, kThreads), static_cast<unsigned>(p.nq));
        k_dist<<<grid, kThreads, 0, st>>>(x);
        LSC_CUDA_LAUNCHED(ctx);
        if (!dev_out) {
            // host output: the tile's block, copied out row by row with its stride (the
            // copy also keeps the product buffer until it is done, stream-ordered)
            LSC_CUDA_TRY(ctx,
                         cudaMemcpy2DAsync(out + p.q0 * ld_out + p.b0,
                                           static_cast<size_t>(ld_out) * sizeof(float), p.c,
                                           static_cast<size_t>(p.nb) * sizeof(float),
                                           static_cast<size_t>(p.nb) * sizeof(float),
                                           static_cast<size_t>(p.nq), cudaMemcpyDeviceToHost, st));
        }
        done += static_cast<double>(p.nq) * static_cast<double>(p.nb);
        return ct_progress(ctx, done / total);
    };
    LSC_TRY(ct_tile_loop(ctx, &sa, &sb, &job, false, ct_no_step(), tile, ct_no_step()));
    copies.on = false;
    // host output, and managed memory (whatever out_memory said): complete on return
    if (attr.type != cudaMemoryTypeDevice) LSC_CUDA_TRY(ctx, cudaStreamSynchronize(st));
    return LSC_STATUS_OK;
}
