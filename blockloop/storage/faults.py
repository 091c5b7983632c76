"""Fault injection at the steps of a checkpoint commit, from ``BLOCKLOOP_FAULT``.

A documented hook, not test-only code: ``blockloop selftest`` and the test suite use it to
kill, stop or starve a real process at an exact point of the commit protocol.
"""

from __future__ import annotations

import errno
import os
import signal

from .. import config

__all__ = ["STEPS", "check", "fault"]

STEPS = (
    "npz-written",
    "npz-synced",
    "npz-renamed",
    "json-written",
    "json-synced",
    "json-renamed",
    "dir-synced",
    "retire",
)
_fault_counts: dict[str, int] = {}


ACTIONS = ("", "stop", "enospc", "notify")


def _parse(point: str) -> tuple[str, str, int, bool]:
    """``[ACTION:]STEP[@N[+]]`` as (action, step, n, from n on).

    Raises
    ------
    ValueError
        For an unknown action or step, or an N that is not a positive integer.
    """
    action, _, target = point.rpartition(":")
    name, at, nth = target.partition("@")
    onwards = nth.endswith("+")
    nth = nth.removesuffix("+")
    if action not in ACTIONS or name not in STEPS or (at and not nth.isdigit()) or nth == "0":
        raise ValueError(
            f"BLOCKLOOP_FAULT={point!r} is not [ACTION:]STEP[@N[+]]; actions: stop, enospc, "
            f"notify (none: exit); steps: {', '.join(STEPS)}. Unset it to run normally"
        )
    return action, name, int(nth) if nth else 1, onwards


def check() -> None:
    """Refuse a malformed ``BLOCKLOOP_FAULT`` before a call starts, not mid-commit."""
    point = config.fault_point()
    if point is not None:
        _parse(point)


def fault(step: str) -> None:
    """Act on ``BLOCKLOOP_FAULT`` if it names ``step`` (one of :data:`STEPS`).

    ``STEP`` ends the process with ``os._exit(77)`` the first time the step is reached,
    ``STEP@N`` the N-th time (``STEP@N+``: the N-th time and every time after);
    ``stop:STEP[@N[+]]`` stops it with SIGSTOP instead, so a test can wait for the stop
    (``waitpid(WUNTRACED)``) and kill it with a real SIGKILL right there, or let it go on
    (SIGCONT) to the next;
    ``enospc:STEP`` raises ``OSError(ENOSPC)`` at every occurrence (a full disk where no
    small filesystem can be mounted); ``notify:STEP[@N]`` writes ``PID STEP`` to the file
    (a FIFO a test blocks on) named by ``BLOCKLOOP_FAULT_NOTIFY`` and carries on.
    Steps: npz-written, npz-synced, npz-renamed, json-written, json-synced, json-renamed,
    dir-synced, retire.
    """
    point = config.fault_point()
    if point is None:
        return
    action, name, nth, onwards = _parse(point)
    if name != step:
        return
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    _fault_counts[step] = count = _fault_counts.get(step, 0) + 1
    if count != nth and not (onwards and count > nth):
        return
    if action == "notify":
        with open(config.fault_notify(), "w") as fifo:
            fifo.write(f"{os.getpid()} {step}\n")
    elif action == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
    else:
        os._exit(77)
