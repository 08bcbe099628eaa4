// Huge sizes, which int64 shapes allow and no product may overflow, without allocating gigabytes:
//  - shapes whose element or byte counts overflow int64 / size_t, and ld < cols, are refused by
//    every entry point before it reads a byte (the data pointer is unmapped: a read would crash);
//  - the tile planner (common/distance_rules.h) with logical sizes past 2^31 and 2^63;
//  - rows whose element offsets lie past 2^31 (and byte offsets past 8 GiB) are read correctly
//    by every operation: a huge ld over a sparse, mostly unbacked mapping;
//  - a D x D Gram too large for LAPACK's 32-bit sizes is refused before it is allocated.
// One opt-in test (LSC_BIG_TESTS=1, about 9 GB of memory; never in CI) runs lsc_knn against
// 2^31 + 1000 base rows with D = 1.
// (A reference file whose header disagrees with its length: test_reference_file.cpp.)
#include "distance_rules.h"

#include <lsc.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

namespace {

const int64_t kI64Max = std::numeric_limits<int64_t>::max();

struct Ctx {
    lsc_ctx *c = nullptr;
    explicit Ctx(int threads = 2, size_t workspace = 0)
    {
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.backend = LSC_BACKEND_CPU;
        p.threads = threads;
        p.workspace_limit = workspace;
        EXPECT_EQ(lsc_ctx_create(&p, &c), LSC_STATUS_OK) << lsc_last_error(c);
    }
    ~Ctx() { lsc_ctx_destroy(c); }
    operator lsc_ctx *() const { return c; }
};

lsc_matrix mat(const void *p, lsc_dtype dt, int64_t rows, int64_t cols, int64_t ld)
{
    lsc_matrix m;
    m.data = p;
    m.dtype = dt;
    m.rows = rows;
    m.cols = cols;
    m.ld = ld;
    m.memory = LSC_MEMORY_HOST;
    return m;
}

bool mentions(const char *msg, const char *word)
{
    return std::string(msg).find(word) != std::string::npos;
}

/* ---------------------------------------------------------------------------------------------- */
/* refused before any read                                                                        */

// An address no process maps: the first byte of a freshly unmapped page.
const void *unmapped()
{
    static const void *p = [] {
        long pg = sysconf(_SC_PAGESIZE);
        void *q = mmap(nullptr, (size_t)pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        munmap(q, (size_t)pg);
        return (const void *)q;
    }();
    return p;
}

struct BadShape {
    const char *what;
    lsc_dtype dt;
    int64_t rows, cols, ld;
    lsc_status want;
};

const BadShape kBadShapes[] = {
    {"rows x cols x 4 overflows size_t", LSC_DTYPE_F32, (int64_t)1 << 62, 2, 2,
     LSC_STATUS_OVERFLOW},
    {"rows x cols overflows int64", LSC_DTYPE_F32, (int64_t)1 << 40, (int64_t)1 << 30,
     (int64_t)1 << 30, LSC_STATUS_OVERFLOW},
    {"(rows - 1) ld overflows int64", LSC_DTYPE_F32, 3, 1, (int64_t)1 << 62, LSC_STATUS_OVERFLOW},
    {"(rows - 1) ld + cols overflows int64", LSC_DTYPE_F32, 2, 8, kI64Max - 4, LSC_STATUS_OVERFLOW},
    {"2^62 float64 elements", LSC_DTYPE_F64, 2, 1, (int64_t)1 << 62, LSC_STATUS_OVERFLOW},
    {"2^61 + 2^61 float64 elements", LSC_DTYPE_F64, (int64_t)1 << 61, 2, 2, LSC_STATUS_OVERFLOW},
    {"2^62 + 1 float32 elements: 2^64 + 4 bytes", LSC_DTYPE_F32, 2, 1, (int64_t)1 << 62,
     LSC_STATUS_OVERFLOW},
    {"2^63 - 1 rows x 2 float16", LSC_DTYPE_F16, kI64Max, 2, 2, LSC_STATUS_OVERFLOW},
    {"ld < cols", LSC_DTYPE_F32, 4, 8, 7, LSC_STATUS_INVALID_ARGUMENT},
    {"ld < cols, huge", LSC_DTYPE_F32, (int64_t)1 << 31, (int64_t)1 << 33, 1,
     LSC_STATUS_INVALID_ARGUMENT},
    {"ld negative", LSC_DTYPE_BF16, 4, 8, -8, LSC_STATUS_INVALID_ARGUMENT},
};

TEST(Sizes, BadShapesAreRefusedByEveryEntryPointBeforeAnyRead)
{
    Ctx c;
    ASSERT_NE(c.c, nullptr);
    std::vector<float> ok_data(64 * 8, 1.0f);
    for (int64_t i = 0; i < 64 * 8; i++) ok_data[(size_t)i] = (float)(i % 13) - 6.0f;
    const lsc_matrix good = lsc_matrix_f32(ok_data.data(), 64, 8);
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(c, &good, 3, nullptr, &ref), LSC_STATUS_OK) << lsc_last_error(c);
    lsc_spectrum_acc *acc = nullptr;
    ASSERT_EQ(lsc_spectrum_acc_create(c, 8, nullptr, &acc), LSC_STATUS_OK);
    for (const BadShape &b : kBadShapes) {
        SCOPED_TRACE(b.what);
        const lsc_matrix m = mat(unmapped(), b.dt, b.rows, b.cols, b.ld);
        auto expect = [&](const char *call, lsc_status s) {
            EXPECT_EQ(s, b.want) << call << ": " << lsc_status_name(s) << ": " << lsc_last_error(c);
            EXPECT_STRNE(lsc_last_error(c), "") << call;
        };
        lsc_spectrum_result sr = LSC_SPECTRUM_RESULT_INIT;
        expect("spectrum", lsc_spectrum(c, &m, nullptr, &sr, nullptr, nullptr));
        lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
        expect("pair_stats", lsc_pair_stats(c, &m, nullptr, &pr, nullptr, nullptr));
        float dist[64];
        int64_t idx[64];
        expect("knn (queries)", lsc_knn(c, &m, &good, 1, nullptr, dist, idx));
        lsc_matrix small_q = lsc_matrix_f32(ok_data.data(), 1, 1);
        if (m.cols <= 8) {
            small_q.cols = m.cols;
            small_q.ld = m.cols;
            expect("knn (base)", lsc_knn(c, &small_q, &m, 1, nullptr, dist, idx));
            expect("distances (a)",
                   lsc_distances(c, &m, &small_q, LSC_METRIC_EUCLIDEAN, dist, 1, LSC_MEMORY_HOST));
            expect("distances (b)", lsc_distances(c, &small_q, &m, LSC_METRIC_EUCLIDEAN, dist,
                                                  kI64Max / 8, LSC_MEMORY_HOST));
        }
        lsc_knn_opts self = LSC_KNN_OPTS_INIT;
        self.exclude_self = 1;
        expect("knn (exclude_self)", lsc_knn(c, &m, nullptr, 1, &self, dist, idx));
        lsc_reference *r2 = nullptr;
        expect("reference_create", lsc_reference_create(c, &m, 1, nullptr, &r2));
        EXPECT_EQ(r2, nullptr);
        lsc_prdc_result prd = LSC_PRDC_RESULT_INIT;
        lsc_matrix f = m;
        if (f.cols != 8 && b.want == LSC_STATUS_OVERFLOW) {
            // prdc checks the shape first; give it the reference's D where the case allows
            if (f.cols < 8) {
                f.cols = 8;
                if (f.ld < 8) f.ld = 8;
            }
        }
        if (f.cols == 8) {
            lsc_status s = lsc_prdc(c, ref, &f, &prd);
            if (b.want == LSC_STATUS_OVERFLOW) {
                EXPECT_EQ(s, LSC_STATUS_OVERFLOW) << lsc_last_error(c);
            } else {
                EXPECT_EQ(s, LSC_STATUS_INVALID_ARGUMENT) << lsc_last_error(c);
            }
            lsc_matrix ba = f;
            s = lsc_spectrum_acc_add(c, acc, &ba);
            EXPECT_NE(s, LSC_STATUS_OK) << "acc_add";
            EXPECT_EQ(lsc_spectrum_acc_rows(acc), 0);
        }
    }
    lsc_spectrum_acc_destroy(acc);
    lsc_reference_destroy(ref);
}

TEST(Sizes, GramBeyondLapackIsRefusedBeforeAllocating)
{
    // 50000^2 x 16 bytes is 40 GB: refused for LAPACK's 32-bit sizes, not attempted
    Ctx c;
    lsc_spectrum_acc *acc = (lsc_spectrum_acc *)(uintptr_t)0x77;
    EXPECT_EQ(lsc_spectrum_acc_create(c, 50000, nullptr, &acc), LSC_STATUS_NOT_SUPPORTED)
        << lsc_last_error(c);
    EXPECT_TRUE(mentions(lsc_last_error(c), "32-bit")) << lsc_last_error(c);
    EXPECT_EQ(acc, (lsc_spectrum_acc *)(uintptr_t)0x77);
    EXPECT_EQ(lsc_spectrum_acc_create(c, 46341, nullptr, &acc), LSC_STATUS_NOT_SUPPORTED);
}

/* ---------------------------------------------------------------------------------------------- */
/* the tile planner                                                                               */

// What a plan needs, in long double (64-bit mantissa; the planner itself works in double).
long double need(int64_t q, int64_t b, size_t pq, size_t pb, size_t pe)
{
    return (long double)q * pq + (long double)b * pb + (long double)q * (long double)b * pe;
}

TEST(Sizes, TilePlanWithHugeLogicalSizes)
{
    const int64_t two31 = (int64_t)1 << 31;
    const int64_t maxes[] = {
        1, 2, 255, 256, two31 - 1, two31, two31 + 5, (int64_t)1 << 40, (int64_t)1 << 62, kI64Max};
    const size_t budgets[] = {64, 4096, (size_t)256 << 20, (size_t)1 << 40, SIZE_MAX / 2};
    const size_t rows[] = {8 + 24, 2 * 4 * 1024 + 24, (size_t)2 * 4 * (((size_t)1 << 31) - 1) + 24};
    for (int64_t mq : maxes)
        for (int64_t mb : maxes)
            for (size_t budget : budgets)
                for (size_t per_row : rows) {
                    SCOPED_TRACE(testing::Message() << "max " << mq << " x " << mb << " budget "
                                                    << budget << " per row " << per_row);
                    int64_t tq = -7, tb = -7;
                    int ok =
                        lsc_plan_tiles(budget, per_row, per_row, sizeof(float), mq, mb, &tq, &tb);
                    if (!ok) {
                        // refused only when not even 1 x 1 fits
                        EXPECT_GT(need(1, 1, per_row, per_row, 4), (long double)budget);
                        EXPECT_EQ(tq, -7);
                        EXPECT_EQ(tb, -7);
                        continue;
                    }
                    EXPECT_GE(tq, 1);
                    EXPECT_GE(tb, 1);
                    EXPECT_LE(tq, mq);
                    EXPECT_LE(tb, mb);
                    // within the budget, exactly (no wrap-around made a huge tile look small);
                    // the planner compares in double, so allow its rounding (2^-52 relative)
                    const long double n = need(tq, tb, per_row, per_row, 4);
                    EXPECT_LE(n, (long double)budget * (1.0L + 1e-15L));
                    // offsets inside one tile fit size_t
                    EXPECT_LE(n, (long double)SIZE_MAX);
                    // the number of blocks and the last block's first row, in int64, cover the
                    // rows exactly (cpu_tile_run's blocks, tile_block: q0 = blk * tq)
                    const int64_t nblocks = mq / tq + (mq % tq != 0);
                    const int64_t last_q0 = (nblocks - 1) * tq;
                    EXPECT_GE(last_q0, 0);
                    EXPECT_LT(last_q0, mq);
                    EXPECT_LE(mq - last_q0, tq);
                }
}

TEST(Sizes, TilePlanTakesTheMaximumWhenItFitsAndHalvesOtherwise)
{
    int64_t tq, tb;
    // a budget that holds everything gives exactly the maximum, even past 2^31
    ASSERT_TRUE(lsc_plan_tiles(SIZE_MAX, 1, 1, 1, ((int64_t)1 << 31) + 5, 3, &tq, &tb));
    EXPECT_EQ(tq, ((int64_t)1 << 31) + 5);
    EXPECT_EQ(tb, 3);
    // the CPU planner's caps (256 x 2048) with the default budget and D = 1: the caps
    const size_t per_row = 2 * sizeof(float) + 3 * sizeof(double);
    ASSERT_TRUE(lsc_plan_tiles((size_t)256 << 20, per_row, per_row, 4, 256, 2048, &tq, &tb));
    EXPECT_EQ(tq, 256);
    EXPECT_EQ(tb, 2048);
    // a D of 2^31 - 1 columns (per row ~16 GiB) does not fit 256 MiB: refused, not wrapped
    const size_t huge_row = (size_t)2 * 4 * (((size_t)1 << 31) - 1) + 24;
    EXPECT_FALSE(lsc_plan_tiles((size_t)256 << 20, huge_row, huge_row, 4, 256, 2048, &tq, &tb));
    // per-row sizes near SIZE_MAX never wrap into a fit
    EXPECT_FALSE(lsc_plan_tiles(SIZE_MAX / 2, SIZE_MAX / 2, SIZE_MAX / 2, 4, 1, 1, &tq, &tb));
}

/* ---------------------------------------------------------------------------------------------- */
/* element offsets past 2^31: a huge ld over a sparse mapping                                     */

// R rows of D values at element offsets r * ld, ld past 2^31; only the touched pages are backed.
template <class T>
struct Sparse {
    void *base = MAP_FAILED;
    size_t bytes = 0;
    int64_t rows, cols, ld;
    Sparse(int64_t r, int64_t c, int64_t l) : rows(r), cols(c), ld(l)
    {
        bytes = (size_t)((r - 1) * l + c) * sizeof(T);
        base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    }
    ~Sparse()
    {
        if (base != MAP_FAILED) munmap(base, bytes);
    }
    T *row(int64_t r) { return (T *)base + r * ld; }
};

template <class T>
void offsets_past_2_31(lsc_dtype dt)
{
    const int64_t R = 40, D = 3, k = 3, ld = ((int64_t)1 << 31) + 3;
    Sparse<T> sp(R, D, ld);
    if (sp.base == MAP_FAILED)
        GTEST_SKIP() << "cannot map " << sp.bytes << " bytes of address space";
    std::vector<T> dense((size_t)(R * D));
    uint64_t st = 12345;
    for (int64_t i = 0; i < R; i++)
        for (int64_t c = 0; c < D; c++) {
            T v = (T)((double)(lsc_splitmix64(&st) % 2001) / 100.0 - 10.0);
            if (i == 17) v = dense[(size_t)(4 * D + c)]; // a duplicate pair
            dense[(size_t)(i * D + c)] = v;
            sp.row(i)[c] = v;
        }
    const lsc_matrix big = mat(sp.base, dt, R, D, ld), small = mat(dense.data(), dt, R, D, D);
    // the fake set: the same trick, another mapping
    Sparse<T> fsp(R, D, ld);
    if (fsp.base == MAP_FAILED) GTEST_SKIP() << "cannot map a second " << fsp.bytes << " bytes";
    std::vector<T> fdense((size_t)(R * D));
    for (int64_t i = 0; i < R; i++)
        for (int64_t c = 0; c < D; c++) {
            T v = (T)((double)(lsc_splitmix64(&st) % 2001) / 90.0 - 11.0);
            fdense[(size_t)(i * D + c)] = v;
            fsp.row(i)[c] = v;
        }
    const lsc_matrix fbig = mat(fsp.base, dt, R, D, ld), fsmall = mat(fdense.data(), dt, R, D, D);

    Ctx c(2);
    // the largest element offset read is (R - 1) ld + D - 1, past 2^36
    ASSERT_GT((R - 1) * ld, (int64_t)1 << 36);
    auto run = [&](const lsc_matrix &x, const lsc_matrix &f, std::vector<unsigned char> &out) {
        auto put = [&out](const void *p, size_t n) {
            out.insert(out.end(), (const unsigned char *)p, (const unsigned char *)p + n);
        };
        lsc_spectrum_result sr = LSC_SPECTRUM_RESULT_INIT;
        double sv[D], cv[D];
        ASSERT_EQ(lsc_spectrum(c, &x, nullptr, &sr, sv, cv), LSC_STATUS_OK) << lsc_last_error(c);
        put(&sr, sizeof sr);
        put(sv, sizeof sv);
        put(cv, sizeof cv);
        lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
        int64_t hist[64];
        lsc_pair dups[8];
        std::memset(dups, 0, sizeof dups);
        lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
        po.dup_report = 8;
        ASSERT_EQ(lsc_pair_stats(c, &x, &po, &pr, hist, dups), LSC_STATUS_OK) << lsc_last_error(c);
        EXPECT_GE(pr.near_duplicate_pairs, 1);
        put(&pr, sizeof pr);
        put(hist, sizeof hist);
        put(dups, sizeof dups);
        std::vector<float> kd((size_t)(R * k));
        std::vector<int64_t> ki((size_t)(R * k));
        ASSERT_EQ(lsc_knn(c, &f, &x, k, nullptr, kd.data(), ki.data()), LSC_STATUS_OK);
        put(kd.data(), kd.size() * 4);
        put(ki.data(), ki.size() * 8);
        std::vector<float> dd((size_t)(R * R));
        ASSERT_EQ(lsc_distances(c, &x, &f, LSC_METRIC_EUCLIDEAN, dd.data(), R, LSC_MEMORY_HOST),
                  LSC_STATUS_OK);
        put(dd.data(), dd.size() * 4);
        lsc_reference *ref = nullptr;
        ASSERT_EQ(lsc_reference_create(c, &x, k, nullptr, &ref), LSC_STATUS_OK)
            << lsc_last_error(c);
        put(lsc_reference_radii(ref), R * sizeof(double));
        lsc_prdc_result prd = LSC_PRDC_RESULT_INIT;
        ASSERT_EQ(lsc_prdc(c, ref, &f, &prd), LSC_STATUS_OK) << lsc_last_error(c);
        put(&prd, sizeof prd);
        lsc_reference_destroy(ref);
        lsc_spectrum_acc *acc = nullptr;
        ASSERT_EQ(lsc_spectrum_acc_create(c, D, nullptr, &acc), LSC_STATUS_OK);
        ASSERT_EQ(lsc_spectrum_acc_add(c, acc, &x), LSC_STATUS_OK);
        std::memset(&sr, 0, sizeof sr);
        sr.size = sizeof sr;
        ASSERT_EQ(lsc_spectrum_acc_finalize(c, acc, &sr, sv, cv), LSC_STATUS_OK);
        lsc_spectrum_acc_destroy(acc);
        put(&sr, sizeof sr);
        put(sv, sizeof sv);
    };
    std::vector<unsigned char> a, b;
    run(big, fbig, a);
    run(small, fsmall, b);
    EXPECT_TRUE(a == b) << "rows at offsets past 2^31 gave other results than the same rows dense";
    EXPECT_FALSE(a.empty());
}

TEST(Sizes, RowOffsetsPast2To31Float32) { offsets_past_2_31<float>(LSC_DTYPE_F32); }
TEST(Sizes, RowOffsetsPast2To31Float64) { offsets_past_2_31<double>(LSC_DTYPE_F64); }

/* ---------------------------------------------------------------------------------------------- */
/* opt-in: kNN against more than 2^31 base rows                                                   */

TEST(SizesBig, KnnOverMoreThan2To31Rows)
{
    const char *e = std::getenv("LSC_BIG_TESTS");
    if (!e || std::strcmp(e, "1") != 0)
        GTEST_SKIP() << "set LSC_BIG_TESTS=1 to run (about 9 GB of memory, minutes)";
    const int64_t two31 = (int64_t)1 << 31, N = two31 + 1000, Q = 8, k = 5;
    const long pages = sysconf(_SC_AVPHYS_PAGES), pg = sysconf(_SC_PAGESIZE);
    if (pages > 0 && (double)pages * (double)pg < 10e9)
        GTEST_SKIP() << "needs about 10 GB of free memory";
    std::vector<float> base;
    try {
        base.assign((size_t)N, 1.0e6f);
    } catch (const std::bad_alloc &) {
        GTEST_SKIP() << "cannot allocate " << N * 4 << " bytes";
    }
    std::vector<float> q((size_t)Q);
    std::vector<int64_t> want((size_t)(Q * k));
    std::vector<float> want_d((size_t)(Q * k));
    for (int64_t t = 0; t < Q; t++) {
        const float v = (float)(2 * t);
        q[(size_t)t] = v;
        // distance 0 past 2^31 + 800; three ties at 0.25 past 2^31 (two above, one below the
        // query), and the fifth at 0.5 with a small index: ties go by index
        const int64_t i0 = two31 + 800 + t, i1 = two31 + 100 * t, i2 = two31 + 100 * t + 1,
                      i3 = two31 + 999 - t, i4 = 5 * t + 1;
        base[(size_t)i0] = v;
        base[(size_t)i1] = v + 0.25f;
        base[(size_t)i2] = v + 0.25f;
        base[(size_t)i3] = v - 0.25f;
        base[(size_t)i4] = v + 0.5f;
        const int64_t w[] = {i0, i1, i2, i3, i4};
        const float wd[] = {0.0f, 0.25f, 0.25f, 0.25f, 0.5f};
        for (int64_t j = 0; j < k; j++) {
            want[(size_t)(t * k + j)] = w[j];
            want_d[(size_t)(t * k + j)] = wd[j];
        }
    }
    Ctx c(0);
    lsc_matrix qm = lsc_matrix_f32(q.data(), Q, 1), bm = lsc_matrix_f32(base.data(), N, 1);
    std::vector<float> dist((size_t)(Q * k), -1.0f);
    std::vector<int64_t> idx((size_t)(Q * k), -1);
    auto t0 = std::chrono::steady_clock::now();
    lsc_status s = lsc_knn(c, &qm, &bm, k, nullptr, dist.data(), idx.data());
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(s, LSC_STATUS_OK) << lsc_last_error(c);
    std::printf("lsc_knn: %lld queries against %lld base rows, D = 1, k = %lld: %.1f s (%s)\n",
                (long long)Q, (long long)N, (long long)k, secs, lsc_ctx_device_name(c));
    EXPECT_EQ(idx, want);
    EXPECT_EQ(dist, want_d);
}

} // namespace
