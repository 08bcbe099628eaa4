// The ring-passing sharded calls (lsc.h section 12) over the in-process transport of
// fake_transport.hpp: the self and cosine kNN, the sharded reference and PRDC with both sets
// sharded. For P = 1..4 ranks, even, uneven and empty shards, both metrics and both comparisons,
// every rank must get exactly what one process gets on the concatenated rows (lists, radii,
// counts, flags bit for bit, so the figures too), and bad input on one rank must reach every
// rank as the same status and message, never a hang.
#include "datasets.hpp"
#include "fake_transport.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace {

using fake::offsets;
using fake::run_with;
using fake::shard;

using Sizes = std::vector<int64_t>;

// Splits of n rows over 1 to 4 ranks: even, uneven, empty first, middle and last shards.
std::vector<Sizes> splits(int64_t n)
{
    const int64_t a = n / 3, b = n / 4;
    return {{n},
            {a, n - a},
            {n, 0},
            {0, n},
            {b, 0, n - b},
            {1, a, n - 1 - a},
            {b, b, b, n - 3 * b},
            {0, a, 0, n - a},
            {n - 2, 1, 1, 0}};
}

bool has(const std::string &msg, const std::string &word)
{
    return msg.find(word) != std::string::npos;
}

lsc_ctx *cpu_ctx()
{
    lsc_ctx_params prm = LSC_CTX_PARAMS_INIT;
    prm.backend = LSC_BACKEND_CPU;
    prm.threads = 1;
    lsc_ctx *ctx = nullptr;
    EXPECT_EQ(lsc_ctx_create(&prm, &ctx), LSC_STATUS_OK);
    return ctx;
}

// Rows with exact duplicates far apart, so that ties are broken by the global index across
// shards, and generated rows that copy real rows, so that pairs sit exactly on radii.
std::vector<float> with_ties(int64_t n, int64_t d, uint64_t sd)
{
    auto x = data::gaussian(n, d, sd);
    for (int64_t c = 0; c < d; c++) {
        x[(size_t)((n - 2) * d + c)] = x[(size_t)(1 * d + c)];
        x[(size_t)((n / 2) * d + c)] = x[(size_t)(1 * d + c)];
        x[(size_t)((n - 1) * d + c)] = x[(size_t)(4 * d + c)];
    }
    return x;
}

// ---- kNN -------------------------------------------------------------------------------------

struct KnnOut {
    lsc_status st = LSC_STATUS_INTERNAL;
    std::string msg;
    std::vector<float> dist;
    std::vector<int64_t> idx;
};

// One process's lsc_knn with exclude_self on x (n x d): the lists the shards must give.
KnnOut one_self(const std::vector<float> &x, int64_t n, int64_t d, int64_t k, lsc_metric metric)
{
    KnnOut w;
    w.dist.assign((size_t)(n * k), -1.0f);
    w.idx.assign((size_t)(n * k), -1);
    lsc_ctx *ctx = cpu_ctx();
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    o.metric = metric;
    o.exclude_self = 1;
    w.st = lsc_knn(ctx, &m, nullptr, k, &o, w.dist.data(), w.idx.data());
    w.msg = lsc_last_error(ctx);
    lsc_ctx_destroy(ctx);
    return w;
}

// lsc_knn_sharded with exclude_self on x (n x d) split by sizes: each rank's own rows' lists.
std::vector<KnnOut> self_knn(const std::vector<float> &x, int64_t d, int64_t k, const Sizes &sizes,
                             lsc_metric metric,
                             const std::function<void(int, lsc_matrix &)> &tweak = nullptr,
                             const std::function<void(int, lsc_transport &)> &tt = nullptr,
                             fake::Hub *hub = nullptr)
{
    const int P = (int)sizes.size();
    const auto off = offsets(sizes);
    std::vector<KnnOut> outs((size_t)P);
    run_with(
        P,
        [&](int p, lsc_transport &t) {
            if (tt) tt(p, t);
        },
        [&](int p, lsc_ctx *ctx) {
            KnnOut &o = outs[(size_t)p];
            lsc_matrix a = shard(x, d, off, p);
            o.dist.assign((size_t)(a.rows * k) + 1, -1.0f);
            o.idx.assign((size_t)(a.rows * k) + 1, -1);
            if (tweak) tweak(p, a);
            lsc_knn_opts opts = LSC_KNN_OPTS_INIT;
            opts.metric = metric;
            opts.exclude_self = 1;
            o.st = lsc_knn_sharded(ctx, &a, nullptr, k, &opts, o.dist.data(), o.idx.data());
            o.msg = lsc_last_error(ctx);
            o.dist.pop_back();
            o.idx.pop_back();
        },
        nullptr, hub);
    return outs;
}

// Each rank's lists (outs, split by off) against one process's w, bit for bit.
void expect_shard_lists(const std::vector<KnnOut> &outs, const std::vector<int64_t> &off, int64_t k,
                        const KnnOut &w)
{
    for (size_t p = 0; p < outs.size(); p++) {
        ASSERT_EQ(outs[p].st, LSC_STATUS_OK) << outs[p].msg;
        const auto b = (size_t)(off[p] * k), e = (size_t)(off[p + 1] * k);
        EXPECT_EQ(outs[p].idx, std::vector<int64_t>(w.idx.begin() + b, w.idx.begin() + e))
            << "rank " << p;
        EXPECT_EQ(outs[p].dist, std::vector<float>(w.dist.begin() + b, w.dist.begin() + e))
            << "rank " << p; // bit for bit
    }
}

void expect_failure(const std::vector<lsc_status> &st, const std::vector<std::string> &msg,
                    lsc_status want, const std::vector<std::string> &words)
{
    for (size_t p = 0; p < st.size(); p++) {
        EXPECT_EQ(st[p], want) << "rank " << p << ": " << msg[p];
        EXPECT_EQ(msg[p], msg[0]) << "rank " << p;
        for (const auto &w : words)
            EXPECT_TRUE(has(msg[p], w)) << "wants '" << w << "': " << msg[p];
    }
}

TEST(KnnShardedSelf, EqualsOneProcessExactlyForEverySplit)
{
    const int64_t n = 37, d = 5, k = 4;
    const auto x = with_ties(n, d, 31);
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        const KnnOut w = one_self(x, n, d, k, metric);
        ASSERT_EQ(w.st, LSC_STATUS_OK) << w.msg;
        // the duplicates tie: row 1's nearest are its copies at n / 2 and n - 2, in that order
        ASSERT_EQ(w.idx[(size_t)k], n / 2);
        ASSERT_EQ(w.idx[(size_t)(k + 1)], n - 2);
        for (const auto &sizes : splits(n)) {
            SCOPED_TRACE("metric " + std::to_string(metric) +
                         ", P = " + std::to_string(sizes.size()) + ", first shard " +
                         std::to_string(sizes[0]));
            const auto off = offsets(sizes);
            auto outs = self_knn(x, d, k, sizes, metric);
            expect_shard_lists(outs, off, k, w);
        }
    }
}

// With every rank's point-to-point step, 3 and 4 ranks pair the rows over a covering (each rank
// receives only some pieces of the other shards and sends partial lists back) wherever that
// sends fewer bytes than the ring: wide rows and small k. The lists must be the ring's and one
// process's bit for bit, for every split (uneven, empty shards, a shard of one row).
TEST(KnnShardedSelf, OverACoveringEqualsOneProcessExactly)
{
    const int64_t n = 41, d = 24, k = 3;
    const auto x = with_ties(n, d, 37);
    const std::vector<Sizes> cuts = {{14, 13, 14},  {0, 20, 21},      {1, 39, 1},
                                     {40, 0, 1},    {10, 10, 10, 11}, {0, 13, 0, 28},
                                     {39, 1, 1, 0}, {5, 17, 2, 17},   {1, 1, 1, 38}};
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        const KnnOut w = one_self(x, n, d, k, metric);
        ASSERT_EQ(w.st, LSC_STATUS_OK) << w.msg;
        ASSERT_EQ(w.idx[(size_t)k], n / 2); // the copies of row 1 tie, across shards
        for (const auto &sizes : cuts) {
            const int P = (int)sizes.size();
            const auto off = offsets(sizes);
            for (bool step : {true, false}) {
                SCOPED_TRACE("metric " + std::to_string(metric) + ", P = " + std::to_string(P) +
                             ", shards " + std::to_string(sizes[0]) + " " +
                             std::to_string(sizes[1]) + (step ? "" : ", no send_recv on rank 1"));
                fake::Hub hub(P);
                auto outs = self_knn(
                    x, d, k, sizes, metric, nullptr,
                    [&](int p, lsc_transport &t) {
                        if (!step && p == 1) t.send_recv = nullptr;
                    },
                    &hub);
                // the rows out and the lists home: one step to each other rank, twice
                EXPECT_EQ(hub.send_recvs, step ? 2 * (P - 1) : 0);
                expect_shard_lists(outs, off, k, w);
            }
        }
    }
}

// The covering at every k from 1 to N - 1 over shards of 0, 1 and 2 rows (so pieces of none or
// one row, and pieces with fewer rows than k, paired with fewer candidates than k), on rows with
// ties across pieces and shards: each rank's lists must be one process's bit for bit.
TEST(KnnShardedSelf, OverACoveringEveryKAndTinyShards)
{
    const int64_t n = 13, d = 64;
    const auto ties = with_ties(n, d, 41);
    // three distinct rows, each repeated round the shards: most distances tie exactly
    const auto dups = [&] {
        auto y = ties;
        for (int64_t i = 3; i < n; i++)
            std::copy(ties.begin() + (i % 3) * d, ties.begin() + (i % 3 + 1) * d,
                      y.begin() + i * d);
        return y;
    }();
    const std::vector<Sizes> cuts = {{13, 0, 0},   {0, 0, 13},    {1, 1, 11},    {2, 1, 10},
                                     {0, 1, 12},   {2, 2, 9},     {6, 1, 6},     {1, 1, 1, 10},
                                     {2, 0, 2, 9}, {0, 1, 0, 12}, {13, 0, 0, 0}, {0, 0, 0, 13},
                                     {3, 3, 3, 4}, {1, 2, 1, 9},  {2, 2, 2, 7},  {2, 1, 2, 8}};
    int covered = 0;
    for (const auto *x : {&ties, &dups})
        for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
            for (int64_t k = 1; k < n; k++) {
                const KnnOut w = one_self(*x, n, d, k, metric);
                ASSERT_EQ(w.st, LSC_STATUS_OK) << w.msg;
                for (const auto &sizes : cuts) {
                    const int P = (int)sizes.size();
                    const auto off = offsets(sizes);
                    SCOPED_TRACE("data " + std::to_string(x == &dups) + ", metric " +
                                 std::to_string(metric) + ", k " + std::to_string(k) + ", P " +
                                 std::to_string(P) + ", shards " + std::to_string(sizes[0]) + " " +
                                 std::to_string(sizes[1]) + " " + std::to_string(sizes[2]));
                    fake::Hub hub(P);
                    auto outs = self_knn(*x, d, k, sizes, metric, nullptr, nullptr, &hub);
                    covered += hub.send_recvs > 0;
                    expect_shard_lists(outs, off, k, w);
                    if (::testing::Test::HasFatalFailure() || ::testing::Test::HasFailure()) return;
                }
            }
    // most of these go over the covering (wide rows: 672 of the 768), a few round the ring
    EXPECT_GT(covered, 2 * 2 * 12 * (int)cuts.size() * 3 / 4);
}

// Where the partial lists would outweigh the rows they spare (narrow rows, large k), and at 2
// ranks, where no covering beats the ring, the rows go round the ring.
TEST(KnnShardedSelf, TheRingWhereACoveringSendsMore)
{
    for (const auto &c : std::vector<std::pair<Sizes, int64_t>>{
             {{10, 10, 10}, 3}, {{10, 10, 10, 10}, 3}, {{20, 20}, 24}}) {
        const Sizes &sizes = c.first;
        const int64_t d = c.second, n = 40 - (sizes.size() == 3 ? 10 : 0), k = 6;
        const auto x = data::gaussian(n, d, 5);
        const auto off = offsets(sizes);
        const int P = (int)sizes.size();
        fake::Hub hub(P);
        std::vector<lsc_status> st((size_t)P, LSC_STATUS_INTERNAL);
        fake::run(
            P,
            [&](int p, lsc_ctx *ctx) {
                lsc_matrix a = shard(x, d, off, p);
                lsc_knn_opts o = LSC_KNN_OPTS_INIT;
                o.exclude_self = 1;
                std::vector<float> dist((size_t)(a.rows * k));
                std::vector<int64_t> idx((size_t)(a.rows * k));
                st[(size_t)p] = lsc_knn_sharded(ctx, &a, nullptr, k, &o, dist.data(), idx.data());
            },
            &hub);
        for (auto s : st) EXPECT_EQ(s, LSC_STATUS_OK);
        EXPECT_EQ(hub.send_recvs, 0) << "P = " << P << ", d = " << d;
    }
}

TEST(KnnShardedSelf, KAsLargeAsAllOtherRows)
{
    const int64_t n = 6, d = 3, k = 5;
    const auto x = data::gaussian(n, d, 3);
    const KnnOut w = one_self(x, n, d, k, LSC_METRIC_EUCLIDEAN);
    ASSERT_EQ(w.st, LSC_STATUS_OK) << w.msg;
    for (const Sizes &sizes : std::vector<Sizes>{{1, 5}, {2, 0, 4}, {1, 1, 1, 3}, {6, 0}}) {
        const auto off = offsets(sizes);
        auto outs = self_knn(x, d, k, sizes, LSC_METRIC_EUCLIDEAN);
        expect_shard_lists(outs, off, k, w);
    }
}

TEST(KnnShardedSelf, ErrorsReachEveryRank)
{
    const int64_t n = 20, d = 3;
    auto x = data::gaussian(n, d, 4);
    auto collect = [](const std::vector<KnnOut> &outs, lsc_status want,
                      const std::vector<std::string> &words) {
        std::vector<lsc_status> st;
        std::vector<std::string> msg;
        for (const auto &o : outs) {
            st.push_back(o.st);
            msg.push_back(o.msg);
            if (!o.idx.empty()) {
                EXPECT_EQ(o.idx[0], -1); // nothing written
            }
        }
        expect_failure(st, msg, want, words);
    };
    // k not below all rows together
    collect(self_knn(x, d, 20, {10, 0, 10}, LSC_METRIC_EUCLIDEAN), LSC_STATUS_INVALID_ARGUMENT,
            {"k is 20", "20 rows", "self excluded"});
    // a NaN on rank 1
    auto xn = x;
    xn[(size_t)(13 * d + 2)] = NAN;
    collect(self_knn(xn, d, 3, {10, 10}, LSC_METRIC_EUCLIDEAN), LSC_STATUS_INVALID_DATA,
            {"rank 1", "row 3", "col 2"});
    // a zero row has no cosine distance
    auto xz = x;
    for (int64_t c = 0; c < d; c++) xz[(size_t)(16 * d + c)] = 0.0f;
    collect(self_knn(xz, d, 3, {5, 5, 10}, LSC_METRIC_COSINE), LSC_STATUS_INVALID_DATA,
            {"rank 2", "row 6", "zeros"});
    // other columns on one rank
    collect(self_knn(x, d, 3, {10, 10}, LSC_METRIC_EUCLIDEAN,
                     [](int p, lsc_matrix &a) {
                         if (p == 1) a.cols = 2, a.ld = 3;
                     }),
            LSC_STATUS_INVALID_ARGUMENT, {"rank 1", "2 cols", "3"});
    // a transport without a ring step on one rank: NOT_SUPPORTED everywhere
    collect(self_knn(x, d, 3, {7, 6, 7}, LSC_METRIC_EUCLIDEAN, nullptr,
                     [](int p, lsc_transport &t) {
                         if (p == 2) t.ring = nullptr;
                     }),
            LSC_STATUS_NOT_SUPPORTED, {"rank 2", "ring"});
}

TEST(KnnSharded, CosineEqualsOneProcessExactly)
{
    const int64_t nb = 30, nq = 7, d = 4, k = 5;
    const auto b = with_ties(nb, d, 12);
    auto q = data::gaussian(nq, d, 13);
    // a query along a duplicated row: its copies tie at the same cosine value
    for (int64_t c = 0; c < d; c++) q[(size_t)c] = 3.0f * b[(size_t)(d + c)];
    std::vector<float> wd((size_t)(nq * k));
    std::vector<int64_t> wi((size_t)(nq * k));
    lsc_ctx *ctx = cpu_ctx();
    lsc_matrix qm = lsc_matrix_f32(q.data(), nq, d), bm = lsc_matrix_f32(b.data(), nb, d);
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    o.metric = LSC_METRIC_COSINE;
    ASSERT_EQ(lsc_knn(ctx, &qm, &bm, k, &o, wd.data(), wi.data()), LSC_STATUS_OK);
    lsc_ctx_destroy(ctx);
    ASSERT_EQ(wi[0], 1);
    ASSERT_EQ(wi[1], nb / 2);
    for (const auto &sizes : splits(nb)) {
        const auto off = offsets(sizes);
        std::vector<KnnOut> outs(sizes.size());
        fake::run((int)sizes.size(), [&](int p, lsc_ctx *c) {
            KnnOut &r = outs[(size_t)p];
            r.dist.assign((size_t)(nq * k), -1.0f);
            r.idx.assign((size_t)(nq * k), -1);
            lsc_matrix bs = shard(b, d, off, p);
            r.st = lsc_knn_sharded(c, &qm, &bs, k, &o, r.dist.data(), r.idx.data());
            r.msg = lsc_last_error(c);
        });
        for (const auto &r : outs) {
            ASSERT_EQ(r.st, LSC_STATUS_OK) << r.msg;
            EXPECT_EQ(r.idx, wi);
            EXPECT_EQ(r.dist, wd);
        }
    }
}

// ---- the sharded reference and PRDC ----------------------------------------------------------

struct RefOut {
    lsc_status st = LSC_STATUS_INTERNAL;
    std::string msg;
    lsc_reference *ref = nullptr;
};

struct PrdcOut {
    lsc_status st = LSC_STATUS_INTERNAL;
    std::string msg;
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    std::vector<unsigned char> flags;
    std::vector<int64_t> counts;
};

struct Case {
    lsc_metric metric = LSC_METRIC_EUCLIDEAN;
    lsc_comparison cmp = LSC_COMPARISON_STRICT;
    int64_t k = 3;
};

// One sharded run: the reference shards, then PRDC with its per-row outcomes, on P ranks.
// real split by rs, fake by fs (the same P). tweak_fake may change a rank's fake matrix.
struct Sharded {
    std::vector<RefOut> refs;
    std::vector<PrdcOut> prdc;
};

Sharded run_prdc(const std::vector<float> &real, const std::vector<float> &fake, int64_t d,
                 const Case &c, const Sizes &rs, const Sizes &fs,
                 const std::function<void(int, lsc_matrix &)> &tweak_fake = nullptr,
                 const std::function<void(int, lsc_transport &)> &tt = nullptr)
{
    const int P = (int)rs.size();
    const auto ro = offsets(rs), fo = offsets(fs);
    Sharded out;
    out.refs.resize((size_t)P);
    out.prdc.resize((size_t)P);
    run_with(
        P,
        [&](int p, lsc_transport &t) {
            if (tt) tt(p, t);
        },
        [&](int p, lsc_ctx *ctx) {
            RefOut &ro_ = out.refs[(size_t)p];
            lsc_matrix a = shard(real, d, ro, p);
            lsc_reference_opts opts = LSC_REFERENCE_OPTS_INIT;
            opts.metric = c.metric;
            opts.comparison = c.cmp;
            ro_.st = lsc_reference_create_sharded(ctx, &a, c.k, &opts, &ro_.ref);
            ro_.msg = lsc_last_error(ctx);
            if (ro_.st != LSC_STATUS_OK) return;
            PrdcOut &po = out.prdc[(size_t)p];
            lsc_matrix f = shard(fake, d, fo, p);
            if (tweak_fake) tweak_fake(p, f);
            po.flags.assign((size_t)a.rows + 1, 0xee);
            po.counts.assign((size_t)f.rows + 1, -1);
            po.st =
                lsc_prdc_rows_sharded(ctx, ro_.ref, &f, &po.r, po.flags.data(), po.counts.data());
            po.msg = lsc_last_error(ctx);
            po.flags.pop_back();
            po.counts.pop_back();
        });
    return out;
}

void destroy(Sharded &s)
{
    for (auto &r : s.refs) lsc_reference_destroy(r.ref);
}

struct Whole {
    lsc_reference *ref = nullptr;
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    std::vector<unsigned char> flags;
    std::vector<int64_t> counts;
};

Whole one_process(const std::vector<float> &real, int64_t n, const std::vector<float> &fake,
                  int64_t m, int64_t d, const Case &c)
{
    Whole w;
    lsc_ctx *ctx = cpu_ctx();
    lsc_matrix a = lsc_matrix_f32(real.data(), n, d), f = lsc_matrix_f32(fake.data(), m, d);
    lsc_reference_opts opts = LSC_REFERENCE_OPTS_INIT;
    opts.metric = c.metric;
    opts.comparison = c.cmp;
    EXPECT_EQ(lsc_reference_create(ctx, &a, c.k, &opts, &w.ref), LSC_STATUS_OK);
    w.flags.resize((size_t)n);
    w.counts.resize((size_t)m);
    EXPECT_EQ(lsc_prdc_rows(ctx, w.ref, &f, &w.r, w.flags.data(), w.counts.data()), LSC_STATUS_OK)
        << lsc_last_error(ctx);
    lsc_ctx_destroy(ctx);
    return w;
}

::testing::AssertionResult same_result(const lsc_prdc_result &g, const lsc_prdc_result &w)
{
    // every field exactly: the figures come from the same integer counts
    if (g.k != w.k || g.real_rows != w.real_rows || g.fake_rows != w.fake_rows ||
        g.precision != w.precision || g.recall != w.recall || g.density != w.density ||
        g.coverage != w.coverage || g.zero_radii_real != w.zero_radii_real ||
        g.zero_radii_fake != w.zero_radii_fake || g.comparison != w.comparison ||
        g.metric != w.metric || g.coverage_expected != w.coverage_expected)
        return ::testing::AssertionFailure()
               << "got P " << g.precision << " R " << g.recall << " D " << g.density << " C "
               << g.coverage << " zr " << g.zero_radii_real << " zf " << g.zero_radii_fake
               << ", want P " << w.precision << " R " << w.recall << " D " << w.density << " C "
               << w.coverage << " zr " << w.zero_radii_real << " zf " << w.zero_radii_fake;
    return ::testing::AssertionSuccess();
}

// Real and generated rows where every comparison matters: generated rows copying real rows and
// other generated rows (pairs at distance 0 and exactly on radii), duplicates across shards.
// d = 4 passes the rows round the ring; d = 20 (k = 3) over a covering at 3 and 4 ranks, where
// the transport's point-to-point step sends fewer bytes than the ring.
struct Data {
    int64_t n = 31, m = 26, d = 4;
    std::vector<float> real, fake;
    explicit Data(int64_t cols = 4) : d(cols)
    {
        real = with_ties(n, d, 41);
        fake = data::gaussian(m, d, 42, 0.3);
        for (int64_t c = 0; c < d; c++) {
            fake[(size_t)(2 * d + c)] = real[(size_t)(1 * d + c)];
            fake[(size_t)(20 * d + c)] = real[(size_t)(1 * d + c)];
            fake[(size_t)(9 * d + c)] = real[(size_t)(7 * d + c)];
            fake[(size_t)(25 * d + c)] = fake[(size_t)(3 * d + c)];
        }
    }
};

TEST(ReferenceSharded, EqualsOneProcessRowForRow)
{
    for (int64_t cols : {4, 20}) {
        const Data D(cols);
        for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
            Case c;
            c.metric = metric;
            c.k = 3;
            lsc_ctx *ctx = cpu_ctx();
            lsc_matrix a = lsc_matrix_f32(D.real.data(), D.n, D.d);
            lsc_reference_opts opts = LSC_REFERENCE_OPTS_INIT;
            opts.metric = metric;
            lsc_reference *w = nullptr;
            ASSERT_EQ(lsc_reference_create(ctx, &a, c.k, &opts, &w), LSC_STATUS_OK);
            lsc_ctx_destroy(ctx);
            const double *wr = lsc_reference_radii(w);
            for (const auto &rs : splits(D.n)) {
                if (cols > 4 && rs.size() < 3) continue; // no covering below 3 ranks
                SCOPED_TRACE("d " + std::to_string(cols) + ", metric " + std::to_string(metric) +
                             ", P = " + std::to_string(rs.size()) + ", first shard " +
                             std::to_string(rs[0]));
                const auto off = offsets(rs);
                Sizes fs = rs; // fake split: all on the last rank
                for (auto &s : fs) s = 0;
                fs.back() = D.m;
                auto got = run_prdc(D.real, D.fake, D.d, c, rs, fs);
                int64_t zero = 0;
                for (size_t p = 0; p < rs.size(); p++) {
                    ASSERT_EQ(got.refs[p].st, LSC_STATUS_OK) << got.refs[p].msg;
                    const lsc_reference *r = got.refs[p].ref;
                    lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
                    ASSERT_EQ(lsc_reference_info_get(r, &info), LSC_STATUS_OK);
                    EXPECT_EQ(info.rows, rs[p]);
                    EXPECT_EQ(info.total_rows, D.n);
                    EXPECT_EQ(info.first_row, off[p]);
                    EXPECT_EQ(info.k, c.k);
                    EXPECT_EQ(info.metric, metric);
                    zero += info.zero_radii;
                    for (int64_t i = 0; i < rs[p]; i++)
                        EXPECT_EQ(lsc_reference_radii(r)[i], wr[off[p] + i])
                            << "rank " << p << " row " << i; // bit for bit
                    if (rs[p] > 0) {
                        const float *wrows = lsc_reference_rows(w) + off[p] * D.d;
                        EXPECT_EQ(std::memcmp(lsc_reference_rows(r), wrows,
                                              (size_t)(rs[p] * D.d) * sizeof(float)),
                                  0);
                    }
                }
                lsc_reference_info wi = LSC_REFERENCE_INFO_INIT;
                ASSERT_EQ(lsc_reference_info_get(w, &wi), LSC_STATUS_OK);
                EXPECT_EQ(zero, wi.zero_radii);
                EXPECT_EQ(wi.total_rows, D.n);
                EXPECT_EQ(wi.first_row, 0);
                destroy(got);
            }
            lsc_reference_destroy(w);
        }
    }
}

TEST(ReferenceSharded, ErrorsReachEveryRank)
{
    const Data D;
    const Sizes rs = {10, 11, 10};
    const auto off = offsets(rs);
    auto attempt = [&](const std::vector<float> &real,
                       const std::function<void(int, lsc_matrix &, lsc_reference_opts &)> &tweak,
                       lsc_status want, const std::vector<std::string> &words) {
        std::vector<lsc_status> st(3);
        std::vector<std::string> msg(3);
        std::vector<lsc_reference *> refs(3, nullptr);
        fake::run(3, [&](int p, lsc_ctx *ctx) {
            lsc_matrix a = shard(real, D.d, off, p);
            lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
            tweak(p, a, o);
            st[(size_t)p] = lsc_reference_create_sharded(ctx, &a, 3, &o, &refs[(size_t)p]);
            msg[(size_t)p] = lsc_last_error(ctx);
        });
        expect_failure(st, msg, want, words);
        for (auto *r : refs) EXPECT_EQ(r, nullptr); // nothing written
    };
    auto nan = D.real;
    nan[(size_t)(23 * D.d + 1)] = NAN;
    attempt(nan, [](int, lsc_matrix &, lsc_reference_opts &) {}, LSC_STATUS_INVALID_DATA,
            {"rank 2", "row 2", "col 1"});
    attempt(D.real,
            [](int p, lsc_matrix &a, lsc_reference_opts &) {
                if (p == 1) a.cols = 3;
            },
            LSC_STATUS_INVALID_ARGUMENT, {"rank 1", "3 cols", "rank 0 has 4"});
    attempt(D.real,
            [](int p, lsc_matrix &, lsc_reference_opts &o) {
                if (p == 2) o.metric = LSC_METRIC_COSINE;
            },
            LSC_STATUS_INVALID_ARGUMENT, {"rank 2", "metric"});
}

TEST(PrdcSharded, EqualsOneProcessForEverySplit)
{
    for (int64_t cols : {4, 20}) {
        const Data D(cols);
        for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
            for (lsc_comparison cmp : {LSC_COMPARISON_STRICT, LSC_COMPARISON_INCLUSIVE}) {
                Case c;
                c.metric = metric;
                c.cmp = cmp;
                c.k = 3;
                Whole w = one_process(D.real, D.n, D.fake, D.m, D.d, c);
                const auto rsp = splits(D.n), fsp = splits(D.m);
                for (size_t a = 0; a < rsp.size(); a++)
                    for (size_t b = 0; b < fsp.size(); b++) {
                        if (rsp[a].size() != fsp[b].size()) continue;
                        if (cols > 4 && rsp[a].size() < 3) continue; // no covering below 3 ranks
                        const Sizes &rs = rsp[a], &fs = fsp[b];
                        SCOPED_TRACE("d " + std::to_string(cols) + ", metric " +
                                     std::to_string(metric) + ", comparison " +
                                     std::to_string(cmp) + ", P = " + std::to_string(rs.size()) +
                                     ", real split " + std::to_string(a) + ", fake split " +
                                     std::to_string(b));
                        const auto ro = offsets(rs), fo = offsets(fs);
                        auto got = run_prdc(D.real, D.fake, D.d, c, rs, fs);
                        for (size_t p = 0; p < rs.size(); p++) {
                            ASSERT_EQ(got.refs[p].st, LSC_STATUS_OK) << got.refs[p].msg;
                            const PrdcOut &o = got.prdc[p];
                            ASSERT_EQ(o.st, LSC_STATUS_OK) << o.msg;
                            EXPECT_TRUE(same_result(o.r, w.r)) << "rank " << p;
                            EXPECT_EQ(o.flags,
                                      std::vector<unsigned char>(w.flags.begin() + ro[p],
                                                                 w.flags.begin() + ro[p + 1]))
                                << "rank " << p;
                            EXPECT_EQ(o.counts, std::vector<int64_t>(w.counts.begin() + fo[p],
                                                                     w.counts.begin() + fo[p + 1]))
                                << "rank " << p;
                        }
                        destroy(got);
                    }
                lsc_reference_destroy(w.ref);
            }
    }
}

TEST(PrdcSharded, TheDataTellsTheComparisonsApart)
{
    // the cases above would not notice a comparison swapped unless the pairs on a radius count
    const Data D;
    Case s, i;
    i.cmp = LSC_COMPARISON_INCLUSIVE;
    Whole ws = one_process(D.real, D.n, D.fake, D.m, D.d, s);
    Whole wi = one_process(D.real, D.n, D.fake, D.m, D.d, i);
    EXPECT_NE(ws.counts, wi.counts);
    EXPECT_NE(ws.flags, wi.flags);
    lsc_reference_destroy(ws.ref);
    lsc_reference_destroy(wi.ref);
}

TEST(PrdcSharded, ShardOfSeveralIsNotAWholeReference)
{
    const Data D;
    Case c;
    auto got = run_prdc(D.real, D.fake, D.d, c, {10, D.n - 10}, {D.m, 0});
    lsc_ctx *ctx = cpu_ctx();
    lsc_matrix f = lsc_matrix_f32(D.fake.data(), D.m, D.d);
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    ASSERT_EQ(got.refs[1].st, LSC_STATUS_OK) << got.refs[1].msg;
    EXPECT_EQ(lsc_prdc(ctx, got.refs[1].ref, &f, &r), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(has(lsc_last_error(ctx), "shard (rows 10 to 30 of 31)")) << lsc_last_error(ctx);
    EXPECT_TRUE(has(lsc_last_error(ctx), "lsc_prdc_sharded")) << lsc_last_error(ctx);
    EXPECT_EQ(r.k, 0); // nothing written
    EXPECT_EQ(lsc_reference_save(ctx, got.refs[1].ref, "/tmp/never-written.lscref"),
              LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_reference_prepare(ctx, got.refs[0].ref, 1), LSC_STATUS_INVALID_ARGUMENT);
    destroy(got);
    // one rank holds the whole reference: the one-process calls take it
    Whole w = one_process(D.real, D.n, D.fake, D.m, D.d, c);
    auto one = run_prdc(D.real, D.fake, D.d, c, {D.n}, {D.m});
    ASSERT_EQ(one.refs[0].st, LSC_STATUS_OK) << one.refs[0].msg;
    ASSERT_EQ(lsc_prdc(ctx, one.refs[0].ref, &f, &r), LSC_STATUS_OK) << lsc_last_error(ctx);
    EXPECT_TRUE(same_result(r, w.r));
    destroy(one);
    lsc_reference_destroy(w.ref);
    lsc_ctx_destroy(ctx);
}

void expect_prdc_failure(const Sharded &s, lsc_status want, const std::vector<std::string> &words)
{
    std::vector<lsc_status> st;
    std::vector<std::string> msg;
    for (const auto &o : s.prdc) {
        st.push_back(o.st);
        msg.push_back(o.msg);
        EXPECT_EQ(o.r.k, 0); // nothing written
        for (auto f : o.flags) EXPECT_EQ(f, 0xee);
        for (auto c : o.counts) EXPECT_EQ(c, -1);
    }
    expect_failure(st, msg, want, words);
}

TEST(PrdcSharded, ErrorsReachEveryRank)
{
    const Data D;
    Case c;
    // a NaN in rank 1's generated rows
    auto fn = D.fake;
    fn[(size_t)(15 * D.d + 3)] = NAN;
    auto got = run_prdc(D.real, fn, D.d, c, {10, 10, 11}, {10, 10, 6});
    expect_prdc_failure(got, LSC_STATUS_INVALID_DATA, {"rank 1", "row 5", "col 3"});
    destroy(got);
    // other columns on one rank
    got = run_prdc(D.real, D.fake, D.d, c, {10, 21}, {13, 13}, [](int p, lsc_matrix &f) {
        if (p == 0) f.cols = 3;
    });
    expect_prdc_failure(got, LSC_STATUS_INVALID_ARGUMENT, {"rank 0", "3 cols"});
    destroy(got);
    // k not below the generated rows of all ranks
    Case big;
    big.k = 5;
    got = run_prdc(D.real, D.fake, D.d, big, {10, 21}, {3, 2}, nullptr);
    expect_prdc_failure(got, LSC_STATUS_INVALID_ARGUMENT, {"k=5", "6 fake rows", "got 5"});
    destroy(got);
    // no ring step on one rank: the reference refuses first, on every rank
    got =
        run_prdc(D.real, D.fake, D.d, c, {10, 21}, {13, 13}, nullptr, [](int p, lsc_transport &t) {
            if (p == 1) t.ring = nullptr;
        });
    std::vector<lsc_status> st;
    std::vector<std::string> msg;
    for (const auto &r : got.refs) {
        st.push_back(r.st);
        msg.push_back(r.msg);
        EXPECT_EQ(r.ref, nullptr);
    }
    expect_failure(st, msg, LSC_STATUS_NOT_SUPPORTED, {"rank 1", "ring step"});
    // k not below the real rows of all ranks
    st.clear();
    msg.clear();
    Case huge;
    huge.k = 31;
    got = run_prdc(D.real, D.fake, D.d, huge, {10, 21}, {13, 13});
    for (const auto &r : got.refs) {
        st.push_back(r.st);
        msg.push_back(r.msg);
    }
    expect_failure(st, msg, LSC_STATUS_INVALID_ARGUMENT, {"k=31", "32 real rows", "got 31"});
}

TEST(PrdcSharded, ShardsOfAnotherLayoutAreRefused)
{
    // references made on other ranks (here: each rank a whole reference of its own rows)
    const Data D;
    const int P = 2;
    std::vector<lsc_status> st((size_t)P);
    std::vector<std::string> msg((size_t)P);
    fake::run(P, [&](int p, lsc_ctx *ctx) {
        lsc_matrix a = lsc_matrix_f32(D.real.data() + p * 15 * D.d, 15, D.d);
        lsc_reference *r = nullptr;
        EXPECT_EQ(lsc_reference_create(ctx, &a, 3, nullptr, &r), LSC_STATUS_OK);
        lsc_matrix f = lsc_matrix_f32(D.fake.data() + p * 13 * D.d, 13, D.d);
        lsc_prdc_result res = LSC_PRDC_RESULT_INIT;
        st[(size_t)p] = lsc_prdc_sharded(ctx, r, &f, &res);
        msg[(size_t)p] = lsc_last_error(ctx);
        lsc_reference_destroy(r);
    });
    expect_failure(st, msg, LSC_STATUS_INVALID_ARGUMENT,
                   {"rank 1", "not its shard", "lsc_reference_create_sharded"});
}

// Progress from the ring passes, and a cancel on one rank reaching every rank.
struct Progress {
    std::vector<double> seen;
    int stop_after = -1; // cancel at this call (-1: never)
};

int on_progress(double f, void *user)
{
    auto *p = (Progress *)user;
    p->seen.push_back(f);
    return p->stop_after >= 0 && (int)p->seen.size() > p->stop_after;
}

// A reference built from D's real rows split by rs, then PRDC of its fake rows split by fs with
// each rank's progress recorded in prog: each rank's status and message (hub: the ranks' hub).
void prdc_with_progress(const Data &D, const Sizes &rs, const Sizes &fs,
                        std::vector<Progress> &prog, std::vector<lsc_status> &st,
                        std::vector<std::string> &msg, fake::Hub *hub = nullptr)
{
    const auto ro = offsets(rs), fo = offsets(fs);
    const int P = (int)rs.size();
    st.assign((size_t)P, LSC_STATUS_INTERNAL);
    msg.assign((size_t)P, "");
    fake::run(
        P,
        [&](int p, lsc_ctx *ctx) {
            lsc_matrix a = shard(D.real, D.d, ro, p), f = shard(D.fake, D.d, fo, p);
            lsc_reference *r = nullptr;
            EXPECT_EQ(lsc_reference_create_sharded(ctx, &a, 3, nullptr, &r), LSC_STATUS_OK);
            lsc_ctx_set_progress(ctx, on_progress, &prog[(size_t)p]);
            lsc_prdc_result res = LSC_PRDC_RESULT_INIT;
            st[(size_t)p] = lsc_prdc_sharded(ctx, r, &f, &res);
            msg[(size_t)p] = lsc_last_error(ctx);
            lsc_reference_destroy(r);
        },
        hub);
}

// Every rank's reports rise and stay within [0, 1].
void expect_rising(const std::vector<Progress> &prog)
{
    for (size_t p = 0; p < prog.size(); p++) {
        const auto &v = prog[p].seen;
        ASSERT_FALSE(v.empty()) << "rank " << p;
        EXPECT_GE(v.front(), 0.0) << "rank " << p;
        for (size_t i = 1; i < v.size(); i++)
            EXPECT_LE(v[i - 1], v[i]) << "rank " << p << ", report " << i;
        EXPECT_LE(v.back(), 1.0) << "rank " << p;
    }
}

TEST(PrdcSharded, ProgressRisesAndACancelReachesEveryRank)
{
    const Data D;
    for (int cancel : {0, 1}) {
        std::vector<Progress> prog(3);
        if (cancel) prog[2].stop_after = 2;
        std::vector<lsc_status> st;
        std::vector<std::string> msg;
        prdc_with_progress(D, {10, 0, 21}, {9, 9, 8}, prog, st, msg);
        if (cancel) {
            expect_failure(st, msg, LSC_STATUS_CANCELLED, {"rank 2", "cancelled"});
            continue;
        }
        for (size_t p = 0; p < 3; p++) ASSERT_EQ(st[p], LSC_STATUS_OK) << msg[p];
        expect_rising(prog);
    }
}

// The covering's progress (its kNN calls share [0, 1]) and a cancel in its compute on one rank:
// every rank must return CANCELLED with that rank's message, the lists never sent.
TEST(KnnShardedSelf, ACancelInACoveringReachesEveryRank)
{
    const int64_t n = 21, d = 64, k = 3;
    const auto x = data::gaussian(n, d, 12);
    const Sizes sizes = {5, 6, 4, 6};
    const auto off = offsets(sizes);
    for (int cancel : {0, 1}) {
        std::vector<Progress> prog(4);
        if (cancel) prog[2].stop_after = 1;
        fake::Hub hub(4);
        std::vector<lsc_status> st(4);
        std::vector<std::string> msg(4);
        run_with(
            4, [](int, lsc_transport &) {},
            [&](int p, lsc_ctx *ctx) {
                lsc_matrix a = shard(x, d, off, p);
                lsc_ctx_set_progress(ctx, on_progress, &prog[(size_t)p]);
                lsc_knn_opts o = LSC_KNN_OPTS_INIT;
                o.exclude_self = 1;
                std::vector<float> dist((size_t)(a.rows * k));
                std::vector<int64_t> idx((size_t)(a.rows * k));
                st[(size_t)p] = lsc_knn_sharded(ctx, &a, nullptr, k, &o, dist.data(), idx.data());
                msg[(size_t)p] = lsc_last_error(ctx);
            },
            nullptr, &hub);
        if (cancel) {
            expect_failure(st, msg, LSC_STATUS_CANCELLED, {"rank 2", "cancelled"});
            EXPECT_EQ(hub.send_recvs, 3); // the rows went out; the lists never did
            continue;
        }
        EXPECT_EQ(hub.send_recvs, 6);
        for (size_t p = 0; p < 4; p++) {
            ASSERT_EQ(st[p], LSC_STATUS_OK) << msg[p];
        }
        expect_rising(prog);
    }
}

// The generated rows' self kNN over a covering takes [0, 0.3] of the PRDC call's progress, its
// kNN calls a share each (7 to 13 at 4 ranks, as the pieces fall): the shares must end at 0.3,
// not an ulp past it (where the real shards' pass begins), and the reports rise throughout.
TEST(PrdcSharded, ProgressOverACoveringRises)
{
    const Data D(32);
    std::vector<Progress> prog(4);
    std::vector<lsc_status> st;
    std::vector<std::string> msg;
    fake::Hub hub(4);
    prdc_with_progress(D, {8, 8, 8, 7}, {7, 6, 7, 6}, prog, st, msg, &hub);
    EXPECT_EQ(hub.send_recvs, 2 * 2 * 3); // the reference's and the PRDC's coverings
    for (size_t p = 0; p < 4; p++) ASSERT_EQ(st[p], LSC_STATUS_OK) << msg[p];
    expect_rising(prog);
    // the kNN's share ends at 0.3 (the pass's first report lies far above it)
    for (size_t p = 0; p < 4; p++)
        for (double f : prog[p].seen)
            EXPECT_FALSE(f > 0.3 && f < 0.3 + 1e-9) << "rank " << p << ": " << f;
}

// ---- saving a sharded reference ---------------------------------------------------------------

std::vector<char> file_bytes(const std::string &path)
{
    std::vector<char> b;
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) return b;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) b.insert(b.end(), buf, buf + n);
    std::fclose(f);
    return b;
}

// Every rank saves its shard of a reference of real (n x d) split by rs to `paths[p]`.
std::vector<std::pair<lsc_status, std::string>>
save_sharded(const std::vector<float> &real, int64_t d, const Sizes &rs,
             const std::vector<std::string> &paths, lsc_metric metric,
             const std::function<void(int, lsc_transport &)> &tt = nullptr)
{
    const int P = (int)rs.size();
    const auto off = offsets(rs);
    std::vector<std::pair<lsc_status, std::string>> out((size_t)P);
    std::vector<lsc_transport> ts((size_t)P);
    run_with(
        P, [](int, lsc_transport &) {},
        [&](int p, lsc_ctx *ctx) {
            lsc_matrix a = shard(real, d, off, p);
            lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
            o.metric = metric;
            lsc_reference *r = nullptr;
            EXPECT_EQ(lsc_reference_create_sharded(ctx, &a, 3, &o, &r), LSC_STATUS_OK);
            if (tt) { // the transport changed after the shards were made
                tt(p, ts[(size_t)p]);
                lsc_ctx_set_transport(ctx, &ts[(size_t)p]);
            }
            lsc_status st = lsc_reference_save_sharded(ctx, r, paths[(size_t)p].c_str());
            out[(size_t)p] = {st, lsc_last_error(ctx)};
            lsc_reference_destroy(r);
        },
        &ts);
    return out;
}

TEST(ReferenceSharded, SavedShardsAreTheWholeReferencesFile)
{
    // d = 3: 12-byte rows, so shards of odd rows end inside a checksum word
    const int64_t n = 23, d = 3;
    const auto real = with_ties(n, d, 51);
    const std::string dir = ::testing::TempDir();
    const std::string whole = dir + "lsc_sharded_whole.lscref", part = dir + "lsc_sharded.lscref";
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        lsc_ctx *ctx = cpu_ctx();
        lsc_matrix a = lsc_matrix_f32(real.data(), n, d);
        lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
        o.metric = metric;
        lsc_reference *w = nullptr;
        ASSERT_EQ(lsc_reference_create(ctx, &a, 3, &o, &w), LSC_STATUS_OK);
        ASSERT_EQ(lsc_reference_save(ctx, w, whole.c_str()), LSC_STATUS_OK);
        const auto want = file_bytes(whole);
        ASSERT_FALSE(want.empty());
        for (const auto &rs : splits(n)) {
            SCOPED_TRACE("P = " + std::to_string(rs.size()) + ", first shard " +
                         std::to_string(rs[0]));
            std::remove(part.c_str());
            auto got = save_sharded(real, d, rs, std::vector<std::string>(rs.size(), part), metric);
            for (const auto &g : got) ASSERT_EQ(g.first, LSC_STATUS_OK) << g.second;
            EXPECT_EQ(file_bytes(part), want); // byte for byte
            lsc_reference *back = nullptr;
            ASSERT_EQ(lsc_reference_load(ctx, part.c_str(), &back), LSC_STATUS_OK)
                << lsc_last_error(ctx);
            lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
            ASSERT_EQ(lsc_reference_info_get(back, &info), LSC_STATUS_OK);
            EXPECT_EQ(info.rows, n);
            EXPECT_EQ(info.total_rows, n);
            EXPECT_EQ(std::memcmp(lsc_reference_radii(back), lsc_reference_radii(w),
                                  (size_t)n * sizeof(double)),
                      0);
            lsc_reference_destroy(back);
        }
        lsc_reference_destroy(w);
        lsc_ctx_destroy(ctx);
    }
    std::remove(whole.c_str());
    std::remove(part.c_str());
}

TEST(ReferenceSharded, SaveErrorsReachEveryRank)
{
    const int64_t n = 20, d = 3;
    const auto real = data::gaussian(n, d, 5);
    const std::string dir = ::testing::TempDir(), path = dir + "lsc_sharded_err.lscref";
    std::remove(path.c_str());
    auto check = [&](const std::vector<std::pair<lsc_status, std::string>> &got, lsc_status want,
                     const std::vector<std::string> &words) {
        std::vector<lsc_status> st;
        std::vector<std::string> msg;
        for (const auto &g : got) {
            st.push_back(g.first);
            msg.push_back(g.second);
        }
        expect_failure(st, msg, want, words);
        FILE *f = std::fopen(path.c_str(), "rb");
        EXPECT_EQ(f, nullptr); // nothing written
        if (f) std::fclose(f);
    };
    check(save_sharded(real, d, {7, 6, 7}, {path, path + "x", path}, LSC_METRIC_EUCLIDEAN),
          LSC_STATUS_INVALID_ARGUMENT, {"rank 1", "another file"});
    const std::string nowhere = dir + "no/such/dir/ref.lscref";
    auto got = save_sharded(real, d, {7, 6, 7}, {nowhere, nowhere, nowhere}, LSC_METRIC_EUCLIDEAN);
    check(got, LSC_STATUS_IO_ERROR, {"rank 0", "cannot open"});
    check(save_sharded(real, d, {7, 6, 7}, {path, path, path}, LSC_METRIC_EUCLIDEAN,
                       [](int p, lsc_transport &t) {
                           if (p == 1) t.ring = nullptr;
                       }),
          LSC_STATUS_NOT_SUPPORTED, {"rank 1", "ring"});
}

// ---- loading a reference as shards ------------------------------------------------------------

// Every rank loads its shard of `paths[p]` on P ranks (the transport changed by tt).
std::vector<RefOut> load_sharded(int P, const std::vector<std::string> &paths,
                                 const std::function<void(int, lsc_transport &)> &tt = nullptr)
{
    std::vector<RefOut> out((size_t)P);
    run_with(
        P,
        [&](int p, lsc_transport &t) {
            if (tt) tt(p, t);
        },
        [&](int p, lsc_ctx *ctx) {
            RefOut &o = out[(size_t)p];
            o.st = lsc_reference_load_sharded(ctx, paths[(size_t)p].c_str(), &o.ref);
            o.msg = lsc_last_error(ctx);
        });
    return out;
}

// The even split of n rows over P ranks the sharded load reads.
Sizes even_split(int64_t n, int P)
{
    Sizes s;
    for (int p = 0; p < P; p++) s.push_back(n * (p + 1) / P - n * p / P);
    return s;
}

TEST(ReferenceSharded, LoadedShardsAreTheShardsCreatedOnTheSplit)
{
    // d = 3: 12-byte rows, so shards of odd rows end inside a checksum word
    const int64_t n = 23, d = 3;
    const auto real = with_ties(n, d, 61);
    const std::string dir = ::testing::TempDir();
    const std::string whole = dir + "lsc_load_whole.lscref", part = dir + "lsc_load_part.lscref",
                      again = dir + "lsc_load_again.lscref";
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        // one file saved by one process (prepared: its 'HALF' section is skipped), one by 3 ranks
        lsc_ctx *ctx = cpu_ctx();
        lsc_matrix a = lsc_matrix_f32(real.data(), n, d);
        lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
        o.metric = metric;
        lsc_reference *w = nullptr;
        ASSERT_EQ(lsc_reference_create(ctx, &a, 3, &o, &w), LSC_STATUS_OK);
        ASSERT_EQ(lsc_reference_prepare(ctx, w, 7), LSC_STATUS_OK) << lsc_last_error(ctx);
        ASSERT_EQ(lsc_reference_save(ctx, w, whole.c_str()), LSC_STATUS_OK);
        lsc_reference_destroy(w);
        lsc_ctx_destroy(ctx);
        for (const auto &g : save_sharded(real, d, {1, 7, 15}, {part, part, part}, metric))
            ASSERT_EQ(g.first, LSC_STATUS_OK) << g.second;
        for (const std::string &file : {whole, part}) {
            for (int P = 1; P <= 4; P++) {
                SCOPED_TRACE(file + ", metric " + std::to_string(metric) +
                             ", P = " + std::to_string(P));
                const Sizes rs = even_split(n, P);
                const auto off = offsets(rs);
                auto got = load_sharded(P, std::vector<std::string>((size_t)P, file));
                Sizes fs(rs.size(), 0);
                Case c;
                c.metric = metric;
                auto want = run_prdc(real, real, d, c, rs, fs);
                for (int p = 0; p < P; p++) {
                    ASSERT_EQ(got[(size_t)p].st, LSC_STATUS_OK) << got[(size_t)p].msg;
                    ASSERT_EQ(want.refs[(size_t)p].st, LSC_STATUS_OK);
                    const lsc_reference *r = got[(size_t)p].ref, *e = want.refs[(size_t)p].ref;
                    lsc_reference_info gi = LSC_REFERENCE_INFO_INIT, ei = LSC_REFERENCE_INFO_INIT;
                    ASSERT_EQ(lsc_reference_info_get(r, &gi), LSC_STATUS_OK);
                    ASSERT_EQ(lsc_reference_info_get(e, &ei), LSC_STATUS_OK);
                    EXPECT_EQ(gi.rows, ei.rows);
                    EXPECT_EQ(gi.total_rows, n);
                    EXPECT_EQ(gi.first_row, off[(size_t)p]);
                    EXPECT_EQ(gi.first_row, ei.first_row);
                    EXPECT_EQ(gi.k, ei.k);
                    EXPECT_EQ(gi.metric, ei.metric);
                    EXPECT_EQ(gi.comparison, ei.comparison);
                    EXPECT_EQ(gi.zero_radii, ei.zero_radii);
                    EXPECT_EQ(gi.prepared, 0);
                    if (gi.rows == 0) continue;
                    EXPECT_EQ(std::memcmp(lsc_reference_radii(r), lsc_reference_radii(e),
                                          (size_t)gi.rows * sizeof(double)),
                              0); // bit for bit
                    EXPECT_EQ(std::memcmp(lsc_reference_rows(r), lsc_reference_rows(e),
                                          (size_t)(gi.rows * d) * sizeof(float)),
                              0);
                }
                destroy(want);
                // the loaded shards saved again: the file the 3 ranks saved, byte for byte
                std::remove(again.c_str());
                std::vector<lsc_status> st((size_t)P);
                run_with(
                    P, [](int, lsc_transport &) {},
                    [&](int p, lsc_ctx *cx) {
                        st[(size_t)p] =
                            lsc_reference_save_sharded(cx, got[(size_t)p].ref, again.c_str());
                    });
                for (int p = 0; p < P; p++) EXPECT_EQ(st[(size_t)p], LSC_STATUS_OK);
                EXPECT_EQ(file_bytes(again), file_bytes(part));
                for (auto &g : got) lsc_reference_destroy(g.ref);
            }
        }
    }
    std::remove(whole.c_str());
    std::remove(part.c_str());
    std::remove(again.c_str());
}

TEST(ReferenceSharded, LoadRefusesDamagedFilesOnEveryRank)
{
    const int64_t n = 22, d = 3;
    const auto real = data::gaussian(n, d, 71);
    const std::string dir = ::testing::TempDir();
    const std::string good = dir + "lsc_load_good.lscref", bad = dir + "lsc_load_bad.lscref",
                      other = dir + "lsc_load_other.lscref";
    lsc_ctx *ctx = cpu_ctx();
    lsc_matrix a = lsc_matrix_f32(real.data(), n, d);
    lsc_reference *w = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &a, 3, nullptr, &w), LSC_STATUS_OK);
    ASSERT_EQ(lsc_reference_save(ctx, w, good.c_str()), LSC_STATUS_OK);
    lsc_reference_destroy(w);
    lsc_matrix a2 = lsc_matrix_f32(real.data(), n - 1, d);
    ASSERT_EQ(lsc_reference_create(ctx, &a2, 3, nullptr, &w), LSC_STATUS_OK);
    ASSERT_EQ(lsc_reference_save(ctx, w, other.c_str()), LSC_STATUS_OK);
    lsc_reference_destroy(w);
    lsc_ctx_destroy(ctx);
    const auto bytes = file_bytes(good);
    // the layout lsc_reference_save writes: header, 2 entries, ROWS at 192, RADV after it
    const size_t rows_at = 192, radv_at = (rows_at + (size_t)(n * d * 4) + 63) / 64 * 64;
    ASSERT_EQ(bytes.size(), radv_at + (size_t)n * 8);
    auto write = [&](const std::vector<char> &b) {
        FILE *f = std::fopen(bad.c_str(), "wb");
        ASSERT_NE(f, nullptr);
        ASSERT_EQ(std::fwrite(b.data(), 1, b.size(), f), b.size());
        std::fclose(f);
    };
    auto check = [&](const std::vector<RefOut> &got, lsc_status want,
                     const std::vector<std::string> &words) {
        std::vector<lsc_status> st;
        std::vector<std::string> msg;
        for (const auto &g : got) {
            st.push_back(g.st);
            msg.push_back(g.msg);
            EXPECT_EQ(g.ref, nullptr);
            lsc_reference_destroy(g.ref);
        }
        expect_failure(st, msg, want, words);
    };
    struct Damage {
        const char *what;
        std::function<void(std::vector<char> &)> make;
        std::vector<std::string> words;
    };
    const std::vector<Damage> damages = {
        // the last row's byte: only the last rank reads it
        {"rows",
         [&](std::vector<char> &b) { b[rows_at + (size_t)(n * d * 4) - 1] ^= 1; },
         {"'ROWS' checksum"}},
        {"first radius", [&](std::vector<char> &b) { b[radv_at + 2] ^= 4; }, {"'RADV' checksum"}},
        {"header", [&](std::vector<char> &b) { b[30] ^= 1; }, {"header checksum"}},
        {"padding", [&](std::vector<char> &b) { b[radv_at - 1] = 1; }, {"padding"}},
        {"truncated", [&](std::vector<char> &b) { b.resize(b.size() - 8); }, {"truncated"}},
    };
    for (const auto &dmg : damages) {
        auto b = bytes;
        dmg.make(b);
        write(b);
        for (int P = 1; P <= 4; P++) {
            SCOPED_TRACE(std::string(dmg.what) + ", P = " + std::to_string(P));
            check(load_sharded(P, std::vector<std::string>((size_t)P, bad)), LSC_STATUS_BAD_FILE,
                  dmg.words);
        }
    }
    // another file, or none, on one rank; a rank without the ring step
    check(load_sharded(3, {good, other, good}), LSC_STATUS_INVALID_ARGUMENT,
          {"rank 1", "another file"});
    check(load_sharded(3, {good, good, dir + "no/such.lscref"}), LSC_STATUS_IO_ERROR,
          {"rank 2", "cannot open"});
    check(load_sharded(3, {good, good, good},
                       [](int p, lsc_transport &t) {
                           if (p == 1) t.ring = nullptr;
                       }),
          LSC_STATUS_NOT_SUPPORTED, {"rank 1", "ring"});
    std::remove(good.c_str());
    std::remove(bad.c_str());
    std::remove(other.c_str());
}

TEST(PrdcSharded, WithoutTransportIsOneProcess)
{
    const Data D;
    Case c;
    c.metric = LSC_METRIC_COSINE;
    c.cmp = LSC_COMPARISON_INCLUSIVE;
    Whole w = one_process(D.real, D.n, D.fake, D.m, D.d, c);
    lsc_ctx *ctx = cpu_ctx();
    lsc_matrix a = lsc_matrix_f32(D.real.data(), D.n, D.d);
    lsc_matrix f = lsc_matrix_f32(D.fake.data(), D.m, D.d);
    lsc_reference_opts opts = LSC_REFERENCE_OPTS_INIT;
    opts.metric = c.metric;
    opts.comparison = c.cmp;
    lsc_reference *r = nullptr;
    ASSERT_EQ(lsc_reference_create_sharded(ctx, &a, c.k, &opts, &r), LSC_STATUS_OK);
    lsc_prdc_result res = LSC_PRDC_RESULT_INIT;
    ASSERT_EQ(lsc_prdc_sharded(ctx, r, &f, &res), LSC_STATUS_OK) << lsc_last_error(ctx);
    EXPECT_TRUE(same_result(res, w.r));
    lsc_reference_destroy(r);
    lsc_reference_destroy(w.ref);
    lsc_ctx_destroy(ctx);
}

} // namespace
