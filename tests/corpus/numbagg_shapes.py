"""Kernels in the shapes of numbagg's aggregations (moving windows, fills, groupby, quantiles).

numbagg writes a 1-D loop per function and lets a parallel gufunc run it over the leading
axes; these kernels spell that out as a prange over rows with the 1-D loop inside. Written for
this corpus, not copied: each follows the loop structure of the numbagg function its
``follows`` names, with its own names and arithmetic.
"""

import math

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng


def _rows_with_nans(seed, n_rows, n, frac=0.1):
    g = rng(seed)
    a = np.cumsum(g.standard_normal((n_rows, n)), axis=1)
    a[g.random((n_rows, n)) < frac] = np.nan
    return a


@case(
    args=lambda: (_rows_with_nans(61, 40, 300), 20, 5),
    follows="numbagg: numbagg/moving.py::move_mean",
)
@njit(parallel=True, cache=True)
def moving_nanmean_rows(a, window, min_count):
    n_rows, n = a.shape
    out = np.empty_like(a)
    min_count = max(min_count, 1)
    total = 0.0
    count = 0
    for r in prange(n_rows):
        total = 0.0
        count = 0
        for i in range(window):
            x = a[r, i]
            if not np.isnan(x):
                total += x
                count += 1
            out[r, i] = total / count if count >= min_count else np.nan
        for i in range(window, n):
            x = a[r, i]
            old = a[r, i - window]
            if not np.isnan(old):
                total -= old
                count -= 1
            if not np.isnan(x):
                total += x
                count += 1
            out[r, i] = total / count if count >= min_count else np.nan
    return out


@case(
    args=lambda: (_rows_with_nans(62, 30, 400), np.full(400, 0.1), 0.3),
    follows="numbagg: numbagg/moving_exp.py::move_exp_nanmean",
)
@njit(parallel=True, cache=True)
def exp_moving_nanmean_rows(a, alpha, min_weight):
    n_rows, n = a.shape
    out = np.empty_like(a)
    for r in prange(n_rows):
        num = den = weight = 0.0
        for i in range(n):
            keep = 1.0 - alpha[i]
            num *= keep
            den *= keep
            weight *= keep
            x = a[r, i]
            if not np.isnan(x):
                num += x
                den += 1.0
                weight += alpha[i]
            if weight >= min_weight:
                out[r, i] = num / den
            else:
                out[r, i] = np.nan
    return out


@case(
    args=lambda: (_rows_with_nans(63, 50, 200, 0.3), 3, 1),
    follows="numbagg: numbagg/funcs.py::ffill",
)
@njit(parallel=True, cache=True)
def fill_rows(a, limit, method):
    n_rows, n = a.shape
    out = np.empty_like(a)
    for r in prange(n_rows):
        lives = limit
        current = np.nan
        if method == 0:
            for i in range(n):
                x = a[r, i]
                if np.isnan(x):
                    if lives <= 0:
                        current = np.nan
                    lives -= 1
                else:
                    lives = limit
                    current = x
                out[r, i] = current
        elif method == 1:
            for i in range(n - 1, -1, -1):
                x = a[r, i]
                if np.isnan(x):
                    if lives <= 0:
                        current = np.nan
                    lives -= 1
                else:
                    lives = limit
                    current = x
                out[r, i] = current
        else:
            out[r, :] = a[r, :]
    return out


@case(
    args=lambda: (_rows_with_nans(64, 40, 300), rng(65).integers(-1, 7, 300), 7),
    follows="numbagg: numbagg/grouped.py::group_nanmean",
)
@njit(parallel=True, cache=True)
def group_nanmean_rows(values, labels, n_groups):
    n_rows, n = values.shape
    out = np.zeros((n_rows, n_groups))
    counts = np.zeros((n_rows, n_groups), dtype=np.int64)
    for r in prange(n_rows):
        for i in range(n):
            g = labels[i]
            if g < 0:
                continue
            v = values[r, i]
            if np.isnan(v):
                continue
            counts[r, g] += 1
            out[r, g] += v
    for r in prange(n_rows):
        for g in range(n_groups):
            if counts[r, g] == 0:
                out[r, g] = np.nan
            else:
                out[r, g] /= counts[r, g]
    return out


def _quantile_args():
    a = _rows_with_nans(66, 60, 150, 0.2)
    a[3] = np.nan
    return a, np.array([0.0, 0.1, 0.5, np.nan, 0.9, 1.0])


@case(args=_quantile_args, follows="numbagg: numbagg/funcs.py::nanquantile")
@njit(parallel=True, cache=True)
def nanquantile_rows(a, qs):
    n_rows, n = a.shape
    out = np.empty((n_rows, qs.shape[0]))
    for r in prange(n_rows):
        row = a[r]
        missing = np.isnan(row)
        valid = n - missing.sum()
        if valid == 0:
            out[r, :] = np.nan
            continue
        filled = np.where(missing, np.nanmax(row), row)
        ordered = np.sort(filled)
        for q in range(qs.shape[0]):
            if np.isnan(qs[q]):
                out[r, q] = np.nan
                continue
            rank = (valid - 1) * qs[q]
            lo = math.floor(rank)
            hi = math.ceil(rank)
            out[r, q] = ordered[lo] + (rank - lo) * (ordered[hi] - ordered[lo])
    return out


def _argmax_args():
    a = _rows_with_nans(67, 80, 120, 0.2)
    a[5] = np.nan
    a[9, :] = 1.0
    return (a,)


@case(args=_argmax_args, follows="numbagg: numbagg/funcs.py::nanargmax")
@njit(parallel=True, cache=True)
def nanargmax_rows(a):
    n_rows, n = a.shape
    where = np.full(n_rows, -1, dtype=np.int64)
    peak = np.full(n_rows, np.nan)
    for r in prange(n_rows):
        best = -np.inf
        idx = -1
        for i in range(n):
            x = a[r, i]
            if x > best or (idx == -1 and not np.isnan(x)):
                best = x
                idx = i
        if idx == -1:
            continue
        where[r] = idx
        peak[r] = best
    return where, peak
