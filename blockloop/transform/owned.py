"""Rows an iteration owns though its index is not the loop variable itself.

Iteration ``i`` of a prange loop owns row ``i``. It also owns

- one row ``c * i + d`` (``x[2 * i + 1]``), ``c`` a nonzero integer and ``d`` the same
  for every iteration: distinct iterations, distinct rows;
- a block of rows walked by an inner loop, ``for j in range(c * i + d, c * (i + 1) + d)``
  (``range(b * size, (b + 1) * size)``): each block starts where the one before it ends,
  so blocks of distinct iterations never meet (for ``c <= 0`` they are empty).

A block's bounds are recognised by what they compute, not how they are spelled: each is
evaluated, as a polynomial of the loop variable and the names the loop does not bind, at
a few fixed points, and the start of block ``i + 1`` must be the end of block ``i`` at
every one (a polynomial identity that fails somewhere fails at almost every point).
"""

from __future__ import annotations

import ast
import zlib
from collections import Counter

from .syntax import names_stored, subscript_parts, walk

__all__ = ["OwnedRows", "owned_rows", "row_key"]

_POINTS = 4  # the fixed points a block's bounds are compared at


class OwnedRows:
    """The rows one iteration owns in ``body``, the prange loop body with index ``index``.

    Attributes
    ----------
    arrays : dict
        Arrays that ``body`` stores into only at rows one iteration owns, all alike (see
        the module docstring): name to the rows' key (:meth:`key`).
    """

    def __init__(self, body: list[ast.stmt], index: str) -> None:
        self.index = index
        self.stored = set(names_stored(body))
        self.loops: dict[str, list[ast.For]] = {}
        self.bindings: Counter[str] = Counter()
        for n in walk(body):
            if isinstance(n, ast.For) and isinstance(n.target, ast.Name):
                self.loops.setdefault(n.target.id, []).append(n)
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                self.bindings[n.id] += 1
        keys: dict[str, set[object]] = {}
        for node in walk(body):
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, (ast.Store, ast.Del))
                and isinstance(node.value, ast.Name)
            ):
                keys.setdefault(node.value.id, set()).add(self.key(subscript_parts(node)[0]))
        self.arrays = {n: next(iter(k)) for n, k in keys.items() if len(k) == 1 and None not in k}

    def key(self, expr: ast.expr) -> object | None:
        """What identifies the rows ``expr`` (a subscript's first position in the body)
        belongs to, if one iteration owns them: equal keys, the same rows of an
        iteration. None otherwise."""
        if _affine(expr, self.index, self.stored):
            return ("row", ast.unparse(expr))
        if not isinstance(expr, ast.Name) or expr.id == self.index:
            return None
        loops = self.loops.get(expr.id, [])
        if len(loops) != 1 or self.bindings[expr.id] != 1:
            return None  # the name is bound otherwise too
        it = loops[0].iter
        if not (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Name)
            and it.func.id == "range"
            and len(it.args) == 2
            and not it.keywords
        ):
            return None
        return _block(it.args[0], it.args[1], self.index, self.stored)


def owned_rows(body: list[ast.stmt], index: str) -> dict[str, object]:
    """:attr:`OwnedRows.arrays` of ``body``."""
    return OwnedRows(body, index).arrays


def row_key(body: list[ast.stmt], index: str, expr: ast.expr) -> object | None:
    """:meth:`OwnedRows.key` of ``expr`` in ``body``."""
    return OwnedRows(body, index).key(expr)


def _block(lo: ast.expr, hi: ast.expr, index: str, stored: set[str]) -> object | None:
    """The key of the blocks ``range(lo, hi)`` if block ``i + 1`` starts where block
    ``i`` ends, whatever the names: the bounds' values at the fixed points."""
    key = []
    for point in range(_POINTS):
        start = _value(lo, index, stored, point, 0)
        after = _value(lo, index, stored, point, 1)
        end = _value(hi, index, stored, point, 0)
        if start is None or end is None or after != end:
            return None
        key.append((start, end))
    return ("block", tuple(key))


def _value(expr: ast.expr, index: str, stored: set[str], point: int, step: int) -> int | None:
    """``expr`` at fixed point ``point`` (the loop variable plus ``step``), or None if it
    is not a polynomial of the loop variable and of names the loop does not bind."""

    def of(e: ast.expr) -> int | None:
        if isinstance(e, ast.Constant) and type(e.value) is int:
            return e.value
        if isinstance(e, ast.Name):
            if e.id == index:
                return 7 + 13 * point + step
            if e.id in stored:
                return None
            return 3 + zlib.crc32(f"{e.id}/{point}".encode()) % 1009
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
            v = of(e.operand)
            return None if v is None else -v
        if isinstance(e, ast.BinOp) and isinstance(e.op, (ast.Add, ast.Sub, ast.Mult)):
            a, b = of(e.left), of(e.right)
            if a is None or b is None:
                return None
            if isinstance(e.op, ast.Mult):
                return a * b
            return a + b if isinstance(e.op, ast.Add) else a - b
        return None

    return of(expr)


def _affine(expr: ast.expr, index: str, stored: set[str]) -> bool:
    """Whether ``expr`` is ``c * i + d`` (in any of its spellings) with ``c`` a nonzero
    integer constant and ``d`` free of ``i`` and of names the loop body binds."""

    def invariant(e: ast.expr) -> bool:
        return not any(
            (isinstance(n, ast.Name) and n.id in stored | {index}) or isinstance(n, ast.Call)
            for n in walk([e])
        )

    def scaled(e: ast.expr) -> bool:  # i, c * i, i * c
        if isinstance(e, ast.Name):
            return e.id == index
        if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Mult):
            for a, b in ((e.left, e.right), (e.right, e.left)):
                if isinstance(b, ast.Constant) and type(b.value) is int and b.value != 0:
                    return scaled(a)
        return False

    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Sub)):
        if scaled(expr.left) and invariant(expr.right):
            return True
        return isinstance(expr.op, ast.Add) and scaled(expr.right) and invariant(expr.left)
    return scaled(expr) and not isinstance(expr, ast.Name)
