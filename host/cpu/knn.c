/* Exact k nearest neighbours on the CPU: a float32 GEMM per tile of centred rows, then a
 * selection on the fast values' error bands whose exact recomputation is deferred (docs/METRICS.md
 * section 2, rule 2). Each row keeps the k smallest upper ends vf + err of its candidates (their
 * largest, U, bounds the row's final k-th exact value) and a short list of the candidates whose
 * lower end vf - err was at or below U when they came; only the listed candidates still at or
 * below the final U are recomputed exactly, about k a row. An exact heap recomputes every
 * candidate that enters it on the way (about k ln(N / k) a row, each a cold row read): at D = 512
 * that was a third of the time outside the GEMM. */
#include "tiles.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct knn_entry {
    double v;  /* lower end of the fast value's band, or the exact value */
    int64_t i; /* candidate index, stored as -1 - index once v is exact */
} knn_entry;

static inline int64_t entry_index(const knn_entry *e) { return e->i < 0 ? -1 - e->i : e->i; }

static int entry_cmp(const void *a, const void *b)
{
    const knn_entry *x = (const knn_entry *)a, *y = (const knn_entry *)b;
    const int64_t xi = entry_index(x), yi = entry_index(y);
    if (lsc_knn_before(x->v, xi, y->v, yi)) return -1;
    return lsc_knn_before(y->v, yi, x->v, xi) ? 1 : 0;
}

/* Offers x to the max-heap h of at most k values holding *n. */
static void vheap_offer(double *h, int64_t *n, int64_t k, double x)
{
    int64_t i;
    if (*n < k) {
        for (i = (*n)++; i > 0; i = (i - 1) / 2) {
            if (!(h[(i - 1) / 2] < x)) break;
            h[i] = h[(i - 1) / 2];
        }
        h[i] = x;
        return;
    }
    if (!(x < h[0])) return;
    for (i = 0;;) {
        const int64_t l = 2 * i + 1, r = l + 1;
        int64_t top = -1;
        double tv = x;
        if (l < k && h[l] > tv) tv = h[top = l];
        if (r < k && h[r] > tv) tv = h[top = r];
        if (top < 0) break;
        h[i] = h[top];
        i = top;
    }
    h[i] = x;
}

/* One row's selection (a query row, or in the symmetric pass a column's share from one thread).
 * Invariants: every candidate behind a heap value is in the list; every candidate not in the
 * list either had its lower end above the bound in force when it came or was dropped with its
 * value above the bound then, and bounds only fall. So the final U leaves in the list every
 * candidate that can be among the k nearest. */
typedef struct knn_sel {
    double *h;    /* k: max-heap of the smallest upper ends (an exact value is its own) */
    int64_t *hn;  /* values in h */
    knn_entry *l; /* cap: the listed candidates */
    int64_t *ln;  /* entries in l */
} knn_sel;

static inline double sel_bound(knn_sel s, int64_t k) { return *s.hn == k ? s.h[0] : INFINITY; }

/* What an exact recomputation for a row needs: its set and raw row, its candidates' set and
 * d floats of thread scratch for a candidate row that is not float32 in memory. */
typedef struct knn_exact {
    const cpu_set *a, *b;
    int64_t row;
    const float *ra;
    float *buf;
} knn_exact;

/* Cloned like the tile kernels: the exact sum is a D-long float64 loop that the baseline
 * x86-64 build runs two lanes at a time. */
LSC_CPU_CLONES static double exact_v(const knn_exact *x, int64_t j)
{
    const float *rb = cpu_set_raw_row(x->b, j, x->buf);
    cpu_prefetch_row(rb, x->a->d);
    return cpu_exact(x->a, x->row, x->ra, x->b, j, rb);
}

/* Keeps the entries at or below bound, recomputing them exactly when `settle` (an exact value
 * above the bound is dropped too: k candidates lie at or below it). */
static void sel_keep(knn_entry *l, int64_t *ln, double bound, int settle, const knn_exact *x)
{
    int64_t m = 0;
    for (int64_t a = 0; a < *ln; a++) {
        knn_entry e = l[a];
        if (e.v > bound) continue;
        if (settle && e.i >= 0) {
            e.v = exact_v(x, e.i);
            e.i = -1 - e.i;
            if (e.v > bound) continue;
        }
        l[m++] = e;
    }
    *ln = m;
}

/* The listed entries still at or below bound, recomputed exactly and sorted by (value, index);
 * returns how many. */
static int64_t sel_settle(knn_entry *l, int64_t m, double bound, const knn_exact *x)
{
    sel_keep(l, &m, bound, 1, x);
    qsort(l, (size_t)m, sizeof *l, entry_cmp);
    return m;
}

/* Offers a candidate whose lower end lo the caller found at or below the row's bound
 * (min(cap, sel_bound)): into the list, and its upper end hi into the heap. A full list is first
 * cut to the entries still at or below the bound; if they still fill it (near-duplicates, ties)
 * they are recomputed exactly and only the k best are kept, their values the new heap. */
static void sel_offer(knn_sel s, int64_t k, int64_t cap, double rowcap, double lo, double hi,
                      int64_t id, const knn_exact *x)
{
    if (*s.ln == cap) {
        double b = fmin(rowcap, sel_bound(s, k));
        sel_keep(s.l, s.ln, b, 0, x);
        if (*s.ln == cap) {
            *s.ln = sel_settle(s.l, *s.ln, b, x);
            if (*s.ln > k) *s.ln = k;
            *s.hn = *s.ln; /* descending: a max-heap */
            for (int64_t a = 0; a < *s.ln; a++) s.h[a] = s.l[*s.ln - 1 - a].v;
            if (lo > fmin(rowcap, sel_bound(s, k))) return;
        }
    }
    s.l[*s.ln].v = lo;
    s.l[*s.ln].i = id;
    (*s.ln)++;
    vheap_offer(s.h, s.hn, k, hi);
}

/* The k nearest of m listed entries (e may gather several lists), given the final bound: the
 * survivors recomputed exactly, sorted by (value, index), written ascending to v / idx. */
static void sel_finish(knn_entry *e, int64_t m, double bound, int64_t k, const knn_exact *x,
                       double *v, int64_t *idx)
{
    m = sel_settle(e, m, bound, x);
    for (int64_t a = 0; a < k && a < m; a++) { /* m >= k: the heap's k candidates survive */
        v[a] = e[a].v;
        idx[a] = entry_index(&e[a]);
    }
}

/* List capacity: room past k for the candidates whose bands straddle the bound, so that a
 * compaction frees several slots. The bands widen with D (lsc_fast_err grows as D): above
 * D = 2048 more of them straddle, and a list of k + 5 overflowed into exact recomputations
 * (20 a row at 5000 x 8192, k = 5, against 8 with room for 23). */
static int64_t knn_list_cap(int64_t k, int64_t d)
{
    return k + 4 + k / 4 + (d > 2048 ? 12 + k / 4 : 0);
}

typedef struct knn_job {
    const cpu_set *q, *b;
    int64_t k, cap;
    int exclude_self;
    double *v;    /* per query row k values: its heap of upper ends, then its k nearest */
    int64_t *idx; /* per query row k indices (written at the end) */
    int64_t *hn;  /* per query row: values in its heap */
    /* lists: per thread, one for each row of its current query block (plain pass, whose
     * block_done finishes them), or one for every row (symmetric pass) */
    knn_entry *list;
    int64_t *list_n;
    int64_t tq; /* the plain pass's query block size */
    float *buf; /* per thread 2 d floats of scratch for rows that are not float32 */
    /* the symmetric self pass (knn_sym_tile): per thread a selection for every row, fed from
     * the column side of the pairs that thread computes; and each row's bound after the
     * in-block pass, which bounds its final k-th value */
    double *col_h;
    int64_t *col_hn;
    knn_entry *col_l;
    int64_t *col_ln;
    double *row_cap;
} knn_job;

static knn_sel row_sel(const knn_job *J, int tid, int64_t q0, int64_t gi)
{
    const size_t r = J->tq ? (size_t)tid * (size_t)J->tq + (size_t)(gi - q0) : (size_t)gi;
    knn_sel s = {J->v + gi * J->k, J->hn + gi, J->list + r * (size_t)J->cap, J->list_n + r};
    return s;
}

static knn_sel col_sel(const knn_job *J, int tid, int64_t gj)
{
    const size_t r = (size_t)tid * (size_t)J->q->n + (size_t)gj;
    knn_sel s = {J->col_h + r * (size_t)J->k, J->col_hn + r, J->col_l + r * (size_t)J->cap,
                 J->col_ln + r};
    return s;
}

LSC_CPU_CLONES static void knn_tile(void *user, int tid, const cpu_tiles *t, int64_t q0, int64_t nq,
                                    int64_t b0, int64_t nb)
{
    const knn_job *J = (const knn_job *)user;
    const int64_t d = J->q->d, k = J->k;
    /* w_j = (1 - E) |b_j|^2 / 2 with E the relative error bound of the product (cpu_tile_err): the fast lower
     * bound v - err <= U becomes c_ij - w_j >= thr_i, a test on one product. It is only a
     * prefilter (each candidate it passes is tested again in float64 below), so it runs in
     * float32, 16 lanes to a vector: its own rounding, at most 3 u (|c_ij| + w_j) <= 3 u
     * (|q_i|^2 + max |b_j|^2), is covered by lowering thr_i by 1e-6 (|q_i|^2 + max |b_j|^2).
     * Chunks of 32 with no candidate are skipped whole. */
    const double E = t->E;
    float *wf = (float *)t->bw; /* tb doubles of scratch hold tb floats */
    double bmax = 0.0;
    for (int64_t j = 0; j < nb; j++) {
        wf[j] = cpu_prefilter_w(E, t->bsq[j], 0.0);
        if (t->bsq[j] > bmax) bmax = t->bsq[j];
    }
    for (int64_t i = 0; i < nq; i++) {
        const int64_t gi = q0 + i;
        const knn_sel s = row_sel(J, tid, q0, gi);
        const knn_exact x = {J->q, J->b, gi, t->qr + i * t->qld, J->buf + (size_t)tid * 2 * d + d};
        const float *crow = t->c + i * nb;
        const double qsq = t->qsq[i];
        const double slack = 1e-6 * (qsq + bmax) + t->eabs + 1e-300;
        double bound = sel_bound(s, k);
        float thr = cpu_prefilter_row(E, qsq, bound, slack);
        for (int64_t c0 = 0; c0 < nb; c0 += LSC_CPU_CHUNK) {
            const int64_t c1 = c0 + LSC_CPU_CHUNK < nb ? c0 + LSC_CPU_CHUNK : nb;
            int any = 0;
            for (int64_t j = c0; j < c1; j++) any |= crow[j] - wf[j] >= thr;
            if (!any) continue;
            for (int64_t j = c0; j < c1; j++) {
                const int64_t gj = b0 + j;
                if (J->exclude_self && gj == gi) continue;
                const double vf = qsq + t->bsq[j] - 2.0 * (double)crow[j];
                const double err = cpu_tile_err(t, qsq, t->bsq[j]);
                if (vf - err > bound) continue;
                sel_offer(s, k, J->cap, INFINITY, vf - err, vf + err, gj, &x);
                const double nbound = sel_bound(s, k);
                if (nbound != bound) {
                    bound = nbound;
                    thr = cpu_prefilter_row(E, qsq, bound, slack);
                }
            }
        }
    }
}

/* The symmetric self pass: each pair i < j computed once and offered to both of its rows. In
 * the in-block pass (CPU_TILES_DIAG, `diag`) both rows are the block's, owned by its thread, so
 * j's own selection takes the offer; the block's square product is its upper triangle only
 * (ssyrk: half the work). Above the blocks (CPU_TILES_ABOVE) row j belongs to a later block, so
 * this thread's column selection of j takes it. Every pair i != j reaches each of its rows
 * exactly once, and a row's k nearest come from its own selection and its column selections
 * together (knn_sym_merge): half the GEMM work of the plain pass. Both ends use the plain pass's
 * float32 prefilter; a column selection's bound is the smaller of its own and the row's after
 * the in-block pass (a bound on its final k-th value), so it starts with one. */
static inline __attribute__((always_inline)) void sym_pairs(const knn_job *J, int tid,
                                                            const cpu_tiles *t, int64_t q0,
                                                            int64_t nq, int64_t b0, int64_t nb,
                                                            const int diag)
{
    const int64_t d = J->q->d, k = J->k;
    const double E = t->E;
    float *wf = (float *)t->bw, *tc = wf + t->tb; /* tb doubles of scratch hold 2 tb floats */
    double *cb = (double *)t->flag;               /* tb int64 of scratch hold tb doubles */
    float *buf = J->buf + (size_t)tid * 2 * d;
    double bmax = 0.0, cbmax = 0.0;
    for (int64_t j = 0; j < nb; j++) {
        const int64_t gj = b0 + j;
        const double bsq = t->bsq[j];
        const double bound = diag ? sel_bound(row_sel(J, tid, q0, gj), k)
                                  : fmin(J->row_cap[gj], sel_bound(col_sel(J, tid, gj), k));
        cb[j] = bound;
        wf[j] = cpu_prefilter_w(E, bsq, 0.0);
        /* the column test c_ij - tc_j >= (1 - E) |q_i|^2 / 2 carries the column's bound */
        tc[j] = cpu_prefilter_w(E, bsq, bound);
        if (bsq > bmax) bmax = bsq;
        if (bound < INFINITY && bound > cbmax) cbmax = bound;
    }
    /* the rounding of both float32 tests is at most 3 u (|c| + |w| or |tc|). A column bound
     * that is infinite here may become finite on the way: it is then one of this tile's upper
     * ends, at most 2 (|q_i|^2 + |b_j|^2) plus a small error, and the slack counts it so. */
    double qmax = 0.0;
    for (int64_t i = 0; i < nq; i++) qmax = fmax(qmax, t->qsq[i]);
    cbmax = fmax(cbmax, 2.5 * (qmax + bmax));
    for (int64_t i = 0; i < nq; i++) {
        const int64_t gi = q0 + i;
        const knn_sel s = row_sel(J, tid, q0, gi);
        const knn_exact xr = {J->q, J->b, gi, t->qr + i * t->qld, buf + d};
        const float *crow = t->c + i * nb;
        const double qsq = t->qsq[i];
        const double slack = 1e-6 * (qsq + bmax + cbmax) + t->eabs + 1e-300;
        double bound = sel_bound(s, k);
        float thr = cpu_prefilter_row(E, qsq, bound, slack);
        const float wq = cpu_prefilter_row(E, qsq, 0.0, slack);
        const int64_t j0 = diag && gi + 1 > b0 ? gi + 1 - b0 : 0; /* pairs i < j only */
        for (int64_t c0 = j0; c0 < nb; c0 += LSC_CPU_CHUNK) {
            const int64_t c1 = c0 + LSC_CPU_CHUNK < nb ? c0 + LSC_CPU_CHUNK : nb;
            int any = 0;
            for (int64_t j = c0; j < c1; j++)
                any |= (crow[j] - wf[j] >= thr) | (crow[j] - tc[j] >= wq);
            if (!any) continue;
            for (int64_t j = c0; j < c1; j++) {
                const int64_t gj = b0 + j;
                const double vf = qsq + t->bsq[j] - 2.0 * (double)crow[j];
                const double err = cpu_tile_err(t, qsq, t->bsq[j]);
                const double lo = vf - err, hi = vf + err;
                if (lo <= bound) {
                    sel_offer(s, k, J->cap, INFINITY, lo, hi, gj, &xr);
                    const double nbound = sel_bound(s, k);
                    if (nbound != bound) {
                        bound = nbound;
                        thr = cpu_prefilter_row(E, qsq, bound, slack);
                    }
                }
                if (lo <= cb[j]) {
                    const knn_sel cs = diag ? row_sel(J, tid, q0, gj) : col_sel(J, tid, gj);
                    const double rc = diag ? INFINITY : J->row_cap[gj];
                    const knn_exact xc = {J->b, J->q, gj, t->br + j * t->bld, buf + d};
                    sel_offer(cs, k, J->cap, rc, lo, hi, gi, &xc);
                    const double nb_ = fmin(rc, sel_bound(cs, k));
                    if (nb_ != cb[j]) {
                        cb[j] = nb_;
                        tc[j] = cpu_prefilter_w(E, t->bsq[j], nb_);
                    }
                }
            }
        }
    }
}

LSC_CPU_CLONES static void knn_sym_diag(void *user, int tid, const cpu_tiles *t, int64_t q0,
                                        int64_t nq, int64_t b0, int64_t nb)
{
    sym_pairs((const knn_job *)user, tid, t, q0, nq, b0, nb, 1);
}

LSC_CPU_CLONES static void knn_sym_tile(void *user, int tid, const cpu_tiles *t, int64_t q0,
                                        int64_t nq, int64_t b0, int64_t nb)
{
    sym_pairs((const knn_job *)user, tid, t, q0, nq, b0, nb, 0);
}

/* Each row's k nearest, ascending, from its own selection and the T column selections (no
 * index is in two of them: each pair reached each row once), with the k-th smallest upper end
 * over all of them as the final bound. scratch: per thread knn_merge_bytes. */
static size_t knn_merge_bytes(int T, int64_t k, int64_t cap, int64_t d)
{
    return (size_t)(T + 1) * (size_t)cap * sizeof(knn_entry) + (size_t)k * sizeof(double) +
           2 * (size_t)d * sizeof(float);
}

static void knn_sym_merge(const knn_job *J, int T, void *scratch)
{
    const int64_t n = J->q->n, k = J->k, cap = J->cap, d = J->q->d;
    const size_t per = knn_merge_bytes(T, k, cap, d);
#pragma omp parallel for schedule(static) num_threads(T)
    for (int64_t i = 0; i < n; i++) {
        knn_entry *e = (knn_entry *)((char *)scratch + (size_t)cpu_tid() * per);
        double *top = (double *)(e + (size_t)(T + 1) * (size_t)cap);
        float *rb = (float *)(top + k);
        int64_t m = 0, nt = 0;
        for (int th = -1; th < T; th++) {
            const knn_sel s = th < 0 ? row_sel(J, 0, 0, i) : col_sel(J, th, i);
            for (int64_t a = 0; a < *s.hn; a++) vheap_offer(top, &nt, k, s.h[a]);
            for (int64_t a = 0; a < *s.ln; a++) e[m++] = s.l[a];
        }
        /* nt == k: the heaps together hold min(k, offers) >= k values (n - 1 >= k candidates,
         * and a candidate is refused only where a full heap or the row's own set the bound) */
        const knn_exact x = {J->q, J->b, i, cpu_set_raw_row(J->q, i, rb), rb + d};
        sel_finish(e, m, nt == k ? top[0] : INFINITY, k, &x, J->v + i * k, J->idx + i * k);
    }
}

/* Bytes of the symmetric pass's state beyond the plain pass's, or 0 when it does not pay (too
 * few rows above the blocks) or does not fit a quarter of the workspace (or overflows). */
static size_t knn_sym_bytes(const lsc_ctx *ctx, const cpu_set *s, int64_t k, int64_t cap,
                            int64_t tq)
{
    const int64_t T = ctx->threads;
    if (s->n < 4 * tq) return 0;
    /* a selection: k values, cap entries and two counts */
    const int64_t kb = lsc_mul_i64(k, 8), lb = lsc_mul_i64(cap, 16);
    const int64_t sel = kb < 0 || lb < 0 ? -1 : kb + lb + 16;
    /* per row: T column selections, its own list and count, its bound */
    const int64_t per_row = sel < 0 ? -1 : lsc_mul_i64(T, sel);
    const int64_t all = per_row < 0 || lb < 0 ? -1 : lsc_mul_i64(s->n, per_row + lb + 16);
    if (all < 0 || (uint64_t)all > (uint64_t)(ctx->workspace_limit / 4)) return 0;
    return (size_t)all + (size_t)T * knn_merge_bytes((int)T, k, cap, s->d);
}

/* Self kNN (q == b, exclude_self) by the symmetric pass; *used = 0 (and OK) when it does not
 * apply, for the plain pass to run instead. */
static lsc_status knn_sym(lsc_ctx *ctx, knn_job *J, double p0, double p1, int *used)
{
    const cpu_set *s = J->q;
    const int64_t n = s->n, k = J->k, cap = J->cap;
    const int T = ctx->threads;
    *used = 0;
    cpu_tile_job diag = {s, s, CPU_TILES_DIAG, 0, 0, J, knn_sym_diag, NULL, 0, 1};
    int64_t tq;
    LSC_TRY(cpu_tile_plan(ctx, &diag, &tq, NULL));
    const size_t bytes = knn_sym_bytes(ctx, s, k, cap, tq);
    if (!bytes) return LSC_STATUS_OK;
    diag.reserved = bytes;
    int64_t tq_reserved;
    if (cpu_tile_plan(ctx, &diag, &tq_reserved, NULL) != LSC_STATUS_OK) {
        /* the selections leave too little for one tile that the plain pass has: it runs */
        ctx->err[0] = '\0';
        return LSC_STATUS_OK;
    }
    (void)tq_reserved; /* smaller blocks only make n >= 4 tq surer: knn_sym_bytes still holds */
    /* an allocation failure only costs speed: the plain pass runs */
    const size_t tn = (size_t)T * (size_t)n;
    J->list = (knn_entry *)malloc((size_t)n * (size_t)cap * sizeof(knn_entry));
    J->list_n = (int64_t *)calloc((size_t)n, sizeof(int64_t));
    J->col_h = (double *)malloc(tn * (size_t)k * sizeof(double));
    J->col_hn = (int64_t *)calloc(tn, sizeof(int64_t));
    J->col_l = (knn_entry *)malloc(tn * (size_t)cap * sizeof(knn_entry));
    J->col_ln = (int64_t *)calloc(tn, sizeof(int64_t));
    J->row_cap = (double *)malloc((size_t)n * sizeof(double));
    void *scratch = malloc((size_t)T * knn_merge_bytes(T, k, cap, s->d));
    lsc_status st = LSC_STATUS_OK;
    if (J->list && J->list_n && J->col_h && J->col_hn && J->col_l && J->col_ln && J->row_cap &&
        scratch) {
        *used = 1;
        J->tq = 0; /* a list for every row, kept from the in-block pass to the merge */
        /* the in-block pairs, both ways; the work split in proportion to the pairs */
        const double pd = p0 + (p1 - p0) * (double)tq / (double)n;
        st = cpu_tile_run(ctx, &diag, p0, pd);
        if (st == LSC_STATUS_OK) {
            for (int64_t i = 0; i < n; i++) J->row_cap[i] = sel_bound(row_sel(J, 0, 0, i), k);
            cpu_tile_job above = {s, s, CPU_TILES_ABOVE, 0, 0, J, knn_sym_tile, NULL, bytes, 1};
            st = cpu_tile_run(ctx, &above, pd, p1);
        }
        if (st == LSC_STATUS_OK) knn_sym_merge(J, T, scratch);
    }
    free(J->list);
    free(J->list_n);
    free(J->col_h);
    free(J->col_hn);
    free(J->col_l);
    free(J->col_ln);
    free(J->row_cap);
    free(scratch);
    J->list = NULL;
    J->list_n = NULL;
    J->col_h = NULL;
    J->col_hn = NULL;
    J->col_l = NULL;
    J->col_ln = NULL;
    J->row_cap = NULL;
    return st;
}

/* The plain pass's end of a query block: each row's k nearest from its selection, and its list
 * emptied for the thread's next block. */
static void knn_block_done(void *user, int tid, int64_t q0, int64_t nq)
{
    const knn_job *J = (const knn_job *)user;
    const int64_t k = J->k, d = J->q->d;
    float *buf = J->buf + (size_t)tid * 2 * d;
    for (int64_t gi = q0; gi < q0 + nq; gi++) {
        const knn_sel s = row_sel(J, tid, q0, gi);
        const knn_exact x = {J->q, J->b, gi, cpu_set_raw_row(J->q, gi, buf), buf + d};
        sel_finish(s.l, *s.ln, sel_bound(s, k), k, &x, J->v + gi * k, J->idx + gi * k);
        *s.ln = 0;
    }
}

lsc_status cpu_knn_sets(lsc_ctx *ctx, const cpu_set *q, const cpu_set *b, int64_t k,
                        int exclude_self, double *v, int64_t *idx, double p0, double p1)
{
    knn_job J;
    memset(&J, 0, sizeof J);
    J.q = q;
    J.b = b;
    J.k = k;
    J.cap = knn_list_cap(k, q->d);
    J.exclude_self = exclude_self;
    J.v = v;
    J.idx = idx;
    J.hn = (int64_t *)lsc_calloc(ctx, (size_t)q->n, sizeof(int64_t), "heap sizes");
    if (!J.hn) return LSC_STATUS_OUT_OF_MEMORY;
    size_t buf_bytes;
    lsc_status s = lsc_bytes(ctx, lsc_mul_i64(ctx->threads, lsc_mul_i64(q->d, 2)), sizeof(float),
                             &buf_bytes, "knn row scratch");
    if (s == LSC_STATUS_OK) {
        J.buf = (float *)lsc_malloc(ctx, buf_bytes, "knn row scratch");
        if (!J.buf) s = LSC_STATUS_OUT_OF_MEMORY;
    }
    int sym = 0;
    if (s == LSC_STATUS_OK && exclude_self && q == b) s = knn_sym(ctx, &J, p0, p1, &sym);
    cpu_tile_job job = {q, b, CPU_TILES_ALL, 0, 0, &J, knn_tile, knn_block_done, 0, 1};
    if (s == LSC_STATUS_OK && !sym) {
        /* per thread, a list for each row of its query block */
        int64_t tq = 0;
        size_t lbytes = 0;
        s = cpu_tile_plan(ctx, &job, &tq, NULL);
        if (s == LSC_STATUS_OK)
            s = lsc_bytes(ctx, lsc_mul_i64(lsc_mul_i64(ctx->threads, tq), J.cap), sizeof(knn_entry),
                          &lbytes, "knn candidate lists");
        if (s == LSC_STATUS_OK) {
            J.tq = tq;
            J.list = (knn_entry *)lsc_malloc(ctx, lbytes, "knn candidate lists");
            J.list_n = J.list ? (int64_t *)lsc_calloc(ctx, (size_t)ctx->threads * (size_t)tq,
                                                      sizeof(int64_t), "knn candidate lists")
                              : NULL;
            if (!J.list_n) s = LSC_STATUS_OUT_OF_MEMORY;
        }
        if (s == LSC_STATUS_OK) s = cpu_tile_run(ctx, &job, p0, p1);
        free(J.list);
        free(J.list_n);
    }
    free(J.buf);
    free(J.hn);
    return s;
}

lsc_status lsc_cpu_knn(lsc_ctx *ctx, const lsc_matrix *queries, const lsc_matrix *base, int64_t k,
                       const lsc_knn_opts *opts, float *dist, int64_t *idx)
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
