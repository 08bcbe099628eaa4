/* lsc_bench OP --x X [--y Y] [--k 5] [--repeats 5] [--warmup 1] [--threads T]
 *           [--backend cpu|cuda|auto] [--memory host|device] [--batch B] [--workspace MiB]
 *
 * Times one lsc operation: `warmup` untimed calls, then `repeats` timed calls. Prints one JSON
 * line per measurement: op, shape, median, min, spread (max - min) in seconds, repeats, backend,
 * where the inputs lived, device, build type, commit and the command line; with the CUDA runtime
 * (a build with the CUDA backend) also gpu_median / gpu_min, the time between two CUDA events
 * recorded on the context's stream around each call. A "result" object carries the call's main
 * figures, so runs can be checked against each other and against peers.
 *
 * X and Y: a .npy or .fvecs file (tools/input.c: memory-mapped), or gen:N:D[:SEED[:SHIFT]], N x D
 * values made here from a counter hash, the same values bench/peers_gpu.py makes (gen_values):
 * element e (row-major) is shift + (1 + shift) g, g = (s + 2) / 65536 - 2 scaled by sqrt(3), with
 * s the sum of the four 16-bit parts of splitmix64(seed * 0x9e3779b97f4a7c15 + e): mean 0,
 * variance 1, bounded by 2 sqrt(3). Default seed 20261125, shift 0. Lets a 10,000,000 x 512 set
 * (20 GB) go to the device without a file.
 *
 * --backend: cpu (default), cuda or auto. --memory: where the inputs live, host or device
 * (default device with --backend cuda in a build with the CUDA runtime, else host; device needs
 * such a build). The real rows of a reference are always read from the host (lsc.h); kNN outputs
 * live where the inputs do. --workspace: the context's workspace limit in MiB (0, the default:
 * the library's own, 256 MiB).
 *
 * OP:
 *   knn       x queries against y base, or x against itself (exclude_self) without --y: "knn"
 *   prdc      reference built from x, fake y (y = x without --y): "reference"
 *             (lsc_reference_create), "prdc" (lsc_prdc against the kept reference) and
 *             "prdc_total" (both, as a user calls them once)
 *   monitor   per-step monitoring: the reference is built once from x ("monitor_reference", one
 *             call), then y against it: "monitor_prdc" (lsc_prdc), "monitor_prdc_async"
 *             (lsc_prdc_async, results to pinned memory; gpu_median is enqueue to completion,
 *             "enqueue_median" the host time of the call alone) and "monitor_prdc_graph" (that
 *             call captured once in a CUDA graph, the graph replayed)
 *   spectrum  lsc_spectrum of x: "spectrum"; with --batch B also "spectrum_acc" (the streaming
 *             accumulator fed B rows at a time, then finalized); with device inputs also
 *             "spectrum_async"
 *   pairs     lsc_pair_stats of x (every pair, exact): "pairs", then "pairs_uniformity" (the
 *             same call asking for lsc_pair_opts.uniformity), the two timed in alternation; with
 *             cpu_median / cpu_min too, the process's CPU time a call (run with
 *             OMP_WAIT_POLICY=passive: on a shared machine, the call's work whatever else ran)
 *   geometry  the figures of docs/METRICS.md section 9 beside the kNN pass each rides, on every
 *             row of x (host memory): "knn" (k = 2, self excluded) then "twonn" (lsc_twonn,
 *             duplicates collapsed), "knn" (k = --k, self excluded) then "hubness" (within x),
 *             each pair timed in alternation so both see the same machine state
 *
 * A measurement the backend does not offer (LSC_STATUS_NOT_SUPPORTED) prints a line with
 * "skipped" and the reason instead of times, and the run goes on. Exit 0 when every measurement
 * was made or skipped so, 2 on bad arguments or inputs, 1 on any other failure. */
#define _POSIX_C_SOURCE 200809L
#include "input.h"
#include "lsc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef LSC_BENCH_CUDA
#include <cuda_runtime.h>
#endif

#ifndef LSC_BENCH_BUILD_TYPE
#define LSC_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef LSC_BENCH_COMMIT
#define LSC_BENCH_COMMIT "unknown"
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process, every thread's: on a machine other jobs share, the work a call
 * did, whoever else ran (with OMP_WAIT_POLICY=passive, so that waiting threads do not spin). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
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
        if ((unsigned char)*s < 0x20) continue; /* no control characters in a JSON string */
        dst[n++] = *s;
    }
    dst[n] = '\0';
}

/* ---------------------------------------------------------------------------------------------- */
/* inputs: a file or generated values, on the host or the device                                   */

typedef struct bench_input {
    lsc_input file;  /* when read from a file */
    float *gen;      /* host values made here */
    void *dev;       /* device copy */
    lsc_matrix host; /* host view (file or gen) */
    lsc_matrix m;    /* the view the benchmark uses: host or device */
    int is_file;
} bench_input;

static uint64_t splitmix64(uint64_t x)
{
    uint64_t z = x + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* elements [e0, e0 + n) of the generated set (see the top of this file) */
static void gen_values(float *dst, uint64_t e0, int64_t n, uint64_t seed, double shift)
{
    const uint64_t base = seed * 0x9e3779b97f4a7c15ull;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = splitmix64(base + e0 + (uint64_t)i);
        uint64_t s = (z & 0xffffu) + ((z >> 16) & 0xffffu) + ((z >> 32) & 0xffffu) + (z >> 48);
        double g = ((double)s + 2.0) / 65536.0 - 2.0;
        g *= 1.7320508075688772;
        dst[i] = shift == 0.0 ? (float)g : (float)(shift + (1.0 + shift) * g);
    }
}

static int parse_gen(const char *spec, int64_t *n, int64_t *d, uint64_t *seed, double *shift)
{
    char *end = NULL;
    const char *p = spec + 4;
    errno = 0;
    long long a = strtoll(p, &end, 10);
    if (errno || end == p || *end != ':' || a < 1) return 0;
    p = end + 1;
    long long b = strtoll(p, &end, 10);
    if (errno || end == p || (*end && *end != ':') || b < 1) return 0;
    *n = a;
    *d = b;
    *seed = 20261125u;
    *shift = 0.0;
    if (*end == ':') {
        p = end + 1;
        unsigned long long s = strtoull(p, &end, 10);
        if (errno || end == p || (*end && *end != ':')) return 0;
        *seed = s;
        if (*end == ':') {
            p = end + 1;
            *shift = strtod(p, &end);
            if (end == p || *end || !isfinite(*shift)) return 0;
        }
    }
    return (uint64_t)a <= UINT64_MAX / (uint64_t)b / 8u;
}

/* Opens `spec` (a path or gen:...) into in->host; 0 on success, else 2 (bad input) or 1. */
static int input_open(const char *spec, bench_input *in, char *err, size_t err_len)
{
    memset(in, 0, sizeof *in);
    if (strncmp(spec, "gen:", 4) == 0) {
        int64_t n, d;
        uint64_t seed;
        double shift;
        if (!parse_gen(spec, &n, &d, &seed, &shift)) {
            snprintf(err, err_len, "%s: expected gen:N:D[:SEED[:SHIFT]]", spec);
            return 2;
        }
        in->gen = malloc((size_t)n * (size_t)d * sizeof(float));
        if (!in->gen) {
            snprintf(err, err_len, "%s: out of host memory", spec);
            return 1;
        }
        gen_values(in->gen, 0, n * d, seed, shift);
        in->host = lsc_matrix_f32(in->gen, n, d);
    } else {
        int rc = lsc_input_open(spec, &in->file, err, err_len);
        if (rc) return rc;
        in->is_file = 1;
        in->host = in->file.m;
    }
    in->m = in->host;
    return 0;
}

#ifdef LSC_BENCH_CUDA
/* Places the input on the device (its rows with their ld, as they are). 0 or 1. */
static int input_to_device(bench_input *in, char *err, size_t err_len)
{
    const lsc_matrix *h = &in->host;
    size_t es = lsc_dtype_size(h->dtype);
    size_t count = (size_t)(h->rows - 1) * (size_t)h->ld + (size_t)h->cols;
    cudaError_t e = cudaMalloc(&in->dev, count * es);
    if (e == cudaSuccess) e = cudaMemcpy(in->dev, h->data, count * es, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        snprintf(err, err_len, "placing %zu bytes on the device: %s", count * es,
                 cudaGetErrorString(e));
        return 1;
    }
    in->m = *h;
    in->m.data = in->dev;
    in->m.memory = LSC_MEMORY_DEVICE;
    return 0;
}
#endif

static void input_close(bench_input *in)
{
#ifdef LSC_BENCH_CUDA
    if (in->dev) cudaFree(in->dev);
#endif
    if (in->is_file) lsc_input_close(&in->file);
    free(in->gen);
    memset(in, 0, sizeof *in);
}

/* ---------------------------------------------------------------------------------------------- */
/* timing and reporting                                                                            */

typedef struct bench {
    lsc_ctx *ctx;
    const char *backend;
    const char *device;
    int threads, repeats, warmup;
    int cuda_rt; /* the CUDA runtime is linked and the context runs on CUDA: events are recorded */
#ifdef LSC_BENCH_CUDA
    cudaStream_t stream;
    cudaEvent_t ev0, ev1;
#endif
    double *t, *tg, *te; /* wall, GPU event and enqueue times of the repeats */
    double *tc;          /* process CPU times of the measurement report() prints next, or NULL */
} bench;

static void gpu_mark(bench *b, int which)
{
#ifdef LSC_BENCH_CUDA
    if (b->cuda_rt) cudaEventRecord(which ? b->ev1 : b->ev0, b->stream);
#else
    (void)b;
    (void)which;
#endif
}

/* the GPU time between the two marks, after waiting for the second; -1 without events */
static double gpu_elapsed(bench *b)
{
#ifdef LSC_BENCH_CUDA
    if (b->cuda_rt) {
        float ms = 0.0f;
        if (cudaEventSynchronize(b->ev1) != cudaSuccess ||
            cudaEventElapsedTime(&ms, b->ev0, b->ev1) != cudaSuccess)
            return -1.0;
        return 1e-3 * (double)ms;
    }
#else
    (void)b;
#endif
    return -1.0;
}

static void stats(double *t, int n, double *median, double *min, double *spread)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    *median = (n % 2) ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    *min = t[0];
    *spread = t[n - 1] - t[0];
}

static void print_head(const bench *b, const char *op, const lsc_matrix *x, const lsc_matrix *y,
                       int64_t k)
{
    printf("{\"op\": \"%s\", \"shape\": {\"n\": %lld, \"d\": %lld", op, (long long)x->rows,
           (long long)x->cols);
    if (y) printf(", \"m\": %lld", (long long)y->rows);
    printf(", \"k\": %lld}, \"backend\": \"%s\", \"memory\": {\"x\": \"%s\"", (long long)k,
           b->backend, x->memory == LSC_MEMORY_DEVICE ? "device" : "host");
    if (y) printf(", \"y\": \"%s\"", y->memory == LSC_MEMORY_DEVICE ? "device" : "host");
    printf("}, ");
}

static void print_tail(const bench *b, const char *result_json)
{
    char dev[512] = "";
    json_escape_append(dev, sizeof dev, b->device ? b->device : "?");
    printf("\"threads\": %d, \"device\": \"%s\", \"build\": \"%s\", \"commit\": \"%s\", ",
           b->threads, dev, LSC_BENCH_BUILD_TYPE, LSC_BENCH_COMMIT);
    if (result_json && *result_json) printf("\"result\": {%s}, ", result_json);
    printf("\"command\": \"%s\"}\n", g_cmd);
    fflush(stdout);
}

/* one line of `n` timed repeats: wall times t, GPU times tg (if any), enqueue times te (if any) */
static void report(bench *b, const char *op, const lsc_matrix *x, const lsc_matrix *y, int64_t k,
                   double *t, double *tg, double *te, int n, const char *result_json)
{
    double med, mn, sp;
    print_head(b, op, x, y, k);
    stats(t, n, &med, &mn, &sp);
    printf("\"median\": %.6f, \"min\": %.6f, \"spread\": %.6f, \"repeats\": %d, \"warmup\": %d, ",
           med, mn, sp, n, b->warmup);
    if (tg && tg[0] >= 0.0) {
        stats(tg, n, &med, &mn, &sp);
        printf("\"gpu_median\": %.6f, \"gpu_min\": %.6f, \"gpu_spread\": %.6f, ", med, mn, sp);
    }
    if (te) {
        stats(te, n, &med, &mn, &sp);
        printf("\"enqueue_median\": %.6f, \"enqueue_min\": %.6f, ", med, mn);
    }
    if (b->tc) {
        stats(b->tc, n, &med, &mn, &sp);
        printf("\"cpu_median\": %.6f, \"cpu_min\": %.6f, ", med, mn);
    }
    print_tail(b, result_json);
}

static void report_skip(bench *b, const char *op, const lsc_matrix *x, const lsc_matrix *y,
                        int64_t k, const char *why)
{
    char w[1024] = "";
    json_escape_append(w, sizeof w, why);
    print_head(b, op, x, y, k);
    printf("\"skipped\": \"%s\", ", w);
    print_tail(b, NULL);
    fprintf(stderr, "lsc_bench: %s skipped: %s\n", op, why);
}

/* A failed call: NOT_SUPPORTED is a skip (0), anything else a failure (1). */
static int failed(bench *b, lsc_status st, const char *op, const lsc_matrix *x, const lsc_matrix *y,
                  int64_t k, const char *call)
{
    char why[1024];
    snprintf(why, sizeof why, "%s: %s: %s", call, lsc_status_name(st), lsc_last_error(b->ctx));
    if (st == LSC_STATUS_NOT_SUPPORTED) {
        report_skip(b, op, x, y, k, why);
        return 0;
    }
    fprintf(stderr, "lsc_bench: %s: %s\n", op, why);
    return 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* the operations                                                                                  */

/* One call of a geometry pair: which = 0 the kNN pass alone (k neighbours, self excluded),
 * 1 the figure that rides it (TwoNN for k = 2, else hubness); `res` gets its result. */
static lsc_status geom_call(bench *b, const lsc_matrix *x, int64_t k, int which, char *res,
                            size_t res_len)
{
    lsc_status st;
    if (which == 0) { /* the kNN pass alone */
        float *dist = malloc((size_t)x->rows * (size_t)k * sizeof *dist);
        int64_t *idx = malloc((size_t)x->rows * (size_t)k * sizeof *idx);
        lsc_knn_opts o = LSC_KNN_OPTS_INIT;
        o.exclude_self = 1;
        st = dist && idx ? lsc_knn(b->ctx, x, NULL, k, &o, dist, idx) : LSC_STATUS_OUT_OF_MEMORY;
        free(dist);
        free(idx);
        snprintf(res, res_len, "\"rides\": true");
    } else if (k == 2) {
        lsc_twonn_opts o = LSC_TWONN_OPTS_INIT;
        o.max_rows = 0;
        lsc_twonn_result r = LSC_TWONN_RESULT_INIT;
        st = lsc_twonn(b->ctx, x, &o, &r);
        snprintf(res, res_len, "\"dimension\": %.9g, \"distinct_rows\": %lld", r.dimension,
                 (long long)r.distinct_rows);
    } else {
        lsc_hubness_opts o = LSC_HUBNESS_OPTS_INIT;
        o.k = k;
        o.max_rows = 0;
        lsc_hubness_result r = LSC_HUBNESS_RESULT_INIT;
        st = lsc_hubness(b->ctx, x, NULL, &o, &r);
        snprintf(res, res_len, "\"skewness\": %.9g, \"robin_hood\": %.9g", r.skewness,
                 r.robin_hood);
    }
    return st;
}

static int op_geometry(bench *b, const lsc_matrix *x, int64_t k)
{
    if (x->memory != LSC_MEMORY_HOST) {
        report_skip(b, "geometry", x, NULL, k, "lsc_twonn and lsc_hubness read host memory");
        return 0;
    }
    double *t1 = calloc((size_t)b->repeats, sizeof *t1);
    if (!t1) return 1;
    int rc = 0, stop = 0;
    const int64_t ks[2] = {2, k};
    const char *names[2] = {"twonn", "hubness"};
    for (int f = 0; f < 2 && !stop; f++) {
        char res[2][256] = {"", ""};
        for (int r = -b->warmup; r < b->repeats && !stop; r++)
            for (int which = 0; which < 2 && !stop; which++) {
                double a = now_s();
                lsc_status st = geom_call(b, x, ks[f], which, res[which], sizeof res[which]);
                double e = now_s();
                if (st != LSC_STATUS_OK) {
                    rc = failed(b, st, names[f], x, NULL, ks[f], names[f]);
                    stop = 1;
                } else if (r >= 0) {
                    (which ? t1 : b->t)[r] = e - a;
                }
            }
        if (stop) break;
        report(b, "knn", x, NULL, ks[f], b->t, NULL, NULL, b->repeats, res[0]);
        report(b, names[f], x, NULL, ks[f], t1, NULL, NULL, b->repeats, res[1]);
    }
    free(t1);
    return rc;
}

static int usage(void)
{
    fprintf(
        stderr,
        "usage: lsc_bench knn|prdc|monitor|spectrum|pairs|geometry --x X [--y Y] [--k 5] [--repeats 5]\n"
        "                 [--warmup 1] [--threads T] [--backend cpu|cuda|auto]\n"
        "                 [--memory host|device] [--batch B] [--workspace MiB]\n"
        "  X, Y: a .npy or .fvecs file, or gen:N:D[:SEED[:SHIFT]]\n");
    return 2;
}

/* Times `call` (an expression giving an lsc_status) warmup + repeats times between two GPU
 * marks; on failure leaves through failed(). */
#define TIMED(b, call, op, x, y, k, name)                                                          \
    do {                                                                                           \
        for (int r_ = -(b)->warmup; r_ < (b)->repeats; r_++) {                                     \
            gpu_mark((b), 0);                                                                      \
            double t0_ = now_s();                                                                  \
            lsc_status st_ = (call);                                                               \
            double t1_ = now_s();                                                                  \
            gpu_mark((b), 1);                                                                      \
            double g_ = gpu_elapsed(b);                                                            \
            if (st_ != LSC_STATUS_OK) return failed((b), st_, (op), (x), (y), (k), (name));        \
            if (r_ >= 0) {                                                                         \
                (b)->t[r_] = t1_ - t0_;                                                            \
                (b)->tg[r_] = g_;                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static int op_knn(bench *b, const lsc_matrix *x, const lsc_matrix *y, int64_t k)
{
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    if (!y) o.exclude_self = 1;
    const int dev_out = x->memory == LSC_MEMORY_DEVICE;
    size_t cnt = (size_t)x->rows * (size_t)k;
    float *dist = NULL;
    int64_t *idx = NULL;
    int rc = 1;
#ifdef LSC_BENCH_CUDA
    if (dev_out) {
        o.out_memory = LSC_MEMORY_DEVICE;
        if (cudaMalloc((void **)&dist, cnt * sizeof *dist) != cudaSuccess ||
            cudaMalloc((void **)&idx, cnt * sizeof *idx) != cudaSuccess) {
            fprintf(stderr, "lsc_bench: out of device memory for the kNN outputs\n");
            goto out;
        }
    }
#endif
    if (!dev_out) {
        dist = malloc(cnt * sizeof *dist);
        idx = malloc(cnt * sizeof *idx);
        if (!dist || !idx) {
            fprintf(stderr, "lsc_bench: out of memory\n");
            goto out;
        }
    }
    {
        int bad = 0;
        for (int r = -b->warmup; r < b->repeats && !bad; r++) {
            gpu_mark(b, 0);
            double t0 = now_s();
            lsc_status st = lsc_knn(b->ctx, x, y, k, &o, dist, idx);
            double t1 = now_s();
            gpu_mark(b, 1);
            double g = gpu_elapsed(b);
            if (st != LSC_STATUS_OK) {
                rc = failed(b, st, "knn", x, y, k, "lsc_knn");
                bad = 1;
            } else if (r >= 0) {
                b->t[r] = t1 - t0;
                b->tg[r] = g;
            }
        }
        if (bad) goto out;
    }
    /* the sum of the k-th distances: equal across backends up to rounding */
    double kth = 0.0;
    float *h = dist;
#ifdef LSC_BENCH_CUDA
    if (dev_out) {
        h = malloc(cnt * sizeof *h);
        if (h && cudaMemcpy(h, dist, cnt * sizeof *h, cudaMemcpyDeviceToHost) != cudaSuccess) {
            free(h);
            h = NULL;
        }
    }
#endif
    char res[128] = "";
    if (h) {
        for (size_t q = 0; q < (size_t)x->rows; q++) kth += h[q * (size_t)k + (size_t)k - 1];
        snprintf(res, sizeof res, "\"kth_distance_sum\": %.9g", kth);
    }
    if (h != dist) free(h);
    report(b, "knn", x, y, k, b->t, b->tg, NULL, b->repeats, res);
    rc = 0;
out:
#ifdef LSC_BENCH_CUDA
    if (dev_out) {
        cudaFree(dist);
        cudaFree(idx);
        dist = NULL;
        idx = NULL;
    }
#endif
    free(dist);
    free(idx);
    return rc;
}

static void prdc_json(char *res, size_t len, const lsc_prdc_result *r)
{
    snprintf(res, len,
             "\"precision\": %.9g, \"recall\": %.9g, \"density\": %.9g, \"coverage\": %.9g",
             r->precision, r->recall, r->density, r->coverage);
}

static int op_prdc(bench *b, const lsc_matrix *real, const lsc_matrix *fake, int64_t k)
{
    lsc_prdc_result res = LSC_PRDC_RESULT_INIT;
    double *t2 = b->tg, *t3 = b->te; /* no GPU times here: three wall clocks */
    /* as a one-call PRDC (prdc.compute_prdc, lsc.prdc(real, fake)): the input outlives the
     * reference, which reads its rows in place when they are dense float32 host memory */
    lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
    ro.borrow_rows = 1;
    for (int r = -b->warmup; r < b->repeats; r++) {
        lsc_reference *ref = NULL;
        double t0 = now_s();
        lsc_status st = lsc_reference_create(b->ctx, real, k, &ro, &ref);
        if (st != LSC_STATUS_OK)
            return failed(b, st, "reference", real, NULL, k, "lsc_reference_create");
        double t1 = now_s();
        st = lsc_prdc(b->ctx, ref, fake, &res);
        double t2v = now_s();
        lsc_reference_destroy(ref);
        if (st != LSC_STATUS_OK) {
            /* the reference alone was measured: still worth its line */
            return failed(b, st, "prdc", real, fake, k, "lsc_prdc");
        }
        if (r >= 0) {
            b->t[r] = t1 - t0;
            t2[r] = t2v - t1;
            t3[r] = t2v - t0;
        }
    }
    char rj[256];
    prdc_json(rj, sizeof rj, &res);
    report(b, "reference", real, NULL, k, b->t, NULL, NULL, b->repeats, "");
    report(b, "prdc", real, fake, k, t2, NULL, NULL, b->repeats, rj);
    report(b, "prdc_total", real, fake, k, t3, NULL, NULL, b->repeats, rj);
    fprintf(stderr, "lsc_bench: precision %.6f recall %.6f density %.6f coverage %.6f\n",
            res.precision, res.recall, res.density, res.coverage);
    return 0;
}

static int op_monitor(bench *b, const lsc_matrix *real, const lsc_matrix *fake, int64_t k)
{
    lsc_reference *ref = NULL;
    double t0 = now_s();
    lsc_status st = lsc_reference_create(b->ctx, real, k, NULL, &ref);
    double t1 = now_s();
    if (st != LSC_STATUS_OK)
        return failed(b, st, "monitor_reference", real, NULL, k, "lsc_reference_create");
    double once = t1 - t0;
    report(b, "monitor_reference", real, NULL, k, &once, NULL, NULL, 1, "");
    int rc = 0;
    lsc_prdc_result res = LSC_PRDC_RESULT_INIT;
    char rj[256] = "";
    {
        int bad = 0;
        for (int r = -b->warmup; r < b->repeats && !bad; r++) {
            gpu_mark(b, 0);
            double a = now_s();
            st = lsc_prdc(b->ctx, ref, fake, &res);
            double z = now_s();
            gpu_mark(b, 1);
            double g = gpu_elapsed(b);
            if (st != LSC_STATUS_OK) {
                rc = failed(b, st, "monitor_prdc", real, fake, k, "lsc_prdc");
                bad = 1;
            } else if (r >= 0) {
                b->t[r] = z - a;
                b->tg[r] = g;
            }
        }
        if (!bad) {
            prdc_json(rj, sizeof rj, &res);
            report(b, "monitor_prdc", real, fake, k, b->t, b->tg, NULL, b->repeats, rj);
        }
    }
    if (rc) goto out;
#ifdef LSC_BENCH_CUDA
    if (b->cuda_rt && fake->memory == LSC_MEMORY_DEVICE) {
        lsc_prdc_result *pout = NULL;
        lsc_async_status *pstat = NULL;
        if (cudaMallocHost((void **)&pout, sizeof *pout) != cudaSuccess ||
            cudaMallocHost((void **)&pstat, sizeof *pstat) != cudaSuccess) {
            fprintf(stderr, "lsc_bench: cudaMallocHost failed\n");
            rc = 1;
            goto async_out;
        }
        int bad = 0;
        for (int r = -b->warmup; r < b->repeats && !bad; r++) {
            gpu_mark(b, 0);
            double a = now_s();
            st = lsc_prdc_async(b->ctx, ref, fake, pout, pstat);
            double z = now_s();
            gpu_mark(b, 1);
            double g = gpu_elapsed(b); /* waits for the work: the result is then readable */
            if (st != LSC_STATUS_OK) {
                rc = failed(b, st, "monitor_prdc_async", real, fake, k, "lsc_prdc_async");
                bad = 1;
            } else if (r >= 0) {
                b->t[r] = now_s() - a; /* enqueue to completion, seen from the host */
                b->tg[r] = g;
                b->te[r] = z - a;
            }
        }
        if (bad) goto async_out;
        prdc_json(rj, sizeof rj, pout);
        {
            char rj2[320];
            snprintf(rj2, sizeof rj2, "%s, \"async_status\": %d", rj, (int)pstat->status);
            report(b, "monitor_prdc_async", real, fake, k, b->t, b->tg, b->te, b->repeats, rj2);
        }
        /* the same call captured once in a CUDA graph, then replayed */
        {
            cudaGraph_t graph = NULL;
            cudaGraphExec_t exec = NULL;
            char why[1024] = "";
            cudaError_t e = cudaStreamBeginCapture(b->stream, cudaStreamCaptureModeThreadLocal);
            if (e != cudaSuccess) {
                snprintf(why, sizeof why, "cudaStreamBeginCapture: %s", cudaGetErrorString(e));
            } else {
                st = lsc_prdc_async(b->ctx, ref, fake, pout, pstat);
                e = cudaStreamEndCapture(b->stream, &graph);
                if (st != LSC_STATUS_OK)
                    snprintf(why, sizeof why, "lsc_prdc_async under capture: %s: %s",
                             lsc_status_name(st), lsc_last_error(b->ctx));
                else if (e != cudaSuccess)
                    snprintf(why, sizeof why, "cudaStreamEndCapture: %s", cudaGetErrorString(e));
                else if ((e = cudaGraphInstantiate(&exec, graph, 0)) != cudaSuccess)
                    snprintf(why, sizeof why, "cudaGraphInstantiate: %s", cudaGetErrorString(e));
            }
            cudaGetLastError();
            if (!exec) {
                report_skip(b, "monitor_prdc_graph", real, fake, k, why);
            } else {
                for (int r = -b->warmup; r < b->repeats && !bad; r++) {
                    memset(pout, 0, sizeof *pout);
                    gpu_mark(b, 0);
                    double a = now_s();
                    e = cudaGraphLaunch(exec, b->stream);
                    double z = now_s();
                    gpu_mark(b, 1);
                    double g = gpu_elapsed(b);
                    if (e != cudaSuccess) {
                        fprintf(stderr, "lsc_bench: cudaGraphLaunch: %s\n", cudaGetErrorString(e));
                        rc = 1;
                        bad = 1;
                    } else if (r >= 0) {
                        b->t[r] = now_s() - a;
                        b->tg[r] = g;
                        b->te[r] = z - a;
                    }
                }
                if (!bad) {
                    prdc_json(rj, sizeof rj, pout);
                    report(b, "monitor_prdc_graph", real, fake, k, b->t, b->tg, b->te, b->repeats,
                           rj);
                }
                cudaGraphExecDestroy(exec);
            }
            if (graph) cudaGraphDestroy(graph);
        }
    async_out:
        cudaFreeHost(pout);
        cudaFreeHost(pstat);
    } else
#endif
    {
        /* no CUDA runtime here, or host inputs: lsc_prdc_async says what it says */
        lsc_prdc_result out = LSC_PRDC_RESULT_INIT;
        st = lsc_prdc_async(b->ctx, ref, fake, &out, NULL);
        if (st != LSC_STATUS_OK)
            rc = failed(b, st, "monitor_prdc_async", real, fake, k, "lsc_prdc_async");
        else
            report_skip(
                b, "monitor_prdc_async", real, fake, k,
                "lsc_prdc_async succeeded, but this build cannot time it (no CUDA runtime)");
    }
out:
    lsc_reference_destroy(ref);
    return rc;
}

static void spectrum_json(char *res, size_t len, const lsc_spectrum_result *s)
{
    snprintf(res, len,
             "\"effective_rank\": %.9g, \"rankme\": %.9g, \"participation_ratio\": %.9g, "
             "\"total_variance\": %.9g, \"largest_singular_value\": %.9g, \"vendi_cosine\": %.9g",
             s->effective_rank, s->rankme, s->participation_ratio, s->total_variance,
             s->largest_singular_value, s->vendi_cosine);
}

static int op_spectrum(bench *b, const lsc_matrix *x, int64_t batch)
{
    lsc_spectrum_result res = LSC_SPECTRUM_RESULT_INIT;
    int64_t m = x->rows < x->cols ? x->rows : x->cols;
    double *sv = malloc((size_t)m * sizeof *sv);
    char rj[512];
    int rc = 0;
    if (!sv) {
        fprintf(stderr, "lsc_bench: out of memory\n");
        return 1;
    }
    {
        int bad = 0;
        for (int r = -b->warmup; r < b->repeats && !bad; r++) {
            gpu_mark(b, 0);
            double a = now_s();
            lsc_status st = lsc_spectrum(b->ctx, x, NULL, &res, sv, NULL);
            double z = now_s();
            gpu_mark(b, 1);
            double g = gpu_elapsed(b);
            if (st != LSC_STATUS_OK) {
                rc = failed(b, st, "spectrum", x, NULL, 0, "lsc_spectrum");
                bad = 1;
            } else if (r >= 0) {
                b->t[r] = z - a;
                b->tg[r] = g;
            }
        }
        if (!bad) {
            spectrum_json(rj, sizeof rj, &res);
            report(b, "spectrum", x, NULL, 0, b->t, b->tg, NULL, b->repeats, rj);
        }
    }
    if (rc) goto out;
    if (batch > 0) {
        size_t es = lsc_dtype_size(x->dtype);
        int bad = 0;
        for (int r = -b->warmup; r < b->repeats && !bad; r++) {
            lsc_spectrum_acc *acc = NULL;
            const char *call = "lsc_spectrum_acc_create";
            gpu_mark(b, 0);
            double a = now_s();
            lsc_status st = lsc_spectrum_acc_create(b->ctx, x->cols, NULL, &acc);
            for (int64_t r0 = 0; st == LSC_STATUS_OK && r0 < x->rows; r0 += batch) {
                lsc_matrix part = *x;
                part.rows = x->rows - r0 < batch ? x->rows - r0 : batch;
                part.data = (const char *)x->data + (size_t)r0 * (size_t)x->ld * es;
                st = lsc_spectrum_acc_add(b->ctx, acc, &part);
                call = "lsc_spectrum_acc_add";
            }
            if (st == LSC_STATUS_OK) {
                st = lsc_spectrum_acc_finalize(b->ctx, acc, &res, sv, NULL);
                call = "lsc_spectrum_acc_finalize";
            }
            double z = now_s();
            gpu_mark(b, 1);
            double g = gpu_elapsed(b);
            lsc_spectrum_acc_destroy(acc);
            if (st != LSC_STATUS_OK) {
                rc = failed(b, st, "spectrum_acc", x, NULL, 0, call);
                bad = 1;
            } else if (r >= 0) {
                b->t[r] = z - a;
                b->tg[r] = g;
            }
        }
        if (!bad) {
            char rj2[600];
            spectrum_json(rj, sizeof rj, &res);
            snprintf(rj2, sizeof rj2, "%s, \"batch\": %lld", rj, (long long)batch);
            report(b, "spectrum_acc", x, NULL, 0, b->t, b->tg, NULL, b->repeats, rj2);
        }
        if (rc) goto out;
    }
#ifdef LSC_BENCH_CUDA
    if (b->cuda_rt && x->memory == LSC_MEMORY_DEVICE) {
        lsc_spectrum_result *pout = NULL;
        lsc_async_status *pstat = NULL;
        int bad = 0;
        if (cudaMallocHost((void **)&pout, sizeof *pout) != cudaSuccess ||
            cudaMallocHost((void **)&pstat, sizeof *pstat) != cudaSuccess) {
            fprintf(stderr, "lsc_bench: cudaMallocHost failed\n");
            rc = 1;
            bad = 1;
        }
        for (int r = -b->warmup; r < b->repeats && !bad; r++) {
            gpu_mark(b, 0);
            double a = now_s();
            lsc_status st = lsc_spectrum_async(b->ctx, x, NULL, pout, pstat);
            double z = now_s();
            gpu_mark(b, 1);
            double g = gpu_elapsed(b);
            if (st != LSC_STATUS_OK) {
                rc = failed(b, st, "spectrum_async", x, NULL, 0, "lsc_spectrum_async");
                bad = 1;
            } else if (r >= 0) {
                b->t[r] = now_s() - a;
                b->tg[r] = g;
                b->te[r] = z - a;
            }
        }
        if (!bad) {
            spectrum_json(rj, sizeof rj, pout);
            report(b, "spectrum_async", x, NULL, 0, b->t, b->tg, b->te, b->repeats, rj);
        }
        cudaFreeHost(pout);
        cudaFreeHost(pstat);
    }
#endif
out:
    free(sv);
    return rc;
}

/* "pairs" (lsc_pair_stats with its defaults) and "pairs_uniformity" (the same call asking for
 * the uniformity), timed in alternation so both see the same machine state: the figure's cost
 * is the ratio of the two medians (issue 26's 1.1x target). */
static int op_pairs(bench *b, const lsc_matrix *x)
{
    double *tw[2], *tc[2]; /* wall and process CPU times, without and with the uniformity */
    tw[0] = b->t;
    tw[1] = calloc((size_t)b->repeats * 3, sizeof(double));
    if (!tw[1]) return 1;
    tc[0] = tw[1] + b->repeats;
    tc[1] = tc[0] + b->repeats;
    lsc_pair_result res[2] = {LSC_PAIR_RESULT_INIT, LSC_PAIR_RESULT_INIT};
    const char *names[2] = {"pairs", "pairs_uniformity"};
    int rc = 0, stop = 0;
    for (int r = -b->warmup; r < b->repeats && !stop; r++)
        for (int which = 0; which < 2 && !stop; which++) {
            lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
            o.uniformity = which;
            const double a = now_s(), ac = cpu_s();
            lsc_status st = lsc_pair_stats(b->ctx, x, &o, &res[which], NULL, NULL);
            const double e = now_s(), ec = cpu_s();
            if (st != LSC_STATUS_OK) {
                rc = failed(b, st, names[which], x, NULL, 0, "lsc_pair_stats");
                stop = 1;
            } else if (r >= 0) {
                tw[which][r] = e - a;
                tc[which][r] = ec - ac;
            }
        }
    for (int which = 0; which < 2 && !stop; which++) {
        char rj[320], u[32] = "null"; /* JSON has no NaN: the figure not asked for */
        if (!isnan(res[which].uniformity)) snprintf(u, sizeof u, "%.12g", res[which].uniformity);
        snprintf(rj, sizeof rj,
                 "\"mean\": %.9g, \"std\": %.9g, \"min\": %.9g, \"max\": %.9g, \"nn_mean\": %.9g, "
                 "\"near_duplicate_pairs\": %lld, \"uniformity\": %s",
                 res[which].mean, res[which].std, res[which].min, res[which].max,
                 res[which].nn_mean, (long long)res[which].near_duplicate_pairs, u);
        b->tc = tc[which];
        report(b, names[which], x, NULL, 0, tw[which], NULL, NULL, b->repeats, rj);
        b->tc = NULL;
    }
    free(tw[1]);
    return rc;
}

/* ---------------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *op = argv[1], *xspec = NULL, *yspec = NULL, *backend_s = "cpu", *memory_s = NULL;
    long long k = 5, batch = 0;
    int repeats = 5, warmup = 1, threads = 0;
    long long workspace_mib = 0;
    for (int i = 0; i < argc; i++) {
        if (i) json_escape_append(g_cmd, sizeof g_cmd, " ");
        json_escape_append(g_cmd, sizeof g_cmd, argv[i]);
    }
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc) return usage();
        if (!strcmp(argv[i], "--x")) xspec = argv[++i];
        else if (!strcmp(argv[i], "--y")) yspec = argv[++i];
        else if (!strcmp(argv[i], "--k")) k = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--repeats")) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--backend")) backend_s = argv[++i];
        else if (!strcmp(argv[i], "--memory")) memory_s = argv[++i];
        else if (!strcmp(argv[i], "--batch")) batch = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--workspace")) workspace_mib = atoll(argv[++i]);
        else return usage();
    }
    if (!xspec || repeats < 1 || warmup < 0 || k < 1 || batch < 0 || workspace_mib < 0)
        return usage();
    if (strcmp(op, "knn") && strcmp(op, "prdc") && strcmp(op, "monitor") &&
        strcmp(op, "spectrum") && strcmp(op, "pairs") && strcmp(op, "geometry"))
        return usage();
    lsc_backend backend;
    if (!strcmp(backend_s, "cpu")) backend = LSC_BACKEND_CPU;
    else if (!strcmp(backend_s, "cuda")) backend = LSC_BACKEND_CUDA;
    else if (!strcmp(backend_s, "auto")) backend = LSC_BACKEND_AUTO;
    else return usage();
#ifdef LSC_BENCH_CUDA
    int device_mem = memory_s ? !strcmp(memory_s, "device") : backend == LSC_BACKEND_CUDA;
#else
    int device_mem = memory_s && !strcmp(memory_s, "device");
#endif
    if (memory_s && strcmp(memory_s, "host") && strcmp(memory_s, "device")) return usage();
#ifndef LSC_BENCH_CUDA
    if (device_mem) {
        fprintf(stderr, "lsc_bench: --memory device needs a build with the CUDA backend "
                        "(-DLSC_CUDA=ON): this one has no CUDA runtime\n");
        return 2;
    }
#endif

    char err[512];
    bench_input xin, yin;
    memset(&xin, 0, sizeof xin);
    memset(&yin, 0, sizeof yin);
    bench b;
    memset(&b, 0, sizeof b);
    b.repeats = repeats;
    b.warmup = warmup;
    b.threads = threads;
    int rc = 0;
    if ((rc = input_open(xspec, &xin, err, sizeof err)) != 0 ||
        (yspec && (rc = input_open(yspec, &yin, err, sizeof err)) != 0)) {
        fprintf(stderr, "lsc_bench: %s\n", err);
        input_close(&xin);
        return rc;
    }

    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = backend;
    p.threads = threads;
    p.workspace_limit = (size_t)workspace_mib << 20; /* 0: the library's default */
#ifdef LSC_BENCH_CUDA
    /* our own stream, so the events bracket exactly the context's work */
    if (backend != LSC_BACKEND_CPU) {
        cudaError_t e = cudaStreamCreateWithFlags(&b.stream, cudaStreamNonBlocking);
        if (e == cudaSuccess) e = cudaEventCreate(&b.ev0);
        if (e == cudaSuccess) e = cudaEventCreate(&b.ev1);
        if (e != cudaSuccess) {
            if (device_mem) {
                fprintf(stderr, "lsc_bench: CUDA runtime: %s\n", cudaGetErrorString(e));
                rc = 1;
                goto done;
            }
            /* host inputs: no events; lsc_ctx_create says why CUDA cannot be used, or AUTO
             * picks the CPU */
            cudaGetLastError();
            b.stream = NULL;
        }
        p.stream = b.stream;
    }
#endif
    if (lsc_ctx_create(&p, &b.ctx) != LSC_STATUS_OK) {
        fprintf(stderr, "lsc_bench: context (--backend %s): %s\n", backend_s,
                lsc_last_error(b.ctx));
        rc = 1;
        goto done;
    }
    b.backend = lsc_ctx_backend(b.ctx) == LSC_BACKEND_CUDA ? "cuda" : "cpu";
    b.device = lsc_ctx_device_name(b.ctx);
#ifdef LSC_BENCH_CUDA
    b.cuda_rt = lsc_ctx_backend(b.ctx) == LSC_BACKEND_CUDA && b.stream != NULL;
    if (device_mem) {
        if (lsc_ctx_backend(b.ctx) != LSC_BACKEND_CUDA) {
            fprintf(stderr,
                    "lsc_bench: --memory device needs the CUDA backend (the context runs "
                    "on %s)\n",
                    b.backend);
            rc = 2;
            goto done;
        }
        /* the real rows of a reference are read from the host (lsc.h): x stays there for
         * prdc and monitor, y (the generated rows) goes to the device */
        int x_dev = strcmp(op, "prdc") && strcmp(op, "monitor");
        if ((x_dev && input_to_device(&xin, err, sizeof err)) ||
            (yspec && input_to_device(&yin, err, sizeof err)) ||
            (!yspec && !x_dev && input_to_device(&xin, err, sizeof err))) {
            fprintf(stderr, "lsc_bench: %s\n", err);
            rc = 1;
            goto done;
        }
    }
#endif
    b.t = calloc((size_t)repeats, sizeof *b.t);
    b.tg = calloc((size_t)repeats, sizeof *b.tg);
    b.te = calloc((size_t)repeats, sizeof *b.te);
    if (!b.t || !b.tg || !b.te) {
        fprintf(stderr, "lsc_bench: out of memory\n");
        rc = 1;
        goto done;
    }
    {
        const lsc_matrix *x = &xin.m, *y = yspec ? &yin.m : NULL;
        if (!strcmp(op, "knn")) {
            rc = op_knn(&b, x, y, k);
        } else if (!strcmp(op, "prdc") || !strcmp(op, "monitor")) {
            /* the fake rows: y, or x itself (on the device when x was placed there) */
            const lsc_matrix *fake = y ? y : x;
            rc = !strcmp(op, "prdc") ? op_prdc(&b, &xin.host, fake, k)
                                     : op_monitor(&b, &xin.host, fake, k);
        } else if (!strcmp(op, "spectrum")) {
            rc = op_spectrum(&b, x, batch);
        } else if (!strcmp(op, "geometry")) {
            rc = op_geometry(&b, x, k);
        } else {
            rc = op_pairs(&b, x);
        }
    }

done:
    free(b.t);
    free(b.tg);
    free(b.te);
    lsc_ctx_destroy(b.ctx);
    input_close(&xin);
    input_close(&yin);
#ifdef LSC_BENCH_CUDA
    if (b.ev0) cudaEventDestroy(b.ev0);
    if (b.ev1) cudaEventDestroy(b.ev1);
    if (b.stream) cudaStreamDestroy(b.stream);
#endif
    return rc;
}
