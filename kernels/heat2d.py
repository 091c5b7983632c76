"""The explicit 2-D heat equation on a square plate: a sequential time loop whose state
is two large arrays, each step a numba-parallel sweep.

``u`` is updated in place (with its partner buffer swapped every step), so after the call
the caller's array holds what an uninterrupted run leaves in it, also after a resume.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop


@checkpointed_loop
@njit(parallel=True, cache=True)
def heat2d(u, steps, alpha):
    v = u.copy()
    for _step in range(steps):
        for i in prange(1, u.shape[0] - 1):
            for j in range(1, u.shape[1] - 1):
                v[i, j] = u[i, j] + alpha * (
                    u[i + 1, j] + u[i - 1, j] + u[i, j + 1] + u[i, j - 1] - 4.0 * u[i, j]
                )
        u, v = v, u
    return u


def make_args(n: int, size: int = 1024) -> tuple:
    """``n`` steps on a ``size`` x ``size`` plate: a hot square in a cold plate, a warm edge."""
    u = np.zeros((size, size))
    u[size // 4 : size // 2, size // 3 : 2 * size // 3] = 100.0
    u[0, :] = 25.0
    return (u, n, 0.2)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(heat2d, make_args, 2000, doc=__doc__, size=1024))
