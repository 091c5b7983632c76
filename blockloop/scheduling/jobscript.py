"""``blockloop sbatch``: a Slurm batch script that lets a checkpointed run continue itself.

The payload exits with code 85 after a checkpoint when Slurm's ``--signal`` notice arrives
(or its deadline, the job's end time, comes near). The script then either requeues the job
(``--requeue``) or lets the next task of a ``--array=1-K%1`` continue; a task that finds the
run complete gets the recorded result at once.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence

from .._version import __version__

__all__ = ["signal_lead", "slurm_script"]

SLURM_EARLY = 60  # Slurm may deliver --signal up to this many seconds before it is due


def signal_lead(chunk_seconds: float, write_cost: float) -> int:
    """Seconds before the time limit to ask for the signal (``--signal=B:USR1@N``).

    Enough for the chunk in progress to end, the checkpoint to be written and the
    process to exit, twice over, plus 10 s; Slurm may send it up to 60 s earlier still.
    """
    return max(10, math.ceil(2 * (chunk_seconds + write_cost) + 10))


def slurm_script(
    command: Sequence[str],
    time_limit: str,
    *,
    array: int | None = None,
    job_name: str = "blockloop",
    output: str | None = None,
    chunk_seconds: float = 0.2,
    write_cost: float = 1.0,
    sbatch_options: Sequence[str] = (),
    exit_code: int = 85,
) -> str:
    """The text of the batch script.

    Parameters
    ----------
    command : sequence of str
        The payload, e.g. ``["python", "run.py", "--n", "1e12"]``.
    time_limit : str
        ``--time`` of each job (or array task), in Slurm's syntax (``"1:00:00"``, ``"30"``).
    array : int, optional
        Continue through a job array ``--array=1-K%1`` of ``array`` tasks; default: requeue
        the job itself until the run completes.
    job_name, output : str
        ``--job-name`` and ``--output`` (default ``blockloop-%j.out``, ``%A_%a`` for arrays).
    chunk_seconds, write_cost : float
        Expected chunk length and checkpoint write time, for the signal's lead time.
    sbatch_options : sequence of str
        More ``#SBATCH`` options, verbatim (``"--cpus-per-task=8"``).
    exit_code : int
        The payload's "checkpoint saved, run again" exit code.
    """
    if array is not None and array < 1:
        raise ValueError(f"array must be a positive number of tasks, not {array}")
    if not command:
        raise ValueError("give the command to run after --")
    lead = signal_lead(chunk_seconds, write_cost)
    out = output or ("blockloop-%A_%a.out" if array else "blockloop-%j.out")
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --time={time_limit}",
        f"#SBATCH --signal=B:USR1@{lead}",
        f"#SBATCH --output={out}",
        "#SBATCH --open-mode=append",
    ]
    lines.append(f"#SBATCH --array=1-{array}%1" if array else "#SBATCH --requeue")
    lines += [f"#SBATCH {opt}" for opt in sbatch_options]
    then = (
        'echo "blockloop: checkpoint saved; the next array task continues"\n    exit 0'
        if array
        else 'echo "blockloop: checkpoint saved; requeueing job $SLURM_JOB_ID"\n'
        '    scontrol requeue "$SLURM_JOB_ID"\n    exit 0'
    )
    lines += [
        f"# Written by blockloop {__version__} (blockloop sbatch).",
        f"# The payload checkpoints and exits {exit_code} when SIGUSR1 arrives ({lead} s, or up",
        f"# to {SLURM_EARLY} s more, before the time limit) or when the job's end comes near.",
        "set -u",
        'echo "blockloop: job $SLURM_JOB_ID task ${SLURM_ARRAY_TASK_ID:-none} '
        'restart ${SLURM_RESTART_COUNT:-0} on $(hostname) at $(date -Is)"',
        'if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then',
        '    export NUMBA_NUM_THREADS="$SLURM_CPUS_PER_TASK"',
        "fi",
        "",
        "# bash runs a trap only between foreground commands: the payload runs in the",
        "# background, and the batch shell forwards Slurm's signal to it.",
        'forward() { kill -USR1 "$payload" 2>/dev/null; }',
        "trap forward USR1 TERM",
        f"{shlex.join(command)} &",
        "payload=$!",
        'wait "$payload"; status=$?',
        'while kill -0 "$payload" 2>/dev/null; do  # woken by a trapped signal: wait on',
        '    wait "$payload"; status=$?',
        "done",
        'if [ "$status" -gt 128 ]; then  # the payload ended while a trap was running',
        '    wait "$payload" 2>/dev/null; late=$?',
        '    [ "$late" -ne 127 ] && status=$late',
        "fi",
        f'if [ "$status" -eq {exit_code} ]; then',
        f"    {then}",
        "fi",
        'exit "$status"',
        "",
    ]
    return "\n".join(lines)
