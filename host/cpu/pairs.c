/* All-pairs statistics on the CPU (docs/METRICS.md section 3), over tiles of the upper triangle,
 * never storing N x N. The fast form serves the bulk figures; every decision (near-duplicate,
 * nearest neighbour, maximum, histogram bin) whose outcome its error band could change is made on
 * the exact value. Each thread keeps its own partial results, merged in thread order, so a run
 * is bit-identical to another with the same thread count. */
#include "tiles.h"
#include "unif_avx512.h"
#include "../../common/geometry_rules.h"
#include "../../common/pair_figures.h"
#include "../../common/select_rules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int pair_before(const lsc_pair *a, const lsc_pair *b)
{
    return lsc_pair_order(a->d, a->i, a->j, b->d, b->i, b->j);
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

/* (count, mean, M2), merged by lsc_moments_merge (Chan et al.). */
typedef struct {
    double n, mean, m2;
} moments;

static void moments_merge(moments *a, double nb, double mb, double m2b)
{
    lsc_moments_merge(&a->n, &a->mean, &a->m2, nb, mb, m2b);
}

/* Copies of each thread's histogram (up to 4096 bins; one above): consecutive pairs often share
 * a bin, and with one copy every count waited for the previous one's store. Summed at the end:
 * counts are exact whatever the copy. */
static int64_t hist_copies(int64_t bins) { return bins <= 4096 ? 4 : 1; }

/* Per-thread partial results. */
typedef struct {
    double max_v;
    int64_t dups;
    int64_t ndup_heap;
    lsc_pair *dup_heap;
    int64_t *hist; /* hist_copies(bins) x bins: pair j counts in copy j mod copies */
    double *nn;    /* the best exact value this thread has seen for each row: the query set's
                      rows, then (across two sets) the base set's */
    /* the uniformity's scratch for a tile's outliers (unif_tile_of), where the wide form may
     * run: the base rows' s (two floats) and s p with the outliers' 0, the outliers' columns,
     * their s p and s, one row's products with them; utb base rows, ucap outliers at most */
    float *ushi, *uslo, *upf, *uc;
    int64_t *uout;
    double *uosp, *uos;
    int64_t utb, ucap;
    char pad[64];
} pair_part;

void cpu_pair_colsum(const cpu_set *s, double *sum)
{
    const lsc_matrix *m = s->m;
    const size_t es = lsc_dtype_size(m->dtype);
    for (int64_t i = 0; i < s->n; i++) {
        const char *row = (const char *)m->data + (size_t)((s->map ? s->map[i] : i) * m->ld) * es;
        const double scale = s->metric == LSC_M_COSINE ? s->inv_norm[i] : 1.0;
        for (int64_t c = 0; c < s->d; c++)
            sum[c] += (double)lsc_load_f32(row, (int)m->dtype, c) * scale;
    }
}

double cpu_pair_maxdev(const cpu_set *s, const double *mu)
{
    const lsc_matrix *m = s->m;
    const size_t es = lsc_dtype_size(m->dtype);
    double best = 0.0;
    for (int64_t i = 0; i < s->n; i++) {
        const char *row = (const char *)m->data + (size_t)((s->map ? s->map[i] : i) * m->ld) * es;
        const double scale = s->metric == LSC_M_COSINE ? s->inv_norm[i] : 1.0;
        double q = 0.0;
        for (int64_t c = 0; c < s->d; c++) {
            const double v = (double)lsc_load_f32(row, (int)m->dtype, c) * scale;
            q += (v - mu[c]) * (v - mu[c]);
        }
        if (q > best) best = q;
    }
    return best;
}

double cpu_pair_bound(int metric, double maxdev)
{
    const double chord = 2.0 * sqrt(maxdev);
    if (metric != LSC_M_COSINE) return chord;
    const double b = 0.5 * chord * chord;
    return b < 2.0 ? b : 2.0;
}

/* Bound B of docs/METRICS.md section 3 for one set, -1 when out of memory. */
static double hist_upper(lsc_ctx *ctx, const cpu_set *s)
{
    double *mu = (double *)lsc_calloc(ctx, (size_t)s->d, sizeof(double), "the histogram's bound");
    if (!mu) return -1.0;
    cpu_pair_colsum(s, mu);
    for (int64_t c = 0; c < s->d; c++) mu[c] /= (double)s->n;
    const double b = cpu_pair_bound(s->metric, cpu_pair_maxdev(s, mu));
    free(mu);
    return b;
}

typedef struct pair_job {
    const cpu_set *s, *sb; /* the query rows' set and the base rows' (s itself: pairs within s) */
    const int64_t *ida, *idb; /* the row indices reported for s's and sb's rows (NULL: the set's
                                 map, else its own index) */
    int64_t nb_off;           /* where sb's rows start in each part's nn: 0 within s, s->n across */
    int metric;
    double dup_v, upper;
    int64_t bins, cap, tq;
    const double *vedge; /* bins + 1 bin edges in internal values (lsc_hist_edge_v), or NULL */
    pair_part *parts;
    moments *block_mom; /* per query block, merged in block order: the same sums whatever the
                           thread count or schedule */
    /* uniformity (common/geometry_rules.h): each row's p, s, e as three arrays (so the row
     * loop vectorises) and the sum of the pair terms per query block */
    const double *up, *us, *ue;
    const double *bup, *bus, *bue; /* the same for sb's rows (up, us, ue within one set) */
    const double *busp;            /* s p of sb's rows, for unif_avx512.c's loop */
    const float *bsf, *bpf;        /* s and s p of sb's rows in float32, for its float32 path */
    const float *bslo;             /* s - (float)s of sb's rows, for the path's wide form */
    double *block_unif;
    int avx512; /* the rows' terms by unif_avx512.c's loop (cpu_unif_avx512_usable) */
} pair_job;

static inline int64_t row_id(const int64_t *ids, const cpu_set *s, int64_t i)
{
    return ids ? ids[i] : s->map ? s->map[i] : i;
}

/* Stage 1 of a row, branch-free so it vectorises (the metric is a constant at each call):
 * the fast value, its band, and whether any decision (near-duplicate, nearest neighbour,
 * maximum, histogram bin) or the bulk rule needs the exact value. Thresholds read once per row
 * only grow more cautious as the row proceeds (nn falls, max rises): stale ones flag more,
 * never fewer. Returns whether any pair was flagged. */
static inline __attribute__((always_inline)) int
pair_stage1(const cpu_tiles *t, int64_t i, int64_t js, int64_t nj, int64_t j0, const double *nn,
            double nni, double maxv, double dup_v, double scale, int64_t bins, int metric,
            const double *restrict vedge, int edges, int64_t *restrict flag, double *restrict dist)
{
    const double qsq = t->qsq[i];
    const float *restrict crow = t->c + i * nj;
    const double *restrict bsq = t->bsq;
    int64_t any = 0;
    for (int64_t j = js; j < nj; j++) {
        const double vf = qsq + bsq[j] - 2.0 * (double)crow[j];
        const double err = cpu_tile_err(t, qsq, bsq[j]);
        const double vlo = vf - err, vhi = vf + err, vlo0 = vlo > 0.0 ? vlo : 0.0;
        const double x = lsc_dist_from_v(metric, vf > 0.0 ? vf : 0.0);
        double bin;
        int64_t split;
        if (edges) { /* the band within the fast value's bin: two comparisons (lsc_hist_edge_v) */
            bin = lsc_hist_pos(x, scale, bins);
            const int64_t b = (int64_t)bin;
            split = (vlo0 < vedge[b]) | (vhi >= vedge[b + 1]);
        } else { /* the bins of the band's two ends */
            bin = lsc_hist_pos(lsc_dist_from_v(metric, vlo0), scale, bins);
            split = bin != lsc_hist_pos(lsc_dist_from_v(metric, vhi), scale, bins);
        }
        const int64_t need = (int64_t)lsc_bulk_needs_exact(vf, err) | (vlo <= dup_v) |
                             (vlo <= nni) | (vlo <= nn[j0 + j]) | (vhi >= maxv) | split;
        /* -1: decided on the exact value; else the pair's bin (its whole band lies in it) */
        flag[j] = need ? -1 : (int64_t)(int32_t)bin;
        any |= need;
        dist[j] = x;
    }
    return any != 0;
}

/* sum of x[t] (squares 0) or of (x[t] - centre)^2 over t < n, in LSC_EXACT_LANES partial sums
 * (element t in sum t mod 8) added pairwise: a fixed order that vectorises. The one running sum
 * it replaced was a chain of dependent adds, two a pair, a quarter of the pair statistics' time
 * at D = 64. */
static inline __attribute__((always_inline)) double lanes_sum(const double *restrict x, int64_t n,
                                                              int squares, double centre)
{
    double s[LSC_EXACT_LANES] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int64_t t = 0;
    if (!squares) {
        for (; t + LSC_EXACT_LANES <= n; t += LSC_EXACT_LANES)
            for (int l = 0; l < LSC_EXACT_LANES; l++) s[l] += x[t + l];
        for (int l = 0; t + l < n; l++) s[l] += x[t + l];
    } else {
        for (; t + LSC_EXACT_LANES <= n; t += LSC_EXACT_LANES)
            for (int l = 0; l < LSC_EXACT_LANES; l++) {
                const double e = x[t + l] - centre;
                s[l] += e * e;
            }
        for (int l = 0; t + l < n; l++) {
            const double e = x[t + l] - centre;
            s[l] += e * e;
        }
    }
    return lsc_lanes8_total(s);
}

/* A fixed-order float64 sum of a row's uniformity terms in 32 lanes (element t in lane t mod 32),
 * folded to eight then added as lsc_lanes8_total: four independent chains, where the eight of
 * lanes_sum wait on one add's latency each step (an eighth of the uniformity's time). */
static inline __attribute__((always_inline)) double terms_sum(const double *restrict x, int64_t n)
{
    double s[4 * LSC_EXACT_LANES] = {0.0};
    int64_t t = 0;
    for (; t + 4 * LSC_EXACT_LANES <= n; t += 4 * LSC_EXACT_LANES)
        for (int l = 0; l < 4 * LSC_EXACT_LANES; l++) s[l] += x[t + l];
    for (int l = 0; t + l < n; l++) s[l] += x[t + l];
    double e[LSC_EXACT_LANES];
    for (int l = 0; l < LSC_EXACT_LANES; l++)
        e[l] = (s[l] + s[l + LSC_EXACT_LANES]) +
               (s[l + 2 * LSC_EXACT_LANES] + s[l + 3 * LSC_EXACT_LANES]);
    return lsc_lanes8_total(e);
}

/* The uniformity's pair term of row i with base row j of the tile: exp(-t d2), d2 from the
 * pass's own product, so the figure costs no second GEMM. check: also flag the pair if its
 * product is not trusted to 2^-10 (lsc_unif_needs_exact), and return 0 then (the term may be
 * garbage there): the bits masked to +0, not `e ? 0 : v`, which let GCC sink the exp into the
 * branch, and the loop stopped vectorising (2.8x the pass). */
static inline __attribute__((always_inline)) double
unif_term(const cpu_tiles *t, const float *restrict crow, double qsq, lsc_unif_row ri,
          const double *restrict up, const double *restrict us, const double *restrict ue,
          int check, int64_t j, int64_t *restrict flag)
{
    /* ue NULL: every e_j is 1 (no zero row), a constant, one add a pair fewer */
    const lsc_unif_row rj = {up[j], us[j], ue ? ue[j] : 1.0};
    const double v = lsc_unif_term_of((double)crow[j], ri, rj);
    if (!check) return v;
    const int e = lsc_unif_needs_exact(cpu_tile_err(t, qsq, t->bsq[j]), ri, rj);
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= (uint64_t)e - 1u;
    flag[j] = e;
    double m;
    memcpy(&m, &bits, sizeof m);
    return m;
}

/* Sum of row i's terms over pairs j in [js, nj) of the tile: the terms go to `tv` in one flat
 * loop (so it vectorises, in 64-byte vectors where the clone has them: summing them in the same
 * loop, eight lanes a step, went to 32-byte ones), then terms_sum adds them in its fixed
 * order. */
static inline __attribute__((always_inline)) double
unif_terms(const cpu_tiles *t, int64_t i, int64_t js, int64_t nj, lsc_unif_row ri,
           const double *restrict up, const double *restrict us, const double *restrict ue,
           int check, double *restrict tv, int64_t *restrict flag)
{
    /* a copy GCC knows the stores to tv and flag leave alone: read through t, the error bound's
     * terms were loaded again for every pair and the checked loop ran scalar */
    const cpu_tiles tl = *t;
    const float *restrict crow = tl.c + i * nj;
    const double qsq = tl.qsq[i];
    for (int64_t j = js; j < nj; j++)
        tv[j] = unif_term(&tl, crow, qsq, ri, up, us, ue, check, j, flag);
    return terms_sum(tv + js, nj - js);
}

/* Whether any of row i's pairs may need its exact d2 (lsc_unif_row_needs_exact): from the
 * tile's largest s and s |b|^2 of its base rows (smax, sbmax). */
static inline int unif_row_any(const cpu_tiles *t, int64_t i, lsc_unif_row ri, double smax,
                               double sbmax)
{
    return lsc_unif_row_needs_exact(t->E, t->eabs, t->qsq[i], ri, smax, sbmax);
}

/* The sum of row i's terms (unif_terms); *any: whether a pair needs its exact d2 (flagged in
 * `flag`, its term left out). A function of its own, called once a row, so that it alone may
 * fuse multiply-adds (the library is built without: its exact distances match the CUDA
 * module's bit for bit): in the AVX-512 clone the exp's polynomial is a chain of FMAs, half
 * the instructions; the terms are held to far less than a fused rounding moves them. smax,
 * sbmax: the largest s and s |b|^2 among the tile's base rows, so that one test clears the
 * whole row (unif_row_any); the pairs left out are read back from `flag`, never re-derived, so
 * a rounding of the test cannot drop or double a term. */
LSC_CPU_CLONES __attribute__((noinline, optimize("fp-contract=fast"))) static double
unif_row_terms(const cpu_tiles *t, int64_t i, int64_t js, int64_t nj, lsc_unif_row ri,
               const double *restrict up, const double *restrict us, const double *restrict ue,
               double smax, double sbmax, int ones, double *restrict tv, int64_t *restrict flag,
               int *any)
{
    *any = unif_row_any(t, i, ri, smax, sbmax);
    if (*any) return unif_terms(t, i, js, nj, ri, up, us, ue, 1, tv, flag);
    return ones ? unif_terms(t, i, js, nj, ri, up, us, NULL, 0, tv, flag)
                : unif_terms(t, i, js, nj, ri, up, us, ue, 0, tv, flag);
}

/* Whether each of row i's pairs j in [js, nj) needs its exact d2 (lsc_unif_needs_exact), in
 * `flag`: the test of unif_term alone, for unif_avx512.c's loop. */
LSC_CPU_CLONES __attribute__((noinline)) static void
unif_flags(const cpu_tiles *t, int64_t i, int64_t js, int64_t nj, lsc_unif_row ri,
           const double *restrict us, const double *restrict ue, int64_t *restrict flag)
{
    const cpu_tiles tl = *t; /* as in unif_terms: so that the loop vectorises */
    const double qsq = tl.qsq[i];
    for (int64_t j = js; j < nj; j++) {
        const lsc_unif_row rj = {0.0, us[j], ue[j]};
        flag[j] = lsc_unif_needs_exact(cpu_tile_err(&tl, qsq, tl.bsq[j]), ri, rj);
    }
}

/* Base rows as the float32 forms' admissions see them (lsc_unif_f32_fits): the largest s, the
 * smallest and largest r = ||x - m|| s and the largest s |p|; gathered as r^2 = |b|^2 s^2 (one
 * square root per tile, unif_stats_done, not one per row). */
typedef struct unif_stats {
    double smax, rmin, rmax, spmax;
} unif_stats;

static const unif_stats unif_stats_none = {0.0, INFINITY, 0.0, 0.0};

static inline void unif_stats_add(unif_stats *st, double sj, double bsq, double spj)
{
    const double r2 = bsq * sj * sj;
    if (sj > st->smax) st->smax = sj;
    if (r2 < st->rmin) st->rmin = r2;
    if (r2 > st->rmax) st->rmax = r2;
    if (spj > st->spmax) st->spmax = spj;
}

static inline void unif_stats_done(unif_stats *st)
{
    st->rmin = sqrt(st->rmin);
    st->rmax = sqrt(st->rmax);
}

/* A base row is an outlier of its tile where its s exceeds this many times the tile's mean s:
 * a row near the origin. Its s enters the float32 forms' bounds through s_i s_j |p_i| and its
 * r (which may be well below 1 there) through the budget, so one such row kept every row of its
 * tile off the wide form: rows around the origin at D = 2 (lsc_bench's gen:6000:2, tiles of
 * about 1,500 base rows), where a tile holds a few with s of 20 to 100 against a mean of about
 * 1.25. Left out of the wide form and summed by the float64 loop instead, about 56 such rows a
 * tile (4%) let 94% of the rows take it (3% before); 4 times the mean leaves fewer out and
 * admits fewer rows, 2.5 times more and costs more, both measured slower. Those measurements
 * were made before D = 2 (and D = 3 from 1,025 rows) took the rows' harmonics; the tiles that
 * still run it are D = 3 below that and rows the float32 path turns away at larger D (on a tile
 * of 1,500 Gaussian rows at D = 3, 807 rows admitted without the split, 1,499 with it), where
 * its gain in time was not measured apart. */
#define LSC_UNIF_OUTLIER_S 3.0

/* The most outliers a tile of nb base rows may have: beyond it, every row keeps its admission
 * on all of them (the outliers' float64 terms and their gathered products would cost more
 * than the wide form saves). */
static inline int64_t unif_outlier_cap(int64_t nb) { return nb / 8 + 8; }

/* A tile's base rows as the uniformity's row tests see them: the largest s and s |b|^2
 * (unif_row_any) and whether every e_j is 1; `all` for the admissions of both float32 forms on
 * every base row, `core` (all but the outliers, where split is 1) for the wide form's that
 * leaves the outliers out (their s, s_lo and s p set to 0 in oshi, oslo, opf) and sums them
 * with the float64 loop (their products gathered to oc). The split is made when a row first
 * needs it (unif_tile_split): where the float32 path or the wide form fits every row, never. */
typedef struct unif_tile {
    double sbmax;
    unif_stats all, core;
    int ones;
    int split; /* -1: not yet tried, 0: none (or not possible), 1: made */
    double cut;
    const pair_job *J;
    const pair_part *P;
    const cpu_tiles *t;
    int64_t j0, nj;
    int64_t nout;
    const int64_t *out; /* the outliers' columns, ascending */
    const float *oshi, *oslo, *opf;
    const double *osp, *os; /* the outliers' s p and s */
    float *oc;
} unif_tile;

/* The tile's base rows [j0, j0 + nj) as unif_tile, the split left for unif_tile_split; none
 * where the wide form cannot run (no AVX-512, a base row with e_j 0). */
static __attribute__((noinline)) void unif_tile_of(const pair_job *J, const pair_part *P,
                                                   const cpu_tiles *t, int64_t j0, int64_t nj,
                                                   unif_tile *u)
{
    const double *bus = J->bus + j0, *busp = J->busp + j0;
    u->sbmax = 0.0;
    u->all = unif_stats_none;
    u->ones = 1;
    u->nout = 0;
    u->J = J;
    u->P = P;
    u->t = t;
    u->j0 = j0;
    u->nj = nj;
    double ssum = 0.0;
    for (int64_t j = 0; j < nj; j++) {
        const double sj = bus[j];
        unif_stats_add(&u->all, sj, t->bsq[j], fabs(busp[j]));
        if (sj * t->bsq[j] > u->sbmax) u->sbmax = sj * t->bsq[j];
        u->ones &= J->bue[j0 + j] == 1.0;
        ssum += sj;
    }
    unif_stats_done(&u->all);
    u->core = u->all;
    u->split = J->avx512 && u->ones && P->ushi && nj <= P->utb ? -1 : 0;
    u->cut = LSC_UNIF_OUTLIER_S * (ssum / (double)nj);
}

#if LSC_CPU_UNIF_AVX512
/* Splits the tile's outliers (LSC_UNIF_OUTLIER_S) from its core if they are few
 * (unif_outlier_cap); returns u->split. */
static __attribute__((noinline)) int unif_tile_split(unif_tile *u)
{
    const pair_job *J = u->J;
    const pair_part *P = u->P;
    const int64_t j0 = u->j0, nj = u->nj;
    const double *bus = J->bus + j0, *busp = J->busp + j0, *bsq = u->t->bsq, cut = u->cut;
    int64_t n = 0;
    for (int64_t j = 0; j < nj; j++) n += bus[j] > cut;
    u->split = 0;
    if (n == 0 || n > unif_outlier_cap(nj)) return 0; /* nj <= utb: within P's ucap */
    u->core = unif_stats_none;
    for (int64_t j = 0; j < nj; j++) {
        const double sj = bus[j];
        if (sj > cut) {
            P->uout[u->nout] = j;
            P->uosp[u->nout] = busp[j];
            P->uos[u->nout] = sj;
            u->nout++;
            P->ushi[j] = P->uslo[j] = P->upf[j] = 0.0f;
        } else {
            unif_stats_add(&u->core, sj, bsq[j], fabs(busp[j]));
            P->ushi[j] = J->bsf[j0 + j];
            P->uslo[j] = J->bslo[j0 + j];
            P->upf[j] = J->bpf[j0 + j];
        }
    }
    unif_stats_done(&u->core);
    u->out = P->uout;
    u->oshi = P->ushi;
    u->oslo = P->uslo;
    u->opf = P->upf;
    u->osp = P->uosp;
    u->os = P->uos;
    u->oc = P->uc;
    u->split = 1;
    return 1;
}

/* The float64 loop's sum over the tile's outliers from the k0-th on, for the row whose products
 * are crow: their products gathered to one contiguous run first. */
static __attribute__((noinline)) double unif_outliers(const unif_tile *u, int64_t k0,
                                                      const float *crow, lsc_unif_row ri)
{
    for (int64_t k = k0; k < u->nout; k++) u->oc[k - k0] = crow[u->out[k]];
    return cpu_unif_row_avx512(u->oc, u->nout - k0, ri, u->osp + k0, u->os + k0, NULL, NULL);
}
#endif

/* Sum of the uniformity's pair terms over row i's pairs j in [js, nj) of the tile: those of
 * unif_row_terms, or with AVX-512 of unif_avx512.c's loops: the float32 path where its bound
 * fits the row's budget on every base row, else its wide form where its bound does, else the
 * wide form on the tile's core where its bound fits there, the outliers' terms by the float64
 * loop, else the float64 loop with the same flags as unif_row_terms; then the flagged pairs'
 * from their exact d2 (from the float32 rows). sf, slo, pf: the base rows' float32 s, s - (float)s
 * and s p. xs_i, xs: the scales of the exact form (1 / norm of the raw rows). Not inlined, so
 * that its tests count in the uniformity's share of perf's samples (bench/RESULTS.md), not the
 * pass's: one call a row of a tile. */
static __attribute__((noinline)) double
unif_row_sum(const cpu_tiles *t, int64_t i, int64_t js, int64_t nj, lsc_unif_row ri,
             const double *restrict up, const double *restrict us, const double *restrict ue,
             const double *restrict usp, const float *restrict sf, const float *restrict slo,
             const float *restrict pf, unif_tile *u, int avx512, double xs_i,
             const double *restrict xs, int64_t d, double *restrict tv, int64_t *restrict flag)
{
    int any;
    double sum;
    const float *crow = t->c + i * nj;
#if LSC_CPU_UNIF_AVX512
    if (avx512) {
        /* the same row test and per-pair flags as unif_row_terms */
        any = unif_row_any(t, i, ri, u->all.smax, u->sbmax);
        const double r_i = sqrt(t->qsq[i]) * ri.s;
        const unif_stats *a = &u->all, *c = &u->core;
        if (!any && u->ones && lsc_unif_f32_fits(ri, r_i, a->rmin, a->rmax, a->smax, a->spmax, d))
            sum =
                cpu_unif_row_avx512_f32(crow + js, nj - js, lsc_unif_f32_row(ri), sf + js, pf + js);
        else if (!any && u->ones &&
                 lsc_unif_f32w_fits(ri, r_i, a->rmin, a->rmax, a->smax, a->spmax, d))
            sum = cpu_unif_row_avx512_f32w(crow + js, nj - js, lsc_unif_f32_row(ri), sf + js,
                                           slo + js, pf + js, 0);
        else if (!any && u->split && (u->split > 0 || unif_tile_split(u)) &&
                 lsc_unif_f32w_fits(ri, r_i, c->rmin, c->rmax, c->smax, c->spmax, d)) {
            /* the outliers from js on: left out of the wide form's sum, then their own */
            int64_t k0 = 0;
            while (k0 < u->nout && u->out[k0] < js) k0++;
            sum = cpu_unif_row_avx512_f32w(crow + js, nj - js, lsc_unif_f32_row(ri), u->oshi + js,
                                           u->oslo + js, u->opf + js, k0 < u->nout);
            if (k0 < u->nout) sum += unif_outliers(u, k0, crow, ri);
        } else {
            if (any) unif_flags(t, i, js, nj, ri, us, ue, flag);
            sum = cpu_unif_row_avx512(crow + js, nj - js, ri, usp + js, us + js,
                                      u->ones ? NULL : ue + js, any ? flag + js : NULL);
        }
    } else
#endif
        sum = unif_row_terms(t, i, js, nj, ri, up, us, ue, u->all.smax, u->sbmax, u->ones, tv, flag,
                             &any);
    (void)avx512;
    (void)usp;
    (void)sf;
    (void)slo;
    (void)pf;
    (void)crow;
    for (int64_t j = js; any && j < nj; j++)
        if (flag[j])
            sum += lsc_unif_term(
                lsc_unif_exact_d2(t->qr + i * t->qld, t->br + j * t->bld, d, xs_i, xs[j]));
    return sum;
}

LSC_CPU_CLONES static void pair_tile(void *user, int tid, const cpu_tiles *t, int64_t i0,
                                     int64_t ni, int64_t j0, int64_t nj)
{
    const pair_job *J = (const pair_job *)user;
    const cpu_set *s = J->s, *sb = J->sb;
    const int cross = s != sb;
    const int metric = J->metric;
    const int64_t bins = J->bins;
    const double scale = lsc_hist_scale(J->upper, J->bins), dup_v = J->dup_v;
    pair_part *P = &J->parts[tid];
    moments *bm = &J->block_mom[i0 / J->tq];
    double *dist = t->bw;    /* this row's distances, for its segment's moments */
    int64_t *flag = t->flag; /* -1: decided on the exact value, else the pair's bin */
    const int64_t copy_mask = hist_copies(bins) - 1;
    double *nnb = P->nn + J->nb_off; /* the base rows' */
    /* the uniformity: the tile's base rows as its row tests see them */
    unif_tile ut;
    if (J->block_unif) unif_tile_of(J, P, t, j0, nj, &ut);
    for (int64_t i = 0; i < ni; i++) {
        const int64_t gi = i0 + i;
        const double qsq = t->qsq[i];
        const float *crow = t->c + i * nj;
        const int64_t js = cross ? 0 : gi + 1 > j0 ? gi + 1 - j0 : 0;
        if (js >= nj) continue;
        /* stage 1, branch-free so it vectorises: the fast value, its band, and whether any
         * decision (near-duplicate, nearest neighbour, maximum, histogram bin) or the bulk rule
         * needs the exact value. Thresholds read once per row only grow more cautious as the
         * row proceeds (nn falls, max rises), so stale ones flag more, never fewer. */
        const int any =
            metric == LSC_M_COSINE ? pair_stage1(t, i, js, nj, j0, nnb, P->nn[gi], P->max_v, dup_v,
                                                 scale, bins, LSC_M_COSINE, NULL, 0, flag, dist)
            : J->vedge ? pair_stage1(t, i, js, nj, j0, nnb, P->nn[gi], P->max_v, dup_v, scale, bins,
                                     LSC_M_EUCLIDEAN, J->vedge, 1, flag, dist)
                       : pair_stage1(t, i, js, nj, j0, nnb, P->nn[gi], P->max_v, dup_v, scale, bins,
                                     LSC_M_EUCLIDEAN, NULL, 0, flag, dist);
        /* stage 2, rare: the exact value decides; the bulk figures take it only by the pair's
         * own rule, so they do not depend on which thread happened to recompute the pair */
        for (int64_t j = js; any && j < nj; j++) {
            if (flag[j] >= 0) continue;
            const int64_t gj = j0 + j;
            const double vf = qsq + t->bsq[j] - 2.0 * (double)crow[j];
            const double ve = cpu_exact(s, gi, t->qr + i * t->qld, sb, gj, t->br + j * t->bld);
            if (ve < P->nn[gi]) P->nn[gi] = ve;
            if (ve < nnb[gj]) nnb[gj] = ve;
            if (ve > P->max_v) P->max_v = ve;
            if (ve <= dup_v) {
                P->dups++;
                lsc_pair pr;
                pr.i = row_id(J->ida, s, gi);
                pr.j = row_id(J->idb, sb, gj);
                if (pr.i > pr.j) { /* across two sets the base rows may come first */
                    pr.i = pr.j;
                    pr.j = row_id(J->ida, s, gi);
                }
                pr.d = lsc_dist_from_v(metric, ve);
                dup_offer(P->dup_heap, &P->ndup_heap, J->cap, pr);
            }
            P->hist[lsc_hist_bin(lsc_dist_from_v(metric, ve), scale, bins)]++;
            if (lsc_bulk_needs_exact(vf, cpu_tile_err(t, qsq, t->bsq[j])))
                dist[j] = lsc_dist_from_v(metric, ve);
        }
        /* the other pairs' bins, found in stage 1: their band lies in one bin, the exact
         * value's too */
        for (int64_t j = js; j < nj; j++)
            if (flag[j] >= 0) P->hist[(j & copy_mask) * bins + flag[j]]++;
        /* this row's segment: mean, then M2 around it, in float64; merged below (Chan) */
        const double cnt = (double)(nj - js);
        const double mean = lanes_sum(dist + js, nj - js, 0, 0.0) / cnt;
        moments_merge(bm, cnt, mean, lanes_sum(dist + js, nj - js, 1, mean));
        if (!J->block_unif) continue; /* the uniformity was not asked for */
        const lsc_unif_row ri = {J->up[gi], J->us[gi], J->ue[gi]};
        const double *xs = metric == LSC_M_COSINE ? s->inv_norm : J->us;
        const double *xb = metric == LSC_M_COSINE ? sb->inv_norm : J->bus;
        /* `dist` and `flag` are free again: the moments and the histogram above read them */
        J->block_unif[i0 / J->tq] += unif_row_sum(
            t, i, js, nj, ri, J->bup + j0, J->bus + j0, J->bue + j0, J->busp + j0, J->bsf + j0,
            J->bslo + j0, J->bpf + j0, &ut, J->avx512, xs[gi], xb + j0, s->d, dist, flag);
    }
}

/* The uniformity's per-row values (common/geometry_rules.h) of every row of the set: euclidean
 * from the raw row and the set's centre, cosine constants (the tiles hold normalised rows).
 * O(N D) once, against the pass's O(N^2 D). */
static lsc_status unif_rows(lsc_ctx *ctx, const cpu_set *s, double *up, double *us, double *ue)
{
    const int cosine = s->metric == LSC_M_COSINE;
    float *buf = (float *)lsc_malloc(ctx, (size_t)s->d * sizeof(float), "uniformity row");
    if (!buf) return LSC_STATUS_OUT_OF_MEMORY;
    for (int64_t i = 0; i < s->n; i++) {
        const lsc_unif_row r =
            lsc_unif_row_of(cpu_set_raw_row(s, i, buf), s->d, cosine ? NULL : s->centre);
        up[i] = r.p;
        us[i] = r.s;
        ue[i] = r.e;
    }
    free(buf);
    return LSC_STATUS_OK;
}

/* The set's rows at D = 1 counted by sign (lsc_unif_sign_sum): c[0] positive, c[1] negative,
 * c[2] zero. */
static void unif_signs(const cpu_set *s, double c[3])
{
    c[0] = c[1] = c[2] = 0.0;
    for (int64_t i = 0; i < s->n; i++) {
        float buf;
        const float v = *cpu_set_raw_row(s, i, &buf);
        c[v > 0.0f ? 0 : v < 0.0f ? 1 : 2] += 1.0;
    }
}

/* The set's rows at D = 2 as sums of their harmonics (lsc_unif_circle_sum), in blocks of 256
 * rows so that a sum's roundings grow with 256 + N / 256, not N. */
static void unif_circle(const cpu_set *s, lsc_unif_circle *c)
{
    memset(c, 0, sizeof *c);
    lsc_unif_circle blk;
    for (int64_t i0 = 0; i0 < s->n; i0 += 256) {
        memset(&blk, 0, sizeof blk);
        for (int64_t i = i0; i < s->n && i < i0 + 256; i++) {
            float buf[2];
            double u[2];
            if (lsc_unif_unit(cpu_set_raw_row(s, i, buf), 2, u))
                lsc_unif_circle_add(&blk, u[0], u[1]);
            else blk.zero += 1.0;
        }
        lsc_unif_circle_merge(c, &blk);
    }
}

/* The set's rows at D = 3 as sums of their harmonics (lsc_unif_sphere_sum), LSC_UNIF_LANES
 * rows a call, in blocks of 256 rows (acc: LSC_UNIF_SPHERE_TERMS x LSC_UNIF_LANES scratch). */
LSC_CPU_CLONES static void unif_sphere(const cpu_set *s, const lsc_unif_sphere_k *k,
                                       double (*acc)[LSC_UNIF_LANES], lsc_unif_sphere *c)
{
    memset(c, 0, sizeof *c);
    for (int64_t i0 = 0; i0 < s->n; i0 += 256) {
        const int64_t i1 = s->n < i0 + 256 ? s->n : i0 + 256;
        memset(acc, 0, LSC_UNIF_SPHERE_TERMS * sizeof *acc);
        for (int64_t g = i0; g < i1; g += LSC_UNIF_LANES) {
            double u1[LSC_UNIF_LANES], u2[LSC_UNIF_LANES], u3[LSC_UNIF_LANES], wt[LSC_UNIF_LANES];
            for (int v = 0; v < LSC_UNIF_LANES; v++) {
                double u[3] = {0.0, 0.0, 0.0};
                float buf[3];
                wt[v] = g + v < i1 && lsc_unif_unit(cpu_set_raw_row(s, g + v, buf), 3, u);
                if (g + v < i1 && wt[v] == 0.0) c->zero += 1.0;
                u1[v] = u[0];
                u2[v] = u[1];
                u3[v] = u[2];
            }
            lsc_unif_sphere_add(acc, k, u1, u2, u3, wt);
        }
        for (int e = 0; e < LSC_UNIF_SPHERE_TERMS; e++) {
            double t = 0.0;
            for (int v = 0; v < LSC_UNIF_LANES; v++) t += acc[e][v];
            c->s[e] += t;
        }
    }
}

lsc_status cpu_pair_acc_init(lsc_ctx *ctx, cpu_pair_acc *acc, int64_t bins, int64_t cap)
{
    memset(acc, 0, sizeof *acc);
    acc->max_v = -1.0;
    acc->hist = (int64_t *)lsc_calloc(ctx, (size_t)bins, sizeof(int64_t), "histogram");
    acc->dup =
        acc->hist ? (lsc_pair *)lsc_malloc(ctx, (size_t)cap * sizeof(lsc_pair), "pairs") : NULL;
    if (!acc->dup) {
        cpu_pair_acc_free(acc);
        return LSC_STATUS_OUT_OF_MEMORY;
    }
    return LSC_STATUS_OK;
}

void cpu_pair_acc_free(cpu_pair_acc *acc)
{
    free(acc->hist);
    free(acc->dup);
    acc->hist = NULL;
    acc->dup = NULL;
}

void cpu_pair_acc_merge(cpu_pair_acc *into, const cpu_pair_acc *from, int64_t bins, int64_t cap)
{
    lsc_moments_merge(&into->n, &into->mean, &into->m2, from->n, from->mean, from->m2);
    into->unif += from->unif;
    if (from->max_v > into->max_v) into->max_v = from->max_v;
    into->dups += from->dups;
    for (int64_t e = 0; e < from->ndup; e++) dup_offer(into->dup, &into->ndup, cap, from->dup[e]);
    for (int64_t b = 0; b < bins; b++) into->hist[b] += from->hist[b];
}

lsc_status cpu_pair_pass(lsc_ctx *ctx, const cpu_set *a, const int64_t *ida, const cpu_set *b,
                         const int64_t *idb, const lsc_pair_opts *opts, double upper,
                         cpu_pair_acc *acc, double *nn_a, double *nn_b, double p0, double p1)
{
    const int metric = (int)opts->metric;
    const int64_t bins = opts->bins, cap = opts->dup_report;
    const int cross = b != NULL;
    if (!b) b = a;
    const int64_t na = a->n, nall = cross ? a->n + b->n : a->n;
    const int T = ctx->threads;
    pair_job J;
    memset(&J, 0, sizeof J);
    J.s = a;
    J.sb = b;
    J.ida = ida;
    J.idb = cross ? idb : ida;
    J.nb_off = cross ? na : 0;
    J.metric = metric;
    J.dup_v = lsc_v_from_dist(metric, opts->dup_eps);
    J.upper = upper;
    J.bins = bins;
    J.cap = cap;
    double *urows = NULL;
    cpu_tile_job job = {a, b, cross ? CPU_TILES_ALL : CPU_TILES_UPPER, 0, 0, &J, pair_tile, NULL,
                        0, 0};
    int64_t tb = 0;
    lsc_status st = cpu_tile_plan(ctx, &job, &J.tq, &tb);
    const int64_t nblocks = st == LSC_STATUS_OK ? (na + J.tq - 1) / J.tq : 0;
    if (st == LSC_STATUS_OK) {
        J.parts = (pair_part *)lsc_calloc(ctx, (size_t)T, sizeof(pair_part), "pair partials");
        J.block_mom =
            J.parts ? (moments *)lsc_calloc(ctx, (size_t)nblocks, sizeof(moments), "pair moments")
                    : NULL;
        if (!J.block_mom) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    /* the uniformity only when asked: at D = 1 from the rows' signs, exactly
     * (lsc_unif_sign_sum), at D = 2 from their harmonics (lsc_unif_circle_sum), at D = 3 from
     * their spherical harmonics where a row has enough pairs (lsc_unif_sphere_sum), all O(N);
     * else an exp per pair */
    if (st == LSC_STATUS_OK && opts->uniformity && a->d == 1) {
        double ca[3], cb[3];
        unif_signs(a, ca);
        if (cross) unif_signs(b, cb);
        acc->unif += cross ? lsc_unif_sign_sum(ca, cb) : lsc_unif_sign_sum1(ca);
    } else if (st == LSC_STATUS_OK && opts->uniformity && a->d == 2) {
        lsc_unif_circle ca, cb;
        double w[LSC_UNIF_HARMONICS];
        lsc_unif_circle_weights(w);
        unif_circle(a, &ca);
        if (cross) unif_circle(b, &cb);
        acc->unif += cross ? lsc_unif_circle_sum(&ca, &cb, w) : lsc_unif_circle_sum1(&ca, w);
    } else if (st == LSC_STATUS_OK && opts->uniformity && a->d == 3 &&
               (cross ? (double)na * (double)b->n : 0.5 * (double)na * (double)(na - 1)) >=
                   LSC_UNIF_SPHERE_PAIRS * (double)nall) {
        /* the harmonics, where they cost less than the pairs' terms */
        lsc_unif_sphere_k *k = (lsc_unif_sphere_k *)lsc_malloc(
            ctx,
            sizeof *k + 2 * sizeof(lsc_unif_sphere) +
                LSC_UNIF_SPHERE_TERMS * sizeof(double[LSC_UNIF_LANES]),
            "uniformity harmonics");
        if (!k) st = LSC_STATUS_OUT_OF_MEMORY;
        else {
            lsc_unif_sphere *ca = (lsc_unif_sphere *)(k + 1), *cb = ca + 1;
            double(*lanes)[LSC_UNIF_LANES] = (double(*)[LSC_UNIF_LANES])(cb + 1);
            lsc_unif_sphere_init(k);
            unif_sphere(a, k, lanes, ca);
            if (cross) unif_sphere(b, k, lanes, cb);
            acc->unif += cross ? lsc_unif_sphere_sum(ca, cb, k) : lsc_unif_sphere_sum1(ca, k);
            free(k);
        }
    } else if (st == LSC_STATUS_OK && opts->uniformity) {
        J.block_unif =
            (double *)lsc_calloc(ctx, (size_t)nblocks, sizeof(double), "uniformity sums");
        urows = J.block_unif ? (double *)lsc_malloc(ctx, (size_t)nall * 6 * sizeof(double),
                                                    "uniformity rows")
                             : NULL;
        if (!urows) st = LSC_STATUS_OUT_OF_MEMORY;
        else {
            J.up = urows;
            J.us = urows + nall;
            J.ue = urows + 2 * nall;
            st = unif_rows(ctx, a, urows, urows + nall, urows + 2 * nall);
            if (st == LSC_STATUS_OK && cross)
                st = unif_rows(ctx, b, urows + na, urows + nall + na, urows + 2 * nall + na);
            J.bup = J.up + J.nb_off;
            J.bus = J.us + J.nb_off;
            J.bue = J.ue + J.nb_off;
            J.avx512 = cpu_unif_avx512_usable();
            double *usp = urows + 3 * nall;
            /* the float32 path's s and s p (lsc_unif_f32_z): the fifth nall doubles as floats;
             * the wide form's s - (float)s (lsc_unif_f32w_z) in the sixth */
            float *sf = (float *)(urows + 4 * nall), *pf = sf + nall;
            float *slo = (float *)(urows + 5 * nall);
            for (int64_t k = 0; k < nall; k++) {
                usp[k] = J.us[k] * J.up[k];
                sf[k] = (float)J.us[k];
                pf[k] = (float)usp[k];
                slo[k] = (float)(J.us[k] - (double)sf[k]);
            }
            J.busp = usp + J.nb_off;
            J.bsf = sf + J.nb_off;
            J.bpf = pf + J.nb_off;
            J.bslo = slo + J.nb_off;
        }
    }
    for (int p = 0; p < T && st == LSC_STATUS_OK; p++) {
        pair_part *P = &J.parts[p];
        P->max_v = -1.0;
        P->hist = (int64_t *)lsc_calloc(ctx, (size_t)(bins * hist_copies(bins)), sizeof(int64_t),
                                        "histogram");
        P->nn =
            P->hist ? (double *)lsc_malloc(ctx, (size_t)nall * sizeof(double), "nearest") : NULL;
        P->dup_heap =
            P->nn ? (lsc_pair *)lsc_malloc(ctx, (size_t)cap * sizeof(lsc_pair), "pairs") : NULL;
        if (!P->dup_heap) st = LSC_STATUS_OUT_OF_MEMORY;
        else
            for (int64_t i = 0; i < nall; i++) P->nn[i] = INFINITY;
        /* the scratch for the tiles' outliers (unif_tile_of), one block: 3 tb floats (rounded
         * up to 8 bytes), then ucap columns, s p, s (8 bytes each) and products (4) */
        if (st == LSC_STATUS_OK && J.block_unif && J.avx512 && tb > 0) {
            const int64_t ucap = unif_outlier_cap(tb);
            const size_t fl = ((size_t)(3 * tb) * sizeof(float) + 7u) & ~(size_t)7u;
            char *mem = (char *)lsc_malloc(ctx, fl + (size_t)ucap * 28u, "uniformity outliers");
            if (!mem) st = LSC_STATUS_OUT_OF_MEMORY;
            else {
                P->ushi = (float *)mem;
                P->uslo = P->ushi + tb;
                P->upf = P->uslo + tb;
                P->uout = (int64_t *)(mem + fl);
                P->uosp = (double *)(P->uout + ucap);
                P->uos = P->uosp + ucap;
                P->uc = (float *)(P->uos + ucap);
                P->utb = tb;
                P->ucap = ucap;
            }
        }
    }
    /* euclidean: the bins' edges in internal values, for up to 65,536 bins, spare each pair the
     * square roots of its band's ends (20,000 x 64: 0.88 s -> 0.70 s); the same flags and bins
     * either way. Cosine bins v / 2, cheaper than the edges' table lookups. */
    double *vedge = NULL;
    if (st == LSC_STATUS_OK && metric == LSC_M_EUCLIDEAN && bins <= 65536) {
        vedge = (double *)lsc_malloc(ctx, (size_t)(bins + 1) * sizeof(double), "histogram edges");
        if (!vedge) st = LSC_STATUS_OUT_OF_MEMORY;
        else {
            lsc_hist_edges_v(metric, lsc_hist_scale(upper, bins), bins, vedge);
            J.vedge = vedge;
        }
    }
    if (st == LSC_STATUS_OK) st = cpu_tile_run(ctx, &job, p0, p1);

    if (st == LSC_STATUS_OK) {
        /* per query block in block order, per thread in thread order: fixed for a thread count */
        for (int64_t k = 0; k < nblocks; k++) {
            lsc_moments_merge(&acc->n, &acc->mean, &acc->m2, J.block_mom[k].n, J.block_mom[k].mean,
                              J.block_mom[k].m2);
            if (J.block_unif) acc->unif += J.block_unif[k];
        }
        for (int p = 0; p < T; p++) {
            const pair_part *P = &J.parts[p];
            if (P->max_v > acc->max_v) acc->max_v = P->max_v;
            acc->dups += P->dups;
            for (int64_t i = 0; i < na; i++)
                if (P->nn[i] < nn_a[i]) nn_a[i] = P->nn[i];
            for (int64_t i = 0; cross && i < b->n; i++)
                if (P->nn[na + i] < nn_b[i]) nn_b[i] = P->nn[na + i];
            for (int64_t e = 0; e < P->ndup_heap; e++)
                dup_offer(acc->dup, &acc->ndup, cap, P->dup_heap[e]);
        }
        for (int64_t k = 0; k < bins; k++) {
            int64_t c = 0;
            for (int p = 0; p < T; p++)
                for (int64_t h = 0; h < hist_copies(bins); h++) c += J.parts[p].hist[h * bins + k];
            acc->hist[k] += c;
        }
    }
    if (J.parts)
        for (int p = 0; p < T; p++) {
            free(J.parts[p].hist);
            free(J.parts[p].nn);
            free(J.parts[p].dup_heap);
            free(J.parts[p].ushi);
        }
    free(J.parts);
    free(J.block_mom);
    free(J.block_unif);
    free(urows);
    free(vedge);
    return st;
}

void cpu_pair_finish(const lsc_pair_opts *opts, cpu_pair_acc *acc, double *nn_v, int64_t n,
                     double upper, lsc_pair_result *out, int64_t *histogram, lsc_pair *near_dups)
{
    lsc_pair_figures((int)opts->metric, acc->n, acc->mean, acc->m2, acc->max_v, nn_v, n,
                     opts->uniformity != 0, acc->unif, out);
    out->near_duplicate_pairs = acc->dups;
    out->hist_upper = upper;
    qsort(acc->dup, (size_t)acc->ndup, sizeof(lsc_pair), cmp_pair);
    out->near_duplicates_listed = near_dups ? acc->ndup : 0;
    if (near_dups && acc->ndup) memcpy(near_dups, acc->dup, (size_t)acc->ndup * sizeof(lsc_pair));
    if (histogram) memcpy(histogram, acc->hist, (size_t)opts->bins * sizeof(int64_t));
}

lsc_status lsc_cpu_pair_stats(lsc_ctx *ctx, const lsc_matrix *x, const int64_t *subset, int64_t n,
                              const lsc_pair_opts *opts, lsc_pair_result *out, int64_t *histogram,
                              lsc_pair *near_dups)
{
    cpu_set s;
    LSC_TRY(cpu_set_init(ctx, &s, x, subset, n, (int)opts->metric, NULL));
    cpu_pair_acc acc;
    memset(&acc, 0, sizeof acc);
    double *nn = NULL;
    const double upper = hist_upper(ctx, &s);
    lsc_status st = upper < 0 ? LSC_STATUS_OUT_OF_MEMORY /* lsc_calloc recorded the message */
                              : cpu_pair_acc_init(ctx, &acc, opts->bins, opts->dup_report);
    if (st == LSC_STATUS_OK) {
        nn = (double *)lsc_malloc(ctx, (size_t)n * sizeof(double), "nearest");
        if (!nn) st = LSC_STATUS_OUT_OF_MEMORY;
        for (int64_t i = 0; nn && i < n; i++) nn[i] = INFINITY;
    }
    if (st == LSC_STATUS_OK)
        st = cpu_pair_pass(ctx, &s, NULL, NULL, NULL, opts, upper, &acc, nn, NULL, 0, 1);
    if (st == LSC_STATUS_OK) cpu_pair_finish(opts, &acc, nn, n, upper, out, histogram, near_dups);
    free(nn);
    cpu_pair_acc_free(&acc);
    cpu_set_free(&s);
    return st;
}
