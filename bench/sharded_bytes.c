/*
 * lsc_sharded_bytes: bytes each rank sends and receives, and the memory each rank adds, in one
 * sharded call, against the written model of its communication (docs/SCALING.md).
 *
 *   mpirun -np P lsc_sharded_bytes [--ring] spectrum N D
 *   mpirun -np P lsc_sharded_bytes [--ring] knn Q N D K
 *   mpirun -np P lsc_sharded_bytes [--ring] knnself N D K
 *   mpirun -np P lsc_sharded_bytes [--ring] pairs N D
 *   mpirun -np P lsc_sharded_bytes [--ring] prdc N M D K
 *   mpirun -np P lsc_sharded_bytes [--ring] assess N M D K
 *
 * Each rank makes its rows of one seeded N x D float32 set (row i is a function of i alone, so
 * the concatenation is the same set for every P; rank r holds rows [r N / P, (r + 1) N / P)),
 * kNN's Q query rows whole, and prdc's M generated rows, a second such set split the same way.
 * The context is given this program's own transport: the collectives written here over MPI
 * point-to-point calls, each counting the bytes this rank sends and receives (an all-gather and
 * an all-reduce as the ring algorithm NCCL and MPI use for large messages, P - 1 steps; a
 * broadcast straight from the root; the ring step and send_recv as one exchange each). With
 * --ring the transport has no send_recv, so the sharded self kNN keeps to the ring at every P. The model of each operation
 * (model_* below) predicts those counts from the shapes alone. Memory: the peak resident set
 * added by the call (VmHWM after it, less VmRSS before it, the peak reset through
 * /proc/self/clear_refs), and the rank's input rows beside it.
 *
 * Rank 0 prints one JSON line: the operation, P, whether the transport had send_recv, the
 * shapes, and per rank its rows, bytes sent and received, the model's two figures, the same four
 * up to the operation's mark (prdc: the reference's build, the rest being the PRDC call or the
 * verdicts; 0 for an operation of one call), the collectives called, the added peak and the
 * input bytes. Exit 0 when the call succeeded on
 * every rank, 2 on bad arguments, 1 otherwise.
 *
 * An operation is one line of kOps: how it reads its arguments, runs (its data made inside), and
 * what its model predicts for a rank.
 */
#define _GNU_SOURCE
#include <lsc.h>

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the counting transport ------------------------------------------------------------------ */

typedef struct counting {
    MPI_Comm comm;
    int rank, ranks;
    uint64_t sent, recv;
    uint64_t part_sent, part_recv; /* the counts at the operation's mark (mark()) */
    int64_t calls[5];              /* all_reduce, all_gather, broadcast, ring, send_recv */
} counting;

enum { C_REDUCE, C_GATHER, C_BCAST, C_RING, C_P2P };

/* MPI-3 counts are int: larger transfers go in pieces. */
#define PIECE ((size_t)1 << 30)

static int say(char *why, size_t why_len, const char *what)
{
    snprintf(why, why_len, "%s failed", what);
    return 1;
}

/* Sends s bytes to `to` and receives r bytes from `from` at once, counted. */
static int exchange(counting *c, const void *send, size_t s, int to, void *recv, size_t r, int from)
{
    int e = MPI_SUCCESS;
    /* at least one exchange, empty ones too: the neighbours post theirs whatever the sizes, and
     * a skipped one would match the next step's message */
    size_t at = 0;
    do {
        const int cs = (int)(at < s ? (s - at < PIECE ? s - at : PIECE) : 0);
        const int cr = (int)(at < r ? (r - at < PIECE ? r - at : PIECE) : 0);
        e = MPI_Sendrecv((const char *)send + (at < s ? at : 0), cs, MPI_BYTE, to, 7,
                         (char *)recv + (at < r ? at : 0), cr, MPI_BYTE, from, 7, c->comm,
                         MPI_STATUS_IGNORE);
        at += PIECE;
    } while (e == MPI_SUCCESS && (at < s || at < r));
    c->sent += s;
    c->recv += r;
    return e != MPI_SUCCESS;
}

/* Ring all-gather of blocks of sizes[r] at offsets into buf, own block already in place: at step
 * t rank r passes block (r - t) mod P to r + 1 and takes block (r - t - 1) mod P from r - 1. */
static int ring_all_gather(counting *c, unsigned char *buf, const size_t *sizes)
{
    const int p = c->ranks, next = (c->rank + 1) % p, prev = (c->rank + p - 1) % p;
    size_t *off = (size_t *)malloc((size_t)p * sizeof(size_t));
    if (!off) return 1;
    size_t at = 0;
    for (int r = 0; r < p; r++) {
        off[r] = at;
        at += sizes[r];
    }
    int bad = 0;
    for (int t = 0; t < p - 1 && !bad; t++) {
        const int sb = ((c->rank - t) % p + p) % p, rb = ((c->rank - t - 1) % p + p) % p;
        bad = exchange(c, buf + off[sb], sizes[sb], next, buf + off[rb], sizes[rb], prev);
    }
    free(off);
    return bad;
}

static int t_all_gather(const void *send, size_t bytes, void *recv, const size_t *recv_bytes,
                        lsc_memory memory, void *user, char *why, size_t why_len)
{
    counting *c = (counting *)user;
    (void)memory;
    c->calls[C_GATHER]++;
    size_t at = 0;
    for (int r = 0; r < c->rank; r++) at += recv_bytes[r];
    memmove((unsigned char *)recv + at, send, bytes);
    return ring_all_gather(c, (unsigned char *)recv, recv_bytes) ? say(why, why_len, "all_gather")
                                                                 : 0;
}

/* Every rank's buffer gathered round the ring, then reduced in rank order on every rank. */
static int t_all_reduce(void *buf, int64_t count, lsc_elem elem, lsc_reduce_op op,
                        lsc_memory memory, void *user, char *why, size_t why_len)
{
    counting *c = (counting *)user;
    (void)memory;
    c->calls[C_REDUCE]++;
    const size_t bytes = (size_t)count * 8;
    unsigned char *all = (unsigned char *)malloc(bytes * (size_t)c->ranks + 1);
    size_t *sizes = (size_t *)malloc((size_t)c->ranks * sizeof(size_t));
    int bad = !all || !sizes;
    if (!bad) {
        for (int r = 0; r < c->ranks; r++) sizes[r] = bytes;
        memcpy(all + bytes * (size_t)c->rank, buf, bytes);
        bad = ring_all_gather(c, all, sizes);
    }
    for (int64_t i = 0; !bad && i < count; i++) {
        double fd = 0;
        int64_t fi = 0;
        for (int r = 0; r < c->ranks; r++) {
            const unsigned char *v = all + bytes * (size_t)r + (size_t)i * 8;
            if (elem == LSC_ELEM_F64) {
                double x;
                memcpy(&x, v, 8);
                if (r == 0 || (op == LSC_REDUCE_MIN && x < fd) || (op == LSC_REDUCE_MAX && x > fd))
                    fd = x;
                else if (op == LSC_REDUCE_SUM) fd += x;
            } else {
                int64_t x;
                memcpy(&x, v, 8);
                if (r == 0 || (op == LSC_REDUCE_MIN && x < fi) || (op == LSC_REDUCE_MAX && x > fi))
                    fi = x;
                else if (op == LSC_REDUCE_SUM) fi += x;
            }
        }
        if (elem == LSC_ELEM_F64) memcpy((unsigned char *)buf + (size_t)i * 8, &fd, 8);
        else memcpy((unsigned char *)buf + (size_t)i * 8, &fi, 8);
    }
    free(all);
    free(sizes);
    return bad ? say(why, why_len, "all_reduce") : 0;
}

static int t_broadcast(void *buf, size_t bytes, int64_t root, lsc_memory memory, void *user,
                       char *why, size_t why_len)
{
    counting *c = (counting *)user;
    (void)memory;
    c->calls[C_BCAST]++;
    int bad = 0;
    if (c->rank == (int)root) {
        for (int r = 0; r < c->ranks && !bad; r++)
            if (r != (int)root) {
                for (size_t at = 0; at < bytes && !bad; at += PIECE) {
                    const int n = (int)(bytes - at < PIECE ? bytes - at : PIECE);
                    bad = MPI_Send((char *)buf + at, n, MPI_BYTE, r, 8, c->comm) != MPI_SUCCESS;
                }
                c->sent += bytes;
            }
    } else {
        for (size_t at = 0; at < bytes && !bad; at += PIECE) {
            const int n = (int)(bytes - at < PIECE ? bytes - at : PIECE);
            bad = MPI_Recv((char *)buf + at, n, MPI_BYTE, (int)root, 8, c->comm,
                           MPI_STATUS_IGNORE) != MPI_SUCCESS;
        }
        c->recv += bytes;
    }
    return bad ? say(why, why_len, "broadcast") : 0;
}

static int t_ring(const void *send, size_t send_bytes, void *recv, size_t recv_bytes,
                  lsc_memory memory, void *user, char *why, size_t why_len)
{
    counting *c = (counting *)user;
    (void)memory;
    c->calls[C_RING]++;
    const int next = (c->rank + 1) % c->ranks, prev = (c->rank + c->ranks - 1) % c->ranks;
    return exchange(c, send, send_bytes, next, recv, recv_bytes, prev) ? say(why, why_len, "ring")
                                                                       : 0;
}

/* One point-to-point step: this rank's bytes to dst, src's to this rank, every rank calling
 * together (the pairs match, as the ring step's neighbours do), counted as the ring step is. */
static int t_send_recv(const void *send, size_t send_bytes, int64_t dst, void *recv,
                       size_t recv_bytes, int64_t src, lsc_memory memory, void *user, char *why,
                       size_t why_len)
{
    counting *c = (counting *)user;
    (void)memory;
    c->calls[C_P2P]++;
    return exchange(c, send, send_bytes, (int)dst, recv, recv_bytes, (int)src)
               ? say(why, why_len, "send_recv")
               : 0;
}

/* ---- memory ---------------------------------------------------------------------------------- */

/* A field of /proc/self/status in bytes (VmRSS, VmHWM), or -1. */
static int64_t status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    int64_t v = -1;
    const size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') {
            v = (int64_t)strtoll(line + n + 1, NULL, 10) * 1024;
            break;
        }
    fclose(f);
    return v;
}

/* Resets VmHWM to the current resident set (Linux 4.0 and later); 0 on success. */
static int reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 1;
    int bad = fputs("5", f) < 0;
    bad |= fclose(f) != 0;
    return bad;
}

static int64_t g_rss_at_start; /* VmRSS when the counting began */
static double g_t_start;       /* and the monotonic clock, ms */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* The start of what is measured: the peak reset to the resident set of now, the counts zeroed. */
static void start_counting(counting *c)
{
    reset_peak();
    g_rss_at_start = status_bytes("VmRSS");
    g_t_start = now_ms();
    c->sent = c->recv = 0;
    c->part_sent = c->part_recv = 0;
    memset(c->calls, 0, sizeof c->calls);
}

/* The end of an operation's first call: the bytes so far, apart from those of what follows. */
static void mark(counting *c)
{
    c->part_sent = c->sent;
    c->part_recv = c->recv;
}

/* ---- data ------------------------------------------------------------------------------------ */

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Rows [lo, hi) of a seeded set: column j scaled by 1 + j / 8 around an offset of 3. Row i
 * depends on (seed, i) alone. */
static float *rows_of(int64_t lo, int64_t hi, int64_t d, uint64_t seed)
{
    float *x = (float *)malloc((size_t)((hi - lo) * d + 1) * sizeof(float));
    if (!x) return NULL;
    for (int64_t i = lo; i < hi; i++)
        for (int64_t j = 0; j < d; j++) {
            uint64_t h = mix(seed * 0x100000001b3ULL ^ mix((uint64_t)(i * d + j)));
            double u = (double)(h >> 11) / 9007199254740992.0 - 0.5;
            x[(i - lo) * d + j] = (float)(3.0 + u * (1.0 + (double)j / 8.0));
        }
    return x;
}

static lsc_matrix view(const float *x, int64_t rows, int64_t d)
{
    lsc_matrix m = {x, LSC_DTYPE_F32, rows, d, d, LSC_MEMORY_HOST};
    return m;
}

/* ---- the operations and their models ------------------------------------------------------- */

/* Wire sizes of the sharded calls' messages (host/sharded.c, host/transport.c): an agreement's
 * block is its status (int64) and message (LSC_ERR_LEN = 512 bytes) and its int64 values; a
 * spectrum state is two int64 and D (D + 3) float64 (pivot, sum, the two Grams' triangles), the
 * state of an empty shard its two int64 alone; the spectrum's broadcast is a head (status,
 * message, the result struct) and min(N, D) + D float64; a kNN candidate is 16 bytes. */
#define AGREE_BLOCK(nvals) ((uint64_t)(8 + 512 + 8 * (nvals)))

/* The most ranks the models take (their per-rank tables). */
#define MAX_RANKS 64

typedef struct model {
    uint64_t sent, recv;
    uint64_t part_sent, part_recv; /* the counts at the operation's mark */
} model;

static int64_t part_lo(int64_t n, int r, int p) { return (int64_t)((__int128)n * r / p); }

typedef struct bench_args {
    int64_t n, d, q, k, m; /* m: prdc's generated rows */
} bench_args;

/* The bytes of rank i's block of an all-gather of p ranks. */
typedef uint64_t (*block_fn)(const bench_args *a, int i, int p);

/* A ring all-gather: rank r sends every block but the next rank's and receives every block but
 * its own. */
static void model_gather(model *m, const bench_args *a, block_fn block, int p, int r)
{
    uint64_t total = 0;
    for (int i = 0; i < p; i++) total += block(a, i, p);
    m->sent += total - block(a, (r + 1) % p, p);
    m->recv += total - block(a, r, p);
}

static uint64_t agree3(const bench_args *a, int i, int p)
{
    (void)a, (void)i, (void)p;
    return AGREE_BLOCK(3);
}
static uint64_t agree8(const bench_args *a, int i, int p)
{
    (void)a, (void)i, (void)p;
    return AGREE_BLOCK(8);
}
static uint64_t agree0(const bench_args *a, int i, int p)
{
    (void)a, (void)i, (void)p;
    return AGREE_BLOCK(0);
}

static void model_bcast(model *m, uint64_t bytes, int p, int r, int root)
{
    if (r == root) m->sent += (uint64_t)(p - 1) * bytes;
    else m->recv += bytes;
}

static void model_agree(model *m, int64_t nvals, int p)
{
    /* every block the same size: the ring all-gather of p of them */
    m->sent += (uint64_t)(p - 1) * AGREE_BLOCK(nvals);
    m->recv += (uint64_t)(p - 1) * AGREE_BLOCK(nvals);
}

typedef struct bench_op {
    const char *name;
    const char *usage;
    int nargs;
    /* the numbers after the name into *a; 0 when they make sense */
    int (*read)(char **argv, bench_args *a);
    /* the sharded call on this rank's rows (made inside: the input is not counted in the peak) */
    lsc_status (*run)(lsc_ctx *ctx, const bench_args *a, int rank, int ranks, int64_t *in_bytes,
                      counting *c);
    /* the bytes rank r of p sends and receives by the model */
    model (*predict)(const bench_args *a, int p, int r);
} bench_op;

static int64_t num(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    return *s && !*end && v > 0 ? (int64_t)v : -1;
}

static int read_spectrum(char **argv, bench_args *a)
{
    a->n = num(argv[0]);
    a->d = num(argv[1]);
    return a->n >= 2 && a->d >= 1 ? 0 : 1;
}

/* Whatever lsc allocates during the call is in the peak; the input rows, made before the peak is
 * reset, are reported beside it. */
static lsc_status run_spectrum(lsc_ctx *ctx, const bench_args *a, int rank, int ranks,
                               int64_t *in_bytes, counting *c)
{
    const int64_t lo = part_lo(a->n, rank, ranks), hi = part_lo(a->n, rank + 1, ranks);
    float *x = rows_of(lo, hi, a->d, 1);
    if (!x) return LSC_STATUS_OUT_OF_MEMORY;
    *in_bytes = (hi - lo) * a->d * 4;
    lsc_matrix m = view(x, hi - lo, a->d);
    lsc_spectrum_result r = LSC_SPECTRUM_RESULT_INIT;
    start_counting(c);
    lsc_status s = lsc_spectrum_sharded(ctx, &m, NULL, &r, NULL, NULL);
    free(x);
    return s;
}

static uint64_t spectrum_state(const bench_args *a, int i, int p)
{
    const int64_t rows = part_lo(a->n, i + 1, p) - part_lo(a->n, i, p);
    return 16 + (rows > 0 ? (uint64_t)(a->d * (a->d + 3)) * 8 : 0);
}

static model predict_spectrum(const bench_args *a, int p, int r)
{
    model m = {0, 0, 0, 0};
    model_gather(&m, a, agree3, p, r); /* cols, rows, the threshold's bits */
    model_gather(&m, a, agree0, p, r); /* every accumulator made */
    model_gather(&m, a, spectrum_state, p, r);
    const int64_t mm = a->n < a->d ? a->n : a->d;
    model_bcast(&m, 8 + 512 + sizeof(lsc_spectrum_result) + (uint64_t)(mm + a->d) * 8, p, r, 0);
    return m;
}

static int read_knn(char **argv, bench_args *a)
{
    a->q = num(argv[0]);
    a->n = num(argv[1]);
    a->d = num(argv[2]);
    a->k = num(argv[3]);
    return a->q >= 1 && a->n >= 1 && a->d >= 1 && a->k >= 1 && a->k <= a->n ? 0 : 1;
}

static lsc_status run_knn(lsc_ctx *ctx, const bench_args *a, int rank, int ranks, int64_t *in_bytes,
                          counting *c)
{
    const int64_t lo = part_lo(a->n, rank, ranks), hi = part_lo(a->n, rank + 1, ranks);
    float *b = rows_of(lo, hi, a->d, 2), *q = rows_of(0, a->q, a->d, 3);
    float *dist = (float *)malloc((size_t)(a->q * a->k) * sizeof(float));
    int64_t *idx = (int64_t *)malloc((size_t)(a->q * a->k) * sizeof(int64_t));
    lsc_status s = LSC_STATUS_OUT_OF_MEMORY;
    if (b && q && dist && idx) {
        *in_bytes = (hi - lo) * a->d * 4;
        lsc_matrix mb = view(b, hi - lo, a->d), mq = view(q, a->q, a->d);
        start_counting(c);
        s = lsc_knn_sharded(ctx, &mq, &mb, a->k, NULL, dist, idx);
    }
    free(b);
    free(q);
    free(dist);
    free(idx);
    return s;
}

/* The first query of block b when Q queries split evenly over p ranks (host/sharded_knn.c). */
static int64_t knn_block_first(const bench_args *a, int b, int p)
{
    const int64_t extra = a->q % p;
    return b * (a->q / p) + (b < extra ? b : extra);
}
static int64_t knn_block(const bench_args *a, int b, int p)
{
    return knn_block_first(a, b + 1, p) - knn_block_first(a, b, p);
}

/* Rank i's candidates a query: min(k, its base rows). */
static int64_t knn_kr(const bench_args *a, int i, int p)
{
    const int64_t rows = part_lo(a->n, i + 1, p) - part_lo(a->n, i, p);
    return rows < a->k ? rows : a->k;
}

/* The merged lists of query block i: float32 distance + int64 index, k a query. */
static uint64_t knn_merged(const bench_args *a, int i, int p)
{
    return (uint64_t)(knn_block(a, i, p) * a->k) * 12;
}

/* The candidates of query block b after the ranks r, r - 1, .., r - s merged theirs into it:
 * min(k, their candidates) a query, 16 bytes each. */
static uint64_t knn_partial(const bench_args *a, int b, int r, int s, int p)
{
    int64_t m = 0;
    for (int j = 0; j <= s; j++) m += knn_kr(a, ((r - j) % p + p) % p, p);
    m = m < a->k ? m : a->k;
    return (uint64_t)(knn_block(a, b, p) * m) * 16;
}

static model predict_knn(const bench_args *a, int p, int r)
{
    model m = {0, 0, 0, 0};
    model_gather(&m, a, agree8, p, r); /* shapes, k, the queries' hash, metric, self, ring */
    model_gather(&m, a, agree0, p, r); /* every shard's lists made */
    /* P - 1 ring steps: at step s rank r sends block r - 1 - s holding the candidates of ranks
     * r .. r - s, and receives block r - 2 - s from rank r - 1 */
    for (int s = 0; s < p - 1; s++) {
        m.sent += knn_partial(a, ((r - 1 - s) % p + p) % p, r, s, p);
        m.recv += knn_partial(a, ((r - 2 - s) % p + 2 * p) % p, (r - 1 + p) % p, s, p);
    }
    model_gather(&m, a, knn_merged, p, r);
    return m;
}

/* The pair statistics with lsc_pair_opts's defaults (euclidean, 64 bins, 100 pairs listed, no
 * subset): every row of every rank is in the shards that travel. */
static lsc_status run_pairs(lsc_ctx *ctx, const bench_args *a, int rank, int ranks,
                            int64_t *in_bytes, counting *c)
{
    const int64_t lo = part_lo(a->n, rank, ranks), hi = part_lo(a->n, rank + 1, ranks);
    const lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    float *x = rows_of(lo, hi, a->d, 4);
    int64_t *hist = (int64_t *)malloc((size_t)o.bins * sizeof(int64_t));
    lsc_pair *dups = (lsc_pair *)malloc((size_t)o.dup_report * sizeof(lsc_pair));
    lsc_status s = LSC_STATUS_OUT_OF_MEMORY;
    if (x && hist && dups) {
        *in_bytes = (hi - lo) * a->d * 4;
        lsc_matrix m = view(x, hi - lo, a->d);
        lsc_pair_result r = LSC_PAIR_RESULT_INIT;
        start_counting(c);
        s = lsc_pair_stats_sharded(ctx, &m, &o, &r, hist, dups);
    }
    free(x);
    free(hist);
    free(dups);
    return s;
}

/* Wire sizes of host/sharded_pairs.c: a travelling shard row is its int64 global index, its
 * float64 nearest value so far and D float32; a rank's pass results are a head of five float64
 * and two int64 (56 bytes), the histogram's int64 bins and dup_report pairs of 24 bytes. */
static int64_t pairs_rows(const bench_args *a, int i, int p)
{
    const int64_t q = ((i % p) + p) % p;
    return part_lo(a->n, q + 1, p) - part_lo(a->n, q, p);
}
static uint64_t agree10(const bench_args *a, int i, int p)
{
    (void)a, (void)i, (void)p;
    return AGREE_BLOCK(10);
}
static uint64_t agree1(const bench_args *a, int i, int p)
{
    (void)a, (void)i, (void)p;
    return AGREE_BLOCK(1);
}
static uint64_t pairs_acc(const bench_args *a, int i, int p)
{
    const lsc_pair_opts o = LSC_PAIR_OPTS_INIT;
    (void)a, (void)i, (void)p;
    return 56 + (uint64_t)o.bins * 8 + (uint64_t)o.dup_report * sizeof(lsc_pair);
}
static uint64_t pairs_nn(const bench_args *a, int i, int p)
{
    return (uint64_t)pairs_rows(a, i, p) * 8;
}
/* block i of the second gather: the nearest values the shard of rank i - floor(P / 2) brought
 * back to rank i from its travels */
static uint64_t pairs_nn_far(const bench_args *a, int i, int p)
{
    return (uint64_t)pairs_rows(a, i - p / 2, p) * 8;
}

static model predict_pairs(const bench_args *a, int p, int r)
{
    model m = {0, 0, 0, 0};
    const uint64_t row = 16 + 4 * (uint64_t)a->d;
    model_gather(&m, a, agree10, p, r); /* shape and options */
    model_gather(&m, a, agree1, p, r);  /* each rank's rows in the subset */
    model_gather(&m, a, agree0, p, r);  /* every buffer made */
    /* the bound's column sums, chained: each rank with rows broadcasts D float64 in turn */
    for (int q = 0; q < p; q++)
        if (pairs_rows(a, q, p) > 0) model_bcast(&m, 8 * (uint64_t)a->d, p, r, q);
    model_gather(&m, a, agree1, p, r); /* each rank's largest deviation */
    model_gather(&m, a, agree0, p, r); /* the pairs within each shard */
    for (int t = 1; t <= p / 2; t++) {
        /* step t: the shard of rank r - t + 1 on to r + 1, that of rank r - t in from r - 1;
         * at t = P / 2 a receiver of rank P / 2 or above gets the rows of only the first half
         * of the shard (n / 2 of n), every row's index and nearest value still */
        const int last = 2 * t == p;
        const int64_t ns = pairs_rows(a, r - t + 1, p), nr = pairs_rows(a, r - t, p);
        const int64_t ks = last && (r + 1) % p >= p / 2 ? ns / 2 : ns;
        const int64_t kr = last && r >= p / 2 ? nr / 2 : nr;
        m.sent += (uint64_t)ns * 16 + (uint64_t)ks * (row - 16);
        m.recv += (uint64_t)nr * 16 + (uint64_t)kr * (row - 16);
        model_gather(&m, a, agree0, p, r);
    }
    model_gather(&m, a, pairs_acc, p, r);
    model_gather(&m, a, pairs_nn, p, r);
    if (p / 2 > 0) model_gather(&m, a, pairs_nn_far, p, r);
    return m;
}

/* The sharded reference of N real rows and PRDC of M generated rows against it, both counted
 * from the reference's build on (lsc_reference_opts's defaults: euclidean, strict), the build
 * apart: the mark falls between the two calls. */
static int read_prdc(char **argv, bench_args *a)
{
    a->n = num(argv[0]);
    a->m = num(argv[1]);
    a->d = num(argv[2]);
    a->k = num(argv[3]);
    return a->n >= 2 && a->m >= 2 && a->d >= 1 && a->k >= 1 && a->k < a->n && a->k < a->m ? 0 : 1;
}

static lsc_status run_prdc(lsc_ctx *ctx, const bench_args *a, int rank, int ranks,
                           int64_t *in_bytes, counting *c)
{
    const int64_t lo = part_lo(a->n, rank, ranks), hi = part_lo(a->n, rank + 1, ranks);
    const int64_t flo = part_lo(a->m, rank, ranks), fhi = part_lo(a->m, rank + 1, ranks);
    float *x = rows_of(lo, hi, a->d, 5), *y = rows_of(flo, fhi, a->d, 6);
    lsc_status s = LSC_STATUS_OUT_OF_MEMORY;
    if (x && y) {
        *in_bytes = (hi - lo + fhi - flo) * a->d * 4;
        lsc_matrix real = view(x, hi - lo, a->d), fake = view(y, fhi - flo, a->d);
        lsc_reference *ref = NULL;
        lsc_prdc_result r = LSC_PRDC_RESULT_INIT;
        start_counting(c);
        s = lsc_reference_create_sharded(ctx, &real, a->k, NULL, &ref);
        mark(c);
        if (s == LSC_STATUS_OK) s = lsc_prdc_sharded(ctx, ref, &fake, &r);
        lsc_reference_destroy(ref);
    }
    free(x);
    free(y);
    return s;
}

/* Wire sizes of host/sharded_prdc.c and the ring walk of host/sharded_knn.c (the self kNN is
 * model_self_knn's, below): the PRDC pass walks each real shard (rows,
 * float64 radius values, a recall and a coverage flag byte a row) P - 1 steps, then its flags
 * alone take the step home; a walk opens with an agreement and agrees after every visit. */
static int64_t rows_in(int64_t n, int i, int p)
{
    const int q = ((i % p) + p) % p;
    return part_lo(n, q + 1, p) - part_lo(n, q, p);
}
static uint64_t agree6(const bench_args *a, int i, int p)
{
    (void)a, (void)i, (void)p;
    return AGREE_BLOCK(6);
}
static uint64_t agree9(const bench_args *a, int i, int p)
{
    (void)a, (void)i, (void)p;
    return AGREE_BLOCK(9);
}

/* A ring walk of blocks of row_bytes a row, P - 1 ring steps and, with home_bytes > 0, a step
 * home of home_bytes a row: at step s rank r passes on the block of rank r - s and takes that of
 * rank r - s - 1. One rank passes nothing over the transport. */
static void model_walk(model *m, const bench_args *a, int64_t n, uint64_t row_bytes,
                       uint64_t home_bytes, int p, int r)
{
    model_gather(m, a, agree0, p, r);                             /* the buffers made */
    for (int s = 0; s < p; s++) model_gather(m, a, agree0, p, r); /* after each visit */
    for (int s = 0; p > 1 && s < p - (home_bytes ? 0 : 1); s++) {
        const uint64_t b = s < p - 1 ? row_bytes : home_bytes;
        m->sent += (uint64_t)rows_in(n, r - s, p) * b;
        m->recv += (uint64_t)rows_in(n, r - s - 1, p) * b;
    }
}

/* ---- the sharded self kNN: the ring or the covering ------------------------------------------ */

/* Whether this program's transport has send_recv (not with --ring), the same on every rank. */
static int g_send_recv = 1;

/* The covering of docs/SCALING.md, as the library's rules state it: at P = 3 each shard is one
 * piece, at P = 4 two halves; piece s g + h is piece h of shard s, and recv[R] the pieces rank R
 * receives (a bit a piece). No plan at other P. */
enum { COVER_MAX_PIECES = 8 };
typedef struct cover_plan {
    int g;
    unsigned recv[4];
} cover_plan;

static int cover_plan_of(int p, cover_plan *c)
{
#define PC(s, h) (1u << ((s)*2 + (h)))
    if (p == 3) {
        const cover_plan three = {1, {1u << 1, 1u << 2, 1u << 0, 0}};
        *c = three;
        return 1;
    }
    if (p == 4) {
        const cover_plan four = {2,
                                 {PC(1, 0) | PC(1, 1) | PC(2, 0), PC(0, 0) | PC(2, 0) | PC(3, 0),
                                  PC(0, 0) | PC(1, 0) | PC(3, 1), PC(0, 1) | PC(1, 1) | PC(2, 1)}};
        *c = four;
        return 1;
    }
    return 0;
#undef PC
}

static int cover_holds(const cover_plan *c, int rank, int piece)
{
    return piece / c->g == rank || (c->recv[rank] >> piece & 1u);
}

static int popcount(unsigned x)
{
    int n = 0;
    for (; x; x &= x - 1) n++;
    return n;
}

/* Who computes each pair of pieces (q, p) of two shards, q-side: who[q][p] is shard(q)'s rank
 * when it holds p, else the smallest rank of C_q holding p, where C_q is the first set of ranks
 * (by size, then by the mask) of ranks other than shard(q)'s that received q and together hold
 * every p shard(q) does not; -1 for pieces of q's own shard. */
static void cover_who(const cover_plan *c, int p, int who[COVER_MAX_PIECES][COVER_MAX_PIECES])
{
    const int np = p * c->g;
    for (int q = 0; q < np; q++) {
        const int y = q / c->g;
        unsigned missing = 0, able = 0; /* pieces Y lacks, ranks that received q */
        for (int x = 0; x < np; x++)
            if (x / c->g != y && !cover_holds(c, y, x)) missing |= 1u << x;
        for (int r = 0; r < p; r++)
            if (r != y && (c->recv[r] >> q & 1u)) able |= 1u << r;
        int best = -1;
        for (int size = 0; size <= p && best < 0; size++)
            for (unsigned set = 0; set < (1u << p) && best < 0; set++) {
                if (popcount(set) != size || (set & ~able)) continue;
                unsigned got = 0;
                for (int r = 0; r < p; r++)
                    for (int x = 0; (set >> r & 1u) && x < np; x++)
                        if (cover_holds(c, r, x)) got |= 1u << x;
                if ((missing & ~got) == 0) best = (int)set;
            }
        if (best < 0) {
            fprintf(stderr, "cover_who: piece %d has no covering set\n", q);
            exit(1);
        }
        for (int x = 0; x < np; x++) {
            who[q][x] = -1;
            if (x / c->g == y) continue;
            if (!(missing >> x & 1u)) who[q][x] = y;
            for (int r = 0; r < p && who[q][x] < 0; r++)
                if ((best >> r & 1) && cover_holds(c, r, x)) who[q][x] = r;
        }
    }
}

/* The rows of piece x when shard s of rows[s] rows is cut into g pieces. */
static int64_t piece_rows(const int64_t *rows, int g, int x)
{
    const int64_t n = rows[x / g], h = x % g;
    return (int64_t)((__int128)n * (h + 1) / g - (__int128)n * h / g);
}

/* The bytes rank r receives and sends in the covering's two exchanges: the rows of the pieces it
 * receives (4 D bytes a row), and the partial lists: rank R's list for a piece q it received
 * holds min(k, cand) entries a row of q, cand the rows of the pieces it computes q against, each
 * entry a float64 value and an offset into them (uint32 up to 2^32 candidates, else int64). */
static void cover_bytes(const cover_plan *c, const int64_t *rows, int64_t d, int64_t k, int p,
                        int r, uint64_t *sent, uint64_t *recv)
{
    int who[COVER_MAX_PIECES][COVER_MAX_PIECES];
    cover_who(c, p, who);
    const int np = p * c->g;
    uint64_t s = 0, v = 0;
    for (int q = 0; q < np; q++) {
        const int y = q / c->g;
        const uint64_t nq = (uint64_t)piece_rows(rows, c->g, q);
        for (int R = 0; R < p; R++) {
            if (R == y || !(c->recv[R] >> q & 1u)) continue;
            if (R == r) v += nq * 4 * (uint64_t)d; /* q's rows to R */
            if (y == r) s += nq * 4 * (uint64_t)d;
            int64_t cand = 0;
            for (int x = 0; x < np; x++)
                if (who[q][x] == R) cand += piece_rows(rows, c->g, x);
            const uint64_t kr = (uint64_t)(cand < k ? cand : k);
            const uint64_t list = nq * kr * (8 + (cand <= ((int64_t)1 << 32) ? 4 : 8));
            if (R == r) s += list; /* R's list for q back to q's owner */
            if (y == r) v += list;
        }
    }
    *sent = s;
    *recv = v;
}

/* The sharded self kNN of rows[i] rows on rank i, k neighbours (host/sharded_knn.c and the
 * covering): at P = 3 and 4 an agreement of one value (each rank's send_recv) chooses; the
 * covering runs when every rank has send_recv and its most bytes received on a rank are fewer
 * than the ring's, (N - n_r) 4 D: an agreement, the rows (P - 1 send_recv), an agreement, the
 * lists (P - 1 send_recv). Else the ring walk of the float32 rows, P - 1 steps, no way home. */
static void model_self_knn(model *m, const int64_t *rows, int64_t d, int64_t k, int p, int r)
{
    cover_plan c;
    const int planned = cover_plan_of(p, &c);
    if (planned) model_agree(m, 1, p);
    if (planned && g_send_recv) {
        int64_t n = 0;
        uint64_t ring_most = 0, cover_most = 0;
        for (int i = 0; i < p; i++) n += rows[i];
        for (int i = 0; i < p; i++) {
            uint64_t s, v;
            cover_bytes(&c, rows, d, k, p, i, &s, &v);
            const uint64_t ring = (uint64_t)(n - rows[i]) * 4 * (uint64_t)d;
            cover_most = v > cover_most ? v : cover_most;
            ring_most = ring > ring_most ? ring : ring_most;
        }
        if (cover_most < ring_most) {
            uint64_t s, v;
            cover_bytes(&c, rows, d, k, p, r, &s, &v);
            model_agree(m, 0, p);
            model_agree(m, 0, p);
            m->sent += s;
            m->recv += v;
            return;
        }
    }
    model_agree(m, 0, p);                             /* the buffers made */
    for (int s = 0; s < p; s++) model_agree(m, 0, p); /* after each visit */
    for (int s = 0; s < p - 1; s++) {
        m->sent += (uint64_t)rows[((r - s) % p + p) % p] * 4 * (uint64_t)d;
        m->recv += (uint64_t)rows[((r - s - 1) % p + 2 * p) % p] * 4 * (uint64_t)d;
    }
}

/* The self kNN of n rows split evenly over p ranks. */
static void model_self_knn_even(model *m, int64_t n, int64_t d, int64_t k, int p, int r)
{
    int64_t rows[MAX_RANKS];
    for (int i = 0; i < p; i++) rows[i] = part_lo(n, i + 1, p) - part_lo(n, i, p);
    model_self_knn(m, rows, d, k, p, r);
}

/* lsc_knn_sharded with exclude_self: each rank's N / P rows of one seeded set against all N. */
static int read_knnself(char **argv, bench_args *a)
{
    a->n = num(argv[0]);
    a->d = num(argv[1]);
    a->k = num(argv[2]);
    return a->n >= 2 && a->d >= 1 && a->k >= 1 && a->k < a->n ? 0 : 1;
}

static lsc_status run_knnself(lsc_ctx *ctx, const bench_args *a, int rank, int ranks,
                              int64_t *in_bytes, counting *c)
{
    const int64_t lo = part_lo(a->n, rank, ranks), hi = part_lo(a->n, rank + 1, ranks);
    float *x = rows_of(lo, hi, a->d, 7);
    float *dist = (float *)malloc((size_t)((hi - lo) * a->k + 1) * sizeof(float));
    int64_t *idx = (int64_t *)malloc((size_t)((hi - lo) * a->k + 1) * sizeof(int64_t));
    lsc_status s = LSC_STATUS_OUT_OF_MEMORY;
    if (x && dist && idx) {
        *in_bytes = (hi - lo) * a->d * 4;
        lsc_matrix mx = view(x, hi - lo, a->d);
        lsc_knn_opts o = LSC_KNN_OPTS_INIT;
        o.exclude_self = 1;
        start_counting(c);
        s = lsc_knn_sharded(ctx, &mx, NULL, a->k, &o, dist, idx);
    }
    free(x);
    free(dist);
    free(idx);
    return s;
}

/* The shapes and options agreed (8 values), the buffers (0), the self kNN. */
static model predict_knnself(const bench_args *a, int p, int r)
{
    model m = {0, 0, 0, 0};
    model_gather(&m, a, agree8, p, r);
    model_gather(&m, a, agree0, p, r);
    model_self_knn_even(&m, a->n, a->d, a->k, p, r);
    return m;
}

/* lsc_reference_create_sharded of the N real rows: shapes and options, buffers, the real rows'
 * self kNN; the mark after it. */
static void model_build(model *m, const bench_args *a, int p, int r)
{
    model_gather(m, a, agree6, p, r);
    model_gather(m, a, agree0, p, r);
    model_self_knn_even(m, a->n, a->d, a->k, p, r);
    m->part_sent = m->sent;
    m->part_recv = m->recv;
}

/* lsc_prdc_rows_sharded: shards and options, buffers, the generated rows' self kNN, the real
 * shards with radii and flags round, their two flag bytes a row home, the six counts. */
static void model_prdc_call(model *m, const bench_args *a, int p, int r)
{
    model_gather(m, a, agree9, p, r);
    model_gather(m, a, agree0, p, r);
    model_self_knn_even(m, a->m, a->d, a->k, p, r);
    model_walk(m, a, a->n, 4 * (uint64_t)a->d + 10, 2, p, r);
    model_gather(m, a, agree6, p, r);
}

static model predict_prdc(const bench_args *a, int p, int r)
{
    model m = {0, 0, 0, 0};
    model_build(&m, a, p, r);
    model_prdc_call(&m, a, p, r);
    return m;
}

/* The sharded reference of N real rows, then lsc_assess_sharded of M generated rows against it
 * (lsc_assess_opts's defaults but order_uncovered 0, a Monitor step's choice: no walk for the
 * order), the build apart. The verdicts' bytes depend on which rank holds the rows each seeded
 * subset draws (the model draws them with the same sampler) and, for the uncovered rows' list,
 * on the data: the run records each rank's uncovered rows for the model. */
static int64_t g_uncovered[MAX_RANKS];

static lsc_status run_assess(lsc_ctx *ctx, const bench_args *a, int rank, int ranks,
                             int64_t *in_bytes, counting *c)
{
    const int64_t lo = part_lo(a->n, rank, ranks), hi = part_lo(a->n, rank + 1, ranks);
    const int64_t flo = part_lo(a->m, rank, ranks), fhi = part_lo(a->m, rank + 1, ranks);
    float *x = rows_of(lo, hi, a->d, 5), *y = rows_of(flo, fhi, a->d, 6);
    lsc_status s = ranks <= MAX_RANKS ? LSC_STATUS_OUT_OF_MEMORY : LSC_STATUS_INVALID_ARGUMENT;
    if (x && y && ranks <= MAX_RANKS) {
        *in_bytes = (hi - lo + fhi - flo) * a->d * 4;
        lsc_matrix real = view(x, hi - lo, a->d), fake = view(y, fhi - flo, a->d);
        lsc_reference *ref = NULL;
        lsc_assessment *as = NULL;
        lsc_assess_opts o = LSC_ASSESS_OPTS_INIT;
        o.order_uncovered = 0;
        start_counting(c);
        s = lsc_reference_create_sharded(ctx, &real, a->k, NULL, &ref);
        mark(c);
        if (s == LSC_STATUS_OK) s = lsc_assess_sharded(ctx, ref, &fake, &o, &as);
        int64_t u = 0;
        if (s == LSC_STATUS_OK) lsc_assessment_uncovered(as, NULL, 0, &u);
        int64_t *rows = u > 0 ? (int64_t *)malloc((size_t)u * sizeof *rows) : NULL;
        if (rows) lsc_assessment_uncovered(as, rows, u, &u);
        for (int64_t i = 0; rows && i < u; i++)
            for (int r = 0; r < ranks; r++)
                if (rows[i] >= part_lo(a->n, r, ranks) && rows[i] < part_lo(a->n, r + 1, ranks))
                    g_uncovered[r]++;
        free(rows);
        lsc_assessment_destroy(as);
        lsc_reference_destroy(ref);
    }
    free(x);
    free(y);
    return s;
}

/* The rank holding global row i of n split evenly over p. */
static int owner(int64_t i, int64_t n, int p)
{
    int r = 0;
    while (r + 1 < p && i >= part_lo(n, r + 1, p)) r++;
    return r;
}

/* A concatenation (host/sharded_gather.c): the sizes agreed (one value), then, when some rank
 * has bytes, an agreement on the buffer and the ring all-gather of the blocks. */
static void model_concat(model *m, const uint64_t *block, int p, int r)
{
    uint64_t total = 0;
    model_gather(m, NULL, agree1, p, r);
    for (int i = 0; i < p; i++) total += block[i];
    if (total == 0) return;
    model_gather(m, NULL, agree0, p, r);
    m->sent += total - block[(r + 1) % p];
    m->recv += total - block[r];
}

/* The rows `idx` (n of them, global rows of a set of `rows` split over p) fetched to every rank:
 * each rank's block is its rows' records (their place, then d float32). */
static void model_fetch(model *m, const int64_t *idx, int64_t n, int64_t rows, int64_t d, int p,
                        int r)
{
    uint64_t block[MAX_RANKS] = {0};
    for (int64_t t = 0; t < n; t++) block[owner(idx[t], rows, p)] += 8 + 4 * (uint64_t)d;
    model_concat(m, block, p, r);
}

static model predict_assess(const bench_args *a, int p, int r)
{
    model m = {0, 0, 0, 0};
    model_build(&m, a, p, r);
    /* the sizes lsc_assess derives (host/verdicts.c shared_make), seed 0, 16 held-out subsets */
    const int64_t n = a->n, M = a->m, d = a->d, S = 16, na = n / 2, nb = n - na;
    int64_t mm = M < nb / 2 ? M : nb / 2;
    if (mm > 2000) mm = 2000;
    const int64_t jmax = mm == 2000 ? 2 : 4, J = M / mm < jmax ? M / mm : jmax;
    const int64_t nw = na < 2000 ? na : 2000;
    const int prdc_ok = a->k < mm && a->k + 1 < na;
    lsc_ctx *ctx = NULL;
    lsc_ctx_params cp = LSC_CTX_PARAMS_INIT;
    cp.backend = LSC_BACKEND_CPU;
    int64_t *rows_a = (int64_t *)malloc((size_t)na * sizeof(int64_t));
    int64_t *half_b = (int64_t *)malloc((size_t)nb * sizeof(int64_t));
    int64_t *pick = (int64_t *)malloc((size_t)(mm > nw ? mm : nw) * sizeof(int64_t));
    if (lsc_ctx_create(&cp, &ctx) != LSC_STATUS_OK || !rows_a || !half_b || !pick ||
        lsc_sample_rows(ctx, 0, n, 0, na, rows_a) != LSC_STATUS_OK ||
        lsc_sample_rows(ctx, 0, n, na, nb, half_b) != LSC_STATUS_OK) {
        fprintf(stderr, "predict_assess: out of memory\n");
        exit(1);
    }
    /* entry: the ranks' arguments, the given PRDC checked, the assessment made */
    model_agree(&m, 19, p);
    model_agree(&m, 0, p);
    model_agree(&m, 0, p);
    /* shared_make: buffers, the cache's hit, the reference's column sums and variances */
    model_agree(&m, 0, p);
    model_agree(&m, 1, p);
    model_agree(&m, d, p);
    model_agree(&m, d, p);
    model_agree(&m, 0, p); /* run_checks: shared_make's outcome, its buffers */
    model_agree(&m, 0, p);
    if (prdc_ok) {
        /* the judging half's radii: the sharded reference of each rank's rows of A */
        int64_t na_r[MAX_RANKS] = {0};
        for (int64_t t = 0; t < na; t++) na_r[owner(rows_a[t], n, p)]++;
        model_gather(&m, a, agree6, p, r);
        model_gather(&m, a, agree0, p, r);
        model_self_knn(&m, na_r, d, a->k, p, r);
    }
    /* the median nearest distance: A's sample fetched, its k = 2 lists merged */
    model_agree(&m, 0, p);
    lsc_sample_rows(ctx, 0, na, 0, nw, pick);
    for (int64_t t = 0; t < nw; t++) pick[t] = rows_a[pick[t]];
    model_fetch(&m, pick, nw, n, d, p, r);
    {
        uint64_t block[MAX_RANKS] = {0};
        for (int i = 0; i < p; i++) block[i] = (uint64_t)nw * 2 * 16;
        model_concat(&m, block, p, r);
    }
    /* the full-size PRDC (lsc_prdc_rows_sharded) and the uncovered rows' list */
    model_agree(&m, 0, p);
    model_prdc_call(&m, a, p, r);
    model_agree(&m, 1, p);
    model_agree(&m, 0, p);
    {
        uint64_t block[MAX_RANKS] = {0};
        for (int i = 0; i < p; i++) block[i] = (uint64_t)g_uncovered[i] * 16;
        model_concat(&m, block, p, r);
    }
    model_agree(&m, 0, p);
    /* the J generated and S held-out subsets: each fetched, its PRDC counts and wide coverage
     * summed, its spectrum's outcome agreed */
    model_agree(&m, 0, p);
    const int disjoint = S * mm <= nb;
    for (int64_t t = 0; t < J + S; t++) {
        const int gen = t < J;
        if (gen) {
            lsc_sample_rows(ctx, 0, M, t * mm, mm, pick);
        } else {
            const int64_t h = t - J;
            lsc_sample_rows(ctx, disjoint ? 1 : 2 + (uint64_t)h, nb, disjoint ? h * mm : 0, mm,
                            pick);
            for (int64_t i = 0; i < mm; i++) pick[i] = half_b[pick[i]];
        }
        model_fetch(&m, pick, mm, gen ? M : n, d, p, r);
        if (prdc_ok) {
            model_agree(&m, 3 * mm + 2, p);
            model_agree(&m, 1, p);
        }
        model_agree(&m, 0, p);
    }
    model_agree(&m, 0, p); /* the call's end */
    lsc_ctx_destroy(ctx);
    free(rows_a);
    free(half_b);
    free(pick);
    return m;
}

static const bench_op kOps[] = {
    {"spectrum", "spectrum N D", 2, read_spectrum, run_spectrum, predict_spectrum},
    {"knn", "knn Q N D K", 4, read_knn, run_knn, predict_knn},
    {"knnself", "knnself N D K", 3, read_knnself, run_knnself, predict_knnself},
    {"pairs", "pairs N D", 2, read_spectrum, run_pairs, predict_pairs},
    {"prdc", "prdc N M D K", 4, read_prdc, run_prdc, predict_prdc},
    {"assess", "assess N M D K", 4, read_prdc, run_assess, predict_assess},
};

/* ---- main ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    int level = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &level);
    counting c;
    memset(&c, 0, sizeof c);
    c.comm = MPI_COMM_WORLD;
    MPI_Comm_rank(c.comm, &c.rank);
    MPI_Comm_size(c.comm, &c.ranks);
    /* --ring: a transport without send_recv, so the self kNN takes the ring at every P */
    if (argc >= 2 && !strcmp(argv[1], "--ring")) {
        g_send_recv = 0;
        argv++;
        argc--;
    }
    const bench_op *op = NULL;
    for (size_t i = 0; argc >= 2 && i < sizeof kOps / sizeof kOps[0]; i++)
        if (!strcmp(argv[1], kOps[i].name)) op = &kOps[i];
    bench_args a;
    memset(&a, 0, sizeof a);
    if (!op || argc != 2 + op->nargs || op->read(argv + 2, &a) || level < MPI_THREAD_FUNNELED ||
        c.ranks > MAX_RANKS) {
        if (c.rank == 0) {
            fprintf(stderr,
                    "usage: mpirun -np P lsc_sharded_bytes [--ring] OP ARGS (P <= %d), "
                    "OP ARGS one of:\n",
                    MAX_RANKS);
            for (size_t i = 0; i < sizeof kOps / sizeof kOps[0]; i++)
                fprintf(stderr, "  %s\n", kOps[i].usage);
        }
        MPI_Finalize();
        return 2;
    }
    lsc_ctx_params cp = LSC_CTX_PARAMS_INIT;
    cp.backend = LSC_BACKEND_CPU;
    lsc_ctx *ctx = NULL;
    lsc_status s = lsc_ctx_create(&cp, &ctx);
    lsc_transport t = LSC_TRANSPORT_INIT;
    t.rank = c.rank;
    t.ranks = c.ranks;
    t.user = &c;
    t.all_reduce = t_all_reduce;
    t.all_gather = t_all_gather;
    t.broadcast = t_broadcast;
    t.ring = t_ring;
    t.send_recv = g_send_recv ? t_send_recv : NULL;
    if (s == LSC_STATUS_OK) s = lsc_ctx_set_transport(ctx, &t);
    int64_t in_bytes = 0;
    if (s == LSC_STATUS_OK) s = op->run(ctx, &a, c.rank, c.ranks, &in_bytes, &c);
    const double ms = now_ms() - g_t_start; /* the call alone (meaningless with P > cores) */
    const int64_t hwm = status_bytes("VmHWM");
    if (s != LSC_STATUS_OK)
        fprintf(stderr, "rank %d: %s: %s\n", c.rank, op->name,
                ctx ? lsc_last_error(ctx) : lsc_status_string(s));
    /* what each rank saw, gathered outside the counted transport */
    const model m = op->predict(&a, c.ranks, c.rank);
    const int64_t rows = part_lo(a.n, c.rank + 1, c.ranks) - part_lo(a.n, c.rank, c.ranks);
    enum { NV = 15 };
    int64_t mine[NV] = {
        (int64_t)s,           rows,
        (int64_t)c.sent,      (int64_t)c.recv,
        (int64_t)m.sent,      (int64_t)m.recv,
        hwm - g_rss_at_start, in_bytes,
        c.calls[C_GATHER],    c.calls[C_BCAST] + c.calls[C_REDUCE] + c.calls[C_RING],
        (int64_t)c.part_sent, (int64_t)c.part_recv,
        (int64_t)m.part_sent, (int64_t)m.part_recv,
        c.calls[C_P2P]};
    int64_t *all = (int64_t *)malloc((size_t)c.ranks * sizeof mine);
    MPI_Gather(mine, NV, MPI_INT64_T, all, NV, MPI_INT64_T, 0, c.comm);
    int failed = s != LSC_STATUS_OK;
    if (c.rank == 0) {
        printf("{\"op\": \"%s\", \"ranks\": %d, \"send_recv\": %d, \"n\": %lld, "
               "\"d\": %lld, \"q\": %lld, \"k\": %lld, \"m\": %lld, \"ms_rank0\": %.1f, "
               "\"per_rank\": [",
               op->name, c.ranks, g_send_recv, (long long)a.n, (long long)a.d, (long long)a.q,
               (long long)a.k, (long long)a.m, ms);
        for (int r = 0; r < c.ranks; r++) {
            const int64_t *v = all + NV * r;
            failed |= v[0] != 0;
            printf(
                "%s{\"rank\": %d, \"status\": %lld, \"rows\": %lld, \"sent\": %lld, "
                "\"recv\": %lld, \"model_sent\": %lld, \"model_recv\": %lld, \"peak_added\": %lld, "
                "\"input_bytes\": %lld, \"all_gathers\": %lld, \"other_collectives\": %lld, "
                "\"part_sent\": %lld, \"part_recv\": %lld, \"model_part_sent\": %lld, "
                "\"model_part_recv\": %lld, \"send_recvs\": %lld}",
                r ? ", " : "", r, (long long)v[0], (long long)v[1], (long long)v[2],
                (long long)v[3], (long long)v[4], (long long)v[5], (long long)v[6], (long long)v[7],
                (long long)v[8], (long long)v[9], (long long)v[10], (long long)v[11],
                (long long)v[12], (long long)v[13], (long long)v[14]);
        }
        printf("]}\n");
    }
    free(all);
    lsc_ctx_destroy(ctx);
    MPI_Finalize();
    return failed ? 1 : 0;
}
