/* Closed forms of the PRDC figures (docs/METRICS.md section 5), shared by the host and the CUDA
 * backend's device-side result writer. */
#ifndef LSC_PRDC_FIGURES_H
#define LSC_PRDC_FIGURES_H

#include "lsc.h"
#include "lsc_common.h"

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

/* lsc_prdc_rows's real_flags from the backends' shared layout: N recall flags, then N coverage
 * flags (each 0 or not). */
LSC_HD void lsc_row_flags(const unsigned char *recalled_then_covered, int64_t n_real,
                          unsigned char *out)
{
    for (int64_t i = 0; i < n_real; i++)
        out[i] = (unsigned char)((recalled_then_covered[n_real + i] ? LSC_ROW_COVERED : 0u) |
                                 (recalled_then_covered[i] ? LSC_ROW_RECALLED : 0u));
}

#endif /* LSC_PRDC_FIGURES_H */
