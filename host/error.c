/* lsc_set_error: compiled into the core library and into the CUDA module (which cannot see
 * the core's hidden symbols). */
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
