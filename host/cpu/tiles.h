/* CPU backend plumbing shared by its metric files: prepared sets, tile loading, the GEMM.
 *
 * Threads: BLAS threads the GEMM of each tile; lsc's own OpenMP loops (conversion, selection,
 * counting) run between GEMMs, never at the same time, so the two thread pools do not
 * oversubscribe the cores. lsc never changes the BLAS thread count (a process-wide setting). */
#ifndef LSC_CPU_TILES_H
#define LSC_CPU_TILES_H

#include "../internal.h"
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "../../common/distance_rules.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A set of rows as the distance kernels see it: an input matrix, optionally through a row
 * map, with its centre (euclidean) or its rows' inverse norms (cosine). */
typedef struct cpu_set {
    const lsc_matrix *m;
    const int64_t *map; /* NULL: row i is m's row i */
    int64_t n, d;
    int metric;       /* LSC_M_EUCLIDEAN or LSC_M_COSINE */
    double *centre;   /* d values, euclidean only */
    double *inv_norm; /* n values, cosine only: 1 / ||row|| of the float32 row */
} cpu_set;

/* Prepares `s`. centre: NULL computes the set's own mean (euclidean); else it is copied. */
lsc_status cpu_set_init(lsc_ctx *ctx, cpu_set *s, const lsc_matrix *m, const int64_t *map,
                        int64_t n, int metric, const double *centre);
void cpu_set_free(cpu_set *s);

/* Column mean of m's rows (through map, n of them) in float64, deterministic for a thread
 * count: per-thread partial sums merged in thread order. */
lsc_status cpu_mean(lsc_ctx *ctx, const lsc_matrix *m, const int64_t *map, int64_t n, double *mean);

/* Loads rows [r0, r0 + nr) of s: raw float32 rows into raw (nr x d; may be NULL), the centred
 * or normalised float32 rows into t, and their squared norms (float64) into sq. */
void cpu_set_load(const cpu_set *s, int64_t r0, int64_t nr, float *raw, float *t, double *sq);

/* Row i of s as raw float32 values: the input itself when it is float32, else converted into
 * buf (d floats). */
const float *cpu_set_raw_row(const cpu_set *s, int64_t i, float *buf);

/* Exact internal value (distance_rules.h) between row a of sa and row b of sb, given their raw
 * float32 rows. */
static inline double cpu_exact(const cpu_set *sa, int64_t a, const float *ra, const cpu_set *sb,
                               int64_t b, const float *rb)
{
    if (sa->metric == LSC_M_COSINE)
        return lsc_exact_v(ra, rb, sa->d, sa->inv_norm[a], sb->inv_norm[b]);
    return lsc_exact_v(ra, rb, sa->d, 1.0, 1.0);
}

/* The largest float32 at or below x: the threshold of a float32 prefilter, which may only be
 * lowered (each candidate it passes is tested again in float64). */
static inline float cpu_prefilter_thr(double x)
{
    float f = (float)x;
    return (double)f > x ? nextafterf(f, -INFINITY) : f;
}

/* The float32 prefilters of the distance kernels. With E = t->E, the relative part of the
 * tile's error bound (cpu_tile_err), a pair's fast lower end v_fast - err <= bound exactly when
 * c_ab - w(b, bound) >= (1 - E) |a|^2 / 2 with w(b, bound) = ((1 - E) |b|^2 - bound) / 2: a test
 * on the product alone. Either side may carry the bound (a per-row or a per-column one). The
 * float32 rounding of the test, at most 3 u (|c| + |w|), is covered by a slack subtracted from
 * the threshold (the callers use 1e-6 (|a|^2 + max |b|^2 + max bound), plus the bound's
 * absolute part t->eabs, which the test leaves out). */

static inline float cpu_prefilter_w(double E, double bsq, double bound)
{
    return (float)(0.5 * ((1.0 - E) * bsq - bound));
}

/* The threshold (1 - E) |a|^2 / 2 - bound / 2 - slack, rounded down (cpu_prefilter_thr). */
static inline float cpu_prefilter_row(double E, double asq, double bound, double slack)
{
    return cpu_prefilter_thr(0.5 * ((1.0 - E) * asq - bound) - slack);
}

/* Asks for every cache line of a float32 row at once before an exact recomputation reads it:
 * the base rows' raw copies are otherwise cold (the GEMM reads their centred copies), and
 * demand misses one line after another left the exact loop waiting on memory. */
static inline void cpu_prefetch_row(const float *row, int64_t d)
{
#if defined(__GNUC__)
    for (int64_t c = 0; c < d; c += 16) __builtin_prefetch(row + c, 0, 3);
#else
    (void)row;
    (void)d;
#endif
}

/* The float32 prefilters test a chunk of this many columns at once and skip it whole when no
 * entry passes. */
#ifndef LSC_CPU_CHUNK
#define LSC_CPU_CHUNK 32
#endif

/* The AMX bf16x3 product (amx.c): built where the compiler knows AMX, used where the CPU and
 * the kernel allow it (cpu_amx_usable). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(LSC_NO_AMX) &&                            \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11))
#define LSC_CPU_AMX 1
#else
#define LSC_CPU_AMX 0
#endif
int cpu_amx_usable(void);

/* The bf16x3 product's bound, in the form of lsc_fast_err. With x = h + r, |r| <= 2^-8 |x| and
 * l = bf16(r), |r - l| <= 2^-16 |x| (bfloat16 keeps 8 bits): x y - (h l' + l h' + h h') =
 * h (r' - l') + (r - l) h' + r r', at most (3 + 2^-7) 2^-16 |x y|. The products are exact in
 * float32. How one tile instruction rounds is not documented; on Sapphire Rapids (measured) it
 * groups its products, rounds each group to the ulp of the group's largest product and adds
 * each group sum to the accumulator with one more rounding: at most two roundings a product,
 * each at most u times the larger of the accumulator and the instruction's products, so at
 * most u times the sum of the magnitudes added so far. amx.c keeps the 2 dim cross terms (each
 * pair below 2^-7 1.01 |x y|) and the dim terms h h' in separate instructions, all cross terms
 * first, so with S = sum |x_i y_i| those sums stay below 2^-7 1.01 S, then 1.02 S: at most
 * 2.07 dim u S in all. With S <= (|a|^2 + |b|^2) / 2, the factor 2 of 2 a.b and the centring's
 * 4 u, the band is 0.76 2^-14 + (1.04 dim + 2) 2^-23; we take 2^-13 + (1.25 dim + 8) 2^-23, a
 * margin of a fifth or more on each part. AMX treats bfloat16 subnormal inputs as zero and flushes
 * subnormal results: at most 2^-126 |y| lost per flushed input and 2^-126 per operation, which
 * the 2^-100 relative term (AM-GM) and the absolute term cover. */
static inline double cpu_amx_rel(int64_t d)
{
    return 0x1p-13 + (1.25 * (double)d + 8.0) * 0x1p-23 + 0x1p-100;
}
static inline double cpu_amx_abs(int64_t d) { return (3.0 * (double)d + 8.0) * 0x1p-120; }

#if LSC_CPU_AMX
int64_t cpu_amx_dp(int64_t d);
/* uint16_t elements of the packed query rows / base rows of n rows of d columns */
size_t cpu_amx_q_elems(int64_t n, int64_t d);
size_t cpu_amx_b_elems(int64_t n, int64_t d);
/* Packs n float32 rows (ld d) for the query side / the base side (layouts in amx.c). */
void cpu_amx_pack_q(const float *rows, int64_t n, int64_t d, uint16_t *out);
void cpu_amx_pack_b(const float *rows, int64_t n, int64_t d, uint16_t *out);
/* Where packed base rows from row r0 on start (r0 a multiple of 16: a group's first row). */
uint16_t *cpu_amx_b_at(uint16_t *packed, int64_t r0, int64_t d);
/* c (nq x nb, ld ldc) = the bf16x3 product of packed query rows and packed base rows. */
void cpu_amx_gemm(int64_t nq, int64_t nb, int64_t d, const uint16_t *qa, const uint16_t *bb,
                  float *c, int64_t ldc);
#endif

/* c (nq x nb, ld nb) = a (nq x d) b^T (nb x d), float32. */
void cpu_gemm_nt(int64_t nq, int64_t nb, int64_t d, const float *a, const float *b, float *c);
/* The upper triangle (j >= i) of c (n x n, ld n) = a a^T; the rest of c is left as it was. */
void cpu_syrk_upper(int64_t n, int64_t d, const float *a, float *c);

/* The distance kernels run one GEMM per thread on the thread's own rows of the tile, then work
 * on those rows while they are in cache; BLAS must then be single-threaded. The calls made
 * inside lsc's parallel regions live in blas_serial.c: with the private serial OpenBLAS
 * (LSC_PRIVATE_BLAS) they touch nothing of the caller's BLAS; without it, enter/leave set
 * OpenBLAS's process-wide thread count to 1 for a parallel region and restore it after
 * (include/lsc.h says so; other BLAS libraries are left alone). enter returns the previous
 * count, or 0 if nothing was changed. */
int cpu_blas_single_enter(void);
void cpu_blas_single_leave(int previous);
/* 1 when the calls above go to the private serial OpenBLAS inside liblsc. */
int cpu_blas_private(void);
/* c (d x d, upper triangle, ld d) += x^T x for x (nr x d, row-major), float64, one thread. */
void cpu_dsyrk_t_serial(int64_t d, int64_t nr, const double *x, double *c);
/* LAPACK dsyevd, eigenvalues only, of the column-major lower triangle of a (n x n), one thread;
 * work and iwork as LAPACK asks (lwork = -1 queries). Returns LAPACK's info. */
int cpu_dsyevd_values_serial(int64_t n, double *a, double *w, double *work, int64_t lwork,
                             int *iwork, int64_t liwork);

/* Rows [lo, hi) of n for thread `tid` of `nt` (a fixed static split, so results do not depend
 * on timing). */
static inline int cpu_tid(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline int cpu_nthreads(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

static inline void cpu_thread_rows(int64_t n, int tid, int nt, int64_t *lo, int64_t *hi)
{
    *lo = n * tid / nt;
    *hi = n * (tid + 1) / nt;
}

/* The per-pair loops are compiled for the baseline x86-64 and again for AVX2 and AVX-512
 * (GCC's function multiversioning picks one at load time), so one portable binary still
 * vectorises the filters on the machine it runs on. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(LSC_NO_CLONES)
#define LSC_CPU_CLONES __attribute__((target_clones("default", "avx2", "arch=x86-64-v4")))
#else
#define LSC_CPU_CLONES
#endif

/* One thread's scratch: a query block, a base block and their product. A callback reads the
 * raw float32 rows (for exact recomputation) through qr / br with leading dimensions qld / bld:
 * they point into the caller's float32 matrix where it can be read in place, else at a converted
 * copy. qt / bt (centred or normalised rows) and qsq / bsq (their squared norms) may point into
 * a whole-set cache shared by the threads: read-only. */
typedef struct cpu_tiles {
    int64_t tq, tb, d;
    float *qraw, *qt, *braw, *bt, *c;
    double *qsq, *bsq;
    const float *qr, *br;
    int64_t qld, bld;
    double E, eabs; /* the product's error bound: E (|a|^2 + |b|^2) + eabs (cpu_tile_err) */
    double *bw;     /* tb values of per-base-row scratch for the callers' filters */
    int64_t *flag;  /* tb values of the same (64-bit: same lanes as doubles) */
    double *zsq;    /* max(tq, tb) zeros: the norms of a tile without a fast form */
    void *mem;
    uint16_t *qpk, *bpk; /* the AMX layouts of the query block and the base block (amx.c) */
} cpu_tiles;

/* Bound on |v_fast - v_exact| of a pair of this tile's product (lsc_fast_err for a float32
 * GEMM, the wider cpu_amx_rel bound for the AMX product). */
static inline double cpu_tile_err(const cpu_tiles *t, double sqa, double sqb)
{
    return t->E * (sqa + sqb) + t->eabs;
}

/* Which base blocks a query block [q0, q0 + nq) meets (q and b the same set for all but ALL). */
enum {
    CPU_TILES_ALL = 0,   /* every base row */
    CPU_TILES_UPPER = 1, /* base rows from q0 on (pairs i < j: the callback skips j <= i) */
    CPU_TILES_DIAG = 2,  /* the block's own rows only, pairs i < j: where a base tile is the
                          * block itself its product is computed as the upper triangle only
                          * (ssyrk, half the work); the callback reads only j > i */
    CPU_TILES_ABOVE = 3  /* base rows from q0 + nq on */
};

/* The tile loop every distance kernel runs: query blocks are dealt out to the threads in turn
 * (round r gives blocks r T .. r T + T - 1 to threads 0 .. T - 1, every other full round in
 * reverse so that triangular ranges share out evenly; thread 0, the caller, always has work to
 * report progress from, and the reports are the same from run to run), in one parallel region
 * per call with no barrier per tile, which matters on a busy machine where waiting threads spin;
 * each thread loads its query block, then every base block of its range (`range`, CPU_TILES_*)
 * in turn, computes
 * C = Q B^T with a single-threaded GEMM into its own tiles and calls `tile`. After a query
 * block's last base block it calls `block_done` (may be NULL). Callbacks run on worker threads
 * and must only touch what their query rows own, thread-private data (indexed by tid) or
 * order-independent atomics. Progress is reported from p0 to p1 on the calling thread. */
typedef struct cpu_tile_job {
    const cpu_set *q, *b;
    int range;              /* CPU_TILES_* */
    int64_t max_tq, max_tb; /* largest tiles wanted (0: defaults) */
    void *user;
    void (*tile)(void *user, int tid, const cpu_tiles *t, int64_t q0, int64_t nq, int64_t b0,
                 int64_t nb);
    void (*block_done)(void *user, int tid, int64_t q0, int64_t nq);
    size_t reserved; /* workspace bytes the caller holds besides the tiles (0: none) */
    int lowp;        /* the callback decides every pair on exact values, reading the product
                      * only through cpu_tile_err's band: the AMX product may serve */
} cpu_tile_job;

/* The query block size cpu_tile_run will use for `job` (so callers can size per-block data) and,
 * where tb is not NULL, the largest base block (so they can size per-tile scratch);
 * WORKSPACE_LIMIT or NOT_SUPPORTED, with the message, if no tile fits. */
lsc_status cpu_tile_plan(lsc_ctx *ctx, const cpu_tile_job *job, int64_t *tq, int64_t *tb);
lsc_status cpu_tile_run(lsc_ctx *ctx, const cpu_tile_job *job, double p0, double p1);

/* Exact k nearest neighbours of every row of q among the rows of b (indices in b's row space),
 * as internal values, ascending with ties by index. exclude_self: q and b are the same set.
 * v and idx hold q->n x k entries. Progress is reported from p0 to p1. */
lsc_status cpu_knn_sets(lsc_ctx *ctx, const cpu_set *q, const cpu_set *b, int64_t k,
                        int exclude_self, double *v, int64_t *idx, double p0, double p1);

/* The pair statistics' pass (pairs.c), in pieces a sharded call (host/sharded_pairs.c) takes in
 * the very order of one process. */

/* The histogram's bound (docs/METRICS.md section 3) in three steps: sum[c] += each row's value
 * (times its inverse norm for cosine), row after row in the set's order; the largest squared
 * distance of a row (so scaled) from mu, each a sum over the columns in order; the bound from
 * that largest value. One process: the three over its one set, mu the sum / n. */
void cpu_pair_colsum(const cpu_set *s, double *sum);
double cpu_pair_maxdev(const cpu_set *s, const double *mu);
double cpu_pair_bound(int metric, double maxdev);

/* What a pass gathers: the fast-form moments (count, mean, M2; Chan et al.), the uniformity's
 * sum of pair terms, the largest exact internal value (-1 before any pair), the near-duplicate
 * count and the first `cap` of them in (d, i, j) order (a heap of ndup entries), the histogram
 * (bins counts). */
typedef struct cpu_pair_acc {
    double n, mean, m2, unif, max_v;
    int64_t dups, ndup;
    lsc_pair *dup;
    int64_t *hist;
} cpu_pair_acc;
lsc_status cpu_pair_acc_init(lsc_ctx *ctx, cpu_pair_acc *acc, int64_t bins, int64_t cap);
void cpu_pair_acc_free(cpu_pair_acc *acc);
/* from merged into `into`: moments by lsc_moments_merge, the rest exactly */
void cpu_pair_acc_merge(cpu_pair_acc *into, const cpu_pair_acc *from, int64_t bins, int64_t cap);
/* Adds to acc the pairs within set a (b NULL) or every pair of a row of a and a row of b (the
 * same metric and, euclidean, the same centre), the histogram over [0, upper]; lowers nn_a[i]
 * (nn_b[j]) to the smallest exact internal value of a pair of row i of a (row j of b). Pairs
 * are reported with ida / idb's indices (NULL: the set's map, else its row), smaller first.
 * opts as lsc_pair_stats checked them. Progress from p0 to p1. */
lsc_status cpu_pair_pass(lsc_ctx *ctx, const cpu_set *a, const int64_t *ida, const cpu_set *b,
                         const int64_t *idb, const lsc_pair_opts *opts, double upper,
                         cpu_pair_acc *acc, double *nn_a, double *nn_b, double p0, double p1);
/* The figures into out from a whole set's acc (its list sorted in place) and its n >= 2 rows'
 * nearest values (sorted in place), and the histogram and list into the caller's arrays (each
 * may be NULL). */
void cpu_pair_finish(const lsc_pair_opts *opts, cpu_pair_acc *acc, double *nn_v, int64_t n,
                     double upper, lsc_pair_result *out, int64_t *histogram, lsc_pair *near_dups);

/* Backend entry points (one file per metric family). */
lsc_status lsc_cpu_spectrum(lsc_ctx *ctx, const lsc_matrix *x, lsc_spectrum_eigs *eigs);
lsc_status lsc_cpu_acc_create(lsc_ctx *ctx, int64_t cols, void **state);
lsc_status lsc_cpu_acc_add(lsc_ctx *ctx, void *state, const lsc_matrix *batch);
lsc_status lsc_cpu_acc_merge(lsc_ctx *ctx, void *into, const void *from);
lsc_status lsc_cpu_acc_eigs(lsc_ctx *ctx, const void *state, lsc_spectrum_eigs *eigs);
void lsc_cpu_acc_destroy(void *state);
lsc_status lsc_cpu_acc_export(lsc_ctx *ctx, const void *state, lsc_acc_state *out);
lsc_status lsc_cpu_acc_import(lsc_ctx *ctx, void *state, const lsc_acc_state *in);
lsc_status lsc_cpu_distances(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                             lsc_metric metric, float *out, int64_t ld_out);
lsc_status lsc_cpu_pair_stats(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *subset,
                              int64_t n_used, const lsc_pair_opts *opts, lsc_pair_result *out,
                              int64_t *histogram, lsc_pair *near_dups);
lsc_status lsc_cpu_knn(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base, int64_t k,
                       const lsc_knn_opts *opts, float *dist, int64_t *idx);
lsc_status lsc_cpu_reference_radii(lsc_ctx *ctx, lsc_reference *ref);
lsc_status lsc_cpu_prdc(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                        lsc_prdc_result *out, unsigned char *real_flags, int64_t *fake_counts,
                        const lsc_prdc_near *near);
lsc_status lsc_cpu_cov_create(lsc_ctx *ctx, int64_t cols, void **state);
lsc_status lsc_cpu_cov_stats(lsc_ctx *ctx, const void *state, double *mu, double *sigma);
lsc_status lsc_cpu_kernel_sums(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *xs, int64_t nx,
                               const lsc_matrix *y, const int64_t *ys, int64_t ny, int kind,
                               double a, double *sums);

#ifdef __cplusplus
}
#endif

#endif
