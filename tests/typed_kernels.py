"""Kernels whose loops only numba's types make blockable (issue 29, the typed view).

Each binds a name from an expression the syntax cannot type (a helper's result, a
conditional expression, a tuple a helper returns) and updates it in place: a number for
the calls below, so nothing is written into the arrays it was computed from. Each follows
the shape of a library function named in its comment; the code is our own.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.typed import List


@njit(cache=True)
def squared_distance(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        d = a[k] - b[k]
        s += d * d
    return s


@njit(parallel=True, cache=True)
def edge_attraction(emb, heads, tails, out):
    # shape of umap.layouts.optimize_layout_euclidean: a distance from a helper, scaled
    for e in prange(heads.shape[0]):
        current = emb[heads[e]]
        other = emb[tails[e]]
        d = squared_distance(current, other)
        coeff = 0.0
        if d > 0.0:
            coeff = -2.0 / (1.0 + d)
        d *= coeff
        out[e] = d


@njit(parallel=True, cache=True)
def weighted_scores(x, weights, scale, out):
    # shape of sklearn-style sample weighting: a weight or 1 when none are given
    for i in prange(x.shape[0]):
        w = weights[i] if weights.shape[0] > 0 else 1.0
        w *= scale
        out[i] = w * x[i]


@njit(cache=True)
def window(x, i, half):
    lo = max(0, i - half)
    hi = min(x.shape[0], i + half + 1)
    return lo, hi


@njit(parallel=True, cache=True)
def centred_mean(x, half, out):
    # shape of numbagg's moving-window functions: bounds from a helper, then narrowed
    for i in prange(x.shape[0]):
        lo, hi = window(x, i, half)
        lo += 1 if hi - lo > 2 * half else 0
        s = 0.0
        for k in range(lo, hi):
            s += x[k]
        out[i] = s / (hi - lo)


@njit(cache=True)
def row_of(x, i):
    return x[i]


@njit(parallel=True, cache=True)
def scale_rows(x, factors):
    # shape of a per-row normalisation through a helper that returns the row (a view)
    for i in prange(x.shape[0]):
        row = row_of(x, i)
        row *= factors[i]


@njit(parallel=True, cache=True)
def shifted_rows(x, out):
    # a true race: each iteration updates its row through the helper's view and reads
    # the next row, which another iteration updates
    for i in prange(x.shape[0]):
        row = row_of(x, i)
        row += 1.0
        out[i] = x[(i + 1) % x.shape[0], 0]


@njit(cache=True)
def earlier(a, b):
    return 1.0 if a < b else 0.0


@njit(parallel=True, cache=True)
def pair_count(t, f):
    # pycox's concordance shape: a function handed in as an argument, given numbers only
    total = 0.0
    for i in prange(t.shape[0]):
        for j in range(t.shape[0]):
            total += f(t[i], t[j])
    return total


@njit(parallel=True, cache=True)
def series_norms(series):
    # aeon's pairwise-distance shape: a collection of unequal-length series as a typed List
    out = np.zeros(len(series))
    for i in prange(len(series)):
        s = series[i]
        out[i] = np.sqrt(np.sum(s * s)) / s.shape[1]
    return out


@njit(cache=True)
def _mean_gap(a, b):
    k = min(a.shape[1], b.shape[1])
    return np.abs(a[:, :k] - b[:, :k]).mean()


@njit(parallel=True, cache=True)
def series_gaps(series):
    # aeon's pairwise distances: a helper's number stored into an array of numbers,
    # which does not make the array refer to the series it was computed from
    n = len(series)
    d = np.zeros((n, n))
    for i in prange(n):
        for j in range(i + 1, n):
            d[i, j] = _mean_gap(series[i], series[j])
            d[j, i] = d[i, j]
    return d


@njit(parallel=True, cache=True)
def centre_series(series):
    for i in prange(len(series)):
        s = series[i]
        s -= s.mean()


@njit(cache=True)
def peak(a):
    k = np.argmax(a)
    return a[k]


@njit(parallel=True, cache=True)
def peak_shift(x, out):
    # a number a helper reads from its argument (``a[k]``: to the syntax, perhaps a row of
    # it), then updated in place
    for i in prange(x.shape[0]):
        p = peak(x[i])
        p -= x[max(i - 1, 0), 0]  # the row before: another iteration's, if x were written
        out[i] = p


@njit(parallel=True, cache=True)
def kept_codes(series, bound):
    # shape of a per-document filter into a list of arrays (vectorizers-style): each
    # iteration replaces its own slot of a new list with a filtered copy of its series
    out = [np.zeros(0) for _ in range(len(series))]
    for i in prange(len(series)):
        codes = series[i][0]
        codes = codes[codes < bound]
        out[i] = codes
    return out


@njit(cache=True)
def _hinge(a, b, lag):
    """A similarity of two samples ``lag`` apart (numbers in, a number out)."""
    d = abs(a - b)
    return max(0.0, 1.0 - d) / (1.0 + lag)


@njit(parallel=True, cache=True)
def lagged_similarity(a, b, window, similarity):
    # a scoring function handed in, and a function defined in the kernel that fills the
    # iteration's row with it (the shape of a survival-analysis library's score matrices):
    # `ai = a[i]` and `b[j]` are numbers here, so nothing the handed function is given
    # can be written through; numba's types of each call say so
    def fill(similarity, ai, i, b, row, window):
        for j in range(max(0, i - window), min(b.shape[0], i + window + 1)):
            bj = b[j]
            row[j - i + window] = similarity(ai, bj, abs(i - j))

    out = np.zeros((a.shape[0], 2 * window + 1))
    near = np.empty(a.shape[0])
    for i in prange(a.shape[0]):
        ai = a[i]
        near[i] = (np.abs(b - ai) < 0.1).sum()
        fill(similarity, ai, i, b, out[i], window)
    return out, near


@njit(parallel=True, cache=True)
def added_through_a_row(x1, x2, v):
    # a function defined in the kernel whose `r = a[k]; r += w` adds to a number for the
    # first call (1-D `x1`) and to a row of `x2`, in place, for the second: every
    # iteration adds to `x2[0]`, a race plain numba has too
    def add_to(a, k, w):
        r = a[k]
        r += w

    for i in prange(x1.shape[0]):
        add_to(x1, i, v[i])
        add_to(x2, 0, v[i])


@njit(cache=True)
def _folded(p):
    """A phase folded into [-pi, pi): the parameter itself updated in place."""
    p %= 2.0 * np.pi
    if p >= np.pi:
        p -= 2.0 * np.pi
    return p


@njit(parallel=True, cache=True)
def ring_coupling(theta, reach, coupling):
    # shape of a coupled-oscillator (Kuramoto) model's phase velocities on a ring: each
    # oscillator reads its neighbours' phases, folded by a module helper that updates its
    # parameter in place; `theta[...]` is a number, so nothing is written through it
    # (numba's types of the helper, for the kernel's calls, say so)
    n = theta.shape[0]
    out = np.empty(n)
    for i in prange(n):
        pull = 0.0
        for k in range(1, reach + 1):
            ahead = _folded(theta[(i + k) % theta.shape[0]])
            behind = _folded(theta[(i - k) % n])
            pull += np.sin(ahead - theta[i]) + np.sin(behind - theta[i])
        out[i] = coupling * pull / (2 * reach)
    return out


@njit  # not cached: numba keeps the types of what it compiles in this process
def _add_in_place(a, k, w):
    r = a[k]
    r += w


@njit(cache=True)
def _add_to_first(a, w):
    _add_in_place(a, 0, w)


@njit(parallel=True, cache=True)
def added_through_a_helper(x1, x2, v):
    # a module helper that adds to a number when the kernel calls it (1-D `x1`) and to a
    # row of `x2`, in place, when another helper calls it: every iteration adds to
    # `x2[0]`, a race plain numba has too; the kernel's types say nothing of that call
    for i in prange(x1.shape[0]):
        _add_in_place(x1, i, v[i])
        _add_to_first(x2, v[i])


@njit(parallel=True, cache=True)
def added_in_place(x1, v):
    # the same helper given an element of a 1-D array only: it adds to a number
    for i in prange(x1.shape[0]):
        _add_in_place(x1, i, v[i])


def inputs(name: str) -> tuple:
    """Fresh arguments for the kernel ``name`` (the same values each time)."""
    rng = np.random.default_rng(29)
    if name == "edge_attraction":
        emb = rng.normal(size=(400, 3))
        heads = rng.integers(0, 400, 3000)
        tails = rng.integers(0, 400, 3000)
        return emb, heads, tails, np.zeros(3000)
    if name == "weighted_scores":
        return rng.normal(size=5000), rng.random(5000), 3, np.zeros(5000)
    if name == "centred_mean":
        return rng.normal(size=5000), 7, np.zeros(5000)
    if name == "scale_rows":
        return rng.normal(size=(2000, 4)), rng.random(2000)
    if name == "pair_count":
        return rng.random(600), earlier
    if name in ("series_norms", "centre_series", "kept_codes"):
        return (List([rng.normal(size=(2, 5 + k % 7)) for k in range(5000)]),)
    if name == "series_gaps":
        return (List([rng.normal(size=(2, 5 + k % 7)) for k in range(300)]),)
    if name == "peak_shift":
        return rng.normal(size=(3000, 5)), np.zeros(3000)
    if name == "shifted_rows":
        return rng.normal(size=(300, 2)), np.zeros(300)
    if name == "lagged_similarity":
        return rng.random(3000), rng.random(3000), 40, _hinge
    if name == "ring_coupling":
        return rng.uniform(-8.0, 8.0, 4000), 3, 0.7
    if name in ("added_through_a_row", "added_through_a_helper"):
        return rng.random(300), np.zeros((4, 3)), rng.random(300)
    if name == "added_in_place":
        return rng.random(300), rng.random(300)
    raise KeyError(name)
