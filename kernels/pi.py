"""pi as the midpoint integral of 4/(1+x^2) on [0, 1] — the classic HPC lecture example."""

from __future__ import annotations

import sys

from numba import njit, prange

from blockloop import checkpointed_loop


@checkpointed_loop
@njit(parallel=True, cache=True)
def pi(n):
    step = 1.0 / n
    total = 0.0
    for i in prange(n):
        x = (i + 0.5) * step
        total += 4.0 / (1.0 + x * x)
    return total * step


def make_args(n: int) -> tuple:
    return (n,)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(pi, make_args, 2 * 10**9, doc=__doc__))
