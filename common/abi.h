/* Every size each growable public struct has had (docs/ABI.md), oldest first, today's last: the
 * sizes the library accepts in a `size` field, besides larger ones from a newer header. A field
 * appended later starts exactly where the struct it extends ended, so each older size is the
 * offset of the first field appended after it (tests/abi checks these against the frozen 0.1
 * header). A size between two of these would cut a field in two: it is refused. */
#ifndef LSC_ABI_H
#define LSC_ABI_H

#include "lsc.h"
#include "lsc_common.h"
#include <stddef.h>

/* clang-format off */
/* a size list a line: clang-format spreads a macro opening with a brace over four lines */
#define LSC_CTX_PARAMS_SIZES { offsetof(lsc_ctx_params, device_alloc), sizeof(lsc_ctx_params) }
#define LSC_SPECTRUM_OPTS_SIZES { sizeof(lsc_spectrum_opts) }
#define LSC_PAIR_OPTS_SIZES \
    { offsetof(lsc_pair_opts, subset_offset), offsetof(lsc_pair_opts, uniformity), \
      sizeof(lsc_pair_opts) }
#define LSC_KNN_OPTS_SIZES { sizeof(lsc_knn_opts) }
#define LSC_REFERENCE_OPTS_SIZES { sizeof(lsc_reference_opts) }
#define LSC_SPECTRUM_RESULT_SIZES \
    { offsetof(lsc_spectrum_result, vendi_cosine_q0), sizeof(lsc_spectrum_result) }
#define LSC_PAIR_RESULT_SIZES { offsetof(lsc_pair_result, uniformity), sizeof(lsc_pair_result) }
#define LSC_REFERENCE_INFO_SIZES \
    { offsetof(lsc_reference_info, file_version), offsetof(lsc_reference_info, total_rows), \
      sizeof(lsc_reference_info) }
#define LSC_ASSESS_OPTS_SIZES \
    { offsetof(lsc_assess_opts, order_uncovered), sizeof(lsc_assess_opts) }
#define LSC_VERDICT_SIZES { sizeof(lsc_verdict) }
#define LSC_CLASS_VERDICT_SIZES { sizeof(lsc_class_verdict) }
#define LSC_PRDC_RESULT_SIZES \
    { offsetof(lsc_prdc_result, coverage_expected), sizeof(lsc_prdc_result) }
#define LSC_TWONN_OPTS_SIZES { sizeof(lsc_twonn_opts) }
#define LSC_TWONN_RESULT_SIZES { sizeof(lsc_twonn_result) }
#define LSC_HUBNESS_OPTS_SIZES { sizeof(lsc_hubness_opts) }
#define LSC_HUBNESS_RESULT_SIZES { sizeof(lsc_hubness_result) }
#define LSC_VENDI_RBF_OPTS_SIZES { sizeof(lsc_vendi_rbf_opts) }
#define LSC_VENDI_RBF_RESULT_SIZES { sizeof(lsc_vendi_rbf_result) }
#define LSC_FD_RESULT_SIZES { sizeof(lsc_fd_result) }
#define LSC_KID_OPTS_SIZES { sizeof(lsc_kid_opts) }
#define LSC_KID_RESULT_SIZES { sizeof(lsc_kid_result) }
#define LSC_MMD_OPTS_SIZES { sizeof(lsc_mmd_opts) }
#define LSC_MMD_RESULT_SIZES { sizeof(lsc_mmd_result) }
#define LSC_TRANSPORT_SIZES { offsetof(lsc_transport, send_recv), sizeof(lsc_transport) }
/* clang-format on */

/* Whether `size` is one of the struct's `n` published sizes (the last is today's sizeof), or a
 * newer header's larger one up to LSC_STRUCT_SIZE_MAX. */
LSC_HD int lsc_size_known(size_t size, const size_t *sizes, int64_t n)
{
    if (size > sizes[n - 1]) return size <= LSC_STRUCT_SIZE_MAX;
    for (int64_t i = 0; i < n; i++)
        if (size == sizes[i]) return 1;
    return 0;
}

/* Stores the result `src` (a full struct, today's sizeof = sizes[n-1]) into the caller's `dst`,
 * whose first field holds the caller's size: the fields it knows are written, the size left as
 * it is, and anything past ours (fields of a newer header) zeroed. Returns 0, writing nothing,
 * for a size that is not known. Used by host and device writers alike. */
LSC_HD int lsc_result_store(void *dst, const void *src, const size_t *sizes, int64_t n)
{
    size_t size;
    memcpy(&size, dst, sizeof size);
    if (!lsc_size_known(size, sizes, n)) return 0;
    const size_t full = sizes[n - 1];
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    const size_t m = size < full ? size : full;
    for (size_t i = sizeof(size_t); i < m; i++) d[i] = s[i];
    for (size_t i = full; i < size; i++) d[i] = 0;
    return 1;
}

#define LSC_NSIZES(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

#endif /* LSC_ABI_H */
