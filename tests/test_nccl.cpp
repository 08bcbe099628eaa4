// The NCCL transport (lsc_ctx_set_nccl, nccl/transport_nccl.c). Without a GPU only the refusals
// run; with one, a one-rank communicator (ncclCommInitAll on device 0) carries the sharded calls,
// each collective a real NCCL call on the device, against one process's results. One GPU gives
// one NCCL rank: several ranks over NCCL are not tested here. LSC_REQUIRE_GPU=1 turns the GPU
// test's skip into a failure. The module's send_recv step is tested from its entry point (a
// rank sending to itself), as the core loads it.
#include "lsc.h"
#include "sharded.h"

#include <gtest/gtest.h>

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <nccl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

bool gpu_required()
{
    const char *e = std::getenv("LSC_REQUIRE_GPU");
    return e && std::string(e) == "1";
}

// Skips the test without a CUDA device (fails it where LSC_REQUIRE_GPU=1): a macro, since
// GTEST_SKIP and FAIL return from the test body itself.
#define NEED_GPU()                                                                                 \
    do {                                                                                           \
        int devices_ = 0;                                                                          \
        if (cudaGetDeviceCount(&devices_) != cudaSuccess || devices_ < 1) {                        \
            cudaGetLastError();                                                                    \
            if (gpu_required()) FAIL() << "LSC_REQUIRE_GPU=1 but no CUDA device";                  \
            GTEST_SKIP()                                                                           \
                << "no CUDA device: the NCCL transport needs a GPU (one NCCL rank a GPU)";         \
        }                                                                                          \
    } while (0)

lsc_ctx *cpu_ctx()
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CPU;
    p.threads = 1;
    lsc_ctx *ctx = nullptr;
    EXPECT_EQ(lsc_ctx_create(&p, &ctx), LSC_STATUS_OK);
    return ctx;
}

TEST(Nccl, ANullCommunicatorIsRefused)
{
    lsc_ctx *ctx = cpu_ctx();
    EXPECT_EQ(lsc_ctx_set_nccl(ctx, nullptr, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("comm is NULL"), std::string::npos);
    int64_t ranks = 0;
    EXPECT_EQ(lsc_ctx_ranks(ctx, nullptr, &ranks), LSC_STATUS_OK);
    EXPECT_EQ(ranks, 1); // nothing was set
    lsc_ctx_destroy(ctx);
}

TEST(Nccl, AMissingModuleIsNotSupportedAndNamesTheFile)
{
    lsc_ctx *ctx = cpu_ctx();
    setenv("LSC_NCCL_MODULE", "/nonexistent/liblsc_nccl.so.0", 1);
    int dummy = 0; // never read: the module is not found first
    EXPECT_EQ(lsc_ctx_set_nccl(ctx, &dummy, nullptr), LSC_STATUS_NOT_SUPPORTED);
    unsetenv("LSC_NCCL_MODULE");
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("/nonexistent/liblsc_nccl.so.0"),
              std::string::npos)
        << lsc_last_error(ctx);
    lsc_ctx_destroy(ctx);
}

// ncclCommInitAll and ncclCommDestroy from the toolkit's NCCL: the test owns the communicator,
// as a caller would.
struct OwnNccl {
    void *lib = nullptr;
    ncclComm_t comm = nullptr;
    std::string why;
    OwnNccl()
    {
        lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_GLOBAL);
#ifdef LSC_NCCL_TOOLKIT_LIB
        if (!lib) lib = dlopen(LSC_NCCL_TOOLKIT_LIB, RTLD_NOW | RTLD_GLOBAL);
#endif
        if (!lib) {
            why = "libnccl.so.2 cannot be loaded";
            return;
        }
        auto init = (decltype(&ncclCommInitAll))dlsym(lib, "ncclCommInitAll");
        int dev = 0;
        ncclResult_t r = init ? init(&comm, 1, &dev) : ncclSystemError;
        if (r != ncclSuccess) {
            comm = nullptr;
            why = "ncclCommInitAll on device 0 failed (" + std::to_string((int)r) + ")";
        }
    }
    ~OwnNccl()
    {
        if (comm) ((decltype(&ncclCommDestroy))dlsym(lib, "ncclCommDestroy"))(comm);
    }
};

TEST(Nccl, OneRankCarriesTheShardedCallsOnTheGpu)
{
    NEED_GPU();
    OwnNccl nccl;
    ASSERT_TRUE(nccl.comm) << nccl.why;
    const int64_t n = 300, m = 200, d = 16, k = 5;
    std::mt19937 g(7);
    std::normal_distribution<float> nd;
    std::vector<float> real((size_t)(n * d)), fake((size_t)(m * d));
    for (auto &v : real) v = nd(g);
    for (auto &v : fake) v = 0.8f * nd(g) + 0.3f;
    lsc_matrix a = lsc_matrix_f32(real.data(), n, d), f = lsc_matrix_f32(fake.data(), m, d);

    lsc_ctx *one = cpu_ctx(), *ctx = cpu_ctx();
    ASSERT_EQ(lsc_ctx_set_nccl(ctx, nccl.comm, nullptr), LSC_STATUS_OK) << lsc_last_error(ctx);
    int64_t rank = -1, ranks = 0;
    ASSERT_EQ(lsc_ctx_ranks(ctx, &rank, &ranks), LSC_STATUS_OK);
    EXPECT_EQ(rank, 0);
    EXPECT_EQ(ranks, 1);

    // the spectrum: an all-gather and a broadcast through the device
    lsc_spectrum_result s1 = LSC_SPECTRUM_RESULT_INIT, s2 = LSC_SPECTRUM_RESULT_INIT;
    std::vector<double> sv1((size_t)d), sv2((size_t)d);
    ASSERT_EQ(lsc_spectrum(one, &a, nullptr, &s1, sv1.data(), nullptr), LSC_STATUS_OK);
    ASSERT_EQ(lsc_spectrum_sharded(ctx, &a, nullptr, &s2, sv2.data(), nullptr), LSC_STATUS_OK)
        << lsc_last_error(ctx);
    EXPECT_NEAR(s2.effective_rank, s1.effective_rank, 2e-4 * s1.effective_rank);
    EXPECT_EQ(s2.numerical_rank, s1.numerical_rank);

    // pairs and PRDC: the ring step as well (one rank sends to itself)
    lsc_pair_result p1 = LSC_PAIR_RESULT_INIT, p2 = LSC_PAIR_RESULT_INIT;
    std::vector<int64_t> h1(64), h2(64);
    ASSERT_EQ(lsc_pair_stats(one, &a, nullptr, &p1, h1.data(), nullptr), LSC_STATUS_OK);
    ASSERT_EQ(lsc_pair_stats_sharded(ctx, &a, nullptr, &p2, h2.data(), nullptr), LSC_STATUS_OK)
        << lsc_last_error(ctx);
    EXPECT_EQ(h1, h2);
    EXPECT_EQ(p1.min, p2.min);
    EXPECT_EQ(p1.hist_upper, p2.hist_upper);

    lsc_reference *whole = nullptr, *shard = nullptr;
    ASSERT_EQ(lsc_reference_create(one, &a, k, nullptr, &whole), LSC_STATUS_OK);
    ASSERT_EQ(lsc_reference_create_sharded(ctx, &a, k, nullptr, &shard), LSC_STATUS_OK)
        << lsc_last_error(ctx);
    lsc_prdc_result r1 = LSC_PRDC_RESULT_INIT, r2 = LSC_PRDC_RESULT_INIT;
    ASSERT_EQ(lsc_prdc(one, whole, &f, &r1), LSC_STATUS_OK);
    ASSERT_EQ(lsc_prdc_sharded(ctx, shard, &f, &r2), LSC_STATUS_OK) << lsc_last_error(ctx);
    EXPECT_EQ(r1.precision, r2.precision);
    EXPECT_EQ(r1.recall, r2.recall);
    EXPECT_EQ(r1.density, r2.density);
    EXPECT_EQ(r1.coverage, r2.coverage);
    lsc_reference_destroy(whole);
    lsc_reference_destroy(shard);

    // the communicator stays the caller's: still usable after the context is gone
    lsc_ctx_destroy(ctx);
    lsc_ctx_destroy(one);
    int count = 0;
    auto comm_count = (decltype(&ncclCommCount))dlsym(nccl.lib, "ncclCommCount");
    EXPECT_EQ(comm_count(nccl.comm, &count), ncclSuccess);
    EXPECT_EQ(count, 1);
}

// The module as the core loads it: its entry point, given the ABI number.
struct Module {
    void *h = nullptr;
    lsc_nccl_entry_fn entry = nullptr;
    Module()
    {
        h = dlopen(LSC_TEST_NCCL_MODULE, RTLD_NOW | RTLD_LOCAL);
        void *sym = h ? dlsym(h, LSC_NCCL_ENTRY) : nullptr;
        if (sym) memcpy(&entry, &sym, sizeof entry);
    }
    ~Module()
    {
        if (h) dlclose(h);
    }
};

TEST(Nccl, AModuleOfAnotherAbiIsRefused)
{
    Module m;
    ASSERT_TRUE(m.entry) << "cannot load " << LSC_TEST_NCCL_MODULE << " or its entry point";
    for (int abi : {LSC_NCCL_ABI - 1, LSC_NCCL_ABI + 1}) {
        lsc_transport t = LSC_TRANSPORT_INIT;
        void (*release)(void *) = nullptr;
        char why[256] = "";
        EXPECT_EQ(m.entry(abi, nullptr, nullptr, &t, &release, why, sizeof why),
                  LSC_STATUS_NOT_SUPPORTED);
        const std::string want =
            "speaks ABI " + std::to_string(LSC_NCCL_ABI) + ", this liblsc " + std::to_string(abi);
        EXPECT_NE(std::string(why).find(want), std::string::npos) << why;
        EXPECT_EQ(t.user, nullptr);
    }
}

// One rank sends to itself (the only partner a one-rank communicator has), from host and from
// device buffers, empty and uneven sizes, every byte and a guard after them checked.
TEST(Nccl, TheSendRecvStepMovesTheBytesOnTheGpu)
{
    NEED_GPU();
    OwnNccl nccl;
    ASSERT_TRUE(nccl.comm) << nccl.why;
    Module m;
    ASSERT_TRUE(m.entry) << "cannot load " << LSC_TEST_NCCL_MODULE << " or its entry point";
    lsc_transport t = LSC_TRANSPORT_INIT;
    void (*release)(void *) = nullptr;
    char why[256] = "";
    ASSERT_EQ(m.entry(LSC_NCCL_ABI, nccl.comm, nullptr, &t, &release, why, sizeof why),
              LSC_STATUS_OK)
        << why;
    ASSERT_TRUE(t.send_recv && t.ring);
    const size_t guard = 16;
    for (size_t n : {(size_t)0, (size_t)1, (size_t)4099, ((size_t)1 << 20) + 3}) {
        std::vector<unsigned char> send(n + 1), recv(n + guard, 0x5A);
        for (size_t i = 0; i < n; i++) send[i] = (unsigned char)(i * 7 + (i >> 8) * 13 + n);
        why[0] = '\0';
        EXPECT_EQ(t.send_recv(send.data(), n, 0, recv.data(), n, 0, LSC_MEMORY_HOST, t.user, why,
                              sizeof why),
                  0)
            << n << ": " << why;
        EXPECT_TRUE(std::equal(send.begin(), send.begin() + (ptrdiff_t)n, recv.begin())) << n;
        for (size_t i = 0; i < guard; i++) EXPECT_EQ(recv[n + i], 0x5A) << n;
        // the same bytes from device buffers, used in place
        void *dsend = nullptr, *drecv = nullptr;
        ASSERT_EQ(cudaMalloc(&dsend, n + 1), cudaSuccess);
        ASSERT_EQ(cudaMalloc(&drecv, n + 1), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(dsend, send.data(), n, cudaMemcpyHostToDevice), cudaSuccess);
        ASSERT_EQ(cudaMemset(drecv, 0x5A, n + 1), cudaSuccess);
        EXPECT_EQ(t.send_recv(dsend, n, 0, drecv, n, 0, LSC_MEMORY_DEVICE, t.user, why, sizeof why),
                  0)
            << n << ": " << why;
        std::vector<unsigned char> back(n + 1);
        ASSERT_EQ(cudaMemcpy(back.data(), drecv, n + 1, cudaMemcpyDeviceToHost), cudaSuccess);
        EXPECT_TRUE(std::equal(send.begin(), send.begin() + (ptrdiff_t)n, back.begin())) << n;
        EXPECT_EQ(back[n], 0x5A) << n;
        cudaFree(dsend);
        cudaFree(drecv);
    }
    // a rank outside the communicator: refused before NCCL sees it
    unsigned char one = 1;
    why[0] = '\0';
    EXPECT_NE(t.send_recv(&one, 1, 1, &one, 1, 0, LSC_MEMORY_HOST, t.user, why, sizeof why), 0);
    EXPECT_NE(std::string(why).find("the communicator's ranks are 0 to 0"), std::string::npos)
        << why;
    release(t.user);
}

} // namespace
