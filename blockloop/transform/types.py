"""What numba's type inference says of a kernel's names, as the analysis asks it.

The analysis reads source text, where ``t = x[i]`` may bind a number or a row of ``x``
and ``s = helper(x)`` may bind a number or a view of ``x``. At the first call numba types
the kernel (see :mod:`blockloop.view.typed`) and these questions have exact answers: a
name numba types as a number holds no memory, so nothing written through it reaches an
array, and an expression that indexes every dimension of an array of numbers is a number.
Without a typed view (at decoration, or where numba cannot type the kernel) every answer
is "unknown", and the analysis keeps its conservative reading of the syntax.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from .inner import inner_functions
from .syntax import dotted, names_stored, parameters, subscript_parts, walk

__all__ = ["UNKNOWN", "NameTypes", "optimistic"]


@dataclass(frozen=True)
class NameTypes:
    """The kinds numba gave a kernel's own names for one call's argument types.

    Attributes
    ----------
    memory : Mapping of str to bool
        For each name numba typed: whether any of its values may hold or refer to array
        memory (an array, a record, a tuple or list holding one, anything unknown), or
        whether all are plain values (numbers, booleans, ranges, strings).
    ndim : Mapping of str to int
        For names that are arrays of plain numbers in every binding, with one number of
        dimensions: that number.
    signature : str
        The argument types the view was made for, as numba prints them (for messages and
        ``blocked_source``); empty when there is no view.
    callables : frozenset of str
        Parameters the kernel never rebinds that this call gives a function (an ``@njit``
        function handed in): its calls are to that function, analysed as a helper.
    lists : frozenset of str
        Names numba typed as a list (reflected or typed) in every binding: a store into a
        slot replaces what the slot holds, and writes into no array.
    numpy_names : frozenset of str
        The kernel's global names bound to NumPy functions (``from numpy import zeros``):
        a call of one is a call of ``np.zeros``, whatever the answers above.
    instances : frozenset of str
        Parameters the kernel never rebinds that this call gives a ``jitclass`` instance
        (in a method, its ``self``): ``csr.row(i)`` calls the method as the helper
        ``row(csr, i)`` (see :mod:`blockloop.view.instances`).
    helpers : Mapping of str to NameTypes
        For a function defined in the kernel that blockloop compiles beside it (see
        :mod:`~blockloop.transform.inner`), the kinds of its names as the kernel calls it:
        the analysis of what it writes reads them as it reads the kernel's.
    """

    memory: Mapping[str, bool] = field(default_factory=dict)
    ndim: Mapping[str, int] = field(default_factory=dict)
    signature: str = ""
    callables: frozenset[str] = frozenset()
    lists: frozenset[str] = frozenset()
    numpy_names: frozenset[str] = frozenset()
    instances: frozenset[str] = frozenset()
    helpers: Mapping[str, NameTypes] = field(default_factory=dict)

    @property
    def typed(self) -> bool:
        """Whether these are numba's answers (else every answer is "unknown")."""
        return bool(self.signature)

    def unseen_function(self, name: str) -> bool:
        """Whether ``name`` is a parameter called as a function, or a method of one that
        may be a ``jitclass`` instance, that the optimistic view (before the first call)
        takes to write nothing: the call's function decides."""
        if self.signature != OPTIMISTIC:
            return False
        receiver, dot, _ = name.partition(".")
        return name in self.callables or (bool(dot) and receiver in self.instances)

    def plain(self, name: str) -> bool:
        """Whether ``name`` certainly holds no array memory (numba typed it a number)."""
        return self.memory.get(name) is False

    def holds_memory(self, name: str) -> bool:
        """Whether numba typed ``name`` as something that holds or refers to memory."""
        return self.memory.get(name) is True

    def plain_value(self, expr: ast.AST) -> bool:
        """Whether ``expr``'s value is certainly a plain value that shares no memory.

        True for constants, names typed as numbers, an element of an array of numbers
        indexed in every dimension by plain values (``x[i, j]`` of a 2-D ``x``), an item
        of such an array's ``shape``, and arithmetic, comparisons and conditional
        expressions of such values.
        """
        if not self.typed:
            return False
        if isinstance(expr, ast.Constant):
            return not isinstance(expr.value, (bytes, type(Ellipsis)))
        if isinstance(expr, ast.Name):
            return self.plain(expr.id)
        if isinstance(expr, ast.UnaryOp):
            return self.plain_value(expr.operand)
        if isinstance(expr, ast.BinOp):
            return self.plain_value(expr.left) and self.plain_value(expr.right)
        if isinstance(expr, ast.BoolOp):
            return all(self.plain_value(v) for v in expr.values)
        if isinstance(expr, ast.Compare):
            return all(self.plain_value(v) for v in [expr.left, *expr.comparators])
        if isinstance(expr, ast.IfExp):
            return self.plain_value(expr.body) and self.plain_value(expr.orelse)
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
            parts = subscript_parts(expr)
            ndim = self.ndim.get(expr.value.id)
            return ndim == len(parts) and all(self.plain_value(p) for p in parts)
        if isinstance(expr, ast.Subscript) and _is_shape(expr.value):  # ``x.shape[0]``
            assert isinstance(expr.value, ast.Attribute) and isinstance(expr.value.value, ast.Name)
            ndim = self.ndim.get(expr.value.value.id)
            return ndim is not None and self.plain_value(expr.slice)
        return False


UNKNOWN = NameTypes()
"""No typed view: every question about a name's type is answered "unknown"."""


OPTIMISTIC = "(not known before the first call)"


def optimistic(
    fn: ast.FunctionDef,
    called: Mapping[str, ast.FunctionDef] | None = None,
    *,
    helper: bool = False,
) -> NameTypes:
    """The types a first call may still give: every name the kernel binds is a number,
    unless its source shows an array (a store into it, a method call on it, a binding
    from NumPy or from a slice). Parameters stay unknown, but for one whose default is
    ``None`` (``progress_proxy=None``): a call may leave it ``None``, and numba then
    prunes what is done with it; and one the kernel calls, which a call may give a
    function that writes nothing (the first call analyses the function it is given), and
    one whose methods no array has (``csr.row(i)``), which a call may give a ``jitclass``
    instance whose methods write nothing.

    The functions the kernel calls by name (those defined in it that blockloop compiles
    beside it, and the ``@njit`` functions ``called`` of its module) get the same reading of
    their own names (``helper``), their parameters too: a number unless the function's
    source shows an array or one of the kernel's calls gives it what may be one (``x[k]``
    of an ``x`` the kernel subscripts with more indices elsewhere, a parameter).

    At decoration a kernel refused with no types and accepted with these is not refused
    yet: whether it can be blocked depends on types only numba's view at the first call
    knows (``s = helper(x[i]); s += 1`` updates a number, or a view of ``x``).
    """
    params = set(parameters(fn))
    arrays: set[str] = set()
    for node in walk(fn.body):
        base: ast.AST | None = None
        if isinstance(node, (ast.Subscript, ast.Attribute)) and not isinstance(node.ctx, ast.Load):
            base = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
        elif isinstance(node, ast.Assign) and _array_valued(node.value):
            arrays |= {n.id for t in node.targets for n in walk([t]) if isinstance(n, ast.Name)}
        while isinstance(base, (ast.Subscript, ast.Attribute)):
            base = base.value
        if isinstance(base, ast.Name):
            arrays.add(base.id)
    rebound = set(names_stored(fn.body))
    plain = (rebound | params if helper else rebound - params) - arrays
    positional = [*fn.args.posonlyargs, *fn.args.args]
    defaults = [
        *zip(positional[len(positional) - len(fn.args.defaults) :], fn.args.defaults, strict=True),
        *zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True),
    ]
    plain |= {
        a.arg
        for a, d in defaults
        if isinstance(d, ast.Constant) and d.value is None and a.arg not in rebound
    }
    ndim = _indexed_ndim(fn, params | (arrays - params))
    calls = {  # a parameter called as a function: may be given one that writes nothing
        n.func.id
        for n in walk(fn.body)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in params
    }
    methods = {  # a method no array has: the parameter may be given a jitclass instance
        n.func.value.id
        for n in walk(fn.body)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id in params
        and not hasattr(np.ndarray, n.func.attr)
    }
    hopes = NameTypes(
        memory=dict.fromkeys(plain, False),
        ndim=ndim,
        signature=OPTIMISTIC,
        callables=frozenset(calls - rebound),
        instances=frozenset(methods - rebound),
    )
    if helper:
        return hopes
    functions = {f.name: f for f in inner_functions(fn, tuple(params))} | dict(called or {})
    return replace(hopes, helpers={n: _as_called(fn, n, f, hopes) for n, f in functions.items()})


def _as_called(
    fn: ast.FunctionDef, name: str, helper: ast.FunctionDef, hopes: NameTypes
) -> NameTypes:
    """The optimistic reading of ``helper``, which the kernel ``fn`` calls as ``name``:
    a parameter that one of the calls gives what may hold memory (by the kernel's own
    optimistic reading ``hopes``) is unknown."""
    params = parameters(helper)
    given: set[str] = set()
    for call in walk(fn.body):
        if not (isinstance(call, ast.Call) and dotted(call.func) == name):
            continue
        for k, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                given |= set(params[k:])
            elif k < len(params) and not hopes.plain_value(arg):
                given.add(params[k])
        for keyword in call.keywords:
            if keyword.arg is None:  # ``**kwargs``: any of them
                given |= set(params)
            elif not hopes.plain_value(keyword.value):
                given.add(keyword.arg)
    own = optimistic(helper, helper=True)
    return replace(own, memory={n: v for n, v in own.memory.items() if n not in given})


def _is_shape(expr: ast.AST) -> bool:
    """Whether ``expr`` is ``name.shape``."""
    return (
        isinstance(expr, ast.Attribute)
        and expr.attr == "shape"
        and isinstance(expr.value, ast.Name)
    )


def _indexed_ndim(fn: ast.FunctionDef, names: set[str]) -> dict[str, int]:
    """For a parameter or an array the kernel binds, always subscripted with the same
    number of indices and no slice (``t[i]``, ``t[j]``), that number: the dimensions of
    numbers a first call may still give it."""
    counts: dict[str, set[int]] = {}
    for node in walk(fn.body):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            name = node.value.id
            parts = subscript_parts(node)
            sliced = any(isinstance(p, ast.Slice) for p in parts)
            counts.setdefault(name, set()).add(-1 if sliced else len(parts))
    return {n: c.pop() for n, c in counts.items() if n in names and len(c) == 1 and -1 not in c}


def _array_valued(value: ast.expr) -> bool:
    """Whether the syntax shows ``value`` to be an array: a NumPy call, or a slice."""
    if isinstance(value, ast.Call):
        path = dotted(value.func) or ""
        return path.split(".")[0] in {"np", "numpy"}  # writes.NUMPY_MODULES (it imports us)
    if isinstance(value, ast.Subscript):
        parts = subscript_parts(value)
        return any(isinstance(p, ast.Slice) for p in parts)
    return False
