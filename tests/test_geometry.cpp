// Geometry of one set (docs/METRICS.md section 9): TwoNN intrinsic dimension and hubness on the
// CPU backend against a float64 reference written here from the papers (Facco et al. 2017 with
// scikit-dimension's fit; Radovanovic et al. 2010 and Feldbauer et al. 2018 for hubness).
#include "test_util.hpp"
#include "geometry_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

namespace {

uint64_t test_seed(uint64_t fallback)
{
    const char *e = std::getenv("LSC_TEST_SEED");
    uint64_t s = e ? std::strtoull(e, nullptr, 10) : fallback;
    std::printf("[   SEED   ] %llu (set LSC_TEST_SEED to replay)\n", (unsigned long long)s);
    return s;
}

// n rows of a `dim`-dimensional Gaussian placed in d columns by a fixed random linear map.
std::vector<float> manifold(uint64_t seed, int64_t n, int64_t d, int64_t dim)
{
    std::mt19937_64 g(seed);
    std::normal_distribution<double> z;
    std::vector<double> a((size_t)(dim * d));
    for (auto &v : a) v = z(g);
    std::vector<float> x((size_t)(n * d));
    for (int64_t i = 0; i < n; i++) {
        std::vector<double> t((size_t)dim);
        for (auto &v : t) v = z(g);
        for (int64_t c = 0; c < d; c++) {
            double s = 0.0;
            for (int64_t k = 0; k < dim; k++) s += t[(size_t)k] * a[(size_t)(k * d + c)];
            x[(size_t)(i * d + c)] = (float)s;
        }
    }
    return x;
}

double dist64(const float *a, const float *b, int64_t d, bool cosine)
{
    double s = 0.0, na = 0.0, nb = 0.0, dot = 0.0;
    for (int64_t c = 0; c < d; c++) {
        const double e = (double)a[c] - (double)b[c];
        s += e * e;
        na += (double)a[c] * a[c];
        nb += (double)b[c] * b[c];
        dot += (double)a[c] * b[c];
    }
    return cosine ? 1.0 - dot / std::sqrt(na * nb) : std::sqrt(s);
}

// The k nearest base rows of query q (self excluded when `self` >= 0), ties by index.
std::vector<int64_t> nearest(const float *q, const float *base, int64_t nb, int64_t d, int64_t k,
                             int64_t self, bool cosine, std::vector<double> *dists = nullptr)
{
    std::vector<std::pair<double, int64_t>> all;
    for (int64_t j = 0; j < nb; j++)
        if (j != self) all.push_back({dist64(q, base + j * d, d, cosine), j});
    std::partial_sort(all.begin(), all.begin() + k, all.end());
    std::vector<int64_t> r;
    for (int64_t t = 0; t < k; t++) {
        r.push_back(all[(size_t)t].second);
        if (dists) dists->push_back(all[(size_t)t].first);
    }
    return r;
}

// TwoNN of distinct rows: mu = r2 / r1, the smallest floor(n (1 - f)) kept, the line through
// the origin of -ln(1 - i / n) on ln mu_(i), i = 1.. (the i-th smallest at CDF i / n).
double ref_twonn(const std::vector<float> &x, int64_t n, int64_t d, double f = 0.1)
{
    std::vector<double> mu;
    for (int64_t i = 0; i < n; i++) {
        std::vector<double> r;
        nearest(&x[(size_t)(i * d)], x.data(), n, d, 2, i, false, &r);
        mu.push_back(r[1] / r[0]);
    }
    std::sort(mu.begin(), mu.end());
    const int64_t keep = (int64_t)((double)n * (1.0 - f));
    double sxy = 0.0, sxx = 0.0;
    for (int64_t i = 0; i < keep; i++) {
        const double xx = std::log(mu[(size_t)i]), y = -std::log(1.0 - (double)(i + 1) / (double)n);
        sxy += xx * y;
        sxx += xx * xx;
    }
    return sxy / sxx;
}

struct RefHub {
    double skew, robin_hood;
    int64_t top, anti;
};

// k-occurrence of each base row over the queries' k-nearest lists; skewness with ddof-0
// moments (scipy.stats.skew), Robin Hood = sum |N_k - mean| / (2 sum N_k).
RefHub ref_hubness(const std::vector<float> &base, int64_t nb, const std::vector<float> *q,
                   int64_t nq, int64_t d, int64_t k, bool cosine)
{
    std::vector<double> occ((size_t)nb, 0.0);
    const int64_t n_q = q ? nq : nb;
    for (int64_t i = 0; i < n_q; i++) {
        const float *row = q ? &(*q)[(size_t)(i * d)] : &base[(size_t)(i * d)];
        for (int64_t j : nearest(row, base.data(), nb, d, k, q ? -1 : i, cosine)) occ[(size_t)j]++;
    }
    double mean = 0.0;
    for (double v : occ) mean += v / (double)nb;
    double m2 = 0.0, m3 = 0.0, dev = 0.0, sum = 0.0;
    RefHub r{0, 0, 0, 0};
    for (double v : occ) {
        m2 += (v - mean) * (v - mean) / (double)nb;
        m3 += (v - mean) * (v - mean) * (v - mean) / (double)nb;
        dev += std::fabs(v - mean);
        sum += v;
        r.top = std::max(r.top, (int64_t)v);
        if (v == 0) r.anti++;
    }
    r.skew = m2 > 0 ? m3 / std::pow(m2, 1.5) : 0.0;
    r.robin_hood = dev / (2.0 * sum);
    return r;
}

bool close(double a, double b, double rel)
{
    return std::fabs(a - b) <= rel * std::fabs(b) + 1e-12;
}

struct Geometry : ::testing::Test {
    Ctx c{0, 2};
    lsc_ctx *ctx = c.ctx;
};

TEST_F(Geometry, TwoNNMatchesReference)
{
    const uint64_t seed = test_seed(26);
    const int64_t n = 400, d = 12;
    std::vector<float> x = manifold(seed, n, d, 3);
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    lsc_twonn_result r = LSC_TWONN_RESULT_INIT;
    ASSERT_EQ(LSC_STATUS_OK, lsc_twonn(ctx, &m, nullptr, &r)) << lsc_last_error(ctx);
    const double want = ref_twonn(x, n, d);
    // mu from float32 distances (1e-6 relative each): the fit within 1e-5 relative
    EXPECT_TRUE(close(r.dimension, want, 1e-5)) << r.dimension << " vs " << want;
    EXPECT_GT(r.dimension, 2.5); // a 3-dimensional Gaussian
    EXPECT_LT(r.dimension, 3.5);
    EXPECT_EQ(n, r.rows);
    EXPECT_EQ(n, r.distinct_rows);
    EXPECT_EQ(0, r.duplicate_rows);
    EXPECT_EQ(n, r.rows_used);
    EXPECT_EQ((int64_t)(n * 0.9), r.points_fitted);
    EXPECT_EQ(0, r.subset);

    // another discarded share: another fit, same reference formula; the last ratio (F = 1)
    // is never fitted
    lsc_twonn_opts o = LSC_TWONN_OPTS_INIT;
    o.discard_fraction = 0.25;
    ASSERT_EQ(LSC_STATUS_OK, lsc_twonn(ctx, &m, &o, &r)) << lsc_last_error(ctx);
    EXPECT_TRUE(close(r.dimension, ref_twonn(x, n, d, 0.25), 1e-5));
    EXPECT_EQ(300, r.points_fitted);
    o.discard_fraction = 1e-12;
    ASSERT_EQ(LSC_STATUS_OK, lsc_twonn(ctx, &m, &o, &r)) << lsc_last_error(ctx);
    EXPECT_EQ(n - 1, r.points_fitted);
    EXPECT_TRUE(std::isfinite(r.dimension));
}

TEST_F(Geometry, TwoNNCollapsesExactDuplicates)
{
    const uint64_t seed = test_seed(7);
    const int64_t n = 300, d = 8, extra = 60;
    std::vector<float> x = manifold(seed, n, d, 4);
    lsc_twonn_result dup = LSC_TWONN_RESULT_INIT;
    // copies of earlier rows after them: the distinct rows are the same set in the same order,
    // so the estimate is the same bit for bit; a copy's -0 equals the original's +0
    std::vector<float> z(x);
    for (int64_t e = 0; e < extra; e++)
        for (int64_t c = 0; c < d; c++) {
            const float v = x[(size_t)((e * 5 % n) * d + c)];
            z.push_back(v == 0.0f ? -0.0f : v);
        }
    z[0] = 0.0f; // row 0 holds +0 in column 0 and its copy (row n) -0
    z[(size_t)(n * d)] = -0.0f;
    lsc_matrix mz = lsc_matrix_f32(z.data(), n + extra, d);
    ASSERT_EQ(LSC_STATUS_OK, lsc_twonn(ctx, &mz, nullptr, &dup)) << lsc_last_error(ctx);
    EXPECT_EQ(n + extra, dup.rows);
    EXPECT_EQ(n, dup.distinct_rows);
    EXPECT_EQ(extra, dup.duplicate_rows);
    EXPECT_EQ(n, dup.rows_used);
    // without collapsing, r1 = 0 would make mu infinite: the reference on the distinct rows
    std::vector<float> distinct(z.begin(), z.begin() + n * d);
    EXPECT_TRUE(close(dup.dimension, ref_twonn(distinct, n, d), 1e-5));
}

TEST_F(Geometry, TwoNNSeededSubset)
{
    const uint64_t seed = test_seed(11);
    const int64_t n = 500, d = 6, sub = 150;
    std::vector<float> x = manifold(seed, n, d, 2);
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    lsc_twonn_opts o = LSC_TWONN_OPTS_INIT;
    o.max_rows = sub;
    o.seed = 42;
    lsc_twonn_result r = LSC_TWONN_RESULT_INIT;
    ASSERT_EQ(LSC_STATUS_OK, lsc_twonn(ctx, &m, &o, &r)) << lsc_last_error(ctx);
    EXPECT_EQ(1, r.subset);
    EXPECT_EQ(sub, r.rows_used);
    // the subset is lsc_sample_rows's over the distinct rows (here every row)
    std::vector<int64_t> rows((size_t)sub);
    ASSERT_EQ(LSC_STATUS_OK, lsc_sample_rows(ctx, 42, n, 0, sub, rows.data()));
    std::vector<float> s;
    for (int64_t i : rows) s.insert(s.end(), x.begin() + i * d, x.begin() + (i + 1) * d);
    EXPECT_TRUE(close(r.dimension, ref_twonn(s, sub, d), 1e-5));
}

TEST_F(Geometry, TwoNNRefusals)
{
    std::vector<float> x = {0, 0, 1, 1, 0, 0, 1, 1, 0, 0};
    lsc_matrix m = lsc_matrix_f32(x.data(), 5, 2);
    lsc_twonn_result r;
    sentinel(r);
    EXPECT_EQ(LSC_STATUS_INVALID_DATA, lsc_twonn(ctx, &m, nullptr, &r));
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "2 distinct rows")) << lsc_last_error(ctx);
    EXPECT_TRUE(is_sentinel(r));
    x[9] = NAN;
    EXPECT_EQ(LSC_STATUS_INVALID_DATA, lsc_twonn(ctx, &m, nullptr, &r));
    x[9] = 5;
    lsc_twonn_opts o = LSC_TWONN_OPTS_INIT;
    for (double f : {0.0, 1.0, -0.5}) {
        o.discard_fraction = f;
        EXPECT_EQ(LSC_STATUS_INVALID_ARGUMENT, lsc_twonn(ctx, &m, &o, &r));
        EXPECT_TRUE(mentions(lsc_last_error(ctx), "discard_fraction"));
    }
    o = LSC_TWONN_OPTS_INIT;
    o.max_rows = 2;
    EXPECT_EQ(LSC_STATUS_INVALID_ARGUMENT, lsc_twonn(ctx, &m, &o, &r));
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "max_rows"));
    EXPECT_EQ(LSC_STATUS_INVALID_ARGUMENT, lsc_twonn(ctx, &m, nullptr, nullptr));
    lsc_matrix dev = m;
    dev.memory = LSC_MEMORY_DEVICE;
    EXPECT_EQ(LSC_STATUS_NOT_SUPPORTED, lsc_twonn(ctx, &dev, nullptr, &r));
    EXPECT_TRUE(is_sentinel(r));
    // three distinct rows are enough
    ASSERT_EQ(LSC_STATUS_OK, lsc_twonn(ctx, &m, nullptr, &r)) << lsc_last_error(ctx);
    EXPECT_EQ(3, r.distinct_rows);
}

TEST_F(Geometry, HubnessWithinOneSetMatchesReference)
{
    const uint64_t seed = test_seed(5);
    const int64_t n = 300, d = 16, k = 10;
    std::vector<float> x = manifold(seed, n, d, 16);
    const std::vector<float> keep(x);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
        lsc_hubness_opts o = LSC_HUBNESS_OPTS_INIT;
        o.metric = metric;
        lsc_hubness_result r = LSC_HUBNESS_RESULT_INIT;
        ASSERT_EQ(LSC_STATUS_OK, lsc_hubness(ctx, &m, nullptr, &o, &r)) << lsc_last_error(ctx);
        RefHub w = ref_hubness(x, n, nullptr, 0, d, k, metric == LSC_METRIC_COSINE);
        // counts are integers from exact neighbours: the figures agree to roundoff
        EXPECT_TRUE(close(r.skewness, w.skew, 1e-9)) << r.skewness << " vs " << w.skew;
        EXPECT_TRUE(close(r.robin_hood, w.robin_hood, 1e-9))
            << r.robin_hood << " vs " << w.robin_hood;
        EXPECT_EQ(w.top, r.max_occurrence);
        EXPECT_EQ(w.anti, r.antihubs);
        EXPECT_EQ(k, r.k);
        EXPECT_EQ(n, r.base_rows);
        EXPECT_EQ(n, r.query_rows);
        EXPECT_EQ(0, r.subset);
        EXPECT_GT(r.skewness, 0.0); // 16 dimensions: hubs form (Radovanovic et al. 2010)
    }
    EXPECT_EQ(keep, x); // nothing the caller passed is modified
}

TEST_F(Geometry, HubnessOfQueriesAgainstAReference)
{
    const uint64_t seed = test_seed(9);
    const int64_t nb = 250, nq = 120, d = 10, k = 5;
    std::vector<float> b = manifold(seed, nb, d, 10), q = manifold(seed + 1, nq, d, 10);
    // collapsed queries: all near a few reference rows, which become hubs
    std::vector<float> qc((size_t)(nq * d));
    for (int64_t i = 0; i < nq; i++)
        for (int64_t c = 0; c < d; c++)
            qc[(size_t)(i * d + c)] = b[(size_t)((i % 3) * d + c)] + 0.01f * q[(size_t)(i * d + c)];
    lsc_matrix mb = lsc_matrix_f32(b.data(), nb, d);
    lsc_hubness_opts o = LSC_HUBNESS_OPTS_INIT;
    o.k = k;
    lsc_hubness_result healthy = LSC_HUBNESS_RESULT_INIT, collapsed = LSC_HUBNESS_RESULT_INIT;
    lsc_matrix mq = lsc_matrix_f32(q.data(), nq, d), mc = lsc_matrix_f32(qc.data(), nq, d);
    ASSERT_EQ(LSC_STATUS_OK, lsc_hubness(ctx, &mb, &mq, &o, &healthy)) << lsc_last_error(ctx);
    ASSERT_EQ(LSC_STATUS_OK, lsc_hubness(ctx, &mb, &mc, &o, &collapsed)) << lsc_last_error(ctx);
    RefHub w = ref_hubness(b, nb, &q, nq, d, k, false);
    EXPECT_TRUE(close(healthy.skewness, w.skew, 1e-9));
    EXPECT_TRUE(close(healthy.robin_hood, w.robin_hood, 1e-9));
    EXPECT_EQ(w.top, healthy.max_occurrence);
    EXPECT_EQ(nq, healthy.query_rows);
    EXPECT_EQ(nb, healthy.base_rows);
    RefHub wc = ref_hubness(b, nb, &qc, nq, d, k, false);
    EXPECT_TRUE(close(collapsed.robin_hood, wc.robin_hood, 1e-9));
    EXPECT_GT(collapsed.robin_hood, healthy.robin_hood);
    EXPECT_GT(collapsed.antihubs, healthy.antihubs);
}

TEST_F(Geometry, HubnessSubsetAndRefusals)
{
    const uint64_t seed = test_seed(3);
    const int64_t n = 200, d = 4;
    std::vector<float> x = manifold(seed, n, d, 4);
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    lsc_hubness_opts o = LSC_HUBNESS_OPTS_INIT;
    o.max_rows = 80;
    o.seed = 5;
    lsc_hubness_result r = LSC_HUBNESS_RESULT_INIT;
    ASSERT_EQ(LSC_STATUS_OK, lsc_hubness(ctx, &m, nullptr, &o, &r)) << lsc_last_error(ctx);
    EXPECT_EQ(1, r.subset);
    EXPECT_EQ(80, r.base_rows);
    std::vector<int64_t> rows(80);
    ASSERT_EQ(LSC_STATUS_OK, lsc_sample_rows(ctx, 5, n, 0, 80, rows.data()));
    std::vector<float> s;
    for (int64_t i : rows) s.insert(s.end(), x.begin() + i * d, x.begin() + (i + 1) * d);
    EXPECT_TRUE(close(r.robin_hood, ref_hubness(s, 80, nullptr, 0, d, 10, false).robin_hood, 1e-9));

    sentinel(r);
    o = LSC_HUBNESS_OPTS_INIT;
    o.k = 0;
    EXPECT_EQ(LSC_STATUS_INVALID_ARGUMENT, lsc_hubness(ctx, &m, nullptr, &o, &r));
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "k is 0"));
    o.k = INT64_MAX;
    EXPECT_EQ(LSC_STATUS_INVALID_ARGUMENT, lsc_hubness(ctx, &m, nullptr, &o, &r));
    o = LSC_HUBNESS_OPTS_INIT;
    o.max_rows = 10;
    EXPECT_EQ(LSC_STATUS_INVALID_ARGUMENT, lsc_hubness(ctx, &m, nullptr, &o, &r));
    o = LSC_HUBNESS_OPTS_INIT;
    o.metric = LSC_METRIC_SQEUCLIDEAN;
    EXPECT_EQ(LSC_STATUS_INVALID_ARGUMENT, lsc_hubness(ctx, &m, nullptr, &o, &r));
    lsc_matrix small = lsc_matrix_f32(x.data(), 10, d); // k = 10 needs 11 rows within a set
    EXPECT_EQ(LSC_STATUS_INVALID_ARGUMENT, lsc_hubness(ctx, &small, nullptr, nullptr, &r));
    lsc_matrix q = lsc_matrix_f32(x.data(), 5, d - 1);
    EXPECT_EQ(LSC_STATUS_INVALID_ARGUMENT, lsc_hubness(ctx, &m, &q, nullptr, &r));
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "cols"));
    std::vector<float> z(x);
    for (int64_t c = 0; c < d; c++) z[(size_t)(7 * d + c)] = 0.0f;
    lsc_matrix mz = lsc_matrix_f32(z.data(), n, d);
    o = LSC_HUBNESS_OPTS_INIT;
    o.metric = LSC_METRIC_COSINE;
    EXPECT_EQ(LSC_STATUS_INVALID_DATA, lsc_hubness(ctx, &mz, nullptr, &o, &r));
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "row 7"));
    EXPECT_TRUE(is_sentinel(r));
}

} // namespace

namespace {

// The RBF Vendi score of order 2 from its definition: K in float64, N x N (tests only).
double vendi_rbf_ref(const std::vector<float> &x, int64_t n, int64_t d, double sigma)
{
    double f2 = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double d2 = 0.0;
            for (int64_t c = 0; c < d; c++) {
                const double e = (double)x[(size_t)(i * d + c)] - x[(size_t)(j * d + c)];
                d2 += e * e;
            }
            const double k = std::exp(-d2 / (2.0 * sigma * sigma)) / (double)n;
            f2 += k * k;
        }
    return 1.0 / f2;
}

} // namespace

TEST_F(Geometry, VendiRbfMatchesReference)
{
    const uint64_t sd = test_seed(91);
    const int64_t n = 300, d = 12;
    auto x = manifold(sd, n, d, 5);
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    for (double sigma : {0.5, 2.0, 10.0}) {
        SCOPED_TRACE(sigma);
        lsc_vendi_rbf_opts o = LSC_VENDI_RBF_OPTS_INIT;
        o.sigma = sigma;
        lsc_vendi_rbf_result r = LSC_VENDI_RBF_RESULT_INIT;
        ASSERT_EQ(lsc_vendi_rbf(ctx, &m, &o, &r), LSC_STATUS_OK) << lsc_last_error(ctx);
        const double want = vendi_rbf_ref(x, n, d, sigma);
        EXPECT_NEAR(r.vendi_q2, want, r.tolerance);
        EXPECT_TRUE(close(r.vendi_q2, want, 2e-4));
        EXPECT_EQ(r.rows_used, n);
        EXPECT_EQ(r.subset, 0);
        EXPECT_EQ(r.sigma, sigma);
    }
    // known answers: one point repeated is one mode; rows far apart (sigma tiny) are N modes
    std::vector<float> same((size_t)(50 * 3), 1.5f);
    lsc_matrix ms = lsc_matrix_f32(same.data(), 50, 3);
    lsc_vendi_rbf_result r = LSC_VENDI_RBF_RESULT_INIT;
    ASSERT_EQ(lsc_vendi_rbf(ctx, &ms, nullptr, &r), LSC_STATUS_OK);
    EXPECT_NEAR(r.vendi_q2, 1.0, 1e-12);
    lsc_vendi_rbf_opts o = LSC_VENDI_RBF_OPTS_INIT;
    o.sigma = 1e-3;
    ASSERT_EQ(lsc_vendi_rbf(ctx, &m, &o, &r), LSC_STATUS_OK);
    EXPECT_NEAR(r.vendi_q2, (double)n, 1e-9 * n);
    // the seeded subset is the rows lsc_permute puts first
    o.sigma = 2.0;
    o.max_rows = 100;
    o.seed = 3;
    ASSERT_EQ(lsc_vendi_rbf(ctx, &m, &o, &r), LSC_STATUS_OK);
    std::vector<float> sub;
    for (int64_t t = 0; t < 100; t++) {
        const int64_t row = lsc_permute(3, n, t);
        sub.insert(sub.end(), x.begin() + row * d, x.begin() + row * d + d);
    }
    EXPECT_NEAR(r.vendi_q2, vendi_rbf_ref(sub, 100, d, 2.0), r.tolerance);
    EXPECT_EQ(r.subset, 1);
    EXPECT_EQ(r.rows_used, 100);
}

TEST_F(Geometry, VendiRbfRefusals)
{
    std::vector<float> x(20, 1.0f);
    lsc_matrix m = lsc_matrix_f32(x.data(), 10, 2);
    lsc_vendi_rbf_result r = LSC_VENDI_RBF_RESULT_INIT;
    lsc_vendi_rbf_opts o = LSC_VENDI_RBF_OPTS_INIT;
    o.sigma = 0.0;
    EXPECT_EQ(lsc_vendi_rbf(ctx, &m, &o, &r), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("sigma"), std::string::npos);
    o = LSC_VENDI_RBF_OPTS_INIT;
    o.max_rows = 1;
    EXPECT_EQ(lsc_vendi_rbf(ctx, &m, &o, &r), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_vendi_rbf(ctx, &m, nullptr, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    x[7] = NAN;
    EXPECT_EQ(lsc_vendi_rbf(ctx, &m, nullptr, &r), LSC_STATUS_INVALID_DATA);
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("row 3"), std::string::npos)
        << lsc_last_error(ctx);
}

TEST_F(Geometry, AlignmentMatchesReference)
{
    const uint64_t sd = test_seed(92);
    const int64_t n = 200, d = 16;
    auto x = manifold(sd, n, d, 8), y = manifold(sd + 1, n, d, 8);
    for (size_t e = 0; e < y.size(); e++) y[e] = x[e] + 0.2f * y[e];
    std::fill(x.begin() + 5 * d, x.begin() + 6 * d, 0.0f); // a zero row stays the zero vector
    double want = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double nx = 0, ny = 0;
        for (int64_t c = 0; c < d; c++) {
            nx += (double)x[(size_t)(i * d + c)] * x[(size_t)(i * d + c)];
            ny += (double)y[(size_t)(i * d + c)] * y[(size_t)(i * d + c)];
        }
        nx = nx > 0 ? 1.0 / std::sqrt(nx) : 0.0;
        ny = ny > 0 ? 1.0 / std::sqrt(ny) : 0.0;
        for (int64_t c = 0; c < d; c++) {
            const double t = x[(size_t)(i * d + c)] * nx - y[(size_t)(i * d + c)] * ny;
            want += t * t / (double)n;
        }
    }
    lsc_matrix mx = lsc_matrix_f32(x.data(), n, d), my = lsc_matrix_f32(y.data(), n, d);
    double got = -1.0;
    ASSERT_EQ(lsc_alignment(ctx, &mx, &my, &got), LSC_STATUS_OK) << lsc_last_error(ctx);
    EXPECT_NEAR(got, want, 1e-12);
    // identical views: 0; opposite views: 4
    ASSERT_EQ(lsc_alignment(ctx, &mx, &mx, &got), LSC_STATUS_OK);
    EXPECT_NEAR(got, 0.0, 1e-15);
    std::vector<float> neg(x);
    for (auto &v : neg) v = -v;
    lsc_matrix mn = lsc_matrix_f32(neg.data(), n, d);
    ASSERT_EQ(lsc_alignment(ctx, &mx, &mn, &got), LSC_STATUS_OK);
    EXPECT_NEAR(got, 4.0 * (n - 1) / n, 1e-12); // the zero row adds 0
    // refusals
    lsc_matrix short_y = lsc_matrix_f32(y.data(), n - 1, d);
    EXPECT_EQ(lsc_alignment(ctx, &mx, &short_y, &got), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("same shape"), std::string::npos);
    EXPECT_EQ(lsc_alignment(ctx, &mx, &my, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    y[(size_t)(7 * d + 3)] = INFINITY;
    EXPECT_EQ(lsc_alignment(ctx, &mx, &my, &got), LSC_STATUS_INVALID_DATA);
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("y"), std::string::npos);
}

// The branch-free exp of the CPU's portable uniformity loop and of the CUDA kernels, against libm
// over its whole range (the AVX-512 loop's: tests/test_unif_avx512.cpp).
TEST(GeometryRules, ExpNeg8MatchesLibm)
{
    double worst = 0.0;
    for (int k = 0; k <= 80000; k++) {
        const double x = -8.0 * k / 80000.0;
        worst = std::max(worst, std::fabs(lsc_exp_neg8(x) / std::exp(x) - 1.0));
    }
    EXPECT_LE(worst, 2e-10);
    EXPECT_EQ(lsc_exp_neg8(0.0), 1.0);
    // near 0 the error shrinks with the argument (r times the polynomial's), so a pair of
    // nearly parallel rows, whose pinned bound shrinks too, keeps its margin
    double near = 0.0;
    for (int k = 1; k <= 40000; k++) {
        const double y = 0.34 * k / 40000.0;
        near = std::max(near, std::fabs(lsc_exp_neg8(-y) / std::exp(-y) - 1.0) / y);
    }
    EXPECT_LE(near, 4e-10);
}

// The uniformity's harmonics at D = 2 (lsc_unif_circle_weights): w_n = 2 e^-4 I_n(4) (w_0 without
// the 2) against libstdc++'s own Bessel function, each within a few roundings; the series they
// truncate against the pair term e^-4 e^(4 cos a) at angles over the whole circle, within the
// roundings of 28 cosines and sums (a weight up to n = 20 dropped is 1.6e-14 off at a = 0); and
// the tail the header claims: every weight left out, summed, below 5e-23.
TEST(GeometryRules, UniformityCircleWeightsAreTheKernelsSeries)
{
    double w[LSC_UNIF_HARMONICS];
    lsc_unif_circle_weights(w);
    for (int n = 0; n < LSC_UNIF_HARMONICS; n++) {
        const long double want = (n > 0 ? 2.0L : 1.0L) * expl(-4.0L) * std::cyl_bessel_il(n, 4.0L);
        EXPECT_NEAR(w[n] / (double)want, 1.0, 8e-16) << "n = " << n;
    }
    long double tail = 0.0L;
    for (int n = LSC_UNIF_HARMONICS; n < 60; n++)
        tail += 2.0L * expl(-4.0L) * std::cyl_bessel_il(n, 4.0L);
    EXPECT_LT((double)tail, 5e-23);
    EXPECT_GT((double)tail, 1e-24); // so the harmonic count is not larger than it needs
    for (int k = 0; k <= 720; k++) {
        const double a = M_PI * k / 360.0;
        double sum = 0.0;
        for (int n = LSC_UNIF_HARMONICS - 1; n >= 0; n--) sum += w[n] * std::cos(n * a);
        const double want = (double)expl(-4.0L + 4.0L * cosl((long double)a));
        EXPECT_NEAR(sum, want, 5e-16 + 5e-16 * want) << "angle " << a;
    }
}

// The uniformity's harmonics at D = 3 (lsc_unif_sphere_init, lsc_unif_sphere_add): w_l =
// e^-4 i_l(4) against libstdc++'s Bessel function (i_l(x) = sqrt(pi / 2x) I_(l + 1/2)(x)); the
// addition theorem, sum_m Y_lm(u) Y_lm(v) = (2l + 1) P_l(u.v), for every degree, on pairs of
// random unit rows, rows at the poles and rows on the equator, against libstdc++'s Legendre
// polynomial (each row in its own lane, the others zero-weighted); the truncated series against
// the pair term e^-4 e^(4 u.v); and the tail the header claims.
TEST(GeometryRules, UniformitySphereHarmonicsAddUp)
{
    static lsc_unif_sphere_k k;
    lsc_unif_sphere_init(&k);
    for (int l = 0; l < LSC_UNIF_DEGREES; l++) {
        const long double want =
            expl(-4.0L) * sqrtl(M_PIl / 8.0L) * std::cyl_bessel_il(l + 0.5L, 4.0L);
        EXPECT_NEAR(k.w[l] / (double)want, 1.0, 8e-16) << "l = " << l;
    }
    long double tail = 0.0L;
    for (int l = LSC_UNIF_DEGREES; l < 60; l++)
        tail +=
            (2 * l + 1) * expl(-4.0L) * sqrtl(M_PIl / 8.0L) * std::cyl_bessel_il(l + 0.5L, 4.0L);
    EXPECT_LT((double)tail, 3e-21);
    EXPECT_GT((double)tail, 1e-22);
    std::mt19937_64 g(7);
    std::normal_distribution<double> nd;
    std::vector<std::array<double, 3>> rows = {{0, 0, 1}, {0, 0, -1}, {1, 0, 0}, {0.6, -0.8, 0}};
    for (int r = 0; r < 12; r++) {
        std::array<double, 3> u = {nd(g), nd(g), nd(g)};
        const double nu = std::sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
        for (double &c : u) c /= nu;
        rows.push_back(u);
    }
    static double acc[2][LSC_UNIF_SPHERE_TERMS][LSC_UNIF_LANES];
    double worst = 0.0, worst_k = 0.0;
    for (size_t i = 0; i < rows.size(); i++)
        for (size_t j = i; j < rows.size(); j++) {
            double h[2][LSC_UNIF_SPHERE_TERMS];
            for (int side = 0; side < 2; side++) {
                const std::array<double, 3> &u = rows[side ? j : i];
                double u1[LSC_UNIF_LANES] = {0}, u2[LSC_UNIF_LANES] = {0}, u3[LSC_UNIF_LANES] = {0},
                       wt[LSC_UNIF_LANES] = {0};
                const int lane = (int)((i + j + side) % LSC_UNIF_LANES);
                u1[lane] = u[0];
                u2[lane] = u[1];
                u3[lane] = u[2];
                wt[lane] = 1.0;
                std::memset(acc[side], 0, sizeof acc[side]);
                lsc_unif_sphere_add(acc[side], &k, u1, u2, u3, wt);
                for (int e = 0; e < LSC_UNIF_SPHERE_TERMS; e++) h[side][e] = acc[side][e][lane];
            }
            const double c =
                rows[i][0] * rows[j][0] + rows[i][1] * rows[j][1] + rows[i][2] * rows[j][2];
            double byl[LSC_UNIF_DEGREES] = {0};
            int e = 0;
            for (int m = 0; m < LSC_UNIF_DEGREES; m++)
                for (int l = m; l < LSC_UNIF_DEGREES; l++)
                    for (int cs = 0; cs < (m ? 2 : 1); cs++, e++) byl[l] += h[0][e] * h[1][e];
            ASSERT_EQ(e, LSC_UNIF_SPHERE_TERMS);
            double series = 0.0;
            for (int l = 0; l < LSC_UNIF_DEGREES; l++) {
                const double want =
                    (2 * l + 1) * std::legendre(l, std::min(1.0, std::max(-1.0, c)));
                worst = std::max(worst, std::fabs(byl[l] - want) / (2 * l + 1));
                series += k.w[l] * byl[l];
            }
            worst_k = std::max(worst_k, std::fabs(series - std::exp(-4.0 + 4.0 * c)));
        }
    EXPECT_LT(worst, 1e-13);   // of (2l + 1), the sum's largest possible size
    EXPECT_LT(worst_k, 1e-15); // absolute: the terms, 1 to e^-8, of sums of size 1
}

// The uniformity's row test (lsc_unif_row_needs_exact) bounds every pair's (lsc_unif_needs_exact):
// where it clears a row, no pair of that row with the tile needs its exact d2. Tiles whose s and
// |b|^2 span 2^-3 to 2^3 each alone, or tied as rows near or far from the origin (s = r / |b|,
// norms 2^-4 to 2^4, or 2^-12 to 2^2), the CPU's product bounds at several D, query rows of norms
// 2^-3 to 2^3, each kind of tile with rows cleared and rows not, and an infinite absolute band (a
// tile without a fast form: every row needs it). And it is tighter than the bound from the tile's
// largest s times its largest |b|^2 on rows around the origin at D = 2, where a few rows near the
// origin hold the largest s and the smallest norms: that bound flagged about a quarter of such
// rows; this one none of the typical ones.
TEST(GeometryRules, UniformityRowTestBoundsEveryPair)
{
    std::mt19937_64 g(2612);
    std::uniform_real_distribution<double> un(0.0, 1.0);
    auto pow2 = [&](double lo, double hi) { return std::exp2(lo + (hi - lo) * un(g)); };
    int64_t cleared[3] = {0, 0, 0}, rows[3] = {0, 0, 0};
    for (int tile = 0; tile < 400; tile++) {
        const int64_t d = tile % 4 == 0 ? 2 : tile % 4 == 1 ? 64 : tile % 4 == 2 ? 4096 : 16;
        const double E = ((double)d + 8.0) * 0x1p-23, eabs = ((double)d + 8.0) * 0x1p-120;
        const int kind = tile % 3; // 0: s and |b|^2 apart, 1: tied, 2: tied and near the origin
        std::vector<double> s(64), bsq(64);
        double smax = 0.0, sbmax = 0.0;
        for (size_t j = 0; j < s.size(); j++) {
            if (kind == 0) {
                s[j] = pow2(-3, 3);
                bsq[j] = pow2(-3, 3);
            } else {
                const double norm = kind == 1 ? pow2(-4, 4) : pow2(-12, 2);
                bsq[j] = norm * norm * pow2(-2, 2); // |x - m| against |x|
                s[j] = 1.0 / norm;
            }
            smax = std::max(smax, s[j]);
            sbmax = std::max(sbmax, s[j] * bsq[j]);
        }
        for (int q = 0; q < 50; q++) {
            const double norm = pow2(-3, 3);
            const lsc_unif_row ri = {0.0, 1.0 / norm, 1.0};
            const double qsq = norm * norm * pow2(-2, 2);
            rows[kind]++;
            if (lsc_unif_row_needs_exact(E, eabs, qsq, ri, smax, sbmax)) continue;
            cleared[kind]++;
            for (size_t j = 0; j < s.size(); j++) {
                const lsc_unif_row rj = {0.0, s[j], 1.0};
                ASSERT_FALSE(lsc_unif_needs_exact(E * (qsq + bsq[j]) + eabs, ri, rj))
                    << "tile " << tile << " row " << q << " pair " << j;
            }
            EXPECT_TRUE(lsc_unif_row_needs_exact(E, INFINITY, qsq, ri, smax, sbmax));
        }
    }
    for (int kind = 0; kind < 3; kind++) {
        EXPECT_GT(cleared[kind], rows[kind] / 50) << kind; // not idle
        EXPECT_LT(cleared[kind], rows[kind]) << kind;
    }
    // a zero query row or a tile of zero rows with an infinite band: NaN, needs it (as a pair)
    const lsc_unif_row zero = {0.0, 0.0, 0.0}, one = {0.0, 1.0, 1.0};
    EXPECT_TRUE(lsc_unif_row_needs_exact(1e-6, INFINITY, 1.0, zero, 1.0, 1.0));
    EXPECT_TRUE(lsc_unif_row_needs_exact(1e-6, INFINITY, 1.0, one, 0.0, 0.0));
    // rows around the origin at D = 2: norms from 0.03 to 4.5, a query row of norm 0.6
    const double E = 10.0 * 0x1p-23, eabs = 10.0 * 0x1p-120;
    double smax = 0.0, sbmax = 0.0, bmax = 0.0;
    for (int k = 0; k <= 100; k++) {
        const double norm = 0.03 * std::pow(150.0, k / 100.0);
        smax = std::max(smax, 1.0 / norm);
        sbmax = std::max(sbmax, norm);
        bmax = std::max(bmax, norm * norm);
    }
    const lsc_unif_row ri = {0.0, 1.0 / 0.6, 1.0};
    const lsc_unif_row rmax = {0.0, smax, 1.0};
    EXPECT_TRUE(lsc_unif_needs_exact(E * (0.36 + bmax) + eabs, ri, rmax)); // the box's
    EXPECT_FALSE(lsc_unif_row_needs_exact(E, eabs, 0.36, ri, smax, sbmax));
}
