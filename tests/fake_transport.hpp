// An in-process transport for the sharded calls' tests: P threads, one a rank, exchange buffers
// through shared pointers between barriers. It checks what a real engine would trip over (ranks
// calling different collectives, or with different sizes) and reports it as a failure, and its
// barrier gives up after a timeout, so a test of a broken agreement fails instead of hanging.
#pragma once

#include "lsc.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fake {

struct Hub {
    explicit Hub(int ranks) : P(ranks), ptr(ranks), bytes(ranks), kind(ranks), peer(ranks) {}
    int P;
    std::mutex m;
    std::condition_variable cv;
    int arrived = 0;
    uint64_t generation = 0;
    std::vector<void *> ptr;
    std::vector<size_t> bytes;
    std::vector<int> kind;
    std::vector<int> peer;       // each rank's destination in a send_recv step
    bool fail_broadcast = false; // every rank's broadcast fails (a broken engine)
    int64_t collectives = 0;     // collectives rank 0 made
    int64_t send_recvs = 0;      // point-to-point steps rank 0 made

    // false after the timeout: some rank never came
    bool barrier()
    {
        std::unique_lock<std::mutex> lk(m);
        const uint64_t g = generation;
        if (++arrived == P) {
            arrived = 0;
            generation++;
            cv.notify_all();
            return true;
        }
        return cv.wait_for(lk, std::chrono::seconds(30), [&] { return generation != g; });
    }
};

struct Rank {
    Hub *hub;
    int rank;
};

inline int say(char *why, size_t len, const char *text)
{
    std::snprintf(why, len, "%s", text);
    return 1;
}

// Posts this rank's pointer, size and collective kind; checks every rank posted the same kind
// (and, with same_bytes, the same size).
inline int post(Rank *r, int kind, void *p, size_t bytes, bool same_bytes, char *why, size_t len)
{
    Hub &h = *r->hub;
    if (r->rank == 0) h.collectives++;
    h.ptr[r->rank] = p;
    h.bytes[r->rank] = bytes;
    h.kind[r->rank] = kind;
    if (!h.barrier()) return say(why, len, "fake transport: a rank never came (timeout)");
    for (int q = 0; q < h.P; q++) {
        if (h.kind[q] != kind)
            return say(why, len, "fake transport: ranks called different collectives");
        if (same_bytes && h.bytes[q] != bytes)
            return say(why, len, "fake transport: ranks disagree on the size");
    }
    return 0;
}

inline int all_reduce(void *buf, int64_t count, lsc_elem elem, lsc_reduce_op op, lsc_memory mem,
                      void *user, char *why, size_t len)
{
    Rank *r = (Rank *)user;
    if (mem != LSC_MEMORY_HOST) return say(why, len, "fake transport: host memory only");
    if (post(r, 1, buf, (size_t)count * 8, true, why, len)) return 1;
    std::vector<unsigned char> acc((size_t)count * 8);
    for (int64_t i = 0; i < count; i++) {
        double fd = 0;
        int64_t fi = 0;
        for (int q = 0; q < r->hub->P; q++) {
            const unsigned char *src = (const unsigned char *)r->hub->ptr[q] + i * 8;
            double vd;
            int64_t vi;
            std::memcpy(&vd, src, 8);
            std::memcpy(&vi, src, 8);
            if (q == 0) {
                fd = vd;
                fi = vi;
            } else if (op == LSC_REDUCE_SUM) {
                fd += vd;
                fi += vi;
            } else if (op == LSC_REDUCE_MIN) {
                fd = vd < fd ? vd : fd;
                fi = vi < fi ? vi : fi;
            } else {
                fd = vd > fd ? vd : fd;
                fi = vi > fi ? vi : fi;
            }
        }
        if (elem == LSC_ELEM_F64) std::memcpy(&acc[(size_t)i * 8], &fd, 8);
        else std::memcpy(&acc[(size_t)i * 8], &fi, 8);
    }
    if (!r->hub->barrier()) return say(why, len, "fake transport: timeout");
    std::memcpy(buf, acc.data(), acc.size());
    return 0;
}

inline int all_gather(const void *send, size_t bytes, void *recv, const size_t *recv_bytes,
                      lsc_memory mem, void *user, char *why, size_t len)
{
    Rank *r = (Rank *)user;
    if (mem != LSC_MEMORY_HOST) return say(why, len, "fake transport: host memory only");
    if (recv_bytes[r->rank] != bytes)
        return say(why, len, "fake transport: recv_bytes[rank] != bytes");
    if (post(r, 2, (void *)send, bytes, false, why, len)) return 1;
    size_t at = 0;
    int bad = 0;
    for (int q = 0; q < r->hub->P; q++) {
        if (r->hub->bytes[q] != recv_bytes[q]) bad = 1;
        else if (recv_bytes[q]) std::memcpy((char *)recv + at, r->hub->ptr[q], recv_bytes[q]);
        at += recv_bytes[q];
    }
    if (!r->hub->barrier()) return say(why, len, "fake transport: timeout");
    return bad ? say(why, len, "fake transport: a block's size differs from recv_bytes") : 0;
}

inline int broadcast(void *buf, size_t bytes, int64_t root, lsc_memory mem, void *user, char *why,
                     size_t len)
{
    Rank *r = (Rank *)user;
    if (r->hub->fail_broadcast) return say(why, len, "fake transport: broadcast broken on purpose");
    if (mem != LSC_MEMORY_HOST) return say(why, len, "fake transport: host memory only");
    if (post(r, 3, buf, bytes, true, why, len)) return 1;
    if (r->rank != root && bytes) std::memcpy(buf, r->hub->ptr[root], bytes);
    if (!r->hub->barrier()) return say(why, len, "fake transport: timeout");
    return 0;
}

inline int ring(const void *send, size_t send_bytes, void *recv, size_t recv_bytes, lsc_memory mem,
                void *user, char *why, size_t len)
{
    Rank *r = (Rank *)user;
    if (mem != LSC_MEMORY_HOST) return say(why, len, "fake transport: host memory only");
    if (post(r, 4, (void *)send, send_bytes, false, why, len)) return 1;
    const int prev = (r->rank + r->hub->P - 1) % r->hub->P;
    const int bad = r->hub->bytes[prev] != recv_bytes;
    if (!bad && recv_bytes) std::memcpy(recv, r->hub->ptr[prev], recv_bytes);
    if (!r->hub->barrier()) return say(why, len, "fake transport: timeout");
    return bad ? say(why, len, "fake transport: recv_bytes differs from what the sender sends") : 0;
}

inline int send_recv(const void *send, size_t send_bytes, int64_t dst, void *recv,
                     size_t recv_bytes, int64_t src, lsc_memory mem, void *user, char *why,
                     size_t len)
{
    Rank *r = (Rank *)user;
    if (mem != LSC_MEMORY_HOST) return say(why, len, "fake transport: host memory only");
    const int P = r->hub->P;
    if (dst < 0 || dst >= P || src < 0 || src >= P || dst == r->rank || src == r->rank)
        return say(why, len, "fake transport: send_recv to or from a bad rank");
    // every rank posts its send and its partners; the receiver checks they pair up
    if (r->rank == 0) r->hub->send_recvs++;
    if (post(r, 5, (void *)send, send_bytes, false, why, len)) return 1;
    r->hub->peer[r->rank] = (int)dst;
    if (!r->hub->barrier()) return say(why, len, "fake transport: timeout");
    const int bad = r->hub->peer[src] != r->rank || r->hub->bytes[src] != recv_bytes;
    if (!bad && recv_bytes) std::memcpy(recv, r->hub->ptr[src], recv_bytes);
    if (!r->hub->barrier()) return say(why, len, "fake transport: timeout");
    return bad ? say(why, len, "fake transport: send_recv partners or sizes do not pair up") : 0;
}

inline lsc_transport transport(Rank *r)
{
    lsc_transport t = LSC_TRANSPORT_INIT;
    t.rank = r->rank;
    t.ranks = r->hub->P;
    t.user = r;
    t.all_reduce = all_reduce;
    t.all_gather = all_gather;
    t.broadcast = broadcast;
    t.ring = ring;
    t.send_recv = send_recv;
    return t;
}

// The first row of each shard of the given sizes, and the total at the end.
inline std::vector<int64_t> offsets(const std::vector<int64_t> &sizes)
{
    std::vector<int64_t> off(1, 0);
    for (int64_t s : sizes) off.push_back(off.back() + s);
    return off;
}

// Shard p of x (rows of d) under offsets `off` as a matrix (no data pointer for an empty shard).
inline lsc_matrix shard(const std::vector<float> &x, int64_t d, const std::vector<int64_t> &off,
                        int p)
{
    const int64_t rows = off[(size_t)p + 1] - off[(size_t)p];
    return lsc_matrix_f32(rows ? x.data() + off[(size_t)p] * d : nullptr, rows, d);
}

// Runs body(rank, ctx) on P threads, each with its own context holding the fake transport of its
// rank, first changed by `tweak` (`saved`, if given, receives the transports, which the body may
// set again): a one-thread CPU context, or one made with `params` (test_cuda: a CUDA context
// each); `hub_out`, if given, is the hub the ranks share (a test may break it on purpose).
inline void run_with(int P, const std::function<void(int, lsc_transport &)> &tweak,
                     const std::function<void(int, lsc_ctx *)> &body,
                     std::vector<lsc_transport> *saved = nullptr, Hub *hub_out = nullptr,
                     const lsc_ctx_params *params = nullptr)
{
    Hub local(P);
    Hub &hub = hub_out ? *hub_out : local;
    std::vector<Rank> ranks((size_t)P);
    std::vector<std::thread> th;
    for (int p = 0; p < P; p++) {
        ranks[(size_t)p] = Rank{&hub, p};
        th.emplace_back([&, p] {
            lsc_ctx_params prm = LSC_CTX_PARAMS_INIT;
            prm.backend = LSC_BACKEND_CPU;
            prm.threads = 1;
            if (params) prm = *params;
            lsc_ctx *ctx = nullptr;
            lsc_ctx_create(&prm, &ctx);
            lsc_transport t = transport(&ranks[(size_t)p]);
            tweak(p, t);
            if (saved) (*saved)[(size_t)p] = t;
            lsc_ctx_set_transport(ctx, &t);
            body(p, ctx);
            lsc_ctx_destroy(ctx);
        });
    }
    for (auto &t : th) t.join();
}

// run_with, the transports as they are.
inline void run(int P, const std::function<void(int, lsc_ctx *)> &body, Hub *hub_out = nullptr,
                const lsc_ctx_params *params = nullptr)
{
    run_with(
        P, [](int, lsc_transport &) {}, body, nullptr, hub_out, params);
}

} // namespace fake
