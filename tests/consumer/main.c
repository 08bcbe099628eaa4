/* A consumer of the installed lsc: built by tests/consumer/run.cmake against an install prefix
 * with find_package(lsc) (lsc::lsc and lsc::lsc_static) and with pkg-config. Plain C99. */
#include <lsc.h>

#include <stdio.h>
#include <string.h>

#define ROWS 64
#define COLS 4
#define K 3

static int fail(lsc_ctx *ctx, const char *call, lsc_status st)
{
    fprintf(stderr, "consumer: %s: %s: %s\n", call, lsc_status_name(st), lsc_last_error(ctx));
    lsc_ctx_destroy(ctx);
    return 1;
}

int main(void)
{
    if (lsc_version_number() != LSC_VERSION_NUMBER) {
        fprintf(stderr, "consumer: header %d but library %d (%s)\n", LSC_VERSION_NUMBER,
                lsc_version_number(), lsc_version());
        return 1;
    }

    /* deterministic data: a small linear congruential generator, values in [-1, 1) */
    static float x[ROWS * COLS];
    unsigned long state = 12345UL;
    for (int i = 0; i < ROWS * COLS; i++) {
        state = (state * 1103515245UL + 12345UL) & 0x7fffffffUL;
        x[i] = (float)((double)state / 1073741824.0 - 1.0);
    }

    lsc_ctx *ctx = NULL;
    lsc_status st = lsc_ctx_create(NULL, &ctx);
    if (st != LSC_STATUS_OK) return fail(ctx, "lsc_ctx_create", st);
    lsc_matrix m = lsc_matrix_f32(x, ROWS, COLS);

    lsc_spectrum_result spec = LSC_SPECTRUM_RESULT_INIT;
    double sv[COLS];
    st = lsc_spectrum(ctx, &m, NULL, &spec, sv, NULL);
    if (st != LSC_STATUS_OK) return fail(ctx, "lsc_spectrum", st);
    if (spec.rows != ROWS || spec.cols != COLS || spec.rank_limit != COLS ||
        !(spec.effective_rank > 1.0 && spec.effective_rank <= COLS + 1e-9) ||
        spec.vendi_status != LSC_VENDI_OK || !(spec.vendi_cosine >= 1.0) || !(sv[0] > 0.0) ||
        sv[0] != spec.largest_singular_value) {
        fprintf(stderr, "consumer: implausible spectrum (rows %lld, effective rank %g, vendi %g)\n",
                (long long)spec.rows, spec.effective_rank, spec.vendi_cosine);
        lsc_ctx_destroy(ctx);
        return 1;
    }

    float dist[ROWS * K];
    int64_t idx[ROWS * K];
    lsc_knn_opts kopts = LSC_KNN_OPTS_INIT;
    kopts.exclude_self = 1;
    st = lsc_knn(ctx, &m, NULL, K, &kopts, dist, idx);
    if (st != LSC_STATUS_OK) return fail(ctx, "lsc_knn", st);
    for (int64_t q = 0; q < ROWS; q++) {
        for (int t = 0; t < K; t++) {
            int64_t j = idx[q * K + t];
            if (j < 0 || j >= ROWS || j == q || !(dist[q * K + t] > 0.0f) ||
                (t > 0 && dist[q * K + t] < dist[q * K + t - 1])) {
                fprintf(stderr, "consumer: bad neighbour %d of row %lld: %lld at %g\n", t,
                        (long long)q, (long long)j, (double)dist[q * K + t]);
                lsc_ctx_destroy(ctx);
                return 1;
            }
        }
    }

    /* an error comes back as a status and a message, never a crash */
    st = lsc_knn(ctx, &m, NULL, 0, &kopts, dist, idx);
    if (st != LSC_STATUS_INVALID_ARGUMENT || lsc_last_error(ctx)[0] == '\0') {
        fprintf(stderr, "consumer: k = 0 gave %s (\"%s\"), expected LSC_STATUS_INVALID_ARGUMENT\n",
                lsc_status_name(st), lsc_last_error(ctx));
        lsc_ctx_destroy(ctx);
        return 1;
    }

    printf("consumer: lsc %s on %s: effective rank %.6f, vendi %.6f, nearest of row 0 is %lld\n",
           lsc_version(), lsc_ctx_device_name(ctx), spec.effective_rank, spec.vendi_cosine,
           (long long)idx[0]);
    lsc_ctx_destroy(ctx);
    return 0;
}
