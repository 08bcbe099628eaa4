/* The sharded self kNN over a covering (lsc.h section 12): where the transport has a
 * point-to-point step, each rank receives only the pieces of other shards it needs so that every
 * pair of rows meets on some rank, works out partial lists for the rows it received and sends them
 * back to their owners. Passing every shard round the ring sends each rank N - n rows (2N/3 at 3
 * ranks, 3N/4 at 4); a covering needs N/3 and 3N/8, plus the partial lists (12 bytes an entry),
 * so it runs where its bytes come out below the ring's. The lists are the ring's bit for bit: the
 * same exact values (lsc_shard_knn), each pair's side computed exactly once, merged with ties by
 * the smaller global index. */
#include "sharded.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CV_MAX_RANKS = 4, CV_MAX_PIECES = 8 };

/* A covering: shard s is cut into g pieces (piece p = s g + h, rows [n_s h / g, n_s (h + 1) / g)
 * of the shard) and rank R receives the pieces of bit mask recv[R]. Found by an exhaustive
 * search over every choice of pieces per rank, minimising the largest rank's bytes received
 * (rows and lists, even shards); bench/cover_search.py repeats it and prints these. At 2 ranks the ring is optimal (a rank lacking a row of the other shard
 * and the other lacking one of its own would leave that pair on neither), so there is no plan. */
typedef struct cover_plan {
    int64_t ranks, g;
    unsigned recv[CV_MAX_RANKS];
} cover_plan;

static const cover_plan PLANS[] = {
    /* each rank the next shard: pair (r, r + 1) meets on r, (r, r + 2) on r + 2 */
    {3, 1, {1u << 1, 1u << 2, 1u << 0}},
    /* three halves a rank: 0 <- (1,0) (1,1) (2,0); 1 <- (0,0) (2,0) (3,0);
     * 2 <- (0,0) (1,0) (3,1); 3 <- (0,1) (1,1) (2,1) */
    {4, 2, {0x1Cu, 0x51u, 0x85u, 0x2Au}},
};

/* The plan's consequences for the agreed shard sizes: who computes what, and the bytes. */
typedef struct cover {
    const cover_plan *plan;
    int64_t np;                   /* pieces: ranks x g */
    int64_t lo[CV_MAX_PIECES];    /* a piece's first row in its shard */
    int64_t len[CV_MAX_PIECES];   /* its rows */
    unsigned holds[CV_MAX_RANKS]; /* pieces a rank holds: its own and those it receives */
    /* work[q][R]: the pieces rank R pairs q's rows with on behalf of q's owner (0: none) */
    unsigned work[CV_MAX_PIECES][CV_MAX_RANKS];
} cover;

static int64_t piece_shard(const cover *c, int64_t p) { return p / c->plan->g; }

static unsigned own_pieces(const cover *c, int64_t r)
{
    const int64_t g = c->plan->g;
    return ((1u << g) - 1u) << (r * g);
}

static int popcount(unsigned m)
{
    int n = 0;
    for (; m; m &= m - 1) n++;
    return n;
}

static const cover_plan *find_plan(int64_t ranks)
{
    for (size_t i = 0; i < sizeof PLANS / sizeof PLANS[0]; i++)
        if (PLANS[i].ranks == ranks) return &PLANS[i];
    return NULL;
}

/* For a piece q of shard Y, the partners of another shard Y does not hold are paired with q on
 * the smallest set of ranks that hold q and, together, all of those partners (ties: the smaller
 * mask of ranks); each partner goes to the first of them holding it. Every other partner of q is
 * paired on Y itself. */
static void cover_derive(cover *c, const cover_plan *plan, const int64_t *rows)
{
    memset(c, 0, sizeof *c);
    c->plan = plan;
    const int64_t P = plan->ranks, g = plan->g;
    c->np = P * g;
    for (int64_t p = 0; p < c->np; p++) {
        const int64_t n = rows[p / g], h = p % g;
        c->lo[p] = n / g * h + n % g * h / g; /* floor(n h / g) without overflow */
        const int64_t hi = n / g * (h + 1) + n % g * (h + 1) / g;
        c->len[p] = hi - c->lo[p];
    }
    for (int64_t r = 0; r < P; r++) c->holds[r] = own_pieces(c, r) | plan->recv[r];
    for (int64_t q = 0; q < c->np; q++) {
        const int64_t y = piece_shard(c, q);
        const unsigned need = ~c->holds[y] & ((1u << c->np) - 1u) & ~own_pieces(c, y);
        if (!need) continue;
        unsigned cand = 0;
        for (int64_t r = 0; r < P; r++)
            if (plan->recv[r] >> q & 1u) cand |= 1u << r;
        unsigned best = 0;
        for (int size = 1; size <= (int)P && !best; size++)
            for (unsigned m = 1; m < 1u << P && !best; m++) {
                if (popcount(m) != size || (m & ~cand)) continue;
                unsigned got = 0;
                for (int64_t r = 0; r < P; r++)
                    if (m >> r & 1u) got |= c->holds[r];
                if ((need & ~got) == 0) best = m;
            }
        /* every plan covers every pair, so `best` is never 0: the sharded tests' exact lists
         * at 3 and 4 ranks fail for a plan that leaves a pair out */
        for (int64_t p = 0; p < c->np; p++) {
            if (!(need >> p & 1u)) continue;
            for (int64_t r = 0; r < P; r++)
                if ((best >> r & 1u) && (c->holds[r] >> p & 1u)) {
                    c->work[q][r] |= 1u << p;
                    break;
                }
        }
    }
}

/* Rows of the pieces in mask m. */
static int64_t mask_rows(const cover *c, unsigned m)
{
    int64_t n = 0;
    for (int64_t p = 0; p < c->np; p++)
        if (m >> p & 1u) n += c->len[p];
    return n;
}

/* A partial list's entries a row (k or fewer candidates) and its index width: an offset into
 * the candidates, 4 bytes while they fit. */
static int64_t list_k(int64_t cand, int64_t k) { return cand < k ? cand : k; }
static size_t index_width(int64_t cand) { return cand <= (int64_t)1 << 32 ? 4 : 8; }

/* Bytes of piece q's partial list computed on rank r (0 where r pairs none of q). */
static size_t list_bytes(const cover *c, int64_t q, int64_t r, int64_t k)
{
    if (!c->work[q][r]) return 0;
    const int64_t cand = mask_rows(c, c->work[q][r]);
    return (size_t)(c->len[q] * list_k(cand, k)) * (8 + index_width(cand));
}

/* Bytes of the lists rank `from` sends rank `to` (the pieces of shard `to` that `from` pairs). */
static size_t lists_between(const cover *c, int64_t from, int64_t to, int64_t k)
{
    size_t b = 0;
    for (int64_t q = 0; q < c->np; q++)
        if (piece_shard(c, q) == to) b += list_bytes(c, q, from, k);
    return b;
}

/* The largest rank's bytes received by the covering and by the ring (in double: a comparison). */
static void cover_bytes(const cover *c, const int64_t *rows, int64_t d, int64_t k, double *cv,
                        double *ring)
{
    const int64_t P = c->plan->ranks;
    double all = 0;
    for (int64_t r = 0; r < P; r++) all += (double)rows[r];
    *cv = 0;
    *ring = 0;
    for (int64_t r = 0; r < P; r++) {
        double b = (double)mask_rows(c, c->plan->recv[r]) * 4.0 * (double)d;
        for (int64_t s = 0; s < P; s++) b += (double)lists_between(c, s, r, k);
        const double rb = (all - (double)rows[r]) * 4.0 * (double)d;
        *cv = b > *cv ? b : *cv;
        *ring = rb > *ring ? rb : *ring;
    }
}

typedef struct cover_job {
    const cover *c;
    const float *x;            /* this rank's rows */
    const float *held;         /* the pieces received, in piece order */
    int64_t at[CV_MAX_PIECES]; /* a received piece's first row in held */
    int64_t n, d, k, rank, metric;
    const int64_t *first; /* each shard's first global row */
    lsc_knn_scratch s;    /* a kNN call's lists, a merge's */
    double p0, p1;        /* progress: the range the kNN calls share equally */
    int64_t calls, done;  /* the kNN calls in all, and those made */
} cover_job;

/* Where the first i of the calls' shares end: the last at p1 itself, which a running sum of
 * shares can pass by an ulp (into the caller's next phase). */
static double share_end(const cover_job *J, int64_t i)
{
    return i >= J->calls ? J->p1 : J->p0 + (J->p1 - J->p0) * (double)i / (double)J->calls;
}

/* The rows of piece p as this rank holds them. */
static const float *piece_rows(const cover_job *J, int64_t p)
{
    if (piece_shard(J->c, p) == J->rank) return J->x + J->c->lo[p] * J->d;
    return J->held + J->at[p] * J->d;
}

/* The nearest of q's rows (nq of them at qx; NULL: this rank's shard against itself) among
 * piece p's, merged into running lists (v, ix: cap a row, `*have` entries) with p's rows numbered
 * from `off`: the next of the calls sharing the progress. */
static lsc_status pair_with(lsc_ctx *ctx, cover_job *J, const float *qx, int64_t nq, int64_t p,
                            int64_t off, double *v, int64_t *ix, int64_t cap, int64_t *have)
{
    const double p0 = share_end(J, J->done), p1 = share_end(J, ++J->done);
    return lsc_knn_merge_block(ctx, qx, nq, qx ? piece_rows(J, p) : J->x, qx ? J->c->len[p] : J->n,
                               J->d, (int)J->metric, off, v, ix, cap, have, &J->s, p0, p1);
}

/* Global row of entry e of a partial list whose candidates are the pieces of `work`. */
static int64_t cand_global(const cover *c, const int64_t *first, unsigned work, int64_t e)
{
    for (int64_t p = 0; p < c->np; p++) {
        if (!(work >> p & 1u)) continue;
        if (e < c->len[p]) return first[piece_shard(c, p)] + c->lo[p] + e;
        e -= c->len[p];
    }
    return -1; /* not reached: the offsets come from the same plan */
}

static void put_index(unsigned char *b, size_t w, int64_t v)
{
    if (w == 4) {
        const uint32_t u = (uint32_t)v;
        memcpy(b, &u, 4);
    } else {
        memcpy(b, &v, 8);
    }
}

static int64_t get_index(const unsigned char *b, size_t w)
{
    if (w == 4) {
        uint32_t u;
        memcpy(&u, b, 4);
        return (int64_t)u;
    }
    int64_t v;
    memcpy(&v, b, 8);
    return v;
}

/* The first row and the rows of the pieces of mask m, all of one shard: with at most two pieces
 * a shard (the plans above), any set of them is contiguous. */
static void span(const cover *c, unsigned m, int64_t *lo, int64_t *nrows)
{
    *lo = 0;
    *nrows = 0;
    for (int64_t p = c->np - 1; p >= 0; p--)
        if (m >> p & 1u) {
            *lo = c->lo[p];
            *nrows += c->len[p];
        }
}

static lsc_status cover_run(lsc_ctx *ctx, const cover *c, const float *x, int64_t d, int metric,
                            int64_t k, const int64_t *rows, const int64_t *first, double *v,
                            int64_t *idx, double p0, double p1, const char *what)
{
    const int64_t rank = lsc_tp_rank(ctx), P = c->plan->ranks, n = rows[rank];
    const unsigned mine = c->plan->recv[rank];
    cover_job J;
    memset(&J, 0, sizeof J);
    J.c = c;
    J.x = x;
    J.n = n;
    J.d = d;
    J.k = k;
    J.rank = rank;
    J.metric = metric;
    J.first = first;

    /* most_q: the most rows of one kNN call's queries, this shard's or a piece's it pairs */
    int64_t held_rows = 0, most_q = n, work_entries = 0, calls = 1;
    int64_t wat[CV_MAX_PIECES] = {0};
    for (int64_t p = 0; p < c->np; p++) {
        if (!(mine >> p & 1u)) continue;
        J.at[p] = held_rows;
        held_rows += c->len[p];
        calls++;
        if (c->work[p][rank]) {
            most_q = c->len[p] > most_q ? c->len[p] : most_q;
            wat[p] = work_entries;
            work_entries += c->len[p] * list_k(mask_rows(c, c->work[p][rank]), k);
            calls += popcount(c->work[p][rank]);
        }
    }
    J.calls = calls;
    J.p0 = p0;
    J.p1 = p1;
    size_t most_send = 0, most_recv = 0;
    for (int64_t s = 1; s < P; s++) {
        const int64_t up = (rank + s) % P, down = (rank - s + P) % P;
        const size_t o = lists_between(c, rank, down, k), i = lists_between(c, up, rank, k);
        most_send = o > most_send ? o : most_send;
        most_recv = i > most_recv ? i : most_recv;
    }
    size_t kb = 0, hb = 0, wb = 0;
    lsc_status st = lsc_bytes(ctx, lsc_mul_i64(most_q, k), sizeof(double), &kb, what);
    if (st == LSC_STATUS_OK)
        st = lsc_bytes(ctx, lsc_mul_i64(held_rows, d), sizeof(float), &hb, "the pieces received");
    if (st == LSC_STATUS_OK) st = lsc_bytes(ctx, work_entries, sizeof(double), &wb, what);
    float *held = NULL;
    double *wv = NULL;
    int64_t *wi = NULL;
    unsigned char *lout = NULL, *lin = NULL;
    if (st == LSC_STATUS_OK) {
        /* + 1: a buffer of no bytes still gets a pointer, so a failure is always NULL */
        J.s.tv = (double *)lsc_malloc(ctx, kb + 1, "a piece's kNN values");
        J.s.ti = J.s.tv ? (int64_t *)lsc_malloc(ctx, kb + 1, "a piece's kNN indices") : NULL;
        J.s.mv = J.s.ti ? (double *)lsc_malloc(ctx, (size_t)k * sizeof(double), "kNN merge") : NULL;
        J.s.mi =
            J.s.mv ? (int64_t *)lsc_malloc(ctx, (size_t)k * sizeof(int64_t), "kNN merge") : NULL;
        held = J.s.mi ? (float *)lsc_malloc(ctx, hb + 1, "the pieces received") : NULL;
        wv = held ? (double *)lsc_malloc(ctx, wb + 1, "partial kNN values") : NULL;
        wi = wv ? (int64_t *)lsc_malloc(ctx, wb + 1, "partial kNN indices") : NULL;
        lout = wi ? (unsigned char *)lsc_malloc(ctx, most_send + 1, "partial lists sent") : NULL;
        lin =
            lout ? (unsigned char *)lsc_malloc(ctx, most_recv + 1, "partial lists received") : NULL;
        if (!lin) st = LSC_STATUS_OUT_OF_MEMORY;
    }
    J.held = held;
    st = lsc_tp_agree(ctx, st, NULL, 0, NULL);

    /* the rows: at step s, to rank + s the pieces of this shard it receives, from rank - s those
     * of shard rank - s this rank receives (consecutive in held: both in piece order) */
    for (int64_t s = 1; st == LSC_STATUS_OK && s < P; s++) {
        const int64_t up = (rank + s) % P, down = (rank - s + P) % P;
        const unsigned give = c->plan->recv[up] & own_pieces(c, rank);
        const unsigned take = mine & own_pieces(c, down);
        int64_t lo, nr;
        span(c, give, &lo, &nr);
        const float *from = x + lo * d;
        int64_t at = 0;
        for (int64_t p = 0; p < c->np; p++)
            if (take >> p & 1u) {
                at = J.at[p];
                break;
            }
        st = lsc_tp_send_recv(ctx, from, (size_t)(nr * d) * sizeof(float), up, held + at * d,
                              (size_t)(mask_rows(c, take) * d) * sizeof(float), down, what);
    }

    /* this rank's rows against its own and every piece it received */
    int64_t have = 0;
    if (st == LSC_STATUS_OK) st = pair_with(ctx, &J, NULL, n, -1, first[rank], v, idx, k, &have);
    for (int64_t p = 0; st == LSC_STATUS_OK && p < c->np; p++)
        if (mine >> p & 1u)
            st = pair_with(ctx, &J, x, n, p, first[piece_shard(c, p)] + c->lo[p], v, idx, k, &have);
    /* the received pieces' rows against the partners this rank pairs them with, numbered by
     * their offset among those partners (in global order, so ties fall as they would) */
    for (int64_t q = 0; st == LSC_STATUS_OK && q < c->np; q++) {
        const unsigned work = (mine >> q & 1u) ? c->work[q][rank] : 0u;
        if (!work) continue;
        const int64_t cap = list_k(mask_rows(c, work), k);
        int64_t got = 0, off = 0;
        for (int64_t p = 0; st == LSC_STATUS_OK && p < c->np; p++) {
            if (!(work >> p & 1u)) continue;
            st = pair_with(ctx, &J, piece_rows(&J, q), c->len[q], p, off, wv + wat[q], wi + wat[q],
                           cap, &got);
            off += c->len[p];
        }
        if (st == LSC_STATUS_OK && c->len[q] > 0 && got != cap)
            st = lsc_set_error(ctx, LSC_STATUS_INTERNAL, "%s: %lld of %lld partial neighbours",
                               what, (long long)got, (long long)cap);
    }
    st = lsc_tp_agree(ctx, st, NULL, 0, NULL);

    /* the partial lists home: at step s, to rank - s those of its pieces, from rank + s ours */
    int64_t have_q[CV_MAX_PIECES];
    for (int64_t q = 0; q < c->np; q++) have_q[q] = have;
    for (int64_t s = 1; st == LSC_STATUS_OK && s < P; s++) {
        const int64_t down = (rank - s + P) % P, up = (rank + s) % P;
        size_t out = 0;
        for (int64_t q = 0; q < c->np; q++) {
            if (piece_shard(c, q) != down || !c->work[q][rank]) continue;
            const int64_t cand = mask_rows(c, c->work[q][rank]);
            const int64_t e = c->len[q] * list_k(cand, k);
            const size_t w = index_width(cand);
            memcpy(lout + out, wv + wat[q], (size_t)e * sizeof(double));
            out += (size_t)e * sizeof(double);
            for (int64_t i = 0; i < e; i++, out += w) put_index(lout + out, w, wi[wat[q] + i]);
        }
        st = lsc_tp_send_recv(ctx, lout, out, down, lin, lists_between(c, up, rank, k), up, what);
        size_t at = 0;
        for (int64_t q = 0; st == LSC_STATUS_OK && q < c->np; q++) {
            const unsigned work = piece_shard(c, q) == rank ? c->work[q][up] : 0u;
            if (!work) continue;
            const int64_t cand = mask_rows(c, work), cap = list_k(cand, k), h0 = have_q[q];
            const int64_t e = c->len[q] * cap;
            const size_t w = index_width(cand);
            const unsigned char *vals = lin + at, *ixs = lin + at + (size_t)e * sizeof(double);
            for (int64_t i = 0; i < c->len[q]; i++) {
                for (int64_t j = 0; j < cap; j++) {
                    const size_t ej = (size_t)(i * cap + j);
                    memcpy(&J.s.tv[j], vals + ej * sizeof(double), sizeof(double));
                    J.s.ti[j] = cand_global(c, first, work, get_index(ixs + ej * w, w));
                }
                const int64_t r = c->lo[q] + i;
                lsc_merge_list(v + r * k, idx + r * k, h0, J.s.tv, J.s.ti, cap, 0, k, J.s.mv,
                               J.s.mi);
            }
            have_q[q] = list_k(h0 + cap, k);
            at += (size_t)e * (sizeof(double) + w);
        }
    }
    for (int64_t q = 0; st == LSC_STATUS_OK && q < c->np; q++)
        if (piece_shard(c, q) == rank && c->len[q] > 0)
            st = lsc_knn_all_found(ctx, what, have_q[q], k);
    free(J.s.tv);
    free(J.s.ti);
    free(J.s.mv);
    free(J.s.mi);
    free(held);
    free(wv);
    free(wi);
    free(lout);
    free(lin);
    return st;
}

lsc_status lsc_sharded_self_knn(lsc_ctx *ctx, const float *x, int64_t d, int metric, int64_t k,
                                const int64_t *rows, const int64_t *first, double *v, int64_t *idx,
                                double p0, double p1, const char *what)
{
    const int64_t ranks = lsc_tp_ranks(ctx);
    const cover_plan *plan = find_plan(ranks);
    if (!plan) return lsc_ring_self_knn(ctx, x, d, metric, k, rows, first, v, idx, p0, p1, what);
    /* the covering needs every rank's point-to-point step */
    int64_t step = ctx->transport.send_recv != NULL, all[CV_MAX_RANKS];
    LSC_TRY(lsc_tp_agree(ctx, LSC_STATUS_OK, &step, 1, all));
    int every = 1;
    for (int64_t r = 0; r < ranks; r++) every &= all[r] != 0;
    cover c;
    cover_derive(&c, plan, rows);
    double cv, ring;
    cover_bytes(&c, rows, d, k, &cv, &ring);
    if (!every || cv >= ring)
        return lsc_ring_self_knn(ctx, x, d, metric, k, rows, first, v, idx, p0, p1, what);
    return cover_run(ctx, &c, x, d, metric, k, rows, first, v, idx, p0, p1, what);
}
