/* Input and output files of the lsc command line: NumPy .npy (read: float32, float16, float64,
 * header versions 1-3, C or Fortran order; memory-mapped, not read) and .fvecs (float32).
 * Every function returns 0 on success, or fills `err` with one line naming the file and the
 * problem and returns 2 (bad input) or 1 (a failure of the machine: out of memory, I/O error). */
#ifndef LSC_TOOLS_INPUT_H
#define LSC_TOOLS_INPUT_H

#include "lsc.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lsc_input {
    lsc_matrix m;   /* host rows x cols view, valid until lsc_input_close */
    void *map;      /* the mapping, if any */
    size_t map_len;
    void *owned;    /* a converted copy (Fortran order, big-endian data), if any */
} lsc_input;

/* Opens `path` by its extension (.npy or .fvecs, either case). A 2-D array gives rows x cols;
 * 1-D and 3-D arrays, zero rows or columns, non-float dtypes, truncated or hostile headers are
 * refused.
 *
 * .npy: dtypes '<f4', '<f2', '<f8' (F32, F16, F64; '=' and '|' are read as the host's order),
 * header versions 1.0, 2.0 and 3.0. A C-order file is memory-mapped and `m` points into the
 * mapping (ld = cols): nothing is read until the library touches it. These are copied into an
 * `owned` row-major array of the same dtype instead (and the mapping dropped): Fortran-order
 * files with more than one row and column (their column-major data is transposed), big-endian
 * files ('>f4' etc., byte-swapped), and files whose data offset is not aligned for the dtype
 * (NumPy pads the header to 64 bytes, so only hand-made files). A file longer than its header
 * says is refused like a shorter one.
 * .fvecs: every row is an int32 d then d float32, all little-endian; every row must declare the
 * same d >= 1. Mapped without a copy: m.data points 4 bytes into the file and m.ld = d + 1.
 *
 * A mapped file must not be truncated by another process while open (reads past the new end
 * raise SIGBUS). Failures: 2 for the input (missing, unreadable, a directory, malformed), 1 for
 * the machine (mmap or a copy out of memory). On failure `in` holds nothing to close (closing
 * it anyway is harmless). */
int lsc_input_open(const char *path, lsc_input *in, char *err, size_t err_len);
void lsc_input_close(lsc_input *in);

/* Writes a 2-D C-order .npy file (version 1.0, '<f4' or '<i8') of float32 or int64 values, the
 * header padded so the data starts at a multiple of 64 bytes (as NumPy does). The file is
 * written beside `path` under a temporary name and renamed over it when complete, so a failed
 * write leaves what was there before. rows or cols may be 0 (data may then be NULL).
 * Failures: 2 for a bad path or shape (missing directory, no permission, a directory in the
 * way), 1 for the machine (out of memory, disk full, I/O error). */
/* Reads a 1-D (or n x 1) integer .npy of class labels (int8 .. int64, uint8 .. uint64, either
 * byte order) into a malloc'd int64 array of *n; 0, or an exit code with the message in err. */
int lsc_labels_open(const char *path, int64_t **labels, int64_t *n, char *err, size_t err_len);

int lsc_npy_write_f32(const char *path, const float *data, int64_t rows, int64_t cols, char *err,
                      size_t err_len);
int lsc_npy_write_i64(const char *path, const int64_t *data, int64_t rows, int64_t cols,
                      char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
