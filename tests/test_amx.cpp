// The AMX bf16x3 product of the CPU backend (host/cpu/amx.c) against float64 dot products:
// every entry within the bound the kNN and PRDC prefilters rely on (cpu_amx_rel, cpu_amx_abs),
// on shapes that are not multiples of its 32-row blocks or 32-column tiles, on values chosen to
// round as badly as bfloat16 can, on a wide range of magnitudes and on subnormal products. The
// library's results on AMX are checked by the kNN and PRDC suites, which run twice (ctest:
// the *.fp32 copies set LSC_CPU_AMX=0).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

extern "C" {
#include "cpu/tiles.h"
}

namespace {

#if LSC_CPU_AMX

struct Aligned {
    explicit Aligned(size_t elems)
        : p(static_cast<uint16_t *>(std::aligned_alloc(64, (elems * 2 + 63) / 64 * 64)))
    {
    }
    ~Aligned() { std::free(p); }
    uint16_t *p;
};

// Checks the product of q (nq x d) and b (nb x d) entry by entry; returns the largest ratio of
// an entry's error to its bound.
double check_product(const std::vector<float> &q, int64_t nq, const std::vector<float> &b,
                     int64_t nb, int64_t d)
{
    Aligned qa(cpu_amx_q_elems(nq, d)), ba(cpu_amx_b_elems(nb, d));
    cpu_amx_pack_q(q.data(), nq, d, qa.p);
    cpu_amx_pack_b(b.data(), nb, d, ba.p);
    const int64_t ldc = nb + 3; // a wider C: the columns past nb must stay untouched
    std::vector<float> c((size_t)(nq * ldc), 12345.0f);
    cpu_amx_gemm(nq, nb, d, qa.p, ba.p, c.data(), ldc);
    double worst = 0.0;
    for (int64_t i = 0; i < nq; i++) {
        for (int64_t j = nb; j < ldc; j++) EXPECT_EQ(c[(size_t)(i * ldc + j)], 12345.0f);
        double sqa = 0.0;
        for (int64_t t = 0; t < d; t++)
            sqa += (double)q[(size_t)(i * d + t)] * q[(size_t)(i * d + t)];
        for (int64_t j = 0; j < nb; j++) {
            double p = 0.0, sqb = 0.0;
            for (int64_t t = 0; t < d; t++) {
                p += (double)q[(size_t)(i * d + t)] * b[(size_t)(j * d + t)];
                sqb += (double)b[(size_t)(j * d + t)] * b[(size_t)(j * d + t)];
            }
            const double err = 2.0 * std::fabs((double)c[(size_t)(i * ldc + j)] - p);
            const double bound = cpu_amx_rel(d) * (sqa + sqb) + cpu_amx_abs(d);
            EXPECT_LE(err, bound) << "entry " << i << ", " << j << " of " << nq << " x " << nb
                                  << " x " << d;
            worst = std::fmax(worst, err / bound);
        }
    }
    return worst;
}

class Amx : public ::testing::Test {
  protected:
    void SetUp() override
    {
        if (!cpu_amx_usable())
            GTEST_SKIP() << "AMX-BF16 is not available on this CPU or kernel (the CPU backend "
                            "then uses the float32 GEMM, which the other suites test)";
    }
};

TEST_F(Amx, RandomRowsOfEveryShapeWithinTheBound)
{
    std::mt19937_64 rng(20261201);
    std::normal_distribution<float> g(0.0f, 1.0f);
    const int64_t shapes[][3] = {{1, 1, 8},      {33, 45, 33},   {64, 96, 512},
                                 {100, 70, 100}, {32, 32, 1000}, {47, 129, 64},
                                 {5, 300, 257},  {40, 70, 2100}, {33, 20, 1025}};
    for (const auto &s : shapes) {
        std::vector<float> q((size_t)(s[0] * s[2])), b((size_t)(s[1] * s[2]));
        for (auto &v : q) v = g(rng);
        for (auto &v : b) v = g(rng);
        const double worst = check_product(q, s[0], b, s[1], s[2]);
        // the bound is a worst case: random data sits far inside it
        EXPECT_LT(worst, 0.5);
    }
}

TEST_F(Amx, ValuesThatRoundWorstAndWideMagnitudes)
{
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> u(-1.0, 1.0), e(-30.0, 30.0);
    const int64_t nq = 40, nb = 50, d = 96;
    std::vector<float> q((size_t)(nq * d)), b((size_t)(nb * d));
    // just below a halfway point of bfloat16 (q: the first split's, b: the second's), all of one
    // sign: rounding errors near their largest and none cancelling
    for (size_t i = 0; i < q.size(); i++)
        q[i] = (float)(1.0 + 0x1p-8 - 0x1p-23) * (i % 2 ? 1.0f : 1.5f);
    for (size_t i = 0; i < b.size(); i++) b[i] = (float)(1.0 + 0x1p-9 + 0x1p-17 - 0x1p-23);
    check_product(q, nq, b, nb, d);
    // magnitudes from 1e-9 to 1e9 within every row
    for (auto &v : q) v = (float)(u(rng) * std::exp(e(rng) * 0.69));
    for (auto &v : b) v = (float)(u(rng) * std::exp(e(rng) * 0.69));
    check_product(q, nq, b, nb, d);
}

TEST_F(Amx, SubnormalProductsStayWithinTheAbsoluteBound)
{
    std::mt19937_64 rng(11);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (double scale : {1e-19, 1e-21, 1e-38}) {
        SCOPED_TRACE(scale);
        const int64_t nq = 20, nb = 33, d = 40;
        std::vector<float> q((size_t)(nq * d)), b((size_t)(nb * d));
        for (auto &v : q) v = (float)(g(rng) * scale);
        for (auto &v : b) v = (float)(g(rng) * scale);
        check_product(q, nq, b, nb, d);
    }
}

#else

TEST(Amx, NotBuilt)
{
    GTEST_SKIP() << "this build has no AMX product (not x86-64, or a compiler without AMX "
                    "intrinsics): the CPU backend uses the float32 GEMM";
}

#endif

} // namespace
