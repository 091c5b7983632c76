"""Rendering: the blocked module's source text, from an analysed plan.

The generated module defines ``_bl_prologue``, ``_bl_chunk``, ``_bl_fold``, ``_bl_finish``
and, when the kernel has statements after its loop, ``_bl_epilogue``; when it has early
returns before its loop, ``_bl_exits`` (see :mod:`~blockloop.transform.exits`). User statements are
reproduced with :func:`ast.unparse`; everything blockloop adds is named ``_bl_*``.
"""

from __future__ import annotations

import ast
import copy
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..operators import EXACT_OPS, TILE_HELPERS
from ..operators import XBLOCK as _XBLOCK  # iterations between sums of buffered terms
from .exact import EXACT_NAMES, buffered_updates, exact_updates
from .inspect_pass import render_inspection
from .partials import ExactPartials, PlainPartials
from .plans import LoopPlan, ReductionLoop, SequentialLoop
from .split import split_step

__all__ = ["RENDERERS", "Rendered", "joined_text", "render", "render_module", "render_options"]

_JIT_NAMES = TILE_HELPERS


_SPLIT_IMPORTS = (
    "from numba import objmode as _bl_objmode\n"
    "from blockloop.numerics.tiles import _bl_rank_tiles\n"
    "from blockloop.parallel.steps import exchange_halo as _bl_halo\n"
    "from blockloop.parallel.steps import share_tiles as _bl_share\n"
)
"""What ``_bl_split`` imports when the ranks talk in the middle of a step."""

_FIXED = ("cache", "nogil", "parallel", "nopython", "forceobj", "looplift", "target")


def _notes(plan: LoopPlan) -> str:
    """The plan's notes as header comments."""
    return "".join(f"# Note, {note}.\n" for note in plan.notes)


def render_options(options: dict[str, object], parallel: bool) -> str:
    """Keyword arguments of ``@njit`` for a generated function, as source text."""
    parts = [f"{key}={value!r}" for key, value in sorted(options.items()) if key not in _FIXED]
    if parallel:
        parts.insert(0, "parallel=True")
    # numba optimises fastmath code loaded from its disk cache otherwise than code it has
    # just compiled (other bits): a run resumed in a new process would mix the two
    parts += ["cache=False" if options.get("fastmath") else "cache=True", "nogil=True"]
    return ", ".join(parts)


def _stmts(nodes: list[ast.stmt], indent: int) -> str:
    if not nodes:
        return " " * indent + "pass\n"
    text = "\n".join(ast.unparse(copy.deepcopy(n)) for n in nodes)
    return textwrap.indent(text, " " * indent) + "\n"


def _bounds(plan: ReductionLoop | SequentialLoop) -> str:
    b = [ast.unparse(x) for x in plan.bounds]
    if not b:  # a while loop: steps are counted from 0
        return "(0, 0, 1)"
    if len(b) == 1:
        return f"(0, {b[0]}, 1)"
    if len(b) == 2:
        return f"({b[0]}, {b[1]}, 1)"
    return f"({b[0]}, {b[1]}, {b[2]})"


def _tuple(names: list[str] | tuple[str, ...]) -> str:
    if not names:
        return "()"
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def _prologue(plan: ReductionLoop | SequentialLoop, options: str, values: list[str]) -> str:
    """``_bl_prologue``: the user's statements, the loop range, and a never-run copy of the
    loop body, so that numba unifies each returned value's type exactly as in the original
    loop (``total = 0`` updated with floats is a float)."""
    return (
        f"@_bl_njit({options})\n"
        f"def _bl_prologue({', '.join([*plan.args, '_bl_probe'])}):\n"
        + (_stmts(plan.prologue, 4) if plan.prologue else "")
        + f"    _bl_range = {_bounds(plan)}\n"
        f"    for {plan.index} in range(_bl_range[0], _bl_range[0] + _bl_probe):\n"
        + _stmts(plan.body, 8)
        + f"    return {_tuple(list(plan.carry))}, {_tuple(values)}, _bl_range\n\n\n"
    )


@dataclass(frozen=True)
class Rendered:
    """A generated module: its text and each function's parameter names, in order."""

    text: str
    signatures: Mapping[str, tuple[str, ...]]


def render(plan: LoopPlan, options: dict[str, object], helpers: str, version: str) -> str:
    """The source text of the blocked module for ``plan`` (see :func:`render_module`)."""
    return render_module(plan, options, helpers, version).text


def render_module(
    plan: LoopPlan, options: dict[str, object], helpers: str, version: str
) -> Rendered:
    """The blocked module for ``plan``, by the renderer of its plan type.

    Parameters
    ----------
    plan : LoopPlan
        The analysed kernel.
    options : dict
        The user's numba options (``fastmath``, ``error_model``, ...).
    helpers : str
        Fingerprint of the helper functions and globals the kernel uses; written into the
        file so that a change to a helper makes a new file (and a fresh numba cache).
    version : str
        blockloop's version, for the header.
    """
    text = RENDERERS[type(plan)](plan, options, helpers, version)
    for extra in (*plan.inner, *([plan.exits] if plan.exits is not None else [])):
        text += f"\n\n@_bl_njit({render_options(options, parallel=False)})\n"
        text += ast.unparse(extra) + "\n"
    signatures = {
        node.name: tuple(a.arg for a in node.args.args)
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef)
    }
    return Rendered(text, signatures)


def _lines(lines: list[str], indent: int) -> str:
    return "".join(" " * indent + line + "\n" for line in lines)


def _render_reduction(
    plan: ReductionLoop, options: dict[str, object], helpers: str, version: str
) -> str:
    exact = {a.name for a in plan.accumulators if plan.exact and a.op in EXACT_OPS}
    accs = [
        (ExactPartials if a.name in exact else PlainPartials)(a.name, a.op)
        for a in plan.accumulators
    ]
    user = render_options(options, parallel=False)
    return "".join(
        [
            _reduction_header(plan, helpers, version, bool(exact)),
            _prologue(plan, user, [a.name for a in accs]),
            _chunk(plan, accs, exact, render_options(options, parallel=True)),
            _fold(accs),
            _finish(accs),
            _epilogue(plan, user, [a.name for a in accs]),
        ]
    )


def _reduction_header(plan: ReductionLoop, helpers: str, version: str, exact: bool) -> str:
    """The comments saying what the module is and saves, and its imports."""
    accs = plan.accumulators
    listed = ", ".join(f"{a.name}{'[...]' if a.indexed else ''} ({a.op})" for a in accs)
    lines = [
        f"# Generated by blockloop {version} from {plan.source.filename}, line {plan.line}: "
        f"kernel `{plan.name}`.",
        f"# Blocked prange reduction; accumulators: {listed or 'none'}.",
    ]
    if plan.maps:
        lines.append(
            "# Map writes at the loop's own index, saved as segments of finished rows: "
            f"{', '.join(plan.maps)}."
        )
    if plan.blocks or plan.row_updates:
        whole = sorted({*plan.blocks, *(u.name for u in plan.row_updates)})
        lines.append(f"# Written otherwise, saved whole by changed blocks: {', '.join(whole)}.")
    if plan.inspected is not None:
        lines.append(f"# Indices computed, checked at each call by _bl_inspect: {plan.inspected}.")
    text = _lines(lines, 0) + _notes(plan)
    lines = [
        f"# helpers: {helpers}",
        "# Regenerated whenever the kernel or a helper changes; do not edit.",
        "import numpy as _bl_np",
        "from numba import njit as _bl_njit, prange as _bl_prange",
        "from blockloop.numerics.tiles import _bl_close, _bl_flat, _bl_open, _bl_popcount",
    ]
    if exact:
        lines.append(f"from blockloop.numerics.exact import {', '.join(EXACT_NAMES)}")
    if plan.inspected is not None:
        lines.append("from blockloop.numerics.marks import _bl_at")
    return text + _lines(lines, 0) + "\n\n"


def _chunk(plan: ReductionLoop, accs: list[PlainPartials], exact: set[str], options: str) -> str:
    """``_bl_chunk``: one partial per tile, each tile a plain sequential loop from the
    identity; with exact sums, in blocks of iterations that each end with the sum of their
    buffered terms."""
    params = [*plan.chunk_inputs]
    for a in accs:
        params += [f"_bl_init_{a.name}", f"_bl_id_{a.name}", f"_bl_p_{a.name}", *a.extra()]
    params += ["_bl_range", "_bl_first", "_bl_tiles", "_bl_tile", "_bl_count"]
    b = len(plan.bounds)
    head = [f"@_bl_njit({options})", f"def _bl_chunk({', '.join(params)}):"]
    head += ["    _bl_start = _bl_range[0]"] if b >= 2 else []
    head += ["    _bl_step = _bl_range[2]"] if b == 3 else []
    head += [
        "    for _bl_j in _bl_prange(_bl_tiles):",
        "        _bl_lo = (_bl_first + _bl_j) * _bl_tile",
        "        _bl_hi = min(_bl_lo + _bl_tile, _bl_count)",
    ]
    buffered = buffered_updates(plan.body, exact)
    body = exact_updates(plan.body, exact, plan.source, buffered) if exact else plan.body
    tiles = _buffered_tile(plan, body, buffered) if buffered else _plain_tile(plan, body)
    text = (
        _lines(head, 0)
        + _lines([a.open() for a in accs], 8)
        + tiles
        + _lines([a.close() for a in accs], 8)
        + "\n\n"
    )
    if plan.inspected is None or exact:  # an exact sum's loop is not inspected: refused
        return text
    loop = _plain_tile(plan, []).splitlines()[0].strip()
    return text + render_inspection(plan, params, head[2:-3], loop, options)


def _plain_tile(plan: ReductionLoop, body: list[ast.stmt]) -> str:
    """The tile's iterations ``_bl_lo .. _bl_hi`` as the user's loop over its index."""
    start = {
        1: "_bl_lo, _bl_hi",
        2: "_bl_start + _bl_lo, _bl_start + _bl_hi",
        3: "_bl_start + _bl_lo * _bl_step, _bl_start + _bl_hi * _bl_step, _bl_step",
    }[len(plan.bounds)]
    return f"        for {plan.index} in range({start}):\n" + _stmts(body, 12)


def _buffered_tile(plan: ReductionLoop, body: list[ast.stmt], buffered: dict[str, bool]) -> str:
    """The tile's iterations in blocks of ``XBLOCK``, exact sums' terms buffered."""
    at = {1: "_bl_b + _bl_q", 2: "_bl_start + _bl_b + _bl_q"}
    index = at.get(len(plan.bounds), "_bl_start + (_bl_b + _bl_q) * _bl_step")
    cleared = sorted(n for n, clear in buffered.items() if clear)
    return (
        _lines([f"_bl_xb_{n} = _bl_xbuf({n})" for n in sorted(buffered)], 8)
        + _lines(
            [
                f"for _bl_b in range(_bl_lo, _bl_hi, {_XBLOCK}):",
                f"    _bl_n = min(_bl_b + {_XBLOCK}, _bl_hi) - _bl_b",
                *(
                    f"    _bl_xb_{n}[:] = -0.0  # the terms of iterations that skip the update"
                    for n in cleared
                ),
                "    for _bl_q in range(_bl_n):",
                f"        {plan.index} = {index}",
            ],
            8,
        )
        + _stmts(body, 16)
        + _lines([f"{n} = _bl_xsum({n}, _bl_xb_{n}, _bl_n)" for n in sorted(buffered)], 12)
    )


def _fold(accs: list[PlainPartials]) -> str:
    """``_bl_fold``: push each tile partial on a binary-counter stack (a fixed pairwise
    tree), merging while the counter carries."""
    params = ["_bl_done", "_bl_tiles", *(p for a in accs for p in (a.stack, f"_bl_p_{a.name}"))]
    params += [p for a in accs for p in a.extra()]
    lines = [
        "@_bl_njit(cache=True, nogil=True)",
        f"def _bl_fold({', '.join(params)}):",
        "    for _bl_j in range(_bl_tiles):",
        "        _bl_k = _bl_done + _bl_j",
        "        _bl_d = _bl_popcount(_bl_k)",
        *(f"        {a.stack}[_bl_d, :] = _bl_p_{a.name}[_bl_j, :]" for a in accs),
        "        while _bl_k & 1:",
        "            _bl_d -= 1",
        *("            " + line for a in accs for line in a.merge()),
        "            _bl_k >>= 1",
        *(["    return"] if not accs else []),
    ]
    return _lines(lines, 0) + "\n\n"


def _finish(accs: list[PlainPartials]) -> str:
    """``_bl_finish``: each accumulator's value after the fold's ``_bl_done`` tiles."""
    params = ["_bl_done", *(p for a in accs for p in (f"_bl_init_{a.name}", a.stack))]
    params += [p for a in accs for p in a.extra()]
    lines = [
        "@_bl_njit(cache=True, nogil=True)",
        f"def _bl_finish({', '.join(params)}):",
        "    _bl_d = _bl_popcount(_bl_done)",
        *("    " + line for a in accs for line in a.finish()),
        f"    return {_tuple([f'_bl_r_{a.name}' for a in accs])}",
    ]
    return _lines(lines, 0)


def _epilogue(plan: ReductionLoop, options: str, names: list[str]) -> str:
    """``_bl_epilogue``: the statements after the loop, given its inputs and results."""
    if not plan.epilogue:
        return ""
    inputs = [*plan.epilogue_inputs, *[n for n in names if n not in plan.epilogue_inputs]]
    return f"\n\n@_bl_njit({options})\ndef _bl_epilogue({', '.join(inputs)}):\n" + _stmts(
        plan.epilogue, 4
    )


def _render_sequential(
    plan: SequentialLoop, options: dict[str, object], helpers: str, version: str
) -> str:
    src, t = plan.source, plan.index
    user = render_options(options, parallel=False)
    par = render_options(options, parallel=plan.parallel)
    state = list(plan.state)
    out: list[str] = []
    w = out.append
    w(f"# Generated by blockloop {version} from {src.filename}, line {plan.line}: ")
    w(f"kernel `{plan.name}`.\n")
    if plan.condition is not None:
        w(f"# Convergence loop `while {ast.unparse(plan.condition)}`; ")
    else:
        w(f"# Sequential loop over `{t}`; ")
    w(f"state: {', '.join(state) or 'none'}.\n")
    w(_notes(plan))
    w(f"# helpers: {helpers}\n")
    w("# Regenerated whenever the kernel or a helper changes; do not edit.\n")
    w("import numpy as _bl_np\n")
    w("from numba import njit as _bl_njit, prange as _bl_prange\n")
    w(f"from blockloop.numerics.tiles import {', '.join(_JIT_NAMES)}\n")
    if plan.split.refusal is None and (plan.split.reductions or plan.split.exchanges):
        w(_SPLIT_IMPORTS)
    w("\n\n")

    # prologue: the user's statements, the loop range, and a never-run copy of the step so
    # that numba unifies the type of each state variable exactly as in the original loop
    w(_prologue(plan, user, state))

    # steps: steps _bl_first .. _bl_first + _bl_count of the loop, on the state passed in
    w(_steps(plan, par, "_bl_steps", plan.step, []))
    if plan.split.refusal is None:  # over MPI ranks: the rows _bl_lo .. _bl_hi of each step
        w("\n\n")
        split = split_step(plan.step, plan.split)
        w(_steps(plan, par, "_bl_split", split, ["_bl_lo", "_bl_hi", "_bl_rows"]))

    if plan.epilogue:
        w(f"\n\n@_bl_njit({user})\n")
        w(f"def _bl_epilogue({', '.join(plan.epilogue_inputs)}):\n")
        w(_stmts(plan.epilogue, 4))
    return "".join(out)


def _steps(
    plan: SequentialLoop, options: str, name: str, step: list[ast.stmt], extra: list[str]
) -> str:
    """The function that runs ``_bl_count`` steps from ``_bl_first`` on the state passed in."""
    t, state = plan.index, list(plan.state)
    params = [*plan.invariants, *state, "_bl_range", "_bl_first", "_bl_count", *extra]
    out: list[str] = []
    w = out.append
    w(f"@_bl_njit({options})\n")
    w(f"def {name}({', '.join(params)}):\n")
    w("    _bl_start, _bl_step = _bl_range[0], _bl_range[2]\n")
    w("    _bl_ran = 0\n")
    w("    _bl_stop = False\n")
    if plan.condition is None:
        w(
            f"    for {t} in range(_bl_start + _bl_first * _bl_step, "
            "_bl_start + (_bl_first + _bl_count) * _bl_step, _bl_step):\n"
        )
    else:
        w(f"    for {t} in range(_bl_count):\n")
        w(f"        if not ({ast.unparse(plan.condition)}):\n")
        w("            _bl_stop = True\n")
        w("            break\n")
    w("        _bl_ran += 1\n")
    w(_stmts(step, 8))
    w(f"    return {_tuple(state)}, _bl_ran, _bl_stop\n")
    return "".join(out)


RENDERERS: dict[type, Callable[..., str]] = {
    ReductionLoop: _render_reduction,
    SequentialLoop: _render_sequential,
}
"""The renderer of each plan type."""


def joined_text(phases: tuple[LoopPlan, ...], texts: list[str]) -> str:
    """The generated modules as one text, each under a line naming its phase."""
    if len(texts) == 1:
        return texts[0]
    return "\n\n".join(
        f"# ===== phase {k + 1} of {len(texts)}: the loop at line {plan.line} =====\n{text}"
        for k, (plan, text) in enumerate(zip(phases, texts, strict=True))
    )
