/* Input and output files of the lsc command line: .npy (memory-mapped) and .fvecs. See input.h.
 *
 * Nothing read from a file is trusted: every length is checked against the file's real size
 * before it is used, every size product is checked for overflow, and the .npy header (a Python
 * dict literal) is parsed by hand, strictly, within its stated length. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define NPY_MAX_DIMS 64

/* ---- small helpers -------------------------------------------------------------------------- */

static int fail(char *err, size_t err_len, int code, const char *path, const char *fmt, ...)
{
    if (err && err_len) {
        int n = snprintf(err, err_len, "%s: ", path);
        if (n >= 0 && (size_t)n < err_len) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

/* Codes for errno values: a failure of the machine (1) or of the input (2). */
static int errno_code(int e)
{
    return (e == ENOMEM || e == EMFILE || e == ENFILE || e == EIO || e == ENOSPC || e == EAGAIN)
               ? 1
               : 2;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void byteswap_inplace(void *data, size_t count, size_t itemsize)
{
    unsigned char *p = (unsigned char *)data;
    for (size_t i = 0; i < count; i++, p += itemsize)
        for (size_t a = 0, b = itemsize - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

static const char *dtype_name(lsc_dtype t)
{
    switch (t) {
    case LSC_DTYPE_F16: return "float16";
    case LSC_DTYPE_F64: return "float64";
    case LSC_DTYPE_BF16: return "bfloat16";
    default: return "float32";
    }
}

/* "(3, 4)", "(5,)", "()" as Python writes a shape. */
static void format_shape(char *buf, size_t len, const int64_t *dims, int ndim)
{
    size_t n = 0;
    buf[0] = '\0';
#define PUT(...)                                                                                  \
    do {                                                                                          \
        int w_ = snprintf(buf + n, len - n, __VA_ARGS__);                                         \
        if (w_ < 0 || (size_t)w_ >= len - n) return;                                              \
        n += (size_t)w_;                                                                          \
    } while (0)
    PUT("(");
    for (int i = 0; i < ndim; i++) PUT(i ? ", %lld" : "%lld", (long long)dims[i]);
    PUT(ndim == 1 ? ",)" : ")");
#undef PUT
}

/* Maps a whole regular file read-only. Returns 0, or an error code with `err` filled. */
static int map_file(const char *path, void **map, size_t *len, char *err, size_t err_len)
{
    *map = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        return fail(err, err_len, errno_code(e), path, "cannot open: %s", strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(err, err_len, 1, path, "cannot stat: %s", strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return fail(err, err_len, 2, path, "is a directory, not a file");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, err_len, 2, path,
                    "not a regular file (pipes and devices cannot be memory-mapped)");
    }
    if (st.st_size == 0) {
        close(fd);
        return fail(err, err_len, 2, path, "empty file");
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return fail(err, err_len, 1, path, "too large to map on this machine (%lld bytes)",
                    (long long)st.st_size);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return fail(err, err_len, 1, path, "cannot memory-map %lld bytes: %s",
                    (long long)st.st_size, strerror(e));
    *map = p;
    *len = (size_t)st.st_size;
    return 0;
}

/* ---- .npy header parsing -------------------------------------------------------------------- */

typedef struct npy_parser {
    const char *p, *end;
    const char *path;
    char *err;
    size_t err_len;
} npy_parser;

static void skip_ws(npy_parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int header_error(npy_parser *ps, const char *what)
{
    return fail(ps->err, ps->err_len, 2, ps->path, "malformed .npy header: %s", what);
}

/* A Python string literal in single or double quotes; copies at most out_len - 1 characters,
 * sets *too_long when it had to cut. */
static int parse_string(npy_parser *ps, char *out, size_t out_len, int *too_long)
{
    *too_long = 0;
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
        return header_error(ps, "expected a quoted string");
    char q = *ps->p++;
    size_t n = 0;
    while (ps->p < ps->end && *ps->p != q) {
        char c = *ps->p++;
        if (c == '\\') {
            if (ps->p >= ps->end) break;
            c = *ps->p++;
        }
        if (c == '\n') return header_error(ps, "unterminated string");
        if (n + 1 < out_len)
            out[n++] = c;
        else
            *too_long = 1;
    }
    if (ps->p >= ps->end) return header_error(ps, "unterminated string");
    ps->p++; /* closing quote */
    out[n] = '\0';
    return 0;
}

static int parse_shape(npy_parser *ps, int64_t *dims, int *ndim)
{
    *ndim = 0;
    if (ps->p >= ps->end || *ps->p != '(')
        return header_error(ps, "'shape' is not a tuple of integers");
    ps->p++;
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end) return header_error(ps, "unterminated 'shape' tuple");
        if (*ps->p == ')') {
            ps->p++;
            break;
        }
        if (*ps->p == '-')
            return fail(ps->err, ps->err_len, 2, ps->path,
                        "malformed .npy header: 'shape' has a negative dimension");
        if (*ps->p < '0' || *ps->p > '9')
            return fail(ps->err, ps->err_len, 2, ps->path,
                        "malformed .npy header: 'shape' has a non-integer entry");
        int64_t v = 0;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            int d = *ps->p++ - '0';
            if (v > (INT64_MAX - d) / 10)
                return fail(ps->err, ps->err_len, 2, ps->path,
                            "shape dimension does not fit in 64 bits");
            v = v * 10 + d;
        }
        if (ps->p < ps->end && (*ps->p == 'L' || *ps->p == 'l')) ps->p++; /* Python 2 longs */
        if (*ndim >= NPY_MAX_DIMS)
            return header_error(ps, "'shape' has too many dimensions");
        dims[(*ndim)++] = v;
        skip_ws(ps);
        if (ps->p >= ps->end) return header_error(ps, "unterminated 'shape' tuple");
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ')') {
            /* Python needs the comma in a one-element tuple: "(5)" is the integer 5 */
            if (*ndim == 1) return header_error(ps, "'shape' (n) is not a tuple (write (n,))");
            ps->p++;
            break;
        }
        if (ps->p < ps->end && (*ps->p < '0' || *ps->p > '9'))
            return fail(ps->err, ps->err_len, 2, ps->path,
                        "malformed .npy header: 'shape' has a non-integer entry");
        return header_error(ps, "expected ',' or ')' in 'shape'");
    }
    return 0;
}

typedef struct npy_header {
    char descr[64];
    int descr_too_long;
    int descr_is_list;
    int fortran;
    int64_t dims[NPY_MAX_DIMS];
    int ndim;
} npy_header;

static int parse_header(npy_parser *ps, npy_header *h)
{
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '{')
        return header_error(ps, "not a dictionary literal");
    ps->p++;
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end) return header_error(ps, "unterminated dictionary");
        if (*ps->p == '}') {
            ps->p++;
            break;
        }
        char key[32];
        int too_long, rc;
        if ((rc = parse_string(ps, key, sizeof key, &too_long)) != 0) return rc;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') return header_error(ps, "expected ':' after a key");
        ps->p++;
        skip_ws(ps);
        if (!too_long && strcmp(key, "descr") == 0) {
            if (have_descr) return header_error(ps, "'descr' given twice");
            have_descr = 1;
            if (ps->p < ps->end && *ps->p == '[') {
                /* a structured (record) dtype: refused, so its list need not be parsed */
                h->descr_is_list = 1;
                return 0;
            }
            if ((rc = parse_string(ps, h->descr, sizeof h->descr, &h->descr_too_long)) != 0)
                return rc;
        } else if (!too_long && strcmp(key, "fortran_order") == 0) {
            if (have_fortran) return header_error(ps, "'fortran_order' given twice");
            have_fortran = 1;
            if ((size_t)(ps->end - ps->p) >= 4 && memcmp(ps->p, "True", 4) == 0) {
                h->fortran = 1;
                ps->p += 4;
            } else if ((size_t)(ps->end - ps->p) >= 5 && memcmp(ps->p, "False", 5) == 0) {
                h->fortran = 0;
                ps->p += 5;
            } else {
                return header_error(ps, "'fortran_order' is neither True nor False");
            }
        } else if (!too_long && strcmp(key, "shape") == 0) {
            if (have_shape) return header_error(ps, "'shape' given twice");
            have_shape = 1;
            if ((rc = parse_shape(ps, h->dims, &h->ndim)) != 0) return rc;
        } else {
            return fail(ps->err, ps->err_len, 2, ps->path,
                        "malformed .npy header: unexpected key '%s%s'", key,
                        too_long ? "..." : "");
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        return header_error(ps, "expected ',' or '}' after a value");
    }
    /* NumPy pads the header with spaces and ends it with a newline */
    while (ps->p < ps->end) {
        char c = *ps->p++;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\0')
            return header_error(ps, "text after the closing '}'");
    }
    if (!have_descr) return header_error(ps, "no 'descr' key");
    if (!have_fortran) return header_error(ps, "no 'fortran_order' key");
    if (!have_shape) return header_error(ps, "no 'shape' key");
    return 0;
}

/* The dtype of a 'descr' string; 0, or 2 with a message saying why it is refused.
 * *swap is set when the data's byte order is not the host's. */
static int classify_descr(const npy_header *h, const char *path, lsc_dtype *dtype,
                          size_t *itemsize, int *swap, char *err, size_t err_len)
{
    if (h->descr_is_list)
        return fail(err, err_len, 2, path,
                    "structured (record) arrays are not supported: save a plain 2-D float32 "
                    "array");
    const char *d = h->descr;
    if (h->descr_too_long)
        return fail(err, err_len, 2, path, "dtype '%s...' is not supported: convert to float32",
                    d);
    char order = '=';
    if (*d == '<' || *d == '>' || *d == '|' || *d == '=') order = *d++;
    char kind = *d;
    const char *sz = kind ? d + 1 : d;
    char *endp = NULL;
    long size = strtol(sz, &endp, 10);
    int sized = *sz >= '0' && *sz <= '9' && endp && *endp == '\0';
    switch (kind) {
    case 'f':
        if (sized && (size == 2 || size == 4 || size == 8)) break;
        return fail(err, err_len, 2, path,
                    "dtype '%s' is not supported (float16, float32 and float64 are): convert to "
                    "float32",
                    h->descr);
    case 'i':
    case 'u':
        return fail(err, err_len, 2, path,
                    "integer arrays are not supported (dtype '%s'): convert to float32", h->descr);
    case 'b':
    case '?':
        return fail(err, err_len, 2, path,
                    "boolean arrays are not supported (dtype '%s'): convert to float32", h->descr);
    case 'c':
        return fail(err, err_len, 2, path,
                    "complex arrays are not supported (dtype '%s'): convert to float32", h->descr);
    case 'O':
        return fail(err, err_len, 2, path,
                    "object arrays are not supported (dtype '%s'): convert to float32", h->descr);
    case 'U':
    case 'S':
    case 'a':
        return fail(err, err_len, 2, path,
                    "string arrays are not supported (dtype '%s'): convert to float32", h->descr);
    case 'M':
    case 'm':
        return fail(err, err_len, 2, path,
                    "date/time arrays are not supported (dtype '%s'): convert to float32",
                    h->descr);
    case 'V':
        return fail(err, err_len, 2, path,
                    "raw or structured dtype '%s' is not supported: convert to float32",
                    h->descr);
    default:
        return fail(err, err_len, 2, path, "unknown dtype '%s': convert to float32", h->descr);
    }
    *itemsize = (size_t)size;
    *dtype = size == 2 ? LSC_DTYPE_F16 : size == 4 ? LSC_DTYPE_F32 : LSC_DTYPE_F64;
    /* '|' ("not applicable") and '=' mean the writer's native order: taken as the host's */
    *swap = (order == '<' && !host_is_little_endian()) || (order == '>' && host_is_little_endian());
    return 0;
}

/* Column-major (Fortran) `src` of rows x cols items into row-major `dst`, in blocks so both
 * sides stay in cache. */
static void transpose_copy(void *dst, const void *src, int64_t rows, int64_t cols,
                           size_t itemsize)
{
    const int64_t B = 64;
    for (int64_t j0 = 0; j0 < cols; j0 += B)
        for (int64_t i0 = 0; i0 < rows; i0 += B) {
            int64_t j1 = j0 + B < cols ? j0 + B : cols, i1 = i0 + B < rows ? i0 + B : rows;
#define TRANSPOSE(T)                                                                              \
    do {                                                                                          \
        T *d_ = (T *)dst;                                                                         \
        const unsigned char *s_ = (const unsigned char *)src;                                     \
        for (int64_t j = j0; j < j1; j++)                                                         \
            for (int64_t i = i0; i < i1; i++)                                                     \
                memcpy(&d_[i * cols + j], s_ + (size_t)(j * rows + i) * sizeof(T), sizeof(T));   \
    } while (0)
            if (itemsize == 2)
                TRANSPOSE(uint16_t);
            else if (itemsize == 4)
                TRANSPOSE(uint32_t);
            else
                TRANSPOSE(uint64_t);
#undef TRANSPOSE
        }
}

static void release(lsc_input *in)
{
    if (in->map) munmap(in->map, in->map_len);
    free(in->owned);
    memset(in, 0, sizeof *in);
}

/* ---- .npy ----------------------------------------------------------------------------------- */

/* Maps `path` into `in` and parses its .npy preamble and header into *h; the data start at
 * *offset. On failure `in` is released. */
static int npy_open_header(const char *path, lsc_input *in, npy_header *h, size_t *offset,
                           char *err, size_t err_len)
{
    void *map;
    size_t len;
    int rc = map_file(path, &map, &len, err, err_len);
    if (rc) return rc;
    in->map = map;
    in->map_len = len;
    const unsigned char *b = (const unsigned char *)map;

    if (len < 6 || memcmp(b, "\x93NUMPY", 6) != 0) {
        release(in);
        return fail(err, err_len, 2, path, "not a .npy file (no \\x93NUMPY magic at the start)");
    }
    if (len < 10) {
        release(in);
        return fail(err, err_len, 2, path, "truncated: the file ends inside the .npy preamble");
    }
    unsigned major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0) {
        release(in);
        return fail(err, err_len, 2, path,
                    "unsupported .npy format version %u.%u (1.0, 2.0 and 3.0 are read)", major,
                    minor);
    }
    size_t start = major == 1 ? 10 : 12;
    if (len < start) {
        release(in);
        return fail(err, err_len, 2, path, "truncated: the file ends inside the .npy preamble");
    }
    uint64_t hlen = major == 1 ? (uint64_t)b[8] | (uint64_t)b[9] << 8 : (uint64_t)get_le32(b + 8);
    if (hlen > (uint64_t)(len - start)) {
        uint64_t held = (uint64_t)(len - start);
        release(in);
        return fail(err, err_len, 2, path,
                    "truncated: the header claims %llu bytes, the file holds %llu after the "
                    "preamble",
                    (unsigned long long)hlen, (unsigned long long)held);
    }
    *offset = start + (size_t)hlen;
    memset(h, 0, sizeof *h);
    npy_parser ps = {(const char *)b + start, (const char *)b + *offset, path, err, err_len};
    if ((rc = parse_header(&ps, h)) != 0) release(in);
    return rc;
}

static int open_npy(const char *path, lsc_input *in, char *err, size_t err_len)
{
    npy_header h;
    size_t offset;
    int rc = npy_open_header(path, in, &h, &offset, err, err_len);
    if (rc) return rc;
    const unsigned char *b = (const unsigned char *)in->map;
    const size_t len = in->map_len;
    lsc_dtype dtype = LSC_DTYPE_F32;
    size_t itemsize = 4;
    int swap = 0;
    if ((rc = classify_descr(&h, path, &dtype, &itemsize, &swap, err, err_len)) != 0) {
        release(in);
        return rc;
    }
    char shape[256];
    format_shape(shape, sizeof shape, h.dims, h.ndim);
    if (h.ndim != 2) {
        release(in);
        return fail(err, err_len, 2, path, "expected a 2-D array (rows x cols), got shape %s",
                    shape);
    }
    int64_t rows = h.dims[0], cols = h.dims[1];
    if (rows == 0 || cols == 0) {
        release(in);
        return fail(err, err_len, 2, path, "empty array: shape %s has no %s", shape,
                    rows == 0 ? "rows" : "columns");
    }
    /* rows * cols * itemsize must fit in int64 and size_t */
    if (rows > INT64_MAX / cols || rows * cols > INT64_MAX / (int64_t)itemsize ||
        (uint64_t)(rows * cols) * itemsize > (uint64_t)SIZE_MAX) {
        release(in);
        return fail(err, err_len, 2, path,
                    "shape %s of %s is too large: its byte size overflows 64 bits", shape,
                    dtype_name(dtype));
    }
    size_t count = (size_t)(rows * cols);
    size_t nbytes = count * itemsize;
    size_t held = len - offset;
    if (held != nbytes) {
        release(in);
        if (held < nbytes)
            return fail(err, err_len, 2, path,
                        "truncated: the header claims %lld x %lld %s (%zu bytes of data), the "
                        "file holds %zu",
                        (long long)rows, (long long)cols, dtype_name(dtype), nbytes, held);
        return fail(err, err_len, 2, path,
                    "%zu bytes after the data: the header claims %lld x %lld %s (%zu bytes of "
                    "data), the file holds %zu",
                    held - nbytes, (long long)rows, (long long)cols, dtype_name(dtype), nbytes,
                    held);
    }

    const unsigned char *data = b + offset;
    int fortran = h.fortran && rows > 1 && cols > 1; /* one row or column: both orders agree */
    int aligned = offset % itemsize == 0;
    if (fortran || swap || !aligned) {
        void *copy = malloc(nbytes);
        if (!copy) {
            release(in);
            return fail(err, err_len, 1, path,
                        "out of memory: cannot allocate %zu bytes for a %s copy of the data",
                        nbytes, fortran ? "row-major" : swap ? "byte-swapped" : "aligned");
        }
        if (fortran)
            transpose_copy(copy, data, rows, cols, itemsize);
        else
            memcpy(copy, data, nbytes);
        if (swap) byteswap_inplace(copy, count, itemsize);
        munmap(in->map, in->map_len); /* the copy is all that is needed now */
        in->map = NULL;
        in->map_len = 0;
        in->owned = copy;
        data = (const unsigned char *)copy;
    }
    in->m.data = data;
    in->m.dtype = dtype;
    in->m.rows = rows;
    in->m.cols = cols;
    in->m.ld = cols;
    in->m.memory = LSC_MEMORY_HOST;
    return 0;
}

static int has_extension(const char *path, const char *ext);

/* ---- labels: a 1-D (or n x 1) integer .npy ------------------------------------------------- */

int lsc_labels_open(const char *path, int64_t **labels, int64_t *n, char *err, size_t err_len)
{
    if (err && err_len) err[0] = '\0';
    *labels = NULL;
    *n = 0;
    if (!path || !*path) return fail(err, err_len, 2, "(no path)", "empty file name");
    if (!has_extension(path, "npy"))
        return fail(err, err_len, 2, path, "labels are read from .npy files (a 1-D integer array)");
    lsc_input in;
    memset(&in, 0, sizeof in);
    npy_header h;
    size_t offset;
    int rc = npy_open_header(path, &in, &h, &offset, err, err_len);
    if (rc) return rc;
    const char *d = h.descr;
    char order = '=';
    if (*d == '<' || *d == '>' || *d == '|' || *d == '=') order = *d++;
    const char kind = *d;
    char *endp = NULL;
    const long size = kind ? strtol(d + 1, &endp, 10) : 0;
    if (h.descr_is_list || h.descr_too_long || (kind != 'i' && kind != 'u') || !endp || *endp ||
        (size != 1 && size != 2 && size != 4 && size != 8)) {
        release(&in);
        return fail(err, err_len, 2, path,
                    "labels must be integers (int8 to int64, uint8 to uint64), not dtype '%s'",
                    h.descr_is_list ? "(structured)" : h.descr);
    }
    char shape[256];
    format_shape(shape, sizeof shape, h.dims, h.ndim);
    if (!(h.ndim == 1 || (h.ndim == 2 && h.dims[1] == 1)) || h.dims[0] == 0) {
        release(&in);
        return fail(err, err_len, 2, path, "labels must be a non-empty 1-D array, got shape %s",
                    shape);
    }
    const int64_t count = h.dims[0];
    if ((uint64_t)count > (uint64_t)SIZE_MAX / 8 || in.map_len - offset != (size_t)count * (size_t)size) {
        size_t held = in.map_len - offset;
        release(&in);
        return fail(err, err_len, 2, path, "the header claims %lld labels of %ld bytes, the file "
                    "holds %zu bytes of data", (long long)count, size, held);
    }
    int64_t *out = (int64_t *)malloc((size_t)count * sizeof *out);
    if (!out) {
        release(&in);
        return fail(err, err_len, 1, path, "out of memory: %lld labels", (long long)count);
    }
    const int swap = (order == '<' && !host_is_little_endian()) || (order == '>' && host_is_little_endian());
    const unsigned char *src = (const unsigned char *)in.map + offset;
    for (int64_t i = 0; i < count; i++) {
        unsigned char v[8];
        memcpy(v, src + (size_t)i * (size_t)size, (size_t)size);
        if (swap) byteswap_inplace(v, 1, (size_t)size);
        int64_t x;
        if (size == 1) x = kind == 'i' ? (int64_t)(int8_t)v[0] : (int64_t)v[0];
        else if (size == 2) {
            uint16_t u;
            memcpy(&u, v, 2);
            x = kind == 'i' ? (int64_t)(int16_t)u : (int64_t)u;
        } else if (size == 4) {
            uint32_t u;
            memcpy(&u, v, 4);
            x = kind == 'i' ? (int64_t)(int32_t)u : (int64_t)u;
        } else {
            uint64_t u;
            memcpy(&u, v, 8);
            if (kind == 'u' && u > (uint64_t)INT64_MAX) {
                free(out);
                release(&in);
                return fail(err, err_len, 2, path, "label %lld is %llu, above the int64 range",
                            (long long)i, (unsigned long long)u);
            }
            x = (int64_t)u;
        }
        out[i] = x;
    }
    release(&in);
    *labels = out;
    *n = count;
    return 0;
}

/* ---- .fvecs --------------------------------------------------------------------------------- */

static int open_fvecs(const char *path, lsc_input *in, char *err, size_t err_len)
{
    void *map;
    size_t len;
    int rc = map_file(path, &map, &len, err, err_len);
    if (rc) return rc;
    in->map = map;
    in->map_len = len;
    const unsigned char *b = (const unsigned char *)map;

    if (len < 4) {
        release(in);
        return fail(err, err_len, 2, path,
                    "truncated: %zu bytes, less than the 4-byte dimension of row 0", len);
    }
    if (len >= 6 && memcmp(b, "\x93NUMPY", 6) == 0) {
        release(in);
        return fail(err, err_len, 2, path, "this is a .npy file, not .fvecs: rename it to .npy");
    }
    int32_t d = (int32_t)get_le32(b);
    if (d < 1) {
        release(in);
        return fail(err, err_len, 2, path, "row 0 declares dimension %ld (must be >= 1)",
                    (long)d);
    }
    uint64_t stride = 4 * ((uint64_t)d + 1);
    uint64_t rows = 0;
    for (uint64_t off = 0; off < len; off += stride, rows++) {
        if (len - off < 4)
            return release(in),
                   fail(err, err_len, 2, path,
                        "truncated in row %llu: %llu bytes left, less than its 4-byte dimension",
                        (unsigned long long)rows, (unsigned long long)(len - off));
        int32_t dk = (int32_t)get_le32(b + off);
        if (dk != d)
            return release(in),
                   fail(err, err_len, 2, path,
                        "row %llu declares dimension %ld, row 0 declared %ld (all rows must "
                        "have the same dimension)",
                        (unsigned long long)rows, (long)dk, (long)d);
        if (len - off < stride)
            return release(in),
                   fail(err, err_len, 2, path,
                        "truncated in row %llu: it needs %llu bytes (dimension %ld), the file "
                        "holds %llu more",
                        (unsigned long long)rows, (unsigned long long)stride, (long)d,
                        (unsigned long long)(len - off));
    }
    in->m.dtype = LSC_DTYPE_F32;
    in->m.rows = (int64_t)rows;
    in->m.cols = d;
    in->m.memory = LSC_MEMORY_HOST;
    if (host_is_little_endian()) {
        /* zero-copy: each row's floats start d + 1 floats after the previous row's */
        in->m.data = b + 4;
        in->m.ld = (int64_t)d + 1;
        return 0;
    }
    size_t count = (size_t)rows * (size_t)d;
    float *copy = (float *)malloc(count * sizeof(float));
    if (!copy) {
        release(in);
        return fail(err, err_len, 1, path, "out of memory: cannot allocate %zu bytes",
                    count * sizeof(float));
    }
    for (uint64_t i = 0; i < rows; i++)
        memcpy(copy + i * (uint64_t)d, b + i * stride + 4, (size_t)d * sizeof(float));
    byteswap_inplace(copy, count, sizeof(float));
    munmap(in->map, in->map_len);
    in->map = NULL;
    in->map_len = 0;
    in->owned = copy;
    in->m.data = copy;
    in->m.ld = d;
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static int has_extension(const char *path, const char *ext)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) return 0;
    dot++;
    size_t n = strlen(ext);
    if (strlen(dot) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = dot[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != ext[i]) return 0;
    }
    return 1;
}

int lsc_input_open(const char *path, lsc_input *in, char *err, size_t err_len)
{
    if (err && err_len) err[0] = '\0';
    if (!in) return fail(err, err_len, 2, path ? path : "(null)", "no input struct given");
    memset(in, 0, sizeof *in);
    if (!path || !*path) return fail(err, err_len, 2, "(no path)", "empty file name");
    if (has_extension(path, "npy")) return open_npy(path, in, err, err_len);
    if (has_extension(path, "fvecs")) return open_fvecs(path, in, err, err_len);
    return fail(err, err_len, 2, path, "unknown file type (expected .npy or .fvecs)");
}

void lsc_input_close(lsc_input *in)
{
    if (in) release(in);
}

/* ---- writers -------------------------------------------------------------------------------- */

static int npy_write(const char *path, const void *data, size_t itemsize, const char *descr,
                     int64_t rows, int64_t cols, char *err, size_t err_len)
{
    if (err && err_len) err[0] = '\0';
    if (!path || !*path) return fail(err, err_len, 2, "(no path)", "empty file name");
    if (rows < 0 || cols < 0)
        return fail(err, err_len, 2, path, "cannot write a %lld x %lld array", (long long)rows,
                    (long long)cols);
    if ((cols && rows > INT64_MAX / cols) ||
        (uint64_t)(rows * cols) > (uint64_t)SIZE_MAX / itemsize)
        return fail(err, err_len, 2, path, "a %lld x %lld array is too large to write",
                    (long long)rows, (long long)cols);
    size_t count = (size_t)(rows * cols);
    if (count && !data) return fail(err, err_len, 2, path, "no data to write");

    /* the header: the dict, padded with spaces and a newline so the data starts at a
     * multiple of 64 bytes (NumPy's own alignment) */
    char hdr[256];
    int n = snprintf(hdr + 10, sizeof hdr - 10,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }", descr,
                     (long long)rows, (long long)cols);
    if (n < 0 || (size_t)n + 10 + 1 + 64 > sizeof hdr)
        return fail(err, err_len, 1, path, "internal error: .npy header does not fit");
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    memset(hdr + 10 + n, ' ', total - 10 - (size_t)n);
    hdr[total - 1] = '\n';
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)((total - 10) & 0xff);
    hdr[9] = (char)((total - 10) >> 8);

    /* a temporary file beside the target, renamed over it once complete */
    size_t plen = strlen(path);
    char *tmp = (char *)malloc(plen + 16);
    if (!tmp) return fail(err, err_len, 1, path, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp-XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return fail(err, err_len, errno_code(e), path, "cannot open for writing: %s",
                    strerror(e));
    }
    /* mkstemp creates the file 0600: give it the mode a plain create would */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, (mode_t)(0666 & ~mask));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        remove(tmp);
        free(tmp);
        return fail(err, err_len, 1, path, "cannot open for writing: %s", strerror(e));
    }
    int ok = fwrite(hdr, 1, total, f) == total;
    if (ok && count) {
        if (host_is_little_endian()) {
            ok = fwrite(data, itemsize, count, f) == count;
        } else {
            unsigned char buf[4096];
            size_t per = sizeof buf / itemsize;
            for (size_t i = 0; ok && i < count; i += per) {
                size_t k = count - i < per ? count - i : per;
                memcpy(buf, (const unsigned char *)data + i * itemsize, k * itemsize);
                byteswap_inplace(buf, k, itemsize);
                ok = fwrite(buf, itemsize, k, f) == k;
            }
        }
    }
    int e = ok ? 0 : errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        int re = errno;
        remove(tmp);
        free(tmp);
        return fail(err, err_len, errno_code(re), path, "cannot replace: %s", strerror(re));
    }
    if (!ok) {
        remove(tmp);
        free(tmp);
        return fail(err, err_len, 1, path, "write failed: %s", e ? strerror(e) : "short write");
    }
    free(tmp);
    return 0;
}

int lsc_npy_write_f32(const char *path, const float *data, int64_t rows, int64_t cols, char *err,
                      size_t err_len)
{
    return npy_write(path, data, sizeof(float), "<f4", rows, cols, err, err_len);
}

int lsc_npy_write_i64(const char *path, const int64_t *data, int64_t rows, int64_t cols,
                      char *err, size_t err_len)
{
    return npy_write(path, data, sizeof(int64_t), "<i8", rows, cols, err, err_len);
}
