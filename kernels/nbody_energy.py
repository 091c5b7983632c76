"""Potential energy of N point masses: a pairwise sum with a nested loop in the body."""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop


@checkpointed_loop
@njit(parallel=True, cache=True)
def nbody_energy(pos, mass, soft):
    n = pos.shape[0]
    energy = 0.0
    for i in prange(n):
        for j in range(i + 1, n):
            dx = pos[i, 0] - pos[j, 0]
            dy = pos[i, 1] - pos[j, 1]
            dz = pos[i, 2] - pos[j, 2]
            energy -= mass[i] * mass[j] / np.sqrt(dx * dx + dy * dy + dz * dz + soft)
    return energy


def make_args(n: int) -> tuple:
    rng = np.random.default_rng(11)
    return (rng.standard_normal((n, 3)), rng.random(n) + 0.5, 1e-3)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(nbody_energy, make_args, 20000, doc=__doc__))
