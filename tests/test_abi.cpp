// The ABI can grow without breaking callers (docs/ABI.md): every published size of every
// growable struct is read and written as that caller expects, a newer header's larger struct is
// accepted when the bytes this library does not know are zero, and every other size is refused
// with both sizes named. tests/abi/old_caller.c runs a program built against the frozen 0.1
// header; this file checks the same rules from today's header, byte by byte.
#include "test_util.hpp"
#include "datasets.hpp"

#include <lsc.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
extern const size_t lsc01_sizeof_ctx_params, lsc01_sizeof_spectrum_opts,
    lsc01_sizeof_spectrum_result, lsc01_sizeof_pair_opts, lsc01_sizeof_pair_result,
    lsc01_sizeof_knn_opts, lsc01_sizeof_reference_opts, lsc01_sizeof_reference_info,
    lsc01_sizeof_prdc_result, lsc01_sizeof_matrix, lsc01_sizeof_pair, lsc01_sizeof_async_status;
}

namespace {

// A struct of `size` bytes at the start of a buffer whose other bytes are `fill`.
struct Buf {
    alignas(16) unsigned char b[1024];
    Buf(const void *init, size_t init_bytes, size_t size, unsigned char fill = 0)
    {
        std::memset(b, fill, sizeof b);
        std::memcpy(b, init, init_bytes < size ? init_bytes : size);
        std::memcpy(b, &size, sizeof size);
    }
    template <class T>
    T *as()
    {
        return reinterpret_cast<T *>(b);
    }
    bool all(size_t from, size_t to, unsigned char v) const
    {
        for (size_t i = from; i < to; i++)
            if (b[i] != v) return false;
        return true;
    }
};

TEST(Abi, AppendedFieldsStartWhereThe01StructsEnded)
{
    EXPECT_EQ(offsetof(lsc_ctx_params, device_alloc) <= lsc01_sizeof_ctx_params, true);
    EXPECT_EQ(lsc01_sizeof_ctx_params, sizeof(lsc_ctx_params));
    EXPECT_EQ(lsc01_sizeof_spectrum_opts, sizeof(lsc_spectrum_opts));
    EXPECT_EQ(lsc01_sizeof_spectrum_result, offsetof(lsc_spectrum_result, vendi_cosine_q0));
    EXPECT_EQ(lsc01_sizeof_pair_opts, offsetof(lsc_pair_opts, subset_offset));
    EXPECT_EQ(lsc01_sizeof_pair_result, offsetof(lsc_pair_result, uniformity));
    EXPECT_EQ(lsc01_sizeof_knn_opts, sizeof(lsc_knn_opts));
    EXPECT_EQ(lsc01_sizeof_reference_opts, sizeof(lsc_reference_opts));
    EXPECT_EQ(lsc01_sizeof_reference_info, offsetof(lsc_reference_info, file_version));
    EXPECT_EQ(lsc01_sizeof_prdc_result, offsetof(lsc_prdc_result, coverage_expected));
    // the fixed records never change
    EXPECT_EQ(lsc01_sizeof_matrix, sizeof(lsc_matrix));
    EXPECT_EQ(lsc01_sizeof_pair, sizeof(lsc_pair));
    EXPECT_EQ(lsc01_sizeof_async_status, sizeof(lsc_async_status));
}

struct Sets {
    std::vector<float> real = data::gaussian(300, 8, data::seed(900));
    std::vector<float> fake = data::gaussian(200, 8, data::seed(901));
    lsc_matrix r = lsc_matrix_f32(real.data(), 300, 8);
    lsc_matrix f = lsc_matrix_f32(fake.data(), 200, 8);
};

TEST(Abi, OldOptionSizesReadTheirPrefixAndDefaultTheRest)
{
    Ctx ctx;
    Sets s;
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    o.subset_rows = 120;
    o.seed = 11;
    o.subset_offset = 0;
    lsc_pair_result want = LSC_PAIR_RESULT_INIT;
    ASSERT_EQ(lsc_pair_stats(ctx, &s.r, &o, &want, nullptr, nullptr), LSC_STATUS_OK);
    // a 0.1 caller's struct ends before subset_offset; whatever follows it is not read
    o.subset_offset = 77;
    Buf old(&o, sizeof o, lsc01_sizeof_pair_opts, 0xEE);
    lsc_pair_result got = LSC_PAIR_RESULT_INIT;
    ASSERT_EQ(lsc_pair_stats(ctx, &s.r, old.as<lsc_pair_opts>(), &got, nullptr, nullptr),
              LSC_STATUS_OK)
        << lsc_last_error(ctx);
    EXPECT_EQ(std::memcmp(&got, &want, sizeof got), 0);
    // the old context parameters (without the allocator fields) still make a context
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CPU;
    Buf pold(&p, sizeof p, offsetof(lsc_ctx_params, device_alloc), 0xEE);
    lsc_ctx *c2 = nullptr;
    EXPECT_EQ(lsc_ctx_create(pold.as<lsc_ctx_params>(), &c2), LSC_STATUS_OK) << lsc_last_error(c2);
    lsc_ctx_destroy(c2);
}

TEST(Abi, NewerHeadersLargerOptionsAreReadWhenTheirTailIsZero)
{
    Ctx ctx;
    Sets s;
    lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    lsc_pair_result want = LSC_PAIR_RESULT_INIT;
    ASSERT_EQ(lsc_pair_stats(ctx, &s.r, &o, &want, nullptr, nullptr), LSC_STATUS_OK);
    Buf big(&o, sizeof o, sizeof o + 40, 0);
    lsc_pair_result got = LSC_PAIR_RESULT_INIT;
    ASSERT_EQ(lsc_pair_stats(ctx, &s.r, big.as<lsc_pair_opts>(), &got, nullptr, nullptr),
              LSC_STATUS_OK)
        << lsc_last_error(ctx);
    EXPECT_EQ(std::memcmp(&got, &want, sizeof got), 0);
    // a field this library does not know, set: refused, naming both sizes and the byte
    big.b[sizeof o + 13] = 1;
    EXPECT_EQ(lsc_pair_stats(ctx, &s.r, big.as<lsc_pair_opts>(), &got, nullptr, nullptr),
              LSC_STATUS_INVALID_ARGUMENT);
    const std::string msg = lsc_last_error(ctx);
    EXPECT_TRUE(mentions(msg.c_str(), std::to_string(sizeof o + 40))) << msg;
    EXPECT_TRUE(mentions(msg.c_str(), std::to_string(sizeof o))) << msg;
    EXPECT_TRUE(mentions(msg.c_str(), "byte " + std::to_string(sizeof o + 13))) << msg;
    // the same for the context parameters
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CPU;
    Buf pbig(&p, sizeof p, sizeof p + 16, 0);
    lsc_ctx *c2 = nullptr;
    EXPECT_EQ(lsc_ctx_create(pbig.as<lsc_ctx_params>(), &c2), LSC_STATUS_OK) << lsc_last_error(c2);
    lsc_ctx_destroy(c2);
    pbig.b[sizeof p + 15] = 0x80;
    EXPECT_EQ(lsc_ctx_create(pbig.as<lsc_ctx_params>(), &c2), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(c2), "newer")) << lsc_last_error(c2);
    lsc_ctx_destroy(c2);
}

TEST(Abi, SizesBetweenPublishedOnesAreRefusedWithBoth)
{
    Ctx ctx;
    Sets s;
    for (size_t bad : {(size_t)0, (size_t)8, lsc01_sizeof_pair_opts - 8, lsc01_sizeof_pair_opts + 4,
                       sizeof(lsc_pair_opts) - 4, (size_t)1 << 20}) {
        SCOPED_TRACE(bad);
        lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
        Buf b(&o, sizeof o, bad < 1024 ? bad : 16, 0);
        std::memcpy(b.b, &bad, sizeof bad);
        lsc_pair_result r = LSC_PAIR_RESULT_INIT;
        EXPECT_EQ(lsc_pair_stats(ctx, &s.r, b.as<lsc_pair_opts>(), &r, nullptr, nullptr),
                  LSC_STATUS_INVALID_ARGUMENT);
        const std::string msg = lsc_last_error(ctx);
        EXPECT_TRUE(mentions(msg.c_str(), "pair opts.size is " + std::to_string(bad))) << msg;
        // every published size: 0.1's, 0.2's (before the uniformity flag), today's
        EXPECT_TRUE(mentions(msg.c_str(), std::to_string(lsc01_sizeof_pair_opts) + ", " +
                                              std::to_string(offsetof(lsc_pair_opts, uniformity)) +
                                              " or " + std::to_string(sizeof(lsc_pair_opts))))
            << msg;
        EXPECT_TRUE(mentions(msg.c_str(), "LSC_PAIR_OPTS_INIT")) << msg;
    }
}

TEST(Abi, ResultsAreWrittenAsFarAsTheCallersSize)
{
    Ctx ctx;
    Sets s;
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &s.r, 5, nullptr, &ref), LSC_STATUS_OK);
    lsc_prdc_result full = LSC_PRDC_RESULT_INIT;
    ASSERT_EQ(lsc_prdc(ctx, ref, &s.f, &full), LSC_STATUS_OK);
    EXPECT_EQ(full.size, sizeof full);

    // a 0.1 caller: the bytes past its struct stay as they were
    lsc_prdc_result z = LSC_PRDC_RESULT_INIT;
    Buf old(&z, sizeof z, lsc01_sizeof_prdc_result, 0xC3);
    ASSERT_EQ(lsc_prdc(ctx, ref, &s.f, old.as<lsc_prdc_result>()), LSC_STATUS_OK);
    EXPECT_EQ(std::memcmp(old.b + sizeof(size_t),
                          reinterpret_cast<unsigned char *>(&full) + sizeof(size_t),
                          lsc01_sizeof_prdc_result - sizeof(size_t)),
              0);
    EXPECT_TRUE(old.all(lsc01_sizeof_prdc_result, sizeof old.b, 0xC3));
    size_t kept;
    std::memcpy(&kept, old.b, sizeof kept);
    EXPECT_EQ(kept, lsc01_sizeof_prdc_result) << "the caller's size is left as it is";

    // a newer caller: our fields, then zeros up to its size, nothing past it
    Buf big(&z, sizeof z, sizeof z + 24, 0xC3);
    ASSERT_EQ(lsc_prdc(ctx, ref, &s.f, big.as<lsc_prdc_result>()), LSC_STATUS_OK);
    EXPECT_EQ(std::memcmp(big.b + sizeof(size_t),
                          reinterpret_cast<unsigned char *>(&full) + sizeof(size_t),
                          sizeof full - sizeof(size_t)),
              0);
    EXPECT_TRUE(big.all(sizeof full, sizeof full + 24, 0));
    EXPECT_TRUE(big.all(sizeof full + 24, sizeof big.b, 0xC3));

    // reference info, the same rules (no context: the status alone)
    lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
    ASSERT_EQ(lsc_reference_info_get(ref, &info), LSC_STATUS_OK);
    EXPECT_EQ(info.file_version, 0) << "built in memory";
    Buf iold(&info, 0, lsc01_sizeof_reference_info, 0xC3);
    ASSERT_EQ(lsc_reference_info_get(ref, iold.as<lsc_reference_info>()), LSC_STATUS_OK);
    EXPECT_EQ(iold.as<lsc_reference_info>()->rows, 300);
    EXPECT_TRUE(iold.all(lsc01_sizeof_reference_info, sizeof iold.b, 0xC3));

    // unknown sizes: refused, nothing written
    for (size_t bad :
         {(size_t)0, lsc01_sizeof_prdc_result - 8, lsc01_sizeof_prdc_result + 4, (size_t)1 << 40}) {
        SCOPED_TRACE(bad);
        Buf b(&z, 0, 16, 0xC3);
        std::memcpy(b.b, &bad, sizeof bad);
        EXPECT_EQ(lsc_prdc(ctx, ref, &s.f, b.as<lsc_prdc_result>()), LSC_STATUS_INVALID_ARGUMENT);
        EXPECT_TRUE(mentions(lsc_last_error(ctx), "LSC_PRDC_RESULT_INIT")) << lsc_last_error(ctx);
        EXPECT_TRUE(b.all(sizeof(size_t), sizeof b.b, 0xC3));
    }
    for (size_t bad : {(size_t)0, lsc01_sizeof_reference_info - 8, lsc01_sizeof_reference_info + 4,
                       (size_t)1 << 40}) {
        SCOPED_TRACE(bad);
        Buf ib(&z, 0, 16, 0xC3);
        std::memcpy(ib.b, &bad, sizeof bad);
        EXPECT_EQ(lsc_reference_info_get(ref, ib.as<lsc_reference_info>()),
                  LSC_STATUS_INVALID_ARGUMENT);
        EXPECT_TRUE(ib.all(sizeof(size_t), sizeof ib.b, 0xC3));
    }
    lsc_reference_destroy(ref);
}

TEST(Abi, EveryResultStructChecksItsSize)
{
    Ctx ctx;
    Sets s;
    lsc_spectrum_result sr = LSC_SPECTRUM_RESULT_INIT;
    sr.size = 0;
    EXPECT_EQ(lsc_spectrum(ctx, &s.r, nullptr, &sr, nullptr, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "LSC_SPECTRUM_RESULT_INIT")) << lsc_last_error(ctx);
    lsc_pair_result pr = LSC_PAIR_RESULT_INIT;
    pr.size = sizeof pr - 4; // inside the appended uniformity
    EXPECT_EQ(lsc_pair_stats(ctx, &s.r, nullptr, &pr, nullptr, nullptr),
              LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "LSC_PAIR_RESULT_INIT")) << lsc_last_error(ctx);
    lsc_spectrum_acc *acc = nullptr;
    ASSERT_EQ(lsc_spectrum_acc_create(ctx, 8, nullptr, &acc), LSC_STATUS_OK);
    ASSERT_EQ(lsc_spectrum_acc_add(ctx, acc, &s.r), LSC_STATUS_OK);
    sr.size = 3;
    EXPECT_EQ(lsc_spectrum_acc_finalize(ctx, acc, &sr, nullptr, nullptr),
              LSC_STATUS_INVALID_ARGUMENT);
    sr.size = sizeof sr;
    EXPECT_EQ(lsc_spectrum_acc_finalize(ctx, acc, &sr, nullptr, nullptr), LSC_STATUS_OK);
    lsc_spectrum_acc_destroy(acc);
}

} // namespace
