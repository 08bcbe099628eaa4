/* Uniformity and alignment (Wang & Isola 2020, "Understanding contrastive representation
 * learning through alignment and uniformity on the hypersphere", ICML), docs/METRICS.md
 * section 9: the per-row values, the squared distance between normalised rows and the pair
 * term, written once for the host, the CPU backend and the CUDA backend's kernels. */
#ifndef LSC_GEOMETRY_RULES_H
#define LSC_GEOMETRY_RULES_H

#include "lsc_common.h"
#include <math.h>

/* t of the uniformity, exp(-t ||u_i - u_j||^2): the paper's default, t = 2. */
#define LSC_UNIFORMITY_T 2.0

/* Per-row values that turn the pair pass's product of (centred) rows into the squared distance
 * between the normalised rows, with no second product: x_i.x_j = c_ij + p_i + p_j, where
 * c_ij = (x_i - m).(x_j - m) is the pass's product, m its centre and p_i = m.(x_i - m / 2)
 * (half of |m|^2 goes to each row). s_i = 1 / ||x_i|| and e_i = 1; a zero row has s_i = 0 and
 * e_i = 0: it stays the zero vector, as the authors' code (torch's F.normalize) leaves it, at
 * squared distance 1 from every unit row and 0 from another zero row. raw: the float32 row
 * (d values); centre: d values, or NULL when the pass works on rows already normalised (cosine:
 * p = 0, s = e = 1). */
typedef struct lsc_unif_row {
    double p, s, e;
} lsc_unif_row;

/* 1 / ||x|| from q = ||x||^2, 0 for a zero row (which stays the zero vector). */
LSC_HD double lsc_unif_scale(double q) { return q > 0.0 ? 1.0 / sqrt(q) : 0.0; }

LSC_HD lsc_unif_row lsc_unif_row_of(const float *raw, int64_t d, const double *centre)
{
    lsc_unif_row r;
    if (!centre) {
        r.p = 0.0;
        r.s = 1.0;
        r.e = 1.0;
        return r;
    }
    double q = 0.0, p = 0.0;
    for (int64_t k = 0; k < d; k++) {
        const double v = (double)raw[k];
        q += v * v;
        p += centre[k] * (v - 0.5 * centre[k]);
    }
    r.p = p;
    r.s = lsc_unif_scale(q);
    r.e = q > 0.0 ? 1.0 : 0.0;
    return r;
}

/* ||u_i - u_j||^2 before its clamp: e_i + e_j - 2 s_i s_j x_i.x_j from the pass's product c
 * (float64); round-off may take it below 0. */
LSC_HD double lsc_unif_v(double c, lsc_unif_row a, lsc_unif_row b)
{
    return a.e + b.e - 2.0 * a.s * b.s * (c + a.p + b.p);
}

/* ||u_i - u_j||^2 from the pass's product: lsc_unif_v clamped at 0. max(v, 0) is written
 * (v + |v|) / 2, exact: a conditional let GCC thread the v = 0 path through the exp, and the row
 * loop stopped vectorising. Round-off above 4 needs no clamp (lsc_exp_minus holds far above 8). */
LSC_HD double lsc_unif_d2(double c, lsc_unif_row a, lsc_unif_row b)
{
    const double v = lsc_unif_v(c, a, b);
    return 0.5 * (v + fabs(v));
}

/* A pair whose d2 from the product may be off by more than this is recomputed exactly
 * (lsc_unif_exact_d2): rows of extreme magnitude (subnormal or overflowing products, where the
 * pass has no fast form), rows of tiny norm far from the centre, or very wide rows. */
#define LSC_UNIF_EXACT_BAND 0x1p-10

/* Whether the pair needs its exact d2: err bounds |v_fast - v| of the pass's fast value
 * v = |a|^2 + |b|^2 - 2 c (twice the product's error), so d2 is within s_a s_b err. NaN (an
 * infinite band on a zero row) counts as needing it. */
LSC_HD int lsc_unif_needs_exact(double err, lsc_unif_row a, lsc_unif_row b)
{
    return !(a.s * b.s * err <= LSC_UNIF_EXACT_BAND);
}

/* Whether any pair of row a with a tile's base rows may need its exact d2, for a product whose
 * error bound is E (|a|^2 + |b_j|^2) + eabs (the CPU's tiles): lsc_unif_needs_exact of every
 * pair is at most s_a (smax (E qsq + eabs) + E sbmax), smax the base rows' largest s_j and sbmax
 * their largest s_j |b_j|^2. Not smax times the largest |b_j|^2: rows near the origin have the
 * largest s and the smallest norms, so that product of two rows' extremes flagged about a
 * quarter of the rows of Gaussian data at D = 2 (when the tiles ran it), where no pair needs its
 * exact d2. The factor
 * 1 + 2^-40 covers this order's roundings against the pair's own (a few 2^-53 each). Host
 * only. */
static inline int lsc_unif_row_needs_exact(double E, double eabs, double qsq, lsc_unif_row a,
                                           double smax, double sbmax)
{
    const double bound = a.s * (smax * (E * qsq + eabs) + E * sbmax) * (1.0 + 0x1p-40);
    return !(bound <= LSC_UNIF_EXACT_BAND);
}

/* The exact d2 of a pair from its float32 rows and their scales (1 / norm, 0 for a zero row),
 * summed in float64. */
LSC_HD double lsc_unif_exact_d2(const float *a, const float *b, int64_t d, double sa, double sb)
{
    double s = 0.0;
    for (int64_t k = 0; k < d; k++) {
        const double t = (double)a[k] * sa - (double)b[k] * sb;
        s += t * t;
    }
    return s;
}

/* exp(-y) for y in [0, 8] (t d2 with d2 in [0, 4]) without a branch or a call, so a loop over a
 * row vectorises (glibc's exp only vectorises under -ffast-math): -y = k ln 2 + r with
 * |r| <= ln 2 / 2, exp(r) by 1 + r q(r), q of degree 6 interpolating (exp(r) - 1) / r at the 7
 * Chebyshev nodes of that interval (near-minimax), 2^k from the exponent bits. Degree 6, not
 * more: within 1.11e-10 relative of exp over the range and up to y = 700 (k >= -1022), and within
 * 3.2e-10 y for y below ln 2 / 2 (the error is r times q's), so it stays far below the
 * uniformity's pinned bound also where that bound shrinks with the rows' distance from the
 * centre (tests/test_geometry.cpp); each further degree would cost a multiply-add a pair for
 * accuracy no figure keeps. One constant for ln 2 (no hi/lo split): |k| <= 12 here, so its
 * rounding moves r by 7e-16 at most. The constant term 1 keeps exp(0) = 1 exactly. The argument
 * comes negated, so a caller holding y spends no operation on the sign (the multiply-adds below
 * take it). */
LSC_HD double lsc_exp_minus(double y)
{
    /* adding it rounds -y / ln 2 to an integer k and puts k + 1023 (the biased exponent of 2^k,
     * in [1, 1023]) in the low bits */
    const double shift = 0x1.8p52 + 1023.0;
    const double kd = y * -1.4426950408889634 + shift;
    uint64_t kbits;
    memcpy(&kbits, &kd, sizeof kbits);
    const double k = kd - shift;
    const double r = -y - k * 0x1.62e42fefa39efp-1;
    double p = 0x1.a15169e096556p-13;
    p = p * r + 0x1.6d7531eae5468p-10;
    p = p * r + 0x1.1110c63a4eed0p-7;
    p = p * r + 0x1.5554ace120b86p-5;
    p = p * r + 0x1.5555556750672p-3;
    p = p * r + 0x1.00000028794dfp-1;
    p = p * r + 0x1.0000000000000p+0;
    p = p * r + 1.0;
    /* the low 12 bits of kbits are k + 1023 (the bits above them are 2^51 + 2^52's, which the
     * shift drops): one logical shift makes 2^k */
    const uint64_t sbits = kbits << 52;
    double scale;
    memcpy(&scale, &sbits, sizeof scale);
    return p * scale;
}

/* exp(x) for x in [-8, 0]: lsc_exp_minus(-x), to the bit (a negation is exact). */
LSC_HD double lsc_exp_neg8(double x) { return lsc_exp_minus(-x); }

/* A second exp(-y), for the CPU's AVX-512 row loop (host/cpu/unif_avx512.c runs it eight lanes
 * at a time, operation for operation): -y = (k / 16) ln 2 + r with k an integer and
 * |r| <= ln 2 / 32, exp(-y) = 2^floor(k / 16) 2^(j / 16) exp(r) with j = k mod 16, 2^(j / 16)
 * from a table of 16 (two vector registers, looked up with one permute, no gather), exp(r) as
 * 1 + r q(r) with q of degree 3 interpolating (exp(r) - 1) / r at the 4 Chebyshev nodes of
 * that interval, and 2^floor(k / 16) applied by VSCALEFPD (ldexp here). The narrower interval
 * lets q drop from degree 6 to 3: within 5.1e-12 relative of exp for y in [0, 700], and within
 * 2.4e-10 y + 2^-53 for every y (the error is r times q's while k = 0, then 5.1e-12 <= 2.4e-10 y;
 * 2^-53 the rounding of a result near 1), both below lsc_exp_minus's
 * (tests/test_unif_avx512.cpp). The rounding shift 1.5 2^48 rounds -y / ln 2 to a multiple of
 * 1/16 and leaves k in the low bits, j in the low four. One constant
 * for ln 2: |k / 16| <= 12 for y <= 8, so its rounding moves r by 3e-16 at most. Host only (the
 * CUDA kernels keep lsc_exp_minus: no table there). */
#define LSC_EXP16_SHIFT 0x1.8p48
#define LSC_EXP16_MLOG2E -0x1.71547652b82fep+0 /* -1 / ln 2 */
#define LSC_EXP16_LN2 0x1.62e42fefa39efp-1
#define LSC_EXP16_Q0 0x1.fffffffe07b9bp-1
#define LSC_EXP16_Q1 0x1.ffffffff57e8bp-2
#define LSC_EXP16_Q2 0x1.5557621f50aa9p-3
#define LSC_EXP16_Q3 0x1.5556b3311a311p-5
/* 2^(j / 16), j = 0..15, each correctly rounded */
/* clang-format off */
#define LSC_EXP16_TABLE                                                                            \
    {0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,       \
     0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,       \
     0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,       \
     0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0}
/* clang-format on */

/* The table-driven exp(-y) above as its two factors: *p = 1 + r q(r) and *ts = 2^floor(k / 16)
 * 2^(j / 16) (exact), exp(-y) = *p *ts. What each lane of the AVX-512 loop computes, to the bit
 * (fma as its fused multiply-adds, ldexp as VSCALEFPD on a normal result); the loop adds a term
 * to its sum as fma(p, ts, sum), one rounding fewer. */
static inline void lsc_exp16_parts(double y, double *p, double *ts)
{
    static const double tab[16] = LSC_EXP16_TABLE;
    const double kd = fma(y, LSC_EXP16_MLOG2E, LSC_EXP16_SHIFT);
    const double k = kd - LSC_EXP16_SHIFT;
    const double r = fma(-k, LSC_EXP16_LN2, -y);
    uint64_t bits;
    memcpy(&bits, &kd, sizeof bits);
    double q = fma(LSC_EXP16_Q3, r, LSC_EXP16_Q2);
    q = fma(q, r, LSC_EXP16_Q1);
    q = fma(q, r, LSC_EXP16_Q0);
    *p = fma(q, r, 1.0);
    *ts = ldexp(tab[bits & 15u], (int)floor(k));
}

/* The table-driven exp(-y), one value: the product of its factors (a scaling by a power of 2 is
 * exact, so this is also (p 2^(j / 16)) 2^floor(k / 16)). */
static inline double lsc_exp_minus16(double y)
{
    double p, ts;
    lsc_exp16_parts(y, &p, &ts);
    return p * ts;
}

/* A float32 form of the pair term for the CPU's AVX-512 loop (host/cpu/unif_avx512.c, sixteen
 * lanes where the float64 loop has eight): the exponent and its exp in float32, the terms summed
 * in float64. Admitted row by row only where its rounding, bounded below (lsc_unif_f32_err), is
 * within what the pair's own distance bound moves a term (lsc_unif_f32_fits), so the figure's
 * pinned tolerance holds; elsewhere the float64 loop runs. Host only.
 *
 * exp(x) for x in [-80, 8]: x = (k / 16) ln 2 + r, |r| <= ln 2 / 32, exp(x) = 2^floor(k / 16)
 * 2^(j / 16) exp(r), j = k mod 16 from the low four bits of the rounding shift's sum (1.5 2^19
 * rounds x / ln 2 to a multiple of 1/16), 2^(j / 16) from a table of 16 floats (one register,
 * one VPERMPS), exp(r) as 1 + r (1 + r (1/2 + r / 6)) (the Taylor terms: the next is below
 * r^4 / 24 <= 0.16 2^-24), ln 2 in two parts (one float32 constant would move r by up to
 * 4.5 2^-24 at |k / 16| = 13, x near -9), 2^floor(k / 16) by VSCALEFPS. Within LSC_EXP16F_ERR
 * relative of exp for x in [-80, 8] (tests/test_unif_avx512.cpp): the truncation, the
 * roundings of q, p, the table and the product. */
#define LSC_EXP16F_SHIFT 0x1.8p19f
#define LSC_EXP16F_LOG2E 0x1.715476p+0f
#define LSC_EXP16F_LN2_HI 0x1.62e43p-1f
#define LSC_EXP16F_LN2_LO -0x1.05c61p-29f
#define LSC_EXP16F_Q2 0x1.555556p-3f /* 1/6 */
#define LSC_EXP16F_ERR (3.5 * 0x1p-24)
/* 2^(j / 16), j = 0..15, each correctly rounded to float32 */
/* clang-format off */
#define LSC_EXP16F_TABLE                                                                           \
    {0x1.000000p+0f, 0x1.0b5586p+0f, 0x1.172b84p+0f, 0x1.2387a6p+0f, 0x1.306fe0p+0f,              \
     0x1.3dea64p+0f, 0x1.4bfdaep+0f, 0x1.5ab07ep+0f, 0x1.6a09e6p+0f, 0x1.7a1148p+0f,              \
     0x1.8ace54p+0f, 0x1.9c4918p+0f, 0x1.ae89fap+0f, 0x1.c199bep+0f, 0x1.d5818ep+0f,              \
     0x1.ea4afap+0f}
/* clang-format on */

/* The float32 exp(x) above as its two factors, *p = 1 + r q(r) and *ts = 2^floor(k / 16)
 * 2^(j / 16) (exact), exp(x) = *p *ts: what each lane of the loop computes, to the bit (fmaf as
 * its fused multiply-adds, ldexpf as VSCALEFPS on a normal result). */
static inline void lsc_exp16f_parts(float x, float *p, float *ts)
{
    static const float tab[16] = LSC_EXP16F_TABLE;
    const float kd = fmaf(x, LSC_EXP16F_LOG2E, LSC_EXP16F_SHIFT);
    const float k = kd - LSC_EXP16F_SHIFT;
    float r = fmaf(-k, LSC_EXP16F_LN2_HI, x);
    r = fmaf(-k, LSC_EXP16F_LN2_LO, r);
    uint32_t bits;
    memcpy(&bits, &kd, sizeof bits);
    float q = fmaf(LSC_EXP16F_Q2, r, 0.5f);
    q = fmaf(q, r, 1.0f);
    *p = fmaf(q, r, 1.0f);
    *ts = ldexpf(tab[bits & 15u], (int)floorf(k));
}

/* The float32 pair exponent of the loop, shifted so that its last rounding is of a number of the
 * size of 4 cos (at most 4) rather than of t d2 (up to 8); its parts s_i s_j (c + p_j) and
 * s_i s_j p_i may be larger for rows off the centre, which lsc_unif_f32_err counts. With
 * e_j = 1 (base rows that are not zero rows), -t d2 = z - 2 (e_i + 1) for z = 4 s_i s_j
 * (c + p_i + p_j) (t = 2), so the term is exp(-2 (e_i + 1)) exp(z), the first factor one
 * float64 constant of the row (scale). The loop takes z = min(A (S_j c + P_j) + B S_j,
 * 2 (e_i + 1)) from the pass's product c, A = 4 s_i and B = 4 s_i p_i of the query row,
 * S_j = s_j and P_j = s_j p_j of the base row, each rounded to float32 once
 * (lsc_unif_f32_row, the base rows' by the caller); the clamp is lsc_unif_v's at v = 0 and
 * keeps a NaN, as the float64 clamp does. Computing -t d2 itself in float32 would
 * round it and B S_j - 2 (e_i + 1), numbers up to 8 and near 4: about 8 2^-24 more error. */
typedef struct lsc_unif_f32 {
    float a, b, c; /* A, B and the clamp 2 (e_i + 1) */
    double scale;  /* exp(-2 (e_i + 1)), e_i 1 or 0 */
    float alo;     /* 4 s_i - A, for the wide form below */
} lsc_unif_f32;

#define LSC_EXP_M4 0x1.2c155b8213cf4p-6 /* exp(-4), correctly rounded */
#define LSC_EXP_M2 0x1.152aaa3bf81ccp-3 /* exp(-2), correctly rounded */

static inline lsc_unif_f32 lsc_unif_f32_row(lsc_unif_row r)
{
    lsc_unif_f32 f;
    f.a = (float)(4.0 * r.s);
    f.b = (float)(4.0 * r.s * r.p);
    f.c = (float)(2.0 * (r.e + 1.0));
    f.scale = r.e > 0.0 ? LSC_EXP_M4 : LSC_EXP_M2;
    f.alo = (float)(4.0 * r.s - (double)f.a);
    return f;
}

static inline float lsc_unif_f32_z(float c, lsc_unif_f32 f, float sj, float pj)
{
    const float z = fmaf(f.a, fmaf(sj, c, pj), f.b * sj);
    return z > f.c ? f.c : z;
}

/* Bound on how far the float32 path moves a pair's term, relative to itself, from the float64
 * term of the same product: z's roundings, in 2^-24 = u each relative to the part rounded and
 * counted in z (which is 4 times those parts): 16 u on s_i s_j (|c| + |p_j|) (A, S_j or P_j,
 * S_j c + P_j and z itself rounded once each) and 16 u on s_i s_j |p_i| (B, S_j, B S_j and
 * z), then the exp's LSC_EXP16F_ERR, the float32 sum of four terms (2 u) and the scale (a
 * float64 rounding, within the 1.001). rr bounds s_i s_j |c| less 2^-11: r_i r_j for pair j
 * (r = ||x - m|| s; Cauchy-Schwarz, plus half the product's band, which is below 2^-10 on a
 * row the float64 test clears); smax the largest s_j and spmax the largest s_j |p_j| of the
 * tile's base rows. */
static inline double lsc_unif_f32_err(lsc_unif_row ri, double rr, double smax, double spmax)
{
    const double u = 0x1p-24;
    const double m = rr + 0x1p-11 + ri.s * spmax, q = ri.s * smax * fabs(ri.p);
    return 1.001 * u * (16.0 * m + 16.0 * q) + LSC_EXP16F_ERR + 2.01 * u;
}

/* Whether a row's float32 bound fits its budget, given the bound at the pairs of the tile's
 * smallest and largest r (err_min, err_max): for each pair, at most what the pass's own product
 * may move its term, 2 delta_ij with delta_ij = 2 (D + 2) 2^-24 r_i r_j (docs/METRICS.md section
 * 9): the path's arithmetic gets the same budget as the float32 product it starts from, so a
 * term moves by at most 4 delta_ij of itself in all, the tolerance. Both sides are linear in r_j
 * (the bounds through s_i s_j |c| <= r_i r_j + 2^-11), so those two pairs decide for all of the
 * tile's base rows (where the budget's slope 4 (D + 2) u r_i exceeds the bound's, the smallest
 * r alone; both are checked, so that no slope argument is needed). Rows near the centre (small
 * r, where the budget shrinks and the exp's and the sum's roundings do not) keep the float64
 * path. lsc_unif_f32_fits: whether row i may take the float32 path (from D = 4 on rows of
 * r = 1). */
static inline int lsc_unif_budget_fits(double err_min, double err_max, double r_i, double rmin,
                                       double rmax, int64_t d)
{
    const double k = 4.0 * ((double)d + 2.0) * 0x1p-24 * r_i; /* 2 delta_ij / r_j */
    return err_min <= k * rmin && err_max <= k * rmax;
}

static inline int lsc_unif_f32_fits(lsc_unif_row ri, double r_i, double rmin, double rmax,
                                    double smax, double spmax, int64_t d)
{
    return lsc_unif_budget_fits(lsc_unif_f32_err(ri, r_i * rmin, smax, spmax),
                                lsc_unif_f32_err(ri, r_i * rmax, smax, spmax), r_i, rmin, rmax, d);
}

/* The wide float32 form, for the rows the form above turns away where the float64 loop's cost
 * would show most (D <= 3, rows off the centre at small D): A and S_j each as two floats, hi +
 * lo (within u^2 of the float64 value, so their rounding adds nothing), and the terms p ts
 * summed two at a time in float32 (one rounding, u of the two), then in float64: the bound
 * falls from 16 u to 8 u on s_i s_j |c|, for 18.5 vector operations per 16 pairs where the
 * form above takes 15.5 and the float64 loop 30 (19.5 where host/cpu/pairs.c leaves a tile's
 * outliers out by a mask). z = min(A_hi t + (A_lo t + B S_hi), 2 (e_i + 1)) with
 * t = S_hi c + (S_lo c + P_j); A_hi = A, A_lo = alo, S_hi = S_j of the form above. */
static inline float lsc_unif_f32w_z(float c, lsc_unif_f32 f, float shi, float slo, float pj)
{
    const float t = fmaf(shi, c, fmaf(slo, c, pj));
    const float z = fmaf(f.a, t, fmaf(f.alo, t, f.b * shi));
    return z > f.c ? f.c : z;
}

/* Bound on how far the wide form moves a pair's term, relative to itself, from the float64
 * term of the same product, counted as lsc_unif_f32_err counts: 8 u on s_i s_j |c| (t and z
 * rounded), 16 u on s_i s_j |p_j| (P_j, S_lo c + P_j, t and z), 20 u on s_i s_j |p_i| (B, S_hi,
 * B S_hi, A_lo t + B S_hi and z); the lo parts' own roundings and A_lo t's size are below
 * u^2, within the 1.001; then the exp's LSC_EXP16F_ERR, u for the float32 sum of two terms
 * and 0.01 u for the float64 sum and the scale. */
static inline double lsc_unif_f32w_err(lsc_unif_row ri, double rr, double smax, double spmax)
{
    const double u = 0x1p-24;
    const double q = ri.s * smax * fabs(ri.p);
    return 1.001 * u * (8.0 * (rr + 0x1p-11) + 16.0 * ri.s * spmax + 20.0 * q) + LSC_EXP16F_ERR +
           1.01 * u;
}

/* Whether row i may take the wide form: lsc_unif_f32_fits's test with its bound. Rows of
 * r = 1 fit from D = 2 (12.5 u against 2 delta = 16 u; at D = 1, 12 u), though the pass now
 * takes D <= 2 from the rows' signs and harmonics: in the pass, from D = 3. */
static inline int lsc_unif_f32w_fits(lsc_unif_row ri, double r_i, double rmin, double rmax,
                                     double smax, double spmax, int64_t d)
{
    return lsc_unif_budget_fits(lsc_unif_f32w_err(ri, r_i * rmin, smax, spmax),
                                lsc_unif_f32w_err(ri, r_i * rmax, smax, spmax), r_i, rmin, rmax, d);
}

/* The uniformity's pair term exp(-t d2). */
LSC_HD double lsc_unif_term(double d2) { return lsc_exp_minus(LSC_UNIFORMITY_T * d2); }

/* The pair term straight from the product, lsc_unif_term(lsc_unif_d2(c, a, b)) to the bit:
 * t d2 = (t / 2)(v + |v|), the halving and the doubling exact, so with t = 2 the clamp, the
 * scaling and the sign are two operations in a vector loop instead of five. */
LSC_HD double lsc_unif_term_of(double c, lsc_unif_row a, lsc_unif_row b)
{
    const double v = lsc_unif_v(c, a, b);
    return lsc_exp_minus(0.5 * LSC_UNIFORMITY_T * (v + fabs(v)));
}

/* At D = 1 a normalised row is +1, -1 or (a zero row) 0, so a pair's d2 is 0 (same sign, or
 * two zero rows), 4 (opposite signs) or 1 (a zero row and another): the sum of the pair terms
 * follows from how many rows of each kind there are, exactly, in O(N) (the CPU takes it so at
 * D = 1, where no float32 form fits the budget). a, b: counts of positive, negative and zero
 * rows of two sets; lsc_unif_sign_sum gives the sum over the pairs across them,
 * lsc_unif_sign_sum1 over the pairs i < j within one. Host only. */
#define LSC_EXP_M8 0x1.5fc21041027adp-12 /* exp(-8), correctly rounded */

/* The terms of the pairs across two sets that hold a zero row, za and zb zero rows beside ua and
 * ub unit rows: d2 1 (e^-2) with a unit row, 0 (1) with another zero row. */
static inline double lsc_unif_zero_pairs(double za, double ua, double zb, double ub)
{
    return (za * ub + zb * ua) * LSC_EXP_M2 + za * zb;
}

/* The sum over the pairs i < j within one set of n rows from the sum across the set and itself,
 * which counts each pair twice and each row once with itself (d2 0, a term of 1). */
static inline double lsc_unif_within(double across_itself, double n)
{
    return 0.5 * (across_itself - n);
}

static inline double lsc_unif_sign_sum(const double a[3], const double b[3])
{
    return (a[0] * b[0] + a[1] * b[1]) + (a[0] * b[1] + a[1] * b[0]) * LSC_EXP_M8 +
           lsc_unif_zero_pairs(a[2], a[0] + a[1], b[2], b[0] + b[1]);
}

static inline double lsc_unif_sign_sum1(const double a[3])
{
    return lsc_unif_within(lsc_unif_sign_sum(a, a), a[0] + a[1] + a[2]);
}

/* At D = 2 a normalised row is e^(i a) on the unit circle (or a zero row's 0), and a pair of
 * unit rows has the term exp(-2 (2 - 2 cos(a_i - a_j))) = e^-4 e^(4 cos(a_i - a_j)), which the
 * Jacobi-Anger expansion writes sum_n w_n cos(n (a_i - a_j)), w_0 = e^-4 I_0(4) and
 * w_n = 2 e^-4 I_n(4) (I_n the modified Bessel function of the first kind): the sum over the
 * pairs across two sets is then sum_n w_n Re(S_n conj(T_n)), S_n and T_n the sums of e^(i n a)
 * over each set's unit rows, and the zero rows' pairs follow from counts as at D = 1: O(N K)
 * instead of O(N^2) (the CPU takes it so at D = 2). n < LSC_UNIF_HARMONICS: w_28 < 4e-23, and
 * the terms left out, at most sum_{n >= 28} w_n < 5e-23 a pair, are below 2^-53 of any pair's
 * term (at least e^-8 = 3.4e-4). The roundings cancel most for two antipodal rows, whose sum
 * e^-8 comes from alternating terms of about 0.2 and powers a few n ulps off: about 3e-12 of
 * the figure at worst. Host only. */
#define LSC_UNIF_HARMONICS 28

typedef struct lsc_unif_circle {
    double re[LSC_UNIF_HARMONICS], im[LSC_UNIF_HARMONICS]; /* S_n; re[0] counts the unit rows */
    double zero;                                           /* the zero rows */
} lsc_unif_circle;

/* w_n from I_n(4) = sum_k 2^(2k + n) / (k! (k + n)!), positive terms, so within a few roundings
 * of itself. */
static inline void lsc_unif_circle_weights(double w[LSC_UNIF_HARMONICS])
{
    double lead = 1.0; /* 2^n / n! */
    for (int n = 0; n < LSC_UNIF_HARMONICS; n++) {
        if (n > 0) lead *= 2.0 / (double)n;
        double term = lead, sum = 0.0;
        for (int k = 0; term > 0x1p-60 * sum || k == 0; k++) {
            sum += term;
            term *= 4.0 / ((double)(k + 1) * (double)(k + 1 + n));
        }
        w[n] = (n > 0 ? 2.0 : 1.0) * LSC_EXP_M4 * sum;
    }
}

/* The normalised row u of a float32 row of d values, in float64 (a float32 row's squares neither
 * overflow nor underflow there); 0 for a zero row, which stays the zero vector. */
static inline int lsc_unif_unit(const float *raw, int64_t d, double *u)
{
    double q = 0.0;
    for (int64_t k = 0; k < d; k++) q += (double)raw[k] * (double)raw[k];
    const double s = lsc_unif_scale(q);
    for (int64_t k = 0; k < d; k++) u[k] = (double)raw[k] * s;
    return q > 0.0;
}

/* Adds the unit row (cx, cy) to c: its powers e^(i n a), n = 0, 1, ..., by one complex product
 * each. */
static inline void lsc_unif_circle_add(lsc_unif_circle *c, double cx, double cy)
{
    double zr = 1.0, zi = 0.0;
    for (int n = 0; n < LSC_UNIF_HARMONICS; n++) {
        c->re[n] += zr;
        c->im[n] += zi;
        const double t = zr * cx - zi * cy;
        zi = zr * cy + zi * cx;
        zr = t;
    }
}

static inline void lsc_unif_circle_merge(lsc_unif_circle *into, const lsc_unif_circle *from)
{
    for (int n = 0; n < LSC_UNIF_HARMONICS; n++) {
        into->re[n] += from->re[n];
        into->im[n] += from->im[n];
    }
    into->zero += from->zero;
}

/* The sum of the pair terms across two sets, as lsc_unif_sign_sum; w from
 * lsc_unif_circle_weights. A zero row is at d2 1 from a unit row and 0 from a zero row. */
static inline double lsc_unif_circle_sum(const lsc_unif_circle *a, const lsc_unif_circle *b,
                                         const double w[LSC_UNIF_HARMONICS])
{
    double sum = 0.0;
    for (int n = LSC_UNIF_HARMONICS - 1; n >= 0; n--) /* the small terms first */
        sum += w[n] * (a->re[n] * b->re[n] + a->im[n] * b->im[n]);
    return sum + lsc_unif_zero_pairs(a->zero, a->re[0], b->zero, b->re[0]);
}

/* Within one set (lsc_unif_within). */
static inline double lsc_unif_circle_sum1(const lsc_unif_circle *a,
                                          const double w[LSC_UNIF_HARMONICS])
{
    return lsc_unif_within(lsc_unif_circle_sum(a, a, w), a->re[0] + a->zero);
}

/* At D = 3 the same from spherical harmonics: for unit rows e^(4 u.v) = sum_l (2l + 1) i_l(4)
 * P_l(u.v) (i_l the modified spherical Bessel function of the first kind, P_l Legendre's
 * polynomial), and P_l(u.v) = sum_m Y_lm(u) Y_lm(v) / (2l + 1) for the real harmonics Y_lm of
 * degree l, normalised to a mean square of 1 over the sphere (geodesy's "fully normalised"
 * ones). So a pair's term is sum_l w_l sum_m Y_lm(u) Y_lm(v) with w_l = e^-4 i_l(4), and the
 * sum over the pairs across two sets sum_l w_l sum_m S_lm T_lm, S_lm the sum of Y_lm over one
 * set's unit rows: O(N L^2) instead of O(N^2). Y_lm(u) = Q_lm(u_3) Re (u_1 + i u_2)^m and
 * Y_l,-m(u) = Q_lm(u_3) Im (u_1 + i u_2)^m, Q_lm the normalised associated Legendre function
 * with its factor (1 - u_3^2)^(m/2) taken out, by the recurrence in l that is stable upwards
 * (Holmes and Featherstone 2002). Degrees l < LSC_UNIF_DEGREES: every Y_lm(u) Y_lm(v) summed
 * over m is at most 2l + 1, and sum_{l >= 27} (2l + 1) w_l < 3e-21, below 2^-53 of any pair's
 * term (at least e^-8). A row's harmonics cost about as much as 390 of the pairs' terms
 * (measured at 6,000 x 3 on AVX-512: 0.56% of perf's samples, the pairs' terms 4.3%), so the
 * CPU takes them where a row has at least LSC_UNIF_SPHERE_PAIRS pairs on average. Host only. */
#define LSC_UNIF_DEGREES 27
#define LSC_UNIF_SPHERE_TERMS (LSC_UNIF_DEGREES * LSC_UNIF_DEGREES)
#define LSC_UNIF_SPHERE_PAIRS 512.0
#define LSC_UNIF_LANES 8 /* rows a call of lsc_unif_sphere_add takes, so that it vectorises */

typedef struct lsc_unif_sphere {
    /* S_lm ordered by m, then l, the cosine's before the sine's (none for m = 0): S_00 counts
     * the unit rows */
    double s[LSC_UNIF_SPHERE_TERMS];
    double zero; /* the zero rows */
} lsc_unif_sphere;

/* The weights and the recurrences' constants: Q_mm, and Q_lm = a_lm u_3 Q_l-1,m - b_lm Q_l-2,m
 * (indexed [m][l]). */
typedef struct lsc_unif_sphere_k {
    double w[LSC_UNIF_DEGREES], qmm[LSC_UNIF_DEGREES];
    double a[LSC_UNIF_DEGREES][LSC_UNIF_DEGREES], b[LSC_UNIF_DEGREES][LSC_UNIF_DEGREES];
} lsc_unif_sphere_k;

/* w_l from i_l(4) = 4^l / (2l + 1)!! sum_k 8^k / (k! (2l + 3)(2l + 5)...(2l + 2k + 1)), positive
 * terms; Q_00 = 1, Q_11 = sqrt 3, Q_mm = sqrt((2m + 1) / 2m) Q_m-1,m-1; a_lm =
 * sqrt((2l - 1)(2l + 1) / ((l - m)(l + m))), b_lm = sqrt((2l + 1)(l + m - 1)(l - m - 1) /
 * ((l - m)(l + m)(2l - 3))) (0 at l = m + 1). */
static inline void lsc_unif_sphere_init(lsc_unif_sphere_k *k)
{
    double lead = 1.0; /* 4^l / (2l + 1)!! */
    for (int l = 0; l < LSC_UNIF_DEGREES; l++) {
        if (l > 0) lead *= 4.0 / (double)(2 * l + 1);
        double term = lead, sum = 0.0;
        for (int j = 0; term > 0x1p-60 * sum || j == 0; j++) {
            sum += term;
            term *= 8.0 / ((double)(j + 1) * (double)(2 * l + 2 * j + 3));
        }
        k->w[l] = LSC_EXP_M4 * sum;
    }
    for (int m = 0; m < LSC_UNIF_DEGREES; m++) {
        k->qmm[m] = m == 0   ? 1.0
                    : m == 1 ? sqrt(3.0)
                             : k->qmm[m - 1] * sqrt((2.0 * m + 1.0) / (2.0 * m));
        for (int l = 0; l < LSC_UNIF_DEGREES; l++) {
            const double lm = (double)(l - m), lp = (double)(l + m), l2 = 2.0 * l;
            k->a[m][l] = l > m ? sqrt((l2 - 1.0) * (l2 + 1.0) / (lm * lp)) : 0.0;
            k->b[m][l] = l > m + 1
                             ? sqrt((l2 + 1.0) * (lp - 1.0) * (lm - 1.0) / (lm * lp * (l2 - 3.0)))
                             : 0.0;
        }
    }
}

/* Adds the harmonics of LSC_UNIF_LANES rows (u1, u2, u3), each times its weight wt (1 for a
 * unit row, 0 for a zero row or an unused lane), to acc[e][lane], e in lsc_unif_sphere's order. */
static inline void lsc_unif_sphere_add(double (*acc)[LSC_UNIF_LANES], const lsc_unif_sphere_k *k,
                                       const double *u1_, const double *u2_, const double *u3_,
                                       const double *wt)
{
    /* local copies, which no store to acc can change: the lane loops vectorise */
    double pr[LSC_UNIF_LANES], pi[LSC_UNIF_LANES], q1[LSC_UNIF_LANES], q2[LSC_UNIF_LANES];
    double u1[LSC_UNIF_LANES], u2[LSC_UNIF_LANES], u3[LSC_UNIF_LANES];
    for (int v = 0; v < LSC_UNIF_LANES; v++) {
        pr[v] = wt[v];
        pi[v] = 0.0;
        u1[v] = u1_[v];
        u2[v] = u2_[v];
        u3[v] = u3_[v];
    }
    int e = 0;
    for (int m = 0; m < LSC_UNIF_DEGREES; m++) {
        for (int v = 0; v < LSC_UNIF_LANES; v++) {
            q1[v] = k->qmm[m]; /* Q_mm; Q_m-1,m taken as 0 */
            q2[v] = 0.0;
        }
        for (int l = m; l < LSC_UNIF_DEGREES; l++) {
            const double a = k->a[m][l], b = k->b[m][l];
            if (l > m)
                for (int v = 0; v < LSC_UNIF_LANES; v++) {
                    const double q = a * u3[v] * q1[v] - b * q2[v];
                    q2[v] = q1[v];
                    q1[v] = q;
                }
            for (int v = 0; v < LSC_UNIF_LANES; v++) acc[e][v] += q1[v] * pr[v];
            e++;
            if (m == 0) continue;
            for (int v = 0; v < LSC_UNIF_LANES; v++) acc[e][v] += q1[v] * pi[v];
            e++;
        }
        for (int v = 0; v < LSC_UNIF_LANES; v++) {
            const double t = pr[v] * u1[v] - pi[v] * u2[v];
            pi[v] = pr[v] * u2[v] + pi[v] * u1[v];
            pr[v] = t;
        }
    }
}

/* The sum of the pair terms across two sets, as lsc_unif_circle_sum. */
static inline double lsc_unif_sphere_sum(const lsc_unif_sphere *a, const lsc_unif_sphere *b,
                                         const lsc_unif_sphere_k *k)
{
    double byl[LSC_UNIF_DEGREES] = {0.0};
    int e = 0;
    for (int m = 0; m < LSC_UNIF_DEGREES; m++)
        for (int l = m; l < LSC_UNIF_DEGREES; l++) {
            byl[l] += a->s[e] * b->s[e];
            e++;
            if (m == 0) continue;
            byl[l] += a->s[e] * b->s[e];
            e++;
        }
    double sum = 0.0;
    for (int l = LSC_UNIF_DEGREES - 1; l >= 0; l--) sum += k->w[l] * byl[l]; /* small first */
    return sum + lsc_unif_zero_pairs(a->zero, a->s[0], b->zero, b->s[0]);
}

/* Within one set (lsc_unif_within). */
static inline double lsc_unif_sphere_sum1(const lsc_unif_sphere *a, const lsc_unif_sphere_k *k)
{
    return lsc_unif_within(lsc_unif_sphere_sum(a, a, k), a->s[0] + a->zero);
}

/* The uniformity from the sum of the pair terms over `pairs` pairs: log of their mean, kept in
 * [-8, 0] as every term lies in [e^-8, 1]: the harmonics' sums (D = 2 and 3) may round a few
 * ulps past either end (identical rows, two antipodal rows), and the clamp only moves the figure
 * towards the exact value (a NaN stays NaN). */
LSC_HD double lsc_uniformity(double sum, double pairs)
{
    const double f = log(sum / pairs);
    return f > 0.0 ? 0.0 : f < -8.0 ? -8.0 : f;
}

/* ||u - v||^2 of one positive pair (alignment, alpha = 2), both rows normalised in float64 and
 * the difference summed in float64; a zero row stays the zero vector (as lsc_unif_row_of). */
LSC_HD double lsc_align_d2(const float *x, const float *y, int64_t d)
{
    double qx = 0.0, qy = 0.0;
    for (int64_t k = 0; k < d; k++) {
        qx += (double)x[k] * (double)x[k];
        qy += (double)y[k] * (double)y[k];
    }
    const double sx = qx > 0.0 ? 1.0 / sqrt(qx) : 0.0, sy = qy > 0.0 ? 1.0 / sqrt(qy) : 0.0;
    return lsc_unif_exact_d2(x, y, d, sx, sy);
}

#endif /* LSC_GEOMETRY_RULES_H */
