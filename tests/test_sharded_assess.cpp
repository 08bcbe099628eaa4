// lsc_assess_sharded (lsc.h section 12) over the in-process transport of fake_transport.hpp: for
// P = 1..4 ranks and even, uneven and empty shards of both sets, every rank must get the
// verdicts lsc_assess gives on the concatenated rows - the same levels, counts, uncovered rows and
// near rows, the continuous figures within a relative 1e-9 (the reference's mean and variances
// are summed in another order) - on healthy and collapsed sets, with and without labels, both
// metrics, and bad input on one rank must reach every rank as the same status, never a hang.
#include "datasets.hpp"
#include "fake_transport.hpp"
#include "test_util.hpp"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace {

using fake::offsets;
using fake::run_with;
using fake::shard;

using Sizes = std::vector<int64_t>;

const int64_t *labels_of(const std::vector<int64_t> &l, const std::vector<int64_t> &off, int p)
{
    return l.empty() || off[(size_t)p + 1] == off[(size_t)p] ? nullptr : l.data() + off[(size_t)p];
}

// What an assessment says, read through the public calls.
struct Said {
    lsc_status status = LSC_STATUS_INTERNAL;
    std::string error;
    lsc_verdict v[LSC_CHECK_COUNT];
    std::vector<lsc_class_verdict> cls;
    lsc_prdc_result prdc = LSC_PRDC_RESULT_INIT;
    lsc_status prdc_status = LSC_STATUS_INTERNAL;
    int64_t uncovered = -2, near_rows = -2;
    std::vector<int64_t> rows;
    lsc_level level = LSC_LEVEL_NOT_ASSESSED;
};

Said read(lsc_ctx *ctx, lsc_status st, lsc_assessment *a)
{
    Said s;
    s.status = st;
    s.error = lsc_last_error(ctx);
    if (st != LSC_STATUS_OK) return s;
    for (int c = 0; c < LSC_CHECK_COUNT; c++) {
        s.v[c] = LSC_VERDICT_INIT;
        EXPECT_EQ(lsc_assessment_verdict(a, (lsc_check)c, &s.v[c]), LSC_STATUS_OK);
    }
    for (int64_t c = 0; c < lsc_assessment_class_count(a); c++) {
        lsc_class_verdict cv = LSC_CLASS_VERDICT_INIT;
        EXPECT_EQ(lsc_assessment_class(a, c, &cv), LSC_STATUS_OK);
        s.cls.push_back(cv);
    }
    s.prdc_status = lsc_assessment_prdc(a, &s.prdc);
    EXPECT_EQ(lsc_assessment_uncovered(a, nullptr, 0, &s.uncovered), LSC_STATUS_OK);
    if (s.uncovered > 0) {
        s.rows.resize((size_t)s.uncovered);
        EXPECT_EQ(lsc_assessment_uncovered(a, s.rows.data(), s.uncovered, &s.uncovered),
                  LSC_STATUS_OK);
    }
    s.near_rows = lsc_assessment_near_rows(a);
    s.level = lsc_assessment_level(a);
    lsc_assessment_destroy(a);
    return s;
}

void near(double a, double b, const char *what)
{
    if (std::isnan(a) || std::isnan(b)) {
        EXPECT_EQ(std::isnan(a), std::isnan(b)) << what;
        return;
    }
    if (std::isinf(a) || std::isinf(b)) {
        EXPECT_EQ(a, b) << what;
        return;
    }
    EXPECT_NEAR(a, b, 1e-9 * std::fabs(b) + 1e-12) << what;
}

void same(const Said &got, const Said &want)
{
    ASSERT_EQ(got.status, LSC_STATUS_OK) << got.error;
    for (int c = 0; c < LSC_CHECK_COUNT; c++) {
        const lsc_verdict &g = got.v[c], &w = want.v[c];
        SCOPED_TRACE(lsc_check_name((lsc_check)c));
        EXPECT_EQ(g.level, w.level) << g.why << "\n vs " << w.why;
        EXPECT_STREQ(g.statistic, w.statistic);
        EXPECT_STREQ(g.method, w.method);
        near(g.value, w.value, "value");
        near(g.matched, w.matched, "matched");
        near(g.baseline, w.baseline, "baseline");
        near(g.spread, w.spread, "spread");
        near(g.interval_lo, w.interval_lo, "interval_lo");
        near(g.interval_hi, w.interval_hi, "interval_hi");
        near(g.effect, w.effect, "effect");
        near(g.score, w.score, "score");
        EXPECT_STREQ(g.why, w.why);
    }
    ASSERT_EQ(got.cls.size(), want.cls.size());
    for (size_t c = 0; c < got.cls.size(); c++) {
        const lsc_class_verdict &g = got.cls[c], &w = want.cls[c];
        SCOPED_TRACE("class " + std::to_string(w.label));
        EXPECT_EQ(g.label, w.label);
        EXPECT_EQ(g.real_rows, w.real_rows);
        near(g.coverage, w.coverage, "coverage");
        EXPECT_EQ(g.level, w.level);
        EXPECT_EQ(g.share_level, w.share_level);
        near(g.matched, w.matched, "class matched");
        near(g.baseline, w.baseline, "class baseline");
        near(g.score, w.score, "class score");
        near(g.share, w.share, "share");
        near(g.share_score, w.share_score, "share score");
    }
    EXPECT_EQ(got.prdc_status, want.prdc_status);
    if (want.prdc_status == LSC_STATUS_OK) {
        EXPECT_EQ(got.prdc.precision, want.prdc.precision);
        EXPECT_EQ(got.prdc.recall, want.prdc.recall);
        EXPECT_EQ(got.prdc.density, want.prdc.density);
        EXPECT_EQ(got.prdc.coverage, want.prdc.coverage);
        EXPECT_EQ(got.prdc.real_rows, want.prdc.real_rows);
        EXPECT_EQ(got.prdc.fake_rows, want.prdc.fake_rows);
    }
    EXPECT_EQ(got.uncovered, want.uncovered);
    EXPECT_EQ(got.rows, want.rows);
    EXPECT_EQ(got.near_rows, want.near_rows);
    EXPECT_EQ(got.level, want.level);
}

struct Case {
    std::string name;
    int64_t n, m, d, k;
    std::vector<float> real, fake;
    std::vector<int64_t> real_labels, fake_labels;
    lsc_metric metric = LSC_METRIC_EUCLIDEAN;
    lsc_comparison comparison = LSC_COMPARISON_STRICT;
    double near_distance = -1.0;
    int64_t order_uncovered = 1;
    uint64_t seed = 0;
};

lsc_assess_opts opts_of(const Case &c)
{
    lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
    o.near_distance = c.near_distance;
    o.order_uncovered = c.order_uncovered;
    o.seed = c.seed;
    return o;
}

Said one_process(const Case &c)
{
    Ctx ctx;
    lsc_matrix r = lsc_matrix_f32(c.real.data(), c.n, c.d);
    lsc_matrix f = lsc_matrix_f32(c.fake.data(), c.m, c.d);
    lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
    ro.metric = c.metric;
    ro.comparison = c.comparison;
    lsc_reference *ref = nullptr;
    EXPECT_EQ(lsc_reference_create(ctx, &r, c.k, &ro, &ref), LSC_STATUS_OK) << lsc_last_error(ctx);
    lsc_assess_opts o = opts_of(c);
    o.real_labels = c.real_labels.empty() ? nullptr : c.real_labels.data();
    o.fake_labels = c.fake_labels.empty() ? nullptr : c.fake_labels.data();
    lsc_assessment *a = nullptr;
    const lsc_status st = lsc_assess(ctx, ref, &f, &o, &a);
    Said s = read(ctx, st, a);
    lsc_reference_destroy(ref);
    return s;
}

// Each rank's assessment; with `again`, the second of two calls on the same contexts (the
// reference side then comes from each context's cache).
std::vector<Said> sharded(const Case &c, const Sizes &rs, const Sizes &fs, bool again = false)
{
    const int P = (int)rs.size();
    const auto ro_off = offsets(rs), fo_off = offsets(fs);
    std::vector<Said> out((size_t)P);
    fake::run(P, [&](int p, lsc_ctx *ctx) {
        lsc_matrix r = shard(c.real, c.d, ro_off, p), f = shard(c.fake, c.d, fo_off, p);
        lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
        ro.metric = c.metric;
        ro.comparison = c.comparison;
        lsc_reference *ref = nullptr;
        lsc_status st = lsc_reference_create_sharded(ctx, &r, c.k, &ro, &ref);
        if (st != LSC_STATUS_OK) {
            out[(size_t)p] = read(ctx, st, nullptr);
            return;
        }
        lsc_assess_opts o = opts_of(c);
        o.real_labels = labels_of(c.real_labels, ro_off, p);
        o.fake_labels = labels_of(c.fake_labels, fo_off, p);
        lsc_assessment *a = nullptr;
        st = lsc_assess_sharded(ctx, ref, &f, &o, &a);
        if (again && st == LSC_STATUS_OK) {
            lsc_assessment_destroy(a);
            a = nullptr;
            st = lsc_assess_sharded(ctx, ref, &f, &o, &a);
        }
        out[(size_t)p] = read(ctx, st, a);
        lsc_reference_destroy(ref);
    });
    return out;
}

// Splits of n rows over 1 to 4 ranks: even, uneven, empty first, middle and last shards.
std::vector<Sizes> splits(int64_t n)
{
    const int64_t a = n / 3, b = n / 4;
    return {{n},
            {a, n - a},
            {0, n},
            {b, 0, n - b},
            {1, a, n - 1 - a},
            {b, b, b, n - 3 * b},
            {0, a, 0, n - a}};
}

// The fake set split differently from the real one: reversed shapes.
Sizes reversed(const Sizes &s, int64_t m, int64_t n)
{
    Sizes out;
    for (auto it = s.rbegin(); it != s.rend(); ++it) out.push_back(*it * m / n);
    int64_t sum = 0;
    for (int64_t x : out) sum += x;
    out.back() += m - sum;
    return out;
}

void check_case(const Case &c, size_t max_splits = 100)
{
    SCOPED_TRACE(c.name);
    const Said want = one_process(c);
    ASSERT_EQ(want.status, LSC_STATUS_OK) << want.error;
    const auto sp = splits(c.n);
    for (size_t i = 0; i < sp.size() && i < max_splits; i++) {
        const Sizes fs = reversed(sp[i], c.m, c.n);
        SCOPED_TRACE("split " + std::to_string(i) + " over " + std::to_string(sp[i].size()) +
                     " ranks");
        // every other split twice on the same contexts: the cached reference side
        const auto got = sharded(c, sp[i], fs, i % 2 == 1);
        for (size_t p = 0; p < got.size(); p++) {
            SCOPED_TRACE("rank " + std::to_string(p));
            same(got[p], want);
        }
    }
}

Case mixture_case(const std::string &name, int64_t n, int64_t m, int64_t kept, uint64_t sd)
{
    Case c;
    c.name = name;
    c.n = n;
    c.m = m;
    c.d = 8;
    c.k = 5;
    data::Mixture mix(c.d, 10, data::seed(sd));
    c.real = mix.draw(n, data::seed(sd + 1), 0, &c.real_labels);
    c.fake = mix.draw(m, data::seed(sd + 2), kept, &c.fake_labels);
    c.real_labels.clear();
    c.fake_labels.clear();
    return c;
}

TEST(ShardedAssess, HealthyAndCollapsedSetsGetOneProcesssVerdicts)
{
    Case h = mixture_case("healthy", 240, 150, 0, 700);
    check_case(h);
    Case mc = mixture_case("four of ten modes", 240, 150, 4, 710);
    const Said want = one_process(mc);
    EXPECT_EQ(want.v[LSC_CHECK_MODE_COLLAPSE].level, LSC_LEVEL_COLLAPSE); // a known truth
    check_case(mc);
}

TEST(ShardedAssess, DisjointHeldOutSubsetsAndTheNearRows)
{
    // N/2 large against S m: the held-out subsets are disjoint; near copies counted
    Case c = mixture_case("near copies", 1200, 40, 0, 720);
    for (int64_t i = 0; i < 10; i++) // ten generated rows copy reference rows
        for (int64_t t = 0; t < c.d; t++)
            c.fake[(size_t)(i * c.d + t)] = c.real[(size_t)(i * 37 * c.d + t)];
    c.near_distance = 0.0;
    c.seed = 3;
    check_case(c, 4);
    const Said want = one_process(c);
    EXPECT_GE(want.near_rows, 10);
}

TEST(ShardedAssess, LabelsWithAndWithoutGeneratedLabels)
{
    Case c = mixture_case("labels", 240, 150, 9, 730);
    data::Mixture mix(c.d, 10, data::seed(730));
    c.real = mix.draw(c.n, data::seed(731), 0, &c.real_labels);
    c.fake = mix.draw(c.m, data::seed(732), 9, &c.fake_labels);
    check_case(c, 5);
    c.name = "labels, generated rows by their nearest reference row";
    c.fake_labels.clear();
    c.order_uncovered = 0;
    check_case(c, 5);
}

TEST(ShardedAssess, CosineAndInclusive)
{
    Case c = mixture_case("cosine, inclusive", 200, 90, 6, 740);
    c.metric = LSC_METRIC_COSINE;
    c.comparison = LSC_COMPARISON_INCLUSIVE;
    c.near_distance = 0.01;
    check_case(c, 5);
}

TEST(ShardedAssess, TooFewGeneratedRowsForThePrdcChecks)
{
    Case c = mixture_case("k >= m", 60, 5, 0, 750);
    const Said want = one_process(c);
    EXPECT_EQ(want.v[LSC_CHECK_MODE_COLLAPSE].level, LSC_LEVEL_NOT_ASSESSED);
    check_case(c, 4);
}

TEST(ShardedAssess, TinySetsOverFourRanks)
{
    // halves of 6 rows, subsets of 3, the whole half its own sample: every rank holds a little
    Case c = mixture_case("tiny", 12, 7, 0, 770);
    c.k = 2;
    for (int64_t order : {1, 0}) {
        c.order_uncovered = order;
        const Said want = one_process(c);
        ASSERT_EQ(want.status, LSC_STATUS_OK) << want.error;
        for (const Sizes &rs : {Sizes{3, 3, 3, 3}, Sizes{0, 12, 0, 0}, Sizes{5, 0, 7}})
            for (const Sizes &fs : {Sizes{1, 2, 2, 2}, Sizes{7, 0, 0, 0}, Sizes{0, 0, 0, 7}}) {
                if (rs.size() != fs.size() && fs.size() == 4 && rs.size() == 3) continue;
                const auto got = sharded(c, rs, rs.size() == fs.size() ? fs : Sizes{2, 2, 3});
                for (size_t p = 0; p < got.size(); p++) same(got[p], want);
            }
    }
}

// Runs call on P ranks with shards of the case and a sharded reference of them; `tweak` changes
// each rank's transport after the reference is made (e.g. no ring step).
std::vector<std::pair<lsc_status, std::string>>
errors(const Case &c, const Sizes &rs, const Sizes &fs,
       const std::function<lsc_status(int, lsc_ctx *, lsc_reference *, lsc_matrix *)> &call,
       const std::function<void(int, lsc_transport &)> &tweak = nullptr)
{
    const int P = (int)rs.size();
    const auto ro_off = offsets(rs), fo_off = offsets(fs);
    std::vector<std::pair<lsc_status, std::string>> out((size_t)P);
    std::vector<lsc_transport> saved((size_t)P);
    run_with(
        P, [](int, lsc_transport &) {},
        [&](int p, lsc_ctx *ctx) {
            lsc_matrix r = shard(c.real, c.d, ro_off, p), f = shard(c.fake, c.d, fo_off, p);
            lsc_reference *ref = nullptr;
            lsc_status st = lsc_reference_create_sharded(ctx, &r, c.k, nullptr, &ref);
            if (st == LSC_STATUS_OK && tweak) {
                lsc_transport t = saved[(size_t)p];
                tweak(p, t);
                lsc_ctx_set_transport(ctx, &t);
            }
            if (st == LSC_STATUS_OK) st = call(p, ctx, ref, &f);
            out[(size_t)p] = {st, lsc_last_error(ctx)};
            lsc_reference_destroy(ref);
        },
        &saved);
    return out;
}

void all_say(const std::vector<std::pair<lsc_status, std::string>> &got, lsc_status want,
             const std::string &word)
{
    for (size_t p = 0; p < got.size(); p++) {
        EXPECT_EQ(got[p].first, want) << "rank " << p << ": " << got[p].second;
        EXPECT_EQ(got[p].second, got[0].second) << "rank " << p;
        EXPECT_NE(got[p].second.find(word), std::string::npos) << got[p].second;
    }
}

TEST(ShardedAssess, BadInputOnOneRankReachesEveryRank)
{
    Case c = mixture_case("errors", 60, 30, 0, 760);
    const Sizes rs = {20, 25, 15}, fs = {10, 0, 20};
    auto plain = [](int, lsc_ctx *ctx, lsc_reference *ref, lsc_matrix *f) {
        lsc_assessment *a = nullptr;
        lsc_status st = lsc_assess_sharded(ctx, ref, f, nullptr, &a);
        lsc_assessment_destroy(a);
        return st;
    };
    // NaN in rank 2's generated rows: named with its rank, row and column
    Case bad = c;
    bad.fake[(size_t)((10 + 4) * c.d + 3)] = NAN;
    all_say(errors(bad, rs, fs, plain), LSC_STATUS_INVALID_DATA, "rank 2");
    all_say(errors(bad, rs, fs, plain), LSC_STATUS_INVALID_DATA, "row 4");
    // another seed on rank 1
    all_say(errors(c, rs, fs,
                   [](int p, lsc_ctx *ctx, lsc_reference *ref, lsc_matrix *f) {
                       lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
                       o.seed = p == 1 ? 9 : 0;
                       lsc_assessment *a = nullptr;
                       lsc_status st = lsc_assess_sharded(ctx, ref, f, &o, &a);
                       lsc_assessment_destroy(a);
                       return st;
                   }),
            LSC_STATUS_INVALID_ARGUMENT, "seed");
    // labels on rank 0 only
    std::vector<int64_t> lab(60, 1);
    all_say(errors(c, rs, fs,
                   [&](int p, lsc_ctx *ctx, lsc_reference *ref, lsc_matrix *f) {
                       lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
                       o.real_labels = p == 0 ? lab.data() : nullptr;
                       lsc_assessment *a = nullptr;
                       lsc_status st = lsc_assess_sharded(ctx, ref, f, &o, &a);
                       lsc_assessment_destroy(a);
                       return st;
                   }),
            LSC_STATUS_INVALID_ARGUMENT, "real_labels");
    // NULL out on rank 1
    all_say(errors(c, rs, fs,
                   [](int p, lsc_ctx *ctx, lsc_reference *ref, lsc_matrix *f) {
                       lsc_assessment *a = nullptr;
                       lsc_status st =
                           lsc_assess_sharded(ctx, ref, f, nullptr, p == 1 ? nullptr : &a);
                       lsc_assessment_destroy(a);
                       return st;
                   }),
            LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    // a whole reference on every rank is not a set of shards
    all_say(errors(c, rs, fs,
                   [&](int, lsc_ctx *ctx, lsc_reference *, lsc_matrix *f) {
                       lsc_matrix r = lsc_matrix_f32(c.real.data(), c.n, c.d);
                       lsc_reference *whole = nullptr;
                       lsc_status st = lsc_reference_create(ctx, &r, 5, nullptr, &whole);
                       lsc_assessment *a = nullptr;
                       if (st == LSC_STATUS_OK) st = lsc_assess_sharded(ctx, whole, f, nullptr, &a);
                       lsc_assessment_destroy(a);
                       lsc_reference_destroy(whole);
                       return st;
                   }),
            LSC_STATUS_INVALID_ARGUMENT, "shard");
    // no ring step on rank 2
    all_say(errors(c, rs, fs, plain,
                   [](int p, lsc_transport &t) {
                       if (p == 2) t.ring = nullptr;
                   }),
            LSC_STATUS_NOT_SUPPORTED, "ring");
    // and the calls still work after all that
    const auto ok = errors(c, rs, fs, plain);
    for (const auto &o : ok) EXPECT_EQ(o.first, LSC_STATUS_OK) << o.second;
}

} // namespace
