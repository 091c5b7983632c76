"""A sequential loop whose steps are split over MPI ranks by rows.

Each rank owns a block of rows of the arrays the step's prange loops write (rows
``N r / R .. N (r + 1) / R`` of ``N``, for rank ``r`` of ``R``) and runs, in every step,
the iterations of those rows only (``_bl_split``, rendered from the step by
:mod:`blockloop.transform.split`). After each step it sends the rows its neighbours will
read -- the *halo* the subscripts bound (``u[i - 1, j]``, ``u[i + 1, j]``: one row each
side) -- and receives theirs; where the reads are not bounded, every rank receives every
written row. Statements outside the prange loops run on every rank alike.

A prange reduction inside the step runs, on each rank, the tiles that begin in its block
of rows; the ranks then share the tiles' partials (:func:`share_tiles`, called from the
compiled step through ``numba.objmode``) and each folds all of them in the same fixed
order, so every rank holds one process's bits. The blocks are cut at tile boundaries so
that no tile straddles two ranks. A prange loop that reads beyond its own row what an
earlier loop of the step wrote first receives those rows (:func:`exchange_halo`).

A checkpoint holds each rank's rows of every split array, written by that rank; every
rank reads a checkpoint back whole, so a run stopped on N ranks resumes on M. At the end
every rank receives all rows, so every rank returns what one process returns.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from numba.core.errors import NumbaWarning

from .._errors import BlockingError
from ..operators import tile_for
from ..report import Report
from ..runtime.checkpointer import Checkpointer
from ..runtime.coordinator import Coordinator, Resumed
from ..runtime.kinds import LoopKind
from ..runtime.sequential import SequentialKind
from ..scheduling.policy import Policy
from ..storage.store import Store
from .comm import MPIComm
from .mpi import MPICoordinator
from .rows import RankCheckpointer

__all__ = ["SplitCoordinator", "cut_rows", "exchange_halo", "share_tiles"]

_RUNNING: list[SplitCoordinator] = []  # the coordinator whose step is running, if any
_NAMES = {"min": min, "max": max, "len": len, "abs": abs, "int": int, "np": np, "numpy": np}
"""What the bounds of an in-step reduction may use besides the kernel's own values."""
_GIL_WARNING = "Code running in object mode won't allow parallel execution"
"""numba's warning that the step's exchanges (``objmode``) take the GIL, as they must."""


def cut_rows(n: int, size: int, grids: list[tuple[int, int, int]]) -> list[tuple[int, int]] | None:
    """Each of ``size`` ranks' block of ``n`` rows, as even as the tiles of the step's
    reductions allow (each a first row, a count and a tile): no tile straddles two blocks.
    None if the tiles leave a rank no rows although there are enough."""

    def fits(x: int) -> bool:
        return all(x <= s or x >= s + c or (x - s) % t == 0 for s, c, t in grids)

    cuts = [0]
    for r in range(1, size):
        ideal = n * r // size
        near = (x for d in range(n + 1) for x in (ideal - d, ideal + d) if 0 <= x <= n)
        cuts.append(max(next((x for x in near if fits(x)), cuts[-1]), cuts[-1]))
    cuts.append(n)
    if grids and n >= size and any(a == b for a, b in itertools.pairwise(cuts)):
        return None
    return list(itertools.pairwise(cuts))


def share_tiles(parts: np.ndarray, first: int, last: int, aligned: bool, line: int) -> None:
    """Every rank's rows of tile partials ``parts`` (this rank's: ``first .. last``), in
    place on every rank; called from the compiled step between a reduction's tiles and its
    fold."""
    _RUNNING[-1].share(parts, first, last, aligned, line)


def exchange_halo(buf: np.ndarray) -> None:
    """The rows of ``buf`` near each rank's block that its neighbours wrote, in the middle
    of a step; called from the compiled step."""
    _RUNNING[-1].exchange(buf)


class SplitCoordinator(MPICoordinator):
    """The ranks of ``comm`` run one sequential loop together (see the module docstring)."""

    def __init__(self, comm: MPIComm, report: Report) -> None:
        super().__init__(comm, report)
        self.blocks: list[tuple[int, int]] = []
        self.halo: int | None = 0
        self.written: dict[int, np.ndarray] = {}  # the buffers a step of this call wrote
        self.rows = 0  # the rows of the split arrays
        self.filename = ""

    def checkpointer(
        self, store: Store, report: Report, clock: Callable[[], float]
    ) -> Checkpointer:
        """Every rank writes its rows and reads a checkpoint back whole."""
        single = Checkpointer(store, report, clock)
        return RankCheckpointer(single, self.comm, self.ledger, every_rank_loads=True)

    def resume(self, checkpointer: Checkpointer, kind: LoopKind) -> Resumed | None:
        """Check that the steps split, then load the newest checkpoint on every rank."""
        assert isinstance(kind, SequentialKind)
        self._split(kind)
        resumed = Coordinator.resume(self, checkpointer, kind)
        done = resumed.done if resumed is not None else -1
        self.same_everywhere(checkpointer.run_dir, "checkpoints (steps done, -1: none)", done)
        return resumed

    def _refuse(self, kind: SequentialKind, why: str) -> BlockingError:
        plan = kind.plan
        return BlockingError(
            f"the steps of this loop cannot be spread over {self.size} MPI ranks: {why}; "
            "run it on one rank",
            plan.source.filename,
            plan.line,
            0,
        )

    def _split(self, kind: SequentialKind) -> None:
        """Each rank's block of rows, the halo, and which buffers are saved by rows."""
        split = kind.plan.split
        if split.refusal is not None:
            raise self._refuse(kind, split.refusal)
        values = {**kind.carry, **kind.state}
        written = [values.get(name) for name in split.written]
        by_rows = [values.get(name) for name in split.rows]
        for name in split.outside:
            used = values.get(name)
            if isinstance(used, np.ndarray) and any(
                isinstance(a, np.ndarray) and np.may_share_memory(used, a) for a in by_rows
            ):
                raise self._refuse(
                    kind,
                    f"`{name}` is used outside the step's prange loops (or in the loop's "
                    "test), and each rank holds only its own rows of it",
                )
        rows = {a.shape[0] for a in written if isinstance(a, np.ndarray) and a.ndim}
        if len(rows) != 1 or not all(
            isinstance(a, np.ndarray) and a.ndim and a.flags.c_contiguous for a in written
        ):
            raise self._refuse(
                kind,
                f"the arrays its prange loops write ({', '.join(split.written)}) are not "
                "C-contiguous arrays with one number of rows",
            )
        (n,) = rows
        self.rows, self.filename = n, kind.plan.source.filename
        blocks = cut_rows(n, self.size, self._grids(kind, values))
        if blocks is None:
            raise self._refuse(
                kind,
                "the tiles of its prange reductions do not line up (give every reduction in "
                "the step the same bounds), so the rows cannot be cut between ranks",
            )
        self.blocks = blocks
        self.halo = split.halo
        if self.halo is not None and any(hi - lo < self.halo for lo, hi in self.blocks):
            self.halo = None  # a block thinner than the halo: send every row
        kind.split = {
            j
            for j, b in enumerate(kind.buffers)
            if b.ndim and b.shape[0] == n and b.flags.c_contiguous
        }
        kind.rows = self.blocks[self.rank]

    def _grids(self, kind: SequentialKind, values: dict) -> list[tuple[int, int, int]]:
        """The first row, the count and the tile of each in-step reduction whose tiles
        touch rows of the state, from the bounds as the kernel's values give them."""
        grids = []
        for r in kind.plan.split.reductions:
            if not r.rows:
                continue
            try:
                start, stop = (
                    int(eval(e, {"__builtins__": _NAMES}, values)) for e in (r.start, r.stop)
                )
            except Exception:
                raise self._refuse(
                    kind,
                    f"the bounds of the prange reduction at line {r.line} "
                    f"(`prange({r.start}, {r.stop})`) use values the step computes, and the "
                    "ranks cut their rows at its tiles before the step runs",
                ) from None
            grids.append((start, max(0, stop - start), tile_for(max(0, stop - start))))
        return grids

    def prepare(self, kind: LoopKind, max_units: int) -> int:
        return max_units

    def plan_round(self, policy: Policy, done: int, total: int) -> int:
        """Rank 0's policy decides the steps of every round, for all ranks."""
        return max(1, min(self.agreed_units(policy, done, total), total - done))

    def advance(self, kind: LoopKind, first: int, count: int) -> None:
        """``count`` steps, each on this rank's rows, then the halo exchange."""
        assert isinstance(kind, SequentialKind)
        lo, hi = self.blocks[self.rank]
        names = kind.plan.split.written
        with self._running(), warnings.catch_warnings():  # once a round, not once a step
            warnings.filterwarnings("ignore", _GIL_WARNING, NumbaWarning)
            for k in range(count):
                targets = {id(b): b for b in (kind.state[name] for name in names)}  # this step's
                self.written.update(targets)
                kind.advance_rows(first + k, lo, hi, self.rows)
                t0 = time.perf_counter()
                for buf in targets.values():
                    self._exchange(buf)
                self.report.combine_time += time.perf_counter() - t0
                if kind.stopped:
                    break

    @contextmanager
    def _running(self) -> Iterator[None]:
        _RUNNING.append(self)
        try:
            yield
        finally:
            _RUNNING.pop()

    def share(self, parts: np.ndarray, first: int, last: int, aligned: bool, line: int) -> None:
        """See :func:`share_tiles`. Every rank learns which tiles each computed; if any
        found a tile that straddles its block's edge (the bounds changed since the blocks
        were cut), every rank raises."""
        t0 = time.perf_counter()
        ranges = self.comm.allgather(np.array([first, last, aligned], np.int64))
        if not ranges[:, 2].all():
            raise BlockingError(
                f"the tiles of the prange reduction at line {line} straddle the blocks of "
                f"rows the {self.size} MPI ranks own (its bounds changed since the blocks "
                "were cut); run it on one rank",
                self.filename,
                line,
                0,
            )
        width = parts.shape[1] if parts.ndim == 2 else 1
        self.comm.allgather_rows(parts, ranges[:, 0] * width, (ranges[:, 1] - ranges[:, 0]) * width)
        self.report.bytes_sent += (last - first) * width * parts.itemsize * (self.size - 1)
        self.report.combine_time += time.perf_counter() - t0

    def exchange(self, buf: np.ndarray) -> None:
        """See :func:`exchange_halo`."""
        t0 = time.perf_counter()
        self._exchange(buf)
        self.report.combine_time += time.perf_counter() - t0

    def _exchange(self, buf: np.ndarray) -> None:
        """The rows of ``buf`` others will read: the halo, or every block."""
        if self.halo is None:
            self._everyone(buf)
            return
        h = self.halo
        if h == 0:
            return
        lo, hi = self.blocks[self.rank]
        below = self.rank - 1 if self.rank > 0 else None
        above = self.rank + 1 if self.rank < self.size - 1 else None
        # up: my top rows to the rank above, the rows below my block from the rank below
        self.comm.shift(
            buf[hi - h : hi], above, buf[lo - h : lo] if below is not None else None, below
        )
        # down: my first rows to the rank below, the rows above my block from the rank above
        self.comm.shift(
            buf[lo : lo + h], below, buf[hi : hi + h] if above is not None else None, above
        )
        sent = (above is not None) + (below is not None)
        self.report.bytes_sent += sent * h * (buf.nbytes // max(buf.shape[0], 1))

    def _everyone(self, buf: np.ndarray, gather: str = "all") -> None:
        """Every rank's block of ``buf`` to the ranks ``gather`` names."""
        for rank, (lo, hi) in enumerate(self.blocks):
            if hi > lo:
                self.report.bytes_sent += self.comm.hand_on(buf[lo:hi], rank, gather)

    def finish(self, kind: LoopKind, done: int, gather: str = "all") -> object:
        """Every rank's rows of the buffers this call wrote to the ranks ``gather`` names
        (the others are the same on all: as the prologue made them, or as every rank read
        them back), then the epilogue on each."""
        for buf in self.written.values():
            self._everyone(buf, gather)
        return kind.finish(done)
