// Determinism (every result reproducible). test_context.cpp already proves, for euclidean kNN with
// exclude_self, pair statistics, reference + PRDC and the spectrum (N >= D) on float32 input:
// bit-identical results with 1, 2 and 4 threads, and agreement across 1, 2 and 3 threads. Here:
//  - every other operation and variant (distance blocks of each metric, the accumulator with
//    adds and merges, the N < D spectrum, cosine, queries against a base, row subsets, float16,
//    bfloat16 and float64 input, inclusive PRDC) is bit-identical run to run, in one context and
//    in a fresh one, with 1, 2, 3 and 7 threads, every output byte compared;
//  - across 1, 2, 3 and 7 threads (and a small workspace): decisions (neighbours, PRDC, histogram,
//    near-duplicate lists, integer figures) equal, continuous figures within docs/METRICS.md's
//    tolerances (2e-4 relative or 1e-9 absolute);
//  - kNN ties always go by index: lattice points with many exactly equidistant neighbours and
//    duplicates, against a brute-force float64 answer, across thread counts and tiny workspaces;
//    the near-duplicate list's (d, i, j) order likewise.
#include "datasets.hpp"

#include <lsc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

const uint64_t kSeed = data::seed(515151);
const int kThreads[] = {1, 2, 3, 7};

struct Ctx {
    lsc_ctx *c = nullptr;
    explicit Ctx(int threads, size_t workspace = 0)
    {
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.backend = LSC_BACKEND_CPU;
        p.threads = threads;
        p.workspace_limit = workspace;
        EXPECT_EQ(lsc_ctx_create(&p, &c), LSC_STATUS_OK) << lsc_last_error(c);
    }
    ~Ctx() { lsc_ctx_destroy(c); }
    Ctx(const Ctx &) = delete;
    Ctx &operator=(const Ctx &) = delete;
    operator lsc_ctx *() const { return c; }
};

/* ---------------------------------------------------------------------------------------------- */
/* every operation's outputs, as figures (for tolerances) and as raw bytes (for bit identity)     */

struct Out {
    std::vector<unsigned char> bytes;
    std::vector<double> cont;   // continuous figures
    std::vector<int64_t> exact; // decisions and integer figures
    template <class T>
    void raw(const T *p, size_t n)
    {
        bytes.insert(bytes.end(), (const unsigned char *)p, (const unsigned char *)(p + n));
    }
};

uint16_t to_half(float f)
{
    // round-to-nearest binary16 for values in the normal range (the test data stays there)
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t m = x & 0x7fffffu;
    if (e <= 0) return (uint16_t)sign;
    uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13);
    if ((m & 0x1fffu) > 0x1000u || ((m & 0x1fffu) == 0x1000u && (h & 1u))) h++;
    return (uint16_t)h;
}

struct Sets {
    int64_t n = 260, m = 150, d = 12, k = 4;
    std::vector<float> real, fake, wide;
    std::vector<uint16_t> real_h, real_bf;
    std::vector<double> real_d;
    Sets()
    {
        real = data::gaussian(n, d, kSeed, 0.5, 1.0);
        fake = data::gaussian(m, d, kSeed + 1, 0.3, 1.3);
        wide = data::gaussian(9, 50, kSeed + 2);
        for (int64_t c = 0; c < d; c++) { // exact duplicates
            real[(size_t)(9 * d + c)] = real[(size_t)(2 * d + c)];
            real[(size_t)(100 * d + c)] = real[(size_t)(2 * d + c)];
            fake[(size_t)(3 * d + c)] = real[(size_t)(40 * d + c)];
        }
        for (float v : real) {
            real_h.push_back(to_half(v));
            uint32_t x;
            std::memcpy(&x, &v, 4);
            real_bf.push_back((uint16_t)(x >> 16));
            real_d.push_back((double)v * (1.0 + 1e-9));
        }
    }
    lsc_matrix r() const { return lsc_matrix_f32(real.data(), n, d); }
    lsc_matrix f() const { return lsc_matrix_f32(fake.data(), m, d); }
    lsc_matrix typed(lsc_dtype dt) const
    {
        lsc_matrix x = r();
        x.dtype = dt;
        x.data = dt == LSC_DTYPE_F16    ? (const void *)real_h.data()
                 : dt == LSC_DTYPE_BF16 ? (const void *)real_bf.data()
                 : dt == LSC_DTYPE_F64  ? (const void *)real_d.data()
                                        : (const void *)real.data();
        return x;
    }
};

void spectrum_out(Out &o, const lsc_spectrum_result &s, const std::vector<double> &sv,
                  const std::vector<double> &cv)
{
    o.raw(&s, 1);
    o.raw(sv.data(), sv.size());
    o.raw(cv.data(), cv.size());
    for (double v : {s.effective_rank, s.rankme, s.participation_ratio, s.stable_rank,
                     s.total_variance, s.largest_singular_value, s.vendi_cosine})
        o.cont.push_back(v);
    for (double v : sv) o.cont.push_back(v);
    for (double v : cv) o.cont.push_back(v);
    for (int64_t v : {s.numerical_rank, s.dims_90, s.dims_99, s.active_units,
                      (int64_t)s.vendi_status, s.vendi_zero_row, (int64_t)s.all_rows_identical})
        o.exact.push_back(v);
}

// One named operation: fills o, returns false (with a gtest failure) on error.
struct Op {
    std::string name;
    std::function<void(lsc_ctx *, const Sets &, Out &)> run;
};

#define OK(c, call) ASSERT_EQ((call), LSC_STATUS_OK) << #call << ": " << lsc_last_error(c)

std::vector<Op> operations()
{
    std::vector<Op> ops;
    ops.push_back({"spectrum N < D", [](lsc_ctx *c, const Sets &S, Out &o) {
                       lsc_matrix x = lsc_matrix_f32(S.wide.data(), 9, 50);
                       lsc_spectrum_result s = LSC_SPECTRUM_RESULT_INIT;
                       std::vector<double> sv(9), cv(50);
                       OK(c, lsc_spectrum(c, &x, nullptr, &s, sv.data(), cv.data()));
                       spectrum_out(o, s, sv, cv);
                   }});
    for (lsc_dtype dt : {LSC_DTYPE_F32, LSC_DTYPE_F16, LSC_DTYPE_BF16, LSC_DTYPE_F64})
        ops.push_back({"spectrum N >= D dtype " + std::to_string((int)dt),
                       [dt](lsc_ctx *c, const Sets &S, Out &o) {
                           lsc_matrix x = S.typed(dt);
                           lsc_spectrum_result s = LSC_SPECTRUM_RESULT_INIT;
                           std::vector<double> sv((size_t)S.d), cv((size_t)S.d);
                           OK(c, lsc_spectrum(c, &x, nullptr, &s, sv.data(), cv.data()));
                           spectrum_out(o, s, sv, cv);
                       }});
    ops.push_back(
        {"accumulator: batches, a merge, finalize", [](lsc_ctx *c, const Sets &S, Out &o) {
             lsc_spectrum_acc *a = nullptr, *b = nullptr;
             OK(c, lsc_spectrum_acc_create(c, S.d, nullptr, &a));
             OK(c, lsc_spectrum_acc_create(c, S.d, nullptr, &b));
             int64_t r0 = 0;
             for (int64_t len : {1, 37, 90, 2}) {
                 lsc_matrix x = lsc_matrix_f32(S.real.data() + r0 * S.d, len, S.d);
                 OK(c, lsc_spectrum_acc_add(c, a, &x));
                 r0 += len;
             }
             lsc_matrix rest = lsc_matrix_f32(S.real.data() + r0 * S.d, S.n - r0, S.d);
             OK(c, lsc_spectrum_acc_add(c, b, &rest));
             OK(c, lsc_spectrum_acc_merge(c, a, b));
             lsc_spectrum_result s = LSC_SPECTRUM_RESULT_INIT;
             std::vector<double> sv((size_t)S.d), cv((size_t)S.d);
             OK(c, lsc_spectrum_acc_finalize(c, a, &s, sv.data(), cv.data()));
             spectrum_out(o, s, sv, cv);
             o.exact.push_back(lsc_spectrum_acc_rows(a));
             lsc_spectrum_acc_destroy(a);
             lsc_spectrum_acc_destroy(b);
         }});
    for (lsc_metric mt : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_SQEUCLIDEAN, LSC_METRIC_COSINE})
        ops.push_back({"distances metric " + std::to_string((int)mt),
                       [mt](lsc_ctx *c, const Sets &S, Out &o) {
                           lsc_matrix a = S.r(), b = S.f();
                           std::vector<float> out((size_t)(S.n * S.m));
                           OK(c, lsc_distances(c, &a, &b, mt, out.data(), S.m, LSC_MEMORY_HOST));
                           o.raw(out.data(), out.size());
                           for (float v : out) o.cont.push_back(v);
                       }});
    auto pairs = [](lsc_metric mt, int64_t subset, lsc_dtype dt) {
        return [mt, subset, dt](lsc_ctx *c, const Sets &S, Out &o) {
            lsc_matrix x = S.typed(dt);
            lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
            po.metric = mt;
            po.bins = 40;
            po.dup_report = 6;
            po.subset_rows = subset;
            po.seed = 4242;
            lsc_pair_result r = LSC_PAIR_RESULT_INIT;
            std::vector<int64_t> hist(40);
            std::vector<lsc_pair> dups(6, lsc_pair{-1, -1, -1.0});
            OK(c, lsc_pair_stats(c, &x, &po, &r, hist.data(), dups.data()));
            o.raw(&r, 1);
            o.raw(hist.data(), hist.size());
            o.raw(dups.data(), dups.size());
            for (double v : {r.mean, r.std, r.max, r.nn_mean, r.hist_upper}) o.cont.push_back(v);
            for (double v : {r.min, r.nn_median, r.nn_min, r.nn_max}) o.cont.push_back(v);
            for (int64_t v :
                 {r.rows_used, r.pairs, r.near_duplicate_pairs, r.near_duplicates_listed})
                o.exact.push_back(v);
            o.exact.insert(o.exact.end(), hist.begin(), hist.end());
            for (const lsc_pair &p : dups) {
                o.exact.push_back(p.i);
                o.exact.push_back(p.j);
                o.cont.push_back(p.d);
            }
        };
    };
    ops.push_back({"pair_stats cosine", pairs(LSC_METRIC_COSINE, 0, LSC_DTYPE_F32)});
    ops.push_back({"pair_stats subset", pairs(LSC_METRIC_EUCLIDEAN, 111, LSC_DTYPE_F32)});
    ops.push_back({"pair_stats float16", pairs(LSC_METRIC_EUCLIDEAN, 0, LSC_DTYPE_F16)});
    ops.push_back({"pair_stats float64", pairs(LSC_METRIC_EUCLIDEAN, 0, LSC_DTYPE_F64)});
    auto knn = [](lsc_metric mt, bool self, lsc_dtype dt) {
        return [mt, self, dt](lsc_ctx *c, const Sets &S, Out &o) {
            lsc_matrix b = S.typed(dt), q = self ? b : S.f();
            lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
            ko.metric = mt;
            ko.exclude_self = self;
            std::vector<float> dist((size_t)(q.rows * S.k));
            std::vector<int64_t> idx((size_t)(q.rows * S.k));
            OK(c, lsc_knn(c, &q, self ? nullptr : &b, S.k, &ko, dist.data(), idx.data()));
            o.raw(dist.data(), dist.size());
            o.raw(idx.data(), idx.size());
            for (float v : dist) o.cont.push_back(v);
            o.exact.insert(o.exact.end(), idx.begin(), idx.end());
        };
    };
    ops.push_back({"knn queries vs base", knn(LSC_METRIC_EUCLIDEAN, false, LSC_DTYPE_F32)});
    ops.push_back({"knn cosine exclude_self", knn(LSC_METRIC_COSINE, true, LSC_DTYPE_F32)});
    ops.push_back({"knn bfloat16 exclude_self", knn(LSC_METRIC_EUCLIDEAN, true, LSC_DTYPE_BF16)});
    auto prdc = [](lsc_metric mt, lsc_comparison cmp) {
        return [mt, cmp](lsc_ctx *c, const Sets &S, Out &o) {
            lsc_matrix x = S.r(), y = S.f();
            lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
            ro.metric = mt;
            ro.comparison = cmp;
            lsc_reference *ref = nullptr;
            OK(c, lsc_reference_create(c, &x, S.k, &ro, &ref));
            lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
            lsc_status s = lsc_prdc(c, ref, &y, &r);
            const double *rad = lsc_reference_radii(ref);
            o.raw(rad, (size_t)S.n);
            for (int64_t i = 0; i < S.n; i++) o.cont.push_back(rad[i]);
            lsc_reference_destroy(ref);
            OK(c, s);
            o.raw(&r, 1);
            for (double v : {r.precision, r.recall, r.density, r.coverage})
                o.exact.push_back((int64_t)std::llround(v * 1e12));
            o.exact.push_back(r.zero_radii_real);
            o.exact.push_back(r.zero_radii_fake);
        };
    };
    ops.push_back({"reference + prdc cosine", prdc(LSC_METRIC_COSINE, LSC_COMPARISON_STRICT)});
    ops.push_back(
        {"reference + prdc inclusive", prdc(LSC_METRIC_EUCLIDEAN, LSC_COMPARISON_INCLUSIVE)});
    return ops;
}

Out run(lsc_ctx *c, const Sets &S, const Op &op)
{
    Out o;
    op.run(c, S, o);
    return o;
}

TEST(Determinism, EveryOperationIsBitIdenticalRunToRun)
{
    Sets S;
    const std::vector<Op> ops = operations();
    for (int t : kThreads) {
        Ctx c(t), fresh(t);
        for (const Op &op : ops) {
            SCOPED_TRACE(testing::Message() << op.name << ", " << t << " threads");
            Out a = run(c, S, op), b = run(c, S, op), e = run(fresh, S, op);
            ASSERT_FALSE(a.bytes.empty());
            EXPECT_TRUE(a.bytes == b.bytes) << "the same context gave different bytes";
            EXPECT_TRUE(a.bytes == e.bytes) << "a fresh context gave different bytes";
        }
    }
}

bool within(double a, double b)
{
    // docs/METRICS.md: 2e-4 relative or 1e-9 absolute, whichever is larger
    if (a == b) return true;
    return std::fabs(a - b) <= std::max(2e-4 * std::max(std::fabs(a), std::fabs(b)), 1e-9);
}

TEST(Determinism, AcrossThreadCountsWithinTolerances)
{
    Sets S;
    const std::vector<Op> ops = operations();
    Ctx one(1);
    std::vector<Out> base;
    for (const Op &op : ops) base.push_back(run(one, S, op));
    struct Cfg {
        int threads;
        size_t workspace;
    } cfgs[] = {{2, 0}, {3, 0}, {7, 0}, {3, 24 << 10}, {7, 6 << 10}};
    for (const Cfg &cfg : cfgs) {
        Ctx c(cfg.threads, cfg.workspace);
        for (size_t i = 0; i < ops.size(); i++) {
            SCOPED_TRACE(testing::Message() << ops[i].name << ", " << cfg.threads
                                            << " threads, workspace " << cfg.workspace);
            Out o = run(c, S, ops[i]);
            EXPECT_EQ(o.exact, base[i].exact) << "a decision or an integer figure changed";
            ASSERT_EQ(o.cont.size(), base[i].cont.size());
            size_t bad = 0;
            for (size_t j = 0; j < o.cont.size(); j++)
                if (!within(o.cont[j], base[i].cont[j]) && bad++ < 5)
                    ADD_FAILURE() << "figure " << j << ": " << o.cont[j] << " vs "
                                  << base[i].cont[j];
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* kNN ties: by index, always                                                                     */

// Points of a small integer lattice (coordinates 0..2 in D = 3), many repeated: distances are
// exact small integers' square roots, so ties are exact ties.
struct Lattice {
    int64_t n, d = 3;
    std::vector<float> x;
    explicit Lattice(int64_t n_, uint64_t sd) : n(n_)
    {
        uint64_t st = sd;
        for (int64_t i = 0; i < n * d; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            x.push_back((float)((st >> 33) % 3));
        }
    }
    lsc_matrix m() const { return lsc_matrix_f32(x.data(), n, d); }
};

// Brute force: for each query, base rows sorted by (exact squared distance, index).
void brute_knn(const std::vector<float> &q, int64_t nq, const std::vector<float> &b, int64_t nb,
               int64_t d, int64_t k, bool self, std::vector<int64_t> &idx, std::vector<float> &dist)
{
    idx.assign((size_t)(nq * k), -1);
    dist.assign((size_t)(nq * k), -1.0f);
    for (int64_t i = 0; i < nq; i++) {
        std::vector<std::pair<double, int64_t>> all;
        for (int64_t j = 0; j < nb; j++) {
            if (self && i == j) continue;
            double s = 0.0;
            for (int64_t c = 0; c < d; c++) {
                double t = (double)q[(size_t)(i * d + c)] - (double)b[(size_t)(j * d + c)];
                s += t * t;
            }
            all.push_back({s, j});
        }
        std::sort(all.begin(), all.end());
        for (int64_t t = 0; t < k; t++) {
            idx[(size_t)(i * k + t)] = all[(size_t)t].second;
            dist[(size_t)(i * k + t)] = (float)std::sqrt(all[(size_t)t].first);
        }
    }
}

TEST(KnnTies, AlwaysByIndexAcrossThreadsAndTinyWorkspaces)
{
    Lattice base(700, kSeed + 9), qs(60, kSeed + 10); // 27 lattice points: every row repeats ~26x
    const int64_t k = 40;                             // past the duplicates: ties at d = 1, sqrt 2
    std::vector<int64_t> want_q, want_s;
    std::vector<float> want_qd, want_sd;
    brute_knn(qs.x, qs.n, base.x, base.n, 3, k, false, want_q, want_qd);
    brute_knn(base.x, base.n, base.x, base.n, 3, k, true, want_s, want_sd);
    // minimal workspaces: one 1 x 1 tile per thread (2 x (3 x 8 + 32) + 4 bytes), a few rows
    struct Cfg {
        int threads;
        size_t workspace;
    } cfgs[] = {{1, 0}, {2, 0}, {3, 0}, {7, 0}, {1, 116}, {3, 348}, {7, 812}, {2, 2000}, {3, 9000}};
    for (const Cfg &cfg : cfgs) {
        SCOPED_TRACE(testing::Message() << cfg.threads << " threads, workspace " << cfg.workspace);
        Ctx c(cfg.threads, cfg.workspace);
        lsc_matrix b = base.m(), q = qs.m();
        std::vector<float> dist((size_t)(q.rows * k));
        std::vector<int64_t> idx((size_t)(q.rows * k));
        ASSERT_EQ(lsc_knn(c, &q, &b, k, nullptr, dist.data(), idx.data()), LSC_STATUS_OK)
            << lsc_last_error(c);
        EXPECT_EQ(idx, want_q);
        EXPECT_EQ(dist, want_qd);
        lsc_knn_opts self = LSC_KNN_OPTS_INIT;
        self.exclude_self = 1;
        std::vector<float> sd((size_t)(b.rows * k));
        std::vector<int64_t> si((size_t)(b.rows * k));
        ASSERT_EQ(lsc_knn(c, &b, nullptr, k, &self, sd.data(), si.data()), LSC_STATUS_OK)
            << lsc_last_error(c);
        EXPECT_EQ(si, want_s);
        EXPECT_EQ(sd, want_sd);
    }
}

TEST(KnnTies, CosineTiesOfScaledCopiesByIndex)
{
    // rows that are power-of-two multiples of a few directions: cosine distance 0 exactly
    // between copies, equal values between directions' copies
    const int64_t n = 300, d = 4, k = 25;
    std::vector<float> x;
    const float dirs[3][4] = {{1, 2, 0, 1}, {0, 1, 1, 3}, {2, 0, 1, 1}};
    for (int64_t i = 0; i < n; i++) {
        const float s = (float)(1 << (i % 5));
        for (int64_t c = 0; c < d; c++) x.push_back(s * dirs[(i * 7) % 3][c]);
    }
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    std::vector<int64_t> ref_idx;
    for (int cfg = 0; cfg < 4; cfg++) {
        Ctx c(kThreads[cfg], cfg == 3 ? 200 * 7 : 0);
        lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
        ko.metric = LSC_METRIC_COSINE;
        ko.exclude_self = 1;
        std::vector<float> dist((size_t)(n * k));
        std::vector<int64_t> idx((size_t)(n * k));
        ASSERT_EQ(lsc_knn(c, &m, nullptr, k, &ko, dist.data(), idx.data()), LSC_STATUS_OK)
            << lsc_last_error(c);
        // each row's neighbours: the other rows of its direction (distance 0) in index order
        for (int64_t i = 0; i < n; i++) {
            int64_t prev = -1;
            for (int64_t t = 0; t < k; t++) {
                const int64_t j = idx[(size_t)(i * k + t)];
                ASSERT_EQ((j * 7) % 3, (i * 7) % 3) << "row " << i << " rank " << t;
                ASSERT_EQ(dist[(size_t)(i * k + t)], 0.0f);
                ASSERT_GT(j, prev) << "ties not in index order, row " << i;
                ASSERT_NE(j, i);
                prev = j;
            }
        }
        if (ref_idx.empty()) ref_idx = idx;
        EXPECT_EQ(idx, ref_idx);
    }
}

TEST(PairTies, NearDuplicateListIsOrderedByDistanceThenIndices)
{
    Lattice L(300, kSeed + 11); // thousands of exact-duplicate pairs
    lsc_matrix m = L.m();
    // brute force: pairs with d <= 1 (= dup_eps), ordered by (d, i, j), the first 200
    std::vector<std::tuple<double, int64_t, int64_t>> all;
    for (int64_t i = 0; i < L.n; i++)
        for (int64_t j = i + 1; j < L.n; j++) {
            double s = 0.0;
            for (int64_t c = 0; c < 3; c++) {
                double t = (double)L.x[(size_t)(i * 3 + c)] - (double)L.x[(size_t)(j * 3 + c)];
                s += t * t;
            }
            if (std::sqrt(s) <= 1.0) all.push_back({std::sqrt(s), i, j});
        }
    std::sort(all.begin(), all.end());
    for (int cfg = 0; cfg < 5; cfg++) {
        const int t = cfg < 4 ? kThreads[cfg] : 3;
        SCOPED_TRACE(testing::Message() << t << " threads" << (cfg == 4 ? ", tiny workspace" : ""));
        Ctx c(t, cfg == 4 ? 1000 : 0);
        lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
        po.dup_eps = 1.0;
        po.dup_report = 200;
        lsc_pair_result r = LSC_PAIR_RESULT_INIT;
        std::vector<lsc_pair> dups(200);
        ASSERT_EQ(lsc_pair_stats(c, &m, &po, &r, nullptr, dups.data()), LSC_STATUS_OK)
            << lsc_last_error(c);
        ASSERT_EQ(r.near_duplicate_pairs, (int64_t)all.size());
        ASSERT_EQ(r.near_duplicates_listed, 200);
        for (size_t e = 0; e < 200; e++) {
            ASSERT_EQ(dups[e].i, std::get<1>(all[e])) << e;
            ASSERT_EQ(dups[e].j, std::get<2>(all[e])) << e;
            ASSERT_EQ(dups[e].d, std::get<0>(all[e])) << e;
        }
    }
}

} // namespace

namespace {

/* ---------------------------------------------------------------------------------------------- */
/* the workspace limit: smaller tiles, the same answers                                           */

int count_reports(double, void *user)
{
    ++*(int *)user;
    return 0;
}

TEST(Workspace, SmallerLimitGivesMoreTilesAndTheSameDecisions)
{
    // test_context.cpp proves a too-small limit is a clean WORKSPACE_LIMIT and that a small one
    // agrees within 1e-9; here: the tiles do shrink (more progress reports, which come once per
    // tile of the calling thread), and exact outputs stay bit-identical
    Sets S;
    lsc_matrix x = S.r(), y = S.f();
    struct Res {
        int reports = 0;
        std::vector<float> kd;
        std::vector<int64_t> ki, hist;
        std::vector<lsc_pair> dups;
        lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
        lsc_prdc_result prd = LSC_PRDC_RESULT_INIT;
    };
    std::vector<Res> res;
    for (size_t ws : {(size_t)0, (size_t)256 << 10, (size_t)32 << 10, (size_t)4 << 10}) {
        SCOPED_TRACE(testing::Message() << "workspace " << ws);
        Ctx c(2, ws);
        Res r;
        ASSERT_EQ(lsc_ctx_set_progress(c, count_reports, &r.reports), LSC_STATUS_OK);
        r.kd.resize((size_t)(S.m * S.k));
        r.ki.resize((size_t)(S.m * S.k));
        ASSERT_EQ(lsc_knn(c, &y, &x, S.k, nullptr, r.kd.data(), r.ki.data()), LSC_STATUS_OK)
            << lsc_last_error(c);
        lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
        po.bins = 30;
        po.dup_report = 4;
        r.hist.resize(30);
        r.dups.resize(4);
        ASSERT_EQ(lsc_pair_stats(c, &x, &po, &r.pr, r.hist.data(), r.dups.data()), LSC_STATUS_OK);
        lsc_reference *ref = nullptr;
        ASSERT_EQ(lsc_reference_create(c, &x, S.k, nullptr, &ref), LSC_STATUS_OK);
        ASSERT_EQ(lsc_prdc(c, ref, &y, &r.prd), LSC_STATUS_OK);
        lsc_reference_destroy(ref);
        res.push_back(r);
    }
    for (size_t i = 1; i < res.size(); i++) {
        SCOPED_TRACE(testing::Message() << "limit " << i << " against the default");
        EXPECT_GT(res[i].reports, res[i - 1].reports) << "a smaller limit did not give more tiles";
        EXPECT_EQ(res[i].kd, res[0].kd);
        EXPECT_EQ(res[i].ki, res[0].ki);
        EXPECT_EQ(res[i].hist, res[0].hist);
        for (size_t e = 0; e < 4; e++) {
            EXPECT_EQ(res[i].dups[e].i, res[0].dups[e].i);
            EXPECT_EQ(res[i].dups[e].j, res[0].dups[e].j);
            EXPECT_EQ(res[i].dups[e].d, res[0].dups[e].d);
        }
        EXPECT_EQ(res[i].pr.min, res[0].pr.min);
        EXPECT_EQ(res[i].pr.max, res[0].pr.max);
        EXPECT_EQ(res[i].pr.nn_median, res[0].pr.nn_median);
        EXPECT_EQ(res[i].pr.nn_mean, res[0].pr.nn_mean);
        EXPECT_EQ(res[i].pr.near_duplicate_pairs, res[0].pr.near_duplicate_pairs);
        EXPECT_TRUE(within(res[i].pr.mean, res[0].pr.mean));
        EXPECT_TRUE(within(res[i].pr.std, res[0].pr.std));
        EXPECT_EQ(res[i].prd.precision, res[0].prd.precision);
        EXPECT_EQ(res[i].prd.recall, res[0].prd.recall);
        EXPECT_EQ(res[i].prd.density, res[0].prd.density);
        EXPECT_EQ(res[i].prd.coverage, res[0].prd.coverage);
    }
    std::printf("progress reports (tiles) at limits default, 256K, 32K, 4K: %d %d %d %d\n",
                res[0].reports, res[1].reports, res[2].reports, res[3].reports);
}

} // namespace
