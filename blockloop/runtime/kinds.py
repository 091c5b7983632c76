"""What every loop kind provides to the driver, and how it calls the generated functions.

A :class:`LoopKind` is one loop of a kernel seen by the driver: it runs the prologue, says
how many *units* (tiles of a reduction, steps of a sequential loop) there are, advances
them, snapshots and restores its state, and runs the epilogue. The driver knows nothing
else about it, so a kernel made of several loops can later be a sequence of kinds.
"""

from __future__ import annotations

import functools
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numba
import numpy as np
from numba.core import types as nbtypes
from numba.np.numpy_support import as_dtype

from ..report import Report
from ..storage.fingerprint import is_dispatcher, jitclass_type
from ..storage.manifest import Manifest
from ..storage.pieces import PieceSet
from ..storage.store import Checkpoint
from ..transform import LoopPlan

__all__ = ["Generated", "LoopKind", "retype"]


@functools.lru_cache(maxsize=64)
def _scalar_type(nbtype: Any) -> type:
    return as_dtype(nbtype).type


def retype(value: object, nbtype: object) -> object:
    """Give numba-returned scalars back their exact dtype (numba boxes float32 as float)."""
    if isinstance(nbtype, nbtypes.BaseTuple):
        inner: Any = nbtype
        return tuple(retype(v, t) for v, t in zip(value, inner.types, strict=False))  # type: ignore[call-overload]
    if isinstance(nbtype, (nbtypes.Number, nbtypes.Boolean)) and not isinstance(value, np.ndarray):
        return _scalar_type(nbtype)(value)
    return value


class Generated:
    """The compiled blocked module; its functions are called by parameter name.

    Parameters
    ----------
    module : module
        The imported generated module.
    signatures : mapping
        Each generated function's parameter names, in order (from the renderer).
    """

    def __init__(self, module: Any, signatures: Mapping[str, tuple[str, ...]]) -> None:
        self.module = module
        self.signatures = signatures
        self.dispatch: float | None = None  # seconds of an empty parallel call, once timed
        # numba's argument types by a cheap key of the values (dtype, ndim, flags, ...):
        # typing each argument again costs a few microseconds a call
        self._argtypes: dict[tuple, tuple] = {}
        # the inputs an inspection pass found free of conflicts (see ReductionKind.inspect)
        self.inspected: dict[tuple, None] = {}

    def argtypes(self, function: str, args: tuple) -> tuple:
        """numba's types of ``args`` (as its dispatcher would type them for ``function``)."""
        dispatcher = getattr(self.module, function)
        key = _type_key(args)
        if key is None:
            return tuple(dispatcher.typeof_pyval(a) for a in args)
        found = self._argtypes.get((function, key))
        if found is None:
            found = tuple(dispatcher.typeof_pyval(a) for a in args)
            self._argtypes[(function, key)] = found
        return found

    def compiled(self, function: str, values: Mapping[str, object]) -> bool:
        """Whether ``function`` is compiled for the types of these values already."""
        dispatcher = getattr(self.module, function)
        return self.argtypes(function, self.arguments(function, values)) in dispatcher.overloads

    def has(self, function: str) -> bool:
        """Whether the module defines ``function``."""
        return function in self.signatures

    def arguments(self, function: str, values: Mapping[str, object]) -> tuple:
        """``values`` in the order of ``function``'s parameters."""
        return tuple(values[name] for name in self.signatures[function])

    def __call__(self, function: str, values: Mapping[str, object]) -> Any:
        """Call ``function`` with its parameters taken from ``values`` by name."""
        return getattr(self.module, function)(*self.arguments(function, values))

    def typed(
        self, function: str, values: Mapping[str, object], types: dict[str, Any] | None = None
    ) -> Any:
        """Call ``function`` and give its scalar results their exact dtypes.

        ``types`` remembers the return type for the next calls with the same argument
        types (the steps of one run).
        """
        args = self.arguments(function, values)
        dispatcher = getattr(self.module, function)
        if any(is_dispatcher(a) or jitclass_type(a) is not None for a in args):
            with warnings.catch_warnings():  # a function or jitclass handed on by the
                # generated code, not the user's: numba cannot cache a function given one
                warnings.simplefilter("ignore", numba.NumbaExperimentalFeatureWarning)
                warnings.filterwarnings("ignore", "Cannot cache compiled function")
                out = dispatcher(*args)
        else:
            out = dispatcher(*args)
        known = None if types is None else types.get(function)
        if known is None:
            known = dispatcher.overloads[self.argtypes(function, args)].signature.return_type
            if types is not None:
                types[function] = known
        return retype(out, known)


_INT64 = (-(1 << 63), 1 << 63)


def _type_key(args: tuple) -> tuple | None:
    """A key that determines numba's types of ``args``, or None where it cannot be cheap
    (tuples, records, array subclasses, ...: those are typed by numba every call)."""
    key: list[object] = []
    for a in args:
        kind = type(a)
        if kind is np.ndarray:
            flags = a.flags
            layout = (flags.c_contiguous, flags.f_contiguous, flags.writeable, flags.aligned)
            key.append((a.dtype, a.ndim, *layout))
        elif kind is int:
            key.append((int, _INT64[0] <= a < _INT64[1]))
        elif kind is tuple:  # a plain tuple, not a namedtuple
            inner = _type_key(a)
            if inner is None:
                return None
            key.append((tuple, inner))
        elif kind in (float, bool, complex):
            key.append(kind)
        elif isinstance(a, np.number | np.bool_):
            key.append(a.dtype)
        else:
            return None
    return tuple(key)


class LoopKind(ABC):
    """One loop of a kernel, as the driver sees it.

    Subclasses set :attr:`unit` and implement the abstract steps. After :meth:`prologue`,
    :attr:`total` is the number of units and :attr:`carry` what the prologue handed on.
    """

    unit: ClassVar[str] = "unit"
    bounded: bool = True  # the number of units is known after the prologue
    asynchronous: bool = False  # interval checkpoints written in the background
    copy_budget: int | None = None  # bytes a background write may copy (None: the default)
    parallel_units: ClassVar[bool] = True  # units run side by side (tiles), not in turn

    def __init__(self, plan: LoopPlan, generated: Generated, args: tuple, report: Report) -> None:
        self.plan = plan
        self.gen = generated
        self.args = args
        self.report = report
        self.total = 0
        self.carry: dict[str, object] = {}
        self.bounds: tuple[int, int, int] = (0, 0, 1)

    def _unboxed(self, values: Mapping[str, object]) -> Exception:
        """The error for a prologue whose results numba cannot hand back to Python: a
        value made before the loop and used in it that is not an array, number or tuple
        (a range object, a generator). Names it at the user's line where it can."""
        gen, src = self.gen, self.plan.source
        args = gen.argtypes("_bl_prologue", gen.arguments("_bl_prologue", values))
        overload = gen.module._bl_prologue.overloads.get(args)
        members = getattr(overload.signature.return_type, "types", ()) if overload else ()
        kinds = getattr(members[0], "types", ()) if members else ()
        odd = [n for n, t in zip(self.plan.carry, kinds, strict=False)
               if isinstance(t, (numba.types.RangeType, numba.types.IteratorType))]  # fmt: skip
        what = f"`{odd[0]}`, " if odd else "a value "
        return TypeError(
            f"{src.filename}, line {self.plan.line}: kernel `{self.plan.name}` makes {what}"
            "before its loop and uses it in the loop, and numba cannot hand such a value "
            "(a range or an iterator) from one compiled function to the next; make it inside "
            "the loop where it is used"
        )

    def call_prologue(self) -> tuple:
        """Run the user's prologue; return the values it hands to the loop.

        Sets :attr:`carry` and :attr:`bounds`. Numba typing errors name the user's kernel
        and line.
        """
        values = {**dict(zip(self.plan.args, self.args, strict=True)), "_bl_probe": 0}
        try:
            carry, loop_values, bounds = self.gen.typed("_bl_prologue", values)
        except numba.core.errors.TypingError as exc:
            src = self.plan.source
            raise TypeError(
                f"{src.filename}, line {self.plan.line}: numba cannot compile kernel "
                f"`{self.plan.name}` for these argument types (the same error would stop the "
                f"unblocked kernel): {str(exc).splitlines()[0]} -- see the chained error for "
                "the statement"
            ) from exc
        except SystemError as exc:  # a value numba cannot return to Python
            raise self._unboxed(values) from exc
        self.carry = dict(zip(self.plan.carry, carry, strict=False))
        # an argument the prologue does not rebind goes on as the caller's object itself:
        # numba hands a namedtuple back as a plain tuple, an array as a new view
        rebound = self.plan.prologue_binds
        for name, value in zip(self.plan.args, self.args, strict=True):
            if name in self.carry and name not in rebound:
                self.carry[name] = value
        self.bounds = tuple(int(b) for b in bounds)  # type: ignore[assignment]
        if self.bounds[2] == 0:
            raise ValueError(f"{self.plan.name}: the loop's step must not be zero")
        return loop_values

    @abstractmethod
    def prologue(self) -> dict[str, Any]:
        """Run the prologue and size the loop; return the facts the run's identity records."""

    def reset(self) -> None:  # noqa: B027 - most kinds have nothing to reset
        """Set the state to the loop's start (before a restore, or for a fresh run)."""

    @abstractmethod
    def restore(self, ckpt: Checkpoint, done: int) -> None:
        """Put the state saved in ``ckpt`` (``done`` units in) back.

        Raises
        ------
        CheckpointError
            If the saved state does not fit this run.
        """

    @abstractmethod
    def allocate(self, threads: int) -> int:
        """Prepare per-chunk buffers; return the most units one chunk may hold."""

    def ready(self) -> bool:
        """Whether the loop's chunk function is compiled for this call's types already."""
        return False

    @abstractmethod
    def advance(self, first: int, count: int) -> None:
        """Compute units ``first .. first + count`` (``count == 0`` only compiles)."""

    @abstractmethod
    def snapshot(self, done: int, copy: bool) -> tuple[dict[str, np.ndarray], dict | None]:
        """The arrays to save after ``done`` units, and the sequential ``bind`` map (or
        None); ``copy`` detaches the arrays from the live state (a background write)."""

    @abstractmethod
    def finish(self, done: int) -> object:
        """Complete the loop's result and run the epilogue; the kernel's return value."""

    def epilogue(self, values: dict[str, object]) -> object:
        """Run the statements after the loop on ``values``; the kernel's result, or (in a
        phase of a kernel with several) the values handed on to the next phase, with
        their exact dtypes."""
        if not self.gen.has("_bl_epilogue"):
            return None
        if self.plan.hands_on:
            return self.gen.typed("_bl_epilogue", values)
        return self.gen("_bl_epilogue", values)

    def pieces(self, done: int, copy: bool) -> tuple[dict[str, np.ndarray], dict[str, PieceSet]]:
        """Arrays saved in pieces: the new entries to write after ``done`` units, and each
        array's piece set (none for most kinds)."""
        return {}, {}

    def committed(self, manifest: Manifest) -> None:  # noqa: B027 - most kinds keep nothing
        """``manifest`` is durable: what its pieces hold need not be written again."""

    def copies(self, done: int) -> bool:
        """Whether an interval checkpoint copies the state for the background writer: only
        within the copy budget, max(64 MiB, 10 % of the state) unless set. A larger state
        is written synchronously from the live arrays, so that memory stays within plain
        numba's plus the budget."""
        if not self.asynchronous:
            return False
        size = self.state_bytes(done)
        budget = self.copy_budget if self.copy_budget is not None else max(64 << 20, size // 10)
        return size <= budget

    def state_bytes(self, done: int) -> int:
        """Bytes one checkpoint holds (about)."""
        arrays, _ = self.snapshot(done, copy=False)
        return sum(a.nbytes for a in arrays.values())
