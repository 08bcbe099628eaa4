/* Sharded operations (lsc.h section 12): each rank does its shard's work with the context's
 * backend; the transport moves the mergeable parts; every rank returns the same status and
 * figures. Every phase that can fail on one rank alone ends in an agreement (lsc_tp_agree) before
 * the next collective, so no rank is left waiting in a collective the others skipped. */
#include "sharded.h"
#include "validate.h"

#include "../common/distance_rules.h"

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
                cross = lsc_set_error(ctx, LSC_STATUS_OVERFLOW,
                                      "the ranks' states overflow size_t");
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
    if (s == LSC_STATUS_OK)
        s = lsc_acc_core_init(ctx, &acc, d, ctx->ops->acc_create, "acc_create");
    if (s == LSC_STATUS_OK && my_rows > 0) s = lsc_acc_core_add(ctx, &acc, x, "x");
    if (s == LSC_STATUS_OK) {
        send = (unsigned char *)lsc_malloc(ctx, sizes[rank], "this shard's spectrum state");
        recv = send ? (unsigned char *)lsc_malloc(ctx, total, "every shard's spectrum state")
                    : NULL;
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

/* ---------------------------------------------------------------------------------------------- */
/* exact kNN against a sharded base                                                               */

/* FNV-1a over the queries' elements row by row: ranks holding different queries (a caller's
 * bug the lists would not show) are refused instead of merged. */
static uint64_t rows_hash(const lsc_matrix *m)
{
    uint64_t h = 1469598103934665603ull;
    const size_t es = lsc_dtype_size(m->dtype), row = (size_t)m->cols * es;
    for (int64_t i = 0; i < m->rows; i++) {
        const unsigned char *p = (const unsigned char *)m->data + (size_t)(i * m->ld) * es;
        for (size_t b = 0; b < row; b++) h = (h ^ p[b]) * 1099511628211ull;
    }
    return h;
}

/* One candidate on the wire: its internal value (distance_rules.h) and global base index. */
typedef struct knn_cand {
    double v;
    int64_t i;
} knn_cand;

static int cand_cmp(const void *a, const void *b)
{
    const knn_cand *x = (const knn_cand *)a, *y = (const knn_cand *)b;
    if (lsc_knn_before(x->v, x->i, y->v, y->i)) return -1;
    return lsc_knn_before(y->v, y->i, x->v, x->i) ? 1 : 0;
}

static void load_row(const lsc_matrix *m, int64_t r, float *out)
{
    const char *row = (const char *)m->data + (size_t)(r * m->ld) * lsc_dtype_size(m->dtype);
    for (int64_t c = 0; c < m->cols; c++) out[c] = lsc_load_f32(row, (int)m->dtype, c);
}

/* This shard's lists (q x kr, local indices) as candidates with global indices and the exact
 * internal values lsc_knn orders by, recomputed from the rows: the float32 distances it reports
 * can tie where the values it decided on do not. */
static lsc_status shard_candidates(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base,
                                   int64_t kr, int64_t offset, const int64_t *idx, knn_cand *out)
{
    const int64_t d = queries->cols;
    float *qa = (float *)lsc_malloc(ctx, 2 * (size_t)d * sizeof(float), "kNN rows");
    if (!qa) return LSC_STATUS_OUT_OF_MEMORY;
    float *ba = qa + d;
    for (int64_t q = 0; q < queries->rows; q++) {
        load_row(queries, q, qa);
        knn_cand *c = out + q * kr;
        for (int64_t t = 0; t < kr; t++) {
            load_row(base, idx[q * kr + t], ba);
            c[t].v = lsc_exact_v(qa, ba, d, 1.0, 1.0);
            c[t].i = offset + idx[q * kr + t];
        }
        qsort(c, (size_t)kr, sizeof *c, cand_cmp);
    }
    free(qa);
    return LSC_STATUS_OK;
}

enum { KN_QROWS, KN_COLS, KN_BROWS, KN_K, KN_HASH, KN_NVALS };

lsc_status lsc_knn_sharded(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base,
                           int64_t k, const lsc_knn_opts *opts, float *dist, int64_t *idx)
{
    LSC_TRY(lsc_begin(ctx));
    const int64_t rank = lsc_tp_rank(ctx), ranks = lsc_tp_ranks(ctx);

    /* phase 1: this rank's arguments, then the ranks' shapes, k and queries compared */
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    lsc_status s = lsc_check_matrix(ctx, queries, "queries", 1);
    if (s == LSC_STATUS_OK) s = lsc_check_shard(ctx, base, "base", 0);
    if (s == LSC_STATUS_OK && queries->memory != LSC_MEMORY_HOST)
        s = lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                          "queries: sharded calls take host memory so far");
    if (s == LSC_STATUS_OK && base->cols != queries->cols)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "base has %lld cols, queries %lld",
                          (long long)base->cols, (long long)queries->cols);
    if (s == LSC_STATUS_OK && (!dist || !idx))
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "%s is NULL", !dist ? "dist" : "idx");
    if (s == LSC_STATUS_OK && k < 1)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "k is %lld, expected >= 1",
                          (long long)k);
    if (s == LSC_STATUS_OK && opts)
        s = LSC_READ_OPTS(ctx, &o, opts, KNN_OPTS, "knn opts", "LSC_KNN_OPTS_INIT");
    if (s == LSC_STATUS_OK && o.metric != LSC_METRIC_EUCLIDEAN)
        s = lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                          "the sharded kNN takes the euclidean metric so far (metric %d)",
                          (int)o.metric);
    if (s == LSC_STATUS_OK && o.exclude_self)
        s = lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                          "the sharded kNN has no exclude_self so far: its queries are the same "
                          "on every rank, its base is sharded");
    if (s == LSC_STATUS_OK && o.out_memory != LSC_MEMORY_HOST)
        s = lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                          "the sharded kNN writes host memory so far");
    int64_t mine[KN_NVALS] = {0, 0, 0, 0, 0};
    if (s == LSC_STATUS_OK) {
        const uint64_t h = rows_hash(queries);
        mine[KN_QROWS] = queries->rows;
        mine[KN_COLS] = queries->cols;
        mine[KN_BROWS] = base->rows;
        mine[KN_K] = k;
        memcpy(&mine[KN_HASH], &h, sizeof h);
    }
    int64_t *all = (int64_t *)malloc((size_t)ranks * KN_NVALS * sizeof(int64_t));
    if (!all && s == LSC_STATUS_OK)
        s = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                          "out of host memory for %lld ranks' shapes", (long long)ranks);
    s = lsc_tp_agree(ctx, s, mine, KN_NVALS, all);
    if (s != LSC_STATUS_OK) {
        free(all);
        return s;
    }
    int64_t nb = 0, offset = 0;
    lsc_status cross = LSC_STATUS_OK;
    for (int64_t r = 0; r < ranks && cross == LSC_STATUS_OK; r++) {
        const int64_t *v = all + r * KN_NVALS;
        if (v[KN_COLS] != all[KN_COLS] || v[KN_QROWS] != all[KN_QROWS] ||
            v[KN_HASH] != all[KN_HASH])
            cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                  "queries: rank %lld's differ from rank 0's (the sharded kNN "
                                  "takes the same queries on every rank)",
                                  (long long)r);
        else if (v[KN_K] != all[KN_K])
            cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                  "k: rank %lld asks for %lld, rank 0 for %lld", (long long)r,
                                  (long long)v[KN_K], (long long)all[KN_K]);
        else if (v[KN_BROWS] > INT64_MAX - nb)
            cross = lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "the ranks' base rows overflow");
        else {
            if (r == rank) offset = nb;
            nb += v[KN_BROWS];
        }
    }
    if (cross == LSC_STATUS_OK && k > nb)
        cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "k is %lld, the base has %lld rows on all %lld ranks together",
                              (long long)k, (long long)nb, (long long)ranks);
    /* the candidates' sizes, the same on every rank */
    const int64_t nq = all[KN_QROWS];
    size_t total = 0, *sizes = cross == LSC_STATUS_OK
                                   ? (size_t *)malloc((size_t)ranks * sizeof(size_t))
                                   : NULL;
    int64_t *kr = cross == LSC_STATUS_OK ? (int64_t *)malloc((size_t)ranks * sizeof(int64_t))
                                         : NULL;
    for (int64_t r = 0; sizes && kr && r < ranks && cross == LSC_STATUS_OK; r++) {
        const int64_t br = all[r * KN_NVALS + KN_BROWS];
        kr[r] = br < k ? br : k;
        const int64_t c = lsc_mul_i64(nq, kr[r]);
        if (c < 0 || (uint64_t)c > (SIZE_MAX - total) / sizeof(knn_cand))
            cross = lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "the ranks' kNN lists overflow size_t");
        else {
            sizes[r] = (size_t)c * sizeof(knn_cand);
            total += sizes[r];
        }
    }
    free(all);
    if (cross != LSC_STATUS_OK) {
        free(sizes);
        free(kr);
        return cross;
    }

    /* phase 2: this shard's lists, their exact values, and every buffer the merge needs */
    knn_cand *send = NULL, *recv = NULL;
    float *ld = NULL;
    int64_t *li = NULL, *cur = NULL;
    s = sizes && kr ? LSC_STATUS_OK
                    : lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                    "out of host memory for %lld sizes", (long long)ranks);
    const int64_t my_k = s == LSC_STATUS_OK ? kr[rank] : 0;
    if (s == LSC_STATUS_OK) {
        send = (knn_cand *)lsc_malloc(ctx, sizes[rank], "this shard's kNN lists");
        recv = send ? (knn_cand *)lsc_malloc(ctx, total, "every shard's kNN lists") : NULL;
        cur = recv ? (int64_t *)lsc_malloc(ctx, 2 * (size_t)ranks * sizeof(int64_t), "kNN merge")
                   : NULL;
        if (cur && my_k > 0) {
            ld = (float *)lsc_malloc(ctx, (size_t)(nq * my_k) * sizeof(float), "kNN distances");
            li = ld ? (int64_t *)lsc_malloc(ctx, (size_t)(nq * my_k) * sizeof(int64_t),
                                            "kNN indices")
                    : NULL;
        }
        if (!cur || (my_k > 0 && !li)) s = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (s == LSC_STATUS_OK && my_k > 0) {
        lsc_knn_opts lo = LSC_KNN_OPTS_INIT;
        s = lsc_knn(ctx, queries, base, my_k, &lo, ld, li);
        if (s == LSC_STATUS_OK) s = shard_candidates(ctx, queries, base, my_k, offset, li, send);
    }
    free(ld);
    free(li);
    s = lsc_tp_agree(ctx, s, NULL, 0, NULL);

    /* phase 3: every shard's lists to every rank, merged alike in the kNN order */
    if (s == LSC_STATUS_OK) s = lsc_tp_all_gather(ctx, send, sizes[rank], recv, sizes);
    free(send);
    if (s == LSC_STATUS_OK) {
        int64_t *start = cur, *pos = cur + ranks; /* each block's first candidate, cursors */
        size_t at = 0;
        for (int64_t r = 0; r < ranks; r++) {
            start[r] = (int64_t)(at / sizeof(knn_cand));
            at += sizes[r];
        }
        for (int64_t q = 0; q < nq; q++) {
            /* a P-way merge of the q-th list of every block; each list is sorted, and the
             * global first k lie within the shards' first k (a shard's order is the global
             * order restricted to it) */
            for (int64_t r = 0; r < ranks; r++) pos[r] = 0;
            for (int64_t t = 0; t < k; t++) {
                const knn_cand *best = NULL;
                int64_t from = -1;
                for (int64_t r = 0; r < ranks; r++) {
                    if (pos[r] >= kr[r]) continue;
                    const knn_cand *c = recv + start[r] + q * kr[r] + pos[r];
                    if (!best || lsc_knn_before(c->v, c->i, best->v, best->i)) {
                        best = c;
                        from = r;
                    }
                }
                pos[from]++; /* k <= the base's rows: some list always has one left */
                dist[q * k + t] = (float)lsc_dist_from_v(LSC_M_EUCLIDEAN, best->v);
                idx[q * k + t] = best->i;
            }
        }
        ctx->err[0] = '\0';
    }
    free(recv);
    free(cur);
    free(sizes);
    free(kr);
    return s;
}
