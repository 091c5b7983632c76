"""Signals only set a flag: numba chunks cannot be interrupted, the driver checks between them."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable

__all__ = ["DEFAULT_SIGNALS", "SignalWatch", "parse_signals", "signal_name"]

DEFAULT_SIGNALS: tuple[int, ...] = tuple(
    int(getattr(signal, name))
    for name in ("SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)


_UNCATCHABLE = {int(getattr(signal, n)) for n in ("SIGKILL", "SIGSTOP") if hasattr(signal, n)}


def parse_signals(given: object) -> tuple[int, ...]:
    """The ``signals=`` option as signal numbers: numbers, ``signal.SIGTERM`` or names
    (``"SIGTERM"``, ``"TERM"``).

    Raises
    ------
    TypeError
        For something that is not an iterable of signals.
    ValueError
        For an unknown signal, or one no handler can catch (SIGKILL, SIGSTOP).
    """
    if isinstance(given, (str, bytes, int)) or not hasattr(given, "__iter__"):
        raise TypeError(
            f"signals must be an iterable of signals, such as (signal.SIGTERM, 'SIGUSR1'), "
            f"not {given!r}"
        )
    out = []
    for item in given:
        if isinstance(item, str):
            name = item.upper() if item.upper().startswith("SIG") else f"SIG{item.upper()}"
            if not isinstance(getattr(signal, name, None), signal.Signals):
                raise ValueError(f"signals: {item!r} is not a signal name on this system")
            number = int(getattr(signal, name))
        elif isinstance(item, int) and not isinstance(item, bool):
            number = int(item)
            try:
                signal.Signals(number)
            except ValueError:
                raise ValueError(f"signals: {item!r} is not a signal number") from None
        else:
            raise TypeError(f"signals: {item!r} is neither a signal number nor a name")
        if number in _UNCATCHABLE:
            raise ValueError(
                f"signals: {signal_name(number)} cannot be caught by any process, so a run "
                "cannot checkpoint on it; use SIGTERM, SIGINT, SIGUSR1 or SIGUSR2"
            )
        out.append(number)
    return tuple(out)


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15, and so on."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class SignalWatch:
    """Context manager that records the first of ``signals`` received while it is active.

    Handlers are installed only in the main thread (Python allows no other); the previous
    handlers are restored on exit, also after an exception. Entered again while active (a
    call's whole duration, and inside it each loop's), it stays installed until the
    outermost exit.
    """

    def __init__(self, signals: Iterable[int] = DEFAULT_SIGNALS) -> None:
        self.signals = tuple(signals)
        self.received: int | None = None
        self._previous: dict[int, object] = {}
        self._depth = 0

    def _handler(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum

    def __enter__(self) -> SignalWatch:
        self._depth += 1
        if self._depth == 1 and threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()
