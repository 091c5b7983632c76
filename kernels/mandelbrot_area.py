"""Area of the Mandelbrot set by counting grid points that do not escape.

Work per iteration is very uneven (1 to ``maxiter`` steps), the count is an integer.
"""

from __future__ import annotations

import math
import sys

from numba import njit, prange

from blockloop import checkpointed_loop


@njit(cache=True)
def escapes(cr, ci, maxiter):
    zr = 0.0
    zi = 0.0
    for _ in range(maxiter):
        zr2 = zr * zr
        zi2 = zi * zi
        if zr2 + zi2 > 4.0:
            return True
        zi = 2.0 * zr * zi + ci
        zr = zr2 - zi2 + cr
    return False


@checkpointed_loop
@njit(parallel=True, cache=True)
def mandelbrot_area(side, maxiter):
    dx = 3.0 / side
    dy = 1.5 / side
    inside = 0
    for p in prange(side * side):
        cr = -2.0 + (p % side + 0.5) * dx
        ci = (p // side + 0.5) * dy
        if not escapes(cr, ci, maxiter):
            inside += 1
    return 2.0 * inside * dx * dy


def make_args(n: int) -> tuple:
    return (max(1, math.isqrt(n)), 500)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(mandelbrot_area, make_args, 4 * 10**6, doc=__doc__))
