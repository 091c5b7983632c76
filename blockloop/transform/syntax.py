"""Syntax helpers shared by every analysis: walks, names read and bound, parents.

Pure functions of ``ast`` trees; this module imports nothing else of blockloop.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Iterable, Iterator

__all__ = [
    "LOOPS",
    "SCOPES",
    "Parents",
    "dotted",
    "is_call_to",
    "is_name",
    "made_as_lists",
    "made_by_numpy",
    "names_loaded",
    "names_stored",
    "reads_before_binding",
    "subscript_parts",
    "walk",
]

SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
LOOPS = (ast.For, ast.While, ast.AsyncFor)


def walk(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """All nodes below ``nodes`` in source order, not entering nested function or class scopes."""
    stack = list(nodes)[::-1]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, SCOPES):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def names_loaded(nodes: Iterable[ast.AST]) -> dict[str, ast.Name]:
    """First ``Name`` node of each name read in ``nodes`` (``x += 1`` reads ``x`` too)."""
    out: dict[str, ast.Name] = {}
    for node in walk(nodes):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            out.setdefault(node.id, node)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            out.setdefault(node.target.id, node.target)
    return out


def reads_before_binding(stmts: list[ast.stmt], names: Iterable[str]) -> dict[str, ast.Name]:
    """Reads in ``stmts`` of ``names`` that may happen before ``stmts`` bind the name.

    ``for i in range(k): s += i`` binds ``i`` before reading it; ``s = s + 1`` and a read
    after an ``if`` that binds the name in one branch only do not. Statements are followed
    in execution order; a loop's body may run zero times.
    """
    wanted = set(names)
    found: dict[str, ast.Name] = {}

    def reads(nodes: Iterable[ast.AST], bound: set[str]) -> None:
        for name, node in names_loaded(nodes).items():
            if name in wanted and name not in bound:
                found.setdefault(name, node)

    def block(body: list[ast.stmt], bound: set[str]) -> set[str]:
        bound = set(bound)
        for stmt in body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                reads([stmt.value] if stmt.value is not None else [], bound)
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                reads([t for t in targets if not isinstance(t, ast.Name)], bound)
                bound |= {n for t in targets for n in names_stored([t])}
            elif isinstance(stmt, ast.AugAssign):
                reads([stmt], bound)
            elif isinstance(stmt, ast.For):
                reads([stmt.iter], bound)
                inner = bound | set(names_stored([stmt.target]))
                block(stmt.body, inner)
                block(stmt.orelse, bound)
            elif isinstance(stmt, ast.While):
                reads([stmt.test], bound)
                block(stmt.body, bound)
                block(stmt.orelse, bound)
            elif isinstance(stmt, ast.If):
                reads([stmt.test], bound)
                bound = block(stmt.body, bound) & block(stmt.orelse, bound)
            else:
                reads([stmt], bound)
        return bound

    block(stmts, set())
    return found


def subscript_parts(node: ast.Subscript) -> list[ast.expr]:
    """The indices of ``node``, one per position (``[i, j]`` for ``a[i, j]``)."""
    return list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]


def parameters(fn: ast.FunctionDef) -> tuple[str, ...]:
    """The names of ``fn``'s parameters: positional-only, then positional, then keyword-only."""
    return tuple(a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs])


def names_stored(nodes: Iterable[ast.AST]) -> dict[str, ast.AST]:
    """First node binding each name in ``nodes`` (assignments, loop targets, ``with``)."""
    out: dict[str, ast.AST] = {}
    for node in walk(nodes):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.setdefault(node.id, node)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            out.setdefault(node.name, node)
    return out


def is_call_to(node: ast.AST, names: frozenset[str]) -> bool:
    """Whether ``node`` calls ``name(...)`` or ``anything.name(...)`` for a name in ``names``."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return func.id in names
    return isinstance(func, ast.Attribute) and func.attr in names


def is_name(node: ast.AST, name: str) -> bool:
    """Whether ``node`` reads or binds the plain name ``name``."""
    return isinstance(node, ast.Name) and node.id == name


def dotted(node: ast.AST) -> str | None:
    """``"a.b.c"`` for the expression ``a.b.c`` (names and attributes only), else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class Parents:
    """The parent of every node below some statements, and the statement holding a node.

    Built once per body, so that "the statement of this node" is a lookup, not a search.
    """

    def __init__(self, body: Iterable[ast.AST]) -> None:
        self._parent: dict[int, ast.AST] = {}
        for node in walk(body):
            for child in ast.iter_child_nodes(node):
                self._parent[id(child)] = node

    def of(self, node: ast.AST) -> ast.AST | None:
        """The node directly above ``node`` (None at the top)."""
        return self._parent.get(id(node))

    def statement(self, node: ast.AST) -> ast.stmt | None:
        """The innermost statement that holds ``node`` (``node`` itself if a statement)."""
        current: ast.AST | None = node
        while current is not None and not isinstance(current, ast.stmt):
            current = self._parent.get(id(current))
        return current


_MAKERS = frozenset(
    {"zeros", "empty", "ones", "full", "arange", "linspace", "array", "copy", "zeros_like",
     "empty_like", "ones_like", "full_like"}
)  # fmt: skip


def made_by_numpy(body: list[ast.stmt], numpy_names: Collection[str] = ()) -> set[str]:
    """Names that ``body`` binds only to an array NumPy makes anew (``np.zeros(m)``,
    ``np.empty_like(x)``, ``x.copy()``; ``zeros(m)`` where ``zeros`` is among
    ``numpy_names``, the global names bound to NumPy's functions), each time it binds them."""

    def fresh(value: ast.expr) -> bool:
        if not isinstance(value, ast.Call):
            return False
        module, _, name = (dotted(value.func) or "").rpartition(".")
        if not module and name in numpy_names:
            module = "numpy"
        return name in _MAKERS and (module in ("np", "numpy") or name == "copy")

    return bound_only_to(body, fresh)


def made_as_lists(body: list[ast.stmt]) -> set[str]:
    """Names that ``body`` binds only to a new list (``[...]``, a list comprehension,
    ``List()``, ``List.empty_list(t)``): a store into one of its slots replaces what the
    slot holds; it writes into no array."""

    def listed(value: ast.expr) -> bool:
        if isinstance(value, (ast.List, ast.ListComp)):
            return True
        path = dotted(value.func) if isinstance(value, ast.Call) else None
        return path is not None and path.split(".")[-1] in ("List", "empty_list", "list")

    return bound_only_to(body, listed)


def bound_only_to(body: list[ast.stmt], fresh: Callable[[ast.expr], bool]) -> set[str]:
    """Names that ``body`` binds only by ``name = value`` with ``fresh(value)``."""
    marked = {
        id(node.targets[0])
        for node in walk(body)
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and fresh(node.value)
    }
    made: set[str] = set()
    other: set[str] = set()
    for node in walk(body):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            (made if id(node) in marked else other).add(node.id)
    return made - other
