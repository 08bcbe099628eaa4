/* The transport a context's sharded calls use (lsc.h section 12): setting it, loading the MPI
 * adapter module, and the agreement every sharded call makes before each collective phase. */
#define _GNU_SOURCE
#include "sharded.h"
#include "validate.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LSC_STR_(x) #x
#define LSC_STR(x) LSC_STR_(x)

void lsc_transport_clear(lsc_ctx *ctx)
{
    if (ctx->transport_release) ctx->transport_release(ctx->transport.user);
    ctx->transport_release = NULL;
    memset(&ctx->transport, 0, sizeof ctx->transport);
    /* the module's code ran the release above: only now may it be unmapped */
    if (ctx->transport_module) dlclose(ctx->transport_module);
    ctx->transport_module = NULL;
}

lsc_status lsc_ctx_set_transport(lsc_ctx *ctx, const lsc_transport *transport)
{
    LSC_TRY(lsc_begin(ctx));
    if (!transport) {
        lsc_transport_clear(ctx);
        return LSC_STATUS_OK;
    }
    lsc_transport t = LSC_TRANSPORT_INIT;
    LSC_TRY(LSC_READ_OPTS(ctx, &t, transport, TRANSPORT, "transport", "LSC_TRANSPORT_INIT"));
    LSC_CHECK(ctx, t.ranks >= 1, LSC_STATUS_INVALID_ARGUMENT,
              "transport: ranks is %lld, expected >= 1", (long long)t.ranks);
    LSC_CHECK(ctx, t.rank >= 0 && t.rank < t.ranks, LSC_STATUS_INVALID_ARGUMENT,
              "transport: rank %lld is outside 0..%lld", (long long)t.rank,
              (long long)(t.ranks - 1));
    LSC_CHECK(ctx, t.all_reduce && t.all_gather && t.broadcast, LSC_STATUS_INVALID_ARGUMENT,
              "transport: the %s callback is NULL",
              !t.all_reduce   ? "all_reduce"
              : !t.all_gather ? "all_gather"
                              : "broadcast");
    lsc_transport_clear(ctx);
    ctx->transport = t;
    return LSC_STATUS_OK;
}

lsc_status lsc_ctx_ranks(const lsc_ctx *ctx, int64_t *rank, int64_t *ranks)
{
    if (!ctx) return LSC_STATUS_INVALID_ARGUMENT;
    if (ctx->init_status != LSC_STATUS_OK) return LSC_STATUS_BAD_CONTEXT;
    if (rank) *rank = lsc_tp_rank(ctx);
    if (ranks) *ranks = lsc_tp_ranks(ctx);
    return LSC_STATUS_OK;
}

int64_t lsc_tp_rank(const lsc_ctx *ctx) { return ctx->transport.ranks ? ctx->transport.rank : 0; }

int64_t lsc_tp_ranks(const lsc_ctx *ctx) { return ctx->transport.ranks ? ctx->transport.ranks : 1; }

/* ---------------------------------------------------------------------------------------------- */
/* collectives                                                                                    */

lsc_status lsc_tp_all_gather(lsc_ctx *ctx, const void *send, size_t bytes, void *recv,
                             const size_t *recv_bytes)
{
    if (!ctx->transport.ranks) {
        if (bytes) memmove(recv, send, bytes);
        return LSC_STATUS_OK;
    }
    char why[LSC_ERR_LEN] = "";
    const lsc_transport *t = &ctx->transport;
    if (t->all_gather(send, bytes, recv, recv_bytes, LSC_MEMORY_HOST, t->user, why, sizeof why))
        return lsc_set_error(ctx, LSC_STATUS_TRANSPORT_ERROR,
                             "transport all_gather of %zu bytes on rank %lld failed: %s", bytes,
                             (long long)t->rank, why[0] ? why : "no reason given");
    return LSC_STATUS_OK;
}

lsc_status lsc_tp_broadcast(lsc_ctx *ctx, void *buf, size_t bytes, int64_t root)
{
    if (!ctx->transport.ranks) return LSC_STATUS_OK;
    char why[LSC_ERR_LEN] = "";
    const lsc_transport *t = &ctx->transport;
    if (t->broadcast(buf, bytes, root, LSC_MEMORY_HOST, t->user, why, sizeof why))
        return lsc_set_error(ctx, LSC_STATUS_TRANSPORT_ERROR,
                             "transport broadcast of %zu bytes from rank %lld failed on rank "
                             "%lld: %s",
                             bytes, (long long)root, (long long)t->rank,
                             why[0] ? why : "no reason given");
    return LSC_STATUS_OK;
}

lsc_status lsc_tp_no_ring(lsc_ctx *ctx, const char *what, int64_t rank)
{
    if (rank < 0)
        return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                             "%s passes data round the ranks and this transport has no ring step "
                             "(lsc_transport.ring is NULL)",
                             what);
    return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                         "%s passes data round the ranks and rank %lld's transport has no ring "
                         "step (lsc_transport.ring is NULL)",
                         what, (long long)rank);
}

lsc_status lsc_tp_ring(lsc_ctx *ctx, const void *send, size_t send_bytes, void *recv,
                       size_t recv_bytes, const char *what)
{
    const lsc_transport *t = &ctx->transport;
    if (!t->ranks || t->ranks == 1) {
        if (send_bytes) memmove(recv, send, send_bytes < recv_bytes ? send_bytes : recv_bytes);
        return LSC_STATUS_OK;
    }
    if (!t->ring) return lsc_tp_no_ring(ctx, what, -1);
    char why[LSC_ERR_LEN] = "";
    if (t->ring(send, send_bytes, recv, recv_bytes, LSC_MEMORY_HOST, t->user, why, sizeof why))
        return lsc_set_error(ctx, LSC_STATUS_TRANSPORT_ERROR,
                             "transport ring step (%zu bytes out, %zu in) on rank %lld failed: %s",
                             send_bytes, recv_bytes, (long long)t->rank,
                             why[0] ? why : "no reason given");
    return LSC_STATUS_OK;
}

lsc_status lsc_tp_send_recv(lsc_ctx *ctx, const void *send, size_t send_bytes, int64_t dst,
                            void *recv, size_t recv_bytes, int64_t src, const char *what)
{
    const lsc_transport *t = &ctx->transport;
    if (!t->send_recv)
        return lsc_set_error(ctx, LSC_STATUS_INTERNAL,
                             "%s: a point-to-point step without lsc_transport.send_recv", what);
    char why[LSC_ERR_LEN] = "";
    if (t->send_recv(send, send_bytes, dst, recv, recv_bytes, src, LSC_MEMORY_HOST, t->user, why,
                     sizeof why))
        return lsc_set_error(ctx, LSC_STATUS_TRANSPORT_ERROR,
                             "transport send_recv (%zu bytes to rank %lld, %zu from rank %lld) on "
                             "rank %lld failed: %s",
                             send_bytes, (long long)dst, recv_bytes, (long long)src,
                             (long long)t->rank, why[0] ? why : "no reason given");
    return LSC_STATUS_OK;
}

/* One rank's block of an agreement: its status, its message and its values. */
typedef struct agree_head {
    int64_t status;
    char msg[LSC_ERR_LEN];
} agree_head;

/* Whether msg is already an agreed one ("rank R: ..."): a status agreed again (the same failure
 * passed on by every rank) keeps its one prefix. */
static int agreed_message(const char *msg)
{
    if (strncmp(msg, "rank ", 5)) return 0;
    const char *p = msg + 5;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    return p[0] == ':' && p[1] == ' ';
}

lsc_status lsc_tp_agree(lsc_ctx *ctx, lsc_status st, const int64_t *vals, int64_t nvals,
                        int64_t *all_vals)
{
    const int64_t ranks = lsc_tp_ranks(ctx);
    const size_t block = sizeof(agree_head) + (size_t)nvals * sizeof(int64_t);
    /* fixed, small and known to every rank: the blocks' sizes need no agreement of their own */
    unsigned char *buf = (unsigned char *)malloc(block * (size_t)(ranks + 1));
    size_t *sizes = (size_t *)malloc((size_t)ranks * sizeof(size_t));
    if (!buf || !sizes) {
        /* cannot take part: the others would wait in the all-gather, so say what happened;
         * the engine's abort is the only way out (lsc.h section 12) */
        free(buf);
        free(sizes);
        return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                             "out of host memory for the %lld-rank agreement of a sharded call "
                             "(the other ranks are left waiting in it)",
                             (long long)ranks);
    }
    agree_head *mine = (agree_head *)(buf + block * (size_t)ranks);
    memset(mine, 0, block);
    mine->status = (int64_t)st;
    if (st != LSC_STATUS_OK) snprintf(mine->msg, sizeof mine->msg, "%s", ctx->err);
    if (nvals && vals) memcpy(mine + 1, vals, (size_t)nvals * sizeof(int64_t)); /* NULL: failed */
    for (int64_t r = 0; r < ranks; r++) sizes[r] = block;
    lsc_status s = lsc_tp_all_gather(ctx, mine, block, buf, sizes);
    free(sizes);
    if (s != LSC_STATUS_OK) {
        free(buf);
        return s;
    }
    for (int64_t r = 0; r < ranks; r++) {
        const agree_head *h = (const agree_head *)(buf + block * (size_t)r);
        if (h->status == LSC_STATUS_OK) continue;
        char msg[LSC_ERR_LEN];
        memcpy(msg, h->msg, sizeof msg);
        msg[sizeof msg - 1] = '\0';
        s = (h->status > 0 && h->status <= LSC_STATUS_TRANSPORT_ERROR) ? (lsc_status)h->status
                                                                       : LSC_STATUS_INTERNAL;
        if (ranks > 1 && !agreed_message(msg))
            lsc_set_error(ctx, s, "rank %lld: %s", (long long)r, msg);
        else lsc_set_error(ctx, s, "%s", msg);
        free(buf);
        return s;
    }
    if (all_vals)
        for (int64_t r = 0; r < ranks; r++)
            memcpy(all_vals + r * nvals, buf + block * (size_t)r + sizeof(agree_head),
                   (size_t)nvals * sizeof(int64_t));
    free(buf);
    ctx->err[0] = '\0';
    return LSC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* the MPI adapter module                                                                         */

#if defined(LSC_HAVE_MPI) || defined(LSC_HAVE_NCCL)
/* Loads an adapter module and hands its transport to ctx; `call` runs the module's entry. */
typedef lsc_status (*entry_call_fn)(void *entry, const void *args, lsc_transport *t,
                                    void (**release)(void *), char *why, size_t why_len);

static lsc_status adopt_module(lsc_ctx *ctx, const char *file, const char *env, const char *label,
                               const char *entry_name, entry_call_fn call, const void *args)
{
    char why[LSC_ERR_LEN] = "";
    /* RTLD_LOCAL keeps the engine's symbols out of the process's global scope unless the
     * application put them there itself (mpi4py, a program linked with it) */
    void *h = lsc_module_open(file, env, label, why, sizeof why);
    if (!h) return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED, "%s", why);
    void *entry = dlsym(h, entry_name);
    if (!entry) {
        dlclose(h);
        return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED, "the %s module has no entry point %s",
                             label, entry_name);
    }
    lsc_transport t = LSC_TRANSPORT_INIT;
    void (*release)(void *) = NULL;
    lsc_status s = call(entry, args, &t, &release, why, sizeof why);
    if (s != LSC_STATUS_OK) {
        dlclose(h);
        return lsc_set_error(ctx, s, "%s", why[0] ? why : "the module refused");
    }
    lsc_transport_clear(ctx);
    ctx->transport = t;
    ctx->transport_release = release;
    ctx->transport_module = h;
    return LSC_STATUS_OK;
}
#endif

#ifdef LSC_HAVE_MPI
static lsc_status call_mpi(void *entry, const void *args, lsc_transport *t,
                           void (**release)(void *), char *why, size_t why_len)
{
    lsc_mpi_entry_fn fn;
    memcpy(&fn, &entry, sizeof fn);
    return fn(LSC_MPI_ABI, *(const int64_t *)args, t, release, why, why_len);
}
#endif

#ifdef LSC_HAVE_NCCL
static lsc_status call_nccl(void *entry, const void *args, lsc_transport *t,
                            void (**release)(void *), char *why, size_t why_len)
{
    lsc_nccl_entry_fn fn;
    memcpy(&fn, &entry, sizeof fn);
    void *const *a = (void *const *)args;
    return fn(LSC_NCCL_ABI, a[0], a[1], t, release, why, why_len);
}
#endif

lsc_status lsc_ctx_set_nccl(lsc_ctx *ctx, void *comm, void *stream)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, comm, LSC_STATUS_INVALID_ARGUMENT, "comm is NULL: pass the ncclComm_t");
#ifdef LSC_HAVE_NCCL
    void *args[2] = {comm, stream};
    return adopt_module(ctx, "liblsc_nccl.so." LSC_STR(LSC_VERSION_MAJOR), "LSC_NCCL_MODULE",
                        "NCCL", LSC_NCCL_ENTRY, call_nccl, args);
#else
    (void)stream;
    return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                         "this lsc was built without the NCCL module (it is built with the CUDA "
                         "backend where the toolkit's nccl.h is found)");
#endif
}

lsc_status lsc_ctx_set_mpi(lsc_ctx *ctx, int64_t comm_f)
{
    LSC_TRY(lsc_begin(ctx));
#ifdef LSC_HAVE_MPI
    return adopt_module(ctx, "liblsc_mpi.so." LSC_STR(LSC_VERSION_MAJOR), "LSC_MPI_MODULE", "MPI",
                        LSC_MPI_ENTRY, call_mpi, &comm_f);
#else
    (void)comm_f;
    return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                         "this lsc was built without the MPI module (configure with "
                         "-DLSC_MPI=ON where Open MPI's development files are installed)");
#endif
}
