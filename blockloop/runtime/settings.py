"""A call's resolved settings, and the MTBF refined from the run's own history."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..scheduling.signals import SignalWatch
from ..storage.manifest import Identity, Session
from ..storage.store import Store

__all__ = ["RunSettings", "refine_mtbf"]


@dataclass(frozen=True)
class RunSettings:
    """Resolved per-call settings (decorator options and environment).

    Attributes
    ----------
    store : callable
        Makes the run's :class:`~blockloop.storage.store.Store` for its identity.
    mtbf : float
        Mean time between failures, seconds.
    interval : float or None
        A fixed checkpoint interval; None for Daly's.
    progress : bool
        Show a progress bar.
    exit_code : int
        Exit code after a scheduler signal or the deadline.
    signals : tuple of int
        Signals that stop the run after a checkpoint.
    clock, wall_clock : callable
        Seconds for measuring compute (monotonic) and epoch seconds for the deadline; tests
        inject their own.
    deadline : float or None
        Epoch seconds by which the process must have exited.
    copy_budget : int or None
        Bytes an interval checkpoint may copy to be written in the background; None for
        max(64 MiB, 10 % of the state).
    watch : SignalWatch or None
        The signal watch of the whole call (compiling included), which every loop's stops
        share; None: each loop watches from its first chunk.
    gather : str
        Over MPI ranks, which ranks receive every rank's rows at the end: ``"all"``,
        ``"root"`` or ``"own"`` (none).
    """

    store: Callable[[Identity], Store]
    mtbf: float
    interval: float | None
    progress: bool
    exit_code: int
    signals: tuple[int, ...]
    clock: Callable[[], float] = time.perf_counter
    deadline: float | None = None
    wall_clock: Callable[[], float] = time.time
    copy_budget: int | None = None
    watch: SignalWatch | None = None
    gather: str = "all"


def refine_mtbf(prior: float, sessions: Sequence[Session | dict]) -> float:
    """The MTBF in force after this run's own history of sessions.

    A session whose newest checkpoint was an interval checkpoint ended without a signal
    or completion: a failure. With ``k`` failures over ``T`` seconds of recorded exposure,
    the estimate is ``(prior + T) / (1 + k)`` (the prior counts as one failure-free
    observation); with no failure the prior stands.
    """
    history = [s if isinstance(s, Session) else Session.from_json(s) for s in sessions]
    failures = sum(1 for s in history if s.end == "interval")
    if failures == 0:
        return prior
    exposure = sum(max(0.0, s.last - s.start) for s in history)
    return (prior + exposure) / (1 + failures)
