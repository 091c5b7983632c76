"""Reduction updates in a loop body (``s += e``, ``h[k] += e``, ``m = min(m, e)``).

Shared by the analysis of a kernel's own prange loop (:mod:`.reduction`) and of prange
loops inside a time step (:mod:`.instep`).
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from dataclasses import dataclass

from ..operators import by_ast_op
from .maps import owned_at
from .source import Source
from .syntax import names_loaded, walk

__all__ = ["Update", "refuse_partial_reads", "updates"]


@dataclass(frozen=True)
class Update:
    """One reduction update in a loop body: ``s += e``, ``h[k] += e`` or ``m = min(m, e)``.

    Attributes
    ----------
    name : str
        The accumulator.
    op : str
        Its operator, a key of :data:`blockloop.operators.REDUCTIONS`.
    indexed : bool
        Whether the update is element-wise into an array (``h[k] += e``).
    node : ast.AugAssign or ast.Assign
        The statement.
    own_read : ast.Name or None
        The read of the accumulator that is part of the update itself (``h`` in
        ``h[k] += e``, the first ``m`` in ``m = min(m, e)``); every other read of it inside
        the loop sees only a tile's partial value.
    """

    name: str
    op: str
    indexed: bool
    node: ast.AugAssign | ast.Assign
    own_read: ast.Name | None = None

    @property
    def target(self) -> ast.expr:
        """The node the update stores to."""
        return self.node.targets[0] if isinstance(self.node, ast.Assign) else self.node.target


def _augmented(
    node: ast.AugAssign, outer: set[str], index: str, owned: Collection[str]
) -> Update | None:
    reduction = by_ast_op(node.op)
    target = node.target
    if reduction is None:
        return None
    if isinstance(target, ast.Name) and target.id in outer:
        return Update(target.id, reduction.key, False, node)
    if (
        isinstance(target, ast.Subscript)
        and isinstance(target.value, ast.Name)
        and target.value.id in outer
        and not owned_at(target, index)
        and target.value.id not in owned
    ):
        return Update(target.value.id, reduction.key, True, node, target.value)
    return None


def _min_max(node: ast.Assign, outer: set[str]) -> Update | None:
    if len(node.targets) != 1:
        return None
    target, value = node.targets[0], node.value
    if (
        isinstance(target, ast.Name)
        and target.id in outer
        and isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in ("min", "max")
        and len(value.args) == 2
        and not value.keywords
        and isinstance(first := value.args[0], ast.Name)
        and first.id == target.id
        and target.id not in names_loaded([value.args[1]])
    ):
        return Update(target.id, value.func.id, False, node, first)
    return None


def updates(
    body: list[ast.stmt], outer: set[str], index: str, owned: Collection[str] = ()
) -> list[Update]:
    """The reduction updates of a normalised body, in source order.

    Only names in ``outer`` (bound before the loop) accumulate. An update at the loop's
    own index (``out[i, j] += e``, also ``out[k, i] += e``) writes what its iteration
    owns, not a reduction; so does one into an array of ``owned``, which the body writes
    only at rows one iteration owns (:class:`~blockloop.transform.owned.OwnedRows`:
    ``x[j] += e`` for ``j`` walking the iteration's block).
    """
    found: list[Update | None] = []
    for node in walk(body):
        if isinstance(node, ast.AugAssign):
            found.append(_augmented(node, outer, index, owned))
        elif isinstance(node, ast.Assign):
            found.append(_min_max(node, outer))
    return [u for u in found if u is not None]


def refuse_partial_reads(
    source: Source, body: list[ast.stmt], accs: set[str], found: list[Update], where: str
) -> None:
    """Refuse a read of an accumulator in ``body`` other than by its own update (the
    ``own_read`` of one of ``found``): a tile holds only its partial value. Its shape,
    size or dtype (``hist.shape[0]``) are the same in every tile."""
    own = {id(u.own_read) for u in found if u.own_read is not None}
    own |= {
        id(node.value)
        for node in walk(body)
        if isinstance(node, ast.Attribute) and node.attr in {"shape", "size", "ndim", "dtype"}
    }
    for node in walk(body):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id in accs
            and id(node) not in own
        ):
            raise source.error(
                node,
                f"`{node.id}` is a reduction variable and is read inside {where}; each tile "
                "sees only its own partial value there. Read it after the loop",
            )
