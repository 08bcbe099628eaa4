/* lsc_cpu_floor N M D K [repeats]: times each CPU distance operation against its floor, the
 * OpenBLAS SGEMM of the same products (threaded, as BLAS runs them on its own), in one run on
 * the same seeded Gaussian data. Prints one JSON line per operation: median and minimum seconds
 * over the repeats (after one warm-up) and the ratio of medians to the floor. */
#define _POSIX_C_SOURCE 200809L
#include "lsc.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void gaussian(float *x, int64_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < n; i += 2) {
        double u1, u2;
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        u1 = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        u2 = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
        double r = sqrt(-2.0 * log(u1));
        x[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < n) x[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* the GEMMs of an n x m distance pass, in the tiles lsc uses, with BLAS's own threads */
static void gemm_pass(const float *a, int64_t n, const float *b, int64_t m, int64_t d, float *c)
{
    for (int64_t i = 0; i < n; i += 1024)
        for (int64_t j = 0; j < m; j += 4096) {
            int64_t p = n - i < 1024 ? n - i : 1024, q = m - j < 4096 ? m - j : 4096;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p, (int)q, (int)d, 1.0f,
                        a + i * d, (int)d, b + j * d, (int)d, 0.0f, c, (int)q);
        }
}

#define REPEATS_MAX 25

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s N M D K [repeats]\n", argv[0]);
        return 2;
    }
    int64_t n = atoll(argv[1]), m = atoll(argv[2]), d = atoll(argv[3]), k = atoll(argv[4]);
    int reps = argc > 5 ? atoi(argv[5]) : 3;
    if (n < 2 || m < 2 || d < 1 || k < 1 || k >= n || k >= m || reps < 1 || reps > REPEATS_MAX) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    float *x = malloc(sizeof(float) * (size_t)(n * d)),
          *y = malloc(sizeof(float) * (size_t)(m * d));
    float *c = malloc(sizeof(float) * 1024 * 4096);
    float *dist = malloc(sizeof(float) * (size_t)(n * k));
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(n * k));
    if (!x || !y || !c || !dist || !idx) return 1;
    gaussian(x, n * d, 1);
    gaussian(y, m * d, 2);
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CPU;
    lsc_ctx *ctx;
    if (lsc_ctx_create(&p, &ctx) != LSC_STATUS_OK) return 1;
    lsc_matrix R = lsc_matrix_f32(x, n, d), F = lsc_matrix_f32(y, m, d);
    const char *names[] = {"floor_gemm_nm", "knn", "reference", "prdc", "pair_stats", "spectrum"};
    double med[6];
    for (int op = 0; op < 6; op++) {
        double t[REPEATS_MAX + 1];
        for (int r = 0; r <= reps; r++) {
            lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
            lsc_reference *ref = NULL;
            lsc_prdc_result pr = LSC_PRDC_RESULT_INIT;
            lsc_pair_result ps = LSC_PAIR_RESULT_INIT;
            lsc_spectrum_result sr = LSC_SPECTRUM_RESULT_INIT;
            lsc_status s = LSC_STATUS_OK;
            if (op == 3) s = lsc_reference_create(ctx, &R, k, NULL, &ref);
            double t0 = now();
            switch (op) {
            case 0: gemm_pass(x, n, y, m, d, c); break;
            case 1: s = lsc_knn(ctx, &F, &R, k, &ko, dist, idx); break;
            case 2: s = lsc_reference_create(ctx, &R, k, NULL, &ref); break;
            case 3: s = s == LSC_STATUS_OK ? lsc_prdc(ctx, ref, &F, &pr) : s; break;
            case 4: s = lsc_pair_stats(ctx, &R, NULL, &ps, NULL, NULL); break;
            case 5: s = lsc_spectrum(ctx, &R, NULL, &sr, NULL, NULL); break;
            }
            t[r] = now() - t0;
            lsc_reference_destroy(ref);
            if (s != LSC_STATUS_OK) {
                fprintf(stderr, "%s: %s\n", names[op], lsc_last_error(ctx));
                return 1;
            }
        }
        qsort(t + 1, (size_t)reps, sizeof(double), cmp); /* t[0] was the warm-up */
        med[op] = t[1 + reps / 2];
        /* knn (m x n) and prdc's cross pass are one n x m product; the reference and the
         * fake radii one n x n and m x m each; pair statistics half of n x n */
        double floor_units[] = {1.0, 1.0, (double)n / m, 1.0 + (double)m / n, 0.5 * n / m, 0};
        char ratio[32] = "null"; /* the spectrum's floor is a DSYRK, not timed here */
        if (floor_units[op] > 0)
            snprintf(ratio, sizeof ratio, "%.2f", med[op] / (med[0] * floor_units[op]));
        printf("{\"op\":\"%s\",\"n\":%lld,\"m\":%lld,\"d\":%lld,\"k\":%lld,\"median_s\":%.4f,"
               "\"min_s\":%.4f,\"floor_ratio\":%s,\"device\":\"%s\",\"repeats\":%d}\n",
               names[op], (long long)n, (long long)m, (long long)d, (long long)k, med[op], t[1],
               ratio, lsc_ctx_device_name(ctx), reps);
    }
    lsc_ctx_destroy(ctx);
    free(x);
    free(y);
    free(c);
    free(dist);
    free(idx);
    return 0;
}
