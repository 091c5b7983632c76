"""Reads of an array a prange loop writes that no subscript in the loop spells out.

The loop analysis refuses ``a[i - 1]`` in a loop that writes ``a[i]``: an iteration may
read what another writes. The same read hides in a use of the whole array (``a.sum()``,
``np.max(a)``, ``for v in a``) and in an ``@njit`` helper the array is handed to
(``prev(a, i)`` reading ``a[i - 1]``; a union-find ``find(parent, x)`` that follows and
shortens ``parent``). This module finds them, through helpers at any depth.

An access is the iteration's own when its subscript holds the loop's index at a position
where every write of the array in the loop holds it too (``a[i, k]``; ``a[0][i, k]`` for a
tuple of arrays; ``row[k]`` after ``row = a[i]``). A helper given the loop's index
(``push(heap, i, v)`` touching only ``heap[i, ...]``) reads nothing another iteration
writes; a helper that cannot be read counts as reading and writing all it is given.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import FunctionType
from typing import cast

from .._errors import BlockingError
from ..storage.fingerprint import is_dispatcher
from ..transform.aliases import (
    NUMPY_WRITERS,
    READ_ONLY_ATTRS,
    READ_ONLY_METHODS,
    CallWrites,
    call_arguments,
)
from ..transform.maps import VALUE_CALLS
from ..transform.owned import OwnedRows, is_element_key, prange_stop
from ..transform.source import Source, read_source
from ..transform.syntax import (
    Parents,
    dotted,
    is_call_to,
    names_stored,
    parameters,
    subscript_parts,
    walk,
)
from ..transform.types import UNKNOWN, NameTypes
from ..transform.writes import outer_writes
from .helpers import helper_types, resolve, scope_of, ufunc_outputs
from .positions import after_subscript, helper_ranges, view_position

__all__ = ["refuse_hidden_reads"]

# calls that look at an array's shape, never at its elements
_SHAPE_ONLY = frozenset(
    {"len", "shape", "ndim", "size", "empty_like", "zeros_like", "ones_like", "full_like"}
)
_NUMPY = ("np.", "numpy.")
# attributes that are views of the array's elements (``T``: with their positions moved)
_VIEWS = frozenset({"flat", "T", "real", "imag"})
_READING_BUILTINS = frozenset(
    {"min", "max", "sum", "abs", "float", "int", "round", "complex", "set", "frozenset",
     "sorted", "list", "tuple", "any", "all", "len"}
)  # fmt: skip


@dataclass(frozen=True)
class Access:
    """One read or write of elements of an array.

    Attributes
    ----------
    write : bool
        A write (an update ``a[k] += v`` is a read and a write).
    own : frozenset of (int, str)
        The positions of the (flattened) subscript that hold a fixed name (the loop's
        index; a helper's parameter it never rebinds), with that name.
    node : ast.AST
        Where it happens in the code being looked at (a helper's access is its call).
    direct : bool
        A subscript read in that code itself (not through a call or the whole array).
    detail : str
        For an access inside a helper: which helper, and where.
    rows : int or None
        For an update through a name bound to ``x[k]`` (``rows`` indices): a write only
        if the array has more dimensions.
    """

    write: bool
    own: frozenset[tuple[int, str]]
    node: ast.AST
    direct: bool = False
    detail: str = ""
    rows: int | None = None


def _counts(write: Access, ndim: int | None, typed: bool) -> bool:
    """Whether a write counts: ``t = x[k]; t += 1.0`` (``rows`` indices in) writes ``x``
    only if it has more dimensions than that, which only numba's types tell."""
    return write.rows is None or (typed and (ndim is None or ndim > write.rows))


class _Helpers:
    """Each helper's accesses to its parameters (memoised; None where unreadable)."""

    def __init__(self) -> None:
        self.memo: dict[int, tuple[dict[str, list[Access]], tuple[str, ...]] | None] = {}

    def of(self, value: object) -> tuple[dict[str, list[Access]], tuple[str, ...]] | None:
        func = getattr(value, "py_func", None) if is_dispatcher(value) else value
        if not isinstance(func, FunctionType):
            return None
        key = id(func)
        if key not in self.memo:
            self.memo[key] = None  # unknown while being looked at (recursion) or unreadable
            self.memo[key] = self._read(func)
        return self.memo[key]

    def _read(self, func: FunctionType) -> tuple[dict[str, list[Access]], tuple[str, ...]] | None:
        try:
            source = read_source(func)
            fn = ast.parse(source.text).body[0]
        except (BlockingError, SyntaxError, IndexError):
            return None
        if not isinstance(fn, ast.FunctionDef):
            return None
        params = parameters(fn)
        rebound = set(names_stored(fn.body))
        fixed = frozenset(params) - rebound
        scope = scope_of(func)
        ranges = helper_ranges(fn, fixed)
        uses = _Uses(source, fn.body, fixed, scope, self, helper_types(scope), ranges=ranges)
        found: dict[str, list[Access]] = {}
        for p in params:
            if p in rebound:  # ``x = x[1:]``: its subscripts no longer line up
                anywhere: frozenset[tuple[int, str]] = frozenset()
                found[p] = [Access(False, anywhere, fn), Access(True, anywhere, fn)]
            else:
                found[p] = [a if a.detail else _described(a, fn.name, source) for a in uses.of(p)]
        return found, params


class _Uses:
    """The accesses, in ``body``, to elements of one name and of the views bound to it."""

    def __init__(
        self,
        source: Source,
        body: list[ast.stmt],
        fixed: frozenset[str],
        scope: Mapping[str, object],
        helpers: _Helpers,
        types: NameTypes = UNKNOWN,
        ranges: Mapping[str, str] | None = None,
        rows: OwnedRows | None = None,
    ) -> None:
        self.source, self.body, self.fixed = source, body, fixed
        self.scope, self.helpers, self.types = scope, helpers, types
        self.parents = Parents(body)
        # a helper's loop variable walking ``range(lo, hi)`` of two fixed parameters, and
        # in the prange loop itself, the block of rows an iteration owns (OwnedRows)
        self.ranges = dict(ranges or {})
        self.rows = rows

    def of(self, name: str, prefix: tuple = (), depth: int = 0) -> list[Access]:
        """Every access to ``name`` (``prefix``: the subscripts of the array it views)."""
        found: list[Access] = []
        for node in walk(self.body):
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
                found += self._use(node, prefix, depth)
            elif isinstance(node, ast.AugAssign) and dotted(node.target) == name:
                own = self._own(list(prefix))  # ``x *= 2`` of an array: all of it in place
                rows = len(prefix) if prefix else None
                found += [Access(False, own, node), Access(True, own, node, rows=rows)]
        return found

    def _own(self, parts: list) -> frozenset[tuple[int, str]]:
        found = set()
        for k, p in enumerate(parts):
            if isinstance(p, ast.Name) and p.id in self.fixed:
                found.add((k, p.id))
            elif isinstance(p, ast.Name) and p.id in self.ranges:
                found.add((k, self.ranges[p.id]))
            elif self.rows is not None and isinstance(p, (ast.expr, ast.Slice)):
                # a row or block of rows the iteration owns, or its element of a flattened
                # index in the first two positions (``x[i // m, i % m]``)
                key = self.rows.key_of(parts) if k == 0 else self.rows.key(p)
                if key is not None:
                    found.add((k, f"rows{key!r}"))
        return frozenset(found)

    def _mapped(self, token: str, call: ast.Call, given: Mapping[str, ast.expr]) -> str | None:
        """A helper's fixed name or ``range(lo,hi)`` of fixed parameters, as the caller
        gives it at ``call``: one of its own fixed names or ranges, or the block of rows
        the range walks in the prange loop; None if it is none of those."""
        if not token.startswith("range("):
            arg = given.get(token)
            return arg.id if isinstance(arg, ast.Name) and arg.id in self.fixed else None
        lo, hi = (given.get(p) for p in token[6:-1].split(","))
        if lo is None or hi is None:
            return None
        if all(isinstance(a, ast.Name) and a.id in self.fixed for a in (lo, hi)):
            return f"range({ast.unparse(lo)},{ast.unparse(hi)})"
        key = None if self.rows is None else self.rows.block_key(lo, hi, call)
        return None if key is None else f"rows{key!r}"

    def _use(self, node: ast.Name, prefix: tuple, depth: int) -> list[Access]:
        parts, top = list(prefix), cast(ast.AST, node)
        parent = self.parents.of(top)
        while (
            isinstance(parent, (ast.Subscript, ast.Attribute))
            and parent.value is top
            and (isinstance(parent, ast.Subscript) or parent.attr in _VIEWS)
        ):
            if isinstance(parent, ast.Attribute):  # ``a.flat[k]``: a position of its own
                parts.append("flat" if parent.attr == "flat" else None)
                top, parent = parent, self.parents.of(parent)
                continue
            parts = after_subscript(parts, subscript_parts(parent))
            top, parent = parent, self.parents.of(parent)
        own = self._own(parts)
        subscripted = top is not node
        # a subscript of the array itself is the loop analysis's to judge (carried_read),
        # but for the element of a flattened index (``x[i // m, i % m]``), which it leaves
        # here; one through a name bound to a view of it is judged here
        element = (
            self.rows is not None
            and bool(parts)
            and isinstance(parts[0], ast.expr)
            and is_element_key(self.rows.key_of(parts))
        )
        direct = subscripted and depth == 0 and not element
        if isinstance(parent, ast.Attribute) and parent.attr in READ_ONLY_ATTRS:
            return []
        if subscripted and isinstance(top, ast.Subscript) and not isinstance(top.ctx, ast.Load):
            update = isinstance(parent, ast.AugAssign) and parent.target is top
            written = [Access(True, own, top)]
            return [Access(False, own, top, direct=direct), *written] if update else written
        if isinstance(parent, ast.Assign) and parent.value is top and depth < 4:
            aliases = [t.id for t in parent.targets if isinstance(t, ast.Name)]
            if subscripted and all(self.types.plain(a) for a in aliases):
                return [Access(False, own, top, direct=direct)]  # a number: no view
            here = [Access(False, own, top, direct=direct)] if subscripted else []
            for alias in aliases if len(aliases) == len(parent.targets) else ():
                here += self.of(alias, tuple(parts), depth + 1)
            return here if aliases else [Access(False, own, top, direct=direct)]
        if isinstance(parent, ast.keyword):  # ``row(x, vis=vis, r=i)``: handed by name
            parent = self.parents.of(parent)  # the call
        if isinstance(parent, ast.Call) and top is not parent.func:
            return self._handed(parent, top, own, parts)
        method = self.parents.of(parent) if parent is not None else None
        if (
            isinstance(parent, ast.Attribute)
            and isinstance(method, ast.Call)
            and is_call_to(method, frozenset({parent.attr}))
        ):
            changes = parent.attr not in READ_ONLY_METHODS
            return [Access(False, own, method), *([Access(True, own, method)] if changes else [])]
        return [Access(False, own, top, direct=direct)]

    def _handed(self, call: ast.Call, arg: ast.AST, own: frozenset, parts: list) -> list[Access]:
        """The accesses of a call given ``arg`` (an array, or a view: ``parts`` are the
        subscripts that made it, see :func:`~blockloop.view.positions.after_subscript`)."""
        depth = len(parts)
        name = dotted(call.func) or ""
        short = name.rpartition(".")[2]
        if short in _SHAPE_ONLY and (name == short or name.startswith(_NUMPY)):
            return []
        arguments = call_arguments(call, self.types)
        key = next((k for k, a in arguments if a is arg), None)
        value = resolve(self.scope, name) if name else None
        outputs = ufunc_outputs(value)
        if name.startswith(VALUE_CALLS) or name in _READING_BUILTINS or outputs is not None:
            writes = short in NUMPY_WRITERS or any(k.arg == "out" for k in call.keywords)
            writes = writes or (outputs is not None and key in outputs)
            return [Access(False, own, call), *([Access(True, own, call)] if writes else [])]
        seen = self.helpers.of(value)
        if seen is None and self.types.unseen_function(name):
            return []  # before the first call: the function handed in decides then
        if seen is None or key is None:
            unseen = f"`{name}` may read any of it (blockloop cannot read its source)"
            return [Access(False, own, call, detail=unseen), Access(True, own, call)]
        found, params = seen
        param = params[key] if isinstance(key, int) and key < len(params) else key
        given = {  # what each parameter is given
            params[k] if isinstance(k, int) else k: a
            for k, a in arguments
            if k is not None and (not isinstance(k, int) or k < len(params))
        }
        out = []
        for inner in found.get(str(param), []):
            mapped = set()
            for k, q in inner.own:
                token = self._mapped(q, call, given)
                at = view_position(parts, k)
                if token is not None and at is not None:
                    mapped.add((at, token))
            rows = None if inner.rows is None else inner.rows + depth
            out.append(Access(inner.write, own | mapped, call, detail=inner.detail, rows=rows))
        return out


def _described(access: Access, helper: str, source: Source) -> Access:
    """``access`` (in ``helper``, from ``source``, one with no detail yet) saying where it
    is, for messages."""
    node, what = access.node, "writes" if access.write else "reads"
    at = f"`{source.snippet(node)}` ({source.filename}, line {source.line_of(node)})"
    return dataclasses.replace(access, detail=f"`{helper}` {what} it at {at}")


def refuse_hidden_reads(
    source: Source,
    fn: ast.FunctionDef,
    scope: Mapping[str, object],
    prange: frozenset[str],
    writers: CallWrites,
    types: NameTypes,
    inspected: Mapping[int, frozenset[str]] | None = None,
) -> None:
    """Refuse a read, in a prange loop, of an array the loop writes, made through the
    whole array or a helper at other than the iteration's own elements; not of an array
    the loop on line ``L`` inspects at each call (``inspected[L]``): that pass follows it.
    ``fn`` is the kernel's definition parsed from ``source``, ``writers`` the helpers'
    written parameters (:func:`~blockloop.view.helpers.call_writes` of ``scope``).

    Raises
    ------
    BlockingError
        At the user's line of the read, naming the helper's read and the loop's write.
    """
    helpers, everything = _Helpers(), set(parameters(fn)) | set(names_stored(fn.body))
    for loop in _outermost_pranges(fn.body, prange):
        assert isinstance(loop.target, ast.Name)
        index = loop.target.id
        outer = everything - set(names_stored(loop.body)) - {index}
        written = outer_writes(loop.body, outer, call_writes=writers, types=types)
        rows = OwnedRows(loop.body, index, prange_stop(loop.iter))
        uses = _Uses(source, loop.body, frozenset({index}), scope, helpers, types, rows=rows)
        for name in sorted(set(written) - (inspected or {}).get(loop.lineno, frozenset())):
            found = uses.of(name)
            seen = [a for a in found if a.write]
            writes = [w for w in seen if _counts(w, types.ndim.get(name), types.typed)]
            if seen and not writes:
                continue  # updates of elements, not of rows
            # a write seen only by the loop analysis (through a view a helper returns) is,
            # as there, taken to be the iteration's own wherever its reads are
            common = frozenset.intersection(*(w.own for w in writes)) if writes else None
            for read in found:
                if read.write or read.direct or read.own & (read.own if common is None else common):
                    continue
                write = writes[0] if writes else Access(True, frozenset(), written[name].node)
                raise source.error(read.node, _reason(source, name, index, read, write))


def _reason(source: Source, name: str, index: str, read: Access, write: Access) -> str:
    field = next(
        (
            n.attr
            for n in walk([write.node])
            if isinstance(n, ast.Attribute) and n.value is read.node
        ),
        None,
    )
    if field is not None:  # ``p.values[i] = v``: the read is on the way to the store
        return (
            f"`{source.snippet(write.node)}` writes into `{name}` through its field "
            f"`{field}`: blockloop follows arrays, not the fields of a namedtuple or jitclass "
            f"instance, so it cannot tell which elements each iteration owns (or save them). "
            f"Pass `{name}.{field}` to the kernel as an argument of its own"
        )
    what = f"hands `{name}` on, and {read.detail}" if read.detail else f"reads all of `{name}`"
    writer = (
        "the same call writes it"
        if write.node is read.node
        else f"`{source.snippet(write.node)}` (line {source.line_of(write.node)}) writes it"
    )
    row = f", hand the helper only the iteration's own row (`{name}[{index}]`)"
    return (
        f"`{source.snippet(read.node)}` {what}, and {writer}: an iteration may read what "
        f"another writes (only `{name}[{index}, ...]` is the iteration's own), so its value "
        "would depend on whether that other iteration ran first, even in plain numba. Read a "
        f"copy made before the loop{row if read.detail else ''}, or make the loop sequential"
    )


def _outermost_pranges(body: list[ast.stmt], prange: frozenset[str]) -> list[ast.For]:
    found: list[ast.For] = []

    def visit(nodes: list[ast.AST]) -> None:
        for node in nodes:
            if (
                isinstance(node, ast.For)
                and is_call_to(node.iter, prange)
                and isinstance(node.target, ast.Name)
            ):
                found.append(node)
                continue  # a prange inside runs as a range, within the iteration
            visit(list(ast.iter_child_nodes(node)))

    visit(list(body))
    return found
