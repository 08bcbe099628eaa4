// Reference files: save then load gives the same reference; the loader refuses every truncated,
// corrupted, foreign, future-version or inconsistent file with BAD_FILE and a message (never a
// crash or a huge allocation), and unreadable or unwritable paths with IO_ERROR.
//
// The formats (host/reference_file.c's header comment), reimplemented here from that description
// so that tests can forge files whose only defect is the one under test:
//   version 1 (read, no longer written): 64-byte header, float32 rows, float64 radii, u64
//     checksum of every byte before it. build_v1 writes it; every version-1 test uses it.
//   version 2 (written): 128-byte header (with the table's checksum and its own), a table of
//     32-byte section entries {tag, flags, offset, length, checksum}, then the sections 'ROWS'
//     and 'RADV', each at the next 64-byte boundary. build_v2 / parse_v2 / fix_v2 / fix_section.
#include "datasets.hpp"
#include "test_util.hpp"

#include <lsc.h>

#include <gtest/gtest.h>

#include <algorithm>
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
void append_le(Bytes &b, uint64_t v, int n)
{
    b.resize(b.size() + n);
    put_le(b, b.size() - n, v, n);
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
uint64_t checksum(const Bytes &b) { return checksum(b.data(), b.size()); }

const char kMagic[] = "\x89LSCREF\n";

/* version 1 ------------------------------------------------------------------------------------ */

// Rewrites the trailing checksum of a version-1 file so that it matches the rest of the file.
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

// The fields both versions carry, and the two arrays.
struct Fields {
    int64_t rows = 0, cols = 0, k = 0;
    uint32_t metric = 0, cmp = 0;
    int64_t zero = 0;
};

// A version-1 file: the header, the rows, the radii (internal values), the checksum.
Bytes build_v1(const Fields &f, const Bytes &rows, const Bytes &radii)
{
    Bytes b(HEADER, 0);
    std::memcpy(b.data(), kMagic, 8);
    put_le(b, OFF_VERSION, 1, 4);
    put_le(b, OFF_HEADER, HEADER, 4);
    put_le(b, OFF_ROWS, (uint64_t)f.rows, 8);
    put_le(b, OFF_COLS, (uint64_t)f.cols, 8);
    put_le(b, OFF_K, (uint64_t)f.k, 8);
    put_le(b, OFF_METRIC, f.metric, 4);
    put_le(b, OFF_CMP, f.cmp, 4);
    put_le(b, OFF_ZERO, (uint64_t)f.zero, 8);
    // resize and copy (GCC 12 misreads insert at the end of a 64-byte vector as out of bounds)
    b.resize(HEADER + rows.size() + radii.size());
    std::copy(rows.begin(), rows.end(), b.begin() + HEADER);
    std::copy(radii.begin(), radii.end(), b.begin() + (long)(HEADER + rows.size()));
    append_le(b, checksum(b), 8);
    return b;
}

/* version 2 ------------------------------------------------------------------------------------ */

enum : size_t {
    V2_VERSION = 8,
    V2_HEADER_BYTES = 12,
    V2_COUNT = 16,
    V2_FLAGS = 20,
    V2_ROWS = 24,
    V2_COLS = 32,
    V2_K = 40,
    V2_METRIC = 48,
    V2_CMP = 52,
    V2_ZERO = 56,
    V2_TABLE_SUM = 64,
    V2_RESERVED = 72,
    V2_HEADER_SUM = 120,
    V2_HEADER = 128,
    V2_ENTRY = 32,
    // within an entry
    E_TAG = 0,
    E_FLAGS = 4,
    E_OFFSET = 8,
    E_LENGTH = 16,
    E_SUM = 24,
    ALIGN = 64
};
const uint32_t kRequired = 1;

struct Section {
    std::string tag; // four characters
    uint32_t flags;
    Bytes data;
};

// A version-2 file's contents: the fields, the sections in table order, and the order they
// take in the file (empty: the table's).
struct V2 {
    Fields f;
    std::vector<Section> sections;
    std::vector<size_t> file_order;
};

size_t align_up(size_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }
size_t entry_at(size_t i) { return V2_HEADER + V2_ENTRY * i; }
uint32_t tag_of(const std::string &t)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | (unsigned char)t[i];
    return v;
}

// Recomputes the table's checksum (over the entries the header counts, as far as the file holds
// them) and then the header's.
void fix_v2(Bytes &b)
{
    size_t n = (size_t)get_le(b, V2_COUNT, 4);
    size_t end = std::min(b.size(), entry_at(std::min<size_t>(n, 1u << 20)));
    put_le(b, V2_TABLE_SUM, checksum(b.data() + V2_HEADER, end - V2_HEADER), 8);
    put_le(b, V2_HEADER_SUM, checksum(b.data(), V2_HEADER_SUM), 8);
}

// The table index of the entry whose tag is `tag` (the first one), or SIZE_MAX.
size_t find_entry(const Bytes &b, const std::string &tag)
{
    size_t n = (size_t)get_le(b, V2_COUNT, 4);
    for (size_t i = 0; i < n && entry_at(i + 1) <= b.size(); i++)
        if (get_le(b, entry_at(i) + E_TAG, 4) == tag_of(tag)) return i;
    return SIZE_MAX;
}
uint64_t entry_field(const Bytes &b, const std::string &tag, size_t field)
{
    return get_le(b, entry_at(find_entry(b, tag)) + field, 8);
}
void set_entry(Bytes &b, const std::string &tag, size_t field, uint64_t v, int width = 8)
{
    put_le(b, entry_at(find_entry(b, tag)) + field, v, width);
}

// Recomputes the checksum of section `tag` from its bytes, then the table's and the header's.
void fix_section(Bytes &b, const std::string &tag)
{
    size_t off = (size_t)entry_field(b, tag, E_OFFSET), len = (size_t)entry_field(b, tag, E_LENGTH);
    set_entry(b, tag, E_SUM, checksum(b.data() + off, len));
    fix_v2(b);
}

// A valid version-2 file of v: each section (in file order) at the first 64-byte boundary after
// the table or the section before it, zero padding, every checksum right; `gap` extra zero
// bytes (a multiple of 64 keeps alignment) before the section in file position `gap_at`.
Bytes build_v2(const V2 &v, size_t gap = 0, size_t gap_at = 0)
{
    const size_t n = v.sections.size();
    std::vector<size_t> order = v.file_order;
    if (order.empty())
        for (size_t i = 0; i < n; i++) order.push_back(i);
    Bytes b(entry_at(n), 0);
    std::memcpy(b.data(), kMagic, 8);
    put_le(b, V2_VERSION, 2, 4);
    put_le(b, V2_HEADER_BYTES, V2_HEADER, 4);
    put_le(b, V2_COUNT, n, 4);
    put_le(b, V2_ROWS, (uint64_t)v.f.rows, 8);
    put_le(b, V2_COLS, (uint64_t)v.f.cols, 8);
    put_le(b, V2_K, (uint64_t)v.f.k, 8);
    put_le(b, V2_METRIC, v.f.metric, 4);
    put_le(b, V2_CMP, v.f.cmp, 4);
    put_le(b, V2_ZERO, (uint64_t)v.f.zero, 8);
    for (size_t pos = 0; pos < order.size(); pos++) {
        const Section &s = v.sections[order[pos]];
        b.resize(align_up(b.size()) + (pos == gap_at ? gap : 0), 0);
        size_t e = entry_at(order[pos]);
        put_le(b, e + E_TAG, tag_of(s.tag), 4);
        put_le(b, e + E_FLAGS, s.flags, 4);
        put_le(b, e + E_OFFSET, b.size(), 8);
        put_le(b, e + E_LENGTH, s.data.size(), 8);
        put_le(b, e + E_SUM, checksum(s.data), 8);
        b.insert(b.end(), s.data.begin(), s.data.end());
    }
    fix_v2(b);
    return b;
}

// The contents of a version-2 file (assumed sound: the tests parse what lsc wrote).
V2 parse_v2(const Bytes &b)
{
    V2 v;
    v.f.rows = (int64_t)get_le(b, V2_ROWS, 8);
    v.f.cols = (int64_t)get_le(b, V2_COLS, 8);
    v.f.k = (int64_t)get_le(b, V2_K, 8);
    v.f.metric = (uint32_t)get_le(b, V2_METRIC, 4);
    v.f.cmp = (uint32_t)get_le(b, V2_CMP, 4);
    v.f.zero = (int64_t)get_le(b, V2_ZERO, 8);
    for (size_t i = 0; i < get_le(b, V2_COUNT, 4); i++) {
        size_t e = entry_at(i), off = (size_t)get_le(b, e + E_OFFSET, 8);
        Section s{std::string(reinterpret_cast<const char *>(&b[e + E_TAG]), 4),
                  (uint32_t)get_le(b, e + E_FLAGS, 4), Bytes()};
        s.data.assign(b.begin() + (long)off, b.begin() + (long)(off + get_le(b, e + E_LENGTH, 8)));
        v.sections.push_back(s);
    }
    return v;
}

const Bytes &section_data(const V2 &v, const std::string &tag)
{
    for (const auto &s : v.sections)
        if (s.tag == tag) return s.data;
    ADD_FAILURE() << "no section " << tag;
    static const Bytes none;
    return none;
}

// The same reference as a version-1 file.
Bytes v1_from_v2(const Bytes &b)
{
    V2 v = parse_v2(b);
    return build_v1(v.f, section_data(v, "ROWS"), section_data(v, "RADV"));
}

// An optional (or required) section this library does not know, of `n` bytes.
Section foreign(const std::string &tag, size_t n, uint32_t flags = 0)
{
    Section s{tag, flags, Bytes(n)};
    for (size_t i = 0; i < n; i++) s.data[i] = (unsigned char)(i * 7 + 1);
    return s;
}

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

    // A small reference saved (version 2) to `good_path`; returns its bytes.
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
    // The same reference as a version-1 file (written by the test: lsc writes version 2).
    Bytes small_v1(int64_t n = 6, int64_t d = 2, int64_t k = 2,
                   lsc_metric metric = LSC_METRIC_EUCLIDEAN)
    {
        return v1_from_v2(small_file(n, d, k, metric));
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

    // Loads `bytes` from a file, expects success, and returns the reference (the caller
    // destroys it); nullptr on failure.
    lsc_reference *expect_loads(const Bytes &bytes, const char *what)
    {
        SCOPED_TRACE(what);
        std::string p = path("ok.ref");
        write_bytes(p, bytes);
        lsc_reference *out = nullptr;
        EXPECT_EQ(lsc_reference_load(ctx, p.c_str(), &out), LSC_STATUS_OK) << lsc_last_error(ctx);
        EXPECT_STREQ(lsc_last_error(ctx), "");
        return out;
    }

    lsc_ctx *ctx = nullptr;
    std::string dir, good_path;
    std::vector<float> x;
};

lsc_reference_info info_of(const lsc_reference *r)
{
    lsc_reference_info i = LSC_REFERENCE_INFO_INIT;
    EXPECT_EQ(lsc_reference_info_get(r, &i), LSC_STATUS_OK);
    return i;
}

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
        SCOPED_TRACE(testing::Message()
                     << "metric " << c.metric << " comparison " << c.cmp << " k " << c.k);
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
        EXPECT_EQ(a.file_version, 0) << "a reference built in memory has no file version";
        EXPECT_EQ(b.file_version, 2);
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
        // the same reference in a version-1 file loads to the same reference, reporting version
        // 1, and saving it writes the version-2 file again
        lsc_reference *old = expect_loads(v1_from_v2(read_bytes(p)), "as version 1");
        ASSERT_NE(old, nullptr);
        lsc_reference_info i1 = info_of(old);
        expect_same_info(a, i1);
        EXPECT_EQ(i1.file_version, 1);
        EXPECT_EQ(0, std::memcmp(lsc_reference_radii(ref), lsc_reference_radii(old),
                                 (size_t)n * sizeof(double)));
        lsc_prdc_result p1 = LSC_PRDC_RESULT_INIT;
        ASSERT_EQ(lsc_prdc(ctx, old, &fm, &p1), LSC_STATUS_OK) << lsc_last_error(ctx);
        EXPECT_EQ(std::memcmp(&p1, &pa, sizeof p1), 0);
        ASSERT_EQ(lsc_reference_save(ctx, old, p2.c_str()), LSC_STATUS_OK) << lsc_last_error(ctx);
        EXPECT_EQ(read_bytes(p), read_bytes(p2)) << "a version-1 reference saved again";
        lsc_reference_destroy(old);
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
    // header
    ASSERT_GE(b.size(), (size_t)V2_HEADER);
    EXPECT_EQ(0, std::memcmp(b.data(), kMagic, 8));
    EXPECT_EQ(get_le(b, V2_VERSION, 4), 2u);
    EXPECT_EQ(get_le(b, V2_HEADER_BYTES, 4), 128u);
    EXPECT_EQ(get_le(b, V2_COUNT, 4), 2u);
    EXPECT_EQ(get_le(b, V2_FLAGS, 4), 0u);
    EXPECT_EQ((int64_t)get_le(b, V2_ROWS, 8), n);
    EXPECT_EQ((int64_t)get_le(b, V2_COLS, 8), d);
    EXPECT_EQ((int64_t)get_le(b, V2_K, 8), k);
    EXPECT_EQ(get_le(b, V2_METRIC, 4), (uint64_t)LSC_METRIC_COSINE);
    EXPECT_EQ(get_le(b, V2_CMP, 4), (uint64_t)LSC_COMPARISON_INCLUSIVE);
    EXPECT_EQ(get_le(b, V2_ZERO, 8), 0u);
    for (size_t i = V2_RESERVED; i < V2_HEADER_SUM; i++) EXPECT_EQ(b[i], 0) << "reserved " << i;
    EXPECT_EQ(get_le(b, V2_HEADER_SUM, 8), checksum(b.data(), V2_HEADER_SUM));
    EXPECT_EQ(get_le(b, V2_TABLE_SUM, 8), checksum(b.data() + V2_HEADER, 2 * V2_ENTRY));
    // the table: ROWS then RADV, required, each at the next 64-byte boundary, with its checksum
    const size_t rows_at = align_up(entry_at(2)), rows_len = 4 * n * d;
    const size_t radv_at = align_up(rows_at + rows_len), radv_len = 8 * n;
    EXPECT_EQ(rows_at, 192u);
    EXPECT_EQ(get_le(b, entry_at(0) + E_TAG, 4), tag_of("ROWS"));
    EXPECT_EQ(0, std::memcmp(&b[entry_at(0)], "ROWS", 4)) << "tags are in file order";
    EXPECT_EQ(get_le(b, entry_at(1) + E_TAG, 4), tag_of("RADV"));
    struct Want {
        size_t entry, offset, length;
    } want[] = {{0, rows_at, rows_len}, {1, radv_at, radv_len}};
    for (const auto &w : want) {
        size_t e = entry_at(w.entry);
        EXPECT_EQ(get_le(b, e + E_FLAGS, 4), kRequired);
        EXPECT_EQ(get_le(b, e + E_OFFSET, 8), w.offset);
        EXPECT_EQ(get_le(b, e + E_LENGTH, 8), w.length);
        EXPECT_EQ(get_le(b, e + E_SUM, 8), checksum(&b[w.offset], w.length));
    }
    ASSERT_EQ(b.size(), radv_at + radv_len);
    for (size_t i = rows_at + rows_len; i < radv_at; i++) EXPECT_EQ(b[i], 0) << "padding " << i;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) {
            float f;
            std::memcpy(&f, &b[rows_at + 4 * (i * d + c)], 4);
            EXPECT_EQ(f, (float)src[i * ld + c]) << i << "," << c;
        }
    // radii: internal values, 2 x cosine distance for the cosine metric
    const double *radii = lsc_reference_radii(ref);
    for (int64_t i = 0; i < n; i++) {
        double v;
        std::memcpy(&v, &b[radv_at + 8 * i], 8);
        EXPECT_NEAR(v, 2.0 * radii[i], 1e-15 + 1e-12 * radii[i]) << i;
    }
    // the test's own writer gives the same bytes from the parsed contents
    EXPECT_EQ(build_v2(parse_v2(b)), b);
    lsc_reference_destroy(ref);
}

TEST_F(RefFile, Version1LayoutOfTheTestWriter)
{
    // the version-1 files every version-1 test loads: the layout of the format comment
    Bytes v2 = small_file(), b = v1_from_v2(v2);
    const int64_t n = 6, d = 2;
    ASSERT_EQ(b.size(), (size_t)(HEADER + 4 * n * d + 8 * n + 8));
    EXPECT_EQ(0, std::memcmp(b.data(), kMagic, 8));
    EXPECT_EQ(get_le(b, OFF_VERSION, 4), 1u);
    EXPECT_EQ(get_le(b, OFF_HEADER, 4), 64u);
    EXPECT_EQ((int64_t)get_le(b, OFF_ROWS, 8), n);
    EXPECT_EQ((int64_t)get_le(b, OFF_COLS, 8), d);
    EXPECT_EQ(get_le(b, OFF_K, 8), 2u);
    EXPECT_EQ(get_le(b, OFF_RESERVED, 8), 0u);
    EXPECT_EQ(0, std::memcmp(&b[HEADER], &v2[192], 4 * n * d)) << "rows";
    EXPECT_EQ(0, std::memcmp(&b[HEADER + 4 * n * d], &v2[256], 8 * n)) << "radii";
    EXPECT_EQ(get_le(b, b.size() - 8, 8), checksum(b.data(), b.size() - 8));
    lsc_reference *r = expect_loads(b, "version 1");
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(info_of(r).file_version, 1);
    lsc_reference_destroy(r);
}

/* ---------------------------------------------------------------------------------------------- */
/* damaged version-1 files                                                                        */

TEST_F(RefFile, EveryTruncationIsRefused)
{
    Bytes b = small_v1();
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
    Bytes b = small_v1();
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
    Bytes b = small_v1(300, 17, 5);
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
    Bytes v1 = small_v1(), v2 = read_bytes(good_path);
    std::string text;
    for (int i = 0; i < 20; i++) text += "this is a text file, not a reference\n";
    expect_refused(Bytes(text.begin(), text.end()), LSC_STATUS_BAD_FILE, {"magic"}, "text");
    expect_refused(Bytes(), LSC_STATUS_BAD_FILE, {"0 bytes"}, "empty file");
    expect_refused(Bytes(200, 0), LSC_STATUS_BAD_FILE, {"magic"}, "zeros");
    Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    png.resize(300, 0x42);
    expect_refused(png, LSC_STATUS_BAD_FILE, {"magic"}, "png");
    for (const Bytes *good : {&v1, &v2}) {
        SCOPED_TRACE(good == &v1 ? "version 1" : "version 2");
        // a reference mangled by a text-mode transfer (\n -> \r\n)
        Bytes crlf;
        for (unsigned char c : *good) {
            if (c == '\n') crlf.push_back('\r');
            crlf.push_back(c);
        }
        expect_refused(crlf, LSC_STATUS_BAD_FILE, {"magic"}, "crlf");
        // the magic without its high byte
        Bytes low = *good;
        low[0] = 0x09;
        if (good == &v1) fix_checksum(low);
        else fix_v2(low);
        expect_refused(low, LSC_STATUS_BAD_FILE, {"magic"}, "7-bit magic");
    }
}

TEST_F(RefFile, FutureVersionIsRefusedByVersion)
{
    Bytes b = small_v1(), b2 = read_bytes(good_path);
    for (uint64_t v : {3ull, 4ull, 0x7fffffffull, 0xffffffffull}) {
        std::string what = "version " + std::to_string(v);
        for (const Bytes *file : {&b, &b2}) {
            Bytes t = *file;
            put_le(t, OFF_VERSION, v, 4);
            std::string from = file == &b ? ", from version 1" : ", from version 2";
            // refused on the version itself, naming this library's, before any checksum is
            // looked at ...
            expect_refused(t, LSC_STATUS_BAD_FILE, {what, lsc_version(), "versions 1 to 2"},
                           (what + from + ", stale checksum").c_str());
            // ... and also with checksums that match
            if (file == &b) fix_checksum(t);
            else fix_v2(t);
            expect_refused(t, LSC_STATUS_BAD_FILE, {what, lsc_version()},
                           (what + from + ", valid checksum").c_str());
        }
    }
    // a version 3 whose header is nothing like version 2's
    Bytes v3(4096, 0xA5);
    std::memcpy(v3.data(), kMagic, 8);
    put_le(v3, OFF_VERSION, 3, 4);
    put_le(v3, OFF_HEADER, 4000, 4);
    expect_refused(v3, LSC_STATUS_BAD_FILE, {"version 3", lsc_version()}, "a version 3 file");
    Bytes t = b;
    put_le(t, OFF_VERSION, 0, 4);
    fix_checksum(t);
    expect_refused(t, LSC_STATUS_BAD_FILE, {"version 0"}, "version 0");
    // a version-1 file that says version 2, and the reverse: each is read by the other layout
    // and refused on its header size
    t = b;
    put_le(t, OFF_VERSION, 2, 4);
    fix_checksum(t);
    expect_refused(t, LSC_STATUS_BAD_FILE, {"header size 64"}, "version 1 file saying 2");
    t = b2;
    put_le(t, V2_VERSION, 1, 4);
    fix_v2(t);
    expect_refused(t, LSC_STATUS_BAD_FILE, {"header size 128"}, "version 2 file saying 1");
    // the unmodified file with a recomputed checksum still loads (the forging is sound)
    Bytes same = b;
    fix_checksum(same);
    EXPECT_EQ(same, b);
    same = b2;
    fix_v2(same);
    EXPECT_EQ(same, b2);
}

TEST_F(RefFile, TrailingBytesAreRefused)
{
    Bytes b = small_v1();
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
    Bytes b = small_v1(); // 6 rows, 2 cols, k 2, euclidean, strict
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

// Edits of the rows and radii that every checksum allows: the values themselves are checked.
struct ContentEdit {
    const char *what;
    std::function<void(Bytes &, size_t rows_at, size_t radii_at)> edit;
    std::vector<std::string> words;
};
void put_f32(Bytes &t, size_t off, float v) { std::memcpy(&t[off], &v, 4); }
void put_f64(Bytes &t, size_t off, double v) { std::memcpy(&t[off], &v, 8); }
std::vector<ContentEdit> content_edits()
{
    return {
        {"NaN in the rows",
         [](Bytes &t, size_t d, size_t) { put_f32(t, d + 4 * (4 * 2 + 1), NAN); },
         {"row 4", "col 1", "NaN"}},
        {"Inf in the rows",
         [](Bytes &t, size_t d, size_t) { put_f32(t, d + 4 * (0 * 2 + 0), -INFINITY); },
         {"row 0", "col 0", "Inf"}},
        {"negative radius",
         [](Bytes &t, size_t, size_t r) { put_f64(t, r + 8 * 3, -1.0); },
         {"radius 3"}},
        {"NaN radius",
         [](Bytes &t, size_t, size_t r) { put_f64(t, r + 8 * 5, NAN); },
         {"radius 5"}},
        {"Inf radius",
         [](Bytes &t, size_t, size_t r) { put_f64(t, r + 8 * 0, INFINITY); },
         {"radius 0"}},
        {"zero radius not counted",
         [](Bytes &t, size_t, size_t r) { put_f64(t, r + 8 * 2, 0.0); },
         {"zero radii"}},
        {"cosine zero row (a euclidean file)",
         [](Bytes &t, size_t d, size_t) {
             put_f32(t, d + 4 * (3 * 2 + 0), 0.0f);
             put_f32(t, d + 4 * (3 * 2 + 1), 0.0f);
         },
         {}}, // allowed for euclidean: loads
    };
}

TEST_F(RefFile, ContentsAreCheckedEvenWithAValidChecksum)
{
    Bytes b = small_v1(); // 6 x 2
    const size_t data = HEADER, radii = HEADER + 4 * 6 * 2;
    for (const auto &e : content_edits()) {
        Bytes t = b;
        e.edit(t, data, radii);
        fix_checksum(t);
        if (e.words.empty()) {
            lsc_reference_destroy(expect_loads(t, e.what));
            continue;
        }
        SCOPED_TRACE(e.what);
        std::string p = path("bad.ref");
        write_bytes(p, t);
        lsc_reference *out = (lsc_reference *)(uintptr_t)0xBADF;
        lsc_status s = lsc_reference_load(ctx, p.c_str(), &out);
        EXPECT_EQ(s, LSC_STATUS_BAD_FILE) << lsc_status_name(s) << ": " << lsc_last_error(ctx);
        EXPECT_EQ(out, (lsc_reference *)(uintptr_t)0xBADF);
        for (const auto &word : e.words)
            EXPECT_TRUE(mentions(lsc_last_error(ctx), word))
                << lsc_last_error(ctx) << " / " << word;
    }
    // a cosine reference whose rows hold an all-zero row
    Bytes c = small_v1(6, 2, 2, LSC_METRIC_COSINE);
    put_f32(c, data + 4 * (3 * 2 + 0), 0.0f);
    put_f32(c, data + 4 * (3 * 2 + 1), 0.0f);
    fix_checksum(c);
    expect_refused(c, LSC_STATUS_BAD_FILE, {"row 3", "zero"}, "cosine zero row");
}

/* ---------------------------------------------------------------------------------------------- */
/* damaged version-2 files                                                                        */

TEST_F(RefFile, V2EveryTruncationIsRefused)
{
    // every length: inside the header, the table, each section and each padding, and at each
    // boundary between them (128, 192, 240, 256)
    Bytes b = small_file();
    ASSERT_EQ(b.size(), 256u + 8 * 6);
    ASSERT_EQ(entry_field(b, "RADV", E_OFFSET), 256u);
    for (size_t len = 0; len < b.size(); len++) {
        Bytes t(b.begin(), b.begin() + (long)len);
        std::string what = "truncated to " + std::to_string(len) + " bytes";
        const char *word = len < 128 ? "short" : len < 192 ? "section table" : "past the end";
        expect_refused(t, LSC_STATUS_BAD_FILE, {word}, what.c_str());
        if (len >= 128) expect_refused(t, LSC_STATUS_BAD_FILE, {"truncated"}, what.c_str());
        if (HasFailure()) break;
    }
}

TEST_F(RefFile, V2EveryFlippedBitIsRefused)
{
    // header, table, rows, padding, radii: every byte is under a checksum or must be zero
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

TEST_F(RefFile, V2FlippedBitsInALargerFile)
{
    Bytes b = small_file(300, 17, 5);
    const size_t radv = (size_t)entry_field(b, "RADV", E_OFFSET);
    ASSERT_EQ(b.size(), radv + 8 * 300);
    std::vector<size_t> positions;
    for (size_t p = 0; p < 192; p++) positions.push_back(p);
    for (size_t p = 192; p < b.size(); p += 97) positions.push_back(p);
    for (size_t p = 192 + 4 * 300 * 17; p < radv; p++) positions.push_back(p); // padding
    for (size_t p = radv; p < b.size(); p += 13) positions.push_back(p);
    for (size_t pos : positions) {
        Bytes t = b;
        t[pos] ^= (unsigned char)(1u << (pos % 8));
        std::string what = "byte " + std::to_string(pos);
        expect_refused(t, LSC_STATUS_BAD_FILE, {}, what.c_str());
        if (HasFailure()) return;
    }
}

TEST_F(RefFile, V2EachChecksumIsChecked)
{
    Bytes b = small_file();
    struct Case {
        const char *what;
        size_t pos;
        std::vector<std::string> words;
    } cases[] = {
        {"a header byte", V2_ROWS + 1, {"header checksum"}},
        {"a reserved byte", V2_RESERVED + 5, {"header checksum"}},
        {"the header checksum", V2_HEADER_SUM + 7, {"header checksum"}},
        {"the table checksum (in the header)", V2_TABLE_SUM, {"header checksum"}},
        {"a table entry", entry_at(1) + E_LENGTH + 3, {"table checksum"}},
        {"a tag", entry_at(0) + E_TAG, {"table checksum"}},
        {"a row", 192 + 5, {"section 'ROWS' checksum mismatch"}},
        {"the last row byte", 239, {"section 'ROWS' checksum mismatch"}},
        {"a radius", 256 + 8 * 3 + 2, {"section 'RADV' checksum mismatch"}},
        {"the last byte", 303, {"section 'RADV' checksum mismatch"}},
        {"a pad byte", 250, {"padding", "250", "RADV"}},
    };
    for (const auto &c : cases) {
        Bytes t = b;
        t[c.pos] ^= 0x10;
        std::vector<std::string> w = c.words;
        expect_refused(t, LSC_STATUS_BAD_FILE, {}, c.what);
        for (const auto &word : w)
            EXPECT_TRUE(mentions(lsc_last_error(ctx), word))
                << c.what << ": " << lsc_last_error(ctx);
    }
    // a section's stored checksum changed, the table's and header's recomputed to match
    for (const char *tag : {"ROWS", "RADV"}) {
        Bytes t = b;
        set_entry(t, tag, E_SUM, entry_field(t, tag, E_SUM) ^ 1);
        fix_v2(t);
        std::string want = std::string("section '") + tag + "' checksum mismatch";
        expect_refused(t, LSC_STATUS_BAD_FILE, {want}, want.c_str());
    }
    // the table's stored checksum changed, the header's recomputed
    Bytes t = b;
    put_le(t, V2_TABLE_SUM, get_le(t, V2_TABLE_SUM, 8) + 1, 8);
    put_le(t, V2_HEADER_SUM, checksum(t.data(), V2_HEADER_SUM), 8);
    expect_refused(t, LSC_STATUS_BAD_FILE, {"table checksum"}, "table checksum, header fixed");
}

TEST_F(RefFile, V2HeaderFieldsAreChecked)
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
        {"header size 0", V2_HEADER_BYTES, 4, 0, "header size 0"},
        {"header size 64", V2_HEADER_BYTES, 4, 64, "header size 64"},
        {"header size 256", V2_HEADER_BYTES, 4, 256, "header size 256"},
        {"flags 1", V2_FLAGS, 4, 1, "flags 0x1"},
        {"flags high", V2_FLAGS, 4, 0x80000000u, "flags"},
        {"reserved first", V2_RESERVED, 1, 1, "reserved header byte 72"},
        {"reserved last", V2_HEADER_SUM - 1, 1, 0x80, "reserved header byte 119"},
        {"sections 1025", V2_COUNT, 4, 1025, "1025 sections"},
        {"sections max", V2_COUNT, 4, 0xffffffffu, "sections"},
        {"sections 1024, past the end", V2_COUNT, 4, 1024, "truncated in the section table"},
        {"sections 6, past the end", V2_COUNT, 4, 6, "truncated in the section table"},
        {"sections 1", V2_COUNT, 4, 1, "required section 'RADV' is missing"},
        {"sections 0", V2_COUNT, 4, 0, "required section 'ROWS' is missing"},
        {"rows 2^62", V2_ROWS, 8, 1ull << 62, "overflow"},
        {"rows max", V2_ROWS, 8, (uint64_t)imax, "overflow"},
        {"cols 2^62", V2_COLS, 8, 1ull << 62, "overflow"},
        {"cols max", V2_COLS, 8, (uint64_t)imax, "overflow"},
        {"rows 2^31", V2_ROWS, 8, 1ull << 31, "need"},
        {"rows 2^40", V2_ROWS, 8, 1ull << 40, "need"},
        {"cols 2^33", V2_COLS, 8, 1ull << 33, "need"},
        {"rows 7", V2_ROWS, 8, 7, "section 'ROWS' holds 48 bytes"},
        {"cols 3", V2_COLS, 8, 3, "section 'ROWS' holds 48 bytes; 6 rows x 3 cols need 72"},
        {"rows -1", V2_ROWS, 8, (uint64_t)-1, "rows"},
        {"rows min", V2_ROWS, 8, 1ull << 63, "rows"},
        {"rows 1", V2_ROWS, 8, 1, "rows"},
        {"rows 0", V2_ROWS, 8, 0, "rows"},
        {"cols 0", V2_COLS, 8, 0, "cols"},
        {"cols -5", V2_COLS, 8, (uint64_t)-5, "cols"},
        {"k 0", V2_K, 8, 0, "k=0"},
        {"k -1", V2_K, 8, (uint64_t)-1, "k=-1"},
        {"k = rows", V2_K, 8, 6, "k=6"},
        {"k huge", V2_K, 8, 1ull << 62, "k="},
        {"metric sqeuclidean", V2_METRIC, 4, LSC_METRIC_SQEUCLIDEAN, "metric"},
        {"metric 99", V2_METRIC, 4, 99, "metric"},
        {"metric -1", V2_METRIC, 4, 0xffffffffu, "metric"},
        {"comparison 2", V2_CMP, 4, 2, "comparison"},
        {"comparison -1", V2_CMP, 4, 0xffffffffu, "comparison"},
        {"zero radii 1", V2_ZERO, 8, 1, "zero radii"},
        {"zero radii -1", V2_ZERO, 8, (uint64_t)-1, "zero radii"},
    };
    for (const auto &e : edits) {
        Bytes t = b;
        put_le(t, e.off, e.value, e.width);
        fix_v2(t);
        // BAD_FILE, not OUT_OF_MEMORY: nothing the size of the claim was allocated
        expect_refused(t, LSC_STATUS_BAD_FILE, {e.word}, e.what);
    }
}

TEST_F(RefFile, V2HugeShapesAreRefusedBeforeAnyAllocation)
{
    // the header and the table agree on a reference far larger than the file (or than memory):
    // refused on the sections' extent, without allocating them
    Bytes b = small_file();
    struct Shape {
        uint64_t rows, cols;
        const char *word;
    } shapes[] = {
        {1ull << 40, 2, "past the end"}, {1ull << 20, 1ull << 20, "past the end"},
        {1ull << 58, 1, "past the end"}, {1ull << 31, 1ull << 30, "overflow"}, // 4 N D = 2^63
        {1ull << 60, 4, "overflow"},     {6, (1ull << 61), "overflow"}};
    for (const auto &s : shapes) {
        Bytes t = b;
        put_le(t, V2_ROWS, s.rows, 8);
        put_le(t, V2_COLS, s.cols, 8);
        set_entry(t, "ROWS", E_LENGTH, s.rows * s.cols * 4); // wraps for the overflowing ones
        set_entry(t, "RADV", E_LENGTH, s.rows * 8);
        fix_v2(t);
        std::string what = std::to_string(s.rows) + " x " + std::to_string(s.cols);
        expect_refused(t, LSC_STATUS_BAD_FILE, {s.word}, what.c_str());
    }
}

TEST_F(RefFile, V2SectionsPastTheEndAreRefused)
{
    Bytes b = small_file();
    const uint64_t size = b.size(), u64max = std::numeric_limits<uint64_t>::max();
    struct Edit {
        const char *what, *tag;
        size_t field;
        uint64_t value;
    } edits[] = {
        {"ROWS offset past the end", "ROWS", E_OFFSET, size + 64},
        {"ROWS offset at 2^63", "ROWS", E_OFFSET, 1ull << 63},
        {"ROWS offset max", "ROWS", E_OFFSET, u64max - 63},
        {"RADV offset at the end", "RADV", E_OFFSET, size},
        {"RADV offset 2^62", "RADV", E_OFFSET, 1ull << 62},
        {"RADV length + 1", "RADV", E_LENGTH, 8 * 6 + 1},
        {"RADV length max", "RADV", E_LENGTH, u64max},
        {"RADV length 2^63", "RADV", E_LENGTH, 1ull << 63},
        {"ROWS length max - offset + 1 (wraps)", "ROWS", E_LENGTH, u64max - 192 + 1},
    };
    for (const auto &e : edits) {
        Bytes t = b;
        set_entry(t, e.tag, e.field, e.value);
        fix_v2(t);
        expect_refused(t, LSC_STATUS_BAD_FILE, {"past the end", e.tag}, e.what);
    }
    // an optional section this library does not know, past the end
    V2 v = parse_v2(b);
    v.sections.push_back(foreign("XTRA", 40));
    Bytes t = build_v2(v);
    set_entry(t, "XTRA", E_LENGTH, 41);
    fix_v2(t);
    expect_refused(t, LSC_STATUS_BAD_FILE, {"past the end", "XTRA"},
                   "optional section past the end");
    t = build_v2(v);
    t.resize(t.size() - 1);
    expect_refused(t, LSC_STATUS_BAD_FILE, {"past the end", "XTRA"}, "optional section cut short");
}

TEST_F(RefFile, V2OverlappingMisalignedAndLooseSectionsAreRefused)
{
    Bytes b = small_file(20, 4, 3); // ROWS at 192, 320 bytes; RADV at 512, 160 bytes
    ASSERT_EQ(entry_field(b, "RADV", E_OFFSET), 512u);
    struct Edit {
        const char *what, *tag;
        size_t field;
        uint64_t value;
        std::vector<std::string> words;
    } edits[] = {
        {"RADV at ROWS", "RADV", E_OFFSET, 192, {"overlap", "ROWS", "RADV"}},
        {"RADV inside ROWS", "RADV", E_OFFSET, 448, {"overlap", "ROWS", "RADV"}},
        {"RADV across the end of ROWS", "RADV", E_OFFSET, 384, {"overlap", "ROWS", "RADV"}},
        {"ROWS in the table", "ROWS", E_OFFSET, 128, {"overlaps the header", "ROWS"}},
        {"ROWS on the header", "ROWS", E_OFFSET, 0, {"overlaps the header", "ROWS"}},
        {"RADV misaligned by 8", "RADV", E_OFFSET, 512 - 8, {"not 64-byte aligned", "RADV"}},
        {"RADV misaligned by 1", "RADV", E_OFFSET, 511, {"not 64-byte aligned", "RADV"}},
        {"ROWS misaligned", "ROWS", E_OFFSET, 193, {"not 64-byte aligned", "ROWS"}},
        {"ROWS length short", "ROWS", E_LENGTH, 316, {"ROWS", "holds 316", "need 320"}},
    };
    for (const auto &e : edits) {
        Bytes t = b;
        set_entry(t, e.tag, e.field, e.value);
        fix_v2(t);
        expect_refused(t, LSC_STATUS_BAD_FILE, {}, e.what);
        for (const auto &w : e.words)
            EXPECT_TRUE(mentions(lsc_last_error(ctx), w)) << e.what << ": " << lsc_last_error(ctx);
    }
    // an aligned gap of zero bytes between the sections, every offset and checksum right
    V2 v = parse_v2(b);
    expect_refused(build_v2(v, 64, 1), LSC_STATUS_BAD_FILE, {"gap", "RADV", "576"}, "gap of 64");
    expect_refused(build_v2(v, 64, 0), LSC_STATUS_BAD_FILE, {"gap", "ROWS"}, "gap after the table");
    // an unknown optional section overlapping a known one
    v.sections.push_back(foreign("XTRA", 64));
    Bytes t = build_v2(v);
    set_entry(t, "XTRA", E_OFFSET, entry_field(t, "RADV", E_OFFSET));
    fix_v2(t);
    expect_refused(t, LSC_STATUS_BAD_FILE, {"overlap", "XTRA", "RADV"}, "optional over RADV");
    // non-zero padding between the sections (ROWS ends at 512 here: use 6 x 2)
    Bytes s = small_file();
    s[245] = 1;
    expect_refused(s, LSC_STATUS_BAD_FILE, {"padding", "245"}, "padding byte");
}

TEST_F(RefFile, V2TagsAndFlagsAreChecked)
{
    Bytes b = small_file();
    V2 v = parse_v2(b);
    struct Case {
        const char *what;
        std::function<void(V2 &)> edit;
        std::vector<std::string> words;
    } cases[] = {
        {"RADV twice",
         [](V2 &w) { w.sections.push_back(w.sections[1]); },
         {"'RADV' appears twice"}},
        {"ROWS twice",
         [](V2 &w) { w.sections.insert(w.sections.begin(), w.sections[0]); },
         {"'ROWS' appears twice"}},
        {"an optional tag twice",
         [](V2 &w) {
             w.sections.push_back(foreign("XTRA", 8));
             w.sections.push_back(foreign("XTRA", 16));
         },
         {"'XTRA' appears twice"}},
        {"RADV missing", [](V2 &w) { w.sections.pop_back(); }, {"required section 'RADV'"}},
        {"ROWS missing, an optional one in its place",
         [](V2 &w) { w.sections[0] = foreign("ROWZ", w.sections[0].data.size()); },
         {"required section 'ROWS' is missing"}},
        {"RADV optional", [](V2 &w) { w.sections[1].flags = 0; }, {"'RADV'", "flags 0x0"}},
        {"ROWS with flag bit 1", [](V2 &w) { w.sections[0].flags = 3; }, {"'ROWS'", "flags 0x3"}},
        {"tag with a NUL",
         [](V2 &w) { w.sections.push_back(foreign(std::string("AB\0D", 4), 8)); },
         {"section 2", "printable"}},
        {"tag with a high byte",
         [](V2 &w) {
             w.sections.push_back(foreign("\x89"
                                          "ABC",
                                          8));
         },
         {"printable"}},
        {"lower-case rows",
         [](V2 &w) { w.sections[0].tag = "rows"; },
         {"'rows'", "required", lsc_version()}},
    };
    for (const auto &c : cases) {
        V2 w = v;
        c.edit(w);
        expect_refused(build_v2(w), LSC_STATUS_BAD_FILE, {}, c.what);
        for (const auto &word : c.words)
            EXPECT_TRUE(mentions(lsc_last_error(ctx), word))
                << c.what << ": " << lsc_last_error(ctx);
    }
}

TEST_F(RefFile, V2UnknownRequiredSectionIsRefusedNamingTheVersions)
{
    V2 v = parse_v2(small_file());
    for (const char *tag : {"SPLT", "LBLS", "zzzz", "    "}) {
        V2 w = v;
        w.sections.push_back(foreign(tag, 24, kRequired));
        std::string what = std::string("required '") + tag + "'";
        expect_refused(build_v2(w), LSC_STATUS_BAD_FILE,
                       {std::string("'") + tag + "'", "version 2", lsc_version(), "newer"},
                       what.c_str());
        // whatever its place in the table or the file, and whatever else is wrong later
        w.sections.insert(w.sections.begin(), w.sections.back());
        w.sections.pop_back();
        w.file_order = {1, 2, 0};
        expect_refused(build_v2(w), LSC_STATUS_BAD_FILE, {"newer", lsc_version()},
                       (what + " first").c_str());
    }
    // an unknown section that sets other flag bits but not bit 0 is optional: skipped
    V2 w = v;
    w.sections.push_back(foreign("XHLF", 24, 0xfffffffeu));
    lsc_reference_destroy(expect_loads(build_v2(w), "optional with other flag bits"));
}

/* ---------------------------------------------------------------------------------------------- */
/* forward compatibility: sections a later writer adds                                           */

TEST_F(RefFile, V2UnknownOptionalSectionsAreSkipped)
{
    Bytes b = small_file(30, 5, 3, LSC_METRIC_COSINE);
    lsc_reference *base = expect_loads(b, "as written");
    ASSERT_NE(base, nullptr);
    const lsc_reference_info want = info_of(base);
    V2 v = parse_v2(b);
    struct Case {
        const char *what;
        std::vector<Section> extra;
        std::vector<size_t> file_order; // over the table: ROWS, RADV, then the extras
    } cases[] = {
        {"one after the radii", {foreign("SPLT", 100)}, {}},
        {"one before the rows", {foreign("SPLT", 100)}, {2, 0, 1}},
        {"one between", {foreign("LBLS", 30)}, {0, 2, 1}},
        {"an empty one", {foreign("SPRD", 0)}, {}},
        {"an empty one first", {foreign("SPRD", 0)}, {2, 0, 1}},
        {"several, 64-byte multiples",
         {foreign("SPLT", 64), foreign("XHLF", 128), foreign("LBLS", 1), foreign("SPRD", 63)},
         {3, 0, 4, 1, 5, 2}},
        {"the table in another order than the file", {foreign("SPLT", 9)}, {1, 2, 0}},
    };
    for (const auto &c : cases) {
        V2 w = v;
        w.sections.insert(w.sections.end(), c.extra.begin(), c.extra.end());
        w.file_order = c.file_order;
        Bytes t = build_v2(w);
        lsc_reference *r = expect_loads(t, c.what);
        ASSERT_NE(r, nullptr) << c.what;
        lsc_reference_info got = info_of(r);
        expect_same_info(want, got);
        EXPECT_EQ(got.file_version, 2);
        EXPECT_EQ(0, std::memcmp(lsc_reference_radii(base), lsc_reference_radii(r),
                                 (size_t)want.rows * sizeof(double)))
            << c.what;
        // saving it writes the sections this library knows, and nothing else
        std::string p = path("resaved.ref");
        ASSERT_EQ(lsc_reference_save(ctx, r, p.c_str()), LSC_STATUS_OK) << lsc_last_error(ctx);
        EXPECT_EQ(read_bytes(p), b) << c.what;
        lsc_reference_destroy(r);
        // a skipped section is not read: its checksum is for the readers that know it
        Bytes u = t;
        size_t off = (size_t)entry_field(u, c.extra[0].tag, E_OFFSET);
        if (!c.extra[0].data.empty()) {
            u[off] ^= 0xff;
            lsc_reference_destroy(expect_loads(u, (std::string(c.what) + ", damaged").c_str()));
        }
    }
    lsc_reference_destroy(base);
}

TEST_F(RefFile, V2ContentsAreCheckedEvenWithValidChecksums)
{
    Bytes b = small_file(); // 6 x 2: ROWS at 192, RADV at 256
    for (const auto &e : content_edits()) {
        Bytes t = b;
        e.edit(t, 192, 256);
        fix_section(t, "ROWS");
        fix_section(t, "RADV");
        if (e.words.empty()) {
            lsc_reference_destroy(expect_loads(t, e.what));
            continue;
        }
        expect_refused(t, LSC_STATUS_BAD_FILE, {}, e.what);
        for (const auto &word : e.words)
            EXPECT_TRUE(mentions(lsc_last_error(ctx), word))
                << e.what << ": " << lsc_last_error(ctx);
    }
    Bytes c = small_file(6, 2, 2, LSC_METRIC_COSINE);
    put_f32(c, 192 + 4 * (3 * 2 + 0), 0.0f);
    put_f32(c, 192 + 4 * (3 * 2 + 1), 0.0f);
    fix_section(c, "ROWS");
    expect_refused(c, LSC_STATUS_BAD_FILE, {"row 3", "zero"}, "cosine zero row");
}

// lsc_reference_prepare's result travels in an optional 'HALF' section, checked like the others
TEST_F(RefFile, V2TheHalfSectionRoundTripsAndIsChecked)
{
    const int64_t n = 12, d = 2, k = 2;
    x = data::gaussian(n, d, kSeed);
    lsc_matrix m = lsc_matrix_f32(x.data(), n, d);
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &m, k, nullptr, &ref), LSC_STATUS_OK);
    EXPECT_EQ(info_of(ref).prepared, 0);
    ASSERT_EQ(lsc_reference_prepare(ctx, ref, 7), LSC_STATUS_OK) << lsc_last_error(ctx);
    EXPECT_EQ(info_of(ref).prepared, 1);
    EXPECT_EQ(info_of(ref).prepared_seed, 7u);
    const std::string p = path("half.ref"), p2 = path("half2.ref");
    ASSERT_EQ(lsc_reference_save(ctx, ref, p.c_str()), LSC_STATUS_OK) << lsc_last_error(ctx);
    lsc_reference_destroy(ref);
    const Bytes b = read_bytes(p);
    const V2 v = parse_v2(b);
    ASSERT_EQ(v.sections.size(), 3u);
    EXPECT_EQ(v.sections[2].tag, "HALF");
    EXPECT_EQ(v.sections[2].flags, 0u);
    ASSERT_EQ(v.sections[2].data.size(), 16u + 8u * (size_t)(n / 2));
    EXPECT_EQ(le64(v.sections[2].data.data()), 7u);
    lsc_reference *r = expect_loads(b, "prepared");
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(info_of(r).prepared, 1);
    EXPECT_EQ(info_of(r).prepared_seed, 7u);
    ASSERT_EQ(lsc_reference_save(ctx, r, p2.c_str()), LSC_STATUS_OK);
    EXPECT_EQ(read_bytes(p2), b) << "saved again, the same bytes";
    lsc_reference_destroy(r);
    // a file without it (or of version 1) is not prepared
    lsc_reference *plain = expect_loads(v1_from_v2(b), "version 1");
    EXPECT_EQ(info_of(plain).prepared, 0);
    lsc_reference_destroy(plain);
    V2 w = v;
    w.sections[2].data.resize(w.sections[2].data.size() - 8);
    expect_refused(build_v2(w), LSC_STATUS_BAD_FILE, {"'HALF'", "holds"}, "a short HALF");
    w = v;
    w.sections[2].flags = 1u; // required
    expect_refused(build_v2(w), LSC_STATUS_BAD_FILE, {"'HALF'", "flags 0x1"}, "a required HALF");
    w = v;
    const double neg = -1.0;
    std::memcpy(w.sections[2].data.data() + 24, &neg, sizeof neg);
    expect_refused(build_v2(w), LSC_STATUS_BAD_FILE, {"'HALF'", "radius 1"}, "a negative radius");
}

TEST_F(RefFile, V2TrailingBytesAreRefused)
{
    Bytes b = small_file();
    for (size_t extra : {1, 7, 8, 63, 64, 4096}) {
        Bytes t = b;
        t.resize(b.size() + extra, 0);
        std::string what = std::to_string(extra) + " trailing bytes";
        expect_refused(t, LSC_STATUS_BAD_FILE, {"trailing"}, what.c_str());
    }
    Bytes two = b;
    two.insert(two.end(), b.begin(), b.end());
    expect_refused(two, LSC_STATUS_BAD_FILE, {"trailing"}, "concatenated");
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
