"""Monte Carlo pi with counter-based random numbers.

Each iteration draws its point from a hash of (seed, i) — SplitMix64's finaliser — so the
estimate depends on neither the thread count nor how the work is cut into chunks.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INV53 = 1.0 / 9007199254740992.0


@njit(cache=True)
def mix64(z):
    """SplitMix64's output function: a bijective, well-mixed hash of a uint64."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def uniform(seed, counter):
    """A double in [0, 1) determined by (seed, counter) alone."""
    bits = mix64(np.uint64(seed) * _GAMMA + np.uint64(counter))
    return np.float64(bits >> np.uint64(11)) * _INV53


@checkpointed_loop
@njit(parallel=True, cache=True)
def monte_carlo_pi(n, seed):
    inside = 0
    for i in prange(n):
        x = uniform(seed, 2 * i)
        y = uniform(seed, 2 * i + 1)
        if x * x + y * y < 1.0:
            inside += 1
    return 4.0 * inside / n


def make_args(n: int) -> tuple:
    return (n, 2024)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(monte_carlo_pi, make_args, 10**9, doc=__doc__))
