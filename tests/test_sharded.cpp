// Sharded calls (lsc.h section 12) over the in-process transport of fake_transport.hpp: P = 1..4
// threads, one a rank, each holding a slice of the rows. Every rank must return the very same
// status, message and figures, those of one process on the concatenated rows (within
// docs/METRICS.md's tolerances), for even, uneven and empty shards; bad input on one rank must
// reach every rank as the same status and message, never a hang.
#include "datasets.hpp"
#include "fake_transport.hpp"
#include "reference.hpp"
#include "test_util.hpp"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace {

using fake::offsets;
using fake::run_with;
using fake::shard;

struct Out {
    lsc_status st = LSC_STATUS_INTERNAL;
    std::string msg;
    lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
    std::vector<double> sv, cv;
};

// Runs lsc_spectrum_sharded on P = sizes.size() ranks over x (n x d) split by sizes.
std::vector<Out> sharded(const std::vector<float> &x, int64_t d, const std::vector<int64_t> &sizes,
                         const std::function<void(int, lsc_matrix &)> &tweak = nullptr)
{
    const int P = (int)sizes.size();
    const auto off = offsets(sizes);
    const int64_t n = off.back(), m = n < d ? n : d;
    std::vector<Out> outs((size_t)P);
    fake::run(P, [&](int p, lsc_ctx *ctx) {
        Out &o = outs[(size_t)p];
        o.sv.assign((size_t)m, -1.0);
        o.cv.assign((size_t)d, -1.0);
        lsc_matrix a = lsc_matrix_f32(sizes[(size_t)p] ? x.data() + off[(size_t)p] * d : nullptr,
                                      sizes[(size_t)p], d);
        if (tweak) tweak(p, a);
        o.st = lsc_spectrum_sharded(ctx, &a, nullptr, &o.r, o.sv.data(), o.cv.data());
        o.msg = lsc_last_error(ctx);
    });
    return outs;
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

::testing::AssertionResult same_figures(const Out &g, const Out &w)
{
    std::string bad;
    auto cont = [&](const char *name, double a, double b) {
        if (!ref::close(a, b))
            bad +=
                std::string("\n  ") + name + ": " + std::to_string(a) + " vs " + std::to_string(b);
    };
    auto exact = [&](const char *name, long long a, long long b) {
        if (a != b)
            bad +=
                std::string("\n  ") + name + ": " + std::to_string(a) + " vs " + std::to_string(b);
    };
    exact("rows", g.r.rows, w.r.rows);
    exact("cols", g.r.cols, w.r.cols);
    exact("rank_limit", g.r.rank_limit, w.r.rank_limit);
    exact("numerical_rank", g.r.numerical_rank, w.r.numerical_rank);
    exact("dims_90", g.r.dims_90, w.r.dims_90);
    exact("dims_99", g.r.dims_99, w.r.dims_99);
    exact("active_units", g.r.active_units, w.r.active_units);
    exact("vendi_status", g.r.vendi_status, w.r.vendi_status);
    exact("vendi_zero_row", g.r.vendi_zero_row, w.r.vendi_zero_row);
    exact("all_rows_identical", g.r.all_rows_identical, w.r.all_rows_identical);
    exact("alpha_req_ranks", g.r.alpha_req_ranks, w.r.alpha_req_ranks);
    cont("effective_rank", g.r.effective_rank, w.r.effective_rank);
    cont("rankme", g.r.rankme, w.r.rankme);
    cont("participation_ratio", g.r.participation_ratio, w.r.participation_ratio);
    cont("stable_rank", g.r.stable_rank, w.r.stable_rank);
    cont("total_variance", g.r.total_variance, w.r.total_variance);
    cont("largest_singular_value", g.r.largest_singular_value, w.r.largest_singular_value);
    cont("vendi_cosine", g.r.vendi_cosine, w.r.vendi_cosine);
    cont("vendi_cosine_q0", g.r.vendi_cosine_q0, w.r.vendi_cosine_q0);
    cont("vendi_cosine_q2", g.r.vendi_cosine_q2, w.r.vendi_cosine_q2);
    cont("vendi_cosine_qinf", g.r.vendi_cosine_qinf, w.r.vendi_cosine_qinf);
    if (!ref::close(g.r.alpha_req, w.r.alpha_req, 2 * ref::kRel, 2 * ref::kAbs))
        bad += "\n  alpha_req";
    for (size_t i = 0; i < w.sv.size(); i++) cont("singular_values", g.sv[i], w.sv[i]);
    for (size_t i = 0; i < w.cv.size(); i++) cont("column_variance", g.cv[i], w.cv[i]);
    if (bad.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << bad;
}

// One process, no transport: lsc_spectrum on all rows.
Out single(const std::vector<float> &x, int64_t n, int64_t d)
{
    Out o;
    lsc_ctx *ctx = cpu_ctx();
    o.sv.assign((size_t)(n < d ? n : d), -1.0);
    o.cv.assign((size_t)d, -1.0);
    lsc_matrix a = lsc_matrix_f32(x.data(), n, d);
    o.st = lsc_spectrum(ctx, &a, nullptr, &o.r, o.sv.data(), o.cv.data());
    o.msg = lsc_last_error(ctx);
    lsc_ctx_destroy(ctx);
    return o;
}

// Every rank got exactly rank 0's bytes.
void expect_identical(const std::vector<Out> &outs)
{
    for (size_t p = 1; p < outs.size(); p++) {
        EXPECT_EQ(outs[p].st, outs[0].st) << "rank " << p;
        EXPECT_EQ(outs[p].msg, outs[0].msg) << "rank " << p;
        EXPECT_EQ(std::memcmp(&outs[p].r, &outs[0].r, sizeof outs[0].r), 0) << "rank " << p;
        EXPECT_EQ(outs[p].sv, outs[0].sv) << "rank " << p;
        EXPECT_EQ(outs[p].cv, outs[0].cv) << "rank " << p;
    }
}

const std::vector<std::vector<int64_t>> kSplits40 = {
    {40},          {20, 20},       {1, 39},       {39, 1},      {0, 40},
    {40, 0},       {13, 14, 13},   {0, 0, 40},    {2, 0, 38},   {10, 10, 10, 10},
    {1, 2, 3, 34}, {0, 17, 0, 23}, {37, 1, 1, 1}, {0, 0, 0, 40}};

TEST(SpectrumSharded, EqualsOneProcessForEverySplit)
{
    const int64_t n = 40, d = 6;
    auto x = data::gaussian(n, d, 11, 3.0);
    Out want = single(x, n, d);
    ASSERT_EQ(want.st, LSC_STATUS_OK) << want.msg;
    for (const auto &sizes : kSplits40) {
        SCOPED_TRACE("P = " + std::to_string(sizes.size()) + ", first shard " +
                     std::to_string(sizes[0]));
        auto outs = sharded(x, d, sizes);
        ASSERT_EQ(outs[0].st, LSC_STATUS_OK) << outs[0].msg;
        EXPECT_TRUE(same_figures(outs[0], want));
        expect_identical(outs);
    }
}

TEST(SpectrumSharded, FewerRowsThanColumns)
{
    // one process takes the N x N path here, the shards the D x D accumulator: same figures
    const int64_t n = 7, d = 12;
    auto x = data::gaussian(n, d, 5);
    Out want = single(x, n, d);
    ASSERT_EQ(want.st, LSC_STATUS_OK) << want.msg;
    const std::vector<std::vector<int64_t>> splits = {{7}, {3, 4}, {0, 2, 5}, {1, 1, 1, 4}};
    for (const auto &sizes : splits) {
        auto outs = sharded(x, d, sizes);
        ASSERT_EQ(outs[0].st, LSC_STATUS_OK) << outs[0].msg;
        EXPECT_TRUE(same_figures(outs[0], want));
        expect_identical(outs);
    }
}

TEST(SpectrumSharded, LargeOffsetAndZeroRowKeepGlobalIndex)
{
    // mean 50, spread 1: the pivot-shift merge must not cancel; the zero row is reported by its
    // index in the concatenation, wherever its shard starts
    const int64_t n = 30, d = 4;
    auto x = data::gaussian(n, d, 7, 50.0);
    for (int64_t c = 0; c < d; c++) x[(size_t)(22 * d + c)] = 0.0f;
    Out want = single(x, n, d);
    ASSERT_EQ(want.st, LSC_STATUS_OK) << want.msg;
    ASSERT_EQ(want.r.vendi_status, LSC_VENDI_ZERO_ROW);
    ASSERT_EQ(want.r.vendi_zero_row, 22);
    const std::vector<std::vector<int64_t>> splits = {
        {10, 10, 10}, {0, 21, 9}, {23, 7}, {5, 5, 5, 15}};
    for (const auto &sizes : splits) {
        auto outs = sharded(x, d, sizes);
        ASSERT_EQ(outs[0].st, LSC_STATUS_OK) << outs[0].msg;
        EXPECT_TRUE(same_figures(outs[0], want));
        expect_identical(outs);
    }
}

TEST(SpectrumSharded, WithoutTransportIsOneProcess)
{
    const int64_t n = 25, d = 5;
    auto x = data::gaussian(n, d, 3);
    Out want = single(x, n, d);
    Out got;
    lsc_ctx *ctx = cpu_ctx();
    int64_t rank = -1, ranks = -1;
    EXPECT_EQ(lsc_ctx_ranks(ctx, &rank, &ranks), LSC_STATUS_OK);
    EXPECT_EQ(rank, 0);
    EXPECT_EQ(ranks, 1);
    got.sv.assign((size_t)d, 0);
    got.cv.assign((size_t)d, 0);
    lsc_matrix a = lsc_matrix_f32(x.data(), n, d);
    ASSERT_EQ(lsc_spectrum_sharded(ctx, &a, nullptr, &got.r, got.sv.data(), got.cv.data()),
              LSC_STATUS_OK)
        << lsc_last_error(ctx);
    EXPECT_TRUE(same_figures(got, want));
    lsc_ctx_destroy(ctx);
}

// Every rank fails with `want` and the same message, which mentions each of `words`.
void expect_agreed_failure(const std::vector<Out> &outs, lsc_status want,
                           const std::vector<std::string> &words)
{
    for (size_t p = 0; p < outs.size(); p++) {
        EXPECT_EQ(outs[p].st, want) << "rank " << p << ": " << outs[p].msg;
        EXPECT_EQ(outs[p].msg, outs[0].msg) << "rank " << p;
        for (const auto &w : words) EXPECT_TRUE(mentions(outs[p].msg.c_str(), w)) << outs[p].msg;
        // a failed call writes nothing
        EXPECT_EQ(outs[p].r.rows, 0) << "rank " << p;
        EXPECT_EQ(outs[p].sv[0], -1.0) << "rank " << p;
    }
}

TEST(SpectrumSharded, NaNOnOneRankReachesEveryRank)
{
    const int64_t n = 40, d = 6;
    auto x = data::gaussian(n, d, 2);
    x[(size_t)(25 * d + 4)] = NAN; // rank 2's row 5 with shards of 10
    auto outs = sharded(x, d, {10, 10, 10, 10});
    expect_agreed_failure(outs, LSC_STATUS_INVALID_DATA, {"rank 2", "row 5", "col 4"});
}

TEST(SpectrumSharded, MismatchedColumnsReachEveryRank)
{
    const int64_t n = 40, d = 6;
    auto x = data::gaussian(n, d, 2);
    auto outs = sharded(x, d, {10, 10, 20}, [](int p, lsc_matrix &a) {
        if (p == 1) a.cols = 5;
    });
    expect_agreed_failure(outs, LSC_STATUS_INVALID_ARGUMENT, {"rank 1", "cols"});
}

TEST(SpectrumSharded, BadArgumentOnOneRankReachesEveryRank)
{
    const int64_t n = 40, d = 6;
    auto x = data::gaussian(n, d, 2);
    // rank 3's matrix says ld < cols; rank 1 also fails: the lowest failing rank is reported
    auto outs = sharded(x, d, {10, 10, 10, 10}, [](int p, lsc_matrix &a) {
        if (p == 3) a.ld = 2;
        if (p == 1) a.dtype = (lsc_dtype)9;
    });
    expect_agreed_failure(outs, LSC_STATUS_INVALID_ARGUMENT, {"rank 1", "dtype"});
}

TEST(SpectrumSharded, TooFewRowsInAll)
{
    const int64_t d = 3;
    std::vector<float> x = {1, 2, 3};
    auto outs = sharded(x, d, {0, 1, 0});
    expect_agreed_failure(outs, LSC_STATUS_INVALID_ARGUMENT, {"1 rows", "at least 2"});
}

TEST(SpectrumSharded, BrokenTransportIsReported)
{
    const int64_t n = 20, d = 4;
    auto x = data::gaussian(n, d, 2);
    fake::Hub hub(2);
    hub.fail_broadcast = true;
    std::vector<Out> outs(2);
    fake::run(
        2,
        [&](int p, lsc_ctx *ctx) {
            Out &o = outs[(size_t)p];
            lsc_matrix a = lsc_matrix_f32(x.data() + p * 10 * d, 10, d);
            o.st = lsc_spectrum_sharded(ctx, &a, nullptr, &o.r, nullptr, nullptr);
            o.msg = lsc_last_error(ctx);
        },
        &hub);
    for (const auto &o : outs) {
        EXPECT_EQ(o.st, LSC_STATUS_TRANSPORT_ERROR) << o.msg;
        EXPECT_TRUE(mentions(o.msg.c_str(), "broken on purpose")) << o.msg;
        EXPECT_EQ(o.r.rows, 0);
    }
}

TEST(SpectrumSharded, CollectivesPerCall)
{
    // phase agreements, the states' all-gather and the figures' broadcast: four collectives
    // whatever P and the split, so the communication is P-independent in count
    const int64_t n = 20, d = 4;
    auto x = data::gaussian(n, d, 2);
    for (int P = 1; P <= 4; P++) {
        fake::Hub hub(P);
        fake::run(
            P,
            [&](int p, lsc_ctx *ctx) {
                const int64_t lo = n * p / P, hi = n * (p + 1) / P;
                lsc_matrix a = lsc_matrix_f32(x.data() + lo * d, hi - lo, d);
                lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
                EXPECT_EQ(lsc_spectrum_sharded(ctx, &a, nullptr, &r, nullptr, nullptr),
                          LSC_STATUS_OK);
            },
            &hub);
        EXPECT_EQ(hub.collectives, 4) << "P = " << P;
    }
}

// ---- exact kNN against a sharded base ------------------------------------------------------

struct KnnOut {
    lsc_status st = LSC_STATUS_INTERNAL;
    std::string msg;
    std::vector<float> dist;
    std::vector<int64_t> idx;
};

// lsc_knn_sharded of the same queries on every rank against base (nb x d) split by sizes.
std::vector<KnnOut> knn_sharded(
    const std::vector<float> &q, int64_t nq, const std::vector<float> &b, int64_t d, int64_t k,
    const std::vector<int64_t> &sizes,
    const std::function<void(int, lsc_matrix &, lsc_matrix &, lsc_knn_opts &)> &tweak = nullptr)
{
    const int P = (int)sizes.size();
    const auto off = offsets(sizes);
    std::vector<KnnOut> outs((size_t)P);
    fake::run(P, [&](int p, lsc_ctx *ctx) {
        KnnOut &o = outs[(size_t)p];
        o.dist.assign((size_t)(nq * k), -1.0f);
        o.idx.assign((size_t)(nq * k), -1);
        lsc_matrix qm = lsc_matrix_f32(q.data(), nq, d);
        lsc_matrix bm = lsc_matrix_f32(sizes[(size_t)p] ? b.data() + off[(size_t)p] * d : nullptr,
                                       sizes[(size_t)p], d);
        lsc_knn_opts opts = LSC_KNN_OPTS_INIT;
        if (tweak) tweak(p, qm, bm, opts);
        o.st = lsc_knn_sharded(ctx, &qm, &bm, k, &opts, o.dist.data(), o.idx.data());
        o.msg = lsc_last_error(ctx);
    });
    return outs;
}

TEST(KnnSharded, EqualsOneProcessExactlyForEverySplit)
{
    const int64_t nb = 40, nq = 9, d = 5, k = 6;
    auto b = data::gaussian(nb, d, 21);
    // exact duplicates in different shards of every split below: ties broken by global index
    for (int64_t c = 0; c < d; c++) {
        b[(size_t)(31 * d + c)] = b[(size_t)(3 * d + c)];
        b[(size_t)(17 * d + c)] = b[(size_t)(3 * d + c)];
    }
    auto q = data::gaussian(nq, d, 22);
    for (int64_t c = 0; c < d; c++) q[(size_t)(2 * d + c)] = b[(size_t)(3 * d + c)] + 0.01f;
    std::vector<float> wd((size_t)(nq * k));
    std::vector<int64_t> wi((size_t)(nq * k));
    lsc_ctx *ctx = cpu_ctx();
    lsc_matrix qm = lsc_matrix_f32(q.data(), nq, d), bm = lsc_matrix_f32(b.data(), nb, d);
    ASSERT_EQ(lsc_knn(ctx, &qm, &bm, k, nullptr, wd.data(), wi.data()), LSC_STATUS_OK);
    lsc_ctx_destroy(ctx);
    // the tie is in the lists: query 2's three nearest are rows 3, 17, 31 in that order
    ASSERT_EQ(wi[(size_t)(2 * k)], 3);
    ASSERT_EQ(wi[(size_t)(2 * k + 1)], 17);
    ASSERT_EQ(wi[(size_t)(2 * k + 2)], 31);
    for (const auto &sizes : kSplits40) {
        SCOPED_TRACE("P = " + std::to_string(sizes.size()) + ", first shard " +
                     std::to_string(sizes[0]));
        auto outs = knn_sharded(q, nq, b, d, k, sizes);
        for (size_t p = 0; p < outs.size(); p++) {
            ASSERT_EQ(outs[p].st, LSC_STATUS_OK) << outs[p].msg;
            EXPECT_EQ(outs[p].idx, wi) << "rank " << p;
            EXPECT_EQ(outs[p].dist, wd) << "rank " << p; // bit for bit
        }
    }
}

TEST(KnnSharded, KAsLargeAsTheWholeBase)
{
    // k above most shards' rows: each shard gives what it has, the merge the whole base
    const int64_t nb = 7, nq = 3, d = 3, k = 7;
    auto b = data::gaussian(nb, d, 4);
    auto q = data::gaussian(nq, d, 5);
    std::vector<float> wd((size_t)(nq * k));
    std::vector<int64_t> wi((size_t)(nq * k));
    lsc_ctx *ctx = cpu_ctx();
    lsc_matrix qm = lsc_matrix_f32(q.data(), nq, d), bm = lsc_matrix_f32(b.data(), nb, d);
    ASSERT_EQ(lsc_knn(ctx, &qm, &bm, k, nullptr, wd.data(), wi.data()), LSC_STATUS_OK);
    lsc_ctx_destroy(ctx);
    for (const auto &sizes : std::vector<std::vector<int64_t>>{{2, 5}, {0, 3, 4}, {1, 1, 1, 4}}) {
        auto outs = knn_sharded(q, nq, b, d, k, sizes);
        for (const auto &o : outs) {
            ASSERT_EQ(o.st, LSC_STATUS_OK) << o.msg;
            EXPECT_EQ(o.idx, wi);
            EXPECT_EQ(o.dist, wd);
        }
    }
}

TEST(KnnSharded, WithoutARingStepTheListsTravelWhole)
{
    // one rank's transport has no ring step: the shards' lists go round in one all-gather and
    // every rank merges them, to the same lists as the merge by query blocks
    const int64_t nb = 23, nq = 5, d = 4, k = 4;
    auto b = data::gaussian(nb, d, 31);
    for (int64_t c = 0; c < d; c++) b[(size_t)(20 * d + c)] = b[(size_t)(1 * d + c)];
    auto q = data::gaussian(nq, d, 32);
    std::vector<float> wd((size_t)(nq * k));
    std::vector<int64_t> wi((size_t)(nq * k));
    lsc_ctx *one = cpu_ctx();
    lsc_matrix qm = lsc_matrix_f32(q.data(), nq, d), bm = lsc_matrix_f32(b.data(), nb, d);
    ASSERT_EQ(lsc_knn(one, &qm, &bm, k, nullptr, wd.data(), wi.data()), LSC_STATUS_OK);
    lsc_ctx_destroy(one);
    const std::vector<int64_t> sizes{9, 0, 2, 12};
    const auto off = offsets(sizes);
    const int P = (int)sizes.size();
    fake::Hub hub(P);
    std::vector<fake::Rank> rk((size_t)P);
    std::vector<KnnOut> outs((size_t)P);
    std::vector<std::thread> th;
    for (int p = 0; p < P; p++) {
        rk[(size_t)p] = fake::Rank{&hub, p};
        th.emplace_back([&, p] {
            lsc_ctx *ctx = cpu_ctx();
            lsc_transport t = fake::transport(&rk[(size_t)p]);
            if (p == 1) t.ring = nullptr;
            lsc_ctx_set_transport(ctx, &t);
            KnnOut &o = outs[(size_t)p];
            o.dist.assign((size_t)(nq * k), -1.0f);
            o.idx.assign((size_t)(nq * k), -1);
            lsc_matrix mq = lsc_matrix_f32(q.data(), nq, d);
            lsc_matrix mb = lsc_matrix_f32(
                sizes[(size_t)p] ? b.data() + off[(size_t)p] * d : nullptr, sizes[(size_t)p], d);
            o.st = lsc_knn_sharded(ctx, &mq, &mb, k, nullptr, o.dist.data(), o.idx.data());
            o.msg = lsc_last_error(ctx);
            lsc_ctx_destroy(ctx);
        });
    }
    for (auto &t : th) t.join();
    for (size_t p = 0; p < outs.size(); p++) {
        ASSERT_EQ(outs[p].st, LSC_STATUS_OK) << outs[p].msg;
        EXPECT_EQ(outs[p].idx, wi) << "rank " << p;
        EXPECT_EQ(outs[p].dist, wd) << "rank " << p;
    }
}

// Every rank fails with `want` and the same message, naming `words`; nothing written.
void expect_knn_failure(const std::vector<KnnOut> &outs, lsc_status want,
                        const std::vector<std::string> &words)
{
    for (size_t p = 0; p < outs.size(); p++) {
        EXPECT_EQ(outs[p].st, want) << "rank " << p << ": " << outs[p].msg;
        EXPECT_EQ(outs[p].msg, outs[0].msg) << "rank " << p;
        for (const auto &w : words) EXPECT_TRUE(mentions(outs[p].msg.c_str(), w)) << outs[p].msg;
        EXPECT_EQ(outs[p].idx[0], -1) << "rank " << p;
    }
}

TEST(KnnSharded, ErrorsReachEveryRank)
{
    const int64_t nb = 20, nq = 4, d = 3;
    auto b = data::gaussian(nb, d, 4);
    auto q = data::gaussian(nq, d, 5);
    auto q2 = q;
    q2[5] += 1.0f;
    // other queries on one rank
    expect_knn_failure(knn_sharded(q, nq, b, d, 3, {5, 5, 10},
                                   [&](int p, lsc_matrix &qm, lsc_matrix &, lsc_knn_opts &) {
                                       if (p == 2) qm.data = q2.data();
                                   }),
                       LSC_STATUS_INVALID_ARGUMENT, {"rank 2", "queries"});
    // k beyond the whole base
    expect_knn_failure(knn_sharded(q, nq, b, d, 21, {10, 0, 10}), LSC_STATUS_INVALID_ARGUMENT,
                       {"k is 21", "20 rows"});
    // a NaN in one rank's base rows
    auto bn = b;
    bn[(size_t)(13 * d + 1)] = NAN;
    expect_knn_failure(knn_sharded(q, nq, bn, d, 3, {10, 10}), LSC_STATUS_INVALID_DATA,
                       {"rank 1", "row 3", "col 1"});
    // the metric differs on one rank: said on every rank
    expect_knn_failure(knn_sharded(q, nq, b, d, 3, {10, 10},
                                   [](int p, lsc_matrix &, lsc_matrix &, lsc_knn_opts &o) {
                                       if (p == 1) o.metric = LSC_METRIC_COSINE;
                                   }),
                       LSC_STATUS_INVALID_ARGUMENT, {"rank 1", "metric"});
}

TEST(Transport, SetRefusesMalformed)
{
    lsc_ctx *ctx = cpu_ctx();
    fake::Hub hub(2);
    fake::Rank rk{&hub, 1};
    lsc_transport t = fake::transport(&rk);
    ASSERT_EQ(lsc_ctx_set_transport(ctx, &t), LSC_STATUS_OK);
    int64_t rank = -1, ranks = -1;
    EXPECT_EQ(lsc_ctx_ranks(ctx, &rank, &ranks), LSC_STATUS_OK);
    EXPECT_EQ(rank, 1);
    EXPECT_EQ(ranks, 2);

    lsc_transport bad = t;
    bad.size = 3;
    EXPECT_EQ(lsc_ctx_set_transport(ctx, &bad), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "LSC_TRANSPORT_INIT")) << lsc_last_error(ctx);
    bad = t;
    bad.rank = 2;
    EXPECT_EQ(lsc_ctx_set_transport(ctx, &bad), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "rank 2")) << lsc_last_error(ctx);
    bad = t;
    bad.ranks = 0;
    bad.rank = 0;
    EXPECT_EQ(lsc_ctx_set_transport(ctx, &bad), LSC_STATUS_INVALID_ARGUMENT);
    bad = t;
    bad.all_gather = nullptr;
    EXPECT_EQ(lsc_ctx_set_transport(ctx, &bad), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "all_gather")) << lsc_last_error(ctx);
    // a refused transport leaves the one set before
    EXPECT_EQ(lsc_ctx_ranks(ctx, &rank, &ranks), LSC_STATUS_OK);
    EXPECT_EQ(ranks, 2);
    // NULL: back to one process
    EXPECT_EQ(lsc_ctx_set_transport(ctx, nullptr), LSC_STATUS_OK);
    EXPECT_EQ(lsc_ctx_ranks(ctx, &rank, &ranks), LSC_STATUS_OK);
    EXPECT_EQ(rank, 0);
    EXPECT_EQ(ranks, 1);
    EXPECT_EQ(lsc_ctx_set_transport(nullptr, &t), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_ctx_ranks(nullptr, &rank, &ranks), LSC_STATUS_INVALID_ARGUMENT);
    lsc_ctx_destroy(ctx);
}

TEST(Transport, MpiNeedsInitialisedMpiOrReportsItsAbsence)
{
    lsc_ctx *ctx = cpu_ctx();
    // this process never initialises MPI: the module must refuse, never initialise it itself
    lsc_status s = lsc_ctx_set_mpi(ctx, 0);
#ifdef LSC_TEST_HAVE_MPI
    EXPECT_EQ(s, LSC_STATUS_INVALID_ARGUMENT) << lsc_last_error(ctx);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "not initialised")) << lsc_last_error(ctx);
#else
    EXPECT_EQ(s, LSC_STATUS_NOT_SUPPORTED) << lsc_last_error(ctx);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "without the MPI module")) << lsc_last_error(ctx);
#endif
    int64_t ranks = -1;
    EXPECT_EQ(lsc_ctx_ranks(ctx, nullptr, &ranks), LSC_STATUS_OK);
    EXPECT_EQ(ranks, 1);
    lsc_ctx_destroy(ctx);
}

} // namespace
