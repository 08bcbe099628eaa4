/* Argument checks shared by every public entry point. Each returns OK or records a message. */
#ifndef LSC_VALIDATE_H
#define LSC_VALIDATE_H

#include "internal.h"
#include "../common/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Starts a public call: refuses a NULL or failed context, clears the last error. */
lsc_status lsc_begin(lsc_ctx *ctx);

/* Shape, dtype, memory space and size overflow of a matrix named `name` in messages. */
lsc_status lsc_check_matrix(lsc_ctx *ctx, const lsc_matrix *m, const char *name, int64_t min_rows);
/* Every element finite after conversion to float32 (host memory; the device backend checks its
 * own); for cosine also no all-zero row. The message names the row and the column. */
lsc_status lsc_check_values(lsc_ctx *ctx, const lsc_matrix *m, const char *name, int cosine);
/* Reads a caller's options struct of any published size into `dst`, which holds the defaults
 * (today's struct): the caller's bytes up to its size, the defaults past it; a larger size from a
 * newer header only when its unknown bytes are zero. `sizes` are the struct's published sizes
 * (common/abi.h), `init` its macro's name for the message. */
lsc_status lsc_read_opts(lsc_ctx *ctx, void *dst, const void *src, const size_t *sizes, int64_t n,
                         const char *what, const char *init);
/* The size field of a result struct in host memory, checked before any work. */
lsc_status lsc_check_result_size(lsc_ctx *ctx, const void *out, const size_t *sizes, int64_t n,
                                 const char *what, const char *init);

/* Both with the struct's size list by name: LSC_READ_OPTS(ctx, &d, opts, PAIR_OPTS, ...) */
#define LSC_READ_OPTS(ctx, dst, src, KIND, what, init)                                             \
    lsc_read_opts(ctx, dst, src, (const size_t[])LSC_##KIND##_SIZES,                               \
                  LSC_NSIZES((const size_t[])LSC_##KIND##_SIZES), what, init)
#define LSC_CHECK_RESULT(ctx, out, KIND, what, init)                                               \
    lsc_check_result_size(ctx, out, (const size_t[])LSC_##KIND##_SIZES,                            \
                          LSC_NSIZES((const size_t[])LSC_##KIND##_SIZES), what, init)
/* Writes a full result struct into the caller's (size checked on entry) */
#define LSC_STORE_RESULT(out, r, KIND)                                                             \
    lsc_result_store(out, r, (const size_t[])LSC_##KIND##_SIZES,                                   \
                     LSC_NSIZES((const size_t[])LSC_##KIND##_SIZES))

/* Metric allowed for kNN, PRDC and pair statistics (euclidean or cosine). */
lsc_status lsc_check_nn_metric(lsc_ctx *ctx, lsc_metric metric, const char *what);

#ifdef __cplusplus
}
#endif

#endif
