"""The inspection pass itself: the loop body cut down to the marks of what it touches.

The pass (see :mod:`~blockloop.transform.inspection`) keeps what the indices and tests
need, replaces each access of an inspected array by inline marks of its elements
(:mod:`blockloop.numerics.marks`) and drops every store into an array the loop writes;
``_bl_inspect`` runs it over a chunk's iterations, sequentially, and returns the first
conflict.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .partials import PlainPartials
from .syntax import dotted, names_loaded, subscript_parts, walk

if TYPE_CHECKING:
    from .inspection import Inspection
    from .plans import ReductionLoop

__all__ = ["binds", "cut", "inspection_body", "render_inspection", "tests"]


def tests(body: list[ast.stmt]) -> Iterable[ast.expr]:
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


def _index(node: ast.Subscript) -> ast.Tuple:
    """The subscript's indices as a tuple of int64 (``_bl_at`` takes one type of tuple,
    whatever the integer types of the user's indices)."""
    return ast.Tuple(
        [
            ast.Call(ast.Attribute(ast.Name("_bl_np", ast.Load()), "int64", ast.Load()), [p], [])
            for p in subscript_parts(node)
        ],
        ast.Load(),
    )


def binds(target: ast.expr) -> list[str]:
    """The names whose values a store to ``target`` changes (``idx[q] = v``: ``idx``)."""
    while isinstance(target, (ast.Subscript, ast.Attribute, ast.Starred)):
        target = target.value
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in binds(t)]
    return [target.id] if isinstance(target, ast.Name) else []


def _needed(body: list[ast.stmt], written: set[str]) -> set[str]:
    """The names the pass must compute: those the indices of the inspected arrays and the
    tests read, and the names their values read, in turn (not the arrays the loop
    writes, whose shapes the loop does not change)."""
    needed = {
        n
        for node in [
            *tests(body),
            *(
                p
                for node in walk(body)
                if isinstance(node, ast.Subscript) and dotted(node.value) in written
                for p in subscript_parts(node)
            ),
        ]
        for n in names_loaded([node])
    }
    while True:
        before = len(needed)
        for node in walk(body):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if {n for t in targets for n in binds(t)} & needed and node.value is not None:
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
        self.unfollowed = False  # a statement the pass keeps reads an inspected array

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
            self.unfollowed = True  # its value would be needed: not the loop's at run time
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
        if not {n for t in node.targets for n in binds(t)} & self.needed:
            return [*self._marks(node.value), *claims] or [ast.Pass()]
        return [ast.Assign(targets, self.visit(node.value)), *claims]

    def visit_AnnAssign(self, node: ast.AnnAssign) -> list[ast.stmt]:
        if node.value is None:
            return [ast.Pass()]
        return self.visit_Assign(ast.Assign([node.target], node.value))

    def visit_Expr(self, node: ast.Expr) -> ast.AST | list[ast.stmt]:
        if not set(names_loaded([node])) & self.needed:  # ``notes.append(x)``
            return self._marks(node.value) or [ast.Pass()]
        return self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        target = node.target
        if isinstance(target, ast.Subscript) and dotted(target.value) in self.written:
            claims: list[ast.stmt] = []
            self._target(target, claims)
            return [*self._marks(node.value), *claims]
        if not set(binds(target)) & self.needed:
            return self._marks(node.value) or [ast.Pass()]
        return self.generic_visit(node)


def cut(body: list[ast.stmt], inspected: Inspection) -> tuple[list[ast.stmt], bool]:
    """The body of the inspection pass, and whether it follows every access: False where
    a statement it keeps reads an inspected array (a value the pass cannot know)."""
    out: list[ast.stmt] = []
    written = set(inspected.written)
    transformer = _Pass(inspected, written, _needed(body, written))
    for stmt in copy.deepcopy(body):
        result = transformer.visit(stmt)
        out.extend(result if isinstance(result, list) else [result])
    return [ast.fix_missing_locations(s) for s in out], not transformer.unfollowed


def inspection_body(body: list[ast.stmt], inspected: Inspection) -> list[ast.stmt]:
    """The body of the inspection pass (see the module docstring)."""
    statements, follows = cut(body, inspected)
    assert follows, "inspection() accepts only a body whose pass follows every access"
    return statements


def render_inspection(
    plan: ReductionLoop, params: list[str], head: list[str], loop: str, options: str
) -> str:
    """``_bl_inspect``: the pass over every iteration, returning the first conflict.
    ``params`` are ``_bl_chunk``'s, ``head`` its lines that read the range's start and
    step, ``loop`` the ``for`` line of a tile's iterations (``_bl_lo`` to ``_bl_hi``),
    ``options`` its ``@njit`` options (the pass is sequential)."""
    inspected = plan.inspected
    assert inspected is not None
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
    for stmt in inspection_body(plan.body, inspected):
        text += "".join(f"        {line}\n" for line in ast.unparse(stmt).splitlines())
    return text + "    return _bl_hit\n\n\n"
