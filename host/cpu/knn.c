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

/* The largest float32 at or below x: the prefilter's threshold may only be lowered. */
static inline float prefilter_thr(double x)
{
    float f = (float)x;
    return (double)f > x ? nextafterf(f, -INFINITY) : f;
}

typedef struct knn_job {
    const cpu_set *q, *b;
    int64_t k;
    int exclude_self;
    double *v;
    int64_t *idx;
    int64_t *count; /* per query row: entries in its heap */
    double *cap_heap; /* k doubles per thread: tile_cap's selection */
} knn_job;

/* Max-heap of doubles (tile_cap's selection). */
static void dheap_sift_down(double *h, int64_t n, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && h[l] > h[top]) top = l;
        if (r < n && h[r] > h[top]) top = r;
        if (top == i) return;
        double tv = h[i];
        h[i] = h[top];
        h[top] = tv;
        i = top;
    }
}

/* For a query row whose heap is not yet full at the start of a tile (its first tile): the k-th
 * smallest upper end vf + err of the fast values in this tile's row, +inf if the tile has fewer
 * than k candidates. k of them have exact values at or below it, so the row's final k-th value
 * is too, and a candidate whose lower end vf - err lies above it can never be a neighbour (its
 * exact value is strictly larger). Bounding the first tile with it spares the exact
 * recomputation of most candidates that would enter the heap only to be pushed out again
 * (about k ln(tile / k) of them in index order: 30 of 35 at k = 5). hi: nb doubles of scratch. */
static double tile_cap(const knn_job *J, const cpu_tiles *t, int64_t i,
                                      int64_t gi, int64_t b0, int64_t nb, double *hi, double *h)
{
    const int64_t d = J->q->d, k = J->k;
    const double qsq = t->qsq[i];
    const float *crow = t->c + i * nb;
    for (int64_t j = 0; j < nb; j++)
        hi[j] = qsq + t->bsq[j] - 2.0 * (double)crow[j] + lsc_fast_err(d, qsq, t->bsq[j]);
    if (J->exclude_self && gi >= b0 && gi < b0 + nb) hi[gi - b0] = INFINITY;
    int64_t m = 0;
    for (int64_t j = 0; j < nb; j++) {
        if (m < k) {
            if (hi[j] == INFINITY) continue;
            int64_t c = m++;
            h[c] = hi[j];
            while (c > 0 && h[(c - 1) / 2] < h[c]) {
                const double tv = h[c];
                h[c] = h[(c - 1) / 2];
                h[(c - 1) / 2] = tv;
                c = (c - 1) / 2;
            }
        } else if (hi[j] < h[0]) {
            h[0] = hi[j];
            dheap_sift_down(h, k, 0);
        }
    }
    return m == k ? h[0] : INFINITY;
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
    const double E = lsc_fast_err(d, 1.0, 0.0) - 1e-300;
    float *wf = (float *)t->bw; /* tb doubles of scratch hold tb floats */
    double bmax = 0.0;
    for (int64_t j = 0; j < nb; j++) {
        wf[j] = (float)(0.5 * (1.0 - E) * t->bsq[j]);
        if (t->bsq[j] > bmax) bmax = t->bsq[j];
    }
    double *hi = (double *)t->flag; /* tb int64 of scratch hold tb doubles */
    double *h = J->cap_heap + (size_t)tid * (size_t)k;
    for (int64_t i = 0; i < nq; i++) {
        const int64_t gi = q0 + i;
        double *hv = J->v + gi * k;
        int64_t *hx = J->idx + gi * k;
        int64_t n = J->count[gi];
        const float *crow = t->c + i * nb;
        const double qsq = t->qsq[i];
        const double slack = 1e-6 * (qsq + bmax) + 1e-300;
        /* bound: no candidate whose fast lower end lies above it can be a neighbour */
        const double cap = n < k ? tile_cap(J, t, i, gi, b0, nb, hi, h) : INFINITY;
        double bound = n == k ? fmin(hv[0], cap) : cap;
        float thr = prefilter_thr(0.5 * ((1.0 - E) * qsq - bound) - slack);
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
                double ve = cpu_exact(J->q, gi, t->qr + i * t->qld, J->b, gj, t->br + j * t->bld);
                if (n < k) {
                    heap_push(hv, hx, n, ve, gj);
                    n++;
                } else if (lsc_knn_before(ve, gj, hv[0], hx[0])) {
                    hv[0] = ve;
                    hx[0] = gj;
                    heap_sift_down(hv, hx, k, 0);
                } else {
                    continue;
                }
                if (n == k) {
                    bound = fmin(hv[0], cap);
                    thr = prefilter_thr(0.5 * ((1.0 - E) * qsq - bound) - slack);
                }
            }
        }
        J->count[gi] = n;
    }
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
    knn_job J = {q, b, k, exclude_self, v, idx, NULL, NULL};
    J.count = (int64_t *)lsc_calloc(ctx, (size_t)q->n, sizeof(int64_t), "heap sizes");
    if (!J.count) return LSC_STATUS_OUT_OF_MEMORY;
    size_t cap_bytes;
    lsc_status s = lsc_bytes(ctx, lsc_mul_i64(ctx->threads, k), sizeof(double), &cap_bytes,
                             "knn selection");
    if (s == LSC_STATUS_OK) {
        J.cap_heap = (double *)lsc_malloc(ctx, cap_bytes, "knn selection");
        if (!J.cap_heap) s = LSC_STATUS_OUT_OF_MEMORY;
    }
    cpu_tile_job job = {q, b, 0, 0, 0, &J, knn_tile, knn_block_done};
    if (s == LSC_STATUS_OK) s = cpu_tile_run(ctx, &job, p0, p1);
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
