"""When will this process be killed? A run's deadline, from the caller or from Slurm."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import subprocess
import time

from .. import config

__all__ = ["resolve_deadline", "slurm_end_time"]

log = logging.getLogger(__name__)


def slurm_end_time() -> float | None:
    """The end of the Slurm job this process runs in (epoch seconds), or None.

    ``SLURM_JOB_END_TIME`` where Slurm sets it, else ``squeue -h -j $SLURM_JOB_ID -o %e``
    (local time). None outside Slurm, for a job without a time limit, or when squeue
    cannot answer.
    """
    job = config.slurm_job_id()
    if job is None:
        return None
    end = config.slurm_job_end_time()
    if end is not None:
        return end
    squeue = shutil.which("squeue")
    if squeue is None:
        return None
    try:
        out = subprocess.run(
            [squeue, "-h", "-j", job, "-o", "%e"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("cannot ask squeue for the end of job %s: %s", job, exc)
        return None
    text = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None  # "Unknown", "NONE", "N/A": no time limit


def resolve_deadline(
    option: float | str | dt.datetime | None, now: float | None = None
) -> float | None:
    """The deadline of one call, in epoch seconds.

    Parameters
    ----------
    option : float, str, datetime or None
        ``deadline=`` as given to the decorator: a :class:`~datetime.datetime` or an ISO
        date-time string (absolute, local time if naive), or a duration from the start of
        the call (seconds or ``"45m"``); None asks Slurm.
    now : float, optional
        The call's start (epoch seconds); default now.
    """
    now = time.time() if now is None else now
    if option is None:
        return slurm_end_time()
    if isinstance(option, dt.datetime):
        return option.timestamp()
    if isinstance(option, str):
        try:
            return dt.datetime.fromisoformat(option).timestamp()
        except ValueError:
            pass
    return now + config.parse_duration(option, "deadline")
