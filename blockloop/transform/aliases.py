"""Which outer arrays each name of a body may refer to: the aliases that a store through
a name, a helper's result or a view carry back to an argument.

The analysis is syntactic and conservative: a name bound from a subscript, a view, a helper's
result or a container holding an array may refer to every outer array its value may share
memory with. numba's types (:class:`~blockloop.transform.types.NameTypes`) narrow it where
known: a name typed as a number refers to none. Helpers are looked up through a
:data:`CallWrites`, which the caller provides (the transform never imports the user's module).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from .syntax import dotted, made_as_lists, made_by_numpy, names_stored, subscript_parts, walk
from .types import UNKNOWN, NameTypes

__all__ = [
    "NUMPY_MODULES",
    "NUMPY_WRITERS",
    "READ_ONLY_ATTRS",
    "READ_ONLY_CALLS",
    "READ_ONLY_METHODS",
    "VIEW_METHODS",
    "Aliases",
    "CallWrites",
    "call_arguments",
    "call_returns",
    "no_helpers",
]

CallWrites = Callable[[str], "frozenset[int | str] | None"]
"""Given a called function's dotted name, the positions and names of its parameters it
may write into (empty when it writes none), or None when unknown (then every argument).
One may also have a method ``returns`` of the same kind: the parameters the function's
result may refer to (:func:`call_returns`)."""


def call_returns(call_writes: CallWrites) -> CallWrites:
    """The ``returns`` of ``call_writes``, or one that knows no helper: a helper's result
    may then refer to every argument it is given."""
    returns: CallWrites = getattr(call_writes, "returns", no_helpers)
    return returns


# builtins that never write into an argument
READ_ONLY_CALLS = frozenset(
    {
        "len", "min", "max", "abs", "range", "prange", "float", "int", "bool", "complex",
        "print", "round", "divmod", "pow", "sum", "enumerate", "zip", "reversed", "iter",
        "next", "isinstance", "hash", "ord", "chr", "str", "tuple", "pndindex", "type",
        "set", "frozenset", "sorted", "list", "any", "all",
    }
)  # fmt: skip
# builtins whose result refers to the arrays given to them (loop targets, iterators)
_ALIASING_BUILTINS = frozenset(
    {"enumerate", "zip", "reversed", "iter", "next", "tuple", "list"}
)  # ``list(x)`` of a 2-D ``x``: its rows
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
        "take", "repeat", "searchsorted", "ptp", "conj", "conjugate", "tolist", "count", "index",
        # a set's: an array has none of them, so a name bound to a view and then to a set
        # (``f = x[a:b]; f = set(f); f.difference(s)``) writes no array through them
        "difference", "intersection", "union", "symmetric_difference", "issubset",
        "issuperset", "isdisjoint",
    }
)  # fmt: skip
# methods that do not write their array but return a view of it
VIEW_METHODS = frozenset(
    {"reshape", "ravel", "view", "transpose", "swapaxes", "squeeze", "diagonal", "__getitem__"}
)


def no_helpers(name: str) -> frozenset[int | str] | None:
    """The ``call_writes`` that knows no helper: every argument of a call may be written."""
    return None


class Aliases:
    """One body's aliases: which outer arrays each name may refer to."""

    def __init__(
        self,
        body: list[ast.stmt],
        outer: set[str],
        types: NameTypes,
        call_returns: CallWrites = no_helpers,
    ) -> None:
        self.body = body
        self.outer = outer
        self.types = types
        self.call_returns = call_returns
        self.locals = set(names_stored(body))
        self.aliases: dict[str, set[str]] = {}
        self.lists = made_as_lists(body) | types.lists
        made = made_by_numpy(body, types.numpy_names)  # a store into one copies a value
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
            if kind == "global":  # a helper's result refers to the parameters it returns
                return self.arguments(expr, self.call_returns(name))
            return self.arguments(expr)
        return set()  # arithmetic, comparisons, constants: new values

    def arguments(self, call: ast.Call, only: frozenset[int | str] | None = None) -> set[str]:
        """What the arguments of ``call`` may refer to: all of them, or those at the
        positions and keywords in ``only`` (and any ``*args``, whose positions are unknown)."""
        given = call_arguments(call, self.types)
        return _union(
            self.sources(a) for key, a in given if only is None or key is None or key in only
        )

    def callee(self, call: ast.Call) -> tuple[str, str]:
        """``(kind, name)``: kind is method, numpy, pure, global or value."""
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in self.types.callables:
                return "global", func.id  # a function handed in: resolved like a global
            if func.id in self.outer or func.id in self.locals:
                return "value", func.id
            if func.id in self.types.numpy_names:  # ``from numpy import zeros``
                return "numpy", func.id
            return "global", func.id
        path = dotted(func)
        root = path.split(".")[0] if path else None
        if root in self.types.instances and path is not None and path.count(".") == 1:
            return "global", path  # a jitclass method: a helper given the instance first
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


def call_arguments(call: ast.Call, types: NameTypes) -> list[tuple[int | str | None, ast.expr]]:
    """What ``call`` gives each parameter of its callee: ``(position or keyword, value)``,
    with None for a ``*args`` (its positions are unknown). A ``jitclass`` method's receiver
    is its position 0 (``csr.row(i)`` is ``row(csr, i)``)."""
    given: list[tuple[int | str | None, ast.expr]] = []
    func = call.func
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in types.instances
    ):
        given.append((0, func.value))
    first = len(given)
    given += [
        (None if isinstance(a, ast.Starred) else first + k, a) for k, a in enumerate(call.args)
    ]
    return given + [(k.arg, k.value) for k in call.keywords]


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
