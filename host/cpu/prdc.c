/* Precision, recall, density and coverage on the CPU (docs/METRICS.md section 5). The radii come
 * from the exact kNN; one tiled pass of fake against real then decides every comparison d < r with
 * the fast form where its error band allows and on the exact value where it does not. Working
 * memory: O((N + M) k) for the radii passes, O(N + M) counters, and the tiles. */
#include "tiles.h"
#include "../sharded.h"
#include "../../common/prdc_figures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The k-th neighbour's value of every row of s among its other rows. */
static lsc_status radii_of(lsc_ctx *ctx, const cpu_set *s, int64_t k, double *radius_v, double p0,
                           double p1)
{
    size_t bytes;
    LSC_TRY(lsc_bytes(ctx, lsc_mul_i64(s->n, k), sizeof(double), &bytes, "radius neighbours"));
    double *v = (double *)lsc_malloc(ctx, bytes, "radius neighbours");
    int64_t *ix = v ? (int64_t *)lsc_malloc(ctx, bytes, "radius neighbours") : NULL;
    lsc_status st = ix ? cpu_knn_sets(ctx, s, s, k, 1, v, ix, p0, p1) : LSC_STATUS_OUT_OF_MEMORY;
    if (st == LSC_STATUS_OK)
        for (int64_t i = 0; i < s->n; i++) radius_v[i] = v[i * k + k - 1];
    free(v);
    free(ix);
    return st;
}

lsc_status lsc_cpu_reference_radii(lsc_ctx *ctx, lsc_reference *ref)
{
    lsc_matrix m = lsc_matrix_f32(ref->data, ref->rows, ref->cols);
    cpu_set s;
    LSC_TRY(cpu_set_init(ctx, &s, &m, NULL, m.rows, (int)ref->metric, NULL));
    lsc_status st = radii_of(ctx, &s, ref->k, ref->radius_v, 0, 1);
    cpu_set_free(&s);
    if (st != LSC_STATUS_OK) return st;
    int64_t zero = 0;
    for (int64_t i = 0; i < ref->rows; i++) {
        ref->radius[i] = lsc_dist_from_v((int)ref->metric, ref->radius_v[i]);
        zero += ref->radius_v[i] == 0.0;
    }
    ref->zero_radii = zero;
    return LSC_STATUS_OK;
}

typedef struct prdc_job {
    const cpu_set *sf, *sr;
    const double *real_r, *fake_r;
    int inclusive;
    int64_t *density;          /* per fake row, owned by the thread of its block */
    unsigned char *real_hit;   /* recall: set-only flags, relaxed atomics */
    unsigned char *real_cov;   /* coverage: likewise */
    const lsc_prdc_near *near; /* the fused per-row tests, or NULL; flags owned like density */
    const lsc_prdc_judge *jg;  /* near->judge: the judged subsets, or NULL */
    int64_t n;                 /* reference rows */
} prdc_job;

/* Whether the set-only bytes of real row gi (one per judged subset, [j n + gi]) are all set. */
static int judged_all(const unsigned char *b, int subsets, int64_t n, int64_t gi)
{
    for (int j = 0; j < subsets; j++)
        if (!__atomic_load_n(&b[j * n + gi], __ATOMIC_RELAXED)) return 0;
    return 1;
}

/* Whether every judged subset has put real row gi in one of its balls already (then the row needs
 * no more fake-ball tests for them). */
static int judged_recalled(const lsc_prdc_judge *jg, int64_t n, int64_t gi)
{
    return jg->ball_v[gi] < 0 || judged_all(jg->rec, jg->subsets, n, gi);
}

static void set_byte(unsigned char *p)
{
    if (!__atomic_load_n(p, __ATOMIC_RELAXED)) __atomic_store_n(p, 1, __ATOMIC_RELAXED);
}

LSC_CPU_CLONES static void prdc_tile(void *user, int tid, const cpu_tiles *t, int64_t f0,
                                     int64_t nf, int64_t r0, int64_t nr)
{
    (void)tid;
    const prdc_job *J = (const prdc_job *)user;
    const unsigned pincl = lsc_prdc_incl(J->inclusive), jincl = lsc_judge_incl(J->inclusive);
    const double *rr = J->real_r;
    /* A pair can be inside a ball of radius r only if its fast lower end vf - err <= r: the
     * float32 prefilter of tiles.h, 16 lanes to a vector, with the real ball's radius carried by
     * the real row's weight wr_i and the fake ball's by the fake row's threshold. A chunk of 32
     * real rows where neither ball can hold any pair is skipped whole: nothing in it counts. */
    const double E = t->E;
    const lsc_prdc_judge *jg = J->jg;
    const int64_t n = J->n;
    float *wr = (float *)t->bw, *wb = wr + t->tb; /* tb doubles of scratch hold 2 tb floats */
    double bmax = 0.0, rmax = 0.0;
    for (int64_t i = 0; i < nr; i++) {
        const double bsq = t->bsq[i];
        double r = rr[r0 + i];
        /* a row of the judging half is tested against its own ball and, until every subset
         * has a row in it, its widened ball (wide_v >= ball_v) */
        if (jg && jg->ball_v[r0 + i] > r) r = jg->ball_v[r0 + i];
        if (jg && jg->wide_v[r0 + i] > r && !judged_all(jg->wide, jg->subsets, n, r0 + i))
            r = jg->wide_v[r0 + i];
        wr[i] = cpu_prefilter_w(E, bsq, r);
        /* a real row already inside some fake ball needs no more fake-ball tests (the flag is
         * only ever set, so one seen set stays set) */
        wb[i] = __atomic_load_n(&J->real_hit[r0 + i], __ATOMIC_RELAXED) &&
                        (!jg || judged_recalled(jg, n, r0 + i))
                    ? INFINITY
                    : cpu_prefilter_w(E, bsq, 0.0);
        if (bsq > bmax) bmax = bsq;
        if (r > rmax) rmax = r;
    }
    for (int64_t j = 0; j < nf; j++) {
        const int64_t gj = f0 + j;
        const double fsq = t->qsq[j], sj = J->fake_r[gj];
        const float *crow = t->c + j * nr;
        const double slack = 1e-6 * (fsq + bmax + rmax) + t->eabs + 1e-300;
        /* its judged subset (-1: none), whose ball around the row is tested too */
        const int sub = jg ? jg->subset[gj] : -1;
        const double sv = sub >= 0 ? jg->sub_v[gj] : -1.0;
        const float thr_r = cpu_prefilter_row(E, fsq, 0.0, slack);
        const float thr_f = cpu_prefilter_row(E, fsq, sv > sj ? sv : sj, slack);
        /* the near tests, while this row still needs them: a pair within a bound b of the row
         * passes the real-ball prefilter widened by b (every radius is >= 0) */
        unsigned char nf_ = J->near && J->near->flags ? J->near->flags[gj] : 0;
        unsigned char jf = sub >= 0 ? jg->flags[gj] : 0;
        const double ns = J->near ? J->near->strict_v : -1.0, ni = J->near ? J->near->incl_v : -1.0;
        int need_s = ns >= 0 && !(nf_ & LSC_NEAR_STRICT),
            need_i = ni >= 0 && !(nf_ & LSC_NEAR_INCL);
        const double js = sub >= 0 ? jg->strict_v : -1.0;
        int need_js = js >= 0 && !(jf & LSC_NEAR_STRICT),
            need_ji = sub >= 0 && !(jf & LSC_NEAR_INCL);
        double bn = need_s ? ns : 0.0;
        if (need_i && ni > bn) bn = ni;
        if (need_js && js > bn) bn = js;
        const float thr_n = need_s || need_i || need_js || need_ji
                                ? cpu_prefilter_row(E, fsq, bn, slack + 1e-6 * bn)
                                : INFINITY;
        int64_t dens = 0, jdens = 0;
        for (int64_t c0 = 0; c0 < nr; c0 += LSC_CPU_CHUNK) {
            const int64_t c1 = c0 + LSC_CPU_CHUNK < nr ? c0 + LSC_CPU_CHUNK : nr;
            int any = 0;
            for (int64_t i = c0; i < c1; i++)
                any |= (crow[i] - wr[i] >= thr_r) | (crow[i] - wb[i] >= thr_f) |
                       (crow[i] - wr[i] >= thr_n);
            if (!any) continue;
            for (int64_t i = c0; i < c1; i++) {
                /* the same prefilter, row by row: most rows of a chunk that passes need nothing */
                if (!((crow[i] - wr[i] >= thr_r) | (crow[i] - wb[i] >= thr_f) |
                      (crow[i] - wr[i] >= thr_n)))
                    continue;
                const int64_t gi = r0 + i;
                const double vf = fsq + t->bsq[i] - 2.0 * (double)crow[i];
                const double err = cpu_tile_err(t, fsq, t->bsq[i]);
                /* a real row already inside some fake ball needs no more recall tests */
                const double pb[LSC_PRDC_TESTS] = {rr[gi], sj, ns, ni};
                const unsigned pneed =
                    1u << LSC_PRDC_REAL |
                    (unsigned)!__atomic_load_n(&J->real_hit[gi], __ATOMIC_RELAXED)
                        << LSC_PRDC_FAKE |
                    (unsigned)need_s << LSC_PRDC_STRICT | (unsigned)need_i << LSC_PRDC_INCL;
                int pin[LSC_PRDC_TESTS];
                const int px = lsc_tests_fast(vf, err, pb, LSC_PRDC_TESTS, pneed, pincl, pin);
                /* the judged subset's tests, for a row of A */
                const double bv = sub >= 0 ? jg->ball_v[gi] : -1.0;
                const int judged = bv >= 0;
                const int64_t at = (int64_t)sub * n + gi;
                int in[LSC_JUDGE_TESTS] = {0, 0, 0, 0, 0}, jx = 0;
                const double jb[LSC_JUDGE_TESTS] = {bv, judged ? jg->wide_v[gi] : -1.0, sv, js,
                                                    0.0};
                if (judged) {
                    const unsigned need =
                        1u |
                        (unsigned)(jb[LSC_JUDGE_WIDE] >= 0 &&
                                   !__atomic_load_n(&jg->wide[at], __ATOMIC_RELAXED))
                            << LSC_JUDGE_WIDE |
                        (unsigned)!__atomic_load_n(&jg->rec[at], __ATOMIC_RELAXED)
                            << LSC_JUDGE_SUB |
                        (unsigned)need_js << LSC_JUDGE_STRICT | (unsigned)need_ji << LSC_JUDGE_ZERO;
                    jx = lsc_tests_fast(vf, err, jb, LSC_JUDGE_TESTS, need, jincl, in);
                }
                if (px || jx) {
                    double ve =
                        cpu_exact(J->sf, gj, t->qr + j * t->qld, J->sr, gi, t->br + i * t->bld);
                    if (px) lsc_tests_exact(ve, pb, LSC_PRDC_TESTS, pincl, pin);
                    if (jx) lsc_tests_exact(ve, jb, LSC_JUDGE_TESTS, jincl, in);
                }
                if (judged) {
                    if (in[LSC_JUDGE_BALL]) {
                        jdens++;
                        set_byte(&jg->cov[at]);
                    }
                    if (in[LSC_JUDGE_BALL] || in[LSC_JUDGE_WIDE]) set_byte(&jg->wide[at]);
                    if (in[LSC_JUDGE_SUB]) set_byte(&jg->rec[at]);
                    if (in[LSC_JUDGE_STRICT]) {
                        jf |= LSC_NEAR_STRICT;
                        need_js = 0;
                    }
                    if (in[LSC_JUDGE_ZERO]) {
                        jf |= LSC_NEAR_INCL;
                        need_ji = 0;
                    }
                }
                if (pin[LSC_PRDC_STRICT]) {
                    nf_ |= LSC_NEAR_STRICT;
                    need_s = 0;
                }
                if (pin[LSC_PRDC_INCL]) {
                    nf_ |= LSC_NEAR_INCL;
                    need_i = 0;
                }
                if (pin[LSC_PRDC_REAL]) {
                    dens++;
                    if (!__atomic_load_n(&J->real_cov[gi], __ATOMIC_RELAXED))
                        __atomic_store_n(&J->real_cov[gi], 1, __ATOMIC_RELAXED);
                }
                if (pin[LSC_PRDC_FAKE]) {
                    __atomic_store_n(&J->real_hit[gi], 1, __ATOMIC_RELAXED);
                    if (!jg || judged_recalled(jg, n, gi)) wb[i] = INFINITY;
                }
            }
        }
        J->density[gj] += dens;
        if (J->near && J->near->flags) J->near->flags[gj] = nf_;
        if (sub >= 0) {
            jg->density[gj] += jdens;
            jg->flags[gj] = jf;
        }
    }
}

lsc_status lsc_cpu_prdc(lsc_ctx *ctx, const lsc_reference *ref, const lsc_matrix *fake,
                        lsc_prdc_result *out, unsigned char *real_flags, int64_t *fake_counts,
                        const lsc_prdc_near *near)
{
    const int64_t N = ref->rows, M = fake->rows, d = ref->cols, k = ref->k;
    const int metric = (int)ref->metric;
    lsc_matrix real = lsc_matrix_f32(ref->data, N, d);
    cpu_set sr, sf;
    /* both sets centred on the reference's mean (cosine ignores centres) */
    LSC_TRY(cpu_set_init(ctx, &sr, &real, NULL, N, metric, NULL));
    lsc_status st = cpu_set_init(ctx, &sf, fake, NULL, M, metric, sr.centre);
    double *fake_r = NULL;
    int64_t *density = NULL;
    unsigned char *real_hit = NULL;
    if (st == LSC_STATUS_OK) {
        fake_r = (double *)lsc_malloc(ctx, (size_t)M * sizeof(double), "fake radii");
        density = fake_r ? (int64_t *)lsc_calloc(ctx, (size_t)M, sizeof(int64_t), "density") : NULL;
        real_hit = density ? (unsigned char *)lsc_calloc(ctx, (size_t)N, 2, "real flags") : NULL;
        if (!real_hit) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    if (st == LSC_STATUS_OK) st = radii_of(ctx, &sf, k, fake_r, 0.0, 0.3);
    if (st == LSC_STATUS_OK) {
        /* one pass of fake (query blocks) against real (base blocks) */
        const lsc_prdc_judge *jg = near ? near->judge : NULL;
        prdc_job J = {
            &sf,     &sr,      ref->radius_v, fake_r, ref->comparison == LSC_COMPARISON_INCLUSIVE,
            density, real_hit, real_hit + N,  near,   jg,
            N};
        if (near && near->flags) memset(near->flags, 0, (size_t)M);
        if (jg) {
            const size_t jn = (size_t)jg->subsets * (size_t)N;
            memset(jg->density, 0, (size_t)M * sizeof *jg->density);
            memset(jg->flags, 0, (size_t)M);
            memset(jg->cov, 0, jn);
            memset(jg->rec, 0, jn);
            memset(jg->wide, 0, jn);
        }
        cpu_tile_job job = {&sf, &sr, CPU_TILES_ALL, 0, 0, &J, prdc_tile, NULL, 0, 1};
        st = cpu_tile_run(ctx, &job, 0.3, 1.0);
    }
    if (st == LSC_STATUS_OK) {
        int64_t prec = 0, dens = 0, rec = 0, cov = 0, zf = 0;
        for (int64_t j = 0; j < M; j++) {
            prec += density[j] > 0;
            dens += density[j];
            zf += fake_r[j] == 0.0;
        }
        for (int64_t i = 0; i < N; i++) {
            rec += real_hit[i];
            cov += real_hit[N + i];
        }
        lsc_prdc_from_counts(prec, dens, rec, cov, N, M, k, out);
        out->zero_radii_fake = zf;
        if (real_flags) lsc_row_flags(real_hit, N, real_flags);
        if (fake_counts) memcpy(fake_counts, density, (size_t)M * sizeof *fake_counts);
    }
    free(fake_r);
    free(density);
    free(real_hit);
    cpu_set_free(&sf);
    cpu_set_free(&sr);
    return st;
}

/* The sharded PRDC's pass (host/sharded.h): prdc_tile over one shard of each set, the radii given,
 * so that every pair is decided by the very code lsc_prdc runs. The fake rows are centred on the
 * real shard's mean as lsc_cpu_prdc centres them on the reference's: the centre moves the fast
 * values and their bands only, never a decision. */
lsc_status lsc_cpu_prdc_pass(lsc_ctx *ctx, const lsc_matrix *real, const double *real_v,
                             const lsc_matrix *fake, const double *fake_v, int metric,
                             int inclusive, int64_t *density, unsigned char *real_flags, double p0,
                             double p1)
{
    const int64_t N = real->rows;
    cpu_set sr, sf;
    memset(&sf, 0, sizeof sf);
    lsc_status st = cpu_set_init(ctx, &sr, real, NULL, N, metric, NULL);
    if (st == LSC_STATUS_OK) st = cpu_set_init(ctx, &sf, fake, NULL, fake->rows, metric, sr.centre);
    if (st == LSC_STATUS_OK) {
        prdc_job J = {&sf,  &sr,  real_v, fake_v, inclusive, density, real_flags, real_flags + N,
                      NULL, NULL, N};
        cpu_tile_job job = {&sf, &sr, CPU_TILES_ALL, 0, 0, &J, prdc_tile, NULL, 0, 1};
        st = cpu_tile_run(ctx, &job, p0, p1);
    }
    cpu_set_free(&sf);
    cpu_set_free(&sr);
    return st;
}
