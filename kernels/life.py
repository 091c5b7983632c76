"""Conway's Game of Life on a large periodic grid of 0/1 cells (uint8), stepped in place.

A sequential loop over generations, each a numba-parallel sweep over rows; the state is
the grid and its partner buffer.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop


@checkpointed_loop
@njit(parallel=True, cache=True)
def life(grid, steps):
    rows, cols = grid.shape
    nxt = np.empty_like(grid)
    for _step in range(steps):
        for i in prange(rows):
            up = (i - 1) % rows
            down = (i + 1) % rows
            for j in range(cols):
                left = (j - 1) % cols
                right = (j + 1) % cols
                s = (
                    grid[up, left]
                    + grid[up, j]
                    + grid[up, right]
                    + grid[i, left]
                    + grid[i, right]
                    + grid[down, left]
                    + grid[down, j]
                    + grid[down, right]
                )
                nxt[i, j] = 1 if s == 3 or (s == 2 and grid[i, j] == 1) else 0
        grid, nxt = nxt, grid
    return grid


def make_args(n: int, size: int = 1024) -> tuple:
    """``n`` generations of a ``size`` x ``size`` grid, 30 % alive, seeded."""
    grid = (np.random.default_rng(11).random((size, size)) < 0.3).astype(np.uint8)
    return (grid, n)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(life, make_args, 2000, doc=__doc__, size=1024))
