/* The sharded verdicts over MPI (lsc.h section 12), run by ctest under mpirun with 1 to 4 ranks:
 * for several splits of the reference and the generated rows (uneven and empty shards), with
 * labels and near rows, every rank's lsc_assess_sharded must give the verdicts one process's
 * lsc_assess gives on the concatenated rows (levels and `why` exactly, figures within 1e-9,
 * the uncovered rows and near rows exactly); a NaN on one rank must give every rank the same
 * status and message. Exit 0 when every check passed on every rank. */
#define _POSIX_C_SOURCE 200809L
#include "lsc.h"

#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static int my_rank;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "rank %d: %s:%d: ", my_rank, __FILE__, __LINE__);                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* Deterministic data every rank generates alike (about Gaussian, an offset per column). */
static float *make_data(int64_t n, int64_t d, uint64_t seed)
{
    float *x = (float *)malloc((size_t)(n * d) * sizeof(float));
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < n * d; i++) {
        double v = 0;
        for (int k = 0; k < 4; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            v += (double)(s >> 11) / 9007199254740992.0 - 0.5;
        }
        x[i] = (float)(0.5 + v * (1.0 + (double)(i % d)));
    }
    return x;
}

/* This rank's rows [lo, hi) of n under a split: weights w[r] (0 = empty shard). */
static void shard(int64_t n, int ranks, int rank, const int *w, int64_t *lo, int64_t *hi)
{
    int64_t total = 0, before = 0;
    for (int r = 0; r < ranks; r++) total += w[r];
    for (int r = 0; r < rank; r++) before += w[r];
    *lo = n * before / total;
    *hi = n * (before + w[rank]) / total;
}

static lsc_matrix rows_of(const float *x, int64_t lo, int64_t hi, int64_t d)
{
    return lsc_matrix_f32(hi > lo ? x + lo * d : NULL, hi - lo, d);
}

static int close_to(double a, double b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b)) return a == b;
    return fabs(a - b) <= 1e-9 * fabs(b) + 1e-12;
}

/* The sharded assessment `got` against one process's `want`. */
static void compare(const lsc_assessment *got, const lsc_assessment *want, int split)
{
    for (int c = 0; c < LSC_CHECK_COUNT; c++) {
        lsc_verdict g = LSC_VERDICT_INIT, w = LSC_VERDICT_INIT;
        CHECK(lsc_assessment_verdict(got, (lsc_check)c, &g) == LSC_STATUS_OK &&
                  lsc_assessment_verdict(want, (lsc_check)c, &w) == LSC_STATUS_OK,
              "verdict %d", c);
        CHECK(g.level == w.level && strcmp(g.why, w.why) == 0,
              "split %d, %s: '%s' (%s) where one process gives '%s' (%s)", split,
              lsc_check_name((lsc_check)c), lsc_level_name(g.level), g.why, lsc_level_name(w.level),
              w.why);
        CHECK(close_to(g.value, w.value) && close_to(g.matched, w.matched) &&
                  close_to(g.baseline, w.baseline) && close_to(g.spread, w.spread) &&
                  close_to(g.score, w.score),
              "split %d, %s: figures %.17g %.17g %.17g vs %.17g %.17g %.17g", split,
              lsc_check_name((lsc_check)c), g.value, g.matched, g.baseline, w.value, w.matched,
              w.baseline);
    }
    CHECK(lsc_assessment_class_count(got) == lsc_assessment_class_count(want), "class count");
    for (int64_t c = 0; c < lsc_assessment_class_count(want); c++) {
        lsc_class_verdict g = LSC_CLASS_VERDICT_INIT, w = LSC_CLASS_VERDICT_INIT;
        lsc_assessment_class(got, c, &g);
        lsc_assessment_class(want, c, &w);
        CHECK(g.label == w.label && g.real_rows == w.real_rows && g.coverage == w.coverage &&
                  g.level == w.level && g.share_level == w.share_level &&
                  close_to(g.score, w.score),
              "split %d, class %lld differs", split, (long long)c);
    }
    int64_t ug = -2, uw = -2;
    lsc_assessment_uncovered(got, NULL, 0, &ug);
    lsc_assessment_uncovered(want, NULL, 0, &uw);
    CHECK(ug == uw, "split %d: %lld uncovered rows, one process %lld", split, (long long)ug,
          (long long)uw);
    if (ug == uw && uw > 0) {
        int64_t *a = (int64_t *)malloc((size_t)uw * sizeof *a);
        int64_t *b = (int64_t *)malloc((size_t)uw * sizeof *b);
        lsc_assessment_uncovered(got, a, uw, &ug);
        lsc_assessment_uncovered(want, b, uw, &uw);
        CHECK(memcmp(a, b, (size_t)uw * sizeof *a) == 0, "split %d: uncovered rows differ", split);
        free(a);
        free(b);
    }
    CHECK(lsc_assessment_near_rows(got) == lsc_assessment_near_rows(want),
          "split %d: %lld near rows, one process %lld", split,
          (long long)lsc_assessment_near_rows(got), (long long)lsc_assessment_near_rows(want));
}

int main(int argc, char **argv)
{
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    int ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);

    lsc_ctx_params prm = LSC_CTX_PARAMS_INIT;
    prm.backend = LSC_BACKEND_CPU;
    prm.threads = 1;
    lsc_ctx *ctx = NULL, *one = NULL;
    CHECK(lsc_ctx_create(&prm, &ctx) == LSC_STATUS_OK, "context: %s", lsc_last_error(ctx));
    CHECK(lsc_ctx_create(&prm, &one) == LSC_STATUS_OK, "context: %s", lsc_last_error(one));
    lsc_status s = lsc_ctx_set_mpi(ctx, (int64_t)MPI_Comm_c2f(MPI_COMM_WORLD));
    CHECK(s == LSC_STATUS_OK, "lsc_ctx_set_mpi: %s", lsc_last_error(ctx));

    enum { N = 160, M = 90, D = 5, K = 4 };
    float *real = make_data(N, D, 13), *fake = make_data(M, D, 14);
    int64_t rl[N], fl[M];
    for (int i = 0; i < N; i++) rl[i] = 10 + i % 4;
    for (int i = 0; i < M; i++) fl[i] = 10 + i % 3; /* class 13 never generated */
    for (int i = 0; i < 6; i++)                     /* copies of reference rows */
        memcpy(fake + (i * 11) * D, real + (i * 23) * D, D * sizeof(float));
    lsc_matrix all_real = lsc_matrix_f32(real, N, D), all_fake = lsc_matrix_f32(fake, M, D);
    static const int splits[4][4] = {{1, 1, 1, 1}, {1, 5, 2, 9}, {0, 3, 1, 2}, {4, 1, 3, 0}};

    for (int labelled = 0; labelled < 2; labelled++) {
        lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
        o.near_distance = 0.0;
        o.seed = 5;
        if (labelled) {
            o.real_labels = rl;
            o.fake_labels = fl;
        }
        lsc_reference *wref = NULL;
        lsc_assessment *want = NULL;
        CHECK(lsc_reference_create(one, &all_real, K, NULL, &wref) == LSC_STATUS_OK,
              "one reference: %s", lsc_last_error(one));
        CHECK(lsc_assess(one, wref, &all_fake, &o, &want) == LSC_STATUS_OK, "one assess: %s",
              lsc_last_error(one));
        for (int k = 0; k < 4 && want; k++) {
            int w[4], v[4];
            for (int r = 0; r < 4; r++) {
                w[r] = splits[k][r];
                v[r] = splits[(k + 1) % 4][r]; /* the generated rows split otherwise */
            }
            if (ranks == 1) w[0] = v[0] = 1;
            int64_t lo, hi, flo, fhi;
            shard(N, ranks, my_rank, w, &lo, &hi);
            shard(M, ranks, my_rank, v, &flo, &fhi);
            lsc_matrix a = rows_of(real, lo, hi, D), f = rows_of(fake, flo, fhi, D);
            lsc_assess_opts so = o;
            if (labelled) {
                so.real_labels = hi > lo ? rl + lo : NULL;
                so.fake_labels = fhi > flo ? fl + flo : NULL;
            }
            lsc_reference *ref = NULL;
            lsc_assessment *got = NULL;
            s = lsc_reference_create_sharded(ctx, &a, K, NULL, &ref);
            CHECK(s == LSC_STATUS_OK, "reference: %s", lsc_last_error(ctx));
            s = lsc_assess_sharded(ctx, ref, &f, &so, &got);
            CHECK(s == LSC_STATUS_OK, "split %d: %s", k, lsc_last_error(ctx));
            if (got) compare(got, want, k);
            lsc_assessment_destroy(got);
            lsc_reference_destroy(ref);
        }
        lsc_assessment_destroy(want);
        lsc_reference_destroy(wref);
    }

    /* a NaN in the last rank's generated rows: every rank the same status and message */
    {
        static const int even[4] = {1, 1, 1, 1};
        int64_t lo, hi, flo, fhi;
        shard(N, ranks, my_rank, even, &lo, &hi);
        shard(M, ranks, my_rank, even, &flo, &fhi);
        float *mine = (float *)malloc((size_t)((fhi - flo) * D) * sizeof(float));
        memcpy(mine, fake + flo * D, (size_t)((fhi - flo) * D) * sizeof(float));
        if (my_rank == ranks - 1) mine[1 * D + 2] = NAN;
        lsc_matrix a = rows_of(real, lo, hi, D), f = lsc_matrix_f32(mine, fhi - flo, D);
        lsc_reference *ref = NULL;
        s = lsc_reference_create_sharded(ctx, &a, K, NULL, &ref);
        CHECK(s == LSC_STATUS_OK, "reference: %s", lsc_last_error(ctx));
        lsc_assessment *got = NULL;
        s = lsc_assess_sharded(ctx, ref, &f, NULL, &got);
        CHECK(s == LSC_STATUS_INVALID_DATA && got == NULL, "NaN: %s (%s)", lsc_status_name(s),
              lsc_last_error(ctx));
        char msg[512], msg0[512];
        snprintf(msg, sizeof msg, "%s", lsc_last_error(ctx));
        memcpy(msg0, msg, sizeof msg);
        MPI_Bcast(msg0, (int)sizeof msg0, MPI_CHAR, 0, MPI_COMM_WORLD);
        CHECK(strcmp(msg, msg0) == 0, "NaN: message '%s', rank 0 '%s'", msg, msg0);
        CHECK(strstr(msg, "row 1 col 2") != NULL, "NaN: message '%s'", msg);
        lsc_reference_destroy(ref);
        free(mine);
    }

    free(real);
    free(fake);
    lsc_ctx_destroy(ctx);
    lsc_ctx_destroy(one);
    int all_failures = 0;
    MPI_Allreduce(&failures, &all_failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (my_rank == 0) printf("mpi_assess: %d ranks, %d failures\n", ranks, all_failures);
    MPI_Finalize();
    return all_failures ? 1 : 0;
}
