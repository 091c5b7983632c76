"""Kernels given ``jitclass`` instances (issue 29), in the shapes of real libraries; each
also runs under plain numba.

A method called in the loop (``ratings.row_vs(u)``) is analysed as a helper given the
instance first; an instance the kernel only reads is fingerprinted by its class's source
and its fields. One whose fields the kernel writes, directly or through a method, is
refused: blockloop cannot put a jitclass's fields back on a resume.
"""

import numpy as np
from numba import float32, float64, int64, intc, njit, optional, prange, uint32
from numba.experimental import jitclass


# The shape of LensKit's CSR (csr/layout.py, ``_CSR``): a plain Python class made a
# jitclass afterwards, with an optional values array and row accessor methods.
class _RatingsBase:
    def __init__(self, nrows, ncols, nnz, rowptrs, colinds, values):
        self.nrows = nrows
        self.ncols = ncols
        self.nnz = nnz
        self.rowptrs = rowptrs
        self.colinds = colinds
        self.values = values

    def row_extent(self, row):
        return self.rowptrs[row], self.rowptrs[row + 1]

    def row_cs(self, row):
        sp, ep = self.row_extent(row)
        return self.colinds[sp:ep]

    def row_vs(self, row):
        sp, ep = self.row_extent(row)
        vals = self.values
        if vals is None:
            return np.ones(ep - sp)
        return vals[sp:ep]


Ratings = jitclass(
    {
        "nrows": intc,
        "ncols": intc,
        "nnz": int64,
        "rowptrs": int64[::1],
        "colinds": intc[::1],
        "values": optional(float64[::1]),
    }
)(_RatingsBase)


# LensKit's user-mean centring (``_center_ratings`` over the rows of its CSR): each row's
# mean, and its entries less that mean, written at the row's own extent
@njit(parallel=True, cache=False)
def centred_rows(ratings, means, centred):
    for u in prange(ratings.nrows):
        sp, ep = ratings.row_extent(u)
        if sp == ep:
            continue
        vs = ratings.row_vs(u)
        m = vs.mean()
        means[u] = m
        centred[sp:ep] = vs - m


def _csr_class(value_type):
    # the shape of a class built by a factory for one value dtype (a minimal CSR with
    # ``get_nnz``/``get_row``, as recommender and single-cell packages write it)
    @jitclass(
        [
            ("values", value_type[:]),
            ("col_index", uint32[:]),
            ("row_index", uint32[:]),
            ("tot_rows", uint32),
        ]
    )
    class CSRMatrix:
        def __init__(self, values, col_index, row_index, tot_rows):
            self.values = values
            self.col_index = col_index
            self.row_index = row_index
            self.tot_rows = tot_rows

        def get_nnz(self, row):
            return self.row_index[row + 1] - self.row_index[row]

        def get_row(self, row):
            start = self.row_index[row]
            end = self.row_index[row + 1]
            return self.col_index[start:end], self.values[start:end]

    return CSRMatrix


CSRMatrix32 = _csr_class(float32)


# a weighted sum over each row's entries (sparse matrix times a dense weight vector)
@njit(parallel=True, cache=False)
def weighted_rows(mat, weights):
    out = np.zeros(mat.tot_rows, dtype=np.float64)
    for i in prange(mat.tot_rows):
        if mat.get_nnz(i) == 0:
            continue
        cols, vals = mat.get_row(i)
        s = 0.0
        for k in range(cols.shape[0]):
            s += vals[k] * weights[cols[k]]
        out[i] = s
    return out


# pygbm's SplittingContext shape: a method that writes the instance's own buffers
@jitclass([("partition", float64[:]), ("scale", float64)])
class Splitter:
    def __init__(self, partition, scale):
        self.partition = partition
        self.scale = scale

    def rescale(self, i):
        self.partition[i] = self.partition[i] * self.scale

    def jitter(self, i):
        return self.partition[i] + np.random.random()


@njit(parallel=True, cache=False)
def rescaled(splitter, n):
    for i in prange(n):
        splitter.rescale(i)
    return splitter.partition.sum()


@njit(parallel=True, cache=False)
def jittered(splitter, n):
    out = np.zeros(n)
    for i in prange(n):
        out[i] = splitter.jitter(i)
    return out


def _rows(n, rng):
    counts = rng.integers(0, 9, n)
    counts[::7] = 0  # empty rows
    ptr = np.zeros(n + 1, np.int64)
    ptr[1:] = np.cumsum(counts)
    return ptr


def inputs(name, n=3000):
    """Fresh, equal arguments for kernel ``name``."""
    rng = np.random.default_rng(7)
    if name == "centred_rows":
        ptr = _rows(n, rng)
        nnz = int(ptr[-1])
        cols = rng.integers(0, 500, nnz).astype(np.intc)
        ratings = Ratings(n, 500, nnz, ptr, cols, rng.random(nnz) * 5.0)
        return ratings, np.zeros(n), np.zeros(nnz)
    if name == "weighted_rows":
        ptr = _rows(n, rng).astype(np.uint32)
        nnz = int(ptr[-1])
        mat = CSRMatrix32(
            rng.random(nnz).astype(np.float32), rng.integers(0, 200, nnz).astype(np.uint32), ptr, n
        )
        return mat, rng.random(200)
    return Splitter(rng.random(n), 1.5), n
