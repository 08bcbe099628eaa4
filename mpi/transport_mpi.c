/* liblsc_mpi: the MPI adapter (lsc.h section 12), a module liblsc loads at run time so that the
 * core library loads and runs without MPI. It implements the transport's collectives on the
 * caller's communicator. It never initialises or finalises MPI, and every MPI call it makes runs
 * on the thread of the sharded call. */
#include "sharded.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mpi_state {
    MPI_Comm comm;
    int funneled; /* the thread level is FUNNELED: calls must come from MPI's main thread */
} mpi_state;

/* MPI-3 counts are int: larger buffers go in pieces of this many bytes (1 GiB, a multiple of 8
 * so no element of a reduction is split). The tests build a copy with small pieces, so that the
 * splitting runs on small buffers. */
#ifdef LSC_MPI_PIECE
#define PIECE ((size_t)LSC_MPI_PIECE)
#else
#define PIECE ((size_t)1 << 30)
#endif

static int fail_mpi(int err, const char *what, char *why, size_t why_len)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", err);
    snprintf(why, why_len, "%s: %s", what, text);
    return 1;
}

/* Refuses a call MPI would not allow at this moment: MPI finalised meanwhile, or under FUNNELED
 * a thread other than the one that initialised MPI. */
static int usable(const mpi_state *st, char *why, size_t why_len)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (fin) {
        snprintf(why, why_len, "MPI has been finalised");
        return 0;
    }
    if (st->funneled) {
        int main_thread = 0;
        MPI_Is_thread_main(&main_thread);
        if (!main_thread) {
            snprintf(why, why_len,
                     "MPI was initialised with MPI_THREAD_FUNNELED and this call comes from "
                     "another thread than the one that initialised it");
            return 0;
        }
    }
    return 1;
}

/* usable, for a collective on buffers in `memory`: host buffers only so far. */
static int callable(const mpi_state *st, lsc_memory memory, char *why, size_t why_len)
{
    if (!usable(st, why, why_len)) return 0;
    if (memory != LSC_MEMORY_HOST) {
        snprintf(why, why_len, "the MPI transport takes host buffers so far");
        return 0;
    }
    return 1;
}

static int mpi_all_reduce(void *buf, int64_t count, lsc_elem elem, lsc_reduce_op op,
                          lsc_memory memory, void *user, char *why, size_t why_len)
{
    const mpi_state *st = (const mpi_state *)user;
    if (!callable(st, memory, why, why_len)) return 1;
    MPI_Datatype t = elem == LSC_ELEM_F64 ? MPI_DOUBLE : MPI_INT64_T;
    MPI_Op o = op == LSC_REDUCE_SUM ? MPI_SUM : op == LSC_REDUCE_MIN ? MPI_MIN : MPI_MAX;
    const int64_t piece = (int64_t)(PIECE / 8);
    for (int64_t at = 0; at < count; at += piece) {
        const int c = (int)(count - at < piece ? count - at : piece);
        int e = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at * 8, c, t, o, st->comm);
        if (e != MPI_SUCCESS) return fail_mpi(e, "MPI_Allreduce", why, why_len);
    }
    return 0;
}

static int bcast_bytes(void *buf, size_t bytes, int root, MPI_Comm comm, char *why, size_t why_len)
{
    for (size_t at = 0; at < bytes; at += PIECE) {
        const int c = (int)(bytes - at < PIECE ? bytes - at : PIECE);
        int e = MPI_Bcast((char *)buf + at, c, MPI_BYTE, root, comm);
        if (e != MPI_SUCCESS) return fail_mpi(e, "MPI_Bcast", why, why_len);
    }
    return 0;
}

static int mpi_all_gather(const void *send, size_t bytes, void *recv, const size_t *recv_bytes,
                          lsc_memory memory, void *user, char *why, size_t why_len)
{
    const mpi_state *st = (const mpi_state *)user;
    if (!callable(st, memory, why, why_len)) return 1;
    int rank = 0, ranks = 1;
    MPI_Comm_rank(st->comm, &rank);
    MPI_Comm_size(st->comm, &ranks);
    /* every rank sees the same sizes, so every rank takes the same branch below */
    size_t total = 0;
    for (int r = 0; r < ranks; r++) total += recv_bytes[r];
    if (total <= (size_t)INT_MAX) {
        int *counts = (int *)malloc((size_t)ranks * 2 * sizeof(int));
        if (!counts) {
            snprintf(why, why_len, "out of host memory for %d counts", ranks);
            return 1;
        }
        int *displs = counts + ranks;
        size_t at = 0;
        for (int r = 0; r < ranks; r++) {
            counts[r] = (int)recv_bytes[r];
            displs[r] = (int)at;
            at += recv_bytes[r];
        }
        /* MPI_IN_PLACE takes each rank's block from its place in recv */
        memmove((char *)recv + displs[rank], send, bytes);
        int e = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, counts, displs, MPI_BYTE,
                               st->comm);
        free(counts);
        return e == MPI_SUCCESS ? 0 : fail_mpi(e, "MPI_Allgatherv", why, why_len);
    }
    /* beyond int counts: each rank's block broadcast in turn, in pieces */
    size_t at = 0;
    for (int r = 0; r < ranks; r++) {
        if (r == rank) memmove((char *)recv + at, send, bytes);
        if (bcast_bytes((char *)recv + at, recv_bytes[r], r, st->comm, why, why_len)) return 1;
        at += recv_bytes[r];
    }
    return 0;
}

static int mpi_broadcast(void *buf, size_t bytes, int64_t root, lsc_memory memory, void *user,
                         char *why, size_t why_len)
{
    const mpi_state *st = (const mpi_state *)user;
    if (!callable(st, memory, why, why_len)) return 1;
    return bcast_bytes(buf, bytes, (int)root, st->comm, why, why_len);
}

/* Point-to-point messages of lsc's ring and send_recv steps carry this tag; the communicator's
 * collectives are matched apart from them by MPI itself. */
#define RING_TAG 0x4c53

/* One step of the pattern both ring and send_recv steps follow: send_bytes to rank dst,
 * recv_bytes from rank src, in PIECE-byte messages. A size of 0 posts nothing on its side: lsc
 * agreed on the sizes before, so the partner skips it too. */
static int exchange(const mpi_state *st, const void *send, size_t send_bytes, int dst, void *recv,
                    size_t recv_bytes, int src, const char *what, char *why, size_t why_len)
{
    /* each side counts the same pieces of the same buffer (the receiver knows the sender's
     * size), so nonblocking pieces match one to one whatever the two sizes are */
    const size_t ns = (send_bytes + PIECE - 1) / PIECE, nr = (recv_bytes + PIECE - 1) / PIECE;
    MPI_Request *req = (MPI_Request *)malloc((ns + nr + 1) * sizeof(MPI_Request));
    if (!req) {
        snprintf(why, why_len, "out of host memory for %zu requests", ns + nr);
        return 1;
    }
    int n = 0, e = MPI_SUCCESS;
    for (size_t i = 0; i < nr && e == MPI_SUCCESS; i++) {
        const size_t at = i * PIECE, c = recv_bytes - at < PIECE ? recv_bytes - at : PIECE;
        e = MPI_Irecv((char *)recv + at, (int)c, MPI_BYTE, src, RING_TAG, st->comm, &req[n++]);
    }
    for (size_t i = 0; i < ns && e == MPI_SUCCESS; i++) {
        const size_t at = i * PIECE, c = send_bytes - at < PIECE ? send_bytes - at : PIECE;
        e = MPI_Isend((const char *)send + at, (int)c, MPI_BYTE, dst, RING_TAG, st->comm,
                      &req[n++]);
    }
    if (e == MPI_SUCCESS) e = MPI_Waitall(n, req, MPI_STATUSES_IGNORE);
    free(req);
    return e == MPI_SUCCESS ? 0 : fail_mpi(e, what, why, why_len);
}

static int mpi_ring(const void *send, size_t send_bytes, void *recv, size_t recv_bytes,
                    lsc_memory memory, void *user, char *why, size_t why_len)
{
    const mpi_state *st = (const mpi_state *)user;
    if (!callable(st, memory, why, why_len)) return 1;
    int rank = 0, ranks = 1;
    MPI_Comm_rank(st->comm, &rank);
    MPI_Comm_size(st->comm, &ranks);
    return exchange(st, send, send_bytes, (rank + 1) % ranks, recv, recv_bytes,
                    (rank + ranks - 1) % ranks, "MPI ring step (Isend/Irecv)", why, why_len);
}

static int mpi_send_recv(const void *send, size_t send_bytes, int64_t dst, void *recv,
                         size_t recv_bytes, int64_t src, lsc_memory memory, void *user, char *why,
                         size_t why_len)
{
    const mpi_state *st = (const mpi_state *)user;
    if (!callable(st, memory, why, why_len)) return 1;
    int ranks = 1;
    MPI_Comm_size(st->comm, &ranks);
    /* a rank outside the communicator would reach MPI's error handler, fatal by default */
    if (dst < 0 || dst >= ranks || src < 0 || src >= ranks) {
        snprintf(why, why_len,
                 "send_recv to rank %lld from rank %lld: the communicator's ranks are 0 to %d",
                 (long long)dst, (long long)src, ranks - 1);
        return 1;
    }
    return exchange(st, send, send_bytes, (int)dst, recv, recv_bytes, (int)src,
                    "MPI send_recv step (Isend/Irecv)", why, why_len);
}

static void mpi_release(void *user) { free(user); }

/* Exported with default visibility: the one symbol liblsc looks up. */
__attribute__((visibility("default"))) lsc_status lsc_mpi_transport_entry(int abi, int64_t comm_f,
                                                                          lsc_transport *out,
                                                                          void (**release)(void *),
                                                                          char *why, size_t why_len)
{
    if (abi != LSC_MPI_ABI) {
        snprintf(why, why_len,
                 "the MPI module speaks ABI %d, this liblsc %d: install matching "
                 "versions",
                 LSC_MPI_ABI, abi);
        return LSC_STATUS_NOT_SUPPORTED;
    }
    int init = 0, fin = 0, level = MPI_THREAD_SINGLE;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (!init || fin) {
        snprintf(why, why_len,
                 "MPI is %s: initialise it (MPI_Init_thread with MPI_THREAD_FUNNELED or more) "
                 "before lsc_ctx_set_mpi; lsc never initialises MPI itself",
                 fin ? "already finalised" : "not initialised");
        return LSC_STATUS_INVALID_ARGUMENT;
    }
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_FUNNELED) {
        snprintf(why, why_len,
                 "MPI was initialised with thread level %d (MPI_THREAD_SINGLE): lsc needs "
                 "MPI_THREAD_FUNNELED or more, since its OpenMP threads run beside its MPI calls",
                 level);
        return LSC_STATUS_INVALID_ARGUMENT;
    }
    if (comm_f < INT_MIN || comm_f > INT_MAX) {
        snprintf(why, why_len, "%lld is not a Fortran communicator handle of this MPI",
                 (long long)comm_f);
        return LSC_STATUS_INVALID_ARGUMENT;
    }
    MPI_Comm comm = MPI_Comm_f2c((MPI_Fint)comm_f);
    int rank = -1, ranks = 0;
    /* Open MPI maps a handle outside its table to MPI_COMM_NULL. Errors inside the collectives
     * follow the communicator's own error handler (the caller's to choose: lsc does not change
     * it); with MPI_ERRORS_RETURN they come back as TRANSPORT_ERROR. */
    if (comm == MPI_COMM_NULL || MPI_Comm_rank(comm, &rank) != MPI_SUCCESS ||
        MPI_Comm_size(comm, &ranks) != MPI_SUCCESS) {
        snprintf(why, why_len, "the Fortran handle %lld names no communicator", (long long)comm_f);
        return LSC_STATUS_INVALID_ARGUMENT;
    }
    mpi_state *st = (mpi_state *)calloc(1, sizeof *st);
    if (!st) {
        snprintf(why, why_len, "out of host memory for the MPI transport");
        return LSC_STATUS_OUT_OF_MEMORY;
    }
    st->comm = comm;
    st->funneled = level == MPI_THREAD_FUNNELED;
    if (!usable(st, why, why_len)) {
        free(st);
        return LSC_STATUS_INVALID_ARGUMENT;
    }
    lsc_transport t = LSC_TRANSPORT_INIT;
    t.rank = rank;
    t.ranks = ranks;
    t.user = st;
    t.all_reduce = mpi_all_reduce;
    t.all_gather = mpi_all_gather;
    t.broadcast = mpi_broadcast;
    t.ring = mpi_ring;
    t.send_recv = mpi_send_recv;
    *out = t;
    *release = mpi_release;
    return LSC_STATUS_OK;
}
