/* The D x D Grams of the spectrum accumulator (docs/METRICS.md section 1), written once for both
 * backends: rows are added around a pivot p, keeping G = sum (x - p)(x - p)^T, s = sum (x - p)
 * and, for the cosine Gram, V = sum xn xn^T over n rows. Accumulating around a pivot near the
 * mean keeps G's entries small, so the correction terms below cancel little. Pure functions
 * only; each backend adds the loops. */
#ifndef LSC_GRAM_RULES_H
#define LSC_GRAM_RULES_H

#include "lsc_common.h"

/* Entry (i, j) of a part's Gram (gb, its sums sbi, sbj, nb rows) moved to another pivot, delta =
 * pb - pa: sum (x - pa)(x - pa)^T = Gb + sb delta^T + delta sb^T + nb delta delta^T, exact in
 * exact arithmetic. Merging adds it to the other part's entry. */
LSC_HD double lsc_gram_moved(double gb, double sbi, double sbj, double di, double dj, double nb)
{
    return gb + sbi * dj + di * sbj + nb * di * dj;
}

/* A part's sum s_i moved to another pivot, delta_i = pb_i - pa_i. */
LSC_HD double lsc_sum_moved(double sbi, double di, double nb) { return sbi + nb * di; }

/* Which matrix lsc_gram_entry forms. */
enum { LSC_GRAM_CENTRED, LSC_GRAM_UNCENTRED, LSC_GRAM_COSINE };

/* Entry (i, j) of the matrix handed to the eigensolver, from the accumulated entry `acc` (G's
 * for the centred and uncentred Grams, V's for the cosine one): centred Xc^T Xc = G - s s^T / n
 * (the pivot correction), uncentred X^T X = G + s p^T + p s^T + n p p^T, cosine V / n. */
LSC_HD double lsc_gram_entry(int kind, double n, double acc, double si, double sj, double pi,
                             double pj)
{
    if (kind == LSC_GRAM_CENTRED) return acc - si * sj / n;
    if (kind == LSC_GRAM_UNCENTRED) return acc + si * pj + pi * sj + n * pi * pj;
    return acc / n;
}

/* Entry (i, j) of the sample covariance (ddof 1) over n >= 2 rows: the centred entry / (n - 1). */
LSC_HD double lsc_gram_cov(double gij, double si, double sj, double n)
{
    return lsc_gram_entry(LSC_GRAM_CENTRED, n, gij, si, sj, 0.0, 0.0) / (n - 1.0);
}

/* Sample variance (ddof 1) of a column from the sum of its n >= 2 rows' squared offsets from
 * their mean (the two-pass form, where the rows are at hand: fewer rows than columns). */
LSC_HD double lsc_sample_var(double ss, int64_t n) { return ss / (double)(n - 1); }

/* Mean of column i: its pivot plus the mean of its rows' offsets from it. */
LSC_HD double lsc_gram_mean(double pi, double si, double n) { return pi + si / n; }

/* Sample variance (ddof 1) of column k from its Gram diagonal g_kk and sum s_k, clamped at 0
 * (the subtraction may round below it). */
LSC_HD double lsc_gram_colvar(double gkk, double sk, double n)
{
    const double v = lsc_gram_cov(gkk, sk, sk, n);
    return v > 0.0 ? v : 0.0;
}

#endif /* LSC_GRAM_RULES_H */
