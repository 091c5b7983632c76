"""Dot product of two large arrays: memory-bound, one multiply-add per 16 bytes."""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop


@checkpointed_loop
@njit(parallel=True, cache=True)
def dot(a, b):
    s = 0.0
    for i in prange(a.shape[0]):
        s += a[i] * b[i]
    return s


def make_args(n: int) -> tuple:
    rng = np.random.default_rng(3)
    return (rng.random(n), rng.random(n))


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(dot, make_args, 5 * 10**7, doc=__doc__))
