"""A compute-bound array-accumulator kernel for the kill tests: a weighted histogram of
counter-based pseudo-random values (no input arrays, so a long run costs no memory).

Run as ``python -m tests.hashed_histogram --n N`` (the kernels' common command line)."""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True)
def uniform(seed, counter):
    """A double in [0, 1) from SplitMix64's finaliser of (seed, counter): cheaper than
    blockloop.random's Philox, which is all a test kernel needs."""
    z = np.uint64(seed) * _GAMMA + np.uint64(counter)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


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
