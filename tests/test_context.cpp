// Contexts: parameters and their defaults, backend choice, failed contexts (every call returns
// BAD_CONTEXT and the creation reason stays), versions, the progress / cancel callback, thread
// counts, the workspace limit, and several contexts used at once from different threads.
#include "datasets.hpp"
#include "test_util.hpp"

#include <lsc.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <unistd.h>

namespace {

const uint64_t kSeed = data::seed(424242);

bool near_rel(double a, double b, double rel)
{
    if (a == b) return true;
    return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

// An owning context.
struct Ctx {
    lsc_ctx *c = nullptr;
    lsc_status status = LSC_STATUS_INTERNAL;
    explicit Ctx(int threads = 0, size_t workspace = 0, lsc_backend backend = LSC_BACKEND_CPU)
    {
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.backend = backend;
        p.threads = threads;
        p.workspace_limit = workspace;
        status = lsc_ctx_create(&p, &c);
    }
    explicit Ctx(const lsc_ctx_params *p) { status = lsc_ctx_create(p, &c); }
    ~Ctx() { lsc_ctx_destroy(c); }
    Ctx(const Ctx &) = delete;
    Ctx &operator=(const Ctx &) = delete;
    operator lsc_ctx *() const { return c; }
};

#define ASSERT_CTX(ctx) ASSERT_EQ((ctx).status, LSC_STATUS_OK) << lsc_last_error((ctx).c)
#define EXPECT_OK(ctx, call)                                                                       \
    do {                                                                                           \
        lsc_status s_ = (call);                                                                    \
        EXPECT_EQ(s_, LSC_STATUS_OK)                                                               \
            << #call << ": " << lsc_status_name(s_) << ": " << lsc_last_error(ctx);                \
        EXPECT_STREQ(lsc_last_error(ctx), "");                                                     \
    } while (0)

/* ---------------------------------------------------------------------------------------------- */
/* results of every operation, for comparisons                                                    */

struct Results {
    std::vector<float> knn_dist;
    std::vector<int64_t> knn_idx;
    lsc_pair_result pairs = LSC_PAIR_RESULT_INIT;
    std::vector<int64_t> hist;
    std::vector<lsc_pair> dups;
    lsc_prdc_result prdc = LSC_PRDC_RESULT_INIT;
    lsc_spectrum_result spec = LSC_SPECTRUM_RESULT_INIT;
    std::vector<double> sv;
};

struct Data {
    int64_t n, m, d, k;
    std::vector<float> real, fake;
    Data(int64_t n_, int64_t m_, int64_t d_, int64_t k_, uint64_t sd) : n(n_), m(m_), d(d_), k(k_)
    {
        real = data::gaussian(n, d, sd);
        fake = data::gaussian(m, d, sd + 1, 0.2, 1.1);
        // a few exact duplicates so near-duplicate pairs and zero distances exist
        for (int64_t c = 0; c < d; c++) {
            real[5 * d + c] = real[2 * d + c];
            real[(n - 1) * d + c] = real[2 * d + c];
        }
    }
    lsc_matrix r() const { return lsc_matrix_f32(real.data(), n, d); }
    lsc_matrix f() const { return lsc_matrix_f32(fake.data(), m, d); }
};

// Runs knn (exclude_self), pair_stats, reference + prdc and the spectrum on ctx.
::testing::AssertionResult run_all(lsc_ctx *ctx, const Data &dt, Results &res)
{
    lsc_matrix r = dt.r(), f = dt.f();
    res.knn_dist.assign(dt.n * dt.k, 0.0f);
    res.knn_idx.assign(dt.n * dt.k, 0);
    lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
    ko.exclude_self = 1;
    lsc_status s = lsc_knn(ctx, &r, nullptr, dt.k, &ko, res.knn_dist.data(), res.knn_idx.data());
    if (s != LSC_STATUS_OK) return ::testing::AssertionFailure() << "knn: " << lsc_last_error(ctx);
    lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
    po.bins = 32;
    po.dup_report = 10;
    res.hist.assign(po.bins, -1);
    res.dups.assign(po.dup_report, lsc_pair{-1, -1, -1.0});
    s = lsc_pair_stats(ctx, &r, &po, &res.pairs, res.hist.data(), res.dups.data());
    if (s != LSC_STATUS_OK)
        return ::testing::AssertionFailure() << "pairs: " << lsc_last_error(ctx);
    lsc_reference *ref = nullptr;
    s = lsc_reference_create(ctx, &r, dt.k, nullptr, &ref);
    if (s != LSC_STATUS_OK)
        return ::testing::AssertionFailure() << "reference: " << lsc_last_error(ctx);
    s = lsc_prdc(ctx, ref, &f, &res.prdc);
    lsc_reference_destroy(ref);
    if (s != LSC_STATUS_OK) return ::testing::AssertionFailure() << "prdc: " << lsc_last_error(ctx);
    res.sv.assign(std::min(dt.n, dt.d), -1.0);
    s = lsc_spectrum(ctx, &r, nullptr, &res.spec, res.sv.data(), nullptr);
    if (s != LSC_STATUS_OK)
        return ::testing::AssertionFailure() << "spectrum: " << lsc_last_error(ctx);
    return ::testing::AssertionSuccess();
}

// Decisions (neighbours, PRDC, histogram, near duplicates, minima) equal exactly; bulk
// float64 figures within `rel` (0 asks for bit-identical).
void expect_same(const Results &a, const Results &b, double rel)
{
    EXPECT_EQ(a.knn_idx, b.knn_idx);
    ASSERT_EQ(a.knn_dist.size(), b.knn_dist.size());
    for (size_t i = 0; i < a.knn_dist.size(); i++)
        ASSERT_TRUE(near_rel(a.knn_dist[i], b.knn_dist[i], rel > 0 ? 1e-6 : 0.0))
            << "knn dist " << i << ": " << a.knn_dist[i] << " vs " << b.knn_dist[i];
    EXPECT_EQ(a.hist, b.hist);
    ASSERT_EQ(a.pairs.near_duplicates_listed, b.pairs.near_duplicates_listed);
    for (int64_t i = 0; i < a.pairs.near_duplicates_listed; i++) {
        EXPECT_EQ(a.dups[i].i, b.dups[i].i);
        EXPECT_EQ(a.dups[i].j, b.dups[i].j);
        EXPECT_EQ(a.dups[i].d, b.dups[i].d);
    }
    EXPECT_EQ(a.pairs.near_duplicate_pairs, b.pairs.near_duplicate_pairs);
    EXPECT_EQ(a.pairs.rows_used, b.pairs.rows_used);
    EXPECT_EQ(a.pairs.pairs, b.pairs.pairs);
    EXPECT_EQ(a.pairs.min, b.pairs.min);
    EXPECT_EQ(a.pairs.nn_min, b.pairs.nn_min);
    EXPECT_EQ(a.pairs.nn_max, b.pairs.nn_max);
    EXPECT_EQ(a.pairs.nn_median, b.pairs.nn_median);
    EXPECT_PRED3(near_rel, a.pairs.nn_mean, b.pairs.nn_mean, rel);
    EXPECT_PRED3(near_rel, a.pairs.max, b.pairs.max, rel);
    // mean and std are sums of fast-form distances (docs/METRICS.md section 2): another tiling
    // changes the float32 GEMM's rounding of each, seen at 1.3e-9 relative on std
    const double fast_rel = rel > 0 ? std::max(rel, 1e-7) : 0.0;
    EXPECT_PRED3(near_rel, a.pairs.mean, b.pairs.mean, fast_rel);
    EXPECT_PRED3(near_rel, a.pairs.std, b.pairs.std, fast_rel);
    EXPECT_PRED3(near_rel, a.pairs.hist_upper, b.pairs.hist_upper, rel);
    EXPECT_EQ(a.prdc.precision, b.prdc.precision);
    EXPECT_EQ(a.prdc.recall, b.prdc.recall);
    EXPECT_EQ(a.prdc.density, b.prdc.density);
    EXPECT_EQ(a.prdc.coverage, b.prdc.coverage);
    EXPECT_EQ(a.prdc.zero_radii_real, b.prdc.zero_radii_real);
    EXPECT_EQ(a.prdc.zero_radii_fake, b.prdc.zero_radii_fake);
    EXPECT_PRED3(near_rel, a.spec.effective_rank, b.spec.effective_rank, rel);
    EXPECT_PRED3(near_rel, a.spec.rankme, b.spec.rankme, rel);
    EXPECT_PRED3(near_rel, a.spec.total_variance, b.spec.total_variance, rel);
    EXPECT_PRED3(near_rel, a.spec.participation_ratio, b.spec.participation_ratio, rel);
    EXPECT_PRED3(near_rel, a.spec.vendi_cosine, b.spec.vendi_cosine, rel);
    EXPECT_EQ(a.spec.numerical_rank, b.spec.numerical_rank);
    EXPECT_EQ(a.spec.dims_90, b.spec.dims_90);
    EXPECT_EQ(a.spec.active_units, b.spec.active_units);
    ASSERT_EQ(a.sv.size(), b.sv.size());
    for (size_t i = 0; i < a.sv.size(); i++)
        EXPECT_PRED3(near_rel, a.sv[i], b.sv[i], rel > 0 ? 1e-7 : 0.0) << "singular value " << i;
}

/* ---------------------------------------------------------------------------------------------- */
/* parameters, versions, backend choice                                                           */

TEST(Context, ParamsInitDefaults)
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    EXPECT_EQ(p.size, sizeof(lsc_ctx_params));
    EXPECT_EQ(p.backend, LSC_BACKEND_AUTO);
    EXPECT_EQ(p.device, 0);
    EXPECT_EQ(p.stream, nullptr);
    EXPECT_EQ(p.threads, 0);
    EXPECT_EQ(p.workspace_limit, 0u);
    EXPECT_EQ(p.precision, LSC_PRECISION_FP32);
    // the other _INIT macros
    lsc_spectrum_opts so = LSC_SPECTRUM_OPTS_INIT;
    EXPECT_EQ(so.size, sizeof so);
    EXPECT_EQ(so.active_threshold, 0.01);
    lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
    EXPECT_EQ(po.size, sizeof po);
    EXPECT_EQ(po.metric, LSC_METRIC_EUCLIDEAN);
    EXPECT_EQ(po.bins, 64);
    EXPECT_EQ(po.dup_eps, 1e-6);
    EXPECT_EQ(po.dup_report, 100);
    EXPECT_EQ(po.subset_rows, 0);
    lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
    EXPECT_EQ(ko.size, sizeof ko);
    EXPECT_EQ(ko.exclude_self, 0);
    EXPECT_EQ(ko.out_memory, LSC_MEMORY_HOST);
    lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
    EXPECT_EQ(ro.size, sizeof ro);
    EXPECT_EQ(ro.comparison, LSC_COMPARISON_STRICT);
}

TEST(Context, VersionMatchesHeader)
{
    EXPECT_EQ(LSC_VERSION_NUMBER,
              LSC_VERSION_MAJOR * 10000 + LSC_VERSION_MINOR * 100 + LSC_VERSION_PATCH);
    EXPECT_EQ(lsc_version_number(), LSC_VERSION_NUMBER);
    ASSERT_NE(lsc_version(), nullptr);
    std::string want = std::to_string(LSC_VERSION_MAJOR) + "." + std::to_string(LSC_VERSION_MINOR) +
                       "." + std::to_string(LSC_VERSION_PATCH);
    EXPECT_EQ(std::string(lsc_version()), want);
}

TEST(Context, NullParamsGivesDefaults)
{
    lsc_ctx *ctx = nullptr;
    ASSERT_EQ(lsc_ctx_create(nullptr, &ctx), LSC_STATUS_OK) << lsc_last_error(ctx);
    ASSERT_NE(ctx, nullptr);
    EXPECT_STREQ(lsc_last_error(ctx), "");
    lsc_backend b = lsc_ctx_backend(ctx);
    EXPECT_TRUE(b == LSC_BACKEND_CPU || b == LSC_BACKEND_CUDA) << (int)b;
    ASSERT_NE(lsc_ctx_device_name(ctx), nullptr);
    EXPECT_GT(std::strlen(lsc_ctx_device_name(ctx)), 0u);
    // it works
    auto x = data::gaussian(10, 3, kSeed);
    lsc_matrix m = lsc_matrix_f32(x.data(), 10, 3);
    lsc_pair_result r = LSC_PAIR_RESULT_INIT;
    EXPECT_OK(ctx, lsc_pair_stats(ctx, &m, nullptr, &r, nullptr, nullptr));
    lsc_ctx_destroy(ctx);
    lsc_ctx_destroy(nullptr); // harmless
}

TEST(Context, CpuBackendDescribesItself)
{
    Ctx c(2);
    ASSERT_CTX(c);
    EXPECT_EQ(lsc_ctx_backend(c), LSC_BACKEND_CPU);
    const char *name = lsc_ctx_device_name(c);
    ASSERT_NE(name, nullptr);
    EXPECT_TRUE(mentions(name, "cpu")) << name;
    EXPECT_TRUE(mentions(name, "2 threads")) << name;
    // the device ordinal and a stream are ignored by the CPU backend
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CPU;
    p.device = 7;
    p.stream = (void *)(uintptr_t)0x1234;
    Ctx c2(&p);
    ASSERT_CTX(c2);
    EXPECT_EQ(lsc_ctx_backend(c2), LSC_BACKEND_CPU);
}

// A backend says what it serves beyond host memory (lsc_ctx_supports): the CPU backend serves
// none of it, and the calls each capability names refuse with NOT_SUPPORTED, as answered.
TEST(Context, TheCpuBackendAnswersWhatItSupports)
{
    Ctx c(1);
    ASSERT_CTX(c);
    for (lsc_capability what : {LSC_CAP_DEVICE_MEMORY, LSC_CAP_SPECTRUM_ASYNC, LSC_CAP_PRDC_ASYNC,
                                LSC_CAP_DEVICE_REFERENCE}) {
        int answer = -1;
        EXPECT_EQ(lsc_ctx_supports(c, what, &answer), LSC_STATUS_OK) << lsc_last_error(c);
        EXPECT_EQ(answer, 0) << "capability " << (int)what;
    }
    for (int bad : {0, 5, -1}) {
        int answer = -1;
        EXPECT_EQ(lsc_ctx_supports(c, (lsc_capability)bad, &answer), LSC_STATUS_INVALID_ARGUMENT);
        EXPECT_TRUE(mentions(lsc_last_error(c), "unknown")) << lsc_last_error(c);
        EXPECT_EQ(answer, -1) << "written on failure";
    }
    EXPECT_EQ(lsc_ctx_supports(c, LSC_CAP_DEVICE_MEMORY, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    int answer = -1;
    EXPECT_EQ(lsc_ctx_supports(nullptr, LSC_CAP_DEVICE_MEMORY, &answer),
              LSC_STATUS_INVALID_ARGUMENT);
    // the public behaviour follows the answer: device memory in and out, the asynchronous forms
    std::vector<float> x(8 * 3, 1.0f);
    for (size_t i = 0; i < x.size(); i++) x[i] = (float)(i % 7) - 2.5f;
    lsc_matrix dev = lsc_matrix_f32(x.data(), 8, 3);
    dev.memory = LSC_MEMORY_DEVICE;
    lsc_spectrum_result sr = LSC_SPECTRUM_RESULT_INIT;
    EXPECT_EQ(lsc_spectrum(c, &dev, nullptr, &sr, nullptr, nullptr), LSC_STATUS_NOT_SUPPORTED);
    EXPECT_TRUE(mentions(lsc_last_error(c), "device memory")) << lsc_last_error(c);
    lsc_matrix host = lsc_matrix_f32(x.data(), 8, 3);
    std::vector<float> d(64);
    EXPECT_EQ(lsc_distances(c, &host, &host, LSC_METRIC_EUCLIDEAN, d.data(), 8, LSC_MEMORY_DEVICE),
              LSC_STATUS_NOT_SUPPORTED);
    lsc_async_status st;
    EXPECT_EQ(lsc_spectrum_async(c, &dev, nullptr, &sr, &st), LSC_STATUS_NOT_SUPPORTED);
    EXPECT_TRUE(mentions(lsc_last_error(c), "cpu")) << lsc_last_error(c);
}

TEST(Context, AutoPicksCpuWithoutAUsableGpu)
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CUDA;
    lsc_ctx *cuda = nullptr;
    lsc_status s = lsc_ctx_create(&p, &cuda);
    std::string why = lsc_last_error(cuda);
    lsc_ctx_destroy(cuda);
    Ctx a(0, 0, LSC_BACKEND_AUTO);
    ASSERT_CTX(a);
    if (s == LSC_STATUS_OK) {
        // a usable GPU: AUTO takes CUDA only once the backend implements every operation
        lsc_backend b = lsc_ctx_backend(a);
        EXPECT_TRUE(b == LSC_BACKEND_CPU || b == LSC_BACKEND_CUDA) << (int)b;
        GTEST_SKIP() << "a CUDA device is present; AUTO chose " << lsc_ctx_device_name(a);
    }
    EXPECT_EQ(s, LSC_STATUS_BACKEND_UNAVAILABLE) << why;
    EXPECT_EQ(lsc_ctx_backend(a), LSC_BACKEND_CPU) << "CUDA unavailable (" << why << ")";
    EXPECT_TRUE(mentions(lsc_ctx_device_name(a), "cpu")) << lsc_ctx_device_name(a);
    EXPECT_STREQ(lsc_last_error(a), "");
}

/* ---------------------------------------------------------------------------------------------- */
/* failed contexts                                                                                */

// Every call that takes a context, with otherwise valid arguments; returns (name, status) pairs.
std::vector<std::pair<std::string, lsc_status>> every_call(lsc_ctx *ctx, lsc_ctx *good)
{
    std::vector<std::pair<std::string, lsc_status>> r;
    auto x = data::gaussian(12, 3, kSeed + 1);
    lsc_matrix m = lsc_matrix_f32(x.data(), 12, 3);
    lsc_spectrum_acc *acc = nullptr, *acc2 = nullptr;
    lsc_spectrum_acc_create(good, 3, nullptr, &acc);
    lsc_spectrum_acc_create(good, 3, nullptr, &acc2);
    lsc_spectrum_acc_add(good, acc, &m);
    lsc_reference *ref = nullptr;
    lsc_reference_create(good, &m, 2, nullptr, &ref);
    std::string path =
        ::testing::TempDir() + "lsc_test_context_" + std::to_string(getpid()) + ".ref";
    lsc_reference_save(good, ref, path.c_str());

    lsc_spectrum_result sr = LSC_SPECTRUM_RESULT_INIT;
    std::vector<double> sv(3);
    std::vector<float> dist(144);
    std::vector<int64_t> idx(144);
    lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
    lsc_prdc_result prd = LSC_PRDC_RESULT_INIT;
    lsc_spectrum_acc *acc_out = nullptr;
    lsc_reference *ref_out = nullptr;
    r.emplace_back("spectrum", lsc_spectrum(ctx, &m, nullptr, &sr, sv.data(), nullptr));
    r.emplace_back("acc_create", lsc_spectrum_acc_create(ctx, 3, nullptr, &acc_out));
    r.emplace_back("acc_add", lsc_spectrum_acc_add(ctx, acc2, &m));
    r.emplace_back("acc_merge", lsc_spectrum_acc_merge(ctx, acc2, acc));
    r.emplace_back("acc_finalize", lsc_spectrum_acc_finalize(ctx, acc, &sr, nullptr, nullptr));
    r.emplace_back("distances", lsc_distances(ctx, &m, &m, LSC_METRIC_EUCLIDEAN, dist.data(), 12,
                                              LSC_MEMORY_HOST));
    r.emplace_back("pair_stats", lsc_pair_stats(ctx, &m, nullptr, &pr, nullptr, nullptr));
    r.emplace_back("knn", lsc_knn(ctx, &m, &m, 3, nullptr, dist.data(), idx.data()));
    r.emplace_back("reference_create", lsc_reference_create(ctx, &m, 2, nullptr, &ref_out));
    r.emplace_back("reference_save", lsc_reference_save(ctx, ref, (path + ".2").c_str()));
    r.emplace_back("reference_load", lsc_reference_load(ctx, path.c_str(), &ref_out));
    r.emplace_back("prdc", lsc_prdc(ctx, ref, &m, &prd));
    r.emplace_back("set_stream", lsc_ctx_set_stream(ctx, nullptr));
    r.emplace_back("set_progress", lsc_ctx_set_progress(ctx, nullptr, nullptr));
    int answer = 0;
    r.emplace_back("supports", lsc_ctx_supports(ctx, LSC_CAP_DEVICE_MEMORY, &answer));
    r.emplace_back("reference_to_device", lsc_reference_to_device(ctx, ref, &ref_out));
    EXPECT_EQ(acc_out, nullptr);
    EXPECT_EQ(ref_out, nullptr);
    EXPECT_EQ(lsc_spectrum_acc_rows(acc2), 0);
    lsc_spectrum_acc_destroy(acc_out);
    lsc_reference_destroy(ref_out);
    lsc_spectrum_acc_destroy(acc);
    lsc_spectrum_acc_destroy(acc2);
    lsc_reference_destroy(ref);
    std::remove(path.c_str());
    std::remove((path + ".2").c_str());
    return r;
}

void expect_failed_context(lsc_ctx *ctx, lsc_status why_status, const char *why_word)
{
    ASSERT_NE(ctx, nullptr) << "a failed create must still return a context";
    std::string why = lsc_last_error(ctx);
    EXPECT_FALSE(why.empty());
    EXPECT_TRUE(mentions(why.c_str(), why_word)) << why;
    EXPECT_EQ(lsc_ctx_backend(ctx), LSC_BACKEND_AUTO);
    ASSERT_NE(lsc_ctx_device_name(ctx), nullptr);
    Ctx good(1);
    ASSERT_CTX(good);
    for (const auto &c : every_call(ctx, good)) {
        EXPECT_EQ(c.second, LSC_STATUS_BAD_CONTEXT)
            << c.first << " on a failed context gave " << lsc_status_name(c.second);
        EXPECT_EQ(std::string(lsc_last_error(ctx)), why)
            << c.first << " replaced the creation reason";
    }
    (void)why_status;
}

TEST(Context, CudaRequestedWithoutGpuLeavesAFailedContext)
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CUDA;
    lsc_ctx *ctx = nullptr;
    lsc_status s = lsc_ctx_create(&p, &ctx);
    if (s == LSC_STATUS_OK) {
        EXPECT_EQ(lsc_ctx_backend(ctx), LSC_BACKEND_CUDA);
        lsc_ctx_destroy(ctx);
        GTEST_SKIP() << "a CUDA device is present (test_cuda covers it)";
    }
    EXPECT_EQ(s, LSC_STATUS_BACKEND_UNAVAILABLE)
        << lsc_status_name(s) << ": " << lsc_last_error(ctx);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "unavailable")) << lsc_last_error(ctx);
    expect_failed_context(ctx, s, "cuda");
    lsc_ctx_destroy(ctx);

    // a device ordinal that does not exist fails the same way
    p.device = 4096;
    s = lsc_ctx_create(&p, &ctx);
    EXPECT_EQ(s, LSC_STATUS_BACKEND_UNAVAILABLE) << lsc_last_error(ctx);
    expect_failed_context(ctx, s, "cuda");
    lsc_ctx_destroy(ctx);
}

TEST(Context, NoNvidiaDriverIsNamedAsSuch)
{
    // without the driver's library the CUDA module is not even loaded, and the message says what
    // is missing (not the CUDA runtime's "driver version is insufficient")
    void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (driver) {
        dlclose(driver);
        GTEST_SKIP() << "an NVIDIA driver library (libcuda.so.1) is present";
    }
    if (std::getenv("LSC_CUDA_MODULE")) GTEST_SKIP() << "LSC_CUDA_MODULE names a module";
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CUDA;
    lsc_ctx *ctx = nullptr;
    lsc_status s = lsc_ctx_create(&p, &ctx);
    std::string why = lsc_last_error(ctx);
    lsc_ctx_destroy(ctx);
    if (s == LSC_STATUS_OK) GTEST_SKIP() << "a CUDA device without libcuda.so.1: the emulated one";
    EXPECT_EQ(s, LSC_STATUS_BACKEND_UNAVAILABLE) << why;
    if (mentions(why.c_str(), "built without CUDA")) return; // a CPU-only build says that instead
    EXPECT_TRUE(mentions(why.c_str(), "no NVIDIA driver")) << why;
    EXPECT_FALSE(mentions(why.c_str(), "insufficient")) << why;
    // AUTO then takes the CPU without having loaded the module
    Ctx a(0, 0, LSC_BACKEND_AUTO);
    ASSERT_CTX(a);
    EXPECT_EQ(lsc_ctx_backend(a), LSC_BACKEND_CPU);
    EXPECT_EQ(dlopen("liblsc_cuda.so.0", RTLD_LAZY | RTLD_NOLOAD), nullptr);
}

TEST(Context, BadParams)
{
    struct Case {
        const char *what;
        std::function<void(lsc_ctx_params &)> edit;
        const char *word;
    } cases[] = {
        {"size 0", [](lsc_ctx_params &p) { p.size = 0; }, "size"},
        {"size - 1", [](lsc_ctx_params &p) { p.size = sizeof(lsc_ctx_params) - 1; }, "size"},
        {"size 2^40", [](lsc_ctx_params &p) { p.size = (size_t)1 << 40; }, "size"},
        {"threads -1", [](lsc_ctx_params &p) { p.threads = -1; }, "threads"},
        {"threads min", [](lsc_ctx_params &p) { p.threads = INT32_MIN; }, "threads"},
        {"backend 3", [](lsc_ctx_params &p) { p.backend = (lsc_backend)3; }, "backend"},
        {"backend -1", [](lsc_ctx_params &p) { p.backend = (lsc_backend)-1; }, "backend"},
        {"precision 1", [](lsc_ctx_params &p) { p.precision = (lsc_precision)1; }, "precision"},
        {"precision -1", [](lsc_ctx_params &p) { p.precision = (lsc_precision)-1; }, "precision"},
        {"device -1", [](lsc_ctx_params &p) { p.device = -1; }, "device"},
    };
    for (const auto &c : cases) {
        SCOPED_TRACE(c.what);
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.backend = LSC_BACKEND_CPU;
        c.edit(p);
        lsc_ctx_params copy = p;
        lsc_ctx *ctx = nullptr;
        lsc_status s = lsc_ctx_create(&p, &ctx);
        EXPECT_EQ(s, LSC_STATUS_INVALID_ARGUMENT) << lsc_status_name(s);
        EXPECT_EQ(0, std::memcmp(&p, &copy, sizeof p)) << "params were modified";
        expect_failed_context(ctx, s, c.word);
        lsc_ctx_destroy(ctx);
    }
    EXPECT_EQ(lsc_ctx_create(nullptr, nullptr), LSC_STATUS_INVALID_ARGUMENT);
}

/* ---------------------------------------------------------------------------------------------- */
/* progress and cancellation                                                                      */

struct Recorder {
    std::vector<double> fractions;
    long cancel_at = -1;        // 1-based call that returns non-zero; -1 never
    bool cancel_at_end = false; // return non-zero at the report of fraction 1
    int cancel_value = 1;
    std::thread::id caller = std::this_thread::get_id();
    bool other_thread = false;
    static int fn(double f, void *u)
    {
        Recorder *r = static_cast<Recorder *>(u);
        if (std::this_thread::get_id() != r->caller) r->other_thread = true;
        r->fractions.push_back(f);
        if (r->cancel_at_end && f >= 1.0) return r->cancel_value;
        return (long)r->fractions.size() == r->cancel_at ? r->cancel_value : 0;
    }
};

void expect_progress_shape(const Recorder &r, const char *op)
{
    SCOPED_TRACE(op);
    ASSERT_FALSE(r.fractions.empty()) << "the progress callback was never called";
    EXPECT_FALSE(r.other_thread) << "the callback ran on another thread";
    for (size_t i = 0; i < r.fractions.size(); i++) {
        EXPECT_GE(r.fractions[i], 0.0) << i;
        EXPECT_LE(r.fractions[i], 1.0) << i;
        if (i) {
            EXPECT_GE(r.fractions[i], r.fractions[i - 1]) << "fraction went back at call " << i;
        }
    }
    EXPECT_GE(r.fractions.back(), 1.0 - 1e-9)
        << "the last fraction reported is " << r.fractions.back();
}

// One operation with sentinel-filled outputs: run() calls it, untouched() says whether every
// output still holds the sentinel, reset() refills them.
struct Op {
    const char *name;
    std::function<lsc_status(lsc_ctx *)> run;
    std::function<bool()> untouched;
};

class Progress : public ::testing::Test {
  protected:
    // small tiles (64 KiB) so that every operation reports progress many times
    Progress() : ctx(2, 64 << 10), dt(300, 120, 24, 4, kSeed + 7) {}
    void SetUp() override
    {
        ASSERT_CTX(ctx);
        rm = dt.r();
        fm = dt.f();
        ASSERT_EQ(lsc_reference_create(ctx, &rm, dt.k, nullptr, &ref), LSC_STATUS_OK)
            << lsc_last_error(ctx);
    }
    void TearDown() override
    {
        reset();
        lsc_reference_destroy(ref);
    }

    std::vector<Op> ops()
    {
        std::vector<Op> v;
        v.push_back({"knn",
                     [this](lsc_ctx *c) {
                         lsc_knn_opts o = LSC_KNN_OPTS_INIT;
                         o.exclude_self = 1;
                         return lsc_knn(c, &rm, nullptr, dt.k, &o, kd.data(), ki.data());
                     },
                     [this] { return is_sentinel(kd) && is_sentinel(ki); }});
        v.push_back({"pair_stats",
                     [this](lsc_ctx *c) {
                         return lsc_pair_stats(c, &rm, nullptr, &pr, hist.data(), dups.data());
                     },
                     [this] { return is_sentinel(pr) && is_sentinel(hist) && is_sentinel(dups); }});
        v.push_back({"prdc", [this](lsc_ctx *c) { return lsc_prdc(c, ref, &fm, &prd); },
                     [this] { return is_sentinel(prd); }});
        v.push_back({"spectrum",
                     [this](lsc_ctx *c) {
                         return lsc_spectrum(c, &rm, nullptr, &sr, sv.data(), cv.data());
                     },
                     [this] { return is_sentinel(sr) && is_sentinel(sv) && is_sentinel(cv); }});
        v.push_back({"spectrum (N < D)",
                     [this](lsc_ctx *c) {
                         lsc_matrix wide = lsc_matrix_f32(dt.real.data(), 12, 24);
                         return lsc_spectrum(c, &wide, nullptr, &sr, sv.data(), cv.data());
                     },
                     [this] { return is_sentinel(sr) && is_sentinel(sv) && is_sentinel(cv); }});
        v.push_back(
            {"reference_create",
             [this](lsc_ctx *c) { return lsc_reference_create(c, &rm, dt.k, nullptr, &ref_out); },
             [this] { return ref_out == (lsc_reference *)(uintptr_t)0xA5A5; }});
        // distances write their block tile by tile: only the status is checked on cancel
        v.push_back({"distances",
                     [this](lsc_ctx *c) {
                         return lsc_distances(c, &rm, &fm, LSC_METRIC_EUCLIDEAN, block.data(), dt.m,
                                              LSC_MEMORY_HOST);
                     },
                     nullptr});
        return v;
    }
    void reset()
    {
        kd.assign(dt.n * dt.k, 0);
        ki.assign(dt.n * dt.k, 0);
        hist.assign(64, 0);
        dups.assign(100, lsc_pair{});
        sv.assign(24, 0);
        cv.assign(24, 0);
        block.assign(dt.n * dt.m, 0);
        sentinel(kd);
        sentinel(ki);
        sentinel(pr);
        sentinel(hist);
        sentinel(dups);
        sentinel(prd);
        sentinel(sr);
        sentinel(sv);
        sentinel(cv);
        lsc_reference_destroy(ref_out == (lsc_reference *)(uintptr_t)0xA5A5 ? nullptr : ref_out);
        ref_out = (lsc_reference *)(uintptr_t)0xA5A5;
    }

    Ctx ctx;
    Data dt;
    lsc_matrix rm{}, fm{};
    lsc_reference *ref = nullptr, *ref_out = nullptr;
    std::vector<float> kd, block;
    std::vector<int64_t> ki, hist;
    std::vector<lsc_pair> dups;
    std::vector<double> sv, cv;
    lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
    lsc_prdc_result prd = LSC_PRDC_RESULT_INIT;
    lsc_spectrum_result sr = LSC_SPECTRUM_RESULT_INIT;
};

TEST_F(Progress, FractionsRunFromZeroToOne)
{
    for (const Op &op : ops()) {
        SCOPED_TRACE(op.name);
        reset();
        Recorder rec;
        ASSERT_EQ(lsc_ctx_set_progress(ctx, Recorder::fn, &rec), LSC_STATUS_OK);
        EXPECT_OK(ctx, op.run(ctx));
        expect_progress_shape(rec, op.name);
        EXPECT_GE(rec.fractions.size(), 2u) << "a single report for a multi-tile call";
        if (op.untouched) {
            EXPECT_FALSE(op.untouched()) << "success wrote no output";
        }
    }
    reset();
    ASSERT_EQ(lsc_ctx_set_progress(ctx, nullptr, nullptr), LSC_STATUS_OK);
}

TEST_F(Progress, NonZeroCancelsAtAnyPoint)
{
    // how many reports each operation makes
    std::vector<size_t> calls;
    for (const Op &op : ops()) {
        reset();
        Recorder rec;
        lsc_ctx_set_progress(ctx, Recorder::fn, &rec);
        ASSERT_EQ(op.run(ctx), LSC_STATUS_OK) << op.name << ": " << lsc_last_error(ctx);
        calls.push_back(rec.fractions.size());
        EXPECT_GE(rec.fractions.size(), 2u) << op.name << ": too few reports to cancel mid-way";
    }
    size_t i = 0;
    for (const Op &op : ops()) {
        const size_t n = calls[i++];
        // first, second and last report (the count between depends on how the threads share
        // the tiles, so the last one is found by its fraction, 1)
        for (long at : {1L, 2L, 0L}) {
            for (int value : {1, -1, 42}) {
                SCOPED_TRACE(testing::Message() << op.name << ": cancel at report "
                                                << (at ? std::to_string(at) : "last") << " of ~"
                                                << n << " returning " << value);
                reset();
                Recorder rec;
                rec.cancel_at = at ? at : -1;
                rec.cancel_at_end = at == 0;
                rec.cancel_value = value;
                ASSERT_EQ(lsc_ctx_set_progress(ctx, Recorder::fn, &rec), LSC_STATUS_OK);
                lsc_status s = op.run(ctx);
                EXPECT_EQ(s, LSC_STATUS_CANCELLED) << lsc_status_name(s);
                EXPECT_TRUE(mentions(lsc_last_error(ctx), "cancel")) << lsc_last_error(ctx);
                if (at) {
                    EXPECT_EQ(rec.fractions.size(), (size_t)at)
                        << "reports went on after the cancel";
                } else {
                    ASSERT_FALSE(rec.fractions.empty());
                    EXPECT_EQ(rec.fractions.back(), 1.0) << "reports went on after the cancel";
                }
                if (op.untouched) {
                    EXPECT_TRUE(op.untouched()) << "a cancelled call wrote output";
                }
            }
        }
        // the context is usable afterwards, with or without a callback
        reset();
        lsc_ctx_set_progress(ctx, nullptr, nullptr);
        EXPECT_OK(ctx, op.run(ctx));
        reset();
        Recorder rec;
        lsc_ctx_set_progress(ctx, Recorder::fn, &rec);
        EXPECT_OK(ctx, op.run(ctx));
        expect_progress_shape(rec, op.name);
    }
    reset();
    lsc_ctx_set_progress(ctx, nullptr, nullptr);
}

TEST_F(Progress, CancelledResultsMatchUncancelledOnes)
{
    Results a, b;
    ASSERT_TRUE(run_all(ctx, dt, a));
    // cancel everything once, then run again: same figures, bit for bit
    for (const Op &op : ops()) {
        reset();
        Recorder rec;
        rec.cancel_at = 2;
        lsc_ctx_set_progress(ctx, Recorder::fn, &rec);
        EXPECT_EQ(op.run(ctx), LSC_STATUS_CANCELLED) << op.name;
    }
    reset();
    lsc_ctx_set_progress(ctx, nullptr, nullptr);
    ASSERT_TRUE(run_all(ctx, dt, b));
    expect_same(a, b, 0.0);
}

/* ---------------------------------------------------------------------------------------------- */
/* threads                                                                                        */

TEST(Threads, OneAndTwoThreadsAgree)
{
    Data dt(700, 200, 20, 5, kSeed + 11);
    Ctx c1(1), c2(2), c3(3);
    ASSERT_CTX(c1);
    ASSERT_CTX(c2);
    ASSERT_CTX(c3);
    Results r1, r2, r3;
    ASSERT_TRUE(run_all(c1, dt, r1));
    ASSERT_TRUE(run_all(c2, dt, r2));
    ASSERT_TRUE(run_all(c3, dt, r3));
    EXPECT_GT(r1.pairs.near_duplicate_pairs, 0);
    {
        SCOPED_TRACE("1 vs 2 threads");
        expect_same(r1, r2, 1e-10);
    }
    {
        SCOPED_TRACE("1 vs 3 threads");
        expect_same(r1, r3, 1e-10);
    }
}

TEST(Threads, FixedThreadCountIsBitIdentical)
{
    Data dt(700, 200, 20, 5, kSeed + 12);
    for (int threads : {1, 2, 4}) {
        SCOPED_TRACE(testing::Message() << threads << " threads");
        Ctx c(threads);
        ASSERT_CTX(c);
        Results a, b;
        ASSERT_TRUE(run_all(c, dt, a));
        ASSERT_TRUE(run_all(c, dt, b));
        expect_same(a, b, 0.0);
        // and a fresh context with the same count
        Ctx c2(threads);
        Results e;
        ASSERT_TRUE(run_all(c2, dt, e));
        expect_same(a, e, 0.0);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* workspace limit                                                                                */

TEST(Workspace, TooSmallIsAnErrorNotACrash)
{
    // 1 KiB cannot hold one tile of 256 columns
    Ctx c(2, 1024);
    ASSERT_CTX(c);
    Data dt(300, 50, 256, 3, kSeed + 13);
    lsc_matrix r = dt.r(), f = dt.f();
    std::vector<float> d(dt.n * dt.m);
    std::vector<int64_t> ix(dt.n * dt.m);
    sentinel(d);
    sentinel(ix);
    lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
    sentinel(pr);
    lsc_spectrum_result sr = LSC_SPECTRUM_RESULT_INIT;
    sentinel(sr);
    lsc_reference *ref = (lsc_reference *)(uintptr_t)0x1;
    auto check = [&](const char *what, lsc_status s) {
        EXPECT_EQ(s, LSC_STATUS_WORKSPACE_LIMIT)
            << what << ": " << lsc_status_name(s) << ": " << lsc_last_error(c);
        EXPECT_TRUE(mentions(lsc_last_error(c), "workspace")) << what << ": " << lsc_last_error(c);
    };
    check("knn", lsc_knn(c, &r, &f, 3, nullptr, d.data(), ix.data()));
    check("distances",
          lsc_distances(c, &r, &f, LSC_METRIC_EUCLIDEAN, d.data(), dt.m, LSC_MEMORY_HOST));
    check("pair_stats", lsc_pair_stats(c, &r, nullptr, &pr, nullptr, nullptr));
    check("spectrum", lsc_spectrum(c, &r, nullptr, &sr, nullptr, nullptr));
    check("reference_create", lsc_reference_create(c, &r, 3, nullptr, &ref));
    EXPECT_TRUE(is_sentinel(d));
    EXPECT_TRUE(is_sentinel(ix));
    EXPECT_TRUE(is_sentinel(pr));
    EXPECT_TRUE(is_sentinel(sr));
    EXPECT_EQ(ref, (lsc_reference *)(uintptr_t)0x1);
    lsc_spectrum_acc *acc = nullptr;
    ASSERT_EQ(lsc_spectrum_acc_create(c, dt.d, nullptr, &acc), LSC_STATUS_OK) << lsc_last_error(c);
    check("acc_add", lsc_spectrum_acc_add(c, acc, &r));
    EXPECT_EQ(lsc_spectrum_acc_rows(acc), 0);
    lsc_spectrum_acc_destroy(acc);
    // prdc with a reference built elsewhere
    Ctx big(2);
    ASSERT_EQ(lsc_reference_create(big, &r, 3, nullptr, &ref), LSC_STATUS_OK);
    lsc_prdc_result prd = LSC_PRDC_RESULT_INIT;
    sentinel(prd);
    check("prdc", lsc_prdc(c, ref, &f, &prd));
    EXPECT_TRUE(is_sentinel(prd));
    lsc_reference_destroy(ref);
    // the context still works for what fits
    Data small(30, 20, 4, 3, kSeed + 14);
    Results res;
    EXPECT_TRUE(run_all(c, small, res));
}

TEST(Workspace, SmallStillWorksAndAgrees)
{
    Data dt(300, 120, 256, 4, kSeed + 15);
    Ctx small(2, 64 << 10), dflt(2);
    ASSERT_CTX(small);
    ASSERT_CTX(dflt);
    Results a, b;
    ASSERT_TRUE(run_all(small, dt, a));
    ASSERT_TRUE(run_all(dflt, dt, b));
    expect_same(a, b, 1e-9);
    // distances too
    lsc_matrix r = dt.r(), f = dt.f();
    std::vector<float> da(dt.n * dt.m), db(dt.n * dt.m);
    EXPECT_OK(small.c,
              lsc_distances(small, &r, &f, LSC_METRIC_EUCLIDEAN, da.data(), dt.m, LSC_MEMORY_HOST));
    EXPECT_OK(dflt.c,
              lsc_distances(dflt, &r, &f, LSC_METRIC_EUCLIDEAN, db.data(), dt.m, LSC_MEMORY_HOST));
    for (size_t i = 0; i < da.size(); i++)
        ASSERT_NEAR(da[i], db[i], 1e-4 * (1.0 + std::fabs(db[i]))) << i;
}

/* ---------------------------------------------------------------------------------------------- */
/* several contexts at once                                                                       */

TEST(Concurrency, ContextsOnDifferentThreadsMatchSerial)
{
    Data dt(500, 150, 16, 5, kSeed + 16);
    Results serial;
    {
        Ctx c(1);
        ASSERT_CTX(c);
        ASSERT_TRUE(run_all(c, dt, serial));
    }
    const int T = 4, reps = 2;
    std::vector<Results> got(T * reps);
    std::vector<std::string> errors(T);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < T; t++)
        threads.emplace_back([&, t] {
            Ctx c(1);
            ready++;
            while (ready.load() < T) std::this_thread::yield(); // start together
            if (c.status != LSC_STATUS_OK) {
                errors[t] = lsc_last_error(c);
                return;
            }
            for (int r = 0; r < reps; r++) {
                ::testing::AssertionResult ok = run_all(c, dt, got[t * reps + r]);
                if (!ok) errors[t] = ok.message();
            }
        });
    for (auto &th : threads) th.join();
    for (int t = 0; t < T; t++) {
        SCOPED_TRACE(testing::Message() << "thread " << t);
        ASSERT_TRUE(errors[t].empty()) << errors[t];
        for (int r = 0; r < reps; r++) expect_same(serial, got[t * reps + r], 1e-9);
    }
}

// Two contexts of two threads each, on two threads, while the caller's own thread runs products
// on the process's (threaded) OpenBLAS and another watches its thread count: lsc's results equal
// those of a context alone, the caller's products stay bit for bit what they were, and the
// caller's thread count never changes (lsc's tiles run on its own private copy).
TEST(Context, TwoContextsBesideTheCallersThreadedBlasLeaveItUntouched)
{
    typedef int (*get_fn)(void);
    typedef void (*set_fn)(int);
    typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *,
                             int, float, float *, int);
    get_fn get = (get_fn)dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
    set_fn set = (set_fn)dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    sgemm_fn sgemm = (sgemm_fn)dlsym(RTLD_DEFAULT, "cblas_sgemm");
    if (!get || !set || !sgemm) GTEST_SKIP() << "the process's BLAS is not OpenBLAS";
    {
        Ctx probe(2);
        ASSERT_CTX(probe);
        if (!mentions(lsc_ctx_device_name(probe), "own one-thread copy"))
            GTEST_SKIP() << "built without the private OpenBLAS (LSC_PRIVATE_BLAS): lsc sets "
                            "OpenBLAS's thread count around its parallel regions instead "
                            "(include/lsc.h); device: "
                         << lsc_ctx_device_name(probe);
    }
    const int callers_own = get();
    set(2); // the caller's choice, which lsc must keep
    const int n = 160;
    std::vector<float> a = data::gaussian(n, n, kSeed + 31), b = data::gaussian(n, n, kSeed + 32);
    std::vector<float> expected((size_t)(n * n)), got_c((size_t)(n * n));
    const int row_major = 101, no_trans = 111;
    sgemm(row_major, no_trans, no_trans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
          expected.data(), n);

    Data dt(700, 200, 24, 5, kSeed + 33);
    Results alone;
    {
        Ctx c(2);
        ASSERT_CTX(c);
        ASSERT_TRUE(run_all(c, dt, alone));
    }
    std::atomic<bool> stop{false};
    std::atomic<long> products{0}, changed_products{0}, polls{0}, other_counts{0};
    std::thread watcher([&] {
        while (!stop.load()) {
            if (get() != 2) other_counts++;
            polls++;
        }
    });
    std::thread caller([&] {
        std::vector<float> c((size_t)(n * n));
        while (!stop.load()) {
            sgemm(row_major, no_trans, no_trans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                  c.data(), n);
            if (std::memcmp(c.data(), expected.data(), c.size() * sizeof(float)) != 0)
                changed_products++;
            products++;
        }
    });
    const int T = 2, reps = 3;
    std::vector<Results> got(T * reps);
    std::vector<std::string> errors(T);
    std::vector<std::thread> threads;
    for (int t = 0; t < T; t++)
        threads.emplace_back([&, t] {
            Ctx c(2);
            if (c.status != LSC_STATUS_OK) {
                errors[t] = lsc_last_error(c);
                return;
            }
            for (int r = 0; r < reps; r++) {
                ::testing::AssertionResult ok = run_all(c, dt, got[t * reps + r]);
                if (!ok) errors[t] = ok.message();
            }
        });
    for (auto &th : threads) th.join();
    stop = true;
    watcher.join();
    caller.join();
    set(callers_own);
    EXPECT_GT(products.load(), 0);
    EXPECT_GT(polls.load(), 0);
    EXPECT_EQ(changed_products.load(), 0) << "of " << products.load() << " products";
    EXPECT_EQ(other_counts.load(), 0) << "of " << polls.load() << " polls saw another count";
    for (int t = 0; t < T; t++) {
        SCOPED_TRACE(testing::Message() << "thread " << t);
        ASSERT_TRUE(errors[t].empty()) << errors[t];
        for (int r = 0; r < reps; r++) expect_same(alone, got[t * reps + r], 0.0);
    }
}

} // namespace
