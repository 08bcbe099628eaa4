/* Shared body of fuzz_npy.c and fuzz_fvecs.c: the input bytes are written to a scratch file with
 * the given extension, opened with lsc_input_open (tools/input.c), and on success every byte of
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

static void fuzz_write(const char *ext, const uint8_t *data, size_t size) {
    if (!fuzz_path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(fuzz_path, sizeof fuzz_path, "%s/lsc_fuzz_%ld%s", dir && *dir ? dir : "/tmp",
                 (long)getpid(), ext);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
}

static int fuzz_open_and_touch(const char *ext, const uint8_t *data, size_t size) {
    fuzz_write(ext, data, size);
    lsc_input in;
    char err[512];
    err[0] = 0;
    int rc = lsc_input_open(fuzz_path, &in, err, sizeof err);
    if (rc != 0) {
        if (rc != 1 && rc != 2) abort();         /* the documented codes only */
        if (!err[0] || strlen(err) >= sizeof err) abort();  /* always a message */
        lsc_input_close(&in);                    /* documented as harmless */
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

#endif
