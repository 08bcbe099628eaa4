/* All-pairs statistics of a sharded set (lsc.h section 12, docs/METRICS.md section 3). Each pair
 * of rows is computed once across the ranks: rank r takes the pairs within its shard, then those
 * against the shards that reach it round the ring from ranks r - 1 .. r - floor(P / 2). For even
 * P the block of ranks lo < hi = lo + P / 2 is split by lo's rows: hi takes lo's first half
 * against its own shard, so only that half's rows travel on to hi (with every row's index and
 * nearest value, for the gather), and lo takes its second half against hi's whole shard. One of
 * the two must hold the other's whole shard to cover the block, so lo still receives all of hi's;
 * the split evens the work and halves hi's last receive. Every block is the one pass
 * of lsc_pair_stats (host/cpu/pairs.c), so each decision is made on the same exact value as one
 * process makes it; the histogram's bound is computed in one process's very order. */
#include "sharded.h"
#include "validate.h"
#include "cpu/tiles.h"

#include "../common/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHAT "lsc_pair_stats_sharded"

/* A shard as it travels: n global row indices, n nearest exact values so far (those of its rows'
 * pairs computed on the ranks it has visited), n float32 rows of d columns. */
typedef struct shard_view {
    int64_t n, *ids;
    double *nn;
    float *rows;
} shard_view;

static size_t shard_row_bytes(int64_t d) { return 2 * sizeof(int64_t) + (size_t)d * sizeof(float); }

/* The bytes of a shard of n rows of which only the first `with_rows` carry their float32 rows. */
static size_t shard_bytes(int64_t n, int64_t with_rows, int64_t d)
{
    return (size_t)n * 2 * sizeof(int64_t) + (size_t)with_rows * (size_t)d * sizeof(float);
}

/* At ring distance P / 2 (even P) the rows of lo's shard that hi takes: the first half. */
static int64_t split_rows(int64_t n) { return n / 2; }

static shard_view shard_at(unsigned char *buf, int64_t n)
{
    shard_view v = {n, (int64_t *)buf, (double *)(buf + (size_t)n * sizeof(int64_t)),
                    (float *)(buf + (size_t)n * 2 * sizeof(int64_t))};
    return v;
}

/* A rank's pass results on the wire: this head, then bins counts, then dup_report pairs (the
 * first ndup of them meaningful). */
typedef struct acc_head {
    double n, mean, m2, unif, max_v;
    int64_t dups, ndup;
} acc_head;

static size_t acc_bytes(int64_t bins, int64_t cap)
{
    return sizeof(acc_head) + (size_t)bins * sizeof(int64_t) + (size_t)cap * sizeof(lsc_pair);
}

static void acc_pack(const cpu_pair_acc *a, int64_t bins, int64_t cap, unsigned char *w)
{
    acc_head h = {a->n, a->mean, a->m2, a->unif, a->max_v, a->dups, a->ndup};
    memset(w, 0, acc_bytes(bins, cap));
    memcpy(w, &h, sizeof h);
    memcpy(w + sizeof h, a->hist, (size_t)bins * sizeof(int64_t));
    if (a->ndup)
        memcpy(w + sizeof h + (size_t)bins * sizeof(int64_t), a->dup,
               (size_t)a->ndup * sizeof(lsc_pair));
}

/* A view of a packed block as an accumulator (read only: cpu_pair_acc_merge's `from`). */
static cpu_pair_acc acc_view(unsigned char *w, int64_t bins)
{
    acc_head h;
    memcpy(&h, w, sizeof h);
    cpu_pair_acc a = {h.n,
                      h.mean,
                      h.m2,
                      h.unif,
                      h.max_v,
                      h.dups,
                      h.ndup,
                      (lsc_pair *)(w + sizeof h + (size_t)bins * sizeof(int64_t)),
                      (int64_t *)(w + sizeof h)};
    return a;
}

/* The values each rank shows the others before any work: its shape and its options (doubles as
 * their bits: equal options are equal bits). */
enum {
    PS_COLS,
    PS_ROWS,
    PS_METRIC,
    PS_BINS,
    PS_EPS,
    PS_REPORT,
    PS_SUBSET,
    PS_SEED,
    PS_OFFSET,
    PS_UNIF,
    PS_NVALS
};
static const char *const opt_names[PS_NVALS] = {
    "cols",       "rows",        "metric", "bins",          "dup_eps",
    "dup_report", "subset_rows", "seed",   "subset_offset", "uniformity"};

/* Whether local row k (global row g) is in the subset: its position in the seeded permutation
 * of all N rows lies in [first, first + count), as lsc_sample_rows draws it. */
static int selected(const lsc_perm *p, int64_t g, int64_t first, int64_t count)
{
    if (!p) return 1;
    const int64_t pos = lsc_perm_position(p, g);
    return pos >= first && pos < first + count;
}

lsc_status lsc_pair_stats_sharded(lsc_ctx *ctx, const lsc_matrix *x, const lsc_pair_opts *opts,
                                  lsc_pair_result *out, int64_t *histogram, lsc_pair *near_dups)
{
    /* a NULL or failed context has no transport to agree through */
    LSC_TRY(lsc_begin(ctx));
    const int64_t rank = lsc_tp_rank(ctx), ranks = lsc_tp_ranks(ctx);

    /* phase 1: this rank's arguments and values, then shapes and options compared */
    lsc_pair_opts o;
    memset(&o, 0, sizeof o);
    lsc_status s = lsc_check_shard(ctx, x, "x", 0);
    if (s == LSC_STATUS_OK && !out)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    if (s == LSC_STATUS_OK)
        s = LSC_CHECK_RESULT(ctx, out, PAIR_RESULT, "out", "LSC_PAIR_RESULT_INIT");
    if (s == LSC_STATUS_OK) s = lsc_pair_read_opts(ctx, opts, &o);
    if (s == LSC_STATUS_OK) s = lsc_sharded_on_cpu(ctx, "the sharded pair statistics");
    /* before any collective: ranks with a ring step would wait in it for those without */
    if (s == LSC_STATUS_OK && ranks > 1 && !ctx->transport.ring) s = lsc_tp_no_ring(ctx, WHAT, -1);
    if (s == LSC_STATUS_OK && x->rows > 0)
        s = lsc_check_values(ctx, x, "x", o.metric == LSC_METRIC_COSINE);
    int64_t mine[PS_NVALS];
    memset(mine, 0, sizeof mine);
    if (s == LSC_STATUS_OK) {
        mine[PS_COLS] = x->cols;
        mine[PS_ROWS] = x->rows;
        mine[PS_METRIC] = (int64_t)o.metric;
        mine[PS_BINS] = o.bins;
        memcpy(&mine[PS_EPS], &o.dup_eps, sizeof o.dup_eps);
        mine[PS_REPORT] = o.dup_report;
        mine[PS_SUBSET] = o.subset_rows;
        memcpy(&mine[PS_SEED], &o.seed, sizeof o.seed);
        mine[PS_OFFSET] = o.subset_offset;
        mine[PS_UNIF] = o.uniformity;
    }
    int64_t *all = (int64_t *)malloc((size_t)ranks * PS_NVALS * sizeof(int64_t));
    if (!all && s == LSC_STATUS_OK)
        s = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                          "out of host memory for %lld ranks' shapes", (long long)ranks);
    /* every rank sends blocks of one size, `all` or not: a failed rank's values go unread */
    s = lsc_tp_agree(ctx, s, mine, PS_NVALS, all);
    if (s != LSC_STATUS_OK) {
        free(all);
        return s;
    }
    const int64_t d = all[PS_COLS];
    int64_t n_all = 0, first = 0;
    lsc_status cross = LSC_STATUS_OK;
    for (int64_t r = 0; r < ranks && cross == LSC_STATUS_OK; r++) {
        const int64_t *v = all + r * PS_NVALS;
        for (int k = 0; k < PS_NVALS && cross == LSC_STATUS_OK; k++)
            if (k != PS_ROWS && v[k] != all[k])
                cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                                      "%s: rank %lld's %s differs from rank 0's",
                                      k == PS_COLS ? "x" : "pair opts", (long long)r, opt_names[k]);
        if (cross != LSC_STATUS_OK) break;
        if (v[PS_ROWS] > INT64_MAX - n_all)
            cross = lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "the ranks' row counts overflow");
        if (r == rank) first = n_all;
        n_all += v[PS_ROWS];
    }
    free(all);
    if (cross == LSC_STATUS_OK && n_all < 2)
        cross = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "x: %lld rows on all %lld ranks together, the pair statistics need "
                              "at least 2",
                              (long long)n_all, (long long)ranks);
    int64_t n = n_all; /* the rows the figures use */
    if (cross == LSC_STATUS_OK) cross = lsc_pair_check_subset(ctx, &o, n_all, &n);
    if (cross == LSC_STATUS_OK && (d > (int64_t)((SIZE_MAX - 16) / sizeof(float)) ||
                                   lsc_mul_i64(n, (int64_t)shard_row_bytes(d)) < 0))
        cross = lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "x: %lld rows of %lld cols overflow",
                              (long long)n, (long long)d);
    if (cross != LSC_STATUS_OK) return cross; /* decided from agreed values alone */

    /* phase 2: this rank's rows of the subset (the one sampler, over global row indices), as
     * a travelling shard: float32 rows, global indices */
    const int metric = o.metric == LSC_METRIC_COSINE ? LSC_M_COSINE : LSC_M_EUCLIDEAN;
    lsc_perm perm;
    const lsc_perm *pp = NULL;
    if (n < n_all) {
        lsc_perm_init(&perm, o.seed, n_all);
        pp = &perm;
    }
    int64_t mine_n = 0;
    for (int64_t k = 0; k < x->rows; k++) mine_n += selected(pp, first + k, o.subset_offset, n);
    const size_t es = lsc_dtype_size(x->dtype);
    unsigned char *own =
        (unsigned char *)lsc_malloc(ctx, (size_t)mine_n * shard_row_bytes(d), "this rank's shard");
    double *nn_own =
        own ? (double *)lsc_malloc(ctx, (size_t)mine_n * sizeof(double), "nearest") : NULL;
    s = nn_own ? LSC_STATUS_OK : LSC_STATUS_OUT_OF_MEMORY;
    shard_view ov = {0, NULL, NULL, NULL};
    if (own) ov = shard_at(own, mine_n);
    for (int64_t k = 0, t = 0; s == LSC_STATUS_OK && k < x->rows; k++) {
        if (!selected(pp, first + k, o.subset_offset, n)) continue;
        const char *row = (const char *)x->data + (size_t)(k * x->ld) * es;
        for (int64_t c = 0; c < d; c++) ov.rows[t * d + c] = lsc_load_f32(row, (int)x->dtype, c);
        ov.ids[t] = first + k;
        ov.nn[t] = INFINITY;
        nn_own[t] = INFINITY;
        t++;
    }
    int64_t *counts = (int64_t *)malloc((size_t)ranks * sizeof(int64_t));
    if (!counts && s == LSC_STATUS_OK)
        s = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY, "out of host memory for %lld counts",
                          (long long)ranks);
    s = lsc_tp_agree(ctx, s, &mine_n, 1, counts);
    if (s != LSC_STATUS_OK) {
        free(own);
        free(nn_own);
        free(counts);
        return s;
    }

    /* phase 3: every buffer the rest needs, so that nothing after the agreement can fail on
     * one rank alone but the passes (agreed after each) */
    const int64_t half = ranks / 2, bins = o.bins, cap = o.dup_report;
    int64_t most = 0;
    for (int64_t r = 0; r < ranks; r++) most = counts[r] > most ? counts[r] : most;
    const size_t ab = acc_bytes(bins, cap);
    unsigned char *ring[2] = {NULL, NULL}, *accs = NULL, *acc_mine = NULL;
    double *sum = NULL, *nn_all = NULL, *nn_far = NULL;
    size_t *sizes = NULL;
    int64_t *devs = NULL;
    cpu_pair_acc acc, tot;
    memset(&acc, 0, sizeof acc);
    memset(&tot, 0, sizeof tot);
    cpu_set set;
    memset(&set, 0, sizeof set);
    const lsc_matrix own_m = lsc_matrix_f32(ov.rows, mine_n, d);
    if (ab > SIZE_MAX / (size_t)ranks)
        s = lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "%lld ranks' results overflow size_t",
                          (long long)ranks);
    if (s == LSC_STATUS_OK && half > 0) {
        ring[0] = (unsigned char *)lsc_malloc(ctx, (size_t)most * shard_row_bytes(d),
                                              "a travelling shard");
        ring[1] = ring[0] ? (unsigned char *)lsc_malloc(ctx, (size_t)most * shard_row_bytes(d),
                                                        "a travelling shard")
                          : NULL;
        if (!ring[1]) s = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (s == LSC_STATUS_OK) {
        sum = (double *)lsc_calloc(ctx, (size_t)d, sizeof(double), "the histogram's bound");
        nn_all = sum ? (double *)lsc_malloc(ctx, 2 * (size_t)n * sizeof(double), "nearest") : NULL;
        accs = nn_all ? (unsigned char *)lsc_malloc(ctx, ab * (size_t)ranks, "every rank's results")
                      : NULL;
        acc_mine = accs ? (unsigned char *)lsc_malloc(ctx, ab, "this rank's results") : NULL;
        sizes =
            acc_mine ? (size_t *)lsc_malloc(ctx, (size_t)ranks * sizeof(size_t), "sizes") : NULL;
        devs = sizes ? (int64_t *)lsc_malloc(ctx, (size_t)ranks * sizeof(int64_t), "deviations")
                     : NULL;
        if (!devs) s = LSC_STATUS_OUT_OF_MEMORY;
        else nn_far = nn_all + n;
    }
    if (s == LSC_STATUS_OK) s = cpu_pair_acc_init(ctx, &acc, bins, cap);
    if (s == LSC_STATUS_OK) s = cpu_pair_acc_init(ctx, &tot, bins, cap);
    /* the centre (euclidean) is set below, once the mean is known */
    if (s == LSC_STATUS_OK && mine_n > 0)
        s = cpu_set_init(ctx, &set, &own_m, NULL, mine_n, metric, sum);
    s = lsc_tp_agree(ctx, s, NULL, 0, NULL);

    /* phase 4: the histogram's bound, exactly one process's: the column sums run row after
     * row in global order, passed from rank to rank (cpu_pair_colsum continues the sum it is
     * given), then each rank's largest deviation from the mean */
    for (int64_t r = 0; r < ranks && s == LSC_STATUS_OK; r++) {
        if (counts[r] == 0) continue; /* known to every rank: all skip alike */
        if (r == rank) cpu_pair_colsum(&set, sum);
        s = lsc_tp_broadcast(ctx, sum, (size_t)d * sizeof(double), r);
    }
    double upper = 0.0;
    if (s == LSC_STATUS_OK) {
        for (int64_t c = 0; c < d; c++) sum[c] /= (double)n; /* now the mean */
        if (mine_n > 0 && set.centre) memcpy(set.centre, sum, (size_t)d * sizeof(double));
        const double dev = mine_n > 0 ? cpu_pair_maxdev(&set, sum) : 0.0;
        int64_t bits;
        memcpy(&bits, &dev, sizeof bits);
        s = lsc_tp_agree(ctx, LSC_STATUS_OK, &bits, 1, devs);
        double best = 0.0;
        for (int64_t r = 0; s == LSC_STATUS_OK && r < ranks; r++) {
            double v;
            memcpy(&v, devs + r, sizeof v);
            if (v > best) best = v;
        }
        upper = cpu_pair_bound(metric, best);
    }

    /* phase 5: the blocks. Progress: the diagonal, then each ring step, in equal parts. */
    const double part = 1.0 / (double)(half + 1);
    if (s == LSC_STATUS_OK) {
        if (mine_n >= 2)
            s = cpu_pair_pass(ctx, &set, ov.ids, NULL, NULL, &o, upper, &acc, nn_own, NULL, 0.0,
                              part);
        s = lsc_tp_agree(ctx, s, NULL, 0, NULL);
    }
    for (int64_t t = 1; t <= half && s == LSC_STATUS_OK; t++) {
        unsigned char *send = t == 1 ? own : ring[t % 2], *recv = ring[(t - 1) % 2];
        const int64_t from_send = (rank - t + 1 + ranks) % ranks, from = (rank - t + ranks) % ranks;
        /* at distance P / 2 the receiver r + 1 is hi when it is P / 2 or above (lo holds
         * the lower rank index), and then takes only lo's first rows */
        const int last = 2 * t == ranks, hi = last && rank >= half;
        const int next_hi = last && (rank + 1) % ranks >= half;
        const size_t send_b = shard_bytes(
            counts[from_send], next_hi ? split_rows(counts[from_send]) : counts[from_send], d);
        const int64_t got = hi ? split_rows(counts[from]) : counts[from];
        s = lsc_tp_ring(ctx, send, send_b, recv, shard_bytes(counts[from], got, d), WHAT);
        if (s != LSC_STATUS_OK) break; /* a transport failure: every rank has its own */
        /* this rank's rows in the block: all of them, or lo's half after hi's */
        const int64_t r0 = last && !hi ? split_rows(mine_n) : 0;
        if (mine_n - r0 > 0 && got > 0) {
            const shard_view rv = shard_at(recv, counts[from]);
            const lsc_matrix rm = lsc_matrix_f32(rv.rows, got, d);
            const lsc_matrix mm = lsc_matrix_f32(ov.rows + (size_t)(r0 * d), mine_n - r0, d);
            cpu_set other, sub;
            memset(&sub, 0, sizeof sub);
            s = cpu_set_init(ctx, &other, &rm, NULL, got, metric, set.centre);
            /* lo's second half as a set of its own, on the same centre */
            if (s == LSC_STATUS_OK && r0 > 0)
                s = cpu_set_init(ctx, &sub, &mm, NULL, mine_n - r0, metric, set.centre);
            if (s == LSC_STATUS_OK)
                s = cpu_pair_pass(ctx, r0 > 0 ? &sub : &set, ov.ids + r0, &other, rv.ids, &o, upper,
                                  &acc, nn_own + r0, rv.nn, part * (double)t,
                                  part * (double)(t + 1));
            cpu_set_free(&sub);
            cpu_set_free(&other);
        }
        s = lsc_tp_agree(ctx, s, NULL, 0, NULL);
    }

    /* phase 6: every rank's results and nearest values to every rank, merged alike in rank
     * order; the nearest value of a row is the smaller of its own rank's and the one its shard
     * brought back from its travels (the shard of rank r - P/2 ends on rank r) */
    if (s == LSC_STATUS_OK) {
        acc_pack(&acc, bins, cap, acc_mine);
        for (int64_t r = 0; r < ranks; r++) sizes[r] = ab;
        s = lsc_tp_all_gather(ctx, acc_mine, ab, accs, sizes);
    }
    if (s == LSC_STATUS_OK) {
        for (int64_t r = 0; r < ranks; r++) sizes[r] = (size_t)counts[r] * sizeof(double);
        s = lsc_tp_all_gather(ctx, nn_own, sizes[rank], nn_all, sizes);
    }
    if (s == LSC_STATUS_OK && half > 0) {
        const int64_t held = (rank - half + ranks) % ranks;
        const shard_view last = shard_at(ring[(half - 1) % 2], counts[held]);
        for (int64_t r = 0; r < ranks; r++)
            sizes[r] = (size_t)counts[(r - half + ranks) % ranks] * sizeof(double);
        s = lsc_tp_all_gather(ctx, last.nn, sizes[rank], nn_far, sizes);
        /* block r of nn_far is the shard of rank r - half, whose rows start at starts[q] */
        size_t at = 0;
        for (int64_t r = 0; s == LSC_STATUS_OK && r < ranks; r++) {
            const int64_t q = (r - half + ranks) % ranks;
            int64_t start = 0;
            for (int64_t u = 0; u < q; u++) start += counts[u];
            const double *f = nn_far + at / sizeof(double);
            for (int64_t i = 0; i < counts[q]; i++)
                if (f[i] < nn_all[start + i]) nn_all[start + i] = f[i];
            at += sizes[r];
        }
    }
    if (s == LSC_STATUS_OK) {
        for (int64_t r = 0; r < ranks; r++) {
            const cpu_pair_acc a = acc_view(accs + ab * (size_t)r, bins);
            cpu_pair_acc_merge(&tot, &a, bins, cap);
        }
        lsc_pair_result res;
        memset(&res, 0, sizeof res);
        cpu_pair_finish(&o, &tot, nn_all, n, upper, &res, histogram, near_dups);
        res.rows_used = n;
        res.pairs = lsc_mul_i64(n, n - 1) / 2;
        res.bins = bins;
        res.subset = n < n_all;
        res.size = sizeof res;
        LSC_STORE_RESULT(out, &res, PAIR_RESULT); /* size checked in phase 1 */
        ctx->err[0] = '\0';
    }
    cpu_set_free(&set);
    cpu_pair_acc_free(&acc);
    cpu_pair_acc_free(&tot);
    free(own);
    free(nn_own);
    free(counts);
    free(ring[0]);
    free(ring[1]);
    free(sum);
    free(nn_all);
    free(accs);
    free(acc_mine);
    free(sizes);
    free(devs);
    return s;
}
