/* The accumulators' shared checks and bookkeeping (host/accumulator.h). */
#include "accumulator.h"
#include "validate.h"

lsc_status lsc_acc_core_init(lsc_ctx *ctx, lsc_acc_core *acc, int64_t cols,
                             lsc_status (*create)(lsc_ctx *, int64_t, void **), const char *op)
{
    LSC_CHECK(ctx, create && ctx->ops->acc_add && ctx->ops->acc_destroy, LSC_STATUS_NOT_SUPPORTED,
              "%s is not implemented by the %s backend",
              !create              ? op
              : !ctx->ops->acc_add ? "acc_add"
                                   : "acc_destroy",
              ctx->ops->name);
    LSC_TRY(create(ctx, cols, &acc->state));
    acc->ops = ctx->ops;
    acc->cols = cols;
    acc->rows = 0;
    return LSC_STATUS_OK;
}

lsc_status lsc_acc_core_check(lsc_ctx *ctx, const lsc_acc_core *acc, const char *name)
{
    LSC_CHECK(ctx, acc, LSC_STATUS_INVALID_ARGUMENT, "%s: accumulator is NULL", name);
    LSC_CHECK(ctx, acc->ops == ctx->ops, LSC_STATUS_INVALID_ARGUMENT,
              "%s: accumulator belongs to the %s backend, the context runs on %s", name,
              acc->ops->name, ctx->ops->name);
    return LSC_STATUS_OK;
}

lsc_status lsc_acc_core_add(lsc_ctx *ctx, lsc_acc_core *acc, const lsc_matrix *batch,
                            const char *name)
{
    LSC_CHECK(ctx, batch->cols == acc->cols, LSC_STATUS_INVALID_ARGUMENT,
              "%s: %lld cols, the accumulator has %lld", name, (long long)batch->cols,
              (long long)acc->cols);
    LSC_CHECK(ctx, acc->rows <= INT64_MAX - batch->rows, LSC_STATUS_OVERFLOW,
              "accumulator row count overflows");
    LSC_TRY(lsc_check_values(ctx, batch, name, 0));
    LSC_TRY(acc->ops->acc_add(ctx, acc->state, batch));
    acc->rows += batch->rows;
    return LSC_STATUS_OK;
}

lsc_status lsc_acc_core_merge(lsc_ctx *ctx, lsc_acc_core *into, const lsc_acc_core *from)
{
    LSC_CHECK(ctx, into != from, LSC_STATUS_INVALID_ARGUMENT,
              "into and from are the same accumulator");
    LSC_CHECK(ctx, into->cols == from->cols, LSC_STATUS_INVALID_ARGUMENT,
              "from has %lld cols, into has %lld", (long long)from->cols, (long long)into->cols);
    LSC_CHECK(ctx, into->rows <= INT64_MAX - from->rows, LSC_STATUS_OVERFLOW,
              "accumulator row count overflows");
    if (from->rows == 0) return LSC_STATUS_OK;
    LSC_CHECK(ctx, into->ops->acc_merge, LSC_STATUS_NOT_SUPPORTED,
              "acc_merge is not implemented by the %s backend", into->ops->name);
    LSC_TRY(into->ops->acc_merge(ctx, into->state, from->state));
    into->rows += from->rows;
    return LSC_STATUS_OK;
}

void lsc_acc_core_fini(lsc_acc_core *acc)
{
    if (acc->state) acc->ops->acc_destroy(acc->state);
    acc->state = NULL;
}
