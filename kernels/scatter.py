"""Values scattered through a permutation into an argument: ``out[perm[i]] = v`` may land
anywhere, so blockloop saves ``out`` whole, writing only the 1 MiB blocks that changed.
``--n`` counts elements."""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop

TERMS = 96


@checkpointed_loop
@njit(parallel=True, cache=True)
def scatter(perm, out, terms):
    for i in prange(perm.shape[0]):
        x = (i + 0.5) / perm.shape[0]
        acc = 0.0
        for t in range(terms):
            acc += np.cos((t + 1) * x) / (t + 1)
        out[perm[i]] = acc


def make_args(n: int) -> tuple:
    return (np.random.default_rng(5).permutation(n), np.zeros(n), TERMS)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(scatter, make_args, 4 * 10**6, doc=__doc__))
