"""Exceptions and warnings raised by blockloop."""

from __future__ import annotations

import os
import signal as _signal
import sys
import warnings

__all__ = ["BlockingError", "CheckpointError", "CheckpointWarning", "Interrupted", "warn"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class BlockingError(SyntaxError):
    """A kernel that blockloop cannot cut into checkpointable chunks.

    Raised when the decorator is applied, or at the first call for what only the
    argument values reveal (an update that writes a row of a 2-D argument, a carried
    value that is not an array or a number), before any work is done or saved: blockloop
    refuses a kernel rather than run it unblocked. It is a :class:`SyntaxError`, so
    tracebacks and IDEs point at the user's own file, line and column; the message says
    what to change. Raised by blockloop, not constructed directly.
    """

    def __init__(
        self,
        reason: str,
        filename: str | None = None,
        lineno: int | None = None,
        col: int | None = None,
        text: str | None = None,
    ) -> None:
        super().__init__(reason, (filename, lineno, None if col is None else col + 1, text))
        self.reason = reason


class CheckpointError(RuntimeError):
    """A run's checkpoints cannot be read or written (locked, unwritable, inconsistent)."""


class CheckpointWarning(UserWarning):
    """A checkpoint file was skipped (corrupt, truncated, other versions); the run goes on."""


class Interrupted(SystemExit):
    """A scheduler signal or the deadline stopped the run after a durable checkpoint.

    A subclass of :class:`SystemExit` whose ``code`` is the configured exit code (85 by
    default, HTCondor's "checkpointed, run me again" convention), so a script exits with
    that code and a job script can requeue it. ``signal`` (None for the deadline), ``unit``
    (the tile or step reached; also readable as ``tile``) and ``run_dir`` say what happened
    and where the progress is; ``saved`` is False when the signal came before the loop's
    first chunk of a new run (while compiling), so that nothing was saved. Raised by
    blockloop, not constructed directly.
    """

    def __init__(
        self,
        code: int,
        signal: int | None,
        unit: int,
        run_dir: str,
        *,
        name: str = "tile",
        total: str = "?",
        saved: bool = True,
    ) -> None:
        super().__init__(code)
        self.saved = saved
        self.signal = signal
        self.unit = unit
        self.run_dir = run_dir
        self.name = name
        self.total = total

    @property
    def tile(self) -> int:
        """The unit reached (the name from when every unit was a tile)."""
        return self.unit

    def __str__(self) -> str:
        if self.signal is None:
            cause = "the deadline"
        else:
            try:
                cause = _signal.Signals(self.signal).name
            except ValueError:
                cause = f"signal {self.signal}"
        if not self.saved:
            return (
                f"stopped by {cause} before the loop began (while compiling): nothing was "
                f"saved; run again to start (exit code {self.code})"
            )
        return (
            f"stopped by {cause}: checkpoint saved at {self.name} {self.unit} of {self.total} "
            f"in {self.run_dir}; run again to continue (exit code {self.code})"
        )


def warn(message: str, category: type[Warning]) -> None:
    """Issue a warning attributed to the first caller outside blockloop (the user's call)."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)
