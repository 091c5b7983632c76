"""Where an access lands in an array: positions through views, and helpers' ranges.

An access ``a[i, k]`` holds the loop's index at position 0. Through a view the positions
move: ``col = d[:, j]`` then ``col[k]`` is ``d[k, j]``. And a helper given two bounds
walks the rows between them: ``for r in range(lo, hi)``. :mod:`blockloop.view.reads`
uses both to tell an iteration's own elements from another's.
"""

from __future__ import annotations

import ast
from collections import Counter

from ..transform.syntax import is_call_to, walk

__all__ = ["after_subscript", "helper_ranges", "view_position"]


def after_subscript(parts: list, level: list) -> list:
    """The positions of an array after subscripting with ``level`` a view of it that
    ``parts`` made (``None`` where they no longer line up). A full slice of the view is
    a position of the array that the next subscript fills: ``x[:, i]`` then ``[k]`` is
    ``x[k, i]``. Past a partial slice (``x[1:][k]``) or a moved axis (``.T``), nothing
    lines up any more."""
    out = list(parts)
    if any(p is None or isinstance(p, str) for p in out):
        return [*out, *[None] * len(level)]
    free = [k for k, p in enumerate(out) if isinstance(p, ast.Slice)]
    for n, item in enumerate(level):
        if isinstance(item, ast.Constant) and item.value in (None, Ellipsis):
            return [*out, *[None] * (len(level) - n)]  # ``np.newaxis``, ``...``
        if n < len(free):
            k = free[n]
            whole = out[k].lower is None and out[k].upper is None and out[k].step is None
            out[k] = item if whole else None
        else:
            out.append(item)
    return out


def view_position(parts: list, k: int) -> int | None:
    """The array's position of dimension ``k`` of the view ``parts`` made (see
    :func:`after_subscript`), or None where it no longer lines up."""
    if any(p is None or isinstance(p, str) for p in parts):
        return None
    free = [n for n, p in enumerate(parts) if isinstance(p, ast.Slice)]
    if k >= len(free):
        return len(parts) + k - len(free)
    whole = parts[free[k]]
    return free[k] if whole.lower is None and whole.upper is None and whole.step is None else None


def helper_ranges(fn: ast.FunctionDef, fixed: frozenset[str]) -> dict[str, str]:
    """The loop variables of ``fn`` bound only by ``for j in range(lo, hi)``, ``lo`` and
    ``hi`` two of its ``fixed`` parameters: ``j`` to ``"range(lo,hi)"``."""
    bound = Counter(
        n.id for n in walk(fn.body) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
    )
    found = {}
    for loop in walk(fn.body):
        if (
            isinstance(loop, ast.For)
            and isinstance(loop.target, ast.Name)
            and bound[loop.target.id] == 1
            and is_call_to(loop.iter, frozenset({"range"}))
        ):
            call = loop.iter
            assert isinstance(call, ast.Call)
            if len(call.args) == 2 and not call.keywords:
                lo, hi = call.args
                if all(isinstance(a, ast.Name) and a.id in fixed for a in (lo, hi)):
                    found[loop.target.id] = f"range({ast.unparse(lo)},{ast.unparse(hi)})"
    return found
