/* cudasim: what a kernel sees. The backend's .cu files are translated (translate.py) into C++
 * that launches through lsc_sim::launcher and is compiled with this header forced in: every
 * CUDA thread is a fiber, blocks run one after another, __syncthreads and the warp intrinsics
 * are real barriers between the fibers (a mask naming a lane that never arrives is reported, not
 * hung on), and the order in which fibers run between barriers is shuffled, so code that reads
 * what another thread writes without a barrier gives a different answer from run to run. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmath>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

// CUDA's device code has these at global scope
using std::isfinite;
using std::isinf;
using std::isnan;
using std::signbit;

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static
#define __restrict__ __restrict

// exported by libcuda.so.1 (cudasim), which both the module and its kernels call into (a
// pragma rather than the namespace attribute, which formatters misread as the namespace's name)
#pragma GCC visibility push(default)
namespace lsc_sim {

struct thread_state {
    uint3 tid;
    int lane, warp;
};

extern thread_state *cur;
extern uint3 block_idx;
extern dim3 block_dim, grid_dim;

void *dynamic_smem();
// the first thread of a block to reach a __shared__ declaration fills it with 0xff bytes
void shared_touch(uint64_t *gen, void *p, size_t bytes);
void syncthreads(const char *file, int line);
// A barrier of the lanes of `mask` that exchanges 8 bytes: returns what the source lane brought
// (kind 0: none; 1 lane `arg`, 2 up by, 3 down by, 4 xor with `arg`, within `width`) and
// sets *ballot to the lanes of the mask that brought a non-zero value.
// file and line: where the intrinsic is (lanes of a mask must all be at the same one).
uint64_t warp_exchange(unsigned mask, uint64_t mine, int kind, int arg, int width, unsigned *ballot,
                       const char *file, int line);
void trap(const char *why);
// for tests/cudasim's own tests: the order fibers and blocks run in (0 in thread order,
// 1 reversed, 2 shuffled from `seed`) and how often, in percent of the enqueues, a stream's
// pending work runs before anyone waits for it; otherwise LSC_SIM_ORDER, LSC_SIM_SEED and
// LSC_SIM_EARLY (which order -1 restores)
void set_schedule(int order, uint64_t seed, int early_percent);

void launch(const char *name, dim3 grid, dim3 block, size_t smem, void *stream,
            std::function<void()> body);
// the launch fails (cudaErrorInvalidValue) when argument i is a pointer into pageable host memory
void check_pointer_arg(const char *kernel, int i, const void *p);

struct launcher {
    const char *name;
    dim3 g, b;
    size_t s;
    void *st;
    launcher(const char *n, dim3 grid, dim3 block, size_t smem = 0, void *stream = nullptr)
        : name(n), g(grid), b(block), s(smem), st(stream)
    {
    }
    template <class F, class... A>
    void go(F f, A... args)
    {
        // a pointer argument must be memory the device can reach (or null): pageable host
        // memory would fault on a GPU
        int i = 0;
        (check_arg(name, i++, args), ...);
        // the arguments are evaluated now, at the launch, as CUDA does; every thread gets copies
        auto tup = std::make_tuple(args...);
        launch(name, g, b, s, st, [f, tup]() { std::apply(f, tup); });
    }
    template <class T>
    static void check_arg(const char *kernel, int i, const T &v)
    {
        if constexpr (std::is_pointer<T>::value) check_pointer_arg(kernel, i, (const void *)v);
    }
};

template <class T>
inline uint64_t to_bits(T v)
{
    static_assert(sizeof(T) <= 8, "warp intrinsics move at most 8 bytes");
    uint64_t b = 0;
    memcpy(&b, &v, sizeof v);
    return b;
}
template <class T>
inline T from_bits(uint64_t b)
{
    T v;
    memcpy(&v, &b, sizeof v);
    return v;
}

} // namespace lsc_sim
#pragma GCC visibility pop

#define threadIdx (lsc_sim::cur->tid)
#define blockIdx (lsc_sim::block_idx)
#define blockDim (lsc_sim::block_dim)
#define gridDim (lsc_sim::grid_dim)
constexpr int warpSize = 32;

// (the defaulted file and line are the caller's: every thread must wait at the same barrier)
#define LSC_SIM_SITE const char *lsc_file = __builtin_FILE(), int lsc_line = __builtin_LINE()
inline void __syncthreads(LSC_SIM_SITE) { lsc_sim::syncthreads(lsc_file, lsc_line); }
inline void __syncwarp(unsigned mask = 0xffffffffu, LSC_SIM_SITE)
{
    lsc_sim::warp_exchange(mask, 0, 0, 0, 32, nullptr, lsc_file, lsc_line);
}
inline void __trap() { lsc_sim::trap("__trap()"); }

// kind: 1 idx, 2 up, 3 down, 4 xor
template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32, LSC_SIM_SITE)
{
    return lsc_sim::from_bits<T>(lsc_sim::warp_exchange(mask, lsc_sim::to_bits(v), 1, src, width,
                                                        nullptr, lsc_file, lsc_line));
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32, LSC_SIM_SITE)
{
    return lsc_sim::from_bits<T>(lsc_sim::warp_exchange(mask, lsc_sim::to_bits(v), 2, (int)delta,
                                                        width, nullptr, lsc_file, lsc_line));
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32, LSC_SIM_SITE)
{
    return lsc_sim::from_bits<T>(lsc_sim::warp_exchange(mask, lsc_sim::to_bits(v), 3, (int)delta,
                                                        width, nullptr, lsc_file, lsc_line));
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32, LSC_SIM_SITE)
{
    return lsc_sim::from_bits<T>(lsc_sim::warp_exchange(mask, lsc_sim::to_bits(v), 4, lane_mask,
                                                        width, nullptr, lsc_file, lsc_line));
}
inline unsigned __ballot_sync(unsigned mask, int pred, LSC_SIM_SITE)
{
    unsigned b = 0;
    lsc_sim::warp_exchange(mask, pred ? 1 : 0, 0, 0, 32, &b, lsc_file, lsc_line);
    return b;
}
inline int __any_sync(unsigned mask, int pred, LSC_SIM_SITE)
{
    return __ballot_sync(mask, pred, lsc_file, lsc_line) != 0;
}
inline int __all_sync(unsigned mask, int pred, LSC_SIM_SITE)
{
    return __ballot_sync(mask, pred, lsc_file, lsc_line) == mask;
}
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
inline int __clz(int v) { return v ? __builtin_clz((unsigned)v) : 32; }
inline int __clzll(long long v) { return v ? __builtin_clzll((unsigned long long)v) : 64; }

// no contraction anywhere in the translated code (-ffp-contract=off), so these are plain
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline long long __double_as_longlong(double v)
{
    return lsc_sim::from_bits<long long>(lsc_sim::to_bits(v));
}
inline double __longlong_as_double(long long v)
{
    return lsc_sim::from_bits<double>(lsc_sim::to_bits(v));
}
inline unsigned __float_as_uint(float v)
{
    return lsc_sim::from_bits<unsigned>(lsc_sim::to_bits(v));
}
inline float __uint_as_float(unsigned v) { return lsc_sim::from_bits<float>(lsc_sim::to_bits(v)); }
inline int __float_as_int(float v) { return lsc_sim::from_bits<int>(lsc_sim::to_bits(v)); }
inline float __int_as_float(int v) { return lsc_sim::from_bits<float>(lsc_sim::to_bits(v)); }

// Atomics: only one fiber runs at a time and none is switched out inside these, so plain
// read-modify-write is atomic here.
template <class T>
inline T atomicAdd(T *p, T v)
{
    T o = *p;
    *p = o + v;
    return o;
}
template <class T>
inline T atomicSub(T *p, T v)
{
    T o = *p;
    *p = o - v;
    return o;
}
template <class T>
inline T atomicMin(T *p, T v)
{
    T o = *p;
    if (v < o) *p = v;
    return o;
}
template <class T>
inline T atomicMax(T *p, T v)
{
    T o = *p;
    if (v > o) *p = v;
    return o;
}
template <class T>
inline T atomicExch(T *p, T v)
{
    T o = *p;
    *p = v;
    return o;
}
template <class T>
inline T atomicOr(T *p, T v)
{
    T o = *p;
    *p = o | v;
    return o;
}
template <class T>
inline T atomicAnd(T *p, T v)
{
    T o = *p;
    *p = o & v;
    return o;
}
template <class T>
inline T atomicCAS(T *p, T cmp, T v)
{
    T o = *p;
    if (o == cmp) *p = v;
    return o;
}

// CUDA's global min/max overloads for mixed integer and floating types
template <class A, class B>
inline typename std::common_type<A, B>::type min(A a, B b)
{
    typedef typename std::common_type<A, B>::type T;
    return (T)b < (T)a ? (T)b : (T)a;
}
template <class A, class B>
inline typename std::common_type<A, B>::type max(A a, B b)
{
    typedef typename std::common_type<A, B>::type T;
    return (T)a < (T)b ? (T)b : (T)a;
}
