"""Kernels given functions as arguments, made by factories, or guarding with ``is None``
(tests/test_handed.py). Each follows a shape from a public library; the code is ours."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def sq_euclidean(a, b):
    acc = 0.0
    for k in range(a.shape[0]):
        acc += (a[k] - b[k]) ** 2
    return acc


@njit(cache=True)
def drawn_offset(a, b):
    return np.random.random() + a[0] - b[0]


@njit(parallel=True, cache=True)
def pairwise_with(x, y, dist):
    # shape of vectorizers' chunked_pairwise_distance: the distance is handed in
    out = np.empty((x.shape[0], y.shape[0]))
    for i in prange(x.shape[0]):
        for j in range(y.shape[0]):
            out[i, j] = dist(x[i], y[j])
    return out


@njit(cache=True)
def next_node(k, n):
    return (k * 7 + int(np.random.random() * n)) % n


@njit(parallel=True, cache=True)
def walks(starts, length, n, step):
    # shape of pecanpy's _random_walks: the step function, handed in, draws from
    # numpy's generator (per thread: the walks depend on the thread count)
    out = np.zeros((starts.shape[0], length), dtype=np.int64)
    for i in prange(starts.shape[0]):
        out[i, 0] = starts[i]
        for t in range(1, length):
            out[i, t] = step(out[i, t - 1], n)
    return out


@njit(parallel=True, cache=True)
def weighted_sums(x, w, out, progress=None):
    # shape of harmonica's forward models: a progress proxy, None unless asked for,
    # updated behind a flag bound once before the loop
    update = progress is not None
    for i in prange(x.shape[0]):
        acc = 0.0
        for j in range(w.shape[0]):
            acc += w[j] * x[i] ** j
        out[i] = acc
        if update:
            progress.update(1)
    return out


def make_smoother(weights, dtype=np.float64):
    # shape of py-pde's and abTEM's operator factories: the stencil and its dtype class
    # are closed over, not passed
    taps = np.asarray(weights, dtype=dtype)
    half = taps.shape[0] // 2

    @njit(parallel=True)
    def smooth(u, out):
        n = u.shape[0]
        for i in prange(n):
            acc = dtype(0.0)
            for k in range(taps.shape[0]):
                acc += taps[k] * u[(i + k - half) % n]
            out[i] = acc
        return out

    return smooth


@njit(parallel=True, cache=True)
def gradient_φ(arr_φ, out_φ):
    # shape of py-pde's cylindrical operators: non-ASCII names for the arrays
    n = arr_φ.shape[0]
    for i in prange(n):
        out_φ[i] = 0.5 * (arr_φ[(i + 1) % n] - arr_φ[i - 1])
    return out_φ
