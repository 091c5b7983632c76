"""Kernels of several loops and convergence loops, in the shapes real libraries write
them: statistics in passes, CSR construction (count, prefix sum, fill), the first index
of a minimum found in a second loop, power iteration with ``break``, a ``while`` loop on
a residual. Each is ``@njit(parallel=True)``; the tests decorate them.

``INPUTS`` makes fresh arguments for each; ``PHASES`` is the number of phases blockloop
must find.
"""

from collections import namedtuple

import numpy as np
from numba import njit, prange

Grid = namedtuple("Grid", ["values", "weight"])


@njit(parallel=True, cache=True)
def column_scaler(x, out):  # column means, then variances, then the scaled copy
    n, d = x.shape
    mu = np.zeros(d)
    for i in prange(n):
        mu += x[i]
    mu /= n
    var = np.zeros(d)
    for i in prange(n):
        var += (x[i] - mu) ** 2
    sd = np.sqrt(var / n) + 1e-12
    for i in prange(n):
        for j in range(d):
            out[i, j] = (x[i, j] - mu[j]) / sd[j]
    return mu, sd


@njit(parallel=True, cache=True)
def csr_from_threshold(a, cut):  # count per row, prefix sum, fill: a CSR matrix
    n, m = a.shape
    counts = np.zeros(n, np.int64)
    for i in prange(n):
        c = 0
        for j in range(m):
            if abs(a[i, j]) > cut:
                c += 1
        counts[i] = c
    indptr = np.zeros(n + 1, np.int64)
    indptr[1:] = np.cumsum(counts)
    indices = np.empty(indptr[n], np.int64)
    data = np.empty(indptr[n])
    for i in prange(n):
        k = indptr[i]
        for j in range(m):
            if abs(a[i, j]) > cut:
                indices[k] = j
                data[k] = a[i, j]
                k += 1
    return indptr, indices, data


@njit(parallel=True, cache=True)
def first_argmin(a):  # numba's argmin idiom, as blockloop's refusal advises: two loops
    m = np.inf
    for i in prange(a.shape[0]):
        m = min(m, a[i])
    first = a.shape[0]
    for i in prange(a.shape[0]):
        if a[i] == m:
            first = min(first, i)
    return first, m


@njit(parallel=True, cache=True)
def weighted_mean(g, n):  # a namedtuple argument read by both phases
    s = 0.0
    for i in prange(n):
        s += g.values[i] * g.weight
    mean = s / n
    dev = 0.0
    for i in prange(n):
        dev = max(dev, abs(g.values[i] * g.weight - mean))
    return mean, dev


@njit(parallel=True, cache=True)
def power_iteration(a, v, tol, maxit):  # matvec map and norm in the step, break under if
    n = a.shape[0]
    w = np.empty(n)
    lam = 0.0
    it = 0
    for _ in range(maxit):
        for i in prange(n):
            acc = 0.0
            for j in range(n):
                acc += a[i, j] * v[j]
            w[i] = acc
        norm = 0.0
        for i in prange(n):
            norm += w[i] * w[i]
        norm = np.sqrt(norm)
        change = 0.0
        for i in prange(n):
            change = max(change, abs(w[i] / norm - v[i]))
            v[i] = w[i] / norm
        lam = norm
        it += 1
        if change < tol:
            break
    return lam, it


@njit(parallel=True, cache=True)
def relax_until(u, tol):  # a while loop; an inner search loop with a break of its own
    it = 0
    res = np.inf
    first_hot = -1
    while res > tol:
        old = u.copy()
        res = 0.0
        for i in prange(1, u.shape[0] - 1):
            new = 0.5 * (old[i - 1] + old[i + 1])
            res += abs(new - old[i])
            u[i] = new
        for k in range(u.shape[0]):
            if u[k] > 0.5:
                first_hot = k
                break
        it += 1
    return it, res, first_hot


@njit(parallel=True, cache=True)
def fill_then_sum(n):  # a map phase into a prologue array, then a sum phase over it
    y = np.empty(n)
    for i in prange(n):
        y[i] = np.sin(i * 0.001) ** 2
    total = 0.0
    for i in prange(n):
        total += y[i]
    return y, total


@njit(parallel=True, cache=True)
def equalise(x, w, nbins, out):  # range and weight; statements between loops; a map; a sum
    lo, hi, wsum = np.inf, -np.inf, 0.0
    for i in prange(x.shape[0]):
        lo = min(lo, x[i])
        hi = max(hi, x[i])
        wsum += w[i]
    w /= wsum  # an argument changed in place between loops
    scale = (lo, hi - lo)  # a tuple
    counts = np.zeros(nbins)
    for i in range(x.shape[0]):  # a loop without prange: a statement between phases
        counts[min(int((x[i] - scale[0]) / scale[1] * nbins), nbins - 1)] += 1.0
    cdf = np.cumsum(counts) / x.shape[0]  # a new array
    for i in prange(x.shape[0]):
        k = min(int((x[i] - scale[0]) / scale[1] * nbins), nbins - 1)
        out[i] = cdf[k] * w[i]
    total = 0.0
    for i in prange(x.shape[0]):
        total += out[i]
    return cdf, total


@njit(parallel=True, cache=True)
def centred_interior(u, out):  # a view of an argument handed from one loop to the next
    s = 0.0
    for i in prange(u.shape[0]):
        s += u[i]
    inner = out[1:-1]
    mean = s / u.shape[0]
    for i in prange(inner.shape[0]):
        inner[i] = 0.5 * (u[i] + u[i + 2]) - mean
    peak = 0.0
    for i in prange(inner.shape[0]):
        peak = max(peak, abs(inner[i]))
    return mean, peak


def _rng():
    return np.random.default_rng(11)


INPUTS = {
    "column_scaler": lambda: (_rng().normal(size=(20_000, 5)), np.zeros((20_000, 5))),
    "csr_from_threshold": lambda: (_rng().normal(size=(3_000, 40)), 1.5),
    "first_argmin": lambda: (np.round(_rng().normal(size=200_000), 2),),
    "weighted_mean": lambda: (Grid(_rng().normal(size=100_000), 0.5), 100_000),
    "power_iteration": lambda: (
        (lambda s: s @ s.T)(_rng().normal(size=(300, 300))),
        np.ones(300) / np.sqrt(300.0),
        1e-9,
        10_000,
    ),
    "relax_until": lambda: (np.linspace(0.0, 1.0, 41) ** 3, 1e-5),
    "fill_then_sum": lambda: (300_000,),
    "equalise": lambda: (_rng().normal(size=50_000), _rng().random(50_000), 64, np.zeros(50_000)),
    "centred_interior": lambda: (_rng().normal(size=50_000), np.zeros(50_000)),
}

PHASES = {
    "column_scaler": 3,
    "csr_from_threshold": 2,
    "first_argmin": 2,
    "weighted_mean": 2,
    "power_iteration": 1,
    "relax_until": 1,
    "fill_then_sum": 2,
    "equalise": 3,
    "centred_interior": 3,
}
