/* Shared by the host, the CPU backend and the CUDA backend: compiled as C, C++ and CUDA.
 * Only pure inline functions; no state, no allocation. */
#ifndef LSC_COMMON_H
#define LSC_COMMON_H

#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define LSC_HD __host__ __device__ __forceinline__
#elif defined(__cplusplus)
#define LSC_HD inline
#else
#define LSC_HD static inline
#endif

/* Bytes of one element of an lsc_dtype value (0 for an unknown one): shared so that the CUDA
 * module, which cannot see the core's symbols when the core was loaded RTLD_LOCAL (Python's
 * ctypes), needs no call into it. */
LSC_HD size_t lsc_elem_size(int dtype)
{
    return dtype == 0 ? 4 : dtype == 1 || dtype == 2 ? 2 : dtype == 3 ? 8 : 0;
}

/* qsort comparator of doubles, ascending (NaN compares equal to everything: none reach it).
 * Host code only (its address is taken). */
static inline int lsc_cmp_f64(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* float16 (IEEE binary16) bits to float32, exact for every value including subnormals. */
LSC_HD float lsc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1fu) {
        bits = sign | 0x7f800000u | (man << 13); /* Inf or NaN */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        /* subnormal: shift the mantissa up until its leading one reaches the implicit bit */
        uint32_t e = 113u;
        while ((man & 0x400u) == 0) {
            man <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* bfloat16 bits to float32: the upper half of a float32. */
LSC_HD float lsc_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Element `i` of a buffer of dtype `dtype` (lsc_dtype values) as float32. */
LSC_HD float lsc_load_f32(const void *data, int dtype, int64_t i)
{
    switch (dtype) {
    case 0: return ((const float *)data)[i];
    case 1: return lsc_f16_to_f32(((const uint16_t *)data)[i]);
    case 2: return lsc_bf16_to_f32(((const uint16_t *)data)[i]);
    default: return (float)((const double *)data)[i];
    }
}

/* Entry (r, c), r <= c, of a d x d symmetric matrix's upper triangle packed row by row (row r's
 * entries r..d-1 from r d - r (r - 1) / 2 on): the accumulator state's wire layout
 * (lsc_acc_state), the same for every backend. */
LSC_HD int64_t lsc_packed_upper_at(int64_t d, int64_t r, int64_t c)
{
    return r * d - r * (r - 1) / 2 + c - r;
}

/* a * b for non-negative int64, or -1 if it overflows. */
LSC_HD int64_t lsc_mul_i64(int64_t a, int64_t b)
{
    if (a < 0 || b < 0) return -1;
    if (a != 0 && b > INT64_MAX / a) return -1;
    return a * b;
}

/* splitmix64: the seeded generator behind row subsets, identical on every backend. */
LSC_HD uint64_t lsc_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform integer in [0, n) without modulo bias (Lemire's rejection on 64 bits). */
LSC_HD uint64_t lsc_rand_below(uint64_t *state, uint64_t n)
{
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = lsc_splitmix64(state);
        if (r >= threshold) return r % n;
    }
}

/* Option, result and info structs start with a size_t `size`; a caller from a newer header may
 * pass more bytes than this library knows, up to this many (common/abi.h, docs/ABI.md). */
#define LSC_STRUCT_SIZE_MAX ((size_t)4096)

#endif /* LSC_COMMON_H */
