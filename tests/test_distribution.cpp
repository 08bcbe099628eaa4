// Frechet distance, KID and RBF MMD (CPU backend) against closed forms and a naive float64
// reference written here (docs/METRICS.md section 10), with the pinned tolerances the library
// reports.
#include "datasets.hpp"
#include "test_util.hpp"

#include <lsc.h>
#include "mmd_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

namespace {

lsc_matrix f32(const std::vector<float> &x, int64_t rows, int64_t cols)
{
    lsc_matrix m = lsc_matrix_f32(x.data(), rows, cols);
    return m;
}

// Mean and covariance (ddof 1) of float32 rows, two-pass in long double.
void naive_stats(const std::vector<float> &x, int64_t n, int64_t d, std::vector<double> &mu,
                 std::vector<double> &s)
{
    mu.assign((size_t)d, 0.0);
    s.assign((size_t)(d * d), 0.0);
    std::vector<long double> m((size_t)d, 0.0L);
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++) m[k] += x[i * d + k];
    for (int64_t k = 0; k < d; k++) mu[k] = (double)(m[k] / n);
    for (int64_t a = 0; a < d; a++)
        for (int64_t b = a; b < d; b++) {
            long double acc = 0.0L;
            for (int64_t i = 0; i < n; i++)
                acc +=
                    ((long double)x[i * d + a] - m[a] / n) * ((long double)x[i * d + b] - m[b] / n);
            s[a * d + b] = s[b * d + a] = (double)(acc / (n - 1));
        }
}

// A random orthogonal d x d matrix (Gram-Schmidt of a Gaussian matrix), row-major.
std::vector<double> orthogonal(int64_t d, uint64_t seed)
{
    std::mt19937_64 g(seed);
    std::normal_distribution<double> nd;
    std::vector<double> q((size_t)(d * d));
    for (auto &v : q) v = nd(g);
    for (int64_t i = 0; i < d; i++) {
        for (int64_t j = 0; j < i; j++) {
            double p = 0;
            for (int64_t k = 0; k < d; k++) p += q[i * d + k] * q[j * d + k];
            for (int64_t k = 0; k < d; k++) q[i * d + k] -= p * q[j * d + k];
        }
        double n = 0;
        for (int64_t k = 0; k < d; k++) n += q[i * d + k] * q[i * d + k];
        for (int64_t k = 0; k < d; k++) q[i * d + k] /= std::sqrt(n);
    }
    return q;
}

// Q diag(w) Q^T
std::vector<double> with_eigs(const std::vector<double> &q, const std::vector<double> &w, int64_t d)
{
    std::vector<double> s((size_t)(d * d), 0.0);
    for (int64_t a = 0; a < d; a++)
        for (int64_t b = 0; b < d; b++) {
            double v = 0;
            for (int64_t k = 0; k < d; k++) v += q[k * d + a] * w[k] * q[k * d + b];
            s[a * d + b] = v;
        }
    return s;
}

lsc_fd_result fd_of_stats(lsc_ctx *ctx, int64_t d, const std::vector<double> &m1,
                          const std::vector<double> &s1, const std::vector<double> &m2,
                          const std::vector<double> &s2)
{
    lsc_fd_result r = LSC_FD_RESULT_INIT;
    EXPECT_EQ(lsc_frechet_distance_stats(ctx, d, m1.data(), s1.data(), m2.data(), s2.data(), &r),
              LSC_STATUS_OK)
        << lsc_last_error(ctx);
    return r;
}

// Commuting covariances (one eigenbasis) have the closed form
// FD = ||mu1 - mu2||^2 + sum (sqrt a_k - sqrt b_k)^2, rank-deficient ones included.
TEST(Frechet, ClosedFormCommutingCovariances)
{
    Ctx ctx;
    const int64_t d = 24;
    auto q = orthogonal(d, 7);
    std::vector<double> a((size_t)d), b((size_t)d), m1((size_t)d, 0.5), m2((size_t)d, 0.5);
    double want = 0;
    for (int64_t k = 0; k < d; k++) {
        a[k] = k < 6 ? 0.0 : 0.1 + 0.3 * (double)k; // rank deficient: six zero directions
        b[k] = k % 5 == 0 ? 0.0 : 2.0 / (1.0 + (double)k);
        m2[k] += 0.25 * (double)(k % 3);
        want += (m1[k] - m2[k]) * (m1[k] - m2[k]) +
                (std::sqrt(a[k]) - std::sqrt(b[k])) * (std::sqrt(a[k]) - std::sqrt(b[k]));
    }
    auto s1 = with_eigs(q, a, d), s2 = with_eigs(q, b, d);
    lsc_fd_result r = fd_of_stats(ctx, d, m1, s1, m2, s2);
    EXPECT_NEAR(r.fd, want, r.tolerance);
    EXPECT_GT(r.tolerance, 0.0);
    EXPECT_LT(r.tolerance, 1e-4 * want);
    EXPECT_NEAR(r.trace1 + r.trace2 - 2 * r.trace_sqrt + r.mean_term, r.fd, 1e-12 * want);
    // symmetric in its two sets
    lsc_fd_result t = fd_of_stats(ctx, d, m2, s2, m1, s1);
    EXPECT_NEAR(t.fd, r.fd, r.tolerance);
}

// Two Gaussian samples differing by a shift: FD from the rows equals the FD of their sample
// statistics (computed here), and tends to ||shift||^2 (the covariances match).
TEST(Frechet, ShiftedGaussiansFromRows)
{
    Ctx ctx;
    const int64_t n = 3000, d = 8;
    auto x = data::gaussian(n, d, 11);
    auto y = data::gaussian(n, d, 12, 0.0);
    for (int64_t i = 0; i < n; i++) y[i * d + 2] += 3.0f;
    lsc_fd_result r = LSC_FD_RESULT_INIT;
    lsc_matrix a = f32(x, n, d), b = f32(y, n, d);
    ASSERT_EQ(lsc_frechet_distance(ctx, &a, &b, &r), LSC_STATUS_OK) << lsc_last_error(ctx);
    std::vector<double> m1, s1, m2, s2;
    naive_stats(x, n, d, m1, s1);
    naive_stats(y, n, d, m2, s2);
    lsc_fd_result ref = fd_of_stats(ctx, d, m1, s1, m2, s2);
    EXPECT_NEAR(r.fd, ref.fd, r.tolerance);
    EXPECT_NEAR(r.mean_term, ref.mean_term, 1e-9);
    EXPECT_NEAR(r.fd, 9.0, 0.3); // sampling noise of 3000 rows
}

// The same rows on both sides: 0 within the tolerance, full rank and rank deficient (N < D).
TEST(Frechet, IdenticalSetsAreZero)
{
    Ctx ctx;
    for (auto [n, d] : {std::pair<int64_t, int64_t>{200, 16}, {5, 64}, {2, 3}}) {
        auto x = data::gaussian(n, d, 21 + (uint64_t)d, 4.0, 2.0);
        lsc_matrix a = f32(x, n, d);
        lsc_fd_result r = LSC_FD_RESULT_INIT;
        ASSERT_EQ(lsc_frechet_distance(ctx, &a, &a, &r), LSC_STATUS_OK) << lsc_last_error(ctx);
        EXPECT_LE(std::fabs(r.fd), r.tolerance) << n << " x " << d << ": " << r.fd;
        EXPECT_EQ(r.mean_term, 0.0);
    }
}

// Statistics: one call, streamed batches and merged shards agree with the naive reference.
TEST(Frechet, StatsStreamingAndMerging)
{
    Ctx ctx;
    const int64_t n = 300, d = 12;
    auto x = data::gaussian(n, d, 31, 100.0, 0.5); // a large offset: the pivot keeps the digits
    std::vector<double> m0, s0;
    naive_stats(x, n, d, m0, s0);
    std::vector<double> mu((size_t)d), s((size_t)(d * d));
    lsc_matrix all = f32(x, n, d);
    ASSERT_EQ(lsc_fd_stats(ctx, &all, mu.data(), s.data()), LSC_STATUS_OK);
    for (int64_t k = 0; k < d * d; k++) EXPECT_NEAR(s[k], s0[k], 1e-10);
    for (int64_t k = 0; k < d; k++) EXPECT_NEAR(mu[k], m0[k], 1e-12);

    lsc_fd_acc *a = nullptr, *b = nullptr;
    ASSERT_EQ(lsc_fd_acc_create(ctx, d, &a), LSC_STATUS_OK);
    ASSERT_EQ(lsc_fd_acc_create(ctx, d, &b), LSC_STATUS_OK);
    for (int64_t r0 = 0; r0 < n; r0 += 70) {
        const int64_t nr = std::min<int64_t>(70, n - r0);
        lsc_matrix batch = lsc_matrix_f32(x.data() + r0 * d, nr, d);
        ASSERT_EQ(lsc_fd_acc_add(ctx, r0 < 150 ? a : b, &batch), LSC_STATUS_OK);
    }
    ASSERT_EQ(lsc_fd_acc_merge(ctx, b, a), LSC_STATUS_OK);
    EXPECT_EQ(lsc_fd_acc_rows(b), n);
    ASSERT_EQ(lsc_fd_acc_stats(ctx, b, mu.data(), s.data()), LSC_STATUS_OK);
    for (int64_t k = 0; k < d * d; k++) EXPECT_NEAR(s[k], s0[k], 1e-9);
    for (int64_t k = 0; k < d; k++) EXPECT_NEAR(mu[k], m0[k], 1e-10);
    EXPECT_EQ(lsc_fd_acc_rows(nullptr), -1);
    lsc_fd_acc_destroy(a);
    lsc_fd_acc_destroy(b);
    lsc_fd_acc_destroy(nullptr);
}

TEST(Frechet, BadInputs)
{
    Ctx ctx;
    const int64_t d = 4;
    std::vector<double> mu((size_t)d, 0.0), s((size_t)(d * d), 0.0);
    for (int64_t k = 0; k < d; k++) s[k * d + k] = 1.0;
    lsc_fd_result r = LSC_FD_RESULT_INIT;
    sentinel(r);
    EXPECT_EQ(lsc_frechet_distance_stats(ctx, d, nullptr, s.data(), mu.data(), s.data(), &r),
              LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "mu1"));
    EXPECT_EQ(lsc_frechet_distance_stats(ctx, 0, mu.data(), s.data(), mu.data(), s.data(), &r),
              LSC_STATUS_INVALID_ARGUMENT);
    auto s2 = s;
    s2[2 * d + 1] = std::numeric_limits<double>::quiet_NaN();
    EXPECT_EQ(lsc_frechet_distance_stats(ctx, d, mu.data(), s.data(), mu.data(), s2.data(), &r),
              LSC_STATUS_INVALID_DATA);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "sigma2: row 2 col 1 is NaN")) << lsc_last_error(ctx);
    EXPECT_TRUE(is_sentinel(r));
    lsc_fd_result bad = LSC_FD_RESULT_INIT;
    bad.size = 3;
    EXPECT_EQ(lsc_frechet_distance_stats(ctx, d, mu.data(), s.data(), mu.data(), s.data(), &bad),
              LSC_STATUS_INVALID_ARGUMENT);

    std::vector<float> x(3 * d, 1.0f), y(3 * 5, 1.0f);
    lsc_matrix a = f32(x, 3, d), b = f32(y, 3, 5), one = f32(x, 1, d);
    EXPECT_EQ(lsc_frechet_distance(ctx, &a, &b, &r), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "cols"));
    EXPECT_EQ(lsc_frechet_distance(ctx, &a, &one, &r), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_frechet_distance(ctx, nullptr, &a, &r), LSC_STATUS_INVALID_ARGUMENT);
    x[1 * d + 3] = std::numeric_limits<float>::infinity();
    EXPECT_EQ(lsc_frechet_distance(ctx, &one, &a, &r), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_frechet_distance(ctx, &a, &a, &r), LSC_STATUS_INVALID_DATA);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "row 1")) << lsc_last_error(ctx);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "col 3")) << lsc_last_error(ctx);
    EXPECT_TRUE(is_sentinel(r));

    lsc_fd_acc *acc = nullptr;
    ASSERT_EQ(lsc_fd_acc_create(ctx, d, &acc), LSC_STATUS_OK);
    EXPECT_EQ(lsc_fd_acc_stats(ctx, acc, mu.data(), s.data()), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "at least 2"));
    EXPECT_EQ(lsc_fd_acc_add(ctx, acc, &b), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_fd_acc_merge(ctx, acc, acc), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_fd_acc_create(ctx, 0, &acc), LSC_STATUS_INVALID_ARGUMENT);
    lsc_fd_acc_destroy(acc);
}

// Naive float64 kernel sums over the given rows (the definition, every pair).
void naive_sums(const std::vector<float> &x, const std::vector<int64_t> &xs,
                const std::vector<float> &y, const std::vector<int64_t> &ys, int64_t d, int kind,
                double a, double *s)
{
    auto k = [&](const float *p, const float *q) {
        double dot = 0, pp = 0, qq = 0;
        for (int64_t c = 0; c < d; c++) {
            dot += (double)p[c] * q[c];
            pp += (double)p[c] * p[c];
            qq += (double)q[c] * q[c];
        }
        if (kind == LSC_KERNEL_POLY3) return std::pow(a * dot + 1.0, 3);
        double d2 = 0;
        for (int64_t c = 0; c < d; c++) d2 += ((double)p[c] - q[c]) * ((double)p[c] - q[c]);
        return std::exp(-a * d2);
    };
    s[0] = s[1] = s[2] = 0;
    for (size_t i = 0; i < xs.size(); i++)
        for (size_t j = 0; j < xs.size(); j++)
            if (i != j) s[0] += k(&x[xs[i] * d], &x[xs[j] * d]);
    for (size_t i = 0; i < ys.size(); i++)
        for (size_t j = 0; j < ys.size(); j++)
            if (i != j) s[1] += k(&y[ys[i] * d], &y[ys[j] * d]);
    for (size_t i = 0; i < xs.size(); i++)
        for (size_t j = 0; j < ys.size(); j++) s[2] += k(&x[xs[i] * d], &y[ys[j] * d]);
}

std::vector<int64_t> subset(uint64_t seed, int64_t s, int side, int64_t n, int64_t m)
{
    std::vector<int64_t> r((size_t)m);
    for (int64_t t = 0; t < m; t++) r[t] = lsc_permute(lsc_kid_subset_seed(seed, s, side), n, t);
    return r;
}

TEST(Kid, MatchesNaiveSubsets)
{
    Ctx ctx(0, 2);
    const int64_t n = 300, m_rows = 260, d = 10, subsets = 4, sub = 70;
    auto x = data::gaussian(n, d, 41, 0.2, 1.0);
    auto y = data::gaussian(m_rows, d, 42, 0.0, 1.3);
    lsc_kid_opts o = LSC_KID_OPTS_INIT;
    o.subsets = subsets;
    o.subset_rows = sub;
    o.seed = 9;
    lsc_kid_result r = LSC_KID_RESULT_INIT;
    std::vector<double> scores((size_t)subsets);
    lsc_matrix a = f32(x, n, d), b = f32(y, m_rows, d);
    ASSERT_EQ(lsc_kid(ctx, &a, &b, &o, &r, scores.data()), LSC_STATUS_OK) << lsc_last_error(ctx);
    EXPECT_EQ(r.subsets, subsets);
    EXPECT_EQ(r.subset_rows, sub);
    double mean = 0, ss = 0;
    for (int64_t s = 0; s < subsets; s++) {
        double sums[4];
        naive_sums(x, subset(9, s, 0, n, sub), y, subset(9, s, 1, m_rows, sub), d, LSC_KERNEL_POLY3,
                   1.0 / d, sums);
        const double want = lsc_mmd2_unbiased(sums, sub, sub);
        EXPECT_NEAR(scores[s], want, r.tolerance) << "subset " << s;
        mean += want;
    }
    mean /= subsets;
    for (int64_t s = 0; s < subsets; s++) ss += (scores[s] - mean) * (scores[s] - mean);
    EXPECT_NEAR(r.mean, mean, r.tolerance);
    EXPECT_NEAR(r.std, std::sqrt(ss / (subsets - 1)), 1e-12 + r.tolerance);
    EXPECT_GT(r.mean, 10 * r.tolerance); // different spreads: clearly positive
    // the same call gives the same figures; another thread count too (fixed summation order)
    Ctx one(0, 1);
    lsc_kid_result r1 = LSC_KID_RESULT_INIT;
    ASSERT_EQ(lsc_kid(one, &a, &b, &o, &r1, nullptr), LSC_STATUS_OK);
    EXPECT_EQ(r1.mean, r.mean);
    EXPECT_EQ(r1.std, r.std);
}

// Subsets as large as the sets: every subset is the whole set, and a set against itself gives
// an unbiased estimate around 0 (exactly sum-symmetric: 0 within the tolerance).
TEST(Kid, SameSetIsZeroAndSmallSetsClampSubsetSize)
{
    Ctx ctx;
    const int64_t n = 40, d = 6;
    auto x = data::gaussian(n, d, 51);
    lsc_matrix a = f32(x, n, d);
    lsc_kid_opts o = LSC_KID_OPTS_INIT;
    o.subsets = 3;
    lsc_kid_result r = LSC_KID_RESULT_INIT;
    ASSERT_EQ(lsc_kid(ctx, &a, &a, &o, &r, nullptr), LSC_STATUS_OK);
    EXPECT_EQ(r.subset_rows, n);
    // all n rows each time: Sxx = Syy, and Sxy = Sxx + the diagonal, so MMD^2 = -2 mean diag / n
    EXPECT_NEAR(r.std, 0.0, r.tolerance);
    EXPECT_LT(r.mean, 0.0);
}

TEST(Kid, BadInputs)
{
    Ctx ctx;
    std::vector<float> x(20, 1.0f);
    lsc_matrix a = f32(x, 5, 4), b = f32(x, 4, 5), one = f32(x, 1, 4);
    lsc_kid_result r = LSC_KID_RESULT_INIT;
    EXPECT_EQ(lsc_kid(ctx, &a, &b, nullptr, &r, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_kid(ctx, &a, &one, nullptr, &r, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    lsc_kid_opts o = LSC_KID_OPTS_INIT;
    o.subsets = 0;
    EXPECT_EQ(lsc_kid(ctx, &a, &a, &o, &r, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "subsets"));
    o = LSC_KID_OPTS_INIT;
    o.subset_rows = 1;
    EXPECT_EQ(lsc_kid(ctx, &a, &a, &o, &r, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    x[7] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(lsc_kid(ctx, &a, &a, nullptr, &r, nullptr), LSC_STATUS_INVALID_DATA);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "row 1")) << lsc_last_error(ctx);
}

TEST(Mmd, MatchesNaiveBiasedEstimator)
{
    Ctx ctx(0, 2);
    const int64_t n = 300, m_rows = 280, d = 16; // more rows than one tile
    auto x = data::gaussian(n, d, 61, 0.0, 1.0);
    auto y = data::gaussian(m_rows, d, 62, 0.3, 1.0);
    lsc_mmd_opts o = LSC_MMD_OPTS_INIT;
    o.sigma = 3.0;
    lsc_mmd_result r = LSC_MMD_RESULT_INIT;
    lsc_matrix a = f32(x, n, d), b = f32(y, m_rows, d);
    ASSERT_EQ(lsc_mmd(ctx, &a, &b, &o, &r), LSC_STATUS_OK) << lsc_last_error(ctx);
    std::vector<int64_t> xs((size_t)n), ys((size_t)m_rows);
    for (int64_t i = 0; i < n; i++) xs[i] = i;
    for (int64_t i = 0; i < m_rows; i++) ys[i] = i;
    double sums[4];
    naive_sums(x, xs, y, ys, d, LSC_KERNEL_RBF, 1.0 / (2 * 9.0), sums);
    const double want = 1000.0 * lsc_mmd2_biased(sums, n, m_rows, 1.0);
    EXPECT_NEAR(r.mmd, want, r.tolerance);
    EXPECT_GT(r.mmd, 10 * r.tolerance);
    EXPECT_EQ(r.rows_a, n);
    EXPECT_EQ(r.rows_b, m_rows);
    // identical sets: exactly 0 in exact arithmetic
    ASSERT_EQ(lsc_mmd(ctx, &a, &a, &o, &r), LSC_STATUS_OK);
    EXPECT_LE(std::fabs(r.mmd), r.tolerance);
    o.sigma = -1;
    EXPECT_EQ(lsc_mmd(ctx, &a, &b, &o, &r), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "sigma"));
}

} // namespace
