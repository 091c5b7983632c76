"""The functions a kernel calls, seen from its module: which arguments they may write.

The transform analyses source text only; this module gives it the one thing that needs
the user's module: for a called name, the helper it means and the parameters that
helper's own source may write into (following the helpers it calls in turn). Whatever
cannot be seen (a helper without source, a function passed in as a value, a C extension)
is taken to write every array it is given.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from ._errors import BlockingError
from ._version import __version__
from .storage.fingerprint import (
    check_closure,
    closure_values,
    digest,
    helpers_fingerprint,
    is_dispatcher,
)
from .transform import Rendered, analyse, joined_text, render_module
from .transform.checks import per_iteration_seeded
from .transform.plans import LoopPlan, PhasedKernel, ReductionLoop
from .transform.source import Source, read_source
from .transform.syntax import dotted, names_loaded, names_stored, walk
from .transform.writes import NUMPY_WRITERS, CallWrites, written_parameters

__all__ = ["Blocked", "block_kernel", "call_writes", "prange_names", "refuse_hidden_draws"]

_NOTHING: frozenset[int | str] = frozenset()


def call_writes(scope: Mapping[str, object]) -> CallWrites:
    """The ``call_writes`` of a kernel whose names resolve in ``scope``.

    Parameters
    ----------
    scope : mapping
        The kernel's globals and closure values.

    Returns
    -------
    callable
        Dotted name to the positions and names of parameters the callee may write into,
        or None where unknown.
    """
    return _Resolver(scope, {}).writes


class _Resolver:
    def __init__(self, scope: Mapping[str, object], memo: dict[int, frozenset | None]) -> None:
        self.scope = scope
        self.memo = memo  # shared by nested resolvers; None while being analysed

    def writes(self, name: str) -> frozenset[int | str] | None:
        value = _resolve(self.scope, name)
        return None if value is None else self.of(value)

    def of(self, value: object) -> frozenset[int | str] | None:
        if is_dispatcher(value):
            return self.of_function(value.py_func)
        if inspect.isclass(value):
            return _NOTHING  # a constructor (namedtuple, record) keeps what it is given
        outputs = _ufunc_outputs(value)
        if outputs is not None:
            return outputs
        if isinstance(value, types.BuiltinFunctionType):
            return _NOTHING
        module = getattr(value, "__module__", None) or ""
        if module.split(".")[0] == "numpy":
            return None if getattr(value, "__name__", "") in NUMPY_WRITERS else _NOTHING
        if isinstance(value, types.FunctionType):
            return self.of_function(value)
        return None

    def of_function(self, func: types.FunctionType) -> frozenset[int | str] | None:
        key = id(func)
        if key in self.memo:
            return self.memo[key]  # None while recursing: unknown, so every argument
        self.memo[key] = None
        try:
            tree = ast.parse(read_source(func).text)
        except (BlockingError, SyntaxError):
            return None
        fn = tree.body[0] if tree.body else None
        if not isinstance(fn, ast.FunctionDef):
            return None
        inner = _Resolver({**func.__globals__, **closure_values(func)}, self.memo)
        found = written_parameters(fn, inner.writes)
        self.memo[key] = found
        return found


def _ufunc_outputs(value: object) -> frozenset[int | str] | None:
    """For a ufunc (NumPy's, numba's ``@vectorize`` or ``@guvectorize``), the parameters it
    writes: its output arrays, given after its inputs or as ``out=``; None for another
    object. Called with numbers (``f(c, bias[k])``), it writes nothing."""
    nin, nout = getattr(value, "nin", None), getattr(value, "nout", None)
    if not (isinstance(nin, int) and isinstance(nout, int) and callable(value)):
        return None
    return frozenset({*range(nin, nin + nout), "out"})


def prange_names(func: Callable) -> frozenset[str]:
    """The names under which ``func`` sees ``numba.prange`` (``prange`` always)."""
    names = {"prange"}
    fn: Any = func
    scope = {**fn.__globals__, **closure_values(fn)}
    for name, value in scope.items():
        if value is numba.prange:
            names.add(name)
    return frozenset(names)


def refuse_hidden_draws(source: Source, plan: LoopPlan, scope: Mapping[str, object]) -> None:
    """Refuse draws from numpy's global generator that the source does not spell out.

    The transform refuses ``np.random.normal(...)`` in a loop by its text; this finds the
    same draws reached through another name (``from numpy.random import randn``) or
    through ``@njit`` helpers at any depth. In a loop they give other numbers for another
    thread count and after a resume; before a loop they need an ``np.random.seed(...)``
    first, as the spelled-out form does.

    Raises
    ------
    BlockingError
        At the user's call that draws, naming the chain of helpers down to the draw.
    """
    fn = ast.parse(source.text).body[0]
    assert isinstance(fn, ast.FunctionDef)
    local = set(names_stored([fn])) | {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    finder = _Draws(scope, local)
    for phase in plan.phases if isinstance(plan, PhasedKernel) else (plan,):
        where = "prange loop" if phase.kind == "reduction" else "time loop"
        seeded = False
        for node in _calls(phase.prologue):
            chain = finder.of_call(node)
            if chain and chain[-1].endswith("seed"):
                seeded = True
            elif chain and not seeded:
                raise source.error(
                    node,
                    f"`{source.snippet(node)}` before the {where} draws from numpy's "
                    f"unseeded generator ({' -> '.join(chain)}), so a resumed call would "
                    "draw other numbers; call `np.random.seed(...)` first in the kernel, "
                    "or use blockloop.random",
                )
        loop = phase.loop
        heads = [loop.test] if isinstance(loop, ast.While) else []
        reseeded = per_iteration_seeded(loop.body, phase.kind == "reduction")
        for node in _calls([*heads, *loop.body]):
            chain = None if id(node) in reseeded else finder.of_call(node)
            if chain:
                raise source.error(
                    node,
                    f"`{source.snippet(node)}` draws from numpy's per-thread generators in "
                    f"the {where} ({' -> '.join(chain)}): the numbers depend on the thread "
                    "count and start over after a resume. Use blockloop.random, whose draws "
                    "depend on a key and a counter only: `uniform(key(seed, 0), i)`, "
                    "`normal(...)`, `integers(...)`",
                )


def _calls(nodes: list) -> list[ast.Call]:
    return [n for n in walk(nodes) if isinstance(n, ast.Call)]


def _is_global_random(value: object) -> bool:
    """Whether ``value`` is a function of numpy's global generator (``np.random.*``)."""
    if isinstance(getattr(value, "__self__", None), np.random.RandomState):
        return True
    module = getattr(value, "__module__", None) or ""
    return module.startswith("numpy.random") and callable(value) and not inspect.isclass(value)


class _Draws:
    """Which calls reach numpy's global generator, and through which helpers."""

    def __init__(self, scope: Mapping[str, object], local: set[str]) -> None:
        self.scope = scope
        self.local = local
        self.memo: dict[int, list[str] | None] = {}

    def of_call(self, node: ast.Call) -> list[str] | None:
        name = dotted(node.func)
        if name is None or name.split(".")[0] in self.local:
            return None
        value = _resolve(self.scope, name)
        if value is None:
            return None
        if _is_global_random(value):
            return [f"numpy.random.{getattr(value, '__name__', name.split('.')[-1])}"]
        func = value.py_func if is_dispatcher(value) else value
        if not isinstance(func, types.FunctionType):
            return None
        inner = self.of_function(func)
        return None if inner is None else [name, *inner]

    def of_function(self, func: types.FunctionType) -> list[str] | None:
        key = id(func)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = None  # recursion: what the first visit finds
        try:
            tree = ast.parse(read_source(func).text)
        except (BlockingError, SyntaxError):
            return None
        fn = tree.body[0] if tree.body else None
        if not isinstance(fn, ast.FunctionDef):
            return None
        inner = _Draws({**func.__globals__, **closure_values(func)}, set(names_stored([fn])))
        inner.memo = self.memo
        for node in _calls(fn.body):
            chain = inner.of_call(node)
            if chain and not chain[-1].endswith(".seed"):
                self.memo[key] = chain
                return chain
        return None


def _resolve(scope: Mapping[str, object], name: str) -> object | None:
    """The object a dotted name means in ``scope`` or the builtins (None where neither
    has it)."""
    head, *rest = name.split(".")
    if head in scope:
        value = scope[head]
    elif hasattr(builtins, head):
        value = getattr(builtins, head)
    else:
        return None
    for attr in rest:
        try:
            value = getattr(value, attr)
        except AttributeError:
            return None
    return value


@dataclass(frozen=True)
class Blocked:
    """A kernel analysed and rendered with the globals of one moment.

    Attributes
    ----------
    plan : LoopPlan
        The analysis.
    phases : tuple of LoopPlan
        The plan's loops (one, unless the kernel has several).
    rendered : list of Rendered
        Each phase's generated module.
    text : str
        The generated modules as the user reads them (``blocked_source``).
    sampled : frozenset of str
        Arguments the kernel never writes, whose large arrays a run key may sample.
    source_key : str
        The kernel's part of a run key: its source, its helpers and globals, ``exact``.
    """

    plan: LoopPlan
    phases: tuple[LoopPlan, ...]
    rendered: list[Rendered]
    text: str
    sampled: frozenset[str]
    source_key: str


def block_kernel(
    func: types.FunctionType,
    source: Source,
    namespace: Mapping[str, object],
    numba_options: dict[str, object],
    exact: bool,
) -> Blocked:
    """Analyse and render ``func`` with the globals and helpers in ``namespace``.

    numba reads a kernel's globals when it first compiles it, so the decorator calls this
    at decoration (to refuse early) and again at the first call: a module constant filled
    in ``main()`` or a helper defined below the kernel are taken as they are then. Their
    values are part of the source key and of the generated modules' text (so of their file
    names): neither a checkpoint nor numba's disk cache made with other values is used.

    Raises
    ------
    BlockingError
        For a kernel that cannot be blocked, at the user's line.
    """
    writes = call_writes(namespace)
    plan = analyse(source, prange_names(func), writes)

    def closure_error(name: str, reason: str) -> Exception:
        node = names_loaded([*plan.prologue, plan.loop, *plan.epilogue]).get(name)
        return source.error(node, reason)

    closure = closure_values(func)
    check_closure(closure_error, plan.globals_used, closure)
    refuse_hidden_draws(source, plan, namespace)
    fn = ast.parse(source.text).body[0]
    assert isinstance(fn, ast.FunctionDef)
    written = written_parameters(fn, writes)
    helpers = helpers_fingerprint(plan.globals_used, func.__globals__, closure)
    phases = plan.phases if isinstance(plan, PhasedKernel) else (plan,)
    for phase in phases:
        if isinstance(phase, ReductionLoop):
            phase.exact = exact
    rendered = [render_module(p, numba_options, helpers, __version__) for p in phases]
    marks = ("exact",) if exact else ()  # other results: another run
    return Blocked(
        plan=plan,
        phases=phases,
        rendered=rendered,
        text=joined_text(phases, [r.text for r in rendered]),
        sampled=frozenset(a for a in plan.args if a not in written),
        source_key=digest(source.text, plan.kind, helpers, *marks),
    )
