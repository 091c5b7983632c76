"""A reduction spread over MPI ranks, with the bits of a single-process run.

Each round, every rank computes an aligned, contiguous segment of tiles -- ``2**m`` tiles
starting at a multiple of ``2**m``, the segments of a round following each other in rank
order -- and folds it into one node: the pairwise sum of its tiles, with the same tree
shape the single-process fold gives those tiles. The nodes are gathered to every rank and
pushed, in rank order, on each rank's copy of the binary-counter stack as nodes of height
``m`` -- exactly the carries the single-process fold would have made. So every rank holds
the same global state after each round, rank 0 writes it with the ordinary commit
protocol, and a checkpoint written under any number of ranks resumes under any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from .._errors import BlockingError, CheckpointError
from ..report import Report
from ..runtime.checkpointer import Checkpointer
from ..runtime.coordinator import Coordinator, Resumed
from ..runtime.kinds import LoopKind
from ..runtime.reduction import STACK_DEPTH, ReductionKind
from ..runtime.saved import MapRows
from ..runtime.stops import Stop
from ..scheduling.policy import Policy
from ..storage.manifest import Session
from ..storage.store import Store
from .comm import MPIComm
from .rows import RankCheckpointer, RowLedger, exchange_rows, receive_rows

__all__ = ["MPICoordinator", "plan_segments"]


def _floor_pow2(n: int) -> int:
    return 1 << (max(n, 1).bit_length() - 1)


def plan_segments(done: int, total: int, want: int, ranks: int) -> list[tuple[int, int]]:
    """``(start, count)`` of each rank's segment in the round that starts at tile ``done``.

    Segments follow each other from ``done``; each is a power of two (at most ``want``,
    itself a power of two) and starts at a multiple of its length; ranks past the end get
    ``count == 0``.
    """
    segments = []
    pos = done
    for _ in range(ranks):
        count = min(want, pos & -pos) if pos else want
        count = _floor_pow2(min(count, total - pos)) if pos < total else 0
        segments.append((pos, count))
        pos += count
    return segments


class MPICoordinator(Coordinator):
    """The ranks of ``comm`` run one reduction together (see the module docstring)."""

    def __init__(self, comm: MPIComm, report: Report) -> None:
        self.comm = comm
        self.rank, self.size = comm.rank, comm.size
        self._agreed = 0
        self._segments: list[tuple[int, int]] = []
        self.ledger = RowLedger()
        self.report = report
        report.rank, report.ranks = comm.rank, comm.size

    def same_everywhere(self, where: object, what: str, value: int) -> None:
        """Raise :class:`CheckpointError` unless every rank found the same ``value`` in the
        run directory ``where`` (the ranks read the run's files themselves: a stale view
        on one node must not mix two states)."""
        seen = sorted({int(v) for v in self.comm.allgather(np.array([value], np.int64))[:, 0]})
        if len(seen) > 1:
            raise CheckpointError(
                f"{where}: the MPI ranks found different {what} ({', '.join(map(str, seen))}); "
                "is the directory on a file system every rank sees the same way?"
            )

    def checkpointer(
        self, store: Store, report: Report, clock: Callable[[], float]
    ) -> Checkpointer:
        """Rank 0 writes the state and commits; every rank writes the map rows it
        computed (:mod:`blockloop.parallel.rows`)."""
        return RankCheckpointer(Checkpointer(store, report, clock), self.comm, self.ledger)

    def resume(self, checkpointer: Checkpointer, kind: LoopKind) -> Resumed | None:
        """Rank 0 loads; every rank receives the same position, stacks, history and
        finished map rows."""
        assert isinstance(kind, ReductionKind)
        anywhere = [s for s in kind.saved if not isinstance(s, MapRows)]
        if anywhere and self.size > 1:
            plan = kind.plan
            names = ", ".join(f"`{s.name}`" for s in anywhere)
            raise BlockingError(
                f"the loop writes {names} at places other than its own row (or into an "
                "array that is not C-contiguous), and across MPI ranks each rank would "
                "change other elements of it; blockloop spreads map loops whose iteration "
                "`i` writes row `i`: run this kernel on one rank",
                plan.source.filename,
                plan.line,
                0,
            )
        resumed = super().resume(checkpointer, kind)
        head = {
            "done": resumed.done if resumed else 0,
            "found": resumed is not None,
            "compute": checkpointer.compute_seconds,
            "sessions": [s.to_json() for s in checkpointer.sessions],
        }
        shared = cast(dict[str, Any], self.comm.bcast_json(head))
        checkpointer.compute_seconds = float(shared["compute"])
        checkpointer.sessions = [Session.from_json(s) for s in shared["sessions"]]
        for a in kind.accs:
            self.comm.bcast_array(a.stack)
        receive_rows(self.comm, kind, int(shared["done"]))
        if resumed is None and shared["found"]:
            return Resumed(int(shared["done"]))  # a resume, told by rank 0
        return resumed

    def prepare(self, kind: LoopKind, max_units: int) -> int:
        assert isinstance(kind, ReductionKind)
        for a in kind.accs:
            a.local = np.zeros((STACK_DEPTH, a.width), dtype=a.row_dtype)
        return _floor_pow2(max_units)

    def plan_round(self, policy: Policy, done: int, total: int) -> int:
        """One aligned segment per rank, ``2**m`` tiles each, in rank order.

        A segment is as long as rank 0's policy wants (divided by the ranks) but never
        longer than the alignment of its start allows, so a round after a resume or a
        change of length starts with shorter segments and the next rounds are aligned.
        """
        per_rank = self.agreed_units(policy, done, total) // self.size
        want = min(_floor_pow2(per_rank), policy.max_units)
        self._segments = plan_segments(done, total, want, self.size)
        return sum(n for _, n in self._segments)

    def agreed_units(self, policy: Policy, done: int, total: int) -> int:
        """The units rank 0's policy wants in the next round, the same on every rank: told
        by :meth:`agree` after each round, asked of rank 0 before the first."""
        if self._agreed == 0:
            first = np.array([policy.next_units(total - done) if self.rank == 0 else 0])
            self._agreed = int(self.comm.allreduce_max(first.astype(np.int64))[0])
        return self._agreed

    def advance(self, kind: LoopKind, first: int, count: int) -> None:
        assert isinstance(kind, ReductionKind)
        start, mine = self._segments[self.rank]
        self.ledger.record(self._segments)
        if mine:
            kind.advance_local(start, mine)
        t0 = time.perf_counter()
        self.comm.barrier()  # waiting for the slowest rank is imbalance, not combination
        t1 = time.perf_counter()
        self.report.wait_time += t1 - t0
        nodes = {}
        for a in kind.accs:
            node = a.local[0] if mine else np.zeros(a.width, a.row_dtype)
            nodes[a.name] = self.comm.allgather(node)
            self.report.bytes_sent += node.nbytes * (self.size - 1)
        stacks = {a.name: a.stack for a in kind.accs}
        for r, (pos, n) in enumerate(self._segments):
            if n:  # push rank r's node, a subtree of height log2(n), at its place
                ranks_node = {name: gathered[r : r + 1] for name, gathered in nodes.items()}
                kind.fold(pos >> (n.bit_length() - 1), 1, stacks, ranks_node)
        self.report.combine_time += time.perf_counter() - t1

    def agree(
        self, stop: Stop | None, due: bool, policy: Policy, done: int, total: int
    ) -> tuple[Stop | None, bool]:
        """One collective per round: any rank's stop, rank 0's checkpoint decision and
        next chunk length."""
        mine = [*(stop.encode() if stop else (0, 0)), 0, 0]
        if self.rank == 0:
            mine[2:] = [int(due), policy.next_units(max(total - done, 1))]
        t0 = time.perf_counter()
        out = self.comm.allreduce_max(np.array(mine, np.int64))
        self.report.combine_time += time.perf_counter() - t0
        self._agreed = int(out[3])
        return Stop.decode(int(out[0]), int(out[1])), bool(out[2])

    def finish(self, kind: LoopKind, done: int, gather: str = "all") -> object:
        """Every rank's map rows to the ranks ``gather`` names, then the epilogue on each."""
        exchange_rows(self.comm, self.ledger, kind, self.report, gather)
        return kind.finish(done)

    def committed(self, forced: bool) -> None:
        if forced:
            self.comm.barrier()  # nobody returns or exits before the write is durable
