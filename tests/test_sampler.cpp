// The one seeded sampler (docs/METRICS.md section 7): lsc_permute against a reference written
// from the definition, a bijection with its inverse, uniform enough for subsets and splits, and
// lsc_sample_rows' disjoint ranges and errors.
#include "test_util.hpp"
#include "reference_nn.hpp"

#include <lsc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace {

TEST(Sampler, EqualsTheDefinition)
{
    const int64_t sizes[] = {
        1, 2, 3, 4, 5, 16, 17, 1000, 65537, (int64_t)1 << 31, ((int64_t)1 << 40) + 7, INT64_MAX};
    for (int64_t n : sizes)
        for (uint64_t seed : {0ull, 1ull, 0x9e3779b97f4a7c15ull, ~0ull}) {
            SCOPED_TRACE(std::to_string(n) + " seed " + std::to_string(seed));
            for (int64_t j : {(int64_t)0, n / 3, n / 2, n - 1}) {
                const int64_t got = lsc_permute(seed, n, j);
                EXPECT_EQ(got, refnn::permute(seed, n, j)) << "position " << j;
                EXPECT_EQ(lsc_permute_inverse(seed, n, got), j);
            }
        }
}

TEST(Sampler, PinnedValues)
{
    // the permutation is part of the contract: these never change from lsc 0.2 on
    std::vector<int64_t> got;
    for (int64_t j = 0; j < 10; j++) got.push_back(lsc_permute(0, 10, j));
    std::vector<int64_t> want;
    for (int64_t j = 0; j < 10; j++) want.push_back(refnn::permute(0, 10, j));
    EXPECT_EQ(got, want);
    EXPECT_EQ(got, (std::vector<int64_t>{4, 6, 9, 2, 1, 8, 5, 3, 0, 7}));
    EXPECT_EQ(lsc_permute(12345, 1000000, 0), 255326);
}

TEST(Sampler, IsABijectionWithItsInverse)
{
    for (int64_t n : {1, 2, 3, 7, 64, 65, 1000, 4097}) {
        SCOPED_TRACE(n);
        std::vector<char> seen((size_t)n, 0);
        for (int64_t j = 0; j < n; j++) {
            const int64_t i = lsc_permute(99, n, j);
            ASSERT_GE(i, 0);
            ASSERT_LT(i, n);
            EXPECT_FALSE(seen[(size_t)i]) << "row " << i << " twice";
            seen[(size_t)i] = 1;
            EXPECT_EQ(lsc_permute_inverse(99, n, i), j);
        }
    }
}

TEST(Sampler, FirstPositionIsUniformAndSeedsDiffer)
{
    // pi(0) over 40,000 seeds for n = 10 (and 13, not a power of two): chi-square with 9 (12)
    // degrees of freedom below its 0.999 quantile (27.9, 32.9)
    for (int64_t n : {10, 13}) {
        std::vector<double> count((size_t)n, 0.0);
        const int trials = 40000;
        for (int s = 0; s < trials; s++) count[(size_t)lsc_permute((uint64_t)s * 7919u, n, 0)] += 1;
        double chi = 0.0, e = (double)trials / (double)n;
        for (double c : count) chi += (c - e) * (c - e) / e;
        EXPECT_LT(chi, n == 10 ? 27.9 : 32.9) << "n " << n;
    }
    // a subset of 50 of 200: each row's inclusion rate over 4,000 seeds near 1/4 (binomial sd
    // 0.0068: 5 sd), and pairs of rows included together near 1/16 on average
    std::vector<double> inc(200, 0.0);
    Ctx ctx;
    std::vector<int64_t> rows(50);
    double together = 0.0;
    for (int s = 0; s < 4000; s++) {
        ASSERT_EQ(lsc_sample_rows(ctx, (uint64_t)s, 200, 0, 50, rows.data()), LSC_STATUS_OK);
        std::vector<char> in(200, 0);
        for (int64_t r : rows) {
            inc[(size_t)r] += 1;
            in[(size_t)r] = 1;
        }
        for (int i = 0; i + 1 < 200; i += 2) together += in[(size_t)i] && in[(size_t)i + 1];
    }
    for (double c : inc) EXPECT_NEAR(c / 4000.0, 0.25, 0.034);
    EXPECT_NEAR(together / (4000.0 * 100.0), 50.0 / 200.0 * 49.0 / 199.0, 0.005);
}

TEST(Sampler, SampleRowsRangesAreDisjointAndAscending)
{
    Ctx ctx;
    const int64_t n = 1003;
    std::vector<int64_t> all;
    for (int64_t off = 0; off < n; off += 250) {
        const int64_t cnt = std::min<int64_t>(250, n - off);
        std::vector<int64_t> r((size_t)cnt, -1);
        ASSERT_EQ(lsc_sample_rows(ctx, 5, n, off, cnt, r.data()), LSC_STATUS_OK);
        EXPECT_TRUE(std::is_sorted(r.begin(), r.end()));
        EXPECT_EQ(r, refnn::subset_rows(n, cnt, 5, off));
        all.insert(all.end(), r.begin(), r.end());
    }
    std::sort(all.begin(), all.end());
    for (int64_t i = 0; i < n; i++) EXPECT_EQ(all[(size_t)i], i);
    // count 0 writes nothing and needs no array
    EXPECT_EQ(lsc_sample_rows(ctx, 5, n, n, 0, nullptr), LSC_STATUS_OK);
}

TEST(Sampler, BadArguments)
{
    Ctx ctx;
    int64_t r[4];
    struct Case {
        int64_t n, off, cnt;
        const char *word;
    } cases[] = {{0, 0, 0, "n is 0"},      {-5, 0, 1, "n is -5"},
                 {10, -1, 2, "positions"}, {10, 0, -1, "positions"},
                 {10, 8, 3, "positions"},  {INT64_MAX, INT64_MAX - 1, 4, "positions"}};
    for (const auto &c : cases) {
        SCOPED_TRACE(c.word);
        EXPECT_EQ(lsc_sample_rows(ctx, 1, c.n, c.off, c.cnt, r), LSC_STATUS_INVALID_ARGUMENT);
        EXPECT_NE(std::string(lsc_last_error(ctx)).find(c.word), std::string::npos)
            << lsc_last_error(ctx);
    }
    EXPECT_EQ(lsc_sample_rows(ctx, 1, 10, 0, 2, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_sample_rows(nullptr, 1, 10, 0, 2, r), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_permute(1, 0, 0), -1);
    EXPECT_EQ(lsc_permute(1, 10, 10), -1);
    EXPECT_EQ(lsc_permute(1, 10, -1), -1);
    EXPECT_EQ(lsc_permute_inverse(1, 10, 10), -1);
    EXPECT_EQ(lsc_permute_inverse(1, -3, 0), -1);
}

} // namespace
