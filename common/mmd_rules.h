/* The kernels and estimators of KID and RBF MMD (docs/METRICS.md sections 9.2 and 9.3), written
 * once for the host, the CPU backend and the CUDA backend's kernels. */
#ifndef LSC_MMD_RULES_H
#define LSC_MMD_RULES_H

#include "lsc_common.h"
#include "sampler.h"
#include <math.h>

enum {
    LSC_KERNEL_POLY3 = 0, /* (a x.y + 1)^3, a = 1 / D: KID */
    LSC_KERNEL_RBF = 1    /* exp(-a ||x - y||^2), a = 1 / (2 sigma^2): CMMD */
};

/* The kernel a backend's sums use. */
typedef struct lsc_kernel_spec {
    int kind; /* LSC_KERNEL_* */
    double a;
} lsc_kernel_spec;

/* k(x, y) from the product x.y and the squared norms |x|^2, |y|^2 (float64). The RBF distance
 * is clamped at 0: the product's round-off can push it below for near rows. */
LSC_HD double lsc_kernel_value(int kind, double a, double dot, double sqx, double sqy)
{
    if (kind == LSC_KERNEL_POLY3) {
        const double t = a * dot + 1.0;
        return t * t * t;
    }
    double d2 = sqx + sqy - 2.0 * dot;
    if (d2 < 0.0) d2 = 0.0;
    return exp(-a * d2);
}

/* Sums a backend returns for one pair of row sets x (nx rows) and y (ny rows):
 *   s[0] = sum over i != j of k(x_i, x_j), s[1] the same over y, s[2] = sum over i, j of
 *   k(x_i, y_j), s[3] = the largest squared row norm among the rows used. */
enum { LSC_KSUM_XX = 0, LSC_KSUM_YY = 1, LSC_KSUM_XY = 2, LSC_KSUM_MAXSQ = 3, LSC_KSUM_N = 4 };

/* Unbiased MMD^2 (Gretton et al. 2012, eq. 3; KID): the diagonals left out. nx, ny >= 2. */
LSC_HD double lsc_mmd2_unbiased(const double *s, int64_t nx, int64_t ny)
{
    const double fx = (double)nx, fy = (double)ny;
    return s[LSC_KSUM_XX] / (fx * (fx - 1.0)) + s[LSC_KSUM_YY] / (fy * (fy - 1.0)) -
           2.0 * s[LSC_KSUM_XY] / (fx * fy);
}

/* Biased MMD^2 (the V-statistic, CMMD's estimator): the diagonals in, k(x, x) = `diag`
 * (1 for the RBF kernel). nx, ny >= 1. */
LSC_HD double lsc_mmd2_biased(const double *s, int64_t nx, int64_t ny, double diag)
{
    const double fx = (double)nx, fy = (double)ny;
    return (s[LSC_KSUM_XX] + fx * diag) / (fx * fx) + (s[LSC_KSUM_YY] + fy * diag) / (fy * fy) -
           2.0 * s[LSC_KSUM_XY] / (fx * fy);
}

/* Pinned absolute tolerance of one MMD^2 estimate whose products x.y come from a float32 GEMM
 * (u = 2^-24) on rows of squared norm at most r2, in dimension d: a product's error is at most
 * d u |x||y| <= d u r2, which moves a kernel value by at most its derivative times that (poly3:
 * 3 t^2 a, with t <= a r2 + 1; RBF: 2 a k <= 2 a), and an estimate adds three means with
 * weights 1, 1 and 2: four times a kernel value's bound. */
LSC_HD double lsc_mmd2_tolerance(int kind, double a, double r2, int64_t d)
{
    const double u = 0x1p-24, perr = (double)d * u * r2;
    if (kind == LSC_KERNEL_POLY3) {
        const double t = a * r2 + 1.0;
        return 4.0 * 3.0 * t * t * a * perr;
    }
    return 4.0 * 2.0 * a * perr;
}

/* The sampler seed of KID subset s (s >= 0) of side 0 (a) or 1 (b): every subset and side
 * has its own seeded permutation (docs/METRICS.md section 10.2). */
LSC_HD uint64_t lsc_kid_subset_seed(uint64_t seed, int64_t s, int side)
{
    return lsc_mix64(seed ^ lsc_mix64(0x4b49440000000000ull + 2u * (uint64_t)s + (uint64_t)side));
}

#endif /* LSC_MMD_RULES_H */
