"""Arrays whose elements each iteration finds by computing: checked at the call.

``state[i1], state[i2] = a * state[i1] + b * state[i2], c * state[i1] + d * state[i2]``,
with ``i1`` and ``i2`` built from the bits of the loop variable (a quantum gate on a
state vector), is race-free: the pairs of distinct iterations never meet. No reading of
the syntax can show it, but the elements each iteration touches are known before the loop
runs, whenever the indices (and every test that decides which accesses run) are computed
from values the loop does not write. Then the loop is **inspected** at each call: a
sequential pass computes every iteration's indices, without writing anything of the
user's, and marks each element with the first iteration that touched it and whether it
was written. Two iterations touching one element that either writes is a race (or a read
of what another writes), refused with both iterations named; otherwise the array is
accepted and saved whole by changed blocks, and every iteration's reads are its own.

The pass is the loop body keeping only what the indices and tests need (a value that only
flows into a store is not computed), each load or store of an inspected array replaced by
the marks of its elements, and a store into any other array the loop writes dropped.

It is built only where that is the whole truth: no index or test reads what the loop
writes, every array the loop writes appears only subscripted (or for its ``shape``), no
helper is handed one, and every other store is into an array the iteration makes itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .inspect_pass import binds, cut, tests
from .maps import METADATA, carried_read, value_call
from .owned import OwnedRows
from .syntax import (
    Parents,
    dotted,
    made_as_lists,
    made_by_numpy,
    names_loaded,
    subscript_parts,
    walk,
)
from .types import UNKNOWN, NameTypes

__all__ = ["Inspection", "inspect_reads", "inspection"]


@dataclass(frozen=True)
class Inspection:
    """The arrays a loop inspects at each call (see the module docstring).

    Attributes
    ----------
    arrays : tuple of str
        The inspected arrays, in the order the pass numbers them.
    loads : tuple of int or None
        For each, the fewest indices a load of it has (None: it is only written): the
        array must have no more dimensions than that (a load with fewer is a view, which
        the pass cannot follow).
    written : tuple of str
        Every outer array the loop writes (the pass writes none of them, and reads only
        their shapes).
    reads : tuple of str
        Every name the pass reads: its verdict is a function of the values of those made
        before the loop (and of the loop's range).
    """

    arrays: tuple[str, ...]
    loads: tuple[int | None, ...]
    written: tuple[str, ...]
    reads: tuple[str, ...] = ()

    def __str__(self) -> str:
        return ", ".join(self.arrays)


def _parts(node: ast.Subscript) -> list[ast.expr]:
    return list(subscript_parts(node))


def _measured(node: ast.AST) -> set[int]:
    """The ``id()`` of names in ``node`` read only for their shape (``x.shape``, ``len(x)``)."""
    return {
        id(n.value) for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr in METADATA
    } | {
        id(n.args[0])
        for n in ast.walk(node)
        if isinstance(n, ast.Call) and dotted(n.func) == "len" and len(n.args) == 1
    }


def _reads_any(node: ast.AST, names: set[str]) -> bool:
    """Whether ``node`` reads a value of one of ``names`` (not only its shape)."""
    skip = _measured(node)
    return any(
        isinstance(n, ast.Name)
        and isinstance(n.ctx, ast.Load)
        and n.id in names
        and id(n) not in skip
        for n in ast.walk(node)
    )


def _tainted(body: list[ast.stmt], written: set[str]) -> set[str]:
    """Names whose values may depend on what the loop writes: those bound or stored into
    (``s[0] = v``) from such a value, and those handed to a call given one (``s.append(v)``:
    a call may change what it is handed)."""
    tainted: set[str] = set()
    while True:
        before = len(tainted)
        for node in walk(body):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.NamedExpr)):
                value, targets = (
                    node.value,
                    (node.targets if isinstance(node, ast.Assign) else [node.target]),
                )
            elif isinstance(node, (ast.For, ast.comprehension)):
                value, targets = node.iter, [node.target]
            elif isinstance(node, ast.Call):  # ``s.append(v)``, ``fill(idx, v)``
                value, targets = node, [*node.args, *(k.value for k in node.keywords)]
                if isinstance(node.func, ast.Attribute) and not value_call(node):
                    targets.append(node.func.value)  # a receiver, not a module (``np.abs``)
            else:
                continue
            if value is not None and _reads_any(value, written | tainted):
                tainted |= {n for t in targets for n in binds(t)}
        if len(tainted) == before:
            return tainted


def inspection(
    body: list[ast.stmt],
    arrays: Iterable[str],
    written: Iterable[str],
    accumulators: Iterable[str],
    types: NameTypes = UNKNOWN,
) -> Inspection | None:
    """The inspection of ``arrays`` in the prange loop ``body``, or None where the pass
    would not be the whole truth (see the module docstring). ``written`` are all the
    outer arrays the body writes; ``accumulators`` its reduction accumulators."""
    wanted = tuple(sorted(set(arrays)))
    written_set = set(written) | set(wanted)
    local = made_by_numpy(body, types.numpy_names) | made_as_lists(body) | set(accumulators)
    parents = Parents(body)
    measured = set().union(*(_measured(s) for s in body))
    loads: dict[str, int] = {}
    for node in walk(body):
        if not (isinstance(node, ast.Name) and node.id in written_set) or id(node) in measured:
            continue
        parent = parents.of(node)
        if not (isinstance(parent, ast.Subscript) and parent.value is node):
            return None  # handed on, aliased or a method called: the pass cannot follow it
        if node.id in wanted:
            parts = _parts(parent)
            if any(isinstance(p, (ast.Slice, ast.Starred)) for p in parts):
                return None
            call = parents.of(parent)  # ``add(x[k], v)``: a helper may write a view
            if isinstance(call, ast.Call) and parent in call.args and not value_call(call):
                return None
            if isinstance(parent.ctx, ast.Load):
                loads[node.id] = min(loads.get(node.id, len(parts)), len(parts))
    for node in walk(body):  # every other store is into the iteration's own arrays
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            return None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            base = node.value
            if not (isinstance(base, ast.Name) and (base.id in written_set or base.id in local)):
                return None
    tainted = _tainted(body, written_set)
    for node in walk(body):  # ``p = peak(x[i]); p -= 1``: a number, or a view of ``x``
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            if node.target.id in tainted and not types.plain(node.target.id):
                return None
    if any(_reads_any(test, written_set | tainted) for test in tests(body)):
        return None
    for node in walk(body):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in wanted
            and any(_reads_any(p, written_set | tainted) for p in _parts(node))
        ):
            return None
    if any(isinstance(n, (ast.Return, ast.Yield, ast.Raise)) for n in walk(body)):
        return None
    found = Inspection(wanted, tuple(loads.get(a) for a in wanted), tuple(sorted(written_set)))
    statements, follows = cut(body, found)
    return replace(found, reads=tuple(sorted(names_loaded(statements)))) if follows else None


def inspect_reads(
    body: list[ast.stmt],
    maps: Iterable[str],
    blocks: Iterable[str],
    written: Iterable[str],
    accumulators: Iterable[str],
    index: str,
    stop: ast.expr | None,
    types: NameTypes = UNKNOWN,
) -> tuple[ast.Subscript | None, Inspection | None]:
    """Decide the reads of arrays another iteration may write: the first read that no
    inspection can clear (None if there is none), and the inspection. Only ``blocks``
    are inspected, and not those written only at rows an iteration owns (``x[2 * i + 1]``,
    see :mod:`~blockloop.transform.owned`): a read ``a[i - 1]`` of a map, or ``x[2 * i +
    3]`` of those, is another iteration's for certain, and refused at once."""
    mapped, wanted = set(maps) | set(OwnedRows(body, index, stop).arrays), set()
    first = read = carried_read(body, mapped | set(blocks), index, stop)
    while read is not None:
        name = dotted(read.value) or ""
        if name in mapped or name in wanted:
            return first, None
        wanted.add(name)
        read = carried_read(body, (mapped | set(blocks)) - wanted, index, stop)
    if not wanted:
        return None, None
    found = inspection(body, wanted, {*written, *mapped}, accumulators, types)
    return (first, None) if found is None else (None, found)
