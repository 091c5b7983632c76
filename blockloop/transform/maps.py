"""Map writes: a prange loop writing an outer array at its own index.

``out[i] = v``, ``out[i, j] += v`` and ``out[i, :] = row`` write only what iteration
``i`` owns, so the rows of finished tiles are final and a checkpoint saves just the rows
finished since the last one. Any other write makes the array *blocks* state (saved whole,
by changed blocks). Either way an iteration must not read what another one writes.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from .owned import OwnedRows, is_element_key
from .syntax import (
    Parents,
    dotted,
    made_by_numpy,
    names_loaded,
    names_stored,
    subscript_parts,
    walk,
)
from .writes import READ_ONLY_METHODS

__all__ = [
    "METADATA",
    "VALUE_CALLS",
    "carried_read",
    "map_targets",
    "own_index",
    "owned_at",
    "shared_store",
]


def own_index(node: ast.Subscript, index: str) -> bool:
    """Whether the first subscript of ``node`` is exactly the loop variable ``index``."""
    first = subscript_parts(node)[0]
    return isinstance(first, ast.Name) and first.id == index


def owned_at(node: ast.Subscript, index: str) -> set[int]:
    """The positions of ``node``'s subscript that are exactly the loop variable: an
    element written through ``out[k, i]`` (``i`` the loop's) belongs to iteration ``i``."""
    parts = subscript_parts(node)
    return {k for k, p in enumerate(parts) if isinstance(p, ast.Name) and p.id == index}


VALUE_CALLS = ("np.", "numpy.", "math.", "cmath.")  # calls that compute a value from elements
_VALUE_BUILTINS = frozenset({"abs", "min", "max", "float", "int", "bool", "complex", "round"})


def _column_owner(body: list[ast.stmt], name: str, index: str) -> set[int]:
    """Positions at which every write of ``name`` in ``body`` is at the loop's own index.

    Only for an array used solely through subscripts (``out[k, i] = v``,
    ``out[k, i] += v``, ``np.isnan(out[k, i])``): any other use (bound to a name, passed to
    a helper, a method) may write elsewhere, and then no position is owned.
    """
    parent = {id(c): n for n in walk(body) for c in ast.iter_child_nodes(n)}
    owners: set[int] | None = None
    for node in walk(body):
        if not (isinstance(node, ast.Name) and node.id == name):
            continue
        sub = parent.get(id(node))
        if not (isinstance(sub, ast.Subscript) and sub.value is node):
            return set()
        up = parent.get(id(sub))
        if isinstance(sub.ctx, ast.Load) and isinstance(up, ast.Call):
            if not value_call(up):
                return set()
        elif isinstance(sub.ctx, ast.Load) and not isinstance(
            up, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.AugAssign, ast.IfExp)
        ):
            return set()  # bound to a name or handed on: it may be a view written elsewhere
        if isinstance(sub.ctx, (ast.Store, ast.Del)):
            at = owned_at(sub, index)
            owners = at if owners is None else owners & at
    return owners or set()


def map_targets(body: list[ast.stmt], outer: Iterable[str], index: str) -> dict[str, list[ast.AST]]:
    """The map writes of ``body``: each outer name's store targets ``name[index, ...]``
    that are a whole assignment target (``out[i] = v``, ``out[i, j] += v``); one inside a
    tuple target (``out[i], flag = v, 0``) is not."""
    names = set(outer)
    found: dict[str, list[ast.AST]] = {}
    for node in walk(body):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            if (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id in names
                and own_index(target, index)
            ):
                found.setdefault(target.value.id, []).append(target)
    return found


def _element_written_elsewhere(rows: OwnedRows, node: ast.Subscript, scattered: set[str]) -> bool:
    """Whether ``node`` reads the element of a flattened index (``x[i // m, i % m]``) of an
    array the body stores into nowhere directly: it is written through views or helpers,
    which :mod:`blockloop.view.reads` follows, and judges this read with them."""
    assert isinstance(node.value, ast.Name)
    if node.value.id in scattered or node.value.id in rows.arrays:
        return False
    return is_element_key(rows.key_of(subscript_parts(node)))


def carried_read(
    body: list[ast.stmt], written: Iterable[str], index: str, stop: ast.expr | None = None
) -> ast.Subscript | None:
    """The first read of a ``written`` array at an index other than the loop's own
    (``a[i - 1]``, ``a[:, j]``, ``a[k]``), or None. A read ``a[k, i]`` is the loop's own
    when every write of ``a`` in the body is a subscript store ``a[..., i, ...]`` with
    ``i`` at that same position: such a column belongs to its iteration. An array that
    the body also stores into at another index (``acc[down[i]] = ...``) has no element
    an iteration surely owns: any read of it counts, unless every store is at rows one
    iteration owns alike (``x[2 * i + 1]``; ``c[j]`` for ``j`` in ``range(b * m, (b + 1) *
    m)``, see :mod:`~blockloop.transform.owned`): a read of those rows is its own. A view
    handed to a helper (``f(d[:, j])``) or bound to a name (``col = d[:, j]``) is left
    to :mod:`blockloop.view.reads`, which reads what is done with it. ``stop`` is the
    prange's end, for a last block that ends elsewhere (see
    :func:`~blockloop.transform.owned.prange_stop`)."""
    names = set(written)
    columns = {n: _column_owner(body, n, index) for n in names}
    # ``pairs[r][0] = v`` reads no value of ``pairs[r]``: it only finds the row it stores to
    addresses = {
        id(node.value)
        for node in walk(body)
        if isinstance(node, (ast.Subscript, ast.Attribute)) and not isinstance(node.ctx, ast.Load)
    }
    rows = OwnedRows(body, index, stop)
    scattered = {
        node.value.id
        for node in walk(body)
        if isinstance(node, ast.Subscript)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and not owned_at(node, index)
        and node.value.id not in rows.arrays
    }
    # a view handed to a helper (``f(d[:, j])``): what the helper reads of it is decided
    # with the helper's source (blockloop.view.reads), here only the view's place
    handed = {
        id(arg)
        for node in walk(body)
        if isinstance(node, ast.Call) and not value_call(node)
        for arg in node.args
    }
    # likewise a view bound to a name (``sample = x[:, i, :]``): what is read through it
    handed |= {
        id(node.value)
        for node in walk(body)
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Subscript)
        and any(isinstance(p, ast.Slice) for p in subscript_parts(node.value))
    }
    for node in walk(body):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Name)
            and node.value.id in names
            and id(node) not in addresses
            and id(node) not in handed
            and (
                node.value.id in scattered
                or not (
                    # rows an iteration owns (``x[i + h]``): a read of any other row,
                    # ``x[i]`` too, is another iteration's
                    rows.key_of(subscript_parts(node)) == rows.arrays[node.value.id]
                    if node.value.id in rows.arrays
                    else own_index(node, index)
                    or owned_at(node, index) & columns[node.value.id]
                    or _element_written_elsewhere(rows, node, scattered)
                )
            )
            and not _kept_apart(node, body, index)  # last: it walks the body again
        ):
            return node
    return None


def _split(expr: ast.expr) -> tuple[str, int] | None:
    """``x + c`` or ``x - c`` (``c`` an int) as ``(x's text, ±c)``; any other index as
    ``(its text, 0)``; None for a slice."""
    if isinstance(expr, ast.Slice):
        return None
    if (
        isinstance(expr, ast.BinOp)
        and isinstance(expr.op, (ast.Add, ast.Sub))
        and isinstance(expr.right, ast.Constant)
        and type(expr.right.value) is int
    ):
        sign = 1 if isinstance(expr.op, ast.Add) else -1
        return ast.unparse(expr.left), sign * expr.right.value
    return ast.unparse(expr), 0


def _kept_apart(read: ast.Subscript, body: list[ast.stmt], index: str) -> bool:
    """Whether every store into ``read``'s array in ``body`` is at another element for
    certain: at some position the read has ``x + c`` and every store ``x + d``, ``c != d``,
    ``x`` the same for every iteration (``e[:, t - 1]`` read where ``e[f, t]`` is written,
    in a step ``t`` of a dynamic programme; ``x`` reads neither the loop's ``index`` nor
    anything the body binds)."""
    name = dotted(read.value)
    bound = {*names_stored(body), index}
    stores = [
        n
        for n in walk(body)
        if isinstance(n, ast.Subscript)
        and not isinstance(n.ctx, ast.Load)
        and dotted(n.value) == name
        and n is not read
    ]
    mine = list(subscript_parts(read))
    if (
        name is None
        or not stores
        or any(not isinstance(n.value, ast.Name) or n.value.id != name for n in stores)
    ):
        return False
    rank = {len(subscript_parts(s)) for s in stores}
    if len(rank) != 1 or not _used_in_place(name, body, rank.pop()):
        return False
    for position, part in enumerate(mine):
        here = _split(part)
        if here is None or set(names_loaded([part])) & bound:
            continue
        theirs = [
            _split(parts[position]) if position < len(parts) else None
            for parts in (list(subscript_parts(s)) for s in stores)
        ]
        if all(t is not None and t[0] == here[0] and t[1] != here[1] for t in theirs):
            return True
    return False


METADATA = frozenset({"shape", "size", "ndim", "dtype"})  # an array's, not its elements


def _used_in_place(name: str, body: list[ast.stmt], rank: int) -> bool:
    """Whether ``name`` is written in ``body`` only by its own stores: every other use
    reads its metadata, an element (``rank`` scalar indices, as many as the stores have)
    or a view that is only computed with (``np.sum(e[:, t])``, ``e[:, t] * 2``), never
    bound to a name, handed to a helper or changed by a method (``col = e[:, t - 1]``
    and then ``col[s] = v`` writes what the read takes to be kept apart)."""
    parents = Parents(body)
    for node in walk(body):
        if not (isinstance(node, ast.Name) and node.id == name):
            continue
        above = parents.of(node)
        if isinstance(above, ast.Attribute) and above.attr in METADATA:
            continue
        if not isinstance(above, ast.Subscript) or above.value is not node:
            return False
        parts = subscript_parts(above)
        if not isinstance(above.ctx, ast.Load) or (
            len(parts) == rank and not any(isinstance(p, ast.Slice) for p in parts)
        ):
            continue
        use = parents.of(above)
        if isinstance(use, (ast.BinOp, ast.UnaryOp, ast.Compare)) or (
            isinstance(use, ast.Call) and value_call(use) and above in use.args
        ):
            continue
        return False
    return True


def value_call(call: ast.Call) -> bool:
    """Whether ``call`` computes a value from the elements it is given (``np.sum(a[k])``)."""
    func = dotted(call.func) or ""
    return func.startswith(VALUE_CALLS) or func in _VALUE_BUILTINS


def shared_store(
    body: list[ast.stmt],
    outer: Iterable[str],
    index: str,
    skip: frozenset[int],
    numpy_names: frozenset[str] = frozenset(),
    instances: frozenset[str] = frozenset(),
    helpers: Callable[[ast.Call], set[str]] | None = None,
) -> tuple[str, ast.AST] | None:
    """The first store into an outer array at an index that is the same for every
    iteration: one that reads neither the loop variable nor anything computed from it
    (``tmp[k] = x[i, k]`` into a buffer made before the loop; an array the iteration
    makes and fills from the loop variable, ``idx[q] = q * step + i``, is computed from
    it), outside any ``if``, ``while`` or ``for`` whose header reads such a value, or a
    method that changes the whole array in place (``vals.fill(0.0)``). ``skip`` holds
    the ``id()`` of store targets accounted for elsewhere (reductions, maps); a method of
    one of the ``jitclass`` ``instances`` is a helper's call, judged by what it writes.
    A call given nothing computed from the loop variable, whose outer arrays ``helpers``
    says it writes (``put(vis, 0, v)``: every iteration writes what the others write),
    is such a store too. Returns the array's name and the store."""
    arrays = set(outer)
    local = made_by_numpy(body, numpy_names)
    derived = {index}
    changed = True
    while changed:  # names computed from the loop variable, at any distance
        changed = False
        for node in walk(body):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For)):
                value = node.iter if isinstance(node, ast.For) else node.value
                if value is None or not _reads(value, derived):
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    bound = set(names_stored([target]))
                    while isinstance(target, ast.Subscript):  # ``idx[q] = q * step + i``
                        target = target.value  # into an array of the iteration's own
                    if isinstance(target, ast.Name) and target.id in local:
                        bound.add(target.id)
                    if not bound <= derived:
                        derived |= bound
                        changed = True

    def visit(stmts: list[ast.stmt]) -> tuple[str, ast.AST] | None:
        for stmt in stmts:
            if isinstance(stmt, (ast.If, ast.While, ast.For)):
                header = stmt.iter if isinstance(stmt, ast.For) else stmt.test
                if _reads(header, derived):
                    continue  # iterations that differ in it do different things
                found = visit(stmt.body) or visit(stmt.orelse)
                if found is not None:
                    return found
                continue
            for node in walk([stmt]):
                if helpers is not None and isinstance(node, ast.Call) and not _reads(node, derived):
                    written = sorted(helpers(node) & arrays)
                    if written:
                        return written[0], node
            call = stmt.value if isinstance(stmt, ast.Expr) else None
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id in arrays
                and call.func.value.id not in instances
                and call.func.attr not in READ_ONLY_METHODS
            ):
                return call.func.value.id, call
            targets = stmt.targets if isinstance(stmt, ast.Assign) else []
            if isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
                targets = [stmt.target]
            for target in targets:
                for node in walk([target]):
                    if (
                        isinstance(node, ast.Subscript)
                        and isinstance(node.ctx, ast.Store)
                        and isinstance(node.value, ast.Name)
                        and node.value.id in arrays
                        and id(node) not in skip
                        and not _reads(node.slice, derived)
                    ):
                        return node.value.id, node
        return None

    return visit(body)


def _reads(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in walk([node]))
