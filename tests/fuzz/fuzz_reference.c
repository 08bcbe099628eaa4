/* libFuzzer target: the reference-file loader (lsc_reference_load, host/reference_file.c).
 *
 * The first input byte is a mode, the rest is the file. Mode bit 0 set: the checksums are made
 * correct before the file is written (the checksum function is copied from
 * host/reference_file.c), so the fuzzer gets past them to the header checks, the section table,
 * the radii and the values: for a file whose version field says 2, every section entry's
 * checksum (of the bytes it points at, when they lie in the file), then the table's, then the
 * header's; for any other file, the trailing 8 bytes (version 1). A file that loads reports the
 * version its header says, is queried (lsc_reference_info_get, lsc_reference_radii) and, when
 * small enough, used by lsc_prdc against a fixed fake set with the reference's columns. */
#include "lsc.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the checksum of host/reference_file.c -------------------------------------------------- */
static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static uint64_t load_le64(const uint8_t *p)
{
    uint64_t w = 0;
    for (int i = 7; i >= 0; i--) w = (w << 8) | p[i];
    return w;
}
static uint64_t ref_checksum(const uint8_t *p, size_t n)
{
    uint64_t h = 0, len = n;
    for (; n >= 8; n -= 8, p += 8) {
        h ^= rotl64(load_le64(p) * 0x87c37b91114253d5ull, 31) * 0x4cf5ad432745937full;
        h = rotl64(h, 27) * 5 + 0x52dce729;
    }
    if (n) {
        uint8_t t[8] = {0};
        memcpy(t, p, n);
        h ^= rotl64(load_le64(t) * 0x87c37b91114253d5ull, 31) * 0x4cf5ad432745937full;
        h = rotl64(h, 27) * 5 + 0x52dce729;
    }
    uint64_t z = (h ^ len) + 0x9e3779b97f4a7c15ull; /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Version 2 (a 128-byte header, then 32-byte entries {tag, flags, offset, length, checksum}):
 * each entry inside the file gets the checksum of its section's bytes, then the table (the
 * entries the header counts, as far as the file holds them) and the header theirs. */
static void fix_v2(uint8_t *b, size_t n)
{
    if (n < 128) return;
    size_t count = load_le32(b + 16), fit = (n - 128) / 32;
    if (count > fit) count = fit;
    for (size_t i = 0; i < count; i++) {
        uint8_t *e = b + 128 + 32 * i;
        uint64_t off = load_le64(e + 8), len = load_le64(e + 16);
        if (off <= n && len <= n - off) store_le64(e + 24, ref_checksum(b + off, (size_t)len));
    }
    store_le64(b + 64, ref_checksum(b + 128, 32 * count));
    store_le64(b + 120, ref_checksum(b, 120));
}
static void fix_checksums(uint8_t *b, size_t n)
{
    if (n >= 12 && load_le32(b + 8) == 2) fix_v2(b, n);
    else if (n >= 8) store_le64(b + n - 8, ref_checksum(b, n - 8));
}

static char path[512];
static lsc_ctx *ctx;

/* the scratch file goes when the fuzzer exits (libFuzzer's runs end in exit()) */
static void remove_scratch(void) { remove(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!ctx) {
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.backend = LSC_BACKEND_CPU;
        p.threads = 1;
        if (lsc_ctx_create(&p, &ctx) != LSC_STATUS_OK) abort();
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/lsc_fuzz_%ld.lscref", dir && *dir ? dir : "/tmp",
                 (long)getpid());
        atexit(remove_scratch);
    }
    int fix = data[0] & 1;
    data++;
    size--;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    if (fix) fix_checksums(buf, size);
    uint32_t version = size >= 12 ? load_le32(buf + 8) : 0;
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(buf, 1, size, f) != size) abort();
    if (fclose(f)) abort();
    free(buf);

    lsc_reference *ref = NULL;
    lsc_status st = lsc_reference_load(ctx, path, &ref);
    if (st != LSC_STATUS_OK) {
        if (ref) abort();
        const char *e = lsc_last_error(ctx);
        if (!e || !*e) abort(); /* every refusal says why */
        return 0;
    }
    lsc_reference_info info = LSC_REFERENCE_INFO_INIT;
    if (lsc_reference_info_get(ref, &info) != LSC_STATUS_OK) abort();
    if (info.rows < 2 || info.cols < 1 || info.k < 1 || info.k >= info.rows) abort();
    if (info.file_version != (int64_t)version || (version != 1 && version != 2)) abort();
    const double *r = lsc_reference_radii(ref);
    if (!r) abort();
    int64_t zero = 0;
    for (int64_t i = 0; i < info.rows; i++) {
        if (!(r[i] >= 0) || isinf(r[i])) abort();
        zero += r[i] == 0;
    }
    (void)zero;
    /* a small PRDC: M = k + 2 fake rows of the reference's columns */
    if (info.cols <= 64 && info.k <= 16) {
        int64_t m = info.k + 2;
        float *fake = malloc(sizeof(float) * (size_t)(m * info.cols));
        if (!fake) abort();
        for (int64_t i = 0; i < m * info.cols; i++)
            fake[i] = (float)((i * 37 % 17) - 8) * 0.25f + (float)(i % 3);
        lsc_matrix fm = lsc_matrix_f32(fake, m, info.cols);
        lsc_prdc_result pr = LSC_PRDC_RESULT_INIT;
        st = lsc_prdc(ctx, ref, &fm, &pr);
        if (st == LSC_STATUS_OK) {
            if (!(pr.precision >= 0 && pr.precision <= 1) || !(pr.recall >= 0 && pr.recall <= 1) ||
                !(pr.coverage >= 0 && pr.coverage <= 1) || !(pr.density >= 0))
                abort();
        } else if (st != LSC_STATUS_INVALID_DATA && st != LSC_STATUS_OVERFLOW) {
            abort();
        }
        free(fake);
    }
    lsc_reference_destroy(ref);
    return 0;
}
