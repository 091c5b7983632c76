"""Analysis of reduction loops: ``prologue; for i in prange(...): body; epilogue``.

Finds the accumulators (each with one operator), what the prologue hands to the loop and
the epilogue, and refuses everything a tiled, pairwise-folded loop cannot reproduce.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass

from ..operators import REDUCTIONS
from .checks import RESERVED, loop_header, refuse_reserved
from .inspection import Inspection, inspect_reads
from .maps import carried_read, map_targets, shared_store
from .normalise import normalise
from .owned import OwnedRows, prange_stop
from .plans import Accumulator, ReductionLoop, RowUpdate
from .source import Source
from .syntax import (
    Parents,
    dotted,
    is_call_to,
    names_loaded,
    names_stored,
    reads_before_binding,
    walk,
)
from .types import UNKNOWN, NameTypes
from .updates import Update, refuse_partial_reads, updates
from .writes import CallWrites, no_helpers, outer_writes

__all__ = ["SUPPORTED", "reduction", "refuse_inner_carried_reads"]

SUPPORTED = (
    "supported updates are s += e, s -= e, s *= e, s |= e, s &= e, s ^= e, "
    "s = min(s, e), s = max(s, e), whole arrays a += e and indexed updates h[k] += e"
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
    types: NameTypes = UNKNOWN,
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
        refuse_shared_stores(source, loop.body, outer, index, mapped, types, call_writes)
        writes = outer_writes(loop.body, outer, skip=mapped, call_writes=call_writes, types=types)
        certain = {n for n, w in writes.items() if w.rows is None}
        read = carried_read(loop.body, {*maps, *certain}, index, prange_stop(loop.iter))
        if read is not None:
            raise source.error(read, carried_read_reason(source, read, index, loop.body))


def refuse_shared_stores(
    source: Source,
    body: list[ast.stmt],
    outer: set[str],
    index: str,
    skip: frozenset[int],
    types: NameTypes = UNKNOWN,
    call_writes: CallWrites = no_helpers,
) -> None:
    """Refuse a store that every iteration makes at the same index of an outer array."""
    arrays = outer - {n for n in outer if types.plain(n)}

    def helpers(call: ast.Call) -> set[str]:  # the outer arrays a call writes
        return set(outer_writes([ast.Expr(call)], arrays, call_writes=call_writes, types=types))

    found = shared_store(body, arrays, index, skip, types.numpy_names, types.instances, helpers)
    if found is not None:
        name, store = found
        what = f"writes `{name}` at an index that does not depend on `{index}`"
        if isinstance(store, ast.Call):
            func = store.func
            what = (
                f"changes all of `{name}` in place"
                if isinstance(func, ast.Attribute) and dotted(func.value) == name
                else f"hands `{name}` to `{dotted(func)}`, which writes it, and nothing it is "
                f"given depends on `{index}`"
            )
        raise source.error(
            store,
            f"`{source.snippet(store)}` {what}: every iteration writes the same elements at "
            "once, so they overwrite "
            f"each other (a race, in plain numba too). Make `{name}` the iteration's own "
            f"(allocate it inside the loop), or index it by `{index}`",
        )


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
    types: NameTypes = UNKNOWN,
) -> ReductionLoop:
    """The plan of ``prologue; for i in prange(...): body; epilogue``, or a refusal.

    The steps: find the updates; refuse names the loop carries otherwise; find each
    accumulator's one operator; refuse partial reads and names leaked past the loop; sort
    the outer arrays the body writes into maps, blocks and row updates; then what each
    function of the generated module takes.
    """
    index, call = loop_header(source, loop, prologue, epilogue, "prange", "prange loop")
    defined_before = set(args) | set(names_stored(prologue))
    body = normalise([ast.fix_missing_locations(s) for s in loop.body], defined_before)
    defined_before -= iteration_private(body, epilogue, defined_before)
    owned = OwnedRows(body, index, prange_stop(call)).arrays
    found = updates(body, defined_before, index, owned)
    rebound = _rebound(body, found)
    accs = _accumulators(source, loop, found, rebound, _index_values([*prologue, *body]))
    _refuse_rebound(source, body, rebound, set(accs), defined_before, index)
    refuse_partial_reads(source, body, set(accs), found, "the loop")
    body_locals = set(names_stored(body)) - set(accs)
    _refuse_leaks(source, epilogue, (body_locals | {index}) - defined_before)
    arrays = _outer_arrays(
        source, body, defined_before, accs, found, index, call_writes, types, prange_stop(call)
    )

    body_reads = names_loaded(body)
    epilogue_reads = names_loaded(epilogue)
    carry = sorted((set(body_reads) | set(epilogue_reads)) & defined_before - set(accs))
    bound = defined_before | body_locals | set(names_stored(epilogue)) | set(names_stored(prologue))
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
        chunk_inputs=tuple(n for n in carry if n in body_reads),
        epilogue_inputs=tuple(n for n in carry if n in epilogue_reads),
        globals_used=frozenset(set(names_loaded(fn.body)) - bound - {index}),
        row_updates=arrays.row_updates,
        maps=arrays.maps,
        blocks=arrays.blocks,
        inspected=arrays.inspected,
    )


def _rebound(body: list[ast.stmt], found: list[Update]) -> dict[str, ast.AST]:
    """Each name the body binds other than by a reduction update: its first such binding."""
    targets = {id(u.target) for u in found}
    rebound: dict[str, ast.AST] = {}
    for node in walk(body):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, (ast.Store, ast.Del))
            and id(node) not in targets
        ):
            rebound.setdefault(node.id, node)
    return rebound


def _index_values(stmts: list[ast.stmt]) -> set[str]:
    """Names bound to numba's ``IndexValue`` pairs (``iv = IndexValue(i, x[i])``)."""
    return {
        target.id
        for stmt in walk(stmts)
        if isinstance(stmt, ast.Assign) and is_call_to(stmt.value, frozenset({"IndexValue"}))
        for target in stmt.targets
        if isinstance(target, ast.Name)
    }


def _accumulators(
    source: Source,
    loop: ast.For,
    found: list[Update],
    rebound: dict[str, ast.AST],
    index_values: set[str],
) -> dict[str, Accumulator]:
    """One accumulator per name updated and not otherwise rebound, with its one operator.

    Refused: two operator families on one name; folding ``IndexValue`` pairs (numba's
    argmin idiom); a name blockloop reserves.
    """
    accs: dict[str, Accumulator] = {}
    for update in found:
        name, op, node = update.name, update.op, update.node
        if name in rebound:
            continue  # refused by _refuse_rebound as a carried variable
        prev = accs.get(name)
        if prev is not None:
            if update.indexed and not prev.indexed:  # ``h += row`` and ``h[0] += e``: one
                accs[name] = dataclasses.replace(prev, indexed=True)  # array accumulator
            if REDUCTIONS[prev.op].family != REDUCTIONS[op].family:
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
        if name.startswith(RESERVED):
            raise source.error(loop, f"names starting with {RESERVED} are reserved for blockloop")
        accs[name] = Accumulator(name, op, update.indexed, source.line_of(node))
    return accs


def _refuse_rebound(
    source: Source,
    body: list[ast.stmt],
    rebound: dict[str, ast.AST],
    accs: set[str],
    defined_before: set[str],
    index: str,
) -> None:
    """Refuse rebinding the loop variable, and a name from before the loop that the body
    rebinds other than by a reduction update (carried between iterations, or last-wins)."""
    if index in rebound or index in accs:
        raise source.error(rebound.get(index), f"the loop variable `{index}` is rebound")
    parents = Parents(body)
    for name, node in rebound.items():
        if name not in defined_before:
            continue
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


def _refuse_leaks(source: Source, epilogue: list[ast.stmt], loop_locals: set[str]) -> None:
    """Refuse a name bound inside the loop (not an accumulator) and read after it."""
    leaked = reads_before_binding(epilogue, loop_locals)
    if leaked:
        name = sorted(leaked)[0]
        raise source.error(
            leaked[name],
            f"`{name}` is bound inside the prange loop and read after it; its value would "
            "depend on which iteration ran last. Make it a reduction (e.g. max) instead",
        )


@dataclass(frozen=True)
class OuterArrays:
    """How the loop writes the arrays bound before it (see :class:`ReductionLoop`)."""

    maps: tuple[str, ...]
    blocks: tuple[str, ...]
    row_updates: tuple[RowUpdate, ...]
    inspected: Inspection | None = None


def _outer_arrays(
    source: Source,
    body: list[ast.stmt],
    defined_before: set[str],
    accs: dict[str, Accumulator],
    found: list[Update],
    index: str,
    call_writes: CallWrites,
    types: NameTypes,
    stop: ast.expr | None,
) -> OuterArrays:
    """Sort the arrays the body writes; refuse a read of one another iteration writes."""
    indexed_targets = frozenset(
        id(u.target)
        for u in found
        if u.indexed and u.name in accs and isinstance(u.node, ast.AugAssign)
    )
    maps = map_targets(body, defined_before - set(accs), index)
    mapped = frozenset(id(t) for targets in maps.values() for t in targets)
    shared = defined_before - set(accs) - set(names_stored(body))
    refuse_shared_stores(source, body, shared, index, indexed_targets | mapped, types, call_writes)
    writes = outer_writes(
        body,
        defined_before,
        skip=indexed_targets | mapped,
        call_writes=call_writes,
        types=types,
    )
    blocks = tuple(sorted(n for n, w in writes.items() if w.rows is None))
    only_mapped = set(maps) - set(writes)  # an array also written otherwise is a block
    read, inspected = inspect_reads(body, only_mapped, blocks, writes, accs, index, stop, types)
    if read is not None:
        raise source.error(read, carried_read_reason(source, read, index, body))
    row_updates = []
    for w in writes.values():
        if w.rows is not None:  # written only if the array has more dimensions: decided
            read = carried_read(body, {w.name}, index, stop)  # at the first call, reads too
            reason = carried_read_reason(source, read, index, body) if read is not None else ""
            line = source.line_of(read) if read is not None else 0
            row_updates.append(RowUpdate(w.name, w.rows, source.line_of(w.node), reason, line))
    return OuterArrays(
        tuple(sorted(set(maps) - set(writes))), blocks, tuple(row_updates), inspected
    )
