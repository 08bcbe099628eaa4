/* The sharded all-pairs statistics over MPI (lsc_pair_stats_sharded, lsc.h section 12), run by
 * ctest under mpirun with 1 to 4 ranks: for a few splits (uneven and empty shards), both metrics
 * and a subset, every rank's figures must be the same bytes as rank 0's, and equal one process's
 * lsc_pair_stats on all rows: every decision exactly (min, max, nn_*, the histogram and its
 * bound, the near-duplicate count and list), mean, std and uniformity within docs/METRICS.md's
 * tolerances; a NaN on one rank must give every rank the same status and message.
 * Exit 0 when every check passed on every rank. */
#include "mpi_common.h"

#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BINS 24
#define REPORT 8

/* Deterministic data every rank generates alike (a sum of uniforms plus an offset), with exact
 * duplicates (rows 3 and 40, 10 and 11) and a near duplicate (row 25, one float32 step from row
 * 50), so the list and the nearest distances at 0 are exercised across ranks. */
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
        x[i] = (float)(2.0 + v * (1.0 + (double)(i % d)));
    }
    memcpy(x + 40 * d, x + 3 * d, (size_t)d * sizeof(float));
    memcpy(x + 11 * d, x + 10 * d, (size_t)d * sizeof(float));
    memcpy(x + 25 * d, x + 50 * d, (size_t)d * sizeof(float));
    x[25 * d + 2] = nextafterf(x[25 * d + 2], 100.0f);
    return x;
}

static int close_to(double got, double want, double rel, double abs_tol)
{
    const double tol = fabs(want) * rel;
    return fabs(got - want) <= (tol > abs_tol ? tol : abs_tol);
}

typedef struct figures {
    lsc_pair_result r;
    int64_t hist[BINS];
    lsc_pair dups[REPORT];
} figures;

static void compare(const figures *g, const figures *w, const char *what)
{
    const lsc_pair_result *a = &g->r, *b = &w->r;
    CHECK(a->rows_used == b->rows_used && a->pairs == b->pairs && a->subset == b->subset,
          "%s: rows_used %lld vs %lld", what, (long long)a->rows_used, (long long)b->rows_used);
    CHECK(a->hist_upper == b->hist_upper, "%s: hist_upper %.17g vs %.17g", what, a->hist_upper,
          b->hist_upper);
    CHECK(a->min == b->min && a->max == b->max, "%s: min/max", what);
    CHECK(a->nn_min == b->nn_min && a->nn_max == b->nn_max && a->nn_median == b->nn_median,
          "%s: nn figures", what);
    CHECK(a->near_duplicate_pairs == b->near_duplicate_pairs &&
              a->near_duplicates_listed == b->near_duplicates_listed,
          "%s: near duplicates %lld vs %lld", what, (long long)a->near_duplicate_pairs,
          (long long)b->near_duplicate_pairs);
    CHECK(memcmp(g->hist, w->hist, sizeof g->hist) == 0, "%s: histogram differs", what);
    for (int e = 0; e < REPORT; e++)
        CHECK(g->dups[e].i == w->dups[e].i && g->dups[e].j == w->dups[e].j &&
                  g->dups[e].d == w->dups[e].d,
              "%s: pair %d: (%lld, %lld) vs (%lld, %lld)", what, e, (long long)g->dups[e].i,
              (long long)g->dups[e].j, (long long)w->dups[e].i, (long long)w->dups[e].j);
    CHECK(close_to(a->mean, b->mean, 2e-4, 1e-9), "%s: mean %.17g vs %.17g", what, a->mean,
          b->mean);
    CHECK(close_to(a->std, b->std, 2e-4, 1e-9), "%s: std", what);
    CHECK(close_to(a->nn_mean, b->nn_mean, 2e-4, 1e-9), "%s: nn_mean", what);
    /* uniformity: far inside its pinned bound for these rows (docs/METRICS.md section 9) */
    CHECK(close_to(a->uniformity, b->uniformity, 0.0, 1e-5), "%s: uniformity %.17g vs %.17g", what,
          a->uniformity, b->uniformity);
    /* the same bytes on every rank */
    figures r0 = *g;
    MPI_Bcast(&r0, (int)sizeof r0, MPI_BYTE, 0, MPI_COMM_WORLD);
    CHECK(memcmp(&r0, g, sizeof r0) == 0, "%s: figures differ from rank 0's", what);
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
    CHECK(lsc_ctx_set_mpi(ctx, (int64_t)MPI_Comm_c2f(MPI_COMM_WORLD)) == LSC_STATUS_OK,
          "lsc_ctx_set_mpi: %s", lsc_last_error(ctx));

    const int64_t n = 61, d = 6;
    float *x = make_data(n, d, 3);
    /* even; uneven with an empty shard; all rows on the last rank */
    const int splits[3][4] = {{1, 1, 1, 1}, {3, 0, 1, 5}, {0, 0, 0, 1}};
    for (int config = 0; config < 3; config++) {
        lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
        o.bins = BINS;
        o.dup_report = REPORT;
        o.dup_eps = 0.3;
        o.uniformity = 1;
        if (config == 1) o.metric = LSC_METRIC_COSINE;
        if (config == 2) {
            o.subset_rows = 37;
            o.subset_offset = 9;
            o.seed = 4;
        }
        figures want;
        memset(&want, 0, sizeof want);
        want.r.size = sizeof want.r;
        lsc_matrix all = lsc_matrix_f32(x, n, d);
        CHECK(lsc_pair_stats(one, &all, &o, &want.r, want.hist, want.dups) == LSC_STATUS_OK,
              "lsc_pair_stats: %s", lsc_last_error(one));
        for (int sp = 0; sp < 3; sp++) {
            int w[4];
            for (int r = 0; r < 4; r++) w[r] = splits[sp][r];
            if (sp == 2) /* all rows on the last rank, whatever the rank count */
                for (int r = 0; r < 4; r++) w[r] = r == ranks - 1;
            int64_t lo, hi;
            shard(n, ranks, my_rank, w, &lo, &hi);
            figures got;
            memset(&got, 0, sizeof got);
            got.r.size = sizeof got.r;
            lsc_matrix mine = lsc_matrix_f32(hi > lo ? x + lo * d : NULL, hi - lo, d);
            char what[64];
            snprintf(what, sizeof what, "config %d split %d", config, sp);
            const lsc_status s = lsc_pair_stats_sharded(ctx, &mine, &o, &got.r, got.hist, got.dups);
            CHECK(s == LSC_STATUS_OK, "%s: %s", what, lsc_last_error(ctx));
            if (s == LSC_STATUS_OK) compare(&got, &want, what);
        }
    }

    /* a NaN in the last rank's rows: every rank the same status and message */
    {
        float *bad = make_data(n, d, 3);
        int64_t lo, hi;
        const int w[4] = {1, 1, 1, 1};
        shard(n, ranks, my_rank, w, &lo, &hi);
        bad[(n - 1) * d + 2] = NAN;
        lsc_matrix mine = lsc_matrix_f32(bad + lo * d, hi - lo, d);
        lsc_pair_result r = LSC_PAIR_RESULT_INIT;
        const lsc_status s = lsc_pair_stats_sharded(ctx, &mine, NULL, &r, NULL, NULL);
        CHECK(s == LSC_STATUS_INVALID_DATA, "NaN: %s", lsc_status_name(s));
        char msg[512], msg0[512];
        snprintf(msg, sizeof msg, "%s", lsc_last_error(ctx));
        memcpy(msg0, msg, sizeof msg);
        MPI_Bcast(msg0, (int)sizeof msg0, MPI_CHAR, 0, MPI_COMM_WORLD);
        CHECK(strcmp(msg, msg0) == 0, "NaN: message %s differs from rank 0's %s", msg, msg0);
        char want[32];
        snprintf(want, sizeof want, "rank %d", ranks - 1);
        CHECK(ranks == 1 || strstr(msg, want) != NULL, "NaN: message %s", msg);
        free(bad);
    }

    free(x);
    lsc_ctx_destroy(ctx);
    lsc_ctx_destroy(one);
    return finish("mpi_pairs", ranks);
}
