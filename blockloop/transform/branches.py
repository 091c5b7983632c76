"""Alternative loops: ``if method == 0: <loops> elif method == 1: <loops> else: ...``.

A kernel may choose between loops by its arguments. Exactly one branch runs per call,
and which one is known once the arguments are: the kernel is analysed as the function
whose top-level ``if`` is replaced by the branch the call takes (its statements keep their
lines). Only tests that read nothing but the kernel's parameters and constants qualify;
any other ``if`` around a prange loop is refused as before.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from .syntax import is_call_to, names_loaded, walk

__all__ = ["Branch", "branches", "choices", "take"]


@dataclass(frozen=True)
class Branch:
    """One top-level ``if``/``elif`` chain of the kernel that holds prange loops.

    Attributes
    ----------
    position : int
        Its index in the function body.
    tests : tuple of ast.expr
        The tests, in order; branch ``k < len(tests)`` runs when test ``k`` is the first
        true one, branch ``len(tests)`` (the ``else``, possibly empty) when none is.
    bodies : tuple of list of ast.stmt
        The statements of each branch.
    """

    position: int
    tests: tuple[ast.expr, ...]
    bodies: tuple[list[ast.stmt], ...]


def branches(
    fn: ast.FunctionDef, params: tuple[str, ...], prange_names: frozenset[str]
) -> tuple[Branch, ...]:
    """The kernel's top-level ``if`` chains that hold prange loops and test only its
    parameters (and constants or module names: values fixed for the call)."""
    found = []
    for position, stmt in enumerate(fn.body):
        if not isinstance(stmt, ast.If):
            continue
        if not any(is_call_to(node, prange_names) for node in walk([stmt])):
            continue
        tests: list[ast.expr] = []
        bodies: list[list[ast.stmt]] = []
        node: ast.stmt = stmt
        while True:
            assert isinstance(node, ast.If)
            tests.append(node.test)
            bodies.append(node.body)
            rest = node.orelse
            if len(rest) == 1 and isinstance(rest[0], ast.If):
                node = rest[0]
                continue
            bodies.append(rest)
            break
        if not all(_known_from_arguments(t, fn, params) for t in tests):
            continue
        found.append(Branch(position, tuple(tests), tuple(bodies)))
    return tuple(found)


def _known_from_arguments(test: ast.expr, fn: ast.FunctionDef, params: tuple[str, ...]) -> bool:
    """Whether ``test`` reads only parameters, constants and module names, and calls
    nothing: its value is then known from the call's arguments alone."""
    stored = {
        n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    if set(names_loaded([test])) & (stored - set(params)):
        return False  # a value the kernel computes
    return not any(isinstance(n, (ast.Call, ast.NamedExpr, ast.Lambda)) for n in ast.walk(test))


def choices(found: tuple[Branch, ...]) -> Iterator[tuple[int, ...]]:
    """Every combination of branches (one index per chain)."""
    return itertools.product(*(range(len(b.bodies)) for b in found))


def take(fn: ast.FunctionDef, found: tuple[Branch, ...], chosen: tuple[int, ...]) -> None:
    """Replace each chain in ``fn``'s body by the statements of its ``chosen`` branch."""
    body = list(fn.body)
    for branch, k in sorted(zip(found, chosen, strict=True), key=lambda bc: -bc[0].position):
        taken = branch.bodies[k] or [ast.copy_location(ast.Pass(), fn.body[branch.position])]
        body[branch.position : branch.position + 1] = taken
    fn.body = body
