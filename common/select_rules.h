/* Selection and merge rules shared by the backends (the CUDA backend's kNN, PRDC and pair
 * statistics use them, the CPU's pair statistics the order and the merge; tests/
 * test_cuda_shared.cpp checks them on the CPU). Pure functions only. */
#ifndef LSC_SELECT_RULES_H
#define LSC_SELECT_RULES_H

#include "lsc_common.h"
#include "distance_rules.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Ordered 32-bit key of a float32: key(a) < key(b) exactly when a < b (-0 just below +0, NaN
 * above +Inf), so a radix select on keys selects on values. */
LSC_HD uint32_t lsc_key_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* The float32 of a key (lsc_unkey_f32(lsc_key_f32(f)) == f bit for bit). */
LSC_HD float lsc_unkey_f32(uint32_t k)
{
    const uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The smallest float32 >= x (x a finite double or +-Inf; NaN stays NaN): an upper end of a
 * fast value's band in 32 bits that is still an upper end. */
LSC_HD float lsc_f32_ceil(double x)
{
    float f = (float)x;
    if ((double)f < x) f = nextafterf(f, INFINITY);
    return f;
}

/* Entries of the ascending (value, index) list (v, ix)[0, n) that come before (val, id) in the
 * kNN order (lsc_knn_before): where (val, id) goes in the list. Merging two sorted lists with
 * distinct indices puts each entry at its own position plus its rank in the other list. */
LSC_HD int64_t lsc_knn_rank(const double *v, const int64_t *ix, int64_t n, double val, int64_t id)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (lsc_knn_before(v[mid], ix[mid], val, id)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The order of near-duplicate pairs (docs/METRICS.md section 3): by d, then i, then j. */
LSC_HD int lsc_pair_order(double da, int64_t ia, int64_t ja, double db, int64_t ib, int64_t jb)
{
    if (da != db) return da < db;
    if (ia != ib) return ia < ib;
    return ja < jb;
}

/* (count, mean, M2) of a part merged into a running (count, mean, M2), Chan et al.: never
 * sum d^2 - (sum d)^2 / n. */
LSC_HD void lsc_moments_merge(double *n, double *mean, double *m2, double nb, double mb, double m2b)
{
    if (nb == 0) return;
    const double nn = *n + nb, delta = mb - *mean;
    *mean += delta * nb / nn;
    *m2 += m2b + delta * delta * *n * nb / nn;
    *n = nn;
}

/* Step `t` (0 .. P/2 - 1) of the bitonic sorting network's stage (size, stride) over P
 * entries (P, size, stride powers of two, stride < size <= P): compares entries *lo and *hi and
 * returns 1 when that comparison sorts ascending (then the smaller goes to lo), 0 descending.
 * Every stage's steps touch disjoint pairs, so they run in parallel. */
LSC_HD int lsc_bitonic_step(int64_t t, int64_t size, int64_t stride, int64_t *lo, int64_t *hi)
{
    *lo = 2 * t - (t & (stride - 1));
    *hi = *lo + stride;
    return (*lo & size) == 0;
}

#endif /* LSC_SELECT_RULES_H */
