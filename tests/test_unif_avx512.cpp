// The uniformity's table-driven exp (common/geometry_rules.h, lsc_exp_minus16) against long
// double's expl, over its range and near 0, where the figure's pinned bound shrinks
// (docs/METRICS.md section 9); the AVX-512 loop of host/cpu/unif_avx512.c against it, lane for
// lane to the bit, and its row sums against the terms written from the header's formulas, flags,
// tails and the zero-row form included; the float32 path and its wide form (lsc_exp16f_parts,
// lsc_unif_f32_z, lsc_unif_f32w_z) the same way, their terms against exact ones within the
// bounds that admit them (lsc_unif_f32_err, lsc_unif_f32w_err) and those admissions at their
// edges. The loops' cases skip on a CPU without AVX-512F (the portable loop of pairs.c runs
// there, which test_pairs checks).
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

// The float32 exp: within LSC_EXP16F_ERR relative of expl on [-80, 8] (every 2^-12 and near 0,
// where r is the argument itself); exp(0) = 1 exactly.
TEST(UnifAvx512, Float32ExpMatchesExpl)
{
    long double worst = 0.0L;
    auto one = [&](float x) {
        float p, ts;
        lsc_exp16f_parts(x, &p, &ts);
        const float got = p * ts;
        const long double want = expl((long double)x);
        worst = std::max(worst, fabsl((long double)got - want) / want);
    };
    for (int k = -8 * 4096; k <= 80 * 4096; k++) one(-(float)k / 4096.0f);
    for (int k = -100000; k <= 100000; k++) one(-0.05f * (float)k / 100000.0f);
    std::mt19937_64 g(5);
    std::uniform_real_distribution<float> u(-9.0f, 8.0f);
    for (int k = 0; k < 200000; k++) one(u(g));
    EXPECT_LE(worst, (long double)LSC_EXP16F_ERR);
    EXPECT_GT(worst, (long double)LSC_EXP16F_ERR / 4); // the bound is not idle
    float p, ts;
    lsc_exp16f_parts(0.0f, &p, &ts);
    EXPECT_EQ(p * ts, 1.0f);
    lsc_exp16f_parts(-0.0f, &p, &ts);
    EXPECT_EQ(p * ts, 1.0f);
}

// The sixteen-lane float32 exp equals the scalar formula bit for bit, on every lane and tail.
TEST(UnifAvx512, Float32VectorExpIsTheScalarFormula)
{
    if (!cpu_unif_avx512_usable()) GTEST_SKIP() << "no AVX-512F (or LSC_CPU_AVX512=0)";
    std::vector<float> x, got;
    std::mt19937_64 g(93);
    std::uniform_real_distribution<float> u(-9.0f, 8.0f);
    for (int k = -20000; k <= 20000; k++) x.push_back(-9.0f * (float)k / 20000.0f);
    for (int k = 0; k < 20000; k++) x.push_back(u(g));
    for (int k = 0; k < 1000; k++) x.push_back(u(g) * 1e-5f);
    x.push_back(-80.0f);
    for (size_t n : {x.size(), (size_t)1, (size_t)15, (size_t)17, (size_t)31}) {
        got.assign(n + 1, -1.0f);
        cpu_exp16f_avx512(x.data(), got.data(), (int64_t)n);
        for (size_t t = 0; t < n; t++) {
            float p, ts;
            lsc_exp16f_parts(x[t], &p, &ts);
            const float want = p * ts;
            uint32_t a, b;
            std::memcpy(&a, &got[t], 4);
            std::memcpy(&b, &want, 4);
            ASSERT_EQ(a, b) << "x = " << x[t] << " lane " << t % 16;
        }
        EXPECT_EQ(got[n], -1.0f); // nothing written past n
    }
}

// Query rows and base rows of a centred pass with every e_j = 1: s = 1 / ||x||, p = m.(x - m/2)
// and the products c of the centred rows, from rows drawn around a centre `shift` away.
struct Pass {
    std::vector<float> c, sf, pf; // a query row's products; the base rows' float32 s, s p
    std::vector<float> slo;       // s - (float)s: the wide form's second float of s
    std::vector<double> p, s, sp; // the base rows' p, s, s p
    lsc_unif_row ri;
};

Pass make_pass(int64_t n, int64_t d, double shift, uint64_t seed, int query)
{
    std::mt19937_64 g(seed);
    std::normal_distribution<double> nd(0.0, 1.0);
    std::vector<double> x((size_t)((n + 1) * d)), m((size_t)d, 0.0);
    for (int64_t r = 0; r <= n; r++)
        for (int64_t k = 0; k < d; k++) {
            // rows r = 5 mod 11 copy row 0 or its negative: with query 0 or 5 (itself a copy)
            // the query row, row n, has near-copies (d2 near 0) and near-antipodes
            double v = nd(g) * (1.0 + 0.5 * (double)(r % 3)) + shift;
            if (r % 11 == 5) v = x[(size_t)k] * (r % 2 ? 1.0 : -1.0);
            x[(size_t)(r * d + k)] = v;
        }
    for (int64_t k = 0; k < d; k++) { // the query row: one of the rows, `query` picks which
        x[(size_t)(n * d + k)] = x[(size_t)(query * d + k)] + 1e-3 * nd(g);
        for (int64_t r = 0; r <= n; r++) m[(size_t)k] += x[(size_t)(r * d + k)] / (double)(n + 1);
    }
    Pass P;
    auto row = [&](int64_t r) {
        double q = 0.0, p = 0.0;
        for (int64_t k = 0; k < d; k++) {
            const double v = x[(size_t)(r * d + k)];
            q += v * v;
            p += m[(size_t)k] * (v - 0.5 * m[(size_t)k]);
        }
        return lsc_unif_row{p, 1.0 / std::sqrt(q), 1.0};
    };
    P.ri = row(n);
    for (int64_t j = 0; j < n; j++) {
        const lsc_unif_row rj = row(j);
        double c = 0.0;
        for (int64_t k = 0; k < d; k++)
            c += (x[(size_t)(n * d + k)] - m[(size_t)k]) * (x[(size_t)(j * d + k)] - m[(size_t)k]);
        P.c.push_back((float)c); // the pass's float32 product, up to its own rounding
        P.p.push_back(rj.p);
        P.s.push_back(rj.s);
        P.sp.push_back(rj.s * rj.p);
        P.sf.push_back((float)rj.s);
        P.pf.push_back((float)(rj.s * rj.p));
        P.slo.push_back((float)(rj.s - (double)(float)rj.s));
    }
    return P;
}

// Pair j's term by the float32 path (wide: its wide form), as the loops compute it before their
// sum, the exact term of the same product (exp(-2 max(v, 0)) with v from c, p, s in long
// double), and the path's bound for the pair's own s_i s_j |c| less its sum's share (the bound
// pairs.c admits a row by, through r_i r_j at the tile's ends).
struct F32Term {
    long double got, want;
    double bound;
};

F32Term f32_term(const Pass &P, int64_t j, int wide, double smax, double spmax)
{
    const size_t k = (size_t)j;
    const lsc_unif_f32 f = lsc_unif_f32_row(P.ri);
    const double rr = P.ri.s * P.s[k] * std::fabs((double)P.c[k]);
    F32Term t;
    t.bound = wide ? lsc_unif_f32w_err(P.ri, rr, smax, spmax) - 0.01 * 0x1p-24
                   : lsc_unif_f32_err(P.ri, rr, smax, spmax) - 2.01 * 0x1p-24;
    const float z = wide ? lsc_unif_f32w_z(P.c[k], f, P.sf[k], P.slo[k], P.pf[k])
                         : lsc_unif_f32_z(P.c[k], f, P.sf[k], P.pf[k]);
    float p, ts;
    lsc_exp16f_parts(z, &p, &ts);
    t.got = (long double)f.scale * (long double)(p * ts);
    const long double v =
        2.0L - 2.0L * (long double)P.ri.s * (long double)P.s[k] *
                   ((long double)P.c[k] + (long double)P.ri.p + (long double)P.p[k]);
    t.want = expl(-(v + fabsl(v)));
    return t;
}

// The base rows' largest s and s |p|, the bounds' inputs.
void s_extremes(const Pass &P, double *smax, double *spmax)
{
    *smax = *spmax = 0.0;
    for (size_t j = 0; j < P.s.size(); j++) {
        *smax = std::max(*smax, P.s[j]);
        *spmax = std::max(*spmax, std::fabs(P.sp[j]));
    }
}

// Each float32 term, scale exp(z), against the exact term of the same product, within the
// bound that admits the path pair by pair (f32_term); the path and its wide form, on rows near
// and far from the centre, pairs near 0 and near antipodal, D from 1.
TEST(UnifAvx512, Float32TermWithinItsBound)
{
    for (int wide : {0, 1}) {
        long double worst = 0.0L;
        for (double shift : {0.0, 0.3, 3.0, 30.0})
            for (int64_t d : {1, 2, 3, 16, 64})
                for (int query : {0, 5, 8}) {
                    SCOPED_TRACE(::testing::Message() << "wide " << wide << " shift " << shift
                                                      << " d " << d << " query " << query);
                    const int64_t n = 300;
                    const Pass P = make_pass(n, d, shift, 7000 + (uint64_t)(d + query), query);
                    double smax, spmax;
                    s_extremes(P, &smax, &spmax);
                    for (int64_t j = 0; j < n; j++) {
                        const F32Term t = f32_term(P, j, wide, smax, spmax);
                        const long double e = fabsl(t.got - t.want) / t.want;
                        ASSERT_LE(e, (long double)t.bound) << "pair " << j;
                        worst = std::max(worst, e / (long double)t.bound);
                    }
                }
        EXPECT_GT(worst, 0.1L); // some pair uses a fair part of it (about 0.5 for either)
    }
}

// Pairs whose product puts v = ||u_i - u_j||^2 below 0 (near-copies: the product's band lets
// s_i s_j c exceed the rows' own norms by up to 2^-11): z above 2 (e_i + 1), which the clamp
// takes back to it, so the term is exp(0) = 1 as the float64 loop's max(v, 0) makes it.
// Unclamped, scale exp(z) would be exp(-2 v), 2^-12 to 2^-10 (4096 2^-24 and up) too large for
// v of -2^-13 to -2^-11: each term within its bound as Float32TermWithinItsBound holds them, and
// the vector loop's sum within its sum's rounding of the terms written from the formula. Every
// clamp, lsc_unif_f32_z's, lsc_unif_f32w_z's and the loops' VMINPS, is so pinned: make_pass's
// own pairs never reach v < 0, and the row-sum order tests compare the loops with the scalar
// forms on those only. Rows with r about 1 and rows off the centre (shift 3: c cancels against
// p_i + p_j); the path and its wide form.
TEST(UnifAvx512, Float32ClampAtZeroDistance)
{
    for (int wide : {0, 1})
        for (double shift : {0.0, 3.0}) {
            SCOPED_TRACE(::testing::Message() << "wide " << wide << " shift " << shift);
            const int64_t n = 200;
            Pass P = make_pass(n, 16, shift, 8100 + (uint64_t)shift, 5);
            double smax, spmax;
            s_extremes(P, &smax, &spmax);
            // every third pair: s_i s_j (c + p_i + p_j) = 1 + eta, eta 2^-14 to 2^-12, c in
            // float32
            int64_t below = 0;
            for (int64_t j = 0; j < n; j += 3) {
                const long double eta = ldexpl(1.0L, -14 + (int)((j / 3) % 3));
                const long double ss = (long double)P.ri.s * (long double)P.s[(size_t)j];
                P.c[(size_t)j] =
                    (float)((1.0L + eta) / ss - (long double)P.ri.p - (long double)P.p[(size_t)j]);
            }
            long double terms = 0.0L;
            for (int64_t j = 0; j < n; j++) {
                const F32Term t = f32_term(P, j, wide, smax, spmax);
                below += t.want == 1.0L; // v < 0, clamped: exp(0)
                terms += t.got;
                ASSERT_LE(fabsl(t.got - t.want) / t.want, (long double)t.bound) << "pair " << j;
            }
            // every pair moved above reaches v < 0
            ASSERT_GE(below, (n + 2) / 3);
            if (!cpu_unif_avx512_usable()) continue; // the loops: AVX-512F only
            const lsc_unif_f32 f = lsc_unif_f32_row(P.ri);
            if (wide) {
                // its float32 sums of two terms (a u), and t0's product fused there (half a
                // u), then a few float64 roundings
                const double sum = cpu_unif_row_avx512_f32w(P.c.data(), n, f, P.sf.data(),
                                                            P.slo.data(), P.pf.data(), 0);
                EXPECT_LE(fabsl((long double)sum - terms), 1.6L * 0x1p-24L * terms);
            } else {
                // its float32 sums' two roundings, and t0 and t2's products fused there (half
                // a u)
                const double sum =
                    cpu_unif_row_avx512_f32(P.c.data(), n, f, P.sf.data(), P.pf.data());
                EXPECT_LE(fabsl((long double)sum - terms), 3.0L * 0x1p-24L * terms);
            }
        }
}

// Each form's exponent z against the exact one, within the bound's share for z's roundings
// (the bound less the exp's and the sum's): rows whose A = 4 s_i and s_j are each 0.9 to 1 half
// an ulp from their float32 value and products c with mantissas near 1, where every rounding
// the bound counts may reach its full u. There the wide form's roundings of t and z use up to
// 0.95 of its 8 u, and so do the path's four of its 16 u, so this is the test that holds the
// counts: the wide form without A_lo or S_lo (A or S_j rounded once more, 12 u) reaches 1.3 to
// 1.4 of the bound, and the bound written with 4 u for the wide form's 8 u, 1.9. Term by term
// (Float32TermWithinItsBound) the exp's 3.5 u, which it reaches only on some arguments, hides
// such a rounding. Centre terms p 0 (the sharp case), then up to 0.1 (their own counts too).
TEST(UnifAvx512, Float32ExponentWithinItsRoundings)
{
    const double u = 0x1p-24;
    for (int wide : {0, 1})
        for (double pmax : {0.0, 0.1}) {
            SCOPED_TRACE(::testing::Message() << "wide " << wide << " p " << pmax);
            std::mt19937_64 g(4242);
            std::uniform_real_distribution<double> un(0.0, 1.0);
            // a float with mantissa in [1, 1.125), moved 0.9 to 1 half-ulp either way
            auto near_half = [&]() {
                const double hi = (double)(float)(1.0 + 0.125 * un(g));
                return hi * (1.0 + (0.9 + 0.1 * un(g)) * (g() % 2 ? u : -u));
            };
            double worst = 0.0;
            for (int k = 0; k < 20000; k++) {
                const lsc_unif_row ri = {pmax * (2.0 * un(g) - 1.0), near_half() / 4.0, 1.0};
                const double sj = near_half(), pj = pmax * (2.0 * un(g) - 1.0);
                const float c = (float)((g() % 2 ? -1.0 : 1.0) * (1.0 + 0.125 * un(g)));
                const lsc_unif_f32 f = lsc_unif_f32_row(ri);
                const float shi = (float)sj, slo = (float)(sj - (double)shi), pf = (float)(sj * pj);
                const float z =
                    wide ? lsc_unif_f32w_z(c, f, shi, slo, pf) : lsc_unif_f32_z(c, f, shi, pf);
                // |z| < 2: no clamp
                const long double want = 4.0L * (long double)ri.s * (long double)sj *
                                         ((long double)c + (long double)ri.p + (long double)pj);
                const double rr = ri.s * sj * std::fabs((double)c);
                const double bound = wide ? lsc_unif_f32w_err(ri, rr, sj, sj * std::fabs(pj)) -
                                                LSC_EXP16F_ERR - 1.01 * u
                                          : lsc_unif_f32_err(ri, rr, sj, sj * std::fabs(pj)) -
                                                LSC_EXP16F_ERR - 2.01 * u;
                const double e = (double)fabsl((long double)z - want);
                ASSERT_LE(e, bound) << "pair " << k;
                worst = std::max(worst, e / bound);
            }
            EXPECT_GT(worst, 0.7); // the roundings do reach the count (about 0.85 to 0.95)
        }
}

// Either admission turns away rows at the centre (r_i = 0) and tiles with a base row there
// (r_min = 0), an empty tile's r_min (INFINITY) with r_i = 0, and NaN r, whatever D.
void expect_never_at_centre_or_nan(int (*fits)(lsc_unif_row, double, double, double, double, double,
                                               int64_t))
{
    const lsc_unif_row one = {0.0, 1.0, 1.0};
    EXPECT_FALSE(fits(one, 0.0, 1.0, 1.0, 1.0, 0.0, 4096));
    EXPECT_FALSE(fits(one, 1.0, 0.0, 1.0, 1.0, 0.0, 4096));
    EXPECT_FALSE(fits(one, 0.0, INFINITY, 1.0, 1.0, 0.0, 4096));
    EXPECT_FALSE(fits(one, NAN, 1.0, 1.0, 1.0, 0.0, 4096));
    EXPECT_FALSE(fits(one, 1.0, NAN, NAN, 1.0, 0.0, 4096));
}

// The float32 path's admission (lsc_unif_f32_fits) at its edges, from the bound's stated
// terms: a row of r = 1 among base rows of r = 1 (cosine) has the bound 1.001 u 16 (1 + 2^-11)
// + 3.5 u + 2.01 u = 21.53 u against 2 delta = 4 (D + 2) u, so D = 3 keeps the float64 loop
// and D = 4 takes the float32 one; both grow with r_i r_j, so the tile's smallest r decides
// (the budget grows faster than the bound from D = 3 on), its largest does not, and D = 2
// never fits; the bound grows with s_i |p_i| s_max and s_i max s_j |p_j|; a row or a base row
// at the centre (r = 0), and a NaN r, never take it.
TEST(UnifAvx512, Float32AdmissionAtItsEdges)
{
    const lsc_unif_row one = {0.0, 1.0, 1.0};
    EXPECT_FALSE(lsc_unif_f32_fits(one, 1.0, 1.0, 1.0, 1.0, 0.0, 3));
    EXPECT_TRUE(lsc_unif_f32_fits(one, 1.0, 1.0, 1.0, 1.0, 0.0, 4));
    // r_min = 0.5: 1.001 u 16 (0.5 + 2^-11) + 5.51 u = 13.53 u against 2 (D + 2) u (12 u at
    // D = 4, 14 u at D = 5); r_i = 0.5 the same
    EXPECT_FALSE(lsc_unif_f32_fits(one, 1.0, 0.5, 1.0, 1.0, 0.0, 4));
    EXPECT_TRUE(lsc_unif_f32_fits(one, 1.0, 0.5, 1.0, 1.0, 0.0, 5));
    EXPECT_FALSE(lsc_unif_f32_fits(one, 0.5, 1.0, 1.0, 1.0, 0.0, 4));
    EXPECT_TRUE(lsc_unif_f32_fits(one, 0.5, 1.0, 1.0, 1.0, 0.0, 5));
    // r_i = 2: 37.55 u against 8 (D + 2) u (32 u at D = 2, 40 u at D = 3)
    EXPECT_FALSE(lsc_unif_f32_fits(one, 2.0, 1.0, 1.0, 1.0, 0.0, 2));
    EXPECT_TRUE(lsc_unif_f32_fits(one, 2.0, 1.0, 1.0, 1.0, 0.0, 3));
    // r_max = 2 changes nothing (its pairs: 37.55 u against 8 (D + 2) u); r = 10 at D = 2:
    // 1607 u against 1600 u
    EXPECT_FALSE(lsc_unif_f32_fits(one, 1.0, 1.0, 2.0, 1.0, 0.0, 3));
    EXPECT_TRUE(lsc_unif_f32_fits(one, 1.0, 1.0, 2.0, 1.0, 0.0, 4));
    EXPECT_FALSE(lsc_unif_f32_fits(one, 10.0, 10.0, 10.0, 1.0, 0.0, 2));
    // the product's band, 2^-11 of s_i s_j |c| (16.016 2^-11 u = 0.0078 u), at D = 3's edge
    // r^2 = (16.016 2^-11 + 5.51) / 3.984 = 1.3850 (1.3830 without it): r^2 = 1.384 gives
    // 27.684 u against 27.680 u
    EXPECT_FALSE(lsc_unif_f32_fits(one, sqrt(1.384), sqrt(1.384), sqrt(1.384), 1.0, 0.0, 3));
    EXPECT_TRUE(lsc_unif_f32_fits(one, sqrt(1.386), sqrt(1.386), sqrt(1.386), 1.0, 0.0, 3));
    // s_i |p_i| s_max = 0.5 adds 8 u (29.54 u: D = 6's 32 u, not D = 5's 28 u); s_i max s_j
    // |p_j| = 0.5 the same
    const lsc_unif_row pi = {0.5, 1.0, 1.0};
    EXPECT_FALSE(lsc_unif_f32_fits(pi, 1.0, 1.0, 1.0, 1.0, 0.0, 5));
    EXPECT_TRUE(lsc_unif_f32_fits(pi, 1.0, 1.0, 1.0, 1.0, 0.0, 6));
    EXPECT_FALSE(lsc_unif_f32_fits(one, 1.0, 1.0, 1.0, 1.0, 0.5, 5));
    EXPECT_TRUE(lsc_unif_f32_fits(one, 1.0, 1.0, 1.0, 1.0, 0.5, 6));
    expect_never_at_centre_or_nan(lsc_unif_f32_fits);
}

// The float32 loop's row sum, to the bit, as its header states it: 64 pairs a step, each
// step (t0 + t1) + (t2 + t3) of four groups of 16 in float32 (t0 and t2 as fmaf into the add),
// step b's lanes 0-7 into lo[b % 2] and 8-15 into hi[b % 2] in float64, then lsc_lanes8_total
// of (lo0 + lo1) + (hi0 + hi1); every tail length.
TEST(UnifAvx512, Float32RowSumOrder)
{
    if (!cpu_unif_avx512_usable()) GTEST_SKIP() << "no AVX-512F (or LSC_CPU_AVX512=0)";
    const Pass P = make_pass(4200, 16, 0.2, 77, 5);
    const lsc_unif_f32 f = lsc_unif_f32_row(P.ri);
    for (int64_t n : {0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200, 1000, 4099}) {
        SCOPED_TRACE(n);
        double lo[2][8] = {{0.0}}, hi[2][8] = {{0.0}};
        for (int64_t b = 0; 64 * b < n; b++) {
            // the p and ts of the step's 64 pairs (p 0 past n), then the stated order
            for (int l = 0; l < 16; l++) {
                float pp[4], tt[4];
                for (int a = 0; a < 4; a++) {
                    const int64_t j = 64 * b + 16 * a + l;
                    pp[a] = 0.0f;
                    tt[a] = 1.0f;
                    if (j < n)
                        lsc_exp16f_parts(
                            lsc_unif_f32_z(P.c[(size_t)j], f, P.sf[(size_t)j], P.pf[(size_t)j]),
                            &pp[a], &tt[a]);
                }
                const float w =
                    std::fmaf(pp[0], tt[0], pp[1] * tt[1]) + std::fmaf(pp[2], tt[2], pp[3] * tt[3]);
                (l < 8 ? lo : hi)[b % 2][l % 8] += (double)w;
            }
        }
        double e[8];
        for (int l = 0; l < 8; l++) e[l] = (lo[0][l] + lo[1][l]) + (hi[0][l] + hi[1][l]);
        EXPECT_EQ(cpu_unif_row_avx512_f32(P.c.data(), n, f, P.sf.data(), P.pf.data()),
                  f.scale * lsc_lanes8_total(e));
    }
}

// The wide form's admission (lsc_unif_f32w_fits) at its edges, from its bound's stated terms:
// rows of r = 1 have 1.001 u 8 (1 + 2^-11) + 3.5 u + 1.01 u = 12.52 u against 2 delta =
// 4 (D + 2) u, so they fit from D = 2, not at D = 1; the tile's smallest r (0.5: 8.52 u against
// 2 (D + 2) u) or the row's own: from D = 3; s_i |p_i| s_max = 0.5 adds 20 u 0.5 (22.53 u:
// D = 4's 24 u, not D = 3's 20 u), s_i max s_j |p_j| = 0.5 adds 16 u 0.5 (20.53 u: likewise);
// centre rows and NaN never.
TEST(UnifAvx512, Float32WideAdmissionAtItsEdges)
{
    const lsc_unif_row one = {0.0, 1.0, 1.0};
    EXPECT_FALSE(lsc_unif_f32w_fits(one, 1.0, 1.0, 1.0, 1.0, 0.0, 1));
    EXPECT_TRUE(lsc_unif_f32w_fits(one, 1.0, 1.0, 1.0, 1.0, 0.0, 2));
    EXPECT_FALSE(lsc_unif_f32w_fits(one, 1.0, 0.5, 1.0, 1.0, 0.0, 2));
    EXPECT_TRUE(lsc_unif_f32w_fits(one, 1.0, 0.5, 1.0, 1.0, 0.0, 3));
    EXPECT_FALSE(lsc_unif_f32w_fits(one, 0.5, 1.0, 1.0, 1.0, 0.0, 2));
    EXPECT_TRUE(lsc_unif_f32w_fits(one, 0.5, 1.0, 1.0, 1.0, 0.0, 3));
    const lsc_unif_row pi = {0.5, 1.0, 1.0};
    EXPECT_FALSE(lsc_unif_f32w_fits(pi, 1.0, 1.0, 1.0, 1.0, 0.0, 3));
    EXPECT_TRUE(lsc_unif_f32w_fits(pi, 1.0, 1.0, 1.0, 1.0, 0.0, 4));
    EXPECT_FALSE(lsc_unif_f32w_fits(one, 1.0, 1.0, 1.0, 1.0, 0.5, 3));
    EXPECT_TRUE(lsc_unif_f32w_fits(one, 1.0, 1.0, 1.0, 1.0, 0.5, 4));
    expect_never_at_centre_or_nan(lsc_unif_f32w_fits);
}

// The wide form's row sum, to the bit, as its header states it: 64 pairs a step, groups 0 and 1
// as fma(p0, ts0, p1 ts1) in float32 (lane l of each), that sum's lanes 0-7 into lo[0] and
// 8-15 into hi[0] in float64, groups 2 and 3 into lo[1] and hi[1], then lsc_lanes8_total of
// (lo0 + lo1) + (hi0 + hi1) times the scale; every tail length, at D = 2 and 16. With every
// seventh pair left out (its s, s_lo and s p set to 0, some with products of 1e30: their z is
// still 0 and ts 1, so their masked p of 0 adds exactly nothing), and without; `masked` with
// none left out gives the unmasked sum.
TEST(UnifAvx512, Float32WideRowSumOrder)
{
    if (!cpu_unif_avx512_usable()) GTEST_SKIP() << "no AVX-512F (or LSC_CPU_AVX512=0)";
    for (int64_t d : {2, 16})
        for (int out : {0, 1}) {
            Pass P = make_pass(4200, d, 0.2, 78, 5);
            std::vector<char> left_out(P.c.size(), 0);
            for (size_t j = 3; out && j < P.c.size(); j += 7) {
                P.sf[j] = P.slo[j] = P.pf[j] = 0.0f;
                if (j % 5 == 0) P.c[j] = j % 2 ? 1e30f : -1e30f;
                left_out[j] = 1;
            }
            const lsc_unif_f32 f = lsc_unif_f32_row(P.ri);
            for (int64_t n :
                 {0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200, 1000, 4099}) {
                SCOPED_TRACE(::testing::Message() << "d " << d << " n " << n << " out " << out);
                // each pair's p ts as the loop forms it: p 0 where masked or past the end
                std::vector<float> pv((size_t)(n + 64), 0.0f), tv((size_t)(n + 64), 1.0f);
                for (int64_t j = 0; j < n; j++) {
                    float p, ts;
                    lsc_exp16f_parts(lsc_unif_f32w_z(P.c[(size_t)j], f, P.sf[(size_t)j],
                                                     P.slo[(size_t)j], P.pf[(size_t)j]),
                                     &p, &ts);
                    if (left_out[(size_t)j]) {
                        ASSERT_EQ(ts, 1.0f) << "pair " << j;
                        p = 0.0f;
                    }
                    pv[(size_t)j] = p;
                    tv[(size_t)j] = ts;
                }
                double lo[2][8] = {{0.0}}, hi[2][8] = {{0.0}};
                for (int64_t o = 0; o < n; o += 64)
                    for (int b = 0; b < 2; b++)
                        for (int l = 0; l < 16; l++) {
                            const size_t j0 = (size_t)(o + 32 * b + l), j1 = j0 + 16;
                            const float w = fmaf(pv[j0], tv[j0], pv[j1] * tv[j1]);
                            (l < 8 ? lo : hi)[b][l % 8] += (double)w;
                        }
                double e[8];
                for (int l = 0; l < 8; l++) e[l] = (lo[0][l] + lo[1][l]) + (hi[0][l] + hi[1][l]);
                const double want = f.scale * lsc_lanes8_total(e);
                EXPECT_EQ(cpu_unif_row_avx512_f32w(P.c.data(), n, f, P.sf.data(), P.slo.data(),
                                                   P.pf.data(), 1),
                          want);
                if (!out) {
                    EXPECT_EQ(cpu_unif_row_avx512_f32w(P.c.data(), n, f, P.sf.data(), P.slo.data(),
                                                       P.pf.data(), 0),
                              want);
                }
            }
        }
}

} // namespace
