"""Analysis of sequential loops: ``prologue; for t in range(...): step; epilogue``.

A sequential loop steps a state forward; blockloop checkpoints between steps. The state
is found here from the source alone (what the body rebinds, and what it may write into);
which of those names hold arrays is only known at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from .checks import RESERVED, loop_header, refuse_reserved, while_header
from .instep import exact_reductions
from .plans import SequentialLoop
from .reduction import refuse_inner_carried_reads
from .source import Source
from .split import split_plan
from .syntax import (
    LOOPS,
    SCOPES,
    is_call_to,
    names_loaded,
    names_stored,
    reads_before_binding,
    walk,
)
from .types import UNKNOWN, NameTypes
from .writes import CallWrites, no_helpers, outer_writes

__all__ = ["possibly_mutated", "sequential"]


def possibly_mutated(
    body: list[ast.stmt],
    names: Iterable[str],
    call_writes: CallWrites = no_helpers,
    types: NameTypes = UNKNOWN,
) -> set[str]:
    """Names among ``names`` whose values ``body`` may write into (conservative).

    Every write :func:`~blockloop.transform.writes.outer_writes` finds counts, also one
    that depends on the array's dimensions, and so does a slice of one bound to another
    name (``w = u[1:]``), whether or not it is written through.
    """
    wanted = set(names)
    out = set(outer_writes(body, wanted, call_writes=call_writes, types=types))
    for node in walk(body):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Subscript)
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id in wanted
            and _is_view(node.value.slice)
        ):
            out.add(node.value.value.id)
    return out & wanted


def _is_view(index: ast.expr) -> bool:
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    return any(
        isinstance(p, ast.Slice) or (isinstance(p, ast.Constant) and p.value is Ellipsis)
        for p in parts
    )


def sequential(
    source: Source,
    fn: ast.FunctionDef,
    args: tuple[str, ...],
    prologue: list[ast.stmt],
    loop: ast.For | ast.While,
    epilogue: list[ast.stmt],
    prange_names: frozenset[str],
    call_writes: CallWrites = no_helpers,
    types: NameTypes = UNKNOWN,
) -> SequentialLoop:
    """Analyse ``prologue; for t in range(...): body; epilogue`` (or ``while cond:``)
    into a plan."""
    condition: ast.expr | None = None
    bounds: tuple[ast.expr, ...]
    if isinstance(loop, ast.While):
        while_header(source, loop, prologue, epilogue)
        index, bounds, condition = "_bl_t", (), loop.test
    else:
        index, call = loop_header(source, loop, prologue, epilogue, "range", "time loop")
        bounds = tuple(call.args)
    _refuse_pranges_outside(source, prologue, epilogue, prange_names)
    defined_before = set(args) | set(names_stored(prologue))
    body = [ast.fix_missing_locations(s) for s in loop.body]
    stored = names_stored(body)
    if index in stored:
        raise source.error(stored[index], f"the loop variable `{index}` is rebound")
    _refuse_leaks(source, epilogue, index, ({index} | set(stored)) - defined_before)
    epilogue_reads = names_loaded(epilogue)
    body_reads = names_loaded([*body, *([condition] if condition is not None else [])])
    rebound = set(stored) & defined_before
    read_before = (set(body_reads) & defined_before) - rebound
    written = possibly_mutated(body, read_before, call_writes, types)
    state = sorted(rebound | written)
    invariants = sorted((set(body_reads) & defined_before) - set(state))
    epilogue_inputs = sorted(set(epilogue_reads) & (defined_before | set(state)))
    carry = sorted((set(invariants) | set(epilogue_inputs)) - set(state))
    for name in (*state, *invariants):
        if name.startswith(RESERVED):
            raise source.error(loop, f"names starting with {RESERVED} are reserved for blockloop")
    refuse_reserved(source, fn)
    refuse_inner_carried_reads(
        source, body, defined_before | set(stored), prange_names, call_writes, types
    )
    locals_ = defined_before | set(stored) | set(names_stored(epilogue)) | {index}
    prologue_binds = names_stored(prologue)
    bindings = {name: source.line_of(prologue_binds.get(name, fn)) for name in state}
    step = exact_reductions(source, body, defined_before, prange_names)
    breaks = _mark_breaks(step)
    return SequentialLoop(
        source=source,
        name=fn.name,
        args=args,
        prologue=prologue,
        loop=loop,
        body=body,
        epilogue=epilogue,
        index=index,
        bounds=bounds,
        condition=condition,
        stops=condition is not None or breaks,
        step=step,
        split=split_plan(step, tuple(state), condition, prange_names, source.first_line),
        state=tuple(state),
        invariants=tuple(invariants),
        carry=tuple(carry),
        epilogue_inputs=tuple(epilogue_inputs),
        parallel=any(is_call_to(node, prange_names) for node in walk(body)),
        bindings=bindings,
        globals_used=frozenset(set(names_loaded(fn.body)) - locals_),
    )


def _refuse_pranges_outside(
    source: Source,
    prologue: list[ast.stmt],
    epilogue: list[ast.stmt],
    prange_names: frozenset[str],
) -> None:
    """Refuse a prange loop before or after the time loop: it would run unblocked."""
    for part, where in ((prologue, "before"), (epilogue, "after")):
        for node in walk(part):
            if is_call_to(node, prange_names):
                raise source.error(
                    node,
                    f"a prange loop {where} the time loop would run unblocked; blockloop "
                    "checkpoints one loop per kernel, so move it inside the time loop or into "
                    "an @njit helper",
                )


def _refuse_leaks(
    source: Source, epilogue: list[ast.stmt], index: str, loop_locals: set[str]
) -> None:
    """Refuse a read after the loop of its variable or of a name first bound in it."""
    leaked = reads_before_binding(epilogue, loop_locals)
    for name, node in leaked.items():
        if name == index:
            raise source.error(
                node,
                f"the loop variable `{index}` is read after the loop; count the steps in a "
                "variable defined before the loop instead (`it = 0` before it, `it += 1` "
                "in it), so that its value is checkpointed",
            )
        else:
            raise source.error(
                node,
                f"`{name}` is bound inside the time loop and read after it; define it before "
                "the loop so that its value can be checkpointed (and exists when the loop "
                "runs no step)",
            )


class _FlagBreaks(ast.NodeTransformer):
    """``break`` of the time loop itself becomes ``_bl_stop = True; break``."""

    found = False

    def visit_Break(self, node: ast.Break) -> list[ast.stmt]:
        self.found = True
        flag = ast.Assign(targets=[ast.Name("_bl_stop", ast.Store())], value=ast.Constant(True))
        return [ast.copy_location(flag, node), node]

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, (*SCOPES, *LOOPS)):
            return node  # a break in an inner loop ends that loop only
        return super().generic_visit(node)


def _mark_breaks(step: list[ast.stmt]) -> bool:
    """Flag every ``break`` of the time loop in ``step`` (in place); whether there was one."""
    flag = _FlagBreaks()
    for k, stmt in enumerate(step):
        if isinstance(stmt, (*SCOPES, *LOOPS)):
            continue
        step[k] = flag.visit(stmt)
    return flag.found
