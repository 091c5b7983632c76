"""Helpers for testing kernels that use blockloop, and for blockloop's own tests.

Crashes and slow machines, made on purpose and counted, never timed:

- :class:`Ticks`: a clock that moves a fixed step per reading, so that chunk times and
  checkpoint intervals are the same on a loaded machine as on a quiet one;
- :func:`crashing_store`: a store that stands for the process dying (it raises
  :class:`Crash`) after a number of checkpoints;
- :func:`injected`: a decorated kernel run with such a clock, wall clock or store, and
  given back its own afterwards;
- process helpers, for a kernel run in a child process and stopped by a fault point
  (``BLOCKLOOP_FAULT``): :func:`wait_stopped`, :func:`kill_stopped`, :func:`finish`.

May import anything in blockloop; nothing in blockloop imports it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..storage.store import Store
from ..tools.selftest import finish, kill_stopped, wait_stopped

__all__ = [
    "Crash",
    "Ticks",
    "crashing_store",
    "finish",
    "injected",
    "kill_stopped",
    "wait_stopped",
]


class Crash(BaseException):
    """Stands for the process dying: a ``BaseException``, so nothing after it runs."""


class Ticks:
    """A clock that moves ``step`` seconds at each reading.

    Parameters
    ----------
    step : float
        Seconds added per reading. As a kernel's ``clock``, every chunk then "takes"
        ``step`` seconds (one reading before it, one after).
    """

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        self.now += self.step
        return self.now


def crashing_store(after: int, base: type[Store] = Store) -> type[Store]:
    """A store class whose saves raise :class:`Crash` once ``after`` of them succeeded.

    The count is the class's (``saves``), over every store made from it: a run and the
    calls that resume it share it.
    """

    class CrashingStore(base):  # type: ignore[valid-type,misc]
        saves = 0

        def save(self, arrays: Any, state: Any, **kw: Any) -> Any:
            CrashingStore.saves += 1
            if CrashingStore.saves > after:
                raise Crash
            return super().save(arrays, state, **kw)

    return CrashingStore


@contextlib.contextmanager
def injected(
    kernel: Any,
    *,
    clock: Callable[[], float] | None = None,
    wall_clock: Callable[[], float] | None = None,
    store: type[Store] | None = None,
) -> Iterator[Any]:
    """Run a ``@checkpointed_loop`` kernel with a test clock, wall clock or store class.

    Parameters
    ----------
    kernel
        The decorated kernel.
    clock : callable, optional
        Monotonic seconds: chunk times, write costs, the checkpoint interval.
    wall_clock : callable, optional
        Seconds since the epoch: the job's deadline.
    store : type, optional
        The :class:`~blockloop.storage.store.Store` class its runs use.

    Yields
    ------
    kernel
        The same kernel; its own clocks and store are back once the block ends.

    Examples
    --------
    >>> with injected(kernel, clock=Ticks(1.0), store=crashing_store(2)):  # doctest: +SKIP
    ...     kernel(x)  # a checkpoint after every chunk; the third one "crashes"
    """
    seams = {"_clock": clock, "_wall_clock": wall_clock, "_store_class": store}
    saved = {name: getattr(kernel, name) for name, value in seams.items() if value is not None}
    for name in saved:
        setattr(kernel, name, seams[name])
    try:
        yield kernel
    finally:
        for name, value in saved.items():
            setattr(kernel, name, value)
