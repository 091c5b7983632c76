"""Jacobi iterations for the Poisson equation on a square grid, run until the largest
change of a sweep falls below ``tol`` (a convergence loop).

Each step is a parallel sweep and a parallel max-reduction of the change; blockloop
checkpoints between steps, folds the reduction over fixed tiles, and stops at the step an
uninterrupted run stops at, whatever the thread count.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop


@checkpointed_loop(mtbf="4h")
@njit(parallel=True, cache=True)
def jacobi(u, f, h2, tol, maxit):
    v = u.copy()
    err = np.inf
    it = 0
    while err > tol and it < maxit:
        for i in prange(1, u.shape[0] - 1):
            for j in range(1, u.shape[1] - 1):
                v[i, j] = 0.25 * (
                    u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1] - h2 * f[i, j]
                )
        err = 0.0
        for i in prange(1, u.shape[0] - 1):
            for j in range(1, u.shape[1] - 1):
                err = max(err, abs(v[i, j] - u[i, j]))
        u, v = v, u
        it += 1
    return u, it


def make_args(n: int, size: int = 256) -> tuple:
    """At most ``n`` sweeps on a ``size`` x ``size`` grid: a hot edge, a point source;
    ``tol`` is reached after about 5,000 sweeps at the default size."""
    u = np.zeros((size, size))
    u[0, :] = 1.0
    f = np.zeros((size, size))
    f[size // 2, size // 3] = -1.0
    h2 = (1.0 / (size - 1)) ** 2
    return (u, f, h2, 2e-6, n)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(jacobi, make_args, 100_000, doc=__doc__, size=256))
