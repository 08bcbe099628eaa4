/* All-pairs statistics on the CPU (METRICS.md section 3), over tiles of the upper triangle,
 * never storing N x N. The fast form serves the bulk figures; every decision (near-duplicate,
 * nearest neighbour, maximum, histogram bin) whose outcome its error band could change is made on
 * the exact value. Each thread keeps its own partial results, merged in thread order, so a run
 * is bit-identical to another with the same thread count. */
#include "tiles.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int pair_before(const lsc_pair *a, const lsc_pair *b)
{
    if (a->d != b->d) return a->d < b->d;
    if (a->i != b->i) return a->i < b->i;
    return a->j < b->j;
}

/* Bounded max-heap keeping the `cap` first pairs in (d, i, j) order. */
static void dup_offer(lsc_pair *h, int64_t *n, int64_t cap, lsc_pair p)
{
    if (cap == 0) return;
    int64_t i;
    if (*n < cap) {
        i = (*n)++;
        h[i] = p;
        while (i > 0 && pair_before(&h[(i - 1) / 2], &h[i])) {
            lsc_pair t = h[i];
            h[i] = h[(i - 1) / 2];
            h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
        return;
    }
    if (!pair_before(&p, &h[0])) return;
    h[0] = p;
    i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < cap && pair_before(&h[top], &h[l])) top = l;
        if (r < cap && pair_before(&h[top], &h[r])) top = r;
        if (top == i) break;
        lsc_pair t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

static int cmp_pair(const void *a, const void *b)
{
    const lsc_pair *x = (const lsc_pair *)a, *y = (const lsc_pair *)b;
    return pair_before(x, y) ? -1 : pair_before(y, x) ? 1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* (count, mean, M2) merged as Chan et al.: never sum d^2 - (sum d)^2 / n. */
typedef struct {
    double n, mean, m2;
} moments;

static void moments_merge(moments *a, double nb, double mb, double m2b)
{
    if (nb == 0) return;
    double n = a->n + nb, delta = mb - a->mean;
    a->mean += delta * nb / n;
    a->m2 += m2b + delta * delta * a->n * nb / n;
    a->n = n;
}

/* Per-thread partial results. */
typedef struct {
    moments mom;
    double max_v;
    int64_t dups;
    int64_t ndup_heap;
    lsc_pair *dup_heap;
    int64_t *hist;
    double *col_best; /* per base row of the current tile: best exact value seen */
    char pad[64];
} pair_part;

/* Bound B of METRICS.md section 3, in reported units: 2 max_i ||x_i - mu||; for cosine the
 * same bound on the chord between normalised rows, as a cosine distance (at most 2). */
static double hist_upper(const cpu_set *s)
{
    const int64_t d = s->d;
    double *mu = (double *)calloc((size_t)d, sizeof(double));
    if (!mu) return -1.0;
    const lsc_matrix *m = s->m;
    size_t es = lsc_dtype_size(m->dtype);
    for (int pass = 0; pass < 2; pass++) {
        double best = 0.0;
        for (int64_t i = 0; i < s->n; i++) {
            const char *row = (const char *)m->data + (size_t)((s->map ? s->map[i] : i) * m->ld) * es;
            double scale = s->metric == LSC_M_COSINE ? s->inv_norm[i] : 1.0, q = 0.0;
            for (int64_t c = 0; c < d; c++) {
                double v = (double)lsc_load_f32(row, (int)m->dtype, c) * scale;
                if (pass == 0) mu[c] += v;
                else q += (v - mu[c]) * (v - mu[c]);
            }
            if (pass == 1 && q > best) best = q;
        }
        if (pass == 0)
            for (int64_t c = 0; c < d; c++) mu[c] /= (double)s->n;
        else {
            free(mu);
            double chord = 2.0 * sqrt(best);
            if (s->metric != LSC_M_COSINE) return chord;
            double b = 0.5 * chord * chord;
            return b < 2.0 ? b : 2.0;
        }
    }
    return -1.0;
}

lsc_status lsc_cpu_pair_stats(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *subset,
                              int64_t n, const lsc_pair_opts *opts, lsc_pair_result *out,
                              int64_t *histogram, lsc_pair *near_dups)
{
    const int metric = (int)opts->metric;
    const int64_t d = x->cols, bins = opts->bins, cap = opts->dup_report;
    const double dup_v = lsc_v_from_dist(metric, opts->dup_eps);
    cpu_set s;
    LSC_TRY(cpu_set_init(ctx, &s, x, subset, n, metric, NULL));
    const double upper = hist_upper(&s);
    int T = ctx->threads;
    cpu_tiles t;
    memset(&t, 0, sizeof t);
    pair_part *parts = NULL;
    double *nn_v = NULL, *row_best = NULL;
    lsc_status st = upper < 0 ? lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                              "out of host memory for the column means")
                              : cpu_tiles_alloc(ctx, &t, d, n, n, 0, 0);
    if (st == LSC_STATUS_OK) {
        parts = (pair_part *)lsc_calloc(ctx, (size_t)T, sizeof(pair_part), "pair partials");
        nn_v = parts ? (double *)lsc_malloc(ctx, (size_t)n * sizeof(double), "nearest") : NULL;
        row_best = nn_v ? (double *)lsc_malloc(ctx, (size_t)t.tq * sizeof(double), "nearest")
                        : NULL;
        if (!row_best) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    for (int p = 0; p < T && st == LSC_STATUS_OK; p++) {
        parts[p].max_v = -1.0;
        parts[p].hist = (int64_t *)lsc_calloc(ctx, (size_t)bins, sizeof(int64_t), "histogram");
        parts[p].col_best = parts[p].hist
                                ? (double *)lsc_malloc(ctx, (size_t)t.tb * sizeof(double), "nearest")
                                : NULL;
        parts[p].dup_heap = parts[p].col_best
                                ? (lsc_pair *)lsc_malloc(ctx, (size_t)cap * sizeof(lsc_pair), "pairs")
                                : NULL;
        if (!parts[p].dup_heap) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (st == LSC_STATUS_OK)
        for (int64_t i = 0; i < n; i++) nn_v[i] = INFINITY;

    const double total = (double)n * (double)(n - 1) / 2.0;
    double done = 0.0;
    const int blas_prev = cpu_blas_single_enter();
    for (int64_t i0 = 0; i0 < n && st == LSC_STATUS_OK; i0 += t.tq) {
        int64_t ni = n - i0 < t.tq ? n - i0 : t.tq;
        cpu_set_load(ctx, &s, i0, ni, t.qraw, t.qt, t.qsq);
        for (int64_t j0 = i0; j0 < n; j0 += t.tb) {
            int64_t nj = n - j0 < t.tb ? n - j0 : t.tb;
            cpu_set_load(ctx, &s, j0, nj, t.braw, t.bt, t.bsq);
            for (int64_t i = 0; i < ni; i++) row_best[i] = nn_v[i0 + i];
#pragma omp parallel num_threads(T)
            {
                const int tid = cpu_tid();
                pair_part *P = &parts[tid];
                for (int64_t j = 0; j < nj; j++) P->col_best[j] = nn_v[j0 + j];
                int64_t lo, hi;
                cpu_thread_rows(ni, tid, cpu_nthreads(), &lo, &hi);
                if (hi > lo) cpu_gemm_nt(hi - lo, nj, d, t.qt + lo * d, t.bt, t.c + lo * nj);
                for (int64_t i = lo; i < hi; i++) {
                    const int64_t gi = i0 + i;
                    const double qsq = t.qsq[i];
                    float *crow = t.c + i * nj;
                    int64_t jstart = gi + 1 > j0 ? gi + 1 - j0 : 0;
                    double seg_mean = 0.0, seg_m2 = 0.0, seg_n = 0.0;
                    for (int64_t j = jstart; j < nj; j++) {
                        const int64_t gj = j0 + j;
                        const double vf = qsq + t.bsq[j] - 2.0 * (double)crow[j];
                        const double err = lsc_fast_err(d, qsq, t.bsq[j]);
                        const double vlo = vf - err;
                        int exact = vlo <= dup_v || vlo <= row_best[i] || vlo <= P->col_best[j] ||
                                    vf + err >= P->max_v || lsc_bulk_needs_exact(vf, err);
                        if (!exact)
                            exact = lsc_hist_bin(lsc_dist_from_v(metric, vlo), upper, bins) !=
                                    lsc_hist_bin(lsc_dist_from_v(metric, vf + err), upper, bins);
                        double v = vf;
                        if (exact) {
                            v = cpu_exact(&s, gi, t.qraw + i * d, &s, gj, t.braw + j * d);
                            if (v < row_best[i]) row_best[i] = v;
                            if (v < P->col_best[j]) P->col_best[j] = v;
                            if (v > P->max_v) P->max_v = v;
                            if (v <= dup_v) {
                                P->dups++;
                                lsc_pair pr;
                                pr.i = s.map ? s.map[gi] : gi;
                                pr.j = s.map ? s.map[gj] : gj;
                                pr.d = lsc_dist_from_v(metric, v);
                                dup_offer(P->dup_heap, &P->ndup_heap, cap, pr);
                            }
                        }
                        double dist = lsc_dist_from_v(metric, v);
                        P->hist[lsc_hist_bin(dist, upper, bins)]++;
                        /* this row's segment: mean and M2 of the float64 distances
                         * (Welford; never through float32, whose rounding alone would give a
                         * set of equal distances a non-zero std), then Chan */
                        seg_n += 1.0;
                        const double delta = dist - seg_mean;
                        seg_mean += delta / seg_n;
                        seg_m2 += delta * (dist - seg_mean);
                    }
                    if (seg_n > 0.0) moments_merge(&P->mom, seg_n, seg_mean, seg_m2);
                }
            }
            /* merge the nearest-neighbour candidates in a fixed order */
            for (int64_t i = 0; i < ni; i++)
                if (row_best[i] < nn_v[i0 + i]) nn_v[i0 + i] = row_best[i];
            for (int p = 0; p < T; p++)
                for (int64_t j = 0; j < nj; j++)
                    if (parts[p].col_best[j] < nn_v[j0 + j]) nn_v[j0 + j] = parts[p].col_best[j];
            /* pairs of this tile */
            for (int64_t i = 0; i < ni; i++) {
                int64_t gi = i0 + i, js = gi + 1 > j0 ? gi + 1 - j0 : 0;
                if (js < nj) done += (double)(nj - js);
            }
            st = lsc_progress(ctx, done / total);
            if (st != LSC_STATUS_OK) break;
        }
    }

    cpu_blas_single_leave(blas_prev);
    if (st == LSC_STATUS_OK) {
        moments mom = {0, 0, 0};
        double max_v = -1.0;
        int64_t dups = 0, nheap = 0;
        for (int p = 0; p < T; p++) {
            moments_merge(&mom, parts[p].mom.n, parts[p].mom.mean, parts[p].mom.m2);
            if (parts[p].max_v > max_v) max_v = parts[p].max_v;
            dups += parts[p].dups;
        }
        lsc_pair *all = NULL;
        if (cap > 0) {
            all = (lsc_pair *)lsc_malloc(ctx, (size_t)cap * sizeof(lsc_pair), "pairs");
            if (!all) st = LSC_STATUS_OUT_OF_MEMORY;
            for (int p = 0; p < T && all; p++)
                for (int64_t e = 0; e < parts[p].ndup_heap; e++)
                    dup_offer(all, &nheap, cap, parts[p].dup_heap[e]);
        }
        for (int64_t i = 0; i < n && st == LSC_STATUS_OK; i++)
            nn_v[i] = lsc_dist_from_v(metric, nn_v[i]);
        if (st == LSC_STATUS_OK) {
            double nn_sum = 0.0;
            for (int64_t i = 0; i < n; i++) nn_sum += nn_v[i];
            qsort(nn_v, (size_t)n, sizeof(double), cmp_double);
            out->mean = mom.mean;
            out->std = sqrt(mom.m2 / mom.n);
            out->min = nn_v[0];
            out->max = lsc_dist_from_v(metric, max_v);
            out->nn_mean = nn_sum / (double)n;
            out->nn_median = nn_v[(n - 1) / 2];
            out->nn_min = nn_v[0];
            out->nn_max = nn_v[n - 1];
            out->near_duplicate_pairs = dups;
            out->hist_upper = upper;
            if (all) qsort(all, (size_t)nheap, sizeof(lsc_pair), cmp_pair);
            out->near_duplicates_listed = near_dups ? nheap : 0;
            if (near_dups && nheap) memcpy(near_dups, all, (size_t)nheap * sizeof(lsc_pair));
            if (histogram) {
                for (int64_t b = 0; b < bins; b++) {
                    int64_t c = 0;
                    for (int p = 0; p < T; p++) c += parts[p].hist[b];
                    histogram[b] = c;
                }
            }
        }
        free(all);
    }
    if (parts)
        for (int p = 0; p < T; p++) {
            free(parts[p].hist);
            free(parts[p].col_best);
            free(parts[p].dup_heap);
        }
    free(parts);
    free(nn_v);
    free(row_best);
    cpu_tiles_free(&t);
    cpu_set_free(&s);
    return st;
}
