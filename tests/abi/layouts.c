/* Every public struct of lsc.h as this C compiler lays it out, printed as JSON on stdout:
 *
 *   {"version_number": 200,
 *    "lsc_pair_opts": {"size": 64, "fields": {"size": 0, "metric": 8, ...},
 *                      "field_sizes": {"size": 8, "metric": 4, ...}, "floating": ["dup_eps"]},
 *    ...}
 *
 * "fields" maps each field, in declaration order, to its offsetof; "field_sizes" to its sizeof;
 * "floating" lists the float and double fields. The Python binding's layout check
 * (python/tests/test_abi.py) compares every ctypes mirror of python/src/lsc/_native.py with it,
 * and checks that this list names every struct and field lsc.h defines. Built by CMake as
 * lsc_layouts (the test finds it through LSC_LAYOUTS), or compiled on the fly by that test with
 * the system C compiler: plain C11, needs only lsc.h, links nothing. */
#include "lsc.h"

#include <stddef.h>
#include <stdio.h>

static int first_field;

/* one pass over a struct's fields writes one of the three maps */
enum pass { OFFSETS, SIZES, FLOATING };

#define IS_FLOATING(e) _Generic((e), float: 1, double: 1, long double: 1, default: 0)

#define FIELD(T, f)                                                                              \
    field(pass, #f, offsetof(T, f), sizeof(((T *)0)->f), IS_FLOATING(((T *)0)->f))

static void field(enum pass pass, const char *name, size_t offset, size_t size, int floating)
{
    if (pass == FLOATING) {
        if (floating) {
            printf("%s\"%s\"", first_field ? "" : ", ", name);
            first_field = 0;
        }
        return;
    }
    printf("%s\"%s\": %zu", first_field ? "" : ", ", name, pass == OFFSETS ? offset : size);
    first_field = 0;
}

static void open_map(const char *key, enum pass pass)
{
    printf(", \"%s\": %s", key, pass == FLOATING ? "[" : "{");
    first_field = 1;
}

static void close_map(enum pass pass)
{
    printf("%s", pass == FLOATING ? "]" : "}");
}

/* STRUCT(T, (FIELD(T, a), FIELD(T, b), ...)): the struct T (a macro naming it: expanded once
 * more, through STRUCT_, so that #T names the struct) with every field, in declaration order */
#define STRUCT(T, FIELDS) STRUCT_(T, FIELDS)
#define STRUCT_(T, FIELDS)                                                                       \
    do {                                                                                         \
        printf(",\n  \"%s\": {\"size\": %zu", #T, sizeof(T));                                  \
        enum pass pass;                                                                          \
        pass = OFFSETS;                                                                          \
        open_map("fields", pass);                                                                \
        FIELDS;                                                                                  \
        close_map(pass);                                                                         \
        pass = SIZES;                                                                            \
        open_map("field_sizes", pass);                                                           \
        FIELDS;                                                                                  \
        close_map(pass);                                                                         \
        pass = FLOATING;                                                                         \
        open_map("floating", pass);                                                              \
        FIELDS;                                                                                  \
        close_map(pass);                                                                         \
        printf("}");                                                                             \
    } while (0)

int main(void)
{
    printf("{\n  \"version_number\": %d", LSC_VERSION_NUMBER);

#define T lsc_ctx_params
    STRUCT(T, (FIELD(T, size), FIELD(T, backend), FIELD(T, device), FIELD(T, stream),
               FIELD(T, threads), FIELD(T, workspace_limit), FIELD(T, precision),
               FIELD(T, device_alloc), FIELD(T, device_free), FIELD(T, allocator_user)));
#undef T
#define T lsc_matrix
    STRUCT(T, (FIELD(T, data), FIELD(T, dtype), FIELD(T, rows), FIELD(T, cols), FIELD(T, ld),
               FIELD(T, memory)));
#undef T
#define T lsc_spectrum_opts
    STRUCT(T, (FIELD(T, size), FIELD(T, active_threshold)));
#undef T
#define T lsc_spectrum_result
    STRUCT(T, (FIELD(T, size), FIELD(T, rows), FIELD(T, cols), FIELD(T, rank_limit),
               FIELD(T, numerical_rank), FIELD(T, effective_rank), FIELD(T, rankme),
               FIELD(T, participation_ratio), FIELD(T, stable_rank), FIELD(T, dims_90),
               FIELD(T, dims_99), FIELD(T, active_units), FIELD(T, active_threshold),
               FIELD(T, total_variance), FIELD(T, largest_singular_value),
               FIELD(T, vendi_cosine), FIELD(T, vendi_status), FIELD(T, vendi_zero_row),
               FIELD(T, all_rows_identical), FIELD(T, vendi_cosine_q0),
               FIELD(T, vendi_cosine_q2), FIELD(T, vendi_cosine_qinf), FIELD(T, alpha_req),
               FIELD(T, alpha_req_r2), FIELD(T, alpha_req_ranks)));
#undef T
#define T lsc_pair
    STRUCT(T, (FIELD(T, i), FIELD(T, j), FIELD(T, d)));
#undef T
#define T lsc_pair_opts
    STRUCT(T, (FIELD(T, size), FIELD(T, metric), FIELD(T, bins), FIELD(T, dup_eps),
               FIELD(T, dup_report), FIELD(T, subset_rows), FIELD(T, seed),
               FIELD(T, subset_offset), FIELD(T, uniformity)));
#undef T
#define T lsc_pair_result
    STRUCT(T, (FIELD(T, size), FIELD(T, rows_used), FIELD(T, pairs), FIELD(T, mean),
               FIELD(T, std), FIELD(T, min), FIELD(T, max), FIELD(T, nn_mean),
               FIELD(T, nn_median), FIELD(T, nn_min), FIELD(T, nn_max),
               FIELD(T, near_duplicate_pairs), FIELD(T, near_duplicates_listed), FIELD(T, bins),
               FIELD(T, hist_upper), FIELD(T, subset), FIELD(T, uniformity)));
#undef T
#define T lsc_knn_opts
    STRUCT(T, (FIELD(T, size), FIELD(T, metric), FIELD(T, exclude_self), FIELD(T, out_memory)));
#undef T
#define T lsc_reference_opts
    STRUCT(T, (FIELD(T, size), FIELD(T, metric), FIELD(T, comparison), FIELD(T, borrow_rows)));
#undef T
#define T lsc_reference_info
    STRUCT(T, (FIELD(T, size), FIELD(T, rows), FIELD(T, cols), FIELD(T, k), FIELD(T, metric),
               FIELD(T, comparison), FIELD(T, zero_radii), FIELD(T, file_version),
               FIELD(T, prepared), FIELD(T, prepared_seed), FIELD(T, total_rows),
               FIELD(T, first_row)));
#undef T
#define T lsc_prdc_result
    STRUCT(T, (FIELD(T, size), FIELD(T, k), FIELD(T, real_rows), FIELD(T, fake_rows),
               FIELD(T, precision), FIELD(T, recall), FIELD(T, density), FIELD(T, coverage),
               FIELD(T, zero_radii_real), FIELD(T, zero_radii_fake), FIELD(T, comparison),
               FIELD(T, metric), FIELD(T, coverage_expected)));
#undef T
#define T lsc_fd_result
    STRUCT(T, (FIELD(T, size), FIELD(T, cols), FIELD(T, fd), FIELD(T, mean_term),
               FIELD(T, trace1), FIELD(T, trace2), FIELD(T, trace_sqrt), FIELD(T, tolerance)));
#undef T
#define T lsc_kid_opts
    STRUCT(T, (FIELD(T, size), FIELD(T, subsets), FIELD(T, subset_rows), FIELD(T, seed)));
#undef T
#define T lsc_kid_result
    STRUCT(T, (FIELD(T, size), FIELD(T, subsets), FIELD(T, subset_rows), FIELD(T, mean),
               FIELD(T, std), FIELD(T, tolerance)));
#undef T
#define T lsc_mmd_opts
    STRUCT(T, (FIELD(T, size), FIELD(T, sigma), FIELD(T, scale)));
#undef T
#define T lsc_mmd_result
    STRUCT(T, (FIELD(T, size), FIELD(T, rows_a), FIELD(T, rows_b), FIELD(T, mmd),
               FIELD(T, tolerance)));
#undef T
#define T lsc_transport
    STRUCT(T, (FIELD(T, size), FIELD(T, rank), FIELD(T, ranks), FIELD(T, user),
               FIELD(T, all_reduce), FIELD(T, all_gather), FIELD(T, broadcast), FIELD(T, ring),
               FIELD(T, send_recv)));
#undef T
#define T lsc_async_status
    STRUCT(T, (FIELD(T, status), FIELD(T, reserved), FIELD(T, row), FIELD(T, col)));
#undef T
#define T lsc_assess_opts
    STRUCT(T, (FIELD(T, size), FIELD(T, splits), FIELD(T, seed), FIELD(T, memorisation_factor),
               FIELD(T, inactive_factor),
               FIELD(T, prdc), FIELD(T, real_labels), FIELD(T, fake_labels),
               FIELD(T, near_distance), FIELD(T, order_uncovered)));
#undef T
#define T lsc_verdict
    STRUCT(T, (FIELD(T, size), FIELD(T, check), FIELD(T, level), FIELD(T, statistic),
               FIELD(T, value), FIELD(T, matched), FIELD(T, baseline), FIELD(T, spread),
               FIELD(T, method), FIELD(T, interval_lo), FIELD(T, interval_hi), FIELD(T, effect),
               FIELD(T, score), FIELD(T, borderline_line), FIELD(T, collapse_line),
               FIELD(T, why)));
#undef T
#define T lsc_class_verdict
    STRUCT(T, (FIELD(T, size), FIELD(T, label), FIELD(T, real_rows), FIELD(T, coverage),
               FIELD(T, level), FIELD(T, matched), FIELD(T, baseline), FIELD(T, spread),
               FIELD(T, effect), FIELD(T, score), FIELD(T, share_level), FIELD(T, share),
               FIELD(T, share_baseline), FIELD(T, share_effect), FIELD(T, share_score)));
#undef T
#define T lsc_twonn_opts
    STRUCT(T, (FIELD(T, size), FIELD(T, max_rows), FIELD(T, seed), FIELD(T, discard_fraction)));
#undef T
#define T lsc_twonn_result
    STRUCT(T, (FIELD(T, size), FIELD(T, rows), FIELD(T, distinct_rows), FIELD(T, duplicate_rows),
               FIELD(T, rows_used), FIELD(T, points_fitted), FIELD(T, dimension),
               FIELD(T, subset)));
#undef T
#define T lsc_hubness_opts
    STRUCT(T, (FIELD(T, size), FIELD(T, k), FIELD(T, metric), FIELD(T, max_rows), FIELD(T, seed)));
#undef T
#define T lsc_hubness_result
    STRUCT(T, (FIELD(T, size), FIELD(T, k), FIELD(T, base_rows), FIELD(T, query_rows),
               FIELD(T, skewness), FIELD(T, robin_hood), FIELD(T, max_occurrence),
               FIELD(T, antihubs), FIELD(T, subset)));
#undef T
#define T lsc_vendi_rbf_opts
    STRUCT(T, (FIELD(T, size), FIELD(T, sigma), FIELD(T, max_rows), FIELD(T, seed)));
#undef T
#define T lsc_vendi_rbf_result
    STRUCT(T, (FIELD(T, size), FIELD(T, rows_used), FIELD(T, sigma), FIELD(T, vendi_q2),
               FIELD(T, tolerance), FIELD(T, subset)));
#undef T

    printf("\n}\n");
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
