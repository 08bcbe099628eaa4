#include "tiles.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static inline const char *row_ptr(const lsc_matrix *m, int64_t r)
{
    return (const char *)m->data + (size_t)(r * m->ld) * lsc_dtype_size(m->dtype);
}

static inline int64_t map_row(const cpu_set *s, int64_t i) { return s->map ? s->map[i] : i; }

lsc_status cpu_mean(lsc_ctx *ctx, const lsc_matrix *m, const int64_t *map, int64_t n, double *mean)
{
    int64_t d = m->cols;
    int nt = ctx->threads;
    if ((int64_t)nt > n) nt = (int)(n > 0 ? n : 1);
    size_t bytes;
    LSC_TRY(lsc_bytes(ctx, lsc_mul_i64(nt, d), sizeof(double), &bytes, "column means"));
    double *part =
        (double *)lsc_calloc(ctx, (size_t)nt * (size_t)d, sizeof(double), "column means");
    if (!part) return LSC_STATUS_OUT_OF_MEMORY;
        /* each thread sums a fixed contiguous range of rows, so the result depends only on nt */
#pragma omp parallel num_threads(nt)
    {
        int t = 0, T = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        T = omp_get_num_threads();
#endif
        int64_t lo = n * t / T, hi = n * (t + 1) / T;
        double *acc = part + (size_t)t * (size_t)d;
        for (int64_t i = lo; i < hi; i++) {
            const char *row = row_ptr(m, map ? map[i] : i);
            if (m->dtype == LSC_DTYPE_F32) { /* vectorised: the generic load is a switch */
                const float *f = (const float *)row;
                for (int64_t c = 0; c < d; c++) acc[c] += (double)f[c];
            } else {
                for (int64_t c = 0; c < d; c++)
                    acc[c] += (double)lsc_load_f32(row, (int)m->dtype, c);
            }
        }
    }
    for (int64_t c = 0; c < d; c++) {
        double s = 0.0;
        for (int t = 0; t < nt; t++) s += part[(size_t)t * (size_t)d + (size_t)c];
        mean[c] = s / (double)n;
    }
    free(part);
    return LSC_STATUS_OK;
}

lsc_status cpu_set_init(lsc_ctx *ctx, cpu_set *s, const lsc_matrix *m, const int64_t *map,
                        int64_t n, int metric, const double *centre)
{
    memset(s, 0, sizeof *s);
    s->m = m;
    s->map = map;
    s->n = n;
    s->d = m->cols;
    s->metric = metric == LSC_M_COSINE ? LSC_M_COSINE : LSC_M_EUCLIDEAN;
    if (s->metric == LSC_M_COSINE) {
        s->inv_norm = (double *)lsc_malloc(ctx, (size_t)n * sizeof(double), "inverse row norms");
        if (!s->inv_norm) return LSC_STATUS_OUT_OF_MEMORY;
#pragma omp parallel for schedule(static) num_threads(ctx->threads)
        for (int64_t i = 0; i < n; i++) {
            const char *row = row_ptr(m, map_row(s, i));
            double q = 0.0;
            for (int64_t c = 0; c < s->d; c++) {
                double v = (double)lsc_load_f32(row, (int)m->dtype, c);
                q += v * v;
            }
            s->inv_norm[i] = 1.0 / sqrt(q); /* zero rows were refused before */
        }
        return LSC_STATUS_OK;
    }
    s->centre = (double *)lsc_malloc(ctx, (size_t)s->d * sizeof(double), "centre");
    if (!s->centre) return LSC_STATUS_OUT_OF_MEMORY;
    if (centre) {
        memcpy(s->centre, centre, (size_t)s->d * sizeof(double));
        return LSC_STATUS_OK;
    }
    lsc_status st = cpu_mean(ctx, m, map, n, s->centre);
    if (st != LSC_STATUS_OK) cpu_set_free(s);
    return st;
}

void cpu_set_free(cpu_set *s)
{
    free(s->centre);
    free(s->inv_norm);
    s->centre = NULL;
    s->inv_norm = NULL;
}

/* tt[c] = (float)(src[c] * inv) (cosine) or (float)(src[c] - centre[c]), and the float64 sum of
 * their squares in eight lanes (lsc_lanes8_total): one running sum made this latency-bound, and
 * with the copy the row went through first it was an eighth of the kNN's profile at D = 8192.
 * src may be tt itself. */
LSC_CPU_CLONES static double transform_row(const float *src, float *tt, int64_t d, int cosine,
                                           double inv, const double *centre)
{
    double l[LSC_EXACT_LANES] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int64_t c = 0;
    if (cosine) {
        for (; c + 8 <= d; c += 8)
            for (int u = 0; u < 8; u++) {
                const float v = (float)((double)src[c + u] * inv);
                tt[c + u] = v;
                l[u] += (double)v * v;
            }
        for (int u = 0; c + u < d; u++) {
            const float v = (float)((double)src[c + u] * inv);
            tt[c + u] = v;
            l[u] += (double)v * v;
        }
    } else {
        for (; c + 8 <= d; c += 8)
            for (int u = 0; u < 8; u++) {
                const float v = (float)((double)src[c + u] - centre[c + u]);
                tt[c + u] = v;
                l[u] += (double)v * v;
            }
        for (int u = 0; c + u < d; u++) {
            const float v = (float)((double)src[c + u] - centre[c + u]);
            tt[c + u] = v;
            l[u] += (double)v * v;
        }
    }
    return lsc_lanes8_total(l);
}

/* Row i of s as float32 values into out (d of them), whatever the input's dtype. */
static void load_row(const cpu_set *s, int64_t i, float *out)
{
    const char *row = row_ptr(s->m, map_row(s, i));
    if (s->m->dtype == LSC_DTYPE_F32) memcpy(out, row, (size_t)s->d * sizeof(float));
    else
        for (int64_t c = 0; c < s->d; c++) out[c] = lsc_load_f32(row, (int)s->m->dtype, c);
}

const float *cpu_set_raw_row(const cpu_set *s, int64_t i, float *buf)
{
    if (s->m->dtype == LSC_DTYPE_F32) return (const float *)row_ptr(s->m, map_row(s, i));
    load_row(s, i, buf);
    return buf;
}

void cpu_set_load(const cpu_set *s, int64_t r0, int64_t nr, float *raw, float *t, double *sq)
{
    const int64_t d = s->d;
    const int cosine = s->metric == LSC_M_COSINE;
    for (int64_t i = 0; i < nr; i++) {
        float *tt = t + i * d;
        const float *src;
        if (s->m->dtype == LSC_DTYPE_F32 && !raw) {
            src = cpu_set_raw_row(s, r0 + i, NULL); /* transformed straight from the input */
        } else {
            /* without raw, the row is loaded into t and transformed in place: same values */
            float *rr = raw ? raw + i * d : tt;
            load_row(s, r0 + i, rr);
            src = rr;
        }
        /* centring (docs/METRICS.md section 2, rule 1): the fast form's error shrinks with the
         * norms, and a large common offset no longer costs digits */
        sq[i] = transform_row(src, tt, d, cosine, cosine ? s->inv_norm[r0 + i] : 1.0, s->centre);
    }
}

/* Raw float32 rows [r0, r0 + nr) of s for exact recomputation: the input itself when it is
 * float32 and unmapped (no copy), else converted into buf (ld d). */
static const float *raw_rows(const cpu_set *s, int64_t r0, int64_t nr, float *buf, int64_t *ld)
{
    if (s->m->dtype == LSC_DTYPE_F32 && !s->map) {
        *ld = s->m->ld;
        return (const float *)row_ptr(s->m, r0);
    }
    for (int64_t i = 0; i < nr; i++) load_row(s, r0 + i, buf + i * s->d);
    *ld = s->d;
    return buf;
}

/* Bytes of the AMX layouts of n rows (with their 64-byte alignment), 0 without AMX. */
static size_t amx_bytes(int amx, int64_t n, int64_t d)
{
#if LSC_CPU_AMX
    if (amx) return cpu_amx_b_elems(n, d) * sizeof(uint16_t) + 64;
#else
    (void)n;
    (void)d;
#endif
    (void)amx;
    return 0;
}

/* The base set's centred (or normalised) rows and norms are prepared once per call when they
 * fit in a quarter of the workspace (three quarters for AMX, below), instead of once per query
 * block: at D = 512 converting every base row again for each of the query blocks cost a fifth
 * of the GEMM time. */
static size_t cache_bytes(const cpu_tile_job *job, int amx)
{
    const cpu_set *b = job->b;
    /* the AMX product reads the packed rows only: no float32 copy is kept */
    if (amx) return amx_bytes(1, b->n, b->d) + (size_t)b->n * sizeof(double);
    return (size_t)b->n * ((size_t)b->d * sizeof(float) + sizeof(double));
}

static int cache_wanted(const lsc_ctx *ctx, const cpu_tile_job *job, int64_t mq, int amx)
{
    if (job->b->n > INT64_MAX / (2 * job->b->d + 66)) return 0;
    /* AMX packs its base rows for each block it does not find cached, and that pass (memory
     * bound) cost as much as the product at D = 8192: up to three quarters of the workspace
     * for its cache (kNN 5000 x 8192: 1.36 s with a quarter, 1.11 s). The float32 GEMM lost
     * (1.80 s against 1.94) with the smaller tiles that leaves, so it keeps a quarter. */
    const size_t lim = amx ? ctx->workspace_limit / 4 * 3 : ctx->workspace_limit / 4;
    return job->q->n > mq && cache_bytes(job, amx) <= lim;
}

static size_t tile_budget(const lsc_ctx *ctx, const cpu_tile_job *job, int64_t mq, int amx)
{
    size_t lim = ctx->workspace_limit;
    if (cache_wanted(ctx, job, mq, amx)) lim -= cache_bytes(job, amx);
    lim = lim > job->reserved ? lim - job->reserved : 0;
    lim /= (size_t)ctx->threads;
    /* the AMX layouts pad each side to 32 rows */
    const size_t pad = 2 * amx_bytes(amx, 32, job->q->d);
    return lim > pad ? lim - pad : 0;
}

/* Tiles of at most max_q x max_b rows within `budget` bytes. */
static int plan(int64_t d, size_t budget, int64_t max_q, int64_t max_b, int amx, int64_t *tq,
                int64_t *tb, size_t *per_row)
{
    /* each row: raw and transformed float32 copies, its float64 norm, filter scratch and a
     * zero norm (zsq), and with AMX its two bfloat16 halves */
    *per_row = (size_t)d * 2 * sizeof(float) + 4 * sizeof(double);
#if LSC_CPU_AMX
    if (amx) *per_row += (size_t)cpu_amx_dp(d) * 2 * sizeof(uint16_t);
#endif
    if (!lsc_plan_tiles(budget, *per_row, *per_row, sizeof(float), max_q, max_b, tq, tb)) return 0;
    /* AMX: blocks on 32-row boundaries, so base blocks start on a packed group of the cache */
    if (amx && *tq > 32) *tq -= *tq % 32;
    if (amx && *tb > 32) *tb -= *tb % 32;
    return 1;
}

static void job_limits(const lsc_ctx *ctx, const cpu_tile_job *job, int64_t *mq, int64_t *mb);

/* The AMX product for job->lowp jobs where AMX is usable and allowed (cpu_amx_usable), for
 * 24 <= d <= 16384 (below, padding d to 32 costs more than AMX saves; above, the band grows past
 * the prefilter's use), and where the workspace holds its padded tiles of at least 32 rows a
 * side; else the float32 GEMM. */
static int use_amx(const lsc_ctx *ctx, const cpu_tile_job *job)
{
    if (!job->lowp || job->q->d < 24 || job->q->d > 16384 || !cpu_amx_usable()) return 0;
    int64_t mq, mb, tq, tb;
    size_t per_row;
    job_limits(ctx, job, &mq, &mb);
    if (!plan(job->q->d, tile_budget(ctx, job, mq, 1), mq, mb, 1, &tq, &tb, &per_row)) return 0;
    return tq >= (mq < 32 ? mq : 32) && tb >= (mb < 32 ? mb : 32);
}

static void job_limits(const lsc_ctx *ctx, const cpu_tile_job *job, int64_t *mq, int64_t *mb)
{
    /* small query blocks share out well among threads; a base block's product (256 x 2048
     * floats, 2 MiB) stays near the cache that the GEMM just wrote it to. At larger D the GEMM
     * of a tile costs more next to reading its product, and taller query blocks load the base
     * rows fewer times. */
    *mq = job->max_tq > 0 ? job->max_tq : (job->q->d >= 256 ? 1024 : 256);
    *mb = job->max_tb > 0 ? job->max_tb : 2048;
    /* at least 4 blocks a thread where blocks keep 128 rows: with fewer the last round leaves
     * threads idle (N = 5000 at D = 8192 made 5 blocks for 2 threads: 1.6x faiss's time) */
    const int64_t T4 = 4 * (int64_t)ctx->threads;
    int64_t share = job->q->n / T4 + (job->q->n % T4 != 0);
    if (share < 128) share = 128;
    if (job->max_tq <= 0 && *mq > share) *mq = share;
    if (*mq > job->q->n) *mq = job->q->n;
    if (*mb > job->b->n) *mb = job->b->n;
}

/* The whole plan of a run: whether it uses AMX, the query-block limit mq and the tile sizes. */
static lsc_status plan_job(lsc_ctx *ctx, const cpu_tile_job *job, int *amx_out, int64_t *mq_out,
                           int64_t *tq_out, int64_t *tb_out)
{
    int64_t mq, mb, tq, tb;
    size_t per_row;
    job_limits(ctx, job, &mq, &mb);
    const int amx = use_amx(ctx, job);
    size_t budget = tile_budget(ctx, job, mq, amx);
    if (job->q->d > INT32_MAX)
        return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                             "%lld columns exceed the BLAS interface's 32-bit dimension",
                             (long long)job->q->d);
    if (!plan(job->q->d, budget, mq, mb, amx, &tq, &tb, &per_row))
        return lsc_set_error(ctx, LSC_STATUS_WORKSPACE_LIMIT,
                             "workspace limit %zu bytes is too small for one tile of %lld "
                             "columns per thread (%d threads, each needs %zu)",
                             ctx->workspace_limit, (long long)job->q->d, ctx->threads,
                             2 * per_row + sizeof(float));
    *amx_out = amx;
    *mq_out = mq;
    *tq_out = tq;
    *tb_out = tb;
    return LSC_STATUS_OK;
}

lsc_status cpu_tile_plan(lsc_ctx *ctx, const cpu_tile_job *job, int64_t *tq, int64_t *tb)
{
    int amx = 0;
    int64_t mq = 0, b = 0;
    const lsc_status s = plan_job(ctx, job, &amx, &mq, tq, &b);
    if (tb) *tb = b;
    return s;
}

static lsc_status tiles_alloc(lsc_ctx *ctx, cpu_tiles *t, int64_t d, int64_t tq, int64_t tb,
                              int amx)
{
    memset(t, 0, sizeof *t);
    size_t fq = (size_t)tq * (size_t)d, fb = (size_t)tb * (size_t)d;
    const size_t nz = (size_t)(tq > tb ? tq : tb);
    size_t bytes = (2 * fq + 2 * fb + (size_t)tq * (size_t)tb) * sizeof(float) +
                   ((size_t)tq + 3 * (size_t)tb + nz) * sizeof(double);
    const size_t aq = amx_bytes(amx, tq, d), ab = amx_bytes(amx, tb, d);
    char *mem = (char *)lsc_malloc(ctx, bytes + aq + ab, "distance tiles");
    if (!mem) return LSC_STATUS_OUT_OF_MEMORY;
    t->mem = mem;
    t->tq = tq;
    t->tb = tb;
    t->d = d;
    t->qsq = (double *)mem;
    t->bsq = t->qsq + tq;
    t->bw = t->bsq + tb;
    t->flag = (int64_t *)(t->bw + tb);
    t->zsq = (double *)(t->flag + tb);
    memset(t->zsq, 0, nz * sizeof(double));
    t->qraw = (float *)(t->zsq + nz);
    t->qt = t->qraw + fq;
    t->braw = t->qt + fq;
    t->bt = t->braw + fb;
    t->c = t->bt + fb;
    if (amx) { /* 64-byte aligned: a tile row across two cache lines halves the AMX rate */
        uintptr_t p = (uintptr_t)(mem + bytes);
        t->qpk = (uint16_t *)((p + 63) & ~(uintptr_t)63);
        p = (uintptr_t)(mem + bytes + aq);
        t->bpk = (uint16_t *)((p + 63) & ~(uintptr_t)63);
    }
    return LSC_STATUS_OK;
}

/* The block that turn `it` of the static round-robin (turn it to thread it mod T) works on: every
 * other full round runs backwards, so with UPPER / ABOVE ranges, where block b has n - b tq base
 * rows, the threads' shares of the pairs even out (plain round-robin gives thread 0 11% more pairs
 * than thread 1 at 20 blocks on 2 threads). A fixed map: results do not depend on timing. */
static int64_t deal(int64_t it, int64_t nblocks, int T)
{
    const int64_t r = it / T, pos = it % T;
    if ((r & 1) && (r + 1) * T <= nblocks) return r * T + (T - 1 - pos);
    return it;
}

/* The base rows [lo, hi) that query block [q0, q0 + nq) meets (CPU_TILES_*). */
static void base_range(const cpu_tile_job *job, int64_t q0, int64_t nq, int64_t *lo, int64_t *hi)
{
    *lo = job->range == CPU_TILES_ALL ? 0 : job->range == CPU_TILES_ABOVE ? q0 + nq : q0;
    *hi = job->range == CPU_TILES_DIAG ? q0 + nq : job->b->n;
}

/* The base set's rows converted once for every query block (cache_wanted): float32 rows, or with
 * AMX the packed groups of 16 (filled by tile_cache_pack once the threads' tiles exist), and
 * their squared norms. All NULL when not wanted; an allocation failure here only costs speed:
 * the tiles load the rows themselves. */
typedef struct {
    float *rows;
    double *sq;
    uint16_t *pk;
    void *mem;
} tile_cache;

static void tile_cache_make(lsc_ctx *ctx, const cpu_tile_job *job, int64_t mq, int amx,
                            tile_cache *c)
{
    const cpu_set *b = job->b;
    const int64_t d = b->d;
    memset(c, 0, sizeof *c);
    if (!cache_wanted(ctx, job, mq, amx)) return;
    c->mem = amx ? malloc(amx_bytes(1, b->n, d)) : malloc((size_t)b->n * (size_t)d * sizeof(float));
    c->sq = c->mem ? (double *)malloc((size_t)b->n * sizeof(double)) : NULL;
    if (!c->sq) {
        free(c->mem);
        c->mem = NULL;
        return;
    }
    if (amx) {
        c->pk = (uint16_t *)(((uintptr_t)c->mem + 63) & ~(uintptr_t)63);
        return;
    }
    c->rows = (float *)c->mem;
#pragma omp parallel for schedule(static) num_threads(ctx->threads)
    for (int64_t r0 = 0; r0 < b->n; r0 += 256) {
        const int64_t nr = b->n - r0 < 256 ? b->n - r0 : 256;
        cpu_set_load(b, r0, nr, NULL, c->rows + r0 * d, c->sq + r0);
    }
}

#if LSC_CPU_AMX
/* The packed base, staged tb rows at a time through each thread's base tile (tb is a multiple of
 * 32, or all of the rows: whole groups of 16). */
static void tile_cache_pack(lsc_ctx *ctx, const cpu_set *b, cpu_tiles *tl, int64_t tb,
                            tile_cache *c)
{
    const int64_t d = b->d, nblk = (b->n + tb - 1) / tb;
#pragma omp parallel for schedule(static) num_threads(ctx->threads)
    for (int64_t blk = 0; blk < nblk; blk++) {
        const int64_t r0 = blk * tb, nr = b->n - r0 < tb ? b->n - r0 : tb;
        float *rt = tl[cpu_tid()].bt;
        cpu_set_load(b, r0, nr, NULL, rt, c->sq + r0);
        cpu_amx_pack_b(rt, nr, d, cpu_amx_b_at(c->pk, r0, d));
    }
}
#endif

/* One run's shared state, read by every thread (done and cancel are written under the critical
 * section and atomically). */
typedef struct {
    lsc_ctx *ctx;
    const cpu_tile_job *job;
    cpu_tiles *tl;
    const tile_cache *cache;
    int amx, q_cached;
    int64_t tq, tb, nblocks;
    double p0, p1, total;
    double *done;
    int *cancel;
} tile_run;

/* Points v's base rows at rows [b0, b0 + nb): the cache's, the query block's own (`square`), or
 * rows loaded into the thread's tile. With the packed AMX cache only the norms are set: the packed
 * rows are read by tile_product. */
static void tile_base_rows(const tile_run *R, cpu_tiles *t, cpu_tiles *v, int64_t b0, int64_t nb,
                           int square)
{
    const tile_cache *c = R->cache;
    if (c->rows) {
        v->bt = c->rows + b0 * R->job->b->d;
        v->bsq = c->sq + b0;
    } else if (c->pk && b0 % 32 == 0) {
        v->bsq = c->sq + b0;
    } else if (square) {
        v->bt = v->qt; /* the block's own rows, loaded with the block */
        v->bsq = v->qsq;
    } else {
        v->bt = t->bt;
        v->bsq = t->bsq;
        cpu_set_load(R->job->b, b0, nb, NULL, t->bt, t->bsq);
    }
}

/* The tile's product into t->c (nq x nb), or, for rows so large (|x| near 1e18 and up) that a
 * float32 product could overflow, no fast form: a product of zeros, norms of zero and an infinite
 * band leave every pair undecided, so each is decided on its exact value. Slow, but such data
 * never gets a wrong answer (it did: 1e19 gave wrong neighbours). */
static void tile_product(const tile_run *R, cpu_tiles *t, cpu_tiles *v, int64_t nq, int64_t b0,
                         int64_t nb, int square, double qmax)
{
    const int64_t d = R->job->q->d;
    double bmax = 0.0;
    for (int64_t j = 0; j < nb; j++) bmax = fmax(bmax, v->bsq[j]);
    if (!lsc_fast_ok(qmax, bmax)) {
        memset(t->c, 0, (size_t)nq * (size_t)nb * sizeof(float));
        v->qsq = t->zsq;
        v->bsq = t->zsq;
        v->E = 0.0;
        v->eabs = INFINITY;
        return;
    }
#if LSC_CPU_AMX
    if (R->amx) {
        /* the whole square where the block meets itself: the callback reads only j > i, and
         * the AMX product costs less than half a GEMM */
        const uint16_t *bp = t->bpk;
        if (R->cache->pk && b0 % 32 == 0) /* whole 32-row blocks of it */
            bp = cpu_amx_b_at(R->cache->pk, b0, d);
        else cpu_amx_pack_b(v->bt, nb, d, t->bpk);
        cpu_amx_gemm(nq, nb, d, t->qpk, bp, t->c, nb);
        return;
    }
#else
    (void)b0;
#endif
    if (square) cpu_syrk_upper(nq, d, v->qt, t->c);
    else cpu_gemm_nt(nq, nb, d, v->qt, v->bt, t->c);
}

/* Query block blk on thread tid: its rows, then each base tile's product and the job's callback,
 * progress after each tile; stops early once the run is cancelled. */
static void tile_block(const tile_run *R, int tid, int64_t blk)
{
    const cpu_tile_job *job = R->job;
    const cpu_set *q = job->q, *b = job->b;
    const int64_t d = q->d, tq = R->tq, tb = R->tb;
    cpu_tiles *t = &R->tl[tid];
    const int64_t q0 = blk * tq, nq = q->n - q0 < tq ? q->n - q0 : tq;
    cpu_tiles v = *t; /* this block's view: own buffers or the shared cache */
    v.qr = raw_rows(q, q0, nq, t->qraw, &v.qld);
    if (R->q_cached) {
        v.qt = R->cache->rows + q0 * d;
        v.qsq = R->cache->sq + q0;
    } else {
        cpu_set_load(q, q0, nq, NULL, t->qt, t->qsq);
    }
#if LSC_CPU_AMX
    if (R->amx) cpu_amx_pack_q(v.qt, nq, d, t->qpk);
#endif
    double *qsq_blk = v.qsq;
    double qmax = 0.0;
    for (int64_t i = 0; i < nq; i++) qmax = fmax(qmax, qsq_blk[i]);
    int64_t b_lo, b_hi;
    base_range(job, q0, nq, &b_lo, &b_hi);
    for (int64_t b0 = b_lo; b0 < b_hi; b0 += tb) {
        const int64_t nb = b_hi - b0 < tb ? b_hi - b0 : tb;
        const int square = job->range == CPU_TILES_DIAG && b0 == q0 && nb == nq;
        v.br = raw_rows(b, b0, nb, t->braw, &v.bld);
        v.qsq = qsq_blk; /* the last tile may have had no fast form */
        v.E = t->E;
        v.eabs = t->eabs;
        tile_base_rows(R, t, &v, b0, nb, square);
        tile_product(R, t, &v, nq, b0, nb, square, qmax);
        job->tile(job->user, tid, &v, q0, nq, b0, nb);
        double frac;
#pragma omp critical(lsc_tile_progress)
        {
            *R->done += (double)nq * (double)nb;
            frac = *R->done / R->total;
        }
        /* the callback runs on the calling thread only (OpenMP's thread 0) */
        if (tid == 0 &&
            lsc_progress(R->ctx, R->p0 + (R->p1 - R->p0) * (frac < 1 ? frac : 1)) != LSC_STATUS_OK)
            __atomic_store_n(R->cancel, 1, __ATOMIC_RELAXED);
        if (__atomic_load_n(R->cancel, __ATOMIC_RELAXED)) break;
    }
    if (job->block_done && !__atomic_load_n(R->cancel, __ATOMIC_RELAXED))
        job->block_done(job->user, tid, q0, nq);
}

lsc_status cpu_tile_run(lsc_ctx *ctx, const cpu_tile_job *job, double p0, double p1)
{
    const cpu_set *q = job->q, *b = job->b;
    const int64_t d = q->d;
    int amx = 0;
    int64_t tq = 0, mq = 0, tb = 0;
    LSC_TRY(plan_job(ctx, job, &amx, &mq, &tq, &tb));
    const int T = ctx->threads;
    tile_cache cache;
    tile_cache_make(ctx, job, mq, amx, &cache);
    cpu_tiles *tl = (cpu_tiles *)lsc_calloc(ctx, (size_t)T, sizeof(cpu_tiles), "tiles");
    if (!tl) {
        free(cache.mem);
        free(cache.sq);
        return LSC_STATUS_OUT_OF_MEMORY;
    }
    lsc_status st = LSC_STATUS_OK;
    for (int i = 0; i < T && st == LSC_STATUS_OK; i++) {
        st = tiles_alloc(ctx, &tl[i], d, tq, tb, amx);
        tl[i].E = amx ? cpu_amx_rel(d) : lsc_fast_rel(d);
        tl[i].eabs = amx ? cpu_amx_abs(d) : lsc_fast_abs(d);
    }
#if LSC_CPU_AMX
    if (cache.pk && st == LSC_STATUS_OK) tile_cache_pack(ctx, b, tl, tb, &cache);
#endif
    const int64_t nblocks = (q->n + tq - 1) / tq;
    /* work in row pairs: every block's nq x (its base range) */
    double total = 0.0;
    for (int64_t blk = 0; blk < nblocks; blk++) {
        const int64_t q0 = blk * tq, nq = q->n - q0 < tq ? q->n - q0 : tq;
        int64_t lo, hi;
        base_range(job, q0, nq, &lo, &hi);
        total += (double)nq * (double)(hi - lo);
    }
    if (total <= 0.0) total = 1.0; /* nothing above the last block: progress is complete */
    int cancel = 0;
    double done = 0.0; /* updated under a critical section, read by thread 0 for progress */
    /* the query set is the base set (reference, pairs, exclude_self): its blocks come from the
     * cache too */
    const tile_run R = {ctx, job, tl,    &cache, amx,    cache.rows && q == b, tq, tb, nblocks,
                        p0,  p1,  total, &done,  &cancel};
    const int blas_prev = st == LSC_STATUS_OK ? cpu_blas_single_enter() : 0;
    if (st == LSC_STATUS_OK) {
#pragma omp parallel num_threads(T)
        {
            const int tid = cpu_tid();
#pragma omp for schedule(static, 1)
            for (int64_t it = 0; it < nblocks; it++) {
                if (__atomic_load_n(&cancel, __ATOMIC_RELAXED)) continue;
                tile_block(&R, tid, deal(it, nblocks, T));
            }
        }
        cpu_blas_single_leave(blas_prev);
        if (cancel) st = LSC_STATUS_CANCELLED; /* the message is already recorded */
        else st = lsc_progress(ctx, p1);
    }
    for (int i = 0; i < T; i++) free(tl[i].mem);
    free(tl);
    free(cache.mem);
    free(cache.sq);
    return st;
}
