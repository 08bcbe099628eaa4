/* Distance blocks on the CPU: the centred fast form from one GEMM per tile; entries too close to
 * zero for the fast form's error bound are recomputed exactly (never a clamped negative). */
#include "tiles.h"

#include <math.h>
#include <stdlib.h>

typedef struct dist_job {
    const cpu_set *a, *b;
    int metric;
    float *out;
    int64_t ld_out;
} dist_job;

LSC_CPU_CLONES static void dist_tile(void *user, int tid, const cpu_tiles *t, int64_t a0,
                                     int64_t na, int64_t b0, int64_t nb)
{
    (void)tid;
    const dist_job *J = (const dist_job *)user;
    for (int64_t i = 0; i < na; i++) {
        float *o = J->out + (a0 + i) * J->ld_out + b0;
        const float *crow = t->c + i * nb;
        for (int64_t j = 0; j < nb; j++) {
            double v = t->qsq[i] + t->bsq[j] - 2.0 * (double)crow[j];
            if (lsc_bulk_needs_exact(v, cpu_tile_err(t, t->qsq[i], t->bsq[j])))
                v = cpu_exact(J->a, a0 + i, t->qr + i * t->qld, J->b, b0 + j, t->br + j * t->bld);
            o[j] = (float)lsc_dist_from_v(J->metric, v);
        }
    }
}

lsc_status lsc_cpu_distances(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                             lsc_metric metric, float *out, int64_t ld_out)
{
    const int m = (int)metric;
    const int kind = m == LSC_M_COSINE ? LSC_M_COSINE : LSC_M_EUCLIDEAN;
    cpu_set sa, sb;
    LSC_TRY(cpu_set_init(ctx, &sb, b, NULL, b->rows, kind, NULL));
    lsc_status st = cpu_set_init(ctx, &sa, a, NULL, a->rows, kind, sb.centre);
    if (st == LSC_STATUS_OK) {
        dist_job J = {&sa, &sb, m, out, ld_out};
        cpu_tile_job job = {&sa, &sb, CPU_TILES_ALL, 0, 0, &J, dist_tile, NULL, 0, 0};
        st = cpu_tile_run(ctx, &job, 0, 1);
    }
    cpu_set_free(&sa);
    cpu_set_free(&sb);
    return st;
}
