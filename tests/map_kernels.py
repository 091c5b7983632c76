"""Loops that write outer arrays, in the shapes real libraries write them: map writes at
the loop's own index (saved as segments of finished rows) and writes of every other kind
(saved whole, by changed blocks). Each kernel is ``@njit(parallel=True)``; the tests
decorate them and compare every array with plain numba's bits.

``EXPECTED`` says how blockloop must classify each one: ``(maps, blocks)``.
"""

from collections import namedtuple

import numpy as np
from numba import njit, prange

Csr = namedtuple("Csr", ["indptr", "indices", "data"])


@njit(parallel=True, cache=True)
def scale_1d(x, out):  # 1-D map into an argument
    for i in prange(x.shape[0]):
        out[i] = 2.0 * x[i] + 1.0


@njit(parallel=True, cache=True)
def row_norms(x, out):  # per-row scratch accumulator, one value per row
    for i in prange(x.shape[0]):
        acc = 0.0
        for j in range(x.shape[1]):
            acc += x[i, j] * x[i, j]
        out[i] = np.sqrt(acc)


@njit(parallel=True, cache=True)
def features(x, k):  # a row of its own, read-modify-write of its elements, a reduction
    f = np.empty((x.shape[0], k))
    total = 0.0
    for i in prange(x.shape[0]):
        f[i, :] = 0.0
        for m in range(k):
            f[i, m] += x[i] ** (m + 1)
        total += f[i, k - 1]
    return f, total


@njit(parallel=True, cache=True)
def standardise_rows(x):  # a prologue array made per row from scratch space, returned
    out = np.empty_like(x)
    for i in prange(x.shape[0]):
        row = x[i]
        mu = row.mean()
        sd = row.std() + 1e-12
        for j in range(x.shape[1]):
            out[i, j] = (row[j] - mu) / sd
    return out


@njit(parallel=True, cache=True)
def nearest(points, centres, labels):  # argmin idiom per row, plus a count reduction
    far = 0
    for i in prange(points.shape[0]):
        best, arg = np.inf, -1
        for c in range(centres.shape[0]):
            d = 0.0
            for j in range(points.shape[1]):
                d += (points[i, j] - centres[c, j]) ** 2
            if d < best:
                best, arg = d, c
        labels[i] = arg
        if best > 1.0:
            far += 1
    return far


@njit(parallel=True, cache=True)
def csr_row_sums(m, out):  # CSR arrays in a namedtuple
    for i in prange(out.shape[0]):
        s = 0.0
        for k in range(m.indptr[i], m.indptr[i + 1]):
            s += m.data[k]
        out[i] = s


@njit(parallel=True, cache=True)
def shifted(x, out):  # the loop starts at 1: rows 1.. are the map
    for i in prange(1, x.shape[0]):
        out[i] = x[i] - x[i - 1]


@njit(cache=True)
def _fill_row(out, i, value):
    for j in range(out.shape[1]):
        out[i, j] = value * j


@njit(parallel=True, cache=True)
def helper_fills(x, out):  # a helper that fills an output row
    s = 0.0
    for i in prange(x.shape[0]):
        _fill_row(out, i, x[i, 0])
        s += x[i, 0]
    return s


@njit(parallel=True, cache=True)
def tuple_target(x, out):
    s = 0
    for i in prange(x.shape[0]):
        out[i], flag = 2.0 * x[i], 1
        s += flag
    return s


@njit(parallel=True, cache=True)
def through_view(x):
    out = np.zeros_like(x)
    for i in prange(x.shape[0]):
        row = out[i]
        row[0] = x[i, 0]
        row[1] = -x[i, 1]
    return out


@njit(parallel=True, cache=True)
def permuted(x, perm, out):
    for i in prange(x.shape[0]):
        out[perm[i]] = x[i] * x[i]


@njit(parallel=True, cache=True)
def out_argument(x, out):
    for i in prange(x.shape[0]):
        np.sqrt(x[i], out[i])  # numba takes the output positionally


@njit(parallel=True, cache=True)
def in_place_method(x, out):
    for i in prange(x.shape[0]):
        out[i].fill(x[i, 0])


@njit(parallel=True, cache=True)
def row_update(x):  # t is a row of x when x is 2-D: x is state then
    s = 0.0
    for i in prange(x.shape[0]):
        t = x[i]
        t *= 2.0
        s += 1.0
    return s


@njit(parallel=True, cache=True)
def odd_half_negated(x):  # diffsims' fftshift phase: iteration i owns element 2 * i + 1
    for i in prange(x.shape[0] // 2):
        x[2 * i + 1] = -x[2 * i + 1] * 0.5


@njit(cache=True)
def _sweep_down(col):
    for a in range(1, col.shape[0]):
        col[a] = min(col[a], col[a - 1] + 1.0)


@njit(parallel=True, cache=True)
def column_sweeps(d):  # pymatting's distance propagation: a helper rewrites column j
    for j in prange(d.shape[1]):
        _sweep_down(d[:, j])


@njit(parallel=True, cache=True)
def block_neighbours(x, eps, counts):  # dpbench's dbscan: block b owns points b*m..(b+1)*m-1
    m = 2
    for b in prange(x.shape[0] // m):
        for j in range(b * m, m * (b + 1)):
            for k in range(x.shape[0]):
                if abs(x[j] - x[k]) < eps:
                    c = counts[j]
                    counts[j] = c + 1


@njit(parallel=True, cache=True)
def last_block_neighbours(x, eps, counts):  # dpbench's dbscan as written: the last block
    n = x.shape[0]  # ends at n, the others `block` points after their start
    block = 3
    nblocks = n // block + int(n % block > 0)
    for i in prange(nblocks):
        start = i * block
        stop = n if i + 1 == nblocks else start + block
        for j in range(start, stop):
            for k in range(n):
                if abs(x[j] - x[k]) < eps:
                    size = counts[j]
                    counts[j] = size + 1


@njit(parallel=True, cache=True)
def per_thread_ranges(q, rhs, dt):  # pyBaram's make_parallel_loop1d: one range per worker,
    n = q.shape[0]  # i_begin to min(n, (t + 1) * per), here updated in place inline
    per = 4  # the real one divides n by numba.get_num_threads(): here enough to checkpoint
    workers = (n + per - 1) // per
    for t in prange(workers):
        i_begin = t * per
        i_end = min(n, (t + 1) * per)
        for i in range(i_begin, i_end):
            q[i] = q[i] + dt * rhs[i] * (1.0 - q[i])


@njit(cache=True)
def _relax_range(i_begin, i_end, q, rhs, dt):
    for i in range(i_begin, i_end):
        q[i] = q[i] + dt * rhs[i] * (1.0 - q[i])


@njit(parallel=True, cache=True)
def per_thread_helper_ranges(q, rhs, dt):  # pyBaram's make_parallel_loop1d as written:
    n = q.shape[0]  # each worker hands its range's bounds to the function it runs
    per = 4
    workers = (n + per - 1) // per
    for t in prange(workers):
        i_begin = t * per
        i_end = min(n, (t + 1) * per)
        _relax_range(i_begin, i_end, q, rhs, dt)


EXPECTED = {
    "scale_1d": (("out",), ()),
    "row_norms": (("out",), ()),
    "features": (("f",), ()),
    "standardise_rows": (("out",), ()),
    "nearest": (("labels",), ()),
    "csr_row_sums": (("out",), ()),
    "shifted": (("out",), ()),
    "helper_fills": ((), ("out",)),
    "tuple_target": ((), ("out",)),
    "through_view": ((), ("out",)),
    "permuted": ((), ("out",)),
    "out_argument": ((), ("out",)),
    "in_place_method": ((), ("out",)),
    "row_update": ((), ()),
    "odd_half_negated": ((), ("x",)),
    "column_sweeps": ((), ("d",)),
    "block_neighbours": ((), ("counts",)),
    "last_block_neighbours": ((), ("counts",)),
    "per_thread_ranges": ((), ("q",)),
    "per_thread_helper_ranges": ((), ("q",)),
}


def inputs(name, n=30_011, seed=0):
    """Fresh arguments for kernel ``name`` (arrays the kernel writes start at zero)."""
    rng = np.random.default_rng(seed)
    x2 = rng.standard_normal((n, 3))
    x1 = x2[:, 0].copy()
    if name in ("scale_1d", "shifted"):
        return (x1, np.zeros(n))
    if name in ("row_norms",):
        return (x2, np.zeros(n))
    if name == "features":
        return (x1, 4)
    if name in ("standardise_rows", "through_view"):
        return (x2,)
    if name == "nearest":
        return (x2, rng.standard_normal((5, 3)), np.full(n, -7, dtype=np.int64))
    if name == "csr_row_sums":
        counts = rng.integers(0, 6, n)
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        data = rng.standard_normal(indptr[-1])
        return (Csr(indptr, np.zeros(indptr[-1], dtype=np.int64), data), np.zeros(n))
    if name in ("helper_fills", "in_place_method"):
        return (x2, np.zeros((n, 3)))
    if name == "tuple_target":
        return (x1, np.zeros(n))
    if name == "permuted":
        return (x1, rng.permutation(n), np.zeros(n))
    if name == "out_argument":
        return (np.abs(x2), np.zeros((n, 3)))
    if name in ("row_update", "odd_half_negated"):
        return (x2,) if name == "row_update" else (x1,)
    if name in ("block_neighbours", "last_block_neighbours"):
        return (x1[: n // 3], 0.05, np.zeros(n // 3, dtype=np.int64))
    if name in ("per_thread_ranges", "per_thread_helper_ranges"):
        return (rng.random(n), rng.standard_normal(n), 0.01)
    if name == "column_sweeps":
        return (rng.random((40, n // 10)) * 9.0,)
    raise KeyError(name)
