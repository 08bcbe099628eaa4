// Reference files: save then load gives the same reference; the loader refuses every truncated,
// corrupted, foreign, future-version or inconsistent file with BAD_FILE and a message (never a
// crash or a huge allocation), and unreadable or unwritable paths with IO_ERROR.
//
// The format (host/reference_file.c): 64-byte little-endian header, float32 rows, float64 radii,
// u64 checksum of every byte before it. The checksum is reimplemented here from that file's
// description so that tests can forge files whose only defect is the one under test.
#include "datasets.hpp"
#include "test_util.hpp"

#include <lsc.h>

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace {

const uint64_t kSeed = data::seed(777);
using Bytes = std::vector<unsigned char>;


/* ---------------------------------------------------------------------------------------------- */
/* the format, independently                                                                      */

uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
uint64_t le64(const unsigned char *p)
{
    uint64_t w = 0;
    for (int i = 7; i >= 0; i--) w = (w << 8) | p[i];
    return w;
}
void put_le(Bytes &b, size_t off, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) b[off + i] = (unsigned char)(v >> (8 * i));
}
uint64_t get_le(const Bytes &b, size_t off, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[off + i];
    return v;
}

// 8-byte little-endian words (the last one zero-padded) through multiply-rotate rounds, then
// the length mixed in and a splitmix64 finish.
uint64_t checksum(const unsigned char *p, size_t n)
{
    uint64_t h = 0;
    auto word = [&h](uint64_t w) {
        h ^= rotl64(w * 0x87c37b91114253d5ull, 31) * 0x4cf5ad432745937full;
        h = rotl64(h, 27) * 5 + 0x52dce729;
    };
    size_t i = 0;
    for (; i + 8 <= n; i += 8) word(le64(p + i));
    if (i < n) {
        unsigned char t[8] = {0};
        std::memcpy(t, p + i, n - i);
        word(le64(t));
    }
    uint64_t z = (h ^ (uint64_t)n) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Rewrites the trailing checksum so that it matches the rest of the file.
void fix_checksum(Bytes &b)
{
    ASSERT_GE(b.size(), 8u);
    put_le(b, b.size() - 8, checksum(b.data(), b.size() - 8), 8);
}

enum : size_t {
    OFF_VERSION = 8,
    OFF_HEADER = 12,
    OFF_ROWS = 16,
    OFF_COLS = 24,
    OFF_K = 32,
    OFF_METRIC = 40,
    OFF_CMP = 44,
    OFF_ZERO = 48,
    OFF_RESERVED = 56,
    HEADER = 64
};

/* ---------------------------------------------------------------------------------------------- */
/* files                                                                                          */

Bytes read_bytes(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
void write_bytes(const std::string &path, const Bytes &b)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char *>(b.data()), (std::streamsize)b.size());
    ASSERT_TRUE(f.good()) << path;
}

class RefFile : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string tmpl = ::testing::TempDir() + "lsc_reffile_XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        ASSERT_NE(mkdtemp(buf.data()), nullptr) << tmpl;
        dir = buf.data();
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.backend = LSC_BACKEND_CPU;
        p.threads = 2;
        ASSERT_EQ(lsc_ctx_create(&p, &ctx), LSC_STATUS_OK) << lsc_last_error(ctx);
    }
    void TearDown() override
    {
        // whatever was refused, the context still loads a good file
        if (!good_path.empty()) {
            lsc_reference *r = nullptr;
            EXPECT_EQ(lsc_reference_load(ctx, good_path.c_str(), &r), LSC_STATUS_OK)
                << lsc_last_error(ctx);
            EXPECT_STREQ(lsc_last_error(ctx), "");
            lsc_reference_destroy(r);
        }
        lsc_ctx_destroy(ctx);
        std::string cmd = "rm -rf '" + dir + "'";
        if (!dir.empty() && std::system(cmd.c_str()) != 0) ADD_FAILURE() << cmd;
    }
    std::string path(const std::string &name) const { return dir + "/" + name; }

    // A small reference saved to `good_path`; returns its bytes.
    Bytes small_file(int64_t n = 6, int64_t d = 2, int64_t k = 2,
                     lsc_metric metric = LSC_METRIC_EUCLIDEAN)
    {
        x = data::gaussian(n, d, kSeed);
        lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
        lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
        o.metric = metric;
        lsc_reference *ref = nullptr;
        EXPECT_EQ(lsc_reference_create(ctx, &m, k, &o, &ref), LSC_STATUS_OK) << lsc_last_error(ctx);
        good_path = path("good.ref");
        EXPECT_EQ(lsc_reference_save(ctx, ref, good_path.c_str()), LSC_STATUS_OK)
            << lsc_last_error(ctx);
        lsc_reference_destroy(ref);
        return read_bytes(good_path);
    }

    // Loads `bytes` from a file and expects `want` with a message that names the file and
    // contains every word; *out must stay untouched.
    void expect_refused(const Bytes &bytes, lsc_status want,
                        std::initializer_list<std::string> words, const char *what)
    {
        SCOPED_TRACE(what);
        std::string p = path("bad.ref");
        write_bytes(p, bytes);
        lsc_reference *out = (lsc_reference *)(uintptr_t)0xBADF;
        lsc_status s = lsc_reference_load(ctx, p.c_str(), &out);
        EXPECT_EQ(s, want) << lsc_status_name(s) << ": " << lsc_last_error(ctx);
        EXPECT_EQ(out, (lsc_reference *)(uintptr_t)0xBADF) << "*out written on failure";
        if (s == LSC_STATUS_OK) lsc_reference_destroy(out);
        const char *msg = lsc_last_error(ctx);
        EXPECT_TRUE(mentions(msg, p)) << "message does not name the file: " << msg;
        for (const auto &w : words)
            EXPECT_TRUE(mentions(msg, w)) << "message \"" << msg << "\" lacks \"" << w << "\"";
    }

    lsc_ctx *ctx = nullptr;
    std::string dir, good_path;
    std::vector<float> x;
};

/* ---------------------------------------------------------------------------------------------- */
/* round trips                                                                                    */

void expect_same_info(const lsc_reference_info &a, const lsc_reference_info &b)
{
    EXPECT_EQ(a.rows, b.rows);
    EXPECT_EQ(a.cols, b.cols);
    EXPECT_EQ(a.k, b.k);
    EXPECT_EQ(a.metric, b.metric);
    EXPECT_EQ(a.comparison, b.comparison);
    EXPECT_EQ(a.zero_radii, b.zero_radii);
}

TEST_F(RefFile, SaveThenLoadGivesTheSameReference)
{
    const int64_t n = 40, d = 6, m = 25;
    auto real = data::gaussian(n, d, kSeed + 1);
    // three copies of row 0: with k = 2 their radii are exactly 0
    for (int64_t c = 0; c < d; c++) real[7 * d + c] = real[11 * d + c] = real[c];
    auto fake = data::gaussian(m, d, kSeed + 2, 0.3, 1.2);
    lsc_matrix rm = lsc_matrix_f32(real.data(), n, d), fm = lsc_matrix_f32(fake.data(), m, d);
    struct Case {
        lsc_metric metric;
        lsc_comparison cmp;
        int64_t k;
    } cases[] = {{LSC_METRIC_EUCLIDEAN, LSC_COMPARISON_STRICT, 2},
                 {LSC_METRIC_EUCLIDEAN, LSC_COMPARISON_INCLUSIVE, 5},
                 {LSC_METRIC_COSINE, LSC_COMPARISON_STRICT, 3},
                 {LSC_METRIC_COSINE, LSC_COMPARISON_INCLUSIVE, 2}};
    for (const auto &c : cases) {
        SCOPED_TRACE(testing::Message() << "metric " << c.metric << " comparison " << c.cmp
                                        << " k " << c.k);
        lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
        o.metric = c.metric;
        o.comparison = c.cmp;
        lsc_reference *ref = nullptr, *back = nullptr;
        ASSERT_EQ(lsc_reference_create(ctx, &rm, c.k, &o, &ref), LSC_STATUS_OK)
            << lsc_last_error(ctx);
        std::string p = path("rt.ref");
        ASSERT_EQ(lsc_reference_save(ctx, ref, p.c_str()), LSC_STATUS_OK) << lsc_last_error(ctx);
        EXPECT_STREQ(lsc_last_error(ctx), "");
        ASSERT_EQ(lsc_reference_load(ctx, p.c_str(), &back), LSC_STATUS_OK) << lsc_last_error(ctx);
        EXPECT_STREQ(lsc_last_error(ctx), "");
        lsc_reference_info a = LSC_REFERENCE_INFO_INIT, b = LSC_REFERENCE_INFO_INIT;
        ASSERT_EQ(lsc_reference_info_get(ref, &a), LSC_STATUS_OK);
        ASSERT_EQ(lsc_reference_info_get(back, &b), LSC_STATUS_OK);
        expect_same_info(a, b);
        EXPECT_EQ(b.rows, n);
        EXPECT_EQ(b.cols, d);
        EXPECT_EQ(b.k, c.k);
        EXPECT_EQ(b.metric, c.metric);
        EXPECT_EQ(b.comparison, c.cmp);
        if (c.metric == LSC_METRIC_EUCLIDEAN && c.k == 2) {
            EXPECT_EQ(b.zero_radii, 3);
        }
        EXPECT_EQ(0, std::memcmp(lsc_reference_radii(ref), lsc_reference_radii(back),
                                 (size_t)n * sizeof(double)))
            << "radii differ after the round trip";
        lsc_prdc_result pa = LSC_PRDC_RESULT_INIT, pb = LSC_PRDC_RESULT_INIT;
        ASSERT_EQ(lsc_prdc(ctx, ref, &fm, &pa), LSC_STATUS_OK) << lsc_last_error(ctx);
        ASSERT_EQ(lsc_prdc(ctx, back, &fm, &pb), LSC_STATUS_OK) << lsc_last_error(ctx);
        EXPECT_EQ(pa.precision, pb.precision);
        EXPECT_EQ(pa.recall, pb.recall);
        EXPECT_EQ(pa.density, pb.density);
        EXPECT_EQ(pa.coverage, pb.coverage);
        EXPECT_EQ(pa.k, pb.k);
        EXPECT_EQ(pa.real_rows, pb.real_rows);
        EXPECT_EQ(pa.zero_radii_real, pb.zero_radii_real);
        EXPECT_EQ(pa.zero_radii_fake, pb.zero_radii_fake);
        EXPECT_EQ(pa.comparison, pb.comparison);
        EXPECT_EQ(pa.metric, pb.metric);
        // saving the loaded reference gives the very same bytes
        std::string p2 = path("rt2.ref");
        ASSERT_EQ(lsc_reference_save(ctx, back, p2.c_str()), LSC_STATUS_OK) << lsc_last_error(ctx);
        EXPECT_EQ(read_bytes(p), read_bytes(p2));
        lsc_reference_destroy(ref);
        lsc_reference_destroy(back);
    }
}

TEST_F(RefFile, LayoutMatchesTheFormat)
{
    // float64 input with padding: the file holds the dense float32 rows
    const int64_t n = 9, d = 3, ld = 5, k = 2;
    std::vector<double> src((size_t)(n * ld), 1e300); // padding is never read
    auto g = data::gaussian(n, d, kSeed + 3);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) src[i * ld + c] = (double)g[i * d + c] + 1e-9;
    lsc_matrix m{src.data(), LSC_DTYPE_F64, n, d, ld, LSC_MEMORY_HOST};
    lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
    o.metric = LSC_METRIC_COSINE;
    o.comparison = LSC_COMPARISON_INCLUSIVE;
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &m, k, &o, &ref), LSC_STATUS_OK) << lsc_last_error(ctx);
    std::string p = path("layout.ref");
    ASSERT_EQ(lsc_reference_save(ctx, ref, p.c_str()), LSC_STATUS_OK) << lsc_last_error(ctx);
    Bytes b = read_bytes(p);
    ASSERT_EQ(b.size(), (size_t)(HEADER + 4 * n * d + 8 * n + 8));
    EXPECT_EQ(0, std::memcmp(b.data(), "\x89LSCREF\n", 8));
    EXPECT_EQ(get_le(b, OFF_VERSION, 4), 1u);
    EXPECT_EQ(get_le(b, OFF_HEADER, 4), 64u);
    EXPECT_EQ((int64_t)get_le(b, OFF_ROWS, 8), n);
    EXPECT_EQ((int64_t)get_le(b, OFF_COLS, 8), d);
    EXPECT_EQ((int64_t)get_le(b, OFF_K, 8), k);
    EXPECT_EQ(get_le(b, OFF_METRIC, 4), (uint64_t)LSC_METRIC_COSINE);
    EXPECT_EQ(get_le(b, OFF_CMP, 4), (uint64_t)LSC_COMPARISON_INCLUSIVE);
    EXPECT_EQ(get_le(b, OFF_ZERO, 8), 0u);
    EXPECT_EQ(get_le(b, OFF_RESERVED, 8), 0u);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) {
            float f;
            std::memcpy(&f, &b[HEADER + 4 * (i * d + c)], 4);
            EXPECT_EQ(f, (float)src[i * ld + c]) << i << "," << c;
        }
    // the checksum is the one the format describes
    EXPECT_EQ(get_le(b, b.size() - 8, 8), checksum(b.data(), b.size() - 8));
    // radii: internal values, 2 x cosine distance for the cosine metric
    const double *radii = lsc_reference_radii(ref);
    for (int64_t i = 0; i < n; i++) {
        double v;
        std::memcpy(&v, &b[HEADER + 4 * n * d + 8 * i], 8);
        EXPECT_NEAR(v, 2.0 * radii[i], 1e-15 + 1e-12 * radii[i]) << i;
    }
    lsc_reference_destroy(ref);
}

/* ---------------------------------------------------------------------------------------------- */
/* damaged files                                                                                  */

TEST_F(RefFile, EveryTruncationIsRefused)
{
    Bytes b = small_file();
    ASSERT_EQ(b.size(), (size_t)(64 + 4 * 6 * 2 + 8 * 6 + 8));
    for (size_t len = 0; len < b.size(); len++) {
        Bytes t(b.begin(), b.begin() + (long)len);
        std::string what = "truncated to " + std::to_string(len) + " bytes";
        expect_refused(t, LSC_STATUS_BAD_FILE, {len < 64 ? "short" : "truncated"}, what.c_str());
        if (HasFailure()) break; // one length's report is enough
    }
}

TEST_F(RefFile, EveryFlippedBitIsRefused)
{
    Bytes b = small_file();
    for (size_t pos = 0; pos < b.size(); pos++)
        for (int bit = 0; bit < 8; bit++) {
            Bytes t = b;
            t[pos] ^= (unsigned char)(1u << bit);
            std::string what = "bit " + std::to_string(bit) + " of byte " + std::to_string(pos);
            expect_refused(t, LSC_STATUS_BAD_FILE, {}, what.c_str());
            if (HasFailure()) return;
        }
}

TEST_F(RefFile, FlippedBitsInALargerFile)
{
    Bytes b = small_file(300, 17, 5);
    ASSERT_EQ(b.size(), (size_t)(64 + 4 * 300 * 17 + 8 * 300 + 8));
    // every header byte, then a stride through rows, radii and the checksum
    std::vector<size_t> positions;
    for (size_t p = 0; p < HEADER; p++) positions.push_back(p);
    for (size_t p = HEADER; p < b.size(); p += 97) positions.push_back(p);
    for (size_t p = b.size() - 8 * 300 - 8; p < b.size(); p += 13) positions.push_back(p);
    for (size_t p = b.size() - 8; p < b.size(); p++) positions.push_back(p);
    for (size_t pos : positions) {
        Bytes t = b;
        t[pos] ^= (unsigned char)(1u << (pos % 8));
        std::string what = "byte " + std::to_string(pos);
        expect_refused(t, LSC_STATUS_BAD_FILE, {}, what.c_str());
        if (HasFailure()) return;
    }
}

TEST_F(RefFile, ForeignFiles)
{
    small_file();
    std::string text;
    for (int i = 0; i < 20; i++) text += "this is a text file, not a reference\n";
    expect_refused(Bytes(text.begin(), text.end()), LSC_STATUS_BAD_FILE, {"magic"}, "text");
    expect_refused(Bytes(), LSC_STATUS_BAD_FILE, {"0 bytes"}, "empty file");
    expect_refused(Bytes(200, 0), LSC_STATUS_BAD_FILE, {"magic"}, "zeros");
    Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    png.resize(300, 0x42);
    expect_refused(png, LSC_STATUS_BAD_FILE, {"magic"}, "png");
    // a reference mangled by a text-mode transfer (\n -> \r\n)
    Bytes good = read_bytes(good_path);
    Bytes crlf;
    for (unsigned char c : good) {
        if (c == '\n') crlf.push_back('\r');
        crlf.push_back(c);
    }
    expect_refused(crlf, LSC_STATUS_BAD_FILE, {"magic"}, "crlf");
    // the magic without its high byte
    Bytes low = good;
    low[0] = 0x09;
    fix_checksum(low);
    expect_refused(low, LSC_STATUS_BAD_FILE, {"magic"}, "7-bit magic");
}

TEST_F(RefFile, FutureVersionIsRefusedByVersion)
{
    Bytes b = small_file();
    for (uint64_t v : {2ull, 3ull, 0x7fffffffull, 0xffffffffull}) {
        Bytes t = b;
        put_le(t, OFF_VERSION, v, 4);
        std::string what = "version " + std::to_string(v);
        // refused on the version itself, before the checksum is looked at ...
        expect_refused(t, LSC_STATUS_BAD_FILE, {what}, (what + ", stale checksum").c_str());
        // ... and also with a checksum that matches
        fix_checksum(t);
        expect_refused(t, LSC_STATUS_BAD_FILE, {what}, (what + ", valid checksum").c_str());
    }
    Bytes t = b;
    put_le(t, OFF_VERSION, 0, 4);
    fix_checksum(t);
    expect_refused(t, LSC_STATUS_BAD_FILE, {"version 0"}, "version 0");
    // the unmodified file with a recomputed checksum still loads (the forging is sound)
    Bytes same = b;
    fix_checksum(same);
    EXPECT_EQ(same, b);
}

TEST_F(RefFile, TrailingBytesAreRefused)
{
    Bytes b = small_file();
    for (size_t extra : {1, 7, 8, 9, 100, 4096}) {
        Bytes t = b;
        t.resize(b.size() + extra, 0);
        std::string what = std::to_string(extra) + " trailing bytes";
        expect_refused(t, LSC_STATUS_BAD_FILE, {"trailing"}, what.c_str());
        fix_checksum(t); // a checksum at the new end does not make it valid
        expect_refused(t, LSC_STATUS_BAD_FILE, {"trailing"}, (what + ", checksum fixed").c_str());
    }
    // two references back to back
    Bytes two = b;
    two.insert(two.end(), b.begin(), b.end());
    expect_refused(two, LSC_STATUS_BAD_FILE, {"trailing"}, "concatenated");
}

TEST_F(RefFile, HeaderFieldsAreChecked)
{
    Bytes b = small_file(); // 6 rows, 2 cols, k 2, euclidean, strict
    const int64_t imax = std::numeric_limits<int64_t>::max();
    struct Edit {
        const char *what;
        size_t off;
        int width;
        uint64_t value;
        const char *word;
    } edits[] = {
        {"header size 0", OFF_HEADER, 4, 0, "header size"},
        {"header size 63", OFF_HEADER, 4, 63, "header size"},
        {"header size 128", OFF_HEADER, 4, 128, "header size"},
        {"rows 2^62", OFF_ROWS, 8, 1ull << 62, "overflow"},
        {"rows max", OFF_ROWS, 8, (uint64_t)imax, "overflow"},
        {"cols 2^62", OFF_COLS, 8, 1ull << 62, "overflow"},
        {"cols max", OFF_COLS, 8, (uint64_t)imax, "overflow"},
        {"rows 2^40", OFF_ROWS, 8, 1ull << 40, "bytes"},
        {"cols 2^33", OFF_COLS, 8, 1ull << 33, "bytes"},
        {"rows 7", OFF_ROWS, 8, 7, "bytes"},
        {"rows -1", OFF_ROWS, 8, (uint64_t)-1, "rows"},
        {"rows min", OFF_ROWS, 8, 1ull << 63, "rows"},
        {"rows 1", OFF_ROWS, 8, 1, "rows"},
        {"rows 0", OFF_ROWS, 8, 0, "rows"},
        {"cols 0", OFF_COLS, 8, 0, "cols"},
        {"cols -5", OFF_COLS, 8, (uint64_t)-5, "cols"},
        {"k 0", OFF_K, 8, 0, "k=0"},
        {"k -1", OFF_K, 8, (uint64_t)-1, "k=-1"},
        {"k = rows", OFF_K, 8, 6, "k=6"},
        {"k huge", OFF_K, 8, 1ull << 62, "k="},
        {"metric sqeuclidean", OFF_METRIC, 4, LSC_METRIC_SQEUCLIDEAN, "metric"},
        {"metric 99", OFF_METRIC, 4, 99, "metric"},
        {"metric -1", OFF_METRIC, 4, 0xffffffffu, "metric"},
        {"comparison 2", OFF_CMP, 4, 2, "comparison"},
        {"comparison -1", OFF_CMP, 4, 0xffffffffu, "comparison"},
        {"zero radii 1", OFF_ZERO, 8, 1, "zero radii"},
        {"zero radii -1", OFF_ZERO, 8, (uint64_t)-1, "zero radii"},
    };
    for (const auto &e : edits) {
        Bytes t = b;
        put_le(t, e.off, e.value, e.width);
        fix_checksum(t);
        // BAD_FILE, not OUT_OF_MEMORY: nothing the size of the claim was allocated
        expect_refused(t, LSC_STATUS_BAD_FILE, {e.word}, e.what);
    }
}

TEST_F(RefFile, ContentsAreCheckedEvenWithAValidChecksum)
{
    Bytes b = small_file(); // 6 x 2
    const size_t data = HEADER, radii = HEADER + 4 * 6 * 2;
    auto put_f32 = [](Bytes &t, size_t off, float v) { std::memcpy(&t[off], &v, 4); };
    auto put_f64 = [](Bytes &t, size_t off, double v) { std::memcpy(&t[off], &v, 8); };
    struct Edit {
        const char *what;
        std::function<void(Bytes &)> edit;
        std::vector<std::string> words;
    } edits[] = {
        {"NaN in the rows", [&](Bytes &t) { put_f32(t, data + 4 * (4 * 2 + 1), NAN); },
         {"row 4", "col 1", "NaN"}},
        {"Inf in the rows", [&](Bytes &t) { put_f32(t, data + 4 * (0 * 2 + 0), -INFINITY); },
         {"row 0", "col 0", "Inf"}},
        {"negative radius", [&](Bytes &t) { put_f64(t, radii + 8 * 3, -1.0); }, {"radius 3"}},
        {"NaN radius", [&](Bytes &t) { put_f64(t, radii + 8 * 5, NAN); }, {"radius 5"}},
        {"Inf radius", [&](Bytes &t) { put_f64(t, radii + 8 * 0, INFINITY); }, {"radius 0"}},
        {"zero radius not counted", [&](Bytes &t) { put_f64(t, radii + 8 * 2, 0.0); },
         {"zero radii"}},
    };
    for (const auto &e : edits) {
        Bytes t = b;
        e.edit(t);
        fix_checksum(t);
        std::vector<std::string> w = e.words;
        SCOPED_TRACE(e.what);
        std::string p = path("bad.ref");
        write_bytes(p, t);
        lsc_reference *out = (lsc_reference *)(uintptr_t)0xBADF;
        lsc_status s = lsc_reference_load(ctx, p.c_str(), &out);
        EXPECT_EQ(s, LSC_STATUS_BAD_FILE) << lsc_status_name(s) << ": " << lsc_last_error(ctx);
        EXPECT_EQ(out, (lsc_reference *)(uintptr_t)0xBADF);
        for (const auto &word : w)
            EXPECT_TRUE(mentions(lsc_last_error(ctx), word)) << lsc_last_error(ctx) << " / " << word;
    }
    // a cosine reference whose rows hold an all-zero row
    Bytes c = small_file(6, 2, 2, LSC_METRIC_COSINE);
    put_f32(c, data + 4 * (3 * 2 + 0), 0.0f);
    put_f32(c, data + 4 * (3 * 2 + 1), 0.0f);
    fix_checksum(c);
    expect_refused(c, LSC_STATUS_BAD_FILE, {"row 3", "zero"}, "cosine zero row");
}

/* ---------------------------------------------------------------------------------------------- */
/* paths                                                                                          */

TEST_F(RefFile, UnreadablePathsAreIoErrors)
{
    small_file();
    lsc_reference *out = (lsc_reference *)(uintptr_t)0x10AD;
    std::string missing = path("does-not-exist.ref");
    EXPECT_EQ(lsc_reference_load(ctx, missing.c_str(), &out), LSC_STATUS_IO_ERROR);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), missing)) << lsc_last_error(ctx);
    EXPECT_EQ(lsc_reference_load(ctx, dir.c_str(), &out), LSC_STATUS_IO_ERROR) << "a directory";
    EXPECT_TRUE(mentions(lsc_last_error(ctx), dir)) << lsc_last_error(ctx);
    EXPECT_EQ(lsc_reference_load(ctx, "/dev/null", &out), LSC_STATUS_IO_ERROR) << "a device";
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "/dev/null")) << lsc_last_error(ctx);
    std::string through_file = good_path + "/x.ref"; // a path through a regular file
    EXPECT_EQ(lsc_reference_load(ctx, through_file.c_str(), &out), LSC_STATUS_IO_ERROR);
    EXPECT_EQ(out, (lsc_reference *)(uintptr_t)0x10AD);
}

TEST_F(RefFile, UnwritablePathsAreIoErrors)
{
    small_file();
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_load(ctx, good_path.c_str(), &ref), LSC_STATUS_OK);
    std::string nodir = path("no/such/dir/x.ref");
    EXPECT_EQ(lsc_reference_save(ctx, ref, nodir.c_str()), LSC_STATUS_IO_ERROR);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), nodir)) << lsc_last_error(ctx);
    struct stat st;
    EXPECT_NE(stat(nodir.c_str(), &st), 0);
    // the path is a directory: refused, and the directory is left alone
    std::string sub = path("subdir");
    ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
    EXPECT_EQ(lsc_reference_save(ctx, ref, sub.c_str()), LSC_STATUS_IO_ERROR);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), sub)) << lsc_last_error(ctx);
    EXPECT_EQ(stat(sub.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    // through a regular file
    std::string through = good_path + "/x.ref";
    EXPECT_EQ(lsc_reference_save(ctx, ref, through.c_str()), LSC_STATUS_IO_ERROR);
    // saving over an existing file replaces it
    std::string over = path("over.ref");
    write_bytes(over, Bytes(5000, 0x55));
    EXPECT_EQ(lsc_reference_save(ctx, ref, over.c_str()), LSC_STATUS_OK) << lsc_last_error(ctx);
    EXPECT_EQ(read_bytes(over), read_bytes(good_path));
    lsc_reference_destroy(ref);
}

TEST_F(RefFile, ALoadedReferenceIsIndependentOfItsFile)
{
    Bytes b = small_file(30, 4, 3);
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_load(ctx, good_path.c_str(), &ref), LSC_STATUS_OK);
    auto fake = data::gaussian(12, 4, kSeed + 9);
    lsc_matrix fm = lsc_matrix_f32(fake.data(), 12, 4);
    lsc_prdc_result a = LSC_PRDC_RESULT_INIT, c = LSC_PRDC_RESULT_INIT;
    ASSERT_EQ(lsc_prdc(ctx, ref, &fm, &a), LSC_STATUS_OK) << lsc_last_error(ctx);
    // overwrite and then remove the file: the reference in memory does not change
    write_bytes(good_path, Bytes(b.size(), 0));
    std::remove(good_path.c_str());
    ASSERT_EQ(lsc_prdc(ctx, ref, &fm, &c), LSC_STATUS_OK) << lsc_last_error(ctx);
    EXPECT_EQ(a.precision, c.precision);
    EXPECT_EQ(a.recall, c.recall);
    EXPECT_EQ(a.density, c.density);
    EXPECT_EQ(a.coverage, c.coverage);
    lsc_reference_destroy(ref);
    write_bytes(good_path, b); // for TearDown
}

} // namespace
