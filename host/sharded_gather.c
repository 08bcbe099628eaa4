/* Collectives on small data for the sharded calls (host/sharded.h): sums, a concatenation, rows
 * fetched by global index and kNN lists merged across the ranks. Each agrees on the callers'
 * statuses first, so a failure on one rank ends the call on all of them before data moves, and
 * each leaves the very same bytes on every rank: the sums of float64 values are added in rank
 * order here rather than by the engine, whose order may differ between ranks. */
#include "sharded.h"
#include "validate.h"

#include "../common/distance_rules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

lsc_status lsc_tp_concat(lsc_ctx *ctx, lsc_status st, const void *mine, size_t bytes, void **out,
                         size_t *total)
{
    const int64_t ranks = lsc_tp_ranks(ctx);
    *out = NULL;
    *total = 0;
    int64_t *all = (int64_t *)malloc((size_t)ranks * sizeof(int64_t));
    size_t *sizes = (size_t *)malloc((size_t)ranks * sizeof(size_t));
    if ((!all || !sizes) && st == LSC_STATUS_OK)
        st = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                           "out of host memory for %lld ranks' sizes", (long long)ranks);
    const int64_t b = (int64_t)bytes;
    st = lsc_tp_agree(ctx, st, &b, 1, all);
    size_t sum = 0;
    for (int64_t r = 0; st == LSC_STATUS_OK && r < ranks; r++) {
        sizes[r] = (size_t)all[r];
        if (sizes[r] > SIZE_MAX - sum)
            st = lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "the ranks' blocks overflow size_t");
        sum += sizes[r];
    }
    free(all);
    unsigned char *buf = NULL;
    if (st == LSC_STATUS_OK && sum > 0) {
        buf = (unsigned char *)lsc_malloc(ctx, sum, "the ranks' blocks");
        /* a failed allocation on one rank is agreed before the all-gather it would miss */
        st = lsc_tp_agree(ctx, buf ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY, NULL, 0, NULL);
        if (st == LSC_STATUS_OK) st = lsc_tp_all_gather(ctx, mine, bytes, buf, sizes);
    }
    free(sizes);
    if (st != LSC_STATUS_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *total = sum;
    return LSC_STATUS_OK;
}

/* Every rank's n values into all (ranks x n), in the agreement itself: one collective. A rank
 * that cannot hold them still takes part, reporting the failure. */
static lsc_status agree_values(lsc_ctx *ctx, lsc_status st, const int64_t *vals, int64_t n,
                               int64_t **all)
{
    const int64_t ranks = lsc_tp_ranks(ctx);
    *all = (int64_t *)malloc((size_t)(ranks * n) * sizeof(int64_t) + 1);
    if (!*all && st == LSC_STATUS_OK)
        st = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                           "out of host memory for %lld ranks' %lld values", (long long)ranks,
                           (long long)n);
    st = lsc_tp_agree(ctx, st, vals, n, *all);
    if (st != LSC_STATUS_OK) {
        free(*all);
        *all = NULL;
    }
    return st;
}

lsc_status lsc_tp_sum_i64(lsc_ctx *ctx, lsc_status st, int64_t *vals, int64_t n)
{
    int64_t *a = NULL;
    LSC_TRY(agree_values(ctx, st, vals, n, &a));
    const int64_t ranks = lsc_tp_ranks(ctx);
    for (int64_t i = 0; i < n; i++) {
        int64_t s = 0;
        for (int64_t r = 0; r < ranks; r++) s += a[r * n + i];
        vals[i] = s;
    }
    free(a);
    return LSC_STATUS_OK;
}

lsc_status lsc_tp_sum_f64(lsc_ctx *ctx, lsc_status st, double *vals, int64_t n)
{
    /* the values travel as their bytes (the agreement copies them with memcpy) */
    int64_t *a = NULL;
    LSC_TRY(agree_values(ctx, st, (const int64_t *)(const void *)vals, n, &a));
    const int64_t ranks = lsc_tp_ranks(ctx);
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t r = 0; r < ranks; r++) {
            double v;
            memcpy(&v, &a[r * n + i], sizeof v);
            s += v;
        }
        vals[i] = s;
    }
    free(a);
    return LSC_STATUS_OK;
}

lsc_status lsc_tp_gather_rows(lsc_ctx *ctx, lsc_status st, const lsc_matrix *local, int64_t first,
                              const int64_t *rows, int64_t n, float *out)
{
    const int64_t d = local->cols, mine = local->rows;
    /* a record: the row's place in `rows`, then its d float32 values */
    const size_t rec = sizeof(int64_t) + (size_t)d * sizeof(float);
    int64_t have = 0;
    for (int64_t t = 0; t < n; t++) have += rows[t] >= first && rows[t] < first + mine;
    unsigned char *send = NULL;
    if (st == LSC_STATUS_OK && have > 0) {
        send = (unsigned char *)lsc_malloc(ctx, (size_t)have * rec, "rows to gather");
        if (!send) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (send) {
        const size_t es = lsc_dtype_size(local->dtype);
        unsigned char *p = send;
        for (int64_t t = 0; t < n; t++) {
            if (rows[t] < first || rows[t] >= first + mine) continue;
            memcpy(p, &t, sizeof t);
            float *f = (float *)(p + sizeof t);
            const char *src =
                (const char *)local->data + (size_t)((rows[t] - first) * local->ld) * es;
            for (int64_t c = 0; c < d; c++) {
                const float x = lsc_load_f32(src, (int)local->dtype, c);
                memcpy(f + c, &x, sizeof x); /* records need not be 4-byte aligned */
            }
            p += rec;
        }
    }
    void *all = NULL;
    size_t total = 0;
    st = lsc_tp_concat(ctx, st, send, send ? (size_t)have * rec : 0, &all, &total);
    free(send);
    if (st != LSC_STATUS_OK) return st;
    const unsigned char *p = (const unsigned char *)all;
    int64_t got = 0;
    for (size_t off = 0; off + rec <= total; off += rec, got++) {
        int64_t t;
        memcpy(&t, p + off, sizeof t);
        memcpy(out + t * d, p + off + sizeof t, (size_t)d * sizeof(float));
    }
    free(all);
    /* every rank read the same records: a row nobody held is the caller's layout error */
    if (got != n)
        return lsc_set_error(ctx, LSC_STATUS_INTERNAL,
                             "gathering %lld rows by global index found %lld on the ranks",
                             (long long)n, (long long)got);
    return LSC_STATUS_OK;
}

lsc_status lsc_tp_merge_lists(lsc_ctx *ctx, lsc_status st, int64_t nq, int64_t k, double *v,
                              int64_t *key)
{
    const int64_t ranks = lsc_tp_ranks(ctx), e = nq * k;
    /* one block a rank: its values, then its keys */
    unsigned char *send = NULL;
    if (st == LSC_STATUS_OK && e > 0) {
        send = (unsigned char *)lsc_malloc(ctx, (size_t)e * 16, "kNN lists to merge");
        if (!send) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (send) {
        memcpy(send, v, (size_t)e * sizeof *v);
        memcpy(send + (size_t)e * 8, key, (size_t)e * sizeof *key);
    }
    void *all = NULL;
    size_t total = 0;
    st = lsc_tp_concat(ctx, st, send, send ? (size_t)e * 16 : 0, &all, &total);
    free(send);
    if (st != LSC_STATUS_OK || e == 0) {
        free(all);
        return st;
    }
    const unsigned char *a = (const unsigned char *)all;
    for (int64_t q = 0; q < nq; q++) {
        double *lv = v + q * k;
        int64_t *lk = key + q * k;
        for (int64_t t = 0; t < k; t++) {
            lv[t] = INFINITY;
            lk[t] = INT64_MAX;
        }
        for (int64_t r = 0; r < ranks; r++) {
            const unsigned char *blk = a + (size_t)r * (size_t)e * 16;
            for (int64_t t = 0; t < k; t++) {
                double cv;
                int64_t ck;
                memcpy(&cv, blk + (size_t)(q * k + t) * 8, sizeof cv);
                memcpy(&ck, blk + (size_t)e * 8 + (size_t)(q * k + t) * 8, sizeof ck);
                if (!lsc_knn_before(cv, ck, lv[k - 1], lk[k - 1])) break; /* sorted: no more */
                int64_t at = k - 1; /* insertion into the running list */
                while (at > 0 && lsc_knn_before(cv, ck, lv[at - 1], lk[at - 1])) {
                    lv[at] = lv[at - 1];
                    lk[at] = lk[at - 1];
                    at--;
                }
                lv[at] = cv;
                lk[at] = ck;
            }
        }
    }
    free(all);
    return LSC_STATUS_OK;
}
