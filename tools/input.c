/* Input and output files of the lsc command line: .npy (memory-mapped) and .fvecs, the
 * `path:name` selection and the dispatch to the container readers (input_npz.c,
 * input_safetensors.c, input_hdf5.c). See input.h.
 *
 * Nothing read from a file is trusted: every length is checked against the file's real size
 * before it is used, every size product is checked for overflow, and the .npy header (a Python
 * dict literal) is parsed by hand, strictly, within its stated length. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include "input_internal.h"

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

static int vfail(char *err, size_t err_len, int code, const char *path, const char *fmt, va_list ap)
{
    if (err && err_len) {
        int n = snprintf(err, err_len, "%s: ", path);
        if (n >= 0 && (size_t)n < err_len) vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
    }
    return code;
}

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static int
fail(char *err, size_t err_len, int code, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, err_len, code, path, fmt, ap);
    va_end(ap);
    return code;
}

int lsc_in_fail(char *err, size_t err_len, int code, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, err_len, code, where, fmt, ap);
    va_end(ap);
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
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(buf + n, len - n, __VA_ARGS__);                                          \
        if (w_ < 0 || (size_t)w_ >= len - n) return;                                               \
        n += (size_t)w_;                                                                           \
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
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
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
        if (n + 1 < out_len) out[n++] = c;
        else *too_long = 1;
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
        if (*ndim >= NPY_MAX_DIMS) return header_error(ps, "'shape' has too many dimensions");
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
    if (ps->p >= ps->end || *ps->p != '{') return header_error(ps, "not a dictionary literal");
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
                        "malformed .npy header: unexpected key '%s%s'", key, too_long ? "..." : "");
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
static int classify_descr(const npy_header *h, const char *path, lsc_dtype *dtype, size_t *itemsize,
                          int *swap, char *err, size_t err_len)
{
    if (h->descr_is_list)
        return fail(err, err_len, 2, path,
                    "structured (record) arrays are not supported: save a plain 2-D float32 "
                    "array");
    const char *d = h->descr;
    if (h->descr_too_long)
        return fail(err, err_len, 2, path, "dtype '%s...' is not supported: convert to float32", d);
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
                    "raw or structured dtype '%s' is not supported: convert to float32", h->descr);
    default: return fail(err, err_len, 2, path, "unknown dtype '%s': convert to float32", h->descr);
    }
    *itemsize = (size_t)size;
    *dtype = size == 2 ? LSC_DTYPE_F16 : size == 4 ? LSC_DTYPE_F32 : LSC_DTYPE_F64;
    /* '|' ("not applicable") and '=' mean the writer's native order: taken as the host's */
    *swap = (order == '<' && !host_is_little_endian()) || (order == '>' && host_is_little_endian());
    return 0;
}

/* Column-major (Fortran) `src` of rows x cols items, column j at src + j src_ld items, into
 * row-major `dst`, in blocks so both sides stay in cache. */
static void transpose_copy(void *dst, const void *src, int64_t rows, int64_t cols, int64_t src_ld,
                           size_t itemsize)
{
    const int64_t B = 64;
    for (int64_t j0 = 0; j0 < cols; j0 += B)
        for (int64_t i0 = 0; i0 < rows; i0 += B) {
            int64_t j1 = j0 + B < cols ? j0 + B : cols, i1 = i0 + B < rows ? i0 + B : rows;
#define TRANSPOSE(T)                                                                               \
    do {                                                                                           \
        T *d_ = (T *)dst;                                                                          \
        const unsigned char *s_ = (const unsigned char *)src;                                      \
        for (int64_t j = j0; j < j1; j++)                                                          \
            for (int64_t i = i0; i < i1; i++)                                                      \
                memcpy(&d_[i * cols + j], s_ + (size_t)(j * src_ld + i) * sizeof(T), sizeof(T));   \
    } while (0)
            if (itemsize == 2) TRANSPOSE(uint16_t);
            else if (itemsize == 4) TRANSPOSE(uint32_t);
            else TRANSPOSE(uint64_t);
#undef TRANSPOSE
        }
}

static void release(lsc_input *in)
{
    if (in->map) munmap(in->map, in->map_len);
    free(in->owned);
    memset(in, 0, sizeof *in);
}

/* ---- the helpers the container readers share (input_internal.h) ---------------------------- */

int lsc_in_errno_code(int e) { return errno_code(e); }
int lsc_in_host_is_little_endian(void) { return host_is_little_endian(); }
void lsc_in_byteswap(void *data, size_t count, size_t itemsize)
{
    byteswap_inplace(data, count, itemsize);
}
const char *lsc_in_dtype_name(lsc_dtype t) { return dtype_name(t); }
void lsc_in_format_shape(char *buf, size_t len, const int64_t *dims, int ndim)
{
    format_shape(buf, len, dims, ndim);
}
int lsc_in_map_file(const char *path, void **map, size_t *len, char *err, size_t err_len)
{
    return map_file(path, map, len, err, err_len);
}
void lsc_in_release(lsc_input *in)
{
    if (in) release(in);
}

uint64_t lsc_in_inflate_limit(void)
{
    const char *s = getenv("LSC_MAX_INFLATE");
    if (s && *s) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        uint64_t mul = 1;
        if (end && *end) {
            switch (*end == 'k' ? 'K' : *end) {
            case 'K': mul = 1ull << 10; break;
            case 'M': mul = 1ull << 20; break;
            case 'G': mul = 1ull << 30; break;
            case 'T': mul = 1ull << 40; break;
            default: mul = 0;
            }
            if (end[1]) mul = 0;
        }
        if (!errno && end != s && mul && v <= UINT64_MAX / mul) return (uint64_t)v * mul;
        /* an unreadable setting falls through to the default rather than lifting the limit */
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return 1ull << 32;
    return (uint64_t)pages * (uint64_t)page / 2;
}

void lsc_in_names_append(char *buf, size_t len, const char *name)
{
    size_t n = strlen(buf);
    if (len < 8 || n + 5 >= len || (n >= 5 && !strcmp(buf + n - 5, ", ..."))) return;
    int w = snprintf(buf + n, len - n, "%s'%s'", n ? ", " : "", name);
    if (w < 0 || (size_t)w >= len - n) {
        /* does not fit: end the list with ", ..." where it ends */
        size_t at = n;
        if (at + 6 > len) at = len - 6;
        snprintf(buf + at, len - at, "%s", ", ...");
    }
}

/* ---- .npy ----------------------------------------------------------------------------------- */

/* Parses the preamble and header of the .npy image b[0, len) into *h; the data start at
 * *offset. */
static int npy_parse(const char *where, const unsigned char *b, size_t len, npy_header *h,
                     size_t *offset, char *err, size_t err_len)
{
    if (len < 6 || memcmp(b, "\x93NUMPY", 6) != 0)
        return fail(err, err_len, 2, where, "not a .npy file (no \\x93NUMPY magic at the start)");
    if (len < 10)
        return fail(err, err_len, 2, where, "truncated: the file ends inside the .npy preamble");
    unsigned major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return fail(err, err_len, 2, where,
                    "unsupported .npy format version %u.%u (1.0, 2.0 and 3.0 are read)", major,
                    minor);
    size_t start = major == 1 ? 10 : 12;
    if (len < start)
        return fail(err, err_len, 2, where, "truncated: the file ends inside the .npy preamble");
    uint64_t hlen = major == 1 ? (uint64_t)b[8] | (uint64_t)b[9] << 8 : (uint64_t)get_le32(b + 8);
    if (hlen > (uint64_t)(len - start))
        return fail(err, err_len, 2, where,
                    "truncated: the header claims %llu bytes, the file holds %llu after the "
                    "preamble",
                    (unsigned long long)hlen, (unsigned long long)(len - start));
    *offset = start + (size_t)hlen;
    memset(h, 0, sizeof *h);
    npy_parser ps = {(const char *)b + start, (const char *)b + *offset, where, err, err_len};
    return parse_header(&ps, h);
}

/* vector: a 1-D array of n values is read as 1 x n (a statistics file's `mu`) */
static int npy_matrix(const char *where, const unsigned char *b, size_t len, lsc_input *in,
                      int vector, char *err, size_t err_len)
{
    npy_header h;
    size_t offset = 0;
    int rc = npy_parse(where, b, len, &h, &offset, err, err_len);
    lsc_dtype dtype = LSC_DTYPE_F32;
    size_t itemsize = 4;
    int swap = 0;
    if (!rc) rc = classify_descr(&h, where, &dtype, &itemsize, &swap, err, err_len);
    if (rc) {
        release(in);
        return rc;
    }
    char shape[256];
    format_shape(shape, sizeof shape, h.dims, h.ndim);
    if (vector && h.ndim == 1) {
        h.ndim = 2;
        h.dims[1] = h.dims[0];
        h.dims[0] = 1;
    }
    if (h.ndim != 2) {
        release(in);
        return fail(err, err_len, 2, where, "expected a 2-D array (rows x cols), got shape %s",
                    shape);
    }
    int64_t rows = h.dims[0], cols = h.dims[1];
    if (rows == 0 || cols == 0) {
        release(in);
        return fail(err, err_len, 2, where, "empty array: shape %s has no %s", shape,
                    rows == 0 ? "rows" : "columns");
    }
    /* rows * cols * itemsize must fit in int64 and size_t */
    if (rows > INT64_MAX / cols || rows * cols > INT64_MAX / (int64_t)itemsize ||
        (uint64_t)(rows * cols) * itemsize > (uint64_t)SIZE_MAX) {
        release(in);
        return fail(err, err_len, 2, where,
                    "shape %s of %s is too large: its byte size overflows 64 bits", shape,
                    dtype_name(dtype));
    }
    size_t count = (size_t)(rows * cols);
    size_t nbytes = count * itemsize;
    size_t held = len - offset;
    if (held != nbytes) {
        release(in);
        if (held < nbytes)
            return fail(err, err_len, 2, where,
                        "truncated: the header claims %lld x %lld %s (%zu bytes of data), the "
                        "file holds %zu",
                        (long long)rows, (long long)cols, dtype_name(dtype), nbytes, held);
        return fail(err, err_len, 2, where,
                    "%zu bytes after the data: the header claims %lld x %lld %s (%zu bytes of "
                    "data), the file holds %zu",
                    held - nbytes, (long long)rows, (long long)cols, dtype_name(dtype), nbytes,
                    held);
    }

    const unsigned char *data = b + offset;
    int fortran = h.fortran && rows > 1 && cols > 1; /* one row or column: both orders agree */
    int aligned = (uintptr_t)data % itemsize == 0;
    int64_t first = 0, total = 0, kept = rows;
    if (fortran || swap || !aligned) {
        /* a copy is made anyway: of the rows asked for only (lsc_input_open_part) */
        if (in->parts > 1) {
            first = (int64_t)((__int128)rows * in->part / in->parts);
            kept = (int64_t)((__int128)rows * (in->part + 1) / in->parts) - first;
            total = rows;
        }
        count = (size_t)(kept * cols);
        nbytes = count * itemsize;
        void *copy = malloc(nbytes ? nbytes : itemsize);
        if (!copy) {
            release(in);
            return fail(err, err_len, 1, where,
                        "out of memory: cannot allocate %zu bytes for a %s copy of the data",
                        nbytes,
                        fortran ? "row-major"
                        : swap  ? "byte-swapped"
                                : "aligned");
        }
        if (fortran)
            transpose_copy(copy, data + (size_t)first * itemsize, kept, cols, rows, itemsize);
        else memcpy(copy, data + (size_t)(first * cols) * itemsize, nbytes);
        if (swap) byteswap_inplace(copy, count, itemsize);
        release(in); /* the copy is all that is needed now */
        in->owned = copy;
        data = (const unsigned char *)copy;
    }
    in->m.data = data;
    in->m.dtype = dtype;
    in->m.rows = kept;
    in->first_row = first;
    in->total_rows = total;
    in->m.cols = cols;
    in->m.ld = cols;
    in->m.memory = LSC_MEMORY_HOST;
    return 0;
}

int lsc_in_npy_matrix(const char *where, const unsigned char *b, size_t len, lsc_input *in,
                      char *err, size_t err_len)
{
    return npy_matrix(where, b, len, in, 0, err, err_len);
}

int lsc_in_npy_vector(const char *where, const unsigned char *b, size_t len, lsc_input *in,
                      char *err, size_t err_len)
{
    return npy_matrix(where, b, len, in, 1, err, err_len);
}

static int open_npy(const char *path, lsc_input *in, char *err, size_t err_len)
{
    void *map;
    size_t len;
    int rc = map_file(path, &map, &len, err, err_len);
    if (rc) return rc;
    in->map = map;
    in->map_len = len;
    return lsc_in_npy_matrix(path, (const unsigned char *)map, len, in, err, err_len);
}

/* ---- labels: a 1-D (or n x 1) integer array ------------------------------------------------ */

int lsc_in_ints_to_i64(const char *where, const unsigned char *src, int64_t count, int size,
                       int is_signed, int little, int64_t **labels, char *err, size_t err_len)
{
    *labels = NULL;
    if (count < 1 || (uint64_t)count > (uint64_t)SIZE_MAX / 8)
        return fail(err, err_len, 2, where, "%lld labels cannot be held", (long long)count);
    int64_t *out = (int64_t *)malloc((size_t)count * sizeof *out);
    if (!out) return fail(err, err_len, 1, where, "out of memory: %lld labels", (long long)count);
    const int swap = little != host_is_little_endian();
    for (int64_t i = 0; i < count; i++) {
        unsigned char v[8];
        memcpy(v, src + (size_t)i * (size_t)size, (size_t)size);
        if (swap) byteswap_inplace(v, 1, (size_t)size);
        int64_t x;
        if (size == 1) x = is_signed ? (int64_t)(int8_t)v[0] : (int64_t)v[0];
        else if (size == 2) {
            uint16_t u;
            memcpy(&u, v, 2);
            x = is_signed ? (int64_t)(int16_t)u : (int64_t)u;
        } else if (size == 4) {
            uint32_t u;
            memcpy(&u, v, 4);
            x = is_signed ? (int64_t)(int32_t)u : (int64_t)u;
        } else {
            uint64_t u;
            memcpy(&u, v, 8);
            if (!is_signed && u > (uint64_t)INT64_MAX) {
                free(out);
                return fail(err, err_len, 2, where, "label %lld is %llu, above the int64 range",
                            (long long)i, (unsigned long long)u);
            }
            x = (int64_t)u;
        }
        out[i] = x;
    }
    *labels = out;
    return 0;
}

int lsc_in_npy_labels(const char *where, const unsigned char *b, size_t len, int64_t **labels,
                      int64_t *n, char *err, size_t err_len)
{
    npy_header h;
    size_t offset = 0;
    int rc = npy_parse(where, b, len, &h, &offset, err, err_len);
    if (rc) return rc;
    const char *d = h.descr;
    char order = '=';
    if (*d == '<' || *d == '>' || *d == '|' || *d == '=') order = *d++;
    const char kind = *d;
    char *endp = NULL;
    const long size = kind ? strtol(d + 1, &endp, 10) : 0;
    if (h.descr_is_list || h.descr_too_long || (kind != 'i' && kind != 'u') || !endp || *endp ||
        (size != 1 && size != 2 && size != 4 && size != 8))
        return fail(err, err_len, 2, where,
                    "labels must be integers (int8 to int64, uint8 to uint64), not dtype '%s'",
                    h.descr_is_list ? "(structured)" : h.descr);
    char shape[256];
    format_shape(shape, sizeof shape, h.dims, h.ndim);
    if (!(h.ndim == 1 || (h.ndim == 2 && h.dims[1] == 1)) || h.dims[0] == 0)
        return fail(err, err_len, 2, where, "labels must be a non-empty 1-D array, got shape %s",
                    shape);
    const int64_t count = h.dims[0];
    if ((uint64_t)count > (uint64_t)SIZE_MAX / 8 || len - offset != (size_t)count * (size_t)size)
        return fail(err, err_len, 2, where,
                    "the header claims %lld labels of %ld bytes, the file holds %zu bytes of data",
                    (long long)count, size, len - offset);
    const int little = order == '<' || (order != '>' && host_is_little_endian());
    rc = lsc_in_ints_to_i64(where, b + offset, count, (int)size, kind == 'i', little, labels, err,
                            err_len);
    if (!rc) *n = count;
    return rc;
}

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
        return fail(err, err_len, 2, path, "row 0 declares dimension %ld (must be >= 1)", (long)d);
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

/* ---- file formats and the `path:name` selection -------------------------------------------- */

typedef enum in_format {
    FMT_UNKNOWN,
    FMT_NPY,
    FMT_FVECS,
    FMT_NPZ,
    FMT_SAFETENSORS,
    FMT_HDF5,
    FMT_TORCH
} in_format;

static in_format format_of(const char *path)
{
    if (has_extension(path, "npy")) return FMT_NPY;
    if (has_extension(path, "fvecs")) return FMT_FVECS;
    if (has_extension(path, "npz")) return FMT_NPZ;
    if (has_extension(path, "safetensors")) return FMT_SAFETENSORS;
    if (has_extension(path, "h5") || has_extension(path, "hdf5")) return FMT_HDF5;
    if (has_extension(path, "pt") || has_extension(path, "pth")) return FMT_TORCH;
    return FMT_UNKNOWN;
}

#define FORMATS_LIST ".npy, .npz[:NAME], .safetensors[:NAME], .h5 or .hdf5[:/DATASET], .fvecs"

/* Splits `spec` into the file and the array name. The whole spec is tried as a file first, so
 * a path that itself holds ':' still opens; otherwise it is cut at the first ':' whose left
 * side has a known extension and exists (or, when none exists, at the first with a known
 * extension, so the message names that file). *file is malloc'd; *name points into it (NULL
 * when no name was given). Returns 0 or 1 (out of memory). */
static int split_spec(const char *spec, char **file, const char **name)
{
    *file = NULL;
    *name = NULL;
    size_t len = strlen(spec);
    char *buf = (char *)malloc(len + 1);
    if (!buf) return 1;
    memcpy(buf, spec, len + 1);
    *file = buf;
    struct stat st;
    if (stat(spec, &st) == 0 || !strchr(spec, ':')) return 0;
    char *first = NULL;
    for (char *c = strchr(buf, ':'); c; c = strchr(c + 1, ':')) {
        *c = '\0';
        int known = c != buf && format_of(buf) != FMT_UNKNOWN;
        int exists = known && stat(buf, &st) == 0;
        *c = ':';
        if (exists) {
            first = c;
            break;
        }
        if (known && !first) first = c;
    }
    if (first) {
        *first = '\0';
        *name = first + 1;
    }
    return 0;
}

static int not_a_container(const char *file, const char *name, in_format f, char *err,
                           size_t err_len)
{
    return fail(err, err_len, 2, file,
                "a %s file holds one array, so ':%s' selects nothing (name arrays in .npz, "
                ".safetensors or HDF5 files)",
                f == FMT_NPY     ? ".npy"
                : f == FMT_FVECS ? ".fvecs"
                                 : "PyTorch",
                name);
}

/* The one-line conversion of a PyTorch file: unpickling runs code, so lsc does not. */
static int torch_message(const char *file, char *err, size_t err_len)
{
    const char *dot = strrchr(file, '.');
    int stem = dot ? (int)(dot - file) : (int)strlen(file);
    return fail(err, err_len, 2, file,
                "PyTorch files are pickles, which lsc does not load (unpickling runs code): "
                "convert once with python -c \"import torch, numpy; numpy.save('%.*s.npy', "
                "torch.load('%s', map_location='cpu').float().numpy())\" (pick the tensor first "
                "if the file holds a dict)",
                stem, file, file);
}

static int open_input(const char *path, int64_t part, int64_t parts, lsc_input *in, char *err,
                      size_t err_len)
{
    if (err && err_len) err[0] = '\0';
    if (!in) return fail(err, err_len, 2, path ? path : "(null)", "no input struct given");
    memset(in, 0, sizeof *in);
    in->part = part;
    in->parts = parts;
    if (!path || !*path) return fail(err, err_len, 2, "(no path)", "empty file name");
    char *file;
    const char *name;
    if (split_spec(path, &file, &name)) return fail(err, err_len, 1, path, "out of memory");
    in_format f = format_of(file);
    int rc;
    if (name && !*name)
        rc = fail(err, err_len, 2, file, "no array name after ':' (write %s:NAME)", file);
    else if (name && (f == FMT_NPY || f == FMT_FVECS))
        rc = not_a_container(file, name, f, err, err_len);
    else if (f == FMT_NPY) rc = open_npy(file, in, err, err_len);
    else if (f == FMT_FVECS) rc = open_fvecs(file, in, err, err_len);
    else if (f == FMT_NPZ) rc = lsc_in_npz_open(file, name, in, err, err_len);
    else if (f == FMT_SAFETENSORS) rc = lsc_in_safetensors_open(file, name, in, err, err_len);
    else if (f == FMT_HDF5) rc = lsc_in_hdf5_open(file, name, in, err, err_len);
    else if (f == FMT_TORCH) rc = torch_message(file, err, err_len);
    else rc = fail(err, err_len, 2, file, "unknown file type (expected " FORMATS_LIST ")");
    free(file);
    if (rc) release(in);
    return rc;
}

int lsc_input_open(const char *path, lsc_input *in, char *err, size_t err_len)
{
    int rc = open_input(path, 0, 1, in, err, err_len);
    if (!rc) in->total_rows = in->m.rows;
    return rc;
}

int lsc_input_open_part(const char *path, int64_t part, int64_t parts, lsc_input *in, char *err,
                        size_t err_len)
{
    if (parts < 1 || part < 0 || part >= parts) {
        if (in) memset(in, 0, sizeof *in);
        return fail(err, err_len, 2, path ? path : "(null)", "part %lld of %lld does not exist",
                    (long long)part, (long long)parts);
    }
    int rc = open_input(path, part, parts, in, err, err_len);
    if (rc || in->total_rows) return rc; /* a reader copied the part alone */
    /* a view of the whole array: narrowed to the part's rows, which alone are ever touched */
    const int64_t n = in->m.rows;
    const int64_t lo = (int64_t)((__int128)n * part / parts);
    const int64_t hi = (int64_t)((__int128)n * (part + 1) / parts);
    const size_t es = lsc_dtype_size(in->m.dtype), row = (size_t)in->m.ld * es;
    in->total_rows = n;
    in->first_row = lo;
    in->m.rows = hi - lo;
    in->m.data = (const unsigned char *)in->m.data + (size_t)lo * row;
    if (in->owned) {
        /* a converted whole array: keep the part's rows only (the whole was held meanwhile) */
        const size_t keep = (size_t)(hi - lo) * row;
        memmove(in->owned, in->m.data, keep);
        void *shrunk = realloc(in->owned, keep ? keep : es);
        if (shrunk) in->owned = shrunk;
        in->m.data = in->owned;
    }
    return 0;
}

void lsc_input_close(lsc_input *in)
{
    if (in) release(in);
}

int lsc_labels_open(const char *path, int64_t **labels, int64_t *n, char *err, size_t err_len)
{
    if (err && err_len) err[0] = '\0';
    *labels = NULL;
    *n = 0;
    if (!path || !*path) return fail(err, err_len, 2, "(no path)", "empty file name");
    char *file;
    const char *name;
    if (split_spec(path, &file, &name)) return fail(err, err_len, 1, path, "out of memory");
    in_format f = format_of(file);
    int rc;
    if (name && !*name)
        rc = fail(err, err_len, 2, file, "no array name after ':' (write %s:NAME)", file);
    else if (name && f == FMT_NPY) rc = not_a_container(file, name, f, err, err_len);
    else if (f == FMT_NPY) {
        void *map;
        size_t len;
        rc = map_file(file, &map, &len, err, err_len);
        if (!rc) {
            rc = lsc_in_npy_labels(file, (const unsigned char *)map, len, labels, n, err, err_len);
            munmap(map, len);
        }
    } else if (f == FMT_NPZ) rc = lsc_in_npz_labels(file, name, labels, n, err, err_len);
    else if (f == FMT_SAFETENSORS)
        rc = lsc_in_safetensors_labels(file, name, labels, n, err, err_len);
    else if (f == FMT_HDF5) rc = lsc_in_hdf5_labels(file, name, labels, n, err, err_len);
    else if (f == FMT_TORCH) rc = torch_message(file, err, err_len);
    else
        rc = fail(err, err_len, 2, file,
                  "labels are read from 1-D integer arrays in .npy, .npz[:NAME], "
                  ".safetensors[:NAME] or .h5[:/DATASET] files");
    free(file);
    if (rc) {
        *labels = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- writers -------------------------------------------------------------------------------- */

/* The .npy header of a 2-D C-order array (rows < 0: a 1-D array of cols values) into
 * hdr[256]: the dict, padded with spaces and a newline so the data starts at a multiple of 64
 * bytes (NumPy's own alignment). Returns its length, 0 if it does not fit. */
static size_t npy_header_bytes(char *hdr, const char *descr, int64_t rows, int64_t cols)
{
    int n = rows < 0 ? snprintf(hdr + 10, 256 - 10,
                                "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }",
                                descr, (long long)cols)
                     : snprintf(hdr + 10, 256 - 10,
                                "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }",
                                descr, (long long)rows, (long long)cols);
    if (n < 0 || (size_t)n + 10 + 1 + 64 > 256) return 0;
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    memset(hdr + 10 + n, ' ', total - 10 - (size_t)n);
    hdr[total - 1] = '\n';
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)((total - 10) & 0xff);
    hdr[9] = (char)((total - 10) >> 8);
    return total;
}

/* The .npy image (header then data) of a 2-D C-order array, malloc'd; NULL if out of memory. */
static unsigned char *npy_image(const void *data, size_t itemsize, const char *descr, int64_t rows,
                                int64_t cols, size_t *size)
{
    char hdr[256];
    size_t total = npy_header_bytes(hdr, descr, rows, cols);
    if (!total) return NULL;
    size_t count = (size_t)(rows < 0 ? cols : rows * cols), bytes = count * itemsize;
    unsigned char *img = (unsigned char *)malloc(total + bytes + 1);
    if (!img) return NULL;
    memcpy(img, hdr, total);
    if (bytes) {
        memcpy(img + total, data, bytes);
        if (!host_is_little_endian()) byteswap_inplace(img + total, count, itemsize);
    }
    *size = total + bytes;
    return img;
}

static int check_write_shape(const char *path, const void *data, size_t itemsize, int64_t rows,
                             int64_t cols, char *err, size_t err_len)
{
    if (rows < 0 || cols < 0)
        return fail(err, err_len, 2, path, "cannot write a %lld x %lld array", (long long)rows,
                    (long long)cols);
    if ((cols && rows > INT64_MAX / cols) ||
        (uint64_t)(rows * cols) > (uint64_t)SIZE_MAX / itemsize / 2)
        return fail(err, err_len, 2, path, "a %lld x %lld array is too large to write",
                    (long long)rows, (long long)cols);
    if (rows * cols != 0 && !data) return fail(err, err_len, 2, path, "no data to write");
    return 0;
}

static int npy_write(const char *path, const void *data, size_t itemsize, const char *descr,
                     int64_t rows, int64_t cols, char *err, size_t err_len)
{
    if (err && err_len) err[0] = '\0';
    if (!path || !*path) return fail(err, err_len, 2, "(no path)", "empty file name");
    int rc = check_write_shape(path, data, itemsize, rows, cols, err, err_len);
    if (rc) return rc;
    size_t count = (size_t)(rows * cols);

    char hdr[256];
    size_t total = npy_header_bytes(hdr, descr, rows, cols);
    if (!total) return fail(err, err_len, 1, path, "internal error: .npy header does not fit");

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
        return fail(err, err_len, errno_code(e), path, "cannot open for writing: %s", strerror(e));
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

int lsc_npy_write_i64(const char *path, const int64_t *data, int64_t rows, int64_t cols, char *err,
                      size_t err_len)
{
    return npy_write(path, data, sizeof(int64_t), "<i8", rows, cols, err, err_len);
}

/* An output spec: "f.npz" or "f.npz:NAME" is an .npz member (NAME defaulting to `dflt`),
 * anything else a .npy file. *file is malloc'd (NULL when out of memory). */
static void split_output(const char *spec, const char *dflt, char **file, const char **name,
                         int *npz)
{
    *name = NULL;
    *npz = 0;
    *file = (char *)malloc(strlen(spec) + 1);
    if (!*file) return;
    strcpy(*file, spec);
    if (has_extension(*file, "npz")) {
        *npz = 1;
        *name = dflt;
        return;
    }
    char *c = strrchr(*file, ':');
    if (c) {
        *c = '\0';
        if (has_extension(*file, "npz")) {
            *npz = 1;
            *name = c + 1;
            return;
        }
        *c = ':';
    }
}

int lsc_arrays_write(const lsc_output_array *arrays, int n, char *err, size_t err_len)
{
    if (err && err_len) err[0] = '\0';
    if (n < 0 || (n && !arrays)) return fail(err, err_len, 2, "(no path)", "no arrays to write");
    int rc = 0;
    char **files = (char **)calloc((size_t)n + 1, sizeof *files);
    const char **names = (const char **)calloc((size_t)n + 1, sizeof *names);
    int *npz = (int *)calloc((size_t)n + 1, sizeof *npz),
        *done = (int *)calloc((size_t)n + 1, sizeof *done);
    if (!files || !names || !npz || !done) {
        rc = fail(err, err_len, 1, n ? arrays[0].path : "(no path)", "out of memory");
        goto out;
    }
    for (int i = 0; i < n && !rc; i++) {
        const lsc_output_array *a = &arrays[i];
        if (!a->path || !*a->path) {
            rc = fail(err, err_len, 2, "(no path)", "empty file name");
            break;
        }
        split_output(a->path, a->name, &files[i], &names[i], &npz[i]);
        if (!files[i]) rc = fail(err, err_len, 1, a->path, "out of memory");
        else if (npz[i] && (!names[i] || !*names[i]))
            rc = fail(err, err_len, 2, files[i], "no array name after ':' (write %s:NAME)",
                      files[i]);
    }
    for (int i = 0; i < n && !rc; i++) {
        if (done[i]) continue;
        const lsc_output_array *a = &arrays[i];
        if (!npz[i]) {
            rc = a->int64 ? lsc_npy_write_i64(files[i], (const int64_t *)a->data, a->rows, a->cols,
                                              err, err_len)
                          : lsc_npy_write_f32(files[i], (const float *)a->data, a->rows, a->cols,
                                              err, err_len);
            done[i] = 1;
            continue;
        }
        /* every array bound for this .npz goes into one archive */
        const char *mnames[16];
        const unsigned char *imgs[16];
        size_t sizes[16];
        unsigned char *owned[16];
        int m = 0;
        for (int j = i; j < n && !rc; j++) {
            if (done[j] || !npz[j] || strcmp(files[j], files[i])) continue;
            const lsc_output_array *b = &arrays[j];
            for (int t = 0; t < m; t++)
                if (!strcmp(mnames[t], names[j]))
                    rc = fail(err, err_len, 2, files[i], "two arrays named '%s'", names[j]);
            if (!rc && m == 16) rc = fail(err, err_len, 2, files[i], "more than 16 arrays");
            size_t isz = b->int64 ? sizeof(int64_t) : sizeof(float);
            if (!rc) rc = check_write_shape(files[i], b->data, isz, b->rows, b->cols, err, err_len);
            if (rc) break;
            owned[m] =
                npy_image(b->data, isz, b->int64 ? "<i8" : "<f4", b->rows, b->cols, &sizes[m]);
            if (!owned[m]) {
                rc = fail(err, err_len, 1, files[i], "out of memory for a %lld x %lld array",
                          (long long)b->rows, (long long)b->cols);
                break;
            }
            imgs[m] = owned[m];
            mnames[m++] = names[j];
            done[j] = 1;
        }
        if (!rc) rc = lsc_in_npz_write(files[i], mnames, imgs, sizes, m, err, err_len);
        for (int t = 0; t < m; t++) free(owned[t]);
    }
out:
    if (files)
        for (int i = 0; i < n; i++) free(files[i]);
    free(files);
    free(names);
    free(npz);
    free(done);
    return rc;
}

/* ---- Frechet statistics files (pytorch-fid, clean-fid) ------------------------------------- */

static int ends_with_npz(const char *p)
{
    size_t n = strlen(p);
    return n >= 4 && (!strcmp(p + n - 4, ".npz") || !strcmp(p + n - 4, ".NPZ"));
}

/* a float64 copy of a 1 x n or n x n float32/float64 input */
static int stats_copy(const char *where, const lsc_input *in, double **out, char *err,
                      size_t err_len)
{
    const lsc_matrix *m = &in->m;
    if (m->dtype != LSC_DTYPE_F64 && m->dtype != LSC_DTYPE_F32)
        return fail(err, err_len, 2, where, "statistics must be float64 (or float32), not %s",
                    dtype_name(m->dtype));
    double *v = (double *)malloc((size_t)(m->rows * m->cols) * sizeof(double));
    if (!v) return fail(err, err_len, 1, where, "out of memory");
    for (int64_t i = 0; i < m->rows; i++)
        for (int64_t j = 0; j < m->cols; j++)
            v[i * m->cols + j] = m->dtype == LSC_DTYPE_F64
                                     ? ((const double *)m->data)[i * m->ld + j]
                                     : (double)((const float *)m->data)[i * m->ld + j];
    *out = v;
    return 0;
}

int lsc_stats_open(const char *path, double **mu, double **sigma, int64_t *d, char *err,
                   size_t err_len)
{
    *mu = *sigma = NULL;
    *d = 0;
    if (!ends_with_npz(path)) return -1;
    char where[4096];
    lsc_input in;
    memset(&in, 0, sizeof in);
    /* no `sigma` member (or no archive at all): not a statistics file; its own reader says why */
    if (lsc_in_npz_open(path, "sigma", &in, err, err_len)) {
        if (err && err_len) err[0] = '\0';
        return -1;
    }
    snprintf(where, sizeof where, "%s:sigma", path);
    int rc = 0;
    const int64_t n = in.m.cols;
    if (in.m.rows != n)
        rc = fail(err, err_len, 2, where, "sigma is %lld x %lld, expected a square matrix",
                  (long long)in.m.rows, (long long)n);
    if (!rc) rc = stats_copy(where, &in, sigma, err, err_len);
    lsc_input_close(&in);
    if (rc) return rc;
    snprintf(where, sizeof where, "%s:mu", path);
    memset(&in, 0, sizeof in);
    rc = lsc_in_npz_open_vector(path, "mu", &in, err, err_len);
    if (!rc && (in.m.rows != 1 || in.m.cols != n))
        rc = fail(err, err_len, 2, where, "mu has %lld x %lld values, sigma is %lld x %lld",
                  (long long)in.m.rows, (long long)in.m.cols, (long long)n, (long long)n);
    if (!rc) rc = stats_copy(where, &in, mu, err, err_len);
    lsc_input_close(&in);
    if (rc) {
        free(*sigma);
        free(*mu);
        *mu = *sigma = NULL;
        return rc;
    }
    *d = n;
    return 0;
}

int lsc_stats_write(const char *path, const double *mu, const double *sigma, int64_t d, char *err,
                    size_t err_len)
{
    if (err && err_len) err[0] = '\0';
    if (!ends_with_npz(path))
        return fail(err, err_len, 2, path, "a statistics file is an .npz archive (mu, sigma)");
    int rc = check_write_shape(path, sigma, sizeof(double), d, d, err, err_len);
    if (rc) return rc;
    const char *names[2] = {"mu", "sigma"};
    size_t sizes[2];
    unsigned char *img[2];
    img[0] = npy_image(mu, sizeof(double), "<f8", -1, d, &sizes[0]);
    img[1] = img[0] ? npy_image(sigma, sizeof(double), "<f8", d, d, &sizes[1]) : NULL;
    if (!img[1])
        rc = fail(err, err_len, 1, path, "out of memory for %lld x %lld statistics", (long long)d,
                  (long long)d);
    if (!rc) {
        const unsigned char *imgs[2] = {img[0], img[1]};
        rc = lsc_in_npz_write(path, names, imgs, sizes, 2, err, err_len);
    }
    free(img[0]);
    free(img[1]);
    return rc;
}
