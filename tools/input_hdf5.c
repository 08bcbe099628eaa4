/* HDF5 datasets through libhdf5 (optional at build time: LSC_WITH_HDF5). A contiguous,
 * unfiltered dataset in the host's byte order is memory-mapped from the file at the address
 * libhdf5 gives for it; any other layout is read in row blocks into one owned buffer, libhdf5
 * converting the byte order block by block. See input.h. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include "input_internal.h"

#include <stdlib.h>
#include <string.h>

#ifndef LSC_HAVE_HDF5

static int not_built(const char *file, char *err, size_t err_len)
{
    return lsc_in_fail(err, err_len, 2, file,
                       "HDF5 files need libhdf5, which this lsc was built without (install "
                       "libhdf5-dev and rebuild with -DLSC_WITH_HDF5=ON; or save the dataset "
                       "with numpy.save as .npy)");
}

int lsc_in_hdf5_open(const char *file, const char *name, lsc_input *in, char *err, size_t err_len)
{
    (void)name;
    (void)in;
    return not_built(file, err, err_len);
}

int lsc_in_hdf5_labels(const char *file, const char *name, int64_t **labels, int64_t *n, char *err,
                       size_t err_len)
{
    (void)name;
    (void)labels;
    (void)n;
    return not_built(file, err, err_len);
}

#else

#include <hdf5.h>

#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* ---- the file and its dataset --------------------------------------------------------------- */

typedef struct h5_ds {
    hid_t file, ds, space, type;
    char where[512];
    int ndim;
    hsize_t dims[H5S_MAX_RANK];
} h5_ds;

static void h5_close(h5_ds *d)
{
    if (d->type >= 0) H5Tclose(d->type);
    if (d->space >= 0) H5Sclose(d->space);
    if (d->ds >= 0) H5Dclose(d->ds);
    if (d->file >= 0) H5Fclose(d->file);
    d->type = d->space = d->ds = d->file = -1;
}

typedef struct h5_walk {
    int count;
    char first[512];
    char list[256];
} h5_walk;

static herr_t walk_cb(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
    (void)obj;
    h5_walk *w = (h5_walk *)data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    char path[512];
    snprintf(path, sizeof path, "/%s", name);
    if (!w->count++) snprintf(w->first, sizeof w->first, "%s", path);
    lsc_in_names_append(w->list, sizeof w->list, path);
    return 0;
}

static int h5_open(h5_ds *d, const char *file, const char *name, char *err, size_t err_len)
{
    d->file = d->ds = d->space = d->type = -1;
    /* libhdf5 prints an error stack on stderr by default; the message here says it in a line */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct stat st;
    if (stat(file, &st) != 0) {
        /* the same words as the other readers */
        void *map;
        size_t len;
        int rc = lsc_in_map_file(file, &map, &len, err, err_len);
        if (!rc) munmap(map, len);
        return rc ? rc : lsc_in_fail(err, err_len, 2, file, "cannot open");
    }
    if (!S_ISREG(st.st_mode))
        return lsc_in_fail(err, err_len, 2, file,
                           S_ISDIR(st.st_mode) ? "is a directory, not a file"
                                               : "not a regular file");
    d->file = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (d->file < 0) return lsc_in_fail(err, err_len, 2, file, "not a readable HDF5 file");
    h5_walk w;
    memset(&w, 0, sizeof w);
    if (!name || !*name) {
        if (H5Ovisit2(d->file, H5_INDEX_NAME, H5_ITER_INC, walk_cb, &w, H5O_INFO_BASIC) < 0) {
            h5_close(d);
            return lsc_in_fail(err, err_len, 2, file, "cannot list the datasets of the file");
        }
        if (w.count != 1) {
            int rc = w.count == 0 ? lsc_in_fail(err, err_len, 2, file, "the file holds no datasets")
                                  : lsc_in_fail(err, err_len, 2, file,
                                                "the file holds %d datasets (%s): choose one with "
                                                "%s:/PATH",
                                                w.count, w.list, file);
            h5_close(d);
            return rc;
        }
        name = w.first;
    }
    snprintf(d->where, sizeof d->where, "%.240s: dataset '%.240s'", file, name);
    /* H5Oget_info_by_name3 would fail the same way on a missing path; H5Dopen2 says enough */
    d->ds = H5Dopen2(d->file, name, H5P_DEFAULT);
    if (d->ds < 0) {
        H5Ovisit2(d->file, H5_INDEX_NAME, H5_ITER_INC, walk_cb, &w, H5O_INFO_BASIC);
        h5_close(d);
        return lsc_in_fail(err, err_len, 2, file, "no dataset '%s' in the file (it holds %s)", name,
                           w.count ? w.list : "no datasets");
    }
    d->space = H5Dget_space(d->ds);
    d->type = H5Dget_type(d->ds);
    d->ndim = d->space >= 0 ? H5Sget_simple_extent_ndims(d->space) : -1;
    if (d->type < 0 || d->ndim < 0 || H5Sget_simple_extent_dims(d->space, d->dims, NULL) < 0) {
        int rc = lsc_in_fail(err, err_len, 2, d->where, "cannot read its shape or type");
        h5_close(d);
        return rc;
    }
    return 0;
}

static void shape_of(const h5_ds *d, char *buf, size_t len)
{
    int64_t dims[H5S_MAX_RANK];
    for (int i = 0; i < d->ndim; i++)
        dims[i] = d->dims[i] > (hsize_t)INT64_MAX ? INT64_MAX : (int64_t)d->dims[i];
    lsc_in_format_shape(buf, len, dims, d->ndim);
}

/* Reads rows [0, rows) of the dataset (rows x cols items of `mem` type, row_bytes each) into
 * buf, a block of rows at a time so libhdf5's conversion buffers stay small. */
static int read_rows(h5_ds *d, hid_t mem, void *buf, hsize_t rows, hsize_t cols, size_t row_bytes,
                     char *err, size_t err_len)
{
    hsize_t block = (hsize_t)(64u << 20) / (row_bytes ? row_bytes : 1);
    if (block < 1) block = 1;
    for (hsize_t r0 = 0; r0 < rows; r0 += block) {
        hsize_t nr = rows - r0 < block ? rows - r0 : block;
        hsize_t start[2] = {r0, 0}, count[2] = {nr, cols};
        int rank = d->ndim;
        hid_t ms = H5Screate_simple(rank, count, NULL);
        herr_t e =
            ms < 0 ? -1 : H5Sselect_hyperslab(d->space, H5S_SELECT_SET, start, NULL, count, NULL);
        if (e >= 0)
            e = H5Dread(d->ds, mem, ms, d->space, H5P_DEFAULT,
                        (unsigned char *)buf + (size_t)r0 * row_bytes);
        if (ms >= 0) H5Sclose(ms);
        if (e < 0)
            return lsc_in_fail(err, err_len, 2, d->where,
                               "cannot read rows %llu to %llu (damaged file or unavailable "
                               "filter)",
                               (unsigned long long)r0, (unsigned long long)(r0 + nr - 1));
    }
    return 0;
}

int lsc_in_hdf5_open(const char *file, const char *name, lsc_input *in, char *err, size_t err_len)
{
    h5_ds d;
    int rc = h5_open(&d, file, name, err, err_len);
    if (rc) return rc;
    char shape[256];
    shape_of(&d, shape, sizeof shape);
    const H5T_class_t cls = H5Tget_class(d.type);
    const size_t itemsize = H5Tget_size(d.type);
    lsc_dtype dtype = LSC_DTYPE_F32;
    size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
    if (cls == H5T_FLOAT) H5Tget_fields(d.type, &spos, &epos, &esize, &mpos, &msize);
    if (cls == H5T_FLOAT && itemsize == 4 && esize == 8 && msize == 23) dtype = LSC_DTYPE_F32;
    else if (cls == H5T_FLOAT && itemsize == 8 && esize == 11 && msize == 52) dtype = LSC_DTYPE_F64;
    else if (cls == H5T_FLOAT && itemsize == 2 && esize == 5 && msize == 10) dtype = LSC_DTYPE_F16;
    else if (cls == H5T_FLOAT && itemsize == 2 && esize == 8 && msize == 7) dtype = LSC_DTYPE_BF16;
    else {
        rc = lsc_in_fail(err, err_len, 2, d.where,
                         "%s datasets are not supported (IEEE float16, float32, float64 and "
                         "bfloat16 are): convert to float32",
                         cls == H5T_INTEGER    ? "integer"
                         : cls == H5T_FLOAT    ? "this floating-point type's"
                         : cls == H5T_STRING   ? "string"
                         : cls == H5T_COMPOUND ? "compound"
                                               : "non-numeric");
        h5_close(&d);
        return rc;
    }
    if (d.ndim != 2 || d.dims[0] == 0 || d.dims[1] == 0) {
        rc = lsc_in_fail(err, err_len, 2, d.where, "%s (rows x cols), got shape %s",
                         d.ndim != 2 ? "expected a 2-D dataset" : "expected a non-empty dataset",
                         shape);
        h5_close(&d);
        return rc;
    }
    const hsize_t rows = d.dims[0], cols = d.dims[1];
    if (rows > (hsize_t)INT64_MAX / cols || rows * cols > (hsize_t)SIZE_MAX / itemsize) {
        rc = lsc_in_fail(err, err_len, 2, d.where,
                         "shape %s is too large: its byte size overflows 64 bits", shape);
        h5_close(&d);
        return rc;
    }
    const size_t nbytes = (size_t)(rows * cols) * itemsize;
    const int host_le = lsc_in_host_is_little_endian();
    const H5T_order_t order = H5Tget_order(d.type);
    const int same_order = order == (host_le ? H5T_ORDER_LE : H5T_ORDER_BE);

    /* in place: contiguous, no filters, no external file, written, in the host's order */
    hid_t plist = H5Dget_create_plist(d.ds);
    int mappable = plist >= 0 && H5Pget_layout(plist) == H5D_CONTIGUOUS &&
                   H5Pget_nfilters(plist) == 0 && H5Pget_external_count(plist) == 0 && same_order;
    if (plist >= 0) H5Pclose(plist);
    haddr_t addr = mappable ? H5Dget_offset(d.ds) : HADDR_UNDEF;
    if (addr != HADDR_UNDEF && H5Dget_storage_size(d.ds) == (hsize_t)nbytes) {
        void *map;
        size_t len;
        if ((rc = lsc_in_map_file(file, &map, &len, err, err_len))) {
            h5_close(&d);
            return rc;
        }
        if (addr <= len && nbytes <= len - addr &&
            ((uintptr_t)map + (uintptr_t)addr) % itemsize == 0) {
            in->map = map;
            in->map_len = len;
            in->m.data = (const unsigned char *)map + addr;
            goto view;
        }
        munmap(map, len);
        if (addr > len || nbytes > len - addr) {
            rc = lsc_in_fail(err, err_len, 2, d.where,
                             "truncated: its %zu bytes at file offset %llu pass the end of the "
                             "file (%zu bytes)",
                             nbytes, (unsigned long long)addr, len);
            h5_close(&d);
            return rc;
        }
    }
    {
        uint64_t limit = lsc_in_inflate_limit();
        if ((uint64_t)nbytes > limit) {
            rc = lsc_in_fail(
                err, err_len, 2, d.where,
                "shape %s needs %zu bytes in memory (it cannot be mapped from the file: "
                "chunked, filtered, unwritten or in the other byte order), above the "
                "limit of %llu (LSC_MAX_INFLATE)",
                shape, nbytes, (unsigned long long)limit);
            h5_close(&d);
            return rc;
        }
        void *buf = malloc(nbytes);
        if (!buf) {
            rc = lsc_in_fail(err, err_len, 1, d.where, "out of memory: cannot allocate %zu bytes",
                             nbytes);
            h5_close(&d);
            return rc;
        }
        hid_t mem = H5Tcopy(d.type);
        if (mem < 0 || H5Tset_order(mem, host_le ? H5T_ORDER_LE : H5T_ORDER_BE) < 0)
            rc = lsc_in_fail(err, err_len, 1, d.where, "cannot make the memory type");
        else rc = read_rows(&d, mem, buf, rows, cols, (size_t)cols * itemsize, err, err_len);
        if (mem >= 0) H5Tclose(mem);
        if (rc) {
            free(buf);
            h5_close(&d);
            return rc;
        }
        in->owned = buf;
        in->m.data = buf;
    }
view:
    in->m.dtype = dtype;
    in->m.rows = (int64_t)rows;
    in->m.cols = (int64_t)cols;
    in->m.ld = (int64_t)cols;
    in->m.memory = LSC_MEMORY_HOST;
    h5_close(&d);
    return 0;
}

int lsc_in_hdf5_labels(const char *file, const char *name, int64_t **labels, int64_t *n, char *err,
                       size_t err_len)
{
    h5_ds d;
    int rc = h5_open(&d, file, name, err, err_len);
    if (rc) return rc;
    char shape[256];
    shape_of(&d, shape, sizeof shape);
    const size_t itemsize = H5Tget_size(d.type);
    const int is_unsigned = H5Tget_sign(d.type) == H5T_SGN_NONE;
    if (H5Tget_class(d.type) != H5T_INTEGER || itemsize < 1 || itemsize > 8)
        rc = lsc_in_fail(err, err_len, 2, d.where,
                         "labels must be integers (8 to 64 bits, signed or not)");
    else if (!(d.ndim == 1 || (d.ndim == 2 && d.dims[1] == 1)) || d.dims[0] == 0)
        rc = lsc_in_fail(err, err_len, 2, d.where,
                         "labels must be a non-empty 1-D dataset, got shape %s", shape);
    else if (d.dims[0] > (hsize_t)(lsc_in_inflate_limit() / 8))
        rc = lsc_in_fail(err, err_len, 2, d.where,
                         "%llu labels need more memory than the limit of %llu bytes "
                         "(LSC_MAX_INFLATE)",
                         (unsigned long long)d.dims[0], (unsigned long long)lsc_in_inflate_limit());
    if (rc) {
        h5_close(&d);
        return rc;
    }
    const hsize_t count = d.dims[0];
    int64_t *out = (int64_t *)malloc((size_t)count * sizeof *out);
    if (!out) {
        rc = lsc_in_fail(err, err_len, 1, d.where, "out of memory: %llu labels",
                         (unsigned long long)count);
        h5_close(&d);
        return rc;
    }
    /* libhdf5 widens every integer type to 64 bits exactly; only uint64 can leave int64 */
    const int u64 = is_unsigned && itemsize == 8;
    rc = read_rows(&d, u64 ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64, out, count, d.ndim == 2 ? 1 : 0,
                   sizeof *out, err, err_len);
    for (hsize_t i = 0; !rc && u64 && i < count; i++)
        if ((uint64_t)out[i] > (uint64_t)INT64_MAX)
            rc = lsc_in_fail(err, err_len, 2, d.where, "label %llu is %llu, above the int64 range",
                             (unsigned long long)i, (unsigned long long)(uint64_t)out[i]);
    h5_close(&d);
    if (rc) {
        free(out);
        return rc;
    }
    *labels = out;
    *n = (int64_t)count;
    return 0;
}

#endif
