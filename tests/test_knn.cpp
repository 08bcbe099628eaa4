// Exact k nearest neighbours (docs/METRICS.md section 4) on the CPU backend against the naive
// float64 reference (reference_nn.hpp): index lists equal except where distances tie within 1e-6
// relative, every reported distance within 1e-6 relative of its exact value.
#include "test_util.hpp"
#include "datasets.hpp"
#include "reference_nn.hpp"
#include "fp32_copy.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace {

struct KnnOut {
    std::vector<float> dist;
    std::vector<int64_t> idx;
};

KnnOut run_knn(lsc_ctx *ctx, const lsc_matrix &q, const lsc_matrix *b, int64_t k, lsc_metric metric,
               bool exclude_self)
{
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    o.metric = metric;
    o.exclude_self = exclude_self ? 1 : 0;
    KnnOut r;
    r.dist.assign((size_t)(q.rows * k), -1.0f);
    r.idx.assign((size_t)(q.rows * k), -1);
    lsc_status s = lsc_knn(ctx, &q, b, k, &o, r.dist.data(), r.idx.data());
    EXPECT_EQ(s, LSC_STATUS_OK) << lsc_last_error(ctx);
    return r;
}

// Runs the library on dense float32 data and checks it against the reference.
// Runs the library and checks it against `ref` (the reference for these sets at k or more).
KnnOut check_against(lsc_ctx *ctx, const refnn::Knn &ref, const std::vector<float> &q, int64_t nq,
                     const std::vector<float> *b, int64_t nb, int64_t d, int64_t k,
                     lsc_metric metric, bool exclude_self)
{
    lsc_matrix mq = lsc_matrix_f32(q.data(), nq, d);
    lsc_matrix mb = exclude_self ? mq : lsc_matrix_f32(b->data(), nb, d);
    KnnOut got = run_knn(ctx, mq, exclude_self ? nullptr : &mb, k, metric, exclude_self);
    const float *bp = exclude_self ? q.data() : b->data();
    EXPECT_EQ(refnn::check_knn(ref.k == k ? ref : refnn::first(ref, k), q.data(), bp, d, metric,
                               exclude_self, got.dist.data(), got.idx.data()),
              "");
    return got;
}

KnnOut check_dense(lsc_ctx *ctx, const std::vector<float> &q, int64_t nq,
                   const std::vector<float> *b, int64_t nb, int64_t d, int64_t k, lsc_metric metric,
                   bool exclude_self)
{
    const float *bp = exclude_self ? q.data() : b->data();
    auto ref = refnn::knn(q.data(), nq, bp, exclude_self ? nq : nb, d, k, metric, exclude_self);
    return check_against(ctx, ref, q, nq, b, nb, d, k, metric, exclude_self);
}

TEST(Knn, RandomQueriesAgainstBase)
{
    Ctx ctx;
    const uint64_t sd = data::seed(11);
    SCOPED_TRACE(sd);
    auto b = data::gaussian(1000, 64, sd);
    auto q = data::gaussian(300, 64, sd + 100);
    check_dense(ctx, q, 300, &b, 1000, 64, 10, LSC_METRIC_EUCLIDEAN, false);
}

TEST(Knn, LargerSetWideRows)
{
    Ctx ctx;
    const uint64_t sd = data::seed(29);
    SCOPED_TRACE(sd);
    auto x = data::rank_k(2000, 256, 32, sd, 1.0); // low-rank rows: many near-equal distances
    check_dense(ctx, x, 2000, nullptr, 0, 256, 10, LSC_METRIC_EUCLIDEAN, true);
    std::vector<float> q(x.begin(), x.begin() + 200 * 256);
    for (auto &v : q) v += 0.01f;
    check_dense(ctx, q, 200, &x, 2000, 256, 10, LSC_METRIC_COSINE, false);
}

// Above D = 2048 the fast form's error bands are wide (they grow as D) and the candidate lists
// are longer: random rows, rows whose distances are all equal within the bands, and a small
// workspace whose tiles split every block; both metrics, both passes.
TEST(Knn, VeryWideRowsWithWideErrorBands)
{
    const uint64_t sd = data::seed(33);
    SCOPED_TRACE(sd);
    const int64_t n = 400, d = 4096;
    auto x = data::gaussian(n, d, sd);
    auto q = data::gaussian(80, d, sd + 1, 0.05, 1.1);
    // orthogonal rows (one 1 each) plus a little noise: every distance is sqrt(2) within far
    // less than the error bands, so every list overflows into exact recomputations
    auto low = data::gaussian(n, d, sd + 2, 0.0, 1e-5);
    for (int64_t i = 0; i < n; i++) low[(size_t)(i * d + i)] += 1.0f;
    // one brute force per set and metric, at the largest k
    const auto rx = refnn::knn(x.data(), n, nullptr, 0, d, 30, LSC_METRIC_EUCLIDEAN, true);
    const auto rqe = refnn::knn(q.data(), 80, x.data(), n, d, 30, LSC_METRIC_EUCLIDEAN, false);
    const auto rqc = refnn::knn(q.data(), 80, x.data(), n, d, 30, LSC_METRIC_COSINE, false);
    const auto rl = refnn::knn(low.data(), n, nullptr, 0, d, 30, LSC_METRIC_EUCLIDEAN, true);
    for (size_t ws : {(size_t)0, (size_t)1 << 20}) {
        Ctx ctx(ws, 2);
        for (int64_t k : {1, 5, 30}) {
            SCOPED_TRACE(::testing::Message() << "workspace " << ws << " k " << k);
            check_against(ctx, rx, x, n, nullptr, 0, d, k, LSC_METRIC_EUCLIDEAN, true);
            check_against(ctx, rqe, q, 80, &x, n, d, k, LSC_METRIC_EUCLIDEAN, false);
            check_against(ctx, rqc, q, 80, &x, n, d, k, LSC_METRIC_COSINE, false);
            check_against(ctx, rl, low, n, nullptr, 0, d, k, LSC_METRIC_EUCLIDEAN, true);
        }
    }
}

TEST(Knn, RandomExcludeSelf)
{
    Ctx ctx;
    const uint64_t sd = data::seed(12);
    SCOPED_TRACE(sd);
    auto x = data::gaussian(700, 48, sd);
    check_dense(ctx, x, 700, nullptr, 0, 48, 7, LSC_METRIC_EUCLIDEAN, true);
}

TEST(Knn, WithoutExcludeSelfARowFindsItselfAtZero)
{
    Ctx ctx;
    const uint64_t sd = data::seed(13);
    auto x = data::gaussian(200, 16, sd);
    auto got = check_dense(ctx, x, 200, &x, 200, 16, 3, LSC_METRIC_EUCLIDEAN, false);
    for (int64_t i = 0; i < 200; i++) {
        EXPECT_EQ(got.idx[(size_t)(i * 3)], i);
        EXPECT_EQ(got.dist[(size_t)(i * 3)], 0.0f);
    }
}

TEST(Knn, ExactDuplicatesAreFoundAtDistanceZero)
{
    Ctx ctx;
    const uint64_t sd = data::seed(14);
    SCOPED_TRACE(sd);
    const int64_t n = 500, d = 32, k = 5;
    auto x = data::with_duplicates(n, d, sd, {{3, 10}, {3, 200}, {7, 499}, {100, 101}});
    auto got = check_dense(ctx, x, n, nullptr, 0, d, k, LSC_METRIC_EUCLIDEAN, true);
    auto at = [&](int64_t i, int64_t t) { return got.idx[(size_t)(i * k + t)]; };
    auto dist = [&](int64_t i, int64_t t) { return got.dist[(size_t)(i * k + t)]; };
    // row 3 has two copies (10, 200): both at exactly 0, the smaller index first
    EXPECT_EQ(at(3, 0), 10);
    EXPECT_EQ(at(3, 1), 200);
    EXPECT_EQ(dist(3, 0), 0.0f);
    EXPECT_EQ(dist(3, 1), 0.0f);
    EXPECT_GT(dist(3, 2), 0.0f);
    EXPECT_EQ(at(10, 0), 3);
    EXPECT_EQ(at(10, 1), 200);
    EXPECT_EQ(at(200, 0), 3);
    EXPECT_EQ(at(200, 1), 10);
    EXPECT_EQ(dist(200, 1), 0.0f);
    EXPECT_EQ(at(7, 0), 499);
    EXPECT_EQ(at(499, 0), 7);
    EXPECT_EQ(at(100, 0), 101);
    EXPECT_EQ(at(101, 0), 100);
    EXPECT_EQ(dist(101, 0), 0.0f);
    EXPECT_GT(dist(101, 1), 0.0f);
    // cosine: a copy is at exactly 0 as well
    auto c = check_dense(ctx, x, n, nullptr, 0, d, k, LSC_METRIC_COSINE, true);
    EXPECT_EQ(c.idx[3 * k], 10);
    EXPECT_EQ(c.dist[3 * k], 0.0f);
    EXPECT_EQ(c.idx[3 * k + 1], 200);
    EXPECT_EQ(c.dist[3 * k + 1], 0.0f);
}

TEST(Knn, KEqualsOne)
{
    Ctx ctx;
    const uint64_t sd = data::seed(15);
    auto b = data::gaussian(400, 24, sd);
    auto q = data::gaussian(150, 24, sd + 1);
    check_dense(ctx, q, 150, &b, 400, 24, 1, LSC_METRIC_EUCLIDEAN, false);
    check_dense(ctx, b, 400, nullptr, 0, 24, 1, LSC_METRIC_EUCLIDEAN, true);
}

TEST(Knn, KEqualsEveryBaseRow)
{
    Ctx ctx;
    const uint64_t sd = data::seed(16);
    auto b = data::gaussian(64, 12, sd);
    auto q = data::gaussian(50, 12, sd + 1);
    auto got = check_dense(ctx, q, 50, &b, 64, 12, 64, LSC_METRIC_EUCLIDEAN, false);
    // every base row exactly once per query
    for (int64_t i = 0; i < 50; i++) {
        std::vector<int64_t> s(got.idx.begin() + i * 64, got.idx.begin() + (i + 1) * 64);
        std::sort(s.begin(), s.end());
        for (int64_t j = 0; j < 64; j++) EXPECT_EQ(s[(size_t)j], j);
    }
    auto self = check_dense(ctx, b, 64, nullptr, 0, 12, 63, LSC_METRIC_EUCLIDEAN, true);
    for (int64_t i = 0; i < 64; i++) {
        std::vector<int64_t> s(self.idx.begin() + i * 63, self.idx.begin() + (i + 1) * 63);
        s.push_back(i);
        std::sort(s.begin(), s.end());
        for (int64_t j = 0; j < 64; j++) EXPECT_EQ(s[(size_t)j], j);
    }
    // and k one more is an error, not a clamp
    lsc_matrix mb = lsc_matrix_f32(b.data(), 64, 12);
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    o.exclude_self = 1;
    std::vector<float> dd(64 * 64);
    std::vector<int64_t> ii(64 * 64);
    EXPECT_EQ(lsc_knn(ctx, &mb, nullptr, 64, &o, dd.data(), ii.data()),
              LSC_STATUS_INVALID_ARGUMENT);
}

TEST(Knn, OneAndTwoColumns)
{
    Ctx ctx;
    const uint64_t sd = data::seed(17);
    for (int64_t d : {1, 2}) {
        SCOPED_TRACE(d);
        auto x = data::gaussian(400, d, sd + (uint64_t)d);
        auto q = data::gaussian(120, d, sd + 10 + (uint64_t)d);
        check_dense(ctx, x, 400, nullptr, 0, d, 6, LSC_METRIC_EUCLIDEAN, true);
        check_dense(ctx, q, 120, &x, 400, d, 9, LSC_METRIC_EUCLIDEAN, false);
    }
    // cosine in 2 dimensions (directions on the circle)
    auto x2 = data::gaussian(300, 2, sd + 5);
    check_dense(ctx, x2, 300, nullptr, 0, 2, 4, LSC_METRIC_COSINE, true);
}

TEST(Knn, LargeCommonOffset)
{
    Ctx ctx;
    const uint64_t sd = data::seed(18);
    SCOPED_TRACE(sd);
    auto x = data::gaussian(600, 64, sd, 50.0, 1.0);
    auto q = data::gaussian(100, 64, sd + 1, 50.0, 1.0);
    check_dense(ctx, x, 600, nullptr, 0, 64, 8, LSC_METRIC_EUCLIDEAN, true);
    check_dense(ctx, q, 100, &x, 600, 64, 8, LSC_METRIC_EUCLIDEAN, false);
}

// Magnitudes at the ends of float32's range. Near 1e-20 the GEMM's products (1e-40) are
// subnormal or flushed, which no relative error bound covers: every decision must still be
// exact. Near 1e18 the squared norms (1e38) approach float32's largest value.
TEST(Knn, TinyAndHugeMagnitudes)
{
    Ctx ctx;
    const uint64_t sd = data::seed(31);
    SCOPED_TRACE(sd);
    for (double scale : {1e-20, 1e-30, 1e17, 1e19, 1e30}) {
        SCOPED_TRACE(scale);
        auto x = data::scaled(data::gaussian(400, 48, sd), scale);
        auto q = data::scaled(data::gaussian(90, 48, sd + 1), scale);
        check_dense(ctx, x, 400, nullptr, 0, 48, 6, LSC_METRIC_EUCLIDEAN, true);
        check_dense(ctx, q, 90, &x, 400, 48, 6, LSC_METRIC_EUCLIDEAN, false);
    }
}

TEST(Knn, TightClusterKeepsItsDigits)
{
    Ctx ctx;
    const uint64_t sd = data::seed(19);
    SCOPED_TRACE(sd);
    // distances ~ 1e-3 sqrt(2 D) against norms ~ sqrt(D): the uncentred fast form would lose them
    auto x = data::tight_cluster(500, 32, sd, 1e-3);
    check_dense(ctx, x, 500, nullptr, 0, 32, 6, LSC_METRIC_EUCLIDEAN, true);
    // queries from the same cluster that the base does not hold: the same seed gives the same
    // centre and the same first 500 rows
    auto q2 = data::tight_cluster(580, 32, sd, 1e-3);
    std::vector<float> qq(q2.begin() + 500 * 32, q2.end());
    check_dense(ctx, qq, 80, &x, 500, 32, 5, LSC_METRIC_EUCLIDEAN, false);
    // an even tighter cluster far from the origin
    auto y = data::tight_cluster(300, 16, sd + 3, 1e-4);
    for (auto &v : y) v += 20.0f;
    check_dense(ctx, y, 300, nullptr, 0, 16, 4, LSC_METRIC_EUCLIDEAN, true);
}

TEST(Knn, Cosine)
{
    Ctx ctx;
    const uint64_t sd = data::seed(20);
    SCOPED_TRACE(sd);
    auto x = data::gaussian(500, 40, sd);
    auto q = data::gaussian(120, 40, sd + 1);
    check_dense(ctx, x, 500, nullptr, 0, 40, 7, LSC_METRIC_COSINE, true);
    check_dense(ctx, q, 120, &x, 500, 40, 7, LSC_METRIC_COSINE, false);
    // directions bunched around one (offset data): small cosine distances
    auto y = data::gaussian(400, 32, sd + 2, 5.0, 1.0);
    check_dense(ctx, y, 400, nullptr, 0, 32, 5, LSC_METRIC_COSINE, true);
    // cosine ignores the scale of a row
    std::vector<float> z(x.begin(), x.begin() + 100 * 40);
    auto zs = z;
    for (int64_t i = 0; i < 100; i++)
        for (int64_t t = 0; t < 40; t++) zs[(size_t)(i * 40 + t)] *= (float)(1 << (i % 5));
    lsc_matrix mz = lsc_matrix_f32(z.data(), 100, 40), ms = lsc_matrix_f32(zs.data(), 100, 40);
    auto a = run_knn(ctx, mz, nullptr, 5, LSC_METRIC_COSINE, true);
    auto b = run_knn(ctx, ms, nullptr, 5, LSC_METRIC_COSINE, true);
    for (size_t e = 0; e < a.dist.size(); e++)
        EXPECT_TRUE(refnn::close_rel(a.dist[e], b.dist[e], 1e-6)) << e;
}

// float16 bits of sign s, exponent field e (0..30) and mantissa m, and their exact value.
uint16_t half_bits(int s, int e, int m) { return (uint16_t)((s << 15) | (e << 10) | m); }
float half_value(int s, int e, int m)
{
    double v = e == 0 ? std::ldexp((double)m, -24) : std::ldexp(1.0 + m / 1024.0, e - 15);
    return (float)(s ? -v : v);
}

TEST(Knn, EveryDtypeMatchesItsFloat32Values)
{
    Ctx ctx;
    const uint64_t sd = data::seed(21);
    SCOPED_TRACE(sd);
    const int64_t n = 300, d = 20, k = 6;
    std::mt19937_64 g(sd);
    // float16: random normal values between 2^-4 and 2^4, and a few subnormals
    std::vector<uint16_t> h((size_t)(n * d));
    std::vector<float> hv((size_t)(n * d));
    for (size_t e = 0; e < h.size(); e++) {
        int s = (int)(g() & 1), ex = 11 + (int)(g() % 9), m = (int)(g() % 1024);
        if (e % 97 == 0) ex = 0;
        h[e] = half_bits(s, ex, m);
        hv[e] = half_value(s, ex, m);
    }
    // bfloat16: the upper halves of Gaussian float32 values
    auto gsrc = data::gaussian(n, d, sd + 1);
    std::vector<uint16_t> bf((size_t)(n * d));
    std::vector<float> bv((size_t)(n * d));
    for (size_t e = 0; e < bf.size(); e++) {
        uint32_t bits;
        std::memcpy(&bits, &gsrc[e], 4);
        bf[e] = (uint16_t)(bits >> 16);
        bits &= 0xffff0000u;
        std::memcpy(&bv[e], &bits, 4);
    }
    // float64: values with more digits than float32 keeps
    std::normal_distribution<double> nd(0.0, 1.0);
    std::vector<double> f64((size_t)(n * d));
    std::vector<float> fv((size_t)(n * d));
    for (size_t e = 0; e < f64.size(); e++) {
        f64[e] = nd(g);
        fv[e] = (float)f64[e];
    }
    struct Case {
        lsc_dtype t;
        const void *p;
        const std::vector<float> *vals;
    } cases[] = {{LSC_DTYPE_F16, h.data(), &hv},
                 {LSC_DTYPE_BF16, bf.data(), &bv},
                 {LSC_DTYPE_F64, f64.data(), &fv}};
    for (const auto &c : cases) {
        SCOPED_TRACE((int)c.t);
        lsc_matrix m = {c.p, c.t, n, d, d, LSC_MEMORY_HOST};
        for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
            auto got = run_knn(ctx, m, nullptr, k, metric, true);
            auto ref = refnn::knn(c.vals->data(), n, nullptr, 0, d, k, metric, true);
            EXPECT_EQ(refnn::check_knn(ref, c.vals->data(), nullptr, d, metric, true,
                                       got.dist.data(), got.idx.data()),
                      "");
            // the same answer as the float32 copy, bit for bit
            lsc_matrix m32 = lsc_matrix_f32(c.vals->data(), n, d);
            auto g32 = run_knn(ctx, m32, nullptr, k, metric, true);
            EXPECT_EQ(got.idx, g32.idx);
            EXPECT_EQ(got.dist, g32.dist);
        }
        // queries in this dtype against a float32 base
        auto base = data::gaussian(90, d, sd + 9);
        lsc_matrix mb = lsc_matrix_f32(base.data(), 90, d);
        lsc_knn_opts o = LSC_KNN_OPTS_INIT;
        std::vector<float> dd((size_t)(n * 4));
        std::vector<int64_t> ii((size_t)(n * 4));
        ASSERT_EQ(lsc_knn(ctx, &m, &mb, 4, &o, dd.data(), ii.data()), LSC_STATUS_OK);
        auto ref =
            refnn::knn(c.vals->data(), n, base.data(), 90, d, 4, LSC_METRIC_EUCLIDEAN, false);
        EXPECT_EQ(refnn::check_knn(ref, c.vals->data(), base.data(), d, LSC_METRIC_EUCLIDEAN, false,
                                   dd.data(), ii.data()),
                  "");
    }
}

TEST(Knn, LeadingDimensionLargerThanCols)
{
    Ctx ctx;
    const uint64_t sd = data::seed(22);
    const int64_t n = 257, d = 19, ld = 24, nq = 61;
    auto x = data::gaussian(n, d, sd);
    auto q = data::gaussian(nq, d, sd + 1);
    // padding holds NaN: it must never be read
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> xp((size_t)(n * ld), nan), qp((size_t)(nq * ld), nan);
    for (int64_t i = 0; i < n; i++) std::copy(&x[i * d], &x[i * d] + d, &xp[i * ld]);
    for (int64_t i = 0; i < nq; i++) std::copy(&q[i * d], &q[i * d] + d, &qp[i * ld]);
    lsc_matrix mx = {xp.data(), LSC_DTYPE_F32, n, d, ld, LSC_MEMORY_HOST};
    lsc_matrix mq = {qp.data(), LSC_DTYPE_F32, nq, d, ld, LSC_MEMORY_HOST};
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        auto self = run_knn(ctx, mx, nullptr, 5, metric, true);
        auto ref = refnn::knn(x.data(), n, nullptr, 0, d, 5, metric, true);
        EXPECT_EQ(refnn::check_knn(ref, x.data(), nullptr, d, metric, true, self.dist.data(),
                                   self.idx.data()),
                  "");
        auto cross = run_knn(ctx, mq, &mx, 7, metric, false);
        auto rc = refnn::knn(q.data(), nq, x.data(), n, d, 7, metric, false);
        EXPECT_EQ(refnn::check_knn(rc, q.data(), x.data(), d, metric, false, cross.dist.data(),
                                   cross.idx.data()),
                  "");
    }
}

TEST(Knn, ShapesNotMultiplesOfTiles)
{
    // the CPU tiles are at most 1024 queries x 4096 base rows
    Ctx ctx;
    const uint64_t sd = data::seed(23);
    SCOPED_TRACE(sd);
    const int64_t nb = 4099, nq = 1030, d = 5;
    auto b = data::gaussian(nb, d, sd);
    auto q = data::gaussian(nq, d, sd + 1);
    check_dense(ctx, q, nq, &b, nb, d, 3, LSC_METRIC_EUCLIDEAN, false);
    check_dense(ctx, b, 1300, nullptr, 0, d, 4, LSC_METRIC_EUCLIDEAN, true);
}

TEST(Knn, TinyWorkspaceGivesIdenticalResults)
{
    Ctx big, tiny(64 << 10), tiny1(64 << 10, 1);
    const uint64_t sd = data::seed(24);
    SCOPED_TRACE(sd);
    const int64_t n = 600, nq = 200, d = 70, k = 9;
    auto x = data::gaussian(n, d, sd, 0.5, 1.0);
    auto q = data::gaussian(nq, d, sd + 1, 0.5, 1.0);
    lsc_matrix mx = lsc_matrix_f32(x.data(), n, d), mq = lsc_matrix_f32(q.data(), nq, d);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        SCOPED_TRACE((int)metric);
        auto a = run_knn(big, mx, nullptr, k, metric, true);
        auto b = run_knn(tiny, mx, nullptr, k, metric, true);
        auto c = run_knn(tiny1, mx, nullptr, k, metric, true);
        EXPECT_EQ(a.idx, b.idx);
        EXPECT_EQ(a.dist, b.dist);
        EXPECT_EQ(a.idx, c.idx);
        EXPECT_EQ(a.dist, c.dist);
        auto ref = refnn::knn(x.data(), n, nullptr, 0, d, k, metric, true);
        EXPECT_EQ(
            refnn::check_knn(ref, x.data(), nullptr, d, metric, true, b.dist.data(), b.idx.data()),
            "");
        auto ca = run_knn(big, mq, &mx, k, metric, false);
        auto cb = run_knn(tiny, mq, &mx, k, metric, false);
        EXPECT_EQ(ca.idx, cb.idx);
        EXPECT_EQ(ca.dist, cb.dist);
    }
    // k far larger than a tile's base rows: the heaps carry across many tiles
    Ctx tiny16(16 << 10, 1); // one thread: thousands of tiles, no barrier per tile
    auto big_k = run_knn(tiny16, mx, nullptr, 300, LSC_METRIC_EUCLIDEAN, true);
    auto ref_k = refnn::knn(x.data(), n, nullptr, 0, d, 300, LSC_METRIC_EUCLIDEAN, true);
    EXPECT_EQ(refnn::check_knn(ref_k, x.data(), nullptr, d, LSC_METRIC_EUCLIDEAN, true,
                               big_k.dist.data(), big_k.idx.data()),
              "");
    auto big_k2 = run_knn(big, mx, nullptr, 300, LSC_METRIC_EUCLIDEAN, true);
    EXPECT_EQ(big_k.idx, big_k2.idx);
    EXPECT_EQ(big_k.dist, big_k2.dist);
    // a limit too small for one tile is an error, not a crash
    Ctx mini(64);
    std::vector<float> dd((size_t)(n * k));
    std::vector<int64_t> ii((size_t)(n * k));
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    o.exclude_self = 1;
    EXPECT_EQ(lsc_knn(mini, &mx, nullptr, k, &o, dd.data(), ii.data()), LSC_STATUS_WORKSPACE_LIMIT);
}

TEST(Knn, ThreadCountDoesNotChangeResults)
{
    Ctx one(0, 1), two(0, 2);
    const uint64_t sd = data::seed(25);
    auto x = data::gaussian(800, 33, sd);
    lsc_matrix mx = lsc_matrix_f32(x.data(), 800, 33);
    auto a = run_knn(one, mx, nullptr, 6, LSC_METRIC_EUCLIDEAN, true);
    auto b = run_knn(two, mx, nullptr, 6, LSC_METRIC_EUCLIDEAN, true);
    EXPECT_EQ(a.idx, b.idx);
    EXPECT_EQ(a.dist, b.dist);
}

TEST(Knn, ExactTiesBrokenBySmallerIndex)
{
    Ctx ctx, tiny(16 << 10, 1);
    // the query at the origin and the 2 D unit vectors +-e_t: every distance is exactly 1
    const int64_t d = 6;
    std::vector<float> base;
    std::vector<int64_t> order = {7, 2, 11, 0, 5, 9, 3, 1, 10, 6, 8, 4};
    std::vector<float> unit((size_t)(12 * d), 0.0f);
    for (int64_t t = 0; t < 12; t++) unit[(size_t)(t * d + t / 2)] = t % 2 ? -1.0f : 1.0f;
    // base row r holds unit vector order[r]
    for (int64_t r = 0; r < 12; r++)
        base.insert(base.end(), unit.begin() + order[(size_t)r] * d,
                    unit.begin() + (order[(size_t)r] + 1) * d);
    std::vector<float> q((size_t)d, 0.0f);
    lsc_matrix mb = lsc_matrix_f32(base.data(), 12, d), mq = lsc_matrix_f32(q.data(), 1, d);
    for (lsc_ctx *c : {ctx.ctx, tiny.ctx}) {
        auto got = run_knn(c, mq, &mb, 12, LSC_METRIC_EUCLIDEAN, false);
        for (int64_t t = 0; t < 12; t++) {
            EXPECT_EQ(got.idx[(size_t)t], t);
            EXPECT_EQ(got.dist[(size_t)t], 1.0f);
        }
        auto five = run_knn(c, mq, &mb, 5, LSC_METRIC_EUCLIDEAN, false);
        for (int64_t t = 0; t < 5; t++) EXPECT_EQ(five.idx[(size_t)t], t);
    }

    // integer points on a small grid: many exact ties (and duplicates), all arithmetic exact,
    // so the index lists must equal the reference's exactly
    const uint64_t sd = data::seed(26);
    SCOPED_TRACE(sd);
    std::mt19937_64 g(sd);
    const int64_t n = 700, dd = 3;
    std::vector<float> x((size_t)(n * dd));
    for (auto &v : x) v = (float)((int)(g() % 7) - 3);
    lsc_matrix mx = lsc_matrix_f32(x.data(), n, dd);
    for (lsc_ctx *c : {ctx.ctx, tiny.ctx}) {
        for (int64_t k : {1, 10, 40}) {
            auto got = run_knn(c, mx, nullptr, k, LSC_METRIC_EUCLIDEAN, true);
            auto ref = refnn::knn(x.data(), n, nullptr, 0, dd, k, LSC_METRIC_EUCLIDEAN, true);
            EXPECT_EQ(got.idx, ref.idx) << "k=" << k;
            for (size_t e = 0; e < ref.dist.size(); e++)
                ASSERT_EQ((double)got.dist[e], (double)(float)ref.dist[e]) << e;
        }
        std::vector<float> qg(x.begin(), x.begin() + 50 * dd);
        for (auto &v : qg) v += 0.5f; // grid midpoints: ties among the 8 corners
        lsc_matrix mqg = lsc_matrix_f32(qg.data(), 50, dd);
        auto got = run_knn(c, mqg, &mx, 25, LSC_METRIC_EUCLIDEAN, false);
        auto ref = refnn::knn(qg.data(), 50, x.data(), n, dd, 25, LSC_METRIC_EUCLIDEAN, false);
        EXPECT_EQ(got.idx, ref.idx);
    }
}

TEST(Knn, DecisionsAreExactWhereTheFastFormCannotTell)
{
    // fine-grid points (exact arithmetic) in two clusters 16 apart, queries in a third cluster 16
    // further: the fast form's error (~1e-4 in squared distance) exceeds the gaps between
    // candidates (2^-16), so only exact decisions give the reference's lists, index for index
    Ctx ctx, tiny(32 << 10, 1);
    const uint64_t sd = data::seed(28);
    SCOPED_TRACE(sd);
    const int64_t n = 1500, nq = 300, d = 8, k = 10;
    auto x = data::fine_grid_clusters(n, d, sd, 2);
    auto q = data::fine_grid_clusters(3 * nq, d, sd + 1, 3);
    std::vector<float> far;
    for (int64_t i = 2; i < 3 * nq; i += 3) far.insert(far.end(), &q[i * d], &q[i * d] + d);
    lsc_matrix mx = lsc_matrix_f32(x.data(), n, d), mq = lsc_matrix_f32(far.data(), nq, d);
    auto rs = refnn::knn(x.data(), n, nullptr, 0, d, k, LSC_METRIC_EUCLIDEAN, true);
    auto rq = refnn::knn(far.data(), nq, x.data(), n, d, k, LSC_METRIC_EUCLIDEAN, false);
    for (lsc_ctx *c : {ctx.ctx, tiny.ctx}) {
        auto self = run_knn(c, mx, nullptr, k, LSC_METRIC_EUCLIDEAN, true);
        EXPECT_EQ(self.idx, rs.idx);
        auto cross = run_knn(c, mq, &mx, k, LSC_METRIC_EUCLIDEAN, false);
        EXPECT_EQ(cross.idx, rq.idx);
        for (size_t e = 0; e < rq.dist.size(); e++)
            ASSERT_EQ(cross.dist[e], (float)rq.dist[e]) << e;
    }
}

TEST(Knn, BaseRowOrderDoesNotChangeDistances)
{
    Ctx ctx;
    const uint64_t sd = data::seed(27);
    SCOPED_TRACE(sd);
    const int64_t n = 600, nq = 150, d = 24, k = 8;
    auto b = data::gaussian(n, d, sd, 3.0, 1.0);
    auto q = data::gaussian(nq, d, sd + 1, 3.0, 1.0);
    std::vector<int64_t> perm((size_t)n);
    std::iota(perm.begin(), perm.end(), (int64_t)0);
    std::shuffle(perm.begin(), perm.end(), std::mt19937_64(sd + 2));
    std::vector<float> bp((size_t)(n * d));
    for (int64_t r = 0; r < n; r++)
        std::copy(&b[perm[(size_t)r] * d], &b[perm[(size_t)r] * d] + d, &bp[r * d]);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        SCOPED_TRACE((int)metric);
        auto a = check_dense(ctx, q, nq, &b, n, d, k, metric, false);
        auto c = check_dense(ctx, q, nq, &bp, n, d, k, metric, false);
        for (size_t e = 0; e < a.dist.size(); e++) {
            EXPECT_TRUE(refnn::close_rel(a.dist[e], c.dist[e], 1e-6)) << e;
            // indices map through the permutation (random data: no ties)
            EXPECT_EQ(a.idx[e], perm[(size_t)c.idx[e]]) << e;
        }
    }
}

// Self kNN of a set of at least four query blocks runs the symmetric pass (the in-block pairs,
// then each pair above the blocks offered to both its rows); a workspace too small for its column
// heaps runs the plain pass. Both must give the reference's lists index for index on integer data
// (every distance exact, ties everywhere, ties broken across blocks by the smaller index) and on
// random data, at 1, 2 and 3 threads, for euclidean and cosine.
TEST(Knn, SymmetricSelfPassMatchesPlainPassAndReference)
{
    const uint64_t sd = data::seed(31);
    SCOPED_TRACE(sd);
    std::mt19937_64 g(sd);
    const int64_t n = 3001, d = 3; // blocks of 256 rows at d < 256: 12 of them, the last partial
    std::vector<float> grid((size_t)(n * d));
    for (auto &v : grid) v = (float)((int)(g() % 9) - 4);
    const int64_t nr = 2600, dr = 24;
    auto rnd = data::gaussian(nr, dr, sd + 1, 3.0, 0.5);
    // one brute force per set and metric, at the largest k
    const auto gref = refnn::knn(grid.data(), n, nullptr, 0, d, 40, LSC_METRIC_EUCLIDEAN, true);
    const refnn::Knn rref[2] = {
        refnn::knn(rnd.data(), nr, nullptr, 0, dr, 40, LSC_METRIC_EUCLIDEAN, true),
        refnn::knn(rnd.data(), nr, nullptr, 0, dr, 40, LSC_METRIC_COSINE, true)};
    for (int threads : {1, 2, 3}) {
        // sym: the default workspace; plain: the selections (n (T (8 k + 16 cap + 16) + 16 cap +
        // 16) bytes, cap = k + 4 + k / 4 at these D) do not
        // fit its quarter, the tiles do
        Ctx sym(0, threads), plain(256 << 10, threads);
        for (int64_t k : {1, 5, 40}) {
            SCOPED_TRACE(::testing::Message() << "threads " << threads << " k " << k);
            lsc_matrix mg = lsc_matrix_f32(grid.data(), n, d);
            auto ref = refnn::first(gref, k);
            auto a = run_knn(sym, mg, nullptr, k, LSC_METRIC_EUCLIDEAN, true);
            auto b = run_knn(plain, mg, nullptr, k, LSC_METRIC_EUCLIDEAN, true);
            EXPECT_EQ(a.idx, ref.idx);
            EXPECT_EQ(b.idx, ref.idx);
            EXPECT_EQ(a.dist, b.dist);
            for (lsc_metric m : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
                lsc_matrix mr = lsc_matrix_f32(rnd.data(), nr, dr);
                auto rr = refnn::first(rref[m == LSC_METRIC_COSINE], k);
                auto ra = run_knn(sym, mr, nullptr, k, m, true);
                auto rb = run_knn(plain, mr, nullptr, k, m, true);
                EXPECT_EQ(refnn::check_knn(rr, rnd.data(), rnd.data(), dr, m, true, ra.dist.data(),
                                           ra.idx.data()),
                          "");
                EXPECT_EQ(ra.idx, rb.idx);
                EXPECT_EQ(ra.dist, rb.dist);
            }
        }
    }
}

// A workspace the plain self pass fits but the symmetric pass's selections would squeeze below
// one tile: the call must still succeed (the plain pass runs), not report the workspace limit.
TEST(Knn, SymmetricPassNeverCostsAWorkableWorkspace)
{
    const int64_t n = 20, d = 1000, k = 1;
    auto x = data::gaussian(n, d, data::seed(32));
    // one 1 x 1 tile: 2 rows x (d x 8 + 32) + 4 = 16,068 bytes; the selections: 200 n = 4,000
    // (within a quarter of the workspace), with the merge's scratch (2 d floats) 12,168
    Ctx tight(18000, 1);
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    auto got = run_knn(tight, m, nullptr, k, LSC_METRIC_EUCLIDEAN, true);
    auto ref = refnn::knn(x.data(), n, nullptr, 0, d, k, LSC_METRIC_EUCLIDEAN, true);
    EXPECT_EQ(refnn::check_knn(ref, x.data(), x.data(), d, LSC_METRIC_EUCLIDEAN, true,
                               got.dist.data(), got.idx.data()),
              "");
}

} // namespace
