"""Why a run stops or checkpoints, and the one object that watches signals and the deadline."""

from __future__ import annotations

import enum
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .._errors import Interrupted
from ..report import Report
from ..scheduling.signals import SignalWatch, signal_name

__all__ = ["COMPLETION", "INTERVAL", "Stop", "StopReason", "Stops"]


class StopReason(enum.Enum):
    """Why a checkpoint is written; the value is what the manifest's ``reason`` says."""

    INTERVAL = "interval"
    COMPLETION = "complete"
    SIGNAL = "signal"
    DEADLINE = "deadline"


@dataclass(frozen=True)
class Stop:
    """Why a checkpoint is written: its reason and, for a signal, the signal's number.

    A signal or the deadline also stops the run before its loop is done; the interval and
    the completion (:data:`INTERVAL`, :data:`COMPLETION`) do not.
    """

    reason: StopReason
    signum: int | None = None

    @property
    def forced(self) -> bool:
        """Whether the process is about to end or return: anything but an interval."""
        return self.reason is not StopReason.INTERVAL

    @property
    def ends_process(self) -> bool:
        """A signal or the deadline: a failed checkpoint cannot be tried again later."""
        return self.reason in (StopReason.SIGNAL, StopReason.DEADLINE)

    @property
    def what(self) -> str:
        """``deadline`` or the signal's name (``SIGTERM``), for the report."""
        if self.reason is StopReason.DEADLINE:
            return "deadline"
        return signal_name(self.signum or 0)

    @property
    def label(self) -> str:
        """What the manifest and the report say: ``interval``, ``complete``, ``deadline``
        or ``signal SIGTERM``."""
        if self.reason is StopReason.SIGNAL:
            return f"signal {self.what}"
        return self.reason.value

    @property
    def cause(self) -> str:
        """For messages: ``the deadline is near`` or ``SIGTERM received``."""
        if self.reason is StopReason.DEADLINE:
            return "the deadline is near"
        return f"{self.what} received"

    def exception(
        self, exit_code: int, unit: int, run_dir: str, name: str = "tile", total: str = "?"
    ) -> BaseException:
        """What the call raises once the checkpoint is durable: it says where the
        checkpoint is and how to continue (a script's user sees nothing else)."""
        where = f"checkpoint saved at {name} {unit} of {total} in {run_dir}"
        if self.signum == signal.SIGINT:
            return KeyboardInterrupt(f"{where}; call again to continue")
        return Interrupted(exit_code, self.signum, unit, run_dir, name=name, total=total)

    def nothing_saved(self, exit_code: int, label: str) -> BaseException:
        """What the call raises when the signal came before a new run's first chunk
        (while numba compiled): there is nothing to save, and the message says so."""
        if self.signum == signal.SIGINT:
            return KeyboardInterrupt(
                f"{label}: interrupted before the loop began (while compiling): nothing was "
                "saved; call again to start"
            )
        return Interrupted(exit_code, self.signum, 0, "", saved=False)

    def after_completion(self, exit_code: int, report: Report) -> BaseException:
        """What the call raises when the signal came as the run completed (in its last
        chunk, or while its epilogue compiled): the run is recorded complete, so the next
        call returns its result at once."""
        if self.signum != signal.SIGINT:  # a checkpoint at the end: Interrupted says so
            total = report.units_total
            return self.exception(exit_code, total, report.run_dir, report.unit, str(total))
        return KeyboardInterrupt(
            f"{report.kernel}: complete, saved in {report.run_dir}; interrupted as it ended: "
            "call again to get the result at once"
        )

    def encode(self) -> tuple[int, int]:
        """Two integers whose element-wise maximum over ranks is the stop all agree on
        (a signal over the deadline); ``(0, 0)`` for no stop."""
        code = 2 if self.reason is StopReason.SIGNAL else 1
        return code, self.signum or 0

    @staticmethod
    def decode(code: int, signum: int) -> Stop | None:
        if code == 0:
            return None
        if code == 1:
            return Stop(StopReason.DEADLINE)
        return Stop(StopReason.SIGNAL, signum)


INTERVAL = Stop(StopReason.INTERVAL)
"""An interval checkpoint: the run goes on."""
COMPLETION = Stop(StopReason.COMPLETION)
"""The record of a completed run."""


class Stops:
    """Signals received and the deadline, asked once per chunk.

    A context manager: the signal handlers are installed for its duration only.

    Parameters
    ----------
    signals : iterable of int
        Signals that stop the run.
    deadline : float or None
        Epoch seconds by which the process must have exited.
    wall_clock : callable
        Epoch seconds now.
    watch : SignalWatch, optional
        A watch already installed for the whole call, to share; else one of its own.
    """

    def __init__(
        self,
        signals: Iterable[int],
        deadline: float | None,
        wall_clock: Callable[[], float],
        watch: SignalWatch | None = None,
    ) -> None:
        self.watch = watch if watch is not None else SignalWatch(signals)
        self.deadline = deadline
        self.wall_clock = wall_clock

    def __enter__(self) -> Stops:
        self.watch.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.watch.__exit__(*exc)

    def check(self, margin: float) -> Stop | None:
        """A signal received so far, else the deadline if it is less than ``margin``
        seconds away, else None."""
        if self.watch.received is not None:
            return Stop(StopReason.SIGNAL, self.watch.received)
        if self.deadline is not None and self.wall_clock() + margin >= self.deadline:
            return Stop(StopReason.DEADLINE)
        return None
