"""A weighted histogram: indexed float updates ``h[k] += w[i]``.

Plain numba ``prange`` races on ``h[k]`` and loses updates; blockloop gives every tile a
private histogram and folds them in a fixed order, so the result is exact and repeatable.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop


@checkpointed_loop
@njit(parallel=True, cache=True)
def histogram(x, w, nbins, lo, hi):
    h = np.zeros(nbins)
    scale = nbins / (hi - lo)
    for i in prange(x.shape[0]):
        t = (x[i] - lo) * scale
        if t >= 0.0 and t < nbins:
            h[int(t)] += w[i]
    return h


def make_args(n: int, nbins: int = 64) -> tuple:
    rng = np.random.default_rng(7)
    x = rng.standard_normal(n)
    w = rng.random(n)
    return (x, w, nbins, -4.0, 4.0)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(histogram, make_args, 10**7, doc=__doc__))
