"""When to checkpoint and how long a chunk should be: Young/Daly from measured costs.

The formulas are pure functions of numbers; :class:`Policy` keeps the per-call
measurements (seconds per unit, blocking write cost) and turns them into decisions.
"""

from __future__ import annotations

import math

__all__ = ["TILES_PER_THREAD", "Policy", "daly_interval", "expected_waste", "young_interval"]


def young_interval(cost: float, mtbf: float) -> float:
    """Young's first-order optimum checkpoint interval, ``sqrt(2 * cost * mtbf)``.

    Parameters
    ----------
    cost : float
        Time to write one checkpoint (any unit).
    mtbf : float
        Mean time between failures (same unit).

    Returns
    -------
    float
        The compute time between two checkpoints, in the same unit.
    """
    _check_positive(cost=cost, mtbf=mtbf)
    return math.sqrt(2.0 * cost * mtbf)


def daly_interval(cost: float, mtbf: float) -> float:
    """Daly's higher-order optimum checkpoint interval (Daly 2006, eq. 37).

    ``sqrt(2δM) * (1 + sqrt(δ/2M)/3 + (δ/2M)/9) - δ`` for ``δ < 2M``, else ``M``.

    Parameters
    ----------
    cost : float
        Time to write one checkpoint, ``δ``.
    mtbf : float
        Mean time between failures, ``M``, in the same unit.

    Returns
    -------
    float
        The compute time between two checkpoints, in the same unit.

    Examples
    --------
    >>> round(daly_interval(5, 24 * 60), 2)   # minutes: δ = 5 min, M = 24 h
    116.69
    """
    _check_positive(cost=cost, mtbf=mtbf)
    if cost >= 2.0 * mtbf:
        return float(mtbf)
    ratio = cost / (2.0 * mtbf)
    return math.sqrt(2.0 * cost * mtbf) * (1.0 + math.sqrt(ratio) / 3.0 + ratio / 9.0) - cost


def expected_waste(interval: float, cost: float, mtbf: float, restart: float = 0.0) -> float:
    """Fraction of wall time not spent on useful work, in Daly's exponential model.

    ``1 - τ / (M e^{R/M} (e^{(τ+δ)/M} - 1))``: checkpoint writes, rework after a failure and
    restarts, with failures arriving as a Poisson process of mean ``M``.
    """
    _check_positive(interval=interval, mtbf=mtbf)
    wall_per_work = (
        mtbf * math.exp(restart / mtbf) * math.expm1((interval + cost) / mtbf) / interval
    )
    return 1.0 - 1.0 / wall_per_work


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, not {value!r}")


TILES_PER_THREAD = 4
"""Fewest tiles per thread in a chunk of a parallel loop (while the work and the partials'
memory allow)."""


class Policy:
    """Per-call measurements and the decisions drawn from them.

    Parameters
    ----------
    mtbf : float
        Mean time between failures in seconds.
    interval : float or None
        A fixed checkpoint interval in seconds; None chooses Daly's from the measured cost.
    threads : int
        Numba threads, so a chunk holds whole rounds of units (1 for units that run one
        after another, like time steps).
    max_units : int
        Upper bound on units per chunk (the memory of a reduction's per-tile partials).
    rounds : int
        Fewest units per thread in a chunk (while the remaining work and ``max_units``
        allow), however slow a unit is and however soon a checkpoint is due: with 4, a
        thread that drew the slow units of a chunk is caught up by the others.
    target : float
        Longest wanted chunk in seconds; a chunk lasts about ``min(target, interval / 10)``.
    initial_cost : float
        Assumed write cost until the first checkpoint has been measured.
    """

    SMOOTHING = 0.3
    QUICK = 0.005  # seconds: a chunk this short may follow any shorter one

    def __init__(
        self,
        mtbf: float,
        interval: float | None = None,
        threads: int = 1,
        max_units: int = 1 << 20,
        target: float = 0.2,
        initial_cost: float = 0.005,
        rounds: int = 1,
    ) -> None:
        self.mtbf = float(mtbf)
        self.fixed_interval = interval
        self.threads = max(1, int(threads))
        self.max_units = max(1, int(max_units))
        self.fewest = min(self.max_units, max(1, int(rounds)) * self.threads)
        self.target = target
        self.write_cost = initial_cost
        self.writes_measured = 0
        self.seconds_per_unit: float | None = None
        self.dispatch = 0.0
        self.since = 0.0
        self._units = self.fewest
        self._interval_of: tuple[tuple[float, float] | None, float] = (None, 0.0)

    @property
    def interval(self) -> float:
        """Seconds of compute between two checkpoints."""
        if self.fixed_interval is not None:
            return self.fixed_interval
        key = (self.write_cost, self.mtbf)  # read after every chunk: computed once per cost
        if self._interval_of[0] != key:
            self._interval_of = (key, daly_interval(self.write_cost, self.mtbf))
        return self._interval_of[1]

    @property
    def chunk_seconds(self) -> float:
        """Wanted duration of one chunk: short enough to react, long enough to amortise."""
        return max(min(self.target, self.interval / 10.0), 1000.0 * self.dispatch)

    def next_units(self, remaining: int) -> int:
        """Units (tiles or steps) in the next chunk (never more than ``remaining``)."""
        return max(1, min(self._units, remaining))

    def record_chunk(self, units: int, seconds: float) -> None:
        """Fold one chunk's timing into the speed estimate and size the next chunk.

        The next chunk is also cut short so that it ends when the next checkpoint is due:
        checkpoints come every ``interval`` seconds of compute, not at the first chunk
        boundary after it (which could be a whole chunk later when the interval is short),
        but no chunk is cut below 100 times the dispatch cost.
        """
        if units <= 0:
            return
        self.since += seconds
        rate = max(seconds, 1e-9) / units
        if self.seconds_per_unit is None:
            self.seconds_per_unit = rate
        else:
            self.seconds_per_unit += self.SMOOTHING * (rate - self.seconds_per_unit)
        wanted = int(self.chunk_seconds / self.seconds_per_unit)
        # grow at most 4x a chunk (a first chunk's speed can mislead), but straight to
        # QUICK seconds' worth: a call of a few milliseconds is not cut into many chunks
        quick = int(self.QUICK / self.seconds_per_unit)
        wanted = min(wanted, max(4 * units, quick), self.max_units)
        if wanted >= self.threads:
            wanted -= wanted % self.threads
        # a checkpoint follows this chunk when one is due, so the next is due a whole
        # interval later; 2 % over, so a chunk a little faster than measured still reaches it;
        # never cut below 100 dispatches (1 % overhead), however short the interval asked for
        left = self.interval - self.since if self.since < self.interval else self.interval
        to_due = math.ceil(max(1.02 * left, 100.0 * self.dispatch) / self.seconds_per_unit)
        to_due += -to_due % self.threads
        # the fewest units per thread, however slow a unit is: fewer leave threads idle
        self._units = max(self.fewest, min(wanted, to_due))

    def checkpointed(self) -> None:
        """Start counting compute toward the next checkpoint from zero."""
        self.since = 0.0

    def record_write(self, seconds: float) -> None:
        """Fold one checkpoint's blocking write time into the cost estimate."""
        seconds = max(seconds, 1e-6)
        if self.writes_measured == 0:
            self.write_cost = seconds
        else:
            self.write_cost += self.SMOOTHING * (seconds - self.write_cost)
        self.writes_measured += 1

    def due(self) -> bool:
        """True once the compute recorded since :meth:`checkpointed` reaches the interval."""
        return self.since >= self.interval
