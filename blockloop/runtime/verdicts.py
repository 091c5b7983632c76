"""The inputs an inspection pass's verdict depends on, as a key.

The pass (:mod:`blockloop.transform.inspection`) computes every iteration's indices from
values made before the loop, and never reads what the loop writes but for its shape, so
its verdict is a function of those values and the loop's range. A call whose inputs have
the key of an earlier call's pass that found no conflict needs no pass of its own; the
keys are kept with the compiled module (a changed kernel or global is another module).
"""

from __future__ import annotations

import numpy as np
import xxhash

__all__ = ["KEPT", "inspected_key", "remember"]

KEPT = 64  # inputs an inspection pass found free of conflicts, remembered per module


def _value_key(value: object, shape_only: bool) -> object | None:
    """What an inspection pass can see of ``value``: an array's shape (``shape_only``) or
    its type, shape and the xxh3 of its bytes, a number's type and bits; None for a value
    it cannot describe so (the pass then runs)."""
    if isinstance(value, np.ndarray):
        if shape_only:
            return ("shape", value.shape)
        if value.dtype.hasobject:
            return None
        data = np.ascontiguousarray(value)
        return (
            value.dtype.str,
            value.shape,
            xxhash.xxh3_128_intdigest(data.reshape(-1).view(np.uint8).data),
        )
    if isinstance(value, np.generic):
        return (value.dtype.str, value.tobytes())
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        return (type(value).__name__, repr(value))
    if isinstance(value, tuple):
        parts = [_value_key(v, shape_only) for v in value]
        return None if any(p is None for p in parts) else tuple(parts)
    return None


def inspected_key(
    values: dict[str, object], reads: tuple[str, ...], written: tuple[str, ...]
) -> tuple | None:
    """The inputs of an inspection pass: every value it reads that was made before the
    loop (of the arrays the loop writes, only the shape), and the loop's range. None
    where one of them has no key."""
    key: list[object] = []
    for name in (*reads, "_bl_range", "_bl_count", "_bl_tile"):
        if name in values:
            part = _value_key(values[name], name in written)
            if part is None:
                return None
            key.append((name, part))
    return tuple(key)


def remember(found: dict[tuple, None], key: tuple) -> None:
    """Add ``key`` to the keys of passes that ``found`` no conflict (the newest :data:`KEPT`)."""
    found[key] = None
    while len(found) > KEPT:
        del found[next(iter(found))]
