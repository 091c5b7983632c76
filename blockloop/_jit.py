"""Small numba helpers that generated modules import (the only numba code in the library)."""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

__all__ = ["_bl_close", "_bl_flat", "_bl_open", "_bl_popcount"]


def _bl_open(row, identity, like):  # pragma: no cover - replaced by the overload
    """A tile's private accumulator: ``identity`` for a scalar, a view of ``row`` for arrays."""
    raise NotImplementedError


def _bl_close(row, value):  # pragma: no cover - replaced by the overload
    """Store a tile's scalar partial in ``row`` (array partials already live there)."""
    raise NotImplementedError


def _bl_flat(value):  # pragma: no cover - replaced by the overload
    """A fresh contiguous 1-D copy of a scalar or an array."""
    raise NotImplementedError


@overload(_bl_open)
def _open_impl(row, identity, like):
    if isinstance(like, types.Array):

        def impl(row, identity, like):
            row[:] = identity
            return row.reshape(like.shape)

    else:

        def impl(row, identity, like):
            return identity

    return impl


@overload(_bl_close)
def _close_impl(row, value):
    if isinstance(value, types.Array):

        def impl(row, value):
            pass

    else:

        def impl(row, value):
            row[0] = value

    return impl


@overload(_bl_flat)
def _flat_impl(value):
    if isinstance(value, types.Array):

        def impl(value):
            return value.copy().reshape(value.size)

    else:

        def impl(value):
            return np.full(1, value)

    return impl


@njit(cache=True, nogil=True)
def _bl_popcount(k):
    count = 0
    while k:
        k &= k - 1
        count += 1
    return count
