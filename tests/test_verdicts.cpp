// The verdict engine (docs/METRICS.md section 8) on cases with a known truth: healthy sets read
// no collapse, each kind of collapse reads as its own check, sizes that cannot resolve a check
// say so, and bad arguments are errors.
#include "test_util.hpp"
#include "datasets.hpp"
#include "reference_nn.hpp"

#include <lsc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <stdlib.h>
#include <unistd.h>

namespace {

using data::Mixture;

struct Assessed {
    lsc_verdict v[LSC_CHECK_COUNT];
    lsc_level worst = LSC_LEVEL_NOT_ASSESSED;
    std::string dump() const
    {
        std::string s;
        for (const auto &x : v)
            s += std::string(lsc_check_name(x.check)) + "=" + lsc_level_name(x.level) + " (" +
                 x.why + ")\n";
        return s;
    }
};

Assessed assess(lsc_ctx *ctx, const std::vector<float> &real, int64_t n,
                const std::vector<float> &fake, int64_t m, int64_t d, int64_t k = 5)
{
    Assessed out;
    lsc_matrix r = lsc_matrix_f32(real.data(), n, d), f = lsc_matrix_f32(fake.data(), m, d);
    lsc_reference *ref = nullptr;
    EXPECT_EQ(lsc_reference_create(ctx, &r, k, nullptr, &ref), LSC_STATUS_OK)
        << lsc_last_error(ctx);
    lsc_assessment *a = nullptr;
    EXPECT_EQ(lsc_assess(ctx, ref, &f, nullptr, &a), LSC_STATUS_OK) << lsc_last_error(ctx);
    for (int c = 0; c < LSC_CHECK_COUNT; c++) {
        lsc_verdict v = LSC_VERDICT_INIT;
        EXPECT_EQ(lsc_assessment_verdict(a, (lsc_check)c, &v), LSC_STATUS_OK);
        out.v[c] = v;
    }
    out.worst = lsc_assessment_level(a);
    lsc_assessment_destroy(a);
    lsc_reference_destroy(ref);
    return out;
}

const int64_t kD = 16, kN = 800;
const double kWideCollapse = 0.05; // wide coverage's collapse line (docs/METRICS.md section 8)

// Wide coverage's relative loss, as mode collapse's `why` gives it ("balls 1.3 x wider: g vs b")
double wide_loss(const lsc_verdict &mc)
{
    const char *p = strstr(mc.why, "x wider: ");
    double g = NAN, b = NAN;
    if (!p || sscanf(p, "x wider: %lf vs %lf", &g, &b) != 2 || !(b > 0)) return NAN;
    return (b - g) / b;
}

TEST(Verdicts, HealthyGeneratorsReadNoCollapseAtEverySize)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(300));
    auto real = mix.draw(kN, data::seed(301));
    for (int64_t m : {60, 150, 400, 800}) {
        for (uint64_t draw = 0; draw < 3; draw++) {
            SCOPED_TRACE(std::to_string(m) + " rows, draw " + std::to_string(draw));
            auto fake = mix.draw(m, data::seed(310 + draw * 7 + (uint64_t)m));
            Assessed a = assess(ctx, real, kN, fake, m, kD);
            for (const auto &v : a.v) EXPECT_NE(v.level, LSC_LEVEL_COLLAPSE) << a.dump();
            EXPECT_EQ(a.v[LSC_CHECK_MODE_COLLAPSE].level == LSC_LEVEL_OK ||
                          a.v[LSC_CHECK_MODE_COLLAPSE].level == LSC_LEVEL_NOT_ASSESSED,
                      true)
                << a.dump();
            // the user's full-size figure and the matched one are both reported
            EXPECT_GT(a.v[LSC_CHECK_MODE_COLLAPSE].value, 0.0);
            EXPECT_GT(a.v[LSC_CHECK_MODE_COLLAPSE].matched, 0.0);
        }
    }
}

TEST(Verdicts, MissingModesReadModeCollapse)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(320));
    auto real = mix.draw(kN, data::seed(321));
    for (int64_t kept : {3, 5}) {
        SCOPED_TRACE(kept);
        auto fake = mix.draw(400, data::seed(322), kept);
        Assessed a = assess(ctx, real, kN, fake, 400, kD);
        const lsc_verdict &mc = a.v[LSC_CHECK_MODE_COLLAPSE];
        EXPECT_EQ(mc.level, LSC_LEVEL_COLLAPSE) << a.dump();
        // about (10 - kept) / 10 of the real rows lose their cover
        EXPECT_NEAR(mc.effect, 1.0 - (double)kept / 10.0, 0.15) << a.dump();
        EXPECT_LT(mc.matched, mc.interval_lo);
        EXPECT_EQ(a.worst, LSC_LEVEL_COLLAPSE);
        EXPECT_NE(a.v[LSC_CHECK_LOW_FIDELITY].level, LSC_LEVEL_COLLAPSE) << a.dump();
    }
}

TEST(Verdicts, NearCopiesReadMemorisationAndQuantisedCodesDoNot)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(330));
    auto real = mix.draw(kN, data::seed(331));
    auto fake = mix.draw(400, data::seed(332));
    // 8% of the generated rows are real rows moved by 1% of the spread
    std::mt19937_64 g(data::seed(333));
    std::uniform_int_distribution<int64_t> row(0, kN - 1);
    std::normal_distribution<double> nd(0.0, 0.01);
    for (int64_t i = 0; i < 32; i++) {
        const int64_t r = row(g);
        for (int64_t t = 0; t < kD; t++)
            fake[(size_t)(i * kD + t)] = real[(size_t)(r * kD + t)] + (float)nd(g);
    }
    Assessed a = assess(ctx, real, kN, fake, 400, kD);
    EXPECT_EQ(a.v[LSC_CHECK_MEMORISATION].level, LSC_LEVEL_COLLAPSE) << a.dump();
    EXPECT_NEAR(a.v[LSC_CHECK_MEMORISATION].effect, 32.0 / 400.0 / 2.0, 0.04) << a.dump();
    {
        // at full size: the rows within a distance of some real row, counted in the PRDC pass
        // (the copies lie about 0.04 from their rows, fresh rows farther than 0.5), the same
        // with the copies' classes found by a nearest-row search instead (labels)
        lsc_matrix r = lsc_matrix_f32(real.data(), kN, kD),
                   f = lsc_matrix_f32(fake.data(), 400, kD);
        lsc_reference *ref = nullptr;
        ASSERT_EQ(lsc_reference_create(ctx, &r, 5, nullptr, &ref), LSC_STATUS_OK);
        std::vector<int64_t> labels((size_t)kN);
        for (int64_t i = 0; i < kN; i++) labels[(size_t)i] = i % 3;
        // (labelled outer: the context's cache serves the calls after the first of each)
        for (int labelled = 0; labelled < 2; labelled++)
            for (double nd : {0.1, 0.0, -1.0}) {
                if (labelled && nd != 0.1) continue;
                lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
                o.near_distance = nd;
                o.real_labels = labelled ? labels.data() : nullptr;
                lsc_assessment *as = nullptr;
                ASSERT_EQ(lsc_assess(ctx, ref, &f, &o, &as), LSC_STATUS_OK) << lsc_last_error(ctx);
                EXPECT_EQ(lsc_assessment_near_rows(as), nd < 0 ? -1 : nd == 0 ? 0 : 32) << nd;
                lsc_verdict v = LSC_VERDICT_INIT;
                ASSERT_EQ(lsc_assessment_verdict(as, LSC_CHECK_MEMORISATION, &v), LSC_STATUS_OK);
                EXPECT_EQ(v.matched, a.v[LSC_CHECK_MEMORISATION].matched) << labelled;
                EXPECT_EQ(v.level, LSC_LEVEL_COLLAPSE) << labelled;
                lsc_assessment_destroy(as);
            }
        lsc_reference_destroy(ref);
    }
    // vector-quantised codes: real and generated rows both sit on 12 code words, so exact
    // duplicates are what held-out real rows show too
    auto codes = mix.draw(12, data::seed(334));
    auto snap = [&](std::vector<float> x, int64_t n) {
        for (int64_t i = 0; i < n; i++) {
            int64_t best = 0;
            double bd = 1e300;
            for (int64_t c = 0; c < 12; c++) {
                double s = 0;
                for (int64_t t = 0; t < kD; t++) {
                    double e = x[(size_t)(i * kD + t)] - codes[(size_t)(c * kD + t)];
                    s += e * e;
                }
                if (s < bd) bd = s, best = c;
            }
            for (int64_t t = 0; t < kD; t++)
                x[(size_t)(i * kD + t)] = codes[(size_t)(best * kD + t)];
        }
        return x;
    };
    auto vreal = snap(real, kN), vfake = snap(mix.draw(400, data::seed(335)), 400);
    lsc_matrix r = lsc_matrix_f32(vreal.data(), kN, kD), f = lsc_matrix_f32(vfake.data(), 400, kD);
    lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
    ro.comparison = LSC_COMPARISON_INCLUSIVE; // zero radii hold nothing under <
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &r, 5, &ro, &ref), LSC_STATUS_OK);
    lsc_assessment *as = nullptr;
    ASSERT_EQ(lsc_assess(ctx, ref, &f, nullptr, &as), LSC_STATUS_OK) << lsc_last_error(ctx);
    lsc_verdict v = LSC_VERDICT_INIT;
    ASSERT_EQ(lsc_assessment_verdict(as, LSC_CHECK_MEMORISATION, &v), LSC_STATUS_OK);
    EXPECT_NE(v.level, LSC_LEVEL_COLLAPSE) << v.why;
    EXPECT_NE(v.level, LSC_LEVEL_BORDERLINE) << v.why;
    lsc_assessment_destroy(as);
    lsc_reference_destroy(ref);
    // under the strict comparison the codes' zero radii hold nothing: the verdict says so
    ASSERT_EQ(lsc_reference_create(ctx, &r, 5, nullptr, &ref), LSC_STATUS_OK);
    ASSERT_EQ(lsc_assess(ctx, ref, &f, nullptr, &as), LSC_STATUS_OK) << lsc_last_error(ctx);
    ASSERT_EQ(lsc_assessment_verdict(as, LSC_CHECK_MODE_COLLAPSE, &v), LSC_STATUS_OK);
    EXPECT_NE(std::string(v.why).find("--inclusive"), std::string::npos) << v.why;
    lsc_assessment_destroy(as);
    lsc_reference_destroy(ref);
}

TEST(Verdicts, DeadUnitsReadPosteriorCollapse)
{
    Ctx ctx;
    const int64_t d = 32;
    auto real = data::gaussian(kN, d, data::seed(340));
    auto fake = data::gaussian(400, d, data::seed(341));
    for (int64_t i = 0; i < 400; i++)
        for (int64_t t = 0; t < 16; t++) fake[(size_t)(i * d + t)] *= 0.01f; // variance 1e-4
    Assessed a = assess(ctx, real, kN, fake, 400, d);
    const lsc_verdict &pc = a.v[LSC_CHECK_POSTERIOR_COLLAPSE];
    EXPECT_EQ(pc.level, LSC_LEVEL_COLLAPSE) << a.dump();
    EXPECT_NEAR(pc.value, 0.5, 1e-12);
    EXPECT_NE(std::string(pc.why).find("partial"), std::string::npos) << pc.why;
}

TEST(Verdicts, AFiveFoldVarianceCutInMostDirectionsReadsDimensionalCollapse)
{
    Ctx ctx;
    const int64_t d = 32;
    auto real = data::gaussian(kN, d, data::seed(350));
    auto fake = data::gaussian(400, d, data::seed(351));
    // 60% of the directions (after a fixed rotation: not the axes) lose 5x of their variance
    auto rot = data::gaussian(d, d, data::seed(352)); // a random basis, orthonormalised below
    for (int64_t i = 0; i < d; i++) {
        for (int64_t j = 0; j < i; j++) {
            double dot = 0;
            for (int64_t t = 0; t < d; t++) dot += (double)rot[i * d + t] * rot[j * d + t];
            for (int64_t t = 0; t < d; t++) rot[i * d + t] -= (float)(dot * rot[j * d + t]);
        }
        double nn = 0;
        for (int64_t t = 0; t < d; t++) nn += (double)rot[i * d + t] * rot[i * d + t];
        for (int64_t t = 0; t < d; t++) rot[i * d + t] /= (float)std::sqrt(nn);
    }
    std::vector<float> out(fake.size());
    for (int64_t r = 0; r < 400; r++)
        for (int64_t t = 0; t < d; t++) {
            double s = 0;
            for (int64_t j = 0; j < d; j++) {
                const double scale = j < (d * 6) / 10 ? std::sqrt(0.2) : 1.0;
                s += scale * fake[(size_t)(r * d + j)] * rot[j * d + t];
            }
            out[(size_t)(r * d + t)] = (float)s;
        }
    Assessed a = assess(ctx, real, kN, out, 400, d);
    EXPECT_EQ(a.v[LSC_CHECK_DIMENSIONAL_COLLAPSE].level, LSC_LEVEL_COLLAPSE) << a.dump();
}

TEST(Verdicts, RowsOffTheSupportReadLowFidelity)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(360));
    auto real = mix.draw(kN, data::seed(361));
    auto fake = mix.draw(400, data::seed(362));
    std::mt19937_64 g(data::seed(363));
    std::normal_distribution<double> nd(0.0, 2.5);
    for (auto &v : fake) v += (float)nd(g); // every row blurred far off its mode
    Assessed a = assess(ctx, real, kN, fake, 400, kD);
    EXPECT_EQ(a.v[LSC_CHECK_LOW_FIDELITY].level, LSC_LEVEL_COLLAPSE) << a.dump();
}

// Rows near the real ones but off them lose plain coverage, not wide coverage: no missing region
TEST(Verdicts, RowsNearButOffTheRealOnesAreNotAMissingRegion)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(364));
    auto real = mix.draw(kN, data::seed(365));
    auto fake = mix.draw(800, data::seed(366));
    std::mt19937_64 g(data::seed(367));
    std::normal_distribution<double> nd(0.0, 0.35);
    for (auto &v : fake) v += (float)nd(g);
    Assessed a = assess(ctx, real, kN, fake, 800, kD);
    const lsc_verdict &mc = a.v[LSC_CHECK_MODE_COLLAPSE];
    // plain coverage does fall, significantly ...
    EXPECT_GT(mc.effect, 0.05) << a.dump();
    EXPECT_GT(mc.score, 4.0) << a.dump();
    // ... but every region keeps its generated rows
    EXPECT_LE(mc.level, LSC_LEVEL_BORDERLINE) << a.dump();
    EXPECT_NE(std::string(mc.why).find("wider"), std::string::npos) << mc.why;
}

// Five modes, each with a twin `dist` units away (rows have unit variance in 16 dimensions); the
// generated rows keep the five, not the twins. At 3 units the twins' rows have kept rows within
// 1.3 radii; at 3.5 a few percent of them have not.
struct Twins {
    std::vector<float> real, kept;
    explicit Twins(double dist)
    {
        Mixture tw(kD, 10, data::seed(371));
        std::mt19937_64 gu(data::seed(372));
        std::normal_distribution<double> nd(0.0, 1.0);
        for (int64_t c = 0; c < 5; c++) {
            std::vector<double> u((size_t)kD);
            double norm = 0;
            for (auto &x : u) {
                x = nd(gu);
                norm += x * x;
            }
            for (int64_t t = 0; t < kD; t++)
                tw.centre[(size_t)((c + 5) * kD + t)] =
                    tw.centre[(size_t)(c * kD + t)] + dist * u[(size_t)t] / std::sqrt(norm);
        }
        real = tw.draw(kN, data::seed(373));
        kept = tw.draw(800, data::seed(374), 5);
    }
};

// The wide cap says "near the real ones but off them" only where something shows the rows are
// off: while generated rows are as precise as held-out rows, the cap sits one level above the
// wide level (missing modes beside kept ones look like this); rows that lose precision keep it.
TEST(Verdicts, TheWideCapSitsOneLevelHigherWhilePrecisionIsIntact)
{
    Ctx ctx;
    Twins t3(3.0);
    Assessed a = assess(ctx, t3.real, kN, t3.kept, 800, kD);
    const lsc_verdict &mc = a.v[LSC_CHECK_MODE_COLLAPSE], &lf = a.v[LSC_CHECK_LOW_FIDELITY];
    EXPECT_GT(mc.effect, 0.15) << a.dump(); // a fifth of the real rows lose their cover ...
    EXPECT_LT(std::fabs(lf.effect), 0.02) << a.dump(); // ... with precision intact
    EXPECT_LT(lf.score, 2.0) << a.dump();
    EXPECT_EQ(mc.level, LSC_LEVEL_BORDERLINE) << a.dump(); // wide `ok`: one level up
    EXPECT_NE(std::string(mc.why).find("every region keeps a generated row nearby, but precision "
                                       "is as high"),
              std::string::npos)
        << mc.why;

    // twins half a unit farther: the widened balls lose a few percent (their `borderline`), so
    // nothing caps the plain coverage's collapse
    Twins t35(3.5);
    Assessed c = assess(ctx, t35.real, kN, t35.kept, 800, kD);
    const lsc_verdict &mc35 = c.v[LSC_CHECK_MODE_COLLAPSE];
    EXPECT_LT(c.v[LSC_CHECK_LOW_FIDELITY].score, 2.0) << c.dump();
    EXPECT_LT(wide_loss(mc35), kWideCollapse) << c.dump();
    EXPECT_GT(wide_loss(mc35), 0.02) << c.dump();
    EXPECT_EQ(mc35.level, LSC_LEVEL_COLLAPSE) << c.dump();
    EXPECT_NE(std::string(mc35.why).find("the widened balls lose less, but precision is as high"),
              std::string::npos)
        << mc35.why;

    // every generated row of a healthy set blurred a little, a fifth of them moved far off every
    // mode: precision falls significantly, the rest reach every region: no missing region
    Mixture mix(kD, 10, data::seed(364));
    auto real2 = mix.draw(kN, data::seed(365));
    auto off = mix.draw(800, data::seed(366));
    std::mt19937_64 g(data::seed(367));
    std::normal_distribution<double> blur(0.0, 0.35);
    for (auto &v : off) v += (float)blur(g);
    for (int64_t i = 0; i < 800; i += 5)
        for (int64_t t = 0; t < kD; t++) off[(size_t)(i * kD + t)] += 40.0f;
    Assessed b = assess(ctx, real2, kN, off, 800, kD);
    EXPECT_GE(b.v[LSC_CHECK_LOW_FIDELITY].score, 2.0) << b.dump();
    EXPECT_GT(b.v[LSC_CHECK_MODE_COLLAPSE].score, 4.0) << b.dump();
    EXPECT_EQ(b.v[LSC_CHECK_MODE_COLLAPSE].level, LSC_LEVEL_OK) << b.dump();
    EXPECT_NE(std::string(b.v[LSC_CHECK_MODE_COLLAPSE].why).find("not a missing region"),
              std::string::npos)
        << b.dump();
}

// Rows squeezed towards their mode's centre lose recall far more than coverage: concentration
TEST(Verdicts, ConcentratedRowsReadDiversityLossNotModeCollapse)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(368));
    auto real = mix.draw(kN, data::seed(369));
    std::vector<int64_t> lab;
    auto fake = mix.draw(800, data::seed(370), 0, &lab);
    for (int64_t i = 0; i < 800; i++)
        for (int64_t t = 0; t < kD; t++) {
            const double c = mix.centre[(size_t)((lab[(size_t)i] - 100) * kD + t)];
            float &x = fake[(size_t)(i * kD + t)];
            x = (float)(c + 0.6 * ((double)x - c));
        }
    Assessed a = assess(ctx, real, kN, fake, 800, kD);
    EXPECT_EQ(a.v[LSC_CHECK_DIVERSITY_LOSS].level, LSC_LEVEL_COLLAPSE) << a.dump();
    EXPECT_LE(a.v[LSC_CHECK_MODE_COLLAPSE].level, LSC_LEVEL_BORDERLINE) << a.dump();

    // every generated row on one of two prototypes a mode (plus noise 0.3): recall falls by
    // 90%, the widened balls lose over 10% (twice their collapse line) but under a third of
    // that: concentration still explains the regions left bare
    auto proto = mix.draw(20, data::seed(375));
    std::mt19937_64 g(data::seed(376));
    std::normal_distribution<double> nd(0.0, 0.3);
    std::uniform_int_distribution<int> pick(0, 19);
    std::vector<float> on_protos(800 * (size_t)kD);
    for (int64_t i = 0; i < 800; i++) {
        const int p = pick(g);
        for (int64_t t = 0; t < kD; t++)
            on_protos[(size_t)(i * kD + t)] = proto[(size_t)(p * kD + t)] + (float)nd(g);
    }
    Assessed b = assess(ctx, real, kN, on_protos, 800, kD);
    const lsc_verdict &mc = b.v[LSC_CHECK_MODE_COLLAPSE], &dl = b.v[LSC_CHECK_DIVERSITY_LOSS];
    EXPECT_EQ(dl.level, LSC_LEVEL_COLLAPSE) << b.dump();
    EXPECT_GT(wide_loss(mc), 2 * kWideCollapse) << b.dump();
    EXPECT_LT(wide_loss(mc), dl.effect / 3) << b.dump();
    EXPECT_EQ(mc.level, LSC_LEVEL_BORDERLINE) << b.dump();
    EXPECT_NE(std::string(mc.why).find("explained by concentration"), std::string::npos) << mc.why;
}

TEST(Verdicts, TooFewRowsSayWhy)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(370));
    auto real = mix.draw(kN, data::seed(371));
    auto fake = mix.draw(5, data::seed(372));
    Assessed a = assess(ctx, real, kN, fake, 5, kD);
    const lsc_verdict &mc = a.v[LSC_CHECK_MODE_COLLAPSE];
    EXPECT_EQ(mc.level, LSC_LEVEL_NOT_ASSESSED);
    EXPECT_NE(std::string(mc.why).find("k=5"), std::string::npos) << mc.why;
    // 12 rows: PRDC runs, but coverage of 12 rows cannot resolve a 15% loss
    auto fake12 = mix.draw(12, data::seed(373));
    Assessed b = assess(ctx, real, kN, fake12, 12, kD);
    for (const auto &v : b.v) {
        if (v.level == LSC_LEVEL_NOT_ASSESSED) {
            EXPECT_FALSE(std::string(v.why).empty()) << lsc_check_name(v.check);
        }
    }
    EXPECT_EQ(b.v[LSC_CHECK_MODE_COLLAPSE].level, LSC_LEVEL_NOT_ASSESSED) << b.dump();
    EXPECT_NE(std::string(b.v[LSC_CHECK_MODE_COLLAPSE].why).find("resolve effects of"),
              std::string::npos)
        << b.dump();
    // too few rows to read `ok`, but not too few for a plain finding: 12 rows of one mode
    auto one = mix.draw(12, data::seed(374), 1);
    Assessed c = assess(ctx, real, kN, one, 12, kD);
    EXPECT_EQ(c.v[LSC_CHECK_MODE_COLLAPSE].level, LSC_LEVEL_COLLAPSE) << c.dump();
}

TEST(Verdicts, APrdcTheCallerHasIsUsedAndChecked)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(390));
    auto real = mix.draw(kN, data::seed(391));
    auto fake = mix.draw(300, data::seed(392), 4);
    lsc_matrix r = lsc_matrix_f32(real.data(), kN, kD), f = lsc_matrix_f32(fake.data(), 300, kD);
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &r, 5, nullptr, &ref), LSC_STATUS_OK);
    lsc_prdc_result pr = LSC_PRDC_RESULT_INIT;
    ASSERT_EQ(lsc_prdc(ctx, ref, &f, &pr), LSC_STATUS_OK);
    lsc_assessment *plain = nullptr, *given = nullptr;
    ASSERT_EQ(lsc_assess(ctx, ref, &f, nullptr, &plain), LSC_STATUS_OK);
    lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
    o.prdc = &pr;
    ASSERT_EQ(lsc_assess(ctx, ref, &f, &o, &given), LSC_STATUS_OK) << lsc_last_error(ctx);
    for (int c = 0; c < LSC_CHECK_COUNT; c++) {
        lsc_verdict a = LSC_VERDICT_INIT, b = LSC_VERDICT_INIT;
        ASSERT_EQ(lsc_assessment_verdict(plain, (lsc_check)c, &a), LSC_STATUS_OK);
        ASSERT_EQ(lsc_assessment_verdict(given, (lsc_check)c, &b), LSC_STATUS_OK);
        EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0) << lsc_check_name((lsc_check)c);
    }
    EXPECT_EQ(lsc_assessment_level(given), LSC_LEVEL_COLLAPSE);
    lsc_assessment_destroy(plain);
    lsc_assessment_destroy(given);
    // a PRDC of other sets is refused, naming both
    lsc_assessment *bad = nullptr;
    pr.fake_rows = 299;
    EXPECT_EQ(lsc_assess(ctx, ref, &f, &o, &bad), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "299 fake")) << lsc_last_error(ctx);
    lsc_reference_destroy(ref);
}

// Without a PRDC from the caller, the generated subsets are judged inside the full-size PRDC pass;
// with one, each subset gets a pass of its own against the judging half. Both decide every
// comparison exactly, so the verdicts agree to the bit on data without distance ties: two and
// four subsets, both metrics, both comparisons, generated labels (classes) and copies.
TEST(Verdicts, SubsetsJudgedInTheFullPassEqualTheirOwnPasses)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(420));
    std::vector<int64_t> rl, fl;
    auto real = mix.draw(kN, data::seed(421), 0, &rl);
    struct Case {
        int64_t m, only;
        lsc_metric metric;
        lsc_comparison comparison;
        bool labels, copies;
    } cases[] = {{500, 0, LSC_METRIC_EUCLIDEAN, LSC_COMPARISON_STRICT, false, false},
                 {800, 6, LSC_METRIC_EUCLIDEAN, LSC_COMPARISON_INCLUSIVE, true, false},
                 {450, 0, LSC_METRIC_COSINE, LSC_COMPARISON_STRICT, false, true},
                 {300, 4, LSC_METRIC_EUCLIDEAN, LSC_COMPARISON_STRICT, false, true}};
    for (const Case &c : cases) {
        SCOPED_TRACE("m=" + std::to_string(c.m) + (c.metric == LSC_METRIC_COSINE ? " cosine" : "") +
                     (c.labels ? " labels" : "") + (c.copies ? " copies" : ""));
        auto fake = mix.draw(c.m, data::seed(422 + (uint64_t)c.m), c.only, &fl);
        if (c.copies) // every ninth row a real row, exactly or nearly
            for (int64_t j = 0; j < c.m; j += 9)
                for (int64_t t = 0; t < kD; t++)
                    fake[(size_t)(j * kD + t)] =
                        real[(size_t)((3 * j % kN) * kD + t)] + (j % 2 ? 0.01f : 0.0f);
        lsc_matrix r = lsc_matrix_f32(real.data(), kN, kD),
                   f = lsc_matrix_f32(fake.data(), c.m, kD);
        lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
        ro.metric = c.metric;
        ro.comparison = c.comparison;
        lsc_reference *ref = nullptr;
        ASSERT_EQ(lsc_reference_create(ctx, &r, 5, &ro, &ref), LSC_STATUS_OK);
        lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
        o.real_labels = c.labels ? rl.data() : nullptr;
        o.fake_labels = c.labels ? fl.data() : nullptr;
        lsc_assessment *fused = nullptr, *apart = nullptr;
        ASSERT_EQ(lsc_assess(ctx, ref, &f, &o, &fused), LSC_STATUS_OK) << lsc_last_error(ctx);
        lsc_prdc_result pr = LSC_PRDC_RESULT_INIT;
        ASSERT_EQ(lsc_assessment_prdc(fused, &pr), LSC_STATUS_OK);
        lsc_prdc_result own = LSC_PRDC_RESULT_INIT;
        ASSERT_EQ(lsc_prdc(ctx, ref, &f, &own), LSC_STATUS_OK);
        EXPECT_EQ(std::memcmp(&pr, &own, sizeof pr), 0) << "the full-size figures";
        { // order_uncovered 0: the same uncovered rows, in row order, and the same verdicts
            lsc_assess_opts u = o;
            u.order_uncovered = 0;
            lsc_assessment *plain = nullptr;
            ASSERT_EQ(lsc_assess(ctx, ref, &f, &u, &plain), LSC_STATUS_OK) << lsc_last_error(ctx);
            int64_t cf = -1, cp = -2;
            std::vector<int64_t> rf((size_t)kN), rp((size_t)kN);
            ASSERT_EQ(lsc_assessment_uncovered(fused, rf.data(), kN, &cf), LSC_STATUS_OK);
            ASSERT_EQ(lsc_assessment_uncovered(plain, rp.data(), kN, &cp), LSC_STATUS_OK);
            ASSERT_EQ(cp, cf);
            ASSERT_GT(cf, 0);
            rf.resize((size_t)cf);
            rp.resize((size_t)cp);
            EXPECT_TRUE(std::is_sorted(rp.begin(), rp.end()));
            std::sort(rf.begin(), rf.end());
            EXPECT_EQ(rp, rf);
            lsc_verdict a = LSC_VERDICT_INIT, b = LSC_VERDICT_INIT;
            ASSERT_EQ(lsc_assessment_verdict(fused, LSC_CHECK_MODE_COLLAPSE, &a), LSC_STATUS_OK);
            ASSERT_EQ(lsc_assessment_verdict(plain, LSC_CHECK_MODE_COLLAPSE, &b), LSC_STATUS_OK);
            EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
            lsc_assessment_destroy(plain);
        }
        o.prdc = &pr;
        ASSERT_EQ(lsc_assess(ctx, ref, &f, &o, &apart), LSC_STATUS_OK) << lsc_last_error(ctx);
        for (int k = 0; k < LSC_CHECK_COUNT; k++) {
            lsc_verdict a = LSC_VERDICT_INIT, b = LSC_VERDICT_INIT;
            ASSERT_EQ(lsc_assessment_verdict(fused, (lsc_check)k, &a), LSC_STATUS_OK);
            ASSERT_EQ(lsc_assessment_verdict(apart, (lsc_check)k, &b), LSC_STATUS_OK);
            EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0)
                << lsc_check_name((lsc_check)k) << ": " << a.why << " | " << b.why;
        }
        if (c.copies) { // the copies are seen (the test above would pass on two blind paths):
            lsc_verdict mv = LSC_VERDICT_INIT;
            ASSERT_EQ(lsc_assessment_verdict(fused, LSC_CHECK_MEMORISATION, &mv), LSC_STATUS_OK);
            EXPECT_GT(mv.matched, 0.03) << mv.why; // copies of the judging half's rows
        }
        ASSERT_EQ(lsc_assessment_class_count(fused), c.labels ? 10 : 0);
        for (int64_t k = 0; k < lsc_assessment_class_count(fused); k++) {
            lsc_class_verdict a = LSC_CLASS_VERDICT_INIT, b = LSC_CLASS_VERDICT_INIT;
            ASSERT_EQ(lsc_assessment_class(fused, k, &a), LSC_STATUS_OK);
            ASSERT_EQ(lsc_assessment_class(apart, k, &b), LSC_STATUS_OK);
            EXPECT_EQ(a.level, b.level) << k;
            EXPECT_EQ(a.matched, b.matched) << k;
            EXPECT_EQ(a.baseline, b.baseline) << k;
            EXPECT_EQ(a.share, b.share) << k;
            EXPECT_EQ(a.share_level, b.share_level) << k;
        }
        lsc_assessment_destroy(fused);
        lsc_assessment_destroy(apart);
        lsc_reference_destroy(ref);
    }
}

// With labels: one class of ten missing reads as that class missed (and mode collapse) with no
// healthy class flagged; with the generated rows' own labels or their nearest reference row's.
TEST(Verdicts, LabelsNameTheMissingClass)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(400));
    std::vector<int64_t> rl, fl;
    auto real = mix.draw(kN, data::seed(401), 0, &rl);
    auto fake = mix.draw(300, data::seed(402), 9, &fl); // mode 9 (label 109) missing
    lsc_matrix r = lsc_matrix_f32(real.data(), kN, kD), f = lsc_matrix_f32(fake.data(), 300, kD);
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &r, 5, nullptr, &ref), LSC_STATUS_OK);
    for (int own : {0, 1}) {
        SCOPED_TRACE(own ? "generated labels" : "nearest reference labels");
        lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
        o.real_labels = rl.data();
        o.fake_labels = own ? fl.data() : nullptr;
        lsc_assessment *a = nullptr;
        ASSERT_EQ(lsc_assess(ctx, ref, &f, &o, &a), LSC_STATUS_OK) << lsc_last_error(ctx);
        ASSERT_EQ(lsc_assessment_class_count(a), 10);
        int64_t rows = 0;
        for (int64_t c = 0; c < 10; c++) {
            lsc_class_verdict cv = LSC_CLASS_VERDICT_INIT;
            ASSERT_EQ(lsc_assessment_class(a, c, &cv), LSC_STATUS_OK);
            EXPECT_EQ(cv.label, 100 + c); // ascending labels
            rows += cv.real_rows;
            if (c == 9) {
                EXPECT_EQ(cv.level, LSC_LEVEL_COLLAPSE) << cv.effect << " " << cv.score;
                EXPECT_GT(cv.effect, 0.9);
                EXPECT_LT(cv.coverage, 0.1);
                EXPECT_LT(cv.share, 0.02);
            } else {
                EXPECT_NE(cv.level, LSC_LEVEL_COLLAPSE) << c;
                EXPECT_NE(cv.share_level, LSC_LEVEL_COLLAPSE) << c;
                EXPECT_GT(cv.coverage, 0.5);
            }
        }
        EXPECT_EQ(rows, kN);
        lsc_verdict mc = LSC_VERDICT_INIT;
        ASSERT_EQ(lsc_assessment_verdict(a, LSC_CHECK_MODE_COLLAPSE, &mc), LSC_STATUS_OK);
        EXPECT_EQ(mc.level, LSC_LEVEL_COLLAPSE) << mc.why;
        EXPECT_NE(std::string(mc.why).find("109"), std::string::npos) << mc.why;
        lsc_class_verdict cv = LSC_CLASS_VERDICT_INIT;
        EXPECT_EQ(lsc_assessment_class(a, 10, &cv), LSC_STATUS_INVALID_ARGUMENT);
        lsc_assessment_destroy(a);
    }
    // healthy generated rows, labelled: no class flagged at collapse in any draw
    for (uint64_t draw = 0; draw < 4; draw++) {
        auto ok = mix.draw(300, data::seed(410 + draw), 0, &fl);
        lsc_matrix h = lsc_matrix_f32(ok.data(), 300, kD);
        lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
        o.real_labels = rl.data();
        o.fake_labels = draw % 2 ? fl.data() : nullptr;
        lsc_assessment *a = nullptr;
        ASSERT_EQ(lsc_assess(ctx, ref, &h, &o, &a), LSC_STATUS_OK) << lsc_last_error(ctx);
        for (int64_t c = 0; c < 10; c++) {
            lsc_class_verdict x = LSC_CLASS_VERDICT_INIT;
            ASSERT_EQ(lsc_assessment_class(a, c, &x), LSC_STATUS_OK);
            EXPECT_NE(x.level, LSC_LEVEL_COLLAPSE) << "draw " << draw << " class " << c;
            EXPECT_NE(x.share_level, LSC_LEVEL_COLLAPSE) << "draw " << draw << " class " << c;
        }
        EXPECT_NE(lsc_assessment_level(a), LSC_LEVEL_COLLAPSE);
        lsc_assessment_destroy(a);
    }
    lsc_reference_destroy(ref);
}

// A class produced four times as often as the others reads as over-produced.
TEST(Verdicts, AnOverProducedClassReadsItsShare)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(420));
    std::vector<int64_t> rl, fl;
    auto real = mix.draw(kN, data::seed(421), 0, &rl);
    auto fake = mix.draw(400, data::seed(422), 0, &fl, 4); // mode 0: 4 / 13 of the rows
    lsc_matrix r = lsc_matrix_f32(real.data(), kN, kD), f = lsc_matrix_f32(fake.data(), 400, kD);
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &r, 5, nullptr, &ref), LSC_STATUS_OK);
    lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
    o.real_labels = rl.data();
    lsc_assessment *a = nullptr;
    ASSERT_EQ(lsc_assess(ctx, ref, &f, &o, &a), LSC_STATUS_OK) << lsc_last_error(ctx);
    lsc_class_verdict c0 = LSC_CLASS_VERDICT_INIT;
    ASSERT_EQ(lsc_assessment_class(a, 0, &c0), LSC_STATUS_OK);
    EXPECT_EQ(c0.share_level, LSC_LEVEL_COLLAPSE) << c0.share << " vs " << c0.share_baseline;
    EXPECT_NEAR(c0.share, 4.0 / 13.0, 0.07);
    EXPECT_NEAR(c0.share_effect, (4.0 / 13.0) / 0.1 - 1.0, 0.8);
    for (int64_t c = 1; c < 10; c++) {
        lsc_class_verdict x = LSC_CLASS_VERDICT_INIT;
        ASSERT_EQ(lsc_assessment_class(a, c, &x), LSC_STATUS_OK);
        EXPECT_NE(x.share_level, LSC_LEVEL_COLLAPSE) << c;
        EXPECT_NE(x.share_level, LSC_LEVEL_BORDERLINE) << c;
        EXPECT_NE(x.level, LSC_LEVEL_COLLAPSE) << c;
    }
    lsc_assessment_destroy(a);
    lsc_reference_destroy(ref);
}

// The uncovered rows are exactly the full-size PRDC's, ordered by the float64 distance to the
// nearest generated row over the radius; each class's full-size coverage is the reference's;
// lsc_assessment_prdc is lsc_prdc's result.
TEST(Verdicts, UncoveredRowsAndClassCoverageAgainstTheReference)
{
    Ctx ctx;
    Mixture mix(kD, 10, data::seed(430));
    std::vector<int64_t> rl;
    auto real = mix.draw(kN, data::seed(431), 0, &rl);
    auto fake = mix.draw(300, data::seed(432), 7);
    lsc_matrix r = lsc_matrix_f32(real.data(), kN, kD), f = lsc_matrix_f32(fake.data(), 300, kD);
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &r, 5, nullptr, &ref), LSC_STATUS_OK);
    lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
    o.real_labels = rl.data();
    lsc_assessment *a = nullptr;
    ASSERT_EQ(lsc_assess(ctx, ref, &f, &o, &a), LSC_STATUS_OK) << lsc_last_error(ctx);
    lsc_prdc_result p = LSC_PRDC_RESULT_INIT, q = LSC_PRDC_RESULT_INIT;
    ASSERT_EQ(lsc_prdc(ctx, ref, &f, &p), LSC_STATUS_OK);
    ASSERT_EQ(lsc_assessment_prdc(a, &q), LSC_STATUS_OK);
    EXPECT_EQ(std::memcmp(&p, &q, sizeof p), 0);

    auto want = refnn::prdc(real.data(), kN, fake.data(), 300, kD, 5, LSC_METRIC_EUCLIDEAN, false);
    int64_t count = -2;
    ASSERT_EQ(lsc_assessment_uncovered(a, nullptr, 0, &count), LSC_STATUS_OK);
    ASSERT_GT(count, 100); // 3 of 10 modes missing
    std::vector<int64_t> rows((size_t)count + 5, -1);
    ASSERT_EQ(lsc_assessment_uncovered(a, rows.data(), (int64_t)rows.size(), &count),
              LSC_STATUS_OK);
    EXPECT_EQ(rows[(size_t)count], -1) << "nothing written past the count";
    std::vector<int> seen((size_t)kN, 0);
    double last = INFINITY;
    for (int64_t u = 0; u < count; u++) {
        const int64_t i = rows[(size_t)u];
        ASSERT_TRUE(i >= 0 && i < kN);
        EXPECT_EQ(seen[(size_t)i]++, 0) << "row " << i << " twice";
        EXPECT_EQ(want.cov_lo[(size_t)i], 0) << "row " << i << " is covered";
        double nearest = INFINITY;
        for (int64_t j = 0; j < 300; j++)
            nearest =
                std::min(nearest, refnn::distance(&real[(size_t)(i * kD)], &fake[(size_t)(j * kD)],
                                                  kD, LSC_METRIC_EUCLIDEAN));
        const double ratio = nearest / want.real_radii[(size_t)i];
        EXPECT_LE(ratio, last * (1 + 1e-6)) << "rank " << u;
        last = ratio;
    }
    int64_t uncovered = 0;
    for (int64_t i = 0; i < kN; i++) uncovered += want.cov_hi[(size_t)i] == 0;
    EXPECT_EQ(count, uncovered);
    // the first row listed lies in a missing mode, far from every generated row
    EXPECT_GE(rl[(size_t)rows[0]], 107);
    for (int64_t c = 0; c < 10; c++) {
        lsc_class_verdict x = LSC_CLASS_VERDICT_INIT;
        ASSERT_EQ(lsc_assessment_class(a, c, &x), LSC_STATUS_OK);
        int64_t lo = 0, hi = 0, n = 0;
        for (int64_t i = 0; i < kN; i++)
            if (rl[(size_t)i] == 100 + c) {
                n++;
                lo += want.cov_lo[(size_t)i];
                hi += want.cov_hi[(size_t)i];
            }
        EXPECT_EQ(x.real_rows, n);
        EXPECT_GE(x.coverage * (double)n, (double)lo - 1e-9) << c;
        EXPECT_LE(x.coverage * (double)n, (double)hi + 1e-9) << c;
        EXPECT_EQ(x.level == LSC_LEVEL_COLLAPSE, c >= 7)
            << c << " level " << x.level << " effect " << x.effect << " score " << x.score
            << " base " << x.baseline << " spread " << x.spread << " matched " << x.matched;
    }
    lsc_assessment_destroy(a);
    // with the caller's own PRDC no rows are listed, and class coverage is NaN
    o.prdc = &p;
    ASSERT_EQ(lsc_assess(ctx, ref, &f, &o, &a), LSC_STATUS_OK) << lsc_last_error(ctx);
    ASSERT_EQ(lsc_assessment_uncovered(a, nullptr, 0, &count), LSC_STATUS_OK);
    EXPECT_EQ(count, -1);
    lsc_class_verdict x = LSC_CLASS_VERDICT_INIT;
    ASSERT_EQ(lsc_assessment_class(a, 0, &x), LSC_STATUS_OK);
    EXPECT_TRUE(std::isnan(x.coverage));
    EXPECT_EQ(lsc_assessment_uncovered(a, nullptr, 3, &count), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_assessment_uncovered(nullptr, nullptr, 0, &count), LSC_STATUS_INVALID_ARGUMENT);
    lsc_assessment_destroy(a);
    lsc_reference_destroy(ref);
}

// A context keeps the reference side of its last lsc_assess; whatever it reuses, every call must
// read exactly what a fresh context reads: the same generated rows again, other rows of the same
// size, another size, another seed, labels, and another reference (even at the same address).
TEST(Verdicts, TheContextsCacheGivesTheVerdictsOfAFreshContext)
{
    Ctx warm;
    Mixture mix(8, 6, data::seed(390));
    std::vector<int64_t> lab;
    auto real = mix.draw(600, data::seed(391), 0, &lab);
    auto f1 = mix.draw(150, data::seed(392), 3), f2 = mix.draw(150, data::seed(393));
    auto f3 = mix.draw(90, data::seed(394));
    auto real2 = mix.draw(600, data::seed(395));
    struct Call {
        const std::vector<float> *real, *fake;
        int64_t m;
        uint64_t seed;
        bool labels;
    };
    const Call calls[] = {
        {&real, &f1, 150, 0, false}, {&real, &f1, 150, 0, false}, {&real, &f2, 150, 0, false},
        {&real, &f3, 90, 0, false},  {&real, &f2, 150, 0, false}, {&real, &f2, 150, 5, false},
        {&real, &f1, 150, 5, true},  {&real, &f2, 150, 5, true},  {&real2, &f2, 150, 5, true}};
    // the warm context's reference lives across calls (that is what hits its cache); the last
    // call replaces it by another reference, likely at the same address
    lsc_reference *warm_ref = nullptr;
    const std::vector<float> *warm_rows = nullptr;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        const Call &c = calls[i];
        SCOPED_TRACE("call " + std::to_string(i));
        lsc_matrix r = lsc_matrix_f32(c.real->data(), 600, 8),
                   f = lsc_matrix_f32(c.fake->data(), c.m, 8);
        if (warm_rows != c.real) {
            lsc_reference_destroy(warm_ref);
            warm_ref = nullptr;
            ASSERT_EQ(lsc_reference_create(warm.ctx, &r, 5, nullptr, &warm_ref), LSC_STATUS_OK);
            warm_rows = c.real;
        }
        lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
        o.seed = c.seed;
        o.real_labels = c.labels ? lab.data() : nullptr;
        lsc_assessment *got[2] = {nullptr, nullptr};
        ASSERT_EQ(lsc_assess(warm.ctx, warm_ref, &f, &o, &got[0]), LSC_STATUS_OK)
            << lsc_last_error(warm.ctx);
        {
            Ctx fresh;
            lsc_reference *ref = nullptr;
            ASSERT_EQ(lsc_reference_create(fresh.ctx, &r, 5, nullptr, &ref), LSC_STATUS_OK);
            ASSERT_EQ(lsc_assess(fresh.ctx, ref, &f, &o, &got[1]), LSC_STATUS_OK)
                << lsc_last_error(fresh.ctx);
            lsc_reference_destroy(ref);
        }
        for (int k = 0; k < LSC_CHECK_COUNT; k++) {
            lsc_verdict a = LSC_VERDICT_INIT, b = LSC_VERDICT_INIT;
            lsc_assessment_verdict(got[0], (lsc_check)k, &a);
            lsc_assessment_verdict(got[1], (lsc_check)k, &b);
            EXPECT_EQ(a.level, b.level) << lsc_check_name(a.check);
            EXPECT_EQ(a.matched, b.matched) << lsc_check_name(a.check);
            EXPECT_EQ(a.baseline, b.baseline) << lsc_check_name(a.check);
            EXPECT_EQ(a.spread, b.spread) << lsc_check_name(a.check);
            EXPECT_STREQ(a.why, b.why);
        }
        ASSERT_EQ(lsc_assessment_class_count(got[0]), lsc_assessment_class_count(got[1]));
        for (int64_t k = 0; k < lsc_assessment_class_count(got[0]); k++) {
            lsc_class_verdict a = LSC_CLASS_VERDICT_INIT, b = LSC_CLASS_VERDICT_INIT;
            lsc_assessment_class(got[0], k, &a);
            lsc_assessment_class(got[1], k, &b);
            EXPECT_EQ(a.level, b.level);
            EXPECT_EQ(a.baseline, b.baseline);
            EXPECT_EQ(a.spread, b.spread);
            EXPECT_EQ(a.share_baseline, b.share_baseline);
        }
        lsc_assessment_destroy(got[0]);
        lsc_assessment_destroy(got[1]);
    }
    lsc_reference_destroy(warm_ref);
}

// lsc_reference_prepare stores the judging half's radii (and a file carries them): the verdicts
// must not change, for the prepared seed, another seed, after a save and load, and for cosine
TEST(Verdicts, APreparedReferenceGivesTheSameVerdicts)
{
    Mixture mix(8, 6, data::seed(396));
    auto real = mix.draw(500, data::seed(397));
    auto fake = mix.draw(120, data::seed(398), 4);
    lsc_matrix r = lsc_matrix_f32(real.data(), 500, 8), f = lsc_matrix_f32(fake.data(), 120, 8);
    char dir[] = "/tmp/lsc-verdicts-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string file = std::string(dir) + "/prepared.lscref";
    for (lsc_metric metric : {LSC_METRIC_EUCLIDEAN, LSC_METRIC_COSINE}) {
        SCOPED_TRACE(metric);
        lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
        ro.metric = metric;
        // each assessment in a fresh context: nothing from a cache
        auto verdicts = [&](lsc_reference *ref, uint64_t seed) {
            Ctx c;
            lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
            o.seed = seed;
            lsc_assessment *a = nullptr;
            EXPECT_EQ(lsc_assess(c.ctx, ref, &f, &o, &a), LSC_STATUS_OK) << lsc_last_error(c.ctx);
            std::vector<lsc_verdict> v(LSC_CHECK_COUNT);
            for (int k = 0; k < LSC_CHECK_COUNT; k++) {
                v[(size_t)k] = LSC_VERDICT_INIT;
                lsc_assessment_verdict(a, (lsc_check)k, &v[(size_t)k]);
            }
            lsc_assessment_destroy(a);
            return v;
        };
        auto same = [](const std::vector<lsc_verdict> &a, const std::vector<lsc_verdict> &b) {
            for (size_t k = 0; k < a.size(); k++) {
                EXPECT_EQ(a[k].level, b[k].level) << lsc_check_name(a[k].check);
                EXPECT_EQ(a[k].matched, b[k].matched) << lsc_check_name(a[k].check);
                EXPECT_EQ(a[k].baseline, b[k].baseline) << lsc_check_name(a[k].check);
                EXPECT_STREQ(a[k].why, b[k].why);
            }
        };
        Ctx ctx;
        lsc_reference *ref = nullptr;
        ASSERT_EQ(lsc_reference_create(ctx, &r, 5, &ro, &ref), LSC_STATUS_OK);
        const auto plain0 = verdicts(ref, 0), plain3 = verdicts(ref, 3);
        ASSERT_EQ(lsc_reference_prepare(ctx, ref, 0), LSC_STATUS_OK) << lsc_last_error(ctx);
        same(verdicts(ref, 0), plain0);
        same(verdicts(ref, 3), plain3); // prepared for another seed: computed as before
        ASSERT_EQ(lsc_reference_save(ctx, ref, file.c_str()), LSC_STATUS_OK) << lsc_last_error(ctx);
        lsc_reference_destroy(ref);
        ref = nullptr;
        ASSERT_EQ(lsc_reference_load(ctx, file.c_str(), &ref), LSC_STATUS_OK)
            << lsc_last_error(ctx);
        lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
        ASSERT_EQ(lsc_reference_info_get(ref, &info), LSC_STATUS_OK);
        EXPECT_EQ(info.prepared, 1);
        EXPECT_EQ(info.prepared_seed, 0u);
        same(verdicts(ref, 0), plain0);
        lsc_reference_destroy(ref);
    }
    std::remove(file.c_str());
    rmdir(dir);
    Ctx ctx;
    EXPECT_EQ(lsc_reference_prepare(ctx, nullptr, 0), LSC_STATUS_INVALID_ARGUMENT);
    lsc_reference *tiny = nullptr;
    lsc_matrix t = lsc_matrix_f32(real.data(), 8, 8);
    ASSERT_EQ(lsc_reference_create(ctx, &t, 3, nullptr, &tiny), LSC_STATUS_OK);
    EXPECT_EQ(lsc_reference_prepare(ctx, tiny, 0), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(lsc_last_error(ctx)).find("judging half"), std::string::npos)
        << lsc_last_error(ctx);
    lsc_reference_destroy(tiny);
}

TEST(Verdicts, BadArguments)
{
    Ctx ctx;
    auto real = data::gaussian(100, 4, data::seed(380));
    auto fake = data::gaussian(50, 4, data::seed(381));
    auto wide = data::gaussian(50, 5, data::seed(382));
    lsc_matrix r = lsc_matrix_f32(real.data(), 100, 4), f = lsc_matrix_f32(fake.data(), 50, 4),
               w = lsc_matrix_f32(wide.data(), 50, 5);
    lsc_reference *ref = nullptr;
    ASSERT_EQ(lsc_reference_create(ctx, &r, 5, nullptr, &ref), LSC_STATUS_OK);
    lsc_assessment *a = (lsc_assessment *)(uintptr_t)0x5a;
    EXPECT_EQ(lsc_assess(ctx, nullptr, &f, nullptr, &a), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_assess(ctx, ref, nullptr, nullptr, &a), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_assess(ctx, ref, &f, nullptr, nullptr), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_assess(ctx, ref, &w, nullptr, &a), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "cols")) << lsc_last_error(ctx);
    lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
    o.splits = 2;
    EXPECT_EQ(lsc_assess(ctx, ref, &f, &o, &a), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "splits")) << lsc_last_error(ctx);
    o = LSC_ASSESS_OPTS_INIT;
    o.memorisation_factor = NAN;
    EXPECT_EQ(lsc_assess(ctx, ref, &f, &o, &a), LSC_STATUS_INVALID_ARGUMENT);
    o = LSC_ASSESS_OPTS_INIT;
    o.near_distance = NAN;
    EXPECT_EQ(lsc_assess(ctx, ref, &f, &o, &a), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "near_distance")) << lsc_last_error(ctx);
    o = LSC_ASSESS_OPTS_INIT;
    o.order_uncovered = 2;
    EXPECT_EQ(lsc_assess(ctx, ref, &f, &o, &a), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "order_uncovered")) << lsc_last_error(ctx);
    EXPECT_EQ(lsc_assessment_near_rows(nullptr), -1);
    o = LSC_ASSESS_OPTS_INIT;
    o.size = 8;
    EXPECT_EQ(lsc_assess(ctx, ref, &f, &o, &a), LSC_STATUS_INVALID_ARGUMENT);
    fake[7] = NAN;
    EXPECT_EQ(lsc_assess(ctx, ref, &f, nullptr, &a), LSC_STATUS_INVALID_DATA);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "row 1 col 3")) << lsc_last_error(ctx);
    fake[7] = 0.5f;
    o = LSC_ASSESS_OPTS_INIT;
    std::vector<int64_t> labels(100);
    o.fake_labels = labels.data();
    EXPECT_EQ(lsc_assess(ctx, ref, &f, &o, &a), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "real_labels")) << lsc_last_error(ctx);
    lsc_reference *big = nullptr;
    auto many = data::gaussian(5000, 4, data::seed(383));
    lsc_matrix bm = lsc_matrix_f32(many.data(), 5000, 4);
    ASSERT_EQ(lsc_reference_create(ctx, &bm, 5, nullptr, &big), LSC_STATUS_OK);
    std::vector<int64_t> distinct(5000);
    for (int64_t i = 0; i < 5000; i++) distinct[(size_t)i] = i;
    o = LSC_ASSESS_OPTS_INIT;
    o.real_labels = distinct.data();
    EXPECT_EQ(lsc_assess(ctx, big, &f, &o, &a), LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(lsc_last_error(ctx), "4096")) << lsc_last_error(ctx);
    lsc_reference_destroy(big);
    fake[7] = NAN;
    lsc_matrix dev = f;
    dev.memory = LSC_MEMORY_DEVICE;
    EXPECT_NE(lsc_assess(ctx, ref, &dev, nullptr, &a), LSC_STATUS_OK);
    EXPECT_EQ(a, (lsc_assessment *)(uintptr_t)0x5a) << "nothing written on failure";
    lsc_verdict v = LSC_VERDICT_INIT;
    EXPECT_EQ(lsc_assessment_verdict(nullptr, LSC_CHECK_MODE_COLLAPSE, &v),
              LSC_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(lsc_assessment_level(nullptr), LSC_LEVEL_NOT_ASSESSED);
    EXPECT_STREQ(lsc_check_name((lsc_check)99), "unknown");
    EXPECT_STREQ(lsc_level_name(LSC_LEVEL_BORDERLINE), "borderline");
    lsc_assessment_destroy(nullptr);
    lsc_reference_destroy(ref);
}

} // namespace
