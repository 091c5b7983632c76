"""Arguments as a kernel's declared signature types them.

A kernel compiled for declared signatures (``@njit("void(f4[:], f4)")``) converts each
argument to the declared type: ``lr=0.1`` is a float32 in the kernel, ``0.1f``, not the
float64 ``0.1``. blockloop's generated functions compile for the types of what they are
given, so the arguments are converted first, as numba converts them, or the blocked run
computes with other numbers than plain numba's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import typeof, types
from numba.np.numpy_support import as_dtype

__all__ = ["as_declared"]

_SCALARS = (bool, int, float, complex, np.generic)


def as_declared(dispatcher: Any, values: tuple) -> tuple:
    """``values`` converted to the first declared signature of ``dispatcher`` they fit
    (its scalars cast to the declared types); unchanged for a kernel that compiles for
    what it is given, or where no signature fits (numba's own call then says why)."""
    if getattr(dispatcher, "_can_compile", True):
        return values  # lazily compiled: the types are those of the arguments
    context = dispatcher.typingctx
    for signature in dispatcher.signatures:
        if len(signature) != len(values):
            continue
        converted = []
        for value, declared in zip(values, signature, strict=True):
            if isinstance(declared, (types.Number, types.Boolean)) and isinstance(value, _SCALARS):
                converted.append(as_dtype(declared).type(value))
                continue
            try:
                given = typeof(value)
            except ValueError:
                break
            if given != declared and context.can_convert(given, declared) is None:
                break
            converted.append(value)
        else:
            return tuple(converted)
    return values
