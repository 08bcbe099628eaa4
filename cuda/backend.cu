/* The CUDA backend module: device discovery, the context's device and stream. The operations
 * themselves are the CUDA backend issue's work; until they land their table entries are NULL,
 * which the host turns into LSC_STATUS_NOT_SUPPORTED (and AUTO keeps choosing the CPU). */
#include "internal.h"

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

namespace {

struct cuda_state {
    int device;
    cudaStream_t own;   // created by the context when the caller gave none
    cudaStream_t stream; // the stream work is enqueued on
};

lsc_status cuda_fail(lsc_ctx *ctx, cudaError_t e, const char *what)
{
    return lsc_set_error(ctx, LSC_STATUS_DEVICE_ERROR, "%s: %s (%s)", what, cudaGetErrorString(e),
                         cudaGetErrorName(e));
}

lsc_status cuda_init(lsc_ctx *ctx)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) return cuda_fail(ctx, e, "cudaGetDeviceCount");
    if (ctx->params.device >= count)
        return lsc_set_error(ctx, LSC_STATUS_BACKEND_UNAVAILABLE,
                             "CUDA device %d requested, %d present", ctx->params.device, count);
    e = cudaSetDevice(ctx->params.device);
    if (e != cudaSuccess) return cuda_fail(ctx, e, "cudaSetDevice");
    cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, ctx->params.device);
    if (e != cudaSuccess) return cuda_fail(ctx, e, "cudaGetDeviceProperties");
    cuda_state *s = static_cast<cuda_state *>(calloc(1, sizeof(cuda_state)));
    if (!s) return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory");
    s->device = ctx->params.device;
    // never the legacy default stream: it would synchronise with every other stream
    e = cudaStreamCreateWithFlags(&s->own, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        free(s);
        return cuda_fail(ctx, e, "cudaStreamCreateWithFlags");
    }
    s->stream = ctx->params.stream ? static_cast<cudaStream_t>(ctx->params.stream) : s->own;
    ctx->backend_state = s;
    snprintf(ctx->device_name, sizeof ctx->device_name, "cuda:%d %s (sm_%d%d, %.1f GiB)",
             s->device, prop.name, prop.major, prop.minor,
             static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    return LSC_STATUS_OK;
}

void cuda_fini(lsc_ctx *ctx)
{
    cuda_state *s = static_cast<cuda_state *>(ctx->backend_state);
    if (!s) return;
    // wait for our own work only: the caller's other streams keep running
    cudaStreamSynchronize(s->stream);
    cudaStreamDestroy(s->own);
    free(s);
    ctx->backend_state = nullptr;
}

lsc_status cuda_set_stream(lsc_ctx *ctx, void *stream)
{
    cuda_state *s = static_cast<cuda_state *>(ctx->backend_state);
    s->stream = stream ? static_cast<cudaStream_t>(stream) : s->own;
    return LSC_STATUS_OK;
}

lsc_backend_ops make_ops()
{
    lsc_backend_ops o = {};
    o.name = "cuda";
    o.init = cuda_init;
    o.fini = cuda_fini;
    o.set_stream = cuda_set_stream;
    return o;
}

const lsc_backend_ops cuda_ops = make_ops();

} // namespace

extern "C" __attribute__((visibility("default"))) const lsc_backend_ops *
lsc_cuda_backend_entry(int abi, char *why, size_t why_len)
{
    if (abi != LSC_CUDA_ABI) {
        snprintf(why, why_len, "the CUDA module speaks ABI %d, the core %d: mismatched builds",
                 LSC_CUDA_ABI, abi);
        return nullptr;
    }
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(why, why_len, "no usable CUDA driver or device: %s (%s)", cudaGetErrorString(e),
                 cudaGetErrorName(e));
        return nullptr;
    }
    if (count == 0) {
        snprintf(why, why_len, "no CUDA device present");
        return nullptr;
    }
    return &cuda_ops;
}
