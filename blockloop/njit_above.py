"""``@njit`` above ``@checkpointed_loop``: a real function numba can compile.

numba decorates only plain Python functions, so for a plain function the decorator
returns one: a function with the kernel's own parameters whose body calls the blocked
kernel. Called from Python, it runs the kernel directly. Compiled by an ``@njit`` above
it, the call becomes an object-mode block (its result typed from the original kernel for
the argument types) that runs the very same blocked kernel, so the run is checkpointed,
resumable and bit-identical either way; signals and exceptions come through unchanged.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import types
from typing import Any, Protocol

import numba
from numba.core import types as nbtypes
from numba.extending import overload

from . import config


class CheckpointedKernel(Protocol):
    """What this module uses of :class:`blockloop.kernel.CheckpointedKernel` (which
    imports this module, so is not imported here)."""

    py_func: types.FunctionType
    plan: Any
    original: Any

    @property
    def last_report(self) -> object: ...

    def _run(self, values: tuple) -> object: ...


__all__ = ["LastReport", "as_function"]

# what the function carries over from the kernel object (``last_report`` is kept current)
_ATTRIBUTES = ("blocked_source", "plan", "original", "options", "run_dir", "run_key")


def as_function(kernel: CheckpointedKernel) -> types.FunctionType:
    """A plain function that runs ``kernel`` from Python and from numba-compiled code."""
    func = kernel.py_func
    params = list(kernel.plan.args)

    def run(*args: object) -> object:  # every parameter, positionally
        if config.disabled():
            positional, keywords = _split(func, args)
            return kernel.original(*positional, **keywords)
        return kernel._run(args)

    @overload(run, prefer_literal=False)
    def _typed(*args):  # numba compares its signature with the implementations'
        signature = tuple(args)
        original = kernel.original
        original.compile(signature)
        rtype = original.overloads[signature].signature.return_type
        if rtype == nbtypes.none:

            def impl_none(*args):  # pragma: no cover -- compiled by numba
                with numba.objmode():
                    run(*args)

            return impl_none

        def impl(*args):  # pragma: no cover -- compiled by numba
            with numba.objmode(result=rtype):
                result = run(*args)
            return result

        return impl

    namespace = {"_bl_run": run}
    text = f"def {func.__name__}{_bare(func)}:\n    return _bl_run({', '.join(params)})\n"
    filename = f"<blockloop {func.__qualname__}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    exec(compile(text, filename, "exec"), namespace)
    stub: Any = namespace[func.__name__]
    stub.__defaults__ = func.__defaults__
    stub.__kwdefaults__ = func.__kwdefaults__
    functools.update_wrapper(stub, func, updated=())
    del stub.__wrapped__  # numba and inspect must see this function, not the original
    for name in _ATTRIBUTES:
        setattr(stub, name, getattr(kernel, name))
    # numba's dispatcher copies the function's attributes when it wraps it: a shared view
    # of the kernel's report keeps ``last_report`` current on both
    stub.last_report = LastReport(kernel)
    stub.__blockloop_kernel__ = kernel
    return stub


def _bare(func: types.FunctionType) -> str:
    """``func``'s parameter list without defaults or annotations: ``(a, /, b, *, c)``."""
    sig = inspect.signature(func)
    plain = [p.replace(default=p.empty, annotation=p.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=plain, return_annotation=sig.empty))


def _split(func: types.FunctionType, values: tuple) -> tuple[tuple, dict[str, object]]:
    """``values`` (one per parameter, in order) as ``func``'s positional and keyword args."""
    kinds = [p.kind for p in inspect.signature(func).parameters.values()]
    names = list(inspect.signature(func).parameters)
    args = tuple(
        v for k, v in zip(kinds, values, strict=True) if k != inspect.Parameter.KEYWORD_ONLY
    )
    kwargs = {
        n: v
        for n, k, v in zip(names, kinds, values, strict=True)
        if k == inspect.Parameter.KEYWORD_ONLY
    }
    return args, kwargs


class LastReport:
    """The kernel's current ``last_report``, seen through one shared object.

    Reads its attributes (``.tiles``, ``.complete``, ...), prints like it, and is false
    before the first call.
    """

    def __init__(self, kernel: CheckpointedKernel) -> None:
        self._kernel = kernel

    @property
    def report(self) -> object:
        """The :class:`~blockloop.Report` itself (None before the first call)."""
        return self._kernel.last_report

    def __getattr__(self, name: str) -> object:
        report = self._kernel.last_report
        if report is None:
            raise AttributeError(f"{name}: the kernel has not been called yet")
        return getattr(report, name)

    def __bool__(self) -> bool:
        return self._kernel.last_report is not None

    def __str__(self) -> str:
        return str(self._kernel.last_report)

    def __repr__(self) -> str:
        return repr(self._kernel.last_report)
