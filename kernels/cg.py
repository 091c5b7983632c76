"""Conjugate gradients for the 2-D Poisson equation with a matrix-free 5-point operator:
dot products and norms inside every step, and a ``while`` loop on the residual.

The first loop (the right-hand side's norm) is one phase, the iterations another. The
in-step reductions use blockloop's fixed tiles and pairwise fold, so the residuals, the
iteration count and the answer have the same bits for any thread count; plain numba's
``prange`` sums do not.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop


@checkpointed_loop(mtbf="4h")
@njit(parallel=True, cache=True)
def cg(b, tol, maxit):
    m = b.shape[0]
    x = np.zeros_like(b)
    r = b.copy()
    p = b.copy()
    ap = np.zeros_like(b)
    rr = 0.0
    for i in prange(m):
        for j in range(m):
            rr += r[i, j] * r[i, j]
    stop = tol * tol * rr
    it = 0
    while rr > stop and it < maxit:
        pap = 0.0
        for i in prange(m):
            for j in range(m):
                v = 4.0 * p[i, j]
                if i > 0:
                    v -= p[i - 1, j]
                if i < m - 1:
                    v -= p[i + 1, j]
                if j > 0:
                    v -= p[i, j - 1]
                if j < m - 1:
                    v -= p[i, j + 1]
                ap[i, j] = v
                pap += p[i, j] * v
        alpha = rr / pap
        rr_new = 0.0
        for i in prange(m):
            for j in range(m):
                x[i, j] += alpha * p[i, j]
                r[i, j] -= alpha * ap[i, j]
                rr_new += r[i, j] * r[i, j]
        beta = rr_new / rr
        for i in prange(m):
            for j in range(m):
                p[i, j] = r[i, j] + beta * p[i, j]
        rr = rr_new
        it += 1
    return x, it


def make_args(n: int, size: int = 256) -> tuple:
    """At most ``n`` iterations on a ``size`` x ``size`` grid, relative tolerance 1e-10,
    an uneven right-hand side (reached in about 700 iterations at the default size)."""
    rng = np.random.default_rng(7)
    b = rng.standard_normal((size, size))
    return (b, 1e-10, n)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(cg, make_args, 100_000, doc=__doc__, size=256))
