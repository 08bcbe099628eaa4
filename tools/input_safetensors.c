/* .safetensors files: an 8-byte little-endian header length, a JSON header (parsed by cJSON)
 * mapping each tensor's name to its dtype, shape and [begin, end) offsets in the data that
 * follow, then the data. The file is memory-mapped and the tensor used in place. See input.h.
 *
 * The header is checked as the reference implementation checks it: its length against the
 * file, every tensor's offsets against the data and its dtype x shape, the tensors tiling the
 * data exactly (no gap, no overlap, nothing after), no name twice. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include "input_internal.h"

#include <stdlib.h>
#include <string.h>

#ifndef LSC_HAVE_CJSON

static int not_built(const char *file, char *err, size_t err_len)
{
    return lsc_in_fail(err, err_len, 2, file,
                       ".safetensors files need cJSON, which this lsc was built without "
                       "(install libcjson-dev and rebuild; or save the tensor with numpy.save "
                       "as .npy)");
}

int lsc_in_safetensors_open(const char *file, const char *name, lsc_input *in, char *err,
                            size_t err_len)
{
    (void)name;
    (void)in;
    return not_built(file, err, err_len);
}

int lsc_in_safetensors_labels(const char *file, const char *name, int64_t **labels, int64_t *n,
                              char *err, size_t err_len)
{
    (void)name;
    (void)labels;
    (void)n;
    return not_built(file, err, err_len);
}

#else

#include <cjson/cJSON.h>

#include <stdio.h>
#include <sys/mman.h>

/* the reference implementation's own cap: a larger header is refused before it is parsed */
#define ST_MAX_HEADER 100000000ull
#define ST_MAX_DIMS 64
/* offsets and sizes are JSON numbers, which cJSON holds as doubles: exact below 2^53 */
#define ST_MAX_EXACT 9007199254740992.0

typedef struct st_tensor {
    const char *name;
    const char *dtype;
    int itemsize; /* 0: a dtype lsc does not know (its size is then not checked) */
    int64_t dims[ST_MAX_DIMS];
    int ndim;
    uint64_t begin, end;
} st_tensor;

static int dtype_size(const char *d)
{
    static const struct {
        const char *name;
        int size;
    } t[] = {{"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2},    {"I64", 8},
             {"U64", 8}, {"I32", 4}, {"U32", 4},  {"I16", 2},     {"U16", 2},
             {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(d, t[i].name)) return t[i].size;
    return 0;
}

/* A JSON number that is a non-negative integer held exactly. */
static int exact_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0) || d >= ST_MAX_EXACT || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_begin(const void *a, const void *b)
{
    const st_tensor *x = (const st_tensor *)a, *y = (const st_tensor *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

typedef struct st_file {
    void *map;
    size_t len;
    cJSON *root;
    st_tensor *t;
    int count;
    const unsigned char *data; /* the start of the data */
    uint64_t data_len;
} st_file;

static void st_close(st_file *f)
{
    cJSON_Delete(f->root);
    free(f->t);
    if (f->map) munmap(f->map, f->len);
    memset(f, 0, sizeof *f);
}

/* One entry of the header. */
static int parse_tensor(const char *file, const cJSON *e, st_tensor *t, char *err, size_t err_len)
{
    char where[320];
    snprintf(where, sizeof where, "%s: tensor '%s'", file, e->string);
    memset(t, 0, sizeof *t);
    t->name = e->string;
    if (!cJSON_IsObject(e))
        return lsc_in_fail(err, err_len, 2, where, "its header entry is not a JSON object");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !dt->valuestring)
        return lsc_in_fail(err, err_len, 2, where, "no \"dtype\" string in its header entry");
    if (!cJSON_IsArray(sh))
        return lsc_in_fail(err, err_len, 2, where, "no \"shape\" array in its header entry");
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return lsc_in_fail(err, err_len, 2, where,
                           "no \"data_offsets\" [begin, end] in its header entry");
    t->dtype = dt->valuestring;
    t->itemsize = dtype_size(t->dtype);
    if (!exact_uint(cJSON_GetArrayItem(off, 0), &t->begin) ||
        !exact_uint(cJSON_GetArrayItem(off, 1), &t->end))
        return lsc_in_fail(err, err_len, 2, where,
                           "\"data_offsets\" are not non-negative integers below 2^53");
    if (t->begin > t->end)
        return lsc_in_fail(err, err_len, 2, where, "\"data_offsets\" [%llu, %llu] run backwards",
                           (unsigned long long)t->begin, (unsigned long long)t->end);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS) return lsc_in_fail(err, err_len, 2, where, "shape has %d dimensions", nd);
    uint64_t count = 1;
    int overflow = 0;
    for (int i = 0; i < nd; i++) {
        uint64_t v;
        if (!exact_uint(cJSON_GetArrayItem(sh, i), &v))
            return lsc_in_fail(err, err_len, 2, where,
                               "shape entry %d is not a non-negative integer below 2^53", i);
        t->dims[i] = (int64_t)v;
        if (v && count > UINT64_MAX / v) overflow = 1;
        count *= v;
    }
    t->ndim = nd;
    if (t->itemsize) {
        char shape[256];
        lsc_in_format_shape(shape, sizeof shape, t->dims, t->ndim);
        if (overflow || count > UINT64_MAX / (uint64_t)t->itemsize)
            return lsc_in_fail(err, err_len, 2, where,
                               "shape %s of %s is too large: its byte size overflows 64 bits",
                               shape, t->dtype);
        if (count * (uint64_t)t->itemsize != t->end - t->begin)
            return lsc_in_fail(err, err_len, 2, where,
                               "shape %s of %s needs %llu bytes, its \"data_offsets\" [%llu, "
                               "%llu] hold %llu",
                               shape, t->dtype, (unsigned long long)(count * (uint64_t)t->itemsize),
                               (unsigned long long)t->begin, (unsigned long long)t->end,
                               (unsigned long long)(t->end - t->begin));
    }
    return 0;
}

/* Maps the file, parses and checks the header, and picks the tensor of `name` (NULL: the
 * only one). */
static int st_open(st_file *f, const char *file, const char *name, const st_tensor **out, char *err,
                   size_t err_len)
{
    memset(f, 0, sizeof *f);
    int rc = lsc_in_map_file(file, &f->map, &f->len, err, err_len);
    if (rc) return rc;
    const unsigned char *b = (const unsigned char *)f->map;
    if (f->len < 8) {
        size_t len = f->len;
        st_close(f);
        return lsc_in_fail(err, err_len, 2, file,
                           "truncated: %zu bytes, less than the 8-byte header length", len);
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    if (hlen > f->len - 8) {
        rc = lsc_in_fail(err, err_len, 2, file,
                         "the header length at offset 0 is %llu bytes, the file holds %zu after "
                         "it%s",
                         (unsigned long long)hlen, f->len - 8,
                         memcmp(b, "\x93NUMPY", 6) ? "" : " (this is a .npy file)");
        st_close(f);
        return rc;
    }
    if (hlen > ST_MAX_HEADER) {
        st_close(f);
        return lsc_in_fail(err, err_len, 2, file,
                           "a header of %llu bytes is above the %llu allowed",
                           (unsigned long long)hlen, ST_MAX_HEADER);
    }
    const char *h = (const char *)b + 8, *end = NULL;
    f->root = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, 0);
    if (!f->root) {
        const char *at = cJSON_GetErrorPtr();
        size_t pos = at && at >= h && at <= h + hlen ? (size_t)(at - h) : 0;
        st_close(f);
        return lsc_in_fail(err, err_len, 2, file,
                           "the JSON header (%llu bytes at offset 8) does not parse: error near "
                           "offset %zu",
                           (unsigned long long)hlen, 8 + pos);
    }
    /* the reference writer pads the header with spaces to a multiple of 8 bytes */
    for (const char *p = end; p && p < h + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = lsc_in_fail(err, err_len, 2, file, "text after the JSON header at offset %zu",
                             (size_t)(p - (const char *)b));
            st_close(f);
            return rc;
        }
    if (!cJSON_IsObject(f->root)) {
        st_close(f);
        return lsc_in_fail(err, err_len, 2, file, "the JSON header is not an object");
    }
    f->data = b + 8 + hlen;
    f->data_len = (uint64_t)(f->len - 8 - (size_t)hlen);
    int n = cJSON_GetArraySize(f->root);
    f->t = (st_tensor *)calloc((size_t)(n > 0 ? n : 1), sizeof *f->t);
    if (!f->t) {
        st_close(f);
        return lsc_in_fail(err, err_len, 1, file, "out of memory for %d header entries", n);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, f->root)
    {
        if (!e->string) continue;
        if (!strcmp(e->string, "__metadata__")) continue;
        if ((rc = parse_tensor(file, e, &f->t[f->count], err, err_len))) {
            st_close(f);
            return rc;
        }
        f->count++;
    }
    /* names: none twice (JSON allows it, the format does not) */
    qsort(f->t, (size_t)f->count, sizeof *f->t, cmp_name);
    for (int i = 1; i < f->count; i++)
        if (!strcmp(f->t[i - 1].name, f->t[i].name)) {
            rc = lsc_in_fail(err, err_len, 2, file, "the header names tensor '%s' twice",
                             f->t[i].name);
            st_close(f);
            return rc;
        }
    char list[256] = "";
    for (int i = 0; i < f->count; i++) lsc_in_names_append(list, sizeof list, f->t[i].name);
    const st_tensor *pick = NULL;
    if (name) {
        for (int i = 0; i < f->count && !pick; i++)
            if (!strcmp(f->t[i].name, name)) pick = &f->t[i];
    }
    /* offsets: the tensors tile the data exactly */
    st_tensor *byoff = (st_tensor *)malloc((size_t)(f->count > 0 ? f->count : 1) * sizeof *byoff);
    if (!byoff) {
        st_close(f);
        return lsc_in_fail(err, err_len, 1, file, "out of memory");
    }
    memcpy(byoff, f->t, (size_t)f->count * sizeof *byoff);
    qsort(byoff, (size_t)f->count, sizeof *byoff, cmp_begin);
    uint64_t at = 0;
    for (int i = 0; i < f->count && !rc; i++) {
        if (byoff[i].begin != at)
            rc = lsc_in_fail(err, err_len, 2, file,
                             "tensor '%s' starts at data offset %llu, but %s at %llu (%s)",
                             byoff[i].name, (unsigned long long)byoff[i].begin,
                             i ? "the tensor before it ends" : "the data start",
                             (unsigned long long)at, byoff[i].begin > at ? "a gap" : "an overlap");
        at = byoff[i].end;
    }
    free(byoff);
    if (!rc && at != f->data_len)
        rc = lsc_in_fail(err, err_len, 2, file,
                         "the tensors' data end at offset %llu, the file holds %llu bytes of data "
                         "(after the %llu-byte header)%s",
                         (unsigned long long)at, (unsigned long long)f->data_len,
                         (unsigned long long)hlen, at > f->data_len ? ": truncated" : "");
    if (!rc) {
        if (name && !pick)
            rc = lsc_in_fail(err, err_len, 2, file, "no tensor '%s' in the file (it holds %s)",
                             name, f->count ? list : "no tensors");
        else if (!name && f->count == 0)
            rc = lsc_in_fail(err, err_len, 2, file, "the file holds no tensors");
        else if (!name && f->count > 1)
            rc = lsc_in_fail(err, err_len, 2, file,
                             "the file holds %d tensors (%s): choose one with %s:NAME", f->count,
                             list, file);
        else if (!name) pick = &f->t[0];
    }
    if (rc) {
        st_close(f);
        return rc;
    }
    *out = pick;
    return 0;
}

int lsc_in_safetensors_open(const char *file, const char *name, lsc_input *in, char *err,
                            size_t err_len)
{
    st_file f;
    const st_tensor *t;
    int rc = st_open(&f, file, name, &t, err, err_len);
    if (rc) return rc;
    char where[320], shape[256];
    snprintf(where, sizeof where, "%s: tensor '%s'", file, t->name);
    lsc_in_format_shape(shape, sizeof shape, t->dims, t->ndim);
    lsc_dtype dtype = LSC_DTYPE_F32;
    if (!strcmp(t->dtype, "F32")) dtype = LSC_DTYPE_F32;
    else if (!strcmp(t->dtype, "F16")) dtype = LSC_DTYPE_F16;
    else if (!strcmp(t->dtype, "BF16")) dtype = LSC_DTYPE_BF16;
    else if (!strcmp(t->dtype, "F64")) dtype = LSC_DTYPE_F64;
    else {
        rc = lsc_in_fail(err, err_len, 2, where,
                         "dtype %s is not supported (F32, F16, BF16 and F64 are): convert to "
                         "float32",
                         t->dtype);
        st_close(&f);
        return rc;
    }
    if (t->ndim != 2 || t->dims[0] == 0 || t->dims[1] == 0) {
        rc = lsc_in_fail(err, err_len, 2, where, "%s (rows x cols), got shape %s",
                         t->ndim != 2 ? "expected a 2-D tensor" : "expected a non-empty tensor",
                         shape);
        st_close(&f);
        return rc;
    }
    const size_t itemsize = (size_t)t->itemsize;
    const size_t nbytes = (size_t)(t->end - t->begin), count = nbytes / itemsize;
    const unsigned char *data = f.data + t->begin;
    void *copy = NULL;
    const int swap = !lsc_in_host_is_little_endian();
    if (swap || (uintptr_t)data % itemsize) {
        /* the format is little-endian; the writer aligns tensors, a hand-made file may not */
        copy = malloc(nbytes);
        if (!copy) {
            st_close(&f);
            return lsc_in_fail(err, err_len, 1, where, "out of memory: cannot allocate %zu bytes",
                               nbytes);
        }
        memcpy(copy, data, nbytes);
        if (swap) lsc_in_byteswap(copy, count, itemsize);
    }
    in->m.data = copy ? copy : data;
    in->m.dtype = dtype;
    in->m.rows = t->dims[0];
    in->m.cols = t->dims[1];
    in->m.ld = t->dims[1];
    in->m.memory = LSC_MEMORY_HOST;
    cJSON_Delete(f.root);
    free(f.t);
    if (copy) {
        munmap(f.map, f.len);
        in->owned = copy;
    } else {
        in->map = f.map;
        in->map_len = f.len;
    }
    return 0;
}

int lsc_in_safetensors_labels(const char *file, const char *name, int64_t **labels, int64_t *n,
                              char *err, size_t err_len)
{
    st_file f;
    const st_tensor *t;
    int rc = st_open(&f, file, name, &t, err, err_len);
    if (rc) return rc;
    char where[320], shape[256];
    snprintf(where, sizeof where, "%s: tensor '%s'", file, t->name);
    lsc_in_format_shape(shape, sizeof shape, t->dims, t->ndim);
    const char *d = t->dtype;
    int is_int = (d[0] == 'I' || d[0] == 'U') && t->itemsize > 0;
    if (!is_int)
        rc = lsc_in_fail(err, err_len, 2, where,
                         "labels must be integers (I8 to I64, U8 to U64), not dtype %s", d);
    else if (!(t->ndim == 1 || (t->ndim == 2 && t->dims[1] == 1)) || t->dims[0] == 0)
        rc = lsc_in_fail(err, err_len, 2, where,
                         "labels must be a non-empty 1-D tensor, got shape %s", shape);
    else {
        rc = lsc_in_ints_to_i64(where, f.data + t->begin, t->dims[0], t->itemsize, d[0] == 'I', 1,
                                labels, err, err_len);
        if (!rc) *n = t->dims[0];
    }
    st_close(&f);
    return rc;
}

#endif
