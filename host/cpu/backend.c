/* The CPU backend's function table: the one registration point of its entry points. */
#include "tiles.h"

#include <stdio.h>
#include <string.h>
#include <cblas.h>

static lsc_status cpu_init(lsc_ctx *ctx)
{
#if defined(OPENBLAS_VERSION)
    /* OPENBLAS_VERSION is " OpenBLAS x.y.z ": drop its surrounding blanks */
    const char *v = OPENBLAS_VERSION;
    while (*v == ' ') v++;
    int len = (int)strlen(v);
    while (len > 0 && v[len - 1] == ' ') len--;
    snprintf(ctx->device_name, sizeof ctx->device_name, "cpu: %d threads, %.*s%s", ctx->threads,
             len, v, cpu_blas_private() ? " (tiles on lsc's own one-thread copy)" : "");
#else
    snprintf(ctx->device_name, sizeof ctx->device_name, "cpu: %d threads", ctx->threads);
#endif
    return LSC_STATUS_OK;
}

static const lsc_backend_ops cpu_ops = {
    "cpu",
    cpu_init,
    NULL, /* fini: nothing to release */
    NULL, /* set_stream: streams mean nothing here */
    lsc_cpu_spectrum,
    lsc_cpu_acc_create,
    lsc_cpu_acc_add,
    lsc_cpu_acc_merge,
    lsc_cpu_acc_eigs,
    lsc_cpu_acc_destroy,
    lsc_cpu_distances,
    lsc_cpu_pair_stats,
    lsc_cpu_knn,
    lsc_cpu_reference_radii,
    lsc_cpu_prdc,
    NULL, /* check_values: host memory only, checked by the host */
    NULL, /* spectrum_async: the asynchronous forms are for the GPU */
    NULL, /* prdc_async */
    lsc_cpu_cov_create,
    lsc_cpu_cov_stats,
    lsc_cpu_kernel_sums,
    NULL, /* supports: host memory only, no asynchronous forms, no device references */
    NULL, /* reference_place */
    lsc_cpu_acc_export,
    lsc_cpu_acc_import,
};

const lsc_backend_ops *lsc_cpu_backend_ops(void) { return &cpu_ops; }
