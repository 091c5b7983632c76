"""``blockloop demo``: the headline example, shipped with the package.

pi as the midpoint integral of 4/(1+x^2) on [0, 1], a ``prange`` reduction. Interrupt it
(Ctrl-C, or ``--stop-after 10``) and run the same command again: it resumes from the
checkpoint and prints the bits an uninterrupted run gives.

    blockloop demo --stop-after 10; blockloop demo
    blockloop demo --fresh          # start again instead of resuming
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from numba import njit, prange

from ..decorator import checkpointed_loop

__all__ = ["main", "pi"]


@checkpointed_loop
@njit(parallel=True, cache=True)
def pi(n: int) -> float:
    step = 1.0 / n
    total = 0.0
    for i in prange(n):
        x = (i + 0.5) * step
        total += 4.0 / (1.0 + x * x)
    return total * step


def make_args(n: int) -> tuple:
    """The kernel's arguments for ``--n``."""
    return (n,)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo with the example kernels' options (``blockloop demo --help``)."""
    from .example import main as run

    return run(pi, make_args, 2 * 10**10, argv, doc=__doc__, prog="blockloop demo")


if __name__ == "__main__":
    sys.exit(main())
