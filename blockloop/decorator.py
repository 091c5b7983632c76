"""The ``@checkpointed_loop`` decorator: bare or with options, above ``@njit`` or below."""

from __future__ import annotations

import datetime
import inspect
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import overload

from .kernel import CheckpointedKernel
from .options import Options
from .scheduling.signals import DEFAULT_SIGNALS

__all__ = ["checkpointed_loop"]


@overload
def checkpointed_loop(func: Callable) -> CheckpointedKernel: ...
@overload
def checkpointed_loop(
    func: None = None,
    *,
    checkpoint_dir: str | Path | None = ...,
    mtbf: float | str | None = ...,
    interval: float | str | None = ...,
    keep: int = ...,
    progress: bool | None = ...,
    exit_code: int = ...,
    signals: Iterable[int] = ...,
    comm: object | None = ...,
    deadline: float | str | datetime.datetime | None = ...,
    exact: bool | None = ...,
    copy_budget: int | str | None = ...,
    gather: str = ...,
) -> Callable[[Callable], CheckpointedKernel]: ...


def checkpointed_loop(
    func: Callable | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
    mtbf: float | str | None = None,
    interval: float | str | None = None,
    keep: int = 2,
    progress: bool | None = None,
    exit_code: int = 85,
    signals: Iterable[int] = DEFAULT_SIGNALS,
    comm: object | None = None,
    deadline: float | str | datetime.datetime | None = None,
    exact: bool | None = None,
    copy_budget: int | str | None = None,
    gather: str = "all",
) -> CheckpointedKernel | Callable[[Callable], CheckpointedKernel]:
    """Make a numba prange reduction kernel checkpointed, resumable and deterministic.

    Use it bare or with options, above ``@njit``::

        @checkpointed_loop(mtbf="6h")
        @njit(parallel=True)
        def pi(n): ...

    or below it (or on a plain function), where the kernel is compiled with
    ``parallel=True`` and the user's numba options of an outer ``@njit`` do not reach it::

        @njit
        @checkpointed_loop(mtbf="6h")
        def pi(n): ...

    Parameters
    ----------
    func : callable, optional
        The kernel, when used bare.
    checkpoint_dir : str or Path, optional
        Root of the run directories; default ``BLOCKLOOP_DIR`` or ``./.blockloop``.
    mtbf : float or str, optional
        Mean time between failures (seconds or ``"45m"``, ``"6h"``); default
        ``BLOCKLOOP_MTBF`` or 24 h. Sets Daly's checkpoint interval with the measured
        write cost.
    interval : float or str, optional
        A fixed checkpoint interval instead of Daly's (also ``BLOCKLOOP_INTERVAL``).
    keep : int
        Checkpoint generations kept (default 2).
    progress : bool, optional
        Force the progress bar on or off (default: on for a terminal or a notebook).
    exit_code : int
        Exit code after a scheduler signal (SIGTERM, SIGUSR1, SIGUSR2); default 85.
    signals : iterable of int
        Signals that stop the run at the next chunk boundary after a checkpoint.
    comm : mpi4py communicator, optional
        Spread the kernel over this communicator's ranks. Without it, a kernel launched
        under ``mpiexec`` (or ``srun``) with several ranks uses ``MPI.COMM_WORLD``.
    deadline : datetime, str or float, optional
        When the process will be killed: a datetime or ISO date-time string, or a duration
        from the start of each call (seconds or ``"230m"``). Default: the Slurm job's end,
        when running under Slurm. Shortly before it (a margin for the longest chunk and the
        write), the run checkpoints and exits with ``exit_code``.
    exact : bool, optional
        Sum float64 and float32 ``+=``/``-=`` reductions of ``prange`` loops exactly: the
        result is the exact sum of the terms rounded once (``math.fsum``'s answer), the
        same bits on any machine that computes the same terms, whatever the threads,
        chunks, interruptions or MPI ranks. Default ``BLOCKLOOP_EXACT`` (read here, at
        decoration), else False: a fixed pairwise order, the same bits on the same
        machine and build. Reductions inside the steps of a sequential loop stay pairwise.
    copy_budget : int or str, optional
        Bytes an interval checkpoint may copy so that a background thread writes it while
        the loop goes on (``"2GiB"``, ``"512MB"`` or a number). A state larger than the
        budget is written synchronously from the live arrays, with no copy: memory stays
        within plain numba's plus the budget. Default ``BLOCKLOOP_COPY_BUDGET``, else
        max(64 MiB, 10 % of the state). ``last_report.writes`` says how each checkpoint
        was written.
    gather : {"all", "root", "own"}, optional
        Over several MPI ranks, who holds the whole of the arrays a map loop or the steps
        of a time loop wrote when the call returns. ``"all"`` (the default): every rank,
        so every rank returns what one process returns. ``"root"``: rank 0 only; the others
        hold the rows they computed. ``"own"``: each rank its own rows, and nothing is
        sent at the end. Elsewhere the other ranks' rows are undefined, and so is what the
        statements after the loop compute from them. Reduced values are the same on every
        rank whatever the choice.

    Returns
    -------
    CheckpointedKernel
        Callable like the original, with ``.blocked_source`` and ``.last_report``. For a
        plain function, a plain function with the same attributes (so that ``@njit`` can
        decorate it; then they are on the dispatcher's ``.py_func``).

    Raises
    ------
    BlockingError
        At decoration, if the kernel's loop cannot be blocked.
    """
    given = dict(locals())  # the keyword options by name: Options has a field for each
    del given["func"]
    options = Options.make(**given)

    def wrap(target: Callable) -> CheckpointedKernel:
        kernel = CheckpointedKernel(target, options)
        if inspect.isfunction(target):  # a real function, so that @njit can go above
            from .njit_above import as_function

            return as_function(kernel)  # type: ignore[return-value]
        return kernel

    return wrap if func is None else wrap(func)
