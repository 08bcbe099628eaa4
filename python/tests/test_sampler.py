"""lsc.permute and lsc.sample_rows: the seeded permutation of docs/METRICS.md section 7, against
a pure-Python implementation written from that section and against the C library's own calls."""
import ctypes as C

import numpy as np
import pytest

import lsc
from lsc import _core
from lsc import _native as N

M64 = (1 << 64) - 1


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return z ^ (z >> 31)


def ref_permutation(seed, n):
    """docs/METRICS.md section 7: a balanced Feistel network on the smallest even b >= 2 with
    2^b >= n, 6 rounds, F_r(x) = splitmix64_finalizer(x + key_r) cut to b/2 bits, key_r the r-th
    output of splitmix64 seeded by `seed`, with cycle walking. Element j is pi(j)."""
    b = 2
    while (1 << b) < n:
        b += 2
    half = b // 2
    mask = (1 << half) - 1
    keys, state = [], seed & M64
    for _ in range(6):
        state = (state + 0x9e3779b97f4a7c15) & M64
        keys.append(_mix(state))

    def encrypt(x):
        left, right = x >> half, x & mask
        for key in keys:
            left, right = right, left ^ (_mix((right + key) & M64) & mask)
        return (left << half) | right

    out = []
    for j in range(n):
        x = encrypt(j)
        while x >= n:
            x = encrypt(x)
        out.append(x)
    return np.array(out, dtype=np.int64)


def c_sample_rows(n, count, seed, offset):
    """lsc_sample_rows called directly, without the binding's wrapper."""
    ctx = _core.context("cpu")
    rows = (C.c_int64 * max(count, 1))()
    ctx.check(N.lib.lsc_sample_rows(ctx.handle, seed, n, offset, count, rows))
    return np.array(rows[:count], dtype=np.int64)


@pytest.mark.parametrize("seed,n", [(0, 1), (0, 2), (5, 3), (7, 4), (1, 5), (12345, 1000),
                                    (M64, 777), (2 ** 40 + 3, 4097)])
def test_permutation_is_the_definition(seed, n):
    want = ref_permutation(seed, n)
    got = lsc.permute(n, seed=seed)
    assert got.dtype == np.int64 and got.shape == (n,)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.sort(got), np.arange(n))
    inverse = [N.lib.lsc_permute_inverse(seed, n, i) for i in range(n)]
    np.testing.assert_array_equal(got[inverse], np.arange(n))


@pytest.mark.parametrize("n,seed", [(1001, 42), (1000, 0), (2, 9), (65537, M64 - 5)])
def test_sample_rows_halves_are_ascending_disjoint_and_the_c_librarys(n, seed):
    h = n // 2
    a = lsc.sample_rows(n, h, seed=seed)
    b = lsc.sample_rows(n, n - h, seed=seed, offset=h)
    assert a.dtype == np.int64 and a.shape == (h,) and b.shape == (n - h,)
    assert np.all(np.diff(a) > 0) and np.all(np.diff(b) > 0)           # ascending, no repeat
    assert np.intersect1d(a, b).size == 0                                # disjoint halves
    np.testing.assert_array_equal(np.union1d(a, b), np.arange(n))        # of every row
    np.testing.assert_array_equal(a, c_sample_rows(n, h, seed, 0))      # lsc_sample_rows' own
    np.testing.assert_array_equal(b, c_sample_rows(n, n - h, seed, h))
    first = [N.lib.lsc_permute_inverse(seed, n, int(i)) < h for i in range(0, n, max(1, n // 97))]
    assert first == [bool(np.isin(i, a)) for i in range(0, n, max(1, n // 97))]
    if n <= 5000:
        perm = ref_permutation(seed, n)
        np.testing.assert_array_equal(a, np.sort(perm[:h]))
        np.testing.assert_array_equal(b, np.sort(perm[h:]))


def test_sample_rows_at_any_positions_and_seeds(rng):
    n = 500
    perm = lsc.permute(n, seed=3)
    for offset, count in ((0, 0), (0, 1), (17, 100), (499, 1), (0, 500), (250, 250)):
        got = lsc.sample_rows(n, count, seed=3, offset=offset)
        np.testing.assert_array_equal(got, np.sort(perm[offset:offset + count]))
    np.testing.assert_array_equal(lsc.sample_rows(n, 50, seed=-1), lsc.sample_rows(n, 50, seed=M64))
    np.testing.assert_array_equal(lsc.sample_rows(n, 50, seed=np.uint64(3)),
                                  lsc.sample_rows(n, 50, seed=3))
    assert not np.array_equal(lsc.sample_rows(n, 50, seed=3), lsc.sample_rows(n, 50, seed=4))


def test_sample_rows_and_permute_refuse_bad_arguments():
    with pytest.raises(lsc.InvalidArgument, match="positions") as e:
        lsc.sample_rows(10, 6, seed=1, offset=5)
    assert e.value.status == "LSC_STATUS_INVALID_ARGUMENT" and e.value.code == 1
    with pytest.raises(lsc.InvalidArgument, match="n is 0"):
        lsc.sample_rows(0, 0)
    with pytest.raises(lsc.InvalidArgument, match="positions"):
        lsc.sample_rows(10, -1)
    with pytest.raises(lsc.InvalidArgument, match="positions"):
        lsc.sample_rows(10, 1, offset=-1)
    with pytest.raises(lsc.InvalidArgument, match="integer"):
        lsc.sample_rows(10, 2.5)
    with pytest.raises(lsc.InvalidArgument, match="integer"):
        lsc.sample_rows(10, 2, seed="x")
    with pytest.raises(lsc.InvalidArgument, match="n is 0"):
        lsc.permute(0)
    with pytest.raises(lsc.InvalidArgument, match="integer"):
        lsc.permute(3.0)
