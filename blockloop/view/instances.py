"""``jitclass`` instances handed to a kernel: their methods, seen as helpers.

A call ``csr.row(i)`` of a method of a ``jitclass`` instance runs the method's Python
source with ``self`` bound to the instance: for the analyses it is the helper
``row(csr, i)``, whose first parameter is the receiver. An instance given to a parameter
the kernel never rebinds is put in the analyses' scope as its :class:`Methods`, so the
dotted name ``csr.row`` resolves to the method's function, and inside a method ``self``
resolves the same way (``self.extent(i)``). What a method writes, returns and draws is
then found as for any ``@njit`` helper.
"""

from __future__ import annotations

import ast
import types
from collections.abc import Mapping

from ..storage.fingerprint import jitclass_type
from ..transform.aliases import CallWrites
from ..transform.source import Source
from ..transform.syntax import names_stored, parameters
from ..transform.types import NameTypes
from ..transform.writes import outer_writes

__all__ = [
    "Methods",
    "instance_arguments",
    "instances_in",
    "method_scope",
    "refuse_written_instances",
    "unrebound_arguments",
]


class Methods:
    """The methods of one ``jitclass``, as attributes: each its Python function."""

    def __init__(self, name: str, functions: Mapping[str, types.FunctionType]) -> None:
        self.name = name
        self.functions = dict(functions)
        for function in self.functions.values():
            _OWNERS[function] = self

    def __getattr__(self, attr: str) -> types.FunctionType:
        try:
            return self.__dict__["functions"][attr]
        except KeyError:
            raise AttributeError(attr) from None

    def __repr__(self) -> str:
        return f"<methods of jitclass {self.name}>"


_OWNERS: dict[types.FunctionType, Methods] = {}  # each method's class, by its function
_BY_CLASS: dict[object, Methods] = {}  # by the class type itself (an id could be reused)


def _methods(value: object) -> Methods | None:
    class_type = jitclass_type(value)
    if class_type is None:
        return None
    key = class_type
    if key not in _BY_CLASS:
        functions = {
            name: f
            for name, f in class_type.methods.items()
            if isinstance(f, types.FunctionType) and not name.startswith("__")
        }
        _BY_CLASS[key] = Methods(class_type.class_name, functions)
    return _BY_CLASS[key]


def unrebound_arguments(source: Source, arguments: Mapping[str, object]) -> dict[str, object]:
    """The values a call gives the parameters the kernel never rebinds: each such name
    stands for its value everywhere in the kernel."""
    fn = ast.parse(source.text).body[0]
    assert isinstance(fn, ast.FunctionDef)
    rebound = set(names_stored(fn.body))
    params = set(parameters(fn)) - rebound
    return {name: value for name, value in arguments.items() if name in params}


def instance_arguments(source: Source, arguments: Mapping[str, object]) -> dict[str, Methods]:
    """The ``jitclass`` instances a call hands the kernel, by parameter name (those the
    kernel never rebinds), each as the :class:`Methods` of its class."""
    found = {}
    for name, value in unrebound_arguments(source, arguments).items():
        methods = _methods(value)
        if methods is not None:
            found[name] = methods
    return found


def instances_in(scope: Mapping[str, object]) -> frozenset[str]:
    """The names in ``scope`` that stand for a ``jitclass`` instance."""
    return frozenset(name for name, value in scope.items() if isinstance(value, Methods))


def method_scope(func: types.FunctionType) -> dict[str, Methods]:
    """For a ``jitclass`` method, its receiver's name (``self``) bound to its class's
    methods; empty for any other function."""
    owner = _OWNERS.get(func)
    code = func.__code__
    if owner is None or code.co_argcount == 0:
        return {}
    return {code.co_varnames[0]: owner}


def refuse_written_instances(
    source: Source, instances: Mapping[str, Methods], call_writes: CallWrites, types: NameTypes
) -> None:
    """Refuse a kernel that writes into a ``jitclass`` instance it is given: blockloop
    saves and restores arrays, and cannot put an instance's fields back on a resume.

    Raises
    ------
    BlockingError
        At the user's line of the first write (``csr.values[j] = v``, or a method that
        writes ``self``).
    """
    if not instances:
        return
    fn = ast.parse(source.text).body[0]
    assert isinstance(fn, ast.FunctionDef)
    found = outer_writes(fn.body, parameters(fn), call_writes=call_writes, types=types)
    for name in sorted(instances):
        write = found.get(name)
        if write is not None:
            raise source.error(
                write.node,
                f"`{source.snippet(write.node)}` writes into the fields of `{name}`, an "
                f"instance of the jitclass {instances[name].name}{write.how}: blockloop saves "
                "and restores NumPy arrays, not a jitclass's fields, so a resumed call would "
                "start from changed values. Pass the arrays the kernel writes as arguments "
                "of their own (a jitclass instance the kernel only reads is accepted)",
            )
