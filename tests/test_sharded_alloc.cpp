// Out of memory on one rank of a sharded call (linked against lsc_testing, as test_alloc): the
// n-th host allocation from now fails, in whichever rank's thread makes it. For every n up to the
// count of a successful call, every rank must return the same status (OUT_OF_MEMORY, or OK when
// the failed allocation was not on a path that matters) with the same message, none may hang
// (the fake transport's barrier gives up after a timeout), and the contexts must stay usable:
// the call then succeeds on every rank.
#include "datasets.hpp"
#include "fake_transport.hpp"
#include "testing.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Ranks {
    explicit Ranks(int P) : hub(P), rk((size_t)P), ctx((size_t)P, nullptr)
    {
        for (int p = 0; p < P; p++) {
            rk[(size_t)p] = fake::Rank{&hub, p};
            lsc_ctx_params prm = LSC_CTX_PARAMS_INIT;
            prm.backend = LSC_BACKEND_CPU;
            prm.threads = 1;
            EXPECT_EQ(lsc_ctx_create(&prm, &ctx[(size_t)p]), LSC_STATUS_OK);
            lsc_transport t = fake::transport(&rk[(size_t)p]);
            EXPECT_EQ(lsc_ctx_set_transport(ctx[(size_t)p], &t), LSC_STATUS_OK);
        }
    }
    ~Ranks()
    {
        for (auto *c : ctx) lsc_ctx_destroy(c);
    }
    fake::Hub hub;
    std::vector<fake::Rank> rk;
    std::vector<lsc_ctx *> ctx;
};

// Runs call(p, ctx) on every rank at once; returns each rank's status and message.
std::vector<std::pair<lsc_status, std::string>>
run(Ranks &r, const std::function<lsc_status(int, lsc_ctx *)> &call)
{
    const int P = r.hub.P;
    std::vector<std::pair<lsc_status, std::string>> out((size_t)P);
    std::vector<std::thread> th;
    for (int p = 0; p < P; p++)
        th.emplace_back([&, p] {
            lsc_status s = call(p, r.ctx[(size_t)p]);
            out[(size_t)p] = {s, lsc_last_error(r.ctx[(size_t)p])};
        });
    for (auto &t : th) t.join();
    return out;
}

void each_failure(const std::function<lsc_status(int, lsc_ctx *)> &call, int P = 3)
{
    Ranks r(P);
    lsc_testing_fail_alloc(0);
    auto ok = run(r, call);
    const int64_t count = lsc_testing_alloc_count();
    for (const auto &o : ok) ASSERT_EQ(o.first, LSC_STATUS_OK) << o.second;
    ASSERT_GT(count, 0);
    int64_t failed = 0;
    for (int64_t n = 1; n <= count; n++) {
        SCOPED_TRACE("allocation " + std::to_string(n) + " of " + std::to_string(count));
        lsc_testing_fail_alloc(n);
        auto got = run(r, call);
        lsc_testing_fail_alloc(0);
        for (int p = 0; p < P; p++) {
            EXPECT_EQ(got[(size_t)p].first, got[0].first)
                << "rank " << p << ": " << got[(size_t)p].second;
            EXPECT_EQ(got[(size_t)p].second, got[0].second) << "rank " << p;
        }
        if (got[0].first != LSC_STATUS_OK) {
            failed++;
            EXPECT_EQ(got[0].first, LSC_STATUS_OUT_OF_MEMORY) << got[0].second;
            EXPECT_NE(got[0].second.find("out of host memory"), std::string::npos) << got[0].second;
        }
        auto again = run(r, call);
        for (const auto &o : again) EXPECT_EQ(o.first, LSC_STATUS_OK) << o.second;
    }
    // the failures were injected where they matter: most allocations are on agreed paths
    EXPECT_GT(failed, 0);
}

TEST(ShardedAlloc, SpectrumAgreesOnOutOfMemory)
{
    const int64_t n = 30, d = 4;
    auto x = data::gaussian(n, d, 8);
    each_failure([&](int p, lsc_ctx *ctx) {
        lsc_matrix a = lsc_matrix_f32(x.data() + p * 10 * d, 10, d);
        lsc_spectrum_result res = LSC_SPECTRUM_RESULT_INIT;
        double sv[4], cv[4];
        return lsc_spectrum_sharded(ctx, &a, nullptr, &res, sv, cv);
    });
}

TEST(ShardedAlloc, KnnAgreesOnOutOfMemory)
{
    const int64_t nb = 30, nq = 4, d = 4, k = 3;
    auto b = data::gaussian(nb, d, 8);
    auto q = data::gaussian(nq, d, 9);
    each_failure([&](int p, lsc_ctx *ctx) {
        lsc_matrix qm = lsc_matrix_f32(q.data(), nq, d);
        lsc_matrix bm = lsc_matrix_f32(b.data() + p * 10 * d, 10, d);
        float dist[nq * k];
        int64_t idx[nq * k];
        return lsc_knn_sharded(ctx, &qm, &bm, k, nullptr, dist, idx);
    });
}

TEST(ShardedAlloc, PairsAgreeOnOutOfMemory)
{
    const int64_t n = 30, d = 4;
    auto x = data::gaussian(n, d, 8);
    for (int metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        each_failure([&](int p, lsc_ctx *ctx) {
            lsc_matrix a = lsc_matrix_f32(x.data() + p * 10 * d, 10, d);
            lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
            o.metric = (lsc_metric)metric;
            o.uniformity = 1;
            o.subset_rows = 25;
            lsc_pair_result res = LSC_PAIR_RESULT_INIT;
            int64_t hist[64];
            lsc_pair dups[100];
            return lsc_pair_stats_sharded(ctx, &a, &o, &res, hist, dups);
        });
}

TEST(ShardedAlloc, SelfKnnAgreesOnOutOfMemory)
{
    const int64_t n = 24, d = 4, k = 3;
    auto x = data::gaussian(n, d, 8);
    const int64_t sizes[3] = {5, 0, 19}, first[3] = {0, 5, 5};
    each_failure([&](int p, lsc_ctx *ctx) {
        lsc_matrix a = lsc_matrix_f32(x.data() + first[p] * d, sizes[p], d);
        lsc_knn_opts o = LSC_KNN_OPTS_INIT;
        o.exclude_self = 1;
        o.metric = LSC_METRIC_COSINE;
        std::vector<float> dist((size_t)(n * k));
        std::vector<int64_t> idx((size_t)(n * k));
        return lsc_knn_sharded(ctx, &a, nullptr, k, &o, dist.data(), idx.data());
    });
}

TEST(ShardedAlloc, SelfKnnOverACoveringAgreesOnOutOfMemory)
{
    // wide rows and small k at 3 and 4 ranks: the covering's pieces and partial lists
    const int64_t n = 26, d = 32, k = 2;
    auto x = data::gaussian(n, d, 8);
    for (const auto &cut : std::vector<std::vector<int64_t>>{{9, 0, 17}, {6, 7, 0, 13}}) {
        std::vector<int64_t> first(1, 0);
        for (int64_t r : cut) first.push_back(first.back() + r);
        each_failure(
            [&](int p, lsc_ctx *ctx) {
                const int64_t rows = p < (int)cut.size() ? cut[(size_t)p] : 0;
                lsc_matrix a = lsc_matrix_f32(x.data() + first[(size_t)p] * d, rows, d);
                lsc_knn_opts o = LSC_KNN_OPTS_INIT;
                o.exclude_self = 1;
                std::vector<float> dist((size_t)(n * k));
                std::vector<int64_t> idx((size_t)(n * k));
                return lsc_knn_sharded(ctx, &a, nullptr, k, &o, dist.data(), idx.data());
            },
            (int)cut.size());
    }
}

// The covering's kNN scratch follows the rows a rank pairs: its own and those of the pieces it
// receives. At {1, 1, 40} rank 0 pairs one-row sets only (shard 2 goes to rank 1), so its
// scratch must not be sized by shard 2's rows, as the ring's is by this rank's rows alone.
TEST(ShardedAlloc, SelfKnnOverACoveringSizesItsScratchByItsOwnWork)
{
    const int64_t d = 128, k = 40;
    const std::vector<int64_t> cut = {1, 1, 40}, first = {0, 1, 2}, paired = {1, 40, 40};
    auto x = data::gaussian(42, d, 8);
    Ranks r(3);
    std::vector<size_t> bytes(3);
    auto got = run(r, [&](int p, lsc_ctx *ctx) {
        lsc_matrix a = lsc_matrix_f32(x.data() + first[(size_t)p] * d, cut[(size_t)p], d);
        lsc_knn_opts o = LSC_KNN_OPTS_INIT;
        o.exclude_self = 1;
        std::vector<float> dist((size_t)(a.rows * k));
        std::vector<int64_t> idx((size_t)(a.rows * k));
        lsc_testing_watch_alloc("a piece's kNN values");
        const lsc_status s = lsc_knn_sharded(ctx, &a, nullptr, k, &o, dist.data(), idx.data());
        bytes[(size_t)p] = lsc_testing_watched_bytes();
        lsc_testing_watch_alloc(nullptr);
        return s;
    });
    EXPECT_EQ(r.hub.send_recvs, 4); // over the covering
    for (size_t p = 0; p < 3; p++) {
        ASSERT_EQ(got[p].first, LSC_STATUS_OK) << got[p].second;
        EXPECT_GT(bytes[p], 0u) << "rank " << p;
        // k values a row it pairs (+ 1: a pointer even for none)
        EXPECT_LE(bytes[p], (size_t)(paired[p] * k) * sizeof(double) + 1) << "rank " << p;
    }
}

TEST(ShardedAlloc, ReferenceAndPrdcAgreeOnOutOfMemory)
{
    const int64_t n = 21, m = 18, d = 3, k = 3;
    auto real = data::gaussian(n, d, 8);
    auto fake = data::gaussian(m, d, 9);
    each_failure([&](int p, lsc_ctx *ctx) {
        lsc_matrix a = lsc_matrix_f32(real.data() + p * 7 * d, 7, d);
        lsc_matrix f = lsc_matrix_f32(fake.data() + p * 6 * d, 6, d);
        lsc_reference *ref = nullptr;
        lsc_status s = lsc_reference_create_sharded(ctx, &a, k, nullptr, &ref);
        if (s != LSC_STATUS_OK) return s;
        lsc_prdc_result res = LSC_PRDC_RESULT_INIT;
        unsigned char flags[7];
        int64_t counts[6];
        s = lsc_prdc_rows_sharded(ctx, ref, &f, &res, flags, counts);
        lsc_reference_destroy(ref);
        return s;
    });
}

TEST(ShardedAlloc, AssessAgreesOnOutOfMemory)
{
    // labels without generated labels and near rows: the most sharded steps at once
    const int64_t n = 36, m = 24, d = 3, k = 2;
    auto real = data::gaussian(n, d, 8);
    auto fake = data::gaussian(m, d, 9);
    std::vector<int64_t> labels((size_t)n);
    for (int64_t i = 0; i < n; i++) labels[(size_t)i] = i % 3;
    each_failure([&](int p, lsc_ctx *ctx) {
        lsc_matrix a = lsc_matrix_f32(real.data() + p * 12 * d, 12, d);
        lsc_matrix f = lsc_matrix_f32(fake.data() + p * 8 * d, 8, d);
        lsc_reference *ref = nullptr;
        lsc_status s = lsc_reference_create_sharded(ctx, &a, k, nullptr, &ref);
        if (s != LSC_STATUS_OK) return s;
        lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
        o.splits = 4;
        o.real_labels = labels.data() + p * 12;
        o.near_distance = 0.5;
        lsc_assessment *as = nullptr;
        s = lsc_assess_sharded(ctx, ref, &f, &o, &as);
        lsc_assessment_destroy(as);
        lsc_reference_destroy(ref);
        return s;
    });
}

TEST(ShardedAlloc, AssessWithACachedReferenceSideAgreesOnOutOfMemory)
{
    // the reference shards made once per context: after the first call each context holds the
    // reference side, and a failure must leave every rank's cache agreeing with the others'
    const int64_t n = 36, m = 24, d = 3, k = 2;
    auto real = data::gaussian(n, d, 18);
    auto fake = data::gaussian(m, d, 19);
    std::map<lsc_ctx *, lsc_reference *> refs;
    std::mutex mu;
    each_failure([&](int p, lsc_ctx *ctx) {
        lsc_reference *ref = nullptr;
        {
            std::lock_guard<std::mutex> lk(mu);
            ref = refs[ctx];
        }
        lsc_status s = LSC_STATUS_OK;
        if (!ref) {
            lsc_matrix a = lsc_matrix_f32(real.data() + p * 12 * d, 12, d);
            s = lsc_reference_create_sharded(ctx, &a, k, nullptr, &ref);
            if (s != LSC_STATUS_OK) return s;
            std::lock_guard<std::mutex> lk(mu);
            refs[ctx] = ref;
        }
        lsc_matrix f = lsc_matrix_f32(fake.data() + p * 8 * d, 8, d);
        lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
        o.splits = 4;
        lsc_assessment *as = nullptr;
        s = lsc_assess_sharded(ctx, ref, &f, &o, &as);
        lsc_assessment_destroy(as);
        return s;
    });
    for (auto &r : refs) lsc_reference_destroy(r.second);
}

TEST(ShardedAlloc, SaveAgreesOnOutOfMemory)
{
    const int64_t n = 21, d = 3, k = 3;
    auto real = data::gaussian(n, d, 8);
    const std::string path = ::testing::TempDir() + "lsc_sharded_alloc.lscref";
    each_failure([&](int p, lsc_ctx *ctx) {
        lsc_matrix a = lsc_matrix_f32(real.data() + p * 7 * d, 7, d);
        lsc_reference *ref = nullptr;
        lsc_status s = lsc_reference_create_sharded(ctx, &a, k, nullptr, &ref);
        if (s != LSC_STATUS_OK) return s;
        s = lsc_reference_save_sharded(ctx, ref, path.c_str());
        lsc_reference_destroy(ref);
        return s;
    });
    std::remove(path.c_str());
}

} // namespace

namespace {

TEST(ShardedAlloc, LoadAgreesOnOutOfMemory)
{
    const int64_t n = 21, d = 3, k = 3;
    auto real = data::gaussian(n, d, 8);
    const std::string path = ::testing::TempDir() + "lsc_sharded_alloc_load.lscref";
    lsc_ctx_params prm = LSC_CTX_PARAMS_INIT;
    prm.backend = LSC_BACKEND_CPU;
    prm.threads = 1;
    lsc_ctx *one = nullptr;
    ASSERT_EQ(lsc_ctx_create(&prm, &one), LSC_STATUS_OK);
    lsc_matrix a = lsc_matrix_f32(real.data(), n, d);
    lsc_reference *w = nullptr;
    ASSERT_EQ(lsc_reference_create(one, &a, k, nullptr, &w), LSC_STATUS_OK);
    ASSERT_EQ(lsc_reference_save(one, w, path.c_str()), LSC_STATUS_OK);
    lsc_reference_destroy(w);
    lsc_ctx_destroy(one);
    each_failure([&](int, lsc_ctx *ctx) {
        lsc_reference *ref = nullptr;
        lsc_status s = lsc_reference_load_sharded(ctx, path.c_str(), &ref);
        lsc_reference_destroy(ref);
        return s;
    });
    std::remove(path.c_str());
}

} // namespace
