"""Kernels in the shapes of vectorbt's per-column signal, returns and portfolio loops.

The kernels follow the loop structure of vectorbt (PRO) Numba functions, where each column
(or group of columns) of a time-by-asset matrix is processed by one prange iteration. They are
written for this corpus, not copied: names, arithmetic and argument lists are our own.
"""

import math

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng


def _prices(seed, n_rows, n_cols):
    steps = rng(seed).normal(0.0005, 0.01, size=(n_rows, n_cols))
    return 100.0 * np.exp(np.cumsum(steps, axis=0))


def _with_gaps(seed, n_rows, n_cols):
    arr = _prices(seed, n_rows, n_cols)
    arr[rng(seed + 1).random((n_rows, n_cols)) < 0.2] = np.nan
    return arr


@njit(cache=True)
def _simple_return(before, after):
    if before == 0.0:
        if after == 0.0:
            r = 0.0
        else:
            r = np.nan
    else:
        r = (after - before) / before
    return r


@case(
    args=lambda: (_prices(11, 400, 7), rng(12).random(7) * 5.0 + 98.0),
    follows="vectorbt: vectorbtpro/returns/nb.py::returns_nb",
)
@njit(parallel=True, cache=True)
def column_returns(value, start_value):
    out = np.full(value.shape, np.nan)
    prev = 0.0
    for col in prange(value.shape[1]):
        prev = start_value[col]
        for i in range(value.shape[0]):
            cur = value[i, col]
            out[i, col] = _simple_return(prev, cur)
            prev = cur
    return out


@njit(cache=True)
def _drawdown_1d(rets):
    level = np.nan
    peak = 1.0
    worst = 0.0
    for i in range(rets.shape[0]):
        if not np.isnan(rets[i]):
            if np.isnan(level):
                level = 1.0
            level *= 1.0 + rets[i]
        if level > peak:
            peak = level
        elif level < peak:
            dd = level / peak - 1.0
            if dd < worst:
                worst = dd
    if np.isnan(level):
        return np.nan
    return worst


def _drawdown_args():
    rets = rng(21).normal(0.0, 0.02, size=(500, 9))
    rets[rng(22).random((500, 9)) < 0.05] = np.nan
    starts = rng(23).integers(0, 200, size=9)
    ends = rng(24).integers(150, 501, size=9)
    return rets, starts, ends


@case(args=_drawdown_args, follows="vectorbt: vectorbtpro/returns/nb.py::max_drawdown_nb")
@njit(parallel=True, cache=True)
def windowed_max_drawdown(rets, sim_start, sim_end):
    out = np.full(rets.shape[1], np.nan)
    worst = 0.0
    for col in prange(rets.shape[1]):
        lo = sim_start[col]
        hi = sim_end[col]
        if lo >= hi:
            continue
        dd = _drawdown_1d(rets[lo:hi, col])
        out[col] = dd
        if not np.isnan(dd):
            worst = min(worst, dd)
    return out, worst


@case(
    args=lambda: (rng(31).random((600, 8)) < 0.4,),
    follows="vectorbt: vectorbtpro/signals/nb.py::partition_ranges_nb",
)
@njit(parallel=True, cache=True)
def signal_partitions(mask):
    n_rows, n_cols = mask.shape
    starts = np.full((n_rows, n_cols), -1, dtype=np.int64)
    ends = np.full((n_rows, n_cols), -1, dtype=np.int64)
    counts = np.zeros(n_cols, dtype=np.int64)
    for col in prange(n_cols):
        inside = False
        first = -1
        for i in range(n_rows):
            if mask[i, col]:
                if not inside:
                    first = i
                inside = True
            elif inside:
                r = counts[col]
                starts[r, col] = first
                ends[r, col] = i
                counts[col] += 1
                inside = False
        if inside:
            r = counts[col]
            starts[r, col] = first
            ends[r, col] = n_rows - 1
            counts[col] += 1
    return starts, ends, counts


def _grouped_args():
    value = _with_gaps(41, 300, 10)
    group_lens = np.array([3, 1, 4, 2], dtype=np.int64)
    starts = rng(42).integers(0, 100, size=10)
    ends = rng(43).integers(50, 301, size=10)
    return value, group_lens, starts, ends


@case(
    args=_grouped_args,
    follows="vectorbt: vectorbtpro/portfolio/nb/analysis.py::asset_value_grouped_nb",
)
@njit(parallel=True, cache=True)
def grouped_asset_value(value, group_lens, sim_start, sim_end):
    out = np.full((value.shape[0], group_lens.shape[0]), np.nan)
    group_end = np.cumsum(group_lens)
    group_start = group_end - group_lens
    for group in prange(group_lens.shape[0]):
        from_col = group_start[group]
        to_col = group_end[group]
        for col in range(from_col, to_col):
            lo = sim_start[col]
            hi = sim_end[col]
            if lo >= hi:
                continue
            for i in range(lo, hi):
                x = value[i, col]
                if np.isnan(x):
                    continue
                if np.isnan(out[i, group]):
                    out[i, group] = 0.0
                out[i, group] += x
    return out


@njit(cache=True)
def _gbm_path(n_rows, start, drift, vol):
    path = np.empty(n_rows)
    prev = start
    for i in range(n_rows):
        shock = np.random.standard_normal()
        path[i] = prev * math.exp(drift - 0.5 * vol * vol + vol * shock)
        prev = path[i]
    return path


@case(
    args=lambda: (250, rng(51).random(12) * 50.0 + 50.0, rng(52).random(12) * 0.002, 7),
    follows="vectorbt: vectorbtpro/data/nb.py::generate_gbm_data_nb",
)
@njit(parallel=True, cache=True)
def gbm_columns(n_rows, start, drift, seed):
    n_cols = start.shape[0]
    out = np.empty((n_rows, n_cols))
    for col in prange(n_cols):
        np.random.seed(seed + col)
        vol = 0.01 + 0.001 * (col % 5)
        out[:, col] = _gbm_path(n_rows, start[col], drift[col], vol)
    return out


@case(
    args=lambda: (_with_gaps(61, 300, 6), 1),
    follows="vectorbt: vectorbtpro/generic/nb/base.py::ffill_nb",
)
@njit(parallel=True, cache=True)
def fill_gaps(arr, direction):
    out = np.empty_like(arr)
    if direction == 0:
        for col in prange(arr.shape[1]):
            last = arr[0, col]
            for i in range(arr.shape[0]):
                if np.isnan(arr[i, col]):
                    out[i, col] = last
                else:
                    last = arr[i, col]
                    out[i, col] = last
    elif direction == 1:
        for col in prange(arr.shape[1]):
            last = arr[arr.shape[0] - 1, col]
            for i in range(arr.shape[0] - 1, -1, -1):
                if np.isnan(arr[i, col]):
                    out[i, col] = last
                else:
                    last = arr[i, col]
                    out[i, col] = last
    else:
        out[:, :] = arr
    return out
