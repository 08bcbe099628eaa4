/* Sharded operations (lsc.h section 12): each rank does its shard's work with the context's
 * backend; the transport moves the mergeable parts; every rank returns the same status and
 * figures. Every phase that can fail on one rank alone ends in an agreement (lsc_tp_agree) before
 * the next collective, so no rank is left waiting in a collective the others skipped. */
#include "sharded.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lsc_status lsc_check_shard(lsc_ctx *ctx, const lsc_matrix *x, const char *name, int device_ok)
{
    LSC_CHECK(ctx, x, LSC_STATUS_INVALID_ARGUMENT, "%s: matrix is NULL", name);
    LSC_CHECK(ctx, x->rows >= 0, LSC_STATUS_INVALID_ARGUMENT, "%s: rows is %lld, expected >= 0",
              name, (long long)x->rows);
    if (x->rows > 0) LSC_TRY(lsc_check_matrix(ctx, x, name, 1));
    LSC_CHECK(ctx, (int)x->dtype >= LSC_DTYPE_F32 && (int)x->dtype <= LSC_DTYPE_F64,
              LSC_STATUS_INVALID_ARGUMENT, "%s: dtype %d is unknown", name, (int)x->dtype);
    LSC_CHECK(ctx, x->cols >= 1, LSC_STATUS_INVALID_ARGUMENT, "%s: cols is %lld, expected >= 1",
              name, (long long)x->cols);
    LSC_CHECK(ctx, x->ld >= x->cols, LSC_STATUS_INVALID_ARGUMENT,
              "%s: ld (%lld) is smaller than cols (%lld)", name, (long long)x->ld,
              (long long)x->cols);
    LSC_CHECK(ctx, x->memory == LSC_MEMORY_HOST || (device_ok && x->memory == LSC_MEMORY_DEVICE),
              LSC_STATUS_NOT_SUPPORTED, "%s: this sharded call takes host memory so far", name);
    /* an empty shard is read by no one, but its memory says where the caller's data lives */
    LSC_CHECK(ctx, x->memory == LSC_MEMORY_HOST || lsc_supports(ctx, LSC_CAP_DEVICE_MEMORY),
              LSC_STATUS_NOT_SUPPORTED,
              "%s: data is in device memory but the context runs on the %s backend", name,
              ctx->ops ? ctx->ops->name : "cpu");
    return LSC_STATUS_OK;
}

lsc_status lsc_sharded_on_cpu(lsc_ctx *ctx, const char *what)
{
    if (ctx->backend == LSC_BACKEND_CPU) return LSC_STATUS_OK;
    return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                         "%s runs on the CPU backend so far; this context runs on %s", what,
                         ctx->ops->name);
}

/* ---------------------------------------------------------------------------------------------- */
/* spectrum                                                                                       */

/* A shard's accumulator on the wire, as the backend's acc_export gives it (lsc_acc_state): int64
 * rows and first zero row (within the shard), then, for a shard with rows, float64 pivot[d],
 * sum[d] and the upper triangles of the two Grams, row by row. */
static size_t wire_bytes(int64_t d, int64_t rows)
{
    const size_t tri = (size_t)d * (size_t)(d + 1) / 2;
    return 2 * sizeof(int64_t) + (rows > 0 ? (2 * (size_t)d + 2 * tri) * sizeof(double) : 0);
}

/* The state in the wire record at w of a shard of `rows` rows: its counts as they are there and
 * its arrays in place (8-byte aligned: every record's size is a multiple of 8 and the buffers
 * are malloc's), NULL for an empty shard, whose record has none. */
static lsc_acc_state wire_state(unsigned char *w, int64_t d, int64_t rows)
{
    const size_t tri = (size_t)d * (size_t)(d + 1) / 2;
    lsc_acc_state st;
    memset(&st, 0, sizeof st);
    memcpy(&st.n, w, sizeof(int64_t));
    memcpy(&st.zero_row, w + sizeof(int64_t), sizeof(int64_t));
    if (rows == 0) return st;
    st.pivot = (double *)(w + 2 * sizeof(int64_t));
    st.sum = st.pivot + d;
    st.gram = st.sum + d;
    st.cosg = st.gram + tri;
    return st;
}

static void wire_put_counts(unsigned char *w, const lsc_acc_state *st)
{
    memcpy(w, &st->n, sizeof(int64_t));
    memcpy(w + sizeof(int64_t), &st->zero_row, sizeof(int64_t));
}

/* What rank 0 broadcasts: the outcome of the merge and eigensolve, then the figures and, after
 * this head, min(N, D) singular values and D column variances. */
typedef struct spectrum_head {
    int64_t status;
    char msg[LSC_ERR_LEN];
    lsc_spectrum_result r;
} spectrum_head;

/* Rank 0: every shard's state merged in rank order into one accumulator, then the figures. */
static lsc_status merge_and_finish(lsc_ctx *ctx, unsigned char *states, const size_t *sizes,
                                   int64_t ranks, int64_t d, double thr, spectrum_head *head,
                                   double *sv, double *colvar)
{
    lsc_acc_core total, one;
    memset(&total, 0, sizeof total);
    memset(&one, 0, sizeof one);
    lsc_status s = lsc_acc_core_init(ctx, &total, d, ctx->ops->acc_create, "acc_create");
    size_t at = 0;
    for (int64_t r = 0; r < ranks && s == LSC_STATUS_OK; at += sizes[r], r++) {
        /* a fresh accumulator for each state: import writes into an empty one */
        lsc_acc_core_fini(&one);
        int64_t rows;
        memcpy(&rows, states + at, sizeof rows);
        if (rows == 0) continue;
        const lsc_acc_state st = wire_state(states + at, d, rows);
        s = lsc_acc_core_init(ctx, &one, d, ctx->ops->acc_create, "acc_create");
        if (s == LSC_STATUS_OK) s = ctx->ops->acc_import(ctx, one.state, &st);
        if (s == LSC_STATUS_OK) {
            one.rows = st.n;
            s = lsc_acc_core_merge(ctx, &total, &one);
        }
    }
    if (s == LSC_STATUS_OK) {
        head->r.size = sizeof head->r;
        s = lsc_spectrum_core_finalize(ctx, &total, thr, &head->r, sv, colvar);
    }
    lsc_acc_core_fini(&one);
    lsc_acc_core_fini(&total);
    return s;
}

/* The values each rank shows the others before any work: its shape and its options. */
enum { SP_COLS, SP_ROWS, SP_THR, SP_NVALS };

lsc_status lsc_spectrum_sharded(lsc_ctx *ctx, const lsc_matrix *x, const lsc_spectrum_opts *opts,
                                lsc_spectrum_result *out, double *singular_values,
                                double *column_variance)
{
    /* a NULL or failed context has no transport to agree through */
    LSC_TRY(lsc_begin(ctx));
    const int64_t rank = lsc_tp_rank(ctx), ranks = lsc_tp_ranks(ctx);

    /* phase 1: each rank's arguments, then shapes and options compared across ranks */
    double thr = 0.0;
    lsc_status s = lsc_check_shard(ctx, x, "x", 1);
    if (s == LSC_STATUS_OK && !out)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    if (s == LSC_STATUS_OK)
        s = LSC_CHECK_RESULT(ctx, out, SPECTRUM_RESULT, "out", "LSC_SPECTRUM_RESULT_INIT");
    if (s == LSC_STATUS_OK) s = lsc_spectrum_read_opts(ctx, opts, &thr);
    if (s == LSC_STATUS_OK && (!ctx->ops->acc_export || !ctx->ops->acc_import))
        s = lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                          "the %s backend cannot move an accumulator's state between processes "
                          "(acc_export, acc_import): no sharded spectrum",
                          ctx->ops->name);
    int64_t mine[SP_NVALS] = {0, 0, 0};
    if (s == LSC_STATUS_OK) {
        mine[SP_COLS] = x->cols;
        mine[SP_ROWS] = x->rows;
        memcpy(&mine[SP_THR], &thr, sizeof thr); /* its bits: equal options are equal bits */
    }
    int64_t *all = (int64_t *)malloc((size_t)ranks * SP_NVALS * sizeof(int64_t));
    if (!all && s == LSC_STATUS_OK)
        s = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                          "out of host memory for %lld ranks' shapes", (long long)ranks);
    /* every rank sends blocks of one size, `all` or not: a failed rank's values go unread */
    s = lsc_tp_agree(ctx, s, mine, SP_NVALS, all);
    if (s != LSC_STATUS_OK) {
        free(all);
        return s;
    }
    const int64_t d = all[SP_COLS];
    int64_t n = 0;
    lsc_status cross = LSC_STATUS_OK;
    for (int64_t r = 0; r < ranks && cross == LSC_STATUS_OK; r++) {
        const int64_t *v = all + r * SP_NVALS;
        if (v[SP_COLS] != d)
            cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                  "x: rank %lld has %lld cols, rank 0 has %lld", (long long)r,
                                  (long long)v[SP_COLS], (long long)d);
        else if (v[SP_THR] != all[SP_THR])
            cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                  "opts: rank %lld's active_threshold differs from rank 0's",
                                  (long long)r);
        else if (v[SP_ROWS] > INT64_MAX - n)
            cross = lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "the ranks' row counts overflow");
        else n += v[SP_ROWS];
    }
    if (cross == LSC_STATUS_OK && n < 2)
        cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "x: %lld rows on all %lld ranks together, the spectrum needs at "
                              "least 2",
                              (long long)n, (long long)ranks);
    size_t total = 0, *sizes = NULL;
    if (cross == LSC_STATUS_OK) {
        /* every rank derives the same sizes from the same values: one message for all */
        sizes = (size_t *)malloc((size_t)ranks * sizeof(size_t));
        for (int64_t r = 0; sizes && r < ranks; r++) {
            sizes[r] = wire_bytes(d, all[r * SP_NVALS + SP_ROWS]);
            if (total > SIZE_MAX - sizes[r])
                cross =
                    lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "the ranks' states overflow size_t");
            total += sizes[r];
        }
    }
    const int64_t my_rows = all[rank * SP_NVALS + SP_ROWS];
    free(all);
    if (cross != LSC_STATUS_OK) {
        free(sizes);
        return cross; /* decided from agreed values alone: the same on every rank */
    }

    /* phase 2: this rank's accumulator (values checked as it adds them) and the buffers */
    lsc_acc_core acc;
    memset(&acc, 0, sizeof acc);
    unsigned char *send = NULL, *recv = NULL;
    s = sizes ? LSC_STATUS_OK
              : lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory for %lld sizes",
                              (long long)ranks);
    if (s == LSC_STATUS_OK) s = lsc_acc_core_init(ctx, &acc, d, ctx->ops->acc_create, "acc_create");
    if (s == LSC_STATUS_OK && my_rows > 0) s = lsc_acc_core_add(ctx, &acc, x, "x");
    if (s == LSC_STATUS_OK) {
        send = (unsigned char *)lsc_malloc(ctx, sizes[rank], "this shard's spectrum state");
        recv =
            send ? (unsigned char *)lsc_malloc(ctx, total, "every shard's spectrum state") : NULL;
        if (!recv) s = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (s == LSC_STATUS_OK) {
        memset(send, 0, 2 * sizeof(int64_t)); /* the counts export fills in */
        lsc_acc_state st = wire_state(send, d, my_rows);
        s = ctx->ops->acc_export(ctx, acc.state, &st);
        /* the record's size was agreed from my_rows: a state of another count would not fit */
        if (s == LSC_STATUS_OK && st.n != my_rows)
            s = lsc_set_error(ctx, LSC_STATUS_INTERNAL,
                              "the %s backend exported %lld rows of a shard of %lld",
                              ctx->ops->name, (long long)st.n, (long long)my_rows);
        if (s == LSC_STATUS_OK) wire_put_counts(send, &st);
    }
    lsc_acc_core_fini(&acc);
    s = lsc_tp_agree(ctx, s, NULL, 0, NULL);

    /* phase 3: every state to every rank; rank 0 merges in rank order and solves */
    const int64_t m = n < d ? n : d;
    const size_t tail = (size_t)(m + d) * sizeof(double);
    spectrum_head *head = NULL;
    if (s == LSC_STATUS_OK) s = lsc_tp_all_gather(ctx, send, sizes[rank], recv, sizes);
    free(send);
    if (s == LSC_STATUS_OK) {
        /* no agreement can follow a failed allocation here without another round: rank 0
         * reports it in the broadcast, the others cannot fail after this point */
        head = (spectrum_head *)calloc(1, sizeof *head + tail);
        if (!head) {
            free(recv);
            free(sizes);
            return lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                 "out of host memory for the spectrum's figures (the other ranks "
                                 "are left waiting in the broadcast)");
        }
    }
    if (s == LSC_STATUS_OK && rank == 0) {
        double *sv = (double *)(head + 1), *cv = sv + m;
        lsc_status r0 = merge_and_finish(ctx, recv, sizes, ranks, d, thr, head, sv, cv);
        head->status = (int64_t)r0;
        if (r0 != LSC_STATUS_OK) snprintf(head->msg, sizeof head->msg, "%s", ctx->err);
    }
    free(recv);
    free(sizes);

    /* phase 4: rank 0's outcome and figures to every rank */
    if (s == LSC_STATUS_OK) s = lsc_tp_broadcast(ctx, head, sizeof *head + tail, 0);
    if (s == LSC_STATUS_OK && head->status != LSC_STATUS_OK) {
        head->msg[sizeof head->msg - 1] = '\0';
        s = (head->status > 0 && head->status <= LSC_STATUS_TRANSPORT_ERROR)
                ? (lsc_status)head->status
                : LSC_STATUS_INTERNAL;
        if (ranks > 1) lsc_set_error(ctx, s, "rank 0: %s", head->msg);
        else lsc_set_error(ctx, s, "%s", head->msg);
    }
    if (s == LSC_STATUS_OK) {
        const double *sv = (const double *)(head + 1), *cv = sv + m;
        head->r.size = sizeof head->r;
        LSC_STORE_RESULT(out, &head->r, SPECTRUM_RESULT); /* size checked in phase 1 */
        if (singular_values) memcpy(singular_values, sv, (size_t)m * sizeof(double));
        if (column_variance) memcpy(column_variance, cv, (size_t)d * sizeof(double));
        ctx->err[0] = '\0';
    }
    free(head);
    return s;
}
