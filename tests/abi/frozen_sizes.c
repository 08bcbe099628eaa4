/* The sizes of the growable structs in the frozen lsc 0.1 header, for test_abi.cpp (which sees
 * today's header): a separate translation unit, since both headers name the same structs. */
#include "lsc-0.1.h"

#include <stddef.h>

const size_t lsc01_sizeof_ctx_params = sizeof(lsc_ctx_params);
const size_t lsc01_sizeof_spectrum_opts = sizeof(lsc_spectrum_opts);
const size_t lsc01_sizeof_spectrum_result = sizeof(lsc_spectrum_result);
const size_t lsc01_sizeof_pair_opts = sizeof(lsc_pair_opts);
const size_t lsc01_sizeof_pair_result = sizeof(lsc_pair_result);
const size_t lsc01_sizeof_knn_opts = sizeof(lsc_knn_opts);
const size_t lsc01_sizeof_reference_opts = sizeof(lsc_reference_opts);
const size_t lsc01_sizeof_reference_info = sizeof(lsc_reference_info);
const size_t lsc01_sizeof_prdc_result = sizeof(lsc_prdc_result);
const size_t lsc01_sizeof_matrix = sizeof(lsc_matrix);
const size_t lsc01_sizeof_pair = sizeof(lsc_pair);
const size_t lsc01_sizeof_async_status = sizeof(lsc_async_status);
