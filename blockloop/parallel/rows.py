"""The rows of a map loop spread over MPI ranks: who computed which, who writes them, and
how every rank gets them all at the end.

Iteration ``i`` of a map loop writes row ``i`` of its output and nothing else, so the
rows of finished tiles never change again. Over several ranks, each rank computes the
tiles of its segments (:mod:`blockloop.parallel.mpi`): its copy of the output holds its
own rows, and rows it has not received elsewhere.

- **Checkpoints**: each rank writes the rows it computed since the last checkpoint to a
  file of its own, one entry per range of rows, straight from the output
  (:meth:`~blockloop.storage.store.Store.save_part`). Rank 0 writes the rest of the state
  and commits the manifest, which refers to every rank's rows, only after every rank's
  file is durable: a checkpoint holds all ranks' rows or does not exist. No rank sends rows
  to another to checkpoint them. A rank whose files of this call would pass
  :data:`~blockloop.runtime.saved.MAX_PIECES` writes all its rows of the call again, into
  one file, whose pieces replace those of its older files (which the store then deletes):
  each rank keeps at most that many files per call, however long the run.
- **Resume**: rank 0 reads the finished rows (whoever wrote them, on however many ranks)
  and broadcasts them, so a run stopped on N ranks resumes on M.
- **The end**: each rank broadcasts the rows it computed in this call, straight from and
  into the output arrays, so that every rank returns what one process returns.
"""

from __future__ import annotations

import bisect
from dataclasses import replace

import numpy as np

from .._errors import CheckpointError
from ..report import Report
from ..runtime import saved
from ..runtime.checkpointer import Checkpointer
from ..runtime.kinds import LoopKind
from ..runtime.reduction import ReductionKind
from ..runtime.saved import MapRows
from ..runtime.sequential import SequentialKind
from ..runtime.stops import Stop
from ..scheduling.policy import Policy
from ..storage.npz import dtype_text
from ..storage.pieces import Piece, PieceSet
from .comm import MPIComm

__all__ = ["RankCheckpointer", "RowLedger", "exchange_rows", "map_rows", "receive_rows"]


def map_rows(kind: LoopKind) -> list[MapRows]:
    """The map outputs of ``kind`` (none for a loop that is not a reduction kind)."""
    if not isinstance(kind, ReductionKind):
        return []
    return [s for s in kind.saved if isinstance(s, MapRows)]


def _spread(kind: LoopKind) -> bool:
    """Whether each rank writes a part of ``kind``'s checkpoints."""
    return bool(map_rows(kind)) or (isinstance(kind, SequentialKind) and bool(kind.split))


def _own_blocks(kind: SequentialKind) -> tuple[dict[str, np.ndarray], dict[str, list[Piece]]]:
    """This rank's block of rows of each buffer split by rows (every checkpoint holds the
    whole state of a sequential loop)."""
    lo, hi = kind.rows
    entries: dict[str, np.ndarray] = {}
    new: dict[str, list[Piece]] = {}
    for j in sorted(kind.split):
        buf = kind.buffers[j]
        row = buf.size // buf.shape[0] if buf.shape[0] else 0
        key, start, stop = f"rows_{j}", lo * row, hi * row
        new[f"buf_{j}"] = []
        if stop > start:
            entries[key] = buf.reshape(-1)[start:stop]
            new[f"buf_{j}"].append(Piece(start, stop, 0, key, 0, stop - start))
    return entries, new


class RowLedger:
    """The tile segments every rank computed in this call, round by round; every rank
    holds the same ledger (the rounds are planned alike on all)."""

    def __init__(self) -> None:
        self.rounds: list[list[tuple[int, int]]] = []
        self.pending = 0  # the first round whose rows no checkpoint holds yet

    def record(self, segments: list[tuple[int, int]]) -> None:
        """One round's ``(first tile, tiles)`` of each rank, in rank order."""
        self.rounds.append(list(segments))

    def owned(self, rank: int, since: int = 0) -> list[tuple[int, int]]:
        """The tile ranges ``(start, stop)`` ``rank`` computed from round ``since`` on."""
        out: list[tuple[int, int]] = []
        for segments in self.rounds[since:]:
            start, count = segments[rank]
            if not count:
                continue
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], start + count)
            else:
                out.append((start, start + count))
        return out

    def committed(self) -> None:
        """The rows recorded so far are in a durable checkpoint."""
        self.pending = len(self.rounds)


def _flat_ranges(
    kind: ReductionKind, tracker: MapRows, tiles: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The flat element ranges of ``tracker``'s array that the tile ranges wrote."""
    out = []
    for t0, t1 in tiles:
        lo, hi = tracker.end_of(kind.rows_done(t0)), tracker.end_of(kind.rows_done(t1))
        if hi > lo:
            out.append((lo, hi))
    return out


def exchange_rows(
    comm: MPIComm, ledger: RowLedger, kind: LoopKind, report: Report, gather: str = "all"
) -> None:
    """Give the ranks ``gather`` names (every rank, rank 0, or none: ``"own"``) the rows
    every other rank computed in this call, straight into their output (no copy, no extra
    memory)."""
    assert isinstance(kind, ReductionKind)
    for tracker in map_rows(kind):
        flat = tracker.array.reshape(-1)
        for rank in range(comm.size):
            for lo, hi in _flat_ranges(kind, tracker, ledger.owned(rank)):
                report.bytes_sent += comm.hand_on(flat[lo:hi], rank, gather)


def _uncovered(old: tuple[Piece, ...], new: list[Piece]) -> list[Piece]:
    """The pieces of ``old`` whose rows no piece of ``new`` holds again (a rank that wrote
    its rows again replaces its older pieces; the new pieces do not overlap)."""
    ordered = sorted(new, key=lambda p: p.start)
    starts = [p.start for p in ordered]
    kept = []
    for piece in old:
        k = bisect.bisect_right(starts, piece.start) - 1
        if k < 0 or ordered[k].stop < piece.stop:
            kept.append(piece)
    return kept


def receive_rows(comm: MPIComm, kind: LoopKind, done: int) -> None:
    """After a resume: the rows the first ``done`` tiles finished, from rank 0 (which read
    them) to every rank."""
    assert isinstance(kind, ReductionKind)
    for tracker in map_rows(kind):
        end = tracker.end_of(kind.rows_done(done))
        if end > tracker.first:
            comm.bcast_array(tracker.array.reshape(-1)[tracker.first : end])


class RankCheckpointer(Checkpointer):
    """One rank's part in the checkpoints of a run over MPI ranks (see the module
    docstring). Rank 0 holds the run's lock and writes as one process does; every rank
    writes the map rows it computed."""

    writes_in_background = False  # a commit is a collective: every rank knows its outcome at once

    def __init__(
        self,
        checkpointer: Checkpointer,
        comm: MPIComm,
        ledger: RowLedger,
        *,
        every_rank_loads: bool = False,
    ) -> None:
        super().__init__(checkpointer.store, checkpointer.report, checkpointer.clock)
        self.comm, self.ledger, self.rank = comm, ledger, comm.rank
        # a resume: rank 0 reads and tells the others (maps), or every rank reads
        self.every_rank_loads = every_rank_loads
        self._entries: dict[str, np.ndarray] = {}
        self._new: dict[str, list[Piece]] = {}
        self.files = 0  # this rank's files of map rows that this call's checkpoints hold
        self._again = False  # this checkpoint writes all this call's rows again

    def __enter__(self) -> RankCheckpointer:
        if self.rank == 0:
            super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.rank == 0:
            super().__exit__(*exc)

    def load(self):  # type: ignore[no-untyped-def]
        return super().load() if self.rank == 0 or self.every_rank_loads else None

    def commit(self, kind: LoopKind, done: int, policy: Policy, why: Stop) -> None:
        """Every rank's rows, then rank 0's manifest; all ranks learn the outcome."""
        if not _spread(kind):  # a reduction alone: rank 0 holds the whole state
            if self.rank == 0:
                super().commit(kind, done, policy, why)
            return
        opened = self._open()
        error, generation = opened.get("error"), int(opened["generation"])
        entries: dict[str, np.ndarray] = {}
        new: dict[str, list[Piece]] = {}
        if error is None:
            entries, new = self._own_rows(kind)
            if self.rank > 0 and entries:
                try:
                    digests = self.store.save_part(generation, self.rank, entries)
                except CheckpointError as exc:
                    error = str(exc)
                else:
                    self.report.bytes_written += sum(a.nbytes for a in entries.values())
                    new = {
                        name: [
                            replace(p, generation=generation, xxh3=digests[p.key], rank=self.rank)
                            for p in pieces
                        ]
                        for name, pieces in new.items()
                    }
        told = {"error": error, "pieces": {n: [p.to_json() for p in ps] for n, ps in new.items()}}
        parts = self.comm.gather_json(told)
        outcome: dict = {"error": None}
        if self.rank == 0:
            assert parts is not None
            outcome = self._commit_all(kind, done, policy, why, entries, parts, generation)
        outcome = dict(self.comm.bcast_json(outcome))  # type: ignore[call-overload]
        if outcome["error"] is None:
            self.ledger.committed()
            if entries and isinstance(kind, ReductionKind):
                self.files = 1 if self._again else self.files + 1
            if self.rank > 0:
                self._written(generation, 0.0)
        elif why.forced:  # the process is about to end or return: say that nothing was saved
            raise CheckpointError(outcome["error"])

    def _open(self) -> dict:
        """Rank 0 makes the run directory (if deferred) and tells every rank the
        generation being written."""
        opened: dict = {"generation": 0, "error": None}
        if self.rank == 0:
            try:
                if self.store.deferred:
                    self.store.take()
                opened["generation"] = self.store.next_generation
            except CheckpointError as exc:
                opened["error"] = str(exc)
        return dict(self.comm.bcast_json(opened))  # type: ignore[call-overload]

    def _own_rows(self, kind: LoopKind) -> tuple[dict[str, np.ndarray], dict[str, list[Piece]]]:
        """This rank's rows since the last checkpoint: one entry per array, and its pieces."""
        if isinstance(kind, SequentialKind):
            return _own_blocks(kind)
        assert isinstance(kind, ReductionKind)
        # past MAX_PIECES files, this call's rows again (finished rows never change)
        self._again = self.files + 1 > saved.MAX_PIECES and self.ledger.pending > 0
        tiles = self.ledger.owned(self.rank, 0 if self._again else self.ledger.pending)
        entries: dict[str, np.ndarray] = {}
        new: dict[str, list[Piece]] = {}
        for tracker in map_rows(kind):
            flat = tracker.array.reshape(-1)
            new[tracker.name] = []
            for lo, hi in _flat_ranges(kind, tracker, tiles):
                key = f"{tracker.key}_{lo}"
                entries[key] = flat[lo:hi]  # finished rows: a view, never a copy
                new[tracker.name].append(Piece(lo, hi, 0, key, 0, hi - lo))
        return entries, new

    def _commit_all(
        self,
        kind: LoopKind,
        done: int,
        policy: Policy,
        why: Stop,
        entries: dict[str, np.ndarray],
        parts: list,
        generation: int,
    ) -> dict:
        """Rank 0: commit the generation whose rows every rank wrote; the outcome."""
        errors = [p["error"] for p in parts if p["error"]]
        if errors:
            exc = CheckpointError(errors[0])
            if not why.forced:
                self._failed(exc, why)
            return {"error": errors[0]}
        self._entries = entries
        self._new = {}
        for part in parts:
            for name, pieces in part["pieces"].items():
                self._new.setdefault(name, []).extend(Piece.from_json(p) for p in pieces)
        try:
            super().commit(kind, done, policy, why)
        except CheckpointError as exc:
            return {"error": str(exc)}
        finally:
            self._entries, self._new = {}, {}
        manifest = self.store.last_manifest
        if manifest is None or manifest.generation != generation:
            return {"error": f"checkpoint {generation} was not written (see the warning)"}
        return {"error": None}

    def entries(
        self, kind: LoopKind, done: int, copy: bool
    ) -> tuple[dict[str, np.ndarray], dict[str, PieceSet]]:
        """Rank 0's rows, and piece sets that add every rank's new rows to the old ones."""
        sets = {}
        if isinstance(kind, SequentialKind):  # the whole state, every rank its rows
            for j in sorted(kind.split):
                buf, pieces = kind.buffers[j], self._new.get(f"buf_{j}", [])
                ordered = tuple(sorted(pieces, key=lambda p: p.start))
                sets[f"buf_{j}"] = PieceSet(dtype_text(buf.dtype), buf.shape, ordered)
            return self._entries, sets
        for tracker in map_rows(kind):  # the new rows beside those saved before
            new = self._new.get(tracker.name, [])
            pieces = sorted([*_uncovered(tracker.pieces, new), *new], key=lambda p: p.start)
            array = tracker.array
            sets[tracker.name] = PieceSet(dtype_text(array.dtype), array.shape, tuple(pieces))
        return self._entries, sets
