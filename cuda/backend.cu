/* The CUDA backend module: device discovery, the context's device, stream and library handles,
 * and the function table. Operations not yet written for the GPU have NULL entries, which the
 * host turns into LSC_STATUS_NOT_SUPPORTED (and AUTO keeps choosing the CPU until every entry is
 * there). */
#include "cuda_internal.cuh"

#include <exception>
#include <new>
#include <stdio.h>
#include <stdlib.h>

lsc_status lsc_cuda_fail(lsc_ctx *ctx, cudaError_t e, const char *what, const char *file, int line)
{
    cudaGetLastError(); // clear a non-sticky error so the context stays usable
    if (e == cudaErrorMemoryAllocation)
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of device memory: %s (%s:%d)",
                             what, file, line);
    return lsc_set_error(ctx, LSC_STATUS_DEVICE_ERROR, "%s: %s (%s) at %s:%d", what,
                         cudaGetErrorString(e), cudaGetErrorName(e), file, line);
}

lsc_status lsc_cublas_fail(lsc_ctx *ctx, cublasStatus_t e, const char *what, const char *file,
                           int line)
{
    if (e == CUBLAS_STATUS_ALLOC_FAILED)
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                             "cuBLAS out of device memory: %s (%s:%d)", what, file, line);
    return lsc_set_error(ctx, LSC_STATUS_DEVICE_ERROR, "%s: %s (%s) at %s:%d", what,
                         cublasGetStatusString(e), cublasGetStatusName(e), file, line);
}

lsc_status lsc_cusolver_fail(lsc_ctx *ctx, cusolverStatus_t e, const char *what, const char *file,
                             int line)
{
    if (e == CUSOLVER_STATUS_ALLOC_FAILED)
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                             "cuSOLVER out of device memory: %s (%s:%d)", what, file, line);
    return lsc_set_error(ctx, LSC_STATUS_DEVICE_ERROR, "%s: cuSOLVER status %d at %s:%d", what,
                         (int)e, file, line);
}

namespace {

lsc_status cuda_fail(lsc_ctx *ctx, cudaError_t e, const char *what)
{
    return lsc_cuda_fail(ctx, e, what, __FILE__, __LINE__);
}

void cuda_fini(lsc_ctx *ctx);

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
    // the host never calls fini after a failed init: a failure below releases what exists
    // handles once per context; IEEE float32/float64 math (no TF32) so CPU and GPU agree
    cublasStatus_t be = cublasCreate(&s->blas);
    if (be != CUBLAS_STATUS_SUCCESS) s->blas = nullptr;
    else be = cublasSetStream(s->blas, s->stream);
    if (be == CUBLAS_STATUS_SUCCESS) be = cublasSetMathMode(s->blas, CUBLAS_DEFAULT_MATH);
    if (be != CUBLAS_STATUS_SUCCESS) {
        const lsc_status st =
            lsc_cublas_fail(ctx, be, "cublasCreate / cublasSetStream", __FILE__, __LINE__);
        cuda_fini(ctx);
        return st;
    }
    cusolverStatus_t se = cusolverDnCreate(&s->solver);
    if (se != CUSOLVER_STATUS_SUCCESS) s->solver = nullptr;
    else se = cusolverDnSetStream(s->solver, s->stream);
    if (se != CUSOLVER_STATUS_SUCCESS) {
        const lsc_status st = lsc_cusolver_fail(ctx, se, "cusolverDnCreate", __FILE__, __LINE__);
        cuda_fini(ctx);
        return st;
    }
    snprintf(ctx->device_name, sizeof ctx->device_name, "cuda:%d %s (sm_%d%d, %.1f GiB)", s->device,
             prop.name, prop.major, prop.minor,
             static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    return LSC_STATUS_OK;
}

/* Makes device `dev` current for the life of the guard and restores the caller's device after.
 * A thread may hold contexts of several devices (each cuda_init leaves its own device current),
 * while kernels, cuBLAS / cuSOLVER handles and the stream-ordered allocator act on the current
 * device: every entry point therefore runs under one. No call at all when `dev` is already
 * current (the usual case, and the one graph capture sees). */
struct device_guard {
    int prev = -1;
    cudaError_t err = cudaSuccess;
    explicit device_guard(int dev)
    {
        int cur = -1;
        err = cudaGetDevice(&cur);
        if (err == cudaSuccess && cur != dev) {
            err = cudaSetDevice(dev);
            if (err == cudaSuccess) prev = cur;
        }
    }
    ~device_guard()
    {
        if (prev >= 0) cudaSetDevice(prev);
    }
};

template <auto F>
struct on_device;
template <typename... A, lsc_status (*F)(lsc_ctx *, A...)>
struct on_device<F> {
    static lsc_status call(lsc_ctx *ctx, A... a)
    {
        const device_guard g(cuda_of(ctx)->device);
        if (g.err != cudaSuccess)
            return lsc_cuda_fail(ctx, g.err, "cudaSetDevice", __FILE__, __LINE__);
        // no C++ exception leaves the module: one would unwind through the C library and end the
        // embedding process (a Python interpreter); the module's own code allocates with malloc
        // and cudaMalloc, so this is the last guard for what the toolkit's headers may throw
        try {
            return F(ctx, a...);
        } catch (const std::bad_alloc &) {
            return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                 "out of host memory in the CUDA module");
        } catch (const std::exception &e) {
            return lsc_set_error(ctx, LSC_STATUS_INTERNAL, "the CUDA module failed: %s", e.what());
        } catch (...) {
            return lsc_set_error(ctx, LSC_STATUS_INTERNAL,
                                 "the CUDA module failed (an unknown exception)");
        }
    }
};

void cuda_fini(lsc_ctx *ctx)
{
    cuda_state *s = static_cast<cuda_state *>(ctx->backend_state);
    if (!s) return;
    const device_guard g(s->device);
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
    if (be != CUBLAS_STATUS_SUCCESS)
        return lsc_cublas_fail(ctx, be, "cublasSetStream", __FILE__, __LINE__);
    cusolverStatus_t se = cusolverDnSetStream(s->solver, s->stream);
    if (se != CUSOLVER_STATUS_SUCCESS)
        return lsc_cusolver_fail(ctx, se, "cusolverDnSetStream", __FILE__, __LINE__);
    return LSC_STATUS_OK;
}

/* Everything lsc_capability names: device memory in and out, both asynchronous forms, device
 * references. */
int cuda_supports(const lsc_ctx *, int what)
{
    return what == LSC_CAP_DEVICE_MEMORY || what == LSC_CAP_SPECTRUM_ASYNC ||
           what == LSC_CAP_PRDC_ASYNC || what == LSC_CAP_DEVICE_REFERENCE;
}

lsc_backend_ops make_ops()
{
    lsc_backend_ops o = {};
    o.name = "cuda";
    o.init = cuda_init;
    o.fini = cuda_fini;
    o.set_stream = on_device<cuda_set_stream>::call;
    o.spectrum = on_device<lsc_cuda_spectrum>::call;
    o.acc_create = on_device<lsc_cuda_acc_create>::call;
    o.acc_add = on_device<lsc_cuda_acc_add>::call;
    o.acc_merge = on_device<lsc_cuda_acc_merge>::call;
    o.acc_eigs = on_device<lsc_cuda_acc_eigs>::call;
    o.acc_destroy = lsc_cuda_acc_destroy; // frees on the accumulator's own device
    o.spectrum_async = on_device<lsc_cuda_spectrum_async>::call;
    o.check_values = on_device<lsc_cuda_check_values>::call;
    o.distances = on_device<lsc_cuda_distances>::call;
    o.pair_stats = on_device<lsc_cuda_pair_stats>::call;
    o.knn = on_device<lsc_cuda_knn>::call;
    o.reference_radii = on_device<lsc_cuda_reference_radii>::call;
    o.prdc = on_device<lsc_cuda_prdc>::call;
    o.prdc_async = on_device<lsc_cuda_prdc_async>::call;
    o.cov_create = on_device<lsc_cuda_cov_create>::call;
    o.cov_stats = on_device<lsc_cuda_cov_stats>::call;
    o.kernel_sums = on_device<lsc_cuda_kernel_sums>::call;
    o.supports = cuda_supports;
    o.reference_place = on_device<lsc_cuda_reference_place>::call;
    o.acc_export = on_device<lsc_cuda_acc_export>::call;
    o.acc_import = on_device<lsc_cuda_acc_import>::call;
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
