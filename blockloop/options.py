"""The decorator's keyword options, validated once at decoration."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

from . import config
from .scheduling.deadline import resolve_deadline
from .scheduling.signals import DEFAULT_SIGNALS, parse_signals

__all__ = ["GATHER", "Options"]

GATHER = ("all", "root", "own")
"""Who holds a distributed loop's written arrays at the end (``gather=``)."""


@dataclass(frozen=True)
class Options:
    """The decorator's options, validated once (environment variables are read per call)."""

    checkpoint_dir: str | None = None
    mtbf: float | None = None
    interval: float | None = None
    keep: int = 2
    progress: bool | None = None
    exit_code: int = 85
    signals: tuple[int, ...] = DEFAULT_SIGNALS
    comm: object | None = None
    deadline: float | str | datetime.datetime | None = None
    exact: bool | None = None
    copy_budget: int | None = None
    gather: str = "all"

    @classmethod
    def make(cls, **given: Any) -> Options:
        """Validate the decorator's keyword options (named as the fields) into Options.

        Raises
        ------
        ValueError
            For a bad value, naming the option.
        TypeError
            For a value of the wrong type (``checkpoint_dir=3``, ``signals="SIGTERM"``).
        """
        keep, exit_code = given["keep"], given["exit_code"]
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an integer >= 1 (generations kept), not {keep!r}")
        if (
            isinstance(exit_code, bool)
            or not isinstance(exit_code, int)
            or not 0 <= exit_code < 256
        ):
            raise ValueError(f"exit_code must be an integer in 0..255, not {exit_code!r}")
        if given["deadline"] is not None:
            resolve_deadline(given["deadline"])  # a bad value fails here, at decoration
        if given["gather"] not in GATHER:
            raise ValueError(
                f"gather must be one of {', '.join(map(repr, GATHER))}, not {given['gather']!r}"
            )
        if given["exact"] not in (None, True, False):
            raise ValueError(f"exact must be True or False, not {given['exact']!r}")
        values = dict(given)
        for name in ("mtbf", "interval"):
            if values[name] is not None:
                values[name] = config.parse_duration(values[name], name)
        if values["checkpoint_dir"] is not None:
            if not isinstance(values["checkpoint_dir"], (str, os.PathLike)):
                raise TypeError(
                    "checkpoint_dir must be a path (str or pathlib.Path), not "
                    f"{values['checkpoint_dir']!r}"
                )
            values["checkpoint_dir"] = os.fspath(values["checkpoint_dir"])
        values["signals"] = parse_signals(values["signals"])
        if values["copy_budget"] is not None:
            values["copy_budget"] = config.parse_bytes(values["copy_budget"], "copy_budget")
        return cls(**values)
