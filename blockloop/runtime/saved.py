"""Arrays a loop writes, saved in pieces: the rows a map loop finished, or the blocks of
an array that changed.

Both keep the pieces of the last committed checkpoint and, at the next one, write only
what is new: :class:`MapRows` the rows of the tiles finished since (a *segment*),
:class:`ChangedBlocks` the fixed-size blocks whose hash changed. The store commits the
new pieces; :meth:`SavedArray.adopt` then takes the committed manifest's pieces as the
truth, so a failed write leaves nothing half-believed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import xxhash

from .._errors import CheckpointError
from ..storage.fingerprint import byte_view
from ..storage.npz import dtype_text
from ..storage.pieces import Piece, PieceSet

__all__ = ["BLOCK_BYTES", "MAX_PIECES", "ChangedBlocks", "MapRows", "SavedArray"]

BLOCK_BYTES = 1 << 20  # the unit of change of a whole array
MAX_BLOCKS = 4096  # blocks grow beyond BLOCK_BYTES to keep a manifest small
MAX_PIECES = 32  # entries one array may be spread over before they are compacted


class SavedArray(ABC):
    """One array the loop writes, saved in pieces.

    Parameters
    ----------
    name : str
        The kernel's name for it.
    array : numpy.ndarray
        The live array (the caller's argument or what the prologue made).
    """

    kind = "saved"

    def __init__(self, name: str, array: np.ndarray) -> None:
        self.name = name
        self.array = array
        self.size = int(array.size)
        self.pieces: tuple[Piece, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.kind}_{self.name}"

    def flat(self) -> np.ndarray:
        """The array's elements in C order: a view when it is C-contiguous, else a copy."""
        if self.array.flags.c_contiguous:
            return self.array.reshape(-1)
        return np.ascontiguousarray(self.array).reshape(-1)

    def describe(self) -> PieceSet:
        """The committed pieces, as the manifest holds them."""
        return PieceSet(dtype_text(self.array.dtype), tuple(self.array.shape), self.pieces)

    @abstractmethod
    def snapshot(self, upto: int, copy: bool) -> tuple[dict[str, np.ndarray], PieceSet]:
        """The new entries to write and the piece set that refers to them and to the old
        ones; ``upto`` is the flat end of the finished rows (maps), ``copy`` detaches the
        entries from the live array."""

    def adopt(self, pieces: PieceSet) -> None:
        """Take ``pieces`` (committed, or loaded) as what the checkpoint holds."""
        self.pieces = pieces.pieces

    def restore(self, pieces: PieceSet, parts: list[tuple[int, np.ndarray]]) -> None:
        """Put the loaded ``parts`` back into the live array, and adopt ``pieces``."""
        if pieces.dtype != dtype_text(self.array.dtype) or tuple(pieces.shape) != self.array.shape:
            raise CheckpointError(
                f"`{self.name}` was saved as {pieces.dtype}{tuple(pieces.shape)}, this run "
                f"has {dtype_text(self.array.dtype)}{self.array.shape}"
            )
        flat = self.flat()
        for start, values in parts:
            flat[start : start + values.size] = values
        if not self.array.flags.c_contiguous:
            self.array[...] = flat.reshape(self.array.shape)
        self.adopt(pieces)


class MapRows(SavedArray):
    """The output of a map loop: row ``i`` is written by iteration ``i`` only, so the rows
    of finished tiles never change again. Each checkpoint writes the rows finished since
    the last one; beyond :data:`MAX_PIECES` segments, the newest are written again as one
    with the new rows (from the live array, which holds those rows unchanged).

    Only for a C-contiguous array and a loop whose index counts up from 0 or more by 1,
    so that the finished rows are one flat range; other map arrays are
    :class:`ChangedBlocks`.
    """

    kind = "map"

    def __init__(self, name: str, array: np.ndarray, first_row: int) -> None:
        super().__init__(name, array)
        self.row = self.size // array.shape[0] if array.shape[0] else 0
        self.first = min(first_row * self.row, self.size)

    @staticmethod
    def fits(array: np.ndarray, bounds: tuple[int, int, int]) -> bool:
        """Whether the finished rows of ``array`` are one flat range for these bounds."""
        return array.ndim >= 1 and array.flags.c_contiguous and bounds[0] >= 0 and bounds[2] == 1

    def end_of(self, rows: int) -> int:
        """The flat end of the first ``rows`` rows the loop writes."""
        return min(self.first + rows * self.row, self.size)

    def snapshot(self, upto: int, copy: bool) -> tuple[dict[str, np.ndarray], PieceSet]:
        pieces = list(self.pieces)
        lo = pieces[-1].stop if pieces else self.first
        ranges = [(lo, upto)] if upto > lo else []
        if len(pieces) + len(ranges) > MAX_PIECES:
            i = _merge_from([p.stop - p.start for p in pieces])
            ranges, pieces = [(pieces[i].start, upto)], pieces[:i]
        arrays: dict[str, np.ndarray] = {}
        flat = self.array.reshape(-1)
        for start, stop in ranges:  # one range: the new rows, or the merged ones and them
            key = f"{self.key}_{start}"
            arrays[key] = flat[start:stop]  # finished rows: no copy needed, even for `copy`
            pieces.append(Piece(start, stop, 0, key, 0, stop - start))
        return arrays, PieceSet(dtype_text(self.array.dtype), self.array.shape, tuple(pieces))

    def restore(self, pieces: PieceSet, parts: list[tuple[int, np.ndarray]]) -> None:
        ends = [p.stop for p in pieces.pieces]
        starts = [p.start for p in pieces.pieces]
        if starts and (starts[0] != self.first or starts[1:] != ends[:-1]):
            raise CheckpointError(f"the segments of `{self.name}` are not one range of rows")
        super().restore(pieces, parts)


def _merge_from(sizes: list[int]) -> int:
    """Where the newest segments to write again as one begin: ``sizes[i:]``.

    The newest two, and each older one that is no larger than those after it together,
    so that every segment is larger than all newer ones together: the sizes at least
    double going back and the count stays near log2 of the rows over the smallest. No row
    is written again while an array has at most :data:`MAX_PIECES` segments; measured
    beyond that, all rows are written about twice for 500 checkpoints, three times for
    5000.
    """
    i = len(sizes) - 2
    merged = sizes[-1] + sizes[-2]
    while i > 0 and merged >= sizes[i - 1]:
        i -= 1
        merged += sizes[i]
    return i


class ChangedBlocks(SavedArray):
    """An array the loop may write anywhere: saved in blocks of about :data:`BLOCK_BYTES`.

    A block still as it was when the loop started is not saved at all: a resumed call
    starts from the same array (the run's identity holds the arguments' content, and the
    prologue makes its arrays again). A checkpoint writes the blocks whose xxh3 changed
    since the last one and refers to the other changed blocks where earlier generations
    hold them. Beyond :data:`MAX_PIECES` entries, the blocks of the newest entries are
    written again with the new ones, as a map's segments are merged.
    """

    kind = "blocks"

    def __init__(self, name: str, array: np.ndarray) -> None:
        super().__init__(name, array)
        itemsize = max(array.dtype.itemsize, 1)
        self.block = max(BLOCK_BYTES // itemsize, -(-self.size // MAX_BLOCKS), 1)
        self.count = -(-self.size // self.block)
        self.initial = self._hashes(self.flat())
        self.hashes = self.initial  # of the blocks as the last checkpoint holds them
        self.pending: np.ndarray | None = None

    def _hashes(self, flat: np.ndarray) -> np.ndarray:
        b, digest = self.block, xxhash.xxh3_64_intdigest
        hashes = [digest(byte_view(flat[k * b : (k + 1) * b])) for k in range(self.count)]
        return np.array(hashes, dtype=np.uint64)

    def snapshot(self, upto: int, copy: bool) -> tuple[dict[str, np.ndarray], PieceSet]:
        flat = self.flat()
        self.pending = self._hashes(flat)
        kept = self.pending != self.initial  # blocks a resumed run could not make again
        changed = kept & (self.pending != self.hashes)
        held = self._held(kept & ~changed)
        entries = sorted({place[:2] for place in held.values()})  # oldest first
        if len(entries) + 1 > MAX_PIECES:
            sizes = [sum(1 for p in held.values() if p[:2] == e) for e in entries]
            doomed = set(entries[_merge_from(sizes) :])
            for k, place in list(held.items()):
                if place[:2] in doomed:
                    changed[k] = True
                    del held[k]
        b, arrays = self.block, {}
        where: list[tuple[int, str, int, int, str] | None] = [None] * self.count
        k = 0
        while k < self.count:
            if not changed[k]:
                where[k] = held.get(k)
                k += 1
                continue
            end = k
            while end < self.count and changed[end]:
                end += 1
            lo, hi = k * b, min(end * b, self.size)
            key = f"{self.key}_{k}"
            arrays[key] = flat[lo:hi].copy() if copy else flat[lo:hi]
            for j in range(k, end):
                where[j] = (0, key, j * b - lo, hi - lo, "")
            k = end
        return arrays, PieceSet(dtype_text(self.array.dtype), self.array.shape, self._merge(where))

    def _held(self, blocks: np.ndarray) -> dict[int, tuple[int, str, int, int, str]]:
        """Where the committed pieces hold each of ``blocks``: generation, entry, offset
        in it, its length and checksum."""
        out = {}
        b = self.block
        old = iter(self.pieces)
        piece = next(old, None)
        for k in np.flatnonzero(blocks):
            while piece is not None and piece.stop <= k * b:
                piece = next(old, None)
            if piece is None or piece.start > k * b:
                raise CheckpointError(f"no saved piece holds block {k} of `{self.name}`")
            offset = piece.offset + int(k) * b - piece.start
            out[int(k)] = (piece.generation, piece.key, offset, piece.length, piece.xxh3)
        return out

    def _merge(self, where: list[tuple[int, str, int, int, str] | None]) -> tuple[Piece, ...]:
        """One piece for each run of blocks that lie next to each other in one entry."""
        pieces: list[Piece] = []
        follows = False
        for k, place in enumerate(where):
            if place is None:
                follows = False
                continue
            generation, key, offset, length, digest = place
            start, stop = k * self.block, min((k + 1) * self.block, self.size)
            last = pieces[-1] if pieces and follows else None
            if (
                last is not None
                and (last.generation, last.key) == (generation, key)
                and last.offset + last.stop - last.start == offset
            ):
                pieces[-1] = Piece(last.start, stop, generation, key, last.offset, length, digest)
            else:
                pieces.append(Piece(start, stop, generation, key, offset, length, digest))
            follows = True
        return tuple(pieces)

    def adopt(self, pieces: PieceSet) -> None:
        super().adopt(pieces)
        if self.pending is None:  # loaded: hash what was put back
            self.pending = self._hashes(self.flat())
        self.hashes, self.pending = self.pending, None

    def restore(self, pieces: PieceSet, parts: list[tuple[int, np.ndarray]]) -> None:
        self.pending = None
        super().restore(pieces, parts)
