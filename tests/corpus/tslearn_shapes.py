"""Kernels in the shapes of tslearn's prange kernels (DTW, soft-DTW, SAX, cross-correlation).

Written for this corpus, not copied: each kernel follows the loop structure of the tslearn
function its ``follows`` names (a dynamic programme per sample of a batch, envelopes with a
nested prange, distance matrices of a dataset, shifts to a reference), with its own names and
arithmetic.
"""

import math

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng

BIG = 1e300


def _dataset(seed, n_ts, sz, d):
    return np.cumsum(rng(seed).standard_normal((n_ts, sz, d)), axis=1)


def _cost_batch(seed, b, m, n):
    x = _dataset(seed, b, m, 2)
    y = _dataset(seed + 1, b, n, 2)
    return ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(axis=3)


@case(
    args=lambda: (_dataset(71, 1, 400, 3)[0], 6),
    follows="tslearn: tslearn/metrics/dtw_variants.py::_njit_lb_envelope",
)
@njit(parallel=True, cache=True)
def lb_envelope(ts, radius):
    sz, d = ts.shape
    lower = np.empty((sz, d))
    upper = np.empty((sz, d))
    for i in prange(sz):
        lo = i - radius
        hi = i + radius + 1
        if lo < 0:
            lo = 0
        if hi > sz:
            hi = sz
        for k in prange(d):
            lower[i, k] = np.min(ts[lo:hi, k])
            upper[i, k] = np.max(ts[lo:hi, k])
    return lower, upper


@njit(cache=True)
def _softmin3(a, b, c, gamma):
    a = -a / gamma
    b = -b / gamma
    c = -c / gamma
    top = max(max(a, b), c)
    s = math.exp(a - top) + math.exp(b - top) + math.exp(c - top)
    return -gamma * (math.log(s) + top)


@njit(cache=True)
def _soft_dtw_forward(cost, acc, gamma):
    """Fill ``acc`` (shape (m + 2, n + 2)) with the soft-DTW accumulated costs of ``cost``."""
    m, n = cost.shape
    acc[: m + 1, 0] = BIG
    acc[0, : n + 1] = BIG
    acc[0, 0] = 0.0
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            acc[i, j] = cost[i - 1, j - 1] + _softmin3(
                acc[i - 1, j], acc[i - 1, j - 1], acc[i, j - 1], gamma
            )


@njit(cache=True)
def _soft_dtw_backward(cost, acc, grad, gamma):
    """Fill ``grad`` with the expected alignment of ``cost`` under soft-DTW (from ``acc``)."""
    m, n = cost.shape
    ext = np.zeros((m + 1, n + 1))
    ext[:m, :n] = cost
    acc[1 : m + 1, n + 1] = -BIG
    acc[m + 1, 1 : n + 1] = -BIG
    acc[m + 1, n + 1] = acc[m, n]
    grad[:, :] = 0.0
    grad[m + 1, n + 1] = 1.0
    for j in range(n, 0, -1):
        for i in range(m, 0, -1):
            a = math.exp((acc[i + 1, j] - acc[i, j] - ext[i, j - 1]) / gamma)
            b = math.exp((acc[i, j + 1] - acc[i, j] - ext[i - 1, j]) / gamma)
            c = math.exp((acc[i + 1, j + 1] - acc[i, j] - ext[i, j]) / gamma)
            grad[i, j] = grad[i + 1, j] * a + grad[i, j + 1] * b + grad[i + 1, j + 1] * c


def _forward_args():
    cost = _cost_batch(72, 24, 30, 25)
    return cost, np.zeros((24, 32, 27)), 0.5


@case(args=_forward_args, follows="tslearn: tslearn/metrics/soft_dtw_fast.py::_njit_soft_dtw_batch")
@njit(parallel=True, cache=True)
def soft_dtw_batch(cost, acc, gamma):
    b, m, n = cost.shape
    value = np.empty(b)
    for s in prange(b):
        _soft_dtw_forward(cost[s], acc[s], gamma)
        value[s] = acc[s, m, n]
    return value


def _grad_args():
    cost = _cost_batch(74, 16, 24, 20)
    return cost, np.zeros((16, 26, 22)), np.zeros((16, 26, 22)), 1.0


@case(
    args=_grad_args,
    follows="tslearn: tslearn/metrics/soft_dtw_fast.py::_njit_soft_dtw_grad_batch",
)
@njit(parallel=True, cache=True)
def soft_dtw_value_and_grad(cost, acc, grad, gamma):
    b, m, n = cost.shape
    value = np.empty(b)
    for s in prange(b):
        _soft_dtw_forward(cost[s], acc[s], gamma)
        value[s] = acc[s, m, n]
    for s in prange(b):
        _soft_dtw_backward(cost[s], acc[s], grad[s], gamma)
    return value, grad[:, 1 : m + 1, 1 : n + 1]


def _jacobian_args():
    g = rng(76)
    return (
        g.standard_normal((60, 3)),
        g.standard_normal((50, 3)),
        g.random((60, 50)),
        np.ones((60, 3)),
    )


@case(
    args=_jacobian_args,
    follows="tslearn: tslearn/metrics/soft_dtw_fast.py::_njit_jacobian_product_sq_euc",
)
@njit(parallel=True, cache=True)
def jacobian_product(x, y, e, out):
    m, d = x.shape
    n = y.shape[0]
    for i in prange(m):
        for j in range(n):
            w = 2.0 * e[i, j]
            for k in range(d):
                out[i, k] += w * (x[i, k] - y[j, k])
    return out


def _sax_args():
    g = rng(77)
    bps = np.array([-1.15, -0.67, -0.32, 0.0, 0.32, 0.67, 1.15])
    return g.integers(0, 8, (256, 2)), g.integers(0, 8, (256, 2)), bps, 1024


@case(args=_sax_args, follows="tslearn: tslearn/metrics/cysax.py::cydist_sax", exact=False)
@njit(parallel=True, cache=True)
def sax_distance(sax1, sax2, breakpoints, original_size):
    sz, d = sax1.shape
    s = 0.0
    for t in prange(sz):
        for k in range(d):
            hi = max(sax1[t, k], sax2[t, k])
            lo = min(sax1[t, k], sax2[t, k])
            if hi - lo > 1:
                s += (breakpoints[hi - 1] - breakpoints[lo]) ** 2
    return math.sqrt(s * original_size / sz)


@njit(cache=True)
def _max_ncc(x, y, nx, ny):
    """The largest normalised cross-correlation of ``x`` and ``y`` over all shifts."""
    sz, d = x.shape
    if nx * ny == 0.0:
        return 0.0
    best = -np.inf
    for shift in range(-sz + 1, sz):
        acc = 0.0
        for t in range(max(0, shift), min(sz, sz + shift)):
            for k in range(d):
                acc += x[t, k] * y[t - shift, k]
        best = max(best, acc / (nx * ny))
    return best


def _ncc_args():
    ds = _dataset(78, 18, 24, 2)
    norms = np.full(18, -1.0)
    return ds, ds.copy(), norms, norms.copy(), True


@case(args=_ncc_args, follows="tslearn: tslearn/metrics/cycc.py::cdist_normalized_cc")
@njit(parallel=True, cache=True)
def ncc_distance_matrix(ds1, ds2, norms1, norms2, self_similarity):
    n1 = ds1.shape[0]
    n2 = ds2.shape[0]
    dists = np.zeros((n1, n2))
    for i in prange(n1):
        if norms1[i] < 0.0:
            norms1[i] = np.sqrt(np.sum(ds1[i] ** 2))
    for j in prange(n2):
        if norms2[j] < 0.0:
            norms2[j] = np.sqrt(np.sum(ds2[j] ** 2))
    for i in prange(n1):
        stop = i if self_similarity else n2
        for j in range(stop):
            dists[i, j] = _max_ncc(ds1[i], ds2[j], norms1[i], norms2[j])
    if self_similarity:
        # a new array: numba's in-place `dists += dists.T` reads elements it has already
        # updated
        dists = dists + dists.T
    return dists


@njit(cache=True)
def _ncc_curve(x, y, nx, ny):
    sz, d = x.shape
    curve = np.zeros(2 * sz - 1)
    for q in range(2 * sz - 1):
        shift = q - sz + 1
        acc = 0.0
        for t in range(max(0, shift), min(sz, sz + shift)):
            for k in range(d):
                acc += x[t, k] * y[t - shift, k]
        curve[q] = acc / (nx * ny)
    return curve


def _shift_args():
    ds = _dataset(79, 25, 40, 2)
    return ds[0].copy(), ds, float(np.linalg.norm(ds[0])), np.linalg.norm(ds, axis=(1, 2))


@case(args=_shift_args, follows="tslearn: tslearn/metrics/cycc.py::y_shifted_sbd_vec")
@njit(parallel=True, cache=True)
def shift_to_reference(ref, ds, norm_ref, norms):
    n_ts, sz, d = ds.shape
    shifted = np.zeros((n_ts, sz, d))
    for i in prange(n_ts):
        curve = _ncc_curve(ds[i], ref, norms[i], norm_ref)
        shift = np.argmax(curve) + 1 - sz
        if shift > 0:
            shifted[i, shift:] = ds[i, :-shift]
        elif shift < 0:
            shifted[i, :shift] = ds[i, -shift:]
        else:
            shifted[i] = ds[i]
    return shifted


@case(
    args=lambda: (rng(80).integers(0, 8, (12, 16, 2)), np.linspace(-1.5, 1.5, 8), 128),
    follows="tslearn: tslearn/metrics/cysax.py::inv_transform_paa",
)
@njit(parallel=True, cache=True)
def inverse_sax(symbols, centres, original_size):
    n_ts, sz, d = symbols.shape
    seg = original_size // sz
    out = np.zeros((n_ts, original_size, d))
    for t in prange(sz):
        t0 = t * seg
        for i in range(n_ts):
            for k in range(d):
                out[i, t0 : t0 + seg, k] = centres[symbols[i, t, k]]
    return out


@case(
    args=lambda: (_cost_batch(81, 1, 60, 50)[0], 0.5),
    follows="tslearn: tslearn/metrics/soft_dtw_fast.py::_njit_soft_dtw",
    expect="race",
    why="an iteration may read what another writes",
)
@njit(parallel=True, cache=True)
def soft_dtw_rows_in_parallel(cost, gamma):
    m, n = cost.shape
    acc = np.full((m + 1, n + 1), BIG)
    acc[0, 0] = 0.0
    # the recursion made parallel over rows: row i reads row i - 1, which another
    # iteration fills
    for i in prange(1, m + 1):
        for j in range(1, n + 1):
            acc[i, j] = cost[i - 1, j - 1] + _softmin3(
                acc[i - 1, j], acc[i - 1, j - 1], acc[i, j - 1], gamma
            )
    return acc[m, n]
