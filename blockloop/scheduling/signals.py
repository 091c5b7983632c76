"""Signals only set a flag: numba chunks cannot be interrupted, the driver checks between them."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable

__all__ = ["DEFAULT_SIGNALS", "SignalWatch", "signal_name"]

DEFAULT_SIGNALS: tuple[int, ...] = tuple(
    int(getattr(signal, name))
    for name in ("SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15, and so on."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class SignalWatch:
    """Context manager that records the first of ``signals`` received while it is active.

    Handlers are installed only in the main thread (Python allows no other); the previous
    handlers are restored on exit, also after an exception.
    """

    def __init__(self, signals: Iterable[int] = DEFAULT_SIGNALS) -> None:
        self.signals = tuple(signals)
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handler(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum

    def __enter__(self) -> SignalWatch:
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()
