"""The driver of one call: prologue, chunks, folds, checkpoints, finish, epilogue.

The driver does no file I/O itself (that is :mod:`blockloop.store`) and no numba
compilation (that is :mod:`blockloop.compile`); it is a short loop over named steps.
"""

from __future__ import annotations

import logging
import mmap
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np
from numba.core import types as nbtypes
from numba.np.numpy_support import as_dtype

from ._errors import BlockingError, CheckpointError, CheckpointWarning, Interrupted
from .policy import Policy
from .progress import Progress
from .report import Report
from .signals import SignalWatch, signal_name
from .store import Checkpoint, Store
from .transform import ReductionLoop, SequentialLoop, epilogue_inputs
from .transform.reductions import REDUCTIONS
from .writer import Writer

__all__ = ["ReductionRun", "SequentialRun", "choose_tile", "refine_mtbf", "retype"]

log = logging.getLogger("blockloop")

STACK_DEPTH = 64
PREFAULT_BYTES = 16 << 20  # state from which snapshot buffers are made ahead of time
DEADLINE = 1 << 20  # stands for "the deadline is near" where a signal number would go
PARTIAL_BUDGET = 64 << 20  # bytes of per-tile partials in one chunk


def choose_tile(count: int, elements: int) -> int:
    """Iterations per tile: a power of two fixed for the whole run.

    Large enough to amortise the per-tile partial (``elements`` accumulator elements) and
    small enough to leave a few hundred tiles for load balancing.
    """
    tile = 1 << 16
    while tile > 64 and count // tile < 512:
        tile >>= 1
    need = 1 << max(0, int(8 * elements - 1).bit_length())
    return max(tile, min(need, 1 << 24))


def retype(value: object, nbtype: object) -> object:
    """Give numba-returned scalars back their exact dtype (numba boxes float32 as float)."""
    if isinstance(nbtype, nbtypes.BaseTuple):
        return tuple(retype(v, t) for v, t in zip(value, nbtype.types, strict=False))  # type: ignore[arg-type]
    if isinstance(nbtype, (nbtypes.Number, nbtypes.Boolean)) and not isinstance(value, np.ndarray):
        return as_dtype(nbtype).type(value)
    return value


def _return_type(dispatcher: object, args: tuple) -> object:
    key = tuple(dispatcher.typeof_pyval(a) for a in args)  # type: ignore[attr-defined]
    return dispatcher.overloads[key].signature.return_type  # type: ignore[attr-defined]


@dataclass
class Accumulated:
    """Run-time facts about one accumulator."""

    name: str
    op: str
    init: object
    dtype: np.dtype
    shape: tuple[int, ...]
    identity: np.generic
    stack: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    partials: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    local: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class RunSettings:
    """Resolved per-call settings (decorator options and environment)."""

    store: Callable[[dict], Store]
    mtbf: float
    interval: float | None
    progress: bool
    exit_code: int
    signals: tuple[int, ...]
    clock: Callable[[], float] = time.perf_counter
    max_tiles: int | None = None
    deadline: float | None = None  # epoch seconds by which the process must have exited
    wall_clock: Callable[[], float] = time.time


def refine_mtbf(prior: float, sessions: list[dict]) -> float:
    """The MTBF in force after this run's own history of sessions.

    A session whose newest checkpoint was an interval checkpoint ended without a signal
    or completion: a failure. With ``k`` failures over ``T`` seconds of recorded exposure,
    the estimate is ``(prior + T) / (1 + k)`` (the prior counts as one failure-free
    observation); with no failure the prior stands.
    """
    failures = sum(1 for s in sessions if s.get("end") == "interval")
    if failures == 0:
        return prior
    exposure = sum(max(0.0, float(s["last"]) - float(s["start"])) for s in sessions)
    return (prior + exposure) / (1 + failures)


class _Run:
    """The driver shared by both loop kinds: chunks of units, checkpoints, signals.

    Subclasses say what a unit is (a tile of a reduction, a step of a sequential loop) and
    provide the steps ``prologue``, ``reset``, ``restore_state``, ``advance``, ``snapshot``
    and ``finish``.
    """

    UNIT = "unit"
    ASYNC = False  # write interval checkpoints on a background thread
    speaks = True  # this process reports for the run (rank 0 under MPI)

    def __init__(
        self,
        plan: ReductionLoop | SequentialLoop,
        module: object,
        args: tuple,
        identity: dict,
        settings: RunSettings,
        report: Report,
    ) -> None:
        self.plan = plan
        self.mod = module
        self.args = args
        self.identity = identity
        self.settings = settings
        self.report = report
        self.done = 0
        self.total = 0
        self.compute_total = 0.0
        self.sessions: list[dict] = []
        self.session = {"start": time.time(), "last": time.time(), "end": "started"}
        self.writer = Writer()
        self.longest_chunk = 0.0
        self.longest_write = 0.0
        self.nbytes = 0  # bytes one checkpoint holds, measured once the state exists

    @property
    def next_key(self) -> str:
        return f"next_{self.UNIT}"

    def call_prologue(self) -> tuple:
        """Run the user's prologue; typing errors name the user's kernel and line."""
        call = (*self.args, 0)
        try:
            out = self.mod._bl_prologue(*call)
        except numba.core.errors.TypingError as exc:
            src = self.plan.source
            raise TypeError(
                f"{src.filename}, line {self.plan.line}: numba cannot compile kernel "
                f"`{self.plan.name}` for these argument types (the same error would stop the "
                f"unblocked kernel): {str(exc).splitlines()[0]} -- see the chained error for "
                "the statement"
            ) from exc
        carry, values, bounds = retype(out, _return_type(self.mod._bl_prologue, call))
        self.carry = dict(zip(self.plan.carry, carry, strict=False))
        self.bounds = tuple(int(b) for b in bounds)
        if self.bounds[2] == 0:
            raise ValueError(f"{self.plan.name}: the loop's step must not be zero")
        return values

    def restore(self, store: Store) -> Checkpoint | None:
        """Load the newest good checkpoint, or reset to the start."""
        self.reset()
        ckpt = store.load()
        if ckpt is None:
            return None
        self.done = int(ckpt.manifest[self.next_key])
        self.restore_state(ckpt, store)
        self.compute_total = float(ckpt.manifest.get("compute_seconds", 0.0))
        self.sessions = list(ckpt.manifest.get("sessions", []))
        return ckpt

    def checkpoint(self, store: Store, policy: Policy, reason: str) -> None:
        """Commit the state; interval checkpoints of large state go to the writer thread.

        Only the time the compute loop is held up (waiting for the previous write, taking
        the snapshot, or a whole synchronous write) is the write cost the policy sees.
        """
        forced = reason != "interval"
        clock = self.settings.clock
        t0 = clock()
        try:
            self.writer.wait()
        except CheckpointError as exc:
            self._write_failed(exc)
        now = time.time()
        self.session.update(last=now, end=reason)
        state = {
            "kernel": self.plan.name,
            self.next_key: self.done,
            f"{self.UNIT}s_total": self.total,
            "complete": self.done >= self.total,
            "reason": reason,
            "compute_seconds": self.compute_total,
            "sessions": [*self.sessions, dict(self.session)][-100:],
            "policy": {
                "write_cost": policy.write_cost,
                "interval": policy.interval,
                "mtbf": policy.mtbf,
            },
        }
        background = self.ASYNC and not forced
        arrays, extra = self.snapshot(copy=background)
        state.update(extra)
        if background:
            self.writer.submit(store.save, arrays, state, self._written)
        else:
            try:
                self._written(*store.save(arrays, state))
            except CheckpointError as exc:
                if forced:
                    raise
                self._write_failed(exc)
        blocked = clock() - t0
        policy.record_write(blocked)
        if not forced:
            self.report.blocked_seconds += blocked
        self.report.write_cost = policy.write_cost
        log.debug("%s: checkpoint at %s %d (%s)", self.plan.name, self.UNIT, self.done, reason)

    def _written(self, generation: int, seconds: float) -> None:
        self.longest_write = max(self.longest_write, seconds)
        self.report.checkpoints += 1
        self.report.generation = generation
        self.report.write_seconds += seconds

    def _write_failed(self, exc: CheckpointError) -> None:
        warnings.warn(
            f"{exc}; the run goes on and tries again at the next interval",
            CheckpointWarning,
            stacklevel=4,
        )

    # -- driver -----------------------------------------------------------------------
    def run(self) -> object:
        settings, report = self.settings, self.report
        clock = settings.clock
        wall0 = clock()
        self.prologue()
        store = self.open_store()
        report.run_dir = str(store.paths.run_dir)
        report.unit = self.UNIT
        report.tiles_total, report.mtbf = self.total, settings.mtbf
        with store:
            ckpt = self.restore(store)
            if ckpt is not None:
                report.resumed_from = self.done
                report.generation = ckpt.generation
                if self.done < self.total:
                    log.info(
                        "%s: resuming at %s %d of %d from %s",
                        self.plan.name,
                        self.UNIT,
                        self.done,
                        self.total,
                        store.paths.manifest(ckpt.generation),
                    )
            mtbf = settings.mtbf
            if settings.interval is None:
                mtbf = refine_mtbf(settings.mtbf, self.sessions)
                if mtbf != settings.mtbf:
                    log.info(
                        "%s: MTBF refined from this run's history: %.0f s", self.plan.name, mtbf
                    )
            report.mtbf = mtbf
            threads = numba.get_num_threads()
            self.nbytes = self.state_bytes()
            max_units = self.allocate(threads)
            # until a write is measured, assume the state blocks the loop at 1 GB/s
            guess = 0.002 + self.nbytes / 1e9
            policy = Policy(mtbf, settings.interval, threads, max_units, initial_cost=guess)
            if ckpt is not None and "policy" in ckpt.manifest:
                policy.write_cost = float(ckpt.manifest["policy"]["write_cost"])
            if self.done >= self.total:
                report.complete = report.already_complete = ckpt is not None
                if ckpt is None:  # empty loop: record the (trivial) completion
                    self.checkpoint(store, policy, "complete")
                    report.complete = True
                report.interval = policy.interval
                report.wall_time = clock() - wall0
                return self.finish()
            self._warm_up(policy)
            bar = Progress(self.shows_progress(), self.plan.name, self.total, self.done, self.UNIT)
            try:
                with SignalWatch(settings.signals) as watch:
                    while self.done < self.total:
                        units = self.next_units(policy)
                        t0 = clock()
                        self.advance(self.done, units)
                        elapsed = clock() - t0
                        self.done += units
                        self.compute_total += elapsed
                        report.chunks += 1
                        report.tiles += units
                        report.compute_time += elapsed
                        policy.record_chunk(units, elapsed)
                        bar.update(units, report.checkpoints)
                        self.longest_chunk = max(self.longest_chunk, elapsed)
                        stop = watch.received
                        if stop is None and self.deadline_near(policy):
                            stop = DEADLINE
                        signum, due = self.agree(stop, policy.due(), policy)
                        if signum is not None and self.done < self.total:
                            self._interrupt(store, policy, signum)
                        if self.done < self.total and due:
                            self.checkpoint(store, policy, "interval")
                            policy.checkpointed()
                    self.checkpoint(store, policy, "complete")
            finally:
                try:
                    self.writer.wait()
                except CheckpointError as exc:
                    self._write_failed(exc)
                bar.close()
                report.interval = policy.interval
                report.write_cost = policy.write_cost if policy.writes_measured else None
                report.wall_time = clock() - wall0
            report.complete = True
            return self.finish()

    # -- hooks a distributed run replaces --------------------------------------------
    def open_store(self) -> Store:
        return self.settings.store(self.identity)

    def shows_progress(self) -> bool:
        return self.settings.progress

    def next_units(self, policy: Policy) -> int:
        """Units in the next chunk."""
        return policy.next_tiles(self.total - self.done)

    def agree(self, signum: int | None, due: bool, policy: Policy) -> tuple[int | None, bool]:
        """After a chunk: the signal to stop for, and whether a checkpoint is due."""
        return signum, due

    def _warm_up(self, policy: Policy) -> None:
        """Compile (or load from cache) the chunk function before timing anything.

        The dispatch overhead is a property of the machine, timed with the real clock.
        """
        self.advance(self.done, 0)
        t0 = time.perf_counter()
        self.advance(self.done, 0)
        policy.dispatch = time.perf_counter() - t0

    def deadline_near(self, policy: Policy) -> bool:
        """True when one more chunk and a synchronous checkpoint might not fit before the
        deadline: the margin is twice the longest chunk, twice the longest (or the
        expected) full write, and two seconds for the process to exit."""
        deadline = self.settings.deadline
        if deadline is None:
            return False
        write = self.longest_write or self.nbytes / 100e6 + 0.05
        margin = 2 * max(self.longest_chunk, policy.chunk_seconds) + 2 * write + 2.0
        return self.settings.wall_clock() + margin >= deadline

    def _interrupt(self, store: Store, policy: Policy, signum: int) -> None:
        what = "deadline" if signum == DEADLINE else signal_name(signum)
        self.report.interrupted_by = what
        self.checkpoint(store, policy, what if signum == DEADLINE else f"signal {what}")
        log.log(
            logging.WARNING if self.speaks else logging.DEBUG,
            "%s: %s; checkpoint saved at %s %d of %d in %s; run again to continue",
            self.plan.name,
            "the deadline is near" if signum == DEADLINE else f"{what} received",
            self.UNIT,
            self.done,
            self.total,
            store.paths.run_dir,
        )
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(
            self.settings.exit_code,
            None if signum == DEADLINE else signum,
            self.done,
            str(store.paths.run_dir),
        )

    def state_bytes(self) -> int:
        """Bytes one checkpoint holds (about)."""
        arrays, _ = self.snapshot(copy=False)
        return sum(a.nbytes for a in arrays.values())

    # -- steps a subclass provides ----------------------------------------------------
    def prologue(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def restore_state(self, ckpt: Checkpoint, store: Store) -> None:
        raise NotImplementedError

    def allocate(self, threads: int) -> int:
        """Prepare per-chunk buffers; return the most units one chunk may hold."""
        raise NotImplementedError

    def advance(self, first: int, count: int) -> None:
        raise NotImplementedError

    def snapshot(self, copy: bool) -> tuple[dict[str, np.ndarray], dict]:
        """The arrays to save and extra manifest entries; ``copy`` detaches them."""
        raise NotImplementedError

    def finish(self) -> object:
        raise NotImplementedError


class ReductionRun(_Run):
    """One call of a blocked reduction kernel: units are tiles of the prange range."""

    UNIT = "tile"

    def prologue(self) -> None:
        """Loop-invariant values, initial accumulators, bounds, tile size."""
        plan = self.plan
        assert isinstance(plan, ReductionLoop)
        inits = self.call_prologue()
        for update in plan.row_updates:
            if np.ndim(self.carry.get(update.name)) > update.rows:
                raise BlockingError(update.message, plan.source.filename, update.line, 0)
        self.count = len(range(*self.bounds))
        self.accs = []
        for acc, init in zip(plan.accumulators, inits, strict=False):
            arr = np.asarray(init)
            reduction = REDUCTIONS[acc.op]
            try:
                ident = reduction.identity(arr.dtype)
            except TypeError as exc:
                raise TypeError(
                    f"{plan.source.filename}, line {acc.line}: `{acc.name}`: {exc}"
                ) from None
            self.accs.append(Accumulated(acc.name, acc.op, init, arr.dtype, arr.shape, ident))
        elements = sum(a.size for a in self.accs)
        self.tile = choose_tile(self.count, elements)
        self.total = -(-self.count // self.tile)
        self.report.tile_size = self.tile
        self.identity.update(
            tile=self.tile,
            range=list(self.bounds),
            accumulators=[[a.name, a.op, a.dtype.str, list(a.shape)] for a in self.accs],
        )

    def reset(self) -> None:
        for a in self.accs:
            a.stack = np.zeros((STACK_DEPTH, max(a.size, 1)), dtype=a.dtype)

    def restore_state(self, ckpt: Checkpoint, store: Store) -> None:
        depth = self.done.bit_count()
        for a in self.accs:
            saved = ckpt.arrays[f"stack_{a.name}"]
            if saved.shape != (depth, max(a.size, 1)):
                raise CheckpointError(
                    f"{store.paths.run_dir}: stack of {a.name} has shape "
                    f"{saved.shape}, expected {(depth, a.size)}"
                )
            a.stack[:depth] = saved

    def allocate(self, threads: int) -> int:
        per_tile = sum(max(a.size, 1) * a.dtype.itemsize for a in self.accs) or 1
        max_tiles = max(threads, min(PARTIAL_BUDGET // per_tile, 1 << 20))
        if self.settings.max_tiles is not None:
            max_tiles = max(1, min(max_tiles, self.settings.max_tiles))
        for a in self.accs:
            a.partials = np.empty((max_tiles, max(a.size, 1)), dtype=a.dtype)
        return max_tiles

    def advance(self, first: int, count: int) -> None:
        """Compute the partials of ``count`` tiles (numba-parallel) and fold them."""
        self._partials(first, count)
        stacks = []
        for a in self.accs:
            stacks += [a.stack, a.partials]
        self.mod._bl_fold(first, count, *stacks)

    def advance_local(self, first: int, count: int) -> None:
        """Compute ``count`` (a power of two) tiles and fold them, from an empty stack, into
        one node: ``a.local[0]`` of each accumulator."""
        self._partials(first, count)
        stacks = []
        for a in self.accs:
            stacks += [a.local, a.partials]
        self.mod._bl_fold(0, count, *stacks)

    def _partials(self, first: int, count: int) -> None:
        extra = []
        for a in self.accs:
            extra += [a.init, a.identity, a.partials]
        inputs = [self.carry[n] for n in self.plan.chunk_inputs]
        self.mod._bl_chunk(*inputs, *extra, self.bounds, first, count, self.tile, self.count)

    def snapshot(self, copy: bool) -> tuple[dict[str, np.ndarray], dict]:
        depth = self.done.bit_count()
        return {f"stack_{a.name}": a.stack[:depth].copy() for a in self.accs}, {}

    def finish(self) -> object:
        """Combine the stacks with the initial values and run the epilogue."""
        stacks = []
        for a in self.accs:
            stacks += [a.init, a.stack]
        results = self.mod._bl_finish(self.done, *stacks)
        values = dict(self.carry)
        for a, flat in zip(self.accs, results, strict=False):
            if isinstance(a.init, np.ndarray):
                a.init[...] = flat.reshape(a.shape)
                values[a.name] = a.init
            else:
                values[a.name] = flat[0]
        if not self.plan.epilogue:
            return None
        return self.mod._bl_epilogue(*[values[n] for n in epilogue_inputs(self.plan)])


_SCALARS = (bool, int, float, complex, np.bool_, np.number)


def _buffer_key(a: np.ndarray) -> tuple:
    return (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)


class SequentialRun(_Run):
    """One call of a sequential loop: units are steps; the state is saved between them.

    The arrays the prologue hands to the loop (arguments included) are the run's buffers.
    A checkpoint saves every buffer and, for each state variable, which buffer it names
    (``u, v = v, u`` swaps them), a value, or an array of its own. A resume runs the
    prologue again, copies the saved contents into its buffers (so an argument array
    ends as it would have after an uninterrupted run) and rebinds the names.
    """

    UNIT = "step"
    ASYNC = True

    def prologue(self) -> None:
        plan = self.plan
        assert isinstance(plan, SequentialLoop)
        values = self.call_prologue()
        self.total = len(range(*self.bounds))
        self.state = dict(zip(plan.state, values, strict=False))
        self.buffers: list[np.ndarray] = []
        keys: dict[tuple, int] = {}
        described = []
        for name, value in self.state.items():
            if isinstance(value, np.ndarray) and not value.dtype.hasobject:
                key = _buffer_key(value)
                if key not in keys:
                    keys[key] = len(self.buffers)
                    self.buffers.append(value)
                described.append([name, "array", value.dtype.str, list(value.shape)])
            elif isinstance(value, _SCALARS):
                described.append([name, "value", np.asarray(value).dtype.str, []])
            else:
                raise BlockingError(
                    f"`{name}` is carried from one step to the next and holds a "
                    f"{type(value).__name__}, which blockloop cannot checkpoint; carry arrays "
                    "and numbers only",
                    plan.source.filename,
                    plan.bindings.get(name, plan.line),
                    0,
                )
        self._snap: dict[str, np.ndarray] = {}
        self._prefault: threading.Thread | None = None
        self._steps_type = None
        self.report.tile_size = 1
        self.identity.update(range=list(self.bounds), state=described)

    def reset(self) -> None:
        pass

    def restore_state(self, ckpt: Checkpoint, store: Store) -> None:
        arrays = ckpt.arrays
        for j, buf in enumerate(self.buffers):
            saved = arrays.get(f"buf_{j}")
            if saved is None or saved.shape != buf.shape or saved.dtype != buf.dtype:
                raise CheckpointError(f"{store.paths.run_dir}: buffer {j} does not match the run")
            np.copyto(buf, saved)
        for name, where in ckpt.manifest["bind"].items():
            if where.startswith("buf_"):
                self.state[name] = self.buffers[int(where[4:])]
            elif where.startswith("val_"):
                self.state[name] = arrays[where][()]
            else:
                self.state[name] = arrays[where]

    def allocate(self, threads: int) -> int:
        """Make the snapshot buffers on a thread while the loop computes, touching every page,
        so that the first interval checkpoint copies into memory that is already there."""
        if self.nbytes >= PREFAULT_BYTES:
            self._prefault = threading.Thread(
                target=self._make_snapshot_buffers, name="blockloop-prefault", daemon=True
            )
            self._prefault.start()
        return 1 << 40

    def _make_snapshot_buffers(self) -> None:
        for j, buf in enumerate(self.buffers):
            snap = np.empty(buf.shape, buf.dtype)
            flat = snap.reshape(-1).view(np.uint8)
            flat[:: mmap.PAGESIZE] = 0  # first touch: the page faults happen here
            self._snap[f"buf_{j}"] = snap

    def advance(self, first: int, count: int) -> None:
        plan = self.plan
        call = (
            *[self.carry[n] for n in plan.invariants],
            *[self.state[n] for n in plan.state],
            self.bounds,
            first,
            count,
        )
        out = self.mod._bl_steps(*call)
        if self._steps_type is None:
            self._steps_type = _return_type(self.mod._bl_steps, call)
        self.state = dict(zip(plan.state, retype(out, self._steps_type), strict=False))

    def snapshot(self, copy: bool) -> tuple[dict[str, np.ndarray], dict]:
        keys = {_buffer_key(b): j for j, b in enumerate(self.buffers)}
        arrays = {f"buf_{j}": b for j, b in enumerate(self.buffers)}
        bind = {}
        for name, value in self.state.items():
            if isinstance(value, np.ndarray):
                j = keys.get(_buffer_key(value))
                if j is not None:
                    bind[name] = f"buf_{j}"
                    continue
                bind[name] = f"own_{name}"
                arrays[bind[name]] = value
            else:
                bind[name] = f"val_{name}"
                arrays[bind[name]] = np.asarray(value)
        if copy:
            if self._prefault is not None:
                self._prefault.join()
                self._prefault = None
            arrays = {k: self._copy(k, a) for k, a in arrays.items()}
        return arrays, {"bind": bind}

    def _copy(self, key: str, a: np.ndarray) -> np.ndarray:
        """Copy into a snapshot buffer reused from one checkpoint to the next."""
        snap = self._snap.get(key)
        if snap is None or snap.shape != a.shape or snap.dtype != a.dtype:
            snap = self._snap[key] = np.empty(a.shape, a.dtype)
        np.copyto(snap, a)
        return snap

    def finish(self) -> object:
        plan = self.plan
        if not plan.epilogue:
            return None
        values = {**self.carry, **self.state}
        return self.mod._bl_epilogue(*[values[n] for n in plan.epilogue_inputs])
