"""Finds the coverings the sharded self kNN uses (docs/SCALING.md, "The covering"): each of P
shards is cut into g pieces, each rank receives some pieces of other shards, and every pair of
rows of two different shards must meet on some rank holding both pieces. Over every choice of
pieces a rank receives (each a subset of the other shards' pieces), the search keeps the
coverings whose largest rank receives the fewest bytes, rows and the partial lists it gets back
counted as the library does (even shards of N rows, float32 rows of D columns, lists of
min(k, candidates) entries of 12 bytes a row), and prints the first of them in the order of the
ranks' piece masks (rank 0's smallest first, then rank 1's, ...).

  python3 bench/cover_search.py [N D K]        (default 12000 64 5)

It prints, for each P and g searched, the ring's bytes a rank receives ((N - N / P) 4 D), the
least largest-rank bytes of a covering, how many coverings reach it, and the first one. At P = 3,
g = 1 and at P = 4, g = 2 the first is the plan host/sharded_cover.c uses; P = 2 shows the ring
is already optimal there. Standard library only; a few seconds."""
import itertools
import sys


def piece_rows(n, p, g, x):
    """Rows of piece x (piece x % g of shard x // g) when n rows split evenly over p shards."""
    s, h = divmod(x, g)
    ns = n * (s + 1) // p - n * s // p
    return ns * (h + 1) // g - ns * h // g


def holds(recv, g, rank, x):
    return x // g == rank or (recv[rank] >> x) & 1


def who_computes(recv, p, g):
    """who[q][x]: the rank that computes piece q's rows against piece x (another shard's) by the
    library's rule: q's own rank when it holds x, else the smallest rank holding x of C_q, the
    first set (by size, then by its mask) of ranks other than q's that received q and together
    hold every piece q's rank lacks. None when no such set exists (not a covering)."""
    np_ = p * g
    who = [[None] * np_ for _ in range(np_)]
    for q in range(np_):
        y = q // g
        missing = [x for x in range(np_) if x // g != y and not holds(recv, g, y, x)]
        able = [r for r in range(p) if r != y and (recv[r] >> q) & 1]
        best = None
        for set_ in sorted(range(1 << p), key=lambda m: (bin(m).count("1"), m)):
            if any((set_ >> r) & 1 and r not in able for r in range(p)):
                continue
            if all(any((set_ >> r) & 1 and holds(recv, g, r, x) for r in range(p))
                   for x in missing):
                best = set_
                break
        if best is None:
            return None
        for x in range(np_):
            if x // g == y:
                continue
            if x not in missing:
                who[q][x] = y
            else:
                who[q][x] = min(r for r in range(p) if (best >> r) & 1 and holds(recv, g, r, x))
    return who


def received(recv, p, g, n, d, k):
    """Bytes each rank receives: the rows of its pieces, then the lists others send back for its
    own pieces (None when recv is not a covering)."""
    who = who_computes(recv, p, g)
    if who is None:
        return None
    np_ = p * g
    got = [0] * p
    for q in range(np_):
        y, nq = q // g, piece_rows(n, p, g, q)
        for r in range(p):
            if r == y or not (recv[r] >> q) & 1:
                continue
            got[r] += nq * 4 * d
            cand = sum(piece_rows(n, p, g, x) for x in range(np_) if who[q][x] == r)
            got[y] += nq * min(k, cand) * (8 + (4 if cand <= 2**32 else 8))
    return got


def covers(recv, p, g):
    """Whether every pair of pieces of two different shards is held together by some rank."""
    np_ = p * g
    for a, b in itertools.combinations(range(np_), 2):
        if a // g != b // g and not any(holds(recv, g, r, a) and holds(recv, g, r, b)
                                        for r in range(p)):
            return False
    return True


def search(p, g, n, d, k):
    np_ = p * g
    # each rank's choices: subsets of the other shards' pieces, by mask
    options = []
    for r in range(p):
        others = [x for x in range(np_) if x // g != r]
        opts = sorted(sum(1 << x for x in c) for t in range(len(others) + 1)
                      for c in itertools.combinations(others, t))
        options.append(opts)
    # the pairs each rank's holding covers, as a bit mask over the pairs of different shards
    pairs = [(a, b) for a, b in itertools.combinations(range(np_), 2) if a // g != b // g]
    full = (1 << len(pairs)) - 1

    def pair_mask(r, m):
        held = [x for x in range(np_) if x // g == r or (m >> x) & 1]
        return sum(1 << i for i, (a, b) in enumerate(pairs) if a in held and b in held)

    masks = [{m: pair_mask(r, m) for m in options[r]} for r in range(p)]
    rowbytes = [{m: sum(piece_rows(n, p, g, x) for x in range(np_) if (m >> x) & 1) * 4 * d
                 for m in options[r]} for r in range(p)]
    # a rank's rows alone bound its bytes from below: a branch whose rows already pass the best
    # found so far (at first the ring's, which a covering must not exceed) is cut
    best = [ring_bytes(n, p, d), 0, None]  # the least largest-rank bytes, how many, the first

    def walk(r, chosen, cov, rows_most):
        if r == p:
            if cov != full:
                return
            got = received(chosen, p, g, n, d, k)
            key = (max(got), max(got) - min(got), chosen)
            if key[0] < best[0]:
                best[:] = [key[0], 0, None]
            if key[0] == best[0]:
                best[1] += 1
                if best[2] is None or key < best[2]:
                    best[2] = key
            return
        for m in options[r]:
            most = max(rows_most, rowbytes[r][m])
            if most <= best[0]:
                walk(r + 1, chosen + [m], cov | masks[r][m], most)

    walk(0, [], 0, 0)
    return best[0], best[1], best[2][2] if best[2] else None


def ring_bytes(n, p, d):
    """The ring's largest bytes received on a rank: every other shard's rows."""
    return max((n - (n * (r + 1) // p - n * r // p)) * 4 * d for r in range(p))


def describe(combo, p, g):
    out = []
    for r in range(p):
        pieces = [(x // g, x % g) for x in range(p * g) if (combo[r] >> x) & 1]
        out.append("recv[%d] = {%s}" % (r, ", ".join("(%d,%d)" % pc for pc in pieces)))
    return "; ".join(out)


PLANS = {(3, 1): [0b010, 0b100, 0b001],
         (4, 2): [(1 << 2) | (1 << 3) | (1 << 4), (1 << 0) | (1 << 4) | (1 << 6),
                  (1 << 0) | (1 << 2) | (1 << 7), (1 << 1) | (1 << 3) | (1 << 5)]}


def main():
    n, d, k = (int(a) for a in sys.argv[1:4]) if len(sys.argv) >= 4 else (12000, 64, 5)
    print("N = %d, D = %d, k = %d: bytes a rank receives (rows + lists back)" % (n, d, k))
    ok = True
    for p, g in ((2, 1), (2, 2), (3, 1), (3, 2), (4, 1), (4, 2)):
        ring = ring_bytes(n, p, d)
        best, found, first = search(p, g, n, d, k)
        print("P = %d, g = %d: ring %d; covering %d (%.3f of the ring), %d coverings reach it;"
              " first: %s" % (p, g, ring, best, best / ring, found, describe(first, p, g)))
        if (p, g) in PLANS:
            same = list(first) == PLANS[(p, g)]
            ok &= same
            print("  the library's plan: %s" % ("the same" if same else "DIFFERENT"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
