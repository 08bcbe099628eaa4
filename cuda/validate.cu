/* Value checks of device-memory matrices (the backend's `check_values` entry) and their
 * asynchronous twin for the training-loop forms (lsc.h section 8).
 *
 * One warp per row scans the row in column order and keeps its first non-finite column and
 * whether any element is non-zero; the first offending element of the whole matrix is the
 * smallest row-major linear index, found with atomicMin, so the answer never depends on
 * scheduling. Elements are judged as lsc_check_values judges host memory (host/validate.c):
 * on their float32 values (lsc_load_f32), so a float64 value beyond the float32 range is
 * non-finite too, and a row is a zero row when every float32 value compares equal to 0.
 *
 * The synchronous check copies 16 bytes back and words the message exactly as the host does;
 * the asynchronous one turns the same scan into an lsc_async_status in device-writable memory
 * with one more single-thread kernel, never waiting and never allocating once its 256-byte slot
 * exists (so it can be captured into a CUDA graph). */
#include "cuda_internal.cuh"
#include "workspace.cuh"

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace {

constexpr unsigned long long kNone = ULLONG_MAX;
constexpr int kWarpsPerBlock = 8;
constexpr int kMaxBlocks = 4096;

/* The scan's answer, in the LSC_WS_VALIDATE slot. */
struct scan_result {
    unsigned long long bad;  /* row-major linear index (row * cols + col) of the first non-finite */
    unsigned long long zero; /* first all-zero row */
};

__global__ void scan_init(scan_result *r)
{
    r->bad = kNone;
    r->zero = kNone;
}

/* DT is the lsc_dtype: a constant, so lsc_load_f32's switch folds away. */
template <int DT>
__global__ void scan_rows(const char *data, size_t es, int64_t rows, int64_t cols, int64_t ld,
                          int cosine, scan_result *r)
{
    const int lane = threadIdx.x & 31;
    const int64_t warp = (int64_t)blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
    const int64_t nwarps = (int64_t)gridDim.x * kWarpsPerBlock;
    for (int64_t row = warp; row < rows; row += nwarps) {
        const char *p = data + (size_t)(row * ld) * es;
        int64_t first_bad = INT64_MAX; // this lane's first non-finite column (lanes go up)
        bool nonzero = false;
        for (int64_t c = lane; c < cols; c += 32) {
            const float v = lsc_load_f32(p, DT, c);
            if (!isfinite(v) && first_bad == INT64_MAX) first_bad = c;
            nonzero |= v != 0.0f; // NaN != 0: a row holding NaN is not a zero row
        }
        for (int off = 16; off > 0; off >>= 1) {
            const int64_t o = __shfl_down_sync(0xffffffffu, first_bad, off);
            first_bad = o < first_bad ? o : first_bad;
        }
        const bool any_nonzero = __any_sync(0xffffffffu, nonzero);
        if (lane == 0) {
            if (first_bad != INT64_MAX)
                atomicMin(&r->bad, (unsigned long long)(row * cols + first_bad));
            if (cosine && !any_nonzero) atomicMin(&r->zero, (unsigned long long)row);
        }
    }
}

/* The scan as an lsc_async_status: a non-finite element wins over a zero row, as on the host. */
__global__ void scan_to_status(const scan_result *r, int64_t cols, lsc_async_status *st)
{
    lsc_async_status s;
    s.reserved = 0;
    if (r->bad != kNone) {
        s.status = LSC_STATUS_INVALID_DATA;
        s.row = (int64_t)(r->bad / (unsigned long long)cols);
        s.col = (int64_t)(r->bad % (unsigned long long)cols);
    } else if (r->zero != kNone) {
        s.status = LSC_STATUS_INVALID_DATA;
        s.row = (int64_t)r->zero;
        s.col = -1;
    } else {
        s.status = LSC_STATUS_OK;
        s.row = -1;
        s.col = -1;
    }
    *st = s;
}

unsigned scan_blocks(int64_t rows)
{
    const int64_t b = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
    return (unsigned)(b < kMaxBlocks ? b : kMaxBlocks);
}

/* Enqueues the scan of m into a result slot; returns the slot's result pointer. */
lsc_status enqueue_scan(lsc_ctx *ctx, const lsc_matrix *m, int cosine, scan_result **out)
{
    void *p = nullptr;
    LSC_TRY(lsc_cuda_ws_reserve(ctx, LSC_WS_VALIDATE, sizeof(scan_result), "value check", &p));
    scan_result *r = static_cast<scan_result *>(p);
    cudaStream_t s = cuda_of(ctx)->stream;
    const char *d = static_cast<const char *>(m->data);
    const size_t es = lsc_elem_size((int)m->dtype);
    const unsigned nb = scan_blocks(m->rows);
    const unsigned nt = 32 * kWarpsPerBlock;
    scan_init<<<1, 1, 0, s>>>(r);
    switch (m->dtype) {
    case LSC_DTYPE_F32:
        scan_rows<0><<<nb, nt, 0, s>>>(d, es, m->rows, m->cols, m->ld, cosine, r);
        break;
    case LSC_DTYPE_F16:
        scan_rows<1><<<nb, nt, 0, s>>>(d, es, m->rows, m->cols, m->ld, cosine, r);
        break;
    case LSC_DTYPE_BF16:
        scan_rows<2><<<nb, nt, 0, s>>>(d, es, m->rows, m->cols, m->ld, cosine, r);
        break;
    case LSC_DTYPE_F64:
        scan_rows<3><<<nb, nt, 0, s>>>(d, es, m->rows, m->cols, m->ld, cosine, r);
        break;
    }
    LSC_CUDA_TRY(ctx, cudaGetLastError());
    *out = r;
    return LSC_STATUS_OK;
}

} // namespace

lsc_status lsc_cuda_check_pointer(lsc_ctx *ctx, const void *p, const char *name, int writes)
{
    cudaPointerAttributes a;
    // a pure query, enqueuing nothing; in case the runtime counts it among the calls a global or
    // thread-local stream capture forbids, this thread asks in relaxed mode and then restores
    // the caller's mode (what CCCL does for its own queries under capture)
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    const bool swapped = cudaThreadExchangeStreamCaptureMode(&mode) == cudaSuccess;
    cudaError_t e = cudaPointerGetAttributes(&a, p);
    if (swapped) cudaThreadExchangeStreamCaptureMode(&mode);
    else cudaGetLastError();
    if (e != cudaSuccess) {
        cudaGetLastError(); // older runtimes flag an unknown pointer as an error: not sticky
        a.type = cudaMemoryTypeUnregistered;
    }
    switch (a.type) {
    case cudaMemoryTypeDevice:
        LSC_CHECK(ctx, a.device == cuda_of(ctx)->device, LSC_STATUS_INVALID_ARGUMENT,
                  "%s: the pointer is memory of CUDA device %d, the context runs on device %d",
                  name, a.device, cuda_of(ctx)->device);
        return LSC_STATUS_OK;
    case cudaMemoryTypeManaged: return LSC_STATUS_OK;
    case cudaMemoryTypeHost:
        // pinned (page-locked) host memory: the device reaches it through unified addressing
        LSC_CHECK(ctx, a.devicePointer == p, LSC_STATUS_INVALID_ARGUMENT,
                  "%s: pinned host memory not mapped at the same address on the device "
                  "(allocate it with cudaHostAlloc / cudaMallocHost)",
                  name);
        return LSC_STATUS_OK;
    default: break;
    }
    return lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                         "%s: the pointer is ordinary (pageable) host memory, which the device "
                         "cannot %s; use device, managed or pinned memory",
                         name, writes ? "write" : "read");
}

lsc_status lsc_cuda_check_values(lsc_ctx *ctx, const lsc_matrix *m, const char *name, int cosine)
{
    LSC_TRY(lsc_cuda_check_pointer(ctx, m->data, name, 0));
    scan_result *d_r = nullptr;
    LSC_TRY(enqueue_scan(ctx, m, cosine, &d_r));
    cudaStream_t s = cuda_of(ctx)->stream;
    scan_result h;
    LSC_CUDA_TRY(ctx, cudaMemcpyAsync(&h, d_r, sizeof h, cudaMemcpyDeviceToHost, s));
    LSC_CUDA_TRY(ctx, cudaStreamSynchronize(s));
    if (h.bad != kNone) {
        const int64_t r = (int64_t)(h.bad / (unsigned long long)m->cols);
        const int64_t c = (int64_t)(h.bad % (unsigned long long)m->cols);
        const size_t es = lsc_elem_size((int)m->dtype);
        unsigned char raw[8] = {0};
        const char *at = static_cast<const char *>(m->data) + (size_t)(r * m->ld + c) * es;
        // Default: a DEVICE matrix may be pinned host memory (lsc_cuda_check_pointer allows it)
        LSC_CUDA_TRY(ctx, cudaMemcpyAsync(raw, at, es, cudaMemcpyDefault, s));
        LSC_CUDA_TRY(ctx, cudaStreamSynchronize(s));
        // the wording of host/validate.c's report_bad, word for word
        const float v = lsc_load_f32(raw, (int)m->dtype, 0);
        if (m->dtype == LSC_DTYPE_F64) {
            double dv;
            std::memcpy(&dv, raw, sizeof dv);
            if (std::isfinite(dv))
                return lsc_set_error(ctx, LSC_STATUS_INVALID_DATA,
                                     "%s: row %lld col %lld is %g, outside the float32 range", name,
                                     (long long)r, (long long)c, dv);
        }
        return lsc_set_error(ctx, LSC_STATUS_INVALID_DATA, "%s: row %lld col %lld is %s", name,
                             (long long)r, (long long)c, std::isnan(v) ? "NaN" : "Inf");
    }
    if (h.zero != kNone)
        return lsc_set_error(ctx, LSC_STATUS_INVALID_DATA,
                             "%s: row %lld is all zeros, which has no cosine distance", name,
                             (long long)h.zero);
    return LSC_STATUS_OK;
}

lsc_status lsc_cuda_check_async(lsc_ctx *ctx, const lsc_matrix *m, int cosine,
                                lsc_async_status *dev_status)
{
    if (!dev_status) {
        // nothing to check, but the slot is grown all the same: a later call of the same shapes
        // that passes a status, perhaps under graph capture, must find it (lsc.h, section 8)
        void *p = nullptr;
        return lsc_cuda_ws_reserve(ctx, LSC_WS_VALIDATE, sizeof(scan_result), "value check", &p);
    }
    scan_result *d_r = nullptr;
    LSC_TRY(enqueue_scan(ctx, m, cosine, &d_r));
    scan_to_status<<<1, 1, 0, cuda_of(ctx)->stream>>>(d_r, m->cols, dev_status);
    LSC_CUDA_TRY(ctx, cudaGetLastError());
    return LSC_STATUS_OK;
}
