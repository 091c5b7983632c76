"""The driver of one call: prologue, chunks, folds, checkpoints, finish, epilogue.

The driver does no file I/O itself (that is :mod:`blockloop.store`) and no numba
compilation (that is :mod:`blockloop.compile`); it is a short loop over named steps.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np
from numba.core import types as nbtypes
from numba.np.numpy_support import as_dtype

from ._errors import CheckpointError, Interrupted
from .policy import Policy
from .progress import Progress
from .report import Report
from .signals import SignalWatch, signal_name
from .store import Checkpoint, Store
from .transform import ReductionLoop, epilogue_inputs
from .transform.reductions import REDUCTIONS

__all__ = ["ReductionRun", "choose_tile", "retype"]

log = logging.getLogger("blockloop")

STACK_DEPTH = 64
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


class ReductionRun:
    """One call of a blocked reduction kernel."""

    def __init__(
        self,
        plan: ReductionLoop,
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
        self.next_tile = 0
        self.compute_total = 0.0
        self.restarts: list[dict] = []

    # -- steps ----------------------------------------------------------------------
    def prologue(self) -> None:
        """Run the user's prologue: loop-invariant values, initial accumulators, bounds."""
        call = (*self.args, 0)
        try:
            carry, inits, bounds = self.mod._bl_prologue(*call)
        except numba.core.errors.TypingError as exc:
            src = self.plan.source
            raise TypeError(
                f"{src.filename}, line {self.plan.line}: numba cannot compile kernel "
                f"`{self.plan.name}` for these argument types (the same error would stop the "
                f"unblocked kernel): {str(exc).splitlines()[0]} -- see the chained error for "
                "the statement"
            ) from exc
        rtype = _return_type(self.mod._bl_prologue, call)
        carry, inits, bounds = retype((carry, inits, bounds), rtype)
        self.carry = dict(zip(self.plan.carry, carry, strict=False))
        self.bounds = tuple(int(b) for b in bounds)
        if self.bounds[2] == 0:
            raise ValueError(f"{self.plan.name}: prange step must not be zero")
        self.count = len(range(*self.bounds))
        self.accs = []
        for acc, init in zip(self.plan.accumulators, inits, strict=False):
            arr = np.asarray(init)
            reduction = REDUCTIONS[acc.op]
            try:
                ident = reduction.identity(arr.dtype)
            except TypeError as exc:
                raise TypeError(
                    f"{self.plan.source.filename}, line {acc.line}: `{acc.name}`: {exc}"
                ) from None
            self.accs.append(Accumulated(acc.name, acc.op, init, arr.dtype, arr.shape, ident))
        elements = sum(a.size for a in self.accs)
        self.tile = choose_tile(self.count, elements)
        self.ntiles = -(-self.count // self.tile)
        self.identity.update(
            tile=self.tile,
            range=list(self.bounds),
            accumulators=[[a.name, a.op, a.dtype.str, list(a.shape)] for a in self.accs],
        )

    def restore(self, store: Store) -> Checkpoint | None:
        """Load the newest good checkpoint into the stacks, or start from tile 0."""
        for a in self.accs:
            a.stack = np.zeros((STACK_DEPTH, max(a.size, 1)), dtype=a.dtype)
        ckpt = store.load()
        if ckpt is None:
            return None
        self.next_tile = int(ckpt.manifest["next_tile"])
        depth = self.next_tile.bit_count()
        for a in self.accs:
            saved = ckpt.arrays[f"stack_{a.name}"]
            if saved.shape != (depth, max(a.size, 1)):
                raise CheckpointError(
                    f"{store.paths.run_dir}: stack of {a.name} has shape "
                    f"{saved.shape}, expected {(depth, a.size)}"
                )
            a.stack[:depth] = saved
        self.compute_total = float(ckpt.manifest.get("compute_seconds", 0.0))
        self.restarts = list(ckpt.manifest.get("restarts", []))
        return ckpt

    def allocate(self, max_tiles: int) -> None:
        for a in self.accs:
            a.partials = np.empty((max_tiles, max(a.size, 1)), dtype=a.dtype)

    def chunk(self, first: int, tiles: int) -> None:
        """Compute the partials of tiles ``first .. first + tiles`` (numba-parallel)."""
        extra = []
        for a in self.accs:
            extra += [a.init, a.identity, a.partials]
        inputs = [self.carry[n] for n in self.plan.chunk_inputs]
        self.mod._bl_chunk(*inputs, *extra, self.bounds, first, tiles, self.tile, self.count)

    def fold(self, first: int, tiles: int) -> None:
        """Push the chunk's partials on the pairwise stacks."""
        stacks = []
        for a in self.accs:
            stacks += [a.stack, a.partials]
        self.mod._bl_fold(first, tiles, *stacks)

    def snapshot(self) -> dict[str, np.ndarray]:
        depth = self.next_tile.bit_count()
        return {f"stack_{a.name}": a.stack[:depth].copy() for a in self.accs}

    def checkpoint(self, store: Store, policy: Policy, reason: str) -> None:
        state = {
            "kernel": self.plan.name,
            "next_tile": self.next_tile,
            "tiles_total": self.ntiles,
            "complete": self.next_tile >= self.ntiles,
            "reason": reason,
            "compute_seconds": self.compute_total,
            "restarts": self.restarts[-100:],
            "policy": {
                "write_cost": policy.write_cost,
                "interval": policy.interval,
                "mtbf": policy.mtbf,
            },
        }
        generation, seconds = store.save(self.snapshot(), state)
        policy.record_write(seconds)
        self.report.checkpoints += 1
        self.report.generation = generation
        self.report.write_cost = policy.write_cost
        log.debug(
            "%s: checkpoint %d at tile %d (%s, %.2f ms)",
            self.plan.name,
            generation,
            self.next_tile,
            reason,
            seconds * 1e3,
        )

    def finish(self) -> object:
        """Combine the stacks with the initial values and run the epilogue."""
        stacks = []
        for a in self.accs:
            stacks += [a.init, a.stack]
        results = self.mod._bl_finish(self.next_tile, *stacks)
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

    # -- driver -----------------------------------------------------------------------
    def run(self) -> object:
        settings, report = self.settings, self.report
        clock = settings.clock
        wall0 = clock()
        self.prologue()
        store = settings.store(self.identity)
        report.run_dir = str(store.paths.run_dir)
        report.tiles_total, report.tile_size, report.mtbf = self.ntiles, self.tile, settings.mtbf
        with store:
            ckpt = self.restore(store)
            if ckpt is not None:
                report.resumed_from = self.next_tile
                report.generation = ckpt.generation
                if self.next_tile < self.ntiles:
                    self.restarts.append({"time": time.time(), "tile": self.next_tile})
                    log.info(
                        "%s: resuming at tile %d of %d from %s",
                        self.plan.name,
                        self.next_tile,
                        self.ntiles,
                        store.paths.manifest(ckpt.generation),
                    )
            threads = numba.get_num_threads()
            per_tile = sum(max(a.size, 1) * a.dtype.itemsize for a in self.accs) or 1
            max_tiles = max(threads, min(PARTIAL_BUDGET // per_tile, 1 << 20))
            if settings.max_tiles is not None:
                max_tiles = max(1, min(max_tiles, settings.max_tiles))
            policy = Policy(settings.mtbf, settings.interval, threads, max_tiles)
            if ckpt is not None and "policy" in ckpt.manifest:
                policy.write_cost = float(ckpt.manifest["policy"]["write_cost"])
            self.allocate(max_tiles)
            if self.next_tile >= self.ntiles:
                report.complete = report.already_complete = ckpt is not None
                if ckpt is None:  # empty loop: record the (trivial) completion
                    self.checkpoint(store, policy, "complete")
                    report.complete = True
                report.interval = policy.interval
                report.wall_time = clock() - wall0
                return self.finish()
            self._warm_up(policy)
            bar = Progress(settings.progress, self.plan.name, self.ntiles, self.next_tile)
            since = 0.0
            try:
                with SignalWatch(settings.signals) as watch:
                    while self.next_tile < self.ntiles:
                        tiles = policy.next_tiles(self.ntiles - self.next_tile)
                        t0 = clock()
                        self.chunk(self.next_tile, tiles)
                        self.fold(self.next_tile, tiles)
                        elapsed = clock() - t0
                        self.next_tile += tiles
                        self.compute_total += elapsed
                        since += elapsed
                        report.chunks += 1
                        report.tiles += tiles
                        report.compute_time += elapsed
                        policy.record_chunk(tiles, elapsed)
                        bar.update(tiles, report.checkpoints)
                        if watch.received is not None and self.next_tile < self.ntiles:
                            self._interrupt(store, policy, watch.received)
                        if self.next_tile < self.ntiles and policy.due(since):
                            self.checkpoint(store, policy, "interval")
                            since = 0.0
                    self.checkpoint(store, policy, "complete")
            finally:
                bar.close()
                report.interval = policy.interval
                report.write_cost = policy.write_cost if policy.writes_measured else None
                report.wall_time = clock() - wall0
            report.complete = True
            return self.finish()

    def _warm_up(self, policy: Policy) -> None:
        """Compile (or load from cache) the chunk and fold before timing anything."""
        self.chunk(0, 0)
        self.fold(0, 0)
        t0 = self.settings.clock()
        self.chunk(0, 0)
        policy.dispatch = self.settings.clock() - t0

    def _interrupt(self, store: Store, policy: Policy, signum: int) -> None:
        self.report.interrupted_by = signal_name(signum)
        self.checkpoint(store, policy, f"signal {signal_name(signum)}")
        log.warning(
            "%s: %s received; checkpoint saved at tile %d of %d in %s; run again to continue",
            self.plan.name,
            signal_name(signum),
            self.next_tile,
            self.ntiles,
            store.paths.run_dir,
        )
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(self.settings.exit_code, signum, self.next_tile, str(store.paths.run_dir))
