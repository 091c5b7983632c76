"""Whether the steps of a sequential loop can be split over MPI ranks by rows, and the halo.

A step splits when each of its prange loops writes rows of the state at its own index only
(``v[i, j] = ...``): rank ``r`` then runs the iterations whose row lies in its block of
rows, and before the next step receives the rows near its block that its neighbours wrote
and it will read. The reads decide how many: ``u[i - 1, j]`` and ``u[i + 1, j]`` need one
row each side (the *halo*); a read whose row is not the index plus a constant cannot be
bounded, and then every rank receives every written row after each step. A prange loop
that reads, beyond its own row, an array an earlier prange loop of the same step wrote
receives those rows before it starts, in the middle of the step.

A prange reduction of the step (tiled by :mod:`blockloop.transform.instep`) runs on each
rank for the tiles whose first row lies in its block; the ranks then share their tiles'
partials, and each folds all of them as one process does, so every rank holds the same
bits. The ranks' blocks of rows are cut at tile boundaries for that.

Statements of the step outside its prange loops run on every rank alike (``u, v = v, u``,
``t += dt``, k-means moving its centres from the reduced sums); they must not touch an
array the prange loops write by rows, which each rank holds only in part. Which names hold
which arrays is known at run time, so the plan lists the names such statements use, and
the runtime refuses the split if one of them shares memory with such an array. Arrays the
prange loops only read, or reduce into, are the same on every rank.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

from .instep import Tiled, parsed_at, tiled_at
from .syntax import is_call_to, names_loaded, walk

__all__ = ["SplitPlan", "SplitReduction", "split_plan", "split_step"]


@dataclass(frozen=True)
class SplitReduction:
    """A prange reduction of the step, as the ranks share it.

    Attributes
    ----------
    loop : int
        The position of its loop over tiles among the step's statements.
    k : int
        Its number in the step (the suffix of its ``_bl_`` names).
    names : tuple of str
        The variables it reduces into.
    start, stop : str
        The bounds of the user's ``prange``, as source text.
    rows : bool
        Whether its iterations touch rows of the state (then its tiles must not straddle
        two ranks' blocks).
    line : int
        The line of the user's loop.
    """

    loop: int
    k: int
    names: tuple[str, ...]
    start: str
    stop: str
    rows: bool
    line: int


@dataclass(frozen=True)
class SplitPlan:
    """How a step splits over ranks (``refusal`` None), or why it does not.

    Attributes
    ----------
    written : tuple of str
        State names the prange loops write, at their own row.
    halo : int or None
        Rows each side a rank reads beyond its block (None: reads not bounded).
    outside : tuple of str
        State names statements outside the prange loops (and a ``while`` test) use; none
        may hold an array that the prange loops write by rows.
    loops : tuple of int
        The positions of the plain prange loops among the step's statements.
    reductions : tuple of SplitReduction
        The step's prange reductions.
    exchanges : tuple of (int, tuple of str)
        Before the statement at a position, the rows of these arrays (written earlier in
        the step) that the ranks must exchange.
    rows : tuple of str
        The names that may hold an array the prange loops write by rows: ``written`` and
        the names the step binds to them (``u, v = v, u``).
    refusal : str or None
        Why the step cannot be split, in the user's words.
    """

    written: tuple[str, ...] = ()
    halo: int | None = 0
    outside: tuple[str, ...] = ()
    loops: tuple[int, ...] = ()
    reductions: tuple[SplitReduction, ...] = ()
    exchanges: tuple[tuple[int, tuple[str, ...]], ...] = ()
    rows: tuple[str, ...] = ()
    refusal: str | None = None


def _offset(index: ast.expr, var: str) -> int | None:
    """``c`` for a row subscript ``var + c``, ``var - c`` or ``c + var``; None otherwise."""
    if isinstance(index, ast.Name) and index.id == var:
        return 0
    if isinstance(index, ast.BinOp) and isinstance(index.op, (ast.Add, ast.Sub)):
        left, right = index.left, index.right
        if isinstance(left, ast.Name) and left.id == var and isinstance(right, ast.Constant):
            if isinstance(right.value, int):
                return right.value if isinstance(index.op, ast.Add) else -right.value
        if isinstance(index.op, ast.Add) and isinstance(right, ast.Name) and right.id == var:
            if isinstance(left, ast.Constant) and isinstance(left.value, int):
                return left.value
    return None


def _row(node: ast.Subscript) -> ast.expr:
    index = node.slice
    return index.elts[0] if isinstance(index, ast.Tuple) and index.elts else index


def _prange_loop(stmt: ast.stmt, pranges: frozenset[str]) -> ast.For | None:
    if isinstance(stmt, ast.For) and is_call_to(stmt.iter, pranges):
        return stmt
    return None


def split_plan(
    step: list[ast.stmt],
    state: tuple[str, ...],
    condition: ast.expr | None,
    pranges: frozenset[str],
    first_line: int = 1,
) -> SplitPlan:
    """How ``step`` (the body as the generated steps run it) splits over ranks; the
    kernel's source begins at ``first_line`` of its file."""
    states = set(state)
    written: set[str] = set()  # by the prange loops so far
    offsets: dict[str, int | None] = {}  # the largest row offset read of each state name
    outside = set(names_loaded([condition])) & states if condition is not None else set()
    loops: list[int] = []
    reductions: list[SplitReduction] = []
    exchanges: list[tuple[int, tuple[str, ...]]] = []
    k = 0
    while k < len(step):
        stmt, at = step[k], k
        tiled = tiled_at(step, k)
        loop = _prange_loop(stmt, pranges)
        if tiled is not None:
            body, var, stride, k = tiled.body, tiled.index, ast.unparse(tiled.stride), tiled.end
        elif loop is not None:
            call = loop.iter
            assert isinstance(call, ast.Call)
            if not isinstance(loop.target, ast.Name) or call.keywords:
                return SplitPlan(refusal="a prange loop with keywords or a tuple target")
            body, var, k = loop.body, loop.target.id, k + 1
            stride = "1" if len(call.args) < 3 else ast.unparse(call.args[2])
        else:
            if any(is_call_to(n, pranges) for n in walk([stmt])):
                return SplitPlan(refusal="a prange loop inside another statement of the step")
            if any(_generated(n) for n in walk([stmt])):
                return SplitPlan(refusal="a prange reduction inside another statement of the step")
            outside |= _used_outside(stmt, states)
            k += 1
            continue
        if stride != "1":
            return SplitPlan(refusal="a prange loop with a step (`prange(a, b, s)`)")
        found = _rows(body, var, states)
        if isinstance(found, str):
            return SplitPlan(refusal=found)
        stores, reads = found
        stale = tuple(sorted(n for n, off in reads.items() if n in written and off != 0))
        if stale:  # rows an earlier loop of this step wrote, beyond this loop's own
            exchanges.append((at, stale))
        if tiled is not None:
            both = set(tiled.names) & (written | stores)
            if both:
                name = min(both)
                return SplitPlan(refusal=f"`{name}` is both written by rows and reduced into")
            reductions.append(_reduction(tiled, bool(reads), first_line))
        else:
            loops.append(at)
        written |= stores
        for name, off in reads.items():
            old = offsets.get(name, 0)
            offsets[name] = None if off is None or old is None else max(old, off)
    if not loops and not reductions:
        return SplitPlan(refusal="no prange loop in the step")
    # the rows ranks exchange: of the arrays the loops write, under every name they take
    # (`u, v = v, u`); the others are the same on every rank, since only reductions' folds
    # and statements outside the loops change them
    rows = _renamed(step, written)
    halos = [offsets[name] for name in rows if name in offsets]
    halo = None if None in halos else max([0, *(h for h in halos if h is not None)])
    return SplitPlan(
        tuple(sorted(written)),
        halo,
        tuple(sorted(outside)),
        tuple(loops),
        tuple(reductions),
        tuple(exchanges),
        tuple(sorted(rows)),
    )


def _renamed(step: list[ast.stmt], names: set[str]) -> set[str]:
    """``names`` and every name the step binds to one of them, or them to (``u, v = v, u``),
    as a closure."""
    pairs = []
    for stmt in step:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            targets, values = _elements(stmt.targets[0]), _elements(stmt.value)
            if len(targets) == len(values):
                pairs += [
                    (t.id, v.id)
                    for t, v in zip(targets, values, strict=True)
                    if isinstance(t, ast.Name) and isinstance(v, ast.Name)
                ]
    out = set(names)
    while True:
        more = {b for a, b in pairs if a in out} | {a for a, b in pairs if b in out}
        if more <= out:
            return out
        out |= more


def _reduction(tiled: Tiled, rows: bool, first_line: int) -> SplitReduction:
    start, stop, line = ast.unparse(tiled.start), ast.unparse(tiled.stop), tiled.line
    return SplitReduction(
        tiled.loop, tiled.k, tiled.names, start, stop, rows, line + first_line - 1
    )


def _rows(
    body: list[ast.stmt], var: str, states: set[str]
) -> tuple[set[str], dict[str, int | None]] | str:
    """The state names a prange loop over ``var`` writes (at its own row), and the largest
    row offset it reads of each (None: not bounded); or why it does not split."""
    stores: set[str] = set()
    reads: dict[str, int | None] = {}
    for node in walk(body):
        if isinstance(node, ast.Name) and node.id in states and not _indexed(node, body):
            return f"`{node.id}` is used whole inside the prange loop"
        if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)):
            continue
        name = node.value.id
        if name not in states:
            continue
        offset = _offset(_row(node), var)
        if isinstance(node.ctx, ast.Store) or _augmented(node, body):
            if offset != 0:
                return f"`{name}` is written at a row other than the loop's index"
            stores.add(name)
        old = reads.get(name, 0)
        reads[name] = None if offset is None or old is None else max(old, abs(offset))
    return stores, reads


def split_step(step: list[ast.stmt], split: SplitPlan) -> list[ast.stmt]:
    """``step`` as one rank runs it: each prange loop cut to the rows ``_bl_lo .. _bl_hi``
    of this rank (``prange(a, b)`` becomes ``prange(max(a, _bl_lo), min(b, _bl_hi))``),
    each reduction to the tiles that begin in them, its partials then shared with the
    other ranks (``_bl_share``), and the rows a loop reads that an earlier loop of the
    step wrote received before it (``_bl_halo``)."""
    exchanges = dict(split.exchanges)
    reductions = {r.loop: r for r in split.reductions}
    out: list[ast.stmt] = []
    for k, stmt in enumerate(step):
        if k in exchanges:
            out += _objmode([f"_bl_halo({name})" for name in exchanges[k]], stmt)
        stmt = copy.deepcopy(stmt)
        if k in split.loops:
            assert isinstance(stmt, ast.For) and isinstance(stmt.iter, ast.Call)
            call = stmt.iter
            start, stop = call.args if len(call.args) == 2 else (ast.Constant(0), call.args[0])
            lo = ast.Call(ast.Name("max", ast.Load()), [start, ast.Name("_bl_lo", ast.Load())], [])
            hi = ast.Call(ast.Name("min", ast.Load()), [stop, ast.Name("_bl_hi", ast.Load())], [])
            call.args = [lo, hi]
            ast.fix_missing_locations(stmt)
        elif k in reductions:
            assert isinstance(stmt, ast.For)
            r, n = reductions[k], reductions[k].k
            tiles = f"_bl_tlo{n}, _bl_thi{n}, _bl_ok{n}"
            out += parsed_at(
                f"{tiles} = _bl_rank_tiles(_bl_lo{n}, _bl_n{n}, _bl_t{n}, _bl_lo, _bl_hi, "
                f"_bl_rows, {r.rows})",
                stmt,
            )
            stmt.iter = parsed_at(f"_bl_prange(_bl_tlo{n}, _bl_thi{n})", stmt)[0].value  # type: ignore[attr-defined]
            out.append(stmt)
            shares = [f"_bl_share(_bl_p{n}_{a}, {tiles}, {r.line})" for a in r.names]
            out += _objmode(shares, stmt)
            continue
        out.append(stmt)
    return out


def _objmode(calls: list[str], where: ast.AST) -> list[ast.stmt]:
    """A ``with numba.objmode():`` block of ``calls`` (to the ranks' Python side)."""
    return parsed_at("with _bl_objmode():\n" + "".join(f"    {c}\n" for c in calls), where)


def _generated(node: ast.AST) -> bool:
    """A name of the tiled reduction blockloop wrote into the step (not the stop flag)."""
    return isinstance(node, ast.Name) and node.id.startswith("_bl_") and node.id != "_bl_stop"


def _augmented(node: ast.Subscript, body: list[ast.stmt]) -> bool:
    return any(isinstance(n, ast.AugAssign) and n.target is node for n in walk(body))


def _indexed(name: ast.Name, body: list[ast.stmt]) -> bool:
    """Whether ``name`` is the array of a subscript or of an attribute (``u.shape``)."""
    for n in walk(body):
        if isinstance(n, (ast.Subscript, ast.Attribute)) and n.value is name:
            return True
    return False


def _used_outside(stmt: ast.stmt, states: set[str]) -> set[str]:
    """State names ``stmt`` uses other than by rebinding names to names (``u, v = v, u``)."""
    if isinstance(stmt, ast.Assign) and all(
        isinstance(n, ast.Name) for t in [*stmt.targets, stmt.value] for n in _elements(t)
    ):
        return set()
    return {n.id for n in walk([stmt]) if isinstance(n, ast.Name) and n.id in states}


def _elements(node: ast.expr) -> list[ast.expr]:
    return list(node.elts) if isinstance(node, ast.Tuple) else [node]
