// Bad input for every public function: the exact status, a message that says what was wrong,
// nothing the caller passed is modified (inputs, and outputs pre-filled with a sentinel), and the
// context stays usable afterwards (a valid call succeeds and clears lsc_last_error).
#include "datasets.hpp"
#include "test_util.hpp"

#include <lsc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace {

const uint64_t kSeed = data::seed(20260101);

// Byte copies of everything a test passes in or expects to stay untouched.
class Snapshot {
  public:
    void add(const char *name, const void *p, size_t n)
    {
        const unsigned char *b = static_cast<const unsigned char *>(p);
        items_.push_back({name, p, std::vector<unsigned char>(b, b + n)});
    }
    template <class T>
    void add_vec(const char *name, const std::vector<T> &v)
    {
        add(name, v.data(), v.size() * sizeof(T));
    }
    template <class T>
    void add_obj(const char *name, const T &o)
    {
        add(name, &o, sizeof o);
    }
    void check(const char *after) const
    {
        for (const auto &it : items_)
            EXPECT_EQ(0, std::memcmp(it.p, it.bytes.data(), it.bytes.size()))
                << it.name << " was modified by " << after;
    }

  private:
    struct Item {
        std::string name;
        const void *p;
        std::vector<unsigned char> bytes;
    };
    std::vector<Item> items_;
};

void expect_status(lsc_status got, lsc_status want)
{
    EXPECT_STREQ(lsc_status_name(got), lsc_status_name(want));
}

// The context's message is non-empty and contains every needle (case-insensitive).
void expect_message(const lsc_ctx *ctx, std::initializer_list<const char *> needles)
{
    const char *m = lsc_last_error(ctx);
    ASSERT_NE(m, nullptr);
    EXPECT_GT(std::strlen(m), 0u) << "empty error message";
    std::string lm = lower(m);
    for (const char *n : needles)
        EXPECT_NE(lm.find(lower(n)), std::string::npos)
            << "message \"" << m << "\" does not mention \"" << n << "\"";
}

// One failing call: status, message, and the snapshot still intact.
#define EXPECT_FAILS(want, call, ...)                                                              \
    do {                                                                                           \
        SCOPED_TRACE(#call);                                                                       \
        lsc_status s_ = (call);                                                                    \
        expect_status(s_, (want));                                                                 \
        expect_message(ctx, {__VA_ARGS__});                                                        \
        snap.check(#call);                                                                         \
    } while (0)

// A failing call on a NULL context: no message can be stored, the status is INVALID_ARGUMENT.
#define EXPECT_NULL_CTX(call)                                                                      \
    do {                                                                                           \
        SCOPED_TRACE(#call);                                                                       \
        expect_status((call), LSC_STATUS_INVALID_ARGUMENT);                                        \
        snap.check(#call);                                                                         \
    } while (0)

#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        lsc_status s_ = (call);                                                                    \
        ASSERT_STREQ(lsc_status_name(s_), "LSC_STATUS_OK")                                         \
            << #call << ": " << lsc_last_error(ctx);                                               \
        EXPECT_STREQ(lsc_last_error(ctx), "") << "after success of " #call;                        \
    } while (0)

lsc_matrix mat(const void *p, lsc_dtype dt, int64_t rows, int64_t cols, int64_t ld,
               lsc_memory mem = LSC_MEMORY_HOST)
{
    lsc_matrix m;
    m.data = p;
    m.dtype = dt;
    m.rows = rows;
    m.cols = cols;
    m.ld = ld;
    m.memory = mem;
    return m;
}

const int64_t kBig = (int64_t)1 << 40;

class Errors : public ::testing::Test {
  protected:
    void SetUp() override
    {
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.backend = LSC_BACKEND_CPU;
        p.threads = 2;
        ASSERT_EQ(lsc_ctx_create(&p, &ctx), LSC_STATUS_OK) << lsc_last_error(ctx);
        x = data::gaussian(N, D, kSeed);
        x_copy = x;
        snap.add_vec("x data", x);
    }
    void TearDown() override
    {
        // whatever failed above, the context still works and a success clears the message
        auto y = data::gaussian(7, 3, kSeed + 99);
        lsc_matrix m = lsc_matrix_f32(y.data(), 7, 3);
        lsc_pair_result r = LSC_PAIR_RESULT_INIT;
        lsc_status s = lsc_pair_stats(ctx, &m, nullptr, &r, nullptr, nullptr);
        EXPECT_EQ(s, LSC_STATUS_OK) << lsc_last_error(ctx);
        EXPECT_STREQ(lsc_last_error(ctx), "");
        EXPECT_EQ(r.rows_used, 7);
        EXPECT_EQ(x, x_copy) << "the test's input matrix was modified";
        lsc_ctx_destroy(ctx);
    }
    lsc_matrix good() const { return lsc_matrix_f32(x.data(), N, D); }

    static constexpr int64_t N = 20, D = 5;
    lsc_ctx *ctx = nullptr;
    std::vector<float> x, x_copy;
    // the snapshot checked after every failing call; a block with objects of its own shadows it
    // with a copy (Snapshot snap = this->snap;) so that no entry outlives what it points to
    Snapshot snap;
};

/* ---------------------------------------------------------------------------------------------- */
/* statuses, versions, small helpers                                                              */

TEST(Status, EveryValueHasANameAndAString)
{
    const char *names[] = {"LSC_STATUS_OK",
                           "LSC_STATUS_INVALID_ARGUMENT",
                           "LSC_STATUS_INVALID_DATA",
                           "LSC_STATUS_OUT_OF_MEMORY",
                           "LSC_STATUS_WORKSPACE_LIMIT",
                           "LSC_STATUS_NOT_SUPPORTED",
                           "LSC_STATUS_BACKEND_UNAVAILABLE",
                           "LSC_STATUS_DEVICE_ERROR",
                           "LSC_STATUS_IO_ERROR",
                           "LSC_STATUS_BAD_FILE",
                           "LSC_STATUS_CANCELLED",
                           "LSC_STATUS_OVERFLOW",
                           "LSC_STATUS_BAD_CONTEXT",
                           "LSC_STATUS_INTERNAL",
                           "LSC_STATUS_TRANSPORT_ERROR"};
    std::vector<std::string> strings;
    for (int v = 0; v <= 14; v++) {
        lsc_status s = (lsc_status)v;
        ASSERT_NE(lsc_status_name(s), nullptr) << v;
        ASSERT_NE(lsc_status_string(s), nullptr) << v;
        EXPECT_STREQ(lsc_status_name(s), names[v]);
        EXPECT_GT(std::strlen(lsc_status_string(s)), 0u) << v;
        EXPECT_STRNE(lsc_status_string(s), lsc_status_string((lsc_status)999)) << v;
        strings.push_back(lsc_status_string(s));
    }
    std::sort(strings.begin(), strings.end());
    EXPECT_EQ(std::unique(strings.begin(), strings.end()), strings.end())
        << "two statuses share a description";
    // pinned values
    EXPECT_EQ((int)LSC_STATUS_OK, 0);
    EXPECT_EQ((int)LSC_STATUS_CANCELLED, 10);
    EXPECT_EQ((int)LSC_STATUS_INTERNAL, 13);
    EXPECT_EQ((int)LSC_STATUS_TRANSPORT_ERROR, 14);
}

TEST(Status, UnknownValuesAreNeverNull)
{
    for (int v : {-1, 15, 16, 100, 1 << 20, std::numeric_limits<int>::min(),
                  std::numeric_limits<int>::max()}) {
        lsc_status s = (lsc_status)v;
        ASSERT_NE(lsc_status_name(s), nullptr) << v;
        ASSERT_NE(lsc_status_string(s), nullptr) << v;
        EXPECT_STREQ(lsc_status_name(s), "LSC_STATUS_UNKNOWN") << v;
        EXPECT_GT(std::strlen(lsc_status_string(s)), 0u) << v;
    }
}

TEST(Helpers, NullContextAndSmallFunctions)
{
    ASSERT_NE(lsc_last_error(nullptr), nullptr);
    EXPECT_GT(std::strlen(lsc_last_error(nullptr)), 0u);
    ASSERT_NE(lsc_ctx_device_name(nullptr), nullptr);
    EXPECT_EQ(lsc_ctx_backend(nullptr), LSC_BACKEND_AUTO);
    EXPECT_EQ(lsc_dtype_size(LSC_DTYPE_F32), 4u);
    EXPECT_EQ(lsc_dtype_size(LSC_DTYPE_F16), 2u);
    EXPECT_EQ(lsc_dtype_size(LSC_DTYPE_BF16), 2u);
    EXPECT_EQ(lsc_dtype_size(LSC_DTYPE_F64), 8u);
    EXPECT_EQ(lsc_dtype_size((lsc_dtype)4), 0u);
    EXPECT_EQ(lsc_dtype_size((lsc_dtype)-1), 0u);
    float f[6] = {0};
    lsc_matrix m = lsc_matrix_f32(f, 2, 3);
    EXPECT_EQ(m.data, (const void *)f);
    EXPECT_EQ(m.dtype, LSC_DTYPE_F32);
    EXPECT_EQ(m.rows, 2);
    EXPECT_EQ(m.cols, 3);
    EXPECT_EQ(m.ld, 3);
    EXPECT_EQ(m.memory, LSC_MEMORY_HOST);
    EXPECT_EQ(lsc_spectrum_acc_rows(nullptr), -1);
    EXPECT_EQ(lsc_reference_radii(nullptr), nullptr);
    lsc_spectrum_acc_destroy(nullptr);
    lsc_reference_destroy(nullptr);
    lsc_ctx_destroy(nullptr);
    EXPECT_EQ(lsc_ctx_create(nullptr, nullptr), LSC_STATUS_INVALID_ARGUMENT);
}

TEST(Helpers, UnknownContextEnums)
{
    // backend and precision: INVALID_ARGUMENT, a message, and a context in an error state
    // (raw ints copied into the fields: a C caller can pass any int, C++ may not name it)
    struct Case {
        int backend, precision;
        const char *word;
    } cases[] = {{3, LSC_PRECISION_FP32, "backend"},
                 {-1, LSC_PRECISION_FP32, "backend"},
                 {LSC_BACKEND_CPU, 1, "precision"},
                 {LSC_BACKEND_CPU, -3, "precision"}};
    for (const auto &c : cases) {
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        static_assert(sizeof p.backend == sizeof(int) && sizeof p.precision == sizeof(int), "");
        std::memcpy(&p.backend, &c.backend, sizeof(int));
        std::memcpy(&p.precision, &c.precision, sizeof(int));
        lsc_ctx *ctx = nullptr;
        expect_status(lsc_ctx_create(&p, &ctx), LSC_STATUS_INVALID_ARGUMENT);
        ASSERT_NE(ctx, nullptr);
        expect_message(ctx, {c.word, "unknown"});
        expect_status(lsc_ctx_set_progress(ctx, nullptr, nullptr), LSC_STATUS_BAD_CONTEXT);
        lsc_ctx_destroy(ctx);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* NULL context: every function                                                                   */

TEST_F(Errors, NullContextEverywhere)
{
    lsc_matrix m = good();
    lsc_spectrum_result sr = LSC_SPECTRUM_RESULT_INIT;
    sentinel(sr);
    std::vector<double> sv(D), cv(D);
    sentinel(sv);
    sentinel(cv);
    std::vector<float> dist(N * N);
    std::vector<int64_t> idx(N * 3);
    sentinel(dist);
    sentinel(idx);
    lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
    sentinel(pr);
    lsc_prdc_result prd = LSC_PRDC_RESULT_INIT;
    sentinel(prd);
    lsc_spectrum_acc *acc_out = (lsc_spectrum_acc *)(uintptr_t)0x1234;
    lsc_reference *ref_out = (lsc_reference *)(uintptr_t)0x5678;
    snap.add_obj("spectrum result", sr);
    snap.add_vec("singular values", sv);
    snap.add_vec("column variance", cv);
    snap.add_vec("dist", dist);
    snap.add_vec("idx", idx);
    snap.add_obj("pair result", pr);
    snap.add_obj("prdc result", prd);
    snap.add_obj("acc out", acc_out);
    snap.add_obj("ref out", ref_out);
    snap.add_obj("matrix", m);

    // real objects from the good context, used with a NULL one
    lsc_spectrum_acc *acc = nullptr, *acc2 = nullptr;
    ASSERT_EQ(lsc_spectrum_acc_create(ctx, D, nullptr, &acc), LSC_STATUS_OK);
    ASSERT_EQ(lsc_spectrum_acc_create(ctx, D, nullptr, &acc2), LSC_STATUS_OK);
    ASSERT_EQ(lsc_spectrum_acc_add(ctx, acc, &m), LSC_STATUS_OK);
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &m, 3, nullptr, &ref), LSC_STATUS_OK);

    EXPECT_NULL_CTX(lsc_spectrum(nullptr, &m, nullptr, &sr, sv.data(), cv.data()));
    EXPECT_NULL_CTX(lsc_spectrum_acc_create(nullptr, D, nullptr, &acc_out));
    EXPECT_NULL_CTX(lsc_spectrum_acc_add(nullptr, acc, &m));
    EXPECT_NULL_CTX(lsc_spectrum_acc_merge(nullptr, acc2, acc));
    EXPECT_NULL_CTX(lsc_spectrum_acc_finalize(nullptr, acc, &sr, sv.data(), cv.data()));
    EXPECT_NULL_CTX(
        lsc_distances(nullptr, &m, &m, LSC_METRIC_EUCLIDEAN, dist.data(), N, LSC_MEMORY_HOST));
    EXPECT_NULL_CTX(lsc_pair_stats(nullptr, &m, nullptr, &pr, nullptr, nullptr));
    EXPECT_NULL_CTX(lsc_knn(nullptr, &m, &m, 3, nullptr, dist.data(), idx.data()));
    EXPECT_NULL_CTX(lsc_reference_create(nullptr, &m, 3, nullptr, &ref_out));
    EXPECT_NULL_CTX(lsc_reference_save(nullptr, ref, "/tmp/lsc_test_errors_never_written.ref"));
    EXPECT_NULL_CTX(
        lsc_reference_load(nullptr, "/tmp/lsc_test_errors_never_written.ref", &ref_out));
    EXPECT_NULL_CTX(lsc_prdc(nullptr, ref, &m, &prd));
    EXPECT_NULL_CTX(lsc_ctx_set_stream(nullptr, nullptr));
    EXPECT_NULL_CTX(lsc_ctx_set_progress(nullptr, nullptr, nullptr));
    EXPECT_EQ(lsc_spectrum_acc_rows(acc), N) << "a failed add or merge changed the accumulator";
    EXPECT_EQ(lsc_spectrum_acc_rows(acc2), 0);

    // info_get takes no context: NULL arguments give INVALID_ARGUMENT
    lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
    sentinel(info);
    snap.add_obj("info", info);
    EXPECT_NULL_CTX(lsc_reference_info_get(nullptr, &info));
    EXPECT_NULL_CTX(lsc_reference_info_get(ref, nullptr));

    lsc_reference_destroy(ref);
    lsc_spectrum_acc_destroy(acc);
    lsc_spectrum_acc_destroy(acc2);
}

/* ---------------------------------------------------------------------------------------------- */
/* matrix checks, through lsc_spectrum                                                            */

TEST_F(Errors, SpectrumArguments)
{
    lsc_spectrum_result out = LSC_SPECTRUM_RESULT_INIT;
    sentinel(out);
    std::vector<double> sv(D), cv(D);
    sentinel(sv);
    sentinel(cv);
    snap.add_obj("out", out);
    snap.add_vec("singular values", sv);
    snap.add_vec("column variance", cv);
    const float *p = x.data();
    auto call = [&](const lsc_matrix &m) {
        return lsc_spectrum(ctx, &m, nullptr, &out, sv.data(), cv.data());
    };

    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 lsc_spectrum(ctx, nullptr, nullptr, &out, sv.data(), cv.data()), "x", "NULL");
    lsc_matrix g = good();
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 lsc_spectrum(ctx, &g, nullptr, nullptr, sv.data(), cv.data()), "out", "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(nullptr, LSC_DTYPE_F32, N, D, D)),
                 "x:", "data", "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(p, LSC_DTYPE_F32, 0, D, D)), "x:", "rows",
                 "0");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(p, LSC_DTYPE_F32, -3, D, D)), "x:", "rows",
                 "-3");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(p, LSC_DTYPE_F32, 1, D, D)), "x:", "1 rows",
                 "at least 2");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(p, LSC_DTYPE_F32, N, 0, D)), "x:", "cols",
                 "0");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(p, LSC_DTYPE_F32, N, -2, D)), "x:", "cols",
                 "-2");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(p, LSC_DTYPE_F32, 4, D, D - 1)), "x:", "ld",
                 "smaller than cols");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(p, LSC_DTYPE_F32, 4, D, -1)), "x:", "ld");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(p, (lsc_dtype)4, N, D, D)), "x:", "dtype",
                 "4");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(p, (lsc_dtype)-1, N, D, D)), "x:", "dtype");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(p, LSC_DTYPE_F32, N, D, D, (lsc_memory)2)),
                 "x:", "memory", "2");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(mat(p, LSC_DTYPE_F32, N, D, D, (lsc_memory)-7)),
                 "x:", "memory");
    EXPECT_FAILS(LSC_STATUS_NOT_SUPPORTED, call(mat(p, LSC_DTYPE_F32, N, D, D, LSC_MEMORY_DEVICE)),
                 "x:", "device", "cpu");

    lsc_spectrum_opts o = LSC_SPECTRUM_OPTS_INIT;
    snap.add_obj("opts", o);
    for (size_t bad : {(size_t)0, sizeof(lsc_spectrum_opts) - 1, (size_t)1 << 40}) {
        lsc_spectrum_opts b = o;
        b.size = bad;
        EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                     lsc_spectrum(ctx, &g, &b, &out, sv.data(), cv.data()), "spectrum opts", "size",
                     "_INIT");
    }
    for (double thr : {-1e-3, -(double)INFINITY, (double)INFINITY, (double)NAN}) {
        lsc_spectrum_opts b = o;
        b.active_threshold = thr;
        EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                     lsc_spectrum(ctx, &g, &b, &out, sv.data(), cv.data()), "active_threshold");
    }
    // boundaries that are valid: N = 2, threshold 0, NULL optional arrays
    {
        lsc_spectrum_opts b = o;
        b.active_threshold = 0.0;
        lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
        lsc_matrix two = mat(p, LSC_DTYPE_F32, 2, D, D);
        EXPECT_OK(lsc_spectrum(ctx, &two, &b, &r, nullptr, nullptr));
        EXPECT_EQ(r.rows, 2);
        EXPECT_EQ(r.active_threshold, 0.0);
    }
}

TEST_F(Errors, SizeOverflowIsRefusedWithoutTouchingMemory)
{
    // the data pointer holds a few elements; a size product that overflows must be caught
    // before anything is read (reading would crash far outside the buffer)
    lsc_spectrum_result out = LSC_SPECTRUM_RESULT_INIT;
    sentinel(out);
    snap.add_obj("out", out);
    const float *p = x.data();
    const int64_t imax = std::numeric_limits<int64_t>::max();
    struct Case {
        lsc_dtype dt;
        int64_t rows, cols, ld;
    } cases[] = {
        {LSC_DTYPE_F32, kBig, 2, kBig},          // (rows - 1) ld overflows int64
        {LSC_DTYPE_F32, imax, 1, 2},             // rows - 1 times 2 overflows
        {LSC_DTYPE_F32, 2, 4, imax - 1},         // (rows - 1) ld + cols overflows
        {LSC_DTYPE_F32, 2, 4, (int64_t)1 << 62}, // elements fit int64, bytes overflow size_t
        {LSC_DTYPE_F64, 3, 4, (int64_t)1 << 61}, // 2^62 elements of 8 bytes
        {LSC_DTYPE_F16, 3, 1, (int64_t)1 << 62}, // 2^63 elements of 2 bytes
    };
    for (const auto &c : cases) {
        SCOPED_TRACE(testing::Message() << "rows " << c.rows << " cols " << c.cols << " ld " << c.ld
                                        << " dtype " << (int)c.dt);
        lsc_matrix m = mat(p, c.dt, c.rows, c.cols, c.ld);
        EXPECT_FAILS(LSC_STATUS_OVERFLOW, lsc_spectrum(ctx, &m, nullptr, &out, nullptr, nullptr),
                     "x", "overflow");
        // the same matrix through every other entry point that takes one
        lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
        sentinel(pr);
        EXPECT_FAILS(LSC_STATUS_OVERFLOW, lsc_pair_stats(ctx, &m, nullptr, &pr, nullptr, nullptr),
                     "overflow");
        float dist[4];
        int64_t idx[4];
        EXPECT_FAILS(LSC_STATUS_OVERFLOW, lsc_knn(ctx, &m, &m, 1, nullptr, dist, idx), "overflow");
        lsc_reference *ref = nullptr;
        EXPECT_FAILS(LSC_STATUS_OVERFLOW, lsc_reference_create(ctx, &m, 1, nullptr, &ref),
                     "overflow");
        EXPECT_EQ(ref, nullptr);
    }
}

TEST_F(Errors, OverflowInOutputsAndAccumulator)
{
    // distances: (a rows - 1) ld_out overflows
    std::vector<float> out(64);
    sentinel(out);
    snap.add_vec("out", out);
    lsc_matrix a = mat(x.data(), LSC_DTYPE_F32, kBig, 1, 1); // 2^40 rows of one float: valid view
    lsc_matrix b = mat(x.data(), LSC_DTYPE_F32, 2, 1, 1);
    EXPECT_FAILS(LSC_STATUS_OVERFLOW,
                 lsc_distances(ctx, &a, &b, LSC_METRIC_EUCLIDEAN, out.data(), (int64_t)1 << 30,
                               LSC_MEMORY_HOST),
                 "out", "overflow");
    lsc_matrix a3 = mat(x.data(), LSC_DTYPE_F32, 3, 1, 1);
    EXPECT_FAILS(LSC_STATUS_OVERFLOW,
                 lsc_distances(ctx, &a3, &b, LSC_METRIC_EUCLIDEAN, out.data(),
                               std::numeric_limits<int64_t>::max() / 2, LSC_MEMORY_HOST),
                 "overflow");
    // knn: queries rows x k overflows
    std::vector<int64_t> idx(64);
    sentinel(idx);
    snap.add_vec("idx", idx);
    lsc_matrix q = mat(x.data(), LSC_DTYPE_F32, kBig, 1, 1);
    EXPECT_FAILS(LSC_STATUS_OVERFLOW,
                 lsc_knn(ctx, &q, &q, (int64_t)1 << 30, nullptr, out.data(), idx.data()),
                 "overflow");
    // accumulator: cols x cols overflows
    lsc_spectrum_acc *acc = (lsc_spectrum_acc *)(uintptr_t)0x99;
    snap.add_obj("acc out", acc);
    EXPECT_FAILS(LSC_STATUS_OVERFLOW, lsc_spectrum_acc_create(ctx, (int64_t)1 << 32, nullptr, &acc),
                 "overflow");
    EXPECT_FAILS(LSC_STATUS_OVERFLOW,
                 lsc_spectrum_acc_create(ctx, std::numeric_limits<int64_t>::max(), nullptr, &acc),
                 "overflow");
}

/* ---------------------------------------------------------------------------------------------- */
/* values: NaN, Inf, float64 outside float32, zero rows for cosine                                 */

TEST_F(Errors, NanAndInfNameMatrixRowAndColumn)
{
    lsc_spectrum_result out = LSC_SPECTRUM_RESULT_INIT;
    sentinel(out);
    snap.add_obj("out", out);
    for (float bad :
         {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
          -std::numeric_limits<float>::infinity()}) {
        Snapshot snap = this->snap;
        auto y = data::gaussian(N, D, kSeed + 1);
        y[17 * D + 3] = bad;
        snap.add_vec("y", y);
        lsc_matrix m = lsc_matrix_f32(y.data(), N, D);
        EXPECT_FAILS(LSC_STATUS_INVALID_DATA,
                     lsc_spectrum(ctx, &m, nullptr, &out, nullptr, nullptr), "x:", "row 17",
                     "col 3", std::isnan(bad) ? "NaN" : "Inf");
    }
}

TEST_F(Errors, FirstBadElementWinsAlsoInParallelScan)
{
    // large enough for the parallel scan: the smallest row, then the smallest column, is named
    const int64_t n = 20000, d = 4;
    auto y = data::gaussian(n, d, kSeed + 2);
    y[17000 * d + 0] = NAN;
    y[15001 * d + 3] = INFINITY;
    y[15001 * d + 2] = NAN;
    y[19999 * d + 1] = NAN;
    snap.add_vec("y", y);
    lsc_matrix m = lsc_matrix_f32(y.data(), n, d);
    lsc_spectrum_result out = LSC_SPECTRUM_RESULT_INIT;
    sentinel(out);
    snap.add_obj("out", out);
    for (int rep = 0; rep < 3; rep++)
        EXPECT_FAILS(LSC_STATUS_INVALID_DATA,
                     lsc_spectrum(ctx, &m, nullptr, &out, nullptr, nullptr), "row 15001", "col 2",
                     "NaN");
}

TEST_F(Errors, PaddingBeyondColsIsNeverRead)
{
    // ld > cols: NaN in the padding is not part of the matrix
    const int64_t ld = D + 3;
    std::vector<float> y((size_t)(N * ld), NAN);
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < D; c++) y[i * ld + c] = x[i * D + c];
    lsc_matrix padded = mat(y.data(), LSC_DTYPE_F32, N, D, ld);
    lsc_matrix dense = good();
    lsc_spectrum_result a = LSC_SPECTRUM_RESULT_INIT, b = LSC_SPECTRUM_RESULT_INIT;
    EXPECT_OK(lsc_spectrum(ctx, &padded, nullptr, &a, nullptr, nullptr));
    EXPECT_OK(lsc_spectrum(ctx, &dense, nullptr, &b, nullptr, nullptr));
    EXPECT_DOUBLE_EQ(a.effective_rank, b.effective_rank);
    EXPECT_DOUBLE_EQ(a.total_variance, b.total_variance);
    // and the last row needs only cols elements, not ld: a buffer of (rows-1) ld + cols
    std::vector<float> tight((size_t)((N - 1) * ld + D));
    std::copy(y.begin(), y.begin() + (long)tight.size(), tight.begin());
    lsc_matrix t = mat(tight.data(), LSC_DTYPE_F32, N, D, ld);
    EXPECT_OK(lsc_spectrum(ctx, &t, nullptr, &a, nullptr, nullptr));
    EXPECT_DOUBLE_EQ(a.total_variance, b.total_variance);
}

TEST_F(Errors, OtherDtypesNonFinite)
{
    lsc_spectrum_result out = LSC_SPECTRUM_RESULT_INIT;
    sentinel(out);
    snap.add_obj("out", out);
    // float64: NaN, Inf, and finite values outside the float32 range
    for (double bad : {(double)NAN, (double)INFINITY, 1e300, -1e39, 3.5e38}) {
        Snapshot snap = this->snap;
        std::vector<double> y(N * D);
        for (size_t i = 0; i < y.size(); i++) y[i] = x[i];
        y[2 * D + 1] = bad;
        snap.add_vec("f64", y);
        lsc_matrix m = mat(y.data(), LSC_DTYPE_F64, N, D, D);
        if (std::isfinite(bad))
            EXPECT_FAILS(LSC_STATUS_INVALID_DATA,
                         lsc_spectrum(ctx, &m, nullptr, &out, nullptr, nullptr), "x:", "row 2",
                         "col 1", "float32");
        else
            EXPECT_FAILS(LSC_STATUS_INVALID_DATA,
                         lsc_spectrum(ctx, &m, nullptr, &out, nullptr, nullptr), "x:", "row 2",
                         "col 1", std::isnan(bad) ? "NaN" : "Inf");
    }
    // float64 just inside the float32 range is fine
    {
        std::vector<double> y(N * D);
        for (size_t i = 0; i < y.size(); i++) y[i] = x[i];
        y[0] = 3.0e38;
        lsc_matrix m = mat(y.data(), LSC_DTYPE_F64, N, D, D);
        lsc_spectrum_acc *acc = nullptr;
        EXPECT_OK(lsc_spectrum_acc_create(ctx, D, nullptr, &acc));
        EXPECT_OK(lsc_spectrum_acc_add(ctx, acc, &m));
        lsc_spectrum_acc_destroy(acc);
    }
    // float16 and bfloat16 bit patterns: 1.0 everywhere, one Inf or NaN at row 9 col 4
    struct Bits {
        lsc_dtype dt;
        uint16_t one, bad;
        const char *word;
    } bits[] = {{LSC_DTYPE_F16, 0x3C00, 0x7C00, "Inf"},  {LSC_DTYPE_F16, 0x3C00, 0xFC00, "Inf"},
                {LSC_DTYPE_F16, 0x3C00, 0x7E00, "NaN"},  {LSC_DTYPE_BF16, 0x3F80, 0x7F80, "Inf"},
                {LSC_DTYPE_BF16, 0x3F80, 0x7FC0, "NaN"}, {LSC_DTYPE_BF16, 0x3F80, 0xFF81, "NaN"}};
    for (const auto &b : bits) {
        SCOPED_TRACE(testing::Message()
                     << "dtype " << (int)b.dt << " bits 0x" << std::hex << b.bad);
        Snapshot snap = this->snap;
        std::vector<uint16_t> y(N * D, b.one);
        y[9 * D + 4] = b.bad;
        snap.add_vec("half", y);
        lsc_matrix m = mat(y.data(), b.dt, N, D, D);
        EXPECT_FAILS(LSC_STATUS_INVALID_DATA,
                     lsc_spectrum(ctx, &m, nullptr, &out, nullptr, nullptr), "x:", "row 9", "col 4",
                     b.word);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* spectrum accumulator                                                                           */

TEST_F(Errors, AccumulatorCreate)
{
    lsc_spectrum_acc *acc = (lsc_spectrum_acc *)(uintptr_t)0x42;
    snap.add_obj("acc out", acc);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_create(ctx, D, nullptr, nullptr),
                 "out", "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_create(ctx, 0, nullptr, &acc),
                 "cols", "0");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_create(ctx, -4, nullptr, &acc),
                 "cols", "-4");
    lsc_spectrum_opts o = LSC_SPECTRUM_OPTS_INIT;
    o.size = 3;
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_create(ctx, D, &o, &acc), "size");
    o = LSC_SPECTRUM_OPTS_INIT;
    o.active_threshold = NAN;
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_create(ctx, D, &o, &acc),
                 "active_threshold");
    // a D x D float64 Gram beyond LAPACK's 32-bit sizes: refused before any allocation
    EXPECT_FAILS(LSC_STATUS_NOT_SUPPORTED, lsc_spectrum_acc_create(ctx, 46341, nullptr, &acc),
                 "46341");
}

TEST_F(Errors, AccumulatorAddMergeFinalize)
{
    lsc_matrix g = good();
    lsc_spectrum_acc *acc = nullptr, *other = nullptr, *wide = nullptr, *empty = nullptr;
    ASSERT_EQ(lsc_spectrum_acc_create(ctx, D, nullptr, &acc), LSC_STATUS_OK);
    ASSERT_EQ(lsc_spectrum_acc_create(ctx, D, nullptr, &other), LSC_STATUS_OK);
    ASSERT_EQ(lsc_spectrum_acc_create(ctx, D + 1, nullptr, &wide), LSC_STATUS_OK);
    ASSERT_EQ(lsc_spectrum_acc_create(ctx, D, nullptr, &empty), LSC_STATUS_OK);
    ASSERT_EQ(lsc_spectrum_acc_add(ctx, acc, &g), LSC_STATUS_OK);
    ASSERT_EQ(lsc_spectrum_acc_add(ctx, other, &g), LSC_STATUS_OK);

    lsc_spectrum_result before = LSC_SPECTRUM_RESULT_INIT;
    std::vector<double> sv_before(D), cv_before(D);
    ASSERT_EQ(lsc_spectrum_acc_finalize(ctx, acc, &before, sv_before.data(), cv_before.data()),
              LSC_STATUS_OK);

    // add
    auto bad = data::gaussian(6, D, kSeed + 3);
    bad[4 * D + 2] = NAN;
    snap.add_vec("bad batch", bad);
    lsc_matrix mb = lsc_matrix_f32(bad.data(), 6, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_add(ctx, nullptr, &g), "acc",
                 "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_add(ctx, acc, nullptr), "batch",
                 "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_add(ctx, wide, &g), "batch", "cols");
    lsc_matrix zero_rows = mat(x.data(), LSC_DTYPE_F32, 0, D, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_add(ctx, acc, &zero_rows), "batch",
                 "rows");
    lsc_matrix dev = mat(x.data(), LSC_DTYPE_F32, N, D, D, LSC_MEMORY_DEVICE);
    EXPECT_FAILS(LSC_STATUS_NOT_SUPPORTED, lsc_spectrum_acc_add(ctx, acc, &dev), "device");
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, lsc_spectrum_acc_add(ctx, acc, &mb), "batch:", "row 4",
                 "col 2", "NaN");
    // a single row is a valid batch (the spectrum needs 2 rows only at finalize)
    lsc_matrix one = mat(x.data(), LSC_DTYPE_F32, 1, D, D);
    EXPECT_OK(lsc_spectrum_acc_add(ctx, empty, &one));
    EXPECT_EQ(lsc_spectrum_acc_rows(empty), 1);

    // merge
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_merge(ctx, nullptr, other), "into",
                 "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_merge(ctx, acc, nullptr), "from",
                 "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_merge(ctx, acc, acc), "same");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_merge(ctx, acc, wide), "cols");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_spectrum_acc_merge(ctx, wide, acc), "cols");
    EXPECT_EQ(lsc_spectrum_acc_rows(acc), N);
    EXPECT_EQ(lsc_spectrum_acc_rows(other), N);
    EXPECT_EQ(lsc_spectrum_acc_rows(wide), 0);

    // finalize
    lsc_spectrum_result out = LSC_SPECTRUM_RESULT_INIT;
    sentinel(out);
    std::vector<double> sv(D), cv(D);
    sentinel(sv);
    sentinel(cv);
    snap.add_obj("out", out);
    snap.add_vec("sv", sv);
    snap.add_vec("cv", cv);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 lsc_spectrum_acc_finalize(ctx, nullptr, &out, sv.data(), cv.data()), "acc",
                 "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 lsc_spectrum_acc_finalize(ctx, acc, nullptr, sv.data(), cv.data()), "out", "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 lsc_spectrum_acc_finalize(ctx, wide, &out, sv.data(), cv.data()), "0 rows",
                 "at least 2");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 lsc_spectrum_acc_finalize(ctx, empty, &out, sv.data(), cv.data()), "1 rows",
                 "at least 2");

    // every failure above left `acc` as it was: same figures, bit for bit
    lsc_spectrum_result after = LSC_SPECTRUM_RESULT_INIT;
    std::vector<double> sv_after(D), cv_after(D);
    EXPECT_OK(lsc_spectrum_acc_finalize(ctx, acc, &after, sv_after.data(), cv_after.data()));
    EXPECT_EQ(after.rows, N);
    EXPECT_EQ(after.effective_rank, before.effective_rank);
    EXPECT_EQ(after.total_variance, before.total_variance);
    EXPECT_EQ(after.vendi_cosine, before.vendi_cosine);
    EXPECT_EQ(sv_after, sv_before);
    EXPECT_EQ(cv_after, cv_before);

    lsc_spectrum_acc_destroy(acc);
    lsc_spectrum_acc_destroy(other);
    lsc_spectrum_acc_destroy(wide);
    lsc_spectrum_acc_destroy(empty);
}

/* ---------------------------------------------------------------------------------------------- */
/* distances                                                                                      */

TEST_F(Errors, Distances)
{
    const int64_t M = 7;
    auto y = data::gaussian(M, D, kSeed + 4);
    snap.add_vec("y", y);
    lsc_matrix a = good(), b = lsc_matrix_f32(y.data(), M, D);
    std::vector<float> out(N * (M + 2));
    sentinel(out);
    snap.add_vec("out", out);
    float *o = out.data();
    auto dist = [&](const lsc_matrix *pa, const lsc_matrix *pb, int metric, float *po, int64_t ld,
                    int mem) {
        return lsc_distances(ctx, pa, pb, (lsc_metric)metric, po, ld, (lsc_memory)mem);
    };
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, dist(nullptr, &b, 0, o, M, 0), "a:", "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, dist(&a, nullptr, 0, o, M, 0), "b:", "NULL");
    lsc_matrix b_wide = mat(y.data(), LSC_DTYPE_F32, 2, D + 1, D + 1);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, dist(&a, &b_wide, 0, o, M, 0), "cols");
    lsc_matrix a0 = mat(x.data(), LSC_DTYPE_F32, 0, D, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, dist(&a0, &b, 0, o, M, 0), "a:", "rows");
    lsc_matrix bld = mat(y.data(), LSC_DTYPE_F32, M, D, 2);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, dist(&a, &bld, 0, o, M, 0), "b:", "ld");
    for (int metric : {3, -1, 100})
        EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, dist(&a, &b, metric, o, M, 0), "metric");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, dist(&a, &b, 0, nullptr, M, 0), "out", "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, dist(&a, &b, 0, o, M - 1, 0), "ld_out");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, dist(&a, &b, 0, o, -1, 0), "ld_out");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, dist(&a, &b, 0, o, M, 2), "out_memory");
    EXPECT_FAILS(LSC_STATUS_NOT_SUPPORTED, dist(&a, &b, 0, o, M, LSC_MEMORY_DEVICE), "device",
                 "cpu");
    lsc_matrix adev = a;
    adev.memory = LSC_MEMORY_DEVICE;
    EXPECT_FAILS(LSC_STATUS_NOT_SUPPORTED, dist(&adev, &b, 0, o, M, 0), "a:", "device");

    auto an = x;
    an[13 * D + 4] = NAN;
    auto bn = y;
    bn[5 * D + 0] = -INFINITY;
    snap.add_vec("an", an);
    snap.add_vec("bn", bn);
    lsc_matrix ma = lsc_matrix_f32(an.data(), N, D), mbn = lsc_matrix_f32(bn.data(), M, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, dist(&ma, &b, 0, o, M, 0), "a:", "row 13", "col 4");
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, dist(&a, &mbn, 0, o, M, 0), "b:", "row 5", "col 0",
                 "Inf");

    // cosine: a zero row is invalid data (only for cosine)
    auto bz = y;
    for (int64_t c = 0; c < D; c++) bz[3 * D + c] = 0.0f;
    snap.add_vec("bz", bz);
    lsc_matrix mbz = lsc_matrix_f32(bz.data(), M, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, dist(&a, &mbz, LSC_METRIC_COSINE, o, M, 0), "b:", "row 3",
                 "zero");
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, dist(&mbz, &a, LSC_METRIC_COSINE, o, N, 0), "a:", "row 3",
                 "zero");
    // -0.0 is zero too
    auto bnz = y;
    for (int64_t c = 0; c < D; c++) bnz[1 * D + c] = -0.0f;
    snap.add_vec("bnz", bnz);
    lsc_matrix mbnz = lsc_matrix_f32(bnz.data(), M, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, dist(&a, &mbnz, LSC_METRIC_COSINE, o, M, 0), "row 1",
                 "zero");

    // the valid neighbours of those failures
    std::vector<float> ok(N * M);
    EXPECT_OK(dist(&a, &mbz, LSC_METRIC_EUCLIDEAN, ok.data(), M, 0));
    EXPECT_OK(dist(&a, &b, LSC_METRIC_SQEUCLIDEAN, ok.data(), M, 0));
    std::vector<float> wide_out(N * (M + 2), -1.0f);
    EXPECT_OK(dist(&a, &b, LSC_METRIC_COSINE, wide_out.data(), M + 2, 0));
    for (int64_t i = 0; i < N; i++) // the gap between rows of out is not written
        for (int64_t j = M; j < M + 2; j++) EXPECT_EQ(wide_out[i * (M + 2) + j], -1.0f);
}

/* ---------------------------------------------------------------------------------------------- */
/* pair statistics                                                                                */

TEST_F(Errors, PairStats)
{
    lsc_matrix g = good();
    lsc_pair_result out = LSC_PAIR_RESULT_INIT;
    sentinel(out);
    std::vector<int64_t> hist(64);
    std::vector<lsc_pair> dups(100);
    sentinel(hist);
    sentinel(dups);
    snap.add_obj("out", out);
    snap.add_vec("hist", hist);
    snap.add_vec("dups", dups);
    auto call = [&](const lsc_matrix *m, const lsc_pair_opts *o) {
        return lsc_pair_stats(ctx, m, o, &out, hist.data(), dups.data());
    };
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(nullptr, nullptr), "x:", "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 lsc_pair_stats(ctx, &g, nullptr, nullptr, hist.data(), dups.data()), "out",
                 "NULL");
    lsc_matrix one = mat(x.data(), LSC_DTYPE_F32, 1, D, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, call(&one, nullptr), "x:", "at least 2");

    auto with = [&](auto edit) {
        lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
        edit(o);
        return call(&g, &o);
    };
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, with([](lsc_pair_opts &o) { o.size = 8; }),
                 "pair opts", "size");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 with([](lsc_pair_opts &o) { o.metric = LSC_METRIC_SQEUCLIDEAN; }), "metric");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 with([](lsc_pair_opts &o) { o.metric = (lsc_metric)9; }), "metric", "9");
    for (int64_t bins :
         {(int64_t)0, (int64_t)-1, ((int64_t)1 << 24) + 1, std::numeric_limits<int64_t>::max()})
        EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, with([&](lsc_pair_opts &o) { o.bins = bins; }),
                     "bins");
    for (double eps : {-1e-9, (double)NAN, (double)INFINITY, -(double)INFINITY})
        EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, with([&](lsc_pair_opts &o) { o.dup_eps = eps; }),
                     "dup_eps");
    for (int64_t rep : {(int64_t)-1, ((int64_t)1 << 24) + 1})
        EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                     with([&](lsc_pair_opts &o) { o.dup_report = rep; }), "dup_report");
    for (int64_t sub : {(int64_t)1, (int64_t)-1, std::numeric_limits<int64_t>::min()})
        EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                     with([&](lsc_pair_opts &o) { o.subset_rows = sub; }), "subset_rows");

    auto bad = x;
    bad[11 * D + 2] = INFINITY;
    snap.add_vec("bad", bad);
    lsc_matrix mb = lsc_matrix_f32(bad.data(), N, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, call(&mb, nullptr), "x:", "row 11", "col 2", "Inf");
    auto z = x;
    for (int64_t c = 0; c < D; c++) z[6 * D + c] = 0.0f;
    snap.add_vec("z", z);
    lsc_matrix mz = lsc_matrix_f32(z.data(), N, D);
    lsc_pair_opts cos = LSC_PAIR_OPTS_INIT;
    cos.metric = LSC_METRIC_COSINE;
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, call(&mz, &cos), "x:", "row 6", "zero");
    lsc_matrix dev = g;
    dev.memory = LSC_MEMORY_DEVICE;
    EXPECT_FAILS(LSC_STATUS_NOT_SUPPORTED, call(&dev, nullptr), "device");

    // the valid boundaries
    lsc_pair_result r = LSC_PAIR_RESULT_INIT;
    std::vector<int64_t> h1(1);
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    o.bins = 1;
    o.dup_report = 0;
    o.dup_eps = 0.0;
    o.subset_rows = 2;
    EXPECT_OK(lsc_pair_stats(ctx, &g, &o, &r, h1.data(), nullptr));
    EXPECT_EQ(r.rows_used, 2);
    EXPECT_EQ(r.subset, 1);
    EXPECT_EQ(h1[0], 1);
    o.subset_rows = N + 5; // more than N: every row
    EXPECT_OK(lsc_pair_stats(ctx, &g, &o, &r, h1.data(), nullptr));
    EXPECT_EQ(r.rows_used, N);
    EXPECT_EQ(r.subset, 0);
    lsc_matrix two = mat(x.data(), LSC_DTYPE_F32, 2, D, D);
    EXPECT_OK(lsc_pair_stats(ctx, &two, nullptr, &r, nullptr, nullptr));
    EXPECT_EQ(r.pairs, 1);
    EXPECT_OK(lsc_pair_stats(ctx, &mz, nullptr, &r, nullptr, nullptr)); // zero row, euclidean
}

/* ---------------------------------------------------------------------------------------------- */
/* kNN                                                                                            */

TEST_F(Errors, Knn)
{
    const int64_t M = 9;
    auto y = data::gaussian(M, D, kSeed + 5);
    snap.add_vec("y", y);
    lsc_matrix q = good(), b = lsc_matrix_f32(y.data(), M, D);
    std::vector<float> dist(N * (M + 1));
    std::vector<int64_t> idx(N * (M + 1));
    sentinel(dist);
    sentinel(idx);
    snap.add_vec("dist", dist);
    snap.add_vec("idx", idx);
    float *pd = dist.data();
    int64_t *pi = idx.data();
    auto knn = [&](const lsc_matrix *qq, const lsc_matrix *bb, int64_t k, const lsc_knn_opts *o) {
        return lsc_knn(ctx, qq, bb, k, o, pd, pi);
    };

    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(nullptr, &b, 1, nullptr), "queries", "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, nullptr, 1, nullptr), "base", "NULL");
    for (int64_t k : {(int64_t)0, (int64_t)-1, M + 1, std::numeric_limits<int64_t>::max(),
                      std::numeric_limits<int64_t>::min()})
        EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, &b, k, nullptr), "k=", "out of range");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_knn(ctx, &q, &b, 2, nullptr, nullptr, pi), "dist",
                 "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_knn(ctx, &q, &b, 2, nullptr, pd, nullptr), "idx",
                 "NULL");
    lsc_matrix bw = mat(y.data(), LSC_DTYPE_F32, 3, D - 1, D - 1);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, &bw, 1, nullptr), "cols");

    auto with = [&](auto edit) {
        lsc_knn_opts o = LSC_KNN_OPTS_INIT;
        edit(o);
        return o;
    };
    lsc_knn_opts o;
    o = with([](lsc_knn_opts &v) { v.size = sizeof(lsc_knn_opts) - 4; });
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, &b, 1, &o), "knn opts", "size");
    o = with([](lsc_knn_opts &v) { v.metric = LSC_METRIC_SQEUCLIDEAN; });
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, &b, 1, &o), "metric");
    o = with([](lsc_knn_opts &v) { v.metric = (lsc_metric)-2; });
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, &b, 1, &o), "metric");
    o = with([](lsc_knn_opts &v) { v.exclude_self = 2; });
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, &b, 1, &o), "exclude_self");
    o = with([](lsc_knn_opts &v) { v.exclude_self = -1; });
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, &b, 1, &o), "exclude_self");
    o = with([](lsc_knn_opts &v) { v.out_memory = (lsc_memory)3; });
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, &b, 1, &o), "out_memory");
    o = with([](lsc_knn_opts &v) { v.out_memory = LSC_MEMORY_DEVICE; });
    EXPECT_FAILS(LSC_STATUS_NOT_SUPPORTED, knn(&q, &b, 1, &o), "device", "cpu");
    lsc_matrix qdev = q;
    qdev.memory = LSC_MEMORY_DEVICE;
    EXPECT_FAILS(LSC_STATUS_NOT_SUPPORTED, knn(&qdev, &b, 1, nullptr), "queries", "device");

    // exclude_self: base NULL or the same matrix; k <= N - 1
    lsc_knn_opts ex = LSC_KNN_OPTS_INIT;
    ex.exclude_self = 1;
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, &b, 1, &ex), "exclude_self");
    lsc_matrix q_other_ld = mat(x.data(), LSC_DTYPE_F32, N / 2, D, 2 * D); // same data, other view
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, &q_other_ld, 1, &ex), "exclude_self");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, nullptr, N, &ex), "k=", "self excluded");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q, &q, N, &ex), "k=", "self excluded");
    lsc_matrix q1 = mat(x.data(), LSC_DTYPE_F32, 1, D, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, knn(&q1, nullptr, 1, &ex), "k=");

    // values
    auto qb = x;
    qb[19 * D + 0] = NAN;
    auto bb = y;
    bb[8 * D + 4] = INFINITY;
    snap.add_vec("qb", qb);
    snap.add_vec("bb", bb);
    lsc_matrix mqb = lsc_matrix_f32(qb.data(), N, D), mbb = lsc_matrix_f32(bb.data(), M, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, knn(&mqb, &b, 1, nullptr), "queries:", "row 19", "col 0");
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, knn(&q, &mbb, 1, nullptr), "base:", "row 8", "col 4");
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, knn(&mqb, nullptr, 1, &ex), "queries:", "row 19");
    auto bz = y;
    for (int64_t c = 0; c < D; c++) bz[2 * D + c] = 0.0f;
    snap.add_vec("bz", bz);
    lsc_matrix mbz = lsc_matrix_f32(bz.data(), M, D);
    lsc_knn_opts cos = LSC_KNN_OPTS_INIT;
    cos.metric = LSC_METRIC_COSINE;
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, knn(&q, &mbz, 1, &cos), "base:", "row 2", "zero");

    // valid boundaries: k = M, k = N - 1 with exclude_self, base the same matrix
    std::vector<float> d2(N * N);
    std::vector<int64_t> i2(N * N);
    EXPECT_OK(lsc_knn(ctx, &q, &b, M, nullptr, d2.data(), i2.data()));
    EXPECT_OK(lsc_knn(ctx, &q, nullptr, N - 1, &ex, d2.data(), i2.data()));
    lsc_matrix same = q;
    EXPECT_OK(lsc_knn(ctx, &q, &same, N - 1, &ex, d2.data(), i2.data()));
    EXPECT_OK(lsc_knn(ctx, &q, &mbz, 1, nullptr, d2.data(), i2.data())); // zero row, euclidean
}

/* ---------------------------------------------------------------------------------------------- */
/* references and PRDC                                                                            */

TEST_F(Errors, ReferenceCreate)
{
    lsc_matrix g = good();
    lsc_reference *ref = (lsc_reference *)(uintptr_t)0x77;
    snap.add_obj("ref out", ref);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_reference_create(ctx, &g, 3, nullptr, nullptr),
                 "out", "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_reference_create(ctx, nullptr, 3, nullptr, &ref),
                 "real", "NULL");
    for (int64_t k : {(int64_t)0, (int64_t)-1, N, N + 1, std::numeric_limits<int64_t>::max(),
                      std::numeric_limits<int64_t>::min()})
        EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_reference_create(ctx, &g, k, nullptr, &ref),
                     "k=", "real rows");
    // the message's arithmetic must not overflow for the largest k either
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 lsc_reference_create(ctx, &g, std::numeric_limits<int64_t>::max(), nullptr, &ref),
                 "k=9223372036854775807");
    EXPECT_EQ(std::string(lsc_last_error(ctx)).find("at least -"), std::string::npos)
        << lsc_last_error(ctx);
    lsc_matrix one = mat(x.data(), LSC_DTYPE_F32, 1, D, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_reference_create(ctx, &one, 1, nullptr, &ref),
                 "k=1", "2 real rows");

    auto with = [&](auto edit) {
        lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
        edit(o);
        return lsc_reference_create(ctx, &g, 3, &o, &ref);
    };
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 with([](lsc_reference_opts &o) { o.size = sizeof(lsc_reference_opts) - 4; }),
                 "reference opts", "size");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 with([](lsc_reference_opts &o) { o.metric = LSC_METRIC_SQEUCLIDEAN; }), "metric");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 with([](lsc_reference_opts &o) { o.metric = (lsc_metric)17; }), "metric", "17");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 with([](lsc_reference_opts &o) { o.comparison = (lsc_comparison)2; }),
                 "comparison", "2");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT,
                 with([](lsc_reference_opts &o) { o.comparison = (lsc_comparison)-1; }),
                 "comparison");

    auto bad = x;
    bad[14 * D + 1] = NAN;
    snap.add_vec("bad", bad);
    lsc_matrix mb = lsc_matrix_f32(bad.data(), N, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, lsc_reference_create(ctx, &mb, 3, nullptr, &ref),
                 "real:", "row 14", "col 1", "NaN");
    auto z = x;
    for (int64_t c = 0; c < D; c++) z[0 * D + c] = 0.0f;
    snap.add_vec("z", z);
    lsc_matrix mz = lsc_matrix_f32(z.data(), N, D);
    lsc_reference_opts cos = LSC_REFERENCE_OPTS_INIT;
    cos.metric = LSC_METRIC_COSINE;
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, lsc_reference_create(ctx, &mz, 3, &cos, &ref),
                 "real:", "row 0", "zero");
    lsc_matrix dev = g;
    dev.memory = LSC_MEMORY_DEVICE;
    EXPECT_FAILS(LSC_STATUS_NOT_SUPPORTED, lsc_reference_create(ctx, &dev, 3, nullptr, &ref),
                 "device");

    // valid boundary: k = N - 1
    lsc_reference *r = nullptr;
    EXPECT_OK(lsc_reference_create(ctx, &g, N - 1, nullptr, &r));
    lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
    ASSERT_EQ(lsc_reference_info_get(r, &info), LSC_STATUS_OK);
    EXPECT_EQ(info.k, N - 1);
    lsc_reference_destroy(r);
}

TEST_F(Errors, ReferenceSaveLoadArguments)
{
    lsc_matrix g = good();
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &g, 3, nullptr, &ref), LSC_STATUS_OK);
    lsc_reference *out = (lsc_reference *)(uintptr_t)0x31;
    snap.add_obj("ref out", out);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_reference_save(ctx, nullptr, "/tmp/x.ref"), "ref",
                 "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_reference_save(ctx, ref, nullptr), "path",
                 "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_reference_save(ctx, ref, ""), "path", "empty");
    EXPECT_FAILS(LSC_STATUS_IO_ERROR,
                 lsc_reference_save(ctx, ref, "/nonexistent-lsc-dir/sub/x.ref"),
                 "/nonexistent-lsc-dir/sub/x.ref");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_reference_load(ctx, nullptr, &out), "path",
                 "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_reference_load(ctx, "", &out), "path", "empty");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_reference_load(ctx, "/tmp/x.ref", nullptr), "out",
                 "NULL");
    EXPECT_FAILS(LSC_STATUS_IO_ERROR,
                 lsc_reference_load(ctx, "/nonexistent-lsc-dir/missing.ref", &out),
                 "/nonexistent-lsc-dir/missing.ref");
    EXPECT_FAILS(LSC_STATUS_IO_ERROR, lsc_reference_load(ctx, "/", &out), "not a regular file");
    lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
    sentinel(info);
    snap.add_obj("info", info);
    EXPECT_EQ(lsc_reference_info_get(nullptr, &info), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_reference_info_get(ref, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    snap.check("lsc_reference_info_get");
    lsc_reference_destroy(ref);
}

TEST_F(Errors, Prdc)
{
    lsc_matrix g = good();
    lsc_reference *ref = nullptr, *cref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &g, 3, nullptr, &ref), LSC_STATUS_OK);
    lsc_reference_opts co = LSC_REFERENCE_OPTS_INIT;
    co.metric = LSC_METRIC_COSINE;
    ASSERT_EQ(lsc_reference_create(ctx, &g, 3, &co, &cref), LSC_STATUS_OK);
    const int64_t M = 10;
    auto f = data::gaussian(M, D, kSeed + 6);
    snap.add_vec("fake", f);
    lsc_matrix mf = lsc_matrix_f32(f.data(), M, D);
    lsc_prdc_result out = LSC_PRDC_RESULT_INIT;
    sentinel(out);
    snap.add_obj("out", out);
    std::vector<double> radii(lsc_reference_radii(ref), lsc_reference_radii(ref) + N);

    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_prdc(ctx, nullptr, &mf, &out), "ref", "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_prdc(ctx, ref, nullptr, &out), "fake", "NULL");
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_prdc(ctx, ref, &mf, nullptr), "out", "NULL");
    lsc_matrix wide = mat(f.data(), LSC_DTYPE_F32, 4, D + 1, D + 1);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_prdc(ctx, ref, &wide, &out), "cols");
    for (int64_t m : {(int64_t)3, (int64_t)2, (int64_t)1}) { // k = 3 needs M >= 4
        lsc_matrix few = mat(f.data(), LSC_DTYPE_F32, m, D, D);
        EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_prdc(ctx, ref, &few, &out), "k=3",
                     "4 fake rows");
    }
    lsc_matrix zero = mat(f.data(), LSC_DTYPE_F32, 0, D, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_ARGUMENT, lsc_prdc(ctx, ref, &zero, &out), "fake", "rows");
    auto bad = f;
    bad[7 * D + 2] = -INFINITY;
    snap.add_vec("bad", bad);
    lsc_matrix mb = lsc_matrix_f32(bad.data(), M, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, lsc_prdc(ctx, ref, &mb, &out), "fake:", "row 7", "col 2");
    auto z = f;
    for (int64_t c = 0; c < D; c++) z[5 * D + c] = 0.0f;
    snap.add_vec("z", z);
    lsc_matrix mz = lsc_matrix_f32(z.data(), M, D);
    EXPECT_FAILS(LSC_STATUS_INVALID_DATA, lsc_prdc(ctx, cref, &mz, &out), "fake:", "row 5", "zero");
    lsc_matrix dev = mf;
    dev.memory = LSC_MEMORY_DEVICE;
    EXPECT_FAILS(LSC_STATUS_NOT_SUPPORTED, lsc_prdc(ctx, ref, &dev, &out), "device");

    // the failures left the reference alone; M = k + 1 and a zero row under euclidean are valid
    EXPECT_EQ(0, std::memcmp(radii.data(), lsc_reference_radii(ref), N * sizeof(double)));
    lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
    lsc_matrix four = mat(f.data(), LSC_DTYPE_F32, 4, D, D);
    EXPECT_OK(lsc_prdc(ctx, ref, &four, &r));
    EXPECT_EQ(r.fake_rows, 4);
    EXPECT_OK(lsc_prdc(ctx, ref, &mz, &r));
    lsc_reference_destroy(ref);
    lsc_reference_destroy(cref);
}

/* ---------------------------------------------------------------------------------------------- */
/* context setters                                                                                */

TEST_F(Errors, ContextSetters)
{
    // the CPU backend accepts and ignores a stream
    EXPECT_OK(lsc_ctx_set_stream(ctx, (void *)(uintptr_t)0x1000));
    EXPECT_OK(lsc_ctx_set_stream(ctx, nullptr));
    EXPECT_OK(lsc_ctx_set_progress(ctx, nullptr, nullptr));
    EXPECT_OK(lsc_ctx_set_progress(
        ctx, [](double, void *) { return 0; }, nullptr));
    EXPECT_OK(lsc_ctx_set_progress(ctx, nullptr, (void *)(uintptr_t)1));
    EXPECT_EQ(lsc_ctx_set_stream(nullptr, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_ctx_set_progress(nullptr, nullptr, nullptr), LSC_STATUS_INVALID_ARGUMENT);
}

/* ---------------------------------------------------------------------------------------------- */
/* after an error: every operation still works, and success clears the message                   */

TEST_F(Errors, ContextUsableAfterEveryKindOfError)
{
    lsc_matrix g = good();
    auto bad = x;
    bad[3] = NAN;
    lsc_matrix mb = lsc_matrix_f32(bad.data(), N, D);
    lsc_spectrum_result sr = LSC_SPECTRUM_RESULT_INIT;
    std::vector<float> dist(N * N);
    std::vector<int64_t> idx(N * N);
    lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
    lsc_prdc_result prd = LSC_PRDC_RESULT_INIT;
    lsc_reference *ref = nullptr;
    lsc_spectrum_acc *acc = nullptr;

    auto fail = [&](int which) {
        lsc_status s = LSC_STATUS_OK;
        switch (which) {
        case 0: s = lsc_spectrum(ctx, &mb, nullptr, &sr, nullptr, nullptr); break;
        case 1: s = lsc_knn(ctx, &g, &g, 0, nullptr, dist.data(), idx.data()); break;
        case 2: s = lsc_reference_load(ctx, "/nonexistent-lsc-dir/r.ref", &ref); break;
        case 3:
            s = lsc_distances(ctx, &g, &g, (lsc_metric)5, dist.data(), N, LSC_MEMORY_HOST);
            break;
        }
        EXPECT_NE(s, LSC_STATUS_OK);
        EXPECT_STRNE(lsc_last_error(ctx), "");
    };
    for (int which = 0; which < 4; which++) {
        SCOPED_TRACE(which);
        fail(which);
        EXPECT_OK(lsc_spectrum(ctx, &g, nullptr, &sr, nullptr, nullptr));
        fail(which);
        EXPECT_OK(lsc_knn(ctx, &g, &g, 2, nullptr, dist.data(), idx.data()));
        fail(which);
        EXPECT_OK(
            lsc_distances(ctx, &g, &g, LSC_METRIC_EUCLIDEAN, dist.data(), N, LSC_MEMORY_HOST));
        fail(which);
        EXPECT_OK(lsc_pair_stats(ctx, &g, nullptr, &pr, nullptr, nullptr));
        fail(which);
        EXPECT_OK(lsc_reference_create(ctx, &g, 2, nullptr, &ref));
        fail(which);
        EXPECT_OK(lsc_prdc(ctx, ref, &g, &prd));
        lsc_reference_destroy(ref);
        ref = nullptr;
        fail(which);
        EXPECT_OK(lsc_spectrum_acc_create(ctx, D, nullptr, &acc));
        fail(which);
        EXPECT_OK(lsc_spectrum_acc_add(ctx, acc, &g));
        fail(which);
        EXPECT_OK(lsc_spectrum_acc_finalize(ctx, acc, &sr, nullptr, nullptr));
        lsc_spectrum_acc_destroy(acc);
        acc = nullptr;
        fail(which);
        EXPECT_OK(lsc_ctx_set_stream(ctx, nullptr));
        fail(which);
        EXPECT_OK(lsc_ctx_set_progress(ctx, nullptr, nullptr));
    }
}

} // namespace
