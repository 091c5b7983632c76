"""Which outer arrays a loop body may write into, and how.

A write blockloop does not know about is lost on resume, so this analysis is conservative:
every way a body can reach an array defined outside it counts: a subscript or attribute
store (also inside a tuple target), a store through another name bound to it or to a view
of it (:mod:`~blockloop.transform.aliases`), an in-place method (``out.fill(0)``), a NumPy
function that writes an argument (``np.copyto``, ``out=``), and a call of a helper function
that may write the parameter it is given. Helpers are looked up through ``call_writes``,
which the caller provides (the transform never imports the user's module); one it cannot
see writes all it is given.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .aliases import (
    NUMPY_WRITERS,
    READ_ONLY_CALLS,
    READ_ONLY_METHODS,
    VIEW_METHODS,
    Aliases,
    CallWrites,
    call_arguments,
    call_returns,
    no_helpers,
)
from .syntax import Parents, walk
from .types import UNKNOWN, NameTypes

__all__ = [
    "NUMPY_WRITERS",
    "READ_ONLY_METHODS",
    "CallWrites",
    "Write",
    "no_helpers",
    "outer_writes",
]


@dataclass(frozen=True)
class Write:
    """One place where a body may write into an outer array.

    Attributes
    ----------
    name : str
        The outer name written into.
    node : ast.AST
        The statement that writes.
    how : str
        Why it counts, for messages (empty for a plain ``name[...] = ...``).
    rows : int or None
        None when the write is certain. Otherwise the write happens only if ``name`` has
        more than ``rows`` dimensions: ``t = x[i]; t += 1.0`` updates a number of a 1-D
        ``x``, a row of a 2-D one in place.
    """

    name: str
    node: ast.AST
    how: str = ""
    rows: int | None = None


def outer_writes(
    body: list[ast.stmt],
    outer: Iterable[str],
    *,
    skip: frozenset[int] = frozenset(),
    call_writes: CallWrites = no_helpers,
    types: NameTypes = UNKNOWN,
) -> dict[str, Write]:
    """The outer names whose arrays ``body`` may write into, each with its first write.

    Parameters
    ----------
    body : list of ast.stmt
        The statements to look at.
    outer : iterable of str
        Names defined outside ``body`` (arguments, values made before the loop).
    skip : frozenset of int
        ``id()`` of store targets that are accounted for elsewhere (reduction updates).
    call_writes : callable
        Which parameters a called helper may write (see :data:`CallWrites`).
    types : NameTypes
        numba's types of the names, if known: what it types as a number refers to no array.

    Returns
    -------
    dict
        Outer name to its first certain :class:`Write` in source order (or, if it has
        none, its first write that depends on the array's dimensions).
    """
    info = Aliases(body, set(outer), types, call_returns(call_writes))
    parents = Parents(body)
    found: dict[str, Write] = {}

    def add(names: set[str], node: ast.AST, how: str, rows: int | None = None) -> None:
        stmt = parents.statement(node) or node
        for name in sorted(names):
            old = found.get(name)
            if old is None or (old.rows is not None and rows is None):
                found[name] = Write(name, stmt, how, rows)

    def through(expr: ast.AST, name: str | None = None) -> str:
        base = expr
        while isinstance(base, (ast.Subscript, ast.Attribute, ast.Starred)):
            base = base.value
        if isinstance(base, ast.Name) and base.id not in info.outer:
            return f" through `{base.id}`, which may be a view of it"
        return ""

    for node in walk(body):
        if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(
            node.ctx, (ast.Store, ast.Del)
        ):
            if id(node) not in skip:
                add(info.stored_into(node), node, through(node.value))
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
            if name not in info.outer and info.aliases.get(name):
                rows = None if types.holds_memory(name) else info.element_of.get(name)
                how = (
                    f" through `{name}`, which is a view of it if it has more than "
                    f"{rows} dimension{'s' if rows != 1 else ''}"
                    if rows is not None
                    else f" through `{name}`, which may be a view of it"
                )
                add(info.aliases[name], node, how, rows)
        elif isinstance(node, ast.Call):
            _call(info, node, call_writes, add)
    return found


def _call(
    info: Aliases,
    call: ast.Call,
    call_writes: CallWrites,
    add: Callable[..., None],
) -> None:
    args = call_arguments(call, info.types)
    kind, name = info.callee(call)
    written = call_writes(name) if kind == "global" and name not in READ_ONLY_CALLS else None
    if written is None and info.types.unseen_function(name):
        return  # before the first call: the function handed in decides then
    if written is None and any(kw.arg == "out" for kw in call.keywords):
        receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
        every = info.arguments(call) | (info.sources(receiver) if receiver else set())
        add(every, call, " (a call with out=)")
        return
    if kind == "method":
        assert isinstance(call.func, ast.Attribute)
        if name not in READ_ONLY_METHODS and name not in VIEW_METHODS:
            add(info.sources(call.func.value), call, f" (`.{name}()` may change it in place)")
        return
    ufunc = getattr(np, name, None) if kind == "numpy" else None
    if isinstance(ufunc, np.ufunc) and len(call.args) > ufunc.nin:  # ``np.sqrt(x, out)``
        how = f" (`np.{name}` writes its result into the arguments after its inputs)"
        add(set().union(*(info.sources(a) for a in call.args[ufunc.nin :])), call, how)
        return
    if kind == "pure" or (kind == "numpy" and name not in NUMPY_WRITERS):
        return
    if kind == "numpy":
        add(info.arguments(call), call, f" (`{name}` writes into its arguments)")
        return
    if kind == "global" and name in READ_ONLY_CALLS:
        return
    if written is None:
        how = (
            f" (it is passed to `{name}`, whose source blockloop cannot read, so it counts "
            "as written; define the helper with @njit above the kernel)"
        )
    else:
        how = f" (it is passed to `{name}`, which writes into it)"
    for key, arg in args:
        if written is None and info.types.plain_value(arg):
            continue  # a number (``f(t[i], t[j])`` of a 1-D ``t``) cannot be written through
        if written is None or key is None or key in written:
            add(info.sources(arg), call, how)
