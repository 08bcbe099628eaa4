/* The uniformity's row loop in AVX-512 intrinsics (unif_avx512.c): built where the compiler
 * targets x86-64 with GCC's or Clang's intrinsics, used where the CPU has AVX-512F
 * (cpu_unif_avx512_usable); pairs.c's portable loop serves every other case. */
#ifndef LSC_CPU_UNIF_AVX512_H
#define LSC_CPU_UNIF_AVX512_H

#include "../../common/distance_rules.h"
#include "../../common/geometry_rules.h"

#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(LSC_NO_CLONES)
#define LSC_CPU_UNIF_AVX512 1
#else
#define LSC_CPU_UNIF_AVX512 0
#endif

/* 1 where the loop below may run: AVX-512F, and LSC_CPU_AVX512 is not "0". Decided once per
 * process. */
int cpu_unif_avx512_usable(void);

#if LSC_CPU_UNIF_AVX512
/* Sum of the uniformity's pair terms of row i (values ri) over n pairs: crow the row's float32
 * products, usp / us / ue the base rows' s p, s, e (ue NULL: every e is 1). Each term is
 * lsc_exp_minus16 of lsc_unif_term_of's argument (its distance in another order: unif_avx512.c,
 * terms8); a term whose flag is nonzero is left out (flag
 * NULL: none); the sum in terms_sum's order (pairs.c: 32 lanes, element t in lane t mod 32,
 * folded to eight, then lsc_lanes8_total). Only where cpu_unif_avx512_usable. */
double cpu_unif_row_avx512(const float *crow, int64_t n, lsc_unif_row ri, const double *usp,
                           const double *us, const double *ue, const int64_t *flag);

/* The float32 path's sum over n pairs (common/geometry_rules.h: exp(z) of lsc_unif_f32_z by
 * lsc_exp16f_parts, every base row's e_j 1, no pair flagged): f the query row's values, sj and
 * pj the base rows' s and s p in float32. Sixty-four pairs a step, summed in float32 as
 * (t0 + t1) + (t2 + t3) of four groups of 16 (t0 and t2's products fused into those adds), the
 * steps' 16 lanes in float64, alternating between two sets of accumulators, then added as
 * lsc_lanes8_total of (lo0 + lo1) + (hi0 + hi1) and multiplied by f.scale. Only where
 * cpu_unif_avx512_usable and lsc_unif_f32_fits. */
double cpu_unif_row_avx512_f32(const float *crow, int64_t n, lsc_unif_f32 f, const float *sj,
                               const float *pj);

/* The wide form's sum over n pairs (common/geometry_rules.h: exp(z) of lsc_unif_f32w_z by
 * lsc_exp16f_parts, every base row's e_j 1, no pair flagged): shi, slo and pj the base rows'
 * s as two floats and s p in float32. Sixty-four pairs a step, four groups of 16, p ts in
 * float32, groups 0 and 1 added as fma(p0, ts0, p1 ts1) in float32 and that sum's lanes 0-7
 * added to lo[0], 8-15 to hi[0] in float64, groups 2 and 3 likewise to lo[1] and hi[1]; then
 * lsc_lanes8_total of (lo0 + lo1) + (hi0 + hi1), multiplied by f.scale. masked: leave out the
 * pairs whose shi is 0 (the caller's outliers; their slo and pj 0 too keep their z at 0 for a
 * finite c, so that the masked product is 0, not NaN). Only where cpu_unif_avx512_usable and
 * lsc_unif_f32w_fits. */
double cpu_unif_row_avx512_f32w(const float *crow, int64_t n, lsc_unif_f32 f, const float *shi,
                                const float *slo, const float *pj, int masked);

/* out[t] = p ts of lsc_exp16f_parts(x[t]) for t < n, as the loop above computes it (for the
 * tests). Only where cpu_unif_avx512_usable. */
void cpu_exp16f_avx512(const float *x, float *out, int64_t n);

/* out[t] = lsc_exp_minus16(y[t]) for t < n, as the loop above computes it (for the tests). Only
 * where cpu_unif_avx512_usable. */
void cpu_exp_minus16_avx512(const double *y, double *out, int64_t n);
#endif

#endif /* LSC_CPU_UNIF_AVX512_H */
