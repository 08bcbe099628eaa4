/* The uniformity's row loop in AVX-512 intrinsics (pairs.c calls it where the CPU has AVX-512F;
 * the portable loop of pairs.c stays for other CPUs, the CUDA kernels keep lsc_exp_minus).
 *
 * Why intrinsics: the table-driven exp (common/geometry_rules.h, lsc_exp_minus16) needs a lookup
 * of 2^(j / 16) that GCC vectorises as a gather; here it is one permute of two registers
 * (VPERMT2PD) and 2^floor(k / 16) one VSCALEFPD on the table value, so the exp is 9 vector
 * operations where the degree-6 one takes 12, and its last product is fused into the term's add.
 * With the clamp as one VMAXPD, the distance in three operations from s_j p_j and the terms
 * added in registers (not stored and read back), eight pairs cost 15 vector operations where
 * the portable loop's AVX-512 build spends about 21 (bench/RESULTS.md). Each lane computes
 * lsc_exp16_parts of lsc_unif_term_of's argument (its distance in another order: terms8), to the
 * bit. */
#include "unif_avx512.h"

#if LSC_CPU_UNIF_AVX512
#include <immintrin.h>
#include <stdlib.h>

#define LSC_AVX512F __attribute__((target("avx512f")))

int cpu_unif_avx512_usable(void)
{
    /* -1 unknown, 0 no, 1 yes: decided once per process; LSC_CPU_AVX512=0 forces the portable
     * loop (the tests run both); a benign race: every thread reaches the same answer */
    static int state = -1;
    int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (s >= 0) return s;
    const char *env = getenv("LSC_CPU_AVX512");
    __builtin_cpu_init();
    s = !(env && env[0] == '0' && env[1] == '\0') && __builtin_cpu_supports("avx512f");
    __atomic_store_n(&state, s, __ATOMIC_RELEASE);
    return s;
}

/* The constants of lsc_exp_minus16, in registers for a whole row. */
typedef struct exp16 {
    __m512d shift, mlog2e, ln2, q0, q1, q2, q3, one, tlo, thi;
} exp16;

LSC_AVX512F static inline exp16 exp16_init(void)
{
    static const double tab[16] = LSC_EXP16_TABLE;
    exp16 c;
    c.shift = _mm512_set1_pd(LSC_EXP16_SHIFT);
    c.mlog2e = _mm512_set1_pd(LSC_EXP16_MLOG2E);
    c.ln2 = _mm512_set1_pd(LSC_EXP16_LN2);
    c.q0 = _mm512_set1_pd(LSC_EXP16_Q0);
    c.q1 = _mm512_set1_pd(LSC_EXP16_Q1);
    c.q2 = _mm512_set1_pd(LSC_EXP16_Q2);
    c.q3 = _mm512_set1_pd(LSC_EXP16_Q3);
    c.one = _mm512_set1_pd(1.0);
    c.tlo = _mm512_loadu_pd(tab);
    c.thi = _mm512_loadu_pd(tab + 8);
    return c;
}

/* lsc_exp16_parts in eight lanes, p returned and ts in *ts: VPERMT2PD reads the low four bits of
 * each index (j), VSCALEFPD multiplies by 2^floor(k / 16). */
LSC_AVX512F static inline __attribute__((always_inline)) __m512d exp16_8(const exp16 *c, __m512d y,
                                                                         __m512d *ts)
{
    const __m512d kd = _mm512_fmadd_pd(y, c->mlog2e, c->shift);
    const __m512d k = _mm512_sub_pd(kd, c->shift);
    const __m512d r = _mm512_fnmsub_pd(k, c->ln2, y); /* -(k ln 2) - y */
    __m512d q = _mm512_fmadd_pd(c->q3, r, c->q2);
    q = _mm512_fmadd_pd(q, r, c->q1);
    q = _mm512_fmadd_pd(q, r, c->q0);
    const __m512d t = _mm512_permutex2var_pd(c->tlo, _mm512_castpd_si512(kd), c->thi);
    *ts = _mm512_scalef_pd(t, k);
    return _mm512_fmadd_pd(q, r, c->one);
}

LSC_AVX512F void cpu_exp_minus16_avx512(const double *y, double *out, int64_t n)
{
    const exp16 c = exp16_init();
    for (int64_t t = 0; t < n; t += 8) {
        const __mmask8 m = n - t >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n - t)) - 1u);
        __m512d ts;
        const __m512d p = exp16_8(&c, _mm512_maskz_loadu_pd(m, y + t), &ts);
        _mm512_mask_storeu_pd(out + t, m, _mm512_mul_pd(p, ts));
    }
}

/* Row values held for a whole row: 2 e_i (+ 2 where every e_j is 1), 4 s_i (2v instead of v,
 * so that the clamp and t = 2 are one VMAXPD), p_i. */
typedef struct row8 {
    __m512d e2, s4, pi, zero;
} row8;

/* The terms of eight pairs, lanes m, added to acc: lsc_exp_minus16 of lsc_unif_term_of's argument
 * 2 max(v, 0), each term's final product fused into its add (fma(p, ts, acc)).
 * 2v = (2 e_i + 2 e_j) - 4 s_i (s_j p_j + s_j (c + p_i)): lsc_unif_v's formula doubled, in an
 * order that takes three operations (two multiply-adds) where lsc_unif_v's takes four, with
 * s_j p_j from the caller; it differs from lsc_unif_v's value by a few float64 roundings, far
 * below the float32 product's error. max(0, 2v) is 2v clamped at 0 as (v + |v|) is (VMAXPD
 * returns its second operand, NaN included, as v + |v| keeps a NaN). */
LSC_AVX512F static inline __attribute__((always_inline)) __m512d
terms8(const exp16 *c, const row8 *r, const float *crow, const double *usp, const double *us,
       const double *ue, __mmask8 m, __mmask8 add, __m512d acc)
{
    const __m512d x =
        _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps((__mmask16)m, crow)));
    const __m512d spj = _mm512_maskz_loadu_pd(m, usp), sj = _mm512_maskz_loadu_pd(m, us);
    __m512d e2 = r->e2;
    if (ue) {
        const __m512d ej = _mm512_maskz_loadu_pd(m, ue);
        e2 = _mm512_add_pd(e2, _mm512_add_pd(ej, ej));
    }
    const __m512d u = _mm512_fmadd_pd(sj, _mm512_add_pd(x, r->pi), spj);
    const __m512d v2 = _mm512_fnmadd_pd(r->s4, u, e2);
    __m512d ts;
    const __m512d p = exp16_8(c, _mm512_max_pd(r->zero, v2), &ts);
    return _mm512_mask3_fmadd_pd(p, ts, acc, add);
}

/* The whole blocks of 32 pairs of a row without flags, added to acc (terms_sum's lanes); returns
 * the pairs done. Inlined with ue NULL or not, so that neither loop tests it. */
LSC_AVX512F static inline __attribute__((always_inline)) int64_t
full_blocks(const exp16 *c, const row8 *r, const float *crow, int64_t n, const double *usp,
            const double *us, const double *ue, __m512d *acc)
{
    int64_t t = 0;
    for (; t + 32 <= n; t += 32)
        for (int a = 0; a < 4; a++) {
            const int64_t o = t + 8 * a;
            acc[a] =
                terms8(c, r, crow + o, usp + o, us + o, ue ? ue + o : NULL, 0xFF, 0xFF, acc[a]);
        }
    return t;
}

LSC_AVX512F double cpu_unif_row_avx512(const float *crow, int64_t n, lsc_unif_row ri,
                                       const double *usp, const double *us, const double *ue,
                                       const int64_t *flag)
{
    const exp16 c = exp16_init();
    row8 r;
    /* ue NULL: every e_j is 1, so 2 e_i + 2 e_j is one constant */
    r.e2 = _mm512_set1_pd(ue ? ri.e + ri.e : (ri.e + 1.0) + (ri.e + 1.0));
    r.s4 = _mm512_set1_pd(4.0 * ri.s);
    r.pi = _mm512_set1_pd(ri.p);
    r.zero = _mm512_setzero_pd();
    /* terms_sum's 32 lanes: acc[a] holds lanes 8a..8a+7 */
    __m512d acc[4] = {r.zero, r.zero, r.zero, r.zero};
    int64_t t = 0;
    if (!flag)
        t = ue ? full_blocks(&c, &r, crow, n, usp, us, ue, acc)
               : full_blocks(&c, &r, crow, n, usp, us, NULL, acc);
    /* the tail, or every block where pairs are flagged: a flagged pair's term is left out */
    for (; t < n; t += 32)
        for (int a = 0; a < 4; a++) {
            const int64_t o = t + 8 * a, left = n - o;
            if (left <= 0) break;
            const __mmask8 m = left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << left) - 1u);
            const __mmask8 add =
                flag ? _mm512_mask_cmpeq_epi64_mask(m, _mm512_maskz_loadu_epi64(m, flag + o),
                                                    _mm512_setzero_si512())
                     : m;
            acc[a] = terms8(&c, &r, crow + o, usp + o, us + o, ue ? ue + o : NULL, m, add, acc[a]);
        }
    double e[8];
    _mm512_storeu_pd(e,
                     _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3])));
    return lsc_lanes8_total(e);
}

/* The float32 path (common/geometry_rules.h, lsc_unif_f32_z and lsc_exp16f_parts) in sixteen
 * lanes: 13 vector operations per 16 pairs for the terms and about 2.5 for their sum, where the
 * float64 loop takes 30 (bench/RESULTS.md). */
typedef struct exp16f {
    __m512 shift, log2e, ln2hi, ln2lo, q2, half, one, tab, a, b, c, alo;
} exp16f;

LSC_AVX512F static inline exp16f exp16f_init(lsc_unif_f32 f)
{
    static const float tab[16] = LSC_EXP16F_TABLE;
    exp16f k;
    k.shift = _mm512_set1_ps(LSC_EXP16F_SHIFT);
    k.log2e = _mm512_set1_ps(LSC_EXP16F_LOG2E);
    k.ln2hi = _mm512_set1_ps(LSC_EXP16F_LN2_HI);
    k.ln2lo = _mm512_set1_ps(LSC_EXP16F_LN2_LO);
    k.q2 = _mm512_set1_ps(LSC_EXP16F_Q2);
    k.half = _mm512_set1_ps(0.5f);
    k.one = _mm512_set1_ps(1.0f);
    k.tab = _mm512_loadu_ps(tab);
    k.a = _mm512_set1_ps(f.a);
    k.b = _mm512_set1_ps(f.b);
    k.c = _mm512_set1_ps(f.c);
    k.alo = _mm512_set1_ps(f.alo);
    return k;
}

/* lsc_exp16f_parts in sixteen lanes: p returned (masked lanes 0), ts in *ts. VPERMPS reads the
 * low four bits of each index (j), VSCALEFPS multiplies by 2^floor(k / 16). */
LSC_AVX512F static inline __attribute__((always_inline)) __m512 exp16f_16(const exp16f *k, __m512 x,
                                                                          __mmask16 m, __m512 *ts)
{
    const __m512 kd = _mm512_fmadd_ps(x, k->log2e, k->shift);
    const __m512 kk = _mm512_sub_ps(kd, k->shift);
    __m512 r = _mm512_fnmadd_ps(kk, k->ln2hi, x);
    r = _mm512_fnmadd_ps(kk, k->ln2lo, r);
    __m512 q = _mm512_fmadd_ps(k->q2, r, k->half);
    q = _mm512_fmadd_ps(q, r, k->one);
    *ts = _mm512_scalef_ps(_mm512_permutexvar_ps(_mm512_castps_si512(kd), k->tab), kk);
    return _mm512_maskz_fmadd_ps(m, q, r, k->one);
}

/* The factors exp(z) of 16 pairs' terms as p and ts (lsc_unif_f32_z, then the exp), masked
 * lanes' p 0. */
LSC_AVX512F static inline __attribute__((always_inline)) __m512
terms16f(const exp16f *k, const float *crow, const float *sj, const float *pj, __mmask16 m,
         __m512 *ts)
{
    const __m512 c = _mm512_maskz_loadu_ps(m, crow), s = _mm512_maskz_loadu_ps(m, sj),
                 pp = _mm512_maskz_loadu_ps(m, pj);
    const __m512 z = _mm512_fmadd_ps(k->a, _mm512_fmadd_ps(s, c, pp), _mm512_mul_ps(k->b, s));
    /* min(2 (e_i + 1), z), a NaN kept (VMINPS returns its second operand then) */
    return exp16f_16(k, _mm512_min_ps(k->c, z), m, ts);
}

/* The lanes of a group of 16 that hold one of the `left` pairs still to do (none at or below
 * 0, all from 16). */
static inline __mmask16 lanes16(int64_t left)
{
    return left >= 16  ? (__mmask16)0xFFFF
           : left <= 0 ? (__mmask16)0
                       : (__mmask16)((1u << left) - 1u);
}

/* The 16 lanes of w added to lo (lanes 0-7) and hi (8-15) in float64. */
LSC_AVX512F static inline __attribute__((always_inline)) void add16_pd(__m512 w, __m512d *lo,
                                                                       __m512d *hi)
{
    *lo = _mm512_add_pd(*lo, _mm512_cvtps_pd(_mm512_castps512_ps256(w)));
    *hi = _mm512_add_pd(
        *hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(w), 1))));
}

/* Sixty-four pairs from o: four groups of 16, (t0 + t1) + (t2 + t3) in float32 with t0 and t2's
 * products fused into those adds, then the 16 lanes added to lo (lanes 0-7) and hi (8-15) in
 * float64. */
LSC_AVX512F static inline __attribute__((always_inline)) void
block64f(const exp16f *k, const float *crow, const float *sj, const float *pj, int64_t o, int64_t n,
         __m512d *lo, __m512d *hi)
{
    __m512 p[4], ts[4];
    for (int a = 0; a < 4; a++) {
        const int64_t left = n - o - 16 * a;
        const __mmask16 m = lanes16(left);
        const int64_t at = o + 16 * a;
        p[a] = terms16f(k, crow + at, sj + at, pj + at, m, &ts[a]);
    }
    add16_pd(_mm512_add_ps(_mm512_fmadd_ps(p[0], ts[0], _mm512_mul_ps(p[1], ts[1])),
                           _mm512_fmadd_ps(p[2], ts[2], _mm512_mul_ps(p[3], ts[3]))),
             lo, hi);
}

LSC_AVX512F double cpu_unif_row_avx512_f32(const float *crow, int64_t n, lsc_unif_f32 f,
                                           const float *sj, const float *pj)
{
    const exp16f k = exp16f_init(f);
    /* two pairs of accumulators: consecutive blocks alternate, so no add waits on the last */
    __m512d lo[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()},
            hi[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
    int64_t o = 0;
    for (; o + 128 <= n; o += 128) {
        block64f(&k, crow, sj, pj, o, o + 64, &lo[0], &hi[0]);
        block64f(&k, crow, sj, pj, o + 64, o + 128, &lo[1], &hi[1]);
    }
    for (int b = 0; o < n; o += 64, b ^= 1) block64f(&k, crow, sj, pj, o, n, &lo[b], &hi[b]);
    double e[8];
    _mm512_storeu_pd(e, _mm512_add_pd(_mm512_add_pd(lo[0], lo[1]), _mm512_add_pd(hi[0], hi[1])));
    return f.scale * lsc_lanes8_total(e);
}

/* The wide form (lsc_unif_f32w_z, then the exp) of 16 pairs, masked lanes' p 0; `masked`:
 * also the lanes whose S_hi is 0 (the caller's outliers), one compare more. Their ts must stay
 * finite so that p ts is 0: with S_lo and P_j 0 too their z is 0 and ts 1 for any finite c
 * (pairs.c takes this form only on rows with a fast product, whose c do not overflow). */
LSC_AVX512F static inline __attribute__((always_inline)) __m512
terms16w(const exp16f *k, const float *crow, const float *shi, const float *slo, const float *pj,
         __mmask16 m, int masked, __m512 *ts)
{
    const __m512 c = _mm512_maskz_loadu_ps(m, crow), sh = _mm512_maskz_loadu_ps(m, shi),
                 sl = _mm512_maskz_loadu_ps(m, slo), pp = _mm512_maskz_loadu_ps(m, pj);
    if (masked) m = _mm512_mask_cmp_ps_mask(m, sh, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    const __m512 t = _mm512_fmadd_ps(sh, c, _mm512_fmadd_ps(sl, c, pp));
    const __m512 z = _mm512_fmadd_ps(k->a, t, _mm512_fmadd_ps(k->alo, t, _mm512_mul_ps(k->b, sh)));
    return exp16f_16(k, _mm512_min_ps(k->c, z), m, ts);
}

/* Sixty-four pairs of the wide form from o (those below n): groups 0 and 1 summed as
 * fma(p0, ts0, p1 ts1) in float32, that sum's lanes 0-7 added to lo[0] and 8-15 to hi[0] in
 * float64, groups 2 and 3 likewise to lo[1] and hi[1]. Called with n = o + 64 for a whole step,
 * so that its masks fold to constants and its loads are plain ones. */
LSC_AVX512F static inline __attribute__((always_inline)) void
step64w(const exp16f *k, const float *crow, const float *shi, const float *slo, const float *pj,
        int64_t o, int64_t n, int masked, __m512d *lo, __m512d *hi)
{
    for (int b = 0; b < 2; b++) {
        __m512 p[2], ts[2];
        for (int a = 0; a < 2; a++) {
            const int64_t at = o + 32 * b + 16 * a;
            p[a] = terms16w(k, crow + at, shi + at, slo + at, pj + at, lanes16(n - at), masked,
                            &ts[a]);
        }
        add16_pd(_mm512_fmadd_ps(p[0], ts[0], _mm512_mul_ps(p[1], ts[1])), &lo[b], &hi[b]);
    }
}

/* The wide form's row sum, with or without the outliers' lanes left out (inlined both ways, so
 * that the loop without them spends no compare). */
LSC_AVX512F static inline __attribute__((always_inline)) double
row_f32w(const float *crow, int64_t n, lsc_unif_f32 f, const float *shi, const float *slo,
         const float *pj, int masked)
{
    const exp16f k = exp16f_init(f);
    __m512d lo[2], hi[2];
    for (int b = 0; b < 2; b++) lo[b] = hi[b] = _mm512_setzero_pd();
    int64_t o = 0;
    for (; o + 64 <= n; o += 64) step64w(&k, crow, shi, slo, pj, o, o + 64, masked, lo, hi);
    if (o < n) step64w(&k, crow, shi, slo, pj, o, n, masked, lo, hi);
    double e[8];
    _mm512_storeu_pd(e, _mm512_add_pd(_mm512_add_pd(lo[0], lo[1]), _mm512_add_pd(hi[0], hi[1])));
    return f.scale * lsc_lanes8_total(e);
}

LSC_AVX512F double cpu_unif_row_avx512_f32w(const float *crow, int64_t n, lsc_unif_f32 f,
                                            const float *shi, const float *slo, const float *pj,
                                            int masked)
{
    return masked ? row_f32w(crow, n, f, shi, slo, pj, 1) : row_f32w(crow, n, f, shi, slo, pj, 0);
}

LSC_AVX512F void cpu_exp16f_avx512(const float *x, float *out, int64_t n)
{
    const lsc_unif_f32 none = {0.0f, 0.0f, 0.0f, 1.0, 0.0f};
    const exp16f k = exp16f_init(none);
    for (int64_t t = 0; t < n; t += 16) {
        const __mmask16 m = lanes16(n - t);
        __m512 ts;
        const __m512 p = exp16f_16(&k, _mm512_maskz_loadu_ps(m, x + t), m, &ts);
        _mm512_mask_storeu_ps(out + t, m, _mm512_mul_ps(p, ts));
    }
}

#else

int cpu_unif_avx512_usable(void) { return 0; }

#endif
