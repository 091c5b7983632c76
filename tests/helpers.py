"""Helpers shared by several test modules: a kernel with swapped state and its input.

Test clocks, crashing stores and the seams to inject them are in ``blockloop.testing``."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["fresh", "swap_kernel"]


@njit(parallel=True, cache=True)
def swap_kernel(u, steps):
    v = np.zeros_like(u)
    total = 0.0
    for t in range(steps):
        for i in prange(1, u.shape[0] - 1):
            v[i] = 0.25 * u[i - 1] + 0.5 * u[i] + 0.25 * u[i + 1] + 1e-3 * t
        u, v = v, u
        total += u[u.shape[0] // 2]
    return u, total


def fresh() -> np.ndarray:
    return np.sin(np.linspace(0.0, 7.0, 257))
