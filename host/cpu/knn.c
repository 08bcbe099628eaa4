/* Exact k nearest neighbours on the CPU: a float32 GEMM per tile of centred rows, then each
 * query keeps a max-heap of its k best exact values; a candidate is recomputed exactly only
 * when the fast value's error band reaches the heap's worst (METRICS.md section 2, rule 2). */
#include "tiles.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Max-heap on (value, index): the root is the current k-th neighbour. */
static void heap_sift_down(double *v, int64_t *ix, int64_t n, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && lsc_knn_before(v[top], ix[top], v[l], ix[l])) top = l;
        if (r < n && lsc_knn_before(v[top], ix[top], v[r], ix[r])) top = r;
        if (top == i) return;
        double tv = v[i];
        int64_t ti = ix[i];
        v[i] = v[top];
        ix[i] = ix[top];
        v[top] = tv;
        ix[top] = ti;
        i = top;
    }
}

static void heap_push(double *v, int64_t *ix, int64_t n, double val, int64_t id)
{
    int64_t i = n;
    v[i] = val;
    ix[i] = id;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!lsc_knn_before(v[p], ix[p], v[i], ix[i])) break;
        double tv = v[i];
        int64_t ti = ix[i];
        v[i] = v[p];
        ix[i] = ix[p];
        v[p] = tv;
        ix[p] = ti;
        i = p;
    }
}

/* Heap to ascending order in place (heapsort). */
static void heap_sort(double *v, int64_t *ix, int64_t n)
{
    for (int64_t end = n - 1; end > 0; end--) {
        double tv = v[0];
        int64_t ti = ix[0];
        v[0] = v[end];
        ix[0] = ix[end];
        v[end] = tv;
        ix[end] = ti;
        heap_sift_down(v, ix, end, 0);
    }
}

typedef struct knn_job {
    const cpu_set *q, *b;
    int64_t k;
    int exclude_self;
    double *v;
    int64_t *idx;
    int64_t *count; /* per query row: entries in its heap */
    double *cap_heap; /* per thread k keys, then k columns: tile_cap's selection */
    /* the symmetric self pass (knn_sym_tile): per thread, a heap of k for every row, fed from
     * the column side of the pairs that thread computes; and each row's k-th value after the
     * in-block pass, a bound on its final one */
    double *col_v;
    int64_t *col_x, *col_n;
    double *row_cap;
} knn_job;

/* Offers (val, id) to the max-heap (hv, hx) holding *n of k entries; 1 if it went in. */
static inline int heap_offer(double *hv, int64_t *hx, int64_t *n, int64_t k, double val,
                             int64_t id)
{
    if (*n < k) {
        heap_push(hv, hx, *n, val, id);
        (*n)++;
        return 1;
    }
    if (!lsc_knn_before(val, id, hv[0], hx[0])) return 0;
    hv[0] = val;
    hx[0] = id;
    heap_sift_down(hv, hx, k, 0);
    return 1;
}

/* For a query row whose heap is not yet full at the start of a tile (its first tile): an upper
 * end of the k-th smallest exact value among this tile's candidates, +inf if the tile has fewer
 * than k. The k candidates of smallest g_j = (1 + E) |b_j|^2 - 2 c_ij (float32: the order of the
 * upper ends vf + err, up to rounding) are chosen in one vectorised pass, and the cap is the
 * largest float64 upper end among those k: k real candidates lie at or below it, so the row's
 * final k-th value does too, and a candidate whose lower end vf - err lies above it can never be
 * a neighbour (its exact value is strictly larger). The rounding of g only picks the k; the cap
 * itself is rigorous. Bounding the first tile with it spares the exact recomputation of most
 * candidates that would enter the heap only to be pushed out again (about k ln(tile / k) of them
 * in index order: 30 of 35 at k = 5). bq: (1 + E) |b_j|^2 as floats; h, hj: k of scratch, a
 * max-heap on (g, column) as the neighbour heaps are. */
static double tile_cap(const knn_job *J, const cpu_tiles *t, int64_t i, int64_t gi, int64_t b0,
                       int64_t nb, const float *bq, double *h, int64_t *hj)
{
    const int64_t d = J->q->d, k = J->k;
    const float *crow = t->c + i * nb;
    const int64_t self = J->exclude_self && gi >= b0 && gi < b0 + nb ? gi - b0 : -1;
    int64_t m = 0;
    for (int64_t c0 = 0; c0 < nb; c0 += 16) {
        const int64_t c1 = c0 + 16 < nb ? c0 + 16 : nb;
        if (m == k) { /* the usual case: a chunk with nothing below the k-th is skipped whole */
            const float top = (float)h[0]; /* a float32 value held as a double: exact */
            int any = 0;
            for (int64_t j = c0; j < c1; j++) any |= bq[j] - 2.0f * crow[j] < top;
            if (!any) continue;
        }
        for (int64_t j = c0; j < c1; j++) {
            if (j == self) continue;
            const float g = bq[j] - 2.0f * crow[j];
            if (m < k || g < h[0]) heap_offer(h, hj, &m, k, g, j);
        }
    }
    if (m < k) return INFINITY;
    const double qsq = t->qsq[i];
    double cap = 0.0;
    for (int64_t a = 0; a < k; a++) {
        const int64_t j = hj[a];
        const double hi =
            qsq + t->bsq[j] - 2.0 * (double)crow[j] + lsc_fast_err(d, qsq, t->bsq[j]);
        cap = hi > cap ? hi : cap;
    }
    return cap;
}

LSC_CPU_CLONES static void knn_tile(void *user, int tid, const cpu_tiles *t, int64_t q0, int64_t nq, int64_t b0,
                     int64_t nb)
{
    const knn_job *J = (const knn_job *)user;
    const int64_t d = J->q->d, k = J->k;
    /* w_j = (1 - E) |b_j|^2 / 2 with E the relative error bound of lsc_fast_err: the fast lower
     * bound v - err <= worst becomes c_ij - w_j >= thr_i, a test on one product. It is only a
     * prefilter (each candidate it passes is tested again in float64 below), so it runs in
     * float32, 16 lanes to a vector: its own rounding, at most 3 u (|c_ij| + w_j) <= 3 u
     * (|q_i|^2 + max |b_j|^2), is covered by lowering thr_i by 1e-6 (|q_i|^2 + max |b_j|^2).
     * Chunks of 32 with no candidate are skipped whole. */
    const double E = cpu_fast_rel(d);
    float *wf = (float *)t->bw; /* tb doubles of scratch hold tb floats */
    double bmax = 0.0;
    for (int64_t j = 0; j < nb; j++) {
        wf[j] = cpu_prefilter_w(E, t->bsq[j], 0.0);
        if (t->bsq[j] > bmax) bmax = t->bsq[j];
    }
    /* tile_cap's keys, made only for a tile that has a row needing them (first tiles) */
    float *bq = (float *)t->flag; /* tb int64 of scratch hold tb floats */
    int bq_made = 0;
    double *h = J->cap_heap + (size_t)tid * 2 * (size_t)k;
    int64_t *hj = (int64_t *)(h + k);
    for (int64_t i = 0; i < nq; i++) {
        const int64_t gi = q0 + i;
        double *hv = J->v + gi * k;
        int64_t *hx = J->idx + gi * k;
        int64_t n = J->count[gi];
        const float *crow = t->c + i * nb;
        const double qsq = t->qsq[i];
        const double slack = 1e-6 * (qsq + bmax) + 1e-300;
        /* bound: no candidate whose fast lower end lies above it can be a neighbour */
        if (n < k && !bq_made) {
            for (int64_t j = 0; j < nb; j++) bq[j] = (float)((1.0 + E) * t->bsq[j]);
            bq_made = 1;
        }
        const double cap = n < k ? tile_cap(J, t, i, gi, b0, nb, bq, h, hj) : INFINITY;
        double bound = n == k ? fmin(hv[0], cap) : cap;
        float thr = cpu_prefilter_row(E, qsq, bound, slack);
        for (int64_t c0 = 0; c0 < nb; c0 += 32) {
            const int64_t c1 = c0 + 32 < nb ? c0 + 32 : nb;
            int any = 0;
            for (int64_t j = c0; j < c1; j++) any |= crow[j] - wf[j] >= thr;
            if (!any) continue;
            for (int64_t j = c0; j < c1; j++) {
                const int64_t gj = b0 + j;
                if (J->exclude_self && gj == gi) continue;
                const double vf = qsq + t->bsq[j] - 2.0 * (double)crow[j];
                if (vf - lsc_fast_err(d, qsq, t->bsq[j]) > bound) continue;
                const float *brow = t->br + j * t->bld;
                cpu_prefetch_row(brow, d);
                double ve = cpu_exact(J->q, gi, t->qr + i * t->qld, J->b, gj, brow);
                if (!heap_offer(hv, hx, &n, k, ve, gj)) continue;
                if (n == k) {
                    bound = fmin(hv[0], cap);
                    thr = cpu_prefilter_row(E, qsq, bound, slack);
                }
            }
        }
        J->count[gi] = n;
    }
}

/* The pairs of a query block with the rows above it (CPU_TILES_ABOVE), each computed once and
 * offered to both ends: row i's own heap (its block's thread owns it) and, for row j, this
 * thread's column heap of j. With the in-block pairs (CPU_TILES_DIAG, knn_tile) every pair
 * i != j reaches each of its rows exactly once, and the row's k nearest are the best k of its
 * own heap and its column heaps (knn_sym_merge): half the GEMM work of the plain pass.
 * Both ends use the plain pass's float32 prefilter; a column's bound is its column heap's k-th
 * value, or before that heap is full the row's k-th value after the in-block pass (a bound on
 * its final one: k real candidates lie at or below it), so no column heap goes through the
 * warm-up that tile_cap spares the rows. */
LSC_CPU_CLONES static void knn_sym_tile(void *user, int tid, const cpu_tiles *t, int64_t q0,
                                        int64_t nq, int64_t b0, int64_t nb)
{
    const knn_job *J = (const knn_job *)user;
    const int64_t d = J->q->d, k = J->k, n = J->q->n;
    const double E = cpu_fast_rel(d);
    float *wf = (float *)t->bw, *tc = wf + t->tb; /* tb doubles of scratch hold 2 tb floats */
    double *cb = (double *)t->flag;              /* tb int64 of scratch hold tb doubles */
    double *cv = J->col_v + (size_t)tid * (size_t)n * (size_t)k;
    int64_t *cx = J->col_x + (size_t)tid * (size_t)n * (size_t)k;
    int64_t *cn = J->col_n + (size_t)tid * (size_t)n;
    double bmax = 0.0, cbmax = 0.0;
    for (int64_t j = 0; j < nb; j++) {
        const int64_t gj = b0 + j;
        const double bsq = t->bsq[j];
        double bound = J->row_cap[gj];
        if (cn[gj] == k) bound = fmin(bound, cv[gj * k]);
        cb[j] = bound;
        wf[j] = cpu_prefilter_w(E, bsq, 0.0);
        /* the column test c_ij - tc_j >= (1 - E) |q_i|^2 / 2 carries the column's bound */
        tc[j] = cpu_prefilter_w(E, bsq, bound);
        if (bsq > bmax) bmax = bsq;
        if (bound < INFINITY && bound > cbmax) cbmax = bound;
    }
    for (int64_t i = 0; i < nq; i++) {
        const int64_t gi = q0 + i;
        double *hv = J->v + gi * k;
        int64_t *hx = J->idx + gi * k;
        int64_t nr = J->count[gi];
        const float *crow = t->c + i * nb;
        const double qsq = t->qsq[i];
        /* covers the rounding of both float32 tests: at most 3 u (|c| + |w| or |tc|) */
        const double slack = 1e-6 * (qsq + bmax + cbmax) + 1e-300;
        double bound = nr == k ? hv[0] : INFINITY;
        float thr = cpu_prefilter_row(E, qsq, bound, slack);
        const float wq = cpu_prefilter_row(E, qsq, 0.0, slack);
        for (int64_t c0 = 0; c0 < nb; c0 += 32) {
            const int64_t c1 = c0 + 32 < nb ? c0 + 32 : nb;
            int any = 0;
            for (int64_t j = c0; j < c1; j++)
                any |= (crow[j] - wf[j] >= thr) | (crow[j] - tc[j] >= wq);
            if (!any) continue;
            for (int64_t j = c0; j < c1; j++) {
                const int64_t gj = b0 + j;
                const double vf = qsq + t->bsq[j] - 2.0 * (double)crow[j];
                const double lo = vf - lsc_fast_err(d, qsq, t->bsq[j]);
                const int row = lo <= bound, col = lo <= cb[j];
                if (!row && !col) continue;
                const float *brow = t->br + j * t->bld;
                cpu_prefetch_row(brow, d);
                const double ve = cpu_exact(J->q, gi, t->qr + i * t->qld, J->b, gj, brow);
                if (row && heap_offer(hv, hx, &nr, k, ve, gj) && nr == k) {
                    bound = hv[0];
                    thr = cpu_prefilter_row(E, qsq, bound, slack);
                }
                if (col && heap_offer(cv + gj * k, cx + gj * k, &cn[gj], k, ve, gi) &&
                    cn[gj] == k) {
                    cb[j] = fmin(J->row_cap[gj], cv[gj * k]);
                    tc[j] = cpu_prefilter_w(E, t->bsq[j], cb[j]);
                }
            }
        }
        J->count[gi] = nr;
    }
}

typedef struct knn_entry {
    double v;
    int64_t i;
} knn_entry;

static int entry_cmp(const void *a, const void *b)
{
    const knn_entry *x = (const knn_entry *)a, *y = (const knn_entry *)b;
    if (lsc_knn_before(x->v, x->i, y->v, y->i)) return -1;
    return lsc_knn_before(y->v, y->i, x->v, x->i) ? 1 : 0;
}

/* Each row's k nearest, ascending, from its own heap and the T column heaps (no index is in
 * two of them: each pair reached each row once). buf: (T + 1) k entries per thread. */
static void knn_sym_merge(const knn_job *J, int T, knn_entry *buf)
{
    const int64_t n = J->q->n, k = J->k;
#pragma omp parallel for schedule(static) num_threads(T)
    for (int64_t i = 0; i < n; i++) {
        knn_entry *e = buf + (size_t)cpu_tid() * (size_t)(T + 1) * (size_t)k;
        int64_t m = 0;
        for (int64_t a = 0; a < J->count[i]; a++, m++) {
            e[m].v = J->v[i * k + a];
            e[m].i = J->idx[i * k + a];
        }
        for (int th = 0; th < T; th++) {
            const size_t base = (size_t)th * (size_t)n + (size_t)i;
            for (int64_t a = 0; a < J->col_n[base]; a++, m++) {
                e[m].v = J->col_v[base * (size_t)k + (size_t)a];
                e[m].i = J->col_x[base * (size_t)k + (size_t)a];
            }
        }
        qsort(e, (size_t)m, sizeof *e, entry_cmp);
        for (int64_t a = 0; a < k; a++) { /* m >= k: row i has n - 1 >= k candidates */
            J->v[i * k + a] = e[a].v;
            J->idx[i * k + a] = e[a].i;
        }
    }
}

/* Bytes of the symmetric pass's state beyond the plain pass's, or 0 when it does not pay (too
 * few rows above the blocks) or does not fit a quarter of the workspace (or overflows). */
static size_t knn_sym_bytes(const lsc_ctx *ctx, const cpu_set *s, int64_t k, int64_t tq)
{
    const int64_t T = ctx->threads;
    if (s->n < 4 * tq) return 0;
    const int64_t heap = lsc_mul_i64(k, 16); /* -1 on overflow, as every lsc_mul_i64 */
    const int64_t per_row = heap < 0 ? -1 : lsc_mul_i64(T, heap + 8);
    const int64_t all = per_row < 0 ? -1 : lsc_mul_i64(s->n, per_row + 8);
    if (all < 0 || (uint64_t)all > (uint64_t)(ctx->workspace_limit / 4)) return 0;
    return (size_t)all + (size_t)T * (size_t)(T + 1) * (size_t)k * sizeof(knn_entry);
}

/* Self kNN (q == b, exclude_self) by the symmetric pass; *used = 0 (and OK) when it does not
 * apply, for the plain pass to run instead. */
static lsc_status knn_sym(lsc_ctx *ctx, knn_job *J, double p0, double p1, int *used)
{
    const cpu_set *s = J->q;
    const int64_t n = s->n, k = J->k;
    const int T = ctx->threads;
    *used = 0;
    cpu_tile_job diag = {s, s, CPU_TILES_DIAG, 0, 0, J, knn_tile, NULL, 0};
    int64_t tq;
    LSC_TRY(cpu_tile_plan(ctx, &diag, &tq));
    const size_t bytes = knn_sym_bytes(ctx, s, k, tq);
    if (!bytes) return LSC_STATUS_OK;
    diag.reserved = bytes;
    int64_t tq_reserved;
    if (cpu_tile_plan(ctx, &diag, &tq_reserved) != LSC_STATUS_OK) {
        /* the heaps leave too little for one tile that the plain pass has: it runs instead */
        ctx->err[0] = '\0';
        return LSC_STATUS_OK;
    }
    (void)tq_reserved; /* smaller blocks only make n >= 4 tq surer: knn_sym_bytes still holds */
    /* an allocation failure only costs speed: the plain pass runs */
    const size_t nk = (size_t)T * (size_t)n * (size_t)k;
    J->col_v = (double *)malloc(nk * sizeof(double));
    J->col_x = (int64_t *)malloc(nk * sizeof(int64_t));
    J->col_n = (int64_t *)calloc((size_t)T * (size_t)n, sizeof(int64_t));
    J->row_cap = (double *)malloc((size_t)n * sizeof(double));
    knn_entry *buf = (knn_entry *)malloc((size_t)T * (size_t)(T + 1) * (size_t)k * sizeof(knn_entry));
    lsc_status st = LSC_STATUS_OK;
    if (J->col_v && J->col_x && J->col_n && J->row_cap && buf) {
        *used = 1;
        /* the in-block pairs, both ways; the work split in proportion to the pairs */
        const double pd = p0 + (p1 - p0) * (double)tq / (double)n;
        st = cpu_tile_run(ctx, &diag, p0, pd);
        if (st == LSC_STATUS_OK) {
            for (int64_t i = 0; i < n; i++)
                J->row_cap[i] = J->count[i] == k ? J->v[i * k] : INFINITY;
            cpu_tile_job above = {s, s, CPU_TILES_ABOVE, 0, 0, J, knn_sym_tile, NULL, bytes};
            st = cpu_tile_run(ctx, &above, pd, p1);
        }
        if (st == LSC_STATUS_OK) knn_sym_merge(J, T, buf);
    }
    free(J->col_v);
    free(J->col_x);
    free(J->col_n);
    free(J->row_cap);
    free(buf);
    J->col_v = NULL;
    J->col_x = NULL;
    J->col_n = NULL;
    J->row_cap = NULL;
    return st;
}

static void knn_block_done(void *user, int tid, int64_t q0, int64_t nq)
{
    (void)tid;
    const knn_job *J = (const knn_job *)user;
    for (int64_t i = q0; i < q0 + nq; i++) heap_sort(J->v + i * J->k, J->idx + i * J->k, J->k);
}

lsc_status cpu_knn_sets(lsc_ctx *ctx, const cpu_set *q, const cpu_set *b, int64_t k,
                        int exclude_self, double *v, int64_t *idx, double p0, double p1)
{
    knn_job J = {q, b, k, exclude_self, v, idx, NULL, NULL, NULL, NULL, NULL, NULL};
    J.count = (int64_t *)lsc_calloc(ctx, (size_t)q->n, sizeof(int64_t), "heap sizes");
    if (!J.count) return LSC_STATUS_OUT_OF_MEMORY;
    size_t cap_bytes;
    /* per thread: tile_cap's k keys and k columns */
    lsc_status s = lsc_bytes(ctx, lsc_mul_i64(ctx->threads, lsc_mul_i64(k, 2)), sizeof(double),
                             &cap_bytes, "knn selection");
    if (s == LSC_STATUS_OK) {
        J.cap_heap = (double *)lsc_malloc(ctx, cap_bytes, "knn selection");
        if (!J.cap_heap) s = LSC_STATUS_OUT_OF_MEMORY;
    }
    int sym = 0;
    if (s == LSC_STATUS_OK && exclude_self && q == b) s = knn_sym(ctx, &J, p0, p1, &sym);
    cpu_tile_job job = {q, b, CPU_TILES_ALL, 0, 0, &J, knn_tile, knn_block_done, 0};
    if (s == LSC_STATUS_OK && !sym) s = cpu_tile_run(ctx, &job, p0, p1);
    free(J.cap_heap);
    free(J.count);
    return s;
}

lsc_status lsc_cpu_knn(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base,
                       int64_t k, const lsc_knn_opts *opts, float *dist, int64_t *idx)
{
    int metric = (int)opts->metric;
    size_t vbytes;
    LSC_TRY(lsc_bytes(ctx, lsc_mul_i64(queries->rows, k), sizeof(double), &vbytes, "knn values"));
    cpu_set sb, sq;
    LSC_TRY(cpu_set_init(ctx, &sb, base, NULL, base->rows, metric, NULL));
    lsc_status s = LSC_STATUS_OK;
    const cpu_set *qs = &sb;
    if (!opts->exclude_self) {
        /* queries centred on the base's mean: distances are translation invariant */
        s = cpu_set_init(ctx, &sq, queries, NULL, queries->rows, metric, sb.centre);
        qs = &sq;
    }
    double *v = s == LSC_STATUS_OK ? (double *)lsc_malloc(ctx, vbytes, "knn values") : NULL;
    int64_t *ix = v ? (int64_t *)lsc_malloc(ctx, vbytes, "knn indices") : NULL;
    if (s == LSC_STATUS_OK && !ix) s = LSC_STATUS_OUT_OF_MEMORY;
    if (s == LSC_STATUS_OK) s = cpu_knn_sets(ctx, qs, &sb, k, opts->exclude_self, v, ix, 0, 1);
    if (s == LSC_STATUS_OK) {
        /* outputs are written only now, so a failed or cancelled call leaves them untouched */
        int64_t n = queries->rows * k;
        for (int64_t e = 0; e < n; e++) {
            dist[e] = (float)lsc_dist_from_v(metric, v[e]);
            idx[e] = ix[e];
        }
    }
    free(v);
    free(ix);
    if (!opts->exclude_self && qs == &sq) cpu_set_free(&sq);
    cpu_set_free(&sb);
    return s;
}
