/* The AMX product of the CPU backend's kNN and PRDC prefilters (tiles.h, "bf16x3").
 *
 * Why our own kernel: OpenBLAS 0.3.21 (Debian 12) has no bfloat16 GEMM and no AMX kernels, and
 * on a Sapphire Rapids core an AMX tile product runs at about 3 TFLOP/s against SGEMM's 140
 * GFLOP/s (bench/RESULTS.md, "AMX"). A float32 value x is split into two bfloat16 values
 * h = bf16(x) and l = bf16(x - h), and x.y is taken as h.h' + h.l' + l.h': three bfloat16
 * products with float32 accumulation, whose error tiles.h bounds (cpu_amx_rel). Every decision
 * is still made on exact values, so the bound only has to be safe, not tight.
 *
 * Layouts (rows are the fp32 centred or normalised rows of cpu_set_load, dp = d rounded up to
 * 32, zero-padded):
 *   query side: row-major, each row [h(0..dp) | l(0..dp)], rows padded to a multiple of 32;
 *   base side:  groups of 16 rows; per group the h tiles then the l tiles, one 16 x 32 tile per
 *               32 columns of d in the VNNI order the tile product wants (tile row kk holds, for
 *               each of the 16 rows n, the pair of values at columns 2 kk and 2 kk + 1).
 */
#define _GNU_SOURCE 1 /* syscall() */
#include "tiles.h"

#include <stdint.h>
#include <string.h>

#if LSC_CPU_AMX
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LSC_AMX_PANEL
#define LSC_AMX_PANEL 128
#endif
#ifndef LSC_AMX_QCHUNK
#define LSC_AMX_QCHUNK 256
#endif

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* Round to nearest even. Finite inputs only (the callers' rows are checked). */
static inline uint16_t bf16_rne(float x, float *back)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    u &= 0xFFFF0000u;
    memcpy(back, &u, 4);
    return (uint16_t)(u >> 16);
}

/* The split of x into h and l (x - h is exact in float32: h is x rounded to 8 bits). */
static inline void bf16_split(float x, uint16_t *h, uint16_t *l)
{
    float hb, lb;
    *h = bf16_rne(x, &hb);
    *l = bf16_rne(x - hb, &lb);
}

int64_t cpu_amx_dp(int64_t d) { return (d + 31) / 32 * 32; }

size_t cpu_amx_b_elems(int64_t n, int64_t d)
{
    return (size_t)((n + 31) / 32 * 2) * (size_t)(2 * cpu_amx_dp(d)) * 16;
}

size_t cpu_amx_q_elems(int64_t n, int64_t d) { return cpu_amx_b_elems(n, d); }

void cpu_amx_pack_q(const float *rows, int64_t n, int64_t d, uint16_t *out)
{
    const int64_t dp = cpu_amx_dp(d), kc0 = dp / 32, ng = (n + 31) / 32 * 2;
    for (int64_t g = 0; g < ng; g++) {
        uint16_t *gh = out + (size_t)g * (size_t)(2 * kc0) * 512, *gl = gh + (size_t)kc0 * 512;
        for (int64_t r = 0; r < 16; r++) {
            const int64_t i = g * 16 + r;
            for (int64_t c = 0; c < dp; c++) {
                uint16_t h = 0, l = 0;
                if (i < n && c < d) bf16_split(rows[i * d + c], &h, &l);
                /* tile c / 32, tile row r, element c % 32 */
                const size_t at = (size_t)(c / 32) * 512 + (size_t)r * 32 + (size_t)(c % 32);
                gh[at] = h;
                gl[at] = l;
            }
        }
    }
}

void cpu_amx_pack_b(const float *rows, int64_t n, int64_t d, uint16_t *out)
{
    const int64_t dp = cpu_amx_dp(d), kc0 = dp / 32, ng = (n + 31) / 32 * 2;
    for (int64_t g = 0; g < ng; g++) {
        uint16_t *gh = out + (size_t)g * (size_t)(2 * kc0) * 512, *gl = gh + (size_t)kc0 * 512;
        for (int64_t r = 0; r < 16; r++) {
            const int64_t i = g * 16 + r;
            for (int64_t c = 0; c < dp; c++) {
                uint16_t h = 0, l = 0;
                if (i < n && c < d) bf16_split(rows[i * d + c], &h, &l);
                /* tile c / 32, tile row (c % 32) / 2, element r, half c % 2 */
                const size_t at = (size_t)(c / 32) * 512 + (size_t)((c % 32) / 2) * 32 +
                                  (size_t)r * 2 + (size_t)(c % 2);
                gh[at] = h;
                gl[at] = l;
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
static const tile_cfg amx_cfg = {1, 0, {0}, {64, 64, 64, 64, 64, 64, 64, 64},
                                 {16, 16, 16, 16, 16, 16, 16, 16}};

__attribute__((target("amx-tile,amx-bf16"))) static void amx_config(void)
{
    _tile_loadconfig(&amx_cfg);
}

int cpu_amx_usable(void)
{
    static int state = -1; /* -1 unknown, 0 no, 1 yes; a benign race: every thread agrees */
    int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (s >= 0) return s;
    s = 0;
    __builtin_cpu_init();
    /* the kernel must grant the tile state to the process (Linux 5.16 on): one process-wide
     * permission, asked once; without it the first tile instruction would fault */
    if (__builtin_cpu_supports("avx512f") &&
        syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0) {
        unsigned a, b, c, d;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
        /* CPUID.7.0 EDX bit 22 AMX-BF16, bit 24 AMX-TILE */
        s = ((d >> 22) & 1u) && ((d >> 24) & 1u);
    }
    __atomic_store_n(&state, s, __ATOMIC_RELEASE);
    return s;
}

/* c (the valid nr x nc of 32 x 32, ld ldc) = the bf16x3 product of the packed query groups a,
 * a + gs and the packed base groups b, b + gs (gs: a group's elements). */
__attribute__((target("amx-tile,amx-bf16"))) static void amx_block(const uint16_t *a,
                                                                   const uint16_t *b,
                                                                   size_t gs, int64_t kc0,
                                                                   float *c, int64_t ldc,
                                                                   int64_t nr, int64_t nc)
{
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    const uint16_t *a0 = a, *a1 = a + gs, *g0 = b, *g1 = b + gs;
    /* h.h', h.l', l.h': the query part's offset (bytes) and the base part's (tiles) */
    for (int part = 0; part < 3; part++) {
        const size_t qo = part == 2 ? (size_t)kc0 * 512 : 0;
        const size_t bo = part == 1 ? (size_t)kc0 * 512 : 0;
        for (int64_t kc = 0; kc < kc0; kc++) {
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
    if (nr == 32 && nc == 32) {
        const size_t ls = (size_t)ldc * sizeof(float);
        _tile_stored(0, c, ls);
        _tile_stored(1, c + 16, ls);
        _tile_stored(2, c + 16 * ldc, ls);
        _tile_stored(3, c + 16 * ldc + 16, ls);
        return;
    }
    float buf[32 * 32];
    _tile_stored(0, buf, 128);
    _tile_stored(1, buf + 16, 128);
    _tile_stored(2, buf + 16 * 32, 128);
    _tile_stored(3, buf + 16 * 32 + 16, 128);
    for (int64_t i = 0; i < nr; i++) memcpy(c + i * ldc, buf + i * 32, (size_t)nc * sizeof(float));
}

__attribute__((target("amx-tile,amx-bf16"))) static void amx_release(void) { _tile_release(); }

void cpu_amx_gemm(int64_t nq, int64_t nb, int64_t d, const uint16_t *qa, const uint16_t *bb,
                  float *c, int64_t ldc)
{
    const int64_t dp = cpu_amx_dp(d), kc0 = dp / 32;
    const size_t gs = (size_t)(2 * kc0) * 512;             /* base group stride, elements */
    /* blocks of LSC_AMX_QCHUNK query rows x LSC_AMX_PANEL base rows (768 KiB at d = 512)
     * stay in L2 while the 32 x 32 products sweep them */
    amx_config();
    for (int64_t ic = 0; ic < nq; ic += LSC_AMX_QCHUNK) {
        const int64_t ie = ic + LSC_AMX_QCHUNK < nq ? ic + LSC_AMX_QCHUNK : nq;
        for (int64_t jp = 0; jp < nb; jp += LSC_AMX_PANEL) {
            const int64_t je = jp + LSC_AMX_PANEL < nb ? jp + LSC_AMX_PANEL : nb;
            for (int64_t i = ic; i < ie; i += 32) {
                const uint16_t *a = qa + (size_t)(i / 16) * gs;
                const int64_t nr = nq - i < 32 ? nq - i : 32;
                for (int64_t j = jp; j < je; j += 32)
                    amx_block(a, bb + (size_t)(j / 16) * gs, gs, kc0, c + i * ldc + j, ldc, nr,
                              je - j < 32 ? je - j : 32);
            }
        }
    }
    amx_release();
}

#else /* no AMX in this build */

int cpu_amx_usable(void) { return 0; }

#endif
