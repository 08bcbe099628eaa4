// The sharded all-pairs statistics (lsc_pair_stats_sharded, lsc.h section 12) over the in-process
// transport of fake_transport.hpp: P = 1..4 threads, one a rank. Every rank must return the very
// same figures, and they must equal lsc_pair_stats on the concatenated rows: every decision
// exactly (min, max, nn_*, histogram and its bound, the near-duplicate count and list with global
// indices), mean, std and uniformity within docs/METRICS.md's tolerances; for every split tried
// (even, uneven, empty shards), both metrics, subsets, duplicates and ties. Bad input on one
// rank must reach every rank as the same status and message.
#include "datasets.hpp"
#include "fake_transport.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using fake::offsets;
using fake::run_with;
using fake::shard;

struct PairOut {
    lsc_status st = LSC_STATUS_INTERNAL;
    std::string msg;
    lsc_pair_result r = LSC_PAIR_RESULT_INIT;
    std::vector<int64_t> hist;
    std::vector<lsc_pair> dups;
};

// lsc_pair_stats on one process (one thread, as the ranks).
PairOut one_process(const std::vector<float> &x, int64_t n, int64_t d, const lsc_pair_opts &o)
{
    lsc_ctx_params prm = LSC_CTX_PARAMS_INIT;
    prm.backend = LSC_BACKEND_CPU;
    prm.threads = 1;
    lsc_ctx *ctx = nullptr;
    EXPECT_EQ(lsc_ctx_create(&prm, &ctx), LSC_STATUS_OK);
    PairOut out;
    out.hist.assign((size_t)o.bins, -1);
    out.dups.assign((size_t)o.dup_report + 1, lsc_pair{-1, -1, -1.0});
    lsc_matrix a = lsc_matrix_f32(x.data(), n, d);
    out.st = lsc_pair_stats(ctx, &a, &o, &out.r, out.hist.data(), out.dups.data());
    out.msg = lsc_last_error(ctx);
    lsc_ctx_destroy(ctx);
    return out;
}

// lsc_pair_stats_sharded on P = sizes.size() ranks over x split by sizes; `tweak` may change a
// rank's matrix or options before the call.
std::vector<PairOut>
sharded(const std::vector<float> &x, int64_t d, const std::vector<int64_t> &sizes,
        const lsc_pair_opts &o,
        const std::function<void(int, lsc_matrix &, lsc_pair_opts &)> &tweak = nullptr,
        fake::Hub *hub = nullptr)
{
    const int P = (int)sizes.size();
    const auto off = offsets(sizes);
    std::vector<PairOut> outs((size_t)P);
    fake::run(
        P,
        [&](int p, lsc_ctx *ctx) {
            PairOut &out = outs[(size_t)p];
            out.hist.assign((size_t)o.bins, -1);
            out.dups.assign((size_t)o.dup_report + 1, lsc_pair{-1, -1, -1.0});
            lsc_matrix a = lsc_matrix_f32(
                sizes[(size_t)p] ? x.data() + off[(size_t)p] * d : nullptr, sizes[(size_t)p], d);
            lsc_pair_opts mine = o;
            if (tweak) tweak(p, a, mine);
            out.st =
                lsc_pair_stats_sharded(ctx, &a, &mine, &out.r, out.hist.data(), out.dups.data());
            out.msg = lsc_last_error(ctx);
        },
        hub);
    return outs;
}

bool close(double got, double want, double rel, double abs_tol)
{
    return std::fabs(got - want) <= std::max(rel * std::fabs(want), abs_tol);
}

// The uniformity's tolerance between two computations of it: twice the pinned bound
// 8 (D + 2) 2^-24 max r_i^2 (docs/METRICS.md section 9), r_i = ||x_i - m|| / ||x_i||, here with
// m = 0 and m the mean, whichever is larger (the two passes centre on slightly different means).
double unif_tol(const std::vector<float> &x, int64_t n, int64_t d)
{
    std::vector<double> mu((size_t)d, 0.0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) mu[(size_t)c] += x[(size_t)(i * d + c)] / (double)n;
    double r2 = 1.0;
    for (int64_t i = 0; i < n; i++) {
        double a = 0, b = 0;
        for (int64_t c = 0; c < d; c++) {
            const double v = x[(size_t)(i * d + c)];
            a += (v - mu[(size_t)c]) * (v - mu[(size_t)c]);
            b += v * v;
        }
        if (b > 0 && a / b > r2) r2 = a / b;
    }
    return 2 * 8 * (double)(d + 2) * std::ldexp(1.0, -24) * r2;
}

// Every rank's figures are the same bits, and equal one process's (exact decisions exactly).
void expect_matches(const std::vector<PairOut> &outs, const PairOut &want, double utol,
                    const std::string &what)
{
    SCOPED_TRACE(what);
    ASSERT_EQ(want.st, LSC_STATUS_OK) << want.msg;
    for (size_t p = 0; p < outs.size(); p++) {
        const PairOut &g = outs[p];
        SCOPED_TRACE("rank " + std::to_string(p));
        ASSERT_EQ(g.st, LSC_STATUS_OK) << g.msg;
        // every rank the very same bits
        EXPECT_EQ(std::memcmp(&g.r, &outs[0].r, sizeof g.r), 0);
        EXPECT_EQ(g.hist, outs[0].hist);
        EXPECT_EQ(std::memcmp(g.dups.data(), outs[0].dups.data(), g.dups.size() * sizeof(lsc_pair)),
                  0);
        // exact figures exactly
        EXPECT_EQ(g.r.rows_used, want.r.rows_used);
        EXPECT_EQ(g.r.pairs, want.r.pairs);
        EXPECT_EQ(g.r.subset, want.r.subset);
        EXPECT_EQ(g.r.bins, want.r.bins);
        EXPECT_EQ(g.r.hist_upper, want.r.hist_upper);
        EXPECT_EQ(g.r.min, want.r.min);
        EXPECT_EQ(g.r.max, want.r.max);
        EXPECT_EQ(g.r.nn_min, want.r.nn_min);
        EXPECT_EQ(g.r.nn_max, want.r.nn_max);
        EXPECT_EQ(g.r.nn_median, want.r.nn_median);
        EXPECT_EQ(g.r.near_duplicate_pairs, want.r.near_duplicate_pairs);
        EXPECT_EQ(g.r.near_duplicates_listed, want.r.near_duplicates_listed);
        EXPECT_EQ(g.hist, want.hist);
        for (size_t e = 0; e < want.dups.size(); e++) {
            EXPECT_EQ(g.dups[e].i, want.dups[e].i) << "entry " << e;
            EXPECT_EQ(g.dups[e].j, want.dups[e].j) << "entry " << e;
            EXPECT_EQ(g.dups[e].d, want.dups[e].d) << "entry " << e;
        }
        // continuous figures within the tolerances (2e-4 relative or 1e-9 absolute)
        EXPECT_TRUE(close(g.r.mean, want.r.mean, 2e-4, 1e-9)) << g.r.mean << " " << want.r.mean;
        EXPECT_TRUE(close(g.r.std, want.r.std, 2e-4, 1e-9)) << g.r.std << " " << want.r.std;
        EXPECT_TRUE(close(g.r.nn_mean, want.r.nn_mean, 2e-4, 1e-9));
        if (std::isnan(want.r.uniformity)) EXPECT_TRUE(std::isnan(g.r.uniformity));
        else EXPECT_NEAR(g.r.uniformity, want.r.uniformity, utol);
    }
}

// Splits of n rows into P shards: even, everything on one rank, empty shards, seeded random.
std::vector<std::vector<int64_t>> splits(int64_t n, int P, uint64_t sd)
{
    std::vector<std::vector<int64_t>> out;
    std::vector<int64_t> even;
    for (int p = 0; p < P; p++) even.push_back(n * (p + 1) / P - n * p / P);
    out.push_back(even);
    for (int p = 0; p < P && P > 1; p++) { // all rows on rank p, the others empty
        std::vector<int64_t> s((size_t)P, 0);
        s[(size_t)p] = n;
        out.push_back(s);
    }
    if (P >= 3) { // one row at each end, the rest in between
        std::vector<int64_t> s((size_t)P, 0);
        s[0] = 1;
        s[(size_t)P - 1] = 1;
        s[1] = n - 2;
        out.push_back(s);
    }
    std::mt19937_64 g(sd);
    for (int t = 0; t < 3 && P > 1; t++) { // random cut points, empty shards allowed
        std::vector<int64_t> cut = {0, n};
        for (int p = 1; p < P; p++) cut.push_back((int64_t)(g() % (uint64_t)(n + 1)));
        std::sort(cut.begin(), cut.end());
        std::vector<int64_t> s;
        for (int p = 0; p < P; p++) s.push_back(cut[(size_t)p + 1] - cut[(size_t)p]);
        out.push_back(s);
    }
    return out;
}

std::string describe(const std::vector<int64_t> &s)
{
    std::string t = "split";
    for (int64_t v : s) t += " " + std::to_string(v);
    return t;
}

void expect_every_split(const std::vector<float> &x, int64_t n, int64_t d, const lsc_pair_opts &o,
                        const std::string &what)
{
    const PairOut want = one_process(x, n, d, o);
    ASSERT_EQ(want.st, LSC_STATUS_OK) << want.msg;
    const double utol = unif_tol(x, n, d);
    for (int P = 1; P <= 4; P++)
        for (const auto &s : splits(n, P, 17 + (uint64_t)P))
            expect_matches(sharded(x, d, s, o), want, utol, what + ", " + describe(s));
}

// Gaussian rows with exact duplicates (some across shards, some three of a kind), near
// duplicates one float32 step apart, and a zero-free layout (cosine takes it too).
std::vector<float> duplicates_data(int64_t n, int64_t d, uint64_t sd)
{
    auto x = data::with_duplicates(n, d, sd, {{0, 1}, {2, n - 1}, {5, 17}, {5, 30}, {12, 13}});
    for (int64_t c = 0; c < d; c++) x[(size_t)(20 * d + c)] = x[(size_t)(3 * d + c)];
    x[(size_t)(20 * d + 1)] = std::nextafter(x[(size_t)(20 * d + 1)], 10.0f);
    for (int64_t c = 0; c < d; c++) x[(size_t)(40 * d + c)] = x[(size_t)(9 * d + c)];
    x[(size_t)(40 * d)] = std::nextafter(x[(size_t)(40 * d)], -10.0f);
    return x;
}

// Rows on a small integer grid: many tied distances, so the list's order by (d, i, j) and the
// histogram's edges are exercised.
std::vector<float> grid_data(int64_t n, int64_t d, uint64_t sd)
{
    std::mt19937_64 g(sd);
    std::vector<float> x((size_t)(n * d));
    for (auto &v : x) v = (float)(1 + (int)(g() % 3));
    return x;
}

TEST(PairsSharded, EuclideanEqualsOneProcessForEverySplit)
{
    const int64_t n = 47, d = 5;
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    o.bins = 16;
    o.dup_report = 6;
    expect_every_split(duplicates_data(n, d, 3), n, d, o, "euclidean");
}

TEST(PairsSharded, CosineEqualsOneProcessForEverySplit)
{
    const int64_t n = 47, d = 5;
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    o.metric = LSC_METRIC_COSINE;
    o.bins = 16;
    o.dup_report = 6;
    o.uniformity = 1;
    expect_every_split(duplicates_data(n, d, 4), n, d, o, "cosine");
}

// Rows wide enough (D = 32, r about 1) that on an AVX-512 CPU most rows take the uniformity's
// float32 path (lsc_unif_f32_fits), also in the ring steps' passes across two sets, whose base
// rows' float32 s and s p start at nb_off: the figure within its tolerance of one process's.
TEST(PairsSharded, UniformityOfWideRowsForEverySplit)
{
    const int64_t n = 96, d = 32;
    for (int metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
        o.metric = (lsc_metric)metric;
        o.bins = 16;
        o.uniformity = 1;
        expect_every_split(data::gaussian(n, d, 31 + (uint64_t)metric), n, d, o,
                           metric == LSC_METRIC_COSINE ? "cosine" : "euclidean");
    }
}

// At D = 1 to 3 each pass takes the uniformity from its rows' signs (D = 1) or harmonics (D = 2;
// D = 3 where its rows have at least 512 pairs on average, else each pair's term): the
// lsc_unif_*_sum of two blocks, _sum1 within one. Every split's figure equals one process's,
// zero rows (every 7th row) included. At D = 3, 3,100 rows: the even split in two takes the
// harmonics within its halves and across them (blocks of 775 x 1,550 rows, the last ring
// step's halves), the other splits mix both forms.
TEST(PairsSharded, UniformityFromSignsAndHarmonicsForEverySplit)
{
    for (int64_t d : {1, 2, 3}) {
        const int64_t n = d == 3 ? 3100 : 96;
        auto x = data::gaussian(n, d, 56 + (uint64_t)d);
        for (int64_t i = 0; i < n; i += 7)
            for (int64_t k = 0; k < d; k++) x[(size_t)(i * d + k)] = 0.0f;
        lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
        o.bins = 16;
        o.uniformity = 1;
        expect_every_split(x, n, d, o, "d = " + std::to_string(d));
    }
}

TEST(PairsSharded, TiesOrderedByIndexAcrossRanks)
{
    // a grid of 3^4 points: near-duplicates up to d = 1.5 are many tied pairs at 0 and 1, of
    // which the first 25 are listed (selected across ranks, then ordered by i, then j)
    const int64_t n = 40, d = 4;
    for (int metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
        o.metric = (lsc_metric)metric;
        o.bins = 7;
        o.dup_eps = metric == LSC_METRIC_EUCLIDEAN ? 1.5 : 0.02;
        o.dup_report = 25;
        o.uniformity = 1;
        expect_every_split(grid_data(n, d, 5), n, d, o,
                           metric == LSC_METRIC_EUCLIDEAN ? "grid euclidean" : "grid cosine");
    }
}

TEST(PairsSharded, LargeOffsetAndManyBins)
{
    // a common offset far larger than the spread: the bound's mean must be one process's bits
    const int64_t n = 33, d = 6;
    auto x = data::gaussian(n, d, 6, 300.0, 0.01);
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    o.bins = 4096;
    o.dup_eps = 0.0;
    expect_every_split(x, n, d, o, "offset");
}

TEST(PairsSharded, BoundIsOneProcessBitsWhereSumsRound)
{
    // column sums that round in float64 (values near 2^27 and 1e-3 in every column; cosine:
    // normalised rows with full-width float64 values), so a mean summed in another order than
    // one process's (per rank, then across ranks) differs in its last bits, and the bound too
    const int64_t n = 40, d = 3;
    std::mt19937_64 g(12);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    std::vector<float> big((size_t)(n * d)), near((size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) {
            big[(size_t)(i * d + c)] =
                (float)((i + c) % 2 ? std::ldexp(1.0 + 0.5 * u(g), 27) : 1e-3 * u(g));
            near[(size_t)(i * d + c)] = (float)(10.0 + (c + 1) * 0.01 * u(g));
        }
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    o.bins = 1000;
    expect_every_split(big, n, d, o, "euclidean, rounding sums");
    o.metric = LSC_METRIC_COSINE;
    expect_every_split(near, n, d, o, "cosine, rounding sums");
}

TEST(PairsSharded, SubsetsEqualOneProcess)
{
    const int64_t n = 50, d = 4;
    auto x = duplicates_data(n, d, 7);
    for (int metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
        o.metric = (lsc_metric)metric;
        o.bins = 9;
        o.dup_report = 4;
        o.uniformity = 1;
        o.seed = 11;
        for (int64_t rows : {2, 21, 49}) {
            o.subset_rows = rows;
            o.subset_offset = n - rows - 1; // the last positions but one
            const PairOut want = one_process(x, n, d, o);
            ASSERT_EQ(want.r.subset, 1);
            ASSERT_EQ(want.r.rows_used, rows);
            for (int P = 1; P <= 4; P++)
                for (const auto &s : splits(n, P, 29 + (uint64_t)P))
                    expect_matches(sharded(x, d, s, o), want, unif_tol(x, n, d),
                                   "subset " + std::to_string(rows) + " metric " +
                                       std::to_string(metric) + ", " + describe(s));
        }
        // subset_rows >= N: every row, no subset
        o.subset_rows = n;
        o.subset_offset = 0;
        const PairOut want = one_process(x, n, d, o);
        ASSERT_EQ(want.r.subset, 0);
        expect_matches(sharded(x, d, {20, 0, 30}, o), want, unif_tol(x, n, d), "subset = N");
    }
}

TEST(PairsSharded, SubsetNearDuplicatesReportInputRows)
{
    // the listed pairs name rows of the concatenated input, as lsc_pair_stats names x's rows
    const int64_t n = 30, d = 3;
    auto x = data::identical_rows(n, d, 2);
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    o.subset_rows = 6;
    o.subset_offset = 3;
    o.seed = 5;
    o.dup_report = 15;
    const PairOut want = one_process(x, n, d, o);
    ASSERT_EQ(want.r.near_duplicates_listed, 15);
    int64_t sample[6];
    lsc_ctx *ctx = nullptr;
    lsc_ctx_params prm = LSC_CTX_PARAMS_INIT;
    ASSERT_EQ(lsc_ctx_create(&prm, &ctx), LSC_STATUS_OK);
    ASSERT_EQ(lsc_sample_rows(ctx, 5, n, 3, 6, sample), LSC_STATUS_OK);
    lsc_ctx_destroy(ctx);
    auto outs = sharded(x, d, {7, 8, 0, 15}, o);
    expect_matches(outs, want, 1e-12, "identical rows");
    for (int64_t e = 0; e < 15; e++) {
        const lsc_pair &pr = outs[0].dups[(size_t)e];
        EXPECT_LT(pr.i, pr.j);
        EXPECT_TRUE(std::count(sample, sample + 6, pr.i) == 1) << pr.i;
        EXPECT_TRUE(std::count(sample, sample + 6, pr.j) == 1) << pr.j;
    }
}

TEST(PairsSharded, TwoRowsInAllAndNoLists)
{
    const int64_t d = 3;
    std::vector<float> x = {1, 2, 3, 1, 2, 3.5f};
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    const PairOut want = one_process(x, 2, d, o);
    expect_matches(sharded(x, d, {0, 1, 0, 1}, o), want, 1e-12, "two rows apart");
    expect_matches(sharded(x, d, {0, 2, 0}, o), want, 1e-12, "two rows together");
    // NULL histogram and list: figures alone
    std::vector<PairOut> outs(3);
    fake::run(3, [&](int p, lsc_ctx *ctx) {
        lsc_matrix a = lsc_matrix_f32(p == 1 ? x.data() : nullptr, p == 1 ? 2 : 0, d);
        outs[(size_t)p].st =
            lsc_pair_stats_sharded(ctx, &a, nullptr, &outs[(size_t)p].r, nullptr, nullptr);
    });
    for (const auto &g : outs) {
        EXPECT_EQ(g.st, LSC_STATUS_OK);
        EXPECT_EQ(g.r.min, want.r.min);
        EXPECT_EQ(g.r.near_duplicates_listed, 0);
    }
}

TEST(PairsSharded, ExtremeOptions)
{
    const int64_t n = 20, d = 3;
    auto x = duplicates_data(n + 30, d, 10);
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    o.bins = 1;
    o.dup_report = 0;
    expect_every_split(x, n, d, o, "one bin, no list");
    o.bins = 3;
    o.dup_eps = 1e30; // every pair a near duplicate, all 190 listed
    o.dup_report = 200;
    expect_every_split(x, n, d, o, "every pair listed");
}

TEST(PairsSharded, WithoutTransportIsOneProcess)
{
    const int64_t n = 25, d = 4;
    auto x = duplicates_data(n + 20, d, 8);
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    o.dup_report = 3;
    const PairOut want = one_process(x, n, d, o);
    lsc_ctx_params prm = LSC_CTX_PARAMS_INIT;
    prm.backend = LSC_BACKEND_CPU;
    lsc_ctx *ctx = nullptr;
    ASSERT_EQ(lsc_ctx_create(&prm, &ctx), LSC_STATUS_OK);
    PairOut got;
    got.hist.assign((size_t)o.bins, -1);
    got.dups.assign((size_t)o.dup_report + 1, lsc_pair{-1, -1, -1.0});
    lsc_matrix a = lsc_matrix_f32(x.data(), n, d);
    got.st = lsc_pair_stats_sharded(ctx, &a, &o, &got.r, got.hist.data(), got.dups.data());
    expect_matches({got}, want, 1e-12, "no transport");
    lsc_ctx_destroy(ctx);
}

TEST(PairsSharded, EachPairOnceAndCollectivesPerCall)
{
    // agreements (options, counts, buffers, bound, diagonal), one broadcast per rank with rows,
    // floor(P/2) ring steps each with its agreement, three all-gathers of the results
    const int64_t n = 24, d = 3;
    auto x = data::gaussian(n, d, 9);
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    for (int P = 1; P <= 4; P++) {
        fake::Hub hub(P);
        std::vector<int64_t> s;
        for (int p = 0; p < P; p++) s.push_back(n * (p + 1) / P - n * p / P);
        auto outs = sharded(x, d, s, o, nullptr, &hub);
        ASSERT_EQ(outs[0].st, LSC_STATUS_OK) << outs[0].msg;
        const int half = P / 2;
        EXPECT_EQ(hub.collectives, 5 + P + 2 * half + 2 + (half > 0 ? 1 : 0)) << "P = " << P;
        int64_t total = 0;
        for (auto h : outs[0].hist) total += h;
        EXPECT_EQ(total, n * (n - 1) / 2);
    }
}

// ---- errors reach every rank ---------------------------------------------------------------

void expect_agreed_failure(const std::vector<PairOut> &outs, lsc_status want,
                           const std::vector<std::string> &words)
{
    for (size_t p = 0; p < outs.size(); p++) {
        EXPECT_EQ(outs[p].st, want) << "rank " << p << ": " << outs[p].msg;
        EXPECT_EQ(outs[p].msg, outs[0].msg) << "rank " << p;
        for (const auto &w : words) EXPECT_TRUE(mentions(outs[p].msg.c_str(), w)) << outs[p].msg;
        EXPECT_EQ(outs[p].r.rows_used, 0) << "rank " << p; // a failed call writes nothing
        EXPECT_EQ(outs[p].hist[0], -1) << "rank " << p;
    }
}

TEST(PairsSharded, NaNOnOneRankReachesEveryRank)
{
    const int64_t n = 40, d = 6;
    auto x = data::gaussian(n, d, 2);
    x[(size_t)(25 * d + 4)] = NAN; // rank 2's row 5 with shards of 10
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    expect_agreed_failure(sharded(x, d, {10, 10, 10, 10}, o), LSC_STATUS_INVALID_DATA,
                          {"rank 2", "row 5", "col 4"});
}

TEST(PairsSharded, CosineZeroRowReachesEveryRank)
{
    const int64_t n = 12, d = 3;
    auto x = data::gaussian(n, d, 2);
    for (int64_t c = 0; c < d; c++) x[(size_t)(7 * d + c)] = 0.0f; // rank 1's row 1
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    o.metric = LSC_METRIC_COSINE;
    expect_agreed_failure(sharded(x, d, {6, 6}, o), LSC_STATUS_INVALID_DATA, {"rank 1", "row 1"});
}

TEST(PairsSharded, MismatchesReachEveryRank)
{
    const int64_t n = 40, d = 6;
    auto x = data::gaussian(n, d, 2);
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    expect_agreed_failure(sharded(x, d, {10, 10, 20}, o,
                                  [](int p, lsc_matrix &a, lsc_pair_opts &) {
                                      if (p == 1) a.cols = 5;
                                  }),
                          LSC_STATUS_INVALID_ARGUMENT, {"rank 1", "cols"});
    expect_agreed_failure(sharded(x, d, {10, 10, 20}, o,
                                  [](int p, lsc_matrix &, lsc_pair_opts &m) {
                                      if (p == 2) m.dup_eps = 0.5;
                                  }),
                          LSC_STATUS_INVALID_ARGUMENT, {"rank 2", "dup_eps"});
    expect_agreed_failure(sharded(x, d, {10, 10, 20}, o,
                                  [](int p, lsc_matrix &, lsc_pair_opts &m) {
                                      if (p == 1) m.bins = 0;
                                  }),
                          LSC_STATUS_INVALID_ARGUMENT, {"rank 1", "bins"});
    // a subset beyond the rows of all ranks together, checked against the global count
    o.subset_rows = 30;
    o.subset_offset = 11;
    expect_agreed_failure(sharded(x, d, {10, 10, 20}, o), LSC_STATUS_INVALID_ARGUMENT,
                          {"offset 11", "40 rows"});
}

TEST(PairsSharded, TooFewRowsInAll)
{
    const int64_t d = 3;
    std::vector<float> x = {1, 2, 3};
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    expect_agreed_failure(sharded(x, d, {0, 1, 0}, o), LSC_STATUS_INVALID_ARGUMENT,
                          {"1 rows", "at least 2"});
    expect_agreed_failure(sharded(x, d, {0, 0}, o), LSC_STATUS_INVALID_ARGUMENT, {"0 rows"});
}

TEST(PairsSharded, TransportWithoutRingStepIsNotSupportedOnEveryRank)
{
    const int64_t n = 20, d = 3;
    auto x = data::gaussian(n, d, 2);
    for (int P : {2, 3}) {
        std::vector<PairOut> outs((size_t)P);
        run_with(
            P, [](int, lsc_transport &t) { t.ring = nullptr; },
            [&](int p, lsc_ctx *ctx) {
                const int64_t lo = n * p / P, hi = n * (p + 1) / P;
                lsc_matrix a = lsc_matrix_f32(x.data() + lo * d, hi - lo, d);
                PairOut &o = outs[(size_t)p];
                o.hist.assign(64, -1);
                o.st = lsc_pair_stats_sharded(ctx, &a, nullptr, &o.r, o.hist.data(), nullptr);
                o.msg = lsc_last_error(ctx);
            });
        expect_agreed_failure(outs, LSC_STATUS_NOT_SUPPORTED, {"ring step"});
    }
}

TEST(PairsSharded, BrokenTransportIsReported)
{
    const int64_t n = 20, d = 4;
    auto x = data::gaussian(n, d, 2);
    fake::Hub hub(2);
    hub.fail_broadcast = true;
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    auto outs = sharded(x, d, {10, 10}, o, nullptr, &hub);
    for (const auto &g : outs) {
        EXPECT_EQ(g.st, LSC_STATUS_TRANSPORT_ERROR) << g.msg;
        EXPECT_TRUE(mentions(g.msg.c_str(), "broken on purpose")) << g.msg;
        EXPECT_EQ(g.r.rows_used, 0);
    }
}

} // namespace
