/* lsc_amx_gemm NQ NB D [REPEATS]: the CPU backend's AMX product (host/cpu/amx.c: three
 * bfloat16 products, packing included) against OpenBLAS's single-threaded SGEMM of the same
 * shape, on one core, in the same run: why the kNN and PRDC prefilters use their own kernel
 * (bench/RESULTS.md, "AMX"). Prints one JSON line. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, posix_memalign */
#include "cpu/tiles.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: lsc_amx_gemm NQ NB D [REPEATS]\n");
        return 2;
    }
    const int64_t nq = atoll(argv[1]), nb = atoll(argv[2]), d = atoll(argv[3]);
    const int reps = argc > 4 ? atoi(argv[4]) : 5;
    if (nq < 1 || nb < 1 || d < 1 || reps < 1 || nq > 1 << 20 || nb > 1 << 20 || d > 1 << 20) {
        fprintf(stderr, "lsc_amx_gemm: sizes must be 1 to 2^20, repeats at least 1\n");
        return 2;
    }
#if LSC_CPU_AMX
    if (!cpu_amx_usable()) {
        printf("{\"op\": \"amx_gemm\", \"skipped\": \"no AMX-BF16 on this CPU or kernel\"}\n");
        return 0;
    }
    float *a = malloc((size_t)(nq * d) * 4), *b = malloc((size_t)(nb * d) * 4);
    float *c = malloc((size_t)(nq * nb) * 4);
    void *qv = NULL, *bv = NULL;
    if (posix_memalign(&qv, 64, cpu_amx_q_elems(nq, d) * 2) != 0) qv = NULL;
    if (posix_memalign(&bv, 64, cpu_amx_b_elems(nb, d) * 2) != 0) bv = NULL;
    uint16_t *qa = (uint16_t *)qv, *ba = (uint16_t *)bv;
    if (!a || !b || !c || !qa || !ba) {
        fprintf(stderr, "lsc_amx_gemm: out of memory\n");
        return 1;
    }
    uint64_t x = 20261201;
    for (int64_t i = 0; i < nq * d; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        a[i] = (float)((double)(x >> 11) * 0x1p-53 - 0.5);
    }
    for (int64_t i = 0; i < nb * d; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        b[i] = (float)((double)(x >> 11) * 0x1p-53 - 0.5);
    }
    double best_amx = 1e300, best_pack = 1e300, best_sgemm = 1e300;
    for (int r = 0; r <= reps; r++) { /* r = 0 warms up */
        double t0 = now();
        cpu_amx_pack_q(a, nq, d, qa);
        cpu_amx_pack_b(b, nb, d, ba);
        double t1 = now();
        cpu_amx_gemm(nq, nb, d, qa, ba, c, nb);
        double t2 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nb, (int)d, 1.0f, a,
                    (int)d, b, (int)d, 0.0f, c, (int)nb);
        double t3 = now();
        if (r > 0) {
            if (t1 - t0 < best_pack) best_pack = t1 - t0;
            if (t2 - t1 < best_amx) best_amx = t2 - t1;
            if (t3 - t2 < best_sgemm) best_sgemm = t3 - t2;
        }
    }
    const double flops = 2.0 * (double)nq * (double)nb * (double)d;
    printf("{\"op\": \"amx_gemm\", \"shape\": {\"nq\": %lld, \"nb\": %lld, \"d\": %lld}, "
           "\"repeats\": %d, \"min_s\": {\"amx\": %.6f, \"pack\": %.6f, \"sgemm\": %.6f}, "
           "\"gflops_fp32_equivalent\": {\"amx\": %.1f, \"amx_with_pack\": %.1f, \"sgemm\": %.1f}, "
           "\"sgemm_over_amx_with_pack\": %.2f, \"command\": \"lsc_amx_gemm %lld %lld %lld %d\"}\n",
           (long long)nq, (long long)nb, (long long)d, reps, best_amx, best_pack, best_sgemm,
           flops / best_amx * 1e-9, flops / (best_amx + best_pack) * 1e-9,
           flops / best_sgemm * 1e-9, best_sgemm / (best_amx + best_pack), (long long)nq,
           (long long)nb, (long long)d, reps);
    free(a);
    free(b);
    free(c);
    free(qa);
    free(ba);
#else
    printf("{\"op\": \"amx_gemm\", \"skipped\": \"this build has no AMX product\"}\n");
#endif
    return 0;
}
