// Precision, recall, density and coverage (docs/METRICS.md section 5) on the CPU backend against
// the naive float64 reference (reference_nn.hpp). Every figure is exact - every comparison is
// decided on exact distances - except for comparisons whose float64 distance lies within 1e-6
// relative of the radius: the reference counts those and allows exactly that much freedom.
#include "test_util.hpp"
#include "datasets.hpp"
#include "reference_nn.hpp"
#include "fp32_copy.hpp"
#include "ref_snapshot.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Ref {
    lsc_reference *r = nullptr;
    Ref() = default;
    Ref(const Ref &) = delete;
    Ref &operator=(const Ref &) = delete;
    ~Ref() { lsc_reference_destroy(r); }
};

void build(lsc_ctx *ctx, Ref &out, const lsc_matrix &real, int64_t k, lsc_metric metric,
           bool inclusive)
{
    lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
    o.metric = metric;
    o.comparison = inclusive ? LSC_COMPARISON_INCLUSIVE : LSC_COMPARISON_STRICT;
    lsc_status s = lsc_reference_create(ctx, &real, k, &o, &out.r);
    ASSERT_EQ(s, LSC_STATUS_OK) << lsc_last_error(ctx);
}

lsc_prdc_result prdc(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix &fake)
{
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    lsc_status s = lsc_prdc(ctx, ref, &fake, &r);
    EXPECT_EQ(s, LSC_STATUS_OK) << lsc_last_error(ctx);
    return r;
}

// Radii of a library reference against the reference's: 1e-6 relative (exact 0 stays 0).
std::string check_radii(const lsc_reference *ref, const std::vector<double> &want)
{
    const double *got = lsc_reference_radii(ref);
    for (size_t i = 0; i < want.size(); i++)
        if (!refnn::close_rel(got[i], want[i], 1e-6))
            return "radius " + std::to_string(i) + ": " + std::to_string(got[i]) + " vs " +
                   std::to_string(want[i]);
    return "";
}

// lsc_prdc_rows on the same sets: its figures equal lsc_prdc's, they are the shares its rows
// give, and every row's outcome lies in the reference's [lo, hi] for that row.
std::string check_rows(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix &fake,
                       const lsc_prdc_result &figures, const refnn::Prdc &want)
{
    const int64_t N = want.N, M = want.M;
    std::vector<unsigned char> flags((size_t)N, 0xee);
    std::vector<int64_t> counts((size_t)M, -1);
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    if (lsc_prdc_rows(ctx, ref, &fake, &r, flags.data(), counts.data()) != LSC_STATUS_OK)
        return std::string("lsc_prdc_rows: ") + lsc_last_error(ctx);
    if (std::memcmp(&r, &figures, sizeof r) != 0)
        return "lsc_prdc_rows's figures differ from lsc_prdc's";
    int64_t cov = 0, rec = 0, prec = 0, dens = 0;
    for (int64_t i = 0; i < N; i++) {
        const unsigned f = flags[(size_t)i];
        if (f & ~(LSC_ROW_COVERED | LSC_ROW_RECALLED))
            return "real row " + std::to_string(i) + ": stray bits";
        const int c = (f & LSC_ROW_COVERED) != 0, h = (f & LSC_ROW_RECALLED) != 0;
        if (c < want.cov_lo[(size_t)i] || c > want.cov_hi[(size_t)i])
            return "real row " + std::to_string(i) + ": covered " + std::to_string(c);
        if (h < want.rec_lo[(size_t)i] || h > want.rec_hi[(size_t)i])
            return "real row " + std::to_string(i) + ": recalled " + std::to_string(h);
        cov += c;
        rec += h;
    }
    for (int64_t j = 0; j < M; j++) {
        const int64_t c = counts[(size_t)j];
        if (c < want.fake_lo[(size_t)j] || c > want.fake_hi[(size_t)j])
            return "fake row " + std::to_string(j) + ": " + std::to_string(c) +
                   " balls, the reference " + std::to_string(want.fake_lo[(size_t)j]) + " to " +
                   std::to_string(want.fake_hi[(size_t)j]);
        prec += c > 0;
        dens += c;
    }
    if (cov != std::llround(r.coverage * (double)N) || rec != std::llround(r.recall * (double)N) ||
        prec != std::llround(r.precision * (double)M) ||
        dens != std::llround(r.density * (double)(want.k * M)))
        return "the rows' counts do not give the figures";
    return "";
}

// Builds a reference from dense float32 real rows, runs PRDC on dense fake rows and checks both
// against the reference implementation, the per-row outcomes too. Returns the library's result.
lsc_prdc_result check(lsc_ctx *ctx, const std::vector<float> &real, int64_t N,
                      const std::vector<float> &fake, int64_t M, int64_t d, int64_t k,
                      lsc_metric metric, bool inclusive, refnn::Prdc *out_ref = nullptr,
                      double border_rel = 1e-6)
{
    lsc_matrix mr = lsc_matrix_f32(real.data(), N, d), mf = lsc_matrix_f32(fake.data(), M, d);
    Ref ref;
    build(ctx, ref, mr, k, metric, inclusive);
    if (!ref.r) return lsc_prdc_result{};
    lsc_prdc_result got = prdc(ctx, ref.r, mf);
    auto want = refnn::prdc(real.data(), N, fake.data(), M, d, k, metric, inclusive, border_rel);
    EXPECT_EQ(refnn::check_prdc(want, got), "");
    EXPECT_EQ(check_rows(ctx, ref.r, mf, got, want), "");
    EXPECT_EQ(check_radii(ref.r, want.real_radii), "");
    lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
    EXPECT_EQ(lsc_reference_info_get(ref.r, &info), LSC_STATUS_OK);
    EXPECT_EQ(info.zero_radii, want.zero_real);
    EXPECT_EQ(info.rows, N);
    EXPECT_EQ(info.k, k);
    EXPECT_EQ(got.comparison, inclusive ? LSC_COMPARISON_INCLUSIVE : LSC_COMPARISON_STRICT);
    EXPECT_EQ(got.metric, metric);
    if (out_ref) *out_ref = want;
    return got;
}

TEST(Prdc, RandomRealAndFake)
{
    Ctx ctx;
    const uint64_t sd = data::seed(61);
    SCOPED_TRACE(sd);
    const int64_t N = 1000, M = 800, d = 64;
    auto real = data::gaussian(N, d, sd);
    auto fake = data::gaussian(M, d, sd + 1, 0.1, 1.1);
    for (bool inclusive : {false, true}) {
        SCOPED_TRACE(inclusive);
        refnn::Prdc want;
        auto got = check(ctx, real, N, fake, M, d, 5, LSC_METRIC_EUCLIDEAN, inclusive, &want);
        // a non-trivial case: every figure strictly between 0 and 1
        EXPECT_GT(got.precision, 0.0);
        EXPECT_LT(got.precision, 1.0);
        EXPECT_GT(got.recall, 0.0);
        EXPECT_LT(got.coverage, 1.0);
        EXPECT_GT(got.coverage, 0.0);
    }
}

TEST(Prdc, LargerSetsWideRows)
{
    Ctx ctx;
    const uint64_t sd = data::seed(75);
    SCOPED_TRACE(sd);
    const int64_t N = 1500, M = 1200, d = 128;
    auto real = data::rank_k(N, d, 24, sd);
    auto fake = data::rank_k(M, d, 24, sd + 10); // another subspace
    for (size_t e = 0; e < fake.size(); e++) fake[e] = 0.5f * fake[e] + 0.5f * real[e];
    check(ctx, real, N, fake, M, d, 5, LSC_METRIC_EUCLIDEAN, false);
    check(ctx, real, N, fake, M, d, 10, LSC_METRIC_COSINE, true);
}

TEST(Prdc, IdenticalSets)
{
    // fake = a copy of real, no ties: d(R_j, F_j) = 0 < r_j, so precision = recall = coverage =
    // 1; strict balls hold the row and its k - 1 nearer neighbours (the k-th lies on the
    // boundary), so density = 1; inclusive balls also hold the k-th: density = (k + 1) / k.
    // (Each k-th neighbour lies exactly on its radius, a borderline case docs/METRICS.md would let
    // go either way; the CPU backend computes every exact distance of a pair the same way, so
    // here it must give exactly these values.)
    Ctx ctx;
    const uint64_t sd = data::seed(62);
    SCOPED_TRACE(sd);
    const int64_t N = 500, d = 32;
    auto real = data::gaussian(N, d, sd);
    std::vector<float> fake = real;
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        for (int64_t k : {1, 5}) {
            SCOPED_TRACE(k);
            auto s = check(ctx, real, N, fake, N, d, k, metric, false);
            EXPECT_EQ(s.precision, 1.0);
            EXPECT_EQ(s.recall, 1.0);
            EXPECT_EQ(s.coverage, 1.0);
            EXPECT_EQ(s.density, 1.0);
            auto i = check(ctx, real, N, fake, N, d, k, metric, true);
            EXPECT_EQ(i.precision, 1.0);
            EXPECT_EQ(i.recall, 1.0);
            EXPECT_EQ(i.coverage, 1.0);
            EXPECT_EQ(i.density, (double)((k + 1) * N) / (double)(k * N));
        }
}

TEST(Prdc, IdenticalSetsWithExactDuplicates)
{
    // rows 1..k copy row 0: k + 1 identical rows, each with k copies, so radius 0. Under strict
    // comparisons those balls hold nothing: the rows are not covered although a fake row sits on
    // them; under inclusive they are.
    Ctx ctx;
    const uint64_t sd = data::seed(63);
    SCOPED_TRACE(sd);
    const int64_t N = 400, d = 16, k = 4;
    std::vector<std::pair<int64_t, int64_t>> dups;
    for (int64_t t = 1; t <= k; t++) dups.push_back({0, t});
    dups.push_back({100, 101}); // a pair: fewer than k copies, radius > 0
    auto real = data::with_duplicates(N, d, sd, dups);
    auto fake = real;
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        SCOPED_TRACE((int)metric);
        refnn::Prdc want;
        auto s = check(ctx, real, N, fake, N, d, k, metric, false, &want);
        EXPECT_EQ(s.zero_radii_real, k + 1);
        EXPECT_EQ(s.zero_radii_fake, k + 1);
        EXPECT_EQ(want.zero_real, k + 1);
        EXPECT_LE(s.coverage, (double)(N - (k + 1)) / (double)N);
        auto i = check(ctx, real, N, fake, N, d, k, metric, true);
        EXPECT_EQ(i.coverage, 1.0);
        EXPECT_EQ(i.recall, 1.0);
        EXPECT_EQ(i.precision, 1.0);
        EXPECT_EQ(i.zero_radii_real, k + 1);
    }
}

TEST(Prdc, ShiftedFake)
{
    Ctx ctx;
    const uint64_t sd = data::seed(64);
    SCOPED_TRACE(sd);
    const int64_t N = 600, d = 16;
    auto real = data::gaussian(N, d, sd);
    auto fake = data::gaussian(N, d, sd + 1);
    for (auto &v : fake) v += 0.5f;
    check(ctx, real, N, fake, N, d, 5, LSC_METRIC_EUCLIDEAN, false);
    check(ctx, real, N, fake, N, d, 5, LSC_METRIC_COSINE, false);
    // far away: nothing is in any ball
    for (auto &v : fake) v += 20.0f;
    auto far = check(ctx, real, N, fake, N, d, 5, LSC_METRIC_EUCLIDEAN, false);
    EXPECT_EQ(far.precision, 0.0);
    EXPECT_EQ(far.recall, 0.0);
    EXPECT_EQ(far.density, 0.0);
    EXPECT_EQ(far.coverage, 0.0);
}

TEST(Prdc, ModeCollapsedFake)
{
    // every fake row within 1e-3 of real row 7: precise, but covering almost nothing
    Ctx ctx;
    const uint64_t sd = data::seed(65);
    SCOPED_TRACE(sd);
    const int64_t N = 700, M = 500, d = 24;
    auto real = data::gaussian(N, d, sd);
    auto noise = data::gaussian(M, d, sd + 1, 0.0, 1e-3);
    std::vector<float> fake((size_t)(M * d));
    for (int64_t j = 0; j < M; j++)
        for (int64_t t = 0; t < d; t++)
            fake[(size_t)(j * d + t)] = real[(size_t)(7 * d + t)] + noise[(size_t)(j * d + t)];
    auto got = check(ctx, real, N, fake, M, d, 5, LSC_METRIC_EUCLIDEAN, false);
    EXPECT_EQ(got.precision, 1.0);
    // covered: row 7 and the rows whose k-th neighbour lies beyond it (a hub may have dozens)
    EXPECT_LT(got.coverage, 0.1);
    EXPECT_LT(got.recall, 0.1);
    EXPECT_GE(got.density, 1.0 / 5.0); // row 7's ball holds them all
    check(ctx, real, N, fake, M, d, 5, LSC_METRIC_COSINE, false);
    check(ctx, real, N, fake, M, d, 3, LSC_METRIC_EUCLIDEAN, true);
}

TEST(Prdc, StrictAndInclusiveDifferOnIntegerGrids)
{
    // small integer coordinates: every distance is exact in float32 arithmetic, many equal a
    // radius exactly, and strict and inclusive comparisons must give the defined, different
    // answers (no borderline freedom: the reference decides d == r exactly)
    Ctx ctx;
    const uint64_t sd = data::seed(66);
    SCOPED_TRACE(sd);
    std::mt19937_64 g(sd);
    const int64_t N = 300, M = 250, d = 3;
    std::vector<float> real((size_t)(N * d)), fake((size_t)(M * d));
    for (auto &v : real) v = (float)((int)(g() % 9) - 4);
    for (auto &v : fake) v = (float)((int)(g() % 11) - 5);
    refnn::Prdc ws, wi;
    auto s = check(ctx, real, N, fake, M, d, 4, LSC_METRIC_EUCLIDEAN, false, &ws, -1.0);
    auto i = check(ctx, real, N, fake, M, d, 4, LSC_METRIC_EUCLIDEAN, true, &wi, -1.0);
    EXPECT_LT(s.density, i.density);
    EXPECT_NE(ws.density.value, wi.density.value);
    EXPECT_GE(i.precision, s.precision);
    EXPECT_GE(i.coverage, s.coverage);
    EXPECT_GE(i.recall, s.recall);
    // the tiny case by hand: real on a line at 0, 1, 2, 3 with k = 1: every radius is 1; a fake
    // row at 1 is inside the balls of 1 only (strict) or of 0, 1, 2 (inclusive)
    std::vector<float> r4 = {0, 1, 2, 3}, f2 = {1, 10};
    auto hs = check(ctx, r4, 4, f2, 2, 1, 1, LSC_METRIC_EUCLIDEAN, false, nullptr, -1.0);
    auto hi = check(ctx, r4, 4, f2, 2, 1, 1, LSC_METRIC_EUCLIDEAN, true, nullptr, -1.0);
    EXPECT_EQ(hs.precision, 0.5);
    EXPECT_EQ(hs.density, 0.5);
    EXPECT_EQ(hs.coverage, 0.25);
    EXPECT_EQ(hi.precision, 0.5);
    EXPECT_EQ(hi.density, 1.5);
    EXPECT_EQ(hi.coverage, 0.75);
    // fake radii (k = 1): both 9; real rows within 9 of fake row 0 (at 1): all four, strictly
    EXPECT_EQ(hs.recall, 1.0);
    EXPECT_EQ(hi.recall, 1.0);
}

TEST(Prdc, DecisionsAreExactWhereTheFastFormCannotTell)
{
    // fine-grid points (exact arithmetic) in clusters 16 apart: every comparison d < r must be
    // decided as the exact values say, though the fast form's error exceeds many of the gaps
    Ctx ctx;
    const uint64_t sd = data::seed(74);
    SCOPED_TRACE(sd);
    const int64_t N = 600, M = 500, d = 8;
    auto real = data::fine_grid_clusters(N, d, sd, 2);
    auto fake = data::fine_grid_clusters(M, d, sd + 1, 2, 16.0, 40);
    for (bool inclusive : {false, true})
        for (int64_t k : {1, 5}) {
            SCOPED_TRACE(k * 2 + inclusive);
            refnn::Prdc want;
            auto got =
                check(ctx, real, N, fake, M, d, k, LSC_METRIC_EUCLIDEAN, inclusive, &want, -1.0);
            EXPECT_GT(got.precision, 0.0);
            EXPECT_GT(got.coverage, 0.0);
        }
}

TEST(Prdc, ZeroRadii)
{
    Ctx ctx;
    const uint64_t sd = data::seed(67);
    SCOPED_TRACE(sd);
    const int64_t N = 300, M = 200, d = 10, k = 3;
    // real: rows 10..13 copy row 5 (5 identical rows: radius 0), rows 50..52 copy 40 (4: 0)
    auto real = data::with_duplicates(
        N, d, sd, {{5, 10}, {5, 11}, {5, 12}, {5, 13}, {40, 50}, {40, 51}, {40, 52}, {60, 61}});
    // fake: 3 copies of real row 5 exactly, its k = 3 neighbours at distance 0 among themselves
    // only when there are 4 of them: add a fourth
    auto fake = data::gaussian(M, d, sd + 1);
    for (int64_t j : {0, 1, 2, 3})
        for (int64_t t = 0; t < d; t++) fake[(size_t)(j * d + t)] = real[(size_t)(5 * d + t)];
    for (bool inclusive : {false, true}) {
        SCOPED_TRACE(inclusive);
        refnn::Prdc want;
        auto got = check(ctx, real, N, fake, M, d, k, LSC_METRIC_EUCLIDEAN, inclusive, &want);
        EXPECT_EQ(got.zero_radii_real, 9);
        EXPECT_EQ(got.zero_radii_fake, 4);
        Ref ref;
        lsc_matrix mr = lsc_matrix_f32(real.data(), N, d);
        build(ctx, ref, mr, k, LSC_METRIC_EUCLIDEAN, inclusive);
        const double *radii = lsc_reference_radii(ref.r);
        for (int64_t i : {5, 10, 11, 12, 13, 40, 50, 51, 52}) EXPECT_EQ(radii[i], 0.0) << i;
        EXPECT_GT(radii[60], 0.0);
        // a fake set of nothing but those rows: under strict no ball holds anything
        std::vector<float> only((size_t)(5 * d));
        for (int64_t j = 0; j < 5; j++)
            for (int64_t t = 0; t < d; t++) only[(size_t)(j * d + t)] = real[(size_t)(5 * d + t)];
        auto o = check(ctx, real, N, only, 5, d, k, LSC_METRIC_EUCLIDEAN, inclusive);
        EXPECT_EQ(o.zero_radii_fake, 5);
        EXPECT_EQ(o.recall, inclusive ? 5.0 / N : 0.0);
        if (!inclusive) {
            // each fake copy of row 5 is at distance 0 from the zero-radius rows (not < 0)
            EXPECT_EQ(o.coverage, 0.0);
        } else {
            // those 5 rows, and any row whose k nearest are copies of row 5 (at its radius)
            EXPECT_GE(o.coverage, 5.0 / N);
        }
    }
}

TEST(Prdc, Cosine)
{
    Ctx ctx;
    const uint64_t sd = data::seed(68);
    SCOPED_TRACE(sd);
    const int64_t N = 800, M = 600, d = 48;
    auto real = data::gaussian(N, d, sd);
    auto fake = data::gaussian(M, d, sd + 1, 0.2, 1.0);
    check(ctx, real, N, fake, M, d, 5, LSC_METRIC_COSINE, false);
    check(ctx, real, N, fake, M, d, 5, LSC_METRIC_COSINE, true);
    // cosine ignores scale: fake = 4 x real gives the identical-set answers
    std::vector<float> scaled = real;
    for (auto &v : scaled) v *= 4.0f;
    auto s = check(ctx, real, N, scaled, N, d, 5, LSC_METRIC_COSINE, false);
    EXPECT_EQ(s.precision, 1.0);
    EXPECT_EQ(s.coverage, 1.0);
    EXPECT_EQ(s.density, 1.0);
}

TEST(Prdc, KEqualsOneAndDifferentSizes)
{
    Ctx ctx;
    const uint64_t sd = data::seed(69);
    SCOPED_TRACE(sd);
    const int64_t d = 20;
    auto a = data::gaussian(900, d, sd);
    auto b = data::gaussian(900, d, sd + 1, 0.0, 0.9);
    std::vector<float> b300(b.begin(), b.begin() + 300 * d);
    std::vector<float> a300(a.begin(), a.begin() + 300 * d);
    for (bool inclusive : {false, true}) {
        check(ctx, a, 900, b300, 300, d, 1, LSC_METRIC_EUCLIDEAN, inclusive);
        check(ctx, a300, 300, b, 900, d, 1, LSC_METRIC_EUCLIDEAN, inclusive);
        check(ctx, a, 900, b300, 300, d, 7, LSC_METRIC_EUCLIDEAN, inclusive);
        check(ctx, a300, 300, b, 900, d, 7, LSC_METRIC_COSINE, inclusive);
    }
    // the smallest sets: k = 1, two rows each
    check(ctx, std::vector<float>(a.begin(), a.begin() + 2 * d), 2,
          std::vector<float>(b.begin(), b.begin() + 2 * d), 2, d, 1, LSC_METRIC_EUCLIDEAN, false);
}

TEST(Prdc, LargeOffsetAndTightCluster)
{
    Ctx ctx;
    const uint64_t sd = data::seed(70);
    SCOPED_TRACE(sd);
    auto real = data::gaussian(500, 64, sd, 50.0, 1.0);
    auto fake = data::gaussian(400, 64, sd + 1, 50.0, 1.0);
    check(ctx, real, 500, fake, 400, 64, 5, LSC_METRIC_EUCLIDEAN, false);
    auto t = data::tight_cluster(900, 32, sd + 2, 1e-3);
    std::vector<float> tr(t.begin(), t.begin() + 500 * 32), tf(t.begin() + 500 * 32, t.end());
    auto got = check(ctx, tr, 500, tf, 400, 32, 5, LSC_METRIC_EUCLIDEAN, false);
    EXPECT_GT(got.precision, 0.5);
}

// Magnitudes at the ends of float32's range: subnormal products near 1e-20, products that
// could overflow float32 near 1e19 (every comparison is then decided on the exact value).
TEST(Prdc, TinyAndHugeMagnitudes)
{
    Ctx ctx;
    const uint64_t sd = data::seed(73);
    SCOPED_TRACE(sd);
    for (double scale : data::kExtremeScales) {
        SCOPED_TRACE(scale);
        auto real = data::scaled(data::gaussian(300, 40, sd), scale);
        auto fake = data::scaled(data::gaussian(250, 40, sd + 1, 0.2, 1.0), scale);
        check(ctx, real, 300, fake, 250, 40, 5, LSC_METRIC_EUCLIDEAN, false);
    }
}

TEST(Prdc, SavedAndLoadedReferenceGivesIdenticalResults)
{
    Ctx ctx;
    const uint64_t sd = data::seed(71);
    SCOPED_TRACE(sd);
    const int64_t N = 500, M = 400, d = 30;
    auto real = data::gaussian(N, d, sd);
    auto fake = data::gaussian(M, d, sd + 1, 0.1, 1.0);
    lsc_matrix mr = lsc_matrix_f32(real.data(), N, d), mf = lsc_matrix_f32(fake.data(), M, d);
    std::string path =
        ::testing::TempDir() + "lsc_test_prdc_" + std::to_string(getpid()) + ".lscref";
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        for (bool inclusive : {false, true}) {
            SCOPED_TRACE((int)metric * 2 + inclusive);
            Ref a, b;
            build(ctx, a, mr, 4, metric, inclusive);
            ASSERT_EQ(lsc_reference_save(ctx, a.r, path.c_str()), LSC_STATUS_OK)
                << lsc_last_error(ctx);
            ASSERT_EQ(lsc_reference_load(ctx, path.c_str(), &b.r), LSC_STATUS_OK)
                << lsc_last_error(ctx);
            std::remove(path.c_str());
            lsc_reference_info ia = LSC_REFERENCE_INFO_INIT, ib = LSC_REFERENCE_INFO_INIT;
            ASSERT_EQ(lsc_reference_info_get(a.r, &ia), LSC_STATUS_OK);
            ASSERT_EQ(lsc_reference_info_get(b.r, &ib), LSC_STATUS_OK);
            EXPECT_EQ(ia.file_version, 0); // built in memory
            EXPECT_EQ(ib.file_version, 2); // loaded from the file just written
            ib.file_version = ia.file_version;
            EXPECT_EQ(std::memcmp(&ia, &ib, sizeof ia), 0);
            EXPECT_EQ(std::memcmp(lsc_reference_radii(a.r), lsc_reference_radii(b.r),
                                  (size_t)N * sizeof(double)),
                      0);
            auto ra = prdc(ctx, a.r, mf), rb = prdc(ctx, b.r, mf);
            EXPECT_EQ(std::memcmp(&ra, &rb, sizeof ra), 0);
            auto want = refnn::prdc(real.data(), N, fake.data(), M, d, 4, metric, inclusive);
            EXPECT_EQ(refnn::check_prdc(want, rb), "");
            // one reference, many fake sets
            auto fake2 = data::gaussian(M, d, sd + 2);
            lsc_matrix mf2 = lsc_matrix_f32(fake2.data(), M, d);
            auto r2 = prdc(ctx, b.r, mf2);
            auto want2 = refnn::prdc(real.data(), N, fake2.data(), M, d, 4, metric, inclusive);
            EXPECT_EQ(refnn::check_prdc(want2, r2), "");
        }
}

// lsc_reference_opts.borrow_rows: dense float32 host rows are read where they are (the same radii
// and figures as a copy, the input untouched, a saved file the same bytes); any other input is
// copied as without it; values other than 0 and 1 are refused.
TEST(Prdc, BorrowedRowsGiveTheSameReference)
{
    Ctx ctx;
    const uint64_t sd = data::seed(73);
    SCOPED_TRACE(sd);
    const int64_t N = 400, M = 300, d = 24, k = 5;
    auto real = data::gaussian(N, d, sd);
    auto fake = data::gaussian(M, d, sd + 1, 0.1, 1.0);
    const auto real_before = real;
    lsc_matrix mr = lsc_matrix_f32(real.data(), N, d), mf = lsc_matrix_f32(fake.data(), M, d);
    std::vector<float> padded((size_t)(N * (d + 2)), 7.0f); // a leading dimension: copied
    for (int64_t i = 0; i < N; i++)
        std::copy(&real[(size_t)(i * d)], &real[(size_t)(i * d)] + d,
                  &padded[(size_t)(i * (d + 2))]);
    lsc_matrix mp = {padded.data(), LSC_DTYPE_F32, N, d, d + 2, LSC_MEMORY_HOST};
    const std::string dir = ::testing::TempDir() + "lsc_test_borrow_" + std::to_string(getpid());
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        SCOPED_TRACE((int)metric);
        lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
        o.metric = metric;
        Ref copied, borrowed, from_padded;
        ASSERT_EQ(lsc_reference_create(ctx, &mr, k, &o, &copied.r), LSC_STATUS_OK);
        o.borrow_rows = 1;
        ASSERT_EQ(lsc_reference_create(ctx, &mr, k, &o, &borrowed.r), LSC_STATUS_OK)
            << lsc_last_error(ctx);
        ASSERT_EQ(lsc_reference_create(ctx, &mp, k, &o, &from_padded.r), LSC_STATUS_OK);
        for (const Ref *r : {&borrowed, &from_padded}) {
            EXPECT_EQ(std::memcmp(lsc_reference_radii(copied.r), lsc_reference_radii(r->r),
                                  (size_t)N * sizeof(double)),
                      0);
            auto a = prdc(ctx, copied.r, mf), b = prdc(ctx, r->r, mf);
            EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
        }
        EXPECT_EQ(real, real_before); // never written
        // saved, the two files are the same bytes; loaded, the reference owns its rows
        const std::string pa = dir + "_a.lscref", pb = dir + "_b.lscref";
        ASSERT_EQ(lsc_reference_save(ctx, copied.r, pa.c_str()), LSC_STATUS_OK);
        ASSERT_EQ(lsc_reference_save(ctx, borrowed.r, pb.c_str()), LSC_STATUS_OK);
        std::ifstream fa(pa, std::ios::binary), fb(pb, std::ios::binary);
        std::string ba((std::istreambuf_iterator<char>(fa)), std::istreambuf_iterator<char>());
        std::string bb((std::istreambuf_iterator<char>(fb)), std::istreambuf_iterator<char>());
        EXPECT_FALSE(ba.empty());
        EXPECT_EQ(ba, bb);
        std::remove(pa.c_str());
        std::remove(pb.c_str());
    }
    // the borrowed reference reads the caller's rows in place (callers must keep them unchanged;
    // this only shows that no copy was made): moving every real row far away changes coverage
    lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
    o.borrow_rows = 1;
    Ref live;
    ASSERT_EQ(lsc_reference_create(ctx, &mr, k, &o, &live.r), LSC_STATUS_OK);
    const auto before = prdc(ctx, live.r, mf);
    EXPECT_GT(before.coverage, 0.0);
    for (float &v : real) v += 1000.0f;
    const auto after = prdc(ctx, live.r, mf);
    EXPECT_EQ(after.coverage, 0.0);
    real = real_before;
    o.borrow_rows = 2;
    Ref bad;
    EXPECT_EQ(lsc_reference_create(ctx, &mr, k, &o, &bad.r), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("borrow_rows"), std::string::npos)
        << lsc_last_error(ctx);
    EXPECT_EQ(bad.r, nullptr);
}

TEST(Prdc, RowOrderDoesNotChangeTheFigures)
{
    Ctx ctx;
    const uint64_t sd = data::seed(72);
    SCOPED_TRACE(sd);
    const int64_t N = 600, M = 500, d = 20, k = 5;
    auto real = data::with_duplicates(N, d, sd, {{0, 1}, {0, 2}, {0, 3}, {0, 4}, {0, 5}});
    auto fake = data::gaussian(M, d, sd + 1, 0.2, 1.0);
    auto permute = [&](const std::vector<float> &x, int64_t n, uint64_t s) {
        std::vector<int64_t> p((size_t)n);
        std::iota(p.begin(), p.end(), (int64_t)0);
        std::shuffle(p.begin(), p.end(), std::mt19937_64(s));
        std::vector<float> y((size_t)(n * d));
        for (int64_t r = 0; r < n; r++)
            std::copy(&x[p[(size_t)r] * d], &x[p[(size_t)r] * d] + d, &y[r * d]);
        return y;
    };
    auto rp = permute(real, N, sd + 2), fp = permute(fake, M, sd + 3);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        for (bool inclusive : {false, true}) {
            refnn::Prdc want;
            auto a = check(ctx, real, N, fake, M, d, k, metric, inclusive, &want);
            auto b = check(ctx, rp, N, fp, M, d, k, metric, inclusive);
            // exact decisions: equal figures unless some comparison is borderline (none with
            // the default seed; else both lie in the reference's range, checked above)
            if (want.borderline == 0) {
                EXPECT_EQ(a.precision, b.precision);
                EXPECT_EQ(a.recall, b.recall);
                EXPECT_EQ(a.density, b.density);
                EXPECT_EQ(a.coverage, b.coverage);
            }
            EXPECT_EQ(a.zero_radii_real, b.zero_radii_real);
            EXPECT_EQ(a.zero_radii_real, 6);
        }
}

TEST(Prdc, TilesThreadsAndDtypesDoNotChangeTheFigures)
{
    Ctx big, tiny(128 << 10, 2), one(0, 1), tiny1(40 << 10, 1), three(0, 3);
    const uint64_t sd = data::seed(73);
    SCOPED_TRACE(sd);
    const int64_t N = 500, M = 450, d = 40, k = 5;
    auto real = data::gaussian(N, d, sd, 1.0, 1.0);
    auto fake = data::gaussian(M, d, sd + 1, 1.1, 1.0);
    lsc_matrix mr = lsc_matrix_f32(real.data(), N, d), mf = lsc_matrix_f32(fake.data(), M, d);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        SCOPED_TRACE((int)metric);
        Ref r0;
        build(big, r0, mr, k, metric, false);
        auto base = prdc(big, r0.r, mf);
        auto want = refnn::prdc(real.data(), N, fake.data(), M, d, k, metric, false);
        EXPECT_EQ(refnn::check_prdc(want, base), "");
        for (lsc_ctx *c : {tiny.ctx, one.ctx, tiny1.ctx, three.ctx}) {
            Ref r1;
            build(c, r1, mr, k, metric, false);
            EXPECT_EQ(std::memcmp(lsc_reference_radii(r0.r), lsc_reference_radii(r1.r),
                                  (size_t)N * sizeof(double)),
                      0);
            auto got = prdc(c, r1.r, mf);
            EXPECT_EQ(std::memcmp(&got, &base, sizeof got), 0);
        }
    }
    // float64 real rows and bfloat16 fake rows: the figures of their float32 values
    std::vector<double> r64(real.begin(), real.end());
    for (size_t e = 0; e < r64.size(); e++) r64[e] += 1e-10 * (double)(e % 5);
    std::vector<float> r64v(r64.begin(), r64.end());
    std::vector<uint16_t> fbf(fake.size());
    std::vector<float> fbv(fake.size());
    for (size_t e = 0; e < fake.size(); e++) {
        uint32_t bits;
        std::memcpy(&bits, &fake[e], 4);
        fbf[e] = (uint16_t)(bits >> 16);
        bits &= 0xffff0000u;
        std::memcpy(&fbv[e], &bits, 4);
    }
    // real rows as float64 with a leading dimension: padding out of the float32 range, never read
    const int64_t ld = d + 3;
    std::vector<double> r64p((size_t)(N * ld), 1e300);
    for (int64_t i = 0; i < N; i++)
        std::copy(&r64[(size_t)(i * d)], &r64[(size_t)(i * d)] + d, &r64p[(size_t)(i * ld)]);
    lsc_matrix m64 = {r64p.data(), LSC_DTYPE_F64, N, d, ld, LSC_MEMORY_HOST};
    lsc_matrix mbf = {fbf.data(), LSC_DTYPE_BF16, M, d, d, LSC_MEMORY_HOST};
    Ref rr;
    build(big, rr, m64, k, LSC_METRIC_EUCLIDEAN, true);
    auto got = prdc(big, rr.r, mbf);
    auto want = refnn::prdc(r64v.data(), N, fbv.data(), M, d, k, LSC_METRIC_EUCLIDEAN, true);
    EXPECT_EQ(refnn::check_prdc(want, got), "");
    EXPECT_EQ(check_radii(rr.r, want.real_radii), "");
}

TEST(Prdc, CoverageExpectedIsTheClosedForm)
{
    // E = 1 - C(N-1, k) / C(N+M-1, k), from log-binomials in long double, independently of the
    // library's product form; and known answers by hand
    auto closed = [](int64_t n, int64_t m, int64_t k) {
        auto lbin = [](long double a, long double b) {
            return std::lgamma(a + 1) - std::lgamma(b + 1) - std::lgamma(a - b + 1);
        };
        return (double)(1.0L - std::exp(lbin((long double)(n - 1), (long double)k) -
                                        lbin((long double)(n + m - 1), (long double)k)));
    };
    Ctx ctx;
    struct Case {
        int64_t n, m, k;
        double want; // < 0: from `closed`
    } cases[] = {{2, 2, 1, 2.0 / 3.0}, {3, 2, 1, 0.5},   {3, 3, 2, 1.0 - 1.0 / 10.0},
                 {50, 10, 5, -1},      {400, 90, 5, -1}, {400, 2000, 20, -1},
                 {1000, 7, 3, -1}};
    for (const auto &c : cases) {
        SCOPED_TRACE(std::to_string(c.n) + " " + std::to_string(c.m) + " " + std::to_string(c.k));
        auto real = data::gaussian(c.n, 3, data::seed(70));
        auto fake = data::gaussian(c.m, 3, data::seed(71));
        if (c.m <= c.k) continue;
        lsc_matrix r = lsc_matrix_f32(real.data(), c.n, 3), f = lsc_matrix_f32(fake.data(), c.m, 3);
        lsc_reference *ref = nullptr;
        ASSERT_EQ(lsc_reference_create(ctx, &r, c.k, nullptr, &ref), LSC_STATUS_OK);
        lsc_prdc_result got = LSC_PRDC_RESULT_INIT;
        ASSERT_EQ(lsc_prdc(ctx, ref, &f, &got), LSC_STATUS_OK) << lsc_last_error(ctx);
        const double want = c.want >= 0 ? c.want : closed(c.n, c.m, c.k);
        EXPECT_NEAR(got.coverage_expected, want, 1e-12);
        EXPECT_NEAR(closed(c.n, c.m, c.k), want, 1e-12);
        lsc_reference_destroy(ref);
    }
}

TEST(Prdc, CoverageOfIdenticalDistributionsAveragesTheClosedForm)
{
    // the closed form is a known truth: over 300 pairs of independent draws of one continuous
    // distribution (no ties), the mean coverage lies within 4 standard errors of it
    Ctx ctx;
    const int64_t n = 120, m = 40, k = 5, d = 4;
    const int draws = 300;
    double sum = 0.0, sum2 = 0.0, expected = 0.0;
    for (int t = 0; t < draws; t++) {
        auto real = data::gaussian(n, d, data::seed(2000 + 2 * (uint64_t)t));
        auto fake = data::gaussian(m, d, data::seed(2001 + 2 * (uint64_t)t));
        lsc_matrix r = lsc_matrix_f32(real.data(), n, d), f = lsc_matrix_f32(fake.data(), m, d);
        lsc_reference *ref = nullptr;
        ASSERT_EQ(lsc_reference_create(ctx, &r, k, nullptr, &ref), LSC_STATUS_OK);
        lsc_prdc_result got = LSC_PRDC_RESULT_INIT;
        ASSERT_EQ(lsc_prdc(ctx, ref, &f, &got), LSC_STATUS_OK);
        sum += got.coverage;
        sum2 += got.coverage * got.coverage;
        expected = got.coverage_expected;
        lsc_reference_destroy(ref);
    }
    const double mean = sum / draws, var = sum2 / draws - mean * mean;
    const double se = std::sqrt(var / draws);
    EXPECT_NEAR(mean, expected, 4.0 * se) << "mean " << mean << " closed form " << expected;
    EXPECT_GT(se, 0.0);
}

// One reference read by two threads at once, each with its own context (lsc.h section 7: a
// reference is read-only once made): every figure and per-row outcome equals the one-thread
// answer, and the reference object and what it points to are the same bytes afterwards.
TEST(Prdc, AReferenceIsSharedReadOnlyByTwoThreads)
{
    Ctx ctx;
    const uint64_t sd = data::seed(91);
    SCOPED_TRACE(sd);
    const int64_t N = 500, M = 300, d = 20, k = 5;
    auto real = data::gaussian(N, d, sd);
    const std::vector<std::vector<float>> fakes = {data::gaussian(M, d, sd + 1, 0.2, 1.0),
                                                   data::rank_k(M, d, 3, sd + 2, 1.0)};
    lsc_matrix mr = lsc_matrix_f32(real.data(), N, d);
    Ref ref;
    ASSERT_EQ(lsc_reference_create(ctx, &mr, k, nullptr, &ref.r), LSC_STATUS_OK);
    ASSERT_EQ(lsc_reference_prepare(ctx, ref.r, 3), LSC_STATUS_OK) << lsc_last_error(ctx);
    struct Rows {
        lsc_prdc_result r;
        std::vector<unsigned char> flags;
        std::vector<int64_t> counts;
    };
    auto run = [&](lsc_ctx *c, size_t f, Rows &out) {
        lsc_matrix mf = lsc_matrix_f32(fakes[f].data(), M, d);
        out.r = LSC_PRDC_RESULT_INIT;
        out.flags.assign((size_t)N, 0xee);
        out.counts.assign((size_t)M, -7);
        return lsc_prdc_rows(c, ref.r, &mf, &out.r, out.flags.data(), out.counts.data());
    };
    std::vector<Rows> want(fakes.size());
    for (size_t f = 0; f < fakes.size(); f++) ASSERT_EQ(run(ctx, f, want[f]), LSC_STATUS_OK);
    const RefSnapshot before(ref.r);
    std::vector<std::string> why(2);
    auto work = [&](int t) {
        Ctx own(0, 1);
        for (int rep = 0; rep < 4; rep++)
            for (size_t f = 0; f < fakes.size(); f++) {
                Rows got;
                lsc_status s = run(own, (f + (size_t)t) % fakes.size(), got);
                const Rows &w = want[(f + (size_t)t) % fakes.size()];
                if (s != LSC_STATUS_OK) why[t] = lsc_last_error(own);
                else if (std::memcmp(&got.r, &w.r, sizeof got.r) != 0 || got.flags != w.flags ||
                         got.counts != w.counts)
                    why[t] = "rep " + std::to_string(rep) + ": the results differ";
            }
    };
    std::thread a(work, 0), b(work, 1);
    a.join();
    b.join();
    EXPECT_EQ(why[0], "");
    EXPECT_EQ(why[1], "");
    EXPECT_TRUE(before.unchanged(ref.r)) << "a call wrote through a const reference";
    // the CPU backend keeps no device references: it reads this one as it is
    lsc_reference *dev = nullptr;
    EXPECT_EQ(lsc_reference_to_device(ctx, ref.r, &dev), LSC_STATUS_NOT_SUPPORTED);
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("no device references"), std::string::npos)
        << lsc_last_error(ctx);
    EXPECT_EQ(dev, nullptr);
    EXPECT_TRUE(before.unchanged(ref.r));
}

} // namespace
