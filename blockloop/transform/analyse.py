"""Analysis: find the loop to block, its accumulators and what flows in and out.

Pure functions of source text: nothing here imports numba. Every refusal is a
:class:`~blockloop.BlockingError` at the user's line that says what to change.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .reductions import COMMUTATIVE, REDUCTIONS, by_ast_op
from .source import Source
from .syntax import LOOPS, SCOPES, is_call_to, is_name, names_loaded, names_stored, walk
from .writes import CallWrites, Write, no_helpers, outer_writes

if TYPE_CHECKING:
    from .sequential import SequentialLoop

__all__ = ["Accumulator", "LoopPlan", "ReductionLoop", "analyse", "find_function", "names_loaded"]

RESERVED = "_bl_"
SUPPORTED = (
    "supported updates are s += e, s -= e, s *= e, s |= e, s &= e, s ^= e, "
    "s = min(s, e), s = max(s, e), whole arrays a += e and indexed updates h[k] += e"
)


@dataclass(frozen=True)
class Accumulator:
    """One reduction variable of the loop.

    ``indexed`` accumulators are arrays updated element-wise (``h[k] += e``); the others
    are scalars or whole arrays (``s += e``), told apart only at run time.
    """

    name: str
    op: str
    indexed: bool
    line: int


@dataclass(frozen=True)
class RowUpdate:
    """An update that writes into ``name`` only if it has more than ``rows`` dimensions.

    ``t = x[i]; t += 1.0`` changes a number when ``x`` is 1-D and a row of ``x`` in place
    when it is 2-D; which one is known once the kernel's values exist, so the run checks
    it then and refuses with ``message`` at ``line``.
    """

    name: str
    rows: int
    line: int
    message: str


@dataclass
class LoopPlan:
    """What both loop kinds know: ``prologue; for index in func(*bounds): body; epilogue``.

    ``carry`` is what the prologue hands on to the loop and the epilogue; ``globals_used``
    the module names the kernel reads (helpers, constants), for its fingerprint.
    """

    source: Source
    name: str
    args: tuple[str, ...]
    prologue: list[ast.stmt]
    loop: ast.For
    body: list[ast.stmt]
    epilogue: list[ast.stmt]
    index: str
    bounds: tuple[ast.expr, ...]
    carry: tuple[str, ...]
    epilogue_inputs: tuple[str, ...]
    globals_used: frozenset[str]

    kind = "loop"

    @property
    def line(self) -> int:
        """The user's line of the checkpointed loop."""
        return self.source.line_of(self.loop)


@dataclass
class ReductionLoop(LoopPlan):
    """A function whose body is ``prologue; for i in prange(...): body; epilogue``."""

    accumulators: tuple[Accumulator, ...] = ()
    chunk_inputs: tuple[str, ...] = ()
    row_updates: tuple[RowUpdate, ...] = ()

    kind = "reduction"


# --------------------------------------------------------------------------- helpers

_walk = walk
_is_call_to = is_call_to
_is_name = is_name
_SCOPES = SCOPES
_LOOPS = LOOPS


def find_function(source: Source) -> ast.FunctionDef:
    """The function definition at the top of ``source``."""
    tree = ast.parse(source.text)
    if not tree.body or not isinstance(tree.body[0], ast.FunctionDef):
        raise source.error(
            tree.body[0] if tree.body else None,
            "blockloop decorates a plain function defined with def",
        )
    return tree.body[0]


def _check_signature(source: Source, fn: ast.FunctionDef) -> tuple[str, ...]:
    a = fn.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
        raise source.error(
            fn,
            f"{fn.name}() takes *args, **kwargs, keyword-only or positional-only "
            "parameters; give the kernel plain positional parameters",
        )
    names = tuple(arg.arg for arg in a.args)
    for arg in a.args:
        if arg.arg.startswith(RESERVED):
            raise source.error(arg, f"names starting with {RESERVED} are reserved for blockloop")
    return names


# --------------------------------------------------------------------------- reductions


class _Updates(ast.NodeTransformer):
    """Normalises reduction updates in a loop body and records them.

    ``s = s + e`` and ``s = e + s`` become ``s += e``; ``s = min(e, s)`` becomes
    ``s = min(s, e)``. Only statements whose target names an outer variable are
    candidates: a variable first bound inside the loop is a private temporary.
    """

    def __init__(self, outer: set[str]) -> None:
        self.outer = outer
        self.updates: list[tuple[str, str, bool, ast.stmt]] = []
        self.implicit_reads: set[int] = set()

    # ``s op= e`` and ``h[k] op= e``
    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        reduction = by_ast_op(node.op)
        target = node.target
        if reduction is not None:
            if isinstance(target, ast.Name) and target.id in self.outer:
                self.updates.append((target.id, reduction.key, False, node))
            elif (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id in self.outer
            ):
                self.implicit_reads.add(id(target.value))
                self.updates.append((target.value.id, reduction.key, True, node))
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if len(node.targets) != 1:
            return node
        target, value = node.targets[0], node.value
        if isinstance(target, ast.Name) and target.id in self.outer:
            name = target.id
            if isinstance(value, ast.BinOp):
                reduction = by_ast_op(value.op)
                if reduction is not None:
                    other = None
                    if _is_name(value.left, name):
                        other = value.right
                    elif _is_name(value.right, name) and reduction.key in COMMUTATIVE:
                        other = value.left
                    if other is not None and name not in names_loaded([other]):
                        new = ast.AugAssign(
                            target=ast.Name(name, ast.Store()), op=value.op, value=other
                        )
                        ast.copy_location(new, node)
                        self.updates.append((name, reduction.key, False, new))
                        return new
            if (
                _is_call_to(value, frozenset({"min", "max"}))
                and isinstance(value.func, ast.Name)
                and len(value.args) == 2
                and not value.keywords
            ):
                first, second = value.args
                if _is_name(second, name) and not _is_name(first, name):
                    first, second = second, first
                if _is_name(first, name) and name not in names_loaded([second]):
                    value.args = [first, second]
                    self.implicit_reads.add(id(first))
                    self.updates.append((name, value.func.id, False, node))
        elif (
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and target.value.id in self.outer
            and isinstance(value, ast.BinOp)
            and by_ast_op(value.op) is not None
            and _same(value.left, target)
        ):
            name = target.value.id
            if name not in names_loaded([value.right]):
                new = ast.AugAssign(target=target, op=value.op, value=value.right)
                ast.copy_location(new, node)
                self.implicit_reads.add(id(target.value))
                self.updates.append((name, by_ast_op(value.op).key, True, new))
                return new
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, _SCOPES):
            return node
        return super().generic_visit(node)


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _same(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a, annotate_fields=False).replace("Store()", "Load()") == ast.dump(
        b, annotate_fields=False
    ).replace("Store()", "Load()")


def _refuse_exits(
    source: Source, body: list[ast.stmt], where: str, allow_return: bool = False
) -> None:
    """``return``, ``yield`` and a ``break`` of the loop itself cannot be blocked."""

    def visit(nodes: Iterable[ast.AST], in_inner_loop: bool) -> None:
        for node in nodes:
            if isinstance(node, _SCOPES):
                raise source.error(
                    node,
                    f"a function or class defined inside the {where} cannot be compiled "
                    "into a blocked chunk; define it at module level with @njit",
                )
            if isinstance(node, ast.Return) and not allow_return:
                raise source.error(
                    node,
                    f"`return` inside the {where} would end the run early; blockloop cannot "
                    "checkpoint that. Compute a flag or an accumulator and return after the loop",
                )
            if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
                raise source.error(node, f"`yield` inside the {where} cannot be blocked")
            if isinstance(node, ast.Break) and not in_inner_loop and not allow_return:
                raise source.error(
                    node,
                    f"`break` out of the {where} makes the work depend on iteration order; "
                    "blockloop needs every iteration to run. Use a flag or a min/max reduction",
                )
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                raise source.error(node, f"`{type(node).__name__.lower()}` is not supported")
            inner = in_inner_loop or isinstance(node, _LOOPS)
            if isinstance(node, _LOOPS):
                # the loop's own `else` is outside it
                visit([*node.body], inner)
                visit([node.target] if isinstance(node, ast.For) else [node.test], in_inner_loop)
                visit(node.orelse, in_inner_loop)
                if isinstance(node, ast.For):
                    visit([node.iter], in_inner_loop)
                continue
            visit(ast.iter_child_nodes(node), inner)

    visit(body, False)


def _prange_loops(stmts: list[ast.stmt], prange: frozenset[str]) -> tuple[list[int], list[ast.AST]]:
    top = [k for k, s in enumerate(stmts) if isinstance(s, ast.For) and _is_call_to(s.iter, prange)]
    nested = [
        node
        for k, s in enumerate(stmts)
        if k not in top
        for node in _walk([s])
        if _is_call_to(node, prange)
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
    args = _check_signature(source, fn)
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            body = body[1:]  # docstring
    top, nested = _prange_loops(body, prange_names)
    if not top:
        steps = [
            k
            for k, s in enumerate(body)
            if isinstance(s, ast.For) and _is_call_to(s.iter, frozenset({"range"}))
        ]
        if len(steps) > 1:
            raise source.error(
                body[steps[1]],
                "a second top-level range loop: blockloop checkpoints one time loop per "
                "kernel; move the set-up loop into an @njit helper called before the loop, or "
                "split the kernel into two decorated functions",
            )
        if steps:
            from .sequential import sequential

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
    return _reduction(source, fn, args, prologue, loop, epilogue, call_writes)


def refuse_reserved(source: Source, fn: ast.FunctionDef) -> None:
    """Names starting with ``_bl_`` anywhere in the kernel are blockloop's own."""
    for name in set(names_loaded(fn.body)) | set(names_stored(fn.body)):
        if name.startswith(RESERVED):
            raise source.error(fn, f"names starting with {RESERVED} are reserved for blockloop")


def loop_header(
    source: Source,
    loop: ast.For,
    prologue: list[ast.stmt],
    epilogue: list[ast.stmt],
    func: str,
    where: str,
) -> tuple[str, ast.Call]:
    """Checks shared by both loop kinds; the loop variable and the ``func(...)`` call.

    Refuses a loop variable that is not one name, other than one to three positional
    arguments, ``for ... else``, ``return`` before the loop, and ``return``, ``yield`` or
    ``break`` inside it.
    """
    if not isinstance(loop.target, ast.Name):
        raise source.error(loop.target, f"the loop variable of the {where} must be a single name")
    call = loop.iter
    assert isinstance(call, ast.Call)
    if (
        call.keywords
        or not 1 <= len(call.args) <= 3
        or any(isinstance(a, ast.Starred) for a in call.args)
    ):
        raise source.error(call, f"{func} takes one to three positional arguments here")
    if loop.orelse:
        raise source.error(loop.orelse[0], f"a `for ... else` {where} cannot be checkpointed")
    for node in _walk(prologue):
        if isinstance(node, ast.Return):
            raise source.error(
                node, f"`return` before the {where}; move early exits after the loop"
            )
    _refuse_exits(source, loop.body, where)
    _refuse_exits(source, [*prologue, *epilogue], "kernel", allow_return=True)
    return loop.target.id, call


def _reduction(
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
    body = [ast.fix_missing_locations(s) for s in loop.body]
    updates = _Updates(defined_before)
    body = [updates.visit(stmt) for stmt in body]

    # statements that bind an outer name other than by a reduction update
    plain_binds: dict[str, ast.AST] = {}
    update_targets = {
        id(node.targets[0] if isinstance(node, ast.Assign) else node.target)
        for *_, node in updates.updates
    }
    for node in _walk(body):
        if id(node) in update_targets:
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            plain_binds.setdefault(node.id, node)

    accs: dict[str, Accumulator] = {}
    for name, op, indexed, node in updates.updates:
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
        accs[name] = Accumulator(name, op, indexed, source.line_of(node))

    if index in plain_binds or index in accs:
        raise source.error(plain_binds.get(index), f"the loop variable `{index}` is rebound")

    for name, node in plain_binds.items():
        if name in defined_before:
            stmt = _statement_of(body, node)
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
    for node in _walk(body):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id in accs
            and id(node) not in updates.implicit_reads
        ):
            raise source.error(
                node,
                f"`{node.id}` is a reduction variable and is read inside the loop; each tile "
                "sees only its own partial value there. Read it after the loop",
            )

    body_locals = set(names_stored(body)) - set(accs)
    epilogue_reads = names_loaded(epilogue)
    leaked = sorted((body_locals | {index}) & set(epilogue_reads) - defined_before)
    if leaked:
        name = leaked[0]
        raise source.error(
            epilogue_reads[name],
            f"`{name}` is bound inside the prange loop and read after it; its value would "
            "depend on which iteration ran last. Make it a reduction (e.g. max) instead",
        )

    stores_outside = set(names_stored(prologue))
    indexed_targets = frozenset(
        id(node.target)
        for name, _, indexed, node in updates.updates
        if indexed and name in accs and isinstance(node, ast.AugAssign)
    )
    writes = outer_writes(body, defined_before, skip=indexed_targets, call_writes=call_writes)
    certain = sorted(
        (w for w in writes.values() if w.rows is None), key=lambda w: source.line_of(w.node)
    )
    if certain:
        raise source.error(certain[0].node, _write_refusal(source, certain[0]))
    row_updates = tuple(
        RowUpdate(w.name, w.rows, source.line_of(w.node), _write_refusal(source, w))
        for w in writes.values()
        if w.rows is not None
    )

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
        row_updates=row_updates,
    )


def _write_refusal(source: Source, write: Write) -> str:
    name = write.name
    return (
        f"`{source.snippet(write.node)}` writes into `{name}`, which lives outside the loop"
        f"{write.how}, but not as a reduction; blockloop could not restore those writes "
        f"after an interruption. Accumulate with `{name}[k] += e`, or use a sequential loop"
    )


def _statement_of(body: list[ast.stmt], node: ast.AST) -> ast.stmt | None:
    """The innermost statement of ``body`` that contains ``node``."""
    best = None
    for stmt in _walk(body):
        if isinstance(stmt, ast.stmt) and any(sub is node for sub in _walk([stmt])):
            best = stmt
    return best
