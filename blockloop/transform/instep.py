"""Reductions inside a step: the same fixed tiles and pairwise fold as a top-level loop.

A ``prange`` loop inside a time step (or a ``while`` step) that reduces into outer
variables (``err = max(err, ...)``, ``rr += r[i] * r[i]``, ``counts[c] += 1``) would
follow numba's thread-dependent order, so a solver's residuals, and with them its
iteration count, would change with the thread count. :func:`exact_reductions` rewrites
each such loop into tiles whose count depends on the loop's length only; each tile folds
its iterations in order from the operator's identity, and the tiles are folded by a fixed
pairwise tree, then combined with the value the variable had before the loop. The bits
are then the same for any thread count.
"""

from __future__ import annotations

import ast
import copy
import itertools
from dataclasses import dataclass

from ..operators import HELPER_OPS as OPS
from ..operators import REDUCTIONS
from .normalise import normalise
from .source import Source
from .syntax import SCOPES, is_call_to, names_stored, walk
from .updates import Update, refuse_partial_reads, updates

__all__ = ["Tiled", "exact_reductions", "parsed_at", "tiled_at"]


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id in self.names:
            return ast.copy_location(ast.Name(self.names[node.id], node.ctx), node)
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, SCOPES):
            return node
        return super().generic_visit(node)


def parsed_at(text: str, where: ast.AST) -> list[ast.stmt]:
    """The statements of ``text``, every node at ``where``'s place in the user's source."""
    stmts = ast.parse(text).body
    for stmt in stmts:
        for node in ast.walk(stmt):
            ast.copy_location(node, where)
    return stmts


def exact_reductions(
    source: Source, body: list[ast.stmt], outer: set[str], prange_names: frozenset[str]
) -> list[ast.stmt]:
    """A copy of a step's ``body`` whose prange reductions are tiled and folded pairwise.

    Parameters
    ----------
    source : Source
        The kernel's source, for errors.
    body : list of ast.stmt
        The statements of one step.
    outer : set of str
        Names bound outside the step (arguments, the prologue): with names the step binds
        before a prange loop, the variables that loop may reduce into.
    prange_names : frozenset of str
        Names that mean ``numba.prange``.

    Raises
    ------
    BlockingError
        If a reduction variable is also read inside its loop, or updated with two
        operators.
    """
    counter = itertools.count(1)

    def rewrite(stmts: list[ast.stmt], bound: set[str]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in stmts:
            if isinstance(stmt, ast.For) and is_call_to(stmt.iter, prange_names):
                out += _tiled(source, stmt, bound | set(names_stored(out)), next(counter))
                continue
            stmt = copy.copy(stmt)
            for field in ("body", "orelse", "finalbody"):
                block = getattr(stmt, field, None)
                if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                    setattr(stmt, field, rewrite(block, bound | set(names_stored(out))))
            if isinstance(stmt, ast.Try):
                stmt.handlers = [copy.copy(h) for h in stmt.handlers]
                for h in stmt.handlers:
                    h.body = rewrite(h.body, bound | set(names_stored(out)))
            out.append(stmt)
        return out

    return rewrite([copy.deepcopy(s) for s in body], set(outer))


def _tiled(source: Source, loop: ast.For, bound: set[str], k: int) -> list[ast.stmt]:
    """``loop`` unchanged if it reduces nothing, else its tiled form (see the module)."""
    index = loop.target.id if isinstance(loop.target, ast.Name) else None
    if index is None or loop.orelse:
        return [loop]
    body = normalise(loop.body, bound)
    found = updates(body, bound, index)
    accs: dict[str, tuple[str, int]] = {}
    for update in found:
        name, op, node = update.name, update.op, update.node
        if not _only_updates(body, name, found):
            continue  # rebound inside the loop: a private temporary
        family = REDUCTIONS[op].family
        prev = accs.get(name)
        if prev is not None and REDUCTIONS[prev[0]].family != family:
            raise source.error(
                node,
                f"`{name}` is updated with {REDUCTIONS[prev[0]].spelling} (line {prev[1]}) "
                f"and {REDUCTIONS[op].spelling} here; a reduction needs one operator",
            )
        accs.setdefault(name, (op, source.line_of(node)))
    if not accs:
        return [loop]
    refuse_partial_reads(source, body, set(accs), found, "its prange loop")
    call = loop.iter
    assert isinstance(call, ast.Call)
    bounds = [ast.unparse(a) for a in call.args]
    a, b, c = {1: ["0", bounds[0], "1"], 2: [*bounds, "1"], 3: bounds}[len(bounds)]
    n, t, nt, j = f"_bl_n{k}", f"_bl_t{k}", f"_bl_nt{k}", f"_bl_j{k}"
    lo, step = f"_bl_lo{k}", f"_bl_c{k}"
    head = [
        f"{lo}, {step} = {a}, {c}",
        f"{n} = _bl_rlen({lo}, {b}, {step})",
        f"{t} = _bl_tile_for({n})",
        f"{nt} = ({n} + {t} - 1) // {t}",
    ]
    out = parsed_at("\n".join(head), loop)
    # a loop that never runs, so that numba types each variable as in the original loop
    probe = ast.For(
        target=ast.Name(index, ast.Store()),
        iter=ast.parse("range(0)", mode="eval").body,
        body=copy.deepcopy(loop.body),
        orelse=[],
    )
    out.append(ast.copy_location(probe, loop))
    lines = []
    for name, (op, _) in accs.items():
        lines.append(f"_bl_p{k}_{name} = _bl_parts({nt}, {name})")
        lines.append(f"_bl_i{k}_{name} = _bl_id_{OPS[op]}({name})")
    out += parsed_at("\n".join(lines), loop)
    renamed = _Rename({name: f"_bl_a{k}_{name}" for name in accs})
    tile_body = [renamed.visit(copy.deepcopy(s)) for s in body]
    opens = "\n".join(
        f"_bl_a{k}_{name} = _bl_open(_bl_p{k}_{name}, {j}, _bl_i{k}_{name}, {name})"
        for name in accs
    )
    closes = "\n".join(f"_bl_close(_bl_p{k}_{name}, {j}, _bl_a{k}_{name})" for name in accs)
    tile = parsed_at(
        f"for {j} in _bl_prange({nt}):\n"
        + "\n".join("    " + line for line in opens.splitlines())
        + f"\n    for {index} in range({lo} + {j} * {t} * {step}, "
        f"{lo} + min(({j} + 1) * {t}, {n}) * {step}, {step}):\n        pass\n"
        + "\n".join("    " + line for line in closes.splitlines()),
        loop,
    )[0]
    assert isinstance(tile, ast.For)
    inner = tile.body[len(accs)]
    assert isinstance(inner, ast.For)
    inner.body = tile_body
    out.append(tile)
    folds = [
        f"{name} = _bl_fold_{OPS[op]}({name}, _bl_p{k}_{name})" for name, (op, _) in accs.items()
    ]
    out += parsed_at("\n".join(folds), loop)
    return out


def _only_updates(body: list[ast.stmt], name: str, found: list[Update]) -> bool:
    """Whether every binding of ``name`` in ``body`` is one of its reduction updates."""
    updates_of = {id(u.target) for u in found if u.name == name}
    for node in walk(body):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            if id(node) not in updates_of:
                return False
    return True


@dataclass(frozen=True)
class Tiled:
    """A prange reduction as :func:`exact_reductions` rewrote it, among a step's statements.

    Attributes
    ----------
    first, loop, end : int
        The positions of its first statement, of its loop over tiles, and one past its
        last statement (the folds).
    k : int
        Its number in the step (the suffix of its ``_bl_`` names).
    index : str
        The user's loop variable.
    start, stop, stride : ast.expr
        The bounds of the user's ``prange``.
    names : tuple of str
        The variables it reduces into.
    body : list of ast.stmt
        The user's loop body, as each tile runs it.
    line : int
        The line of the user's loop in the kernel's source text.
    """

    first: int
    loop: int
    end: int
    k: int
    index: str
    start: ast.expr
    stop: ast.expr
    stride: ast.expr
    names: tuple[str, ...]
    body: list[ast.stmt]
    line: int


def tiled_at(step: list[ast.stmt], first: int) -> Tiled | None:
    """The reduction :func:`_tiled` wrote from ``step[first]`` on, or None if it begins no
    such reduction."""
    head = step[first]
    if not (isinstance(head, ast.Assign) and isinstance(head.targets[0], ast.Tuple)):
        return None
    targets = [e.id for e in head.targets[0].elts if isinstance(e, ast.Name)]
    k = targets[0][len("_bl_lo") :] if targets and targets[0].startswith("_bl_lo") else ""
    if not k.isdigit() or targets[1:] != [f"_bl_c{k}"] or not isinstance(head.value, ast.Tuple):
        return None
    length = step[first + 1]
    assert isinstance(length, ast.Assign) and isinstance(length.value, ast.Call)
    loop = next(
        j
        for j in range(first, len(step))
        if isinstance(step[j], ast.For) and ast.unparse(step[j].target) == f"_bl_j{k}"  # type: ignore[attr-defined]
    )
    tile = step[loop]
    assert isinstance(tile, ast.For)
    inner = next(s for s in tile.body if isinstance(s, ast.For))
    assert isinstance(inner.target, ast.Name)
    end, names = loop + 1, []
    while end < len(step) and _fold_of(step[end], k) is not None:
        names.append(_fold_of(step[end], k))
        end += 1
    start, stride = head.value.elts
    stop = length.value.args[1]
    found = tuple(n for n in names if n)
    return Tiled(
        first,
        loop,
        end,
        int(k),
        inner.target.id,
        start,
        stop,
        stride,
        found,
        inner.body,
        head.lineno,
    )


def _fold_of(stmt: ast.stmt, k: str) -> str | None:
    """The variable ``stmt`` folds reduction ``k``'s partials into, if it is such a fold."""
    if (
        isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Name)
        and stmt.value.func.id.startswith("_bl_fold_")
        and ast.unparse(stmt.value.args[1]).startswith(f"_bl_p{k}_")
        and isinstance(stmt.targets[0], ast.Name)
    ):
        return stmt.targets[0].id
    return None
