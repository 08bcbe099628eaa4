/* What the streaming accumulators (lsc_spectrum_acc in api.c, lsc_fd_acc in distribution.c)
 * share: the backend state, its width and row count, and the argument checks and bookkeeping
 * of add, merge and destroy, written once so that both refuse the same things the same way. */
#ifndef LSC_ACCUMULATOR_H
#define LSC_ACCUMULATOR_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lsc_acc_core {
    const lsc_backend_ops *ops; /* the backend that made `state`: only its contexts may use it */
    void *state;                /* the backend's accumulator (acc_create or cov_create) */
    int64_t cols;
    int64_t rows; /* rows added or merged so far */
} lsc_acc_core;

/* Makes the backend state with `create` (ctx->ops->acc_create or cov_create, NULL: NOT_SUPPORTED
 * naming `op`) for `cols` columns; checks that the backend can add to and destroy it. */
lsc_status lsc_acc_core_init(lsc_ctx *ctx, lsc_acc_core *acc, int64_t cols,
                             lsc_status (*create)(lsc_ctx *, int64_t, void **), const char *op);
/* INVALID_ARGUMENT naming `name` when acc is NULL or was made by another backend than ctx's. */
lsc_status lsc_acc_core_check(lsc_ctx *ctx, const lsc_acc_core *acc, const char *name);
/* Adds a checked matrix `batch` (named `name` in messages): same width, row count in range,
 * finite values, then the backend's acc_add. */
lsc_status lsc_acc_core_add(lsc_ctx *ctx, lsc_acc_core *acc, const lsc_matrix *batch,
                            const char *name);
/* Merges `from` into `into` (both checked): distinct, same width, row count in range; nothing to
 * do for an empty `from`. */
lsc_status lsc_acc_core_merge(lsc_ctx *ctx, lsc_acc_core *into, const lsc_acc_core *from);
/* Frees the backend state (the caller frees the struct holding `acc`). */
void lsc_acc_core_fini(lsc_acc_core *acc);

#ifdef __cplusplus
}
#endif

#endif
