// Distance blocks (docs/METRICS.md section 2) on the CPU backend against the naive float64
// reference: every entry within 1e-5 x d + 1e-6 x (||x - c|| + ||y - c||), c = the mean of b (the
// centre the library uses); for cosine the rows are normalised, not centred, so the bound applies
// to the chord ||x/|x| - y/|y||| with c = 0. A self-distance is exactly 0.
#include "test_util.hpp"
#include "datasets.hpp"
#include "reference_nn.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <vector>

namespace {

// Checks out (na x nb, leading dimension ld_out) against the reference; "" when it passes.
std::string check_block(const float *a, int64_t na, const float *b, int64_t nb, int64_t d,
                        lsc_metric metric, const float *out, int64_t ld_out)
{
    auto ref = refnn::distance_block(a, na, b, nb, d, LSC_METRIC_EUCLIDEAN);
    std::vector<double> an, bn, c;
    if (metric == LSC_METRIC_COSINE) {
        an = refnn::normalised(a, na, d);
        bn = refnn::normalised(b, nb, d);
    } else {
        c = refnn::column_mean(b, nb, d);
    }
    std::vector<double> ra((size_t)na), rb((size_t)nb);
    for (int64_t i = 0; i < na; i++)
        ra[(size_t)i] = metric == LSC_METRIC_COSINE ? 1.0 : refnn::norm_to(a + i * d, c.data(), d);
    for (int64_t j = 0; j < nb; j++)
        rb[(size_t)j] = metric == LSC_METRIC_COSINE ? 1.0 : refnn::norm_to(b + j * d, c.data(), d);
    std::ostringstream err;
    err.precision(10);
    for (int64_t i = 0; i < na; i++)
        for (int64_t j = 0; j < nb; j++) {
            double got = out[i * ld_out + j];
            if (!(got >= 0.0)) {
                err << "(" << i << "," << j << ") is " << got;
                return err.str();
            }
            double want, have;
            if (metric == LSC_METRIC_COSINE) {
                double s = 0.0;
                for (int64_t t = 0; t < d; t++) {
                    double e = an[(size_t)(i * d + t)] - bn[(size_t)(j * d + t)];
                    s += e * e;
                }
                want = std::sqrt(s);         // chord
                have = std::sqrt(2.0 * got); // chord of the reported cosine distance
            } else {
                want = ref[(size_t)(i * nb + j)];
                have = metric == LSC_METRIC_SQEUCLIDEAN ? std::sqrt(got) : got;
            }
            double tol = 1e-5 * want + 1e-6 * (ra[(size_t)i] + rb[(size_t)j]);
            if (std::fabs(have - want) > tol) {
                err << "(" << i << "," << j << "): " << have << " against " << want
                    << " (tolerance " << tol << ")";
                return err.str();
            }
        }
    return "";
}

std::vector<float> run(lsc_ctx *ctx, const lsc_matrix &a, const lsc_matrix &b, lsc_metric metric,
                       int64_t ld_out)
{
    std::vector<float> out((size_t)(a.rows * ld_out), -7.0f);
    lsc_status s = lsc_distances(ctx, &a, &b, metric, out.data(), ld_out, LSC_MEMORY_HOST);
    EXPECT_EQ(s, LSC_STATUS_OK) << lsc_last_error(ctx);
    return out;
}

const lsc_metric kMetrics[] = {LSC_METRIC_EUCLIDEAN, LSC_METRIC_SQEUCLIDEAN, LSC_METRIC_COSINE};

TEST(Distances, RandomBlocksEveryMetric)
{
    Ctx ctx;
    const uint64_t sd = data::seed(31);
    SCOPED_TRACE(sd);
    const int64_t na = 300, nb = 450, d = 128;
    auto a = data::gaussian(na, d, sd);
    auto b = data::gaussian(nb, d, sd + 1);
    lsc_matrix ma = lsc_matrix_f32(a.data(), na, d), mb = lsc_matrix_f32(b.data(), nb, d);
    for (lsc_metric m : kMetrics) {
        SCOPED_TRACE((int)m);
        auto out = run(ctx, ma, mb, m, nb);
        EXPECT_EQ(check_block(a.data(), na, b.data(), nb, d, m, out.data(), nb), "");
    }
}

TEST(Distances, WideRowsAndSmallBlocks)
{
    Ctx ctx;
    const uint64_t sd = data::seed(32);
    for (int64_t d : {1, 2, 7, 256}) {
        SCOPED_TRACE(d);
        auto a = data::gaussian(37, d, sd + (uint64_t)d);
        auto b = data::gaussian(53, d, sd + 100 + (uint64_t)d);
        lsc_matrix ma = lsc_matrix_f32(a.data(), 37, d), mb = lsc_matrix_f32(b.data(), 53, d);
        for (lsc_metric m : kMetrics) {
            SCOPED_TRACE((int)m);
            auto out = run(ctx, ma, mb, m, 53);
            EXPECT_EQ(check_block(a.data(), 37, b.data(), 53, d, m, out.data(), 53), "");
        }
    }
    // one row against one row
    auto x = data::gaussian(2, 9, sd + 5);
    lsc_matrix m0 = lsc_matrix_f32(x.data(), 1, 9), m1 = lsc_matrix_f32(x.data() + 9, 1, 9);
    auto out = run(ctx, m0, m1, LSC_METRIC_EUCLIDEAN, 1);
    EXPECT_EQ(check_block(x.data(), 1, x.data() + 9, 1, 9, LSC_METRIC_EUCLIDEAN, out.data(), 1),
              "");
}

TEST(Distances, SelfDistancesAreExactlyZero)
{
    Ctx ctx;
    const uint64_t sd = data::seed(33);
    const int64_t n = 220, d = 96;
    for (double offset : {0.0, 50.0}) {
        auto x = data::gaussian(n, d, sd, offset, 1.0);
        // and a duplicated row: its copies are at exactly 0 as well
        for (int64_t t = 0; t < d; t++) x[(size_t)(17 * d + t)] = x[(size_t)(5 * d + t)];
        lsc_matrix mx = lsc_matrix_f32(x.data(), n, d);
        for (lsc_metric m : kMetrics) {
            SCOPED_TRACE((int)m);
            auto out = run(ctx, mx, mx, m, n);
            for (int64_t i = 0; i < n; i++) ASSERT_EQ(out[(size_t)(i * n + i)], 0.0f) << i;
            EXPECT_EQ(out[(size_t)(5 * n + 17)], 0.0f);
            EXPECT_EQ(out[(size_t)(17 * n + 5)], 0.0f);
            EXPECT_EQ(check_block(x.data(), n, x.data(), n, d, m, out.data(), n), "");
            // symmetric up to the tolerance
            for (int64_t i = 0; i < n; i += 7)
                for (int64_t j = 0; j < n; j += 5)
                    EXPECT_NEAR(out[(size_t)(i * n + j)], out[(size_t)(j * n + i)],
                                1e-5 * out[(size_t)(i * n + j)] + 1e-4 * std::sqrt((double)d));
        }
    }
}

TEST(Distances, LeadingDimensionOfTheOutput)
{
    Ctx ctx;
    const uint64_t sd = data::seed(34);
    const int64_t na = 41, nb = 29, d = 13, ld_out = 35;
    auto a = data::gaussian(na, d, sd);
    auto b = data::gaussian(nb, d, sd + 1);
    lsc_matrix ma = lsc_matrix_f32(a.data(), na, d), mb = lsc_matrix_f32(b.data(), nb, d);
    for (lsc_metric m : kMetrics) {
        SCOPED_TRACE((int)m);
        auto out = run(ctx, ma, mb, m, ld_out);
        EXPECT_EQ(check_block(a.data(), na, b.data(), nb, d, m, out.data(), ld_out), "");
        // the gap between rows is never written
        for (int64_t i = 0; i < na; i++)
            for (int64_t j = nb; j < ld_out; j++)
                ASSERT_EQ(out[(size_t)(i * ld_out + j)], -7.0f) << i << "," << j;
    }
}

TEST(Distances, InputLeadingDimensionAndDtypes)
{
    Ctx ctx;
    const uint64_t sd = data::seed(35);
    const int64_t na = 60, nb = 80, d = 21, ld = 30;
    auto a = data::gaussian(na, d, sd);
    auto b = data::gaussian(nb, d, sd + 1);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> ap((size_t)(na * ld), nan);
    for (int64_t i = 0; i < na; i++)
        for (int64_t t = 0; t < d; t++) ap[(size_t)(i * ld + t)] = a[(size_t)(i * d + t)];
    lsc_matrix ma = {ap.data(), LSC_DTYPE_F32, na, d, ld, LSC_MEMORY_HOST};
    lsc_matrix mb = lsc_matrix_f32(b.data(), nb, d);
    for (lsc_metric m : kMetrics) {
        auto out = run(ctx, ma, mb, m, nb);
        EXPECT_EQ(check_block(a.data(), na, b.data(), nb, d, m, out.data(), nb), "");
    }
    // float64 and bfloat16 inputs: the distances of their float32 values
    std::vector<double> a64((size_t)(na * d));
    std::vector<float> a64v((size_t)(na * d));
    for (size_t e = 0; e < a64.size(); e++) {
        a64[e] = (double)a[e] + 1e-9 * (double)(e % 3); // digits float32 drops
        a64v[e] = (float)a64[e];
    }
    std::vector<uint16_t> bbf((size_t)(nb * d));
    std::vector<float> bbv((size_t)(nb * d));
    for (size_t e = 0; e < bbf.size(); e++) {
        uint32_t bits;
        std::memcpy(&bits, &b[e], 4);
        bbf[e] = (uint16_t)(bits >> 16);
        bits &= 0xffff0000u;
        std::memcpy(&bbv[e], &bits, 4);
    }
    lsc_matrix m64 = {a64.data(), LSC_DTYPE_F64, na, d, d, LSC_MEMORY_HOST};
    lsc_matrix mbf = {bbf.data(), LSC_DTYPE_BF16, nb, d, d, LSC_MEMORY_HOST};
    for (lsc_metric m : kMetrics) {
        auto out = run(ctx, m64, mbf, m, nb);
        EXPECT_EQ(check_block(a64v.data(), na, bbv.data(), nb, d, m, out.data(), nb), "");
    }
}

TEST(Distances, LargeCommonOffsetAndTightCluster)
{
    Ctx ctx;
    const uint64_t sd = data::seed(36);
    SCOPED_TRACE(sd);
    {
        auto a = data::gaussian(150, 64, sd, 50.0, 1.0);
        auto b = data::gaussian(170, 64, sd + 1, 50.0, 1.0);
        lsc_matrix ma = lsc_matrix_f32(a.data(), 150, 64), mb = lsc_matrix_f32(b.data(), 170, 64);
        for (lsc_metric m : kMetrics) {
            SCOPED_TRACE((int)m);
            auto out = run(ctx, ma, mb, m, 170);
            EXPECT_EQ(check_block(a.data(), 150, b.data(), 170, 64, m, out.data(), 170), "");
        }
    }
    {
        // distances ~ 1e-3 next to norms ~ 6: only the centred form keeps them
        auto x = data::tight_cluster(200, 40, sd + 2, 1e-3);
        lsc_matrix ma = lsc_matrix_f32(x.data(), 90, 40);
        lsc_matrix mb = lsc_matrix_f32(x.data() + 90 * 40, 110, 40);
        for (lsc_metric m : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_SQEUCLIDEAN}) {
            auto out = run(ctx, ma, mb, m, 110);
            EXPECT_EQ(check_block(x.data(), 90, x.data() + 90 * 40, 110, 40, m, out.data(), 110),
                      "");
        }
    }
}

// Magnitudes at the ends of float32's range: subnormal products near 1e-20, products that
// could overflow float32 near 1e19 (every entry is then the exact value).
TEST(Distances, TinyAndHugeMagnitudes)
{
    Ctx ctx;
    const uint64_t sd = data::seed(39);
    SCOPED_TRACE(sd);
    for (double scale : data::kExtremeScales) {
        SCOPED_TRACE(scale);
        auto a = data::scaled(data::gaussian(70, 48, sd), scale);
        auto b = data::scaled(data::gaussian(90, 48, sd + 1), scale);
        lsc_matrix ma = lsc_matrix_f32(a.data(), 70, 48), mb = lsc_matrix_f32(b.data(), 90, 48);
        for (lsc_metric m : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
            SCOPED_TRACE((int)m);
            auto out = run(ctx, ma, mb, m, 90);
            EXPECT_EQ(check_block(a.data(), 70, b.data(), 90, 48, m, out.data(), 90), "");
        }
    }
}

TEST(Distances, TinyWorkspaceMatchesTheReference)
{
    Ctx small(32 << 10), big;
    const uint64_t sd = data::seed(37);
    const int64_t na = 130, nb = 170, d = 50;
    auto a = data::gaussian(na, d, sd, 2.0, 1.0);
    auto b = data::gaussian(nb, d, sd + 1, 2.0, 1.0);
    lsc_matrix ma = lsc_matrix_f32(a.data(), na, d), mb = lsc_matrix_f32(b.data(), nb, d);
    for (lsc_metric m : kMetrics) {
        auto o1 = run(small, ma, mb, m, nb);
        auto o2 = run(big, ma, mb, m, nb);
        EXPECT_EQ(check_block(a.data(), na, b.data(), nb, d, m, o1.data(), nb), "");
        EXPECT_EQ(check_block(a.data(), na, b.data(), nb, d, m, o2.data(), nb), "");
    }
}

} // namespace
