/* The AMX product of the CPU backend's kNN and PRDC prefilters (tiles.h, "bf16x3").
 *
 * Why our own kernel: OpenBLAS 0.3.21 (Debian 12) has no bfloat16 GEMM and no AMX kernels, and
 * on a Sapphire Rapids core an AMX tile product runs at about 3 TFLOP/s against SGEMM's 140
 * GFLOP/s (bench/RESULTS.md, "AMX"). A float32 value x is split into two bfloat16 values
 * h = bf16(x) and l = bf16(x - h), and x.y is taken as h.l' + l.h' + h.h': three bfloat16
 * products accumulated in float32 in that order, whose error tiles.h bounds (cpu_amx_rel). Every decision
 * is still made on exact values, so the bound only has to be safe, not tight.
 *
 * Layouts (rows are the fp32 centred or normalised rows of cpu_set_load, dp = d rounded up to
 * 32, zero-padded; rows padded to a multiple of 32): both sides in groups of 16 rows, per group
 * the dp / 32 h tiles then the dp / 32 l tiles, one 16 x 32 tile of bfloat16 per 32 columns;
 *   query side: a tile row-major (tile row r is the group's row r);
 *   base side:  a tile in the VNNI order the tile product wants (tile row kk holds, for each of
 *               the 16 rows n, the pair of values at columns 2 kk and 2 kk + 1).
 */
#define _GNU_SOURCE 1 /* syscall() */
#include "tiles.h"

#include <stdint.h>
#include <string.h>

#if LSC_CPU_AMX
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LSC_AMX_KD
#define LSC_AMX_KD 1024
#endif
_Static_assert(LSC_AMX_KD % 32 == 0, "LSC_AMX_KD: whole tiles of 32 columns");
#ifndef LSC_AMX_PANEL
#define LSC_AMX_PANEL 128
#endif
_Static_assert(LSC_AMX_PANEL % 32 == 0, "LSC_AMX_PANEL: whole 32-row blocks");

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

#define LSC_AMX_VEC __attribute__((target("avx512f,avx512bw,avx512bf16")))

/* The split of 32 float32 values (n of them, the rest zeros) into their bfloat16 halves
 * h = bf16(x) and l = bf16(x - h), both rounded to nearest even by VCVTNE2PS2BF16 (x - h is
 * exact in float32: h is x rounded to 8 bits). Finite inputs only (the callers' rows are
 * checked). Only called where AMX runs, so AVX-512 BF16 is there (cpu_amx_usable). */
LSC_AMX_VEC static inline void split32(const float *x, int64_t n, __m512i *h, __m512i *l)
{
    const __mmask16 m0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1u);
    const __mmask16 m1 =
        n >= 32 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n > 16 ? n - 16 : 0)) - 1u);
    const __m512 x0 = _mm512_maskz_loadu_ps(m0, x), x1 = _mm512_maskz_loadu_ps(m1, x + 16);
    const __m512i hb = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
    /* h back in float32: each bfloat16 is the top half of its float32 */
    const __m512 h0 = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(hb)), 16));
    const __m512 h1 = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(hb, 1)), 16));
    *h = hb;
    *l = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(x1, h1), _mm512_sub_ps(x0, h0));
}

int64_t cpu_amx_dp(int64_t d) { return (d + 31) / 32 * 32; }

size_t cpu_amx_b_elems(int64_t n, int64_t d)
{
    return (size_t)((n + 31) / 32 * 2) * (size_t)(2 * cpu_amx_dp(d)) * 16;
}

size_t cpu_amx_q_elems(int64_t n, int64_t d) { return cpu_amx_b_elems(n, d); }

uint16_t *cpu_amx_b_at(uint16_t *packed, int64_t r0, int64_t d)
{
    return packed + (size_t)(r0 / 16) * (size_t)(2 * cpu_amx_dp(d)) * 16;
}

LSC_AMX_VEC void cpu_amx_pack_q(const float *rows, int64_t n, int64_t d, uint16_t *out)
{
    const int64_t kc0 = cpu_amx_dp(d) / 32, ng = (n + 31) / 32 * 2;
    for (int64_t g = 0; g < ng; g++) {
        uint16_t *gh = out + (size_t)g * (size_t)(2 * kc0) * 512, *gl = gh + (size_t)kc0 * 512;
        /* tile by tile (each finished while in L1), row r of tile kc: that row's 32 values
         * of columns 32 kc on */
        for (int64_t kc = 0; kc < kc0; kc++) {
            for (int64_t r = 0; r < 16; r++) {
                const int64_t i = g * 16 + r;
                __m512i h = _mm512_setzero_si512(), l = h;
                if (i < n) split32(rows + i * d + kc * 32, d - kc * 32, &h, &l);
                _mm512_storeu_si512(gh + (size_t)kc * 512 + (size_t)r * 32, h);
                _mm512_storeu_si512(gl + (size_t)kc * 512 + (size_t)r * 32, l);
            }
        }
    }
}

LSC_AMX_VEC void cpu_amx_pack_b(const float *rows, int64_t n, int64_t d, uint16_t *out)
{
    const int64_t kc0 = cpu_amx_dp(d) / 32, ng = (n + 31) / 32 * 2;
    /* the VNNI order: tile row kk holds each row's pair of columns 2 kk, 2 kk + 1, one 32-bit
     * word per row, so a row's 16 pairs go down its column r: a scatter with stride 16 words */
    const __m512i down =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32(16));
    for (int64_t g = 0; g < ng; g++) {
        uint16_t *gh = out + (size_t)g * (size_t)(2 * kc0) * 512, *gl = gh + (size_t)kc0 * 512;
        for (int64_t kc = 0; kc < kc0; kc++) { /* tile by tile, as above */
            for (int64_t r = 0; r < 16; r++) {
                const int64_t i = g * 16 + r;
                __m512i h = _mm512_setzero_si512(), l = h;
                if (i < n) split32(rows + i * d + kc * 32, d - kc * 32, &h, &l);
                _mm512_i32scatter_epi32((int *)(gh + (size_t)kc * 512) + r, down, h, 4);
                _mm512_i32scatter_epi32((int *)(gl + (size_t)kc * 512) + r, down, l, 4);
            }
        }
    }
}

typedef struct tile_cfg {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_cfg;

/* Eight 16 x 64-byte tiles. A constant object: GCC 12 drops the stores into a local
 * configuration before ldtilecfg (it does not see the instruction read them). */
static const tile_cfg amx_cfg = {
    1, 0, {0}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

__attribute__((target("amx-tile,amx-bf16"))) static void amx_config(void)
{
    _tile_loadconfig(&amx_cfg);
}

int cpu_amx_usable(void)
{
    /* -1 unknown, 0 no, 1 yes: decided once per process (LSC_CPU_AMX included), so a call's
     * plan and its run always agree; a benign race: every thread reaches the same answer */
    static int state = -1;
    int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (s >= 0) return s;
    s = 0;
    const char *env = getenv("LSC_CPU_AMX");
    if (env && env[0] == '0' && env[1] == '\0') {
        __atomic_store_n(&state, 0, __ATOMIC_RELEASE);
        return 0;
    }
    __builtin_cpu_init();
    /* the kernel must grant the tile state to the process (Linux 5.16 on): one process-wide
     * permission, asked once; without it the first tile instruction would fault */
    if (__builtin_cpu_supports("avx512f") &&
        syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0) {
        unsigned a, b, c, d;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
        /* CPUID.7.0 EDX bit 22 AMX-BF16, bit 24 AMX-TILE; CPUID.7.1 EAX bit 5 AVX512-BF16
         * (the packing's conversions) */
        s = ((d >> 22) & 1u) && ((d >> 24) & 1u);
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
        s = s && ((a >> 5) & 1u) && __builtin_cpu_supports("avx512bw");
    }
    __atomic_store_n(&state, s, __ATOMIC_RELEASE);
    return s;
}

/* The bf16x3 product of the packed query groups a, a + gs and the packed base groups b, b + gs
 * (gs: a group's elements) over parts [p0, p1) (0: h.l', 1: l.h', 2: h.h') and the tiles
 * [k0, k1) of d, added to c (the valid nr x nc of a 32 x 32 block, ld ldc), or into c when
 * `first`. */
__attribute__((target("amx-tile,amx-bf16"))) static void
amx_block(const uint16_t *a, const uint16_t *b, size_t gs, int64_t kc0, int p0, int p1, int64_t k0,
          int64_t k1, int first, float *c, int64_t ldc, int64_t nr, int64_t nc)
{
    const int full = nr == 32 && nc == 32;
    float buf[32 * 32];
    float *cc = c;
    size_t ls = (size_t)ldc * sizeof(float);
    if (!full) { /* an edge block goes through a whole 32 x 32 copy */
        cc = buf;
        ls = 32 * sizeof(float);
        memset(buf, 0, sizeof buf);
        if (!first)
            for (int64_t i = 0; i < nr; i++) memcpy(buf + i * 32, c + i * ldc, (size_t)nc * 4);
    }
    const int64_t lc = (int64_t)(ls / sizeof(float));
    if (first) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    } else {
        _tile_loadd(0, cc, ls);
        _tile_loadd(1, cc + 16, ls);
        _tile_loadd(2, cc + 16 * lc, ls);
        _tile_loadd(3, cc + 16 * lc + 16, ls);
    }
    const uint16_t *a0 = a, *a1 = a + gs, *g0 = b, *g1 = b + gs;
    for (int part = p0; part < p1; part++) {
        /* the query part's offset and the base part's, in elements */
        const size_t qo = part == 1 ? (size_t)kc0 * 512 : 0;
        const size_t bo = part == 0 ? (size_t)kc0 * 512 : 0;
        for (int64_t kc = k0; kc < k1; kc++) {
            /* each load just before its first use, so loads overlap the products */
            _tile_loadd(4, a0 + qo + (size_t)kc * 512, 64);
            _tile_loadd(6, g0 + bo + (size_t)kc * 512, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_loadd(7, g1 + bo + (size_t)kc * 512, 64);
            _tile_dpbf16ps(1, 4, 7);
            _tile_loadd(5, a1 + qo + (size_t)kc * 512, 64);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    }
    _tile_stored(0, cc, ls);
    _tile_stored(1, cc + 16, ls);
    _tile_stored(2, cc + 16 * lc, ls);
    _tile_stored(3, cc + 16 * lc + 16, ls);
    if (!full)
        for (int64_t i = 0; i < nr; i++) memcpy(c + i * ldc, buf + i * 32, (size_t)nc * 4);
}

__attribute__((target("amx-tile,amx-bf16"))) static void amx_release(void) { _tile_release(); }

void cpu_amx_gemm(int64_t nq, int64_t nb, int64_t d, const uint16_t *qa, const uint16_t *bb,
                  float *c, int64_t ldc)
{
    const int64_t dp = cpu_amx_dp(d), kc0 = dp / 32;
    const size_t gs = (size_t)(2 * kc0) * 512; /* a group's stride, elements */
    /* Blocks of qch query rows x LSC_AMX_PANEL base rows stay in L2 while the 32 x 32 products
     * sweep them: 768 KiB at d = 512. Above d = LSC_AMX_KD they would not, so d is taken that
     * many columns at a time (kb tiles), the cross terms h.l' + l.h' over the whole of d first
     * and h.h' after: the order cpu_amx_rel's bound needs. Up to d = LSC_AMX_KD each block runs
     * all three parts at once. Measured (256 x 2048 x 8192, one core): 740 GFLOP/s of bfloat16
     * products against 600 with whole rows; panels of 64 or 128 rows and d in pieces of 512 to
     * 2048 are within 10% of each other. */
    const int64_t kb = dp > LSC_AMX_KD ? LSC_AMX_KD / 32 : kc0, qch = 256;
    amx_config();
    for (int64_t ic = 0; ic < nq; ic += qch) {
        const int64_t ie = ic + qch < nq ? ic + qch : nq;
        for (int64_t jp = 0; jp < nb; jp += LSC_AMX_PANEL) {
            const int64_t je = jp + LSC_AMX_PANEL < nb ? jp + LSC_AMX_PANEL : nb;
            for (int pass = kb < kc0 ? 0 : 2; pass < 3; pass += 2) {
                /* pass 0: parts 0 and 1 (the cross terms); pass 2: part 2, or all three */
                const int p0 = pass == 2 && kb < kc0 ? 2 : 0, p1 = pass == 0 ? 2 : 3;
                for (int64_t k0 = 0; k0 < kc0; k0 += kb) {
                    const int64_t k1 = k0 + kb < kc0 ? k0 + kb : kc0;
                    const int first = k0 == 0 && p0 == 0;
                    for (int64_t i = ic; i < ie; i += 32) {
                        const uint16_t *a = qa + (size_t)(i / 16) * gs;
                        const int64_t nr = nq - i < 32 ? nq - i : 32;
                        for (int64_t j = jp; j < je; j += 32)
                            amx_block(a, bb + (size_t)(j / 16) * gs, gs, kc0, p0, p1, k0, k1, first,
                                      c + i * ldc + j, ldc, nr, je - j < 32 ? je - j : 32);
                    }
                }
            }
        }
    }
    amx_release();
}

#else /* no AMX in this build */

int cpu_amx_usable(void) { return 0; }

#endif
