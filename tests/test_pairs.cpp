// All-pairs statistics (docs/METRICS.md section 3) on the CPU backend against the naive float64
// reference (reference_nn.hpp). Tolerances (docs/METRICS.md "Tolerances"): mean and std within 2e-4
// relative or 1e-9 absolute; min, max and the nearest-neighbour figures are exact distances, within
// 1e-6 relative; histogram counts and near-duplicate counts are exact except for pairs lying on a
// bin edge (within 1e-9 B) or within 1e-6 relative of dup_eps, which the reference counts.
#include "test_util.hpp"
#include "datasets.hpp"
#include "reference_nn.hpp"

#include "lsc_common.h"
#include "geometry_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <numeric>
#include <random>
#include <sstream>
#include <vector>

namespace {

struct Out {
    lsc_status status = LSC_STATUS_OK;
    lsc_pair_result r = LSC_PAIR_RESULT_INIT;
    std::vector<int64_t> hist;
    std::vector<lsc_pair> dups;
};

Out run(lsc_ctx *ctx, const lsc_matrix &x, const lsc_pair_opts &o)
{
    Out out;
    out.hist.assign((size_t)o.bins, -1);
    out.dups.assign((size_t)std::max<int64_t>(o.dup_report, 1), lsc_pair{-1, -1, -1.0});
    out.status = lsc_pair_stats(ctx, &x, &o, &out.r, out.hist.data(), out.dups.data());
    EXPECT_EQ(out.status, LSC_STATUS_OK) << lsc_last_error(ctx);
    return out;
}

bool cont_close(double got, double want) // continuous figures: 2e-4 relative or 1e-9 absolute
{
    return std::fabs(got - want) <= std::max(2e-4 * std::fabs(want), 1e-9);
}

// Compares a library result with the reference; "" when it passes.
std::string compare(const Out &got, const refnn::PairStats &ref, const lsc_pair_opts &o,
                    int64_t total_rows)
{
    std::ostringstream err;
    err.precision(17);
    const lsc_pair_result &r = got.r;
    if (r.rows_used != ref.n || r.pairs != ref.pairs || r.bins != o.bins)
        err << "rows_used " << r.rows_used << " pairs " << r.pairs << " bins " << r.bins
            << ", expected " << ref.n << " " << ref.pairs << " " << o.bins << "; ";
    if (r.subset != (ref.n < total_rows ? 1 : 0)) err << "subset flag " << r.subset << "; ";
    if (!cont_close(r.mean, ref.mean)) err << "mean " << r.mean << " vs " << ref.mean << "; ";
    if (!cont_close(r.std, ref.std)) err << "std " << r.std << " vs " << ref.std << "; ";
    if (o.uniformity ? !(std::fabs(r.uniformity - ref.uniformity) <= ref.uniformity_tol)
                     : !std::isnan(r.uniformity)) // not asked for: NaN
        err << "uniformity " << r.uniformity << " vs " << ref.uniformity << " (bound "
            << ref.uniformity_tol << ", asked " << o.uniformity << "); ";
    struct {
        const char *name;
        double got, want;
    } exact[] = {{"min", r.min, ref.min},
                 {"max", r.max, ref.max},
                 {"nn_min", r.nn_min, ref.nn_min},
                 {"nn_max", r.nn_max, ref.nn_max},
                 {"nn_median", r.nn_median, ref.nn_median}};
    for (auto &e : exact)
        if (!refnn::close_rel(e.got, e.want, 1e-6))
            err << e.name << " " << e.got << " vs " << e.want << "; ";
    // nn_mean is a mean of exact distances
    if (!refnn::close_rel(r.nn_mean, ref.nn_mean, 1e-6))
        err << "nn_mean " << r.nn_mean << " vs " << ref.nn_mean << "; ";
    // B fixes the bin edges, so it is held to 1e-9 relative (the reference counts pairs within
    // 1e-9 B of an edge as borderline); for cosine, unit rows carry ~1e-16 absolute roundoff, so
    // B = 2 R^2 of identical directions is 0 only up to that
    const double b_abs = o.metric == LSC_METRIC_COSINE ? 1e-15 : 0.0;
    if (std::fabs(r.hist_upper - ref.upper) > 1e-9 * ref.upper + b_abs)
        err << "hist_upper " << r.hist_upper << " vs " << ref.upper << "; ";
    int64_t sum = 0, l1 = 0;
    for (int64_t b = 0; b < o.bins; b++) {
        sum += got.hist[(size_t)b];
        l1 += std::llabs(got.hist[(size_t)b] - ref.hist[(size_t)b]);
    }
    if (sum != ref.pairs) err << "histogram sums to " << sum << ", not " << ref.pairs << "; ";
    if (l1 > 2 * ref.hist_borderline) {
        err << "histogram differs from the reference by " << l1 << " (borderline pairs "
            << ref.hist_borderline << "):";
        for (int64_t b = 0; b < o.bins; b++)
            if (got.hist[(size_t)b] != ref.hist[(size_t)b])
                err << " bin " << b << " " << got.hist[(size_t)b] << " vs " << ref.hist[(size_t)b];
        err << "; ";
    }
    if (std::llabs(r.near_duplicate_pairs - ref.near_dups) > ref.near_dup_borderline)
        err << "near_duplicate_pairs " << r.near_duplicate_pairs << " vs " << ref.near_dups << "; ";
    if (ref.near_dup_borderline == 0) {
        if (r.near_duplicates_listed != (int64_t)ref.dups.size())
            err << "listed " << r.near_duplicates_listed << " vs " << ref.dups.size() << "; ";
        else
            for (size_t e = 0; e < ref.dups.size(); e++) {
                const lsc_pair &p = got.dups[e];
                const refnn::Pair &q = ref.dups[e];
                if (p.i != q.i || p.j != q.j || !refnn::close_rel(p.d, q.d, 1e-6)) {
                    err << "near duplicate " << e << ": (" << p.i << "," << p.j << "," << p.d
                        << ") vs (" << q.i << "," << q.j << "," << q.d << "); ";
                    break;
                }
            }
    }
    return err.str();
}

lsc_pair_opts opts(lsc_metric metric = LSC_METRIC_EUCLIDEAN, int64_t bins = 64)
{
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    o.metric = metric;
    o.bins = bins;
    o.uniformity = 1;
    return o;
}

// Runs and compares on dense float32 data.
Out check(lsc_ctx *ctx, const std::vector<float> &x, int64_t n, int64_t d, const lsc_pair_opts &o)
{
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    Out got = run(ctx, m, o);
    std::vector<int64_t> rows;
    if (o.subset_rows > 0 && o.subset_rows < n)
        rows = refnn::subset_rows(n, o.subset_rows, o.seed, o.subset_offset);
    auto ref = refnn::pair_stats(x.data(), n, d, o.metric, o.bins, o.dup_eps, o.dup_report, rows);
    EXPECT_EQ(compare(got, ref, o, n), "");
    return got;
}

TEST(Pairs, RandomData)
{
    Ctx ctx;
    const uint64_t sd = data::seed(41);
    SCOPED_TRACE(sd);
    auto x = data::gaussian(1500, 64, sd);
    auto got = check(ctx, x, 1500, 64, opts());
    EXPECT_EQ(got.r.near_duplicate_pairs, 0);
    EXPECT_EQ(got.r.near_duplicates_listed, 0);
    EXPECT_GT(got.r.min, 0.0);
    // up to 4096 bins each thread counts into four copies of its histogram, above into one
    check(ctx, x, 1500, 64, opts(LSC_METRIC_EUCLIDEAN, 4096));
    check(ctx, x, 1500, 64, opts(LSC_METRIC_EUCLIDEAN, 4097));
}

TEST(Pairs, LargerSetWideRows)
{
    Ctx ctx;
    const uint64_t sd = data::seed(56);
    SCOPED_TRACE(sd);
    auto x = data::rank_k(2000, 128, 16, sd, 3.0);
    check(ctx, x, 2000, 128, opts());
    check(ctx, x, 2000, 128, opts(LSC_METRIC_COSINE, 100));
}

TEST(Pairs, ExactDuplicates)
{
    Ctx ctx;
    const uint64_t sd = data::seed(42);
    SCOPED_TRACE(sd);
    const int64_t n = 800, d = 32;
    auto x = data::with_duplicates(n, d, sd, {{1, 2}, {1, 500}, {10, 799}, {300, 301}});
    auto got = check(ctx, x, n, d, opts());
    EXPECT_EQ(got.r.min, 0.0);
    EXPECT_EQ(got.r.nn_min, 0.0);
    EXPECT_EQ(got.r.near_duplicate_pairs, 5);
    ASSERT_EQ(got.r.near_duplicates_listed, 5);
    const int64_t want[5][2] = {{1, 2}, {1, 500}, {2, 500}, {10, 799}, {300, 301}};
    for (int e = 0; e < 5; e++) {
        EXPECT_EQ(got.dups[(size_t)e].i, want[e][0]);
        EXPECT_EQ(got.dups[(size_t)e].j, want[e][1]);
        EXPECT_EQ(got.dups[(size_t)e].d, 0.0);
    }
    // dup_report smaller than the number of near-duplicates: the first ones by (d, i, j)
    lsc_pair_opts o = opts();
    o.dup_report = 3;
    auto three = check(ctx, x, n, d, o);
    EXPECT_EQ(three.r.near_duplicate_pairs, 5);
    ASSERT_EQ(three.r.near_duplicates_listed, 3);
    for (int e = 0; e < 3; e++) {
        EXPECT_EQ(three.dups[(size_t)e].i, want[e][0]);
        EXPECT_EQ(three.dups[(size_t)e].j, want[e][1]);
    }
    o.dup_report = 0;
    auto none = check(ctx, x, n, d, o);
    EXPECT_EQ(none.r.near_duplicate_pairs, 5);
    EXPECT_EQ(none.r.near_duplicates_listed, 0);
    // near_dups NULL: counted, nothing listed
    lsc_pair_result r = LSC_PAIR_RESULT_INIT;
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    lsc_pair_opts od = opts();
    ASSERT_EQ(lsc_pair_stats(ctx, &m, &od, &r, nullptr, nullptr), LSC_STATUS_OK);
    EXPECT_EQ(r.near_duplicate_pairs, 5);
    EXPECT_EQ(r.near_duplicates_listed, 0);
    EXPECT_EQ(r.min, 0.0);
    // cosine: a copy, and a row scaled by a power of two, are at exactly 0
    auto y = x;
    for (int64_t t = 0; t < d; t++) y[(size_t)(40 * d + t)] = 2.0f * y[(size_t)(41 * d + t)];
    auto c = check(ctx, y, n, d, opts(LSC_METRIC_COSINE));
    EXPECT_EQ(c.r.near_duplicate_pairs, 6);
    EXPECT_EQ(c.r.min, 0.0);
    EXPECT_EQ(c.dups[0].i, 1);
    EXPECT_EQ(c.dups[0].j, 2);
    EXPECT_EQ(c.dups[3].i, 10);
    EXPECT_EQ(c.dups[4].i, 40);
    EXPECT_EQ(c.dups[4].j, 41);
}

TEST(Pairs, IdenticalRows)
{
    Ctx ctx;
    const int64_t n = 50, d = 8;
    auto x = data::identical_rows(n, d, data::seed(43));
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        SCOPED_TRACE((int)metric);
        auto got = check(ctx, x, n, d, opts(metric));
        const int64_t P = n * (n - 1) / 2;
        EXPECT_EQ(got.r.pairs, P);
        EXPECT_EQ(got.r.near_duplicate_pairs, P);
        EXPECT_EQ(got.r.near_duplicates_listed, 100);
        EXPECT_EQ(got.r.mean, 0.0);
        EXPECT_EQ(got.r.std, 0.0);
        EXPECT_EQ(got.r.min, 0.0);
        EXPECT_EQ(got.r.max, 0.0);
        EXPECT_EQ(got.r.nn_max, 0.0);
        if (metric == LSC_METRIC_EUCLIDEAN) EXPECT_EQ(got.r.hist_upper, 0.0);
        else EXPECT_LE(got.r.hist_upper, 1e-15);
        EXPECT_EQ(got.hist[0], P);
        for (int64_t b = 1; b < 64; b++) EXPECT_EQ(got.hist[(size_t)b], 0);
        // the first 100 by (0, i, j): (0,1) ... (0,49), (1,2) ... (1,49), (2,3) (2,4)
        int64_t e = 0;
        for (int64_t i = 0; i < n && e < 100; i++)
            for (int64_t j = i + 1; j < n && e < 100; j++, e++) {
                EXPECT_EQ(got.dups[(size_t)e].i, i);
                EXPECT_EQ(got.dups[(size_t)e].j, j);
            }
    }
}

TEST(Pairs, TightClusterAndLargeOffset)
{
    Ctx ctx;
    const uint64_t sd = data::seed(44);
    SCOPED_TRACE(sd);
    auto t = data::tight_cluster(600, 32, sd, 1e-3);
    auto tg = check(ctx, t, 600, 32, opts());
    EXPECT_GT(tg.r.min, 0.0);
    auto tc = data::tight_cluster(300, 24, sd + 1, 1e-4);
    for (auto &v : tc) v += 30.0f;
    check(ctx, tc, 300, 24, opts());
    auto o = data::gaussian(800, 64, sd + 2, 50.0, 1.0);
    check(ctx, o, 800, 64, opts());
    check(ctx, o, 800, 64, opts(LSC_METRIC_COSINE));
}

// Magnitudes at the ends of float32's range: subnormal products near 1e-20, products that
// could overflow float32 near 1e19 (lsc then decides every pair on its exact value).
TEST(Pairs, TinyAndHugeMagnitudes)
{
    Ctx ctx;
    const uint64_t sd = data::seed(47);
    SCOPED_TRACE(sd);
    for (double scale : data::kExtremeScales) {
        SCOPED_TRACE(scale);
        auto x = data::scaled(data::gaussian(300, 40, sd), scale);
        check(ctx, x, 300, 40, opts());
    }
}

TEST(Pairs, TwoRowsAndOneColumn)
{
    Ctx ctx;
    // one pair, d = 3.75 = B exactly: the last bin holds d = B
    std::vector<float> x = {1.5f, -2.25f};
    auto got = check(ctx, x, 2, 1, opts());
    EXPECT_EQ(got.r.pairs, 1);
    EXPECT_EQ(got.r.mean, 3.75);
    EXPECT_EQ(got.r.std, 0.0);
    EXPECT_EQ(got.r.min, 3.75);
    EXPECT_EQ(got.r.max, 3.75);
    EXPECT_EQ(got.r.nn_median, 3.75);
    EXPECT_EQ(got.r.hist_upper, 3.75);
    EXPECT_EQ(got.hist[63], 1);
    // N = 2 in more columns, and cosine
    const uint64_t sd = data::seed(45);
    auto y = data::gaussian(2, 17, sd);
    check(ctx, y, 2, 17, opts());
    check(ctx, y, 2, 17, opts(LSC_METRIC_COSINE, 5));
    // D = 1
    auto z = data::gaussian(500, 1, sd + 1);
    check(ctx, z, 500, 1, opts());
    check(ctx, z, 500, 1, opts(LSC_METRIC_EUCLIDEAN, 1000));
}

TEST(Pairs, DecisionsAreExactWhereTheFastFormCannotTell)
{
    // fine-grid points (exact arithmetic) in clusters 16 apart: nearest neighbours, the minimum,
    // the maximum and near-duplicates must be the exact ones although the fast form's error
    // exceeds the gaps between candidate distances
    Ctx ctx, tiny(32 << 10, 1);
    const uint64_t sd = data::seed(53);
    SCOPED_TRACE(sd);
    const int64_t n = 800, d = 8;
    auto x = data::fine_grid_clusters(n, d, sd, 3);
    for (int64_t t = 0; t < d; t++) x[(size_t)(5 * d + t)] = x[(size_t)(500 * d + t)];
    for (lsc_ctx *c : {ctx.ctx, tiny.ctx}) {
        auto got = check(c, x, n, d, opts());
        EXPECT_EQ(got.r.near_duplicate_pairs, 1);
        EXPECT_EQ(got.r.min, 0.0);
        auto ref = refnn::pair_stats(x.data(), n, d, LSC_METRIC_EUCLIDEAN, 64, 1e-6, 100);
        // exact arithmetic: the exact figures are the reference's, to the last bit
        EXPECT_EQ(got.r.max, ref.max);
        EXPECT_EQ(got.r.nn_max, ref.nn_max);
        EXPECT_EQ(got.r.nn_median, ref.nn_median);
    }
}

TEST(Pairs, MaximumIsExactAmongNearTies)
{
    // fine-grid points near the origin plus six antipodal pairs E+-_t = +-(128, t/256, 0...),
    // each E+_t followed by a point just inside it (so that no cheaper rule forces the exact
    // value of the pairs that follow): the pairs among the E are 256 apart to within (10/256)^2
    // in squared distance, steps smaller than the fast form's error there (float32 products of
    // ~2^14); the maximum must still be the exact one, (E+_5, E-_5). Sixteen data sets.
    Ctx one(0, 1), two(0, 2);
    const int64_t d = 8, nb = 150;
    for (uint64_t m = 0; m < 16; m++) {
        SCOPED_TRACE(m);
        auto x = data::fine_grid_clusters(nb, d, data::seed(54) + m, 1, 0.0, 2048);
        for (int t = 0; t < 6; t++)
            for (int w : {0, 1, 2}) {
                const int sgn = w == 2 ? -1 : 1;
                std::vector<float> e((size_t)d, 0.0f);
                e[(m % d)] = (float)(128 * sgn) - (w == 1 ? 1.0f / 256.0f : 0.0f);
                e[((m + 1) % d)] = (float)(sgn * t) / 256.0f;
                x.insert(x.end(), e.begin(), e.end());
            }
        const int64_t n = nb + 18;
        auto ref = refnn::pair_stats(x.data(), n, d, LSC_METRIC_EUCLIDEAN, 64, 1e-6, 100);
        ASSERT_EQ(ref.max, std::sqrt(256.0 * 256.0 + 100.0 / 65536.0));
        for (lsc_ctx *c : {one.ctx, two.ctx}) {
            auto got = check(c, x, n, d, opts());
            EXPECT_EQ(got.r.max, ref.max);
        }
    }
}

TEST(Pairs, MinimumIsExactAmongNearTies)
{
    // points on a coarse grid (spacing 12) near the origin, and far out (128 from it) four
    // points C, A, B1, B2: |A - B1| = |C - B2| = 10 and |A - B2|^2 = 100 - 6/65536, the
    // minimum, met when both A and B2 already have a neighbour at exactly 10 - a gap far below
    // the fast form's error there. Exact arithmetic: the minimum must be the exact one.
    Ctx one(0, 1), two(0, 2);
    const int64_t d = 8, nb = 150;
    for (uint64_t m = 0; m < 16; m++) {
        SCOPED_TRACE(m);
        std::mt19937_64 g(data::seed(55) + m);
        std::vector<std::vector<float>> rows;
        while ((int64_t)rows.size() < nb) {
            std::vector<float> r((size_t)d);
            for (auto &v : r) v = (float)(12 * ((int)(g() % 5) - 2));
            if (std::find(rows.begin(), rows.end(), r) == rows.end()) rows.push_back(r);
        }
        const size_t a = m % d, b = (m + 1) % d, c = (m + 2) % d, e = (m + 3) % d;
        std::vector<float> A((size_t)d, 0.0f);
        A[a] = (m & 8) ? -128.0f : 128.0f;
        auto B1 = A, B2 = A;
        B1[b] -= 10.0f;
        B2[b] += 2413.0f / 256.0f; // 2413^2 + 855^2 = 2560^2 - 6
        B2[c] += 855.0f / 256.0f;
        auto C = B2;
        C[e] += 10.0f;
        for (auto *r : {&C, &A, &B1, &B2}) rows.push_back(*r);
        std::vector<float> x;
        for (auto &r : rows) x.insert(x.end(), r.begin(), r.end());
        const int64_t n = (int64_t)rows.size();
        auto ref = refnn::pair_stats(x.data(), n, d, LSC_METRIC_EUCLIDEAN, 64, 1e-6, 100);
        ASSERT_EQ(ref.min, std::sqrt(100.0 - 6.0 / 65536.0));
        for (lsc_ctx *ctx : {one.ctx, two.ctx}) {
            auto got = check(ctx, x, n, d, opts());
            EXPECT_EQ(got.r.min, ref.min);
            EXPECT_EQ(got.r.nn_min, ref.nn_min);
        }
    }
}

TEST(Pairs, EqualDistancesHaveZeroStd)
{
    // a regular simplex (rows 3 e_i): every distance is 3 sqrt(2), so std is 0 (to 1e-9)
    Ctx ctx;
    const int64_t n = 64;
    std::vector<float> x((size_t)(n * n), 0.0f);
    for (int64_t i = 0; i < n; i++) x[(size_t)(i * n + i)] = 3.0f;
    auto got = check(ctx, x, n, n, opts());
    EXPECT_LE(got.r.std, 1e-9);
    EXPECT_TRUE(refnn::close_rel(got.r.mean, 3.0 * std::sqrt(2.0), 1e-12));
    auto c = check(ctx, x, n, n, opts(LSC_METRIC_COSINE));
    EXPECT_LE(c.r.std, 1e-9);
}

TEST(Pairs, HistogramBinCounts)
{
    Ctx ctx;
    const uint64_t sd = data::seed(46);
    auto x = data::gaussian(700, 20, sd);
    for (int64_t bins : {1, 7, 64, 1000}) {
        SCOPED_TRACE(bins);
        auto got = check(ctx, x, 700, 20, opts(LSC_METRIC_EUCLIDEAN, bins));
        int64_t s = 0;
        for (auto c : got.hist) s += c;
        EXPECT_EQ(s, 700 * 699 / 2);
    }
    // integer points: distances sqrt(integer), many of them exactly on edges (B = 2 max ||x - mu||
    // is then a simple number); the reference counts the borderline ones
    std::mt19937_64 g(sd + 1);
    std::vector<float> gpts(400 * 2);
    for (auto &v : gpts) v = (float)((int)(g() % 9) - 4);
    gpts[0] = 4.0f;
    gpts[1] = 4.0f;
    check(ctx, gpts, 400, 2, opts(LSC_METRIC_EUCLIDEAN, 16));
}

TEST(Pairs, DupEpsOption)
{
    Ctx ctx;
    const uint64_t sd = data::seed(47);
    SCOPED_TRACE(sd);
    const int64_t n = 400, d = 6;
    auto x = data::gaussian(n, d, sd);
    // an eps halfway between the m-th and (m+1)-th smallest distances, m >= 30 the first with a
    // clear gap after it: exactly m pairs
    auto all = refnn::distance_block(x.data(), n, x.data(), n, d, LSC_METRIC_EUCLIDEAN);
    std::vector<double> ds;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) ds.push_back(all[(size_t)(i * n + j)]);
    std::sort(ds.begin(), ds.end());
    size_t m = 30;
    while (!(ds[m - 1] * (1 + 1e-5) < ds[m])) m++;
    lsc_pair_opts o = opts();
    o.dup_eps = 0.5 * (ds[m - 1] + ds[m]);
    o.dup_report = 20;
    auto got = check(ctx, x, n, d, o);
    EXPECT_EQ(got.r.near_duplicate_pairs, (int64_t)m);
    EXPECT_EQ(got.r.near_duplicates_listed, 20);
    for (int e = 0; e < 20; e++)
        EXPECT_TRUE(refnn::close_rel(got.dups[(size_t)e].d, ds[(size_t)e], 1e-6));
    // eps exactly 0 with duplicates: only the exact copies
    auto y = data::with_duplicates(n, d, sd, {{0, 399}, {5, 6}});
    o.dup_eps = 0.0;
    o.dup_report = 100;
    auto z = check(ctx, y, n, d, o);
    EXPECT_EQ(z.r.near_duplicate_pairs, 2);
    // cosine eps in cosine units
    lsc_pair_opts oc = opts(LSC_METRIC_COSINE);
    oc.dup_eps = 1e-2;
    check(ctx, x, n, d, oc);
}

TEST(Pairs, SeededSubset)
{
    Ctx ctx;
    const uint64_t sd = data::seed(48);
    SCOPED_TRACE(sd);
    const int64_t n = 1500, d = 24, half = 750;
    auto x = data::gaussian(n, d, sd);
    // rows half.. copy rows 0..: a subset holds some of these duplicate pairs
    for (int64_t i = half; i < n; i++)
        for (int64_t t = 0; t < d; t++) x[(size_t)(i * d + t)] = x[(size_t)((i - half) * d + t)];
    lsc_pair_opts o = opts();
    o.subset_rows = 400;
    o.seed = 12345;
    auto a = check(ctx, x, n, d, o);
    EXPECT_EQ(a.r.subset, 1);
    EXPECT_EQ(a.r.rows_used, 400);
    EXPECT_EQ(a.r.pairs, 400 * 399 / 2);
    EXPECT_GT(a.r.near_duplicate_pairs, 0);
    // listed pairs name rows of the input matrix
    for (int64_t e = 0; e < a.r.near_duplicates_listed; e++)
        EXPECT_EQ(a.dups[(size_t)e].j - a.dups[(size_t)e].i, half);
    // reproducible
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    auto b = run(ctx, m, o);
    EXPECT_EQ(std::memcmp(&a.r, &b.r, sizeof a.r), 0);
    EXPECT_EQ(a.hist, b.hist);
    // another seed, another subset
    o.seed = 54321;
    auto c = check(ctx, x, n, d, o);
    EXPECT_NE(a.r.mean, c.r.mean);
    // cosine on a subset
    o.metric = LSC_METRIC_COSINE;
    check(ctx, x, n, d, o);
    // the same subset through many small tiles and one thread: the same figures
    {
        Ctx tiny(24 << 10, 1);
        o.metric = LSC_METRIC_EUCLIDEAN;
        o.seed = 12345;
        auto t = check(tiny, x, n, d, o);
        EXPECT_EQ(t.r.near_duplicate_pairs, a.r.near_duplicate_pairs);
        EXPECT_EQ(t.r.min, a.r.min); // 0: the subset holds duplicate pairs
        EXPECT_TRUE(refnn::close_rel(t.r.nn_median, a.r.nn_median, 2e-6));
    }
    // a subset at least as large as the set is the whole set
    o.metric = LSC_METRIC_EUCLIDEAN;
    o.subset_rows = n;
    auto whole = check(ctx, x, n, d, o);
    EXPECT_EQ(whole.r.subset, 0);
    EXPECT_EQ(whole.r.rows_used, n);
    o.subset_rows = n + 10;
    auto more = check(ctx, x, n, d, o);
    EXPECT_EQ(more.r.subset, 0);
}

TEST(Pairs, SubsetsAtDisjointPositionsAreDisjoint)
{
    // the two halves of one seeded permutation: disjoint subsets whose union is every row, each
    // with the figures of its own rows (check() compares with the reference on exactly those)
    Ctx ctx;
    const uint64_t sd = data::seed(50);
    SCOPED_TRACE(sd);
    const int64_t n = 601, d = 12;
    auto x = data::gaussian(n, d, sd);
    lsc_pair_opts o = opts();
    o.seed = 777;
    o.subset_rows = 300;
    o.subset_offset = 0;
    auto a = check(ctx, x, n, d, o);
    o.subset_offset = 300;
    auto b = check(ctx, x, n, d, o);
    EXPECT_NE(a.r.mean, b.r.mean);
    auto ra = refnn::subset_rows(n, 300, 777, 0), rb = refnn::subset_rows(n, 300, 777, 300);
    std::vector<int64_t> both;
    std::set_union(ra.begin(), ra.end(), rb.begin(), rb.end(), std::back_inserter(both));
    EXPECT_EQ(both.size(), 600u);
    // positions past the end are an error, not a clamp
    o.subset_offset = 302;
    lsc_pair_result r = LSC_PAIR_RESULT_INIT;
    const lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    EXPECT_EQ(lsc_pair_stats(ctx, &m, &o, &r, nullptr, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("positions"), std::string::npos)
        << lsc_last_error(ctx);
}

TEST(Pairs, Cosine)
{
    Ctx ctx;
    const uint64_t sd = data::seed(49);
    SCOPED_TRACE(sd);
    auto x = data::gaussian(700, 48, sd);
    auto got = check(ctx, x, 700, 48, opts(LSC_METRIC_COSINE));
    EXPECT_LE(got.r.hist_upper, 2.0);
    // directions in a narrow cone: B = 2 R^2 < 2
    auto y = data::gaussian(500, 16, sd + 1, 4.0, 1.0);
    auto gy = check(ctx, y, 500, 16, opts(LSC_METRIC_COSINE));
    EXPECT_LT(gy.r.hist_upper, 2.0);
}

TEST(Pairs, RowOrderDoesNotChangeTheFigures)
{
    Ctx ctx;
    const uint64_t sd = data::seed(50);
    SCOPED_TRACE(sd);
    const int64_t n = 900, d = 40;
    auto x = data::with_duplicates(n, d, sd, {{3, 4}, {3, 700}, {11, 12}});
    for (auto &v : x) v += 2.0f;
    std::vector<int64_t> perm((size_t)n);
    std::iota(perm.begin(), perm.end(), (int64_t)0);
    std::shuffle(perm.begin(), perm.end(), std::mt19937_64(sd + 1));
    std::vector<float> xp((size_t)(n * d));
    for (int64_t r = 0; r < n; r++)
        std::copy(&x[perm[(size_t)r] * d], &x[perm[(size_t)r] * d] + d, &xp[r * d]);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        SCOPED_TRACE((int)metric);
        auto a = check(ctx, x, n, d, opts(metric));
        auto b = check(ctx, xp, n, d, opts(metric));
        EXPECT_TRUE(cont_close(a.r.mean, b.r.mean));
        EXPECT_TRUE(cont_close(a.r.std, b.r.std));
        // exact distances: each within 1e-6 of the reference, so within 2e-6 of each other
        EXPECT_EQ(a.r.min, 0.0);
        EXPECT_EQ(b.r.min, 0.0);
        EXPECT_TRUE(refnn::close_rel(a.r.max, b.r.max, 2e-6));
        EXPECT_TRUE(refnn::close_rel(a.r.nn_max, b.r.nn_max, 2e-6));
        EXPECT_TRUE(refnn::close_rel(a.r.nn_median, b.r.nn_median, 2e-6));
        EXPECT_TRUE(refnn::close_rel(a.r.nn_mean, b.r.nn_mean, 2e-6));
        EXPECT_EQ(a.r.near_duplicate_pairs, b.r.near_duplicate_pairs);
        // the same pairs, named through the permutation
        std::vector<std::pair<int64_t, int64_t>> pa, pb;
        for (int64_t e = 0; e < a.r.near_duplicates_listed; e++)
            pa.push_back({a.dups[(size_t)e].i, a.dups[(size_t)e].j});
        for (int64_t e = 0; e < b.r.near_duplicates_listed; e++) {
            int64_t i = perm[(size_t)b.dups[(size_t)e].i], j = perm[(size_t)b.dups[(size_t)e].j];
            pb.push_back({std::min(i, j), std::max(i, j)});
        }
        std::sort(pb.begin(), pb.end());
        EXPECT_EQ(pa, pb);
        int64_t l1 = 0;
        for (size_t e = 0; e < a.hist.size(); e++) l1 += std::llabs(a.hist[e] - b.hist[e]);
        auto ref = refnn::pair_stats(x.data(), n, d, metric, 64, 1e-6, 100);
        EXPECT_LE(l1, 4 * ref.hist_borderline);
    }
}

TEST(Pairs, ThreadsAndTiles)
{
    Ctx one(0, 1), two(0, 2), two_again(0, 2), tiny(48 << 10, 2), three(0, 3);
    const uint64_t sd = data::seed(51);
    SCOPED_TRACE(sd);
    const int64_t n = 1100, d = 36;
    auto x = data::with_duplicates(n, d, sd, {{0, 1000}, {20, 21}, {500, 1099}});
    for (auto &v : x) v *= 0.25f;
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        SCOPED_TRACE((int)metric);
        lsc_pair_opts o = opts(metric);
        auto a = run(two, m, o);
        auto b = run(two, m, o);
        auto c = run(two_again, m, o);
        // the same thread count: bit-identical
        for (const Out *p : {&b, &c}) {
            EXPECT_EQ(std::memcmp(&a.r, &p->r, sizeof a.r), 0);
            EXPECT_EQ(a.hist, p->hist);
            EXPECT_EQ(std::memcmp(a.dups.data(), p->dups.data(), a.dups.size() * sizeof(lsc_pair)),
                      0);
        }
        // other thread counts and many tiles: within the tolerances of the reference
        auto ref = refnn::pair_stats(x.data(), n, d, metric, o.bins, o.dup_eps, o.dup_report);
        for (lsc_ctx *ctx : {one.ctx, tiny.ctx, three.ctx}) {
            auto g = run(ctx, m, o);
            EXPECT_EQ(compare(g, ref, o, n), "");
            EXPECT_TRUE(cont_close(g.r.mean, a.r.mean));
            EXPECT_TRUE(cont_close(g.r.std, a.r.std));
            EXPECT_EQ(g.r.min, 0.0);
            EXPECT_TRUE(refnn::close_rel(g.r.nn_median, a.r.nn_median, 2e-6));
            EXPECT_EQ(g.r.near_duplicate_pairs, a.r.near_duplicate_pairs);
        }
        EXPECT_EQ(compare(a, ref, o, n), "");
    }
}

TEST(Pairs, OtherDtypesUseTheirFloat32Values)
{
    Ctx ctx;
    const uint64_t sd = data::seed(52);
    const int64_t n = 300, d = 12, ld = 15;
    auto x = data::gaussian(n, d, sd);
    std::vector<double> x64((size_t)(n * ld), 1e300); // padding out of float32 range: never read
    std::vector<float> xv((size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < d; t++) {
            double v = (double)x[(size_t)(i * d + t)] * (1.0 + 1e-9);
            x64[(size_t)(i * ld + t)] = v;
            xv[(size_t)(i * d + t)] = (float)v;
        }
    lsc_matrix m = {x64.data(), LSC_DTYPE_F64, n, d, ld, LSC_MEMORY_HOST};
    lsc_pair_opts o = opts();
    auto got = run(ctx, m, o);
    auto ref = refnn::pair_stats(xv.data(), n, d, o.metric, o.bins, o.dup_eps, o.dup_report);
    EXPECT_EQ(compare(got, ref, o, n), "");
}

} // namespace

// Uniformity: a row of norm ~1e-19 among rows around (20, ..., 20). The pass's centred product
// loses its direction (its pairs' fast d2 is off by far more than 2^-10), so its pairs must take
// the exact d2 wherever it sits among a tile's rows: the CPU clears a whole row of that test at
// once from the tile's largest scale, which must see it. The pinned bound grows with r_i^2 and
// is no check here; the other pairs carry 1e-7 at most, these pairs exact, so 1e-6 against the
// float64 reference (a missed row: about 1e-2 off).
TEST(Pairs, UniformityOfATinyRowAmongOffCentreRows)
{
    Ctx ctx;
    const uint64_t sd = data::seed(67);
    SCOPED_TRACE(sd);
    const int64_t n = 300, d = 40;
    auto x = data::gaussian(n, d, sd, 20.0);
    for (int64_t k = 0; k < d; k++) x[(size_t)(150 * d + k)] *= 1e-20f;
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    const lsc_pair_opts o = opts();
    auto got = run(ctx, m, o);
    auto ref = refnn::pair_stats(x.data(), n, d, o.metric, o.bins, o.dup_eps, o.dup_report);
    EXPECT_NEAR(got.r.uniformity, ref.uniformity, 1e-6);
}

// Uniformity of rows near the centre of a pass far from the origin: three rows, each repeated,
// around (3000, ..., 3000) with a spread of 50, so r = ||x - m|| / ||x|| is about 0.02 and the
// pinned bound, 8 (D + 2) 2^-24 max r^2, about 0.05 2^-24 (3.2e-9). Such rows must keep the
// float64 loop: the float32 path's bound, above 21 2^-24 from its exp, its sum and the centre's
// share s_i s_j |p|, is far above what their pairs may move (lsc_unif_f32_fits). pairs.c admits
// a row from r_i = sqrt(|x_i - m|^2) s_i and its tile's r_j = sqrt(|x_j - m|^2) s_j; either
// taken without its s (the centred norm, about 200 here) lets them in. The repeated rows make
// the pairs of two patterns share one exponent, so the float32 path's rounding does not average
// out over the pairs: it then moves the figure by 1e-7, some 30 times the bound.
TEST(Pairs, UniformityOfRepeatedRowsFarFromTheCentre)
{
    Ctx ctx;
    const uint64_t sd = data::seed(68);
    SCOPED_TRACE(sd);
    const int64_t n = 96, d = 16;
    const auto pat = data::gaussian(3, d, sd, 3000.0, 50.0);
    std::vector<float> x((size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++) x[(size_t)(i * d + k)] = pat[(size_t)((i % 3) * d + k)];
    check(ctx, x, n, d, opts());
}

// Whether the uniformity's float32 paths may run: an AVX-512F CPU, and LSC_CPU_AVX512 not 0
// (host/cpu/unif_avx512.c decides the same way).
static bool uniformity_float32_paths()
{
    const char *e = std::getenv("LSC_CPU_AVX512");
    __builtin_cpu_init();
    return !(e && std::string(e) == "0") && __builtin_cpu_supports("avx512f");
}

// The wide float32 form runs where it is meant to (docs/METRICS.md section 9): rows of r = 1 at D =
// 3, where the path's bound (21.5 2^-24) exceeds the budget (20 2^-24) and the wide form's (12.5
// 2^-24) fits. Eight rows around the origin in the plane x_3 = 0, so the centre is 0 (p = 0, r = 1)
// and every product an exact small integer: each term is then known to the bit, the wide form's
// from its formulas (lsc_unif_f32w_z, lsc_exp16f_parts, the row's scale), and the figure is the log
// of their mean up to the float64 sums' order. Its float32 exp puts it 9.7e-9 from the exact
// figure, which the float64 loops hold to 2e-10: a pass that sent these rows to the float64 loop
// (or got the wide form's arithmetic wrong) fails here, where the tolerance test passes either. The
// same rows times 2^-50 and 2^50 (s of 2^50 and 2^-50, still admitted: products of 2^-100 stay
// normal floats, and s_i s_j times the product's absolute band stays below 2^-10) give the same
// figure to the bit: a power of 2 moves A, S_j and their lo parts alike. Without the float32 paths
// (LSC_CPU_AVX512=0, no AVX-512F) the exact figure's bound.
TEST(Pairs, UniformityTakesTheWideFormAtSmallD)
{
    Ctx ctx;
    const int64_t n = 8, d = 3;
    const std::vector<float> x = {1, 0,  0, -1, 0, 0, 3, 4, 0, -3, -4, 0,
                                  3, -4, 0, -3, 4, 0, 0, 2, 0, 0,  -2, 0};
    const double centre[3] = {0.0, 0.0, 0.0};
    double wide = 0.0;
    long double exact = 0.0L;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            const lsc_unif_row ri = lsc_unif_row_of(&x[(size_t)(i * d)], d, centre),
                               rj = lsc_unif_row_of(&x[(size_t)(j * d)], d, centre);
            const float c = x[(size_t)(i * d)] * x[(size_t)(j * d)] +
                            x[(size_t)(i * d + 1)] * x[(size_t)(j * d + 1)]; // exact
            const lsc_unif_f32 f = lsc_unif_f32_row(ri);
            const float shi = (float)rj.s;
            float p, ts;
            lsc_exp16f_parts(
                lsc_unif_f32w_z(c, f, shi, (float)(rj.s - (double)shi), (float)(rj.s * rj.p)), &p,
                &ts);
            wide += f.scale * (double)(p * ts);
            const long double v = 2.0L - 2.0L * (long double)ri.s * (long double)rj.s * c;
            exact += expl(-2.0L * (v > 0.0L ? v : 0.0L));
        }
    const double pairs = (double)(n * (n - 1) / 2), want_exact = (double)logl(exact / pairs),
                 want_wide = std::log(wide / pairs);
    ASSERT_GT(std::fabs(want_wide - want_exact), 5e-9); // the two paths tell apart
    for (int e : {0, -50, 50}) {
        SCOPED_TRACE(e);
        std::vector<float> xs;
        for (float v : x) xs.push_back(std::ldexp(v, e));
        const double got = check(ctx, xs, n, d, opts()).r.uniformity;
        if (uniformity_float32_paths()) EXPECT_NEAR(got, want_wide, 1e-14);
        else EXPECT_NEAR(got, want_exact, 2e-10);
    }
}

// A tile's base rows as the wide form's admission reads them (lsc_unif_f32w_fits): the largest
// s and s |p|, the smallest and largest r = ||x - m|| s.
struct unif_tile_values {
    double smax = 0.0, spmax = 0.0, rmin = INFINITY, rmax = 0.0;
    void add(lsc_unif_row r, double bsq)
    {
        smax = std::max(smax, r.s);
        spmax = std::max(spmax, std::fabs(r.s * r.p));
        rmin = std::min(rmin, std::sqrt(bsq) * r.s);
        rmax = std::max(rmax, std::sqrt(bsq) * r.s);
    }
    bool wide_fits(lsc_unif_row ri, double r_i, int64_t d) const
    {
        return lsc_unif_f32w_fits(ri, r_i, rmin, rmax, smax, spmax, d);
    }
};

// Rows v + m and -v + m at D = 3 around m = (1/16, 0, 0) (the mean, exact), in the plane x_3 = 0,
// the v dyadic of few bits so that every product c of centred rows is exact in float32, and the
// last `nout` of each half the tile's outliers: the terms each form gives a pair, emulated
// (unif_avx512.c), and the tile's values with and without the outliers.
struct OffCentreRows {
    static constexpr int64_t d = 3;
    const double m[3] = {1.0 / 16.0, 0.0, 0.0};
    std::vector<float> x;
    std::vector<lsc_unif_row> rows;
    std::vector<double> bsq; // |x - m|^2 of the float32 centred row, as the pass's
    std::vector<bool> out;
    int64_t n = 0;
    unif_tile_values all, kept;

    OffCentreRows(const std::vector<double> &core, const std::vector<double> &outliers)
    {
        std::vector<double> v = core;
        v.insert(v.end(), outliers.begin(), outliers.end());
        for (double sign : {1.0, -1.0})
            for (size_t k = 0; k < v.size(); k++) {
                x.push_back((float)(sign * v[k] + m[k % 2]));
                if (k % 2) x.push_back(0.0f);
            }
        n = (int64_t)(x.size() / d);
        for (int64_t i = 0; i < n; i++) {
            rows.push_back(lsc_unif_row_of(&x[(size_t)(i * d)], d, m));
            const double c0 = (double)(float)((double)x[(size_t)(i * d)] - m[0]),
                         c1 = (double)(float)((double)x[(size_t)(i * d + 1)] - m[1]);
            bsq.push_back(c0 * c0 + c1 * c1);
            out.push_back((size_t)(2 * (i % (n / 2))) >= core.size());
            all.add(rows.back(), bsq.back());
            if (!out.back()) kept.add(rows.back(), bsq.back());
        }
    }
    double r(int64_t i) const { return std::sqrt(bsq[(size_t)i]) * rows[(size_t)i].s; }
    float cprod(int64_t i, int64_t j) const
    {
        return (float)(((double)x[(size_t)(i * d)] - m[0]) * ((double)x[(size_t)(j * d)] - m[0]) +
                       ((double)x[(size_t)(i * d + 1)] - m[1]) *
                           ((double)x[(size_t)(j * d + 1)] - m[1]));
    }
    // the float64 loop's term (terms8)
    double f64(int64_t i, int64_t j) const
    {
        const lsc_unif_row a = rows[(size_t)i], b = rows[(size_t)j];
        const double u = std::fma(b.s, (double)cprod(i, j) + a.p, b.s * b.p);
        const double v2 = std::fma(-4.0 * a.s, u, (a.e + 1.0) + (a.e + 1.0));
        double p, ts;
        lsc_exp16_parts(v2 > 0.0 ? v2 : 0.0, &p, &ts);
        return p * ts;
    }
    // row i's wide sum as the loop forms it: pair t with t + 16 in each block of 32 from i + 1,
    // left-out lanes 0; keep_out: the outliers kept in
    double wide_row(int64_t i, bool keep_out) const
    {
        const int64_t js = i + 1, len = n - js;
        const lsc_unif_f32 f = lsc_unif_f32_row(rows[(size_t)i]);
        double sum = 0.0;
        for (int64_t o = 0; o < len; o += 32)
            for (int64_t l = 0; l < 16; l++) {
                float p[2] = {0.0f, 0.0f}, ts[2] = {1.0f, 1.0f};
                for (int h = 0; h < 2; h++) {
                    const int64_t t = o + l + 16 * h, j = js + t;
                    if (t >= len || (!keep_out && out[(size_t)j])) continue;
                    const lsc_unif_row b = rows[(size_t)j];
                    const float shi = (float)b.s;
                    lsc_exp16f_parts(lsc_unif_f32w_z(cprod(i, j), f, shi,
                                                     (float)(b.s - (double)shi),
                                                     (float)(b.s * b.p)),
                                     &p[h], &ts[h]);
                }
                sum += (double)fmaf(p[0], ts[0], p[1] * ts[1]);
            }
        return f.scale * sum;
    }
    // the float64 loop's terms of row i's pairs: all of them, and those with the outliers
    void f64_row(int64_t i, double *all_pairs, double *with_out) const
    {
        *all_pairs = *with_out = 0.0;
        for (int64_t j = i + 1; j < n; j++) {
            *all_pairs += f64(i, j);
            if (out[(size_t)j]) *with_out += f64(i, j);
        }
    }
    // the exact figure, in long double
    double exact() const
    {
        long double sum = 0.0L;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++) {
                const long double ss = (long double)rows[(size_t)i].s * rows[(size_t)j].s;
                const long double dot =
                    (long double)x[(size_t)(i * d)] * x[(size_t)(j * d)] +
                    (long double)x[(size_t)(i * d + 1)] * x[(size_t)(j * d + 1)];
                const long double d2 = 2.0L - 2.0L * ss * dot;
                sum += expl(-2.0L * (d2 > 0.0L ? d2 : 0.0L));
            }
        return (double)logl(sum / ((long double)n * (long double)(n - 1) / 2.0L));
    }
};

// The wide form with a tile's outliers left out (host/cpu/pairs.c): rows near the origin (large
// s) among rows spread around a centre off it. Rows v + m with m = (1/16, 0) (the mean, exact),
// the v dyadic in +- pairs (so every product c is exact in float32) and of norm 2 to 5 (r
// within 3% of 1), and four outliers v + m of norm 0.07 to 0.13 (s of 7.5 to 14.3, over 3 times
// the tile's mean s, 1.5): with them the wide form's bound (its s_i s_j |p_i| part, and an r of
// 0.62) exceeds the budget at D = 3 for every row; without them it fits (both checked). So on an
// AVX-512 CPU each other row takes the wide form on the other rows, its pairs with the
// outliers the float64 loop's terms, and the outliers' own rows the float64 loop: the figure is
// that, to summation order (the wide terms summed in pairs in float32 as the loop does), and
// tells apart both the float64 loop everywhere (no outliers left out) and the wide form
// everywhere (outliers kept in). Without the float32 paths the exact figure's bound.
TEST(Pairs, UniformityLeavesTheTilesOutliersOutOfTheWideForm)
{
    Ctx ctx;
    // clang-format off
    const OffCentreRows R({3, 4, 4, -3, 5, 0, 2, 4.5, 2, 1, -1, 2, 1.5, -2, 2.25, 1.75, 1, 2.5,
                           3.5, 2.5, -4, 2, 2, 2, 2.75, -1.25, 1.25, 3.25},
                          {1.0 / 32.0, 1.0 / 16.0, 1.0 / 32.0, -3.0 / 32.0});
    // clang-format on
    // the data as designed: the wide form's admission fails for every row with the outliers
    // in the tile's values, and holds without them for all but the outliers' own rows
    for (int64_t i = 0; i < R.n; i++) {
        ASSERT_FALSE(R.all.wide_fits(R.rows[(size_t)i], R.r(i), R.d)) << "row " << i;
        ASSERT_EQ(R.kept.wide_fits(R.rows[(size_t)i], R.r(i), R.d), !R.out[(size_t)i]) << i;
    }
    double want = 0.0, all_f64 = 0.0, all_wide = 0.0;
    for (int64_t i = 0; i < R.n; i++) {
        double f, o;
        R.f64_row(i, &f, &o);
        all_f64 += f;
        all_wide += R.out[(size_t)i] ? f : R.wide_row(i, true);
        want += R.out[(size_t)i] ? f : R.wide_row(i, false) + o;
    }
    const double pairs = (double)(R.n * (R.n - 1) / 2);
    want = std::log(want / pairs);
    ASSERT_GT(std::fabs(want - std::log(all_f64 / pairs)), 1e-12);
    ASSERT_GT(std::fabs(want - std::log(all_wide / pairs)), 1e-12);
    const double got = check(ctx, R.x, R.n, R.d, opts()).r.uniformity;
    if (uniformity_float32_paths()) EXPECT_NEAR(got, want, 2e-15);
    else EXPECT_NEAR(got, R.exact(), 2e-10);
}

// At D = 1 the uniformity comes from the rows' signs (lsc_unif_sign_sum1), exactly: a normalised
// row is +1, -1 or a zero row's 0, so a pair's d2 is 0, 4 or 1. Three positive rows, two
// negative and one zero row: 4 pairs at d2 = 0, 6 at 4, 5 at 1, so log((4 + 6 e^-8 + 5 e^-2) /
// 15); without the zero row (and cosine, which refuses zero rows) log((4 + 6 e^-8) / 10). Then
// 500 Gaussian rows with every fifth set to 0 against a pair loop in long double. Within the
// float64 sums' roundings, on every CPU.
TEST(Pairs, UniformityAtDOneFromTheRowsSigns)
{
    Ctx ctx;
    const std::vector<float> x = {2.5f, -1.0f, 0.0f, 1e-30f, 3e20f, -7.0f};
    const double want6 = std::log((4.0 + 6.0 * std::exp(-8.0) + 5.0 * std::exp(-2.0)) / 15.0);
    EXPECT_NEAR(check(ctx, x, 6, 1, opts()).r.uniformity, want6, 1e-15);
    const std::vector<float> y = {2.5f, -1.0f, 1e-30f, 3e20f, -7.0f};
    const double want5 = std::log((4.0 + 6.0 * std::exp(-8.0)) / 10.0);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        EXPECT_NEAR(check(ctx, y, 5, 1, opts(metric)).r.uniformity, want5, 1e-15);
    auto z = data::gaussian(500, 1, data::seed(91));
    for (size_t i = 0; i < z.size(); i += 5) z[i] = 0.0f;
    long double sum = 0.0L;
    auto sign = [](float v) { return v > 0.0f ? 1 : v < 0.0f ? -1 : 0; };
    for (size_t i = 0; i < z.size(); i++)
        for (size_t j = i + 1; j < z.size(); j++) {
            const int a = sign(z[i]), b = sign(z[j]);
            const long double d2 = (long double)((a - b) * (a - b));
            sum += expl(-2.0L * d2);
        }
    const double want = (double)logl(sum / (500.0L * 499.0L / 2.0L));
    EXPECT_NEAR(check(ctx, z, 500, 1, opts()).r.uniformity, want, 1e-14);
}

// The uniformity of rows of d values by a pair loop in long double, each row normalised, a zero
// row left the zero vector (docs/METRICS.md section 9).
static double uniformity_ld(const std::vector<float> &x, int64_t n, int64_t d)
{
    std::vector<long double> u(x.size());
    for (int64_t i = 0; i < n; i++) {
        long double q = 0.0L;
        for (int64_t k = 0; k < d; k++)
            q += (long double)x[(size_t)(i * d + k)] * x[(size_t)(i * d + k)];
        for (int64_t k = 0; k < d; k++)
            u[(size_t)(i * d + k)] = q > 0.0L ? x[(size_t)(i * d + k)] / sqrtl(q) : 0.0L;
    }
    long double sum = 0.0L;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            long double d2 = 0.0L;
            for (int64_t k = 0; k < d; k++) {
                const long double e = u[(size_t)(i * d + k)] - u[(size_t)(j * d + k)];
                d2 += e * e;
            }
            sum += expl(-2.0L * d2);
        }
    return (double)logl(sum / ((long double)n * (long double)(n - 1) / 2.0L));
}

// At D = 2 the uniformity comes from the rows' harmonics (lsc_unif_circle_sum1), on every CPU:
// known answers first. Four rows on the axes: 4 pairs at d2 = 2, 2 at 4; two zero rows more add
// 8 pairs at d2 = 1 and one at 0. Eight rows 45 degrees apart: 8 pairs at each of d2 = 2 - sqrt 2,
// 2, 2 + sqrt 2 and 4 at d2 = 4. The same rows times 2^-120 and 2^100 give the same bits (a
// power of 2 leaves the normalised row as it was). Then Gaussian rows with every fifth a zero
// row, rows in one direction (every term near 1), two antipodal clusters (the cross pairs' terms
// near e^-8, the smallest there are) and two rows alone against the pair loop in long double:
// within a few roundings of the sums (the harmonics' own error bound is about 1e-13 here).
TEST(Pairs, UniformityAtDTwoFromTheRowsHarmonics)
{
    Ctx ctx;
    const std::vector<float> axes = {2, 0, 0, 3, -1, 0, 0, -5, 0, 0, 0, 0};
    const double e2 = std::exp(-2.0), e4 = std::exp(-4.0), e8 = std::exp(-8.0);
    const double want4 = std::log((4.0 * e4 + 2.0 * e8) / 6.0);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        EXPECT_NEAR(check(ctx, axes, 4, 2, opts(metric)).r.uniformity, want4, 1e-15);
    EXPECT_NEAR(check(ctx, axes, 6, 2, opts()).r.uniformity,
                std::log((4.0 * e4 + 2.0 * e8 + 8.0 * e2 + 1.0) / 15.0), 1e-15);
    const std::vector<float> oct = {1, 0, 1, 1, 0, 1, -1, 1, -1, 0, -1, -1, 0, -1, 1, -1};
    const double r2 = std::sqrt(2.0);
    const double want8 = std::log((8.0 * std::exp(-2.0 * (2.0 - r2)) + 8.0 * e4 +
                                   8.0 * std::exp(-2.0 * (2.0 + r2)) + 4.0 * e8) /
                                  28.0);
    const double got8 = check(ctx, oct, 8, 2, opts()).r.uniformity;
    EXPECT_NEAR(got8, want8, 1e-15);
    for (int e : {-120, 100}) {
        std::vector<float> xs;
        for (float v : oct) xs.push_back(std::ldexp(v, e));
        EXPECT_EQ(check(ctx, xs, 8, 2, opts()).r.uniformity, got8) << "2^" << e;
    }
    const int64_t n = 600;
    auto g = data::gaussian(n, 2, data::seed(92));
    for (size_t i = 0; i < g.size(); i += 10) g[i] = g[i + 1] = 0.0f;
    EXPECT_NEAR(check(ctx, g, n, 2, opts()).r.uniformity, uniformity_ld(g, n, 2), 1e-14);
    auto one = data::gaussian(n, 2, data::seed(93), 5.0, 0.2);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        EXPECT_NEAR(check(ctx, one, n, 2, opts(metric)).r.uniformity, uniformity_ld(one, n, 2),
                    1e-14);
    auto two = data::gaussian(n, 2, data::seed(94), 0.0, 1e-3);
    for (int64_t i = 0; i < n; i++) two[(size_t)(2 * i)] += i % 2 ? 1.0f : -1.0f;
    EXPECT_NEAR(check(ctx, two, n, 2, opts()).r.uniformity, uniformity_ld(two, n, 2), 1e-14);
    // the rows at a float32 subnormal scale (2^-140): the same figure, not zero rows
    std::vector<float> sub;
    for (float v : g) sub.push_back(std::ldexp(v, -140));
    EXPECT_NEAR(check(ctx, sub, n, 2, opts()).r.uniformity, uniformity_ld(sub, n, 2), 1e-14);
    // two antipodal rows, where the harmonics' roundings cancel least (about 3e-12 at worst),
    // and two identical rows, whose sum rounds a few ulps above 1: the figure stays in [-8, 0]
    for (const std::vector<float> &pair :
         {std::vector<float>{3, -1, -6, 2},
          std::vector<float>{-0.3125f, 2.671875f, 0.3125f, -2.671875f},
          std::vector<float>{0.1f, 0.7f, -0.1f, -0.7f}}) {
        const double got = check(ctx, pair, 2, 2, opts()).r.uniformity;
        EXPECT_NEAR(got, uniformity_ld(pair, 2, 2), 4e-12);
        EXPECT_GE(got, -8.0);
    }
    const std::vector<float> same = {0.3f, 0.7f, 0.3f, 0.7f};
    EXPECT_EQ(check(ctx, same, 2, 2, opts()).r.uniformity, 0.0);
}

// At D = 3 the uniformity comes from the rows' spherical harmonics (lsc_unif_sphere_sum1) where a
// row has at least 512 pairs on average (N >= 1025 here), on every CPU. Known answer: 1,026 rows
// along +-e_1, +-e_2, +-e_3 (171 of each, various lengths) and 6 zero rows: pairs of one
// direction at d2 = 0, opposite 4, orthogonal 2, a zero row at 1 from the others, 0 from
// another. Then Gaussian rows with every tenth a zero row, rows offset far from the origin
// (every term near 1, and the rows the float32 forms turn away), two antipodal clusters (the
// cross pairs' terms near e^-8) and cosine, each against the pair loop in long double within a
// few roundings of the sums; and 1,024 rows (511.5 pairs a row) take the pairs' terms, whose
// figure carries the float32 product's error (3e-9 from the long double loop here), where 1,025
// of the same rows take the harmonics.
TEST(Pairs, UniformityAtDThreeFromTheRowsHarmonics)
{
    Ctx ctx;
    const int64_t n = 1032, per = 171, nz = 6;
    std::vector<float> axes((size_t)(n * 3), 0.0f);
    for (int64_t i = 0; i < 6 * per; i++)
        axes[(size_t)(i * 3 + (i % 6) / 2)] = (i % 2 ? -1.0f : 1.0f) * (float)(1 + i % 7);
    const double same = 6.0 * per * (per - 1) / 2.0, opp = 3.0 * per * per, orth = 12.0 * per * per,
                 zu = (double)nz * 6.0 * per, zz = nz * (nz - 1) / 2.0;
    const double want =
        std::log((same + opp * std::exp(-8.0) + orth * std::exp(-4.0) + zu * std::exp(-2.0) + zz) /
                 (n * (n - 1) / 2.0));
    EXPECT_NEAR(check(ctx, axes, n, 3, opts()).r.uniformity, want, 1e-14);
    const int64_t m = 1100;
    auto g = data::gaussian(m, 3, data::seed(95));
    for (size_t i = 0; i < g.size(); i += 30) g[i] = g[i + 1] = g[i + 2] = 0.0f;
    EXPECT_NEAR(check(ctx, g, m, 3, opts()).r.uniformity, uniformity_ld(g, m, 3), 1e-14);
    auto off = data::gaussian(m, 3, data::seed(96), 0.5);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        EXPECT_NEAR(check(ctx, off, m, 3, opts(metric)).r.uniformity, uniformity_ld(off, m, 3),
                    1e-14);
    auto two = data::gaussian(m, 3, data::seed(97), 0.0, 1e-3);
    for (int64_t i = 0; i < m; i++) two[(size_t)(3 * i + 2)] += i % 2 ? 1.0f : -1.0f;
    EXPECT_NEAR(check(ctx, two, m, 3, opts()).r.uniformity, uniformity_ld(two, m, 3), 1e-14);
    std::vector<float> sub; // a float32 subnormal scale (2^-140): the same figure, not zero rows
    for (float v : g) sub.push_back(std::ldexp(v, -140));
    EXPECT_NEAR(check(ctx, sub, m, 3, opts()).r.uniformity, uniformity_ld(sub, m, 3), 1e-14);
    std::vector<float> alike((size_t)(m * 3)); // identical rows: 0, never above
    for (int64_t i = 0; i < m; i++) {
        alike[(size_t)(3 * i)] = 0.3f;
        alike[(size_t)(3 * i + 1)] = -0.7f;
        alike[(size_t)(3 * i + 2)] = 0.2f;
    }
    EXPECT_LE(check(ctx, alike, m, 3, opts()).r.uniformity, 0.0);
    auto h = data::gaussian(1025, 3, data::seed(98));
    const double by_harmonics = check(ctx, h, 1025, 3, opts()).r.uniformity;
    const double by_pairs = check(ctx, h, 1024, 3, opts()).r.uniformity;
    EXPECT_GT(std::fabs(by_pairs - uniformity_ld(h, 1024, 3)), 1e-12);
    EXPECT_NEAR(by_harmonics, uniformity_ld(h, 1025, 3), 1e-14);
}

// The wide form's admission on a tile's core (host/cpu/pairs.c, unif_row_sum's third case) reads
// the core's own values: its largest s (the s_i s_j |p_i| part), its smallest and largest r (square
// roots of r^2, unif_stats_done) and its largest s |p|. The test above admits every core row either
// way, so a pass that dropped the s_i s_j |p_i| part, took the largest r for the smallest or left r
// squared passed it, and each of those admits a row whose bound exceeds its budget (the pinned
// tolerance's premise). Here 28 core rows (14 v, each +-) around m = (1/16, 0, 0) (dyadic, every
// product exact) and the same outliers: every row fails the float32 path and the wide form on all
// base rows, 26 core rows fit the wide form on the core and two do not, and each of those three
// slips changes some core row's choice (all checked). So the figure is the emulation of that choice
// to summation order: the wide form without the outliers for the 26, the float64 loop for the other
// two and the outliers' rows. Without the float32 paths the exact figure's bound.
TEST(Pairs, UniformityAdmitsTheTilesCoreByItsOwnValues)
{
    Ctx ctx;
    // clang-format off
    std::vector<double> v = {53, -42, -22, 70, 38, 79, -50, -68, -3, 4, 49, 79, -17, 50, -54, 5,
                             24, -10, 41, -63, -35, 68, -8, 3, 64, -48, 60, -37};
    // clang-format on
    for (double &e : v) e /= 16.0;
    const OffCentreRows R(v, {1.0 / 32.0, 1.0 / 16.0, 1.0 / 32.0, -3.0 / 32.0});
    const unif_tile_values &all = R.all, &kept = R.kept;
    const int64_t d = R.d;
    double ssum = 0.0;
    for (const lsc_unif_row &r : R.rows) ssum += r.s;
    for (int64_t i = 0; i < R.n; i++) // the outliers are the pass's: s over 3 times the mean
        ASSERT_EQ(R.rows[(size_t)i].s > 3.0 * ssum / (double)R.n, R.out[(size_t)i]) << i;
    double want = 0.0;
    int64_t fit = 0, slips[3] = {0, 0, 0};
    for (int64_t i = 0; i < R.n; i++) {
        const lsc_unif_row ri = R.rows[(size_t)i];
        const double r_i = R.r(i);
        const bool core = !R.out[(size_t)i];
        ASSERT_FALSE(lsc_unif_f32_fits(ri, r_i, all.rmin, all.rmax, all.smax, all.spmax, d));
        ASSERT_FALSE(all.wide_fits(ri, r_i, d)) << "row " << i;
        const bool w = core && kept.wide_fits(ri, r_i, d);
        fit += w;
        // the slips: no s_i s_j |p_i| part, the largest r for the smallest, r squared
        slips[0] +=
            core && w != lsc_unif_f32w_fits(ri, r_i, kept.rmin, kept.rmax, 0.0, kept.spmax, d);
        slips[1] += core && w != lsc_unif_f32w_fits(ri, r_i, kept.rmax, kept.rmax, kept.smax,
                                                    kept.spmax, d);
        slips[2] +=
            core && w != lsc_unif_f32w_fits(ri, r_i, kept.rmin * kept.rmin, kept.rmax * kept.rmax,
                                            kept.smax, kept.spmax, d);
        double f, o;
        R.f64_row(i, &f, &o);
        want += w ? R.wide_row(i, false) + o : f;
    }
    ASSERT_EQ(fit, 26);
    for (int k = 0; k < 3; k++) ASSERT_GT(slips[k], 0) << "slip " << k;
    const double pairs = (double)(R.n * (R.n - 1) / 2);
    const double got = check(ctx, R.x, R.n, d, opts()).r.uniformity;
    if (uniformity_float32_paths()) EXPECT_NEAR(got, std::log(want / pairs), 2e-15);
    else EXPECT_NEAR(got, R.exact(), 2e-10);
}

// Uniformity (Wang & Isola 2020, t = 2; docs/METRICS.md section 9): the known answers, and the
// zero-row convention of the authors' code (a zero row stays the zero vector). The products here
// are exact, so on the float64 loops the bound is the exp's own (1.11e-10 relative, 5.1e-12 for
// the AVX-512 loop's; common/geometry_rules.h); on an AVX-512 CPU rows of r = 1 (cosine, and
// rows spread around the origin) take a float32 path at any D, and the bound is that path's own,
// at most 21.6 2^-24 for them. ctest runs these again with LSC_CPU_AVX512=0 (*.portable), where
// the float64 bound holds.
TEST(Pairs, UniformityKnownAnswers)
{
    Ctx ctx;
    const double tol = uniformity_float32_paths() ? 21.6 * 0x1p-24 : 2e-10;
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        SCOPED_TRACE((int)metric);
        // identical rows: every distance 0, log(1) = 0
        for (int64_t d : {3, 8}) {
            auto x = data::identical_rows(40, d, data::seed(61));
            EXPECT_NEAR(check(ctx, x, 40, d, opts(metric)).r.uniformity, 0.0, tol);
        }
        // two antipodal rows: ||u - v||^2 = 4, log exp(-8) = -8
        std::vector<float> ap = {3.0f, 0.0f, -4.0f, -1.5f, 0.0f, 2.0f};
        EXPECT_NEAR(check(ctx, ap, 2, 3, opts(metric)).r.uniformity, -8.0, tol);
        // the 2D orthonormal pair: ||u - v||^2 = 2, -4
        std::vector<float> orth = {0.0f, 5.0f, 2.0f, 0.0f};
        EXPECT_NEAR(check(ctx, orth, 2, 2, opts(metric)).r.uniformity, -4.0, tol);
    }
    // a zero row (euclidean only; cosine refuses it): distance 1 from the unit rows, 0 from
    // another zero row: pairs (0,1): 1, (0,2): 1, (1,2): 2, (0,3): 0, (1,3): 1, (2,3): 1
    std::vector<float> z = {0.0f, 0.0f, 1.0f, 0.0f, 0.0f, -3.0f, 0.0f, 0.0f};
    // rows: 0 zero, 1 (1,0), 2 (0,-3), 3 zero
    const double want = std::log((4.0 * std::exp(-2.0) + std::exp(-4.0) + 1.0) / 6.0);
    EXPECT_NEAR(check(ctx, z, 4, 2, opts()).r.uniformity, want, tol);
}
