/* Shared body of the input targets (fuzz_npy.c, fuzz_fvecs.c, fuzz_npz.c, fuzz_safetensors.c):
 * the input bytes are written to a scratch file with the given extension, opened with
 * lsc_input_open (tools/input*.c), and on success every byte of
 * every element of the view is read (so ASan sees any read out of an owned copy, and a view that
 * reaches past the mapping is caught by the bounds check below). */
#ifndef LSC_FUZZ_INPUT_COMMON_H
#define LSC_FUZZ_INPUT_COMMON_H

#include "input.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_path[512];

/* the scratch file goes when the fuzzer exits (libFuzzer's runs end in exit()) */
static void fuzz_remove_scratch(void) { remove(fuzz_path); }

static void fuzz_write(const char *ext, const uint8_t *data, size_t size)
{
    if (!fuzz_path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(fuzz_path, sizeof fuzz_path, "%s/lsc_fuzz_%ld%s", dir && *dir ? dir : "/tmp",
                 (long)getpid(), ext);
        atexit(fuzz_remove_scratch);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
}

/* Opens `spec` (a path, or path:name) and reads every byte of the view. */
static int fuzz_touch_spec(const char *spec)
{
    lsc_input in;
    char err[512];
    err[0] = 0;
    int rc = lsc_input_open(spec, &in, err, sizeof err);
    if (rc != 0) {
        if (rc != 1 && rc != 2) abort();                   /* the documented codes only */
        if (!err[0] || strlen(err) >= sizeof err) abort(); /* always a message */
        lsc_input_close(&in);                              /* documented as harmless */
        return 0;
    }
    const lsc_matrix *m = &in.m;
    size_t es = lsc_dtype_size(m->dtype);
    if (!m->data || es == 0 || m->rows < 1 || m->cols < 1 || m->ld < m->cols) abort();
    /* the last element of the view must lie inside the mapping (or the owned copy, which ASan
     * checks by itself) */
    uint64_t span = ((uint64_t)(m->rows - 1) * (uint64_t)m->ld + (uint64_t)m->cols) * es;
    if (!in.owned) {
        const uint8_t *base = (const uint8_t *)in.map, *p = (const uint8_t *)m->data;
        if (!base || p < base || (uint64_t)(p - base) + span > in.map_len) abort();
    }
    unsigned sum = 0;
    const uint8_t *p = (const uint8_t *)m->data;
    for (int64_t i = 0; i < m->rows; i++) {
        const uint8_t *row = p + (size_t)i * (size_t)m->ld * es;
        for (size_t b = 0; b < (size_t)m->cols * es; b++) sum += row[b];
    }
    /* keep the loop */
    volatile unsigned sink = sum;
    (void)sink;
    lsc_input_close(&in);
    return 0;
}

static inline int fuzz_open_and_touch(const char *ext, const uint8_t *data, size_t size)
{
    fuzz_write(ext, data, size);
    return fuzz_touch_spec(fuzz_path);
}

/* The labels of `spec`: a refusal leaves nothing; a success gives n >= 1 readable labels. */
static inline void fuzz_labels(const char *spec)
{
    int64_t *labels = NULL, n = -1;
    char err[512];
    err[0] = 0;
    int rc = lsc_labels_open(spec, &labels, &n, err, sizeof err);
    if (rc != 0) {
        if ((rc != 1 && rc != 2) || !err[0] || labels || n != 0) abort();
        return;
    }
    if (!labels || n < 1) abort();
    /* every label is ASan-checked memory; any int64 values: unsigned, so the sum cannot overflow */
    volatile uint64_t sink = (uint64_t)labels[0] + (uint64_t)labels[n - 1];
    (void)sink;
    free(labels);
}

/* The container targets (.npz, .safetensors): byte 0 chooses the array name the spec asks for
 * (bits 0-1: none, "x", the name carried in the input, or one holding ':' and '/'; bit 2: read
 * labels too), then for "carried" byte 1 is its length and the name follows; the rest is the
 * file. This drives the `path:name` selection as well as the reader. */
static inline int fuzz_container(const char *ext, const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned mode = data[0];
    data++;
    size--;
    char name[260] = "";
    switch (mode & 3) {
    case 0: break;
    case 1: strcpy(name, "x"); break;
    case 2: {
        if (size < 1) return 0;
        size_t l = data[0] < size - 1 ? data[0] : size - 1;
        memcpy(name, data + 1, l);
        name[l] = 0; /* a NUL inside ends it early, as it would on a command line */
        data += 1 + l;
        size -= 1 + l;
        break;
    }
    default: strcpy(name, "a:b/c.npy"); break;
    }
    fuzz_write(ext, data, size);
    char spec[sizeof fuzz_path + sizeof name + 2];
    snprintf(spec, sizeof spec, "%s%s%s", fuzz_path, (mode & 3) ? ":" : "", name);
    fuzz_touch_spec(spec);
    if (mode & 4) fuzz_labels(spec);
    return 0;
}

#endif
