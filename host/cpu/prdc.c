/* Precision, recall, density and coverage on the CPU (METRICS.md section 5). The radii come from
 * the exact kNN; one tiled pass of fake against real then decides every comparison d < r with
 * the fast form where its error band allows and on the exact value where it does not. Working
 * memory: O((N + M) k) for the radii passes, O(N + M) counters, and the tiles. */
#include "tiles.h"

#include <stdlib.h>
#include <string.h>

/* The k-th neighbour's value of every row of s among its other rows. */
static lsc_status radii_of(lsc_ctx *ctx, const cpu_set *s, int64_t k, double *radius_v,
                           double p0, double p1)
{
    size_t bytes;
    LSC_TRY(lsc_bytes(ctx, lsc_mul_i64(s->n, k), sizeof(double), &bytes, "radius neighbours"));
    double *v = (double *)lsc_malloc(ctx, bytes, "radius neighbours");
    int64_t *ix = v ? (int64_t *)lsc_malloc(ctx, bytes, "radius neighbours") : NULL;
    lsc_status st = ix ? cpu_knn_sets(ctx, s, s, k, 1, v, ix, p0, p1) : LSC_STATUS_OUT_OF_MEMORY;
    if (st == LSC_STATUS_OK)
        for (int64_t i = 0; i < s->n; i++) radius_v[i] = v[i * k + k - 1];
    free(v);
    free(ix);
    return st;
}

lsc_status lsc_cpu_reference_radii(lsc_ctx *ctx, lsc_reference *ref)
{
    lsc_matrix m = lsc_matrix_f32(ref->data, ref->rows, ref->cols);
    cpu_set s;
    LSC_TRY(cpu_set_init(ctx, &s, &m, NULL, m.rows, (int)ref->metric, NULL));
    lsc_status st = radii_of(ctx, &s, ref->k, ref->radius_v, 0, 1);
    cpu_set_free(&s);
    if (st != LSC_STATUS_OK) return st;
    int64_t zero = 0;
    for (int64_t i = 0; i < ref->rows; i++) {
        ref->radius[i] = lsc_dist_from_v((int)ref->metric, ref->radius_v[i]);
        zero += ref->radius_v[i] == 0.0;
    }
    ref->zero_radii = zero;
    return LSC_STATUS_OK;
}

lsc_status lsc_cpu_prdc(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                        lsc_prdc_result *out)
{
    const int64_t N = ref->rows, M = fake->rows, d = ref->cols, k = ref->k;
    const int inclusive = ref->comparison == LSC_COMPARISON_INCLUSIVE;
    const int metric = (int)ref->metric;
    lsc_matrix real = lsc_matrix_f32(ref->data, N, d);
    cpu_set sr, sf;
    /* both sets centred on the reference's mean (cosine ignores centres) */
    LSC_TRY(cpu_set_init(ctx, &sr, &real, NULL, N, metric, NULL));
    lsc_status st = cpu_set_init(ctx, &sf, fake, NULL, M, metric, sr.centre);
    double *fake_r = NULL;
    int64_t *density = NULL;
    unsigned char *real_hit = NULL, *real_cov = NULL;
    if (st == LSC_STATUS_OK) {
        fake_r = (double *)lsc_malloc(ctx, (size_t)M * sizeof(double), "fake radii");
        density = fake_r ? (int64_t *)lsc_calloc(ctx, (size_t)M, sizeof(int64_t), "density") : NULL;
        real_hit = density ? (unsigned char *)lsc_calloc(ctx, (size_t)N, 2, "real flags") : NULL;
        if (!real_hit) st = LSC_STATUS_OUT_OF_MEMORY;
        else real_cov = real_hit + N;
    }
    if (st == LSC_STATUS_OK) st = radii_of(ctx, &sf, k, fake_r, 0.0, 0.3);
    cpu_tiles t;
    memset(&t, 0, sizeof t);
    if (st == LSC_STATUS_OK) st = cpu_tiles_alloc(ctx, &t, d, M, N, 0, 0);
    const double *rr = ref->radius_v;
    const int blas_prev = cpu_blas_single_enter();
    for (int64_t f0 = 0; f0 < M && st == LSC_STATUS_OK; f0 += t.tq) {
        int64_t nf = M - f0 < t.tq ? M - f0 : t.tq;
        cpu_set_load(ctx, &sf, f0, nf, t.qraw, t.qt, t.qsq);
        for (int64_t r0 = 0; r0 < N; r0 += t.tb) {
            int64_t nr = N - r0 < t.tb ? N - r0 : t.tb;
            cpu_set_load(ctx, &sr, r0, nr, t.braw, t.bt, t.bsq);
            /* a thread owns fake rows: density counts are private; real-row flags are
             * set-only, written with relaxed atomics (the result does not depend on order) */
#pragma omp parallel num_threads(ctx->threads)
            {
                int64_t lo, hi;
                cpu_thread_rows(nf, cpu_tid(), cpu_nthreads(), &lo, &hi);
                if (hi > lo) cpu_gemm_nt(hi - lo, nr, d, t.qt + lo * d, t.bt, t.c + lo * nr);
                for (int64_t j = lo; j < hi; j++) {
                    const int64_t gj = f0 + j;
                    const double fsq = t.qsq[j], sj = fake_r[gj];
                    const float *crow = t.c + j * nr;
                    int64_t dens = 0;
                    for (int64_t i = 0; i < nr; i++) {
                        const int64_t gi = r0 + i;
                        const double vf = fsq + t.bsq[i] - 2.0 * (double)crow[i];
                        const double err = lsc_fast_err(d, fsq, t.bsq[i]);
                        int in_real = lsc_decide_less(vf, err, rr[gi], inclusive);
                        int need_recall = !__atomic_load_n(&real_hit[gi], __ATOMIC_RELAXED);
                        int in_fake = need_recall ? lsc_decide_less(vf, err, sj, inclusive) : 0;
                        if (in_real < 0 || in_fake < 0) {
                            double ve = cpu_exact(&sf, gj, t.qraw + j * d, &sr, gi, t.braw + i * d);
                            if (in_real < 0) in_real = inclusive ? ve <= rr[gi] : ve < rr[gi];
                            if (in_fake < 0) in_fake = inclusive ? ve <= sj : ve < sj;
                        }
                        if (in_real) {
                            dens++;
                            if (!__atomic_load_n(&real_cov[gi], __ATOMIC_RELAXED))
                                __atomic_store_n(&real_cov[gi], 1, __ATOMIC_RELAXED);
                        }
                        if (in_fake) __atomic_store_n(&real_hit[gi], 1, __ATOMIC_RELAXED);
                    }
                    density[gj] += dens;
                }
            }
            st = lsc_progress(ctx, 0.3 + 0.7 * ((double)f0 * N + (double)nf * (r0 + nr)) /
                                       ((double)M * N));
            if (st != LSC_STATUS_OK) break;
        }
    }
    cpu_blas_single_leave(blas_prev);
    if (st == LSC_STATUS_OK) {
        int64_t prec = 0, dens = 0, rec = 0, cov = 0, zf = 0;
        for (int64_t j = 0; j < M; j++) {
            prec += density[j] > 0;
            dens += density[j];
            zf += fake_r[j] == 0.0;
        }
        for (int64_t i = 0; i < N; i++) {
            rec += real_hit[i];
            cov += real_cov[i];
        }
        out->precision = (double)prec / (double)M;
        out->density = (double)dens / ((double)k * (double)M);
        out->recall = (double)rec / (double)N;
        out->coverage = (double)cov / (double)N;
        out->zero_radii_fake = zf;
    }
    cpu_tiles_free(&t);
    free(fake_r);
    free(density);
    free(real_hit);
    cpu_set_free(&sf);
    cpu_set_free(&sr);
    return st;
}
