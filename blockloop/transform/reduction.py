"""Analysis of reduction loops: ``prologue; for i in prange(...): body; epilogue``.

Finds the accumulators (each with one operator), what the prologue hands to the loop and
the epilogue, and refuses everything a tiled, pairwise-folded loop cannot reproduce.
"""

from __future__ import annotations

import ast

from ..operators import REDUCTIONS, by_ast_op
from .checks import RESERVED, loop_header, refuse_reserved
from .maps import carried_read, map_targets, owned_at
from .normalise import normalise
from .plans import Accumulator, ReductionLoop, RowUpdate
from .source import Source
from .syntax import (
    Parents,
    dotted,
    is_call_to,
    is_name,
    names_loaded,
    names_stored,
    reads_before_binding,
    walk,
)
from .writes import CallWrites, outer_writes

__all__ = [
    "SUPPORTED",
    "reduction",
    "refuse_inner_carried_reads",
    "refuse_partial_reads",
    "updates",
]

SUPPORTED = (
    "supported updates are s += e, s -= e, s *= e, s |= e, s &= e, s ^= e, "
    "s = min(s, e), s = max(s, e), whole arrays a += e and indexed updates h[k] += e"
)


def updates(body: list[ast.stmt], outer: set[str], index: str) -> tuple[list[tuple], set[int]]:
    """The reduction updates of a normalised body, and the reads they imply.

    Returns ``[(name, op, indexed, statement)]`` in source order and the ``id()`` of the
    ``Name`` nodes that read an accumulator only as part of its own update. An update at
    the loop's own index (``out[i, j] += e``, also ``out[k, i] += e``) writes what its
    iteration owns, not a reduction.
    """
    found: list[tuple] = []
    implicit: set[int] = set()
    for node in walk(body):
        if isinstance(node, ast.AugAssign):
            reduction = by_ast_op(node.op)
            target = node.target
            if reduction is None:
                continue
            if isinstance(target, ast.Name) and target.id in outer:
                found.append((target.id, reduction.key, False, node))
            elif (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id in outer
                and not owned_at(target, index)
            ):
                implicit.add(id(target.value))
                found.append((target.value.id, reduction.key, True, node))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            name_target, value = node.targets[0], node.value
            if (
                isinstance(name_target, ast.Name)
                and name_target.id in outer
                and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id in ("min", "max")
                and len(value.args) == 2
                and not value.keywords
                and is_name(value.args[0], name_target.id)
                and name_target.id not in names_loaded([value.args[1]])
            ):
                implicit.add(id(value.args[0]))
                found.append((name_target.id, value.func.id, False, node))
    return found, implicit


def refuse_partial_reads(
    source: Source, body: list[ast.stmt], accs: set[str], implicit: set[int], where: str
) -> None:
    """Refuse a read of an accumulator in ``body`` other than by its own update (the
    ``id()`` of those reads are in ``implicit``): a tile holds only its partial value."""
    for node in walk(body):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id in accs
            and id(node) not in implicit
        ):
            raise source.error(
                node,
                f"`{node.id}` is a reduction variable and is read inside {where}; each tile "
                "sees only its own partial value there. Read it after the loop",
            )


def carried_read_reason(
    source: Source, read: ast.Subscript, index: str, body: list[ast.stmt]
) -> str:
    """Why a read of an array that another iteration may write is refused, naming both."""
    name = dotted(read.value)
    store = next(
        (
            stmt
            for stmt in walk(body)
            if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign))
            and any(
                isinstance(n, ast.Subscript)
                and isinstance(n.ctx, ast.Store)
                and dotted(n.value) == name
                for n in walk([stmt])
            )
        ),
        None,
    )
    written = (
        f"`{source.snippet(store)}` (line {source.line_of(store)}) writes it"
        if store is not None
        else "the loop writes it (through a view or a helper)"
    )
    return (
        f"`{source.snippet(read)}` reads `{name}`, and {written}: an iteration may read "
        f"what another writes (only `{name}[{index}, ...]` is the iteration's own), so its "
        "value would depend on whether that other iteration ran first, even in plain numba. "
        "Read a copy made before the loop, or make the loop sequential"
    )


def refuse_inner_carried_reads(
    source: Source,
    body: list[ast.stmt],
    variables: set[str],
    prange_names: frozenset[str],
    call_writes: CallWrites,
) -> None:
    """Refuse a read, in a prange loop inside ``body`` (a time step), of an array that
    loop writes, at an index other than the iteration's own: the same rule as for the
    kernel's own prange loop (``u[i] = 0.5 * (u[i - 1] + u[i + 1])`` in place).
    ``variables`` are the kernel's own names (arguments and locals), not its globals."""
    for loop in walk(body):
        if not (
            isinstance(loop, ast.For)
            and is_call_to(loop.iter, prange_names)
            and isinstance(loop.target, ast.Name)
        ):
            continue
        index = loop.target.id
        outer = variables - set(names_stored(loop.body)) - {index}
        maps = map_targets(loop.body, outer, index)
        mapped = frozenset(id(t) for targets in maps.values() for t in targets)
        writes = outer_writes(loop.body, outer, skip=mapped, call_writes=call_writes)
        certain = {n for n, w in writes.items() if w.rows is None}
        read = carried_read(loop.body, {*maps, *certain}, index)
        if read is not None:
            raise source.error(read, carried_read_reason(source, read, index, loop.body))


def iteration_private(
    body: list[ast.stmt], epilogue: list[ast.stmt], defined_before: set[str]
) -> set[str]:
    """Names defined before the loop that each iteration binds before it reads them, and
    that the code after the loop does not read: C-style declarations (``t = 0.0`` at the
    top of the kernel). Every iteration has its own, as in numba, and no value crosses
    from one iteration to another or out of the loop.
    """
    bound = set(names_stored(body)) & defined_before
    early = set(reads_before_binding(body, bound)) | set(reads_before_binding(epilogue, bound))
    return bound - early


def reduction(
    source: Source,
    fn: ast.FunctionDef,
    args: tuple[str, ...],
    prologue: list[ast.stmt],
    loop: ast.For,
    epilogue: list[ast.stmt],
    call_writes: CallWrites,
) -> ReductionLoop:
    index, call = loop_header(source, loop, prologue, epilogue, "prange", "prange loop")

    defined_before = set(args) | set(names_stored(prologue))
    body = normalise([ast.fix_missing_locations(s) for s in loop.body], defined_before)
    defined_before -= iteration_private(body, epilogue, defined_before)
    found, implicit_reads = updates(body, defined_before, index)
    parents = Parents(body)

    # statements that bind an outer name other than by a reduction update
    plain_binds: dict[str, ast.AST] = {}
    update_targets = {
        id(node.targets[0] if isinstance(node, ast.Assign) else node.target) for *_, node in found
    }
    for node in walk(body):
        if id(node) in update_targets:
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            plain_binds.setdefault(node.id, node)

    # names bound to numba's IndexValue pairs, before the loop or in it (``iv = IndexValue(i,
    # x[i]); m = min(m, iv)``): folding them is numba's argmin idiom
    index_values = {
        target.id
        for stmt in walk([*prologue, *body])
        if isinstance(stmt, ast.Assign) and is_call_to(stmt.value, frozenset({"IndexValue"}))
        for target in stmt.targets
        if isinstance(target, ast.Name)
    }
    accs: dict[str, Accumulator] = {}
    for name, op, indexed, node in found:
        if name in plain_binds:
            continue  # reported below as a carried variable
        prev = accs.get(name)
        if prev is not None:
            if REDUCTIONS[prev.op].family != REDUCTIONS[op].family or prev.indexed != indexed:
                raise source.error(
                    node,
                    f"`{name}` is updated with {REDUCTIONS[prev.op].spelling} (line {prev.line}) "
                    f"and {REDUCTIONS[op].spelling} here; a reduction needs one operator. "
                    "Use two accumulators and combine them after the loop",
                )
            continue
        if op in ("min", "max") and (
            name in index_values
            or any(
                is_call_to(sub, frozenset({"IndexValue"}))
                or (isinstance(sub, ast.Name) and sub.id in index_values)
                for sub in walk([node.value])
            )
        ):
            raise source.error(
                node,
                f"`{name}` folds IndexValue pairs (numba's arg{op} idiom), which blockloop "
                f"cannot checkpoint; reduce the value (`m = {op}(m, a[i])`) in this loop "
                "and find its first index in a second loop",
            )
        accs[name] = Accumulator(name, op, indexed, source.line_of(node))

    if index in plain_binds or index in accs:
        raise source.error(plain_binds.get(index), f"the loop variable `{index}` is rebound")

    for name, node in plain_binds.items():
        if name in defined_before:
            stmt = parents.statement(node)
            if stmt is not None and name in names_loaded([stmt]):
                reason = (
                    f"`{source.snippet(stmt)}` carries `{name}` from one iteration to the next "
                    f"but is not a recognised reduction; {SUPPORTED}"
                )
            else:
                reason = (
                    f"`{name}` is defined before the loop and rebound inside it, so its value "
                    "would depend on which iteration ran last; use a new name inside the loop, "
                    f"or make it a reduction ({SUPPORTED})"
                )
            raise source.error(stmt or node, reason)

    for name in accs:
        if name.startswith(RESERVED):
            raise source.error(loop, f"names starting with {RESERVED} are reserved for blockloop")
    refuse_partial_reads(source, body, set(accs), implicit_reads, "the loop")

    body_locals = set(names_stored(body)) - set(accs)
    epilogue_reads = names_loaded(epilogue)
    leaked = reads_before_binding(epilogue, (body_locals | {index}) - defined_before)
    if leaked:
        name = sorted(leaked)[0]
        raise source.error(
            leaked[name],
            f"`{name}` is bound inside the prange loop and read after it; its value would "
            "depend on which iteration ran last. Make it a reduction (e.g. max) instead",
        )

    stores_outside = set(names_stored(prologue))
    indexed_targets = frozenset(
        id(node.target)
        for name, _, indexed, node in found
        if indexed and name in accs and isinstance(node, ast.AugAssign)
    )
    maps = map_targets(body, defined_before - set(accs), index)
    mapped = frozenset(id(t) for targets in maps.values() for t in targets)
    writes = outer_writes(
        body, defined_before, skip=indexed_targets | mapped, call_writes=call_writes
    )
    blocks = tuple(sorted(n for n, w in writes.items() if w.rows is None))
    read = carried_read(body, {*maps, *blocks}, index)
    if read is not None:
        raise source.error(read, carried_read_reason(source, read, index, body))
    row_updates = []
    for w in writes.values():
        if w.rows is not None:  # written only if the array has more dimensions: decided
            read = carried_read(body, {w.name}, index)  # at the first call, reads too
            reason = carried_read_reason(source, read, index, body) if read is not None else ""
            line = source.line_of(read) if read is not None else 0
            row_updates.append(RowUpdate(w.name, w.rows, source.line_of(w.node), reason, line))

    body_reads = names_loaded(body)
    epilogue_locals = set(names_stored(epilogue))
    carry = sorted((set(body_reads) | set(epilogue_reads)) & defined_before - set(accs))
    chunk_inputs = tuple(n for n in carry if n in body_reads)
    epilogue_inputs = tuple(n for n in carry if n in epilogue_reads)
    every = set(names_loaded(fn.body))
    globals_used = frozenset(
        every - defined_before - body_locals - epilogue_locals - stores_outside - {index}
    )
    refuse_reserved(source, fn)
    return ReductionLoop(
        source=source,
        name=fn.name,
        args=args,
        prologue=prologue,
        loop=loop,
        body=body,
        epilogue=epilogue,
        index=index,
        bounds=tuple(call.args),
        accumulators=tuple(sorted(accs.values(), key=lambda a: a.line)),
        carry=tuple(carry),
        chunk_inputs=chunk_inputs,
        epilogue_inputs=epilogue_inputs,
        globals_used=globals_used,
        row_updates=tuple(row_updates),
        maps=tuple(sorted(set(maps) - set(writes))),
        blocks=blocks,
    )
