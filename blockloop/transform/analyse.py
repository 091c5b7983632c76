"""Analysis: find the loop to block and hand it to the analysis of its kind.

Pure functions of source text: nothing here imports numba. Every refusal is a
:class:`~blockloop.BlockingError` at the user's line that says what to change.
"""

from __future__ import annotations

import ast
import copy

from .branches import Branch, branches, take
from .checks import check_signature, find_function
from .exits import early_exits
from .inner import free_names, hoist
from .plans import LoopPlan, PhasedKernel, ReductionLoop, SequentialLoop
from .reduction import reduction
from .sequential import sequential
from .source import Source
from .syntax import is_call_to, names_loaded, names_stored, reads_before_binding, walk
from .types import OPTIMISTIC, UNKNOWN, NameTypes
from .writes import CallWrites, no_helpers

__all__ = ["analyse"]


_RANGE = frozenset({"range"})


def _phase_positions(stmts: list[ast.stmt], prange: frozenset[str]) -> list[int]:
    """Where the kernel's phases are: its top-level loops that hold a prange loop, or,
    in a kernel without prange, its top-level ``range`` and ``while`` loops."""
    parallel = [
        k
        for k, s in enumerate(stmts)
        if isinstance(s, (ast.For, ast.While)) and any(is_call_to(n, prange) for n in walk([s]))
    ]
    if parallel:
        return parallel
    return [
        k
        for k, s in enumerate(stmts)
        if isinstance(s, ast.While) or (isinstance(s, ast.For) and is_call_to(s.iter, _RANGE))
    ]


def analyse(
    source: Source,
    prange_names: frozenset[str] = frozenset({"prange"}),
    call_writes: CallWrites = no_helpers,
    chosen: tuple[int, ...] = (),
    types: NameTypes = UNKNOWN,
) -> LoopPlan:
    """Analyse a kernel's source into a plan: one loop, or a :class:`PhasedKernel`.

    Parameters
    ----------
    source : Source
        The kernel's source.
    prange_names : frozenset of str
        Names that mean ``numba.prange`` in the kernel's module (``prange``, ``nb.prange``).
    call_writes : callable, optional
        Which parameters a helper called by the kernel may write into (by its name in the
        kernel's module); by default every helper may write every array it is given.
    chosen : tuple of int, optional
        For a kernel that chooses between loops by its arguments (see
        :func:`~blockloop.transform.branches.branches`), the branch each chain takes.
    types : NameTypes, optional
        numba's types of the kernel's names for one call (see
        :mod:`~blockloop.transform.types`); by default none, and the analysis reads the
        syntax conservatively.

    Raises
    ------
    BlockingError
        For any shape blockloop cannot block.
    """
    fn = find_function(source)
    args = check_signature(source, fn)
    found = branches(fn, args, prange_names)
    if len(chosen) != len(found):
        raise ValueError(f"{len(found)} branch choices needed, {len(chosen)} given")
    take(fn, found, chosen)
    inner = hoist(fn, args)
    notes = _ranges_made_before(source, fn, prange_names)
    notes += _inner_pranges_as_ranges(source, fn, prange_names)
    notes += [(0, f"`{f.name}`, defined in the kernel, is compiled beside it") for f in inner]
    loops = _phase_positions(fn.body, prange_names)
    exits = early_exits(source, fn, args, loops, prange_names, call_writes, types)
    if exits is not None:
        notes.append((0, "an early `return` before the loop is tested first (`_bl_exits`)"))
    notes += [(0, _taken(b, k)) for b, k in zip(found, chosen, strict=True)]
    if types.signature == OPTIMISTIC:
        notes.append((0, "provisional: the first call decides with numba's types"))
    elif types.typed:
        notes.append((0, f"analysed with numba's types for the arguments ({types.signature})"))
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
    positions = _phase_positions(body, prange_names)
    for k, stmt in enumerate(body):
        if k in positions:
            continue
        for node in walk([stmt]):
            if is_call_to(node, prange_names):
                raise source.error(
                    node,
                    "a prange loop outside the kernel's top-level loops would run unblocked; "
                    "make it a statement of the function body itself, or put it inside a "
                    "top-level `for`/`while` loop",
                )
    if not positions:
        raise source.error(
            fn,
            f"{fn.name}() has no top-level loop to block: blockloop checkpoints a function "
            "built around `for i in prange(...)` loops, `for t in range(...)` time loops or "
            "`while` convergence loops",
        )
    for k in positions:
        loop = body[k]
        if isinstance(loop, ast.For) and not is_call_to(loop.iter, prange_names | {"range"}):
            raise source.error(
                loop.iter,
                "a top-level loop holding a prange loop must run over range(...) (a time "
                "loop) or prange(...); loop over an index instead",
            )
    if len(positions) == 1:
        k = positions[0]
        plan: LoopPlan = _loop(
            source, fn, args, body[:k], body[k], body[k + 1 :], prange_names, call_writes, types
        )
    else:
        plan = _phased(source, fn, args, body, positions, prange_names, call_writes, types)
    plan.exits = exits
    if isinstance(plan, PhasedKernel):
        plan.phases[0].exits = exits
    for part in (plan, *(plan.phases if isinstance(plan, PhasedKernel) else ())):
        part.inner = inner  # their module names are fingerprinted with the kernel's
        part.globals_used = part.globals_used.union(*(free_names(f) for f in inner))
        first, last = part.loop.lineno, part.loop.end_lineno or part.loop.lineno
        part.notes = tuple(note for line, note in notes if first <= line <= last or not line)
    return plan


def _taken(branch: Branch, k: int) -> str:
    if k < len(branch.tests):
        return f"this call takes the branch `if {ast.unparse(branch.tests[k])}`"
    tests = " or ".join(f"({ast.unparse(t)})" for t in branch.tests)
    return f"this call takes the branch where not {tests}"


def _ranges_made_before(
    source: Source, fn: ast.FunctionDef, prange_names: frozenset[str]
) -> list[tuple[int, str]]:
    """Write ``range(...)`` where a range bound once at the top of the kernel is looped over.

    ``j_range = range(m)`` before the loop and ``for j in j_range:`` in it is a range
    object handed from the statements before the loop to the loop, which numba cannot
    pass from one compiled function to the next (it cannot box a range). When every use
    of the name is a ``for`` loop's range, and the range's arguments are never rebound,
    each loop gets its own ``range(m)``, as numba computes it.
    """
    counts: dict[str, int] = {}
    for node in walk(fn.body):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            counts[node.id] = counts.get(node.id, 0) + 1
    notes = []
    for stmt in fn.body:
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Call)
            and is_call_to(stmt.value, frozenset({"range", *prange_names}))
        ):
            continue
        name, call = stmt.targets[0].id, stmt.value
        if counts[name] != 1 or any(counts.get(n, 0) > 1 for n in names_loaded([call])):
            continue
        loads = [n for n in walk(fn.body) if isinstance(n, ast.Name) and n.id == name]
        loops = [n for n in walk(fn.body) if isinstance(n, ast.For) and _iterates(n, name)]
        if len(loops) != len(loads) - 1:  # every use but the binding is a loop's range
            continue
        for loop in loops:
            loop.iter = ast.copy_location(copy.deepcopy(call), loop.iter)
        where = f"line {source.line_of(stmt)}"
        what = "is written out where it is looped over (numba cannot hand a range on)"
        notes.append((stmt.lineno, f"{where}: `{name}`, a range, {what}"))
    return notes


def _iterates(loop: ast.For, name: str) -> bool:
    return isinstance(loop.iter, ast.Name) and loop.iter.id == name


def _inner_pranges_as_ranges(
    source: Source, fn: ast.FunctionDef, prange_names: frozenset[str]
) -> list[tuple[int, str]]:
    """Rewrite each prange loop nested in another prange loop as a ``range`` loop.

    numba runs only the outermost prange of a nest in parallel and the inner ones as
    ``range`` loops; the blocked code does the same, in the open.
    """
    notes = []
    for outer in walk(fn.body):
        if not (isinstance(outer, ast.For) and is_call_to(outer.iter, prange_names)):
            continue
        for inner in walk(outer.body):
            if isinstance(inner, ast.For) and is_call_to(inner.iter, prange_names):
                assert isinstance(inner.iter, ast.Call)
                inner.iter.func = ast.copy_location(ast.Name("range", ast.Load()), inner.iter.func)
                line = f"line {source.line_of(inner)}: a prange inside a prange runs as range"
                notes.append((inner.lineno, f"{line}, as numba runs it"))
    return notes


def _loop(
    source: Source,
    fn: ast.FunctionDef,
    args: tuple[str, ...],
    prologue: list[ast.stmt],
    loop: ast.stmt,
    epilogue: list[ast.stmt],
    prange_names: frozenset[str],
    call_writes: CallWrites,
    types: NameTypes = UNKNOWN,
) -> ReductionLoop | SequentialLoop:
    """The plan of one loop with the statements before and after it."""
    if isinstance(loop, ast.For) and is_call_to(loop.iter, prange_names):
        for node in walk(loop.body):
            if is_call_to(node, prange_names):  # not a loop's own range: a value
                raise source.error(
                    node,
                    "prange(...) inside a prange loop, other than as a loop's range; use "
                    "range here",
                )
        return reduction(source, fn, args, prologue, loop, epilogue, call_writes, types)
    assert isinstance(loop, (ast.For, ast.While))
    return sequential(source, fn, args, prologue, loop, epilogue, prange_names, call_writes, types)


def _phased(
    source: Source,
    fn: ast.FunctionDef,
    args: tuple[str, ...],
    body: list[ast.stmt],
    positions: list[int],
    prange_names: frozenset[str],
    call_writes: CallWrites,
    types: NameTypes = UNKNOWN,
) -> PhasedKernel:
    """One plan per phase: phase ``k`` takes what is live before its statements and hands
    on (a tuple, returned) what later code reads; the last phase runs the epilogue."""
    phases: list[LoopPlan] = []
    inputs = args
    start = 0
    for n, k in enumerate(positions):
        loop = body[k]
        last = n == len(positions) - 1
        if last:
            epilogue = body[k + 1 :]
            live: tuple[str, ...] = ()
        else:
            later = body[k + 1 :]
            defined = set(args) | set(names_stored(body[: k + 1]))
            reads = reads_before_binding(later, defined)
            live = tuple(sorted(reads))
            # each name of the returned tuple sits at its read in later code, so that a
            # refusal of it names the user's line
            names: list[ast.expr] = [
                ast.copy_location(ast.Name(name, ast.Load()), reads[name]) for name in live
            ]
            value = ast.copy_location(ast.Tuple(names, ast.Load()), loop)
            epilogue = [ast.copy_location(ast.Return(value), loop)]
        plan = _loop(
            source, fn, inputs, body[start:k], loop, epilogue, prange_names, call_writes, types
        )
        plan.hands_on = live
        phases.append(plan)
        inputs, start = live, k + 1
    stored = set(names_stored(fn.body))
    globals_used = frozenset(set(names_loaded(fn.body)) - stored - set(args))
    first, rest = phases[0], phases[1:]
    return PhasedKernel(
        source=source,
        name=fn.name,
        args=args,
        prologue=first.prologue,
        loop=first.loop,
        body=first.body,
        epilogue=[s for p in rest for s in (*p.prologue, p.loop, *p.epilogue)],
        index=first.index,
        bounds=first.bounds,
        carry=(),
        epilogue_inputs=(),
        globals_used=globals_used,
        phases=tuple(phases),
    )
