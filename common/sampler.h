/* The one seeded sampler of lsc (docs/METRICS.md section 7): a seeded permutation pi of
 * 0..n-1, evaluated at any position without replaying a sequence, so every layer and every
 * process draws the same subsets and splits from (seed, n) alone. Shared by the host, the CPU
 * backend and the CUDA backend; pure inline functions. */
#ifndef LSC_SAMPLER_H
#define LSC_SAMPLER_H

#include "lsc_common.h"

#define LSC_PERM_ROUNDS 6

/* A balanced Feistel network on b bits (b even, 2^b >= n) with cycle walking: a bijection of
 * 0..2^b-1 restricted to 0..n-1 stays a bijection there, and walking is at most a few steps on
 * average because 2^b < 4n. */
typedef struct lsc_perm {
    uint64_t n;
    int half;      /* b / 2 */
    uint64_t mask; /* 2^half - 1 */
    uint64_t key[LSC_PERM_ROUNDS];
} lsc_perm;

/* splitmix64's output function without the state step */
LSC_HD uint64_t lsc_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* n >= 1 */
LSC_HD void lsc_perm_init(lsc_perm *p, uint64_t seed, int64_t n)
{
    int b = 2;
    while (b < 64 && ((uint64_t)1 << b) < (uint64_t)n) b += 2;
    p->n = (uint64_t)n;
    p->half = b / 2;
    p->mask = (p->half == 32) ? 0xffffffffull : (((uint64_t)1 << p->half) - 1);
    uint64_t st = seed;
    for (int r = 0; r < LSC_PERM_ROUNDS; r++) p->key[r] = lsc_splitmix64(&st);
}

LSC_HD uint64_t lsc_perm_encrypt(const lsc_perm *p, uint64_t x)
{
    uint64_t l = x >> p->half, r = x & p->mask;
    for (int k = 0; k < LSC_PERM_ROUNDS; k++) {
        uint64_t t = l ^ (lsc_mix64(r + p->key[k]) & p->mask);
        l = r;
        r = t;
    }
    return (l << p->half) | r;
}

LSC_HD uint64_t lsc_perm_decrypt(const lsc_perm *p, uint64_t x)
{
    uint64_t l = x >> p->half, r = x & p->mask;
    for (int k = LSC_PERM_ROUNDS - 1; k >= 0; k--) {
        uint64_t t = r ^ (lsc_mix64(l + p->key[k]) & p->mask);
        r = l;
        l = t;
    }
    return (l << p->half) | r;
}

/* pi(j): the row at position j, 0 <= j < n */
LSC_HD int64_t lsc_perm_at(const lsc_perm *p, int64_t j)
{
    uint64_t x = (uint64_t)j;
    do x = lsc_perm_encrypt(p, x);
    while (x >= p->n);
    return (int64_t)x;
}

/* pi^-1(i): the position of row i, 0 <= i < n */
LSC_HD int64_t lsc_perm_position(const lsc_perm *p, int64_t i)
{
    uint64_t x = (uint64_t)i;
    do x = lsc_perm_decrypt(p, x);
    while (x >= p->n);
    return (int64_t)x;
}

#endif /* LSC_SAMPLER_H */
