/* NumPy .npz archives through libzip: the member walk, the array chosen by name, stored members
 * read in place from the mapped file, compressed ones inflated in a stream under a size limit;
 * and the writer of `lsc knn --out-* f.npz`. See input.h for the contract.
 *
 * libzip parses the zip (zip64 included) and checks the archive's consistency; nothing here
 * reads zip structures by hand. libzip has no public call for where a member's data start, so
 * the archive is opened from our own source over the mapping, which notes where libzip reads a
 * stored member's first byte; those bytes are then compared with the mapping before it is used
 * in place. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include "input_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef LSC_HAVE_LIBZIP

static int not_built(const char *file, char *err, size_t err_len)
{
    return lsc_in_fail(err, err_len, 2, file,
                       ".npz files need libzip, which this lsc was built without (install "
                       "libzip-dev and rebuild; or save the array with numpy.save as .npy)");
}

int lsc_in_npz_open(const char *file, const char *name, lsc_input *in, char *err, size_t err_len)
{
    (void)name;
    (void)in;
    return not_built(file, err, err_len);
}

int lsc_in_npz_open_vector(const char *file, const char *name, lsc_input *in, char *err,
                           size_t err_len)
{
    (void)name;
    (void)in;
    return not_built(file, err, err_len);
}

int lsc_in_npz_labels(const char *file, const char *name, int64_t **labels, int64_t *n, char *err,
                      size_t err_len)
{
    (void)name;
    (void)labels;
    (void)n;
    return not_built(file, err, err_len);
}

int lsc_in_npz_write(const char *path, const char *const *names, const unsigned char *const *images,
                     const size_t *sizes, int n, char *err, size_t err_len)
{
    (void)names;
    (void)images;
    (void)sizes;
    (void)n;
    return not_built(path, err, err_len);
}

#else

#include <zip.h>

#include <stdio.h>
#include <sys/mman.h>

/* ---- a zip source over the mapped archive that notes where reads start ---------------------- */

typedef struct map_source {
    const unsigned char *b;
    uint64_t len, pos;
    int watch;          /* set: note the position of the next read */
    int64_t first_read; /* that position, -1 until a read happened */
    zip_error_t error;
} map_source;

static zip_int64_t map_source_cb(void *ud, void *data, zip_uint64_t n, zip_source_cmd_t cmd)
{
    map_source *s = (map_source *)ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN: s->pos = 0; return 0;
    case ZIP_SOURCE_READ: {
        if (s->watch && s->first_read < 0) s->first_read = (int64_t)s->pos;
        uint64_t k = s->len - s->pos < n ? s->len - s->pos : n;
        if (k) memcpy(data, s->b + s->pos, (size_t)k);
        s->pos += k;
        return (zip_int64_t)k;
    }
    case ZIP_SOURCE_CLOSE: return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = (zip_stat_t *)data;
        zip_stat_init(st);
        st->size = s->len;
        st->valid |= ZIP_STAT_SIZE;
        return sizeof *st;
    }
    case ZIP_SOURCE_ERROR: return zip_error_to_data(&s->error, data, n);
    case ZIP_SOURCE_FREE: return 0;
    case ZIP_SOURCE_SEEK: {
        zip_int64_t at = zip_source_seek_compute_offset(s->pos, s->len, data, n, &s->error);
        if (at < 0) return -1;
        s->pos = (uint64_t)at;
        return 0;
    }
    case ZIP_SOURCE_TELL: return (zip_int64_t)s->pos;
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(
            ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR,
            ZIP_SOURCE_FREE, ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL, ZIP_SOURCE_SUPPORTS, -1);
    default: zip_error_set(&s->error, ZIP_ER_OPNOTSUPP, 0); return -1;
    }
}

/* ---- the archive and its arrays ------------------------------------------------------------- */

typedef struct npz {
    const char *file;
    void *map;
    size_t len;
    map_source src;
    zip_t *za;
} npz;

static void npz_close(npz *z)
{
    if (z->za) zip_discard(z->za);
    if (z->map) munmap(z->map, z->len);
    z->za = NULL;
    z->map = NULL;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int ends_with_npy(const char *s)
{
    size_t n = strlen(s);
    return n > 4 && !strcmp(s + n - 4, ".npy");
}

/* Opens the archive, walks its directory (refusing duplicate names) and picks the member of
 * `name` (NULL: the only .npy member). *index is that member, *label its array name. */
static int npz_open(npz *z, const char *file, const char *name, zip_uint64_t *index, char *label,
                    size_t label_len, char *err, size_t err_len)
{
    memset(z, 0, sizeof *z);
    z->file = file;
    int rc = lsc_in_map_file(file, &z->map, &z->len, err, err_len);
    if (rc) return rc;
    z->src.b = (const unsigned char *)z->map;
    z->src.len = z->len;
    z->src.first_read = -1;
    zip_error_init(&z->src.error);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *zs = zip_source_function_create(map_source_cb, &z->src, &ze);
    if (!zs) {
        npz_close(z);
        return lsc_in_fail(err, err_len, 1, file, "cannot read the archive: %s",
                           zip_error_strerror(&ze));
    }
    /* ZIP_CHECKCONS: libzip compares every local header with the central directory */
    z->za = zip_open_from_source(zs, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z->za) {
        zip_source_free(zs);
        if (zip_error_code_zip(&ze) == ZIP_ER_EXISTS)
            rc = lsc_in_fail(err, err_len, 2, file,
                             "the archive holds two members of one name (libzip: %s)",
                             zip_error_strerror(&ze));
        else
            rc = lsc_in_fail(err, err_len, 2, file, "not a readable .npz (zip) archive: %s",
                             zip_error_strerror(&ze));
        zip_error_fini(&ze);
        npz_close(z);
        return rc;
    }
    zip_error_fini(&ze);
    zip_int64_t count = zip_get_num_entries(z->za, 0);
    if (count <= 0) {
        npz_close(z);
        return lsc_in_fail(err, err_len, 2, file, "the archive holds no arrays");
    }
    const char **names = (const char **)malloc((size_t)count * sizeof *names);
    if (!names) {
        npz_close(z);
        return lsc_in_fail(err, err_len, 1, file, "out of memory for %lld member names",
                           (long long)count);
    }
    for (zip_int64_t i = 0; i < count; i++) {
        names[i] = zip_get_name(z->za, (zip_uint64_t)i, 0);
        if (!names[i]) {
            free(names);
            rc = lsc_in_fail(err, err_len, 2, file, "member %lld has no readable name: %s",
                             (long long)i, zip_strerror(z->za));
            npz_close(z);
            return rc;
        }
    }
    /* two members of one name would make the choice depend on libzip's order */
    const char **sorted = (const char **)malloc((size_t)count * sizeof *sorted);
    if (!sorted) {
        free(names);
        npz_close(z);
        return lsc_in_fail(err, err_len, 1, file, "out of memory");
    }
    memcpy(sorted, names, (size_t)count * sizeof *sorted);
    qsort(sorted, (size_t)count, sizeof *sorted, name_cmp);
    for (zip_int64_t i = 1; i < count; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) {
            rc = lsc_in_fail(err, err_len, 2, file, "the archive holds two members named '%s'",
                             sorted[i]);
            free(sorted);
            free(names);
            npz_close(z);
            return rc;
        }
    free(sorted);

    int64_t found = -1, arrays = 0;
    char list[256] = "";
    for (zip_int64_t i = 0; i < count; i++) {
        const char *m = names[i];
        size_t ml = strlen(m);
        if (name) {
            size_t nl = strlen(name);
            int full = !strcmp(m, name);
            int stem = ml == nl + 4 && ends_with_npy(m) && !strncmp(m, name, nl);
            if (stem || (full && found < 0)) found = i; /* "a" is "a.npy" before a member "a" */
        } else if (ends_with_npy(m)) {
            if (!arrays) found = i;
            arrays++;
        }
        if (ends_with_npy(m)) {
            char stem[256];
            snprintf(stem, sizeof stem, "%.*s", (int)(ml - 4 < 255 ? ml - 4 : 255), m);
            lsc_in_names_append(list, sizeof list, stem);
        }
    }
    if (name && found < 0)
        rc = lsc_in_fail(err, err_len, 2, file, "no array '%s' in the archive (it holds %s)", name,
                         list[0] ? list : "no .npy members");
    else if (!name && arrays == 0)
        rc = lsc_in_fail(err, err_len, 2, file, "the archive holds no .npy members");
    else if (!name && arrays > 1)
        rc = lsc_in_fail(err, err_len, 2, file,
                         "the archive holds %lld arrays (%s): choose one with %s:NAME",
                         (long long)arrays, list, file);
    else if (!ends_with_npy(names[found]))
        rc = lsc_in_fail(err, err_len, 2, file, "member '%s' is not a .npy array", names[found]);
    if (!rc) {
        *index = (zip_uint64_t)found;
        size_t ml = strlen(names[found]);
        snprintf(label, label_len, "%s: array '%.*s'", file, (int)(ml - 4), names[found]);
    }
    free(names);
    if (rc) npz_close(z);
    return rc;
}

/* The member's bytes: in place in the mapping (stored) or in a malloc'd buffer (*owned set).
 * *bytes points at them, *size is their count. */
static int npz_member(npz *z, zip_uint64_t index, const char *label, const unsigned char **bytes,
                      size_t *size, void **owned, char *err, size_t err_len)
{
    *owned = NULL;
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z->za, index, 0, &st) != 0)
        return lsc_in_fail(err, err_len, 2, label, "cannot read its directory entry: %s",
                           zip_strerror(z->za));
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        return lsc_in_fail(err, err_len, 2, label, "the member is encrypted");
    if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_METHOD))
        return lsc_in_fail(err, err_len, 2, label, "its directory entry gives no size");
    if (st.size > (zip_uint64_t)SIZE_MAX)
        return lsc_in_fail(err, err_len, 2, label, "%llu bytes cannot be held on this machine",
                           (unsigned long long)st.size);
    const int stored = st.comp_method == ZIP_CM_STORE;
    if (stored && st.size > z->len)
        return lsc_in_fail(err, err_len, 2, label,
                           "the directory claims %llu stored bytes in a file of %zu",
                           (unsigned long long)st.size, z->len);
    uint64_t limit = lsc_in_inflate_limit();
    if (!stored && st.size > limit)
        return lsc_in_fail(err, err_len, 2, label,
                           "compressed member claims %llu bytes once inflated (%llu compressed), "
                           "above the limit of %llu (LSC_MAX_INFLATE)",
                           (unsigned long long)st.size, (unsigned long long)st.comp_size,
                           (unsigned long long)limit);
    z->src.watch = 1;
    z->src.first_read = -1;
    zip_file_t *zf = zip_fopen_index(z->za, index, 0);
    if (!zf) {
        z->src.watch = 0;
        return lsc_in_fail(err, err_len, 2, label, "cannot open the member: %s",
                           zip_strerror(z->za));
    }
    /* zip_fopen read the local header; what it reads next is the data */
    z->src.first_read = -1;
    size_t want = (size_t)st.size;
    int rc = 0;
    if (stored) {
        unsigned char head[4096];
        size_t k = want < sizeof head ? want : sizeof head;
        zip_int64_t got = k ? zip_fread(zf, head, k) : 0;
        int64_t at = z->src.first_read;
        if (got < 0 || (size_t)got != k)
            rc = lsc_in_fail(err, err_len, 2, label, "cannot read the member: %s",
                             got < 0 ? zip_file_strerror(zf) : "it ends early");
        else if (k == 0 || (at >= 0 && (uint64_t)at <= z->len && want <= z->len - (size_t)at &&
                            !memcmp((const unsigned char *)z->map + at, head, k))) {
            *bytes = k ? (const unsigned char *)z->map + at : (const unsigned char *)z->map;
            *size = want;
            z->src.watch = 0;
            zip_fclose(zf);
            return 0;
        }
        /* not found in place: fall through to reading it whole from the start */
        if (!rc) {
            zip_fclose(zf);
            z->src.watch = 0;
            if (!(zf = zip_fopen_index(z->za, index, 0)))
                return lsc_in_fail(err, err_len, 2, label, "cannot open the member: %s",
                                   zip_strerror(z->za));
        }
    }
    z->src.watch = 0;
    if (!rc) {
        unsigned char *buf = (unsigned char *)malloc(want ? want : 1);
        if (!buf) {
            rc =
                lsc_in_fail(err, err_len, 1, label,
                            "out of memory: cannot allocate %zu bytes to inflate the member", want);
        } else {
            size_t have = 0;
            while (have < want) {
                zip_int64_t got = zip_fread(zf, buf + have, want - have);
                if (got <= 0) {
                    rc = lsc_in_fail(
                        err, err_len, 2, label, "%s after %zu of its declared %zu bytes%s%s",
                        got < 0 ? "cannot inflate the member" : "the member ends", have, want,
                        got < 0 ? ": " : "", got < 0 ? zip_file_strerror(zf) : "");
                    break;
                }
                have += (size_t)got;
            }
            if (!rc) {
                /* one more byte: the stream must end where the directory says (and pass its CRC) */
                unsigned char extra;
                zip_int64_t got = zip_fread(zf, &extra, 1);
                if (got > 0)
                    rc = lsc_in_fail(err, err_len, 2, label,
                                     "the member inflates to more than its declared %zu bytes",
                                     want);
                else if (got < 0)
                    rc = lsc_in_fail(err, err_len, 2, label, "the member is damaged: %s",
                                     zip_file_strerror(zf));
            }
            if (rc) free(buf);
            else {
                *owned = buf;
                *bytes = buf;
                *size = want;
            }
        }
    }
    zip_fclose(zf);
    return rc;
}

static int npz_open_as(const char *file, const char *name, lsc_input *in, int vector, char *err,
                       size_t err_len)
{
    npz z;
    zip_uint64_t index;
    char label[512];
    int rc = npz_open(&z, file, name, &index, label, sizeof label, err, err_len);
    if (rc) return rc;
    const unsigned char *bytes;
    size_t size;
    void *owned;
    rc = npz_member(&z, index, label, &bytes, &size, &owned, err, err_len);
    if (rc) {
        npz_close(&z);
        return rc;
    }
    /* the view keeps the mapping (stored) or the inflated buffer, not both */
    zip_discard(z.za);
    z.za = NULL;
    if (owned) {
        munmap(z.map, z.len);
        in->owned = owned;
    } else {
        in->map = z.map;
        in->map_len = z.len;
    }
    return vector ? lsc_in_npy_vector(label, bytes, size, in, err, err_len)
                  : lsc_in_npy_matrix(label, bytes, size, in, err, err_len);
}

int lsc_in_npz_open(const char *file, const char *name, lsc_input *in, char *err, size_t err_len)
{
    return npz_open_as(file, name, in, 0, err, err_len);
}

int lsc_in_npz_open_vector(const char *file, const char *name, lsc_input *in, char *err,
                           size_t err_len)
{
    return npz_open_as(file, name, in, 1, err, err_len);
}

int lsc_in_npz_labels(const char *file, const char *name, int64_t **labels, int64_t *n, char *err,
                      size_t err_len)
{
    npz z;
    zip_uint64_t index;
    char label[512];
    int rc = npz_open(&z, file, name, &index, label, sizeof label, err, err_len);
    if (rc) return rc;
    const unsigned char *bytes;
    size_t size;
    void *owned;
    rc = npz_member(&z, index, label, &bytes, &size, &owned, err, err_len);
    if (!rc) rc = lsc_in_npy_labels(label, bytes, size, labels, n, err, err_len);
    free(owned);
    npz_close(&z);
    return rc;
}

/* ---- the writer ----------------------------------------------------------------------------- */

int lsc_in_npz_write(const char *path, const char *const *names, const unsigned char *const *images,
                     const size_t *sizes, int n, char *err, size_t err_len)
{
    int zerr = 0;
    /* libzip writes the archive to a temporary file beside `path` and renames it over `path`
     * in zip_close, so a failed write leaves what was there before */
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        int rc = lsc_in_fail(err, err_len, 2, path, "cannot open for writing: %s",
                             zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        char member[256];
        int w = snprintf(member, sizeof member, "%s.npy", names[i]);
        if (w < 0 || (size_t)w >= sizeof member) {
            zip_discard(za);
            return lsc_in_fail(err, err_len, 2, path, "array name '%s' is too long", names[i]);
        }
        zip_source_t *zs = zip_source_buffer(za, images[i], sizes[i], 0);
        zip_int64_t idx = zs ? zip_file_add(za, member, zs, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0) {
            if (zs) zip_source_free(zs);
            int rc =
                lsc_in_fail(err, err_len, 1, path, "cannot add '%s': %s", member, zip_strerror(za));
            zip_discard(za);
            return rc;
        }
        /* stored, as numpy.savez does: a reader can use the data in place */
        if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0) {
            int rc = lsc_in_fail(err, err_len, 1, path, "cannot store '%s': %s", member,
                                 zip_strerror(za));
            zip_discard(za);
            return rc;
        }
    }
    if (zip_close(za) != 0) {
        zip_error_t *ze = zip_get_error(za);
        int sys = zip_error_code_system(ze);
        int code = zip_error_code_zip(ze) == ZIP_ER_MEMORY || sys == ENOSPC || sys == EIO ? 1 : 2;
        int rc = lsc_in_fail(err, err_len, code, path, "cannot write: %s", zip_strerror(za));
        zip_discard(za);
        return rc;
    }
    return 0;
}

#endif
