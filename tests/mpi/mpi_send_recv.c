/* The MPI module's point-to-point steps on their own, below any sharded call: the module named on
 * the command line is loaded as liblsc loads it (its entry point, LSC_MPI_ABI), then every shift
 * s = 1 .. P - 1 sends to rank r + s and receives from rank r - s, with sizes that differ for
 * every pair (some 0), and every byte received is checked, with guard bytes after each buffer.
 * Also: the ring step through the same code, host memory only, a rank outside the communicator
 * and an entry point of another ABI refused. Run with the module built with small pieces too,
 * so that messages split as those over 2^31 bytes do. */
#include "sharded.h"
#include "mpi_common.h"

#include <dlfcn.h>

#define GUARD 16

/* The bytes rank `from` sends rank `to` in step `key`: none at all in the first round (keys
 * below 8), then for some pairs none, for some exactly two of the small pieces (4096 bytes), for
 * the others two or three pieces, the last one short. */
static size_t size_of(int from, int to, int key)
{
    if (key < 8) return 0;
    const unsigned h = ((unsigned)(from * 7 + to * 3 + key) * 2654435761u >> 13) % 4;
    return h == 0 ? 0 : h == 1 ? 8192 : (size_t)(h - 1) * 4099 + (size_t)(from * 13 + to * 5 + key);
}

static unsigned char byte_of(int from, int to, int key, size_t i)
{
    return (unsigned char)(from * 131 + to * 71 + key * 29 + i * 7 + (i >> 8) * 13);
}

static unsigned char *filled(int from, int to, int key, size_t n)
{
    unsigned char *b = (unsigned char *)malloc(n + GUARD);
    for (size_t i = 0; b && i < n; i++) b[i] = byte_of(from, to, key, i);
    if (b) memset(b + n, 0xA5, GUARD);
    return b;
}

/* What rank `me` got from `from` in `recv` (n bytes and the guard after them). */
static void check_received(const unsigned char *recv, size_t n, int from, int me, int key,
                           const char *what)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (recv[i] != byte_of(from, me, key, i) && !bad++) first = i;
    CHECK(bad == 0, "%s step %d: %zu of %zu bytes from rank %d wrong, the first at %zu", what, key,
          bad, n, from, first);
    for (size_t i = 0; i < GUARD; i++)
        CHECK(recv[n + i] == 0x5A, "%s step %d: byte %zu past the %zu received overwritten", what,
              key, i, n);
}

/* One step of key `key` to rank dst and from rank src: by send_recv, or (ring) by the ring step,
 * whose dst and src are then r + 1 and r - 1. Every byte received checked, the guard after it,
 * and the send buffer left as it was. Returns 0 where memory ran out. */
static int step(const lsc_transport *t, int ring, int dst, int src, int key)
{
    const int r = my_rank;
    const char *what = ring ? "ring" : "send_recv";
    const size_t ns = size_of(r, dst, key), nr = size_of(src, r, key);
    unsigned char *send = filled(r, dst, key, ns);
    unsigned char *recv = (unsigned char *)malloc(nr + GUARD);
    if (!send || !recv) {
        CHECK(0, "out of memory");
        free(send);
        free(recv);
        return 0;
    }
    memset(recv, 0x5A, nr + GUARD);
    char why[256] = "";
    const int e = ring ? t->ring(send, ns, recv, nr, LSC_MEMORY_HOST, t->user, why, sizeof why)
                       : t->send_recv(send, ns, dst, recv, nr, src, LSC_MEMORY_HOST, t->user, why,
                                      sizeof why);
    CHECK(e == 0, "%s step %d: %s", what, key, why);
    check_received(recv, nr, src, r, key, what);
    /* nothing the caller passed is modified */
    size_t changed = 0;
    for (size_t i = 0; i < ns; i++) changed += send[i] != byte_of(r, dst, key, i);
    CHECK(changed == 0, "%s step %d changed %zu bytes of its send buffer", what, key, changed);
    free(send);
    free(recv);
    return 1;
}

/* Every shift, then the ring step (it shares the module's code: to r + 1, from r - 1); `t` a
 * transport of the module. */
static void steps(const lsc_transport *t, int ranks)
{
    const int r = my_rank;
    char why[256];
    for (int round = 0; round < 3; round++) {
        for (int s = 1; s < ranks; s++)
            if (!step(t, 0, (r + s) % ranks, (r - s + ranks) % ranks, round * 8 + s)) return;
        if (!step(t, 1, (r + 1) % ranks, (r - 1 + ranks) % ranks, 100 + round)) return;
    }
    /* refusals that every rank meets before any message, so none waits for another */
    unsigned char one = 0;
    why[0] = '\0';
    CHECK(t->send_recv(&one, 1, (r + 1) % ranks, &one, 1, (r + ranks - 1) % ranks,
                       LSC_MEMORY_DEVICE, t->user, why, sizeof why) != 0 &&
              strstr(why, "host buffers"),
          "device memory: '%s'", why);
    why[0] = '\0';
    CHECK(t->send_recv(&one, 1, ranks, &one, 1, -1, LSC_MEMORY_HOST, t->user, why, sizeof why) !=
                  0 &&
              strstr(why, "ranks are 0 to"),
          "a rank outside the communicator: '%s'", why);
}

int main(int argc, char **argv)
{
    int provided = 0, ranks = 1;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    void *h = argc > 1 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
    CHECK(h, "cannot load the MPI module '%s': %s", argc > 1 ? argv[1] : "(none given)", dlerror());
    void *sym = h ? dlsym(h, LSC_MPI_ENTRY) : NULL;
    CHECK(!h || sym, "the module has no %s", LSC_MPI_ENTRY);
    if (sym) {
        lsc_mpi_entry_fn entry;
        memcpy(&entry, &sym, sizeof entry);
        const int64_t world = (int64_t)MPI_Comm_c2f(MPI_COMM_WORLD);
        void (*release)(void *) = NULL;
        char why[256];
        /* a liblsc of another ABI: refused, saying both numbers, *out untouched */
        for (int abi = LSC_MPI_ABI - 1; abi <= LSC_MPI_ABI + 1; abi += 2) {
            lsc_transport t = LSC_TRANSPORT_INIT;
            t.rank = 77;
            why[0] = '\0';
            lsc_status s = entry(abi, world, &t, &release, why, sizeof why);
            char want[64];
            snprintf(want, sizeof want, "speaks ABI %d, this liblsc %d", LSC_MPI_ABI, abi);
            CHECK(s == LSC_STATUS_NOT_SUPPORTED && strstr(why, want) && t.rank == 77,
                  "ABI %d: status %d, '%s'", abi, (int)s, why);
        }
        lsc_transport t = LSC_TRANSPORT_INIT;
        why[0] = '\0';
        lsc_status s = entry(LSC_MPI_ABI, world, &t, &release, why, sizeof why);
        CHECK(s == LSC_STATUS_OK, "entry: %s", why);
        if (s == LSC_STATUS_OK) {
            CHECK(t.size == sizeof(lsc_transport) && t.rank == my_rank && t.ranks == ranks,
                  "transport: size %zu, rank %lld of %lld", t.size, (long long)t.rank,
                  (long long)t.ranks);
            CHECK(t.send_recv && t.ring, "the module's transport lacks send_recv or ring");
            if (t.send_recv && t.ring && ranks > 1) steps(&t, ranks);
            release(t.user);
        }
    }
    const int rc = finish("mpi_send_recv", ranks);
    if (h) dlclose(h);
    return rc;
}
