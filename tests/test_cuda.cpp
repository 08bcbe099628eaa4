// The CUDA backend. Without a usable device (or in a build without CUDA) the GPU tests skip with
// the reason lsc gives, unless LSC_REQUIRE_GPU=1 asks for a device, which then makes them fail.
//
// With a device: the context reports CUDA and the GPU, streams can be set, and every operation
// either works (and agrees with the CPU backend within twice the METRICS.md tolerances) or, while
// the backend does not implement it yet, returns LSC_STATUS_NOT_SUPPORTED naming the operation,
// with every output untouched. Device buffers and streams are made through the CUDA driver API,
// loaded at run time, so this file needs no CUDA headers and builds everywhere.
#include "datasets.hpp"
#include "test_util.hpp"

#include <lsc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
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

bool gpu_required()
{
    const char *e = std::getenv("LSC_REQUIRE_GPU");
    return e && std::strcmp(e, "1") == 0;
}

#ifdef LSC_TEST_HAVE_CUDA
const bool kBuiltWithCuda = true;
#else
const bool kBuiltWithCuda = false;
#endif

/* ---------------------------------------------------------------------------------------------- */
/* the CUDA driver API, loaded at run time                                                        */

struct Driver {
    typedef int CUresult;
    typedef int CUdevice;
    typedef void *CUcontext;
    typedef void *CUstream;
    typedef unsigned long long CUdeviceptr;

    CUresult (*cuInit)(unsigned) = nullptr;
    CUresult (*cuDeviceGet)(CUdevice *, int) = nullptr;
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice) = nullptr;
    CUresult (*cuDevicePrimaryCtxRelease)(CUdevice) = nullptr;
    CUresult (*cuCtxSetCurrent)(CUcontext) = nullptr;
    CUresult (*cuCtxSynchronize)() = nullptr;
    CUresult (*cuStreamCreate)(CUstream *, unsigned) = nullptr;
    CUresult (*cuStreamDestroy)(CUstream) = nullptr;
    CUresult (*cuMemAlloc)(CUdeviceptr *, size_t) = nullptr;
    CUresult (*cuMemFree)(CUdeviceptr) = nullptr;
    CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t) = nullptr;
    CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t) = nullptr;

    void *lib = nullptr;
    CUdevice dev = 0;
    CUcontext primary = nullptr;
    std::string error;

    template <class F> bool sym(F &f, const char *name)
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
               sym(cuCtxSynchronize, "cuCtxSynchronize") &&
               sym(cuStreamCreate, "cuStreamCreate") &&
               sym(cuStreamDestroy, "cuStreamDestroy_v2") && sym(cuMemAlloc, "cuMemAlloc_v2") &&
               sym(cuMemFree, "cuMemFree_v2") && sym(cuMemcpyHtoD, "cuMemcpyHtoD_v2") &&
               sym(cuMemcpyDtoH, "cuMemcpyDtoH_v2") && check(cuInit(0), "cuInit") &&
               check(cuDeviceGet(&dev, ordinal), "cuDeviceGet") &&
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
        if (!check(cuMemAlloc(&d, bytes), "cuMemAlloc")) return 0;
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

/* ---------------------------------------------------------------------------------------------- */
/* with a device                                                                                  */

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
    }
    void TearDown() override
    {
        lsc_ctx_destroy(ctx);
        lsc_ctx_destroy(cpu);
    }

    // NOT_SUPPORTED naming the operation, or OK; returns true if the operation ran.
    bool ran(lsc_status s, const char *op)
    {
        if (s == LSC_STATUS_OK) {
            EXPECT_STREQ(lsc_last_error(ctx), "");
            return true;
        }
        EXPECT_EQ(s, LSC_STATUS_NOT_SUPPORTED) << op << ": " << lsc_status_name(s) << ": "
                                               << lsc_last_error(ctx);
        EXPECT_TRUE(mentions(lsc_last_error(ctx), op)) << lsc_last_error(ctx);
        EXPECT_TRUE(mentions(lsc_last_error(ctx), "cuda")) << lsc_last_error(ctx);
        return false;
    }

    lsc_ctx *ctx = nullptr, *cpu = nullptr;
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
        p.backend = LSC_BACKEND_CUDA;
        lsc_ctx *c = nullptr;
        ASSERT_EQ(lsc_ctx_create(&p, &c), LSC_STATUS_OK) << i << ": " << lsc_last_error(c);
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
    lsc_pair_result r;
    EXPECT_EQ(lsc_pair_stats(c, &m, nullptr, &r, nullptr, nullptr), LSC_STATUS_BAD_CONTEXT);
    lsc_ctx_destroy(c);
}

TEST_F(Cuda, SetStream)
{
    EXPECT_EQ(lsc_ctx_set_stream(ctx, nullptr), LSC_STATUS_OK) << lsc_last_error(ctx);
    EXPECT_STREQ(lsc_last_error(ctx), "");
    Driver drv;
    if (!drv.open(0)) GTEST_SKIP() << "the CUDA driver API is not usable here: " << drv.error;
    Driver::CUstream s = nullptr;
    ASSERT_TRUE(drv.check(drv.cuStreamCreate(&s, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate"))
        << drv.error;
    EXPECT_EQ(lsc_ctx_set_stream(ctx, s), LSC_STATUS_OK) << lsc_last_error(ctx);
    EXPECT_STREQ(lsc_last_error(ctx), "");
    // work on the caller's stream: implemented or not, never a device error
    auto x = data::gaussian(64, 8, kSeed + 1);
    lsc_matrix m = lsc_matrix_f32(x.data(), 64, 8);
    std::vector<float> d(64 * 3);
    std::vector<int64_t> ix(64 * 3);
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    o.exclude_self = 1;
    ran(lsc_knn(ctx, &m, nullptr, 3, &o, d.data(), ix.data()), "knn");
    EXPECT_EQ(lsc_ctx_set_stream(ctx, nullptr), LSC_STATUS_OK) << lsc_last_error(ctx);
    ran(lsc_knn(ctx, &m, nullptr, 3, &o, d.data(), ix.data()), "knn");
    // a context created on the caller's stream, destroyed while the stream still exists
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CUDA;
    p.stream = s;
    lsc_ctx *c2 = nullptr;
    EXPECT_EQ(lsc_ctx_create(&p, &c2), LSC_STATUS_OK) << lsc_last_error(c2);
    lsc_ctx_destroy(c2);
    EXPECT_TRUE(drv.check(drv.cuStreamDestroy(s), "cuStreamDestroy")) << drv.error;
}

TEST_F(Cuda, EveryOperationWorksOrSaysItIsNotSupported)
{
    const int64_t n = 200, m = 150, d = 16, k = 5;
    auto real = data::gaussian(n, d, kSeed + 2);
    auto fake = data::gaussian(m, d, kSeed + 3, 0.1, 1.1);
    lsc_matrix rm = lsc_matrix_f32(real.data(), n, d), fm = lsc_matrix_f32(fake.data(), m, d);

    { // spectrum
        lsc_spectrum_result g, c;
        std::vector<double> sg(d), sc(d);
        sentinel(g);
        sentinel(sg);
        if (ran(lsc_spectrum(ctx, &rm, nullptr, &g, sg.data(), nullptr), "spectrum")) {
            ASSERT_EQ(lsc_spectrum(cpu, &rm, nullptr, &c, sc.data(), nullptr), LSC_STATUS_OK);
            EXPECT_PRED3(near_rel, g.effective_rank, c.effective_rank, 4e-4);
            EXPECT_PRED3(near_rel, g.total_variance, c.total_variance, 4e-4);
            EXPECT_PRED3(near_rel, g.vendi_cosine, c.vendi_cosine, 4e-4);
            for (int64_t i = 0; i < d; i++) EXPECT_PRED4(near_tol, sg[i], sc[i], 4e-4, 1e-9);
        } else {
            EXPECT_TRUE(is_sentinel(g) && is_sentinel(sg)) << "output written on failure";
        }
    }
    { // streaming accumulator
        lsc_spectrum_acc *acc = (lsc_spectrum_acc *)(uintptr_t)0xACC;
        if (ran(lsc_spectrum_acc_create(ctx, d, nullptr, &acc), "acc_create")) {
            ASSERT_EQ(lsc_spectrum_acc_add(ctx, acc, &rm), LSC_STATUS_OK) << lsc_last_error(ctx);
            lsc_spectrum_result g, c;
            ASSERT_EQ(lsc_spectrum_acc_finalize(ctx, acc, &g, nullptr, nullptr), LSC_STATUS_OK)
                << lsc_last_error(ctx);
            ASSERT_EQ(lsc_spectrum(cpu, &rm, nullptr, &c, nullptr, nullptr), LSC_STATUS_OK);
            EXPECT_PRED3(near_rel, g.effective_rank, c.effective_rank, 4e-4);
            // an accumulator of one backend is refused by a context of another
            EXPECT_EQ(lsc_spectrum_acc_add(cpu, acc, &rm), LSC_STATUS_INVALID_ARGUMENT);
            lsc_spectrum_acc_destroy(acc);
        } else {
            EXPECT_EQ(acc, (lsc_spectrum_acc *)(uintptr_t)0xACC);
        }
    }
    { // distances
        std::vector<float> g(n * m), c(n * m);
        sentinel(g);
        if (ran(lsc_distances(ctx, &rm, &fm, LSC_METRIC_EUCLIDEAN, g.data(), m, LSC_MEMORY_HOST),
                "distances")) {
            ASSERT_EQ(lsc_distances(cpu, &rm, &fm, LSC_METRIC_EUCLIDEAN, c.data(), m,
                                    LSC_MEMORY_HOST),
                      LSC_STATUS_OK);
            for (size_t i = 0; i < g.size(); i++) ASSERT_PRED4(near_tol, g[i], c[i], 2e-5, 2e-6) << i;
        } else {
            EXPECT_TRUE(is_sentinel(g));
        }
    }
    { // pair statistics
        lsc_pair_result g, c;
        std::vector<int64_t> hg(64), hc(64);
        sentinel(g);
        sentinel(hg);
        if (ran(lsc_pair_stats(ctx, &rm, nullptr, &g, hg.data(), nullptr), "pair_stats")) {
            ASSERT_EQ(lsc_pair_stats(cpu, &rm, nullptr, &c, hc.data(), nullptr), LSC_STATUS_OK);
            EXPECT_PRED3(near_rel, g.mean, c.mean, 4e-4);
            EXPECT_PRED3(near_rel, g.std, c.std, 4e-4);
            EXPECT_PRED3(near_rel, g.min, c.min, 2e-6);
            EXPECT_PRED3(near_rel, g.nn_median, c.nn_median, 2e-6);
            EXPECT_EQ(g.pairs, c.pairs);
        } else {
            EXPECT_TRUE(is_sentinel(g) && is_sentinel(hg));
        }
    }
    { // kNN
        std::vector<float> dg(n * k), dc(n * k);
        std::vector<int64_t> ig(n * k), ic(n * k);
        sentinel(dg);
        sentinel(ig);
        if (ran(lsc_knn(ctx, &fm, &rm, k, nullptr, dg.data(), ig.data()), "knn")) {
            ASSERT_EQ(lsc_knn(cpu, &fm, &rm, k, nullptr, dc.data(), ic.data()), LSC_STATUS_OK);
            for (int64_t i = 0; i < m * k; i++) {
                ASSERT_PRED3(near_rel, dg[i], dc[i], 2e-6) << i;
                if (ig[i] != ic[i]) { // only a tie may reorder: both lists hold the same distance
                    int64_t q = i / k;
                    bool tie = false;
                    for (int64_t t = 0; t < k; t++) tie |= ic[q * k + t] == ig[i];
                    EXPECT_TRUE(tie || (i % k == k - 1 && near_rel(dg[i], dc[i], 2e-6)))
                        << "query " << q << " rank " << i % k << ": " << ig[i] << " vs " << ic[i];
                }
            }
        } else {
            EXPECT_TRUE(is_sentinel(dg) && is_sentinel(ig));
        }
    }
    { // reference and PRDC
        lsc_reference *gref = (lsc_reference *)(uintptr_t)0x4EF, *cref = nullptr;
        ASSERT_EQ(lsc_reference_create(cpu, &rm, k, nullptr, &cref), LSC_STATUS_OK);
        if (ran(lsc_reference_create(ctx, &rm, k, nullptr, &gref), "reference_radii")) {
            const double *a = lsc_reference_radii(gref), *b = lsc_reference_radii(cref);
            for (int64_t i = 0; i < n; i++) EXPECT_PRED3(near_rel, a[i], b[i], 2e-6) << i;
            lsc_reference_destroy(gref);
        } else {
            EXPECT_EQ(gref, (lsc_reference *)(uintptr_t)0x4EF);
        }
        lsc_prdc_result g, c;
        sentinel(g);
        if (ran(lsc_prdc(ctx, cref, &fm, &g), "prdc")) {
            ASSERT_EQ(lsc_prdc(cpu, cref, &fm, &c), LSC_STATUS_OK);
            EXPECT_EQ(g.precision, c.precision);
            EXPECT_EQ(g.recall, c.recall);
            EXPECT_EQ(g.density, c.density);
            EXPECT_EQ(g.coverage, c.coverage);
        } else {
            EXPECT_TRUE(is_sentinel(g));
        }
        lsc_reference_destroy(cref);
    }
    // validation is the host's, whatever the backend implements
    auto bad = real;
    bad[17 * d + 3] = NAN;
    lsc_matrix bm = lsc_matrix_f32(bad.data(), n, d);
    lsc_pair_result r;
    EXPECT_EQ(lsc_pair_stats(ctx, &bm, nullptr, &r, nullptr, nullptr), LSC_STATUS_INVALID_DATA);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "row 17")) << lsc_last_error(ctx);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "col 3")) << lsc_last_error(ctx);
}

TEST_F(Cuda, AutoChoosesCudaOnlyWhenEveryOperationIsThere)
{
    auto x = data::gaussian(40, 4, kSeed + 4);
    lsc_matrix m = lsc_matrix_f32(x.data(), 40, 4);
    std::vector<float> d(40 * 40);
    std::vector<int64_t> idx(40 * 3);
    lsc_pair_result pr;
    lsc_spectrum_result sr;
    lsc_spectrum_acc *acc = nullptr;
    bool complete = lsc_spectrum(ctx, &m, nullptr, &sr, nullptr, nullptr) == LSC_STATUS_OK &&
                    lsc_distances(ctx, &m, &m, LSC_METRIC_EUCLIDEAN, d.data(), 40,
                                  LSC_MEMORY_HOST) == LSC_STATUS_OK &&
                    lsc_pair_stats(ctx, &m, nullptr, &pr, nullptr, nullptr) == LSC_STATUS_OK &&
                    lsc_spectrum_acc_create(ctx, 4, nullptr, &acc) == LSC_STATUS_OK &&
                    lsc_knn(ctx, &m, &m, 3, nullptr, d.data(), idx.data()) == LSC_STATUS_OK;
    lsc_spectrum_acc_destroy(acc);
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    lsc_ctx *a = nullptr;
    ASSERT_EQ(lsc_ctx_create(&p, &a), LSC_STATUS_OK) << lsc_last_error(a);
    if (!complete) {
        EXPECT_EQ(lsc_ctx_backend(a), LSC_BACKEND_CPU)
            << "AUTO chose a CUDA backend that lacks operations";
    }
    lsc_ctx_destroy(a);
}

TEST_F(Cuda, DeviceMemory)
{
    Driver drv;
    if (!drv.open(0)) GTEST_SKIP() << "the CUDA driver API is not usable here: " << drv.error;
    const int64_t n = 120, d = 8, k = 4;
    auto x = data::gaussian(n, d, kSeed + 5);
    Driver::CUdeviceptr dx = drv.upload(x.data(), x.size() * sizeof(float));
    ASSERT_NE(dx, 0u) << drv.error;
    Driver::CUdeviceptr dd = 0, di = 0;
    ASSERT_TRUE(drv.check(drv.cuMemAlloc(&dd, n * k * sizeof(float)), "cuMemAlloc")) << drv.error;
    ASSERT_TRUE(drv.check(drv.cuMemAlloc(&di, n * k * sizeof(int64_t)), "cuMemAlloc")) << drv.error;
    lsc_matrix hm = lsc_matrix_f32(x.data(), n, d);
    lsc_matrix dm = hm;
    dm.data = (const void *)(uintptr_t)dx;
    dm.memory = LSC_MEMORY_DEVICE;

    std::vector<float> cd(n * k);
    std::vector<int64_t> ci(n * k);
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    o.exclude_self = 1;
    ASSERT_EQ(lsc_knn(cpu, &hm, nullptr, k, &o, cd.data(), ci.data()), LSC_STATUS_OK);

    // device input, host output
    std::vector<float> gd(n * k);
    std::vector<int64_t> gi(n * k);
    sentinel(gd);
    sentinel(gi);
    if (ran(lsc_knn(ctx, &dm, nullptr, k, &o, gd.data(), gi.data()), "knn")) {
        for (int64_t i = 0; i < n * k; i++) ASSERT_PRED3(near_rel, gd[i], cd[i], 2e-6) << i;
    } else {
        EXPECT_TRUE(is_sentinel(gd) && is_sentinel(gi));
    }
    // device input and output
    lsc_knn_opts od = o;
    od.out_memory = LSC_MEMORY_DEVICE;
    if (ran(lsc_knn(ctx, &dm, nullptr, k, &od, (float *)(uintptr_t)dd, (int64_t *)(uintptr_t)di),
            "knn")) {
        ASSERT_TRUE(drv.download(gd.data(), dd, gd.size() * sizeof(float))) << drv.error;
        ASSERT_TRUE(drv.download(gi.data(), di, gi.size() * sizeof(int64_t))) << drv.error;
        for (int64_t i = 0; i < n * k; i++) ASSERT_PRED3(near_rel, gd[i], cd[i], 2e-6) << i;
    }
    // NaN in device memory: the device backend checks its own
    auto bad = x;
    bad[33 * d + 5] = NAN;
    Driver::CUdeviceptr dbad = drv.upload(bad.data(), bad.size() * sizeof(float));
    ASSERT_NE(dbad, 0u) << drv.error;
    lsc_matrix bm = dm;
    bm.data = (const void *)(uintptr_t)dbad;
    lsc_status s = lsc_knn(ctx, &bm, nullptr, k, &o, gd.data(), gi.data());
    EXPECT_TRUE(s == LSC_STATUS_INVALID_DATA || s == LSC_STATUS_NOT_SUPPORTED)
        << lsc_status_name(s) << ": " << lsc_last_error(ctx);
    // a reference is built from host memory
    lsc_reference *ref = nullptr;
    s = lsc_reference_create(ctx, &dm, k, nullptr, &ref);
    EXPECT_EQ(s, LSC_STATUS_NOT_SUPPORTED) << lsc_last_error(ctx);
    lsc_reference_destroy(ref);
    drv.cuMemFree(dx);
    drv.cuMemFree(dbad);
    drv.cuMemFree(dd);
    drv.cuMemFree(di);
}

} // namespace
