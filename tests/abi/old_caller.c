/* A program built against the frozen lsc 0.1 header (lsc-0.1.h), run against today's library:
 * every growable struct it passes has its 0.1 size, and every result struct sits in a buffer
 * whose bytes past the 0.1 size hold a canary that the library must leave alone. Exits 0 when
 * every call succeeds with plausible figures and no canary was touched. Plain C99. */
#include "lsc-0.1.h"

#include <stdio.h>
#include <string.h>

#define ROWS 120
#define COLS 6
#define K 4
#define CANARY 0x5c

static int failures = 0;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "old_caller: %s\n", what);
        failures++;
    }
}

/* the struct at the start of a canary-filled buffer, aligned for any of them */
typedef union {
    unsigned char bytes[512];
    double align_d;
    int64_t align_i;
    void *align_p;
} slot;

static void *slot_init(slot *s, size_t size)
{
    memset(s->bytes, CANARY, sizeof s->bytes);
    memset(s->bytes, 0, size);
    memcpy(s->bytes, &size, sizeof size);
    return s->bytes;
}

static int canary_intact(const slot *s, size_t size)
{
    for (size_t i = size; i < sizeof s->bytes; i++)
        if (s->bytes[i] != CANARY) return 0;
    return 1;
}

static int call_ok(lsc_ctx *ctx, lsc_status st, const char *what)
{
    if (st != LSC_STATUS_OK)
        fprintf(stderr, "old_caller: %s: %s: %s\n", what, lsc_status_name(st), lsc_last_error(ctx));
    check(st == LSC_STATUS_OK, what);
    return st == LSC_STATUS_OK;
}

int main(void)
{
    /* the library is newer than the header: same major version, a later minor one */
    check(lsc_version_number() / 10000 == LSC_VERSION_MAJOR &&
              lsc_version_number() > LSC_VERSION_NUMBER,
          "the library is not a newer 0.x than the frozen header");

    static float x[ROWS * COLS], y[ROWS * COLS];
    unsigned long state = 777UL;
    for (int i = 0; i < ROWS * COLS; i++) {
        state = (state * 1103515245UL + 12345UL) & 0x7fffffffUL;
        x[i] = (float)((double)state / 1073741824.0 - 1.0);
        state = (state * 1103515245UL + 12345UL) & 0x7fffffffUL;
        y[i] = (float)((double)state / 1073741824.0 - 1.0);
    }

    lsc_ctx_params params = LSC_CTX_PARAMS_INIT;
    params.backend = LSC_BACKEND_CPU;
    params.threads = 2;
    lsc_ctx *ctx = NULL;
    if (!call_ok(ctx, lsc_ctx_create(&params, &ctx), "lsc_ctx_create")) return 1;
    lsc_matrix mx = lsc_matrix_f32(x, ROWS, COLS), my = lsc_matrix_f32(y, ROWS, COLS);

    slot s;
    lsc_spectrum_opts so = LSC_SPECTRUM_OPTS_INIT;
    lsc_spectrum_result *spec = slot_init(&s, sizeof *spec);
    if (call_ok(ctx, lsc_spectrum(ctx, &mx, &so, spec, NULL, NULL), "lsc_spectrum")) {
        check(spec->size == sizeof *spec, "spectrum: size changed");
        check(spec->rows == ROWS && spec->cols == COLS, "spectrum: shape");
        check(spec->effective_rank > 1.0 && spec->effective_rank <= COLS, "spectrum: effective rank");
        check(canary_intact(&s, sizeof *spec), "spectrum: wrote past the 0.1 struct");
    }

    lsc_pair_opts po = LSC_PAIR_OPTS_INIT; /* 0.1: no subset_offset */
    po.subset_rows = 50;
    po.seed = 3;
    lsc_pair_result *pr = slot_init(&s, sizeof *pr);
    if (call_ok(ctx, lsc_pair_stats(ctx, &mx, &po, pr, NULL, NULL), "lsc_pair_stats")) {
        check(pr->rows_used == 50 && pr->subset == 1, "pairs: subset");
        check(pr->pairs == 50 * 49 / 2 && pr->mean > 0.0 && pr->min <= pr->mean, "pairs: figures");
        check(canary_intact(&s, sizeof *pr), "pairs: wrote past the 0.1 struct");
    }

    lsc_knn_opts ko = LSC_KNN_OPTS_INIT;
    ko.exclude_self = 1;
    static float dist[ROWS * K];
    static int64_t idx[ROWS * K];
    if (call_ok(ctx, lsc_knn(ctx, &mx, NULL, K, &ko, dist, idx), "lsc_knn"))
        check(idx[0] != 0 && dist[0] > 0.0f && dist[0] <= dist[K - 1], "knn: neighbours");

    lsc_reference_opts ro = LSC_REFERENCE_OPTS_INIT;
    lsc_reference *ref = NULL;
    if (call_ok(ctx, lsc_reference_create(ctx, &mx, K, &ro, &ref), "lsc_reference_create")) {
        lsc_reference_info *info = slot_init(&s, sizeof *info);
        check(lsc_reference_info_get(ref, info) == LSC_STATUS_OK, "reference info");
        check(info->rows == ROWS && info->cols == COLS && info->k == K, "reference info: shape");
        check(canary_intact(&s, sizeof *info), "reference info: wrote past the 0.1 struct");

        lsc_prdc_result *prdc = slot_init(&s, sizeof *prdc);
        if (call_ok(ctx, lsc_prdc(ctx, ref, &my, prdc), "lsc_prdc")) {
            check(prdc->k == K && prdc->real_rows == ROWS && prdc->fake_rows == ROWS, "prdc: shape");
            check(prdc->precision > 0.5 && prdc->recall > 0.5 && prdc->coverage > 0.5 &&
                      prdc->density > 0.3,
                  "prdc: two draws of one distribution should overlap");
            check(canary_intact(&s, sizeof *prdc), "prdc: wrote past the 0.1 struct");
        }
        lsc_reference_destroy(ref);
    }
    lsc_ctx_destroy(ctx);
    if (failures == 0) printf("old_caller: lsc %s runs a program built against 0.1\n", lsc_version());
    return failures == 0 ? 0 : 1;
}
