"""Early exits: ``if <test>: return [value]`` before the kernel's first loop.

A size check that returns before any work (``if src.shape[0] == 0: return out``) decides
the whole call. The kernel is analysed without it, and the generated module holds
``_bl_exits``: the statements up to the last such test, each test answering ``True``.
A call runs ``_bl_exits`` first; where it answers ``True`` the original kernel runs,
returns before its loop, and nothing is checkpointed. Running the statements before a
test twice must change nothing, so they may bind names and call helpers that write no
argument, and nothing else.
"""

from __future__ import annotations

import ast

from .source import Source
from .syntax import dotted, is_call_to, walk
from .types import UNKNOWN, NameTypes
from .writes import CallWrites, no_helpers, outer_writes

__all__ = ["early_exits"]

_SIDE_EFFECTS = frozenset({"print"})


def _is_exit(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.If) and not stmt.orelse and isinstance(stmt.body[-1], ast.Return)


def early_exits(
    source: Source,
    fn: ast.FunctionDef,
    params: tuple[str, ...],
    loops: list[int],
    prange_names: frozenset[str],
    call_writes: CallWrites = no_helpers,
    types: NameTypes = UNKNOWN,
) -> ast.FunctionDef | None:
    """Take the early exits out of ``fn``'s body; the function that tests for them.

    Parameters
    ----------
    source : Source
        The kernel's source, for refusals at the user's line.
    fn : ast.FunctionDef
        The kernel; its top-level ``if <test>: return`` statements before its first loop
        are removed.
    params : tuple of str
        The kernel's parameters, in order: ``_bl_exits`` takes the same.
    loops : list of int
        The positions in ``fn.body`` of its top-level loops (its phases).
    prange_names : frozenset of str
        Names that mean ``numba.prange``.
    call_writes : callable, optional
        Which parameters a helper may write (see :data:`~blockloop.transform.writes.CallWrites`).
    types : NameTypes, optional
        numba's types of the kernel's names, if known.

    Returns
    -------
    ast.FunctionDef or None
        ``_bl_exits(*params)``, or None for a kernel without early exits.

    Raises
    ------
    BlockingError
        For an early exit after a statement that running twice would change.
    """
    first = min(loops, default=len(fn.body))
    found = [k for k, stmt in enumerate(fn.body[:first]) if _is_exit(stmt)]
    found = [k for k in found if not any(is_call_to(n, prange_names) for n in walk([fn.body[k]]))]
    if not found:
        return None
    last = found[-1]
    # run twice: by _bl_exits, then by the prologue or the original kernel
    before = [s for k, s in enumerate(fn.body[:last]) if k not in found]
    _refuse_effects(source, before, fn.body[last], params, call_writes, types)
    body: list[ast.stmt] = []
    for k, stmt in enumerate(fn.body[: last + 1]):
        if k in found:
            assert isinstance(stmt, ast.If)
            answer = ast.copy_location(ast.Return(ast.Constant(True)), stmt.body[-1])
            body.append(ast.copy_location(ast.If(stmt.test, [answer], []), stmt))
        else:
            body.append(stmt)
    body.append(ast.copy_location(ast.Return(ast.Constant(False)), fn.body[last]))
    fn.body = [s for k, s in enumerate(fn.body) if k not in found]
    test = ast.parse(f"def _bl_exits({', '.join(params)}): pass").body[0]
    assert isinstance(test, ast.FunctionDef)
    test.body = body
    return ast.fix_missing_locations(ast.copy_location(test, fn))


def _refuse_effects(
    source: Source,
    stmts: list[ast.stmt],
    exit_: ast.stmt,
    params: tuple[str, ...],
    call_writes: CallWrites,
    types: NameTypes,
) -> None:
    """Refuse a statement before an early exit that running twice would change."""
    written = outer_writes(stmts, params, call_writes=call_writes, types=types)
    effects: list[tuple[ast.AST, str]] = [
        (w.node, f"writes into `{w.name}`") for w in written.values()
    ]
    for node in walk(stmts):
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            if node.target.id in params and not types.plain(node.target.id):
                effects.append((node, f"may change `{node.target.id}` in place"))
        elif isinstance(node, ast.Call):
            name = dotted(node.func) or ""
            if name in _SIDE_EFFECTS or ".random." in f".{name}.":
                effects.append((node, f"calls `{name}`"))
    if effects:
        node, what = min(effects, key=lambda e: (getattr(e[0], "lineno", 0), e[1]))
        raise source.error(
            exit_,
            f"an early `return` before the loop is found by running the statements before "
            f"it once more, and `{ast.unparse(node)}` (line {source.line_of(node)}) {what}; "
            "move that statement after the test, or the test after the loop",
        )
