// The CLI's file readers and writers (tools/input*.c): .npy of every float dtype, header version
// and order, .fvecs, and every kind of bad input, with fixtures the test writes itself, byte by
// byte, so broken and hostile files can be made as easily as good ones; .npz, .safetensors and
// HDF5, good and hostile, from tests/fixtures/formats (written by numpy, safetensors and h5py).
#include "input.h"
#include "lsc.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<unsigned char>;

class CliIo : public ::testing::Test {
  protected:
    void SetUp() override
    {
        const char *base = getenv("TMPDIR");
        std::string templ = std::string(base && *base ? base : "/tmp") + "/lsc_cli_io_XXXXXX";
        std::vector<char> buf(templ.begin(), templ.end());
        buf.push_back('\0');
        ASSERT_NE(mkdtemp(buf.data()), nullptr);
        dir_ = buf.data();
    }
    void TearDown() override
    {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::string path(const std::string &name) const { return dir_ + "/" + name; }
    std::string write(const std::string &name, const Bytes &b) const
    {
        std::string p = path(name);
        FILE *f = fopen(p.c_str(), "wb");
        EXPECT_NE(f, nullptr);
        if (!f) return p;
        if (!b.empty()) {
            EXPECT_EQ(fwrite(b.data(), 1, b.size(), f), b.size());
        }
        fclose(f);
        return p;
    }
    // Opens a file that must be refused with exit code `code`: the message starts with the
    // path and contains `what`.
    void expect_refused(const std::string &p, const std::string &what, int code = 2)
    {
        lsc_input in;
        char err[512];
        memset(err, 0, sizeof err);
        int rc = lsc_input_open(p.c_str(), &in, err, sizeof err);
        EXPECT_EQ(rc, code) << p << ": " << err;
        std::string msg(err);
        EXPECT_EQ(msg.rfind(p + ": ", 0), 0u) << msg;
        EXPECT_NE(msg.find(what), std::string::npos) << "expected '" << what << "' in: " << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        EXPECT_EQ(in.map, nullptr);
        EXPECT_EQ(in.owned, nullptr);
        lsc_input_close(&in);
    }
    std::string dir_;
};

template <typename T>
Bytes as_bytes(const std::vector<T> &v)
{
    Bytes b(v.size() * sizeof(T));
    if (!v.empty()) memcpy(b.data(), v.data(), b.size());
    return b;
}

// A .npy file: magic, version, header length, the dict padded (when `pad`) so the data starts
// at a multiple of 64, then `data`. `hlen_override` >= 0 writes that header length instead.
Bytes npy(int major, const std::string &dict, const Bytes &data, bool pad = true,
          long long hlen_override = -1, int minor = 0)
{
    size_t prefix = major == 1 ? 10 : 12;
    std::string h = dict;
    if (pad) {
        size_t total = prefix + h.size() + 1;
        total = (total + 63) / 64 * 64;
        h.append(total - prefix - h.size() - 1, ' ');
        h.push_back('\n');
    }
    Bytes b = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, (unsigned char)minor};
    unsigned long long hl = hlen_override >= 0 ? (unsigned long long)hlen_override : h.size();
    b.push_back((unsigned char)(hl & 0xff));
    b.push_back((unsigned char)((hl >> 8) & 0xff));
    if (major != 1) {
        b.push_back((unsigned char)((hl >> 16) & 0xff));
        b.push_back((unsigned char)((hl >> 24) & 0xff));
    }
    b.insert(b.end(), h.begin(), h.end());
    b.insert(b.end(), data.begin(), data.end());
    return b;
}

std::string dict(const std::string &descr, bool fortran, const std::string &shape)
{
    return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
           ", 'shape': " + shape + ", }";
}

// Row-major values v[i][j] = 10 i + j (exact in float16 too for small sizes).
template <typename T>
std::vector<T> grid(int rows, int cols, bool column_major)
{
    std::vector<T> v((size_t)rows * cols);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            v[column_major ? (size_t)j * rows + i : (size_t)i * cols + j] = (T)(10 * i + j);
    return v;
}

// float16 bit patterns of small integers (exact), so F16 data can be checked bit for bit.
uint16_t half_of(int x)
{
    if (x == 0) return 0;
    int e = 0;
    while ((1 << (e + 1)) <= x) e++;
    uint16_t mant = (uint16_t)(((x - (1 << e)) << 10) >> e);
    return (uint16_t)(((e + 15) << 10) | mant);
}

std::vector<uint16_t> half_grid(int rows, int cols, bool column_major)
{
    std::vector<int> g = grid<int>(rows, cols, column_major);
    std::vector<uint16_t> h(g.size());
    for (size_t i = 0; i < g.size(); i++) h[i] = half_of(g[i]);
    return h;
}

template <typename T>
Bytes swapped(const std::vector<T> &v)
{
    Bytes b = as_bytes(v);
    for (size_t i = 0; i < b.size(); i += sizeof(T))
        for (size_t a = 0, z = sizeof(T) - 1; a < z; a++, z--) std::swap(b[i + a], b[i + z]);
    return b;
}

template <typename T>
T at(const lsc_input &in, int64_t i, int64_t j)
{
    T v;
    memcpy(&v, (const unsigned char *)in.m.data + (size_t)(i * in.m.ld + j) * sizeof(T), sizeof(T));
    return v;
}

template <typename T>
void expect_grid(const lsc_input &in, int rows, int cols)
{
    ASSERT_EQ(in.m.rows, rows);
    ASSERT_EQ(in.m.cols, cols);
    EXPECT_EQ(in.m.ld, cols);
    EXPECT_EQ(in.m.memory, LSC_MEMORY_HOST);
    EXPECT_EQ((uintptr_t)in.m.data % sizeof(T), 0u);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) ASSERT_EQ(at<T>(in, i, j), (T)(10 * i + j)) << i << "," << j;
}

void expect_half_grid(const lsc_input &in, int rows, int cols)
{
    ASSERT_EQ(in.m.rows, rows);
    ASSERT_EQ(in.m.cols, cols);
    EXPECT_EQ(in.m.ld, cols);
    EXPECT_EQ((uintptr_t)in.m.data % 2, 0u);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            ASSERT_EQ(at<uint16_t>(in, i, j), half_of(10 * i + j)) << i << "," << j;
}

int open_ok(const std::string &p, lsc_input *in)
{
    char err[512] = "";
    int rc = lsc_input_open(p.c_str(), in, err, sizeof err);
    EXPECT_EQ(rc, 0) << err;
    EXPECT_STREQ(err, "");
    return rc;
}

// ---- good .npy files ----------------------------------------------------------------------------

TEST_F(CliIo, NpyEveryDtypeAndVersionCOrderIsMappedInPlace)
{
    const int R = 7, C = 5;
    for (int major = 1; major <= 3; major++) {
        SCOPED_TRACE(major);
        std::string p4 = write(
            "f4.npy", npy(major, dict("<f4", false, "(7, 5)"), as_bytes(grid<float>(R, C, false))));
        std::string p8 = write("f8.npy", npy(major, dict("<f8", false, "(7, 5)"),
                                             as_bytes(grid<double>(R, C, false))));
        std::string p2 = write(
            "f2.npy", npy(major, dict("<f2", false, "(7, 5)"), as_bytes(half_grid(R, C, false))));
        lsc_input in;
        if (open_ok(p4, &in) == 0) {
            EXPECT_EQ(in.m.dtype, LSC_DTYPE_F32);
            expect_grid<float>(in, R, C);
            EXPECT_NE(in.map, nullptr);
            EXPECT_EQ(in.owned, nullptr); // zero-copy
            EXPECT_EQ(((const unsigned char *)in.m.data - (const unsigned char *)in.map) % 64, 0);
        }
        lsc_input_close(&in);
        if (open_ok(p8, &in) == 0) {
            EXPECT_EQ(in.m.dtype, LSC_DTYPE_F64);
            expect_grid<double>(in, R, C);
            EXPECT_EQ(in.owned, nullptr);
        }
        lsc_input_close(&in);
        if (open_ok(p2, &in) == 0) {
            EXPECT_EQ(in.m.dtype, LSC_DTYPE_F16);
            expect_half_grid(in, R, C);
            EXPECT_EQ(in.owned, nullptr);
        }
        lsc_input_close(&in);
    }
}

TEST_F(CliIo, NpyFortranOrderIsTransposedIntoARowMajorCopy)
{
    const int R = 70, C = 130; // more than one 64 x 64 block each way, with remainders
    for (int major = 1; major <= 3; major++) {
        SCOPED_TRACE(major);
        std::string shape = "(70, 130)";
        std::string p4 = write(
            "f4.npy", npy(major, dict("<f4", true, shape), as_bytes(grid<float>(R, C, true))));
        std::string p8 = write(
            "f8.npy", npy(major, dict("<f8", true, shape), as_bytes(grid<double>(R, C, true))));
        // 10 i + j <= 819: integers below 2048 are exact in float16
        std::string p2 =
            write("f2.npy", npy(major, dict("<f2", true, shape), as_bytes(half_grid(R, C, true))));
        lsc_input in;
        if (open_ok(p4, &in) == 0) {
            EXPECT_EQ(in.m.dtype, LSC_DTYPE_F32);
            EXPECT_NE(in.owned, nullptr);
            EXPECT_EQ(in.map, nullptr); // the mapping is dropped once copied
            expect_grid<float>(in, R, C);
        }
        lsc_input_close(&in);
        if (open_ok(p8, &in) == 0) {
            EXPECT_EQ(in.m.dtype, LSC_DTYPE_F64);
            EXPECT_NE(in.owned, nullptr);
            expect_grid<double>(in, R, C);
        }
        lsc_input_close(&in);
        if (open_ok(p2, &in) == 0) {
            EXPECT_EQ(in.m.dtype, LSC_DTYPE_F16);
            EXPECT_NE(in.owned, nullptr);
            expect_half_grid(in, R, C);
        }
        lsc_input_close(&in);
    }
}

TEST_F(CliIo, NpyFortranOrderWithOneRowOrColumnNeedsNoCopy)
{
    lsc_input in;
    std::string p =
        write("col.npy", npy(1, dict("<f4", true, "(6, 1)"), as_bytes(grid<float>(6, 1, true))));
    if (open_ok(p, &in) == 0) {
        EXPECT_EQ(in.owned, nullptr);
        expect_grid<float>(in, 6, 1);
    }
    lsc_input_close(&in);
    p = write("row.npy", npy(1, dict("<f4", true, "(1, 6)"), as_bytes(grid<float>(1, 6, true))));
    if (open_ok(p, &in) == 0) {
        EXPECT_EQ(in.owned, nullptr);
        expect_grid<float>(in, 1, 6);
    }
    lsc_input_close(&in);
}

TEST_F(CliIo, NpyHeaderDictVariants)
{
    const Bytes data = as_bytes(grid<float>(3, 4, false));
    const char *dicts[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", // NumPy's own
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}",   // no trailing comma
        "{'shape': (3, 4), 'descr': '<f4', 'fortran_order': False}",   // keys in another order
        "{'fortran_order': False, 'shape': (3,4,), 'descr': '<f4',}",  // tuple trailing comma
        "{ \"descr\" : \"<f4\" , \"fortran_order\" : False , \"shape\" : ( 3 , 4 ) }",
        "{'descr':'<f4','fortran_order':False,'shape':(3L, 4L)}",      // Python 2 longs
        "{'descr': '=f4', 'fortran_order': False, 'shape': (3, 4), }", // native order
        "{'descr': '|f4', 'fortran_order': False, 'shape': (3, 4), }", // "not applicable"
        "{'descr': 'f4', 'fortran_order': False, 'shape': (3, 4), }",  // no order character
        "\t{'descr': '<f4',\n 'fortran_order': False,\n 'shape': (3, 4)}\n",
    };
    int n = 0;
    for (const char *d : dicts) {
        SCOPED_TRACE(d);
        std::string p = write("v" + std::to_string(n++) + ".npy", npy(1, d, data));
        lsc_input in;
        if (open_ok(p, &in) == 0) {
            EXPECT_EQ(in.m.dtype, LSC_DTYPE_F32);
            expect_grid<float>(in, 3, 4);
        }
        lsc_input_close(&in);
    }
    // header padded with NUL bytes instead of spaces, no newline, unpadded length
    std::string d = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
    Bytes b = npy(1, d + std::string(128 - 10 - d.size(), '\0'), data, false);
    std::string p = write("nul.npy", b);
    lsc_input in;
    if (open_ok(p, &in) == 0) expect_grid<float>(in, 3, 4);
    lsc_input_close(&in);
}

TEST_F(CliIo, NpyBigEndianIsConvertedIntoAnOwnedCopy)
{
    lsc_input in;
    std::string p =
        write("be4.npy", npy(1, dict(">f4", false, "(5, 3)"), swapped(grid<float>(5, 3, false))));
    if (open_ok(p, &in) == 0) {
        EXPECT_EQ(in.m.dtype, LSC_DTYPE_F32);
        EXPECT_NE(in.owned, nullptr);
        expect_grid<float>(in, 5, 3);
    }
    lsc_input_close(&in);
    p = write("be8f.npy", npy(2, dict(">f8", true, "(5, 3)"), swapped(grid<double>(5, 3, true))));
    if (open_ok(p, &in) == 0) {
        EXPECT_EQ(in.m.dtype, LSC_DTYPE_F64);
        expect_grid<double>(in, 5, 3);
    }
    lsc_input_close(&in);
    p = write("be2.npy", npy(3, dict(">f2", false, "(5, 3)"), swapped(half_grid(5, 3, false))));
    if (open_ok(p, &in) == 0) {
        EXPECT_EQ(in.m.dtype, LSC_DTYPE_F16);
        expect_half_grid(in, 5, 3);
    }
    lsc_input_close(&in);
}

TEST_F(CliIo, NpyMisalignedDataIsCopiedAligned)
{
    // a header whose length puts the data at offset 10 + 59 = 69: not a multiple of 4 or 8
    std::string d = "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3)}";
    std::string h = d + std::string(59 - d.size() - 1, ' ') + "\n";
    ASSERT_EQ(h.size(), 59u);
    std::string p = write("mis.npy", npy(1, h, as_bytes(grid<double>(4, 3, false)), false));
    lsc_input in;
    if (open_ok(p, &in) == 0) {
        EXPECT_NE(in.owned, nullptr);
        expect_grid<double>(in, 4, 3);
    }
    lsc_input_close(&in);
}

TEST_F(CliIo, ExtensionsAreCaseInsensitive)
{
    std::string p = write("UPPER.NPY",
                          npy(1, dict("<f4", false, "(2, 2)"), as_bytes(grid<float>(2, 2, false))));
    lsc_input in;
    if (open_ok(p, &in) == 0) expect_grid<float>(in, 2, 2);
    lsc_input_close(&in);
    std::vector<int32_t> fv = {2, 0, 0};
    float one = 1.0f;
    memcpy(&fv[2], &one, 4);
    p = write("x.FVecs", as_bytes(fv));
    if (open_ok(p, &in) == 0) {
        EXPECT_EQ(in.m.rows, 1);
        EXPECT_EQ(at<float>(in, 0, 1), 1.0f);
    }
    lsc_input_close(&in);
}

// ---- bad .npy files -----------------------------------------------------------------------------

TEST_F(CliIo, RefusesFilesThatAreNotThere)
{
    expect_refused(path("missing.npy"), "cannot open: No such file or directory");
    expect_refused(path("missing.fvecs"), "cannot open");
    std::filesystem::create_directory(path("dir.npy"));
    expect_refused(path("dir.npy"), "is a directory");
    expect_refused(write("empty.npy", {}), "empty file");
    expect_refused(write("empty.fvecs", {}), "empty file");
    expect_refused(
        write("data.txt", {'1'}),
        "unknown file type (expected .npy, .npz[:NAME], .safetensors[:NAME], .h5 or .hdf5[:/DATASET], .fvecs)");
    expect_refused(write("noext", {'1'}), "unknown file type");
    expect_refused(write(".npy", {'1'}), "unknown file type"); // a hidden file, no extension
    expect_refused("/dev/null.npy", "cannot open");
}

TEST_F(CliIo, RefusesBrokenPreambles)
{
    expect_refused(write("garbage.npy", Bytes(100, 'x')), "not a .npy file");
    Bytes short_magic = {0x93, 'N', 'U', 'M'};
    expect_refused(write("short.npy", short_magic), "not a .npy file");
    Bytes cut = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 10};
    expect_refused(write("cut.npy", cut), "truncated: the file ends inside the .npy preamble");
    Bytes cut2 = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 10, 0, 0};
    expect_refused(write("cut2.npy", cut2), "truncated");
    const Bytes data = as_bytes(grid<float>(2, 2, false));
    const std::string d = dict("<f4", false, "(2, 2)");
    expect_refused(write("v4.npy", npy(4, d, data)), "unsupported .npy format version 4.0");
    expect_refused(write("v0.npy", npy(0, d, data)), "unsupported .npy format version 0.0");
    expect_refused(write("v11.npy", npy(1, d, data, true, -1, 1)), "version 1.1");
    // header lengths past the end of the file
    expect_refused(write("hlen1.npy", npy(1, d, data, true, 65535)),
                   "truncated: the header claims 65535 bytes");
    expect_refused(write("hlen2.npy", npy(2, d, data, true, 0xFFFFFFFFll)),
                   "truncated: the header claims 4294967295 bytes");
    expect_refused(write("hlen3.npy", npy(3, d, {}, true, 1000)), "the header claims 1000");
}

TEST_F(CliIo, RefusesMalformedHeaders)
{
    const Bytes data = as_bytes(grid<float>(2, 2, false));
    struct Case {
        const char *dict;
        const char *what;
    } cases[] = {
        {"hello world", "not a dictionary literal"},
        {"", "not a dictionary literal"},
        {"{", "unterminated dictionary"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)", "expected ',' or '}'"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (2, 2)}", "malformed .npy header"},
        {"{'descr': '<f4', 'fortran_order': False}", "no 'shape' key"},
        {"{'descr': '<f4', 'shape': (2, 2)}", "no 'fortran_order' key"},
        {"{'fortran_order': False, 'shape': (2, 2)}", "no 'descr' key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 1}",
         "unexpected key 'extra'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)}",
         "'descr' given twice"},
        {"{'descr': '<f4', 'fortran_order': maybe, 'shape': (2, 2)}",
         "'fortran_order' is neither True nor False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 2]}", "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 2)}", "negative dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2)}", "negative dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (a, 2)}", "non-integer entry"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.5, 2)}", "non-integer entry"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2}", "non-integer entry"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2", "unterminated 'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 2)}", "expected ',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4)}", "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 2)}",
         "does not fit in 64 bits"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)} junk", "after the closing"},
    };
    int n = 0;
    for (const Case &c : cases) {
        SCOPED_TRACE(c.dict);
        expect_refused(write("h" + std::to_string(n++) + ".npy", npy(1, c.dict, data)), c.what);
    }
    // a header with binary garbage of the right length
    Bytes g = npy(1, std::string(54, '\xff'), data);
    expect_refused(write("bin.npy", g), "not a dictionary literal");
}

TEST_F(CliIo, RefusesNonFloatDtypes)
{
    struct Case {
        const char *descr;
        const char *what;
    } cases[] = {
        {"<i4", "integer arrays are not supported (dtype '<i4'): convert to float32"},
        {"<i8", "integer arrays are not supported"},
        {"|u1", "integer arrays are not supported"},
        {"<u2", "integer arrays are not supported"},
        {"|b1", "boolean arrays are not supported"},
        {"<c8", "complex arrays are not supported"},
        {"|O", "object arrays are not supported"},
        {"<U10", "string arrays are not supported"},
        {"|S5", "string arrays are not supported"},
        {"<M8[ns]", "date/time arrays"},
        {"|V2", "raw or structured dtype"},
        {"<f16", "dtype '<f16' is not supported"},
        {"<f3", "dtype '<f3' is not supported"},
        {"<f", "dtype '<f' is not supported"},
        {"", "unknown dtype ''"},
        {"float32", "dtype 'float32' is not supported"},
        {"<d", "unknown dtype '<d'"},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.descr);
        expect_refused(write("d.npy", npy(1, dict(c.descr, false, "(2, 2)"), Bytes(32, 0))),
                       c.what);
    }
    expect_refused(
        write("rec.npy", npy(1,
                             "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, "
                             "'shape': (2,), }",
                             Bytes(16, 0))),
        "structured (record) arrays are not supported");
    std::string long_descr(200, 'x');
    expect_refused(write("long.npy", npy(1, dict(long_descr, false, "(2, 2)"), Bytes(16, 0))),
                   "is not supported");
}

TEST_F(CliIo, RefusesShapesOtherThanTwoDimensional)
{
    expect_refused(write("1d.npy", npy(1, dict("<f4", false, "(5,)"), Bytes(20, 0))),
                   "expected a 2-D array (rows x cols), got shape (5,)");
    expect_refused(write("0d.npy", npy(1, dict("<f4", false, "()"), Bytes(4, 0))),
                   "expected a 2-D array (rows x cols), got shape ()");
    expect_refused(write("3d.npy", npy(1, dict("<f4", false, "(2, 3, 4)"), Bytes(96, 0))),
                   "expected a 2-D array (rows x cols), got shape (2, 3, 4)");
    expect_refused(write("0r.npy", npy(1, dict("<f4", false, "(0, 64)"), {})),
                   "empty array: shape (0, 64) has no rows");
    expect_refused(write("0c.npy", npy(1, dict("<f4", false, "(64, 0)"), {})),
                   "empty array: shape (64, 0) has no columns");
}

TEST_F(CliIo, RefusesSizesThatDisagreeWithTheFile)
{
    // overflow: the product of the shape does not fit 64 bits (a tiny file)
    expect_refused(
        write("o1.npy", npy(1, dict("<f4", false, "(4611686018427387904, 4)"), Bytes(16, 0))),
        "too large: its byte size overflows 64 bits");
    expect_refused(
        write("o2.npy", npy(2, dict("<f8", false, "(9223372036854775807, 9223372036854775807)"),
                            Bytes(16, 0))),
        "overflows 64 bits");
    expect_refused(
        write("o3.npy", npy(1, dict("<f8", false, "(1152921504606846976, 1)"), Bytes(16, 0))),
        "overflows 64 bits"); // rows * cols fits, times 8 bytes does not
    // a large but representable shape with a tiny file: truncated, not a crash
    expect_refused(write("big.npy", npy(1, dict("<f4", false, "(1000000000, 1000)"), Bytes(16, 0))),
                   "truncated: the header claims 1000000000 x 1000 float32");
    // one byte short, one byte long
    Bytes data = as_bytes(grid<float>(1000, 64, false));
    Bytes shortb = npy(1, dict("<f4", false, "(1000, 64)"), data);
    shortb.pop_back();
    expect_refused(write("short.npy", shortb),
                   "truncated: the header claims 1000 x 64 float32 (256000 bytes of data), the "
                   "file holds 255999");
    Bytes longb = npy(1, dict("<f4", false, "(1000, 64)"), data);
    longb.push_back(0);
    expect_refused(write("long.npy", longb), "1 bytes after the data");
    expect_refused(write("f2short.npy", npy(3, dict("<f2", true, "(3, 3)"), Bytes(17, 0))),
                   "3 x 3 float16 (18 bytes of data), the file holds 17");
    expect_refused(write("f8short.npy", npy(1, dict("<f8", false, "(3, 3)"), {})),
                   "the file holds 0");
}

// ---- .fvecs -------------------------------------------------------------------------------------

Bytes fvecs(const std::vector<std::vector<float>> &rows, const std::vector<int32_t> &dims = {})
{
    Bytes b;
    for (size_t r = 0; r < rows.size(); r++) {
        int32_t d = r < dims.size() ? dims[r] : (int32_t)rows[r].size();
        Bytes h(4);
        memcpy(h.data(), &d, 4);
        b.insert(b.end(), h.begin(), h.end());
        Bytes v = as_bytes(rows[r]);
        b.insert(b.end(), v.begin(), v.end());
    }
    return b;
}

std::vector<std::vector<float>> fgrid(int rows, int cols)
{
    std::vector<std::vector<float>> v(rows, std::vector<float>(cols));
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) v[i][j] = (float)(10 * i + j);
    return v;
}

TEST_F(CliIo, FvecsIsMappedWithAStrideOfDPlusOne)
{
    std::string p = write("x.fvecs", fvecs(fgrid(6, 5)));
    lsc_input in;
    if (open_ok(p, &in) == 0) {
        EXPECT_EQ(in.m.dtype, LSC_DTYPE_F32);
        EXPECT_EQ(in.m.rows, 6);
        EXPECT_EQ(in.m.cols, 5);
        EXPECT_EQ(in.m.ld, 6);
        EXPECT_EQ(in.owned, nullptr);
        EXPECT_EQ((const unsigned char *)in.m.data, (const unsigned char *)in.map + 4);
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 5; j++) ASSERT_EQ(at<float>(in, i, j), (float)(10 * i + j));
    }
    lsc_input_close(&in);
    p = write("one.fvecs", fvecs(fgrid(1, 1)));
    if (open_ok(p, &in) == 0) {
        EXPECT_EQ(in.m.rows, 1);
        EXPECT_EQ(in.m.cols, 1);
    }
    lsc_input_close(&in);
}

TEST_F(CliIo, RefusesBadFvecs)
{
    expect_refused(write("d0.fvecs", fvecs(fgrid(3, 0))),
                   "row 0 declares dimension 0 (must be >= 1)");
    expect_refused(write("dneg.fvecs", fvecs(fgrid(1, 2), {-2})), "row 0 declares dimension -2");
    expect_refused(write("dmin.fvecs", fvecs(fgrid(1, 2), {INT32_MIN})),
                   "row 0 declares dimension");
    expect_refused(write("mixed.fvecs", fvecs(fgrid(4, 3), {3, 3, 4, 3})),
                   "row 2 declares dimension 4, row 0 declared 3");
    Bytes cut = fvecs(fgrid(4, 3));
    cut.resize(cut.size() - 1);
    expect_refused(write("cut.fvecs", cut), "truncated in row 3");
    cut.resize(16 * 3 + 2);
    expect_refused(write("cut2.fvecs", cut), "truncated in row 3: 2 bytes left");
    expect_refused(write("tiny.fvecs", Bytes{1, 0}), "truncated: 2 bytes");
    // a huge declared dimension in a small file
    expect_refused(write("huge.fvecs", fvecs(fgrid(1, 2), {INT32_MAX})), "truncated in row 0");
    // a .npy file under the wrong name
    expect_refused(write("np.fvecs", npy(1, dict("<f4", false, "(2, 2)"), Bytes(16, 0))),
                   "this is a .npy file, not .fvecs");
}

// ---- writers ------------------------------------------------------------------------------------

TEST_F(CliIo, WritesF32NpyThatReadsBack)
{
    mode_t old = umask(022);
    std::vector<float> v = grid<float>(9, 7, false);
    std::string p = path("out.npy");
    char err[256] = "";
    ASSERT_EQ(lsc_npy_write_f32(p.c_str(), v.data(), 9, 7, err, sizeof err), 0) << err;
    umask(old);
    struct stat st;
    ASSERT_EQ(stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    EXPECT_EQ((size_t)st.st_size, 128u + v.size() * 4); // header padded to 128 bytes
    FILE *f = fopen(p.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    char h[128];
    ASSERT_EQ(fread(h, 1, 128, f), 128u);
    fclose(f);
    EXPECT_EQ(memcmp(h, "\x93NUMPY\x01\x00", 8), 0);
    EXPECT_EQ((unsigned char)h[8] | (unsigned char)h[9] << 8, 118);
    EXPECT_EQ(std::string(h + 10, 59),
              "{'descr': '<f4', 'fortran_order': False, 'shape': (9, 7), }");
    EXPECT_EQ(h[127], '\n');
    lsc_input in;
    if (open_ok(p, &in) == 0) {
        EXPECT_EQ(in.owned, nullptr);
        expect_grid<float>(in, 9, 7);
    }
    lsc_input_close(&in);
    // overwrite in place, and no temporary file is left behind
    ASSERT_EQ(lsc_npy_write_f32(p.c_str(), v.data(), 3, 21, err, sizeof err), 0) << err;
    if (open_ok(p, &in) == 0) {
        EXPECT_EQ(in.m.rows, 3);
        EXPECT_EQ(in.m.cols, 21);
    }
    lsc_input_close(&in);
    int files = 0;
    for (auto &e : std::filesystem::directory_iterator(dir_)) files += e.is_regular_file();
    EXPECT_EQ(files, 1);
}

TEST_F(CliIo, WritesI64Npy)
{
    std::vector<int64_t> v = {0, 1, -1, INT64_MAX, INT64_MIN, 42};
    std::string p = path("idx.npy");
    char err[256] = "";
    ASSERT_EQ(lsc_npy_write_i64(p.c_str(), v.data(), 2, 3, err, sizeof err), 0) << err;
    FILE *f = fopen(p.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    Bytes b(128 + 48 + 1);
    size_t n = fread(b.data(), 1, b.size(), f);
    fclose(f);
    ASSERT_EQ(n, 128u + 48u);
    std::string hdr((char *)b.data() + 10, 59);
    EXPECT_EQ(hdr.rfind("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", 0), 0u)
        << hdr;
    EXPECT_EQ(b[127], '\n');
    EXPECT_EQ(memcmp(b.data() + 128, v.data(), 48), 0);
    // the reader refuses integers, naming them
    expect_refused(p, "integer arrays are not supported (dtype '<i8')");
    // zero rows are allowed for a writer (the reader refuses them)
    ASSERT_EQ(lsc_npy_write_i64(p.c_str(), nullptr, 0, 5, err, sizeof err), 0) << err;
    ASSERT_EQ(lsc_npy_write_f32(p.c_str(), nullptr, 0, 5, err, sizeof err), 0) << err;
    expect_refused(p, "empty array: shape (0, 5) has no rows");
}

TEST_F(CliIo, WriterFailuresLeaveNothingBehind)
{
    float x = 1;
    char err[256] = "";
    std::string p = path("no/such/dir/out.npy");
    EXPECT_EQ(lsc_npy_write_f32(p.c_str(), &x, 1, 1, err, sizeof err), 2);
    EXPECT_EQ(std::string(err).rfind(p + ": cannot open for writing", 0), 0u) << err;
    EXPECT_EQ(lsc_npy_write_f32(path("neg.npy").c_str(), &x, -1, 1, err, sizeof err), 2);
    EXPECT_NE(std::string(err).find("cannot write a -1 x 1 array"), std::string::npos) << err;
    EXPECT_EQ(lsc_npy_write_f32(path("big.npy").c_str(), &x, INT64_MAX, 2, err, sizeof err), 2);
    EXPECT_NE(std::string(err).find("too large"), std::string::npos) << err;
    EXPECT_EQ(lsc_npy_write_f32(path("null.npy").c_str(), nullptr, 1, 1, err, sizeof err), 2);
    // a directory in the way of the rename
    std::filesystem::create_directory(path("adir.npy"));
    EXPECT_EQ(lsc_npy_write_f32(path("adir.npy").c_str(), &x, 1, 1, err, sizeof err), 2);
    EXPECT_NE(std::string(err).find("cannot replace"), std::string::npos) << err;
    int files = 0;
    for (auto &e : std::filesystem::directory_iterator(dir_)) files += e.is_regular_file();
    EXPECT_EQ(files, 0);
}

TEST_F(CliIo, CloseIsSafeOnZeroedAndClosedInputs)
{
    lsc_input in;
    memset(&in, 0, sizeof in);
    lsc_input_close(&in);
    lsc_input_close(&in);
    lsc_input_close(nullptr);
    char err[8];
    // a tiny error buffer is cut, never overrun
    EXPECT_EQ(lsc_input_open(path("missing.npy").c_str(), &in, err, sizeof err), 2);
    EXPECT_EQ(strlen(err), sizeof err - 1);
    EXPECT_EQ(lsc_input_open(path("missing.npy").c_str(), &in, nullptr, 0), 2);
}

// ---- .npz, .safetensors, HDF5 (tests/fixtures/formats, written by numpy, safetensors, h5py) ---

std::string fixture(const std::string &name) { return std::string(LSC_FIXTURES_DIR) + "/" + name; }

// Opens `spec`, which must be refused with `code`: the message starts with `file` and holds
// `what`, on one line, and nothing is left to close.
void refused(const std::string &spec, const std::string &file, const std::string &what,
             int code = 2)
{
    lsc_input in;
    char err[512] = "";
    int rc = lsc_input_open(spec.c_str(), &in, err, sizeof err);
    EXPECT_EQ(rc, code) << spec << ": " << err;
    std::string msg(err);
    EXPECT_EQ(msg.rfind(file + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << "expected '" << what << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(in.map, nullptr);
    EXPECT_EQ(in.owned, nullptr);
    lsc_input_close(&in);
}

[[maybe_unused]] std::vector<int64_t> labels_ok(const std::string &spec)
{
    int64_t *l = nullptr, n = 0;
    char err[512] = "";
    EXPECT_EQ(lsc_labels_open(spec.c_str(), &l, &n, err, sizeof err), 0) << spec << ": " << err;
    std::vector<int64_t> v(l, l + n);
    free(l);
    return v;
}

void labels_refused(const std::string &spec, const std::string &what)
{
    int64_t *l = nullptr, n = 7;
    char err[512] = "";
    EXPECT_EQ(lsc_labels_open(spec.c_str(), &l, &n, err, sizeof err), 2) << spec;
    EXPECT_EQ(l, nullptr);
    EXPECT_EQ(n, 0);
    EXPECT_NE(std::string(err).find(what), std::string::npos)
        << "expected '" << what << "' in: " << err;
}

const std::vector<int64_t> kLabels = {0, 1, 2, 0, 1, 2};

#ifdef LSC_HAVE_LIBZIP
TEST_F(CliIo, NpzArraysByNameStoredInPlaceCompressedInflated)
{
    lsc_input in;
    const std::string two = fixture("two.npz");
    if (open_ok(two + ":feats", &in) == 0) {
        expect_grid<float>(in, 6, 4);
        // stored: used in the mapped archive, or copied once when numpy left it misaligned
        const unsigned char *d = (const unsigned char *)in.m.data,
                            *m = (const unsigned char *)in.map;
        EXPECT_TRUE(in.owned || (m && d > m && d < m + in.map_len));
    }
    lsc_input_close(&in);
    if (open_ok(two + ":feats.npy", &in) == 0) expect_grid<float>(in, 6, 4); // the member's name
    lsc_input_close(&in);
    if (open_ok(fixture("aligned.npz"), &in) == 0) { // aligned: no copy at all
        expect_grid<float>(in, 6, 4);
        EXPECT_EQ(in.owned, nullptr);
        const unsigned char *d = (const unsigned char *)in.m.data,
                            *m = (const unsigned char *)in.map;
        EXPECT_TRUE(m && d == m + 184);
    }
    lsc_input_close(&in);
    if (open_ok(fixture("one_compressed.npz"), &in) == 0) { // the only array, deflated
        EXPECT_EQ(in.m.dtype, LSC_DTYPE_F64);
        EXPECT_EQ(in.map, nullptr);
        expect_grid<double>(in, 6, 4);
    }
    lsc_input_close(&in);
    if (open_ok(fixture("fortran_f16.npz"), &in) == 0) {
        EXPECT_EQ(in.m.dtype, LSC_DTYPE_F16);
        expect_half_grid(in, 6, 4);
    }
    lsc_input_close(&in);
    // a name holding ':' and '/'
    if (open_ok(fixture("nested_name.npz") + ":run:1/feats", &in) == 0)
        expect_grid<float>(in, 6, 4);
    lsc_input_close(&in);
    refused(two, two,
            "the archive holds 2 arrays ('feats', 'labels'): choose one with " + two + ":NAME");
    refused(two + ":nope", two, "no array 'nope' in the archive (it holds 'feats', 'labels')");
    refused(two + ":", two, "no array name after ':'");
    refused(two + ":labels", two, "array 'labels': integer arrays are not supported");
    EXPECT_EQ(labels_ok(two + ":labels"), kLabels);
    EXPECT_EQ(labels_ok(fixture("labels_i16.npz")), kLabels);
    labels_refused(two + ":feats", "labels must be integers");
}

TEST_F(CliIo, PathsHoldingColonsAreTriedWholeFirst)
{
    std::filesystem::copy_file(fixture("two.npz"), path("a:b.npz"));
    std::string p = path("a:b.npz") + ":feats";
    lsc_input in;
    if (open_ok(p, &in) == 0) expect_grid<float>(in, 6, 4);
    lsc_input_close(&in);
    EXPECT_EQ(labels_ok(path("a:b.npz") + ":labels"), kLabels);
    // a whole .npy path with ':' in it
    std::string q =
        write("x:y.npy", npy(1, dict("<f4", false, "(6, 4)"), as_bytes(grid<float>(6, 4, false))));
    if (open_ok(q, &in) == 0) expect_grid<float>(in, 6, 4);
    lsc_input_close(&in);
    // a missing container names the file, not the spec
    refused(path("none.npz") + ":x", path("none.npz"), "cannot open");
    refused(q + ":x", q, "a .npy file holds one array, so ':x' selects nothing");
}

TEST_F(CliIo, RefusesHostileNpz)
{
    struct Case {
        const char *file, *what;
    } cases[] = {
        {"bad_truncated.npz", "not a readable .npz (zip) archive"},
        {"bad_garbage.npz", "not a readable .npz (zip) archive"},
        {"bad_dup.npz", "two members of one name"},
        {"bad_size_small.npz",
         "array 'x': the member inflates to more than its declared 208 bytes"},
        {"bad_size_large.npz", "array 'x': the member ends after 224 of its declared 240 bytes"},
        {"bad_not_npy.npz", "array 'x': not a .npy file"},
        {"bad_no_arrays.npz", "the archive holds no .npy members"},
        {"bad_int.npz", "integer arrays are not supported (dtype '<i4')"},
        {"bad_huge_shape.npz", "truncated: the header claims 1000000000000 x 4 float32"},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.file);
        refused(fixture(c.file), fixture(c.file), c.what);
    }
    refused(fixture("bad_no_arrays.npz") + ":readme.txt", fixture("bad_no_arrays.npz"),
            "member 'readme.txt' is not a .npy array");
    // the zip bomb: 4 MiB of zeros in 4 KiB, refused before anything is allocated when above the
    // limit, read when within it
    std::string bomb = fixture("bad_bomb.npz");
    setenv("LSC_MAX_INFLATE", "1M", 1);
    refused(bomb, bomb,
            "compressed member claims 4194432 bytes once inflated (4166 compressed), "
            "above the limit of 1048576 (LSC_MAX_INFLATE)");
    unsetenv("LSC_MAX_INFLATE");
    lsc_input in;
    if (open_ok(bomb, &in) == 0) {
        EXPECT_EQ(in.m.rows, 1024);
        EXPECT_EQ(in.m.cols, 1024);
    }
    lsc_input_close(&in);
}

TEST_F(CliIo, WritesNpzThatReadsBack)
{
    std::vector<float> d = grid<float>(6, 4, false);
    std::vector<int64_t> idx = kLabels;
    std::string p = path("out.npz");
    lsc_output_array outs[2] = {{p.c_str(), "dist", d.data(), 0, 6, 4},
                                {p.c_str(), "idx", idx.data(), 1, 6, 1}};
    char err[512] = "";
    ASSERT_EQ(lsc_arrays_write(outs, 2, err, sizeof err), 0) << err;
    lsc_input in;
    if (open_ok(p + ":dist", &in) == 0) expect_grid<float>(in, 6, 4);
    lsc_input_close(&in);
    EXPECT_EQ(labels_ok(p + ":idx"), kLabels);
    // NAME after ':', and a .npy beside it
    std::string q = path("named.npz");
    lsc_output_array two[2] = {{(q + ":mine").c_str(), "dist", d.data(), 0, 6, 4},
                               {path("i.npy").c_str(), "idx", idx.data(), 1, 6, 1}};
    std::string qs = q + ":mine", is = path("i.npy");
    two[0].path = qs.c_str();
    two[1].path = is.c_str();
    ASSERT_EQ(lsc_arrays_write(two, 2, err, sizeof err), 0) << err;
    if (open_ok(q, &in) == 0) expect_grid<float>(in, 6, 4); // its only array
    lsc_input_close(&in);
    EXPECT_EQ(labels_ok(is), kLabels);
    // failures: one name twice, a missing directory; nothing is left behind
    std::string r = path("r.npz");
    lsc_output_array dup[2] = {{r.c_str(), "a", d.data(), 0, 6, 4},
                               {r.c_str(), "a", d.data(), 0, 6, 4}};
    EXPECT_EQ(lsc_arrays_write(dup, 2, err, sizeof err), 2);
    EXPECT_NE(std::string(err).find("two arrays named 'a'"), std::string::npos) << err;
    std::string bad = path("no/such/dir/o.npz");
    lsc_output_array nodir = {bad.c_str(), "dist", d.data(), 0, 6, 4};
    EXPECT_EQ(lsc_arrays_write(&nodir, 1, err, sizeof err), 2);
    EXPECT_EQ(std::string(err).rfind(bad + ": ", 0), 0u) << err;
    int files = 0;
    for (auto &e : std::filesystem::directory_iterator(dir_)) files += e.is_regular_file();
    EXPECT_EQ(files, 3); // out.npz, named.npz, i.npy
}
#else
TEST_F(CliIo, NpzSaysItWasNotBuiltIn)
{
    refused(fixture("two.npz") + ":feats", fixture("two.npz"),
            "need libzip, which this lsc was built without");
}
#endif

#ifdef LSC_HAVE_CJSON
TEST_F(CliIo, SafetensorsTensorsByNameMappedInPlace)
{
    lsc_input in;
    const std::string two = fixture("two.safetensors");
    if (open_ok(two + ":feats", &in) == 0) {
        expect_grid<float>(in, 6, 4);
        EXPECT_EQ(in.owned, nullptr);
        const unsigned char *d = (const unsigned char *)in.m.data,
                            *m = (const unsigned char *)in.map;
        EXPECT_TRUE(m && d > m && d + 96 <= m + in.map_len);
    }
    lsc_input_close(&in);
    if (open_ok(fixture("one_f64.safetensors"), &in) == 0) { // the only tensor; metadata skipped
        EXPECT_EQ(in.m.dtype, LSC_DTYPE_F64);
        expect_grid<double>(in, 6, 4);
    }
    lsc_input_close(&in);
    if (open_ok(fixture("f16.safetensors"), &in) == 0) {
        EXPECT_EQ(in.m.dtype, LSC_DTYPE_F16);
        expect_half_grid(in, 6, 4);
    }
    lsc_input_close(&in);
    if (open_ok(fixture("bf16.safetensors"), &in) == 0) {
        EXPECT_EQ(in.m.dtype, LSC_DTYPE_BF16);
        ASSERT_EQ(in.m.rows, 6);
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 4; j++) {
                float f = (float)(10 * i + j);
                uint32_t u;
                memcpy(&u, &f, 4);
                ASSERT_EQ(at<uint16_t>(in, i, j), (uint16_t)(u >> 16));
            }
    }
    lsc_input_close(&in);
    refused(two, two,
            "the file holds 2 tensors ('feats', 'labels'): choose one with " + two + ":NAME");
    refused(two + ":nope", two, "no tensor 'nope' in the file (it holds 'feats', 'labels')");
    EXPECT_EQ(labels_ok(two + ":labels"), kLabels);
    EXPECT_EQ(labels_ok(fixture("labels_u8.safetensors")), kLabels);
    labels_refused(two + ":feats", "labels must be integers (I8 to I64, U8 to U64), not dtype F32");
}

TEST_F(CliIo, RefusesHostileSafetensors)
{
    struct Case {
        const char *file, *what;
    } cases[] = {
        {"bad_truncated.safetensors",
         "the tensors' data end at offset 96, the file holds 86 bytes of data"},
        {"bad_header_len.safetensors",
         "the header length at offset 0 is 1152921504606846976 bytes, the file holds 160"},
        {"bad_json.safetensors", "the JSON header (64 bytes at offset 8) does not parse"},
        {"bad_dup.safetensors", "the header names tensor 'x' twice"},
        {"bad_overlap.safetensors",
         "tensor 'b' starts at data offset 64, but the tensor before it ends at 96 (an overlap)"},
        {"bad_gap.safetensors",
         "tensor 'x' starts at data offset 16, but the data start at 0 (a gap)"},
        {"bad_size.safetensors",
         "tensor 'x': shape (7, 4) of F32 needs 112 bytes, its \"data_offsets\" [0, 96] hold 96"},
        {"bad_huge_shape.safetensors", "shape (1099511627776, 1099511627776) of F32 is too large"},
        {"bad_dtype.safetensors", "tensor 'x': dtype I32 is not supported"},
        {"bad_3d.safetensors", "expected a 2-D tensor (rows x cols), got shape (2, 3, 4)"},
        {"bad_offsets.safetensors", "\"data_offsets\" are not non-negative integers"},
        {"bad_negative.safetensors", "shape entry 0 is not a non-negative integer"},
        {"bad_past_end.safetensors",
         "data end at offset 128, the file holds 96 bytes of data (after the 64-byte header): truncated"},
        {"bad_not_object.safetensors", "the JSON header is not an object"},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.file);
        refused(fixture(c.file), fixture(c.file), c.what);
    }
    refused(write("tiny.safetensors", Bytes{1, 0, 0}), path("tiny.safetensors"),
            "truncated: 3 bytes");
}
#else
TEST_F(CliIo, SafetensorsSaysItWasNotBuiltIn)
{
    refused(fixture("two.safetensors"), fixture("two.safetensors"),
            "need cJSON, which this lsc was built without");
}
#endif

#ifdef LSC_HAVE_HDF5
TEST_F(CliIo, Hdf5DatasetsMappedWhenContiguousElseReadInBlocks)
{
    lsc_input in;
    const std::string h = fixture("feats.h5");
    if (open_ok(h + ":/g/feats", &in) == 0) { // contiguous: in place
        expect_grid<float>(in, 6, 4);
        EXPECT_EQ(in.owned, nullptr);
        EXPECT_NE(in.map, nullptr);
    }
    lsc_input_close(&in);
    if (open_ok(h + ":g/chunked", &in) == 0) { // chunked + gzip: read into a buffer
        expect_grid<float>(in, 6, 4);
        EXPECT_NE(in.owned, nullptr);
    }
    lsc_input_close(&in);
    if (open_ok(h + ":/be", &in) == 0) { // big-endian float64, converted by libhdf5
        EXPECT_EQ(in.m.dtype, LSC_DTYPE_F64);
        expect_grid<double>(in, 6, 4);
    }
    lsc_input_close(&in);
    if (open_ok(h + ":/f16", &in) == 0) {
        EXPECT_EQ(in.m.dtype, LSC_DTYPE_F16);
        expect_half_grid(in, 6, 4);
    }
    lsc_input_close(&in);
    if (open_ok(fixture("one.hdf5"), &in) == 0) expect_grid<double>(in, 6, 4); // the only one
    lsc_input_close(&in);
    refused(h, h, "the file holds 10 datasets ('/be', '/cube', '/f16', ");
    refused(h + ":/huge", h,
            "dataset '/huge': shape (1000000000000, 4) needs 16000000000000 bytes "
            "in memory (it cannot be mapped from the file: chunked, filtered, "
            "unwritten or in the other byte order), above the limit of");
    refused(h + ":/nope", h, "no dataset '/nope' in the file (it holds '/be'");
    refused(h + ":/cube", h,
            "dataset '/cube': expected a 2-D dataset (rows x cols), got shape (2, 3, 4)");
    refused(h + ":/ints", h, "dataset '/ints': integer datasets are not supported");
    refused(h + ":/text", h, "dataset '/text': string datasets are not supported");
    refused(fixture("bad_truncated.h5") + ":/g/feats", fixture("bad_truncated.h5"),
            "not a readable HDF5 file");
    refused(fixture("bad_not_hdf5.h5"), fixture("bad_not_hdf5.h5"), "not a readable HDF5 file");
    EXPECT_EQ(labels_ok(h + ":/labels"), kLabels);
    labels_refused(h + ":/u64", "label 2 is 9223372036854775813, above the int64 range");
    labels_refused(h + ":/g/feats", "labels must be integers");
}
#else
TEST_F(CliIo, Hdf5SaysItWasNotBuiltIn)
{
    refused(fixture("one.hdf5"), fixture("one.hdf5"),
            "need libhdf5, which this lsc was built without");
}
#endif

TEST_F(CliIo, PyTorchAndUnknownFilesSayWhatToDo)
{
    refused(path("model.pt"), path("model.pt"),
            "numpy.save('" + path("model") + ".npy', torch.load('" + path("model.pt") + "'");
    refused(path("w.pth"), path("w.pth"), "PyTorch files are pickles");
    refused(path("x.csv"), path("x.csv"),
            "unknown file type (expected .npy, .npz[:NAME], .safetensors[:NAME], .h5 or "
            ".hdf5[:/DATASET], .fvecs)");
    labels_refused(path("l.csv"), "labels are read from 1-D integer arrays in .npy, .npz");
}

// ---- the library takes the views as they are ---------------------------------------------------

TEST_F(CliIo, LibraryAgreesOnNpyFortranAndFvecsViews)
{
    const int R = 12, C = 7;
    std::vector<float> v(R * C);
    for (int i = 0; i < R * C; i++) v[i] = (float)((i * 37) % 23) - 11.0f;
    std::vector<float> vt(R * C);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) vt[(size_t)j * R + i] = v[(size_t)i * C + j];
    std::vector<std::vector<float>> rows(R, std::vector<float>(C));
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) rows[i][j] = v[(size_t)i * C + j];
    std::string pc = path("c.npy");
    char err[256] = "";
    ASSERT_EQ(lsc_npy_write_f32(pc.c_str(), v.data(), R, C, err, sizeof err), 0) << err;
    std::string pf = write("f.npy", npy(2, dict("<f4", true, "(12, 7)"), as_bytes(vt)));
    std::string pv = write("x.fvecs", fvecs(rows));

    lsc_ctx_params params = LSC_CTX_PARAMS_INIT;
    params.backend = LSC_BACKEND_CPU;
    params.threads = 1;
    lsc_ctx *ctx = nullptr;
    ASSERT_EQ(lsc_ctx_create(&params, &ctx), LSC_STATUS_OK) << lsc_last_error(ctx);
    lsc_input ic, iff, iv;
    ASSERT_EQ(open_ok(pc, &ic), 0);
    ASSERT_EQ(open_ok(pf, &iff), 0);
    ASSERT_EQ(open_ok(pv, &iv), 0);
    std::vector<float> dc(R * R), df(R * R), dv(R * R);
    EXPECT_EQ(lsc_distances(ctx, &ic.m, &ic.m, LSC_METRIC_EUCLIDEAN, dc.data(), R, LSC_MEMORY_HOST),
              LSC_STATUS_OK)
        << lsc_last_error(ctx);
    EXPECT_EQ(
        lsc_distances(ctx, &iff.m, &iff.m, LSC_METRIC_EUCLIDEAN, df.data(), R, LSC_MEMORY_HOST),
        LSC_STATUS_OK)
        << lsc_last_error(ctx);
    EXPECT_EQ(lsc_distances(ctx, &iv.m, &iv.m, LSC_METRIC_EUCLIDEAN, dv.data(), R, LSC_MEMORY_HOST),
              LSC_STATUS_OK)
        << lsc_last_error(ctx);
    EXPECT_EQ(dc, df);
    EXPECT_EQ(dc, dv);
    EXPECT_GT(dc[1], 0.0f);
    lsc_input_close(&ic);
    lsc_input_close(&iff);
    lsc_input_close(&iv);
    lsc_ctx_destroy(ctx);
}

} // namespace
