/* The sharded calls over MPI (lsc.h section 12), run by ctest under mpirun with 1 to 4 ranks:
 * for several splits of one data set (uneven and empty shards), every rank's spectrum must be the
 * same bytes as rank 0's and equal one process's lsc_spectrum on all rows within docs/METRICS.md's
 * tolerances, and every rank's kNN lists against the sharded base must equal one process's
 * lsc_knn exactly; bad input on one rank must give every rank the same status and message.
 *   mpi_sharded           the checks above (MPI initialised with MPI_THREAD_FUNNELED)
 *   mpi_sharded single    MPI initialised with MPI_THREAD_SINGLE: lsc_ctx_set_mpi must refuse
 * Exit 0 when every check passed on every rank. */
#include "mpi_common.h"

#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int close_to(double got, double want)
{
    double tol = fabs(want) * 2e-4;
    return fabs(got - want) <= (tol > 1e-9 ? tol : 1e-9);
}

/* The figures of one run against one process's, and against rank 0's bytes. */
static void compare(const lsc_spectrum_result *g, const double *gsv, const lsc_spectrum_result *w,
                    const double *wsv, int64_t m, const char *what)
{
    CHECK(g->rows == w->rows && g->cols == w->cols, "%s: shape %lld x %lld", what,
          (long long)g->rows, (long long)g->cols);
    CHECK(g->numerical_rank == w->numerical_rank, "%s: numerical_rank %lld vs %lld", what,
          (long long)g->numerical_rank, (long long)w->numerical_rank);
    CHECK(g->dims_90 == w->dims_90 && g->dims_99 == w->dims_99, "%s: dims", what);
    CHECK(g->active_units == w->active_units, "%s: active_units", what);
    CHECK(close_to(g->effective_rank, w->effective_rank), "%s: effective_rank %.17g vs %.17g", what,
          g->effective_rank, w->effective_rank);
    CHECK(close_to(g->rankme, w->rankme), "%s: rankme", what);
    CHECK(close_to(g->participation_ratio, w->participation_ratio), "%s: participation_ratio",
          what);
    CHECK(close_to(g->total_variance, w->total_variance), "%s: total_variance", what);
    CHECK(close_to(g->vendi_cosine, w->vendi_cosine), "%s: vendi_cosine", what);
    for (int64_t i = 0; i < m; i++)
        CHECK(close_to(gsv[i], wsv[i]), "%s: singular value %lld: %.17g vs %.17g", what,
              (long long)i, gsv[i], wsv[i]);
    /* the same bytes on every rank */
    lsc_spectrum_result r0 = *g;
    MPI_Bcast(&r0, (int)sizeof r0, MPI_BYTE, 0, MPI_COMM_WORLD);
    CHECK(memcmp(&r0, g, sizeof r0) == 0, "%s: figures differ from rank 0's", what);
}

int main(int argc, char **argv)
{
    const int single = argc > 1 && strcmp(argv[1], "single") == 0;
    int provided = 0;
    MPI_Init_thread(&argc, &argv, single ? MPI_THREAD_SINGLE : MPI_THREAD_FUNNELED, &provided);
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

    if (single) {
        CHECK(provided == MPI_THREAD_FUNNELED || s == LSC_STATUS_INVALID_ARGUMENT,
              "MPI_THREAD_SINGLE accepted: %s", lsc_status_name(s));
        if (provided < MPI_THREAD_FUNNELED)
            CHECK(strstr(lsc_last_error(ctx), "FUNNELED") != NULL, "message: %s",
                  lsc_last_error(ctx));
    } else {
        CHECK(s == LSC_STATUS_OK, "lsc_ctx_set_mpi: %s", lsc_last_error(ctx));
        int64_t rank = -1, nr = -1;
        lsc_ctx_ranks(ctx, &rank, &nr);
        CHECK(rank == my_rank && nr == ranks, "lsc_ctx_ranks: %lld of %lld", (long long)rank,
              (long long)nr);

        const int64_t n = 61, d = 7;
        float *x = make_data_at(n, d, 3, 5.0);
        lsc_matrix all = lsc_matrix_f32(x, n, d);
        lsc_spectrum_result want = LSC_SPECTRUM_RESULT_INIT;
        double wsv[7], gsv[7];
        CHECK(lsc_spectrum(one, &all, NULL, &want, wsv, NULL) == LSC_STATUS_OK, "one process: %s",
              lsc_last_error(one));
        /* weights per rank: even, uneven, rank 0 empty, the last rank empty */
        static const int splits[4][4] = {{1, 1, 1, 1}, {1, 5, 2, 9}, {0, 3, 1, 2}, {4, 1, 3, 0}};
        for (int k = 0; k < 4; k++) {
            int w[4];
            for (int r = 0; r < 4; r++) w[r] = splits[k][r];
            if (ranks == 1) w[0] = 1;
            if (ranks > 1 && ranks < 4 && k == 3) w[ranks - 1] = 0; /* an empty last shard */
            int64_t lo, hi;
            shard(n, ranks, my_rank, w, &lo, &hi);
            lsc_matrix a = lsc_matrix_f32(hi > lo ? x + lo * d : NULL, hi - lo, d);
            lsc_spectrum_result got = LSC_SPECTRUM_RESULT_INIT;
            char what[64];
            snprintf(what, sizeof what, "split %d", k);
            s = lsc_spectrum_sharded(ctx, &a, NULL, &got, gsv, NULL);
            CHECK(s == LSC_STATUS_OK, "%s: %s", what, lsc_last_error(ctx));
            if (s == LSC_STATUS_OK) compare(&got, gsv, &want, wsv, d, what);
        }

        /* kNN of the same queries against the base split as above: exactly one process's */
        {
            enum { NQ = 5, K = 4 };
            float *qx = make_data_at(NQ, d, 9, 5.0);
            lsc_matrix qm = lsc_matrix_f32(qx, NQ, d);
            float wd[NQ * K], gd[NQ * K];
            int64_t wi[NQ * K], gi[NQ * K];
            CHECK(lsc_knn(one, &qm, &all, K, NULL, wd, wi) == LSC_STATUS_OK, "one kNN: %s",
                  lsc_last_error(one));
            for (int k = 0; k < 4; k++) {
                int w[4];
                for (int r = 0; r < 4; r++) w[r] = splits[k][r];
                if (ranks == 1) w[0] = 1;
                int64_t lo, hi;
                shard(n, ranks, my_rank, w, &lo, &hi);
                lsc_matrix b = lsc_matrix_f32(hi > lo ? x + lo * d : NULL, hi - lo, d);
                s = lsc_knn_sharded(ctx, &qm, &b, K, NULL, gd, gi);
                CHECK(s == LSC_STATUS_OK, "kNN split %d: %s", k, lsc_last_error(ctx));
                if (s == LSC_STATUS_OK)
                    CHECK(memcmp(gd, wd, sizeof wd) == 0 && memcmp(gi, wi, sizeof wi) == 0,
                          "kNN split %d: lists differ from one process's", k);
            }
            free(qx);
        }

        /* a NaN on the last rank: every rank the same status and message */
        int64_t lo, hi;
        static const int even[4] = {1, 1, 1, 1};
        shard(n, ranks, my_rank, even, &lo, &hi);
        float *mine = (float *)malloc((size_t)((hi - lo) * d) * sizeof(float));
        memcpy(mine, x + lo * d, (size_t)((hi - lo) * d) * sizeof(float));
        if (my_rank == ranks - 1) mine[1 * d + 2] = NAN;
        lsc_matrix a = lsc_matrix_f32(mine, hi - lo, d);
        lsc_spectrum_result got = LSC_SPECTRUM_RESULT_INIT;
        s = lsc_spectrum_sharded(ctx, &a, NULL, &got, NULL, NULL);
        CHECK(s == LSC_STATUS_INVALID_DATA, "NaN: %s (%s)", lsc_status_name(s),
              lsc_last_error(ctx));
        char msg[512], msg0[512];
        snprintf(msg, sizeof msg, "%s", lsc_last_error(ctx));
        memcpy(msg0, msg, sizeof msg);
        MPI_Bcast(msg0, (int)sizeof msg0, MPI_CHAR, 0, MPI_COMM_WORLD);
        CHECK(strcmp(msg, msg0) == 0, "NaN: message '%s', rank 0 '%s'", msg, msg0);
        CHECK(strstr(msg, "row 1 col 2") != NULL, "NaN: message '%s'", msg);
        CHECK(got.rows == 0, "NaN: a failed call wrote its result");

        /* a rank with other columns: the same refusal everywhere, then a good call still works */
        a = lsc_matrix_f32(x + lo * d, hi - lo, my_rank == ranks - 1 ? d - 1 : d);
        a.ld = d;
        s = lsc_spectrum_sharded(ctx, &a, NULL, &got, NULL, NULL);
        CHECK(ranks == 1 ? s == LSC_STATUS_OK : s == LSC_STATUS_INVALID_ARGUMENT, "cols: %s (%s)",
              lsc_status_name(s), lsc_last_error(ctx));
        a = lsc_matrix_f32(x + lo * d, hi - lo, d);
        s = lsc_spectrum_sharded(ctx, &a, NULL, &got, gsv, NULL);
        CHECK(s == LSC_STATUS_OK, "after the errors: %s", lsc_last_error(ctx));
        if (s == LSC_STATUS_OK) compare(&got, gsv, &want, wsv, d, "after the errors");
        free(mine);
        free(x);
    }

    lsc_ctx_destroy(ctx);
    lsc_ctx_destroy(one);
    return finish(single ? "mpi_sharded single" : "mpi_sharded", ranks);
}
