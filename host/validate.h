/* Argument checks shared by every public entry point. Each returns OK or records a message. */
#ifndef LSC_VALIDATE_H
#define LSC_VALIDATE_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Starts a public call: refuses a NULL or failed context, clears the last error. */
lsc_status lsc_begin(lsc_ctx *ctx);

/* Shape, dtype, memory space and size overflow of a matrix named `name` in messages. */
lsc_status lsc_check_matrix(lsc_ctx *ctx, const lsc_matrix *m, const char *name,
                            int64_t min_rows);
/* Every element finite after conversion to float32 (host memory; the device backend checks its
 * own); for cosine also no all-zero row. The message names the row and the column. */
lsc_status lsc_check_values(lsc_ctx *ctx, const lsc_matrix *m, const char *name, int cosine);
/* The options struct's size field. */
lsc_status lsc_check_opts_size(lsc_ctx *ctx, size_t got, size_t want, const char *what);
/* Metric allowed for kNN, PRDC and pair statistics (euclidean or cosine). */
lsc_status lsc_check_nn_metric(lsc_ctx *ctx, lsc_metric metric, const char *what);

#ifdef __cplusplus
}
#endif

#endif
