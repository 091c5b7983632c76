"""A compute-bound array-accumulator kernel for the kill tests: a weighted histogram of
counter-based pseudo-random values (no input arrays, so a long run costs no memory).

Run as ``python -m tests.hashed_histogram --n N`` (the kernels' common command line)."""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop
from kernels.monte_carlo_pi import uniform


@checkpointed_loop
@njit(parallel=True, cache=True)
def hashed_histogram(n, nbins):
    h = np.zeros(nbins)
    for i in prange(n):
        u = uniform(7, i)
        h[int(u * nbins)] += np.sin(u * 12.0) + 1.5
    return h


def make_args(n: int) -> tuple:
    return (n, 32)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(hashed_histogram, make_args, 10**8, doc=__doc__))
