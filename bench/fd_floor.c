/* lsc_fd_floor N D [chunk]: the Frechet distance of two sets of N x D float32 rows, streamed
 * through lsc_fd_acc (CPU backend) chunk by chunk, against its floor: one float64 DSYRK per set
 * of the same rows through OpenBLAS (threaded, as BLAS runs on its own), the rows converted to
 * float64 chunk by chunk. The rows are generated chunk by chunk from a seed (not timed), so the
 * memory stays a few chunks whatever N is: 10^6 x 2048 is 8 GB of float32 per set, never held.
 * Prints the times of lsc (the two accumulations; the statistics and the two symmetric
 * eigenproblems apart) and of the floor (DSYRK; the conversion apart), their ratio, and the
 * figure. Each chunk goes through lsc and then the floor, so both see the same load; one run
 * (at these sizes one run is minutes). */
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

/* rows r0 .. r0 + n of set `set`: uniform in [-1, 1) from a counter hash of (set, row, col),
 * with set 1 scaled by 1.1 and shifted by 0.05 per column (a distance well away from 0) */
static void rows_of(int set, int64_t r0, int64_t n, int64_t d, float *x)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++) {
            uint64_t z = ((uint64_t)set << 62) ^ ((uint64_t)(r0 + i) * (uint64_t)d + (uint64_t)k);
            z += 0x9e3779b97f4a7c15ull;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            z ^= z >> 31;
            float v = (float)((double)(z >> 40) / 8388608.0 - 1.0);
            x[i * d + k] = set ? 1.1f * v + 0.05f : v;
        }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s N D [chunk rows, default 8192]\n", argv[0]);
        return 2;
    }
    const int64_t n = atoll(argv[1]), d = atoll(argv[2]);
    const int64_t chunk = argc > 3 ? atoll(argv[3]) : 8192;
    if (n < 2 || d < 1 || chunk < 1) {
        fprintf(stderr, "N >= 2, D >= 1, chunk >= 1\n");
        return 2;
    }
    float *x = malloc((size_t)chunk * (size_t)d * sizeof(float));
    double *xd = malloc((size_t)chunk * (size_t)d * sizeof(double));
    double *g = calloc((size_t)d * (size_t)d, sizeof(double));
    double *st = malloc((size_t)2 * (size_t)d * ((size_t)d + 1) * sizeof(double));
    if (!x || !xd || !g || !st) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CPU;
    lsc_ctx *ctx = NULL;
    if (lsc_ctx_create(&p, &ctx) != LSC_STATUS_OK) {
        fprintf(stderr, "context: %s\n", lsc_last_error(ctx));
        return 1;
    }
    double t_gen = 0, t_acc = 0, t_stats = 0, t_solve = 0, t_conv = 0, t_syrk = 0;
    double *mu[2] = {st, st + d * (d + 1)}, *sig[2] = {st + d, st + d * (d + 1) + d};
    lsc_status s = LSC_STATUS_OK;
    /* each chunk goes through lsc, then through the floor, in turn: on a shared machine both see
     * the same load, which drifts over a run of minutes */
    for (int set = 0; set < 2 && s == LSC_STATUS_OK; set++) {
        lsc_fd_acc *acc = NULL;
        s = lsc_fd_acc_create(ctx, d, &acc);
        memset(g, 0, (size_t)d * (size_t)d * sizeof(double));
        for (int64_t r0 = 0; r0 < n && s == LSC_STATUS_OK; r0 += chunk) {
            const int64_t m = n - r0 < chunk ? n - r0 : chunk;
            double t0 = now();
            rows_of(set, r0, m, d, x);
            double t1 = now();
            lsc_matrix b = lsc_matrix_f32(x, m, d);
            s = lsc_fd_acc_add(ctx, acc, &b);
            double t2 = now();
            /* the floor: the Gram of the same rows in float64, one DSYRK call per chunk */
            for (int64_t e = 0; e < m * d; e++) xd[e] = (double)x[e];
            double t3 = now();
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)m, 1.0, xd, (int)d, 1.0,
                        g, (int)d);
            double t4 = now();
            t_gen += t1 - t0;
            t_acc += t2 - t1;
            t_conv += t3 - t2;
            t_syrk += t4 - t3;
        }
        double t0 = now();
        if (s == LSC_STATUS_OK) s = lsc_fd_acc_stats(ctx, acc, mu[set], sig[set]);
        t_stats += now() - t0;
        lsc_fd_acc_destroy(acc);
    }
    lsc_fd_result r = LSC_FD_RESULT_INIT;
    double t0 = now();
    if (s == LSC_STATUS_OK)
        s = lsc_frechet_distance_stats(ctx, d, mu[0], sig[0], mu[1], sig[1], &r);
    t_solve = now() - t0;
    if (s != LSC_STATUS_OK) {
        fprintf(stderr, "lsc: %s: %s\n", lsc_status_string(s), lsc_last_error(ctx));
        return 1;
    }
    const double lsc_t = t_acc + t_stats + t_solve;
    printf("{\"n\": %lld, \"d\": %lld, \"chunk\": %lld, \"lsc_version\": \"%s\", "
           "\"lsc_accumulate_s\": %.3f, \"lsc_stats_s\": %.3f, \"lsc_solve_s\": %.3f, "
           "\"lsc_total_s\": %.3f, \"floor_dsyrk_s\": %.3f, \"floor_convert_s\": %.3f, "
           "\"ratio_total_to_dsyrk\": %.3f, \"ratio_accumulate_to_dsyrk\": %.3f, "
           "\"generate_s\": %.3f, \"fd\": %.10g, \"tolerance\": %.3g, \"gram_check\": %.6g}\n",
           (long long)n, (long long)d, (long long)chunk, lsc_version(), t_acc, t_stats, t_solve,
           lsc_t, t_syrk, t_conv, lsc_t / t_syrk, t_acc / t_syrk, t_gen, r.fd, r.tolerance, g[0]);
    lsc_ctx_destroy(ctx);
    free(x);
    free(xd);
    free(g);
    free(st);
    return 0;
}
