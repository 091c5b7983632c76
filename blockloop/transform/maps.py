"""Map writes: a prange loop writing an outer array at its own index.

``out[i] = v``, ``out[i, j] += v`` and ``out[i, :] = row`` write only what iteration
``i`` owns, so the rows of finished tiles are final and a checkpoint saves just the rows
finished since the last one. Any other write makes the array *blocks* state (saved whole,
by changed blocks). Either way an iteration must not read what another one writes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from .syntax import walk

__all__ = ["carried_read", "map_targets", "own_index"]


def own_index(node: ast.Subscript, index: str) -> bool:
    """Whether the first subscript of ``node`` is exactly the loop variable ``index``."""
    first = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
    return isinstance(first, ast.Name) and first.id == index


def map_targets(body: list[ast.stmt], outer: Iterable[str], index: str) -> dict[str, list[ast.AST]]:
    """The map writes of ``body``: each outer name's store targets ``name[index, ...]``
    that are a whole assignment target (``out[i] = v``, ``out[i, j] += v``); one inside a
    tuple target (``out[i], flag = v, 0``) is not."""
    names = set(outer)
    found: dict[str, list[ast.AST]] = {}
    for node in walk(body):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            if (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id in names
                and own_index(target, index)
            ):
                found.setdefault(target.value.id, []).append(target)
    return found


def carried_read(body: list[ast.stmt], written: Iterable[str], index: str) -> ast.Subscript | None:
    """The first read of a ``written`` array at an index other than the loop's own
    (``a[i - 1]``, ``a[:, j]``, ``a[k]``), or None."""
    names = set(written)
    for node in walk(body):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Name)
            and node.value.id in names
            and not own_index(node, index)
        ):
            return node
    return None
