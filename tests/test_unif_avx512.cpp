// The uniformity's table-driven exp (common/geometry_rules.h, lsc_exp_minus16) against long
// double's expl, over its range and near 0, where the figure's pinned bound shrinks (docs/METRICS.md
// section 9); the AVX-512 loop of host/cpu/unif_avx512.c against it, lane for lane to the bit,
// and its row sums against the terms written from the header's formulas, flags, tails and the
// zero-row form included. The loop's cases skip on a CPU without AVX-512F (the portable loop
// of pairs.c runs there, which test_pairs checks).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

extern "C" {
#include "cpu/unif_avx512.h"
}

namespace {

long double rel_err(double got, long double y)
{
    const long double want = expl(-y);
    return fabsl((long double)got - want) / want;
}

// The pinned accuracy: within 5.1e-12 relative over [0, 8] (the uniformity's exponents) and on
// to 700; within 2.4e-10 y + 2^-53 for every y (near 0 the error is r times q's, plus the
// rounding of a result near 1, which no exp avoids); exp(0) = 1 exactly.
TEST(UnifAvx512, TableExpMatchesExpl)
{
    long double worst = 0.0L, worst_y = 0.0L;
    for (int k = 0; k <= 400000; k++) {
        const double y = 8.0 * k / 400000.0;
        const long double e = rel_err(lsc_exp_minus16(y), y);
        worst = std::max(worst, e);
        if (y > 0.0) worst_y = std::max(worst_y, (e - 0x1p-53L) / y);
    }
    for (int k = 1; k <= 100000; k++) { // near 0, where only r q(r) errs
        const double y = 0.05 * k / 100000.0;
        worst_y = std::max(worst_y, (rel_err(lsc_exp_minus16(y), y) - 0x1p-53L) / y);
    }
    for (int k = 0; k <= 100000; k++) { // beyond the uniformity's range, normal results
        const double y = 8.0 + 692.0 * k / 100000.0;
        worst = std::max(worst, rel_err(lsc_exp_minus16(y), y));
    }
    EXPECT_LE(worst, 5.1e-12L);
    EXPECT_LE(worst_y, 2.4e-10L);
    EXPECT_EQ(lsc_exp_minus16(0.0), 1.0);
    EXPECT_EQ(lsc_exp_minus16(8.0 * std::log(2.0)), 1.0 / 256.0); // 2^-8: k = -128, r = 0
    // no worse than the degree-6 exp it stands in for on AVX-512 (1.11e-10, 3.2e-10 y)
    EXPECT_LT(worst, 1.11e-10L / 20);
}

// The eight-lane exp equals the scalar formula bit for bit, on every lane and tail length.
TEST(UnifAvx512, VectorExpIsTheScalarFormula)
{
    if (!cpu_unif_avx512_usable()) GTEST_SKIP() << "no AVX-512F (or LSC_CPU_AVX512=0)";
    std::vector<double> y, got;
    std::mt19937_64 g(91);
    std::uniform_real_distribution<double> u(0.0, 8.0);
    for (int k = 0; k <= 20000; k++) y.push_back(8.0 * k / 20000.0);
    for (int k = 0; k < 20000; k++) y.push_back(u(g));
    for (int k = 0; k < 1000; k++) y.push_back(0.05 * u(g) * 1e-3);
    y.push_back(700.0);
    for (size_t n : {y.size(), (size_t)1, (size_t)7, (size_t)13}) {
        got.assign(n + 1, -1.0);
        cpu_exp_minus16_avx512(y.data(), got.data(), (int64_t)n);
        for (size_t t = 0; t < n; t++) {
            uint64_t a, b;
            const double want = lsc_exp_minus16(y[t]);
            std::memcpy(&a, &got[t], 8);
            std::memcpy(&b, &want, 8);
            ASSERT_EQ(a, b) << "y = " << y[t] << " lane " << t % 8;
        }
        EXPECT_EQ(got[n], -1.0); // nothing written past n
    }
}

struct Row {
    std::vector<float> c;
    std::vector<double> p, s, e, sp; // sp: s p, the loop's input
    std::vector<int64_t> flag;
};

Row make_row(int64_t n, uint64_t seed, bool zero_rows)
{
    std::mt19937_64 g(seed);
    std::normal_distribution<double> nd(0.0, 1.0);
    std::uniform_real_distribution<double> u(0.2, 1.5);
    Row r;
    for (int64_t j = 0; j < n; j++) {
        // products, centre terms and scales of rows of norm 1 / s: d2 spread over [0, 4]
        const double sj = u(g);
        r.s.push_back(sj);
        r.p.push_back(0.1 * nd(g));
        r.c.push_back((float)(nd(g) / sj));
        r.e.push_back(1.0);
        r.flag.push_back((int64_t)(g() % 5 == 0));
    }
    if (zero_rows)
        for (int64_t j = 3; j < n; j += 7) r.s[(size_t)j] = r.e[(size_t)j] = 0.0;
    for (int64_t j = 0; j < n; j++) r.sp.push_back(r.s[(size_t)j] * r.p[(size_t)j]);
    return r;
}

// The loop's row sum against the header's formulas term by term: lsc_unif_v's distance, clamped
// and doubled as lsc_unif_term_of does, through lsc_exp_minus16; the loop fuses lsc_unif_v's
// multiply-add, so within a few roundings, not to the bit. Against the degree-6 exp
// (lsc_unif_term_of) within the two exps' bounds.
TEST(UnifAvx512, RowSumIsTheTermsFormula)
{
    if (!cpu_unif_avx512_usable()) GTEST_SKIP() << "no AVX-512F (or LSC_CPU_AVX512=0)";
    const lsc_unif_row ri = {0.07, 0.9, 1.0};
    for (bool zero_rows : {false, true})
        for (bool flagged : {false, true})
            for (int64_t n = 0; n <= 131; n += n < 40 ? 1 : 13) {
                SCOPED_TRACE(::testing::Message()
                             << "n " << n << " zero rows " << zero_rows << " flagged " << flagged);
                const Row r = make_row(n, 1000 + (uint64_t)n, zero_rows);
                double want = 0.0, want6 = 0.0;
                for (int64_t j = 0; j < n; j++) {
                    if (flagged && r.flag[(size_t)j]) continue;
                    const lsc_unif_row rj = {r.p[(size_t)j], r.s[(size_t)j], r.e[(size_t)j]};
                    const double v = lsc_unif_v((double)r.c[(size_t)j], ri, rj);
                    want += lsc_exp_minus16(0.5 * LSC_UNIFORMITY_T * (v + std::fabs(v)));
                    want6 += lsc_unif_term_of((double)r.c[(size_t)j], ri, rj);
                }
                const double got =
                    cpu_unif_row_avx512(r.c.data(), n, ri, r.sp.data(), r.s.data(), r.e.data(),
                                        flagged ? r.flag.data() : nullptr);
                EXPECT_NEAR(got, want, 1e-14 * (double)n);
                EXPECT_NEAR(got, want6, 1.2e-10 * want6 + 1e-14 * (double)n);
                if (!zero_rows) { // every e_j 1: the constant form gives the same bits
                    const double ones =
                        cpu_unif_row_avx512(r.c.data(), n, ri, r.sp.data(), r.s.data(), nullptr,
                                            flagged ? r.flag.data() : nullptr);
                    EXPECT_EQ(ones, got);
                }
            }
}

// The sum's order is terms_sum's (pairs.c): element t in lane t mod 32, the 32 lanes folded
// to eight as (l, l + 8) + (l + 16, l + 24), then lsc_lanes8_total; each term added as
// fma(p, ts, lane) from lsc_exp16_parts; to the bit, on terms of very different sizes where
// another order would round differently.
TEST(UnifAvx512, RowSumOrder)
{
    if (!cpu_unif_avx512_usable()) GTEST_SKIP() << "no AVX-512F (or LSC_CPU_AVX512=0)";
    const lsc_unif_row ri = {0.0, 1.0, 1.0};
    std::mt19937_64 g(17);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (int64_t n : {1, 31, 32, 33, 95, 200, 1000, 4099}) {
        SCOPED_TRACE(n);
        // p = 0, s = e = 1: d2 = 2 - 2 c, exact, so the term is exp(-4 + 4 c), from e^-8 to 1
        std::vector<float> c;
        std::vector<double> p((size_t)n, 0.0), s((size_t)n, 1.0);
        double s32[32] = {0.0};
        for (int64_t j = 0; j < n; j++) {
            c.push_back(j % 5 == 0 ? 1.0f : u(g));
            const double v = 2.0 - 2.0 * (double)c.back();
            double p, ts;
            lsc_exp16_parts(0.5 * LSC_UNIFORMITY_T * (v + std::fabs(v)), &p, &ts);
            s32[j % 32] = std::fma(p, ts, s32[j % 32]);
        }
        double e[8];
        for (int l = 0; l < 8; l++) e[l] = (s32[l] + s32[l + 8]) + (s32[l + 16] + s32[l + 24]);
        EXPECT_EQ(cpu_unif_row_avx512(c.data(), n, ri, p.data(), s.data(), nullptr, nullptr),
                  lsc_lanes8_total(e));
    }
}

} // namespace
