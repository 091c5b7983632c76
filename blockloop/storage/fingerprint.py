"""Fingerprints: what makes a run the same run, and a generated module the same module.

A run is one kernel source, the sources of the helper functions and the values of the
module constants it uses, and one set of arguments (dtype, shape and content). Hashes are
xxh3-128, fast enough to hash arguments of many GB.

Hashing every argument before the first chunk would double the cost of a memory-bound
kernel, which reads its data about once. So a run is found by a cheap key, in which a large
array the kernel never writes is described by its dtype, shape and a sample of its content;
the full hash of such arrays (:class:`Content`) is computed, with every core, only when it is
needed: before any checkpoint is trusted, and before the first one is written.
"""

from __future__ import annotations

import builtins
import inspect
import os
import re
import sys
import threading
import types
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeGuard

import numpy as np
import xxhash

__all__ = [
    "HASH_RATE",
    "SAMPLE_ABOVE",
    "Content",
    "args_fingerprint",
    "array_hash",
    "arrays_in",
    "check_closure",
    "closure_values",
    "describe_arg",
    "digest",
    "helpers_fingerprint",
    "is_dispatcher",
    "jitclass_type",
]


def digest(*parts: str | bytes) -> str:
    """xxh3-128 hex digest of the concatenated parts (each length-prefixed)."""
    h = xxhash.xxh3_128()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def array_hash(array: np.ndarray) -> str:
    """xxh3-64 of an array's bytes in C order (copies only non-contiguous arrays)."""
    return xxhash.xxh3_64_hexdigest(byte_view(np.ascontiguousarray(array)))


def byte_view(array: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous array, without a copy."""
    flat: Any = array.reshape(-1)
    return memoryview(flat).cast("B")


SAMPLE_ABOVE = 1 << 24
"""Arrays larger than this (bytes) that a kernel never writes are sampled in the run key."""
SAMPLE_BLOCKS = 256
SAMPLE_BLOCK = 4096
HASH_RATE = 4e9
"""Bytes per second that :class:`Content` hashes at least (one core does about 15e9)."""
_PIECE = 1 << 26  # the full hash of a large array is the digest of its 64 MiB pieces' hashes


def sample_hash(array: np.ndarray) -> str:
    """xxh3-64 of ``SAMPLE_BLOCKS`` blocks of ``SAMPLE_BLOCK`` bytes spread evenly over a
    C-contiguous array (the first and the last included)."""
    data = byte_view(array)
    size = len(data)
    h = xxhash.xxh3_64()
    for k in range(SAMPLE_BLOCKS):
        start = (size - SAMPLE_BLOCK) * k // (SAMPLE_BLOCKS - 1)
        h.update(data[start : start + SAMPLE_BLOCK])
    return h.hexdigest()


def full_hash(array: np.ndarray, pool: ThreadPoolExecutor) -> str:
    """xxh3-128 of the xxh3-64 hashes of a C-contiguous array's 64 MiB pieces, computed
    in parallel (xxhash releases the GIL)."""
    data = byte_view(array)
    pieces = [data[k : k + _PIECE] for k in range(0, len(data), _PIECE)]
    return digest(*pool.map(xxhash.xxh3_64_hexdigest, pieces))


class Content:
    """The full hash of the arrays a run key only sampled, computed once, when first asked.

    Parameters
    ----------
    arrays : sequence of ndarray
        C-contiguous arrays the kernel does not write, in the order of the arguments.
    """

    def __init__(self, arrays: Collection[np.ndarray] = ()) -> None:
        self._arrays = list(arrays)
        self._value: str | None = None if self._arrays else ""
        self._lock = threading.Lock()

    @classmethod
    def known(cls, value: str) -> Content:
        """A content hash read back from a manifest."""
        content = cls()
        content._value = value
        return content

    @property
    def pending_bytes(self) -> int:
        """Bytes still to hash (0 once the value is known)."""
        return sum(a.nbytes for a in self._arrays) if self._value is None else 0

    def value(self) -> str:
        """The hash (``""`` when nothing was sampled); computed on the first call."""
        with self._lock:
            if self._value is None:
                workers = max(1, min(os.cpu_count() or 1, 16))
                with ThreadPoolExecutor(workers, thread_name_prefix="blockloop-hash") as pool:
                    self._value = digest(*(full_hash(a, pool) for a in self._arrays))
                self._arrays = []  # the caller's arrays are not held longer than needed
            return self._value

    def __repr__(self) -> str:
        shown = self._value if self._value is not None else f"{self.pending_bytes} bytes pending"
        return f"Content({shown})"


def describe_arg(
    value: object, where: str = "argument", sampled: list[np.ndarray] | None = None
) -> str:
    """A canonical text for one argument value (its type and exact content).

    Parameters
    ----------
    value : object
        The argument.
    where : str
        How messages name it.
    sampled : list of ndarray, optional
        When given, an array above :data:`SAMPLE_ABOVE` bytes is described by a sample of
        its content and appended here (its full hash is then the caller's to compute).

    Raises
    ------
    TypeError
        For values whose content blockloop cannot fingerprint.
    """
    if value is None or isinstance(value, (bool, str)):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, np.generic):
        return f"np.{value.dtype.str}:{value.tobytes().hex()}"
    if isinstance(value, int):
        return f"int:{value}"
    if isinstance(value, float):
        return f"float:{value.hex()}"
    if isinstance(value, complex):
        return f"complex:{value.real.hex()},{value.imag.hex()}"
    if isinstance(value, bytes):
        return f"bytes:{value.hex()}"
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError(f"{where} is an object array; blockloop needs numeric arrays")
        head = f"ndarray:{value.dtype.str}:{value.shape}"
        if sampled is not None and value.nbytes > SAMPLE_ABOVE and value.flags.c_contiguous:
            sampled.append(value)
            return f"{head}:sample:{sample_hash(value)}"
        return f"{head}:{array_hash(value)}"
    if isinstance(value, tuple):
        inner = ",".join(describe_arg(v, f"{where}[{k}]", sampled) for k, v in enumerate(value))
        return f"tuple:({inner})"
    if isinstance(value, type) and issubclass(value, np.generic):  # ``dtype(0.0)``
        return f"nptype:{np.dtype(value).str}"
    if is_dispatcher(value):  # an @njit function handed in: its source, helpers and options
        return _describe_global(where, value, set())
    class_type = jitclass_type(value)
    if class_type is not None:  # its methods' sources and its fields, as a tuple's members
        fields = ",".join(
            f"{f}={describe_arg(getattr(value, f), f'{where}.{f}', sampled)}"
            for f in class_type.struct
        )
        return f"{_jitclass_key(class_type, set())}:({fields})"
    if is_typed_list(value) or isinstance(value, list):  # hashed whole: not sampled
        inner = ",".join(describe_arg(v, f"{where}[{k}]") for k, v in enumerate(value))
        return f"{'typed.List' if is_typed_list(value) else 'list'}:[{inner}]"
    if isinstance(value, (set, frozenset)):  # its members' descriptions, in sorted order
        inner = ",".join(sorted(describe_arg(v, f"a member of {where}") for v in value))
        return f"{type(value).__name__}:{{{inner}}}"
    raise TypeError(
        f"{where} has type {type(value).__name__}, which blockloop cannot fingerprint; pass "
        "numbers, strings, NumPy arrays, @njit functions, tuples, lists or sets of them, a "
        "numba typed List or a jitclass instance"
    )


def args_fingerprint(
    names: tuple[str, ...], values: tuple[object, ...], sample: Collection[str] = ()
) -> tuple[str, Content]:
    """Fingerprint of a call's bound arguments, and the full hash of what it sampled.

    Parameters
    ----------
    names, values : tuple
        The arguments.
    sample : collection of str
        Arguments whose large arrays may be sampled: those the kernel never writes. An
        array that may share memory with an argument outside ``sample`` is hashed whole.
    """
    sampled: list[np.ndarray] = []
    parts = []
    for n, v in zip(names, values, strict=True):
        if (is_typed_list(v) or isinstance(v, list)) and n not in sample:
            kind = "numba typed List" if is_typed_list(v) else "list"
            raise TypeError(
                f"argument {n!r} is a {kind} that the kernel may write into; "
                "blockloop saves arrays, not lists: pass one array (a 2-D array for rows of "
                "one length) or a tuple of arrays"
            )
        found: list[np.ndarray] = []
        parts.append(f"{n}={describe_arg(v, f'argument {n!r}', found if n in sample else None)}")
        sampled += found
    if sampled:
        written = [a for n, v in zip(names, values, strict=True) if n not in sample
                   for a in arrays_in(v)]  # fmt: skip
        if any(np.may_share_memory(a, w) for a in sampled for w in written):
            return args_fingerprint(names, values)
    return digest(*parts), Content(sampled)


def arrays_in(value: object) -> list[np.ndarray]:
    """The arrays in an argument: itself, or the members of a tuple, recursively."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (tuple, list)) or is_typed_list(value):
        return [a for v in value for a in arrays_in(v)]
    class_type = jitclass_type(value)
    if class_type is not None:
        return [a for f in class_type.struct for a in arrays_in(getattr(value, f))]
    return []


def jitclass_type(value: object) -> Any | None:
    """The numba class type of a ``jitclass`` instance (its ``struct`` of fields and its
    ``methods``); None for anything else."""
    if isinstance(value, type):
        return None
    class_type = getattr(getattr(value, "_numba_type_", None), "class_type", None)
    return class_type if hasattr(class_type, "struct") else None


def is_typed_list(value: object) -> TypeGuard[Any]:
    """Whether ``value`` is a ``numba.typed.List`` (known without importing numba)."""
    return type(value).__name__ == "List" and type(value).__module__.startswith("numba.typed")


def is_dispatcher(value: object) -> TypeGuard[Any]:
    """Whether ``value`` is a numba dispatcher (what ``@njit`` returns)."""
    return hasattr(value, "py_func") and hasattr(value, "targetoptions")


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _describe_global(name: str, value: object, seen: set[int]) -> str:
    """A global's text for the run key: the same in every process for the same value."""
    if is_dispatcher(value):
        return (
            "jit:"
            + _function_fingerprint(value.py_func, seen)
            + repr(sorted(value.targetoptions.items(), key=lambda kv: kv[0]))
        )
    if isinstance(value, types.ModuleType):
        return f"module:{value.__name__}:{getattr(value, '__version__', '')}"
    if isinstance(value, types.BuiltinFunctionType) or value is getattr(builtins, name, None):
        return f"builtin:{name}"
    if isinstance(value, types.FunctionType):
        return "function:" + _function_fingerprint(value, seen)
    dispatcher = getattr(value, "_dispatcher", None)  # a @vectorize function: its source
    if is_dispatcher(dispatcher):
        return "ufunc:" + _describe_global(name, dispatcher, seen)
    class_type = getattr(value, "class_type", None)
    if isinstance(value, type) and isinstance(getattr(class_type, "methods", None), dict):
        return _jitclass_key(class_type, seen)  # a jitclass the kernel uses
    try:
        return describe_arg(value, f"global {name!r}")
    except TypeError:
        pass
    text = repr(value)
    if _ADDRESS.search(text):  # another address in another process: never part of a key
        module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
        if isinstance(module, str) and isinstance(qualname, str):  # ``from numpy import interp``
            top = sys.modules.get(module.partition(".")[0])
            text = f"{module}.{qualname}:{getattr(top, '__version__', '')}"
        else:
            text = _ADDRESS.sub("", text)
    return f"object:{type(value).__module__}.{type(value).__qualname__}:{text}"


def _jitclass_key(class_type: Any, seen: set[int]) -> str:
    """A jitclass's name, field types and method sources (what its instances run)."""
    fields = repr(list(getattr(class_type, "struct", {}).items()))
    methods = sorted(class_type.methods.items())
    parts = [f"{m}={_function_fingerprint(f, seen)}" for m, f in methods
             if isinstance(f, types.FunctionType)]  # fmt: skip
    return f"jitclass:{class_type.class_name}:{digest(fields, *parts)}"


def _function_fingerprint(func: types.FunctionType, seen: set[int]) -> str:
    if id(func) in seen:
        return f"recursive:{func.__qualname__}"
    seen.add(id(func))
    try:
        src = inspect.getsource(func)
    except (OSError, TypeError):
        src = func.__code__.co_code.hex()
    code_names: set[str] = set()
    stack = [func.__code__]
    while stack:
        code = stack.pop()
        code_names.update(code.co_names, code.co_freevars)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    g = {**func.__globals__, **closure_values(func)}  # a helper's closure: frozen as well
    deps = [f"{n}={_describe_global(n, g[n], seen)}" for n in sorted(code_names) if n in g]
    return digest(src, *deps)


def closure_values(func: types.FunctionType) -> dict[str, object]:
    """The values of a function's closure cells by name (empty cells left out)."""
    out = {}
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=False):
        try:
            out[name] = cell.cell_contents
        except ValueError:
            continue
    return out


def helpers_fingerprint(
    used: frozenset[str] | set[str],
    func_globals: Mapping[str, object],
    closure: Mapping[str, object],
) -> str:
    """Fingerprint of the helpers and constants a kernel reads as globals or closure cells."""
    seen: set[int] = set()
    parts = []
    for name in sorted(used):
        if name in closure:
            parts.append(f"{name}={_describe_global(name, closure[name], seen)}")
        elif name in func_globals:
            parts.append(f"{name}={_describe_global(name, func_globals[name], seen)}")
        elif hasattr(builtins, name):
            parts.append(f"{name}=builtin")
        else:
            parts.append(f"{name}=missing")
    return digest(*parts)


CONSTANT_TYPES = (bool, int, float, complex, str, bytes, np.generic, type(None))


def check_closure(
    source_error: Callable[[str, str], Exception],
    used: frozenset[str],
    closure: Mapping[str, object],
) -> None:
    """Refuse closure cells that are not constants, arrays or jitted helpers.

    numba freezes a closure's values when it compiles, as it does a module's global
    arrays: the kernel reads them and cannot write them. Their content is part of the
    kernel's fingerprint (see :func:`helpers_fingerprint`), so a kernel made again by its
    factory with other values is another run. ``source_error(name, reason)`` makes the
    :class:`BlockingError` at the first use.
    """
    for name in sorted(used & set(closure)):
        value = closure[name]
        if isinstance(value, (*CONSTANT_TYPES, types.ModuleType)) or is_dispatcher(value):
            continue
        if getattr(value, "__module__", "").split(".")[0] == "numba":
            continue  # numba's own objects (prange, types) imported locally
        try:
            describe_arg(value, f"closure value {name!r}")
        except TypeError:
            raise source_error(
                name,
                f"the kernel closes over `{name}`, a {type(value).__name__} from an enclosing "
                "function, whose content blockloop cannot fingerprint; pass it as an "
                "argument instead",
            ) from None
