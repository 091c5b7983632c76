"""Alternative loops: ``if method == 0: <loops> elif method == 1: <loops> else: ...``.

A kernel may choose between loops by its arguments. Exactly one branch runs per call,
and which one is known once the arguments are: the kernel is analysed as the function
whose top-level ``if`` is replaced by the branch the call takes (its statements keep their
lines). Only tests that read nothing but the kernel's parameters (never rebound, and of
an array only its shape) and constants qualify, also through names bound once at the top
of the kernel from such values (``nd = d.ndim - 2`` before ``if nd == 1:``); any other
``if`` around a prange loop is refused as before.

Anywhere in the kernel, an ``if`` that tests whether a parameter is ``None`` (``if
progress is not None:``, or a flag bound once from that test at the top of the kernel)
is taken the same way: numba prunes the branch a ``None`` argument cannot take, and the
generated code, which receives the flag as a value, must not hold it either. So is any
other ``if`` whose test the arguments decide (``if steer_type == 2:``, ``if not r_diag:``,
or ``if st34:`` after ``st34 = steer_type in {3, 4}`` at the top): a name the loop binds
only under such a test (``if st2: help_norm = 0.0``) is then bound in every iteration, or
in none, and read only where the same arguments say it was bound. Such a test reads only
parameters the kernel never rebinds, constants and module names, through comparisons,
``and``, ``or`` and ``not``; the combinations are analysed as calls take them.
"""

from __future__ import annotations

import ast
import copy
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
    path: tuple[tuple[str, int], ...] = ()
    """For an ``if`` inside the kernel: the fields and indices from the function down to
    the list that holds it (its index there is ``position``); empty at the top level."""


def branches(
    fn: ast.FunctionDef, params: tuple[str, ...], prange_names: frozenset[str]
) -> tuple[Branch, ...]:
    """The kernel's top-level ``if`` chains that hold prange loops and test only its
    parameters (and constants or module names: values fixed for the call)."""
    found = []
    stored = tuple(
        n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
    )
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
        tests = [_inlined(t, fn.body[:position], stored, params) for t in tests]
        if not all(_known_from_arguments(t, stored, params) for t in tests):
            continue
        found.append(Branch(position, tuple(tests), tuple(bodies)))
    outer = {b.position for b in found}
    for position, stmt in enumerate(fn.body):
        if position not in outer:
            found += _none_tests(stmt, (("body", position),), fn, params, stored, prange_names)
    return tuple(found)


def _none_tests(
    stmt: ast.stmt,
    path: tuple[tuple[str, int], ...],
    fn: ast.FunctionDef,
    params: tuple[str, ...],
    stored: tuple[str, ...],
    prange_names: frozenset[str] = frozenset(),
    inside: bool = False,
) -> list[Branch]:
    """The ``if``s at or below ``stmt`` that test whether a parameter is ``None``, and,
    ``inside`` a prange loop, any other test the arguments decide (:func:`_none_test`),
    with their paths; none inside another one. ``stored``: every name the kernel binds,
    once per binding."""
    inside = inside or (isinstance(stmt, ast.For) and is_call_to(stmt.iter, prange_names))
    found = []
    for field in ("body", "orelse", "finalbody"):
        stmts = getattr(stmt, field, None)
        if not isinstance(stmts, list):
            continue
        for k, inner in enumerate(stmts):
            if not isinstance(inner, ast.stmt):
                continue
            at = (*path, (field, k))
            test = (
                _none_test(inner.test, fn, params, stored, inside)
                if isinstance(inner, ast.If)
                else None
            )
            if test is not None:
                assert isinstance(inner, ast.If)
                bodies = (inner.body, inner.orelse)
                found.append(Branch(k, (test,), bodies, (*at[:-1], (field, -1))))
            else:
                found += _none_tests(inner, at, fn, params, stored, prange_names, inside)
    return found


def _none_test(
    test: ast.expr,
    fn: ast.FunctionDef,
    params: tuple[str, ...],
    stored: tuple[str, ...],
    general: bool = False,
) -> ast.expr | None:
    """``p is None`` or ``p is not None`` (``not`` of one) for a parameter ``p`` the
    kernel never rebinds, written out or through a name bound to it once at the top of
    the kernel; with ``general``, any test the arguments decide (:func:`_decided`). The
    test as the arguments decide it, or None."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _none_test(test.operand, fn, params, stored, general)
        return None if inner is None else ast.copy_location(ast.UnaryOp(ast.Not(), inner), test)
    if isinstance(test, ast.Name) and stored.count(test.id) == 1:
        for stmt in fn.body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == test.id
            ):
                found = _none_test(stmt.value, fn, params, stored, general)
                return found if stmt.value is not test else None
        return None
    if general and _decided(test, params, stored):
        return test
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], (ast.Is, ast.IsNot))
        and isinstance(test.left, ast.Name)
        and test.left.id in params
        and test.left.id not in stored
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
    ):
        return test
    return None


_DECIDING = (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Constant, ast.Set, ast.Tuple, ast.Load)
_DECIDING_OPS = (ast.cmpop, ast.boolop, ast.Not, ast.USub)


def _decided(test: ast.expr, params: tuple[str, ...], stored: tuple[str, ...]) -> bool:
    """Whether the call's arguments decide ``test``: comparisons, ``and``, ``or`` and
    ``not`` of parameters the kernel never rebinds, constants and module names (names the
    kernel never binds), reading at least one parameter."""
    names = [n for n in ast.walk(test) if isinstance(n, ast.Name)]
    if not any(n.id in params for n in names) or any(n.id in stored for n in names):
        return False
    return all(isinstance(n, (*_DECIDING, *_DECIDING_OPS, ast.Name)) for n in ast.walk(test))


def _known_from_arguments(test: ast.expr, stored: tuple[str, ...], params: tuple[str, ...]) -> bool:
    """Whether ``test`` reads only parameters the kernel never rebinds, constants and
    module names, and calls nothing: its value is then known from the call's arguments
    alone. Of an array it may read the shape, not an element (the kernel may change
    that before the test)."""
    if set(names_loaded([test])) & set(stored):
        return False  # a value the kernel computes, or a parameter it rebinds
    for node in ast.walk(test):
        if isinstance(node, (ast.Call, ast.NamedExpr, ast.Lambda)):
            return False
        if isinstance(node, ast.Subscript) and not (
            isinstance(node.value, ast.Attribute) and node.value.attr in _SHAPES
        ):
            return False
    return True


_SHAPES = frozenset({"shape", "strides"})


class _Inline(ast.NodeTransformer):
    def __init__(self, values: dict[str, ast.expr]) -> None:
        self.values = values

    def visit_Name(self, node: ast.Name) -> ast.expr:
        value = self.values.get(node.id)
        if value is None or not isinstance(node.ctx, ast.Load):
            return node
        return ast.copy_location(copy.deepcopy(value), node)


def _inlined(
    test: ast.expr, before: list[ast.stmt], stored: tuple[str, ...], params: tuple[str, ...]
) -> ast.expr:
    """``test`` with each name the kernel binds once, at its top level ``before`` the
    test, from a value known from the arguments, replaced by that value (``if ndim == 1``
    after ``ndim = x.ndim - 3`` is ``if x.ndim - 3 == 1``)."""
    values: dict[str, ast.expr] = {}
    for stmt in before:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stored.count(stmt.targets[0].id) == 1
            and stmt.targets[0].id not in params
        ):
            value = _Inline(values).visit(copy.deepcopy(stmt.value))
            if _known_from_arguments(value, stored, params):
                values[stmt.targets[0].id] = value
    return _Inline(values).visit(copy.deepcopy(test)) if values else test


def choices(found: tuple[Branch, ...]) -> Iterator[tuple[int, ...]]:
    """Every combination of branches (one index per chain)."""
    return itertools.product(*(range(len(b.bodies)) for b in found))


def take(fn: ast.FunctionDef, found: tuple[Branch, ...], chosen: tuple[int, ...]) -> None:
    """Replace each chain in ``fn`` by the statements of its ``chosen`` branch (the last
    first, so that the places of those before it stay as they are)."""
    pairs = sorted(
        zip(found, chosen, strict=True), key=lambda bc: (bc[0].path[:-1], bc[0].position)
    )
    for branch, k in reversed(pairs):
        holder: ast.AST = fn
        for field, index in branch.path[:-1]:
            holder = getattr(holder, field)[index]
        field = branch.path[-1][0] if branch.path else "body"
        stmts = list(getattr(holder, field))
        taken = branch.bodies[k] or [ast.copy_location(ast.Pass(), stmts[branch.position])]
        stmts[branch.position : branch.position + 1] = taken
        setattr(holder, field, stmts)
