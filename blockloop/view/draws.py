"""Draws from a global generator (numpy's, or Python's ``random``) that a kernel's source
does not spell out."""

from __future__ import annotations

import ast
import inspect
import random
import types
from collections.abc import Mapping

import numpy as np

from ..storage.fingerprint import is_dispatcher
from ..transform.checks import per_iteration_seeded
from ..transform.plans import LoopPlan, PhasedKernel
from ..transform.source import Source
from ..transform.syntax import dotted, names_stored, walk
from .helpers import helper_tree, resolve, scope_of
from .instances import instances_in

__all__ = ["refuse_hidden_draws"]


def refuse_hidden_draws(
    source: Source,
    plan: LoopPlan,
    scope: Mapping[str, object],
    callables: frozenset[str] = frozenset(),
) -> None:
    """Refuse draws from numpy's global generator that the source does not spell out.

    The transform refuses ``np.random.normal(...)`` in a loop by its text; this finds the
    same draws reached through another name (``from numpy.random import randn``) or
    through ``@njit`` helpers at any depth. In a loop they give other numbers for another
    thread count and after a resume; before a loop they need an ``np.random.seed(...)``
    first, as the spelled-out form does.

    ``callables`` are parameters given a function or a ``jitclass`` instance at this call
    (in ``scope`` under their names): calls of them or of their methods are looked into as
    calls of a helper.

    Raises
    ------
    BlockingError
        At the user's call that draws, naming the chain of helpers down to the draw.
    """
    fn = ast.parse(source.text).body[0]
    assert isinstance(fn, ast.FunctionDef)
    params = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    local = (set(names_stored([fn])) | params) - callables
    finder = _Draws(scope, local)
    for phase in plan.phases if isinstance(plan, PhasedKernel) else (plan,):
        where = "prange loop" if phase.kind == "reduction" else "time loop"
        seeded: set[str] = set()  # the generators seeded so far: numpy's, Python's
        for node in _calls(phase.prologue):
            chain = finder.of_call(node)
            generator = chain[-1].rpartition(".")[0] if chain else ""
            if chain and chain[-1].endswith("seed"):
                seeded.add(generator)
            elif chain and generator not in seeded:
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
            chain = finder.of_call(node)
            if chain and id(node) in reseeded and chain[-1].startswith("numpy.random."):
                chain = None  # after ``np.random.seed(h(i))``: a function of ``i``
            if chain:
                raise source.error(
                    node,
                    f"`{source.snippet(node)}` draws from per-thread generators in "
                    f"the {where} ({' -> '.join(chain)}): the numbers depend on the thread "
                    "count and start over after a resume. Use blockloop.random, whose draws "
                    "depend on a key and a counter only: `uniform(key(seed, 0), i)`, "
                    "`normal(...)`, `integers(...)`",
                )


def _calls(nodes: list) -> list[ast.Call]:
    return [n for n in walk(nodes) if isinstance(n, ast.Call)]


def _global_random(value: object, name: str) -> str | None:
    """What a global generator's function is called (``numpy.random.normal``, and
    ``random.random`` of Python's ``random`` module, which numba also draws from
    per-thread states), or None for anything else."""
    drawn = getattr(value, "__name__", name.split(".")[-1])
    owner = getattr(value, "__self__", None)
    if isinstance(owner, np.random.RandomState):
        return f"numpy.random.{drawn}"
    if isinstance(owner, random.Random):
        return f"random.{drawn}"
    module = getattr(value, "__module__", None) or ""
    if module.startswith("numpy.random") and callable(value) and not inspect.isclass(value):
        return f"numpy.random.{drawn}"
    return None


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
        value = resolve(self.scope, name)
        if value is None:
            return None
        drawn = _global_random(value, name)
        if drawn is not None:
            return [drawn]
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
        fn = helper_tree(func)
        if fn is None:
            return None
        scope = scope_of(func)  # a method's ``self`` resolves to its class's methods
        inner = _Draws(scope, set(names_stored([fn])) - instances_in(scope))
        inner.memo = self.memo
        for node in _calls(fn.body):
            chain = inner.of_call(node)
            if chain and not chain[-1].endswith(".seed"):
                self.memo[key] = chain
                return chain
        return None
