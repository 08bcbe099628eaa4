/* lsc_bench OP --x X.npy [--y Y.npy] [--k 5] [--repeats 5] [--threads T]
 *
 * Times one lsc operation on .npy inputs: a warm-up call, then `repeats` timed calls. Prints one
 * JSON line per measurement: op, shape, median, min, spread (max - min), repeats, device and the
 * command line. OP:
 *   knn       x queries against y base, or x against itself (exclude_self) without --y
 *   prdc      reference built from x, fake y (y = x without --y): three lines, "reference"
 *             (lsc_reference_create), "prdc" (lsc_prdc against the kept reference) and
 *             "prdc_total" (both, as a user calls them once)
 *   spectrum  lsc_spectrum of x
 *   pairs     lsc_pair_stats of x (every pair, exact) */
#define _POSIX_C_SOURCE 200809L
#include "input.h"
#include "lsc.h"

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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char g_cmd[4096];

static void json_escape_append(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(dst);
    for (; *s && n + 3 < cap; s++) {
        if (*s == '"' || *s == '\\') dst[n++] = '\\';
        dst[n++] = *s;
    }
    dst[n] = '\0';
}

static void report(const char *op, const lsc_matrix *x, const lsc_matrix *y, int64_t k,
                   double *t, int repeats, const char *device, int threads)
{
    qsort(t, (size_t)repeats, sizeof *t, cmp_double);
    double median = (repeats % 2) ? t[repeats / 2] : 0.5 * (t[repeats / 2 - 1] + t[repeats / 2]);
    printf("{\"op\": \"%s\", \"shape\": {\"n\": %lld, \"d\": %lld", op, (long long)x->rows,
           (long long)x->cols);
    if (y) printf(", \"m\": %lld", (long long)y->rows);
    printf(", \"k\": %lld}, \"median\": %.6f, \"min\": %.6f, \"spread\": %.6f, \"repeats\": %d, "
           "\"threads\": %d, \"device\": \"",
           (long long)k, median, t[0], t[repeats - 1] - t[0], repeats, threads);
    char dev[512] = "";
    json_escape_append(dev, sizeof dev, device ? device : "?");
    printf("%s\", \"command\": \"%s\"}\n", dev, g_cmd);
    fflush(stdout);
}

static int usage(void)
{
    fprintf(stderr, "usage: lsc_bench knn|prdc|spectrum|pairs --x X.npy [--y Y.npy] [--k 5] "
                    "[--repeats 5] [--threads T]\n");
    return 2;
}

#define CHECK(call)                                                                            \
    do {                                                                                       \
        lsc_status st_ = (call);                                                               \
        if (st_ != LSC_STATUS_OK) {                                                            \
            fprintf(stderr, "lsc_bench: %s: %s\n", #call, lsc_last_error(ctx));              \
            rc = 1;                                                                            \
            goto done;                                                                         \
        }                                                                                      \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *op = argv[1], *xpath = NULL, *ypath = NULL;
    long long k = 5;
    int repeats = 5, threads = 0;
    for (int i = 0; i < argc; i++) {
        if (i) json_escape_append(g_cmd, sizeof g_cmd, " ");
        json_escape_append(g_cmd, sizeof g_cmd, argv[i]);
    }
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc) return usage();
        if (!strcmp(argv[i], "--x")) xpath = argv[++i];
        else if (!strcmp(argv[i], "--y")) ypath = argv[++i];
        else if (!strcmp(argv[i], "--k")) k = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--repeats")) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else return usage();
    }
    if (!xpath || repeats < 1 || k < 1) return usage();
    if (strcmp(op, "knn") && strcmp(op, "prdc") && strcmp(op, "spectrum") && strcmp(op, "pairs"))
        return usage();

    char err[512];
    lsc_input xin, yin;
    memset(&xin, 0, sizeof xin);
    memset(&yin, 0, sizeof yin);
    if (lsc_input_open(xpath, &xin, err, sizeof err)) {
        fprintf(stderr, "lsc_bench: %s\n", err);
        return 2;
    }
    if (ypath && lsc_input_open(ypath, &yin, err, sizeof err)) {
        fprintf(stderr, "lsc_bench: %s\n", err);
        lsc_input_close(&xin);
        return 2;
    }
    const lsc_matrix *x = &xin.m, *y = ypath ? &yin.m : NULL;

    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CPU;
    p.threads = threads;
    lsc_ctx *ctx = NULL;
    int rc = 0;
    double *t = calloc((size_t)repeats, sizeof *t);
    double *t2 = calloc((size_t)repeats, sizeof *t2);
    double *t3 = calloc((size_t)repeats, sizeof *t3);
    float *dist = NULL;
    int64_t *idx = NULL;
    double *sv = NULL;
    if (!t || !t2 || !t3) {
        fprintf(stderr, "lsc_bench: out of memory\n");
        rc = 1;
        goto done;
    }
    if (lsc_ctx_create(&p, &ctx) != LSC_STATUS_OK) {
        fprintf(stderr, "lsc_bench: context: %s\n", lsc_last_error(ctx));
        rc = 1;
        goto done;
    }
    const char *dev = lsc_ctx_device_name(ctx);

    if (!strcmp(op, "knn")) {
        lsc_knn_opts o = LSC_KNN_OPTS_INIT;
        const lsc_matrix *base = y;
        if (!y) o.exclude_self = 1;
        size_t q = (size_t)x->rows;
        dist = malloc(q * (size_t)k * sizeof *dist);
        idx = malloc(q * (size_t)k * sizeof *idx);
        if (!dist || !idx) {
            fprintf(stderr, "lsc_bench: out of memory\n");
            rc = 1;
            goto done;
        }
        for (int r = -1; r < repeats; r++) {
            double t0 = now_s();
            CHECK(lsc_knn(ctx, x, base, k, &o, dist, idx));
            if (r >= 0) t[r] = now_s() - t0;
        }
        report("knn", x, y, k, t, repeats, dev, threads);
    } else if (!strcmp(op, "prdc")) {
        const lsc_matrix *fake = y ? y : x;
        lsc_prdc_result res;
        for (int r = -1; r < repeats; r++) {
            lsc_reference *ref = NULL;
            double t0 = now_s();
            CHECK(lsc_reference_create(ctx, x, k, NULL, &ref));
            double t1 = now_s();
            lsc_status st = lsc_prdc(ctx, ref, fake, &res);
            double t2v = now_s();
            lsc_reference_destroy(ref);
            if (st != LSC_STATUS_OK) {
                fprintf(stderr, "lsc_bench: lsc_prdc: %s\n", lsc_last_error(ctx));
                rc = 1;
                goto done;
            }
            if (r >= 0) {
                t[r] = t1 - t0;
                t2[r] = t2v - t1;
                t3[r] = t2v - t0;
            }
        }
        report("reference", x, NULL, k, t, repeats, dev, threads);
        report("prdc", x, fake, k, t2, repeats, dev, threads);
        report("prdc_total", x, fake, k, t3, repeats, dev, threads);
        fprintf(stderr, "lsc_bench: precision %.6f recall %.6f density %.6f coverage %.6f\n",
                res.precision, res.recall, res.density, res.coverage);
    } else if (!strcmp(op, "spectrum")) {
        lsc_spectrum_result res;
        int64_t m = x->rows < x->cols ? x->rows : x->cols;
        sv = malloc((size_t)m * sizeof *sv);
        if (!sv) {
            fprintf(stderr, "lsc_bench: out of memory\n");
            rc = 1;
            goto done;
        }
        for (int r = -1; r < repeats; r++) {
            double t0 = now_s();
            CHECK(lsc_spectrum(ctx, x, NULL, &res, sv, NULL));
            if (r >= 0) t[r] = now_s() - t0;
        }
        report("spectrum", x, NULL, 0, t, repeats, dev, threads);
    } else {
        lsc_pair_result res;
        for (int r = -1; r < repeats; r++) {
            double t0 = now_s();
            CHECK(lsc_pair_stats(ctx, x, NULL, &res, NULL, NULL));
            if (r >= 0) t[r] = now_s() - t0;
        }
        report("pairs", x, NULL, 0, t, repeats, dev, threads);
    }

done:
    free(t);
    free(t2);
    free(t3);
    free(dist);
    free(idx);
    free(sv);
    lsc_ctx_destroy(ctx);
    lsc_input_close(&xin);
    if (ypath) lsc_input_close(&yin);
    return rc;
}
