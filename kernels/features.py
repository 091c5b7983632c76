"""Polynomial-trigonometric features of each row: a map loop (each iteration fills its own
row of a new array) beside a reduction. ``--n`` counts rows; the output is ``8 n``
doubles (``--n 4e6`` is 256 MiB)."""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop

WIDTH = 8
TERMS = 24


@checkpointed_loop
@njit(parallel=True, cache=True)
def features(n, width, terms):
    f = np.empty((n, width))
    total = 0.0
    for i in prange(n):
        x = (i + 0.5) / n
        for m in range(width):
            acc = 0.0
            for t in range(terms):
                acc += np.sin((m + 1) * (t + 1) * x) / (t + 1)
            f[i, m] = acc
        total += f[i, width - 1]
    return f, total


def make_args(n: int) -> tuple:
    return (n, WIDTH, TERMS)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(features, make_args, 4 * 10**6, doc=__doc__))
