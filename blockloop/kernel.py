"""The ``@checkpointed_loop`` decorator and the kernel object it returns."""

from __future__ import annotations

import datetime
import functools
import inspect
import time
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import overload

import numba

from . import config
from ._version import __version__
from .helpers import block_kernel
from .numerics.compile import load_module
from .options import Options
from .parallel.comm import world
from .report import Report
from .runtime import (
    Coordinator,
    Driver,
    Generated,
    LoopKind,
    Phases,
    ReductionKind,
    RunSettings,
    SequentialKind,
)
from .scheduling.deadline import resolve_deadline
from .scheduling.signals import DEFAULT_SIGNALS
from .storage import background
from .storage.fingerprint import (
    Content,
    args_fingerprint,
    closure_values,
    digest,
    is_dispatcher,
)
from .storage.manifest import Identity
from .storage.rundir import RunPaths, recorded_content
from .storage.store import Store
from .transform import (
    ReductionLoop,
    SequentialLoop,
    read_source,
)

__all__ = ["CheckpointedKernel", "Options", "checkpointed_loop"]


class CheckpointedKernel:
    """A kernel blocked into checkpointed chunks; call it like the original.

    Made by :func:`checkpointed_loop`, not constructed directly.

    Attributes
    ----------
    original : numba dispatcher
        The unblocked kernel (what ``BLOCKLOOP_DISABLE=1`` runs).
    blocked_source : str
        The generated module, as text.
    options : Options
        The decorator's options.
    last_report : Report or None
        What the last call did.
    """

    def __init__(self, target: Callable, options: Options) -> None:
        if is_dispatcher(target) and hasattr(target.py_func, "__blockloop_kernel__"):
            raise TypeError(
                "@checkpointed_loop is already below this @njit: the kernel is checkpointed; "
                "remove one of the two @checkpointed_loop"
            )
        if isinstance(target, CheckpointedKernel) or hasattr(target, "__blockloop_kernel__"):
            raise TypeError("@checkpointed_loop is applied twice")
        if is_dispatcher(target):
            func = target.py_func
            numba_options = dict(target.targetoptions)
            self.original = target
        elif inspect.isfunction(target):
            func = target
            numba_options = {}
            self.original = numba.njit(parallel=True)(func)
        else:
            raise TypeError(
                f"@checkpointed_loop decorates a function or an @njit kernel, not "
                f"{type(target).__name__}; put it above @njit"
            )
        numba_options.pop("nopython", None)
        numba_options.pop("parallel", None)
        self.py_func = func
        self.options = options
        self.numba_options = numba_options
        self.exact = options.exact if options.exact is not None else config.exact()
        self._source = read_source(func)
        # analysed now for the refusals (BlockingError at decoration), and again at the
        # first call, with the globals numba reads then (see _bind)
        self._analyse_with(_scope(func))
        self._bound = False  # True once a call has compiled with the globals of its time
        self.last_report: Report | None = None
        # seams for tests: a deterministic clock, a Store subclass that fails on purpose
        self._clock: Callable[[], float] = time.perf_counter
        self._wall_clock: Callable[[], float] = time.time
        self._store_class: type[Store] = Store
        self._signature = inspect.signature(func)
        functools.update_wrapper(self, func)

    @property
    def module_path(self) -> Path | None:
        """The generated module's file (the first phase's), once compiled."""
        return None if self._generated is None else Path(self._generated[0].module.__file__)

    def _analyse_with(self, namespace: dict[str, object]) -> None:
        """Analyse and render the kernel with the globals and helpers in ``namespace``.

        Called at decoration, so that a kernel blockloop cannot block is refused there,
        and again at the first call (see :func:`~blockloop.helpers.block_kernel`).
        """
        blocked = block_kernel(
            self.py_func, self._source, namespace, self.numba_options, self.exact
        )
        self.plan = blocked.plan
        self.phases = blocked.phases
        self.rendered = blocked.rendered
        self.blocked_source = blocked.text
        # arguments whose large arrays the run key may sample: those the kernel never writes
        self._sampled = blocked.sampled
        self._written = frozenset(blocked.plan.args) - blocked.sampled
        self._namespace = namespace
        self._source_key = blocked.source_key
        self._generated: list[Generated] | None = None

    def _current(self) -> None:
        """Analyse again with the globals of now, unless a call has already compiled."""
        if not self._bound:
            self._analyse_with(_scope(self.py_func))

    def _compiled(self) -> list[Generated]:
        """The generated module of each phase, imported (and compiled as called)."""
        if self._generated is None:
            self._generated = []
            for rendered in self.rendered:
                module, _ = load_module(self.plan.name, rendered.text, self._namespace)
                self._generated.append(Generated(module, rendered.signatures))
        return self._generated

    def run_key(self, *args: object, **kwargs: object) -> str:
        """The 16-hex-digit key that names the run these arguments belong to.

        Parameters
        ----------
        *args, **kwargs
            The arguments of a call, as the kernel takes them.

        Returns
        -------
        str
            The run key: part of the run directory's name.
        """
        self._current()
        return self._key(self._bind(args, kwargs))[0]

    def _bind(self, args: tuple, kwargs: dict) -> tuple:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return tuple(bound.arguments[n] for n in self.plan.args)

    def _key(self, values: tuple) -> tuple[str, Content]:
        key, content = args_fingerprint(self.plan.args, values, self._sampled)
        return digest(self._source_key, key)[:16], content

    def run_dir(self, *args: object, **kwargs: object) -> Path:
        """The checkpoint directory of the run these arguments belong to.

        Parameters
        ----------
        *args, **kwargs
            The arguments of a call, as the kernel takes them.

        Returns
        -------
        pathlib.Path
            ``<checkpoint root>/<kernel>-<key>``; it exists once the run has checkpointed
            (a completion record still being written in the background is waited for).
        """
        self._current()
        run_dir = self._paths(*self._key(self._bind(args, kwargs))).run_dir
        background.wait(str(run_dir))
        return run_dir

    def _paths(self, key: str, content: Content) -> RunPaths:
        """The run's directory: ``NAME-KEY``, unless that holds checkpoints of arguments
        that only share the run key's sample with these (then ``NAME-KEY-CONTENT``)."""
        root = Path(self.options.checkpoint_dir or config.checkpoint_root())
        name = f"{self.plan.name}-{key}"
        if content.pending_bytes:
            theirs = recorded_content(root / name)
            if theirs is not None and theirs != content.value():
                name = f"{name}-{content.value()[:16]}"
        return RunPaths(root, name)

    def __call__(self, *args: object, **kwargs: object) -> object:
        if config.disabled():
            return self.original(*args, **kwargs)
        return self._run(self._bind(args, kwargs))

    def _run(self, values: tuple) -> object:
        """Run (or resume) the kernel on its arguments in the order of ``plan.args``."""
        self._current()
        self._bound = True
        background.catch_up(background.BACKLOG)  # records queued faster than they are written
        key, content = self._key(values)
        paths = self._paths(key, content)
        identity = Identity(
            kernel=self.plan.name,
            run_key=key,
            content=content,
            versions={"blockloop": __version__, "numba": numba.__version__},
        )
        comm = world(self.options.comm)
        # one process, one loop: a run that has no directory yet makes one at its first
        # checkpoint, and a short run's completion record is written after it returns
        defer = comm.size == 1 and len(self.phases) == 1
        settings = RunSettings(
            store=lambda ident: self._store_class(paths, ident, self.options.keep, defer=defer),
            mtbf=self.options.mtbf or config.mtbf() or config.DEFAULT_MTBF,
            interval=self.options.interval or config.interval(),
            progress=_want_progress(self.options.progress),
            exit_code=self.options.exit_code,
            signals=self.options.signals,
            clock=self._clock,
            deadline=resolve_deadline(self.options.deadline, now=self._wall_clock()),
            wall_clock=self._wall_clock,
        )
        report = Report(kernel=self.plan.name, run_dir=str(paths.run_dir))
        report.phases = len(self.phases)
        self.last_report = report
        coordinator = Coordinator()
        if comm.size > 1:
            if not isinstance(self.plan, ReductionLoop):
                what = "a kernel of several loops" if len(self.phases) > 1 else "a sequential loop"
                raise ValueError(
                    f"{self.plan.name}: {what} cannot be spread over {comm.size} MPI "
                    "ranks; run it with one rank (prange reductions are distributed)"
                )
            from .parallel.mpi import MPICoordinator

            coordinator = MPICoordinator(comm, report)  # type: ignore[arg-type]
        generated = self._compiled()
        if len(self.phases) == 1:
            kind = KINDS[type(self.plan)](self.plan, generated[0], values, report)
            return Driver(kind, coordinator, settings, identity, report).run()

        def store(name: str) -> Callable[[Identity], Store]:
            return lambda ident: self._store_class(RunPaths(paths.run_dir, name), ident, keep)

        keep = self.options.keep
        kinds = [
            functools.partial(KINDS[type(p)], p, g)
            for p, g in zip(self.phases, generated, strict=True)
        ]
        phased = Phases(self.plan.args, self.phases, kinds, store, self._written)
        return phased.run(values, coordinator, settings, identity, report)

    def __repr__(self) -> str:
        return f"<checkpointed_loop {self.plan.name} ({self.plan.kind}, line {self.plan.line})>"


def _scope(func: types.FunctionType) -> dict[str, object]:
    """The names a kernel's code resolves now: its module's globals and its closure."""
    return {**func.__globals__, **closure_values(func)}


KINDS: dict[type, type[LoopKind]] = {
    ReductionLoop: ReductionKind,
    SequentialLoop: SequentialKind,
}
"""The loop kind that runs each plan type."""


def _want_progress(option: bool | None) -> bool:
    from .runtime.progress import want_progress

    return want_progress(option)


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
        Spread a reduction over this communicator's ranks. Without it, a kernel launched
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
