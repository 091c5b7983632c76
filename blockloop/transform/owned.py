"""Rows an iteration owns though its index is not the loop variable itself.

Iteration ``i`` of a prange loop owns row ``i``. It also owns

- one row ``c * i + d`` (``x[2 * i + 1]``), ``c`` a nonzero integer and ``d`` the same
  for every iteration: distinct iterations, distinct rows;
- a block of rows walked by an inner loop, ``for j in range(c * i + d, c * (i + 1) + d)``
  (``range(b * size, (b + 1) * size)``): each block starts where the one before it ends,
  so blocks of distinct iterations never meet (for ``c <= 0`` they are empty); also
  ``x[s + j]`` for ``j`` walking ``range(w)`` (the block ``s .. s + w``, PaCMAP's flat
  rows ``i * k + j``), and the slice ``x[s : s + j]`` of it (the rows of the steps before).

A block's bounds are recognised by what they compute, not how they are spelled: each is
evaluated, as a polynomial of the loop variable and the names the loop does not bind, at
a few fixed points, and the start of block ``i + 1`` must be the end of block ``i`` at
every one (a polynomial identity that fails somewhere fails at almost every point). The
start must be linear in the loop variable, so that the blocks never come back over rows
an earlier block walked. A name bound once, at the top of the body before the inner loop
(``start = b * size``), stands for what it computes. A block may end early,
``min(start + size, n)``, and the last iteration's may end anywhere, ``stop = n if b + 1 ==
nblocks else start + size`` for ``prange(nblocks)``: no block follows it.
"""

from __future__ import annotations

import ast
import zlib
from collections import Counter

from .syntax import names_stored, subscript_parts, walk

__all__ = ["OwnedRows", "owned_rows", "prange_stop", "row_key"]

_POINTS = 4  # the fixed points a block's bounds are compared at


ELEMENT = "element"  # the first member of a flattened index's key (:meth:`OwnedRows.key_of`)


def is_element_key(key: object) -> bool:
    """Whether ``key`` is the element of a flattened index (``x[i // m, i % m]``)."""
    return isinstance(key, tuple) and bool(key) and key[0] == ELEMENT


class OwnedRows:
    """The rows one iteration owns in ``body``, the prange loop body with index ``index``.

    Attributes
    ----------
    arrays : dict
        Arrays that ``body`` stores into only at rows one iteration owns, all alike (see
        the module docstring): name to the rows' key (:meth:`key`).
    """

    def __init__(self, body: list[ast.stmt], index: str, stop: ast.expr | None = None) -> None:
        self.index = index
        self.stop = stop  # the prange's end, where it starts at 0 or at a constant
        self.body = body
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
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
                row = node  # ``pairs[r][0] = v`` stores into row ``r`` of ``pairs``
                while isinstance(row.value, ast.Subscript):
                    row = row.value
                if isinstance(row.value, ast.Name):
                    keys.setdefault(row.value.id, set()).add(self.key_of(subscript_parts(row)))
        self.arrays = {n: next(iter(k)) for n, k in keys.items() if len(k) == 1 and None not in k}

    def key(self, expr: ast.expr) -> object | None:
        """What identifies the rows ``expr`` (a subscript's first position in the body)
        belongs to, if one iteration owns them: equal keys, the same rows of an
        iteration. None otherwise."""
        if _affine(expr, self.index, self.stored):
            return ("row", ast.unparse(expr))
        if isinstance(expr, ast.Slice) and expr.step is None and expr.lower is not None:
            # ``x[s : s + j]``, ``j`` walking range(w): a part of the block s .. s + w
            start, width = self._offset(expr.upper, expr.lower)
            return None if width is None else self.block_key(start, _plus(start, width), expr)
        start, width = self._offset(expr)
        if width is not None:  # ``x[s + j]``, ``j`` walking range(w): block s .. s + w
            return self.block_key(start, _plus(start, width), expr)
        bounds = self._range_of(expr)
        if bounds is None or len(bounds[0].args) != 2:
            return None
        return self.block_key(bounds[0].args[0], bounds[0].args[1], bounds[1])

    def _range_of(self, expr: ast.expr | None) -> tuple[ast.Call, ast.For] | None:
        """``range(...)`` and its loop, if ``expr`` is a name only an inner loop
        ``for name in range(...)`` binds."""
        if not isinstance(expr, ast.Name) or expr.id == self.index:
            return None
        loops = self.loops.get(expr.id, [])
        if len(loops) != 1 or self.bindings[expr.id] != 1:
            return None  # the name is bound otherwise too
        it = loops[0].iter
        if (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Name)
            and it.func.id == "range"
            and 1 <= len(it.args) <= 2
            and not it.keywords
        ):
            return it, loops[0]
        return None

    def _offset(
        self, expr: ast.expr | None, start: ast.expr | None = None
    ) -> tuple[ast.expr, ast.expr | None]:
        """``(s, w)`` if ``expr`` is ``s + j`` (``start + j`` if ``start`` is given) with
        ``j`` an inner loop's variable walking ``range(w)`` or ``range(0, w)``; else
        ``(s, None)``."""
        none: tuple[ast.expr, ast.expr | None] = (start or ast.Constant(0), None)
        if not (isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add)):
            return none
        for base, step in ((expr.left, expr.right), (expr.right, expr.left)):
            if start is not None and ast.dump(base) != ast.dump(start):
                continue
            bounds = self._range_of(step)
            if bounds is None:
                continue
            args = bounds[0].args
            if len(args) == 1 or (isinstance(args[0], ast.Constant) and args[0].value == 0):
                return base, args[-1]
        return none

    def block_key(self, lo: ast.expr, hi: ast.expr, at: ast.AST) -> object | None:
        """The key of the rows ``range(lo, hi)`` walks at ``at`` (a node of the body: an
        inner loop, or a call given the bounds), if they are a block one iteration owns;
        None otherwise."""
        value = _Values(self.index, self.stored, self._defined_before(at))
        hi = value.resolve(hi)
        ends = [hi]
        if (  # min(block end, n): a part of the block
            isinstance(hi, ast.Call)
            and isinstance(hi.func, ast.Name)
            and hi.func.id == "min"
            and len(hi.args) == 2
            and not hi.keywords
        ):
            ends = [value.resolve(a) for a in hi.args]
        for end in ends:
            if isinstance(end, ast.IfExp):  # the last iteration's block may end elsewhere
                last = value.is_last(end.test, self.stop)
                if last is None:
                    continue
                end = end.orelse if last else end.body
            key = _block(lo, end, value)
            if key is not None:
                return key
        return None

    def _defined_before(self, at: ast.AST | None) -> dict[str, ast.expr]:
        """Names bound once, by ``name = expr`` at the top of the body (also ``a, b = e, f``
        and ``q, r = divmod(i, m)``), before the top-level statement that holds ``at``
        (anywhere, for None): name to ``expr``."""
        defs: dict[str, ast.expr] = {}
        for stmt in self.body:
            if at is not None and any(n is at for n in walk([stmt])):
                break
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
                continue
            target, value = stmt.targets[0], stmt.value
            pairs: list[tuple[ast.expr, ast.expr]] = [(target, value)]
            if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
                pairs = list(zip(target.elts, value.elts, strict=False))
            elif isinstance(target, ast.Tuple) and len(target.elts) == 2 and _divmod(value):
                assert isinstance(value, ast.Call)  # ``q, r = divmod(i, m)``
                x, m = value.args
                pairs = [(target.elts[0], ast.BinOp(x, ast.FloorDiv(), m)),
                         (target.elts[1], ast.BinOp(x, ast.Mod(), m))]  # fmt: skip
            for name, expr in pairs:
                if isinstance(name, ast.Name) and self.bindings[name.id] == 1:
                    defs[name.id] = expr
        return defs

    def key_of(self, parts: list) -> object | None:
        """The key of a subscript's positions ``parts``: a flattened index in its first two
        (``x[i // m, i % m]``, also through names bound once at the top of the body,
        ``ti = i // m; fi = i - ti * m`` or ``ti, fi = divmod(i, m)``) is the one element
        iteration ``i`` owns (``i`` is ``ti * m + fi``); else the key of the first
        position (:meth:`key`)."""
        if len(parts) >= 2 and all(isinstance(p, ast.expr) for p in parts[:2]):
            m = self._flattened(parts[0], parts[1])
            if m is not None:
                return (ELEMENT, m)
        return self.key(parts[0]) if parts else None

    def _flattened(self, first: ast.expr, second: ast.expr) -> str | None:
        """``m`` if ``first, second`` are ``i // m, i % m`` (or ``i - (i // m) * m``)."""
        value = _Values(self.index, self.stored, self._defined_before(None))
        m = self._quotient(value.resolve(first))
        rest = value.resolve(second)
        if m is None or not isinstance(rest, ast.BinOp) or not _is(rest.left, self.index):
            return None
        if isinstance(rest.op, ast.Mod):
            return m if ast.unparse(rest.right) == m else None
        product = rest.right
        if isinstance(rest.op, ast.Sub) and isinstance(product, ast.BinOp):
            if isinstance(product.op, ast.Mult):
                for q, w in ((product.left, product.right), (product.right, product.left)):
                    if self._quotient(value.resolve(q)) == m and ast.unparse(w) == m:
                        return m
        return None

    def _quotient(self, expr: ast.expr) -> str | None:
        """``m`` (its text) if ``expr`` is ``i // m`` of the loop variable and a value the
        body does not bind."""
        if not (isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.FloorDiv)):
            return None
        if not _is(expr.left, self.index):
            return None
        bound = {n.id for n in walk([expr.right]) if isinstance(n, ast.Name)} & self.stored
        return None if bound else ast.unparse(expr.right)


def owned_rows(body: list[ast.stmt], index: str, stop: ast.expr | None = None) -> dict[str, object]:
    """:attr:`OwnedRows.arrays` of ``body``."""
    return OwnedRows(body, index, stop).arrays


def row_key(
    body: list[ast.stmt], index: str, expr: ast.expr, stop: ast.expr | None = None
) -> object | None:
    """:meth:`OwnedRows.key` of ``expr`` in ``body``."""
    return OwnedRows(body, index, stop).key(expr)


def _is(expr: ast.expr, name: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == name


def _divmod(value: ast.expr) -> bool:
    return (
        isinstance(value, ast.Call)
        and _is(value.func, "divmod")
        and len(value.args) == 2
        and not value.keywords
    )


def _plus(a: ast.expr, b: ast.expr) -> ast.expr:
    return ast.BinOp(a, ast.Add(), b)


def prange_stop(call: ast.expr) -> ast.expr | None:
    """The end of ``prange(n)`` or ``prange(start, n)``; None for a step or keywords."""
    if isinstance(call, ast.Call) and not call.keywords and 1 <= len(call.args) <= 2:
        return call.args[-1]
    return None


def _block(lo: ast.expr, hi: ast.expr, value: _Values) -> object | None:
    """The key of the blocks ``range(lo, hi)`` if block ``i + 1`` starts where block
    ``i`` ends and the start is linear in ``i``, whatever the names: the bounds' values at
    the fixed points."""
    key = []
    for point in range(_POINTS):
        start, after, next_after = (value.of(lo, point, step) for step in range(3))
        end = value.of(hi, point, 0)
        if start is None or end is None or next_after is None or after != end:
            return None
        if next_after - after != after - start:
            return None  # not linear: a later block could come back over earlier rows
        key.append((start, end))
    return ("block", tuple(key))


class _Values:
    """Expressions as polynomials of the loop variable ``index`` and of the names the
    body does not bind, evaluated at fixed points; ``defs`` are names bound once before
    the inner loop, which stand for what they compute."""

    def __init__(self, index: str, stored: set[str], defs: dict[str, ast.expr]) -> None:
        self.index = index
        self.stored = stored
        self.defs = defs

    def resolve(self, expr: ast.expr) -> ast.expr:
        """``expr``, or what the name ``expr`` stands for."""
        seen = set()
        while isinstance(expr, ast.Name) and expr.id in self.defs and expr.id not in seen:
            seen.add(expr.id)
            expr = self.defs[expr.id]
        return expr

    def is_last(self, test: ast.expr, stop: ast.expr | None) -> bool | None:
        """Whether ``test`` holds exactly for the loop's last iteration (``i + 1 == n``,
        ``i >= n - 1``) or exactly for every other one (``i + 1 < n``); None if neither,
        or if the loop's end ``stop`` is not known."""
        if stop is None or not (isinstance(test, ast.Compare) and len(test.ops) == 1):
            return None
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if isinstance(op, (ast.Lt, ast.LtE)):  # a < b is b > a
            left, right = right, left
        index = ast.Name(self.index, ast.Load())
        answers = set()
        for point in range(_POINTS):
            a, b, i, n = (self.of(e, point, 0) for e in (left, right, index, stop))
            if a is None or b is None or i is None or n is None:
                return None
            d, e = a - b, i - n + 1  # e is zero exactly at the last iteration
            if isinstance(op, (ast.Eq, ast.NotEq)) and e != 0 and d in (e, -e):
                answers.add(isinstance(op, ast.Eq))
            elif isinstance(op, (ast.Gt, ast.Lt)) and d in (e + 1, -e):  # d > 0
                answers.add(d == e + 1)
            elif isinstance(op, (ast.GtE, ast.LtE)) and d in (e, -e - 1):  # d >= 0
                answers.add(d == e)
            else:
                return None
        return answers.pop() if len(answers) == 1 else None

    def of(self, expr: ast.expr, point: int, step: int) -> int | None:
        """``expr`` at fixed point ``point`` (the loop variable plus ``step``), or None if
        it is not a polynomial of the loop variable and of names the body does not bind."""
        return _value(expr, self.index, self.stored, point, step, self.defs)


def _value(
    expr: ast.expr,
    index: str,
    stored: set[str],
    point: int,
    step: int,
    defs: dict[str, ast.expr] | None = None,
) -> int | None:
    """``expr`` at fixed point ``point`` (the loop variable plus ``step``), or None if it
    is not a polynomial of the loop variable and of names the loop does not bind. A name
    of ``defs`` (in the order they are bound) is evaluated for what it computes, from the
    names bound before it."""
    order = list(defs or {})

    def of(e: ast.expr, known: int) -> int | None:  # known: how many of order may be used
        if isinstance(e, ast.Constant) and type(e.value) is int:
            return e.value
        if isinstance(e, ast.Name):
            if e.id == index:
                return 7 + 13 * point + step
            if e.id in order[:known]:
                at = order.index(e.id)
                return of((defs or {})[e.id], at)
            if e.id in stored:
                return None
            return 3 + zlib.crc32(f"{e.id}/{point}".encode()) % 1009
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
            v = of(e.operand, known)
            return None if v is None else -v
        if isinstance(e, ast.BinOp) and isinstance(e.op, (ast.Add, ast.Sub, ast.Mult)):
            a, b = of(e.left, known), of(e.right, known)
            if a is None or b is None:
                return None
            if isinstance(e.op, ast.Mult):
                return a * b
            return a + b if isinstance(e.op, ast.Add) else a - b
        return None

    return of(expr, len(order))


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
