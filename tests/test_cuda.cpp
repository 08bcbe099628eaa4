// The CUDA backend against the CPU backend (and the float64 references), operation by operation.
//
// Without a usable device (or in a build without CUDA) every GPU test skips with the reason lsc
// gives, unless LSC_REQUIRE_GPU=1 asks for a device, which then makes them fail.
//
// With a device: every operation runs on the GPU and agrees with the CPU backend within twice the
// docs/METRICS.md tolerances (and with the reference within once), on datasets.hpp's data sets,
// for host and device inputs of every dtype with padded rows, host and device outputs, tiny
// workspaces that force many tiles, the caller's streams, the asynchronous forms into device and
// pinned memory (also replayed from a CUDA graph), NaN/Inf in device memory, an injected device
// allocator that runs out, and run-to-run determinism. Device buffers, pinned memory, streams and
// graphs are made through the CUDA driver API, loaded at run time, so this file needs no CUDA
// headers or libraries and builds in every configuration.
#include "datasets.hpp"
#include "fake_transport.hpp"
#include "reference.hpp"
#include "reference_nn.hpp"
#include "ref_snapshot.hpp"
#include "test_util.hpp"

#include <lsc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

namespace {

const uint64_t kSeed = data::seed(9090);

bool near_tol(double a, double b, double rel, double abs_tol)
{
    return std::fabs(a - b) <= std::max(abs_tol, rel * std::max(std::fabs(a), std::fabs(b)));
}
bool near_rel(double a, double b, double rel) { return near_tol(a, b, rel, 0.0); }

// |a|^2 + |b|^2 of two rows of d floats, in float64: the scale of a distance block's tolerance.
double sq_norms(const float *a, const float *b, int64_t d)
{
    double s = 0;
    for (int64_t t = 0; t < d; t++) s += (double)a[t] * a[t] + (double)b[t] * b[t];
    return s;
}

bool gpu_required()
{
    const char *e = std::getenv("LSC_REQUIRE_GPU");
    return e && std::strcmp(e, "1") == 0;
}

#ifdef LSC_TEST_CUDASIM
// Built against the emulated device of tests/cudasim (LSC_CUDA=SIM): one device is there, and
// every GPU test must run on it, none may skip. Set before the CUDA module (and with it the
// emulator, which reads its settings once) is loaded.
const bool kEmulatedDevice = [] {
    setenv("LSC_SIM_DEVICES", "1", 0);
    setenv("LSC_REQUIRE_GPU", "1", 1);
    return true;
}();
#endif

#ifdef LSC_TEST_HAVE_CUDA
const bool kBuiltWithCuda = true;
#else
const bool kBuiltWithCuda = false;
#endif

std::string fmt(double v)
{
    char b[64];
    std::snprintf(b, sizeof b, "%.17g", v);
    return b;
}

/* ---------------------------------------------------------------------------------------------- */
/* the CUDA driver API, loaded at run time                                                        */

struct Driver {
    typedef int CUresult;
    typedef int CUdevice;
    typedef void *CUcontext;
    typedef void *CUstream;
    typedef void *CUgraph;
    typedef void *CUgraphExec;
    typedef unsigned long long CUdeviceptr;

    CUresult (*cuInit)(unsigned) = nullptr;
    CUresult (*cuDeviceGet)(CUdevice *, int) = nullptr;
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice) = nullptr;
    CUresult (*cuDevicePrimaryCtxRelease)(CUdevice) = nullptr;
    CUresult (*cuCtxSetCurrent)(CUcontext) = nullptr;
    CUresult (*cuCtxSynchronize)() = nullptr;
    CUresult (*cuStreamCreate)(CUstream *, unsigned) = nullptr;
    CUresult (*cuStreamDestroy)(CUstream) = nullptr;
    CUresult (*cuStreamSynchronize)(CUstream) = nullptr;
    CUresult (*cuStreamBeginCapture)(CUstream, int) = nullptr;
    CUresult (*cuStreamEndCapture)(CUstream, CUgraph *) = nullptr;
    CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *, CUgraph, unsigned long long) = nullptr;
    CUresult (*cuGraphLaunch)(CUgraphExec, CUstream) = nullptr;
    CUresult (*cuGraphExecDestroy)(CUgraphExec) = nullptr;
    CUresult (*cuGraphDestroy)(CUgraph) = nullptr;
    CUresult (*cuMemAlloc)(CUdeviceptr *, size_t) = nullptr;
    CUresult (*cuMemFree)(CUdeviceptr) = nullptr;
    CUresult (*cuMemAllocHost)(void **, size_t) = nullptr;
    CUresult (*cuMemFreeHost)(void *) = nullptr;
    CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t) = nullptr;
    CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t) = nullptr;
    CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t) = nullptr;

    void *lib = nullptr;
    CUdevice dev = 0;
    CUcontext primary = nullptr;
    std::string error;

    template <class F>
    bool sym(F &f, const char *name)
    {
        f = reinterpret_cast<F>(dlsym(lib, name));
        if (!f) error = std::string("libcuda has no ") + name;
        return f != nullptr;
    }
    bool check(CUresult r, const char *what)
    {
        if (r != 0) error = std::string(what) + " failed with CUresult " + std::to_string(r);
        return r == 0;
    }
    // Makes device `ordinal`'s primary context (the one the CUDA runtime in lsc uses) current.
    bool open(int ordinal)
    {
        lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            error = std::string("cannot load libcuda.so.1: ") + dlerror();
            return false;
        }
        return sym(cuInit, "cuInit") && sym(cuDeviceGet, "cuDeviceGet") &&
               sym(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") &&
               sym(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2") &&
               sym(cuCtxSetCurrent, "cuCtxSetCurrent") &&
               sym(cuCtxSynchronize, "cuCtxSynchronize") && sym(cuStreamCreate, "cuStreamCreate") &&
               sym(cuStreamDestroy, "cuStreamDestroy_v2") &&
               sym(cuStreamSynchronize, "cuStreamSynchronize") &&
               sym(cuStreamBeginCapture, "cuStreamBeginCapture_v2") &&
               sym(cuStreamEndCapture, "cuStreamEndCapture") &&
               sym(cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags") &&
               sym(cuGraphLaunch, "cuGraphLaunch") &&
               sym(cuGraphExecDestroy, "cuGraphExecDestroy") &&
               sym(cuGraphDestroy, "cuGraphDestroy") && sym(cuMemAlloc, "cuMemAlloc_v2") &&
               sym(cuMemFree, "cuMemFree_v2") && sym(cuMemAllocHost, "cuMemAllocHost_v2") &&
               sym(cuMemFreeHost, "cuMemFreeHost") && sym(cuMemsetD8, "cuMemsetD8_v2") &&
               sym(cuMemcpyHtoD, "cuMemcpyHtoD_v2") && sym(cuMemcpyDtoH, "cuMemcpyDtoH_v2") &&
               check(cuInit(0), "cuInit") && check(cuDeviceGet(&dev, ordinal), "cuDeviceGet") &&
               check(cuDevicePrimaryCtxRetain(&primary, dev), "cuDevicePrimaryCtxRetain") &&
               check(cuCtxSetCurrent(primary), "cuCtxSetCurrent");
    }
    ~Driver()
    {
        if (primary) cuDevicePrimaryCtxRelease(dev);
        if (lib) dlclose(lib);
    }
    // A device copy of a host buffer (0 on failure).
    CUdeviceptr upload(const void *p, size_t bytes)
    {
        CUdeviceptr d = 0;
        if (!check(cuMemAlloc(&d, bytes ? bytes : 1), "cuMemAlloc")) return 0;
        if (!check(cuMemcpyHtoD(d, p, bytes), "cuMemcpyHtoD") ||
            !check(cuCtxSynchronize(), "cuCtxSynchronize")) {
            cuMemFree(d);
            return 0;
        }
        return d;
    }
    bool download(void *p, CUdeviceptr d, size_t bytes)
    {
        return check(cuCtxSynchronize(), "cuCtxSynchronize") &&
               check(cuMemcpyDtoH(p, d, bytes), "cuMemcpyDtoH");
    }
};

// Device memory owned by a test.
struct DevBuf {
    Driver *drv = nullptr;
    Driver::CUdeviceptr p = 0;
    size_t bytes = 0;
    DevBuf(Driver &d, size_t n) : drv(&d), bytes(n)
    {
        EXPECT_TRUE(d.check(d.cuMemAlloc(&p, n ? n : 1), "cuMemAlloc")) << d.error;
    }
    DevBuf(Driver &d, const void *h, size_t n) : drv(&d), bytes(n)
    {
        p = d.upload(h, n);
        EXPECT_NE(p, 0u) << d.error;
    }
    ~DevBuf()
    {
        if (p) drv->cuMemFree(p);
    }
    DevBuf(const DevBuf &) = delete;
    DevBuf &operator=(const DevBuf &) = delete;
    void *ptr() const { return (void *)(uintptr_t)p; }
    template <class T>
    T *as() const
    {
        return (T *)(uintptr_t)p;
    }
    // A result struct the device writes: zeroed, with its size field set as a caller's is. The
    // context is synchronised after the copy: a pageable cuMemcpyHtoD may return before its DMA
    // lands, and a kernel on a non-blocking stream could then read the old bytes.
    template <class T>
    bool result()
    {
        T t;
        std::memset(static_cast<void *>(&t), 0, sizeof t);
        t.size = sizeof t;
        return put(&t, sizeof t) && drv->check(drv->cuCtxSynchronize(), "cuCtxSynchronize");
    }
    bool put(const void *h, size_t n)
    {
        return drv->check(drv->cuMemcpyHtoD(p, h, n), "cuMemcpyHtoD");
    }
    template <class T>
    std::vector<T> get(size_t count)
    {
        std::vector<T> v(count);
        EXPECT_TRUE(drv->download(v.data(), p, count * sizeof(T))) << drv->error;
        return v;
    }
};

// Pinned (page-locked) host memory owned by a test: the device can write it.
struct PinnedBuf {
    Driver *drv;
    void *p = nullptr;
    PinnedBuf(Driver &d, size_t n) : drv(&d)
    {
        EXPECT_TRUE(d.check(d.cuMemAllocHost(&p, n), "cuMemAllocHost")) << d.error;
        if (p) std::memset(p, 0xA5, n);
    }
    // A result struct the device writes: the pattern, with its size field set.
    template <class T>
    void result()
    {
        static_cast<T *>(p)->size = sizeof(T);
    }
    ~PinnedBuf()
    {
        if (p) drv->cuMemFreeHost(p);
    }
    PinnedBuf(const PinnedBuf &) = delete;
    PinnedBuf &operator=(const PinnedBuf &) = delete;
};

/* ---------------------------------------------------------------------------------------------- */
/* matrices of every dtype, with padded rows                                                      */

const lsc_dtype kDtypes[] = {LSC_DTYPE_F32, LSC_DTYPE_F16, LSC_DTYPE_BF16, LSC_DTYPE_F64};

const char *dtype_name(lsc_dtype t)
{
    switch (t) {
    case LSC_DTYPE_F32: return "f32";
    case LSC_DTYPE_F16: return "f16";
    case LSC_DTYPE_BF16: return "bf16";
    case LSC_DTYPE_F64: return "f64";
    }
    return "?";
}

// A rows x cols matrix of `dt` with `ld` elements per row; the padding holds NaN, so a backend
// that reads past `cols` fails the value check.
struct HostMat {
    std::vector<unsigned char> bytes;
    lsc_dtype dt = LSC_DTYPE_F32;
    int64_t rows = 0, cols = 0, ld = 0;
    size_t es() const { return lsc_dtype_size(dt); }
    lsc_matrix m() const
    {
        lsc_matrix x;
        x.data = bytes.data();
        x.dtype = dt;
        x.rows = rows;
        x.cols = cols;
        x.ld = ld;
        x.memory = LSC_MEMORY_HOST;
        return x;
    }
    void set(int64_t r, int64_t c, float v)
    {
        unsigned char *p = bytes.data() + (size_t)(r * ld + c) * es();
        switch (dt) {
        case LSC_DTYPE_F32: std::memcpy(p, &v, 4); break;
        case LSC_DTYPE_F16: {
            uint16_t h = ref::f32_to_f16(v);
            std::memcpy(p, &h, 2);
            break;
        }
        case LSC_DTYPE_BF16: {
            uint16_t h = ref::f32_to_bf16(v);
            std::memcpy(p, &h, 2);
            break;
        }
        case LSC_DTYPE_F64: {
            double d = v;
            std::memcpy(p, &d, 8);
            break;
        }
        }
    }
    void set_f64(int64_t r, int64_t c, double v)
    {
        std::memcpy(bytes.data() + (size_t)(r * ld + c) * 8, &v, 8);
    }
    // the float32 values the library computes with (dense rows x cols)
    std::vector<float> f32() const
    {
        std::vector<float> y((size_t)(rows * cols));
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                const unsigned char *p = bytes.data() + (size_t)(r * ld + c) * es();
                float v = 0;
                switch (dt) {
                case LSC_DTYPE_F32: std::memcpy(&v, p, 4); break;
                case LSC_DTYPE_F16: {
                    uint16_t h;
                    std::memcpy(&h, p, 2);
                    v = ref::f16_to_f32(h);
                    break;
                }
                case LSC_DTYPE_BF16: {
                    uint16_t h;
                    std::memcpy(&h, p, 2);
                    v = ref::bf16_to_f32(h);
                    break;
                }
                case LSC_DTYPE_F64: {
                    double d;
                    std::memcpy(&d, p, 8);
                    v = (float)d;
                    break;
                }
                }
                y[(size_t)(r * cols + c)] = v;
            }
        return y;
    }
};

HostMat host_mat(const std::vector<float> &x, int64_t rows, int64_t cols,
                 lsc_dtype dt = LSC_DTYPE_F32, int64_t pad = 0)
{
    HostMat h;
    h.dt = dt;
    h.rows = rows;
    h.cols = cols;
    h.ld = cols + pad;
    h.bytes.resize((size_t)(rows * h.ld) * h.es());
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) h.set(r, c, x[(size_t)(r * cols + c)]);
        for (int64_t c = cols; c < h.ld; c++) h.set(r, c, NAN);
    }
    return h;
}

// The same matrix in device memory.
struct DevMat {
    DevBuf buf;
    lsc_matrix x;
    DevMat(Driver &d, const HostMat &h) : buf(d, h.bytes.data(), h.bytes.size())
    {
        x = h.m();
        x.data = buf.ptr();
        x.memory = LSC_MEMORY_DEVICE;
    }
};

/* ---------------------------------------------------------------------------------------------- */
/* comparisons                                                                                    */

struct Spec {
    lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
    std::vector<double> sv, cv;
};

lsc_status spectrum_of(lsc_ctx *c, const lsc_matrix &x, Spec &s,
                       const lsc_spectrum_opts *o = nullptr)
{
    s.sv.assign((size_t)std::min(x.rows, x.cols), -12345.0);
    s.cv.assign((size_t)x.cols, -12345.0);
    std::memset(&s.r, 0xAB, sizeof s.r);
    s.r.size = sizeof s.r;
    return lsc_spectrum(c, &x, o, &s.r, s.sv.data(), s.cv.data());
}

// Two results of lsc: continuous figures within rel/abs, integers and flags equal.
::testing::AssertionResult same_figures(const lsc_spectrum_result &a, const lsc_spectrum_result &b,
                                        double rel = 2 * ref::kRel, double abs = 2 * ref::kAbs)
{
    std::ostringstream bad;
    auto cont = [&](const char *name, double x, double y) {
        if (!ref::close(x, y, rel, abs))
            bad << "\n  " << name << ": " << fmt(x) << " vs " << fmt(y);
    };
    auto exact = [&](const char *name, long long x, long long y) {
        if (x != y) bad << "\n  " << name << ": " << x << " vs " << y;
    };
    exact("rows", a.rows, b.rows);
    exact("cols", a.cols, b.cols);
    exact("rank_limit", a.rank_limit, b.rank_limit);
    exact("numerical_rank", a.numerical_rank, b.numerical_rank);
    exact("dims_90", a.dims_90, b.dims_90);
    exact("dims_99", a.dims_99, b.dims_99);
    exact("active_units", a.active_units, b.active_units);
    exact("all_rows_identical", a.all_rows_identical, b.all_rows_identical);
    exact("vendi_status", a.vendi_status, b.vendi_status);
    if (a.vendi_status != LSC_VENDI_OK) exact("vendi_zero_row", a.vendi_zero_row, b.vendi_zero_row);
    cont("effective_rank", a.effective_rank, b.effective_rank);
    cont("rankme", a.rankme, b.rankme);
    cont("participation_ratio", a.participation_ratio, b.participation_ratio);
    cont("stable_rank", a.stable_rank, b.stable_rank);
    cont("total_variance", a.total_variance, b.total_variance);
    cont("largest_singular_value", a.largest_singular_value, b.largest_singular_value);
    cont("vendi_cosine", a.vendi_cosine, b.vendi_cosine);
    cont("vendi_cosine_q0", a.vendi_cosine_q0, b.vendi_cosine_q0);
    cont("vendi_cosine_q2", a.vendi_cosine_q2, b.vendi_cosine_q2);
    cont("vendi_cosine_qinf", a.vendi_cosine_qinf, b.vendi_cosine_qinf);
    exact("alpha_req_ranks", a.alpha_req_ranks, b.alpha_req_ranks);
    cont("alpha_req", a.alpha_req, b.alpha_req);
    cont("alpha_req_r2", a.alpha_req_r2, b.alpha_req_r2);
    if (a.active_threshold != b.active_threshold)
        bad << "\n  active_threshold: " << fmt(a.active_threshold) << " vs "
            << fmt(b.active_threshold);
    std::string s = bad.str();
    if (s.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the figures differ:" << s;
}

::testing::AssertionResult same_spectrum(const Spec &a, const Spec &b)
{
    ::testing::AssertionResult f = same_figures(a.r, b.r);
    if (!f) return f;
    std::ostringstream bad;
    int shown = 0;
    if (a.sv.size() != b.sv.size())
        bad << "\n  singular values: " << a.sv.size() << " vs " << b.sv.size();
    for (size_t i = 0; i < std::min(a.sv.size(), b.sv.size()); i++)
        if (!ref::close(a.sv[i], b.sv[i], 2 * ref::kRel, 2 * ref::kAbs) && shown++ < 5)
            bad << "\n  singular_values[" << i << "]: " << fmt(a.sv[i]) << " vs " << fmt(b.sv[i]);
    for (size_t i = 0; i < std::min(a.cv.size(), b.cv.size()); i++)
        if (!ref::close(a.cv[i], b.cv[i], 2 * ref::kRel, 2 * ref::kAbs) && shown++ < 10)
            bad << "\n  column_variance[" << i << "]: " << fmt(a.cv[i]) << " vs " << fmt(b.cv[i]);
    std::string s = bad.str();
    if (s.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the arrays differ:" << s;
}

// A result against the float64 reference at docs/METRICS.md's tolerances.
::testing::AssertionResult matches_reference(const Spec &g, const ref::Spectrum &w)
{
    std::ostringstream bad;
    auto cont = [&](const char *name, double got, double want) {
        if (!ref::close(got, want))
            bad << "\n  " << name << ": got " << fmt(got) << ", reference " << fmt(want);
    };
    const lsc_spectrum_result &r = g.r;
    if (r.numerical_rank != w.numerical_rank)
        bad << "\n  numerical_rank: got " << r.numerical_rank << ", reference " << w.numerical_rank;
    cont("effective_rank", r.effective_rank, w.effective_rank);
    cont("rankme", r.rankme, w.rankme);
    cont("participation_ratio", r.participation_ratio, w.participation_ratio);
    cont("stable_rank", r.stable_rank, w.stable_rank);
    cont("total_variance", r.total_variance, w.total_variance);
    if (!ref::dims_ok(r.dims_90, w, 0.90))
        bad << "\n  dims_90: got " << r.dims_90 << ", reference " << w.dims_90;
    if (!ref::dims_ok(r.dims_99, w, 0.99))
        bad << "\n  dims_99: got " << r.dims_99 << ", reference " << w.dims_99;
    if (!ref::active_ok(r.active_units, w))
        bad << "\n  active_units: got " << r.active_units << ", reference " << w.active_units;
    if (w.vendi_available) {
        cont("vendi_cosine", r.vendi_cosine, w.vendi_cosine);
        cont("vendi_cosine_q0", r.vendi_cosine_q0, w.vendi_q0);
        cont("vendi_cosine_q2", r.vendi_cosine_q2, w.vendi_q2);
        cont("vendi_cosine_qinf", r.vendi_cosine_qinf, w.vendi_qinf);
    } else if (r.vendi_status != LSC_VENDI_ZERO_ROW || r.vendi_zero_row != w.vendi_zero_row)
        bad << "\n  vendi: expected unavailable at row " << w.vendi_zero_row;
    if (r.alpha_req_ranks != w.alpha_req_ranks ||
        !ref::close(r.alpha_req, w.alpha_req, 2 * ref::kRel, 2 * ref::kAbs))
        bad << "\n  alpha_req: got " << fmt(r.alpha_req) << " over " << r.alpha_req_ranks
            << ", reference " << fmt(w.alpha_req) << " over " << w.alpha_req_ranks;
    for (size_t i = 0; i < g.sv.size() && i < w.singular_values.size(); i++)
        if (!ref::close(g.sv[i], w.singular_values[i])) {
            bad << "\n  singular_values[" << i << "]: got " << fmt(g.sv[i]) << ", reference "
                << fmt(w.singular_values[i]);
            break;
        }
    std::string s = bad.str();
    if (s.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "differs from the reference:" << s;
}

::testing::AssertionResult same_pairs(const lsc_pair_result &g, const lsc_pair_result &c,
                                      const std::vector<int64_t> &hg,
                                      const std::vector<int64_t> &hc,
                                      const std::vector<lsc_pair> &dg,
                                      const std::vector<lsc_pair> &dc, double abs_tol = 1e-12)
{
    std::ostringstream bad;
    auto rel = [&](const char *name, double x, double y, double r) {
        if (!near_tol(x, y, r, abs_tol))
            bad << "\n  " << name << ": " << fmt(x) << " vs " << fmt(y);
    };
    if (g.rows_used != c.rows_used || g.pairs != c.pairs || g.subset != c.subset ||
        g.bins != c.bins)
        bad << "\n  rows_used/pairs/subset/bins differ";
    rel("mean", g.mean, c.mean, 4e-4);
    rel("std", g.std, c.std, 4e-4);
    rel("min", g.min, c.min, 2e-6);
    rel("max", g.max, c.max, 2e-6);
    rel("nn_mean", g.nn_mean, c.nn_mean, 2e-6);
    rel("nn_median", g.nn_median, c.nn_median, 2e-6);
    rel("nn_min", g.nn_min, c.nn_min, 2e-6);
    rel("nn_max", g.nn_max, c.nn_max, 2e-6);
    rel("hist_upper", g.hist_upper, c.hist_upper, 4e-4);
    // uniformity: absolute (a log of a mean), twice the CPU's pinned bound at the tests' sizes
    if (!(std::fabs(g.uniformity - c.uniformity) <= 1e-6) &&
        !(std::isnan(g.uniformity) && std::isnan(c.uniformity))) // NaN both: not asked for
        bad << "\n  uniformity: " << fmt(g.uniformity) << " vs " << fmt(c.uniformity);
    if (g.near_duplicate_pairs != c.near_duplicate_pairs)
        bad << "\n  near_duplicate_pairs: " << g.near_duplicate_pairs << " vs "
            << c.near_duplicate_pairs;
    if (g.near_duplicates_listed != c.near_duplicates_listed)
        bad << "\n  near_duplicates_listed: " << g.near_duplicates_listed << " vs "
            << c.near_duplicates_listed;
    for (int64_t t = 0; t < std::min(g.near_duplicates_listed, c.near_duplicates_listed); t++)
        if (dg[t].i != dc[t].i || dg[t].j != dc[t].j || !near_tol(dg[t].d, dc[t].d, 2e-6, abs_tol))
            bad << "\n  near duplicate " << t << ": (" << dg[t].i << "," << dg[t].j << ","
                << fmt(dg[t].d) << ") vs (" << dc[t].i << "," << dc[t].j << "," << fmt(dc[t].d)
                << ")";
    // bin counts are bulk figures (the fast form may put a pair on the other side of an edge)
    int64_t sg = 0, sc = 0, l1 = 0;
    for (size_t b = 0; b < hg.size(); b++) {
        sg += hg[b];
        sc += hc[b];
        l1 += std::llabs(hg[b] - hc[b]);
    }
    if (sg != c.pairs || sc != c.pairs)
        bad << "\n  histogram sums " << sg << ", " << sc << " vs " << c.pairs;
    if ((double)l1 > 2.0 * (2.0 + 1e-4 * (double)c.pairs))
        bad << "\n  histograms differ by " << l1 << " counts";
    std::string s = bad.str();
    if (s.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "pair statistics differ:" << s;
}

::testing::AssertionResult same_prdc(const lsc_prdc_result &g, const lsc_prdc_result &c)
{
    std::ostringstream bad;
    if (g.k != c.k || g.real_rows != c.real_rows || g.fake_rows != c.fake_rows)
        bad << "\n  k/rows: " << g.k << "/" << g.real_rows << "/" << g.fake_rows << " vs " << c.k
            << "/" << c.real_rows << "/" << c.fake_rows;
    if (g.precision != c.precision)
        bad << "\n  precision " << fmt(g.precision) << " vs " << fmt(c.precision);
    if (g.recall != c.recall) bad << "\n  recall " << fmt(g.recall) << " vs " << fmt(c.recall);
    if (g.density != c.density) bad << "\n  density " << fmt(g.density) << " vs " << fmt(c.density);
    if (g.coverage != c.coverage)
        bad << "\n  coverage " << fmt(g.coverage) << " vs " << fmt(c.coverage);
    if (g.zero_radii_real != c.zero_radii_real || g.zero_radii_fake != c.zero_radii_fake)
        bad << "\n  zero radii differ";
    if (g.comparison != c.comparison || g.metric != c.metric) bad << "\n  comparison/metric differ";
    std::string s = bad.str();
    if (s.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "PRDC differs:" << s;
}

// kNN of the GPU against the CPU: distances within twice 1e-6 relative, indices equal except
// where the distances tie (both lists hold the index, or the last rank's distance ties).
::testing::AssertionResult same_knn(const std::vector<float> &dg, const std::vector<int64_t> &ig,
                                    const std::vector<float> &dc, const std::vector<int64_t> &ic,
                                    int64_t k)
{
    for (size_t i = 0; i < dg.size(); i++) {
        if (!near_tol(dg[i], dc[i], 2e-6, 1e-30))
            return ::testing::AssertionFailure()
                   << "entry " << i << ": distance " << fmt(dg[i]) << " vs " << fmt(dc[i]);
        if (ig[i] != ic[i]) {
            const int64_t q = (int64_t)i / k;
            bool tie = false;
            for (int64_t t = 0; t < k; t++) tie |= ic[(size_t)(q * k + t)] == ig[i];
            if (!tie && !((int64_t)i % k == k - 1))
                return ::testing::AssertionFailure() << "query " << q << " rank " << (int64_t)i % k
                                                     << ": index " << ig[i] << " vs " << ic[i];
        }
    }
    return ::testing::AssertionSuccess();
}

/* ---------------------------------------------------------------------------------------------- */
/* data sets (datasets.hpp)                                                                        */

struct DataSet {
    std::string name;
    std::vector<float> x;
    int64_t n, d;
};

// Every family of datasets.hpp, N >= D.
std::vector<DataSet> tall_sets(uint64_t s)
{
    std::vector<DataSet> v;
    v.push_back({"random", data::gaussian(500, 24, s), 500, 24});
    v.push_back({"rank-3", data::rank_k(400, 32, 3, s + 1), 400, 32});
    v.push_back({"identical rows", data::identical_rows(60, 8, s + 2), 60, 8});
    v.push_back({"duplicates",
                 data::with_duplicates(300, 16, s + 3, {{0, 1}, {5, 9}, {5, 77}, {200, 299}}), 300,
                 16});
    v.push_back({"one cluster", data::tight_cluster(300, 16, s + 4), 300, 16});
    v.push_back({"large offset", data::gaussian(400, 16, s + 5, 50.0, 1.0), 400, 16});
    v.push_back({"rank-4 with offset", data::rank_k(300, 20, 4, s + 6, 50.0), 300, 20});
    auto z = data::gaussian(100, 12, s + 7);
    for (int64_t c = 0; c < 12; c++) z[(size_t)(37 * 12 + c)] = 0.0f; // a zero row: no vendi
    v.push_back({"zero row", z, 100, 12});
    v.push_back({"two rows", data::gaussian(2, 2, s + 8), 2, 2});
    v.push_back({"one column", data::gaussian(50, 1, s + 9), 50, 1});
    return v;
}

// N < D.
std::vector<DataSet> wide_sets(uint64_t s)
{
    std::vector<DataSet> v;
    v.push_back({"random", data::gaussian(20, 100, s), 20, 100});
    v.push_back({"rank-4", data::rank_k(30, 200, 4, s + 1), 30, 200});
    v.push_back({"identical rows", data::identical_rows(10, 64, s + 2), 10, 64});
    v.push_back({"duplicates", data::with_duplicates(24, 50, s + 3, {{0, 1}, {3, 20}}), 24, 50});
    v.push_back({"one cluster", data::tight_cluster(16, 40, s + 4), 16, 40});
    v.push_back({"large offset", data::gaussian(16, 50, s + 5, 50.0, 1.0), 16, 50});
    auto z = data::gaussian(12, 30, s + 6);
    for (int64_t c = 0; c < 30; c++) z[(size_t)(5 * 30 + c)] = 0.0f;
    v.push_back({"zero row", z, 12, 30});
    v.push_back({"two rows", data::gaussian(2, 3000, s + 7), 2, 3000});
    return v;
}

/* ---------------------------------------------------------------------------------------------- */
/* an injectable device allocator that fails past a byte budget                                   */

struct Budget {
    Driver *drv = nullptr;
    size_t budget = 0, used = 0;
    int64_t allocs = 0, refusals = 0;
    std::map<void *, size_t> live;
};

void *budget_alloc(size_t bytes, void *stream, void *user)
{
    (void)stream;
    Budget *b = static_cast<Budget *>(user);
    if (bytes > b->budget || b->used > b->budget - bytes) {
        b->refusals++;
        return nullptr;
    }
    Driver::CUdeviceptr p = 0;
    if (b->drv->cuMemAlloc(&p, bytes) != 0) {
        b->refusals++;
        return nullptr;
    }
    b->used += bytes;
    b->allocs++;
    b->live[(void *)(uintptr_t)p] = bytes;
    return (void *)(uintptr_t)p;
}

void budget_free(void *ptr, size_t bytes, void *stream, void *user)
{
    Budget *b = static_cast<Budget *>(user);
    // lsc frees stream-ordered: wait for the stream before handing the memory back
    if (stream) b->drv->cuStreamSynchronize(stream);
    else b->drv->cuCtxSynchronize();
    auto it = b->live.find(ptr);
    EXPECT_NE(it, b->live.end()) << "freeing memory this allocator did not hand out";
    if (it != b->live.end()) {
        EXPECT_EQ(it->second, bytes) << "freed with another size than allocated";
        b->used -= it->second;
        b->live.erase(it);
    }
    b->drv->cuMemFree((Driver::CUdeviceptr)(uintptr_t)ptr);
}

// The settings of a context whose device memory comes from `bud` (which counts and limits it).
lsc_ctx_params budget_params(Budget &bud, Driver &drv, size_t budget)
{
    bud.drv = &drv;
    bud.budget = budget;
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.device_alloc = budget_alloc;
    p.device_free = budget_free;
    p.allocator_user = &bud;
    return p;
}

/* ---------------------------------------------------------------------------------------------- */
/* a build or machine without a usable GPU                                                        */

TEST(CudaAvailability, AnUnavailableBackendIsExplained)
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CUDA;
    lsc_ctx *ctx = nullptr;
    lsc_status s = lsc_ctx_create(&p, &ctx);
    ASSERT_NE(ctx, nullptr);
    if (s == LSC_STATUS_OK) {
        EXPECT_TRUE(kBuiltWithCuda) << "a CUDA context in a build without CUDA";
        EXPECT_EQ(lsc_ctx_backend(ctx), LSC_BACKEND_CUDA);
    } else {
        EXPECT_EQ(s, LSC_STATUS_BACKEND_UNAVAILABLE) << lsc_status_name(s);
        EXPECT_TRUE(mentions(lsc_last_error(ctx), "cuda")) << lsc_last_error(ctx);
        if (!kBuiltWithCuda) {
            EXPECT_TRUE(mentions(lsc_last_error(ctx), "built without CUDA")) << lsc_last_error(ctx);
        }
        EXPECT_EQ(lsc_ctx_set_stream(ctx, nullptr), LSC_STATUS_BAD_CONTEXT);
    }
    lsc_ctx_destroy(ctx);
}

TEST(CudaAvailability, AsyncFormsNeedTheCudaBackend)
{
    Ctx cpu;
    auto x = data::gaussian(10, 3, kSeed);
    lsc_matrix m = lsc_matrix_f32(x.data(), 10, 3);
    lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
    lsc_async_status st;
    EXPECT_EQ(lsc_spectrum_async(cpu, &m, nullptr, &r, &st), LSC_STATUS_NOT_SUPPORTED);
    EXPECT_TRUE(mentions(lsc_last_error(cpu), "CUDA")) << lsc_last_error(cpu);
}

/* ---------------------------------------------------------------------------------------------- */
/* with a device                                                                                  */

// A CUDA context with `p`'s settings (backend forced to CUDA); fails the test on error.
lsc_ctx *cuda_ctx(lsc_ctx_params p)
{
    p.backend = LSC_BACKEND_CUDA;
    lsc_ctx *c = nullptr;
    lsc_status s = lsc_ctx_create(&p, &c);
    EXPECT_EQ(s, LSC_STATUS_OK) << lsc_last_error(c);
    if (s != LSC_STATUS_OK) {
        lsc_ctx_destroy(c);
        return nullptr;
    }
    return c;
}

class Cuda : public ::testing::Test {
  protected:
    void SetUp() override
    {
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.backend = LSC_BACKEND_CUDA;
        lsc_status s = lsc_ctx_create(&p, &ctx);
        if (s != LSC_STATUS_OK) {
            std::string why = std::string(lsc_status_name(s)) + ": " + lsc_last_error(ctx) +
                              (kBuiltWithCuda ? "" : " (this build has no CUDA backend)");
            lsc_ctx_destroy(ctx);
            ctx = nullptr;
            if (gpu_required()) FAIL() << "LSC_REQUIRE_GPU=1 but no CUDA context: " << why;
            GTEST_SKIP() << "no CUDA context: " << why;
        }
        lsc_ctx_params c = LSC_CTX_PARAMS_INIT;
        c.backend = LSC_BACKEND_CPU;
        ASSERT_EQ(lsc_ctx_create(&c, &cpu), LSC_STATUS_OK) << lsc_last_error(cpu);
        // a CUDA context exists, so the driver must be there
        ASSERT_TRUE(drv.open(0)) << "the CUDA driver API is not usable: " << drv.error;
    }
    void TearDown() override
    {
        lsc_ctx_destroy(ctx);
        lsc_ctx_destroy(cpu);
    }

    // OK and no message, or a failure naming the call.
    ::testing::AssertionResult ok(lsc_status s, lsc_ctx *c = nullptr)
    {
        if (!c) c = ctx;
        if (s == LSC_STATUS_OK && lsc_last_error(c)[0] == '\0')
            return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure()
               << lsc_status_name(s) << ": \"" << lsc_last_error(c) << "\"";
    }

    Driver::CUstream new_stream()
    {
        Driver::CUstream s = nullptr;
        EXPECT_TRUE(
            drv.check(drv.cuStreamCreate(&s, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate"))
            << drv.error;
        streams.push_back(s);
        return s;
    }

    lsc_ctx *ctx = nullptr, *cpu = nullptr;
    Driver drv;
    std::vector<Driver::CUstream> streams;

  public:
    ~Cuda() override
    {
        for (auto s : streams) drv.cuStreamDestroy(s);
    }
};

TEST_F(Cuda, ReportsTheBackendAndTheDevice)
{
    EXPECT_EQ(lsc_ctx_backend(ctx), LSC_BACKEND_CUDA);
    const char *name = lsc_ctx_device_name(ctx);
    ASSERT_NE(name, nullptr);
    EXPECT_GT(std::strlen(name), std::strlen("cuda:0 ")) << name;
    EXPECT_TRUE(mentions(name, "cuda:0")) << name;
    EXPECT_STREQ(lsc_last_error(ctx), "");
    std::cout << "[ device   ] " << name << "\n";
}

TEST_F(Cuda, ContextsComeAndGo)
{
    for (int i = 0; i < 10; i++) {
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        lsc_ctx *c = cuda_ctx(p);
        ASSERT_NE(c, nullptr);
        EXPECT_EQ(lsc_ctx_backend(c), LSC_BACKEND_CUDA);
        lsc_ctx_destroy(c);
    }
}

TEST_F(Cuda, MissingDeviceOrdinalIsUnavailable)
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CUDA;
    p.device = 4096;
    lsc_ctx *c = nullptr;
    EXPECT_EQ(lsc_ctx_create(&p, &c), LSC_STATUS_BACKEND_UNAVAILABLE) << lsc_last_error(c);
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(mentions(lsc_last_error(c), "4096")) << lsc_last_error(c);
    EXPECT_EQ(lsc_ctx_backend(c), LSC_BACKEND_AUTO);
    auto x = data::gaussian(8, 2, kSeed);
    lsc_matrix m = lsc_matrix_f32(x.data(), 8, 2);
    lsc_pair_result r = LSC_PAIR_RESULT_INIT;
    EXPECT_EQ(lsc_pair_stats(c, &m, nullptr, &r, nullptr, nullptr), LSC_STATUS_BAD_CONTEXT);
    lsc_ctx_destroy(c);
}

TEST_F(Cuda, AutoPicksCudaWhenADeviceIsPresent)
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    lsc_ctx *a = nullptr;
    ASSERT_EQ(lsc_ctx_create(&p, &a), LSC_STATUS_OK) << lsc_last_error(a);
    EXPECT_EQ(lsc_ctx_backend(a), LSC_BACKEND_CUDA)
        << "AUTO chose the CPU although a device is present (is an operation missing from the CUDA "
           "backend?)";
    lsc_ctx_destroy(a);
}

/* ---- spectrum ------------------------------------------------------------------------------------ */

TEST_F(Cuda, SpectrumMatchesCpuOnEveryDataSet)
{
    for (const auto &ds : tall_sets(kSeed + 10)) {
        SCOPED_TRACE(ds.name);
        lsc_matrix m = lsc_matrix_f32(ds.x.data(), ds.n, ds.d);
        Spec g, c;
        ASSERT_TRUE(ok(spectrum_of(ctx, m, g)));
        ASSERT_EQ(spectrum_of(cpu, m, c), LSC_STATUS_OK) << lsc_last_error(cpu);
        EXPECT_TRUE(same_spectrum(g, c));
        EXPECT_TRUE(matches_reference(g, ref::spectrum(ds.x, ds.n, ds.d)));
    }
}

TEST_F(Cuda, SpectrumWithFewerRowsThanColumns)
{
    for (const auto &ds : wide_sets(kSeed + 20)) {
        SCOPED_TRACE(ds.name);
        lsc_matrix m = lsc_matrix_f32(ds.x.data(), ds.n, ds.d);
        Spec g, c;
        ASSERT_TRUE(ok(spectrum_of(ctx, m, g)));
        ASSERT_EQ(spectrum_of(cpu, m, c), LSC_STATUS_OK) << lsc_last_error(cpu);
        EXPECT_EQ(g.r.rank_limit, ds.n);
        EXPECT_TRUE(same_spectrum(g, c));
        EXPECT_TRUE(matches_reference(g, ref::spectrum(ds.x, ds.n, ds.d)));
    }
}

TEST_F(Cuda, SpectrumAccumulatorBatchesAndMerge)
{
    const int64_t n = 1500, d = 20;
    auto x = data::rank_k(n, d, 6, kSeed + 30, 5.0);
    lsc_matrix all = lsc_matrix_f32(x.data(), n, d);
    Spec c;
    ASSERT_EQ(spectrum_of(cpu, all, c), LSC_STATUS_OK);
    // uneven batches, host and device, into two accumulators, merged (also into an empty one)
    DevBuf dx(drv, x.data(), x.size() * sizeof(float));
    lsc_spectrum_acc *a = nullptr, *b = nullptr, *e = nullptr;
    ASSERT_TRUE(ok(lsc_spectrum_acc_create(ctx, d, nullptr, &a)));
    ASSERT_TRUE(ok(lsc_spectrum_acc_create(ctx, d, nullptr, &b)));
    ASSERT_TRUE(ok(lsc_spectrum_acc_create(ctx, d, nullptr, &e)));
    const int64_t cuts[] = {0, 1, 8, 300, 301, 777, 1200, 1499, 1500};
    for (size_t t = 0; t + 1 < sizeof cuts / sizeof cuts[0]; t++) {
        lsc_matrix bm = lsc_matrix_f32(x.data() + cuts[t] * d, cuts[t + 1] - cuts[t], d);
        if (t % 2) {
            bm.data = (const float *)dx.ptr() + cuts[t] * d;
            bm.memory = LSC_MEMORY_DEVICE;
        }
        ASSERT_TRUE(ok(lsc_spectrum_acc_add(ctx, t < 4 ? a : b, &bm))) << t;
    }
    ASSERT_TRUE(ok(lsc_spectrum_acc_merge(ctx, e, a)));
    ASSERT_TRUE(ok(lsc_spectrum_acc_merge(ctx, e, b)));
    ASSERT_TRUE(ok(lsc_spectrum_acc_merge(ctx, a, b)));
    EXPECT_EQ(lsc_spectrum_acc_rows(a), n);
    EXPECT_EQ(lsc_spectrum_acc_rows(e), n);
    for (lsc_spectrum_acc *acc : {a, e}) {
        Spec g;
        g.sv.assign(d, -1);
        g.cv.assign(d, -1);
        ASSERT_TRUE(ok(lsc_spectrum_acc_finalize(ctx, acc, &g.r, g.sv.data(), g.cv.data())));
        EXPECT_TRUE(same_spectrum(g, c));
    }
    // the zero row index follows the order rows were added in
    auto z = data::gaussian(40, d, kSeed + 31);
    for (int64_t k = 0; k < d; k++) z[(size_t)(25 * d + k)] = 0.0f;
    lsc_matrix zm = lsc_matrix_f32(z.data(), 40, d);
    ASSERT_TRUE(ok(lsc_spectrum_acc_add(ctx, b, &zm)));
    lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
    ASSERT_TRUE(ok(lsc_spectrum_acc_finalize(ctx, b, &r, nullptr, nullptr)));
    EXPECT_EQ(r.vendi_status, LSC_VENDI_ZERO_ROW);
    EXPECT_EQ(r.vendi_zero_row, (cuts[8] - cuts[4]) + 25);
    // an accumulator of one backend is refused by a context of another
    EXPECT_EQ(lsc_spectrum_acc_add(cpu, a, &all), LSC_STATUS_INVALID_ARGUMENT);
    lsc_spectrum_acc_destroy(a);
    lsc_spectrum_acc_destroy(b);
    lsc_spectrum_acc_destroy(e);
}

TEST_F(Cuda, SpectrumOfEveryDtypeInDeviceMemoryWithPaddedRows)
{
    const int64_t shapes[][2] = {{300, 20}, {12, 40}}; // N >= D and N < D
    for (auto sh : shapes)
        for (lsc_dtype dt : kDtypes) {
            SCOPED_TRACE(std::string(dtype_name(dt)) + " " + std::to_string(sh[0]) + "x" +
                         std::to_string(sh[1]));
            auto x = data::gaussian(sh[0], sh[1], kSeed + 40, 0.5, 2.0);
            HostMat h = host_mat(x, sh[0], sh[1], dt, 3);
            DevMat dm(drv, h);
            Spec g, gh, c;
            ASSERT_TRUE(ok(spectrum_of(ctx, dm.x, g)));
            ASSERT_TRUE(ok(spectrum_of(ctx, h.m(), gh)));
            ASSERT_EQ(spectrum_of(cpu, h.m(), c), LSC_STATUS_OK) << lsc_last_error(cpu);
            EXPECT_TRUE(same_spectrum(g, c));
            EXPECT_TRUE(same_spectrum(gh, c));
        }
}

TEST_F(Cuda, SpectrumStreamsHostRowsThroughATinyWorkspace)
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.workspace_limit = 64 << 10; // 64 KiB: tiles of a hundred rows or so
    lsc_ctx *small = cuda_ctx(p);
    ASSERT_NE(small, nullptr);
    auto x = data::gaussian(5000, 32, kSeed + 50, 3.0, 1.0);
    HostMat h = host_mat(x, 5000, 32, LSC_DTYPE_F32, 5);
    Spec g, c;
    EXPECT_TRUE(ok(spectrum_of(small, h.m(), g), small));
    ASSERT_EQ(spectrum_of(cpu, h.m(), c), LSC_STATUS_OK);
    EXPECT_TRUE(same_spectrum(g, c));
    // N < D over many column blocks
    auto w = data::gaussian(40, 3000, kSeed + 51);
    HostMat hw = host_mat(w, 40, 3000, LSC_DTYPE_F16, 1);
    EXPECT_TRUE(ok(spectrum_of(small, hw.m(), g), small));
    ASSERT_EQ(spectrum_of(cpu, hw.m(), c), LSC_STATUS_OK);
    EXPECT_TRUE(same_spectrum(g, c));
    // a workspace too small for one row is refused with the reason
    p.workspace_limit = 64;
    lsc_ctx *tiny = cuda_ctx(p);
    ASSERT_NE(tiny, nullptr);
    EXPECT_EQ(spectrum_of(tiny, h.m(), g), LSC_STATUS_WORKSPACE_LIMIT);
    EXPECT_TRUE(mentions(lsc_last_error(tiny), "workspace")) << lsc_last_error(tiny);
    lsc_ctx_destroy(tiny);
    lsc_ctx_destroy(small);
}

/* ---- distances ----------------------------------------------------------------------------------- */

TEST_F(Cuda, DistancesIntoHostAndDeviceMemory)
{
    const int64_t na = 300, nb = 200, d = 24, ld_out = nb + 7;
    auto a = data::gaussian(na, d, kSeed + 60);
    auto b = data::gaussian(nb, d, kSeed + 61, 0.2, 1.1);
    lsc_matrix am = lsc_matrix_f32(a.data(), na, d), bm = lsc_matrix_f32(b.data(), nb, d);
    DevMat da(drv, host_mat(a, na, d)), db(drv, host_mat(b, nb, d, LSC_DTYPE_F32, 2));
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_SQEUCLIDEAN, LSC_METRIC_COSINE}) {
        SCOPED_TRACE(metric);
        std::vector<float> c((size_t)(na * ld_out), -1.0f), g((size_t)(na * ld_out), -1.0f);
        ASSERT_EQ(lsc_distances(cpu, &am, &bm, metric, c.data(), ld_out, LSC_MEMORY_HOST),
                  LSC_STATUS_OK);
        ASSERT_TRUE(ok(lsc_distances(ctx, &am, &bm, metric, g.data(), ld_out, LSC_MEMORY_HOST)));
        DevBuf out(drv, (size_t)(na * ld_out) * sizeof(float));
        // all bits set (a NaN): the padding is read back below, and must come back untouched
        ASSERT_TRUE(drv.check(drv.cuMemsetD8(out.p, 0xff, out.bytes), "cuMemsetD8"));
        // the memset runs on the legacy stream, which lsc's own non-blocking stream does not wait
        // for: it must be done before lsc writes the block
        ASSERT_TRUE(drv.check(drv.cuCtxSynchronize(), "cuCtxSynchronize"));
        ASSERT_TRUE(ok(
            lsc_distances(ctx, &da.x, &db.x, metric, out.as<float>(), ld_out, LSC_MEMORY_DEVICE)));
        std::vector<float> gd = out.get<float>((size_t)(na * ld_out));
        for (int64_t i = 0; i < na; i++)
            for (int64_t j = nb; j < ld_out; j++)
                ASSERT_TRUE(std::isnan(gd[(size_t)(i * ld_out + j)])) << "device padding " << i;
        for (int64_t i = 0; i < na; i++)
            for (int64_t j = 0; j < nb; j++) {
                const double scale = sq_norms(a.data() + i * d, b.data() + j * d, d);
                double abs_tol = metric == LSC_METRIC_COSINE        ? 8e-6
                                 : metric == LSC_METRIC_SQEUCLIDEAN ? 8e-6 * scale
                                                                    : 4e-6 * std::sqrt(2 * scale);
                const size_t e = (size_t)(i * ld_out + j);
                ASSERT_PRED4(near_tol, g[e], c[e], 4e-5, abs_tol)
                    << "host output " << i << "," << j;
                ASSERT_PRED4(near_tol, gd[e], c[e], 4e-5, abs_tol)
                    << "device output " << i << "," << j;
            }
        for (int64_t i = 0; i < na; i++) // padding of the output rows is untouched
            for (int64_t j = nb; j < ld_out; j++) ASSERT_EQ(g[(size_t)(i * ld_out + j)], -1.0f);
    }
    // a self-distance is exactly 0
    std::vector<float> self((size_t)(na * na));
    ASSERT_TRUE(ok(
        lsc_distances(ctx, &da.x, &da.x, LSC_METRIC_EUCLIDEAN, self.data(), na, LSC_MEMORY_HOST)));
    for (int64_t i = 0; i < na; i++) EXPECT_EQ(self[(size_t)(i * na + i)], 0.0f) << i;
}

/* ---- all-pairs statistics --------------------------------------------------------------------------- */

TEST_F(Cuda, PairStatsMatchCpuWithSubsetHistogramAndNearDuplicates)
{
    for (const auto &ds : tall_sets(kSeed + 70)) {
        if (ds.name == "zero row") continue; // cosine below
        for (int variant = 0; variant < 4; variant++) {
            SCOPED_TRACE(ds.name + " variant " + std::to_string(variant));
            lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
            o.uniformity = variant != 3; // variant 3: not asked for, NaN on both
            if (variant == 1) {
                o.subset_rows = ds.n / 2 > 2 ? ds.n / 2 : 2;
                o.seed = 77;
            }
            if (variant == 2) {
                o.bins = 17;
                o.dup_eps = 0.5;
                o.dup_report = 7;
            }
            if (variant == 3) o.metric = LSC_METRIC_COSINE;
            lsc_matrix m = lsc_matrix_f32(ds.x.data(), ds.n, ds.d);
            DevMat dm(drv, host_mat(ds.x, ds.n, ds.d, LSC_DTYPE_F32, 1));
            lsc_pair_result g = LSC_PAIR_RESULT_INIT, gd = LSC_PAIR_RESULT_INIT,
                            c = LSC_PAIR_RESULT_INIT;
            std::vector<int64_t> hg((size_t)o.bins), hgd((size_t)o.bins), hc((size_t)o.bins);
            std::vector<lsc_pair> pg((size_t)o.dup_report + 1), pgd((size_t)o.dup_report + 1),
                pc((size_t)o.dup_report + 1);
            ASSERT_EQ(lsc_pair_stats(cpu, &m, &o, &c, hc.data(), pc.data()), LSC_STATUS_OK)
                << lsc_last_error(cpu);
            ASSERT_TRUE(ok(lsc_pair_stats(ctx, &m, &o, &g, hg.data(), pg.data())));
            ASSERT_TRUE(ok(lsc_pair_stats(ctx, &dm.x, &o, &gd, hgd.data(), pgd.data())));
            EXPECT_TRUE(same_pairs(g, c, hg, hc, pg, pc));
            EXPECT_TRUE(same_pairs(gd, c, hgd, hc, pgd, pc));
        }
    }
}

/* ---- kNN ------------------------------------------------------------------------------------------ */

TEST_F(Cuda, KnnEuclideanCosineSelfExcludedSmallAndLargeK)
{
    const int64_t nb = 1600, nq = 300, d = 8;
    auto base = data::with_duplicates(nb, d, kSeed + 80, {{0, 1}, {0, 2}, {10, 11}});
    auto qs = data::gaussian(nq, d, kSeed + 81);
    DevMat db(drv, host_mat(base, nb, d, LSC_DTYPE_F32, 3));
    DevMat dq(drv, host_mat(qs, nq, d));
    lsc_matrix bm = lsc_matrix_f32(base.data(), nb, d), qm = lsc_matrix_f32(qs.data(), nq, d);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        for (int self = 0; self < 2; self++)
            for (int64_t k : {(int64_t)1, (int64_t)5, (int64_t)1500}) {
                // the large-k selection sees values only: one metric runs it
                if (k == 1500 && metric == LSC_METRIC_COSINE) continue;
                SCOPED_TRACE(std::string(metric == LSC_METRIC_COSINE ? "cosine" : "euclidean") +
                             (self ? " self excluded" : "") + " k=" + std::to_string(k));
                lsc_knn_opts o = LSC_KNN_OPTS_INIT;
                o.metric = metric;
                o.exclude_self = self;
                const lsc_matrix *q = self ? &bm : &qm;
                const lsc_matrix *dqm = self ? &db.x : &dq.x;
                const int64_t rows = q->rows;
                std::vector<float> dc((size_t)(rows * k)), dg(dc.size());
                std::vector<int64_t> ic(dc.size()), ig(dc.size());
                ASSERT_EQ(lsc_knn(cpu, q, self ? nullptr : &bm, k, &o, dc.data(), ic.data()),
                          LSC_STATUS_OK)
                    << lsc_last_error(cpu);
                ASSERT_TRUE(ok(lsc_knn(ctx, q, self ? nullptr : &bm, k, &o, dg.data(), ig.data())));
                EXPECT_TRUE(same_knn(dg, ig, dc, ic, k));
                refnn::Knn w = refnn::knn(self ? base.data() : qs.data(), rows, base.data(), nb, d,
                                          k, metric, self);
                EXPECT_EQ(refnn::check_knn(w, self ? base.data() : qs.data(), base.data(), d,
                                           metric, self, dg.data(), ig.data()),
                          "");
                // device inputs, device outputs
                lsc_knn_opts od = o;
                od.out_memory = LSC_MEMORY_DEVICE;
                DevBuf ddist(drv, dc.size() * sizeof(float)),
                    didx(drv, dc.size() * sizeof(int64_t));
                ASSERT_TRUE(ok(lsc_knn(ctx, dqm, self ? nullptr : &db.x, k, &od, ddist.as<float>(),
                                       didx.as<int64_t>())));
                EXPECT_EQ(ddist.get<float>(dc.size()), dg);
                EXPECT_EQ(didx.get<int64_t>(dc.size()), ig);
            }
}

// TwoNN and hubness ride on the kNN pass: on the device the same neighbours, so the same counts
// (hubness equal) and the same ratios within kNN's 1e-6 (TwoNN within 1e-5 relative).
TEST_F(Cuda, TwoNNAndHubnessMatchTheCpu)
{
    const int64_t n = 260, d = 8;
    auto x = data::with_duplicates(n, d, kSeed + 90, {{0, 1}, {5, 9}, {5, 77}});
    auto q = data::gaussian(90, d, kSeed + 91);
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d), mq = lsc_matrix_f32(q.data(), 90, d);
    lsc_twonn_opts to = LSC_TWONN_OPTS_INIT;
    for (int64_t max_rows : {(int64_t)0, (int64_t)120}) {
        SCOPED_TRACE("max_rows " + std::to_string(max_rows));
        to.max_rows = max_rows;
        lsc_twonn_result c = LSC_TWONN_RESULT_INIT, g = LSC_TWONN_RESULT_INIT;
        ASSERT_EQ(lsc_twonn(cpu, &m, &to, &c), LSC_STATUS_OK) << lsc_last_error(cpu);
        ASSERT_TRUE(ok(lsc_twonn(ctx, &m, &to, &g)));
        EXPECT_EQ(c.distinct_rows, g.distinct_rows);
        EXPECT_EQ(n - 3, g.distinct_rows); // rows 1, 9 and 77 copy rows 0 and 5
        EXPECT_EQ(c.rows_used, g.rows_used);
        EXPECT_EQ(c.points_fitted, g.points_fitted);
        EXPECT_TRUE(ref::close(g.dimension, c.dimension, 1e-5, 0.0))
            << g.dimension << " vs " << c.dimension;
    }
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        for (int with_queries = 0; with_queries < 2; with_queries++) {
            SCOPED_TRACE(std::string(metric == LSC_METRIC_COSINE ? "cosine" : "euclidean") +
                         (with_queries ? " queries" : " within"));
            lsc_hubness_opts ho = LSC_HUBNESS_OPTS_INIT;
            ho.metric = metric;
            ho.max_rows = 200;
            lsc_hubness_result c = LSC_HUBNESS_RESULT_INIT, g = LSC_HUBNESS_RESULT_INIT;
            const lsc_matrix *qq = with_queries ? &mq : nullptr;
            ASSERT_EQ(lsc_hubness(cpu, &m, qq, &ho, &c), LSC_STATUS_OK) << lsc_last_error(cpu);
            ASSERT_TRUE(ok(lsc_hubness(ctx, &m, qq, &ho, &g)));
            EXPECT_EQ(c.skewness, g.skewness);
            EXPECT_EQ(c.robin_hood, g.robin_hood);
            EXPECT_EQ(c.max_occurrence, g.max_occurrence);
            EXPECT_EQ(c.antihubs, g.antihubs);
            EXPECT_EQ(c.base_rows, g.base_rows);
            EXPECT_EQ(c.query_rows, g.query_rows);
        }
}

/* ---- references and PRDC ----------------------------------------------------------------------------- */

TEST_F(Cuda, ReferenceAndPrdcStrictInclusiveAndAReferenceLoadedFromACpuFile)
{
    const int64_t n = 300, m = 250, d = 16, k = 5;
    auto real = data::gaussian(n, d, kSeed + 90);
    auto fake =
        data::with_duplicates(m, d, kSeed + 91, {{0, 1}, {0, 2}, {0, 3}, {0, 4}, {0, 5}, {0, 6}});
    for (auto &v : fake) v = v * 1.1f + 0.2f;
    lsc_matrix rm = lsc_matrix_f32(real.data(), n, d), fm = lsc_matrix_f32(fake.data(), m, d);
    DevMat dfake(drv, host_mat(fake, m, d, LSC_DTYPE_F32, 4));
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        for (lsc_comparison cmp : {LSC_COMPARISON_STRICT, LSC_COMPARISON_INCLUSIVE}) {
            SCOPED_TRACE(std::to_string(metric) + "/" + std::to_string(cmp));
            lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
            o.metric = metric;
            o.comparison = cmp;
            lsc_reference *cref = nullptr, *gref = nullptr, *loaded = nullptr;
            ASSERT_EQ(lsc_reference_create(cpu, &rm, k, &o, &cref), LSC_STATUS_OK)
                << lsc_last_error(cpu);
            ASSERT_TRUE(ok(lsc_reference_create(ctx, &rm, k, &o, &gref)));
            const double *ra = lsc_reference_radii(gref), *rb = lsc_reference_radii(cref);
            for (int64_t i = 0; i < n; i++) ASSERT_PRED3(near_rel, ra[i], rb[i], 2e-6) << i;
            const std::string path =
                ::testing::TempDir() + "lsc_cuda_ref_" + std::to_string(getpid()) + ".lscref";
            ASSERT_EQ(lsc_reference_save(cpu, cref, path.c_str()), LSC_STATUS_OK)
                << lsc_last_error(cpu);
            ASSERT_TRUE(ok(lsc_reference_load(ctx, path.c_str(), &loaded)));
            std::remove(path.c_str());
            lsc_prdc_result c = LSC_PRDC_RESULT_INIT, g1 = LSC_PRDC_RESULT_INIT,
                            g2 = LSC_PRDC_RESULT_INIT, g3 = LSC_PRDC_RESULT_INIT;
            ASSERT_EQ(lsc_prdc(cpu, cref, &fm, &c), LSC_STATUS_OK) << lsc_last_error(cpu);
            ASSERT_TRUE(ok(lsc_prdc(ctx, gref, &fm, &g1)));
            ASSERT_TRUE(ok(lsc_prdc(ctx, loaded, &fm, &g2)));
            ASSERT_TRUE(ok(lsc_prdc(ctx, loaded, &dfake.x, &g3)));
            EXPECT_TRUE(same_prdc(g1, c));
            EXPECT_TRUE(same_prdc(g2, c));
            EXPECT_TRUE(same_prdc(g3, c));
            refnn::Prdc w = refnn::prdc(real.data(), n, fake.data(), m, d, k, metric,
                                        cmp == LSC_COMPARISON_INCLUSIVE);
            EXPECT_EQ(refnn::check_prdc(w, g2), "");
            lsc_reference_destroy(cref);
            lsc_reference_destroy(gref);
            lsc_reference_destroy(loaded);
        }
}

// Magnitudes at the ends of float32's range, as the CPU suites test them: near 1e-20 the GEMM's
// products are subnormal (lsc_fast_err's absolute term covers them; the CPU got wrong neighbours
// without it), near 1e19 a float32 product can overflow (every backend then decides the pair on
// its exact value: lsc_fast_v / lsc_fast_err in common/distance_rules.h). kNN and PRDC against the
// float64 reference, pair statistics and distance blocks against the CPU backend.
TEST_F(Cuda, TinyAndHugeMagnitudesMatchTheReference)
{
    const int64_t n = 400, m = 90, d = 48, k = 6;
    for (double scale : data::kExtremeScales) {
        SCOPED_TRACE(scale);
        auto x = data::scaled(data::gaussian(n, d, kSeed + 95), scale);
        auto q = data::scaled(data::gaussian(m, d, kSeed + 96, 0.2, 1.0), scale);
        lsc_matrix xm = lsc_matrix_f32(x.data(), n, d), qm = lsc_matrix_f32(q.data(), m, d);
        for (int self = 0; self < 2; self++) {
            SCOPED_TRACE(self ? "self excluded" : "queries");
            lsc_knn_opts o = LSC_KNN_OPTS_INIT;
            o.exclude_self = self;
            const int64_t rows = self ? n : m;
            std::vector<float> dg((size_t)(rows * k));
            std::vector<int64_t> ig(dg.size());
            ASSERT_TRUE(ok(
                lsc_knn(ctx, self ? &xm : &qm, self ? nullptr : &xm, k, &o, dg.data(), ig.data())));
            refnn::Knn w = refnn::knn(self ? x.data() : q.data(), rows, x.data(), n, d, k,
                                      LSC_METRIC_EUCLIDEAN, self);
            EXPECT_EQ(refnn::check_knn(w, self ? x.data() : q.data(), x.data(), d,
                                       LSC_METRIC_EUCLIDEAN, self, dg.data(), ig.data()),
                      "");
        }
        lsc_reference *ref = nullptr;
        ASSERT_TRUE(ok(lsc_reference_create(ctx, &xm, 5, nullptr, &ref)));
        lsc_prdc_result g = LSC_PRDC_RESULT_INIT;
        ASSERT_TRUE(ok(lsc_prdc(ctx, ref, &qm, &g)));
        lsc_reference_destroy(ref);
        refnn::Prdc w = refnn::prdc(x.data(), n, q.data(), m, d, 5, LSC_METRIC_EUCLIDEAN, false);
        EXPECT_EQ(refnn::check_prdc(w, g), "");

        lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
        po.uniformity = 1;
        po.dup_eps = 0.05 * scale;
        po.dup_report = 5;
        lsc_pair_result pg = LSC_PAIR_RESULT_INIT, pc = LSC_PAIR_RESULT_INIT;
        std::vector<int64_t> hg((size_t)po.bins), hc((size_t)po.bins);
        std::vector<lsc_pair> dg((size_t)po.dup_report + 1), dc((size_t)po.dup_report + 1);
        ASSERT_EQ(lsc_pair_stats(cpu, &xm, &po, &pc, hc.data(), dc.data()), LSC_STATUS_OK)
            << lsc_last_error(cpu);
        ASSERT_TRUE(ok(lsc_pair_stats(ctx, &xm, &po, &pg, hg.data(), dg.data())));
        EXPECT_TRUE(same_pairs(pg, pc, hg, hc, dg, dc, 1e-12 * scale)); // at the data's scale

        std::vector<float> bc((size_t)(m * n)), bg((size_t)(m * n));
        ASSERT_EQ(lsc_distances(cpu, &qm, &xm, LSC_METRIC_EUCLIDEAN, bc.data(), n, LSC_MEMORY_HOST),
                  LSC_STATUS_OK);
        ASSERT_TRUE(
            ok(lsc_distances(ctx, &qm, &xm, LSC_METRIC_EUCLIDEAN, bg.data(), n, LSC_MEMORY_HOST)));
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                const double sq = sq_norms(q.data() + i * d, x.data() + j * d, d);
                const size_t e = (size_t)(i * n + j);
                ASSERT_TRUE(std::isfinite(bg[e])) << i << "," << j;
                ASSERT_PRED4(near_tol, bg[e], bc[e], 4e-5, 4e-6 * std::sqrt(2 * sq))
                    << i << "," << j;
            }
    }
}

/* ---- asynchronous forms ---------------------------------------------------------------------------- */

// Synchronises `s` and reads a device or pinned struct.
template <class T>
T read_back(Driver &drv, Driver::CUstream s, const void *p, bool pinned)
{
    T v;
    EXPECT_TRUE(drv.check(drv.cuStreamSynchronize(s), "cuStreamSynchronize")) << drv.error;
    if (pinned) {
        std::memcpy(&v, p, sizeof v);
    } else {
        EXPECT_TRUE(drv.download(&v, (Driver::CUdeviceptr)(uintptr_t)p, sizeof v)) << drv.error;
    }
    return v;
}

TEST_F(Cuda, SpectrumAsyncIntoDeviceAndPinnedMemory)
{
    Driver::CUstream s = new_stream();
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, s)));
    std::vector<DataSet> sets = tall_sets(kSeed + 100);
    for (auto &w : wide_sets(kSeed + 101)) sets.push_back(w);
    for (const auto &ds : sets) {
        SCOPED_TRACE(ds.name + " " + std::to_string(ds.n) + "x" + std::to_string(ds.d));
        HostMat h = host_mat(ds.x, ds.n, ds.d, LSC_DTYPE_F32, 2);
        DevMat dm(drv, h);
        Spec c;
        ASSERT_TRUE(ok(spectrum_of(ctx, dm.x, c)));
        for (int pinned = 0; pinned < 2; pinned++) {
            DevBuf dout(drv, sizeof(lsc_spectrum_result)), dst(drv, sizeof(lsc_async_status));
            ASSERT_TRUE(dout.result<lsc_spectrum_result>()) << drv.error;
            PinnedBuf pout(drv, sizeof(lsc_spectrum_result)), pst(drv, sizeof(lsc_async_status));
            pout.result<lsc_spectrum_result>();
            lsc_spectrum_result *out =
                pinned ? (lsc_spectrum_result *)pout.p : dout.as<lsc_spectrum_result>();
            lsc_async_status *st = pinned ? (lsc_async_status *)pst.p : dst.as<lsc_async_status>();
            ASSERT_TRUE(ok(lsc_spectrum_async(ctx, &dm.x, nullptr, out, st)));
            lsc_spectrum_result r = read_back<lsc_spectrum_result>(drv, s, out, pinned);
            lsc_async_status a = read_back<lsc_async_status>(drv, s, st, pinned);
            EXPECT_EQ(a.status, LSC_STATUS_OK);
            EXPECT_EQ(a.row, -1);
            EXPECT_EQ(a.col, -1);
            // a different eigensolver than the synchronous call's: agreement within 2x tolerances
            EXPECT_TRUE(same_figures(r, c.r));
        }
    }
    // status may be NULL; an active threshold is honoured
    auto x = data::gaussian(200, 10, kSeed + 102);
    DevMat dm(drv, host_mat(x, 200, 10));
    lsc_spectrum_opts o = LSC_SPECTRUM_OPTS_INIT;
    o.active_threshold = 0.9;
    DevBuf dout(drv, sizeof(lsc_spectrum_result));
    ASSERT_TRUE(dout.result<lsc_spectrum_result>()) << drv.error;
    ASSERT_TRUE(ok(lsc_spectrum_async(ctx, &dm.x, &o, dout.as<lsc_spectrum_result>(), nullptr)));
    lsc_spectrum_result r = read_back<lsc_spectrum_result>(drv, s, dout.ptr(), false);
    Spec c;
    ASSERT_EQ(spectrum_of(cpu, lsc_matrix_f32(x.data(), 200, 10), c, &o), LSC_STATUS_OK);
    EXPECT_TRUE(same_figures(r, c.r));
    // pageable host memory is refused for out, host memory for the input
    lsc_spectrum_result host_out = LSC_SPECTRUM_RESULT_INIT;
    EXPECT_EQ(lsc_spectrum_async(ctx, &dm.x, nullptr, &host_out, nullptr),
              LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "out")) << lsc_last_error(ctx);
    lsc_matrix hm = lsc_matrix_f32(x.data(), 200, 10);
    EXPECT_EQ(lsc_spectrum_async(ctx, &hm, nullptr, dout.as<lsc_spectrum_result>(), nullptr),
              LSC_STATUS_NOT_SUPPORTED);
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, nullptr)));
}

TEST_F(Cuda, PrdcAsyncIntoDeviceAndPinnedMemory)
{
    Driver::CUstream s = new_stream();
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, s)));
    const int64_t n = 400, m = 300, d = 12, k = 5;
    auto real = data::gaussian(n, d, kSeed + 110);
    auto fake = data::gaussian(m, d, kSeed + 111, 0.3, 1.0);
    lsc_matrix rm = lsc_matrix_f32(real.data(), n, d), fm = lsc_matrix_f32(fake.data(), m, d);
    for (lsc_comparison cmp : {LSC_COMPARISON_STRICT, LSC_COMPARISON_INCLUSIVE}) {
        lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
        o.comparison = cmp;
        lsc_reference *ref = nullptr;
        ASSERT_EQ(lsc_reference_create(cpu, &rm, k, &o, &ref), LSC_STATUS_OK);
        lsc_prdc_result c = LSC_PRDC_RESULT_INIT;
        ASSERT_EQ(lsc_prdc(cpu, ref, &fm, &c), LSC_STATUS_OK);
        for (lsc_dtype dt : kDtypes) {
            SCOPED_TRACE(std::string(dtype_name(dt)) + (cmp ? " inclusive" : " strict"));
            HostMat h = host_mat(fake, m, d, dt, 1);
            DevMat dm(drv, h);
            lsc_prdc_result want = LSC_PRDC_RESULT_INIT;
            lsc_matrix hm = h.m();
            ASSERT_EQ(lsc_prdc(cpu, ref, &hm, &want), LSC_STATUS_OK);
            if (dt == LSC_DTYPE_F32) {
                EXPECT_TRUE(same_prdc(want, c));
            }
            for (int pinned = 0; pinned < 2; pinned++) {
                DevBuf dout(drv, sizeof(lsc_prdc_result)), dst(drv, sizeof(lsc_async_status));
                ASSERT_TRUE(dout.result<lsc_prdc_result>()) << drv.error;
                PinnedBuf pout(drv, sizeof(lsc_prdc_result)), pst(drv, sizeof(lsc_async_status));
                pout.result<lsc_prdc_result>();
                lsc_prdc_result *out =
                    pinned ? (lsc_prdc_result *)pout.p : dout.as<lsc_prdc_result>();
                lsc_async_status *st =
                    pinned ? (lsc_async_status *)pst.p : dst.as<lsc_async_status>();
                ASSERT_TRUE(ok(lsc_prdc_async(ctx, ref, &dm.x, out, st)));
                lsc_prdc_result r = read_back<lsc_prdc_result>(drv, s, out, pinned);
                lsc_async_status a = read_back<lsc_async_status>(drv, s, st, pinned);
                EXPECT_EQ(a.status, LSC_STATUS_OK);
                EXPECT_EQ(a.row, -1);
                EXPECT_TRUE(same_prdc(r, want));
            }
        }
        lsc_reference_destroy(ref);
    }
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, nullptr)));
}

TEST_F(Cuda, AsyncResultsHonourTheCallersSize)
{
    // the device reads the caller's size from the result struct itself: an older caller's
    // struct is written only as far as its size, a newer one's tail is zeroed, and an unknown
    // size writes nothing and is reported through the status
    Driver::CUstream s = new_stream();
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, s)));
    const int64_t n = 200, m = 150, d = 8, k = 5;
    auto real = data::gaussian(n, d, kSeed + 115);
    auto fake = data::gaussian(m, d, kSeed + 116);
    lsc_matrix rm = lsc_matrix_f32(real.data(), n, d), fm = lsc_matrix_f32(fake.data(), m, d);
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(cpu, &rm, k, nullptr, &ref), LSC_STATUS_OK);
    lsc_prdc_result want = LSC_PRDC_RESULT_INIT;
    ASSERT_EQ(lsc_prdc(cpu, ref, &fm, &want), LSC_STATUS_OK);
    HostMat h = host_mat(fake, m, d, LSC_DTYPE_F32, 1);
    DevMat dm(drv, h);
    const size_t old_size = offsetof(lsc_prdc_result, coverage_expected), bytes = 256;
    struct Case {
        size_t size;
        bool written;
    } cases[] = {
        {old_size, true}, {sizeof(lsc_prdc_result) + 16, true}, {0, false}, {old_size + 4, false}};
    for (const auto &c : cases) {
        SCOPED_TRACE(c.size);
        std::vector<unsigned char> init(bytes, 0xC3);
        std::memcpy(init.data(), &c.size, sizeof c.size);
        DevBuf out(drv, init.data(), bytes), st(drv, sizeof(lsc_async_status));
        ASSERT_TRUE(ok(
            lsc_prdc_async(ctx, ref, &dm.x, out.as<lsc_prdc_result>(), st.as<lsc_async_status>())));
        lsc_async_status a = read_back<lsc_async_status>(drv, s, st.ptr(), false);
        std::vector<unsigned char> got = out.get<unsigned char>(bytes);
        const unsigned char *w = reinterpret_cast<const unsigned char *>(&want);
        if (c.written) {
            EXPECT_EQ(a.status, LSC_STATUS_OK);
            const size_t ours = std::min(c.size, sizeof want);
            EXPECT_EQ(std::memcmp(got.data(), &c.size, sizeof c.size), 0) << "size kept";
            EXPECT_EQ(std::memcmp(got.data() + 8, w + 8, ours - 8), 0) << "our fields";
            for (size_t i = ours; i < c.size; i++) EXPECT_EQ(got[i], 0) << "tail byte " << i;
            for (size_t i = c.size; i < bytes; i++) EXPECT_EQ(got[i], 0xC3) << "byte " << i;
        } else {
            EXPECT_EQ(a.status, LSC_STATUS_INVALID_ARGUMENT);
            for (size_t i = 8; i < bytes; i++) EXPECT_EQ(got[i], 0xC3) << "byte " << i;
        }
    }
    lsc_reference_destroy(ref);
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, nullptr)));
}

TEST_F(Cuda, VerdictsEqualTheCpusVerdicts)
{
    // lsc_assess runs on the context's backend through the public operations: the same levels
    // as the CPU backend, and every statistic within the tolerances of docs/METRICS.md
    const int64_t n = 400, m = 200, d = 12;
    auto real = data::gaussian(n, d, kSeed + 140);
    auto healthy = data::gaussian(m, d, kSeed + 141);
    auto narrow = data::gaussian(m, d, kSeed + 142, 0.0, 0.3); // a quarter of the spread
    // a third copies of real rows, some exact, some moved a little: the copy tests decide
    auto copies = healthy;
    for (int64_t j = 0; j < m / 3; j++)
        for (int64_t c = 0; c < d; c++)
            copies[(size_t)(j * d + c)] =
                real[(size_t)((7 * j % n) * d + c)] + (j % 2 ? 1e-3f * (float)(c % 3) : 0.0f);
    lsc_matrix rm = lsc_matrix_f32(real.data(), n, d);
    // with labels, each generated row's nearest reference row is searched for its class; without
    // (the copies), the copy tests ride on the PRDC pass
    const std::pair<const std::vector<float> *, int> cases[] = {
        {&healthy, 1}, {&narrow, 1}, {&copies, 0}};
    for (const auto &[fake, labelled] : cases) {
        SCOPED_TRACE(labelled ? "labels" : "no labels (copies fused into the PRDC pass)");
        lsc_matrix fm = lsc_matrix_f32(fake->data(), m, d);
        lsc_reference *rc = nullptr, *rg = nullptr;
        ASSERT_EQ(lsc_reference_create(cpu, &rm, 5, nullptr, &rc), LSC_STATUS_OK);
        ASSERT_TRUE(ok(lsc_reference_create(ctx, &rm, 5, nullptr, &rg)));
        // with labels (four bands of the first column): the classes and the uncovered rows too
        std::vector<int64_t> labels((size_t)n);
        for (int64_t i = 0; i < n; i++) {
            const float x = real[(size_t)(i * d)];
            labels[(size_t)i] = x < -0.7f ? 0 : x < 0.0f ? 1 : x < 0.7f ? 2 : 3;
        }
        lsc_assess_opts ao = LSC_ASSESS_OPTS_INIT;
        ao.real_labels = labelled ? labels.data() : nullptr;
        ao.near_distance = labelled ? -1.0 : 0.01;
        lsc_assessment *ac = nullptr, *ag = nullptr;
        ASSERT_EQ(lsc_assess(cpu, rc, &fm, &ao, &ac), LSC_STATUS_OK) << lsc_last_error(cpu);
        ASSERT_TRUE(ok(lsc_assess(ctx, rg, &fm, &ao, &ag)));
        EXPECT_EQ(lsc_assessment_near_rows(ag), lsc_assessment_near_rows(ac));
        if (fake == &copies) {
            EXPECT_EQ(lsc_assessment_near_rows(ac), labelled ? -1 : m / 3);
        }
        ASSERT_EQ(lsc_assessment_class_count(ag), labelled ? 4 : 0);
        for (int64_t c = 0; c < (labelled ? 4 : 0); c++) {
            lsc_class_verdict xc = LSC_CLASS_VERDICT_INIT, xg = LSC_CLASS_VERDICT_INIT;
            ASSERT_EQ(lsc_assessment_class(ac, c, &xc), LSC_STATUS_OK);
            ASSERT_EQ(lsc_assessment_class(ag, c, &xg), LSC_STATUS_OK);
            EXPECT_EQ(xg.level, xc.level) << c;
            EXPECT_EQ(xg.share_level, xc.share_level) << c;
            EXPECT_EQ(xg.coverage, xc.coverage) << c; // exact decisions: the same rows
            EXPECT_EQ(xg.matched, xc.matched) << c;
        }
        int64_t uc = -1, ug = -2;
        std::vector<int64_t> rows_c((size_t)n), rows_g((size_t)n);
        ASSERT_EQ(lsc_assessment_uncovered(ac, rows_c.data(), n, &uc), LSC_STATUS_OK);
        ASSERT_EQ(lsc_assessment_uncovered(ag, rows_g.data(), n, &ug), LSC_STATUS_OK);
        EXPECT_EQ(ug, uc);
        // the same rows; their order rests on kNN distances equal within tolerance, not bits
        rows_c.resize((size_t)std::max<int64_t>(uc, 0));
        rows_g.resize(rows_c.size());
        std::sort(rows_c.begin(), rows_c.end());
        std::sort(rows_g.begin(), rows_g.end());
        EXPECT_EQ(rows_g, rows_c);
        for (int c = 0; c < LSC_CHECK_COUNT; c++) {
            lsc_verdict vc = LSC_VERDICT_INIT, vg = LSC_VERDICT_INIT;
            ASSERT_EQ(lsc_assessment_verdict(ac, (lsc_check)c, &vc), LSC_STATUS_OK);
            ASSERT_EQ(lsc_assessment_verdict(ag, (lsc_check)c, &vg), LSC_STATUS_OK);
            SCOPED_TRACE(lsc_check_name((lsc_check)c));
            EXPECT_EQ(vg.level, vc.level) << vg.why << " | cpu: " << vc.why;
            EXPECT_NEAR(vg.matched, vc.matched, 4e-4 * std::fabs(vc.matched) + 1e-9);
            EXPECT_NEAR(vg.baseline, vc.baseline, 4e-4 * std::fabs(vc.baseline) + 1e-9);
        }
        EXPECT_EQ(lsc_assessment_level(ag), lsc_assessment_level(ac));
        lsc_assessment_destroy(ac);
        lsc_assessment_destroy(ag);
        lsc_reference_destroy(rc);
        lsc_reference_destroy(rg);
    }
}

TEST_F(Cuda, AsyncFormsReplayFromACudaGraph)
{
    // a caller's stream, a warm-up call of the same shapes, then capture (global mode: any
    // call that may synchronise or allocate would invalidate the capture)
    Driver::CUstream s = new_stream();
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, s)));
    const int64_t n = 500, m = 300, d = 16, k = 5, nw = 20, dw = 60;
    auto real = data::gaussian(n, d, kSeed + 120);
    auto x1 = data::gaussian(m, d, kSeed + 121, 0.1, 1.0);
    auto x2 = data::rank_k(m, d, 4, kSeed + 122, 2.0);
    auto w1 = data::gaussian(nw, dw, kSeed + 123);
    auto w2 = data::rank_k(nw, dw, 3, kSeed + 124);
    lsc_matrix rm = lsc_matrix_f32(real.data(), n, d);
    lsc_reference *ref = nullptr, *dref = nullptr;
    ASSERT_EQ(lsc_reference_create(cpu, &rm, k, nullptr, &ref), LSC_STATUS_OK);
    ASSERT_TRUE(ok(lsc_reference_to_device(ctx, ref, &dref)));
    DevMat dx(drv, host_mat(x1, m, d)), dw_(drv, host_mat(w1, nw, dw));
    DevBuf spec_out(drv, sizeof(lsc_spectrum_result)), spec_st(drv, sizeof(lsc_async_status));
    ASSERT_TRUE(spec_out.result<lsc_spectrum_result>()) << drv.error;
    DevBuf wide_out(drv, sizeof(lsc_spectrum_result)), wide_st(drv, sizeof(lsc_async_status));
    ASSERT_TRUE(wide_out.result<lsc_spectrum_result>()) << drv.error;
    DevBuf prdc_out(drv, sizeof(lsc_prdc_result)), prdc_st(drv, sizeof(lsc_async_status));
    ASSERT_TRUE(prdc_out.result<lsc_prdc_result>()) << drv.error;
    auto enqueue = [&]() {
        lsc_status a = lsc_spectrum_async(ctx, &dx.x, nullptr, spec_out.as<lsc_spectrum_result>(),
                                          spec_st.as<lsc_async_status>());
        lsc_status b = lsc_spectrum_async(ctx, &dw_.x, nullptr, wide_out.as<lsc_spectrum_result>(),
                                          wide_st.as<lsc_async_status>());
        lsc_status c = lsc_prdc_async(ctx, dref, &dx.x, prdc_out.as<lsc_prdc_result>(),
                                      prdc_st.as<lsc_async_status>());
        return std::vector<lsc_status>{a, b, c};
    };
    for (lsc_status st : enqueue()) ASSERT_TRUE(ok(st)); // warm-up: grows the workspace
    ASSERT_TRUE(drv.check(drv.cuStreamSynchronize(s), "cuStreamSynchronize")) << drv.error;

    ASSERT_TRUE(drv.check(drv.cuStreamBeginCapture(s, 0 /* CU_STREAM_CAPTURE_MODE_GLOBAL */),
                          "cuStreamBeginCapture"))
        << drv.error;
    std::vector<lsc_status> captured = enqueue();
    std::string why = lsc_last_error(ctx);
    Driver::CUgraph graph = nullptr;
    const bool ended = drv.check(drv.cuStreamEndCapture(s, &graph), "cuStreamEndCapture");
    for (lsc_status st : captured) ASSERT_EQ(st, LSC_STATUS_OK) << "during capture: " << why;
    ASSERT_TRUE(ended) << drv.error << " (a call enqueued something that cannot be captured)";
    Driver::CUgraphExec exec = nullptr;
    ASSERT_TRUE(drv.check(drv.cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiate"))
        << drv.error;

    // replay on new data of the same shapes: the graph reads the buffers when it runs
    for (int round = 0; round < 2; round++) {
        const auto &x = round ? x2 : x1;
        const auto &w = round ? w2 : w1;
        ASSERT_TRUE(dx.buf.put(x.data(), x.size() * sizeof(float)));
        ASSERT_TRUE(dw_.buf.put(w.data(), w.size() * sizeof(float)));
        ASSERT_TRUE(spec_out.result<lsc_spectrum_result>()) << drv.error;
        ASSERT_TRUE(prdc_out.result<lsc_prdc_result>()) << drv.error;
        ASSERT_TRUE(drv.check(drv.cuCtxSynchronize(), "cuCtxSynchronize"));
        ASSERT_TRUE(drv.check(drv.cuGraphLaunch(exec, s), "cuGraphLaunch")) << drv.error;
        lsc_spectrum_result r = read_back<lsc_spectrum_result>(drv, s, spec_out.ptr(), false);
        lsc_spectrum_result rw = read_back<lsc_spectrum_result>(drv, s, wide_out.ptr(), false);
        lsc_prdc_result p = read_back<lsc_prdc_result>(drv, s, prdc_out.ptr(), false);
        for (DevBuf *b : {&spec_st, &wide_st, &prdc_st}) {
            lsc_async_status a = read_back<lsc_async_status>(drv, s, b->ptr(), false);
            EXPECT_EQ(a.status, LSC_STATUS_OK) << "round " << round;
        }
        // the answers from the CPU context: a synchronous call on ctx between replays could
        // grow (free and reallocate) the workspace the captured graph reads and writes
        lsc_matrix hx = lsc_matrix_f32(x.data(), m, d), hw = lsc_matrix_f32(w.data(), nw, dw);
        Spec c, cw;
        lsc_prdc_result pc = LSC_PRDC_RESULT_INIT;
        ASSERT_EQ(spectrum_of(cpu, hx, c), LSC_STATUS_OK) << lsc_last_error(cpu);
        ASSERT_EQ(spectrum_of(cpu, hw, cw), LSC_STATUS_OK) << lsc_last_error(cpu);
        ASSERT_EQ(lsc_prdc(cpu, ref, &hx, &pc), LSC_STATUS_OK) << lsc_last_error(cpu);
        EXPECT_TRUE(same_figures(r, c.r)) << "round " << round;
        EXPECT_TRUE(same_figures(rw, cw.r)) << "round " << round;
        EXPECT_TRUE(same_prdc(p, pc)) << "round " << round;
    }
    drv.cuGraphExecDestroy(exec);
    drv.cuGraphDestroy(graph);

    // a host reference would be copied to the device during the capture: refused, saying what
    // to do, before anything is enqueued (the capture stays valid)
    ASSERT_TRUE(drv.check(drv.cuStreamBeginCapture(s, 0), "cuStreamBeginCapture")) << drv.error;
    lsc_status host_ref = lsc_prdc_async(ctx, ref, &dx.x, prdc_out.as<lsc_prdc_result>(),
                                         prdc_st.as<lsc_async_status>());
    why = lsc_last_error(ctx);
    graph = nullptr;
    EXPECT_TRUE(drv.check(drv.cuStreamEndCapture(s, &graph), "cuStreamEndCapture")) << drv.error;
    if (graph) drv.cuGraphDestroy(graph);
    EXPECT_EQ(host_ref, LSC_STATUS_NOT_SUPPORTED) << why;
    EXPECT_NE(why.find("lsc_reference_to_device"), std::string::npos) << why;
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, nullptr)));
    lsc_reference_destroy(dref);
    lsc_reference_destroy(ref);
}

// A warm-up without a status must still grow everything a captured call with one needs: the
// value check's scratch too (lsc.h, section 8: same shapes, then safe under capture).
TEST_F(Cuda, AWarmUpWithoutAStatusPreparesACapturedCallWithOne)
{
    Driver::CUstream s = new_stream();
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, s)));
    const int64_t n = 200, d = 8;
    auto x = data::gaussian(n, d, kSeed + 125);
    DevMat dx(drv, host_mat(x, n, d));
    DevBuf out(drv, sizeof(lsc_spectrum_result)), st(drv, sizeof(lsc_async_status));
    ASSERT_TRUE(out.result<lsc_spectrum_result>()) << drv.error;
    ASSERT_TRUE(
        ok(lsc_spectrum_async(ctx, &dx.x, nullptr, out.as<lsc_spectrum_result>(), nullptr)));
    ASSERT_TRUE(drv.check(drv.cuStreamSynchronize(s), "cuStreamSynchronize")) << drv.error;
    ASSERT_TRUE(drv.check(drv.cuStreamBeginCapture(s, 0 /* CU_STREAM_CAPTURE_MODE_GLOBAL */),
                          "cuStreamBeginCapture"))
        << drv.error;
    lsc_status got = lsc_spectrum_async(ctx, &dx.x, nullptr, out.as<lsc_spectrum_result>(),
                                        st.as<lsc_async_status>());
    std::string why = lsc_last_error(ctx);
    Driver::CUgraph graph = nullptr;
    const bool ended = drv.check(drv.cuStreamEndCapture(s, &graph), "cuStreamEndCapture");
    EXPECT_EQ(got, LSC_STATUS_OK) << "during capture: " << why;
    EXPECT_TRUE(ended) << drv.error;
    if (graph) drv.cuGraphDestroy(graph);
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, nullptr)));
}

/* ---- streams ---------------------------------------------------------------------------------------- */

TEST_F(Cuda, UserStreamsBetweenCalls)
{
    const int64_t n = 400, d = 12, k = 4;
    auto x = data::gaussian(n, d, kSeed + 130);
    DevMat dm(drv, host_mat(x, n, d));
    Driver::CUstream a = new_stream(), b = new_stream();
    std::vector<Driver::CUstream> order = {a, b, nullptr, a};
    Spec first;
    std::vector<float> first_d;
    std::vector<int64_t> first_i;
    for (size_t t = 0; t < order.size(); t++) {
        SCOPED_TRACE(t);
        ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, order[t])));
        Spec g;
        ASSERT_TRUE(ok(spectrum_of(ctx, dm.x, g)));
        lsc_knn_opts o = LSC_KNN_OPTS_INIT;
        o.exclude_self = 1;
        std::vector<float> dist((size_t)(n * k));
        std::vector<int64_t> idx(dist.size());
        ASSERT_TRUE(ok(lsc_knn(ctx, &dm.x, nullptr, k, &o, dist.data(), idx.data())));
        if (t == 0) {
            first = g;
            first_d = dist;
            first_i = idx;
        } else {
            EXPECT_EQ(std::memcmp(&g.r, &first.r, sizeof g.r), 0);
            EXPECT_EQ(g.sv, first.sv);
            EXPECT_EQ(dist, first_d);
            EXPECT_EQ(idx, first_i);
        }
    }
    // a context created on a caller's stream, destroyed while the stream still exists
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.stream = a;
    lsc_ctx *c2 = cuda_ctx(p);
    ASSERT_NE(c2, nullptr);
    Spec g;
    EXPECT_TRUE(ok(spectrum_of(c2, dm.x, g), c2));
    lsc_ctx_destroy(c2);
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, nullptr)));
}

/* ---- every dtype in device memory, every operation ----------------------------------------------------- */

TEST_F(Cuda, EveryOperationReadsEveryDtypeFromDeviceMemory)
{
    const int64_t n = 160, m = 120, d = 10, k = 3;
    auto xr = data::gaussian(n, d, kSeed + 140, 0.0, 1.5);
    auto xf = data::gaussian(m, d, kSeed + 141, 0.2, 1.5);
    for (lsc_dtype dt : kDtypes) {
        SCOPED_TRACE(dtype_name(dt));
        HostMat hr = host_mat(xr, n, d, dt, 3), hf = host_mat(xf, m, d, dt, 1);
        DevMat dr(drv, hr), df(drv, hf);
        lsc_matrix cr = hr.m(), cf = hf.m();
        { // distances
            std::vector<float> g((size_t)(n * m)), c(g.size());
            ASSERT_TRUE(ok(lsc_distances(ctx, &dr.x, &df.x, LSC_METRIC_EUCLIDEAN, g.data(), m,
                                         LSC_MEMORY_HOST)));
            ASSERT_EQ(
                lsc_distances(cpu, &cr, &cf, LSC_METRIC_EUCLIDEAN, c.data(), m, LSC_MEMORY_HOST),
                LSC_STATUS_OK);
            for (size_t i = 0; i < g.size(); i++)
                ASSERT_PRED4(near_tol, g[i], c[i], 4e-5, 4e-5) << i;
        }
        { // kNN
            lsc_knn_opts o = LSC_KNN_OPTS_INIT;
            std::vector<float> dg((size_t)(m * k)), dc(dg.size());
            std::vector<int64_t> ig(dg.size()), ic(dg.size());
            ASSERT_TRUE(ok(lsc_knn(ctx, &df.x, &dr.x, k, &o, dg.data(), ig.data())));
            ASSERT_EQ(lsc_knn(cpu, &cf, &cr, k, &o, dc.data(), ic.data()), LSC_STATUS_OK);
            EXPECT_TRUE(same_knn(dg, ig, dc, ic, k));
        }
        { // pair statistics
            lsc_pair_result g = LSC_PAIR_RESULT_INIT, c = LSC_PAIR_RESULT_INIT;
            std::vector<int64_t> hg(64), hc(64);
            std::vector<lsc_pair> pg(101), pc(101);
            ASSERT_TRUE(ok(lsc_pair_stats(ctx, &dr.x, nullptr, &g, hg.data(), pg.data())));
            ASSERT_EQ(lsc_pair_stats(cpu, &cr, nullptr, &c, hc.data(), pc.data()), LSC_STATUS_OK);
            EXPECT_TRUE(same_pairs(g, c, hg, hc, pg, pc));
        }
        { // PRDC against a reference built from the host copy
            lsc_reference *ref = nullptr;
            ASSERT_EQ(lsc_reference_create(cpu, &cr, k, nullptr, &ref), LSC_STATUS_OK);
            lsc_prdc_result g = LSC_PRDC_RESULT_INIT, c = LSC_PRDC_RESULT_INIT;
            ASSERT_TRUE(ok(lsc_prdc(ctx, ref, &df.x, &g)));
            ASSERT_EQ(lsc_prdc(cpu, ref, &cf, &c), LSC_STATUS_OK);
            EXPECT_TRUE(same_prdc(g, c));
            lsc_reference_destroy(ref);
        }
        { // spectrum
            Spec g, c;
            ASSERT_TRUE(ok(spectrum_of(ctx, dr.x, g)));
            ASSERT_EQ(spectrum_of(cpu, cr, c), LSC_STATUS_OK);
            EXPECT_TRUE(same_spectrum(g, c));
        }
    }
}

/* ---- host streaming through a tiny workspace ---------------------------------------------------------- */

TEST_F(Cuda, HostInputsStreamThroughATinyWorkspace)
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.workspace_limit = 1 << 20; // 1 MiB: many tiles for every operation below
    lsc_ctx *small = cuda_ctx(p);
    ASSERT_NE(small, nullptr);
    const int64_t n = 1700, m = 1400, d = 40, k = 7;
    auto xr = data::gaussian(n, d, kSeed + 150);
    auto xf = data::gaussian(m, d, kSeed + 151, 0.1, 1.0);
    HostMat hr = host_mat(xr, n, d, LSC_DTYPE_F32, 2), hf = host_mat(xf, m, d, LSC_DTYPE_BF16, 0);
    lsc_matrix r = hr.m(), f = hf.m();
    {
        lsc_knn_opts o = LSC_KNN_OPTS_INIT;
        o.exclude_self = 1;
        std::vector<float> dg((size_t)(n * k)), dc(dg.size());
        std::vector<int64_t> ig(dg.size()), ic(dg.size());
        ASSERT_TRUE(ok(lsc_knn(small, &r, nullptr, k, &o, dg.data(), ig.data()), small));
        ASSERT_EQ(lsc_knn(cpu, &r, nullptr, k, &o, dc.data(), ic.data()), LSC_STATUS_OK);
        EXPECT_TRUE(same_knn(dg, ig, dc, ic, k));
    }
    {
        lsc_pair_result g = LSC_PAIR_RESULT_INIT, c = LSC_PAIR_RESULT_INIT;
        std::vector<int64_t> hg(64), hc(64);
        std::vector<lsc_pair> pg(101), pc(101);
        ASSERT_TRUE(ok(lsc_pair_stats(small, &f, nullptr, &g, hg.data(), pg.data()), small));
        ASSERT_EQ(lsc_pair_stats(cpu, &f, nullptr, &c, hc.data(), pc.data()), LSC_STATUS_OK);
        EXPECT_TRUE(same_pairs(g, c, hg, hc, pg, pc));
    }
    {
        lsc_reference *gref = nullptr, *cref = nullptr;
        ASSERT_TRUE(ok(lsc_reference_create(small, &r, k, nullptr, &gref), small));
        ASSERT_EQ(lsc_reference_create(cpu, &r, k, nullptr, &cref), LSC_STATUS_OK);
        lsc_prdc_result g = LSC_PRDC_RESULT_INIT, c = LSC_PRDC_RESULT_INIT;
        ASSERT_TRUE(ok(lsc_prdc(small, gref, &f, &g), small));
        ASSERT_EQ(lsc_prdc(cpu, cref, &f, &c), LSC_STATUS_OK);
        EXPECT_TRUE(same_prdc(g, c));
        lsc_reference_destroy(gref);
        lsc_reference_destroy(cref);
    }
    {
        std::vector<float> g((size_t)(n * m)), c(g.size());
        ASSERT_TRUE(
            ok(lsc_distances(small, &r, &f, LSC_METRIC_SQEUCLIDEAN, g.data(), m, LSC_MEMORY_HOST),
               small));
        ASSERT_EQ(lsc_distances(cpu, &r, &f, LSC_METRIC_SQEUCLIDEAN, c.data(), m, LSC_MEMORY_HOST),
                  LSC_STATUS_OK);
        for (size_t i = 0; i < g.size(); i += 97)
            ASSERT_PRED4(near_tol, g[i], c[i], 4e-5, 1e-3) << i;
    }
    {
        Spec g, c;
        ASSERT_TRUE(ok(spectrum_of(small, r, g), small));
        ASSERT_EQ(spectrum_of(cpu, r, c), LSC_STATUS_OK);
        EXPECT_TRUE(same_spectrum(g, c));
    }
    lsc_ctx_destroy(small);
}

/* ---- NaN / Inf / zero rows in device memory ---------------------------------------------------------- */

TEST_F(Cuda, NonFiniteValuesInDeviceMemoryAreReportedLikeTheHostDoes)
{
    const int64_t n = 120, d = 8, k = 4;
    auto x = data::gaussian(n, d, kSeed + 160);
    struct Case {
        const char *name;
        lsc_dtype dt;
        int64_t row, col;
        double value;
    };
    const Case cases[] = {{"NaN f32", LSC_DTYPE_F32, 33, 5, NAN},
                          {"Inf f16", LSC_DTYPE_F16, 2, 0, INFINITY},
                          {"-Inf bf16", LSC_DTYPE_BF16, 119, 7, -INFINITY},
                          {"NaN f64", LSC_DTYPE_F64, 64, 3, NAN},
                          {"1e39 f64", LSC_DTYPE_F64, 70, 1, 1e39}};
    for (const Case &cs : cases) {
        SCOPED_TRACE(cs.name);
        HostMat h = host_mat(x, n, d, cs.dt, 2);
        if (cs.dt == LSC_DTYPE_F64) h.set_f64(cs.row, cs.col, cs.value);
        else h.set(cs.row, cs.col, (float)cs.value);
        h.set(cs.row + (cs.row + 5 < n ? 5 : -5), 1, NAN); // a second one, later or earlier
        const int64_t first_row = std::min(cs.row, cs.row + (cs.row + 5 < n ? 5 : -5));
        DevMat dm(drv, h);
        lsc_matrix hm = h.m();
        // the CPU's message for the host copy is the wording to reproduce
        lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
        ASSERT_EQ(lsc_pair_stats(cpu, &hm, nullptr, &pr, nullptr, nullptr),
                  LSC_STATUS_INVALID_DATA);
        const std::string want = lsc_last_error(cpu);
        EXPECT_TRUE(mentions(want.c_str(), "row " + std::to_string(first_row))) << want;
        EXPECT_EQ(lsc_pair_stats(ctx, &dm.x, nullptr, &pr, nullptr, nullptr),
                  LSC_STATUS_INVALID_DATA);
        EXPECT_EQ(want, lsc_last_error(ctx));
        Spec g;
        EXPECT_EQ(spectrum_of(ctx, dm.x, g), LSC_STATUS_INVALID_DATA);
        EXPECT_TRUE(mentions(lsc_last_error(ctx), "x: row")) << lsc_last_error(ctx);
        std::vector<float> dist((size_t)(n * k));
        std::vector<int64_t> idx(dist.size());
        ASSERT_EQ(lsc_knn(cpu, &hm, &hm, k, nullptr, dist.data(), idx.data()),
                  LSC_STATUS_INVALID_DATA);
        const std::string want_knn = lsc_last_error(cpu);
        EXPECT_EQ(lsc_knn(ctx, &dm.x, &dm.x, k, nullptr, dist.data(), idx.data()),
                  LSC_STATUS_INVALID_DATA);
        EXPECT_EQ(want_knn, lsc_last_error(ctx));
        // the asynchronous forms put it in the status
        DevBuf out(drv, sizeof(lsc_spectrum_result)), st(drv, sizeof(lsc_async_status));
        ASSERT_TRUE(out.result<lsc_spectrum_result>()) << drv.error;
        Driver::CUstream s = new_stream();
        ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, s)));
        ASSERT_TRUE(ok(lsc_spectrum_async(ctx, &dm.x, nullptr, out.as<lsc_spectrum_result>(),
                                          st.as<lsc_async_status>())));
        lsc_async_status a = read_back<lsc_async_status>(drv, s, st.ptr(), false);
        EXPECT_EQ(a.status, LSC_STATUS_INVALID_DATA);
        EXPECT_EQ(a.row, first_row);
        EXPECT_EQ(a.col, first_row == cs.row ? cs.col : 1);
        lsc_reference *ref = nullptr;
        lsc_matrix rm = lsc_matrix_f32(x.data(), n, d);
        ASSERT_EQ(lsc_reference_create(cpu, &rm, k, nullptr, &ref), LSC_STATUS_OK);
        DevBuf pout(drv, sizeof(lsc_prdc_result)), pst(drv, sizeof(lsc_async_status));
        ASSERT_TRUE(pout.result<lsc_prdc_result>()) << drv.error;
        ASSERT_TRUE(ok(lsc_prdc_async(ctx, ref, &dm.x, pout.as<lsc_prdc_result>(),
                                      pst.as<lsc_async_status>())));
        a = read_back<lsc_async_status>(drv, s, pst.ptr(), false);
        EXPECT_EQ(a.status, LSC_STATUS_INVALID_DATA);
        EXPECT_EQ(a.row, first_row);
        lsc_reference_destroy(ref);
        ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, nullptr)));
        // the context is still usable
        DevMat clean(drv, host_mat(x, n, d, cs.dt, 2));
        EXPECT_TRUE(ok(lsc_pair_stats(ctx, &clean.x, nullptr, &pr, nullptr, nullptr)));
    }
    // a zero row is an error for cosine only, worded as on the host
    auto z = x;
    for (int64_t c = 0; c < d; c++) z[(size_t)(41 * d + c)] = c % 2 ? 0.0f : -0.0f;
    HostMat hz = host_mat(z, n, d, LSC_DTYPE_F32, 1);
    DevMat dz(drv, hz);
    lsc_matrix hzm = hz.m();
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    o.metric = LSC_METRIC_COSINE;
    std::vector<float> dist((size_t)(n * k));
    std::vector<int64_t> idx(dist.size());
    // (a NULL base needs exclude_self: the set against itself, self included, names it twice)
    ASSERT_EQ(lsc_knn(cpu, &hzm, &hzm, k, &o, dist.data(), idx.data()), LSC_STATUS_INVALID_DATA);
    const std::string want = lsc_last_error(cpu);
    EXPECT_EQ(lsc_knn(ctx, &dz.x, &dz.x, k, &o, dist.data(), idx.data()), LSC_STATUS_INVALID_DATA);
    EXPECT_EQ(want, lsc_last_error(ctx));
    EXPECT_TRUE(mentions(want.c_str(), "row 41 is all zeros")) << want;
    o.metric = LSC_METRIC_EUCLIDEAN;
    EXPECT_TRUE(ok(lsc_knn(ctx, &dz.x, &dz.x, k, &o, dist.data(), idx.data())));
    // ... and only makes vendi unavailable in the spectrum, also asynchronously
    Spec g;
    ASSERT_TRUE(ok(spectrum_of(ctx, dz.x, g)));
    EXPECT_EQ(g.r.vendi_status, LSC_VENDI_ZERO_ROW);
    EXPECT_EQ(g.r.vendi_zero_row, 41);
    Driver::CUstream s = new_stream();
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, s)));
    DevBuf out(drv, sizeof(lsc_spectrum_result)), st(drv, sizeof(lsc_async_status));
    ASSERT_TRUE(out.result<lsc_spectrum_result>()) << drv.error;
    ASSERT_TRUE(ok(lsc_spectrum_async(ctx, &dz.x, nullptr, out.as<lsc_spectrum_result>(),
                                      st.as<lsc_async_status>())));
    lsc_spectrum_result r = read_back<lsc_spectrum_result>(drv, s, out.ptr(), false);
    lsc_async_status a = read_back<lsc_async_status>(drv, s, st.ptr(), false);
    EXPECT_EQ(a.status, LSC_STATUS_OK);
    EXPECT_EQ(r.vendi_status, LSC_VENDI_ZERO_ROW);
    EXPECT_EQ(r.vendi_zero_row, 41);
    EXPECT_EQ(r.vendi_cosine, 0.0);
    ASSERT_TRUE(ok(lsc_ctx_set_stream(ctx, nullptr)));
    // pageable host memory labelled as device memory is refused, not dereferenced
    lsc_matrix lie = lsc_matrix_f32(x.data(), n, d);
    lie.memory = LSC_MEMORY_DEVICE;
    EXPECT_EQ(spectrum_of(ctx, lie, g), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "host memory")) << lsc_last_error(ctx);
}

/* ---- out of device memory ------------------------------------------------------------------------------ */

TEST_F(Cuda, OutOfDeviceMemoryIsAnErrorNeverACrash)
{
    // On the emulated device (tests/cudasim) every kernel runs on one core, and the smallest
    // budgets make hundreds of thousands of tiny tiles: a fifth of the rows there, same paths.
    const bool emulated = mentions(lsc_ctx_device_name(ctx), "cudasim");
    const int64_t n = emulated ? 600 : 3000, m = emulated ? 400 : 2000, d = 32, k = 5;
    auto xr = data::gaussian(n, d, kSeed + 170);
    auto xf = data::gaussian(m, d, kSeed + 171, 0.2, 1.0);
    auto xw = data::gaussian(30, 500, kSeed + 172);
    lsc_matrix r = lsc_matrix_f32(xr.data(), n, d), f = lsc_matrix_f32(xf.data(), m, d);
    lsc_matrix w = lsc_matrix_f32(xw.data(), 30, 500);
    DevMat dr(drv, host_mat(xr, n, d));
    // the CPU's answers
    Spec cs, cw;
    ASSERT_EQ(spectrum_of(cpu, r, cs), LSC_STATUS_OK);
    ASSERT_EQ(spectrum_of(cpu, w, cw), LSC_STATUS_OK);
    lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
    ko.exclude_self = 1;
    std::vector<float> dc((size_t)(n * k));
    std::vector<int64_t> ic(dc.size());
    ASSERT_EQ(lsc_knn(cpu, &r, nullptr, k, &ko, dc.data(), ic.data()), LSC_STATUS_OK);
    lsc_pair_result pc = LSC_PAIR_RESULT_INIT;
    std::vector<int64_t> hc(64);
    std::vector<lsc_pair> nc(101);
    ASSERT_EQ(lsc_pair_stats(cpu, &f, nullptr, &pc, hc.data(), nc.data()), LSC_STATUS_OK);
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(cpu, &r, k, nullptr, &ref), LSC_STATUS_OK);
    lsc_prdc_result prc = LSC_PRDC_RESULT_INIT;
    ASSERT_EQ(lsc_prdc(cpu, ref, &f, &prc), LSC_STATUS_OK);

    const size_t budgets[] = {0, 4 << 10, 64 << 10, 512 << 10, 4 << 20, 64 << 20};
    for (size_t budget : budgets) {
        SCOPED_TRACE("budget " + std::to_string(budget));
        Budget bud;
        lsc_ctx *c = cuda_ctx(budget_params(bud, drv, budget));
        ASSERT_NE(c, nullptr);
        int oom = 0;
        // OK (then the CPU's answer) or OUT_OF_MEMORY with a message; never anything else
        bool lifted = false;
        auto check = [&](lsc_status s, const char *op) -> bool {
            if (s == LSC_STATUS_OUT_OF_MEMORY && !lifted) {
                oom++;
                EXPECT_TRUE(mentions(lsc_last_error(c), "memory"))
                    << op << ": " << lsc_last_error(c);
                return false;
            }
            EXPECT_TRUE(ok(s, c)) << op;
            return s == LSC_STATUS_OK;
        };
        for (int pass = 0; pass < 2; pass++) { // pass 1: the budget lifted, everything must work
            if (pass == 1) {
                bud.budget = SIZE_MAX;
                lifted = true;
            }
            Spec g;
            if (check(spectrum_of(c, r, g), "spectrum")) {
                EXPECT_TRUE(same_spectrum(g, cs));
            }
            if (check(spectrum_of(c, dr.x, g), "spectrum (device)")) {
                EXPECT_TRUE(same_spectrum(g, cs));
            }
            if (check(spectrum_of(c, w, g), "spectrum N < D")) {
                EXPECT_TRUE(same_spectrum(g, cw));
            }
            std::vector<float> dg(dc.size());
            std::vector<int64_t> ig(dc.size());
            if (check(lsc_knn(c, &r, nullptr, k, &ko, dg.data(), ig.data()), "knn")) {
                EXPECT_TRUE(same_knn(dg, ig, dc, ic, k));
            }
            lsc_pair_result pg = LSC_PAIR_RESULT_INIT;
            std::vector<int64_t> hg(64);
            std::vector<lsc_pair> ng(101);
            if (check(lsc_pair_stats(c, &f, nullptr, &pg, hg.data(), ng.data()), "pair_stats")) {
                EXPECT_TRUE(same_pairs(pg, pc, hg, hc, ng, nc));
            }
            DevBuf aout(drv, sizeof(lsc_spectrum_result));
            ASSERT_TRUE(aout.result<lsc_spectrum_result>()) << drv.error;
            if (check(
                    lsc_spectrum_async(c, &dr.x, nullptr, aout.as<lsc_spectrum_result>(), nullptr),
                    "spectrum_async")) {
                drv.cuCtxSynchronize();
                EXPECT_TRUE(same_figures(aout.get<lsc_spectrum_result>(1)[0], cs.r));
            }
            lsc_prdc_result prg = LSC_PRDC_RESULT_INIT;
            if (check(lsc_prdc(c, ref, &f, &prg), "prdc")) {
                EXPECT_TRUE(same_prdc(prg, prc));
            }
            if (pass == 0)
                std::cout << "[ budget   ] " << budget << " bytes: " << oom
                          << " of 7 calls out of memory, " << bud.refusals << " refusals\n";
        }
        lsc_ctx_destroy(c);
        EXPECT_EQ(bud.used, 0u) << "the context's destroy did not give every byte back";
        if (budget == 0) {
            EXPECT_GT(oom, 0) << "nothing needed device memory?";
        }
    }
    lsc_reference_destroy(ref);
}

/* ---- steady state ---------------------------------------------------------------------------------- */

// What the emulated device (tests/cudasim) counts, found in the libcuda it stands in for; null
// on a real GPU.
struct SimHooks {
    void (*counters)(uint64_t out[4]) = nullptr; // device waits, stream waits, allocations, frees
    void (*fail_pinned)(int n) = nullptr;        // the next n pinned allocations fail
    void (*fail_device)(int n) = nullptr;        // the next n device allocations fail
};
SimHooks sim_hooks(Driver &drv)
{
    SimHooks h;
    h.counters = reinterpret_cast<void (*)(uint64_t *)>(dlsym(drv.lib, "lsc_sim_counters"));
    h.fail_pinned = reinterpret_cast<void (*)(int)>(dlsym(drv.lib, "lsc_sim_fail_pinned"));
    h.fail_device = reinterpret_cast<void (*)(int)>(dlsym(drv.lib, "lsc_sim_fail_device"));
    return h;
}

/* ---- references shared and placed on the device ------------------------------------------------- */

// One reference read by two threads at once, each with its own CUDA context (lsc.h section 7):
// a host reference (its rows copied to the device for each call) and a device reference made
// once (lsc_reference_to_device), both giving the CPU's figures and per-row outcomes, and
// neither object changed by the calls: nothing is hung on a reference. A device reference is
// refused by a context that cannot read it, saying what to do.
TEST_F(Cuda, AReferenceIsSharedReadOnlyByTwoThreadsHostOrDevice)
{
    const int64_t n = 500, m = 300, d = 16, k = 5;
    auto real = data::gaussian(n, d, kSeed + 300);
    const std::vector<std::vector<float>> fakes = {data::gaussian(m, d, kSeed + 301, 0.2, 1.0),
                                                   data::rank_k(m, d, 3, kSeed + 302, 1.0)};
    lsc_matrix rm = lsc_matrix_f32(real.data(), n, d);
    lsc_reference *host = nullptr, *dev = nullptr;
    ASSERT_EQ(lsc_reference_create(cpu, &rm, k, nullptr, &host), LSC_STATUS_OK);
    ASSERT_EQ(lsc_reference_prepare(cpu, host, 11), LSC_STATUS_OK) << lsc_last_error(cpu);
    ASSERT_TRUE(ok(lsc_reference_to_device(ctx, host, &dev)));
    int answer = -1;
    for (lsc_capability what : {LSC_CAP_DEVICE_MEMORY, LSC_CAP_SPECTRUM_ASYNC, LSC_CAP_PRDC_ASYNC,
                                LSC_CAP_DEVICE_REFERENCE}) {
        EXPECT_TRUE(ok(lsc_ctx_supports(ctx, what, &answer)));
        EXPECT_EQ(answer, 1) << "capability " << (int)what;
    }
    // the device reference carries the host part along: the same facts, radii, rows and file
    lsc_reference_info hi = LSC_REFERENCE_INFO_INIT, di = LSC_REFERENCE_INFO_INIT;
    ASSERT_EQ(lsc_reference_info_get(host, &hi), LSC_STATUS_OK);
    ASSERT_EQ(lsc_reference_info_get(dev, &di), LSC_STATUS_OK);
    EXPECT_EQ(std::memcmp(&hi, &di, sizeof hi), 0);
    EXPECT_EQ(std::memcmp(lsc_reference_radii(host), lsc_reference_radii(dev),
                          (size_t)n * sizeof(double)),
              0);
    EXPECT_EQ(std::memcmp(lsc_reference_rows(host), lsc_reference_rows(dev),
                          (size_t)(n * d) * sizeof(float)),
              0);

    struct Rows {
        lsc_prdc_result r;
        std::vector<unsigned char> flags;
        std::vector<int64_t> counts;
    };
    std::vector<HostMat> hm;
    std::vector<std::unique_ptr<DevMat>> dm;
    for (const auto &f : fakes) {
        hm.push_back(host_mat(f, m, d));
        dm.emplace_back(new DevMat(drv, hm.back()));
    }
    auto run = [&](lsc_ctx *c, const lsc_reference *ref, const lsc_matrix &x, Rows &out) {
        out.r = LSC_PRDC_RESULT_INIT;
        out.flags.assign((size_t)n, 0xee);
        out.counts.assign((size_t)m, -7);
        return lsc_prdc_rows(c, ref, &x, &out.r, out.flags.data(), out.counts.data());
    };
    std::vector<Rows> want(fakes.size());
    for (size_t f = 0; f < fakes.size(); f++) {
        lsc_matrix x = hm[f].m();
        ASSERT_EQ(run(cpu, host, x, want[f]), LSC_STATUS_OK) << lsc_last_error(cpu);
    }
    const RefSnapshot host_before(host), dev_before(dev);
    for (lsc_reference *ref : {host, dev}) {
        SCOPED_TRACE(ref == host ? "host reference" : "device reference");
        std::vector<std::string> why(2);
        auto work = [&](int t) {
            lsc_ctx *c = cuda_ctx(LSC_CTX_PARAMS_INIT);
            if (!c) {
                why[t] = "no context";
                return;
            }
            for (int rep = 0; rep < 3; rep++)
                for (size_t f = 0; f < fakes.size(); f++) {
                    // one thread reads host rows, the other device rows
                    Rows got;
                    lsc_status st = run(c, ref, t ? dm[f]->x : hm[f].m(), got);
                    if (st != LSC_STATUS_OK)
                        why[t] = std::string(lsc_status_name(st)) + ": " + lsc_last_error(c);
                    else if (!same_prdc(got.r, want[f].r) || got.flags != want[f].flags ||
                             got.counts != want[f].counts)
                        why[t] = "rep " + std::to_string(rep) + ": differs from the CPU";
                }
            lsc_ctx_destroy(c);
        };
        std::thread a(work, 0), b(work, 1);
        a.join();
        b.join();
        EXPECT_EQ(why[0], "");
        EXPECT_EQ(why[1], "");
    }
    EXPECT_TRUE(host_before.unchanged(host)) << "a call wrote through a const host reference";
    EXPECT_TRUE(dev_before.unchanged(dev)) << "a call wrote through a const device reference";

    // the CPU backend cannot read a device reference, and does not make one
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    lsc_matrix x0 = hm[0].m();
    EXPECT_EQ(lsc_prdc(cpu, dev, &x0, &r), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(lsc_last_error(cpu)).find("lsc_reference_to_device"), std::string::npos)
        << lsc_last_error(cpu);
    lsc_reference *again = nullptr;
    EXPECT_EQ(lsc_reference_to_device(cpu, dev, &again), LSC_STATUS_NOT_SUPPORTED);
    EXPECT_EQ(again, nullptr);
    // a device reference of a device reference is a new one; either may go first
    ASSERT_TRUE(ok(lsc_reference_to_device(ctx, dev, &again)));
    lsc_reference_destroy(dev);
    Rows got;
    ASSERT_TRUE(ok(run(ctx, again, hm[1].m(), got)));
    EXPECT_TRUE(same_prdc(got.r, want[1].r));
    EXPECT_TRUE(host_before.unchanged(host));
    lsc_reference_destroy(again);
    lsc_reference_destroy(host);
}

// A device reference lives on one device: a context on another refuses it (INVALID_ARGUMENT,
// naming both devices and what to do), and lsc_reference_to_device there makes that device's own
// copy. Needs two devices: on the emulated device, the ctest cuda_two_devices_cudasim runs it
// with LSC_SIM_DEVICES=2 (and fails if it skips).
TEST_F(Cuda, ADeviceReferenceIsRefusedOnAnotherDevice)
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CUDA;
    p.device = 1;
    lsc_ctx *other = nullptr;
    if (lsc_ctx_create(&p, &other) != LSC_STATUS_OK) {
        lsc_ctx_destroy(other);
        GTEST_SKIP() << "a second CUDA device is needed";
    }
    const int64_t n = 200, m = 150, d = 8, k = 4;
    auto real = data::gaussian(n, d, kSeed + 320);
    auto fake = data::gaussian(m, d, kSeed + 321, 0.3, 1.0);
    lsc_matrix rm = lsc_matrix_f32(real.data(), n, d), fm = lsc_matrix_f32(fake.data(), m, d);
    lsc_reference *host = nullptr, *on0 = nullptr, *on1 = nullptr;
    ASSERT_EQ(lsc_reference_create(cpu, &rm, k, nullptr, &host), LSC_STATUS_OK);
    lsc_prdc_result want = LSC_PRDC_RESULT_INIT, got = LSC_PRDC_RESULT_INIT;
    ASSERT_EQ(lsc_prdc(cpu, host, &fm, &want), LSC_STATUS_OK);
    ASSERT_TRUE(ok(lsc_reference_to_device(ctx, host, &on0)));
    EXPECT_EQ(lsc_prdc(other, on0, &fm, &got), LSC_STATUS_INVALID_ARGUMENT);
    const std::string why = lsc_last_error(other);
    EXPECT_NE(why.find("device 0"), std::string::npos) << why;
    EXPECT_NE(why.find("device 1"), std::string::npos) << why;
    EXPECT_NE(why.find("lsc_reference_to_device"), std::string::npos) << why;
    ASSERT_TRUE(ok(lsc_reference_to_device(other, on0, &on1), other));
    ASSERT_TRUE(ok(lsc_prdc(other, on1, &fm, &got), other));
    EXPECT_TRUE(same_prdc(got, want));
    got = LSC_PRDC_RESULT_INIT;
    EXPECT_EQ(lsc_prdc(ctx, on1, &fm, &got), LSC_STATUS_INVALID_ARGUMENT);
    got = LSC_PRDC_RESULT_INIT;
    ASSERT_TRUE(ok(lsc_prdc(ctx, on0, &fm, &got)));
    EXPECT_TRUE(same_prdc(got, want));
    lsc_reference_destroy(on0); // from a thread whose current device is the other one
    lsc_reference_destroy(on1);
    lsc_reference_destroy(host);
    lsc_ctx_destroy(other);
}

// A device allocation that fails inside the CUDA module is a status (OUT_OF_MEMORY, naming what
// it was for), never a crash, and leaves no allocation behind; the context and the reference
// work again afterwards. Only the emulated device makes an allocation fail on demand.
TEST_F(Cuda, AFailedDeviceAllocationInsideTheModuleIsAStatus)
{
    const SimHooks hooks = sim_hooks(drv);
    if (!hooks.fail_device || !hooks.counters)
        GTEST_SKIP() << "only the emulated device fails an allocation on demand";
    const int64_t n = 300, m = 200, d = 12, k = 4;
    auto real = data::gaussian(n, d, kSeed + 310);
    auto fake = data::gaussian(m, d, kSeed + 311, 0.3, 1.0);
    lsc_matrix rm = lsc_matrix_f32(real.data(), n, d), fm = lsc_matrix_f32(fake.data(), m, d);
    lsc_reference *host = nullptr, *dev = nullptr;
    ASSERT_EQ(lsc_reference_create(cpu, &rm, k, nullptr, &host), LSC_STATUS_OK);
    lsc_prdc_result want = LSC_PRDC_RESULT_INIT, got = LSC_PRDC_RESULT_INIT;
    ASSERT_EQ(lsc_prdc(cpu, host, &fm, &want), LSC_STATUS_OK);
    ASSERT_TRUE(ok(lsc_prdc(ctx, host, &fm, &got))); // grows the workspace for these shapes
    const RefSnapshot before(host);
    uint64_t c0[4], c1[4];

    // the device copy with its converted rows, then without them: both refused
    hooks.counters(c0);
    hooks.fail_device(2);
    EXPECT_EQ(lsc_reference_to_device(ctx, host, &dev), LSC_STATUS_OUT_OF_MEMORY);
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("reference"), std::string::npos)
        << lsc_last_error(ctx);
    EXPECT_EQ(dev, nullptr);
    hooks.counters(c1);
    EXPECT_EQ(c1[2] - c0[2], c1[3] - c0[3]) << "a failed placement left device memory behind";
    // only the converted rows cannot be had: placed without them, the same figures
    hooks.fail_device(1);
    ASSERT_TRUE(ok(lsc_reference_to_device(ctx, host, &dev)));
    got = LSC_PRDC_RESULT_INIT;
    ASSERT_TRUE(ok(lsc_prdc(ctx, dev, &fm, &got)));
    EXPECT_TRUE(same_prdc(got, want));
    lsc_reference_destroy(dev);

    // a host reference's per-call copy (the context's allocator): refused, then fine again
    hooks.counters(c0);
    hooks.fail_device(2);
    got = LSC_PRDC_RESULT_INIT;
    EXPECT_EQ(lsc_prdc(ctx, host, &fm, &got), LSC_STATUS_OUT_OF_MEMORY);
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("reference"), std::string::npos)
        << lsc_last_error(ctx);
    ASSERT_TRUE(drv.check(drv.cuCtxSynchronize(), "cuCtxSynchronize"));
    hooks.counters(c1);
    EXPECT_EQ(c1[2] - c0[2], c1[3] - c0[3]) << "a failed call left device memory behind";
    got = LSC_PRDC_RESULT_INIT;
    ASSERT_TRUE(ok(lsc_prdc(ctx, host, &fm, &got)));
    EXPECT_TRUE(same_prdc(got, want));
    EXPECT_TRUE(before.unchanged(host));
    lsc_reference_destroy(host);
}

/* ---- the sharded spectrum ------------------------------------------------------------------------ */

// One rank's outcome of lsc_spectrum_sharded.
struct ShardOut {
    lsc_status st = LSC_STATUS_INTERNAL;
    std::string msg;
    Spec s;
};

// lsc_spectrum_sharded on P = sizes.size() ranks over x (n x d, float32) split by sizes, rank p's
// rows in device memory where on_device[p], else in host memory, each padded with NaN past d;
// an empty shard has no data at all. Each rank runs in its own thread with its own context made
// with `prm` (the in-process transport of fake_transport.hpp). `before_call` runs on every rank
// once all contexts exist, just before the call.
std::vector<ShardOut> sharded_spectrum(Driver &drv, const lsc_ctx_params &prm,
                                       const std::vector<float> &x, int64_t d,
                                       const std::vector<int64_t> &sizes,
                                       const std::vector<bool> &on_device,
                                       const std::function<void(int)> &before_call = nullptr)
{
    const int P = (int)sizes.size();
    std::vector<HostMat> hm((size_t)P);
    std::vector<std::unique_ptr<DevMat>> dm((size_t)P);
    std::vector<lsc_matrix> shard((size_t)P);
    int64_t at = 0, n = 0;
    for (int64_t sz : sizes) n += sz;
    for (int p = 0; p < P; p++) {
        const int64_t rows = sizes[(size_t)p];
        lsc_matrix &m = shard[(size_t)p];
        if (rows > 0) {
            std::vector<float> part(x.begin() + at * d, x.begin() + (at + rows) * d);
            hm[(size_t)p] = host_mat(part, rows, d, LSC_DTYPE_F32, 3);
            m = hm[(size_t)p].m();
            if (on_device[(size_t)p]) {
                dm[(size_t)p].reset(new DevMat(drv, hm[(size_t)p]));
                m = dm[(size_t)p]->x;
            }
        } else {
            m = lsc_matrix_f32(nullptr, 0, d);
            if (on_device[(size_t)p]) m.memory = LSC_MEMORY_DEVICE;
        }
        at += rows;
    }
    std::vector<ShardOut> outs((size_t)P);
    std::mutex mu;
    std::condition_variable cv;
    int ready = 0;
    fake::run(
        P,
        [&](int p, lsc_ctx *c) {
            {
                std::unique_lock<std::mutex> lk(mu);
                if (++ready == P) cv.notify_all();
                cv.wait(lk, [&] { return ready == P; });
            }
            if (before_call) before_call(p);
            ShardOut &o = outs[(size_t)p];
            o.s.sv.assign((size_t)std::min(n, d), -12345.0);
            o.s.cv.assign((size_t)d, -12345.0);
            o.st = lsc_spectrum_sharded(c, &shard[(size_t)p], nullptr, &o.s.r, o.s.sv.data(),
                                        o.s.cv.data());
            o.msg = lsc_last_error(c);
        },
        nullptr, &prm);
    return outs;
}

// Every rank holds rank 0's status, message and bytes.
void expect_same_on_every_rank(const std::vector<ShardOut> &outs)
{
    for (size_t p = 1; p < outs.size(); p++) {
        EXPECT_EQ(outs[p].st, outs[0].st) << "rank " << p;
        EXPECT_EQ(outs[p].msg, outs[0].msg) << "rank " << p;
        EXPECT_EQ(std::memcmp(&outs[p].s.r, &outs[0].s.r, sizeof outs[0].s.r), 0) << "rank " << p;
        EXPECT_EQ(outs[p].s.sv, outs[0].s.sv) << "rank " << p;
        EXPECT_EQ(outs[p].s.cv, outs[0].s.cv) << "rank " << p;
    }
}

// Each rank its own CUDA context, its shard in host or device memory (mixed across ranks, or all
// on the device), uneven and empty shards, N >= D and N < D, a large common offset and a zero
// row: the figures of the CPU backend's one-process lsc_spectrum on the concatenated rows, and of
// its sharded form, within the CUDA tolerances; the zero row by its global index; the same bytes
// on every rank. The accumulator's state crosses the module boundary as host float64 values
// (acc_export on each rank, acc_import on rank 0, which merges and solves).
TEST_F(Cuda, ShardedSpectrumWithHostAndDeviceShardsEqualsTheCpu)
{
    struct Case {
        int64_t n, d;
        std::vector<float> x;
        std::vector<std::vector<int64_t>> splits;
    };
    std::vector<Case> cases;
    cases.push_back(
        {60,
         8,
         data::gaussian(60, 8, kSeed + 500, 0.5, 2.0),
         {{60}, {30, 30}, {0, 60}, {59, 1}, {17, 0, 43}, {1, 2, 3, 54}, {0, 0, 0, 60}}});
    cases.push_back({7, 12, data::gaussian(7, 12, kSeed + 501), {{3, 4}, {0, 2, 5}, {1, 1, 1, 4}}});
    {
        // mean 50, spread 1, row 22 all zero: the pivot-shifted merge must not cancel, and the
        // zero row is reported by its index in the concatenation
        Case z{
            30, 4, data::gaussian(30, 4, kSeed + 502, 50.0), {{10, 10, 10}, {0, 21, 9}, {23, 7}}};
        for (int64_t c = 0; c < z.d; c++) z.x[(size_t)(22 * z.d + c)] = 0.0f;
        cases.push_back(z);
    }
    lsc_ctx_params prm = LSC_CTX_PARAMS_INIT;
    prm.backend = LSC_BACKEND_CUDA;
    for (const Case &cs : cases) {
        Spec want;
        lsc_matrix all = lsc_matrix_f32(cs.x.data(), cs.n, cs.d);
        ASSERT_EQ(spectrum_of(cpu, all, want), LSC_STATUS_OK) << lsc_last_error(cpu);
        for (const auto &sizes : cs.splits) {
            const size_t P = sizes.size();
            // the CPU backend's sharded figures on the same split
            lsc_ctx_params cpu_prm = LSC_CTX_PARAMS_INIT;
            cpu_prm.backend = LSC_BACKEND_CPU;
            cpu_prm.threads = 1;
            auto cpu_sh =
                sharded_spectrum(drv, cpu_prm, cs.x, cs.d, sizes, std::vector<bool>(P, false));
            ASSERT_EQ(cpu_sh[0].st, LSC_STATUS_OK) << cpu_sh[0].msg;
            std::vector<bool> mixed(P), device(P, true);
            for (size_t p = 0; p < P; p++) mixed[p] = p % 2 == 1;
            for (const auto &placed : {mixed, device}) {
                std::string where;
                for (bool b : placed) where += b ? 'D' : 'H';
                SCOPED_TRACE(std::to_string(cs.n) + "x" + std::to_string(cs.d) +
                             ", P = " + std::to_string(P) + ", first shard " +
                             std::to_string(sizes[0]) + ", memories " + where);
                auto outs = sharded_spectrum(drv, prm, cs.x, cs.d, sizes, placed);
                ASSERT_EQ(outs[0].st, LSC_STATUS_OK) << outs[0].msg;
                EXPECT_EQ(outs[0].msg, "");
                EXPECT_TRUE(same_spectrum(outs[0].s, want));
                EXPECT_TRUE(same_spectrum(outs[0].s, cpu_sh[0].s));
                expect_same_on_every_rank(outs);
            }
        }
    }
    // a NaN in a device shard, found by the module's value check on that rank: every rank says so
    {
        auto x = cases[0].x;
        x[(size_t)((30 + 5) * cases[0].d + 4)] = NAN; // rank 1's row 5, col 4
        auto outs = sharded_spectrum(drv, prm, x, cases[0].d, {30, 30}, {false, true});
        EXPECT_EQ(outs[0].st, LSC_STATUS_INVALID_DATA) << outs[0].msg;
        for (const char *w : {"rank 1", "row 5", "col 4"})
            EXPECT_TRUE(mentions(outs[0].msg.c_str(), w)) << outs[0].msg;
        expect_same_on_every_rank(outs);
    }
    // a device shard on a CPU context is refused on that rank, and so on every rank
    lsc_ctx_params cpu_prm = LSC_CTX_PARAMS_INIT;
    cpu_prm.backend = LSC_BACKEND_CPU;
    cpu_prm.threads = 1;
    auto outs = sharded_spectrum(drv, cpu_prm, cases[0].x, cases[0].d, {30, 30}, {false, true});
    EXPECT_EQ(outs[0].st, LSC_STATUS_NOT_SUPPORTED) << outs[0].msg;
    EXPECT_TRUE(mentions(outs[0].msg.c_str(), "rank 1")) << outs[0].msg;
    EXPECT_TRUE(mentions(outs[0].msg.c_str(), "device memory")) << outs[0].msg;
    expect_same_on_every_rank(outs);
}

// A device allocation inside the module that fails on one rank (the first rank to allocate the
// accumulator's state once every context exists): every rank returns the same OUT_OF_MEMORY and
// message, naming that rank, nothing is left allocated, and the next call succeeds.
TEST_F(Cuda, ShardedSpectrumAgreesOnAFailedDeviceAllocation)
{
    const SimHooks hooks = sim_hooks(drv);
    if (!hooks.fail_device || !hooks.counters)
        GTEST_SKIP() << "only the emulated device fails an allocation on demand";
    const int64_t n = 40, d = 6;
    auto x = data::gaussian(n, d, kSeed + 510);
    const std::vector<int64_t> sizes = {10, 0, 30};
    const std::vector<bool> placed = {true, false, false};
    lsc_ctx_params prm = LSC_CTX_PARAMS_INIT;
    prm.backend = LSC_BACKEND_CUDA;
    uint64_t c0[4], c1[4];
    hooks.counters(c0);
    // set once every rank has its context: the ranks' first device allocation after that is the
    // accumulator's state (phase 1 is host work only), which no retry absorbs
    auto outs = sharded_spectrum(drv, prm, x, d, sizes, placed, [&](int p) {
        if (p == 0) hooks.fail_device(1);
    });
    hooks.fail_device(0);
    hooks.counters(c1);
    EXPECT_EQ(c1[2] - c0[2], c1[3] - c0[3]) << "a failed call left device memory behind";
    ASSERT_EQ(outs.size(), sizes.size());
    EXPECT_EQ(outs[0].st, LSC_STATUS_OUT_OF_MEMORY) << outs[0].msg;
    EXPECT_TRUE(mentions(outs[0].msg.c_str(), "rank ")) << outs[0].msg;
    EXPECT_TRUE(mentions(outs[0].msg.c_str(), "device memory")) << outs[0].msg;
    expect_same_on_every_rank(outs);
    outs = sharded_spectrum(drv, prm, x, d, sizes, placed);
    ASSERT_EQ(outs[0].st, LSC_STATUS_OK) << outs[0].msg;
    Spec want;
    lsc_matrix all = lsc_matrix_f32(x.data(), n, d);
    ASSERT_EQ(spectrum_of(cpu, all, want), LSC_STATUS_OK) << lsc_last_error(cpu);
    EXPECT_TRUE(same_spectrum(outs[0].s, want));
    expect_same_on_every_rank(outs);
}

// Inside a training loop (lsc must not stall the step it measures): once a call of some shapes
// has run, the same call again allocates nothing, never waits for the whole device, and the
// asynchronous forms never wait at all. Device allocations are counted through the injectable
// allocator on any device; pinned allocations and waits on the emulated device, which counts
// every one.
TEST_F(Cuda, SteadyStateCallsNeitherAllocateNorWaitForTheDevice)
{
    const int64_t n = 500, m = 400, d = 16, k = 5;
    auto xr = data::gaussian(n, d, kSeed + 200);
    auto xf = data::gaussian(m, d, kSeed + 201, 0.2, 1.1);
    lsc_matrix rm = lsc_matrix_f32(xr.data(), n, d);
    DevMat dr(drv, host_mat(xr, n, d)), df(drv, host_mat(xf, m, d, LSC_DTYPE_F32, 3));
    Budget bud;
    lsc_ctx *c = cuda_ctx(budget_params(bud, drv, SIZE_MAX));
    ASSERT_NE(c, nullptr);
    Driver::CUstream s = new_stream();
    ASSERT_TRUE(ok(lsc_ctx_set_stream(c, s), c));
    lsc_reference *host_ref = nullptr, *ref = nullptr;
    ASSERT_TRUE(ok(lsc_reference_create(c, &rm, k, nullptr, &host_ref), c));
    // placed on the device once: a host reference would be copied there at every call
    ASSERT_TRUE(ok(lsc_reference_to_device(c, host_ref, &ref), c));
    lsc_reference_destroy(host_ref);
    DevBuf ddist(drv, (size_t)(n * k) * sizeof(float)),
        didx(drv, (size_t)(n * k) * sizeof(int64_t));
    DevBuf dblock(drv, (size_t)(m * n) * sizeof(float));
    DevBuf sres(drv, sizeof(lsc_spectrum_result)), sst(drv, sizeof(lsc_async_status));
    ASSERT_TRUE(sres.result<lsc_spectrum_result>()) << drv.error;
    DevBuf pres(drv, sizeof(lsc_prdc_result)), pst(drv, sizeof(lsc_async_status));
    ASSERT_TRUE(pres.result<lsc_prdc_result>()) << drv.error;
    std::vector<int64_t> hist(64);
    std::vector<lsc_pair> dups(101);
    auto sync_calls = [&]() {
        Spec g;
        EXPECT_TRUE(ok(spectrum_of(c, dr.x, g), c)) << "spectrum";
        lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
        ko.exclude_self = 1;
        ko.out_memory = LSC_MEMORY_DEVICE;
        EXPECT_TRUE(
            ok(lsc_knn(c, &dr.x, nullptr, k, &ko, ddist.as<float>(), didx.as<int64_t>()), c))
            << "knn";
        lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
        EXPECT_TRUE(ok(lsc_pair_stats(c, &df.x, nullptr, &pr, hist.data(), dups.data()), c))
            << "pairs";
        lsc_prdc_result prr = LSC_PRDC_RESULT_INIT;
        EXPECT_TRUE(ok(lsc_prdc(c, ref, &df.x, &prr), c)) << "prdc";
        EXPECT_TRUE(ok(lsc_distances(c, &df.x, &dr.x, LSC_METRIC_EUCLIDEAN, dblock.as<float>(), n,
                                     LSC_MEMORY_DEVICE),
                       c))
            << "distances";
    };
    auto async_calls = [&]() {
        EXPECT_TRUE(ok(lsc_spectrum_async(c, &dr.x, nullptr, sres.as<lsc_spectrum_result>(),
                                          sst.as<lsc_async_status>()),
                       c))
            << "spectrum_async";
        EXPECT_TRUE(ok(
            lsc_prdc_async(c, ref, &df.x, pres.as<lsc_prdc_result>(), pst.as<lsc_async_status>()),
            c))
            << "prdc_async";
    };
    const SimHooks hooks = sim_hooks(drv);
    uint64_t c0[4] = {0, 0, 0, 0}, c1[4] = {0, 0, 0, 0};
    sync_calls(); // the first calls of these shapes: the workspace grows
    async_calls();
    ASSERT_TRUE(drv.check(drv.cuStreamSynchronize(s), "cuStreamSynchronize")) << drv.error;
    const int64_t allocs = bud.allocs;
    if (hooks.counters) hooks.counters(c0);
    sync_calls();
    if (hooks.counters) hooks.counters(c1);
    EXPECT_EQ(bud.allocs, allocs) << "a steady-state call allocated device memory";
    if (hooks.counters) {
        EXPECT_EQ(c1[0] - c0[0], 0u) << "a steady-state call waited for the whole device";
        EXPECT_EQ(c1[2] - c0[2], 0u) << "a steady-state call allocated (pinned or cudaMalloc)";
        EXPECT_GT(c1[1] - c0[1], 0u) << "results reached the host without waiting for the stream?";
        hooks.counters(c0);
    }
    async_calls();
    if (hooks.counters) {
        hooks.counters(c1);
        EXPECT_EQ(c1[0] - c0[0], 0u) << "an asynchronous form waited for the device";
        EXPECT_EQ(c1[1] - c0[1], 0u) << "an asynchronous form waited for a stream";
        EXPECT_EQ(c1[2] - c0[2], 0u) << "an asynchronous form allocated";
    }
    EXPECT_EQ(bud.allocs, allocs) << "an asynchronous form allocated device memory";
    lsc_async_status a = read_back<lsc_async_status>(drv, s, pst.ptr(), false);
    EXPECT_EQ(a.status, LSC_STATUS_OK);
    lsc_reference_destroy(ref);
    ASSERT_TRUE(ok(lsc_ctx_set_stream(c, nullptr), c));
    lsc_ctx_destroy(c);
    EXPECT_EQ(bud.used, 0u);
}

// Page-locked host memory that cannot be had: every host-input operation that stages through it
// says so (OUT_OF_MEMORY), and the context works again once memory is back. Only the emulated
// device can make cudaHostAlloc fail on demand.
TEST_F(Cuda, NoPinnedMemoryIsOutOfMemoryNeverACrash)
{
    const SimHooks hooks = sim_hooks(drv);
    if (!hooks.fail_pinned)
        GTEST_SKIP() << "needs the emulated device of tests/cudasim (LSC_CUDA=SIM) to make pinned "
                        "allocations fail";
    const int64_t n = 600, d = 12, k = 4;
    auto x = data::gaussian(n, d, kSeed + 210);
    lsc_matrix hm = lsc_matrix_f32(x.data(), n, d);
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.workspace_limit = 64 << 10; // host rows stream through the staging buffers
    lsc_ctx *c = cuda_ctx(p);
    ASSERT_NE(c, nullptr);
    std::vector<float> dist((size_t)(n * k));
    std::vector<int64_t> idx(dist.size());
    lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
    ko.exclude_self = 1;
    lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
    Spec g;
    hooks.fail_pinned(1 << 30);
    lsc_status st[3] = {spectrum_of(c, hm, g),
                        lsc_knn(c, &hm, nullptr, k, &ko, dist.data(), idx.data()),
                        lsc_pair_stats(c, &hm, nullptr, &pr, nullptr, nullptr)};
    const std::string msg = lsc_last_error(c);
    const char *names[3] = {"spectrum", "knn", "pair_stats"};
    hooks.fail_pinned(0);
    for (int i = 0; i < 3; i++) EXPECT_EQ(st[i], LSC_STATUS_OUT_OF_MEMORY) << names[i];
    EXPECT_TRUE(mentions(msg.c_str(), "pinned")) << msg;
    // and everything works afterwards, with the CPU's answers
    Spec cs;
    ASSERT_EQ(spectrum_of(cpu, hm, cs), LSC_STATUS_OK);
    ASSERT_TRUE(ok(spectrum_of(c, hm, g), c));
    EXPECT_TRUE(same_spectrum(g, cs));
    std::vector<float> dc(dist.size());
    std::vector<int64_t> ic(dist.size());
    ASSERT_EQ(lsc_knn(cpu, &hm, nullptr, k, &ko, dc.data(), ic.data()), LSC_STATUS_OK);
    ASSERT_TRUE(ok(lsc_knn(c, &hm, nullptr, k, &ko, dist.data(), idx.data()), c));
    EXPECT_TRUE(same_knn(dist, idx, dc, ic, k));
    lsc_ctx_destroy(c);
}

/* ---- random shapes -------------------------------------------------------------------------------- */

// Every operation on random shapes, dtypes, row padding, memory kinds, workspace limits (down to
// tiles of a few rows) and parameters, against the CPU backend: the tile edges and the small,
// odd and degenerate sizes the hand-picked cases above do not reach. LSC_CUDA_RANDOM_TRIALS sets
// the number of trials (default 24; the seed is printed, LSC_TEST_SEED repeats a run).
TEST_F(Cuda, RandomShapesDtypesAndTilesMatchTheCpu)
{
    const char *e = std::getenv("LSC_CUDA_RANDOM_TRIALS");
    const int trials = e && *e ? std::atoi(e) : 24;
    const uint64_t seed0 = kSeed + 190;
    std::cout << "[ seed     ] " << seed0 << "\n";
    std::mt19937_64 rng(seed0);
    auto pick = [&](int64_t lo, int64_t hi) {
        return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
    };
    const size_t limits[] = {0, 16 << 10, 64 << 10, 1 << 20};
    for (int t = 0; t < trials; t++) {
        const int64_t n = pick(2, 400), m = pick(2, 300), d = pick(1, 70);
        const lsc_dtype dt = kDtypes[pick(0, 3)];
        const int64_t pad = pick(0, 1) ? pick(1, 5) : 0;
        const bool on_device = pick(0, 1) != 0;
        const size_t limit = limits[pick(0, 3)];
        const lsc_metric metric = pick(0, 1) ? LSC_METRIC_COSINE : LSC_METRIC_EUCLIDEAN;
        const int kind = (int)pick(0, 3);
        std::vector<float> x =
            kind == 0   ? data::gaussian(n, d, seed0 + 2 * t)
            : kind == 1 ? data::rank_k(n, d, std::max<int64_t>(1, d / 3), seed0 + 2 * t, 50.0)
            : kind == 2 ? data::with_duplicates(n, d, seed0 + 2 * t, {{0, n - 1}, {1, n / 2}})
                        : data::tight_cluster(n, d, seed0 + 2 * t);
        std::vector<float> y = data::gaussian(m, d, seed0 + 2 * t + 1, 0.3, 1.2);
        std::ostringstream what;
        what << "trial " << t << ": n " << n << " m " << m << " d " << d << " " << dtype_name(dt)
             << " pad " << pad << (on_device ? " device" : " host") << " workspace " << limit
             << (metric == LSC_METRIC_COSINE ? " cosine" : " euclidean") << " data " << kind;
        SCOPED_TRACE(what.str());
        // the CPU reads the same values: the float32 each dtype holds
        HostMat hx = host_mat(x, n, d, dt, pad), hy = host_mat(y, m, d, dt, pad);
        std::vector<float> xs = hx.f32(), ys = hy.f32();
        lsc_matrix cx = lsc_matrix_f32(xs.data(), n, d), cy = lsc_matrix_f32(ys.data(), m, d);
        DevMat dx(drv, hx), dy(drv, hy);
        lsc_matrix gx = on_device ? dx.x : hx.m(), gy = on_device ? dy.x : hy.m();
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.workspace_limit = limit;
        lsc_ctx *c = cuda_ctx(p);
        ASSERT_NE(c, nullptr);

        Spec sc, sg;
        ASSERT_EQ(spectrum_of(cpu, cx, sc), LSC_STATUS_OK) << lsc_last_error(cpu);
        ASSERT_TRUE(ok(spectrum_of(c, gx, sg), c));
        EXPECT_TRUE(same_spectrum(sg, sc));

        const bool self = pick(0, 1) != 0;
        const int64_t k = pick(1, self ? std::min<int64_t>(n - 1, 40) : std::min<int64_t>(n, 40));
        lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
        ko.metric = metric;
        ko.exclude_self = self;
        const lsc_matrix *cq = self ? &cx : &cy, *gq = self ? &gx : &gy;
        const int64_t rows = self ? n : m;
        std::vector<float> dc((size_t)(rows * k)), dg(dc.size());
        std::vector<int64_t> ic(dc.size()), ig(dc.size());
        ASSERT_EQ(lsc_knn(cpu, cq, self ? nullptr : &cx, k, &ko, dc.data(), ic.data()),
                  LSC_STATUS_OK)
            << lsc_last_error(cpu);
        ASSERT_TRUE(ok(lsc_knn(c, gq, self ? nullptr : &gx, k, &ko, dg.data(), ig.data()), c));
        EXPECT_TRUE(same_knn(dg, ig, dc, ic, k));

        lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
        po.metric = metric;
        po.uniformity = pick(0, 1);
        po.bins = pick(1, 300);
        po.dup_eps = pick(0, 1) ? 1e-6 : 0.05 * (double)pick(1, 20);
        po.dup_report = pick(0, 20);
        if (pick(0, 3) == 0) {
            po.subset_rows = pick(2, n);
            po.seed = (uint64_t)pick(1, 1000);
        }
        lsc_pair_result pc = LSC_PAIR_RESULT_INIT, pg = LSC_PAIR_RESULT_INIT;
        std::vector<int64_t> hc((size_t)po.bins), hg((size_t)po.bins);
        std::vector<lsc_pair> nc((size_t)po.dup_report + 1), ng((size_t)po.dup_report + 1);
        ASSERT_EQ(lsc_pair_stats(cpu, &cx, &po, &pc, hc.data(), nc.data()), LSC_STATUS_OK)
            << lsc_last_error(cpu);
        ASSERT_TRUE(ok(lsc_pair_stats(c, &gx, &po, &pg, hg.data(), ng.data()), c));
        EXPECT_TRUE(same_pairs(pg, pc, hg, hc, ng, nc));

        // PRDC needs k + 1 rows in both sets
        const int64_t pk = pick(1, std::min<int64_t>(std::min(n, m) - 1, 12));
        lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
        ro.metric = metric;
        ro.comparison = pick(0, 1) ? LSC_COMPARISON_INCLUSIVE : LSC_COMPARISON_STRICT;
        lsc_reference *cref = nullptr, *gref = nullptr;
        ASSERT_EQ(lsc_reference_create(cpu, &cx, pk, &ro, &cref), LSC_STATUS_OK)
            << lsc_last_error(cpu);
        lsc_matrix hxm = hx.m();
        ASSERT_TRUE(ok(lsc_reference_create(c, &hxm, pk, &ro, &gref), c));
        lsc_prdc_result rc = LSC_PRDC_RESULT_INIT, rg = LSC_PRDC_RESULT_INIT;
        // the per-row outcomes too: the same exact decisions, so the very same rows
        std::vector<unsigned char> fc((size_t)n), fg((size_t)n, 0xee);
        std::vector<int64_t> cc((size_t)m), cg((size_t)m, -1);
        ASSERT_EQ(lsc_prdc_rows(cpu, cref, &cy, &rc, fc.data(), cc.data()), LSC_STATUS_OK)
            << lsc_last_error(cpu);
        ASSERT_TRUE(ok(lsc_prdc_rows(c, gref, &gy, &rg, fg.data(), cg.data()), c));
        EXPECT_TRUE(same_prdc(rg, rc));
        EXPECT_EQ(fg, fc);
        EXPECT_EQ(cg, cc);
        lsc_reference_destroy(cref);
        lsc_reference_destroy(gref);
        lsc_ctx_destroy(c);
        if (::testing::Test::HasFailure()) break; // one failing trial says enough
    }
}

/* ---- determinism -------------------------------------------------------------------------------------- */

TEST_F(Cuda, TwoRunsAreBitIdentical)
{
    const int64_t n = 2000, m = 1500, d = 24, k = 6;
    auto xr = data::gaussian(n, d, kSeed + 180);
    auto xf = data::gaussian(m, d, kSeed + 181, 0.1, 1.0);
    lsc_matrix r = lsc_matrix_f32(xr.data(), n, d), f = lsc_matrix_f32(xf.data(), m, d);
    DevMat dr(drv, host_mat(xr, n, d));
    Driver::CUstream s = new_stream();
    struct Run {
        Spec spec, wide;
        lsc_spectrum_result async = LSC_SPECTRUM_RESULT_INIT;
        std::vector<float> dist, block;
        std::vector<int64_t> idx, hist;
        lsc_pair_result pairs = LSC_PAIR_RESULT_INIT;
        lsc_prdc_result prdc = LSC_PRDC_RESULT_INIT;
        std::vector<double> radii;
    };
    auto run = [&](Run &o) {
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.stream = s;
        lsc_ctx *c = cuda_ctx(p);
        ASSERT_NE(c, nullptr);
        ASSERT_TRUE(ok(spectrum_of(c, r, o.spec), c));
        lsc_matrix wide = lsc_matrix_f32(xr.data(), 20, 24 * 10);
        ASSERT_TRUE(ok(spectrum_of(c, wide, o.wide), c));
        DevBuf out(drv, sizeof(lsc_spectrum_result));
        ASSERT_TRUE(out.result<lsc_spectrum_result>()) << drv.error;
        ASSERT_TRUE(
            ok(lsc_spectrum_async(c, &dr.x, nullptr, out.as<lsc_spectrum_result>(), nullptr), c));
        o.async = read_back<lsc_spectrum_result>(drv, s, out.ptr(), false);
        lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
        ko.exclude_self = 1;
        o.dist.resize((size_t)(n * k));
        o.idx.resize(o.dist.size());
        ASSERT_TRUE(ok(lsc_knn(c, &r, nullptr, k, &ko, o.dist.data(), o.idx.data()), c));
        o.block.resize((size_t)(n * m));
        ASSERT_TRUE(
            ok(lsc_distances(c, &r, &f, LSC_METRIC_COSINE, o.block.data(), m, LSC_MEMORY_HOST), c));
        o.hist.resize(64);
        std::memset(&o.pairs, 0, sizeof o.pairs);
        o.pairs.size = sizeof o.pairs;
        ASSERT_TRUE(ok(lsc_pair_stats(c, &f, nullptr, &o.pairs, o.hist.data(), nullptr), c));
        lsc_reference *ref = nullptr;
        ASSERT_TRUE(ok(lsc_reference_create(c, &r, k, nullptr, &ref), c));
        o.radii.assign(lsc_reference_radii(ref), lsc_reference_radii(ref) + n);
        std::memset(&o.prdc, 0, sizeof o.prdc);
        o.prdc.size = sizeof o.prdc;
        ASSERT_TRUE(ok(lsc_prdc(c, ref, &f, &o.prdc), c));
        lsc_reference_destroy(ref);
        lsc_ctx_destroy(c);
    };
    Run a, b;
    run(a);
    run(b);
    EXPECT_EQ(std::memcmp(&a.spec.r, &b.spec.r, sizeof a.spec.r), 0);
    EXPECT_EQ(a.spec.sv, b.spec.sv);
    EXPECT_EQ(a.spec.cv, b.spec.cv);
    EXPECT_EQ(std::memcmp(&a.wide.r, &b.wide.r, sizeof a.wide.r), 0);
    EXPECT_EQ(a.wide.sv, b.wide.sv);
    EXPECT_EQ(std::memcmp(&a.async, &b.async, sizeof a.async), 0);
    EXPECT_EQ(a.dist, b.dist);
    EXPECT_EQ(a.idx, b.idx);
    EXPECT_EQ(a.block, b.block);
    EXPECT_EQ(a.hist, b.hist);
    EXPECT_EQ(std::memcmp(&a.pairs, &b.pairs, sizeof a.pairs), 0);
    EXPECT_EQ(a.radii, b.radii);
    EXPECT_EQ(std::memcmp(&a.prdc, &b.prdc, sizeof a.prdc), 0);
}

/* ---- distribution distances (docs/METRICS.md section 10): CUDA against the CPU ----------------- */

// FD statistics from the covariance-only accumulator: host and device rows, streamed and merged,
// against the CPU's, and the figure within twice the pinned tolerance.
TEST_F(Cuda, FrechetMatchesCpu)
{
    const int64_t n = 700, m = 520, d = 20; // several tiles of neither size
    auto x = data::gaussian(n, d, 71, 1.0, 2.0);
    auto y = data::gaussian(m, d, 72, 1.5, 1.0);
    lsc_matrix a = lsc_matrix_f32(x.data(), n, d), b = lsc_matrix_f32(y.data(), m, d);
    lsc_fd_result rc = LSC_FD_RESULT_INIT, rg = LSC_FD_RESULT_INIT;
    ASSERT_TRUE(ok(lsc_frechet_distance(cpu, &a, &b, &rc), cpu));
    ASSERT_TRUE(ok(lsc_frechet_distance(ctx, &a, &b, &rg)));
    EXPECT_NEAR(rg.fd, rc.fd, 2 * rc.tolerance);
    EXPECT_NEAR(rg.mean_term, rc.mean_term, 1e-9 * (1 + rc.mean_term));

    // device rows, in two batches on two accumulators, merged
    DevBuf dx(drv, x.data(), x.size() * sizeof(float));
    lsc_fd_acc *p = nullptr, *q = nullptr;
    ASSERT_TRUE(ok(lsc_fd_acc_create(ctx, d, &p)));
    ASSERT_TRUE(ok(lsc_fd_acc_create(ctx, d, &q)));
    lsc_matrix top = lsc_matrix_f32(dx.as<float>(), 300, d);
    top.memory = LSC_MEMORY_DEVICE;
    lsc_matrix rest = top;
    rest.data = dx.as<float>() + 300 * d;
    rest.rows = n - 300;
    ASSERT_TRUE(ok(lsc_fd_acc_add(ctx, p, &top)));
    ASSERT_TRUE(ok(lsc_fd_acc_add(ctx, q, &rest)));
    ASSERT_TRUE(ok(lsc_fd_acc_merge(ctx, p, q)));
    std::vector<double> mu_g(d), s_g(d * d), mu_c(d), s_c(d * d);
    ASSERT_TRUE(ok(lsc_fd_acc_stats(ctx, p, mu_g.data(), s_g.data())));
    ASSERT_TRUE(ok(lsc_fd_stats(cpu, &a, mu_c.data(), s_c.data()), cpu));
    for (int64_t k = 0; k < d; k++) EXPECT_NEAR(mu_g[k], mu_c[k], 1e-12 * (1 + std::fabs(mu_c[k])));
    for (int64_t k = 0; k < d * d; k++) EXPECT_NEAR(s_g[k], s_c[k], 1e-10);
    lsc_fd_acc_destroy(p);
    lsc_fd_acc_destroy(q);
    // an accumulator of the other backend is refused
    lsc_fd_acc *h = nullptr;
    ASSERT_TRUE(ok(lsc_fd_acc_create(cpu, d, &h), cpu));
    EXPECT_EQ(lsc_fd_acc_add(ctx, h, &a), LSC_STATUS_INVALID_ARGUMENT);
    lsc_fd_acc_destroy(h);
}

// KID and RBF MMD: the kernel sums on cuBLAS tiles against the CPU's, host and device rows,
// within twice the pinned tolerance; a small workspace makes tiles of 64 rows (several per set).
TEST_F(Cuda, KidAndMmdMatchCpu)
{
    const int64_t n = 120, m = 100, d = 8;
    auto x = data::gaussian(n, d, 81, 0.1, 1.0);
    auto y = data::gaussian(m, d, 82, 0.0, 1.2);
    lsc_matrix a = lsc_matrix_f32(x.data(), n, d), b = lsc_matrix_f32(y.data(), m, d);
    lsc_kid_opts o = LSC_KID_OPTS_INIT;
    o.subsets = 2;
    o.subset_rows = 110;
    o.seed = 4;
    lsc_kid_result kc = LSC_KID_RESULT_INIT, kg = LSC_KID_RESULT_INIT;
    std::vector<double> sc(2), sg(2);
    ASSERT_TRUE(ok(lsc_kid(cpu, &a, &b, &o, &kc, sc.data()), cpu));
    ASSERT_TRUE(ok(lsc_kid(ctx, &a, &b, &o, &kg, sg.data())));
    for (int s = 0; s < 2; s++) EXPECT_NEAR(sg[s], sc[s], 2 * kc.tolerance) << "subset " << s;
    EXPECT_EQ(kg.subset_rows, kc.subset_rows);

    DevBuf dx(drv, x.data(), x.size() * sizeof(float)), dy(drv, y.data(), y.size() * sizeof(float));
    lsc_matrix da = lsc_matrix_f32(dx.as<float>(), n, d), db = lsc_matrix_f32(dy.as<float>(), m, d);
    da.memory = db.memory = LSC_MEMORY_DEVICE;
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.workspace_limit = 40000; // tiles of 64 rows at D = 8 (cuda/mmd.cu)
    lsc_ctx *small = cuda_ctx(p);
    ASSERT_NE(small, nullptr);
    lsc_kid_result kd = LSC_KID_RESULT_INIT;
    ASSERT_TRUE(ok(lsc_kid(small, &da, &db, &o, &kd, nullptr), small));
    EXPECT_NEAR(kd.mean, kc.mean, 2 * kc.tolerance);

    lsc_mmd_opts mo = LSC_MMD_OPTS_INIT;
    mo.sigma = 2.0;
    lsc_mmd_result mc = LSC_MMD_RESULT_INIT, mg = LSC_MMD_RESULT_INIT, md = LSC_MMD_RESULT_INIT;
    ASSERT_TRUE(ok(lsc_mmd(cpu, &a, &b, &mo, &mc), cpu));
    ASSERT_TRUE(ok(lsc_mmd(ctx, &a, &b, &mo, &mg)));
    ASSERT_TRUE(ok(lsc_mmd(small, &a, &b, &mo, &md), small));
    EXPECT_NEAR(mg.mmd, mc.mmd, 2 * mc.tolerance);
    EXPECT_NEAR(md.mmd, mc.mmd, 2 * mc.tolerance);
    EXPECT_GT(mc.mmd, 10 * mc.tolerance);
    lsc_ctx_destroy(small);
}

// RBF Vendi of order 2: the same kernel sums (bandwidth sigma / sqrt(2)) against the CPU's, host
// and device rows, a seeded subset too, within twice the pinned tolerance.
TEST_F(Cuda, VendiRbfMatchesCpu)
{
    const int64_t n = 150, d = 8;
    auto x = data::gaussian(n, d, 83, 0.0, 1.0);
    lsc_matrix a = lsc_matrix_f32(x.data(), n, d);
    DevBuf dx(drv, x.data(), x.size() * sizeof(float));
    lsc_matrix da = lsc_matrix_f32(dx.as<float>(), n, d);
    da.memory = LSC_MEMORY_DEVICE;
    for (int64_t max_rows : {int64_t(0), int64_t(90)}) {
        SCOPED_TRACE(max_rows);
        lsc_vendi_rbf_opts o = LSC_VENDI_RBF_OPTS_INIT;
        o.sigma = 2.0;
        o.max_rows = max_rows;
        o.seed = 5;
        lsc_vendi_rbf_result c = LSC_VENDI_RBF_RESULT_INIT, g = LSC_VENDI_RBF_RESULT_INIT,
                             gd = LSC_VENDI_RBF_RESULT_INIT;
        ASSERT_TRUE(ok(lsc_vendi_rbf(cpu, &a, &o, &c), cpu));
        ASSERT_TRUE(ok(lsc_vendi_rbf(ctx, &a, &o, &g)));
        ASSERT_TRUE(ok(lsc_vendi_rbf(ctx, &da, &o, &gd)));
        EXPECT_NEAR(g.vendi_q2, c.vendi_q2, 2 * c.tolerance);
        EXPECT_NEAR(gd.vendi_q2, c.vendi_q2, 2 * c.tolerance);
        EXPECT_EQ(g.rows_used, c.rows_used);
        EXPECT_EQ(g.subset, c.subset);
    }
}

} // namespace
