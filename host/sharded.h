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

/* The transport's all-gather and broadcast of host bytes, failures as TRANSPORT_ERROR. */
lsc_status lsc_tp_all_gather(lsc_ctx *ctx, const void *send, size_t bytes, void *recv,
                             const size_t *recv_bytes);
lsc_status lsc_tp_broadcast(lsc_ctx *ctx, void *buf, size_t bytes, int64_t root);
/* One ring step (lsc_ring_fn): send_bytes to the next rank, recv_bytes from the previous one.
 * NOT_SUPPORTED (naming `what`, the call that needs it) when the transport has no ring step;
 * with one process, a copy. */
lsc_status lsc_tp_ring(lsc_ctx *ctx, const void *send, size_t send_bytes, void *recv,
                       size_t recv_bytes, const char *what);

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

/* The MPI module's entry point and the ABI it must report (mpi/transport_mpi.c). It fills *out
 * for the communicator whose Fortran handle is comm_f and *release with the function that frees
 * out->user; on failure it returns the status and the reason in `why`. */
#define LSC_MPI_ENTRY "lsc_mpi_transport_entry"
#define LSC_MPI_ABI 2
typedef lsc_status (*lsc_mpi_entry_fn)(int abi, int64_t comm_f, lsc_transport *out,
                                       void (**release)(void *user), char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
