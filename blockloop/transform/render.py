"""Rendering: the blocked module's source text, from an analysed plan.

The generated module defines ``_bl_prologue``, ``_bl_chunk``, ``_bl_fold``, ``_bl_finish``
and, when the kernel has statements after its loop, ``_bl_epilogue``. User statements are
reproduced with :func:`ast.unparse`; everything blockloop adds is named ``_bl_*``.
"""

from __future__ import annotations

import ast
import copy
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..operators import EXACT_OPS, REDUCTIONS, TILE_HELPERS
from ..operators import XBLOCK as _XBLOCK  # iterations between sums of buffered terms
from .exact import EXACT_NAMES, buffered_updates, exact_updates
from .plans import LoopPlan, ReductionLoop, SequentialLoop
from .split import split_step

__all__ = ["RENDERERS", "Rendered", "joined_text", "render", "render_module", "render_options"]

_JIT_NAMES = TILE_HELPERS


_FIXED = ("cache", "nogil", "parallel", "nopython", "forceobj", "looplift", "target")


def _notes(plan: LoopPlan) -> str:
    """The plan's notes as header comments."""
    return "".join(f"# Note, {note}.\n" for note in plan.notes)


def render_options(options: dict[str, object], parallel: bool) -> str:
    """Keyword arguments of ``@njit`` for a generated function, as source text."""
    parts = [f"{key}={value!r}" for key, value in sorted(options.items()) if key not in _FIXED]
    if parallel:
        parts.insert(0, "parallel=True")
    parts += ["cache=True", "nogil=True"]
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


def _combine(op: str, a: str, b: str) -> str:
    return REDUCTIONS[op].combine.format(a=a, b=b)


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
    signatures = {
        node.name: tuple(a.arg for a in node.args.args)
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef)
    }
    return Rendered(text, signatures)


def _render_reduction(
    plan: ReductionLoop, options: dict[str, object], helpers: str, version: str
) -> str:
    accs = plan.accumulators
    names = [a.name for a in accs]
    user = render_options(options, parallel=False)
    par = render_options(options, parallel=True)
    plain = "cache=True, nogil=True"
    src = plan.source
    b = len(plan.bounds)
    idx = plan.index
    out: list[str] = []
    w = out.append
    acc_doc = ", ".join(f"{a.name}{'[...]' if a.indexed else ''} ({a.op})" for a in accs)
    w(f"# Generated by blockloop {version} from {src.filename}, line {plan.line}: ")
    w(f"kernel `{plan.name}`.\n")
    w(f"# Blocked prange reduction; accumulators: {acc_doc or 'none'}.\n")
    if plan.maps:
        w("# Map writes at the loop's own index, saved as segments of finished rows: ")
        w(f"{', '.join(plan.maps)}.\n")
    if plan.blocks or plan.row_updates:
        whole = sorted({*plan.blocks, *(u.name for u in plan.row_updates)})
        w(f"# Written otherwise, saved whole by changed blocks: {', '.join(whole)}.\n")
    w(_notes(plan))
    w(f"# helpers: {helpers}\n")
    w("# Regenerated whenever the kernel or a helper changes; do not edit.\n")
    w("import numpy as _bl_np\n")
    w("from numba import njit as _bl_njit, prange as _bl_prange\n")
    w("from blockloop.numerics.tiles import _bl_close, _bl_flat, _bl_open, _bl_popcount\n")
    exact = {a.name for a in accs if plan.exact and a.op in EXACT_OPS}
    if exact:
        w(f"from blockloop.numerics.exact import {', '.join(EXACT_NAMES)}\n")
    w("\n\n")

    # prologue: the user's statements, the loop bounds, and a never-run copy of the body
    # so that numba unifies each accumulator's type exactly as in the original loop
    w(_prologue(plan, user, names))

    # chunk: one partial per tile, each tile a plain sequential loop from the identity
    params = [*plan.chunk_inputs]
    for n in names:
        params += [f"_bl_init_{n}", f"_bl_id_{n}", f"_bl_p_{n}"]
        params += [f"_bl_xm_{n}"] if n in exact else []
    params += ["_bl_range", "_bl_first", "_bl_tiles", "_bl_tile", "_bl_count"]
    w(f"@_bl_njit({par})\n")
    w(f"def _bl_chunk({', '.join(params)}):\n")
    if b >= 2:
        w("    _bl_start = _bl_range[0]\n")
    if b == 3:
        w("    _bl_step = _bl_range[2]\n")
    w("    for _bl_j in _bl_prange(_bl_tiles):\n")
    w("        _bl_lo = (_bl_first + _bl_j) * _bl_tile\n")
    w("        _bl_hi = min(_bl_lo + _bl_tile, _bl_count)\n")
    for n in names:
        if n in exact:
            w(f"        {n} = _bl_xopen(_bl_p_{n}[_bl_j], _bl_id_{n}, _bl_init_{n}, _bl_xm_{n})\n")
        else:
            w(f"        {n} = _bl_open(_bl_p_{n}, _bl_j, _bl_id_{n}, _bl_init_{n})\n")
    buffered = buffered_updates(plan.body, exact)
    body = exact_updates(plan.body, exact, plan.source, buffered) if exact else plan.body
    if buffered:  # blocks of iterations, each ending with the sum of its buffered terms
        for n in sorted(buffered):
            w(f"        _bl_xb_{n} = _bl_xbuf({n})\n")
        w(f"        for _bl_b in range(_bl_lo, _bl_hi, {_XBLOCK}):\n")
        w(f"            _bl_n = min(_bl_b + {_XBLOCK}, _bl_hi) - _bl_b\n")
        for n in sorted(n for n, cleared in buffered.items() if cleared):
            w(f"            _bl_xb_{n}[:] = -0.0  # the terms of iterations that skip the update\n")
        w("            for _bl_q in range(_bl_n):\n")
        at = {1: "_bl_b + _bl_q", 2: "_bl_start + _bl_b + _bl_q"}
        w(f"                {idx} = {at.get(b, '_bl_start + (_bl_b + _bl_q) * _bl_step')}\n")
        w(_stmts(body, 16))
        for n in sorted(buffered):
            w(f"            {n} = _bl_xsum({n}, _bl_xb_{n}, _bl_n)\n")
    else:
        if b == 1:
            w(f"        for {idx} in range(_bl_lo, _bl_hi):\n")
        elif b == 2:
            w(f"        for {idx} in range(_bl_start + _bl_lo, _bl_start + _bl_hi):\n")
        else:
            w(
                f"        for {idx} in range(_bl_start + _bl_lo * _bl_step, "
                "_bl_start + _bl_hi * _bl_step, _bl_step):\n"
            )
        w(_stmts(body, 12))
    for n in names:
        if n in exact:
            w(f"        _bl_xclose(_bl_p_{n}[_bl_j], {n}, _bl_xm_{n})\n")
        else:
            w(f"        _bl_close(_bl_p_{n}, _bl_j, {n})\n")
    w("\n\n")

    # fold: push each tile partial on a binary-counter stack (a fixed pairwise tree)
    fparams = ["_bl_done", "_bl_tiles"] + [p for n in names for p in (f"_bl_s_{n}", f"_bl_p_{n}")]
    fparams += [f"_bl_xm_{n}" for n in names if n in exact]
    w(f"@_bl_njit({plain})\n")
    w(f"def _bl_fold({', '.join(fparams)}):\n")
    w("    for _bl_j in range(_bl_tiles):\n")
    w("        _bl_k = _bl_done + _bl_j\n")
    w("        _bl_d = _bl_popcount(_bl_k)\n")
    for n in names:
        w(f"        _bl_s_{n}[_bl_d, :] = _bl_p_{n}[_bl_j, :]\n")
    w("        while _bl_k & 1:\n")
    w("            _bl_d -= 1\n")
    for a in accs:
        s = f"_bl_s_{a.name}"
        if a.name in exact:
            w(f"            _bl_xmerge({s}[_bl_d], {s}[_bl_d + 1], _bl_xm_{a.name})\n")
            continue
        w(f"            for _bl_e in range({s}.shape[1]):\n")
        comb = _combine(a.op, f"{s}[_bl_d, _bl_e]", f"{s}[_bl_d + 1, _bl_e]")
        w(f"                {s}[_bl_d, _bl_e] = {comb}\n")
    w("            _bl_k >>= 1\n")
    if not names:
        w("    return\n")
    w("\n\n")

    # finish: fold the stack left to right, then combine with the initial value last
    w(f"@_bl_njit({plain})\n")
    fin = ["_bl_done"] + [p for n in names for p in (f"_bl_init_{n}", f"_bl_s_{n}")]
    fin += [f"_bl_xm_{n}" for n in names if n in exact]
    w(f"def _bl_finish({', '.join(fin)}):\n")
    w("    _bl_d = _bl_popcount(_bl_done)\n")
    for a in accs:
        n, s = a.name, f"_bl_s_{a.name}"
        if n in exact:  # exact: the rows' sum and the initial value, rounded once
            w(f"    _bl_r_{n} = _bl_xfinish(_bl_init_{n}, {s}, _bl_d, _bl_xm_{n})\n")
            continue
        w(f"    _bl_r_{n} = _bl_flat(_bl_init_{n})\n")
        w("    if _bl_d > 0:\n")
        f = f"_bl_f_{n}"
        w(f"        {f} = {s}[0].copy()\n")
        w("        for _bl_q in range(1, _bl_d):\n")
        w(f"            for _bl_e in range({f}.shape[0]):\n")
        w(f"                {f}[_bl_e] = {_combine(a.op, f'{f}[_bl_e]', f'{s}[_bl_q, _bl_e]')}\n")
        w(f"        for _bl_e in range({f}.shape[0]):\n")
        comb = _combine(a.op, f"_bl_r_{n}[_bl_e]", f"{f}[_bl_e]")
        w(f"            _bl_r_{n}[_bl_e] = {comb}\n")
    w(f"    return {_tuple([f'_bl_r_{n}' for n in names])}\n")

    if plan.epilogue:
        inputs = [*plan.epilogue_inputs, *[n for n in names if n not in plan.epilogue_inputs]]
        w(f"\n\n@_bl_njit({user})\n")
        w(f"def _bl_epilogue({', '.join(inputs)}):\n")
        w(_stmts(plan.epilogue, 4))
    return "".join(out)


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
    w(f"from blockloop.numerics.tiles import {', '.join(_JIT_NAMES)}\n\n\n")

    # prologue: the user's statements, the loop range, and a never-run copy of the step so
    # that numba unifies the type of each state variable exactly as in the original loop
    w(_prologue(plan, user, state))

    # steps: steps _bl_first .. _bl_first + _bl_count of the loop, on the state passed in
    w(_steps(plan, par, "_bl_steps", plan.step, []))
    if plan.split.refusal is None:  # over MPI ranks: the rows _bl_lo .. _bl_hi of each step
        w("\n\n")
        w(_steps(plan, par, "_bl_split", split_step(plan.step, plan.split), ["_bl_lo", "_bl_hi"]))

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
