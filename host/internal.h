/* Private to the library: the context, error helpers and the backend function table. */
#ifndef LSC_INTERNAL_H
#define LSC_INTERNAL_H

#include "lsc.h"
#include "../common/lsc_common.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LSC_ERR_LEN 512
#define LSC_DEFAULT_WORKSPACE ((size_t)256 << 20)

/* Eigenvalues a backend hands to common/spectrum_figures.h, descending after the pinned cut. */
typedef struct lsc_spectrum_eigs {
    int64_t rows, cols;
    int64_t n_ev;     /* values in each array: cols (D x D Gram) or rows (N x N) */
    double *gram_c;   /* sigma_i^2 of the centred rows */
    double *gram_u;   /* s_i^2 of the uncentred rows */
    double *cos_nu;   /* eigenvalues of K / N */
    double *colvar;   /* cols values */
    int64_t zero_row; /* first all-zero row, -1 if none (then cos_nu is meaningful) */
} lsc_spectrum_eigs;

/* A reference set: the real rows as float32 (dense, ld = cols), their exact radii and the
 * parameters. Read-only once made (lsc_reference_prepare aside): calls given a const one never
 * write it, so any number of threads and contexts may read one at once. */
struct lsc_reference {
    int64_t rows, cols, k;
    lsc_metric metric;
    lsc_comparison comparison;
    float *data;      /* rows x cols, host: owned, or the caller's (borrowed) */
    int owns_data;    /* 0: data is the caller's rows (lsc_reference_opts.borrow_rows) */
    double *radius_v; /* internal value (distance_rules.h) of each k-th neighbour */
    double *radius;   /* reported radius */
    int64_t zero_radii;
    int64_t file_version; /* format version of the file it was loaded from, 0 if built */
    int64_t shard_total;  /* a shard (lsc_reference_create_sharded): the rows of all ranks
                             together and this shard's first global row; 0 and 0 otherwise */
    int64_t shard_first;
    uint64_t serial;     /* unique in the process, never reused: names it in caches */
    unsigned char *half; /* lsc_reference_prepare's result, in the file's 'HALF' section
                            layout (host/reference_file.c): u64 seed, f64 median nearest-
                            neighbour distance, floor(rows / 2) f64 radius values; or NULL */
    /* A device reference (lsc_reference_to_device): the backend and device ordinal that hold
     * its copy, set when it is made and never changed; device_free releases device_data with
     * the reference. All NULL for a host reference. */
    const struct lsc_backend_ops *device_ops;
    int device;
    void *device_data;
    void (*device_free)(void *);
};

/* INVALID_ARGUMENT, naming `what`, for a shard of a reference made on several ranks
 * (lsc_reference_create_sharded): it is not the whole reference the call needs. */
lsc_status lsc_check_whole(lsc_ctx *ctx, const lsc_reference *ref, const char *what);

/* An accumulator's state as plain host values (acc_export, acc_import): its rows, its first
 * all-zero row (-1 if none) and, only when it holds rows, the d-long pivot and sum around it and
 * the upper triangles of its two Grams (centred around the pivot, and cosine), row by row,
 * d (d + 1) / 2 values each. The arrays are the caller's; the triangles are all a merge and the
 * eigensolve read, and half the bytes of the squares. */
typedef struct lsc_acc_state {
    int64_t n, zero_row;
    double *pivot, *sum, *gram, *cosg;
} lsc_acc_state;

/* Optional tests of each generated row fused into the PRDC pass (lsc_prdc_near_rows): whether some
 * reference row lies strictly nearer than `strict_v`, and whether one lies within `incl_v`
 * (inclusive); both internal values (distance_rules.h), a negative one is not tested. `flags`
 * (M bytes, host memory) receives LSC_NEAR_STRICT | LSC_NEAR_INCL of each generated row. They
 * cost a comparison per pair the pass already forms, where a separate nearest-row search costs
 * a second pass. */
typedef struct lsc_prdc_judge lsc_prdc_judge;
typedef struct lsc_prdc_near {
    double strict_v, incl_v;
    unsigned char *flags;
    const lsc_prdc_judge *judge; /* or NULL: the judged subsets below, in the same pass */
} lsc_prdc_near;
#define LSC_NEAR_STRICT 1u
#define LSC_NEAR_INCL 2u

/* lsc_assess's judged subsets of the generated rows (at most LSC_JUDGE_MAX, disjoint) against the
 * judging half A of the reference, decided in the full-size PRDC pass: each pair of a generated
 * row in a subset and a reference row in A is one the pass forms anyway, so the subsets' PRDC
 * against A costs comparisons, not a pass of its own. Every decision is the exact one of the
 * separate pass (section 2's error band, the exact value inside it). Inputs (host memory):
 * `ball_v` and `wide_v` (N): a reference row's radius value in A and the widened ball's, -1 for
 * rows outside A (wide_v: -1 also for rows of A whose wide coverage is not wanted); `subset` (M): a generated row's subset, -1 for none; `sub_v` (M): its radius
 * value among its subset's rows; `strict_v`: the copy test's bound. Outputs, set by the call:
 * `density` (M): balls of A holding the row (subset rows only); `flags` (M): LSC_NEAR_STRICT (a
 * row of A strictly nearer than strict_v) | LSC_NEAR_INCL (a row of A at 0); and, as set-only
 * bytes of subsets x N at [j N + i] for a row i of A:
 *   cov[j N + i]:  some row of subset j lies in row i's ball (coverage);
 *   rec[j N + i]:  row i lies in the ball of some row of subset j (recall);
 *   wide[j N + i]: some row of subset j lies in row i's widened ball. */
#define LSC_JUDGE_MAX 4
struct lsc_prdc_judge {
    const double *ball_v, *wide_v;
    const signed char *subset;
    const double *sub_v;
    int subsets;
    double strict_v;
    int64_t *density;
    unsigned char *cov, *rec, *wide, *flags;
};

/* lsc_prdc_rows with the fused tests above (`near` may be NULL); validates as lsc_prdc_rows. */
lsc_status lsc_prdc_near_rows(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                              lsc_prdc_result *out, unsigned char *real_flags, int64_t *fake_counts,
                              const lsc_prdc_near *near);

/* The backend table (ggml-style). A NULL entry means NOT_SUPPORTED, never a silent fallback.
 * Every entry gets arguments the host has already validated (shapes, enums, finite values for
 * host memory) and reports failures through lsc_set_error. */
typedef struct lsc_backend_ops {
    const char *name;
    lsc_status (*init)(lsc_ctx *ctx);
    void (*fini)(lsc_ctx *ctx);
    lsc_status (*set_stream)(lsc_ctx *ctx, void *stream);

    /* one-call spectrum: fills eigs (arrays allocated by the host, cols or more values each) */
    lsc_status (*spectrum)(lsc_ctx *ctx, const lsc_matrix *x, lsc_spectrum_eigs *eigs);
    lsc_status (*acc_create)(lsc_ctx *ctx, int64_t cols, void **state);
    lsc_status (*acc_add)(lsc_ctx *ctx, void *state, const lsc_matrix *batch);
    lsc_status (*acc_merge)(lsc_ctx *ctx, void *into, const void *from);
    lsc_status (*acc_eigs)(lsc_ctx *ctx, const void *state, lsc_spectrum_eigs *eigs);
    void (*acc_destroy)(void *state);

    lsc_status (*distances)(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                            lsc_metric metric, float *out, int64_t ld_out);
    lsc_status (*pair_stats)(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *subset,
                             int64_t n_used, const lsc_pair_opts *opts, lsc_pair_result *out,
                             int64_t *histogram, lsc_pair *near_dups);
    lsc_status (*knn)(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base, int64_t k,
                      const lsc_knn_opts *opts, float *dist, int64_t *idx);
    /* computes ref->radius_v / radius / zero_radii for a reference whose data is filled in */
    lsc_status (*reference_radii)(lsc_ctx *ctx, lsc_reference *ref);
    /* real_flags (N bytes, LSC_ROW_* bits) and fake_counts (M): host memory, each may be NULL;
     * so may `near` (the fused tests of lsc_prdc_near) */
    lsc_status (*prdc)(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                       lsc_prdc_result *out, unsigned char *real_flags, int64_t *fake_counts,
                       const lsc_prdc_near *near);

    /* Device-memory matrices only: INVALID_DATA naming `name`, the row and the column of the
     * first NaN/Inf (row-major order), or with `cosine` the first all-zero row, exactly as
     * lsc_check_values words it for host matrices. */
    lsc_status (*check_values)(lsc_ctx *ctx, const lsc_matrix *m, const char *name, int cosine);
    /* Asynchronous forms (lsc.h section 8): validated device inputs, results to device-writable
     * memory, nothing waits. */
    lsc_status (*spectrum_async)(lsc_ctx *ctx, const lsc_matrix *x, double active_threshold,
                                 lsc_spectrum_result *out, lsc_async_status *status);
    lsc_status (*prdc_async)(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                             lsc_prdc_result *out, lsc_async_status *status);

    /* Distribution distances (lsc.h section 11), appended in ABI 4. */
    /* A covariance-only accumulator: the acc_* state without the cosine Gram (one float64 Gram
     * pass); acc_add, acc_merge and acc_destroy serve it. */
    lsc_status (*cov_create)(lsc_ctx *ctx, int64_t cols, void **state);
    /* Its mean (cols) and covariance (cols x cols, row-major, both triangles, ddof 1), host
     * memory; the state holds >= 2 rows. */
    lsc_status (*cov_stats)(lsc_ctx *ctx, const void *state, double *mu, double *sigma);
    /* Kernel sums of common/mmd_rules.h (`kind`, `a`) over rows xs[0..nx) of x and ys[0..ny)
     * of y (host arrays of row indices, distinct within each; NULL: rows 0..n-1), on GEMM
     * tiles: sums[LSC_KSUM_N] in host memory. */
    lsc_status (*kernel_sums)(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *xs, int64_t nx,
                              const lsc_matrix *y, const int64_t *ys, int64_t ny, int kind,
                              double a, double *sums);

    /* Appended in ABI 6. */
    /* Whether the backend serves `what` (an lsc_capability) on this context; the host asks it
     * instead of knowing which backend has device memory. NULL answers 0 to everything. The
     * operations themselves are answered by their entries above being non-NULL. */
    int (*supports)(const lsc_ctx *ctx, int what);
    /* Makes `ref`, a fresh copy no other thread sees yet, a device reference of this context's
     * device: its rows and radii copied once, complete on return, in ref->device_data and
     * device_free (which must work without a context: the reference may outlive it). */
    lsc_status (*reference_place)(lsc_ctx *ctx, lsc_reference *ref);

    /* Appended in ABI 7. */
    /* An accumulator's state (acc_create's) in host memory, as the sharded spectrum puts it on
     * the wire (host/sharded.c): acc_export reads one, acc_import writes it into a fresh
     * accumulator of the same width, which then merges as the exported one would. */
    lsc_status (*acc_export)(lsc_ctx *ctx, const void *state, lsc_acc_state *out);
    lsc_status (*acc_import)(lsc_ctx *ctx, void *state, const lsc_acc_state *in);
} lsc_backend_ops;

struct lsc_ctx {
    lsc_ctx_params params;
    lsc_status init_status; /* OK, or why the context is unusable */
    lsc_backend backend;
    const lsc_backend_ops *ops;
    void *backend_state;
    void *module;           /* dlopen handle of liblsc_cuda, if loaded */
    int threads;            /* resolved thread count, >= 1 */
    size_t workspace_limit; /* resolved, bytes */
    lsc_progress_fn progress;
    void *progress_user;
    char device_name[160];
    void *assess_cache; /* lsc_assess's reference side of its last call (verdicts.c) */
    char err[LSC_ERR_LEN];
    /* the sharded calls' transport (host/transport.c); transport.ranks == 0: none set */
    lsc_transport transport;
    void (*transport_release)(void *user); /* frees transport.user when lsc made it (MPI) */
    void *transport_module;                /* dlopen handle of liblsc_mpi or _nccl, if loaded */
};

/* Releases what lsc_ctx_set_transport and lsc_ctx_set_mpi hold (host/transport.c). */
void lsc_transport_clear(lsc_ctx *ctx);

/* Frees what lsc_assess keeps in the context (host/verdicts.c). */
void lsc_assess_cache_free(lsc_ctx *ctx);

/* Records a formatted message on ctx and returns `status` (so: return lsc_set_error(...)). */
lsc_status lsc_set_error(lsc_ctx *ctx, lsc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define LSC_CHECK(ctx, cond, status, ...)                                                          \
    do {                                                                                           \
        if (!(cond)) return lsc_set_error((ctx), (status), __VA_ARGS__);                           \
    } while (0)

#define LSC_TRY(expr)                                                                              \
    do {                                                                                           \
        lsc_status lsc_try_s_ = (expr);                                                            \
        if (lsc_try_s_ != LSC_STATUS_OK) return lsc_try_s_;                                        \
    } while (0)

/* Allocation through one place so failures carry a message (and tests can inject them). */
void *lsc_malloc(lsc_ctx *ctx, size_t bytes, const char *what);
void *lsc_calloc(lsc_ctx *ctx, size_t count, size_t size, const char *what);
/* count * size as size_t, or 0 with OVERFLOW recorded. */
lsc_status lsc_bytes(lsc_ctx *ctx, int64_t count, size_t size, size_t *out, const char *what);

/* Allocates a reference of rows x cols with uninitialised rows and radii. */
lsc_status lsc_reference_alloc(lsc_ctx *ctx, int64_t rows, int64_t cols, int with_data,
                               lsc_reference **out);

/* Whether ctx's backend serves `what` (lsc_capability), its entry for it included. */
int lsc_supports(const lsc_ctx *ctx, lsc_capability what);

/* INVALID_ARGUMENT when `ref` is a device reference that ctx cannot read (another backend or
 * device); OK for a host reference or one of ctx's device. */
lsc_status lsc_check_residency(lsc_ctx *ctx, const lsc_reference *ref, const char *name);

/* Reports progress; returns CANCELLED (with message) if the callback asks to stop. */
lsc_status lsc_progress(lsc_ctx *ctx, double fraction);

/* Backends known to the host. */
const lsc_backend_ops *lsc_cpu_backend_ops(void);

/* Name of the CUDA backend's entry point in liblsc_cuda, and the ABI it must report. */
/* Opens an optional module (host/context.c): the file `env_var` names, else `file` beside
 * liblsc, else on the loader's path; NULL with the reason in why. */
void *lsc_module_open(const char *file, const char *env_var, const char *label, char *why,
                      size_t why_len);

#define LSC_CUDA_ENTRY "lsc_cuda_backend_entry"
#define LSC_CUDA_ABI 7
typedef const lsc_backend_ops *(*lsc_cuda_entry_fn)(int abi, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif /* LSC_INTERNAL_H */
