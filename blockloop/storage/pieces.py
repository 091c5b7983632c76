"""Arrays saved in pieces that several generations share.

A map loop's output grows by the rows of the tiles finished since the last checkpoint,
and an array written anywhere by the loop changes in a few of its blocks: writing the
whole array at every checkpoint would cost the output's size times the number of
checkpoints. Such an array is saved as a list of :class:`Piece`: each one a range of
the array's flat (C-order) elements, held in an entry of some generation's npz file. A
new generation writes only the pieces that changed and refers to the others where they
already are; its manifest carries every piece's checksum, so it verifies on its own
after the generations that wrote them are retired (their npz files stay while referred
to).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from .._errors import CheckpointError

__all__ = ["Piece", "PieceSet", "referenced_generations"]


@dataclass(frozen=True)
class Piece:
    """Flat elements ``start .. stop`` of an array, held in entry ``key`` of generation
    ``generation``'s npz from element ``offset`` on.

    ``generation`` 0 and an empty ``xxh3`` mean "the generation being written"; the
    store fills them in when it commits. ``length`` and ``xxh3`` describe the whole entry.
    ``rank`` is the MPI rank whose file of the generation holds the entry: in a run over
    several ranks, each rank writes the rows it computed to a file of its own (0: the
    generation's own npz, the only file of a single-process run).
    """

    start: int
    stop: int
    generation: int
    key: str
    offset: int
    length: int
    xxh3: str = ""
    rank: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.start <= self.stop and 0 <= self.offset and 0 <= self.rank):
            raise ValueError(f"piece {self.start}..{self.stop} at {self.offset} is malformed")
        if self.offset + self.stop - self.start > self.length:
            raise ValueError(f"piece {self.start}..{self.stop} overruns its entry")

    def to_json(self) -> list:
        fields = [
            self.start,
            self.stop,
            self.generation,
            self.key,
            self.offset,
            self.length,
            self.xxh3,
        ]
        return [*fields, self.rank] if self.rank else fields  # 7 fields, as format 1 wrote

    @classmethod
    def from_json(cls, value: Any) -> Piece:
        if not isinstance(value, list) or len(value) not in (7, 8):
            raise ValueError("a piece is a list of 7 or 8 fields")
        start, stop, generation, key, offset, length, digest, *more = value
        rank = more[0] if more else 0
        if not all(
            isinstance(v, int) and not isinstance(v, bool)
            for v in (start, stop, generation, offset, length, rank)
        ):
            raise ValueError("a piece's bounds are not integers")
        if not isinstance(key, str) or not isinstance(digest, str):
            raise ValueError("a piece's entry and checksum are not strings")
        return cls(start, stop, generation, key, offset, length, digest, rank)


@dataclass(frozen=True)
class PieceSet:
    """One array saved in pieces: its dtype, shape and the pieces that hold it."""

    dtype: str
    shape: tuple[int, ...]
    pieces: tuple[Piece, ...]

    @property
    def new(self) -> Iterator[Piece]:
        """The pieces the generation being written holds itself."""
        return (p for p in self.pieces if p.generation == 0)

    def committed(self, generation: int, digests: dict[str, str]) -> PieceSet:
        """This set with its new pieces placed in ``generation`` (``digests`` by entry)."""
        return replace(
            self,
            pieces=tuple(
                replace(p, generation=generation, xxh3=digests[p.key]) if p.generation == 0 else p
                for p in self.pieces
            ),
        )

    def to_json(self) -> dict:
        return {
            "dtype": self.dtype,
            "shape": list(self.shape),
            "pieces": [p.to_json() for p in self.pieces],
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> PieceSet:
        try:
            shape = data["shape"]
            if not isinstance(shape, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
            ):
                raise ValueError("the shape is not a list of sizes")
            dtype = data["dtype"]
            if not isinstance(dtype, str):
                raise ValueError("the dtype is not a string")
            pieces = tuple(Piece.from_json(p) for p in data["pieces"])
        except (TypeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"{where}: malformed pieces ({exc})") from None
        return cls(dtype, tuple(shape), pieces)


def referenced_generations(sets: Iterable[PieceSet]) -> set[int]:
    """The generations whose npz files ``sets`` read from."""
    return {p.generation for s in sets for p in s.pieces}
