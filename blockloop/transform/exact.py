"""The rewriting of ``exact=True`` updates in a blocked reduction's tile loop."""

from __future__ import annotations

import ast
import copy
from collections.abc import Mapping

from ..operators import EXACT_HELPERS
from .source import Source

__all__ = ["EXACT_NAMES", "buffered_updates", "exact_updates"]

EXACT_NAMES = EXACT_HELPERS
"""The helpers of :mod:`blockloop.numerics.exact` a generated module imports."""


def buffered_updates(body: list[ast.stmt], names: set[str]) -> dict[str, bool]:
    """The accumulators in ``names`` whose terms a tile can buffer, each with whether its
    buffer must be cleared before each block: an accumulator with one update, ``s += e``
    or ``s -= e``, outside any loop inside the body, so that it runs at most once an
    iteration. Cleared (to -0.0, the identity of IEEE addition) when the update may not
    run: under an ``if``, or in a body with a ``continue``."""
    updates: dict[str, list[tuple[ast.AugAssign, bool]]] = {}

    def visit(node: ast.AST, in_loop: bool) -> None:
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            updates.setdefault(node.target.id, []).append((node, in_loop))
        for child in ast.iter_child_nodes(node):
            visit(child, in_loop or isinstance(node, (ast.For, ast.While)))

    for stmt in body:
        visit(stmt, False)
    skips = any(isinstance(node, ast.Continue) for stmt in body for node in ast.walk(stmt))
    buffered = {}
    for name in names:
        found = updates.get(name, [])
        if len(found) == 1 and isinstance(found[0][0].op, (ast.Add, ast.Sub)) and not found[0][1]:
            buffered[name] = skips or not any(found[0][0] is stmt for stmt in body)
    return buffered


def exact_updates(
    body: list[ast.stmt],
    names: set[str],
    source: Source,
    buffered: Mapping[str, bool] | None = None,
) -> list[ast.stmt]:
    """``body`` with each ``+=``/``-=`` update of an accumulator in ``names`` made a call of
    the exact helpers: ``s += e`` -> ``s = _bl_xadd(s, e)`` (a scalar's running float sums
    live in ``s``, arrays are updated in their rows), or ``s = _bl_xput(s, _bl_xb_s, _bl_q,
    e)`` for one in ``buffered`` (:func:`buffered_updates`); ``h[k] -= e`` ->
    ``_bl_xupd(h, k, -(e))`` (the analysis allows no other use of an accumulator).

    Raises
    ------
    BlockingError
        For an update of a slice (``h[a:b] += e``): exact sums add one element at a time.
    """

    class Rewrite(ast.NodeTransformer):
        def visit_AugAssign(self, node: ast.AugAssign) -> ast.stmt:
            target = node.target
            if not isinstance(node.op, (ast.Add, ast.Sub)):
                return node
            value = node.value
            if isinstance(node.op, ast.Sub):
                value = ast.UnaryOp(op=ast.USub(), operand=value)
            if isinstance(target, ast.Name) and target.id in names:
                args = [ast.Name(target.id, ast.Load()), value]
                call = _call("_bl_xadd", args)
                if target.id in (buffered or {}):
                    where = [ast.Name(f"_bl_xb_{target.id}", ast.Load()), ast.Name("_bl_q")]
                    call = _call("_bl_xput", [args[0], *where, value])
                new: ast.stmt = ast.Assign(
                    targets=[ast.Name(target.id, ast.Store())], value=call, lineno=node.lineno
                )
            elif (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id in names
            ):
                if any(isinstance(n, ast.Slice) for n in ast.walk(target.slice)):
                    raise source.error(
                        node,
                        f"exact=True sums `{target.value.id}` one element at a time; "
                        "write the slice update as a loop over its elements "
                        f"(`for m in range(a, b): {target.value.id}[m] += ...`)",
                    )
                array = ast.Name(target.value.id, ast.Load())
                new = ast.Expr(_call("_bl_xupd", [array, target.slice, value]))
            else:
                return node
            return ast.copy_location(new, node)

    return [Rewrite().visit(copy.deepcopy(stmt)) for stmt in body]


def _call(name: str, args: list[ast.expr]) -> ast.Call:
    return ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
