"""Monte Carlo pi with counter-based random numbers.

Iteration ``i`` draws its point (both coordinates from one Philox4x32-10 block) with
counter ``i`` from :mod:`blockloop.random`, so the estimate depends on neither the thread
count, nor how the work is cut into chunks, nor how often the run was interrupted.
"""

from __future__ import annotations

import sys

from numba import njit, prange

from blockloop import checkpointed_loop
from blockloop.random import key, uniform2


@checkpointed_loop
@njit(parallel=True, cache=True)
def monte_carlo_pi(n, seed):
    k = key(seed, 0)
    inside = 0
    for i in prange(n):
        x, y = uniform2(k, i)
        if x * x + y * y < 1.0:
            inside += 1
    return 4.0 * inside / n


def make_args(n: int) -> tuple:
    return (n, 2024)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(monte_carlo_pi, make_args, 10**9, doc=__doc__))
