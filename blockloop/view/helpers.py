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
import dataclasses
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any

import numba

from .._errors import BlockingError
from ..storage.fingerprint import closure_values, is_dispatcher
from ..transform.aliases import Aliases
from ..transform.inner import inner_functions
from ..transform.source import Source, read_source
from ..transform.syntax import names_stored, parameters, walk
from ..transform.types import UNKNOWN, NameTypes
from ..transform.writes import NUMPY_WRITERS, CallWrites, no_helpers, outer_writes
from .instances import instances_in, method_scope, unrebound_arguments

__all__ = [
    "call_writes",
    "called_helpers",
    "handed_functions",
    "helper_tree",
    "helper_types",
    "numpy_functions",
    "only_called",
    "prange_names",
    "resolve",
    "scope_of",
    "ufunc_outputs",
    "with_inner_functions",
    "written_parameters",
]

_NOTHING: frozenset[int | str] = frozenset()


def call_writes(
    scope: Mapping[str, object], typed: Mapping[str, NameTypes] | None = None
) -> CallWrites:
    """The ``call_writes`` of a kernel whose names resolve in ``scope``.

    Parameters
    ----------
    scope : mapping
        The kernel's globals and closure values.
    typed : mapping, optional
        For helpers called by these names, the kinds of their names as the kernel calls
        them (``NameTypes.helpers``); these apply to the kernel's own calls only, and the
        helpers are read with what their own scope says where other helpers call them.

    Returns
    -------
    callable
        Dotted name to the positions and names of parameters the callee may write into,
        or None where unknown; its ``returns`` method says the same of the parameters the
        callee's result may refer to (a helper that returns an array it made: none).
    """
    known = {}
    for name, types_ in (typed or {}).items():
        value = resolve(scope, name)
        value = value.py_func if is_dispatcher(value) else value
        if value is not None:
            known[id(value)] = types_
    return _Resolver(scope, _Memos({}, {}, {}), known)


_Key = tuple[int, bool]  # a helper's ``id``, and whether it is read with the caller's types


@dataclasses.dataclass
class _Memos:
    """What the resolvers of one analysis share, by :data:`_Key`; None while a helper is
    being analysed (a recursive call: unknown)."""

    writes: dict[_Key, frozenset | None]  # the parameters a helper may write
    returned: dict[_Key, frozenset | None]  # the parameters its result may refer to
    parsed: dict[_Key, tuple[ast.FunctionDef, _Resolver, NameTypes] | None]  # read once


class _Resolver:
    def __init__(
        self,
        scope: Mapping[str, object],
        memos: _Memos,
        typed: Mapping[int, NameTypes] | None = None,
    ) -> None:
        self.scope = scope
        self.memos = memos
        self.typed = typed or {}  # by ``id``: the helpers this code's calls are typed for

    def _key(self, func: types.FunctionType) -> _Key:
        return id(func), id(func) in self.typed

    def __call__(self, name: str) -> frozenset[int | str] | None:
        return self.writes(name)

    def returns(self, name: str) -> frozenset[int | str] | None:
        """The parameters the result of the function ``name`` may refer to (None: any)."""
        value = resolve(self.scope, name)
        if is_dispatcher(value):
            value = value.py_func
        if not isinstance(value, types.FunctionType):
            return None  # a constructor keeps what it is given; anything else: unknown
        key, returned = self._key(value), self.memos.returned
        if key not in returned:
            returned[key] = None  # while recursing: unknown
            returned[key] = self._returned_by(value)
        return returned[key]

    def _returned_by(self, func: types.FunctionType) -> frozenset[int | str] | None:
        helper = self._helper(func)
        if helper is None:
            return None
        fn, inner, types_ = helper
        params = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args]]
        names = {*params, *(a.arg for a in fn.args.kwonlyargs)}
        info = Aliases(fn.body, names, types_, inner.returns)
        refers: set[str] = set()
        for node in walk(fn.body):
            if isinstance(node, ast.Return) and node.value is not None:
                refers |= info.sources(node.value)
        return frozenset({k for k, p in enumerate(params) if p in refers} | (refers & names))

    def _helper(
        self, func: types.FunctionType
    ) -> tuple[ast.FunctionDef, _Resolver, NameTypes] | None:
        """A helper's definition, a resolver of its scope and its names' types."""
        key, parsed = self._key(func), self.memos.parsed
        if key not in parsed:
            fn = helper_tree(func)
            scope = scope_of(func)
            types_ = helper_types(scope)
            if key[1]:  # typed for this code's calls; the helper's own calls are not
                types_ = dataclasses.replace(
                    self.typed[id(func)],
                    numpy_names=types_.numpy_names,
                    instances=types_.instances,
                )
            parsed[key] = None if fn is None else (fn, _Resolver(scope, self.memos), types_)
        return parsed[key]

    def writes(self, name: str) -> frozenset[int | str] | None:
        value = resolve(self.scope, name)
        return None if value is None else self.of(value)

    def of(self, value: object) -> frozenset[int | str] | None:
        if is_dispatcher(value):
            return self.of_function(value.py_func)
        if inspect.isclass(value):
            return _NOTHING  # a constructor (namedtuple, record) keeps what it is given
        outputs = ufunc_outputs(value)
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
        key, memo = self._key(func), self.memos.writes
        if key in memo:
            return memo[key]  # None while recursing: unknown, so every argument
        memo[key] = None
        helper = self._helper(func)
        if helper is not None:
            memo[key] = written_parameters(*helper)
        return memo[key]


def called_helpers(
    fn: ast.FunctionDef, scope: Mapping[str, object]
) -> dict[str, tuple[ast.FunctionDef, Any]]:
    """The ``@njit`` functions of ``scope`` that the kernel ``fn`` calls by name from its
    own statements and uses in no other way (not handed on, not called by a function
    defined in it): by name, their definition and dispatcher."""
    own = [s for s in fn.body if not isinstance(s, ast.FunctionDef)]
    bound = set(parameters(fn)) | set(names_stored(fn.body))
    called = {
        n.func.id for n in walk(own) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    found = {}
    for name in called - bound:
        value = scope.get(name)
        if is_dispatcher(value) and only_called(fn, name):
            tree = helper_tree(value.py_func)
            if tree is not None:
                found[name] = (tree, value)
    return found


def only_called(fn: ast.FunctionDef, name: str) -> bool:
    """Whether the kernel ``fn`` uses ``name`` only as the function of calls made by its
    own statements: never handed on as a value, nor used by a function defined in it."""
    own = [s for s in fn.body if not isinstance(s, ast.FunctionDef)]
    calls = sum(isinstance(n, ast.Call) and _named(n.func, name) for n in walk(own))
    return calls > 0 and calls == sum(_named(n, name) for n in ast.walk(fn))


def _named(node: ast.AST, name: str) -> bool:
    """Whether ``node`` is the name ``name``."""
    return isinstance(node, ast.Name) and node.id == name


def numpy_functions(scope: Mapping[str, object]) -> frozenset[str]:
    """The names in ``scope`` bound to NumPy's functions under their own names
    (``from numpy import zeros, atleast_2d``): calls of them are NumPy's calls."""
    return frozenset(
        name
        for name, value in scope.items()
        if callable(value)
        and not inspect.isclass(value)
        and (getattr(value, "__module__", None) or "").split(".")[0] == "numpy"
        and getattr(value, "__name__", None) == name
    )


def helper_tree(func: types.FunctionType) -> ast.FunctionDef | None:
    """The definition of a helper from its source, or None where it cannot be read."""
    try:
        tree = ast.parse(read_source(func).text)
    except (BlockingError, SyntaxError):
        return None
    fn = tree.body[0] if tree.body else None
    return fn if isinstance(fn, ast.FunctionDef) else None


def handed_functions(source: Source, arguments: Mapping[str, object]) -> dict[str, object]:
    """The ``@njit`` functions a call hands the kernel, by parameter name: those given to
    a parameter the kernel never rebinds (its calls are calls of that function)."""
    given = unrebound_arguments(source, arguments)
    return {name: value for name, value in given.items() if is_dispatcher(value)}


def scope_of(func: types.FunctionType) -> dict[str, object]:
    """The names a function's code resolves: its module's globals and its closure (and in
    a ``jitclass`` method, ``self`` as its class's methods)."""
    return {**func.__globals__, **closure_values(func), **method_scope(func)}


def helper_types(scope: Mapping[str, object]) -> NameTypes:
    """What a helper's analysis knows of its names' types, from its ``scope``: no typed
    view, but its NumPy functions and ``jitclass`` instances by name."""
    return dataclasses.replace(
        UNKNOWN, numpy_names=numpy_functions(scope), instances=instances_in(scope)
    )


def ufunc_outputs(value: object) -> frozenset[int | str] | None:
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
    scope = scope_of(func)  # type: ignore[arg-type]
    for name, value in scope.items():
        if value is numba.prange:
            names.add(name)
    return frozenset(names)


def resolve(scope: Mapping[str, object], name: str) -> object | None:
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


def with_inner_functions(source: Source, scope: Mapping[str, object]) -> dict[str, object]:
    """``scope`` and the functions defined in the kernel that blockloop compiles beside
    it (see :mod:`~blockloop.transform.inner`), as plain functions of the user's file,
    so that the analyses read their source as they read any helper's."""
    fn = ast.parse(source.text).body[0]
    assert isinstance(fn, ast.FunctionDef)
    found = inner_functions(fn, parameters(fn))
    if not found:
        return dict(scope)
    module = dict(scope)
    for inner in found:
        ast.increment_lineno(inner, source.first_line - 1)  # the user's lines, for getsource
        exec(compile(ast.Module([inner], []), source.filename, "exec"), module)
    return {**scope, **{f.name: module[f.name] for f in found}}


def written_parameters(
    fn: ast.FunctionDef, call_writes: CallWrites = no_helpers, types: NameTypes = UNKNOWN
) -> frozenset[int | str]:
    """The positions and names of ``fn``'s parameters that its body may write into."""
    params = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args]]
    kwonly = [a.arg for a in fn.args.kwonlyargs]
    outer = [*params, *kwonly]
    found: set[str] = set(outer_writes(fn.body, outer, call_writes=call_writes, types=types))
    # ``x *= 2`` (anywhere, a reduction into an argument too) writes an array argument in
    # place; outer_writes leaves such updates to the loop analysis, which calls them
    # reductions
    found |= {
        node.target.id
        for node in walk(fn.body)
        if isinstance(node, ast.AugAssign)
        and isinstance(node.target, ast.Name)
        and not types.plain(node.target.id)
    }
    out: set[int | str] = set()
    for k, name in enumerate(params):
        if name in found:
            out |= {k, name}
    out |= {name for name in kwonly if name in found}
    return frozenset(out)
