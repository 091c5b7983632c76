"""Whether the steps of a sequential loop can be split over MPI ranks by rows, and the halo.

A step splits when each of its prange loops writes rows of the state at its own index only
(``v[i, j] = ...``): rank ``r`` then runs the iterations whose row lies in its block of
rows, and before the next step receives the rows near its block that its neighbours wrote
and it will read. The reads decide how many: ``u[i - 1, j]`` and ``u[i + 1, j]`` need one
row each side (the *halo*); a read whose row is not the index plus a constant cannot be
bounded, and then every rank receives every written row after each step.

Statements of the step outside its prange loops run on every rank alike (``u, v = v, u``,
``t += dt``); they must not touch the rows of an array, which only some ranks hold. Which
names hold arrays is known at run time, so the plan lists the names such statements use,
and the runtime refuses the split if one of them is an array.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

from .syntax import is_call_to, names_loaded, walk

__all__ = ["SplitPlan", "split_plan", "split_step"]


@dataclass(frozen=True)
class SplitPlan:
    """How a step splits over ranks (``refusal`` None), or why it does not.

    Attributes
    ----------
    written : tuple of str
        State names the prange loops write, at their own row.
    halo : int or None
        Rows each side a rank reads beyond its block (None: reads not bounded).
    outside : tuple of str
        State names statements outside the prange loops (and a ``while`` test) read; none
        may hold an array.
    loops : tuple of int
        The positions of the prange loops among the step's statements.
    refusal : str or None
        Why the step cannot be split, in the user's words.
    """

    written: tuple[str, ...] = ()
    halo: int | None = 0
    outside: tuple[str, ...] = ()
    loops: tuple[int, ...] = ()
    refusal: str | None = None


def _offset(index: ast.expr, var: str) -> int | None:
    """``c`` for a row subscript ``var + c``, ``var - c`` or ``c + var``; None otherwise."""
    if isinstance(index, ast.Name) and index.id == var:
        return 0
    if isinstance(index, ast.BinOp) and isinstance(index.op, (ast.Add, ast.Sub)):
        left, right = index.left, index.right
        if isinstance(left, ast.Name) and left.id == var and isinstance(right, ast.Constant):
            if isinstance(right.value, int):
                return right.value if isinstance(index.op, ast.Add) else -right.value
        if isinstance(index.op, ast.Add) and isinstance(right, ast.Name) and right.id == var:
            if isinstance(left, ast.Constant) and isinstance(left.value, int):
                return left.value
    return None


def _row(node: ast.Subscript) -> ast.expr:
    index = node.slice
    return index.elts[0] if isinstance(index, ast.Tuple) and index.elts else index


def _prange_loop(stmt: ast.stmt, pranges: frozenset[str]) -> ast.For | None:
    if isinstance(stmt, ast.For) and is_call_to(stmt.iter, pranges):
        return stmt
    return None


def split_plan(
    step: list[ast.stmt],
    state: tuple[str, ...],
    condition: ast.expr | None,
    pranges: frozenset[str],
) -> SplitPlan:
    """How ``step`` (the body as the generated steps run it) splits over ranks."""
    states = set(state)
    written: set[str] = set()
    halo: int | None = 0
    outside = set(names_loaded([condition])) & states if condition is not None else set()
    loops: list[int] = []
    for k, stmt in enumerate(step):
        loop = _prange_loop(stmt, pranges)
        if loop is None:
            if any(is_call_to(n, pranges) for n in walk([stmt])):
                return SplitPlan(refusal="a prange loop inside another statement of the step")
            if any(_generated(n) for n in walk([stmt])):
                return SplitPlan(refusal="a prange reduction inside each step")
            outside |= _used_outside(stmt, states)
            continue
        loops.append(k)
        call = loop.iter
        assert isinstance(call, ast.Call)
        if not isinstance(loop.target, ast.Name) or len(call.args) not in (1, 2) or call.keywords:
            return SplitPlan(refusal="a prange loop with a step (`prange(a, b, s)`)")
        var = loop.target.id
        for node in walk(loop.body):
            if isinstance(node, ast.Name) and node.id in states and not _indexed(node, loop):
                return SplitPlan(refusal=f"`{node.id}` is used whole inside the prange loop")
            if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)):
                continue
            name = node.value.id
            if name not in states:
                continue
            offset = _offset(_row(node), var)
            if isinstance(node.ctx, ast.Store) or _augmented(node, loop):
                if offset != 0:
                    return SplitPlan(
                        refusal=f"`{name}` is written at a row other than the loop's index"
                    )
                written.add(name)
            if offset is None:
                halo = None
            elif halo is not None:
                halo = max(halo, abs(offset))
    if not loops:
        return SplitPlan(refusal="no prange loop in the step")
    return SplitPlan(tuple(sorted(written)), halo, tuple(sorted(outside)), tuple(loops))


def split_step(step: list[ast.stmt], split: SplitPlan) -> list[ast.stmt]:
    """``step`` with each prange loop cut to the rows ``_bl_lo .. _bl_hi`` of this rank:
    ``prange(a, b)`` becomes ``prange(max(a, _bl_lo), min(b, _bl_hi))``."""
    out = []
    for k, stmt in enumerate(step):
        stmt = copy.deepcopy(stmt)
        if k in split.loops:
            assert isinstance(stmt, ast.For) and isinstance(stmt.iter, ast.Call)
            call = stmt.iter
            start, stop = call.args if len(call.args) == 2 else (ast.Constant(0), call.args[0])
            lo = ast.Call(ast.Name("max", ast.Load()), [start, ast.Name("_bl_lo", ast.Load())], [])
            hi = ast.Call(ast.Name("min", ast.Load()), [stop, ast.Name("_bl_hi", ast.Load())], [])
            call.args = [lo, hi]
            ast.fix_missing_locations(stmt)
        out.append(stmt)
    return out


def _generated(node: ast.AST) -> bool:
    """A name of the tiled reduction blockloop wrote into the step (not the stop flag)."""
    return isinstance(node, ast.Name) and node.id.startswith("_bl_") and node.id != "_bl_stop"


def _augmented(node: ast.Subscript, loop: ast.For) -> bool:
    return any(isinstance(n, ast.AugAssign) and n.target is node for n in walk(loop.body))


def _indexed(name: ast.Name, loop: ast.For) -> bool:
    """Whether ``name`` is the array of a subscript or of an attribute (``u.shape``)."""
    for n in walk(loop.body):
        if isinstance(n, (ast.Subscript, ast.Attribute)) and n.value is name:
            return True
    return False


def _used_outside(stmt: ast.stmt, states: set[str]) -> set[str]:
    """State names ``stmt`` uses other than by rebinding names to names (``u, v = v, u``)."""
    if isinstance(stmt, ast.Assign) and all(
        isinstance(n, ast.Name) for t in [*stmt.targets, stmt.value] for n in _elements(t)
    ):
        return set()
    return {n.id for n in walk([stmt]) if isinstance(n, ast.Name) and n.id in states}


def _elements(node: ast.expr) -> list[ast.expr]:
    return list(node.elts) if isinstance(node, ast.Tuple) else [node]
