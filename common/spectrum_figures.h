/* Every figure of docs/METRICS.md section 1 from the eigenvalues a backend returns, written once.
 * Compiled as C, C++ and CUDA (host side). */
#ifndef LSC_SPECTRUM_FIGURES_H
#define LSC_SPECTRUM_FIGURES_H

#include "lsc_common.h"
#include "../include/lsc.h"
#include <math.h>

/* Pinned numerical zero: an eigenvalue below this fraction of the largest (a singular value
 * below 1e-5 of the largest), and any negative one, counts as exactly 0. */
#define LSC_EIG_CUT 1e-10
/* RankMe's epsilon (Garrido et al. 2023). */
#define LSC_RANKME_EPS 1e-7

/* Eigenvalues of a symmetric Gram, as LAPACK/cuSOLVER return them (ascending, n values):
 * reversed in place to descending order and cut at the pinned numerical zero. */
LSC_HD void lsc_eigs_prepare(double *ev, int64_t n)
{
    for (int64_t i = 0, j = n - 1; i < j; i++, j--) {
        double t = ev[i];
        ev[i] = ev[j];
        ev[j] = t;
    }
    double top = n > 0 && ev[0] > 0.0 ? ev[0] : 0.0;
    for (int64_t i = 0; i < n; i++)
        if (!(ev[i] >= LSC_EIG_CUT * top) || ev[i] <= 0.0) ev[i] = 0.0;
}

/* Vendi score of order q (Pasarkar & Dieng 2024) of the probabilities nu[0..m-1] (eigenvalues of
 * K / N, summing to 1, zeros already cut): (sum nu^q)^(1 / (1 - q)); q = 0 counts the non-zero
 * ones, q = 1 is exp of the Shannon entropy, q = INFINITY is 1 / max nu. 0 when all are 0. */
LSC_HD double lsc_vendi_order(const double *nu, int64_t m, double q)
{
    double top = 0.0, h = 0.0, s = 0.0;
    int64_t count = 0;
    for (int64_t i = 0; i < m; i++) {
        if (!(nu[i] > 0.0)) continue;
        count++;
        if (nu[i] > top) top = nu[i];
        if (q == 1.0) h -= nu[i] * log(nu[i]);
        else if (q != 0.0 && !isinf(q)) s += pow(nu[i], q);
    }
    if (count == 0) return 0.0;
    if (q == 0.0) return (double)count;
    if (q == 1.0) return exp(h);
    if (isinf(q)) return 1.0 / top;
    return exp(log(s) / (1.0 - q));
}

/* alpha-ReQ (Agrawal et al. 2022): the covariance eigenvalues decay as lambda_i ~ i^-alpha;
 * alpha is minus the slope of the ordinary least squares line (with intercept) of log lambda_i
 * on log i over i = 1..r, every non-zero eigenvalue (lam descending, zeros cut). Also the fit's
 * R^2. Fewer than 3 non-zero values leave no residual to judge a line by: 0, 0, ranks 0. The
 * sums are centred (two passes) so that large N gives no cancellation. */
LSC_HD void lsc_alpha_req(const double *lam, int64_t m, double *alpha, double *r2, int64_t *ranks)
{
    int64_t r = 0;
    while (r < m && lam[r] > 0.0) r++;
    *alpha = 0.0;
    *r2 = 0.0;
    *ranks = 0;
    if (r < 3) return;
    double mx = 0.0, my = 0.0;
    for (int64_t i = 0; i < r; i++) {
        mx += log((double)(i + 1));
        my += log(lam[i]);
    }
    mx /= (double)r;
    my /= (double)r;
    double sxx = 0.0, sxy = 0.0, syy = 0.0;
    for (int64_t i = 0; i < r; i++) {
        double dx = log((double)(i + 1)) - mx, dy = log(lam[i]) - my;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    *alpha = -sxy / sxx;
    /* a flat spectrum (syy = 0) is fitted exactly by the line of slope 0 */
    *r2 = syy > 0.0 ? sxy * sxy / (sxx * syy) : 1.0;
    *ranks = r;
}

/* Inputs of lsc_spectrum_figures, in descending order after lsc_eigs_prepare:
 *   gram_c: eigenvalues of the centred Gram (Xc^T Xc or Xc Xc^T), i.e. sigma_i^2, n_ev values
 *   gram_u: eigenvalues of the uncentred Gram (X^T X or X X^T), i.e. s_i^2, n_ev values
 *   cos_nu: eigenvalues of K / N, K the cosine Gram, n_ev values (NULL if a zero row)
 *   colvar: D per-column sample variances (ddof 1)
 * n_ev >= m = min(N, D); only the m largest are used, the rest are 0 up to roundoff. */
LSC_HD void lsc_spectrum_figures(const double *gram_c, const double *gram_u, const double *cos_nu,
                                 int64_t n_ev, int64_t rows, int64_t cols, const double *colvar,
                                 double active_threshold, lsc_spectrum_result *out,
                                 double *singular_values)
{
    int64_t m = rows < cols ? rows : cols;
    if (m > n_ev) m = n_ev;
    double denom = (double)(rows - 1);
    double sum_sigma = 0.0, sum_lam = 0.0, sum_lam2 = 0.0;
    int64_t nonzero = 0;
    for (int64_t i = 0; i < m; i++) {
        double s2 = gram_c[i] > 0.0 ? gram_c[i] : 0.0;
        double sigma = sqrt(s2);
        double lam = s2 / denom;
        if (singular_values) singular_values[i] = sigma;
        sum_sigma += sigma;
        sum_lam += lam;
        sum_lam2 += lam * lam;
        if (s2 > 0.0) nonzero++;
    }
    out->rows = rows;
    out->cols = cols;
    out->rank_limit = m;
    out->numerical_rank = nonzero;
    out->total_variance = sum_lam;
    out->largest_singular_value = m > 0 && gram_c[0] > 0.0 ? sqrt(gram_c[0]) : 0.0;
    out->all_rows_identical = nonzero == 0;
    if (nonzero == 0) {
        /* every row the same: pinned to 0 (docs/METRICS.md section 1, degenerate sets) */
        out->effective_rank = 0.0;
        out->participation_ratio = 0.0;
        out->stable_rank = 0.0;
        out->dims_90 = 0;
        out->dims_99 = 0;
    } else {
        double h = 0.0;
        for (int64_t i = 0; i < m; i++) {
            double sigma = sqrt(gram_c[i] > 0.0 ? gram_c[i] : 0.0);
            if (sigma > 0.0) {
                double p = sigma / sum_sigma;
                h -= p * log(p);
            }
        }
        out->effective_rank = exp(h);
        out->participation_ratio = sum_lam * sum_lam / sum_lam2;
        out->stable_rank = sum_lam / (gram_c[0] / denom);
        double cum = 0.0;
        out->dims_90 = 0;
        out->dims_99 = 0;
        for (int64_t i = 0; i < m; i++) {
            cum += gram_c[i] / denom;
            if (out->dims_90 == 0 && cum >= 0.90 * sum_lam) out->dims_90 = i + 1;
            if (out->dims_99 == 0 && cum >= 0.99 * sum_lam) out->dims_99 = i + 1;
        }
        if (out->dims_90 == 0) out->dims_90 = nonzero; /* roundoff in the last partial sum */
        if (out->dims_99 == 0) out->dims_99 = nonzero;
    }

    /* RankMe: uncentred singular values, all m of them, each q_i offset by epsilon. */
    double sum_s = 0.0;
    for (int64_t i = 0; i < m; i++) sum_s += sqrt(gram_u[i] > 0.0 ? gram_u[i] : 0.0);
    if (!(sum_s > 0.0)) {
        out->rankme = 0.0; /* X all zeros, pinned */
    } else {
        double h = 0.0;
        for (int64_t i = 0; i < m; i++) {
            double q = sqrt(gram_u[i] > 0.0 ? gram_u[i] : 0.0) / sum_s + LSC_RANKME_EPS;
            h -= q * log(q);
        }
        out->rankme = exp(h);
    }

    /* Vendi score with the cosine kernel: exp of the entropy of the eigenvalues of K / N (order
     * 1), and its other orders over the same eigenvalues. */
    if (cos_nu) {
        out->vendi_cosine = lsc_vendi_order(cos_nu, m, 1.0);
        out->vendi_cosine_q0 = lsc_vendi_order(cos_nu, m, 0.0);
        out->vendi_cosine_q2 = lsc_vendi_order(cos_nu, m, 2.0);
        out->vendi_cosine_qinf = lsc_vendi_order(cos_nu, m, INFINITY);
        out->vendi_status = LSC_VENDI_OK;
    } else {
        out->vendi_cosine = 0.0;
        out->vendi_cosine_q0 = 0.0;
        out->vendi_cosine_q2 = 0.0;
        out->vendi_cosine_qinf = 0.0;
        out->vendi_status = LSC_VENDI_ZERO_ROW;
    }
    /* the decay of the covariance spectrum: sigma_i^2 / (N - 1) has gram_c's slope */
    lsc_alpha_req(gram_c, m, &out->alpha_req, &out->alpha_req_r2, &out->alpha_req_ranks);

    int64_t active = 0;
    for (int64_t c = 0; c < cols; c++)
        if (colvar[c] > active_threshold) active++;
    out->active_units = active;
    out->active_threshold = active_threshold;
}

#endif /* LSC_SPECTRUM_FIGURES_H */
