"""Analysis of sequential loops: ``prologue; for t in range(...): step; epilogue``.

A sequential loop steps a state forward; blockloop checkpoints between steps. The state
is found here from the source alone (what the body rebinds, and what it may write into);
which of those names hold arrays is only known at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

from .analyse import (
    RESERVED,
    LoopPlan,
    _is_call_to,
    _walk,
    loop_header,
    names_loaded,
    names_stored,
    refuse_reserved,
)
from .source import Source

__all__ = ["SequentialLoop", "possibly_mutated", "sequential"]

# calls that never write into an array passed to them
_READ_ONLY_CALLS = frozenset(
    {"len", "min", "max", "abs", "range", "prange", "float", "int", "bool", "complex", "print"}
)
# numpy functions that write into an argument (besides any call with ``out=``)
_NUMPY_WRITERS = frozenset({"copyto", "put", "place", "putmask", "fill_diagonal", "shuffle"})
_NUMPY_MODULES = frozenset({"np", "numpy"})
_READ_ONLY_ATTRS = frozenset({"shape", "size", "ndim", "dtype", "itemsize", "nbytes"})
_READ_ONLY_METHODS = frozenset(
    {"sum", "mean", "min", "max", "prod", "std", "var", "any", "all", "argmin", "argmax", "copy"}
)


@dataclass
class SequentialLoop(LoopPlan):
    """A function whose body is ``prologue; for t in range(...): body; epilogue``.

    Attributes
    ----------
    state : tuple of str
        Names defined before the loop that the body rebinds (``a, b = b, a + b``) or may
        write into (``u[i] = ...``, passing ``u`` to a helper): saved at each checkpoint.
    invariants : tuple of str
        Names defined before the loop that the body only reads.
    carry : tuple of str
        What the prologue hands on: the invariants and what only the epilogue reads.
    epilogue_inputs : tuple of str
        Names the statements after the loop read.
    """

    state: tuple[str, ...] = ()
    invariants: tuple[str, ...] = ()
    parallel: bool = False
    bindings: dict[str, int] = field(default_factory=dict)

    kind = "sequential"


def possibly_mutated(body: list[ast.stmt], names: Iterable[str]) -> set[str]:
    """Names among ``names`` whose values ``body`` may write into (conservative).

    A name is read-only when every use is an element read (``u[i]`` in an expression), a
    metadata attribute (``u.shape``), a read-only method (``u.sum()``) or an argument of a
    builtin that does not write (``len(u)``). Anything else (a subscript store, a view bound
    to another name, an argument of a helper function) counts as a possible write.
    """
    wanted = set(names)
    parents: dict[int, ast.AST] = {}
    for node in _walk(body):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    out: set[str] = set()
    for node in _walk(body):
        if not (isinstance(node, ast.Name) and node.id in wanted and node.id not in out):
            continue
        if isinstance(node.ctx, ast.Store):
            continue  # a rebinding, not a write into the old value
        if not _read_only_use(node, parents):
            out.add(node.id)
    return out


def _read_only_use(node: ast.Name, parents: dict[int, ast.AST]) -> bool:
    parent = parents.get(id(node))
    if isinstance(parent, ast.Subscript) and parent.value is node:
        if not isinstance(parent.ctx, ast.Load):
            return False
        # an element read is fine; a slice bound to a name or passed on is a view
        holder = parents.get(id(parent))
        passed_on = isinstance(holder, (ast.Assign, ast.Tuple, ast.List)) or (
            isinstance(holder, ast.Call) and not _read_only_call(holder)
        )
        return not (passed_on and _is_view(parent.slice))
        return True
    if isinstance(parent, ast.Attribute) and parent.value is node:
        if not isinstance(parent.ctx, ast.Load):
            return False
        if parent.attr in _READ_ONLY_ATTRS:
            return True
        holder = parents.get(id(parent))
        return (
            isinstance(holder, ast.Call)
            and holder.func is parent
            and parent.attr in _READ_ONLY_METHODS
        )
    if isinstance(parent, ast.Call):
        return node is not parent.func and _read_only_call(parent)
    if isinstance(parent, ast.keyword):
        call = parents.get(id(parent))
        return isinstance(call, ast.Call) and _read_only_call(call)
    if isinstance(parent, (ast.Assign, ast.Tuple, ast.List, ast.Starred, ast.NamedExpr)):
        return False  # another name for the same array
    return True  # arithmetic, comparisons, conditions


def _is_view(index: ast.expr) -> bool:
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    return any(
        isinstance(p, ast.Slice) or (isinstance(p, ast.Constant) and p.value is Ellipsis)
        for p in parts
    )


def _read_only_call(call: ast.Call) -> bool:
    if any(k.arg == "out" for k in call.keywords):
        return False
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in _READ_ONLY_CALLS
    if isinstance(func, ast.Attribute):
        base = func.value
        while isinstance(base, ast.Attribute):
            base = base.value
        if isinstance(base, ast.Name) and base.id in _NUMPY_MODULES:
            return func.attr not in _NUMPY_WRITERS
    return False


def sequential(
    source: Source,
    fn: ast.FunctionDef,
    args: tuple[str, ...],
    prologue: list[ast.stmt],
    loop: ast.For,
    epilogue: list[ast.stmt],
    prange_names: frozenset[str],
) -> SequentialLoop:
    """Analyse ``prologue; for t in range(...): body; epilogue`` into a plan."""
    index, call = loop_header(source, loop, prologue, epilogue, "range", "time loop")
    for part, where in ((prologue, "before"), (epilogue, "after")):
        for node in _walk(part):
            if _is_call_to(node, prange_names):
                raise source.error(
                    node,
                    f"a prange loop {where} the time loop would run unblocked; blockloop "
                    "checkpoints one loop per kernel, so move it inside the time loop or into "
                    "an @njit helper",
                )

    defined_before = set(args) | set(names_stored(prologue))
    body = [ast.fix_missing_locations(s) for s in loop.body]
    stored = names_stored(body)
    if index in stored:
        raise source.error(stored[index], f"the loop variable `{index}` is rebound")
    epilogue_reads = names_loaded(epilogue)
    for name, node in epilogue_reads.items():
        if name == index and name not in defined_before:
            raise source.error(
                node,
                f"the loop variable `{index}` is read after the loop; its last value is "
                f"known in advance, compute it from the range instead",
            )
        if name in stored and name not in defined_before:
            raise source.error(
                node,
                f"`{name}` is bound inside the time loop and read after it; define it before "
                "the loop so that its value can be checkpointed (and exists when the loop "
                "runs no step)",
            )
    body_reads = names_loaded(body)
    rebound = set(stored) & defined_before
    written = possibly_mutated(body, (set(body_reads) & defined_before) - rebound)
    state = sorted(rebound | written)
    invariants = sorted((set(body_reads) & defined_before) - set(state))
    epilogue_inputs = sorted(set(epilogue_reads) & (defined_before | set(state)))
    carry = sorted((set(invariants) | set(epilogue_inputs)) - set(state))
    for name in (*state, *invariants):
        if name.startswith(RESERVED):
            raise source.error(loop, f"names starting with {RESERVED} are reserved for blockloop")
    refuse_reserved(source, fn)
    locals_ = defined_before | set(stored) | set(names_stored(epilogue)) | {index}
    prologue_binds = names_stored(prologue)
    bindings = {name: source.line_of(prologue_binds.get(name, fn)) for name in state}
    return SequentialLoop(
        source=source,
        name=fn.name,
        args=args,
        prologue=prologue,
        loop=loop,
        body=body,
        epilogue=epilogue,
        index=index,
        bounds=tuple(call.args),
        state=tuple(state),
        invariants=tuple(invariants),
        carry=tuple(carry),
        epilogue_inputs=tuple(epilogue_inputs),
        parallel=any(_is_call_to(node, prange_names) for node in _walk(body)),
        bindings=bindings,
        globals_used=frozenset(set(names_loaded(fn.body)) - locals_),
    )
