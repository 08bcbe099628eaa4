/* Private to the library: the sharded calls' use of the transport (host/transport.c), and what
 * the sharded spectrum (host/sharded.c) needs from the accumulator and the CPU backend. */
#ifndef LSC_SHARDED_H
#define LSC_SHARDED_H

#include "internal.h"
#include "accumulator.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The context's rank and rank count (0 and 1 without a transport). */
int64_t lsc_tp_rank(const lsc_ctx *ctx);
int64_t lsc_tp_ranks(const lsc_ctx *ctx);

/* One agreement: every rank passes the status of its phase so far (its message in ctx->err) and
 * `nvals` int64 values of its own; all of them travel in one all-gather. When some rank failed,
 * every rank returns the status of the lowest such rank with that rank's message ("rank R: ...").
 * Otherwise OK, with rank r's values at all_vals[r * nvals] (ranks x nvals values, may be NULL
 * when nvals is 0). TRANSPORT_ERROR when the collective itself fails. */
lsc_status lsc_tp_agree(lsc_ctx *ctx, lsc_status st, const int64_t *vals, int64_t nvals,
                        int64_t *all_vals);
/* Shape, dtype and memory of a shard, which unlike every other input may have no rows. Device
 * memory is taken when `device_ok` and the context's backend serves it; otherwise host memory
 * only. */
lsc_status lsc_check_shard(lsc_ctx *ctx, const lsc_matrix *x, const char *name, int device_ok);
/* NOT_SUPPORTED, naming `what`, unless ctx runs on the CPU backend: the sharded calls whose
 * per-shard work calls the CPU backend's functions directly. */
lsc_status lsc_sharded_on_cpu(lsc_ctx *ctx, const char *what);

/* The transport's all-gather and broadcast of host bytes, failures as TRANSPORT_ERROR. */
lsc_status lsc_tp_all_gather(lsc_ctx *ctx, const void *send, size_t bytes, void *recv,
                             const size_t *recv_bytes);
lsc_status lsc_tp_broadcast(lsc_ctx *ctx, void *buf, size_t bytes, int64_t root);
/* One ring step (lsc_ring_fn): send_bytes to the next rank, recv_bytes from the previous one.
 * NOT_SUPPORTED (naming `what`, the call that needs it) when the transport has no ring step;
 * with one process, a copy. */
lsc_status lsc_tp_ring(lsc_ctx *ctx, const void *send, size_t send_bytes, void *recv,
                       size_t recv_bytes, const char *what);
/* One point-to-point step (lsc_send_recv_fn): send_bytes to rank dst, recv_bytes from rank src;
 * INTERNAL where the transport has none (callers check first). */
lsc_status lsc_tp_send_recv(lsc_ctx *ctx, const void *send, size_t send_bytes, int64_t dst,
                            void *recv, size_t recv_bytes, int64_t src, const char *what);
/* NOT_SUPPORTED: `what` passes data round the ranks and rank `rank`'s transport (this one where
 * rank < 0) has no ring step. */
lsc_status lsc_tp_no_ring(lsc_ctx *ctx, const char *what, int64_t rank);

/* lsc_spectrum_acc_finalize's work on an accumulator core of >= 2 rows (host/api.c): the figures
 * with active threshold `thr` into a full-size `out` (its size field set), the min(rows, cols)
 * singular values and the cols column variances into the arrays (each may be NULL). */
lsc_status lsc_spectrum_core_finalize(lsc_ctx *ctx, const lsc_acc_core *core, double thr,
                                      lsc_spectrum_result *out, double *singular_values,
                                      double *column_variance);
/* The spectrum options read and checked as lsc_spectrum reads them (host/api.c). */
lsc_status lsc_spectrum_read_opts(lsc_ctx *ctx, const lsc_spectrum_opts *opts, double *thr);

/* The pair statistics' options read and checked as lsc_pair_stats reads them, and its subset
 * check for a set of `rows` rows, giving the rows the figures use (host/api.c). */
lsc_status lsc_pair_read_opts(lsc_ctx *ctx, const lsc_pair_opts *opts, lsc_pair_opts *o);
lsc_status lsc_pair_check_subset(lsc_ctx *ctx, const lsc_pair_opts *o, int64_t rows,
                                 int64_t *n_used);

/* The ring passes of the sharded kNN, reference and PRDC (host/sharded_knn.c,
 * host/sharded_prdc.c). Each shard travels round the ranks as one block of bytes; sizes[r] is
 * rank r's block, agreed beforehand. At step s = 0 .. P - 1 this rank holds the block of rank
 * (rank - s) mod P and `visit` works on it (it may change the bytes, which travel on); every step
 * ends in an agreement before the next ring step, so a failure on one rank reaches all of them.
 * With `home` (NULL: none) the blocks take one more step, each carrying only its bytes from
 * home[r] on (home[r] <= sizes[r]: what the other ranks wrote that its owner needs back), and
 * `back` (sizes[rank] - home[rank] bytes, may be NULL) receives this rank's own block's tail as
 * the other ranks left it. */
typedef lsc_status (*lsc_ring_visit_fn)(lsc_ctx *ctx, void *user, int64_t origin,
                                        unsigned char *block);
lsc_status lsc_ring_walk(lsc_ctx *ctx, const size_t *sizes, const void *mine, const size_t *home,
                         lsc_ring_visit_fn visit, void *user, void *back, const char *what);
/* The exact k nearest of each of this rank's n rows (float32, n x d dense) among the rows of
 * every rank, itself excluded by global index: v (internal values, distance_rules.h) and idx
 * (global rows) hold n x k entries, ascending with ties by the smaller global index, as the CPU
 * backend's self kNN writes them for the concatenation. rows[r] and first[r] are rank r's rows
 * and first global row (agreed), k < the rows of all ranks. Collective; every rank returns the
 * same status. Progress is reported from p0 to p1. */
lsc_status lsc_ring_self_knn(lsc_ctx *ctx, const float *x, int64_t d, int metric, int64_t k,
                             const int64_t *rows, const int64_t *first, double *v, int64_t *idx,
                             double p0, double p1, const char *what);
/* lsc_ring_self_knn's lists, over a covering (host/sharded_cover.c) where every rank's transport
 * has the point-to-point step and that sends fewer bytes than the ring (3 and 4 ranks so far),
 * else by the ring. */
lsc_status lsc_sharded_self_knn(lsc_ctx *ctx, const float *x, int64_t d, int metric, int64_t k,
                                const int64_t *rows, const int64_t *first, double *v, int64_t *idx,
                                double p0, double p1, const char *what);
/* Scratch of lsc_knn_merge_block: a block's lists (its query rows x cap entries) and a merge's
 * (cap entries). */
typedef struct lsc_knn_scratch {
    double *tv, *mv;
    int64_t *ti, *mi;
} lsc_knn_scratch;
/* The min(cap, candidates) nearest of q's nq rows (float32, d wide; q NULL: b's own rows, self
 * excluded by index) among b's nb rows, merged into running lists (v, ix: cap a row, *have
 * entries in every row, updated), b's rows numbered from off. Progress from p0 to p1. */
lsc_status lsc_knn_merge_block(lsc_ctx *ctx, const float *q, int64_t nq, const float *b, int64_t nb,
                               int64_t d, int metric, int64_t off, double *v, int64_t *ix,
                               int64_t cap, int64_t *have, const lsc_knn_scratch *s, double p0,
                               double p1);
/* INTERNAL (naming `what`) unless a self kNN's rows hold all k neighbours. */
lsc_status lsc_knn_all_found(lsc_ctx *ctx, const char *what, int64_t have, int64_t k);
/* Merges a shard's sorted list (tv, ti + off: kr entries) into a row's running list (v, ix:
 * `have` entries, room for k), keeping the first k in the kNN order; mv / mi: k entries of
 * scratch. Returns the entries the list holds then, min(k, have + kr). */
int64_t lsc_merge_list(double *v, int64_t *ix, int64_t have, const double *tv, const int64_t *ti,
                       int64_t kr, int64_t off, int64_t k, double *mv, int64_t *mi);
/* The k nearest of q's rows among b's (q NULL: b's own rows, self excluded) as the CPU backend's
 * lsc_knn finds them: exact internal values (distance_rules.h) ascending, ties by the smaller
 * index of b; v and idx hold q's rows x k entries. Not collective. */
lsc_status lsc_shard_knn(lsc_ctx *ctx, const lsc_matrix *q, const lsc_matrix *b, int64_t k,
                         int metric, double *v, int64_t *idx, double p0, double p1);

/* Collectives on small data (host/sharded_gather.c). Each takes this rank's status so far and
 * first agrees on it (lsc_tp_agree), so that a failure on one rank reaches every rank before
 * any data moves; each returns the agreed status, the same on every rank. */
/* vals (n int64) replaced by their sums over the ranks. */
lsc_status lsc_tp_sum_i64(lsc_ctx *ctx, lsc_status st, int64_t *vals, int64_t n);
/* vals (n float64) replaced by their sums over the ranks, added in rank order, so that every
 * rank holds the very same bits whatever the engine. */
lsc_status lsc_tp_sum_f64(lsc_ctx *ctx, lsc_status st, double *vals, int64_t n);
/* Every rank's `bytes` bytes at `mine`, concatenated in rank order, into *out (malloc'd, the
 * caller frees it; NULL when all are empty), their total in *total. */
lsc_status lsc_tp_concat(lsc_ctx *ctx, lsc_status st, const void *mine, size_t bytes, void **out,
                         size_t *total);
/* The n rows of the ranks' concatenated set at global indices rows[] (each held by exactly one
 * rank: this one holds local's rows, from global row `first`) as float32 into out (n x
 * local->cols, dense) on every rank. */
lsc_status lsc_tp_gather_rows(lsc_ctx *ctx, lsc_status st, const lsc_matrix *local, int64_t first,
                              const int64_t *rows, int64_t n, float *out);
/* Each rank's nq lists of k candidates (v: internal values, key: global ids; ascending in the
 * kNN order, padded with INFINITY and INT64_MAX) merged into the first k of all ranks' in the
 * kNN order (lsc_knn_before: ties by the smaller key), on every rank. */
lsc_status lsc_tp_merge_lists(lsc_ctx *ctx, lsc_status st, int64_t nq, int64_t k, double *v,
                              int64_t *key);

/* A float32 dense copy of m's rows (m->rows x m->cols; NULL with OK for no rows). */
lsc_status lsc_rows_f32(lsc_ctx *ctx, const lsc_matrix *m, float **out);
/* The CPU backend's PRDC pass (host/cpu/prdc.c) of fake rows against real rows, given both
 * sets' radius values: every pair decided as lsc_prdc decides it, density[j] += the real balls
 * holding fake row j, and real_flags (N recall bytes, then N coverage bytes) set, never
 * cleared. Progress is reported from p0 to p1. */
lsc_status lsc_cpu_prdc_pass(lsc_ctx *ctx, const lsc_matrix *real, const double *real_v,
                             const lsc_matrix *fake, const double *fake_v, int metric,
                             int inclusive, int64_t *density, unsigned char *real_flags, double p0,
                             double p1);

/* The reference options read and checked as lsc_reference_create reads them (host/api.c). */
lsc_status lsc_reference_read_opts(lsc_ctx *ctx, const lsc_reference_opts *opts,
                                   lsc_reference_opts *o);

/* The MPI module's entry point and the ABI it must report (mpi/transport_mpi.c). It fills *out
 * for the communicator whose Fortran handle is comm_f and *release with the function that frees
 * out->user; on failure it returns the status and the reason in `why`. */
#define LSC_MPI_ENTRY "lsc_mpi_transport_entry"
#define LSC_MPI_ABI 3
typedef lsc_status (*lsc_mpi_entry_fn)(int abi, int64_t comm_f, lsc_transport *out,
                                       void (**release)(void *user), char *why, size_t why_len);

/* The NCCL module's entry point and ABI (nccl/transport_nccl.c), as the MPI module's: it fills
 * *out for the ncclComm_t `comm`, its collectives on `stream` (a cudaStream_t; NULL: one of its
 * own on the communicator's device). */
#define LSC_NCCL_ENTRY "lsc_nccl_transport_entry"
#define LSC_NCCL_ABI 2
typedef lsc_status (*lsc_nccl_entry_fn)(int abi, void *comm, void *stream, lsc_transport *out,
                                        void (**release)(void *user), char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
