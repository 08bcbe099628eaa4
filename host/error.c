/* lsc_set_error and lsc_progress: compiled into the core library and into the CUDA module (which
 * cannot see the core's hidden symbols). */
#include "internal.h"

#include <stdio.h>

lsc_status lsc_set_error(lsc_ctx *ctx, lsc_status status, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
    }
    return status;
}

lsc_status lsc_progress(lsc_ctx *ctx, double fraction)
{
    if (ctx->progress && ctx->progress(fraction < 0   ? 0
                                       : fraction > 1 ? 1
                                                      : fraction,
                                       ctx->progress_user) != 0)
        return lsc_set_error(ctx, LSC_STATUS_CANCELLED, "cancelled by the progress callback");
    return LSC_STATUS_OK;
}
