/* Input and output files of the lsc command line: NumPy .npy (read: float32, float16, float64,
 * header versions 1-3, C or Fortran order; memory-mapped, not read), NumPy .npz, .safetensors,
 * HDF5 and .fvecs (float32); .npy and .npz written.
 * Every function returns 0 on success, or fills `err` with one line naming the file (and the
 * array, member or offset) and the problem and returns 2 (bad input) or 1 (a failure of the
 * machine: out of memory, I/O error). */
#ifndef LSC_TOOLS_INPUT_H
#define LSC_TOOLS_INPUT_H

#include "lsc.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lsc_input {
    lsc_matrix m; /* host rows x cols view, valid until lsc_input_close */
    void *map;    /* the mapping, if any */
    size_t map_len;
    void *owned;       /* a converted copy (Fortran order, big-endian, misaligned data), an inflated
                        * .npz member or a non-mappable HDF5 dataset, if any */
    int64_t first_row; /* the first of the file's rows that m holds (0 but for a part) */
    int64_t total_rows;  /* the file's rows (m.rows but for a part) */
    int64_t part, parts; /* the part asked for (lsc_input_open_part; 0 of 1 otherwise) */
} lsc_input;

/* Opens `path` by its extension (either case). A 2-D array gives rows x cols;
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
 * .npz (NumPy's savez / savez_compressed; through libzip, so zip64 archives read too): the
 * member "NAME.npy" of `file.npz:NAME` (or the member named NAME exactly), or the only array
 * when no name is given; several arrays and no name is refused with their names listed. A
 * stored member is read in place from the mapped archive, as a .npy file is (copied only for
 * the reasons above - numpy's own writer leaves float32 data misaligned three times in four);
 * its CRC is not checked, since that would read the whole file up front. A compressed member is
 * inflated as a stream into one owned buffer of its declared size (its memory cost, plus
 * zlib's ~300 KB), refused before any allocation when that size passes lsc's limit (half the
 * physical memory, or LSC_MAX_INFLATE bytes with an optional K/M/G/T suffix), and refused when
 * it inflates to any other size or fails its CRC. Duplicate member names, encrypted members and
 * archives libzip finds inconsistent are refused.
 * .safetensors: the tensor of `file.safetensors:NAME` (or the only one), dtype F32, F16, BF16
 * or F64, 2-D, memory-mapped. The JSON header (cJSON) is checked against the file: its length,
 * each tensor's offsets (within the data, matching dtype x shape, the tensors tiling the data
 * without gaps or overlaps), duplicate names.
 * HDF5 (.h5, .hdf5; through libhdf5, when built with it): the dataset `file.h5:/group/name` (or
 * the only dataset in the file), a 2-D IEEE float16, bfloat16, float32 or float64 dataset. A
 * contiguous, unfiltered dataset in the host's byte order is memory-mapped; any other (chunked,
 * compressed, other byte order) is read in row blocks into one owned buffer, its size checked
 * against the limit above first.
 * `path:name`: the whole of `path` is tried as a file first, so a file whose name holds ':'
 * still opens; otherwise it is cut at the first ':' whose left side is an existing file of a
 * known extension (or, when none exists, the first with a known extension, so the message names
 * that file). A name may itself hold ':' and '/'. A name given for a .npy or .fvecs file, or an
 * empty one, is refused.
 * .pt / .pth files are refused with the one-line conversion to .npy (torch.load, numpy.save);
 * an unknown extension is refused with the list of formats.
 *
 * A mapped file must not be truncated by another process while open (reads past the new end
 * raise SIGBUS). Failures: 2 for the input (missing, unreadable, a directory, malformed), 1 for
 * the machine (mmap or a copy out of memory). On failure `in` holds nothing to close (closing
 * it anyway is harmless). */
int lsc_input_open(const char *path, lsc_input *in, char *err, size_t err_len);
void lsc_input_close(lsc_input *in);

/* One part of the rows of `path`, as lsc_input_open opens the whole: rows [part n / parts,
 * (part + 1) n / parts) of its n rows (the share of rank `part` of `parts` under mpirun; a part
 * may be empty, m.rows 0), in->first_row the first of them and in->total_rows n. A mapped file
 * (C-order .npy, .fvecs, .safetensors, a stored .npz member, a contiguous HDF5 dataset) is
 * viewed at the part's rows, so only their pages are ever read. A .npy file that needs a copy
 * (Fortran order, big-endian, misaligned) copies the part's rows alone: the part's memory, but
 * a Fortran-order file's part is a run of rows of each column, so every column's pages are
 * read - a rank reads about its share of the file when each run fills pages (rows / parts x
 * itemsize >= 4 KiB), and up to the whole file when it does not. A compressed .npz member and
 * a chunked or filtered HDF5 dataset are read whole, then cut to the part (the whole array is
 * held while that happens). */
int lsc_input_open_part(const char *path, int64_t part, int64_t parts, lsc_input *in, char *err,
                        size_t err_len);

/* Writes a 2-D C-order .npy file (version 1.0, '<f4' or '<i8') of float32 or int64 values, the
 * header padded so the data starts at a multiple of 64 bytes (as NumPy does). The file is
 * written beside `path` under a temporary name and renamed over it when complete, so a failed
 * write leaves what was there before. rows or cols may be 0 (data may then be NULL).
 * Failures: 2 for a bad path or shape (missing directory, no permission, a directory in the
 * way), 1 for the machine (out of memory, disk full, I/O error). */
int lsc_npy_write_f32(const char *path, const float *data, int64_t rows, int64_t cols, char *err,
                      size_t err_len);
int lsc_npy_write_i64(const char *path, const int64_t *data, int64_t rows, int64_t cols, char *err,
                      size_t err_len);

/* Reads a 1-D (or n x 1) integer array of class labels (int8 .. int64, uint8 .. uint64, either
 * byte order) into a malloc'd int64 array of *n: a .npy file, an .npz member, a .safetensors
 * tensor (I8 .. I64, U8 .. U64) or an HDF5 dataset, chosen with `path:name` as for
 * lsc_input_open. 0, or an exit code with the message in err (then *labels is NULL). */
int lsc_labels_open(const char *path, int64_t **labels, int64_t *n, char *err, size_t err_len);

/* One array to write: a 2-D C-order float32 (int64 = 0) or int64 (int64 = 1) array. `path` is
 * a .npy file, or an .npz archive "f.npz" / "f.npz:NAME" whose member NAME.npy it becomes (NAME
 * defaults to `name`). */
typedef struct lsc_output_array {
    const char *path;
    const char *name;
    const void *data;
    int int64;
    int64_t rows, cols;
} lsc_output_array;

/* Writes the n arrays; those naming the same .npz file become the stored members of one
 * archive (numpy.load reads it), written beside the target and renamed over it when complete
 * as lsc_npy_write_* do. Failures as for those; two arrays of one name in an archive are
 * refused; .npz needs the build's libzip. */
int lsc_arrays_write(const lsc_output_array *arrays, int n, char *err, size_t err_len);

/* Frechet statistics files of pytorch-fid and clean-fid: an .npz archive with `mu` (D) and
 * `sigma` (D x D), float64, ddof 1. lsc_stats_open returns 0 with malloc'd float64 copies
 * (float32 members are widened), -1 when `path` is not an .npz holding `sigma` (read it as
 * features instead), or an exit code with the message in err. lsc_stats_write writes them as
 * the stored '<f8' members mu.npy and sigma.npy (numpy.load reads it), as lsc_arrays_write. */
int lsc_stats_open(const char *path, double **mu, double **sigma, int64_t *d, char *err,
                   size_t err_len);
int lsc_stats_write(const char *path, const double *mu, const double *sigma, int64_t d, char *err,
                    size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
