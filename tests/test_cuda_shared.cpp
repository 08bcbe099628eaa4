// The selection and merge rules of common/select_rules.h, which the CUDA kernels (kNN, PRDC, pair
// statistics) are built on, checked on the CPU against plain definitions: ordered float keys for
// the radix select, the rounded-up upper end of a band, the rank rule that merges sorted lists,
// the near-duplicate order, Chan's moment merge and the bitonic sorting network; and the other
// formulas both backends share: the spectrum Gram's pivot shift and moments (gram_rules.h), the
// PRDC tests and figures (prdc_figures.h), the row plan and the pair statistics' figures
// (pair_figures.h).
#include "gram_rules.h"
#include "pair_figures.h"
#include "prdc_figures.h"
#include "select_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

namespace {

const uint64_t kSeed = 20260517;

uint32_t bits_of(float f)
{
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

std::vector<float> interesting_floats(uint64_t seed, size_t n)
{
    std::mt19937_64 rng(seed);
    std::vector<float> v = {0.0f,
                            -0.0f,
                            1.0f,
                            -1.0f,
                            std::numeric_limits<float>::min(),
                            -std::numeric_limits<float>::min(),
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::max(),
                            -std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
    std::uniform_int_distribution<uint32_t> any;
    while (v.size() < n) {
        uint32_t u = any(rng);
        float f;
        std::memcpy(&f, &u, sizeof f);
        if (!std::isnan(f)) v.push_back(f);
    }
    return v;
}

TEST(SelectRules, KeysOrderLikeTheirValues)
{
    SCOPED_TRACE("seed " + std::to_string(kSeed));
    std::vector<float> v = interesting_floats(kSeed, 4000);
    std::mt19937_64 rng(kSeed + 1);
    std::uniform_int_distribution<size_t> pick(0, v.size() - 1);
    for (int t = 0; t < 200000; t++) {
        const float a = v[pick(rng)], b = v[pick(rng)];
        if (a == b) continue; // +0 and -0 compare equal as values
        ASSERT_EQ(lsc_key_f32(a) < lsc_key_f32(b), a < b) << a << " " << b;
    }
    EXPECT_LT(lsc_key_f32(-0.0f), lsc_key_f32(0.0f));
    EXPECT_GT(lsc_key_f32(std::nanf("")), lsc_key_f32(std::numeric_limits<float>::infinity()));
    for (float f : v) ASSERT_EQ(bits_of(lsc_unkey_f32(lsc_key_f32(f))), bits_of(f)) << f;
    // a sort by keys is a sort by values
    std::vector<float> by_key = v, by_value = v;
    std::sort(by_key.begin(), by_key.end(),
              [](float a, float b) { return lsc_key_f32(a) < lsc_key_f32(b); });
    std::sort(by_value.begin(), by_value.end());
    for (size_t i = 0; i < v.size(); i++) ASSERT_EQ(by_key[i], by_value[i]) << i;
}

TEST(SelectRules, CeilIsTheSmallestFloatNotBelow)
{
    SCOPED_TRACE("seed " + std::to_string(kSeed));
    std::mt19937_64 rng(kSeed + 2);
    std::uniform_real_distribution<double> mant(0.5, 1.0);
    std::uniform_int_distribution<int> ex(-140, 127);
    for (int t = 0; t < 200000; t++) {
        double x = std::ldexp(mant(rng), ex(rng));
        if (t % 2) x = -x;
        const float f = lsc_f32_ceil(x);
        ASSERT_GE((double)f, x) << x;
        ASSERT_LT((double)std::nextafter(f, -std::numeric_limits<float>::infinity()), x) << x;
    }
    for (float f : interesting_floats(kSeed + 3, 2000))
        ASSERT_EQ(bits_of(lsc_f32_ceil((double)f)), bits_of(f)) << f; // exact floats stay
    EXPECT_EQ(lsc_f32_ceil(1e300), std::numeric_limits<float>::infinity());
    EXPECT_EQ(lsc_f32_ceil(-1e300), -std::numeric_limits<float>::max());
    EXPECT_TRUE(std::isnan(lsc_f32_ceil(std::nan(""))));
    // just above a float: the next float up, where round-to-nearest would go down
    EXPECT_EQ(lsc_f32_ceil(1.0 + 1e-12), std::nextafter(1.0f, 2.0f));
}

// The fast form's limits (common/distance_rules.h), which every CUDA kernel reads through
// lsc_fast_v / lsc_fast_err: where lsc_fast_ok holds, a float32 product (in two summation
// orders) is finite and within the band of the exact value; where it does not, the pair has the
// fast value 0 and an infinite band, so no decision is taken on the fast value. Magnitudes span
// 1e-25 to 1e25, so both sides of the limit (values near 1e18) and underflow are covered.
TEST(DistanceRules, FastFormIsFiniteAndBoundedBelowTheLimitAndUndecidedAbove)
{
    SCOPED_TRACE("seed " + std::to_string(kSeed));
    std::mt19937_64 rng(kSeed + 7);
    std::uniform_real_distribution<double> unit(-1.0, 1.0), lg(-25.0, 25.0);
    std::uniform_int_distribution<int> dims(1, 700);
    int below = 0, above = 0;
    for (int t = 0; t < 3000; t++) {
        const int64_t d = dims(rng);
        const double sa = std::pow(10.0, lg(rng)), sb = t % 3 ? sa : std::pow(10.0, lg(rng));
        std::vector<float> a(d), b(d);
        for (int64_t e = 0; e < d; e++) {
            a[e] = (float)(sa * unit(rng));
            b[e] = (float)(sb * unit(rng));
        }
        double qa = 0.0, qb = 0.0;
        for (int64_t e = 0; e < d; e++) {
            qa += (double)a[e] * a[e];
            qb += (double)b[e] * b[e];
        }
        float seq = 0.0f; // in index order
        for (int64_t e = 0; e < d; e++) seq += a[e] * b[e];
        std::vector<float> part(d); // pairwise, as a blocked GEMM may add
        for (int64_t e = 0; e < d; e++) part[e] = a[e] * b[e];
        for (int64_t w = 1; w < d; w *= 2)
            for (int64_t e = 0; e + w < d; e += 2 * w) part[e] += part[e + w];
        const double exact = lsc_exact_v(a.data(), b.data(), d, 1.0, 1.0);
        const double err = lsc_fast_err(d, qa, qb);
        for (float c : {seq, part[0]}) {
            const double vf = lsc_fast_v(c, qa, qb);
            if (lsc_fast_ok(qa, qb)) {
                ASSERT_TRUE(std::isfinite(c)) << "d " << d << " scale " << sa;
                ASSERT_LE(std::fabs(vf - exact), err) << "d " << d << " scale " << sa;
            } else {
                ASSERT_EQ(vf, 0.0);
                ASSERT_EQ(err, std::numeric_limits<double>::infinity());
                for (int inclusive = 0; inclusive < 2; inclusive++)
                    ASSERT_EQ(lsc_decide_less(vf, err, exact, inclusive), -1);
                ASSERT_TRUE(lsc_bulk_needs_exact(vf, err));
            }
        }
        (lsc_fast_ok(qa, qb) ? below : above)++;
    }
    EXPECT_GT(below, 500);
    EXPECT_GT(above, 500);
    // the worst case just below the limit: a = b, |a|^2 = |b|^2 just under 2^123
    const int64_t d = 512;
    std::vector<float> a(d, (float)std::sqrt(0x1p123 / d * (1.0 - 1e-6)));
    double q = 0.0;
    float c = 0.0f;
    for (int64_t e = 0; e < d; e++) {
        q += (double)a[e] * a[e];
        c += a[e] * a[e];
    }
    ASSERT_TRUE(lsc_fast_ok(q, q));
    EXPECT_TRUE(std::isfinite(c));
    EXPECT_LE(std::fabs(lsc_fast_v(c, q, q)), lsc_fast_err(d, q, q));
    // an overflowed product (Inf, or NaN from Inf - Inf) is never read
    for (float bad :
         {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
          std::numeric_limits<float>::quiet_NaN()})
        EXPECT_EQ(lsc_fast_v(bad, 0x1p124, 1.0), 0.0);
}

// lsc_hist_edge_v (common/distance_rules.h): the smallest internal value of each bin, to the bit
// (its predecessor lies in a lower bin), and the band rule built on it: a band lies in one bin
// exactly when both ends bin alike, the test the CPU pair statistics replaced with it.
TEST(DistanceRules, HistogramEdgesAreExactAndDecideBandsLikeBothEnds)
{
    SCOPED_TRACE("seed " + std::to_string(kSeed));
    std::mt19937_64 rng(kSeed + 11);
    std::uniform_real_distribution<double> lg(-6.0, 6.0), unit(0.0, 1.0);
    for (int metric : {(int)LSC_M_EUCLIDEAN, (int)LSC_M_COSINE}) {
        for (int trial = 0; trial < 40; trial++) {
            const int64_t bins = trial < 3 ? 1 + trial : 1 + (int64_t)(unit(rng) * 2000);
            const double upper = std::pow(10.0, lg(rng));
            const double scale = lsc_hist_scale(upper, bins);
            std::vector<double> e((size_t)bins + 1);
            e[0] = 0.0;
            e[(size_t)bins] = INFINITY;
            for (int64_t b = 1; b < bins; b++) {
                e[(size_t)b] = lsc_hist_edge_v(metric, scale, bins, b);
                const double v = e[(size_t)b];
                ASSERT_TRUE(v > 0.0 && std::isfinite(v)) << b;
                ASSERT_GE(lsc_hist_bin_v(metric, v, scale, bins), b) << b;
                ASSERT_LT(lsc_hist_bin_v(metric, std::nextafter(v, 0.0), scale, bins), b) << b;
                ASSERT_GT(v, e[(size_t)b - 1]) << b;
            }
            const double vmax = lsc_v_from_dist(metric, upper) * 1.01;
            for (int t = 0; t < 20000; t++) {
                // bands around bin edges (a few ulps to a few percent wide) and anywhere
                double v =
                    t % 2 && bins > 1 ? e[(size_t)(1 + rng() % (bins - 1))] : unit(rng) * vmax;
                const double w = v * std::pow(10.0, -16.0 + 14.0 * unit(rng));
                const double lo = std::max(0.0, v - w * unit(rng)), hi = v + w * unit(rng);
                v = std::min(std::max(v, lo), hi);
                const int64_t b = lsc_hist_bin_v(metric, v, scale, bins);
                const bool both = lsc_hist_bin_v(metric, lo, scale, bins) ==
                                  lsc_hist_bin_v(metric, hi, scale, bins);
                const bool edges = e[(size_t)b] <= lo && hi < e[(size_t)b + 1];
                ASSERT_EQ(edges, both) << "metric " << metric << " bins " << bins << " v " << v;
            }
        }
    }
    EXPECT_EQ(lsc_hist_edge_v(LSC_M_EUCLIDEAN, 0.0, 64, 3), INFINITY); // upper 0: all in bin 0
}

struct Entry {
    double v;
    int64_t i;
};

bool before(const Entry &a, const Entry &b) { return lsc_knn_before(a.v, a.i, b.v, b.i); }

TEST(SelectRules, KnnRankIsTheInsertionPointAndMergesSortedLists)
{
    SCOPED_TRACE("seed " + std::to_string(kSeed));
    std::mt19937_64 rng(kSeed + 4);
    for (int trial = 0; trial < 300; trial++) {
        // values with many ties (small integer range), distinct indices across both lists
        std::uniform_int_distribution<int> val(0, 1 + trial % 20);
        std::uniform_int_distribution<int> len(0, 70);
        std::vector<int64_t> ids(200);
        for (size_t t = 0; t < ids.size(); t++) ids[t] = (int64_t)t * 3 + 1;
        std::shuffle(ids.begin(), ids.end(), rng);
        const int na = len(rng), nb = len(rng);
        std::vector<Entry> a, b;
        for (int t = 0; t < na; t++) a.push_back({(double)val(rng), ids[(size_t)t]});
        for (int t = 0; t < nb; t++) b.push_back({(double)val(rng), ids[(size_t)(na + t)]});
        std::sort(a.begin(), a.end(), before);
        std::sort(b.begin(), b.end(), before);
        std::vector<double> av, bv;
        std::vector<int64_t> ai, bi;
        for (const Entry &e : a) {
            av.push_back(e.v);
            ai.push_back(e.i);
        }
        for (const Entry &e : b) {
            bv.push_back(e.v);
            bi.push_back(e.i);
        }
        // the rank is the number of entries before, for probes in and between the entries
        for (int p = 0; p < 50; p++) {
            const Entry q = {(double)val(rng) + (p % 3 == 0 ? 0.5 : 0.0), (int64_t)(p * 7)};
            int64_t want = 0;
            for (const Entry &e : a) want += before(e, q);
            ASSERT_EQ(lsc_knn_rank(av.data(), ai.data(), na, q.v, q.i), want);
        }
        // merging by rank (own position + rank in the other list) is the sorted union, truncated
        const int64_t k = 1 + trial % 40;
        std::vector<Entry> got((size_t)k, Entry{-1.0, -1});
        for (int64_t e = 0; e < na; e++) {
            const int64_t r =
                e + lsc_knn_rank(bv.data(), bi.data(), nb, av[(size_t)e], ai[(size_t)e]);
            if (r < k) got[(size_t)r] = a[(size_t)e];
        }
        for (int64_t e = 0; e < nb; e++) {
            const int64_t r =
                e + lsc_knn_rank(av.data(), ai.data(), na, bv[(size_t)e], bi[(size_t)e]);
            if (r < k) got[(size_t)r] = b[(size_t)e];
        }
        std::vector<Entry> all = a;
        all.insert(all.end(), b.begin(), b.end());
        std::sort(all.begin(), all.end(), before);
        for (int64_t r = 0; r < k; r++) {
            if (r < (int64_t)all.size()) {
                ASSERT_EQ(got[(size_t)r].v, all[(size_t)r].v) << "trial " << trial << " rank " << r;
                ASSERT_EQ(got[(size_t)r].i, all[(size_t)r].i) << "trial " << trial << " rank " << r;
            } else {
                ASSERT_EQ(got[(size_t)r].i, -1) << "rank " << r << " written past the union";
            }
        }
    }
}

TEST(SelectRules, PairOrderIsDThenIThenJ)
{
    std::mt19937_64 rng(kSeed + 5);
    std::uniform_int_distribution<int> small(0, 3);
    for (int t = 0; t < 100000; t++) {
        const double da = small(rng) * 0.25, db = small(rng) * 0.25;
        const int64_t ia = small(rng), ib = small(rng), ja = small(rng), jb = small(rng);
        ASSERT_EQ(lsc_pair_order(da, ia, ja, db, ib, jb) != 0,
                  std::make_tuple(da, ia, ja) < std::make_tuple(db, ib, jb));
    }
}

void two_pass(const std::vector<double> &x, size_t lo, size_t hi, double *n, double *mean,
              double *m2)
{
    *n = (double)(hi - lo);
    double s = 0;
    for (size_t i = lo; i < hi; i++) s += x[i];
    *mean = hi > lo ? s / *n : 0.0;
    *m2 = 0;
    for (size_t i = lo; i < hi; i++) *m2 += (x[i] - *mean) * (x[i] - *mean);
}

TEST(SelectRules, MomentsMergeMatchesTwoPassOverTheWhole)
{
    SCOPED_TRACE("seed " + std::to_string(kSeed));
    std::mt19937_64 rng(kSeed + 6);
    // a large mean next to a small spread: where sum d^2 - (sum d)^2 / n would lose every digit
    std::normal_distribution<double> g(1000.0, 0.01);
    for (int trial = 0; trial < 200; trial++) {
        std::vector<double> x((size_t)(1 + trial * 7));
        for (double &v : x) v = g(rng);
        std::uniform_int_distribution<size_t> cut(0, x.size());
        std::vector<size_t> cuts = {0, cut(rng), cut(rng), cut(rng), x.size()};
        std::sort(cuts.begin(), cuts.end());
        double n = 0, mean = 0, m2 = 0;
        for (size_t p = 0; p + 1 < cuts.size(); p++) { // empty parts included
            double pn, pm, pm2;
            two_pass(x, cuts[p], cuts[p + 1], &pn, &pm, &pm2);
            lsc_moments_merge(&n, &mean, &m2, pn, pm, pm2);
        }
        double wn, wm, wm2;
        two_pass(x, 0, x.size(), &wn, &wm, &wm2);
        ASSERT_EQ(n, wn);
        ASSERT_NEAR(mean, wm, 1e-12 * std::fabs(wm));
        ASSERT_NEAR(m2, wm2, 1e-8 * wm2 + 1e-18) << "trial " << trial;
    }
    double n = 3, mean = 2, m2 = 5;
    lsc_moments_merge(&n, &mean, &m2, 0, 123, 456); // an empty part changes nothing
    EXPECT_EQ(n, 3);
    EXPECT_EQ(mean, 2);
    EXPECT_EQ(m2, 5);
}

TEST(SelectRules, BitonicNetworkSortsAndItsStepsAreDisjoint)
{
    SCOPED_TRACE("seed " + std::to_string(kSeed));
    std::mt19937_64 rng(kSeed + 7);
    for (int64_t P = 1; P <= 2048; P *= 2) {
        for (int trial = 0; trial < 5; trial++) {
            std::uniform_int_distribution<int> val(0, (int)P / 3 + 1); // ties
            std::vector<Entry> e((size_t)P);
            for (int64_t t = 0; t < P; t++) e[(size_t)t] = {(double)val(rng), t};
            std::shuffle(e.begin(), e.end(), rng);
            for (int64_t size = 2; size <= P; size *= 2)
                for (int64_t stride = size / 2; stride > 0; stride /= 2) {
                    std::vector<int> seen((size_t)P, 0);
                    for (int64_t t = 0; t < P / 2; t++) {
                        int64_t lo, hi;
                        const int up = lsc_bitonic_step(t, size, stride, &lo, &hi);
                        ASSERT_TRUE(lo >= 0 && hi < P && lo < hi);
                        ASSERT_EQ(++seen[(size_t)lo], 1);
                        ASSERT_EQ(++seen[(size_t)hi], 1);
                        const bool sw = up ? before(e[(size_t)hi], e[(size_t)lo])
                                           : before(e[(size_t)lo], e[(size_t)hi]);
                        if (sw) std::swap(e[(size_t)lo], e[(size_t)hi]);
                    }
                }
            for (int64_t t = 1; t < P; t++)
                ASSERT_FALSE(before(e[(size_t)t], e[(size_t)(t - 1)])) << "P " << P << " at " << t;
        }
    }
}

// ---- the Gram, PRDC and pair-statistics rules both backends share ------------------------------

// Sum (x - p)(x - p)^T and sum (x - p) of rows r0..r1 of x (n x d) around pivot p.
void gram_around(const std::vector<double> &x, int64_t d, int64_t r0, int64_t r1,
                 const std::vector<double> &p, std::vector<double> &g, std::vector<double> &s)
{
    g.assign(static_cast<size_t>(d * d), 0.0);
    s.assign(static_cast<size_t>(d), 0.0);
    for (int64_t r = r0; r < r1; r++)
        for (int64_t i = 0; i < d; i++) {
            s[i] += x[r * d + i] - p[i];
            for (int64_t j = 0; j < d; j++)
                g[i * d + j] += (x[r * d + i] - p[i]) * (x[r * d + j] - p[j]);
        }
}

TEST(GramRules, MovedPartEqualsTheWholeAroundOnePivotAndGivesItsMoments)
{
    // small integers: every sum and product is exact, so the moved part must equal the whole
    std::mt19937_64 rng(kSeed);
    std::uniform_int_distribution<int> v(-20, 20);
    const int64_t n = 37, na = 15, d = 5;
    std::vector<double> x(static_cast<size_t>(n * d)), pa(d), pb(d);
    for (double &e : x) e = v(rng);
    for (int64_t i = 0; i < d; i++) {
        pa[i] = v(rng);
        pb[i] = v(rng);
    }
    std::vector<double> ga, sa, gb, sb, gw, sw;
    gram_around(x, d, 0, na, pa, ga, sa);
    gram_around(x, d, na, n, pb, gb, sb);
    gram_around(x, d, 0, n, pa, gw, sw);
    const double nb = static_cast<double>(n - na);
    for (int64_t i = 0; i < d; i++) {
        for (int64_t j = 0; j < d; j++)
            EXPECT_EQ(ga[i * d + j] + lsc_gram_moved(gb[i * d + j], sb[i], sb[j], pb[i] - pa[i],
                                                     pb[j] - pa[j], nb),
                      gw[i * d + j])
                << i << "," << j;
        EXPECT_EQ(sa[i] + lsc_sum_moved(sb[i], pb[i] - pa[i], nb), sw[i]) << i;
    }
    // the moments from (G, s, p): against two-pass means and covariances of the rows
    const double dn = static_cast<double>(n);
    for (int64_t i = 0; i < d; i++) {
        double mi = 0.0;
        for (int64_t r = 0; r < n; r++) mi += x[r * d + i];
        mi /= dn;
        EXPECT_NEAR(lsc_gram_mean(pa[i], sw[i], dn), mi, 1e-12 * (1 + std::fabs(mi)));
        for (int64_t j = 0; j < d; j++) {
            double mj = 0.0;
            for (int64_t r = 0; r < n; r++) mj += x[r * d + j];
            mj /= dn;
            double c = 0.0, u = 0.0;
            for (int64_t r = 0; r < n; r++) {
                c += (x[r * d + i] - mi) * (x[r * d + j] - mj);
                u += x[r * d + i] * x[r * d + j];
            }
            const double tol = 1e-9 * (1 + std::fabs(u));
            EXPECT_NEAR(
                lsc_gram_entry(LSC_GRAM_CENTRED, dn, gw[i * d + j], sw[i], sw[j], pa[i], pa[j]), c,
                tol);
            EXPECT_NEAR(
                lsc_gram_entry(LSC_GRAM_UNCENTRED, dn, gw[i * d + j], sw[i], sw[j], pa[i], pa[j]),
                u, tol);
            EXPECT_NEAR(lsc_gram_cov(gw[i * d + j], sw[i], sw[j], dn), c / (dn - 1.0), tol);
            if (i == j) {
                EXPECT_NEAR(lsc_gram_colvar(gw[i * d + i], sw[i], dn), c / (dn - 1.0), tol);
            }
        }
    }
    EXPECT_EQ(lsc_gram_entry(LSC_GRAM_COSINE, 4.0, 3.0, 1.0, 2.0, 5.0, 6.0), 0.75);
    EXPECT_EQ(lsc_gram_colvar(1.0, 3.0, 4.0), 0.0); // below zero (by rounding) is clamped
}

TEST(PrdcRules, TestsDecideAsTheExactComparison)
{
    std::mt19937_64 rng(kSeed + 1);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int trial = 0; trial < 20000; trial++) {
        const double err = u(rng) < 0.2 ? 0.0 : 0.1 * u(rng);
        const double ve = u(rng), vf = ve + err * (2 * u(rng) - 1);
        double b[LSC_PRDC_TESTS];
        for (double &e : b) e = u(rng) < 0.3 ? ve : u(rng); // ties test the comparison kind
        const unsigned need = static_cast<unsigned>(rng() & 15u);
        const int inclusive = static_cast<int>(rng() & 1u);
        const unsigned incl = lsc_prdc_incl(inclusive);
        int in[LSC_PRDC_TESTS];
        const int exact = lsc_tests_fast(vf, err, b, LSC_PRDC_TESTS, need, incl, in);
        int undecided = 0;
        for (int t = 0; t < LSC_PRDC_TESTS; t++) {
            const bool le = t == LSC_PRDC_STRICT ? false : t == LSC_PRDC_INCL ? true : inclusive;
            const int want = (need >> t) & 1u ? (le ? ve <= b[t] : ve < b[t]) : 0;
            if (in[t] < 0) undecided = 1;
            else EXPECT_EQ(in[t], want) << "fast, trial " << trial << " test " << t;
        }
        EXPECT_EQ(exact, undecided);
        lsc_tests_exact(ve, b, LSC_PRDC_TESTS, incl, in);
        for (int t = 0; t < LSC_PRDC_TESTS; t++) {
            const bool le = t == LSC_PRDC_STRICT ? false : t == LSC_PRDC_INCL ? true : inclusive;
            EXPECT_EQ(in[t], (need >> t) & 1u ? (le ? ve <= b[t] : ve < b[t]) : 0)
                << "exact, trial " << trial << " test " << t;
        }
    }
    // the judged tests: the ball tests follow the comparison, the copy tests their own
    EXPECT_EQ(lsc_judge_incl(1), 1u << LSC_JUDGE_BALL | 1u << LSC_JUDGE_WIDE | 1u << LSC_JUDGE_SUB |
                                     1u << LSC_JUDGE_ZERO);
    EXPECT_EQ(lsc_judge_incl(0), 1u << LSC_JUDGE_ZERO);
    lsc_prdc_result r;
    lsc_prdc_from_counts(3, 10, 2, 4, 8, 5, 2, &r);
    EXPECT_EQ(r.precision, 0.6);
    EXPECT_EQ(r.density, 1.0);
    EXPECT_EQ(r.recall, 0.25);
    EXPECT_EQ(r.coverage, 0.5);
}

TEST(DistanceRules, PlanRowsIsTheFloorUnderTheCap)
{
    EXPECT_EQ(lsc_plan_rows(1000, 100, 50), 10);
    EXPECT_EQ(lsc_plan_rows(1099, 100, 50), 10);
    EXPECT_EQ(lsc_plan_rows(100000, 100, 50), 50);
    EXPECT_EQ(lsc_plan_rows(99, 100, 50), 0);
}

TEST(PairFigures, FiguresFromMomentsAndNearestValues)
{
    // euclidean: internal values are squared distances
    double nn[5] = {16.0, 1.0, 9.0, 4.0, 25.0};
    lsc_pair_result r;
    std::memset(&r, 0, sizeof r);
    lsc_pair_figures(LSC_M_EUCLIDEAN, 10.0, 2.5, 40.0, 36.0, nn, 5, 0, 0.0, &r);
    EXPECT_EQ(r.mean, 2.5);
    EXPECT_EQ(r.std, 2.0);
    EXPECT_EQ(r.min, 1.0);
    EXPECT_EQ(r.max, 6.0);
    EXPECT_EQ(r.nn_min, 1.0);
    EXPECT_EQ(r.nn_max, 5.0);
    EXPECT_EQ(r.nn_mean, 3.0);
    EXPECT_EQ(r.nn_median, 3.0);
    EXPECT_TRUE(std::isnan(r.uniformity));
    const double sorted[5] = {1.0, 2.0, 3.0, 4.0, 5.0};
    for (int i = 0; i < 5; i++) EXPECT_EQ(nn[i], sorted[i]);
    // even count: the lower median; cosine distances are half the internal value
    double nc[4] = {0.8, 0.2, 0.6, 0.4};
    lsc_pair_figures(LSC_M_COSINE, 6.0, 0.3, 0.0, 1.0, nc, 4, 1, 6.0, &r);
    EXPECT_EQ(r.nn_median, 0.2);
    EXPECT_EQ(r.max, 0.5);
    EXPECT_EQ(r.uniformity, 0.0); // log of a mean term of 1
}

} // namespace
