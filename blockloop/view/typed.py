"""numba's typed view of a kernel: the type of each of its names for one call's arguments.

At the first call the argument types are known, and numba's own front end and type
inference, run on the original kernel, say what each name is: a number, an array of
how many dimensions, or something that may refer to memory. Nothing is lowered or
compiled (helpers the kernel calls are compiled for their argument types, as the blocked
kernel's compile would do next). The analysis (:mod:`blockloop.transform.types`) then
decides with these answers where the syntax alone leaves a question open.

Where numba cannot type the kernel as it stands (a feature its front end does not take
this way, an argument it cannot type), the view is :data:`~blockloop.transform.types.UNKNOWN`
and the analysis keeps its conservative reading; the compile that follows reports a
real typing error the way numba does.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numba
from numba.core import compiler, cpu, typed_passes
from numba.core import types as nt
from numba.core.compiler_machinery import FunctionPass, register_pass
from numba.core.registry import cpu_target

from .. import config
from .._version import __version__
from ..storage.fingerprint import closure_values, digest, helpers_fingerprint
from ..transform.inner import inner_functions
from ..transform.source import Source
from ..transform.syntax import names_loaded, names_stored, parameters, walk
from ..transform.types import UNKNOWN, NameTypes
from .calls import alike, call_types
from .helpers import called_helpers, only_called, scope_of, with_inner_functions

__all__ = ["argument_types", "typed_view"]

log = logging.getLogger("blockloop")

_FORMAT = "3: with the types of the functions the kernel calls"
_USER_NAME = re.compile(r"([A-Za-z_]\w*)(?:\.\d+)?")  # ``t``, or its SSA version ``t.2``
# types whose values neither hold nor refer to array memory
_PLAIN = (
    nt.Number,
    nt.Boolean,
    nt.NPDatetime,
    nt.NPTimedelta,
    nt.NoneType,
    nt.Omitted,
    nt.RangeType,
    nt.RangeIteratorType,
    nt.UnicodeType,
    nt.Literal,
    nt.EnumMember,
    nt.Module,
    nt.Function,
    nt.Dispatcher,
    nt.NumberClass,
    nt.DType,
)


@register_pass(mutates_CFG=False, analysis_only=True)
class _KeepTypes(FunctionPass):
    """The last pass of the typing pipeline: hand the type map back as the result."""

    _name = "blockloop_keep_types"

    def __init__(self) -> None:
        FunctionPass.__init__(self)

    def run_pass(self, state) -> bool:  # type: ignore[no-untyped-def]
        state.cr = state.typemap
        return False


class _TypeOnly(compiler.CompilerBase):
    """numba's untyped passes and type inference, and nothing after them."""

    def define_pipelines(self) -> list:
        pm = compiler.DefaultPassBuilder.define_untyped_pipeline(self.state)
        pm.add_pass(typed_passes.NopythonTypeInference, "nopython frontend")
        pm.add_pass(_KeepTypes, "blockloop: keep the types")
        pm.finalize()
        return [pm]


def typed_view(
    func: Callable, source: Source, values: Sequence[object], numba_options: dict[str, object]
) -> NameTypes:
    """numba's types of ``func``'s names for a call with ``values``.

    The answer is kept in the cache directory beside the generated modules, under a key
    of everything it depends on (the kernel's source, its helpers and globals, the
    argument types, the numba and blockloop versions): typing the kernel compiles its
    helpers, which a process that loads the blocked kernel from numba's cache does not
    otherwise need.

    Parameters
    ----------
    func : callable
        The kernel's Python function (not its dispatcher).
    source : Source
        Its source.
    values : sequence
        The call's arguments, in the order of ``func``'s parameters.
    numba_options : dict
        The kernel's ``@njit`` options (``locals`` and ``parallel`` matter to typing).

    Returns
    -------
    NameTypes
        The kinds of the kernel's own names, or :data:`UNKNOWN` where numba cannot type
        the kernel this way.
    """
    try:
        argtypes = tuple(numba.typeof(v) for v in values)
    except (ValueError, TypeError) as exc:
        log.debug("no typed view of %s: %s", getattr(func, "__name__", func), exc)
        return UNKNOWN
    signature = ", ".join(str(t) for t in argtypes) or "()"
    path = _cached_at(func, source, signature, numba_options)
    kept = _load(path)
    if kept is not None:
        return kept
    types = _infer(func, source, argtypes, numba_options, signature)
    if types.typed:
        _keep(path, types)
    return types


def argument_types(values: Sequence[object]) -> tuple:
    """What numba compiles a call for: its arguments' numba types (a Python type where
    numba has none)."""
    out: list[object] = []
    for value in values:
        try:
            out.append(numba.typeof(value))
        except (ValueError, TypeError):
            out.append(type(value))
    return tuple(out)


def _infer(
    func: Callable,
    source: Source,
    argtypes: tuple,
    numba_options: dict[str, object],
    signature: str,
) -> NameTypes:
    """Run numba's front end and type inference on ``func`` for ``argtypes``, and on the
    functions it calls for the types of their calls (see :func:`_called_types`)."""
    local_types: Any = numba_options.get("locals") or {}
    typemap = _typemap(func, argtypes, numba_options.get("parallel", True), local_types)
    if typemap is None:
        return UNKNOWN
    kinds = _kinds(typemap.items(), signature)
    return dataclasses.replace(kinds, helpers=_called_types(func, source, typemap))


def _typemap(func: Callable, argtypes: tuple, parallel: object, local_types: dict) -> dict | None:
    """numba's type of each of ``func``'s variables for ``argtypes``, or None where numba
    cannot type it so."""
    typing, target = cpu_target.typing_context, cpu_target.target_context
    typing.refresh()
    target.refresh()
    flags: Any = compiler.Flags()
    flags.nrt = True
    flags.auto_parallel = cpu.ParallelOptions(parallel)
    pipeline = _TypeOnly(typing, target, None, argtypes, None, flags, local_types)
    try:
        return pipeline.compile_extra(func)
    except Exception as exc:  # numba's own errors; the compile after this reports them
        log.debug("no typed view of %s: %s", getattr(func, "__name__", func), exc)
        return None


def _called_types(
    func: Callable, source: Source, typemap: dict[str, nt.Type]
) -> dict[str, NameTypes]:
    """The types of the names of each function the kernel calls from its own statements
    (one defined in it that blockloop compiles beside it, see
    :mod:`~blockloop.transform.inner`, or an ``@njit`` function of its module, see
    :func:`~blockloop.view.helpers.called_helpers`), for the argument types of all its
    calls: numba types each call's arguments in the kernel's type map (a name the kernel
    binds, of one type in every binding; a constant; an element or a view of such an
    array), and the function's body for them; the answers of all calls are merged, as
    those of a name's bindings are. A function called with an argument of no single type,
    or used other than by a direct call of the kernel's own body, is left out (its
    analysis reads the syntax alone)."""
    fn = ast.parse(source.text).body[0]
    assert isinstance(fn, ast.FunctionDef)
    own_statements = [s for s in fn.body if not isinstance(s, ast.FunctionDef)]
    own = list(walk(own_statements))
    if any(isinstance(n, (ast.FunctionDef, ast.Lambda)) for n in own):
        return {}  # a call made in a nested function gives its own names, not the kernel's
    namespace = with_inner_functions(source, scope_of(func))  # type: ignore[arg-type]
    called: dict[str, tuple[ast.FunctionDef, Any, dict]] = {
        name: (tree, value, value.targetoptions)
        for name, (tree, value) in called_helpers(fn, namespace).items()
    }
    for inner in inner_functions(fn, parameters(fn)):
        if only_called(fn, inner.name):
            called[inner.name] = (inner, namespace[inner.name], {})
    if not called:
        return {}
    # the kernel's own names only: a global handed on is not in the type map, where an
    # inlined function's local of that name may be
    kernel_names = set(parameters(fn)) | set(names_stored(own_statements))
    kernel_types: dict[str, set[nt.Type]] = {}
    for name, ty in _user_names(typemap.items()):
        if name in kernel_names:
            kernel_types.setdefault(name, set()).add(ty)
    out = {}
    for name, (helper, function, options) in called.items():
        calls = [n for n in own if isinstance(n, ast.Call) and _names(n.func, name)]
        argtypes = [call_types(helper, call, kernel_types) for call in calls]
        if all(t is not None for t in argtypes):
            typemaps = _typemaps(function, options, set(argtypes))  # type: ignore[arg-type]
            if typemaps is not None:
                items = [item for found in typemaps for item in found.items()]
                out[name] = _kinds(items, f"{name}, as the kernel calls it")
    return out


def _typemaps(function: Any, options: dict, calls: set[tuple]) -> list[dict] | None:
    """numba's type maps of ``function`` for the argument types of ``calls``, each typed
    once, or None where one cannot be typed so. Typing the kernel compiled an ``@njit``
    function for these calls: where every signature it was compiled for in this process
    is one of them (arrays alike in dtype and dimensions), and numba kept their types (not
    loaded from its cache), those are the answers."""
    overloads = getattr(function, "overloads", {})
    found = [getattr(cres.type_annotation, "typemap", None) for cres in overloads.values()]
    if (
        found
        and all(isinstance(typemap, dict) for typemap in found)
        and all(any(alike(sig, t) for t in calls) for sig in overloads)
        and all(any(alike(sig, t) for sig in overloads) for t in calls)
    ):
        return found  # type: ignore[return-value]
    parallel, local_types = options.get("parallel", False), options.get("locals") or {}
    py_func = getattr(function, "py_func", function)
    typemaps = [_typemap(py_func, argtypes, parallel, local_types) for argtypes in calls]
    return None if any(t is None for t in typemaps) else typemaps  # type: ignore[return-value]


def _names(node: ast.AST, name: str) -> bool:
    """Whether ``node`` reads the name ``name``."""
    return isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)


def _cached_at(
    func: Callable, source: Source, signature: str, numba_options: dict[str, object]
) -> os.PathLike[str]:
    """Where the typed view of ``func`` for ``signature`` is kept."""
    fn = ast.parse(source.text).body[0]
    assert isinstance(fn, ast.FunctionDef)
    used = set(names_loaded(fn.body)) - set(names_stored(fn.body)) - set(parameters(fn))
    globals_ = getattr(func, "__globals__", {})
    helpers = helpers_fingerprint(used, globals_, closure_values(func))  # type: ignore[arg-type]
    options = repr(sorted((k, repr(v)) for k, v in numba_options.items()))
    key = digest(source.text, helpers, signature, options, numba.__version__, __version__, _FORMAT)
    return config.cache_dir() / "types" / f"{fn.name}_{key[:32]}.json"


def _load(path: os.PathLike[str]) -> NameTypes | None:
    """A kept typed view (JSON: names and plain values only), or None."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        helpers = {str(k): _from_json(v) for k, v in data["helpers"].items()}
        return dataclasses.replace(_from_json(data), helpers=helpers)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _from_json(data: dict) -> NameTypes:
    memory = {str(k): bool(v) for k, v in data["memory"].items()}
    ndim = {str(k): int(v) for k, v in data["ndim"].items()}
    lists = frozenset(str(n) for n in data["lists"])
    return NameTypes(memory=memory, ndim=ndim, signature=str(data["signature"]), lists=lists)


def _to_json(types: NameTypes) -> dict:
    return {
        "memory": dict(types.memory),
        "ndim": dict(types.ndim),
        "signature": types.signature,
        "lists": sorted(types.lists),
    }


def _keep(path: os.PathLike[str], types: NameTypes) -> None:
    """Keep a typed view (atomically; a cache that cannot be written is no error)."""
    data = {**_to_json(types), "helpers": {k: _to_json(v) for k, v in types.helpers.items()}}
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("cannot keep the typed view in %s: %s", directory, exc)


def _kinds(typemap: Iterable[tuple[str, nt.Type]], signature: str) -> NameTypes:
    """The kinds of the names of one or more type maps' ``(name, type)`` items."""
    memory: dict[str, bool] = {}
    dims: dict[str, set[int | None]] = {}
    listed: dict[str, bool] = {}
    for name, ty in _user_names(typemap):
        memory[name] = memory.get(name, False) or _holds_memory(ty)
        listed[name] = listed.get(name, True) and isinstance(ty, (nt.List, nt.ListType))
        plain_array = isinstance(ty, nt.Array) and isinstance(ty.dtype, _PLAIN)
        dims.setdefault(name, set()).add(
            ty.ndim if isinstance(ty, nt.Array) and plain_array else None
        )
    ndim = {n: k for n, d in dims.items() if len(d) == 1 for k in d if k is not None}
    lists = frozenset(n for n, all_lists in listed.items() if all_lists)
    return NameTypes(memory=memory, ndim=ndim, signature=signature or "()", lists=lists)


def _user_names(items: Iterable[tuple[str, nt.Type]]) -> Iterator[tuple[str, nt.Type]]:
    """The user's name of each typed variable (``t`` of its SSA version ``t.2``), leaving
    out numba's temporaries (``$12load_global``) and ``arg.x``."""
    for key, ty in items:
        match = _USER_NAME.fullmatch(key)
        if match is not None:
            yield match.group(1), ty


def _holds_memory(ty: nt.Type) -> bool:
    """Whether a value of numba type ``ty`` may hold or refer to array memory."""
    if isinstance(ty, nt.Optional):
        return _holds_memory(ty.type)
    if isinstance(ty, nt.BaseTuple):
        return any(_holds_memory(t) for t in ty)  # type: ignore[attr-defined]
    return not isinstance(ty, _PLAIN)
