/* Shared by the CUDA backend's files: its per-context state and the status-checking macros that
 * turn every CUDA, cuBLAS and cuSOLVER failure into an lsc status with a message. */
#pragma once

#include "internal.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

struct cuda_workspace; // cuda/workspace.cuh: grow-only scratch, created on first use

struct cuda_state {
    int device;
    cudaStream_t own;    // created by the context when the caller gave none
    cudaStream_t stream; // the stream work is enqueued on
    cublasHandle_t blas;
    cusolverDnHandle_t solver;
    cuda_workspace *ws; // NULL until first used (cuda/workspace.cu); freed by cuda_fini
};

static inline cuda_state *cuda_of(lsc_ctx *ctx)
{
    return static_cast<cuda_state *>(ctx->backend_state);
}

// Host memory freed on every return path (results staged from the device).
struct host_buf {
    void *p = nullptr;
    ~host_buf() { free(p); }
};

lsc_status lsc_cuda_fail(lsc_ctx *ctx, cudaError_t e, const char *what, const char *file, int line);
lsc_status lsc_cublas_fail(lsc_ctx *ctx, cublasStatus_t e, const char *what, const char *file,
                           int line);
lsc_status lsc_cusolver_fail(lsc_ctx *ctx, cusolverStatus_t e, const char *what, const char *file,
                             int line);

#define LSC_CUDA_TRY(ctx, expr)                                                                    \
    do {                                                                                           \
        cudaError_t lsc_e_ = (expr);                                                               \
        if (lsc_e_ != cudaSuccess) return lsc_cuda_fail((ctx), lsc_e_, #expr, __FILE__, __LINE__); \
    } while (0)
#define LSC_CUBLAS_TRY(ctx, expr)                                                                  \
    do {                                                                                           \
        cublasStatus_t lsc_e_ = (expr);                                                            \
        if (lsc_e_ != CUBLAS_STATUS_SUCCESS)                                                       \
            return lsc_cublas_fail((ctx), lsc_e_, #expr, __FILE__, __LINE__);                      \
    } while (0)
#define LSC_CUSOLVER_TRY(ctx, expr)                                                                \
    do {                                                                                           \
        cusolverStatus_t lsc_e_ = (expr);                                                          \
        if (lsc_e_ != CUSOLVER_STATUS_SUCCESS)                                                     \
            return lsc_cusolver_fail((ctx), lsc_e_, #expr, __FILE__, __LINE__);                    \
    } while (0)

/* Sum of v over a block of exactly Threads threads (a power of two); every thread gets it.
 * A shared-memory tree in a fixed order, so the figures do not depend on scheduling; `red` holds
 * Threads values and all threads must call it. The spectrum's and the kernel sums' row
 * reductions use it (tiles.cuh's ct_block_sum, warp shuffles, serves the tile kernels: moving
 * these to it would change the spectrum's figures in their last bits). */
template <int Threads>
__device__ __forceinline__ double lsc_block_sum(double v, double *red)
{
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = Threads / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    const double t = red[0];
    __syncthreads();
    return t;
}

/* Backend entry points (one file per metric family). */
lsc_status lsc_cuda_spectrum(lsc_ctx *ctx, const lsc_matrix *x, lsc_spectrum_eigs *eigs);
lsc_status lsc_cuda_acc_create(lsc_ctx *ctx, int64_t cols, void **state);
lsc_status lsc_cuda_acc_add(lsc_ctx *ctx, void *state, const lsc_matrix *batch);
lsc_status lsc_cuda_acc_merge(lsc_ctx *ctx, void *into, const void *from);
lsc_status lsc_cuda_acc_eigs(lsc_ctx *ctx, const void *state, lsc_spectrum_eigs *eigs);
void lsc_cuda_acc_destroy(void *state);
lsc_status lsc_cuda_acc_export(lsc_ctx *ctx, const void *state, lsc_acc_state *out);
lsc_status lsc_cuda_acc_import(lsc_ctx *ctx, void *state, const lsc_acc_state *in);
lsc_status lsc_cuda_cov_create(lsc_ctx *ctx, int64_t cols, void **state);
lsc_status lsc_cuda_cov_stats(lsc_ctx *ctx, const void *state, double *mu, double *sigma);
lsc_status lsc_cuda_kernel_sums(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *xs, int64_t nx,
                                const lsc_matrix *y, const int64_t *ys, int64_t ny, int kind,
                                double a, double *sums);
/* Asynchronous spectrum (lsc.h section 8): device input, figures computed on the device into
 * `out`, the value check into `status` (may be NULL); enqueues only (spectrum.cu). */
lsc_status lsc_cuda_spectrum_async(lsc_ctx *ctx, const lsc_matrix *x, double active_threshold,
                                   lsc_spectrum_result *out, lsc_async_status *status);

/* Value checks of device memory (validate.cu). */
/* The `check_values` entry: INVALID_DATA worded exactly as host/validate.c words it for host
 * memory ("x: row 17 col 3 is NaN", "... is 1e+39, outside the float32 range", "x: row 4 is all
 * zeros, which has no cosine distance"), the first offending element in row-major order;
 * INVALID_ARGUMENT if m->data is not memory the device can read. Waits for its own 16-byte
 * result on the context's stream. */
lsc_status lsc_cuda_check_values(lsc_ctx *ctx, const lsc_matrix *m, const char *name, int cosine);
/* The same scan, enqueued on the context's stream, writing its verdict to `dev_status`
 * (device-writable memory: device, managed or pinned) without any host synchronisation:
 * {LSC_STATUS_OK, 0, -1, -1}, or {LSC_STATUS_INVALID_DATA, 0, row, col} for the first NaN/Inf
 * (row-major order; a float64 value beyond the float32 range counts), or with `cosine` and no
 * NaN/Inf {LSC_STATUS_INVALID_DATA, 0, row, -1} for the first all-zero row. It always writes the
 * whole struct (a later check overwrites an earlier one). `dev_status` NULL: nothing is enqueued.
 * Scratch is 256 bytes in the LSC_WS_VALIDATE slot: once that exists (after any earlier check on
 * this context) it neither allocates nor synchronises, so it is safe under CUDA graph capture.
 * Does not check m->data's memory kind: call lsc_cuda_check_pointer first. Returns a launch
 * error, OUT_OF_MEMORY, or NOT_SUPPORTED when the slot would have to grow during capture. */
lsc_status lsc_cuda_check_async(lsc_ctx *ctx, const lsc_matrix *m, int cosine,
                                lsc_async_status *dev_status);
/* INVALID_ARGUMENT naming `name` unless `p` is memory the device can reach: device memory of the
 * context's device, managed memory, or pinned host memory mapped at the same address; pageable
 * host memory is refused (`writes` only chooses the wording). One cudaPointerGetAttributes,
 * asked in relaxed capture mode: no synchronisation, no allocation, legal during capture. */
lsc_status lsc_cuda_check_pointer(lsc_ctx *ctx, const void *p, const char *name, int writes);

/* Distance family (distances.cu, knn.cu, prdc.cu, pairs.cu). */
lsc_status lsc_cuda_distances(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                              lsc_metric metric, float *out, int64_t ld_out);
lsc_status lsc_cuda_knn(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base, int64_t k,
                        const lsc_knn_opts *opts, float *dist, int64_t *idx);
lsc_status lsc_cuda_reference_radii(lsc_ctx *ctx, lsc_reference *ref);
/* Places a fresh reference's rows and radii on the context's device (ref->device_data). */
lsc_status lsc_cuda_reference_place(lsc_ctx *ctx, lsc_reference *ref);
lsc_status lsc_cuda_prdc(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                         lsc_prdc_result *out, unsigned char *real_flags, int64_t *fake_counts,
                         const lsc_prdc_near *near);
lsc_status lsc_cuda_prdc_async(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                               lsc_prdc_result *out, lsc_async_status *status);
lsc_status lsc_cuda_pair_stats(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *subset,
                               int64_t n_used, const lsc_pair_opts *opts, lsc_pair_result *out,
                               int64_t *histogram, lsc_pair *near_dups);
/* Workspace lifetime hooks (workspace.cu), called by backend.cu. */
void lsc_cuda_ws_release(lsc_ctx *ctx);
void lsc_cuda_ws_stream_changed(lsc_ctx *ctx, cudaStream_t old_stream, cudaStream_t new_stream);
