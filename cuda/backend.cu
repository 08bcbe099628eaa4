/* The CUDA backend module: device discovery, the context's device, stream and library handles,
 * and the function table. Operations not yet written for the GPU have NULL entries, which the
 * host turns into LSC_STATUS_NOT_SUPPORTED (and AUTO keeps choosing the CPU until every entry is
 * there). */
#include "cuda_internal.cuh"

#include <stdio.h>
#include <stdlib.h>

lsc_status lsc_cuda_fail(lsc_ctx *ctx, cudaError_t e, const char *what, const char *file, int line)
{
    cudaGetLastError(); // clear a non-sticky error so the context stays usable
    if (e == cudaErrorMemoryAllocation)
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of device memory: %s (%s:%d)", what,
                             file, line);
    return lsc_set_error(ctx, LSC_STATUS_DEVICE_ERROR, "%s: %s (%s) at %s:%d", what,
                         cudaGetErrorString(e), cudaGetErrorName(e), file, line);
}

lsc_status lsc_cublas_fail(lsc_ctx *ctx, cublasStatus_t e, const char *what, const char *file, int line)
{
    if (e == CUBLAS_STATUS_ALLOC_FAILED)
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "cuBLAS out of device memory: %s (%s:%d)",
                             what, file, line);
    return lsc_set_error(ctx, LSC_STATUS_DEVICE_ERROR, "%s: %s (%s) at %s:%d", what,
                         cublasGetStatusString(e), cublasGetStatusName(e), file, line);
}

lsc_status lsc_cusolver_fail(lsc_ctx *ctx, cusolverStatus_t e, const char *what, const char *file,
                             int line)
{
    if (e == CUSOLVER_STATUS_ALLOC_FAILED)
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "cuSOLVER out of device memory: %s (%s:%d)",
                             what, file, line);
    return lsc_set_error(ctx, LSC_STATUS_DEVICE_ERROR, "%s: cuSOLVER status %d at %s:%d", what, (int)e,
                         file, line);
}

namespace {

lsc_status cuda_fail(lsc_ctx *ctx, cudaError_t e, const char *what)
{
    return lsc_cuda_fail(ctx, e, what, __FILE__, __LINE__);
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
    // handles once per context; IEEE float32/float64 math (no TF32) so CPU and GPU agree
    cublasStatus_t be = cublasCreate(&s->blas);
    if (be != CUBLAS_STATUS_SUCCESS) return lsc_cublas_fail(ctx, be, "cublasCreate", __FILE__, __LINE__);
    be = cublasSetStream(s->blas, s->stream);
    if (be == CUBLAS_STATUS_SUCCESS) be = cublasSetMathMode(s->blas, CUBLAS_DEFAULT_MATH);
    if (be != CUBLAS_STATUS_SUCCESS) return lsc_cublas_fail(ctx, be, "cublasSetStream", __FILE__, __LINE__);
    cusolverStatus_t se = cusolverDnCreate(&s->solver);
    if (se == CUSOLVER_STATUS_SUCCESS) se = cusolverDnSetStream(s->solver, s->stream);
    if (se != CUSOLVER_STATUS_SUCCESS)
        return lsc_cusolver_fail(ctx, se, "cusolverDnCreate", __FILE__, __LINE__);
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
    lsc_cuda_ws_release(ctx); // the workspace's buffers, events and pinned staging
    if (s->solver) cusolverDnDestroy(s->solver);
    if (s->blas) cublasDestroy(s->blas);
    cudaStreamDestroy(s->own);
    free(s);
    ctx->backend_state = nullptr;
}

lsc_status cuda_set_stream(lsc_ctx *ctx, void *stream)
{
    cuda_state *s = static_cast<cuda_state *>(ctx->backend_state);
    const cudaStream_t old = s->stream;
    s->stream = stream ? static_cast<cudaStream_t>(stream) : s->own;
    if (old != s->stream) lsc_cuda_ws_stream_changed(ctx, old, s->stream);
    cublasStatus_t be = cublasSetStream(s->blas, s->stream);
    if (be != CUBLAS_STATUS_SUCCESS) return lsc_cublas_fail(ctx, be, "cublasSetStream", __FILE__, __LINE__);
    cusolverStatus_t se = cusolverDnSetStream(s->solver, s->stream);
    if (se != CUSOLVER_STATUS_SUCCESS)
        return lsc_cusolver_fail(ctx, se, "cusolverDnSetStream", __FILE__, __LINE__);
    return LSC_STATUS_OK;
}

lsc_backend_ops make_ops()
{
    lsc_backend_ops o = {};
    o.name = "cuda";
    o.init = cuda_init;
    o.fini = cuda_fini;
    o.set_stream = cuda_set_stream;
    o.spectrum = lsc_cuda_spectrum;
    o.acc_create = lsc_cuda_acc_create;
    o.acc_add = lsc_cuda_acc_add;
    o.acc_merge = lsc_cuda_acc_merge;
    o.acc_eigs = lsc_cuda_acc_eigs;
    o.acc_destroy = lsc_cuda_acc_destroy;
    o.spectrum_async = lsc_cuda_spectrum_async;
    o.check_values = lsc_cuda_check_values;
    o.distances = lsc_cuda_distances;
    o.pair_stats = lsc_cuda_pair_stats;
    o.knn = lsc_cuda_knn;
    o.reference_radii = lsc_cuda_reference_radii;
    o.prdc = lsc_cuda_prdc;
    o.prdc_async = lsc_cuda_prdc_async;
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
