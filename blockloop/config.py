"""Every ``BLOCKLOOP_*`` environment variable, read in this one module.

=====================  =====================================================================
variable               meaning
=====================  =====================================================================
BLOCKLOOP_DIR          root directory for run directories (default ``./.blockloop``)
BLOCKLOOP_CACHE_DIR    where generated kernel modules and numba's cache go
                       (default ``$XDG_CACHE_HOME/blockloop`` or ``~/.cache/blockloop``)
BLOCKLOOP_MTBF         mean time between failures: seconds or ``"45m"``, ``"6h"``, ``"2d"``
                       (default ``24h``)
BLOCKLOOP_INTERVAL     fixed checkpoint interval (same syntax), overrides Young/Daly
BLOCKLOOP_PROGRESS     ``1``/``0``: force the progress bar on or off (default: on for a
                       terminal or a notebook)
BLOCKLOOP_DISABLE      ``1``: run the original, unblocked kernel (debugging only)
BLOCKLOOP_EXACT        ``1``: sum float reductions exactly (the decorator's ``exact=True``),
                       read when a kernel is decorated
BLOCKLOOP_COPY_BUDGET  bytes a checkpoint may copy to write in the background (``"512MiB"``,
                       ``"2GB"`` or a number); default max(64 MiB, 10 % of the state)
BLOCKLOOP_FAULT        test-only fault injection in the checkpoint store (see ``store``)
BLOCKLOOP_FAULT_NOTIFY test-only: the FIFO a ``notify:`` fault writes to
=====================  =====================================================================

Read here too, never set: Slurm's ``SLURM_JOB_ID`` and ``SLURM_JOB_END_TIME`` (the job's
end, for deadline awareness), and the MPI launchers' world size (``PMI_SIZE`` from MPICH's
hydra and Slurm's PMI, ``OMPI_COMM_WORLD_SIZE`` from Open MPI, ``PMIX_SIZE``), which
tells blockloop to run distributed.

A value that cannot be parsed is reported with a warning and the default is used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ._errors import warn

DEFAULT_MTBF = 24 * 3600.0
DEFAULT_DIR = ".blockloop"

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-z]*)\s*$")


def parse_duration(value: float | int | str, what: str = "duration") -> float:
    """Seconds from a number or a string such as ``"90"``, ``"45m"``, ``"6h"``, ``"2d"``.

    Raises
    ------
    ValueError
        If the value is not a positive duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be seconds or a string like '6h', not {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).lower())
        if match is None or match.group(2) not in _UNITS:
            raise ValueError(
                f"{what} {value!r} is not a duration: use seconds or a number with "
                "s, m, h or d, e.g. '45m' or '6h'"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{what} must be a positive, finite duration, not {value!r}")
    return seconds


_BYTES = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgt]i?b?|b)?\s*$")
_BYTE_UNITS = {"": 1, "b": 1}
for _k, _p in (("k", 1), ("m", 2), ("g", 3), ("t", 4)):
    _BYTE_UNITS.update({_k: 1024**_p, f"{_k}ib": 1024**_p, f"{_k}b": 1000**_p, f"{_k}i": 1024**_p})


def parse_bytes(value: int | float | str, what: str = "size") -> int:
    """Bytes from a number or a string such as ``"512MiB"``, ``"2GB"``, ``"64M"``.

    Raises
    ------
    ValueError
        If the value is not a non-negative size.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be bytes or a string like '512MiB', not {value!r}")
    if isinstance(value, (int, float)):
        size = float(value)
    else:
        match = _BYTES.match(str(value).lower())
        if match is None:
            raise ValueError(f"{what} {value!r} is not a size: use bytes, or '512MiB', '2GB'")
        size = float(match.group(1)) * _BYTE_UNITS[match.group(2) or ""]
    if not 0 <= size < float("inf"):
        raise ValueError(f"{what} must be a non-negative size, not {value!r}")
    return int(size)


def copy_budget() -> int | None:
    """``BLOCKLOOP_COPY_BUDGET`` in bytes, or None."""
    raw = os.environ.get("BLOCKLOOP_COPY_BUDGET")
    if raw is None or raw.strip() == "":
        return None
    try:
        return parse_bytes(raw, "BLOCKLOOP_COPY_BUDGET")
    except ValueError as exc:
        warn(f"ignoring BLOCKLOOP_COPY_BUDGET: {exc}", UserWarning)
        return None


def _env_duration(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return parse_duration(raw, name)
    except ValueError as exc:
        warn(f"ignoring {name}: {exc}", UserWarning)
        return None


def _env_flag(name: str) -> bool | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    warn(f"ignoring {name}={raw!r}: use 1 or 0", UserWarning)
    return None


def checkpoint_root() -> Path:
    """The checkpoint root from ``BLOCKLOOP_DIR``, else ``./.blockloop``."""
    return Path(os.environ.get("BLOCKLOOP_DIR") or DEFAULT_DIR)


def cache_dir() -> Path:
    """Where generated modules (and numba's cache beside them) are written."""
    explicit = os.environ.get("BLOCKLOOP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "blockloop"


def mtbf() -> float | None:
    """``BLOCKLOOP_MTBF`` in seconds, or None."""
    return _env_duration("BLOCKLOOP_MTBF")


def interval() -> float | None:
    """``BLOCKLOOP_INTERVAL`` in seconds, or None."""
    return _env_duration("BLOCKLOOP_INTERVAL")


def progress() -> bool | None:
    """``BLOCKLOOP_PROGRESS`` as a bool, or None for automatic."""
    return _env_flag("BLOCKLOOP_PROGRESS")


def disabled() -> bool:
    """True when ``BLOCKLOOP_DISABLE`` asks for the original kernel."""
    return bool(_env_flag("BLOCKLOOP_DISABLE"))


def exact() -> bool:
    """True when ``BLOCKLOOP_EXACT`` asks for exact sums."""
    return bool(_env_flag("BLOCKLOOP_EXACT"))


def fault_point() -> str | None:
    """Test-only: the commit step at which the store kills the process (``BLOCKLOOP_FAULT``)."""
    return os.environ.get("BLOCKLOOP_FAULT") or None


def fault_notify() -> str:
    """Test-only: the FIFO a ``notify:`` fault writes to (``BLOCKLOOP_FAULT_NOTIFY``)."""
    return os.environ.get("BLOCKLOOP_FAULT_NOTIFY") or os.devnull


_MPI_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


def mpi_world_size() -> int:
    """Ranks in the MPI job this process was launched in (1 when not under a launcher)."""
    for name in _MPI_SIZE_VARIABLES:
        raw = os.environ.get(name, "").strip()
        if raw.isdigit() and int(raw) > 1:
            return int(raw)
    return 1


def slurm_job_id() -> str | None:
    """The Slurm job this process runs in (``SLURM_JOB_ID``), if any."""
    return os.environ.get("SLURM_JOB_ID") or None


def slurm_job_end_time() -> float | None:
    """``SLURM_JOB_END_TIME`` (epoch seconds; set by Slurm 23.02 and later), if set."""
    raw = os.environ.get("SLURM_JOB_END_TIME", "").strip()
    return float(raw) if raw.isdigit() and int(raw) > 0 else None
