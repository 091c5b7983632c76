"""numba's types of the arguments a kernel gives the functions it calls.

The typed view (:mod:`blockloop.view.typed`) types the functions a kernel calls for the
arguments of its calls: each argument's type is read from the kernel's type map where the
syntax makes it plain (a name of one type, a constant, an element or a view of such an
array, arithmetic of numbers), and a call with any other argument is left untyped.
"""

from __future__ import annotations

import ast

import numba
from numba.core import types as nt

from ..transform.aliases import call_arguments
from ..transform.syntax import parameters, subscript_parts
from ..transform.types import UNKNOWN

__all__ = ["alike", "call_types", "expression_type"]


def call_types(
    helper: ast.FunctionDef, call: ast.Call, kernel_types: dict[str, set[nt.Type]]
) -> tuple | None:
    """numba's types of the arguments of ``call`` by ``helper``'s parameters, or None."""
    if helper.args.vararg or helper.args.kwarg or helper.args.kwonlyargs:
        return None
    params = parameters(helper)
    given: dict[str, ast.expr] = {}
    for key, arg in call_arguments(call, UNKNOWN):
        name = params[key] if isinstance(key, int) and key < len(params) else key
        if not isinstance(name, str) or name not in params or name in given:
            return None  # ``*args``, ``**kwargs``, too many, or one given twice
        given[name] = arg
    if len(given) != len(params):
        return None
    out = [expression_type(given[param], kernel_types) for param in params]
    return None if any(t is None for t in out) else tuple(out)


def expression_type(expr: ast.expr, kernel_types: dict[str, set[nt.Type]]) -> nt.Type | None:
    """numba's type of a constant, a name of one type, an element or a view of an array
    of those (``out[i]``, ``x[:, j]``; a view's layout ``A``, which types the same names
    alike), an array's ``shape`` and its items, and arithmetic of numbers of one type (a
    float for ``/`` of integers) or of integers and ``float64`` (a ``float64``); None for
    anything else."""
    if isinstance(expr, ast.Constant):
        try:
            return numba.typeof(expr.value)
        except (ValueError, TypeError):
            return None
    if isinstance(expr, ast.Name):
        found = kernel_types.get(expr.id, set())
        return next(iter(found)) if len(found) == 1 else None
    if isinstance(expr, (ast.BinOp, ast.UnaryOp)):
        operands = [expr.left, expr.right] if isinstance(expr, ast.BinOp) else [expr.operand]
        numbers = [expression_type(e, kernel_types) for e in operands]
        if not all(isinstance(t, nt.Number) for t in numbers) or isinstance(expr.op, ast.Not):
            return None
        if len(set(numbers)) == 1:  # one type: itself, but a float for ``/`` of integers
            whole = isinstance(numbers[0], nt.Integer)
            return nt.float64 if whole and isinstance(expr.op, ast.Div) else numbers[0]
        mixed = all(isinstance(t, (nt.Integer, nt.Float)) for t in numbers)
        return nt.float64 if mixed and nt.float64 in numbers else None
    if isinstance(expr, ast.Attribute) and expr.attr == "shape":
        array = expression_type(expr.value, kernel_types)
        return nt.UniTuple(nt.intp, array.ndim) if isinstance(array, nt.Array) else None
    if isinstance(expr, ast.Subscript):
        array = expression_type(expr.value, kernel_types)
        parts = subscript_parts(expr)
        if isinstance(array, nt.UniTuple) and len(parts) == 1:
            index = expression_type(parts[0], kernel_types)
            return array.dtype if isinstance(index, nt.Integer) else None
        if not isinstance(array, nt.Array) or len(parts) > array.ndim:
            return None
        kept = array.ndim - len(parts)
        for part in parts:
            if isinstance(part, ast.Slice):
                kept += 1
            elif not isinstance(expression_type(part, kernel_types), nt.Integer):
                return None
        return array.dtype if kept == 0 else nt.Array(array.dtype, kept, "A")
    return None


def alike(compiled: tuple, called: tuple) -> bool:
    """Whether numba's compiled argument types are those of a call (an array's layout
    aside: a view of the kernel's is typed ``A`` here)."""
    if len(compiled) != len(called):
        return False
    for a, b in zip(compiled, called, strict=True):
        if isinstance(a, nt.Array) and isinstance(b, nt.Array):
            if (a.dtype, a.ndim) != (b.dtype, b.ndim):
                return False
        elif a != b:
            return False
    return True
