"""A sequential loop whose steps are split over MPI ranks by rows.

Each rank owns a block of rows of the arrays the step's prange loops write (rows
``N r / R .. N (r + 1) / R`` of ``N``, for rank ``r`` of ``R``) and runs, in every step,
the iterations of those rows only (``_bl_split``, rendered from the step by
:mod:`blockloop.transform.split`). After each step it sends the rows its neighbours will
read -- the *halo* the subscripts bound (``u[i - 1, j]``, ``u[i + 1, j]``: one row each
side) -- and receives theirs; where the reads are not bounded, every rank receives every
written row. Statements outside the prange loops run on every rank alike.

A checkpoint holds each rank's rows of every split array, written by that rank; every
rank reads a checkpoint back whole, so a run stopped on N ranks resumes on M. At the end
every rank receives all rows, so every rank returns what one process returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .._errors import BlockingError
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

__all__ = ["SplitCoordinator"]


class SplitCoordinator(MPICoordinator):
    """The ranks of ``comm`` run one sequential loop together (see the module docstring)."""

    def __init__(self, comm: MPIComm, report: Report) -> None:
        super().__init__(comm, report)
        self.blocks: list[tuple[int, int]] = []
        self.halo: int | None = 0
        self.written: dict[int, np.ndarray] = {}  # the buffers a step of this call wrote

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
        for name in split.outside:
            if isinstance(values.get(name), np.ndarray):
                raise self._refuse(
                    kind,
                    f"`{name}` is an array used outside the step's prange loops (or in the "
                    "loop's test), and each rank holds only its own rows of it",
                )
        written = [values.get(name) for name in split.written]
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
        self.blocks = [(n * r // self.size, n * (r + 1) // self.size) for r in range(self.size)]
        self.halo = split.halo
        if self.halo is not None and any(hi - lo < self.halo for lo, hi in self.blocks):
            self.halo = None  # a block thinner than the halo: send every row
        kind.split = {
            j
            for j, b in enumerate(kind.buffers)
            if b.ndim and b.shape[0] == n and b.flags.c_contiguous
        }
        kind.rows = self.blocks[self.rank]

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
        for k in range(count):
            targets = {id(b): b for b in (kind.state[name] for name in names)}  # this step's
            self.written.update(targets)
            kind.advance_rows(first + k, lo, hi)
            t0 = time.perf_counter()
            for buf in targets.values():
                self._exchange(buf)
            self.report.combine_time += time.perf_counter() - t0
            if kind.stopped:
                break

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

    def _everyone(self, buf: np.ndarray) -> None:
        """Every rank's block of ``buf`` to every rank."""
        for rank, (lo, hi) in enumerate(self.blocks):
            if hi > lo:
                self.comm.bcast_array(buf[lo:hi], root=rank)
                if rank == self.rank:
                    self.report.bytes_sent += buf[lo:hi].nbytes * (self.size - 1)

    def finish(self, kind: LoopKind, done: int) -> object:
        """Every rank's rows of the buffers this call wrote to every rank (the others are
        the same on all: as the prologue made them, or as every rank read them back), then
        the epilogue on each."""
        for buf in self.written.values():
            self._everyone(buf)
        return kind.finish(done)
