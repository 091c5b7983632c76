"""Kernels in the shapes real libraries write them, each one a case that once crashed or
was refused for no reason. Plain ``@njit`` functions: the tests decorate them."""

from collections import namedtuple

import numpy as np
from numba import njit, prange

Grid = namedtuple("Grid", ["x", "w"])


@njit(parallel=True, cache=True)
def scaled_sum(x, f):
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i] * f
    x *= 2.0  # the epilogue updates the argument in place
    s *= 0.5
    return s


@njit(cache=True)
def relax_then_scale(u, steps):
    for t in range(steps):
        u[1:-1] = 0.5 * u[1:-1] + 0.25 * (u[:-2] + u[2:]) + 1e-3 * t
    u *= 2.0
    return u


@njit(parallel=True, cache=True)
def weighted_sum(grid):
    s = 0.0
    for i in prange(grid.x.shape[0]):
        s += grid.x[i] * grid.w[i]
    return s


@njit(parallel=True, cache=True)
def sum_then_moments(x, k):
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i]
    m = np.zeros(k)
    for i in range(k):  # the prange variable's name, bound again before it is read
        m[i] = s ** (i + 1)
    return m


@njit(parallel=True, cache=True)
def keyword_only(x, *, scale):
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i] * scale
    return s


@njit(parallel=True, cache=True)
def positional_only(x, y, /, z):
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i] * y[i] + z
    return s
