/* A sharded reference and PRDC with both sets sharded (lsc.h section 12). Nothing is gathered:
 * the radii come from the ring self kNN (host/sharded_knn.c), and the PRDC pass sends each real
 * shard (rows, radii and its recall and coverage flags) once round the ranks past every rank's
 * generated rows, each pair decided once by the CPU backend's own PRDC pass, then only the flags
 * coming home, set. Memory per rank: its own shards' rows, radii and lists, and two blocks of the
 * largest real shard. The figures come from integer counts summed in rank order, through the
 * one function that makes them (common/prdc_figures.h), so they equal lsc_prdc's exactly. */
#include "sharded.h"
#include "validate.h"

#include "../common/prdc_figures.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------- */
/* the sharded reference                                                                          */

enum { RF_ROWS, RF_COLS, RF_K, RF_METRIC, RF_CMP, RF_RING, RF_NVALS };

/* Whether every rank's transport can pass shards round (one rank needs none). */
static lsc_status need_ring(lsc_ctx *ctx, const int64_t *all, int64_t nvals, int64_t at,
                            const char *what)
{
    for (int64_t r = 0; r < lsc_tp_ranks(ctx); r++)
        if (!all[r * nvals + at]) return lsc_tp_no_ring(ctx, what, r);
    return LSC_STATUS_OK;
}

static int64_t has_ring(const lsc_ctx *ctx)
{
    return ctx->transport.ring != NULL || lsc_tp_ranks(ctx) == 1;
}

lsc_status lsc_reference_create_sharded(lsc_ctx *ctx, const lsc_matrix *real, int64_t k,
                                        const lsc_reference_opts *opts, lsc_reference **out)
{
    LSC_TRY(lsc_begin(ctx));
    const int64_t rank = lsc_tp_rank(ctx), ranks = lsc_tp_ranks(ctx);

    /* phase 1: this rank's arguments and values, then the ranks' shapes and options compared */
    lsc_reference_opts o = LSC_REFERENCE_OPTS_INIT;
    lsc_status s =
        out ? LSC_STATUS_OK : lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "out is NULL");
    if (s == LSC_STATUS_OK) s = lsc_reference_read_opts(ctx, opts, &o);
    if (s == LSC_STATUS_OK) s = lsc_check_shard(ctx, real, "real", 0);
    if (s == LSC_STATUS_OK && k < 1)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "k is %lld, expected >= 1",
                          (long long)k);
    if (s == LSC_STATUS_OK) s = lsc_sharded_on_cpu(ctx, "the sharded reference");
    if (s == LSC_STATUS_OK) s = lsc_check_values(ctx, real, "real", o.metric == LSC_METRIC_COSINE);
    int64_t mine[RF_NVALS];
    memset(mine, 0, sizeof mine);
    if (s == LSC_STATUS_OK) {
        mine[RF_ROWS] = real->rows;
        mine[RF_COLS] = real->cols;
        mine[RF_K] = k;
        mine[RF_METRIC] = o.metric;
        mine[RF_CMP] = o.comparison;
        mine[RF_RING] = has_ring(ctx);
    }
    int64_t *all = (int64_t *)malloc((size_t)ranks * RF_NVALS * sizeof(int64_t));
    int64_t *rows = (int64_t *)malloc(2 * (size_t)ranks * sizeof(int64_t));
    if ((!all || !rows) && s == LSC_STATUS_OK)
        s = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                          "out of host memory for %lld ranks' shapes", (long long)ranks);
    s = lsc_tp_agree(ctx, s, mine, RF_NVALS, all);
    int64_t n = 0;
    for (int64_t r = 0; s == LSC_STATUS_OK && r < ranks; r++) {
        const int64_t *v = all + r * RF_NVALS;
        if (v[RF_COLS] != all[RF_COLS])
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "real: rank %lld has %lld cols, rank 0 has %lld", (long long)r,
                              (long long)v[RF_COLS], (long long)all[RF_COLS]);
        else if (v[RF_K] != all[RF_K])
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "k: rank %lld asks for %lld, rank 0 for %lld", (long long)r,
                              (long long)v[RF_K], (long long)all[RF_K]);
        else if (v[RF_METRIC] != all[RF_METRIC] || v[RF_CMP] != all[RF_CMP])
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "reference opts: rank %lld's metric or comparison differs from "
                              "rank 0's",
                              (long long)r);
        else if (v[RF_ROWS] > INT64_MAX - n)
            s = lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "the ranks' real rows overflow");
        else {
            rows[r] = v[RF_ROWS];
            rows[ranks + r] = n;
            n += v[RF_ROWS];
        }
    }
    if (s == LSC_STATUS_OK)
        s = need_ring(ctx, all, RF_NVALS, RF_RING, "lsc_reference_create_sharded");
    if (s == LSC_STATUS_OK && k >= n)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                          "k=%lld needs at least %lld real rows on all %lld ranks together, got "
                          "%lld",
                          (long long)k, (long long)(k + 1), (long long)ranks, (long long)n);
    free(all);
    if (s != LSC_STATUS_OK) {
        free(rows);
        return s; /* decided from agreed values alone: the same on every rank */
    }

    /* phase 2: this shard's reference (rows copied or borrowed, as lsc_reference_create's) and
     * its lists */
    const int64_t my = real->rows, d = real->cols;
    const int borrow = o.borrow_rows && real->dtype == LSC_DTYPE_F32 && real->ld == real->cols;
    lsc_reference *ref = NULL;
    double *v = NULL;
    int64_t *ix = NULL;
    size_t kb = 0;
    s = lsc_bytes(ctx, lsc_mul_i64(my, k), sizeof(double), &kb, "the shard's kNN lists");
    if (s == LSC_STATUS_OK) s = lsc_reference_alloc(ctx, my, d, !borrow, &ref);
    if (s == LSC_STATUS_OK) {
        ref->k = k;
        ref->metric = o.metric;
        ref->comparison = o.comparison;
        ref->shard_total = n;
        ref->shard_first = rows[ranks + rank];
        if (borrow) {
            ref->data = (float *)real->data; /* read only, as lsc_reference_create's */
        } else {
            float *f = NULL;
            s = lsc_rows_f32(ctx, real, &f);
            if (f) memcpy(ref->data, f, (size_t)(my * d) * sizeof(float));
            free(f);
        }
    }
    if (s == LSC_STATUS_OK && my > 0) {
        v = (double *)lsc_malloc(ctx, kb, "the shard's kNN values");
        ix = v ? (int64_t *)lsc_malloc(ctx, kb, "the shard's kNN indices") : NULL;
        if (!ix) s = LSC_STATUS_OUT_OF_MEMORY;
    }
    s = lsc_tp_agree(ctx, s, NULL, 0, NULL);

    /* phase 3: the radii, the k-th exact value among the other rows of every rank */
    if (s == LSC_STATUS_OK)
        s = lsc_sharded_self_knn(ctx, ref->data, d, (int)o.metric, k, rows, rows + ranks, v, ix,
                                 0.0, 1.0, "lsc_reference_create_sharded");
    if (s == LSC_STATUS_OK) {
        int64_t zero = 0;
        for (int64_t i = 0; i < my; i++) {
            ref->radius_v[i] = v[i * k + k - 1];
            ref->radius[i] = lsc_dist_from_v((int)o.metric, ref->radius_v[i]);
            zero += ref->radius_v[i] == 0.0;
        }
        ref->zero_radii = zero;
        *out = ref;
        ref = NULL;
        ctx->err[0] = '\0';
    }
    lsc_reference_destroy(ref);
    free(v);
    free(ix);
    free(rows);
    return s;
}

/* ---------------------------------------------------------------------------------------------- */
/* PRDC                                                                                           */

enum {
    PR_REF_ROWS,
    PR_REF_TOTAL,
    PR_REF_FIRST,
    PR_COLS,
    PR_FAKE_ROWS,
    PR_K,
    PR_METRIC,
    PR_CMP,
    PR_RING,
    PR_NVALS
};

/* A real shard on the ring: radius values (float64, first for their alignment), rows (float32)
 * and recall then coverage flags (one byte each), n rows of d. */
static size_t block_rv(int64_t n) { return (size_t)n * sizeof(double); }
static size_t block_rows(int64_t n, int64_t d) { return (size_t)(n * d) * sizeof(float); }

typedef struct prdc_walk {
    const int64_t *rows; /* the ranks' real rows */
    int64_t d;
    const lsc_matrix *fake;
    const double *fake_v;
    int metric, inclusive;
    int64_t *density;
    int64_t rank;
} prdc_walk;

/* One real shard past this rank's generated rows: its flags set, this rank's density counted. */
static lsc_status prdc_visit(lsc_ctx *ctx, void *user, int64_t origin, unsigned char *block)
{
    const prdc_walk *W = (const prdc_walk *)user;
    const int64_t n = W->rows[origin];
    if (n == 0 || W->fake->rows == 0) return LSC_STATUS_OK;
    const double *rv = (const double *)block;
    const lsc_matrix real = lsc_matrix_f32((const float *)(block + block_rv(n)), n, W->d);
    unsigned char *flags = block + block_rv(n) + block_rows(n, W->d);
    /* progress from 0.3 (the radii, lsc_prdc's split) to 1, a P-th a step */
    const int64_t ranks = lsc_tp_ranks(ctx), step = (W->rank - origin + ranks) % ranks;
    const double w = 0.7 / (double)ranks, p0 = 0.3 + w * (double)step;
    return lsc_cpu_prdc_pass(ctx, &real, rv, W->fake, W->fake_v, W->metric, W->inclusive,
                             W->density, flags, p0, p0 + w);
}

/* This rank's counts, summed over the ranks in the final agreement. */
enum { CT_PREC, CT_DENS, CT_REC, CT_COV, CT_ZF, CT_ZR, CT_NVALS };

lsc_status lsc_prdc_rows_sharded(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                                 lsc_prdc_result *out, unsigned char *real_flags,
                                 int64_t *fake_counts)
{
    LSC_TRY(lsc_begin(ctx));
    const int64_t rank = lsc_tp_rank(ctx), ranks = lsc_tp_ranks(ctx);

    /* phase 1: this rank's arguments and values, then the ranks' shards and options compared */
    lsc_status s = LSC_STATUS_OK;
    if (!ref || !out)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "%s is NULL", !ref ? "ref" : "out");
    if (s == LSC_STATUS_OK)
        s = LSC_CHECK_RESULT(ctx, out, PRDC_RESULT, "out", "LSC_PRDC_RESULT_INIT");
    if (s == LSC_STATUS_OK && ref->device_ops)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                          "ref: the sharded PRDC reads a host reference (a shard from "
                          "lsc_reference_create_sharded), not a device reference");
    if (s == LSC_STATUS_OK) s = lsc_check_shard(ctx, fake, "fake", 0);
    if (s == LSC_STATUS_OK && fake->cols != ref->cols)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                          "fake has %lld cols, the reference has %lld", (long long)fake->cols,
                          (long long)ref->cols);
    if (s == LSC_STATUS_OK) s = lsc_sharded_on_cpu(ctx, "the sharded PRDC");
    if (s == LSC_STATUS_OK)
        s = lsc_check_values(ctx, fake, "fake", ref->metric == LSC_METRIC_COSINE);
    int64_t mine[PR_NVALS];
    memset(mine, 0, sizeof mine);
    if (s == LSC_STATUS_OK) {
        mine[PR_REF_ROWS] = ref->rows;
        mine[PR_REF_TOTAL] = ref->shard_total ? ref->shard_total : ref->rows;
        mine[PR_REF_FIRST] = ref->shard_first;
        mine[PR_COLS] = fake->cols;
        mine[PR_FAKE_ROWS] = fake->rows;
        mine[PR_K] = ref->k;
        mine[PR_METRIC] = ref->metric;
        mine[PR_CMP] = ref->comparison;
        mine[PR_RING] = has_ring(ctx);
    }
    int64_t *all = (int64_t *)malloc((size_t)ranks * PR_NVALS * sizeof(int64_t));
    int64_t *lay = (int64_t *)malloc(4 * (size_t)ranks * sizeof(int64_t));
    /* sizes: the ranks' real shards on the ring, then where each one's flags begin */
    size_t *sizes = (size_t *)malloc(2 * (size_t)ranks * sizeof(size_t));
    if ((!all || !lay || !sizes) && s == LSC_STATUS_OK)
        s = lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                          "out of host memory for %lld ranks' shapes", (long long)ranks);
    s = lsc_tp_agree(ctx, s, mine, PR_NVALS, all);
    /* lay: the ranks' real rows and first real rows, fake rows and first fake rows */
    int64_t n = 0, m = 0;
    for (int64_t r = 0; s == LSC_STATUS_OK && r < ranks; r++) {
        const int64_t *v = all + r * PR_NVALS;
        if (v[PR_COLS] != all[PR_COLS])
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "fake: rank %lld has %lld cols, rank 0 has %lld", (long long)r,
                              (long long)v[PR_COLS], (long long)all[PR_COLS]);
        else if (v[PR_K] != all[PR_K] || v[PR_METRIC] != all[PR_METRIC] ||
                 v[PR_CMP] != all[PR_CMP] || v[PR_REF_TOTAL] != all[PR_REF_TOTAL] ||
                 v[PR_REF_FIRST] != n)
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "ref: rank %lld's reference is not its shard of rank 0's (rows "
                              "from %lld of %lld, k %lld, metric %lld, comparison %lld; expected "
                              "rows from %lld of %lld, k %lld, metric %lld, comparison %lld): "
                              "make the shards with lsc_reference_create_sharded on these ranks",
                              (long long)r, (long long)v[PR_REF_FIRST], (long long)v[PR_REF_TOTAL],
                              (long long)v[PR_K], (long long)v[PR_METRIC], (long long)v[PR_CMP],
                              (long long)n, (long long)all[PR_REF_TOTAL], (long long)all[PR_K],
                              (long long)all[PR_METRIC], (long long)all[PR_CMP]);
        else if (v[PR_FAKE_ROWS] > INT64_MAX - m)
            s = lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "the ranks' fake rows overflow");
        else {
            lay[r] = v[PR_REF_ROWS];
            lay[ranks + r] = n;
            lay[2 * ranks + r] = v[PR_FAKE_ROWS];
            lay[3 * ranks + r] = m;
            n += v[PR_REF_ROWS]; /* <= the agreed total, checked below */
            m += v[PR_FAKE_ROWS];
        }
    }
    if (s == LSC_STATUS_OK && n != all[PR_REF_TOTAL])
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                          "ref: the ranks' shards hold %lld rows, the reference has %lld: make "
                          "the shards with lsc_reference_create_sharded on these ranks",
                          (long long)n, (long long)all[PR_REF_TOTAL]);
    if (s == LSC_STATUS_OK) s = need_ring(ctx, all, PR_NVALS, PR_RING, "lsc_prdc_sharded");
    const int64_t k = s == LSC_STATUS_OK ? all[PR_K] : 0, d = s == LSC_STATUS_OK ? all[PR_COLS] : 0;
    if (s == LSC_STATUS_OK && k >= m)
        s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                          "k=%lld needs at least %lld fake rows on all %lld ranks together, got "
                          "%lld",
                          (long long)k, (long long)(k + 1), (long long)ranks, (long long)m);
    for (int64_t r = 0; s == LSC_STATUS_OK && r < ranks; r++) {
        size_t b;
        s = lsc_bytes(ctx, lsc_mul_i64(lay[r], d * (int64_t)sizeof(float) + 10), 1, &b,
                      "a real shard");
        sizes[r] = b;
        sizes[ranks + r] = b - 2 * (size_t)lay[r];
    }
    free(all);
    if (s != LSC_STATUS_OK) {
        free(lay);
        free(sizes);
        return s; /* decided from agreed values alone: the same on every rank */
    }

    /* phase 2: this rank's buffers, then its generated rows' radii by the ring self kNN */
    const int64_t nr = ref->rows, mf = fake->rows;
    const int metric = (int)ref->metric;
    float *ff = NULL;
    double *fake_v = NULL, *kv = NULL;
    int64_t *ki = NULL, *density = NULL;
    unsigned char *block = NULL;
    size_t kb = 0;
    s = lsc_bytes(ctx, lsc_mul_i64(mf, k), sizeof(double), &kb, "the fake rows' kNN lists");
    if (s == LSC_STATUS_OK) s = lsc_rows_f32(ctx, fake, &ff);
    if (s == LSC_STATUS_OK) {
        fake_v = (double *)lsc_malloc(ctx, (size_t)mf * sizeof(double), "fake radii");
        density =
            fake_v ? (int64_t *)lsc_calloc(ctx, (size_t)mf, sizeof(int64_t), "density") : NULL;
        kv = density ? (double *)lsc_malloc(ctx, kb, "the fake rows' kNN values") : NULL;
        ki = kv ? (int64_t *)lsc_malloc(ctx, kb, "the fake rows' kNN indices") : NULL;
        block =
            ki ? (unsigned char *)lsc_calloc(ctx, sizes[rank], 1, "this rank's real shard") : NULL;
        if (!block) s = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (s == LSC_STATUS_OK && nr > 0) {
        memcpy(block, ref->radius_v, block_rv(nr));
        memcpy(block + block_rv(nr), ref->data, block_rows(nr, d));
    }
    s = lsc_tp_agree(ctx, s, NULL, 0, NULL);
    if (s == LSC_STATUS_OK)
        s = lsc_sharded_self_knn(ctx, ff, d, metric, k, lay + 2 * ranks, lay + 3 * ranks, kv, ki,
                                 0.0, 0.3, "lsc_prdc_sharded");
    for (int64_t j = 0; s == LSC_STATUS_OK && j < mf; j++) fake_v[j] = kv[j * k + k - 1];
    free(kv);
    free(ki);
    free(ff);

    /* phase 3: every real shard once round the ranks past this rank's generated rows; its flags,
     * set by every rank, come home alone (its rows and radii are still here) */
    if (s == LSC_STATUS_OK) {
        prdc_walk W = {lay,     d,      fake,
                       fake_v,  metric, ref->comparison == LSC_COMPARISON_INCLUSIVE,
                       density, rank};
        s = lsc_ring_walk(ctx, sizes, block, sizes + ranks, prdc_visit, &W,
                          block + sizes[ranks + rank], "lsc_prdc_sharded");
    }

    /* phase 4: the counts summed over the ranks (integers: any order gives the same sums), the
     * figures from them as lsc_prdc makes its own */
    int64_t ct[CT_NVALS] = {0, 0, 0, 0, 0, 0};
    const unsigned char *flags = block ? block + block_rv(nr) + block_rows(nr, d) : NULL;
    if (s == LSC_STATUS_OK) {
        for (int64_t j = 0; j < mf; j++) {
            ct[CT_PREC] += density[j] > 0;
            ct[CT_DENS] += density[j];
            ct[CT_ZF] += fake_v[j] == 0.0;
        }
        for (int64_t i = 0; i < nr; i++) {
            ct[CT_REC] += flags[i] != 0;
            ct[CT_COV] += flags[nr + i] != 0;
        }
        ct[CT_ZR] = ref->zero_radii;
    }
    int64_t *sums =
        s == LSC_STATUS_OK ? (int64_t *)malloc((size_t)ranks * CT_NVALS * sizeof(int64_t)) : NULL;
    if (s == LSC_STATUS_OK) {
        /* a failed allocation joins the agreement as its status: no rank reads the values */
        lsc_status mem =
            sums ? LSC_STATUS_OK
                 : lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                                 "out of host memory for %lld ranks' counts", (long long)ranks);
        s = lsc_tp_agree(ctx, mem, ct, CT_NVALS, sums);
    }
    if (s == LSC_STATUS_OK) {
        int64_t tot[CT_NVALS] = {0, 0, 0, 0, 0, 0};
        for (int64_t r = 0; r < ranks; r++)
            for (int c = 0; c < CT_NVALS; c++) tot[c] += sums[r * CT_NVALS + c];
        lsc_prdc_result res;
        memset(&res, 0, sizeof res);
        lsc_prdc_from_counts(tot[CT_PREC], tot[CT_DENS], tot[CT_REC], tot[CT_COV], n, m, k, &res);
        res.zero_radii_fake = tot[CT_ZF];
        res.k = k;
        res.real_rows = n;
        res.fake_rows = m;
        res.comparison = ref->comparison;
        res.metric = ref->metric;
        res.zero_radii_real = tot[CT_ZR];
        res.coverage_expected = lsc_coverage_expected(n, m, k);
        res.size = sizeof res;
        LSC_STORE_RESULT(out, &res, PRDC_RESULT); /* size checked in phase 1 */
        if (real_flags) lsc_row_flags(flags, nr, real_flags);
        if (fake_counts && mf > 0) memcpy(fake_counts, density, (size_t)mf * sizeof *fake_counts);
        ctx->err[0] = '\0';
    }
    free(sums);
    free(block);
    free(fake_v);
    free(density);
    free(lay);
    free(sizes);
    return s;
}

lsc_status lsc_prdc_sharded(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                            lsc_prdc_result *out)
{
    return lsc_prdc_rows_sharded(ctx, ref, fake, out, NULL, NULL);
}
