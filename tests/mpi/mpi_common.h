/* What the MPI test programs (tests/mpi/mpi_*.c) share: the failure count and CHECK, which names
 * the rank, deterministic data every rank makes alike, a rank's part of a split, and the end that
 * sums the failures over the ranks. */
#ifndef LSC_MPI_COMMON_H
#define LSC_MPI_COMMON_H

#include "lsc.h"

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

/* n x d values about `offset`, column c spread 1 + c wide (sums of four uniforms). */
static inline float *make_data_at(int64_t n, int64_t d, uint64_t seed, double offset)
{
    float *x = (float *)malloc((size_t)(n * d) * sizeof(float));
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; x && i < n * d; i++) {
        double v = 0;
        for (int k = 0; k < 4; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            v += (double)(s >> 11) / 9007199254740992.0 - 0.5;
        }
        x[i] = (float)(offset + v * (1.0 + (double)(i % d)));
    }
    return x;
}

/* This rank's rows [lo, hi) of n under a split: weights w[r] (0 = empty shard). */
static inline void shard(int64_t n, int ranks, int rank, const int *w, int64_t *lo, int64_t *hi)
{
    int64_t total = 0, before = 0;
    for (int r = 0; r < ranks; r++) total += w[r];
    for (int r = 0; r < rank; r++) before += w[r];
    *lo = n * before / total;
    *hi = n * (before + w[rank]) / total;
}

/* Split k of the weights `splits` (one row of four weights a split) for this rank: its n real
 * rows [*lo, *hi) by split k, its m generated rows [*flo, *fhi) by split k + 1 (so the two sets
 * split otherwise); one rank takes everything. */
static inline void split_both(const int splits[4][4], int k, int ranks, int64_t n, int64_t m,
                              int64_t *lo, int64_t *hi, int64_t *flo, int64_t *fhi)
{
    int w[4], v[4];
    for (int r = 0; r < 4; r++) {
        w[r] = splits[k][r];
        v[r] = splits[(k + 1) % 4][r];
    }
    if (ranks == 1) w[0] = v[0] = 1;
    shard(n, ranks, my_rank, w, lo, hi);
    shard(m, ranks, my_rank, v, flo, fhi);
}

static inline lsc_matrix rows_of(const float *x, int64_t lo, int64_t hi, int64_t d)
{
    return lsc_matrix_f32(hi > lo ? x + lo * d : NULL, hi - lo, d);
}

/* MPI started (FUNNELED), this rank and the rank count known; *ctx a one-thread CPU context on
 * MPI_COMM_WORLD, *one (may be NULL) a one-process context for the answers to compare with.
 * Returns the rank count. */
static inline int start(int *argc, char ***argv, lsc_ctx **ctx, lsc_ctx **one)
{
    int provided = 0, ranks = 1;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    lsc_ctx_params prm = LSC_CTX_PARAMS_INIT;
    prm.backend = LSC_BACKEND_CPU;
    prm.threads = 1;
    CHECK(lsc_ctx_create(&prm, ctx) == LSC_STATUS_OK, "context: %s", lsc_last_error(*ctx));
    if (one) CHECK(lsc_ctx_create(&prm, one) == LSC_STATUS_OK, "context: %s", lsc_last_error(*one));
    lsc_status s = lsc_ctx_set_mpi(*ctx, (int64_t)MPI_Comm_c2f(MPI_COMM_WORLD));
    CHECK(s == LSC_STATUS_OK, "lsc_ctx_set_mpi: %s", lsc_last_error(*ctx));
    return ranks;
}

/* A failed collective call: its message must be rank 0's on every rank and contain `needle`. */
static inline void same_message(lsc_ctx *ctx, const char *what, const char *needle)
{
    char msg[512], msg0[512];
    snprintf(msg, sizeof msg, "%s", lsc_last_error(ctx));
    memcpy(msg0, msg, sizeof msg);
    MPI_Bcast(msg0, (int)sizeof msg0, MPI_CHAR, 0, MPI_COMM_WORLD);
    CHECK(strcmp(msg, msg0) == 0, "%s: message '%s', rank 0 '%s'", what, msg, msg0);
    CHECK(strstr(msg, needle) != NULL, "%s: message '%s' without '%s'", what, msg, needle);
}

/* The failures of every rank summed, rank 0's line, MPI finalised: the exit status. */
static inline int finish(const char *name, int ranks)
{
    int all_failures = 0;
    MPI_Allreduce(&failures, &all_failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (my_rank == 0) printf("%s: %d ranks, %d failures\n", name, ranks, all_failures);
    MPI_Finalize();
    return all_failures ? 1 : 0;
}

#endif
