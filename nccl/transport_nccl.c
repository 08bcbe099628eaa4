/* liblsc_nccl: the NCCL adapter (lsc.h section 12), a module liblsc loads at run time for a
 * caller that owns an ncclComm_t (a C, C++ or CUDA training job). It implements the transport's
 * collectives with NCCL's on the caller's communicator and stream. NCCL itself is never linked:
 * its symbols come from the NCCL already loaded in the process (the one the caller's
 * communicator belongs to), else from the CUDA toolkit's, so this module loads on machines
 * without NCCL and never mixes two NCCL copies with one communicator. The communicator stays the
 * caller's: lsc never aborts, finalises or destroys it. */
#define _GNU_SOURCE
#include "sharded.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The NCCL functions the adapter calls, resolved with dlsym; the types come from nccl.h (the
 * functions are never linked). */
typedef struct nccl_api {
    void *lib;
    __typeof__(&ncclGetVersion) get_version;
    __typeof__(&ncclGetErrorString) error_string;
    __typeof__(&ncclCommCount) comm_count;
    __typeof__(&ncclCommUserRank) user_rank;
    __typeof__(&ncclCommCuDevice) cu_device;
    __typeof__(&ncclCommGetAsyncError) async_error;
    __typeof__(&ncclAllReduce) all_reduce;
    __typeof__(&ncclBroadcast) broadcast;
    __typeof__(&ncclSend) send;
    __typeof__(&ncclRecv) recv;
    __typeof__(&ncclGroupStart) group_start;
    __typeof__(&ncclGroupEnd) group_end;
} nccl_api;

typedef struct nccl_state {
    nccl_api api;
    ncclComm_t comm;
    cudaStream_t stream;
    int own_stream; /* the stream is the adapter's (the caller passed none) */
    int device;     /* the communicator's CUDA device */
    int rank, ranks;
    void *stage; /* device memory host buffers pass through (NCCL reads device memory) */
    size_t stage_bytes;
} nccl_state;

/* The oldest NCCL with ncclSend/ncclRecv (2.7.0), in ncclGetVersion's code. */
#define NCCL_MIN_VERSION 2700

static int say(char *why, size_t why_len, const char *fmt, const char *a, const char *b)
{
    snprintf(why, why_len, fmt, a, b);
    return 1;
}

/* NCCL from the process first (the caller's communicator was made by that copy), then the
 * toolkit's, then the loader's search path. */
static void *open_nccl(char *where, size_t where_len)
{
    void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_NOLOAD);
    if (h) {
        snprintf(where, where_len, "the NCCL already loaded in this process");
        return h;
    }
#ifdef LSC_NCCL_TOOLKIT_LIB
    h = dlopen(LSC_NCCL_TOOLKIT_LIB, RTLD_NOW | RTLD_LOCAL);
    if (h) {
        snprintf(where, where_len, "%s", LSC_NCCL_TOOLKIT_LIB);
        return h;
    }
#endif
    h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (h) snprintf(where, where_len, "libnccl.so.2 from the loader's search path");
    return h;
}

static int resolve(nccl_api *a, char *why, size_t why_len)
{
    char where[512];
    a->lib = open_nccl(where, sizeof where);
    if (!a->lib) {
        const char *e = dlerror();
        return say(why, why_len, "NCCL could not be loaded (libnccl.so.2: %s%s)",
                   e ? e : "not found", "");
    }
    struct {
        void **slot;
        const char *name;
    } fns[] = {
        {(void **)&a->get_version, "ncclGetVersion"},
        {(void **)&a->error_string, "ncclGetErrorString"},
        {(void **)&a->comm_count, "ncclCommCount"},
        {(void **)&a->user_rank, "ncclCommUserRank"},
        {(void **)&a->cu_device, "ncclCommCuDevice"},
        {(void **)&a->async_error, "ncclCommGetAsyncError"},
        {(void **)&a->all_reduce, "ncclAllReduce"},
        {(void **)&a->broadcast, "ncclBroadcast"},
        {(void **)&a->send, "ncclSend"},
        {(void **)&a->recv, "ncclRecv"},
        {(void **)&a->group_start, "ncclGroupStart"},
        {(void **)&a->group_end, "ncclGroupEnd"},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        *fns[i].slot = dlsym(a->lib, fns[i].name);
        if (!*fns[i].slot) {
            say(why, why_len, "%s has no %s: an NCCL older than 2.7", where, fns[i].name);
            dlclose(a->lib);
            return 1;
        }
    }
    int v = 0;
    if (a->get_version(&v) != ncclSuccess || v < NCCL_MIN_VERSION) {
        char ver[32];
        snprintf(ver, sizeof ver, "%d", v);
        say(why, why_len, "%s is NCCL version code %s; lsc needs 2.7 or newer", where, ver);
        dlclose(a->lib);
        return 1;
    }
    return 0;
}

static int nccl_fail(const nccl_state *st, ncclResult_t r, const char *what, char *why,
                     size_t why_len)
{
    return say(why, why_len, "%s: %s", what, st->api.error_string(r));
}

static int cuda_fail(cudaError_t e, const char *what, char *why, size_t why_len)
{
    cudaGetLastError(); /* a non-sticky error must not outlive this call */
    return say(why, why_len, "%s: %s", what, cudaGetErrorString(e));
}

/* Each collective runs on the communicator's device, the caller's current device restored after
 * (lsc changes no thread state behind the caller's back). */
typedef struct on_device {
    int prev;
} on_device;

static int enter(const nccl_state *st, on_device *od, char *why, size_t why_len)
{
    cudaError_t e = cudaGetDevice(&od->prev);
    if (e == cudaSuccess && od->prev != st->device) e = cudaSetDevice(st->device);
    return e == cudaSuccess ? 0 : cuda_fail(e, "selecting the communicator's device", why, why_len);
}

static void leave(const nccl_state *st, const on_device *od)
{
    if (od->prev != st->device) cudaSetDevice(od->prev);
}

/* A device buffer of `bytes` for host buffers to pass through, grown as needed. */
static int staged(nccl_state *st, size_t bytes, char *why, size_t why_len)
{
    if (bytes <= st->stage_bytes) return 0;
    if (st->stage) cudaFree(st->stage);
    st->stage = NULL;
    st->stage_bytes = 0;
    cudaError_t e = cudaMalloc(&st->stage, bytes);
    if (e != cudaSuccess)
        return cuda_fail(e, "cudaMalloc of the NCCL staging buffer", why, why_len);
    st->stage_bytes = bytes;
    return 0;
}

static int copy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                const nccl_state *st, char *why, size_t why_len)
{
    if (!bytes) return 0;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, st->stream);
    return e == cudaSuccess ? 0 : cuda_fail(e, "cudaMemcpyAsync", why, why_len);
}

/* Waits for the stream, then asks NCCL whether the communicator failed meanwhile. */
static int finish(const nccl_state *st, char *why, size_t why_len)
{
    cudaError_t e = cudaStreamSynchronize(st->stream);
    if (e != cudaSuccess) return cuda_fail(e, "cudaStreamSynchronize", why, why_len);
    ncclResult_t async = ncclSuccess;
    ncclResult_t r = st->api.async_error(st->comm, &async);
    if (r != ncclSuccess) return nccl_fail(st, r, "ncclCommGetAsyncError", why, why_len);
    if (async != ncclSuccess) return nccl_fail(st, async, "the communicator", why, why_len);
    return 0;
}

/* `bytes` at `buf` in `memory` as a device pointer: host bytes are copied into the staging
 * buffer first (when `in`), device bytes are used in place. */
static int device_view(nccl_state *st, void *buf, size_t bytes, lsc_memory memory, int in,
                       void **dev, char *why, size_t why_len)
{
    if (memory == LSC_MEMORY_DEVICE) {
        *dev = buf;
        return 0;
    }
    if (staged(st, bytes, why, why_len)) return 1;
    *dev = st->stage;
    return in ? copy(st->stage, buf, bytes, cudaMemcpyHostToDevice, st, why, why_len) : 0;
}

static int back_to_host(nccl_state *st, void *buf, size_t bytes, lsc_memory memory, char *why,
                        size_t why_len)
{
    if (memory == LSC_MEMORY_HOST &&
        copy(buf, st->stage, bytes, cudaMemcpyDeviceToHost, st, why, why_len))
        return 1;
    return finish(st, why, why_len);
}

static int nccl_all_reduce(void *buf, int64_t count, lsc_elem elem, lsc_reduce_op op,
                           lsc_memory memory, void *user, char *why, size_t why_len)
{
    nccl_state *st = (nccl_state *)user;
    on_device od;
    if (enter(st, &od, why, why_len)) return 1;
    const size_t bytes = (size_t)count * 8;
    void *dev = NULL;
    int bad = device_view(st, buf, bytes, memory, 1, &dev, why, why_len);
    if (!bad) {
        ncclResult_t r = st->api.all_reduce(dev, dev, (size_t)count,
                                            elem == LSC_ELEM_F64 ? ncclFloat64 : ncclInt64,
                                            op == LSC_REDUCE_SUM   ? ncclSum
                                            : op == LSC_REDUCE_MIN ? ncclMin
                                                                   : ncclMax,
                                            st->comm, st->stream);
        bad = r != ncclSuccess ? nccl_fail(st, r, "ncclAllReduce", why, why_len)
                               : back_to_host(st, buf, bytes, memory, why, why_len);
    }
    leave(st, &od);
    return bad;
}

static int nccl_all_gather(const void *send, size_t bytes, void *recv, const size_t *recv_bytes,
                           lsc_memory memory, void *user, char *why, size_t why_len)
{
    nccl_state *st = (nccl_state *)user;
    on_device od;
    if (enter(st, &od, why, why_len)) return 1;
    size_t total = 0, at = 0;
    for (int r = 0; r < st->ranks; r++) total += recv_bytes[r];
    for (int r = 0; r < st->rank; r++) at += recv_bytes[r];
    void *dev = NULL;
    int bad = device_view(st, recv, total, memory, 0, &dev, why, why_len);
    /* this rank's block into its place, then every block broadcast from its rank in place:
     * exact sizes, no padding to the largest */
    if (!bad)
        bad = copy((char *)dev + at, send, bytes,
                   memory == LSC_MEMORY_HOST ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToDevice,
                   st, why, why_len);
    if (!bad) {
        ncclResult_t r = st->api.group_start();
        size_t off = 0;
        for (int q = 0; q < st->ranks && r == ncclSuccess; q++) {
            if (recv_bytes[q])
                r = st->api.broadcast((char *)dev + off, (char *)dev + off, recv_bytes[q],
                                      ncclUint8, q, st->comm, st->stream);
            off += recv_bytes[q];
        }
        ncclResult_t e = st->api.group_end();
        if (r == ncclSuccess) r = e;
        bad = r != ncclSuccess ? nccl_fail(st, r, "ncclBroadcast (all-gather)", why, why_len)
                               : back_to_host(st, recv, total, memory, why, why_len);
    }
    leave(st, &od);
    return bad;
}

static int nccl_broadcast(void *buf, size_t bytes, int64_t root, lsc_memory memory, void *user,
                          char *why, size_t why_len)
{
    nccl_state *st = (nccl_state *)user;
    if (!bytes) return 0;
    on_device od;
    if (enter(st, &od, why, why_len)) return 1;
    void *dev = NULL;
    int bad = device_view(st, buf, bytes, memory, st->rank == root, &dev, why, why_len);
    if (!bad) {
        ncclResult_t r =
            st->api.broadcast(dev, dev, bytes, ncclUint8, (int)root, st->comm, st->stream);
        bad = r != ncclSuccess ? nccl_fail(st, r, "ncclBroadcast", why, why_len)
                               : back_to_host(st, buf, bytes, memory, why, why_len);
    }
    leave(st, &od);
    return bad;
}

/* One point-to-point step, the pattern of both the ring and send_recv steps: send_bytes to rank
 * dst, recv_bytes from rank src, in one NCCL group. */
static int exchange(nccl_state *st, const void *send, size_t send_bytes, int dst, void *recv,
                    size_t recv_bytes, int src, lsc_memory memory, const char *what, char *why,
                    size_t why_len)
{
    on_device od;
    if (enter(st, &od, why, why_len)) return 1;
    int bad = 0;
    const void *dsend = send;
    void *drecv = recv;
    if (memory == LSC_MEMORY_HOST) {
        /* both halves in one staging buffer: the send first, the receive after it */
        bad = staged(st, send_bytes + recv_bytes, why, why_len);
        if (!bad) {
            dsend = st->stage;
            drecv = (char *)st->stage + send_bytes;
            bad = copy(st->stage, send, send_bytes, cudaMemcpyHostToDevice, st, why, why_len);
        }
    }
    if (!bad) {
        /* a size of 0 is known at both ends (agreed before), so neither posts it */
        ncclResult_t r = st->api.group_start();
        if (r == ncclSuccess && send_bytes)
            r = st->api.send(dsend, send_bytes, ncclUint8, dst, st->comm, st->stream);
        if (r == ncclSuccess && recv_bytes)
            r = st->api.recv(drecv, recv_bytes, ncclUint8, src, st->comm, st->stream);
        ncclResult_t e = st->api.group_end();
        if (r == ncclSuccess) r = e;
        if (r != ncclSuccess) bad = nccl_fail(st, r, what, why, why_len);
    }
    if (!bad && memory == LSC_MEMORY_HOST)
        bad = copy(recv, drecv, recv_bytes, cudaMemcpyDeviceToHost, st, why, why_len);
    if (!bad) bad = finish(st, why, why_len);
    leave(st, &od);
    return bad;
}

static int nccl_ring(const void *send, size_t send_bytes, void *recv, size_t recv_bytes,
                     lsc_memory memory, void *user, char *why, size_t why_len)
{
    nccl_state *st = (nccl_state *)user;
    return exchange(st, send, send_bytes, (st->rank + 1) % st->ranks, recv, recv_bytes,
                    (st->rank + st->ranks - 1) % st->ranks, memory, "ncclSend/ncclRecv (ring step)",
                    why, why_len);
}

static int nccl_send_recv(const void *send, size_t send_bytes, int64_t dst, void *recv,
                          size_t recv_bytes, int64_t src, lsc_memory memory, void *user, char *why,
                          size_t why_len)
{
    nccl_state *st = (nccl_state *)user;
    if (dst < 0 || dst >= st->ranks || src < 0 || src >= st->ranks) {
        char d[48], n[24];
        snprintf(d, sizeof d, "rank %lld from rank %lld", (long long)dst, (long long)src);
        snprintf(n, sizeof n, "%d", st->ranks - 1);
        return say(why, why_len, "send_recv to %s: the communicator's ranks are 0 to %s", d, n);
    }
    return exchange(st, send, send_bytes, (int)dst, recv, recv_bytes, (int)src, memory,
                    "ncclSend/ncclRecv (send_recv step)", why, why_len);
}

static void nccl_release(void *user)
{
    nccl_state *st = (nccl_state *)user;
    if (!st) return;
    int prev = -1;
    cudaGetDevice(&prev);
    cudaSetDevice(st->device);
    if (st->stage) cudaFree(st->stage);
    if (st->own_stream) cudaStreamDestroy(st->stream);
    if (prev >= 0 && prev != st->device) cudaSetDevice(prev);
    dlclose(st->api.lib);
    free(st);
}

/* Exported with default visibility: the one symbol liblsc looks up. */
__attribute__((visibility("default"))) lsc_status
lsc_nccl_transport_entry(int abi, void *comm, void *stream, lsc_transport *out,
                         void (**release)(void *), char *why, size_t why_len)
{
    if (abi != LSC_NCCL_ABI) {
        char a[16], b[16];
        snprintf(a, sizeof a, "%d", LSC_NCCL_ABI);
        snprintf(b, sizeof b, "%d", abi);
        say(why, why_len,
            "the NCCL module speaks ABI %s, this liblsc %s: install matching "
            "versions",
            a, b);
        return LSC_STATUS_NOT_SUPPORTED;
    }
    nccl_state *st = (nccl_state *)calloc(1, sizeof *st);
    if (!st) {
        say(why, why_len, "out of host memory for the NCCL transport%s%s", "", "");
        return LSC_STATUS_OUT_OF_MEMORY;
    }
    if (resolve(&st->api, why, why_len)) {
        free(st);
        return LSC_STATUS_NOT_SUPPORTED;
    }
    st->comm = (ncclComm_t)comm;
    ncclResult_t r = st->api.comm_count(st->comm, &st->ranks);
    if (r == ncclSuccess) r = st->api.user_rank(st->comm, &st->rank);
    if (r == ncclSuccess) r = st->api.cu_device(st->comm, &st->device);
    if (r != ncclSuccess) {
        nccl_fail(st, r, "the communicator (ncclCommCount/UserRank/CuDevice)", why, why_len);
        dlclose(st->api.lib);
        free(st);
        return LSC_STATUS_INVALID_ARGUMENT;
    }
    if (stream) {
        st->stream = (cudaStream_t)stream;
    } else {
        /* never the legacy default stream, which would wait for every other stream */
        on_device od;
        cudaError_t e = cudaErrorUnknown;
        if (!enter(st, &od, why, why_len)) {
            e = cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking);
            leave(st, &od);
            if (e != cudaSuccess) cuda_fail(e, "cudaStreamCreateWithFlags", why, why_len);
        }
        if (e != cudaSuccess) {
            dlclose(st->api.lib);
            free(st);
            return LSC_STATUS_DEVICE_ERROR;
        }
        st->own_stream = 1;
    }
    lsc_transport t = LSC_TRANSPORT_INIT;
    t.rank = st->rank;
    t.ranks = st->ranks;
    t.user = st;
    t.all_reduce = nccl_all_reduce;
    t.all_gather = nccl_all_gather;
    t.broadcast = nccl_broadcast;
    t.ring = nccl_ring;
    t.send_recv = nccl_send_recv;
    *out = t;
    *release = nccl_release;
    return LSC_STATUS_OK;
}
