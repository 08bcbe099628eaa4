/* Distance blocks on the CPU: the centred fast form from one GEMM per tile; entries too close to
 * zero for the fast form's error bound are recomputed exactly (never a clamped negative). */
#include "tiles.h"

#include <math.h>
#include <stdlib.h>

lsc_status lsc_cpu_distances(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                             lsc_metric metric, float *out, int64_t ld_out)
{
    const int m = (int)metric;
    const int kind = m == LSC_M_COSINE ? LSC_M_COSINE : LSC_M_EUCLIDEAN;
    const int64_t d = a->cols;
    cpu_set sa, sb;
    LSC_TRY(cpu_set_init(ctx, &sb, b, NULL, b->rows, kind, NULL));
    lsc_status st = cpu_set_init(ctx, &sa, a, NULL, a->rows, kind, sb.centre);
    cpu_tiles t;
    if (st == LSC_STATUS_OK) st = cpu_tiles_alloc(ctx, &t, d, a->rows, b->rows, 0, 0);
    else t.mem = NULL;
    const double total = (double)a->rows * (double)b->rows;
    const int blas_prev = cpu_blas_single_enter();
    for (int64_t a0 = 0; a0 < a->rows && st == LSC_STATUS_OK; a0 += t.tq) {
        int64_t na = a->rows - a0 < t.tq ? a->rows - a0 : t.tq;
        cpu_set_load(ctx, &sa, a0, na, t.qraw, t.qt, t.qsq);
        for (int64_t b0 = 0; b0 < b->rows; b0 += t.tb) {
            int64_t nb = b->rows - b0 < t.tb ? b->rows - b0 : t.tb;
            cpu_set_load(ctx, &sb, b0, nb, t.braw, t.bt, t.bsq);
#pragma omp parallel num_threads(ctx->threads)
            {
                int64_t lo, hi;
                cpu_thread_rows(na, cpu_tid(), cpu_nthreads(), &lo, &hi);
                if (hi > lo) cpu_gemm_nt(hi - lo, nb, d, t.qt + lo * d, t.bt, t.c + lo * nb);
                for (int64_t i = lo; i < hi; i++) {
                    float *o = out + (a0 + i) * ld_out + b0;
                    const float *crow = t.c + i * nb;
                    for (int64_t j = 0; j < nb; j++) {
                        double v = t.qsq[i] + t.bsq[j] - 2.0 * (double)crow[j];
                        if (lsc_bulk_needs_exact(v, lsc_fast_err(d, t.qsq[i], t.bsq[j])))
                            v = cpu_exact(&sa, a0 + i, t.qraw + i * d, &sb, b0 + j, t.braw + j * d);
                        o[j] = (float)lsc_dist_from_v(m, v);
                    }
                }
            }
            st = lsc_progress(ctx, ((double)a0 * b->rows + (double)na * (b0 + nb)) / total);
            if (st != LSC_STATUS_OK) break;
        }
    }
    cpu_blas_single_leave(blas_prev);
    if (t.mem) cpu_tiles_free(&t);
    cpu_set_free(&sa);
    cpu_set_free(&sb);
    return st;
}
