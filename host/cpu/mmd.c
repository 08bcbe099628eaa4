/* Kernel sums of KID and RBF MMD on the CPU (docs/METRICS.md sections 10.2-10.4): float32 GEMM
 * tiles of rows x rows, the kernel applied in float64 (common/mmd_rules.h) and summed per tile
 * pair, never an N x N matrix. Each tile pair's sum is kept in its own slot and the slots are
 * added in a fixed order, so the figures do not depend on the thread count or on timing. */
#include "tiles.h"
#include "../../common/mmd_rules.h"

#include <stdlib.h>
#include <string.h>

/* rows a tile: OpenBLAS runs a single-threaded SGEMM of 256 x 256 x 2048 at a quarter of the
 * speed of 512 x 512 x 2048 (bench/RESULTS.md, KID against torchmetrics) */
#define MMD_TILE 512

/* One tile pair: which sums it adds to and its row blocks. */
typedef struct mmd_job {
    int which;      /* LSC_KSUM_XX, _YY or _XY */
    int64_t bi, bj; /* block indices in the first and second set */
} mmd_job;

typedef struct mmd_side {
    const lsc_matrix *m;
    const int64_t *rows; /* NULL: 0..n-1 */
    int64_t n;
} mmd_side;

/* Rows [r0, r0 + nr) of a side as dense float32 (ld d), with their float64 squared norms. */
static void load_rows(const mmd_side *s, int64_t r0, int64_t nr, int64_t d, float *t, double *sq)
{
    const size_t es = lsc_dtype_size(s->m->dtype);
    for (int64_t i = 0; i < nr; i++) {
        const int64_t r = s->rows ? s->rows[r0 + i] : r0 + i;
        const char *row = (const char *)s->m->data + (size_t)(r * s->m->ld) * es;
        double q = 0.0;
        for (int64_t k = 0; k < d; k++) {
            const float v = lsc_load_f32(row, (int)s->m->dtype, k);
            t[i * d + k] = v;
            q += (double)v * (double)v;
        }
        sq[i] = q;
    }
}

lsc_status lsc_cpu_kernel_sums(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *xs, int64_t nx,
                               const lsc_matrix *y, const int64_t *ys, int64_t ny, int kind,
                               double a, double *sums)
{
    const int64_t d = x->cols;
    const mmd_side side[2] = {{x, xs, nx}, {y, ys, ny}};
    const int nt = ctx->threads;
    /* per thread: two row tiles, their norms and the product */
    int64_t tile = MMD_TILE;
    while (tile > 1 && (size_t)nt * ((size_t)tile * (size_t)d * 2 * sizeof(float) +
                                     (size_t)tile * (size_t)tile * sizeof(float) +
                                     (size_t)tile * 2 * sizeof(double)) >
                           ctx->workspace_limit)
        tile /= 2;
    const size_t per = (size_t)tile * (size_t)d * 2 + (size_t)tile * (size_t)tile;
    LSC_CHECK(ctx,
              (size_t)nt * (per * sizeof(float) + (size_t)tile * 2 * sizeof(double)) <=
                  ctx->workspace_limit,
              LSC_STATUS_WORKSPACE_LIMIT,
              "workspace limit %zu bytes is too small for one row of %lld columns per thread",
              ctx->workspace_limit, (long long)d);
    const int64_t bx = (nx + tile - 1) / tile, by = (ny + tile - 1) / tile;
    const int64_t njobs = bx * (bx + 1) / 2 + by * (by + 1) / 2 + bx * by;
    mmd_job *jobs = (mmd_job *)lsc_malloc(ctx, (size_t)njobs * sizeof *jobs, "kernel tile list");
    double *part =
        jobs ? (double *)lsc_calloc(ctx, (size_t)njobs * 2, sizeof(double), "kernel tile sums")
             : NULL;
    float *buf =
        part ? (float *)lsc_malloc(ctx, (size_t)nt * per * sizeof(float), "kernel tiles") : NULL;
    double *sqbuf = buf ? (double *)lsc_malloc(ctx, (size_t)nt * (size_t)tile * 2 * sizeof(double),
                                               "kernel tile norms")
                        : NULL;
    if (!sqbuf) {
        free(jobs);
        free(part);
        free(buf);
        return LSC_STATUS_OUT_OF_MEMORY;
    }
    int64_t j = 0;
    for (int w = 0; w < 2; w++) {
        const int64_t nb = w ? by : bx;
        for (int64_t bi = 0; bi < nb; bi++)
            for (int64_t bj = bi; bj < nb; bj++)
                jobs[j++] = (mmd_job){w ? LSC_KSUM_YY : LSC_KSUM_XX, bi, bj};
    }
    for (int64_t bi = 0; bi < bx; bi++)
        for (int64_t bj = 0; bj < by; bj++) jobs[j++] = (mmd_job){LSC_KSUM_XY, bi, bj};
    /* one single-threaded GEMM per thread and tile pair (as the distance kernels: tiles.h) */
    const int blas_prev = cpu_blas_single_enter();
#pragma omp parallel num_threads(nt)
    {
        const int tid = cpu_tid();
        float *ta = buf + (size_t)tid * per, *tb = ta + (size_t)tile * (size_t)d,
              *c = tb + (size_t)tile * (size_t)d;
        double *sa = sqbuf + (size_t)tid * (size_t)tile * 2, *sb = sa + tile;
#pragma omp for schedule(dynamic, 1)
        for (int64_t q = 0; q < njobs; q++) {
            const mmd_job jb = jobs[q];
            const mmd_side *s1 = &side[jb.which == LSC_KSUM_YY];
            const mmd_side *s2 = &side[jb.which != LSC_KSUM_XX];
            const int64_t r1 = jb.bi * tile, r2 = jb.bj * tile;
            const int64_t n1 = s1->n - r1 < tile ? s1->n - r1 : tile;
            const int64_t n2 = s2->n - r2 < tile ? s2->n - r2 : tile;
            load_rows(s1, r1, n1, d, ta, sa);
            load_rows(s2, r2, n2, d, tb, sb);
            cpu_gemm_nt(n1, n2, d, ta, tb, c);
            /* the same set: pairs i < j of a diagonal block, every pair of the others, twice
             * (the sum runs over i != j) */
            const int diag = jb.which != LSC_KSUM_XY && jb.bi == jb.bj;
            double acc = 0.0, mx = 0.0;
            for (int64_t i = 0; i < n1; i++) {
                double row = 0.0;
                for (int64_t k = diag ? i + 1 : 0; k < n2; k++)
                    row += lsc_kernel_value(kind, a, (double)c[i * n2 + k], sa[i], sb[k]);
                acc += row;
                if (sa[i] > mx) mx = sa[i];
            }
            for (int64_t k = 0; k < n2; k++)
                if (sb[k] > mx) mx = sb[k];
            part[2 * q] = jb.which == LSC_KSUM_XY ? acc : 2.0 * acc;
            part[2 * q + 1] = mx;
        }
    }
    cpu_blas_single_leave(blas_prev);
    for (int k = 0; k < LSC_KSUM_N; k++) sums[k] = 0.0;
    for (int64_t q = 0; q < njobs; q++) {
        sums[jobs[q].which] += part[2 * q];
        if (part[2 * q + 1] > sums[LSC_KSUM_MAXSQ]) sums[LSC_KSUM_MAXSQ] = part[2 * q + 1];
    }
    free(jobs);
    free(part);
    free(buf);
    free(sqbuf);
    return LSC_STATUS_OK;
}
