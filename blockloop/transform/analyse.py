"""Analysis: find the loop to block and hand it to the analysis of its kind.

Pure functions of source text: nothing here imports numba. Every refusal is a
:class:`~blockloop.BlockingError` at the user's line that says what to change.
"""

from __future__ import annotations

import ast

from .checks import check_signature, find_function
from .plans import ReductionLoop, SequentialLoop
from .reduction import reduction
from .sequential import sequential
from .source import Source
from .syntax import is_call_to, walk
from .writes import CallWrites, no_helpers

__all__ = ["analyse"]


def _prange_loops(stmts: list[ast.stmt], prange: frozenset[str]) -> tuple[list[int], list[ast.AST]]:
    top = [k for k, s in enumerate(stmts) if isinstance(s, ast.For) and is_call_to(s.iter, prange)]
    nested = [
        node
        for k, s in enumerate(stmts)
        if k not in top
        for node in walk([s])
        if is_call_to(node, prange)
    ]
    return top, nested


def analyse(
    source: Source,
    prange_names: frozenset[str] = frozenset({"prange"}),
    call_writes: CallWrites = no_helpers,
) -> ReductionLoop | SequentialLoop:
    """Analyse a kernel's source into a :class:`ReductionLoop` or a ``SequentialLoop``.

    Parameters
    ----------
    source : Source
        The kernel's source.
    prange_names : frozenset of str
        Names that mean ``numba.prange`` in the kernel's module (``prange``, ``nb.prange``).
    call_writes : callable, optional
        Which parameters a helper called by the kernel may write into (by its name in the
        kernel's module); by default every helper may write every array it is given.

    Raises
    ------
    BlockingError
        For any shape blockloop cannot block.
    """
    fn = find_function(source)
    args = check_signature(source, fn)
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            body = body[1:]  # docstring
    for node in walk(body):
        if isinstance(node, ast.For) and is_call_to(node.iter, frozenset({"pndindex"})):
            raise source.error(
                node,
                "blockloop does not block pndindex loops; loop over the flattened index "
                "instead: `for k in prange(n * m): i, j = k // m, k % m`",
            )
    top, nested = _prange_loops(body, prange_names)
    if not top:
        steps = [
            k
            for k, s in enumerate(body)
            if isinstance(s, ast.For) and is_call_to(s.iter, frozenset({"range"}))
        ]
        if len(steps) > 1:
            raise source.error(
                body[steps[1]],
                "a second top-level range loop: blockloop checkpoints one time loop per "
                "kernel; move the set-up loop into an @njit helper called before the loop, or "
                "split the kernel into two decorated functions",
            )
        if steps:
            k = steps[0]
            loop = body[k]
            assert isinstance(loop, ast.For)
            return sequential(
                source,
                fn,
                args,
                list(body[:k]),
                loop,
                list(body[k + 1 :]),
                prange_names,
                call_writes,
            )
        if nested:
            raise source.error(
                nested[0],
                "the prange loop must be a statement of the function body itself, not nested "
                "in another statement; move it to the top level",
            )
        raise source.error(
            fn,
            f"{fn.name}() has no top-level `for i in prange(...)` loop to block and no "
            "top-level `for t in range(...)` time loop; blockloop checkpoints a function built "
            "around one prange reduction loop or one sequential loop",
        )
    if len(top) > 1:
        raise source.error(
            body[top[1]],
            "a second top-level prange loop: blockloop blocks one loop per kernel; split the "
            "kernel into two decorated functions",
        )
    if nested:
        raise source.error(
            nested[0],
            "a prange loop outside the blocked loop would run unblocked; blockloop blocks one "
            "prange loop per kernel, so use range here or split the kernel",
        )
    k = top[0]
    loop = body[k]
    assert isinstance(loop, ast.For)
    prologue, epilogue = list(body[:k]), list(body[k + 1 :])
    return reduction(source, fn, args, prologue, loop, epilogue, call_writes)
