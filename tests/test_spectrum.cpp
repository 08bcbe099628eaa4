// lsc_spectrum and the streaming accumulator (CPU backend) against the float64 reference of
// docs/METRICS.md section 1 (reference.hpp), with the tolerances of docs/METRICS.md "Tolerances".
#include "datasets.hpp"
#include "reference.hpp"

#include <lsc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

// What one lsc call returned.
struct Got {
    lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
    std::vector<double> sv; // min(N, D) singular values
    std::vector<double> cv; // D column variances
};

lsc_matrix mat(const void *p, lsc_dtype t, int64_t rows, int64_t cols, int64_t ld = 0)
{
    lsc_matrix m;
    m.data = p;
    m.dtype = t;
    m.rows = rows;
    m.cols = cols;
    m.ld = ld ? ld : cols;
    m.memory = LSC_MEMORY_HOST;
    return m;
}

lsc_matrix mat_f32(const std::vector<float> &x, int64_t rows, int64_t cols, int64_t ld = 0)
{
    return mat(x.data(), LSC_DTYPE_F32, rows, cols, ld);
}

// The seed of a random data set, printed so a failure can be replayed (LSC_TEST_SEED).
uint64_t test_seed(uint64_t fallback)
{
    uint64_t s = data::seed(fallback);
    std::printf("[   SEED   ] %llu (set LSC_TEST_SEED to replay)\n", (unsigned long long)s);
    ::testing::Test::RecordProperty("seed", std::to_string(s));
    return s;
}

std::string fmt(double v)
{
    char b[64];
    std::snprintf(b, sizeof b, "%.17g", v);
    return b;
}

// Every figure of `g` against the reference `w`, within `mult` times docs/METRICS.md's tolerances.
::testing::AssertionResult matches(const Got &g, const ref::Spectrum &w, double mult = 1.0)
{
    std::ostringstream bad;
    const double rel = ref::kRel * mult, abs = ref::kAbs * mult;
    auto cont = [&](const char *name, double got, double want) {
        if (!ref::close(got, want, rel, abs))
            bad << "\n  " << name << ": got " << fmt(got) << ", reference " << fmt(want);
    };
    auto exact = [&](const char *name, long long got, long long want) {
        if (got != want) bad << "\n  " << name << ": got " << got << ", reference " << want;
    };
    const lsc_spectrum_result &r = g.r;
    exact("rows", r.rows, w.rows);
    exact("cols", r.cols, w.cols);
    exact("rank_limit", r.rank_limit, w.rank_limit);
    exact("numerical_rank", r.numerical_rank, w.numerical_rank);
    exact("all_rows_identical", r.all_rows_identical, w.all_rows_identical ? 1 : 0);
    cont("effective_rank", r.effective_rank, w.effective_rank);
    cont("rankme", r.rankme, w.rankme);
    cont("participation_ratio", r.participation_ratio, w.participation_ratio);
    cont("stable_rank", r.stable_rank, w.stable_rank);
    cont("total_variance", r.total_variance, w.total_variance);
    cont("largest_singular_value", r.largest_singular_value, w.largest_singular_value);
    if (!ref::dims_ok(r.dims_90, w, 0.90))
        bad << "\n  dims_90: got " << r.dims_90 << ", reference " << w.dims_90;
    if (!ref::dims_ok(r.dims_99, w, 0.99))
        bad << "\n  dims_99: got " << r.dims_99 << ", reference " << w.dims_99;
    if (!ref::active_ok(r.active_units, w))
        bad << "\n  active_units: got " << r.active_units << ", reference " << w.active_units;
    if (r.active_threshold != w.active_threshold)
        bad << "\n  active_threshold: got " << fmt(r.active_threshold) << ", used "
            << fmt(w.active_threshold);
    if (w.vendi_available) {
        exact("vendi_status", r.vendi_status, LSC_VENDI_OK);
        cont("vendi_cosine", r.vendi_cosine, w.vendi_cosine);
        cont("vendi_cosine_q0", r.vendi_cosine_q0, w.vendi_q0);
        cont("vendi_cosine_q2", r.vendi_cosine_q2, w.vendi_q2);
        cont("vendi_cosine_qinf", r.vendi_cosine_qinf, w.vendi_qinf);
    } else {
        exact("vendi_status", r.vendi_status, LSC_VENDI_ZERO_ROW);
        exact("vendi_zero_row", r.vendi_zero_row, w.vendi_zero_row);
        if (r.vendi_cosine != 0.0 || std::isnan(r.vendi_cosine))
            bad << "\n  vendi_cosine: got " << fmt(r.vendi_cosine) << " while unavailable";
        if (r.vendi_cosine_q0 != 0.0 || r.vendi_cosine_q2 != 0.0 || r.vendi_cosine_qinf != 0.0)
            bad << "\n  vendi of order 0, 2 or inf is not 0 while unavailable";
    }
    exact("alpha_req_ranks", r.alpha_req_ranks, w.alpha_req_ranks);
    // the fit's slope weighs the smallest eigenvalues' logs as much as the largest: twice the
    // tolerance (docs/METRICS.md section 1)
    if (!ref::close(r.alpha_req, w.alpha_req, 2 * rel, 2 * abs))
        bad << "\n  alpha_req: got " << fmt(r.alpha_req) << ", reference " << fmt(w.alpha_req);
    if (!ref::close(r.alpha_req_r2, w.alpha_req_r2, 2 * rel, 2 * abs))
        bad << "\n  alpha_req_r2: got " << fmt(r.alpha_req_r2) << ", reference "
            << fmt(w.alpha_req_r2);
    if ((int64_t)g.sv.size() != w.rank_limit) {
        bad << "\n  singular_values: " << g.sv.size() << " values, reference " << w.rank_limit;
    } else {
        int shown = 0;
        for (size_t i = 0; i < g.sv.size(); i++)
            if (!ref::close(g.sv[i], w.singular_values[i], rel, abs) && shown++ < 5)
                bad << "\n  singular_values[" << i << "]: got " << fmt(g.sv[i]) << ", reference "
                    << fmt(w.singular_values[i]);
    }
    if ((int64_t)g.cv.size() != w.cols) {
        bad << "\n  column_variance: " << g.cv.size() << " values, reference " << w.cols;
    } else {
        int shown = 0;
        for (size_t i = 0; i < g.cv.size(); i++)
            if (!ref::close(g.cv[i], w.column_variance[i], rel, abs) && shown++ < 5)
                bad << "\n  column_variance[" << i << "]: got " << fmt(g.cv[i]) << ", reference "
                    << fmt(w.column_variance[i]);
    }
    std::string s = bad.str();
    if (s.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "differs from the reference (N " << w.rows << ", D " << w.cols << "):" << s;
}

// Two lsc results directly: continuous figures within twice the tolerances, integers equal.
::testing::AssertionResult agree(const Got &a, const Got &b)
{
    std::ostringstream bad;
    const double rel = 2 * ref::kRel, abs = 2 * ref::kAbs;
    auto cont = [&](const char *name, double x, double y) {
        if (!ref::close(x, y, rel, abs))
            bad << "\n  " << name << ": " << fmt(x) << " vs " << fmt(y);
    };
    auto exact = [&](const char *name, long long x, long long y) {
        if (x != y) bad << "\n  " << name << ": " << x << " vs " << y;
    };
    exact("rows", a.r.rows, b.r.rows);
    exact("cols", a.r.cols, b.r.cols);
    exact("rank_limit", a.r.rank_limit, b.r.rank_limit);
    exact("numerical_rank", a.r.numerical_rank, b.r.numerical_rank);
    exact("dims_90", a.r.dims_90, b.r.dims_90);
    exact("dims_99", a.r.dims_99, b.r.dims_99);
    exact("active_units", a.r.active_units, b.r.active_units);
    exact("all_rows_identical", a.r.all_rows_identical, b.r.all_rows_identical);
    exact("vendi_status", a.r.vendi_status, b.r.vendi_status);
    cont("effective_rank", a.r.effective_rank, b.r.effective_rank);
    cont("rankme", a.r.rankme, b.r.rankme);
    cont("participation_ratio", a.r.participation_ratio, b.r.participation_ratio);
    cont("stable_rank", a.r.stable_rank, b.r.stable_rank);
    cont("total_variance", a.r.total_variance, b.r.total_variance);
    cont("largest_singular_value", a.r.largest_singular_value, b.r.largest_singular_value);
    cont("vendi_cosine", a.r.vendi_cosine, b.r.vendi_cosine);
    cont("vendi_cosine_q0", a.r.vendi_cosine_q0, b.r.vendi_cosine_q0);
    cont("vendi_cosine_q2", a.r.vendi_cosine_q2, b.r.vendi_cosine_q2);
    cont("vendi_cosine_qinf", a.r.vendi_cosine_qinf, b.r.vendi_cosine_qinf);
    exact("alpha_req_ranks", a.r.alpha_req_ranks, b.r.alpha_req_ranks);
    cont("alpha_req", a.r.alpha_req, b.r.alpha_req);
    cont("alpha_req_r2", a.r.alpha_req_r2, b.r.alpha_req_r2);
    exact("singular_values count", (long long)a.sv.size(), (long long)b.sv.size());
    for (size_t i = 0; i < std::min(a.sv.size(), b.sv.size()); i++)
        cont("singular_value", a.sv[i], b.sv[i]);
    exact("column_variance count", (long long)a.cv.size(), (long long)b.cv.size());
    for (size_t i = 0; i < std::min(a.cv.size(), b.cv.size()); i++)
        cont("column_variance", a.cv[i], b.cv[i]);
    std::string s = bad.str();
    if (s.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the two results differ:" << s;
}

// Bitwise equality of two results (same object finalized twice).
bool identical(const Got &a, const Got &b)
{
    return std::memcmp(&a.r, &b.r, sizeof a.r) == 0 && a.sv == b.sv && a.cv == b.cv;
}

std::vector<uint16_t> to_f16(const std::vector<float> &x)
{
    std::vector<uint16_t> h(x.size());
    for (size_t i = 0; i < x.size(); i++) h[i] = ref::f32_to_f16(x[i]);
    return h;
}
std::vector<uint16_t> to_bf16(const std::vector<float> &x)
{
    std::vector<uint16_t> h(x.size());
    for (size_t i = 0; i < x.size(); i++) h[i] = ref::f32_to_bf16(x[i]);
    return h;
}

// The rows of x (n x d) in the order `perm`.
std::vector<float> permute_rows(const std::vector<float> &x, int64_t d,
                                const std::vector<int64_t> &perm)
{
    std::vector<float> y(x.size());
    for (size_t i = 0; i < perm.size(); i++)
        std::copy(x.begin() + perm[i] * d, x.begin() + (perm[i] + 1) * d,
                  y.begin() + (int64_t)i * d);
    return y;
}

class Spectrum : public ::testing::Test {
  protected:
    lsc_ctx *ctx = nullptr;

    void SetUp() override
    {
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.backend = LSC_BACKEND_CPU;
        ASSERT_EQ(LSC_STATUS_OK, lsc_ctx_create(&p, &ctx)) << lsc_last_error(ctx);
        ASSERT_EQ(LSC_BACKEND_CPU, lsc_ctx_backend(ctx));
    }
    void TearDown() override { lsc_ctx_destroy(ctx); }

    // One lsc_spectrum call; output arrays pre-filled with a poison value.
    lsc_status run(const lsc_matrix &x, Got &g, const lsc_spectrum_opts *opts = nullptr)
    {
        int64_t m = std::min(x.rows, x.cols);
        g.sv.assign((size_t)m, -12345.0);
        g.cv.assign((size_t)x.cols, -12345.0);
        std::memset(&g.r, 0xAB, sizeof g.r);
        g.r.size = sizeof g.r;
        return lsc_spectrum(ctx, &x, opts, &g.r, g.sv.data(), g.cv.data());
    }

    lsc_status finalize(const lsc_spectrum_acc *acc, int64_t cols, Got &g)
    {
        int64_t n = lsc_spectrum_acc_rows(acc);
        g.sv.assign((size_t)std::min(n, cols), -12345.0);
        g.cv.assign((size_t)cols, -12345.0);
        std::memset(&g.r, 0xAB, sizeof g.r);
        g.r.size = sizeof g.r;
        return lsc_spectrum_acc_finalize(ctx, acc, &g.r, g.sv.data(), g.cv.data());
    }

    // lsc_spectrum of a dense float32 matrix, checked against the reference; returns both.
    void check_f32(const std::vector<float> &x, int64_t n, int64_t d, Got *out_got = nullptr,
                   ref::Spectrum *out_ref = nullptr)
    {
        Got g;
        ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(x, n, d), g)) << lsc_last_error(ctx);
        ref::Spectrum w = ref::spectrum(x, n, d);
        EXPECT_TRUE(matches(g, w));
        if (out_got) *out_got = g;
        if (out_ref) *out_ref = w;
    }
};

class SpectrumAcc : public Spectrum {
  protected:
    lsc_spectrum_acc *make(int64_t cols, const lsc_spectrum_opts *opts = nullptr)
    {
        lsc_spectrum_acc *a = nullptr;
        EXPECT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_create(ctx, cols, opts, &a))
            << lsc_last_error(ctx);
        accs.push_back(a);
        return a;
    }
    // Adds rows [r0, r0 + nr) of the dense n x d matrix x.
    void add(lsc_spectrum_acc *a, const std::vector<float> &x, int64_t d, int64_t r0, int64_t nr)
    {
        lsc_matrix b = mat(x.data() + r0 * d, LSC_DTYPE_F32, nr, d);
        ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_add(ctx, a, &b)) << lsc_last_error(ctx);
    }
    void TearDown() override
    {
        for (auto *a : accs) lsc_spectrum_acc_destroy(a);
        Spectrum::TearDown();
    }
    std::vector<lsc_spectrum_acc *> accs;
};

// ---- the reference itself, on a set whose figures are known in closed form ---------------------

TEST_F(Spectrum, KnownClosedForm)
{
    // rows (3,0), (-3,0), (0,2), (0,-2): mean 0, sigma = (3 sqrt2, 2 sqrt2), unit rows +-e1, +-e2
    const std::vector<float> x = {3, 0, -3, 0, 0, 2, 0, -2};
    const double s1 = 3 * std::sqrt(2.0), s2 = 2 * std::sqrt(2.0);
    const double l1 = 6.0, l2 = 8.0 / 3.0, tv = l1 + l2;
    const double er = std::exp(-(0.6 * std::log(0.6) + 0.4 * std::log(0.4)));
    const double q1 = 0.6 + 1e-7, q2 = 0.4 + 1e-7;
    const double rankme = std::exp(-(q1 * std::log(q1) + q2 * std::log(q2)));
    const double pr = tv * tv / (l1 * l1 + l2 * l2), sr = tv / l1;

    ref::Spectrum w = ref::spectrum(x, 4, 2);
    EXPECT_NEAR(w.singular_values[0], s1, 1e-12);
    EXPECT_NEAR(w.singular_values[1], s2, 1e-12);
    EXPECT_NEAR(w.total_variance, tv, 1e-12);
    EXPECT_NEAR(w.effective_rank, er, 1e-12);
    EXPECT_NEAR(w.rankme, rankme, 1e-12);
    EXPECT_NEAR(w.participation_ratio, pr, 1e-12);
    EXPECT_NEAR(w.stable_rank, sr, 1e-12);
    EXPECT_NEAR(w.vendi_cosine, 2.0, 1e-12);
    EXPECT_NEAR(w.column_variance[0], 6.0, 1e-12);
    EXPECT_NEAR(w.column_variance[1], 8.0 / 3.0, 1e-12);
    EXPECT_EQ(2, w.dims_90);
    EXPECT_EQ(2, w.dims_99);
    EXPECT_EQ(2, w.active_units);

    Got g;
    ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(x, 4, 2), g)) << lsc_last_error(ctx);
    EXPECT_TRUE(matches(g, w));
    EXPECT_TRUE(ref::close(g.r.effective_rank, er));
    EXPECT_TRUE(ref::close(g.r.vendi_cosine, 2.0));
    EXPECT_TRUE(ref::close(g.r.rankme, rankme));
    EXPECT_EQ(0, g.r.all_rows_identical);
    EXPECT_EQ(2, g.r.numerical_rank);
}

TEST_F(Spectrum, VendiOrdersAndAlphaReqClosedForm)
{
    // rows +-e_i / i, i = 1..D: covariance eigenvalues 2 / (i^2 (N - 1)), an exact power law of
    // exponent 2 (R^2 = 1); the unit rows +-e_i make K / N's eigenvalues D values 1 / D, so
    // Vendi is D at every order
    const int64_t d = 6, n = 2 * d;
    std::vector<float> x((size_t)(n * d), 0.0f);
    for (int64_t i = 0; i < d; i++) {
        x[(size_t)(2 * i * d + i)] = 1.0f / (float)(i + 1);
        x[(size_t)((2 * i + 1) * d + i)] = -1.0f / (float)(i + 1);
    }
    ref::Spectrum w = ref::spectrum(x, n, d);
    EXPECT_NEAR(w.alpha_req, 2.0, 1e-6); // 1 / i rounded to float32
    EXPECT_NEAR(w.alpha_req_r2, 1.0, 1e-9);
    EXPECT_NEAR(w.vendi_q2, 6.0, 1e-9);
    Got g;
    ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(x, n, d), g)) << lsc_last_error(ctx);
    EXPECT_TRUE(matches(g, w));
    EXPECT_NEAR(g.r.alpha_req, 2.0, 1e-6);
    EXPECT_NEAR(g.r.alpha_req_r2, 1.0, 1e-9);
    EXPECT_EQ(6, g.r.alpha_req_ranks);
    EXPECT_EQ(6.0, g.r.vendi_cosine_q0);
    EXPECT_NEAR(g.r.vendi_cosine, 6.0, 1e-9);
    EXPECT_NEAR(g.r.vendi_cosine_q2, 6.0, 1e-9);
    EXPECT_NEAR(g.r.vendi_cosine_qinf, 6.0, 1e-9);
    // two directions only: fewer than 3 eigenvalues leave alpha-ReQ at its pinned 0
    const std::vector<float> two = {3, 0, -3, 0, 0, 2, 0, -2};
    ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(two, 4, 2), g)) << lsc_last_error(ctx);
    EXPECT_EQ(0.0, g.r.alpha_req);
    EXPECT_EQ(0, g.r.alpha_req_ranks);
    EXPECT_EQ(2.0, g.r.vendi_cosine_q0);
    EXPECT_NEAR(g.r.vendi_cosine_qinf, 2.0, 1e-9);
}

TEST_F(Spectrum, ReferenceConversionsAreExact)
{
    // float16: every finite bit pattern round-trips through float32
    for (uint32_t h = 0; h < 0x10000u; h++) {
        if ((h & 0x7c00u) == 0x7c00u) continue; // Inf / NaN
        float f = ref::f16_to_f32((uint16_t)h);
        ASSERT_EQ((uint16_t)h, ref::f32_to_f16(f)) << "f16 bits " << h;
    }
    EXPECT_EQ(1.0f, ref::f16_to_f32(0x3c00));
    EXPECT_EQ(std::ldexp(1.0f, -24), ref::f16_to_f32(0x0001)); // smallest subnormal
    EXPECT_EQ(65504.0f, ref::f16_to_f32(0x7bff));
    EXPECT_EQ(0x3c00, ref::f32_to_f16(1.0f + std::ldexp(1.0f, -11)));     // tie to even: down
    EXPECT_EQ(0x3c02, ref::f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11))); // tie to even: up
    EXPECT_EQ(0x7c00, ref::f32_to_f16(INFINITY)); // overflow and infinity: Inf
    EXPECT_EQ(0xfc00, ref::f32_to_f16(-INFINITY));
    EXPECT_EQ(0x7c00, ref::f32_to_f16(65520.0f));
    EXPECT_EQ(0x7bff, ref::f32_to_f16(65519.0f));
    EXPECT_EQ(0x7f80, ref::f32_to_bf16(INFINITY));
    EXPECT_EQ(0x3f80, ref::f32_to_bf16(1.0f));
    EXPECT_EQ(1.0f, ref::bf16_to_f32(0x3f80));
    EXPECT_EQ(0x3f80, ref::f32_to_bf16(1.0f + std::ldexp(1.0f, -8))); // tie to even: down
}

// ---- random and structured data ----------------------------------------------------------------

TEST_F(Spectrum, GaussianMatchesReference)
{
    const uint64_t s = test_seed(20260101);
    SCOPED_TRACE("seed " + std::to_string(s));
    {
        auto x = data::gaussian(800, 64, s);
        check_f32(x, 800, 64);
    }
    {
        auto x = data::gaussian(400, 200, s + 1);
        Got g;
        check_f32(x, 400, 200, &g);
        EXPECT_EQ(200, g.r.numerical_rank);
        EXPECT_EQ(LSC_VENDI_OK, g.r.vendi_status);
    }
}

TEST_F(Spectrum, RankKData)
{
    const uint64_t s = test_seed(777);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (int64_t k : {1, 5, 12}) {
        SCOPED_TRACE("k " + std::to_string(k));
        const int64_t n = 600, d = 128;
        auto x = data::rank_k(n, d, k, s + (uint64_t)k);
        Got g;
        ref::Spectrum w;
        check_f32(x, n, d, &g, &w);
        EXPECT_EQ(k, w.numerical_rank);
        EXPECT_EQ(k, g.r.numerical_rank);
        EXPECT_EQ(0, g.r.all_rows_identical);
        for (int64_t i = k; i < d; i++) EXPECT_EQ(0.0, g.sv[(size_t)i]) << "sigma_" << i + 1;
        EXPECT_GT(g.sv[(size_t)k - 1], 0.0);
        EXPECT_LE(g.r.effective_rank, (double)k * (1 + 1e-9));
        EXPECT_GT(g.r.effective_rank, 0.7 * (double)k);
        EXPECT_LE(g.r.participation_ratio, (double)k * (1 + 1e-9));
        EXPECT_LE(g.r.dims_90, k);
        EXPECT_GE(g.r.dims_90, std::max<int64_t>(1, k - 3));
        EXPECT_LE(g.r.dims_99, k);
        EXPECT_GE(g.r.dims_99, std::max<int64_t>(1, k - 1));
        if (k == 1) {
            EXPECT_TRUE(ref::close(g.r.effective_rank, 1.0));
            EXPECT_TRUE(ref::close(g.r.participation_ratio, 1.0));
            EXPECT_TRUE(ref::close(g.r.stable_rank, 1.0));
            EXPECT_EQ(1, g.r.dims_90);
            EXPECT_EQ(1, g.r.dims_99);
        }
    }
}

TEST_F(Spectrum, RankKWithLargeOffset)
{
    // A common offset of 50 on rank-k data: the centred rank stays k (docs/METRICS.md: accumulate
    // around a pivot, never X^T X - N mu mu^T).
    const uint64_t s = test_seed(4242);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 600, d = 96, k = 7;
    auto x = data::rank_k(n, d, k, s, 50.0);
    Got g;
    ref::Spectrum w;
    check_f32(x, n, d, &g, &w);
    EXPECT_EQ(k, w.numerical_rank);
    EXPECT_EQ(k, g.r.numerical_rank);
    EXPECT_LE(g.r.dims_99, k);
    EXPECT_LE(g.r.effective_rank, (double)k * (1 + 1e-9));
    // the same data without the offset has the same centred figures (up to float32 rounding)
    auto x0 = data::rank_k(n, d, k, s, 0.0);
    Got g0;
    ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(x0, n, d), g0)) << lsc_last_error(ctx);
    EXPECT_TRUE(ref::close(g.r.effective_rank, g0.r.effective_rank, 1e-3));
    EXPECT_EQ(g0.r.numerical_rank, g.r.numerical_rank);
}

TEST_F(Spectrum, LargeMeanSmallSpread)
{
    const uint64_t s = test_seed(5050);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 700, d = 48;
    auto x = data::gaussian(n, d, s, 50.0, 1.0);
    Got g;
    ref::Spectrum w;
    check_f32(x, n, d, &g, &w);
    EXPECT_EQ(d, g.r.numerical_rank);
    // centred figures of a full-rank Gaussian: effective rank near D; RankMe sees the offset
    EXPECT_GT(g.r.effective_rank, 0.8 * (double)d);
    EXPECT_LT(g.r.rankme, 0.25 * g.r.effective_rank); // uncentred: the offset dominates
    for (int64_t c = 0; c < d; c++) EXPECT_NEAR(g.cv[(size_t)c], 1.0, 0.25);
}

TEST_F(Spectrum, IdenticalRows)
{
    const uint64_t s = test_seed(99);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (auto nd : {std::pair<int64_t, int64_t>{50, 16}, {5, 40}, {2, 3}}) {
        const int64_t n = nd.first, d = nd.second;
        SCOPED_TRACE("N " + std::to_string(n) + " D " + std::to_string(d));
        auto x = data::identical_rows(n, d, s);
        Got g;
        ref::Spectrum w;
        check_f32(x, n, d, &g, &w);
        EXPECT_TRUE(w.all_rows_identical);
        EXPECT_EQ(1, g.r.all_rows_identical);
        EXPECT_EQ(0, g.r.numerical_rank);
        EXPECT_EQ(0.0, g.r.effective_rank);
        EXPECT_EQ(0.0, g.r.participation_ratio);
        EXPECT_EQ(0.0, g.r.stable_rank);
        EXPECT_EQ(0, g.r.dims_90);
        EXPECT_EQ(0, g.r.dims_99);
        EXPECT_EQ(0.0, g.r.total_variance);
        EXPECT_EQ(0.0, g.r.largest_singular_value);
        EXPECT_EQ(0, g.r.active_units);
        for (double v : g.sv) EXPECT_EQ(0.0, v);
        for (double v : g.cv) EXPECT_EQ(0.0, v);
        // one direction: Vendi 1, RankMe about 1
        EXPECT_EQ(LSC_VENDI_OK, g.r.vendi_status);
        EXPECT_TRUE(ref::close(g.r.vendi_cosine, 1.0));
        EXPECT_TRUE(ref::close(g.r.rankme, 1.0, 1e-4));
    }
}

TEST_F(Spectrum, AllZeros)
{
    for (auto nd : {std::pair<int64_t, int64_t>{30, 8}, {4, 10}}) {
        const int64_t n = nd.first, d = nd.second;
        SCOPED_TRACE("N " + std::to_string(n) + " D " + std::to_string(d));
        std::vector<float> x((size_t)(n * d), 0.0f);
        Got g;
        ref::Spectrum w;
        check_f32(x, n, d, &g, &w);
        EXPECT_EQ(0.0, g.r.rankme);
        EXPECT_EQ(LSC_VENDI_ZERO_ROW, g.r.vendi_status);
        EXPECT_EQ(0, g.r.vendi_zero_row);
        EXPECT_EQ(0.0, g.r.vendi_cosine);
        EXPECT_EQ(1, g.r.all_rows_identical);
        EXPECT_EQ(0, g.r.numerical_rank);
        EXPECT_EQ(0.0, g.r.effective_rank);
        EXPECT_EQ(0, g.r.dims_90);
        EXPECT_EQ(0, g.r.active_units);
        EXPECT_FALSE(std::isnan(g.r.rankme) || std::isnan(g.r.stable_rank) ||
                     std::isnan(g.r.participation_ratio) || std::isnan(g.r.vendi_cosine));
    }
}

TEST_F(Spectrum, ZeroRowMakesVendiUnavailable)
{
    const uint64_t s = test_seed(31337);
    SCOPED_TRACE("seed " + std::to_string(s));
    struct Case {
        int64_t n, d;
        std::vector<int64_t> zero_rows;
    };
    for (const Case &c : {Case{200, 16, {57}}, Case{200, 16, {150, 3}}, Case{10, 30, {3}},
                          Case{12, 40, {11, 7}}, Case{64, 64, {0}}}) {
        SCOPED_TRACE("N " + std::to_string(c.n) + " D " + std::to_string(c.d));
        auto x = data::gaussian(c.n, c.d, s);
        for (int64_t r : c.zero_rows)
            for (int64_t k = 0; k < c.d; k++) x[(size_t)(r * c.d + k)] = (k % 2) ? 0.0f : -0.0f;
        int64_t first = *std::min_element(c.zero_rows.begin(), c.zero_rows.end());
        Got g;
        ref::Spectrum w;
        check_f32(x, c.n, c.d, &g, &w);
        EXPECT_EQ(first, w.vendi_zero_row);
        EXPECT_EQ(LSC_VENDI_ZERO_ROW, g.r.vendi_status);
        EXPECT_EQ(first, g.r.vendi_zero_row);
        EXPECT_EQ(0.0, g.r.vendi_cosine);
        EXPECT_GT(g.r.rankme, 1.0); // the other figures are still computed
        EXPECT_GT(g.r.effective_rank, 1.0);
    }
}

TEST_F(Spectrum, TinyRowIsNotAZeroRow)
{
    // A row whose only non-zero value is the smallest float32 subnormal, and one of values
    // 1e-30: both have a direction, so Vendi stays available.
    const uint64_t s = test_seed(4040);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (auto nd : {std::pair<int64_t, int64_t>{100, 12}, {8, 30}}) {
        const int64_t n = nd.first, d = nd.second;
        SCOPED_TRACE("N " + std::to_string(n) + " D " + std::to_string(d));
        auto x = data::gaussian(n, d, s);
        for (int64_t k = 0; k < d; k++) x[(size_t)(2 * d + k)] = k == 5 ? 1.4e-45f : 0.0f;
        for (int64_t k = 0; k < d; k++) x[(size_t)(4 * d + k)] = 1e-30f;
        ASSERT_GT(x[(size_t)(2 * d + 5)], 0.0f);
        Got g;
        ref::Spectrum w;
        check_f32(x, n, d, &g, &w);
        EXPECT_TRUE(w.vendi_available);
        EXPECT_EQ(LSC_VENDI_OK, g.r.vendi_status);
    }
}

TEST_F(Spectrum, OneTightCluster)
{
    const uint64_t s = test_seed(2024);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 400, d = 32;
    auto x = data::tight_cluster(n, d, s, 1e-3);
    Got g;
    ref::Spectrum w;
    check_f32(x, n, d, &g, &w);
    EXPECT_EQ(0, g.r.all_rows_identical);
    EXPECT_EQ(d, g.r.numerical_rank);
    EXPECT_EQ(0, g.r.active_units);                 // variances about 1e-6
    EXPECT_GT(g.r.effective_rank, 0.8 * (double)d); // centred: still isotropic
    EXPECT_LT(g.r.vendi_cosine, 1.01);              // but every row points the same way
}

TEST_F(Spectrum, FewerRowsThanColumns)
{
    const uint64_t s = test_seed(1001);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (auto nd : {std::pair<int64_t, int64_t>{20, 100}, {3, 256}, {50, 51}}) {
        const int64_t n = nd.first, d = nd.second;
        SCOPED_TRACE("N " + std::to_string(n) + " D " + std::to_string(d));
        auto x = data::gaussian(n, d, s + (uint64_t)d);
        Got g;
        check_f32(x, n, d, &g);
        EXPECT_EQ(n, g.r.rank_limit);
        EXPECT_EQ(n - 1, g.r.numerical_rank); // centring removes one dimension
        EXPECT_EQ(0.0, g.sv[(size_t)n - 1]);
    }
    // rank-k data with N < D
    auto x = data::rank_k(30, 120, 4, s);
    Got g;
    check_f32(x, 30, 120, &g);
    EXPECT_EQ(4, g.r.numerical_rank);
}

TEST_F(Spectrum, SquareNEqualsD)
{
    const uint64_t s = test_seed(6464);
    SCOPED_TRACE("seed " + std::to_string(s));
    auto x = data::gaussian(64, 64, s);
    Got g;
    check_f32(x, 64, 64, &g);
    EXPECT_EQ(64, g.r.rank_limit);
    EXPECT_EQ(63, g.r.numerical_rank);
}

TEST_F(Spectrum, OneAndTwoColumns)
{
    const uint64_t s = test_seed(12);
    SCOPED_TRACE("seed " + std::to_string(s));
    {
        auto x = data::gaussian(100, 1, s, 0.5, 2.0);
        Got g;
        check_f32(x, 100, 1, &g);
        EXPECT_EQ(1, g.r.rank_limit);
        EXPECT_EQ(1, g.r.numerical_rank);
        EXPECT_TRUE(ref::close(g.r.effective_rank, 1.0));
        EXPECT_TRUE(ref::close(g.r.stable_rank, 1.0));
        EXPECT_TRUE(ref::close(g.r.vendi_cosine, 1.0)); // one direction, either sign
        EXPECT_EQ(1, g.r.dims_90);
        EXPECT_EQ(1, g.r.active_units);
        EXPECT_TRUE(ref::close(g.sv[0] * g.sv[0] / 99.0, g.cv[0]));
    }
    {
        auto x = data::gaussian(150, 2, s + 1);
        for (size_t i = 0; i < x.size(); i += 2) x[i] *= 5.0f; // anisotropic: 25 : 1
        Got g;
        check_f32(x, 150, 2, &g);
        EXPECT_EQ(2, g.r.numerical_rank);
        EXPECT_EQ(1, g.r.dims_90);
        EXPECT_EQ(2, g.r.dims_99);
    }
    {
        // D = 1 with every value the same but non-zero, and D = 1 all zero
        std::vector<float> x(10, 3.5f);
        Got g;
        check_f32(x, 10, 1, &g);
        EXPECT_EQ(1, g.r.all_rows_identical);
        std::vector<float> z(10, 0.0f);
        check_f32(z, 10, 1, &g);
        EXPECT_EQ(0.0, g.r.rankme);
        EXPECT_EQ(LSC_VENDI_ZERO_ROW, g.r.vendi_status);
    }
}

TEST_F(Spectrum, TwoRows)
{
    const uint64_t s = test_seed(2);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (int64_t d : {1, 2, 10, 300}) {
        SCOPED_TRACE("D " + std::to_string(d));
        auto x = data::gaussian(2, d, s + (uint64_t)d);
        Got g;
        ref::Spectrum w;
        check_f32(x, 2, d, &g, &w);
        EXPECT_EQ(std::min<int64_t>(2, d), g.r.rank_limit);
        EXPECT_EQ(1, g.r.numerical_rank);
        EXPECT_TRUE(ref::close(g.r.effective_rank, 1.0));
        // sigma_1 = ||x_0 - x_1|| / sqrt(2)
        double dd = 0.0;
        for (int64_t k = 0; k < d; k++) {
            double t = (double)x[(size_t)k] - x[(size_t)(d + k)];
            dd += t * t;
        }
        EXPECT_TRUE(ref::close(g.r.largest_singular_value, std::sqrt(dd / 2.0)));
    }
}

TEST_F(Spectrum, PinnedNumericalZero)
{
    // Singular values on both sides of the pinned cut (1e-5 x the largest): ~3e-5 relative is
    // kept, ~3e-6 relative (eigenvalue ~1e-11 x the largest) is exactly 0 in every figure.
    const uint64_t s = test_seed(10101);
    SCOPED_TRACE("seed " + std::to_string(s));
    {
        const int64_t n = 500;
        const std::vector<double> scale = {1.0, 0.3, 0.1, 3e-5, 3e-6, 0.0};
        const int64_t d = (int64_t)scale.size();
        auto x = data::gaussian(n, d, s);
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < d; c++)
                x[(size_t)(i * d + c)] = (float)(x[(size_t)(i * d + c)] * scale[(size_t)c]);
        Got g;
        ref::Spectrum w;
        check_f32(x, n, d, &g, &w);
        EXPECT_EQ(4, w.numerical_rank);
        EXPECT_EQ(4, g.r.numerical_rank);
        EXPECT_GT(g.sv[3], 0.0);
        EXPECT_EQ(0.0, g.sv[4]);
        EXPECT_EQ(0.0, g.sv[5]);
        // the same through the accumulator (D x D, pivot from the first batch)
        lsc_spectrum_acc *a = nullptr;
        ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_create(ctx, d, nullptr, &a));
        lsc_matrix b1 = mat(x.data(), LSC_DTYPE_F32, 3, d);
        lsc_matrix b2 = mat(x.data() + 3 * d, LSC_DTYPE_F32, n - 3, d);
        EXPECT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_add(ctx, a, &b1));
        EXPECT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_add(ctx, a, &b2));
        Got ga;
        EXPECT_EQ(LSC_STATUS_OK, finalize(a, d, ga)) << lsc_last_error(ctx);
        lsc_spectrum_acc_destroy(a);
        EXPECT_TRUE(matches(ga, w));
        EXPECT_EQ(4, ga.r.numerical_rank);
    }
    {
        // N < D (the N x N path): 3 columns of scale 1, one of 6e-5, 36 of 9e-7
        const int64_t n = 8, d = 40;
        auto x = data::gaussian(n, d, s + 1);
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < d; c++)
                x[(size_t)(i * d + c)] *= c < 3 ? 1.0f : c == 3 ? 6e-5f : 9e-7f;
        Got g;
        ref::Spectrum w;
        check_f32(x, n, d, &g, &w);
        EXPECT_EQ(4, w.numerical_rank);
        EXPECT_EQ(4, g.r.numerical_rank);
        for (int64_t i = 4; i < n; i++) EXPECT_EQ(0.0, g.sv[(size_t)i]);
    }
}

// ---- element types, layout, options ------------------------------------------------------------

TEST_F(Spectrum, Float16Input)
{
    const uint64_t s = test_seed(16);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (auto nd : {std::pair<int64_t, int64_t>{300, 40}, {12, 50}}) {
        const int64_t n = nd.first, d = nd.second;
        auto x = data::gaussian(n, d, s + (uint64_t)n, 0.3, 2.0);
        auto h = to_f16(x);
        std::vector<float> xf(h.size());
        for (size_t i = 0; i < h.size(); i++) xf[i] = ref::f16_to_f32(h[i]);
        Got g;
        ASSERT_EQ(LSC_STATUS_OK, run(mat(h.data(), LSC_DTYPE_F16, n, d), g)) << lsc_last_error(ctx);
        EXPECT_TRUE(matches(g, ref::spectrum(xf, n, d)));
    }
}

TEST_F(Spectrum, Float16Subnormals)
{
    // Every value a float16 subnormal (|x| < 2^-14) or zero-free tiny normal: the scale-free
    // figures must match the reference on the decoded values to 2e-4.
    const uint64_t s = test_seed(1616);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 200, d = 24;
    std::mt19937_64 gen(s);
    std::uniform_int_distribution<int> mant(1, 1023);
    std::vector<uint16_t> h((size_t)(n * d));
    for (auto &v : h) v = (uint16_t)((gen() & 1 ? 0x8000 : 0) | mant(gen)); // exponent field 0
    std::vector<float> xf(h.size());
    for (size_t i = 0; i < h.size(); i++) xf[i] = ref::f16_to_f32(h[i]);
    ASSERT_LT(std::fabs(xf[0]), std::ldexp(1.0f, -14));
    Got g;
    ASSERT_EQ(LSC_STATUS_OK, run(mat(h.data(), LSC_DTYPE_F16, n, d), g)) << lsc_last_error(ctx);
    ref::Spectrum w = ref::spectrum(xf, n, d);
    EXPECT_TRUE(matches(g, w));
    EXPECT_EQ(d, g.r.numerical_rank);
    EXPECT_EQ(LSC_VENDI_OK, g.r.vendi_status);
}

TEST_F(Spectrum, BFloat16Input)
{
    const uint64_t s = test_seed(1602);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (auto nd : {std::pair<int64_t, int64_t>{300, 40}, {12, 50}}) {
        const int64_t n = nd.first, d = nd.second;
        auto x = data::gaussian(n, d, s + (uint64_t)n, -1.0, 3.0);
        auto h = to_bf16(x);
        std::vector<float> xf(h.size());
        for (size_t i = 0; i < h.size(); i++) xf[i] = ref::bf16_to_f32(h[i]);
        Got g;
        ASSERT_EQ(LSC_STATUS_OK, run(mat(h.data(), LSC_DTYPE_BF16, n, d), g))
            << lsc_last_error(ctx);
        EXPECT_TRUE(matches(g, ref::spectrum(xf, n, d)));
    }
}

TEST_F(Spectrum, Float64Input)
{
    const uint64_t s = test_seed(64);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (auto nd : {std::pair<int64_t, int64_t>{300, 40}, {12, 50}}) {
        const int64_t n = nd.first, d = nd.second;
        std::mt19937_64 gen(s + (uint64_t)n);
        std::normal_distribution<double> nd01(0.0, 1.0);
        std::vector<double> x((size_t)(n * d));
        for (auto &v : x) v = nd01(gen);
        std::vector<float> xf(x.size());
        for (size_t i = 0; i < x.size(); i++) xf[i] = (float)x[i];
        Got g;
        ASSERT_EQ(LSC_STATUS_OK, run(mat(x.data(), LSC_DTYPE_F64, n, d), g)) << lsc_last_error(ctx);
        EXPECT_TRUE(matches(g, ref::spectrum(xf, n, d)));
    }
    // rows that differ in float64 below float32's resolution are identical as float32: the
    // figures are those of the float32 values (docs/METRICS.md, lsc.h)
    const int64_t n = 40, d = 6;
    std::vector<double> x((size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++)
            x[(size_t)(i * d + k)] = (double)(k + 1) + 1e-12 * (double)((i * 7 + k) % 5);
    Got g;
    ASSERT_EQ(LSC_STATUS_OK, run(mat(x.data(), LSC_DTYPE_F64, n, d), g)) << lsc_last_error(ctx);
    EXPECT_EQ(1, g.r.all_rows_identical);
    EXPECT_EQ(0, g.r.numerical_rank);
    EXPECT_EQ(0.0, g.r.total_variance);
    EXPECT_EQ(0, g.r.dims_90);
}

TEST_F(Spectrum, PaddedRows)
{
    // ld > cols, the padding full of NaN: it is not part of the matrix and must not be read
    const uint64_t s = test_seed(808);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (auto nd : {std::pair<int64_t, int64_t>{300, 24}, {10, 40}}) {
        const int64_t n = nd.first, d = nd.second, ld = d + 5;
        SCOPED_TRACE("N " + std::to_string(n) + " D " + std::to_string(d));
        auto x = data::gaussian(n, d, s + (uint64_t)d);
        std::vector<float> p((size_t)(n * ld), std::nanf(""));
        for (int64_t i = 0; i < n; i++)
            std::copy(x.begin() + i * d, x.begin() + (i + 1) * d, p.begin() + i * ld);
        Got g;
        ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(p, n, d, ld), g)) << lsc_last_error(ctx);
        ref::Spectrum w = ref::spectrum(p.data(), n, d, ld);
        EXPECT_TRUE(matches(g, w));
        EXPECT_TRUE(matches(g, ref::spectrum(x, n, d)));

        // float16 with padding too
        std::vector<uint16_t> h((size_t)(n * ld), 0x7e00); // NaN
        std::vector<float> xf(x.size());
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < d; k++) {
                h[(size_t)(i * ld + k)] = ref::f32_to_f16(x[(size_t)(i * d + k)]);
                xf[(size_t)(i * d + k)] = ref::f16_to_f32(h[(size_t)(i * ld + k)]);
            }
        ASSERT_EQ(LSC_STATUS_OK, run(mat(h.data(), LSC_DTYPE_F16, n, d, ld), g))
            << lsc_last_error(ctx);
        EXPECT_TRUE(matches(g, ref::spectrum(xf, n, d)));
    }
}

TEST_F(Spectrum, ActiveThreshold)
{
    // column c has standard deviation scale[c]: variances from 1e-6 to 25
    const uint64_t s = test_seed(303);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 500;
    const std::vector<double> scale = {1e-3, 0.01, 0.05, 0.08, 0.2, 0.5, 1.0, 2.0, 5.0, 0.0};
    const int64_t d = (int64_t)scale.size();
    auto x = data::gaussian(n, d, s);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++)
            x[(size_t)(i * d + c)] = (float)(x[(size_t)(i * d + c)] * scale[(size_t)c] + 1.0);
    for (double thr : {0.01, 0.0, 0.5, 3.0, 100.0}) {
        SCOPED_TRACE("threshold " + fmt(thr));
        lsc_spectrum_opts o = LSC_SPECTRUM_OPTS_INIT;
        o.active_threshold = thr;
        Got g;
        ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(x, n, d), g, &o)) << lsc_last_error(ctx);
        ref::Spectrum w = ref::spectrum(x, n, d, thr);
        EXPECT_TRUE(matches(g, w));
        EXPECT_EQ(thr, g.r.active_threshold);
        int64_t want = 0;
        for (int64_t c = 0; c < d; c++) want += g.cv[(size_t)c] > thr;
        EXPECT_EQ(want, g.r.active_units);
    }
    // the default is 0.01, also with opts NULL
    Got g;
    ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(x, n, d), g, nullptr)) << lsc_last_error(ctx);
    EXPECT_EQ(0.01, g.r.active_threshold);
    EXPECT_TRUE(matches(g, ref::spectrum(x, n, d, 0.01)));
    EXPECT_EQ(0.0, g.cv[(size_t)d - 1]); // constant column: variance exactly 0 ...
    EXPECT_EQ(5, g.r.active_units);      // variances 0.04 .. 25 active, 1e-6 .. 0.0064 not
}

TEST_F(Spectrum, OptionalOutputsMayBeNull)
{
    const uint64_t s = test_seed(5);
    auto x = data::gaussian(100, 8, s);
    lsc_matrix m = mat_f32(x, 100, 8);
    lsc_spectrum_result a = LSC_SPECTRUM_RESULT_INIT, b = LSC_SPECTRUM_RESULT_INIT;
    ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum(ctx, &m, nullptr, &a, nullptr, nullptr))
        << lsc_last_error(ctx);
    Got g;
    ASSERT_EQ(LSC_STATUS_OK, run(m, g));
    b = g.r;
    EXPECT_EQ(0, std::memcmp(&a, &b, sizeof a));
}

TEST_F(Spectrum, SmallTilesAndThreadCounts)
{
    // A small workspace limit forces many row tiles (N >= D) and column blocks (N < D), with a
    // partial last one; the figures and the zero-row index must not depend on the tiling or on
    // the thread count.
    const uint64_t s = test_seed(3737);
    SCOPED_TRACE("seed " + std::to_string(s));
    struct Case {
        int64_t n, d, zero_row; // zero_row < 0: none
        size_t limit;
    };
    for (const Case &c : {Case{1000, 24, -1, 2 * 8 * 24 * 37}, Case{1000, 24, 701, 2 * 8 * 24 * 37},
                          Case{700, 64, 333, 2 * 8 * 64 * 50}, Case{10, 256, -1, 2 * 8 * 10 * 37},
                          Case{10, 256, 6, 2 * 8 * 10 * 37}}) {
        SCOPED_TRACE("N " + std::to_string(c.n) + " D " + std::to_string(c.d) + " zero row " +
                     std::to_string(c.zero_row));
        auto x = data::gaussian(c.n, c.d, s + (uint64_t)c.n, 50.0, 1.0);
        if (c.zero_row >= 0)
            for (int64_t k = 0; k < c.d; k++) x[(size_t)(c.zero_row * c.d + k)] = 0.0f;
        ref::Spectrum w = ref::spectrum(x, c.n, c.d);
        for (int threads : {1, 3}) {
            SCOPED_TRACE("threads " + std::to_string(threads));
            lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
            p.backend = LSC_BACKEND_CPU;
            p.threads = threads;
            p.workspace_limit = c.limit;
            lsc_ctx *small = nullptr;
            ASSERT_EQ(LSC_STATUS_OK, lsc_ctx_create(&p, &small)) << lsc_last_error(small);
            Got g;
            g.sv.assign((size_t)std::min(c.n, c.d), -1.0);
            g.cv.assign((size_t)c.d, -1.0);
            lsc_matrix m = mat_f32(x, c.n, c.d);
            lsc_status st = lsc_spectrum(small, &m, nullptr, &g.r, g.sv.data(), g.cv.data());
            EXPECT_EQ(LSC_STATUS_OK, st) << lsc_last_error(small);
            if (st == LSC_STATUS_OK) {
                EXPECT_TRUE(matches(g, w));
            }
            // the accumulator with the same small tiles, batches straddling tile edges
            lsc_spectrum_acc *a = nullptr;
            ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_create(small, c.d, nullptr, &a))
                << lsc_last_error(small);
            for (int64_t r0 = 0, b = 1; r0 < c.n; r0 += b, b = b * 3 + 1) {
                b = std::min(b, c.n - r0);
                lsc_matrix bm = mat(x.data() + r0 * c.d, LSC_DTYPE_F32, b, c.d);
                EXPECT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_add(small, a, &bm))
                    << lsc_last_error(small);
            }
            Got ga;
            ga.sv.assign((size_t)std::min(c.n, c.d), -1.0);
            ga.cv.assign((size_t)c.d, -1.0);
            st = lsc_spectrum_acc_finalize(small, a, &ga.r, ga.sv.data(), ga.cv.data());
            EXPECT_EQ(LSC_STATUS_OK, st) << lsc_last_error(small);
            if (st == LSC_STATUS_OK) {
                EXPECT_TRUE(matches(ga, w));
            }
            lsc_spectrum_acc_destroy(a);
            lsc_ctx_destroy(small);
        }
    }
}

// ---- properties --------------------------------------------------------------------------------

TEST_F(Spectrum, InputIsNotModified)
{
    const uint64_t s = test_seed(11);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (auto nd : {std::pair<int64_t, int64_t>{300, 20}, {15, 60}}) {
        const int64_t n = nd.first, d = nd.second;
        auto x = data::gaussian(n, d, s, 50.0, 1.0);
        std::vector<float> copy = x;
        Got g;
        ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(x, n, d), g)) << lsc_last_error(ctx);
        EXPECT_EQ(0, std::memcmp(copy.data(), x.data(), x.size() * sizeof(float)));
        auto h = to_f16(x);
        auto hc = h;
        ASSERT_EQ(LSC_STATUS_OK, run(mat(h.data(), LSC_DTYPE_F16, n, d), g)) << lsc_last_error(ctx);
        EXPECT_EQ(0, std::memcmp(hc.data(), h.data(), h.size() * sizeof(uint16_t)));
        auto b = to_bf16(x);
        auto bc = b;
        ASSERT_EQ(LSC_STATUS_OK, run(mat(b.data(), LSC_DTYPE_BF16, n, d), g))
            << lsc_last_error(ctx);
        EXPECT_EQ(0, std::memcmp(bc.data(), b.data(), b.size() * sizeof(uint16_t)));
        std::vector<double> f(x.begin(), x.end());
        auto fc = f;
        ASSERT_EQ(LSC_STATUS_OK, run(mat(f.data(), LSC_DTYPE_F64, n, d), g)) << lsc_last_error(ctx);
        EXPECT_EQ(0, std::memcmp(fc.data(), f.data(), f.size() * sizeof(double)));
        // a padded buffer, padding included
        const int64_t ld = d + 3;
        std::vector<float> p((size_t)(n * ld), -7.0f);
        for (int64_t i = 0; i < n; i++)
            std::copy(x.begin() + i * d, x.begin() + (i + 1) * d, p.begin() + i * ld);
        auto pc = p;
        ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(p, n, d, ld), g)) << lsc_last_error(ctx);
        EXPECT_EQ(0, std::memcmp(pc.data(), p.data(), p.size() * sizeof(float)));
    }
}

TEST_F(Spectrum, RowOrderDoesNotMatter)
{
    const uint64_t s = test_seed(4711);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (auto nd : {std::pair<int64_t, int64_t>{500, 32}, {25, 64}}) {
        const int64_t n = nd.first, d = nd.second;
        SCOPED_TRACE("N " + std::to_string(n) + " D " + std::to_string(d));
        auto x = data::gaussian(n, d, s, 50.0, 1.0);
        // a zero row, so the named row index must move with the permutation
        for (int64_t k = 0; k < d; k++) x[(size_t)(3 * d + k)] = 0.0f;
        std::vector<int64_t> perm((size_t)n);
        std::iota(perm.begin(), perm.end(), 0);
        std::mt19937_64 gen(s);
        std::shuffle(perm.begin(), perm.end(), gen);
        auto y = permute_rows(x, d, perm);
        Got gx, gy;
        ref::Spectrum w;
        check_f32(x, n, d, &gx, &w);
        ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(y, n, d), gy)) << lsc_last_error(ctx);
        // the same figures; vendi's zero-row index is where row 3 went
        ref::Spectrum wy = w;
        wy.vendi_zero_row = std::find(perm.begin(), perm.end(), 3) - perm.begin();
        EXPECT_TRUE(matches(gy, wy));
        EXPECT_TRUE(agree(gx, gy));
        // without the zero row, Vendi too
        auto x2 = data::gaussian(n, d, s + 1);
        auto y2 = permute_rows(x2, d, perm);
        Got g2x, g2y;
        check_f32(x2, n, d, &g2x);
        ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(y2, n, d), g2y)) << lsc_last_error(ctx);
        EXPECT_TRUE(agree(g2x, g2y));
        EXPECT_EQ(LSC_VENDI_OK, g2y.r.vendi_status);
    }
}

// ---- streaming accumulator ---------------------------------------------------------------------

TEST_F(SpectrumAcc, UnevenBatchesEqualOneCall)
{
    const uint64_t s = test_seed(123);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 900, d = 40;
    struct Set {
        const char *name;
        std::vector<float> x;
    };
    for (const Set &set : {Set{"gaussian", data::gaussian(n, d, s)},
                           Set{"mean 50 spread 1", data::gaussian(n, d, s + 1, 50.0, 1.0)},
                           Set{"rank 6 offset 50", data::rank_k(n, d, 6, s + 2, 50.0)},
                           Set{"tight cluster", data::tight_cluster(n, d, s + 3)}}) {
        SCOPED_TRACE(set.name);
        const auto &x = set.x;
        lsc_spectrum_acc *a = make(d);
        ASSERT_NE(nullptr, a);
        EXPECT_EQ(0, lsc_spectrum_acc_rows(a));
        int64_t r0 = 0;
        for (int64_t b : {1, 7, 100}) {
            add(a, x, d, r0, b);
            r0 += b;
            EXPECT_EQ(r0, lsc_spectrum_acc_rows(a));
        }
        add(a, x, d, r0, n - r0);
        EXPECT_EQ(n, lsc_spectrum_acc_rows(a));
        Got ga, g1;
        ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, ga)) << lsc_last_error(ctx);
        ref::Spectrum w;
        check_f32(x, n, d, &g1, &w);
        EXPECT_TRUE(matches(ga, w));
        EXPECT_TRUE(agree(ga, g1));
        if (std::string(set.name).find("rank 6") == 0) {
            EXPECT_EQ(6, ga.r.numerical_rank);
        }
    }
}

TEST_F(SpectrumAcc, MergeOrdersAndTreesAgree)
{
    const uint64_t s = test_seed(321);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 800, d = 32;
    // two far-apart halves: the parts' pivots differ by ~80, the correction must be exact
    auto x = data::gaussian(n, d, s, 50.0, 1.0);
    auto lo = data::gaussian(n / 2, d, s + 1, -30.0, 2.0);
    std::copy(lo.begin(), lo.end(), x.begin() + (n / 2) * d);
    const std::vector<int64_t> sizes = {1, 7, 100, 350, n - 458};
    ref::Spectrum w = ref::spectrum(x, n, d);
    Got one;
    ASSERT_EQ(LSC_STATUS_OK, run(mat_f32(x, n, d), one)) << lsc_last_error(ctx);
    EXPECT_TRUE(matches(one, w));

    auto parts = [&]() {
        std::vector<lsc_spectrum_acc *> p;
        int64_t r0 = 0;
        for (int64_t b : sizes) {
            lsc_spectrum_acc *a = make(d);
            add(a, x, d, r0, b);
            r0 += b;
            p.push_back(a);
        }
        return p;
    };
    auto merge = [&](lsc_spectrum_acc *into, const lsc_spectrum_acc *from) {
        ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_merge(ctx, into, from)) << lsc_last_error(ctx);
    };
    auto check = [&](const char *what, lsc_spectrum_acc *a) {
        SCOPED_TRACE(what);
        EXPECT_EQ(n, lsc_spectrum_acc_rows(a));
        Got g;
        ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, g)) << lsc_last_error(ctx);
        EXPECT_TRUE(matches(g, w));
        EXPECT_TRUE(agree(g, one));
    };
    {
        auto p = parts(); // chain, left to right
        for (size_t i = 1; i < p.size(); i++) merge(p[0], p[i]);
        check("chain 0..4", p[0]);
        // `from` is unchanged by a merge
        EXPECT_EQ(sizes[1], lsc_spectrum_acc_rows(p[1]));
        Got g1;
        ASSERT_EQ(LSC_STATUS_OK, finalize(p[3], d, g1)) << lsc_last_error(ctx);
        EXPECT_TRUE(matches(g1, ref::spectrum(x.data() + 108 * d, sizes[3], d, d)));
    }
    {
        auto p = parts(); // chain, right to left
        for (size_t i = p.size() - 1; i-- > 0;) merge(p[4], p[i]);
        check("chain 4..0", p[4]);
    }
    {
        auto p = parts(); // a tree: (0 + 1) + ((2 + 3) + 4)
        merge(p[0], p[1]);
        merge(p[2], p[3]);
        merge(p[2], p[4]);
        merge(p[0], p[2]);
        check("tree (01)((23)4)", p[0]);
    }
    {
        auto p = parts(); // into an empty accumulator, scrambled order; an empty `from` is a no-op
        lsc_spectrum_acc *e = make(d), *empty = make(d);
        merge(e, empty);
        EXPECT_EQ(0, lsc_spectrum_acc_rows(e));
        for (int i : {3, 0, 4, 2, 1}) merge(e, p[(size_t)i]);
        merge(e, empty);
        check("empty + 3 0 4 2 1", e);
    }
    {
        auto p = parts(); // rows added after merging continue the same accumulation
        merge(p[3], p[4]);
        lsc_spectrum_acc *a = make(d);
        merge(a, p[3]);
        add(a, x, d, 0, 108);
        check("merge then add", a);
    }
}

TEST_F(SpectrumAcc, FinalizeIsRepeatableAndAccumulatorKeepsGrowing)
{
    const uint64_t s = test_seed(909);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 600, d = 24;
    auto x = data::gaussian(n, d, s, 50.0, 1.0);
    lsc_spectrum_acc *a = make(d);
    add(a, x, d, 0, 1);
    Got g;
    EXPECT_EQ(LSC_STATUS_INVALID_ARGUMENT, finalize(a, d, g)); // one row: not enough
    add(a, x, d, 1, 299);
    Got f1, f2;
    ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, f1)) << lsc_last_error(ctx);
    ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, f2)) << lsc_last_error(ctx);
    EXPECT_TRUE(identical(f1, f2)) << "finalize twice gave different results";
    EXPECT_TRUE(matches(f1, ref::spectrum(x, 300, d)));
    EXPECT_EQ(300, lsc_spectrum_acc_rows(a));
    add(a, x, d, 300, 300);
    Got f3;
    ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, f3)) << lsc_last_error(ctx);
    EXPECT_EQ(600, f3.r.rows);
    EXPECT_TRUE(matches(f3, ref::spectrum(x, n, d)));
    // a NULL output array is allowed, and does not change the figures
    lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
    ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_finalize(ctx, a, &r, nullptr, nullptr));
    EXPECT_EQ(0, std::memcmp(&r, &f3.r, sizeof r));
}

TEST_F(SpectrumAcc, FewerRowsThanColumns)
{
    // The accumulator always keeps D x D; with N < D total rows the figures are still those of
    // min(N, D) = N values (RankMe over exactly N).
    const uint64_t s = test_seed(2020);
    SCOPED_TRACE("seed " + std::to_string(s));
    // (N 10, D 256: RankMe summed over all D values instead of N would differ by ~4e-4)
    for (auto nd : {std::pair<int64_t, int64_t>{20, 100}, {10, 256}}) {
        const int64_t n = nd.first, d = nd.second;
        for (int variant = 0; variant < 3; variant++) {
            std::vector<float> x = variant == 0   ? data::gaussian(n, d, s)
                                   : variant == 1 ? data::gaussian(n, d, s, 50.0, 1.0)
                                                  : data::rank_k(n, d, 3, s);
            SCOPED_TRACE("N " + std::to_string(n) + " D " + std::to_string(d) + " variant " +
                         std::to_string(variant));
            lsc_spectrum_acc *a = make(d);
            add(a, x, d, 0, 1);
            add(a, x, d, 1, 7);
            add(a, x, d, 8, n - 8);
            Got ga, g1;
            ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, ga)) << lsc_last_error(ctx);
            ref::Spectrum w;
            check_f32(x, n, d, &g1, &w);
            EXPECT_TRUE(matches(ga, w));
            EXPECT_TRUE(agree(ga, g1));
            EXPECT_EQ(n, ga.r.rank_limit);
            EXPECT_EQ(variant == 2 ? 3 : n - 1, ga.r.numerical_rank);
        }
    }
}

TEST_F(SpectrumAcc, ZeroRowIndexFollowsAddAndMergeOrder)
{
    const uint64_t s = test_seed(77);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 60, d = 12;
    auto x = data::gaussian(n, d, s);
    for (int64_t k = 0; k < d; k++) x[(size_t)(43 * d + k)] = 0.0f;
    for (int64_t k = 0; k < d; k++) x[(size_t)(50 * d + k)] = 0.0f;
    ref::Spectrum w = ref::spectrum(x, n, d);
    ASSERT_EQ(43, w.vendi_zero_row);
    {
        lsc_spectrum_acc *a = make(d);
        add(a, x, d, 0, 40);
        add(a, x, d, 40, 5);
        add(a, x, d, 45, 15);
        Got g;
        ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, g)) << lsc_last_error(ctx);
        EXPECT_TRUE(matches(g, w));
    }
    {
        lsc_spectrum_acc *a = make(d), *b = make(d);
        add(a, x, d, 0, 30);
        add(b, x, d, 30, 30); // zero rows at 13 and 20 of b
        Got gb;
        ASSERT_EQ(LSC_STATUS_OK, finalize(b, d, gb)) << lsc_last_error(ctx);
        EXPECT_EQ(LSC_VENDI_ZERO_ROW, gb.r.vendi_status);
        EXPECT_EQ(13, gb.r.vendi_zero_row);
        ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_merge(ctx, a, b)) << lsc_last_error(ctx);
        Got g;
        ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, g)) << lsc_last_error(ctx);
        EXPECT_TRUE(matches(g, w)); // a's rows, then b's: row 30 + 13
    }
}

TEST_F(SpectrumAcc, DegenerateSets)
{
    const uint64_t s = test_seed(5151);
    SCOPED_TRACE("seed " + std::to_string(s));
    for (auto nd : {std::pair<int64_t, int64_t>{50, 16}, {5, 40}}) {
        const int64_t n = nd.first, d = nd.second;
        SCOPED_TRACE("N " + std::to_string(n) + " D " + std::to_string(d));
        for (int zeros = 0; zeros < 2; zeros++) {
            SCOPED_TRACE(zeros ? "all zeros" : "identical rows");
            auto x = data::identical_rows(n, d, s);
            for (auto &v : x) v = zeros ? 0.0f : v + 50.0f; // far from the origin
            ref::Spectrum w = ref::spectrum(x, n, d);
            // one accumulator in two batches, and two merged
            lsc_spectrum_acc *a = make(d), *b = make(d);
            add(a, x, d, 0, 2);
            add(b, x, d, 2, n - 2);
            ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_merge(ctx, a, b)) << lsc_last_error(ctx);
            Got g;
            ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, g)) << lsc_last_error(ctx);
            EXPECT_TRUE(matches(g, w));
            EXPECT_EQ(1, g.r.all_rows_identical);
            EXPECT_EQ(0, g.r.numerical_rank);
            EXPECT_EQ(0.0, g.r.effective_rank);
            EXPECT_EQ(0.0, g.r.participation_ratio);
            EXPECT_EQ(0.0, g.r.stable_rank);
            EXPECT_EQ(0, g.r.dims_90);
            EXPECT_EQ(0, g.r.dims_99);
            for (double v : g.sv) EXPECT_EQ(0.0, v);
            if (zeros) {
                EXPECT_EQ(0.0, g.r.rankme);
                EXPECT_EQ(LSC_VENDI_ZERO_ROW, g.r.vendi_status);
                EXPECT_EQ(0, g.r.vendi_zero_row);
            } else {
                EXPECT_EQ(LSC_VENDI_OK, g.r.vendi_status);
                EXPECT_TRUE(ref::close(g.r.vendi_cosine, 1.0));
            }
        }
    }
}

TEST_F(SpectrumAcc, FailedAddLeavesAccumulatorUnchanged)
{
    const uint64_t s = test_seed(6161);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 300, d = 12;
    auto x = data::gaussian(n, d, s, 50.0, 1.0);
    lsc_spectrum_acc *a = make(d);
    add(a, x, d, 0, 200);
    Got before;
    ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, before)) << lsc_last_error(ctx);
    auto bad = std::vector<float>(x.begin() + 200 * d, x.end());
    bad[(size_t)(57 * d + 3)] = std::nanf("");
    lsc_matrix bm = mat_f32(bad, 100, d);
    EXPECT_EQ(LSC_STATUS_INVALID_DATA, lsc_spectrum_acc_add(ctx, a, &bm));
    bad[(size_t)(57 * d + 3)] = INFINITY;
    EXPECT_EQ(LSC_STATUS_INVALID_DATA, lsc_spectrum_acc_add(ctx, a, &bm));
    lsc_matrix wrong = mat_f32(bad, 50, d - 1);
    EXPECT_EQ(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_add(ctx, a, &wrong));
    EXPECT_EQ(200, lsc_spectrum_acc_rows(a));
    Got after;
    ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, after)) << lsc_last_error(ctx);
    EXPECT_TRUE(identical(before, after));
    add(a, x, d, 200, 100); // and it goes on normally
    Got g;
    ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, g)) << lsc_last_error(ctx);
    EXPECT_TRUE(matches(g, ref::spectrum(x, n, d)));
}

TEST_F(SpectrumAcc, ActiveThresholdAndPaddedBatches)
{
    const uint64_t s = test_seed(515);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 400, d = 16, ld = 21;
    auto x = data::gaussian(n, d, s);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) x[(size_t)(i * d + c)] *= (float)(0.05 * (double)(c + 1));
    std::vector<float> p((size_t)(n * ld), std::nanf(""));
    for (int64_t i = 0; i < n; i++)
        std::copy(x.begin() + i * d, x.begin() + (i + 1) * d, p.begin() + i * ld);
    lsc_spectrum_opts o = LSC_SPECTRUM_OPTS_INIT;
    o.active_threshold = 0.1;
    lsc_spectrum_acc *a = make(d, &o);
    for (int64_t r0 = 0; r0 < n; r0 += 130) {
        int64_t nr = std::min<int64_t>(130, n - r0);
        lsc_matrix b = mat(p.data() + r0 * ld, LSC_DTYPE_F32, nr, d, ld);
        ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_add(ctx, a, &b)) << lsc_last_error(ctx);
    }
    Got g;
    ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, g)) << lsc_last_error(ctx);
    ref::Spectrum w = ref::spectrum(x, n, d, 0.1);
    EXPECT_TRUE(matches(g, w));
    EXPECT_EQ(0.1, g.r.active_threshold);
    EXPECT_GT(w.active_units, 0);
    EXPECT_LT(w.active_units, d);
}

TEST_F(SpectrumAcc, MixedDtypeBatches)
{
    const uint64_t s = test_seed(1661);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 300, d = 20;
    auto x = data::gaussian(n, d, s, 2.0, 1.0);
    // rows 0..99 float16, 100..199 bfloat16, 200..299 float64; reference on the float32 values
    std::vector<uint16_t> h((size_t)(100 * d)), b((size_t)(100 * d));
    std::vector<double> f((size_t)(100 * d));
    std::vector<float> xf(x.size());
    for (int64_t i = 0; i < 100 * d; i++) {
        h[(size_t)i] = ref::f32_to_f16(x[(size_t)i]);
        xf[(size_t)i] = ref::f16_to_f32(h[(size_t)i]);
        b[(size_t)i] = ref::f32_to_bf16(x[(size_t)(100 * d + i)]);
        xf[(size_t)(100 * d + i)] = ref::bf16_to_f32(b[(size_t)i]);
        f[(size_t)i] = (double)x[(size_t)(200 * d + i)] + 1e-10;
        xf[(size_t)(200 * d + i)] = (float)f[(size_t)i];
    }
    lsc_spectrum_acc *a = make(d);
    lsc_matrix m1 = mat(h.data(), LSC_DTYPE_F16, 100, d),
               m2 = mat(b.data(), LSC_DTYPE_BF16, 100, d),
               m3 = mat(f.data(), LSC_DTYPE_F64, 100, d);
    ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_add(ctx, a, &m1)) << lsc_last_error(ctx);
    ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_add(ctx, a, &m2)) << lsc_last_error(ctx);
    ASSERT_EQ(LSC_STATUS_OK, lsc_spectrum_acc_add(ctx, a, &m3)) << lsc_last_error(ctx);
    Got g;
    ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, g)) << lsc_last_error(ctx);
    EXPECT_TRUE(matches(g, ref::spectrum(xf, n, d)));
}

TEST_F(SpectrumAcc, InputIsNotModified)
{
    const uint64_t s = test_seed(8);
    const int64_t n = 200, d = 16;
    auto x = data::gaussian(n, d, s, 50.0, 1.0);
    std::vector<float> copy = x;
    lsc_spectrum_acc *a = make(d);
    add(a, x, d, 0, 150);
    add(a, x, d, 150, 50);
    Got g;
    ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, g)) << lsc_last_error(ctx);
    EXPECT_EQ(0, std::memcmp(copy.data(), x.data(), x.size() * sizeof(float)));
}

TEST_F(SpectrumAcc, RowOrderDoesNotMatter)
{
    const uint64_t s = test_seed(1234);
    SCOPED_TRACE("seed " + std::to_string(s));
    const int64_t n = 500, d = 32;
    auto x = data::gaussian(n, d, s, 50.0, 1.0);
    std::vector<int64_t> perm((size_t)n);
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937_64 gen(s);
    std::shuffle(perm.begin(), perm.end(), gen);
    auto y = permute_rows(x, d, perm);
    ref::Spectrum w = ref::spectrum(x, n, d);
    Got gx, gy;
    for (auto *src : {&x, &y}) {
        lsc_spectrum_acc *a = make(d);
        add(a, *src, d, 0, 1);
        add(a, *src, d, 1, 250);
        add(a, *src, d, 251, n - 251);
        Got &g = src == &x ? gx : gy;
        ASSERT_EQ(LSC_STATUS_OK, finalize(a, d, g)) << lsc_last_error(ctx);
        EXPECT_TRUE(matches(g, w));
    }
    EXPECT_TRUE(agree(gx, gy));
}

} // namespace
