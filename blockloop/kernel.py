"""The kernel object that ``@checkpointed_loop`` returns: a call runs or resumes a run."""

from __future__ import annotations

import functools
import inspect
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import numba

from . import config
from ._errors import Interrupted
from ._version import __version__
from .numerics.compile import load_module
from .options import Options
from .parallel.comm import MPIComm, SerialComm, world
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
    Stop,
    StopReason,
)
from .scheduling.deadline import resolve_deadline
from .scheduling.signals import SignalWatch
from .storage import background, faults
from .storage.durable import durable_write, read_small
from .storage.fingerprint import Content, args_fingerprint, digest, is_dispatcher
from .storage.manifest import Identity
from .storage.rundir import RunPaths, recorded_content
from .storage.store import Store
from .transform import LoopPlan, ReductionLoop, SequentialLoop, read_source
from .view.blocked import Alternatives, Blocked, block_alternatives, block_at_decoration
from .view.declared import as_declared
from .view.helpers import scope_of
from .view.typed import argument_types, typed_view

__all__ = ["CheckpointedKernel", "Options"]


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
        # first call, with the globals numba reads then and numba's types (see _current)
        self._by_types: dict[tuple, Alternatives] = {}
        self._analyse_with(scope_of(func))
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
        generated = self._blocked.generated
        return Path(generated[0].module.__file__) if generated else None

    def _analyse_with(
        self, namespace: dict[str, object], values: tuple | None = None
    ) -> Alternatives:
        """Analyse and render the kernel with the globals and helpers in ``namespace``.

        Called at decoration, so that a kernel blockloop cannot block is refused there,
        and again at the first call with each new combination of argument types, where
        numba's typed view of the kernel decides what the syntax leaves open (see
        :func:`~blockloop.view.blocked.block_kernel`).
        """
        if values is None:
            alternatives = block_at_decoration(
                self.py_func, self._source, namespace, self.numba_options, self.exact
            )
        else:
            types = typed_view(self.py_func, self._source, values, self.numba_options)
            given = dict(zip(self.plan.args, values, strict=True))  # functions handed in
            alternatives = block_alternatives(
                self.py_func, self._source, namespace, self.numba_options, self.exact, types, given
            )
        self._alternatives = alternatives
        self._namespace = namespace
        self._use(alternatives.first())
        self.blocked_source = alternatives.text()
        return alternatives

    def _use(self, blocked: Blocked) -> None:
        """Make ``blocked`` (one combination of the kernel's branches) the current one."""
        self._blocked = blocked
        self.plan = blocked.plan
        self.phases = blocked.phases
        self.rendered = blocked.rendered
        # arguments whose large arrays the run key may sample: those the kernel never writes
        self._sampled = blocked.sampled
        self._written = frozenset(blocked.plan.args) - blocked.sampled
        self._source_key = blocked.source_key

    def _current(self, values: tuple) -> None:
        """Analyse again with numba's types of these arguments, and with the globals of
        now unless a call has already compiled; take the branches these arguments choose."""
        if not self._bound:
            self._by_types.clear()
            namespace = scope_of(self.py_func)
        else:
            namespace = self._namespace
        key = argument_types(values)
        alternatives = self._by_types.get(key)
        if alternatives is None:
            alternatives = self._by_types[key] = self._analyse_with(namespace, values)
        self._alternatives = alternatives
        arguments = dict(zip(self.plan.args, values, strict=True))
        try:
            blocked = alternatives.choose(arguments, self._namespace)
        finally:  # with the combination this call analysed, blocked or not
            self.blocked_source = alternatives.text()
        if blocked is not self._blocked:
            self._use(blocked)

    def _compiled(self) -> list[Generated]:
        """The generated module of each phase, imported (and compiled as called)."""
        generated = self._blocked.generated
        if not generated:
            for rendered in self.rendered:
                module, _ = load_module(self.plan.name, rendered.text, self._namespace)
                generated.append(Generated(module, rendered.signatures))
        return generated

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
        values = self._bind(args, kwargs)
        self._current(values)
        return self._key(values)[0]

    def _bind(self, args: tuple, kwargs: dict) -> tuple:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return as_declared(self.original, tuple(bound.arguments[n] for n in self.plan.args))

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
        values = self._bind(args, kwargs)
        self._current(values)
        run_dir = self._paths(*self._key(values)).run_dir
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
        # from here to the end of the call a signal only sets a flag while numba works
        # (its typed view of the kernel, then the compile): a KeyboardInterrupt raised
        # inside numba's compiler loses the signal or breaks the dispatcher, so a signal
        # received then is honoured before the first chunk
        watch = SignalWatch(self.options.signals)
        with watch:
            self._current(values)
        self._bound = True
        faults.check()  # a malformed BLOCKLOOP_FAULT is refused before any work
        background.catch_up(background.BACKLOG)  # records queued faster than they are written
        key, content = self._key(values)
        key = self._continued(key)
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
            copy_budget=(
                self.options.copy_budget
                if self.options.copy_budget is not None
                else config.copy_budget()
            ),
            watch=watch,
            gather=self.options.gather,
        )
        report = Report(kernel=self.plan.name, run_dir=str(paths.run_dir))
        report.phases = len(self.phases)
        self.last_report = report
        coordinators = functools.partial(_coordinator_for, comm, report)
        try:
            with watch:
                result = self._dispatch(values, coordinators, settings, identity, report, paths)
        except (KeyboardInterrupt, Interrupted):
            self._note_continuation(values, key)
            raise
        if watch.received is not None and comm.size == 1:
            # a signal during the last chunk or the epilogue's compile: the run is complete
            # and recorded, and the signal is not lost
            raise Stop(StopReason.SIGNAL, watch.received).after_completion(
                settings.exit_code, report
            )
        return result

    def _dispatch(
        self,
        values: tuple,
        coordinators: Callable[[LoopPlan], Coordinator],
        settings: RunSettings,
        identity: Identity,
        report: Report,
        paths: RunPaths,
    ) -> object:
        """Run the one loop, or the phases of a kernel of several loops."""
        generated = self._compiled()
        exits = getattr(generated[0].module, "_bl_exits", None)
        if exits is not None and exits(*values):
            report.returned_early = report.complete = True
            return self.original(*values)
        if len(self.phases) == 1:
            kind = KINDS[type(self.plan)](self.plan, generated[0], values, report)
            return Driver(kind, coordinators(self.plan), settings, identity, report).run()

        def store(name: str) -> Callable[[Identity], Store]:
            return lambda ident: self._store_class(RunPaths(paths.run_dir, name), ident, keep)

        keep = self.options.keep
        kinds = [
            functools.partial(KINDS[type(p)], p, g)
            for p, g in zip(self.phases, generated, strict=True)
        ]
        phased = Phases(self.plan.args, self.phases, kinds, store, self._written)
        return phased.run(values, coordinators, settings, identity, report)

    def _continuation(self, key: str) -> Path:
        root = Path(self.options.checkpoint_dir or config.checkpoint_root())
        return root / f"{self.plan.name}-{key}.continues"

    def _continued(self, key: str) -> str:
        """The key of the interrupted run that arguments written in place continue.

        An interrupted call leaves the arrays it writes as its last checkpoint has them;
        called again with them (a notebook cell run again after Ctrl-C), the kernel
        continues that run instead of starting a new one on the half-written arrays.
        """
        if not self._written:
            return key
        root = self._continuation(key).parent
        if (root / f"{self.plan.name}-{key}").is_dir():
            return key  # these arguments are a run's own
        theirs = read_small(self._continuation(key))
        if theirs is None or not re.fullmatch(r"[0-9a-f]{16}", theirs):
            return key
        return theirs if (root / f"{self.plan.name}-{theirs}").is_dir() else key

    def _note_continuation(self, values: tuple, key: str) -> None:
        """After an interruption: which run the arguments, as left, continue."""
        if not self._written:
            return
        now = self._key(values)[0]
        if now != key:
            try:
                durable_write(self._continuation(now), lambda f: f.write(key.encode()), "note")
            except OSError as exc:
                log.warning("%s: cannot note which run continues: %s", self.plan.name, exc)

    def __repr__(self) -> str:
        return f"<checkpointed_loop {self.plan.name} ({self.plan.kind}, line {self.plan.line})>"


log = logging.getLogger(__name__)

KINDS: dict[type, type[LoopKind]] = {ReductionLoop: ReductionKind, SequentialLoop: SequentialKind}
"""The loop kind that runs each plan type."""


def _want_progress(option: bool | None) -> bool:
    from .runtime.progress import want_progress

    return want_progress(option)


def _coordinator_for(comm: SerialComm | MPIComm, report: Report, plan: LoopPlan) -> Coordinator:
    """The coordinator of one loop (of one phase): the process alone, or, over several MPI
    ranks, tiles of a reduction or map loop in segments, the rows of each step of a
    sequential loop."""
    if comm.size == 1:
        return Coordinator()
    if isinstance(plan, ReductionLoop):
        from .parallel.mpi import MPICoordinator

        return MPICoordinator(comm, report)  # type: ignore[arg-type]
    from .parallel.steps import SplitCoordinator

    return SplitCoordinator(comm, report)  # type: ignore[arg-type]
