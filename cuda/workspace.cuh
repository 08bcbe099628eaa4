/* The CUDA backend's grow-only scratch, owned by the context (hung off cuda_state::ws).
 *
 * Device memory comes in a few independent *slots*, each one grow-only buffer. A slot is asked
 * for a size; if it already holds that many bytes nothing happens (no allocation, no call into
 * CUDA: safe under graph capture), otherwise its old buffer is freed and a bigger one allocated.
 * Pointers handed out by a slot stay valid until the next reserve of the *same* slot that has to
 * grow it, or until the context is destroyed: each operation family uses its own slot(s), so one
 * family's growth never moves another's buffers.
 *
 * Allocation: through ctx->params.device_alloc / device_free (with allocator_user and the
 * context's stream) when the caller set them, else cudaMallocAsync / cudaFreeAsync on the
 * context's stream. Both are stream-ordered: work already enqueued on the stream that reads an
 * old buffer finishes before the memory is reused, so growth needs no synchronisation.
 * If the stream is being captured into a CUDA graph and a slot would have to grow, the reserve
 * fails with LSC_STATUS_NOT_SUPPORTED and a message (grow it with one call outside capture).
 * If the allocation fails, the slot is left empty and the reserve returns
 * LSC_STATUS_OUT_OF_MEMORY with a message naming the bytes and `what`; callers that plan tiles
 * (cuda/tiles.cuh) halve their tiles and try again before giving up.
 *
 * Budget: ctx->workspace_limit (resolved by the host, default 256 MiB) bounds the tile scratch
 * that lsc_plan_tiles plans; lsc_cuda_ws_budget says how much that is. Per-row state that
 * scales with the inputs (radii, counters, flags: O(N + M)) lives in its own slots and is not
 * counted, as on the CPU backend. The kNN lists of a query tile (32 k + 16 bytes a row) are
 * tile scratch and are counted, so a small limit with a large k gives smaller query tiles (the
 * CPU backend keeps its selections outside the limit).
 *
 * Pinned host staging (cudaHostAlloc, grow-only, LSC_WS_PINNED_BUFS buffers): host inputs are
 * copied into one by the CPU and from there to the device by an asynchronous copy. Before the
 * CPU writes a staging buffer again it must wait for the copy that last read it:
 *     void *h;
 *     LSC_TRY(lsc_cuda_pinned_reserve(ctx, b, bytes, &h));   // waits for buffer b's last copy
 *     memcpy(h, ...);                                          // fill on the host
 *     LSC_CUDA_TRY(ctx, cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, stream));
 *     LSC_TRY(lsc_cuda_pinned_mark(ctx, b, stream));          // records buffer b's copy
 * With two buffers used in turn, the CPU fills one while the device copies the other.
 *
 * All functions run on the calling thread, report failures through lsc_set_error and return an
 * lsc_status. None synchronises the device; lsc_cuda_pinned_reserve waits for one event only.
 */
#pragma once

#include "cuda_internal.cuh"

#include <stddef.h>

/* Device slots. Add new ones before LSC_WS_NSLOTS; a slot belongs to one family of files. */
enum lsc_ws_slot_id {
    LSC_WS_TILES = 0,    /* distance tiles (tiles.cu): rows, products, staging, per-tile kNN
                            lists; planned within the budget */
    LSC_WS_STATE = 1,    /* distance family per-call state: centres, inverse norms, radii,
                            counters, nearest values, histogram */
    LSC_WS_RESULT = 2,   /* distance family results gathered before they are copied out (kNN
                            lists of every query, PRDC figures, the histogram bound) */
    LSC_WS_SPECTRUM = 3, /* spectrum.cu (synchronous and asynchronous spectrum) */
    LSC_WS_VALIDATE = 4, /* validate.cu (device value checks) */
    LSC_WS_NSLOTS = 5
};

enum { LSC_WS_PINNED_BUFS = 2 };

/* One grow-only buffer. */
struct lsc_ws_buf {
    void *ptr;
    size_t bytes;
};

/* Everything the workspace owns. Zero-initialised (calloc) is the empty state. */
struct cuda_workspace {
    lsc_ws_buf dev[LSC_WS_NSLOTS];
    lsc_ws_buf pinned[LSC_WS_PINNED_BUFS];
    cudaEvent_t pinned_done[LSC_WS_PINNED_BUFS]; /* last copy out of each pinned buffer */
    int pinned_pending[LSC_WS_PINNED_BUFS];      /* 1 while pinned_done[i] has been recorded */
    cudaStream_t alloc_stream;                   /* stream the device buffers were last used on */
    /* host-to-device staging of host matrices (tiles.cu), created on first use */
    cudaStream_t copy;             /* copies pinned -> device, beside the context's stream */
    cudaEvent_t copy_start;        /* recorded on the context's stream before a staging job */
    cudaEvent_t stage_ready[2][2]; /* [role][buffer]: copied, the context's stream may read */
    cudaEvent_t stage_free[2][2];  /* [role][buffer]: read, the copy stream may overwrite */
    int pinned_next;               /* pinned buffer the next staged tile uses */
};

/* The workspace, created on first use. */
lsc_status lsc_cuda_ws_get(lsc_ctx *ctx, cuda_workspace **out);

/* The workspace with its copy stream and staging events created (tiles.cu). */
lsc_status lsc_cuda_ws_staging(lsc_ctx *ctx, cuda_workspace **out);

/* Bytes of tile scratch a plan may use (ctx->workspace_limit). */
size_t lsc_cuda_ws_budget(const lsc_ctx *ctx);

/* Grows slot `slot` to at least `bytes` (rounded up to 256) and returns its pointer in *out
 * (never NULL on success, also for bytes == 0). The contents are undefined after growth and
 * kept otherwise. `what` names the use in an out-of-memory message. */
lsc_status lsc_cuda_ws_reserve(lsc_ctx *ctx, int slot, size_t bytes, const char *what, void **out);

/* One stream-ordered allocation outside the slots, through the same allocator (a per-call
 * buffer whose size follows an input, such as a host reference's device copy): OUT_OF_MEMORY
 * with a message naming the bytes and `what` when it cannot be served. Free it with
 * lsc_cuda_dev_free, given the same byte count, on the same context. */
lsc_status lsc_cuda_dev_alloc(lsc_ctx *ctx, size_t bytes, const char *what, void **out);
void lsc_cuda_dev_free(lsc_ctx *ctx, void *p, size_t bytes);

/* Current size of a slot (0 when empty); never allocates. */
size_t lsc_cuda_ws_size(const lsc_ctx *ctx, int slot);

/* Frees one slot now (stream-ordered). Use to give memory back before a retry with smaller
 * tiles, so the old and new buffers need not coexist. */
void lsc_cuda_ws_drop(lsc_ctx *ctx, int slot);

/* Pinned host buffer `i` (0 .. LSC_WS_PINNED_BUFS-1) of at least `bytes`, after waiting for the
 * last copy recorded on it by lsc_cuda_pinned_mark. OUT_OF_MEMORY if cudaHostAlloc fails. */
lsc_status lsc_cuda_pinned_reserve(lsc_ctx *ctx, int i, size_t bytes, void **out);

/* Records on `stream` that everything enqueued so far that reads pinned buffer `i` is done
 * after this point (call right after enqueuing the copy out of it). */
lsc_status lsc_cuda_pinned_mark(lsc_ctx *ctx, int i, cudaStream_t stream);

/* Called when the context's stream changes (cuda_set_stream): later frees happen on the new
 * stream, so the new stream first waits for everything enqueued on the old one. */
void lsc_cuda_ws_stream_changed(lsc_ctx *ctx, cudaStream_t old_stream, cudaStream_t new_stream);

/* Frees every buffer and event (cuda_fini; the stream has been synchronised). Safe to call on
 * an empty workspace and twice. */
void lsc_cuda_ws_release(lsc_ctx *ctx);

/* ---- carving one slot into aligned pieces -------------------------------------------------- */

/* Lay out several arrays in one slot: call lsc_ws_take for each array twice, first with
 * base NULL to add up the size, then with the reserved base to get the pointers:
 *     lsc_ws_carve c = {nullptr, 0};
 *     lsc_ws_take(&c, n * sizeof(float), &a); lsc_ws_take(&c, m * sizeof(double), &b);
 *     void *base; LSC_TRY(lsc_cuda_ws_reserve(ctx, slot, c.off, "...", &base));
 *     c = {static_cast<char *>(base), 0}; ... the same takes again ...
 * Every piece starts on a 256-byte boundary (cuBLAS's and 16-byte vector loads' alignment). */
struct lsc_ws_carve {
    char *base;
    size_t off;
};

template <typename T>
inline void lsc_ws_take(lsc_ws_carve *c, size_t bytes, T **out)
{
    const size_t at = (c->off + 255) & ~static_cast<size_t>(255);
    *out = c->base ? reinterpret_cast<T *>(c->base + at) : nullptr;
    c->off = at + bytes;
}
