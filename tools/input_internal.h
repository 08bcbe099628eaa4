/* Pieces shared by the readers of tools/input*.c; not part of input.h. Every function follows
 * input.h's convention: 0, or 2 (bad input) / 1 (the machine) with one line in err. `where` is
 * the prefix of a message: the file, or the file and the array ("x.npz: array 'a'"). */
#ifndef LSC_TOOLS_INPUT_INTERNAL_H
#define LSC_TOOLS_INPUT_INTERNAL_H

#include "input.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int lsc_in_fail(char *err, size_t err_len, int code, const char *where, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
int lsc_in_errno_code(int e);
int lsc_in_host_is_little_endian(void);
void lsc_in_byteswap(void *data, size_t count, size_t itemsize);
const char *lsc_in_dtype_name(lsc_dtype t);
void lsc_in_format_shape(char *buf, size_t len, const int64_t *dims, int ndim);

/* Maps a whole regular file read-only (refusing directories, pipes, empty files). */
int lsc_in_map_file(const char *path, void **map, size_t *len, char *err, size_t err_len);
/* Unmaps / frees what `in` holds and zeroes it. */
void lsc_in_release(lsc_input *in);

/* The most bytes a reader may decompress or copy into memory for one array: a zip bomb or a
 * dataset claiming a huge shape is refused before anything is allocated. Half the physical
 * memory, or LSC_MAX_INFLATE (bytes, with an optional K, M, G or T suffix) when set. */
uint64_t lsc_in_inflate_limit(void);

/* A .npy image b[0, len) held by `in` (its mapping or its owned buffer): sets in->m to a view
 * of it, or converts it into a new owned copy (Fortran order, byte order, misaligned data),
 * then releasing what `in` held before. On failure `in` is released. */
int lsc_in_npy_matrix(const char *where, const unsigned char *b, size_t len, lsc_input *in,
                      char *err, size_t err_len);
/* The 1-D integer labels of a .npy image, into a malloc'd int64 array. */
int lsc_in_npy_labels(const char *where, const unsigned char *b, size_t len, int64_t **labels,
                      int64_t *n, char *err, size_t err_len);
/* count integers of `size` bytes (1, 2, 4, 8), signed or not, little-endian when `little`,
 * into a malloc'd int64 array; an unsigned 64-bit value above INT64_MAX is refused. */
int lsc_in_ints_to_i64(const char *where, const unsigned char *src, int64_t count, int size,
                       int is_signed, int little, int64_t **labels, char *err, size_t err_len);

/* Collects names for a message: "'a', 'b', 'c'" (cut with ", ..." when it does not fit). */
void lsc_in_names_append(char *buf, size_t len, const char *name);

/* The readers of the container formats. `file` is the file's path, `name` the array asked for
 * (NULL: the only one). Each reports "not built in" when its library was missing at build
 * time. */
int lsc_in_npz_open(const char *file, const char *name, lsc_input *in, char *err, size_t err_len);
int lsc_in_npz_labels(const char *file, const char *name, int64_t **labels, int64_t *n, char *err,
                      size_t err_len);
int lsc_in_safetensors_open(const char *file, const char *name, lsc_input *in, char *err,
                            size_t err_len);
int lsc_in_safetensors_labels(const char *file, const char *name, int64_t **labels, int64_t *n,
                              char *err, size_t err_len);
int lsc_in_hdf5_open(const char *file, const char *name, lsc_input *in, char *err, size_t err_len);
int lsc_in_hdf5_labels(const char *file, const char *name, int64_t **labels, int64_t *n, char *err,
                       size_t err_len);
/* lsc_in_npy_matrix that also reads a 1-D array of n values as 1 x n; the .npz member the same
 * way (a statistics file's `mu`). */
int lsc_in_npy_vector(const char *where, const unsigned char *b, size_t len, lsc_input *in,
                      char *err, size_t err_len);
int lsc_in_npz_open_vector(const char *file, const char *name, lsc_input *in, char *err,
                           size_t err_len);
/* Writes .npy images as the stored members "<names[i]>.npy" of a new .npz archive. */
int lsc_in_npz_write(const char *path, const char *const *names, const unsigned char *const *images,
                     const size_t *sizes, int n, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
