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
import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .maps import carried_read, value_call
from .owned import OwnedRows
from .partials import PlainPartials
from .syntax import dotted, made_as_lists, made_by_numpy, names_loaded, subscript_parts, walk
from .types import UNKNOWN, NameTypes

if TYPE_CHECKING:
    from .plans import ReductionLoop

__all__ = ["Inspection", "inspect_reads", "inspection", "inspection_body", "render_inspection"]

_SHAPE = frozenset({"shape", "size", "ndim", "dtype"})


@dataclass(frozen=True)
class Inspection:
    """The arrays a loop inspects at each call (see the module docstring).

    Attributes
    ----------
    arrays : tuple of str
        The inspected arrays, in the order the pass numbers them.
    loads : tuple of int
        For each, the fewest indices a load of it has: the array must have no more
        dimensions than that (a load with fewer is a view, which the pass cannot follow).
    """

    arrays: tuple[str, ...]
    loads: tuple[int, ...]

    def __str__(self) -> str:
        return ", ".join(self.arrays)


def _parts(node: ast.Subscript) -> list[ast.expr]:
    return list(subscript_parts(node))


def _measured(node: ast.AST) -> set[int]:
    """The ``id()`` of names in ``node`` read only for their shape (``x.shape``, ``len(x)``)."""
    return {
        id(n.value) for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr in _SHAPE
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


def _bound(target: ast.expr) -> list[str]:
    """The names a target binds (not those its subscripts read)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _bound(t)]
    return _bound(target.value) if isinstance(target, ast.Starred) else []


def _tainted(body: list[ast.stmt], written: set[str]) -> set[str]:
    """Names the body binds from a value that may depend on what the loop writes."""
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
            else:
                continue
            if value is not None and _reads_any(value, written | tainted):
                tainted |= {n for t in targets for n in _bound(t)}
        if len(tainted) == before:
            return tainted


def _tests(body: list[ast.stmt]) -> Iterable[ast.expr]:
    """Every expression that decides which statements or operands run."""
    for node in walk(body):
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            yield node.test
        elif isinstance(node, ast.For):
            yield node.iter
        elif isinstance(node, ast.BoolOp):
            yield from node.values[:-1]
        elif isinstance(node, ast.comprehension):
            yield node.iter
            yield from node.ifs


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
    parents = {id(c): p for p in walk(body) for c in ast.iter_child_nodes(p)}
    measured = set().union(*(_measured(s) for s in body))
    loads: dict[str, int] = {}
    for node in walk(body):
        if not (isinstance(node, ast.Name) and node.id in written_set) or id(node) in measured:
            continue
        parent = parents.get(id(node))
        if not (isinstance(parent, ast.Subscript) and parent.value is node):
            return None  # handed on, aliased or a method called: the pass cannot follow it
        if node.id in wanted:
            parts = _parts(parent)
            if any(isinstance(p, (ast.Slice, ast.Starred)) for p in parts):
                return None
            call = parents.get(id(parent))  # ``add(x[k], v)``: a helper may write a view
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
    if any(_reads_any(test, written_set | tainted) for test in _tests(body)):
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
    return Inspection(wanted, tuple(loads.get(a, 99) for a in wanted))


def _index(node: ast.Subscript) -> ast.Tuple:
    """The subscript's indices as a tuple of int64 (``_bl_read`` and ``_bl_claim`` take
    one type of tuple, whatever the integer types of the user's indices)."""
    return ast.Tuple(
        [
            ast.Call(ast.Attribute(ast.Name("_bl_np", ast.Load()), "int64", ast.Load()), [p], [])
            for p in _parts(node)
        ],
        ast.Load(),
    )


def _binds(target: ast.expr) -> list[str]:
    """The names whose values a store to ``target`` changes (``idx[q] = v``: ``idx``)."""
    while isinstance(target, (ast.Subscript, ast.Attribute, ast.Starred)):
        target = target.value
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _binds(t)]
    return [target.id] if isinstance(target, ast.Name) else []


def _needed(body: list[ast.stmt], written: set[str]) -> set[str]:
    """The names the pass must compute: those the indices of the inspected arrays and the
    tests read, and the names their values read, in turn (not the arrays the loop
    writes, whose shapes the loop does not change)."""
    needed = {
        n
        for node in [
            *_tests(body),
            *(
                p
                for node in walk(body)
                if isinstance(node, ast.Subscript) and dotted(node.value) in written
                for p in _parts(node)
            ),
        ]
        for n in names_loaded([node])
    }
    while True:
        before = len(needed)
        for node in walk(body):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if {n for t in targets for n in _binds(t)} & needed and node.value is not None:
                    needed |= set(names_loaded([node.value, *targets]))
        if len(needed) == before:
            return needed - written


class _Pass(ast.NodeTransformer):
    """The loop body as the inspection runs it (see the module docstring)."""

    def __init__(self, inspected: Inspection, written: set[str], needed: set[str]) -> None:
        self.number = {name: k for k, name in enumerate(inspected.arrays)}
        self.written = written | set(inspected.arrays)
        self.needed = needed
        self.dummies = 0

    def _call(self, func: str, node: ast.Subscript, write: int | None) -> ast.Call:
        name = dotted(node.value) or ""
        own = ast.Name(f"_bl_own_{name}", ast.Load())
        args: list[ast.expr] = [own, ast.Name(name, ast.Load()), self.visit(_index(node))]
        args += [ast.Name("_bl_it", ast.Load())]
        args += [ast.Constant(write)] if write is not None else []
        args += [ast.Name("_bl_hit", ast.Load()), ast.Constant(self.number[name])]
        return ast.Call(ast.Name(func, ast.Load()), args, [])

    def _claim(self, node: ast.Subscript, write: int) -> list[ast.stmt]:
        """The marks of ``node``'s elements, as statements (a call per mark would make
        the pass several times slower: numba does not inline it)."""
        name = dotted(node.value) or ""
        own, index = f"_bl_own_{name}", ast.unparse(self.visit(_index(node)))
        seen = "_bl_hit[0] < 0" if write else "_bl_m & 1 and _bl_hit[0] < 0"
        text = f"""
_bl_o, _bl_n = _bl_at({name}.shape, {index}, _bl_hit, _bl_it, {self.number[name]})
for _bl_e in range(_bl_o, _bl_o + _bl_n):
    _bl_m = {own}[_bl_e]
    if _bl_m < 0:
        {own}[_bl_e] = 2 * _bl_it + {write}
    elif _bl_m >> 1 == _bl_it:
        {own}[_bl_e] = _bl_m | {write}
    elif {seen}:
        _bl_hit[0] = {self.number[name]}
        _bl_hit[1] = _bl_e
        _bl_hit[2] = _bl_m >> 1
        _bl_hit[3] = _bl_it
"""
        return ast.parse(text).body

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if isinstance(node.ctx, ast.Load) and dotted(node.value) in self.number:
            return self._call("_bl_read", node, None)
        return self.generic_visit(node)

    def _dummy(self) -> ast.Name:
        self.dummies += 1
        return ast.Name(f"_bl_d{self.dummies}", ast.Store())

    def _target(self, target: ast.expr, claims: list[ast.stmt]) -> ast.expr:
        """``target`` with each store into a written array replaced by a new name."""
        if isinstance(target, (ast.Tuple, ast.List)):
            return type(target)([self._target(t, claims) for t in target.elts], ast.Store())
        if isinstance(target, ast.Subscript) and dotted(target.value) in self.written:
            if dotted(target.value) in self.number:
                claims.extend(self._claim(target, 1))
            return self._dummy()
        return self.visit(target)

    def _marks(self, value: ast.expr) -> list[ast.stmt]:
        """Only the marks of the reads in ``value``, whose result no index needs."""
        return [
            stmt
            for n in ast.walk(value)
            if isinstance(n, ast.Subscript)
            and isinstance(n.ctx, ast.Load)
            and dotted(n.value) in self.number
            for stmt in self._claim(n, 0)
        ]

    def visit_Assign(self, node: ast.Assign) -> list[ast.stmt]:
        claims: list[ast.stmt] = []
        targets = [self._target(t, claims) for t in node.targets]
        if not {n for t in node.targets for n in _binds(t)} & self.needed:
            return [*self._marks(node.value), *claims] or [ast.Pass()]
        return [ast.Assign(targets, self.visit(node.value)), *claims]

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        target = node.target
        if isinstance(target, ast.Subscript) and dotted(target.value) in self.written:
            claims: list[ast.stmt] = []
            self._target(target, claims)
            return [*self._marks(node.value), *claims]
        if not set(_binds(target)) & self.needed:
            return self._marks(node.value) or [ast.Pass()]
        return self.generic_visit(node)


def inspection_body(
    body: list[ast.stmt], inspected: Inspection, written: Iterable[str]
) -> list[ast.stmt]:
    """The body of the inspection pass (see the module docstring)."""
    out: list[ast.stmt] = []
    transformer = _Pass(inspected, set(written), _needed(body, {*written, *inspected.arrays}))
    for stmt in copy.deepcopy(body):
        result = transformer.visit(stmt)
        out.extend(result if isinstance(result, list) else [result])
    return [ast.fix_missing_locations(s) for s in out]


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


def render_inspection(
    plan: ReductionLoop, params: list[str], head: list[str], loop: str, options: str
) -> str:
    """``_bl_inspect``: the pass over every iteration, returning the first conflict.
    ``params`` are ``_bl_chunk``'s, ``head`` its lines that read the range's start and
    step, ``loop`` the ``for`` line of a tile's iterations (``_bl_lo`` to ``_bl_hi``),
    ``options`` its ``@njit`` options (the pass is sequential)."""
    inspected = plan.inspected
    assert inspected is not None
    written = {*plan.maps, *plan.blocks, *(u.name for u in plan.row_updates)}
    opens = [PlainPartials(a.name, a.op).open() for a in plan.accumulators]
    lines = [
        f"@_bl_njit({options.replace('parallel=True, ', '')})",
        f"def _bl_inspect({', '.join(params)}):",
        "    _bl_hit = _bl_np.full(4, -1, _bl_np.int64)",
        *(f"    _bl_own_{a} = _bl_np.full({a}.size, -1, _bl_np.int32)" for a in inspected.arrays),
        "    _bl_j = 0",
        *(f"    {line.strip()}" for line in [*head, *opens]),
        "    _bl_it = -1",
        "    _bl_lo = 0",
        "    _bl_hi = _bl_count",
        f"    {loop}",
        "        _bl_it += 1",
    ]
    text = "\n".join(lines) + "\n"
    for stmt in inspection_body(plan.body, inspected, written):
        text += "".join(f"        {line}\n" for line in ast.unparse(stmt).splitlines())
    return text + "    return _bl_hit\n\n\n"
