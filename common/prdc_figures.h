/* Closed forms of the PRDC figures (docs/METRICS.md section 5), shared by the host and the CUDA
 * backend's device-side result writer. */
#ifndef LSC_PRDC_FIGURES_H
#define LSC_PRDC_FIGURES_H

#include "lsc.h"
#include "lsc_common.h"
#include "distance_rules.h"

/* Expected coverage of M generated rows drawn from the real rows' own distribution, without
 * ties (Naeem et al. 2020): a real row is uncovered when none of the M generated rows is among
 * its k nearest of the N - 1 + M other rows, which for exchangeable rows happens with
 * probability C(N-1, k) / C(N-1+M, k). Needs 1 <= k < N, M >= 1. */
LSC_HD double lsc_coverage_expected(int64_t n_real, int64_t m_fake, int64_t k)
{
    double miss = 1.0;
    for (int64_t t = 0; t < k; t++)
        miss *= (double)(n_real - 1 - t) / (double)(n_real - 1 + m_fake - t);
    return 1.0 - miss;
}

/* The four figures from the counts both backends gather (integers, so the order they were summed
 * in does not matter): generated rows inside some reference ball (prec), ball memberships of
 * generated rows summed (dens), reference rows inside some generated row's ball (rec), reference
 * rows whose ball holds some generated row (cov); n_real, m_fake >= 1, k >= 1. */
LSC_HD void lsc_prdc_from_counts(int64_t prec, int64_t dens, int64_t rec, int64_t cov,
                                 int64_t n_real, int64_t m_fake, int64_t k, lsc_prdc_result *out)
{
    out->precision = (double)prec / (double)m_fake;
    out->recall = (double)rec / (double)n_real;
    out->density = (double)dens / ((double)k * (double)m_fake);
    out->coverage = (double)cov / (double)n_real;
}

/* lsc_prdc_rows's real_flags from the backends' shared layout: N recall flags, then N coverage
 * flags (each 0 or not). */
LSC_HD void lsc_row_flags(const unsigned char *recalled_then_covered, int64_t n_real,
                          unsigned char *out)
{
    for (int64_t i = 0; i < n_real; i++)
        out[i] = (unsigned char)((recalled_then_covered[n_real + i] ? LSC_ROW_COVERED : 0u) |
                                 (recalled_then_covered[i] ? LSC_ROW_RECALLED : 0u));
}

/* Tests of one pair's value against the bounds b[0, n) (n <= 8): test t asks "v <= b[t]" when
 * bit t of `incl` is set, "v < b[t]" otherwise, and only while bit t of `need` is set (a test not
 * needed is 0). lsc_tests_fast decides each from the fast value and its error band, leaving -1
 * where only the exact value can, and returns whether one did; lsc_tests_exact settles those
 * from the exact value. Every PRDC decision of both backends goes through these two. */
LSC_HD int lsc_tests_fast(double vf, double err, const double *b, int n, unsigned need,
                          unsigned incl, int *in)
{
    int exact = 0;
    for (int t = 0; t < n; t++) {
        in[t] = (need >> t) & 1u ? lsc_decide_less(vf, err, b[t], (int)((incl >> t) & 1u)) : 0;
        exact |= in[t] < 0;
    }
    return exact;
}

LSC_HD void lsc_tests_exact(double ve, const double *b, int n, unsigned incl, int *in)
{
    for (int t = 0; t < n; t++)
        if (in[t] < 0) in[t] = (incl >> t) & 1u ? ve <= b[t] : ve < b[t];
}

/* The plain tests of one pair of a generated row and a reference row, in the order of the bounds
 * b[]: inside the reference row's ball (b = its radius value; precision, density, coverage),
 * inside the generated row's ball (its radius value; recall), both by the reference's
 * comparison; then lsc_prdc_near's strictly nearer than strict_v and within incl_v. */
enum { LSC_PRDC_REAL, LSC_PRDC_FAKE, LSC_PRDC_STRICT, LSC_PRDC_INCL, LSC_PRDC_TESTS };

/* The `incl` bits of the plain tests for the reference's comparison. */
LSC_HD unsigned lsc_prdc_incl(int inclusive)
{
    return (inclusive ? 1u << LSC_PRDC_REAL | 1u << LSC_PRDC_FAKE : 0u) | 1u << LSC_PRDC_INCL;
}

/* The judged subsets' tests of one pair (lsc_prdc_judge: a generated row of a subset against a
 * reference row of the judging half), in the order of the bounds b[]: inside A's ball (b =
 * ball_v), its widened ball (wide_v), the generated row's ball among its subset (sub_v), strictly
 * nearer than the copy bound (strict_v), at 0. The ball tests follow the reference's comparison,
 * the copy tests their own. `need` has bit t set for each test still open (a set-only outcome
 * already set needs no more). */
enum {
    LSC_JUDGE_BALL,
    LSC_JUDGE_WIDE,
    LSC_JUDGE_SUB,
    LSC_JUDGE_STRICT,
    LSC_JUDGE_ZERO,
    LSC_JUDGE_TESTS
};

/* The `incl` bits of the judged tests for the reference's comparison. */
LSC_HD unsigned lsc_judge_incl(int inclusive)
{
    return (inclusive ? 1u << LSC_JUDGE_BALL | 1u << LSC_JUDGE_WIDE | 1u << LSC_JUDGE_SUB : 0u) |
           1u << LSC_JUDGE_ZERO;
}

#endif /* LSC_PRDC_FIGURES_H */
