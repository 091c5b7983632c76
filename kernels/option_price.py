"""A European call priced by Monte Carlo: one normal draw per path from
:mod:`blockloop.random`, so the price has the same bits for any thread count and any
number of interruptions. ``--n`` counts paths; Black-Scholes gives 7.1281 for the
defaults."""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop
from blockloop.random import key, normal


@checkpointed_loop
@njit(parallel=True, cache=True)
def option_price(n, seed, spot, strike, rate, sigma, years):
    k = key(seed, 0)
    drift = (rate - 0.5 * sigma * sigma) * years
    spread = sigma * np.sqrt(years)
    payoff = 0.0
    for i in prange(n):
        s = spot * np.exp(drift + spread * normal(k, i))
        payoff += max(s - strike, 0.0)
    return np.exp(-rate * years) * payoff / n


def make_args(n: int) -> tuple:
    return (n, 7, 100.0, 105.0, 0.03, 0.2, 1.0)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(option_price, make_args, 10**8, doc=__doc__))
