"""A reduction run spread over MPI ranks, with the bits of a single-process run.

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

import numpy as np

from .comm import MPIComm
from .policy import Policy
from .runtime import STACK_DEPTH, ReductionRun
from .store import Checkpoint, Store

__all__ = ["DistributedReductionRun", "NullStore", "plan_segments"]


class NullStore:
    """What ranks other than 0 hold instead of the store: they never touch the files."""

    def __init__(self, paths) -> None:
        self.paths = paths

    def __enter__(self) -> NullStore:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def load(self) -> None:
        return None


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


class DistributedReductionRun(ReductionRun):
    """:class:`ReductionRun` over the ranks of ``comm`` (see the module docstring)."""

    def __init__(self, *args: object, comm: MPIComm, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.comm = comm
        self._agreed = 0
        self._segments: list[tuple[int, int]] = []
        self.report.rank, self.report.ranks = comm.rank, comm.size

    @property
    def root(self) -> bool:
        return self.comm.rank == 0

    @property
    def speaks(self) -> bool:  # type: ignore[override]
        return self.root

    def open_store(self) -> Store:
        store = self.settings.store(self.identity)
        return store if self.root else NullStore(store.paths)  # type: ignore[return-value]

    def shows_progress(self) -> bool:
        return self.root and self.settings.progress

    def restore(self, store: Store) -> Checkpoint | None:
        """Rank 0 loads; every rank receives the same position, stacks and history."""
        ckpt = super().restore(store) if self.root else self.reset()
        head = {
            "done": self.done,
            "found": ckpt is not None,
            "compute": self.compute_total,
            "sessions": self.sessions,
        }
        head = self.comm.bcast_json(head)  # type: ignore[assignment]
        self.done, self.compute_total = int(head["done"]), float(head["compute"])
        self.sessions = list(head["sessions"])
        for a in self.accs:
            self.comm.bcast_array(a.stack)
        if ckpt is None and head["found"]:
            return Checkpoint(generation=0, manifest={})  # a resume, told by rank 0
        return ckpt

    def allocate(self, threads: int) -> int:
        max_tiles = _floor_pow2(super().allocate(threads))
        for a in self.accs:
            a.local = np.zeros((STACK_DEPTH, max(a.size, 1)), dtype=a.dtype)
        return max_tiles

    def next_units(self, policy: Policy) -> int:
        """One aligned segment per rank, ``2**m`` tiles each, in rank order.

        A segment is as long as rank 0's policy wants (divided by the ranks) but never
        longer than the alignment of its start allows, so a round after a resume or a
        change of length starts with shorter segments and the next rounds are aligned.
        """
        remaining = self.total - self.done
        if self._agreed == 0:  # first round: rank 0's policy decides for everyone
            first = np.array([policy.next_tiles(remaining) if self.root else 0], np.int64)
            self._agreed = int(self.comm.allreduce_max(first)[0])
        want = min(_floor_pow2(self._agreed // self.comm.size), policy.max_tiles)
        self._segments = plan_segments(self.done, self.total, want, self.comm.size)
        return sum(n for _, n in self._segments)

    def advance(self, first: int, count: int) -> None:
        if count == 0:  # warm-up: compile locally, no collectives
            super().advance(first, 0)
            return
        start, mine = self._segments[self.comm.rank]
        if mine:
            self.advance_local(start, mine)
        t0 = time.perf_counter()
        self.comm.barrier()  # waiting for the slowest rank is imbalance, not combination
        t1 = time.perf_counter()
        self.report.wait_time += t1 - t0
        nodes = []
        for a in self.accs:
            node = a.local[0] if mine else np.zeros(max(a.size, 1), a.dtype)
            nodes.append(self.comm.allgather(node))
        for r, (pos, n) in enumerate(self._segments):
            if n:  # push rank r's node, a subtree of height log2(n), at its place
                stacks = []
                for a, gathered in zip(self.accs, nodes, strict=True):
                    stacks += [a.stack, gathered[r : r + 1]]
                self.mod._bl_fold(pos >> (n.bit_length() - 1), 1, *stacks)
        self.report.combine_time += time.perf_counter() - t1

    def agree(self, signum: int | None, due: bool, policy: Policy) -> tuple[int | None, bool]:
        """One collective per round: any rank's signal, rank 0's checkpoint decision and
        next chunk length."""
        mine = [signum or 0, 0, 0]
        if self.root:
            mine[1:] = [int(due), policy.next_tiles(max(self.total - self.done, 1))]
        t0 = time.perf_counter()
        out = self.comm.allreduce_max(np.array(mine, np.int64))
        self.report.combine_time += time.perf_counter() - t0
        self._agreed = int(out[2])
        return (int(out[0]) or None), bool(out[1])

    def checkpoint(self, store: Store, policy: Policy, reason: str) -> None:
        if self.root:
            super().checkpoint(store, policy, reason)
        if reason != "interval":
            self.comm.barrier()  # nobody returns or exits before the write is durable
