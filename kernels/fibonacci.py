"""Fibonacci modulo a prime, by stepping ``(a, b) -> (b, a + b)`` n times.

The classic HPC checkpointing lecture's second example, at scale: the state is two
numbers and the position, and a sequential loop cannot be split across threads, so a
long run must be checkpointed between steps.
"""

from __future__ import annotations

import sys

from numba import njit

from blockloop import checkpointed_loop

PRIME = 1_000_000_007


@checkpointed_loop
@njit(cache=True)
def fibonacci(n, p):
    a, b = 0, 1
    for _step in range(n):
        a, b = b, (a + b) % p
    return a


def make_args(n: int) -> tuple:
    return (n, PRIME)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(fibonacci, make_args, 10**9, doc=__doc__))
