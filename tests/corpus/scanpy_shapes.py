"""Kernels in the shapes of scanpy's numba preprocessing routines
(``scanpy/preprocessing/_utils.py``, ``scanpy/preprocessing/_qc.py``).

Written for this corpus, not copied from scanpy: each kernel follows the loop structure of
the named function (a ``prange`` over cells of a CSR count matrix, per-chunk partial sums
combined in a second loop, an ``axis`` argument choosing between loops, scatter of CSR
entries into a dense matrix, per-row sorted temporaries) with its own names and simpler
arithmetic.
"""

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng

_CELLS = 400
_GENES = 120


def _counts(seed: int, cells: int = _CELLS, genes: int = _GENES, density: float = 0.1) -> tuple:
    """A sparse cells x genes count matrix as CSR arrays (sorted column indices)."""
    g = rng(seed)
    dense = g.poisson(3.0, size=(cells, genes)).astype(np.float64)
    dense[g.random((cells, genes)) > density] = 0.0
    dense[:, 0] += 1.0
    rows, cols = np.nonzero(dense)
    indptr = np.zeros(cells + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    indptr = np.cumsum(indptr)
    return dense[rows, cols], cols.astype(np.int64), indptr, dense


def _dense_args(axis: int) -> tuple:
    return _counts(1)[3], axis, 4


def _major_args() -> tuple:
    data, _, indptr, _ = _counts(2)
    return data, indptr, _CELLS, _GENES, 4


def _csr_scatter_args() -> tuple:
    data, indices, indptr, _ = _counts(3)
    return indptr, indices, data, np.zeros((_CELLS, _GENES)), (_CELLS, _GENES)


def _csc_scatter_args() -> tuple:
    dense = _counts(4)[3]
    by_col = dense.T.copy()
    rows, cols = np.nonzero(by_col)
    col_ptr = np.zeros(_GENES + 1, dtype=np.int64)
    np.add.at(col_ptr, rows + 1, 1)
    col_ptr = np.cumsum(col_ptr)
    return col_ptr, cols.astype(np.int64), by_col[rows, cols], np.zeros((_CELLS, _GENES))


def _top_args() -> tuple:
    data, _, indptr, _ = _counts(5, density=0.3)
    return data, indptr, np.array([20, 5, 10], dtype=np.int64)


@case(
    args=lambda: _dense_args(0),
    follows="scanpy: scanpy/preprocessing/_utils.py::_compute_mean_var_dense",
)
@njit(parallel=True, cache=True)
def dense_mean_var(x, axis, n_chunks):
    rows, cols = x.shape
    if axis == 0:
        sums = np.zeros((n_chunks, cols))
        squares = np.zeros((n_chunks, cols))
        mean = np.zeros(cols)
        var = np.zeros(cols)
        for t in prange(n_chunks):
            for r in range(t, rows, n_chunks):
                for c in range(cols):
                    v = x[r, c]
                    sums[t, c] += v
                    squares[t, c] += v * v
        for c in prange(cols):
            s = sums[:, c].sum()
            mean[c] = s / rows
            var[c] = (squares[:, c].sum() - s * s / rows) / (rows - 1)
    else:
        mean = np.zeros(rows)
        var = np.zeros(rows)
        for r in prange(rows):
            for c in range(cols):
                v = x[r, c]
                mean[r] += v
                var[r] += v * v
        for r in prange(rows):
            mean[r] = mean[r] / cols
            var[r] = (var[r] - cols * mean[r] ** 2) / (cols - 1)
    return mean, var


@case(
    args=lambda: _dense_args(1),
    follows="scanpy: scanpy/preprocessing/_utils.py::_compute_mean_var_dense",
)
@njit(parallel=True, cache=True)
def dense_mean_var_by_row(x, axis, n_chunks):
    rows, cols = x.shape
    if axis == 0:
        mean = np.zeros(cols)
        var = np.zeros(cols)
        for c in prange(cols):
            s = 0.0
            s2 = 0.0
            for r in range(rows):
                s += x[r, c]
                s2 += x[r, c] * x[r, c]
            mean[c] = s / rows
            var[c] = (s2 - s * s / rows) / (rows - 1)
    elif axis == 1:
        mean = np.zeros(rows)
        var = np.zeros(rows)
        for r in prange(rows):
            for c in range(cols):
                mean[r] += x[r, c]
                var[r] += x[r, c] * x[r, c]
        for r in prange(rows):
            mean[r] = mean[r] / cols
            var[r] = (var[r] - cols * mean[r] ** 2) / (cols - 1)
    else:
        mean = np.full(n_chunks, np.nan)
        var = np.full(n_chunks, np.nan)
    return mean, var


@case(
    args=_major_args,
    follows="scanpy: scanpy/preprocessing/_utils.py::sparse_mean_var_major_axis",
)
@njit(parallel=True, cache=True)
def sparse_row_mean_var(data, indptr, n_rows, n_cols, n_chunks):
    rows = indptr.size - 1
    means = np.zeros(n_rows)
    variances = np.zeros(n_rows)
    for t in prange(n_chunks):
        for r in range(t, rows, n_chunks):
            total = 0.0
            total_sq = 0.0
            for j in range(indptr[r], indptr[r + 1]):
                v = data[j]
                total += v
                total_sq += v * v
            means[r] = total
            variances[r] = total_sq
    for r in prange(n_rows):
        m = means[r] / n_cols
        means[r] = m
        variances[r] = variances[r] / n_cols - m * m
    return means, variances


@case(
    args=_csr_scatter_args,
    follows="scanpy: scanpy/preprocessing/_utils.py::_to_dense_csr_numba",
)
@njit(parallel=True, cache=True)
def csr_into_dense(indptr, indices, data, out, shape):
    for r in prange(shape[0]):
        for j in range(indptr[r], indptr[r + 1]):
            out[r, indices[j]] = data[j]


@case(
    args=_csc_scatter_args,
    follows="scanpy: scanpy/preprocessing/_utils.py::_to_dense_csc_numba",
)
@njit(parallel=True, cache=True)
def csc_into_dense(indptr, indices, data, out):
    for c in prange(out.shape[1]):
        for j in range(indptr[c], indptr[c + 1]):
            out[indices[j], c] = data[j]


@case(
    args=_top_args,
    follows="scanpy: scanpy/preprocessing/_qc.py::top_segment_proportions_sparse_csr",
)
@njit(parallel=True, cache=True)
def top_gene_fractions(data, indptr, ns):
    ns = np.sort(ns)
    widest = ns[-1]
    cells = indptr.size - 1
    totals = np.zeros(cells)
    top = np.zeros((cells, widest))
    out = np.zeros((cells, ns.size))
    for i in prange(cells):
        lo = indptr[i]
        hi = indptr[i + 1]
        totals[i] = np.sum(data[lo:hi])
        row = np.sort(data[lo:hi])[::-1]
        take = min(widest, hi - lo)
        top[i, :take] = row[:take]
        running = 0.0
        prev = 0
        for j in range(ns.size):
            for k in range(prev, ns[j]):
                running += top[i, k]
            out[i, j] = running / totals[i]
            prev = ns[j]
    return out
