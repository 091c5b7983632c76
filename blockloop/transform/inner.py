"""Functions defined inside the kernel: compiled as helpers beside the blocked code.

numba compiles a plain ``def`` in an ``@njit`` kernel as a function of the kernel. One at
the kernel's top level that reads none of the kernel's own names (only its parameters,
its locals and module names) means the same wherever it is defined, so the blocked module
defines it at its top level, with ``@njit``, and the analysis treats it as a helper: what
it writes into the arrays it is given is read from its body. A function that reads the
kernel's names (a closure over them), or is decorated, stays refused.
"""

from __future__ import annotations

import ast

from .syntax import SCOPES, names_loaded, names_stored

__all__ = ["free_names", "hoist", "inner_functions"]


def free_names(inner: ast.FunctionDef) -> set[str]:
    """The names ``inner`` reads that it neither takes nor binds: module names."""
    a = inner.args
    own = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
    own |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
    return set(names_loaded(inner.body)) - set(names_stored(inner.body)) - own


def inner_functions(fn: ast.FunctionDef, params: tuple[str, ...]) -> list[ast.FunctionDef]:
    """The kernel's top-level ``def`` statements that can be defined beside it."""
    found = []
    for stmt in fn.body:
        if not isinstance(stmt, ast.FunctionDef) or stmt.decorator_list:
            continue
        a = stmt.args
        if a.defaults or a.kw_defaults or stmt.returns or any(x.annotation for x in a.args):
            continue  # evaluated where it is defined
        others = [s for s in fn.body if s is not stmt]
        kernel_names = set(params) | set(names_stored(others))
        if free_names(stmt) & kernel_names or stmt.name in kernel_names:
            continue  # reads (or rebinds) the kernel's names: a closure
        nested = (*SCOPES, ast.Global, ast.Nonlocal, ast.Yield, ast.YieldFrom)
        if any(isinstance(n, nested) for b in stmt.body for n in ast.walk(b)):
            continue
        found.append(stmt)
    return found


def hoist(fn: ast.FunctionDef, params: tuple[str, ...]) -> tuple[ast.FunctionDef, ...]:
    """Take the functions :func:`inner_functions` finds out of ``fn``'s body."""
    found = inner_functions(fn, params)
    fn.body = [s for s in fn.body if not any(s is f for f in found)] or [ast.Pass()]
    return tuple(found)
