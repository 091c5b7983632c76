"""The checkpointer: the store, the background writer, the sessions and the write cost.

The driver asks it to commit the state of a :class:`~blockloop.runtime.kinds.LoopKind`;
it builds the manifest's :class:`~blockloop.storage.manifest.RunState`, writes it (on the writer
thread for interval checkpoints of a loop that allows it, synchronously otherwise) and
tells the policy how long the compute loop was held up.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .._errors import CheckpointError, CheckpointWarning, warn
from ..report import Report
from ..scheduling.policy import Policy
from ..storage import background
from ..storage.manifest import PolicyState, RunState, Session
from ..storage.pieces import PieceSet
from ..storage.store import Checkpoint, RunPaths, Store, UnwritableError
from .kinds import LoopKind
from .stops import INTERVAL, Stop, StopReason
from .writer import Writer

__all__ = ["Checkpointer", "Write"]

log = logging.getLogger(__name__)
SESSIONS_KEPT = 100
LATER = 1 << 20
"""The most bytes of state whose completion record is written after the call returns."""


class Write(enum.Enum):
    """How a checkpoint is written; the value is what the report's ``writes`` says."""

    SYNCHRONOUS = "synchronous"
    BACKGROUND = "background"
    AFTER_CALL = "after the call"


class Checkpointer:
    """Commits a loop's state to a run's store; a context manager holding the run's lock.

    Parameters
    ----------
    store : Store
        The run's store.
    report : Report
        Where checkpoints and write times are counted.
    clock : callable
        Monotonic seconds, for the time the compute loop is held up.
    """

    writes = True
    writes_in_background = True  # interval checkpoints of a loop that allows it

    def __init__(self, store: Store, report: Report, clock: Callable[[], float]) -> None:
        self.store = store
        self.report = report
        self.clock = clock
        self.writer = Writer()
        self.sessions: list[Session] = []
        self.started = time.time()
        self.compute_seconds = 0.0  # of the whole run, all sessions
        self.longest_write = 0.0
        self._later: Callable[[], None] | None = None

    @property
    def paths(self) -> RunPaths:
        return self.store.paths

    @property
    def run_dir(self) -> Path:
        return self.store.paths.run_dir

    def __enter__(self) -> Checkpointer:
        self.store.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.release()
        if self._later is not None:
            background.submit(str(self.run_dir), self._later)
            self._later = None

    def load(self) -> Checkpoint | None:
        """The newest good checkpoint (its history becomes this run's), or None."""
        ckpt = self.store.load()
        if ckpt is not None:
            self.compute_seconds = ckpt.manifest.state.compute_seconds
            self.sessions = list(ckpt.manifest.state.sessions)
        return ckpt

    def commit(self, kind: LoopKind, done: int, policy: Policy, why: Stop) -> None:
        """Checkpoint ``kind`` after ``done`` units, because of ``why``.

        An interval checkpoint that cannot be written is a warning (the run goes on and
        tries again), and so is a completion record (the result is returned, not saved); a
        checkpoint forced by a signal or the deadline raises: the process is about to end.
        The completion record of a run that wrote no checkpoint before is not fsynced: lost
        in a crash, it costs a computation shorter than one interval.
        """
        t0 = self.clock()
        self.drain()
        session = Session(self.started, time.time(), why.label)
        mode, arrays, bind, pieces = self._prepare(kind, done, why)
        if self.store.deferred and mode is not Write.AFTER_CALL:
            try:
                self.store.take()  # here, so that a run held by another process stops now
            except UnwritableError as exc:  # a read-only or vanished checkpoint root
                if why.ends_process:
                    raise
                self._failed(exc, why)
                return
        state = RunState(
            kernel=kind.plan.name,
            unit=kind.unit,
            done=done,
            total=kind.total,
            reason=why.label,
            compute_seconds=self.compute_seconds,
            sessions=tuple([*self.sessions, session][-SESSIONS_KEPT:]),
            policy=PolicyState(policy.write_cost, policy.interval, policy.mtbf),
            bind=bind,
            pieces=pieces,
        )
        self.report.writes.append(mode.value)
        self._write(mode, kind, arrays, state, why)
        blocked = self.clock() - t0
        policy.record_write(blocked)
        if not why.forced:
            self.report.blocked_seconds += blocked
        self.report.write_cost = policy.write_cost
        log.debug("%s: checkpoint at %s %d (%s)", kind.plan.name, kind.unit, done, why.label)

    def _prepare(
        self, kind: LoopKind, done: int, why: Stop
    ) -> tuple[Write, dict[str, np.ndarray], dict[str, str] | None, dict[str, PieceSet]]:
        """How this checkpoint is written, and what it writes.

        - on the writer thread (:attr:`Write.BACKGROUND`): an interval checkpoint of a
          loop whose state can be copied, when this checkpointer writes in the background;
        - after the call returns (:attr:`Write.AFTER_CALL`): the completion record of a
          run that has no directory yet, of at most :data:`LATER` bytes;
        - synchronously otherwise.
        """
        background = (
            why.reason is StopReason.INTERVAL and self.writes_in_background and kind.copies(done)
        )
        arrays, bind = kind.snapshot(done, copy=background)
        entries, pieces = self.entries(kind, done, background)
        arrays = {**arrays, **entries}
        if background:
            mode = Write.BACKGROUND
        elif (
            why.reason is StopReason.COMPLETION
            and self.store.deferred
            and sum(a.nbytes for a in arrays.values()) <= LATER
        ):
            mode = Write.AFTER_CALL
        else:
            mode = Write.SYNCHRONOUS
        return mode, arrays, bind, pieces

    def _write(
        self, mode: Write, kind: LoopKind, arrays: dict[str, np.ndarray], state: RunState, why: Stop
    ) -> None:
        nbytes = sum(a.nbytes for a in arrays.values())

        def written(generation: int, seconds: float) -> None:
            if self.store.last_manifest is not None:
                kind.committed(self.store.last_manifest)
            self.report.bytes_written += nbytes
            self._written(generation, seconds)

        if mode is Write.AFTER_CALL:  # of copies: the caller may change its arrays on return
            self._record_later({k: np.array(a, copy=True) for k, a in arrays.items()}, state)
        elif mode is Write.BACKGROUND:
            self.writer.submit(self.store.save, arrays, state, written)
        else:
            durable = why.reason is not StopReason.COMPLETION or self.store.next_generation > 1
            try:
                written(*self.store.save(arrays, state, durable=durable))
            except CheckpointError as exc:
                if why.ends_process:
                    raise
                self._failed(exc, why)

    def entries(
        self, kind: LoopKind, done: int, copy: bool
    ) -> tuple[dict[str, np.ndarray], dict[str, PieceSet]]:
        """The entries of arrays saved in pieces that this checkpoint writes, and each
        array's piece set (the loop's own, in one process)."""
        return kind.pieces(done, copy)

    def _record_later(self, arrays: dict, state: RunState) -> None:
        """Write a completion record (not durable) on the background thread once the call
        is over (:meth:`__exit__`); the run's lock is taken there, and a run that another
        process holds by then keeps its own records. The full hash of arguments the run
        key only sampled is taken here, from the arrays this call read: the caller may
        change them once it returns."""
        store = self.store
        if store.identity is not None:
            store.identity.content.value()

        def record() -> None:
            try:
                store.save(arrays, state, durable=False)
            except CheckpointError as exc:
                log.warning("%s: completion not recorded: %s", state.kernel, exc)
            finally:
                store.release()

        self._later = record
        self._written(store.next_generation, 0.0)

    def drain(self) -> None:
        """Wait for the write in flight; a failure there is a warning."""
        try:
            self.writer.wait()
        except CheckpointError as exc:
            self._failed(exc)

    def _written(self, generation: int, seconds: float) -> None:
        self.longest_write = max(self.longest_write, seconds)
        self.report.checkpoints += 1
        self.report.generation = generation
        self.report.write_seconds += seconds

    def _failed(self, exc: CheckpointError, why: Stop = INTERVAL) -> None:
        if why.reason is StopReason.COMPLETION:
            warn(
                f"{exc}; the result is returned but not saved: calling again computes it again "
                "from the last checkpoint",
                CheckpointWarning,
            )
        else:
            warn(f"{exc}; the run goes on and tries again at the next interval", CheckpointWarning)
