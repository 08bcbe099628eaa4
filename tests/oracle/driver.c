/*
 * lsc_oracle_driver: runs one lsc call on raw float32 matrices and prints the result as one JSON
 * line, for tests/oracle/test_oracles.py to compare with the published peer packages.
 *
 *   lsc_oracle_driver prdc REAL.f32 N D FAKE.f32 M K [strict|inclusive]
 *       -> {"precision":..,"recall":..,"density":..,"coverage":..,...}
 *   lsc_oracle_driver spectrum X.f32 N D
 *       -> every lsc_spectrum_result figure, vendi_cosine null when unavailable
 *
 * A .f32 file is rows x cols little-endian IEEE float32 values, row-major, nothing else.
 * The backend is AUTO unless LSC_ORACLE_BACKEND is cpu, cuda or auto.
 * Errors: one line on stderr, exit status 2.
 */
#include <lsc.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lsc_oracle_driver: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void usage(void)
{
    die("usage: lsc_oracle_driver prdc REAL.f32 N D FAKE.f32 M K [strict|inclusive]\n"
        "       lsc_oracle_driver spectrum X.f32 N D");
}

static int64_t parse_count(const char *s, const char *what)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1)
        die("%s must be a positive integer, got '%s'", what, s);
    return (int64_t)v;
}

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Reads exactly rows x cols float32 values from path; the file must hold nothing else. */
static float *read_f32(const char *path, int64_t rows, int64_t cols)
{
    if (rows > INT64_MAX / cols || (uint64_t)(rows * cols) > SIZE_MAX / sizeof(float))
        die("%s: %lld x %lld is too large", path, (long long)rows, (long long)cols);
    const size_t count = (size_t)(rows * cols);
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: cannot open: %s", path, strerror(errno));
    float *data = (float *)malloc(count * sizeof(float));
    if (!data) die("%s: out of memory for %zu floats", path, count);
    size_t got = fread(data, sizeof(float), count, f);
    if (got != count)
        die("%s: holds %zu floats, expected %lld x %lld = %zu", path, got, (long long)rows,
            (long long)cols, count);
    if (fgetc(f) != EOF)
        die("%s: longer than %lld x %lld float32 values", path, (long long)rows, (long long)cols);
    fclose(f);
    if (!host_is_little_endian()) {
        for (size_t i = 0; i < count; i++) {
            unsigned char b[4], t;
            memcpy(b, &data[i], 4);
            t = b[0];
            b[0] = b[3];
            b[3] = t;
            t = b[1];
            b[1] = b[2];
            b[2] = t;
            memcpy(&data[i], b, 4);
        }
    }
    return data;
}

static lsc_ctx *make_ctx(void)
{
    lsc_ctx_params params = LSC_CTX_PARAMS_INIT;
    const char *b = getenv("LSC_ORACLE_BACKEND");
    if (b && *b) {
        if (strcmp(b, "cpu") == 0) params.backend = LSC_BACKEND_CPU;
        else if (strcmp(b, "cuda") == 0) params.backend = LSC_BACKEND_CUDA;
        else if (strcmp(b, "auto") == 0) params.backend = LSC_BACKEND_AUTO;
        else die("LSC_ORACLE_BACKEND must be cpu, cuda or auto, not '%s'", b);
    }
    lsc_ctx *ctx = NULL;
    lsc_status st = lsc_ctx_create(&params, &ctx);
    if (st != LSC_STATUS_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", lsc_last_error(ctx));
        lsc_ctx_destroy(ctx);
        die("lsc_ctx_create: %s: %s", lsc_status_name(st), msg);
    }
    return ctx;
}

static void check(lsc_ctx *ctx, lsc_status st, const char *call)
{
    if (st != LSC_STATUS_OK) die("%s: %s: %s", call, lsc_status_name(st), lsc_last_error(ctx));
}

static const char *backend_name(lsc_backend b)
{
    switch (b) {
    case LSC_BACKEND_CPU: return "cpu";
    case LSC_BACKEND_CUDA: return "cuda";
    default: return "auto";
    }
}

static int run_prdc(int argc, char **argv)
{
    if (argc != 8 && argc != 9) usage();
    const int64_t n = parse_count(argv[3], "N"), d = parse_count(argv[4], "D");
    const int64_t m = parse_count(argv[6], "M"), k = parse_count(argv[7], "K");
    lsc_reference_opts opts = LSC_REFERENCE_OPTS_INIT;
    if (argc == 9) {
        if (strcmp(argv[8], "strict") == 0) opts.comparison = LSC_COMPARISON_STRICT;
        else if (strcmp(argv[8], "inclusive") == 0) opts.comparison = LSC_COMPARISON_INCLUSIVE;
        else die("comparison must be strict or inclusive, not '%s'", argv[8]);
    }
    float *real = read_f32(argv[2], n, d);
    float *fake = read_f32(argv[5], m, d);
    lsc_ctx *ctx = make_ctx();
    lsc_matrix rm = lsc_matrix_f32(real, n, d), fm = lsc_matrix_f32(fake, m, d);
    lsc_reference *ref = NULL;
    check(ctx, lsc_reference_create(ctx, &rm, k, &opts, &ref), "lsc_reference_create");
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    check(ctx, lsc_prdc(ctx, ref, &fm, &r), "lsc_prdc");
    printf("{\"precision\":%.17g,\"recall\":%.17g,\"density\":%.17g,\"coverage\":%.17g,"
           "\"k\":%lld,\"real_rows\":%lld,\"fake_rows\":%lld,\"zero_radii_real\":%lld,"
           "\"zero_radii_fake\":%lld,\"comparison\":\"%s\",\"backend\":\"%s\"}\n",
           r.precision, r.recall, r.density, r.coverage, (long long)r.k, (long long)r.real_rows,
           (long long)r.fake_rows, (long long)r.zero_radii_real, (long long)r.zero_radii_fake,
           r.comparison == LSC_COMPARISON_INCLUSIVE ? "inclusive" : "strict",
           backend_name(lsc_ctx_backend(ctx)));
    lsc_reference_destroy(ref);
    lsc_ctx_destroy(ctx);
    free(real);
    free(fake);
    return 0;
}

static int run_spectrum(int argc, char **argv)
{
    if (argc != 5) usage();
    const int64_t n = parse_count(argv[3], "N"), d = parse_count(argv[4], "D");
    float *x = read_f32(argv[2], n, d);
    lsc_ctx *ctx = make_ctx();
    lsc_matrix xm = lsc_matrix_f32(x, n, d);
    lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
    check(ctx, lsc_spectrum(ctx, &xm, NULL, &r, NULL, NULL), "lsc_spectrum");
    char vendi[64];
    if (r.vendi_status == LSC_VENDI_OK) snprintf(vendi, sizeof vendi, "%.17g", r.vendi_cosine);
    else snprintf(vendi, sizeof vendi, "null");
    printf("{\"rows\":%lld,\"cols\":%lld,\"rank_limit\":%lld,\"numerical_rank\":%lld,"
           "\"effective_rank\":%.17g,\"rankme\":%.17g,\"participation_ratio\":%.17g,"
           "\"stable_rank\":%.17g,\"dims_90\":%lld,\"dims_99\":%lld,\"active_units\":%lld,"
           "\"active_threshold\":%.17g,\"total_variance\":%.17g,\"largest_singular_value\":%.17g,"
           "\"vendi_cosine\":%s,\"vendi_status\":%d,\"vendi_zero_row\":%lld,"
           "\"all_rows_identical\":%d,\"vendi_cosine_q0\":%.17g,\"vendi_cosine_q2\":%.17g,"
           "\"vendi_cosine_qinf\":%.17g,\"alpha_req\":%.17g,\"alpha_req_ranks\":%lld,"
           "\"backend\":\"%s\"}\n",
           (long long)r.rows, (long long)r.cols, (long long)r.rank_limit,
           (long long)r.numerical_rank, r.effective_rank, r.rankme, r.participation_ratio,
           r.stable_rank, (long long)r.dims_90, (long long)r.dims_99, (long long)r.active_units,
           r.active_threshold, r.total_variance, r.largest_singular_value, vendi,
           (int)r.vendi_status, (long long)r.vendi_zero_row, r.all_rows_identical,
           r.vendi_cosine_q0, r.vendi_cosine_q2, r.vendi_cosine_qinf, r.alpha_req,
           (long long)r.alpha_req_ranks, backend_name(lsc_ctx_backend(ctx)));
    lsc_ctx_destroy(ctx);
    free(x);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    if (strcmp(argv[1], "prdc") == 0) return run_prdc(argc, argv);
    if (strcmp(argv[1], "spectrum") == 0) return run_spectrum(argc, argv);
    usage();
    return 2;
}
