/*
 * lsc_prdc_memory: peak memory and wall time of PRDC on the CPU backend.
 *
 *   lsc_prdc_memory N M D K [SEED]
 *
 * Makes seeded Gaussian float32 sets, real N x D ~ N(0, 1) and fake M x D ~ N(0.1, 1.1^2), builds
 * a reference (the real k-NN radii) and runs lsc_prdc, printing the figures and the wall time of
 * each step. Run it under `/usr/bin/time -v` for the peak resident set size; the inputs alone
 * take (N + M) D 4 bytes and the reference keeps a float32 copy of the real rows (N D 4 bytes).
 * Exit 0 on success, 2 on bad arguments, 1 when lsc fails.
 */
#define _POSIX_C_SOURCE 199309L
#include <lsc.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in (0, 1) */
static double uniform(uint64_t *s)
{
    return ((double)(splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* n x d values of mean + scale * N(0, 1), Box-Muller */
static float *gaussian(int64_t n, int64_t d, double mean, double scale, uint64_t seed)
{
    const size_t count = (size_t)n * (size_t)d;
    float *x = (float *)malloc(count * sizeof(float));
    if (!x) return NULL;
    uint64_t s = seed;
    for (size_t i = 0; i < count; i += 2) {
        double r = sqrt(-2.0 * log(uniform(&s))), t = 6.283185307179586 * uniform(&s);
        x[i] = (float)(mean + scale * r * cos(t));
        if (i + 1 < count) x[i + 1] = (float)(mean + scale * r * sin(t));
    }
    return x;
}

static int64_t arg(const char *s, const char *what)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 1) {
        fprintf(stderr, "lsc_prdc_memory: %s must be a positive integer, got '%s'\n", what, s);
        exit(2);
    }
    return (int64_t)v;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: lsc_prdc_memory N M D K [SEED]\n");
        return 2;
    }
    const int64_t n = arg(argv[1], "N"), m = arg(argv[2], "M"), d = arg(argv[3], "D");
    const int64_t k = arg(argv[4], "K");
    const uint64_t seed = argc == 6 ? (uint64_t)arg(argv[5], "SEED") : 20261125u;

    double t0 = now_s();
    float *real = gaussian(n, d, 0.0, 1.0, seed);
    float *fake = gaussian(m, d, 0.1, 1.1, seed ^ 0x5eedf00dULL);
    if (!real || !fake) {
        fprintf(stderr, "lsc_prdc_memory: out of memory for the inputs\n");
        return 1;
    }
    double t_data = now_s() - t0;

    lsc_ctx_params params = LSC_CTX_PARAMS_INIT;
    params.backend = LSC_BACKEND_CPU;
    lsc_ctx *ctx = NULL;
    lsc_status st = lsc_ctx_create(&params, &ctx);
    if (st != LSC_STATUS_OK) {
        fprintf(stderr, "lsc_prdc_memory: lsc_ctx_create: %s: %s\n", lsc_status_name(st),
                lsc_last_error(ctx));
        lsc_ctx_destroy(ctx);
        return 1;
    }
    lsc_matrix rm = lsc_matrix_f32(real, n, d), fm = lsc_matrix_f32(fake, m, d);
    lsc_reference *ref = NULL;
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;

    double t1 = now_s();
    st = lsc_reference_create(ctx, &rm, k, NULL, &ref);
    double t_ref = now_s() - t1;
    if (st == LSC_STATUS_OK) {
        t1 = now_s();
        st = lsc_prdc(ctx, ref, &fm, &r);
    }
    double t_prdc = now_s() - t1;
    if (st != LSC_STATUS_OK) {
        fprintf(stderr, "lsc_prdc_memory: %s: %s\n", lsc_status_name(st), lsc_last_error(ctx));
        lsc_reference_destroy(ref);
        lsc_ctx_destroy(ctx);
        return 1;
    }

    printf("lsc %s, %s\n", lsc_version(), lsc_ctx_device_name(ctx));
    printf("N=%lld M=%lld D=%lld k=%lld seed=%llu, inputs %.1f MiB\n", (long long)n, (long long)m,
           (long long)d, (long long)k, (unsigned long long)seed,
           (double)(n + m) * (double)d * 4.0 / 1048576.0);
    printf("precision %.6f recall %.6f density %.6f coverage %.6f (zero radii %lld / %lld)\n",
           r.precision, r.recall, r.density, r.coverage, (long long)r.zero_radii_real,
           (long long)r.zero_radii_fake);
    printf("wall: data %.2f s, reference %.2f s, prdc %.2f s, lsc total %.2f s\n", t_data, t_ref,
           t_prdc, t_ref + t_prdc);
    lsc_reference_destroy(ref);
    lsc_ctx_destroy(ctx);
    free(real);
    free(fake);
    return 0;
}
