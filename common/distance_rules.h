/* The distance rules of docs/METRICS.md section 2, written once for every backend.
 *
 * Internally every distance is held as a "squared chord" value v:
 *   euclidean / sqeuclidean: v = ||x - y||^2
 *   cosine:                  v = ||x/|x| - y/|y|||^2   (= 2 x cosine distance)
 * v is monotone in the reported distance, so every comparison (kNN order, PRDC balls,
 * near-duplicates, histogram bins) is made on v and converted only when reported. */
#ifndef LSC_DISTANCE_RULES_H
#define LSC_DISTANCE_RULES_H

#include "lsc_common.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

enum { LSC_M_EUCLIDEAN = 0, LSC_M_SQEUCLIDEAN = 1, LSC_M_COSINE = 2 };

/* Reported distance from an internal value (v >= 0). */
LSC_HD double lsc_dist_from_v(int metric, double v)
{
    if (metric == LSC_M_COSINE) return 0.5 * v;
    if (metric == LSC_M_SQEUCLIDEAN) return v;
    return sqrt(v);
}

/* Internal value of a reported distance d >= 0 (the inverse of lsc_dist_from_v). */
LSC_HD double lsc_v_from_dist(int metric, double d)
{
    if (metric == LSC_M_COSINE) return 2.0 * d;
    if (metric == LSC_M_SQEUCLIDEAN) return d;
    return d * d;
}

/* Bound on |v_fast - v_exact| for the fast form v_fast = |a|^2 + |b|^2 - 2 a.b, where a and b
 * are the float32 rows after centring (or normalising) rounded once, |a|^2 and |b|^2 are summed
 * in float64 and a.b comes from a float32 GEMM of depth `dim`:
 *   the GEMM's dot product errs by at most gamma_dim |a||b| <= dim u (|a|^2 + |b|^2) / 2,
 *   the rounding of the centred rows by at most 4 u (|a|^2 + |b|^2),   u = 2^-24.
 * We take twice their sum, (dim + 8) 2^-23 (|a|^2 + |b|^2): a worst case over any summation
 * order, so a candidate outside this band can never change a decision. The absolute term
 * covers underflow, which no relative bound does: each of the GEMM's 2 dim operations can lose
 * up to 2^-126 where a result is flushed to zero (or less, gradually underflowing), so rows of
 * values near 1e-20 get every pair recomputed instead of wrong decisions. */
LSC_HD double lsc_fast_rel(int64_t dim) { return ((double)dim + 8.0) * 0x1p-23; }

LSC_HD double lsc_fast_abs(int64_t dim) { return ((double)dim + 8.0) * 0x1p-120; }

/* Pairs whose squared norms sum to 2^124 or more (values from about 1e18) have no fast form:
 * below it every product a_t b_t and every partial sum of a.b is at most (|a|^2 + |b|^2) / 2
 * < 2^123 in magnitude, so the float32 GEMM stays finite; above it the product may be Inf or
 * NaN (1e19 gave wrong neighbours). Such a pair gets the fast value 0 (lsc_fast_v) and an
 * infinite band (lsc_fast_err), so every decision on it is made on its exact value. The CPU
 * backend applies the same limit per tile (host/cpu/tiles.c). */
#define LSC_FAST_NORM_LIMIT 0x1p124

LSC_HD int lsc_fast_ok(double sqa, double sqb) { return sqa + sqb < LSC_FAST_NORM_LIMIT; }

/* The fast value |a|^2 + |b|^2 - 2 c of a pair whose product is c. */
LSC_HD double lsc_fast_v(float c, double sqa, double sqb)
{
    return lsc_fast_ok(sqa, sqb) ? sqa + sqb - 2.0 * (double)c : 0.0;
}

LSC_HD double lsc_fast_err(int64_t dim, double sqa, double sqb)
{
    if (!lsc_fast_ok(sqa, sqb)) return INFINITY;
    return lsc_fast_rel(dim) * (sqa + sqb) + lsc_fast_abs(dim);
}

/* Bulk figures (means, distance blocks) use the fast value unless it is within this many error
 * bounds of zero: there its square root could be off by more than the docs/METRICS.md block
 * tolerance, so the pair is recomputed exactly. A self-distance is then exactly 0. */
#define LSC_BULK_BAND 1024.0

LSC_HD int lsc_bulk_needs_exact(double v_fast, double err)
{
    return !(v_fast > LSC_BULK_BAND * err); /* a NaN fast value (an overflowed product) too */
}

/* Outcome of "v < r" (strict) or "v <= r" (inclusive) known from the fast value alone:
 * 1 true, 0 false, -1 undecided (recompute v exactly and compare). */
LSC_HD int lsc_decide_less(double v_fast, double err, double r, int inclusive)
{
    if (inclusive) {
        if (v_fast + err <= r) return 1;
        if (v_fast - err > r) return 0;
    } else {
        if (v_fast + err < r) return 1;
        if (v_fast - err >= r) return 0;
    }
    return -1;
}

/* Histogram bin of a reported distance d >= 0 over [0, upper] in `bins` equal bins
 * (docs/METRICS.md section 3): bin j holds upper j / bins <= d < upper (j + 1) / bins, the last
 * also holds d = upper; with upper = 0 every pair is in bin 0. Values above upper (impossible
 * but for roundoff) go last. Computed as floor(d bins / upper) with bins / upper precomputed
 * (lsc_hist_scale), clamped to the bins. As a double, without branches, so that loops over it vectorise; it is
 * monotone in d, which the CPU backend relies on (a fast value's band whose ends share a bin
 * holds the exact value's bin too). */
LSC_HD double lsc_hist_scale(double upper, int64_t bins)
{
    return upper > 0.0 ? (double)bins / upper : 0.0;
}

/* scale = lsc_hist_scale(upper, bins), hoisted out of loops (no division per pair). */
LSC_HD double lsc_hist_pos(double d, double scale, int64_t bins)
{
    double t = d * scale;
    t = t > 0.0 ? t : 0.0;
    t = t < (double)(bins - 1) ? t : (double)(bins - 1);
    /* floor by truncation: t lies in [0, bins - 1] and bins <= 2^24 (the API's limit), so the
     * int32 conversion is exact and equals floor(t); GCC does not vectorise floor() itself
     * without -fno-trapping-math, and this kept the pair statistics' per-pair loop scalar */
    return (double)(int32_t)t;
}

LSC_HD int64_t lsc_hist_bin(double d, double scale, int64_t bins)
{
    return (int64_t)lsc_hist_pos(d, scale, bins);
}

/* The bin of an internal value v (any double; NaN and negative values go to bin 0). */
LSC_HD int64_t lsc_hist_bin_v(int metric, double v, double scale, int64_t bins)
{
    return lsc_hist_bin(lsc_dist_from_v(metric, v), scale, bins);
}

/* The smallest v >= 0 whose bin is b or more (1 <= b < bins); +Inf when there is none (scale 0:
 * every pair in bin 0). The bin is monotone in v, so a band [lo, hi] with 0 <= lo <= v <= hi
 * lies in v's bin b exactly when edge(b) <= lo and hi < edge(b + 1) (edge(0) = 0, edge(bins) =
 * +Inf): one bin and two comparisons a pair instead of a bin (a square root, for euclidean) at
 * each end of its band. Found to the bit by galloping from the guess v_from_dist(b / scale) over
 * the bit patterns of non-negative doubles (ordered as their values), then bisecting. */
LSC_HD double lsc_hist_edge_v(int metric, double scale, int64_t bins, int64_t b)
{
    if (!(scale > 0.0)) return INFINITY;
    /* invariant: bin(lo) < b <= bin(hi); bin(+0) = 0 and bin(+Inf) = bins - 1 */
    uint64_t lo = 0, hi = 0x7ff0000000000000ull, u;
    double v;
    const double g = lsc_v_from_dist(metric, (double)b / scale);
    if (g > 0.0 && g < INFINITY) {
        memcpy(&u, &g, sizeof u);
        if (lsc_hist_bin_v(metric, g, scale, bins) >= b) {
            hi = u;
            for (uint64_t st = 1; st < u - lo; st *= 2) {
                const uint64_t c = u - st;
                memcpy(&v, &c, sizeof v);
                if (lsc_hist_bin_v(metric, v, scale, bins) >= b) {
                    hi = c;
                } else {
                    lo = c;
                    break;
                }
            }
        } else {
            lo = u;
            for (uint64_t st = 1; st < hi - u; st *= 2) {
                const uint64_t c = u + st;
                memcpy(&v, &c, sizeof v);
                if (lsc_hist_bin_v(metric, v, scale, bins) >= b) {
                    hi = c;
                    break;
                }
                lo = c;
            }
        }
    }
    while (hi - lo > 1) {
        const uint64_t mid = lo + (hi - lo) / 2;
        memcpy(&v, &mid, sizeof v);
        if (lsc_hist_bin_v(metric, v, scale, bins) >= b) hi = mid;
        else lo = mid;
    }
    memcpy(&v, &hi, sizeof v);
    return v;
}

/* The bins + 1 edges of the histogram in internal values: e[0] = 0, e[b] = lsc_hist_edge_v,
 * e[bins] = +Inf, the table both backends test a band against. */
LSC_HD void lsc_hist_edges_v(int metric, double scale, int64_t bins, double *e)
{
    e[0] = 0.0;
    e[bins] = INFINITY;
    for (int64_t b = 1; b < bins; b++) e[b] = lsc_hist_edge_v(metric, scale, bins, b);
}

/* Exact value between two float32 rows, accumulated in float64 in a fixed order: element t goes
 * to partial sum t mod 8, in index order, and the eight are added pairwise at the end. The order
 * depends on `dim` only, so every backend gets the same bits (with no fused multiply-add); eight
 * independent sums vectorise on the CPU and hide the add latency on both (one running sum made
 * this loop a tenth of the CPU kNN at D = 512). For cosine pass the rows' inverse norms
 * (float64); for euclidean pass 1 and 1. */
#define LSC_EXACT_LANES 8

/* The eight partial sums of a fixed-order float64 sum (element t in sum t mod 8), added pairwise:
 * the one combining order lsc_exact_v and the CPU's squared row norms use. */
LSC_HD double lsc_lanes8_total(const double *s)
{
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

LSC_HD double lsc_exact_v(const float *a, const float *b, int64_t dim, double inv_na, double inv_nb)
{
    double s[LSC_EXACT_LANES] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int64_t t = 0;
    for (; t + LSC_EXACT_LANES <= dim; t += LSC_EXACT_LANES)
        for (int l = 0; l < LSC_EXACT_LANES; l++) {
            const double diff = (double)a[t + l] * inv_na - (double)b[t + l] * inv_nb;
            s[l] += diff * diff;
        }
    for (int l = 0; t + l < dim; l++) {
        const double diff = (double)a[t + l] * inv_na - (double)b[t + l] * inv_nb;
        s[l] += diff * diff;
    }
    return lsc_lanes8_total(s);
}

/* Tie-broken order of kNN candidates: smaller value first, then the smaller index. */
LSC_HD int lsc_knn_before(double va, int64_t ia, double vb, int64_t ib)
{
    return va < vb || (va == vb && ia < ib);
}

/* Tile plan: the largest query x base tile under `budget` bytes, given the bytes each query
 * row and each base row of the tile needs and the bytes of one tile entry. Starts from
 * (max_q, max_b) and halves the larger side. Returns 0 if not even 1 x 1 fits. */
LSC_HD int lsc_plan_tiles(size_t budget, size_t per_q_row, size_t per_b_row, size_t per_entry,
                          int64_t max_q, int64_t max_b, int64_t *tq, int64_t *tb)
{
    int64_t q = max_q < 1 ? 1 : max_q, b = max_b < 1 ? 1 : max_b;
    for (;;) {
        double need = (double)q * (double)per_q_row + (double)b * (double)per_b_row +
                      (double)q * (double)b * (double)per_entry;
        if (need <= (double)budget) {
            *tq = q;
            *tb = b;
            return 1;
        }
        if (q == 1 && b == 1) return 0;
        /* ceil(x / 2) without forming x + 1, which overflows for x = INT64_MAX */
        if (b >= q && b > 1) b = b / 2 + (b & 1);
        else q = q / 2 + (q & 1);
    }
}

/* Row plan of a pass that streams rows (or columns) into an accumulator without a product tile
 * (the spectrum's Grams): the most rows, up to max_rows, whose per_row bytes each fit `budget`.
 * 0 when not even one fits. */
LSC_HD int64_t lsc_plan_rows(size_t budget, size_t per_row, int64_t max_rows)
{
    const int64_t r = (int64_t)(budget / per_row);
    return r < max_rows ? r : max_rows;
}

#endif /* LSC_DISTANCE_RULES_H */
