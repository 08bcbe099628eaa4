// Allocation failures, which a library must survive. Linked against lsc_testing: the library's
// sources built with LSC_TESTING, where host/testing.h's counter makes the n-th host allocation
// from now fail. For every public operation: count the allocations of a successful call, then make
// each of them fail in turn. Each failure must return OUT_OF_MEMORY with a message, write no output
// (lsc_distances may have written part of its block: only its status is checked), and leave
// the context usable: the same call then succeeds with the same result, bit for bit. Leaks on
// these paths are caught by running this test under ASan or valgrind.
#include "datasets.hpp"
#include "testing.h"

#include <lsc.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <dirent.h>
#include <unistd.h>

namespace {

const uint64_t kSeed = data::seed(777001);

using Bytes = std::vector<unsigned char>;

template <class T>
void put(Bytes &b, const T &v)
{
    const unsigned char *p = reinterpret_cast<const unsigned char *>(&v);
    b.insert(b.end(), p, p + sizeof v);
}
template <class T>
void put(Bytes &b, const std::vector<T> &v)
{
    put(b, v.size());
    const unsigned char *p = reinterpret_cast<const unsigned char *>(v.data());
    b.insert(b.end(), p, p + v.size() * sizeof(T));
}
template <class T>
std::vector<T> sentinel_vec(size_t n)
{
    std::vector<T> v(n);
    std::memset(static_cast<void *>(v.data()), 0xA5, n * sizeof(T));
    return v;
}
// A result struct full of a byte pattern except its size field, which the caller sets.
template <class T>
T sentinel_obj()
{
    T o;
    std::memset(static_cast<void *>(&o), 0xA5, sizeof o);
    o.size = sizeof o;
    return o;
}

// Arms the failure counter around exactly one library call.
struct Inject {
    int64_t fail_at = 0; // 0: no failure
    bool skip = false;   // do not call at all (what "nothing written" looks like)
    int64_t counted = -1;
    lsc_ctx *ctx = nullptr;
    std::string message; // lsc_last_error right after the call
    lsc_status call(const std::function<lsc_status()> &f)
    {
        if (skip) return LSC_STATUS_OUT_OF_MEMORY;
        lsc_testing_fail_alloc(fail_at);
        lsc_status s = f();
        counted = lsc_testing_alloc_count();
        lsc_testing_fail_alloc(0);
        message = lsc_last_error(ctx);
        return s;
    }
};

// One operation: sets up what it needs (not counted), calls the library through inj, and
// serialises every output it has (sentinel-filled before the call) into out.
struct Op {
    std::string name;
    std::function<lsc_status(lsc_ctx *, Inject &, Bytes &)> run;
    bool partial_output = false; // lsc_distances: out may be partly written on failure
};

struct Fixture {
    int64_t n = 120, m = 90, d = 12, k = 4;
    std::vector<float> real, fake, wide;
    std::string dir, file;
    Fixture()
    {
        real = data::gaussian(n, d, kSeed);
        fake = data::gaussian(m, d, kSeed + 1, 0.1, 1.2);
        wide = data::gaussian(8, 40, kSeed + 2); // N < D: the N x N spectrum path
        for (int64_t c = 0; c < d; c++) {        // near-duplicate pairs exist
            real[7 * d + c] = real[3 * d + c];
            real[50 * d + c] = real[3 * d + c];
        }
        char tmpl[] = "/tmp/lsc_test_alloc_XXXXXX";
        const char *p = mkdtemp(tmpl);
        dir = p ? p : "/tmp";
        file = dir + "/ref.lscref";
    }
    ~Fixture()
    {
        std::remove(file.c_str());
        rmdir(dir.c_str());
    }
    lsc_matrix r() const { return lsc_matrix_f32(real.data(), n, d); }
    lsc_matrix f() const { return lsc_matrix_f32(fake.data(), m, d); }
    // names in dir (a failed save must leave no temporary file behind)
    std::vector<std::string> entries() const
    {
        std::vector<std::string> v;
        if (DIR *dp = opendir(dir.c_str())) {
            while (dirent *e = readdir(dp))
                if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
                    v.push_back(e->d_name);
            closedir(dp);
        }
        return v;
    }
};

void put_spectrum(Bytes &b, const lsc_spectrum_result &r, const std::vector<double> &sv,
                  const std::vector<double> &cv)
{
    put(b, r);
    put(b, sv);
    put(b, cv);
}

void put_reference(Bytes &b, const lsc_reference *ref, int64_t rows)
{
    lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
    lsc_reference_info_get(ref, &info);
    put(b, info);
    const double *rad = lsc_reference_radii(ref);
    b.insert(b.end(), reinterpret_cast<const unsigned char *>(rad),
             reinterpret_cast<const unsigned char *>(rad + rows));
}

std::vector<Op> operations(const Fixture &F)
{
    std::vector<Op> ops;
    auto spectrum = [&F](bool wide) {
        return [&F, wide](lsc_ctx *c, Inject &inj, Bytes &out) {
            lsc_matrix x = wide ? lsc_matrix_f32(F.wide.data(), 8, 40) : F.r();
            auto res = sentinel_obj<lsc_spectrum_result>();
            auto sv = sentinel_vec<double>((size_t)std::min(x.rows, x.cols));
            auto cv = sentinel_vec<double>((size_t)x.cols);
            lsc_status s =
                inj.call([&] { return lsc_spectrum(c, &x, nullptr, &res, sv.data(), cv.data()); });
            put_spectrum(out, res, sv, cv);
            return s;
        };
    };
    ops.push_back({"spectrum N >= D", spectrum(false)});
    ops.push_back({"spectrum N < D", spectrum(true)});
    ops.push_back({"acc_create", [&F](lsc_ctx *c, Inject &inj, Bytes &out) {
                       lsc_spectrum_acc *acc = (lsc_spectrum_acc *)(uintptr_t)0x5a5a;
                       lsc_status s =
                           inj.call([&] { return lsc_spectrum_acc_create(c, F.d, nullptr, &acc); });
                       put(out, (uintptr_t)(acc == (lsc_spectrum_acc *)(uintptr_t)0x5a5a));
                       if (s == LSC_STATUS_OK) {
                           put(out, lsc_spectrum_acc_rows(acc));
                           lsc_spectrum_acc_destroy(acc);
                       }
                       return s;
                   }});
    // add into an empty and into a non-empty accumulator; on failure it must be unchanged,
    // which its rows and its finalised figures show
    auto acc_add = [&F](int64_t before) {
        return [&F, before](lsc_ctx *c, Inject &inj, Bytes &out) {
            lsc_spectrum_acc *acc = nullptr;
            EXPECT_EQ(lsc_spectrum_acc_create(c, F.d, nullptr, &acc), LSC_STATUS_OK);
            lsc_matrix head = lsc_matrix_f32(F.real.data(), before, F.d);
            if (before) {
                EXPECT_EQ(lsc_spectrum_acc_add(c, acc, &head), LSC_STATUS_OK);
            }
            lsc_matrix rest = lsc_matrix_f32(F.real.data() + before * F.d, F.n - before, F.d);
            lsc_status s = inj.call([&] { return lsc_spectrum_acc_add(c, acc, &rest); });
            put(out, lsc_spectrum_acc_rows(acc));
            if (lsc_spectrum_acc_rows(acc) >= 2) {
                auto res = sentinel_obj<lsc_spectrum_result>();
                std::vector<double> sv((size_t)F.d), cv((size_t)F.d);
                EXPECT_EQ(lsc_spectrum_acc_finalize(c, acc, &res, sv.data(), cv.data()),
                          LSC_STATUS_OK);
                put_spectrum(out, res, sv, cv);
            }
            lsc_spectrum_acc_destroy(acc);
            return s;
        };
    };
    ops.push_back({"acc_add (empty)", acc_add(0)});
    ops.push_back({"acc_add (non-empty)", acc_add(40)});
    ops.push_back({"acc_merge", [&F](lsc_ctx *c, Inject &inj, Bytes &out) {
                       lsc_spectrum_acc *a = nullptr, *b = nullptr;
                       EXPECT_EQ(lsc_spectrum_acc_create(c, F.d, nullptr, &a), LSC_STATUS_OK);
                       EXPECT_EQ(lsc_spectrum_acc_create(c, F.d, nullptr, &b), LSC_STATUS_OK);
                       lsc_matrix h = lsc_matrix_f32(F.real.data(), 50, F.d);
                       lsc_matrix t = lsc_matrix_f32(F.real.data() + 50 * F.d, F.n - 50, F.d);
                       EXPECT_EQ(lsc_spectrum_acc_add(c, a, &h), LSC_STATUS_OK);
                       EXPECT_EQ(lsc_spectrum_acc_add(c, b, &t), LSC_STATUS_OK);
                       lsc_status s = inj.call([&] { return lsc_spectrum_acc_merge(c, a, b); });
                       put(out, lsc_spectrum_acc_rows(a));
                       auto res = sentinel_obj<lsc_spectrum_result>();
                       std::vector<double> sv((size_t)F.d), cv((size_t)F.d);
                       EXPECT_EQ(lsc_spectrum_acc_finalize(c, a, &res, sv.data(), cv.data()),
                                 LSC_STATUS_OK);
                       put_spectrum(out, res, sv, cv);
                       lsc_spectrum_acc_destroy(a);
                       lsc_spectrum_acc_destroy(b);
                       return s;
                   }});
    ops.push_back({"acc_finalize", [&F](lsc_ctx *c, Inject &inj, Bytes &out) {
                       lsc_spectrum_acc *a = nullptr;
                       EXPECT_EQ(lsc_spectrum_acc_create(c, F.d, nullptr, &a), LSC_STATUS_OK);
                       lsc_matrix x = F.r();
                       EXPECT_EQ(lsc_spectrum_acc_add(c, a, &x), LSC_STATUS_OK);
                       auto res = sentinel_obj<lsc_spectrum_result>();
                       auto sv = sentinel_vec<double>((size_t)F.d),
                            cv = sentinel_vec<double>((size_t)F.d);
                       lsc_status s = inj.call([&] {
                           return lsc_spectrum_acc_finalize(c, a, &res, sv.data(), cv.data());
                       });
                       put_spectrum(out, res, sv, cv);
                       put(out, lsc_spectrum_acc_rows(a));
                       lsc_spectrum_acc_destroy(a);
                       return s;
                   }});
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_SQEUCLIDEAN, LSC_METRIC_COSINE})
        ops.push_back({std::string("distances metric ") + std::to_string((int)metric),
                       [&F, metric](lsc_ctx *c, Inject &inj, Bytes &out) {
                           lsc_matrix a = F.r(), b = F.f();
                           auto o = sentinel_vec<float>((size_t)(F.n * F.m));
                           lsc_status s = inj.call([&] {
                               return lsc_distances(c, &a, &b, metric, o.data(), F.m,
                                                    LSC_MEMORY_HOST);
                           });
                           put(out, o);
                           return s;
                       },
                       true});
    auto pairs = [&F](lsc_metric metric, int64_t subset, bool outputs) {
        return [&F, metric, subset, outputs](lsc_ctx *c, Inject &inj, Bytes &out) {
            lsc_matrix x = F.r();
            lsc_pair_opts po = LSC_PAIR_OPTS_INIT;
            po.metric = metric;
            po.bins = 16;
            po.dup_report = 5;
            po.subset_rows = subset;
            po.seed = 99;
            auto res = sentinel_obj<lsc_pair_result>();
            auto hist = sentinel_vec<int64_t>(16);
            auto dups = sentinel_vec<lsc_pair>(5);
            lsc_status s = inj.call([&] {
                return lsc_pair_stats(c, &x, &po, &res, outputs ? hist.data() : nullptr,
                                      outputs ? dups.data() : nullptr);
            });
            put(out, res);
            put(out, hist);
            put(out, dups);
            return s;
        };
    };
    ops.push_back(
        {"pair_stats euclidean, histogram and dups", pairs(LSC_METRIC_EUCLIDEAN, 0, true)});
    ops.push_back({"pair_stats cosine, histogram and dups", pairs(LSC_METRIC_COSINE, 0, true)});
    ops.push_back({"pair_stats subset, no outputs", pairs(LSC_METRIC_EUCLIDEAN, 70, false)});
    auto knn = [&F](lsc_metric metric, bool self) {
        return [&F, metric, self](lsc_ctx *c, Inject &inj, Bytes &out) {
            lsc_matrix q = self ? F.r() : F.f(), b = F.r();
            lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
            ko.metric = metric;
            ko.exclude_self = self;
            auto dist = sentinel_vec<float>((size_t)(q.rows * F.k));
            auto idx = sentinel_vec<int64_t>((size_t)(q.rows * F.k));
            lsc_status s = inj.call([&] {
                return lsc_knn(c, &q, self ? nullptr : &b, F.k, &ko, dist.data(), idx.data());
            });
            put(out, dist);
            put(out, idx);
            return s;
        };
    };
    ops.push_back({"knn exclude_self", knn(LSC_METRIC_EUCLIDEAN, true)});
    ops.push_back({"knn queries vs base", knn(LSC_METRIC_EUCLIDEAN, false)});
    ops.push_back({"knn cosine", knn(LSC_METRIC_COSINE, false)});
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        ops.push_back({std::string("reference_create metric ") + std::to_string((int)metric),
                       [&F, metric](lsc_ctx *c, Inject &inj, Bytes &out) {
                           lsc_matrix x = F.r();
                           lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
                           ro.metric = metric;
                           lsc_reference *ref = (lsc_reference *)(uintptr_t)0x5a5a;
                           lsc_status s = inj.call(
                               [&] { return lsc_reference_create(c, &x, F.k, &ro, &ref); });
                           put(out, (uintptr_t)(ref == (lsc_reference *)(uintptr_t)0x5a5a));
                           if (s == LSC_STATUS_OK) {
                               put_reference(out, ref, F.n);
                               lsc_reference_destroy(ref);
                           }
                           return s;
                       }});
    ops.push_back({"reference_save", [&F](lsc_ctx *c, Inject &inj, Bytes &out) {
                       lsc_matrix x = F.r();
                       lsc_reference *ref = nullptr;
                       EXPECT_EQ(lsc_reference_create(c, &x, F.k, nullptr, &ref), LSC_STATUS_OK);
                       std::remove(F.file.c_str());
                       lsc_status s =
                           inj.call([&] { return lsc_reference_save(c, ref, F.file.c_str()); });
                       lsc_reference_destroy(ref);
                       // what the directory holds: the file (with its bytes) and nothing else
                       for (const std::string &e : F.entries())
                           out.insert(out.end(), e.begin(), e.end());
                       if (FILE *fp = std::fopen(F.file.c_str(), "rb")) {
                           int ch;
                           while ((ch = std::fgetc(fp)) != EOF) out.push_back((unsigned char)ch);
                           std::fclose(fp);
                       }
                       std::remove(F.file.c_str());
                       return s;
                   }});
    ops.push_back({"reference_load", [&F](lsc_ctx *c, Inject &inj, Bytes &out) {
                       lsc_matrix x = F.r();
                       lsc_reference *ref = nullptr;
                       EXPECT_EQ(lsc_reference_create(c, &x, F.k, nullptr, &ref), LSC_STATUS_OK);
                       EXPECT_EQ(lsc_reference_save(c, ref, F.file.c_str()), LSC_STATUS_OK);
                       lsc_reference_destroy(ref);
                       lsc_reference *got = (lsc_reference *)(uintptr_t)0x5a5a;
                       lsc_status s =
                           inj.call([&] { return lsc_reference_load(c, F.file.c_str(), &got); });
                       std::remove(F.file.c_str());
                       put(out, (uintptr_t)(got == (lsc_reference *)(uintptr_t)0x5a5a));
                       if (s == LSC_STATUS_OK) {
                           put_reference(out, got, F.n);
                           lsc_reference_destroy(got);
                       }
                       return s;
                   }});
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE})
        ops.push_back({std::string("prdc metric ") + std::to_string((int)metric),
                       [&F, metric](lsc_ctx *c, Inject &inj, Bytes &out) {
                           lsc_matrix x = F.r(), y = F.f();
                           lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
                           ro.metric = metric;
                           lsc_reference *ref = nullptr;
                           EXPECT_EQ(lsc_reference_create(c, &x, F.k, &ro, &ref), LSC_STATUS_OK);
                           auto res = sentinel_obj<lsc_prdc_result>();
                           lsc_status s = inj.call([&] { return lsc_prdc(c, ref, &y, &res); });
                           lsc_reference_destroy(ref);
                           put(out, res);
                           return s;
                       }});
    return ops;
}

lsc_ctx *make_ctx(int threads, size_t workspace = 0)
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CPU;
    p.threads = threads;
    p.workspace_limit = workspace;
    lsc_ctx *c = nullptr;
    EXPECT_EQ(lsc_ctx_create(&p, &c), LSC_STATUS_OK) << lsc_last_error(c);
    return c;
}

void every_failure(int threads, size_t workspace)
{
    Fixture F;
    lsc_ctx *c = make_ctx(threads, workspace);
    ASSERT_NE(c, nullptr);
    for (const Op &op : operations(F)) {
        SCOPED_TRACE(op.name);
        Inject inj;
        inj.ctx = c;
        Bytes untouched, ok;
        inj.skip = true;
        op.run(c, inj, untouched);
        inj.skip = false;
        ASSERT_EQ(op.run(c, inj, ok), LSC_STATUS_OK) << lsc_last_error(c);
        const int64_t count = inj.counted;
        std::printf("  %-45s %lld allocations\n", op.name.c_str(), (long long)count);
        if (op.name != "acc_merge") {
            EXPECT_GE(count, 1) << "no allocation counted: is the hook wired?";
        }
        for (int64_t i = 1; i <= count; i++) {
            SCOPED_TRACE(testing::Message() << "allocation " << i << " of " << count << " fails");
            Bytes got;
            inj.fail_at = i;
            lsc_status s = op.run(c, inj, got);
            EXPECT_EQ(s, LSC_STATUS_OUT_OF_MEMORY) << lsc_status_name(s) << ": " << inj.message;
            EXPECT_NE(inj.message.find("memory"), std::string::npos)
                << "message: '" << inj.message << "'";
            EXPECT_GE(inj.counted, i) << "the failing allocation was never reached";
            if (!op.partial_output) {
                EXPECT_TRUE(got == untouched) << "a failed call wrote output";
            }
            // the context is usable: the same call succeeds with the same result
            Bytes again;
            inj.fail_at = 0;
            s = op.run(c, inj, again);
            ASSERT_EQ(s, LSC_STATUS_OK) << inj.message;
            EXPECT_EQ(inj.message, "");
            EXPECT_TRUE(again == ok) << "result after a failure differs";
            EXPECT_EQ(inj.counted, count) << "allocation count changed";
        }
        // one past the count: nothing fails
        Bytes past;
        inj.fail_at = count + 1;
        EXPECT_EQ(op.run(c, inj, past), LSC_STATUS_OK) << lsc_last_error(c);
        EXPECT_TRUE(past == ok);
    }
    lsc_ctx_destroy(c);
}

TEST(AllocFailures, EveryAllocationOfEveryOperationTwoThreads) { every_failure(2, 0); }

TEST(AllocFailures, EveryAllocationOfEveryOperationThreeThreadsSmallTiles)
{
    // more per-thread allocations, and many tiles per call
    every_failure(3, 48 << 10);
}

TEST(AllocFailures, ContextItselfReturnsNullOnOutOfMemory)
{
    lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
    p.backend = LSC_BACKEND_CPU;
    lsc_ctx *c = (lsc_ctx *)(uintptr_t)0x5a5a;
    lsc_testing_fail_alloc(1);
    lsc_status s = lsc_ctx_create(&p, &c);
    lsc_testing_fail_alloc(0);
    EXPECT_EQ(s, LSC_STATUS_OUT_OF_MEMORY);
    EXPECT_EQ(c, nullptr);
    EXPECT_NE(std::string(lsc_last_error(c)), "");
    lsc_ctx_destroy(c); // harmless on NULL
    // and creation works afterwards
    EXPECT_EQ(lsc_ctx_create(&p, &c), LSC_STATUS_OK);
    EXPECT_NE(c, nullptr);
    lsc_ctx_destroy(c);
}

TEST(AllocFailures, CounterIsExactAndOneShot)
{
    // the hook fails exactly one allocation: the n-th; the count covers failed ones too
    Fixture F;
    lsc_ctx *c = make_ctx(2);
    ASSERT_NE(c, nullptr);
    lsc_matrix x = F.r();
    lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
    lsc_testing_fail_alloc(0);
    ASSERT_EQ(lsc_spectrum(c, &x, nullptr, &r, nullptr, nullptr), LSC_STATUS_OK);
    const int64_t count = lsc_testing_alloc_count();
    EXPECT_GE(count, 2);
    lsc_testing_fail_alloc(1);
    EXPECT_EQ(lsc_spectrum(c, &x, nullptr, &r, nullptr, nullptr), LSC_STATUS_OUT_OF_MEMORY);
    EXPECT_EQ(lsc_testing_alloc_count(), 1) << "the call went on after its first allocation failed";
    EXPECT_EQ(lsc_spectrum(c, &x, nullptr, &r, nullptr, nullptr), LSC_STATUS_OK) << "failed twice";
    lsc_testing_fail_alloc(0);
    lsc_ctx_destroy(c);
}

} // namespace
