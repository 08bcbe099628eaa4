/* The sharded verdicts over MPI (lsc.h section 12), run by ctest under mpirun with 1 to 4 ranks:
 * for several splits of the reference and the generated rows (uneven and empty shards), with
 * labels and near rows, every rank's lsc_assess_sharded must give the verdicts one process's
 * lsc_assess gives on the concatenated rows (levels and `why` exactly, figures within 1e-9,
 * the uncovered rows and near rows exactly); a NaN on one rank must give every rank the same
 * status and message. Exit 0 when every check passed on every rank. */
#define _POSIX_C_SOURCE 200809L
#include "mpi_common.h"

#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    lsc_ctx *ctx = NULL, *one = NULL;
    const int ranks = start(&argc, &argv, &ctx, &one);
    lsc_status s = LSC_STATUS_OK;

    enum { N = 160, M = 90, D = 5, K = 4 };
    float *real = make_data_at(N, D, 13, 0.5), *fake = make_data_at(M, D, 14, 0.5);
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
            int64_t lo, hi, flo, fhi;
            split_both(splits, k, ranks, N, M, &lo, &hi, &flo, &fhi);
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
        same_message(ctx, "NaN", "row 1 col 2");
        lsc_reference_destroy(ref);
        free(mine);
    }

    free(real);
    free(fake);
    lsc_ctx_destroy(ctx);
    lsc_ctx_destroy(one);
    return finish("mpi_assess", ranks);
}
