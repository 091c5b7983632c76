"""A discrete-event simulation of a checkpointed run with Poisson failures, and Daly's model.

The run needs ``work`` seconds of compute, cut into segments of ``interval`` seconds each
followed by a checkpoint of ``cost`` seconds. Failures arrive as a Poisson process with
mean ``mtbf``, at any moment: while computing, while checkpointing, while restarting. A
failure loses the segment in progress; the run then restarts (``restart`` seconds, which
a failure may interrupt too) and repeats the segment. For these semantics the expected
wall time is exactly Daly's

    T_w(tau) = M * exp(R / M) * (exp((tau + delta) / M) - 1) * T_s / tau

when ``T_s / tau`` is a whole number (:func:`expected_wall_time`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["expected_wall_time", "simulate"]


def expected_wall_time(
    work: float, interval: float, cost: float, mtbf: float, restart: float = 0.0
) -> float:
    """Daly's expected wall time of a run of ``work`` seconds (see the module docstring)."""
    segments = work / interval
    return mtbf * math.exp(restart / mtbf) * math.expm1((interval + cost) / mtbf) * segments


def simulate(
    work: float,
    interval: float,
    cost: float,
    mtbf: float,
    restart: float = 0.0,
    runs: int = 10_000,
    seed: int = 0,
) -> np.ndarray:
    """Wall times of ``runs`` independent simulated runs.

    Parameters
    ----------
    work : float
        Seconds of compute the run needs; cut into ``ceil(work / interval)`` segments (the
        last one shorter when ``interval`` does not divide ``work``).
    interval, cost, mtbf, restart : float
        Checkpoint interval, checkpoint cost, mean time between failures and restart cost,
        in seconds.
    runs : int
        Number of simulated runs.
    seed : int
        Seed of the failure times (the result is a pure function of the arguments).

    Returns
    -------
    numpy.ndarray
        Wall time of each run, in seconds.
    """
    if min(work, interval, mtbf) <= 0 or min(cost, restart) < 0:
        raise ValueError("work, interval and mtbf must be positive; cost and restart >= 0")
    rng = np.random.default_rng(seed)
    full, rest = divmod(work, interval)
    lengths = [interval + cost] * int(full)
    if rest > 1e-12 * interval:
        lengths.append(rest + cost)
    total = np.zeros(runs)
    for length in lengths:
        total += _segment(rng, length, mtbf, restart, runs)
    return total


def _segment(
    rng: np.random.Generator, length: float, mtbf: float, restart: float, runs: int
) -> np.ndarray:
    """Time to get through one segment of ``length`` failure-free seconds, for each run."""
    time = np.zeros(runs)
    pending = np.arange(runs)
    while pending.size:
        x = rng.exponential(mtbf, pending.size)
        done = x >= length
        time[pending[done]] += length
        failed = pending[~done]
        time[failed] += x[~done]
        # restart; a failure during the restart starts the restart again
        waiting = failed
        while waiting.size and restart > 0:
            y = rng.exponential(mtbf, waiting.size)
            ok = y >= restart
            time[waiting[ok]] += restart
            time[waiting[~ok]] += y[~ok]
            waiting = waiting[~ok]
        pending = failed
    return time
