"""The reduction loop kind: units are tiles, the state is each accumulator's fold stack."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba.core.errors import NumbaError

from .._errors import BlockingError, CheckpointError
from ..numerics.exact import WIDTH
from ..numerics.marks import MAX_ITERATIONS
from ..operators import EXACT_OPS, REDUCTIONS
from ..scheduling.policy import TILES_PER_THREAD
from ..storage.manifest import Manifest
from ..storage.pieces import PieceSet
from ..storage.store import Checkpoint
from ..transform import ReductionLoop
from .kinds import LoopKind
from .saved import ChangedBlocks, MapRows, SavedArray
from .verdicts import inspected_key, remember

__all__ = ["PARTIAL_BUDGET", "STACK_DEPTH", "Accumulated", "ReductionKind", "choose_tile"]

STACK_DEPTH = 64
EXACT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
"""The dtypes ``exact=True`` sums exactly (with :data:`EXACT_OPS`); other accumulators
are folded as without it."""
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


@dataclass
class Accumulated:
    """Run-time facts about one accumulator, and its buffers."""

    name: str
    op: str
    init: Any
    dtype: np.dtype
    shape: tuple[int, ...]
    identity: np.generic
    exact: bool = False
    stack: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    partials: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    local: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def width(self) -> int:
        """Elements of one stack row or partial (at least one, for scalars; an exact sum
        takes :data:`~blockloop.numerics.exact.WIDTH` int64 slots per element)."""
        return max(self.size, 1) * (WIDTH if self.exact else 1)

    @property
    def row_dtype(self) -> np.dtype:
        """The dtype of stack rows and partials: int64 for an exact sum."""
        return np.dtype(np.int64) if self.exact else self.dtype

    @property
    def mode(self) -> int | None:
        """What the generated ``_bl_x*`` helpers are told: exact (WIDTH) or not (None)."""
        return WIDTH if self.exact else None


class ReductionKind(LoopKind):
    """A blocked prange reduction: each tile a partial, folded by a fixed pairwise tree."""

    unit = "tile"
    plan: ReductionLoop

    def prologue(self) -> dict[str, Any]:
        """Loop-invariant values, initial accumulators, bounds, tile size."""
        plan = self.plan
        inits = self.call_prologue()
        self.saved = self._saved_arrays()
        # the rows a map finished never change again: their segments are written on the
        # writer thread while the next chunks compute
        self.asynchronous = any(isinstance(s, MapRows) for s in self.saved)
        self.count = len(range(*self.bounds))
        self.accs: list[Accumulated] = []
        for acc, init in zip(plan.accumulators, inits, strict=False):
            if not isinstance(init, (np.ndarray, np.generic, bool, int, float, complex)):
                raise BlockingError(
                    f"`{acc.name}` holds a {type(init).__name__}, not a number or an array, "
                    "so it cannot be a reduction accumulator (an argmin through a namedtuple "
                    "or a class cannot be folded); reduce the value here "
                    "(`m = min(m, a[i])`) and find its index in a second loop",
                    plan.source.filename,
                    acc.line,
                    0,
                )
            arr = np.asarray(init)
            try:
                ident = REDUCTIONS[acc.op].identity(arr.dtype)
            except TypeError as exc:
                raise TypeError(
                    f"{plan.source.filename}, line {acc.line}: `{acc.name}`: {exc}"
                ) from None
            exact = plan.exact and acc.op in EXACT_OPS and arr.dtype in EXACT_DTYPES
            self.accs.append(
                Accumulated(acc.name, acc.op, init, arr.dtype, arr.shape, ident, exact)
            )
        self.tile = choose_tile(self.count, sum(a.size for a in self.accs))
        self.total = -(-self.count // self.tile)
        self.report.tile_size = self.tile
        facts: dict[str, Any] = {
            "tile": self.tile,
            "range": list(self.bounds),
            "accumulators": [[a.name, a.op, a.dtype.str, list(a.shape)] for a in self.accs],
        }
        if any(a.exact for a in self.accs):
            facts["exact"] = [a.name for a in self.accs if a.exact]
        if self.saved:
            facts["saved"] = [
                [s.name, s.kind, s.array.dtype.str, list(s.array.shape)] for s in self.saved
            ]
        return facts

    def _saved_arrays(self) -> list[SavedArray]:
        """A tracker for each array the loop writes: the rows of a map, or the blocks of an
        array written anywhere (also a row updated through ``t = x[i]; t += 1`` when ``x``
        turns out to have more dimensions than indices)."""
        plan = self.plan
        blocks = list(plan.blocks)
        for update in plan.row_updates:
            value: Any = self.carry.get(update.name)
            if np.ndim(value) > update.rows and update.name not in blocks:
                if update.carried_read:
                    raise BlockingError(
                        update.carried_read, plan.source.filename, update.read_line, 0
                    )
                blocks.append(update.name)
        saved: list[SavedArray] = []
        for name in [*plan.maps, *blocks]:
            value = self.carry.get(name)
            if isinstance(value, (int, float, complex, np.generic)) and name not in plan.maps:
                continue  # ``right = n; right *= k`` rebinds a number: nothing to save
            if not isinstance(value, np.ndarray):
                raise BlockingError(
                    f"the loop writes into `{name}`, a {type(value).__name__}; blockloop "
                    "saves NumPy arrays only: make it an array",
                    plan.source.filename,
                    plan.store_line(name),
                    0,
                )
            if name in plan.maps and MapRows.fits(value, self.bounds):
                saved.append(MapRows(name, value, self.bounds[0]))
            else:
                saved.append(ChangedBlocks(name, value))
        return saved

    def reset(self) -> None:
        for a in self.accs:
            a.stack = np.zeros((STACK_DEPTH, a.width), dtype=a.row_dtype)

    def restore(self, ckpt: Checkpoint, done: int) -> None:
        depth = done.bit_count()
        for a in self.accs:
            saved = ckpt.arrays.get(f"stack_{a.name}")
            if saved is None or saved.shape != (depth, a.width):
                raise CheckpointError(
                    f"the stack of {a.name} has shape {getattr(saved, 'shape', None)}, "
                    f"expected {(depth, a.width)}"
                )
            if saved.dtype != a.stack.dtype:  # never cast: another dtype is another run
                raise CheckpointError(
                    f"the stack of {a.name} is {saved.dtype}, expected {a.stack.dtype}"
                )
            a.stack[:depth] = saved
        for tracker in self.saved:
            parts = ckpt.pieces.get(tracker.name)
            pieces = ckpt.manifest.state.pieces.get(tracker.name)
            if parts is None or pieces is None:
                raise CheckpointError(f"`{tracker.name}` is not in the checkpoint")
            tracker.restore(pieces, parts)
            if isinstance(tracker, MapRows) and tracker.pieces:
                if tracker.pieces[-1].stop != tracker.end_of(self.rows_done(done)):
                    raise CheckpointError(f"the saved rows of `{tracker.name}` end elsewhere")

    def allocate(self, threads: int) -> int:
        per_tile = sum(a.width * a.row_dtype.itemsize for a in self.accs) or 1
        # the budget, but room for TILES_PER_THREAD tiles per thread (numba's own reduction
        # holds a copy of the accumulators per thread) and never more than the run has
        budget = max(TILES_PER_THREAD * threads, min(PARTIAL_BUDGET // per_tile, 1 << 20))
        max_tiles = max(1, min(budget, self.total))
        for a in self.accs:
            a.partials = np.empty((max_tiles, a.width), dtype=a.row_dtype)
        self.inspect()
        return max_tiles

    def inspect(self) -> None:
        """Refuse the call where two iterations touch one element of an inspected array
        and either writes it (:mod:`~blockloop.transform.inspection`), before any runs."""
        plan, inspected = self.plan, self.plan.inspected
        if inspected is None:
            return
        arrays = {name: np.asarray(self.carry.get(name)) for name in inspected.arrays}
        where = plan.source.filename
        names = ", ".join(f"`{n}`" for n in inspected.arrays)
        why = "an exact sum" if any(a.exact for a in self.accs) else ""
        if self.count >= MAX_ITERATIONS:
            why = f"the pass counts at most {MAX_ITERATIONS - 1} iterations"
        for name, fewest in zip(inspected.arrays, inspected.loads, strict=True):
            if fewest is not None and arrays[name].ndim > fewest:
                why = f"it reads `{name}` a row at a time, a view"
        hit, values = None, self._chunk_values(0, 0)
        key = inspected_key(values, inspected.reads, inspected.written)
        if not why and key is not None and key in self.gen.inspected:
            self.report.inspection = "reused"
            return
        if not why:
            try:
                hit = self.gen("_bl_inspect", values)
            except NumbaError as exc:  # an index of another type than an integer, say
                why = f"numba could not compile it: {str(exc).strip().splitlines()[0]}"
            self.report.inspection = "ran"
        if hit is None:
            raise plan.source.error(
                plan.store_node(inspected.arrays[0]),
                f"the loop finds the elements of {names} it reads and writes by computing "
                "their indices, which blockloop checks in a pass of its own before the loop "
                f"runs; it cannot here ({why}). Read a copy made before the loop, or index "
                "by the loop variable",
            )
        if hit[0] < 0:
            if key is not None:
                remember(self.gen.inspected, key)
            return
        name = inspected.arrays[hit[0]]
        start, _, step = self.bounds
        shape = arrays[name].shape
        if hit[1] == -2:
            raise IndexError(
                f"{where}, line {plan.store_line(name)}: iteration `{plan.index} = "
                f"{start + int(hit[3]) * step}` indexes `{name}` outside its axis "
                f"{int(hit[2])} (of length {shape[int(hit[2])]}); nothing has run"
            )
        element = ", ".join(str(int(k)) for k in np.unravel_index(int(hit[1]), shape))
        first, second = (start + int(k) * step for k in hit[2:4])
        raise plan.source.error(
            plan.store_node(name),
            f"iterations `{plan.index} = {first}` and `{plan.index} = {second}` both touch "
            f"`{name}[{element}]`, and one of them writes it: the result would depend on "
            "which runs first (a race, in plain numba too). Make each iteration read and "
            "write only elements no other iteration writes",
        )

    def advance(self, first: int, count: int) -> None:
        """Compute the partials of ``count`` tiles (numba-parallel) and fold them."""
        self.partials(first, count)
        self.fold(first, count, {a.name: a.stack for a in self.accs})

    def advance_local(self, first: int, count: int) -> None:
        """Compute ``count`` (a power of two) tiles and fold them, from an empty stack, into
        one node: ``a.local[0]`` of each accumulator."""
        self.partials(first, count)
        self.fold(0, count, {a.name: a.local for a in self.accs})

    def ready(self) -> bool:
        return self.gen.compiled("_bl_chunk", self._chunk_values(0, 0))

    def partials(self, first: int, count: int) -> None:
        """One partial per tile of ``first .. first + count``, in ``a.partials``."""
        self.gen("_bl_chunk", self._chunk_values(first, count))

    def _chunk_values(self, first: int, count: int) -> dict[str, object]:
        values: dict[str, object] = dict(self.carry)
        for a in self.accs:
            values.update(
                {f"_bl_init_{a.name}": a.init, f"_bl_id_{a.name}": a.identity},
            )
            values[f"_bl_p_{a.name}"] = a.partials
            values[f"_bl_xm_{a.name}"] = a.mode
        values.update(
            _bl_range=self.bounds,
            _bl_first=first,
            _bl_tiles=count,
            _bl_tile=self.tile,
            _bl_count=self.count,
        )
        return values

    def fold(
        self,
        done: int,
        count: int,
        stacks: dict[str, np.ndarray],
        nodes: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Push ``count`` nodes (the partials by default) on ``stacks`` after ``done``."""
        values: dict[str, object] = {"_bl_done": done, "_bl_tiles": count}
        for a in self.accs:
            values[f"_bl_s_{a.name}"] = stacks[a.name]
            values[f"_bl_p_{a.name}"] = a.partials if nodes is None else nodes[a.name]
            values[f"_bl_xm_{a.name}"] = a.mode
        self.gen("_bl_fold", values)

    def snapshot(self, done: int, copy: bool) -> tuple[dict[str, np.ndarray], dict | None]:
        depth = done.bit_count()
        return {f"stack_{a.name}": a.stack[:depth].copy() for a in self.accs}, None

    def rows_done(self, done: int) -> int:
        """Iterations finished by the first ``done`` tiles."""
        return min(done * self.tile, self.count)

    def pieces(self, done: int, copy: bool) -> tuple[dict[str, np.ndarray], dict[str, PieceSet]]:
        arrays: dict[str, np.ndarray] = {}
        sets: dict[str, PieceSet] = {}
        for tracker in self.saved:
            upto = tracker.end_of(self.rows_done(done)) if isinstance(tracker, MapRows) else 0
            entries, sets[tracker.name] = tracker.snapshot(upto, copy)
            arrays.update(entries)
        return arrays, sets

    def committed(self, manifest: Manifest) -> None:
        for tracker in self.saved:
            tracker.adopt(manifest.state.pieces[tracker.name])

    def state_bytes(self, done: int) -> int:
        """Bytes a checkpoint holds the compute loop for: the stacks and the arrays saved
        by blocks (a map's segments are written in the background)."""
        blocks = sum(t.array.nbytes for t in self.saved if not isinstance(t, MapRows))
        return super().state_bytes(done) + blocks

    def finish(self, done: int) -> object:
        """Combine the stacks with the initial values and run the epilogue."""
        values: dict[str, object] = {"_bl_done": done}
        for a in self.accs:
            values[f"_bl_init_{a.name}"] = a.init
            values[f"_bl_s_{a.name}"] = a.stack
            values[f"_bl_xm_{a.name}"] = a.mode
        results = self.gen("_bl_finish", values)
        values = dict(self.carry)
        for a, flat in zip(self.accs, results, strict=False):
            if isinstance(a.init, np.ndarray):
                a.init[...] = flat.reshape(a.shape)
                values[a.name] = a.init
            else:
                values[a.name] = flat[0]
        return self.epilogue(values)
