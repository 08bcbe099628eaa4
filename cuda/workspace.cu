/* The context's grow-only scratch (see workspace.cuh for the contract). */
#include "workspace.cuh"

#include <stdlib.h>

namespace {

cuda_workspace *ws_of(lsc_ctx *ctx, bool create)
{
    cuda_state *s = cuda_of(ctx);
    if (!s->ws && create) {
        s->ws = static_cast<cuda_workspace *>(calloc(1, sizeof(cuda_workspace)));
        if (s->ws) s->ws->alloc_stream = s->stream;
    }
    return s->ws;
}

void dev_free(lsc_ctx *ctx, lsc_ws_buf *b)
{
    lsc_cuda_dev_free(ctx, b->ptr, b->bytes);
    b->ptr = nullptr;
    b->bytes = 0;
}

} // namespace

lsc_status lsc_cuda_dev_alloc(lsc_ctx *ctx, size_t bytes, const char *what, void **out)
{
    cudaStream_t st = cuda_of(ctx)->stream;
    void *p = nullptr;
    if (ctx->params.device_alloc) {
        p = ctx->params.device_alloc(bytes, st, ctx->params.allocator_user);
    } else {
        cudaError_t e = cudaMallocAsync(&p, bytes, st);
        if (e != cudaSuccess) {
            cudaGetLastError();
            if (e != cudaErrorMemoryAllocation)
                return lsc_cuda_fail(ctx, e, what, __FILE__, __LINE__);
            p = nullptr;
        }
    }
    if (!p)
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                             "out of device memory: %zu bytes for %s", bytes, what);
    *out = p;
    return LSC_STATUS_OK;
}

void lsc_cuda_dev_free(lsc_ctx *ctx, void *p, size_t bytes)
{
    if (!p) return;
    cudaStream_t st = cuda_of(ctx)->stream;
    if (ctx->params.device_free) {
        ctx->params.device_free(p, bytes, st, ctx->params.allocator_user);
    } else if (cudaFreeAsync(p, st) != cudaSuccess) {
        cudaGetLastError(); // nothing to report from a free; keep the context usable
    }
}

lsc_status lsc_cuda_ws_get(lsc_ctx *ctx, cuda_workspace **out)
{
    cuda_workspace *w = ws_of(ctx, true);
    if (!w) return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory (workspace)");
    *out = w;
    return LSC_STATUS_OK;
}

lsc_status lsc_cuda_ws_staging(lsc_ctx *ctx, cuda_workspace **out)
{
    cuda_workspace *w;
    LSC_TRY(lsc_cuda_ws_get(ctx, &w));
    if (!w->copy) {
        // each piece only once, the stream last: a failure half-way is retried by the next call
        // instead of leaving the stream without its events
        const unsigned fl = cudaEventDisableTiming;
        if (!w->copy_start) LSC_CUDA_TRY(ctx, cudaEventCreateWithFlags(&w->copy_start, fl));
        for (int r = 0; r < 2; r++)
            for (int b = 0; b < 2; b++) {
                if (!w->stage_ready[r][b])
                    LSC_CUDA_TRY(ctx, cudaEventCreateWithFlags(&w->stage_ready[r][b], fl));
                if (!w->stage_free[r][b])
                    LSC_CUDA_TRY(ctx, cudaEventCreateWithFlags(&w->stage_free[r][b], fl));
            }
        LSC_CUDA_TRY(ctx, cudaStreamCreateWithFlags(&w->copy, cudaStreamNonBlocking));
    }
    *out = w;
    return LSC_STATUS_OK;
}

size_t lsc_cuda_ws_budget(const lsc_ctx *ctx)
{
    return ctx->workspace_limit ? ctx->workspace_limit : LSC_DEFAULT_WORKSPACE;
}

size_t lsc_cuda_ws_size(const lsc_ctx *ctx, int slot)
{
    const cuda_state *s = static_cast<const cuda_state *>(ctx->backend_state);
    if (!s || !s->ws || slot < 0 || slot >= LSC_WS_NSLOTS) return 0;
    return s->ws->dev[slot].bytes;
}

lsc_status lsc_cuda_ws_reserve(lsc_ctx *ctx, int slot, size_t bytes, const char *what, void **out)
{
    if (slot < 0 || slot >= LSC_WS_NSLOTS)
        return lsc_set_error(ctx, LSC_STATUS_INTERNAL, "workspace slot %d does not exist", slot);
    cuda_workspace *w = ws_of(ctx, true);
    if (!w) return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory (workspace)");
    if (bytes > SIZE_MAX - 255)
        return lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "%s: %zu bytes overflow", what, bytes);
    const size_t want = ((bytes ? bytes : 1) + 255) & ~static_cast<size_t>(255);
    lsc_ws_buf *b = &w->dev[slot];
    if (b->ptr && b->bytes >= want) {
        *out = b->ptr;
        return LSC_STATUS_OK;
    }
    cudaStream_t st = cuda_of(ctx)->stream;
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    LSC_CUDA_TRY(ctx, cudaStreamIsCapturing(st, &cap));
    if (cap != cudaStreamCaptureStatusNone)
        return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                             "%s: the workspace must grow to %zu bytes, which cannot happen while "
                             "the stream is being captured; make one call of the same shapes "
                             "before capturing",
                             what, want);
    dev_free(ctx, b); // stream-ordered: enqueued readers of the old buffer finish first
    void *p = nullptr;
    LSC_TRY(lsc_cuda_dev_alloc(ctx, want, what, &p));
    b->ptr = p;
    b->bytes = want;
    w->alloc_stream = st;
    *out = p;
    return LSC_STATUS_OK;
}

void lsc_cuda_ws_drop(lsc_ctx *ctx, int slot)
{
    cuda_workspace *w = ws_of(ctx, false);
    if (!w || slot < 0 || slot >= LSC_WS_NSLOTS) return;
    dev_free(ctx, &w->dev[slot]);
}

lsc_status lsc_cuda_pinned_reserve(lsc_ctx *ctx, int i, size_t bytes, void **out)
{
    if (i < 0 || i >= LSC_WS_PINNED_BUFS)
        return lsc_set_error(ctx, LSC_STATUS_INTERNAL, "pinned buffer %d does not exist", i);
    cuda_workspace *w = ws_of(ctx, true);
    if (!w) return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory (workspace)");
    if (w->pinned_pending[i]) {
        // the host is about to overwrite the buffer: the copy that last read it must be done
        LSC_CUDA_TRY(ctx, cudaEventSynchronize(w->pinned_done[i]));
        w->pinned_pending[i] = 0;
    }
    lsc_ws_buf *b = &w->pinned[i];
    const size_t want = ((bytes ? bytes : 1) + 4095) & ~static_cast<size_t>(4095);
    if (b->ptr && b->bytes >= want) {
        *out = b->ptr;
        return LSC_STATUS_OK;
    }
    if (b->ptr) {
        cudaFreeHost(b->ptr);
        b->ptr = nullptr;
        b->bytes = 0;
    }
    void *p = nullptr;
    cudaError_t e = cudaHostAlloc(&p, want, cudaHostAllocPortable);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                             "out of pinned host memory: %zu bytes of staging (%s)", want,
                             cudaGetErrorName(e));
    }
    b->ptr = p;
    b->bytes = want;
    *out = p;
    return LSC_STATUS_OK;
}

lsc_status lsc_cuda_pinned_mark(lsc_ctx *ctx, int i, cudaStream_t stream)
{
    cuda_workspace *w = ws_of(ctx, false);
    if (!w || i < 0 || i >= LSC_WS_PINNED_BUFS)
        return lsc_set_error(ctx, LSC_STATUS_INTERNAL, "pinned buffer %d was never reserved", i);
    cudaError_t e = cudaSuccess;
    if (!w->pinned_done[i])
        e = cudaEventCreateWithFlags(&w->pinned_done[i], cudaEventDisableTiming);
    if (e == cudaSuccess) e = cudaEventRecord(w->pinned_done[i], stream);
    if (e != cudaSuccess) {
        // the copy is queued but nothing guards the buffer: wait for it, so that the host may
        // write the buffer again when this returns
        cudaStreamSynchronize(stream);
        return lsc_cuda_fail(ctx, e, "cudaEventRecord (pinned staging)", __FILE__, __LINE__);
    }
    w->pinned_pending[i] = 1;
    return LSC_STATUS_OK;
}

void lsc_cuda_ws_stream_changed(lsc_ctx *ctx, cudaStream_t old_stream, cudaStream_t new_stream)
{
    cuda_workspace *w = ws_of(ctx, false);
    // later growth frees on the new stream: order it after what the old stream still runs.
    // Done also when the workspace holds nothing: state outside it was written on the old
    // stream too (an accumulator's Grams zeroed by lsc_cuda_acc_create's state_init, which
    // touches no slot), and the next call reads it on the new stream.
    cudaEvent_t ev;
    if (cudaEventCreateWithFlags(&ev, cudaEventDisableTiming) == cudaSuccess) {
        if (cudaEventRecord(ev, old_stream) == cudaSuccess) cudaStreamWaitEvent(new_stream, ev, 0);
        cudaEventDestroy(ev);
    }
    cudaGetLastError(); // a failure here (an old stream already destroyed) is not the caller's
    if (w) w->alloc_stream = new_stream;
}

void lsc_cuda_ws_release(lsc_ctx *ctx)
{
    cuda_state *s = static_cast<cuda_state *>(ctx->backend_state);
    if (!s || !s->ws) return;
    cuda_workspace *w = s->ws;
    for (int i = 0; i < LSC_WS_NSLOTS; i++) dev_free(ctx, &w->dev[i]);
    for (int i = 0; i < LSC_WS_PINNED_BUFS; i++) {
        if (w->pinned_done[i]) {
            cudaEventSynchronize(w->pinned_done[i]);
            cudaEventDestroy(w->pinned_done[i]);
        }
        if (w->pinned[i].ptr) cudaFreeHost(w->pinned[i].ptr);
    }
    if (w->copy) {
        cudaStreamSynchronize(w->copy);
        cudaStreamDestroy(w->copy);
    }
    if (w->copy_start) cudaEventDestroy(w->copy_start);
    for (int r = 0; r < 2; r++)
        for (int b = 0; b < 2; b++) {
            if (w->stage_ready[r][b]) cudaEventDestroy(w->stage_ready[r][b]);
            if (w->stage_free[r][b]) cudaEventDestroy(w->stage_free[r][b]);
        }
    // frees enqueued above complete before the stream is destroyed (cudaStreamDestroy waits)
    cudaStreamSynchronize(s->stream);
    cudaGetLastError();
    free(w);
    s->ws = nullptr;
}
