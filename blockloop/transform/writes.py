"""Which outer arrays a loop body may write into, and how.

A write blockloop does not know about is lost on resume, so this analysis is conservative:
every way a body can reach an array defined outside it counts: a subscript or attribute
store (also inside a tuple target), a store through another name bound to it or to a view
of it, an in-place method (``out.fill(0)``), a NumPy function that writes an argument
(``np.copyto``, ``out=``), and a call of a helper function that may write the parameter
it is given. Helpers are looked up through ``call_writes``, which the caller provides (the
transform never imports the user's module); one it cannot see writes all it is given.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .syntax import (
    Parents,
    dotted,
    made_as_lists,
    made_by_numpy,
    names_stored,
    subscript_parts,
    walk,
)
from .types import UNKNOWN, NameTypes

__all__ = ["CallWrites", "Write", "no_helpers", "outer_writes"]

CallWrites = Callable[[str], "frozenset[int | str] | None"]
"""Given a called function's dotted name, the positions and names of its parameters it
may write into (empty when it writes none), or None when unknown (then every argument)."""

# builtins that never write into an argument
READ_ONLY_CALLS = frozenset(
    {
        "len", "min", "max", "abs", "range", "prange", "float", "int", "bool", "complex",
        "print", "round", "divmod", "pow", "sum", "enumerate", "zip", "reversed", "iter",
        "next", "isinstance", "hash", "ord", "chr", "str", "tuple", "pndindex", "type",
    }
)  # fmt: skip
# builtins whose result refers to the arrays given to them (loop targets, iterators)
_ALIASING_BUILTINS = frozenset({"enumerate", "zip", "reversed", "iter", "next", "tuple"})
NUMPY_MODULES = frozenset({"np", "numpy"})
_PURE_MODULES = frozenset({"math", "cmath", "numba", "nb"})
# NumPy functions that write into an argument (besides any call with ``out=``)
NUMPY_WRITERS = frozenset({"copyto", "put", "place", "putmask", "fill_diagonal", "shuffle"})
# NumPy functions whose result may share memory with an argument
_NUMPY_VIEWS = frozenset(
    {
        "asarray", "ravel", "reshape", "transpose", "squeeze", "expand_dims", "swapaxes",
        "moveaxis", "diagonal", "real", "imag", "atleast_1d", "atleast_2d", "atleast_3d",
        "broadcast_to", "broadcast_arrays", "ascontiguousarray", "asfortranarray", "flip",
        "fliplr", "flipud", "rot90", "split", "array_split", "hsplit", "vsplit", "dsplit",
        "nditer", "ndenumerate", "as_strided",
    }
)  # fmt: skip
READ_ONLY_ATTRS = frozenset({"shape", "size", "ndim", "dtype", "itemsize", "nbytes", "strides"})
# methods that neither write their array nor return a view of it
READ_ONLY_METHODS = frozenset(
    {
        "sum", "mean", "min", "max", "prod", "std", "var", "any", "all", "argmin", "argmax",
        "copy", "astype", "flatten", "dot", "cumsum", "cumprod", "nonzero", "argsort", "item",
        "take", "repeat", "searchsorted", "ptp", "conj", "conjugate", "tolist", "count", "index"
    }
)  # fmt: skip
# methods that do not write their array but return a view of it
_VIEW_METHODS = frozenset(
    {"reshape", "ravel", "view", "transpose", "swapaxes", "squeeze", "diagonal", "__getitem__"}
)


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


def no_helpers(name: str) -> frozenset[int | str] | None:
    """The ``call_writes`` that knows no helper: every argument of a call may be written."""
    return None


class _Body:
    """One body's aliases: which outer arrays each name may refer to."""

    def __init__(self, body: list[ast.stmt], outer: set[str], types: NameTypes) -> None:
        self.body = body
        self.outer = outer
        self.types = types
        self.locals = set(names_stored(body))
        self.aliases: dict[str, set[str]] = {}
        self.lists = made_as_lists(body) | types.lists
        made = made_by_numpy(body)  # numba's arrays hold numbers: a store copies a value
        changed = True
        while changed:
            changed = False
            for target, value in self._bindings():
                src = self.sources(value)
                for name in _bound_names(target, made, self.refers, self.types) if src else ():
                    if types.plain(name):
                        continue  # numba typed it a number: it refers to no array
                    have = self.aliases.setdefault(name, set())
                    if not src <= have:
                        have |= src
                        changed = True
        # an alias bound only from integer subscripts (``t = x[i]``): how many indices
        # (``k = t`` copies ``t``'s count: ``start = indptr[v]; k = start; k += 1``)
        self.element_of: dict[str, int | None] = {}
        changed = True
        while changed:  # each name's count only goes from unseen to a number to None
            changed = False
            for target, value in self._bindings():
                if not self.sources(value):
                    continue
                copied = isinstance(value, ast.Name) and value.id not in self.outer
                if copied and value.id not in self.element_of:  # type: ignore[attr-defined]
                    continue  # its source is not seen yet: a later pass
                count = self._count(value)
                for name in _bound_names(target, made, self.refers, self.types):
                    seen = name in self.element_of
                    new = count if not seen or self.element_of[name] == count else None
                    if not seen or self.element_of[name] != new:
                        self.element_of[name] = new
                        changed = True

    def _count(self, value: ast.AST) -> int | None:
        """The indices of ``x[i, j]``, or of the name ``value`` copies (None: unknown)."""
        if isinstance(value, ast.Name) and value.id not in self.outer:
            return self.element_of.get(value.id)
        return _indices(value)

    def stored_into(self, node: ast.Subscript | ast.Attribute) -> set[str]:
        """The outer names a store into ``node`` writes: a list's slot (``out[i] = a``)
        is the list's own; it writes into none of the arrays the list holds."""
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            if node.value.id in self.lists:
                return {node.value.id} & self.outer
        return self.sources(node.value)

    def refers(self, name: str) -> bool:
        """Whether ``name`` is or may refer to an outer array."""
        return name in self.outer or bool(self.aliases.get(name))

    def _bindings(self) -> Iterable[tuple[ast.AST, ast.AST]]:
        for node in walk(self.body):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    yield target, node.value
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                yield node.target, node.value
            elif isinstance(node, (ast.For, ast.comprehension)):
                yield node.target, node.iter
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                yield node.optional_vars, node.context_expr

    def sources(self, expr: ast.AST) -> set[str]:
        """The outer names whose arrays ``expr``'s value may share memory with."""
        if self.types.plain_value(expr):
            return set()
        if isinstance(expr, ast.Name):
            own = {expr.id} if expr.id in self.outer else set()
            return own | self.aliases.get(expr.id, set())
        if isinstance(expr, (ast.Subscript, ast.Starred)):
            return self.sources(expr.value)
        if isinstance(expr, ast.Attribute):
            return set() if expr.attr in READ_ONLY_ATTRS else self.sources(expr.value)
        if isinstance(expr, (ast.Tuple, ast.List)):
            return _union(self.sources(e) for e in expr.elts)
        if isinstance(expr, ast.IfExp):
            return self.sources(expr.body) | self.sources(expr.orelse)
        if isinstance(expr, ast.BoolOp):
            return _union(self.sources(e) for e in expr.values)
        if isinstance(expr, ast.NamedExpr):
            return self.sources(expr.value)
        if isinstance(expr, ast.Call):
            kind, name = self.callee(expr)
            if kind == "method":
                assert isinstance(expr.func, ast.Attribute)
                if name in READ_ONLY_METHODS:
                    return set()
                return self.sources(expr.func.value)
            if kind == "pure" or (kind == "numpy" and name not in _NUMPY_VIEWS):
                return set()
            if kind == "global" and name in READ_ONLY_CALLS and name not in _ALIASING_BUILTINS:
                return set()
            return self.arguments(expr)
        return set()  # arithmetic, comparisons, constants: new values

    def arguments(self, call: ast.Call) -> set[str]:
        return _union(self.sources(a) for a in [*call.args, *(k.value for k in call.keywords)])

    def callee(self, call: ast.Call) -> tuple[str, str]:
        """``(kind, name)``: kind is method, numpy, pure, global or value."""
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in self.types.callables:
                return "global", func.id  # a function handed in: resolved like a global
            if func.id in self.outer or func.id in self.locals:
                return "value", func.id
            return "global", func.id
        path = dotted(func)
        root = path.split(".")[0] if path else None
        if root is None or root in self.outer or root in self.locals:
            if not isinstance(func, ast.Attribute):
                return "value", ""  # a computed callable: ``type(s)(1)``, ``steps[k](x)``
            return "method", func.attr
        assert path is not None and isinstance(func, ast.Attribute)
        if root in NUMPY_MODULES:
            return "numpy", func.attr
        if root in _PURE_MODULES:
            return "pure", func.attr
        return "global", path


def _union(sets: Iterable[set[str]]) -> set[str]:
    return set().union(*sets)


def _indices(value: ast.AST) -> int | None:
    """The number of integer indices of ``x[i]`` / ``x[i, j]``; None for anything else."""
    if not isinstance(value, ast.Subscript) or not isinstance(value.value, ast.Name):
        return None
    parts = subscript_parts(value)
    if any(isinstance(p, (ast.Slice, ast.Starred)) for p in parts):
        return None
    if any(isinstance(p, ast.Constant) and p.value is Ellipsis for p in parts):
        return None
    return len(parts)


def _bound_names(
    target: ast.AST, made: set[str], refers: Callable[[str], bool], types: NameTypes = UNKNOWN
) -> list[str]:
    """Names a binding target binds, and containers it stores into (``box[0] = a``).

    A store into an array that is or refers to an outer one (``row[1] = b[0]``), into an
    array numba typed as one of numbers (``d[i, j] = f(x[i])``) or into one NumPy made
    (``made``: ``null = np.zeros(n)``), copies values; it does not make the array refer to
    ``b`` or ``x``.
    """
    out = []
    for node in walk([target]):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.append(node.id)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
            base = node.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            name = base.id if isinstance(base, ast.Name) else None
            if name and not (refers(name) or name in types.ndim or name in made):
                out.append(name)
    return out


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
    info = _Body(body, set(outer), types)
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
    info: _Body,
    call: ast.Call,
    call_writes: CallWrites,
    add: Callable[..., None],
) -> None:
    args: list[tuple[int | str | None, ast.AST]] = [
        (None if isinstance(a, ast.Starred) else k, a) for k, a in enumerate(call.args)
    ]
    args += [(kw.arg, kw.value) for kw in call.keywords]
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
        if name not in READ_ONLY_METHODS and name not in _VIEW_METHODS:
            add(info.sources(call.func.value), call, f" (`.{name}()` may change it in place)")
        return
    ufunc = getattr(np, name, None) if kind == "numpy" else None
    if isinstance(ufunc, np.ufunc) and len(call.args) > ufunc.nin:  # ``np.sqrt(x, out)``
        how = f" (`np.{name}` writes its result into the arguments after its inputs)"
        add(_union(info.sources(a) for a in call.args[ufunc.nin :]), call, how)
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
