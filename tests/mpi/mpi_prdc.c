/* The ring-passing sharded calls over MPI (lsc.h section 12), run by ctest under mpirun with 1 to
 * 4 ranks: for several splits of one data set (uneven and empty shards) and both metrics, every
 * rank's self kNN lists, reference radii, PRDC figures and per-row outcomes must equal one
 * process's lsc_knn, lsc_reference_create and lsc_prdc_rows on the concatenated rows exactly,
 * and the shards saved together must be the file one process saves; a NaN on one rank must give
 * every rank the same status and message. Exit 0 when every check
 * passed on every rank. */
#define _POSIX_C_SOURCE 200809L
#include "mpi_common.h"

#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    lsc_ctx *ctx = NULL, *one = NULL;
    const int ranks = start(&argc, &argv, &ctx, &one);
    lsc_status s = LSC_STATUS_OK;

    enum { N = 45, M = 38, D = 5, K = 3 };
    float *real = make_data_at(N, D, 3, 0.5), *fake = make_data_at(M, D, 4, 0.5);
    /* generated rows copying real rows and each other: pairs exactly on the radii */
    memcpy(fake + 2 * D, real + 5 * D, D * sizeof(float));
    memcpy(fake + 30 * D, real + 5 * D, D * sizeof(float));
    memcpy(fake + 17 * D, fake + 3 * D, D * sizeof(float));
    memcpy(real + 40 * D, real + 2 * D, D * sizeof(float));
    const lsc_matrix all_real = lsc_matrix_f32(real, N, D);
    /* weights per rank: even, uneven, rank 0 empty, the last rank empty */
    static const int splits[4][4] = {{1, 1, 1, 1}, {1, 5, 2, 9}, {0, 3, 1, 2}, {4, 1, 3, 0}};

    /* 5 columns pass the rows round the ring; 24 (k = 3) travel over a covering at 3 and 4 ranks,
     * the MPI module's send_recv step carrying the pieces and the partial lists */
    for (int wide = 0; wide < 2; wide++)
        for (int metric = 0; metric < 2; metric++) {
            const int64_t dw = wide ? 24 : D;
            float *rw = real, *fw = fake;
            if (wide) {
                rw = make_data_at(N, dw, 5, 0.5);
                fw = make_data_at(M, dw, 6, 0.5);
                memcpy(fw + 2 * dw, rw + 5 * dw, (size_t)dw * sizeof(float));
                memcpy(rw + 40 * dw, rw + 2 * dw, (size_t)dw * sizeof(float));
            }
            const lsc_matrix whole_real = lsc_matrix_f32(rw, N, dw);
            const lsc_matrix all_fake = lsc_matrix_f32(fw, M, dw);
            const lsc_metric mt = metric ? LSC_METRIC_COSINE : LSC_METRIC_EUCLIDEAN;
            const lsc_comparison cmp = metric ? LSC_COMPARISON_INCLUSIVE : LSC_COMPARISON_STRICT;
            /* one process */
            float wd[N * K];
            int64_t wi[N * K];
            lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
            ko.metric = mt;
            ko.exclude_self = 1;
            CHECK(lsc_knn(one, &whole_real, NULL, K, &ko, wd, wi) == LSC_STATUS_OK, "one kNN: %s",
                  lsc_last_error(one));
            lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
            ro.metric = mt;
            ro.comparison = cmp;
            lsc_reference *wref = NULL;
            CHECK(lsc_reference_create(one, &whole_real, K, &ro, &wref) == LSC_STATUS_OK,
                  "one reference: %s", lsc_last_error(one));
            lsc_prdc_result want = LSC_PRDC_RESULT_INIT;
            unsigned char wflags[N];
            int64_t wcounts[M];
            CHECK(lsc_prdc_rows(one, wref, &all_fake, &want, wflags, wcounts) == LSC_STATUS_OK,
                  "one PRDC: %s", lsc_last_error(one));

            for (int k = 0; k < 4; k++) {
                int64_t lo, hi, flo, fhi;
                split_both(splits, k, ranks, N, M, &lo, &hi, &flo, &fhi);
                lsc_matrix a = rows_of(rw, lo, hi, dw), f = rows_of(fw, flo, fhi, dw);

                /* the self kNN of this rank's rows */
                float gd[N * K];
                int64_t gi[N * K];
                s = lsc_knn_sharded(ctx, &a, NULL, K, &ko, gd, gi);
                CHECK(s == LSC_STATUS_OK, "d %lld metric %d split %d: self kNN: %s", (long long)dw,
                      metric, k, lsc_last_error(ctx));
                if (s == LSC_STATUS_OK)
                    CHECK(memcmp(gd, wd + lo * K, (size_t)((hi - lo) * K) * sizeof(float)) == 0 &&
                              memcmp(gi, wi + lo * K, (size_t)((hi - lo) * K) * sizeof(int64_t)) ==
                                  0,
                          "d %lld metric %d split %d: self kNN lists differ from one process's",
                          (long long)dw, metric, k);

                /* the reference shard: rows lo..hi of one process's radii */
                lsc_reference *ref = NULL;
                s = lsc_reference_create_sharded(ctx, &a, K, &ro, &ref);
                CHECK(s == LSC_STATUS_OK, "d %lld metric %d split %d: reference: %s", (long long)dw,
                      metric, k, lsc_last_error(ctx));
                if (s != LSC_STATUS_OK) continue;
                lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
                lsc_reference_info_get(ref, &info);
                CHECK(info.rows == hi - lo && info.total_rows == N && info.first_row == lo,
                      "d %lld metric %d split %d: info %lld rows from %lld of %lld", (long long)dw,
                      metric, k, (long long)info.rows, (long long)info.first_row,
                      (long long)info.total_rows);
                CHECK(hi == lo || memcmp(lsc_reference_radii(ref), lsc_reference_radii(wref) + lo,
                                         (size_t)(hi - lo) * sizeof(double)) == 0,
                      "d %lld metric %d split %d: radii differ from one process's", (long long)dw,
                      metric, k);

                /* PRDC: the same figures everywhere, this rank's rows' outcomes */
                lsc_prdc_result got = LSC_PRDC_RESULT_INIT;
                unsigned char gflags[N];
                int64_t gcounts[M];
                s = lsc_prdc_rows_sharded(ctx, ref, &f, &got, gflags, gcounts);
                CHECK(s == LSC_STATUS_OK, "d %lld metric %d split %d: PRDC: %s", (long long)dw,
                      metric, k, lsc_last_error(ctx));
                if (s == LSC_STATUS_OK) {
                    CHECK(
                        memcmp(&got, &want, sizeof got) == 0,
                        "d %lld metric %d split %d: PRDC %.17g %.17g %.17g %.17g, one process %.17g "
                        "%.17g %.17g %.17g",
                        (long long)dw, metric, k, got.precision, got.recall, got.density,
                        got.coverage, want.precision, want.recall, want.density, want.coverage);
                    CHECK(memcmp(gflags, wflags + lo, (size_t)(hi - lo)) == 0,
                          "d %lld metric %d split %d: real flags differ", (long long)dw, metric, k);
                    CHECK(
                        memcmp(gcounts, wcounts + flo, (size_t)(fhi - flo) * sizeof(int64_t)) == 0,
                        "d %lld metric %d split %d: fake counts differ", (long long)dw, metric, k);
                }
                lsc_reference_destroy(ref);
            }
            lsc_reference_destroy(wref);
            if (wide) {
                free(rw);
                free(fw);
            }
        }

    /* the shards saved together: the very file one process saves, which it loads */
    {
        static const int uneven[4] = {3, 0, 2, 5};
        int w[4];
        memcpy(w, uneven, sizeof w);
        if (ranks == 1) w[0] = 1;
        int64_t lo, hi;
        shard(N, ranks, my_rank, w, &lo, &hi);
        lsc_matrix a = rows_of(real, lo, hi, D);
        char dir[256] = "";
        if (my_rank == 0) {
            snprintf(dir, sizeof dir, "/tmp/lsc_mpi_prdc_XXXXXX");
            CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
        }
        MPI_Bcast(dir, (int)sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
        char part[300], whole[300];
        snprintf(part, sizeof part, "%s/sharded.lscref", dir);
        snprintf(whole, sizeof whole, "%s/whole.lscref", dir);
        lsc_reference *ref = NULL;
        s = lsc_reference_create_sharded(ctx, &a, K, NULL, &ref);
        CHECK(s == LSC_STATUS_OK, "reference: %s", lsc_last_error(ctx));
        s = lsc_reference_save_sharded(ctx, ref, part);
        CHECK(s == LSC_STATUS_OK, "save: %s", lsc_last_error(ctx));
        if (my_rank == 0 && s == LSC_STATUS_OK) {
            lsc_reference *wref = NULL, *back = NULL;
            CHECK(lsc_reference_create(one, &all_real, K, NULL, &wref) == LSC_STATUS_OK,
                  "one reference: %s", lsc_last_error(one));
            CHECK(lsc_reference_save(one, wref, whole) == LSC_STATUS_OK, "one save: %s",
                  lsc_last_error(one));
            FILE *fa = fopen(part, "rb"), *fb = fopen(whole, "rb");
            int same = fa && fb;
            for (int ca = 0, cb = 0; same && (ca != EOF || cb != EOF);) {
                ca = fgetc(fa);
                cb = fgetc(fb);
                same = ca == cb;
            }
            CHECK(same, "the sharded save's bytes differ from one process's");
            if (fa) fclose(fa);
            if (fb) fclose(fb);
            CHECK(lsc_reference_load(one, part, &back) == LSC_STATUS_OK, "load: %s",
                  lsc_last_error(one));
            lsc_reference_destroy(back);
            lsc_reference_destroy(wref);
        }
        lsc_reference_destroy(ref);

        /* the file read back as shards of an even split: each rank's rows and radii of one
         * process's reference */
        MPI_Barrier(MPI_COMM_WORLD);
        lsc_reference *wref = NULL, *got = NULL;
        CHECK(lsc_reference_create(one, &all_real, K, NULL, &wref) == LSC_STATUS_OK,
              "one reference: %s", lsc_last_error(one));
        s = lsc_reference_load_sharded(ctx, part, &got);
        CHECK(s == LSC_STATUS_OK, "sharded load: %s", lsc_last_error(ctx));
        if (s == LSC_STATUS_OK && wref) {
            const int64_t glo = (int64_t)N * my_rank / ranks;
            const int64_t ghi = (int64_t)N * (my_rank + 1) / ranks;
            lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
            CHECK(lsc_reference_info_get(got, &info) == LSC_STATUS_OK, "info");
            CHECK(info.rows == ghi - glo && info.first_row == glo && info.total_rows == N,
                  "sharded load: rows %lld from %lld of %lld, expected %lld from %lld of %d",
                  (long long)info.rows, (long long)info.first_row, (long long)info.total_rows,
                  (long long)(ghi - glo), (long long)glo, N);
            CHECK(memcmp(lsc_reference_rows(got), lsc_reference_rows(wref) + glo * D,
                         (size_t)((ghi - glo) * D) * sizeof(float)) == 0 &&
                      memcmp(lsc_reference_radii(got), lsc_reference_radii(wref) + glo,
                             (size_t)(ghi - glo) * sizeof(double)) == 0,
                  "sharded load: rows or radii differ from one process's");
        }
        lsc_reference_destroy(got);
        lsc_reference_destroy(wref);

        /* a copy with the last row's last byte flipped (the last rank's to read): every rank
         * refuses it with the same status and message */
        char bad[300];
        snprintf(bad, sizeof bad, "%s/bad.lscref", dir);
        if (my_rank == 0) {
            FILE *fa = fopen(part, "rb"), *fb = fopen(bad, "wb");
            const long at = 192 + (long)N * D * 4 - 1;
            for (long i = 0, c; fa && fb && (c = fgetc(fa)) != EOF; i++)
                fputc(i == at ? c ^ 1 : c, fb);
            if (fa) fclose(fa);
            if (fb) fclose(fb);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        got = NULL;
        s = lsc_reference_load_sharded(ctx, bad, &got);
        CHECK(s == LSC_STATUS_BAD_FILE && got == NULL, "damaged file: %s (%s)", lsc_status_name(s),
              lsc_last_error(ctx));
        char msg[512], msg0[512];
        snprintf(msg, sizeof msg, "%s", lsc_last_error(ctx));
        memcpy(msg0, msg, sizeof msg);
        MPI_Bcast(msg0, (int)sizeof msg0, MPI_CHAR, 0, MPI_COMM_WORLD);
        CHECK(strcmp(msg, msg0) == 0 && strstr(msg, "'ROWS' checksum") != NULL,
              "damaged file: message '%s', rank 0 '%s'", msg, msg0);
        lsc_reference_destroy(got);
        MPI_Barrier(MPI_COMM_WORLD);
        if (my_rank == 0) {
            remove(part);
            remove(whole);
            remove(bad);
            rmdir(dir);
        }
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
        lsc_prdc_result got = LSC_PRDC_RESULT_INIT;
        s = lsc_prdc_sharded(ctx, ref, &f, &got);
        CHECK(s == LSC_STATUS_INVALID_DATA, "NaN: %s (%s)", lsc_status_name(s),
              lsc_last_error(ctx));
        same_message(ctx, "NaN", "row 1 col 2");
        CHECK(got.k == 0, "NaN: a failed call wrote its result");
        lsc_reference_destroy(ref);
        free(mine);
    }

    free(real);
    free(fake);
    lsc_ctx_destroy(ctx);
    lsc_ctx_destroy(one);
    return finish("mpi_prdc", ranks);
}
