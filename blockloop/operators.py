"""What the renderer and the compiled helpers agree on: the reductions and the names.

The supported reductions are one declarative entry each: the analyser recognises an update
by its operator, the renderer emits ``combine`` to merge two tile partials, and the runtime
starts every tile from ``identity``. Documentation tables are generated from the same
entries (``blockloop.operators.table()``). The ``_bl_*`` names a generated module imports
from :mod:`blockloop.numerics` and the size of an exact sum's buffered block are here too,
so that :mod:`blockloop.transform` renders them without importing numba.

Imports nothing of blockloop, and no numba.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EXACT_HELPERS",
    "EXACT_OPS",
    "HELPER_OPS",
    "REDUCTIONS",
    "TILE_HELPERS",
    "XBLOCK",
    "Reduction",
    "by_ast_op",
    "table",
    "tile_for",
]


@dataclass(frozen=True)
class Reduction:
    """One reduction operator.

    Attributes
    ----------
    key : str
        Name used in manifests and messages (``"+"``, ``"min"``, ...).
    family : str
        Updates of one family may be mixed on one accumulator (``+=`` and ``-=``).
    combine : str
        Python expression template merging partials ``{a}`` and ``{b}``.
    integer_only : bool
        Only defined for integer and boolean accumulators.
    exact : bool
        Associative in the machine arithmetic (so any fold order gives the same bits).
    """

    key: str
    family: str
    combine: str
    integer_only: bool = False
    exact: bool = False
    spelling: str = ""

    def identity(self, dtype: np.dtype) -> np.generic:
        """The value a tile starts from, in ``dtype``."""
        dtype = np.dtype(dtype)
        kind = dtype.kind
        if self.integer_only and kind not in "iub":
            raise TypeError(
                f"the {self.spelling} reduction needs an integer accumulator, not {dtype}"
            )
        if self.family in ("+",) or self.key in ("|", "^"):
            value: object = 0
        elif self.key == "*":
            value = 1
        elif self.key == "&":
            value = True if kind == "b" else (-1 if kind == "i" else np.iinfo(dtype).max)
        elif self.key in ("min", "max"):
            sign = 1 if self.key == "min" else -1
            if kind == "f":
                value = sign * np.inf
            elif kind in "iu":
                info = np.iinfo(dtype)
                value = info.max if sign == 1 else info.min
            elif kind == "b":
                value = sign == 1
            else:
                raise TypeError(f"{self.key} needs a real accumulator, not {dtype}")
        else:  # pragma: no cover - the table is closed
            raise AssertionError(self.key)
        return dtype.type(value)


EXACT_OPS = ("+", "-")
"""The operators whose float accumulators ``exact=True`` sums exactly."""

REDUCTIONS: dict[str, Reduction] = {
    r.key: r
    for r in (
        Reduction("+", "+", "{a} + {b}", spelling="s += e"),
        Reduction("-", "+", "{a} + {b}", spelling="s -= e"),
        Reduction("*", "*", "{a} * {b}", spelling="s *= e"),
        Reduction("|", "|", "{a} | {b}", integer_only=True, exact=True, spelling="s |= e"),
        Reduction("&", "&", "{a} & {b}", integer_only=True, exact=True, spelling="s &= e"),
        Reduction("^", "^", "{a} ^ {b}", integer_only=True, exact=True, spelling="s ^= e"),
        Reduction("min", "min", "min({a}, {b})", exact=True, spelling="s = min(s, e)"),
        Reduction("max", "max", "max({a}, {b})", exact=True, spelling="s = max(s, e)"),
    )
}

HELPER_OPS = {"+": "add", "-": "add", "*": "mul", "|": "or", "&": "and", "^": "xor"}
HELPER_OPS.update({"min": "min", "max": "max"})
"""The suffix of each operator's ``_bl_id_*`` and ``_bl_fold_*`` helpers (in-step folds)."""

TILE_HELPERS = (
    "_bl_close",
    "_bl_open",
    "_bl_parts",
    "_bl_rlen",
    "_bl_tile_for",
    *(f"_bl_{what}_{op}" for op in sorted(set(HELPER_OPS.values())) for what in ("id", "fold")),
)
"""What a sequential loop's generated module imports from :mod:`blockloop.numerics.tiles`."""


def tile_for(n: int) -> int:
    """Iterations per tile of an in-step reduction over ``n``: a power of two that gives
    at most 128 tiles; a function of ``n`` only, never of the thread count (the compiled
    ``_bl_tile_for``, and the MPI ranks when they cut their blocks of rows at tiles)."""
    tile = 1
    while tile * 128 < n:
        tile *= 2
    return tile


EXACT_HELPERS = (
    "_bl_xadd",
    "_bl_xbuf",
    "_bl_xclose",
    "_bl_xfinish",
    "_bl_xmerge",
    "_bl_xopen",
    "_bl_xput",
    "_bl_xsum",
    "_bl_xupd",
)
"""What an ``exact=True`` module imports from :mod:`blockloop.numerics.exact`."""

XBLOCK = 1 << 9
"""Terms a tile buffers before an exact sum adds them up (4 KiB: they stay in L1; of 256
to 1024, 512 was the fastest for a memory-bound dot product)."""

_AST_OPS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
}

# ``s = e op s`` may be normalised to ``s op= e`` only for commutative operators.
COMMUTATIVE = frozenset({"+", "*", "|", "&", "^"})


def by_ast_op(op: ast.operator) -> Reduction | None:
    """The reduction for an augmented-assignment operator, or None."""
    key = _AST_OPS.get(type(op))
    return None if key is None else REDUCTIONS[key]


def table() -> str:
    """A Markdown table of the supported reductions (used by the loop shapes page)."""
    rows = ["| update | combine | dtypes | exact in any order |", "|---|---|---|---|"]
    for r in REDUCTIONS.values():
        dtypes = "integer, bool" if r.integer_only else "integer, float"
        combine = r.combine.format(a="a", b="b").replace("|", "\\|")
        spelling = r.spelling.replace("|", "\\|")
        exact = "yes" if r.exact else "integers: yes; floats: no (fixed pairwise order)"
        rows.append(f"| `{spelling}` | `{combine}` | {dtypes} | {exact} |")
    return "\n".join(rows)
