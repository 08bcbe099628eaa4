/* The reference file: a versioned little-endian binary file whose checksum covers every byte.
 *
 *   offset  size  field
 *        0     8  magic "\x89LSCREF\n" (the high byte and newline catch text-mode mangling)
 *        8     4  u32 format version (1)
 *       12     4  u32 header bytes (64)
 *       16     8  i64 rows N          24  8  i64 cols D        32  8  i64 k
 *       40     4  i32 metric          44  4  i32 comparison    48  8  i64 zero radii
 *       56     8  u64 reserved, 0
 *       64  4N D  float32 rows, row-major, dense
 *        .    8N  float64 radii, as internal values (squared euclidean, or 2 x cosine)
 *        .     8  u64 checksum of every byte before it
 */
#define _POSIX_C_SOURCE 200809L
#include "validate.h"
#include "../common/distance_rules.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REF_MAGIC "\x89LSCREF\n"
#define REF_VERSION 1u
#define REF_HEADER 64u

/* Streaming 64-bit checksum over 8-byte little-endian words (multiply-rotate rounds and a
 * splitmix64 finish); any byte change, truncation or extension changes it. */
typedef struct {
    uint64_t h;
    uint64_t len;
    unsigned char tail[8];
    unsigned ntail;
} ref_hash;

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static void hash_word(ref_hash *s, uint64_t w)
{
    s->h ^= rotl64(w * 0x87c37b91114253d5ull, 31) * 0x4cf5ad432745937full;
    s->h = rotl64(s->h, 27) * 5 + 0x52dce729;
}

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t w = 0;
    for (int i = 7; i >= 0; i--) w = (w << 8) | p[i];
    return w;
}

static void hash_update(ref_hash *s, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    s->len += n;
    if (s->ntail > 0) {
        while (n > 0 && s->ntail < 8) {
            s->tail[s->ntail++] = *p++;
            n--;
        }
        if (s->ntail < 8) return;
        hash_word(s, load_le64(s->tail));
        s->ntail = 0;
    }
    for (; n >= 8; n -= 8, p += 8) hash_word(s, load_le64(p));
    memcpy(s->tail, p, n); /* n < 8 and the tail is empty here */
    s->ntail = (unsigned)n;
}

static uint64_t hash_final(const ref_hash *s)
{
    ref_hash t = *s;
    if (t.ntail) {
        memset(t.tail + t.ntail, 0, 8 - t.ntail);
        hash_word(&t, load_le64(t.tail));
    }
    uint64_t st = t.h ^ t.len;
    return lsc_splitmix64(&st);
}

static int little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static lsc_status write_all(lsc_ctx *ctx, FILE *f, ref_hash *hs, const void *p, size_t n,
                            const char *path)
{
    if (n && fwrite(p, 1, n, f) != n)
        return lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: write failed: %s", path,
                             strerror(errno));
    if (hs) hash_update(hs, p, n);
    return LSC_STATUS_OK;
}

lsc_status lsc_reference_save(lsc_ctx *ctx, const lsc_reference *ref, const char *path)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, ref, LSC_STATUS_INVALID_ARGUMENT, "ref is NULL");
    LSC_CHECK(ctx, path && *path, LSC_STATUS_INVALID_ARGUMENT, "path is %s",
              path ? "empty" : "NULL");
    LSC_CHECK(ctx, little_endian(), LSC_STATUS_NOT_SUPPORTED,
              "reference files are little-endian; this host is not");
    unsigned char h[REF_HEADER];
    memset(h, 0, sizeof h);
    memcpy(h, REF_MAGIC, 8);
    put_u32(h + 8, REF_VERSION);
    put_u32(h + 12, REF_HEADER);
    put_u64(h + 16, (uint64_t)ref->rows);
    put_u64(h + 24, (uint64_t)ref->cols);
    put_u64(h + 32, (uint64_t)ref->k);
    put_u32(h + 40, (uint32_t)ref->metric);
    put_u32(h + 44, (uint32_t)ref->comparison);
    put_u64(h + 48, (uint64_t)ref->zero_radii);

    /* write a temporary file beside the target, then rename: a failed save never leaves a
     * half-written reference, and never removes anything that was already at `path` */
    size_t plen = strlen(path);
    char *tmp = (char *)lsc_malloc(ctx, plen + 16, "temporary path");
    if (!tmp) return LSC_STATUS_OUT_OF_MEMORY;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp-XXXXXX", 12);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            remove(tmp);
        }
        free(tmp);
        return lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: cannot open for writing: %s", path,
                             strerror(e));
    }
    ref_hash hs = {0, 0, {0}, 0};
    lsc_status s = write_all(ctx, f, &hs, h, sizeof h, path);
    if (s == LSC_STATUS_OK)
        s = write_all(ctx, f, &hs, ref->data, (size_t)(ref->rows * ref->cols) * sizeof(float),
                      path);
    if (s == LSC_STATUS_OK)
        s = write_all(ctx, f, &hs, ref->radius_v, (size_t)ref->rows * sizeof(double), path);
    if (s == LSC_STATUS_OK) {
        unsigned char c[8];
        put_u64(c, hash_final(&hs));
        s = write_all(ctx, f, NULL, c, sizeof c, path);
    }
    if (fclose(f) != 0 && s == LSC_STATUS_OK)
        s = lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: close failed: %s", path,
                          strerror(errno));
    if (s == LSC_STATUS_OK && rename(tmp, path) != 0)
        s = lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: cannot replace: %s", path,
                          strerror(errno));
    if (s != LSC_STATUS_OK) remove(tmp);
    free(tmp);
    return s;
}

static lsc_status read_all(lsc_ctx *ctx, FILE *f, ref_hash *hs, void *p, size_t n,
                           const char *path, const char *what)
{
    if (n && fread(p, 1, n, f) != n) {
        if (ferror(f))
            return lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: read failed in the %s: %s", path,
                                 what, strerror(errno));
        return lsc_set_error(ctx, LSC_STATUS_BAD_FILE, "%s: truncated in the %s", path, what);
    }
    if (hs) hash_update(hs, p, n);
    return LSC_STATUS_OK;
}

static int64_t get_i64(const unsigned char *p) { return (int64_t)load_le64(p); }

/* Validates the header against the file's length; fills rows, cols, k, metric, comparison. */
static lsc_status check_header(lsc_ctx *ctx, const unsigned char *h, int64_t file_len,
                               const char *path)
{
    LSC_CHECK(ctx, memcmp(h, REF_MAGIC, 8) == 0, LSC_STATUS_BAD_FILE,
              "%s: not an lsc reference file (bad magic)", path);
    uint32_t version = get_u32(h + 8);
    LSC_CHECK(ctx, version != 0 && version <= REF_VERSION, LSC_STATUS_BAD_FILE,
              "%s: reference format version %u, this lsc %s reads version %u", path, version,
              lsc_version(), REF_VERSION);
    LSC_CHECK(ctx, get_u32(h + 12) == REF_HEADER, LSC_STATUS_BAD_FILE,
              "%s: header size %u, expected %u", path, get_u32(h + 12), REF_HEADER);
    int64_t rows = get_i64(h + 16), cols = get_i64(h + 24), k = get_i64(h + 32);
    int32_t metric = (int32_t)get_u32(h + 40), cmp = (int32_t)get_u32(h + 44);
    LSC_CHECK(ctx, rows >= 2 && cols >= 1, LSC_STATUS_BAD_FILE,
              "%s: header claims %lld rows x %lld cols", path, (long long)rows, (long long)cols);
    LSC_CHECK(ctx, k >= 1 && k < rows, LSC_STATUS_BAD_FILE, "%s: k=%lld with %lld rows", path,
              (long long)k, (long long)rows);
    LSC_CHECK(ctx, metric == LSC_METRIC_EUCLIDEAN || metric == LSC_METRIC_COSINE,
              LSC_STATUS_BAD_FILE, "%s: unknown metric %d", path, metric);
    LSC_CHECK(ctx, cmp == LSC_COMPARISON_STRICT || cmp == LSC_COMPARISON_INCLUSIVE,
              LSC_STATUS_BAD_FILE, "%s: unknown comparison %d", path, cmp);
    /* 64 + 4 N D + 8 N + 8 must equal the length, computed without overflow */
    int64_t nd = lsc_mul_i64(rows, cols);
    int64_t data = nd < 0 ? -1 : lsc_mul_i64(nd, 4);
    int64_t radii = lsc_mul_i64(rows, 8);
    LSC_CHECK(ctx, data >= 0 && radii >= 0 && data <= INT64_MAX - radii - 72,
              LSC_STATUS_BAD_FILE, "%s: header claims %lld x %lld, which overflows", path,
              (long long)rows, (long long)cols);
    int64_t want = 64 + data + radii + 8;
    LSC_CHECK(ctx, want == file_len, LSC_STATUS_BAD_FILE,
              "%s: %s: the header claims %lld x %lld (%lld bytes), the file has %lld bytes",
              path, file_len < want ? "truncated" : "trailing bytes", (long long)rows,
              (long long)cols, (long long)want, (long long)file_len);
    return LSC_STATUS_OK;
}

lsc_status lsc_reference_load(lsc_ctx *ctx, const char *path, lsc_reference **out)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, path && *path, LSC_STATUS_INVALID_ARGUMENT, "path is %s",
              path ? "empty" : "NULL");
    LSC_CHECK(ctx, out, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    LSC_CHECK(ctx, little_endian(), LSC_STATUS_NOT_SUPPORTED,
              "reference files are little-endian; this host is not");
    FILE *f = fopen(path, "rb");
    LSC_CHECK(ctx, f, LSC_STATUS_IO_ERROR, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: not a regular file", path);
    }
    unsigned char h[REF_HEADER];
    ref_hash hs = {0, 0, {0}, 0};
    lsc_reference *r = NULL;
    lsc_status s = LSC_STATUS_OK;
    if ((int64_t)st.st_size < (int64_t)REF_HEADER)
        s = lsc_set_error(ctx, LSC_STATUS_BAD_FILE,
                          "%s: %lld bytes, too short for a reference file header", path,
                          (long long)st.st_size);
    if (s == LSC_STATUS_OK) s = read_all(ctx, f, &hs, h, sizeof h, path, "header");
    if (s == LSC_STATUS_OK) s = check_header(ctx, h, (int64_t)st.st_size, path);
    if (s == LSC_STATUS_OK) s = lsc_reference_alloc(ctx, get_i64(h + 16), get_i64(h + 24), 1, &r);
    if (s == LSC_STATUS_OK) {
        r->k = get_i64(h + 32);
        r->metric = (lsc_metric)get_u32(h + 40);
        r->comparison = (lsc_comparison)get_u32(h + 44);
        s = read_all(ctx, f, &hs, r->data, (size_t)(r->rows * r->cols) * sizeof(float), path,
                     "rows");
    }
    if (s == LSC_STATUS_OK)
        s = read_all(ctx, f, &hs, r->radius_v, (size_t)r->rows * sizeof(double), path, "radii");
    unsigned char c[8];
    if (s == LSC_STATUS_OK) s = read_all(ctx, f, NULL, c, sizeof c, path, "checksum");
    fclose(f);
    if (s == LSC_STATUS_OK && load_le64(c) != hash_final(&hs))
        s = lsc_set_error(ctx, LSC_STATUS_BAD_FILE, "%s: checksum mismatch: the file is corrupt",
                          path);
    /* a file with a valid checksum may still have been written by something else: check it */
    if (s == LSC_STATUS_OK) {
        int64_t zero = 0;
        for (int64_t i = 0; i < r->rows && s == LSC_STATUS_OK; i++) {
            double v = r->radius_v[i];
            if (!(v >= 0.0 && v <= 1e300))
                s = lsc_set_error(ctx, LSC_STATUS_BAD_FILE, "%s: radius %lld is %g", path,
                                  (long long)i, v);
            r->radius[i] = lsc_dist_from_v((int)r->metric, v);
            zero += v == 0.0;
        }
        r->zero_radii = zero;
        if (s == LSC_STATUS_OK && zero != get_i64(h + 48))
            s = lsc_set_error(ctx, LSC_STATUS_BAD_FILE,
                              "%s: header says %lld zero radii, the radii hold %lld", path,
                              (long long)get_i64(h + 48), (long long)zero);
    }
    if (s == LSC_STATUS_OK) {
        lsc_matrix m = lsc_matrix_f32(r->data, r->rows, r->cols);
        s = lsc_check_values(ctx, &m, path, r->metric == LSC_METRIC_COSINE);
        if (s != LSC_STATUS_OK) s = LSC_STATUS_BAD_FILE;
    }
    if (s != LSC_STATUS_OK) {
        lsc_reference_destroy(r);
        return s;
    }
    *out = r;
    return LSC_STATUS_OK;
}
