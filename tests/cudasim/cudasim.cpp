/* cudasim: a CUDA device emulated on the host, for running lsc's CUDA backend and its GPU tests
 * where there is no GPU (LSC_CUDA=SIM). It implements the runtime calls, driver calls, cuBLAS
 * and cuSOLVER calls the backend and tests/test_cuda.cpp make, and runs the backend's own kernels
 * (translated by translate.py) with one fiber per CUDA thread.
 *
 * What it checks, beyond giving the answers a GPU would:
 * - streams are deferred: enqueued work runs when something waits for it (a stream or event
 *   synchronisation, a copy that the CUDA documentation says returns when done), or earlier, at
 *   random (LSC_SIM_EARLY percent of the enqueues run one stream's pending work), so a result
 *   read before its stream was synchronised is stale and a buffer refilled before the work that
 *   reads it has run is read at either time; events order streams; the legacy default stream
 *   waits for blocking streams, and synchronous copies and memsets run on it, so they do not
 *   wait for non-blocking streams; a destroyed stream's queued work still runs;
 * - device memory is mapped with guard pages and is inaccessible to the host except while
 *   enqueued work runs: a kernel reading past the end (or before the start) of an allocation, or host code touching
 *   device memory directly, stops with a message naming the allocation; new device memory,
 *   dynamic and static shared memory start as NaN bytes (0xff) in every block, so uninitialised
 *   reads show;
 * - every copy and memset must lie inside one allocation, with a direction that matches the
 *   memory; cuBLAS calls check their leading dimensions and that their operands are device
 *   memory; cuSOLVER checks its device and host workspaces and uses them when it runs;
 * - __syncthreads and warp intrinsics are barriers: all threads of a block must wait at the same
 *   __syncthreads, all lanes of a mask at the same intrinsic with the same mask, and a lane that
 *   never arrives (exited, or waiting elsewhere) is reported as a deadlock, not hung on; launch
 *   configurations are checked as the hardware does (block and grid size, 48 KiB of static and
 *   dynamic shared memory together, without cudaFuncSetAttribute);
 * - between barriers the fibers of a block, and the blocks of a grid, run in a shuffled order
 *   (LSC_SIM_ORDER=random, the default; forward and reverse also), so a result that depends on
 *   the order of writes (a race, or the order of float atomics) changes from run to run;
 * - stream capture records work into a graph that a launch replays; the calls a capture forbids
 *   (synchronisation, cudaMalloc, cudaFree, synchronous copies, memory nodes on the capturing
 *   stream) fail with cudaErrorStreamCaptureUnsupported, and every later captured call with
 *   cudaErrorStreamCaptureInvalidated.
 * What it cannot check: kernels reading or writing host memory they should not (pageable host
 *   memory, past a pinned buffer), every access just outside an allocation (every other one has
 *   its guard page at the start, the others at the end, within 256 bytes), an overrun between
 *   the pieces of one allocation, lost updates of non-atomic
 *   read-modify-writes (a fiber runs uninterrupted to its next barrier and blocks run one after
 *   another), the memory model, the stream-ordered allocator's pool reuse, register limits,
 *   managed memory, FMA contraction (nvcc contracts spectrum.cu and validate.cu; here nothing is
 *   contracted), float results of cuBLAS and cuSOLVER (the host's BLAS sums in another order),
 *   or the speed of anything.
 *
 * Environment: LSC_SIM_DEVICES (0: a machine without a GPU; the tests set 1), LSC_SIM_EARLY (25),
 * LSC_SIM_DEVICE_MB (16384), LSC_SIM_ORDER (random),
 * LSC_SIM_SEED, LSC_SIM_STACK_KB (256), LSC_SIM_PROTECT (1), LSC_SIM_VERBOSE (0). */
#include "cuda_runtime.h"
#include "cublas_v2.h"
#include "cusolverDn.h"
#include "cudasim_kernel.h"
#undef threadIdx
#undef blockIdx
#undef blockDim
#undef gridDim

#include <cblas.h>
#include <lapacke.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#define SIM_EXPORT extern "C" __attribute__((visibility("default")))

namespace lsc_sim {

// plain globals, not thread_local: every kernel runs under the runtime's one lock
thread_state *cur = nullptr;
uint3 block_idx;
dim3 block_dim, grid_dim;

namespace {

const size_t kPage = 4096;

std::recursive_mutex g_mu;
typedef std::lock_guard<std::recursive_mutex> guard;

long env_long(const char *name, long dflt)
{
    const char *e = getenv(name);
    return e && *e ? strtol(e, nullptr, 10) : dflt;
}

void say(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cudasim: %s\n", buf);
}

/* ---- configuration -------------------------------------------------------------------------- */

struct config {
    int devices = 1;
    size_t device_bytes = 0;
    int order = 2; // 0 forward, 1 reverse, 2 random
    uint64_t seed = 1;
    size_t stack = 256 * 1024;
    bool protect = true;
    bool verbose = false;
    int early = 25; // percent of the enqueues after which one stream runs its pending work
    config()
    {
        devices = (int)env_long("LSC_SIM_DEVICES", 0); // none unless asked: AUTO stays on the CPU
        device_bytes = (size_t)env_long("LSC_SIM_DEVICE_MB", 16384) << 20;
        const char *o = getenv("LSC_SIM_ORDER");
        if (o && !strcmp(o, "forward")) order = 0;
        if (o && !strcmp(o, "reverse")) order = 1;
        seed = (uint64_t)env_long("LSC_SIM_SEED", 20261202);
        stack = (size_t)env_long("LSC_SIM_STACK_KB", 256) * 1024;
        protect = env_long("LSC_SIM_PROTECT", 1) != 0;
        verbose = env_long("LSC_SIM_VERBOSE", 0) != 0;
        early = (int)env_long("LSC_SIM_EARLY", 25);
    }
};
config &cfg()
{
    static config c;
    return c;
}

/* ---- errors --------------------------------------------------------------------------------- */

cudaError_t g_sticky = cudaSuccess; // a kernel fault: every later call fails, as on a GPU
// what tests/test_cuda.cpp reads through lsc_sim_counters: calls that wait for the whole device,
// waits for one stream or event, allocations of device or pinned memory, frees
uint64_t g_device_waits = 0, g_stream_waits = 0, g_allocs_made = 0, g_frees = 0;
int g_fail_pinned = 0; // lsc_sim_fail_pinned: this many coming pinned allocations fail
int g_fail_device = 0; // lsc_sim_fail_device: this many coming device allocations fail
thread_local cudaError_t t_last = cudaSuccess;
thread_local int t_device = 0;

cudaError_t fail(cudaError_t e)
{
    if (e != cudaSuccess) t_last = e;
    return e;
}

void fault(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cudasim: FAULT: %s\n", buf);
    if (g_sticky == cudaSuccess) g_sticky = cudaErrorLaunchFailure;
}

/* ---- memory --------------------------------------------------------------------------------- */

enum kind { K_DEVICE, K_PINNED };

struct alloc {
    uintptr_t base;
    size_t bytes;
    kind k;
    int device;
    char *map; // mmap'ed region (device memory) or NULL
    size_t map_len;
    size_t data_off;
};

std::map<uintptr_t, alloc> g_allocs; // by base
size_t g_device_used = 0;
int g_exec_depth = 0; // > 0 while enqueued work runs: device memory is accessible
std::deque<std::pair<char *, size_t>> g_quarantine;
size_t g_quarantine_bytes = 0;

const alloc *find_alloc(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return nullptr;
    --it;
    if (a >= it->second.base && a < it->second.base + std::max<size_t>(it->second.bytes, 1))
        return &it->second;
    return nullptr;
}

void set_access(const alloc &al, bool on)
{
    if (!cfg().protect || al.k != K_DEVICE) return;
    const size_t data_pages = al.map_len - 2 * kPage;
    mprotect(al.map + kPage, data_pages, on ? PROT_READ | PROT_WRITE : PROT_NONE);
}

void open_device_memory()
{
    if (g_exec_depth++ == 0)
        for (auto &kv : g_allocs) set_access(kv.second, true);
}
void close_device_memory()
{
    if (--g_exec_depth == 0)
        for (auto &kv : g_allocs) set_access(kv.second, false);
}

cudaError_t device_alloc(void **p, size_t bytes)
{
    if (!p) return fail(cudaErrorInvalidValue);
    *p = nullptr;
    if (g_fail_device > 0) { // refused before it counts as made
        g_fail_device--;
        return fail(cudaErrorMemoryAllocation);
    }
    g_allocs_made++;
    const size_t want = (std::max<size_t>(bytes, 1) + 255) & ~(size_t)255;
    if (g_device_used + want > cfg().device_bytes) return fail(cudaErrorMemoryAllocation);
    const size_t data_pages = (want + kPage - 1) & ~(kPage - 1);
    const size_t len = data_pages + 2 * kPage;
    char *m =
        (char *)mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return fail(cudaErrorMemoryAllocation);
    // the data ends at the upper guard page (within the 256-byte rounding), so reading past the
    // end faults; every other allocation starts at the lower one instead, so reading before the
    // start faults (both, when the size is a multiple of the page)
    const size_t off = (g_allocs_made & 1) ? kPage : kPage + data_pages - want;
    alloc al{(uintptr_t)(m + off), bytes, K_DEVICE, t_device, m, len, off};
    mprotect(m + kPage, data_pages, PROT_READ | PROT_WRITE);
    memset(m + kPage, 0xff, data_pages); // NaN in every float and double
    g_allocs[al.base] = al;
    g_device_used += want;
    if (g_exec_depth == 0) set_access(al, false);
    *p = (void *)al.base;
    return cudaSuccess;
}

cudaError_t device_free(void *p)
{
    if (!p) return cudaSuccess;
    g_frees++;
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end() || it->second.k != K_DEVICE) {
        say("cudaFree(%p): not the start of a device allocation", p);
        return fail(cudaErrorInvalidValue);
    }
    alloc al = it->second;
    g_allocs.erase(it);
    g_device_used -= (std::max<size_t>(al.bytes, 1) + 255) & ~(size_t)255;
    // keep freed memory unmapped-for-access a while, so a late reader faults instead of reading
    // whatever the next allocation put there
    mprotect(al.map, al.map_len, PROT_NONE);
    g_quarantine.push_back({al.map, al.map_len});
    g_quarantine_bytes += al.map_len;
    while (g_quarantine_bytes > ((size_t)256 << 20) && !g_quarantine.empty()) {
        munmap(g_quarantine.front().first, g_quarantine.front().second);
        g_quarantine_bytes -= g_quarantine.front().second;
        g_quarantine.pop_front();
    }
    return cudaSuccess;
}

cudaError_t pinned_alloc(void **p, size_t bytes)
{
    if (!p) return fail(cudaErrorInvalidValue);
    g_allocs_made++;
    if (g_fail_pinned > 0) {
        g_fail_pinned--;
        *p = nullptr;
        return fail(cudaErrorMemoryAllocation);
    }
    void *m = nullptr;
    if (posix_memalign(&m, kPage, std::max<size_t>(bytes, 1)))
        return fail(cudaErrorMemoryAllocation);
    g_allocs[(uintptr_t)m] = alloc{(uintptr_t)m, bytes, K_PINNED, t_device, nullptr, 0, 0};
    *p = m;
    return cudaSuccess;
}

cudaError_t pinned_free(void *p)
{
    if (!p) return cudaSuccess;
    g_frees++;
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end() || it->second.k != K_PINNED) {
        say("cudaFreeHost(%p): not a pinned allocation", p);
        return fail(cudaErrorInvalidValue);
    }
    g_allocs.erase(it);
    free(p);
    return cudaSuccess;
}

// Where [p, p + bytes) lies: 0 pageable host memory, 1 pinned, 2 device; -1 if it starts in an
// allocation and runs past its end.
int classify(const void *p, size_t bytes, const alloc **out = nullptr)
{
    const alloc *al = find_alloc(p);
    if (out) *out = al;
    if (!al) return 0;
    if ((uintptr_t)p + bytes > al->base + al->bytes) return -1;
    return al->k == K_DEVICE ? 2 : 1;
}

bool check_range(const char *what, const void *p, size_t bytes, bool need_device)
{
    if (bytes == 0) return true;
    const alloc *al;
    int c = classify(p, bytes, &al);
    if (c < 0) {
        say("%s: %zu bytes at %p run %zu bytes past the end of the allocation of %zu bytes at %p",
            what, bytes, p, (size_t)((uintptr_t)p + bytes - al->base - al->bytes), al->bytes,
            (void *)al->base);
        return false;
    }
    if (need_device && c != 2) {
        say("%s: %p is %s memory, not device memory", what, p,
            c == 1 ? "pinned host" : "pageable host");
        return false;
    }
    return true;
}

/* ---- streams, events, graphs ---------------------------------------------------------------- */

struct graph;

struct op {
    uint64_t seq;
    std::function<void()> fn;
};

} // namespace
} // namespace lsc_sim

struct CUstream_st {
    bool blocking = true;
    bool legacy = false;
    int device = 0;
    std::deque<lsc_sim::op> q;
    uint64_t enq = 0, done = 0;
    lsc_sim::graph *capture = nullptr;
    bool draining = false;
};

struct CUevent_st {
    CUstream_st *s = nullptr;
    uint64_t seq = 0;
    lsc_sim::graph *captured = nullptr;
};

namespace lsc_sim {
namespace {

struct graph {
    std::vector<std::function<void()>> ops;
    CUstream_st *origin = nullptr;
    std::set<CUstream_st *> members;
    cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
    bool invalid = false;
    unsigned long thread = 0;
};

struct graph_exec {
    std::vector<std::function<void()>> ops;
};

CUstream_st g_legacy_stream = [] {
    CUstream_st s;
    s.legacy = true;
    return s;
}();
CUstream_st g_per_thread_stream;
std::set<CUstream_st *> g_streams;
// destroyed streams: their queued work still runs and events and waits on them stay valid
std::vector<std::unique_ptr<CUstream_st>> g_dead_streams;
std::set<graph *> g_captures;
std::set<CUevent_st *> g_events;
thread_local cudaStreamCaptureMode t_mode = cudaStreamCaptureModeGlobal;

unsigned long self_id() { return (unsigned long)pthread_self(); }

CUstream_st *stream_of(cudaStream_t s)
{
    if (s == nullptr || s == cudaStreamLegacy) return &g_legacy_stream;
    if (s == cudaStreamPerThread) return &g_per_thread_stream;
    return s;
}

bool valid_stream(cudaStream_t s)
{
    return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread || g_streams.count(s);
}

void drain(CUstream_st *s, uint64_t upto);

void drain_all()
{
    g_device_waits++;
    drain(&g_legacy_stream, g_legacy_stream.enq);
    drain(&g_per_thread_stream, g_per_thread_stream.enq);
    for (CUstream_st *s : std::vector<CUstream_st *>(g_streams.begin(), g_streams.end()))
        drain(s, s->enq);
    for (auto &s : g_dead_streams) drain(s.get(), s->enq);
}

uint64_t rng_next();
int g_early_percent = -1;

// A GPU may run enqueued work any time after it is enqueued, not only when someone waits: now
// and then (LSC_SIM_EARLY percent of the enqueues, default 25) one stream with pending work runs
// all of it, so a missing "the buffer is free again" dependency (a stream overwriting what
// another has not read yet) shows as well as a missing "the data is ready" one.
void run_some_stream_early()
{
    if (g_early_percent < 0) g_early_percent = cfg().early;
    if (g_early_percent <= 0 || g_exec_depth > 0 || (int)(rng_next() % 100) >= g_early_percent)
        return;
    std::vector<CUstream_st *> pending;
    if (g_legacy_stream.enq > g_legacy_stream.done) pending.push_back(&g_legacy_stream);
    if (g_per_thread_stream.enq > g_per_thread_stream.done) pending.push_back(&g_per_thread_stream);
    for (CUstream_st *o : g_streams)
        if (o->enq > o->done && !o->draining) pending.push_back(o);
    for (auto &o : g_dead_streams)
        if (o->enq > o->done) pending.push_back(o.get());
    if (pending.empty()) return;
    CUstream_st *o = pending[rng_next() % pending.size()];
    drain(o, o->enq);
}

void drain(CUstream_st *s, uint64_t upto)
{
    if (s->done >= upto) return;
    if (s->draining) {
        fault("a stream waits on itself through events (a cycle that would hang a GPU)");
        return;
    }
    s->draining = true;
    open_device_memory();
    while (s->done < upto && !s->q.empty()) {
        op o = std::move(s->q.front());
        s->q.pop_front();
        if (g_sticky == cudaSuccess) o.fn();
        s->done = o.seq;
    }
    close_device_memory();
    s->draining = false;
}

// Whether this thread may make a call a capture forbids (cudaMalloc, synchronisation, ...); if
// not, the captures it would break are invalidated, as CUDA does.
bool capture_forbids()
{
    if (t_mode == cudaStreamCaptureModeRelaxed) return false;
    bool forbidden = false;
    for (graph *g : g_captures) {
        if (g->mode == cudaStreamCaptureModeRelaxed) continue;
        const bool mine = g->thread == self_id();
        if (mine ||
            (g->mode == cudaStreamCaptureModeGlobal && t_mode == cudaStreamCaptureModeGlobal)) {
            forbidden = true;
            g->invalid = true;
        }
    }
    return forbidden;
}

cudaError_t forbidden(const char *call)
{
    say("%s during a stream capture: not permitted (the capture is invalidated)", call);
    return fail(cudaErrorStreamCaptureUnsupported);
}

void run_some_stream_early();

// Enqueues fn on s: recorded into the graph while s is captured, else queued to run when
// someone waits (or earlier: run_some_stream_early). cudaErrorStreamCaptureInvalidated once the
// capture of s has been invalidated, as CUDA answers every call captured after that.
cudaError_t enqueue(CUstream_st *s, std::function<void()> fn)
{
    if (s->capture) {
        if (s->capture->invalid) return fail(cudaErrorStreamCaptureInvalidated);
        s->capture->ops.push_back(std::move(fn));
        return cudaSuccess;
    }
    if (s->legacy) {
        // the legacy default stream waits for all earlier work of blocking streams
        std::vector<std::pair<CUstream_st *, uint64_t>> before;
        for (CUstream_st *o : g_streams)
            if (o->blocking && o->enq > o->done) before.push_back({o, o->enq});
        if (!before.empty()) {
            auto inner = std::move(fn);
            fn = [before, inner]() {
                for (auto &b : before) drain(b.first, b.second);
                inner();
            };
        }
    } else if (s->blocking && g_legacy_stream.enq > g_legacy_stream.done) {
        const uint64_t upto = g_legacy_stream.enq;
        auto inner = std::move(fn);
        fn = [upto, inner]() {
            drain(&g_legacy_stream, upto);
            inner();
        };
    }
    s->q.push_back(op{++s->enq, std::move(fn)});
    run_some_stream_early();
    return cudaSuccess;
}

/* ---- fibers --------------------------------------------------------------------------------- */

extern "C" void lsc_sim_switch(void **save_sp, void *load_sp);
extern "C" void lsc_sim_fiber_start();
asm(R"(
    .text
    .globl lsc_sim_switch
    .type lsc_sim_switch,@function
lsc_sim_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size lsc_sim_switch, .-lsc_sim_switch
    .globl lsc_sim_fiber_start
    .type lsc_sim_fiber_start,@function
lsc_sim_fiber_start:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size lsc_sim_fiber_start, .-lsc_sim_fiber_start
)");

enum fstate { F_READY, F_BLOCK, F_WARP, F_DONE };

struct fiber {
    void *sp = nullptr;
    char *stack = nullptr; // lowest usable byte (a guard page below it)
    int state = F_DONE;
    // at a warp intrinsic: the mask, what this lane brings, how it picks its source, and what
    // the lane that completes the mask hands back
    unsigned mask = 0;
    int kind = 0, arg = 0, width = 32;
    uint64_t mine = 0, result = 0;
    unsigned ballot = 0;
    const char *file = ""; // where in the source it waits (warp intrinsic or __syncthreads)
    int line = 0;
    thread_state ts{};
};

struct block_run {
    std::vector<fiber> f;
    int n = 0;
    const std::function<void()> *body = nullptr;
    const char *name = "";
    void *sched_sp = nullptr;
    fiber *running = nullptr;
    bool aborted = false;
    char *smem = nullptr;
    size_t smem_bytes = 0;
    uint64_t gen = 0;
    int at_block = 0, done = 0;
    const char *block_file = ""; // the __syncthreads the first waiting thread reached
    int block_line = 0;
    size_t static_smem = 0;        // __shared__ bytes this block has declared so far
    std::vector<int> next;         // released since the current pass began
    std::vector<int> warp_waiting; // per warp: lanes waiting at a warp intrinsic
};

block_run *t_run = nullptr; // everything runs under g_mu: one block at a time in the process
std::vector<char *> g_stacks;
uint64_t g_block_gen = 0;
uint64_t g_rng = cfg().seed;

uint64_t rng_next()
{
    // splitmix64: cheap, and enough to shuffle the order fibers run in
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

char *stack_for(size_t i)
{
    while (g_stacks.size() <= i) {
        const size_t len = cfg().stack + kPage;
        char *m = (char *)mmap(nullptr, len, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) return nullptr;
        mprotect(m, kPage, PROT_NONE); // overflowing a fiber's stack faults
        g_stacks.push_back(m + kPage);
    }
    return g_stacks[i];
}

void yield_to_scheduler()
{
    block_run *r = t_run;
    fiber *f = r->running;
    lsc_sim_switch(&f->sp, r->sched_sp);
}

void release(block_run &r, int i)
{
    r.f[i].state = F_READY;
    r.next.push_back(i);
}

void release_block_if_complete(block_run &r)
{
    if (r.at_block == 0 || r.at_block + r.done != r.n) return;
    r.at_block = 0;
    for (int i = 0; i < r.n; i++)
        if (r.f[i].state == F_BLOCK) release(r, i);
}

void fiber_main(fiber *f)
{
    (void)f;
    block_run *r = t_run;
    (*r->body)();
    r->running->state = F_DONE;
    r->done++;
    release_block_if_complete(*r); // exited threads count as arrived at __syncthreads
    lsc_sim_switch(&r->running->sp, r->sched_sp);
    __builtin_trap(); // never resumed
}

void prepare(fiber &f)
{
    char *top = f.stack + cfg().stack;
    uintptr_t base = ((uintptr_t)top - 128) & ~(uintptr_t)15;
    uint64_t *w = (uint64_t *)base;
    // layout popped by lsc_sim_switch: control word, r15, r14, r13, r12, rbx, rbp, return address
    uint32_t mx = 0x1f80;
    uint16_t cw = 0x037f;
    uint64_t ctl = 0;
    memcpy(&ctl, &mx, 4);
    memcpy((char *)&ctl + 4, &cw, 2);
    w[0] = ctl;
    w[1] = 0;                     // r15
    w[2] = 0;                     // r14
    w[3] = (uint64_t)&fiber_main; // r13: the entry
    w[4] = (uint64_t)&f;          // r12: its argument
    w[5] = 0;                     // rbx
    w[6] = 0;                     // rbp
    w[7] = (uint64_t)&lsc_sim_fiber_start;
    f.sp = w;
    f.state = F_READY;
}

// Why nothing can run although some threads have not finished (for the deadlock report).
std::string why_stuck(block_run &r)
{
    for (int i = 0; i < r.n; i++) {
        const fiber &a = r.f[i];
        if (a.state != F_WARP) continue;
        const int w0 = i - a.ts.lane;
        for (int j = 0; j < 32; j++) {
            if (!(a.mask >> j & 1u)) continue;
            char buf[256];
            if (w0 + j >= r.n) {
                snprintf(
                    buf, sizeof buf,
                    "thread %d waits at a warp intrinsic with mask 0x%08x, whose lane %d does not "
                    "exist (the block has %d threads)",
                    i, a.mask, j, r.n);
                return buf;
            }
            const fiber &b = r.f[w0 + j];
            if (b.state != F_WARP || b.mask != a.mask || b.line != a.line ||
                strcmp(b.file, a.file)) {
                snprintf(
                    buf, sizeof buf,
                    "thread %d waits at a warp intrinsic (%s:%d) with mask 0x%08x for lane %d, which %s",
                    i, a.file, a.line, a.mask, j,
                    b.state == F_DONE    ? "has exited"
                    : b.state == F_BLOCK ? "waits at __syncthreads"
                    : b.mask != a.mask   ? "waits with another mask"
                                         : "waits at another warp intrinsic");
                return buf;
            }
        }
    }
    return "threads wait at __syncthreads while others wait at a warp intrinsic";
}

void run_block(block_run &r)
{
    std::vector<int> pass;
    r.next.clear();
    for (int i = 0; i < r.n; i++) r.next.push_back(i);
    if (cfg().order == 1) std::reverse(r.next.begin(), r.next.end());
    while (!r.next.empty()) {
        pass.swap(r.next);
        r.next.clear();
        if (cfg().order == 2)
            for (size_t i = pass.size(); i > 1; i--) std::swap(pass[i - 1], pass[rng_next() % i]);
        for (int i : pass) {
            fiber &f = r.f[i];
            if (f.state != F_READY) continue;
            r.running = &f;
            cur = &f.ts;
            lsc_sim_switch(&r.sched_sp, f.sp);
            if (r.aborted) return;
        }
    }
    if (r.done == r.n) return;
    fault("kernel %s, block (%u,%u,%u): deadlock: %s", r.name, block_idx.x, block_idx.y,
          block_idx.z, why_stuck(r).c_str());
    r.aborted = true;
}

void run_kernel(const char *name, dim3 grid, dim3 block, size_t smem,
                const std::function<void()> &body)
{
    const int nthreads = (int)(block.x * block.y * block.z);
    block_run r;
    r.n = nthreads;
    r.f.resize(nthreads);
    r.warp_waiting.assign((nthreads + 31) / 32, 0);
    r.body = &body;
    r.name = name;
    // dynamic shared memory ends at a guard page
    char *smap = nullptr;
    size_t slen = 0;
    if (smem) {
        const size_t pages = (smem + kPage - 1) & ~(kPage - 1);
        slen = pages + kPage;
        smap =
            (char *)mmap(nullptr, slen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (smap == MAP_FAILED) {
            fault("kernel %s: no host memory for %zu bytes of shared memory", name, smem);
            return;
        }
        mprotect(smap + pages, kPage, PROT_NONE);
        r.smem = smap + pages - ((smem + 15) & ~(size_t)15);
        r.smem_bytes = smem;
    }
    for (int i = 0; i < nthreads; i++) {
        r.f[i].stack = stack_for((size_t)i);
        if (!r.f[i].stack) {
            fault("kernel %s: no host memory for fiber stacks", name);
            if (smap) munmap(smap, slen);
            return;
        }
        r.f[i].ts.tid = uint3{(unsigned)(i % block.x), (unsigned)(i / block.x % block.y),
                              (unsigned)(i / (block.x * block.y))};
        r.f[i].ts.lane = i % 32;
        r.f[i].ts.warp = i / 32;
    }
    block_run *saved_run = t_run;
    thread_state *saved_cur = cur;
    t_run = &r;
    grid_dim = grid;
    block_dim = block;
    // blocks run one after another, in a shuffled order too: a kernel whose answer depends on
    // which block runs first (or on the order of its atomics) changes from run to run
    const uint64_t nblocks = (uint64_t)grid.x * grid.y * grid.z;
    std::vector<uint64_t> border;
    if (cfg().order == 2 && nblocks > 1 && nblocks <= ((uint64_t)1 << 26)) {
        border.resize(nblocks);
        for (uint64_t i = 0; i < nblocks; i++) border[i] = i;
        for (uint64_t i = nblocks; i > 1; i--) std::swap(border[i - 1], border[rng_next() % i]);
    }
    for (uint64_t b = 0; b < nblocks && !r.aborted; b++) {
        const uint64_t lin = border.empty() ? (cfg().order == 1 ? nblocks - 1 - b : b) : border[b];
        block_idx = uint3{(unsigned)(lin % grid.x), (unsigned)(lin / grid.x % grid.y),
                          (unsigned)(lin / ((uint64_t)grid.x * grid.y))};
        r.gen = ++g_block_gen;
        r.at_block = r.done = 0;
        r.static_smem = 0;
        std::fill(r.warp_waiting.begin(), r.warp_waiting.end(), 0);
        if (r.smem) memset(r.smem, 0xff, ((smem + 15) & ~(size_t)15));
        for (int i = 0; i < nthreads; i++) prepare(r.f[i]);
        run_block(r);
    }
    t_run = saved_run;
    cur = saved_cur;
    if (smap) munmap(smap, slen);
}

/* ---- the driver's view: contexts ------------------------------------------------------------ */

int g_primary_refs = 0;

} // namespace

void *dynamic_smem()
{
    if (!t_run->smem) trap("extern __shared__ memory used by a kernel launched with 0 bytes of it");
    return t_run->smem;
}

void shared_touch(uint64_t *gen, void *p, size_t bytes)
{
    block_run *r = t_run;
    if (*gen != r->gen) {
        *gen = r->gen;
        memset(p, 0xff, bytes);
        // a block gets 48 KiB of static and dynamic shared memory together
        r->static_smem += bytes;
        if (r->static_smem + r->smem_bytes > 48 * 1024) {
            char why[160];
            snprintf(why, sizeof why,
                     "%zu bytes of static and %zu of dynamic shared memory, above the 48 KiB of a "
                     "block",
                     r->static_smem, r->smem_bytes);
            trap(why);
        }
    }
}

void syncthreads(const char *file, int line)
{
    block_run *r = t_run;
    if (r->at_block == 0) {
        r->block_file = file;
        r->block_line = line;
    } else if (r->block_line != line || strcmp(r->block_file, file) != 0) {
        char why[512];
        snprintf(why, sizeof why,
                 "threads of one block wait at two different __syncthreads (%s:%d and %s:%d)",
                 r->block_file, r->block_line, file, line);
        trap(why);
    }
    r->running->state = F_BLOCK;
    r->at_block++;
    release_block_if_complete(*r);
    yield_to_scheduler();
}

uint64_t warp_exchange(unsigned mask, uint64_t mine, int kind, int arg, int width, unsigned *ballot,
                       const char *file, int line)
{
    block_run *r = t_run;
    fiber *f = r->running;
    const int lane = f->ts.lane;
    const int tid = (int)(f - r->f.data());
    const int w0 = tid - lane;
    if (!(mask >> lane & 1u)) trap("a warp intrinsic called by a lane outside its mask");
    if (width <= 0 || width > 32 || (width & (width - 1)))
        trap("a warp shuffle's width is not a power of 2 up to 32");
    f->mask = mask;
    f->kind = kind;
    f->arg = arg;
    f->width = width;
    f->mine = mine;
    f->file = file;
    f->line = line;
    f->state = F_WARP;
    int &waiting = r->warp_waiting[f->ts.warp];
    waiting++;
    // the lane that completes the mask hands every lane its result, then all of them go on
    bool complete = waiting >= __builtin_popcount(mask);
    for (int j = 0; complete && j < 32; j++)
        if (mask >> j & 1u)
            complete = w0 + j < r->n && r->f[w0 + j].state == F_WARP && r->f[w0 + j].mask == mask &&
                       r->f[w0 + j].line == line && !strcmp(r->f[w0 + j].file, file);
    if (complete) {
        unsigned b = 0;
        for (int j = 0; j < 32; j++)
            if ((mask >> j & 1u) && r->f[w0 + j].mine) b |= 1u << j;
        for (int j = 0; j < 32; j++) {
            if (!(mask >> j & 1u)) continue;
            fiber &o = r->f[w0 + j];
            int src = j;
            const int seg = j & ~(o.width - 1);
            switch (o.kind) {
            case 1: src = seg + (o.arg & (o.width - 1)); break;
            case 2: src = j - o.arg >= seg ? j - o.arg : j; break;
            case 3: src = j + o.arg < seg + o.width ? j + o.arg : j; break;
            case 4: src = (j ^ o.arg) < seg + o.width ? j ^ o.arg : j; break;
            default: break;
            }
            if (o.kind && !(mask >> src & 1u)) trap("a warp shuffle reads a lane outside its mask");
            o.result = r->f[w0 + src].mine;
            o.ballot = b;
            waiting--;
            if (&o != f) release(*r, w0 + j);
        }
        f->state = F_READY;
    } else {
        yield_to_scheduler();
    }
    if (ballot) *ballot = f->ballot;
    return f->result;
}

void set_schedule(int order, uint64_t seed, int early_percent)
{
    guard g(g_mu);
    if (order < 0) { // back to the environment's settings
        static const config dflt;
        order = dflt.order;
        seed = dflt.seed;
        early_percent = dflt.early;
    }
    cfg().order = order;
    g_rng = seed;
    g_early_percent = early_percent;
}

void trap(const char *why)
{
    block_run *r = t_run;
    fault("kernel %s, block (%u,%u,%u), thread (%u,%u,%u): %s", r ? r->name : "?", block_idx.x,
          block_idx.y, block_idx.z, cur ? cur->tid.x : 0, cur ? cur->tid.y : 0,
          cur ? cur->tid.z : 0, why);
    if (!r) abort();
    r->aborted = true;
    yield_to_scheduler();
    __builtin_trap();
}

thread_local const char *t_bad_arg = nullptr; // a kernel whose pointer argument was refused

void check_pointer_arg(const char *kernel, int i, const void *p)
{
    guard g(g_mu);
    if (!p || find_alloc(p)) return;
    say("kernel %s: argument %d (%p) points to pageable host memory, which a GPU kernel cannot read",
        kernel, i + 1, p);
    t_bad_arg = kernel;
}

void launch(const char *name, dim3 grid, dim3 block, size_t smem, void *stream,
            std::function<void()> body)
{
    guard g(g_mu);
    if (g_sticky != cudaSuccess) return;
    if (t_bad_arg) {
        t_bad_arg = nullptr;
        fail(cudaErrorInvalidValue);
        return;
    }
    const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 ||
        grid.z > 65535 || threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 ||
        block.z > 64) {
        say("kernel %s: launch configuration grid (%u,%u,%u) block (%u,%u,%u) is invalid", name,
            grid.x, grid.y, grid.z, block.x, block.y, block.z);
        fail(cudaErrorInvalidConfiguration);
        return;
    }
    if (smem > 48 * 1024) {
        say("kernel %s: %zu bytes of dynamic shared memory, above the 48 KiB a launch gets without "
            "cudaFuncSetAttribute",
            name, smem);
        fail(cudaErrorInvalidValue);
        return;
    }
    if (!valid_stream((cudaStream_t)stream)) {
        say("kernel %s: launched on stream %p, which does not exist", name, stream);
        fail(cudaErrorInvalidResourceHandle);
        return;
    }
    if (cfg().verbose)
        say("enqueue %s grid (%u,%u,%u) block (%u,%u,%u) smem %zu", name, grid.x, grid.y, grid.z,
            block.x, block.y, block.z, smem);
    std::string n(name);
    enqueue(stream_of((cudaStream_t)stream), [n, grid, block, smem, body]() {
        run_kernel(n.c_str(), grid, block, smem, body);
    }); // (an error is the launch's, for cudaGetLastError)
}

} // namespace lsc_sim

using namespace lsc_sim;

/* ---- SIGSEGV: name what was touched ------------------------------------------------------- */

namespace {

struct sigaction g_old_segv;

void on_segv(int sig, siginfo_t *si, void *uc)
{
    const uintptr_t a = (uintptr_t)si->si_addr;
    char buf[512];
    int n = 0;
    for (auto &kv : g_allocs) {
        const alloc &al = kv.second;
        if (al.k != K_DEVICE || a < (uintptr_t)al.map || a >= (uintptr_t)al.map + al.map_len)
            continue;
        const long long off = (long long)(a - al.base);
        if (a >= al.base && a < al.base + al.bytes) {
            n = snprintf(
                buf, sizeof buf,
                "cudasim: FAULT: host code touched device memory directly: byte %lld of the %zu-byte "
                "allocation at %p\n",
                off, al.bytes, (void *)al.base);
        } else {
            n = snprintf(
                buf, sizeof buf,
                "cudasim: FAULT: out-of-bounds access at byte %lld of the %zu-byte device allocation at "
                "%p%s%s\n",
                off, al.bytes, (void *)al.base, t_run ? " in kernel " : "",
                t_run ? t_run->name : "");
        }
        break;
    }
    if (!n && t_run && cur)
        n = snprintf(
            buf, sizeof buf,
            "cudasim: FAULT: bad access at %p in kernel %s, block (%u,%u,%u), thread (%u,%u,%u)\n",
            (void *)a, t_run->name, block_idx.x, block_idx.y, block_idx.z, cur->tid.x, cur->tid.y,
            cur->tid.z);
    if (n > 0) {
        ssize_t w = write(2, buf, (size_t)n);
        (void)w;
    }
    sigaction(SIGSEGV, &g_old_segv, nullptr);
    (void)sig;
    (void)uc;
}

__attribute__((constructor)) void install_segv()
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    static char alt[64 * 1024];
    stack_t ss;
    ss.ss_sp = alt;
    ss.ss_size = sizeof alt;
    ss.ss_flags = 0;
    sigaltstack(&ss, nullptr);
    sigaction(SIGSEGV, &sa, &g_old_segv);
}

#define ENTER()                                                                                    \
    guard lsc_g_(g_mu);                                                                            \
    if (g_sticky != cudaSuccess) return g_sticky

bool is_capturing(CUstream_st *s) { return s->capture != nullptr; }

cudaError_t copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t st,
                 bool async)
{
    ENTER();
    if (bytes == 0) return cudaSuccess;
    if (!dst || !src) return fail(cudaErrorInvalidValue);
    if (!valid_stream(st)) return fail(cudaErrorInvalidResourceHandle);
    const alloc *da, *sa;
    const int dc = classify(dst, bytes, &da), sc = classify(src, bytes, &sa);
    if (dc < 0 || sc < 0) {
        check_range("cudaMemcpy destination", dst, bytes, false);
        check_range("cudaMemcpy source", src, bytes, false);
        return fail(cudaErrorInvalidValue);
    }
    const bool ddev = dc == 2, sdev = sc == 2;
    bool ok = true;
    switch (kind) {
    case cudaMemcpyHostToDevice: ok = ddev && !sdev; break;
    case cudaMemcpyDeviceToHost: ok = sdev && !ddev; break;
    case cudaMemcpyDeviceToDevice: ok = ddev && sdev; break;
    case cudaMemcpyHostToHost: ok = !ddev && !sdev; break;
    case cudaMemcpyDefault: break;
    default: return fail(cudaErrorInvalidMemcpyDirection);
    }
    if (!ok) {
        say("cudaMemcpy kind %d from %s to %s memory", (int)kind,
            sdev ? "device"
            : sc ? "pinned"
                 : "pageable",
            ddev ? "device"
            : dc ? "pinned"
                 : "pageable");
        return fail(cudaErrorInvalidValue);
    }
    CUstream_st *s = stream_of(st);
    if (!async) {
        // cudaMemcpy is a copy on the legacy default stream: it waits for the work of blocking
        // streams, not of non-blocking ones, and returns before the copy is done unless the
        // destination is pageable memory or the source is pageable (then staged first)
        if (capture_forbids()) return forbidden("cudaMemcpy");
        s = &g_legacy_stream;
    }
    // when the host waits (CUDA's "API synchronization behavior"): a synchronous copy from
    // pageable memory to the device first waits for the stream, then stages the source; from
    // pinned memory to the device, from the device to any host memory and between host buffers
    // it returns when done; device to device it does not wait. An asynchronous copy waits only
    // when the destination is pageable memory.
    bool wait_before = false, wait_after = false;
    if (!async) {
        wait_before = sc == 0 && ddev;
        wait_after = (sc == 1 && ddev) || (sdev && !ddev) || (!sdev && !ddev);
    } else {
        wait_after = dc == 0;
    }
    if (wait_before) {
        g_stream_waits++;
        drain(s, s->enq);
    }
    if (is_capturing(s) && (dc == 0 || sc == 0)) {
        say("cudaMemcpyAsync with pageable host memory captured into a graph");
        s->capture->invalid = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    cudaError_t e;
    if (sc == 0) {
        // pageable source: CUDA stages it before returning, so later host writes do not matter
        auto snap =
            std::make_shared<std::vector<char>>((const char *)src, (const char *)src + bytes);
        e = enqueue(s, [dst, snap]() { memcpy(dst, snap->data(), snap->size()); });
    } else {
        e = enqueue(s, [dst, src, bytes]() { memmove(dst, src, bytes); });
    }
    if (e != cudaSuccess) return e;
    if (wait_after) {
        g_stream_waits++;
        drain(s, s->enq);
    }
    return cudaSuccess;
}

} // namespace

/* ---- runtime API ---------------------------------------------------------------------------- */

SIM_EXPORT const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnmatched: return "cudaErrorStreamCaptureUnmatched";
    case cudaErrorStreamCaptureUnjoined: return "cudaErrorStreamCaptureUnjoined";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    default: return "cudaErrorUnknown";
    }
}

SIM_EXPORT const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorLaunchFailure:
        return "unspecified launch failure (cudasim: see the FAULT line on stderr)";
    case cudaErrorStreamCaptureUnsupported:
        return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
        return "operation failed due to a previous error during capture";
    default: return cudaGetErrorName(e);
    }
}

SIM_EXPORT cudaError_t cudaGetLastError(void)
{
    guard g(g_mu);
    if (g_sticky != cudaSuccess) return g_sticky;
    cudaError_t e = t_last;
    t_last = cudaSuccess;
    return e;
}

SIM_EXPORT cudaError_t cudaPeekAtLastError(void)
{
    guard g(g_mu);
    return g_sticky != cudaSuccess ? g_sticky : t_last;
}

SIM_EXPORT cudaError_t cudaGetDeviceCount(int *count)
{
    if (!count) return fail(cudaErrorInvalidValue);
    *count = cfg().devices;
    return cfg().devices > 0 ? cudaSuccess : fail(cudaErrorNoDevice);
}

SIM_EXPORT cudaError_t cudaSetDevice(int device)
{
    if (device < 0 || device >= cfg().devices) return fail(cudaErrorInvalidDevice);
    t_device = device;
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaGetDevice(int *device)
{
    if (!device) return fail(cudaErrorInvalidValue);
    *device = t_device;
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device)
{
    if (!p) return fail(cudaErrorInvalidValue);
    if (device < 0 || device >= cfg().devices) return fail(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "cudasim (CPU emulation, not a GPU)");
    p->totalGlobalMem = cfg().device_bytes;
    p->sharedMemPerBlock = 48 * 1024;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff;
    p->maxGridSize[1] = p->maxGridSize[2] = 65535;
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = 132;
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaDeviceSynchronize(void)
{
    ENTER();
    if (capture_forbids()) return forbidden("cudaDeviceSynchronize");
    drain_all();
    return g_sticky;
}

SIM_EXPORT cudaError_t cudaMalloc(void **p, size_t bytes)
{
    ENTER();
    if (capture_forbids()) return forbidden("cudaMalloc");
    return device_alloc(p, bytes);
}

SIM_EXPORT cudaError_t cudaFree(void *p)
{
    ENTER();
    if (capture_forbids()) return forbidden("cudaFree");
    drain_all(); // cudaFree waits for the device
    return device_free(p);
}

SIM_EXPORT cudaError_t cudaMallocAsync(void **p, size_t bytes, cudaStream_t st)
{
    ENTER();
    if (!valid_stream(st)) return fail(cudaErrorInvalidResourceHandle);
    if (is_capturing(stream_of(st))) {
        say("cudaMallocAsync on a capturing stream (a graph memory node: cudasim does not emulate them)");
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    return device_alloc(p, bytes);
}

SIM_EXPORT cudaError_t cudaFreeAsync(void *p, cudaStream_t st)
{
    ENTER();
    if (!valid_stream(st)) return fail(cudaErrorInvalidResourceHandle);
    CUstream_st *s = stream_of(st);
    if (is_capturing(s)) {
        say("cudaFreeAsync on a capturing stream (a graph memory node: cudasim does not emulate them)");
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    if (!p) return cudaSuccess;
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end() || it->second.k != K_DEVICE) {
        say("cudaFreeAsync(%p): not the start of a device allocation", p);
        return fail(cudaErrorInvalidValue);
    }
    return enqueue(s, [p]() { device_free(p); });
}

SIM_EXPORT cudaError_t cudaMallocHost(void **p, size_t bytes)
{
    ENTER();
    if (capture_forbids()) return forbidden("cudaMallocHost");
    return pinned_alloc(p, bytes);
}

SIM_EXPORT cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned flags)
{
    ENTER();
    (void)flags;
    if (capture_forbids()) return forbidden("cudaHostAlloc");
    return pinned_alloc(p, bytes);
}

SIM_EXPORT cudaError_t cudaFreeHost(void *p)
{
    ENTER();
    if (capture_forbids()) return forbidden("cudaFreeHost");
    drain_all();
    return pinned_free(p);
}

SIM_EXPORT cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p)
{
    guard g(g_mu);
    if (!a) return fail(cudaErrorInvalidValue);
    memset(a, 0, sizeof *a);
    const alloc *al = find_alloc(p);
    a->type = !al                 ? cudaMemoryTypeUnregistered
              : al->k == K_DEVICE ? cudaMemoryTypeDevice
                                  : cudaMemoryTypeHost;
    a->device = al ? al->device : -2;
    a->devicePointer = al ? (void *)p : nullptr;
    a->hostPointer = al && al->k == K_PINNED ? (void *)p : nullptr;
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    return copy(dst, src, bytes, kind, nullptr, false);
}

SIM_EXPORT cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes,
                                       cudaMemcpyKind kind, cudaStream_t s)
{
    return copy(dst, src, bytes, kind, s, true);
}

SIM_EXPORT cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
                                         size_t width, size_t height, cudaMemcpyKind kind,
                                         cudaStream_t st)
{
    ENTER();
    if (height == 0 || width == 0) return cudaSuccess;
    if (width > dpitch || width > spitch) return fail(cudaErrorInvalidValue);
    // the whole span of each side must lie in one allocation (or none)
    const size_t dspan = dpitch * (height - 1) + width, sspan = spitch * (height - 1) + width;
    if (classify(dst, dspan) < 0 || classify(src, sspan) < 0) {
        check_range("cudaMemcpy2DAsync destination", dst, dspan, false);
        check_range("cudaMemcpy2DAsync source", src, sspan, false);
        return fail(cudaErrorInvalidValue);
    }
    for (size_t r = 0; r < height; r++) {
        cudaError_t e =
            copy((char *)dst + r * dpitch, (const char *)src + r * spitch, width, kind, st, true);
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t st)
{
    ENTER();
    if (bytes == 0) return cudaSuccess;
    if (!valid_stream(st)) return fail(cudaErrorInvalidResourceHandle);
    const int c = classify(p, bytes);
    if (c <= 0) {
        if (c == 0) say("cudaMemsetAsync(%p, %zu bytes): not device or pinned memory", p, bytes);
        else check_range("cudaMemsetAsync", p, bytes, false);
        return fail(cudaErrorInvalidValue);
    }
    return enqueue(stream_of(st), [p, value, bytes]() { memset(p, value, bytes); });
}

SIM_EXPORT cudaError_t cudaMemset(void *p, int value, size_t bytes)
{
    // a memset on the legacy default stream: asynchronous with respect to the host (and to
    // non-blocking streams) unless it writes pinned host memory
    guard g(g_mu);
    if (capture_forbids()) return forbidden("cudaMemset");
    cudaError_t e = cudaMemsetAsync(p, value, bytes, nullptr);
    if (e == cudaSuccess && classify(p, bytes) == 1) {
        g_stream_waits++;
        drain(&g_legacy_stream, g_legacy_stream.enq);
    }
    return e;
}

SIM_EXPORT cudaError_t cudaStreamCreateWithFlags(cudaStream_t *out, unsigned flags)
{
    ENTER();
    if (!out) return fail(cudaErrorInvalidValue);
    CUstream_st *s = new CUstream_st;
    s->blocking = !(flags & cudaStreamNonBlocking);
    s->device = t_device;
    g_streams.insert(s);
    *out = s;
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaStreamCreate(cudaStream_t *out)
{
    return cudaStreamCreateWithFlags(out, 0);
}

SIM_EXPORT cudaError_t cudaStreamDestroy(cudaStream_t st)
{
    ENTER();
    if (!st || !g_streams.count(st)) return fail(cudaErrorInvalidResourceHandle);
    if (st->capture) {
        say("cudaStreamDestroy of a stream being captured");
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    // the call returns at once; the work already enqueued still runs, and waits or events that
    // name the stream stay valid
    g_streams.erase(st);
    g_dead_streams.emplace_back(st);
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaStreamSynchronize(cudaStream_t st)
{
    ENTER();
    if (!valid_stream(st)) return fail(cudaErrorInvalidResourceHandle);
    CUstream_st *s = stream_of(st);
    if (is_capturing(s)) {
        s->capture->invalid = true;
        return forbidden("cudaStreamSynchronize of the capturing stream");
    }
    if (capture_forbids()) return forbidden("cudaStreamSynchronize");
    g_stream_waits++;
    drain(s, s->enq);
    return g_sticky;
}

SIM_EXPORT cudaError_t cudaStreamIsCapturing(cudaStream_t st, cudaStreamCaptureStatus *status)
{
    guard g(g_mu);
    if (!status) return fail(cudaErrorInvalidValue);
    if (!valid_stream(st)) return fail(cudaErrorInvalidResourceHandle);
    CUstream_st *s = stream_of(st);
    *status = !s->capture           ? cudaStreamCaptureStatusNone
              : s->capture->invalid ? cudaStreamCaptureStatusInvalidated
                                    : cudaStreamCaptureStatusActive;
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode *mode)
{
    if (!mode) return fail(cudaErrorInvalidValue);
    cudaStreamCaptureMode old = t_mode;
    t_mode = *mode;
    *mode = old;
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags)
{
    ENTER();
    (void)flags;
    if (!e) return fail(cudaErrorInvalidValue);
    *e = new CUevent_st;
    g_events.insert(*e);
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, 0); }

SIM_EXPORT cudaError_t cudaEventDestroy(cudaEvent_t e)
{
    guard g(g_mu);
    if (!e || !g_events.count(e)) return fail(cudaErrorInvalidResourceHandle);
    g_events.erase(e);
    delete e;
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t st)
{
    ENTER();
    if (!e || !g_events.count(e)) return fail(cudaErrorInvalidResourceHandle);
    if (!valid_stream(st)) return fail(cudaErrorInvalidResourceHandle);
    CUstream_st *s = stream_of(st);
    if (s->capture) {
        e->captured = s->capture;
        e->s = s;
        return cudaSuccess;
    }
    e->captured = nullptr;
    e->s = s;
    e->seq = s->enq;
    return cudaSuccess;
}

SIM_EXPORT cudaError_t cudaEventSynchronize(cudaEvent_t e)
{
    ENTER();
    if (!e || !g_events.count(e)) return fail(cudaErrorInvalidResourceHandle);
    if (e->captured) {
        e->captured->invalid = true;
        return forbidden("cudaEventSynchronize of an event recorded in a capture");
    }
    if (capture_forbids()) return forbidden("cudaEventSynchronize");
    g_stream_waits++;
    if (e->s) drain(e->s, e->seq);
    return g_sticky;
}

SIM_EXPORT cudaError_t cudaEventQuery(cudaEvent_t e)
{
    ENTER();
    if (!e || !g_events.count(e)) return fail(cudaErrorInvalidResourceHandle);
    if (capture_forbids()) return forbidden("cudaEventQuery");
    // work runs only when waited for, so recorded-but-unwaited work is still "not ready"
    return !e->s || e->s->done >= e->seq ? cudaSuccess : cudaErrorNotReady;
}

SIM_EXPORT cudaError_t cudaStreamWaitEvent(cudaStream_t st, cudaEvent_t e, unsigned flags)
{
    ENTER();
    (void)flags;
    if (!e || !g_events.count(e)) return fail(cudaErrorInvalidResourceHandle);
    if (!valid_stream(st)) return fail(cudaErrorInvalidResourceHandle);
    CUstream_st *s = stream_of(st);
    if (e->captured) {
        // joins s to the capture: its later work is recorded into the same graph, in order
        if (!s->capture) {
            s->capture = e->captured;
            e->captured->members.insert(s);
        } else if (s->capture != e->captured) {
            say("cudaStreamWaitEvent joins two different captures");
            return fail(cudaErrorStreamCaptureUnmatched);
        }
        return cudaSuccess;
    }
    if (s->capture) {
        // an event from outside the capture: the graph cannot depend on it; CUDA refuses too
        say("a capturing stream waits on an event recorded outside the capture");
        s->capture->invalid = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    if (!e->s || e->s == s) return cudaSuccess;
    CUstream_st *from = e->s;
    const uint64_t upto = e->seq;
    return enqueue(s, [from, upto]() { drain(from, upto); });
}

/* ---- driver API (what tests/test_cuda.cpp loads from libcuda.so.1) -------------------------- */

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

namespace {
CUresult drv(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return 0;
    case cudaErrorInvalidValue: return 1;
    case cudaErrorMemoryAllocation: return 2;
    case cudaErrorInvalidDevice: return 101;
    case cudaErrorInvalidResourceHandle: return 400;
    case cudaErrorStreamCaptureUnsupported: return 900;
    case cudaErrorStreamCaptureInvalidated: return 901;
    case cudaErrorLaunchFailure: return 719;
    default: return 999;
    }
}
int g_ctx_token;
} // namespace

SIM_EXPORT CUresult cuInit(unsigned flags)
{
    (void)flags;
    return cfg().devices > 0 ? 0 : 100;
}
SIM_EXPORT CUresult cuDeviceGet(int *dev, int ordinal)
{
    if (!dev) return 1;
    if (ordinal < 0 || ordinal >= cfg().devices) return 101;
    *dev = ordinal;
    return 0;
}
SIM_EXPORT CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev)
{
    if (!ctx || dev < 0 || dev >= cfg().devices) return 1;
    guard g(g_mu);
    g_primary_refs++;
    *ctx = &g_ctx_token;
    return 0;
}
SIM_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(int dev)
{
    (void)dev;
    guard g(g_mu);
    g_primary_refs--;
    return 0;
}
SIM_EXPORT CUresult cuCtxSetCurrent(void *ctx)
{
    (void)ctx;
    return 0;
}
SIM_EXPORT CUresult cuCtxSynchronize() { return drv(cudaDeviceSynchronize()); }
SIM_EXPORT CUresult cuStreamCreate(cudaStream_t *s, unsigned flags)
{
    return drv(cudaStreamCreateWithFlags(s, flags));
}
SIM_EXPORT CUresult cuStreamDestroy_v2(cudaStream_t s) { return drv(cudaStreamDestroy(s)); }
SIM_EXPORT CUresult cuStreamSynchronize(cudaStream_t s) { return drv(cudaStreamSynchronize(s)); }

SIM_EXPORT CUresult cuStreamBeginCapture_v2(cudaStream_t st, int mode)
{
    guard g(g_mu);
    if (!st || !g_streams.count(st)) return 400; // the legacy stream cannot be captured
    if (st->capture) return 900;
    // work enqueued before stays queued (it is not part of the graph, and runs when waited for)
    graph *gr = new graph;
    gr->origin = st;
    gr->members.insert(st);
    gr->mode = (cudaStreamCaptureMode)mode;
    gr->thread = self_id();
    st->capture = gr;
    g_captures.insert(gr);
    return 0;
}

SIM_EXPORT CUresult cuStreamEndCapture(cudaStream_t st, void **out)
{
    guard g(g_mu);
    if (!out) return 1;
    *out = nullptr;
    if (!st || !g_streams.count(st) || !st->capture) return 1;
    graph *gr = st->capture;
    if (gr->origin != st) return drv(cudaErrorStreamCaptureUnmatched);
    for (CUstream_st *m : gr->members) m->capture = nullptr;
    g_captures.erase(gr);
    for (CUevent_st *e : g_events)
        if (e->captured == gr) e->captured = nullptr;
    if (gr->invalid) {
        delete gr;
        return drv(cudaErrorStreamCaptureInvalidated);
    }
    *out = gr;
    return 0;
}

SIM_EXPORT CUresult cuGraphInstantiateWithFlags(void **exec, void *gr, unsigned long long flags)
{
    (void)flags;
    if (!exec || !gr) return 1;
    graph_exec *x = new graph_exec;
    x->ops = static_cast<graph *>(gr)->ops;
    *exec = x;
    return 0;
}

SIM_EXPORT CUresult cuGraphLaunch(void *exec, cudaStream_t st)
{
    guard g(g_mu);
    if (!exec) return 1;
    if (!valid_stream(st)) return 400;
    CUstream_st *s = stream_of(st);
    for (auto &fn : static_cast<graph_exec *>(exec)->ops) enqueue(s, fn);
    return 0;
}

SIM_EXPORT CUresult cuGraphExecDestroy(void *exec)
{
    delete static_cast<graph_exec *>(exec);
    return 0;
}
SIM_EXPORT CUresult cuGraphDestroy(void *gr)
{
    delete static_cast<graph *>(gr);
    return 0;
}
SIM_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes)
{
    void *q = nullptr;
    CUresult r = drv(cudaMalloc(&q, bytes));
    *p = (CUdeviceptr)(uintptr_t)q;
    return r;
}
SIM_EXPORT CUresult cuMemFree_v2(CUdeviceptr p) { return drv(cudaFree((void *)(uintptr_t)p)); }
SIM_EXPORT CUresult cuMemAllocHost_v2(void **p, size_t bytes)
{
    return drv(cudaMallocHost(p, bytes));
}
SIM_EXPORT CUresult cuMemFreeHost(void *p) { return drv(cudaFreeHost(p)); }
SIM_EXPORT CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n)
{
    return drv(cudaMemset((void *)(uintptr_t)p, v, n));
}
SIM_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *h, size_t n)
{
    return drv(cudaMemcpy((void *)(uintptr_t)d, h, n, cudaMemcpyHostToDevice));
}
SIM_EXPORT CUresult cuMemcpyDtoH_v2(void *h, CUdeviceptr d, size_t n)
{
    return drv(cudaMemcpy(h, (const void *)(uintptr_t)d, n, cudaMemcpyDeviceToHost));
}

/* ---- cuBLAS --------------------------------------------------------------------------------- */

struct cublasContext {
    cudaStream_t stream = nullptr;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {
// the elements a column-major rows x cols operand with leading dimension ld spans
size_t span(int64_t rows, int64_t cols, int64_t ld, size_t es)
{
    return rows <= 0 || cols <= 0 ? 0 : ((size_t)ld * (size_t)(cols - 1) + (size_t)rows) * es;
}
bool operand(const char *call, const char *name, const void *p, int64_t rows, int64_t cols,
             int64_t ld, size_t es)
{
    char what[128];
    snprintf(what, sizeof what, "%s operand %s", call, name);
    return check_range(what, p, span(rows, cols, ld, es), true);
}
} // namespace

SIM_EXPORT cublasStatus_t cublasCreate(cublasHandle_t *h)
{
    if (!h) return CUBLAS_STATUS_INVALID_VALUE;
    *h = new cublasContext;
    return CUBLAS_STATUS_SUCCESS;
}
SIM_EXPORT cublasStatus_t cublasDestroy(cublasHandle_t h)
{
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
SIM_EXPORT cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}
SIM_EXPORT cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->math = m;
    return CUBLAS_STATUS_SUCCESS;
}
SIM_EXPORT const char *cublasGetStatusName(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    default: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
}
SIM_EXPORT const char *cublasGetStatusString(cublasStatus_t s) { return cublasGetStatusName(s); }

SIM_EXPORT cublasStatus_t cublasSgemm_64(cublasHandle_t h, cublasOperation_t ta,
                                         cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
                                         const float *alpha, const float *a, int64_t lda,
                                         const float *b, int64_t ldb, const float *beta, float *c,
                                         int64_t ldc)
{
    guard g(g_mu);
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (g_sticky != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
    const int64_t ar = ta == CUBLAS_OP_N ? m : k, ac = ta == CUBLAS_OP_N ? k : m;
    const int64_t br = tb == CUBLAS_OP_N ? k : n, bc = tb == CUBLAS_OP_N ? n : k;
    if (m < 0 || n < 0 || k < 0 || lda < std::max<int64_t>(1, ar) ||
        ldb < std::max<int64_t>(1, br) || ldc < std::max<int64_t>(1, m) || !alpha || !beta) {
        say("cublasSgemm_64: invalid m %lld n %lld k %lld lda %lld ldb %lld ldc %lld", (long long)m,
            (long long)n, (long long)k, (long long)lda, (long long)ldb, (long long)ldc);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (h->math == CUBLAS_TF32_TENSOR_OP_MATH)
        say("cublasSgemm_64 with TF32 math: lsc promises IEEE float32");
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    if ((k > 0 && (!operand("cublasSgemm_64", "A", a, ar, ac, lda, 4) ||
                   !operand("cublasSgemm_64", "B", b, br, bc, ldb, 4))) ||
        !operand("cublasSgemm_64", "C", c, m, n, ldc, 4))
        return CUBLAS_STATUS_INVALID_VALUE;
    const float al = *alpha, be = *beta;
    if (enqueue(stream_of(h->stream), [=]() {
            cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                        tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, (blasint)m, (blasint)n,
                        (blasint)k, al, a, (blasint)lda, b, (blasint)ldb, be, c, (blasint)ldc);
        }) != cudaSuccess)
        return CUBLAS_STATUS_EXECUTION_FAILED;
    return CUBLAS_STATUS_SUCCESS;
}

SIM_EXPORT cublasStatus_t cublasDsyrk_64(cublasHandle_t h, cublasFillMode_t uplo,
                                         cublasOperation_t trans, int64_t n, int64_t k,
                                         const double *alpha, const double *a, int64_t lda,
                                         const double *beta, double *c, int64_t ldc)
{
    guard g(g_mu);
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (g_sticky != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
    const int64_t ar = trans == CUBLAS_OP_N ? n : k, ac = trans == CUBLAS_OP_N ? k : n;
    if (n < 0 || k < 0 || lda < std::max<int64_t>(1, ar) || ldc < std::max<int64_t>(1, n) ||
        !alpha || !beta) {
        say("cublasDsyrk_64: invalid n %lld k %lld lda %lld ldc %lld", (long long)n, (long long)k,
            (long long)lda, (long long)ldc);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (n == 0) return CUBLAS_STATUS_SUCCESS;
    if ((k > 0 && !operand("cublasDsyrk_64", "A", a, ar, ac, lda, 8)) ||
        !operand("cublasDsyrk_64", "C", c, n, n, ldc, 8))
        return CUBLAS_STATUS_INVALID_VALUE;
    const double al = *alpha, be = *beta;
    if (enqueue(stream_of(h->stream), [=]() {
            cblas_dsyrk(CblasColMajor, uplo == CUBLAS_FILL_MODE_LOWER ? CblasLower : CblasUpper,
                        trans == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, (blasint)n, (blasint)k,
                        al, a, (blasint)lda, be, c, (blasint)ldc);
        }) != cudaSuccess)
        return CUBLAS_STATUS_EXECUTION_FAILED;
    return CUBLAS_STATUS_SUCCESS;
}

SIM_EXPORT cublasStatus_t cublasDgemv_64(cublasHandle_t h, cublasOperation_t trans, int64_t m,
                                         int64_t n, const double *alpha, const double *a,
                                         int64_t lda, const double *x, int64_t incx,
                                         const double *beta, double *y, int64_t incy)
{
    guard g(g_mu);
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (g_sticky != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
    if (m < 0 || n < 0 || lda < std::max<int64_t>(1, m) || incx == 0 || incy == 0 || !alpha ||
        !beta) {
        say("cublasDgemv_64: invalid m %lld n %lld lda %lld", (long long)m, (long long)n,
            (long long)lda);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    const int64_t xl = trans == CUBLAS_OP_N ? n : m, yl = trans == CUBLAS_OP_N ? m : n;
    if (!operand("cublasDgemv_64", "A", a, m, n, lda, 8) ||
        !operand("cublasDgemv_64", "x", x, 1, xl, std::llabs(incx), 8) ||
        !operand("cublasDgemv_64", "y", y, 1, yl, std::llabs(incy), 8))
        return CUBLAS_STATUS_INVALID_VALUE;
    const double al = *alpha, be = *beta;
    if (enqueue(stream_of(h->stream), [=]() {
            cblas_dgemv(CblasColMajor, trans == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, (blasint)m,
                        (blasint)n, al, a, (blasint)lda, x, (blasint)incx, be, y, (blasint)incy);
        }) != cudaSuccess)
        return CUBLAS_STATUS_EXECUTION_FAILED;
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- cuSOLVER ------------------------------------------------------------------------------- */

struct cusolverDnContext {
    cudaStream_t stream = nullptr;
};
struct cusolverDnParams {
    int unused = 0;
};

SIM_EXPORT cusolverStatus_t cusolverDnCreate(cusolverDnHandle_t *h)
{
    if (!h) return CUSOLVER_STATUS_INVALID_VALUE;
    *h = new cusolverDnContext;
    return CUSOLVER_STATUS_SUCCESS;
}
SIM_EXPORT cusolverStatus_t cusolverDnDestroy(cusolverDnHandle_t h)
{
    delete h;
    return CUSOLVER_STATUS_SUCCESS;
}
SIM_EXPORT cusolverStatus_t cusolverDnSetStream(cusolverDnHandle_t h, cudaStream_t s)
{
    if (!h) return CUSOLVER_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUSOLVER_STATUS_SUCCESS;
}
SIM_EXPORT cusolverStatus_t cusolverDnCreateParams(cusolverDnParams_t *p)
{
    if (!p) return CUSOLVER_STATUS_INVALID_VALUE;
    *p = new cusolverDnParams;
    return CUSOLVER_STATUS_SUCCESS;
}
SIM_EXPORT cusolverStatus_t cusolverDnDestroyParams(cusolverDnParams_t p)
{
    delete p;
    return CUSOLVER_STATUS_SUCCESS;
}

namespace {
size_t syevd_device_bytes(int64_t n) { return (size_t)(2 * n + 1) * sizeof(double) + 1024; }
// a host workspace too, so that the caller's host-buffer path runs (read and written when the
// call runs, as the real one may, not when it is enqueued)
size_t syevd_host_bytes(int64_t n) { return (size_t)(n + 8) * sizeof(double); }
} // namespace

SIM_EXPORT cusolverStatus_t cusolverDnXsyevd_bufferSize(
    cusolverDnHandle_t h, cusolverDnParams_t p, cusolverEigMode_t jobz, cublasFillMode_t uplo,
    int64_t n, cudaDataType ta, const void *a, int64_t lda, cudaDataType tw, const void *w,
    cudaDataType tc, size_t *dev_bytes, size_t *host_bytes)
{
    (void)p, (void)jobz, (void)uplo, (void)a, (void)w;
    if (!h) return CUSOLVER_STATUS_NOT_INITIALIZED;
    if (n < 0 || lda < std::max<int64_t>(1, n) || ta != CUDA_R_64F || tw != CUDA_R_64F ||
        tc != CUDA_R_64F || !dev_bytes || !host_bytes)
        return CUSOLVER_STATUS_INVALID_VALUE;
    *dev_bytes = syevd_device_bytes(n);
    *host_bytes = syevd_host_bytes(n);
    return CUSOLVER_STATUS_SUCCESS;
}

SIM_EXPORT cusolverStatus_t cusolverDnXsyevd(cusolverDnHandle_t h, cusolverDnParams_t p,
                                             cusolverEigMode_t jobz, cublasFillMode_t uplo,
                                             int64_t n, cudaDataType ta, void *a, int64_t lda,
                                             cudaDataType tw, void *w, cudaDataType tc, void *dbuf,
                                             size_t dbytes, void *hbuf, size_t hbytes, int *info)
{
    (void)p;
    guard g(g_mu);
    if (!h) return CUSOLVER_STATUS_NOT_INITIALIZED;
    if (g_sticky != cudaSuccess) return CUSOLVER_STATUS_EXECUTION_FAILED;
    if (n < 0 || lda < std::max<int64_t>(1, n) || ta != CUDA_R_64F || tw != CUDA_R_64F ||
        tc != CUDA_R_64F || !info) {
        say("cusolverDnXsyevd: invalid n %lld lda %lld or types", (long long)n, (long long)lda);
        return CUSOLVER_STATUS_INVALID_VALUE;
    }
    if (hbytes < syevd_host_bytes(n) || !hbuf) {
        say("cusolverDnXsyevd: %zu bytes of host workspace at %p, %zu needed", hbytes, hbuf,
            syevd_host_bytes(n));
        return CUSOLVER_STATUS_INVALID_VALUE;
    }
    if (dbytes < syevd_device_bytes(n)) {
        say("cusolverDnXsyevd: %zu bytes of device workspace, %zu needed", dbytes,
            syevd_device_bytes(n));
        return CUSOLVER_STATUS_INVALID_VALUE;
    }
    if (!operand("cusolverDnXsyevd", "A", a, n, n, lda, 8) ||
        !operand("cusolverDnXsyevd", "W", w, n, 1, n, 8) ||
        !check_range("cusolverDnXsyevd workspace", dbuf, dbytes, true) ||
        !check_range("cusolverDnXsyevd info", info, sizeof(int), true))
        return CUSOLVER_STATUS_INVALID_VALUE;
    const char job = jobz == CUSOLVER_EIG_MODE_VECTOR ? 'V' : 'N';
    const char ul = uplo == CUBLAS_FILL_MODE_LOWER ? 'L' : 'U';
    if (enqueue(stream_of(h->stream), [=]() {
            memset(dbuf, 0xff, dbytes); // the solver owns its workspaces
            memset(hbuf, 0xff, hbytes);
            if (n == 0) {
                *info = 0;
                return;
            }
            // the _work form: no NaN pre-check (cuSOLVER has none; NaN input gives NaN values)
            double wq = 0;
            lapack_int iwq = 0;
            lapack_int r =
                LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, job, ul, (lapack_int)n, (double *)a,
                                    (lapack_int)lda, (double *)w, &wq, -1, &iwq, -1);
            std::vector<double> work((size_t)wq + 1);
            std::vector<lapack_int> iwork((size_t)iwq + 1);
            if (r == 0)
                r = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, job, ul, (lapack_int)n, (double *)a,
                                        (lapack_int)lda, (double *)w, work.data(),
                                        (lapack_int)work.size(), iwork.data(),
                                        (lapack_int)iwork.size());
            *info = (int)r;
        }) != cudaSuccess)
        return CUSOLVER_STATUS_EXECUTION_FAILED;
    return CUSOLVER_STATUS_SUCCESS;
}

/* ---- the runtime's names for the capture and graph calls ------------------------------------ */

SIM_EXPORT cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode)
{
    return cuStreamBeginCapture_v2(s, (int)mode) == 0 ? cudaSuccess
                                                      : fail(cudaErrorStreamCaptureUnsupported);
}
SIM_EXPORT cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph)
{
    const CUresult r = cuStreamEndCapture(s, (void **)graph);
    return r == 0     ? cudaSuccess
           : r == 901 ? fail(cudaErrorStreamCaptureInvalidated)
                      : fail(cudaErrorInvalidValue);
}
SIM_EXPORT cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
                                            unsigned long long flags)
{
    return cuGraphInstantiateWithFlags((void **)exec, graph, flags) == 0
               ? cudaSuccess
               : fail(cudaErrorInvalidValue);
}
SIM_EXPORT cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s)
{
    return cuGraphLaunch(exec, s) == 0 ? cudaSuccess : fail(cudaErrorInvalidValue);
}
SIM_EXPORT cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    return cuGraphExecDestroy(exec) == 0 ? cudaSuccess : cudaErrorInvalidValue;
}
SIM_EXPORT cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    return cuGraphDestroy(graph) == 0 ? cudaSuccess : cudaErrorInvalidValue;
}

/* ---- hooks for tests/test_cuda.cpp (found with dlsym in libcuda.so.1) ---------------------- */

// out[0] calls that waited for the whole device (cudaDeviceSynchronize, synchronous copies and
// memsets, cudaFree, cudaFreeHost), out[1] waits for one stream or event (including copies to
// pageable memory), out[2] device and pinned allocations, out[3] frees; since the process began.
SIM_EXPORT void lsc_sim_counters(uint64_t out[4])
{
    guard g(g_mu);
    out[0] = g_device_waits;
    out[1] = g_stream_waits;
    out[2] = g_allocs_made;
    out[3] = g_frees;
}

// The next n pinned host allocations (cudaHostAlloc, cudaMallocHost) fail with
// cudaErrorMemoryAllocation: the path a real machine takes when page-locked memory runs out.
SIM_EXPORT void lsc_sim_fail_pinned(int n)
{
    guard g(g_mu);
    g_fail_pinned = n;
}

// The next n device allocations (cudaMalloc, cudaMallocAsync) fail with
// cudaErrorMemoryAllocation, whatever memory is left: an allocation failure at a chosen point.
SIM_EXPORT void lsc_sim_fail_device(int n)
{
    guard g(g_mu);
    g_fail_device = n;
}
