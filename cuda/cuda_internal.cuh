/* Shared by the CUDA backend's files: its per-context state and the status-checking macros that
 * turn every CUDA, cuBLAS and cuSOLVER failure into an lsc status with a message. */
#pragma once

#include "internal.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

struct cuda_state {
    int device;
    cudaStream_t own;    // created by the context when the caller gave none
    cudaStream_t stream; // the stream work is enqueued on
    cublasHandle_t blas;
    cusolverDnHandle_t solver;
};

static inline cuda_state *cuda_of(lsc_ctx *ctx) { return static_cast<cuda_state *>(ctx->backend_state); }

lsc_status lsc_cuda_fail(lsc_ctx *ctx, cudaError_t e, const char *what, const char *file, int line);
lsc_status lsc_cublas_fail(lsc_ctx *ctx, cublasStatus_t e, const char *what, const char *file, int line);
lsc_status lsc_cusolver_fail(lsc_ctx *ctx, cusolverStatus_t e, const char *what, const char *file,
                             int line);

#define LSC_CUDA_TRY(ctx, expr)                                                                \
    do {                                                                                       \
        cudaError_t lsc_e_ = (expr);                                                           \
        if (lsc_e_ != cudaSuccess) return lsc_cuda_fail((ctx), lsc_e_, #expr, __FILE__, __LINE__); \
    } while (0)
#define LSC_CUBLAS_TRY(ctx, expr)                                                              \
    do {                                                                                       \
        cublasStatus_t lsc_e_ = (expr);                                                        \
        if (lsc_e_ != CUBLAS_STATUS_SUCCESS)                                                   \
            return lsc_cublas_fail((ctx), lsc_e_, #expr, __FILE__, __LINE__);                  \
    } while (0)
#define LSC_CUSOLVER_TRY(ctx, expr)                                                            \
    do {                                                                                       \
        cusolverStatus_t lsc_e_ = (expr);                                                      \
        if (lsc_e_ != CUSOLVER_STATUS_SUCCESS)                                                 \
            return lsc_cusolver_fail((ctx), lsc_e_, #expr, __FILE__, __LINE__);                \
    } while (0)

/* Backend entry points (one file per metric family). */
lsc_status lsc_cuda_spectrum(lsc_ctx *ctx, const lsc_matrix *x, lsc_spectrum_eigs *eigs);
lsc_status lsc_cuda_acc_create(lsc_ctx *ctx, int64_t cols, void **state);
lsc_status lsc_cuda_acc_add(lsc_ctx *ctx, void *state, const lsc_matrix *batch);
lsc_status lsc_cuda_acc_merge(lsc_ctx *ctx, void *into, const void *from);
lsc_status lsc_cuda_acc_eigs(lsc_ctx *ctx, const void *state, lsc_spectrum_eigs *eigs);
void lsc_cuda_acc_destroy(void *state);
