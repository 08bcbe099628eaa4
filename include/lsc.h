/*
 * lsc - latent space collapse metrics.
 * Copyright (c) 2026 The lsc authors. MIT licence (see LICENSE).
 *
 * lsc measures whether a generative model or an encoder has collapsed: its latent codes lose
 * diversity (mode collapse), squeeze into a few directions (dimensional collapse) or, in a VAE,
 * leave most latent units unused (posterior collapse). Every figure is defined in docs/METRICS.md.
 *
 * This header is the manual. Read it top to bottom:
 *   1. version                      5. spectrum (one call, streaming accumulator)
 *   2. status codes                 6. distances, all-pairs statistics, exact kNN
 *   3. context                      7. reference sets and precision / recall / density / coverage
 *   4. matrices                     8. asynchronous forms for training loops (CUDA)
 *
 * Conventions that hold everywhere:
 *   - Every function returns an lsc_status; on failure lsc_last_error(ctx) says what was wrong.
 *   - Every size, count, index and leading dimension is int64_t; byte counts are size_t.
 *   - Inputs are never modified. Outputs are written only on success unless a function says so.
 *   - Matrices are row-major: one row per sample, `ld` elements between row starts, ld >= cols.
 *   - Option, result and info structs start with a `size_t size` field: initialise every one
 *     with its *_INIT macro (or set `size` to its sizeof), results too, before the call. Structs
 *     grow only by appending fields, so a program built against an older header keeps working
 *     with a newer library: the library reads only the option bytes the caller's size covers
 *     (defaults for the rest) and writes only the result bytes it covers. A larger size (a
 *     newer header than the library's) is accepted when the option bytes the library does not
 *     know are zero; results are then zero past the library's fields. Any other size is
 *     INVALID_ARGUMENT, naming both. A NULL options pointer means defaults. lsc_matrix,
 *     lsc_pair and lsc_async_status are fixed records that never change (docs/ABI.md).
 *   - Thread safety: different contexts may be used concurrently from different threads; one
 *     context (and the accumulators and assessments created from it) is used by one thread at a
 *     time. A reference is read-only once made: any threads and contexts may read one at once
 *     (section 7).
 *   - The library never prints, never exits and keeps no global mutable state (beyond the
 *     once-only detection of AMX below, and the one-time initialisation of its private OpenBLAS
 *     copy at the first CPU call: CPU detection, its buffers, no thread; CPU threads below).
 *   - Streams (CUDA backend): work is enqueued on the context's stream. A call whose outputs are
 *     all device memory (lsc_distances and lsc_knn with device outputs, lsc_spectrum_acc_add and
 *     _merge, the asynchronous forms) may return before the device has finished: read those
 *     outputs, or overwrite their device inputs, only after that stream (or work ordered after it)
 *     has reached them. A call that returns figures in host memory waits for its own stream only.
 *   - CPU threads: lsc runs `threads` OpenMP threads of its own; each computes its rows' distance
 *     tiles (and, with up to three threads, the spectrum's Grams and eigenvalues side by side)
 *     with a single-threaded BLAS call. The shared library built where Debian's OpenBLAS
 *     archive is found (the default on Debian and Ubuntu; lsc_ctx_device_name() then ends in
 *     "(tiles on lsc's own one-thread copy)") makes those calls on a private copy of OpenBLAS
 *     inside liblsc, its symbols hidden, run on one thread: the caller's BLAS library, its
 *     thread count and its state are never touched, and contexts on several threads need no
 *     coordination. The calls made outside lsc's threads (the spectrum's Grams with more than
 *     three threads, the eigenvalue problems then, the Frechet distance's) use the BLAS and
 *     LAPACK the library is linked with, at the thread count the caller set. Otherwise (the
 *     static library, other systems) lsc sets OpenBLAS's process-wide thread count to 1 for
 *     the duration of those parallel regions and restores it afterwards: BLAS calls made by
 *     other threads of the process meanwhile run single-threaded, and when two contexts run
 *     such calls at once the first to finish restores the count while the other still runs
 *     (slower, oversubscribed, still correct).
 *   - AMX (CPU backend): on x86-64 CPUs with AMX-BF16 and AVX512-BF16 (Intel Xeon from Sapphire
 *     Rapids on), kNN, reference creation and PRDC compute the products of their prefilter with
 *     AMX tile instructions, as three bfloat16 products whose error band is bounded; every
 *     decision is still made on exact values, so the results are the same as without. The first
 *     such call asks Linux once (Linux 5.16 or later) for the process's permission to use the AMX
 *     state (arch_prctl ARCH_REQ_XCOMP_PERM) and remembers the answer, LSC_CPU_AMX included.
 *     LSC_CPU_AMX=0 in the environment (read at that first call) turns AMX off; tools that
 *     cannot execute AMX instructions (valgrind) need it, and so does a program that must keep
 *     small signal stacks (the permission enlarges every thread's signal frame, so a later
 *     small sigaltstack fails) or that keeps its own AMX tile configuration live across calls
 *     into lsc (lsc loads its own and releases the tiles on the threads it runs on).
 */
#ifndef LSC_H
#define LSC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LSC_STATIC_DEFINE)
#  define LSC_API
#elif defined(_WIN32)
#  ifdef LSC_BUILDING
#    define LSC_API __declspec(dllexport)
#  else
#    define LSC_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define LSC_API __attribute__((visibility("default")))
#else
#  define LSC_API
#endif

/* ============================================================================================== */
/* 1. Version                                                                                     */
/* ============================================================================================== */

#define LSC_VERSION_MAJOR 0
#define LSC_VERSION_MINOR 2
#define LSC_VERSION_PATCH 0
#define LSC_VERSION_NUMBER (LSC_VERSION_MAJOR * 10000 + LSC_VERSION_MINOR * 100 + LSC_VERSION_PATCH)

/** The version of the library actually loaded, "x.y.z". Static storage, never NULL. */
LSC_API const char *lsc_version(void);
/** LSC_VERSION_NUMBER of the library actually loaded (compare with the header's to detect skew). */
LSC_API int lsc_version_number(void);

/* ============================================================================================== */
/* 2. Status codes                                                                                */
/* ============================================================================================== */

/** Result of every call. Values are pinned: new codes are appended, none is renumbered. */
typedef enum lsc_status {
    LSC_STATUS_OK = 0,                  /* success */
    LSC_STATUS_INVALID_ARGUMENT = 1,    /* NULL pointer, bad size, k out of range, unknown enum */
    LSC_STATUS_INVALID_DATA = 2,        /* NaN or Inf in an input, zero row for cosine */
    LSC_STATUS_OUT_OF_MEMORY = 3,       /* a host or device allocation failed */
    LSC_STATUS_WORKSPACE_LIMIT = 4,     /* even the smallest tile does not fit the workspace limit */
    LSC_STATUS_NOT_SUPPORTED = 5,       /* the operation, dtype or memory space is not supported */
    LSC_STATUS_BACKEND_UNAVAILABLE = 6, /* the requested backend is not built or has no device */
    LSC_STATUS_DEVICE_ERROR = 7,        /* a CUDA, cuBLAS or cuSOLVER call failed */
    LSC_STATUS_IO_ERROR = 8,            /* a file could not be opened, read or written */
    LSC_STATUS_BAD_FILE = 9,            /* a file is truncated, corrupt, foreign or a future version */
    LSC_STATUS_CANCELLED = 10,          /* the progress callback asked to stop */
    LSC_STATUS_OVERFLOW = 11,           /* a size product overflows 64 bits or size_t */
    LSC_STATUS_BAD_CONTEXT = 12,        /* the context failed to initialise; see lsc_last_error */
    LSC_STATUS_INTERNAL = 13,           /* a bug in lsc: please report it with the message */
    LSC_STATUS_TRANSPORT_ERROR = 14     /* a collective of the transport (MPI) failed (section 12) */
} lsc_status;
/* Failures any call that takes a context can return, listed once here rather than at each
 * function (whose own list gives the failures specific to it):
 *   - BAD_CONTEXT: the context failed to initialise (lsc_last_error keeps the reason);
 *   - INVALID_ARGUMENT: a NULL pointer where an object is required, or a malformed options
 *     struct (its `size` field);
 *   - OUT_OF_MEMORY: a host allocation, or on the CUDA backend a device allocation, failed;
 *   - WORKSPACE_LIMIT: lsc_ctx_params.workspace_limit cannot hold even the smallest tile of
 *     this call (every call that computes on tiles or Grams: distances, pairs, kNN, references,
 *     PRDC, spectrum, accumulators, KID and MMD, the assessment);
 *   - DEVICE_ERROR (CUDA backend only): a CUDA, cuBLAS or cuSOLVER call failed; the message
 *     names the call, file and line, and the context stays usable unless the error is sticky;
 *   - CANCELLED: the progress callback returned non-zero (calls that report progress);
 *   - INTERNAL: a bug in lsc.
 * lsc_ctx_set_progress fails only as above (a NULL or a failed context); lsc_ctx_set_stream
 * returns DEVICE_ERROR when cuBLAS or cuSOLVER refuses the stream (CUDA backend). The
 * accumulator calls (lsc_spectrum_acc_*, lsc_fd_acc_*) return INVALID_ARGUMENT for mismatched
 * columns, a backend or device other than the accumulator's, or too few rows to finalize,
 * INVALID_DATA for NaN/Inf in a batch (with its row and column), and on the CUDA backend
 * DEVICE_ERROR for an accumulator marked lost. */

/** One-line static description of a status ("invalid argument"). Never NULL, also for unknown
 *  values. */
LSC_API const char *lsc_status_string(lsc_status status);
/** The enum name of a status ("LSC_STATUS_INVALID_ARGUMENT"); "LSC_STATUS_UNKNOWN" if unknown. */
LSC_API const char *lsc_status_name(lsc_status status);

/* ============================================================================================== */
/* 3. Context                                                                                     */
/* ============================================================================================== */

/** Which implementation runs the work. */
typedef enum lsc_backend {
    LSC_BACKEND_AUTO = 0, /* CUDA when built with it, a device is present and it supports every
                             operation; otherwise the CPU */
    LSC_BACKEND_CPU = 1,  /* BLAS/LAPACK and threads on the host */
    LSC_BACKEND_CUDA = 2  /* the GPU, through the separately loaded module liblsc_cuda */
} lsc_backend;
/* The CUDA module is liblsc_cuda.so.<major> from the directory of the liblsc that loads it, else
 * from the loader's search path, loaded (RTLD_LOCAL) when a context is created for CUDA or
 * AUTO, after libcuda.so.1 is found. LSC_CUDA_MODULE in the environment, read at each such
 * creation, names another file instead (tests, relocated installs); the driver is then not
 * looked for first. A module built for another module ABI is refused with the reason. */

/** Precision policy for the bulk (GEMM) part of distance work. Decisions are always exact. */
typedef enum lsc_precision {
    LSC_PRECISION_FP32 = 0 /* IEEE float32 products (TF32 off); the only policy so far */
} lsc_precision;

/** Progress callback: `fraction` runs from 0 to 1 over one call. It is called on the calling
 *  thread between tiles. Return 0 to go on, non-zero to stop the call with
 *  LSC_STATUS_CANCELLED. A cancelled call writes no output, except lsc_distances, whose block
 *  may then be partly written. lsc_spectrum_acc_add never calls it (it cannot be cancelled
 *  half-way, so a failed add leaves the accumulator unchanged). */
typedef int (*lsc_progress_fn)(double fraction, void *user_data);

/** Device memory allocator for the CUDA backend's scratch (its workspace, tiles and staging).
 *  Both are called on the calling thread with the stream the work is enqueued on (a
 *  cudaStream_t as void *); the memory may be handed out stream-ordered, as cudaMallocAsync
 *  does. `device_alloc` returns NULL when it cannot serve the request: lsc then retries with
 *  smaller tiles and, if even the smallest does not fit, fails with LSC_STATUS_OUT_OF_MEMORY.
 *  Use it to share a framework's caching allocator (PyTorch's, say) or to test out-of-memory
 *  paths. Leave both NULL for the default (cudaMallocAsync / cudaFreeAsync). */
typedef void *(*lsc_device_alloc_fn)(size_t bytes, void *stream, void *user_data);
typedef void (*lsc_device_free_fn)(void *ptr, size_t bytes, void *stream, void *user_data);

/** Parameters of a context. Initialise with LSC_CTX_PARAMS_INIT, then set what you need. */
typedef struct lsc_ctx_params {
    size_t size;            /* sizeof(lsc_ctx_params): set by LSC_CTX_PARAMS_INIT */
    lsc_backend backend;    /* default LSC_BACKEND_AUTO */
    int device;             /* CUDA device ordinal, default 0; ignored by the CPU backend */
    void *stream;           /* cudaStream_t to work on, NULL = a stream the context creates */
    int threads;            /* CPU threads for lsc's own loops, 0 = one per online core */
    size_t workspace_limit; /* bytes of scratch the context may hold, 0 = default (256 MiB) */
    lsc_precision precision;/* default LSC_PRECISION_FP32 */
    lsc_device_alloc_fn device_alloc; /* NULL = cudaMallocAsync; set both or neither */
    lsc_device_free_fn device_free;   /* NULL = cudaFreeAsync */
    void *allocator_user;             /* passed to device_alloc and device_free */
} lsc_ctx_params;

#define LSC_CTX_PARAMS_INIT \
    { sizeof(lsc_ctx_params), LSC_BACKEND_AUTO, 0, NULL, 0, 0, LSC_PRECISION_FP32, NULL, NULL, NULL }

/** Opaque context: owns the backend, its handles, the workspace and the last error message. */
typedef struct lsc_ctx lsc_ctx;

/**
 * Creates a context. `params` may be NULL (defaults). On success returns LSC_STATUS_OK.
 * On failure returns the reason and *still* stores a context in *out, in an error state, whose
 * lsc_last_error() says why (SQLite's sqlite3_open pattern); every other call on it returns
 * LSC_STATUS_BAD_CONTEXT. Only when memory for the context itself runs out is *out NULL.
 * Destroy it in both cases. Returns INVALID_ARGUMENT if out is NULL or params is malformed,
 * BACKEND_UNAVAILABLE if CUDA was asked for and cannot be used (not built, no driver, no device).
 * Blocks while a CUDA backend initialises.
 */
LSC_API lsc_status lsc_ctx_create(const lsc_ctx_params *params, lsc_ctx **out);

/** Destroys a context; NULL is harmless. Waits for the context's own stream only. */
LSC_API void lsc_ctx_destroy(lsc_ctx *ctx);

/** The detail of the last failed call on `ctx` ("fake: row 17 col 3 is NaN"); "" after a
 *  successful call. Owned by the context, valid until its next call. Never NULL; for a NULL
 *  context it says so. */
LSC_API const char *lsc_last_error(const lsc_ctx *ctx);

/** The backend the context runs on (never AUTO once created; AUTO for a failed context). */
LSC_API lsc_backend lsc_ctx_backend(const lsc_ctx *ctx);

/** A short human description of where the work runs ("cpu: 2 threads, OpenBLAS" or the GPU
 *  model). Owned by the context. Never NULL. */
LSC_API const char *lsc_ctx_device_name(const lsc_ctx *ctx);

/** Sets the CUDA stream (a cudaStream_t passed as void *) used from the next call on; NULL
 *  selects the context's own stream. The stream set before must still exist when this is
 *  called (the new stream is ordered after the work lsc queued on it), and a stream that is
 *  set must outlive its use by the context, lsc_ctx_destroy included (which waits for it).
 *  Accepted and ignored by the CPU backend. */
LSC_API lsc_status lsc_ctx_set_stream(lsc_ctx *ctx, void *stream);

/** Sets (or with fn NULL clears) the progress / cancel callback. */
LSC_API lsc_status lsc_ctx_set_progress(lsc_ctx *ctx, lsc_progress_fn fn, void *user_data);

/** What a context's backend can do beyond host-memory calls. Values are pinned; new ones are
 *  appended. Added in 0.3. */
typedef enum lsc_capability {
    LSC_CAP_DEVICE_MEMORY = 1,   /* matrices in LSC_MEMORY_DEVICE as inputs, and device-memory
                                    outputs of lsc_distances and lsc_knn */
    LSC_CAP_SPECTRUM_ASYNC = 2,  /* lsc_spectrum_async */
    LSC_CAP_PRDC_ASYNC = 3,      /* lsc_prdc_async */
    LSC_CAP_DEVICE_REFERENCE = 4 /* lsc_reference_to_device */
} lsc_capability;

/** Stores in *answer 1 when the context's backend serves `what`, else 0 (the calls it names then
 *  return NOT_SUPPORTED). The CPU backend answers 0 to all of them, the CUDA backend 1. Lets a
 *  program choose its path (keep tensors on the device, enqueue asynchronously) without knowing
 *  which backend AUTO chose. Returns INVALID_ARGUMENT for an unknown `what` or a NULL answer.
 *  Added in 0.3. */
LSC_API lsc_status lsc_ctx_supports(lsc_ctx *ctx, lsc_capability what, int *answer);

/* ============================================================================================== */
/* 4. Matrices                                                                                    */
/* ============================================================================================== */

/** Element type. float16, bfloat16 and float64 are converted to float32 tile by tile (never as
 *  a whole copy); the figures are those of the float32 values (docs/METRICS.md). */
typedef enum lsc_dtype {
    LSC_DTYPE_F32 = 0,
    LSC_DTYPE_F16 = 1, /* IEEE binary16 */
    LSC_DTYPE_BF16 = 2,
    LSC_DTYPE_F64 = 3
} lsc_dtype;

/** Where a buffer lives. */
typedef enum lsc_memory {
    LSC_MEMORY_HOST = 0,
    LSC_MEMORY_DEVICE = 1 /* CUDA device memory (or managed memory) of the context's device */
} lsc_memory;

/** A read-only view of a rows x cols matrix; row i starts at element i * ld. Not owned. */
typedef struct lsc_matrix {
    const void *data;
    lsc_dtype dtype;
    int64_t rows;
    int64_t cols;
    int64_t ld;        /* elements between row starts, >= cols */
    lsc_memory memory;
} lsc_matrix;

/** A dense row-major host float32 matrix view (the common case). */
LSC_API lsc_matrix lsc_matrix_f32(const float *data, int64_t rows, int64_t cols);

/** Size in bytes of one element of `dtype`, 0 for an unknown dtype. */
LSC_API size_t lsc_dtype_size(lsc_dtype dtype);

/* ---- seeded subsets and splits (docs/METRICS.md section 7) ----------------------------------- */

/** Row at position `j` of the seeded permutation pi of 0..n-1 that every subset and split in lsc
 *  is drawn from: the same for (seed, n) on every backend, process and version from 0.2 on, and
 *  computed for any j without the positions before it. -1 unless n >= 1 and 0 <= j < n. */
LSC_API int64_t lsc_permute(uint64_t seed, int64_t n, int64_t j);
/** Position of row `i` in that permutation (the inverse of lsc_permute). -1 when out of range. */
LSC_API int64_t lsc_permute_inverse(uint64_t seed, int64_t n, int64_t i);
/** The seeded subset of `count` of `n` rows at positions offset..offset+count-1 of the
 *  permutation, in ascending row order, into rows[count] (host memory). Subsets of one seed at
 *  disjoint positions are disjoint. Needs n >= 1, offset >= 0, count >= 0, offset + count <= n.
 *  Returns INVALID_ARGUMENT (with the reason in lsc_last_error), OUT_OF_MEMORY. */
LSC_API lsc_status lsc_sample_rows(lsc_ctx *ctx, uint64_t seed, int64_t n, int64_t offset,
                                   int64_t count, int64_t *rows);

/* ============================================================================================== */
/* 5. Spectrum of one set (docs/METRICS.md section 1)                                             */
/* ============================================================================================== */

typedef struct lsc_spectrum_opts {
    size_t size;             /* sizeof(lsc_spectrum_opts) */
    double active_threshold; /* a column is an active unit if its variance exceeds this; 0.01 */
} lsc_spectrum_opts;

#define LSC_SPECTRUM_OPTS_INIT { sizeof(lsc_spectrum_opts), 0.01 }

/** Why vendi_cosine is unavailable. */
typedef enum lsc_vendi_status {
    LSC_VENDI_OK = 0,
    LSC_VENDI_ZERO_ROW = 1 /* a row is all zeros: its cosine is undefined */
} lsc_vendi_status;

/** Every figure of docs/METRICS.md section 1, computed once from the eigenvalues (common/). */
typedef struct lsc_spectrum_result {
    size_t size;                /* sizeof(lsc_spectrum_result): set by the caller */
    int64_t rows;               /* N */
    int64_t cols;               /* D */
    int64_t rank_limit;         /* m = min(N, D): length of singular_values */
    int64_t numerical_rank;     /* centred singular values left non-zero by the pinned cut */
    double effective_rank;
    double rankme;
    double participation_ratio;
    double stable_rank;
    int64_t dims_90;
    int64_t dims_99;
    int64_t active_units;
    double active_threshold;    /* the threshold used */
    double total_variance;
    double largest_singular_value;
    double vendi_cosine;        /* meaningful only when vendi_status == LSC_VENDI_OK; else 0 */
    lsc_vendi_status vendi_status;
    int64_t vendi_zero_row;     /* index of the first all-zero row when vendi is unavailable */
    int all_rows_identical;     /* 1 if every row is the same: rank figures pinned to 0 */
    /* appended in 0.3: Vendi of other orders q (Pasarkar & Dieng 2024), same kernel and
     * availability as vendi_cosine (which is q = 1), and the spectrum's decay */
    double vendi_cosine_q0;     /* eigenvalues of K / N above the pinned numerical zero */
    double vendi_cosine_q2;     /* 1 / sum nu_i^2 */
    double vendi_cosine_qinf;   /* 1 / max nu_i */
    double alpha_req;           /* alpha-ReQ (Agrawal et al. 2022): minus the slope of the least
                                   squares line of log lambda_i on log i over the covariance's
                                   non-zero eigenvalues i = 1..alpha_req_ranks; 0 when fewer
                                   than 3 are non-zero */
    double alpha_req_r2;        /* that fit's coefficient of determination (0 with < 3 ranks) */
    int64_t alpha_req_ranks;    /* eigenvalues the fit used (the numerical rank, or 0) */
} lsc_spectrum_result;

#define LSC_SPECTRUM_RESULT_INIT                                                                \
    { sizeof(lsc_spectrum_result), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, LSC_VENDI_OK, 0, 0, \
      0, 0, 0, 0, 0, 0 }

/**
 * Spectrum of x (rows = samples, N >= 2). Writes every figure to *out; if `singular_values`
 * is not NULL it receives the min(N, D) centred singular values, descending, after the pinned
 * cut; if `column_variance` is not NULL it receives the D per-column sample variances (ddof 1).
 * Both output arrays are host memory owned by the caller. opts may be NULL.
 * Uses a float64 Gram of the cheaper side (D x D, or N x N when N < D) and LAPACK's symmetric
 * eigensolver. Returns INVALID_ARGUMENT (NULL, N < 2, D < 1, ld < cols, bad dtype),
 * INVALID_DATA (NaN/Inf, with row and column), OVERFLOW, OUT_OF_MEMORY, CANCELLED. Blocks.
 */
LSC_API lsc_status lsc_spectrum(lsc_ctx *ctx, const lsc_matrix *x, const lsc_spectrum_opts *opts,
                                lsc_spectrum_result *out, double *singular_values,
                                double *column_variance);

/** Streaming spectrum: rows arrive in batches of any size, accumulators merge in any order. It
 *  keeps D x D float64 state (a Gram around a pivot, the cosine Gram) whatever N is. */
typedef struct lsc_spectrum_acc lsc_spectrum_acc;

/** Creates an accumulator for rows of `cols` columns on ctx's backend. opts may be NULL. */
LSC_API lsc_status lsc_spectrum_acc_create(lsc_ctx *ctx, int64_t cols,
                                           const lsc_spectrum_opts *opts,
                                           lsc_spectrum_acc **out);
/** Adds the rows of `batch` (any number >= 1, batch->cols must equal the accumulator's). On
 *  failure the accumulator is unchanged, with one exception on the CUDA backend: a device or
 *  library error part-way through a batch may leave part of it added, so the accumulator is
 *  then marked lost and every later add, merge or finalize on it returns DEVICE_ERROR. A CUDA
 *  accumulator is used only by contexts on the device it was created on (else
 *  INVALID_ARGUMENT), and calls on one accumulator from contexts with different streams must
 *  be ordered by the caller. */
LSC_API lsc_status lsc_spectrum_acc_add(lsc_ctx *ctx, lsc_spectrum_acc *acc,
                                        const lsc_matrix *batch);
/** Adds everything `from` holds into `into` (same cols, same backend); `from` is unchanged. */
LSC_API lsc_status lsc_spectrum_acc_merge(lsc_ctx *ctx, lsc_spectrum_acc *into,
                                          const lsc_spectrum_acc *from);
/** Rows added so far (through add and merge); -1 for NULL. */
LSC_API int64_t lsc_spectrum_acc_rows(const lsc_spectrum_acc *acc);
/** Computes the figures of everything added so far (needs >= 2 rows); the accumulator is
 *  unchanged and may keep growing. Output arrays as for lsc_spectrum. */
LSC_API lsc_status lsc_spectrum_acc_finalize(lsc_ctx *ctx, const lsc_spectrum_acc *acc,
                                             lsc_spectrum_result *out, double *singular_values,
                                             double *column_variance);
/** Destroys an accumulator; NULL is harmless. */
LSC_API void lsc_spectrum_acc_destroy(lsc_spectrum_acc *acc);

/* ============================================================================================== */
/* 6. Distances, all-pairs statistics, exact k nearest neighbours (docs/METRICS.md sections 2-4)  */
/* ============================================================================================== */

typedef enum lsc_metric {
    LSC_METRIC_EUCLIDEAN = 0,   /* ||x - y|| */
    LSC_METRIC_SQEUCLIDEAN = 1, /* ||x - y||^2 (distance blocks only) */
    LSC_METRIC_COSINE = 2       /* 1 - cos(x, y) = ||x/|x| - y/|y|||^2 / 2; a zero row is an error */
} lsc_metric;

/**
 * The a->rows x b->rows block of distances, out[i * ld_out + j] = d(a_i, b_j), as float32.
 * Computed with the centred fast form (one GEMM); entries whose fast value cannot be trusted
 * (near zero) are recomputed exactly, so a self-distance is exactly 0. `out` lives in
 * `out_memory` (HOST on the CPU backend) and must hold a->rows rows of ld_out >= b->rows floats.
 * Returns INVALID_ARGUMENT, INVALID_DATA, OVERFLOW, OUT_OF_MEMORY, NOT_SUPPORTED, CANCELLED;
 * on failure after validation (out of memory, cancelled) `out` may be partly written.
 */
LSC_API lsc_status lsc_distances(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                                 lsc_metric metric, float *out, int64_t ld_out,
                                 lsc_memory out_memory);

/** One pair of rows and their exact distance. */
typedef struct lsc_pair {
    int64_t i; /* i < j, row indices of the input matrix (also when a subset was used) */
    int64_t j;
    double d;
} lsc_pair;

typedef struct lsc_pair_opts {
    size_t size;            /* sizeof(lsc_pair_opts) */
    lsc_metric metric;      /* EUCLIDEAN (default) or COSINE */
    int64_t bins;           /* histogram bins over [0, B], default 64 */
    double dup_eps;         /* a pair with d <= dup_eps is a near-duplicate; default 1e-6 */
    int64_t dup_report;     /* how many near-duplicate pairs to list, default 100 */
    int64_t subset_rows;    /* 0 or >= rows: every row (exact); else the seeded subset of this
                               many rows drawn by lsc_sample_rows(seed, rows, subset_offset) */
    uint64_t seed;          /* seed of the subset */
    /* appended in 0.2 */
    int64_t subset_offset;  /* first position of the subset in the seeded permutation, default
                               0: subsets with one seed and disjoint position ranges are
                               disjoint (halves, folds); needs subset_offset + subset_rows <=
                               rows */
    /* appended in 0.3 */
    int64_t uniformity;     /* 1: also lsc_pair_result.uniformity, in the same pass (an exp per
                               pair: 1.05-1.08x the pass from D = 4 on an AVX-512 CPU, up
                               to 1.12x on rows far off the origin at D = 4 to 8; about
                               1.00x at D = 1 to 3, where the rows' signs and harmonics give
                               it in O(N)); 0 (default): not computed, NaN */
} lsc_pair_opts;

#define LSC_PAIR_OPTS_INIT \
    { sizeof(lsc_pair_opts), LSC_METRIC_EUCLIDEAN, 64, 1e-6, 100, 0, 0, 0, 0 }

typedef struct lsc_pair_result {
    size_t size;                /* sizeof(lsc_pair_result): set by the caller */
    int64_t rows_used;          /* N, or the subset size */
    int64_t pairs;              /* rows_used (rows_used - 1) / 2 */
    double mean, std;           /* over all pairs, std with ddof 0 */
    double min, max;            /* exact */
    double nn_mean, nn_median, nn_min, nn_max; /* each row's exact nearest-other distance */
    int64_t near_duplicate_pairs;              /* pairs with d <= dup_eps */
    int64_t near_duplicates_listed;            /* entries written to near_dups */
    int64_t bins;
    double hist_upper;          /* B = 2 max_i ||x_i - mean||: bin j holds B j / bins <= d <
                                   B (j + 1) / bins. For cosine, min(2, 2 R^2) with R the same
                                   bound on the normalised rows (a bound on 1 - cos) */
    int subset;                 /* 1 if a subset of rows was used */
    /* appended in 0.3 */
    double uniformity;          /* log mean over the pairs of exp(-2 ||u_i - u_j||^2), u the
                                   L2-normalised rows (Wang & Isola 2020; a zero row stays 0),
                                   from the same pass (docs/METRICS.md section 9): -4 (spread,
                                   large D) to 0 (every row one direction); NaN unless
                                   lsc_pair_opts.uniformity asked for it */
} lsc_pair_result;

#define LSC_PAIR_RESULT_INIT \
    { sizeof(lsc_pair_result), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/**
 * All-pairs statistics of x over its N(N-1)/2 unordered pairs, never storing N x N (N >= 2).
 * `histogram` (may be NULL) receives opts->bins counts; `near_dups` (may be NULL) receives up to
 * opts->dup_report pairs ordered by d, then i, then j. Both are host memory owned by the caller.
 * Returns INVALID_ARGUMENT, INVALID_DATA, OVERFLOW, OUT_OF_MEMORY, CANCELLED.
 */
LSC_API lsc_status lsc_pair_stats(lsc_ctx *ctx, const lsc_matrix *x, const lsc_pair_opts *opts,
                                  lsc_pair_result *out, int64_t *histogram, lsc_pair *near_dups);

typedef struct lsc_knn_opts {
    size_t size;            /* sizeof(lsc_knn_opts) */
    lsc_metric metric;      /* EUCLIDEAN (default) or COSINE */
    int exclude_self;       /* queries and base are the same set; row i is not its own neighbour */
    lsc_memory out_memory;  /* where dist and idx live, default HOST */
} lsc_knn_opts;

#define LSC_KNN_OPTS_INIT { sizeof(lsc_knn_opts), LSC_METRIC_EUCLIDEAN, 0, LSC_MEMORY_HOST }

/**
 * Exact k nearest neighbours of each query row among the base rows: dist[q * k + t] and
 * idx[q * k + t], t = 0..k-1, ascending distance, ties broken by the smaller base index. Every
 * distance is the exact value (float64 sum, rounded to float32). With opts->exclude_self the
 * base must be NULL or the very same matrix as queries. Requires 1 <= k <= base rows (minus one
 * with exclude_self). Working memory O(Q k) plus fixed tiles.
 * Returns INVALID_ARGUMENT, INVALID_DATA, OVERFLOW, OUT_OF_MEMORY, CANCELLED.
 */
LSC_API lsc_status lsc_knn(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base,
                           int64_t k, const lsc_knn_opts *opts, float *dist, int64_t *idx);

/* ============================================================================================== */
/* 7. Reference sets and PRDC (docs/METRICS.md section 5)                                         */
/* ============================================================================================== */

/** Comparison used by precision, recall, density and coverage. */
typedef enum lsc_comparison {
    LSC_COMPARISON_STRICT = 0,   /* d < r, as Naeem et al.'s code (default) */
    LSC_COMPARISON_INCLUSIVE = 1 /* d <= r, as Kynkaanniemi et al.'s code and torch-fidelity */
} lsc_comparison;

typedef struct lsc_reference_opts {
    size_t size;               /* sizeof(lsc_reference_opts) */
    lsc_metric metric;         /* EUCLIDEAN (default) or COSINE */
    lsc_comparison comparison; /* default STRICT */
    int borrow_rows;           /* 1: when `real` is dense float32 host memory (ld = cols), the
                                  reference reads its rows where they are instead of copying
                                  them (N x D x 4 bytes saved); the caller then keeps them alive
                                  and unchanged until lsc_reference_destroy. Other inputs are
                                  copied as with 0 (the default). lsc never writes them. */
} lsc_reference_opts;

#define LSC_REFERENCE_OPTS_INIT \
    { sizeof(lsc_reference_opts), LSC_METRIC_EUCLIDEAN, LSC_COMPARISON_STRICT, 0 }

/** A real set kept with its k-NN radii: built once, reused against many generated sets. It
 *  holds a float32 copy of the real rows (or, with opts->borrow_rows, reads the caller's). A
 *  reference is read-only once made: no call that takes a `const lsc_reference *` changes it, so
 *  one reference may be used by any number of threads and contexts at once (only
 *  lsc_reference_prepare and lsc_reference_destroy need it to themselves).
 *
 *  Where it lives. A reference from lsc_reference_create or _load is a host reference: every
 *  backend can use it, and a CUDA context copies its rows (and radii) to the device for each
 *  call that needs them (N x D x 4 + N x 8 bytes across the bus, one pass over them, and up to
 *  2 N x D x 4 + 3 N x 8 bytes of device memory from the context's allocator, given back at the
 *  end of the call).
 *  To pay that once, make a device reference with lsc_reference_to_device: it keeps its own
 *  copy on one device, which calls on that device read without copying. */
typedef struct lsc_reference lsc_reference;

/** Facts about a reference. */
typedef struct lsc_reference_info {
    size_t size;               /* sizeof(lsc_reference_info): set by the caller */
    int64_t rows, cols, k;
    lsc_metric metric;
    lsc_comparison comparison;
    int64_t zero_radii;        /* radii that are 0 (k or more exact duplicates) */
    /* appended in 0.2 */
    int64_t file_version;      /* format version of the file it was loaded from; 0 if built */
    int32_t prepared;          /* 1 when lsc_reference_prepare's result is held (built here or
                                  read from the file), else 0 */
    uint64_t prepared_seed;    /* the seed it was prepared for */
    /* appended in 0.3 */
    int64_t total_rows;        /* rows of the whole reference: `rows` itself, or for a shard
                                  (lsc_reference_create_sharded) the rows of all ranks; a shard
                                  of several is one where total_rows > rows */
    int64_t first_row;         /* the global index of this shard's first row; 0 if whole */
} lsc_reference_info;

#define LSC_REFERENCE_INFO_INIT                                                                \
    { sizeof(lsc_reference_info), 0, 0, 0, LSC_METRIC_EUCLIDEAN, LSC_COMPARISON_STRICT, 0, 0, 0, \
      0, 0, 0 }

/**
 * Builds a reference from `real` (N rows) with k-NN radii (self excluded), 1 <= k < N. opts may
 * be NULL. Returns INVALID_ARGUMENT, INVALID_DATA, OVERFLOW, OUT_OF_MEMORY, CANCELLED.
 */
LSC_API lsc_status lsc_reference_create(lsc_ctx *ctx, const lsc_matrix *real, int64_t k,
                                        const lsc_reference_opts *opts, lsc_reference **out);
/** Writes a reference to `path`: a versioned little-endian binary file whose trailing checksum
 *  covers every byte. It is written under a temporary name beside `path` and renamed over it
 *  when complete (a failed save leaves what was there), created with mode 0666 less the
 *  process's umask, like any new file. Returns INVALID_ARGUMENT, IO_ERROR. */
LSC_API lsc_status lsc_reference_save(lsc_ctx *ctx, const lsc_reference *ref, const char *path);
/** Reads a reference written by lsc_reference_save. Refuses truncated, corrupt, foreign and
 *  future-version files with BAD_FILE and a message; IO_ERROR if it cannot be read. */
LSC_API lsc_status lsc_reference_load(lsc_ctx *ctx, const char *path, lsc_reference **out);
/** Fills *info (info->size set by the caller). Returns INVALID_ARGUMENT for NULL or a bad
 *  size. */
LSC_API lsc_status lsc_reference_info_get(const lsc_reference *ref, lsc_reference_info *info);
/** The N exact radii r_i (float64) in row order, or NULL for NULL. Owned by the reference. */
LSC_API const double *lsc_reference_radii(const lsc_reference *ref);
/** The N x D float32 rows the reference holds (row-major, ld = D, host memory; the caller's own
 *  with borrow_rows), or NULL for NULL. Owned by the reference; valid until it is destroyed.
 *  Added in 0.2. */
LSC_API const float *lsc_reference_rows(const lsc_reference *ref);
/**
 * Computes what lsc_assess needs from the reference alone for `seed` (lsc_assess_opts.seed): the
 * k-NN radii of its judging half and that half's median nearest-neighbour distance
 * (docs/METRICS.md section 8), and keeps them in the reference, so that lsc_reference_save
 * stores them (an optional section of the version 2 file) and every lsc_assess with that seed,
 * in any process that loads the file, skips that pass (about a quarter of building the
 * reference). The verdicts are the same with or without it. Replaces an earlier preparation;
 * the rows and radii are not touched. Added in 0.2. Returns INVALID_ARGUMENT, OUT_OF_MEMORY,
 * CANCELLED and what lsc_reference_create returns.
 */
LSC_API lsc_status lsc_reference_prepare(lsc_ctx *ctx, lsc_reference *ref, uint64_t seed);
/**
 * A device reference made from `ref` for ctx's device (FAISS's index_cpu_to_gpu): a new
 * reference, its host part (rows, radii, preparation) copied from `ref`, and its rows, centre,
 * converted rows and radii placed once in device memory of ctx's device (about 2 N x D x 4 +
 * 3 N x 8 bytes, from cudaMalloc rather than ctx's allocator, because it outlives ctx). The call
 * waits until the copy is complete. `ref` may be a host reference or a device reference of any
 * device; it is not changed, and either may be destroyed first. Use the new one with any
 * context on the same device: lsc_prdc, lsc_prdc_rows, lsc_prdc_async and lsc_assess read it in
 * place, with no copy (so lsc_prdc_async with it allocates nothing once the workspace has grown,
 * and is safe under CUDA graph capture); any other context (another device, the CPU backend)
 * refuses it with INVALID_ARGUMENT, naming this call. It also
 * serves lsc_reference_save, _info_get, _radii, _rows and _prepare like any reference.
 * lsc_reference_destroy frees the device copy (it waits for the device, as cudaFree does).
 * Not while ctx's stream is being captured. Returns NOT_SUPPORTED where
 * lsc_ctx_supports(ctx, LSC_CAP_DEVICE_REFERENCE) answers 0 (the CPU backend: a host reference
 * is what it reads), OUT_OF_MEMORY (host or device), DEVICE_ERROR. Added in 0.3.
 */
LSC_API lsc_status lsc_reference_to_device(lsc_ctx *ctx, const lsc_reference *ref,
                                           lsc_reference **out);
/** Destroys a reference (a device reference's device copy too); NULL is harmless. */
LSC_API void lsc_reference_destroy(lsc_reference *ref);

typedef struct lsc_prdc_result {
    size_t size;               /* sizeof(lsc_prdc_result): set by the caller */
    int64_t k;
    int64_t real_rows, fake_rows;
    double precision, recall, density, coverage;
    int64_t zero_radii_real;   /* real radii equal to 0 */
    int64_t zero_radii_fake;   /* fake radii equal to 0 */
    lsc_comparison comparison; /* the comparison used */
    lsc_metric metric;
    /* appended in 0.2 */
    double coverage_expected;  /* coverage expected if the generated rows came from the real
                                  rows' own distribution, at these N, M and k (closed form,
                                  docs/METRICS.md section 5): the baseline coverage is judged by */
} lsc_prdc_result;

#define LSC_PRDC_RESULT_INIT                                                                  \
    { sizeof(lsc_prdc_result), 0, 0, 0, 0, 0, 0, 0, 0, 0, LSC_COMPARISON_STRICT,                  \
      LSC_METRIC_EUCLIDEAN, 0 }

/**
 * Precision, recall, density and coverage of `fake` (M rows, 1 <= k < M) against `ref`, with
 * the reference's k, metric and comparison. One pass of fake against the real rows plus the
 * fake set's own radii; working memory O((N + M) k) plus fixed tiles (and, for a host reference
 * on the CUDA backend, its rows' device copy for the call). Returns INVALID_ARGUMENT (NULL,
 * mismatched D, k >= M, a device reference of another device or backend), INVALID_DATA,
 * OVERFLOW, OUT_OF_MEMORY, WORKSPACE_LIMIT, DEVICE_ERROR, CANCELLED.
 */
LSC_API lsc_status lsc_prdc(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                            lsc_prdc_result *out);

/* Bits of lsc_prdc_rows's real_flags. */
#define LSC_ROW_COVERED 1u  /* some generated row lies inside this real row's ball (coverage) */
#define LSC_ROW_RECALLED 2u /* this real row lies inside some generated row's ball (recall) */

/**
 * lsc_prdc, with the per-row outcomes behind its figures (which real rows are covered, which
 * generated rows fall inside the real balls), in host memory the caller owns:
 *   real_flags   N bytes, LSC_ROW_COVERED | LSC_ROW_RECALLED of each real row; may be NULL
 *   fake_counts  M counts: the real balls holding each generated row (density's numerator;
 *                precision counts the nonzero ones); may be NULL
 * Coverage is the share of real rows with LSC_ROW_COVERED, recall of LSC_ROW_RECALLED. Added in
 * 0.2. Returns what lsc_prdc returns.
 */
LSC_API lsc_status lsc_prdc_rows(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                                 lsc_prdc_result *out, unsigned char *real_flags,
                                 int64_t *fake_counts);

/* ============================================================================================== */
/* 8. Asynchronous forms for training loops (CUDA backend)                                        */
/* ============================================================================================== */

/** Outcome of an asynchronous call, written by the device together with its result. */
typedef struct lsc_async_status {
    int32_t status;   /* an lsc_status: LSC_STATUS_OK, or LSC_STATUS_INVALID_DATA when an input
                         holds NaN or Inf (the result's figures are then not meaningful) */
    int32_t reserved; /* 0 */
    int64_t row;      /* first non-finite element, in row-major order; -1 when status is OK */
    int64_t col;
} lsc_async_status;

/**
 * Asynchronous forms of lsc_spectrum and lsc_prdc for use inside a training step. The input is
 * device memory; `out` and `status` point to memory the device can write (device memory, managed
 * memory or pinned host memory). The work is enqueued on the context's stream and the call returns
 * without waiting for it: read `out` after synchronising that stream (or an event recorded on
 * it). Arguments are validated on the host before anything is enqueued (a bad shape returns its
 * status at once); the device checks values and writes `status`. No host synchronisation and, once
 * a first call of the same shapes has grown the workspace, no allocation: such calls are safe
 * under CUDA graph capture. lsc_prdc_async wants a device reference (lsc_reference_to_device) of
 * the context's device: a host reference still works outside capture, its rows copied to the
 * device and device memory allocated for them at every call, and is refused (NOT_SUPPORTED)
 * while the stream is being captured.
 * `status` may be NULL (non-finite input then goes unreported). Returns NOT_SUPPORTED on the CPU
 * backend and for host-memory inputs, and otherwise what the synchronous form returns.
 * A captured graph uses the context's workspace: it stays valid only while no later call on that
 * context grows the workspace (a larger shape, a host input). Keep one context for the captured
 * work, or capture again after such a call.
 */
LSC_API lsc_status lsc_spectrum_async(lsc_ctx *ctx, const lsc_matrix *x,
                                      const lsc_spectrum_opts *opts, lsc_spectrum_result *out,
                                      lsc_async_status *status);
LSC_API lsc_status lsc_prdc_async(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                                  lsc_prdc_result *out, lsc_async_status *status);

/* ============================================================================================== */
/* 9. Verdicts: has the generator collapsed, and how? (docs/METRICS.md section 8)                 */
/* ============================================================================================== */

/** How far a check's statistic departs from what held-out real rows give at the same sizes. */
typedef enum lsc_level {
    LSC_LEVEL_OK = 0,           /* no significant departure, or one below the borderline line */
    LSC_LEVEL_BORDERLINE = 1,   /* significant with a small effect, or a large one not yet sure */
    LSC_LEVEL_COLLAPSE = 2,     /* significant beyond the collapse line */
    LSC_LEVEL_NOT_ASSESSED = 3  /* degenerate input, or the sizes cannot resolve the collapse line */
} lsc_level;

/** The checks, in the order of lsc_assessment_verdict. More may be appended. */
typedef enum lsc_check {
    LSC_CHECK_MODE_COLLAPSE = 0,        /* coverage: real modes without generated rows */
    LSC_CHECK_LOW_FIDELITY = 1,         /* precision: generated rows off the real support */
    LSC_CHECK_DIVERSITY_LOSS = 2,       /* recall and Vendi of centred rows */
    LSC_CHECK_DIMENSIONAL_COLLAPSE = 3, /* effective rank */
    LSC_CHECK_MEMORISATION = 4,         /* generated rows that copy reference rows */
    LSC_CHECK_POSTERIOR_COLLAPSE = 5,   /* latent units without variance */
    LSC_CHECK_COUNT = 6
} lsc_check;

/** "mode_collapse", ...; "unknown" for other values. Static, never NULL. */
LSC_API const char *lsc_check_name(lsc_check check);
/** "ok", "borderline", "collapse", "not_assessed"; "unknown" for other values. */
LSC_API const char *lsc_level_name(lsc_level level);

typedef struct lsc_assess_opts {
    size_t size;                /* sizeof(lsc_assess_opts) */
    int64_t splits;             /* held-out real subsets S the baselines come from, default 16,
                                   4 to 64 */
    uint64_t seed;              /* seed of the halves and subsets (lsc_sample_rows), default 0 */
    double memorisation_factor; /* a generated row copies the reference when its nearest
                                   reference row is nearer than this x the median nearest-
                                   neighbour distance among reference rows; default 0.25 */
    double inactive_factor;     /* a unit is inactive when its variance is below this x the
                                   reference's median unit variance; default 0.01 */
    const lsc_prdc_result *prdc; /* lsc_prdc of this very fake set against this reference when
                                   the caller has it already (its figures become the verdicts'
                                   `value`s, sparing that pass, but then no uncovered rows are
                                   listed); NULL: computed here */
    const int64_t *real_labels; /* N class labels of the reference's rows (any values), or NULL:
                                   with them each class's coverage and share is judged too */
    const int64_t *fake_labels; /* M labels of the generated rows, or NULL: each generated row
                                   then takes the label of its nearest reference row */
    double near_distance;       /* >= 0: also count the generated rows within this distance
                                   (inclusive) of some reference row, in the full-size PRDC pass
                                   at the cost of one comparison per pair
                                   (lsc_assessment_near_rows; not with `prdc` given); default -1:
                                   not counted */
    int64_t order_uncovered;    /* 1 (default): lsc_assessment_uncovered lists the uncovered
                                   reference rows most uncovered first, at the cost of a kNN pass
                                   of them against the generated set (as large as the PRDC pass
                                   when few rows are covered); 0: in row order, without that pass
                                   (a Monitor step's choice). Added in 0.3. */
} lsc_assess_opts;

#define LSC_ASSESS_OPTS_INIT { sizeof(lsc_assess_opts), 16, 0, 0.25, 0.01, NULL, NULL, NULL, -1.0, 1 }

/** One check's verdict and its evidence. */
typedef struct lsc_verdict {
    size_t size;             /* sizeof(lsc_verdict): set by the caller */
    lsc_check check;
    lsc_level level;
    const char *statistic;   /* its name ("coverage"); static */
    double value;            /* the user's figure at full sizes (PRDC against the whole
                                reference, the whole generated set) */
    double matched;          /* the same statistic at the matched sizes the decision uses: m =
                                min(M, N/4, 2000) generated rows against the reference's first half */
    double baseline;         /* mean of the statistic for S subsets of m held-out real rows
                                against the same half */
    double spread;           /* their standard deviation (ddof 1), floored as the document says */
    const char *method;      /* how the baseline was made; static */
    double interval_lo;      /* where `matched` falls with probability 0.99 (two-sided) when the */
    double interval_hi;      /* generated rows come from the real distribution */
    double effect;           /* relative departure in the harmful direction (1 - matched /
                                baseline for losses; the excess fraction for memorisation and
                                inactive units); negative when better than the baseline */
    double score;            /* departure / (spread x sqrt(1/J + 1/S)): the significance test */
    double borderline_line;  /* the effect lines of this check */
    double collapse_line;
    char why[400];           /* one sentence for a human */
} lsc_verdict;

#define LSC_VERDICT_INIT                                                                       \
    { sizeof(lsc_verdict), LSC_CHECK_MODE_COLLAPSE, LSC_LEVEL_OK, NULL, 0, 0, 0, 0, NULL, 0, 0, \
      0, 0, 0, 0, "" }

/** The outcome of lsc_assess: every check's verdict. Opaque, so checks can be added. */
typedef struct lsc_assessment lsc_assessment;

/**
 * Judges the generated set `fake` (host memory) against `ref`: each check compares a statistic of
 * J (up to 4) disjoint subsets of m = min(M, N/4, 2000) generated rows against the reference's first
 * seeded half with the same statistic of S subsets of m held-out real rows from the other half,
 * so the baseline holds at the very same sizes (docs/METRICS.md section 8). Costs the user's PRDC
 * (unless opts->prdc gives it), one reference build of N/2 rows, S + J PRDC and spectrum calls of
 * m rows against it, and kNN (k = 1) passes of the judged rows. The reference is not changed:
 * the context keeps the reference side of the last call instead (about N/2 x D floats; freed by
 * lsc_ctx_destroy), so a next call with the same reference, options and m - a training loop's
 * batches - measures only the generated rows, with the same results a fresh context gives.
 * With M <= k the PRDC-based checks are not assessed; N/2 must exceed k + 1 for them. Returns
 * INVALID_ARGUMENT, INVALID_DATA, NOT_SUPPORTED (device memory), OVERFLOW, OUT_OF_MEMORY,
 * CANCELLED and what the calls it makes return.
 */
LSC_API lsc_status lsc_assess(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                              const lsc_assess_opts *opts, lsc_assessment **out);
/** One check's verdict (out->size set by the caller). INVALID_ARGUMENT for NULL, a bad size or
 *  an unknown check. */
LSC_API lsc_status lsc_assessment_verdict(const lsc_assessment *a, lsc_check check,
                                          lsc_verdict *out);
/** The worst level among the assessed checks (OK when none is); NOT_ASSESSED for NULL. */
LSC_API lsc_level lsc_assessment_level(const lsc_assessment *a);
/** The user's full-size PRDC figures the verdicts' `value`s come from (computed by lsc_assess,
 *  or the caller's lsc_assess_opts.prdc). INVALID_ARGUMENT for NULL, a bad size, or a generated
 *  set of k rows or fewer (no figures). */
LSC_API lsc_status lsc_assessment_prdc(const lsc_assessment *a, lsc_prdc_result *out);

/** One class of the reference's labels (lsc_assess_opts.real_labels), judged like mode collapse
 *  (docs/METRICS.md section 8, "Classes"). */
typedef struct lsc_class_verdict {
    size_t size;             /* sizeof(lsc_class_verdict): set by the caller */
    int64_t label;
    int64_t real_rows;       /* reference rows with this label */
    double coverage;         /* full size: share of them the whole generated set covers (NaN
                                when the caller passed its own PRDC) */
    lsc_level level;         /* missing: this class's coverage loss at matched sizes, Holm-
                                corrected over the classes */
    double matched, baseline, spread, effect, score; /* as lsc_verdict, for that coverage */
    lsc_level share_level;   /* over-produced: the class's share of the generated rows */
    double share;            /* share of generated rows with this label (their own, or their
                                nearest reference row's) at matched sizes */
    double share_baseline;   /* the same share among held-out real rows */
    double share_effect;     /* share / share_baseline - 1 */
    double share_score;
} lsc_class_verdict;

#define LSC_CLASS_VERDICT_INIT                                                                 \
    { sizeof(lsc_class_verdict), 0, 0, 0, LSC_LEVEL_OK, 0, 0, 0, 0, 0, LSC_LEVEL_OK, 0, 0, 0, 0 }

/** Classes judged (0 without labels); classes in ascending label order. */
LSC_API int64_t lsc_assessment_class_count(const lsc_assessment *a);
/** Class i (0 <= i < lsc_assessment_class_count). INVALID_ARGUMENT for NULL, a bad size or i. */
LSC_API lsc_status lsc_assessment_class(const lsc_assessment *a, int64_t i, lsc_class_verdict *out);

/**
 * The reference rows no generated row covers (full-size PRDC), most uncovered first: by the
 * distance to their nearest generated row over their radius, descending (ties by row); in row
 * order when lsc_assess_opts.order_uncovered was 0. Writes up
 * to `cap` row indices to `rows` (may be NULL when cap is 0) and the number of uncovered rows to
 * *count: -1 when lsc_assess did not compute them (the caller passed lsc_assess_opts.prdc).
 */
LSC_API lsc_status lsc_assessment_uncovered(const lsc_assessment *a, int64_t *rows, int64_t cap,
                                            int64_t *count);

/** The generated rows within lsc_assess_opts.near_distance of some reference row (exact
 *  copies at 0), over the whole generated set; -1 when not counted (no near_distance, or the
 *  caller passed its own PRDC) and for NULL. */
LSC_API int64_t lsc_assessment_near_rows(const lsc_assessment *a);

/** Destroys an assessment; NULL is harmless. */
LSC_API void lsc_assessment_destroy(lsc_assessment *a);

/* ============================================================================================== */
/* 10. Geometry of one set: intrinsic dimension, hubness, Vendi, alignment (METRICS.md sec. 9)   */
/* ============================================================================================== */

typedef struct lsc_twonn_opts {
    size_t size;             /* sizeof(lsc_twonn_opts) */
    int64_t max_rows;        /* above this many distinct rows the estimate uses the seeded
                                subset of this many (lsc_sample_rows over the distinct rows in
                                row order); 0: every row. Default 10000, else >= 3 */
    uint64_t seed;           /* seed of that subset, default 0 */
    double discard_fraction; /* share of the largest ratios left out of the fit, default 0.1,
                                0 < f < 1 */
} lsc_twonn_opts;

#define LSC_TWONN_OPTS_INIT { sizeof(lsc_twonn_opts), 10000, 0, 0.1 }

typedef struct lsc_twonn_result {
    size_t size;             /* sizeof(lsc_twonn_result): set by the caller */
    int64_t rows;            /* N given */
    int64_t distinct_rows;   /* rows left when exact duplicates are collapsed to one */
    int64_t duplicate_rows;  /* rows - distinct_rows */
    int64_t rows_used;       /* distinct rows the estimate uses (the subset, or all) */
    int64_t points_fitted;   /* min(floor(rows_used (1 - discard_fraction)), rows_used - 1)
                                ratios in the fit */
    double dimension;        /* TwoNN intrinsic dimension; 0 when every fitted ratio is 1 */
    int subset;              /* 1 if a seeded subset of the distinct rows was used */
} lsc_twonn_result;

#define LSC_TWONN_RESULT_INIT { sizeof(lsc_twonn_result), 0, 0, 0, 0, 0, 0, 0 }

/**
 * TwoNN intrinsic dimension of x (Facco et al. 2017), as scikit-dimension 0.5's TwoNN
 * computes it by default: exact duplicate rows (equal float32 values) are collapsed to one and
 * counted; for each distinct row mu = r2 / r1, the ratio of its second to its first euclidean
 * nearest-neighbour distance; the largest discard_fraction of the mu are left out and the
 * dimension is the slope of the least-squares line through the origin fitting -ln(1 - i / n) on
 * ln mu_(i), the i-th smallest, i = 1..n'. The kNN pass runs on the context's backend. x is host memory, at least 3 distinct
 * rows. opts may be NULL. Returns INVALID_ARGUMENT, INVALID_DATA (NaN/Inf, fewer than 3
 * distinct rows), NOT_SUPPORTED (device memory), OVERFLOW, OUT_OF_MEMORY, CANCELLED. Blocks.
 */
LSC_API lsc_status lsc_twonn(lsc_ctx *ctx, const lsc_matrix *x, const lsc_twonn_opts *opts,
                             lsc_twonn_result *out);

typedef struct lsc_hubness_opts {
    size_t size;             /* sizeof(lsc_hubness_opts) */
    int64_t k;               /* neighbours in each list, default 10 */
    lsc_metric metric;       /* EUCLIDEAN (default) or COSINE */
    int64_t max_rows;        /* above this many rows, each set is the seeded subset of this many
                                (lsc_sample_rows); 0: every row. Default 10000, else > k */
    uint64_t seed;           /* seed of the subsets, default 0 */
} lsc_hubness_opts;

#define LSC_HUBNESS_OPTS_INIT { sizeof(lsc_hubness_opts), 10, LSC_METRIC_EUCLIDEAN, 10000, 0 }

typedef struct lsc_hubness_result {
    size_t size;             /* sizeof(lsc_hubness_result): set by the caller */
    int64_t k;
    int64_t base_rows;       /* rows whose k-occurrence N_k is counted (after the subset) */
    int64_t query_rows;      /* rows whose k-nearest lists are counted (= base_rows within one
                                set) */
    double skewness;         /* of N_k over the base rows: m3 / m2^1.5, moments ddof 0; 0 when
                                every N_k is equal */
    double robin_hood;       /* sum |N_k - mean N_k| / (2 sum N_k), 0 (even) to 1 */
    int64_t max_occurrence;  /* the largest N_k */
    int64_t antihubs;        /* base rows with N_k = 0 */
    int subset;              /* 1 if either set is a seeded subset */
} lsc_hubness_result;

#define LSC_HUBNESS_RESULT_INIT { sizeof(lsc_hubness_result), 0, 0, 0, 0, 0, 0, 0, 0 }

/**
 * Hubness of the k-nearest-neighbour graph (Radovanovic et al. 2010; Robin Hood index of
 * Feldbauer et al. 2018, as scikit-hubness computes it): N_k(y) counts the query rows that have
 * base row y among their k nearest. queries NULL: within base, each row's own index excluded;
 * else the query rows (generated codes) against the base rows (the reference). Both host memory, same
 * columns; base needs more than k rows (k or more with queries). opts may be NULL. Returns
 * INVALID_ARGUMENT, INVALID_DATA, NOT_SUPPORTED (device memory), OVERFLOW, OUT_OF_MEMORY,
 * CANCELLED. Blocks.
 */
LSC_API lsc_status lsc_hubness(lsc_ctx *ctx, const lsc_matrix *base, const lsc_matrix *queries,
                               const lsc_hubness_opts *opts, lsc_hubness_result *out);

/** RBF Vendi score of order 2 options (docs/METRICS.md section 9). */
typedef struct lsc_vendi_rbf_opts {
    size_t size;             /* sizeof(lsc_vendi_rbf_opts) */
    double sigma;            /* bandwidth: K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2)); default
                                10, lsc_mmd's (CMMD's, for unit rows): match it to the features'
                                scale */
    int64_t max_rows;        /* above this many rows the seeded subset of this many
                                (lsc_permute positions 0..max_rows-1); 0: every row. Default
                                10000, else >= 2 */
    uint64_t seed;           /* seed of that subset, default 0 */
} lsc_vendi_rbf_opts;

#define LSC_VENDI_RBF_OPTS_INIT { sizeof(lsc_vendi_rbf_opts), 10.0, 10000, 0 }

typedef struct lsc_vendi_rbf_result {
    size_t size;             /* sizeof(lsc_vendi_rbf_result): set by the caller */
    int64_t rows_used;       /* N, or the subset size */
    double sigma;            /* the bandwidth used */
    double vendi_q2;         /* 1 / ||K / N||_F^2 = N^2 / sum_ij K_ij^2 (i = j included): the
                                RKE mode count, 1 (one point) to N (rows far apart) */
    double tolerance;        /* pinned absolute tolerance of vendi_q2 (section 9) */
    int subset;              /* 1 if a seeded subset was used */
} lsc_vendi_rbf_result;

#define LSC_VENDI_RBF_RESULT_INIT { sizeof(lsc_vendi_rbf_result), 0, 0, 0, 0, 0 }

/**
 * Vendi score of order 2 with the RBF kernel (Friedman & Dieng 2023; the RKE mode count of
 * Jalali et al. 2023): 1 / ||K / N||_F^2 over the rows of x (host or device memory, N >= 2),
 * from one all-pairs kernel sum on GEMM tiles of the backend (the RBF sums of lsc_mmd, with the
 * bandwidth sigma / sqrt(2) that K^2 has), never an N x N matrix. opts may be NULL. Returns
 * INVALID_ARGUMENT, INVALID_DATA (NaN/Inf with row and column), OVERFLOW, OUT_OF_MEMORY,
 * WORKSPACE_LIMIT, NOT_SUPPORTED, DEVICE_ERROR, CANCELLED. Blocks.
 */
LSC_API lsc_status lsc_vendi_rbf(lsc_ctx *ctx, const lsc_matrix *x, const lsc_vendi_rbf_opts *opts,
                                 lsc_vendi_rbf_result *out);

/**
 * Alignment of positive pairs (Wang & Isola 2020), alpha = 2: the mean over i of
 * ||u_i - v_i||^2, u_i and v_i rows i of x and y L2-normalised (a zero row stays the zero
 * vector), in float64: 0 (every pair one direction) to 4. x and y are host memory with the same
 * rows (>= 1) and columns: row i of y is row i of x's positive (another view, augmentation or
 * encoder). A host loop, whatever the backend. Returns INVALID_ARGUMENT (NULL, shapes),
 * INVALID_DATA (NaN/Inf naming x or y, the row and the column), NOT_SUPPORTED (device memory).
 */
LSC_API lsc_status lsc_alignment(lsc_ctx *ctx, const lsc_matrix *x, const lsc_matrix *y,
                                 double *alignment);

/* ============================================================================================== */
/* 11. Distances between two distributions: Frechet distance, KID, RBF MMD (docs/METRICS.md      */
/*     section 10). Rows are samples of any features (Inception, DINOv2, CLIP, ...).               */
/* ============================================================================================== */

/** The Frechet distance between two Gaussians fitted to two sets (docs/METRICS.md section 10.1),
 *  and the terms it is made of. `tolerance` is the pinned absolute tolerance: a figure within it
 *  of 0 (either sign) is 0, and two correct float64 implementations agree within it. */
typedef struct lsc_fd_result {
    size_t size;       /* sizeof(lsc_fd_result): set by the caller */
    int64_t cols;      /* D */
    double fd;         /* ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr((S1^1/2 S2 S1^1/2)^1/2) */
    double mean_term;  /* ||mu1 - mu2||^2 */
    double trace1;     /* tr S1 */
    double trace2;     /* tr S2 */
    double trace_sqrt; /* tr((S1^1/2 S2 S1^1/2)^1/2) */
    double tolerance;  /* sqrt(DBL_EPSILON) D (tr S1 + tr S2) / 2 */
} lsc_fd_result;

#define LSC_FD_RESULT_INIT { sizeof(lsc_fd_result), 0, 0, 0, 0, 0, 0, 0 }

/**
 * Frechet distance from saved statistics: mu1, mu2 (D values) and sigma1, sigma2 (D x D,
 * row-major, symmetric: the upper triangle is read), float64 host memory the caller owns and
 * lsc does not modify. Two symmetric eigenproblems (LAPACK dsyevd), never sqrtm of S1 S2;
 * round-off negatives are clamped to 0 at both steps. Returns INVALID_ARGUMENT (NULL, D < 1, a
 * bad size), INVALID_DATA (a NaN/Inf, naming the array, row and column), OVERFLOW,
 * OUT_OF_MEMORY, INTERNAL (no convergence). Blocks; runs on the host whatever the backend.
 */
LSC_API lsc_status lsc_frechet_distance_stats(lsc_ctx *ctx, int64_t d, const double *mu1,
                                              const double *sigma1, const double *mu2,
                                              const double *sigma2, lsc_fd_result *out);

/**
 * Mean (D values) and covariance (D x D, row-major, both triangles, ddof 1) of x's rows (N >= 2)
 * in float64, as pytorch-fid and clean-fid save them: one float64 Gram pass on ctx's backend.
 * mu and sigma are host memory owned by the caller. Returns INVALID_ARGUMENT (NULL, N < 2),
 * INVALID_DATA (NaN/Inf with row and column), OVERFLOW, OUT_OF_MEMORY, NOT_SUPPORTED,
 * DEVICE_ERROR, CANCELLED. Blocks.
 */
LSC_API lsc_status lsc_fd_stats(lsc_ctx *ctx, const lsc_matrix *x, double *mu, double *sigma);

/** Frechet distance between the rows of a and b (each N >= 2, the same D): lsc_fd_stats of
 *  each, then lsc_frechet_distance_stats. Returns what those return. Blocks. */
LSC_API lsc_status lsc_frechet_distance(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                                        lsc_fd_result *out);

/** Streaming Frechet statistics: mean and covariance of rows arriving in batches, D x D float64
 *  state (a Gram around a pivot: one float64 Gram pass, no cosine Gram), mergeable in any order
 *  (one per shard or rank). Add, merge and the CUDA rules are those of lsc_spectrum_acc. */
typedef struct lsc_fd_acc lsc_fd_acc;

LSC_API lsc_status lsc_fd_acc_create(lsc_ctx *ctx, int64_t cols, lsc_fd_acc **out);
LSC_API lsc_status lsc_fd_acc_add(lsc_ctx *ctx, lsc_fd_acc *acc, const lsc_matrix *batch);
LSC_API lsc_status lsc_fd_acc_merge(lsc_ctx *ctx, lsc_fd_acc *into, const lsc_fd_acc *from);
/** Rows added so far; -1 for NULL. */
LSC_API int64_t lsc_fd_acc_rows(const lsc_fd_acc *acc);
/** Mean and covariance (ddof 1) of everything added so far (needs >= 2 rows), as lsc_fd_stats;
 *  the accumulator is unchanged and may keep growing. */
LSC_API lsc_status lsc_fd_acc_stats(lsc_ctx *ctx, const lsc_fd_acc *acc, double *mu,
                                    double *sigma);
/** Destroys an accumulator; NULL is harmless. */
LSC_API void lsc_fd_acc_destroy(lsc_fd_acc *acc);

/** KID options (docs/METRICS.md section 10.2). */
typedef struct lsc_kid_opts {
    size_t size;         /* sizeof(lsc_kid_opts) */
    int64_t subsets;     /* 100 */
    int64_t subset_rows; /* 1000: each subset has min(subset_rows, N, M) rows of each set */
    uint64_t seed;       /* 0: subsets from lsc's sampler (lsc_permute), independent per subset */
} lsc_kid_opts;

#define LSC_KID_OPTS_INIT { sizeof(lsc_kid_opts), 100, 1000, 0 }

/** KID: the unbiased MMD^2 with the kernel (x.y / D + 1)^3, over seeded subsets. */
typedef struct lsc_kid_result {
    size_t size;         /* sizeof(lsc_kid_result): set by the caller */
    int64_t subsets;
    int64_t subset_rows; /* rows of each set in each subset */
    double mean;         /* mean of the subsets' MMD^2 (may be slightly negative) */
    double std;          /* their standard deviation, ddof 1 (0 for one subset) */
    double tolerance;    /* pinned absolute tolerance of each subset's MMD^2 (section 10.2) */
} lsc_kid_result;

#define LSC_KID_RESULT_INIT { sizeof(lsc_kid_result), 0, 0, 0, 0, 0 }

/**
 * Kernel Inception Distance between the rows of a (N >= 2) and b (M >= 2, the same D), host or
 * device memory; per-subset scores to `scores` (opts->subsets values, host memory) if not NULL.
 * The kernel sums run on GEMM tiles of the backend, never an N x N matrix. opts may be NULL.
 * Returns INVALID_ARGUMENT, INVALID_DATA, OVERFLOW, OUT_OF_MEMORY, WORKSPACE_LIMIT,
 * NOT_SUPPORTED, DEVICE_ERROR, CANCELLED. Blocks.
 */
LSC_API lsc_status lsc_kid(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                           const lsc_kid_opts *opts, lsc_kid_result *out, double *scores);

/** RBF MMD options (docs/METRICS.md section 10.3); the defaults are CMMD's. */
typedef struct lsc_mmd_opts {
    size_t size;  /* sizeof(lsc_mmd_opts) */
    double sigma; /* bandwidth: k(x, y) = exp(-||x - y||^2 / (2 sigma^2)); 10 */
    double scale; /* the figure is scale x MMD^2; 1000 */
} lsc_mmd_opts;

#define LSC_MMD_OPTS_INIT { sizeof(lsc_mmd_opts), 10.0, 1000.0 }

typedef struct lsc_mmd_result {
    size_t size;      /* sizeof(lsc_mmd_result): set by the caller */
    int64_t rows_a, rows_b;
    double mmd;       /* scale x the biased MMD^2 (CMMD's estimator), on the rows as given */
    double tolerance; /* pinned absolute tolerance of `mmd` (section 10.3) */
} lsc_mmd_result;

#define LSC_MMD_RESULT_INIT { sizeof(lsc_mmd_result), 0, 0, 0, 0 }

/**
 * RBF MMD (CMMD's estimator) between every row of a and every row of b (N, M >= 1, the same D),
 * on the rows as given (CMMD's CLIP embeddings are unit rows already; lsc does not normalise).
 * GEMM tiles, never an N x N matrix. opts may be NULL. Returns as lsc_kid. Blocks.
 */
LSC_API lsc_status lsc_mmd(lsc_ctx *ctx, const lsc_matrix *a, const lsc_matrix *b,
                           const lsc_mmd_opts *opts, lsc_mmd_result *out);

/* ============================================================================================== */
/* 12. Beyond one process: transports and sharded operations                                      */
/* ============================================================================================== */

/* A data-parallel job (MPI ranks, torch.distributed processes) holds its rows in shards, one a
 * process. lsc does not run a protocol of its own: the job's engine moves the bytes, through a
 * transport of a few collective calls given to a context, and lsc does each shard's work and the
 * merge. A sharded call is collective: every rank of the transport calls it, in the same order,
 * with its own rows, and every rank gets the same status, message and figures, those of the rows
 * of all ranks concatenated in rank order.
 *
 * Sharded so far: the spectrum (lsc_spectrum_sharded, on the CPU and the CUDA backend, the CUDA
 * backend's shards in host or device memory), exact kNN (lsc_knn_sharded: the same queries
 * against a sharded base, or each rank's rows against every rank's, self excluded), the
 * all-pairs statistics (lsc_pair_stats_sharded), a reference built from sharded real rows
 * (lsc_reference_create_sharded) and PRDC with both sets sharded (lsc_prdc_sharded,
 * lsc_prdc_rows_sharded), saved as one file (lsc_reference_save_sharded) and read back by any
 * number of ranks, each reading only its rows (lsc_reference_load_sharded); all but the spectrum
 * on the CPU backend with host memory. All but the spectrum need the transport's ring step (the
 * kNN against a sharded base merges its lists round the ring, or without one sends every
 * shard's lists to every rank). The verdicts too (lsc_assess_sharded, CPU backend). Not yet:
 * the geometry and distribution figures; they keep running on one process.
 *
 * Errors: before each collective phase the ranks agree on a status (one all-gather of every
 * rank's status and message), so bad input on one rank (NaN, a different column count, a failed
 * allocation) gives every rank that status and that rank's message, prefixed "rank R: ", instead
 * of a hang. A rank that dies or never makes the call is not detected: MPI has no timeouts and
 * Debian 12's Open MPI no fault tolerance, so the other ranks wait in the engine. Handling that
 * (a watchdog, the engine's abort) is the engine's or the caller's. */

/** Element type of an all-reduce. */
typedef enum lsc_elem {
    LSC_ELEM_F64 = 0, /* double */
    LSC_ELEM_I64 = 1  /* int64_t */
} lsc_elem;

/** Reduction of an all-reduce. */
typedef enum lsc_reduce_op {
    LSC_REDUCE_SUM = 0,
    LSC_REDUCE_MIN = 1,
    LSC_REDUCE_MAX = 2
} lsc_reduce_op;

/** The collectives lsc's sharded algorithms need, as callbacks an engine adapter implements.
 *  Each is called on the thread that made the sharded call (never on lsc's OpenMP workers), by
 *  every rank in the same order, and must block until its buffers may be read or reused. Every
 *  buffer lives in `memory` (host memory in every call lsc makes so far; the tag lets device
 *  buffers travel later without a change of signature). Each returns 0 on success; anything
 *  else is a failure, described in `why` (a NUL-terminated message of at most why_len bytes),
 *  which lsc reports as LSC_STATUS_TRANSPORT_ERROR. A failed collective may leave the ranks out
 *  of step: the transport should not be used for lsc again. `user` is lsc_transport.user. */

/** In place over count elements of buf: every rank ends with the reduction over all ranks (sums
 *  in any order the engine chooses, so lsc will sum only integers and take min/max this way).
 *  Part of the contract already, not called by the sharded calls so far. */
typedef int (*lsc_all_reduce_fn)(void *buf, int64_t count, lsc_elem elem, lsc_reduce_op op,
                                 lsc_memory memory, void *user, char *why, size_t why_len);
/** Every rank sends `bytes` bytes from `send`; every rank receives all blocks, rank 0's first,
 *  concatenated into `recv`, whose block of rank r has recv_bytes[r] bytes (the sizes every rank
 *  sends, known to all: recv_bytes[rank] == bytes). Blocks may be empty and may exceed 2^31
 *  bytes. */
typedef int (*lsc_all_gather_fn)(const void *send, size_t bytes, void *recv,
                                  const size_t *recv_bytes, lsc_memory memory, void *user,
                                  char *why, size_t why_len);
/** `bytes` bytes of buf on rank `root` are copied into buf on every other rank. */
typedef int (*lsc_broadcast_fn)(void *buf, size_t bytes, int64_t root, lsc_memory memory,
                                void *user, char *why, size_t why_len);
/** One step of a ring: every rank sends `send_bytes` bytes from `send` to rank (rank + 1) mod
 *  ranks and receives into `recv` the `recv_bytes` bytes rank (rank - 1) mod ranks sends (lsc
 *  passes the sizes it agreed on before, so recv_bytes always equals what that rank sends). The
 *  two buffers do not overlap; either size may be 0 or exceed 2^31 bytes. With one rank, send
 *  is copied into recv. Optional: a transport without it (NULL) runs the calls that need none,
 *  and the ones that do (those passing shards of rows round the ranks) return NOT_SUPPORTED. */
typedef int (*lsc_ring_fn)(const void *send, size_t send_bytes, void *recv, size_t recv_bytes,
                           lsc_memory memory, void *user, char *why, size_t why_len);
/** One point-to-point step: every rank sends `send_bytes` bytes from `send` to rank `dst` and
 *  receives into `recv` the `recv_bytes` bytes rank `src` sends it. Every rank makes the call
 *  together, and the ranks' choices pair up (the rank this one sends to receives from this one);
 *  dst and src are never this rank (there are at least 2 ranks). lsc passes the sizes it agreed
 *  on before, so recv_bytes always equals what src sends; either may be 0, and an engine may then
 *  skip that side, since its partner knows it is 0 too. The buffers do not overlap; either size
 *  may exceed 2^31 bytes. Optional: without it (NULL on some rank), lsc passes shards round the
 *  ring step alone; with it, the sharded self kNN (lsc_knn_sharded with exclude_self, the sharded
 *  reference and PRDC) sends each rank only the parts of other shards it needs (0.62 of the ring's
 *  bytes at 3 and 4 ranks with 64 columns and k = 5, measured). */
typedef int (*lsc_send_recv_fn)(const void *send, size_t send_bytes, int64_t dst, void *recv,
                                size_t recv_bytes, int64_t src, lsc_memory memory, void *user,
                                char *why, size_t why_len);

/** A transport: this process's place among the ranks and the collectives. Initialise with
 *  LSC_TRANSPORT_INIT. */
typedef struct lsc_transport {
    size_t size;                  /* sizeof(lsc_transport): set by LSC_TRANSPORT_INIT */
    int64_t rank;                 /* this process's rank, 0 <= rank < ranks */
    int64_t ranks;                /* how many processes take part, >= 1 */
    void *user;                   /* passed to every callback; owned by the caller */
    lsc_all_reduce_fn all_reduce;
    lsc_all_gather_fn all_gather;
    lsc_broadcast_fn broadcast;
    lsc_ring_fn ring;             /* optional: see lsc_ring_fn */
    lsc_send_recv_fn send_recv;   /* optional: see lsc_send_recv_fn (0.3) */
} lsc_transport;

#define LSC_TRANSPORT_INIT { sizeof(lsc_transport), 0, 1, NULL, NULL, NULL, NULL, NULL, NULL }

/**
 * Gives `ctx` a transport for its sharded calls (lsc copies the struct; `user` stays the
 * caller's and must outlive the context's sharded calls), or with `transport` NULL returns the
 * context to one process (a transport set by lsc_ctx_set_mpi is released then, and by
 * lsc_ctx_destroy). Not collective. Returns INVALID_ARGUMENT (a bad size, ranks < 1, rank out of
 * range, a NULL all_reduce, all_gather or broadcast).
 */
LSC_API lsc_status lsc_ctx_set_transport(lsc_ctx *ctx, const lsc_transport *transport);

/** This context's rank and rank count: 0 and 1 without a transport. Either pointer may be NULL.
 *  Returns INVALID_ARGUMENT for a NULL context, BAD_CONTEXT for a failed one. */
LSC_API lsc_status lsc_ctx_ranks(const lsc_ctx *ctx, int64_t *rank, int64_t *ranks);

/**
 * Gives `ctx` the MPI transport over a communicator of the caller's, passed as the integer
 * MPI_Comm_c2f(comm) returns (an MPI_Comm is a pointer in Open MPI and an int in MPICH, so the
 * Fortran handle is the one form this header can name without including mpi.h). The adapter is
 * the module liblsc_mpi.so.<major>, loaded from the directory of this liblsc, else from the
 * loader's search path (LSC_MPI_MODULE in the environment names another file); it links the
 * Open MPI it was built against. Not collective.
 *
 * The caller initialises and finalises MPI; lsc never calls MPI_Init or MPI_Finalize. MPI must
 * be initialised (and not finalised) with a thread level of at least MPI_THREAD_FUNNELED, and
 * under FUNNELED the sharded calls must come from the thread that initialised MPI: every MPI call
 * lsc makes is made on the thread of the sharded call, none on lsc's OpenMP workers. lsc uses the
 * communicator as given (no duplicate, its error handler unchanged): keep it alive while the
 * context may use it, and do not run other collectives on it from other threads during a sharded
 * call. MPI errors follow that handler: with MPI's default (MPI_ERRORS_ARE_FATAL) they abort the
 * job; with MPI_ERRORS_RETURN they come back as LSC_STATUS_TRANSPORT_ERROR.
 *
 * Returns NOT_SUPPORTED when this lsc was built without the module or it cannot be loaded,
 * INVALID_ARGUMENT when MPI is not initialised, already finalised, initialised below FUNNELED,
 * called from another thread than MPI's main one under FUNNELED, or the handle is not a
 * communicator (each with the reason in lsc_last_error).
 */
LSC_API lsc_status lsc_ctx_set_mpi(lsc_ctx *ctx, int64_t comm_f);

/**
 * Gives `ctx` the NCCL transport over a communicator of the caller's: `comm` is an ncclComm_t
 * and `stream` a cudaStream_t on the communicator's device (NULL: a stream the adapter creates
 * there), both passed as void * so that this header includes neither nccl.h nor CUDA's. For
 * C, C++ and CUDA programs that own a communicator (Python jobs pass their torch.distributed
 * group to the binding instead). The adapter is the module liblsc_nccl.so.<major>, found as the
 * MPI module is (LSC_NCCL_MODULE names another file); it links no NCCL: it takes NCCL's
 * functions from the NCCL already loaded in the process (the one that made `comm`), else from
 * the CUDA toolkit's libnccl.so.2, and needs NCCL 2.7 or newer. Not collective.
 *
 * Each collective runs on `stream` on the communicator's device (the calling thread's current
 * device is restored after) and is waited for, since the sharded calls are synchronous; host
 * buffers pass through a device buffer of the adapter's (grown to the largest collective, freed
 * with the transport). lsc never aborts, finalises or destroys the communicator, which must
 * outlive the context's sharded calls; an error NCCL reports for it (ncclCommGetAsyncError)
 * comes back as LSC_STATUS_TRANSPORT_ERROR and leaves it the caller's to abort.
 *
 * Returns INVALID_ARGUMENT (comm NULL, or NCCL refusing it), NOT_SUPPORTED (this lsc built
 * without the module, the module or NCCL not loadable, an NCCL older than 2.7), DEVICE_ERROR (the
 * stream could not be made), OUT_OF_MEMORY.
 */
LSC_API lsc_status lsc_ctx_set_nccl(lsc_ctx *ctx, void *comm, void *stream);

/**
 * lsc_spectrum of the rows of every rank, concatenated in rank order; collective over ctx's
 * transport (one process without one, where it equals lsc_spectrum up to the D x D path the
 * streaming accumulator takes, section 5). ctx's backend may be the CPU or CUDA (each rank its
 * own context). x holds this rank's rows (host memory, or device
 * memory on a CUDA context: ranks may mix the two; any count >= 0: empty shards are allowed; the
 * same cols on every rank); opts, out, singular_values and column_variance as for lsc_spectrum,
 * on every rank, in host memory (each rank passes its own output arrays).
 *
 * Each rank accumulates its rows (lsc_spectrum_acc, on its backend); the accumulators' states
 * travel as float64 host values in one all-gather and rank 0 merges them in rank order with the
 * pivot-shift merge (float64, on its backend), then solves the eigenproblems and broadcasts the
 * figures, so every rank holds the very same figures. They equal lsc_spectrum's on the
 * concatenated rows within docs/METRICS.md's tolerances (a CUDA context's within the CUDA
 * tolerances), for any rank count and split. Costs per rank: its rows' Grams (2 D^2 float64 of
 * state, on the device for CUDA, plus D (D + 1) float64 of device workspace to copy it out),
 * and, on every rank, the all-gather's receive buffer of every rank's state (P D (D + 3)
 * float64, host memory).
 *
 * Returns on every rank the same status: INVALID_ARGUMENT (a NULL pointer, a bad size, ranks
 * disagreeing on cols or options, fewer than 2 rows in all), INVALID_DATA (NaN/Inf, naming the
 * rank, its row and column), NOT_SUPPORTED (device memory on a CPU context), OVERFLOW,
 * OUT_OF_MEMORY, TRANSPORT_ERROR, and what lsc_spectrum returns. Blocks.
 */
LSC_API lsc_status lsc_spectrum_sharded(lsc_ctx *ctx, const lsc_matrix *x,
                                        const lsc_spectrum_opts *opts, lsc_spectrum_result *out,
                                        double *singular_values, double *column_variance);

/**
 * lsc_knn of the same queries on every rank against the base rows of every rank, concatenated in
 * rank order; collective over ctx's transport (one process without one). `queries` (host memory,
 * >= 1 row) must hold the same rows on every rank (checked by a hash: INVALID_ARGUMENT
 * otherwise); `base` holds this rank's base rows (host memory, any count >= 0); k is the same on
 * every rank, 1 <= k <= the base's rows on all ranks together. Every rank receives the same
 * lists: dist[q * k + t] and idx[q * k + t] as lsc_knn writes them for the concatenated base,
 * idx counting rows of the concatenation, equal to lsc_knn's lists exactly (ties broken by the
 * smaller global index, on the exact float64 values lsc_knn decides on).
 *
 * Each rank finds its shard's k nearest (min(k, its rows)) as lsc_knn does, with their exact
 * values; the lists then merge by query blocks: rank r merges a block of about Q / P queries as
 * the blocks pass round the ranks (P - 1 ring steps, each rank merging its candidates into the
 * block passing through), then one all-gather of the merged lists. Costs per rank: its shard's
 * pass, about 28 Q k bytes each way whatever P (16 Q k (P - 1) / P round the ring, 12 Q k
 * (P - 1) / P in the all-gather; docs/SCALING.md), and buffers of 2 Q k x 16 / P bytes beside
 * its lists and the output. A transport without the ring step sends every shard's lists to
 * every rank (P Q k x 16 bytes received), each merging them alike: the same lists.
 *
 * The self kNN: with opts->exclude_self = 1 and base NULL, each rank's `queries` are its shard
 * of the base (host memory, any count >= 0 of rows; the same cols on every rank), and each rank
 * receives the lists of its own rows only (queries->rows x k; dist and idx may be NULL for no
 * rows): those lsc_knn with exclude_self writes for these rows on the concatenation, a row's
 * own global index excluded, idx counting rows of the concatenation; 1 <= k < the rows of all
 * ranks together. The base shards pass once round the ranks (the transport's ring step:
 * NOT_SUPPORTED on every rank when some rank's transport has none), each rank keeping its rows'
 * running k nearest on the exact values. Costs per rank: its rows' lists (Q k x 16 bytes) and
 * two float32 copies of the largest shard. At 3 and 4 ranks whose transports all have the
 * point-to-point step (lsc_send_recv_fn), the rows travel over a covering instead wherever that
 * sends fewer bytes (wide rows, small k: with even shards when 12 k < 4 D): each rank receives
 * only some pieces of the other shards (at 3 ranks the next rank's shard, at 4 three half
 * shards), so that every pair of rows meets on some rank, and sends the partial lists of the
 * rows it received back to their owners (12 bytes an entry): 0.62 of the ring's bytes at 64
 * columns and k = 5, the same lists. Its costs per rank instead of the ring's two shards: the pieces received (one
 * shard at 3 ranks, up to one and a half at 4, as float32), the partial lists of their rows
 * (k entries of 16 bytes a row, and 12 a row on the wire each way) and a kNN call's lists for
 * the largest set it pairs; near the choice's threshold the lists make this more memory than
 * the ring's. The sharded reference and PRDC find their kNN the same way. docs/SCALING.md has
 * the plans and the bytes.
 *
 * opts: the euclidean or cosine metric (the same on every rank, as exclude_self), out_memory
 * HOST. Returns on every rank the same status: INVALID_ARGUMENT, INVALID_DATA (naming the rank,
 * its row and column), NOT_SUPPORTED, OVERFLOW, OUT_OF_MEMORY, TRANSPORT_ERROR, CANCELLED.
 * Blocks.
 */
LSC_API lsc_status lsc_knn_sharded(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base,
                                   int64_t k, const lsc_knn_opts *opts, float *dist,
                                   int64_t *idx);

/**
 * lsc_pair_stats of the rows of every rank, concatenated in rank order; collective over ctx's
 * transport (one process without one). x holds this rank's rows (host memory, any count >= 0;
 * the same cols on every rank, at least 2 rows in all); opts the same on every rank; out,
 * histogram and near_dups as for lsc_pair_stats, on every rank. Every rank receives the same
 * figures: those of lsc_pair_stats on the concatenated rows, exactly for every decision (min,
 * max, the nn_* figures, the histogram and its bound, the near-duplicate count and list, whose
 * i < j count rows of the concatenation), mean, std and uniformity within docs/METRICS.md's
 * tolerances. A subset (subset_rows) is drawn over the global row indices by the one sampler,
 * each rank keeping its rows of it.
 *
 * Each pair is computed once: rank r takes the pairs within its rows, then passes shards round
 * the ring (lsc_ring_fn) and takes those against the shards of ranks r - 1 .. r - floor(P / 2)
 * (at distance P / 2, for even P, only the lower rank of the two). The histogram's bound needs
 * the column sums in row order: they pass from rank to rank first (one broadcast a rank with
 * rows). Costs per rank: its share of the N(N-1)/2 pairs, its rows as float32 and two shards
 * in flight ((16 + 4 D) bytes a row), the tiles of lsc_pair_stats, and every row's nearest
 * distance (16 N bytes) and every rank's histogram and list (P (8 bins + 24 dup_report) bytes)
 * for the figures. The CPU backend only so far. Returns on every rank the same status:
 * INVALID_ARGUMENT (a NULL pointer, a bad size, ranks disagreeing on cols or options, fewer than
 * 2 rows in all), INVALID_DATA (NaN/Inf or, cosine, a zero row, naming the rank, its row and
 * column), NOT_SUPPORTED (device memory, another backend, a transport without a ring step on
 * more than one rank), OVERFLOW, OUT_OF_MEMORY, WORKSPACE_LIMIT, CANCELLED, TRANSPORT_ERROR.
 * Blocks.
 */
LSC_API lsc_status lsc_pair_stats_sharded(lsc_ctx *ctx, const lsc_matrix *x,
                                          const lsc_pair_opts *opts, lsc_pair_result *out,
                                          int64_t *histogram, lsc_pair *near_dups);

/**
 * A shard of the reference lsc_reference_create would build from the real rows of every rank,
 * concatenated in rank order; collective over ctx's transport (one process without one). `real`
 * holds this rank's rows (host memory, any count >= 0; the same cols on every rank); k and opts
 * are the same on every rank, 1 <= k < the rows of all ranks together. Each rank's *out holds
 * its own rows and their radii, each the k-th nearest of the other rows of every rank (the
 * reference's metric): equal, row for row, to lsc_reference_create's on the concatenation.
 * lsc_reference_info_get says which shard it is (total_rows, first_row). A shard of several
 * ranks (total_rows > rows) serves lsc_prdc_sharded, _info_get, _radii, _rows and _destroy; the
 * one-process calls that need the whole reference (lsc_prdc, lsc_prdc_rows, lsc_assess,
 * lsc_reference_prepare, _save, _to_device) refuse it with INVALID_ARGUMENT
 * (lsc_reference_save_sharded writes it with the other shards as one file). The radii come from
 * the self kNN of lsc_knn_sharded (the ring step). Returns on every rank the same status:
 * INVALID_ARGUMENT, INVALID_DATA, NOT_SUPPORTED, OVERFLOW, OUT_OF_MEMORY, TRANSPORT_ERROR,
 * CANCELLED. Blocks.
 */
LSC_API lsc_status lsc_reference_create_sharded(lsc_ctx *ctx, const lsc_matrix *real, int64_t k,
                                                const lsc_reference_opts *opts,
                                                lsc_reference **out);

/**
 * Writes the reference whose shards the ranks hold (lsc_reference_create_sharded) to `path` as
 * one reference file, the very bytes lsc_reference_save writes for the whole reference, so that
 * lsc_reference_load reads it in any process; collective over ctx's transport, every rank
 * passing the same path, which must name the same file on every rank (a filesystem they share).
 * Each rank writes its own rows and radii at their place in the file; only the sections'
 * checksums travel (round the ranks with the ring step: NOT_SUPPORTED on every rank without
 * one); rank 0 writes the header under a temporary name and renames it over `path` when every
 * rank has written, as lsc_reference_save does. Returns on every rank the same status:
 * INVALID_ARGUMENT (shards not made together, another path on some rank), IO_ERROR,
 * NOT_SUPPORTED, OUT_OF_MEMORY, TRANSPORT_ERROR. Blocks.
 */
LSC_API lsc_status lsc_reference_save_sharded(lsc_ctx *ctx, const lsc_reference *ref,
                                              const char *path);

/**
 * Reads a version 2 reference file (lsc_reference_save or lsc_reference_save_sharded, made by
 * any number of processes) as shards of this context's ranks; collective over ctx's transport,
 * `path` naming the same file on every rank (a shared filesystem, or identical copies). Rank r
 * reads only its rows of an even split, [floor(r N / P), floor((r + 1) N / P)), and their radii:
 * *out is a shard equal to what lsc_reference_create_sharded gives on that split (rows, radii,
 * k, metric, comparison; lsc_reference_info_get's total_rows and first_row), for
 * lsc_prdc_sharded, lsc_reference_save_sharded and the other calls that take a shard.
 *
 * Checks: every rank checks the header and the section table (their checksums, fields and
 * layout) as lsc_reference_load does, rank 0 the zero padding between sections, and the ranks
 * compare the header's and the table's checksums and the file's length (another file on some
 * rank: INVALID_ARGUMENT). The sections' checksums are streams over each whole section, so no
 * rank can check them alone: each rank adds its bytes to the state passed round the ranks in
 * rank order (the ring step: NOT_SUPPORTED on every rank without one), and the state that
 * leaves the last rank is compared on every rank with the table's; every byte of the ROWS and
 * RADV sections is read and checked once across the ranks. Each rank checks its radii and
 * rows as lsc_reference_load does, and the zero radii of all ranks are compared with the
 * header's count. An optional 'HALF' section (lsc_reference_prepare's, for the whole
 * reference) is neither read nor checked: a shard is not prepared; nor is any unknown optional
 * section. A version 1 file (one checksum over every byte) is NOT_SUPPORTED: lsc_reference_load
 * reads it, and saving it again writes version 2. Returns on every rank the same status:
 * INVALID_ARGUMENT, IO_ERROR, BAD_FILE (corrupt or truncated), NOT_SUPPORTED, OVERFLOW,
 * OUT_OF_MEMORY, TRANSPORT_ERROR; *out is set only on success. Blocks.
 */
LSC_API lsc_status lsc_reference_load_sharded(lsc_ctx *ctx, const char *path,
                                              lsc_reference **out);

/**
 * lsc_prdc of the generated rows of every rank against the reference whose shards the ranks
 * hold (lsc_reference_create_sharded on the same ranks, in the same order); collective over
 * ctx's transport. `fake` holds this rank's generated rows (host memory, any count >= 0; k < the
 * generated rows of all ranks together). Every rank receives the same *out, equal to lsc_prdc's
 * on the concatenated real and generated rows: the same counts, so the very same figures.
 *
 * The generated rows' radii come from the ring self kNN; then each real shard (its rows, radii
 * and recall and coverage flags) passes once round the ranks, each rank deciding its generated
 * rows against it with lsc_prdc's own pass, and only its flags come home; the integer counts
 * are summed over the ranks. Costs per rank: its shards, its generated rows' lists (M_rank k x
 * 16 bytes) and two blocks of the largest real shard (rows x (4 D + 10) bytes). Needs the ring
 * step (NOT_SUPPORTED on every rank otherwise). Returns on every rank the same status:
 * INVALID_ARGUMENT (shards not made together, mismatched D, k too large), INVALID_DATA,
 * NOT_SUPPORTED, OVERFLOW, OUT_OF_MEMORY, TRANSPORT_ERROR, CANCELLED. Blocks.
 */
LSC_API lsc_status lsc_prdc_sharded(lsc_ctx *ctx, const lsc_reference *ref,
                                    const lsc_matrix *fake, lsc_prdc_result *out);

/**
 * lsc_prdc_sharded with lsc_prdc_rows's per-row outcomes of this rank's rows: real_flags (the
 * reference shard's rows bytes) and fake_counts (fake->rows counts), each may be NULL; equal to
 * lsc_prdc_rows's on the concatenation, restricted to this rank's rows.
 */
LSC_API lsc_status lsc_prdc_rows_sharded(lsc_ctx *ctx, const lsc_reference *ref,
                                         const lsc_matrix *fake, lsc_prdc_result *out,
                                         unsigned char *real_flags, int64_t *fake_counts);

/**
 * lsc_assess of the generated rows of every rank against the reference whose shards the ranks
 * hold (lsc_reference_create_sharded or lsc_reference_load_sharded on the same ranks, in the
 * same order); collective over ctx's transport (one process without one). `fake` holds this
 * rank's generated rows (host memory, any count >= 0; at least 2 on all ranks together);
 * opts as for lsc_assess and the same on every rank, except that real_labels and fake_labels
 * hold the labels of this rank's reference and generated rows (given on every rank holding rows,
 * or on none). Every rank receives the same assessment: the verdicts lsc_assess gives on the
 * concatenated reference and generated rows - the same levels, counts and subsets, continuous
 * figures within docs/METRICS.md's tolerances - with lsc_assessment_uncovered listing rows of
 * the concatenated reference and lsc_assessment_near_rows counting over all generated rows.
 *
 * The full-size PRDC is lsc_prdc_rows_sharded; the judged subsets (at most 2000 rows each) are
 * fetched by global index to every rank, and each pass against the reference's judging half runs
 * on every rank over its part of that half (whose radii come from lsc_reference_create_sharded
 * on the ranks' parts), its counts summed over the ranks. Unlike lsc_assess, it always judges the
 * generated subsets in passes of their own (not inside the full-size pass). Each rank's context
 * keeps the reference side as lsc_assess's does, and a next call with the same shard, options
 * and m reads it when every rank's context holds it (the ranks agree on that first), measuring
 * only the generated rows. Costs per rank: the reference's and the generated rows'
 * shards, the judging half's part and its radii, the global row indices of the halves and the
 * labels (about 16 to 40 bytes per reference row of all ranks), the subsets' rows, and a walk of
 * the generated shards round the ranks when uncovered rows are ordered or near_distance is set.
 * The CPU backend only. Returns on every rank the same status: INVALID_ARGUMENT (a NULL pointer,
 * shards not made together, options or D differing between ranks, too few rows), INVALID_DATA
 * (naming the rank, its row and column), NOT_SUPPORTED (another backend, device memory, a
 * transport without a ring step), OVERFLOW, OUT_OF_MEMORY, TRANSPORT_ERROR, CANCELLED. Blocks.
 */
LSC_API lsc_status lsc_assess_sharded(lsc_ctx *ctx, const lsc_reference *ref,
                                      const lsc_matrix *fake, const lsc_assess_opts *opts,
                                      lsc_assessment **out);

#ifdef __cplusplus
}
#endif

#endif /* LSC_H */
