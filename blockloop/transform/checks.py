"""Checks and refusals that every loop kind shares: the function, its signature, exits.

Every refusal is a :class:`~blockloop.BlockingError` at the user's line that says what to
change.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from .source import Source
from .syntax import LOOPS, SCOPES, dotted, names_loaded, names_stored, walk

__all__ = [
    "RESERVED",
    "check_signature",
    "find_function",
    "loop_header",
    "per_iteration_seeded",
    "refuse_exits",
    "refuse_reserved",
    "refuse_unreproducible",
    "while_header",
]

RESERVED = "_bl_"


def find_function(source: Source) -> ast.FunctionDef:
    """The function definition at the top of ``source``."""
    tree = ast.parse(source.text)
    if not tree.body or not isinstance(tree.body[0], ast.FunctionDef):
        raise source.error(
            tree.body[0] if tree.body else None,
            "blockloop decorates a plain function defined with def",
        )
    return tree.body[0]


def check_signature(source: Source, fn: ast.FunctionDef) -> tuple[str, ...]:
    a = fn.args
    if a.vararg or a.kwarg:
        raise source.error(
            fn,
            f"{fn.name}() takes *args or **kwargs; give the kernel named parameters",
        )
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs]
    names = tuple(arg.arg for arg in params)
    for arg in params:
        if arg.arg.startswith(RESERVED):
            raise source.error(arg, f"names starting with {RESERVED} are reserved for blockloop")
    return names


def refuse_exits(
    source: Source,
    body: list[ast.stmt],
    where: str,
    allow_return: bool = False,
    allow_break: bool = False,
) -> None:
    """``return``, ``yield`` and (unless ``allow_break``) a ``break`` of the loop itself
    cannot be blocked."""

    def visit(nodes: Iterable[ast.AST], in_inner_loop: bool) -> None:
        for node in nodes:
            if isinstance(node, SCOPES):
                raise source.error(
                    node,
                    f"a function or class defined inside the {where} cannot be compiled "
                    "into a blocked chunk; define it at module level with @njit",
                )
            if isinstance(node, ast.Return) and not allow_return:
                change = (
                    "set a flag and `break`, then return after the loop"
                    if allow_break
                    else "compute a flag or an accumulator and return after the loop"
                )
                raise source.error(
                    node,
                    f"`return` inside the {where} would end the run early; blockloop cannot "
                    f"checkpoint that. Instead, {change}",
                )
            if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
                raise source.error(node, f"`yield` inside the {where} cannot be blocked")
            if isinstance(node, ast.Break) and not (in_inner_loop or allow_return or allow_break):
                raise source.error(
                    node,
                    f"`break` out of the {where} makes the work depend on iteration order; "
                    "blockloop needs every iteration to run. Use a flag or a min/max reduction",
                )
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                raise source.error(node, f"`{type(node).__name__.lower()}` is not supported")
            inner = in_inner_loop or isinstance(node, LOOPS)
            if isinstance(node, LOOPS):
                # the loop's own `else` is outside it
                visit([*node.body], inner)
                head = [node.test] if isinstance(node, ast.While) else [node.target]
                visit(head, in_inner_loop)
                visit(node.orelse, in_inner_loop)
                if isinstance(node, ast.For):
                    visit([node.iter], in_inner_loop)
                continue
            visit(ast.iter_child_nodes(node), inner)

    visit(body, False)


def refuse_reserved(source: Source, fn: ast.FunctionDef) -> None:
    """Names starting with ``_bl_`` anywhere in the kernel are blockloop's own."""
    for name in set(names_loaded(fn.body)) | set(names_stored(fn.body)):
        if name.startswith(RESERVED):
            raise source.error(fn, f"names starting with {RESERVED} are reserved for blockloop")


def while_header(
    source: Source, loop: ast.While, prologue: list[ast.stmt], epilogue: list[ast.stmt]
) -> None:
    """Checks of a ``while`` time loop: no ``else``, no ``return`` before it or inside it."""
    if loop.orelse:
        raise source.error(
            loop.orelse[0],
            "a `while ... else` loop cannot be checkpointed; test a flag after the loop instead",
        )
    _around(source, loop, prologue, epilogue, "time loop", allow_break=True)


def _around(
    source: Source,
    loop: ast.For | ast.While,
    prologue: list[ast.stmt],
    epilogue: list[ast.stmt],
    where: str,
    allow_break: bool,
) -> None:
    for node in walk(prologue):
        if isinstance(node, ast.Return):
            raise source.error(
                node, f"`return` before the {where}; move early exits after the loop"
            )
    refuse_exits(source, loop.body, where, allow_break=allow_break)
    refuse_exits(source, [*prologue, *epilogue], "kernel", allow_return=True)
    refuse_unreproducible(source, prologue, loop.body, where)


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
    (in a prange loop) ``break`` inside it.
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
    _around(source, loop, prologue, epilogue, where, allow_break=func == "range")
    return loop.target.id, call


_NUMPY_RANDOM = ("np.random.", "numpy.random.")
_THREAD_IDS = frozenset({"get_thread_id", "_get_thread_id", "get_native_thread_id"})


def _is_seed(stmt: ast.stmt) -> bool:
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    name = dotted(stmt.value.func) or ""
    return name.startswith(_NUMPY_RANDOM) and name.endswith(".seed")


def per_iteration_seeded(body: list[ast.stmt], is_prange_body: bool) -> set[int]:
    """``id()`` of the nodes in prange iterations that run after an ``np.random.seed(...)``
    of the same iteration.

    An iteration that seeds the generator of the thread running it before it draws makes
    its draws a function of the seed alone: the same for any thread count, any tiles and
    after a resume. A seed statement covers the statements after it in its block and
    everything inside them (``for j in range(m): np.random.seed(h(i, j)); draw()`` reseeds
    before each draw); one inside an ``if`` covers nothing after that ``if``.
    ``is_prange_body``: ``body`` itself is a prange loop's body.
    """
    loops: list[list[ast.stmt]] = [body] if is_prange_body else []
    loops += [
        n.body
        for n in walk(body)
        if isinstance(n, ast.For)
        and isinstance(n.iter, ast.Call)
        and (dotted(n.iter.func) or "").split(".")[-1] == "prange"
    ]
    found: set[int] = set()

    def block(stmts: list[ast.stmt]) -> None:
        for k, stmt in enumerate(stmts):
            if _is_seed(stmt):
                found.update(id(n) for n in walk(stmts[k:]))
                return
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list) and not isinstance(stmt, SCOPES):
                    block(inner)

    for stmts in loops:
        block(stmts)
    return found


def refuse_unreproducible(
    source: Source, prologue: list[ast.stmt], body: list[ast.stmt], where: str
) -> None:
    """Refuse what gives other numbers on a resume or for another thread count.

    ``np.random`` in the loop draws from per-thread states that start over after a
    resume; in the prologue it is allowed after an ``np.random.seed(...)`` there (the
    prologue runs again on resume). A thread id in the loop depends on the schedule.
    """
    seeded = False
    for stmt in prologue:
        for node in walk([stmt]):
            name = dotted(node.func) if isinstance(node, ast.Call) else None
            if name is None or not name.startswith(_NUMPY_RANDOM):
                continue
            if name.endswith(".seed"):
                seeded = True
            elif not seeded:
                raise source.error(
                    node,
                    f"`{source.snippet(node)}` before the {where} draws from an unseeded "
                    "generator, so a resumed call would draw other numbers; call "
                    "`np.random.seed(...)` first in the kernel, or use blockloop.random",
                )
    reseeded = per_iteration_seeded(body, where == "prange loop")
    for node in walk(body):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func) or ""
        if name.startswith(_NUMPY_RANDOM) and id(node) not in reseeded:
            raise source.error(
                node,
                f"`{source.snippet(node)}` draws from per-thread generators in the {where}: "
                "the numbers depend on the thread count and start over after a resume. "
                "Use blockloop.random, whose draws depend on a key and a counter only: "
                "`uniform(key(seed, 0), i)`, `normal(...)`, `integers(...)`",
            )
        if name.split(".")[-1] in _THREAD_IDS:
            raise source.error(
                node,
                f"`{source.snippet(node)}` in the {where} depends on which thread runs "
                "the iteration; compute from the loop variable instead",
            )
