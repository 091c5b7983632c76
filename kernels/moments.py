"""Mean and variance in two passes: two prange reductions, the second using the first's
result. Each loop is a phase; a resume in the second never runs the first again."""

from __future__ import annotations

import sys

from numba import njit, prange

from blockloop import checkpointed_loop
from blockloop.random import key, normal


@checkpointed_loop
@njit(parallel=True, cache=True)
def moments(n, seed):
    k = key(seed, 0)
    s = 0.0
    for i in prange(n):
        s += normal(k, i)
    mean = s / n
    q = 0.0
    for i in prange(n):
        q += (normal(k, i) - mean) ** 2
    return mean, q / n


def make_args(n: int) -> tuple:
    """``n`` standard normal numbers drawn from counter-based streams (no input array)."""
    return (n, 2026)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(moments, make_args, 10**9, doc=__doc__))
