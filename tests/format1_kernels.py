"""Kernels whose checkpoints, written by blockloop 0.1.0 (manifest format 1), are kept in
tests/fixtures/format1/: a later blockloop must resume them. Do not edit these kernels or
their arguments: the run key is a hash of their source and arguments."""

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def f1_sum(x):
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i] * x[i]
    return s


@njit(parallel=True, cache=True)
def f1_steps(u, steps):
    v = np.zeros_like(u)
    for t in range(steps):
        for i in prange(1, u.shape[0] - 1):
            v[i] = 0.5 * u[i] + 0.25 * (u[i - 1] + u[i + 1]) + 1e-3 * t
        u, v = v, u
    return u


def sum_args():
    return (np.sin(np.arange(1 << 20) * 0.001),)


def steps_args():
    return (np.cos(np.linspace(0.0, 5.0, 257)), 40)
