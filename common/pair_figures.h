/* The pair statistics' figures (docs/METRICS.md section 3) from what a backend gathers, written
 * once: the running moments of the pairs' distances, the largest exact value, each row's nearest
 * exact value and the uniformity's sum. Host code only (it sorts with qsort); compiled as C and
 * as the CUDA module's host C++. */
#ifndef LSC_PAIR_FIGURES_H
#define LSC_PAIR_FIGURES_H

#include "../include/lsc.h"
#include "lsc_common.h"
#include "distance_rules.h"
#include "geometry_rules.h"

#include <math.h>
#include <stdlib.h>

/* Fills out's mean, std (ddof 0), min, max, nn_mean, nn_median (the lower median), nn_min,
 * nn_max and uniformity from the pairs' moments (count, mean, M2), the largest exact internal
 * value max_v, the n >= 2 rows' nearest exact internal values nn_v (turned into distances and
 * sorted in place) and the uniformity's sum of pair terms (`uniformity` 0: not asked, NaN). The
 * minimum pair distance is the smallest nearest-neighbour distance, so both come from nn_v. */
static inline void lsc_pair_figures(int metric, double count, double mean, double m2, double max_v,
                                    double *nn_v, int64_t n, int uniformity, double unif_sum,
                                    lsc_pair_result *out)
{
    for (int64_t i = 0; i < n; i++) nn_v[i] = lsc_dist_from_v(metric, nn_v[i]);
    double nn_sum = 0.0;
    for (int64_t i = 0; i < n; i++) nn_sum += nn_v[i];
    qsort(nn_v, (size_t)n, sizeof(double), lsc_cmp_f64);
    out->mean = mean;
    out->std = sqrt(m2 / count);
    out->min = nn_v[0];
    out->max = lsc_dist_from_v(metric, max_v);
    out->nn_mean = nn_sum / (double)n;
    out->nn_median = nn_v[(n - 1) / 2];
    out->nn_min = nn_v[0];
    out->nn_max = nn_v[n - 1];
    out->uniformity = uniformity ? lsc_uniformity(unif_sum, count) : NAN;
}

#endif /* LSC_PAIR_FIGURES_H */
