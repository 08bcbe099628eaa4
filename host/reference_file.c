/* Reference files: versioned little-endian binary files. lsc_reference_save writes version 2;
 * lsc_reference_load reads versions 1 and 2. This comment defines the format; docs/FILES.md
 * describes version 2 for readers in other languages.
 *
 * Checksums (both versions): the bytes as 8-byte little-endian words, the last one padded with
 * zero bytes, through multiply-rotate rounds; then the byte count mixed in and a splitmix64
 * finish (hash_update and hash_final below). Integers are little-endian; i32/i64 are two's
 * complement. metric: 0 euclidean, 2 cosine; comparison: 0 strict, 1 inclusive. Radii are stored
 * as internal values: the squared euclidean distance, or 2 x the cosine distance.
 *
 * Version 1 (read, no longer written): one checksum over every byte.
 *   offset  size  field
 *        0     8  magic "\x89LSCREF\n" (the high byte and newline catch text-mode mangling)
 *        8     4  u32 format version (1)
 *       12     4  u32 header bytes (64)
 *       16     8  i64 rows N          24  8  i64 cols D        32  8  i64 k
 *       40     4  i32 metric          44  4  i32 comparison    48  8  i64 zero radii
 *       56     8  u64 reserved, 0
 *       64  4N D  float32 rows, row-major, dense
 *        .    8N  float64 radii
 *        .     8  u64 checksum of every byte before it
 *
 * Version 2: a header, a table of sections, the sections, each with its own checksum, so that
 * each section can be written and checked alone (by the process that computed it, at an offset
 * known from the header before anything is written) and later writers can add sections.
 *   header, 128 bytes
 *        0     8  magic "\x89LSCREF\n"
 *        8     4  u32 format version (2)
 *       12     4  u32 header bytes (128)
 *       16     4  u32 section count S, 0 to 1024
 *       20     4  u32 flags, 0 (none are defined; a reader refuses others)
 *       24     8  i64 rows N          32  8  i64 cols D        40  8  i64 k
 *       48     4  i32 metric          52  4  i32 comparison    56  8  i64 zero radii
 *       64     8  u64 checksum of the section table (its 32 S bytes)
 *       72    48  reserved, 0 (a reader refuses others)
 *      120     8  u64 checksum of header bytes 0-119
 *   section table, from offset 128: S entries of 32 bytes
 *       +0     4  tag: four printable ASCII characters (0x20-0x7e) in file order, e.g. "ROWS"
 *       +4     4  u32 flags: bit 0 required; the other bits 0
 *       +8     8  u64 offset of the section from the start of the file, a multiple of 64
 *      +16     8  u64 length of the section in bytes (0 allowed)
 *      +24     8  u64 checksum of the section's bytes
 *   sections, in file order (any order in the table): each starts at the first multiple of 64
 *   at or after the end of the table or of the section before it; the bytes between are 0; the
 *   file ends where the last section ends. So every byte is in the header, the table, a
 *   section or a zero pad: sections never overlap, and nothing trails. (The alignment lets the
 *   rows be mapped into memory.)
 *     'ROWS'  required  float32 rows, row-major, dense: exactly 4 N D bytes
 *     'RADV'  required  float64 radii (internal values), row order: exactly 8 N bytes
 *     'HALF'  optional  what lsc_assess computes from the reference alone for one seed
 *                       (lsc_reference_prepare): u64 seed, f64 median nearest-neighbour
 *                       distance within the judging half, then the judging half's float64
 *                       radii (internal values) in its row order: exactly 16 + 8 floor(N/2)
 *                       bytes
 *   Each tag appears at most once. A reader that does not know a tag refuses the file when the
 *   section is required and skips it otherwise; a section it knows must carry exactly the flags
 *   above. Adding a section keeps version 2; the version changes only when a version 2 reader
 *   could no longer find or check the sections (the header or table layout, the checksum).
 *   Sections planned: class labels, spectrum spreads.
 *   The reader checks the version before anything else (a later version may move what follows
 *   it), the header checksum before the header's fields, the table checksum before its entries,
 *   and every entry against the file's size before it allocates anything a section's size.
 */
#define _POSIX_C_SOURCE 200809L
#include "validate.h"
#include "sharded.h"
#include "../common/distance_rules.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define REF_MAGIC "\x89LSCREF\n"
#define REF_VERSION 2u /* the newest version this file reads and the one it writes */
#define REF_HEADER 64u /* version 1 */
#define REF_V2_HEADER 128u
#define REF_V2_ENTRY 32u
#define REF_V2_MAX_SECTIONS 1024u /* bounds the table's allocation, whatever the file claims */
#define REF_ALIGN 64u
#define REF_SEC_REQUIRED 1u

/* the sections this version knows, in the order the writer puts them */
enum { SEC_ROWS, SEC_RADV, SEC_HALF, SEC_KNOWN };
static const char known_tags[SEC_KNOWN][5] = {"ROWS", "RADV", "HALF"};
static const uint32_t known_flags[SEC_KNOWN] = {REF_SEC_REQUIRED, REF_SEC_REQUIRED, 0};

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

static uint64_t checksum_of(const void *p, size_t n)
{
    ref_hash hs = {0, 0, {0}, 0};
    hash_update(&hs, p, n);
    return hash_final(&hs);
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

/* x rounded up to a multiple of REF_ALIGN; x is at most a file's length, so this cannot wrap */
static uint64_t align_up(uint64_t x) { return (x + REF_ALIGN - 1) / REF_ALIGN * REF_ALIGN; }

static lsc_status write_all(lsc_ctx *ctx, FILE *f, ref_hash *hs, const void *p, size_t n,
                            const char *path)
{
    if (n && fwrite(p, 1, n, f) != n)
        return lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: write failed: %s", path,
                             strerror(errno));
    if (hs) hash_update(hs, p, n);
    return LSC_STATUS_OK;
}

/* ---- writing version 2 ------------------------------------------------------------------------ */

typedef struct {
    const void *data;
    uint64_t length, offset, checksum;
} out_section;

/* Places the sections (the order of known_tags) and fills the header and the table. The
 * checksums are a pass over memory before the one write of each section: the rows are in
 * memory anyway, and the file is then written front to back without seeking. */
static int sections_of(const lsc_reference *ref) { return ref->half ? SEC_KNOWN : SEC_HALF; }

static void plan_v2(const lsc_reference *ref, out_section *sec, unsigned char *h,
                    unsigned char *table, const uint64_t *sums)
{
    const int n = sections_of(ref);
    sec[SEC_ROWS].data = ref->data;
    sec[SEC_ROWS].length = (uint64_t)(ref->rows * ref->cols) * sizeof(float);
    sec[SEC_RADV].data = ref->radius_v;
    sec[SEC_RADV].length = (uint64_t)ref->rows * sizeof(double);
    sec[SEC_HALF].data = ref->half;
    sec[SEC_HALF].length = 16 + (uint64_t)(ref->rows / 2) * sizeof(double);
    uint64_t pos = REF_V2_HEADER + (uint64_t)n * REF_V2_ENTRY;
    for (int i = 0; i < n; i++) {
        unsigned char *e = table + i * REF_V2_ENTRY;
        sec[i].offset = align_up(pos);
        /* sums: the sections' checksums computed elsewhere (a sharded save's, chained) */
        sec[i].checksum = sums ? sums[i] : checksum_of(sec[i].data, (size_t)sec[i].length);
        pos = sec[i].offset + sec[i].length;
        memcpy(e, known_tags[i], 4);
        put_u32(e + 4, known_flags[i]);
        put_u64(e + 8, sec[i].offset);
        put_u64(e + 16, sec[i].length);
        put_u64(e + 24, sec[i].checksum);
    }
    memset(h, 0, REF_V2_HEADER);
    memcpy(h, REF_MAGIC, 8);
    put_u32(h + 8, 2);
    put_u32(h + 12, REF_V2_HEADER);
    put_u32(h + 16, (uint32_t)n);
    put_u64(h + 24, (uint64_t)ref->rows);
    put_u64(h + 32, (uint64_t)ref->cols);
    put_u64(h + 40, (uint64_t)ref->k);
    put_u32(h + 48, (uint32_t)ref->metric);
    put_u32(h + 52, (uint32_t)ref->comparison);
    put_u64(h + 56, (uint64_t)ref->zero_radii);
    put_u64(h + 64, checksum_of(table, (size_t)n * REF_V2_ENTRY));
    put_u64(h + 120, checksum_of(h, 120));
}

static lsc_status write_v2(lsc_ctx *ctx, FILE *f, const lsc_reference *ref, const char *path)
{
    static const unsigned char zeros[REF_ALIGN];
    out_section sec[SEC_KNOWN];
    unsigned char h[REF_V2_HEADER], table[SEC_KNOWN * REF_V2_ENTRY];
    plan_v2(ref, sec, h, table, NULL);
    const int n = sections_of(ref);
    lsc_status s = write_all(ctx, f, NULL, h, sizeof h, path);
    if (s == LSC_STATUS_OK) s = write_all(ctx, f, NULL, table, (size_t)n * REF_V2_ENTRY, path);
    uint64_t pos = sizeof h + (uint64_t)n * REF_V2_ENTRY;
    for (int i = 0; i < n && s == LSC_STATUS_OK; i++) {
        s = write_all(ctx, f, NULL, zeros, (size_t)(sec[i].offset - pos), path);
        if (s == LSC_STATUS_OK)
            s = write_all(ctx, f, NULL, sec[i].data, (size_t)sec[i].length, path);
        pos = sec[i].offset + sec[i].length;
    }
    return s;
}

/* Opens a new temporary file beside `path` for writing (*tmp_out its name, the caller's to
 * free): a save writes it and renames it over `path` when complete, so a failed save never
 * leaves a half-written reference, and never removes anything that was already at `path`.
 * Created with 0666 for the umask to narrow, like any new file (mkstemp would force 0600); the
 * name mixes the process, the clock, `salt` and the attempt, with O_EXCL deciding. */
static lsc_status open_temp(lsc_ctx *ctx, const char *path, uint64_t salt, char **tmp_out,
                            FILE **out)
{
    size_t plen = strlen(path);
    char *tmp = (char *)lsc_malloc(ctx, plen + 48, "temporary path");
    if (!tmp) return LSC_STATUS_OUT_OF_MEMORY;
    int fd = -1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    salt ^= (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    for (unsigned attempt = 0; attempt < 100 && fd < 0; attempt++) {
        uint64_t z = salt + 0x9e3779b97f4a7c15ULL * (attempt + 1);
        z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ULL;
        snprintf(tmp, plen + 48, "%s.tmp-%ld-%06llx", path, (long)getpid(),
                 (unsigned long long)(z >> 40));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
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
    *tmp_out = tmp;
    *out = f;
    return LSC_STATUS_OK;
}

lsc_status lsc_reference_save(lsc_ctx *ctx, const lsc_reference *ref, const char *path)
{
    LSC_TRY(lsc_begin(ctx));
    LSC_CHECK(ctx, ref, LSC_STATUS_INVALID_ARGUMENT, "ref is NULL");
    LSC_TRY(lsc_check_whole(ctx, ref, "ref"));
    LSC_CHECK(ctx, path && *path, LSC_STATUS_INVALID_ARGUMENT, "path is %s",
              path ? "empty" : "NULL");
    LSC_CHECK(ctx, little_endian(), LSC_STATUS_NOT_SUPPORTED,
              "reference files are little-endian; this host is not");

    char *tmp = NULL;
    FILE *f = NULL;
    LSC_TRY(open_temp(ctx, path, (uint64_t)(uintptr_t)ref, &tmp, &f));
    lsc_status s = write_v2(ctx, f, ref, path);
    if (fclose(f) != 0 && s == LSC_STATUS_OK)
        s = lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: close failed: %s", path, strerror(errno));
    if (s == LSC_STATUS_OK && rename(tmp, path) != 0)
        s = lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: cannot replace: %s", path,
                          strerror(errno));
    if (s != LSC_STATUS_OK) remove(tmp);
    free(tmp);
    return s;
}

/* ---- a sharded reference's save (lsc.h section 12) ------------------------------------------- */

/* Writes all n bytes at `offset` of fd. */
static lsc_status pwrite_all(lsc_ctx *ctx, int fd, const void *p, size_t n, uint64_t offset,
                             const char *path)
{
    const char *c = (const char *)p;
    while (n > 0) {
        const ssize_t w = pwrite(fd, c, n, (off_t)offset);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: write failed: %s", path,
                                 w < 0 ? strerror(errno) : "no progress");
        c += w;
        n -= (size_t)w;
        offset += (uint64_t)w;
    }
    return LSC_STATUS_OK;
}

/* The values each rank shows the others: its shard, its options and its path's checksum. */
enum {
    SV_ROWS,
    SV_TOTAL,
    SV_FIRST,
    SV_COLS,
    SV_K,
    SV_METRIC,
    SV_CMP,
    SV_ZERO,
    SV_PATH,
    SV_RING,
    SV_NVALS
};

lsc_status lsc_reference_save_sharded(lsc_ctx *ctx, const lsc_reference *ref, const char *path)
{
    LSC_TRY(lsc_begin(ctx));
    const int64_t rank = lsc_tp_rank(ctx), ranks = lsc_tp_ranks(ctx);
    static const char what[] = "lsc_reference_save_sharded";

    /* phase 1: this rank's arguments, then the shards' layout, options and path compared */
    lsc_status s = LSC_STATUS_OK;
    if (!ref) s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "ref is NULL");
    else if (!path || !*path)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "path is %s", path ? "empty" : "NULL");
    else if (!little_endian())
        s = lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                          "reference files are little-endian; this host is not");
    else if (ref->half)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                          "ref is prepared (lsc_reference_prepare): save it with "
                          "lsc_reference_save");
    int64_t mine[SV_NVALS];
    memset(mine, 0, sizeof mine);
    if (s == LSC_STATUS_OK) {
        const uint64_t ph = checksum_of(path, strlen(path));
        mine[SV_ROWS] = ref->rows;
        mine[SV_TOTAL] = ref->shard_total ? ref->shard_total : ref->rows;
        mine[SV_FIRST] = ref->shard_first;
        mine[SV_COLS] = ref->cols;
        mine[SV_K] = ref->k;
        mine[SV_METRIC] = ref->metric;
        mine[SV_CMP] = ref->comparison;
        mine[SV_ZERO] = ref->zero_radii;
        memcpy(&mine[SV_PATH], &ph, sizeof ph);
        mine[SV_RING] = ctx->transport.ring != NULL || ranks == 1;
    }
    int64_t *all = (int64_t *)malloc((size_t)ranks * SV_NVALS * sizeof(int64_t));
    if (!all && s == LSC_STATUS_OK)
        s = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                          "out of host memory for %lld ranks' shards", (long long)ranks);
    s = lsc_tp_agree(ctx, s, mine, SV_NVALS, all);
    int64_t n = 0, zero = 0;
    for (int64_t r = 0; s == LSC_STATUS_OK && r < ranks; r++) {
        const int64_t *v = all + r * SV_NVALS;
        if (v[SV_PATH] != all[SV_PATH])
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "path: rank %lld names another file than rank 0", (long long)r);
        else if (v[SV_COLS] != all[SV_COLS] || v[SV_K] != all[SV_K] ||
                 v[SV_METRIC] != all[SV_METRIC] || v[SV_CMP] != all[SV_CMP] ||
                 v[SV_TOTAL] != all[SV_TOTAL] || v[SV_FIRST] != n)
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "ref: rank %lld's reference is not its shard of rank 0's: make "
                              "the shards with lsc_reference_create_sharded on these ranks",
                              (long long)r);
        else if (!v[SV_RING]) s = lsc_tp_no_ring(ctx, what, r);
        else {
            n += v[SV_ROWS];
            zero += v[SV_ZERO];
        }
    }
    if (s == LSC_STATUS_OK && n != all[SV_TOTAL])
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                          "ref: the ranks' shards hold %lld rows, the reference has %lld",
                          (long long)n, (long long)all[SV_TOTAL]);
    free(all);
    if (s != LSC_STATUS_OK) return s; /* the same on every rank */

    /* phase 2: the two sections' checksums, one stream each in rank order: the state goes round
     * the ring, each rank adding its own bytes when it comes (the stream carries a partial word
     * across a shard boundary as the one-process writer does), and the last rank's is the file's */
    const size_t rows_bytes = (size_t)(ref->rows * ref->cols) * sizeof(float);
    const size_t radv_bytes = (size_t)ref->rows * sizeof(double);
    ref_hash st[2], got[2];
    memset(st, 0, sizeof st);
    memset(got, 0, sizeof got);
    if (rank == 0) {
        hash_update(&st[0], ref->data, rows_bytes);
        hash_update(&st[1], ref->radius_v, radv_bytes);
    }
    for (int64_t step = 0; s == LSC_STATUS_OK && step < ranks - 1; step++) {
        s = lsc_tp_ring(ctx, st, sizeof st, got, sizeof got, what);
        if (s == LSC_STATUS_OK && rank == step + 1) {
            memcpy(st, got, sizeof st);
            hash_update(&st[0], ref->data, rows_bytes);
            hash_update(&st[1], ref->radius_v, radv_bytes);
        }
    }
    if (s == LSC_STATUS_OK) s = lsc_tp_broadcast(ctx, st, sizeof st, ranks - 1);
    if (s != LSC_STATUS_OK) return s; /* the transport failed: the ranks are out of step */

    /* phase 3: rank 0 creates the file at its full length with the header and the table; the
     * sections' bytes are each rank's to write (the pads between read as zeros) */
    lsc_reference view = *ref;
    view.rows = n;
    view.zero_radii = zero;
    out_section sec[SEC_KNOWN];
    unsigned char h[REF_V2_HEADER], table[SEC_KNOWN * REF_V2_ENTRY];
    const uint64_t sums[2] = {hash_final(&st[0]), hash_final(&st[1])};
    plan_v2(&view, sec, h, table, sums);
    const size_t name_len = strlen(path) + 48;
    char *name = (char *)lsc_calloc(ctx, name_len, 1, "temporary path");
    char *tmp = NULL;
    FILE *f = NULL;
    s = name ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY;
    if (s == LSC_STATUS_OK && rank == 0) {
        s = open_temp(ctx, path, 0x5a17ed, &tmp, &f);
        if (s == LSC_STATUS_OK) {
            snprintf(name, name_len, "%s", tmp);
            s = write_all(ctx, f, NULL, h, sizeof h, path);
        }
        if (s == LSC_STATUS_OK)
            s = write_all(ctx, f, NULL, table, (size_t)SEC_HALF * REF_V2_ENTRY, path);
        const uint64_t end = sec[SEC_RADV].offset + sec[SEC_RADV].length;
        if (s == LSC_STATUS_OK && (fflush(f) != 0 || ftruncate(fileno(f), (off_t)end) != 0))
            s = lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: write failed: %s", path,
                              strerror(errno));
    }
    s = lsc_tp_agree(ctx, s, NULL, 0, NULL);

    /* phase 4: each rank its rows and radii, where the one-process writer puts them */
    if (s == LSC_STATUS_OK) s = lsc_tp_broadcast(ctx, name, name_len, 0);
    if (s == LSC_STATUS_OK) {
        name[name_len - 1] = '\0';
        const int fd = rank == 0 ? fileno(f) : open(name, O_WRONLY | O_CLOEXEC);
        lsc_status w =
            fd >= 0 ? LSC_STATUS_OK
                    : lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: cannot open %s for writing: %s",
                                    path, name, strerror(errno));
        const uint64_t first = (uint64_t)ref->shard_first, row = (uint64_t)ref->cols * 4;
        if (w == LSC_STATUS_OK)
            w = pwrite_all(ctx, fd, ref->data, rows_bytes, sec[SEC_ROWS].offset + first * row,
                           path);
        if (w == LSC_STATUS_OK)
            w = pwrite_all(ctx, fd, ref->radius_v, radv_bytes,
                           sec[SEC_RADV].offset + first * sizeof(double), path);
        if (rank != 0 && fd >= 0 && close(fd) != 0 && w == LSC_STATUS_OK)
            w = lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: close failed: %s", path,
                              strerror(errno));
        s = lsc_tp_agree(ctx, w, NULL, 0, NULL);
    }

    /* phase 5: rank 0 closes the file and renames it over `path`, or removes it; its outcome
     * goes to every rank (an earlier failure is every rank's already) */
    lsc_status c = s;
    if (rank == 0 && f) {
        if (fclose(f) != 0 && c == LSC_STATUS_OK)
            c = lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: close failed: %s", path,
                              strerror(errno));
        if (c == LSC_STATUS_OK && rename(tmp, path) != 0)
            c = lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: cannot replace: %s", path,
                              strerror(errno));
        if (c != LSC_STATUS_OK) remove(tmp);
    }
    if (s == LSC_STATUS_OK) s = lsc_tp_agree(ctx, c, NULL, 0, NULL);
    free(tmp);
    free(name);
    return s;
}

/* ---- reading: both versions ------------------------------------------------------------------- */

static lsc_status read_all(lsc_ctx *ctx, FILE *f, ref_hash *hs, void *p, size_t n, const char *path,
                           const char *what)
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

/* The magic and the version, which every version keeps at the same place; returns the version
 * in *version. A future version is refused here, before anything it may have moved is read. */
static lsc_status check_version(lsc_ctx *ctx, const unsigned char *h, uint32_t *version,
                                const char *path)
{
    LSC_CHECK(ctx, memcmp(h, REF_MAGIC, 8) == 0, LSC_STATUS_BAD_FILE,
              "%s: not an lsc reference file (bad magic)", path);
    *version = get_u32(h + 8);
    LSC_CHECK(ctx, *version != 0 && *version <= REF_VERSION, LSC_STATUS_BAD_FILE,
              "%s: reference format version %u, this lsc %s reads versions 1 to %u", path, *version,
              lsc_version(), REF_VERSION);
    return LSC_STATUS_OK;
}

/* The fields of the reference itself, at the offsets each version puts them. */
static lsc_status check_fields(lsc_ctx *ctx, int64_t rows, int64_t cols, int64_t k, int32_t metric,
                               int32_t cmp, const char *path)
{
    LSC_CHECK(ctx, rows >= 2 && cols >= 1, LSC_STATUS_BAD_FILE,
              "%s: header claims %lld rows x %lld cols", path, (long long)rows, (long long)cols);
    LSC_CHECK(ctx, k >= 1 && k < rows, LSC_STATUS_BAD_FILE, "%s: k=%lld with %lld rows", path,
              (long long)k, (long long)rows);
    LSC_CHECK(ctx, metric == LSC_METRIC_EUCLIDEAN || metric == LSC_METRIC_COSINE,
              LSC_STATUS_BAD_FILE, "%s: unknown metric %d", path, metric);
    LSC_CHECK(ctx, cmp == LSC_COMPARISON_STRICT || cmp == LSC_COMPARISON_INCLUSIVE,
              LSC_STATUS_BAD_FILE, "%s: unknown comparison %d", path, cmp);
    return LSC_STATUS_OK;
}

/* The bytes of the rows (4 N D) and of the radii (8 N), or BAD_FILE if they overflow. */
static lsc_status section_sizes(lsc_ctx *ctx, int64_t rows, int64_t cols, int64_t *data,
                                int64_t *radii, const char *path)
{
    int64_t nd = lsc_mul_i64(rows, cols);
    *data = nd < 0 ? -1 : lsc_mul_i64(nd, 4);
    *radii = lsc_mul_i64(rows, 8);
    LSC_CHECK(ctx, *data >= 0 && *radii >= 0 && *data <= INT64_MAX - *radii - 72,
              LSC_STATUS_BAD_FILE, "%s: header claims %lld x %lld, which overflows", path,
              (long long)rows, (long long)cols);
    return LSC_STATUS_OK;
}

/* A file with valid checksums may still have been written by something else: the radii must be
 * finite and non-negative, their zeros counted as the header says (zero_claim NULL: a shard's,
 * compared by the caller), the rows finite (and, for cosine, not zero). Fills the reported radii
 * and the zero count; `first` is the global index of r's first row, for messages. */
static lsc_status check_contents(lsc_ctx *ctx, lsc_reference *r, const int64_t *zero_claim,
                                 int64_t first, const char *path)
{
    int64_t zero = 0;
    for (int64_t i = 0; i < r->rows; i++) {
        double v = r->radius_v[i];
        LSC_CHECK(ctx, v >= 0.0 && v <= 1e300, LSC_STATUS_BAD_FILE, "%s: radius %lld is %g", path,
                  (long long)(first + i), v);
        r->radius[i] = lsc_dist_from_v((int)r->metric, v);
        zero += v == 0.0;
    }
    r->zero_radii = zero;
    LSC_CHECK(ctx, !zero_claim || zero == *zero_claim, LSC_STATUS_BAD_FILE,
              "%s: header says %lld zero radii, the radii hold %lld", path, (long long)*zero_claim,
              (long long)zero);
    if (r->half) {
        double v;
        for (int64_t i = 0; i <= r->rows / 2; i++) { /* the median, then the radii */
            memcpy(&v, r->half + 8 + 8 * (size_t)i, sizeof v);
            LSC_CHECK(ctx, v >= 0.0 && v <= 1e300, LSC_STATUS_BAD_FILE,
                      "%s: section 'HALF': %s %lld is %g", path, i ? "radius" : "median",
                      (long long)(i ? i - 1 : 0), v);
        }
    }
    if (r->rows == 0) return LSC_STATUS_OK;
    lsc_matrix m = lsc_matrix_f32(r->data, r->rows, r->cols);
    return lsc_check_values(ctx, &m, path, r->metric == LSC_METRIC_COSINE) == LSC_STATUS_OK
               ? LSC_STATUS_OK
               : LSC_STATUS_BAD_FILE;
}

/* ---- reading version 1 ------------------------------------------------------------------------ */

/* Validates the header against the file's length. */
static lsc_status check_header_v1(lsc_ctx *ctx, const unsigned char *h, int64_t file_len,
                                  const char *path)
{
    LSC_CHECK(ctx, get_u32(h + 12) == REF_HEADER, LSC_STATUS_BAD_FILE,
              "%s: header size %u, expected %u", path, get_u32(h + 12), REF_HEADER);
    int64_t rows = get_i64(h + 16), cols = get_i64(h + 24);
    LSC_TRY(check_fields(ctx, rows, cols, get_i64(h + 32), (int32_t)get_u32(h + 40),
                         (int32_t)get_u32(h + 44), path));
    /* 64 + 4 N D + 8 N + 8 must equal the length, computed without overflow */
    int64_t data, radii;
    LSC_TRY(section_sizes(ctx, rows, cols, &data, &radii, path));
    int64_t want = 64 + data + radii + 8;
    LSC_CHECK(ctx, want == file_len, LSC_STATUS_BAD_FILE,
              "%s: %s: the header claims %lld x %lld (%lld bytes), the file has %lld bytes", path,
              file_len < want ? "truncated" : "trailing bytes", (long long)rows, (long long)cols,
              (long long)want, (long long)file_len);
    return LSC_STATUS_OK;
}

/* The rest of a version 1 file, whose 64 header bytes are in h and already hashed into hs. */
static lsc_status load_v1(lsc_ctx *ctx, FILE *f, const unsigned char *h, ref_hash *hs,
                          int64_t file_len, const char *path, lsc_reference **out)
{
    LSC_TRY(check_header_v1(ctx, h, file_len, path));
    lsc_reference *r = NULL;
    LSC_TRY(lsc_reference_alloc(ctx, get_i64(h + 16), get_i64(h + 24), 1, &r));
    *out = r; /* the caller destroys it on failure */
    r->k = get_i64(h + 32);
    r->metric = (lsc_metric)get_u32(h + 40);
    r->comparison = (lsc_comparison)get_u32(h + 44);
    r->file_version = 1;
    LSC_TRY(
        read_all(ctx, f, hs, r->data, (size_t)(r->rows * r->cols) * sizeof(float), path, "rows"));
    LSC_TRY(read_all(ctx, f, hs, r->radius_v, (size_t)r->rows * sizeof(double), path, "radii"));
    unsigned char c[8];
    LSC_TRY(read_all(ctx, f, NULL, c, sizeof c, path, "checksum"));
    LSC_CHECK(ctx, load_le64(c) == hash_final(hs), LSC_STATUS_BAD_FILE,
              "%s: checksum mismatch: the file is corrupt", path);
    const int64_t claim = get_i64(h + 48);
    return check_contents(ctx, r, &claim, 0, path);
}

/* ---- reading version 2 ------------------------------------------------------------------------ */

typedef struct {
    char tag[5]; /* NUL-terminated, for messages */
    uint32_t flags;
    uint64_t offset, length, checksum;
    int known; /* SEC_ROWS, SEC_RADV, or -1 */
} ref_section;

/* The header after the version: its size, then its checksum (so that a damaged field is
 * reported as damage), then every field; finally that the table fits in the file. */
static lsc_status check_header_v2(lsc_ctx *ctx, const unsigned char *h, int64_t file_len,
                                  const char *path)
{
    LSC_CHECK(ctx, load_le64(h + 120) == checksum_of(h, 120), LSC_STATUS_BAD_FILE,
              "%s: header checksum mismatch: the file is corrupt", path);
    LSC_CHECK(ctx, get_u32(h + 20) == 0, LSC_STATUS_BAD_FILE,
              "%s: header flags 0x%x; version 2 defines none", path, get_u32(h + 20));
    for (int i = 72; i < 120; i++)
        LSC_CHECK(ctx, h[i] == 0, LSC_STATUS_BAD_FILE, "%s: reserved header byte %d is %d, not 0",
                  path, i, h[i]);
    uint32_t n = get_u32(h + 16);
    LSC_CHECK(ctx, n <= REF_V2_MAX_SECTIONS, LSC_STATUS_BAD_FILE,
              "%s: header claims %u sections; version 2 allows at most %u", path, n,
              REF_V2_MAX_SECTIONS);
    int64_t rows = get_i64(h + 24), cols = get_i64(h + 32), data, radii;
    LSC_TRY(check_fields(ctx, rows, cols, get_i64(h + 40), (int32_t)get_u32(h + 48),
                         (int32_t)get_u32(h + 52), path));
    LSC_TRY(section_sizes(ctx, rows, cols, &data, &radii, path));
    int64_t table_end = REF_V2_HEADER + (int64_t)n * REF_V2_ENTRY;
    LSC_CHECK(ctx, table_end <= file_len, LSC_STATUS_BAD_FILE,
              "%s: truncated in the section table: %u sections end at byte %lld, the file has "
              "%lld bytes",
              path, n, (long long)table_end, (long long)file_len);
    return LSC_STATUS_OK;
}

/* Reads the n table entries into sec and checks the table's checksum before any entry is used. */
static lsc_status read_table(lsc_ctx *ctx, FILE *f, const unsigned char *h, ref_section *sec,
                             uint32_t n, const char *path)
{
    ref_hash hs = {0, 0, {0}, 0};
    for (uint32_t i = 0; i < n; i++) {
        unsigned char e[REF_V2_ENTRY];
        LSC_TRY(read_all(ctx, f, &hs, e, sizeof e, path, "section table"));
        memcpy(sec[i].tag, e, 4);
        sec[i].tag[4] = '\0';
        sec[i].flags = get_u32(e + 4);
        sec[i].offset = load_le64(e + 8);
        sec[i].length = load_le64(e + 16);
        sec[i].checksum = load_le64(e + 24);
        sec[i].known = -1;
    }
    LSC_CHECK(ctx, load_le64(h + 64) == hash_final(&hs), LSC_STATUS_BAD_FILE,
              "%s: section table checksum mismatch: the file is corrupt", path);
    return LSC_STATUS_OK;
}

static int printable_tag(const char *t)
{
    for (int i = 0; i < 4; i++)
        if (t[i] < 0x20 || t[i] > 0x7e) return 0;
    return 1;
}

/* What entry i is: a tag seen once, known or skippable, with flags this reader understands. */
static lsc_status check_tag(lsc_ctx *ctx, ref_section *sec, uint32_t i, const char *path)
{
    ref_section *e = &sec[i];
    LSC_CHECK(ctx, printable_tag(e->tag), LSC_STATUS_BAD_FILE,
              "%s: section %u: its tag (0x%08x) is not four printable ASCII characters", path, i,
              get_u32((const unsigned char *)e->tag));
    for (uint32_t j = 0; j < i; j++)
        LSC_CHECK(ctx, memcmp(sec[j].tag, e->tag, 4) != 0, LSC_STATUS_BAD_FILE,
                  "%s: section '%s' appears twice in the section table", path, e->tag);
    for (int k = 0; k < SEC_KNOWN; k++)
        if (memcmp(known_tags[k], e->tag, 4) == 0) e->known = k;
    /* a required section this reader does not know changes what the file means */
    LSC_CHECK(ctx, e->known >= 0 || !(e->flags & REF_SEC_REQUIRED), LSC_STATUS_BAD_FILE,
              "%s: the file (format version 2) has a required section '%s' that this lsc %s "
              "does not know; reading it needs a newer lsc",
              path, e->tag, lsc_version());
    LSC_CHECK(ctx, e->known < 0 || e->flags == known_flags[e->known], LSC_STATUS_BAD_FILE,
              "%s: section '%s' has flags 0x%x, expected 0x%x", path, e->tag, e->flags,
              e->known < 0 ? 0u : known_flags[e->known]);
    return LSC_STATUS_OK;
}

/* Entry e lies inside the file, aligned, and (if known) holds exactly what the header says. */
static lsc_status check_extent(lsc_ctx *ctx, const ref_section *e, const unsigned char *h,
                               int64_t file_len, const char *path)
{
    uint64_t len = (uint64_t)file_len;
    LSC_CHECK(ctx, e->offset <= len && e->length <= len - e->offset, LSC_STATUS_BAD_FILE,
              "%s: truncated or corrupt: section '%s' (offset %llu, %llu bytes) runs past the "
              "end of the file (%lld bytes)",
              path, e->tag, (unsigned long long)e->offset, (unsigned long long)e->length,
              (long long)file_len);
    LSC_CHECK(ctx, e->offset % REF_ALIGN == 0, LSC_STATUS_BAD_FILE,
              "%s: section '%s' at offset %llu is not %u-byte aligned", path, e->tag,
              (unsigned long long)e->offset, REF_ALIGN);
    if (e->known < 0) return LSC_STATUS_OK;
    int64_t rows = get_i64(h + 24), cols = get_i64(h + 32), want[SEC_KNOWN];
    LSC_TRY(section_sizes(ctx, rows, cols, &want[SEC_ROWS], &want[SEC_RADV], path));
    want[SEC_HALF] = 16 + (rows / 2) * (int64_t)sizeof(double); /* below RADV's, which fits */
    LSC_CHECK(ctx, e->length == (uint64_t)want[e->known], LSC_STATUS_BAD_FILE,
              "%s: section '%s' holds %llu bytes; %lld rows x %lld cols need %lld", path, e->tag,
              (unsigned long long)e->length, (long long)rows, (long long)cols,
              (long long)want[e->known]);
    return LSC_STATUS_OK;
}

static int by_offset(const void *a, const void *b)
{
    const ref_section *x = (const ref_section *)a, *y = (const ref_section *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return (x->length > y->length) - (x->length < y->length);
}

/* Sorts the sections into file order and checks that they tile the file after the table: each
 * at the first aligned offset after the one before, none overlapping, nothing trailing. */
static lsc_status check_layout(lsc_ctx *ctx, ref_section *sec, uint32_t n, int64_t file_len,
                               const char *path)
{
    qsort(sec, n, sizeof *sec, by_offset);
    uint64_t pos = REF_V2_HEADER + (uint64_t)n * REF_V2_ENTRY;
    for (uint32_t i = 0; i < n; i++) {
        const ref_section *e = &sec[i];
        if (e->offset < pos && i == 0)
            return lsc_set_error(ctx, LSC_STATUS_BAD_FILE,
                                 "%s: section '%s' at offset %llu overlaps the header and "
                                 "section table (%llu bytes)",
                                 path, e->tag, (unsigned long long)e->offset,
                                 (unsigned long long)pos);
        if (e->offset < pos)
            return lsc_set_error(ctx, LSC_STATUS_BAD_FILE,
                                 "%s: sections '%s' (bytes %llu to %llu) and '%s' (from byte "
                                 "%llu) overlap",
                                 path, sec[i - 1].tag, (unsigned long long)sec[i - 1].offset,
                                 (unsigned long long)pos, e->tag, (unsigned long long)e->offset);
        LSC_CHECK(ctx, e->offset == align_up(pos), LSC_STATUS_BAD_FILE,
                  "%s: section '%s' at offset %llu leaves a gap: it must start at byte %llu, "
                  "the first %u-byte boundary after byte %llu",
                  path, e->tag, (unsigned long long)e->offset, (unsigned long long)align_up(pos),
                  REF_ALIGN, (unsigned long long)pos);
        pos = e->offset + e->length;
    }
    LSC_CHECK(ctx, pos == (uint64_t)file_len, LSC_STATUS_BAD_FILE,
              "%s: trailing bytes: the sections end at byte %llu, the file has %lld bytes", path,
              (unsigned long long)pos, (long long)file_len);
    return LSC_STATUS_OK;
}

/* The n bytes before a section: zero, so that every byte of the file is checked. */
static lsc_status read_padding(lsc_ctx *ctx, FILE *f, uint64_t n, const ref_section *e,
                               const char *path)
{
    unsigned char pad[REF_ALIGN];
    LSC_TRY(read_all(ctx, f, NULL, pad, (size_t)n, path, "padding"));
    for (uint64_t i = 0; i < n; i++)
        LSC_CHECK(ctx, pad[i] == 0, LSC_STATUS_BAD_FILE,
                  "%s: nonzero padding byte at offset %llu, before section '%s'", path,
                  (unsigned long long)(e->offset - n + i), e->tag);
    return LSC_STATUS_OK;
}

/* Reads the sections in file order (the table's own end is the file position): a known one
 * into r, its checksum checked; an unknown (optional) one is skipped unread. */
static lsc_status read_sections(lsc_ctx *ctx, FILE *f, const ref_section *sec, uint32_t n,
                                lsc_reference *r, const char *path)
{
    uint64_t pos = REF_V2_HEADER + (uint64_t)n * REF_V2_ENTRY;
    for (uint32_t i = 0; i < n; i++) {
        const ref_section *e = &sec[i];
        LSC_TRY(read_padding(ctx, f, e->offset - pos, e, path));
        pos = e->offset + e->length;
        if (e->known < 0) {
            LSC_CHECK(ctx, fseeko(f, (off_t)pos, SEEK_SET) == 0, LSC_STATUS_IO_ERROR,
                      "%s: cannot skip section '%s': %s", path, e->tag, strerror(errno));
            continue;
        }
        if (e->known == SEC_HALF) {
            r->half = (unsigned char *)lsc_malloc(ctx, (size_t)e->length, "reference half");
            if (!r->half) return LSC_STATUS_OUT_OF_MEMORY;
        }
        void *dst = e->known == SEC_ROWS   ? (void *)r->data
                    : e->known == SEC_RADV ? (void *)r->radius_v
                                           : (void *)r->half;
        char what[24];
        snprintf(what, sizeof what, "section '%s'", e->tag);
        ref_hash hs = {0, 0, {0}, 0};
        LSC_TRY(read_all(ctx, f, &hs, dst, (size_t)e->length, path, what));
        LSC_CHECK(ctx, hash_final(&hs) == e->checksum, LSC_STATUS_BAD_FILE,
                  "%s: section '%s' checksum mismatch: the file is corrupt", path, e->tag);
    }
    return LSC_STATUS_OK;
}

/* Checks every entry, then the file order, before anything the size of a section is allocated:
 * each known section's length then equals what the header implies and lies inside the file. */
static lsc_status check_sections(lsc_ctx *ctx, ref_section *sec, uint32_t n, const unsigned char *h,
                                 int64_t file_len, const char *path)
{
    int found[SEC_KNOWN] = {0};
    for (uint32_t i = 0; i < n; i++) {
        LSC_TRY(check_tag(ctx, sec, i, path));
        LSC_TRY(check_extent(ctx, &sec[i], h, file_len, path));
        if (sec[i].known >= 0) found[sec[i].known] = 1;
    }
    for (int k = 0; k < SEC_KNOWN; k++)
        LSC_CHECK(ctx, found[k] || !(known_flags[k] & REF_SEC_REQUIRED), LSC_STATUS_BAD_FILE,
                  "%s: required section '%s' is missing", path, known_tags[k]);
    return check_layout(ctx, sec, n, file_len, path);
}

/* The rest of a version 2 file, whose first 64 header bytes are in h (128 bytes). */
static lsc_status load_v2(lsc_ctx *ctx, FILE *f, unsigned char *h, int64_t file_len,
                          const char *path, lsc_reference **out)
{
    LSC_CHECK(ctx, get_u32(h + 12) == REF_V2_HEADER, LSC_STATUS_BAD_FILE,
              "%s: header size %u, expected %u", path, get_u32(h + 12), REF_V2_HEADER);
    LSC_CHECK(ctx, file_len >= (int64_t)REF_V2_HEADER, LSC_STATUS_BAD_FILE,
              "%s: %lld bytes, too short for a version 2 header (%u bytes)", path,
              (long long)file_len, REF_V2_HEADER);
    LSC_TRY(read_all(ctx, f, NULL, h + REF_HEADER, REF_V2_HEADER - REF_HEADER, path, "header"));
    LSC_TRY(check_header_v2(ctx, h, file_len, path));
    uint32_t n = get_u32(h + 16);
    ref_section *sec = (ref_section *)lsc_calloc(ctx, n ? n : 1, sizeof *sec, "section table");
    if (!sec) return LSC_STATUS_OUT_OF_MEMORY;
    lsc_status s = read_table(ctx, f, h, sec, n, path);
    if (s == LSC_STATUS_OK) s = check_sections(ctx, sec, n, h, file_len, path);
    if (s == LSC_STATUS_OK) s = lsc_reference_alloc(ctx, get_i64(h + 24), get_i64(h + 32), 1, out);
    if (s == LSC_STATUS_OK) {
        lsc_reference *r = *out; /* the caller destroys it on failure */
        r->k = get_i64(h + 40);
        r->metric = (lsc_metric)get_u32(h + 48);
        r->comparison = (lsc_comparison)get_u32(h + 52);
        r->file_version = 2;
        s = read_sections(ctx, f, sec, n, r, path);
        const int64_t claim = get_i64(h + 56);
        if (s == LSC_STATUS_OK) s = check_contents(ctx, r, &claim, 0, path);
    }
    free(sec);
    return s;
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
    /* the first 64 bytes are a whole version 1 header and the start of a version 2 one */
    unsigned char h[REF_V2_HEADER];
    ref_hash hs = {0, 0, {0}, 0};
    lsc_reference *r = NULL;
    uint32_t version = 0;
    lsc_status s = LSC_STATUS_OK;
    if ((int64_t)st.st_size < (int64_t)REF_HEADER)
        s = lsc_set_error(ctx, LSC_STATUS_BAD_FILE,
                          "%s: %lld bytes, too short for a reference file header", path,
                          (long long)st.st_size);
    if (s == LSC_STATUS_OK) s = read_all(ctx, f, &hs, h, REF_HEADER, path, "header");
    if (s == LSC_STATUS_OK) s = check_version(ctx, h, &version, path);
    if (s == LSC_STATUS_OK && version == 1)
        s = load_v1(ctx, f, h, &hs, (int64_t)st.st_size, path, &r);
    else if (s == LSC_STATUS_OK) s = load_v2(ctx, f, h, (int64_t)st.st_size, path, &r);
    fclose(f);
    if (s != LSC_STATUS_OK) {
        lsc_reference_destroy(r);
        return s;
    }
    *out = r;
    return LSC_STATUS_OK;
}

/* ---- reading one shard a rank ---------------------------------------------------------------- */

/* Rank r's first row of an even split of n rows over p ranks, floor(r n / p), without overflow. */
static int64_t split_first(int64_t n, int64_t r, int64_t p)
{
    return r * (n / p) + r * (n % p) / p;
}

/* Reads n bytes at `offset` of f into p. */
static lsc_status read_at(lsc_ctx *ctx, FILE *f, void *p, size_t n, uint64_t offset,
                          const char *path, const char *what)
{
    LSC_CHECK(ctx, fseeko(f, (off_t)offset, SEEK_SET) == 0, LSC_STATUS_IO_ERROR,
              "%s: cannot seek to the %s: %s", path, what, strerror(errno));
    return read_all(ctx, f, NULL, p, n, path, what);
}

/* Every rank's own checks of the file, then what the ranks compare: the header's and the table's
 * checksums (the same file on every rank), its length, and the ring step. */
enum { LV_HEAD, LV_TABLE, LV_LEN, LV_RING, LV_NVALS };

/* This rank's checks of the header and table (as lsc_reference_load makes them) and, on rank 0,
 * of the zero padding between sections; leaves the header in h, the ROWS and RADV entries in
 * rows and radv. */
static lsc_status load_shard_head(lsc_ctx *ctx, FILE *f, int64_t file_len, unsigned char *h,
                                  ref_section *rows, ref_section *radv, const char *path)
{
    LSC_CHECK(ctx, file_len >= (int64_t)REF_HEADER, LSC_STATUS_BAD_FILE,
              "%s: %lld bytes, too short for a reference file header", path, (long long)file_len);
    LSC_TRY(read_all(ctx, f, NULL, h, REF_HEADER, path, "header"));
    uint32_t version = 0;
    LSC_TRY(check_version(ctx, h, &version, path));
    LSC_CHECK(ctx, version == 2, LSC_STATUS_NOT_SUPPORTED,
              "%s: format version %u keeps one checksum over the whole file, which no rank can "
              "check alone: load it with lsc_reference_load (lsc_reference_save writes version 2)",
              path, version);
    LSC_CHECK(ctx, get_u32(h + 12) == REF_V2_HEADER, LSC_STATUS_BAD_FILE,
              "%s: header size %u, expected %u", path, get_u32(h + 12), REF_V2_HEADER);
    LSC_CHECK(ctx, file_len >= (int64_t)REF_V2_HEADER, LSC_STATUS_BAD_FILE,
              "%s: %lld bytes, too short for a version 2 header (%u bytes)", path,
              (long long)file_len, REF_V2_HEADER);
    LSC_TRY(read_all(ctx, f, NULL, h + REF_HEADER, REF_V2_HEADER - REF_HEADER, path, "header"));
    LSC_TRY(check_header_v2(ctx, h, file_len, path));
    const uint32_t n = get_u32(h + 16);
    ref_section *sec = (ref_section *)lsc_calloc(ctx, n ? n : 1, sizeof *sec, "section table");
    if (!sec) return LSC_STATUS_OUT_OF_MEMORY;
    lsc_status s = read_table(ctx, f, h, sec, n, path);
    if (s == LSC_STATUS_OK) s = check_sections(ctx, sec, n, h, file_len, path);
    /* the pads are a few bytes: rank 0 reads them, so every byte outside the sections it does
     * not read is still checked once */
    uint64_t pos = REF_V2_HEADER + (uint64_t)n * REF_V2_ENTRY;
    for (uint32_t i = 0; s == LSC_STATUS_OK && i < n; i++) {
        if (sec[i].known == SEC_ROWS) *rows = sec[i];
        if (sec[i].known == SEC_RADV) *radv = sec[i];
        if (lsc_tp_rank(ctx) == 0 && sec[i].offset > pos) {
            if (fseeko(f, (off_t)pos, SEEK_SET) != 0)
                s = lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: cannot seek: %s", path,
                                  strerror(errno));
            if (s == LSC_STATUS_OK) s = read_padding(ctx, f, sec[i].offset - pos, &sec[i], path);
        }
        pos = sec[i].offset + sec[i].length;
    }
    free(sec);
    return s;
}

lsc_status lsc_reference_load_sharded(lsc_ctx *ctx, const char *path, lsc_reference **out)
{
    LSC_TRY(lsc_begin(ctx));
    const int64_t rank = lsc_tp_rank(ctx), ranks = lsc_tp_ranks(ctx);
    static const char what[] = "lsc_reference_load_sharded";

    /* phase 1: this rank's arguments and checks of the header and table, then the ranks' files
     * compared */
    lsc_status s = LSC_STATUS_OK;
    if (!path || !*path)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "path is %s", path ? "empty" : "NULL");
    else if (!out) s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    else if (!little_endian())
        s = lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                          "reference files are little-endian; this host is not");
    FILE *f = NULL;
    struct stat st;
    memset(&st, 0, sizeof st);
    if (s == LSC_STATUS_OK) {
        f = fopen(path, "rb");
        if (!f)
            s = lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: cannot open: %s", path,
                              strerror(errno));
        else if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
            s = lsc_set_error(ctx, LSC_STATUS_IO_ERROR, "%s: not a regular file", path);
    }
    unsigned char h[REF_V2_HEADER];
    memset(h, 0, sizeof h);
    ref_section rows_sec, radv_sec;
    memset(&rows_sec, 0, sizeof rows_sec);
    memset(&radv_sec, 0, sizeof radv_sec);
    if (s == LSC_STATUS_OK)
        s = load_shard_head(ctx, f, (int64_t)st.st_size, h, &rows_sec, &radv_sec, path);
    int64_t mine[LV_NVALS];
    memset(mine, 0, sizeof mine);
    mine[LV_HEAD] = (int64_t)load_le64(h + 120);
    mine[LV_TABLE] = (int64_t)load_le64(h + 64);
    mine[LV_LEN] = (int64_t)st.st_size;
    mine[LV_RING] = ctx->transport.ring != NULL || ranks == 1;
    int64_t *all = (int64_t *)malloc((size_t)ranks * LV_NVALS * sizeof(int64_t));
    if (!all && s == LSC_STATUS_OK)
        s = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                          "out of host memory for %lld ranks' values", (long long)ranks);
    s = lsc_tp_agree(ctx, s, mine, LV_NVALS, all);
    for (int64_t r = 0; s == LSC_STATUS_OK && r < ranks; r++) {
        const int64_t *v = all + r * LV_NVALS;
        if (v[LV_HEAD] != all[LV_HEAD] || v[LV_TABLE] != all[LV_TABLE] || v[LV_LEN] != all[LV_LEN])
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "path: rank %lld reads another file than rank 0 (its header, "
                              "section table or length differ)",
                              (long long)r);
        else if (!v[LV_RING]) s = lsc_tp_no_ring(ctx, what, r);
    }
    free(all);

    /* phase 2: this rank's rows and radii of an even split, each section's checksum state to
     * come */
    const int64_t n = get_i64(h + 24), d = get_i64(h + 32);
    const int64_t first = s == LSC_STATUS_OK ? split_first(n, rank, ranks) : 0;
    const int64_t my = s == LSC_STATUS_OK ? split_first(n, rank + 1, ranks) - first : 0;
    lsc_reference *r = NULL;
    if (s == LSC_STATUS_OK) {
        lsc_status m = lsc_reference_alloc(ctx, my, d, 1, &r);
        const size_t rows_bytes = (size_t)(my * d) * sizeof(float);
        const uint64_t row = (uint64_t)d * sizeof(float);
        if (m == LSC_STATUS_OK) {
            r->k = get_i64(h + 40);
            r->metric = (lsc_metric)get_u32(h + 48);
            r->comparison = (lsc_comparison)get_u32(h + 52);
            r->file_version = 2;
            r->shard_total = n;
            r->shard_first = first;
            m = read_at(ctx, f, r->data, rows_bytes, rows_sec.offset + (uint64_t)first * row, path,
                        "section 'ROWS'");
        }
        if (m == LSC_STATUS_OK)
            m = read_at(ctx, f, r->radius_v, (size_t)my * sizeof(double),
                        radv_sec.offset + (uint64_t)first * sizeof(double), path, "section 'RADV'");
        s = lsc_tp_agree(ctx, m, NULL, 0, NULL);
    }
    if (f) fclose(f);

    /* phase 3: the two sections' checksums, one stream each in rank order, as the sharded save
     * makes them: the state goes round the ring, each rank adding its bytes when it comes, and
     * the last rank's is compared with the table on every rank */
    if (s == LSC_STATUS_OK) {
        const size_t rows_bytes = (size_t)(my * d) * sizeof(float);
        ref_hash hs[2], got[2];
        memset(hs, 0, sizeof hs);
        memset(got, 0, sizeof got);
        if (rank == 0) {
            hash_update(&hs[0], r->data, rows_bytes);
            hash_update(&hs[1], r->radius_v, (size_t)my * sizeof(double));
        }
        for (int64_t step = 0; s == LSC_STATUS_OK && step < ranks - 1; step++) {
            s = lsc_tp_ring(ctx, hs, sizeof hs, got, sizeof got, what);
            if (s == LSC_STATUS_OK && rank == step + 1) {
                memcpy(hs, got, sizeof hs);
                hash_update(&hs[0], r->data, rows_bytes);
                hash_update(&hs[1], r->radius_v, (size_t)my * sizeof(double));
            }
        }
        if (s == LSC_STATUS_OK) s = lsc_tp_broadcast(ctx, hs, sizeof hs, ranks - 1);
        /* from the broadcast state alone: the same outcome on every rank */
        if (s == LSC_STATUS_OK && hash_final(&hs[0]) != rows_sec.checksum)
            s = lsc_set_error(ctx, LSC_STATUS_BAD_FILE,
                              "%s: section 'ROWS' checksum mismatch: the file is corrupt", path);
        if (s == LSC_STATUS_OK && hash_final(&hs[1]) != radv_sec.checksum)
            s = lsc_set_error(ctx, LSC_STATUS_BAD_FILE,
                              "%s: section 'RADV' checksum mismatch: the file is corrupt", path);
    }

    /* phase 4: the contents of each shard (radii, finite rows), and the zero radii of all of
     * them against the header's count */
    if (s == LSC_STATUS_OK) {
        int64_t zero = 0, *zeros = (int64_t *)malloc((size_t)ranks * sizeof(int64_t));
        lsc_status c = zeros
                           ? check_contents(ctx, r, NULL, first, path)
                           : lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                           "out of host memory for %lld counts", (long long)ranks);
        s = lsc_tp_agree(ctx, c, &r->zero_radii, 1, zeros);
        for (int64_t q = 0; s == LSC_STATUS_OK && q < ranks; q++) zero += zeros[q];
        if (s == LSC_STATUS_OK && zero != get_i64(h + 56))
            s = lsc_set_error(ctx, LSC_STATUS_BAD_FILE,
                              "%s: header says %lld zero radii, the radii hold %lld", path,
                              (long long)get_i64(h + 56), (long long)zero);
        free(zeros);
    }
    if (s != LSC_STATUS_OK) {
        lsc_reference_destroy(r);
        return s;
    }
    ctx->err[0] = '\0';
    *out = r;
    return LSC_STATUS_OK;
}
