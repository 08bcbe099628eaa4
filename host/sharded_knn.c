/* Exact kNN over sharded rows (lsc.h section 12): the same queries on every rank against a
 * sharded base (the shards' lists merged by query blocks round the ring, then one all-gather of
 * the merged lists), and each rank's own rows against every
 * rank's (a ring pass of the base shards). Both merge on the exact float64 values the CPU
 * backend's kNN decides on, ties by the smaller global index, so the lists are lsc_knn's on the
 * concatenation bit for bit. The ring pass serves the sharded reference and PRDC too. */
#include "sharded.h"
#include "validate.h"
#include "cpu/tiles.h"

#include "../common/distance_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lsc_status lsc_rows_f32(lsc_ctx *ctx, const lsc_matrix *m, float **out)
{
    *out = NULL;
    if (m->rows == 0) return LSC_STATUS_OK;
    size_t bytes;
    LSC_TRY(lsc_bytes(ctx, lsc_mul_i64(m->rows, m->cols), sizeof(float), &bytes, "shard rows"));
    float *f = (float *)lsc_malloc(ctx, bytes, "a float32 copy of the shard's rows");
    if (!f) return LSC_STATUS_OUT_OF_MEMORY;
    const size_t es = lsc_dtype_size(m->dtype);
    for (int64_t i = 0; i < m->rows; i++) {
        const char *row = (const char *)m->data + (size_t)(i * m->ld) * es;
        for (int64_t c = 0; c < m->cols; c++)
            f[i * m->cols + c] = lsc_load_f32(row, (int)m->dtype, c);
    }
    *out = f;
    return LSC_STATUS_OK;
}

lsc_status lsc_shard_knn(lsc_ctx *ctx, const lsc_matrix *q, const lsc_matrix *b, int64_t k,
                         int metric, double *v, int64_t *idx, double p0, double p1)
{
    cpu_set sb, sq;
    memset(&sq, 0, sizeof sq);
    lsc_status st = cpu_set_init(ctx, &sb, b, NULL, b->rows, metric, NULL);
    const cpu_set *qs = &sb;
    if (st == LSC_STATUS_OK && q) {
        /* centred on the base's mean, as lsc_cpu_knn does: distances are translation invariant */
        st = cpu_set_init(ctx, &sq, q, NULL, q->rows, metric, sb.centre);
        qs = &sq;
    }
    if (st == LSC_STATUS_OK) st = cpu_knn_sets(ctx, qs, &sb, k, q == NULL, v, idx, p0, p1);
    cpu_set_free(&sq);
    cpu_set_free(&sb);
    return st;
}

lsc_status lsc_ring_walk(lsc_ctx *ctx, const size_t *sizes, const void *mine, const size_t *home,
                         lsc_ring_visit_fn visit, void *user, void *back, const char *what)
{
    const int64_t rank = lsc_tp_rank(ctx), ranks = lsc_tp_ranks(ctx);
    size_t most = 0;
    for (int64_t r = 0; r < ranks; r++) most = sizes[r] > most ? sizes[r] : most;
    unsigned char *a = (unsigned char *)lsc_malloc(ctx, most, what);
    unsigned char *b = a ? (unsigned char *)lsc_malloc(ctx, most, what) : NULL;
    lsc_status st = b ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY;
    if (st == LSC_STATUS_OK && sizes[rank]) memcpy(a, mine, sizes[rank]);
    st = lsc_tp_agree(ctx, st, NULL, 0, NULL);
    for (int64_t s = 0; st == LSC_STATUS_OK && s < ranks; s++) {
        const int64_t origin = (rank - s + ranks) % ranks, from = (origin - 1 + ranks) % ranks;
        st = lsc_tp_agree(ctx, visit(ctx, user, origin, a), NULL, 0, NULL);
        if (st != LSC_STATUS_OK || (s == ranks - 1 && !home)) break;
        if (s == ranks - 1) {
            /* the way home: only each block's tail, which lands where this rank's began */
            st = lsc_tp_ring(ctx, a + home[origin], sizes[origin] - home[origin], b,
                             sizes[rank] - home[rank], what);
            if (st == LSC_STATUS_OK && back && sizes[rank] > home[rank])
                memcpy(back, b, sizes[rank] - home[rank]);
            break;
        }
        st = lsc_tp_ring(ctx, a, sizes[origin], b, sizes[from], what);
        unsigned char *t = a;
        a = b;
        b = t;
    }
    free(a);
    free(b);
    return st;
}

int64_t lsc_merge_list(double *v, int64_t *ix, int64_t have, const double *tv, const int64_t *ti,
                       int64_t kr, int64_t off, int64_t k, double *mv, int64_t *mi)
{
    int64_t a = 0, b = 0, m = 0;
    for (; m < k && (a < have || b < kr); m++) {
        if (b >= kr || (a < have && lsc_knn_before(v[a], ix[a], tv[b], ti[b] + off))) {
            mv[m] = v[a];
            mi[m] = ix[a++];
        } else {
            mv[m] = tv[b];
            mi[m] = ti[b++] + off;
        }
    }
    memcpy(v, mv, (size_t)m * sizeof *v);
    memcpy(ix, mi, (size_t)m * sizeof *ix);
    return m;
}

lsc_status lsc_knn_merge_block(lsc_ctx *ctx, const float *q, int64_t nq, const float *b, int64_t nb,
                               int64_t d, int metric, int64_t off, double *v, int64_t *ix,
                               int64_t cap, int64_t *have, const lsc_knn_scratch *s, double p0,
                               double p1)
{
    const int64_t kr = nb - (q == NULL) < cap ? nb - (q == NULL) : cap;
    if (nq == 0 || kr < 1) return LSC_STATUS_OK;
    const lsc_matrix bm = lsc_matrix_f32(b, nb, d);
    const lsc_matrix qm = lsc_matrix_f32(q, nq, d);
    LSC_TRY(lsc_shard_knn(ctx, q ? &qm : NULL, &bm, kr, metric, s->tv, s->ti, p0, p1));
    int64_t m = 0;
    for (int64_t i = 0; i < nq; i++)
        m = lsc_merge_list(v + i * cap, ix + i * cap, *have, s->tv + i * kr, s->ti + i * kr, kr,
                           off, cap, s->mv, s->mi);
    *have = m;
    return LSC_STATUS_OK;
}

lsc_status lsc_knn_all_found(lsc_ctx *ctx, const char *what, int64_t have, int64_t k)
{
    if (have == k) return LSC_STATUS_OK;
    return lsc_set_error(ctx, LSC_STATUS_INTERNAL, "%s: %lld of %lld neighbours found", what,
                         (long long)have, (long long)k);
}

typedef struct self_job {
    const float *x;
    int64_t n, d, k, rank;
    int metric;
    const int64_t *rows, *first;
    double *v;
    int64_t *idx;
    lsc_knn_scratch s;
    int64_t have;  /* entries every row's running list holds */
    double p0, p1; /* the progress the walk reports across, a P-th a step */
} self_job;

/* One base shard against this rank's rows: its k nearest there, merged into the running lists.
 * The shard from this rank is the query set itself (self excluded by index, as lsc_knn's). */
static lsc_status self_visit(lsc_ctx *ctx, void *user, int64_t origin, unsigned char *block)
{
    self_job *J = (self_job *)user;
    const int64_t ranks = lsc_tp_ranks(ctx), step = (J->rank - origin + ranks) % ranks;
    const double w = (J->p1 - J->p0) / (double)ranks, p0 = J->p0 + w * (double)step;
    return lsc_knn_merge_block(ctx, origin == J->rank ? NULL : J->x, J->n, (const float *)block,
                               J->rows[origin], J->d, J->metric, J->first[origin], J->v, J->idx,
                               J->k, &J->have, &J->s, p0, p0 + w);
}

lsc_status lsc_ring_self_knn(lsc_ctx *ctx, const float *x, int64_t d, int metric, int64_t k,
                             const int64_t *rows, const int64_t *first, double *v, int64_t *idx,
                             double p0, double p1, const char *what)
{
    const int64_t rank = lsc_tp_rank(ctx), ranks = lsc_tp_ranks(ctx), n = rows[rank];
    size_t *sizes = (size_t *)malloc((size_t)ranks * sizeof(size_t));
    self_job J;
    memset(&J, 0, sizeof J);
    lsc_status st = sizes ? LSC_STATUS_OK
                          : lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                          "out of host memory for %lld sizes", (long long)ranks);
    size_t bytes = 0, kb = 0;
    for (int64_t r = 0; st == LSC_STATUS_OK && r < ranks; r++) {
        st = lsc_bytes(ctx, lsc_mul_i64(rows[r], d), sizeof(float), &bytes, "a shard's rows");
        if (st == LSC_STATUS_OK) sizes[r] = bytes;
    }
    if (st == LSC_STATUS_OK) st = lsc_bytes(ctx, lsc_mul_i64(n, k), sizeof(double), &kb, what);
    if (st == LSC_STATUS_OK) {
        J.s.tv = (double *)lsc_malloc(ctx, kb, "a shard's kNN values");
        J.s.ti = J.s.tv ? (int64_t *)lsc_malloc(ctx, kb, "a shard's kNN indices") : NULL;
        J.s.mv = J.s.ti ? (double *)lsc_malloc(ctx, (size_t)k * sizeof(double), "kNN merge") : NULL;
        J.s.mi =
            J.s.mv ? (int64_t *)lsc_malloc(ctx, (size_t)k * sizeof(int64_t), "kNN merge") : NULL;
        if (!J.s.mi) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    J.x = x;
    J.n = n;
    J.d = d;
    J.k = k;
    J.rank = rank;
    J.metric = metric;
    J.rows = rows;
    J.first = first;
    J.v = v;
    J.idx = idx;
    J.p0 = p0;
    J.p1 = p1;
    /* a failure here takes part in the agreement the walk would open, so no rank waits alone */
    if (st == LSC_STATUS_OK) st = lsc_ring_walk(ctx, sizes, x, NULL, self_visit, &J, NULL, what);
    else st = lsc_tp_agree(ctx, st, NULL, 0, NULL);
    if (st == LSC_STATUS_OK && J.n > 0) st = lsc_knn_all_found(ctx, what, J.have, k);
    free(J.s.tv);
    free(J.s.ti);
    free(J.s.mv);
    free(J.s.mi);
    free(sizes);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* lsc_knn_sharded                                                                                */

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

enum { KN_QROWS, KN_COLS, KN_BROWS, KN_K, KN_HASH, KN_METRIC, KN_SELF, KN_RING, KN_NVALS };

/* The first query of block b when nq queries split evenly over the ranks (b = ranks: nq). */
static int64_t block_first(int64_t nq, int64_t ranks, int64_t b)
{
    const int64_t extra = nq % ranks;
    return b * (nq / ranks) + (b < extra ? b : extra);
}

/* The first min(k, na + nb) candidates of two lists sorted in the kNN order into out. */
static int64_t merge_cands(const knn_cand *a, int64_t na, const knn_cand *b, int64_t nb, int64_t k,
                           knn_cand *out)
{
    int64_t x = 0, y = 0, m = 0;
    for (; m < k && (x < na || y < nb); m++)
        out[m] =
            y >= nb || (x < na && lsc_knn_before(a[x].v, a[x].i, b[y].v, b[y].i)) ? a[x++] : b[y++];
    return m;
}

/* One merged entry on the wire: the float32 distance and the global index, packed. */
enum { KN_ENTRY = sizeof(float) + sizeof(int64_t) };

/* The merge by query blocks: rank b ends up with block b's lists. The blocks travel round the
 * ring, each rank merging its shard's candidates into the block passing through (P - 1 ring
 * steps, a block's lists at most k long), then one all-gather of the merged lists. The merge is
 * the first k of a union under one total order, so its grouping does not change the lists.
 * cand: this shard's nq x kr[rank] candidates; the buffers are the caller's (sizes below). */
static lsc_status merge_blockwise(lsc_ctx *ctx, int64_t nq, int64_t k, int metric,
                                  const int64_t *kr, const knn_cand *cand, knn_cand *a, knn_cand *b,
                                  unsigned char *out, size_t *sizes, float *dist, int64_t *idx)
{
    const int64_t rank = lsc_tp_rank(ctx), ranks = lsc_tp_ranks(ctx), kc = kr[rank];
    /* this shard's candidates for the block it sends first, the previous rank's */
    int64_t blk = (rank - 1 + ranks) % ranks, m = kc;
    int64_t q0 = block_first(nq, ranks, blk), nqb = block_first(nq, ranks, blk + 1) - q0;
    memcpy(a, cand + q0 * kc, (size_t)(nqb * kc) * sizeof *a);
    lsc_status st = LSC_STATUS_OK;
    for (int64_t s = 0; st == LSC_STATUS_OK && s < ranks - 1; s++) {
        /* the block coming in holds the candidates of ranks from, from - 1, .., from - s */
        const int64_t from = (rank - 1 + ranks) % ranks, rb = (rank - 2 - s + 2 * ranks) % ranks;
        int64_t mr = 0;
        for (int64_t j = 0; j <= s; j++) mr += kr[(from - j + ranks) % ranks];
        mr = mr < k ? mr : k;
        const int64_t r0 = block_first(nq, ranks, rb), nrb = block_first(nq, ranks, rb + 1) - r0;
        st = lsc_tp_ring(ctx, a, (size_t)(nqb * m) * sizeof *a, b, (size_t)(nrb * mr) * sizeof *b,
                         "lsc_knn_sharded");
        const int64_t nm = mr + kc < k ? mr + kc : k;
        for (int64_t q = 0; st == LSC_STATUS_OK && q < nrb; q++)
            merge_cands(b + q * mr, mr, cand + (r0 + q) * kc, kc, k, a + q * nm);
        blk = rb;
        m = nm;
        nqb = nrb;
    }
    if (st != LSC_STATUS_OK) return st;
    if (blk != rank || (nqb > 0 && m != k))
        return lsc_set_error(ctx, LSC_STATUS_INTERNAL,
                             "lsc_knn_sharded: block %lld of %lld neighbours merged on rank %lld",
                             (long long)blk, (long long)m, (long long)rank);
    /* every block's merged lists to every rank, as the distances the caller receives; packed
     * into b, free now, as the all-gather takes a send buffer apart from the receive buffer */
    unsigned char *mine = (unsigned char *)b;
    for (int64_t e = 0; e < nqb * k; e++) {
        const float f = (float)lsc_dist_from_v(metric, a[e].v);
        memcpy(mine + (size_t)e * KN_ENTRY, &f, sizeof f);
        memcpy(mine + (size_t)e * KN_ENTRY + sizeof f, &a[e].i, sizeof a[e].i);
    }
    for (int64_t r = 0; r < ranks; r++)
        sizes[r] =
            (size_t)((block_first(nq, ranks, r + 1) - block_first(nq, ranks, r)) * k) * KN_ENTRY;
    st = lsc_tp_all_gather(ctx, mine, sizes[rank], out, sizes);
    for (int64_t e = 0; st == LSC_STATUS_OK && e < nq * k; e++) {
        memcpy(&dist[e], out + (size_t)e * KN_ENTRY, sizeof *dist);
        memcpy(&idx[e], out + (size_t)e * KN_ENTRY + sizeof *dist, sizeof *idx);
    }
    return st;
}

/* Without a ring step: every shard's lists travel in one all-gather (recv: all of them, sizes[r]
 * rank r's) and every rank merges them alike. */
static void merge_gathered(int64_t nq, int64_t k, int metric, int64_t ranks, const int64_t *kr,
                           const knn_cand *recv, const size_t *sizes, int64_t *cur, float *dist,
                           int64_t *idx)
{
    int64_t *start = cur, *pos = cur + ranks; /* each block's first candidate, cursors */
    size_t at = 0;
    for (int64_t r = 0; r < ranks; r++) {
        start[r] = (int64_t)(at / sizeof(knn_cand));
        at += sizes[r];
    }
    for (int64_t q = 0; q < nq; q++) {
        /* a P-way merge of the q-th list of every block; each list is sorted, and the global
         * first k lie within the shards' first k (a shard's order is the global order
         * restricted to it) */
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
            dist[q * k + t] = (float)lsc_dist_from_v(metric, best->v);
            idx[q * k + t] = best->i;
        }
    }
}

/* The same queries on every rank: each rank finds its shard's candidates, then the lists merge
 * by query blocks round the ring (`ring`: every rank's transport has the step) or, without one,
 * travel whole in one all-gather. */
static lsc_status knn_gathered(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base,
                               int64_t k, int metric, const int64_t *all, int ring, float *dist,
                               int64_t *idx)
{
    const int64_t rank = lsc_tp_rank(ctx), ranks = lsc_tp_ranks(ctx);
    int64_t offset = 0;
    for (int64_t r = 0; r < rank; r++) offset += all[r * KN_NVALS + KN_BROWS];
    /* the candidates' sizes, the same on every rank */
    const int64_t nq = all[KN_QROWS];
    lsc_status cross = LSC_STATUS_OK;
    size_t total = 0, *sizes = (size_t *)malloc((size_t)ranks * sizeof(size_t));
    int64_t *kr = (int64_t *)malloc((size_t)ranks * sizeof(int64_t));
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
    if (cross != LSC_STATUS_OK) {
        free(sizes);
        free(kr);
        return cross; /* from agreed values alone: the same on every rank */
    }

    /* this shard's lists with their exact values, and every buffer the merge needs */
    knn_cand *send = NULL, *recv = NULL, *ba = NULL, *bb = NULL;
    unsigned char *packed = NULL;
    double *lv = NULL;
    int64_t *li = NULL, *cur = NULL;
    lsc_status s = sizes && kr
                       ? LSC_STATUS_OK
                       : lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                       "out of host memory for %lld sizes", (long long)ranks);
    const int64_t my_k = s == LSC_STATUS_OK ? kr[rank] : 0;
    int ready = 0; /* every buffer of the merge allocated */
    if (s == LSC_STATUS_OK) {
        send = (knn_cand *)lsc_malloc(ctx, sizes[rank] ? sizes[rank] : 1, "this shard's kNN lists");
        if (send && ring) {
            /* two blocks of at most ceil(nq / P) queries' k candidates, and the merged lists */
            size_t bytes = 0, lists = 0;
            const int64_t most = (nq + ranks - 1) / ranks;
            s = lsc_bytes(ctx, lsc_mul_i64(most, k), sizeof(knn_cand), &bytes, "kNN blocks");
            if (s == LSC_STATUS_OK)
                s = lsc_bytes(ctx, lsc_mul_i64(nq, k), KN_ENTRY, &lists, "merged kNN lists");
            if (s == LSC_STATUS_OK) {
                ba = (knn_cand *)lsc_malloc(ctx, bytes, "a block's kNN lists");
                bb = ba ? (knn_cand *)lsc_malloc(ctx, bytes, "a block's kNN lists") : NULL;
                packed = bb ? (unsigned char *)lsc_malloc(ctx, lists, "merged kNN lists") : NULL;
                ready = packed != NULL;
            }
        } else if (send) {
            recv = (knn_cand *)lsc_malloc(ctx, total ? total : 1, "every shard's kNN lists");
            cur = recv
                      ? (int64_t *)lsc_malloc(ctx, 2 * (size_t)ranks * sizeof(int64_t), "kNN merge")
                      : NULL;
            ready = cur != NULL;
        }
        if (ready && my_k > 0) {
            lv = (double *)lsc_malloc(ctx, (size_t)(nq * my_k) * sizeof(double), "kNN values");
            li = lv ? (int64_t *)lsc_malloc(ctx, (size_t)(nq * my_k) * sizeof(int64_t),
                                            "kNN indices")
                    : NULL;
        }
        if (s == LSC_STATUS_OK && (!ready || (my_k > 0 && !li))) s = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (s == LSC_STATUS_OK && my_k > 0) {
        s = lsc_shard_knn(ctx, queries, base, my_k, metric, lv, li, 0.0, 1.0);
        for (int64_t e = 0; s == LSC_STATUS_OK && e < nq * my_k; e++) {
            send[e].v = lv[e];
            send[e].i = offset + li[e];
        }
    }
    free(lv);
    free(li);
    s = lsc_tp_agree(ctx, s, NULL, 0, NULL);

    if (s == LSC_STATUS_OK && ring)
        s = merge_blockwise(ctx, nq, k, metric, kr, send, ba, bb, packed, sizes, dist, idx);
    else if (s == LSC_STATUS_OK) {
        s = lsc_tp_all_gather(ctx, send, sizes[rank], recv, sizes);
        if (s == LSC_STATUS_OK)
            merge_gathered(nq, k, metric, ranks, kr, recv, sizes, cur, dist, idx);
    }
    if (s == LSC_STATUS_OK) ctx->err[0] = '\0';
    free(send);
    free(recv);
    free(ba);
    free(bb);
    free(packed);
    free(cur);
    free(sizes);
    free(kr);
    return s;
}

/* Each rank's own rows against every rank's: the ring pass. */
static lsc_status knn_self(lsc_ctx *ctx, const lsc_matrix *x, int64_t k, int metric,
                           const int64_t *all, float *dist, int64_t *idx)
{
    const int64_t ranks = lsc_tp_ranks(ctx), d = all[KN_COLS];
    const int64_t n = x->rows;
    int64_t *rows = (int64_t *)malloc(2 * (size_t)ranks * sizeof(int64_t));
    float *xf = NULL;
    double *v = NULL;
    int64_t *ix = NULL;
    lsc_status st = rows ? LSC_STATUS_OK
                         : lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                         "out of host memory for %lld sizes", (long long)ranks);
    if (st == LSC_STATUS_OK) {
        for (int64_t r = 0, at = 0; r < ranks; at += rows[r], r++) {
            rows[r] = all[r * KN_NVALS + KN_QROWS];
            rows[ranks + r] = at;
        }
        st = lsc_rows_f32(ctx, x, &xf);
    }
    if (st == LSC_STATUS_OK && n > 0) {
        /* n x k fits: lsc_knn_sharded checked the outputs' bytes */
        v = (double *)lsc_malloc(ctx, (size_t)(n * k) * sizeof(double), "kNN values");
        ix =
            v ? (int64_t *)lsc_malloc(ctx, (size_t)(n * k) * sizeof(int64_t), "kNN indices") : NULL;
        if (!ix) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    st = lsc_tp_agree(ctx, st, NULL, 0, NULL);
    if (st == LSC_STATUS_OK)
        st = lsc_sharded_self_knn(ctx, xf, d, metric, k, rows, rows + ranks, v, ix, 0.0, 1.0,
                                  "lsc_knn_sharded with exclude_self");
    if (st == LSC_STATUS_OK) {
        /* written only now, so a failed call leaves them untouched, as lsc_knn does */
        for (int64_t e = 0; e < n * k; e++) {
            dist[e] = (float)lsc_dist_from_v(metric, v[e]);
            idx[e] = ix[e];
        }
        ctx->err[0] = '\0';
    }
    free(rows);
    free(xf);
    free(v);
    free(ix);
    return st;
}

lsc_status lsc_knn_sharded(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base,
                           int64_t k, const lsc_knn_opts *opts, float *dist, int64_t *idx)
{
    LSC_TRY(lsc_begin(ctx));
    const int64_t ranks = lsc_tp_ranks(ctx);

    /* phase 1: this rank's arguments and values, then the ranks' shapes, k and queries compared */
    lsc_knn_opts o = LSC_KNN_OPTS_INIT;
    lsc_status s = LSC_STATUS_OK;
    if (opts) s = LSC_READ_OPTS(ctx, &o, opts, KNN_OPTS, "knn opts", "LSC_KNN_OPTS_INIT");
    if (s == LSC_STATUS_OK) s = lsc_check_nn_metric(ctx, o.metric, "knn opts");
    if (s == LSC_STATUS_OK && o.exclude_self != 0 && o.exclude_self != 1)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                          "knn opts: exclude_self is %d, expected 0 or 1", o.exclude_self);
    const int self = o.exclude_self == 1, cosine = o.metric == LSC_METRIC_COSINE;
    if (s == LSC_STATUS_OK) {
        if (self) s = lsc_check_shard(ctx, queries, "queries", 0);
        else s = lsc_check_matrix(ctx, queries, "queries", 1);
    }
    if (s == LSC_STATUS_OK && queries->memory != LSC_MEMORY_HOST)
        s = lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                          "queries: sharded calls take host memory so far");
    if (s == LSC_STATUS_OK && self && base)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                          "exclude_self takes base NULL: each rank's queries are its shard of "
                          "the base");
    if (s == LSC_STATUS_OK && !self) s = lsc_check_shard(ctx, base, "base", 0);
    if (s == LSC_STATUS_OK && !self && base->cols != queries->cols)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "base has %lld cols, queries %lld",
                          (long long)base->cols, (long long)queries->cols);
    if (s == LSC_STATUS_OK && (!dist || !idx) && queries->rows > 0)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "%s is NULL", !dist ? "dist" : "idx");
    if (s == LSC_STATUS_OK && k < 1)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "k is %lld, expected >= 1",
                          (long long)k);
    size_t bytes;
    if (s == LSC_STATUS_OK)
        s = lsc_bytes(ctx, lsc_mul_i64(queries->rows, k), sizeof(double), &bytes, "knn output");
    if (s == LSC_STATUS_OK && o.out_memory != LSC_MEMORY_HOST)
        s = lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                          "the sharded kNN writes host memory so far");
    if (s == LSC_STATUS_OK) s = lsc_sharded_on_cpu(ctx, "the sharded kNN");
    if (s == LSC_STATUS_OK) s = lsc_check_values(ctx, queries, "queries", cosine);
    if (s == LSC_STATUS_OK && !self) s = lsc_check_values(ctx, base, "base", cosine);
    int64_t mine[KN_NVALS];
    memset(mine, 0, sizeof mine);
    if (s == LSC_STATUS_OK) {
        const uint64_t h = self ? 0 : rows_hash(queries);
        mine[KN_QROWS] = queries->rows;
        mine[KN_COLS] = queries->cols;
        mine[KN_BROWS] = self ? queries->rows : base->rows;
        mine[KN_K] = k;
        memcpy(&mine[KN_HASH], &h, sizeof h);
        mine[KN_METRIC] = o.metric;
        mine[KN_SELF] = self;
        mine[KN_RING] = ctx->transport.ring != NULL || ranks == 1;
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
    int64_t nb = 0;
    lsc_status cross = LSC_STATUS_OK;
    for (int64_t r = 0; r < ranks && cross == LSC_STATUS_OK; r++) {
        const int64_t *v = all + r * KN_NVALS;
        if (v[KN_SELF] != all[KN_SELF] || v[KN_METRIC] != all[KN_METRIC])
            cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                  "knn opts: rank %lld's metric or exclude_self differs from rank "
                                  "0's",
                                  (long long)r);
        else if (v[KN_COLS] != all[KN_COLS])
            cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                  "queries: rank %lld has %lld cols, rank 0 has %lld", (long long)r,
                                  (long long)v[KN_COLS], (long long)all[KN_COLS]);
        else if (!self && (v[KN_QROWS] != all[KN_QROWS] || v[KN_HASH] != all[KN_HASH]))
            cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                  "queries: rank %lld's differ from rank 0's (the sharded kNN "
                                  "without exclude_self takes the same queries on every rank)",
                                  (long long)r);
        else if (v[KN_K] != all[KN_K])
            cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                  "k: rank %lld asks for %lld, rank 0 for %lld", (long long)r,
                                  (long long)v[KN_K], (long long)all[KN_K]);
        else if (self && !v[KN_RING])
            cross = lsc_tp_no_ring(ctx, "lsc_knn_sharded with exclude_self", r);
        else if (v[KN_BROWS] > INT64_MAX - nb)
            cross = lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "the ranks' base rows overflow");
        else nb += v[KN_BROWS];
    }
    if (cross == LSC_STATUS_OK && k > nb - self)
        cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "k is %lld, the base has %lld rows on all %lld ranks together%s",
                              (long long)k, (long long)nb, (long long)ranks,
                              self ? " (self excluded: k must be below that)" : "");
    if (cross == LSC_STATUS_OK) {
        const int metric = (int)o.metric;
        int ring = 1;
        for (int64_t r = 0; r < ranks; r++) ring &= all[r * KN_NVALS + KN_RING] != 0;
        cross = self ? knn_self(ctx, queries, k, metric, all, dist, idx)
                     : knn_gathered(ctx, queries, base, k, metric, all, ring, dist, idx);
    }
    free(all);
    return cross;
}
